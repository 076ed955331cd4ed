/*
 * Memory for secrets that must not reach a core dump or swap: libsodium's
 * guarded allocations (locked, left out of core dumps by MADV_DONTDUMP,
 * between guard pages). A pool hands out fixed-size slots from large
 * guarded slabs, since one guarded allocation per key would cost pages
 * (and locked memory) per key; freed slots are wiped.
 */
#ifndef TIDS_SECMEM_H
#define TIDS_SECMEM_H

#include <stddef.h>

/* One guarded allocation, zeroed; NULL when out of memory. Free with
 * tids_secmem_free (wipes; NULL is a no-op). */
void *tids_secmem_alloc(size_t len);
void tids_secmem_free(void *p);

struct tids_secmem_pool;

/* A pool of slot_bytes-sized slots (1 to 4096 bytes); NULL when out of
 * memory or slot_bytes is out of range. Not thread-safe: one owner. */
struct tids_secmem_pool *tids_secmem_pool_new(size_t slot_bytes);
/* A zeroed slot, or NULL when out of memory. */
void *tids_secmem_pool_get(struct tids_secmem_pool *p);
/* Wipes the slot and returns it to the pool (NULL is a no-op). */
void tids_secmem_pool_put(struct tids_secmem_pool *p, void *slot);
/* Wipes and frees every slab (NULL is a no-op). */
void tids_secmem_pool_free(struct tids_secmem_pool *p);

#endif
