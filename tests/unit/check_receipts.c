/*
 * Receipts: their gates refuse what is malformed; a receipt opens only with
 * the hub's key and over its exact bytes, and must describe the batch it
 * came with; receipt file lines round-trip; and a ledger is held to them:
 * held when intact, the missing entries named when its tail was cut off
 * with its checkpoints (which verify alone cannot see), "differs" when the
 * operator rewrote and re-signed the chain, pruned only when old enough,
 * invalid when another key or hub made them.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/json.h"
#include "tids/ledger.h"
#include "tids/receipt.h"
#include "tids/wire.h"

#define DAY INT64_C(86400000)
#define N 20                       /* entries in chain 0 */

static char err[512];
static struct tids_identity hub, other;

static void setup(void)
{
	ck_assert_int_eq(tids_identity_generate(&hub), 0);
	ck_assert_int_eq(tids_identity_generate(&other), 0);
}

/* --- gates and signatures --------------------------------------------------------- */

static struct tids_ingress_position pos3[3] = { { 0, 1, 100 }, { 2, 3, 7 }, { 3, 1, 101 } };

static void statement(struct tids_ingest_statement *st, uint8_t root[32])
{
	memset(st, 0, sizeof(*st));
	memset(root, 0x42, 32);
	st->hub_id = "hub-sh1";
	st->publisher = "factory";
	st->sequence = 77;
	memcpy(st->batch_root, root, 32);
	st->positions = pos3;
	st->n_positions = 3;
	st->signed_at_ms = now_ms();
}

START_TEST(ingest_receipts)
{
	struct tids_ingest_statement st, got;
	struct tids_ingest_receipt r = { 0 };
	struct tids_record_error refused = { .index = 1, .code = 3, .message = "no" };
	struct tids_publish_ack ack = { .sequence = 77, .accepted = 3, .errors = &refused, .n_errors = 1 };
	uint8_t root[32], *bytes;
	size_t len;

	statement(&st, root);
	ck_assert_int_eq(tids_receipt_ingest_sign(&hub, &st, &bytes, &len, r.signature), 0);
	r.statement = (struct tids_bytes){ bytes, len };
	ck_assert_int_eq(tids_receipt_ingest_open(&r, hub.sign_pk, &got, err, sizeof(err)), 0);
	ck_assert_str_eq(got.publisher, "factory");
	ck_assert_uint_eq(got.n_positions, 3);
	ck_assert_int_eq(got.positions[1].partition, 3);
	/* It says exactly this batch: leaves 0, 2, 3 written, 1 refused. */
	ck_assert_int_eq(tids_receipt_ingest_matches(&got, "hub-sh1", "factory", 77, root, 4, &ack, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_receipt_ingest_matches(&got, "hub-sh1", "factory", 78, root, 4, &ack, err, sizeof(err)),
			 TIDS_EBADSIG);
	ck_assert_int_eq(tids_receipt_ingest_matches(&got, "hub-wh", "factory", 77, root, 4, &ack, err, sizeof(err)),
			 TIDS_EBADSIG);
	ack.n_errors = 0;
	ck_assert_int_eq(tids_receipt_ingest_matches(&got, "hub-sh1", "factory", 77, root, 4, &ack, err, sizeof(err)),
			 TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "record 1"));
	ack.n_errors = 1;
	ack.accepted = 4;
	ck_assert_int_eq(tids_receipt_ingest_matches(&got, "hub-sh1", "factory", 77, root, 4, &ack, err, sizeof(err)),
			 TIDS_EBADSIG);
	tids_ingest_statement_free(&got);
	/* Another key, or one bit of the statement changed: refused. */
	ck_assert_int_eq(tids_receipt_ingest_open(&r, other.sign_pk, &got, err, sizeof(err)), TIDS_EBADSIG);
	bytes[len / 2] ^= 1;
	ck_assert_int_eq(tids_receipt_ingest_open(&r, hub.sign_pk, &got, err, sizeof(err)), TIDS_EBADSIG);
	free(bytes);

	/* The statement's gate. */
	{
		struct tids_ingress_position bad[2] = { { 2, 0, 1 }, { 2, 0, 2 } };

		st.positions = bad;
		st.n_positions = 2;
		ck_assert_int_eq(tids_wire_encode_ingest_statement(&st, &bytes, &len), 0);
		ck_assert_int_eq(tids_wire_decode_ingest_statement(bytes, len, &got, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "out of order"));
		free(bytes);
		bad[1] = (struct tids_ingress_position){ 3, -1, 2 };
		ck_assert_int_eq(tids_wire_encode_ingest_statement(&st, &bytes, &len), 0);
		ck_assert_int_eq(tids_wire_decode_ingest_statement(bytes, len, &got, err, sizeof(err)), TIDS_EINVAL);
		free(bytes);
		st.n_positions = 0;
		ck_assert_int_eq(tids_wire_encode_ingest_statement(&st, &bytes, &len), 0);
		ck_assert_int_eq(tids_wire_decode_ingest_statement(bytes, len, &got, err, sizeof(err)), TIDS_ETOOMANY);
		free(bytes);
	}
}
END_TEST

