/*
 * The registry database: SQLite in WAL mode, statements prepared once,
 * writes batched into one transaction that the loop commits at the end of
 * each iteration (so replies that promise durability wait one iteration at
 * most, and a burst of writes costs one fsync). It holds wrapped keys:
 * secure_delete overwrites what a delete or an update leaves behind, and
 * store_checkpoint empties the WAL when a key must be gone from disk.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tids/ledger.h"
#include "tidsd.h"

enum stmt {
	ST_BEGIN, ST_COMMIT, ST_PUT, ST_DELETE, ST_EACH, ST_GET_KV, ST_SET_KV, ST_DELETE_KV, ST_EACH_KV,
	ST_CLEAR_ENTRIES, ST_CLEAR_NS, ST_COUNT_ENTRIES, ST_ROLLBACK, ST_EACH_KV_RANGE, ST_TRIM_KV, ST_COUNT
};

static const char *const sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_PUT] = "INSERT OR REPLACE INTO entry(kind, id, blob) VALUES (?1, ?2, ?3)",
	[ST_DELETE] = "DELETE FROM entry WHERE kind = ?1 AND id = ?2",
	[ST_EACH] = "SELECT id, blob FROM entry WHERE kind = ?1 ORDER BY id",
	[ST_GET_KV] = "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
	[ST_SET_KV] = "INSERT OR REPLACE INTO kv(ns, key, value) VALUES (?1, ?2, ?3)",
	[ST_DELETE_KV] = "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
	[ST_EACH_KV] = "SELECT key, value FROM kv WHERE ns = ?1 ORDER BY key",
	[ST_CLEAR_ENTRIES] = "DELETE FROM entry",
	[ST_CLEAR_NS] = "DELETE FROM kv WHERE ns = ?1",
	[ST_COUNT_ENTRIES] = "SELECT count(*) FROM entry",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_EACH_KV_RANGE] = "SELECT key, value FROM kv WHERE ns = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
	/* Keys below the keep-th newest of the prefix, unless also in ns ?5.
	 * Both walks are ranges of the primary key: no scan of the table. */
	[ST_TRIM_KV] = "DELETE FROM kv WHERE ns = ?1 AND key >= ?2 AND key < "
		       "(SELECT key FROM kv WHERE ns = ?1 AND key >= ?2 AND key < ?3 ORDER BY key DESC LIMIT 1 OFFSET ?4) "
		       "AND key NOT IN (SELECT key FROM kv WHERE ns = ?5 AND key >= ?2 AND key < ?3)",
};

static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = FULL;"
	/* Deleted and overwritten rows (wrapped keys among them) are zeroed in
	 * the file, not left in free space. Set explicitly: builds differ. */
	"PRAGMA secure_delete = ON;"
	"CREATE TABLE IF NOT EXISTS entry("
	"  kind INTEGER NOT NULL, id TEXT NOT NULL, blob BLOB NOT NULL,"
	"  PRIMARY KEY (kind, id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS kv("
	"  ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
	"  PRIMARY KEY (ns, key)) WITHOUT ROWID;";

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	bool in_tx;
	char path[4096];
};

/* SQLite's "disk I/O error" does not say why; the system's errno does. A
 * full disk is said as such, with the file, whichever of the two SQLite
 * reported (SQLITE_FULL, or SQLITE_IOERR on the WAL index). */
static const char *why(sqlite3 *db, char *buf, size_t len)
{
	int sys = sqlite3_system_errno(db);

	if (sqlite3_errcode(db) == SQLITE_FULL || sys == ENOSPC)
		return "no space left on device";
	if (sys != 0 && (sqlite3_errcode(db) == SQLITE_IOERR || sqlite3_errcode(db) == SQLITE_CANTOPEN)) {
		snprintf(buf, len, "%s (%s)", sqlite3_errmsg(db), strerror(sys));
		return buf;
	}
	return sqlite3_errmsg(db);
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	char *msg = NULL;

	*out = NULL;
	if (s == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	snprintf(s->path, sizeof(s->path), "%s", path);
	tids_sqlite_setup();
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(s->db, 5000);
	if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK)
			goto fail;
	*out = s;
	return 0;
fail:
	{
		char buf[512];

		tids_fail(err, errlen, TIDS_EDB, "%s: %s", path,
			  msg != NULL && sqlite3_errcode(s->db) != SQLITE_FULL && sqlite3_errcode(s->db) != SQLITE_IOERR
			  ? msg : why(s->db, buf, sizeof(buf)));
	}
	sqlite3_free(msg);
	store_close(s);
	return TIDS_EDB;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (store_commit(s) != 0)
		tids_log_warnx("registry: last commit failed: %s", sqlite3_errmsg(s->db));
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

/* Runs a statement without results. */
static int step(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		char buf[512];

		tids_log_warnx("registry %s: %s", s->path, why(s->db, buf, sizeof(buf)));
		return TIDS_EDB;
	}
	return 0;
}

static int begin(struct store *s)
{
	if (s->in_tx)
		return 0;
	if (step(s, s->st[ST_BEGIN]) != 0)
		return TIDS_EDB;
	s->in_tx = true;
	return 0;
}

int store_commit(struct store *s)
{
	if (!s->in_tx)
		return 0;
	s->in_tx = false;
	if (step(s, s->st[ST_COMMIT]) == 0)
		return 0;
	/* A COMMIT that fails (SQLITE_FULL on a full disk) may have rolled the
	 * transaction back or left it open, depending on where it failed. Roll
	 * it back, so that a failed commit always means "none of it was
	 * written" and the next write begins a transaction afresh. */
	store_rollback(s);
	return TIDS_EDB;
}

bool store_dirty(const struct store *s)
{
	return s->in_tx;
}

