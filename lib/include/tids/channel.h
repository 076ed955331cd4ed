/*
 * The byte layout of a participant connection, shared by tidsd and the
 * client library. On TCP, each Noise message (handshake or transport) is
 * sent as uint16be length + message. The plaintext carried by transport
 * messages is a stream of uint32be length + serialized tids.v1.Frame; a
 * frame larger than one Noise message spans several. On the local Unix
 * socket there is no Noise: the frame stream is sent as it is.
 */
#ifndef TIDS_CHANNEL_H
#define TIDS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/buf.h"
#include "tids/noise.h"
#include "tids/record.h"

#define TIDS_CHANNEL_PROLOGUE "tids.v1"

struct tids_channel {
	bool encrypted;
	struct tids_noise_cipher tx;
	struct tids_noise_cipher rx;
	struct tids_buf plain;       /* received plaintext not yet returned as frames */
	size_t pending;              /* bytes of the frame last returned, consumed on the next call */
	size_t frame_max;
};

void tids_channel_init_plain(struct tids_channel *ch, size_t frame_max);
/* Takes the cipher states from split (and wipes the caller's copies). */
void tids_channel_init_noise(struct tids_channel *ch, struct tids_noise_cipher *tx,
			     struct tids_noise_cipher *rx, size_t frame_max);
void tids_channel_wipe(struct tids_channel *ch);

/* Appends frame (a serialized Frame) to out as wire bytes. */
__attribute__((warn_unused_result))
int tids_channel_seal(struct tids_channel *ch, const uint8_t *frame, size_t len, struct tids_buf *out);

/*
 * Moves the complete messages at the head of in into the plaintext stream
 * (decrypting them on TCP). Stops early while a whole frame is already
 * waiting, so memory stays bounded by frame_max plus one Noise message.
 * Returns 0, or TIDS_EAUTH when a message does not decrypt (the peer or the
 * path is broken: close the connection).
 */
__attribute__((warn_unused_result))
int tids_channel_absorb(struct tids_channel *ch, struct tids_buf *in);

/*
 * The next complete frame: returns 1 with *frame and *len valid until the next
 * call, 0 when more bytes are needed, TIDS_ETOOBIG when the peer announced
 * a frame above frame_max (the stream cannot be resynchronised: close).
 */
__attribute__((warn_unused_result))
int tids_channel_next(struct tids_channel *ch, const uint8_t **frame, size_t *len);

/* Handshake messages: uint16be length + message. pull returns 1 with the
 * message at *msg (consume 2 + len from in after use), 0 if incomplete. */
int tids_channel_pull_message(const struct tids_buf *in, const uint8_t **msg, size_t *len);
__attribute__((warn_unused_result))
int tids_channel_put_message(struct tids_buf *out, const uint8_t *msg, size_t len);

/*
 * The hub's handshake payload (in Noise message 2, encrypted and bound to
 * its static key): its id, then 0x00 and its Ed25519 public key, whose
 * X25519 form is the static key. Clients pin that key (known_hubs.h).
 */
#define TIDS_HELLO_MAX (TIDS_ID_MAX + 1 + 32)
size_t tids_channel_hello_encode(const char *hub_id, const uint8_t key[32], uint8_t out[TIDS_HELLO_MAX]);
/* The gate for it: 0 with hub_id and key filled (*has_key false when an
 * older hub sent its id alone), or TIDS_EINVAL. */
__attribute__((warn_unused_result))
int tids_channel_hello_decode(const uint8_t *p, size_t len, char hub_id[TIDS_ID_MAX + 1], uint8_t key[32],
			      bool *has_key);

#endif
