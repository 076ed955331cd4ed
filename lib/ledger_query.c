/*
 * Auditors' questions: who received what, when, under which rule (query),
 * and how many decisions of each kind (stats). The indexes find the rows;
 * every row returned is decoded from its entry's bytes and checked against
 * its index columns, so an edited index cannot put words in an entry's
 * mouth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

#define MAX_BINDS 24

struct binds {
	enum { B_TEXT, B_INT, B_BLOB } kind[MAX_BINDS];
	const void *p[MAX_BINDS];
	int64_t i[MAX_BINDS];
	int n;
};

struct sql_buf {
	char s[2048];
	size_t len;
	bool overflow;
};

static void add(struct sql_buf *q, const char *text)
{
	size_t n = strlen(text);

	if (q->len + n + 1 > sizeof(q->s)) {
		q->overflow = true;
		return;
	}
	memcpy(q->s + q->len, text, n + 1);
	q->len += n;
}

/* Appends " AND <cond>" where cond's "?" is the next parameter. */
static void cond_text(struct sql_buf *q, struct binds *b, const char *cond, const char *value)
{
	if (value == NULL || b->n >= MAX_BINDS)
		return;
	add(q, " AND ");
	add(q, cond);
	b->kind[b->n] = B_TEXT;
	b->p[b->n++] = value;
}

static void cond_int(struct sql_buf *q, struct binds *b, const char *cond, int64_t v)
{
	if (b->n >= MAX_BINDS)
		return;
	add(q, " AND ");
	add(q, cond);
	b->kind[b->n] = B_INT;
	b->i[b->n++] = v;
}

/* By country through the expression indexes; a full code ("CN-SH") is
 * matched on top of its country. */
static void cond_jurisdiction(struct sql_buf *q, struct binds *b, const char *column, const char *j, char country[3])
{
	char c[96];

	if (j == NULL)
		return;
	tids_ledger_country(j, country);
	snprintf(c, sizeof(c), "substr(entry.%s, 1, 2) = ?", column);
	cond_text(q, b, c, country);
	if (strcmp(j, country) != 0) {
		snprintf(c, sizeof(c), "entry.%s = ?", column);
		cond_text(q, b, c, j);
	}
}

static void bind_all(sqlite3_stmt *st, const struct binds *b)
{
	for (int i = 0; i < b->n; i++) {
		switch (b->kind[i]) {
		case B_TEXT:
			sqlite3_bind_text(st, i + 1, b->p[i], -1, SQLITE_STATIC);
			break;
		case B_INT:
			sqlite3_bind_int64(st, i + 1, b->i[i]);
			break;
		case B_BLOB:
			sqlite3_bind_blob(st, i + 1, b->p[i], (int)b->i[i], SQLITE_STATIC);
			break;
		}
	}
}

static bool jurisdiction_matches(const char *have, const char *want)
{
	char c[3];

	if (want == NULL)
		return true;
	if (strchr(want, '-') != NULL || strlen(want) != 2)
		return strcmp(have, want) == 0;
	tids_ledger_country(have, c);
	return strcmp(c, want) == 0;
}

/* The filter once more, on the decoded entry: the index rows only found it. */
static bool entry_matches(const struct tids_ledger_filter *f, const struct tids_audit_entry *e)
{
	if ((f->since_ms != 0 && e->decided_at_ms < f->since_ms) || (f->until_ms != 0 && e->decided_at_ms >= f->until_ms))
		return false;
	if ((f->owner != NULL && strcmp(e->owner, f->owner) != 0) ||
	    (f->recipient != NULL && strcmp(e->recipient, f->recipient) != 0) ||
	    (f->purpose != NULL && strcmp(e->purpose, f->purpose) != 0) ||
	    (f->category != NULL && strcmp(e->category, f->category) != 0) ||
	    (f->grant_id != NULL && strcmp(e->grant_id, f->grant_id) != 0))
		return false;
	if (!jurisdiction_matches(e->origin, f->origin) || !jurisdiction_matches(e->destination, f->destination))
		return false;
	if ((f->decision != TIDS_DECISION_UNSET && e->decision != f->decision) ||
	    (f->tier != TIDS_TIER_UNSET && e->tier != f->tier))
		return false;
	if (f->has_record_id && memcmp(e->record_id, f->record_id, TIDS_RECORD_ID_BYTES) != 0)
		return false;
	if (f->rule_id != NULL && !tids_strlist_has(&e->rule_ids, f->rule_id))
		return false;
	return true;
}

