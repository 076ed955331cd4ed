/*
 * Postings: which entries each profile and each class has, in time order,
 * for the queries that name someone or something (ledger_query.c). They
 * replace the entry_by_profile and entry_by_class indexes of layout 2.
 *
 * Why: those indexes cost the indexer two B-tree inserts per entry at
 * thousands of places at once (one per profile, one per class), about 6 of
 * its 13 us per entry. Here the writer only appends (profile, time, id)
 * and (class, time, id) to an array; at commit it sorts the batch and
 * writes one row per list and up to POSTING_MAX entries, its (time, id)
 * pairs delta-coded in a blob: tens of times fewer B-tree inserts, and the
 * rows a query reads are as local as the index's were.
 *
 * A list's rows may overlap in time (partitions lag one another), so a
 * cursor merges them: it opens a row once its first time is due. A row
 * spans at most POSTING_SPAN_MS, which lets a cursor seek to the first row
 * that can hold an entry of its window. Nothing here is trusted: the
 * query checks every row it fetches against the list that named it and
 * against the entry's bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "tids/map.h"

#define POSTING_MAX 256                  /* entries per row */
#define POSTING_SPAN_MS INT64_C(3600000) /* first to last time of a row */
#define VARINT_MAX 10

struct post {
	int64_t list, t, id;
};

struct ledger_postings {
	struct post *p;
	size_t len, cap;
	uint8_t blob[POSTING_MAX * 2 * VARINT_MAX];
};

int ledger_postings_new(struct ledger_postings **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : TIDS_ENOMEM;
}

void ledger_postings_free(struct ledger_postings *w)
{
	if (w == NULL)
		return;
	free(w->p);
	free(w);
}

void ledger_postings_forget(struct ledger_postings *w)
{
	if (w != NULL)
		w->len = 0;
}

static int64_t list_of(enum ledger_list kind, int64_t n)
{
	return (int64_t)((uint64_t)n << 1 | (uint64_t)kind);
}

/* items (room for *cap of size bytes each) with room for need, doubling
 * from first; NULL, with items untouched, if memory ran out or the size
 * would not fit in a size_t. */
static void *reserve(void *items, size_t *cap, size_t need, size_t first, size_t size)
{
	size_t n = *cap ? *cap : first;
	void *p;

	if (need <= *cap)
		return items;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		return NULL;
	if ((p = realloc(items, n * size)) != NULL)
		*cap = n;
	return p;
}

/* The array grows by doubling and is kept across batches: no allocation
 * per entry once it has held the largest batch. */
int ledger_postings_add(struct ledger_postings *w, int64_t profile, int64_t class_n, int64_t t, int64_t id)
{
	struct post *p = reserve(w->p, &w->cap, w->len + 2, 4096, sizeof(*p));

	if (p == NULL)
		return TIDS_ENOMEM;
	w->p = p;
	w->p[w->len++] = (struct post){ list_of(LEDGER_BY_PROFILE, profile), t, id };
	w->p[w->len++] = (struct post){ list_of(LEDGER_BY_CLASS, class_n), t, id };
	return 0;
}

static int cmp_post(const void *a, const void *b)
{
	const struct post *x = a, *y = b;

	if (x->list != y->list)
		return (x->list > y->list) - (x->list < y->list);
	if (x->t != y->t)
		return (x->t > y->t) - (x->t < y->t);
	return (x->id > y->id) - (x->id < y->id);
}

static size_t put_varint(uint8_t *b, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t *b, size_t len, size_t *off, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64 && *off < len; shift += 7) {
		uint8_t c = b[(*off)++];

		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Ids go up within a time but may go down across times: zigzag. */
static uint64_t zigzag(uint64_t d)
{
	return (d & UINT64_C(0x8000000000000000)) ? ~(d << 1) : d << 1;
}

static uint64_t unzigzag(uint64_t z)
{
	return (z & 1) ? ~(z >> 1) : z >> 1;
}

/* One row: p[0..n) of one list, sorted, within POSTING_SPAN_MS. */
static int write_row(sqlite3_stmt *st, uint8_t *blob, const struct post *p, size_t n)
{
	uint64_t prev_t = (uint64_t)p[0].t, prev_id = 0;
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		len += put_varint(blob + len, (uint64_t)p[i].t - prev_t);
		len += put_varint(blob + len, zigzag((uint64_t)p[i].id - prev_id));
		prev_t = (uint64_t)p[i].t;
		prev_id = (uint64_t)p[i].id;
	}
	sqlite3_bind_int64(st, 1, p[0].list);
	sqlite3_bind_int64(st, 2, p[0].t);
	sqlite3_bind_int64(st, 3, p[0].id);
	sqlite3_bind_int64(st, 4, (int64_t)n);
	sqlite3_bind_blob(st, 5, blob, (int)len, SQLITE_STATIC);
	return ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
}

