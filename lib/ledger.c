/*
 * The ledger file: schema, connections, and the indexer's writes (entries,
 * checkpoints, ingress material and the Kafka offsets they came from, in
 * one batch transaction at a time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"

/* synchronous = NORMAL: in WAL mode a crash can lose the last commits but
 * never tear one, and the consumed offsets live in the same transactions,
 * so the indexer reads again exactly what was lost. */
static const char schema[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = NORMAL;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
	/* id = partition << 40 | seq; the columns repeat the entry's fields
	 * for the indexes, and verify checks them against the bytes. */
	"CREATE TABLE IF NOT EXISTS entry("
	"  id INTEGER PRIMARY KEY, decided_at INTEGER NOT NULL, record_id BLOB NOT NULL,"
	"  owner TEXT NOT NULL, recipient TEXT NOT NULL, purpose TEXT NOT NULL,"
	"  decision INTEGER NOT NULL, tier INTEGER NOT NULL, category TEXT NOT NULL,"
	"  origin TEXT NOT NULL, destination TEXT NOT NULL, grant_id TEXT NOT NULL,"
	"  approval_id TEXT NOT NULL, bytes BLOB NOT NULL);"
	/* decided_at repeats the entry's so that a rule's decisions come out
	 * of the index in time order, with no sort. */
	"CREATE TABLE IF NOT EXISTS entry_rule(id INTEGER NOT NULL, rule_id TEXT NOT NULL, decided_at INTEGER NOT NULL,"
	"  PRIMARY KEY (id, rule_id)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS entry_rule_by_rule ON entry_rule(rule_id, decided_at, id);"
	"CREATE INDEX IF NOT EXISTS entry_by_time ON entry(decided_at);"
	"CREATE INDEX IF NOT EXISTS entry_by_owner ON entry(owner, decided_at);"
	"CREATE INDEX IF NOT EXISTS entry_by_recipient ON entry(recipient, decided_at);"
	"CREATE INDEX IF NOT EXISTS entry_by_record ON entry(record_id);"
	"CREATE INDEX IF NOT EXISTS entry_by_grant ON entry(grant_id, decided_at) WHERE grant_id <> '';"
	/* Jurisdictions by country (a full code is filtered on top): the
	 * regulator's pairs, and what went to a given country. */
	"CREATE INDEX IF NOT EXISTS entry_by_pair ON entry(substr(origin, 1, 2), substr(destination, 1, 2), decided_at);"
	"CREATE INDEX IF NOT EXISTS entry_by_destination ON entry(substr(destination, 1, 2), decided_at);"
	"CREATE INDEX IF NOT EXISTS entry_by_category ON entry(category, decided_at);"
	"CREATE INDEX IF NOT EXISTS entry_by_decision ON entry(decision, tier, decided_at);"
	"CREATE TABLE IF NOT EXISTS checkpoint(id INTEGER PRIMARY KEY, signed_at INTEGER NOT NULL,"
	"  bytes BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ingress("
	"  part INTEGER NOT NULL, off INTEGER NOT NULL, record_id BLOB NOT NULL, publisher TEXT NOT NULL,"
	"  sequence INTEGER NOT NULL, batch_root BLOB NOT NULL, batch_signature BLOB NOT NULL,"
	"  leaf_index INTEGER NOT NULL, leaf_count INTEGER NOT NULL, path BLOB NOT NULL,"
	"  leaf_hash BLOB, record BLOB, received_at INTEGER NOT NULL,"
	"  PRIMARY KEY (part, off)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS ingress_by_record ON ingress(record_id);"
	"CREATE TABLE IF NOT EXISTS consumed(topic INTEGER NOT NULL, part INTEGER NOT NULL,"
	"  next INTEGER NOT NULL, PRIMARY KEY (topic, part)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS retention(class TEXT PRIMARY KEY, ms INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS prune_log(at INTEGER NOT NULL, part INTEGER NOT NULL,"
	"  through_seq INTEGER NOT NULL, entries INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '1');";

static const char *const sql[LS_COUNT] = {
	[LS_BEGIN] = "BEGIN IMMEDIATE",
	[LS_COMMIT] = "COMMIT",
	[LS_ROLLBACK] = "ROLLBACK",
	[LS_INS_ENTRY] = "INSERT INTO entry(id, decided_at, record_id, owner, recipient, purpose, decision, tier,"
			 " category, origin, destination, grant_id, approval_id, bytes)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[LS_INS_RULE] = "INSERT OR IGNORE INTO entry_rule(id, rule_id, decided_at) VALUES (?1, ?2, ?3)",
	[LS_ENTRY_BYTES] = "SELECT bytes FROM entry WHERE id = ?1",
	[LS_INS_CHECKPOINT] = "INSERT OR IGNORE INTO checkpoint(id, signed_at, bytes) VALUES (?1, ?2, ?3)",
	[LS_INS_INGRESS] = "INSERT OR IGNORE INTO ingress(part, off, record_id, publisher, sequence, batch_root,"
			   " batch_signature, leaf_index, leaf_count, path, leaf_hash, record, received_at)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[LS_GET_OFFSET] = "SELECT next FROM consumed WHERE topic = ?1 AND part = ?2",
	[LS_SET_OFFSET] = "INSERT OR REPLACE INTO consumed(topic, part, next) VALUES (?1, ?2, ?3)",
	[LS_LAST_ENTRY] = "SELECT id, bytes FROM entry WHERE id >= ?1 AND id < ?2 ORDER BY id DESC LIMIT 1",
	[LS_LAST_CHECKPOINT] = "SELECT bytes FROM checkpoint WHERE id >= ?1 AND id < ?2 ORDER BY id DESC LIMIT 1",
	[LS_GET_META] = "SELECT value FROM meta WHERE key = ?1",
	[LS_SET_META] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
};

int tids_ledger_connect(const char *path, bool writable, sqlite3 **db, char *err, size_t errlen)
{
	char uri[4200];
	int rc;

	*db = NULL;
	if (writable) {
		rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	} else {
		rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
		/* A read-only WAL database needs its -shm file; on a copy in a
		 * directory we may not write, read it as immutable instead. */
		if (rc == SQLITE_OK &&
		    sqlite3_exec(*db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_close(*db);
			*db = NULL;
			if ((size_t)snprintf(uri, sizeof(uri), "file:%s?immutable=1", path) >= sizeof(uri))
				return tids_fail(err, errlen, TIDS_EINVAL, "%s: path too long", path);
			rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
		}
	}
	if (rc != SQLITE_OK) {
		tids_fail(err, errlen, TIDS_EDB, "%s: %s", path, *db != NULL ? sqlite3_errmsg(*db) : "cannot open");
		sqlite3_close(*db);
		*db = NULL;
		return TIDS_EDB;
	}
	sqlite3_busy_timeout(*db, 10000);
	return 0;
}

int tids_ledger_open(const char *path, int flags, struct tids_ledger **out, char *err, size_t errlen)
{
	struct tids_ledger *l = calloc(1, sizeof(*l));
	char *msg = NULL;
	int r;

	*out = NULL;
	if (l == NULL || (l->path = strdup(path)) == NULL) {
		free(l);
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	}
	l->writable = (flags & TIDS_LEDGER_WRITE) != 0;
	if ((r = tids_ledger_connect(path, l->writable, &l->db, err, errlen)) != 0)
		goto fail;
	if (l->writable) {
		if (sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
		    ((flags & TIDS_LEDGER_BULK) &&
		     sqlite3_exec(l->db, "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;", NULL, NULL,
				  &msg) != SQLITE_OK)) {
			r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", path, msg != NULL ? msg : sqlite3_errmsg(l->db));
			goto fail;
		}
	} else if (sqlite3_exec(l->db, "PRAGMA query_only = 1; PRAGMA cache_size = -65536;", NULL, NULL, &msg) !=
		   SQLITE_OK) {
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", path, msg != NULL ? msg : sqlite3_errmsg(l->db));
		goto fail;
	}
	for (int i = 0; i < LS_COUNT; i++)
		if (sqlite3_prepare_v3(l->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i], NULL) != SQLITE_OK) {
			/* A file without our tables is not a ledger (or not ours). */
			r = tids_fail(err, errlen, TIDS_EDB, "%s: not a tids audit ledger (%s)", path,
				      sqlite3_errmsg(l->db));
			goto fail;
		}
	*out = l;
	return 0;
fail:
	sqlite3_free(msg);
	tids_ledger_close(l);
	return r;
}

void tids_ledger_close(struct tids_ledger *l)
{
	if (l == NULL)
		return;
	if (l->in_tx && tids_ledger_commit(l) != 0) {
		/* Nothing to report to: the open batch is lost and the indexer
		 * reads it again from Kafka (the offsets went with it). */
	}
	/* Statistics for the query planner (which index serves a filter),
	 * bounded so that closing a large ledger stays quick. */
	if (l->writable)
		sqlite3_exec(l->db, "PRAGMA analysis_limit = 400; PRAGMA optimize;", NULL, NULL, NULL);
	for (int i = 0; i < LS_COUNT; i++)
		sqlite3_finalize(l->st[i]);
	sqlite3_close(l->db);
	free(l->path);
	free(l);
}

const char *tids_ledger_path(const struct tids_ledger *l)
{
	return l->path;
}

int tids_ledger_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

int tids_ledger_begin(struct tids_ledger *l)
{
	if (!l->writable)
		return TIDS_EPERM;
	if (l->in_tx)
		return 0;
	if (tids_ledger_step_done(l->st[LS_BEGIN]) != 0)
		return TIDS_EDB;
	l->in_tx = true;
	l->pending = 0;
	return 0;
}

int tids_ledger_set_cache(struct tids_ledger *l, int64_t bytes)
{
	char pragma[64];

	snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%lld;", (long long)(bytes / 1024));
	return sqlite3_exec(l->db, pragma, NULL, NULL, NULL) == SQLITE_OK ? 0 : TIDS_EDB;
}

int tids_ledger_commit(struct tids_ledger *l)
{
	if (!l->in_tx)
		return 0;
	if (tids_ledger_step_done(l->st[LS_COMMIT]) != 0) {
		/* Leave no half batch open: drop it, it will be read again. */
		if (tids_ledger_step_done(l->st[LS_ROLLBACK]) != 0 && sqlite3_get_autocommit(l->db) == 0)
			return TIDS_EDB;
		l->in_tx = false;
		l->pending = 0;
		return TIDS_EDB;
	}
	l->in_tx = false;
	l->pending = 0;
	return 0;
}

void tids_ledger_rollback(struct tids_ledger *l)
{
	if (!l->in_tx)
		return;
	if (tids_ledger_step_done(l->st[LS_ROLLBACK]) != 0 && sqlite3_get_autocommit(l->db) == 0) {
		/* Still open: the next begin fails and says why. */
		return;
	}
	l->in_tx = false;
	l->pending = 0;
}

size_t tids_ledger_pending(const struct tids_ledger *l)
{
	return l->pending;
}

void tids_ledger_chain_hash(const uint8_t prev[TIDS_HASH_BYTES], const uint8_t *bytes, size_t len,
		       uint8_t head[TIDS_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, prev, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, bytes, len);
	crypto_generichash_final(&st, head, TIDS_HASH_BYTES);
}

bool tids_ledger_checkpoint_valid(const struct tids_audit_checkpoint *cp, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
{
	uint8_t *bytes;
	size_t len;
	bool ok;

	if (tids_wire_encode_audit_checkpoint_unsigned(cp, &bytes, &len) != 0)
		return false;
	ok = tids_sign_verify_detached(pk, TIDS_DOMAIN_CHECKPOINT, bytes, len, cp->signature) == 0;
	free(bytes);
	return ok;
}

void tids_ledger_country(const char *jurisdiction, char out[3])
{
	size_t n = strcspn(jurisdiction, "-");

	if (n > 2)
		n = 2;
	memcpy(out, jurisdiction, n);
	out[n] = '\0';
}

static bool text_is(sqlite3_stmt *st, int col, const char *s)
{
	const unsigned char *t;
	size_t n;

	/* The type first: reading the text would convert it. */
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return false;
	t = sqlite3_column_text(st, col);
	n = (size_t)sqlite3_column_bytes(st, col);
	return t != NULL && strlen(s) == n && memcmp(t, s, n) == 0;
}

const char *tids_ledger_row_mismatch(sqlite3_stmt *st, const struct tids_audit_entry *e)
{
	if (sqlite3_column_type(st, 2) != SQLITE_INTEGER || sqlite3_column_int64(st, 2) != e->decided_at_ms)
		return "decided_at";
	if (sqlite3_column_type(st, 3) != SQLITE_BLOB || sqlite3_column_bytes(st, 3) != TIDS_RECORD_ID_BYTES ||
	    memcmp(sqlite3_column_blob(st, 3), e->record_id, TIDS_RECORD_ID_BYTES) != 0)
		return "record_id";
	if (!text_is(st, 4, e->owner))
		return "owner";
	if (!text_is(st, 5, e->recipient))
		return "recipient";
	if (!text_is(st, 6, e->purpose))
		return "purpose";
	if (sqlite3_column_type(st, 7) != SQLITE_INTEGER || sqlite3_column_int64(st, 7) != (int64_t)e->decision)
		return "decision";
	if (sqlite3_column_type(st, 8) != SQLITE_INTEGER || sqlite3_column_int64(st, 8) != (int64_t)e->tier)
		return "tier";
	if (!text_is(st, 9, e->category))
		return "category";
	if (!text_is(st, 10, e->origin))
		return "origin";
	if (!text_is(st, 11, e->destination))
		return "destination";
	if (!text_is(st, 12, e->grant_id))
		return "grant_id";
	if (!text_is(st, 13, e->approval_id))
		return "approval_id";
	return NULL;
}

static bool text_eq(sqlite3_stmt *st, int col, const struct tids_bytes *b)
{
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return false;
	return (size_t)sqlite3_column_bytes(st, col) == b->len &&
	       (b->len == 0 || memcmp(sqlite3_column_text(st, col), b->data, b->len) == 0);
}

const char *tids_ledger_view_mismatch(sqlite3_stmt *st, const struct ledger_entry_view *v)
{
	if (sqlite3_column_type(st, 2) != SQLITE_INTEGER || sqlite3_column_int64(st, 2) != v->decided_at_ms)
		return "decided_at";
	if (sqlite3_column_type(st, 3) != SQLITE_BLOB || sqlite3_column_bytes(st, 3) != TIDS_RECORD_ID_BYTES ||
	    memcmp(sqlite3_column_blob(st, 3), v->record_id, TIDS_RECORD_ID_BYTES) != 0)
		return "record_id";
	if (!text_eq(st, 4, &v->owner))
		return "owner";
	if (!text_eq(st, 5, &v->recipient))
		return "recipient";
	if (!text_eq(st, 6, &v->purpose))
		return "purpose";
	if (sqlite3_column_type(st, 7) != SQLITE_INTEGER || sqlite3_column_int64(st, 7) != v->decision)
		return "decision";
	if (sqlite3_column_type(st, 8) != SQLITE_INTEGER || sqlite3_column_int64(st, 8) != v->tier)
		return "tier";
	if (!text_eq(st, 9, &v->category))
		return "category";
	if (!text_eq(st, 10, &v->origin))
		return "origin";
	if (!text_eq(st, 11, &v->destination))
		return "destination";
	if (!text_eq(st, 12, &v->grant_id))
		return "grant_id";
	if (!text_eq(st, 13, &v->approval_id))
		return "approval_id";
	return NULL;
}

/* --- meta ------------------------------------------------------------------- */

static int meta_set(struct tids_ledger *l, const char *key, const void *value, size_t len)
{
	sqlite3_stmt *st = l->st[LS_SET_META];
	int r;

	if ((r = tids_ledger_begin(l)) != 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, value, (int)len, SQLITE_STATIC);
	return tids_ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
}

/* Copies the value of key into buf (at most cap bytes); TIDS_ENOENT. */
static int meta_get(struct tids_ledger *l, const char *key, void *buf, size_t cap, size_t *len)
{
	sqlite3_stmt *st = l->st[LS_GET_META];
	int rc, r = TIDS_ENOENT;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		if (n > cap) {
			r = TIDS_ETOOBIG;
		} else {
			if (n > 0)
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

int tids_ledger_set_hub(struct tids_ledger *l, const char *hub_id, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
{
	int r = meta_set(l, "hub_id", hub_id, strlen(hub_id));

	if (r == 0)
		r = meta_set(l, "hub_key", pk, TIDS_PUBLIC_KEY_BYTES);
	return r;
}

int tids_ledger_hub(struct tids_ledger *l, char hub_id[TIDS_ID_MAX + 1], uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
{
	size_t n;
	int r = meta_get(l, "hub_id", hub_id, TIDS_ID_MAX, &n);

	if (r != 0)
		return r;
	hub_id[n] = '\0';
	if ((r = meta_get(l, "hub_key", pk, TIDS_PUBLIC_KEY_BYTES, &n)) != 0)
		return r;
	return n == TIDS_PUBLIC_KEY_BYTES ? 0 : TIDS_EDB;
}

/* --- writes ----------------------------------------------------------------- */

static int add_rules(struct tids_ledger *l, int64_t id, const struct tids_strlist *rules, int64_t decided_at)
{
	sqlite3_stmt *st = l->st[LS_INS_RULE];

	for (size_t i = 0; i < rules->n; i++) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, rules->items[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, decided_at);
		if (tids_ledger_step_done(st) != 0)
			return TIDS_EDB;
	}
	return 0;
}

/* The (partition, seq) is taken: the same entry again, or a fork? */
static int compare_existing(struct tids_ledger *l, int64_t id, const uint8_t *bytes, size_t len, char *err,
			    size_t errlen)
{
	sqlite3_stmt *st = l->st[LS_ENTRY_BYTES];
	int r = TIDS_EDB;

	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		r = n == len && memcmp(sqlite3_column_blob(st, 0), bytes, len) == 0 ? TIDS_EEXIST : TIDS_EDUP;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r == TIDS_EDUP)
		return tids_fail(err, errlen, r, "entry %d:%llu: a different entry is already in the ledger",
				 ledger_id_partition(id), (unsigned long long)ledger_id_seq(id));
	if (r == TIDS_EDB)
		return tids_fail(err, errlen, r, "ledger: %s", sqlite3_errmsg(l->db));
	return r;
}

int tids_ledger_add_entry(struct tids_ledger *l, const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
	sqlite3_stmt *st = l->st[LS_INS_ENTRY];
	struct tids_audit_entry e;
	int64_t id;
	int r, rc;

	if ((r = tids_wire_decode_audit_entry(bytes, len, &e, err, errlen)) != 0)
		return r;
	if (e.seq > TIDS_LEDGER_SEQ_MAX || e.partition > TIDS_LEDGER_PARTITION_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOBIG, "audit entry %d:%llu: beyond what the ledger can key",
			      (int)e.partition, (unsigned long long)e.seq);
		goto out;
	}
	if ((r = tids_ledger_begin(l)) != 0) {
		tids_fail(err, errlen, r, "ledger: cannot begin a transaction: %s", sqlite3_errmsg(l->db));
		goto out;
	}
	id = ledger_id(e.partition, e.seq);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, e.decided_at_ms);
	sqlite3_bind_blob(st, 3, e.record_id, TIDS_RECORD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e.owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e.recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, e.purpose, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, (int)e.decision);
	sqlite3_bind_int(st, 8, (int)e.tier);
	sqlite3_bind_text(st, 9, e.category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, e.origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, e.destination, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, e.grant_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, e.approval_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 14, bytes, (int)len, SQLITE_STATIC);
	rc = tids_ledger_step_done(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		r = compare_existing(l, id, bytes, len, err, errlen);
		goto out;
	}
	if (rc != 0 || (r = add_rules(l, id, &e.rule_ids, e.decided_at_ms)) != 0) {
		r = tids_fail(err, errlen, TIDS_EDB, "ledger: entry %d:%llu not written: %s", (int)e.partition,
			      (unsigned long long)e.seq, sqlite3_errmsg(l->db));
		goto out;
	}
	l->pending++;
out:
	tids_audit_entry_free(&e);
	return r;
}

int tids_ledger_add_checkpoint(struct tids_ledger *l, const struct tids_audit_checkpoint *cp, char *err,
			       size_t errlen)
{
	sqlite3_stmt *st = l->st[LS_INS_CHECKPOINT];
	uint8_t *bytes;
	size_t len;
	int r;

	if (cp->seq > TIDS_LEDGER_SEQ_MAX || cp->partition < 0 || cp->partition > TIDS_LEDGER_PARTITION_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "checkpoint %d:%llu: beyond what the ledger can key",
				 (int)cp->partition, (unsigned long long)cp->seq);
	if ((r = tids_ledger_begin(l)) != 0)
		return tids_fail(err, errlen, r, "ledger: cannot begin a transaction: %s", sqlite3_errmsg(l->db));
	if (tids_wire_encode_audit_checkpoint(cp, &bytes, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	sqlite3_bind_int64(st, 1, ledger_id(cp->partition, cp->seq));
	sqlite3_bind_int64(st, 2, cp->signed_at_ms);
	sqlite3_bind_blob(st, 3, bytes, (int)len, SQLITE_STATIC);
	r = tids_ledger_step_done(st);
	free(bytes);
	if (r != 0)
		return tids_fail(err, errlen, TIDS_EDB, "ledger: checkpoint not written: %s", sqlite3_errmsg(l->db));
	l->pending++;
	return 0;
}

int tids_ledger_add_ingress(struct tids_ledger *l, int32_t partition, int64_t offset,
			    const struct tids_ingress_record *ir, const uint8_t leaf_hash[TIDS_HASH_BYTES],
			    char *err, size_t errlen)
{
	sqlite3_stmt *st = l->st[LS_INS_INGRESS];
	int r;

	if ((r = tids_ledger_begin(l)) != 0)
		return tids_fail(err, errlen, r, "ledger: cannot begin a transaction: %s", sqlite3_errmsg(l->db));
	sqlite3_bind_int(st, 1, partition);
	sqlite3_bind_int64(st, 2, offset);
	sqlite3_bind_blob(st, 3, ir->record_id, TIDS_RECORD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ir->publisher, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)ir->sequence);
	sqlite3_bind_blob(st, 6, ir->batch_root, TIDS_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, ir->batch_signature, TIDS_SIGNATURE_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, ir->leaf_index);
	sqlite3_bind_int64(st, 9, ir->leaf_count);
	sqlite3_bind_blob(st, 10, ir->n_merkle_path > 0 ? (const void *)ir->merkle_path : "",
			  (int)(ir->n_merkle_path * TIDS_HASH_BYTES), SQLITE_STATIC);
	if (leaf_hash != NULL)
		sqlite3_bind_blob(st, 11, leaf_hash, TIDS_HASH_BYTES, SQLITE_STATIC);
	/* Sealed records stay sealed: the ledger keeps no plaintext that
	 * Kafka was not trusted with. */
	if (!ir->sealed)
		sqlite3_bind_blob(st, 12, ir->record.data, (int)ir->record.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 13, ir->received_at_ms);
	if (tids_ledger_step_done(st) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "ledger: ingress %d/%lld not written: %s", (int)partition,
				 (long long)offset, sqlite3_errmsg(l->db));
	l->pending++;
	return 0;
}

int tids_ledger_offset(struct tids_ledger *l, enum tids_ledger_topic topic, int32_t partition, int64_t *next)
{
	sqlite3_stmt *st = l->st[LS_GET_OFFSET];
	int rc, r = TIDS_ENOENT;

	sqlite3_bind_int(st, 1, (int)topic);
	sqlite3_bind_int(st, 2, partition);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*next = sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = TIDS_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int tids_ledger_set_offset(struct tids_ledger *l, enum tids_ledger_topic topic, int32_t partition, int64_t next)
{
	sqlite3_stmt *st = l->st[LS_SET_OFFSET];
	int r;

	if ((r = tids_ledger_begin(l)) != 0)
		return r;
	sqlite3_bind_int(st, 1, (int)topic);
	sqlite3_bind_int(st, 2, partition);
	sqlite3_bind_int64(st, 3, next);
	return tids_ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
}

int tids_ledger_head(struct tids_ledger *l, int32_t partition, uint64_t *seq, uint8_t head[TIDS_HASH_BYTES])
{
	sqlite3_stmt *st = l->st[LS_LAST_ENTRY];
	struct tids_audit_entry e;
	struct tids_audit_checkpoint cp;
	int rc, r = 0;

	*seq = 0;
	memset(head, 0, TIDS_HASH_BYTES);
	sqlite3_bind_int64(st, 1, ledger_id(partition, 0));
	sqlite3_bind_int64(st, 2, ledger_id(partition + 1, 0));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const uint8_t *b = sqlite3_column_blob(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);

		if (tids_wire_decode_audit_entry(b, n, &e, NULL, 0) == 0) {
			tids_ledger_chain_hash(e.prev_hash, b, n, head);
			*seq = e.seq;
			tids_audit_entry_free(&e);
		} else {
			r = TIDS_EDECODE;
		}
	} else if (rc != SQLITE_DONE) {
		r = TIDS_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != 0 || *seq != 0)
		return r;
	/* No entries: everything was pruned, and the anchor is the head. */
	st = l->st[LS_LAST_CHECKPOINT];
	sqlite3_bind_int64(st, 1, ledger_id(partition, 0));
	sqlite3_bind_int64(st, 2, ledger_id(partition + 1, 0));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (tids_wire_decode_audit_checkpoint(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
						      &cp, NULL, 0) == 0) {
			*seq = cp.seq;
			memcpy(head, cp.head_hash, TIDS_HASH_BYTES);
			tids_audit_checkpoint_free(&cp);
		} else {
			r = TIDS_EDECODE;
		}
	} else if (rc != SQLITE_DONE) {
		r = TIDS_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}
