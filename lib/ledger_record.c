/*
 * The record index: where each run of a record's entries starts in its
 * chain (table record), for queries and proofs by record.
 *
 * One row per record, inserted as its first entry arrived, dirtied a
 * random leaf of record_by_id each time, and every commit wrote (and the
 * checkpoint copied) each such page again: about a quarter of the
 * indexer's CPU. So the writer keeps the run starts of the last few
 * commits in memory and inserts them sorted by record id every
 * RECORD_FLUSH_COMMITS commits, touching each leaf once. What keeps that
 * safe across crashes and readers:
 *
 *  - record_through(part, through): every run start of chain `part` up to
 *    entry id `through` has its row. It moves in the transaction that
 *    inserts the rows. A chain without a row there is complete (a ledger
 *    written before this, or a chain this writer never added to).
 *  - A writer's first run start on a chain gives the chain its row
 *    (through = the entry before) in the entry's own transaction, so no
 *    entry commits rowless on a chain that claims to be complete.
 *  - Opening the ledger to write puts in the rows a crash left out: at
 *    most a few seconds of entries beyond each chain's `through`.
 *  - Readers find a record's entries beyond `through` by scanning those
 *    entries (ledger_record_entries); verify holds the rows up to it to
 *    account, and those beyond it to name entries of their records.
 */
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

/* A flush every ~10 s of the indexer's 1-s commits, or at 128 Ki rows
 * (3 MiB): long enough to touch each hot page of record_by_id once per
 * flush, short enough that a reader's scan beyond `through` stays small. */
#define RECORD_FLUSH_COMMITS 10
#define RECORD_FLUSH_ROWS (128u * 1024u)

/* A chain's row in record_through, made if it has none yet (then the
 * chain was complete up to the entry before id). */
static int claim_chain(struct tids_ledger *l, int32_t partition, int64_t id)
{
	sqlite3_stmt *st = l->st[LS_INIT_THROUGH];

	sqlite3_bind_int(st, 1, partition);
	sqlite3_bind_int64(st, 2, id - 1);
	return ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
}

int ledger_records_note(struct tids_ledger *l, int32_t partition, const uint8_t *record_id, int64_t id)
{
	struct last_record *last = &l->last[(uint32_t)partition % (sizeof(l->last) / sizeof(l->last[0]))];
	struct ledger_runs *runs = &l->runs;

	if (last->partition == partition && last->claimed &&
	    memcmp(last->record_id, record_id, TIDS_RECORD_ID_BYTES) == 0)
		return 0;
	if ((last->partition != partition || !last->claimed) && claim_chain(l, partition, id) != 0)
		return TIDS_EDB;
	if (runs->n == runs->cap) {
		size_t cap = runs->cap ? runs->cap * 2 : 4096;
		struct ledger_run_start *v = realloc(runs->v, cap * sizeof(*v));

		if (v == NULL)
			return TIDS_ENOMEM;
		runs->v = v;
		runs->cap = cap;
	}
	memcpy(runs->v[runs->n].record_id, record_id, TIDS_RECORD_ID_BYTES);
	runs->v[runs->n].first = id;
	runs->n++;
	last->partition = partition;
	last->claimed = true;
	memcpy(last->record_id, record_id, TIDS_RECORD_ID_BYTES);
	return 0;
}

static int by_record(const void *a, const void *b)
{
	const struct ledger_run_start *x = a, *y = b;
	int c = memcmp(x->record_id, y->record_id, TIDS_RECORD_ID_BYTES);

	return c != 0 ? c : (x->first > y->first) - (x->first < y->first);
}

/* The chain's last entry id, or TIDS_ENOENT. */
static int chain_end(struct tids_ledger *l, int32_t partition, int64_t *id)
{
	sqlite3_stmt *st = l->st[LS_LAST_ENTRY];
	int rc;

	sqlite3_bind_int64(st, 1, ledger_id(partition, 0));
	sqlite3_bind_int64(st, 2, ledger_id(partition + 1, 0));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? TIDS_ENOENT : TIDS_EDB;
}

/* The chain's rows are all in: through moves to its last entry. */
static int chain_through_end(struct tids_ledger *l, int32_t partition)
{
	sqlite3_stmt *st = l->st[LS_SET_THROUGH];
	int64_t end;
	int r = chain_end(l, partition, &end);

	if (r != 0)
		return r == TIDS_ENOENT ? 0 : r;
	sqlite3_bind_int(st, 1, partition);
	sqlite3_bind_int64(st, 2, end);
	return ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
}

/* The flush is a transaction of its own after the batch's: when it
 * fails, every run start it held belongs to committed entries and stays
 * for the next one (sorted or not). */