int ledger_postings_flush(struct ledger_postings *w, sqlite3_stmt *ins)
{
	size_t start = 0;
	int r = 0;

	if (w->len == 0)
		return 0;
	qsort(w->p, w->len, sizeof(*w->p), cmp_post);
	for (size_t i = 1; i <= w->len && r == 0; i++)
		if (i == w->len || w->p[i].list != w->p[start].list || i - start == POSTING_MAX ||
		    w->p[i].t - w->p[start].t > POSTING_SPAN_MS) {
			r = write_row(ins, w->blob, w->p + start, i - start);
			start = i;
		}
	if (r == 0)
		w->len = 0;
	return r;
}

/* --- reading --------------------------------------------------------------------- */

struct open_row {
	struct post *e;              /* list unused: (t, id) */
	size_t n, at;
};

/* Decodes a row's blob into (t, id) pairs within [lo, hi). */
static int decode_row(sqlite3_stmt *st, int64_t lo, int64_t hi, struct open_row *o)
{
	const uint8_t *b = sqlite3_column_blob(st, 2);
	size_t len = (size_t)sqlite3_column_bytes(st, 2), off = 0;
	int64_t count = sqlite3_column_int64(st, 1);
	uint64_t t = (uint64_t)sqlite3_column_int64(st, 0), id = 0;

	memset(o, 0, sizeof(*o));
	if (count <= 0 || count > POSTING_MAX || (b == NULL && len > 0))
		return TIDS_EBADSIG;
	if ((o->e = malloc((size_t)count * sizeof(*o->e))) == NULL)
		return TIDS_ENOMEM;
	for (int64_t i = 0; i < count; i++) {
		uint64_t dt, dz;

		if (get_varint(b, len, &off, &dt) != 0 || get_varint(b, len, &off, &dz) != 0) {
			free(o->e);
			o->e = NULL;
			return TIDS_EBADSIG;
		}
		t += dt;
		id += unzigzag(dz);
		if ((int64_t)t >= lo && (int64_t)t < hi)
			o->e[o->n++] = (struct post){ 0, (int64_t)t, (int64_t)id };
	}
	return off == len ? 0 : TIDS_EBADSIG;
}

const char *ledger_cursor_sql(bool legacy, enum ledger_list kind)
{
	if (legacy)
		return kind == LEDGER_BY_CLASS ?
		       "SELECT decided_at, id FROM entry WHERE class = ?1 AND decided_at >= ?2 AND decided_at < ?3"
		       " ORDER BY decided_at, id" :
		       "SELECT decided_at, id FROM entry WHERE profile = ?1 AND decided_at >= ?2 AND decided_at < ?3"
		       " ORDER BY decided_at, id";
	return "SELECT lo, n, ids FROM posting WHERE list = ?1 AND lo >= ?2 AND lo < ?3 ORDER BY lo, first";
}

void ledger_cursor_open(struct ledger_cursor *c, sqlite3_stmt *st, bool legacy, enum ledger_list kind, int64_t n,
			int64_t lo, int64_t hi)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->legacy = legacy;
	c->lo = lo;
	c->hi = hi;
	if (legacy) {
		sqlite3_bind_int64(st, 1, n);
		sqlite3_bind_int64(st, 2, lo);
	} else {
		sqlite3_bind_int64(st, 1, list_of(kind, n));
		/* A row holding an entry at lo starts at most a span before. */
		sqlite3_bind_int64(st, 2, lo > INT64_MIN + POSTING_SPAN_MS ? lo - POSTING_SPAN_MS : INT64_MIN);
	}
	sqlite3_bind_int64(st, 3, hi);
	c->pending = -1;
}

