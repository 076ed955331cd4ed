/*
 * Shared by the lib/ledger*.c files only: the connection, the schema's
 * statements, entry ids, and the pieces of the proof format that the
 * writer and the checker must agree on.
 */
#ifndef TIDS_LEDGER_INTERNAL_H
#define TIDS_LEDGER_INTERNAL_H

#include <sodium.h>
#include <sqlite3.h>

#include "tids/error.h"
#include "tids/json.h"
#include "tids/ledger.h"

/* Internal to libtids: not exported from the shared library. */
#pragma GCC visibility push(hidden)

/* The layout of the ledger file; a file of another is refused by name,
 * but for layout 2 (entry_by_profile and entry_by_class instead of
 * postings), which readers read as it is and the writer migrates. */
#define LEDGER_SCHEMA "3"
#define LEDGER_SCHEMA_POSTINGLESS "2"

enum ledger_stmt {
	LS_BEGIN, LS_COMMIT, LS_ROLLBACK,
	LS_INS_ENTRY, LS_INS_RECORD, LS_ENTRY_BYTES,
	LS_INS_CHECKPOINT, LS_INS_INGRESS,
	LS_GET_OFFSET, LS_SET_OFFSET,
	LS_LAST_ENTRY, LS_LAST_CHECKPOINT,
	LS_GET_META, LS_SET_META,
	LS_INS_POSTING, LS_INIT_THROUGH, LS_SET_THROUGH,
	LS_COUNT
};

struct ledger_dict;
struct ledger_postings;

/* Queries merge up to this many per-profile or per-class cursors. */
#define LEDGER_MERGE_MAX 64

struct tids_ledger {
	sqlite3 *db;
	char *path;
	bool writable;
	bool in_tx;
	bool legacy;                         /* layout 2, read as it is */
	size_t pending;
	sqlite3_stmt *st[LS_COUNT];
	struct ledger_dict *dict;            /* names and profiles (ledger_profile.c) */
	struct ledger_postings *postings;    /* the writer's open batch (ledger_posting.c) */
	/* The merge cursors of queries, prepared once: by profile, by class. */
	sqlite3_stmt *cursor[2][LEDGER_MERGE_MAX];
	/* The writer: the record of the last entry added to each chain in this
	 * session (a record's entries are one run in its chain, and the record
	 * table keeps where each run starts); claimed: the chain has its row
	 * in record_through (ledger_record.c). */
	struct last_record {
		int32_t partition;
		bool claimed;
		uint8_t record_id[TIDS_RECORD_ID_BYTES];
	} last[64];
	/* Run starts not yet in the record table; those from at_begin on are
	 * the open batch's (ledger_record.c). */
	struct ledger_runs {
		struct ledger_run_start {
			uint8_t record_id[TIDS_RECORD_ID_BYTES];
			int64_t first;
		} *v;
		size_t n, cap, at_begin;
		unsigned commits;            /* batches committed since the last flush */
	} runs;
};

/* An entry's (or checkpoint's) key: its chain position. */
static inline int64_t ledger_id(int32_t partition, uint64_t seq)
{
	return (int64_t)((uint64_t)partition << TIDS_LEDGER_SEQ_BITS | seq);
}

static inline int32_t ledger_id_partition(int64_t id)
{
	return (int32_t)((uint64_t)id >> TIDS_LEDGER_SEQ_BITS);
}

static inline uint64_t ledger_id_seq(int64_t id)
{
	return (uint64_t)id & TIDS_LEDGER_SEQ_MAX;
}

/* Opens a connection (read-only ones fall back to immutable=1, for a copy
 * on a read-only medium). */
int ledger_connect(const char *path, bool writable, sqlite3 **db, char *err, size_t errlen);

/* Runs a statement that returns no rows, then resets it. */
int ledger_step_done(sqlite3_stmt *st);

/* Starts the writer's batch transaction if none is open. */
int ledger_begin(struct tids_ledger *l);

/* head = BLAKE2b-256(prev || bytes): the chain rule. */
void ledger_chain_hash(const uint8_t prev[TIDS_HASH_BYTES], const uint8_t *bytes, size_t len,
		       uint8_t head[TIDS_HASH_BYTES]);

/* Does the checkpoint's signature verify with pk? */
bool ledger_checkpoint_valid(const struct tids_audit_checkpoint *cp, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES]);

/* An entry row: LEDGER_ENTRY_COLUMNS selects what the readers check
 * against the entry's bytes (ledger_row_mismatch). */
#define LEDGER_ENTRY_COLUMNS "id, bytes, decided_at, record_id, profile, class"

