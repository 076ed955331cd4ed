/*
 * Recursive-descent parser for *.tidspol into the syntax tree of
 * internal.h. Names stay unresolved (the checker resolves them); after an
 * error the parser skips to the next `;` so one file reports every broken
 * declaration, each with its line and column.
 *
 *   file       = { rule | let | attribute }
 *   rule       = ("permit" | "forbid" | "oblige") NAME ["when" expr]
 *                ["with" obligation {"," obligation}] "because" STRING ";"
 *   let        = "let" NAME "=" expr ";"
 *   attribute  = "attribute" ("participant" | "asset") "." NAME ":" type ["=" literal] ";"
 *   floor      = "floor" "category" (STRING | "[" STRING {"," STRING} "]") "=" TIER ";"
 *   purposes   = "purposes" "role" strings "may" (strings | "[" "]") ";"
 *   case       = "purpose" strings "needs" "case" "by" "role" strings ";"
 *   schema     = "schema" "category" strings "fields" "[" [sfield {"," sfield} [","]] "]" ";"
 *   sfield     = STRING ":" ("int"|"uint"|"real"|"bool"|"text"|"blob")
 *                {"unit" STRING | "labels" strings | "optional"}
 *   strings    = STRING | "[" STRING {"," STRING} "]"
 *   expr       = and {("||" | "or") and}
 *   and        = not {("&&" | "and") not}
 *   not        = ("!" | "not") not | compare
 *   compare    = sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") sum]
 *   sum        = unary {("+" | "-") unary}
 *   unary      = "-" unary | primary
 *   primary    = INT | STRING | DURATION | TIME | "true" | "false" | "(" expr ")"
 *              | "[" [expr {"," expr}] "]" | NAME {"." NAME} | NAME "(" [arg {"," arg}] ")"
 *   arg        = [NAME ":"] expr
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

struct parser {
	struct lexer lx;
	struct token cur;
	struct token ahead;
	bool have_ahead;
	struct program *prog;
	struct tids_policy_diags *diags;
	const char *file;
	unsigned depth;
	size_t errors;
};

static const char *const keywords[] = {
	"permit", "forbid", "oblige", "when", "with", "because", "let", "attribute",
	"in", "not", "and", "or", "true", "false",
};

static bool is_keyword(const char *s)
{
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(s, keywords[i]) == 0)
			return true;
	return false;
}

static void next(struct parser *p)
{
	if (p->have_ahead) {
		p->cur = p->ahead;
		p->have_ahead = false;
	} else {
		pol_lex_next(&p->lx, &p->cur);
	}
	if (p->cur.kind == TOK_ERROR)
		p->errors++;
}

static const struct token *peek(struct parser *p)
{
	if (!p->have_ahead) {
		pol_lex_next(&p->lx, &p->ahead);
		p->have_ahead = true;
	}
	return &p->ahead;
}

static bool at_word(const struct parser *p, const char *w)
{
	return p->cur.kind == TOK_IDENT && strcmp(p->cur.str, w) == 0;
}

static void error_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void error_at(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pol_vdiag(p->diags, TIDS_POLICY_ERROR, p->file, line, col, fmt, ap);
	va_end(ap);
	p->errors++;
}

/* What the current token is, quoted, for "expected X, found Y". */
static const char *found(const struct parser *p, char *buf, size_t len)
{
	const struct token *t = &p->cur;
	switch (t->kind) {
	case TOK_IDENT:
		snprintf(buf, len, "'%s'", t->str);
		break;
	case TOK_STRING:
	case TOK_INT:
	case TOK_DURATION:
	case TOK_TIME:
		snprintf(buf, len, "%s %.*s", pol_tok_name(t->kind), t->len > 40 ? 40 : (int)t->len,
			 t->start);
		break;
	default:
		snprintf(buf, len, "%s", pol_tok_name(t->kind));
	}
	return buf;
}

static void expected(struct parser *p, const char *what)
{
	char buf[96];
	if (p->cur.kind == TOK_ERROR)
		return;       /* the lexer has said what is wrong */
	error_at(p, p->cur.line, p->cur.col, "expected %s, found %s", what, found(p, buf, sizeof(buf)));
}

static bool accept(struct parser *p, enum tok k)
{
	if (p->cur.kind != k)
		return false;
	next(p);
	return true;
}

static bool expect_tok(struct parser *p, enum tok k, const char *what)
{
	if (accept(p, k))
		return true;
	expected(p, what);
	return false;
}

static struct node *new_node(struct parser *p, enum node_op op, unsigned line, unsigned col)
{
	struct node *n = pol_arena_alloc(p->prog->arena, sizeof(*n));
	if (n == NULL) {
		p->prog->oom = true;
		return NULL;
	}
	n->op = (uint8_t)op;
	n->line = line;
	n->col = col;
	return n;
}

/* Growable array of pointers in the arena (old storage is abandoned). */
static bool push_ptr(struct parser *p, void ***arr, uint32_t *n, uint32_t *cap, void *item)
{
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 4;
		void **na = pol_arena_alloc(p->prog->arena, ncap * sizeof(void *));
		if (na == NULL) {
			p->prog->oom = true;
			return false;
		}
		if (*n)
			memcpy(na, *arr, *n * sizeof(void *));
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = item;
	return true;
}

