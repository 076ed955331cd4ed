/*
 * The audit ledger: the entries and signed checkpoints of the audit topic
 * (one hash chain per partition) and the publishers' batch material from
 * the ingress topic, kept in an SQLite file of their own. tidsd's indexer
 * writes it; auditors query, verify, prove, export and prune it with
 * tidsctl, also while the daemon is stopped. Nothing here trusts the file:
 * every answer is recomputed from the entry bytes, the chain and the hub's
 * signatures.
 *
 * Entries are keyed by id = partition << 40 | seq, so a scan in id order is
 * a walk along each chain.
 */
#ifndef TIDS_LEDGER_H
#define TIDS_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/crypto.h"
#include "tids/record.h"
#include "tids/wire.h"

#define TIDS_LEDGER_SEQ_BITS 40
#define TIDS_LEDGER_SEQ_MAX ((UINT64_C(1) << TIDS_LEDGER_SEQ_BITS) - 1)
#define TIDS_LEDGER_PARTITION_MAX ((1 << 22) - 1)

/* Exported bundles (and optionally proofs) are signed under this domain;
 * it is no prefix of, and has none of, the other TIDS_DOMAIN_* strings. */
#define TIDS_DOMAIN_BUNDLE "tids.v1.bundle"

/* Retention floors (policy-reference.md §1): six months for everything
 * (Cybersecurity Law Art. 21), three years for core data and for
 * decisions about a transfer across a border. A year is 365 days, as in
 * the policy language. */
#define TIDS_LEDGER_DAY_MS INT64_C(86400000)
#define TIDS_LEDGER_RETAIN_MIN_MS (183 * TIDS_LEDGER_DAY_MS)
#define TIDS_LEDGER_RETAIN_LONG_MIN_MS (3 * 365 * TIDS_LEDGER_DAY_MS)

struct tids_ledger;

enum {
	TIDS_LEDGER_RDONLY = 0,      /* auditors: never writes, works on a copy too */
	TIDS_LEDGER_WRITE = 1,       /* creates the file and schema if missing */
	TIDS_LEDGER_BULK = 2,        /* with WRITE: no fsync (tests and benchmarks only) */
};

__attribute__((warn_unused_result))
int tids_ledger_open(const char *path, int flags, struct tids_ledger **out, char *err, size_t errlen);
/* Configures SQLite for this process once, before its first connection:
 * whatever else opens an SQLite file calls it first. */
void tids_sqlite_setup(void);
/* Commits what is pending (a writer's batch) and closes. NULL is a no-op. */
void tids_ledger_close(struct tids_ledger *l);
const char *tids_ledger_path(const struct tids_ledger *l);

/* The hub whose chains the ledger holds, as the indexer recorded it. The
 * stored key is a hint only: verification takes the key from the caller. */
__attribute__((warn_unused_result))
int tids_ledger_set_hub(struct tids_ledger *l, const char *hub_id, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES]);
/* TIDS_ENOENT when the ledger names no hub yet. */
int tids_ledger_hub(struct tids_ledger *l, char hub_id[TIDS_ID_MAX + 1], uint8_t pk[TIDS_PUBLIC_KEY_BYTES]);

/* --- writing (the indexer) ------------------------------------------------
 * Writes join one open transaction that tids_ledger_commit ends, so a
 * batch of entries and the Kafka offsets that produced it land together. */

/* Adds one entry given as the exact bytes that were chained. The bytes pass
 * the AuditEntry gate. TIDS_EEXIST: the same entry is there already;
 * TIDS_EDUP: a different entry holds its (partition, seq): a fork. */
__attribute__((warn_unused_result))
int tids_ledger_add_entry(struct tids_ledger *l, const uint8_t *bytes, size_t len, char *err, size_t errlen);
/* Where an entry that tids_ledger_add_entry took sits in its chain, read
 * in place without allocating (for a writer that follows the chains as
 * they arrive). TIDS_EDECODE if the bytes are not an entry. */
__attribute__((warn_unused_result))
int tids_ledger_peek_entry(const uint8_t *bytes, size_t len, int32_t *partition, uint64_t *seq,
			   uint8_t prev_hash[TIDS_HASH_BYTES]);
