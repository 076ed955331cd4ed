/*
 * Noise's symmetric layer on libsodium: HMAC and HKDF over BLAKE2b (spec
 * section 4.3), CipherState with ChaChaPoly (5.1) including the transport
 * encrypt/decrypt/rekey calls, and SymmetricState (5.2).
 */
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/noise.h"
#include "noise_symmetric.h"

/*
 * HMAC-BLAKE2b per RFC 2104 with BLOCKLEN 128, as section 4.3 asks; not
 * BLAKE2b's keyed mode, which would give different bytes. The message is
 * d1 || d2 so HKDF need not concatenate. key_len <= HASHLEN always here.
 */
static void hmac(const uint8_t *key, size_t key_len,
		 const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2,
		 uint8_t out[TIDS_NOISE_HASH_BYTES])
{
	crypto_generichash_state st;
	uint8_t pad[TIDS_NOISE_BLOCK_BYTES];
	uint8_t inner[TIDS_NOISE_HASH_BYTES];
	size_t i;

	memset(pad, 0x36, sizeof pad);
	for (i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	crypto_generichash_init(&st, NULL, 0, sizeof inner);
	crypto_generichash_update(&st, pad, sizeof pad);
	crypto_generichash_update(&st, d1, l1);
	crypto_generichash_update(&st, d2, l2);
	crypto_generichash_final(&st, inner, sizeof inner);

	memset(pad, 0x5c, sizeof pad);
	for (i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	crypto_generichash_init(&st, NULL, 0, TIDS_NOISE_HASH_BYTES);
	crypto_generichash_update(&st, pad, sizeof pad);
	crypto_generichash_update(&st, inner, sizeof inner);
	crypto_generichash_final(&st, out, TIDS_NOISE_HASH_BYTES);

	sodium_memzero(pad, sizeof pad);
	sodium_memzero(inner, sizeof inner);
	sodium_memzero(&st, sizeof st);
}

void tids_noise_hkdf(const uint8_t ck[TIDS_NOISE_HASH_BYTES],
		     const uint8_t *ikm, size_t ikm_len,
		     uint8_t out1[TIDS_NOISE_HASH_BYTES],
		     uint8_t out2[TIDS_NOISE_HASH_BYTES],
		     uint8_t *out3)
{
	uint8_t temp_key[TIDS_NOISE_HASH_BYTES];
	const uint8_t one = 0x01, two = 0x02, three = 0x03;

	hmac(ck, TIDS_NOISE_HASH_BYTES, ikm, ikm_len, NULL, 0, temp_key);
	hmac(temp_key, sizeof temp_key, &one, 1, NULL, 0, out1);
	hmac(temp_key, sizeof temp_key, out1, TIDS_NOISE_HASH_BYTES, &two, 1, out2);
	if (out3 != NULL)
		hmac(temp_key, sizeof temp_key, out2, TIDS_NOISE_HASH_BYTES,
		     &three, 1, out3);
	sodium_memzero(temp_key, sizeof temp_key);
}

/* Section 12.3: 32 bits of zeros, then n as 64-bit little-endian. */
static void make_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES],
		       uint64_t n)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

static void cipher_init_key(struct tids_noise_cipher *cs, const uint8_t *k)
{
	memcpy(cs->k, k, TIDS_NOISE_KEY_BYTES);
	cs->n = 0;
	cs->has_key = 1;
}

/*
 * EncryptWithAd (5.1). 2^64-1 is reserved for rekeying, so a cipher that
 * reached it is exhausted.
 */
static int cipher_encrypt(struct tids_noise_cipher *cs,
			  const uint8_t *ad, size_t ad_len,
			  const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (!cs->has_key) {
		if (len > 0 && out != in)
			memmove(out, in, len);
		return 0;
	}
	if (cs->n == UINT64_MAX)
		return TIDS_EPROTO;
	make_nonce(nonce, cs->n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, ad, ad_len,
						  NULL, nonce, cs->k);
	cs->n++;
	return 0;
}

