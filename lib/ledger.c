/*
 * The ledger file: schema, connections, and the indexer's writes (entries,
 * checkpoints, ingress material and the Kafka offsets they came from, in
 * one batch transaction at a time).
 */
#include <pthread.h>
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
	/* Every name the entries mention, numbered once (ledger_profile.c). */
	"CREATE TABLE IF NOT EXISTS name(n INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
	/* What was decided, once per distinct combination; the countries are
	 * derived from the jurisdictions for "CN means every CN-*" filters.
	 * rules: the rule names' numbers, ascending, comma-separated. */
	"CREATE TABLE IF NOT EXISTS class(n INTEGER PRIMARY KEY, purpose INTEGER NOT NULL,"
	"  decision INTEGER NOT NULL, tier INTEGER NOT NULL, category INTEGER NOT NULL, origin INTEGER NOT NULL,"
	"  destination INTEGER NOT NULL, rules TEXT NOT NULL, origin_country INTEGER NOT NULL,"
	"  destination_country INTEGER NOT NULL, entries INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (purpose, decision, tier, category, origin, destination, rules));"
	"CREATE INDEX IF NOT EXISTS class_by_category ON class(category);"
	"CREATE INDEX IF NOT EXISTS class_by_pair ON class(origin_country, destination_country);"
	"CREATE INDEX IF NOT EXISTS class_by_destination ON class(destination_country);"
	"CREATE INDEX IF NOT EXISTS class_by_decision ON class(decision, tier);"
	"CREATE TABLE IF NOT EXISTS class_rule(rule INTEGER NOT NULL, class INTEGER NOT NULL,"
	"  PRIMARY KEY (rule, class)) WITHOUT ROWID;"
	/* About whom, once per distinct combination with a class. entries
	 * (of classes too) counts what the writer added: an estimate for
	 * the query planner, never an answer. */
	"CREATE TABLE IF NOT EXISTS profile(n INTEGER PRIMARY KEY, owner INTEGER NOT NULL, recipient INTEGER NOT NULL,"
	"  grant_id INTEGER NOT NULL, approval_id INTEGER NOT NULL, class INTEGER NOT NULL,"
	"  entries INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (owner, recipient, grant_id, approval_id, class));"
	"CREATE INDEX IF NOT EXISTS profile_by_recipient ON profile(recipient);"
	"CREATE INDEX IF NOT EXISTS profile_by_grant ON profile(grant_id);"
	"CREATE INDEX IF NOT EXISTS profile_by_approval ON profile(approval_id);"
	"CREATE INDEX IF NOT EXISTS profile_by_class ON profile(class);"
	/* id = partition << 40 | seq. One secondary index per entry, an
	 * append at the end of time: decided_at and record_id repeat the
	 * entry's, profile and class name its filters, and the readers check
	 * all four against the bytes. */
	"CREATE TABLE IF NOT EXISTS entry(id INTEGER PRIMARY KEY, decided_at INTEGER NOT NULL,"
	"  profile INTEGER NOT NULL, class INTEGER NOT NULL, record_id BLOB NOT NULL, bytes BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS entry_by_time ON entry(decided_at, class, profile);"
	/* Each profile's and each class's entries in time order, written a
	 * batch at a time (ledger_posting.c); list = n << 1 | (1 for a class),
	 * ids = (time, id) pairs from lo on, delta-coded. */
	"CREATE TABLE IF NOT EXISTS posting(list INTEGER NOT NULL, lo INTEGER NOT NULL, first INTEGER NOT NULL,"
	"  n INTEGER NOT NULL, ids BLOB NOT NULL, PRIMARY KEY (list, lo, first)) WITHOUT ROWID;"
	/* Where each run of a record's entries starts in its chain, keyed by
	 * the entry so that verify walks it along the chain. */
	"CREATE TABLE IF NOT EXISTS record(first INTEGER PRIMARY KEY, record_id BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS record_by_id ON record(record_id);"
	/* How far each chain's record rows are complete (ledger_record.c). */
	"CREATE TABLE IF NOT EXISTS record_through(part INTEGER PRIMARY KEY, through INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS checkpoint(id INTEGER PRIMARY KEY, signed_at INTEGER NOT NULL,"
	"  bytes BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ingress("
	"  part INTEGER NOT NULL, off INTEGER NOT NULL, record_id BLOB NOT NULL, publisher TEXT NOT NULL,"
	"  sequence INTEGER NOT NULL, batch_root BLOB NOT NULL, batch_signature BLOB NOT NULL,"
	"  leaf_index INTEGER NOT NULL, leaf_count INTEGER NOT NULL, path BLOB NOT NULL,"
	"  leaf_hash BLOB, record BLOB, received_at INTEGER NOT NULL,"
	"  PRIMARY KEY (part, off)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS consumed(topic INTEGER NOT NULL, part INTEGER NOT NULL,"
	"  next INTEGER NOT NULL, PRIMARY KEY (topic, part)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS retention(class TEXT PRIMARY KEY, ms INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS prune_log(at INTEGER NOT NULL, part INTEGER NOT NULL,"
	"  through_seq INTEGER NOT NULL, entries INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '" LEDGER_SCHEMA "');";

