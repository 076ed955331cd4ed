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

int receipts_hold(struct router *rt, const char *topic, const uint8_t key[TIDS_RECORD_ID_BYTES], uint8_t *value,
		  size_t len)
{
	struct held_deliveries *h = &rt->held;
	struct held_delivery *d;

	if (h->n == h->cap) {
		size_t cap = h->cap > 0 ? h->cap * 2 : 256;
		struct held_delivery *grown = realloc(h->items, cap * sizeof(*grown));

		if (grown == NULL) {
			free(value);
			return TIDS_ENOMEM;
		}
		h->items = grown;
		h->cap = cap;
	}
	d = &h->items[h->n];
	memset(d, 0, sizeof(*d));
	d->topic = strdup(topic);
	if (d->topic == NULL) {
		free(value);
		return TIDS_ENOMEM;
	}
	memcpy(d->key, key, TIDS_RECORD_ID_BYTES);
	d->value = value;
	d->len = len;
	d->timestamp_ms = rt->ingress_ts;
	h->n++;
	h->bytes += len;
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
	return h->bytes >= RECEIPTS_HOLD_BYTES ? receipts_release(rt) : 0;
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

/* Appends d's receipt to its envelope: a DeliveryEnvelope holding only the
 * receipt field, which protobuf merges into the envelope before it. */
static int add_receipt(struct router *rt, struct held_delivery *d)
{
	const struct signed_head *sh = &rt->signed_heads[d->partition];
	struct tids_delivery_receipt rc = { .partition = d->partition, .seq = d->seq, .head = { sh->bytes, sh->len } };
	uint8_t *field, *grown;
	size_t flen;

	memcpy(rc.entry_hash, d->entry_hash, TIDS_HASH_BYTES);
	if (tids_wire_encode_delivery_envelope_receipt(&rc, &field, &flen) != 0)
		return TIDS_ENOMEM;
	grown = realloc(d->value, d->len + flen);
	if (grown == NULL) {
		free(field);
		return TIDS_ENOMEM;
	}
	memcpy(grown + d->len, field, flen);
	free(field);
	d->value = grown;
	d->len += flen;
	return 0;
}

static void clear(struct router *rt)
{
	struct held_deliveries *h = &rt->held;

	for (size_t i = 0; i < h->n; i++) {
		free(h->items[i].topic);
		free(h->items[i].value);
	}
	h->n = 0;
	h->bytes = 0;
}

int receipts_release(struct router *rt)
{
	struct held_deliveries *h = &rt->held;
	int r = 0;

	for (size_t i = 0; i < h->n && r == 0; i++) {
		struct held_delivery *d = &h->items[i];

		if (!d->bound || d->partition < 0 || d->partition >= ROUTER_PARTITIONS_MAX) {
			/* Fail closed: nothing leaves without its audit entry. */
			tids_log_warnx("router: a delivery to %s has no audit entry; the transaction is abandoned", d->topic);
			r = TIDS_EINVAL;
			break;
		}
		if ((r = signed_head(rt, d->partition)) != 0 || (r = add_receipt(rt, d)) != 0)
			break;
		r = router_produce_at(rt, d->topic, RD_KAFKA_PARTITION_UA, d->key, TIDS_RECORD_ID_BYTES, d->value, d->len,
				      d->timestamp_ms);
		d->value = NULL;             /* router_produce took it */
	}
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
	rt->held.items = NULL;
	rt->held.cap = 0;
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		free(rt->signed_heads[p].bytes);
		rt->signed_heads[p].bytes = NULL;
	}
}
