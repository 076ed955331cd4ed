/*
 * The audit trail's write side: one hash chain per ingress partition
 * (hash = BLAKE2b-256(prev_hash || entry), and prev_hash is inside the entry
 * too), written to the audit partition of the same number in the batch's
 * transaction, and checkpoints of each chain head signed by the hub every
 * N entries or T milliseconds. An entry that cannot be written aborts the
 * transaction: nothing is delivered without its audit entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "router.h"
#include "tids/error.h"

static void pending_clear(struct audit_pending *ap)
{
	for (size_t i = 0; i < ap->n; i++)
		free((void *)ap->entries[i].data);
	ap->n = 0;
	ap->bytes = 0;
}

static int produce_log_record(struct router *rt, int32_t partition, const struct tids_audit_log_record *lr);

/* Produces the chain's waiting entries as one message, in chain order. */
static int flush(struct router *rt, int32_t partition)
{
	struct audit_pending *ap = &rt->audit_pending[partition];
	struct tids_audit_log_record lr = { .entries = ap->entries, .n_entries = ap->n };
	int r;

	if (ap->n == 0)
		return 0;
	r = produce_log_record(rt, partition, &lr);
	pending_clear(ap);
	return r;
}

int audit_flush_all(struct router *rt)
{
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		int r = flush(rt, p);

		if (r != 0)
			return r;
	}
	return 0;
}

void audit_discard_all(struct router *rt)
{
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++)
		pending_clear(&rt->audit_pending[p]);
}

static int produce_log_record(struct router *rt, int32_t partition, const struct tids_audit_log_record *lr)
{
	uint8_t *value;
	size_t len;
	char key[16];
	int r = tids_wire_encode_audit_log_record(lr, &value, &len);

	if (r != 0)
		return r;
	snprintf(key, sizeof(key), "%d", (int)partition);
	return router_produce(rt, rt->t_audit, partition, key, strlen(key), value, len);
}

int audit_append(struct router *rt, int32_t partition, struct tids_audit_entry *e)
{
	struct chain *c = &rt->chains[partition];
	struct audit_pending *ap = &rt->audit_pending[partition];
	crypto_generichash_state st;
	uint8_t *bytes;
	size_t len;
	int r;

	e->partition = partition;
	e->seq = c->seq + 1;
	memcpy(e->prev_hash, c->head, TIDS_HASH_BYTES);
	if ((r = tids_wire_encode_audit_entry(e, &bytes, &len)) != 0)
		return r;
	if (ap->n == ap->cap) {
		size_t cap = ap->cap > 0 ? ap->cap * 2 : 64;
		struct tids_bytes *grown = realloc(ap->entries, cap * sizeof(*grown));

		if (grown == NULL) {
			free(bytes);
			return TIDS_ENOMEM;
		}
		ap->entries = grown;
		ap->cap = cap;
	}
	crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, c->head, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, bytes, len);
	crypto_generichash_final(&st, c->head, TIDS_HASH_BYTES);
	c->seq = e->seq;
	c->since_checkpoint++;
	c->dirty = true;
	ap->entries[ap->n++] = (struct tids_bytes){ bytes, len };
	ap->bytes += len;
	/* The delivery this entry records gets it as its receipt's entry. */
	if (e->delivered_hash.len > 0)
		r = receipts_bind(rt, partition, e->seq, c->head);
	if (r == 0 && (ap->n >= AUDIT_BATCH_MAX || ap->bytes >= AUDIT_BATCH_BYTES))
		r = flush(rt, partition);
	if (r == 0 && (int64_t)c->since_checkpoint >= rt->checkpoint_entries)
		r = audit_checkpoint(rt, partition);
	return r;
}

int audit_checkpoint(struct router *rt, int32_t partition)
{
	struct chain *c = &rt->chains[partition];
	struct tids_audit_log_record lr = { .is_checkpoint = true };
	struct tids_audit_checkpoint *cp = &lr.checkpoint;
	uint8_t *bytes;
	size_t len;
	int r;

	/* The entries a checkpoint covers come before it on the topic. */
	if ((r = flush(rt, partition)) != 0)
		return r;
	cp->hub_id = rt->hub_id;
	cp->partition = partition;
	cp->seq = c->seq;
	memcpy(cp->head_hash, c->head, TIDS_HASH_BYTES);
	cp->signed_at_ms = now_ms();
	if ((r = tids_wire_encode_audit_checkpoint_unsigned(cp, &bytes, &len)) != 0)
		return r;
	r = tids_sign_detached(rt->hub->sign_sk, TIDS_DOMAIN_CHECKPOINT, bytes, len, cp->signature);
	free(bytes);
	if (r == 0) {
		receipts_remember_head(rt, cp);
		r = produce_log_record(rt, partition, &lr);
	}
	if (r == 0) {
		c->since_checkpoint = 0;
		c->last_checkpoint_ms = cp->signed_at_ms;
		c->dirty = true;
	}
	return r;
}

int audit_checkpoints_due(struct router *rt, int64_t now)
{
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		struct chain *c = &rt->chains[p];
		int r;

		if (c->since_checkpoint == 0)
			continue;
		if (c->last_checkpoint_ms == 0)
			c->last_checkpoint_ms = now;
		if (now - c->last_checkpoint_ms >= rt->checkpoint_ms && (r = audit_checkpoint(rt, p)) != 0)
			return r;
	}
	return 0;
}

int audit_checkpoints_all(struct router *rt)
{
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		int r;

		if (rt->chains[p].since_checkpoint > 0 && (r = audit_checkpoint(rt, p)) != 0)
			return r;
	}
	return 0;
}
