/*
 * Hash map with linear probing and FNV-1a hashes; deleted slots are
 * tombstones until the next resize. Enough for registry indexes of
 * hundreds of thousands of entries.
 */
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tids/map.h"

#define EMPTY 0
#define DELETED 1

static uint64_t hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h < 2 ? h + 2 : h;
}

static struct tids_map_slot *find(const struct tids_map *m, const void *key, size_t len, uint64_t h)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct tids_map_slot *s = &m->slots[i];

		if (s->hash == EMPTY)
			return NULL;
		if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

static int grow(struct tids_map *m)
{
	size_t cap = m->cap > 0 ? m->cap : 16;
	struct tids_map_slot *old = m->slots, *slots;
	size_t old_cap = m->cap;

	/* Double only when live entries need it; otherwise just drop tombstones. */
	while ((m->n + 1) * 4 >= cap * 3)
		cap *= 2;
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < old_cap; i++) {
		size_t j;

		if (old[i].hash < 2)
			continue;
		for (j = old[i].hash & (cap - 1); slots[j].hash != EMPTY; j = (j + 1) & (cap - 1))
			;
		slots[j] = old[i];
	}
	free(old);
	m->slots = slots;
	m->cap = cap;
	m->used = m->n;
	return 0;
}

int tids_map_put(struct tids_map *m, const void *key, size_t key_len, void *value, void **old)
{
	uint64_t h = hash(key, key_len);
	struct tids_map_slot *s = find(m, key, key_len, h);
	size_t i;

	if (old != NULL)
		*old = NULL;
	if (s != NULL) {
		if (old != NULL)
			*old = s->value;
		s->key = key;
		s->value = value;
		return 0;
	}
	if ((m->used + 1) * 4 >= m->cap * 3 && grow(m) != 0)
		return TIDS_ENOMEM;
	for (i = h & (m->cap - 1); m->slots[i].hash >= 2; i = (i + 1) & (m->cap - 1))
		;
	if (m->slots[i].hash == EMPTY)
		m->used++;
	m->slots[i] = (struct tids_map_slot){ h, key, key_len, value };
	m->n++;
	return 0;
}

void *tids_map_get(const struct tids_map *m, const void *key, size_t key_len)
{
	struct tids_map_slot *s = find(m, key, key_len, hash(key, key_len));

	return s != NULL ? s->value : NULL;
}

void *tids_map_remove(struct tids_map *m, const void *key, size_t key_len)
{
	struct tids_map_slot *s = find(m, key, key_len, hash(key, key_len));
	void *v;

	if (s == NULL)
		return NULL;
	v = s->value;
	s->hash = DELETED;
	s->key = NULL;
	s->value = NULL;
	m->n--;
	return v;
}

void *tids_map_next(const struct tids_map *m, size_t *pos)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->slots[*pos].hash >= 2)
			return m->slots[(*pos)++].value;
	return NULL;
}

void tids_map_free(struct tids_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

int tids_map_put_str(struct tids_map *m, const char *key, void *value, void **old)
{
	return tids_map_put(m, key, strlen(key), value, old);
}

void *tids_map_get_str(const struct tids_map *m, const char *key)
{
	return tids_map_get(m, key, strlen(key));
}

void *tids_map_remove_str(struct tids_map *m, const char *key)
{
	return tids_map_remove(m, key, strlen(key));
}