int tids_ledger_query(struct tids_ledger *l, const struct tids_ledger_filter *f, tids_ledger_entry_fn *fn,
		      void *ctx, char *err, size_t errlen)
{
	struct sql_buf q = { .len = 0 };
	struct binds b = { .n = 0 };
	char origin_country[3], dest_country[3];
	sqlite3_stmt *st = NULL;
	uint64_t n = 0;
	int rc, r = 0;

	/* A rule's decisions come in time order from entry_rule's index; the
	 * other filters go through entry's. */
	if (f->rule_id != NULL) {
		add(&q, "SELECT " LEDGER_ENTRY_COLUMNS_Q " FROM entry_rule AS r JOIN entry ON entry.id = r.id WHERE 1");
		cond_text(&q, &b, "r.rule_id = ?", f->rule_id);
		if (f->since_ms != 0)
			cond_int(&q, &b, "r.decided_at >= ?", f->since_ms);
		if (f->until_ms != 0)
			cond_int(&q, &b, "r.decided_at < ?", f->until_ms);
	} else {
		add(&q, "SELECT " LEDGER_ENTRY_COLUMNS_Q " FROM entry WHERE 1");
	}
	if (f->since_ms != 0)
		cond_int(&q, &b, "entry.decided_at >= ?", f->since_ms);
	if (f->until_ms != 0)
		cond_int(&q, &b, "entry.decided_at < ?", f->until_ms);
	cond_text(&q, &b, "entry.owner = ?", f->owner);
	cond_text(&q, &b, "entry.recipient = ?", f->recipient);
	cond_text(&q, &b, "entry.purpose = ?", f->purpose);
	cond_text(&q, &b, "entry.category = ?", f->category);
	/* "<> ''" lets the planner use the partial index of granted entries. */
	cond_text(&q, &b, "entry.grant_id = ? AND entry.grant_id <> ''", f->grant_id);
	cond_jurisdiction(&q, &b, "origin", f->origin, origin_country);
	cond_jurisdiction(&q, &b, "destination", f->destination, dest_country);
	if (f->decision != TIDS_DECISION_UNSET)
		cond_int(&q, &b, "entry.decision = ?", (int64_t)f->decision);
	if (f->tier != TIDS_TIER_UNSET)
		cond_int(&q, &b, "entry.tier = ?", (int64_t)f->tier);
	if (f->has_record_id && b.n < MAX_BINDS) {
		add(&q, " AND entry.record_id = ?");
		b.kind[b.n] = B_BLOB;
		b.p[b.n] = f->record_id;
		b.i[b.n++] = TIDS_RECORD_ID_BYTES;
	}
	/* Every index ends in the rowid, so this order costs no sort when an
	 * index with decided_at serves the filter. */
	add(&q, f->rule_id != NULL ? " ORDER BY r.decided_at, r.id" : " ORDER BY entry.decided_at, entry.id");
	if (q.overflow)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "query too long");
	if (sqlite3_prepare_v2(l->db, q.s, -1, &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	bind_all(st, &b);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const uint8_t *bytes = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		struct tids_audit_entry e;
		const char *col;
		char why[256];

		if (tids_wire_decode_audit_entry(bytes, len, &e, why, sizeof(why)) != 0) {
			r = tids_fail(err, errlen, TIDS_EBADSIG, "entry %d:%llu does not decode (%s): the ledger was "
				      "altered; run tidsctl audit verify", ledger_id_partition(id),
				      (unsigned long long)ledger_id_seq(id), why);
			break;
		}
		col = tids_ledger_row_mismatch(st, &e);
		if (col == NULL && (e.partition != ledger_id_partition(id) || e.seq != ledger_id_seq(id)))
			col = "id";
		if (col != NULL) {
			r = tids_fail(err, errlen, TIDS_EBADSIG, "entry %d:%llu: its index column %s does not match "
				      "its bytes: the ledger was altered; run tidsctl audit verify",
				      ledger_id_partition(id), (unsigned long long)ledger_id_seq(id), col);
			tids_audit_entry_free(&e);
			break;
		}
		if (entry_matches(f, &e)) {
			r = fn(ctx, &e);
			n++;
		} else if (f->rule_id != NULL && !tids_strlist_has(&e.rule_ids, f->rule_id)) {
			r = tids_fail(err, errlen, TIDS_EBADSIG, "entry %d:%llu is indexed under rule %s but does "
				      "not name it: the ledger was altered; run tidsctl audit verify",
				      e.partition, (unsigned long long)e.seq, f->rule_id);
		}
		tids_audit_entry_free(&e);
		if (r != 0 || (f->limit != 0 && n >= f->limit))
			break;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_finalize(st);
	return r;
}

int tids_ledger_stats(struct tids_ledger *l, int64_t since_ms, int64_t until_ms, bool by_country,
		      tids_ledger_stat_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct sql_buf q = { .len = 0 };
	struct binds b = { .n = 0 };
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	add(&q, by_country ? "SELECT decision, tier, category, substr(origin, 1, 2), substr(destination, 1, 2), count(*)"
			   : "SELECT decision, tier, category, origin, destination, count(*)");
	add(&q, " FROM entry WHERE 1");
	if (since_ms != 0)
		cond_int(&q, &b, "decided_at >= ?", since_ms);
	if (until_ms != 0)
		cond_int(&q, &b, "decided_at < ?", until_ms);
	add(&q, " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5");
	if (sqlite3_prepare_v2(l->db, q.s, -1, &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	bind_all(st, &b);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tids_ledger_stat s = {
			.decision = (enum tids_decision)sqlite3_column_int(st, 0),
			.tier = (enum tids_tier)sqlite3_column_int(st, 1),
			.category = (const char *)sqlite3_column_text(st, 2),
			.origin = (const char *)sqlite3_column_text(st, 3),
			.destination = (const char *)sqlite3_column_text(st, 4),
			.count = (uint64_t)sqlite3_column_int64(st, 5),
		};

		if (s.category == NULL || s.origin == NULL || s.destination == NULL) {
			r = tids_fail(err, errlen, TIDS_EBADSIG, "%s: an index row lacks its values: the ledger was "
				      "altered; run tidsctl audit verify", l->path);
			break;
		}
		if ((r = fn(ctx, &s)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_finalize(st);
	return r;
}
