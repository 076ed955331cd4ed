/*
 * A period's statistics, counted from the ledger (tidsd's indexer makes
 * them once the period has closed), and the statistics records the ledger
 * holds (tidsctl monitor shows them). Decisions, records and their tiers
 * come from the index in one pass; flows, denials and approvals from
 * tids_ledger_tally; billed use and the counters from the entries of the
 * period that can hold them (deliveries for billing; decisions that cross a
 * country border), read through tids_ledger_query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "tids/map.h"
#include "tids/statistics.h"

/* The purpose of billed use (pay per use, pay per output). */
#define BILLING "billing"

/* One row of a list being counted: up to three strings and one number as
 * its key, counts beside. */
struct row {
	char key[3 * (TIDS_ID_MAX + 1) + 24];
	const char *s[3];                  /* into text */
	int64_t k;
	uint64_t a, b;
	double sum;
	char text[3 * (TIDS_ID_MAX + 1)];
};

struct table {
	struct tids_map map;
	struct row **rows;
	size_t n, cap;
};

static struct row *table_row(struct table *t, const char *s0, const char *s1, const char *s2, int64_t k)
{
	char key[sizeof(((struct row *)0)->key)];
	struct row *r;
	size_t off = 0;
	const char *s[3] = { s0, s1, s2 };

	snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%lld", s0 != NULL ? s0 : "", s1 != NULL ? s1 : "",
		 s2 != NULL ? s2 : "", (long long)k);
	if ((r = tids_map_get_str(&t->map, key)) != NULL)
		return r;
	if (t->n == t->cap) {
		size_t cap = t->cap > 0 ? t->cap * 2 : 32;
		struct row **rows = realloc(t->rows, cap * sizeof(*rows));

		if (rows == NULL)
			return NULL;
		t->rows = rows;
		t->cap = cap;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	memcpy(r->key, key, sizeof(key));
	for (int i = 0; i < 3; i++) {
		size_t n = s[i] != NULL ? strnlen(s[i], TIDS_ID_MAX) : 0;

		r->s[i] = r->text + off;
		if (n > 0)
			memcpy(r->text + off, s[i], n);
		r->text[off + n] = '\0';
		off += n + 1;
	}
	r->k = k;
	if (tids_map_put_str(&t->map, r->key, r, NULL) != 0) {
		free(r);
		return NULL;
	}
	t->rows[t->n++] = r;
	return r;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rows[i]);
	free(t->rows);
	tids_map_free(&t->map);
	memset(t, 0, sizeof(*t));
}

/* Largest first (by a + b), then by key: which rows a full list keeps. */
static int by_size(const void *x, const void *y)
{
	const struct row *a = *(const struct row *const *)x, *b = *(const struct row *const *)y;
	uint64_t sa = a->a + a->b, sb = b->a + b->b;

	if (sa != sb)
		return sa < sb ? 1 : -1;
	return strcmp(a->key, b->key);
}

/* The order of the message: by the key's parts (and k, where it leads or
 * follows as the list's key says; see cmp_* in wire_statistics.c). */
static int by_s012(const void *x, const void *y)
{
	const struct row *a = *(const struct row *const *)x, *b = *(const struct row *const *)y;
	int c;

	for (int i = 0; i < 3; i++)
		if ((c = strcmp(a->s[i], b->s[i])) != 0)
			return c;
	return (a->k > b->k) - (a->k < b->k);
}

/* Keeps the TIDS_STATISTICS_ROWS_MAX largest rows, sorted by cmp. */
static size_t table_cut(struct table *t, size_t max, int (*cmp)(const void *, const void *), uint32_t *omitted)
{
	size_t n = t->n;

	if (n > max) {
		qsort(t->rows, n, sizeof(*t->rows), by_size);
		*omitted += (uint32_t)(n - max);
		n = max;
	}
	/* An empty table has no rows array: qsort's base may not be NULL. */
	if (n > 0)
		qsort(t->rows, n, sizeof(*t->rows), cmp);
	return n;
}

/* --- counting --------------------------------------------------------------------- */

struct build {
	int err;
	uint64_t decisions;
	struct table decided;              /* s0 category; k = tier << 8 | decision; a decisions, b records */
	struct table flows;                /* s0 origin, s1 destination; a permitted, b denied */
	struct table denials, approvals;   /* s0 name; a count */
	struct table counters;             /* s0 counter, s1 key, k period; a added, b total */
	struct table usage;                /* s0 lessor, s1 asset, s2 category; a deliveries, b records, sum */
	struct table pairs;                /* s0, s1 countries of permitted cross-border decisions */
};

