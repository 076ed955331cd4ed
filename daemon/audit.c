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
#include "tids/varint.h"

static void pending_clear(struct audit_pending *ap)
{
	ap->n = 0;
	ap->msg.off = 0;
	ap->msg.len = 0;
}

static int produce_log_record(struct router *rt, int32_t partition, const struct tids_audit_log_record *lr);

/* Produces the chain's waiting entries as one message, in chain order:
 * an AuditLogRecord of AuditEntries (field 3), whose key and length go
 * right before the entries. */
static int flush(struct router *rt, int32_t partition)
{
	struct audit_pending *ap = &rt->audit_pending[partition];
	uint8_t *head = ap->msg.data, hdr[AUDIT_HEAD];
	size_t body, n;
	char key[16];
	rd_kafka_topic_t *rkt;
	int r;

	if (ap->n == 0)
		return 0;
	body = ap->msg.len - AUDIT_HEAD;
	hdr[0] = 3 << 3 | 2;
	n = 1 + tids_varint_put(hdr + 1, body);
	memcpy(head + AUDIT_HEAD - n, hdr, n);
	snprintf(key, sizeof(key), "%d", (int)partition);
	rkt = router_topic(rt, rt->t_audit);
	r = rkt != NULL ? router_produce_copy(rt, rkt, partition, key, strlen(key), head + AUDIT_HEAD - n, n + body, 0)
			: TIDS_ENOMEM;
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

/* The entry goes into its chain's waiting message as field 1 of the
 * AuditEntries there: its key, a two-byte length (an entry takes 128 to
 * 16383 bytes but for rare ones, which are moved), then the entry. */
int audit_append(struct router *rt, int32_t partition, struct tids_audit_entry *e)
{
	struct chain *c = &rt->chains[partition];
	struct audit_pending *ap = &rt->audit_pending[partition];
	crypto_generichash_state st;
	size_t at, len, vlen;
	uint8_t *entry;
	int r;

	e->partition = partition;
	e->seq = c->seq + 1;
	memcpy(e->prev_hash, c->head, TIDS_HASH_BYTES);
	if (ap->n == 0) {
		pending_clear(ap);
		if ((r = tids_buf_reserve(&ap->msg, AUDIT_HEAD)) != 0)
			return r;
		ap->msg.len = AUDIT_HEAD;
	}
	at = ap->msg.len;
	if ((r = tids_buf_reserve(&ap->msg, 4)) != 0)
		return r;
	ap->msg.len += 3;
	if ((r = tids_wire_append_audit_entry(&ap->msg, e)) != 0 || (r = tids_buf_reserve(&ap->msg, 1)) != 0) {
		ap->msg.len = at;
		return r;
	}
	len = ap->msg.len - at - 3;
	vlen = tids_varint_len(len);
	if (vlen != 2) {
		memmove(ap->msg.data + at + 1 + vlen, ap->msg.data + at + 3, len);
		ap->msg.len = ap->msg.len + vlen - 2;
	}
	ap->msg.data[at] = 1 << 3 | 2;
	tids_varint_put(ap->msg.data + at + 1, len);
	entry = ap->msg.data + at + 1 + vlen;
	crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, c->head, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, entry, len);
	crypto_generichash_final(&st, c->head, TIDS_HASH_BYTES);
	c->seq = e->seq;
	c->since_checkpoint++;
	c->dirty = true;
	ap->n++;
	r = 0;
	/* The delivery this entry records gets it as its receipt's entry. */
	if (e->delivered_hash.len > 0)
		r = receipts_bind(rt, partition, e->seq, c->head);
	if (r == 0 && (ap->n >= AUDIT_BATCH_MAX || ap->msg.len >= AUDIT_BATCH_BYTES))
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
