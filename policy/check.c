/*
 * The checker: resolves every name against the attribute schema (schema.c)
 * and the `let` definitions, types every expression, and validates rules
 * and obligations. Errors name the file, line and column and, for a
 * misspelt name, the closest known one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

/* ---- functions and their parameters ---- */

struct param {
	const char *name;
	enum ptype type;
	bool list_ok;             /* a [list] matches any of its items */
};

static const struct param approval_params[] = {
	{ "kind", PT_STR, true }, { "regulator", PT_STR, true }, { "exporter", PT_STR, false },
	{ "recipient", PT_STR, false }, { "category", PT_STR, false }, { "tier", PT_TIER, false },
	{ "purpose", PT_STR, false }, { "from", PT_STR, false }, { "to", PT_STR, false },
	{ "at", PT_TIME, false }, { "signer_role", PT_STR, true }, { "signer_covers", PT_STR, false },
};

static const struct param grant_params[] = {
	{ "owner", PT_STR, false }, { "grantee", PT_STR, false }, { "asset", PT_STR, false },
	{ "category", PT_STR, false }, { "purpose", PT_STR, false }, { "at", PT_TIME, false },
	{ "max_window", PT_DUR, false },
};

enum { APPROVAL_NPARAMS = sizeof(approval_params) / sizeof(approval_params[0]) };
enum { GRANT_NPARAMS = sizeof(grant_params) / sizeof(grant_params[0]) };

struct function {
	const char *name;
	enum fn_id id;
	enum ptype result;
	const struct param *named;  /* NULL: positional */
	size_t n_params;
	enum ptype positional[3];
	const char *usage;
};

static const struct function functions[] = {
	{ "country", F_COUNTRY, PT_STR, NULL, 1, { PT_STR }, "country(jurisdiction)" },
	{ "year", F_YEAR, PT_INT, NULL, 1, { PT_TIME }, "year(time)" },
	{ "approval", F_APPROVAL, PT_BOOL, approval_params, APPROVAL_NPARAMS, { PT_ERROR },
	  "approval(kind: ..., exporter: ..., recipient: ..., category: ..., tier: ..., purpose: ..., from: ..., to: ..., at: ..., signer_role: ..., signer_covers: ...)" },
	{ "grant", F_GRANT, PT_BOOL, grant_params, GRANT_NPARAMS, { PT_ERROR },
	  "grant(owner: ..., grantee: ..., asset: ..., category: ..., purpose: ..., at: ..., max_window: ...)" },
	{ "counter", F_COUNTER, PT_INT, NULL, 3, { PT_STR, PT_STR, PT_INT }, "counter(name, key, period)" },
	{ "has_label", F_HAS_LABEL, PT_BOOL, NULL, 1, { PT_STR }, "has_label(label)" },
	{ "has_field", F_HAS_FIELD, PT_BOOL, NULL, 1, { PT_STR }, "has_field(name)" },
	{ "stripped", F_STRIPPED, PT_BOOL, NULL, 1, { PT_STR }, "stripped(label)" },
};

/* ---- diagnostics helpers ---- */

