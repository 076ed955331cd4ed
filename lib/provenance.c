/*
 * Federation's signatures: a hub's directory of its participants, and the
 * check a recipient makes of a forwarded record's provenance (its
 * publisher's batch signature and Merkle path, kept across every hub).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"

int tids_directory_sign(const uint8_t sk[TIDS_SECRET_KEY_BYTES], struct tids_directory *d)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_directory_unsigned(d, &buf, &len);

	if (r != 0)
		return r;
	r = tids_sign_detached(sk, TIDS_DOMAIN_DIRECTORY, buf, len, d->signature);
	free(buf);
	return r;
}

int tids_directory_verify(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const struct tids_directory *d,
			  char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_directory_unsigned(d, &buf, &len);

	if (r != 0)
		return tids_fail(err, errlen, r, "directory of %s: out of memory", d->hub_id);
	r = tids_sign_verify_detached(pk, TIDS_DOMAIN_DIRECTORY, buf, len, d->signature);
	free(buf);
	if (r != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "directory of %s (version %llu): signature does not verify "
				 "with the hub's registered key", d->hub_id, (unsigned long long)d->version);
	return 0;
}

/* Do a and b encode to the same bytes? */
static bool same_record(const struct tids_record *a, const struct tids_record *b)
{
	uint8_t *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	bool same = tids_wire_encode_record(a, &x, &xl) == 0 && tids_wire_encode_record(b, &y, &yl) == 0 &&
		    xl == yl && memcmp(x, y, xl) == 0;

	free(x);
	free(y);
	return same;
}

int tids_provenance_verify(const struct tids_delivery *d, const uint8_t publisher_pk[TIDS_PUBLIC_KEY_BYTES],
			   bool *covers_content, char *err, size_t errlen)
{
	const struct tids_provenance *p = &d->provenance;
	uint8_t leaf[TIDS_HASH_BYTES];

	*covers_content = false;
	if (!p->present || p->publisher == NULL || *p->publisher == '\0')
		return tids_fail(err, errlen, TIDS_ENOENT, "the delivery carries no publisher proof%s",
				 p->present ? " (an aggregate made by its origin hub)" : "");
	if (strcmp(p->publisher, d->record.owner) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: publisher %s is not the record's owner %s",
				 p->publisher, d->record.owner);
	if (tids_sign_batch_verify(publisher_pk, p->publisher, p->sequence, p->batch_root, p->batch_signature) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: batch %llu's signature does not verify with "
				 "%s's key", (unsigned long long)p->sequence, p->publisher);
	if (tids_merkle_verify_path(p->leaf_hash, p->leaf_index, p->leaf_count, p->merkle_path, p->n_merkle_path,
				    p->batch_root) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: leaf %u's path does not lead to batch %llu's "
				 "root", p->leaf_index, (unsigned long long)p->sequence);
	if (d->decision != TIDS_DECISION_ALLOW)
		return 0;
	/* Delivered as published: the leaf must be this very record. */
	if (p->published.len > 0) {
		struct tids_record pub;
		char why[256];
		bool same;

		tids_merkle_leaf_hash(p->published.data, p->published.len, leaf);
		if (sodium_memcmp(leaf, p->leaf_hash, TIDS_HASH_BYTES) != 0)
			return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: the published bytes are not the leaf");
		if (tids_wire_decode_record(p->published.data, p->published.len, &pub, why, sizeof(why)) != 0)
			return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: the published bytes: %s", why);
		same = same_record(&pub, &d->record);
		tids_record_free(&pub);
		if (!same)
			return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: the delivered record is not the one "
					 "published");
	} else {
		uint8_t *bytes;
		size_t len;

		if (tids_wire_encode_record(&d->record, &bytes, &len) != 0)
			return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		tids_merkle_leaf_hash(bytes, len, leaf);
		free(bytes);
		if (sodium_memcmp(leaf, p->leaf_hash, TIDS_HASH_BYTES) != 0)
			return tids_fail(err, errlen, TIDS_EBADSIG, "provenance: the delivered record is not the leaf "
					 "its publisher signed");
	}
	*covers_content = true;
	return 0;
}
