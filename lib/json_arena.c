/*
 * Chunked bump allocator for JSON documents and JSON-built records. Chunks
 * double in size, so memory is at most about twice what is used and the
 * number of mallocs grows with the logarithm of the document size.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_impl.h"

#define CHUNK_MIN 1024
#define CHUNK_GROW_MAX (1u << 20)   /* past this, grow linearly */

struct chunk {
	struct chunk *next;
	size_t cap;
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct tids_json_arena {
	struct chunk *head;   /* newest chunk, the one being filled */
	size_t next_cap;
};

static struct chunk *chunk_new(size_t cap)
{
	struct chunk *c;

	if (cap > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + cap);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->cap = cap;
	c->used = 0;
	return c;
}

struct tids_json_arena *tids_json_arena_new(size_t first)
{
	struct tids_json_arena *a;
	struct chunk *c;

	if (first < CHUNK_MIN)
		first = CHUNK_MIN;
	c = chunk_new(first + sizeof(*a) + alignof(max_align_t));
	if (c == NULL)
		return NULL;
	/* The arena's own header lives in its first chunk. */
	a = (struct tids_json_arena *)(void *)c->data;
	c->used = (sizeof(*a) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	a->head = c;
	a->next_cap = first * 2;
	return a;
}

void tids_json_arena_free(void *arena)
{
	struct tids_json_arena *a = arena;
	struct chunk *c, *next;

	if (a == NULL)
		return;
	/* a lives in the oldest chunk, freed last; read head before freeing. */
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
}

static void *take(struct tids_json_arena *a, size_t size, size_t align)
{
	struct chunk *c = a->head;
	size_t at = (c->used + align - 1) & ~(align - 1);
	size_t cap;

	if (at <= c->cap && size <= c->cap - at) {
		c->used = at + size;
		return c->data + at;
	}
	if (size > a->next_cap / 4) {
		/* A big block gets a chunk of its own, behind the head, so the
		 * head's free space is not abandoned. */
		c = chunk_new(size);
		if (c == NULL)
			return NULL;
		c->next = a->head->next;
		a->head->next = c;
		c->used = size;
		return c->data;
	}
	cap = a->next_cap;
	c = chunk_new(cap);
	if (c == NULL)
		return NULL;
	c->next = a->head;
	a->head = c;
	c->used = size;
	if (a->next_cap < CHUNK_GROW_MAX)
		a->next_cap *= 2;
	return c->data;
}

void *tids_json_arena_alloc(struct tids_json_arena *a, size_t size)
{
	return take(a, size, alignof(max_align_t));
}

char *tids_json_arena_bytes(struct tids_json_arena *a, size_t size)
{
	return take(a, size, 1);
}

char *tids_json_arena_strndup(struct tids_json_arena *a, const char *s, size_t len)
{
	char *d;

	if (len == SIZE_MAX)
		return NULL;
	d = take(a, len + 1, 1);
	if (d == NULL)
		return NULL;
	if (len > 0)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}