static void error_at(struct checker *ck, const char *file, unsigned line, unsigned col,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void error_at(struct checker *ck, const char *file, unsigned line, unsigned col,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pol_vdiag(ck->diags, TIDS_POLICY_ERROR, file, line, col, fmt, ap);
	va_end(ap);
	ck->errors++;
}

static void warn_at(struct checker *ck, const char *file, unsigned line, unsigned col,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void warn_at(struct checker *ck, const char *file, unsigned line, unsigned col,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pol_vdiag(ck->diags, TIDS_POLICY_WARNING, file, line, col, fmt, ap);
	va_end(ap);
}

static const char *cur_file(const struct checker *ck);
static struct let_def *cur_let(const struct checker *ck);

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

struct suggest {
	const char *best;
	size_t dist;
	char buf[160];
};

static void consider(struct suggest *s, const char *want, const char *cand)
{
	size_t d = edit_distance(want, cand);
	size_t limit = strlen(want) <= 4 ? 1 : strlen(want) <= 8 ? 2 : 3;
	if (d <= limit && (s->best == NULL || d < s->dist)) {
		s->best = cand;
		s->dist = d;
	}
}

static const char *hint(struct suggest *s)
{
	if (s->best == NULL)
		return "";
	snprintf(s->buf, sizeof(s->buf), " (did you mean %s?)", s->best);
	return s->buf;
}

/* ---- slots ---- */

int pol_new_slot(struct checker *ck, struct slot_def def)
{
	if (ck->n_slots >= POL_SLOTS_MAX)
		return -1;
	ck->slots[ck->n_slots] = def;
	return (int)ck->n_slots++;
}

static int derived_slot(struct checker *ck, enum fn_id fn, uint32_t base)
{
	for (uint32_t i = 0; i < ck->n_slots; i++)
		if (ck->slots[i].src == SLOT_DERIVED && ck->slots[i].fn == fn && ck->slots[i].base == base)
			return (int)i;
	char name[160];
	snprintf(name, sizeof(name), "%s(%s)", fn == F_COUNTRY ? "country" : "year",
		 ck->slots[base].name);
	const char *copy = pol_arena_strndup(ck->arena, name, strlen(name));
	if (copy == NULL)
		return -1;
	return pol_new_slot(ck, (struct slot_def){
		.src = SLOT_DERIVED, .type = fn == F_COUNTRY ? PT_STR : PT_INT, .fn = (uint8_t)fn,
		.base = base, .name = copy, .view_dependent = ck->slots[base].view_dependent,
	});
}

/* The node (a path, a name, or country()/year() of an attribute) becomes
 * the attribute it reads, in place: every use of it sees the same. */
static struct node *attr_node(struct checker *ck, struct node *n, uint32_t slot)
{
	unsigned line = n->line, col = n->col;
	memset(n, 0, sizeof(*n));
	n->op = N_ATTR;
	n->type = ck->slots[slot].type;
	n->slot = slot;
	n->line = line;
	n->col = col;
	n->checked = true;
	return n;
}

/* ---- lets ---- */

static struct let_def *find_let(const struct checker *ck, const char *name)
{
	if (ck->let_table == NULL)
		return NULL;
	uint64_t h = pol_hash(name, strlen(name));
	for (size_t i = (size_t)h & ck->let_mask;; i = (i + 1) & ck->let_mask) {
		struct let_def *l = ck->let_table[i];
		if (l == NULL)
			return NULL;
		if (strcmp(l->name, name) == 0)
			return l;
	}
}

/* ---- expressions ---- */


static struct node *check_expr(struct checker *ck, struct node *n);

static bool is_scalar(enum ptype t)
{
	return t == PT_BOOL || t == PT_INT || t == PT_STR || t == PT_TIME || t == PT_DUR ||
	       t == PT_TIER;
}

static bool is_ordered(enum ptype t)
{
	return t == PT_INT || t == PT_TIME || t == PT_DUR || t == PT_TIER;
}

static struct node *fail(struct node *n)
{
	n->type = PT_ERROR;
	n->checked = true;
	return n;
}

static void note_grant_attr(struct checker *ck, const struct node *n)
{
	struct let_def *l = cur_let(ck);
	if (l != NULL) {
		l->uses_grant_attr = true;
	} else if (ck->rule != NULL && !ck->rule->uses_grant_attr) {
		ck->rule->uses_grant_attr = true;
		ck->rule->grant_attr_line = n->line;
		ck->rule->grant_attr_col = n->col;
	}
}

static void note_grant_call(struct checker *ck)
{
	struct let_def *l = cur_let(ck);
	if (l != NULL)
		l->calls_grant = true;
	else if (ck->rule != NULL)
		ck->rule->calls_grant = true;
}

static struct node *check_path(struct checker *ck, struct node *n)
{
	for (uint32_t b = 0; b < B_COUNT; b++) {
		if (strcmp(pol_builtins[b].path, n->s) == 0) {
			if (b >= POL_FIRST_GRANT_BUILTIN)
				note_grant_attr(ck, n);
			return attr_node(ck, n, b);
		}
	}
	const char *dot = strchr(n->s, '.');
	size_t head = dot != NULL ? (size_t)(dot - n->s) : strlen(n->s);
	const char *tail = dot != NULL ? dot + 1 : "";
	enum slot_src src;
	if (head == 9 && memcmp(n->s, "recipient", 9) == 0)
		src = SLOT_RECIPIENT_ATTR;
	else if (head == 5 && memcmp(n->s, "owner", 5) == 0)
		src = SLOT_OWNER_ATTR;
	else if (head == 5 && memcmp(n->s, "asset", 5) == 0)
		src = SLOT_ASSET_ATTR;
	else
		src = SLOT_BUILTIN;
	if (src != SLOT_BUILTIN) {
		for (uint32_t s = B_COUNT; s < ck->n_slots; s++) {
			const struct slot_def *sd = &ck->slots[s];
			if (sd->src == src && strcmp(sd->decl->name, tail) == 0) {
				((struct attr_decl *)sd->decl)->used = true;
				return attr_node(ck, n, s);
			}
		}
	}
	struct suggest sg = { 0 };
	for (uint32_t s = 0; s < ck->n_slots; s++)
		if (ck->slots[s].src != SLOT_DERIVED)
			consider(&sg, n->s, ck->slots[s].name);
	if (src == SLOT_BUILTIN && !(head == 6 && memcmp(n->s, "record", 6) == 0) &&
	    !(head == 5 && memcmp(n->s, "grant", 5) == 0))
		error_at(ck, cur_file(ck), n->line, n->col,
			 "unknown attribute %s: attributes start with record., recipient., owner., "
			 "asset. or grant.%s", n->s, hint(&sg));
	else if (src != SLOT_BUILTIN && sg.best == NULL)
		error_at(ck, cur_file(ck), n->line, n->col,
			 "unknown attribute %s (declare it: attribute %s.%s: bool;)", n->s,
			 src == SLOT_ASSET_ATTR ? "asset" : "participant", tail);
	else
		error_at(ck, cur_file(ck), n->line, n->col, "unknown attribute %s%s", n->s, hint(&sg));
	return fail(n);
}

static struct node *check_let_ref(struct checker *ck, struct node *n, struct let_def *l);

static struct node *check_name(struct checker *ck, struct node *n)
{
	if (strcmp(n->s, "purpose") == 0)
		return attr_node(ck, n, B_PURPOSE);
	if (strcmp(n->s, "now") == 0)
		return attr_node(ck, n, B_NOW);
	if (strcmp(n->s, "purpose_allowed") == 0) {
		if (ck->purpose_allowed_file == NULL) {
			ck->purpose_allowed_file = cur_file(ck);
			ck->purpose_allowed_line = n->line;
			ck->purpose_allowed_col = n->col;
		}
		return attr_node(ck, n, B_PURPOSE_ALLOWED);
	}
	if (strcmp(n->s, "onward") == 0)
		return attr_node(ck, n, B_ONWARD);
	enum tids_tier tier = tids_tier_parse(n->s);
	if (tier != TIDS_TIER_UNSET) {
		n->op = N_TIER;
		n->i = tier;
		n->type = PT_TIER;
		n->checked = true;
		return n;
	}
	struct let_def *l = find_let(ck, n->s);
	if (l != NULL)
		return check_let_ref(ck, n, l);
	if (strcmp(n->s, "record") == 0 || strcmp(n->s, "recipient") == 0 ||
	    strcmp(n->s, "owner") == 0 || strcmp(n->s, "asset") == 0 || strcmp(n->s, "grant") == 0) {
		error_at(ck, cur_file(ck), n->line, n->col,
			 "%s is not a value; name one of its attributes, e.g. %s.%s", n->s, n->s,
			 n->s[0] == 'r' && n->s[2] == 'c' && n->s[3] == 'o' ? "category" : "id");
		return fail(n);
	}
	struct suggest sg = { 0 };
	consider(&sg, n->s, "purpose");
	consider(&sg, n->s, "now");
	consider(&sg, n->s, "purpose_allowed");
	for (unsigned t = TIDS_TIER_GENERAL; t <= TIDS_TIER_CORE; t++)
		consider(&sg, n->s, tids_tier_name((enum tids_tier)t));
	for (size_t i = 0; i < ck->prog->n_lets; i++)
		consider(&sg, n->s, ck->prog->lets[i]->name);
	if (sg.best != NULL)
		error_at(ck, cur_file(ck), n->line, n->col, "unknown name '%s'%s", n->s, hint(&sg));
	else
		error_at(ck, cur_file(ck), n->line, n->col,
			 "unknown name '%s' (strings are written in double quotes)", n->s);
	return fail(n);
}

/* Sorted, de-duplicated interned view of a constant list is built at
 * compile time; here only types. */
static struct node *check_list(struct checker *ck, struct node *n)
{
	enum ptype elem = PT_ANY;
	bool constant = true;
	for (uint32_t i = 0; i < n->n_items; i++) {
		n->items[i] = check_expr(ck, n->items[i]);
		struct node *it = n->items[i];
		if (it->type == PT_ERROR)
			return fail(n);
		if (!is_scalar((enum ptype)it->type)) {
			error_at(ck, cur_file(ck), it->line, it->col, "a list holds single values, not %ss",
				 pol_type_name((enum ptype)it->type));
			return fail(n);
		}
		if (elem == PT_ANY) {
			elem = (enum ptype)it->type;
		} else if (elem != it->type) {
			error_at(ck, cur_file(ck), it->line, it->col,
				 "list mixes %s and %s items", pol_type_name(elem),
				 pol_type_name((enum ptype)it->type));
			return fail(n);
		}
		if (it->op != N_STR && it->op != N_INT && it->op != N_TIER && it->op != N_BOOL &&
		    it->op != N_TIME && it->op != N_DUR)
			constant = false;
	}
	n->type = PT_LIST;
	n->elem = (uint8_t)elem;
	n->constant = constant;
	n->checked = true;
	return n;
}

static const char *describe(const struct checker *ck, const struct node *n, char *buf, size_t len)
{
	switch (n->op) {
	case N_ATTR:
		snprintf(buf, len, "%s (%s)", ck->slots[n->slot].name,
			 pol_type_name((enum ptype)n->type));
		break;
	case N_STR:
		snprintf(buf, len, "\"%.40s\" (string)", n->s);
		break;
	default:
		snprintf(buf, len, "a %s", pol_type_name((enum ptype)n->type));
	}
	return buf;
}

static const char *op_text(enum node_op op)
{
	switch (op) {
	case N_EQ: return "==";
	case N_NE: return "!=";
	case N_LT: return "<";
	case N_LE: return "<=";
	case N_GT: return ">";
	case N_GE: return ">=";
	case N_IN: return "in";
	case N_NOT_IN: return "not in";
	case N_ADD: return "+";
	case N_SUB: return "-";
	case N_AND: return "&&";
	case N_OR: return "||";
	case N_NOT: return "!";
	default: return "?";
	}
}

static struct node *check_compare(struct checker *ck, struct node *n)
{
	struct node *a = n->a, *b = n->b;
	char da[128], db[128];
	enum ptype ta = (enum ptype)a->type, tb = (enum ptype)b->type;
	if (ta == PT_LIST || tb == PT_LIST) {
		error_at(ck, cur_file(ck), n->line, n->col,
			 "`%s` cannot compare a list; test membership with `in`",
			 op_text((enum node_op)n->op));
		return fail(n);
	}
	if (ta != tb) {
		const struct node *s = ta == PT_STR ? a : tb == PT_STR ? b : NULL;
		if (s != NULL && s->op == N_STR && tids_tier_parse(s->s) != TIDS_TIER_UNSET &&
		    (ta == PT_TIER || tb == PT_TIER))
			error_at(ck, cur_file(ck), s->line, s->col,
				 "tiers are written without quotes: %s, not \"%s\"", s->s, s->s);
		else
			error_at(ck, cur_file(ck), n->line, n->col, "`%s` compares %s with %s",
				 op_text((enum node_op)n->op), describe(ck, a, da, sizeof(da)),
				 describe(ck, b, db, sizeof(db)));
		return fail(n);
	}
	if (n->op != N_EQ && n->op != N_NE && !is_ordered(ta)) {
		error_at(ck, cur_file(ck), n->line, n->col, "`%s` needs ordered values, not %ss",
			 op_text((enum node_op)n->op), pol_type_name(ta));
		return fail(n);
	}
	if (ta == PT_DUR && (a->calendar || b->calendar)) {
		/* a month has 28 to 31 days: only a time it is added to says how many */
		const struct node *c = a->calendar ? a : b;
		error_at(ck, cur_file(ck), c->line, c->col,
			 "a duration of months, quarters or years has no fixed length; compare times instead, "
			 "e.g. now > record.produced_at + 1mo");
		return fail(n);
	}
	n->type = PT_BOOL;
	return n;
}

static struct node *check_in(struct checker *ck, struct node *n)
{
	struct node *a = n->a, *b = n->b;
	if (b->type != PT_LIST) {
		error_at(ck, cur_file(ck), b->line, b->col, "`%s` needs a [list] on its right, not a %s",
			 op_text((enum node_op)n->op), pol_type_name((enum ptype)b->type));
		return fail(n);
	}
	if (!is_scalar((enum ptype)a->type)) {
		error_at(ck, cur_file(ck), a->line, a->col, "`%s` tests a single value, not a %s",
			 op_text((enum node_op)n->op), pol_type_name((enum ptype)a->type));
		return fail(n);
	}
	if (b->elem != PT_ANY && b->elem != a->type) {
		char da[128];
		if (a->type == PT_TIER && b->elem == PT_STR)
			error_at(ck, cur_file(ck), b->line, b->col,
				 "tiers are written without quotes in the list");
		else
			error_at(ck, cur_file(ck), n->line, n->col, "%s is tested against a list of %ss",
				 describe(ck, a, da, sizeof(da)), pol_type_name((enum ptype)b->elem));
		return fail(n);
	}
	n->type = PT_BOOL;
	return n;
}

static struct node *check_arith(struct checker *ck, struct node *n)
{
	enum ptype ta = (enum ptype)n->a->type, tb = (enum ptype)n->b->type;
	enum ptype r = PT_ERROR;
	if (ta == PT_INT && tb == PT_INT)
		r = PT_INT;
	else if (ta == PT_DUR && tb == PT_DUR)
		r = PT_DUR;
	else if (ta == PT_TIME && tb == PT_DUR)
		r = PT_TIME;
	else if (ta == PT_DUR && tb == PT_TIME && n->op == N_ADD)
		r = PT_TIME;
	else if (ta == PT_TIME && tb == PT_TIME && n->op == N_SUB)
		r = PT_DUR;
	if (r == PT_ERROR) {
		error_at(ck, cur_file(ck), n->line, n->col, "cannot %s a %s %s a %s",
			 n->op == N_ADD ? "add" : "subtract", pol_type_name(tb),
			 n->op == N_ADD ? "to" : "from", pol_type_name(ta));
		return fail(n);
	}
	n->type = (uint8_t)r;
	n->calendar = r == PT_DUR && (n->a->calendar || n->b->calendar);
	return n;
}

static const struct function *find_function(const char *name)
{
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if (strcmp(functions[i].name, name) == 0)
			return &functions[i];
	return NULL;
}

static bool arg_type_ok(struct checker *ck, const struct node *arg, enum ptype want, bool list_ok,
			const char *fn, const char *pname)
{
	if (arg->type == PT_ERROR)
		return false;
	if (arg->type == want)
		return true;
	if (list_ok && arg->type == PT_LIST && (arg->elem == want || arg->elem == PT_ANY))
		return true;
	if (want == PT_TIER && arg->op == N_STR && tids_tier_parse(arg->s) != TIDS_TIER_UNSET)
		error_at(ck, cur_file(ck), arg->line, arg->col,
			 "tiers are written without quotes: %s, not \"%s\"", arg->s, arg->s);
	else
		error_at(ck, cur_file(ck), arg->line, arg->col, "%s(%s%s) takes a %s%s, not a %s", fn,
			 pname, pname[0] ? ": ..." : "...", pol_type_name(want),
			 list_ok ? " or a list of them" : "", pol_type_name((enum ptype)arg->type));
	return false;
}

static struct node *check_call(struct checker *ck, struct node *n)
{
	const struct function *f = find_function(n->s);
	if (f == NULL) {
		struct suggest sg = { 0 };
		for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
			consider(&sg, n->s, functions[i].name);
		error_at(ck, cur_file(ck), n->line, n->col,
			 "unknown function %s()%s", n->s, sg.best ? hint(&sg)
			 : " (country, year, approval, grant, counter, has_label, has_field, stripped)");
		return fail(n);
	}
	n->fn = (uint8_t)f->id;
	bool ok = true;
	for (uint32_t i = 0; i < n->n_items; i++) {
		n->items[i] = check_expr(ck, n->items[i]);
		if (n->items[i]->type == PT_ERROR)
			ok = false;
	}
	if (!ok)
		return fail(n);
	if (f->named == NULL) {
		if (n->n_items != f->n_params) {
			error_at(ck, cur_file(ck), n->line, n->col, "%s takes %zu argument%s: %s",
				 f->name, f->n_params, f->n_params == 1 ? "" : "s", f->usage);
			return fail(n);
		}
		for (uint32_t i = 0; i < n->n_items; i++) {
			if (n->arg_names[i] != NULL) {
				error_at(ck, cur_file(ck), n->items[i]->line, n->items[i]->col,
					 "%s takes its arguments by position: %s", f->name, f->usage);
				return fail(n);
			}
			if (!arg_type_ok(ck, n->items[i], f->positional[i], false, f->name, ""))
				return fail(n);
		}
	} else {
		struct node **by_param = pol_arena_alloc(ck->arena, f->n_params * sizeof(*by_param));
		if (by_param == NULL) {
			ck->prog->oom = true;
			return fail(n);
		}
		for (uint32_t i = 0; i < n->n_items; i++) {
			const char *an = n->arg_names[i];
			if (an == NULL) {
				error_at(ck, cur_file(ck), n->items[i]->line, n->items[i]->col,
					 "%s() takes named arguments: %s", f->name, f->usage);
				return fail(n);
			}
			size_t k;
			for (k = 0; k < f->n_params; k++)
				if (strcmp(f->named[k].name, an) == 0)
					break;
			if (k == f->n_params) {
				struct suggest sg = { 0 };
				for (size_t j = 0; j < f->n_params; j++)
					consider(&sg, an, f->named[j].name);
				error_at(ck, cur_file(ck), n->items[i]->line, n->items[i]->col,
					 "%s() has no argument '%s'%s; it takes %s", f->name, an,
					 hint(&sg), f->usage);
				return fail(n);
			}
			if (by_param[k] != NULL) {
				error_at(ck, cur_file(ck), n->items[i]->line, n->items[i]->col,
					 "argument '%s' is given twice", an);
				return fail(n);
			}
			if (!arg_type_ok(ck, n->items[i], f->named[k].type, f->named[k].list_ok,
					 f->name, an))
				return fail(n);
			by_param[k] = n->items[i];
		}
		n->items = by_param;
		n->n_items = (uint32_t)f->n_params;
		n->arg_names = NULL;
		if (f->id == F_GRANT)
			note_grant_call(ck);
	}
	n->type = (uint8_t)f->result;
	n->checked = true;
	/* country() and year() of an attribute are cached per decision like
	 * attributes, so every rule that asks pays once. */
	if ((f->id == F_COUNTRY || f->id == F_YEAR) && n->items[0]->op == N_ATTR &&
	    n->items[0]->slot < POL_FIRST_GRANT_BUILTIN) {
		int s = derived_slot(ck, f->id, n->items[0]->slot);
		if (s >= 0)
			return attr_node(ck, n, (uint32_t)s);
	}
	return n;
}

static struct node *check_expr(struct checker *ck, struct node *n)
{
	if (n->checked && n->op != N_NAME)
		return n;
	switch ((enum node_op)n->op) {
	case N_BOOL: n->type = PT_BOOL; break;
	case N_INT: n->type = PT_INT; break;
	case N_STR: n->type = PT_STR; break;
	case N_TIME: n->type = PT_TIME; break;
	case N_DUR: n->type = PT_DUR; break;
	case N_TIER: n->type = PT_TIER; break;
	case N_ATTR: break;
	case N_LIST: return check_list(ck, n);
	case N_NAME: return check_name(ck, n);
	case N_PATH: return check_path(ck, n);
	case N_CALL: return check_call(ck, n);
	case N_NOT:
		n->a = check_expr(ck, n->a);
		if (n->a->type == PT_ERROR)
			return fail(n);
		if (n->a->type != PT_BOOL) {
			error_at(ck, cur_file(ck), n->line, n->col, "`!` negates a bool, not a %s",
				 pol_type_name((enum ptype)n->a->type));
			return fail(n);
		}
		n->type = PT_BOOL;
		break;
	case N_NEG:
		n->a = check_expr(ck, n->a);
		if (n->a->type == PT_ERROR)
			return fail(n);
		if (n->a->type != PT_INT && n->a->type != PT_DUR) {
			error_at(ck, cur_file(ck), n->line, n->col, "`-` negates a number or duration, not a %s",
				 pol_type_name((enum ptype)n->a->type));
			return fail(n);
		}
		n->type = n->a->type;
		n->calendar = n->a->calendar;
		break;
	case N_AND:
	case N_OR:
		n->a = check_expr(ck, n->a);
		n->b = check_expr(ck, n->b);
		if (n->a->type == PT_ERROR || n->b->type == PT_ERROR)
			return fail(n);
		for (int side = 0; side < 2; side++) {
			const struct node *o = side ? n->b : n->a;
			if (o->type != PT_BOOL) {
				char d[128];
				error_at(ck, cur_file(ck), o->line, o->col, "`%s` joins conditions; %s is not one",
					 op_text((enum node_op)n->op), describe(ck, o, d, sizeof(d)));
				return fail(n);
			}
		}
		n->type = PT_BOOL;
		break;
	case N_EQ:
	case N_NE:
	case N_LT:
	case N_LE:
	case N_GT:
	case N_GE:
		n->a = check_expr(ck, n->a);
		n->b = check_expr(ck, n->b);
		if (n->a->type == PT_ERROR || n->b->type == PT_ERROR)
			return fail(n);
		n = check_compare(ck, n);
		break;
	case N_IN:
	case N_NOT_IN:
		n->a = check_expr(ck, n->a);
		n->b = check_expr(ck, n->b);
		if (n->a->type == PT_ERROR || n->b->type == PT_ERROR)
			return fail(n);
		n = check_in(ck, n);
		break;
	case N_ADD:
	case N_SUB:
		n->a = check_expr(ck, n->a);
		n->b = check_expr(ck, n->b);
		if (n->a->type == PT_ERROR || n->b->type == PT_ERROR)
			return fail(n);
		n = check_arith(ck, n);
		break;
	}
	n->checked = true;
	return n;
}

/* ---- scopes: which file and let we are in ---- */

static const char *cur_file(const struct checker *ck)
{
	return ck->scope_file[ck->n_scopes - 1];
}

static struct let_def *cur_let(const struct checker *ck)
{
	return ck->scope_let[ck->n_scopes - 1];
}

static bool push_scope(struct checker *ck, const char *file, struct let_def *l)
{
	if (ck->n_scopes >= POL_DEPTH_MAX)
		return false;
	ck->scope_file[ck->n_scopes] = file;
	ck->scope_let[ck->n_scopes] = l;
	ck->n_scopes++;
	return true;
}

static struct node *check_let_ref(struct checker *ck, struct node *n, struct let_def *l)
{
	l->used = true;
	if (l->state == 1) {
		error_at(ck, cur_file(ck), n->line, n->col, "'%s' is defined in terms of itself",
			 l->name);
		return fail(n);
	}
	if (l->state == 0) {
		if (!push_scope(ck, l->file, l)) {
			error_at(ck, cur_file(ck), n->line, n->col, "definitions are nested too deeply");
			return fail(n);
		}
		l->state = 1;
		l->expr = check_expr(ck, l->expr);
		l->state = 2;
		ck->n_scopes--;
	}
	/* What the let reads and calls counts for whoever refers to it. */
	if (l->uses_grant_attr)
		note_grant_attr(ck, n);
	if (l->calls_grant)
		note_grant_call(ck);
	return l->expr;
}

/* ---- declarations ---- */

static bool is_reserved_name(const char *s)
{
	return strcmp(s, "purpose") == 0 || strcmp(s, "now") == 0 || strcmp(s, "record") == 0 ||
	       strcmp(s, "recipient") == 0 || strcmp(s, "owner") == 0 || strcmp(s, "asset") == 0 ||
	       strcmp(s, "grant") == 0 || tids_tier_parse(s) != TIDS_TIER_UNSET;
}

static int build_let_table(struct checker *ck)
{
	struct program *prog = ck->prog;
	size_t cap = 16;
	while (cap < prog->n_lets * 2 + 2)
		cap *= 2;
	ck->let_table = calloc(cap, sizeof(*ck->let_table));
	if (ck->let_table == NULL)
		return TIDS_ENOMEM;
	ck->let_mask = cap - 1;
	for (size_t i = 0; i < prog->n_lets; i++) {
		struct let_def *l = prog->lets[i];
		if (is_reserved_name(l->name)) {
			error_at(ck, l->file, l->line, l->col, "'%s' is a built-in name and cannot be redefined",
				 l->name);
			continue;
		}
		if (find_function(l->name) != NULL) {
			error_at(ck, l->file, l->line, l->col, "'%s' is a function and cannot be redefined",
				 l->name);
			continue;
		}
		struct let_def *prev = find_let(ck, l->name);
		if (prev != NULL) {
			error_at(ck, l->file, l->line, l->col, "'%s' is already defined at %s:%u", l->name,
				 prev->file, prev->line);
			continue;
		}
		uint64_t h = pol_hash(l->name, strlen(l->name));
		size_t k = (size_t)h & ck->let_mask;
		while (ck->let_table[k] != NULL)
			k = (k + 1) & ck->let_mask;
		ck->let_table[k] = l;
	}
	return 0;
}

/* ---- obligations ---- */

static bool valid_label(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= TIDS_LABEL_MAX && tids_valid_field_name(s);
}

static void check_selector(struct checker *ck, const struct rule *r, const struct obligation *ob)
{
	for (uint32_t i = 0; i < ob->n_names; i++)
		if (!tids_valid_field_name(ob->names[i]))
			error_at(ck, r->info.file, ob->line, ob->col,
				 "\"%s\" is not a valid field name ([A-Za-z0-9_.-], 1 to 64)", ob->names[i]);
	for (uint32_t i = 0; i < ob->n_labels; i++)
		if (!valid_label(ob->labels[i]))
			error_at(ck, r->info.file, ob->line, ob->col,
				 "\"%s\" is not a valid label", ob->labels[i]);
}

static bool check_strings_expr(struct checker *ck, const struct rule *r, struct obligation *ob,
			       const char *what)
{
	bool ok = true;
	for (uint32_t i = 0; i < ob->n_exprs; i++) {
		ob->exprs[i] = check_expr(ck, ob->exprs[i]);
		const struct node *e = ob->exprs[i];
		if (e->type == PT_ERROR) {
			ok = false;
		} else if (e->type != PT_STR && !(e->type == PT_LIST && (e->elem == PT_STR || e->elem == PT_ANY))) {
			error_at(ck, r->info.file, e->line, e->col, "%s takes strings, not a %s", what,
				 pol_type_name((enum ptype)e->type));
			ok = false;
		}
	}
	return ok;
}

/* A list of the vocabulary (obligations.def): strings; names of
 * [a-z0-9_] written as literals, unless the list holds participant ids
 * (notify "role:regulator", record.owner). */
static void check_list_obligation(struct checker *ck, const struct rule *r, struct obligation *ob)
{
	const struct tids_policy_ob_info *v = NULL;
	for (size_t i = 0; (v = tids_policy_ob_at(i)) != NULL; i++)
		if (v->list && v->index == ob->which)
			break;
	if (v == NULL || !check_strings_expr(ck, r, ob, v->word) || v->ids)
		return;
	for (uint32_t i = 0; i < ob->n_exprs; i++) {
		const struct node *e = ob->exprs[i];
		uint32_t n = e->op == N_LIST ? e->n_items : 1;
		for (uint32_t k = 0; k < n; k++) {
			const struct node *item = e->op == N_LIST ? e->items[k] : e;
			if (item->op != N_STR)
				error_at(ck, r->info.file, item->line, item->col,
					 "%s takes names written as strings, e.g. %s \"no_resale\"", v->word, v->word);
			else if (!tids_valid_name(item->s))
				error_at(ck, r->info.file, item->line, item->col,
					 "%s \"%s\" must be a name of [a-z0-9_]", v->word, item->s);
		}
	}
}

static void check_obligation(struct checker *ck, struct rule *r, struct obligation *ob)
{
	static const char *const agg_fns[] = { "sum", "count", "min", "max", "avg" };
	static const char *const agg_keys[] = { "asset", "site", "owner", "category", "origin",
						"schema" };
	switch (ob->kind) {
	case OB_REDACT:
	case OB_DROP:
	case OB_KEEP:
	case OB_DEMOTE:
		check_selector(ck, r, ob);
		r->has_field_obligations = true;
		break;
	case OB_AGGREGATE: {
		bool ok = false;
		for (size_t i = 0; i < 5; i++)
			ok |= strcmp(ob->text, agg_fns[i]) == 0;
		if (!ok)
			error_at(ck, r->info.file, ob->line, ob->col,
				 "unknown aggregate function '%s' (sum, count, min, max, avg)", ob->text);
		if (!tids_valid_field_name(ob->field))
			error_at(ck, r->info.file, ob->line, ob->col, "\"%s\" is not a valid field name",
				 ob->field);
		if (ob->ms < 0 || ob->months < 0 || (ob->ms == 0 && ob->months == 0))
			error_at(ck, r->info.file, ob->line, ob->col, "the aggregation window must be positive");
		else if (ob->ms > 0 && ob->months > 0)
			error_at(ck, r->info.file, ob->line, ob->col,
				 "a window is either months of the calendar (1mo, 1q, 1y) or a fixed length (1h, 1d), "
				 "not both");
		if (ob->n_by > TIDS_POLICY_LIST)
			error_at(ck, r->info.file, ob->line, ob->col, "at most %d grouping keys",
				 TIDS_POLICY_LIST);
		for (uint32_t i = 0; i < ob->n_by; i++) {
			ok = false;
			for (size_t k = 0; k < sizeof(agg_keys) / sizeof(agg_keys[0]); k++)
				ok |= strcmp(ob->by[i], agg_keys[k]) == 0;
			if (!ok)
				error_at(ck, r->info.file, ob->line, ob->col,
					 "cannot group by '%s' (asset, site, owner, category, origin, schema)",
					 ob->by[i]);
		}
		r->has_field_obligations = true;
		break;
	}
	case OB_COARSEN:
		check_selector(ck, r, ob);
		ob->expr = check_expr(ck, ob->expr);
		if (ob->expr->type != PT_STR && ob->expr->type != PT_ERROR)
			error_at(ck, r->info.file, ob->expr->line, ob->expr->col,
				 "coarsen(... to X) needs a string, not a %s",
				 pol_type_name((enum ptype)ob->expr->type));
		r->has_field_obligations = true;
		break;
	case OB_RETAIN:
	case OB_LOG:
		if (ob->ms < 0 || ob->months < 0 || (ob->ms == 0 && ob->months == 0))
			error_at(ck, r->info.file, ob->line, ob->col, "the duration must be positive");
		break;
	case OB_RETAIN_UNTIL:
		ob->expr = check_expr(ck, ob->expr);
		if (ob->expr->type != PT_TIME && ob->expr->type != PT_ERROR)
			error_at(ck, r->info.file, ob->expr->line, ob->expr->col,
				 "retain until needs a time, not a %s",
				 pol_type_name((enum ptype)ob->expr->type));
		break;
	case OB_ONLY_FOR:
		check_strings_expr(ck, r, ob, "only_for");
		break;
	case OB_LIST:
		check_list_obligation(ck, r, ob);
		break;
	case OB_COUNT: {
		static const enum ptype want[3] = { PT_STR, PT_INT, PT_INT };
		static const char *const what[3] = { "key", "period", "amount" };
		if (!tids_valid_name(ob->text))
			error_at(ck, r->info.file, ob->line, ob->col,
				 "counter \"%s\" must be a name of [a-z0-9_]", ob->text);
		for (uint32_t i = 0; i < ob->n_exprs && i < 3; i++) {
			ob->exprs[i] = check_expr(ck, ob->exprs[i]);
			const struct node *e = ob->exprs[i];
			if (e->type != want[i] && e->type != PT_ERROR)
				error_at(ck, r->info.file, e->line, e->col, "count's %s must be a %s, not a %s",
					 what[i], pol_type_name(want[i]), pol_type_name((enum ptype)e->type));
		}
		break;
	}
	case OB_FLAG:
		break;
	}
}

/* ---- rules ---- */

static void check_rule(struct checker *ck, struct rule *r)
{
	ck->rule = r;
	if (r->info.because[0] == '\0')
		error_at(ck, r->info.file, r->info.line, r->info.col,
			 "rule %s: the reason after `because` is empty", r->info.id);
	if (r->when != NULL) {
		r->when = check_expr(ck, r->when);
		if (r->when->type != PT_BOOL && r->when->type != PT_ERROR) {
			char d[128];
			error_at(ck, r->info.file, r->when->line, r->when->col,
				 "the condition of %s must be true or false, but it is %s", r->info.id,
				 describe(ck, r->when, d, sizeof(d)));
		}
	}
	r->demote_only = r->n_obs > 0;
	for (uint32_t i = 0; i < r->n_obs; i++) {
		check_obligation(ck, r, &r->obs[i]);
		if (r->obs[i].kind != OB_DEMOTE)
			r->demote_only = false;
	}
	if (r->uses_grant_attr && !r->calls_grant)
		error_at(ck, r->info.file, r->grant_attr_line, r->grant_attr_col,
			 "rule %s reads grant.* but never calls grant(), so there is no grant to read",
			 r->info.id);
	ck->rule = NULL;
}

static void check_rule_ids(struct checker *ck)
{
	struct program *prog = ck->prog;
	size_t cap = 16;
	while (cap < prog->n_rules * 2 + 2)
		cap *= 2;
	struct rule **t = calloc(cap, sizeof(*t));
	if (t == NULL) {
		prog->oom = true;
		return;
	}
	for (size_t i = 0; i < prog->n_rules; i++) {
		struct rule *r = prog->rules[i];
		uint64_t h = pol_hash(r->info.id, strlen(r->info.id));
		size_t k;
		for (k = (size_t)h & (cap - 1); t[k] != NULL; k = (k + 1) & (cap - 1)) {
			if (strcmp(t[k]->info.id, r->info.id) == 0) {
				error_at(ck, r->info.file, r->info.line, r->info.col,
					 "rule %s is already defined at %s:%u", r->info.id,
					 t[k]->info.file, t[k]->info.line);
				break;
			}
		}
		if (t[k] == NULL)
			t[k] = r;
	}
	free(t);
}

/* ---- tier floors ---- */

struct floor_at {
	const struct floor_decl *f;
	size_t i;                 /* declaration order */
};

static int by_category(const void *a, const void *b)
{
	const struct floor_at *x = a, *y = b;
	int c = strcmp(x->f->category, y->f->category);
	if (c != 0)
		return c;
	return (x->i > y->i) - (x->i < y->i);
}

static void check_floors(struct checker *ck)
{
	struct program *prog = ck->prog;
	for (size_t i = 0; i < prog->n_floors; i++) {
		const struct floor_decl *f = prog->floors[i];
		if (!tids_valid_name(f->category))
			error_at(ck, f->file, f->line, f->col,
				 "\"%s\" is not a valid category name ([a-z0-9_], 1 to 64)", f->category);
		else if (f->tier == TIDS_TIER_GENERAL)
			warn_at(ck, f->file, f->line, f->col,
				"a floor of general for \"%s\" changes nothing: every record has a tier of at "
				"least general", f->category);
	}
	if (prog->n_floors < 2)
		return;
	/* sorted by category, then declaration order: the first declared stands */
	struct floor_at *v = malloc(prog->n_floors * sizeof(*v));
	if (v == NULL) {
		prog->oom = true;
		return;
	}
	for (size_t i = 0; i < prog->n_floors; i++)
		v[i] = (struct floor_at){ prog->floors[i], i };
	qsort(v, prog->n_floors, sizeof(*v), by_category);
	for (size_t i = 1, first = 0; i < prog->n_floors; i++) {
		const struct floor_decl *f = v[i].f, *o = v[first].f;
		if (strcmp(f->category, o->category) != 0) {
			first = i;
			continue;
		}
		error_at(ck, f->file, f->line, f->col, "category \"%s\" already has a floor (%s) at %s:%u",
			 f->category, tids_tier_name(o->tier), o->file, o->line);
	}
	free(v);
}

/* ---- record schemas ---- */

static bool valid_unit(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return false;
	return true;
}

struct schema_at {
	const struct schema_decl *d;
	size_t i;                 /* declaration order */
};

static int by_schema_category(const void *a, const void *b)
{
	const struct schema_at *x = a, *y = b;
	int c = strcmp(x->d->category, y->d->category);
	return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

static void check_schemas(struct checker *ck)
{
	struct program *prog = ck->prog;
	for (size_t i = 0; i < prog->n_schemas; i++) {
		const struct schema_decl *d = prog->schemas[i];
		if (!tids_valid_name(d->category))
			error_at(ck, d->file, d->line, d->col,
				 "\"%s\" is not a valid category name ([a-z0-9_], 1 to 64)", d->category);
		/* the fields are shared by every category of one declaration:
		 * check them with its first */
		if (i > 0 && prog->schemas[i - 1]->fields == d->fields)
			continue;
		for (uint32_t k = 0; k < d->n_fields; k++) {
			const struct schema_field_decl *f = &d->fields[k];
			if (!tids_valid_field_name(f->name))
				error_at(ck, d->file, f->line, f->col,
					 "\"%s\" is not a valid field name ([A-Za-z0-9_.-], 1 to 64)", f->name);
			for (uint32_t j = 0; j < k; j++)
				if (strcmp(d->fields[j].name, f->name) == 0) {
					error_at(ck, d->file, f->line, f->col,
						 "field \"%s\" is already in this schema (line %u)", f->name,
						 d->fields[j].line);
					break;
				}
			if (f->unit != NULL && !valid_unit(f->unit))
				error_at(ck, d->file, f->line, f->col,
					 "the unit of \"%s\" is 1 to 32 printable bytes", f->name);
			if (f->n_labels > TIDS_LABELS_MAX)
				error_at(ck, d->file, f->line, f->col, "field \"%s\": at most %d labels", f->name,
					 TIDS_LABELS_MAX);
			for (uint32_t l = 0; l < f->n_labels; l++)
				if (!valid_label(f->labels[l]))
					error_at(ck, d->file, f->line, f->col, "\"%s\" is not a valid label",
						 f->labels[l]);
		}
	}
	if (prog->n_schemas < 2)
		return;
	struct schema_at *v = malloc(prog->n_schemas * sizeof(*v));
	if (v == NULL) {
		prog->oom = true;
		return;
	}
	for (size_t i = 0; i < prog->n_schemas; i++)
		v[i] = (struct schema_at){ prog->schemas[i], i };
	qsort(v, prog->n_schemas, sizeof(*v), by_schema_category);
	for (size_t i = 1, first = 0; i < prog->n_schemas; i++) {
		if (strcmp(v[i].d->category, v[first].d->category) != 0) {
			first = i;
			continue;
		}
		error_at(ck, v[i].d->file, v[i].d->line, v[i].d->col,
			 "category \"%s\" already has a schema at %s:%u; one schema per category",
			 v[i].d->category, v[first].d->file, v[first].d->line);
	}
	free(v);
}

/* ---- purposes: who may ask for what, and which purposes need a case ---- */

struct pair_at {
	const char *a, *b;        /* role and purpose, or purpose and role */
	size_t i;                 /* declaration order */
};

static int by_pair(const void *x, const void *y)
{
	const struct pair_at *p = x, *q = y;
	int c = strcmp(p->a, q->a);
	if (c == 0)
		c = strcmp(p->b != NULL ? p->b : "", q->b != NULL ? q->b : "");
	return c != 0 ? c : (p->i > q->i) - (p->i < q->i);
}

static bool same_place(const struct purpose_decl *a, const struct purpose_decl *b)
{
	return a->file == b->file && a->line == b->line && a->col == b->col;
}

/* By the first name, then declaration order: the first declared stands. */
static int by_first(const void *x, const void *y)
{
	const struct pair_at *p = x, *q = y;
	int c = strcmp(p->a, q->a);
	return c != 0 ? c : (p->i > q->i) - (p->i < q->i);
}

static bool role_may_ask_any(const struct program *prog, const char *purpose)
{
	for (size_t i = 0; i < prog->n_purposes; i++)
		if (prog->purposes[i]->purpose != NULL && strcmp(prog->purposes[i]->purpose, purpose) == 0)
			return true;
	return false;
}

static void check_purposes(struct checker *ck)
{
	struct program *prog = ck->prog;
	size_t n = prog->n_purposes > prog->n_cases ? prog->n_purposes : prog->n_cases;
	struct pair_at *v = malloc((n > 0 ? n : 1) * sizeof(*v));
	if (v == NULL) {
		prog->oom = true;
		return;
	}
	for (size_t i = 0; i < prog->n_purposes; i++) {
		const struct purpose_decl *d = prog->purposes[i];
		if (!tids_valid_name(d->role))
			error_at(ck, d->file, d->line, d->col,
				 "\"%s\" is not a valid role name ([a-z0-9_], 1 to 64)", d->role);
		if (d->purpose != NULL && !tids_valid_name(d->purpose))
			error_at(ck, d->file, d->purpose_line, d->purpose_col,
				 "\"%s\" is not a valid purpose name ([a-z0-9_], 1 to 64)", d->purpose);
		v[i] = (struct pair_at){ d->role, d->purpose, i };
	}
	/* One declaration per role: a role's purposes are read in one place
	 * (the first declaration stands; each later one is an error, once). */
	qsort(v, prog->n_purposes, sizeof(*v), by_first);
	for (size_t i = 1, first = 0; i < prog->n_purposes; i++) {
		const struct purpose_decl *d = prog->purposes[v[i].i], *o = prog->purposes[v[first].i];
		const struct purpose_decl *prev = prog->purposes[v[i - 1].i];
		if (strcmp(d->role, o->role) != 0) {
			first = i;
			continue;
		}
		if (same_place(d, o) || same_place(d, prev))
			continue;
		error_at(ck, d->file, d->line, d->col,
			 "role \"%s\" already has a purposes declaration at %s:%u; list all of its "
			 "purposes there", d->role, o->file, o->line);
	}
	/* Within one, a purpose listed twice is harmless but likely a slip. */
	qsort(v, prog->n_purposes, sizeof(*v), by_pair);
	for (size_t i = 1; i < prog->n_purposes; i++) {
		const struct purpose_decl *d = prog->purposes[v[i].i], *o = prog->purposes[v[i - 1].i];
		if (strcmp(d->role, o->role) == 0 && same_place(d, o) && d->purpose != NULL &&
		    o->purpose != NULL && strcmp(d->purpose, o->purpose) == 0)
			warn_at(ck, d->file, d->purpose_line, d->purpose_col,
				"purpose \"%s\" is listed twice for role \"%s\"", d->purpose, d->role);
	}
	for (size_t i = 0; i < prog->n_cases; i++) {
		const struct case_decl *c = prog->cases[i];
		if (!tids_valid_name(c->purpose))
			error_at(ck, c->file, c->line, c->col,
				 "\"%s\" is not a valid purpose name ([a-z0-9_], 1 to 64)", c->purpose);
		if (!tids_valid_name(c->role))
			error_at(ck, c->file, c->role_line, c->role_col,
				 "\"%s\" is not a valid role name ([a-z0-9_], 1 to 64)", c->role);
		v[i] = (struct pair_at){ c->purpose, c->role, i };
	}
	qsort(v, prog->n_cases, sizeof(*v), by_first);
	for (size_t i = 0; i < prog->n_cases; i++) {
		const struct case_decl *c = prog->cases[v[i].i];
		const struct case_decl *o = i > 0 ? prog->cases[v[i - 1].i] : NULL;
		if (o != NULL && strcmp(c->purpose, o->purpose) == 0 &&
		    (c->line != o->line || c->col != o->col || c->file != o->file)) {
			error_at(ck, c->file, c->line, c->col,
				 "purpose \"%s\" already needs a case at %s:%u; name every approving role there",
				 c->purpose, o->file, o->line);
			continue;
		}
		if ((o == NULL || strcmp(c->purpose, o->purpose) != 0) && tids_valid_name(c->purpose) &&
		    !role_may_ask_any(prog, c->purpose))
			warn_at(ck, c->file, c->line, c->col,
				"purpose \"%s\" needs a case, but no purposes declaration lets any role ask for it",
				c->purpose);
	}
	free(v);
	if (ck->purpose_allowed_file != NULL && prog->n_purposes == 0)
		warn_at(ck, ck->purpose_allowed_file, ck->purpose_allowed_line, ck->purpose_allowed_col,
			"purpose_allowed is false for every request: no `purposes role ... may [...]` "
			"declaration says who may ask for what");
}

int pol_check(struct checker *ck)
{
	struct program *prog = ck->prog;
	ck->n_scopes = 0;
	push_scope(ck, "<policy>", NULL);
	pol_check_schema(ck);
	if (build_let_table(ck) != 0)
		return TIDS_ENOMEM;
	check_rule_ids(ck);
	check_floors(ck);
	check_schemas(ck);
	for (size_t i = 0; i < prog->n_rules && !prog->oom; i++) {
		ck->scope_file[0] = prog->rules[i]->info.file;
		check_rule(ck, prog->rules[i]);
	}
	/* Definitions no rule uses still have to be right. */
	for (size_t i = 0; i < prog->n_lets && !prog->oom; i++) {
		struct let_def *l = prog->lets[i];
		if (l->state == 0 && find_let(ck, l->name) == l) {
			push_scope(ck, l->file, l);
			l->state = 1;
			l->expr = check_expr(ck, l->expr);
			l->state = 2;
			ck->n_scopes--;
		}
	}
	check_purposes(ck);
	if (ck->errors == 0 && !ck->syntax_errors) {
		for (size_t i = 0; i < prog->n_lets; i++)
			if (!prog->lets[i]->used)
				warn_at(ck, prog->lets[i]->file, prog->lets[i]->line, prog->lets[i]->col,
					"'%s' is defined but never used", prog->lets[i]->name);
		for (size_t i = 0; i < prog->n_attrs; i++)
			if (!prog->attrs[i]->used)
				warn_at(ck, prog->attrs[i]->file, prog->attrs[i]->line, prog->attrs[i]->col,
					"attribute %s.%s is declared but no rule reads it",
					prog->attrs[i]->entity == ENT_ASSET ? "asset" : "participant",
					prog->attrs[i]->name);
	}
	free(ck->let_table);
	ck->let_table = NULL;
	if (prog->oom)
		return TIDS_ENOMEM;
	return ck->errors > 0 ? TIDS_EPOLICY : 0;
}
