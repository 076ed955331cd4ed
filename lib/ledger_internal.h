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

enum ledger_stmt {
	LS_BEGIN, LS_COMMIT, LS_ROLLBACK,
	LS_INS_ENTRY, LS_INS_RULE, LS_ENTRY_BYTES,
	LS_INS_CHECKPOINT, LS_INS_INGRESS,
	LS_GET_OFFSET, LS_SET_OFFSET,
	LS_LAST_ENTRY, LS_LAST_CHECKPOINT,
	LS_GET_META, LS_SET_META,
	LS_COUNT
};

struct tids_ledger {
	sqlite3 *db;
	char *path;
	bool writable;
	bool in_tx;
	size_t pending;
	sqlite3_stmt *st[LS_COUNT];
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
int tids_ledger_connect(const char *path, bool writable, sqlite3 **db, char *err, size_t errlen);

/* Runs a statement that returns no rows, then resets it. */
int tids_ledger_step_done(sqlite3_stmt *st);

/* Starts the writer's batch transaction if none is open. */
int tids_ledger_begin(struct tids_ledger *l);

/* head = BLAKE2b-256(prev || bytes): the chain rule. */
void tids_ledger_chain_hash(const uint8_t prev[TIDS_HASH_BYTES], const uint8_t *bytes, size_t len,
		       uint8_t head[TIDS_HASH_BYTES]);

/* Does the checkpoint's signature verify with pk? */
bool tids_ledger_checkpoint_valid(const struct tids_audit_checkpoint *cp, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES]);

/* The first disagreement between an index row (columns 2.. of the entry
 * table as selected by LEDGER_ENTRY_COLUMNS) and the decoded entry: the
 * column's name, or NULL when they agree. */
#define LEDGER_ENTRY_COLUMNS "id, bytes, decided_at, record_id, owner, recipient, purpose, decision, tier, " \
			     "category, origin, destination, grant_id, approval_id"
#define LEDGER_ENTRY_COLUMNS_Q "entry.id, entry.bytes, entry.decided_at, entry.record_id, entry.owner, " \
			       "entry.recipient, entry.purpose, entry.decision, entry.tier, entry.category, " \
			       "entry.origin, entry.destination, entry.grant_id, entry.approval_id"
const char *tids_ledger_row_mismatch(sqlite3_stmt *st, const struct tids_audit_entry *e);

/* Lists the chains that have entries or checkpoints (and those pinned)
 * into rep->chains, unsorted, each zeroed but for its partition. */
int tids_ledger_list_chains(sqlite3 *db, const struct tids_ledger_verify_opts *o, struct tids_ledger_verify_report *rep);

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
int tids_ledger_scan_entry(const uint8_t *b, size_t len, struct ledger_entry_view *v);

/* The same comparison for an entry read through the view. */
const char *tids_ledger_view_mismatch(sqlite3_stmt *st, const struct ledger_entry_view *v);

/* Country of a jurisdiction code ("CN-SH" -> "CN"), into 3 bytes. */
void tids_ledger_country(const char *jurisdiction, char out[3]);

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

/* The writer's functions are ledger_proof.c's own (static): only it writes
 * proofs and bundles. */
typedef int proof_ingress_fn(void *ctx, const struct tids_audit_entry *e);

#pragma GCC visibility pop

#endif
