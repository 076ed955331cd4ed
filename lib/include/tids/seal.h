/*
 * Encryption at rest: XChaCha20-Poly1305 with a random 24-byte nonce
 * prepended, for record payloads on Kafka and for data keys wrapped under
 * the master key. The associated data binds a ciphertext to where it
 * belongs (topic and record id, grant id), so it cannot be moved.
 */
#ifndef TIDS_SEAL_H
#define TIDS_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define TIDS_SEAL_KEY_BYTES 32
#define TIDS_SEAL_NONCE_BYTES 24
#define TIDS_SEAL_OVERHEAD (TIDS_SEAL_NONCE_BYTES + 16)
#define TIDS_SEAL_WRAPPED_KEY_BYTES (TIDS_SEAL_KEY_BYTES + TIDS_SEAL_OVERHEAD)

/* out must hold len + TIDS_SEAL_OVERHEAD bytes. */
void tids_seal(const uint8_t key[TIDS_SEAL_KEY_BYTES], const uint8_t *ad, size_t ad_len,
	       const uint8_t *in, size_t len, uint8_t *out);
/* out must hold len - TIDS_SEAL_OVERHEAD bytes. TIDS_ECRYPTO when the key,
 * the associated data or a byte is wrong; TIDS_ETRUNC when too short. */
__attribute__((warn_unused_result))
int tids_seal_open(const uint8_t key[TIDS_SEAL_KEY_BYTES], const uint8_t *ad, size_t ad_len,
		   const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);

/* A data key wrapped under the master key, bound to label (e.g. the grant id). */
void tids_seal_wrap_key(const uint8_t master[TIDS_SEAL_KEY_BYTES], const char *label,
			const uint8_t key[TIDS_SEAL_KEY_BYTES], uint8_t out[TIDS_SEAL_WRAPPED_KEY_BYTES]);
__attribute__((warn_unused_result))
int tids_seal_unwrap_key(const uint8_t master[TIDS_SEAL_KEY_BYTES], const char *label,
			 const uint8_t in[TIDS_SEAL_WRAPPED_KEY_BYTES], uint8_t key[TIDS_SEAL_KEY_BYTES]);

/* A key of its own for one use of key: BLAKE2b-256 keyed with key, over
 * the domain string. One-way: out says nothing about key. */
void tids_seal_derive(const uint8_t key[TIDS_SEAL_KEY_BYTES], const char *domain,
		      uint8_t out[TIDS_SEAL_KEY_BYTES]);

#endif