/* DecryptWithAd (5.1): n only advances when the MAC verifies. */
static int cipher_decrypt(struct tids_noise_cipher *cs,
			  const uint8_t *ad, size_t ad_len,
			  const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (!cs->has_key) {
		if (len > 0 && out != in)
			memmove(out, in, len);
		return 0;
	}
	if (len < TIDS_NOISE_TAG_BYTES)
		return TIDS_ETRUNC;
	if (cs->n == UINT64_MAX)
		return TIDS_EPROTO;
	make_nonce(nonce, cs->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len,
						      ad, ad_len, nonce,
						      cs->k) != 0)
		return TIDS_EAUTH;
	cs->n++;
	return 0;
}

void tids_noise_sym_init(struct tids_noise_symmetric *ss,
			 const char *name, size_t name_len)
{
	/* 5.2: a name that fits in HASHLEN is used as h directly, zero-padded. */
	memset(ss, 0, sizeof *ss);
	if (name_len <= TIDS_NOISE_HASH_BYTES)
		memcpy(ss->h, name, name_len);
	else
		crypto_generichash(ss->h, sizeof ss->h, (const uint8_t *)name,
				   name_len, NULL, 0);
	memcpy(ss->ck, ss->h, sizeof ss->ck);
}

static void hash2(uint8_t out[TIDS_NOISE_HASH_BYTES],
		  const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TIDS_NOISE_HASH_BYTES);
	crypto_generichash_update(&st, a, a_len);
	crypto_generichash_update(&st, b, b_len);
	crypto_generichash_final(&st, out, TIDS_NOISE_HASH_BYTES);
	sodium_memzero(&st, sizeof st);
}

void tids_noise_sym_mix_hash(struct tids_noise_symmetric *ss,
			     const uint8_t *data, size_t len)
{
	hash2(ss->h, ss->h, sizeof ss->h, data, len);
}

void tids_noise_sym_mix_key(struct tids_noise_symmetric *ss,
			    const uint8_t *ikm, size_t ikm_len)
{
	uint8_t ck[TIDS_NOISE_HASH_BYTES], k[TIDS_NOISE_HASH_BYTES];

	tids_noise_hkdf(ss->ck, ikm, ikm_len, ck, k, NULL);
	memcpy(ss->ck, ck, sizeof ck);
	/* HASHLEN is 64: the cipher key is the first 32 bytes (5.2). */
	cipher_init_key(&ss->cs, k);
	sodium_memzero(ck, sizeof ck);
	sodium_memzero(k, sizeof k);
}

void tids_noise_sym_mix_key_and_hash(struct tids_noise_symmetric *ss,
				     const uint8_t *ikm, size_t ikm_len)
{
	uint8_t ck[TIDS_NOISE_HASH_BYTES], th[TIDS_NOISE_HASH_BYTES];
	uint8_t k[TIDS_NOISE_HASH_BYTES];

	tids_noise_hkdf(ss->ck, ikm, ikm_len, ck, th, k);
	memcpy(ss->ck, ck, sizeof ck);
	tids_noise_sym_mix_hash(ss, th, sizeof th);
	cipher_init_key(&ss->cs, k);
	sodium_memzero(ck, sizeof ck);
	sodium_memzero(th, sizeof th);
	sodium_memzero(k, sizeof k);
}

int tids_noise_sym_encrypt_and_hash(struct tids_noise_symmetric *ss,
				    const uint8_t *in, size_t len, uint8_t *out)
{
	size_t out_len = len + (ss->cs.has_key ? TIDS_NOISE_TAG_BYTES : 0);
	int ret;

	ret = cipher_encrypt(&ss->cs, ss->h, sizeof ss->h, in, len, out);
	if (ret == 0)
		tids_noise_sym_mix_hash(ss, out, out_len);
	return ret;
}

