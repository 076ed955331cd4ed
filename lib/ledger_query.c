/*
 * Auditors' questions: who received what, when, under which rule (query),
 * and how many decisions of each kind (stats). A filter first picks the
 * profiles (about whom) or, when it names nobody, the classes (what was
 * decided) it allows from their small tables (ledger_profile.c); their
 * entries then come in time order — merged from their postings
 * (ledger_posting.c) when they are few, or found by walking entry_by_time when
 * they are many, and so dense in time that the walk meets them quickly. Every row returned
 * is decoded from its entry's bytes and checked against its row and its
 * profile, so an edited index cannot put words in an entry's mouth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

#define MERGE_MAX LEDGER_MERGE_MAX
/* What a step of the time walk and a merge cursor's seek cost, in about
 * the same unit: the planner's choice between them. */
#define WALK_STEP_COST 1
#define CURSOR_COST 50

struct profile_set {
	bool all;                        /* no filter */
	bool classes;                    /* n are classes, not profiles */
	int64_t *n;                      /* sorted */
	size_t len, cap;
	int64_t entries;                 /* theirs, as the counts estimate */
};

static int set_add(struct profile_set *s, int64_t n)
{
	if (s->len == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int64_t *p = realloc(s->n, cap * sizeof(*p));

		if (p == NULL)
			return TIDS_ENOMEM;
		s->n = p;
		s->cap = cap;
	}
	s->n[s->len++] = n;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static bool set_has(const struct profile_set *s, int64_t n)
{
	return s->all || bsearch(&n, s->n, s->len, sizeof(*s->n), cmp_i64) != NULL;
}

struct sql_buf {
	char s[1024];
	size_t len;
	int64_t bind[16];
	int n;
};

static void cond(struct sql_buf *q, const char *text, int64_t value)
{
	size_t n = strlen(text);

	if (q->n < (int)(sizeof(q->bind) / sizeof(q->bind[0])) && q->len + n + 1 <= sizeof(q->s)) {
		memcpy(q->s + q->len, text, n + 1);
		q->len += n;
		q->bind[q->n++] = value;
	}
}

/* A named value the filter asks for: its number, or none (no profile can
 * match a name the ledger never saw). */
static int name_cond(struct tids_ledger *l, struct sql_buf *q, const char *text, const char *value, bool *none)
{
	int64_t n;
	int r;

	if (value == NULL || *none)
		return 0;
	r = ledger_dict_name(l->dict, value, &n);
	if (r == TIDS_ENOENT) {
		*none = true;
		return 0;
	}
	if (r == 0)
		cond(q, text, n);
	return r;
}

/* "CN" is the country (every CN-*), "CN-SH" the jurisdiction. */
static int jurisdiction_cond(struct tids_ledger *l, struct sql_buf *q, const char *column, const char *j, bool *none)
{
	char text[64];
	bool country = j != NULL && strchr(j, '-') == NULL && strlen(j) == 2;

	snprintf(text, sizeof(text), " AND %s%s = ?", column, country ? "_country" : "");
	return name_cond(l, q, text, j, none);
}

/* The profiles the filter allows, or its classes when it names nobody. */
static int profiles_for(struct tids_ledger *l, const struct tids_ledger_filter *f, struct profile_set *out)
{
	struct sql_buf q = { .len = 0 };
	bool none = false, who = f->owner != NULL || f->recipient != NULL || f->grant_id != NULL;
	sqlite3_stmt *st;
	int rc, r = 0;

	memset(out, 0, sizeof(*out));
	if (!who && f->purpose == NULL && f->category == NULL && f->rule_id == NULL && f->origin == NULL &&
	    f->destination == NULL && f->decision == TIDS_DECISION_UNSET && f->tier == TIDS_TIER_UNSET) {
		out->all = true;
		return 0;
	}
	out->classes = !who;
	strcpy(q.s, who ? "SELECT p.n, p.entries FROM profile AS p JOIN class AS c ON c.n = p.class WHERE 1" :
			  "SELECT c.n, c.entries FROM class AS c WHERE 1");
	q.len = strlen(q.s);
	if ((r = name_cond(l, &q, " AND p.owner = ?", f->owner, &none)) != 0 ||
	    (r = name_cond(l, &q, " AND p.recipient = ?", f->recipient, &none)) != 0 ||
	    (r = name_cond(l, &q, " AND p.grant_id = ?", f->grant_id, &none)) != 0 ||
	    (r = name_cond(l, &q, " AND c.purpose = ?", f->purpose, &none)) != 0 ||
	    (r = name_cond(l, &q, " AND c.category = ?", f->category, &none)) != 0 ||
	    (r = name_cond(l, &q, " AND c.n IN (SELECT class FROM class_rule WHERE rule = ?)", f->rule_id,
			   &none)) != 0 ||
	    (r = jurisdiction_cond(l, &q, "c.origin", f->origin, &none)) != 0 ||
	    (r = jurisdiction_cond(l, &q, "c.destination", f->destination, &none)) != 0)
		return r;
	if (none)
		return 0;
	if (f->decision != TIDS_DECISION_UNSET)
		cond(&q, " AND c.decision = ?", (int64_t)f->decision);
	if (f->tier != TIDS_TIER_UNSET)
		cond(&q, " AND c.tier = ?", (int64_t)f->tier);
	if (sqlite3_prepare_v2(l->db, q.s, -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	for (int i = 0; i < q.n; i++)
		sqlite3_bind_int64(st, i + 1, q.bind[i]);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = set_add(out, sqlite3_column_int64(st, 0));
		out->entries += sqlite3_column_int64(st, 1);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	if (out->len > 1)
		qsort(out->n, out->len, sizeof(*out->n), cmp_i64);
	return r;
}

/*
 * Merge the cursors of the set, or walk time and skip what is not in it?
 * A walk finds `limit` rows after about limit / density steps; a merge
 * pays a seek per cursor first. The counts behind the density are the
 * writer's estimates: a wrong one costs time, never a wrong answer.
 */
static bool walk_is_cheaper(struct tids_ledger *l, const struct tids_ledger_filter *f, const struct profile_set *set)
{
	sqlite3_stmt *st;
	int64_t total = 0;
	double density;

	if (set->len > MERGE_MAX)
		return true;
	if (sqlite3_prepare_v2(l->db, "SELECT sum(entries) FROM class", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			total = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (total <= 0 || set->entries <= 0)
		return false;
	density = (double)set->entries / (double)total;
	if (f->limit == 0)
		return density > 0.3;
	return (double)f->limit / density * WALK_STEP_COST < (double)set->len * CURSOR_COST;
}

static bool jurisdiction_matches(const char *have, const char *want)
{
	char c[3];

	if (want == NULL)
		return true;
	if (strchr(want, '-') != NULL || strlen(want) != 2)
		return strcmp(have, want) == 0;
	ledger_country(have, c);
	return strcmp(c, want) == 0;
}

/* The filter once more, on the decoded entry: the index only found it. */
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

struct run {
	struct tids_ledger *l;
	const struct tids_ledger_filter *f;
	tids_ledger_entry_fn *fn;
	void *ctx;
	char *err;
	size_t errlen;
	uint64_t n;
	bool done;                       /* the limit is reached */
};

/*
 * The row under st (LEDGER_ENTRY_COLUMNS) checked against its bytes and
 * profile, and given to the caller if the filter holds. A row found
 * through a profile the filter allows must match the filter: if its bytes
 * say otherwise, the index was edited.
 */
static int emit(struct run *q, sqlite3_stmt *st, bool must_match)
{
	int64_t id = sqlite3_column_int64(st, 0);
	const uint8_t *bytes = sqlite3_column_blob(st, 1);
	size_t len = (size_t)sqlite3_column_bytes(st, 1);
	struct ledger_entry_view v;
	struct tids_audit_entry e;
	const char *col;
	char why[256];
	int r = 0;

	if (bytes == NULL) {
		snprintf(why, sizeof(why), "no bytes");
		r = -1;
	} else if (tids_wire_decode_audit_entry(bytes, len, &e, why, sizeof(why)) != 0) {
		r = -1;
	} else if (ledger_scan_entry(bytes, len, &v) != 0) {
		tids_audit_entry_free(&e);
		snprintf(why, sizeof(why), "not in the form the hub writes");
		r = -1;
	}
	if (r != 0)
		return tids_fail(q->err, q->errlen, TIDS_EBADSIG, "entry %d:%llu does not decode (%s): the ledger was "
				 "altered; run tidsctl audit verify", ledger_id_partition(id),
				 (unsigned long long)ledger_id_seq(id), why);
	col = e.partition != ledger_id_partition(id) || e.seq != ledger_id_seq(id) ? "id" :
	      ledger_row_mismatch(q->l->dict, st, &v);
	if (col != NULL) {
		r = tids_fail(q->err, q->errlen, TIDS_EBADSIG, "entry %d:%llu: its index (%s) does not match its bytes: "
			      "the ledger was altered; run tidsctl audit verify", ledger_id_partition(id),
			      (unsigned long long)ledger_id_seq(id), col);
	} else if (entry_matches(q->f, &e)) {
		r = q->fn(q->ctx, &e);
		q->n++;
		q->done = q->f->limit != 0 && q->n >= q->f->limit;
	} else if (must_match && (q->f->since_ms == 0 || e.decided_at_ms >= q->f->since_ms) &&
		   (q->f->until_ms == 0 || e.decided_at_ms < q->f->until_ms) && !q->f->has_record_id) {
		r = tids_fail(q->err, q->errlen, TIDS_EBADSIG, "entry %d:%llu is indexed under a profile it does not "
			      "have: the ledger was altered; run tidsctl audit verify", e.partition,
			      (unsigned long long)e.seq);
	}
	tids_audit_entry_free(&e);
	return r;
}

static int db_fail(struct run *q)
{
	return tids_fail(q->err, q->errlen, TIDS_EDB, "%s: %s", q->l->path, sqlite3_errmsg(q->l->db));
}

static void time_bounds(const struct tids_ledger_filter *f, int64_t *lo, int64_t *hi)
{
	*lo = f->since_ms != 0 ? f->since_ms : INT64_MIN;
	*hi = f->until_ms != 0 ? f->until_ms : INT64_MAX;
}

/* The cursor's next entry into *t, *id; *live false at its end. */
static int advance(struct run *q, struct ledger_cursor *c, int64_t *t, int64_t *id, bool *live)
{
	int r = ledger_cursor_next(c, t, id);

	*live = r == 1;
	if (r >= 0)
		return 0;
	if (r == TIDS_EBADSIG)
		return tids_fail(q->err, q->errlen, r, "%s: a posting list does not decode: the ledger was altered; "
				 "run tidsctl audit verify", q->l->path);
	if (r == TIDS_ENOMEM)
		return tids_fail(q->err, q->errlen, r, "out of memory");
	return db_fail(q);
}

/* Few profiles or classes: one cursor each over their postings (or, in a
 * ledger of layout 2, over entry_by_profile or entry_by_class), merged by
 * time; each entry then fetched by id. */
static int by_merge(struct run *q, const struct profile_set *set)
{
	struct ledger_cursor cur[MERGE_MAX];
	int64_t t[MERGE_MAX], id[MERGE_MAX];
	bool live[MERGE_MAX] = { false };
	enum ledger_list kind = set->classes ? LEDGER_BY_CLASS : LEDGER_BY_PROFILE;
	sqlite3_stmt *row = NULL;
	int64_t lo, hi;
	size_t opened = 0;
	int r = 0;

	time_bounds(q->f, &lo, &hi);
	if (sqlite3_prepare_v2(q->l->db, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entry WHERE id = ?1", -1, &row, NULL) !=
	    SQLITE_OK)
		return db_fail(q);
	for (size_t i = 0; i < set->len && r == 0; i++) {
		sqlite3_stmt **pooled = &q->l->cursor[set->classes][i];

		if (*pooled == NULL &&
		    sqlite3_prepare_v3(q->l->db, ledger_cursor_sql(q->l->legacy, kind), -1, SQLITE_PREPARE_PERSISTENT,
				       pooled, NULL) != SQLITE_OK) {
			r = db_fail(q);
			break;
		}
		ledger_cursor_open(&cur[i], *pooled, q->l->legacy, kind, set->n[i], lo, hi);
		opened = i + 1;
		r = advance(q, &cur[i], &t[i], &id[i], &live[i]);
	}
	/* Of equal times, the lower number first. */
	while (r == 0 && !q->done) {
		size_t best = set->len;
		int rc;

		for (size_t i = 0; i < set->len; i++)
			if (live[i] && (best == set->len || t[i] < t[best]))
				best = i;
		if (best == set->len)
			break;
		sqlite3_bind_int64(row, 1, id[best]);
		rc = sqlite3_step(row);
		if (rc == SQLITE_ROW && (sqlite3_column_int64(row, set->classes ? 5 : 4) != set->n[best] ||
					 sqlite3_column_int64(row, 2) != t[best]))
			/* The list names an entry that is not its: a list edited. */
			r = tids_fail(q->err, q->errlen, TIDS_EBADSIG, "entry %d:%llu is indexed under a %s it does not "
				      "have: the ledger was altered; run tidsctl audit verify", ledger_id_partition(id[best]),
				      (unsigned long long)ledger_id_seq(id[best]), set->classes ? "class" : "profile");
		else if (rc == SQLITE_ROW)
			r = emit(q, row, true);
		else if (rc != SQLITE_DONE)
			r = db_fail(q);
		/* No row: an entry pruned since, or taken out, which verify names. */
		sqlite3_reset(row);
		if (r != 0)
			break;
		r = advance(q, &cur[best], &t[best], &id[best], &live[best]);
	}
	for (size_t i = 0; i < opened; i++)
		ledger_cursor_close(&cur[i]);
	sqlite3_finalize(row);
	return r;
}

/* Many profiles or classes, or none named: walk entry_by_time and fetch
 * the rows of those asked for. */
static int by_time(struct run *q, const struct profile_set *set)
{
	sqlite3_stmt *walk = NULL, *row = NULL;
	int64_t lo, hi;
	int rc = SQLITE_DONE, r = 0;

	time_bounds(q->f, &lo, &hi);
	if (sqlite3_prepare_v2(q->l->db, "SELECT id, class, profile FROM entry WHERE decided_at >= ?1"
			       " AND decided_at < ?2 ORDER BY decided_at, class, profile, id", -1, &walk, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(q->l->db, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entry WHERE id = ?1", -1, &row,
			       NULL) != SQLITE_OK) {
		r = db_fail(q);
		goto out;
	}
	sqlite3_bind_int64(walk, 1, lo);
	sqlite3_bind_int64(walk, 2, hi);
	while (r == 0 && !q->done && (rc = sqlite3_step(walk)) == SQLITE_ROW) {
		if (!set_has(set, sqlite3_column_int64(walk, set->classes ? 1 : 2)))
			continue;
		sqlite3_bind_int64(row, 1, sqlite3_column_int64(walk, 0));
		if (sqlite3_step(row) == SQLITE_ROW)
			r = emit(q, row, !set->all);
		sqlite3_reset(row);
	}
	if (r == 0 && !q->done && rc != SQLITE_DONE)
		r = db_fail(q);
out:
	sqlite3_finalize(walk);
	sqlite3_finalize(row);
	return r;
}

struct timed {
	int64_t decided_at, profile, id;
};

static int cmp_timed(const void *a, const void *b)
{
	const struct timed *x = a, *y = b;

	if (x->decided_at != y->decided_at)
		return (x->decided_at > y->decided_at) - (x->decided_at < y->decided_at);
	if (x->profile != y->profile)
		return (x->profile > y->profile) - (x->profile < y->profile);
	return (x->id > y->id) - (x->id < y->id);
}

/* A record: its entries through the record index, checked, sorted by time. */
static int by_record(struct run *q)
{
	struct { int64_t *ids; size_t len; } rr = { NULL, 0 };
	struct timed *order = NULL;
	sqlite3_stmt *row = NULL;
	int r;

	if ((r = ledger_record_entries(q->l, q->f->record_id, &rr.ids, &rr.len)) != 0) {
		r = r == TIDS_ENOMEM ? tids_fail(q->err, q->errlen, r, "out of memory") : db_fail(q);
		goto out;
	}
	if (sqlite3_prepare_v2(q->l->db, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entry WHERE id = ?1", -1, &row, NULL) !=
	    SQLITE_OK) {
		r = db_fail(q);
		goto out;
	}
	if (rr.len > 0 && (order = calloc(rr.len, sizeof(*order))) == NULL) {
		r = tids_fail(q->err, q->errlen, TIDS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rr.len; i++) {
		sqlite3_bind_int64(row, 1, rr.ids[i]);
		if (sqlite3_step(row) == SQLITE_ROW)
			order[i] = (struct timed){ sqlite3_column_int64(row, 2), sqlite3_column_int64(row, 4), rr.ids[i] };
		sqlite3_reset(row);
	}
	if (rr.len > 1)
		qsort(order, rr.len, sizeof(*order), cmp_timed);
	for (size_t i = 0; i < rr.len && r == 0 && !q->done; i++) {
		sqlite3_bind_int64(row, 1, order[i].id);
		if (sqlite3_step(row) == SQLITE_ROW)
			r = emit(q, row, false);
		sqlite3_reset(row);
	}
out:
	sqlite3_finalize(row);
	free(rr.ids);
	free(order);
	return r;
}

int tids_ledger_query(struct tids_ledger *l, const struct tids_ledger_filter *f, tids_ledger_entry_fn *fn,
		      void *ctx, char *err, size_t errlen)
{
	struct run q = { l, f, fn, ctx, err, errlen, 0, false };
	struct profile_set set;
	int r;

	/* One snapshot: the indexer's commits do not show half-way. */
	if (sqlite3_get_autocommit(l->db) && sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(&q);
	/* The writer asking about its own open batch: its lists first. */
	if (l->in_tx && ledger_postings_flush(l->postings, l->st[LS_INS_POSTING]) != 0)
		return db_fail(&q);
	if (f->has_record_id) {
		r = by_record(&q);
	} else if ((r = profiles_for(l, f, &set)) != 0) {
		r = r == TIDS_ENOMEM ? tids_fail(err, errlen, r, "out of memory") : db_fail(&q);
	} else {
		if (set.all || (set.len > 0 && walk_is_cheaper(l, f, &set)))
			r = by_time(&q, &set);
		else if (set.len > 0)
			r = by_merge(&q, &set);
		free(set.n);
	}
	if (!l->in_tx && !sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
	return r;
}

/* --- stats ------------------------------------------------------------------------ */

struct stat_row {
	int decision, tier;
	const char *category;
	char origin[TIDS_ID_MAX + 1], destination[TIDS_ID_MAX + 1];
	uint64_t count;
};

static int cmp_stat(const void *a, const void *b)
{
	const struct stat_row *x = a, *y = b;
	int c;

	if (x->decision != y->decision)
		return x->decision - y->decision;
	if (x->tier != y->tier)
		return x->tier - y->tier;
	if ((c = strcmp(x->category, y->category)) != 0)
		return c;
	if ((c = strcmp(x->origin, y->origin)) != 0)
		return c;
	return strcmp(x->destination, y->destination);
}

int tids_ledger_stats(struct tids_ledger *l, int64_t since_ms, int64_t until_ms, bool by_country,
		      tids_ledger_stat_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct stat_row *rows = NULL;
	size_t n = 0, cap = 0, out = 0;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r = 0;

	/* Counts per class from the covering time index; the classes then
	 * say what each count is of. */
	if (sqlite3_prepare_v2(l->db, "SELECT class, count(*) FROM entry WHERE decided_at >= ?1 AND decided_at < ?2"
			       " GROUP BY class", -1, &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_bind_int64(st, 1, since_ms != 0 ? since_ms : INT64_MIN);
	sqlite3_bind_int64(st, 2, until_ms != 0 ? until_ms : INT64_MAX);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const struct ledger_class *p;
		struct stat_row *s;

		if ((r = ledger_dict_class(l->dict, sqlite3_column_int64(st, 0), &p)) != 0) {
			if (r != TIDS_ENOMEM && r != TIDS_EDB)
				r = tids_fail(err, errlen, TIDS_EBADSIG, "%s: an entry cites a class the ledger does not "
					      "hold as written: the ledger was altered; run tidsctl audit verify", l->path);
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct stat_row *nr = realloc(rows, ncap * sizeof(*nr));

			if (nr == NULL) {
				r = TIDS_ENOMEM;
				break;
			}
			rows = nr;
			cap = ncap;
		}
		s = &rows[n++];
		s->decision = p->decision;
		s->tier = p->tier;
		s->category = p->category;
		if (by_country) {
			ledger_country(p->origin, s->origin);
			ledger_country(p->destination, s->destination);
		} else {
			snprintf(s->origin, sizeof(s->origin), "%s", p->origin);
			snprintf(s->destination, sizeof(s->destination), "%s", p->destination);
		}
		s->count = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	if (r == TIDS_ENOMEM)
		r = tids_fail(err, errlen, r, "out of memory");
	sqlite3_finalize(st);
	if (r == 0 && n > 0) {
		qsort(rows, n, sizeof(*rows), cmp_stat);
		/* Classes differing in what stats do not show add up. */
		for (size_t i = 1; i < n; i++) {
			if (cmp_stat(&rows[out], &rows[i]) == 0)
				rows[out].count += rows[i].count;
			else
				rows[++out] = rows[i];
		}
		for (size_t i = 0; i <= out && r == 0; i++) {
			struct tids_ledger_stat s = { (enum tids_decision)rows[i].decision, (enum tids_tier)rows[i].tier,
						      rows[i].category, rows[i].origin, rows[i].destination,
						      rows[i].count };

			r = fn(ctx, &s);
		}
	}
	free(rows);
	return r;
}

int tids_ledger_tally(struct tids_ledger *l, int64_t since_ms, int64_t until_ms, tids_ledger_tally_fn *fn, void *ctx,
		      char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r = 0;

	/* Per profile, from the covering time index. */
	if (sqlite3_prepare_v2(l->db, "SELECT profile, count(*) FROM entry WHERE decided_at >= ?1 AND decided_at < ?2"
			       " GROUP BY profile", -1, &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_bind_int64(st, 1, since_ms != 0 ? since_ms : INT64_MIN);
	sqlite3_bind_int64(st, 2, until_ms != 0 ? until_ms : INT64_MAX);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const struct ledger_profile *p;
		struct tids_ledger_tally t;

		if ((r = ledger_dict_profile(l->dict, sqlite3_column_int64(st, 0), &p)) != 0) {
			r = r == TIDS_ENOMEM || r == TIDS_EDB ? tids_fail(err, errlen, r, "%s: %s", l->path,
									  sqlite3_errmsg(l->db)) :
			    tids_fail(err, errlen, TIDS_EBADSIG, "%s: an entry cites a profile the ledger does not hold as "
				      "written: the ledger was altered; run tidsctl audit verify", l->path);
			break;
		}
		t = (struct tids_ledger_tally){ p->owner, p->recipient, p->c->purpose, p->c->category, p->c->origin,
						p->c->destination, p->grant_id, p->approval_id,
						(enum tids_decision)p->c->decision, (enum tids_tier)p->c->tier,
						p->c->rules, p->c->n_rules, (uint64_t)sqlite3_column_int64(st, 1) };
		r = fn(ctx, &t);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_finalize(st);
	return r;
}
