/*
 * The compiler: parses and checks every source, then assembles the
 * immutable set: rules in one array, every string literal interned (so a
 * decision compares integers), constant lists sorted for binary search,
 * rule ids hashed for lookups, and the index analyze.c chooses.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

/* Rule conditions are DAGs through `let`; this bounds the work one rule
 * can cost a decision however the definitions nest. */
#define RULE_SIZE_MAX 20000

/* wyhash-style: a string read in at most two overlapping 8-byte (or
 * 4-byte) words per 16 bytes, each pair folded with a 128-bit multiply.
 * Strings here are short identifiers, and a decision hashes a few of them. */
static uint64_t fold(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t r64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t r32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

uint64_t pol_hash(const char *s, size_t len)
{
	const uint64_t k0 = UINT64_C(0xa0761d6478bd642f), k1 = UINT64_C(0xe7037ed1a0b428db),
		       k2 = UINT64_C(0x8ebc6af09c88c6e3);
	const unsigned char *u = (const unsigned char *)s;
	uint64_t h = k0 ^ len, a, b;
	if (len <= 16) {
		if (len >= 4) {
			size_t m = (len >> 3) << 2;      /* 0 or 4: the words overlap */
			a = (r32(s) << 32) | r32(s + m);
			b = (r32(s + len - 4) << 32) | r32(s + len - 4 - m);
		} else if (len > 0) {
			a = ((uint64_t)u[0] << 16) | ((uint64_t)u[len >> 1] << 8) | u[len - 1];
			b = 0;
		} else {
			a = b = 0;
		}
	} else {
		size_t i = 0;
		for (; len - i > 16; i += 16)
			h = fold(r64(s + i) ^ k1, r64(s + i + 8) ^ h);
		a = r64(s + len - 16);
		b = r64(s + len - 8);
	}
	return fold(k1 ^ len, fold(a ^ k1, b ^ h) ^ k2);
}

static const struct sym_entry *sym_find(const struct tids_policy_set *set, uint64_t h)
{
	if (set->syms == NULL)
		return NULL;
	for (size_t i = (size_t)h & set->sym_mask;; i = (i + 1) & set->sym_mask) {
		const struct sym_entry *e = &set->syms[i];
		if (e->s == NULL)
			return NULL;
		if (e->hash == h)
			return e;
	}
}

const char *pol_sym_text(const struct tids_policy_set *set, uint64_t h, uint32_t *len)
{
	const struct sym_entry *e = sym_find(set, h);
	if (e == NULL)
		return NULL;
	*len = e->len;
	return e->s;
}

static int grow_syms(struct tids_policy_set *set)
{
	size_t cap = set->syms ? (set->sym_mask + 1) * 2 : 256;
	struct sym_entry *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return TIDS_ENOMEM;
	if (set->syms != NULL) {
		for (size_t i = 0; i <= set->sym_mask; i++) {
			const struct sym_entry *e = &set->syms[i];
			if (e->s == NULL)
				continue;
			size_t k = (size_t)e->hash & (cap - 1);
			while (t[k].s != NULL)
				k = (k + 1) & (cap - 1);
			t[k] = *e;
		}
		free(set->syms);
	}
	set->syms = t;
	set->sym_mask = cap - 1;
	return 0;
}

int pol_sym_intern(struct tids_policy_set *set, const char *s, size_t len, uint64_t *out)
{
	uint64_t h = pol_str_hash(s, len);
	*out = h;
	const struct sym_entry *e = sym_find(set, h);
	if (e != NULL)
		return e->len == len && memcmp(e->s, s, len) == 0 ? 0 : 1;
	if ((set->syms == NULL || (size_t)(set->n_syms + 1) * 2 > set->sym_mask + 1) &&
	    grow_syms(set) != 0)
		return TIDS_ENOMEM;
	/* the set keeps its own copy: the parse is freed after compiling */
	const char *copy = pol_arena_strndup(&set->arena, s, len);
	if (copy == NULL)
		return TIDS_ENOMEM;
	size_t k = (size_t)h & set->sym_mask;
	while (set->syms[k].s != NULL)
		k = (k + 1) & set->sym_mask;
	set->syms[k] = (struct sym_entry){ .s = copy, .len = (uint32_t)len, .hash = h };
	set->n_syms++;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t literal_code(const struct node *n)
{
	switch (n->op) {
	case N_STR: return (int64_t)n->h;
	case N_BOOL: return n->i + 1;
	default: return n->i;
	}
}

/* Sorts a constant list's items by code, so codes[i] is items[i]'s. */
static void sort_items(struct node *n)
{
	for (uint32_t i = 1; i < n->n_items; i++) {
		struct node *v = n->items[i];
		int64_t c = n->codes[i];
		uint32_t j = i;
		for (; j > 0 && n->codes[j - 1] > c; j--) {
			n->codes[j] = n->codes[j - 1];
			n->items[j] = n->items[j - 1];
		}
		n->codes[j] = c;
		n->items[j] = v;
	}
}

/* Interns every string literal under n and sorts constant lists. */
static int intern_tree(struct tids_policy_set *set, struct node *n)
{
	if (n == NULL || n->interned)
		return 0;
	n->interned = true;
	if (n->op == N_STR) {
		int rc = pol_sym_intern(set, n->s, n->len, &n->h);
		if (rc == 1)
			return TIDS_EDUP;         /* two literals, one hash: see compile */
		return rc;
	}
	int rc;
	if ((rc = intern_tree(set, n->a)) != 0 || (rc = intern_tree(set, n->b)) != 0)
		return rc;
	for (uint32_t i = 0; i < n->n_items; i++)
		if ((rc = intern_tree(set, n->items[i])) != 0)
			return rc;
	if (n->op == N_LIST && n->constant && n->n_items > 0) {
		n->codes = pol_arena_alloc(&set->arena, n->n_items * sizeof(int64_t));
		if (n->codes == NULL)
			return TIDS_ENOMEM;
		for (uint32_t i = 0; i < n->n_items; i++)
			n->codes[i] = literal_code(n->items[i]);
		if (n->n_items <= 64) {
			sort_items(n);
		} else {
			/* large lists: sort (code, item) pairs together */
			struct pair { int64_t code; struct node *item; };
			struct pair *v = malloc(n->n_items * sizeof(*v));
			if (v == NULL)
				return TIDS_ENOMEM;
			for (uint32_t i = 0; i < n->n_items; i++)
				v[i] = (struct pair){ literal_code(n->items[i]), n->items[i] };
			qsort(v, n->n_items, sizeof(*v), cmp_i64);
			for (uint32_t i = 0; i < n->n_items; i++) {
				n->codes[i] = v[i].code;
				n->items[i] = v[i].item;
			}
			free(v);
		}
	}
	return 0;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
	return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* Size of n with every shared subtree counted at each use. */
static uint32_t expanded_size(struct node *n)
{
	if (n == NULL)
		return 0;
	if (n->size != 0)
		return n->size;
	uint32_t s = 1;
	s = sat_add(s, expanded_size(n->a));
	s = sat_add(s, expanded_size(n->b));
	for (uint32_t i = 0; i < n->n_items; i++)
		s = sat_add(s, expanded_size(n->items[i]));
	n->size = s;
	return s;
}

static int intern_rule(struct tids_policy_set *set, const struct rule *r)
{
	int rc = intern_tree(set, r->when);
	for (uint32_t i = 0; rc == 0 && i < r->n_obs; i++) {
		struct obligation *ob = &r->obs[i];
		rc = intern_tree(set, ob->expr);
		for (uint32_t k = 0; rc == 0 && k < ob->n_exprs; k++)
			rc = intern_tree(set, ob->exprs[k]);
	}
	return rc;
}

static uint32_t rule_size(const struct rule *r)
{
	uint32_t s = expanded_size(r->when);
	for (uint32_t i = 0; i < r->n_obs; i++) {
		s = sat_add(s, expanded_size(r->obs[i].expr));
		for (uint32_t k = 0; k < r->obs[i].n_exprs; k++)
			s = sat_add(s, expanded_size(r->obs[i].exprs[k]));
	}
	return s;
}

static int build_rule_ids(struct tids_policy_set *set)
{
	size_t cap = 16;
	while (cap < set->n_rules * 2 + 2)
		cap *= 2;
	set->rule_ids = malloc(cap * sizeof(uint32_t));
	if (set->rule_ids == NULL)
		return TIDS_ENOMEM;
	memset(set->rule_ids, 0xff, cap * sizeof(uint32_t));
	set->rule_id_mask = cap - 1;
	for (size_t i = 0; i < set->n_rules; i++) {
		const char *id = set->rules[i].info.id;
		size_t k = (size_t)pol_hash(id, strlen(id)) & set->rule_id_mask;
		while (set->rule_ids[k] != UINT32_MAX)
			k = (k + 1) & set->rule_id_mask;
		set->rule_ids[k] = (uint32_t)i;
	}
	return 0;
}

const struct tids_policy_rule_info *tids_policy_set_rule(const struct tids_policy_set *set,
							  const char *id)
{
	if (set == NULL || id == NULL || set->rule_ids == NULL)
		return NULL;
	size_t k = (size_t)pol_hash(id, strlen(id)) & set->rule_id_mask;
	for (; set->rule_ids[k] != UINT32_MAX; k = (k + 1) & set->rule_id_mask)
		if (strcmp(set->rules[set->rule_ids[k]].info.id, id) == 0)
			return &set->rules[set->rule_ids[k]].info;
	return NULL;
}

const char *tids_policy_rule_kind_name(enum tids_policy_rule_kind kind)
{
	switch (kind) {
	case TIDS_POLICY_PERMIT: return "permit";
	case TIDS_POLICY_FORBID: return "forbid";
	case TIDS_POLICY_OBLIGE: return "oblige";
	}
	return "?";
}

size_t tids_policy_set_rule_count(const struct tids_policy_set *set)
{
	return set != NULL ? set->n_rules : 0;
}

void tids_policy_set_free(struct tids_policy_set *set)
{
	if (set == NULL)
		return;
	free(set->syms);
	free(set->rule_ids);
	for (uint32_t k = 0; k < set->n_keys; k++) {
		free(set->keys[k].table);
		free(set->keys[k].codes);
	}
	free(set->rule_lists);
	free(set->unindexed);
	tids_policy_schemas_free(set->schemas);
	pol_arena_free(&set->arena);
	free(set);
}

static void program_free(struct program *prog)
{
	free(prog->rules);
	free(prog->lets);
	free(prog->attrs);
	free(prog->floors);
	free(prog->purposes);
	free(prog->cases);
	free(prog->schemas);
	pol_strtab_free(&prog->strings);
}

/* ---- tier floors ---- */

static int cmp_floor_hash(const void *a, const void *b)
{
	const struct tier_floor *x = a, *y = b;
	return (x->hash > y->hash) - (x->hash < y->hash);
}

static int cmp_floor_name(const void *a, const void *b)
{
	const struct tier_floor *x = *(const struct tier_floor *const *)a;
	const struct tier_floor *y = *(const struct tier_floor *const *)b;
	return strcmp(x->category, y->category);
}

/* The checker has refused duplicates and bad names. */
static int build_floors(struct tids_policy_set *set, const struct program *prog)
{
	size_t n = prog->n_floors;
	if (n == 0)
		return 0;
	set->floors = pol_arena_alloc(&set->arena, n * sizeof(*set->floors));
	set->floors_by_name = pol_arena_alloc(&set->arena, n * sizeof(*set->floors_by_name));
	if (set->floors == NULL || set->floors_by_name == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct floor_decl *f = prog->floors[i];
		size_t len = strlen(f->category);
		const char *copy = pol_arena_strndup(&set->arena, f->category, len);
		if (copy == NULL)
			return TIDS_ENOMEM;
		set->floors[i] = (struct tier_floor){ .hash = pol_str_hash(copy, len), .category = copy,
						      .len = (uint32_t)len, .tier = (uint8_t)f->tier };
	}
	qsort(set->floors, n, sizeof(*set->floors), cmp_floor_hash);
	for (size_t i = 0; i < n; i++)
		set->floors_by_name[i] = &set->floors[i];
	qsort(set->floors_by_name, n, sizeof(*set->floors_by_name), cmp_floor_name);
	set->n_floors = (uint32_t)n;
	return 0;
}

enum tids_tier tids_policy_tier_floor(const struct tids_policy_set *set, const char *category)
{
	if (set == NULL || category == NULL || set->n_floors == 0)
		return TIDS_TIER_GENERAL;
	size_t len = strlen(category);
	return pol_floor_of(set, category, len, pol_str_hash(category, len));
}

enum tids_tier pol_floor_of(const struct tids_policy_set *set, const char *category, size_t len,
			    uint64_t h)
{
	size_t lo = 0, hi = set->n_floors;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (set->floors[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* equal hashes sit side by side: confirm the text */
	for (; lo < set->n_floors && set->floors[lo].hash == h; lo++)
		if (set->floors[lo].len == len && memcmp(set->floors[lo].category, category, len) == 0)
			return (enum tids_tier)set->floors[lo].tier;
	return TIDS_TIER_GENERAL;
}

size_t tids_policy_tier_floors(const struct tids_policy_set *set, const char **categories,
			       enum tids_tier *tiers, size_t cap)
{
	if (set == NULL)
		return 0;
	for (size_t i = 0; i < set->n_floors && i < cap; i++) {
		if (categories != NULL)
			categories[i] = set->floors_by_name[i]->category;
		if (tiers != NULL)
			tiers[i] = (enum tids_tier)set->floors_by_name[i]->tier;
	}
	return set->n_floors;
}

/* ---- purposes ---- */

static int cmp_pair(const void *x, const void *y)
{
	const struct name_pair *p = x, *q = y;
	int c = strcmp(p->a, q->a);
	return c != 0 ? c : strcmp(p->b, q->b);
}

/* Copies the pairs into the set, sorted, each once. */
static int build_pairs(struct tids_policy_set *set, const char *const *a, const char *const *b, size_t n,
		       struct name_pair **out, uint32_t *n_out)
{
	struct name_pair *v = pol_arena_alloc(&set->arena, (n > 0 ? n : 1) * sizeof(*v));
	size_t k = 0;
	if (v == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (b[i] == NULL)        /* `may []`: the role is declared, with nothing */
			continue;
		v[k].a = pol_arena_strndup(&set->arena, a[i], strlen(a[i]));
		v[k].b = pol_arena_strndup(&set->arena, b[i], strlen(b[i]));
		if (v[k].a == NULL || v[k].b == NULL)
			return TIDS_ENOMEM;
		k++;
	}
	qsort(v, k, sizeof(*v), cmp_pair);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (u == 0 || cmp_pair(&v[u - 1], &v[i]) != 0)
			v[u++] = v[i];
	*out = v;
	*n_out = (uint32_t)u;
	return 0;
}

static int cmp_pair_key(const void *x, const void *y)
{
	const struct role_purpose_key *p = x, *q = y;
	return (p->key > q->key) - (p->key < q->key);
}

static int build_purposes(struct tids_policy_set *set, const struct program *prog)
{
	size_t n = prog->n_purposes > prog->n_cases ? prog->n_purposes : prog->n_cases;
	const char **a = malloc((n > 0 ? n : 1) * sizeof(*a)), **b = malloc((n > 0 ? n : 1) * sizeof(*b));
	int rc = TIDS_ENOMEM;
	if (a == NULL || b == NULL)
		goto out;
	for (size_t i = 0; i < prog->n_purposes; i++) {
		a[i] = prog->purposes[i]->role;
		b[i] = prog->purposes[i]->purpose;
	}
	if ((rc = build_pairs(set, a, b, prog->n_purposes, &set->role_purposes, &set->n_role_purposes)) != 0)
		goto out;
	set->role_purpose_keys = pol_arena_alloc(&set->arena, (set->n_role_purposes + 1) * sizeof(struct role_purpose_key));
	if (set->role_purpose_keys == NULL) {
		rc = TIDS_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < set->n_role_purposes; i++) {
		const struct name_pair *pr = &set->role_purposes[i];
		set->role_purpose_keys[i] = (struct role_purpose_key){
			.key = pol_pair_key(pol_str_hash(pr->a, strlen(pr->a)), pol_str_hash(pr->b, strlen(pr->b))),
			.i = i,
		};
	}
	qsort(set->role_purpose_keys, set->n_role_purposes, sizeof(struct role_purpose_key), cmp_pair_key);
	for (size_t i = 0; i < prog->n_cases; i++) {
		a[i] = prog->cases[i]->purpose;
		b[i] = prog->cases[i]->role;
	}
	rc = build_pairs(set, a, b, prog->n_cases, &set->case_roles, &set->n_case_roles);
out:
	free(a);
	free(b);
	return rc;
}

static int cmp_n(const char *x, size_t xl, const char *y)
{
	size_t yl = strlen(y);
	int c = memcmp(x, y, xl < yl ? xl : yl);
	return c != 0 ? c : (xl > yl) - (xl < yl);
}

/* The first pair whose a is not below (a, b), by binary search. */
static uint32_t pair_lower_bound(const struct name_pair *pairs, uint32_t n, const char *a, size_t a_len,
				 const char *b, size_t b_len)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = cmp_n(a, a_len, pairs[mid].a);
		if (c == 0 && b != NULL)
			c = cmp_n(b, b_len, pairs[mid].b);
		if (c > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool pol_pair_find(const struct name_pair *pairs, uint32_t n, const char *a, size_t a_len,
		   const char *b, size_t b_len)
{
	uint32_t i = pair_lower_bound(pairs, n, a, a_len, b, b_len);
	return i < n && cmp_n(a, a_len, pairs[i].a) == 0 && cmp_n(b, b_len, pairs[i].b) == 0;
}

bool tids_policy_may_ask(const struct tids_policy_set *set, const char *role, const char *purpose)
{
	if (set == NULL || role == NULL || purpose == NULL)
		return false;
	return pol_pair_find(set->role_purposes, set->n_role_purposes, role, strlen(role), purpose,
			     strlen(purpose));
}

bool tids_policy_needs_case(const struct tids_policy_set *set, const char *purpose)
{
	if (set == NULL || purpose == NULL)
		return false;
	uint32_t i = pair_lower_bound(set->case_roles, set->n_case_roles, purpose, strlen(purpose), NULL, 0);
	return i < set->n_case_roles && strcmp(set->case_roles[i].a, purpose) == 0;
}

static size_t copy_pairs(const struct name_pair *pairs, uint32_t n, const char **a, const char **b,
			 size_t cap)
{
	for (size_t i = 0; i < n && i < cap; i++) {
		if (a != NULL)
			a[i] = pairs[i].a;
		if (b != NULL)
			b[i] = pairs[i].b;
	}
	return n;
}

size_t tids_policy_role_purposes(const struct tids_policy_set *set, const char **roles, const char **purposes,
				 size_t cap)
{
	return set == NULL ? 0 : copy_pairs(set->role_purposes, set->n_role_purposes, roles, purposes, cap);
}

size_t tids_policy_case_purposes(const struct tids_policy_set *set, const char **purposes, const char **roles,
				 size_t cap)
{
	return set == NULL ? 0 : copy_pairs(set->case_roles, set->n_case_roles, purposes, roles, cap);
}

/* File names outlive the caller's buffers: copies, for the parse (the
 * set keeps its own once lowered). */
static const char *copy_name(struct arena *a, const char *name)
{
	if (name == NULL)
		name = "<policy>";
	return pol_arena_strndup(a, name, strlen(name));
}

/* Diagnostics in source order: files as given, then line and column. */
static size_t source_rank(const struct tids_policy_source *sources, size_t n, const char *file)
{
	for (size_t i = 0; i < n; i++)
		if (sources[i].name != NULL && strcmp(sources[i].name, file) == 0)
			return i;
	return n;
}

static bool diag_before(const struct tids_policy_diag *a, size_t ra,
			const struct tids_policy_diag *b, size_t rb)
{
	if (ra != rb)
		return ra < rb;
	if (a->line != b->line)
		return a->line < b->line;
	return a->col < b->col;
}

static void sort_diags(struct tids_policy_diags *d, size_t first,
		       const struct tids_policy_source *sources, size_t n_sources)
{
	/* insertion sort: stable, and the list is short (at most 200) */
	for (size_t i = first + 1; i < d->n; i++) {
		struct tids_policy_diag v = d->items[i];
		size_t rv = source_rank(sources, n_sources, v.file);
		size_t j = i;
		while (j > first && diag_before(&v, rv, &d->items[j - 1],
						source_rank(sources, n_sources, d->items[j - 1].file))) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = v;
	}
}

int tids_policy_compile(const struct tids_policy_source *sources, size_t n_sources,
			struct tids_policy_set **out, struct tids_policy_diags *diags)
{
	struct tids_policy_diags own = { 0 };
	struct tids_policy_diags *d = diags != NULL ? diags : &own;
	size_t errors_before = d->n_errors;
	size_t first_diag = d->n;
	struct arena parse = { 0 };       /* the syntax tree: freed once lowered */
	struct program prog = { 0 };
	struct checker *ck = NULL;
	struct rule *rules = NULL;
	int rc = 0;

	*out = NULL;
	struct tids_policy_set *set = calloc(1, sizeof(*set));
	if (set == NULL)
		return TIDS_ENOMEM;
	prog.arena = &parse;
	for (size_t i = 0; i < n_sources; i++) {
		const char *name = copy_name(&parse, sources[i].name);
		if (name == NULL) {
			rc = TIDS_ENOMEM;
			goto out;
		}
		int prc = pol_parse(&prog, name, sources[i].text != NULL ? sources[i].text : "",
				    sources[i].len, d);
		if (prc == TIDS_ENOMEM) {
			rc = prc;
			goto out;
		}
		if (prc == TIDS_ETOOBIG)
			rc = TIDS_ETOOBIG;
	}
	if (rc != 0)
		goto out;
	/* After syntax errors the declarations that did parse are still
	 * checked, so one run reports every problem it can. */
	bool syntax_errors = d->n_errors > errors_before;
	if (prog.n_rules > TIDS_POLICY_RULES_MAX) {
		pol_diag(d, TIDS_POLICY_ERROR, prog.rules[TIDS_POLICY_RULES_MAX]->info.file,
			 prog.rules[TIDS_POLICY_RULES_MAX]->info.line, 1, "more than %u rules",
			 TIDS_POLICY_RULES_MAX);
		rc = TIDS_EPOLICY;
		goto out;
	}
	ck = calloc(1, sizeof(*ck));
	if (ck == NULL) {
		rc = TIDS_ENOMEM;
		goto out;
	}
	ck->prog = &prog;
	ck->diags = d;
	ck->arena = &parse;
	ck->syntax_errors = syntax_errors;
	rc = pol_check(ck);
	if (rc == 0 && syntax_errors)
		rc = TIDS_EPOLICY;
	if (rc != 0)
		goto out;
	memcpy(set->slots, ck->slots, ck->n_slots * sizeof(ck->slots[0]));
	set->n_slots = ck->n_slots;
	for (uint32_t i = 0; i < set->n_slots; i++)
		if (set->slots[i].view_dependent)
			pol_bit_set(set->view_slots, i);

	set->n_rules = prog.n_rules;
	rules = malloc((prog.n_rules ? prog.n_rules : 1) * sizeof(*rules));
	if (rules == NULL) {
		rc = TIDS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < prog.n_rules; i++) {
		struct rule *r = &rules[i];
		*r = *prog.rules[i];
		r->index = (uint32_t)i;
		if (rule_size(r) > RULE_SIZE_MAX) {
			pol_diag(d, TIDS_POLICY_ERROR, r->info.file, r->info.line, r->info.col,
				 "rule %s expands to more than %d operations through its definitions",
				 r->info.id, RULE_SIZE_MAX);
			rc = TIDS_EPOLICY;
			continue;
		}
		int irc = intern_rule(set, r);
		if (irc == TIDS_EDUP) {
			/* 64-bit hashes of two different strings agree: so unlikely
			 * that it is worth a plain refusal rather than a slow path */
			pol_diag(d, TIDS_POLICY_ERROR, r->info.file, r->info.line, r->info.col,
				 "rule %s: two different strings of the policy have the same hash; "
				 "rename one of them", r->info.id);
			rc = TIDS_EPOLICY;
			continue;
		}
		if (irc != 0) {
			rc = TIDS_ENOMEM;
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	for (uint32_t i = 0; i < set->n_slots; i++) {
		const struct attr_decl *decl = set->slots[i].decl;
		if (decl != NULL && decl->deflt != NULL &&
		    intern_tree(set, (struct node *)decl->deflt) == TIDS_ENOMEM) {
			rc = TIDS_ENOMEM;
			goto out;
		}
	}
	if ((rc = build_floors(set, &prog)) != 0 || (rc = build_purposes(set, &prog)) != 0 ||
	    (rc = pol_schemas_build((const struct schema_decl *const *)prog.schemas, prog.n_schemas,
				    &set->schemas)) != 0 ||
	    (rc = pol_analyze(set, rules, d)) != 0 ||
	    (rc = pol_lower(set, rules)) != 0 || (rc = build_rule_ids(set)) != 0)
		goto out;
out:
	sort_diags(d, first_diag, sources, n_sources);
	program_free(&prog);
	free(rules);
	free(ck);
	pol_arena_free(&parse);
	/* the literals' table only served compiling */
	free(set->syms);
	set->syms = NULL;
	set->sym_mask = 0;
	set->n_syms = 0;
	if (diags == NULL)
		tids_policy_diags_clear(&own);
	if (rc != 0) {
		tids_policy_set_free(set);
		return rc;
	}
	*out = set;
	return 0;
}