static bool permitted(enum tids_decision d)
{
	return d == TIDS_DECISION_ALLOW || d == TIDS_DECISION_TRANSFORM;
}

static bool is_statistics(const char *category)
{
	return strcmp(category, TIDS_STATISTICS_CATEGORY) == 0;
}

/* Decisions and distinct records by tier, category and decision, from
 * the index: one representative class of each group names its category. */
static int count_decided(struct tids_ledger *l, struct build *b, int64_t since, int64_t until, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	if (sqlite3_prepare_v2(l->db, "SELECT min(e.class), c.tier, c.decision, count(*), count(DISTINCT e.record_id)"
			       " FROM entry AS e JOIN class AS c ON c.n = e.class WHERE e.decided_at >= ?1"
			       " AND e.decided_at < ?2 GROUP BY c.tier, c.category, c.decision", -1, &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, until);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const struct ledger_class *c;
		struct row *row;
		int tier = sqlite3_column_int(st, 1), decision = sqlite3_column_int(st, 2);

		if ((r = ledger_dict_class(l->dict, sqlite3_column_int64(st, 0), &c)) != 0 || c->tier != tier ||
		    c->decision != decision) {
			r = tids_fail(err, errlen, TIDS_EBADSIG, "%s: an entry cites a class the ledger does not hold as "
				      "written: the ledger was altered; run tidsctl audit verify", l->path);
			break;
		}
		if (is_statistics(c->category))
			continue;
		if ((row = table_row(&b->decided, c->category, NULL, NULL, (int64_t)tier << 8 | decision)) == NULL) {
			r = tids_fail(err, errlen, TIDS_ENOMEM, "statistics: out of memory");
			break;
		}
		row->a += (uint64_t)sqlite3_column_int64(st, 3);
		row->b += (uint64_t)sqlite3_column_int64(st, 4);
		b->decisions += (uint64_t)sqlite3_column_int64(st, 3);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_finalize(st);
	return r;
}

static int on_tally(void *ctx, const struct tids_ledger_tally *t)
{
	struct build *b = ctx;
	bool ok = permitted(t->decision);
	struct row *row;

	if (is_statistics(t->category))
		return 0;
	if (*t->origin != '\0' && *t->destination != '\0' && strcmp(t->origin, t->destination) != 0) {
		char from[3], to[3];

		if ((row = table_row(&b->flows, t->origin, t->destination, NULL, 0)) == NULL)
			return TIDS_ENOMEM;
		*(ok ? &row->a : &row->b) += t->count;
		ledger_country(t->origin, from);
		ledger_country(t->destination, to);
		if (ok && strcmp(from, to) != 0 && table_row(&b->pairs, from, to, NULL, 0) == NULL)
			return TIDS_ENOMEM;
	}
	for (size_t i = 0; !ok && i < t->n_rules; i++) {
		if ((row = table_row(&b->denials, t->rules[i], NULL, NULL, 0)) == NULL)
			return TIDS_ENOMEM;
		row->a += t->count;
	}
	if (ok && *t->approval_id != '\0') {
		if ((row = table_row(&b->approvals, t->approval_id, NULL, NULL, 0)) == NULL)
			return TIDS_ENOMEM;
		row->a += t->count;
	}
	return 0;
}

/* Billed use: every delivery for billing, by lessor (its recipient),
 * asset and category; an aggregate counts its window's records and adds
 * what it said. */
static int on_billing(void *ctx, const struct tids_audit_entry *e)
{
	struct build *b = ctx;
	struct row *row;

	if (!permitted(e->decision) || is_statistics(e->category))
		return 0;
	if ((row = table_row(&b->usage, e->recipient, e->asset_id, e->category, 0)) == NULL)
		return TIDS_ENOMEM;
	row->a++;
	if (e->has_aggregate) {
		row->b += e->aggregate.count;
		row->sum += e->aggregate.value;
	} else {
		row->b++;
	}
	return 0;
}

/* Counters: what the period's decisions added, and where each stood after
 * the last of them (entries keep both). */
static int on_counted(void *ctx, const struct tids_audit_entry *e)
{
	struct build *b = ctx;

	for (size_t i = 0; i < e->n_counts; i++) {
		const struct tids_counter_increment *c = &e->counts[i];
		struct row *row;

		if (c->amount == 0)
			continue;
		if ((row = table_row(&b->counters, c->name, c->key, NULL, c->period)) == NULL)
			return TIDS_ENOMEM;
		row->a += c->amount;
		if (c->total > row->b)
			row->b = c->total;
	}
	return 0;
}

static void build_free(struct build *b)
{
	table_free(&b->decided);
	table_free(&b->flows);
	table_free(&b->denials);
	table_free(&b->approvals);
	table_free(&b->counters);
	table_free(&b->usage);
	table_free(&b->pairs);
}

/* Decided rows sort by (tier, category, decision): k holds tier and
 * decision. */
static int by_decided(const void *x, const void *y)
{
	const struct row *a = *(const struct row *const *)x, *b = *(const struct row *const *)y;
	int c = (a->k >> 8 > b->k >> 8) - (a->k >> 8 < b->k >> 8);

	if (c == 0)
		c = strcmp(a->s[0], b->s[0]);
	return c != 0 ? c : ((a->k & 0xff) > (b->k & 0xff)) - ((a->k & 0xff) < (b->k & 0xff));
}

/* The message's lists from the tables, at most max rows each. */
static int assemble(struct build *b, size_t max, struct tids_hub_statistics *s)
{
	size_t n;

	s->omitted = 0;
	n = table_cut(&b->decided, max, by_decided, &s->omitted);
	s->decided = calloc(n + 1, sizeof(*s->decided));
	for (size_t i = 0; s->decided != NULL && i < n; i++) {
		const struct row *r = b->decided.rows[i];

		s->decided[i] = (struct tids_stat_decided){ (enum tids_tier)(r->k >> 8), r->s[0],
							    (enum tids_decision)(r->k & 0xff), r->a, r->b };
	}
	s->n_decided = n;
	n = table_cut(&b->flows, max, by_s012, &s->omitted);
	s->flows = calloc(n + 1, sizeof(*s->flows));
	for (size_t i = 0; s->flows != NULL && i < n; i++)
		s->flows[i] = (struct tids_stat_flow){ b->flows.rows[i]->s[0], b->flows.rows[i]->s[1],
						       b->flows.rows[i]->a, b->flows.rows[i]->b };
	s->n_flows = n;
	n = table_cut(&b->denials, max, by_s012, &s->omitted);
	s->denials = calloc(n + 1, sizeof(*s->denials));
	for (size_t i = 0; s->denials != NULL && i < n; i++)
		s->denials[i] = (struct tids_stat_named){ b->denials.rows[i]->s[0], b->denials.rows[i]->a };
	s->n_denials = n;
	n = table_cut(&b->approvals, max, by_s012, &s->omitted);
	s->approvals = calloc(n + 1, sizeof(*s->approvals));
	for (size_t i = 0; s->approvals != NULL && i < n; i++)
		s->approvals[i] = (struct tids_stat_named){ b->approvals.rows[i]->s[0], b->approvals.rows[i]->a };
	s->n_approvals = n;
	n = table_cut(&b->counters, max, by_s012, &s->omitted);
	s->counters = calloc(n + 1, sizeof(*s->counters));
	for (size_t i = 0; s->counters != NULL && i < n; i++) {
		const struct row *r = b->counters.rows[i];
		struct tids_stat_counter *c = &s->counters[i];

		c->counter = r->s[0];
		c->key = r->s[1];
		c->period = r->k;
		c->added = r->a;
		/* An entry written before totals were kept says nothing of it:
		 * the total is then at least what the period added. */
		c->total = r->b > r->a ? r->b : r->a;
		c->n_thresholds = tids_statistics_thresholds(c->counter, c->thresholds);
	}
	s->n_counters = n;
	n = table_cut(&b->usage, max, by_s012, &s->omitted);
	s->usage = calloc(n + 1, sizeof(*s->usage));
	for (size_t i = 0; s->usage != NULL && i < n; i++)
		s->usage[i] = (struct tids_stat_usage){ b->usage.rows[i]->s[0], b->usage.rows[i]->s[1],
							b->usage.rows[i]->s[2], b->usage.rows[i]->a, b->usage.rows[i]->b,
							b->usage.rows[i]->sum };
	s->n_usage = n;
	if (s->decided == NULL || s->flows == NULL || s->denials == NULL || s->approvals == NULL ||
	    s->counters == NULL || s->usage == NULL)
		return TIDS_ENOMEM;
	return 0;
}

static void lists_free(struct tids_hub_statistics *s)
{
	free(s->decided);
	free(s->flows);
	free(s->denials);
	free(s->approvals);
	free(s->counters);
	free(s->usage);
}

int tids_ledger_statistics(struct tids_ledger *l, const struct tids_statistics_request *rq,
			   const struct tids_identity *hub, uint8_t **record, size_t *len, char *err, size_t errlen)
{
	struct build b;
	struct tids_hub_statistics s;
	int64_t since = rq->period_start_ms, until = rq->period_start_ms + rq->period_ms;
	int r;

	memset(&b, 0, sizeof(b));
	*record = NULL;
	if ((r = count_decided(l, &b, since, until, err, errlen)) != 0)
		goto out;
	if ((r = tids_ledger_tally(l, since, until, on_tally, &b, err, errlen)) != 0) {
		if (r == TIDS_ENOMEM)
			tids_fail(err, errlen, r, "statistics: out of memory");
		goto out;
	}
	{
		struct tids_ledger_filter f = { .since_ms = since, .until_ms = until, .purpose = BILLING };

		if ((r = tids_ledger_query(l, &f, on_billing, &b, err, errlen)) != 0)
			goto out;
	}
	/* Counters move with decisions that cross a country border: only
	 * those entries are read, country pair by pair. */
	for (size_t i = 0; i < b.pairs.n; i++) {
		struct tids_ledger_filter f = { .since_ms = since, .until_ms = until, .origin = b.pairs.rows[i]->s[0],
						.destination = b.pairs.rows[i]->s[1] };

		if ((r = tids_ledger_query(l, &f, on_counted, &b, err, errlen)) != 0)
			goto out;
	}
	/* A message the record can carry: fewer rows per list until it fits. */
	for (size_t max = TIDS_STATISTICS_ROWS_MAX;; max /= 2) {
		memset(&s, 0, sizeof(s));
		s.hub_id = rq->hub_id;
		s.jurisdiction = rq->jurisdiction;
		s.period_start_ms = rq->period_start_ms;
		s.period_ms = rq->period_ms;
		s.delay_ms = rq->delay_ms;
		s.decisions = b.decisions;
		s.signed_at_ms = rq->signed_at_ms;
		if ((r = assemble(&b, max, &s)) == 0 && (r = tids_statistics_sign(hub->sign_sk, &s)) == 0)
			r = tids_statistics_record(&s, record, len);
		lists_free(&s);
		if (r != TIDS_ETOOBIG || max == 1)
			break;
	}
	if (r != 0)
		tids_fail(err, errlen, r, "statistics of the period from %lld: %s", (long long)since, tids_strerror(r));
out:
	build_free(&b);
	return r;
}

/* --- the statistics the ledger holds ------------------------------------------------ */

struct each {
	struct tids_ledger *l;
	sqlite3_stmt *st;
	struct tids_map seen;              /* "partition/offset" of the records given */
	tids_ledger_record_fn *fn;
	void *ctx;
};

static int on_kept(void *ctx, const struct tids_audit_entry *e)
{
	struct each *ea = ctx;
	char key[48], *copy;
	int r = 0;

	snprintf(key, sizeof(key), "%d/%lld", (int)e->partition, (long long)e->ingress_offset);
	if (tids_map_get_str(&ea->seen, key) != NULL)
		return 0;
	if ((copy = strdup(key)) == NULL || tids_map_put_str(&ea->seen, copy, copy, NULL) != 0) {
		free(copy);
		return TIDS_ENOMEM;
	}
	sqlite3_reset(ea->st);
	sqlite3_bind_int(ea->st, 1, e->partition);
	sqlite3_bind_int64(ea->st, 2, e->ingress_offset);
	/* A record sealed at ingest is not kept: statistics never are. */
	if (sqlite3_step(ea->st) == SQLITE_ROW && sqlite3_column_type(ea->st, 0) == SQLITE_BLOB)
		r = ea->fn(ea->ctx, sqlite3_column_blob(ea->st, 0), (size_t)sqlite3_column_bytes(ea->st, 0));
	sqlite3_reset(ea->st);
	return r;
}

int tids_ledger_each_statistics(struct tids_ledger *l, const char *hub_id, int64_t since_ms, int64_t until_ms,
				tids_ledger_record_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct tids_ledger_filter f = { .since_ms = since_ms, .until_ms = until_ms, .recipient = hub_id,
					.category = TIDS_STATISTICS_CATEGORY };
	struct each ea = { .l = l, .fn = fn, .ctx = ctx };
	size_t pos = 0;
	char *k;
	int r;

	if (sqlite3_prepare_v2(l->db, "SELECT record FROM ingress WHERE part = ?1 AND off = ?2", -1, &ea.st, NULL) !=
	    SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	r = tids_ledger_query(l, &f, on_kept, &ea, err, errlen);
	if (r == TIDS_ENOMEM)
		tids_fail(err, errlen, r, "statistics: out of memory");
	sqlite3_finalize(ea.st);
	while ((k = tids_map_next(&ea.seen, &pos)) != NULL)
		free(k);
	tids_map_free(&ea.seen);
	return r;
}