static struct node *parse_expr(struct parser *p);

static struct node *parse_list(struct parser *p)
{
	struct node *n = new_node(p, N_LIST, p->cur.line, p->cur.col);
	if (n == NULL)
		return NULL;
	next(p);      /* [ */
	uint32_t cap = 0;
	if (accept(p, TOK_RBRACK))
		return n;
	for (;;) {
		if (n->n_items >= POL_LIST_MAX) {
			error_at(p, p->cur.line, p->cur.col, "list has more than %d items", POL_LIST_MAX);
			return NULL;
		}
		struct node *item = parse_expr(p);
		if (item == NULL)
			return NULL;
		if (!push_ptr(p, (void ***)&n->items, &n->n_items, &cap, item))
			return NULL;
		if (accept(p, TOK_RBRACK))
			return n;
		if (!accept(p, TOK_COMMA)) {
			expected(p, "`,` or `]` in the list");
			return NULL;
		}
		if (accept(p, TOK_RBRACK))      /* trailing comma */
			return n;
	}
}

static struct node *parse_call(struct parser *p, const struct token *name)
{
	struct node *n = new_node(p, N_CALL, name->line, name->col);
	if (n == NULL)
		return NULL;
	n->s = name->str;
	n->len = (uint32_t)name->str_len;
	next(p);      /* ( */
	uint32_t cap = 0, ncap = 0, nn = 0;
	if (accept(p, TOK_RPAREN))
		return n;
	for (;;) {
		const char *arg_name = NULL;
		if (p->cur.kind == TOK_IDENT && peek(p)->kind == TOK_COLON) {
			arg_name = p->cur.str;
			next(p);
			next(p);
		}
		struct node *arg = parse_expr(p);
		if (arg == NULL)
			return NULL;
		if (!push_ptr(p, (void ***)&n->items, &n->n_items, &cap, arg) ||
		    !push_ptr(p, (void ***)&n->arg_names, &nn, &ncap, (void *)(uintptr_t)arg_name))
			return NULL;
		if (n->n_items > 32) {
			error_at(p, arg->line, arg->col, "too many arguments");
			return NULL;
		}
		if (accept(p, TOK_RPAREN))
			return n;
		if (!accept(p, TOK_COMMA)) {
			expected(p, "`,` or `)` after the argument");
			return NULL;
		}
	}
}

static struct node *parse_primary(struct parser *p)
{
	struct token t = p->cur;
	struct node *n;
	switch (t.kind) {
	case TOK_INT:
	case TOK_DURATION:
	case TOK_TIME:
		n = new_node(p, t.kind == TOK_INT ? N_INT : t.kind == TOK_DURATION ? N_DUR : N_TIME,
			     t.line, t.col);
		if (n != NULL) {
			n->i = t.num;
			if (t.kind == TOK_DURATION) {
				n->months = t.months;
				n->calendar = t.months != 0;
			}
			if (t.kind == TOK_TIME && t.date)
				n->fn = POL_TIME_DATE;
		}
		next(p);
		return n;
	case TOK_STRING:
		n = new_node(p, N_STR, t.line, t.col);
		if (n != NULL) {
			n->s = t.str;
			n->len = (uint32_t)t.str_len;
		}
		next(p);
		return n;
	case TOK_LPAREN: {
		next(p);
		struct node *e = parse_expr(p);
		if (e == NULL)
			return NULL;
		if (!expect_tok(p, TOK_RPAREN, "`)`"))
			return NULL;
		return e;
	}
	case TOK_LBRACK:
		return parse_list(p);
	case TOK_IDENT:
		break;
	default:
		expected(p, "a value, a name or `(`");
		return NULL;
	}
	if (strcmp(t.str, "true") == 0 || strcmp(t.str, "false") == 0) {
		n = new_node(p, N_BOOL, t.line, t.col);
		if (n != NULL)
			n->i = t.str[0] == 't';
		next(p);
		return n;
	}
	if (is_keyword(t.str)) {
		error_at(p, t.line, t.col, "expected a value, found the keyword '%s'", t.str);
		return NULL;
	}
	next(p);
	if (p->cur.kind == TOK_LPAREN)
		return parse_call(p, &t);
	if (p->cur.kind != TOK_DOT) {
		n = new_node(p, N_NAME, t.line, t.col);
		if (n != NULL) {
			n->s = t.str;
			n->len = (uint32_t)t.str_len;
		}
		return n;
	}
	/* A dotted path: keep its text, the checker resolves it. */
	char path[POL_IDENT_MAX * 4 + 4];
	size_t len = t.str_len;
	memcpy(path, t.str, len);
	while (accept(p, TOK_DOT)) {
		if (p->cur.kind != TOK_IDENT) {
			expected(p, "an attribute name after `.`");
			return NULL;
		}
		if (len + 1 + p->cur.str_len >= sizeof(path)) {
			error_at(p, t.line, t.col, "attribute path is too long");
			return NULL;
		}
		path[len++] = '.';
		memcpy(path + len, p->cur.str, p->cur.str_len);
		len += p->cur.str_len;
		next(p);
	}
	n = new_node(p, N_PATH, t.line, t.col);
	if (n == NULL)
		return NULL;
	n->s = pol_arena_strndup(p->prog->arena, path, len);
	n->len = (uint32_t)len;
	if (n->s == NULL)
		p->prog->oom = true;
	return n;
}

