/*
 * A minimal recursive-descent JSON reader for the known-answer vector files
 * that tests load (see vectors_json.h). Strict enough to notice a damaged
 * file; not hardened for hostile input beyond a nesting limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors_json.h"

#define MAX_DEPTH 64

struct parser {
	const char *s;
	size_t len, pos;
	int depth;
};

static struct tids_test_json *parse_value(struct parser *p);

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && strchr(" \t\r\n", p->s[p->pos]) != NULL &&
	       p->s[p->pos] != '\0')
		p->pos++;
}

static int peek(struct parser *p)
{
	skip_ws(p);
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long read_u4(struct parser *p)
{
	long v = 0;
	int i, d;

	if (p->len - p->pos < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		d = hexval((unsigned char)p->s[p->pos++]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t put_utf8(char *out, long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote. Decoded text is never longer than its source. */
static char *parse_string(struct parser *p, size_t *out_len)
{
	char *out = NULL;
	size_t n = 0;
	long cp, lo;
	int c;

	p->pos++;
	out = malloc(p->len - p->pos + 1);
	if (out == NULL)
		return NULL;
	for (;;) {
		if (p->pos >= p->len)
			goto fail;
		c = (unsigned char)p->s[p->pos++];
		if (c == '"')
			break;
		if (c < 0x20)
			goto fail;
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		if (p->pos >= p->len)
			goto fail;
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"': case '\\': case '/': out[n++] = (char)c; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u':
			cp = read_u4(p);
			if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
				goto fail;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
				    p->s[p->pos + 1] != 'u')
					goto fail;
				p->pos += 2;
				lo = read_u4(p);
				if (lo < 0xdc00 || lo > 0xdfff)
					goto fail;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			n += put_utf8(out + n, cp);
			break;
		default:
			goto fail;
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
fail:
	free(out);
	return NULL;
}

/* Numbers, true, false, null: kept as their literal text. */
static int parse_literal(struct parser *p, struct tids_test_json *j)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t start = p->pos, i, wl;

	for (i = 0; i < 3; i++) {
		wl = strlen(words[i]);
		if (p->len - p->pos >= wl && memcmp(p->s + p->pos, words[i], wl) == 0) {
			j->type = i < 2 ? TIDS_TEST_JSON_BOOL : TIDS_TEST_JSON_NULL;
			p->pos += wl;
			goto copy;
		}
	}
	while (p->pos < p->len && p->s[p->pos] != '\0' &&
	       strchr("+-.eE0123456789", p->s[p->pos]) != NULL)
		p->pos++;
	if (p->pos == start)
		return -1;
	j->type = TIDS_TEST_JSON_NUMBER;
copy:
	j->len = p->pos - start;
	j->text = strndup(p->s + start, j->len);
	return j->text == NULL ? -1 : 0;
}

/* Elements of an array or members of an object, after the opening bracket. */
static int parse_children(struct parser *p, struct tids_test_json *j, int close)
{
	struct tids_test_json **tail = &j->child, *child;
	char *key = NULL;
	size_t key_len;

	if (peek(p) == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (peek(p) != '"')
				return -1;
			key = parse_string(p, &key_len);
			if (key == NULL)
				return -1;
			if (peek(p) != ':') {
				free(key);
				return -1;
			}
			p->pos++;
		}
		child = parse_value(p);
		if (child == NULL) {
			free(key);
			return -1;
		}
		child->key = key;
		key = NULL;
		*tail = child;
		tail = &child->next;
		if (peek(p) == close) {
			p->pos++;
			return 0;
		}
		if (peek(p) != ',')
			return -1;
		p->pos++;
	}
}

static struct tids_test_json *parse_value(struct parser *p)
{
	struct tids_test_json *j;
	int c = peek(p), ret;

	if (c < 0 || p->depth >= MAX_DEPTH)
		return NULL;
	j = calloc(1, sizeof *j);
	if (j == NULL)
		return NULL;
	if (c == '{' || c == '[') {
		j->type = c == '{' ? TIDS_TEST_JSON_OBJECT : TIDS_TEST_JSON_ARRAY;
		p->pos++;
		p->depth++;
		ret = parse_children(p, j, c == '{' ? '}' : ']');
		p->depth--;
	} else if (c == '"') {
		j->type = TIDS_TEST_JSON_STRING;
		j->text = parse_string(p, &j->len);
		ret = j->text == NULL ? -1 : 0;
	} else {
		ret = parse_literal(p, j);
	}
	if (ret < 0) {
		tids_test_json_free(j);
		return NULL;
	}
	return j;
}

struct tids_test_json *tids_test_json_parse(const char *text, size_t len)
{
	struct parser p = { text, len, 0, 0 };
	struct tids_test_json *j;

	j = parse_value(&p);
	if (j != NULL && peek(&p) != -1) {
		tids_test_json_free(j);
		return NULL;
	}
	return j;
}

struct tids_test_json *tids_test_json_load(const char *path)
{
	struct tids_test_json *j = NULL;
	char *buf = NULL;
	long size;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)size + 1);
	if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size)
		goto out;
	j = tids_test_json_parse(buf, (size_t)size);
out:
	free(buf);
	fclose(f);
	return j;
}

void tids_test_json_free(struct tids_test_json *j)
{
	struct tids_test_json *next;

	while (j != NULL) {
		next = j->next;
		tids_test_json_free(j->child);
		free(j->key);
		free(j->text);
		free(j);
		j = next;
	}
}

const struct tids_test_json *tids_test_json_get(const struct tids_test_json *obj,
						const char *key)
{
	const struct tids_test_json *c;

	if (obj == NULL || obj->type != TIDS_TEST_JSON_OBJECT)
		return NULL;
	for (c = obj->child; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

const struct tids_test_json *tids_test_json_at(const struct tids_test_json *arr,
					       size_t i)
{
	const struct tids_test_json *c;

	if (arr == NULL || arr->type != TIDS_TEST_JSON_ARRAY)
		return NULL;
	for (c = arr->child; c != NULL && i > 0; c = c->next)
		i--;
	return c;
}

size_t tids_test_json_count(const struct tids_test_json *j)
{
	const struct tids_test_json *c;
	size_t n = 0;

	if (j == NULL)
		return 0;
	for (c = j->child; c != NULL; c = c->next)
		n++;
	return n;
}

const char *tids_test_json_str(const struct tids_test_json *j)
{
	return j != NULL && j->type == TIDS_TEST_JSON_STRING ? j->text : NULL;
}

int tids_test_json_hex(const struct tids_test_json *j, uint8_t *out, size_t cap,
		       size_t *len)
{
	size_t i;
	int hi, lo;

	if (j == NULL || j->type != TIDS_TEST_JSON_STRING || j->len % 2 != 0 ||
	    j->len / 2 > cap)
		return -1;
	for (i = 0; i < j->len / 2; i++) {
		hi = hexval((unsigned char)j->text[2 * i]);
		lo = hexval((unsigned char)j->text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = j->len / 2;
	return 0;
}
