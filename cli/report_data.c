/*
 * The numbers of an evaluation report, read from the ledger: decisions per
 * time bucket and tier, the country pairs, the rules that denied, the
 * approvals used, the categories, the counters of cross-border decisions
 * (the individuals whose personal information left), and the ledger's
 * verification. Counts come from the ledger's index (tids_ledger_tally);
 * the verification section says whether the file they come from holds.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "tids/error.h"
#include "tidsctl.h"

/* Thresholds of the 2024 provisions on cross-border data flows (Arts. 7,
 * 8), for the counters policy/default keeps; other counters show none. */
static const struct {
	const char *counter;
	uint64_t threshold[2];
	const char *label[2];
} thresholds[] = {
	{ "pi_individuals_exported", { 100000, 1000000 }, { "standard contract (Art. 8)", "security assessment (Art. 7)" } },
	{ "spi_individuals_exported", { 1, 10000 }, { "standard contract (Art. 8)", "security assessment (Art. 7)" } },
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	void *q;
	size_t ncap;

	if (n < *cap)
		return p;
	ncap = *cap ? *cap * 2 : 16;
	if ((q = realloc(p, ncap * size)) == NULL) {
		fprintf(stderr, "tidsctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	*cap = ncap;
	return q;
}

static char *dup_or_die(const char *s)
{
	char *d = strdup(s != NULL ? s : "");

	if (d == NULL) {
		fprintf(stderr, "tidsctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	return d;
}

static struct report_item *item(struct report_list *l, const char *name, int64_t period)
{
	struct report_item *it;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].name, name) == 0 && l->items[i].period == period)
			return &l->items[i];
	l->items = grow(l->items, &l->cap, l->n, sizeof(*l->items));
	it = &l->items[l->n++];
	memset(it, 0, sizeof(*it));
	it->name = dup_or_die(name);
	it->period = period;
	return it;
}

static bool permitted(enum tids_decision d)
{
	return d == TIDS_DECISION_ALLOW || d == TIDS_DECISION_TRANSFORM;
}

static void country(const char *jurisdiction, char out[8])
{
	size_t n = strcspn(jurisdiction, "-");

	if (n > 7)
		n = 7;
	memcpy(out, jurisdiction, n);
	out[n] = '\0';
}

/* --- per bucket ------------------------------------------------------------------ */

struct bucket_ctx {
	struct report *r;
	size_t b;
};

static int count_bucket(void *ctx, const struct tids_ledger_tally *t)
{
	struct bucket_ctx *c = ctx;
	int tier = t->tier >= 1 && t->tier < REPORT_TIERS ? (int)t->tier : 0;

	if (permitted(t->decision))
		c->r->permitted[c->b][tier] += t->count;
	else
		c->r->denied[c->b][tier] += t->count;
	return 0;
}

/* Buckets of an hour, a day, a week or 30 days: the smallest that cuts the
 * range into at most REPORT_BUCKETS_MAX, aligned to UTC. */
static void choose_buckets(struct report *r)
{
	static const struct {
		int64_t ms;
		const char *name;
	} sizes[] = {
		{ 3600000, "hour" }, { 86400000, "day" }, { 7 * 86400000LL, "week" }, { 30 * 86400000LL, "30 days" },
	};
	int64_t range = r->until_ms - r->since_ms;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		r->bucket_ms = sizes[i].ms;
		r->bucket_name = sizes[i].name;
		if ((range + r->bucket_ms - 1) / r->bucket_ms + 1 <= REPORT_BUCKETS_MAX)
			break;
	}
	while ((range + r->bucket_ms - 1) / r->bucket_ms + 1 > REPORT_BUCKETS_MAX)
		r->bucket_ms *= 2;
}

static int64_t bucket_start(const struct report *r, size_t b)
{
	int64_t first = r->since_ms - (r->since_ms % r->bucket_ms + r->bucket_ms) % r->bucket_ms;

	return first + (int64_t)b * r->bucket_ms;
}

/* --- over the whole range ------------------------------------------------------------ */

static int count_all(void *ctx, const struct tids_ledger_tally *t)
{
	struct report *r = ctx;
	char from[8], to[8];
	struct report_pair *p = NULL;
	struct report_item *it;
	bool ok = permitted(t->decision);
	int tier = t->tier >= 1 && t->tier < REPORT_TIERS ? (int)t->tier : 0;

	if (ok)
		r->total_permitted[tier] += t->count;
	else
		r->total_denied[tier] += t->count;
	country(t->origin, from);
	country(t->destination, to);
	for (size_t i = 0; i < r->n_pairs; i++)
		if (strcmp(r->pairs[i].from, from) == 0 && strcmp(r->pairs[i].to, to) == 0)
			p = &r->pairs[i];
	if (p == NULL) {
		r->pairs = grow(r->pairs, &r->cap_pairs, r->n_pairs, sizeof(*r->pairs));
		p = &r->pairs[r->n_pairs++];
		memset(p, 0, sizeof(*p));
		memcpy(p->from, from, sizeof(from));
		memcpy(p->to, to, sizeof(to));
	}
	*(ok ? &p->permitted : &p->denied) += t->count;
	if (!ok)
		for (size_t i = 0; i < t->n_rules; i++)
			item(&r->denial_rules, t->rules[i], 0)->denied += t->count;
	if (*t->approval_id != '\0') {
		it = item(&r->approvals, t->approval_id, 0);
		*(ok ? &it->permitted : &it->denied) += t->count;
		if (it->detail == NULL) {
			char d[2 * TIDS_ID_MAX + 16];

			snprintf(d, sizeof(d), "%s -> %s", t->owner, t->recipient);
			it->detail = dup_or_die(d);
		}
	}
	it = item(&r->categories, t->category, 0);
	*(ok ? &it->permitted : &it->denied) += t->count;
	return 0;
}

