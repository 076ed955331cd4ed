/*
 * libFuzzer target for the frame decoder as tidsd runs it: the byte stream
 * of a connection through tids_channel_absorb and tids_channel_next (plain
 * mode, as on the local socket and inside Noise), each complete frame
 * through tids_wire_decode_frame, and its body through the request gate of
 * its method, as rpc.c dispatches it.
 *
 * Input: byte 0 picks the size of the pieces the stream arrives in (as
 * recv would cut it), byte 1 the frame limit; the rest is the stream.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/buf.h"
#include "tids/channel.h"
#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any key: a signature the fuzzer could make verify would be news. */
static const uint8_t publisher_key[TIDS_PUBLIC_KEY_BYTES] = { 1 };

/* Decodes body (len bytes) with one gate; err is the caller's. */
#define GATE(type, name, freefn) do {                                          \
	type v;                                                                \
	if (tids_wire_decode_##name(body, len, &v, err, sizeof(err)) == 0)    \
		freefn(&v);                                                    \
	else if (err[0] == '\0')                                               \
		abort();   /* a refusal must say why */                        \
} while (0)

/* What ingest does with a batch before Kafka sees any of it. */
static void publish_gate(const uint8_t *body, size_t len)
{
	struct tids_batch b;
	char err[256] = "";

	if (tids_wire_decode_batch(body, len, &b, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (b.n_records == 0 || b.n_records > TIDS_BATCH_RECORDS_MAX)
		abort();
	(void)tids_batch_verify(&b, publisher_key, err, sizeof(err));
	for (size_t i = 0; i < b.n_records; i++) {
		struct tids_record rec;

		if (tids_wire_decode_record(b.records[i].data, b.records[i].len, &rec, err, sizeof(err)) == 0)
			tids_record_free(&rec);
	}
	tids_batch_free(&b);
}

static void request_gate(const char *method, const uint8_t *body, size_t len)
{
	char err[256] = "";

	if (strcmp(method, "tids.v1.Exchange/Ping") == 0)
		GATE(struct tids_ping, ping_request, tids_ping_free);
	else if (strcmp(method, "tids.v1.Exchange/Publish") == 0)
		publish_gate(body, len);
	else if (strcmp(method, "tids.v1.Exchange/Subscribe") == 0)
		GATE(struct tids_subscribe_control, subscribe_control, tids_subscribe_control_free);
	else if (strcmp(method, "tids.v1.Exchange/Grant") == 0)
		GATE(struct tids_grant, signed_grant, tids_grant_free);
	else if (strcmp(method, "tids.v1.Exchange/Revoke") == 0)
		GATE(struct tids_id_message, revoke_request, tids_id_message_free);
	else if (strcmp(method, "tids.v1.Exchange/Approve") == 0)
		GATE(struct tids_approval, signed_approval, tids_approval_free);
	else if (strcmp(method, "tids.v1.Exchange/RevokeApproval") == 0)
		GATE(struct tids_id_message, revoke_approval_request, tids_id_message_free);
	else if (strcmp(method, "tids.v1.Admin/RegisterParticipant") == 0)
		GATE(struct tids_participant, participant, tids_participant_free);
	else if (strcmp(method, "tids.v1.Admin/RegisterAsset") == 0)
		GATE(struct tids_asset, asset, tids_asset_free);
	else if (strcmp(method, "tids.v1.Admin/RegisterPeer") == 0)
		GATE(struct tids_peer, peer, tids_peer_free);
	else if (strcmp(method, "tids.v1.Admin/Suspend") == 0)
		GATE(struct tids_id_message, suspend_request, tids_id_message_free);
}

/* Acks on an open Subscribe call (egress.c). */
static void client_item_gate(const uint8_t *body, size_t len)
{
	char err[256] = "";

	GATE(struct tids_subscribe_control, subscribe_control, tids_subscribe_control_free);
}

/* One complete frame, as session.c and rpc.c handle it. */
static void handle_frame(const uint8_t *buf, size_t len, size_t frame_max)
{
	struct tids_frame f, g;
	char err[256] = "";
	uint8_t *out, *copy;
	size_t olen;

	/* A buffer of exactly len bytes, so ASan sees any over-read. */
	copy = malloc(len > 0 ? len : 1);
	if (copy == NULL)
		abort();
	if (len > 0)
		memcpy(copy, buf, len);
	if (tids_wire_decode_frame(copy, len, frame_max, &f, err, sizeof(err)) != 0) {
		/* The hub answers this message on call 0: it must exist. */
		if (err[0] == '\0')
			abort();
		free(copy);
		return;
	}
	if (f.kind < TIDS_FRAME_REQUEST || f.kind > TIDS_FRAME_CANCEL || f.method == NULL ||
	    (f.call_id == 0 && f.kind != TIDS_FRAME_RESPONSE) || f.body.len > len)
		abort();
	if (f.kind == TIDS_FRAME_REQUEST)
		request_gate(f.method, f.body.data, f.body.len);
	else if (f.kind == TIDS_FRAME_CLIENT_ITEM)
		client_item_gate(f.body.data, f.body.len);
	/* What passed the gate encodes and passes it again, unchanged (a
	 * status is the server's, on RESPONSE and STREAM_END: the encoder
	 * leaves it off other frames, and the hub never reads one). */
	if (tids_wire_encode_frame(&f, &out, &olen) == 0) {
		bool has_status = f.kind == TIDS_FRAME_RESPONSE || f.kind == TIDS_FRAME_STREAM_END;

		if (tids_wire_decode_frame(out, olen, TIDS_FRAME_MAX_LIMIT, &g, err, sizeof(err)) != 0 ||
		    g.call_id != f.call_id || g.kind != f.kind || strcmp(g.method, f.method) != 0 ||
		    g.body.len != f.body.len || (f.body.len > 0 && memcmp(g.body.data, f.body.data, f.body.len) != 0) ||
		    (has_status && (g.status.code != f.status.code || strcmp(g.status.message, f.status.message) != 0)))
			abort();
		tids_frame_free(&g);
		free(out);
	}
	tids_frame_free(&f);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_channel ch;
	struct tids_buf in = { 0 };
	size_t step, frame_max, pos = 2;
	int closed = 0;

	if (size < 2)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	/* limits.frame_max is at least 1024; small limits reach ETOOBIG. */
	frame_max = (size_t)1024 << (data[1] % 4);
	tids_channel_init_plain(&ch, frame_max);
	while (pos < size && !closed) {
		size_t n = size - pos < step ? size - pos : step;

		if (tids_buf_append(&in, data + pos, n) != 0 || tids_channel_absorb(&ch, &in) != 0)
			abort();
		pos += n;
		if (in.len != 0)
			abort();   /* plain mode takes everything */
		for (;;) {
			const uint8_t *frame;
			size_t len;
			int r = tids_channel_next(&ch, &frame, &len);

			if (r == 0)
				break;
			if (r == TIDS_ETOOBIG) {
				/* The hub answers and closes: nothing after it is read. */
				closed = 1;
				break;
			}
			if (r != 1 || len > frame_max)
				abort();
			handle_frame(frame, len, frame_max);
		}
	}
	/* Never more buffered than one frame and what came with it. */
	if (!closed && ch.plain.len > frame_max + 4 + step)
		abort();
	tids_channel_wipe(&ch);
	tids_buf_free(&in);
	return 0;
}