static const char *const sql[LS_COUNT] = {
	[LS_BEGIN] = "BEGIN IMMEDIATE",
	[LS_COMMIT] = "COMMIT",
	[LS_ROLLBACK] = "ROLLBACK",
	[LS_INS_ENTRY] = "INSERT INTO entry(id, decided_at, profile, class, record_id, bytes)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[LS_INS_RECORD] = "INSERT OR REPLACE INTO record(record_id, first) VALUES (?1, ?2)",
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
	[LS_INS_POSTING] = "INSERT INTO posting(list, lo, first, n, ids) VALUES (?1, ?2, ?3, ?4, ?5)",
	[LS_INIT_THROUGH] = "INSERT OR IGNORE INTO record_through(part, through) VALUES (?1, ?2)",
	[LS_SET_THROUGH] = "INSERT OR REPLACE INTO record_through(part, through) VALUES (?1, ?2)",
};

/* SQLite counts every allocation it makes under one process-wide mutex, so
 * that sqlite3_memory_used() and a soft heap limit can answer; tids asks
 * neither, and the indexer allocates for every row it inserts (the lock
 * and unlock were about 5 % of its CPU). The setting must come before
 * SQLite initialises, so whatever opens a connection first makes it. */
static void sqlite_setup_once(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void tids_sqlite_setup(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sqlite_setup_once);
}

int ledger_connect(const char *path, bool writable, sqlite3 **db, char *err, size_t errlen)
{
	char uri[4200];
	int rc;

	*db = NULL;
	tids_sqlite_setup();
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

/* A ledger of another layout is refused by name rather than misread. A
 * new file has no meta table yet: the writer makes it. */
static int check_schema(struct tids_ledger *l, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sqlite3_prepare_v2(l->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL) != SQLITE_OK)
		return l->writable ? 0 : tids_fail(err, errlen, TIDS_EDB, "%s: not a tids audit ledger (%s)", l->path,
						   sqlite3_errmsg(l->db));
	rc = sqlite3_step(st);
	l->legacy = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)strlen(LEDGER_SCHEMA_POSTINGLESS) &&
		    memcmp(sqlite3_column_blob(st, 0), LEDGER_SCHEMA_POSTINGLESS, strlen(LEDGER_SCHEMA_POSTINGLESS)) == 0;
	if (rc == SQLITE_ROW && !l->legacy && (sqlite3_column_bytes(st, 0) != (int)strlen(LEDGER_SCHEMA) ||
				 memcmp(sqlite3_column_blob(st, 0), LEDGER_SCHEMA, strlen(LEDGER_SCHEMA)) != 0))
		r = tids_fail(err, errlen, TIDS_EINVAL, "%s: a ledger of layout %.*s, which this tids (layout %s) does "
			      "not read; move it aside and tidsd indexes the audit topic into a new one", l->path,
			      sqlite3_column_bytes(st, 0) < 16 ? sqlite3_column_bytes(st, 0) : 16,
			      (const char *)sqlite3_column_blob(st, 0), LEDGER_SCHEMA);
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_finalize(st);
	return r;
}