/* Adds a signed checkpoint (stored re-encoded, as the hub signed it). */
__attribute__((warn_unused_result))
int tids_ledger_add_checkpoint(struct tids_ledger *l, const struct tids_audit_checkpoint *cp, char *err,
			       size_t errlen);
/* Keeps what later proves a record's publication: the batch signature,
 * root and Merkle path of the record at (partition, offset) of the ingress
 * topic, its leaf hash when known (NULL if not) and, when the record was
 * not sealed, its bytes. */
__attribute__((warn_unused_result))
int tids_ledger_add_ingress(struct tids_ledger *l, int32_t partition, int64_t offset,
			    const struct tids_ingress_record *ir, const uint8_t leaf_hash[TIDS_HASH_BYTES],
			    char *err, size_t errlen);

enum tids_ledger_topic { TIDS_LEDGER_TOPIC_AUDIT = 0, TIDS_LEDGER_TOPIC_INGRESS = 1 };

/* The next Kafka offset to read of a topic partition; TIDS_ENOENT if none. */
int tids_ledger_offset(struct tids_ledger *l, enum tids_ledger_topic topic, int32_t partition, int64_t *next);
__attribute__((warn_unused_result))
int tids_ledger_set_offset(struct tids_ledger *l, enum tids_ledger_topic topic, int32_t partition, int64_t next);

/* The chain head of a partition as far as the ledger holds it: the last
 * entry's seq and hash, or a pruned prefix's anchor; seq 0 and zeros when
 * the partition is empty. */
__attribute__((warn_unused_result))
int tids_ledger_head(struct tids_ledger *l, int32_t partition, uint64_t *seq, uint8_t head[TIDS_HASH_BYTES]);

/* Ends the open transaction; 0 when none is open. */
__attribute__((warn_unused_result))
int tids_ledger_commit(struct tids_ledger *l);
/* SQLite's page cache for this connection. A writer with a dozen indexes
 * wants tens of MB, or it reads their pages from disk again and again. */
int tids_ledger_set_cache(struct tids_ledger *l, int64_t bytes);
/* Drops the open transaction: after a failed write, the indexer reads the
 * batch again from the offsets the ledger kept. */
void tids_ledger_rollback(struct tids_ledger *l);
/* Rows written since the last commit. */
size_t tids_ledger_pending(const struct tids_ledger *l);

/* --- queries -------------------------------------------------------------- */

struct tids_ledger_filter {
	int64_t since_ms;                /* decided_at >= since; 0: no bound */
	int64_t until_ms;                /* decided_at < until; 0: no bound */
	const char *owner, *recipient, *purpose, *category, *rule_id, *grant_id;
	/* Jurisdictions: a full code ("CN-SH") or a country ("CN", every
	 * code of it). */
	const char *origin, *destination;
	enum tids_decision decision;     /* UNSET: any */
	enum tids_tier tier;             /* UNSET: any */
	bool has_record_id;
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	uint64_t limit;                  /* 0: all */
};

/* Called per matching entry, in decision time order. The entry is decoded
 * from its bytes (not from the index columns) and lives until fn returns.
 * A non-zero return stops the query and is returned. */
typedef int tids_ledger_entry_fn(void *ctx, const struct tids_audit_entry *e);

/* Runs the query. An index row that disagrees with its entry's bytes (the
 * file was edited) stops it with TIDS_EBADSIG and the entry named in err. */
__attribute__((warn_unused_result))
int tids_ledger_query(struct tids_ledger *l, const struct tids_ledger_filter *f, tids_ledger_entry_fn *fn,
		      void *ctx, char *err, size_t errlen);

struct tids_ledger_stat {
	enum tids_decision decision;
	enum tids_tier tier;
	const char *category;
	const char *origin;              /* or the country, with by_country */
	const char *destination;
	uint64_t count;
};
typedef int tids_ledger_stat_fn(void *ctx, const struct tids_ledger_stat *s);

/* Counts by decision x tier x category x (origin, destination) over
 * [since, until); rows sorted by those keys. */
