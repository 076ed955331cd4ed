/*
 * Static analysis of a checked set: reads each rule's top-level tests of an
 * attribute against constants ("constraints"), warns about rules that can
 * never match, permits that a forbid always overrides and duplicate rules,
 * and picks for each rule the attribute the index files it under.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

#define CONJUNCTS_MAX 256
#define SIGNATURE_RULES_MIN 3

/* A set of value codes: finite (the codes) or co-finite (all but them). */
struct codeset {
	bool cofinite;
	uint32_t n;
	int64_t *codes;           /* sorted, unique */
};

struct rule_facts {
	struct constraint *cons;
	uint32_t n_cons;
	const struct node **opaque;     /* conjuncts that are not constraints */
	uint32_t n_opaque;
	uint64_t slots[(POL_SLOTS_MAX + 63) / 64];   /* slots constrained */
	bool never;
	bool always_false;
	uint64_t chash;           /* order-independent hash of the conjuncts */
};

struct analysis {
	struct tids_policy_set *set;
	const struct rule *rules; /* set->n_rules of them, checked */
	struct tids_policy_diags *diags;
	struct arena scratch;
	struct rule_facts *facts;
	bool oom;
	size_t errors;
};

/* ---- structural hashing and equality (for shadowing and duplicates) ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
	return h;
}

static uint64_t shash(struct node *n)
{
	if (n == NULL)
		return 0;
	if (n->hashed)
		return n->shash;
	uint64_t h = mix(n->op, n->type);
	if (n->op != N_LIST)      /* a list's i is its codes pointer */
		h = mix(h, (uint64_t)n->i);
	h = mix(h, n->slot);
	h = mix(h, n->fn);
	if (n->op == N_STR || n->op == N_DUR)
		h = mix(h, n->h);         /* the string's hash, the duration's months */
	h = mix(h, shash(n->a));
	h = mix(h, shash(n->b));
	if (n->op == N_LIST && n->codes != NULL) {
		/* a constant list is a set: order and repeats do not matter */
		for (uint32_t i = 0; i < n->n_items; i++)
			if (i == 0 || n->codes[i] != n->codes[i - 1])
				h = mix(h, (uint64_t)n->codes[i]);
	} else {
		for (uint32_t i = 0; i < n->n_items; i++)
			h = mix(h, shash(n->items[i]));
	}
	n->shash = h;
	n->hashed = true;
	return h;
}

static bool sequal(struct node *a, struct node *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	if (shash(a) != shash(b) || a->op != b->op || a->type != b->type ||
	    (a->op != N_LIST && a->i != b->i) || a->slot != b->slot || a->fn != b->fn)
		return false;
	if (a->op == N_LIST && a->codes != NULL && b->codes != NULL) {
		uint32_t i = 0, j = 0;
		while (i < a->n_items && j < b->n_items) {
			if (a->codes[i] != b->codes[j])
				return false;
			int64_t c = a->codes[i];
			while (i < a->n_items && a->codes[i] == c)
				i++;
			while (j < b->n_items && b->codes[j] == c)
				j++;
		}
		return i == a->n_items && j == b->n_items;
	}
	if (a->n_items != b->n_items)
		return false;
	if ((a->op == N_STR || a->op == N_DUR) && a->h != b->h)
		return false;
	if (!sequal(a->a, b->a) || !sequal(a->b, b->b))
		return false;
	for (uint32_t i = 0; i < a->n_items; i++)
		if (!sequal(a->items[i], b->items[i]))
			return false;
	return true;
}

/* ---- code sets ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static bool has_code(const int64_t *codes, uint32_t n, int64_t c)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (codes[mid] == c)
			return true;
		if (codes[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int64_t *alloc_codes(struct analysis *an, uint32_t n)
{
	int64_t *c = pol_arena_alloc(&an->scratch, (n ? n : 1) * sizeof(int64_t));
	if (c == NULL)
		an->oom = true;
	return c;
}

/* Sorted unique copy. */
static uint32_t normalize(int64_t *codes, uint32_t n)
{
	if (n == 0)
		return 0;
	qsort(codes, n, sizeof(int64_t), cmp_i64);
	uint32_t k = 1;
	for (uint32_t i = 1; i < n; i++)
		if (codes[i] != codes[k - 1])
			codes[k++] = codes[i];
	return k;
}

/* The finite domain of a slot's type, if it has one. */
static bool domain_of(enum ptype t, int64_t dom[3], uint32_t *n)
{
	if (t == PT_BOOL) {
		dom[0] = 1;
		dom[1] = 2;
		*n = 2;
		return true;
	}
	if (t == PT_TIER) {
		dom[0] = TIDS_TIER_GENERAL;
		dom[1] = TIDS_TIER_IMPORTANT;
		dom[2] = TIDS_TIER_CORE;
		*n = 3;
		return true;
	}
	return false;
}

