/*
 * Retention: how long each class of entry is kept (data in the ledger, with
 * legal floors), and pruning, which removes only whole checkpointed
 * segments from the start of a chain and keeps the last removed segment's
 * signed checkpoint as the anchor that the rest verifies from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

static const char *const class_names[TIDS_LEDGER_CLASSES] = {
	[TIDS_LEDGER_CLASS_GENERAL] = "general",
	[TIDS_LEDGER_CLASS_IMPORTANT] = "important",
	[TIDS_LEDGER_CLASS_CORE] = "core",
	[TIDS_LEDGER_CLASS_EXPORT] = "export",
};

static const int64_t defaults[TIDS_LEDGER_CLASSES] = {
	[TIDS_LEDGER_CLASS_GENERAL] = TIDS_LEDGER_RETAIN_MIN_MS,
	[TIDS_LEDGER_CLASS_IMPORTANT] = TIDS_LEDGER_RETAIN_MIN_MS,
	[TIDS_LEDGER_CLASS_CORE] = TIDS_LEDGER_RETAIN_LONG_MIN_MS,
	[TIDS_LEDGER_CLASS_EXPORT] = TIDS_LEDGER_RETAIN_LONG_MIN_MS,
};

const char *tids_ledger_class_name(enum tids_ledger_class c)
{
	return (unsigned)c < TIDS_LEDGER_CLASSES ? class_names[c] : "?";
}

int tids_ledger_class_parse(const char *name)
{
	for (int i = 0; i < TIDS_LEDGER_CLASSES; i++)
		if (strcmp(name, class_names[i]) == 0)
			return i;
	return -1;
}

int tids_ledger_retention_check(const struct tids_ledger_retention *r, char *err, size_t errlen)
{
	for (int i = 0; i < TIDS_LEDGER_CLASSES; i++) {
		int64_t floor = i == TIDS_LEDGER_CLASS_CORE || i == TIDS_LEDGER_CLASS_EXPORT ? TIDS_LEDGER_RETAIN_LONG_MIN_MS
											 : TIDS_LEDGER_RETAIN_MIN_MS;

		if (r->ms[i] < floor)
			return tids_fail(err, errlen, TIDS_EINVAL, "retention of %s entries: %lld days is below the "
					 "minimum of %lld days", class_names[i], (long long)(r->ms[i] / TIDS_LEDGER_DAY_MS),
					 (long long)(floor / TIDS_LEDGER_DAY_MS));
	}
	return 0;
}

int tids_ledger_retention(struct tids_ledger *l, struct tids_ledger_retention *r)
{
	sqlite3_stmt *st;
	int rc;

	memcpy(r->ms, defaults, sizeof(r->ms));
	if (sqlite3_prepare_v2(l->db, "SELECT class, ms FROM retention", -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int c = name != NULL ? tids_ledger_class_parse(name) : -1;

		/* Never shorter than the floor, whatever the file says. */
		if (c >= 0 && sqlite3_column_int64(st, 1) > r->ms[c])
			r->ms[c] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

int tids_ledger_set_retention(struct tids_ledger *l, const struct tids_ledger_retention *r, char *err,
			      size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = tids_ledger_retention_check(r, err, errlen)) != 0)
		return rc;
	if ((rc = ledger_begin(l)) != 0)
		return tids_fail(err, errlen, rc, "%s: cannot write: %s", l->path, sqlite3_errmsg(l->db));
	if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO retention(class, ms) VALUES (?1, ?2)", -1, &st, NULL) !=
	    SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	for (int i = 0; i < TIDS_LEDGER_CLASSES; i++) {
		sqlite3_bind_text(st, 1, class_names[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, r->ms[i]);
		if (ledger_step_done(st) != 0) {
			sqlite3_finalize(st);
			return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
		}
	}
	sqlite3_finalize(st);
	return tids_ledger_commit(l) == 0 ? 0 : tids_fail(err, errlen, TIDS_EDB, "%s: commit failed", l->path);
}