__attribute__((warn_unused_result))
int tids_ledger_stats(struct tids_ledger *l, int64_t since_ms, int64_t until_ms, bool by_country,
		      tids_ledger_stat_fn *fn, void *ctx, char *err, size_t errlen);

/* What a tally counts: decisions of one kind about one party. Strings
 * (and rules, sorted) live until fn returns. */
struct tids_ledger_tally {
	const char *owner, *recipient, *purpose, *category, *origin, *destination, *grant_id, *approval_id;
	enum tids_decision decision;
	enum tids_tier tier;
	const char *const *rules;
	size_t n_rules;
	uint64_t count;
};
typedef int tids_ledger_tally_fn(void *ctx, const struct tids_ledger_tally *t);

/* Counts decisions over [since, until) for every distinct combination of
 * the fields above (in no particular order). Like stats, the counts come
 * from the index: verify the ledger to trust them. */
__attribute__((warn_unused_result))
int tids_ledger_tally(struct tids_ledger *l, int64_t since_ms, int64_t until_ms, tids_ledger_tally_fn *fn, void *ctx,
		      char *err, size_t errlen);
/* The newest checkpoint of a partition (decoded; free it), TIDS_ENOENT if
 * none. */
__attribute__((warn_unused_result))
int tids_ledger_last_checkpoint(struct tids_ledger *l, int32_t partition, struct tids_audit_checkpoint *cp);

/* --- witnesses ---------------------------------------------------------------
 * A peer hub keeps the signed chain heads it received from this hub, one
 * line each, in a witness file:
 *   witness HUB PARTITION SEQ HEAD-HEX SIGNED-AT-MS SIGNATURE-HEX
 * `tidsctl audit verify --witness FILE` requires the ledger to still hold
 * each: a hub that rewrote or cut its history cannot match heads it signed
 * and gave away. */

#define TIDS_WITNESS_LINE_MAX 512

struct tids_witness {
	char hub_id[TIDS_ID_MAX + 1];
	int32_t partition;
	uint64_t seq;
	uint8_t head[TIDS_HASH_BYTES];
	int64_t signed_at_ms;
	uint8_t signature[TIDS_SIGNATURE_BYTES];
};

/* Parses a witness file's text (comments start with '#'); errors name the
 * line. *out is malloc'd (free it), *n its length. */
__attribute__((warn_unused_result))
int tids_witness_parse(const char *text, size_t len, struct tids_witness **out, size_t *n, char *err,
		       size_t errlen);
/* One line, newline included, into buf; the length, or TIDS_ETOOBIG. */
int tids_witness_format(const struct tids_witness *w, char *buf, size_t len);
/* Does the hub's key sign this head? */
bool tids_witness_valid(const struct tids_witness *w, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES]);
void tids_witness_from_checkpoint(const struct tids_audit_checkpoint *cp, struct tids_witness *w);

/* --- verification ---------------------------------------------------------- */

/* What an auditor remembers of an earlier verification (a signed head per
 * chain); a later ledger must still hold it, which catches a truncation
 * that took the checkpoints with it. */
struct tids_ledger_pin {
	int32_t partition;
	uint64_t seq;
	uint8_t head[TIDS_HASH_BYTES];
};

struct tids_ledger_verify_opts {
	unsigned threads;                /* 0: one per CPU */
	int64_t now_ms;                  /* 0: the clock; judges pruned prefixes */
	const struct tids_ledger_pin *pins;
	size_t n_pins;
};

struct tids_ledger_chain_report {
	int32_t partition;
	uint64_t first_seq, last_seq;    /* entries present */
	uint64_t entries, checkpoints;
	uint64_t anchor_seq;             /* > 0: a pruned prefix ends here */
	uint64_t signed_seq;             /* last entry covered by a valid checkpoint */
	uint8_t signed_head[TIDS_HASH_BYTES];
	int64_t signed_at_ms;
	uint64_t unanchored;             /* entries after the last checkpoint */
	bool ok;
	/* The first problem: bad_seq names the first entry that does not
	 * match (or the checkpoint's seq when bad_checkpoint). */
	uint64_t bad_seq;
	bool bad_checkpoint;
	char what[400];
};

