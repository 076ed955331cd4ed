/*
 * Private to lib/noise*.c: the CipherState and SymmetricState operations of
 * the Noise spec (sections 4.3, 5.1, 5.2) that the handshake is built from.
 */
#ifndef TIDS_NOISE_SYMMETRIC_H
#define TIDS_NOISE_SYMMETRIC_H

#include <stddef.h>
#include <stdint.h>

#include "tids/noise.h"

/* Internal to libtids: not exported from the shared library. */
#pragma GCC visibility push(hidden)

/* HKDF(ck, ikm) of section 4.3 with two outputs, or three when out3 != NULL. */
void tids_noise_hkdf(const uint8_t ck[TIDS_NOISE_HASH_BYTES],
		     const uint8_t *ikm, size_t ikm_len,
		     uint8_t out1[TIDS_NOISE_HASH_BYTES],
		     uint8_t out2[TIDS_NOISE_HASH_BYTES],
		     uint8_t *out3);

/* InitializeSymmetric(protocol_name). */
void tids_noise_sym_init(struct tids_noise_symmetric *ss,
			 const char *name, size_t name_len);

void tids_noise_sym_mix_hash(struct tids_noise_symmetric *ss,
			     const uint8_t *data, size_t len);

void tids_noise_sym_mix_key(struct tids_noise_symmetric *ss,
			    const uint8_t *ikm, size_t ikm_len);

void tids_noise_sym_mix_key_and_hash(struct tids_noise_symmetric *ss,
				     const uint8_t *ikm, size_t ikm_len);

/*
 * EncryptAndHash: writes len bytes, plus a tag once a key is set, to out.
 * TIDS_EPROTO on nonce exhaustion.
 */
int tids_noise_sym_encrypt_and_hash(struct tids_noise_symmetric *ss,
				    const uint8_t *in, size_t len,
				    uint8_t *out) TIDS_NOISE_WUR;

/*
 * DecryptAndHash: in is len bytes (a tag included once a key is set); the
 * plaintext goes to out (may equal in). TIDS_EAUTH leaves ss unchanged.
 */
int tids_noise_sym_decrypt_and_hash(struct tids_noise_symmetric *ss,
				    const uint8_t *in, size_t len,
				    uint8_t *out) TIDS_NOISE_WUR;

/* Split(): c1 for initiator to responder, c2 for the other way. */
void tids_noise_sym_split(const struct tids_noise_symmetric *ss,
			  struct tids_noise_cipher *c1,
			  struct tids_noise_cipher *c2);

#pragma GCC visibility pop

#endif
