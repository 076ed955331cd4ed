/*
 * The audit ledger on synthetic chains: a clean ledger verifies; every kind
 * of tampering (an edited field, a deleted, inserted or moved entry, a
 * truncated tail, a forged checkpoint, a re-linked chain, an edited index)
 * is caught and the first bad entry named; pruning keeps it verifiable;
 * queries, stats, proofs and bundles say what the chains say.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/ledger.h"
#include "tids/receipt.h"
#include "tids/wire.h"

#define P 2                /* chains */
#define N 50               /* entries per chain */
#define CP_EVERY 10
#define RECS (N / 2)       /* records per chain, two decisions each */
#define DAY INT64_C(86400000)

struct synth {
	char dir[256], path[300];
	struct tids_identity hub, publisher;
	uint8_t head[P][TIDS_HASH_BYTES];
	uint64_t seq[P];
	uint8_t record_id[P][RECS][TIDS_RECORD_ID_BYTES];
	int64_t t0;
};

static struct synth S;
static char err[512];

/* --- building a ledger as the router and indexer would ------------------------- */

static void add_entry(struct tids_ledger *l, struct synth *s, int32_t p, int i, bool second, int64_t t)
{
	static const char *const rules_allow[] = { "lessor_usage", "audit_six_months" };
	static const char *const rules_deny[] = { "default_deny" };
	uint8_t delivered[TIDS_HASH_BYTES];
	struct tids_audit_entry e = { 0 };
	uint8_t *bytes;
	size_t len;

	memset(delivered, 0x5a, sizeof(delivered));
	e.hub_id = "hub-sh1";
	e.partition = p;
	e.seq = ++s->seq[p];
	memcpy(e.prev_hash, s->head[p], TIDS_HASH_BYTES);
	memcpy(e.record_id, s->record_id[p][i], TIDS_RECORD_ID_BYTES);
	e.owner = "factory";
	e.recipient = second ? "bank" : "lessor";
	e.purpose = "billing";
	e.decision = second ? TIDS_DECISION_DENY : TIDS_DECISION_ALLOW;
	e.rule_ids = second ? (struct tids_strlist){ rules_deny, 1 } : (struct tids_strlist){ rules_allow, 2 };
	e.tier = i % 5 == 4 ? TIDS_TIER_IMPORTANT : TIDS_TIER_GENERAL;
	e.category = "run_hours";
	e.origin = "CN-SH";
	e.destination = second && i % 5 == 4 ? "DE" : "CN-SH";
	e.decided_at_ms = t;
	e.ingress_offset = i;
	e.reason = "test";
	if (!second)
		e.delivered_hash = (struct tids_bytes){ delivered, sizeof(delivered) };
	e.asset_id = "press-7";
	e.delivery_seq = second ? 0 : (uint64_t)i + 1;
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &bytes, &len), 0);
	{
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, s->head[p], TIDS_HASH_BYTES);
		crypto_generichash_update(&st, bytes, len);
		crypto_generichash_final(&st, s->head[p], TIDS_HASH_BYTES);
	}
	ck_assert_msg(tids_ledger_add_entry(l, bytes, len, err, sizeof(err)) == 0, "%s", err);
	free(bytes);
}

static void sign_checkpoint(const struct tids_identity *hub, struct tids_audit_checkpoint *cp)
{
	uint8_t *bytes;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_audit_checkpoint_unsigned(cp, &bytes, &len), 0);
	ck_assert_int_eq(tids_sign_detached(hub->sign_sk, TIDS_DOMAIN_CHECKPOINT, bytes, len, cp->signature), 0);
	free(bytes);
}

static void add_checkpoint(struct tids_ledger *l, struct synth *s, int32_t p, int64_t t)
{
	struct tids_audit_checkpoint cp = { .hub_id = "hub-sh1", .partition = p, .seq = s->seq[p], .signed_at_ms = t };

	memcpy(cp.head_hash, s->head[p], TIDS_HASH_BYTES);
	sign_checkpoint(&s->hub, &cp);
	ck_assert_msg(tids_ledger_add_checkpoint(l, &cp, err, sizeof(err)) == 0, "%s", err);
}

/* One batch per chain holds its records; each gets its ingress row. */
static void add_publications(struct tids_ledger *l, struct synth *s, int32_t p)
{
	struct tids_bytes leaves[RECS];
	uint8_t *bufs[RECS], root[TIDS_HASH_BYTES], sig[TIDS_SIGNATURE_BYTES];
	uint8_t path[TIDS_MERKLE_PATH_MAX][TIDS_HASH_BYTES], leaf[TIDS_HASH_BYTES];
	struct tids_field f = { .name = "hours", .value = { .kind = TIDS_VALUE_REAL, .as.d = 12.5 } };

	for (int i = 0; i < RECS; i++) {
		struct tids_record r = { .owner = "factory", .asset_id = "press-7", .category = "run_hours",
					 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .produced_at_ms = s->t0,
					 .schema = "", .fields = &f, .n_fields = 1 };

		randombytes_buf(s->record_id[p][i], TIDS_RECORD_ID_BYTES);
		memcpy(r.record_id, s->record_id[p][i], TIDS_RECORD_ID_BYTES);
		ck_assert_int_eq(tids_wire_encode_record(&r, &bufs[i], &leaves[i].len), 0);
		leaves[i].data = bufs[i];
	}
	ck_assert_int_eq(tids_merkle_root(leaves, RECS, root), 0);
	ck_assert_int_eq(tids_sign_batch(s->publisher.sign_sk, "factory", (uint64_t)p + 1, root, sig), 0);
	for (int i = 0; i < RECS; i++) {
		struct tids_ingress_record ir = { .record = leaves[i], .publisher = "factory", .sequence = (uint64_t)p + 1,
						  .leaf_index = (uint32_t)i, .leaf_count = RECS,
						  .received_at_ms = s->t0 };
		size_t plen;

		ck_assert_int_eq(tids_merkle_path(leaves, RECS, (size_t)i, path, &plen), 0);
		memcpy(ir.record_id, s->record_id[p][i], TIDS_RECORD_ID_BYTES);
		memcpy(ir.batch_root, root, sizeof(root));
		memcpy(ir.batch_signature, sig, sizeof(sig));
		ir.merkle_path = (const uint8_t(*)[TIDS_HASH_BYTES])path;
		ir.n_merkle_path = plen;
		tids_merkle_leaf_hash(leaves[i].data, leaves[i].len, leaf);
		ck_assert_msg(tids_ledger_add_ingress(l, p, i, &ir, leaf, err, sizeof(err)) == 0, "%s", err);
	}
	for (int i = 0; i < RECS; i++)
		free(bufs[i]);
}

/* P chains of N entries, a checkpoint every CP_EVERY; entry times start at
 * t0 and advance a second each. */
static void synth_build(struct synth *s, int64_t t0)
{
	struct tids_ledger *l;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s/check-ledger.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/ledger.db", s->dir);
	ck_assert_int_eq(tids_identity_generate(&s->hub), 0);
	ck_assert_int_eq(tids_identity_generate(&s->publisher), 0);
	s->t0 = t0;
	ck_assert_msg(tids_ledger_open(s->path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(tids_ledger_set_hub(l, "hub-sh1", s->hub.sign_pk), 0);
	for (int32_t p = 0; p < P; p++) {
		add_publications(l, s, p);
		for (int i = 0; i < RECS; i++) {
			add_entry(l, s, p, i, false, t0 + (int64_t)s->seq[p] * 1000);
			add_entry(l, s, p, i, true, t0 + (int64_t)s->seq[p] * 1000);
			if (s->seq[p] % CP_EVERY == 0)
				add_checkpoint(l, s, p, t0 + (int64_t)s->seq[p] * 1000 + 500);
		}
	}
	ck_assert_int_eq(tids_ledger_commit(l), 0);
	tids_ledger_close(l);
}

static void setup(void)
{
	synth_build(&S, (int64_t)time(NULL) * 1000 - 3600000);
}

static void teardown(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", S.dir);
	tids_identity_wipe(&S.hub);
	tids_identity_wipe(&S.publisher);
}

/* --- tampering, as someone with the file and sqlite3 would ------------------------ */

static int64_t id_of(int32_t p, uint64_t seq)
{
	return (int64_t)((uint64_t)p << TIDS_LEDGER_SEQ_BITS | seq);
}

static sqlite3 *raw(void)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(S.path, &db), SQLITE_OK);
	return db;
}

static void sql(sqlite3 *db, const char *q)
{
	char *msg = NULL;

	ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", q, msg);
}

static uint8_t *get_blob(sqlite3 *db, const char *table, int64_t id, size_t *len)
{
	char q[128];
	sqlite3_stmt *st;
	uint8_t *b;

	snprintf(q, sizeof(q), "SELECT bytes FROM %s WHERE id = %lld", table, (long long)id);
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	*len = (size_t)sqlite3_column_bytes(st, 0);
	b = malloc(*len);
	memcpy(b, sqlite3_column_blob(st, 0), *len);
	sqlite3_finalize(st);
	return b;
}

