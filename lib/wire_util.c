/*
 * Mechanics shared by the decode gates: bounded unpacking into owned
 * storage, packing, and the checks applied to ids, names and lists.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire_internal.h"

/*
 * Decoded messages live in an arena. protobuf-c's unpack allocates every
 * string, bytes field, repeated array and sub-message on its own, and the
 * gates' converted arrays come on top: a 500-entry audit message or a
 * record with a dozen fields meant dozens of malloc and free calls per
 * decode on the router's and indexer's paths. In an arena a decode costs
 * one allocation, a release one free, and each thread keeps the blocks of
 * its last released messages for the next ones (most decodes allocate
 * nothing). Under AddressSanitizer every allocation stays its own, so
 * that overflows are still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define WIRE_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WIRE_ARENA 0
#endif
#endif
#ifndef WIRE_ARENA
#define WIRE_ARENA 1
#endif

#define ARENA_MIN 4096
#define ARENA_KEEP_MAX (1u << 20)             /* larger blocks are not kept */
#define ARENA_SPARES 4

struct arena_block {
	struct arena_block *next;
	size_t cap, used;
	max_align_t data[];
};

struct spares {
	struct arena_block *b[ARENA_SPARES];
};

static pthread_key_t spares_key;
static pthread_once_t spares_once = PTHREAD_ONCE_INIT;

static void spares_free(void *p)
{
	struct spares *s = p;

	for (int i = 0; i < ARENA_SPARES; i++)
		free(s->b[i]);
	free(s);
}

static void spares_init(void)
{
	if (pthread_key_create(&spares_key, spares_free) != 0)
		abort();
}

static struct spares *spares_get(void)
{
	struct spares *s;

	pthread_once(&spares_once, spares_init);
	s = pthread_getspecific(spares_key);
	if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL && pthread_setspecific(spares_key, s) != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

static struct arena_block *block_new(size_t need)
{
	struct spares *s = spares_get();
	struct arena_block *b;
	size_t cap = need > ARENA_MIN ? need : ARENA_MIN;

	if (s != NULL)
		for (int i = 0; i < ARENA_SPARES; i++)
			if (s->b[i] != NULL && s->b[i]->cap >= need) {
				b = s->b[i];
				s->b[i] = NULL;
				b->next = NULL;
				b->used = 0;
				return b;
			}
	if (cap > SIZE_MAX - sizeof(*b) || (b = malloc(sizeof(*b) + cap)) == NULL)
		return NULL;
	b->next = NULL;
	b->cap = cap;
	b->used = 0;
	return b;
}

static void block_put(struct arena_block *b)
{
	struct spares *s;

	/* Decoded records may be plaintext of sealed ones: nothing leaves a
	 * message unwiped, as with tids_buf. */
	sodium_memzero(b->data, b->used);

	if (b->cap <= ARENA_KEEP_MAX && (s = spares_get()) != NULL)
		for (int i = 0; i < ARENA_SPARES; i++)
			if (s->b[i] == NULL) {
				s->b[i] = b;
				return;
			}
	free(b);
}

static void *arena_alloc(void *ctx, size_t size)
{
	struct backing *bk = ctx;
	struct arena_block *b = bk->blocks;
	size_t n = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	void *p;

	if (n < size)
		return NULL;
	if (b == NULL || b->cap - b->used < n) {
		/* Each new block doubles: a message needs a few at most. */
		size_t want = b != NULL && b->cap * 2 > n ? b->cap * 2 : n;
		struct arena_block *nb = block_new(want);

		if (nb == NULL)
			return NULL;
		nb->next = b;
		bk->blocks = b = nb;
	}
	p = (uint8_t *)b->data + b->used;
	b->used += n;
	return p;
}

static void arena_free(void *ctx, void *p)
{
	/* Everything goes at once, in wire_release. */
	(void)ctx;
	(void)p;
}

int wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		size_t max, size_t extra, struct backing **b, char *err, size_t errlen)
{
	struct backing *nb;

	*b = NULL;
	if (len > max)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "%s: %zu bytes, at most %zu",
				 desc->short_name, len, max);
	if (buf == NULL && len > 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s: no buffer", desc->short_name);
	if (WIRE_ARENA) {
		struct backing tmp = { 0 };
		ProtobufCAllocator a = { arena_alloc, arena_free, NULL };

		/* About what the copies of the strings and bytes take, plus the
		 * structs and the converted arrays: one block, most of the time,
		 * which holds the handle too. */
		tmp.blocks = block_new(len < SIZE_MAX / 2 - 4096 ? 2 * len + 2048 + extra : len);
		if (tmp.blocks == NULL || (nb = arena_alloc(&tmp, sizeof(*nb))) == NULL) {
			if (tmp.blocks != NULL)
				block_put(tmp.blocks);
			return tids_fail(err, errlen, TIDS_ENOMEM, "%s: out of memory", desc->short_name);
		}
		*nb = tmp;
		a.allocator_data = nb;
		nb->msg = protobuf_c_message_unpack(desc, &a, len, buf != NULL ? buf : (const uint8_t *)"");
	} else {
		if ((nb = calloc(1, sizeof(*nb))) == NULL)
			return tids_fail(err, errlen, TIDS_ENOMEM, "%s: out of memory", desc->short_name);
		nb->msg = protobuf_c_message_unpack(desc, NULL, len, buf != NULL ? buf : (const uint8_t *)"");
	}
	if (nb->msg == NULL) {
		wire_release(nb);
		return tids_fail(err, errlen, TIDS_EDECODE,
				 "%s: not a valid protobuf encoding (truncated, or a field of the wrong type)",
				 desc->short_name);
	}
	if (extra > 0 && wire_alloc(nb, extra) == NULL) {
		wire_release(nb);
		return tids_fail(err, errlen, TIDS_ENOMEM, "%s: out of memory", desc->short_name);
	}
	*b = nb;
	return 0;
}

