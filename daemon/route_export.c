/*
 * Exports, the origin's side of federation (router thread): a record the
 * policy permits for a participant of a peer hub goes, in the batch's
 * transaction with the decision and its audit entry, to that hub's
 * outbound topic tids.<hub>.out.<peer>, transformed as the decision says
 * and with what proves its publication: the publisher's batch signature,
 * root and Merkle path, and the leaf of the record as published. A record
 * the policy refuses never reaches the topic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "router.h"
#include "tids/error.h"
#include "tids/seal.h"

const char *route_peer_of(struct router *rt, const char *recipient, bool *unreachable)
{
	const struct tids_participant *p = tids_map_get_str(&rt->participants, recipient);
	const char *topic;

	*unreachable = false;
	if (p == NULL || *p->home_hub == '\0' || strcmp(p->home_hub, rt->hub_id) == 0)
		return NULL;
	topic = tids_map_get_str(&rt->peers, p->home_hub);
	if (topic == NULL) {
		*unreachable = true;
		return NULL;
	}
	return topic + strlen(rt->t_out_prefix);
}

int route_export(struct router *rt, const char *hub, const char *recipient, const struct tids_delivery *del,
		 const struct route_ctx *ctx, int32_t entry_partition, uint8_t hash[TIDS_HASH_BYTES])
{
	const struct tids_ingress_record *ir = ctx != NULL ? ctx->ir : NULL;
	const struct tids_forward_info *in = ir != NULL && ir->forwarded.present ? &ir->forwarded : NULL;
	struct tids_ingress_record fwd;
	const char *topic = tids_map_get_str(&rt->peers, hub);
	uint8_t *encoded = NULL, *sealed = NULL, *value;
	const uint8_t *bytes;
	size_t len, vlen;
	bool as_published;
	int r;

	if (topic == NULL)
		return TIDS_ENOENT;
	memset(&fwd, 0, sizeof(fwd));
	/* Unchanged since its publisher signed it (here and at every hop
	 * before): the very bytes go, and they are their own proof. */
	as_published = ir != NULL && *ir->publisher != '\0' && del->decision == TIDS_DECISION_ALLOW &&
		       (in == NULL || in->decision == TIDS_DECISION_ALLOW);
	if (as_published) {
		bytes = ctx->bytes;
		len = ctx->len;
	} else {
		if ((r = tids_wire_encode_record(&del->record, &encoded, &len)) != 0)
			return r;
		bytes = encoded;
	}
	crypto_generichash(hash, TIDS_HASH_BYTES, bytes, len, NULL, 0);
	memcpy(fwd.record_id, del->record.record_id, TIDS_RECORD_ID_BYTES);
	fwd.publisher = "";
	if (ir != NULL && *ir->publisher != '\0') {
		fwd.publisher = ir->publisher;
		fwd.sequence = ir->sequence;
		memcpy(fwd.batch_root, ir->batch_root, TIDS_HASH_BYTES);
		memcpy(fwd.batch_signature, ir->batch_signature, TIDS_SIGNATURE_BYTES);
		fwd.leaf_index = ir->leaf_index;
		fwd.leaf_count = ir->leaf_count;
		fwd.merkle_path = ir->merkle_path;
		fwd.n_merkle_path = ir->n_merkle_path;
		if (in != NULL)
			memcpy(fwd.forwarded.leaf_hash, in->leaf_hash, TIDS_HASH_BYTES);
		else
			tids_merkle_leaf_hash(ctx->bytes, ctx->len, fwd.forwarded.leaf_hash);
	}
	fwd.received_at_ms = now_ms();
	fwd.forwarded = (struct tids_forward_info){
		.present = true, .from_hub = rt->hub_id, .recipient = recipient, .purpose = del->purpose,
		.decision = as_published ? TIDS_DECISION_ALLOW : TIDS_DECISION_TRANSFORM,
		.obligations = del->obligations, .rule_ids = del->rule_ids,
		.entry_partition = entry_partition, .entry_seq = rt->chains[entry_partition].seq + 1,
		.hops = in != NULL ? in->hops + 1 : 1, .origin_hub = in != NULL ? in->origin_hub : rt->hub_id,
		.decided_at_ms = del->decided_at_ms, .refused = "",
	};
	if (fwd.publisher[0] != '\0')
		memcpy(fwd.forwarded.leaf_hash, in != NULL ? in->leaf_hash : fwd.forwarded.leaf_hash, TIDS_HASH_BYTES);
	if (fwd.publisher[0] != '\0' && in == NULL)
		tids_merkle_leaf_hash(ctx->bytes, ctx->len, fwd.forwarded.leaf_hash);
	fwd.record = (struct tids_bytes){ bytes, len };
	/* On our Kafka, as on the ingress topic: no important or core
	 * plaintext. The link to the peer is encrypted itself. */
	if (tids_record_effective_tier(&del->record) >= TIDS_TIER_IMPORTANT || del->obligations.encrypt) {
		uint8_t ad[TIDS_SEAL_AD_MAX];
		size_t ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_OUTBOUND, topic, recipient, "", fwd.record_id);

		sealed = ad_len > 0 ? malloc(len + TIDS_SEAL_OVERHEAD) : NULL;
		if (sealed == NULL) {
			r = ad_len > 0 ? TIDS_ENOMEM : TIDS_EINVAL;
			goto out;
		}
		/* Bound to this peer's topic and recipient (our own records'
		 * key: only this hub opens it, to send it over the link). */
		tids_seal(rt->keys->ingress, ad, ad_len, bytes, len, sealed);
		fwd.record = (struct tids_bytes){ sealed, len + TIDS_SEAL_OVERHEAD };
		fwd.sealed = true;
	}
	if ((r = tids_wire_encode_ingress_record(&fwd, &value, &vlen)) != 0)
		goto out;
	r = router_produce(rt, topic, 0, fwd.record_id, TIDS_RECORD_ID_BYTES, value, vlen);
	if (r == 0)
		rt->exported++;
out:
	if (encoded != NULL) {
		sodium_memzero(encoded, len);
		free(encoded);
	}
	free(sealed);
	return r;
}
