/*
 * The registry database: SQLite in WAL mode, statements prepared once,
 * writes batched into one transaction that the loop commits at the end of
 * each iteration (so replies that promise durability wait one iteration at
 * most, and a burst of writes costs one fsync).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tidsd.h"

enum stmt {
	ST_BEGIN, ST_COMMIT, ST_PUT, ST_DELETE, ST_EACH, ST_GET_KV, ST_SET_KV, ST_DELETE_KV, ST_EACH_KV,
	ST_CLEAR_ENTRIES, ST_CLEAR_NS, ST_COUNT_ENTRIES, ST_COUNT
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
};

static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = FULL;"
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
};

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	char *msg = NULL;

	*out = NULL;
	if (s == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
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
	tids_fail(err, errlen, TIDS_EDB, "%s: %s", path, msg != NULL ? msg : sqlite3_errmsg(s->db));
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
		tids_log_warnx("registry: %s", sqlite3_errmsg(s->db));
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
	return step(s, s->st[ST_COMMIT]);
}

bool store_dirty(const struct store *s)
{
	return s->in_tx;
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