/* ---- constraints ---- */

static bool indexable_slot(const struct tids_policy_set *set, const struct node *n)
{
	if (n->op != N_ATTR)
		return false;
	if (set->slots[n->slot].src == SLOT_BUILTIN && n->slot >= POL_FIRST_GRANT_BUILTIN)
		return false;       /* grant.* depends on the rule's own grant() call */
	enum ptype t = (enum ptype)n->type;
	return t == PT_STR || t == PT_TIER || t == PT_BOOL;
}

static bool is_literal(const struct node *n)
{
	return n->op == N_STR || n->op == N_TIER || n->op == N_BOOL;
}

static int64_t lit_code(const struct node *n)
{
	return n->op == N_STR ? (int64_t)n->h : n->op == N_BOOL ? n->i + 1 : n->i;
}

static bool single(struct analysis *an, struct constraint *c, uint32_t slot, bool negated,
		   int64_t code, const struct node *origin)
{
	int64_t *codes = alloc_codes(an, 1);
	if (codes == NULL)
		return false;
	codes[0] = code;
	*c = (struct constraint){ .slot = slot, .negated = negated, .n = 1, .codes = codes,
				  .origin = origin };
	return true;
}

static bool as_constraint(struct analysis *an, const struct node *n, struct constraint *c)
{
	const struct tids_policy_set *set = an->set;
	switch (n->op) {
	case N_ATTR:
		if (n->type == PT_BOOL && indexable_slot(set, n))
			return single(an, c, n->slot, false, 2, n);
		return false;
	case N_NOT:
		if (!as_constraint(an, n->a, c))
			return false;
		c->negated = !c->negated;
		c->origin = n;
		return true;
	case N_EQ:
	case N_NE: {
		const struct node *a = n->a, *b = n->b;
		if (!indexable_slot(set, a)) {
			const struct node *t = a;
			a = b;
			b = t;
		}
		if (!indexable_slot(set, a) || !is_literal(b))
			return false;
		return single(an, c, a->slot, n->op == N_NE, lit_code(b), n);
	}
	case N_IN:
	case N_NOT_IN: {
		if (!indexable_slot(set, n->a) || n->b->op != N_LIST || !n->b->constant)
			return false;
		int64_t *codes = alloc_codes(an, n->b->n_items);
		if (codes == NULL)
			return false;
		if (n->b->n_items > 0)
			memcpy(codes, n->b->codes, n->b->n_items * sizeof(int64_t));
		*c = (struct constraint){ .slot = n->a->slot, .negated = n->op == N_NOT_IN,
					  .n = normalize(codes, n->b->n_items), .codes = codes,
					  .origin = n };
		return true;
	}
	case N_LT:
	case N_LE:
	case N_GT:
	case N_GE: {
		/* tier comparisons name a finite set of tiers */
		const struct node *a = n->a, *b = n->b;
		enum node_op op = (enum node_op)n->op;
		if (b->op == N_ATTR && a->op == N_TIER) {
			const struct node *t = a;
			a = b;
			b = t;
			op = op == N_LT ? N_GT : op == N_LE ? N_GE : op == N_GT ? N_LT : N_LE;
		}
		if (a->type != PT_TIER || !indexable_slot(set, a) || b->op != N_TIER)
			return false;
		int64_t *codes = alloc_codes(an, 3);
		if (codes == NULL)
			return false;
		uint32_t k = 0;
		for (int64_t t = TIDS_TIER_GENERAL; t <= TIDS_TIER_CORE; t++) {
			bool in = op == N_LT ? t < b->i : op == N_LE ? t <= b->i
				: op == N_GT ? t > b->i : t >= b->i;
			if (in)
				codes[k++] = t;
		}
		*c = (struct constraint){ .slot = a->slot, .n = k, .codes = codes, .origin = n };
		return true;
	}
	case N_OR: {
		struct constraint x, y;
		if (!as_constraint(an, n->a, &x) || !as_constraint(an, n->b, &y) ||
		    x.slot != y.slot || x.negated || y.negated)
			return false;
		int64_t *codes = alloc_codes(an, x.n + y.n);
		if (codes == NULL)
			return false;
		memcpy(codes, x.codes, x.n * sizeof(int64_t));
		memcpy(codes + x.n, y.codes, y.n * sizeof(int64_t));
		*c = (struct constraint){ .slot = x.slot, .n = normalize(codes, x.n + y.n),
					  .codes = codes, .origin = n };
		return true;
	}
	default:
		return false;
	}
}

static void flatten(const struct node *n, const struct node **out, uint32_t *k, bool *overflow)
{
	if (n->op == N_AND) {
		flatten(n->a, out, k, overflow);
		flatten(n->b, out, k, overflow);
		return;
	}
	if (*k >= CONJUNCTS_MAX) {
		*overflow = true;
		return;
	}
	out[(*k)++] = n;
}