void store_rollback(struct store *s)
{
	s->in_tx = false;
	/* After a failed COMMIT SQLite may have rolled back already, or kept
	 * the transaction open (SQLITE_FULL): SQLite says which, not in_tx,
	 * which store_commit clears before it commits. */
	if (sqlite3_get_autocommit(s->db) != 0)
		return;
	if (sqlite3_step(s->st[ST_ROLLBACK]) != SQLITE_DONE)
		tids_log_warnx("registry: rollback: %s", sqlite3_errmsg(s->db));
	sqlite3_reset(s->st[ST_ROLLBACK]);
}

int store_checkpoint(struct store *s)
{
	int log = -1, done = -1, rc;

	if (store_commit(s) != 0)
		return TIDS_EDB;
	/* TRUNCATE: every frame is copied into the database, then the WAL is
	 * cut to zero bytes, so no older page version stays in it. */
	rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (rc != SQLITE_OK) {
		tids_log_warnx("registry: WAL checkpoint: %s", sqlite3_errmsg(s->db));
		return TIDS_EDB;
	}
	return 0;
}

int store_put(struct store *s, enum store_kind kind, const char *id, const uint8_t *blob, size_t len)
{
	sqlite3_stmt *st = s->st[ST_PUT];

	if (begin(s) != 0)
		return TIDS_EDB;
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, blob, (int)len, SQLITE_STATIC);
	return step(s, st);
}

int store_delete(struct store *s, enum store_kind kind, const char *id)
{
	sqlite3_stmt *st = s->st[ST_DELETE];

	if (begin(s) != 0)
		return TIDS_EDB;
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return step(s, st);
}

int store_each(struct store *s, enum store_kind kind, store_each_fn *fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_EACH];
	int rc, r = 0;

	sqlite3_bind_int(st, 1, (int)kind);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const uint8_t *blob = sqlite3_column_blob(st, 1);
		int len = sqlite3_column_bytes(st, 1);

		r = fn(ctx, id, blob, (size_t)len);
		if (r != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int store_each_kv(struct store *s, const char *ns, store_each_fn *fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_EACH_KV];
	int rc, r = 0;

	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
		       (size_t)sqlite3_column_bytes(st, 1));
		if (r != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/* The first key after every key that starts with prefix. */
static void prefix_end(const char *prefix, char *end, size_t len)
{
	size_t n = strlen(prefix);

	snprintf(end, len, "%s", prefix);
	if (n > 0 && n < len)
		end[n - 1] = (char)(end[n - 1] + 1);
}

int store_each_kv_prefix(struct store *s, const char *ns, const char *prefix, store_each_fn *fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_EACH_KV_RANGE];
	char end[512];
	int rc, r = 0;

	prefix_end(prefix, end, sizeof(end));
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, end, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = fn(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
		       (size_t)sqlite3_column_bytes(st, 1));
		if (r != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int store_trim_kv(struct store *s, const char *ns, const char *prefix, unsigned keep, const char *unless)
{
	sqlite3_stmt *st = s->st[ST_TRIM_KV];
	char end[512];

	if (keep == 0 || strlen(prefix) == 0)
		return TIDS_EINVAL;
	if (begin(s) != 0)
		return TIDS_EDB;
	prefix_end(prefix, end, sizeof(end));
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)keep - 1);
	sqlite3_bind_text(st, 5, unless, -1, SQLITE_STATIC);
	return step(s, st);
}

int store_get_blob(struct store *s, const char *ns, const char *key, uint8_t *buf, size_t cap, size_t *len)
{
	sqlite3_stmt *st = s->st[ST_GET_KV];
	int rc, r = TIDS_ENOENT;

	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		if (n > cap) {
			r = TIDS_ETOOBIG;
		} else {
			memcpy(buf, sqlite3_column_blob(st, 0), n);
			*len = n;
			r = 0;
		}
	} else if (rc != SQLITE_DONE) {
		r = TIDS_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int store_set_blob(struct store *s, const char *ns, const char *key, const uint8_t *buf, size_t len)
{
	sqlite3_stmt *st = s->st[ST_SET_KV];

	if (begin(s) != 0)
		return TIDS_EDB;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, buf, (int)len, SQLITE_STATIC);
	return step(s, st);
}

int store_delete_key(struct store *s, const char *ns, const char *key)
{
	sqlite3_stmt *st = s->st[ST_DELETE_KV];

	if (begin(s) != 0)
		return TIDS_EDB;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	return step(s, st);
}

/* Integers are stored big-endian so that they sort and compare as blobs. */
int store_get_u64(struct store *s, const char *ns, const char *key, uint64_t *value)
{
	uint8_t b[8];
	size_t len;
	int r = store_get_blob(s, ns, key, b, sizeof(b), &len);

	if (r != 0)
		return r;
	if (len != 8)
		return TIDS_EDB;
	*value = 0;
	for (int i = 0; i < 8; i++)
		*value = *value << 8 | b[i];
	return 0;
}

int store_set_u64(struct store *s, const char *ns, const char *key, uint64_t value)
{
	uint8_t b[8];

	for (int i = 7; i >= 0; i--, value >>= 8)
		b[i] = (uint8_t)value;
	return store_set_blob(s, ns, key, b, sizeof(b));
}

int store_clear_entries(struct store *s)
{
	if (begin(s) != 0)
		return TIDS_EDB;
	return step(s, s->st[ST_CLEAR_ENTRIES]);
}

int store_clear_ns(struct store *s, const char *ns)
{
	sqlite3_stmt *st = s->st[ST_CLEAR_NS];

	if (begin(s) != 0)
		return TIDS_EDB;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	return step(s, st);
}

int64_t store_count_entries(struct store *s)
{
	sqlite3_stmt *st = s->st[ST_COUNT_ENTRIES];
	int64_t n = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}