static void signed_head(const struct tids_identity *key, const char *hub_id, int32_t p, uint64_t seq,
			const uint8_t head[32], int64_t at, uint8_t **bytes, size_t *len)
{
	struct tids_audit_checkpoint cp = { .hub_id = hub_id, .partition = p, .seq = seq, .signed_at_ms = at };

	memcpy(cp.head_hash, head, 32);
	ck_assert_int_eq(tids_receipt_head_sign(key, &cp, bytes, len), 0);
}

START_TEST(delivery_receipts)
{
	struct tids_delivery_receipt r = { .partition = 2, .seq = 5 }, got;
	struct tids_audit_checkpoint head;
	uint8_t h[32], *bytes, *enc;
	size_t len, elen;

	memset(h, 7, sizeof(h));
	memset(r.entry_hash, 9, 32);
	signed_head(&hub, "hub-sh1", 2, 8, h, now_ms(), &bytes, &len);
	r.head = (struct tids_bytes){ bytes, len };
	ck_assert_int_eq(tids_receipt_delivery_open(&r, hub.sign_pk, &head, err, sizeof(err)), 0);
	ck_assert_uint_eq(head.seq, 8);
	tids_audit_checkpoint_free(&head);
	ck_assert_int_eq(tids_receipt_delivery_open(&r, other.sign_pk, &head, err, sizeof(err)), TIDS_EBADSIG);
	/* A head of another chain, or before the entry, covers nothing. */
	r.partition = 1;
	ck_assert_int_eq(tids_receipt_delivery_open(&r, hub.sign_pk, &head, err, sizeof(err)), TIDS_EBADSIG);
	r.partition = 2;
	r.seq = 9;
	ck_assert_int_eq(tids_receipt_delivery_open(&r, hub.sign_pk, &head, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "does not cover"));
	/* Round trip, then the gate: no entry 0, a short hash, no head. */
	r.seq = 5;
	ck_assert_int_eq(tids_wire_encode_delivery_receipt(&r, &enc, &elen), 0);
	ck_assert_int_eq(tids_wire_decode_delivery_receipt(enc, elen, &got, err, sizeof(err)), 0);
	ck_assert_uint_eq(got.seq, 5);
	ck_assert_mem_eq(got.head.data, bytes, len);
	tids_delivery_receipt_free(&got);
	free(enc);
	r.seq = 0;
	ck_assert_int_eq(tids_wire_encode_delivery_receipt(&r, &enc, &elen), 0);
	ck_assert_int_eq(tids_wire_decode_delivery_receipt(enc, elen, &got, err, sizeof(err)), TIDS_EINVAL);
	free(enc);
	r.seq = 5;
	r.head.len = 0;
	ck_assert_int_eq(tids_wire_encode_delivery_receipt(&r, &enc, &elen), 0);
	ck_assert_int_eq(tids_wire_decode_delivery_receipt(enc, elen, &got, err, sizeof(err)), TIDS_EINVAL);
	free(enc);
	free(bytes);
}
END_TEST

