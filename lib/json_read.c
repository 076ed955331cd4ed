/*
 * The JSON reader: strict RFC 8259 into a tree of nodes held in one arena.
 * Recursion is bounded by TIDS_JSON_DEPTH_MAX; a value's children wait on one
 * scratch stack until their container closes and are then copied into the
 * arena side by side, so tids_json_at is an index and no list is chased.
 * Tokens and messages are json_lex.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "json_impl.h"

#define fail_at(p, pos, ...) tids_json_lex_fail((p), TIDS_EINVAL, (pos), __VA_ARGS__)

static int peek(const struct tids_json_parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : -1;
}

static int push(struct tids_json_parser *p, const struct tids_json *v)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct tids_json *s = realloc(p->stack, cap * sizeof(*s));

		if (s == NULL)
			return tids_fail(p->err, p->errlen, TIDS_ENOMEM, "line %u: out of memory", p->line);
		p->stack = s;
		p->cap = cap;
	}
	p->stack[p->n++] = *v;
	return 0;
}

/* Moves the children pushed since base into the arena, as v's. A big
 * object gets room for its sorted index right behind its members. */
static int adopt(struct tids_json_parser *p, struct tids_json *v, size_t base)
{
	struct tids_json *kids;
	size_t n = p->n - base, size = n * sizeof(*kids);

	if (v->type == TIDS_JSON_OBJECT && n > JSON_INDEX_MIN) {
		size += n * sizeof(struct tids_json *);
		v->flag = true;
	}
	if (n > 0) {
		kids = tids_json_arena_alloc(p->arena, size);
		if (kids == NULL)
			return tids_fail(p->err, p->errlen, TIDS_ENOMEM, "line %u: out of memory", p->line);
		memcpy(kids, p->stack + base, n * sizeof(*kids));
		v->u.kids = kids;
	}
	v->len = (uint32_t)n;   /* n < len <= TIDS_JSON_TEXT_MAX */
	p->n = base;
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct tids_json *x = *(const struct tids_json *const *)a;
	const struct tids_json *y = *(const struct tids_json *const *)b;
	int c = strcmp(x->key, y->key);

	/* Ties in document order, so the second of equal keys comes second. */
	return c != 0 ? c : (x > y) - (x < y);
}

/* Refuses duplicate keys, naming the first repeat in document order, and
 * fills a big object's sorted index (sorting is also what finds repeats in
 * O(n log n), which a 16 MiB object of short keys needs). */
static int check_keys(struct tids_json_parser *p, struct tids_json *v)
{
	const struct tids_json *kids = v->u.kids, *dup = NULL;
	const struct tids_json **sorted;
	unsigned line = 1;
	size_t start = 0;
	char buf[40];

	if (!v->flag) {
		for (size_t i = 1; i < v->len && dup == NULL; i++)
			for (size_t j = 0; j < i && dup == NULL; j++)
				if (strcmp(kids[i].key, kids[j].key) == 0)
					dup = &kids[i];
	} else {
		sorted = (const struct tids_json **)(void *)(v->u.kids + v->len);
		for (size_t i = 0; i < v->len; i++)
			sorted[i] = &kids[i];
		qsort(sorted, v->len, sizeof(*sorted), by_key);
		for (size_t i = 1; i < v->len; i++)
			if (strcmp(sorted[i]->key, sorted[i - 1]->key) == 0 &&
			    (dup == NULL || sorted[i] < dup))
				dup = sorted[i];
	}
	if (dup == NULL)
		return 0;
	/* Nodes keep only the key's offset; find its line once, here. */
	for (size_t i = 0; i < dup->key_at; i++)
		if (p->s[i] == '\n') {
			line++;
			start = i + 1;
		}
	p->line = line;
	p->line_start = start;
	return fail_at(p, dup->key_at, "duplicate key \"%s\"", tids_json_printable(dup->key, buf));
}

static int parse_value(struct tids_json_parser *p, struct tids_json *v);

static int parse_array(struct tids_json_parser *p, struct tids_json *v)
{
	size_t base = p->n;
	struct tids_json kid;
	char buf[32];
	int r;

	v->type = TIDS_JSON_ARRAY;
	p->pos++;
	tids_json_lex_skip_ws(p);
	if (peek(p) == ']')
		goto done;
	for (;;) {
		tids_json_lex_skip_ws(p);
		if (peek(p) == ']')
			return fail_at(p, p->pos, "trailing comma before ']'");
		r = parse_value(p, &kid);
		if (r < 0)
			return r;
		r = push(p, &kid);
		if (r < 0)
			return r;
		tids_json_lex_skip_ws(p);
		if (peek(p) == ']')
			break;
		if (peek(p) != ',')
			return fail_at(p, p->pos, "expected ',' or ']' after array element but found %s",
				       tids_json_lex_found(p, p->pos, buf));
		p->pos++;
	}
done:
	p->pos++;
	return adopt(p, v, base);
}