int64_t tids_ledger_entry_retention(const struct tids_ledger_retention *r, enum tids_tier tier, const char *origin,
				    const char *destination)
{
	int64_t ms = r->ms[tier == TIDS_TIER_CORE ? TIDS_LEDGER_CLASS_CORE :
			   tier == TIDS_TIER_IMPORTANT ? TIDS_LEDGER_CLASS_IMPORTANT : TIDS_LEDGER_CLASS_GENERAL];
	char a[3], b[3];

	if (origin != NULL && destination != NULL && *origin != '\0' && *destination != '\0') {
		ledger_country(origin, a);
		ledger_country(destination, b);
		if (strcmp(a, b) != 0 && r->ms[TIDS_LEDGER_CLASS_EXPORT] > ms)
			ms = r->ms[TIDS_LEDGER_CLASS_EXPORT];
	}
	return ms;
}

/* --- pruning ------------------------------------------------------------------ */

/* Are all entries (from, to] of chain p past their retention at now? Judged
 * from the bytes: an edited index must not make young entries look old. */
static int segment_expired(struct tids_ledger *l, const struct tids_ledger_retention *ret, int32_t p, uint64_t from,
			   uint64_t to, int64_t now, bool *expired, uint64_t *count)
{
	sqlite3_stmt *st;
	int rc;

	*expired = true;
	*count = 0;
	if (sqlite3_prepare_v2(l->db, "SELECT bytes FROM entry WHERE id > ?1 AND id <= ?2 ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, from));
	sqlite3_bind_int64(st, 2, ledger_id(p, to));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tids_audit_entry e;

		if (tids_wire_decode_audit_entry(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &e,
						 NULL, 0) != 0) {
			*expired = false;
			break;
		}
		if (e.decided_at_ms > now - tids_ledger_entry_retention(ret, e.tier, e.origin, e.destination))
			*expired = false;
		tids_audit_entry_free(&e);
		if (!*expired)
			break;
		(*count)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return TIDS_EDB;
	/* A segment with entries missing is not ours to judge: keep it. */
	if (*expired && *count != to - from)
		*expired = false;
	return 0;
}

static int exec_range(struct tids_ledger *l, const char *sql, int64_t lo, int64_t hi, uint64_t *changed)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	r = ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
	sqlite3_finalize(st);
	if (r == 0 && changed != NULL)
		*changed += (uint64_t)sqlite3_changes(l->db);
	return r;
}

static int prune_chain(struct tids_ledger *l, const struct tids_ledger_retention *ret, int32_t p, int64_t now,
		       bool dry_run, struct tids_ledger_prune_result *res)
{
	sqlite3_stmt *st;
	uint64_t first = 0, start, through = 0, entries = 0;
	int rc, r = 0;

	if (sqlite3_prepare_v2(l->db, "SELECT min(id) FROM entry WHERE id >= ?1 AND id < ?2", -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, 0));
	sqlite3_bind_int64(st, 2, ledger_id(p + 1, 0));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		first = ledger_id_seq(sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	if (first == 0)
		return 0;
	start = first - 1;
	/* Walk the checkpoints after the start: each closes a segment. */
	if (sqlite3_prepare_v2(l->db, "SELECT id FROM checkpoint WHERE id >= ?1 AND id < ?2 ORDER BY id", -1, &st,
			       NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, first));
	sqlite3_bind_int64(st, 2, ledger_id(p + 1, 0));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t cp = ledger_id_seq(sqlite3_column_int64(st, 0)), n;
		bool expired;

		if ((r = segment_expired(l, ret, p, through > 0 ? through : start, cp, now, &expired, &n)) != 0)
			break;
		if (!expired)
			break;
		through = cp;
		entries += n;
		res->segments++;
	}
	sqlite3_finalize(st);
	if (r != 0)
		return r;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return TIDS_EDB;
	if (through == 0)
		return 0;
	res->chains++;
	res->entries += entries;
	if (dry_run) {
		uint64_t cps = 0;

		if (sqlite3_prepare_v2(l->db, "SELECT count(*) FROM checkpoint WHERE id >= ?1 AND id < ?2", -1, &st,
				       NULL) != SQLITE_OK)
			return TIDS_EDB;
		sqlite3_bind_int64(st, 1, ledger_id(p, 0));
		sqlite3_bind_int64(st, 2, ledger_id(p, through));
		if (sqlite3_step(st) == SQLITE_ROW)
			cps = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		res->checkpoints += cps;
		return 0;
	}
	/* The checkpoint at `through` stays: it anchors what remains. The
	 * record index loses the runs that start in the pruned part, and the
	 * first entry left starts a run of its own (its record's run may have
	 * begun before it). */
	if ((r = exec_range(l, "DELETE FROM record WHERE first >= ?1 AND first <= ?2", ledger_id(p, 0),
			    ledger_id(p, through), NULL)) != 0 ||
	    (r = exec_range(l, "DELETE FROM entry WHERE id >= ?1 AND id <= ?2", ledger_id(p, 0), ledger_id(p, through),
			    NULL)) != 0 ||
	    (r = exec_range(l, "INSERT OR IGNORE INTO record(record_id, first) SELECT record_id, id FROM entry"
			    " WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT 1", ledger_id(p, through), ledger_id(p + 1, 0),
			    NULL)) != 0 ||
	    (r = exec_range(l, "DELETE FROM checkpoint WHERE id >= ?1 AND id < ?2", ledger_id(p, 0),
			    ledger_id(p, through), &res->checkpoints)) != 0)
		return r;
	if (sqlite3_prepare_v2(l->db, "INSERT INTO prune_log(at, part, through_seq, entries) VALUES (?1, ?2, ?3, ?4)", -1,
			       &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, p);
	sqlite3_bind_int64(st, 3, (int64_t)through);
	sqlite3_bind_int64(st, 4, (int64_t)entries);
	r = ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
	sqlite3_finalize(st);
	return r;
}

int tids_ledger_prune(struct tids_ledger *l, const struct tids_ledger_retention *r, int64_t now_ms, bool dry_run,
		      struct tids_ledger_prune_result *res, char *err, size_t errlen)
{
	struct tids_ledger_verify_report chains = { 0 };
	struct tids_ledger_verify_opts none = { 0 };
	sqlite3_stmt *st;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = tids_ledger_retention_check(r, err, errlen)) != 0)
		return rc;
	/* Pruned entries and publications are gone for good: zero the space
	 * they leave (writers otherwise run without it, see ledger.c). */
	if (!dry_run && (sqlite3_exec(l->db, "PRAGMA secure_delete = ON;", NULL, NULL, NULL) != SQLITE_OK ||
			 (rc = ledger_begin(l)) != 0))
		return tids_fail(err, errlen, rc != 0 ? rc : TIDS_EDB, "%s: cannot write: %s", l->path,
				 sqlite3_errmsg(l->db));
	if ((rc = ledger_list_chains(l->db, &none, &chains)) != 0)
		goto fail;
	for (size_t i = 0; i < chains.n_chains; i++)
		if ((rc = prune_chain(l, r, chains.chains[i].partition, now_ms, dry_run, res)) != 0)
			goto fail;
	/* No time or profile of a pruned entry stays behind in a posting. */
	if (!dry_run && res->entries > 0 &&
	    (rc = ledger_postings_rebuild(l->db, l->postings, l->st[LS_INS_POSTING])) != 0)
		goto fail;
	/* Publication material of records whose entries are all gone, once
	 * old enough that no entry of theirs can still be on its way. */
	if (!dry_run) {
		if (sqlite3_prepare_v2(l->db, "DELETE FROM ingress WHERE received_at < ?1 AND NOT EXISTS"
				       " (SELECT 1 FROM record WHERE record.record_id = ingress.record_id)", -1, &st,
				       NULL) != SQLITE_OK) {
			rc = TIDS_EDB;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, now_ms - TIDS_LEDGER_RETAIN_MIN_MS);
		rc = ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
		sqlite3_finalize(st);
		if (rc != 0)
			goto fail;
		res->ingress = (uint64_t)sqlite3_changes(l->db);
		if ((rc = tids_ledger_commit(l)) != 0)
			goto fail;
	}
	tids_ledger_verify_report_free(&chains);
	return 0;
fail:
	tids_fail(err, errlen, rc, "%s: prune failed: %s", l->path, sqlite3_errmsg(l->db));
	if (l->in_tx) {
		ledger_step_done(l->st[LS_ROLLBACK]);
		l->in_tx = false;
	}
	tids_ledger_verify_report_free(&chains);
	return rc;
}
