/*
 * An open-addressing hash map from byte-string keys to pointers. The map
 * does not copy keys: a key must live as long as its entry (usually it is
 * a field of the value).
 */
#ifndef TIDS_MAP_H
#define TIDS_MAP_H

#include <stddef.h>
#include <stdint.h>

struct tids_map_slot {
	uint64_t hash;              /* 0: empty, 1: deleted */
	const void *key;
	size_t key_len;
	void *value;
};

struct tids_map {
	struct tids_map_slot *slots;
	size_t cap;                 /* power of two */
	size_t used;                /* live and deleted slots */
	size_t n;                   /* live entries */
};

/* Inserts or replaces; *old (may be NULL) gets the replaced value. */
__attribute__((warn_unused_result))
int tids_map_put(struct tids_map *m, const void *key, size_t key_len, void *value, void **old);
void *tids_map_get(const struct tids_map *m, const void *key, size_t key_len);
/* Removes and returns the value, or NULL. */
void *tids_map_remove(struct tids_map *m, const void *key, size_t key_len);
/* Iterates: start with *pos = 0; returns NULL at the end. */
void *tids_map_next(const struct tids_map *m, size_t *pos);
void tids_map_free(struct tids_map *m);

/* Conveniences for NUL-terminated keys. */
__attribute__((warn_unused_result))
int tids_map_put_str(struct tids_map *m, const char *key, void *value, void **old);
void *tids_map_get_str(const struct tids_map *m, const char *key);
void *tids_map_remove_str(struct tids_map *m, const char *key);

#endif
