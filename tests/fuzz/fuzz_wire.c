/*
 * libFuzzer target for the decode gate: the first byte picks the message
 * type, the rest is the message (20 and what no case names: Status).
 * Whatever decodes is re-encoded and must decode again to the same verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tids/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUND_TRIP(type, name, freefn) do {                                       \
	type v, w;                                                                 \
	uint8_t *out;                                                              \
	size_t len;                                                                \
	if (tids_wire_decode_##name(buf, n, &v, err, sizeof(err)) == 0) {          \
		if (tids_wire_encode_##name(&v, &out, &len) == 0) {                \
			if (tids_wire_decode_##name(out, len, &w, err, sizeof(err)) != 0) \
				abort();                                           \
			freefn(&w);                                                \
			free(out);                                                 \
		}                                                                  \
		freefn(&v);                                                        \
	}                                                                          \
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	const uint8_t *buf = data + 1;
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	switch (data[0] % 28) {
	case 0: ROUND_TRIP(struct tids_record, record, tids_record_free); break;
	case 1: ROUND_TRIP(struct tids_batch, batch, tids_batch_free); break;
	case 2: ROUND_TRIP(struct tids_publish_ack, publish_ack, tids_publish_ack_free); break;
	case 3: ROUND_TRIP(struct tids_delivery, delivery, tids_delivery_free); break;
	case 4: ROUND_TRIP(struct tids_grant, grant, tids_grant_free); break;
	case 5: ROUND_TRIP(struct tids_approval, approval, tids_approval_free); break;
	case 6: ROUND_TRIP(struct tids_participant, participant, tids_participant_free); break;
	case 7: ROUND_TRIP(struct tids_asset, asset, tids_asset_free); break;
	case 8: ROUND_TRIP(struct tids_peer, peer, tids_peer_free); break;
	case 9: ROUND_TRIP(struct tids_audit_entry, audit_entry, tids_audit_entry_free); break;
	case 10: ROUND_TRIP(struct tids_audit_checkpoint, audit_checkpoint, tids_audit_checkpoint_free); break;
	case 11: ROUND_TRIP(struct tids_subscribe_control, subscribe_control, tids_subscribe_control_free); break;
	case 12: ROUND_TRIP(struct tids_ping, ping_reply, tids_ping_free); break;
	case 13: ROUND_TRIP(struct tids_id_message, suspend_request, tids_id_message_free); break;
	case 14: case 15: {
		struct tids_frame f, g;
		uint8_t *out;
		size_t len;

		if (tids_wire_decode_frame(buf, n, 1u << 20, &f, err, sizeof(err)) == 0) {
			if (tids_wire_encode_frame(&f, &out, &len) == 0) {
				if (tids_wire_decode_frame(out, len, 1u << 20, &g, err, sizeof(err)) != 0)
					abort();
				tids_frame_free(&g);
				free(out);
			}
			tids_frame_free(&f);
		}
		break;
	}
	/* What tidsd keeps on Kafka: ingress envelopes, deliveries, the audit
	 * log and the router's state entries. */
	case 16: ROUND_TRIP(struct tids_ingress_record, ingress_record, tids_ingress_record_free); break;
	case 17: ROUND_TRIP(struct tids_delivery_envelope, delivery_envelope, tids_delivery_envelope_free); break;
	case 18: ROUND_TRIP(struct tids_audit_log_record, audit_log_record, tids_audit_log_record_free); break;
	case 19: ROUND_TRIP(struct tids_router_state, router_state, tids_router_state_free); break;
	case 20: ROUND_TRIP(struct tids_hub_key, hub_key_reply, tids_hub_key_free); break;
	case 21: ROUND_TRIP(struct tids_list_request, list_request, tids_list_request_free); break;
	case 22: ROUND_TRIP(struct tids_id_message, show_request, tids_id_message_free); break;
	case 23: ROUND_TRIP(struct tids_list_reply, list_reply, tids_list_reply_free); break;
	/* What a peer hub sends: directories and the Pull call's messages. */
	case 24: ROUND_TRIP(struct tids_directory, directory, tids_directory_free); break;
	case 25: ROUND_TRIP(struct tids_pull_control, pull_control, tids_pull_control_free); break;
	case 26: ROUND_TRIP(struct tids_pull_item, pull_item, tids_pull_item_free); break;
	case 27: ROUND_TRIP(struct tids_peers_reply, peers_reply, tids_peers_reply_free); break;
	default: {
		struct tids_status s;

		if (tids_wire_decode_status(buf, n, &s, err, sizeof(err)) == 0)
			tids_status_free(&s);
		break;
	}
	}
	return 0;
}