static bool enter(struct parser *p)
{
	if (++p->depth > POL_DEPTH_MAX) {
		error_at(p, p->cur.line, p->cur.col, "expression is nested more than %d deep",
			 POL_DEPTH_MAX);
		return false;
	}
	return true;
}

static struct node *unary_node(struct parser *p, enum node_op op, const struct token *t,
			       struct node *operand)
{
	if (operand == NULL)
		return NULL;
	struct node *n = new_node(p, op, t->line, t->col);
	if (n != NULL)
		n->a = operand;
	return n;
}

static struct node *binary_node(struct parser *p, enum node_op op, unsigned line, unsigned col,
				struct node *a, struct node *b)
{
	if (a == NULL || b == NULL)
		return NULL;
	struct node *n = new_node(p, op, line, col);
	if (n != NULL) {
		n->a = a;
		n->b = b;
	}
	return n;
}

static struct node *parse_unary(struct parser *p)
{
	if (p->cur.kind == TOK_MINUS) {
		struct token t = p->cur;
		next(p);
		if (!enter(p))
			return NULL;
		struct node *n = unary_node(p, N_NEG, &t, parse_unary(p));
		p->depth--;
		return n;
	}
	return parse_primary(p);
}

static struct node *parse_sum(struct parser *p)
{
	struct node *n = parse_unary(p);
	while (n != NULL && (p->cur.kind == TOK_PLUS || p->cur.kind == TOK_MINUS)) {
		struct token t = p->cur;
		next(p);
		n = binary_node(p, t.kind == TOK_PLUS ? N_ADD : N_SUB, t.line, t.col, n, parse_unary(p));
	}
	return n;
}

static struct node *parse_compare(struct parser *p)
{
	struct node *n = parse_sum(p);
	if (n == NULL)
		return NULL;
	struct token t = p->cur;
	enum node_op op;
	switch (t.kind) {
	case TOK_EQ: op = N_EQ; break;
	case TOK_NE: op = N_NE; break;
	case TOK_LT: op = N_LT; break;
	case TOK_LE: op = N_LE; break;
	case TOK_GT: op = N_GT; break;
	case TOK_GE: op = N_GE; break;
	case TOK_ASSIGN:
		error_at(p, t.line, t.col, "`=` assigns; compare with `==`");
		return NULL;
	case TOK_IDENT:
		if (strcmp(t.str, "in") == 0) {
			op = N_IN;
			break;
		}
		if (strcmp(t.str, "not") == 0 && peek(p)->kind == TOK_IDENT &&
		    strcmp(peek(p)->str, "in") == 0) {
			next(p);
			op = N_NOT_IN;
			break;
		}
		return n;
	default:
		return n;
	}
	next(p);
	n = binary_node(p, op, t.line, t.col, n, parse_sum(p));
	if (n != NULL) {
		enum tok k = p->cur.kind;
		if (k == TOK_EQ || k == TOK_NE || k == TOK_LT || k == TOK_LE || k == TOK_GT || k == TOK_GE) {
			error_at(p, p->cur.line, p->cur.col,
				 "comparisons do not chain; join them with `&&`");
			return NULL;
		}
	}
	return n;
}

static struct node *parse_not(struct parser *p)
{
	if (p->cur.kind == TOK_NOT || (at_word(p, "not") && !(peek(p)->kind == TOK_IDENT &&
							    strcmp(peek(p)->str, "in") == 0))) {
		struct token t = p->cur;
		next(p);
		if (!enter(p))
			return NULL;
		struct node *n = unary_node(p, N_NOT, &t, parse_not(p));
		p->depth--;
		return n;
	}
	return parse_compare(p);
}

static struct node *parse_and(struct parser *p)
{
	struct node *n = parse_not(p);
	while (n != NULL && (p->cur.kind == TOK_AND || at_word(p, "and"))) {
		struct token t = p->cur;
		next(p);
		n = binary_node(p, N_AND, t.line, t.col, n, parse_not(p));
	}
	return n;
}

static struct node *parse_expr(struct parser *p)
{
	if (!enter(p))
		return NULL;
	struct node *n = parse_and(p);
	while (n != NULL && (p->cur.kind == TOK_OR || at_word(p, "or"))) {
		struct token t = p->cur;
		next(p);
		n = binary_node(p, N_OR, t.line, t.col, n, parse_and(p));
	}
	p->depth--;
	return n;
}

/* ---- obligations ---- */

/* One string, or a bracketed list of strings. */
static bool parse_strings(struct parser *p, const char ***out, uint32_t *n, const char *what)
{
	uint32_t cap = 0;
	char buf[96];
	if (p->cur.kind == TOK_STRING) {
		bool ok = push_ptr(p, (void ***)out, n, &cap, (void *)(uintptr_t)p->cur.str);
		next(p);
		return ok;
	}
	if (!accept(p, TOK_LBRACK)) {
		snprintf(buf, sizeof(buf), "%s as a string or a [list] of strings", what);
		expected(p, buf);
		return false;
	}
	for (;;) {
		if (p->cur.kind != TOK_STRING) {
			snprintf(buf, sizeof(buf), "%s as a string", what);
			expected(p, buf);
			return false;
		}
		if (!push_ptr(p, (void ***)out, n, &cap, (void *)(uintptr_t)p->cur.str))
			return false;
		next(p);
		if (accept(p, TOK_RBRACK))
			return true;
		if (!expect_tok(p, TOK_COMMA, "`,` or `]`"))
			return false;
		/* a trailing comma, as list literals allow: one name a line */
		if (accept(p, TOK_RBRACK))
			return true;
	}
}