struct tids_ledger_verify_report {
	struct tids_ledger_chain_report *chains;  /* by partition */
	size_t n_chains;
	uint64_t entries, checkpoints, unanchored;
	size_t bad_chains;
	/* The classes' rule index (what queries by rule go through), when it
	 * disagrees with the classes: "" when it agrees. */
	char index_bad[400];
	double seconds;
};

/* Recomputes every chain and checks every checkpoint with the hub's key,
 * every index row and profile against its entry's bytes, pruned prefixes
 * against their anchors and the pins. Opens the file itself, read-only (one
 * connection per thread). Returns 0 when all is well, TIDS_EBADSIG when some
 * chain or the rule index is not (see the report), other codes when the
 * file cannot be read. */
__attribute__((warn_unused_result))
int tids_ledger_verify(const char *path, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
		       const struct tids_ledger_verify_opts *o, struct tids_ledger_verify_report *rep,
		       char *err, size_t errlen);
void tids_ledger_verify_report_free(struct tids_ledger_verify_report *rep);

/* --- receipts and witnessed heads (tids/receipt.h) ---------------------------
 * A ledger cut short together with its last checkpoints still verifies;
 * what others hold a hub signature for must still be in it. */

struct tids_receipt_line;

enum tids_receipt_verdict {
	TIDS_RECEIPT_HELD = 0,           /* the ledger holds what the receipt covers */
	TIDS_RECEIPT_PRUNED,             /* pruned with the chain's old segments (past retention): no longer checkable */
	TIDS_RECEIPT_MISSING,            /* entries or publications it covers are missing */
	TIDS_RECEIPT_DIFFERS,            /* the ledger holds something else where it points */
	TIDS_RECEIPT_INVALID,            /* not the hub's (signature, hub id), or altered */
};

struct tids_receipt_check {
	enum tids_receipt_verdict verdict;
	char what[600];                  /* names the receipt and, when not held, what is missing */
};

/* Checks one receipt against the ledger: its signature with hub_pk, that it
 * is this ledger's hub's, and that the ledger holds what it covers: for a
 * delivery, its entry and the chain through the head the hub signed; for a
 * signed head (a peer's witness), the chain through it; for an ingest
 * receipt, the ingress row of every position. now_ms judges what may have
 * been pruned. Returns 0 with res filled, or TIDS_EDB. */
__attribute__((warn_unused_result))
int tids_ledger_check_receipt(struct tids_ledger *l, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			      const struct tids_receipt_line *r, int64_t now_ms, struct tids_receipt_check *res);
const char *tids_receipt_verdict_name(enum tids_receipt_verdict v);

/* --- proofs and bundles -----------------------------------------------------
 * Both are JSON lines (format in tidsctl-audit(1)): a header, chain
 * segments (entry bytes between signed checkpoints), the publishers' batch
 * material, and an end line with the BLAKE2b-256 of everything before it,
 * optionally signed. Each line must be in the canonical form the writer
 * produces, so that no byte of a proof can change without it failing. */

typedef int tids_ledger_write_fn(void *ctx, const void *data, size_t len);

/* A proof of what happened to one record: all its entries with the chain
 * segments around them up to signed checkpoints, and the batch signature
 * and Merkle path of its publication. signer (may be NULL) signs the end
 * line. record (may be NULL) supplies the record's bytes when the ledger
 * has only its leaf hash (it was sealed at ingest). */
__attribute__((warn_unused_result))
int tids_ledger_proof(struct tids_ledger *l, const uint8_t record_id[TIDS_RECORD_ID_BYTES],
		      const struct tids_identity *signer, const struct tids_bytes *record,
		      tids_ledger_write_fn *w, void *ctx, char *err, size_t errlen);

/* Every chain from the last checkpoint before since to the first after
 * until, with the batch material of the records in it, signed by signer
 * (required). Entries after a chain's last checkpoint are left out; their
 * count goes to *unanchored. */
