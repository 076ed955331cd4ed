/*
 * Lexer for *.tidspol: identifiers, strings, integers (100_000), durations
 * (90d, 1h30m), ISO times (2026-01-01, 2026-01-01T08:00:00+08:00) and
 * operators. Every token carries its line and column for diagnostics;
 * `#` and `//` start comments to the end of the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

void pol_strtab_free(struct strtab *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int strtab_grow(struct strtab *t)
{
	size_t cap = t->v ? (t->mask + 1) * 2 : 256;
	struct strtab_entry *v = calloc(cap, sizeof(*v));
	if (v == NULL)
		return -1;
	for (size_t i = 0; t->v != NULL && i <= t->mask; i++) {
		if (t->v[i].s == NULL)
			continue;
		size_t k = (size_t)t->v[i].h & (cap - 1);
		while (v[k].s != NULL)
			k = (k + 1) & (cap - 1);
		v[k] = t->v[i];
	}
	free(t->v);
	t->v = v;
	t->mask = cap - 1;
	return 0;
}

/* The lexer's copy of s: one per distinct string when it keeps a table. */
static const char *lex_copy(struct lexer *lx, const char *s, size_t n)
{
	struct strtab *t = lx->strings;
	if (t == NULL)
		return pol_arena_strndup(lx->arena, s, n);
	uint64_t h = pol_hash(s, n);
	size_t k = 0;
	if (t->v != NULL) {
		for (k = (size_t)h & t->mask; t->v[k].s != NULL; k = (k + 1) & t->mask)
			if (t->v[k].h == h && t->v[k].len == n && memcmp(t->v[k].s, s, n) == 0)
				return t->v[k].s;
	}
	const char *copy = pol_arena_strndup(lx->arena, s, n);
	if (copy == NULL || n > UINT32_MAX)
		return copy;
	if (t->v == NULL || (t->count + 1) * 2 > t->mask + 1) {
		if (strtab_grow(t) != 0)
			return copy;          /* not kept: it is still a copy */
		for (k = (size_t)h & t->mask; t->v[k].s != NULL; k = (k + 1) & t->mask)
			;
	}
	t->v[k] = (struct strtab_entry){ .s = copy, .len = (uint32_t)n, .h = h };
	t->count++;
	return copy;
}

void pol_lex_init(struct lexer *lx, const char *file, const char *src, size_t len,
		  struct arena *arena, struct tids_policy_diags *diags)
{
	memset(lx, 0, sizeof(*lx));
	lx->file = file;
	lx->src = src;
	lx->len = len;
	lx->line = 1;
	lx->col = 1;
	lx->arena = arena;
	lx->diags = diags;
}

const char *pol_tok_name(enum tok kind)
{
	switch (kind) {
	case TOK_EOF: return "end of file";
	case TOK_IDENT: return "a name";
	case TOK_STRING: return "a string";
	case TOK_INT: return "a number";
	case TOK_DURATION: return "a duration";
	case TOK_TIME: return "a time";
	case TOK_LPAREN: return "`(`";
	case TOK_RPAREN: return "`)`";
	case TOK_LBRACK: return "`[`";
	case TOK_RBRACK: return "`]`";
	case TOK_COMMA: return "`,`";
	case TOK_SEMI: return "`;`";
	case TOK_COLON: return "`:`";
	case TOK_DOT: return "`.`";
	case TOK_ASSIGN: return "`=`";
	case TOK_EQ: return "`==`";
	case TOK_NE: return "`!=`";
	case TOK_LT: return "`<`";
	case TOK_LE: return "`<=`";
	case TOK_GT: return "`>`";
	case TOK_GE: return "`>=`";
	case TOK_AND: return "`&&`";
	case TOK_OR: return "`||`";
	case TOK_NOT: return "`!`";
	case TOK_PLUS: return "`+`";
	case TOK_MINUS: return "`-`";
	case TOK_ERROR: return "an invalid token";
	}
	return "a token";
}