/* What values of slot can satisfy all of r's constraints on it. */
static struct codeset allowed(struct analysis *an, const struct rule_facts *f, uint32_t slot)
{
	struct codeset cs = { .cofinite = true };
	int64_t dom[3];
	uint32_t ndom;
	if (domain_of((enum ptype)an->set->slots[slot].type, dom, &ndom)) {
		cs.cofinite = false;
		cs.codes = alloc_codes(an, ndom);
		if (cs.codes == NULL)
			return cs;
		memcpy(cs.codes, dom, ndom * sizeof(int64_t));
		cs.n = ndom;
	}
	for (uint32_t i = 0; i < f->n_cons; i++) {
		const struct constraint *c = &f->cons[i];
		if (c->slot != slot || c->negated)
			continue;
		if (cs.cofinite) {
			/* first positive set, minus anything already excluded */
			int64_t *codes = alloc_codes(an, c->n);
			if (codes == NULL)
				return cs;
			uint32_t k = 0;
			for (uint32_t j = 0; j < c->n; j++)
				if (!has_code(cs.codes, cs.n, c->codes[j]))
					codes[k++] = c->codes[j];
			cs = (struct codeset){ .cofinite = false, .n = k, .codes = codes };
		} else {
			uint32_t k = 0;
			for (uint32_t j = 0; j < cs.n; j++)
				if (has_code(c->codes, c->n, cs.codes[j]))
					cs.codes[k++] = cs.codes[j];
			cs.n = k;
		}
	}
	for (uint32_t i = 0; i < f->n_cons; i++) {
		const struct constraint *c = &f->cons[i];
		if (c->slot != slot || !c->negated)
			continue;
		if (!cs.cofinite) {
			uint32_t k = 0;
			for (uint32_t j = 0; j < cs.n; j++)
				if (!has_code(c->codes, c->n, cs.codes[j]))
					cs.codes[k++] = cs.codes[j];
			cs.n = k;
		} else {
			int64_t *codes = alloc_codes(an, cs.n + c->n);
			if (codes == NULL)
				return cs;
			if (cs.n)
				memcpy(codes, cs.codes, cs.n * sizeof(int64_t));
			memcpy(codes + cs.n, c->codes, c->n * sizeof(int64_t));
			cs.codes = codes;
			cs.n = normalize(codes, cs.n + c->n);
		}
	}
	return cs;
}

static struct codeset constraint_set(const struct constraint *c)
{
	return (struct codeset){ .cofinite = c->negated, .n = c->n, .codes = (int64_t *)c->codes };
}

static bool subset(const struct codeset *a, const struct codeset *b)
{
	if (!a->cofinite && !b->cofinite) {
		for (uint32_t i = 0; i < a->n; i++)
			if (!has_code(b->codes, b->n, a->codes[i]))
				return false;
		return true;
	}
	if (!a->cofinite && b->cofinite) {
		for (uint32_t i = 0; i < a->n; i++)
			if (has_code(b->codes, b->n, a->codes[i]))
				return false;
		return true;
	}
	if (a->cofinite && b->cofinite) {
		for (uint32_t i = 0; i < b->n; i++)
			if (!has_code(a->codes, a->n, b->codes[i]))
				return false;
		return true;
	}
	return false;
}

static const char *code_text(const struct tids_policy_set *set, uint32_t slot, int64_t code,
			     char *buf, size_t len)
{
	enum ptype t = (enum ptype)set->slots[slot].type;
	if (t == PT_TIER) {
		snprintf(buf, len, "%s", tids_tier_name((enum tids_tier)code));
	} else if (t == PT_BOOL) {
		snprintf(buf, len, "%s", code == 2 ? "true" : "false");
	} else {
		uint32_t n;
		const char *s = pol_sym_text(set, (uint64_t)code, &n);
		if (s != NULL)
			snprintf(buf, len, "\"%.*s\"", (int)n, s);
		else
			snprintf(buf, len, "?");
	}
	return buf;
}

static void gather(struct analysis *an, const struct rule *r, struct rule_facts *f)
{
	if (r->when == NULL)
		return;
	const struct node *conj[CONJUNCTS_MAX];
	uint32_t k = 0;
	bool overflow = false;
	flatten(r->when, conj, &k, &overflow);
	f->cons = pol_arena_alloc(&an->scratch, k * sizeof(*f->cons) + 1);
	f->opaque = pol_arena_alloc(&an->scratch, k * sizeof(*f->opaque) + 1);
	if (f->cons == NULL || f->opaque == NULL) {
		an->oom = true;
		return;
	}
	for (uint32_t i = 0; i < k; i++) {
		struct constraint c;
		f->chash += shash((struct node *)conj[i]) * UINT64_C(0x9e3779b97f4a7c15);
		if (conj[i]->op == N_BOOL && conj[i]->i == 0)
			f->always_false = true;
		if (as_constraint(an, conj[i], &c)) {
			f->cons[f->n_cons++] = c;
			pol_bit_set(f->slots, c.slot);
		} else {
			f->opaque[f->n_opaque++] = conj[i];
		}
	}
	if (overflow)
		f->n_opaque = 0, f->n_cons = 0;   /* too big to reason about: say nothing */
}