int ledger_records_flush(struct tids_ledger *l, bool force)
{
	struct ledger_runs *runs = &l->runs;
	sqlite3_stmt *st = l->st[LS_INS_RECORD];
	int32_t chains[64];
	size_t n_chains = 0;
	int r = 0;

	if (l->in_tx || runs->n == 0 ||
	    (!force && ++runs->commits < RECORD_FLUSH_COMMITS && runs->n < RECORD_FLUSH_ROWS))
		return 0;
	/* The chains to move: a chain beyond the 64 first keeps its through
	 * (still true, only further behind) until a later flush. */
	for (size_t i = 0; i < runs->n; i++) {
		int32_t p = ledger_id_partition(runs->v[i].first);
		size_t k = 0;

		if (n_chains > 0 && chains[n_chains - 1] == p)
			continue;
		while (k < n_chains && chains[k] != p)
			k++;
		if (k == n_chains && n_chains < sizeof(chains) / sizeof(chains[0]))
			chains[n_chains++] = p;
	}
	qsort(runs->v, runs->n, sizeof(runs->v[0]), by_record);
	if ((r = ledger_begin(l)) != 0)
		return r;
	for (size_t i = 0; r == 0 && i < runs->n; i++) {
		sqlite3_bind_blob(st, 1, runs->v[i].record_id, TIDS_RECORD_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, runs->v[i].first);
		r = ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
	}
	for (size_t k = 0; r == 0 && k < n_chains; k++)
		r = chain_through_end(l, chains[k]);
	if (r == 0 && ledger_step_done(l->st[LS_COMMIT]) != 0)
		r = TIDS_EDB;
	if (r != 0) {
		if (ledger_step_done(l->st[LS_ROLLBACK]) != 0 && sqlite3_get_autocommit(l->db) == 0)
			return r;   /* still open: the next begin fails and says why */
		l->in_tx = false;
		return r;
	}
	l->in_tx = false;
	runs->n = runs->at_begin = 0;
	runs->commits = 0;
	return 0;
}

void ledger_records_committed(struct tids_ledger *l)
{
	l->runs.at_begin = l->runs.n;
}

void ledger_records_forget(struct tids_ledger *l)
{
	/* Run starts of earlier, committed batches stay for the next flush. */
	l->runs.n = l->runs.at_begin;
	memset(l->last, 0, sizeof(l->last));
}

void ledger_records_free(struct tids_ledger *l)
{
	free(l->runs.v);
	l->runs.v = NULL;
	l->runs.n = l->runs.cap = l->runs.at_begin = 0;
}

/* Rows for the run starts of a chain beyond through (a writer stopped
 * before its flush). The entry at through, if any, says whose run goes on. */