__attribute__((warn_unused_result))
int tids_ledger_export(struct tids_ledger *l, int64_t since_ms, int64_t until_ms,
		       const struct tids_identity *signer, tids_ledger_write_fn *w, void *ctx,
		       uint64_t *unanchored, char *err, size_t errlen);

/* Checking a proof or bundle line by line, in constant memory. No line of
 * the format is longer than this (without its '\n'). */
#define TIDS_PROOF_LINE_MAX (1u << 20)

typedef const uint8_t *tids_proof_key_fn(void *ctx, const char *publisher);

struct tids_proof_opts {
	const uint8_t *hub_pk;           /* required */
	tids_proof_key_fn *publisher_key;/* NULL key: that publisher is not checked */
	void *key_ctx;
	const uint8_t *signer_pk;        /* when set, the end line must be signed by it */
	struct tids_bytes record;        /* record bytes supplied by the caller, if any */
	/* Called for each entry once its chain is proven up to a checkpoint;
	 * of_record: it is about the proof's record. */
	void (*on_entry)(void *ctx, const struct tids_audit_entry *e, bool of_record);
	void *entry_ctx;
};

enum tids_proof_kind { TIDS_PROOF_RECORD = 1, TIDS_PROOF_BUNDLE = 2 };

struct tids_proof_result {
	enum tids_proof_kind kind;
	char hub_id[TIDS_ID_MAX + 1];
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	int64_t since_ms, until_ms, created_ms;
	uint64_t lines, segments, entries, checkpoints, record_entries;
	uint64_t anchored_segments;      /* segments that start at a signed checkpoint or seq 1 */
	uint64_t ingress, ingress_verified;
	bool record_bound;               /* record bytes present and match the leaf and the entries */
	char publisher[TIDS_ID_MAX + 1];
	uint64_t batch_sequence;
	bool is_signed;
	uint8_t signer[TIDS_PUBLIC_KEY_BYTES];
	/* On failure: the line (from 1) and what was wrong. */
	uint64_t bad_line;
	char what[400];
};

struct tids_proof_checker;

__attribute__((warn_unused_result))
int tids_proof_checker_new(const struct tids_proof_opts *o, struct tids_proof_checker **out);
/* One line without its '\n'. Returns 0, or TIDS_EBADSIG (and fails every
 * later call) with the reason in the result. */
__attribute__((warn_unused_result))
int tids_proof_checker_line(struct tids_proof_checker *c, const char *line, size_t len);
/* After the last line: 0 when the whole proof holds. */
__attribute__((warn_unused_result))
int tids_proof_checker_finish(struct tids_proof_checker *c, struct tids_proof_result *res);
void tids_proof_checker_free(struct tids_proof_checker *c);

/* The whole text at once (it must end with '\n'). */
__attribute__((warn_unused_result))
int tids_proof_check(const uint8_t *text, size_t len, const struct tids_proof_opts *o,
		     struct tids_proof_result *res);

/* --- a lessor's usage statement -------------------------------------------------
 * Pay per use and pay per output, proven from the ledger (format in
 * tidsctl-audit(1)): a header (hub, lessor, asset, purpose, period, what
 * is counted how), one line per use (a record of a use category the lessor
 * received, counted once, with the value of its field and the leaf hash the
 * publisher signed) or output (an aggregate the lessor received, with what
 * it said), the totals, and an end line with the digest, signed by the hub
 * under TIDS_DOMAIN_STATEMENT. Uses are judged by their record's time,
 * outputs by their window's start. */
#define TIDS_DOMAIN_STATEMENT "tids.v1.statement"
#define TIDS_STATEMENT_CATEGORIES_MAX 16

struct tids_statement_use {
	const char *category, *field;            /* e.g. run_hours, hours */
};

struct tids_statement_request {
	const char *lessor, *asset, *purpose;    /* purpose: billing by default */
	int64_t since_ms, until_ms;              /* [since, until) */
	const struct tids_statement_use *uses;   /* default: run_hours/hours, cycles/cycles */
	size_t n_uses;
	const char *const *outputs;              /* default: output_count */
	size_t n_outputs;
};