static void put_blob(sqlite3 *db, const char *table, int64_t id, const uint8_t *b, size_t len)
{
	char q[128];
	sqlite3_stmt *st;

	snprintf(q, sizeof(q), "UPDATE %s SET bytes = ?1 WHERE id = %lld", table, (long long)id);
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, b, (int)len, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Lists entry id (small: its posting is two one-byte varints) under
 * profile list `list` too, as someone editing the postings would. */
static void post_under(sqlite3 *db, const char *list, int64_t id)
{
	char q[600], hex[32] = "00";
	uint64_t v = (uint64_t)id << 1;      /* zigzag of the id, time delta 0 */
	size_t n = 2;

	do {
		snprintf(hex + n, sizeof(hex) - n, "%02x", (unsigned)(v & 0x7f) | (v >= 0x80 ? 0x80u : 0u));
		n += 2;
		v >>= 7;
	} while (v != 0);
	snprintf(q, sizeof(q), "INSERT OR IGNORE INTO posting(list, lo, first, n, ids)"
		 " SELECT (%s) << 1, decided_at, id, 1, x'%s' FROM entry WHERE id = %lld", list, hex, (long long)id);
	sql(db, q);
}

/* Points the index row of entry id at a profile whose recipient is
 * mallory, as someone editing the index (not the bytes) would: the
 * entry's profile column, and mallory's postings. */
static void index_says_mallory(sqlite3 *db, int64_t id)
{
	char q[1200], list[100];

	snprintf(q, sizeof(q),
		 "INSERT OR IGNORE INTO name(s) VALUES ('mallory');"
		 "INSERT OR IGNORE INTO profile(owner, recipient, grant_id, approval_id, class)"
		 "  SELECT owner, (SELECT n FROM name WHERE s = 'mallory'), grant_id, approval_id, class FROM profile"
		 "  WHERE n = (SELECT profile FROM entry WHERE id = %lld);"
		 "UPDATE entry SET profile = (SELECT m.n FROM profile AS m, profile AS o WHERE"
		 "  o.n = (SELECT profile FROM entry WHERE id = %lld) AND m.owner = o.owner AND"
		 "  m.recipient = (SELECT n FROM name WHERE s = 'mallory') AND m.grant_id = o.grant_id AND"
		 "  m.approval_id = o.approval_id AND m.class = o.class) WHERE id = %lld",
		 (long long)id, (long long)id, (long long)id);
	sql(db, q);
	snprintf(list, sizeof(list), "SELECT profile FROM entry WHERE id = %lld", (long long)id);
	post_under(db, list, id);
}

/* Re-encodes entry (p, seq) with another recipient (index too);
 * with relink, every later entry up to `relink_to` gets re-chained. */
static void rewrite_entry(sqlite3 *db, int32_t p, uint64_t seq, uint64_t relink_to)
{
	uint8_t head[TIDS_HASH_BYTES];

	for (uint64_t s = seq; s <= (relink_to > seq ? relink_to : seq); s++) {
		struct tids_audit_entry e;
		size_t len, nlen;
		uint8_t *b = get_blob(db, "entry", id_of(p, s), &len), *nb;

		ck_assert_int_eq(tids_wire_decode_audit_entry(b, len, &e, err, sizeof(err)), 0);
		if (s == seq) {
			e.recipient = "mallory";
			index_says_mallory(db, id_of(p, s));
		} else {
			memcpy(e.prev_hash, head, sizeof(head));
		}
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &nb, &nlen), 0);
		crypto_generichash_state st;
		crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, e.prev_hash, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, nb, nlen);
		crypto_generichash_final(&st, head, TIDS_HASH_BYTES);
		put_blob(db, "entry", id_of(p, s), nb, nlen);
		tids_audit_entry_free(&e);
		free(b);
		free(nb);
	}
}

static void run_verify(struct tids_ledger_verify_report *rep, const struct tids_ledger_verify_opts *o)
{
	int r = tids_ledger_verify(S.path, S.hub.sign_pk, o, rep, err, sizeof(err));

	ck_assert_msg(r == 0 || r == TIDS_EBADSIG, "verify: %s", err);
}

static const struct tids_ledger_chain_report *chain(const struct tids_ledger_verify_report *rep, int32_t p)
{
	for (size_t i = 0; i < rep->n_chains; i++)
		if (rep->chains[i].partition == p)
			return &rep->chains[i];
	ck_abort_msg("no chain %d in the report", p);
	return NULL;
}

static void expect_bad(int32_t p, uint64_t seq, bool checkpoint, const char *words)
{
	struct tids_ledger_verify_report rep;
	const struct tids_ledger_chain_report *c;

	run_verify(&rep, NULL);
	c = chain(&rep, p);
	ck_assert_msg(!c->ok, "chain %d verified despite the tampering", p);
	ck_assert_msg(c->bad_seq == seq && c->bad_checkpoint == checkpoint,
		      "named %d:%llu%s, expected %d:%llu: %s", p, (unsigned long long)c->bad_seq,
		      c->bad_checkpoint ? " (checkpoint)" : "", p, (unsigned long long)seq, c->what);
	if (words != NULL)
		ck_assert_msg(strstr(c->what, words) != NULL, "'%s' lacks '%s'", c->what, words);
	ck_assert_uint_eq(rep.bad_chains, 1);
	ck_assert_msg(chain(&rep, 1 - p)->ok, "the other chain failed: %s", chain(&rep, 1 - p)->what);
	tids_ledger_verify_report_free(&rep);
}

/* --- tests --------------------------------------------------------------------- */

