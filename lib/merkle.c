/*
 * The batch Merkle tree: RFC 6962's shape (an unpaired node moves up a
 * level unchanged) over BLAKE2b-256, with 0x00/0x01 prefixes so that a leaf
 * can never pass for an inner node.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"

void tids_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[TIDS_HASH_BYTES])
{
	static const uint8_t leaf = 0x00;
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, &leaf, 1);
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, out, TIDS_HASH_BYTES);
}

void tids_merkle_node_hash(const uint8_t left[TIDS_HASH_BYTES], const uint8_t right[TIDS_HASH_BYTES],
			   uint8_t out[TIDS_HASH_BYTES])
{
	uint8_t buf[1 + 2 * TIDS_HASH_BYTES];

	buf[0] = 0x01;
	memcpy(buf + 1, left, TIDS_HASH_BYTES);
	memcpy(buf + 1 + TIDS_HASH_BYTES, right, TIDS_HASH_BYTES);
	crypto_generichash(out, TIDS_HASH_BYTES, buf, sizeof(buf), NULL, 0);
}

/* Hashes the leaves into a new array of n hashes. */
static uint8_t (*leaf_level(const struct tids_bytes *leaves, size_t n))[TIDS_HASH_BYTES]
{
	uint8_t (*h)[TIDS_HASH_BYTES] = malloc(n * TIDS_HASH_BYTES);

	if (h == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		tids_merkle_leaf_hash(leaves[i].data, leaves[i].len, h[i]);
	return h;
}

/* Replaces level h[0..n) by the next level up; returns its width. */
static size_t reduce(uint8_t (*h)[TIDS_HASH_BYTES], size_t n)
{
	size_t up = 0;

	for (size_t i = 0; i < n; i += 2, up++) {
		if (i + 1 < n)
			tids_merkle_node_hash(h[i], h[i + 1], h[up]);
		else
			memmove(h[up], h[i], TIDS_HASH_BYTES);
	}
	return up;
}

int tids_merkle_root(const struct tids_bytes *leaves, size_t n, uint8_t root[TIDS_HASH_BYTES])
{
	uint8_t (*h)[TIDS_HASH_BYTES];

	if (n == 0)
		return TIDS_EINVAL;
	h = leaf_level(leaves, n);
	if (h == NULL)
		return TIDS_ENOMEM;
	while (n > 1)
		n = reduce(h, n);
	memcpy(root, h[0], TIDS_HASH_BYTES);
	free(h);
	return 0;
}

int tids_merkle_path(const struct tids_bytes *leaves, size_t n, size_t index,
		     uint8_t path[][TIDS_HASH_BYTES], size_t *path_len)
{
	uint8_t (*h)[TIDS_HASH_BYTES];
	size_t len = 0;

	*path_len = 0;
	if (index >= n)
		return TIDS_EINVAL;
	h = leaf_level(leaves, n);
	if (h == NULL)
		return TIDS_ENOMEM;
	for (; n > 1; index /= 2) {
		size_t sibling = index ^ 1;

		/* The unpaired last node has no sibling at this level. */
		if (sibling < n)
			memcpy(path[len++], h[sibling], TIDS_HASH_BYTES);
		n = reduce(h, n);
	}
	free(h);
	*path_len = len;
	return 0;
}

int tids_merkle_verify_path(const uint8_t leaf_hash[TIDS_HASH_BYTES], size_t index, size_t n,
			    const uint8_t path[][TIDS_HASH_BYTES], size_t path_len,
			    const uint8_t root[TIDS_HASH_BYTES])
{
	uint8_t r[TIDS_HASH_BYTES];
	size_t fn = index, sn;

	if (n == 0 || index >= n || path_len > TIDS_MERKLE_PATH_MAX)
		return TIDS_EBADSIG;
	sn = n - 1;
	memcpy(r, leaf_hash, TIDS_HASH_BYTES);
	for (size_t i = 0; i < path_len; i++) {
		if (sn == 0)
			return TIDS_EBADSIG;
		if ((fn & 1) || fn == sn) {
			tids_merkle_node_hash(path[i], r, r);
			/* Skip the levels where this node was promoted unpaired. */
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			tids_merkle_node_hash(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || sodium_memcmp(r, root, TIDS_HASH_BYTES) != 0)
		return TIDS_EBADSIG;
	return 0;
}

int tids_merkle_tree_build(const struct tids_bytes *leaves, size_t n, struct tids_merkle_tree *t)
{
	size_t total = 0, width = n, off = 0;

	memset(t, 0, sizeof(*t));
	if (n == 0)
		return TIDS_EINVAL;
	/* Each level is half the one below, rounded up. */
	for (width = n; ; width = (width + 1) / 2) {
		total += width;
		if (width == 1)
			break;
	}
	t->nodes = malloc(total * TIDS_HASH_BYTES);
	if (t->nodes == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < n; i++)
		tids_merkle_leaf_hash(leaves[i].data, leaves[i].len, t->nodes[i]);
	width = n;
	for (;;) {
		size_t next = off + width;

		t->level_start[t->levels] = off;
		t->level_width[t->levels] = width;
		t->levels++;
		if (width == 1)
			break;
		for (size_t i = 0; i < width; i += 2) {
			if (i + 1 < width)
				tids_merkle_node_hash(t->nodes[off + i], t->nodes[off + i + 1], t->nodes[next + i / 2]);
			else
				memcpy(t->nodes[next + i / 2], t->nodes[off + i], TIDS_HASH_BYTES);
		}
		off = next;
		width = (width + 1) / 2;
	}
	return 0;
}

const uint8_t *tids_merkle_tree_root(const struct tids_merkle_tree *t)
{
	return t->nodes[t->level_start[t->levels - 1]];
}

void tids_merkle_tree_path(const struct tids_merkle_tree *t, size_t index, uint8_t path[][TIDS_HASH_BYTES],
			   size_t *path_len)
{
	size_t len = 0;

	for (size_t l = 0; l + 1 < t->levels; l++, index /= 2) {
		size_t sibling = index ^ 1;

		if (sibling < t->level_width[l])
			memcpy(path[len++], t->nodes[t->level_start[l] + sibling], TIDS_HASH_BYTES);
	}
	*path_len = len;
}

void tids_merkle_tree_free(struct tids_merkle_tree *t)
{
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}