/* An envelope with the receipt appended after it (as the router does)
 * decodes with it. */
START_TEST(envelope_receipt_appended)
{
	struct tids_delivery_envelope env = { .delivery = { (const uint8_t *)"xyz", 3 }, .sealed_by = "" }, got;
	struct tids_delivery_receipt r = { .partition = 1, .seq = 3, .head = { (const uint8_t *)"head", 4 } };
	uint8_t *a, *b, *both;
	size_t al, bl;

	memset(env.record_id, 1, sizeof(env.record_id));
	memset(r.entry_hash, 2, 32);
	ck_assert_int_eq(tids_wire_encode_delivery_envelope(&env, &a, &al), 0);
	ck_assert_int_eq(tids_wire_encode_delivery_envelope_receipt(&r, &b, &bl), 0);
	both = malloc(al + bl);
	memcpy(both, a, al);
	memcpy(both + al, b, bl);
	ck_assert_int_eq(tids_wire_decode_delivery_envelope(both, al + bl, &got, err, sizeof(err)), 0);
	ck_assert(got.has_receipt);
	ck_assert_uint_eq(got.receipt.seq, 3);
	ck_assert_uint_eq(got.delivery.len, 3);
	tids_delivery_envelope_free(&got);
	ck_assert_int_eq(tids_wire_decode_delivery_envelope(a, al, &got, err, sizeof(err)), 0);
	ck_assert(!got.has_receipt);
	tids_delivery_envelope_free(&got);
	free(a);
	free(b);
	free(both);
}
END_TEST

/* --- receipt file lines ----------------------------------------------------------- */

static void parse_ok(struct tids_jw *w, struct tids_receipt_line *l)
{
	ck_assert_int_eq(w->err, 0);
	ck_assert_msg(tids_receipt_line_parse(w->buf, w->len, l, err, sizeof(err)) == 0, "%s: %s", w->buf, err);
}

static int parse_bad(const char *line)
{
	struct tids_receipt_line l;
	int r = tids_receipt_line_parse(line, strlen(line), &l, err, sizeof(err));

	if (r == 0)
		tids_receipt_line_free(&l);
	return r;
}

