/*
 * Domain-separated Ed25519 signatures: batches, grants, approvals and audit
 * checkpoints each sign under their own fixed prefix, so a signature made
 * for one can never be replayed as another.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"

/* domain || msg in one buffer; libsodium signs contiguous messages. */
static uint8_t *prefixed(const char *domain, const uint8_t *msg, size_t len, size_t *total)
{
	size_t dl = strlen(domain);
	uint8_t *buf = malloc(dl + len + 1);

	if (buf == NULL)
		return NULL;
	memcpy(buf, domain, dl);
	if (len > 0)
		memcpy(buf + dl, msg, len);
	*total = dl + len;
	return buf;
}

int tids_sign_detached(const uint8_t sk[TIDS_SECRET_KEY_BYTES], const char *domain,
		       const uint8_t *msg, size_t len, uint8_t sig[TIDS_SIGNATURE_BYTES])
{
	size_t total;
	uint8_t *buf = prefixed(domain, msg, len, &total);

	if (buf == NULL)
		return TIDS_ENOMEM;
	crypto_sign_detached(sig, NULL, buf, total, sk);
	free(buf);
	return 0;
}

int tids_sign_verify_detached(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const char *domain,
			      const uint8_t *msg, size_t len, const uint8_t sig[TIDS_SIGNATURE_BYTES])
{
	size_t total;
	uint8_t *buf = prefixed(domain, msg, len, &total);
	int r;

	if (buf == NULL)
		return TIDS_ENOMEM;
	r = crypto_sign_verify_detached(sig, buf, total, pk) == 0 ? 0 : TIDS_EBADSIG;
	free(buf);
	return r;
}

/* publisher || 0x00 || uint64be(sequence) || root */
static size_t batch_message(const char *publisher, uint64_t sequence,
			    const uint8_t root[TIDS_HASH_BYTES], uint8_t *buf)
{
	size_t pl = strnlen(publisher, TIDS_ID_MAX);
	size_t n = 0;

	memcpy(buf, publisher, pl);
	n += pl;
	buf[n++] = 0x00;
	for (int shift = 56; shift >= 0; shift -= 8)
		buf[n++] = (uint8_t)(sequence >> shift);
	memcpy(buf + n, root, TIDS_HASH_BYTES);
	return n + TIDS_HASH_BYTES;
}

int tids_sign_batch(const uint8_t sk[TIDS_SECRET_KEY_BYTES], const char *publisher, uint64_t sequence,
		    const uint8_t root[TIDS_HASH_BYTES], uint8_t sig[TIDS_SIGNATURE_BYTES])
{
	uint8_t buf[TIDS_ID_MAX + 1 + 8 + TIDS_HASH_BYTES];
	size_t n = batch_message(publisher, sequence, root, buf);

	return tids_sign_detached(sk, TIDS_DOMAIN_BATCH, buf, n, sig);
}

int tids_sign_batch_verify(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const char *publisher, uint64_t sequence,
			   const uint8_t root[TIDS_HASH_BYTES], const uint8_t sig[TIDS_SIGNATURE_BYTES])
{
	uint8_t buf[TIDS_ID_MAX + 1 + 8 + TIDS_HASH_BYTES];
	size_t n = batch_message(publisher, sequence, root, buf);

	return tids_sign_verify_detached(pk, TIDS_DOMAIN_BATCH, buf, n, sig);
}

int tids_batch_verify(const struct tids_batch *b, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES],
		      char *err, size_t errlen)
{
	uint8_t root[TIDS_HASH_BYTES];
	int r;

	r = tids_merkle_root(b->records, b->n_records, root);
	if (r < 0)
		return tids_fail(err, errlen, r, "batch: cannot compute Merkle root");
	if (sodium_memcmp(root, b->merkle_root, TIDS_HASH_BYTES) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG,
				 "batch %llu: merkle_root does not match the records",
				 (unsigned long long)b->sequence);
	if (tids_sign_batch_verify(pk, b->publisher, b->sequence, root, b->signature) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG,
				 "batch %llu: signature does not verify with %s's key",
				 (unsigned long long)b->sequence, b->publisher);
	return 0;
}