/* Lists the chains that have entries or checkpoints (and those pinned)
 * into rep->chains, unsorted, each zeroed but for its partition. */
int ledger_list_chains(sqlite3 *db, const struct tids_ledger_verify_opts *o, struct tids_ledger_verify_report *rep);

/* What verify reads of an entry, pointing into its bytes (ledger_scan.c). */
#define LEDGER_RULES_MAX 256
struct ledger_entry_view {
	struct tids_bytes hub_id, owner, recipient, purpose, category, origin, destination, grant_id, approval_id;
	int32_t partition;
	uint64_t seq;
	const uint8_t *prev_hash;            /* NULL: absent, i.e. zeros */
	const uint8_t *record_id;
	int decision, tier;
	int64_t decided_at_ms;
	struct tids_bytes rules[LEDGER_RULES_MAX];
	size_t n_rules;
};

/* 0, or -1 when the bytes are not a well-formed AuditEntry. */
int ledger_scan_entry(const uint8_t *b, size_t len, struct ledger_entry_view *v);

/* --- names and profiles (ledger_profile.c) ------------------------------------ */

/* What was decided (a class) and about whom (a profile), resolved to
 * strings; rules sorted. */
struct ledger_class {
	int64_t n;
	const char *purpose, *category, *origin, *destination;
	int decision, tier;
	const char **rules;
	size_t n_rules;
};

struct ledger_profile {
	int64_t n, class_n;
	const char *owner, *recipient, *grant_id, *approval_id;
	const struct ledger_class *c;
};

/* One connection's caches and statements. */
int ledger_dict_new(sqlite3 *db, struct ledger_dict **out);
void ledger_dict_free(struct ledger_dict *d);
/* Drops every cached number (after a rollback undid some). */
void ledger_dict_forget(struct ledger_dict *d);
/* The number of a name; TIDS_ENOENT when the ledger has none such. */
int ledger_dict_name(struct ledger_dict *d, const char *s, int64_t *n);
/* Writer: an entry's profile and class, made (with their names) if new. */
int ledger_dict_entry_of(struct ledger_dict *d, const struct ledger_entry_view *v, int64_t *profile,
			 int64_t *class_n);
/* Writer: one more entry of the profile and class; the counts reach the
 * file when the batch commits (flush), or are dropped with it (forget). */
void ledger_dict_count(struct ledger_dict *d, int64_t profile, int64_t class_n);
int ledger_dict_flush_counts(struct ledger_dict *d);
/* Reader: profile or class n resolved (cached; lives as long as d or
 * until forget). TIDS_EBADSIG when the row or a name it cites is not as
 * the writer made it, TIDS_ENOENT when there is no such row. */
int ledger_dict_profile(struct ledger_dict *d, int64_t n, const struct ledger_profile **out);
int ledger_dict_class(struct ledger_dict *d, int64_t n, const struct ledger_class **out);
/* The first field in which the entry says otherwise than its profile,
 * or NULL. Sorts v's rules. */
const char *ledger_profile_mismatch(const struct ledger_profile *p, struct ledger_entry_view *v);

/* The row (selected by LEDGER_ENTRY_COLUMNS) against the entry's bytes
 * read into v: the column that disagrees, or NULL. */
const char *ledger_row_mismatch(struct ledger_dict *d, sqlite3_stmt *st, struct ledger_entry_view *v);

/* --- the record index (ledger_record.c) ----------------------------------------- */

/* Writer: entry id of the record was added to its chain; a run start is
 * kept for the next flush. */
int ledger_records_note(struct tids_ledger *l, int32_t partition, const uint8_t *record_id, int64_t id);
/* Writer, after a batch committed: the run starts kept go into the record
 * table, sorted, in a transaction of their own, when enough have gathered
 * (or force). On failure they stay for the next time. */
int ledger_records_flush(struct tids_ledger *l, bool force);
/* Writer: the batch committed (its run starts are no longer the open
 * batch's), or was rolled back (they are dropped). */
void ledger_records_committed(struct tids_ledger *l);
void ledger_records_forget(struct tids_ledger *l);
void ledger_records_free(struct tids_ledger *l);
/* Writer, at open: rows for the run starts a stopped writer had kept. */
int ledger_records_recover(struct tids_ledger *l);
/* Every run start of the chain up to entry id *through has its row
 * (INT64_MAX: all of them). */
int ledger_record_through(sqlite3 *db, int32_t partition, int64_t *through);

/* The ids of every entry of the record, ascending, into *ids (the
 * caller frees it); TIDS_EDB or TIDS_ENOMEM. */
int ledger_record_entries(struct tids_ledger *l, const uint8_t record_id[TIDS_RECORD_ID_BYTES], int64_t **ids,
			  size_t *n);