/* field "a" | field ["a", "b"] | label "x" ... repeated. */
static bool parse_selector(struct parser *p, struct obligation *ob)
{
	bool any = false;
	while (at_word(p, "field") || at_word(p, "label")) {
		bool field = at_word(p, "field");
		next(p);
		if (field ? !parse_strings(p, &ob->names, &ob->n_names, "a field name")
			  : !parse_strings(p, &ob->labels, &ob->n_labels, "a label"))
			return false;
		any = true;
	}
	if (!any) {
		expected(p, "`field` or `label` and what to select");
		return false;
	}
	return true;
}

/* An expression or a [list] of them, e.g. notify "reg.sh" / only_for [purpose]. */
static bool parse_expr_list(struct parser *p, struct obligation *ob)
{
	uint32_t cap = 0;
	if (!accept(p, TOK_LBRACK)) {
		struct node *e = parse_expr(p);
		return e != NULL && push_ptr(p, (void ***)&ob->exprs, &ob->n_exprs, &cap, e);
	}
	if (accept(p, TOK_RBRACK))
		return true;
	for (;;) {
		struct node *e = parse_expr(p);
		if (e == NULL || !push_ptr(p, (void ***)&ob->exprs, &ob->n_exprs, &cap, e))
			return false;
		if (accept(p, TOK_RBRACK))
			return true;
		if (!expect_tok(p, TOK_COMMA, "`,` or `]`"))
			return false;
	}
}

static bool expect_word(struct parser *p, const char *w)
{
	if (at_word(p, w)) {
		next(p);
		return true;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "`%s`", w);
	expected(p, buf);
	return false;
}

/* aggregate(sum, field "count", every 1h, by [asset, site]) */
static bool parse_aggregate(struct parser *p, struct obligation *ob)
{
	if (!expect_tok(p, TOK_LPAREN, "`(` after aggregate"))
		return false;
	if (p->cur.kind != TOK_IDENT) {
		expected(p, "an aggregate function (sum, count, min, max or avg)");
		return false;
	}
	ob->text = p->cur.str;
	next(p);
	if (!expect_tok(p, TOK_COMMA, "`,` after the function"))
		return false;
	if (at_word(p, "field"))
		next(p);
	if (p->cur.kind != TOK_STRING) {
		expected(p, "the aggregated field's name as a string");
		return false;
	}
	ob->field = p->cur.str;
	next(p);
	if (!expect_tok(p, TOK_COMMA, "`,` and `every` with the window"))
		return false;
	if (!expect_word(p, "every"))
		return false;
	if (p->cur.kind != TOK_DURATION) {
		expected(p, "the window as a duration, e.g. 1h or 1mo");
		return false;
	}
	ob->ms = p->cur.num;
	ob->months = p->cur.months;
	next(p);
	if (accept(p, TOK_COMMA)) {
		if (!expect_word(p, "by"))
			return false;
		uint32_t cap = 0;
		bool bracket = accept(p, TOK_LBRACK);
		for (;;) {
			if (p->cur.kind != TOK_IDENT) {
				expected(p, "a grouping key such as asset or site");
				return false;
			}
			if (!push_ptr(p, (void ***)&ob->by, &ob->n_by, &cap, (void *)(uintptr_t)p->cur.str))
				return false;
			next(p);
			if (!bracket || accept(p, TOK_RBRACK))
				break;
			if (!expect_tok(p, TOK_COMMA, "`,` or `]`"))
				return false;
		}
	}
	return expect_tok(p, TOK_RPAREN, "`)` to close aggregate");
}

