/*
 * Receipts for deliveries: a delivery made in a router transaction is held
 * until the transaction's entries are all appended, then each chain that
 * records a held delivery has its head signed once, and every delivery
 * leaves with its receipt (its entry, and that signed head), in the same
 * transaction. So a subscriber holds, for each delivery, the hub's
 * signature over a chain that includes the delivery's entry: a ledger cut
 * short later is caught (tidsctl audit verify --receipts), and signing
 * costs one Ed25519 signature per chain per transaction (or per MiB of
 * deliveries held, which bounds the router's memory), not per record.
 * Runs in the router thread.
 */
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "tids/error.h"
#include "tids/receipt.h"

int receipts_hold(struct router *rt, struct dest *dest, const uint8_t key[TIDS_RECORD_ID_BYTES],
		  const uint8_t *value, size_t len)
{
	struct held_deliveries *h = &rt->held;
	struct held_delivery *d;
	int r;

	if (h->n == h->cap) {
		size_t cap = h->cap > 0 ? h->cap * 2 : 256;
		struct held_delivery *grown = realloc(h->items, cap * sizeof(*grown));

		if (grown == NULL)
			return TIDS_ENOMEM;
		h->items = grown;
		h->cap = cap;
	}
	d = &h->items[h->n];
	memset(d, 0, sizeof(*d));
	d->dest = dest;
	memcpy(d->key, key, TIDS_RECORD_ID_BYTES);
	d->off = h->buf.len;
	d->len = len;
	d->timestamp_ms = rt->ingress_ts;
	if ((r = tids_buf_append(&h->buf, value, len)) != 0)
		return r;
	h->n++;
	return 0;
}

int receipts_bind(struct router *rt, int32_t partition, uint64_t seq, const uint8_t entry_hash[TIDS_HASH_BYTES])
{
	struct held_deliveries *h = &rt->held;
	struct held_delivery *d;

	/* Every delivery is produced right before its entry is appended. */
	if (h->n == 0 || h->items[h->n - 1].bound)
		return 0;
	d = &h->items[h->n - 1];
	d->bound = true;
	d->partition = partition;
	d->seq = seq;
	memcpy(d->entry_hash, entry_hash, TIDS_HASH_BYTES);
	/* All held are bound now: their heads can be signed as they stand. */
	return h->buf.len >= RECEIPTS_HOLD_BYTES ? receipts_release(rt) : 0;
}

static void keep(struct signed_head *sh, uint8_t *bytes, size_t len, uint64_t seq, const uint8_t hash[TIDS_HASH_BYTES])
{
	free(sh->bytes);
	sh->bytes = bytes;
	sh->len = len;
	sh->seq = seq;
	memcpy(sh->hash, hash, TIDS_HASH_BYTES);
}

void receipts_remember_head(struct router *rt, const struct tids_audit_checkpoint *cp)
{
	uint8_t *bytes;
	size_t len;

	if (cp->partition < 0 || cp->partition >= ROUTER_PARTITIONS_MAX ||
	    tids_wire_encode_audit_checkpoint(cp, &bytes, &len) != 0)
		return;                      /* the receipts will sign one of their own */
	keep(&rt->signed_heads[cp->partition], bytes, len, cp->seq, cp->head_hash);
}

/* The signed head of chain p as it stands: the one kept if the chain has
 * not moved since (same seq and hash: a transaction retried after an
 * abort rebuilds the same seqs with other entries), else a new one. */
static int signed_head(struct router *rt, int32_t p)
{
	const struct chain *c = &rt->chains[p];
	struct signed_head *sh = &rt->signed_heads[p];
	struct tids_audit_checkpoint cp = { .hub_id = rt->hub_id, .partition = p, .seq = c->seq };
	uint8_t *bytes;
	size_t len;
	int r;

	if (sh->bytes != NULL && sh->seq == c->seq && memcmp(sh->hash, c->head, TIDS_HASH_BYTES) == 0)
		return 0;
	memcpy(cp.head_hash, c->head, TIDS_HASH_BYTES);
	cp.signed_at_ms = now_ms();
	if ((r = tids_receipt_head_sign(rt->hub, &cp, &bytes, &len)) != 0)
		return r;
	keep(sh, bytes, len, c->seq, c->head);
	return 0;
}

static void clear(struct router *rt)
{
	struct held_deliveries *h = &rt->held;

	/* Plaintext deliveries among them: not left in the buffer reused.
	 * It is only appended to between clears, so what it held is what it
	 * holds: tids_buf_wipe would zero its whole capacity, 2 MiB once a
	 * batch had held 1 MiB, at every transaction and every release. */
	tids_buf_wipe_used(&h->buf);
	h->n = 0;
}

int receipts_release(struct router *rt)
{
	struct held_deliveries *h = &rt->held;
	struct tids_buf *out = &rt->scratch;
	int r = 0;

	for (size_t i = 0; i < h->n && r == 0; i++) {
		struct held_delivery *d = &h->items[i];
		struct tids_delivery_receipt rc;
		rd_kafka_topic_t *rkt;

		if (!d->bound || d->partition < 0 || d->partition >= ROUTER_PARTITIONS_MAX) {
			/* Fail closed: nothing leaves without its audit entry. */
			tids_log_warnx("router: a delivery to %s has no audit entry; the transaction is abandoned",
				       d->dest->topic);
			r = TIDS_EINVAL;
			break;
		}
		if ((r = signed_head(rt, d->partition)) != 0)
			break;
		/* The envelope, then its receipt: a DeliveryEnvelope holding
		 * only the receipt field, which protobuf merges into the
		 * envelope before it. */
		rc = (struct tids_delivery_receipt){ .partition = d->partition, .seq = d->seq,
						     .head = { rt->signed_heads[d->partition].bytes,
							       rt->signed_heads[d->partition].len } };
		memcpy(rc.entry_hash, d->entry_hash, TIDS_HASH_BYTES);
		out->off = 0;
		out->len = 0;
		if ((r = tids_buf_append(out, tids_buf_head(&h->buf) + d->off, d->len)) != 0 ||
		    (r = tids_wire_append_envelope_receipt(out, &rc)) != 0)
			break;
		if ((rkt = route_dest_topic(rt, d->dest)) == NULL) {
			r = TIDS_ENOMEM;
			break;
		}
		/* A deliver topic has one partition, the one egress reads: named
		 * here, librdkafka runs no partitioner. */
		r = router_produce_copy(rt, rkt, 0, d->key, TIDS_RECORD_ID_BYTES, tids_buf_head(out), out->len,
					d->timestamp_ms);
	}
	tids_buf_wipe(out);
	clear(rt);
	return r;
}

void receipts_discard(struct router *rt)
{
	clear(rt);
}

void receipts_free(struct router *rt)
{
	clear(rt);
	free(rt->held.items);
	tids_buf_free(&rt->held.buf);
	rt->held.items = NULL;
	rt->held.cap = 0;
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		free(rt->signed_heads[p].bytes);
		rt->signed_heads[p].bytes = NULL;
	}
}