int tids_noise_sym_decrypt_and_hash(struct tids_noise_symmetric *ss,
				    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t h[TIDS_NOISE_HASH_BYTES];
	int ret;

	/* Hash the ciphertext first: decrypting in place overwrites it. */
	hash2(h, ss->h, sizeof ss->h, in, len);
	ret = cipher_decrypt(&ss->cs, ss->h, sizeof ss->h, in, len, out);
	if (ret == 0)
		memcpy(ss->h, h, sizeof h);
	sodium_memzero(h, sizeof h);
	return ret;
}

void tids_noise_sym_split(const struct tids_noise_symmetric *ss,
			  struct tids_noise_cipher *c1,
			  struct tids_noise_cipher *c2)
{
	uint8_t k1[TIDS_NOISE_HASH_BYTES], k2[TIDS_NOISE_HASH_BYTES];

	tids_noise_hkdf(ss->ck, NULL, 0, k1, k2, NULL);
	cipher_init_key(c1, k1);
	cipher_init_key(c2, k2);
	sodium_memzero(k1, sizeof k1);
	sodium_memzero(k2, sizeof k2);
}

int tids_noise_encrypt(struct tids_noise_cipher *cs,
		       const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t out_cap, size_t *out_len)
{
	int ret;

	if (out_len != NULL)
		*out_len = 0;
	if (cs == NULL || out == NULL || out_len == NULL ||
	    (in == NULL && in_len > 0) || (ad == NULL && ad_len > 0))
		return TIDS_EINVAL;
	/* A keyless state would "encrypt" to plaintext: never in transport. */
	if (!cs->has_key)
		return TIDS_EPROTO;
	if (in_len > TIDS_NOISE_MAX_PAYLOAD_BYTES ||
	    out_cap < in_len + TIDS_NOISE_TAG_BYTES)
		return TIDS_ETOOBIG;
	ret = cipher_encrypt(cs, ad, ad_len, in, in_len, out);
	if (ret == 0)
		*out_len = in_len + TIDS_NOISE_TAG_BYTES;
	return ret;
}

int tids_noise_decrypt(struct tids_noise_cipher *cs,
		       const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t dummy[1];
	int ret;

	if (out_len != NULL)
		*out_len = 0;
	if (cs == NULL || in == NULL || out_len == NULL ||
	    (out == NULL && out_cap > 0) || (ad == NULL && ad_len > 0))
		return TIDS_EINVAL;
	if (!cs->has_key)
		return TIDS_EPROTO;
	if (in_len > TIDS_NOISE_MAX_MESSAGE_BYTES)
		return TIDS_ETOOBIG;
	if (in_len < TIDS_NOISE_TAG_BYTES)
		return TIDS_ETRUNC;
	if (out_cap < in_len - TIDS_NOISE_TAG_BYTES)
		return TIDS_ETOOBIG;
	ret = cipher_decrypt(cs, ad, ad_len, in, in_len,
			     out != NULL ? out : dummy);
	if (ret == 0)
		*out_len = in_len - TIDS_NOISE_TAG_BYTES;
	return ret;
}

int tids_noise_rekey(struct tids_noise_cipher *cs)
{
	/* 11.3: ChaChaPoly defines no REKEY, so the default: the first 32
	 * bytes of ENCRYPT(k, 2^64-1, empty ad, 32 zero bytes). */
	uint8_t zeros[TIDS_NOISE_KEY_BYTES] = { 0 };
	uint8_t out[TIDS_NOISE_KEY_BYTES + TIDS_NOISE_TAG_BYTES];
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (cs == NULL)
		return TIDS_EINVAL;
	if (!cs->has_key)
		return TIDS_EPROTO;
	make_nonce(nonce, UINT64_MAX);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, zeros, sizeof zeros,
						  NULL, 0, NULL, nonce, cs->k);
	memcpy(cs->k, out, TIDS_NOISE_KEY_BYTES);
	sodium_memzero(out, sizeof out);
	return 0;
}

void tids_noise_cipher_wipe(struct tids_noise_cipher *cs)
{
	if (cs != NULL)
		sodium_memzero(cs, sizeof *cs);
}
