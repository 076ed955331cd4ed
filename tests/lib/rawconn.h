/*
 * A participant connection that a test drives byte by byte: TCP, a Noise_XX
 * initiator on lib/noise.h and the frame channel of lib/channel.h, so that a
 * test can send exactly the bytes it wants (garbage, a replayed handshake
 * message, a truncated or oversize frame, a body that is not protobuf) and
 * read exactly what the hub answers. libtids' client never sends such bytes.
 */
#ifndef TIDS_TEST_RAWCONN_H
#define TIDS_TEST_RAWCONN_H

#include <stddef.h>
#include <stdint.h>

#include "tids/buf.h"
#include "tids/channel.h"
#include "tids/crypto.h"
#include "tids/wire.h"

/* Handshake messages as sent on the wire, length prefix included. XX
 * message 1 is e (32 bytes), message 3 is s and a tag (64 bytes): with
 * empty payloads both fit. */
#define TIDS_TEST_RAW_HS_MAX 256

struct tids_test_raw {
	int fd;
	struct tids_channel ch;                  /* transport, after the handshake */
	struct tids_buf in;                      /* bytes read, not yet absorbed */
	uint8_t msg1[TIDS_TEST_RAW_HS_MAX];      /* recorded, for replays */
	size_t msg1_len;
	uint8_t msg3[TIDS_TEST_RAW_HS_MAX];
	size_t msg3_len;
	int welcome_code;                        /* tids.v1.Code of the hub's first message */
	char welcome[TIDS_STATUS_MESSAGE_MAX + 1];
};

/* Opens a TCP connection to "127.0.0.1:PORT" and does nothing else.
 * Returns 0 or -1 (message on stderr). */
int tids_test_raw_dial(struct tids_test_raw *r, const char *addr);
void tids_test_raw_close(struct tids_test_raw *r);

/* Sends n bytes as they are. 0, or -1 when the hub has closed. */
int tids_test_raw_write(struct tids_test_raw *r, const void *p, size_t n);

/* Reads one uint16be-prefixed Noise message into buf: 1, 0 on timeout,
 * -1 when the connection closed first or the message exceeds cap. */
int tids_test_raw_read_message(struct tids_test_raw *r, uint8_t *buf, size_t cap, size_t *len, int timeout_ms);

/*
 * Runs the XX handshake as id (recording messages 1 and 3), checks that the
 * hub's static key is the X25519 form of hub_pk, and reads the hub's first
 * transport message into welcome_code and welcome. Returns 0 when all of
 * that happened (whatever the welcome says), -1 otherwise (why on stderr).
 */
int tids_test_raw_handshake(struct tids_test_raw *r, const struct tids_identity *id,
			    const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES], int timeout_ms);

/* Encrypts arbitrary plaintext into transport messages: the frame stream
 * exactly as given, whether or not it holds whole frames. 0 or -1. */
int tids_test_raw_send_plain(struct tids_test_raw *r, const void *p, size_t n);
/* Encodes f and sends it with its uint32be length. 0 or -1. */
int tids_test_raw_send_frame(struct tids_test_raw *r, const struct tids_frame *f);

/* The next frame from the hub (free it with tids_frame_free): 1, 0 on
 * timeout, -1 when the connection closed or the bytes are not a frame. */
int tids_test_raw_read_frame(struct tids_test_raw *r, struct tids_frame *f, int timeout_ms);

/* A Ping on call_id, waiting for its response: the response's status code
 * (0 when the nonce came back), or -1 when the connection failed. Frames of
 * other calls are skipped. */
int tids_test_raw_ping(struct tids_test_raw *r, uint64_t call_id, int timeout_ms);

/* Waits until the hub closes the connection: 1 if it did within
 * timeout_ms, 0 if not. *received (may be NULL) counts the bytes that
 * arrived meanwhile, after those already buffered. */
int tids_test_raw_wait_closed(struct tids_test_raw *r, int timeout_ms, size_t *received);

#endif
