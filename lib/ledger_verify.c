/*
 * tidsctl audit verify: walks every chain of the ledger, recomputes the
 * hashes, checks each signed checkpoint with the hub's key and each index
 * row against its entry's bytes, and names the first entry of a chain that
 * does not match. Chains are independent, so they are verified in
 * parallel, one read-only connection per thread. Hashes here are public:
 * plain memcmp, not the constant-time compare meant for secrets.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger_internal.h"


struct verify_job {
	const char *path;
	const uint8_t *pk;
	const char *hub_id;                /* "" : take the first entry's */
	int64_t now_ms;
	const struct tids_ledger_pin *pins;
	size_t n_pins;
	struct tids_ledger_chain_report *chains;
	size_t n_chains;
	atomic_size_t next;
	pthread_mutex_t lock;
	int err;
	char errmsg[256];
};

/* One chain's walk: cursors over its entries and checkpoints. */
struct walk {
	struct verify_job *job;
	struct tids_ledger_chain_report *rep;
	sqlite3 *db;
	struct ledger_dict *dict;          /* the worker's profiles, resolved */
	sqlite3_stmt *entries, *checkpoints, *after, *records;
	int32_t p;
	int64_t lo, hi;                    /* ids of this chain: [lo, hi) */
	int64_t record_through;            /* the record index is complete up to here */
	bool cp_row, record_row;           /* the cursors hold a row */
	uint8_t last_record[TIDS_RECORD_ID_BYTES];   /* of the previous entry */
	uint8_t head[TIDS_HASH_BYTES];
	uint8_t prev_head[TIDS_HASH_BYTES];   /* head before the last entry */
	uint64_t expect;                   /* seq the next entry must have */
	uint64_t proven_seq;               /* last seq whose head a valid checkpoint (or seq 0) fixes */
	char hub_id[TIDS_ID_MAX + 1];
	struct ledger_entry_view view, next_view;
};

