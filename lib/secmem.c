/*
 * Guarded memory for secrets (see tids/secmem.h). Slabs come from
 * sodium_malloc; a free slot holds the pointer to the next free one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/secmem.h"

/*
 * Under LeakSanitizer, guarded memory (mapped by libsodium, where LSan does
 * not look for pointers) is registered as a root region: tidsd's state
 * lives in it, and everything that state points to would otherwise be
 * reported as leaked. The region's size goes in front of it, to unregister
 * it exactly when it is freed (LSan must not scan an unmapped region).
 */
#if defined(__SANITIZE_ADDRESS__)
#define TIDS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TIDS_LSAN 1
#endif
#endif
#ifdef TIDS_LSAN
#include <sanitizer/lsan_interface.h>
#define LSAN_PREFIX 16          /* keeps the alignment sodium_malloc gave */
#endif

#define SLAB_BYTES 32768        /* 8 pages: few mappings for many keys */

struct tids_secmem_pool {
	size_t slot;                /* bytes per slot, rounded to hold a pointer */
	size_t per_slab;
	void **slabs;
	size_t n_slabs;
	void *free_list;
};

void *tids_secmem_alloc(size_t len)
{
	size_t n = len > 0 ? len : 1;
#ifdef TIDS_LSAN
	uint8_t *raw = sodium_malloc(n + LSAN_PREFIX);
	void *p = raw != NULL ? raw + LSAN_PREFIX : NULL;

	if (p != NULL) {
		memcpy(raw, &n, sizeof(n));
		__lsan_register_root_region(p, n);
	}
#else
	void *p = sodium_malloc(n);
#endif

	if (p != NULL)
		sodium_memzero(p, n);
	return p;
}

void tids_secmem_free(void *p)
{
#ifdef TIDS_LSAN
	if (p != NULL) {
		uint8_t *raw = (uint8_t *)p - LSAN_PREFIX;
		size_t n;

		memcpy(&n, raw, sizeof(n));
		__lsan_unregister_root_region(p, n);
		p = raw;
	}
#endif
	/* sodium_free wipes the whole region before unmapping it. */
	sodium_free(p);
}

struct tids_secmem_pool *tids_secmem_pool_new(size_t slot_bytes)
{
	struct tids_secmem_pool *p;

	if (slot_bytes == 0 || slot_bytes > 4096)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->slot = (slot_bytes + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *);
	p->per_slab = SLAB_BYTES / p->slot;
	return p;
}

static int grow(struct tids_secmem_pool *p)
{
	void **slabs = realloc(p->slabs, (p->n_slabs + 1) * sizeof(*slabs));
	uint8_t *slab;

	if (slabs == NULL)
		return -1;
	p->slabs = slabs;
	slab = tids_secmem_alloc(p->per_slab * p->slot);
	if (slab == NULL)
		return -1;
	p->slabs[p->n_slabs++] = slab;
	for (size_t i = p->per_slab; i-- > 0;) {
		void *s = slab + i * p->slot;

		memcpy(s, &p->free_list, sizeof(void *));
		p->free_list = s;
	}
	return 0;
}

void *tids_secmem_pool_get(struct tids_secmem_pool *p)
{
	void *s;

	if (p->free_list == NULL && grow(p) != 0)
		return NULL;
	s = p->free_list;
	memcpy(&p->free_list, s, sizeof(void *));
	sodium_memzero(s, p->slot);
	return s;
}

void tids_secmem_pool_put(struct tids_secmem_pool *p, void *slot)
{
	if (slot == NULL)
		return;
	sodium_memzero(slot, p->slot);
	memcpy(slot, &p->free_list, sizeof(void *));
	p->free_list = slot;
}

void tids_secmem_pool_free(struct tids_secmem_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_slabs; i++)
		tids_secmem_free(p->slabs[i]);
	free(p->slabs);
	free(p);
}