START_TEST(receipt_lines)
{
	struct tids_ingest_statement st;
	struct tids_ingest_receipt ir = { 0 };
	struct tids_delivery_receipt dr = { .partition = 0, .seq = 4 };
	struct tids_receipt_line l;
	struct tids_jw w;
	uint8_t root[32], *stmt, *head, rid[16], h[32];
	size_t slen, hlen;

	tids_jw_init(&w);
	statement(&st, root);
	ck_assert_int_eq(tids_receipt_ingest_sign(&hub, &st, &stmt, &slen, ir.signature), 0);
	ir.statement = (struct tids_bytes){ stmt, slen };
	tids_receipt_line_ingest(&w, &ir);
	parse_ok(&w, &l);
	ck_assert_int_eq(l.kind, TIDS_RECEIPT_INGEST);
	ck_assert_mem_eq(l.ingest.statement.data, stmt, slen);
	ck_assert_mem_eq(l.ingest.signature, ir.signature, 64);
	tids_receipt_line_free(&l);

	memset(h, 3, sizeof(h));
	memset(rid, 0xab, sizeof(rid));
	signed_head(&hub, "hub-sh1", 0, 6, h, now_ms(), &head, &hlen);
	dr.head = (struct tids_bytes){ head, hlen };
	memset(dr.entry_hash, 4, 32);
	tids_jw_reset(&w);
	tids_receipt_line_delivery(&w, &dr, 12, rid);
	parse_ok(&w, &l);
	ck_assert_int_eq(l.kind, TIDS_RECEIPT_DELIVERY);
	ck_assert_uint_eq(l.delivery.seq, 4);
	ck_assert_uint_eq(l.delivery_seq, 12);
	ck_assert(l.has_record_id);
	ck_assert_mem_eq(l.record_id, rid, 16);
	tids_receipt_line_free(&l);

	tids_jw_reset(&w);
	tids_receipt_line_head(&w, head, hlen);
	parse_ok(&w, &l);
	ck_assert_int_eq(l.kind, TIDS_RECEIPT_HEAD);
	ck_assert_mem_eq(l.head.data, head, hlen);
	tids_receipt_line_free(&l);

	/* The gate: each of these is refused, and says why. */
	ck_assert_int_ne(parse_bad("not json"), 0);
	ck_assert_int_ne(parse_bad("[1]"), 0);
	ck_assert_int_ne(parse_bad("{\"kind\":\"gift\",\"receipt\":\"AAAA\"}"), 0);
	ck_assert_ptr_nonnull(strstr(err, "kind"));
	ck_assert_int_ne(parse_bad("{\"kind\":\"ingest\"}"), 0);
	ck_assert_int_ne(parse_bad("{\"kind\":\"ingest\",\"receipt\":\"@@@\"}"), 0);
	ck_assert_ptr_nonnull(strstr(err, "base64"));
	ck_assert_int_ne(parse_bad("{\"kind\":\"ingest\",\"receipt\":\"AAAA\"}"), 0);
	ck_assert_int_ne(parse_bad("{\"kind\":\"head\",\"head\":\"AAAA\",\"extra\":1}"), 0);
	ck_assert_ptr_nonnull(strstr(err, "unknown member"));
	{
		char line[2048];

		tids_jw_reset(&w);
		tids_receipt_line_ingest(&w, &ir);
		snprintf(line, sizeof(line), "%.*s,\"delivery_seq\":3}", (int)w.len - 1, w.buf);
		ck_assert_int_ne(parse_bad(line), 0);
		tids_jw_reset(&w);
		tids_receipt_line_delivery(&w, &dr, 0, NULL);
		snprintf(line, sizeof(line), "%.*s,\"record_id\":\"xyz\"}", (int)w.len - 1, w.buf);
		ck_assert_int_ne(parse_bad(line), 0);
		snprintf(line, sizeof(line), "%.*s,\"head\":\"AAAA\"}", (int)w.len - 1, w.buf);
		ck_assert_int_ne(parse_bad(line), 0);
	}
	tids_jw_free(&w);
	free(stmt);
	free(head);
}
END_TEST

/* --- a ledger held to receipts ------------------------------------------------------ */

struct book {
	char dir[256], path[300];
	uint8_t heads[N + 1][32];       /* chain hash after each entry */
	int64_t t0;
};