static int count_counters(void *ctx, const struct tids_audit_entry *e)
{
	struct report *r = ctx;

	for (size_t i = 0; i < e->n_counts; i++) {
		char name[2 * TIDS_ID_MAX + 8];
		struct report_item *it;

		snprintf(name, sizeof(name), "%s/%s", e->counts[i].name, e->counts[i].key);
		it = item(&r->counters, name, e->counts[i].period);
		it->permitted += e->counts[i].amount;
		if (it->detail == NULL) {
			it->detail = dup_or_die(e->counts[i].name);
			for (size_t k = 0; k < sizeof(thresholds) / sizeof(thresholds[0]); k++)
				if (strcmp(thresholds[k].counter, e->counts[i].name) == 0)
					for (int j = 0; j < 2; j++) {
						it->threshold[j] = thresholds[k].threshold[j];
						it->threshold_label[j] = thresholds[k].label[j];
					}
		}
	}
	return 0;
}

static int by_size(const void *a, const void *b)
{
	const struct report_item *x = a, *y = b;
	uint64_t sx = x->permitted + x->denied, sy = y->permitted + y->denied;

	if (sx != sy)
		return sx < sy ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int by_pair(const void *a, const void *b)
{
	const struct report_pair *x = a, *y = b;
	int c = strcmp(x->from, y->from);

	return c != 0 ? c : strcmp(x->to, y->to);
}

int report_collect(const char *ledger_path, int64_t since_ms, int64_t until_ms, const uint8_t *hub_pk,
		   struct report *r)
{
	struct tids_ledger *l;
	uint8_t stored_pk[TIDS_PUBLIC_KEY_BYTES];
	char err[512];
	int rc;

	memset(r, 0, sizeof(*r));
	r->since_ms = since_ms;
	r->until_ms = until_ms;
	r->created_ms = wall_ms();
	if (tids_ledger_open(ledger_path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)) != 0) {
		cli_fail("%s", err);
		return -1;
	}
	if (tids_ledger_hub(l, r->hub_id, stored_pk) != 0)
		snprintf(r->hub_id, sizeof(r->hub_id), "(unknown hub)");
	choose_buckets(r);
	r->n_buckets = (size_t)((until_ms - bucket_start(r, 0) + r->bucket_ms - 1) / r->bucket_ms);
	for (size_t b = 0; b < r->n_buckets; b++) {
		struct bucket_ctx c = { r, b };
		int64_t lo = bucket_start(r, b), hi = lo + r->bucket_ms;

		if ((rc = tids_ledger_tally(l, lo > since_ms ? lo : since_ms, hi < until_ms ? hi : until_ms, count_bucket,
					    &c, err, sizeof(err))) != 0)
			goto fail;
	}
	if ((rc = tids_ledger_tally(l, since_ms, until_ms, count_all, r, err, sizeof(err))) != 0)
		goto fail;
	/* Counters move with decisions that cross a border: only those
	 * entries are read, pair by pair. */
	for (size_t i = 0; i < r->n_pairs; i++) {
		struct tids_ledger_filter f = { .since_ms = since_ms, .until_ms = until_ms, .origin = r->pairs[i].from,
						.destination = r->pairs[i].to };

		if (strcmp(r->pairs[i].from, r->pairs[i].to) == 0 || r->pairs[i].permitted == 0 ||
		    *r->pairs[i].from == '\0' || *r->pairs[i].to == '\0')
			continue;
		if ((rc = tids_ledger_query(l, &f, count_counters, r, err, sizeof(err))) != 0)
			goto fail;
	}
	tids_ledger_close(l);
	/* qsort wants a base even for no items (UBSan says so): empty lists are not sorted. */
	if (r->n_pairs > 0)
		qsort(r->pairs, r->n_pairs, sizeof(*r->pairs), by_pair);
	if (r->denial_rules.n > 0)
		qsort(r->denial_rules.items, r->denial_rules.n, sizeof(struct report_item), by_size);
	if (r->approvals.n > 0)
		qsort(r->approvals.items, r->approvals.n, sizeof(struct report_item), by_size);
	if (r->categories.n > 0)
		qsort(r->categories.items, r->categories.n, sizeof(struct report_item), by_size);
	if (r->counters.n > 0)
		qsort(r->counters.items, r->counters.n, sizeof(struct report_item), by_size);
	if (hub_pk != NULL) {
		rc = tids_ledger_verify(ledger_path, hub_pk, NULL, &r->verify, err, sizeof(err));
		r->verified = true;
		r->verify_ok = rc == 0;
		if (rc == TIDS_EBADSIG) {
			snprintf(r->verify_what, sizeof(r->verify_what), "%s", r->verify.index_bad);
			for (size_t i = 0; i < r->verify.n_chains && r->verify_what[0] == '\0'; i++)
				if (!r->verify.chains[i].ok)
					snprintf(r->verify_what, sizeof(r->verify_what), "%s", r->verify.chains[i].what);
		} else if (rc != 0) {
			snprintf(r->verify_what, sizeof(r->verify_what), "%s", err);
		}
	}
	return 0;
fail:
	tids_ledger_close(l);
	cli_fail("%s", err);
	report_free(r);
	return -1;
}

static void free_list(struct report_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].detail);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void report_free(struct report *r)
{
	free(r->pairs);
	free_list(&r->denial_rules);
	free_list(&r->approvals);
	free_list(&r->categories);
	free_list(&r->counters);
	tids_ledger_verify_report_free(&r->verify);
	r->pairs = NULL;
	r->n_pairs = 0;
}
