/*
 * Holding the ledger to what the hub signed for others: a participant's
 * receipts (each delivery's entry and signed chain head, each publication's
 * ingress positions) and a peer's witnessed chain heads. A ledger can be
 * cut short together with its last checkpoints and still verify; it cannot
 * drop what someone else holds a signature for. Each check says what is
 * missing, by chain position.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"
#include "tids/receipt.h"

static int done(struct tids_receipt_check *res, enum tids_receipt_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int done(struct tids_receipt_check *res, enum tids_receipt_verdict v, const char *fmt, ...)
{
	va_list ap;

	res->verdict = v;
	va_start(ap, fmt);
	vsnprintf(res->what, sizeof(res->what), fmt, ap);
	va_end(ap);
	return 0;
}

static void format_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld ms", (long long)ms);
}

/* What the ledger holds of chain p: its last entry's seq (0: none), and the
 * seq a pruned prefix ends at (0: none pruned). */
struct chain_bounds {
	uint64_t last, anchor;
};

static int bounds(struct tids_ledger *l, int32_t p, struct chain_bounds *b)
{
	sqlite3_stmt *st;
	uint64_t first = 0;
	int rc;

	memset(b, 0, sizeof(*b));
	if (sqlite3_prepare_v2(l->db, "SELECT min(id), max(id) FROM entry WHERE id >= ?1 AND id < ?2", -1, &st, NULL) !=
	    SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, 0));
	sqlite3_bind_int64(st, 2, ledger_id(p + 1, 0));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		first = ledger_id_seq(sqlite3_column_int64(st, 0));
		b->last = ledger_id_seq(sqlite3_column_int64(st, 1));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return TIDS_EDB;
	if (first == 1)
		return 0;
	/* Pruned: a checkpoint anchors what is left (verify checks that it is
	 * one, and old enough); with no entry left, the last checkpoint. */
	if (sqlite3_prepare_v2(l->db, first > 1 ? "SELECT max(id) FROM checkpoint WHERE id >= ?1 AND id < ?2"
						: "SELECT max(id) FROM checkpoint WHERE id >= ?1 AND id <= ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, 0));
	sqlite3_bind_int64(st, 2, first > 1 ? ledger_id(p, first) : ledger_id(p, TIDS_LEDGER_SEQ_MAX));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		uint64_t cp = ledger_id_seq(sqlite3_column_int64(st, 0));

		if (first == 0 || cp == first - 1)
			b->anchor = cp;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : TIDS_EDB;
}

/* The chain hash after entry (p, seq) as the ledger holds it: 1 with hash
 * filled, 0 if the entry is not there, 2 if its bytes do not decode. */
static int entry_hash(struct tids_ledger *l, int32_t p, uint64_t seq, uint8_t hash[TIDS_HASH_BYTES])
{
	static const uint8_t zeros[TIDS_HASH_BYTES];
	sqlite3_stmt *st = l->st[LS_ENTRY_BYTES];
	struct tids_audit_entry e;
	int rc, r = 0;

	sqlite3_bind_int64(st, 1, ledger_id(p, seq));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const uint8_t *b = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		if (b == NULL || tids_wire_decode_audit_entry(b, n, &e, NULL, 0) != 0) {
			r = 2;
		} else {
			/* hash = BLAKE2b(prev_hash || entry), prev_hash from inside it */
			ledger_chain_hash(seq == 1 ? zeros : e.prev_hash, b, n, hash);
			tids_audit_entry_free(&e);
			r = 1;
		}
	} else if (rc != SQLITE_DONE) {
		r = TIDS_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/* Could (p, seq) have been pruned? Only behind the anchor, and only if the
 * hub signed it longer ago than the shortest retention. */
static bool prunable(const struct chain_bounds *b, uint64_t seq, int64_t signed_at, int64_t now)
{
	return seq <= b->anchor && signed_at <= now - TIDS_LEDGER_RETAIN_MIN_MS;
}

/* The hub's signed head of chain p at seq against the ledger. label says
 * whose receipt it is, for the message. */
static int check_head(struct tids_ledger *l, const struct tids_audit_checkpoint *head, const struct chain_bounds *b,
		      int64_t now, const char *label, struct tids_receipt_check *res)
{
	uint8_t h[TIDS_HASH_BYTES];
	char t[32];
	int32_t p = head->partition;
	int r;

	format_time(head->signed_at_ms, t);
	if (prunable(b, head->seq, head->signed_at_ms, now))
		return done(res, TIDS_RECEIPT_PRUNED, "%s: chain %d was pruned through %d:%llu (signed %s, past the "
			    "shortest retention): no longer checkable", label, p, p, (unsigned long long)b->anchor, t);
	if ((r = entry_hash(l, p, head->seq, h)) < 0)
		return r;
	if (r == 0 && b->last < head->seq)
		return done(res, TIDS_RECEIPT_MISSING, "%s: entries %d:%llu..%d:%llu are missing: the hub signed chain %d "
			    "through %d:%llu at %s, but the ledger's chain %d %s%d:%llu (a truncated tail)", label, p,
			    (unsigned long long)b->last + 1, p, (unsigned long long)head->seq, p, p,
			    (unsigned long long)head->seq, t, p, b->last > 0 ? "ends at " : "has no entry, not even ", p,
			    (unsigned long long)(b->last > 0 ? b->last : 1));
	if (r == 0)
		return done(res, TIDS_RECEIPT_MISSING, "%s: entry %d:%llu is missing: the hub signed chain %d through it "
			    "at %s", label, p, (unsigned long long)head->seq, p, t);
	if (r == 2 || memcmp(h, head->head_hash, TIDS_HASH_BYTES) != 0)
		return done(res, TIDS_RECEIPT_DIFFERS, "%s: the ledger's entry %d:%llu is not the one the hub signed at %s: "
			    "the chain was rewritten", label, p, (unsigned long long)head->seq, t);
	return done(res, TIDS_RECEIPT_HELD, "%s: held", label);
}

static int hub_matches(struct tids_ledger *l, const char *hub_id, const char *label, struct tids_receipt_check *res)
{
	char ledger_hub[TIDS_ID_MAX + 1];
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];

	if (tids_ledger_hub(l, ledger_hub, pk) == 0 && strcmp(ledger_hub, hub_id) != 0) {
		done(res, TIDS_RECEIPT_INVALID, "%s: a receipt of hub %s, and this is hub %s's ledger", label, hub_id,
		     ledger_hub);
		return 0;
	}
	return 1;
}

static int check_delivery(struct tids_ledger *l, const uint8_t *pk, const struct tids_receipt_line *rl, int64_t now,
			  struct tids_receipt_check *res)
{
	const struct tids_delivery_receipt *rc = &rl->delivery;
	struct tids_audit_checkpoint head;
	struct chain_bounds b;
	uint8_t h[TIDS_HASH_BYTES];
	char label[200], why[256], t[32];
	int32_t p = rc->partition;
	int r;

	if (rl->delivery_seq > 0)
		snprintf(label, sizeof(label), "delivery receipt for entry %d:%llu (delivery %llu)", p,
			 (unsigned long long)rc->seq, (unsigned long long)rl->delivery_seq);
	else
		snprintf(label, sizeof(label), "delivery receipt for entry %d:%llu", p, (unsigned long long)rc->seq);
	r = 0;
	if (tids_receipt_delivery_open(rc, pk, &head, why, sizeof(why)) != 0)
		return done(res, TIDS_RECEIPT_INVALID, "%s: %s", label, why);
	if (!hub_matches(l, head.hub_id, label, res) || (r = bounds(l, p, &b)) != 0)
		goto out;
	format_time(head.signed_at_ms, t);
	/* The entry itself first: the subscriber's own decision. */
	if (prunable(&b, rc->seq, head.signed_at_ms, now)) {
		r = check_head(l, &head, &b, now, label, res);
		goto out;
	}
	if ((r = entry_hash(l, p, rc->seq, h)) < 0)
		goto out;
	if (r == 0) {
		r = done(res, TIDS_RECEIPT_MISSING, "%s: entry %d:%llu is missing%s: the hub signed chain %d through "
			 "%d:%llu at %s; the ledger's chain %d %s%d:%llu", label, p, (unsigned long long)rc->seq,
			 b.last < rc->seq ? " (a truncated tail)" : "", p, p, (unsigned long long)head.seq, t, p,
			 b.last > 0 ? "ends at " : "has no entry, not even ", p,
			 (unsigned long long)(b.last > 0 ? b.last : 1));
		goto out;
	}
	if (r == 2 || memcmp(h, rc->entry_hash, TIDS_HASH_BYTES) != 0) {
		/* If the head holds, the chain is the one the hub signed, and
		 * it is the receipt's entry hash that is wrong. */
		r = check_head(l, &head, &b, now, label, res);
		if (r == 0 && res->verdict == TIDS_RECEIPT_HELD)
			r = done(res, TIDS_RECEIPT_INVALID, "%s: its entry hash is not that of %d:%llu in the chain the hub "
				 "signed (the receipt was altered)", label, p, (unsigned long long)rc->seq);
		else if (r == 0 && res->verdict == TIDS_RECEIPT_MISSING)
			r = done(res, TIDS_RECEIPT_DIFFERS, "%s: the ledger's entry %d:%llu is not the delivery's, and the "
				 "chain the hub signed through %d:%llu at %s is gone: the chain was rewritten", label, p,
				 (unsigned long long)rc->seq, p, (unsigned long long)head.seq, t);
		goto out;
	}
	r = check_head(l, &head, &b, now, label, res);
	if (r == 0 && res->verdict == TIDS_RECEIPT_MISSING)
		snprintf(res->what + strlen(res->what), sizeof(res->what) - strlen(res->what),
			 "; the delivery's own entry %d:%llu is still there", p, (unsigned long long)rc->seq);
out:
	tids_audit_checkpoint_free(&head);
	return r;
}

static int check_witness(struct tids_ledger *l, const uint8_t *pk, const struct tids_receipt_line *rl, int64_t now,
			 struct tids_receipt_check *res)
{
	struct tids_audit_checkpoint head;
	struct chain_bounds b;
	char label[120], why[256];
	int r;

	if (tids_receipt_head_open(rl->head.data, rl->head.len, pk, &head, why, sizeof(why)) != 0)
		return done(res, TIDS_RECEIPT_INVALID, "signed head: %s", why);
	snprintf(label, sizeof(label), "signed head %d:%llu", head.partition, (unsigned long long)head.seq);
	r = 0;
	if (hub_matches(l, head.hub_id, label, res) && (r = bounds(l, head.partition, &b)) == 0)
		r = check_head(l, &head, &b, now, label, res);
	tids_audit_checkpoint_free(&head);
	return r;
}

static int check_ingest(struct tids_ledger *l, const uint8_t *pk, const struct tids_receipt_line *rl, int64_t now,
			struct tids_receipt_check *res)
{
	struct tids_ingest_statement st;
	sqlite3_stmt *q = NULL;
	char label[TIDS_ID_MAX + 100], why[256], t[32], list[300] = "";
	size_t missing = 0, listed = 0;
	bool old;
	int r = 0;

	if (tids_receipt_ingest_open(&rl->ingest, pk, &st, why, sizeof(why)) != 0)
		return done(res, TIDS_RECEIPT_INVALID, "ingest receipt: %s", why);
	snprintf(label, sizeof(label), "ingest receipt for batch %llu of %s", (unsigned long long)st.sequence,
		 st.publisher);
	format_time(st.signed_at_ms, t);
	/* Publications are pruned only once past the shortest retention. */
	old = st.signed_at_ms <= now - TIDS_LEDGER_RETAIN_MIN_MS;
	if (!hub_matches(l, st.hub_id, label, res))
		goto out;
	if (sqlite3_prepare_v2(l->db, "SELECT publisher, sequence, batch_root, leaf_index FROM ingress WHERE part = ?1 "
			       "AND off = ?2", -1, &q, NULL) != SQLITE_OK) {
		r = TIDS_EDB;
		goto out;
	}
	done(res, TIDS_RECEIPT_HELD, "%s: held", label);
	for (size_t i = 0; i < st.n_positions && r == 0; i++) {
		const struct tids_ingress_position *ps = &st.positions[i];
		int rc;

		sqlite3_bind_int(q, 1, ps->partition);
		sqlite3_bind_int64(q, 2, ps->offset);
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			const char *pub = (const char *)sqlite3_column_text(q, 0);
			const void *root = sqlite3_column_blob(q, 2);

			if (pub == NULL || strcmp(pub, st.publisher) != 0 ||
			    (uint64_t)sqlite3_column_int64(q, 1) != st.sequence || root == NULL ||
			    sqlite3_column_bytes(q, 2) != TIDS_HASH_BYTES ||
			    memcmp(root, st.batch_root, TIDS_HASH_BYTES) != 0 ||
			    (uint32_t)sqlite3_column_int64(q, 3) != ps->leaf_index) {
				done(res, TIDS_RECEIPT_DIFFERS, "%s: ingress %d/%lld holds another publication than record "
				     "%u of the batch the hub acknowledged at %s", label, ps->partition, (long long)ps->offset,
				     ps->leaf_index, t);
				break;
			}
		} else if (rc == SQLITE_DONE) {
			if (missing++ < 8) {
				listed = strlen(list);
				snprintf(list + listed, sizeof(list) - listed, "%s%u (ingress %d/%lld)", missing > 1 ? ", " : "",
					 ps->leaf_index, ps->partition, (long long)ps->offset);
			}
		} else {
			r = TIDS_EDB;
		}
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
	}
	if (r != 0 || res->verdict != TIDS_RECEIPT_HELD || missing == 0)
		goto out;
	if (old)
		done(res, TIDS_RECEIPT_PRUNED, "%s: acknowledged at %s, past the shortest retention: %zu of its "
		     "publications are pruned", label, t, missing);
	else
		done(res, TIDS_RECEIPT_MISSING, "%s: the publication of record%s %s%s %s missing from the ledger; the hub "
		     "acknowledged %s at %s", label, missing > 1 ? "s" : "", list, missing > 8 ? " and more" : "",
		     missing > 1 ? "are" : "is", missing > 1 ? "them" : "it", t);
out:
	sqlite3_finalize(q);
	tids_ingest_statement_free(&st);
	return r;
}

int tids_ledger_check_receipt(struct tids_ledger *l, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			      const struct tids_receipt_line *r, int64_t now_ms, struct tids_receipt_check *res)
{
	memset(res, 0, sizeof(*res));
	switch (r->kind) {
	case TIDS_RECEIPT_INGEST:
		return check_ingest(l, hub_pk, r, now_ms, res);
	case TIDS_RECEIPT_DELIVERY:
		return check_delivery(l, hub_pk, r, now_ms, res);
	case TIDS_RECEIPT_HEAD:
		return check_witness(l, hub_pk, r, now_ms, res);
	}
	return done(res, TIDS_RECEIPT_INVALID, "not a receipt");
}

const char *tids_receipt_verdict_name(enum tids_receipt_verdict v)
{
	switch (v) {
	case TIDS_RECEIPT_HELD: return "held";
	case TIDS_RECEIPT_PRUNED: return "pruned";
	case TIDS_RECEIPT_MISSING: return "MISSING";
	case TIDS_RECEIPT_DIFFERS: return "DIFFERS";
	case TIDS_RECEIPT_INVALID: return "INVALID";
	}
	return "?";
}