static void make_ledger(struct book *b, const char *recipient_after_10, int64_t t0, bool set_hub)
{
	struct tids_ledger *l;
	uint8_t head[32] = { 0 };

	snprintf(b->path, sizeof(b->path), "%s/ledger-%s.db", b->dir, recipient_after_10);
	unlink(b->path);
	b->t0 = t0;
	ck_assert_int_eq(tids_ledger_open(b->path, TIDS_LEDGER_WRITE | TIDS_LEDGER_BULK, &l, err, sizeof(err)), 0);
	if (set_hub)
		ck_assert_int_eq(tids_ledger_set_hub(l, "hub-sh1", hub.sign_pk), 0);
	for (uint64_t s = 1; s <= N; s++) {
		struct tids_audit_entry e = { .hub_id = "hub-sh1", .partition = 0, .seq = s, .owner = "factory",
					      .recipient = s > 10 ? recipient_after_10 : "lessor", .purpose = "billing",
					      .decision = TIDS_DECISION_ALLOW, .tier = TIDS_TIER_GENERAL,
					      .category = "run_hours", .origin = "CN-SH", .destination = "CN-SH",
					      .decided_at_ms = t0 + (int64_t)s, .ingress_offset = (int64_t)s, .reason = "",
					      .asset_id = "", .grant_id = "", .approval_id = "" };
		uint8_t *bytes;
		size_t len;

		memcpy(e.prev_hash, head, 32);
		memset(e.record_id, (int)s, sizeof(e.record_id));
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &bytes, &len), 0);
		{
			crypto_generichash_state st;

			crypto_generichash_init(&st, NULL, 0, 32);
			crypto_generichash_update(&st, head, 32);
			crypto_generichash_update(&st, bytes, len);
			crypto_generichash_final(&st, head, 32);
		}
		memcpy(b->heads[s], head, 32);
		ck_assert_msg(tids_ledger_add_entry(l, bytes, len, err, sizeof(err)) == 0, "%s", err);
		free(bytes);
		if (s % 10 == 0) {
			struct tids_audit_checkpoint cp = { .hub_id = "hub-sh1", .partition = 0, .seq = s,
							    .signed_at_ms = t0 + (int64_t)s };
			uint8_t *cb;
			size_t cl;

			memcpy(cp.head_hash, head, 32);
			ck_assert_int_eq(tids_receipt_head_sign(&hub, &cp, &cb, &cl), 0);
			free(cb);
			ck_assert_int_eq(tids_ledger_add_checkpoint(l, &cp, err, sizeof(err)), 0);
		}
	}
	/* Two publications of batch 5, at ingress 1/40 and 1/41. */
	for (int i = 0; i < 2; i++) {
		struct tids_ingress_record ir = { .record = { (const uint8_t *)"rec", 3 }, .publisher = "factory",
						  .sequence = 5, .leaf_index = (uint32_t)i, .leaf_count = 2,
						  .received_at_ms = t0 };

		memset(ir.batch_root, 0x42, 32);
		ck_assert_int_eq(tids_ledger_add_ingress(l, 1, 40 + i, &ir, NULL, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(tids_ledger_commit(l), 0);
	tids_ledger_close(l);
}

static void sql(const char *path, const char *q)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", q, msg);
	sqlite3_close(db);
}

/* A delivery receipt for entry seq, with the head signed at head_seq. */
static struct tids_receipt_line *delivery_line(const struct book *b, const struct tids_identity *key, uint64_t seq,
					       uint64_t head_seq, int64_t signed_at)
{
	static struct tids_receipt_line l;
	static uint8_t *head;
	size_t hlen;

	free(head);
	signed_head(key, "hub-sh1", 0, head_seq, b->heads[head_seq], signed_at, &head, &hlen);
	memset(&l, 0, sizeof(l));
	l.kind = TIDS_RECEIPT_DELIVERY;
	l.delivery = (struct tids_delivery_receipt){ .partition = 0, .seq = seq, .head = { head, hlen } };
	memcpy(l.delivery.entry_hash, b->heads[seq], 32);
	return &l;
}

static struct tids_receipt_line *ingest_line(const struct tids_identity *key, int64_t signed_at, int64_t off1)
{
	static struct tids_receipt_line l;
	static uint8_t *stmt;
	static struct tids_ingress_position pos[2];
	struct tids_ingest_statement st = { .hub_id = "hub-sh1", .publisher = "factory", .sequence = 5,
					    .positions = pos, .n_positions = 2, .signed_at_ms = signed_at };
	size_t len;

	free(stmt);
	pos[0] = (struct tids_ingress_position){ 0, 1, 40 };
	pos[1] = (struct tids_ingress_position){ 1, 1, off1 };
	memset(st.batch_root, 0x42, 32);
	memset(&l, 0, sizeof(l));
	l.kind = TIDS_RECEIPT_INGEST;
	ck_assert_int_eq(tids_receipt_ingest_sign(key, &st, &stmt, &len, l.ingest.signature), 0);
	l.ingest.statement = (struct tids_bytes){ stmt, len };
	return &l;
}

static enum tids_receipt_verdict check(const char *path, const struct tids_receipt_line *r, int64_t now,
				       char *what, size_t wlen)
{
	struct tids_ledger *l;
	struct tids_receipt_check res;

	ck_assert_int_eq(tids_ledger_open(path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_check_receipt(l, hub.sign_pk, r, now, &res), 0);
	tids_ledger_close(l);
	if (what != NULL)
		snprintf(what, wlen, "%s", res.what);
	return res.verdict;
}

static bool verifies(const char *path, int64_t now)
{
	struct tids_ledger_verify_opts o = { .now_ms = now, .threads = 1 };
	struct tids_ledger_verify_report rep;
	int r = tids_ledger_verify(path, hub.sign_pk, &o, &rep, err, sizeof(err));

	tids_ledger_verify_report_free(&rep);
	return r == 0;
}

START_TEST(ledger_held_to_receipts)
{
	static struct book b;
	char what[700], copy[400], q[512];
	int64_t now = now_ms();

	snprintf(b.dir, sizeof(b.dir), "%s/tids-rcpt.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(b.dir));
	make_ledger(&b, "lessor", now - DAY, true);

	/* Intact: everything held. */
	ck_assert(verifies(b.path, now));
	ck_assert_int_eq(check(b.path, delivery_line(&b, &hub, 5, 10, now), now, NULL, 0), TIDS_RECEIPT_HELD);
	ck_assert_int_eq(check(b.path, delivery_line(&b, &hub, 15, 17, now), now, NULL, 0), TIDS_RECEIPT_HELD);
	ck_assert_int_eq(check(b.path, ingest_line(&hub, now, 41), now, NULL, 0), TIDS_RECEIPT_HELD);
	/* Made with another key: not the hub's. */
	ck_assert_int_eq(check(b.path, delivery_line(&b, &other, 5, 10, now), now, what, sizeof(what)),
			 TIDS_RECEIPT_INVALID);
	ck_assert_int_eq(check(b.path, ingest_line(&other, now, 41), now, NULL, 0), TIDS_RECEIPT_INVALID);

	/* The tail cut off with its last checkpoint: verify cannot tell... */
	snprintf(copy, sizeof(copy), "%s/cut.db", b.dir);
	snprintf(q, sizeof(q), "VACUUM INTO '%s'", copy);
	sql(b.path, q);
	sql(copy, "DELETE FROM entry WHERE id > 10; DELETE FROM record WHERE first > 10; DELETE FROM checkpoint WHERE id > 10");
	ck_assert(verifies(copy, now));
	/* ...the receipts can, and name what is missing. */
	ck_assert_int_eq(check(copy, delivery_line(&b, &hub, 15, 17, now), now, what, sizeof(what)),
			 TIDS_RECEIPT_MISSING);
	ck_assert_msg(strstr(what, "entry 0:15 is missing") != NULL && strstr(what, "ends at 0:10") != NULL, "%s", what);
	/* An entry still there, its signed head gone with the tail. */
	ck_assert_int_eq(check(copy, delivery_line(&b, &hub, 5, 17, now), now, what, sizeof(what)),
			 TIDS_RECEIPT_MISSING);
	ck_assert_msg(strstr(what, "entries 0:11..0:17 are missing") != NULL, "%s", what);
	ck_assert_int_eq(check(copy, delivery_line(&b, &hub, 5, 10, now), now, NULL, 0), TIDS_RECEIPT_HELD);
	{
		struct tids_receipt_line wl = { .kind = TIDS_RECEIPT_HEAD };
		struct tids_receipt_line *dl = delivery_line(&b, &hub, 20, 20, now);

		wl.head = dl->delivery.head;
		ck_assert_int_eq(check(copy, &wl, now, what, sizeof(what)), TIDS_RECEIPT_MISSING);
		ck_assert_msg(strstr(what, "0:11..0:20") != NULL, "%s", what);
		ck_assert_int_eq(check(b.path, &wl, now, NULL, 0), TIDS_RECEIPT_HELD);
	}
	/* A publication removed: named. */
	sql(copy, "DELETE FROM ingress WHERE off = 41");
	ck_assert_int_eq(check(copy, ingest_line(&hub, now, 41), now, what, sizeof(what)), TIDS_RECEIPT_MISSING);
	ck_assert_msg(strstr(what, "record 1 (ingress 1/41)") != NULL, "%s", what);
	/* One that says another batch stood there. */
	ck_assert_int_eq(check(copy, ingest_line(&hub, now, 40), now, NULL, 0), TIDS_RECEIPT_DIFFERS);
	/* Old enough to have been pruned: not evidence. */
	ck_assert_int_eq(check(copy, ingest_line(&hub, now - 200 * DAY, 41), now, NULL, 0), TIDS_RECEIPT_PRUNED);

	/* The operator rewrote entries 11..20 and signed the chain again with
	 * the hub's key: verify passes, the receipts differ. */
	{
		static struct book forged;

		memcpy(forged.dir, b.dir, sizeof(b.dir));
		make_ledger(&forged, "mallory", now - DAY, true);
		ck_assert(verifies(forged.path, now));
		ck_assert_int_eq(check(forged.path, delivery_line(&b, &hub, 15, 17, now), now, what, sizeof(what)),
				 TIDS_RECEIPT_DIFFERS);
		ck_assert_int_eq(check(forged.path, delivery_line(&b, &hub, 5, 17, now), now, what, sizeof(what)),
				 TIDS_RECEIPT_DIFFERS);
		ck_assert_msg(strstr(what, "rewritten") != NULL, "%s", what);
		ck_assert_int_eq(check(forged.path, delivery_line(&b, &hub, 5, 10, now), now, NULL, 0), TIDS_RECEIPT_HELD);
		/* A receipt whose entry hash was altered by its holder. */
		{
			struct tids_receipt_line *dl = delivery_line(&b, &hub, 5, 10, now);

			dl->delivery.entry_hash[0] ^= 1;
			ck_assert_int_eq(check(b.path, dl, now, NULL, 0), TIDS_RECEIPT_INVALID);
		}
	}

	/* Pruned: an old ledger whose chain was pruned whole, anchored at its
	 * last checkpoint. Old receipts are past checking; a young one can
	 * not have been pruned. */
	{
		static struct book old;
		struct tids_ledger *l;
		struct tids_ledger_retention ret;
		struct tids_ledger_prune_result pr;

		memcpy(old.dir, b.dir, sizeof(b.dir));
		make_ledger(&old, "old", now - 400 * DAY, false);
		ck_assert_int_eq(tids_ledger_open(old.path, TIDS_LEDGER_WRITE, &l, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_ledger_retention(l, &ret), 0);
		ck_assert_msg(tids_ledger_prune(l, &ret, now, false, &pr, err, sizeof(err)) == 0, "%s", err);
		tids_ledger_close(l);
		ck_assert_uint_eq(pr.entries, N);
		ck_assert(verifies(old.path, now));
		ck_assert_int_eq(check(old.path, delivery_line(&old, &hub, 15, 17, now - 390 * DAY), now, NULL, 0),
				 TIDS_RECEIPT_PRUNED);
		ck_assert_int_eq(check(old.path, delivery_line(&old, &hub, 15, 17, now - DAY), now, what, sizeof(what)),
				 TIDS_RECEIPT_MISSING);
	}
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("receipts");
	TCase *tc = tcase_create("receipts");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, ingest_receipts);
	tcase_add_test(tc, delivery_receipts);
	tcase_add_test(tc, envelope_receipt_appended);
	tcase_add_test(tc, receipt_lines);
	tcase_add_test(tc, ledger_held_to_receipts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
