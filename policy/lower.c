/*
 * Lowering: turns the checked syntax tree into what a compiled set keeps,
 * in the set's own arena, so the parse can be freed. Conditions become
 * bytecode (struct insn): one instruction per test, `&&`, `||` and `!` as
 * jumps, the common tests (an attribute against a literal or a list, a
 * tier range, two attributes) answered from the decision's slot cache
 * without walking a tree; anything else stays a (compact) tree the
 * evaluator walks. Obligations and declarations are copied likewise.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

struct lower {
	struct tids_policy_set *set;
	bool oom;
};

/* ---- strings ---- */

const char *pol_set_string(struct tids_policy_set *set, const char *s, size_t len)
{
	uint64_t h;
	uint32_t have_len;
	int rc = pol_sym_intern(set, s, len, &h);
	if (rc == 0) {
		const char *t = pol_sym_text(set, h, &have_len);
		if (t != NULL)
			return t;
	}
	if (rc == TIDS_ENOMEM)
		return NULL;
	/* another string has its hash: keep a copy of its own */
	return pol_arena_strndup(&set->arena, s, len);
}

static const char *copy_str(struct lower *lw, const char *s)
{
	if (s == NULL)
		return NULL;
	const char *c = pol_set_string(lw->set, s, strlen(s));
	if (c == NULL)
		lw->oom = true;
	return c;
}

