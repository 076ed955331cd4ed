/*
 * Encryption at rest: XChaCha20-Poly1305 with a random 24-byte nonce
 * prepended, for record payloads on Kafka and for keys wrapped under other
 * keys. The associated data binds a ciphertext to where it belongs (what
 * kind of message, on which topic, for whom, which record; the label a key
 * is wrapped under), so it cannot be moved.
 */
#ifndef TIDS_SEAL_H
#define TIDS_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define TIDS_SEAL_KEY_BYTES 32
#define TIDS_SEAL_NONCE_BYTES 24
#define TIDS_SEAL_OVERHEAD (TIDS_SEAL_NONCE_BYTES + 16)
#define TIDS_SEAL_WRAPPED_KEY_BYTES (TIDS_SEAL_KEY_BYTES + TIDS_SEAL_OVERHEAD)

/* Derivation domains: each use of the hub data key gets a key of its own,
 * so that a ciphertext made for one use never opens in another. */
#define TIDS_SEAL_DOMAIN_INGRESS "tids.v1.seal.ingress"
#define TIDS_SEAL_DOMAIN_DELIVERY "tids.v1.seal.delivery"

/* Kinds of sealed message, for tids_seal_ad. */
#define TIDS_SEAL_KIND_INGRESS "ingress"
#define TIDS_SEAL_KIND_DELIVERY "delivery"
#define TIDS_SEAL_KIND_OUTBOUND "outbound"   /* a forward on the outbound topic for a peer hub */

/* out must hold len + TIDS_SEAL_OVERHEAD bytes. */
void tids_seal(const uint8_t key[TIDS_SEAL_KEY_BYTES], const uint8_t *ad, size_t ad_len,
	       const uint8_t *in, size_t len, uint8_t *out);
/* out must hold len - TIDS_SEAL_OVERHEAD bytes. TIDS_ECRYPTO when the key,
 * the associated data or a byte is wrong; TIDS_ETRUNC when too short. */
__attribute__((warn_unused_result))
int tids_seal_open(const uint8_t key[TIDS_SEAL_KEY_BYTES], const uint8_t *ad, size_t ad_len,
		   const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);

/* A key wrapped under another key (the master, an epoch or a bucket key),
 * bound to label (e.g. the grant id). */
void tids_seal_wrap_key(const uint8_t wrapping[TIDS_SEAL_KEY_BYTES], const char *label,
			const uint8_t key[TIDS_SEAL_KEY_BYTES], uint8_t out[TIDS_SEAL_WRAPPED_KEY_BYTES]);
__attribute__((warn_unused_result))
int tids_seal_unwrap_key(const uint8_t wrapping[TIDS_SEAL_KEY_BYTES], const char *label,
			 const uint8_t in[TIDS_SEAL_WRAPPED_KEY_BYTES], uint8_t key[TIDS_SEAL_KEY_BYTES]);

/* A key of its own for one use of key: BLAKE2b-256 keyed with key, over
 * the domain string. One-way: out says nothing about key. */
void tids_seal_derive(const uint8_t key[TIDS_SEAL_KEY_BYTES], const char *domain,
		      uint8_t out[TIDS_SEAL_KEY_BYTES]);

/*
 * The associated data of a sealed message: kind (TIDS_SEAL_KIND_*), the
 * topic it is written to, the party it is for or from (recipient of a
 * delivery, publisher of an ingress record), a label (what sealed it, e.g.
 * "grant:<id>"; "" when none) and the record id, each length-prefixed so
 * that no two tuples give the same bytes. Returns the length written into
 * out, or 0 when a string is too long for it (the caller refuses to seal).
 */
#define TIDS_SEAL_AD_MAX 768
size_t tids_seal_ad(uint8_t out[TIDS_SEAL_AD_MAX], const char *kind, const char *topic, const char *party,
		    const char *label, const uint8_t record_id[16]);

#endif
