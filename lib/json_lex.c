/*
 * The JSON reader's tokens: strings (escapes, surrogate pairs, UTF-8
 * validation), numbers (RFC 8259 grammar, text kept), literals, white space,
 * and the line:column positions and wording of every error message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tids/error.h"
#include "json_impl.h"

/* Columns count characters, not bytes. Positions only move forward while
 * parsing, so caching the last one keeps this linear over a document. */
unsigned tids_json_lex_column(struct tids_json_parser *p, size_t pos)
{
	if (p->col_pos < p->line_start || p->col_pos > pos) {
		p->col_pos = p->line_start;
		p->col = 1;
	}
	for (; p->col_pos < pos; p->col_pos++)
		if ((p->s[p->col_pos] & 0xC0) != 0x80)
			p->col++;
	return p->col;
}

int tids_json_lex_fail(struct tids_json_parser *p, int code, size_t pos, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return tids_fail(p->err, p->errlen, code, "line %u, column %u: %s",
			 p->line, tids_json_lex_column(p, pos), what);
}

#define fail_at(p, pos, ...) tids_json_lex_fail((p), TIDS_EINVAL, (pos), __VA_ARGS__)

const char *tids_json_lex_found(const struct tids_json_parser *p, size_t pos, char buf[32])
{
	unsigned char c;
	size_t n = 0;

	if (pos >= p->len)
		return "end of text";
	c = p->s[pos];
	if (c == '/')
		return "'/' (JSON has no comments)";
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
		buf[n++] = '\'';
		while (n < 16 && pos < p->len &&
		       ((p->s[pos] >= 'a' && p->s[pos] <= 'z') || (p->s[pos] >= 'A' && p->s[pos] <= 'Z')))
			buf[n++] = (char)p->s[pos++];
		buf[n++] = '\'';
		buf[n] = '\0';
		return buf;
	}
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 32, "'%c'", c);
	else
		snprintf(buf, 32, "byte 0x%02X", c);
	return buf;
}

/* A short printable form of untrusted text for messages: control
 * characters (C0, DEL and C1) would reach an operator's terminal. */
