/*
 * A bump allocator: a parse or a compiled set allocates thousands of small
 * nodes and strings that all die together, so they live in a few large
 * blocks and are freed in one sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BLOCK_SIZE (64u * 1024u)
#define ALIGN 16u

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

void *pol_arena_alloc(struct arena *a, size_t size)
{
	size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (size == 0)
		size = ALIGN;
	struct arena_block *b = a->head;
	if (b == NULL || b->size - b->used < size) {
		size_t want = size > BLOCK_SIZE / 4 ? size : BLOCK_SIZE;
		struct arena_block *nb = malloc(sizeof(*nb) + want);
		if (nb == NULL)
			return NULL;
		nb->size = want;
		nb->used = 0;
		if (want == size && b != NULL) {
			/* A big allocation gets its own block behind the current
			 * one, so the current block keeps serving small ones. */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
		}
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += size;
	a->bytes += size;
	memset(p, 0, size);
	return p;
}

void *pol_arena_alloc_line(struct arena *a, size_t size)
{
	/* over-allocate and round up: blocks are only 16-byte aligned */
	unsigned char *p = pol_arena_alloc(a, size + 48);
	if (p == NULL)
		return NULL;
	return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

char *pol_arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = pol_arena_alloc(a, len + 1);
	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void pol_arena_free(struct arena *a)
{
	struct arena_block *b = a->head;
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->bytes = 0;
}
