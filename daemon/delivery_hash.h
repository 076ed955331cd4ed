/*
 * The BLAKE2b-256 of a Delivery (its audit entry's delivered_hash) when
 * several deliveries of one record start with the same bytes: the record,
 * as field 1. The state after those bytes is kept and resumed, so the
 * record is hashed once per record rather than once per recipient; the
 * hash is the one-shot hash of the whole Delivery all the same.
 */
#ifndef TIDSD_DELIVERY_HASH_H
#define TIDSD_DELIVERY_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

struct delivery_hash {
	crypto_generichash_state head;       /* after the shared bytes */
	const uint8_t *at;                   /* whose bytes: the record's encoding */
	size_t len;                          /* how many; 0 = none kept */
};

/* hash = BLAKE2b-256(plain[0..plen)). The first `shared` bytes of plain
 * (0: none) are the same in every delivery hashed with shared_at == the
 * same pointer until delivery_hash_reset: the caller promises it. */
void delivery_hash(struct delivery_hash *h, const uint8_t *shared_at, size_t shared, const uint8_t *plain,
		   size_t plen, uint8_t hash[32]);
/* Forgets the kept state, and wipes it: it holds plaintext of the record. */
void delivery_hash_reset(struct delivery_hash *h);

#endif
