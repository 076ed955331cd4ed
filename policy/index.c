/*
 * The rule index: each rule is filed under up to three attributes it tests
 * for equality (the most selective, chosen by analyze.c) and every
 * combination of the values it accepts for them. A decision makes one
 * lookup per combination of attributes in use and merges the matching
 * rule lists, in rule order, with the rules no key selects: it never
 * visits a rule whose key attributes do not match.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

struct entry {
	uint32_t key;
	uint32_t rule;
	int64_t codes[POL_KEY_SLOTS];
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	for (int i = 0; i < POL_KEY_SLOTS; i++)
		if (x->codes[i] != y->codes[i])
			return x->codes[i] < y->codes[i] ? -1 : 1;
	return (x->rule > y->rule) - (x->rule < y->rule);
}

static inline uint64_t combine(const int64_t *codes, uint32_t n)
{
	uint64_t h = UINT64_C(0x243f6a8885a308d3);
	for (uint32_t i = 0; i < n; i++) {
		h ^= (uint64_t)codes[i];
		h *= UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 29;
	}
	return h | 1;             /* 0 marks an empty bucket */
}

static bool same_slots(const struct index_key *k, const struct rule_key *r)
{
	if (k->n_slots != r->n_slots)
		return false;
	for (uint32_t i = 0; i < k->n_slots; i++)
		if (k->slots[i] != r->slots[i])
			return false;
	return true;
}

static size_t combinations(const struct rule_key *r)
{
	size_t n = 1;
	for (uint32_t i = 0; i < r->n_slots; i++)
		n *= r->n_codes[i];
	return n;
}

int pol_build_index(struct tids_policy_set *set, const struct rule_key *keys, size_t n_rules)
{
	size_t total = 0, n_unindexed = 0;
	uint32_t *key_of = malloc((n_rules ? n_rules : 1) * sizeof(uint32_t));
	if (key_of == NULL)
		return TIDS_ENOMEM;
	set->n_keys = 0;
	for (size_t i = 0; i < n_rules; i++) {
		key_of[i] = UINT32_MAX;
		if (keys[i].nowhere)
			continue;
		if (keys[i].n_slots == 0) {
			n_unindexed++;
			continue;
		}
		uint32_t k;
		for (k = 0; k < set->n_keys; k++)
			if (same_slots(&set->keys[k], &keys[i]))
				break;
		if (k == set->n_keys) {
			if (set->n_keys >= POL_INDEX_KEYS_MAX) {
				free(key_of);
				return TIDS_EINVAL;   /* analyze.c keeps at most this many */
			}
			struct index_key *ik = &set->keys[set->n_keys++];
			memset(ik, 0, sizeof(*ik));
			ik->n_slots = keys[i].n_slots;
			memcpy(ik->slots, keys[i].slots, sizeof(ik->slots));
		}
		key_of[i] = k;
		total += combinations(&keys[i]);
	}
	struct entry *e = malloc((total ? total : 1) * sizeof(*e));
	set->rule_lists = malloc((total ? total : 1) * sizeof(uint32_t));
	set->unindexed = malloc((n_unindexed ? n_unindexed : 1) * sizeof(uint32_t));
	if (e == NULL || set->rule_lists == NULL || set->unindexed == NULL) {
		free(e);
		free(key_of);
		return TIDS_ENOMEM;
	}
	size_t k = 0;
	set->n_unindexed = 0;
	for (size_t i = 0; i < n_rules; i++) {
		const struct rule_key *r = &keys[i];
		if (r->nowhere)
			continue;
		if (r->n_slots == 0) {
			set->unindexed[set->n_unindexed++] = (uint32_t)i;
			continue;
		}
		/* every combination of the values the rule accepts */
		size_t n = combinations(r);
		for (size_t c = 0; c < n; c++) {
			struct entry *en = &e[k++];
			memset(en, 0, sizeof(*en));
			en->key = key_of[i];
			en->rule = (uint32_t)i;
			size_t rest = c;
			for (uint32_t s = 0; s < r->n_slots; s++) {
				en->codes[s] = r->codes[s][rest % r->n_codes[s]];
				rest /= r->n_codes[s];
			}
		}
	}
	free(key_of);
	qsort(e, total, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < total; i++)
		set->rule_lists[i] = e[i].rule;
	/* One open-addressing table of (codes -> run of rule_lists) per key. */
	size_t start = 0;
	for (uint32_t key = 0; key < set->n_keys; key++) {
		size_t end = start, distinct = 0;
		while (end < total && e[end].key == key) {
			if (end == start || memcmp(e[end].codes, e[end - 1].codes, sizeof(e[end].codes)) != 0)
				distinct++;
			end++;
		}
		uint32_t cap = 8;
		while (cap < distinct * 2)
			cap *= 2;
		struct index_key *ik = &set->keys[key];
		ik->table = calloc(cap, sizeof(*ik->table));
		ik->codes = calloc((size_t)cap * POL_KEY_SLOTS, sizeof(int64_t));
		if (ik->table == NULL || ik->codes == NULL) {
			free(e);
			return TIDS_ENOMEM;
		}
		ik->mask = cap - 1;
		ik->n_rules = (uint32_t)(end - start);
		for (size_t i = start; i < end;) {
			size_t j = i;
			while (j < end && memcmp(e[j].codes, e[i].codes, sizeof(e[i].codes)) == 0)
				j++;
			uint64_t h = combine(e[i].codes, ik->n_slots);
			size_t b = (size_t)(h >> 20) & ik->mask;
			while (ik->table[b].hash != 0)
				b = (b + 1) & ik->mask;
			ik->table[b].hash = h;
			memcpy(ik->codes + b * POL_KEY_SLOTS, e[i].codes, sizeof(e[i].codes));
			ik->table[b].off = (uint32_t)i;
			ik->table[b].n = (uint32_t)(j - i);
			i = j;
		}
		start = end;
	}
	free(e);
	/* Every slot a key reads, once: a decision computes each code once. */
	set->n_key_slots = 0;
	for (uint32_t key = 0; key < set->n_keys; key++) {
		struct index_key *ik = &set->keys[key];
		for (uint32_t s = 0; s < ik->n_slots; s++) {
			uint32_t at;
			for (at = 0; at < set->n_key_slots; at++)
				if (set->key_slots[at] == ik->slots[s])
					break;
			if (at == set->n_key_slots)
				set->key_slots[set->n_key_slots++] = ik->slots[s];
			ik->pos[s] = (uint8_t)at;
		}
	}
	return 0;
}