static void find_never(struct analysis *an, const struct rule *r, struct rule_facts *f)
{
	const struct tids_policy_set *set = an->set;
	if (f->always_false) {
		f->never = true;
		pol_diag(an->diags, TIDS_POLICY_WARNING, r->info.file, r->info.line, r->info.col,
			 "rule %s can never match: its condition is false", r->info.id);
		return;
	}
	for (uint32_t i = 0; i < f->n_cons; i++) {
		uint32_t slot = f->cons[i].slot;
		bool first = true;
		for (uint32_t j = 0; j < i; j++)
			if (f->cons[j].slot == slot)
				first = false;
		if (!first)
			continue;
		struct codeset cs = allowed(an, f, slot);
		if (an->oom || cs.cofinite || cs.n > 0)
			continue;
		f->never = true;
		/* Name the two tests that clash when they are plain equalities. */
		const struct constraint *a = NULL, *b = NULL;
		for (uint32_t j = 0; j < f->n_cons; j++) {
			const struct constraint *c = &f->cons[j];
			if (c->slot != slot || c->negated || c->n != 1)
				continue;
			if (a == NULL)
				a = c;
			else if (b == NULL && c->codes[0] != a->codes[0])
				b = c;
		}
		char x[80], y[80];
		if (a != NULL && b != NULL)
			pol_diag(an->diags, TIDS_POLICY_WARNING, r->info.file, r->info.line, r->info.col,
				 "rule %s can never match: %s cannot be both %s and %s", r->info.id,
				 set->slots[slot].name, code_text(set, slot, a->codes[0], x, sizeof(x)),
				 code_text(set, slot, b->codes[0], y, sizeof(y)));
		else
			pol_diag(an->diags, TIDS_POLICY_WARNING, r->info.file, r->info.line, r->info.col,
				 "rule %s can never match: no value of %s passes all its tests", r->info.id,
				 set->slots[slot].name);
		return;
	}
}

/* Does every request that satisfies p also satisfy f's condition? */
static bool implies(struct analysis *an, const struct rule *p, const struct rule_facts *pf,
		    const struct rule *f, const struct rule_facts *ff)
{
	if (f->when == NULL)
		return true;
	if (p->when == NULL)
		return false;
	if (ff->n_cons + ff->n_opaque == 0)
		return false;       /* f was too large to analyse */
	for (size_t w = 0; w < sizeof(ff->slots) / sizeof(ff->slots[0]); w++)
		if ((ff->slots[w] & ~pf->slots[w]) != 0)
			return false;
	for (uint32_t i = 0; i < ff->n_opaque; i++) {
		bool found = false;
		for (uint32_t j = 0; j < pf->n_opaque && !found; j++)
			found = sequal((struct node *)ff->opaque[i], (struct node *)pf->opaque[j]);
		if (!found)
			return false;
	}
	for (uint32_t i = 0; i < ff->n_cons; i++) {
		struct codeset want = constraint_set(&ff->cons[i]);
		struct codeset have = allowed(an, pf, ff->cons[i].slot);
		if (an->oom || !subset(&have, &want))
			return false;
	}
	return true;
}

static void find_shadowed(struct analysis *an)
{
	struct tids_policy_set *set = an->set;
	for (size_t i = 0; i < set->n_rules; i++) {
		const struct rule *p = &an->rules[i];
		if (p->info.kind != TIDS_POLICY_PERMIT || an->facts[i].never)
			continue;
		for (size_t j = 0; j < set->n_rules && !an->oom; j++) {
			const struct rule *f = &an->rules[j];
			if (f->info.kind != TIDS_POLICY_FORBID || an->facts[j].never)
				continue;
			if (implies(an, p, &an->facts[i], f, &an->facts[j])) {
				pol_diag(an->diags, TIDS_POLICY_WARNING, p->info.file, p->info.line,
					 p->info.col,
					 "permit %s never takes effect: forbid %s (%s:%u) matches whenever it does",
					 p->info.id, f->info.id, f->info.file, f->info.line);
				break;
			}
		}
	}
}