static int peek_at(const struct lexer *lx, size_t ahead)
{
	size_t p = lx->pos + ahead;
	return p < lx->len ? (unsigned char)lx->src[p] : -1;
}

static void advance(struct lexer *lx)
{
	if (lx->pos >= lx->len)
		return;
	if (lx->src[lx->pos] == '\n') {
		lx->line++;
		lx->col = 1;
	} else if (((unsigned char)lx->src[lx->pos] & 0xC0) != 0x80) {
		lx->col++;            /* columns count characters, not UTF-8 bytes */
	}
	lx->pos++;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(int c)
{
	return is_ident_start(c) || is_digit(c);
}

static void lex_error(struct lexer *lx, struct token *t, unsigned line, unsigned col,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void lex_error(struct lexer *lx, struct token *t, unsigned line, unsigned col,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pol_vdiag(lx->diags, TIDS_POLICY_ERROR, lx->file, line, col, fmt, ap);
	va_end(ap);
	t->kind = TOK_ERROR;
}

static void skip_space_and_comments(struct lexer *lx)
{
	for (;;) {
		int c = peek_at(lx, 0);
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			advance(lx);
		} else if (c == '#' || (c == '/' && peek_at(lx, 1) == '/')) {
			while (peek_at(lx, 0) != -1 && peek_at(lx, 0) != '\n')
				advance(lx);
		} else {
			return;
		}
	}
}

/* A printable rendering of the character at the cursor for messages. */
static const char *describe_char(int c, char buf[16])
{
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", (unsigned)c & 0xffu);
	return buf;
}

static void lex_string(struct lexer *lx, struct token *t)
{
	char buf[POL_STRING_MAX];
	size_t n = 0;
	advance(lx);              /* opening quote */
	for (;;) {
		int c = peek_at(lx, 0);
		if (c == -1 || c == '\n') {
			lex_error(lx, t, t->line, t->col, "string is not closed before the end of the line");
			return;
		}
		if (c == '"') {
			advance(lx);
			break;
		}
		if (c == '\\') {
			unsigned l = lx->line, col = lx->col;
			advance(lx);
			int e = peek_at(lx, 0);
			switch (e) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			default: {
				char d[16];
				lex_error(lx, t, l, col, "unknown escape \\%s in string (use \\\" \\\\ \\n or \\t)",
					  e == -1 ? "" : describe_char(e, d));
				/* keep going to the closing quote so one error is reported */
				while (peek_at(lx, 0) != -1 && peek_at(lx, 0) != '"' && peek_at(lx, 0) != '\n')
					advance(lx);
				if (peek_at(lx, 0) == '"')
					advance(lx);
				return;
			}
			}
		} else if (c < 0x20 || c == 0x7f) {
			char d[16];
			lex_error(lx, t, lx->line, lx->col, "control character %s in string",
				  describe_char(c, d));
			advance(lx);
			continue;
		}
		if (n >= sizeof(buf)) {
			lex_error(lx, t, t->line, t->col, "string is longer than %d bytes", POL_STRING_MAX);
			while (peek_at(lx, 0) != -1 && peek_at(lx, 0) != '"' && peek_at(lx, 0) != '\n')
				advance(lx);
			if (peek_at(lx, 0) == '"')
				advance(lx);
			return;
		}
		buf[n++] = (char)c;
		advance(lx);
	}
	if (t->kind == TOK_ERROR)
		return;
	t->kind = TOK_STRING;
	t->str = lex_copy(lx, buf, n);
	t->str_len = n;
	if (t->str == NULL)
		lx->oom = true;
}