static bool parse_obligation(struct parser *p, struct obligation *ob)
{
	ob->line = p->cur.line;
	ob->col = p->cur.col;
	if (p->cur.kind != TOK_IDENT) {
		expected(p, "an obligation");
		return false;
	}
	/* the obligations with syntax of their own; the rest are the
	 * vocabulary's flags and lists (obligations.def) */
	static const struct {
		const char *word;
		enum ob_kind kind;
	} words[] = {
		{ "redact", OB_REDACT }, { "drop", OB_DROP }, { "keep", OB_KEEP },
		{ "demote", OB_DEMOTE }, { "aggregate", OB_AGGREGATE }, { "coarsen", OB_COARSEN },
		{ "retain", OB_RETAIN }, { "log", OB_LOG }, { "only_for", OB_ONLY_FOR },
		{ "count", OB_COUNT },
	};
	size_t w;
	for (w = 0; w < sizeof(words) / sizeof(words[0]); w++)
		if (strcmp(p->cur.str, words[w].word) == 0)
			break;
	if (w < sizeof(words) / sizeof(words[0])) {
		ob->kind = words[w].kind;
	} else {
		const struct tids_policy_ob_info *v = tids_policy_ob_find(p->cur.str);
		if (v == NULL || strcmp(v->word, p->cur.str) != 0) {
			error_at(p, p->cur.line, p->cur.col,
				 "unknown obligation '%s' (redact, drop, keep, demote, aggregate, coarsen, "
				 "retain, log, only_for, count, %s)", p->cur.str, pol_ob_words());
			return false;
		}
		ob->kind = v->list ? OB_LIST : OB_FLAG;
		ob->which = (uint8_t)v->index;
	}
	next(p);
	switch (ob->kind) {
	case OB_REDACT:
	case OB_DROP:
	case OB_KEEP:
	case OB_DEMOTE:
		return parse_selector(p, ob);
	case OB_AGGREGATE:
		return parse_aggregate(p, ob);
	case OB_COARSEN:
		if (!expect_tok(p, TOK_LPAREN, "`(` after coarsen") || !parse_selector(p, ob) ||
		    !expect_tok(p, TOK_COMMA, "`,` and `to` with the coarse value") ||
		    !expect_word(p, "to"))
			return false;
		ob->expr = parse_expr(p);
		return ob->expr != NULL && expect_tok(p, TOK_RPAREN, "`)` to close coarsen");
	case OB_RETAIN:
		if (at_word(p, "until")) {
			next(p);
			ob->kind = OB_RETAIN_UNTIL;
			ob->expr = parse_expr(p);
			return ob->expr != NULL;
		}
		/* fall through */
	case OB_LOG:
		if (p->cur.kind != TOK_DURATION) {
			expected(p, ob->kind == OB_LOG ? "how long to keep the audit entry, e.g. 3y"
						       : "a duration (retain 30d) or `until` and a time");
			return false;
		}
		ob->ms = p->cur.num;
		ob->months = p->cur.months;
		next(p);
		return true;
	case OB_LIST:
	case OB_ONLY_FOR:
		return parse_expr_list(p, ob);
	case OB_COUNT: {
		/* count("counter", key, period, amount) */
		if (!expect_tok(p, TOK_LPAREN, "`(` after count"))
			return false;
		if (p->cur.kind != TOK_STRING) {
			expected(p, "the counter's name as a string");
			return false;
		}
		ob->text = p->cur.str;
		next(p);
		uint32_t cap = 0;
		for (int k = 0; k < 3; k++) {
			if (!expect_tok(p, TOK_COMMA, k == 0 ? "`,` and the counter's key"
						   : k == 1 ? "`,` and the period" : "`,` and the amount"))
				return false;
			struct node *e = parse_expr(p);
			if (e == NULL || !push_ptr(p, (void ***)&ob->exprs, &ob->n_exprs, &cap, e))
				return false;
		}
		return expect_tok(p, TOK_RPAREN, "`)` to close count");
	}
	case OB_FLAG:
	case OB_RETAIN_UNTIL:
		return true;
	}
	return true;
}

/* ---- declarations ---- */

static bool grow(struct parser *p, void ***arr, size_t *n, size_t *cap, void *item)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		void **na = realloc(*arr, ncap * sizeof(void *));
		if (na == NULL) {
			p->prog->oom = true;
			return false;
		}
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = item;
	return true;
}

static bool parse_name(struct parser *p, const char *what, const char **out)
{
	if (p->cur.kind != TOK_IDENT) {
		expected(p, what);
		return false;
	}
	if (is_keyword(p->cur.str)) {
		error_at(p, p->cur.line, p->cur.col, "'%s' is a keyword and cannot be %s",
			 p->cur.str, what);
		return false;
	}
	*out = p->cur.str;
	next(p);
	return true;
}

static bool parse_rule(struct parser *p)
{
	struct rule *r = pol_arena_alloc(p->prog->arena, sizeof(*r));
	if (r == NULL) {
		p->prog->oom = true;
		return false;
	}
	r->info.kind = at_word(p, "permit") ? TIDS_POLICY_PERMIT
		     : at_word(p, "forbid") ? TIDS_POLICY_FORBID : TIDS_POLICY_OBLIGE;
	r->info.file = p->file;
	r->info.line = p->cur.line;
	r->info.col = p->cur.col;
	next(p);
	if (!parse_name(p, "the rule's name", &r->info.id))
		return false;
	if (at_word(p, "when")) {
		next(p);
		r->when = parse_expr(p);
		if (r->when == NULL)
			return false;
	}
	if (at_word(p, "with")) {
		unsigned wl = p->cur.line, wc = p->cur.col;
		next(p);
		uint32_t cap = 0;
		struct obligation **obs = NULL;
		do {
			struct obligation *ob = pol_arena_alloc(p->prog->arena, sizeof(*ob));
			if (ob == NULL) {
				p->prog->oom = true;
				return false;
			}
			if (!parse_obligation(p, ob))
				return false;
			if (r->n_obs >= POL_OBLIGATIONS_MAX) {
				error_at(p, ob->line, ob->col, "more than %d obligations in one rule",
					 POL_OBLIGATIONS_MAX);
				return false;
			}
			if (!push_ptr(p, (void ***)&obs, &r->n_obs, &cap, ob))
				return false;
		} while (accept(p, TOK_COMMA));
		struct obligation *flat = pol_arena_alloc(p->prog->arena, r->n_obs * sizeof(*flat));
		if (flat == NULL) {
			p->prog->oom = true;
			return false;
		}
		for (uint32_t i = 0; i < r->n_obs; i++)
			flat[i] = *obs[i];
		r->obs = flat;
		if (r->info.kind == TIDS_POLICY_FORBID) {
			error_at(p, wl, wc, "a forbid cannot carry obligations: nothing is delivered");
			return false;
		}
	}
	if (!at_word(p, "because")) {
		if (p->cur.kind == TOK_IDENT && !is_keyword(p->cur.str) && r->when == NULL &&
		    r->n_obs == 0)
			expected(p, "`when`, `with` or `because`");
		else
			expected(p, r->n_obs ? "`,` and another obligation, or `because` and the reason"
					     : "an operator, `with`, or `because` and the rule's reason");
		return false;
	}
	next(p);
	if (p->cur.kind != TOK_STRING) {
		expected(p, "the reason as a string after `because`");
		return false;
	}
	r->info.because = p->cur.str;
	next(p);
	if (!expect_tok(p, TOK_SEMI, "`;` to end the rule"))
		return false;
	return grow(p, (void ***)&p->prog->rules, &p->prog->n_rules, &p->prog->cap_rules, r);
}