static bool same_strings(const char *const *a, uint32_t na, const char *const *b, uint32_t nb)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool same_obligations(const struct rule *a, const struct rule *b)
{
	if (a->n_obs != b->n_obs)
		return false;
	for (uint32_t i = 0; i < a->n_obs; i++) {
		const struct obligation *x = &a->obs[i], *y = &b->obs[i];
		if (x->kind != y->kind || x->which != y->which || x->ms != y->ms || x->months != y->months || x->n_exprs != y->n_exprs ||
		    !same_strings(x->names, x->n_names, y->names, y->n_names) ||
		    !same_strings(x->labels, x->n_labels, y->labels, y->n_labels) ||
		    !same_strings(x->by, x->n_by, y->by, y->n_by) ||
		    (x->text == NULL) != (y->text == NULL) || (x->text && strcmp(x->text, y->text)) ||
		    (x->field == NULL) != (y->field == NULL) || (x->field && strcmp(x->field, y->field)) ||
		    !sequal(x->expr, y->expr))
			return false;
		for (uint32_t k = 0; k < x->n_exprs; k++)
			if (!sequal(x->exprs[k], y->exprs[k]))
				return false;
	}
	return true;
}

struct by_hash {
	uint64_t h;
	uint32_t rule;
};

static int cmp_by_hash(const void *a, const void *b)
{
	const struct by_hash *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return (x->rule > y->rule) - (x->rule < y->rule);
}

static void find_duplicates(struct analysis *an)
{
	struct tids_policy_set *set = an->set;
	if (set->n_rules < 2)
		return;
	struct by_hash *v = malloc(set->n_rules * sizeof(*v));
	if (v == NULL) {
		an->oom = true;
		return;
	}
	for (size_t i = 0; i < set->n_rules; i++)
		v[i] = (struct by_hash){ .h = mix(an->facts[i].chash, an->rules[i].info.kind),
					 .rule = (uint32_t)i };
	qsort(v, set->n_rules, sizeof(*v), cmp_by_hash);
	for (size_t i = 1; i < set->n_rules; i++) {
		for (size_t j = i; j-- > 0 && v[j].h == v[i].h;) {
			const struct rule *a = &an->rules[v[j].rule], *b = &an->rules[v[i].rule];
			const struct rule_facts *fa = &an->facts[v[j].rule], *fb = &an->facts[v[i].rule];
			if (a->info.kind == b->info.kind && same_obligations(a, b) &&
			    implies(an, a, fa, b, fb) && implies(an, b, fb, a, fa)) {
				pol_diag(an->diags, TIDS_POLICY_WARNING, b->info.file, b->info.line,
					 b->info.col, "rule %s repeats rule %s (%s:%u): same condition and effect",
					 b->info.id, a->info.id, a->info.file, a->info.line);
				break;
			}
		}
	}
	free(v);
}

/* ---- fields a rule names, against the schemas of its categories ---- */

enum field_use { USE_AGGREGATE, USE_REMOVE, USE_KEEP, USE_COARSEN, USE_CONDITION };

static const char *use_text(enum field_use u)
{
	switch (u) {
	case USE_AGGREGATE: return "aggregates";
	case USE_REMOVE: return "removes";
	case USE_KEEP: return "keeps";
	case USE_COARSEN: return "coarsens";
	case USE_CONDITION: break;
	}
	return "tests has_field() of";
}

struct covered {
	const struct pol_schema *schema[64];
	const char *name[64];
	uint32_t n;
	bool all_have_schemas;
};

static void field_ref(struct analysis *an, const struct rule *r, const struct covered *cv, const char *field,
		      enum field_use use, unsigned line, unsigned col)
{
	bool anywhere = false;
	for (uint32_t i = 0; i < cv->n; i++)
		if (cv->schema[i] != NULL && pol_schema_field(cv->schema[i], field) != NULL)
			anywhere = true;
	for (uint32_t i = 0; i < cv->n; i++) {
		const struct pol_schema *sc = cv->schema[i];
		if (sc == NULL)
			continue;
		const struct pol_schema_field *f = pol_schema_field(sc, field);
		/* an aggregate over a field a category lacks sums nothing there,
		 * silently; a removal or test of one matters only if no covered
		 * category has it */
		if (f == NULL && (use == USE_AGGREGATE || (!anywhere && cv->all_have_schemas))) {
			char fields[256] = "";
			size_t o = 0;
			for (uint32_t k = 0; k < sc->n_fields && o < sizeof(fields); k++) {
				int w = snprintf(fields + o, sizeof(fields) - o, "%s%s", k ? ", " : "", sc->fields[k].name);
				o += w > 0 ? (size_t)w : 0;
			}
			pol_diag(an->diags, TIDS_POLICY_ERROR, r->info.file, line, col,
				 "rule %s %s field \"%s\", which category %s does not have (its schema: %s)", r->info.id,
				 use_text(use), field, cv->name[i], sc->n_fields ? fields : "no fields");
			an->errors++;
			if (use != USE_AGGREGATE)
				return;   /* once for a field no category has */
		}
	}
}