const char *tids_json_printable(const char *text, char buf[40])
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, o = 0;

	while (t[i] != '\0' && o < 32) {
		if (t[i] == 0xC2 && t[i + 1] >= 0x80 && t[i + 1] <= 0x9F) {
			buf[o++] = '?';
			i += 2;
		} else if (t[i] < 0x20 || t[i] == 0x7f || t[i] == '"' || t[i] == '\\') {
			buf[o++] = '?';
			i++;
		} else {
			buf[o++] = (char)t[i++];
		}
	}
	if (t[i] != '\0') {
		while (o > 0 && (t[i] & 0xC0) == 0x80) {
			o--;   /* do not cut a character in half */
			i--;
		}
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

void tids_json_lex_skip_ws(struct tids_json_parser *p)
{
	for (; p->pos < p->len; p->pos++) {
		switch (p->s[p->pos]) {
		case '\n':
			p->line++;
			p->line_start = p->pos + 1;
			break;
		case ' ':
		case '\t':
		case '\r':
			break;
		default:
			return;
		}
	}
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

size_t tids_json_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

#define CONT(i) (n > (i) && (s[i] & 0xC0) == 0x80)
	if (c < 0x80)
		return 1;
	if (c < 0xC2)                 /* stray continuation or overlong pair */
		return 0;
	if (c < 0xE0)
		return CONT(1) ? 2 : 0;
	if (c < 0xF0) {
		if (!CONT(1) || !CONT(2))
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
			return 0;         /* overlong, or a UTF-16 surrogate */
		return 3;
	}
	if (c < 0xF5) {
		if (!CONT(1) || !CONT(2) || !CONT(3))
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
			return 0;         /* overlong, or past U+10FFFF */
		return 4;
	}
	return 0;
#undef CONT
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Four hex digits at i (before end), or -1. */
static long hex4(const unsigned char *s, size_t i, size_t end)
{
	long v = 0;

	if (i + 4 > end)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		unsigned char c = s[k];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The escape at i (a backslash, before end) into out; advances *i, *o. */
static int unescape(struct tids_json_parser *p, size_t *i, size_t end, char *out, size_t *o)
{
	static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	const unsigned char *s = p->s;
	size_t at = *i;
	long cp, lo;

	if (at + 1 < end && s[at + 1] != 'u') {
		for (size_t k = 0; simple[k] != '\0'; k += 2)
			if (s[at + 1] == (unsigned char)simple[k]) {
				out[(*o)++] = simple[k + 1];
				*i = at + 2;
				return 0;
			}
	}
	if (at + 1 >= end || s[at + 1] != 'u') {
		char buf[32];
		return fail_at(p, at, "invalid escape: '\\' followed by %s", tids_json_lex_found(p, at + 1, buf));
	}
	cp = hex4(s, at + 2, end);
	if (cp < 0)
		return fail_at(p, at, "invalid \\u escape: expected 4 hex digits");
	if (cp == 0)
		return fail_at(p, at, "\\u0000 is not allowed in strings");
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return fail_at(p, at, "unpaired UTF-16 surrogate \\u%04lX", cp);
	*i = at + 6;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		lo = (*i + 1 < end && s[*i] == '\\' && s[*i + 1] == 'u') ? hex4(s, *i + 2, end) : -1;
		if (lo < 0xDC00 || lo > 0xDFFF)
			return fail_at(p, at, "unpaired UTF-16 surrogate \\u%04lX", cp);
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		*i += 6;
	}
	*o += put_utf8(out + *o, (uint32_t)cp);
	return 0;
}

/* The string starting at p->pos (a quote), decoded into the arena. Escapes
 * only shrink text, so the raw length bounds the decoded one. */
int tids_json_lex_string(struct tids_json_parser *p, const char **out, uint32_t *outlen)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, end, i, o = 0;
	char *buf;
	int r;

	for (end = start + 1; end < p->len && s[end] != '"' && s[end] >= 0x20; end++)
		if (s[end] == '\\')
			end++;
	if (end > p->len)
		end = p->len;
	buf = tids_json_arena_bytes(p->arena, end - start);
	if (buf == NULL)
		return tids_json_lex_fail(p, TIDS_ENOMEM, start, "out of memory");
	for (i = start + 1; i < end;) {
		unsigned char c = s[i];
		size_t n;

		if (c == '\\') {
			r = unescape(p, &i, end, buf, &o);
			if (r < 0)
				return r;
		} else if (c < 0x80) {
			buf[o++] = (char)c;
			i++;
		} else {
			n = tids_json_utf8_seq(s + i, end - i);
			if (n == 0)
				return fail_at(p, i, "invalid UTF-8 (byte 0x%02X)", c);
			memcpy(buf + o, s + i, n);
			o += n;
			i += n;
		}
	}
	if (end >= p->len)
		return fail_at(p, start, "unterminated string");
	if (s[end] != '"')
		return fail_at(p, end, "control character U+%04X must be escaped in a string", s[end]);
	buf[o] = '\0';
	*out = buf;
	*outlen = (uint32_t)o;   /* o < len <= TIDS_JSON_TEXT_MAX */
	p->pos = end + 1;
	return 0;
}

int tids_json_lex_number(struct tids_json_parser *p, struct tids_json *v)
{
	const unsigned char *s = p->s;
	size_t start = p->pos, i = start;
	bool integer = true;

	if (s[i] == '-')
		i++;
	if (i < p->len && (s[i] == 'I' || s[i] == 'N'))
		return fail_at(p, start, "NaN and Infinity are not JSON numbers");
	if (i >= p->len || !is_digit(s[i]))
		return fail_at(p, i, "expected a digit after '-'");
	if (s[i] == '0') {
		if (++i < p->len && is_digit(s[i]))
			return fail_at(p, i - 1, "numbers must not have leading zeros");
	} else {
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && s[i] == '.') {
		integer = false;
		if (++i >= p->len || !is_digit(s[i]))
			return fail_at(p, i, "expected a digit after the decimal point");
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		integer = false;
		if (++i < p->len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->len || !is_digit(s[i]))
			return fail_at(p, i, "expected a digit in the exponent");
		while (i < p->len && is_digit(s[i]))
			i++;
	}
	/* Kept as written: integers are read exactly, reals by strtod. */
	v->u.text = tids_json_arena_strndup(p->arena, (const char *)s + start, i - start);
	if (v->u.text == NULL)
		return tids_json_lex_fail(p, TIDS_ENOMEM, start, "out of memory");
	v->type = TIDS_JSON_NUMBER;
	v->len = (uint32_t)(i - start);
	v->flag = integer;
	p->pos = i;
	return 0;
}

int tids_json_lex_literal(struct tids_json_parser *p, struct tids_json *v)
{
	static const struct {
		const char *word;
		uint8_t type;
		bool flag;
	} words[] = {
		{ "true", TIDS_JSON_BOOL, true },
		{ "false", TIDS_JSON_BOOL, false },
		{ "null", TIDS_JSON_NULL, false },
	};
	char buf[32];

	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		size_t n = strlen(words[k].word);

		if (p->len - p->pos >= n && memcmp(p->s + p->pos, words[k].word, n) == 0) {
			v->type = words[k].type;
			v->flag = words[k].flag;
			p->pos += n;
			return 0;
		}
	}
	return fail_at(p, p->pos, "expected a value but found %s", tids_json_lex_found(p, p->pos, buf));
}