static const char *const *copy_strv(struct lower *lw, const char *const *v, uint32_t n)
{
	if (n == 0)
		return NULL;
	const char **out = pol_arena_alloc(&lw->set->arena, n * sizeof(*out));
	if (out == NULL) {
		lw->oom = true;
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		out[i] = copy_str(lw, v[i]);
	return out;
}

/* ---- expressions ---- */

static const struct xnode *lower_node(struct lower *lw, const struct node *n)
{
	if (n == NULL)
		return NULL;
	if (n->lowered != NULL)
		return n->lowered;        /* a `let` used again: shared, as in the source */
	struct xnode *x = pol_arena_alloc(&lw->set->arena, sizeof(*x));
	if (x == NULL) {
		lw->oom = true;
		return NULL;
	}
	((struct node *)n)->lowered = x;
	x->op = n->op;
	x->type = n->type;
	x->fn = n->fn;
	x->constant = n->constant;
	x->slot = n->slot;
	x->n_items = n->n_items;
	x->len = n->len;
	x->h = n->h;
	if (n->op == N_LIST)
		x->codes = n->codes;      /* already in the set's arena */
	else
		x->i = n->i;
	if (n->op == N_STR) {
		x->s = pol_set_string(lw->set, n->s, n->len);
		if (x->s == NULL)
			lw->oom = true;
	}
	x->a = lower_node(lw, n->a);
	x->b = lower_node(lw, n->b);
	if (n->n_items > 0) {
		const struct xnode **items = pol_arena_alloc(&lw->set->arena,
							     n->n_items * sizeof(*items));
		if (items == NULL) {
			lw->oom = true;
			return x;
		}
		for (uint32_t i = 0; i < n->n_items; i++)
			items[i] = lower_node(lw, n->items[i]);   /* NULL: an argument not given */
		x->items = items;
	}
	return x;
}

/* ---- conditions to bytecode ---- */

static bool impure(struct node *n)
{
	if (n == NULL)
		return false;
	if (n->purity != 0)
		return n->purity == 2;
	bool imp = (n->op == N_CALL && (n->fn == F_GRANT || n->fn == F_APPROVAL)) ||
		   (n->op == N_ATTR && n->slot >= POL_FIRST_GRANT_BUILTIN && n->slot < B_COUNT) ||
		   impure(n->a) || impure(n->b);
	for (uint32_t i = 0; !imp && i < n->n_items; i++)
		imp = impure(n->items[i]);
	n->purity = imp ? 2 : 1;
	return imp;
}

static bool cacheable_attr(const struct node *n)
{
	return n->op == N_ATTR && (n->slot < POL_FIRST_GRANT_BUILTIN || n->slot >= B_COUNT);
}

static bool is_str_attr(const struct node *n)
{
	return cacheable_attr(n) && n->type == PT_STR;
}

static bool is_small_attr(const struct node *n)     /* tier or bool: a mask */
{
	return cacheable_attr(n) && (n->type == PT_TIER || n->type == PT_BOOL);
}

static int64_t small_code(const struct node *lit)
{
	return lit->op == N_BOOL ? (lit->i ? 2 : 1) : lit->i;
}

static bool small_literal(const struct node *n)
{
	return n->op == N_BOOL || (n->op == N_TIER && n->i >= 0 && n->i < 32);
}

/* The values 0..31 that satisfy `code op lit`. */
static uint32_t compare_mask(enum node_op op, int64_t lit)
{
	uint32_t m = 0;
	for (int64_t c = 0; c < 32; c++) {
		bool in = op == N_LT ? c < lit : op == N_LE ? c <= lit : op == N_GT ? c > lit
			: op == N_GE ? c >= lit : c == lit;
		if (in)
			m |= UINT32_C(1) << c;
	}
	return m;
}

static enum node_op mirrored(enum node_op op)
{
	return op == N_LT ? N_GT : op == N_LE ? N_GE : op == N_GT ? N_LT : op == N_GE ? N_LE : op;
}

/* What one test compiles to; *negate when it holds if the instruction
 * does not. */
static void leaf(struct lower *lw, const struct node *n, struct insn *in, bool *negate)
{
	const struct node *a = n->a, *b = n->b;
	*negate = false;
	memset(in, 0, sizeof(*in));
	switch (n->op) {
	case N_BOOL:
		in->op = I_CONST;
		in->arg = n->i != 0;
		return;
	case N_ATTR:
		if (is_small_attr(n) && n->type == PT_BOOL) {
			in->op = I_MASK;
			in->slot = (uint16_t)n->slot;
			in->arg = UINT32_C(1) << 2;
			return;
		}
		break;
	case N_EQ:
	case N_NE:
		*negate = n->op == N_NE;
		if (!cacheable_attr(a)) {
			const struct node *t = a;
			a = b;
			b = t;
		}
		if (is_str_attr(a) && b->op == N_STR) {
			in->op = I_STR_EQ;
			in->slot = (uint16_t)a->slot;
			in->arg = b->len;
			in->h = b->h;
			in->s = pol_set_string(lw->set, b->s, b->len);
			if (in->s == NULL)
				lw->oom = true;
			return;
		}
		if (is_small_attr(a) && small_literal(b)) {
			in->op = I_MASK;
			in->slot = (uint16_t)a->slot;
			in->arg = UINT32_C(1) << small_code(b);
			return;
		}
		if (cacheable_attr(a) && cacheable_attr(b) && a->type == b->type) {
			in->op = I_SLOT_EQ;
			in->slot = (uint16_t)a->slot;
			in->arg = b->slot;
			return;
		}
		break;
	case N_LT:
	case N_LE:
	case N_GT:
	case N_GE: {
		enum node_op op = (enum node_op)n->op;
		if (b->op == N_ATTR && a->op == N_TIER) {
			const struct node *t = a;
			a = b;
			b = t;
			op = mirrored(op);
		}
		if (cacheable_attr(a) && a->type == PT_TIER && b->op == N_TIER) {
			in->op = I_MASK;
			in->slot = (uint16_t)a->slot;
			in->arg = compare_mask(op, b->i);
			return;
		}
		break;
	}
	case N_IN:
	case N_NOT_IN:
		*negate = n->op == N_NOT_IN;
		if (b->op != N_LIST || !b->constant)
			break;
		if (is_small_attr(a)) {
			uint32_t m = 0;
			bool all_small = true;
			for (uint32_t i = 0; i < b->n_items; i++) {
				if (!small_literal(b->items[i]))
					all_small = false;
				else
					m |= UINT32_C(1) << small_code(b->items[i]);
			}
			if (all_small) {
				in->op = I_MASK;
				in->slot = (uint16_t)a->slot;
				in->arg = m;
				return;
			}
			break;
		}
		if (is_str_attr(a)) {
			const struct xnode *list = lower_node(lw, b);
			in->op = I_STR_IN;
			in->slot = (uint16_t)a->slot;
			in->arg = b->n_items;
			in->codes = b->codes;
			in->items = list != NULL ? list->items : NULL;
			return;
		}
		break;
	default:
		break;
	}
	*negate = false;
	in->op = I_EXPR;
	in->node = lower_node(lw, n);
}

/* Roughly what a test costs a decision: attributes of the request are
 * cached, the asset and the owner cost a lookup, functions more. */
static uint32_t slot_cost(const struct tids_policy_set *set, uint32_t slot)
{
	const struct slot_def *sd = &set->slots[slot];
	switch (sd->src) {
	case SLOT_BUILTIN:
		/* purpose_allowed: a search of the declarations and the recipient's attributes */
		return (sd->id >= B_OWNER_ID && sd->id <= B_ASSET_REGISTERED) || sd->id == B_PURPOSE_ALLOWED ? 3 : 1;
	case SLOT_RECIPIENT_ATTR:
		return 3;
	case SLOT_OWNER_ATTR:
	case SLOT_ASSET_ATTR:
		return 5;
	case SLOT_DERIVED:
		return 1 + slot_cost(set, sd->base);
	}
	return 5;
}

static uint32_t expr_cost(const struct tids_policy_set *set, const struct node *n, unsigned depth)
{
	if (n == NULL)
		return 0;
	if (depth > 16)
		return 100;
	uint32_t c;
	switch (n->op) {
	case N_BOOL:
	case N_INT:
	case N_STR:
	case N_TIME:
	case N_DUR:
	case N_TIER:
		return 0;
	case N_ATTR:
		return slot_cost(set, n->slot);
	case N_LIST:
		c = 1;
		break;
	case N_CALL:
		c = n->fn == F_COUNTER ? 20 : n->fn == F_COUNTRY || n->fn == F_YEAR ? 2 : 10;
		break;
	default:
		c = 1;
		break;
	}
	c += expr_cost(set, n->a, depth + 1) + expr_cost(set, n->b, depth + 1);
	if (n->op != N_LIST || !n->constant)
		for (uint32_t i = 0; i < n->n_items && c < 1000; i++)
			c += expr_cost(set, n->items[i], depth + 1);
	return c > 1000 ? 1000 : c;
}

struct emit {
	struct lower *lw;
	struct insn *code;
	uint32_t n;
	uint32_t cap;
};

/* Memoized on the node: `let` makes the tree a DAG, so a walk that does
 * not remember can take exponential time. */
static uint32_t code_size(struct node *n)
{
	if (n->code_size != 0)
		return n->code_size - 1;
	uint32_t s;
	switch (n->op) {
	case N_AND:
	case N_OR:
		s = code_size(n->a);
		s = s >= POL_CODE_MAX ? POL_CODE_MAX : s + code_size(n->b);
		break;
	case N_NOT:
		s = code_size(n->a);
		break;
	default:
		s = 1;
		break;
	}
	if (s > POL_CODE_MAX)
		s = POL_CODE_MAX;
	n->code_size = s + 1;
	return s;
}

/* The operands of a chain of one operator: a && (b && c) -> a, b, c. */
static void chain(struct node *n, enum node_op op, struct node **out, uint32_t *k)
{
	if (n->op == op) {
		chain(n->a, op, out, k);
		chain(n->b, op, out, k);
		return;
	}
	out[(*k)++] = n;
}

struct operand {
	struct node *n;
	uint32_t cost;
	uint32_t order;
};

static int by_cost(const void *a, const void *b)
{
	const struct operand *x = a, *y = b;
	if (x->cost != y->cost)
		return x->cost < y->cost ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

static uint32_t test_cost(struct lower *lw, struct node *n)
{
	if (n->test_cost != 0)
		return n->test_cost - 1;
	uint32_t c;
	if (n->op == N_AND || n->op == N_OR)
		c = test_cost(lw, n->a) + test_cost(lw, n->b);
	else if (n->op == N_NOT)
		c = test_cost(lw, n->a);
	else
		c = expr_cost(lw->set, n, 0);
	if (c > 60000)
		c = 60000;
	n->test_cost = (uint16_t)(c + 1);
	return c;
}

static void emit_at(struct emit *e, struct node *n, uint32_t pos, uint32_t t, uint32_t f);

/* A chain: pure operands between impure ones run cheapest first (their
 * order changes nothing but the time); impure ones keep their places. */
static void emit_chain(struct emit *e, struct node *n, uint32_t pos, uint32_t t, uint32_t f)
{
	enum node_op op = (enum node_op)n->op;
	uint32_t size = code_size(n);
	struct node **ops = malloc(size * sizeof(*ops));
	struct operand *v = malloc(size * sizeof(*v));
	uint32_t k = 0;
	if (ops == NULL || v == NULL) {
		free(ops);
		free(v);
		e->lw->oom = true;
		return;
	}
	chain(n, op, ops, &k);
	for (uint32_t i = 0; i < k;) {
		uint32_t j = i;
		while (j < k && !impure(ops[j])) {
			v[j] = (struct operand){ ops[j], test_cost(e->lw, ops[j]), j };
			j++;
		}
		if (j - i > 1) {
			qsort(v + i, j - i, sizeof(*v), by_cost);
			for (uint32_t m = i; m < j; m++)
				ops[m] = v[m].n;
		}
		i = j < k ? j + 1 : j;    /* the impure operand stays */
	}
	free(v);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t next = pos + code_size(ops[i]);
		bool last = i + 1 == k;
		if (op == N_AND)
			emit_at(e, ops[i], pos, last ? t : next, f);
		else
			emit_at(e, ops[i], pos, t, last ? f : next);
		pos = next;
	}
	free(ops);
}

static void emit_at(struct emit *e, struct node *n, uint32_t pos, uint32_t t, uint32_t f)
{
	switch (n->op) {
	case N_AND:
	case N_OR:
		emit_chain(e, n, pos, t, f);
		return;
	case N_NOT:
		emit_at(e, n->a, pos, f, t);
		return;
	default: {
		bool negate;
		struct insn *in = &e->code[pos];
		leaf(e->lw, n, in, &negate);
		in->on_true = (uint16_t)(negate ? f : t);
		in->on_false = (uint16_t)(negate ? t : f);
		return;
	}
	}
}

static const struct insn *lower_condition(struct lower *lw, struct node *when)
{
	if (when == NULL)
		return NULL;
	uint32_t size = code_size(when);
	struct emit e = { .lw = lw };
	if (size >= POL_CODE_MAX) {
		/* too long to jump within: the whole condition is one tree */
		e.code = pol_arena_alloc(&lw->set->arena, sizeof(struct insn));
		if (e.code == NULL) {
			lw->oom = true;
			return NULL;
		}
		e.code[0] = (struct insn){ .op = I_EXPR, .on_true = PC_MATCH, .on_false = PC_NO_MATCH,
					   .node = lower_node(lw, when) };
		return e.code;
	}
	e.code = pol_arena_alloc(&lw->set->arena, size * sizeof(struct insn));
	if (e.code == NULL) {
		lw->oom = true;
		return NULL;
	}
	emit_at(&e, when, 0, PC_MATCH, PC_NO_MATCH);
	return e.code;
}

/* ---- obligations ---- */

static const struct xob *lower_obligations(struct lower *lw, const struct rule *r)
{
	if (r->n_obs == 0)
		return NULL;
	struct xob *out = pol_arena_alloc(&lw->set->arena, r->n_obs * sizeof(*out));
	if (out == NULL) {
		lw->oom = true;
		return NULL;
	}
	for (uint32_t i = 0; i < r->n_obs; i++) {
		const struct obligation *ob = &r->obs[i];
		struct xob *x = &out[i];
		x->kind = (uint8_t)ob->kind;
		x->which = ob->which;
		x->n_names = ob->n_names;
		x->names = copy_strv(lw, ob->names, ob->n_names);
		x->n_labels = ob->n_labels;
		x->labels = copy_strv(lw, ob->labels, ob->n_labels);
		x->expr = lower_node(lw, ob->expr);
		x->n_exprs = ob->n_exprs;
		if (ob->n_exprs > 0) {
			const struct xnode **ex = pol_arena_alloc(&lw->set->arena,
								  ob->n_exprs * sizeof(*ex));
			if (ex == NULL) {
				lw->oom = true;
				return out;
			}
			for (uint32_t k = 0; k < ob->n_exprs; k++)
				ex[k] = lower_node(lw, ob->exprs[k]);
			x->exprs = ex;
		}
		x->ms = ob->ms;
		x->months = ob->months;
		x->text = copy_str(lw, ob->text);
		x->field = copy_str(lw, ob->field);
		x->n_by = ob->n_by;
		x->by = copy_strv(lw, ob->by, ob->n_by);
	}
	return out;
}

/* ---- declarations ---- */

static const struct xdecl *lower_decl(struct lower *lw, const struct attr_decl *d)
{
	struct xdecl *x = pol_arena_alloc(&lw->set->arena, sizeof(*x));
	if (x == NULL) {
		lw->oom = true;
		return NULL;
	}
	x->name = copy_str(lw, d->name);
	x->type = (uint8_t)d->type;
	const struct node *n = d->deflt;
	switch (d->type) {
	case PT_STR:
		x->deflt = (struct val){ .type = PT_STR, .p = "", .len = 0, .h = pol_str_hash("", 0) };
		if (n != NULL) {
			x->deflt.p = pol_set_string(lw->set, n->s, n->len);
			x->deflt.len = n->len;
			x->deflt.h = pol_str_hash(n->s, n->len);
			if (x->deflt.p == NULL)
				lw->oom = true;
		}
		break;
	case PT_BOOL:
		x->deflt = (struct val){ .type = PT_BOOL, .b = n != NULL && n->i != 0 };
		break;
	default:
		x->deflt = (struct val){ .type = (uint8_t)d->type, .i = n != NULL ? n->i : 0,
					 .months = n != NULL && d->type == PT_DUR ? n->months : 0 };
		break;
	}
	return x;
}

int pol_lower(struct tids_policy_set *set, const struct rule *rules)
{
	struct lower lw = { .set = set };
	set->rules = pol_arena_alloc_line(&set->arena,
					  (set->n_rules ? set->n_rules : 1) * sizeof(struct crule));
	if (set->rules == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < set->n_rules && !lw.oom; i++) {
		const struct rule *r = &rules[i];
		struct crule *c = &set->rules[i];
		c->code = lower_condition(&lw, r->when);
		c->obs = lower_obligations(&lw, r);
		c->n_obs = r->n_obs;
		c->has_field_obligations = r->has_field_obligations;
		c->demote_only = r->demote_only;
		c->info = r->info;
		c->info.id = copy_str(&lw, r->info.id);
		c->info.because = copy_str(&lw, r->info.because);
		c->info.file = copy_str(&lw, r->info.file);
	}
	for (uint32_t i = 0; i < set->n_slots && !lw.oom; i++) {
		struct slot_def *sd = &set->slots[i];
		sd->name = copy_str(&lw, sd->name);
		if (sd->decl != NULL)
			sd->xdecl = lower_decl(&lw, sd->decl);
		sd->decl = NULL;
	}
	return lw.oom ? TIDS_ENOMEM : 0;
}