static void aggregate_ref(struct analysis *an, const struct rule *r, const struct covered *cv,
			  const struct obligation *ob)
{
	field_ref(an, r, cv, ob->field, USE_AGGREGATE, ob->line, ob->col);
	if (strcmp(ob->text, "count") == 0)
		return;
	for (uint32_t i = 0; i < cv->n; i++) {
		const struct pol_schema_field *f = cv->schema[i] ? pol_schema_field(cv->schema[i], ob->field) : NULL;
		if (f != NULL && f->type != TIDS_VALUE_INT && f->type != TIDS_VALUE_UINT && f->type != TIDS_VALUE_REAL) {
			pol_diag(an->diags, TIDS_POLICY_ERROR, r->info.file, ob->line, ob->col,
				 "rule %s takes the %s of field \"%s\", a %s in category %s: only numbers add up",
				 r->info.id, ob->text, ob->field, pol_value_type_name(f->type), cv->name[i]);
			an->errors++;
		}
	}
}

static void condition_refs(struct analysis *an, const struct rule *r, const struct covered *cv,
			   const struct node *n, unsigned depth)
{
	if (n == NULL || depth > POL_DEPTH_MAX * 4)
		return;
	if (n->op == N_CALL && n->fn == F_HAS_FIELD && n->n_items > 0 && n->items[0] != NULL &&
	    n->items[0]->op == N_STR)
		field_ref(an, r, cv, n->items[0]->s, USE_CONDITION, n->line, n->col);
	condition_refs(an, r, cv, n->a, depth + 1);
	condition_refs(an, r, cv, n->b, depth + 1);
	if (n->op != N_LIST)
		for (uint32_t i = 0; i < n->n_items; i++)
			condition_refs(an, r, cv, n->items[i], depth + 1);
}

/* Every field a rule names, when the rule is for categories with schemas:
 * `policy check` refuses an aggregate, a removal or a test over a field
 * they do not have (a regulator would get sums of nothing). */
static void check_field_refs(struct analysis *an, const struct rule *r, const struct rule_facts *f)
{
	const struct tids_policy_set *set = an->set;
	if (set->schemas == NULL || tids_policy_schemas_count(set->schemas) == 0 ||
	    !pol_bit_get(f->slots, B_RECORD_CATEGORY))
		return;
	struct codeset cats = allowed(an, f, B_RECORD_CATEGORY);
	if (an->oom || cats.cofinite || cats.n == 0 || cats.n > 64)
		return;
	struct covered cv = { .n = 0, .all_have_schemas = true };
	bool any = false;
	for (uint32_t i = 0; i < cats.n; i++) {
		uint32_t len;
		const char *name = pol_sym_text(set, (uint64_t)cats.codes[i], &len);
		if (name == NULL)
			return;
		cv.name[cv.n] = name;
		cv.schema[cv.n] = pol_schema_of(set->schemas, name, len);
		any |= cv.schema[cv.n] != NULL;
		cv.all_have_schemas &= cv.schema[cv.n] != NULL;
		cv.n++;
	}
	if (!any)
		return;
	for (uint32_t o = 0; o < r->n_obs; o++) {
		const struct obligation *ob = &r->obs[o];
		enum field_use use = ob->kind == OB_KEEP ? USE_KEEP : ob->kind == OB_COARSEN ? USE_COARSEN : USE_REMOVE;
		switch (ob->kind) {
		case OB_AGGREGATE:
			aggregate_ref(an, r, &cv, ob);
			break;
		case OB_REDACT:
		case OB_DROP:
		case OB_KEEP:
		case OB_DEMOTE:
		case OB_COARSEN:
			for (uint32_t k = 0; k < ob->n_names; k++)
				field_ref(an, r, &cv, ob->names[k], use, ob->line, ob->col);
			break;
		default:
			break;
		}
	}
	condition_refs(an, r, &cv, r->when, 0);
}

/* ---- index keys ---- */

struct slot_code {
	uint32_t slot;
	int64_t code;
};

static int cmp_slot_code(const void *a, const void *b)
{
	const struct slot_code *x = a, *y = b;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return (x->code > y->code) - (x->code < y->code);
}

struct key_option {
	uint32_t slot;
	double score;
	struct codeset cs;
};

static int by_score(const void *a, const void *b)
{
	const struct key_option *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return (x->slot > y->slot) - (x->slot < y->slot);
}

static int by_slot(const void *a, const void *b)
{
	const struct key_option *x = a, *y = b;
	return (x->slot > y->slot) - (x->slot < y->slot);
}

/* The attributes a rule could be filed under, most selective first: each
 * a finite set of values the rule requires. */