static void gather(struct candidates *c, const uint32_t *list, uint32_t n)
{
	c->next[c->n_lists] = list;
	c->end[c->n_lists] = list + n;
	c->n_lists++;
	if (c->n_gathered + n > POL_GATHER_MAX) {
		c->merging = true;
		return;
	}
	uint32_t i = c->n_gathered, j = n, k = c->n_gathered + n;
	c->n_gathered += n;
	if (i == 0 || c->gathered[i - 1] < list[0]) {
		/* all after what is there (the usual case) */
		memcpy(c->gathered + i, list, n * sizeof(*list));
		return;
	}
	/* merge the sorted list into the sorted array, from the back */
	while (j > 0) {
		if (i > 0 && c->gathered[i - 1] > list[j - 1])
			c->gathered[--k] = c->gathered[--i];
		else
			c->gathered[--k] = list[--j];
	}
}

void pol_candidates(struct eval_ctx *ctx, struct candidates *c)
{
	const struct tids_policy_set *set = ctx->set;
	int64_t slot_code[POL_INDEX_KEYS_MAX * POL_KEY_SLOTS];
	c->n_lists = 0;
	c->n_gathered = 0;
	c->pos = 0;
	c->merging = false;
	/* The rules no key selects first: they are mostly the early ones, so
	 * the lists merged in after them rarely move them. */
	if (set->n_unindexed > 0)
		gather(c, set->unindexed, set->n_unindexed);
	pol_slot_codes(ctx, set->key_slots, set->n_key_slots, slot_code);
	/* every key's bucket asked for first, then read: the misses overlap */
	int64_t codes[POL_INDEX_KEYS_MAX][POL_KEY_SLOTS];
	uint64_t hashes[POL_INDEX_KEYS_MAX];
	for (uint32_t k = 0; k < set->n_keys; k++) {
		const struct index_key *ik = &set->keys[k];
		uint32_t n = ik->n_slots;
		codes[k][0] = slot_code[ik->pos[0]];
		codes[k][1] = n > 1 ? slot_code[ik->pos[1]] : 0;
		codes[k][2] = n > 2 ? slot_code[ik->pos[2]] : 0;
		hashes[k] = combine(codes[k], n);
		__builtin_prefetch(&ik->table[(size_t)(hashes[k] >> 20) & ik->mask]);
	}
	for (uint32_t k = 0; k < set->n_keys; k++) {
		const struct index_key *ik = &set->keys[k];
		uint64_t h = hashes[k];
		for (size_t b = (size_t)(h >> 20) & ik->mask;; b = (b + 1) & ik->mask) {
			const struct index_bucket *bk = &ik->table[b];
			if (bk->hash == h) {
				/* unused places hold 0 on both sides */
				const int64_t *have = ik->codes + b * POL_KEY_SLOTS;
				if (have[0] == codes[k][0] && have[1] == codes[k][1] &&
				    have[2] == codes[k][2]) {
					gather(c, set->rule_lists + bk->off, bk->n);
					break;
				}
			}
			if (bk->hash == 0)
				break;
		}
	}
}

uint32_t pol_candidates_merge_next(struct candidates *c)
{
	if (c->n_lists == 0)
		return UINT32_MAX;
	uint32_t which = 0, best = *c->next[0];
	for (uint32_t l = 1; l < c->n_lists; l++) {
		if (*c->next[l] < best) {
			best = *c->next[l];
			which = l;
		}
	}
	/* an exhausted list leaves: the last one takes its place */
	if (++c->next[which] == c->end[which]) {
		c->n_lists--;
		c->next[which] = c->next[c->n_lists];
		c->end[which] = c->end[c->n_lists];
	}
	return best;
}
