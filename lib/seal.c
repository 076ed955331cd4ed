/*
 * XChaCha20-Poly1305 sealing for data at rest: the 24-byte nonce is random
 * (large enough that random nonces never collide in practice) and travels
 * in front of the ciphertext. Keys for each use are derived, never shared
 * between uses; associated data says where a ciphertext belongs.
 */
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/seal.h"

#define AD_DOMAIN "tids.v1.seal.ad"

void tids_seal(const uint8_t key[TIDS_SEAL_KEY_BYTES], const uint8_t *ad, size_t ad_len,
	       const uint8_t *in, size_t len, uint8_t *out)
{
	unsigned long long clen;

	randombytes_buf(out, TIDS_SEAL_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + TIDS_SEAL_NONCE_BYTES, &clen, in, len, ad, ad_len,
						   NULL, out, key);
}

int tids_seal_open(const uint8_t key[TIDS_SEAL_KEY_BYTES], const uint8_t *ad, size_t ad_len,
		   const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	unsigned long long mlen;

	if (len < TIDS_SEAL_OVERHEAD)
		return TIDS_ETRUNC;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, in + TIDS_SEAL_NONCE_BYTES,
						       len - TIDS_SEAL_NONCE_BYTES, ad, ad_len, in, key) != 0)
		return TIDS_ECRYPTO;
	*out_len = (size_t)mlen;
	return 0;
}

void tids_seal_wrap_key(const uint8_t wrapping[TIDS_SEAL_KEY_BYTES], const char *label,
			const uint8_t key[TIDS_SEAL_KEY_BYTES], uint8_t out[TIDS_SEAL_WRAPPED_KEY_BYTES])
{
	tids_seal(wrapping, (const uint8_t *)label, strlen(label), key, TIDS_SEAL_KEY_BYTES, out);
}

int tids_seal_unwrap_key(const uint8_t wrapping[TIDS_SEAL_KEY_BYTES], const char *label,
			 const uint8_t in[TIDS_SEAL_WRAPPED_KEY_BYTES], uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	size_t n;
	int r = tids_seal_open(wrapping, (const uint8_t *)label, strlen(label), in, TIDS_SEAL_WRAPPED_KEY_BYTES,
			       key, &n);

	if (r == 0 && n != TIDS_SEAL_KEY_BYTES)
		r = TIDS_ECRYPTO;
	if (r != 0)
		sodium_memzero(key, TIDS_SEAL_KEY_BYTES);
	return r;
}

void tids_seal_derive(const uint8_t key[TIDS_SEAL_KEY_BYTES], const char *domain,
		      uint8_t out[TIDS_SEAL_KEY_BYTES])
{
	crypto_generichash(out, TIDS_SEAL_KEY_BYTES, (const uint8_t *)domain, strlen(domain), key,
			   TIDS_SEAL_KEY_BYTES);
}

/* Appends uint16be(len) || s; false when it does not fit. */
static int put(uint8_t *out, size_t *pos, const void *s, size_t len)
{
	if (len > 0xffff || *pos + 2 + len > TIDS_SEAL_AD_MAX)
		return -1;
	out[(*pos)++] = (uint8_t)(len >> 8);
	out[(*pos)++] = (uint8_t)len;
	if (len > 0)
		memcpy(out + *pos, s, len);
	*pos += len;
	return 0;
}

size_t tids_seal_ad(uint8_t out[TIDS_SEAL_AD_MAX], const char *kind, const char *topic, const char *party,
		    const char *label, const uint8_t record_id[16])
{
	size_t pos = 0;

	if (put(out, &pos, AD_DOMAIN, strlen(AD_DOMAIN)) != 0 || put(out, &pos, kind, strlen(kind)) != 0 ||
	    put(out, &pos, topic, strlen(topic)) != 0 || put(out, &pos, party, strlen(party)) != 0 ||
	    put(out, &pos, label, strlen(label)) != 0 || put(out, &pos, record_id, 16) != 0)
		return 0;
	return pos;
}