static bool parse_let(struct parser *p)
{
	struct let_def *l = pol_arena_alloc(p->prog->arena, sizeof(*l));
	if (l == NULL) {
		p->prog->oom = true;
		return false;
	}
	l->file = p->file;
	next(p);
	l->line = p->cur.line;
	l->col = p->cur.col;
	if (!parse_name(p, "the name being defined", &l->name))
		return false;
	if (!expect_tok(p, TOK_ASSIGN, "`=` after the name"))
		return false;
	l->expr = parse_expr(p);
	if (l->expr == NULL)
		return false;
	if (!expect_tok(p, TOK_SEMI, "`;` to end the definition"))
		return false;
	return grow(p, (void ***)&p->prog->lets, &p->prog->n_lets, &p->prog->cap_lets, l);
}

static bool parse_attribute(struct parser *p)
{
	struct attr_decl *d = pol_arena_alloc(p->prog->arena, sizeof(*d));
	if (d == NULL) {
		p->prog->oom = true;
		return false;
	}
	d->file = p->file;
	next(p);
	d->line = p->cur.line;
	d->col = p->cur.col;
	if (at_word(p, "participant")) {
		d->entity = ENT_PARTICIPANT;
	} else if (at_word(p, "asset")) {
		d->entity = ENT_ASSET;
	} else {
		expected(p, "`participant` or `asset` (the entity that carries the attribute)");
		return false;
	}
	next(p);
	if (!expect_tok(p, TOK_DOT, "`.` and the attribute's name"))
		return false;
	if (!parse_name(p, "the attribute's name", &d->name))
		return false;
	if (!expect_tok(p, TOK_COLON, "`:` and the attribute's type"))
		return false;
	static const struct {
		const char *name;
		enum ptype type;
	} types[] = {
		{ "bool", PT_BOOL }, { "int", PT_INT }, { "string", PT_STR }, { "time", PT_TIME },
		{ "duration", PT_DUR }, { "tier", PT_TIER },
	};
	size_t i;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (at_word(p, types[i].name))
			break;
	if (i == sizeof(types) / sizeof(types[0])) {
		expected(p, "a type: bool, int, string, time, duration or tier");
		return false;
	}
	d->type = types[i].type;
	next(p);
	if (accept(p, TOK_ASSIGN)) {
		d->deflt = parse_unary(p);
		if (d->deflt == NULL)
			return false;
	}
	if (!expect_tok(p, TOK_SEMI, "`;` to end the declaration"))
		return false;
	return grow(p, (void ***)&p->prog->attrs, &p->prog->n_attrs, &p->prog->cap_attrs, d);
}

/* floor category "recipe" = important;  (or a [list] of categories) */
static bool parse_floor(struct parser *p)
{
	next(p);
	if (!expect_word(p, "category"))
		return false;
	const char **cats = NULL;
	uint32_t n = 0;
	/* positions of the names, for diagnostics about each */
	unsigned cat_line = p->cur.line, cat_col = p->cur.col;
	if (!parse_strings(p, &cats, &n, "a category"))
		return false;
	if (n == 0) {
		error_at(p, cat_line, cat_col, "a floor names at least one category");
		return false;
	}
	if (!expect_tok(p, TOK_ASSIGN, "`=` and the lowest tier the category may carry"))
		return false;
	if (p->cur.kind != TOK_IDENT) {
		expected(p, "a tier: general, important or core");
		return false;
	}
	enum tids_tier tier = tids_tier_parse(p->cur.str);
	if (tier == TIDS_TIER_UNSET) {
		error_at(p, p->cur.line, p->cur.col,
			 "unknown tier '%s' (general, important or core)", p->cur.str);
		return false;
	}
	next(p);
	if (!expect_tok(p, TOK_SEMI, "`;` to end the floor"))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		struct floor_decl *f = pol_arena_alloc(p->prog->arena, sizeof(*f));
		if (f == NULL) {
			p->prog->oom = true;
			return false;
		}
		*f = (struct floor_decl){ .category = cats[i], .tier = tier, .file = p->file,
					  .line = cat_line, .col = cat_col };
		if (!grow(p, (void ***)&p->prog->floors, &p->prog->n_floors, &p->prog->cap_floors, f))
			return false;
	}
	return true;
}

