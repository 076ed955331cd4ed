/*
 * Hashes deliveries that share their head, the record bytes, by resuming a
 * BLAKE2b state kept after that head. BLAKE2b absorbs the bytes in order
 * and its state holds no pointers, so a copy resumed with the rest gives
 * the one-shot hash: a 256-byte record is two of the three blocks of its
 * Delivery, and each recipient after the first pays for one block.
 */
#include <string.h>

#include "delivery_hash.h"

void delivery_hash(struct delivery_hash *h, const uint8_t *shared_at, size_t shared, const uint8_t *plain,
		   size_t plen, uint8_t hash[32])
{
	crypto_generichash_state st;

	if (shared == 0 || shared > plen) {
		crypto_generichash(hash, 32, plain, plen, NULL, 0);
		return;
	}
	if (h->len != shared || h->at != shared_at) {
		crypto_generichash_init(&h->head, NULL, 0, 32);
		crypto_generichash_update(&h->head, plain, shared);
		h->at = shared_at;
		h->len = shared;
	}
	memcpy(&st, &h->head, sizeof(st));
	crypto_generichash_update(&st, plain + shared, plen - shared);
	/* final wipes the copy's chaining value and buffer, as the one-shot
	 * hash does its own. */
	crypto_generichash_final(&st, hash, 32);
}

void delivery_hash_reset(struct delivery_hash *h)
{
	if (h->len != 0)
		sodium_memzero(&h->head, sizeof(h->head));
	h->at = NULL;
	h->len = 0;
}