/* Statements of tables a reader of an older ledger may not have. */
static bool writer_only(int i)
{
	return i == LS_INS_POSTING || i == LS_INIT_THROUGH || i == LS_SET_THROUGH;
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
	if ((r = ledger_connect(path, l->writable, &l->db, err, errlen)) != 0 ||
	    (r = check_schema(l, err, errlen)) != 0)
		goto fail;
	if (l->writable) {
		/* A checkpoint copies each page the WAL holds once, however many
		 * commits changed it: fewer, larger ones copy the hot index
		 * pages fewer times (the WAL may grow to about 32 MB).
		 * secure_delete (on in Debian's SQLite) zeroes the space every
		 * cell leaves when an index page is rearranged, which inserts do
		 * all the time here and which held nothing but live rows: off, it
		 * costs the writer about 6-10% less CPU per entry. What is
		 * deleted for good (pruning) is still zeroed: prune turns it on
		 * for its own deletes. */
		if (sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(l->db, "PRAGMA wal_autocheckpoint = 8192; PRAGMA secure_delete = OFF;", NULL, NULL,
				 &msg) != SQLITE_OK ||
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
		if ((l->writable || !writer_only(i)) &&
		    sqlite3_prepare_v3(l->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i], NULL) != SQLITE_OK) {
			/* A file without our tables is not a ledger (or not ours). */
			r = tids_fail(err, errlen, TIDS_EDB, "%s: not a tids audit ledger (%s)", path,
				      sqlite3_errmsg(l->db));
			goto fail;
		}
	if ((r = ledger_dict_new(l->db, &l->dict)) != 0) {
		r = tids_fail(err, errlen, r, "%s: not a tids audit ledger (%s)", path, sqlite3_errmsg(l->db));
		goto fail;
	}
	if (l->writable && (r = ledger_postings_new(&l->postings)) != 0) {
		r = tids_fail(err, errlen, r, "out of memory");
		goto fail;
	}
	/* A ledger of layout 2 gets its postings from its entries, once. */
	if (l->writable && l->legacy) {
		if ((r = ledger_begin(l)) != 0 ||
		    (r = ledger_postings_migrate(l->db, l->postings, l->st[LS_INS_POSTING])) != 0 ||
		    (r = tids_ledger_commit(l)) != 0) {
			r = tids_fail(err, errlen, r == TIDS_ENOMEM ? r : TIDS_EDB, "%s: cannot move the ledger to layout "
				      LEDGER_SCHEMA ": %s", path, r == TIDS_ENOMEM ? "out of memory" : sqlite3_errmsg(l->db));
			tids_ledger_rollback(l);
			goto fail;
		}
		l->legacy = false;
	}
	if (l->writable && (r = ledger_records_recover(l)) != 0) {
		r = tids_fail(err, errlen, r, "%s: cannot complete the record index: %s", path,
			      r == TIDS_ENOMEM ? "out of memory" : sqlite3_errmsg(l->db));
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
	/* On failure, the next writer to open the ledger puts the rows in. */
	if (l->writable)
		(void)ledger_records_flush(l, true);
	/* Statistics for the query planner (which index serves a filter),
	 * bounded so that closing a large ledger stays quick. */
	if (l->writable)
		sqlite3_exec(l->db, "PRAGMA analysis_limit = 400; PRAGMA optimize;", NULL, NULL, NULL);
	ledger_dict_free(l->dict);
	ledger_postings_free(l->postings);
	ledger_records_free(l);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < LEDGER_MERGE_MAX; i++)
			sqlite3_finalize(l->cursor[k][i]);
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

int ledger_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

int ledger_begin(struct tids_ledger *l)
{
	if (!l->writable)
		return TIDS_EPERM;
	if (l->in_tx)
		return 0;
	if (ledger_step_done(l->st[LS_BEGIN]) != 0)
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

/* What the writer remembers of rows that a rollback takes back. */
static void ledger_forget(struct tids_ledger *l)
{
	ledger_dict_forget(l->dict);
	ledger_postings_forget(l->postings);
	ledger_records_forget(l);
}

/* The batch's own commit; tids_ledger_commit adds the record rows'. */
static int batch_commit(struct tids_ledger *l)
{
	if (!l->in_tx)
		return 0;
	if (ledger_postings_flush(l->postings, l->st[LS_INS_POSTING]) != 0 || ledger_dict_flush_counts(l->dict) != 0 ||
	    ledger_step_done(l->st[LS_COMMIT]) != 0) {
		/* Leave no half batch open: drop it, it will be read again. */
		ledger_forget(l);
		if (ledger_step_done(l->st[LS_ROLLBACK]) != 0 && sqlite3_get_autocommit(l->db) == 0)
			return TIDS_EDB;
		l->in_tx = false;
		l->pending = 0;
		return TIDS_EDB;
	}
	l->in_tx = false;
	l->pending = 0;
	ledger_records_committed(l);
	return 0;
}

int tids_ledger_commit(struct tids_ledger *l)
{
	int r = batch_commit(l);

	/* A failed flush loses nothing: its rows wait for the next one, and
	 * the batch it followed is in. */
	if (r == 0)
		(void)ledger_records_flush(l, false);
	return r;
}

void tids_ledger_rollback(struct tids_ledger *l)
{
	if (!l->in_tx)
		return;
	ledger_forget(l);
	if (ledger_step_done(l->st[LS_ROLLBACK]) != 0 && sqlite3_get_autocommit(l->db) == 0) {
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

void ledger_chain_hash(const uint8_t prev[TIDS_HASH_BYTES], const uint8_t *bytes, size_t len,
		       uint8_t head[TIDS_HASH_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, prev, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, bytes, len);
	crypto_generichash_final(&st, head, TIDS_HASH_BYTES);
}

bool ledger_checkpoint_valid(const struct tids_audit_checkpoint *cp, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
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

void ledger_country(const char *jurisdiction, char out[3])
{
	size_t n = strcspn(jurisdiction, "-");

	if (n > 2)
		n = 2;
	memcpy(out, jurisdiction, n);
	out[n] = '\0';
}

const char *ledger_row_mismatch(struct ledger_dict *d, sqlite3_stmt *st, struct ledger_entry_view *v)
{
	const struct ledger_profile *p;

	if (sqlite3_column_type(st, 2) != SQLITE_INTEGER || sqlite3_column_int64(st, 2) != v->decided_at_ms)
		return "decided_at";
	if (sqlite3_column_type(st, 3) != SQLITE_BLOB || sqlite3_column_bytes(st, 3) != TIDS_RECORD_ID_BYTES ||
	    memcmp(sqlite3_column_blob(st, 3), v->record_id, TIDS_RECORD_ID_BYTES) != 0)
		return "record_id";
	if (sqlite3_column_type(st, 4) != SQLITE_INTEGER ||
	    ledger_dict_profile(d, sqlite3_column_int64(st, 4), &p) != 0)
		return "profile";
	if (sqlite3_column_type(st, 5) != SQLITE_INTEGER || sqlite3_column_int64(st, 5) != p->class_n)
		return "class";
	return ledger_profile_mismatch(p, v);
}

/* --- meta ------------------------------------------------------------------- */

static int meta_set(struct tids_ledger *l, const char *key, const void *value, size_t len)
{
	sqlite3_stmt *st = l->st[LS_SET_META];
	int r;

	if ((r = ledger_begin(l)) != 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, value, (int)len, SQLITE_STATIC);
	return ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
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
	struct ledger_entry_view v;
	int64_t id, profile, class_n;
	int r, rc;

	/* The gate first; the view then reads the same bytes in place. */
	if ((r = tids_wire_decode_audit_entry(bytes, len, &e, err, errlen)) != 0)
		return r;
	tids_audit_entry_free(&e);
	if (ledger_scan_entry(bytes, len, &v) != 0)
		return tids_fail(err, errlen, TIDS_EDECODE, "audit entry: not in the form the hub writes");
	if (v.seq > TIDS_LEDGER_SEQ_MAX || v.partition > TIDS_LEDGER_PARTITION_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "audit entry %d:%llu: beyond what the ledger can key",
				 (int)v.partition, (unsigned long long)v.seq);
	if ((r = ledger_begin(l)) != 0)
		return tids_fail(err, errlen, r, "ledger: cannot begin a transaction: %s", sqlite3_errmsg(l->db));
	id = ledger_id(v.partition, v.seq);
	if ((r = ledger_dict_entry_of(l->dict, &v, &profile, &class_n)) != 0)
		return tids_fail(err, errlen, r, "ledger: entry %d:%llu not written: %s", (int)v.partition,
				 (unsigned long long)v.seq, r == TIDS_ENOMEM ? "out of memory" : sqlite3_errmsg(l->db));
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, v.decided_at_ms);
	sqlite3_bind_int64(st, 3, profile);
	sqlite3_bind_int64(st, 4, class_n);
	sqlite3_bind_blob(st, 5, v.record_id, TIDS_RECORD_ID_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, bytes, (int)len, SQLITE_STATIC);
	rc = ledger_step_done(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return compare_existing(l, id, bytes, len, err, errlen);
	if (rc != 0 || (r = ledger_records_note(l, v.partition, v.record_id, id)) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "ledger: entry %d:%llu not written: %s", (int)v.partition,
				 (unsigned long long)v.seq, r == TIDS_ENOMEM ? "out of memory" : sqlite3_errmsg(l->db));
	/* The row is in: without its postings the batch must not commit. */
	if (ledger_postings_add(l->postings, profile, class_n, v.decided_at_ms, id) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "ledger: entry %d:%llu not written: out of memory",
				 (int)v.partition, (unsigned long long)v.seq);
	ledger_dict_count(l->dict, profile, class_n);
	l->pending++;
	return 0;
}

int tids_ledger_peek_entry(const uint8_t *bytes, size_t len, int32_t *partition, uint64_t *seq,
			   uint8_t prev_hash[TIDS_HASH_BYTES])
{
	struct ledger_entry_view v;

	if (ledger_scan_entry(bytes, len, &v) != 0)
		return TIDS_EDECODE;
	*partition = v.partition;
	*seq = v.seq;
	if (v.prev_hash != NULL)
		memcpy(prev_hash, v.prev_hash, TIDS_HASH_BYTES);
	else
		memset(prev_hash, 0, TIDS_HASH_BYTES);
	return 0;
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
	if ((r = ledger_begin(l)) != 0)
		return tids_fail(err, errlen, r, "ledger: cannot begin a transaction: %s", sqlite3_errmsg(l->db));
	if (tids_wire_encode_audit_checkpoint(cp, &bytes, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	sqlite3_bind_int64(st, 1, ledger_id(cp->partition, cp->seq));
	sqlite3_bind_int64(st, 2, cp->signed_at_ms);
	sqlite3_bind_blob(st, 3, bytes, (int)len, SQLITE_STATIC);
	r = ledger_step_done(st);
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

	if ((r = ledger_begin(l)) != 0)
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
	if (ledger_step_done(st) != 0)
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

	if ((r = ledger_begin(l)) != 0)
		return r;
	sqlite3_bind_int(st, 1, (int)topic);
	sqlite3_bind_int(st, 2, partition);
	sqlite3_bind_int64(st, 3, next);
	return ledger_step_done(st) == 0 ? 0 : TIDS_EDB;
}

int tids_ledger_last_checkpoint(struct tids_ledger *l, int32_t partition, struct tids_audit_checkpoint *cp)
{
	sqlite3_stmt *st = l->st[LS_LAST_CHECKPOINT];
	int rc, r = TIDS_ENOENT;

	memset(cp, 0, sizeof(*cp));
	sqlite3_bind_int64(st, 1, ledger_id(partition, 0));
	sqlite3_bind_int64(st, 2, ledger_id(partition + 1, 0));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = tids_wire_decode_audit_checkpoint(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
						      cp, NULL, 0) == 0 ? 0 : TIDS_EDECODE;
	else if (rc != SQLITE_DONE)
		r = TIDS_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
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
			ledger_chain_hash(e.prev_hash, b, n, head);
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