struct tids_statement_total {
	bool output;
	char category[TIDS_NAME_MAX + 1], field[TIDS_NAME_MAX + 1];
	uint64_t lines, records;
	double sum;
};

struct tids_statement_totals {
	struct tids_statement_total by[TIDS_STATEMENT_CATEGORIES_MAX];
	size_t n;
};

/* Fills what the request leaves unset with the defaults. */
void tids_statement_defaults(struct tids_statement_request *rq);
/* Writes the statement, signed by signer (the hub's identity). */
__attribute__((warn_unused_result))
int tids_ledger_statement(struct tids_ledger *l, const struct tids_statement_request *rq,
			  const struct tids_identity *signer, tids_ledger_write_fn *w, void *ctx,
			  struct tids_statement_totals *totals, char *err, size_t errlen);

struct tids_statement_result {
	char hub_id[TIDS_ID_MAX + 1], lessor[TIDS_ID_MAX + 1], asset[TIDS_ID_MAX + 1];
	int64_t since_ms, until_ms;
	uint64_t lines;
	struct tids_statement_totals totals;
	bool signed_ok;                          /* the hub signed exactly these bytes */
	bool ledger_ok;                          /* the ledger verifies and holds exactly these lines */
	uint64_t bad_line;                       /* from 1; 0: not a line's fault */
	char what[400];
};

/* Checks the signature with hub_pk and, with ledger_path, every line
 * against a ledger that verifies (each entry there, signed by a checkpoint,
 * saying the same; no line left out; the totals right); with publisher_pk,
 * also each use's batch signature. 0 when all holds, TIDS_EBADSIG with the
 * reason in res otherwise. */
__attribute__((warn_unused_result))
int tids_statement_check(const uint8_t *text, size_t len, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			 const char *ledger_path, const uint8_t *publisher_pk, struct tids_statement_result *res);

/* --- retention -------------------------------------------------------------- */

enum tids_ledger_class {
	TIDS_LEDGER_CLASS_GENERAL,
	TIDS_LEDGER_CLASS_IMPORTANT,
	TIDS_LEDGER_CLASS_CORE,
	TIDS_LEDGER_CLASS_EXPORT,        /* origin and destination in different countries */
	TIDS_LEDGER_CLASSES
};

const char *tids_ledger_class_name(enum tids_ledger_class c);
/* -1 if name is none of them. */
int tids_ledger_class_parse(const char *name);

/* How long entries are kept, per class; an entry is kept for the longest
 * of the classes it falls in (its tier's, and export's when it crosses a
 * border). Stored in the ledger (defaults: 183 d, 183 d, 3 y, 3 y). */
struct tids_ledger_retention {
	int64_t ms[TIDS_LEDGER_CLASSES];
};

__attribute__((warn_unused_result))
int tids_ledger_retention(struct tids_ledger *l, struct tids_ledger_retention *r);
/* Refuses any period below its floor. */
__attribute__((warn_unused_result))
int tids_ledger_set_retention(struct tids_ledger *l, const struct tids_ledger_retention *r, char *err,
			      size_t errlen);
/* Checks r against the floors alone. */
__attribute__((warn_unused_result))
int tids_ledger_retention_check(const struct tids_ledger_retention *r, char *err, size_t errlen);
/* The retention an entry needs under r. */
int64_t tids_ledger_entry_retention(const struct tids_ledger_retention *r, enum tids_tier tier,
				    const char *origin, const char *destination);

struct tids_ledger_prune_result {
	uint64_t entries, checkpoints, ingress, segments;
	size_t chains;                   /* chains that lost a prefix */
};

/* Removes, per chain, the longest prefix of whole checkpointed segments in
 * which every entry is past its retention at now (judged from the entry's
 * bytes, not the index), keeping the last removed segment's checkpoint as
 * the anchor of what remains. dry_run only counts. */
__attribute__((warn_unused_result))
int tids_ledger_prune(struct tids_ledger *l, const struct tids_ledger_retention *r, int64_t now_ms, bool dry_run,
		      struct tids_ledger_prune_result *res, char *err, size_t errlen);

#endif
