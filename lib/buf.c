/*
 * Growable byte buffers: amortised appends, consumption from the head
 * without copying, compaction only when the tail runs out of room. They
 * carry plaintext and keys (frames, records, session transport), so no
 * block is given back to the allocator unwiped: growing copies into a new
 * block and wipes the old one (realloc would free it as it is).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/buf.h"
#include "tids/error.h"

int tids_buf_reserve(struct tids_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (tids_buf_room(b) >= extra)
		return 0;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		if (tids_buf_room(b) >= extra)
			return 0;
	}
	if (extra > SIZE_MAX / 2 - b->len)
		return TIDS_ENOMEM;
	need = b->len + extra;
	cap = b->cap > 0 ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = malloc(cap);
	if (p == NULL)
		return TIDS_ENOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int tids_buf_append(struct tids_buf *b, const void *p, size_t n)
{
	int r = tids_buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n > 0)
		memcpy(tids_buf_tail(b), p, n);
	b->len += n;
	return 0;
}

void tids_buf_commit(struct tids_buf *b, size_t n)
{
	b->len += n;
}

void tids_buf_consume(struct tids_buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = 0;
		b->len = 0;
		return;
	}
	b->off += n;
	b->len -= n;
}

void tids_buf_wipe(struct tids_buf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->cap);
	b->off = 0;
	b->len = 0;
}

void tids_buf_wipe_used(struct tids_buf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->off + b->len);
	b->off = 0;
	b->len = 0;
}

void tids_buf_free(struct tids_buf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->cap);
	free(b->data);
	memset(b, 0, sizeof(*b));
}