static size_t options_of(struct analysis *an, const struct rule_facts *f, const uint32_t *distinct,
			 struct key_option *out, size_t cap)
{
	size_t n = 0;
	for (uint32_t c = 0; c < f->n_cons && n < cap; c++) {
		uint32_t slot = f->cons[c].slot;
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			seen |= out[k].slot == slot;
		int64_t dom[3];
		uint32_t nd;
		/* a negated test names a finite set only over a finite domain */
		if (seen || distinct[slot] < 2 ||
		    (f->cons[c].negated && !domain_of((enum ptype)an->set->slots[slot].type, dom, &nd)))
			continue;
		struct codeset cs = allowed(an, f, slot);
		if (an->oom || cs.cofinite || cs.n == 0 || cs.n >= distinct[slot])
			continue;
		out[n++] = (struct key_option){ .slot = slot, .cs = cs,
					    .score = (double)cs.n / (double)distinct[slot] };
	}
	qsort(out, n, sizeof(*out), by_score);
	return n;
}

/* Files the rule under the most selective attributes whose value
 * combinations stay few: a request then finds it with one lookup per
 * signature, and only when all those attributes match. */
static void key_from(const struct key_option *opt, size_t n, struct rule_key *key)
{
	struct key_option pick[POL_KEY_SLOTS];
	size_t k = 0;
	uint32_t product = 1;
	for (size_t i = 0; i < n && k < POL_KEY_SLOTS; i++) {
		if (product * opt[i].cs.n > POL_KEY_COMBINATIONS)
			continue;
		product *= opt[i].cs.n;
		pick[k++] = opt[i];
	}
	qsort(pick, k, sizeof(*pick), by_slot);
	memset(key, 0, sizeof(*key));
	key->n_slots = (uint32_t)k;
	for (size_t i = 0; i < k; i++) {
		key->slots[i] = pick[i].slot;
		key->codes[i] = pick[i].cs.codes;
		key->n_codes[i] = pick[i].cs.n;
	}
}

static bool same_signature(const struct rule_key *a, const struct rule_key *b)
{
	if (a->n_slots != b->n_slots)
		return false;
	for (uint32_t i = 0; i < a->n_slots; i++)
		if (a->slots[i] != b->slots[i])
			return false;
	return true;
}

/* Is every slot of sub among the rule's options? */
static bool can_use(const struct rule_key *sub, const struct key_option *opt, size_t n)
{
	uint32_t product = 1;
	for (uint32_t i = 0; i < sub->n_slots; i++) {
		bool found = false;
		for (size_t k = 0; k < n && !found; k++)
			if (opt[k].slot == sub->slots[i]) {
				found = true;
				product *= opt[k].cs.n;
			}
		if (!found)
			return false;
	}
	return product <= POL_KEY_COMBINATIONS;
}