START_TEST(clean_ledger_verifies)
{
	struct tids_ledger_verify_report rep;

	run_verify(&rep, NULL);
	ck_assert_msg(rep.bad_chains == 0, "%s", rep.n_chains > 0 ? rep.chains[0].what : "");
	ck_assert_uint_eq(rep.n_chains, P);
	ck_assert_uint_eq(rep.entries, P * N);
	ck_assert_uint_eq(rep.checkpoints, P * N / CP_EVERY);
	ck_assert_uint_eq(rep.unanchored, 0);
	ck_assert_uint_eq(rep.chains[0].signed_seq, N);
	tids_ledger_verify_report_free(&rep);
	/* One thread gives the same verdict. */
	struct tids_ledger_verify_opts one = { .threads = 1 };
	run_verify(&rep, &one);
	ck_assert_uint_eq(rep.bad_chains, 0);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

START_TEST(wrong_hub_key)
{
	struct tids_ledger_verify_report rep;
	struct tids_identity other;

	ck_assert_int_eq(tids_identity_generate(&other), 0);
	ck_assert_int_eq(tids_ledger_verify(S.path, other.sign_pk, NULL, &rep, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_uint_eq(rep.bad_chains, P);
	ck_assert(rep.chains[0].bad_checkpoint);
	ck_assert_uint_eq(rep.chains[0].bad_seq, CP_EVERY);
	tids_ledger_verify_report_free(&rep);
	tids_identity_wipe(&other);
}
END_TEST

START_TEST(edit_index_column)
{
	sqlite3 *db = raw();

	index_says_mallory(db, 7);
	sqlite3_close(db);
	expect_bad(0, 7, false, "recipient");
}
END_TEST

START_TEST(edit_entry_bytes)
{
	sqlite3 *db = raw();

	rewrite_entry(db, 1, 7, 0);
	sqlite3_close(db);
	expect_bad(1, 7, false, "changed");
}
END_TEST

START_TEST(edit_last_entry_of_segment)
{
	sqlite3 *db = raw();

	rewrite_entry(db, 0, 20, 0);
	sqlite3_close(db);
	/* Checkpoint 10 vouches for 1..10, so 20 is alone in doubt? No: 11..20
	 * all hash into checkpoint 20; only an entry right after a checkpoint
	 * can be named alone. The report names the first not vouched for. */
	expect_bad(0, 11, false, "checkpoint 0:20");
}
END_TEST

START_TEST(edit_and_relink)
{
	sqlite3 *db = raw();

	rewrite_entry(db, 0, 13, 20);
	sqlite3_close(db);
	expect_bad(0, 11, false, "re-linked");
}
END_TEST

START_TEST(edit_first_after_checkpoint)
{
	sqlite3 *db = raw();

	rewrite_entry(db, 0, 11, 20);
	sqlite3_close(db);
	expect_bad(0, 11, false, NULL);
}
END_TEST

START_TEST(delete_entry)
{
	sqlite3 *db = raw();

	sql(db, "DELETE FROM entry WHERE id = 7");
	sqlite3_close(db);
	expect_bad(0, 7, false, "missing");
}
END_TEST

START_TEST(delete_and_renumber)
{
	sqlite3 *db = raw();
	char q[200];

	sql(db, "DELETE FROM entry WHERE id = 7");
	for (uint64_t s = 8; s <= N; s++) {
		snprintf(q, sizeof(q), "UPDATE entry SET id = %llu WHERE id = %llu", (unsigned long long)s - 1,
			 (unsigned long long)s);
		sql(db, q);
	}
	sqlite3_close(db);
	expect_bad(0, 7, false, NULL);
}
END_TEST

START_TEST(insert_entry)
{
	sqlite3 *db = raw();
	struct tids_audit_entry e;
	size_t len, nlen;
	uint8_t *b = get_blob(db, "entry", id_of(0, 7), &len), *nb;
	sqlite3_stmt *st;
	char q[400];

	/* A well-formed entry at seq 7, chained to 6, the rest moved up. */
	ck_assert_int_eq(tids_wire_decode_audit_entry(b, len, &e, err, sizeof(err)), 0);
	e.recipient = "mallory";
	e.decision = TIDS_DECISION_ALLOW;
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &nb, &nlen), 0);
	for (uint64_t s = N; s >= 7; s--) {
		snprintf(q, sizeof(q), "UPDATE entry SET id = %llu WHERE id = %llu", (unsigned long long)s + 1,
			 (unsigned long long)s);
		sql(db, q);
	}
	snprintf(q, sizeof(q), "INSERT INTO entry SELECT 7, decided_at, profile, class, record_id, ?1 FROM entry"
		 " WHERE id = 8");
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, nb, (int)nlen, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	index_says_mallory(db, 7);
	tids_audit_entry_free(&e);
	free(b);
	free(nb);
	sqlite3_close(db);
	expect_bad(0, 7, false, "inserted");
}
END_TEST

START_TEST(insert_copy)
{
	sqlite3 *db = raw();

	/* A copy of entry 3 appended after the chain. */
	sql(db, "INSERT INTO entry SELECT 51, decided_at, profile, class, record_id, bytes FROM entry WHERE id = 3");
	sqlite3_close(db);
	expect_bad(0, 51, false, "again");
}
END_TEST

START_TEST(swap_entries)
{
	sqlite3 *db = raw();

	sql(db, "UPDATE entry SET id = 1000 WHERE id = 7; UPDATE entry SET id = 7 WHERE id = 12;"
		"UPDATE entry SET id = 12 WHERE id = 1000");
	sqlite3_close(db);
	expect_bad(0, 7, false, "not in its place");
}
END_TEST

START_TEST(swap_adjacent)
{
	sqlite3 *db = raw();

	sql(db, "UPDATE entry SET id = 1000 WHERE id = 7; UPDATE entry SET id = 7 WHERE id = 8;"
		"UPDATE entry SET id = 8 WHERE id = 1000");
	sqlite3_close(db);
	expect_bad(0, 7, false, NULL);
}
END_TEST

START_TEST(truncate_tail)
{
	sqlite3 *db = raw();
	char q[200];

	snprintf(q, sizeof(q), "DELETE FROM entry WHERE id >= %lld; DELETE FROM record WHERE first >= %lld",
		 (long long)id_of(1, 48), (long long)id_of(1, 48));
	sql(db, q);
	sqlite3_close(db);
	expect_bad(1, 48, false, "truncated");
}
END_TEST

START_TEST(truncate_tail_with_checkpoints)
{
	struct tids_ledger_verify_report rep;
	struct tids_ledger_pin pin;
	struct tids_ledger_verify_opts o = { .pins = &pin, .n_pins = 1 };
	sqlite3 *db;

	/* What an earlier verification pinned: chain 1 signed up to N. */
	run_verify(&rep, NULL);
	pin.partition = 1;
	pin.seq = chain(&rep, 1)->signed_seq;
	memcpy(pin.head, chain(&rep, 1)->signed_head, TIDS_HASH_BYTES);
	ck_assert_uint_eq(pin.seq, N);
	tids_ledger_verify_report_free(&rep);
	db = raw();
	sql(db, "DELETE FROM entry WHERE id >= 1099511627821; DELETE FROM record WHERE first >= 1099511627821;"
		"DELETE FROM checkpoint WHERE id >= 1099511627821");   /* 1:45.. */
	sqlite3_close(db);
	/* Without the pin, nothing says the tail existed: the chain ends at
	 * 1:44 and 1:41..44 are not signed. */
	run_verify(&rep, NULL);
	ck_assert_uint_eq(rep.bad_chains, 0);
	ck_assert_uint_eq(chain(&rep, 1)->unanchored, 4);
	tids_ledger_verify_report_free(&rep);
	run_verify(&rep, &o);
	ck_assert(!chain(&rep, 1)->ok);
	ck_assert_uint_eq(chain(&rep, 1)->bad_seq, 45);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

/* What a peer hub witnessed: the last signed head of chain 1, as a line of
 * its witness file. A cut that took the checkpoints with it verifies on its
 * own, not against the witness; the witness checks out only with the
 * hub's key. */
START_TEST(witness_catches_a_cut)
{
	struct tids_ledger_verify_report rep;
	struct tids_audit_checkpoint cp;
	struct tids_witness w, *parsed;
	struct tids_ledger_pin pin;
	struct tids_ledger_verify_opts o = { .pins = &pin, .n_pins = 1 };
	struct tids_ledger *l;
	struct tids_receipt_line rl;
	struct tids_receipt_check res;
	char line[TIDS_WITNESS_LINE_MAX + 2], text[2 * sizeof(line) + 64];
	size_t n;
	sqlite3 *db;

	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_last_checkpoint(l, 1, &cp), 0);
	ck_assert_uint_eq(cp.seq, N);
	tids_witness_from_checkpoint(&cp, &w);
	tids_audit_checkpoint_free(&cp);
	ck_assert_int_eq(tids_ledger_last_checkpoint(l, 7, &cp), TIDS_ENOENT);
	tids_ledger_close(l);
	ck_assert(tids_witness_valid(&w, S.hub.sign_pk));
	ck_assert(!tids_witness_valid(&w, S.publisher.sign_pk));
	ck_assert_int_gt(tids_witness_format(&w, line, sizeof(line)), 0);
	snprintf(text, sizeof(text), "# a comment\r\n\n%s", line);
	ck_assert_int_eq(tids_witness_parse(text, strlen(text), &parsed, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(memcmp(parsed, &w, sizeof(w)) == 0);
	parsed[0].seq--;
	ck_assert(!tids_witness_valid(&parsed[0], S.hub.sign_pk));
	free(parsed);
	pin.partition = w.partition;
	pin.seq = w.seq;
	memcpy(pin.head, w.head, TIDS_HASH_BYTES);
	run_verify(&rep, &o);
	ck_assert_uint_eq(rep.bad_chains, 0);
	tids_ledger_verify_report_free(&rep);
	/* The line of the first witness format reads as a receipts' head line,
	 * checked by the receipts' checker: held now. */
	line[strcspn(line, "\n")] = '\0';
	ck_assert_int_eq(tids_receipt_line_parse(line, strlen(line), &rl, err, sizeof(err)), 0);
	ck_assert_int_eq(rl.kind, TIDS_RECEIPT_HEAD);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_check_receipt(l, S.hub.sign_pk, &rl, (int64_t)time(NULL) * 1000, &res), 0);
	ck_assert_msg(res.verdict == TIDS_RECEIPT_HELD, "%s", res.what);
	ck_assert_int_eq(tids_ledger_check_receipt(l, S.publisher.sign_pk, &rl, (int64_t)time(NULL) * 1000, &res), 0);
	ck_assert_int_eq(res.verdict, TIDS_RECEIPT_INVALID);
	tids_ledger_close(l);
	db = raw();
	sql(db, "DELETE FROM entry WHERE id >= 1099511627817; DELETE FROM record WHERE first >= 1099511627817;"
		"DELETE FROM checkpoint WHERE id >= 1099511627817");   /* 1:41.. */
	sqlite3_close(db);
	run_verify(&rep, NULL);
	ck_assert_uint_eq(rep.bad_chains, 0);
	tids_ledger_verify_report_free(&rep);
	run_verify(&rep, &o);
	ck_assert(!chain(&rep, 1)->ok);
	ck_assert_uint_eq(chain(&rep, 1)->bad_seq, 41);
	tids_ledger_verify_report_free(&rep);
	/* The cut is a verdict of the receipts' checker too. */
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_check_receipt(l, S.hub.sign_pk, &rl, (int64_t)time(NULL) * 1000, &res), 0);
	ck_assert_int_eq(res.verdict, TIDS_RECEIPT_MISSING);
	ck_assert_msg(strstr(res.what, "truncated") != NULL, "%s", res.what);
	tids_ledger_close(l);
	tids_receipt_line_free(&rl);
}
END_TEST

START_TEST(witness_file_rejections)
{
	static const struct {
		const char *text;
		const char *words;
	} bad[] = {
		{ "witness hub 0 1\n", "line 1: not a witness line" },
		{ "# ok\nwitnes hub 0 1 00 1 00\n", "line 2: not a witness line" },
		{ "witness hub@x 0 5 0000000000000000000000000000000000000000000000000000000000000000 1 "
		  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
		  "not a hub id" },
		{ "witness hub -1 5 0000000000000000000000000000000000000000000000000000000000000000 1 "
		  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
		  "bad partition" },
		{ "witness hub 0 0 0000000000000000000000000000000000000000000000000000000000000000 1 "
		  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
		  "bad sequence number" },
		{ "witness hub 0 5 00zz 1 00\n", "head is not 64 hex digits" },
		{ "witness hub 0 5 0000000000000000000000000000000000000000000000000000000000000000 1 0011\n",
		  "signature is not 128 hex digits" },
		{ "witness hub 0 5 0000000000000000000000000000000000000000000000000000000000000000 x "
		  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
		  "bad signing time" },
	};
	struct tids_witness *w;
	char longline[TIDS_WITNESS_LINE_MAX + 10];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_lt(tids_witness_parse(bad[i].text, strlen(bad[i].text), &w, &n, err, sizeof(err)), 0);
		ck_assert_msg(strstr(err, bad[i].words) != NULL, "case %zu: %s", i, err);
		ck_assert_ptr_null(w);
	}
	memset(longline, 'a', sizeof(longline));
	ck_assert_int_eq(tids_witness_parse(longline, sizeof(longline), &w, &n, err, sizeof(err)), TIDS_ETOOBIG);
	ck_assert_int_eq(tids_witness_parse("", 0, &w, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 0);
	free(w);
}
END_TEST

START_TEST(forged_checkpoint_signature)
{
	sqlite3 *db = raw();
	size_t len;
	uint8_t *b = get_blob(db, "checkpoint", id_of(0, 20), &len);

	b[len - 1] ^= 0x01;                      /* the signature is the last field */
	put_blob(db, "checkpoint", id_of(0, 20), b, len);
	free(b);
	sqlite3_close(db);
	expect_bad(0, 20, true, "signature");
}
END_TEST

START_TEST(checkpoint_signed_by_another_key)
{
	sqlite3 *db = raw();
	struct tids_identity other;
	struct tids_audit_checkpoint cp;
	size_t len, nlen;
	uint8_t *b = get_blob(db, "checkpoint", id_of(1, 30), &len), *nb;

	ck_assert_int_eq(tids_identity_generate(&other), 0);
	ck_assert_int_eq(tids_wire_decode_audit_checkpoint(b, len, &cp, err, sizeof(err)), 0);
	sign_checkpoint(&other, &cp);
	ck_assert_int_eq(tids_wire_encode_audit_checkpoint(&cp, &nb, &nlen), 0);
	put_blob(db, "checkpoint", id_of(1, 30), nb, nlen);
	tids_audit_checkpoint_free(&cp);
	tids_identity_wipe(&other);
	free(b);
	free(nb);
	sqlite3_close(db);
	expect_bad(1, 30, true, "signature");
}
END_TEST

static int count_cb(void *ctx, const struct tids_audit_entry *e);

START_TEST(edit_rule_index)
{
	struct tids_ledger_verify_report rep;
	struct tids_ledger_filter f = { .rule_id = "lessor_usage" };
	struct tids_ledger *l;
	sqlite3 *db = raw();
	int n = 0;

	/* The rows queries by rule go through, moved to another rule: the
	 * entries of lessor_usage would vanish from those queries. */
	sql(db, "INSERT OR IGNORE INTO name(s) VALUES ('regulator_override');"
		"UPDATE class_rule SET rule = (SELECT n FROM name WHERE s = 'regulator_override')"
		" WHERE rule = (SELECT n FROM name WHERE s = 'lessor_usage')");
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_query(l, &f, count_cb, &n, err, sizeof(err)), 0);
	ck_assert_int_eq(n, 0);
	tids_ledger_close(l);
	ck_assert_int_eq(tids_ledger_verify(S.path, S.hub.sign_pk, NULL, &rep, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_uint_eq(rep.bad_chains, 0);
	ck_assert_msg(strstr(rep.index_bad, "rule index") != NULL, "%s", rep.index_bad);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

START_TEST(edit_class_rules)
{
	/* The class itself made to name another rule: every entry of the
	 * class then disagrees with it, the first of each chain is named. */
	struct tids_ledger_verify_report rep;
	sqlite3 *db = raw();

	sql(db, "INSERT OR IGNORE INTO name(s) VALUES ('regulator_override');"
		"UPDATE class SET rules = replace(rules, (SELECT n FROM name WHERE s = 'lessor_usage'),"
		" (SELECT n FROM name WHERE s = 'regulator_override'))");
	sqlite3_close(db);
	run_verify(&rep, NULL);
	ck_assert_uint_eq(rep.bad_chains, P);
	ck_assert_uint_eq(chain(&rep, 0)->bad_seq, 1);
	ck_assert_msg(strstr(chain(&rep, 0)->what, "rules") != NULL, "%s", chain(&rep, 0)->what);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

START_TEST(garbage_bytes)
{
	sqlite3 *db = raw();

	sql(db, "UPDATE entry SET bytes = x'0a0b' WHERE id = 4");
	sqlite3_close(db);
	expect_bad(0, 4, false, "decode");
}
END_TEST

/* --- retention and pruning ---------------------------------------------------------- */

START_TEST(prune_respects_retention)
{
	struct tids_ledger_prune_result res;
	struct tids_ledger_retention ret;
	struct tids_ledger *l;

	/* Every segment holds an export decision (seq 10, 20, ...), kept 3
	 * years: 200 days on, nothing may go; 3 years and a day on, all of it
	 * (the dry run only counts). */
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_retention(l, &ret), 0);
	ck_assert_int_eq(ret.ms[TIDS_LEDGER_CLASS_GENERAL], 183 * DAY);
	ck_assert_int_eq(ret.ms[TIDS_LEDGER_CLASS_EXPORT], 3 * 365 * DAY);
	ck_assert_int_eq(tids_ledger_prune(l, &ret, S.t0 + 200 * DAY, false, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.entries, 0);
	ck_assert_int_eq(tids_ledger_prune(l, &ret, S.t0 + 1096 * DAY, true, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.entries, P * N);
	ck_assert_uint_eq(res.segments, P * N / CP_EVERY);
	/* A longer retention is data in the ledger; a shorter one than the
	 * floor is refused. */
	ret.ms[TIDS_LEDGER_CLASS_EXPORT] = 4 * 365 * DAY;
	ck_assert_int_eq(tids_ledger_set_retention(l, &ret, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_prune(l, &ret, S.t0 + 1096 * DAY, true, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.entries, 0);
	ret.ms[TIDS_LEDGER_CLASS_CORE] = 365 * DAY;
	ck_assert_int_eq(tids_ledger_set_retention(l, &ret, err, sizeof(err)), TIDS_EINVAL);
	tids_ledger_close(l);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_retention(l, &ret), 0);
	ck_assert_int_eq(ret.ms[TIDS_LEDGER_CLASS_EXPORT], 4 * 365 * DAY);
	tids_ledger_close(l);
}
END_TEST

/* A ledger whose first 20 entries per chain are old and domestic. */
START_TEST(prune_whole_segments)
{
	struct tids_ledger_verify_report rep;
	struct tids_ledger_prune_result res;
	struct tids_ledger_retention ret;
	struct tids_ledger *l;
	int64_t now;
	sqlite3 *db;

	/* Entry k is decided at t0 + (k-1) s; at t0 + 3 y + 25 s the export
	 * decisions at 10 and 20 are past 3 years, the one at 30 is not: the
	 * segments (0,10] and (10,20] go, checkpoint 20 stays as the anchor. */
	teardown();
	synth_build(&S, (int64_t)time(NULL) * 1000 - 400 * DAY);
	now = S.t0 + 3 * 365 * DAY + 25 * 1000;
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_retention(l, &ret), 0);
	ck_assert_msg(tids_ledger_prune(l, &ret, now, false, &res, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(res.entries, P * 20);
	ck_assert_uint_eq(res.segments, P * 2);
	ck_assert_uint_eq(res.chains, P);
	ck_assert_uint_eq(res.checkpoints, P);
	/* Nothing else may go at this time: a second prune is a no-op. */
	ck_assert_int_eq(tids_ledger_prune(l, &ret, now, false, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.entries, 0);
	tids_ledger_close(l);
	{
		struct tids_ledger_verify_opts o = { .now_ms = now };

		run_verify(&rep, &o);
		ck_assert_msg(rep.bad_chains == 0, "%s", rep.chains[0].what);
		ck_assert_uint_eq(rep.chains[0].anchor_seq, 20);
		ck_assert_uint_eq(rep.entries, P * (N - 20));
		tids_ledger_verify_report_free(&rep);
	}
	/* The next segment removed by hand with its anchor: caught. */
	db = raw();
	sql(db, "DELETE FROM entry WHERE id <= 30;"
		"DELETE FROM checkpoint WHERE id <= 30");
	sqlite3_close(db);
	{
		struct tids_ledger_verify_opts o = { .now_ms = now };

		run_verify(&rep, &o);
		ck_assert(!chain(&rep, 0)->ok);
		ck_assert_uint_eq(chain(&rep, 0)->bad_seq, 1);
		ck_assert(chain(&rep, 1)->ok);
		tids_ledger_verify_report_free(&rep);
	}
}
END_TEST

START_TEST(removal_is_not_pruning)
{
	/* Entries 1..10 deleted from a young ledger, checkpoint 10 kept: the
	 * anchor is too young for that to be a pruning. */
	sqlite3 *db = raw();

	sql(db, "DELETE FROM entry WHERE id <= 10");
	sqlite3_close(db);
	expect_bad(0, 1, false, "not pruned");
}
END_TEST

START_TEST(retention_floors)
{
	struct tids_ledger_retention r = { { 183 * DAY, 183 * DAY, 3 * 365 * DAY, 3 * 365 * DAY } };

	ck_assert_int_eq(tids_ledger_retention_check(&r, err, sizeof(err)), 0);
	r.ms[TIDS_LEDGER_CLASS_GENERAL] = 182 * DAY;
	ck_assert_int_eq(tids_ledger_retention_check(&r, err, sizeof(err)), TIDS_EINVAL);
	r.ms[TIDS_LEDGER_CLASS_GENERAL] = 183 * DAY;
	r.ms[TIDS_LEDGER_CLASS_CORE] = 2 * 365 * DAY;
	ck_assert_int_eq(tids_ledger_retention_check(&r, err, sizeof(err)), TIDS_EINVAL);
	r.ms[TIDS_LEDGER_CLASS_CORE] = 3 * 365 * DAY;
	ck_assert_int_eq(tids_ledger_entry_retention(&r, TIDS_TIER_GENERAL, "CN-SH", "CN-HB"), 183 * DAY);
	ck_assert_int_eq(tids_ledger_entry_retention(&r, TIDS_TIER_GENERAL, "CN-SH", "DE"), 3 * 365 * DAY);
	ck_assert_int_eq(tids_ledger_entry_retention(&r, TIDS_TIER_CORE, "CN-SH", "CN-SH"), 3 * 365 * DAY);
	ck_assert_int_eq(tids_ledger_class_parse("export"), TIDS_LEDGER_CLASS_EXPORT);
	ck_assert_int_eq(tids_ledger_class_parse("nope"), -1);
}
END_TEST

/* --- queries and stats ---------------------------------------------------------------- */

static int count_cb(void *ctx, const struct tids_audit_entry *e)
{
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

static int query_count(const struct tids_ledger_filter *f)
{
	struct tids_ledger *l;
	int n = 0;

	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_msg(tids_ledger_query(l, f, count_cb, &n, err, sizeof(err)) == 0, "%s", err);
	tids_ledger_close(l);
	return n;
}

START_TEST(queries)
{
	struct tids_ledger_filter f = { 0 };

	ck_assert_int_eq(query_count(&f), P * N);
	f.recipient = "lessor";
	ck_assert_int_eq(query_count(&f), P * RECS);
	f.decision = TIDS_DECISION_DENY;
	ck_assert_int_eq(query_count(&f), 0);
	memset(&f, 0, sizeof(f));
	f.decision = TIDS_DECISION_DENY;
	ck_assert_int_eq(query_count(&f), P * RECS);
	memset(&f, 0, sizeof(f));
	f.rule_id = "lessor_usage";
	ck_assert_int_eq(query_count(&f), P * RECS);
	memset(&f, 0, sizeof(f));
	f.origin = "CN";
	f.destination = "DE";
	ck_assert_int_eq(query_count(&f), P * RECS / 5);
	f.origin = "CN-SH";
	ck_assert_int_eq(query_count(&f), P * RECS / 5);
	f.destination = "CN";
	ck_assert_int_eq(query_count(&f), P * N - P * RECS / 5);
	memset(&f, 0, sizeof(f));
	f.tier = TIDS_TIER_IMPORTANT;
	ck_assert_int_eq(query_count(&f), P * 2 * RECS / 5);
	memset(&f, 0, sizeof(f));
	f.has_record_id = true;
	memcpy(f.record_id, S.record_id[1][3], TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(query_count(&f), 2);
	memset(&f, 0, sizeof(f));
	f.since_ms = S.t0 + 11 * 1000;
	f.until_ms = S.t0 + 21 * 1000;
	ck_assert_int_eq(query_count(&f), P * 10);
	f.limit = 3;
	ck_assert_int_eq(query_count(&f), 3);
	memset(&f, 0, sizeof(f));
	f.owner = "nobody";
	ck_assert_int_eq(query_count(&f), 0);
	f.owner = "factory";
	f.category = "run_hours";
	f.purpose = "billing";
	ck_assert_int_eq(query_count(&f), P * N);
}
END_TEST

/* The entry counts of classes and profiles only guide the planner: lies
 * in them change no answer. */
START_TEST(query_ignores_lying_counts)
{
	struct tids_ledger_filter f = { .rule_id = "lessor_usage", .limit = 5 };
	sqlite3 *db = raw();

	sql(db, "UPDATE class SET entries = 0; UPDATE profile SET entries = 1000000000 WHERE n % 2 = 0");
	sqlite3_close(db);
	ck_assert_int_eq(query_count(&f), 5);
	f.limit = 0;
	ck_assert_int_eq(query_count(&f), P * RECS);
	memset(&f, 0, sizeof(f));
	f.recipient = "lessor";
	ck_assert_int_eq(query_count(&f), P * RECS);
	db = raw();
	sql(db, "UPDATE class SET entries = 1000000000 WHERE n % 3 = 0; UPDATE profile SET entries = -5");
	sqlite3_close(db);
	ck_assert_int_eq(query_count(&f), P * RECS);
	memset(&f, 0, sizeof(f));
	f.decision = TIDS_DECISION_DENY;
	ck_assert_int_eq(query_count(&f), P * RECS);
}
END_TEST

/* A run of a record's entries taken out of the record index: the record's
 * proofs and queries would miss them, and verify says so. */
START_TEST(record_index_row_deleted)
{
	struct tids_ledger_filter f = { .has_record_id = true };
	sqlite3 *db = raw();

	memcpy(f.record_id, S.record_id[0][3], TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(query_count(&f), 2);
	sql(db, "DELETE FROM record WHERE first = (SELECT min(first) FROM record WHERE first > 10 AND first < 1000)");
	sqlite3_close(db);
	expect_bad(0, 11, false, "record index");
}
END_TEST

START_TEST(query_refuses_an_edited_index)
{
	struct tids_ledger_filter f = { .recipient = "mallory" };
	struct tids_ledger *l;
	sqlite3 *db = raw();
	int n = 0;

	index_says_mallory(db, 5);
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_query(l, &f, count_cb, &n, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "0:5"));
	ck_assert_int_eq(n, 0);
	tids_ledger_close(l);
}
END_TEST

/* Only the postings edited: lessor's entry 5 listed under the profile of
 * bank's entries to DE (few: the query merges their postings). */
START_TEST(query_refuses_an_edited_posting)
{
	struct tids_ledger_filter f = { .recipient = "bank", .destination = "DE" };
	struct tids_ledger *l;
	sqlite3 *db = raw();
	int n = 0;

	post_under(db, "SELECT profile FROM entry WHERE id = 10", 5);
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_query(l, &f, count_cb, &n, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_msg(strstr(err, "0:5") != NULL && strstr(err, "profile it does not have") != NULL, "%s", err);
	tids_ledger_close(l);
}
END_TEST

/* A posting row taken out hides entries from queries by profile or
 * class; verify names the list, the chains are fine. */
START_TEST(verify_names_a_posting_taken_out)
{
	struct tids_ledger_verify_report rep;
	sqlite3 *db = raw();

	sql(db, "DELETE FROM posting WHERE (list, lo, first) = (SELECT list, lo, first FROM posting"
		" WHERE list % 2 = 1 LIMIT 1)");
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_verify(S.path, S.hub.sign_pk, NULL, &rep, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_uint_eq(rep.bad_chains, 0);
	ck_assert_msg(strstr(rep.index_bad, "the postings of class") != NULL &&
		      strstr(rep.index_bad, "miss entries") != NULL, "%s", rep.index_bad);
	tids_ledger_verify_report_free(&rep);
	/* And all of them gone. */
	db = raw();
	sql(db, "DELETE FROM posting");
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_verify(S.path, S.hub.sign_pk, NULL, &rep, err, sizeof(err)), TIDS_EBADSIG);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

START_TEST(verify_names_a_posting_added)
{
	struct tids_ledger_verify_report rep;
	sqlite3 *db = raw();

	post_under(db, "SELECT profile FROM entry WHERE id = 10", 5);
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_verify(S.path, S.hub.sign_pk, NULL, &rep, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_uint_eq(rep.bad_chains, 0);
	ck_assert_msg(strstr(rep.index_bad, "name entries it does not have") != NULL, "%s", rep.index_bad);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

/* A posting blob cut short: the query says the ledger was altered. */
START_TEST(query_refuses_a_garbled_posting)
{
	struct tids_ledger_filter f = { .recipient = "bank", .destination = "DE" };
	struct tids_ledger *l;
	sqlite3 *db = raw();
	int n = 0;

	sql(db, "UPDATE posting SET ids = substr(ids, 1, length(ids) - 1)");
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_query(l, &f, count_cb, &n, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_msg(strstr(err, "posting list does not decode") != NULL, "%s", err);
	tids_ledger_close(l);
}
END_TEST

/* --- layout 2 (no postings): read as it is, migrated by a writer -------------------- */

struct seen {
	int64_t ids[P * N + 1];
	size_t n;
};

static int seen_cb(void *ctx, const struct tids_audit_entry *e)
{
	struct seen *s = ctx;

	if (s->n < sizeof(s->ids) / sizeof(s->ids[0]))
		s->ids[s->n++] = id_of(e->partition, e->seq);
	return 0;
}

/* What the time walk gives of the filter { bank, DE }. */
static int seen_bank_de_cb(void *ctx, const struct tids_audit_entry *e)
{
	return strcmp(e->recipient, "bank") == 0 && strcmp(e->destination, "DE") == 0 ? seen_cb(ctx, e) : 0;
}

static const struct tids_ledger_filter layout_filters[] = {
	{ .recipient = "bank", .destination = "DE" },
	{ .recipient = "lessor" },
	{ .recipient = "bank", .limit = 7 },
	{ .decision = TIDS_DECISION_DENY },
	{ .rule_id = "lessor_usage", .limit = 5 },
	{ .tier = TIDS_TIER_IMPORTANT },
	{ .origin = "CN", .destination = "DE" },
	{ .owner = "factory", .since_ms = 1, .until_ms = 1 },    /* window set below */
	{ .category = "run_hours", .purpose = "billing" },
};

#define N_LAYOUT_FILTERS (sizeof(layout_filters) / sizeof(layout_filters[0]))

static void answers(struct seen *out)
{
	struct tids_ledger *l;

	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	for (size_t i = 0; i < N_LAYOUT_FILTERS; i++) {
		struct tids_ledger_filter f = layout_filters[i];

		if (f.since_ms == 1) {
			f.since_ms = S.t0 + 7 * 1000;
			f.until_ms = S.t0 + 31 * 1000;
		}
		out[i].n = 0;
		ck_assert_msg(tids_ledger_query(l, &f, seen_cb, &out[i], err, sizeof(err)) == 0, "%s", err);
	}
	tids_ledger_close(l);
}

static const char *schema_of(sqlite3 *db)
{
	static char v[16];
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	snprintf(v, sizeof(v), "%.*s", sqlite3_column_bytes(st, 0), (const char *)sqlite3_column_blob(st, 0));
	sqlite3_finalize(st);
	return v;
}

static int count_of(sqlite3 *db, const char *q)
{
	sqlite3_stmt *st;
	int n;

	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

START_TEST(layout_2_is_read_and_migrated)
{
	static struct seen before[N_LAYOUT_FILTERS], old[N_LAYOUT_FILTERS], after[N_LAYOUT_FILTERS];
	struct tids_ledger_verify_report rep;
	struct tids_ledger *l;
	sqlite3 *db;

	answers(before);
	ck_assert_uint_eq(before[0].n, P * RECS / 5);
	/* The file as a tids of layout 2 wrote it. */
	db = raw();
	sql(db, "DROP TABLE posting; CREATE INDEX entry_by_profile ON entry(profile, decided_at);"
		"CREATE INDEX entry_by_class ON entry(class, decided_at); UPDATE meta SET value = '2' WHERE key = 'schema'");
	sqlite3_close(db);
	answers(old);
	/* A writer moves it to layout 3; the answers stay. */
	ck_assert_msg(tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)) == 0, "%s", err);
	tids_ledger_close(l);
	db = raw();
	ck_assert_str_eq(schema_of(db), "3");
	ck_assert_int_eq(count_of(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('entry_by_profile', "
				  "'entry_by_class')"), 0);
	ck_assert_int_eq(count_of(db, "SELECT sum(n) FROM posting"), 2 * P * N);
	sqlite3_close(db);
	answers(after);
	for (size_t i = 0; i < N_LAYOUT_FILTERS; i++) {
		ck_assert_msg(old[i].n == before[i].n && after[i].n == before[i].n, "filter %zu: %zu, %zu, %zu rows", i,
			      before[i].n, old[i].n, after[i].n);
		ck_assert_msg(memcmp(old[i].ids, before[i].ids, before[i].n * sizeof(int64_t)) == 0 &&
			      memcmp(after[i].ids, before[i].ids, before[i].n * sizeof(int64_t)) == 0,
			      "filter %zu: another order", i);
	}
	run_verify(&rep, NULL);
	ck_assert_uint_eq(rep.bad_chains, 0);
	tids_ledger_verify_report_free(&rep);
}
END_TEST

/*
 * Batches whose times overlap (one chain lagging behind another), entries
 * of a profile split over many posting rows: the merge of a profile's
 * rows gives the order the time index gives.
 */
START_TEST(postings_across_overlapping_batches)
{
	static struct seen merged, walked;
	struct tids_ledger_filter f = { .recipient = "bank", .destination = "DE" }, all = { 0 };
	struct tids_ledger *l;
	struct synth s;

	/* A second ledger: chain 1's batches a minute behind chain 0's. */
	memset(&s, 0, sizeof(s));
	snprintf(s.dir, sizeof(s.dir), "%s", S.dir);
	snprintf(s.path, sizeof(s.path), "%s/overlap.db", S.dir);
	for (int32_t p = 0; p < P; p++)
		for (int i = 0; i < RECS; i++)
			randombytes_buf(s.record_id[p][i], TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(tids_ledger_open(s.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)), 0);
	for (int i = 0; i < RECS; i++) {
		for (int32_t p = 0; p < P; p++) {
			int64_t t = S.t0 + (int64_t)i * 7000 - (p == 1 ? 60000 : 0) + (i % 3 == 0 ? 0 : 1000);

			add_entry(l, &s, p, i, false, t);
			add_entry(l, &s, p, i, true, t);
		}
		if (i % 4 == 3)
			ck_assert_int_eq(tids_ledger_commit(l), 0);
	}
	ck_assert_int_eq(tids_ledger_commit(l), 0);
	merged.n = walked.n = 0;
	ck_assert_msg(tids_ledger_query(l, &f, seen_cb, &merged, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(merged.n, P * RECS / 5);
	ck_assert_msg(tids_ledger_query(l, &all, seen_bank_de_cb, &walked, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(walked.n, merged.n);
	ck_assert_msg(memcmp(walked.ids, merged.ids, merged.n * sizeof(int64_t)) == 0, "another order");
	tids_ledger_close(l);
}
END_TEST

static int stat_cb(void *ctx, const struct tids_ledger_stat *s)
{
	uint64_t *sum = ctx;

	sum[0] += s->count;
	if (strcmp(s->destination, "DE") == 0)
		sum[1] += s->count;
	return 0;
}

START_TEST(stats)
{
	struct tids_ledger *l;
	uint64_t sum[2] = { 0, 0 };

	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_stats(l, 0, 0, false, stat_cb, sum, err, sizeof(err)), 0);
	ck_assert_uint_eq(sum[0], P * N);
	ck_assert_uint_eq(sum[1], P * RECS / 5);
	sum[0] = sum[1] = 0;
	ck_assert_int_eq(tids_ledger_stats(l, S.t0 + 11 * 1000, S.t0 + 21 * 1000, true, stat_cb, sum, err, sizeof(err)), 0);
	ck_assert_uint_eq(sum[0], P * 10);
	tids_ledger_close(l);
}
END_TEST

/* --- writing: duplicates, forks, offsets, heads ---------------------------------------- */

START_TEST(duplicates_forks_offsets_heads)
{
	struct tids_ledger *l;
	uint8_t head[TIDS_HASH_BYTES];
	uint64_t seq;
	int64_t next;
	sqlite3 *db = raw();
	size_t len;
	uint8_t *b = get_blob(db, "entry", id_of(0, 5), &len);

	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_add_entry(l, b, len, err, sizeof(err)), TIDS_EEXIST);
	{
		struct tids_audit_entry e;
		uint8_t *nb;
		size_t nlen;

		ck_assert_int_eq(tids_wire_decode_audit_entry(b, len, &e, err, sizeof(err)), 0);
		e.purpose = "maintenance";
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &nb, &nlen), 0);
		ck_assert_int_eq(tids_ledger_add_entry(l, nb, nlen, err, sizeof(err)), TIDS_EDUP);
		tids_audit_entry_free(&e);
		free(nb);
	}
	ck_assert_int_eq(tids_ledger_offset(l, TIDS_LEDGER_TOPIC_AUDIT, 3, &next), TIDS_ENOENT);
	ck_assert_int_eq(tids_ledger_set_offset(l, TIDS_LEDGER_TOPIC_AUDIT, 3, 777), 0);
	ck_assert_int_eq(tids_ledger_commit(l), 0);
	ck_assert_int_eq(tids_ledger_offset(l, TIDS_LEDGER_TOPIC_AUDIT, 3, &next), 0);
	ck_assert_int_eq(next, 777);
	ck_assert_int_eq(tids_ledger_head(l, 1, &seq, head), 0);
	ck_assert_uint_eq(seq, N);
	ck_assert_mem_eq(head, S.head[1], TIDS_HASH_BYTES);
	ck_assert_int_eq(tids_ledger_head(l, 7, &seq, head), 0);
	ck_assert_uint_eq(seq, 0);
	tids_ledger_close(l);
	free(b);
}
END_TEST

/* --- proofs and bundles ----------------------------------------------------------------- */

struct out {
	uint8_t *buf;
	size_t len;
};

static int collect(void *ctx, const void *data, size_t len)
{
	struct out *o = ctx;

	o->buf = realloc(o->buf, o->len + len);
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

static const uint8_t *publisher_key(void *ctx, const char *publisher)
{
	return strcmp(publisher, "factory") == 0 ? ctx : NULL;
}

static struct out make_proof(int32_t p, int rec)
{
	struct tids_ledger *l;
	struct out o = { 0 };

	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_msg(tids_ledger_proof(l, S.record_id[p][rec], NULL, NULL, collect, &o, err, sizeof(err)) == 0, "%s",
		      err);
	tids_ledger_close(l);
	return o;
}

START_TEST(proof_verifies_and_every_byte_counts)
{
	struct out o = make_proof(1, 7);
	struct tids_proof_opts opts = { .hub_pk = S.hub.sign_pk, .publisher_key = publisher_key,
					.key_ctx = S.publisher.sign_pk };
	struct tids_proof_result res;
	size_t flips = 0;

	ck_assert_msg(tids_proof_check(o.buf, o.len, &opts, &res) == 0, "line %llu: %s",
		      (unsigned long long)res.bad_line, res.what);
	ck_assert_int_eq(res.kind, TIDS_PROOF_RECORD);
	ck_assert_uint_eq(res.record_entries, 2);
	ck_assert(res.record_bound);
	ck_assert_uint_eq(res.ingress_verified, 1);
	ck_assert_str_eq(res.publisher, "factory");
	ck_assert_uint_eq(res.anchored_segments, 1);
	/* Record 7's entries are 15 and 16: the segment is (10, 20]. */
	ck_assert_uint_eq(res.entries, 10);
	for (size_t i = 0; i < o.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			o.buf[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(tids_proof_check(o.buf, o.len, &opts, &res) != 0,
				      "byte %zu bit %d changed and the proof still held", i, bit);
			o.buf[i] ^= (uint8_t)(1u << bit);
			flips++;
		}
	}
	ck_assert_uint_gt(flips, 1000);
	/* Truncated anywhere: fails. */
	for (size_t cut = 1; cut < o.len; cut += 97)
		ck_assert_int_ne(tids_proof_check(o.buf, cut, &opts, &res), 0);
	/* Without the publisher's key, or with another's: fails. */
	opts.key_ctx = S.hub.sign_pk;
	ck_assert_int_ne(tids_proof_check(o.buf, o.len, &opts, &res), 0);
	ck_assert_ptr_nonnull(strstr(res.what, "factory"));
	opts.publisher_key = NULL;
	ck_assert_int_ne(tids_proof_check(o.buf, o.len, &opts, &res), 0);
	/* Another hub key: fails. */
	opts.publisher_key = publisher_key;
	opts.key_ctx = S.publisher.sign_pk;
	opts.hub_pk = S.publisher.sign_pk;
	ck_assert_int_ne(tids_proof_check(o.buf, o.len, &opts, &res), 0);
	free(o.buf);
}
END_TEST

START_TEST(proof_of_first_record)
{
	struct out o = make_proof(0, 0);
	struct tids_proof_opts opts = { .hub_pk = S.hub.sign_pk, .publisher_key = publisher_key,
					.key_ctx = S.publisher.sign_pk };
	struct tids_proof_result res;

	ck_assert_msg(tids_proof_check(o.buf, o.len, &opts, &res) == 0, "%s", res.what);
	ck_assert_uint_eq(res.record_entries, 2);
	free(o.buf);
}
END_TEST

START_TEST(proof_needs_a_checkpoint)
{
	struct tids_ledger *l;
	struct out o = { 0 };
	sqlite3 *db = raw();

	sql(db, "DELETE FROM checkpoint WHERE id = 50");
	sqlite3_close(db);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_proof(l, S.record_id[0][RECS - 1], NULL, NULL, collect, &o, err, sizeof(err)),
			 TIDS_EAGAIN);
	free(o.buf);
	o.buf = NULL;
	o.len = 0;
	randombytes_buf(S.record_id[0][0], TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(tids_ledger_proof(l, S.record_id[0][0], NULL, NULL, collect, &o, err, sizeof(err)), TIDS_ENOENT);
	tids_ledger_close(l);
	free(o.buf);
}
END_TEST

START_TEST(bundle_exports_and_checks)
{
	struct tids_ledger *l;
	struct out o = { 0 };
	struct tids_identity auditor;
	struct tids_proof_opts opts = { .hub_pk = S.hub.sign_pk, .publisher_key = publisher_key,
					.key_ctx = S.publisher.sign_pk };
	struct tids_proof_result res;
	uint64_t unanchored;

	ck_assert_int_eq(tids_identity_generate(&auditor), 0);
	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_msg(tids_ledger_export(l, S.t0 + 15 * 1000, S.t0 + 25 * 1000, &auditor, collect, &o, &unanchored, err,
					 sizeof(err)) == 0, "%s", err);
	tids_ledger_close(l);
	opts.signer_pk = auditor.sign_pk;
	ck_assert_msg(tids_proof_check(o.buf, o.len, &opts, &res) == 0, "line %llu: %s",
		      (unsigned long long)res.bad_line, res.what);
	ck_assert_int_eq(res.kind, TIDS_PROOF_BUNDLE);
	ck_assert(res.is_signed);
	/* From after checkpoint 10 (signed before since) to checkpoint 30
	 * (the first signed after until), both chains. */
	ck_assert_uint_eq(res.entries, P * 20);
	ck_assert_uint_eq(res.segments, P);
	ck_assert_uint_eq(res.anchored_segments, P);
	ck_assert_uint_eq(res.ingress, P * 10);
	ck_assert_uint_eq(res.ingress_verified, P * 10);
	ck_assert_uint_eq(unanchored, 0);
	for (size_t i = 0; i < o.len; i += 13) {
		o.buf[i] ^= 0x20;
		ck_assert_msg(tids_proof_check(o.buf, o.len, &opts, &res) != 0, "byte %zu changed, bundle held", i);
		o.buf[i] ^= 0x20;
	}
	/* Another signer: refused. */
	opts.signer_pk = S.hub.sign_pk;
	ck_assert_int_ne(tids_proof_check(o.buf, o.len, &opts, &res), 0);
	tids_identity_wipe(&auditor);
	free(o.buf);
}
END_TEST

/* --- the record index, put in a few commits late (lib/ledger_record.c) ---------- */

static int record_entries(int32_t p, int rec)
{
	struct tids_ledger_filter f = { .has_record_id = true };

	memcpy(f.record_id, S.record_id[p][rec], TIDS_RECORD_ID_BYTES);
	return query_count(&f);
}

/* Rows of the record index in chain p after entry `after`. */
static int rows_after(int32_t p, uint64_t after)
{
	char q[200];
	sqlite3 *db = raw();
	int n;

	snprintf(q, sizeof(q), "SELECT count(*) FROM record WHERE first > %lld AND first < %lld",
		 (long long)id_of(p, after), (long long)id_of(p + 1, 0));
	n = count_of(db, q);
	sqlite3_close(db);
	return n;
}

static int64_t through_of(int32_t p)
{
	sqlite3 *db = raw();
	sqlite3_stmt *st;
	int64_t through;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT through FROM record_through WHERE part = ?1", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int(st, 1, p);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	through = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return through;
}

static void expect_verified(void)
{
	struct tids_ledger_verify_report rep;

	run_verify(&rep, NULL);
	for (size_t i = 0; i < rep.n_chains; i++)
		ck_assert_msg(rep.chains[i].ok, "chain %d: %s", rep.chains[i].partition, rep.chains[i].what);
	ck_assert_uint_eq(rep.bad_chains, 0);
	tids_ledger_verify_report_free(&rep);
}

/* A writer killed before it put its run starts in: the ledger verifies
 * and answers by record in full, and the next writer puts them in. */
START_TEST(record_index_after_a_kill)
{
	pid_t pid = fork();
	int status;
	struct tids_ledger *l;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)) != 0)
			_exit(2);
		add_entry(l, &S, 0, 3, false, S.t0 + 60000);   /* N+1: a new run of record 3 */
		add_entry(l, &S, 0, 7, false, S.t0 + 61000);   /* N+2, N+3: record 7 */
		add_entry(l, &S, 0, 7, true, S.t0 + 61000);
		_exit(tids_ledger_commit(l) == 0 ? 0 : 3);     /* no close: nothing flushed */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer: status %d", status);
	ck_assert_int_eq(rows_after(0, N), 0);
	ck_assert_int_eq(through_of(0), id_of(0, N));
	expect_verified();
	ck_assert_int_eq(record_entries(0, 3), 3);
	ck_assert_int_eq(record_entries(0, 7), 4);

	ck_assert_msg(tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(rows_after(0, N), 2);
	ck_assert_int_eq(through_of(0), id_of(0, N + 3));
	tids_ledger_close(l);
	expect_verified();
	ck_assert_int_eq(record_entries(0, 3), 3);
	ck_assert_int_eq(record_entries(0, 7), 4);
	{
		sqlite3 *db = raw();
		char q[120];

		snprintf(q, sizeof(q), "DELETE FROM record WHERE first = %lld", (long long)id_of(0, N + 2));
		sql(db, q);
		sqlite3_close(db);
	}
	expect_bad(0, N + 2, false, "record index");
}
END_TEST

/* Lowering a chain's through hides no entry (readers scan beyond it) and
 * raising it over missing rows is named. */
START_TEST(record_through_moved)
{
	sqlite3 *db = raw();
	char q[300];

	snprintf(q, sizeof(q), "UPDATE record_through SET through = %lld WHERE part = 0;"
		 "DELETE FROM record WHERE first > %lld AND first < %lld", (long long)id_of(0, 10),
		 (long long)id_of(0, 10), (long long)id_of(1, 0));
	sql(db, q);
	expect_verified();
	ck_assert_int_eq(record_entries(0, 5), 2);
	ck_assert_int_eq(record_entries(0, RECS - 1), 2);
	ck_assert_int_eq(record_entries(0, 2), 2);
	snprintf(q, sizeof(q), "UPDATE record_through SET through = %lld WHERE part = 0", (long long)id_of(0, N));
	sql(db, q);
	sqlite3_close(db);
	expect_bad(0, 11, false, "record index lost it");
}
END_TEST

/* While the writer works: readers see every entry; a rolled-back batch's
 * run starts never reach the index; the tenth commit puts the rest in. */
START_TEST(record_index_while_writing)
{
	uint8_t head[TIDS_HASH_BYTES];
	uint64_t seq;
	struct tids_ledger *l;

	ck_assert_msg(tids_ledger_open(S.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)) == 0, "%s", err);
	add_entry(l, &S, 0, 3, false, S.t0 + 60000);           /* N+1 */
	ck_assert_int_eq(tids_ledger_commit(l), 0);
	ck_assert_int_eq(record_entries(0, 3), 3);
	expect_verified();
	memcpy(head, S.head[0], sizeof(head));
	seq = S.seq[0];
	add_entry(l, &S, 0, 8, false, S.t0 + 61000);           /* N+2, N+3: rolled back */
	add_entry(l, &S, 0, 9, false, S.t0 + 61000);
	tids_ledger_rollback(l);
	memcpy(S.head[0], head, sizeof(head));
	S.seq[0] = seq;
	add_entry(l, &S, 0, 10, false, S.t0 + 62000);          /* N+2 again */
	ck_assert_int_eq(tids_ledger_commit(l), 0);
	for (int k = 0; k < 8; k++) {
		ck_assert_int_eq(rows_after(0, N), 0);
		add_entry(l, &S, 1, k, false, S.t0 + 63000);   /* chain 1: N+1.. */
		ck_assert_int_eq(tids_ledger_commit(l), 0);
	}
	ck_assert_int_eq(rows_after(0, N), 2);
	ck_assert_int_eq(rows_after(1, N), 8);
	ck_assert_int_eq(through_of(0), id_of(0, N + 2));
	ck_assert_int_eq(through_of(1), id_of(1, N + 8));
	tids_ledger_close(l);
	expect_verified();
	ck_assert_int_eq(record_entries(0, 8), 2);
	ck_assert_int_eq(record_entries(0, 10), 3);
}
END_TEST

/* A ledger of this layout written before record_through existed: its
 * index was written entry by entry and is read as complete. */
START_TEST(record_index_of_an_older_writer)
{
	sqlite3 *db = raw();
	char q[120];

	sql(db, "DROP TABLE record_through");
	sqlite3_close(db);
	expect_verified();
	ck_assert_int_eq(record_entries(1, 4), 2);
	db = raw();
	snprintf(q, sizeof(q), "DELETE FROM record WHERE first = %lld", (long long)id_of(1, 2 * 4 + 1));
	sql(db, q);
	sqlite3_close(db);
	expect_bad(1, 2 * 4 + 1, false, "record index lost it");
}
END_TEST

START_TEST(readonly_open_refuses_writes)
{
	struct tids_ledger *l;

	ck_assert_int_eq(tids_ledger_open(S.path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_ne(tids_ledger_set_offset(l, TIDS_LEDGER_TOPIC_AUDIT, 0, 1), 0);
	tids_ledger_close(l);
	ck_assert_int_ne(tids_ledger_open("/nonexistent/dir/ledger.db", TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
}
END_TEST

/* The fixture's ledger was SQLite's first connection in this process, so
 * tids_sqlite_setup came before SQLite initialised and its allocation
 * statistics, with their process-wide mutex, are off: nothing is counted.
 * Had anything opened SQLite first, the setting would have been refused
 * and the count would be the fixture's memory. */
START_TEST(sqlite_allocation_statistics_off)
{
	sqlite3 *db = raw();

	ck_assert_int_eq(sqlite3_exec(db, "SELECT count(*) FROM entry", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_memory_used(), 0);
	sqlite3_close(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc = tcase_create("synthetic chains");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, clean_ledger_verifies);
	tcase_add_test(tc, sqlite_allocation_statistics_off);
	tcase_add_test(tc, wrong_hub_key);
	tcase_add_test(tc, edit_index_column);
	tcase_add_test(tc, edit_entry_bytes);
	tcase_add_test(tc, edit_last_entry_of_segment);
	tcase_add_test(tc, edit_and_relink);
	tcase_add_test(tc, edit_first_after_checkpoint);
	tcase_add_test(tc, delete_entry);
	tcase_add_test(tc, delete_and_renumber);
	tcase_add_test(tc, insert_entry);
	tcase_add_test(tc, insert_copy);
	tcase_add_test(tc, swap_entries);
	tcase_add_test(tc, swap_adjacent);
	tcase_add_test(tc, truncate_tail);
	tcase_add_test(tc, truncate_tail_with_checkpoints);
	tcase_add_test(tc, witness_catches_a_cut);
	tcase_add_test(tc, witness_file_rejections);
	tcase_add_test(tc, forged_checkpoint_signature);
	tcase_add_test(tc, checkpoint_signed_by_another_key);
	tcase_add_test(tc, edit_rule_index);
	tcase_add_test(tc, edit_class_rules);
	tcase_add_test(tc, garbage_bytes);
	tcase_add_test(tc, prune_respects_retention);
	tcase_add_test(tc, prune_whole_segments);
	tcase_add_test(tc, removal_is_not_pruning);
	tcase_add_test(tc, retention_floors);
	tcase_add_test(tc, queries);
	tcase_add_test(tc, query_refuses_an_edited_index);
	tcase_add_test(tc, query_refuses_an_edited_posting);
	tcase_add_test(tc, query_refuses_a_garbled_posting);
	tcase_add_test(tc, verify_names_a_posting_taken_out);
	tcase_add_test(tc, verify_names_a_posting_added);
	tcase_add_test(tc, layout_2_is_read_and_migrated);
	tcase_add_test(tc, postings_across_overlapping_batches);
	tcase_add_test(tc, query_ignores_lying_counts);
	tcase_add_test(tc, record_index_row_deleted);
	tcase_add_test(tc, stats);
	tcase_add_test(tc, duplicates_forks_offsets_heads);
	tcase_add_test(tc, proof_verifies_and_every_byte_counts);
	tcase_add_test(tc, proof_of_first_record);
	tcase_add_test(tc, proof_needs_a_checkpoint);
	tcase_add_test(tc, bundle_exports_and_checks);
	tcase_add_test(tc, readonly_open_refuses_writes);
	tcase_add_test(tc, record_index_after_a_kill);
	tcase_add_test(tc, record_through_moved);
	tcase_add_test(tc, record_index_while_writing);
	tcase_add_test(tc, record_index_of_an_older_writer);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
