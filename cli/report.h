/*
 * The evaluation report (tidsctl audit report): the numbers, gathered from
 * the ledger once (report_data.c), and written as a self-contained HTML
 * page with inline SVG charts (report_html.c) or as JSON with the same
 * numbers (cmd_audit_report.c).
 */
#ifndef TIDSCTL_REPORT_H
#define TIDSCTL_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tids/ledger.h"

#define REPORT_BUCKETS_MAX 64
#define REPORT_TIERS 4                    /* indexed by enum tids_tier; 0 unused */

/* A name with counts (a rule, an approval, a category, a counter). */
struct report_item {
	char *name;
	char *detail;                     /* e.g. an approval's exporter -> recipient */
	uint64_t permitted, denied;
	int64_t period;                   /* counters: the period they count over */
	uint64_t threshold[2];            /* counters: the thresholds that apply, 0 if none */
	const char *threshold_label[2];
};

struct report_list {
	struct report_item *items;
	size_t n, cap;
};

struct report_pair {
	char from[8], to[8];              /* countries */
	uint64_t permitted, denied;
};

struct report {
	char hub_id[TIDS_ID_MAX + 1];
	char title[256];
	int64_t since_ms, until_ms, created_ms;
	int64_t bucket_ms;
	const char *bucket_name;          /* "hour", "day", "week", "30 days" */
	size_t n_buckets;
	uint64_t permitted[REPORT_BUCKETS_MAX][REPORT_TIERS];
	uint64_t denied[REPORT_BUCKETS_MAX][REPORT_TIERS];
	uint64_t total_permitted[REPORT_TIERS], total_denied[REPORT_TIERS];
	struct report_pair *pairs;        /* every (origin, destination) country pair seen */
	size_t n_pairs, cap_pairs;
	struct report_list denial_rules;  /* sorted, most first */
	struct report_list approvals;
	struct report_list categories;
	struct report_list counters;      /* counters of cross-border decisions, by name/key/period */
	/* The ledger's verification (with the hub key given). */
	bool verified;                    /* verification ran */
	bool verify_ok;
	char verify_what[512];
	struct tids_ledger_verify_report verify;
};

/* Gathers every number of [since, until) from the ledger; verifies it
 * with hub_pk when not NULL. Returns 0, or prints why not and returns -1. */
int report_collect(const char *ledger_path, int64_t since_ms, int64_t until_ms, const uint8_t *hub_pk,
		   struct report *r);
void report_free(struct report *r);

/* Writes the page; false on an I/O error. */
bool report_write_html(const struct report *r, FILE *f);
/* Writes the same numbers as one JSON object; false on an I/O error. */
bool report_write_json(const struct report *r, FILE *f);

#endif