static int choose_keys(struct analysis *an, struct rule_key *keys)
{
	struct tids_policy_set *set = an->set;
	uint32_t distinct[POL_SLOTS_MAX] = { 0 };
	size_t n_pairs = 0, cap = 1024;
	struct slot_code *pairs = malloc(cap * sizeof(*pairs));
	if (pairs == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < set->n_rules; i++) {
		const struct rule_facts *f = &an->facts[i];
		for (uint32_t c = 0; c < f->n_cons; c++) {
			if (f->cons[c].negated)
				continue;
			for (uint32_t k = 0; k < f->cons[c].n; k++) {
				if (n_pairs == cap) {
					cap *= 2;
					struct slot_code *np = realloc(pairs, cap * sizeof(*pairs));
					if (np == NULL) {
						free(pairs);
						return TIDS_ENOMEM;
					}
					pairs = np;
				}
				pairs[n_pairs++] = (struct slot_code){ f->cons[c].slot, f->cons[c].codes[k] };
			}
		}
	}
	qsort(pairs, n_pairs, sizeof(*pairs), cmp_slot_code);
	for (size_t i = 0; i < n_pairs; i++)
		if (i == 0 || cmp_slot_code(&pairs[i], &pairs[i - 1]) != 0)
			distinct[pairs[i].slot]++;
	free(pairs);
	/* A finite domain (tiers, bools) counts all its values as distinct,
	 * also when rules only test it negatively (!recipient.registered). */
	for (size_t i = 0; i < set->n_rules; i++) {
		const struct rule_facts *f = &an->facts[i];
		for (uint32_t c = 0; c < f->n_cons; c++) {
			int64_t dom[3];
			uint32_t nd, s = f->cons[c].slot;
			if (domain_of((enum ptype)set->slots[s].type, dom, &nd))
				distinct[s] = nd;
		}
	}

	/* First choice per rule, then keep the signatures that file the most
	 * rules and refile the others under a kept signature they allow. */
	struct rule_key sigs[POL_INDEX_KEYS_MAX];
	uint32_t sig_rules[POL_INDEX_KEYS_MAX];
	size_t n_sigs = 0;
	struct rule_key *all = calloc(set->n_rules ? set->n_rules : 1, sizeof(*all));
	if (all == NULL)
		return TIDS_ENOMEM;
	struct { struct rule_key key; uint32_t count; } *tally = NULL;
	size_t n_tally = 0, cap_tally = 0;
	int rc = 0;
	for (size_t i = 0; i < set->n_rules; i++) {
		struct key_option opt[16];
		if (an->facts[i].never) {
			keys[i] = (struct rule_key){ .nowhere = true };
			continue;
		}
		size_t n = options_of(an, &an->facts[i], distinct, opt, 16);
		key_from(opt, n, &all[i]);
		if (all[i].n_slots == 0)
			continue;
		size_t t;
		for (t = 0; t < n_tally; t++)
			if (same_signature(&tally[t].key, &all[i]))
				break;
		if (t == n_tally) {
			if (n_tally == cap_tally) {
				cap_tally = cap_tally ? cap_tally * 2 : 32;
				void *nt = realloc(tally, cap_tally * sizeof(*tally));
				if (nt == NULL) {
					rc = TIDS_ENOMEM;
					goto out;
				}
				tally = nt;
			}
			tally[n_tally].key = all[i];
			tally[n_tally].count = 0;
			n_tally++;
		}
		tally[t].count++;
	}
	/* The most used signatures, ties to the earliest. A lookup costs about
	 * what evaluating two simple rules does: rarer signatures are not kept
	 * unless a rule can use a kept one. */
	while (n_sigs < POL_INDEX_KEYS_MAX) {
		size_t best = SIZE_MAX;
		for (size_t t = 0; t < n_tally; t++)
			if (tally[t].count >= SIGNATURE_RULES_MIN &&
			    (best == SIZE_MAX || tally[t].count > tally[best].count))
				best = t;
		if (best == SIZE_MAX)
			break;
		sigs[n_sigs] = tally[best].key;
		sig_rules[n_sigs] = tally[best].count;
		n_sigs++;
		tally[best].count = 0;
	}
	(void)sig_rules;
	for (size_t i = 0; i < set->n_rules; i++) {
		if (an->facts[i].never)
			continue;
		keys[i] = (struct rule_key){ .n_slots = 0 };
		if (all[i].n_slots == 0)
			continue;
		struct key_option opt[16];
		size_t n = options_of(an, &an->facts[i], distinct, opt, 16);
		/* its own signature if kept, else the kept one with most slots */
		const struct rule_key *use = NULL;
		for (size_t g = 0; g < n_sigs; g++) {
			if (!can_use(&sigs[g], opt, n))
				continue;
			if (use == NULL || same_signature(&sigs[g], &all[i]) ||
			    (!same_signature(use, &all[i]) && sigs[g].n_slots > use->n_slots))
				use = &sigs[g];
		}
		if (use == NULL)
			continue;
		keys[i].n_slots = use->n_slots;
		for (uint32_t k = 0; k < use->n_slots; k++) {
			keys[i].slots[k] = use->slots[k];
			for (size_t o = 0; o < n; o++)
				if (opt[o].slot == use->slots[k]) {
					keys[i].codes[k] = opt[o].cs.codes;
					keys[i].n_codes[k] = opt[o].cs.n;
				}
		}
	}
out:
	free(tally);
	free(all);
	return rc;
}

int pol_analyze(struct tids_policy_set *set, const struct rule *rules,
		struct tids_policy_diags *diags)
{
	struct analysis an = { .set = set, .rules = rules, .diags = diags };
	int rc = 0;
	struct rule_key *choice = NULL;
	an.facts = calloc(set->n_rules ? set->n_rules : 1, sizeof(*an.facts));
	if (an.facts == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < set->n_rules && !an.oom; i++) {
		gather(&an, &rules[i], &an.facts[i]);
		find_never(&an, &rules[i], &an.facts[i]);
		if (!an.facts[i].never)
			check_field_refs(&an, &rules[i], &an.facts[i]);
	}
	if (an.errors > 0) {
		rc = TIDS_EPOLICY;
		goto out;
	}
	if (!an.oom)
		find_shadowed(&an);
	if (!an.oom)
		find_duplicates(&an);
	if (an.oom) {
		rc = TIDS_ENOMEM;
		goto out;
	}
	choice = calloc(set->n_rules ? set->n_rules : 1, sizeof(*choice));
	if (choice == NULL) {
		rc = TIDS_ENOMEM;
		goto out;
	}
	if ((rc = choose_keys(&an, choice)) != 0)
		goto out;
	rc = pol_build_index(set, choice, set->n_rules);
out:
	free(choice);
	free(an.facts);
	pol_arena_free(&an.scratch);
	return rc;
}