/* 2026-01-01 or 2026-01-01T10:00[:00[.000]](Z|+hh:mm) */
static void lex_time(struct lexer *lx, struct token *t)
{
	size_t start = lx->pos;
	while (peek_at(lx, 0) != -1) {
		int c = peek_at(lx, 0);
		if (is_digit(c) || c == '-' || c == ':' || c == 'T' || c == 'Z' || c == '.' ||
		    (c == '+' && lx->pos > start + 10))
			advance(lx);
		else
			break;
	}
	int64_t ms;
	if (tids_policy_parse_time(lx->src + start, lx->pos - start, &ms) != 0) {
		lex_error(lx, t, t->line, t->col,
			  "'%.*s' is not a valid time (write 2026-01-01 or 2026-01-01T08:00:00Z)",
			  (int)(lx->pos - start), lx->src + start);
		return;
	}
	t->kind = TOK_TIME;
	t->num = ms;
	/* a date alone means the start of that day on the hub's calendar,
	 * resolved when a decision knows the hub's time zone */
	t->date = lx->pos - start == 10;
}

static bool looks_like_date(const struct lexer *lx)
{
	for (size_t k = 0; k < 4; k++)
		if (!is_digit(peek_at(lx, k)))
			return false;
	return peek_at(lx, 4) == '-' && is_digit(peek_at(lx, 5)) && is_digit(peek_at(lx, 6)) &&
	       peek_at(lx, 7) == '-';
}

/* A unit's length: fixed (ms), or months of the calendar (mo, q, y: a
 * year is not always 365 days). False if there is no such unit. */
static bool unit_of(const char *u, size_t n, int64_t *ms, int64_t *months)
{
	static const struct {
		const char *name;
		int64_t ms;
		int64_t months;
	} units[] = {
		{ "ms", 1, 0 }, { "s", POL_MS_SECOND, 0 }, { "m", POL_MS_MINUTE, 0 }, { "h", POL_MS_HOUR, 0 },
		{ "d", POL_MS_DAY, 0 }, { "w", POL_MS_WEEK, 0 }, { "mo", 0, 1 }, { "q", 0, 3 }, { "y", 0, 12 },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
			*ms = units[i].ms;
			*months = units[i].months;
			return true;
		}
	return false;
}

/* Digits with optional _ separators; *ok false on overflow. */
static int64_t lex_digits(struct lexer *lx, bool *ok)
{
	uint64_t v = 0;
	while (is_digit(peek_at(lx, 0)) || (peek_at(lx, 0) == '_' && is_digit(peek_at(lx, 1)))) {
		int c = peek_at(lx, 0);
		advance(lx);
		if (c == '_')
			continue;
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(c - '0')) / 10)
			*ok = false;
		else
			v = v * 10 + (uint64_t)(c - '0');
	}
	return (int64_t)v;
}

static void lex_number(struct lexer *lx, struct token *t)
{
	if (looks_like_date(lx)) {
		lex_time(lx, t);
		return;
	}
	bool ok = true;
	int64_t v = lex_digits(lx, &ok);
	if (!is_ident_start(peek_at(lx, 0))) {
		if (!ok) {
			lex_error(lx, t, t->line, t->col, "number is too large (the limit is %lld)",
				  (long long)INT64_MAX);
			return;
		}
		t->kind = TOK_INT;
		t->num = v;
		return;
	}
	/* A duration: one or more number+unit parts, e.g. 1h30m, 1y6mo. */
	int64_t total = 0, months = 0;
	for (;;) {
		size_t u = lx->pos;
		while (is_ident_start(peek_at(lx, 0)))
			advance(lx);
		int64_t ms, mo;
		if (!unit_of(lx->src + u, lx->pos - u, &ms, &mo)) {
			lex_error(lx, t, t->line, t->col,
				  "unknown duration unit '%.*s' (use ms, s, m, h, d, w, or mo, q, y of the calendar)",
				  (int)(lx->pos - u), lx->src + u);
			while (is_ident(peek_at(lx, 0)))
				advance(lx);
			return;
		}
		if (!ok || (v != 0 && ms > INT64_MAX / v) || total > INT64_MAX - v * ms ||
		    (mo != 0 && (v > INT64_C(1200000) / mo || months + v * mo > INT64_C(1200000)))) {
			lex_error(lx, t, t->line, t->col, "duration is too long");
			while (is_ident(peek_at(lx, 0)))
				advance(lx);
			return;
		}
		total += v * ms;
		months += v * mo;
		if (!is_digit(peek_at(lx, 0)))
			break;
		v = lex_digits(lx, &ok);
		if (!is_ident_start(peek_at(lx, 0))) {
			lex_error(lx, t, t->line, t->col, "duration part without a unit");
			return;
		}
	}
	if (is_digit(peek_at(lx, 0)) || peek_at(lx, 0) == '_') {
		lex_error(lx, t, t->line, t->col, "malformed duration");
		return;
	}
	t->kind = TOK_DURATION;
	t->num = total;
	t->months = months;
}