/* --- postings (ledger_posting.c) ------------------------------------------------ */

enum ledger_list { LEDGER_BY_PROFILE = 0, LEDGER_BY_CLASS = 1 };

int ledger_postings_new(struct ledger_postings **out);
void ledger_postings_free(struct ledger_postings *w);
/* Writer: the entry's place in its profile's and its class's lists. */
int ledger_postings_add(struct ledger_postings *w, int64_t profile, int64_t class_n, int64_t t, int64_t id);
/* Writes the batch's lists through ins (LS_INS_POSTING), in the open
 * transaction; forget drops them with a rolled back batch. */
int ledger_postings_flush(struct ledger_postings *w, sqlite3_stmt *ins);
void ledger_postings_forget(struct ledger_postings *w);
/* Layout 2 -> 3, in the open transaction. */
int ledger_postings_migrate(sqlite3 *db, struct ledger_postings *w, sqlite3_stmt *ins);
/* Every list written anew from the entries the ledger holds (prune). */
int ledger_postings_rebuild(sqlite3 *db, struct ledger_postings *w, sqlite3_stmt *ins);

/* Verify: every entry in its profile's and its class's list, once, and
 * nothing else in them; if not, says which list into bad. */
int ledger_postings_check(sqlite3 *db, char *bad, size_t badlen);

/* Reader: the (time, id) of a list's entries within [lo, hi), in that
 * order. The statement is ledger_cursor_sql's, prepared by the caller. */
struct ledger_cursor {
	sqlite3_stmt *st;
	bool legacy;
	int64_t lo, hi;
	int pending;                         /* st has a row not opened: 1, none: 0, not stepped: -1 */
	struct open_row *open;
	size_t n_open, cap_open;
};

const char *ledger_cursor_sql(bool legacy, enum ledger_list kind);
void ledger_cursor_open(struct ledger_cursor *c, sqlite3_stmt *st, bool legacy, enum ledger_list kind, int64_t n,
			int64_t lo, int64_t hi);
/* 1 and the next entry, 0 at the end, or TIDS_EDB, TIDS_ENOMEM,
 * TIDS_EBADSIG (a list that does not decode). */
int ledger_cursor_next(struct ledger_cursor *c, int64_t *t, int64_t *id);
void ledger_cursor_close(struct ledger_cursor *c);

/* Country of a jurisdiction code ("CN-SH" -> "CN"), into 3 bytes. */
void ledger_country(const char *jurisdiction, char out[3]);

/* --- the proof format (ledger_proof.c writes, ledger_check.c reads) ------- */

#define PROOF_VERSION 1
#define PROOF_LINE_MAX TIDS_PROOF_LINE_MAX

/* Writes the end line: digest of everything so far, signed if signer. */
struct proof_writer {
	tids_ledger_write_fn *w;
	void *ctx;
	struct tids_jw jw;
	crypto_generichash_blake2b_state *hash;  /* NULL: not started */
	uint64_t lines;
	int err;
};

int proof_writer_init(struct proof_writer *pw, tids_ledger_write_fn *w, void *ctx);
/* Emits the line built in pw->jw (one JSON value) with its '\n'. */
int proof_writer_emit(struct proof_writer *pw);
int proof_writer_end(struct proof_writer *pw, const struct tids_identity *signer);
/* The same, signed under another domain (statements are not bundles). */
int proof_writer_end_domain(struct proof_writer *pw, const struct tids_identity *signer, const char *domain);
void proof_writer_free(struct proof_writer *pw);

/* Line builders shared by proofs and bundles. */
void proof_line_segment(struct tids_jw *jw, int32_t partition, uint64_t first_seq);
void proof_line_blob(struct tids_jw *jw, const char *key, const uint8_t *data, size_t len);

/* Writes one chain segment: the anchor checkpoint (if from_seq > 1), every
 * entry from from_seq to to_seq, and the checkpoints among them (to_seq must
 * be a checkpoint's). Shows each entry to fn (to collect ingress keys). */
typedef int proof_ingress_fn(void *ctx, const struct tids_audit_entry *e);
int proof_write_segment(struct tids_ledger *l, struct proof_writer *pw, int32_t partition, uint64_t from_seq,
			uint64_t to_seq, proof_ingress_fn *fn, void *fctx, char *err, size_t errlen);
/* Writes the ingress line of (partition, offset), if the ledger has it;
 * record supplies the record bytes when the ledger lacks them. */
int proof_write_ingress(struct tids_ledger *l, struct proof_writer *pw, int32_t partition, int64_t offset,
			const struct tids_bytes *record, bool *found, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