static int recover_chain(struct tids_ledger *l, int32_t partition, int64_t through)
{
	sqlite3_stmt *scan, *ins = l->st[LS_INS_RECORD];
	uint8_t prev[TIDS_RECORD_ID_BYTES];
	bool have_prev = false;
	int64_t lo = through > ledger_id(partition, 0) ? through : ledger_id(partition, 0);
	int rc, r = 0;

	if (sqlite3_prepare_v2(l->db, "SELECT id, record_id FROM entry WHERE id >= ?1 AND id < ?2 ORDER BY id", -1,
			       &scan, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(scan, 1, lo);
	sqlite3_bind_int64(scan, 2, ledger_id(partition + 1, 0));
	while (r == 0 && (rc = sqlite3_step(scan)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(scan, 0);
		const void *rid = sqlite3_column_blob(scan, 1);

		if (sqlite3_column_bytes(scan, 1) != TIDS_RECORD_ID_BYTES)
			continue;   /* verify names such a row; it starts no run */
		if (id > through && (!have_prev || memcmp(prev, rid, TIDS_RECORD_ID_BYTES) != 0)) {
			sqlite3_bind_blob(ins, 1, rid, TIDS_RECORD_ID_BYTES, SQLITE_TRANSIENT);
			sqlite3_bind_int64(ins, 2, id);
			r = ledger_step_done(ins) == 0 ? 0 : TIDS_EDB;
		}
		memcpy(prev, rid, TIDS_RECORD_ID_BYTES);
		have_prev = true;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(scan);
	return r == 0 ? chain_through_end(l, partition) : r;
}

int ledger_records_recover(struct tids_ledger *l)
{
	sqlite3_stmt *st;
	struct { int32_t p; int64_t through; } *behind = NULL, *grown;
	size_t n = 0, cap = 0;
	int rc, r = 0;

	/* Only chains with entries beyond their through. */
	if (sqlite3_prepare_v2(l->db, "SELECT part, through FROM record_through t WHERE EXISTS (SELECT 1 FROM entry"
			       " WHERE id > t.through AND id < ((t.part + 1) << ?1))", -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int(st, 1, TIDS_LEDGER_SEQ_BITS);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(behind, cap * sizeof(*behind))) == NULL) {
				r = TIDS_ENOMEM;
				break;
			}
			behind = grown;
		}
		behind[n].p = sqlite3_column_int(st, 0);
		behind[n].through = sqlite3_column_int64(st, 1);
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	if (r == 0 && n > 0) {
		if ((r = ledger_begin(l)) == 0)
			for (size_t i = 0; r == 0 && i < n; i++)
				r = recover_chain(l, behind[i].p, behind[i].through);
		r = r == 0 ? tids_ledger_commit(l) : (tids_ledger_rollback(l), r);
	}
	free(behind);
	return r;
}

/* A ledger no writer of this version opened has no record_through: its
 * index was written entry by entry, complete. */
static bool has_through(sqlite3 *db)
{
	sqlite3_stmt *st;
	bool has = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'record_through'", -1,
			       &st, NULL) == SQLITE_OK)
		has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return has;
}

int ledger_record_through(sqlite3 *db, int32_t partition, int64_t *through)
{
	sqlite3_stmt *st;
	int rc;

	*through = INT64_MAX;
	if (!has_through(db))
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT through FROM record_through WHERE part = ?1", -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int(st, 1, partition);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*through = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

struct id_list {
	int64_t *v;
	size_t n, cap;
};

static int id_list_add(struct id_list *ids, int64_t id)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 16;
		int64_t *v = realloc(ids->v, cap * sizeof(*v));

		if (v == NULL)
			return TIDS_ENOMEM;
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The entries the index names: each run from its first entry on, while
 * the chain goes on with the record. */
static int indexed_entries(sqlite3 *db, const uint8_t *record_id, struct id_list *ids)
{
	sqlite3_stmt *runs = NULL, *run = NULL;
	int64_t last = -1;
	int rc = SQLITE_DONE, r = 0;

	if (sqlite3_prepare_v2(db, "SELECT first FROM record WHERE record_id = ?1 ORDER BY first", -1, &runs,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT id, record_id FROM entry WHERE id >= ?1 AND id < ?2 ORDER BY id", -1, &run,
			       NULL) != SQLITE_OK) {
		sqlite3_finalize(runs);
		return TIDS_EDB;
	}
	sqlite3_bind_blob(runs, 1, record_id, TIDS_RECORD_ID_BYTES, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(runs)) == SQLITE_ROW) {
		int64_t first = sqlite3_column_int64(runs, 0);

		sqlite3_bind_int64(run, 1, first > last ? first : last + 1);
		sqlite3_bind_int64(run, 2, ledger_id(ledger_id_partition(first) + 1, 0));
		while (r == 0 && (rc = sqlite3_step(run)) == SQLITE_ROW) {
			if (sqlite3_column_bytes(run, 1) != TIDS_RECORD_ID_BYTES ||
			    memcmp(sqlite3_column_blob(run, 1), record_id, TIDS_RECORD_ID_BYTES) != 0)
				break;
			last = sqlite3_column_int64(run, 0);
			r = id_list_add(ids, last);
		}
		if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
			r = TIDS_EDB;
		sqlite3_reset(run);
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = TIDS_EDB;
	sqlite3_finalize(runs);
	sqlite3_finalize(run);
	return r;
}

/* The record's entries beyond each chain's through, which the index may
 * not hold yet: a scan of the last few seconds of each chain. */
static int unindexed_entries(sqlite3 *db, const uint8_t *record_id, struct id_list *ids)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!has_through(db))
		return 0;
	/* "+": record_id is no index's; without it SQLite would build one
	 * over every entry of the ledger for this query (seconds on 10M). */
	if (sqlite3_prepare_v2(db, "SELECT e.id FROM record_through t JOIN entry e ON e.id > t.through AND"
			       " e.id < ((t.part + 1) << ?2) WHERE +e.record_id = ?1", -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_blob(st, 1, record_id, TIDS_RECORD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, TIDS_LEDGER_SEQ_BITS);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = id_list_add(ids, sqlite3_column_int64(st, 0));
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	return r;
}

int ledger_record_entries(struct tids_ledger *l, const uint8_t record_id[TIDS_RECORD_ID_BYTES], int64_t **ids,
			  size_t *n)
{
	struct id_list found = { 0 };
	size_t kept = 0;
	int r;

	*ids = NULL;
	*n = 0;
	if ((r = indexed_entries(l->db, record_id, &found)) != 0 ||
	    (r = unindexed_entries(l->db, record_id, &found)) != 0) {
		free(found.v);
		return r;
	}
	/* A run that goes on beyond through is found both ways. (No ids: no
	 * array, and qsort must not see its NULL.) */
	if (found.n > 1)
		qsort(found.v, found.n, sizeof(found.v[0]), by_id);
	for (size_t i = 0; i < found.n; i++)
		if (kept == 0 || found.v[i] != found.v[kept - 1])
			found.v[kept++] = found.v[i];
	*ids = found.v;
	*n = kept;
	return 0;
}