/* Steps the row statement: 1 with a row, 0 at the end, < 0. */
static int step_rows(struct ledger_cursor *c)
{
	int rc = sqlite3_step(c->st);

	c->pending = rc == SQLITE_ROW;
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

int ledger_cursor_next(struct ledger_cursor *c, int64_t *t, int64_t *id)
{
	int r;

	if (c->legacy) {
		if ((r = step_rows(c)) == 1) {
			*t = sqlite3_column_int64(c->st, 0);
			*id = sqlite3_column_int64(c->st, 1);
		}
		return r;
	}
	if (c->pending < 0 && (r = step_rows(c)) < 0)
		return r;
	for (;;) {
		size_t best = c->n_open;
		struct open_row *o;

		for (size_t i = 0; i < c->n_open; i++) {
			const struct post *x = &c->open[i].e[c->open[i].at], *y;

			if (best == c->n_open)
				best = i;
			else if (y = &c->open[best].e[c->open[best].at], x->t < y->t || (x->t == y->t && x->id < y->id))
				best = i;
		}
		/* A row not opened yet starts at lo: nothing in it comes
		 * before lo, so the best open one is due if it is earlier. */
		if (c->pending == 1 &&
		    (best == c->n_open || sqlite3_column_int64(c->st, 0) <= c->open[best].e[c->open[best].at].t)) {
			struct open_row *rows = reserve(c->open, &c->cap_open, c->n_open + 1, 8, sizeof(*rows));

			if (rows == NULL)
				return TIDS_ENOMEM;
			c->open = rows;
			o = &c->open[c->n_open];
			if ((r = decode_row(c->st, c->lo, c->hi, o)) != 0)
				return r;
			if (o->n > 0)
				c->n_open++;
			else
				free(o->e);
			if ((r = step_rows(c)) < 0)
				return r;
			continue;
		}
		if (best == c->n_open)
			return 0;
		o = &c->open[best];
		*t = o->e[o->at].t;
		*id = o->e[o->at].id;
		if (++o->at == o->n) {
			free(o->e);
			c->open[best] = c->open[--c->n_open];
		}
		return 1;
	}
}

void ledger_cursor_close(struct ledger_cursor *c)
{
	if (c->st != NULL) {
		sqlite3_reset(c->st);
		sqlite3_clear_bindings(c->st);
	}
	for (size_t i = 0; i < c->n_open; i++)
		free(c->open[i].e);
	free(c->open);
	memset(c, 0, sizeof(*c));
}

/* --- layout 2, and pruning ----------------------------------------------------------- */

/* Feeds every entry (of ids in [from, to], if given) to w, flushing as it
 * goes so that the array stays bounded. */
static int feed(sqlite3 *db, struct ledger_postings *w, sqlite3_stmt *ins, const char *sql, int64_t from, int64_t to)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = ledger_postings_add(w, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
					sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
		if (r == 0 && w->len >= 2 * 1000000)
			r = ledger_postings_flush(w, ins);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	return r == 0 ? ledger_postings_flush(w, ins) : r;
}

int ledger_postings_migrate(sqlite3 *db, struct ledger_postings *w, sqlite3_stmt *ins)
{
	int r;

	if ((r = feed(db, w, ins, "SELECT profile, class, decided_at, id FROM entry WHERE id >= ?1 AND id <= ?2",
		      INT64_MIN, INT64_MAX)) != 0)
		return r;
	return sqlite3_exec(db, "DROP INDEX IF EXISTS entry_by_profile; DROP INDEX IF EXISTS entry_by_class;"
			    "UPDATE meta SET value = '" LEDGER_SCHEMA "' WHERE key = 'schema';", NULL, NULL, NULL) ==
	       SQLITE_OK ? 0 : TIDS_EDB;
}

/* After entries were pruned: the postings are written
 * anew from the entries left, so that no time or profile of a pruned
 * entry stays behind in a blob. Pruning is rare and its own batch. */
int ledger_postings_rebuild(sqlite3 *db, struct ledger_postings *w, sqlite3_stmt *ins)
{
	/* The open batch's entries are in the entry table too. */
	w->len = 0;
	if (sqlite3_exec(db, "DELETE FROM posting", NULL, NULL, NULL) != SQLITE_OK)
		return TIDS_EDB;
	return feed(db, w, ins, "SELECT profile, class, decided_at, id FROM entry WHERE id >= ?1 AND id <= ?2",
		    INT64_MIN, INT64_MAX);
}

/* --- verify ------------------------------------------------------------------------ */

/* Per list: entries it should have less those it has, as a count and a
 * sum of keyed hashes of (list, time, id). The key is drawn per check, so
 * no edit made beforehand can make the sums meet by chance. */
struct tally {
	int64_t list, count;
	uint64_t sum;
};

static int tally_add(struct tids_map *m, const uint8_t key[crypto_shorthash_KEYBYTES], int64_t list, int64_t t,
		     int64_t id, int sign)
{
	struct tally *y = tids_map_get(m, &list, sizeof(list));
	int64_t in[3] = { list, t, id };
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	if (y == NULL) {
		if ((y = calloc(1, sizeof(*y))) == NULL)
			return TIDS_ENOMEM;
		y->list = list;
		if (tids_map_put(m, &y->list, sizeof(y->list), y, NULL) != 0) {
			free(y);
			return TIDS_ENOMEM;
		}
	}
	crypto_shorthash(h, (const uint8_t *)in, sizeof(in), key);
	memcpy(&v, h, sizeof(v));
	y->count += sign;
	y->sum += sign > 0 ? v : (uint64_t)0 - v;
	return 0;
}

/* The last entry id of each chain, as the entries say. */
struct chain_end {
	int32_t partition;
	int64_t last;
};

static int note_end(struct tids_map *ends, struct chain_end **hot, int64_t id)
{
	int32_t p = ledger_id_partition(id);
	struct chain_end *c = *hot != NULL && (*hot)->partition == p ? *hot : tids_map_get(ends, &p, sizeof(p));

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return TIDS_ENOMEM;
		c->partition = p;
		if (tids_map_put(ends, &c->partition, sizeof(c->partition), c, NULL) != 0) {
			free(c);
			return TIDS_ENOMEM;
		}
	}
	if (id > c->last)
		c->last = id;
	*hot = c;
	return 0;
}