static int bad(struct walk *w, uint64_t seq, bool checkpoint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(struct walk *w, uint64_t seq, bool checkpoint, const char *fmt, ...)
{
	va_list ap;

	w->rep->ok = false;
	w->rep->bad_seq = seq;
	w->rep->bad_checkpoint = checkpoint;
	va_start(ap, fmt);
	vsnprintf(w->rep->what, sizeof(w->rep->what), fmt, ap);
	va_end(ap);
	return 1;
}

static const struct tids_ledger_pin *pin_for(const struct verify_job *job, int32_t p)
{
	for (size_t i = 0; i < job->n_pins; i++)
		if (job->pins[i].partition == p)
			return &job->pins[i];
	return NULL;
}


/* Advances the checkpoint cursor; decodes the row it lands on into cp. */
static int next_checkpoint(struct walk *w)
{
	int rc = sqlite3_step(w->checkpoints);

	w->cp_row = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

static uint64_t cp_row_seq(struct walk *w)
{
	return ledger_id_seq(sqlite3_column_int64(w->checkpoints, 0));
}

/* Checks the checkpoint under the cursor on its own: it decodes, is where
 * its row says, is this hub's and its signature holds. Returns 1 (and
 * reports) if not. */
static int check_checkpoint(struct walk *w, struct tids_audit_checkpoint *cp)
{
	uint64_t seq = cp_row_seq(w);
	char why[200];

	if (tids_wire_decode_audit_checkpoint(sqlite3_column_blob(w->checkpoints, 2),
					      (size_t)sqlite3_column_bytes(w->checkpoints, 2), cp, why,
					      sizeof(why)) != 0)
		return bad(w, seq, true, "checkpoint %d:%llu does not decode: %s", w->p, (unsigned long long)seq, why);
	if (cp->partition != w->p || cp->seq != seq) {
		bad(w, seq, true, "checkpoint stored as %d:%llu is the checkpoint of %d:%llu", w->p,
		    (unsigned long long)seq, cp->partition, (unsigned long long)cp->seq);
		goto fail;
	}
	if (w->hub_id[0] == '\0')
		snprintf(w->hub_id, sizeof(w->hub_id), "%s", cp->hub_id);
	if (strcmp(cp->hub_id, w->hub_id) != 0) {
		bad(w, seq, true, "checkpoint %d:%llu is signed for hub %s, not %s", w->p, (unsigned long long)seq,
		    cp->hub_id, w->hub_id);
		goto fail;
	}
	if (!ledger_checkpoint_valid(cp, w->job->pk)) {
		bad(w, seq, true, "checkpoint %d:%llu: its signature does not verify with the hub key", w->p,
		    (unsigned long long)seq);
		goto fail;
	}
	if (sqlite3_column_int64(w->checkpoints, 1) != cp->signed_at_ms) {
		bad(w, seq, true, "checkpoint %d:%llu: its index column signed_at was edited", w->p,
		    (unsigned long long)seq);
		goto fail;
	}
	w->rep->checkpoints++;
	return 0;
fail:
	tids_audit_checkpoint_free(cp);
	return 1;
}

/* Where the chain starts: seq 1 from zeros, or a pruned prefix's anchor
 * checkpoint (which must be old enough to have been pruned). */
static int find_start(struct walk *w, uint64_t first_seq)
{
	struct tids_audit_checkpoint cp;
	uint64_t before = 0;

	memset(w->head, 0, sizeof(w->head));
	w->expect = 1;
	w->proven_seq = 0;
	if (first_seq == 1)
		return 0;
	/* Checkpoints of the pruned part, up to the anchor, each checked. */
	while (w->cp_row && cp_row_seq(w) < first_seq - 1) {
		before = cp_row_seq(w);
		if (check_checkpoint(w, &cp) != 0)
			return 1;
		tids_audit_checkpoint_free(&cp);
		if (next_checkpoint(w) != 0)
			return TIDS_EDB;
	}
	if (!w->cp_row || cp_row_seq(w) != first_seq - 1)
		return bad(w, before + 1, false, "entries %d:%llu..%d:%llu are missing and no signed checkpoint "
			   "anchors %d:%llu (a deletion, not a pruning)", w->p, (unsigned long long)before + 1, w->p,
			   (unsigned long long)first_seq - 1, w->p, (unsigned long long)first_seq);
	if (check_checkpoint(w, &cp) != 0)
		return 1;
	if (cp.signed_at_ms > w->job->now_ms - TIDS_LEDGER_RETAIN_MIN_MS) {
		tids_audit_checkpoint_free(&cp);
		return bad(w, 1, false, "entries %d:1..%d:%llu are missing but the checkpoint anchoring the rest "
			   "is younger than the shortest retention (183 days): removed, not pruned", w->p, w->p,
			   (unsigned long long)first_seq - 1);
	}
	memcpy(w->head, cp.head_hash, TIDS_HASH_BYTES);
	w->expect = first_seq;
	w->proven_seq = first_seq - 1;
	w->rep->anchor_seq = first_seq - 1;
	w->rep->signed_seq = cp.seq;
	memcpy(w->rep->signed_head, cp.head_hash, TIDS_HASH_BYTES);
	w->rep->signed_at_ms = cp.signed_at_ms;
	tids_audit_checkpoint_free(&cp);
	return next_checkpoint(w);
}

static const uint8_t zeros[TIDS_HASH_BYTES];

static const uint8_t *prev_of(const struct ledger_entry_view *v)
{
	return v->prev_hash != NULL ? v->prev_hash : zeros;
}

/* prev_hash of entry seq does not match the head so far. Was seq itself
 * changed, or the entry before it? If the next entry still follows seq,
 * seq is intact and its predecessor's bytes changed after chaining. */
static int localize_break(struct walk *w, const struct ledger_entry_view *e, const uint8_t *bytes, size_t len,
			  int64_t id)
{
	uint8_t h[TIDS_HASH_BYTES];
	struct ledger_entry_view *next = &w->next_view;
	bool follows = false;
	int rc;

	ledger_chain_hash(prev_of(e), bytes, len, h);
	sqlite3_bind_int64(w->after, 1, id);
	sqlite3_bind_int64(w->after, 2, w->hi);
	rc = sqlite3_step(w->after);
	if (rc == SQLITE_ROW && ledger_scan_entry(sqlite3_column_blob(w->after, 0),
						  (size_t)sqlite3_column_bytes(w->after, 0), next) == 0)
		follows = memcmp(prev_of(next), h, TIDS_HASH_BYTES) == 0;
	sqlite3_reset(w->after);
	if (follows && e->seq - 1 > w->proven_seq)
		return bad(w, e->seq - 1, false, "entry %d:%llu was changed after it was chained: its hash is not "
			   "the prev_hash of %d:%llu", w->p, (unsigned long long)e->seq - 1, w->p,
			   (unsigned long long)e->seq);
	return bad(w, e->seq, false, "entry %d:%llu does not follow %d:%llu: its prev_hash does not match (it was "
		   "changed, or inserted)", w->p, (unsigned long long)e->seq, w->p, (unsigned long long)e->seq - 1);
}

/* The record index along the chain: where a run of a record's entries
 * starts, a row must say so (or queries and proofs by record miss them),
 * and a row may only name an entry of its record. Beyond the chain's
 * record_through the writer has yet to put the rows in (readers scan
 * those entries instead, ledger_record.c): a row there may be missing. */
static int check_record_run(struct walk *w, const struct ledger_entry_view *e, int64_t id)
{
	bool starts = w->rep->entries == 0 || memcmp(w->last_record, e->record_id, TIDS_RECORD_ID_BYTES) != 0;
	int rc;

	memcpy(w->last_record, e->record_id, TIDS_RECORD_ID_BYTES);
	if (w->record_row && sqlite3_column_int64(w->records, 0) < id)
		return bad(w, ledger_id_seq(sqlite3_column_int64(w->records, 0)), false, "the record index names entry "
			   "%d:%llu, which is not there", w->p,
			   (unsigned long long)ledger_id_seq(sqlite3_column_int64(w->records, 0)));
	if (!w->record_row || sqlite3_column_int64(w->records, 0) != id)
		return starts && id <= w->record_through ?
			bad(w, e->seq, false, "entry %d:%llu: the record index lost it (its record's entries are "
			    "not found from there)", w->p, (unsigned long long)e->seq) : 0;
	if (sqlite3_column_bytes(w->records, 1) != TIDS_RECORD_ID_BYTES ||
	    memcmp(sqlite3_column_blob(w->records, 1), e->record_id, TIDS_RECORD_ID_BYTES) != 0)
		return bad(w, e->seq, false, "entry %d:%llu: the record index files it under another record", w->p,
			   (unsigned long long)e->seq);
	rc = sqlite3_step(w->records);
	w->record_row = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

/* The signed checkpoint at this entry's seq, if there is one. */
static int check_entry_checkpoint(struct walk *w, uint64_t seq)
{
	struct tids_audit_checkpoint cp;
	int r;

	if (!w->cp_row || cp_row_seq(w) != seq)
		return 0;
	if ((r = check_checkpoint(w, &cp)) != 0)
		return r;
	if (memcmp(cp.head_hash, w->head, TIDS_HASH_BYTES) != 0) {
		tids_audit_checkpoint_free(&cp);
		if (seq == w->proven_seq + 1)
			return bad(w, seq, false, "entry %d:%llu does not hash to the head that checkpoint %d:%llu "
				   "signs: it was changed", w->p, (unsigned long long)seq, w->p, (unsigned long long)seq);
		return bad(w, w->proven_seq + 1, false, "entries %d:%llu..%d:%llu do not hash to the head that "
			   "checkpoint %d:%llu signs: one of them was changed and the chain re-linked after it; "
			   "%d:%llu is the first that cannot be trusted", w->p, (unsigned long long)w->proven_seq + 1,
			   w->p, (unsigned long long)seq, w->p, (unsigned long long)seq, w->p,
			   (unsigned long long)w->proven_seq + 1);
	}
	w->proven_seq = seq;
	w->rep->signed_seq = seq;
	memcpy(w->rep->signed_head, cp.head_hash, TIDS_HASH_BYTES);
	w->rep->signed_at_ms = cp.signed_at_ms;
	tids_audit_checkpoint_free(&cp);
	return next_checkpoint(w);
}

/* Bytes the view cannot read: the gate says what is wrong with them. */
static int undecodable(struct walk *w, uint64_t rowseq, const uint8_t *bytes, size_t len)
{
	struct tids_audit_entry e;
	char why[200];

	if (tids_wire_decode_audit_entry(bytes, len, &e, why, sizeof(why)) == 0) {
		tids_audit_entry_free(&e);
		snprintf(why, sizeof(why), "not in the form the hub writes");
	}
	return bad(w, rowseq, false, "entry %d:%llu does not decode: %s", w->p, (unsigned long long)rowseq, why);
}

static bool bytes_is(const struct tids_bytes *b, const char *s)
{
	size_t n = strlen(s);

	return b->len == n && memcmp(b->data, s, n) == 0;
}

static int check_entry(struct walk *w, const struct tids_ledger_pin *pin)
{
	int64_t id = sqlite3_column_int64(w->entries, 0);
	const uint8_t *bytes = sqlite3_column_blob(w->entries, 1);
	size_t len = (size_t)sqlite3_column_bytes(w->entries, 1);
	uint64_t rowseq = ledger_id_seq(id);
	struct ledger_entry_view *e = &w->view;
	const char *col;
	int r = 0;

	if (bytes == NULL || ledger_scan_entry(bytes, len, e) != 0)
		return undecodable(w, rowseq, bytes != NULL ? bytes : zeros, len);
	if (e->partition != w->p) {
		r = bad(w, rowseq, false, "the row stored as %d:%llu holds entry %d:%llu of another chain", w->p,
			(unsigned long long)rowseq, e->partition, (unsigned long long)e->seq);
	} else if (e->seq > w->expect) {
		if (rowseq == w->expect)
			r = bad(w, w->expect, false, "entry %d:%llu is not in its place: its row holds %d:%llu (entries "
				"deleted or reordered)", w->p, (unsigned long long)w->expect, w->p, (unsigned long long)e->seq);
		else
			r = bad(w, w->expect, false, "entry %d:%llu is missing: the chain goes on with %d:%llu", w->p,
				(unsigned long long)w->expect, w->p, (unsigned long long)e->seq);
	} else if (e->seq + 1 == w->expect && w->expect - 1 > w->proven_seq &&
		   memcmp(prev_of(e), w->prev_head, TIDS_HASH_BYTES) == 0) {
		/* This entry continues the chain from before the previous
		 * row: the previous row is the intruder. */
		r = bad(w, w->expect - 1, false, "the entry stored as %d:%llu was inserted: the next row holds the "
			"real %d:%llu", w->p, (unsigned long long)w->expect - 1, w->p, (unsigned long long)e->seq);
	} else if (e->seq < w->expect) {
		r = bad(w, rowseq, false, "the row stored as %d:%llu holds entry %d:%llu again, after %d:%llu: "
			"entries were reordered or inserted", w->p, (unsigned long long)rowseq, w->p,
			(unsigned long long)e->seq, w->p, (unsigned long long)w->expect - 1);
	} else if (rowseq != e->seq) {
		r = bad(w, e->seq, false, "entry %d:%llu is stored under the key of %d:%llu", w->p,
			(unsigned long long)e->seq, w->p, (unsigned long long)rowseq);
	}
	if (r != 0)
		return r;
	if (w->hub_id[0] == '\0')
		snprintf(w->hub_id, sizeof(w->hub_id), "%.*s", (int)e->hub_id.len, (const char *)e->hub_id.data);
	if (!bytes_is(&e->hub_id, w->hub_id))
		return bad(w, e->seq, false, "entry %d:%llu names hub %.*s, not %s", w->p, (unsigned long long)e->seq,
			   (int)e->hub_id.len, (const char *)e->hub_id.data, w->hub_id);
	if (memcmp(prev_of(e), w->head, TIDS_HASH_BYTES) != 0)
		return localize_break(w, e, bytes, len, id);
	memcpy(w->prev_head, w->head, TIDS_HASH_BYTES);
	ledger_chain_hash(w->head, bytes, len, w->head);
	if ((col = ledger_row_mismatch(w->dict, w->entries, e)) != NULL)
		return bad(w, e->seq, false, "entry %d:%llu: its index (%s) was edited (it no longer matches the "
			   "entry's bytes)", w->p, (unsigned long long)e->seq, col);
	if ((r = check_record_run(w, e, id)) != 0 || (r = check_entry_checkpoint(w, e->seq)) != 0)
		return r;
	if (pin != NULL && pin->seq == e->seq && memcmp(pin->head, w->head, TIDS_HASH_BYTES) != 0)
		return bad(w, e->seq, false, "entry %d:%llu: the head here differs from the one pinned by an earlier "
			   "verification", w->p, (unsigned long long)e->seq);
	if (w->rep->entries == 0)
		w->rep->first_seq = e->seq;
	w->rep->last_seq = e->seq;
	w->rep->entries++;
	w->expect++;
	return 0;
}

/* After the last entry: nothing signed may lie beyond it, nor any row of
 * the record index. */
static int check_end(struct walk *w, const struct tids_ledger_pin *pin)
{
	uint64_t last = w->expect - 1;
	struct tids_audit_checkpoint cp;

	if (w->record_row)
		return bad(w, ledger_id_seq(sqlite3_column_int64(w->records, 0)), false, "the record index names entry "
			   "%d:%llu, which is not there", w->p,
			   (unsigned long long)ledger_id_seq(sqlite3_column_int64(w->records, 0)));

	if (w->cp_row) {
		uint64_t seq = cp_row_seq(w);

		if (check_checkpoint(w, &cp) != 0)
			return 1;
		tids_audit_checkpoint_free(&cp);
		if (seq > last)
			return bad(w, last + 1, false, "entries %d:%llu..%d:%llu are missing: checkpoint %d:%llu signs "
				   "them (the tail was truncated)", w->p, (unsigned long long)last + 1, w->p,
				   (unsigned long long)seq, w->p, (unsigned long long)seq);
		return bad(w, seq, true, "checkpoint %d:%llu is out of place", w->p, (unsigned long long)seq);
	}
	if (pin != NULL && pin->seq > last)
		return bad(w, last + 1, false, "the chain ends at %d:%llu but an earlier verification saw it signed "
			   "up to %d:%llu: the tail was truncated", w->p, (unsigned long long)last, w->p,
			   (unsigned long long)pin->seq);
	if (pin != NULL && pin->seq == last && last == w->rep->anchor_seq &&
	    memcmp(pin->head, w->head, TIDS_HASH_BYTES) != 0)
		return bad(w, last, false, "the head at %d:%llu differs from the pinned one", w->p,
			   (unsigned long long)last);
	w->rep->unanchored = last - w->proven_seq;
	return 0;
}

/* No signature vouches yet for the entries after the last checkpoint, so
 * their bytes may not be what the indexer took through the gate: they go
 * through it again. (Signed ones are the indexer's bytes, or the chain and
 * the checkpoints would have said otherwise.) */
static int check_unanchored(struct walk *w)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE, r = 0;

	if (sqlite3_prepare_v2(w->db, "SELECT id, bytes FROM entry WHERE id > ?1 AND id < ?2 ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(w->p, w->proven_seq));
	sqlite3_bind_int64(st, 2, w->hi);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tids_audit_entry e;
		char why[200];

		if (tids_wire_decode_audit_entry(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &e, why,
						 sizeof(why)) != 0)
			r = bad(w, ledger_id_seq(sqlite3_column_int64(st, 0)), false, "entry %d:%llu does not decode: %s",
				w->p, (unsigned long long)ledger_id_seq(sqlite3_column_int64(st, 0)), why);
		else
			tids_audit_entry_free(&e);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_finalize(st);
	return r;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, int64_t lo, int64_t hi)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(*st, 1, lo);
	sqlite3_bind_int64(*st, 2, hi);
	return 0;
}

static int walk_chain(struct walk *w)
{
	const struct tids_ledger_pin *pin = pin_for(w->job, w->p);
	int rc, r;
	bool first = true;

	if ((r = next_checkpoint(w)) != 0)
		return r;
	rc = sqlite3_step(w->records);
	w->record_row = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return TIDS_EDB;
	while ((rc = sqlite3_step(w->entries)) == SQLITE_ROW) {
		if (first) {
			first = false;
			if ((r = find_start(w, ledger_id_seq(sqlite3_column_int64(w->entries, 0)))) != 0)
				return r > 0 ? 0 : r;
		}
		if ((r = check_entry(w, pin)) != 0)
			return r > 0 ? 0 : r;
	}
	if (rc != SQLITE_DONE)
		return TIDS_EDB;
	if (first) {
		/* No entries left: a chain pruned whole, its last checkpoint the anchor. */
		uint64_t last = 0;
		struct tids_audit_checkpoint cp;

		while (w->cp_row) {
			last = cp_row_seq(w);
			if (check_checkpoint(w, &cp) != 0)
				return 0;
			w->rep->anchor_seq = w->rep->signed_seq = cp.seq;
			memcpy(w->rep->signed_head, cp.head_hash, TIDS_HASH_BYTES);
			memcpy(w->head, cp.head_hash, TIDS_HASH_BYTES);
			w->rep->signed_at_ms = cp.signed_at_ms;
			tids_audit_checkpoint_free(&cp);
			if ((r = next_checkpoint(w)) != 0)
				return r;
		}
		if (last > 0 && w->rep->signed_at_ms > w->job->now_ms - TIDS_LEDGER_RETAIN_MIN_MS) {
			bad(w, 1, false, "entries %d:1..%d:%llu are missing but the last checkpoint is younger than "
			    "the shortest retention (183 days): removed, not pruned", w->p, w->p,
			    (unsigned long long)last);
			return 0;
		}
		w->expect = last + 1;
		w->proven_seq = last;
	}
	r = check_end(w, pin);
	if (r == 0 && w->rep->unanchored > 0)
		r = check_unanchored(w);
	return r > 0 ? 0 : r;
}

static void verify_one(struct verify_job *job, sqlite3 *db, struct ledger_dict *dict,
		       struct tids_ledger_chain_report *rep)
{
	struct walk w = { .job = job, .rep = rep, .db = db, .dict = dict, .p = rep->partition };
	int r;

	snprintf(w.hub_id, sizeof(w.hub_id), "%s", job->hub_id);
	w.lo = ledger_id(w.p, 0);
	w.hi = ledger_id(w.p + 1, 0);
	rep->ok = true;
	/* One snapshot for the chain's four cursors, or an indexer commit
	 * between their first steps would look like tampering. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		r = TIDS_EDB;
	else if ((r = prepare(db, "SELECT " LEDGER_ENTRY_COLUMNS " FROM entry WHERE id >= ?1 AND id < ?2 ORDER BY id",
			 &w.entries, w.lo, w.hi)) == 0 &&
	    (r = prepare(db, "SELECT first, record_id FROM record WHERE first >= ?1 AND first < ?2 ORDER BY first",
			 &w.records, w.lo, w.hi)) == 0 &&
	    (r = prepare(db, "SELECT id, signed_at, bytes FROM checkpoint WHERE id >= ?1 AND id < ?2 ORDER BY id",
			 &w.checkpoints, w.lo, w.hi)) == 0 &&
	    (r = ledger_record_through(db, w.p, &w.record_through)) == 0 &&
	    (r = prepare(db, "SELECT bytes FROM entry WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT 1", &w.after,
			 w.lo, w.hi)) == 0)
		r = walk_chain(&w);
	if (r != 0) {
		pthread_mutex_lock(&job->lock);
		if (job->err == 0) {
			job->err = TIDS_EDB;
			snprintf(job->errmsg, sizeof(job->errmsg), "%s: chain %d: %s", job->path, w.p, sqlite3_errmsg(db));
		}
		pthread_mutex_unlock(&job->lock);
	}
	sqlite3_finalize(w.entries);
	sqlite3_finalize(w.records);
	sqlite3_finalize(w.checkpoints);
	sqlite3_finalize(w.after);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static void *worker(void *arg)
{
	struct verify_job *job = arg;
	struct ledger_dict *dict;
	sqlite3 *db;
	char err[256];
	size_t i;

	if (ledger_connect(job->path, false, &db, err, sizeof(err)) != 0) {
		pthread_mutex_lock(&job->lock);
		if (job->err == 0) {
			job->err = TIDS_EDB;
			snprintf(job->errmsg, sizeof(job->errmsg), "%s", err);
		}
		pthread_mutex_unlock(&job->lock);
		return NULL;
	}
	/* Reading the file through mmap halves the cost of a sequential walk. */
	sqlite3_exec(db, "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -65536;", NULL, NULL, NULL);
	if (ledger_dict_new(db, &dict) != 0) {
		pthread_mutex_lock(&job->lock);
		if (job->err == 0) {
			job->err = TIDS_EDB;
			snprintf(job->errmsg, sizeof(job->errmsg), "%s: not a tids audit ledger (%s)", job->path,
				 sqlite3_errmsg(db));
		}
		pthread_mutex_unlock(&job->lock);
		sqlite3_close(db);
		return NULL;
	}
	while ((i = atomic_fetch_add(&job->next, 1)) < job->n_chains)
		verify_one(job, db, dict, &job->chains[i]);
	ledger_dict_free(dict);
	sqlite3_close(db);
	return NULL;
}

static int cmp_chain(const void *a, const void *b)
{
	const struct tids_ledger_chain_report *x = a, *y = b;

	return (x->partition > y->partition) - (x->partition < y->partition);
}

/* The partitions that have entries or checkpoints (a skip scan: one index
 * probe per partition, whatever the size), plus those pinned. */
int ledger_list_chains(sqlite3 *db, const struct tids_ledger_verify_opts *o, struct tids_ledger_verify_report *rep)
{
	static const char *const probes[] = {
		"SELECT id FROM entry WHERE id >= ?1 ORDER BY id LIMIT 1",
		"SELECT id FROM checkpoint WHERE id >= ?1 ORDER BY id LIMIT 1",
	};
	size_t cap = 0;

	for (size_t k = 0; k < 2 + o->n_pins; k++) {
		sqlite3_stmt *st = NULL;
		int64_t from = 0;

		if (k < 2 && sqlite3_prepare_v2(db, probes[k], -1, &st, NULL) != SQLITE_OK)
			return TIDS_EDB;
		for (;;) {
			int32_t p;
			bool seen = false;

			if (k < 2) {
				sqlite3_bind_int64(st, 1, from);
				if (sqlite3_step(st) != SQLITE_ROW)
					break;
				p = ledger_id_partition(sqlite3_column_int64(st, 0));
				sqlite3_reset(st);
			} else {
				p = o->pins[k - 2].partition;
			}
			for (size_t i = 0; i < rep->n_chains; i++)
				seen |= rep->chains[i].partition == p;
			if (!seen) {
				if (rep->n_chains == cap) {
					size_t ncap = cap ? cap * 2 : 16;
					void *n = realloc(rep->chains, ncap * sizeof(*rep->chains));

					if (n == NULL) {
						sqlite3_finalize(st);
						return TIDS_ENOMEM;
					}
					rep->chains = n;
					cap = ncap;
				}
				memset(&rep->chains[rep->n_chains], 0, sizeof(*rep->chains));
				rep->chains[rep->n_chains++].partition = p;
			}
			if (k >= 2 || p >= TIDS_LEDGER_PARTITION_MAX)
				break;
			from = ledger_id(p + 1, 0);
		}
		sqlite3_finalize(st);
	}
	if (rep->n_chains > 1)
		qsort(rep->chains, rep->n_chains, sizeof(*rep->chains), cmp_chain);
	return 0;
}

/* Each class's rules column against its rows in class_rule, both in
 * ascending order: queries by rule go through the rows, and a row taken
 * away would hide entries from them. */
static int check_class_rules(const char *path, struct tids_ledger_verify_report *rep)
{
	sqlite3 *db;
	sqlite3_stmt *profiles = NULL, *rules = NULL;
	char err[256];
	bool rule_row;
	int rc, r = 0;

	if (ledger_connect(path, false, &db, err, sizeof(err)) != 0)
		return TIDS_EDB;
	if (sqlite3_prepare_v2(db, "SELECT n, rules FROM class ORDER BY n", -1, &profiles, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT class, rule FROM class_rule ORDER BY class, rule", -1, &rules, NULL) !=
		    SQLITE_OK) {
		r = TIDS_EDB;
		goto out;
	}
	rc = sqlite3_step(rules);
	rule_row = rc == SQLITE_ROW;
	while (r == 0 && (rc = sqlite3_step(profiles)) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(profiles, 0);
		const char *p = (const char *)sqlite3_column_text(profiles, 1);

		while (r == 0 && p != NULL && *p != '\0') {
			char *end;
			long long rule = strtoll(p, &end, 10);

			if (end == p || (*end != ',' && *end != '\0')) {
				snprintf(rep->index_bad, sizeof(rep->index_bad), "class %lld: its rules are not a list of "
					 "name numbers", (long long)n);
				r = 1;
			} else if (!rule_row || sqlite3_column_int64(rules, 0) != n ||
				   sqlite3_column_int64(rules, 1) != rule) {
				snprintf(rep->index_bad, sizeof(rep->index_bad), "class %lld: its rule index row for name "
					 "%lld is missing or another was put in its place", (long long)n, rule);
				r = 1;
			} else {
				p = *end == ',' ? end + 1 : end;
				rc = sqlite3_step(rules);
				rule_row = rc == SQLITE_ROW;
			}
		}
		if (r == 0 && rule_row && sqlite3_column_int64(rules, 0) <= n) {
			snprintf(rep->index_bad, sizeof(rep->index_bad), "the rule index has a row (class %lld, name %lld) "
				 "that no class names", (long long)sqlite3_column_int64(rules, 0),
				 (long long)sqlite3_column_int64(rules, 1));
			r = 1;
		}
	}
	if (r == 0 && rule_row)
		snprintf(rep->index_bad, sizeof(rep->index_bad), "the rule index has a row (class %lld, name %lld) "
			 "that no class names", (long long)sqlite3_column_int64(rules, 0),
			 (long long)sqlite3_column_int64(rules, 1));
out:
	sqlite3_finalize(profiles);
	sqlite3_finalize(rules);
	sqlite3_close(db);
	return r < 0 ? r : 0;
}

/* The postings against the entries: a list missing an entry would hide
 * it from queries by profile or class. */
static int check_postings(const char *path, struct tids_ledger_verify_report *rep)
{
	sqlite3 *db;
	char err[256];
	int r;

	if (ledger_connect(path, false, &db, err, sizeof(err)) != 0)
		return TIDS_EDB;
	r = ledger_postings_check(db, rep->index_bad, sizeof(rep->index_bad));
	sqlite3_close(db);
	return r;
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tids_ledger_verify(const char *path, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
		       const struct tids_ledger_verify_opts *o, struct tids_ledger_verify_report *rep,
		       char *err, size_t errlen)
{
	static const struct tids_ledger_verify_opts none;
	struct verify_job job = { .path = path, .pk = hub_pk };
	char hub_id[TIDS_ID_MAX + 1] = "";
	uint8_t stored_pk[TIDS_PUBLIC_KEY_BYTES];
	struct tids_ledger *l;
	pthread_t *threads = NULL;
	size_t n_threads, started = 0;
	bool legacy;
	double t0 = mono_seconds();
	int r;

	memset(rep, 0, sizeof(*rep));
	if (o == NULL)
		o = &none;
	if ((r = tids_ledger_open(path, TIDS_LEDGER_RDONLY, &l, err, errlen)) != 0)
		return r;
	if (tids_ledger_hub(l, hub_id, stored_pk) != 0)
		hub_id[0] = '\0';
	r = ledger_list_chains(l->db, o, rep);
	legacy = l->legacy;
	tids_ledger_close(l);
	if (r != 0)
		return tids_fail(err, errlen, r, "%s: cannot list the chains", path);
	if (o->now_ms != 0) {
		job.now_ms = o->now_ms;
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		job.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	job.hub_id = hub_id;
	job.pins = o->pins;
	job.n_pins = o->n_pins;
	job.chains = rep->chains;
	job.n_chains = rep->n_chains;
	atomic_init(&job.next, 0);
	pthread_mutex_init(&job.lock, NULL);
	n_threads = o->threads != 0 ? o->threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (n_threads > rep->n_chains)
		n_threads = rep->n_chains;
	if (n_threads > 64)
		n_threads = 64;
	if (n_threads > 1 && (threads = calloc(n_threads, sizeof(*threads))) != NULL)
		for (; started < n_threads; started++)
			if (pthread_create(&threads[started], NULL, worker, &job) != 0)
				break;
	if (started == 0 && rep->n_chains > 0)
		worker(&job);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_mutex_destroy(&job.lock);
	if (job.err != 0)
		return tids_fail(err, errlen, job.err, "%s", job.errmsg);
	for (size_t i = 0; i < rep->n_chains; i++) {
		rep->entries += rep->chains[i].entries;
		rep->checkpoints += rep->chains[i].checkpoints;
		rep->unanchored += rep->chains[i].unanchored;
		rep->bad_chains += !rep->chains[i].ok;
	}
	if ((r = check_class_rules(path, rep)) != 0)
		return tids_fail(err, errlen, r, "%s: cannot read the class index", path);
	if (!legacy && rep->index_bad[0] == '\0' && (r = check_postings(path, rep)) != 0)
		return tids_fail(err, errlen, r, "%s: cannot read the postings", path);
	rep->seconds = mono_seconds() - t0;
	return rep->bad_chains > 0 || rep->index_bad[0] != '\0' ? TIDS_EBADSIG : 0;
}

void tids_ledger_verify_report_free(struct tids_ledger_verify_report *rep)
{
	if (rep == NULL)
		return;
	free(rep->chains);
	memset(rep, 0, sizeof(*rep));
}
