/*
 * Participant identities: an Ed25519 key pair for signatures and its X25519
 * form for the Noise handshake, both derived from one 32-byte seed.
 */
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"

int tids_identity_from_seed(const uint8_t seed[TIDS_SEED_BYTES], struct tids_identity *id)
{
	if (crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(id->dh_sk, id->sign_sk) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(id->dh_pk, id->sign_pk) != 0) {
		tids_identity_wipe(id);
		return TIDS_EINVAL;
	}
	return 0;
}

int tids_identity_generate(struct tids_identity *id)
{
	uint8_t seed[TIDS_SEED_BYTES];
	int r;

	randombytes_buf(seed, sizeof(seed));
	r = tids_identity_from_seed(seed, id);
	sodium_memzero(seed, sizeof(seed));
	return r;
}

void tids_identity_wipe(struct tids_identity *id)
{
	sodium_memzero(id, sizeof(*id));
}

int tids_identity_dh_public(const uint8_t sign_pk[TIDS_PUBLIC_KEY_BYTES], uint8_t dh_pk[TIDS_DH_KEY_BYTES])
{
	/* Fails for keys that are not on the curve: such a participant cannot
	 * be registered. */
	return crypto_sign_ed25519_pk_to_curve25519(dh_pk, sign_pk) == 0 ? 0 : TIDS_EINVAL;
}

void tids_key_to_base64(const uint8_t key[32], char out[TIDS_KEY_BASE64_BYTES])
{
	sodium_bin2base64(out, TIDS_KEY_BASE64_BYTES, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

int tids_key_from_base64(const char *text, uint8_t key[32])
{
	size_t len = 0;
	const char *end = NULL;

	if (sodium_base642bin(key, 32, text, strlen(text), " \t\r\n", &len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || len != 32 || *end != '\0')
		return TIDS_EINVAL;
	return 0;
}