void *wire_alloc(struct backing *b, size_t size)
{
	if (size == 0)
		size = 1;
	if (b->blocks == NULL) {
		b->mem = calloc(1, size);
	} else if ((b->mem = arena_alloc(b, size)) != NULL) {
		memset(b->mem, 0, size);
	}
	return b->mem;
}

void wire_release(void *backing)
{
	struct backing *b = backing;
	struct arena_block *k, *next;

	if (b == NULL)
		return;
	if (b->blocks == NULL) {
		if (b->msg != NULL)
			protobuf_c_message_free_unpacked(b->msg, NULL);
		free(b->mem);
		free(b);
		return;
	}
	/* The handle lives in the arena: it goes with the blocks. */
	for (k = b->blocks; k != NULL; k = next) {
		next = k->next;
		block_put(k);
	}
}

int wire_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);

	/* malloc(0) may return NULL; an empty message is still a message. */
	*out = malloc(n > 0 ? n : 1);
	if (*out == NULL)
		return TIDS_ENOMEM;
	*len = protobuf_c_message_pack(msg, *out);
	return 0;
}

int wire_need_id(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	return wire_opt_id(what, s, err, errlen);
}

int wire_opt_id(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0' || tids_valid_id(s))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be 1-%d of [A-Za-z0-9._:-]", what, TIDS_ID_MAX);
}

/* A grant's or approval's id as a hub knows it: its own (an id), or one
 * another hub issued and sent it (id@hub, 128 characters at most). */
int wire_opt_consent_id(const char *what, const char *s, char *err, size_t errlen)
{
	char id[TIDS_ID_MAX + 1], hub[TIDS_ID_MAX + 1];

	if (s == NULL || *s == '\0' || (strlen(s) <= TIDS_ID_MAX && tids_address_split(s, id, hub)))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be id or id@hub, 1-%d of [A-Za-z0-9._:-@]", what,
			 TIDS_ID_MAX);
}

int wire_need_name(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	return wire_opt_name(what, s, err, errlen);
}

int wire_opt_name(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0' || tids_valid_name(s))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be 1-%d of [a-z0-9_]", what, TIDS_NAME_MAX);
}

int wire_need_jurisdiction(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	return wire_opt_jurisdiction(what, s, err, errlen);
}

int wire_opt_jurisdiction(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0' || tids_valid_jurisdiction(s))
		return 0;
	return tids_fail(err, errlen, TIDS_EINVAL, "%s '%.16s' is not a jurisdiction like CN-SH or DE", what, s);
}

int wire_text(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
	if (s != NULL && strnlen(s, max + 1) > max)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "%s longer than %zu bytes", what, max);
	return 0;
}

int wire_bytes(const char *what, ProtobufCBinaryData d, size_t want, char *err, size_t errlen)
{
	if (d.len == 0)
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	if (d.len != want)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s is %zu bytes, must be %zu", what, d.len, want);
	return 0;
}

int wire_tier(const char *what, int tier, bool required, char *err, size_t errlen)
{
	if (tier == TIDS_TIER_UNSET && required)
		return tids_fail(err, errlen, TIDS_ENOTIER, "%s has no tier (general, important or core)", what);
	if (tier < TIDS_TIER_UNSET || tier > TIDS_TIER_CORE)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s: unknown tier %d", what, tier);
	return 0;
}

int wire_list(const char *what, char **items, size_t n, enum list_kind kind, size_t min,
	      struct tids_strlist *out, char *err, size_t errlen)
{
	if (n < min)
		return tids_fail(err, errlen, TIDS_EMISSING, "%s: at least %zu needed", what, min);
	if (n > TIDS_LIST_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "%s: %zu entries, at most %d", what, n, TIDS_LIST_MAX);
	for (size_t i = 0; i < n; i++) {
		static const char *const rule[] = {
			[LIST_IDS] = "1-128 of [A-Za-z0-9._:-]",
			[LIST_NAMES] = "1-64 of [a-z0-9_]",
			[LIST_FIELDS] = "1-64 of [A-Za-z0-9_.-]",
		};
		bool ok = kind == LIST_IDS ? tids_valid_id(items[i]) :
			  kind == LIST_NAMES ? tids_valid_name(items[i]) :
			  tids_valid_field_name(items[i]);

		if (!ok)
			return tids_fail(err, errlen, TIDS_EBADID, "%s[%zu] must be %s", what, i, rule[kind]);
	}
	out->items = (const char *const *)items;
	out->n = n;
	return 0;
}

bool tids_strlist_has(const struct tids_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

const char *tids_decision_name(enum tids_decision d)
{
	switch (d) {
	case TIDS_DECISION_ALLOW:
		return "allow";
	case TIDS_DECISION_DENY:
		return "deny";
	case TIDS_DECISION_TRANSFORM:
		return "transform";
	case TIDS_DECISION_UNSET:
		break;
	}
	return "unset";
}