/* Beyond the end of its chain? A chain cut at its end is for receipts and
 * witnesses to notice (verify alone cannot tell it from a shorter ledger);
 * what its postings still name, queries skip as they skip a pruned id. */
static bool beyond_end(const struct tids_map *ends, int64_t id)
{
	int32_t p = ledger_id_partition(id);
	const struct chain_end *c = tids_map_get(ends, &p, sizeof(p));

	return c == NULL || id > c->last;
}

static void free_all(struct tids_map *m)
{
	size_t pos = 0;
	void *v;

	while ((v = tids_map_next(m, &pos)) != NULL)
		free(v);
	tids_map_free(m);
}

int ledger_postings_check(sqlite3 *db, char *bad, size_t badlen)
{
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct tids_map m = { 0 }, ends = { 0 };
	struct chain_end *hot = NULL;
	sqlite3_stmt *st = NULL;
	struct open_row o = { 0 };
	struct tally *y;
	size_t pos = 0;
	int rc, r = 0;

	randombytes_buf(key, sizeof(key));
	if (sqlite3_prepare_v2(db, "SELECT profile, class, decided_at, id FROM entry", -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(st, 2), id = sqlite3_column_int64(st, 3);

		if ((r = tally_add(&m, key, list_of(LEDGER_BY_PROFILE, sqlite3_column_int64(st, 0)), t, id, 1)) == 0 &&
		    (r = tally_add(&m, key, list_of(LEDGER_BY_CLASS, sqlite3_column_int64(st, 1)), t, id, 1)) == 0)
			r = note_end(&ends, &hot, id);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_prepare_v2(db, "SELECT lo, n, ids, list FROM posting", -1, &st, NULL) != SQLITE_OK)
		r = TIDS_EDB;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t list = sqlite3_column_int64(st, 3);

		if ((r = decode_row(st, INT64_MIN, INT64_MAX, &o)) != 0) {
			if (r == TIDS_EBADSIG) {
				snprintf(bad, badlen, "the postings of %s %lld do not decode", list & 1 ? "class" : "profile",
					 (long long)(list >> 1));
				r = 1;
			}
			break;
		}
		for (size_t i = 0; i < o.n && r == 0; i++)
			if (!beyond_end(&ends, o.e[i].id))
				r = tally_add(&m, key, list, o.e[i].t, o.e[i].id, -1);
		free(o.e);
		o.e = NULL;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	while ((y = tids_map_next(&m, &pos)) != NULL) {
		if (r == 0 && (y->count != 0 || y->sum != 0)) {
			snprintf(bad, badlen, "the postings of %s %lld %s", y->list & 1 ? "class" : "profile",
				 (long long)(y->list >> 1), y->count > 0 ? "miss entries it has" :
				 y->count < 0 ? "name entries it does not have" : "name other entries than it has");
			r = 1;
		}
		free(y);
	}
	tids_map_free(&m);
	free_all(&ends);
	return r < 0 ? r : 0;
}