/* purposes role "lessor" may ["billing", "maintenance"];  (roles may be a
 * [list]; `may []` declares that the roles may ask for nothing) */
static bool parse_purposes(struct parser *p)
{
	const char **roles = NULL, **purposes = NULL;
	uint32_t n_roles = 0, n_purposes = 0;
	next(p);
	if (!expect_word(p, "role"))
		return false;
	unsigned role_line = p->cur.line, role_col = p->cur.col;
	if (!parse_strings(p, &roles, &n_roles, "a role"))
		return false;
	if (!expect_word(p, "may"))
		return false;
	unsigned list_line = p->cur.line, list_col = p->cur.col;
	if (p->cur.kind == TOK_LBRACK) {
		/* `[]`: the roles may ask for no purpose at all */
		struct token open = p->cur;
		next(p);
		if (!accept(p, TOK_RBRACK)) {
			p->ahead = p->cur;
			p->have_ahead = true;
			p->cur = open;
			if (!parse_strings(p, &purposes, &n_purposes, "a purpose"))
				return false;
		}
	} else if (!parse_strings(p, &purposes, &n_purposes, "a purpose")) {
		return false;
	}
	if (!expect_tok(p, TOK_SEMI, "`;` to end the purposes declaration"))
		return false;
	if (n_roles == 0) {
		error_at(p, role_line, role_col, "a purposes declaration names at least one role");
		return false;
	}
	for (uint32_t r = 0; r < n_roles; r++) {
		for (uint32_t i = 0; i < (n_purposes > 0 ? n_purposes : 1); i++) {
			struct purpose_decl *d = pol_arena_alloc(p->prog->arena, sizeof(*d));
			if (d == NULL) {
				p->prog->oom = true;
				return false;
			}
			*d = (struct purpose_decl){ .role = roles[r], .purpose = n_purposes > 0 ? purposes[i] : NULL,
						    .file = p->file, .line = role_line, .col = role_col,
						    .purpose_line = list_line, .purpose_col = list_col };
			if (!grow(p, (void ***)&p->prog->purposes, &p->prog->n_purposes,
				  &p->prog->cap_purposes, d))
				return false;
		}
	}
	return true;
}

/* purpose "legal_request" needs case by role "regulator"; */
static bool parse_case(struct parser *p)
{
	const char **purposes = NULL, **roles = NULL;
	uint32_t n_purposes = 0, n_roles = 0;
	next(p);
	unsigned line = p->cur.line, col = p->cur.col;
	if (!parse_strings(p, &purposes, &n_purposes, "a purpose"))
		return false;
	if (!expect_word(p, "needs") || !expect_word(p, "case") || !expect_word(p, "by") ||
	    !expect_word(p, "role"))
		return false;
	unsigned role_line = p->cur.line, role_col = p->cur.col;
	if (!parse_strings(p, &roles, &n_roles, "the role that approves cases"))
		return false;
	if (!expect_tok(p, TOK_SEMI, "`;` to end the declaration"))
		return false;
	if (n_purposes == 0 || n_roles == 0) {
		error_at(p, n_purposes == 0 ? line : role_line, n_purposes == 0 ? col : role_col,
			 "a case declaration names at least one purpose and one role");
		return false;
	}
	for (uint32_t i = 0; i < n_purposes; i++) {
		for (uint32_t r = 0; r < n_roles; r++) {
			struct case_decl *d = pol_arena_alloc(p->prog->arena, sizeof(*d));
			if (d == NULL) {
				p->prog->oom = true;
				return false;
			}
			*d = (struct case_decl){ .purpose = purposes[i], .role = roles[r], .file = p->file,
						 .line = line, .col = col, .role_line = role_line,
						 .role_col = role_col };
			if (!grow(p, (void ***)&p->prog->cases, &p->prog->n_cases, &p->prog->cap_cases, d))
				return false;
		}
	}
	return true;
}

/* schema category "energy" fields [
 *     "kwh": real unit "kWh",
 *     "meter_serial": text labels ["business"] optional,
 * ];   (categories may be a [list] sharing the fields) */
static bool parse_schema_field(struct parser *p, struct schema_field_decl *f)
{
	static const struct {
		const char *name;
		enum tids_value_kind kind;
	} types[] = {
		{ "int", TIDS_VALUE_INT }, { "uint", TIDS_VALUE_UINT }, { "real", TIDS_VALUE_REAL },
		{ "bool", TIDS_VALUE_FLAG }, { "text", TIDS_VALUE_TEXT }, { "blob", TIDS_VALUE_BLOB },
	};
	f->line = p->cur.line;
	f->col = p->cur.col;
	if (p->cur.kind != TOK_STRING) {
		expected(p, "a field's name as a string, e.g. \"kwh\"");
		return false;
	}
	f->name = p->cur.str;
	next(p);
	if (!expect_tok(p, TOK_COLON, "`:` and the field's type"))
		return false;
	size_t t;
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		if (at_word(p, types[t].name))
			break;
	if (t == sizeof(types) / sizeof(types[0])) {
		expected(p, "a field type: int, uint, real, bool, text or blob");
		return false;
	}
	f->type = (uint8_t)types[t].kind;
	next(p);
	for (;;) {
		if (at_word(p, "unit")) {
			next(p);
			if (p->cur.kind != TOK_STRING) {
				expected(p, "the unit as a string, e.g. \"kWh\"");
				return false;
			}
			f->unit = p->cur.str;
			next(p);
		} else if (at_word(p, "labels")) {
			next(p);
			if (!parse_strings(p, &f->labels, &f->n_labels, "a label"))
				return false;
		} else if (at_word(p, "optional")) {
			next(p);
			f->optional = true;
		} else {
			return true;
		}
	}
}

