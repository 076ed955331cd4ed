/*
 * The rule index: each rule is filed under one attribute it tests for
 * equality (the one analyze.c found most selective) and the values it
 * accepts. A decision looks up the request's value of each key attribute
 * and merges the few matching rule lists, in rule order, with the rules no
 * key selects; a decision never visits a rule that cannot match on its key.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

struct entry {
	uint32_t key;
	uint32_t rule;
	int64_t code;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->code != y->code)
		return x->code < y->code ? -1 : 1;
	return (x->rule > y->rule) - (x->rule < y->rule);
}

static size_t bucket_of(int64_t code, uint32_t mask)
{
	uint64_t h = (uint64_t)code * UINT64_C(0x9e3779b97f4a7c15);
	return (size_t)(h >> 32) & mask;
}

int pol_build_index(struct tids_policy_set *set, const struct constraint *best, size_t n_rules)
{
	uint32_t key_of[POL_SLOTS_MAX];
	size_t total = 0, n_unindexed = 0;
	memset(key_of, 0xff, sizeof(key_of));
	set->n_keys = 0;
	for (size_t i = 0; i < n_rules; i++) {
		uint32_t slot = best[i].slot;
		if (slot == UINT32_MAX) {
			n_unindexed++;
			continue;
		}
		if (slot == POL_NOWHERE || slot >= POL_SLOTS_MAX)
			continue;
		if (key_of[slot] == UINT32_MAX) {
			if (set->n_keys >= POL_INDEX_KEYS_MAX)
				return TIDS_EINVAL;   /* analyze.c keeps at most this many */
			key_of[slot] = set->n_keys;
			set->keys[set->n_keys++] = (struct index_key){
				.slot = slot, .type = set->slots[slot].type,
			};
		}
		total += best[i].n;
	}
	struct entry *e = malloc((total ? total : 1) * sizeof(*e));
	set->rule_lists = malloc((total ? total : 1) * sizeof(uint32_t));
	set->unindexed = malloc((n_unindexed ? n_unindexed : 1) * sizeof(uint32_t));
	if (e == NULL || set->rule_lists == NULL || set->unindexed == NULL) {
		free(e);
		return TIDS_ENOMEM;
	}
	size_t k = 0;
	set->n_unindexed = 0;
	for (size_t i = 0; i < n_rules; i++) {
		uint32_t slot = best[i].slot;
		if (slot == UINT32_MAX)
			set->unindexed[set->n_unindexed++] = (uint32_t)i;
		else if (slot < POL_SLOTS_MAX)
			for (uint32_t c = 0; c < best[i].n; c++)
				e[k++] = (struct entry){ .key = key_of[slot], .rule = (uint32_t)i,
							 .code = best[i].codes[c] };
	}
	qsort(e, total, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < total; i++)
		set->rule_lists[i] = e[i].rule;
	/* One open-addressing table of (code -> run of rule_lists) per key. */
	size_t start = 0;
	for (uint32_t key = 0; key < set->n_keys; key++) {
		size_t end = start, distinct = 0;
		while (end < total && e[end].key == key) {
			if (end == start || e[end].code != e[end - 1].code)
				distinct++;
			end++;
		}
		uint32_t cap = 8;
		while (cap < distinct * 2)
			cap *= 2;
		struct index_key *ik = &set->keys[key];
		ik->table = calloc(cap, sizeof(*ik->table));
		if (ik->table == NULL) {
			free(e);
			return TIDS_ENOMEM;
		}
		ik->mask = cap - 1;
		ik->n_rules = (uint32_t)(end - start);
		for (size_t i = start; i < end;) {
			size_t j = i;
			while (j < end && e[j].code == e[i].code)
				j++;
			size_t b = bucket_of(e[i].code, ik->mask);
			while (ik->table[b].code != 0)
				b = (b + 1) & ik->mask;
			ik->table[b] = (struct index_bucket){ .code = e[i].code, .off = (uint32_t)i,
							      .n = (uint32_t)(j - i) };
			i = j;
		}
		start = end;
	}
	free(e);
	return 0;
}

void pol_candidates(struct eval_ctx *ctx, struct candidates *c)
{
	const struct tids_policy_set *set = ctx->set;
	c->n_lists = 0;
	for (uint32_t k = 0; k < set->n_keys; k++) {
		const struct index_key *ik = &set->keys[k];
		struct val v;
		pol_eval_slot(ctx, ik->slot, &v);
		int64_t code = pol_val_code(&v);
		if (code == 0)
			continue;     /* a string no rule names: no rule filed here can match */
		for (size_t b = bucket_of(code, ik->mask);; b = (b + 1) & ik->mask) {
			const struct index_bucket *bk = &ik->table[b];
			if (bk->code == 0)
				break;
			if (bk->code == code) {
				c->list[c->n_lists] = set->rule_lists + bk->off;
				c->n[c->n_lists] = bk->n;
				c->pos[c->n_lists] = 0;
				c->n_lists++;
				break;
			}
		}
	}
	if (set->n_unindexed > 0) {
		c->list[c->n_lists] = set->unindexed;
		c->n[c->n_lists] = set->n_unindexed;
		c->pos[c->n_lists] = 0;
		c->n_lists++;
	}
}

uint32_t pol_candidates_next(struct candidates *c)
{
	uint32_t best = UINT32_MAX, which = 0;
	for (uint32_t l = 0; l < c->n_lists; l++) {
		if (c->pos[l] < c->n[l] && c->list[l][c->pos[l]] < best) {
			best = c->list[l][c->pos[l]];
			which = l;
		}
	}
	if (best != UINT32_MAX)
		c->pos[which]++;
	return best;
}