static int parse_object(struct tids_json_parser *p, struct tids_json *v)
{
	size_t base = p->n;
	struct tids_json kid;
	const char *key;
	size_t key_at;
	uint32_t key_len;
	char buf[32];
	int r;

	v->type = TIDS_JSON_OBJECT;
	p->pos++;
	tids_json_lex_skip_ws(p);
	if (peek(p) == '}')
		goto done;
	for (;;) {
		tids_json_lex_skip_ws(p);
		if (peek(p) == '}')
			return fail_at(p, p->pos, "trailing comma before '}'");
		if (peek(p) != '"')
			return fail_at(p, p->pos, "expected a string key but found %s",
				       tids_json_lex_found(p, p->pos, buf));
		key_at = p->pos;
		r = tids_json_lex_string(p, &key, &key_len);
		if (r < 0)
			return r;
		tids_json_lex_skip_ws(p);
		if (peek(p) != ':')
			return fail_at(p, p->pos, "expected ':' after object key but found %s",
				       tids_json_lex_found(p, p->pos, buf));
		p->pos++;
		tids_json_lex_skip_ws(p);
		r = parse_value(p, &kid);
		if (r < 0)
			return r;
		kid.key = key;
		kid.key_at = (uint32_t)key_at;
		r = push(p, &kid);
		if (r < 0)
			return r;
		tids_json_lex_skip_ws(p);
		if (peek(p) == '}')
			break;
		if (peek(p) != ',')
			return fail_at(p, p->pos, "expected ',' or '}' after object member but found %s",
				       tids_json_lex_found(p, p->pos, buf));
		p->pos++;
	}
done:
	p->pos++;
	r = adopt(p, v, base);
	return r < 0 ? r : check_keys(p, v);
}

/* The value at p->pos (after white space) into v. */
static int parse_value(struct tids_json_parser *p, struct tids_json *v)
{
	char buf[32];
	int c = peek(p), r;

	memset(v, 0, sizeof(*v));
	v->line = p->line;
	v->column = tids_json_lex_column(p, p->pos);
	switch (c) {
	case '{':
	case '[':
		if (p->depth >= TIDS_JSON_DEPTH_MAX)
			return fail_at(p, p->pos, "nested deeper than %d levels", TIDS_JSON_DEPTH_MAX);
		p->depth++;
		r = c == '{' ? parse_object(p, v) : parse_array(p, v);
		p->depth--;
		return r;
	case '"':
		v->type = TIDS_JSON_STRING;
		return tids_json_lex_string(p, &v->u.text, &v->len);
	case '-':
		return tids_json_lex_number(p, v);
	case 't':
	case 'f':
	case 'n':
		return tids_json_lex_literal(p, v);
	default:
		if (c >= '0' && c <= '9')
			return tids_json_lex_number(p, v);
		if (c == 'N' || c == 'I')
			return fail_at(p, p->pos, "NaN and Infinity are not JSON numbers");
		return fail_at(p, p->pos, "expected a value but found %s",
			       tids_json_lex_found(p, p->pos, buf));
	}
}

int tids_json_parse(const char *text, size_t len, struct tids_json_doc **out,
		    char *err, size_t errlen)
{
	struct tids_json_parser p = { .s = (const unsigned char *)text, .len = len, .line = 1,
			    .col = 1, .err = err, .errlen = errlen };
	struct tids_json_doc *doc = NULL;
	struct tids_json *root;
	char buf[32];
	int r;

	*out = NULL;
	if (len > TIDS_JSON_TEXT_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG,
				 "line 1, column 1: text of %zu bytes is longer than the limit of %u",
				 len, TIDS_JSON_TEXT_MAX);
	if (text == NULL && len > 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "line 1, column 1: no text");
	/* Nodes outweigh text for small values; the arena grows if needed. */
	p.arena = tids_json_arena_new(len < (1u << 19) ? 2 * len : (1u << 20));
	if (p.arena == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "line 1, column 1: out of memory");
	doc = tids_json_arena_alloc(p.arena, sizeof(*doc));
	root = tids_json_arena_alloc(p.arena, sizeof(*root));
	if (doc == NULL || root == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "line 1, column 1: out of memory");
		goto out;
	}
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		r = fail_at(&p, 0, "a byte order mark is not allowed before JSON text");
		goto out;
	}
	tids_json_lex_skip_ws(&p);
	r = parse_value(&p, root);
	if (r < 0)
		goto out;
	tids_json_lex_skip_ws(&p);
	if (p.pos < p.len) {
		r = fail_at(&p, p.pos, "unexpected %s after the JSON value",
			    tids_json_lex_found(&p, p.pos, buf));
		goto out;
	}
	doc->arena = p.arena;
	doc->root = root;
	*out = doc;
	r = 0;
out:
	free(p.stack);
	if (r < 0)
		tids_json_arena_free(p.arena);
	return r;
}

void tids_json_free(struct tids_json_doc *doc)
{
	if (doc != NULL)
		tids_json_arena_free(doc->arena);
}