static bool parse_schema(struct parser *p)
{
	const char **cats = NULL;
	uint32_t n_cats = 0, n_fields = 0, cap = 0;
	struct schema_field_decl **fields = NULL;
	next(p);
	if (!expect_word(p, "category"))
		return false;
	unsigned line = p->cur.line, col = p->cur.col;
	if (!parse_strings(p, &cats, &n_cats, "a category"))
		return false;
	if (!expect_word(p, "fields") || !expect_tok(p, TOK_LBRACK, "`[` and the fields"))
		return false;
	while (!accept(p, TOK_RBRACK)) {
		struct schema_field_decl *f = pol_arena_alloc(p->prog->arena, sizeof(*f));
		if (f == NULL) {
			p->prog->oom = true;
			return false;
		}
		if (!parse_schema_field(p, f) || !push_ptr(p, (void ***)&fields, &n_fields, &cap, f))
			return false;
		if (n_fields > TIDS_FIELDS_MAX) {
			error_at(p, f->line, f->col, "a schema has at most %d fields", TIDS_FIELDS_MAX);
			return false;
		}
		if (accept(p, TOK_RBRACK))
			break;
		if (!expect_tok(p, TOK_COMMA, "`,` and another field, or `]`"))
			return false;
	}
	if (!expect_tok(p, TOK_SEMI, "`;` to end the schema"))
		return false;
	struct schema_field_decl *flat = pol_arena_alloc(p->prog->arena, (n_fields ? n_fields : 1) * sizeof(*flat));
	if (flat == NULL) {
		p->prog->oom = true;
		return false;
	}
	for (uint32_t i = 0; i < n_fields; i++)
		flat[i] = *fields[i];
	for (uint32_t i = 0; i < n_cats; i++) {
		struct schema_decl *d = pol_arena_alloc(p->prog->arena, sizeof(*d));
		if (d == NULL) {
			p->prog->oom = true;
			return false;
		}
		*d = (struct schema_decl){ .category = cats[i], .fields = flat, .n_fields = n_fields,
					   .file = p->file, .line = line, .col = col };
		if (!grow(p, (void ***)&p->prog->schemas, &p->prog->n_schemas, &p->prog->cap_schemas, d))
			return false;
	}
	return true;
}

/* Skips to just after the next `;`, or to the next declaration keyword. */
static bool at_declaration(const struct parser *p)
{
	return at_word(p, "permit") || at_word(p, "forbid") || at_word(p, "oblige") ||
	       at_word(p, "let") || at_word(p, "attribute") || at_word(p, "floor") || at_word(p, "schema");
}

static void recover(struct parser *p, const struct token *started)
{
	/* A declaration keyword other than the one that started the broken
	 * declaration begins the next one (a missing `;`). */
	if (at_declaration(p) && p->cur.start != started->start)
		return;
	while (p->cur.kind != TOK_EOF) {
		if (p->cur.kind == TOK_SEMI) {
			next(p);
			return;
		}
		next(p);
		if (at_declaration(p))
			return;
	}
}

int pol_parse(struct program *prog, const char *file, const char *text, size_t len,
	      struct tids_policy_diags *diags)
{
	struct parser p;
	memset(&p, 0, sizeof(p));
	p.prog = prog;
	p.diags = diags;
	p.file = file;
	if (len > TIDS_POLICY_SOURCE_MAX) {
		pol_diag(diags, TIDS_POLICY_ERROR, file, 1, 1, "file is larger than %u bytes",
			 TIDS_POLICY_SOURCE_MAX);
		return TIDS_ETOOBIG;
	}
	pol_lex_init(&p.lx, file, text, len, prog->arena, diags);
	p.lx.strings = &prog->strings;
	next(&p);
	while (p.cur.kind != TOK_EOF && !prog->oom && !p.lx.oom) {
		bool ok;
		struct token started = p.cur;
		p.depth = 0;
		if (at_word(&p, "permit") || at_word(&p, "forbid") || at_word(&p, "oblige")) {
			ok = parse_rule(&p);
		} else if (at_word(&p, "let")) {
			ok = parse_let(&p);
		} else if (at_word(&p, "attribute")) {
			ok = parse_attribute(&p);
		} else if (at_word(&p, "floor")) {
			ok = parse_floor(&p);
		} else if (at_word(&p, "purposes")) {
			ok = parse_purposes(&p);
		} else if (at_word(&p, "purpose")) {
			ok = parse_case(&p);
		} else if (at_word(&p, "schema")) {
			ok = parse_schema(&p);
		} else {
			expected(&p, "`permit`, `forbid`, `oblige`, `let`, `attribute`, `floor`, `purposes`, "
				 "`purpose` or `schema`");
			ok = false;
		}
		if (!ok)
			recover(&p, &started);
	}
	if (prog->oom || p.lx.oom)
		return TIDS_ENOMEM;
	return p.errors > 0 ? TIDS_EPOLICY : 0;
}
