/*
 * Gate and encoder for the hub's state on Kafka (entries of the registry
 * topic, proto/tids/v1/hubstate.proto), authenticated as the router's state
 * entries are, by the same opener (wire_state_open, lib/wire_state.c): Kafka
 * is trusted with neither.
 */
#include <stdlib.h>
#include <string.h>

#include "tids/crypto.h"

#include "wire_internal.h"

/* A SignedGrant or SignedApproval with its lists, plus the key and labels. */
#define HUB_STATE_MAX 131072
#define HUB_ACTOR_MAX 256
#define HUB_IDENTITY_MAX 1024

int tids_wire_open_hub_state(const uint8_t mac_key[32], const struct tids_state_message *m,
			     struct tids_hub_state *out, uint64_t *seq, char *err, size_t errlen)
{
	Tids__V1__HubStateEntry *pb;
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = wire_state_open(mac_key, m, STATE_KEY_PRINTABLE, HUB_STATE_MAX, seq, err, errlen)) != 0)
		return r;
	if (m->value == NULL) {
		*seq = 0;
		return tids_fail(err, errlen, TIDS_EMISSING, "hub state entry: a tombstone (removals are entries)");
	}
	r = wire_unpack(&tids__v1__hub_state_entry__descriptor, m->value, m->len, HUB_STATE_MAX, 0, &b, err, errlen);
	if (r < 0)
		goto fail;
	pb = (Tids__V1__HubStateEntry *)b->msg;
	if (pb->wrapped_key.len != 0 && pb->wrapped_key.len != TIDS_HUB_WRAPPED_KEY_BYTES) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "hub state entry: wrapped_key is %zu bytes, must be %d",
			      pb->wrapped_key.len, TIDS_HUB_WRAPPED_KEY_BYTES);
		goto release;
	}
	if (pb->revoked_at_ms < 0 || pb->at_ms < 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "hub state entry: negative time");
		goto release;
	}
	if ((r = wire_text("hub state entry: actor", pb->actor, HUB_ACTOR_MAX, err, errlen)) < 0 ||
	    (r = wire_opt_id("hub state entry: instance", pb->instance, err, errlen)) < 0)
		goto release;
	out->body = (struct tids_bytes){ pb->body.data, pb->body.len };
	out->wrapped_key = (struct tids_bytes){ pb->wrapped_key.data, pb->wrapped_key.len };
	out->revoked_at_ms = pb->revoked_at_ms;
	out->actor = pb->actor;
	out->instance = pb->instance;
	out->at_ms = pb->at_ms;
	out->backing = b;
	return 0;
release:
	wire_release(b);
fail:
	memset(out, 0, sizeof(*out));
	*seq = 0;
	return r;
}

int tids_wire_encode_hub_state(const struct tids_hub_state *in, uint8_t **out, size_t *len)
{
	Tids__V1__HubStateEntry pb = TIDS__V1__HUB_STATE_ENTRY__INIT;

	pb.body = (ProtobufCBinaryData){ in->body.len, (uint8_t *)in->body.data };
	pb.wrapped_key = (ProtobufCBinaryData){ in->wrapped_key.len, (uint8_t *)in->wrapped_key.data };
	pb.revoked_at_ms = in->revoked_at_ms;
	pb.actor = (char *)(in->actor != NULL ? in->actor : "");
	pb.instance = (char *)(in->instance != NULL ? in->instance : "");
	pb.at_ms = in->at_ms;
	return wire_pack(&pb.base, out, len);
}

void tids_hub_state_free(struct tids_hub_state *s)
{
	if (s == NULL)
		return;
	wire_release(s->backing);
	memset(s, 0, sizeof(*s));
}

int tids_wire_decode_hub_identity(const uint8_t *buf, size_t len, struct tids_hub_identity *out, char *err,
				  size_t errlen)
{
	Tids__V1__HubIdentity *pb;
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__hub_identity__descriptor, buf, len, HUB_IDENTITY_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	pb = (Tids__V1__HubIdentity *)b->msg;
	if ((r = wire_need_id("hub identity: hub_id", pb->hub_id, err, errlen)) < 0 ||
	    (r = wire_bytes("hub identity: sign_key", pb->sign_key, TIDS_PUBLIC_KEY_BYTES, err, errlen)) < 0 ||
	    (r = wire_bytes("hub identity: genesis", pb->genesis, TIDS_HUB_GENESIS_BYTES, err, errlen)) < 0) {
		wire_release(b);
		return r;
	}
	out->hub_id = pb->hub_id;
	memcpy(out->sign_key, pb->sign_key.data, TIDS_PUBLIC_KEY_BYTES);
	memcpy(out->genesis, pb->genesis.data, TIDS_HUB_GENESIS_BYTES);
	out->backing = b;
	return 0;
}

int tids_wire_encode_hub_identity(const struct tids_hub_identity *in, uint8_t **out, size_t *len)
{
	Tids__V1__HubIdentity pb = TIDS__V1__HUB_IDENTITY__INIT;

	pb.hub_id = (char *)in->hub_id;
	pb.sign_key = (ProtobufCBinaryData){ TIDS_PUBLIC_KEY_BYTES, (uint8_t *)in->sign_key };
	pb.genesis = (ProtobufCBinaryData){ TIDS_HUB_GENESIS_BYTES, (uint8_t *)in->genesis };
	return wire_pack(&pb.base, out, len);
}

void tids_hub_identity_free(struct tids_hub_identity *h)
{
	if (h == NULL)
		return;
	wire_release(h->backing);
	memset(h, 0, sizeof(*h));
}
