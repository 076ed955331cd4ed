/*
 * libFuzzer target for the session layer's first gate: an XX responder with
 * fixed keys reads what an initiator sends. The input is a sequence of
 * messages, each a 2-byte big-endian length and its bytes: handshake
 * messages 1 and 3, then transport messages, which the responder echoes.
 *
 * The keys, prologue and the responder's payload are those of the XX
 * cacophony vector, so the vector's initiator messages (the seeds) complete
 * the handshake and reach transport.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t resp_static[32] = {
	0x4a, 0x3a, 0xcb, 0xfd, 0xb1, 0x63, 0xde, 0xc6, 0x51, 0xdf, 0xa3, 0x19,
	0x4d, 0xec, 0xe6, 0x76, 0xd4, 0x37, 0x02, 0x9c, 0x62, 0xa4, 0x08, 0xb4,
	0xc5, 0xea, 0x91, 0x14, 0x24, 0x6e, 0x48, 0x93,
};
static const uint8_t resp_ephemeral[32] = {
	0xbb, 0xdb, 0x4c, 0xdb, 0xd3, 0x09, 0xf1, 0xa1, 0xf2, 0xe1, 0x45, 0x69,
	0x67, 0xfe, 0x28, 0x8c, 0xad, 0xd6, 0xf7, 0x12, 0xd6, 0x5d, 0xc7, 0xb7,
	0x79, 0x3d, 0x5e, 0x63, 0xda, 0x6b, 0x37, 0x5b,
};
static const char prologue[] = "John Galt";
static const char reply[] = "Murray Rothbard";

static uint8_t out[TIDS_NOISE_MAX_MESSAGE_BYTES];
static uint8_t payload[TIDS_NOISE_MAX_MESSAGE_BYTES];

/* A failed handshake must be wiped and refuse everything after. */
static void check_failed(struct tids_noise_handshake *hs)
{
	size_t len;

	if (!sodium_is_zero((const uint8_t *)hs, sizeof *hs) ||
	    tids_noise_remote_static(hs) != NULL ||
	    tids_noise_handshake_hash(hs) != NULL ||
	    tids_noise_read_message(hs, out, 32, payload, sizeof payload, &len) !=
		    TIDS_EPROTO ||
	    tids_noise_write_message(hs, NULL, 0, out, sizeof out, &len) !=
		    TIDS_EPROTO)
		abort();
}

/* One handshake message from the peer; 1 while the session goes on. */
static int handshake_step(struct tids_noise_handshake *hs, const uint8_t *msg,
			  size_t n)
{
	size_t len;
	int ret;

	if (tids_noise_handshake_want_write(hs)) {
		ret = tids_noise_write_message(hs, (const uint8_t *)reply,
					       sizeof reply - 1, out, sizeof out,
					       &len);
		/* Only a low-order ephemeral from the peer may fail our reply. */
		if (ret == TIDS_EAUTH) {
			check_failed(hs);
			return 0;
		}
		if (ret != 0)
			abort();
	}
	if (tids_noise_read_message(hs, msg, n, payload, sizeof payload, &len) != 0) {
		check_failed(hs);
		return 0;
	}
	if (len > n)
		abort();
	/* XX: the initiator's key is known once message 3 is read. */
	if (tids_noise_handshake_done(hs) &&
	    (tids_noise_remote_static(hs) == NULL ||
	     tids_noise_handshake_hash(hs) == NULL))
		abort();
	return 1;
}

static int transport_step(struct tids_noise_cipher *send,
			  struct tids_noise_cipher *recv,
			  const uint8_t *msg, size_t n)
{
	size_t len, echoed;

	if (tids_noise_decrypt(recv, NULL, 0, msg, n, payload, sizeof payload,
			       &len) != 0)
		return 0;
	if (len + TIDS_NOISE_TAG_BYTES != n ||
	    tids_noise_encrypt(send, NULL, 0, payload, len, out, sizeof out,
			       &echoed) != 0 || echoed != n)
		abort();
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_noise_handshake hs;
	struct tids_noise_cipher send, recv;
	uint8_t *msg;
	size_t pos = 0, n;
	int split = 0, go_on = 1;

	if (sodium_init() < 0 ||
	    tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 0,
				      (const uint8_t *)prologue,
				      sizeof prologue - 1, resp_static, NULL,
				      NULL) != 0 ||
	    tids_noise_handshake_set_ephemeral(&hs, resp_ephemeral) != 0)
		abort();
	memset(&send, 0, sizeof send);
	memset(&recv, 0, sizeof recv);

	while (go_on && size - pos >= 2) {
		n = (size_t)data[pos] << 8 | data[pos + 1];
		pos += 2;
		if (n > size - pos)
			n = size - pos;
		/* A buffer of exactly n bytes, so ASan sees any over-read. */
		msg = malloc(n > 0 ? n : 1);
		if (msg == NULL)
			abort();
		if (n > 0)
			memcpy(msg, data + pos, n);
		pos += n;
		if (!split) {
			go_on = handshake_step(&hs, msg, n);
			if (go_on && tids_noise_handshake_done(&hs)) {
				if (tids_noise_split(&hs, &send, &recv) != 0)
					abort();
				split = 1;
			}
		} else {
			go_on = transport_step(&send, &recv, msg, n);
		}
		free(msg);
	}
	tids_noise_handshake_wipe(&hs);
	tids_noise_cipher_wipe(&send);
	tids_noise_cipher_wipe(&recv);
	return 0;
}
