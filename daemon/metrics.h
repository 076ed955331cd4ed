/*
 * tidsd's counters, gauges and histograms for Prometheus (served by
 * http.c). Three threads write them: the main loop (sessions, ingest,
 * egress), the router and the indexer; the main loop reads them when
 * scraped. Everything is a relaxed atomic: no lock and no allocation on any
 * hot path. Label values that come from data (categories, rule ids) are
 * interned into fixed tables by their one writer, the router.
 */
#ifndef TIDSD_METRICS_H
#define TIDSD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/buf.h"
#include "tids/record.h"

/* Past these, new values are counted under the label "other": a publisher
 * must not be able to grow the exposition without bound. */
#define METRICS_CATEGORIES_MAX 64
#define METRICS_RULES_MAX 512
#define METRICS_LABEL_MAX (TIDS_ID_MAX + 1)
#define METRICS_BUCKETS 14          /* histogram bounds, +Inf apart */

enum metrics_decision { MD_ALLOW, MD_TRANSFORM, MD_DENY, MD_COUNT };
#define METRICS_TIERS 4             /* enum tids_tier: unset, general, important, core */

/* The consumers that read ahead of tidsd (struct kafka_read_ahead). */
enum metrics_reader { MR_ROUTER, MR_INDEXER, MR_EGRESS, MR_PULL, MR_COUNT };

enum metrics_handshake_failure {
	MHS_INVALID,                    /* a Noise message did not verify or parse */
	MHS_TIMEOUT,                    /* limits.handshake_timeout */
	MHS_UNREGISTERED,               /* static key not in the registry */
	MHS_SUSPENDED,
	MHS_COUNT,
};

/* A table of label values with one writer: it appends a name, then
 * publishes the new count (release); readers see names[0..n) (acquire). */
struct metrics_labels {
	char names[METRICS_RULES_MAX][METRICS_LABEL_MAX];
	uint16_t slots[METRICS_RULES_MAX * 2];  /* hash -> index + 1; the writer's only */
	atomic_uint n;
	unsigned cap;                           /* the last slot is "other" */
};

struct metrics_histogram {
	atomic_ulong bucket[METRICS_BUCKETS + 1];   /* not cumulative; the last is +Inf */
	atomic_ulong sum_us;
};

/* What one router transaction counted: added to the totals only when it
 * commits, so an aborted batch (routed again after the reset) is counted
 * once. The router's own; plain integers. */
struct metrics_route_stage {
	uint64_t records, deliveries;
	uint64_t decisions[METRICS_CATEGORIES_MAX][MD_COUNT][METRICS_TIERS];
	uint64_t denials[METRICS_RULES_MAX];
};

struct metrics {
	/* main loop: sessions */
	atomic_ulong sessions_accepted_tcp, sessions_accepted_unix, sessions_authenticated;
	atomic_ulong handshake_failures[MHS_COUNT];
	/* main loop: ingest and egress */
	atomic_ulong records_in, records_refused;
	atomic_ulong records_out, deliveries_unreadable;
	atomic_ulong subscriber_acks, position_commits;  /* acks that moved a position; commits sent to Kafka */
	struct metrics_histogram delivery_latency;  /* ingress accepted -> sent to the subscriber */

	/* router thread */
	atomic_ulong records_routed, deliveries_produced, transactions, transaction_failures;
	atomic_ulong decisions[METRICS_CATEGORIES_MAX][MD_COUNT][METRICS_TIERS];
	atomic_ulong denials[METRICS_RULES_MAX];
	struct metrics_labels categories;          /* decisions' category label */
	struct metrics_labels rules;               /* denials' rule label */
	struct metrics_histogram commit_latency;    /* rd_kafka_commit_transaction of a batch */
	atomic_long router_lag;                     /* ingress records not yet consumed (-1: unknown) */
	atomic_int router_partitions;               /* ingress partitions assigned (-1: none yet) */

	/* indexer thread */
	atomic_ulong ledger_entries;
	atomic_long indexer_lag;                    /* audit topic messages not yet indexed (-1: unknown) */

	/* each reader's own thread: librdkafka's fetchers woken (kafka_ran_dry) */
	atomic_ulong fetch_wakes[MR_COUNT];

	/* main loop: health */
	bool router_enabled;
	bool kafka_reachable;                       /* a broker connection is up, as of kafka_seen */
	int64_t kafka_seen_ms;                      /* mono ms of the last Kafka statistics */

	/* Per peer hub (forwarded, imported): federation adds a label table
	 * of peers and its counters here, rendered after the router's. */
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Writer side of a label table: the slot of name (interning it), or the
 * "other" slot once the table is full. Only the table's one writer calls it. */
unsigned metrics_label_slot(struct metrics_labels *t, const char *name);

void metrics_observe_us(struct metrics_histogram *h, uint64_t us);

static inline void metrics_add(atomic_ulong *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The router's transaction: count a decision / a denial by rule (NULL:
 * default deny) into stage; commit adds the stage to the totals, discard
 * forgets it. */
void metrics_stage_decision(struct metrics *m, struct metrics_route_stage *st, const char *category,
			    enum metrics_decision dec, enum tids_tier tier, const char *deny_rule);
void metrics_stage_commit(struct metrics *m, struct metrics_route_stage *st);
void metrics_stage_discard(struct metrics_route_stage *st);

/* The ingest producer's statistics (JSON from librdkafka): is any broker
 * connection up? */
void metrics_kafka_stats(struct metrics *m, const char *json, size_t len, int64_t mono);

/* Health: live is "the loop answers"; ready needs Kafka reachable (fresh
 * statistics say so) and, with the router enabled, its group assignment. */
bool metrics_kafka_ok(const struct metrics *m, int64_t mono);
bool metrics_ready(const struct metrics *m, int64_t mono);

struct metrics_info {
	const char *version;
	const char *hub_id;
	size_t sessions_open;
};

/* The Prometheus text exposition (format 0.0.4) of everything, into out. */
int metrics_render(const struct metrics *m, const struct metrics_info *info, int64_t mono, struct tids_buf *out);
/* /health's body: {"live":true,"ready":...,"kafka":...,"router":...}. */
int metrics_render_health(const struct metrics *m, int64_t mono, struct tids_buf *out);

#endif