void pol_lex_next(struct lexer *lx, struct token *t)
{
	skip_space_and_comments(lx);
	memset(t, 0, sizeof(*t));
	t->line = lx->line;
	t->col = lx->col;
	t->start = lx->src + lx->pos;
	int c = peek_at(lx, 0);
	if (c == -1) {
		t->kind = TOK_EOF;
		return;
	}
	if (is_ident_start(c)) {
		size_t start = lx->pos;
		while (is_ident(peek_at(lx, 0)))
			advance(lx);
		size_t n = lx->pos - start;
		t->len = n;
		if (n > POL_IDENT_MAX) {
			lex_error(lx, t, t->line, t->col, "name is longer than %d characters",
				  POL_IDENT_MAX);
			return;
		}
		t->kind = TOK_IDENT;
		t->str = lex_copy(lx, lx->src + start, n);
		t->str_len = n;
		if (t->str == NULL)
			lx->oom = true;
		return;
	}
	if (is_digit(c)) {
		size_t start = lx->pos;
		lex_number(lx, t);
		t->len = lx->pos - start;
		return;
	}
	if (c == '"') {
		size_t start = lx->pos;
		lex_string(lx, t);
		t->len = lx->pos - start;
		return;
	}
	int n = peek_at(lx, 1);
	enum tok k = TOK_ERROR;
	size_t width = 1;
	switch (c) {
	case '(': k = TOK_LPAREN; break;
	case ')': k = TOK_RPAREN; break;
	case '[': k = TOK_LBRACK; break;
	case ']': k = TOK_RBRACK; break;
	case ',': k = TOK_COMMA; break;
	case ';': k = TOK_SEMI; break;
	case ':': k = TOK_COLON; break;
	case '.': k = TOK_DOT; break;
	case '+': k = TOK_PLUS; break;
	case '-': k = TOK_MINUS; break;
	case '=':
		if (n == '=') {
			k = TOK_EQ;
			width = 2;
		} else {
			k = TOK_ASSIGN;
		}
		break;
	case '!':
		if (n == '=') {
			k = TOK_NE;
			width = 2;
		} else {
			k = TOK_NOT;
		}
		break;
	case '<':
		if (n == '=') {
			k = TOK_LE;
			width = 2;
		} else {
			k = TOK_LT;
		}
		break;
	case '>':
		if (n == '=') {
			k = TOK_GE;
			width = 2;
		} else {
			k = TOK_GT;
		}
		break;
	case '&':
		if (n == '&') {
			k = TOK_AND;
			width = 2;
		}
		break;
	case '|':
		if (n == '|') {
			k = TOK_OR;
			width = 2;
		}
		break;
	default:
		break;
	}
	if (k == TOK_ERROR) {
		char d[16];
		if (c == '&' || c == '|')
			lex_error(lx, t, t->line, t->col, "'%c' alone is not an operator (write %c%c)",
				  c, c, c);
		else if (c == '\'')
			lex_error(lx, t, t->line, t->col, "strings are written in double quotes");
		else
			lex_error(lx, t, t->line, t->col, "unexpected %s", describe_char(c, d));
		advance(lx);
		t->len = 1;
		return;
	}
	for (size_t i = 0; i < width; i++)
		advance(lx);
	t->kind = k;
	t->len = width;
}
