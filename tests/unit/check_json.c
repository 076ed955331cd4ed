/*
 * The JSON gate (lib/json_*.c): what the reader accepts and how it words a
 * refusal, the writer's escaping and number forms, records through JSON and
 * back, and RFC 3339 times.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tids/error.h"
#include "tids/json.h"
#include "tids/record.h"

static char err[256];

static struct tids_json_doc *parse_ok(const char *text)
{
	struct tids_json_doc *doc = NULL;
	int r = tids_json_parse(text, strlen(text), &doc, err, sizeof(err));

	ck_assert_msg(r == 0, "parse of '%s' failed: %s", text, err);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

/* Parses len bytes expecting code, and an error message starting with
 * "line L, column C: " and containing what. */
static void parse_fails(const char *text, size_t len, int code, unsigned line, unsigned col,
			const char *what)
{
	struct tids_json_doc *doc = (struct tids_json_doc *)&doc;
	char where[64];
	int r;

	err[0] = '\0';
	r = tids_json_parse(text, len, &doc, err, sizeof(err));
	ck_assert_msg(r == code, "'%.40s': got %d (%s), expected %d", text, r, err, code);
	ck_assert_ptr_null(doc);
	snprintf(where, sizeof(where), "line %u, column %u: ", line, col);
	ck_assert_msg(strncmp(err, where, strlen(where)) == 0,
		      "'%.40s': message '%s' does not start with '%s'", text, err, where);
	ck_assert_msg(strstr(err, what) != NULL, "'%.40s': message '%s' lacks '%s'", text, err, what);
}

static void rejects(const char *text, unsigned line, unsigned col, const char *what)
{
	parse_fails(text, strlen(text), TIDS_EINVAL, line, col, what);
}

/* Valid documents and the accessors. */

START_TEST(test_scalars)
{
	static const struct {
		const char *text;
		enum tids_json_type type;
	} cases[] = {
		{ "null", TIDS_JSON_NULL }, { "true", TIDS_JSON_BOOL }, { "false", TIDS_JSON_BOOL },
		{ "0", TIDS_JSON_NUMBER }, { "-12.5e+3", TIDS_JSON_NUMBER }, { "\"\"", TIDS_JSON_STRING },
		{ "[]", TIDS_JSON_ARRAY }, { "{}", TIDS_JSON_OBJECT }, { " \t\r\n 7 \n", TIDS_JSON_NUMBER },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tids_json_doc *doc = parse_ok(cases[i].text);

		ck_assert_int_eq(tids_json_type(tids_json_root(doc)), cases[i].type);
		tids_json_free(doc);
	}
}
END_TEST

START_TEST(test_tree)
{
	const char *text = "{\"name\": \"press\", \"n\": [1, 2.5, true, null, {\"x\": \"y\"}],\n"
			   " \"ok\": false, \"e\": {}}";
	struct tids_json_doc *doc = parse_ok(text);
	const struct tids_json *root = tids_json_root(doc), *n;
	int64_t i64;

	ck_assert_uint_eq(tids_json_len(root), 4);
	ck_assert_str_eq(tids_json_key_at(root, 0), "name");
	ck_assert_str_eq(tids_json_key_at(root, 3), "e");
	ck_assert_ptr_null(tids_json_key_at(root, 4));
	ck_assert_str_eq(tids_json_string(tids_json_get(root, "name")), "press");
	ck_assert_uint_eq(tids_json_string_len(tids_json_get(root, "name")), 5);
	n = tids_json_get(root, "n");
	ck_assert_int_eq(tids_json_type(n), TIDS_JSON_ARRAY);
	ck_assert_uint_eq(tids_json_len(n), 5);
	ck_assert_int_eq(tids_json_int64(tids_json_at(n, 0), &i64), 0);
	ck_assert_int_eq(i64, 1);
	ck_assert(tids_json_number(tids_json_at(n, 1)) == 2.5);
	ck_assert(!tids_json_is_integer(tids_json_at(n, 1)));
	ck_assert(tids_json_bool(tids_json_at(n, 2)));
	ck_assert_int_eq(tids_json_type(tids_json_at(n, 3)), TIDS_JSON_NULL);
	ck_assert_str_eq(tids_json_string(tids_json_get(tids_json_at(n, 4), "x")), "y");
	ck_assert_ptr_null(tids_json_at(n, 5));
	ck_assert(!tids_json_bool(tids_json_get(root, "ok")));
	ck_assert_int_eq(tids_json_type(tids_json_get(root, "ok")), TIDS_JSON_BOOL);
	ck_assert_uint_eq(tids_json_len(tids_json_get(root, "e")), 0);
	ck_assert_ptr_null(tids_json_get(root, "missing"));
	/* Positions: where each value starts, columns from 1. */
	ck_assert_uint_eq(tids_json_line(root), 1);
	ck_assert_uint_eq(tids_json_column(root), 1);
	ck_assert_uint_eq(tids_json_column(n), 24);
	ck_assert_uint_eq(tids_json_line(tids_json_get(root, "ok")), 2);
	ck_assert_uint_eq(tids_json_column(tids_json_get(root, "ok")), 8);
	tids_json_free(doc);
}
END_TEST

START_TEST(test_null_safe)
{
	struct tids_json_doc *doc = parse_ok("[\"s\", 1]");
	const struct tids_json *a = tids_json_root(doc);
	int64_t i;
	uint64_t u;

	ck_assert_ptr_null(tids_json_root(NULL));
	ck_assert_int_eq(tids_json_type(NULL), TIDS_JSON_NULL);
	ck_assert_uint_eq(tids_json_line(NULL), 0);
	ck_assert_ptr_null(tids_json_get(NULL, "a"));
	ck_assert_ptr_null(tids_json_get(a, "a"));        /* an array is not an object */
	ck_assert_ptr_null(tids_json_key_at(a, 0));
	ck_assert_ptr_null(tids_json_at(NULL, 0));
	ck_assert_uint_eq(tids_json_len(NULL), 0);
	ck_assert_uint_eq(tids_json_len(tids_json_at(a, 0)), 0);   /* scalar */
	ck_assert_ptr_null(tids_json_string(tids_json_at(a, 1)));
	ck_assert_uint_eq(tids_json_string_len(tids_json_at(a, 1)), 0);
	ck_assert(tids_json_number(tids_json_at(a, 0)) == 0.0);
	ck_assert(!tids_json_bool(NULL));
	ck_assert(!tids_json_is_integer(tids_json_at(a, 0)));
	ck_assert_int_eq(tids_json_int64(NULL, &i), TIDS_EINVAL);
	ck_assert_int_eq(tids_json_uint64(tids_json_at(a, 0), &u), TIDS_EINVAL);
	tids_json_free(doc);
	tids_json_free(NULL);
}
END_TEST

/* Every class of refusal, with its position and words. */

static const struct bad {
	const char *text;
	unsigned line, col;
	const char *what;
} bad[] = {
	{ "", 1, 1, "expected a value but found end of text" },
	{ "   \n ", 2, 2, "expected a value but found end of text" },
	{ "[1,]", 1, 4, "trailing comma before ']'" },
	{ "{\"a\":1,}", 1, 8, "trailing comma before '}'" },
	{ "{\"a\":1 \"b\":2}", 1, 8, "expected ',' or '}' after object member but found '\"'" },
	{ "{\"id\": \"p7\", \"n\": 1 \"x\": 2}", 1, 21, "expected ',' or '}' after object member" },
	{ "[1 2]", 1, 4, "expected ',' or ']' after array element but found '2'" },
	{ "[1", 1, 3, "expected ',' or ']' after array element but found end of text" },
	{ "{\"a\" 1}", 1, 6, "expected ':' after object key but found '1'" },
	{ "{a:1}", 1, 2, "expected a string key but found 'a'" },
	{ "{1:1}", 1, 2, "expected a string key but found '1'" },
	{ "// note\n1", 1, 1, "'/' (JSON has no comments)" },
	{ "[1 /* x */]", 1, 4, "JSON has no comments" },
	{ "01", 1, 1, "numbers must not have leading zeros" },
	{ "[-00]", 1, 3, "numbers must not have leading zeros" },
	{ "1.", 1, 3, "expected a digit after the decimal point" },
	{ "1.e5", 1, 3, "expected a digit after the decimal point" },
	{ ".5", 1, 1, "expected a value but found '.'" },
	{ "1e", 1, 3, "expected a digit in the exponent" },
	{ "1E+", 1, 4, "expected a digit in the exponent" },
	{ "-", 1, 2, "expected a digit after '-'" },
	{ "- 1", 1, 2, "expected a digit after '-'" },
	{ "+1", 1, 1, "expected a value but found '+'" },
	{ "0x10", 1, 2, "unexpected 'x' after the JSON value" },
	{ "NaN", 1, 1, "NaN and Infinity are not JSON numbers" },
	{ "[-Infinity]", 1, 2, "NaN and Infinity are not JSON numbers" },
	{ "Infinity", 1, 1, "NaN and Infinity are not JSON numbers" },
	{ "tru", 1, 1, "expected a value but found 'tru'" },
	{ "True", 1, 1, "expected a value but found 'True'" },
	{ "nulls", 1, 5, "unexpected 's' after the JSON value" },
	{ "[1] 2", 1, 5, "unexpected '2' after the JSON value" },
	{ "{}{}", 1, 3, "unexpected '{' after the JSON value" },
	{ "'a'", 1, 1, "expected a value but found '''" },
	{ "\"abc", 1, 1, "unterminated string" },
	{ "[\"abc\\\"]", 1, 2, "unterminated string" },
	{ "\"a\nb\"", 1, 3, "control character U+000A must be escaped in a string" },
	{ "\"a\tb\"", 1, 3, "control character U+0009 must be escaped" },
	{ "\"\\x\"", 1, 2, "invalid escape: '\\' followed by 'x'" },
	{ "\"\\U0041\"", 1, 2, "invalid escape" },
	{ "\"\\u12\"", 1, 2, "invalid \\u escape: expected 4 hex digits" },
	{ "\"\\u12G4\"", 1, 2, "invalid \\u escape" },
	{ "\"ab\\u0000\"", 1, 4, "\\u0000 is not allowed in strings" },
	{ "\"\\uD800\"", 1, 2, "unpaired UTF-16 surrogate \\uD800" },
	{ "\"\\udbff x\"", 1, 2, "unpaired UTF-16 surrogate \\uDBFF" },
	{ "\"\\uD800\\u0041\"", 1, 2, "unpaired UTF-16 surrogate \\uD800" },
	{ "\"\\uD800\\uD800\"", 1, 2, "unpaired UTF-16 surrogate \\uD800" },
	{ "\"\\uDC00\"", 1, 2, "unpaired UTF-16 surrogate \\uDC00" },
	{ "\"\xff\"", 1, 2, "invalid UTF-8 (byte 0xFF)" },
	{ "\"ok\x80\"", 1, 4, "invalid UTF-8 (byte 0x80)" },
	{ "\"\xc0\xaf\"", 1, 2, "invalid UTF-8 (byte 0xC0)" },          /* overlong '/' */
	{ "\"\xe0\x80\xaf\"", 1, 2, "invalid UTF-8 (byte 0xE0)" },      /* overlong */
	{ "\"\xed\xa0\x80\"", 1, 2, "invalid UTF-8 (byte 0xED)" },      /* surrogate */
	{ "\"\xf4\x90\x80\x80\"", 1, 2, "invalid UTF-8 (byte 0xF4)" },  /* > U+10FFFF */
	{ "\"\xe2\x82\"", 1, 2, "invalid UTF-8 (byte 0xE2)" },          /* cut short */
	{ "\xc3\xa9", 1, 1, "expected a value but found byte 0xC3" },
	{ "\xef\xbb\xbf{}", 1, 1, "byte order mark" },
	{ "{\"a\":1,\"a\":2}", 1, 8, "duplicate key \"a\"" },
	{ "{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, "expected ',' or '}' after object member" },
	{ "[\"\xc3\xa9\xe4\xb8\xad\" x]", 1, 7, "expected ',' or ']'" },  /* columns count characters */
	{ "{\"k\": [1, {\"z\": tru}]}", 1, 17, "expected a value but found 'tru'" },
};

START_TEST(test_rejects)
{
	rejects(bad[_i].text, bad[_i].line, bad[_i].col, bad[_i].what);
}
END_TEST

START_TEST(test_reject_nul_bytes)
{
	parse_fails("[1\0]", 4, TIDS_EINVAL, 1, 3, "after array element but found byte 0x00");
	parse_fails("\"a\0\"", 4, TIDS_EINVAL, 1, 3, "control character U+0000");
	parse_fails("1\0", 2, TIDS_EINVAL, 1, 2, "unexpected byte 0x00 after the JSON value");
}
END_TEST

START_TEST(test_text_not_terminated)
{
	/* The length decides, not a NUL: "12" of "123" is the number 12. */
	struct tids_json_doc *doc;
	int64_t v;

	ck_assert_int_eq(tids_json_parse("123", 2, &doc, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_json_int64(tids_json_root(doc), &v), 0);
	ck_assert_int_eq(v, 12);
	tids_json_free(doc);
	ck_assert_int_eq(tids_json_parse("\"abc\"", 4, &doc, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unterminated string"));
}
END_TEST

/* Nesting and size limits. */

static char *nested(unsigned depth, char open, char close)
{
	char *s = malloc(2 * depth + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, open, depth);
	memset(s + depth, close, depth);
	s[2 * depth] = '\0';
	return s;
}

START_TEST(test_depth)
{
	struct tids_json_doc *doc;
	const struct tids_json *v;
	char *s = nested(TIDS_JSON_DEPTH_MAX, '[', ']');
	unsigned d = 0;

	doc = parse_ok(s);
	for (v = tids_json_root(doc); tids_json_type(v) == TIDS_JSON_ARRAY; v = tids_json_at(v, 0))
		d++;
	ck_assert_uint_eq(d, TIDS_JSON_DEPTH_MAX);
	tids_json_free(doc);
	free(s);

	s = nested(TIDS_JSON_DEPTH_MAX + 1, '[', ']');
	parse_fails(s, strlen(s), TIDS_EINVAL, 1, TIDS_JSON_DEPTH_MAX + 1, "nested deeper than 64 levels");
	free(s);
	/* Far deeper input must fail the same way, not exhaust the stack. */
	s = nested(1000000, '[', ']');
	parse_fails(s, strlen(s), TIDS_EINVAL, 1, TIDS_JSON_DEPTH_MAX + 1, "nested deeper than 64 levels");
	free(s);
}
END_TEST

START_TEST(test_depth_objects)
{
	char buf[1024] = "";
	size_t n = 0;

	for (int i = 0; i < TIDS_JSON_DEPTH_MAX + 1; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
	parse_fails(buf, n, TIDS_EINVAL, 1, 5 * TIDS_JSON_DEPTH_MAX + 1, "nested deeper than 64 levels");
}
END_TEST

START_TEST(test_size_limit)
{
	size_t len = TIDS_JSON_TEXT_MAX + 1;
	char *s = malloc(len);
	struct tids_json_doc *doc;

	ck_assert_ptr_nonnull(s);
	/* A string of exactly the limit parses; one byte more does not. */
	memset(s, 'a', len);
	s[0] = '"';
	s[len - 2] = '"';
	ck_assert_int_eq(tids_json_parse(s, len - 1, &doc, err, sizeof(err)), 0);
	ck_assert_uint_eq(tids_json_string_len(tids_json_root(doc)), TIDS_JSON_TEXT_MAX - 2);
	tids_json_free(doc);
	parse_fails(s, len, TIDS_ETOOBIG, 1, 1, "longer than the limit of 16777216");
	free(s);
}
END_TEST

/* Objects and keys. */

START_TEST(test_duplicate_keys)
{
	/* Big objects take the sorting path; the first repeat is named. */
	rejects("{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\n"
		"\"k8\":8,\"k9\":9,\"k3\":10,\"k1\":11}", 2, 15, "duplicate key \"k3\"");
	rejects("{\"a\":{\"b\":1,\"b\":1}}", 1, 13, "duplicate key \"b\"");
	/* Keys are compared after unescaping. */
	rejects("{\"ab\":1,\"a\\u0062\":2}", 1, 9, "duplicate key \"ab\"");
	/* A control character in a key is not echoed to a terminal. */
	rejects("{\"\\u001b[2J\":1,\"\\u001b[2J\":2}", 1, 16, "duplicate key \"?[2J\"");
}
END_TEST

START_TEST(test_big_object_lookup)
{
	char buf[8192];
	size_t n = 0;
	struct tids_json_doc *doc;
	const struct tids_json *o;
	char key[16];
	int64_t v;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{");
	for (int i = 299; i >= 0; i--)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"key%d\":%d", i == 299 ? "" : ",", i, i);
	snprintf(buf + n, sizeof(buf) - n, "}");
	doc = parse_ok(buf);
	o = tids_json_root(doc);
	ck_assert_uint_eq(tids_json_len(o), 300);
	ck_assert_str_eq(tids_json_key_at(o, 0), "key299");   /* document order kept */
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		ck_assert_int_eq(tids_json_int64(tids_json_get(o, key), &v), 0);
		ck_assert_int_eq(v, i);
	}
	ck_assert_ptr_null(tids_json_get(o, "key300"));
	ck_assert_ptr_null(tids_json_get(o, ""));
	tids_json_free(doc);
}
END_TEST

/* Strings: escapes, surrogate pairs, UTF-8. */

START_TEST(test_string_escapes)
{
	static const struct {
		const char *json, *text;
		size_t len;
	} cases[] = {
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8 },
		{ "\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9", 5 },
		{ "\"\\u20AC\"", "\xe2\x82\xac", 3 },
		{ "\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80", 4 },             /* U+1F600 */
		{ "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4 },             /* U+10FFFF */
		{ "\"\\u0001\\u001F\"", "\x01\x1f", 2 },
		{ "\"\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x8f\xad\"", "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x8f\xad", 11 },
		{ "\"\xef\xbf\xbf\x7f\"", "\xef\xbf\xbf\x7f", 4 },           /* U+FFFF, DEL */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tids_json_doc *doc = parse_ok(cases[i].json);
		const struct tids_json *s = tids_json_root(doc);

		ck_assert_uint_eq(tids_json_string_len(s), cases[i].len);
		ck_assert_mem_eq(tids_json_string(s), cases[i].text, cases[i].len + 1);
		tids_json_free(doc);
	}
}
END_TEST

/* Numbers: exact integers at the edges, integrality by notation. */

START_TEST(test_integers)
{
	static const struct {
		const char *text;
		int i_ok;
		int64_t i;
		int u_ok;
		uint64_t u;
	} cases[] = {
		{ "0", 1, 0, 1, 0 },
		{ "-0", 1, 0, 1, 0 },
		{ "9223372036854775807", 1, INT64_MAX, 1, INT64_MAX },
		{ "9223372036854775808", 0, 0, 1, (uint64_t)INT64_MAX + 1 },
		{ "-9223372036854775808", 1, INT64_MIN, 0, 0 },
		{ "-9223372036854775809", 0, 0, 0, 0 },
		{ "18446744073709551615", 0, 0, 1, UINT64_MAX },
		{ "18446744073709551616", 0, 0, 0, 0 },
		{ "99999999999999999999999", 0, 0, 0, 0 },
		{ "9007199254740993", 1, 9007199254740993LL, 1, 9007199254740993ULL },  /* 2^53+1 */
		{ "-1", 1, -1, 0, 0 },
		{ "1.0", 0, 0, 0, 0 },
		{ "1e3", 0, 0, 0, 0 },
		{ "-0.0", 0, 0, 0, 0 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tids_json_doc *doc = parse_ok(cases[k].text);
		const struct tids_json *v = tids_json_root(doc);
		int64_t i = 42;
		uint64_t u = 42;

		ck_assert_msg((tids_json_int64(v, &i) == 0) == cases[k].i_ok, "%s int64", cases[k].text);
		if (cases[k].i_ok)
			ck_assert_int_eq(i, cases[k].i);
		ck_assert_msg((tids_json_uint64(v, &u) == 0) == cases[k].u_ok, "%s uint64", cases[k].text);
		if (cases[k].u_ok)
			ck_assert_uint_eq(u, cases[k].u);
		ck_assert(tids_json_is_integer(v) == (strpbrk(cases[k].text, ".eE") == NULL));
		tids_json_free(doc);
	}
}
END_TEST

START_TEST(test_reals)
{
	struct tids_json_doc *doc = parse_ok("[0.5, -1.25e2, 1E-3, 1e400, 123456789012345678901234567890]");
	const struct tids_json *a = tids_json_root(doc);

	ck_assert(tids_json_number(tids_json_at(a, 0)) == 0.5);
	ck_assert(tids_json_number(tids_json_at(a, 1)) == -125.0);
	ck_assert(tids_json_number(tids_json_at(a, 2)) == 1e-3);
	ck_assert(isinf(tids_json_number(tids_json_at(a, 3))));
	ck_assert(tids_json_number(tids_json_at(a, 4)) == 123456789012345678901234567890.0);
	ck_assert(tids_json_is_integer(tids_json_at(a, 4)));
	tids_json_free(doc);
}
END_TEST

/* Writer. */

START_TEST(test_writer_structure)
{
	struct tids_jw w;

	tids_jw_init(&w);
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "a");
	tids_jw_array_begin(&w);
	tids_jw_int64(&w, 1);
	tids_jw_int64(&w, -2);
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "b");
	tids_jw_null(&w);
	tids_jw_object_end(&w);
	tids_jw_array_begin(&w);
	tids_jw_array_end(&w);
	tids_jw_array_end(&w);
	tids_jw_key(&w, "c");
	tids_jw_bool(&w, true);
	tids_jw_key(&w, "d");
	tids_jw_uint64(&w, UINT64_MAX);
	tids_jw_key(&w, "e");
	tids_jw_int64(&w, INT64_MIN);
	tids_jw_key(&w, "f");
	tids_jw_object_begin(&w);
	tids_jw_object_end(&w);
	tids_jw_object_end(&w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_str_eq(w.buf, "{\"a\":[1,-2,{\"b\":null},[]],\"c\":true,"
				"\"d\":18446744073709551615,\"e\":-9223372036854775808,\"f\":{}}");
	ck_assert_uint_eq(w.len, strlen(w.buf));
	/* Successive top-level values form JSON lines. */
	tids_jw_string(&w, "x");
	ck_assert_str_eq(strchr(w.buf, '\n'), "\n\"x\"");
	tids_jw_reset(&w);
	ck_assert_uint_eq(w.len, 0);
	ck_assert_str_eq(w.buf, "");
	tids_jw_bool(&w, false);
	ck_assert_str_eq(w.buf, "false");
	tids_jw_free(&w);
	ck_assert_ptr_null(w.buf);
}
END_TEST

START_TEST(test_writer_escaping)
{
	struct tids_jw w;
	char in[64], want[512];
	size_t n = 0, m = 0;

	for (int c = 1; c < 0x20; c++)
		in[n++] = (char)c;
	memcpy(in + n, "\"\\/\x7f\xc3\xa9\xf0\x9f\x98\x80", 10);
	n += 10;
	m += (size_t)snprintf(want + m, sizeof(want) - m, "\"\\u0000");
	for (int c = 1; c < 0x20; c++)
		m += (size_t)snprintf(want + m, sizeof(want) - m, "\\u%04x", c);
	snprintf(want + m, sizeof(want) - m, "\\\"\\\\/\x7f\xc3\xa9\xf0\x9f\x98\x80\"");

	tids_jw_init(&w);
	memmove(in + 1, in, n);
	in[0] = '\0';   /* embedded NUL too, through string_len */
	tids_jw_string_len(&w, in, n + 1);
	ck_assert_int_eq(w.err, 0);
	ck_assert_str_eq(w.buf, want);
	tids_jw_free(&w);

	/* Keys are escaped like strings; NULL is null. */
	tids_jw_init(&w);
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "a\"b");
	tids_jw_string(&w, NULL);
	tids_jw_object_end(&w);
	ck_assert_str_eq(w.buf, "{\"a\\\"b\":null}");
	tids_jw_free(&w);
}
END_TEST

START_TEST(test_writer_errors)
{
	static const char *const bad_utf8[] = { "\xff", "a\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82" };
	struct tids_jw w;
	size_t len;

	for (int k = 0; k < 9; k++) {
		tids_jw_init(&w);
		switch (k) {
		case 0: tids_jw_object_begin(&w); tids_jw_int64(&w, 1); break;      /* value without key */
		case 1: tids_jw_array_begin(&w); tids_jw_key(&w, "a"); break;       /* key in an array */
		case 2: tids_jw_object_end(&w); break;                              /* nothing open */
		case 3: tids_jw_array_begin(&w); tids_jw_object_end(&w); break;     /* mismatched */
		case 4: tids_jw_object_begin(&w); tids_jw_key(&w, "a"); tids_jw_object_end(&w); break;
		case 5: tids_jw_object_begin(&w); tids_jw_key(&w, "a"); tids_jw_key(&w, "b"); break;
		case 6: tids_jw_double(&w, NAN); break;
		case 7: tids_jw_double(&w, -INFINITY); break;
		case 8: tids_jw_key(&w, "top"); break;
		}
		ck_assert_msg(w.err == TIDS_EINVAL, "case %d: err %d", k, w.err);
		/* Sticky: nothing more is written. */
		len = w.len;
		tids_jw_string(&w, "more");
		tids_jw_array_begin(&w);
		ck_assert_uint_eq(w.len, len);
		ck_assert_int_eq(w.err, TIDS_EINVAL);
		tids_jw_free(&w);
	}
	for (size_t k = 0; k < sizeof(bad_utf8) / sizeof(bad_utf8[0]); k++) {
		tids_jw_init(&w);
		tids_jw_string(&w, bad_utf8[k]);
		ck_assert_int_eq(w.err, TIDS_EINVAL);
		tids_jw_free(&w);
	}
	/* Nesting stops at the limit the reader enforces. */
	tids_jw_init(&w);
	for (int d = 0; d < TIDS_JSON_DEPTH_MAX; d++)
		tids_jw_array_begin(&w);
	ck_assert_int_eq(w.err, 0);
	tids_jw_array_begin(&w);
	ck_assert_int_eq(w.err, TIDS_EINVAL);
	tids_jw_free(&w);
}
END_TEST

START_TEST(test_writer_encodings)
{
	static const uint8_t bytes[] = { 0x00, 0xde, 0xad, 0xbe, 0xef, 0xff };
	struct tids_jw w;

	tids_jw_init(&w);
	tids_jw_array_begin(&w);
	tids_jw_hex(&w, bytes, sizeof(bytes));
	tids_jw_hex(&w, NULL, 0);
	tids_jw_base64(&w, (const uint8_t *)"foobar", 6);
	tids_jw_base64(&w, (const uint8_t *)"fo", 2);
	tids_jw_base64(&w, (const uint8_t *)"f", 1);
	tids_jw_base64(&w, NULL, 0);
	tids_jw_base64(&w, (const uint8_t *)"\xfb\xff", 2);   /* '+' and '/', not URL-safe */
	tids_jw_array_end(&w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_str_eq(w.buf, "[\"00deadbeefff\",\"\",\"Zm9vYmFy\",\"Zm8=\",\"Zg==\",\"\",\"+/8=\"]");
	tids_jw_free(&w);
}
END_TEST

static const double doubles[] = {
	0.0, -0.0, 1.0, -1.0, 100.0, 0.1, 0.2, 0.3, 1.0 / 3.0, 2.0 / 3.0, 123456.789,
	1e21, 1e22, 1e-7, 5e-324, 2.2250738585072014e-308, DBL_MAX, -DBL_MAX, DBL_MIN,
	9007199254740993.0, 4.35, 0.1 + 0.2, 1e300 * 10, M_PI, -M_E,
};

static void expect_double(double v, const char *text)
{
	struct tids_jw w;

	tids_jw_init(&w);
	tids_jw_double(&w, v);
	ck_assert_int_eq(w.err, 0);
	ck_assert_str_eq(w.buf, text);
	tids_jw_free(&w);
}

/* Writes v, reads it back, and expects the very same double (bits). */
static void double_round_trip(double v)
{
	struct tids_jw w;
	struct tids_json_doc *doc;
	double back;

	tids_jw_init(&w);
	tids_jw_double(&w, v);
	ck_assert_int_eq(w.err, 0);
	ck_assert_int_eq(tids_json_parse(w.buf, w.len, &doc, err, sizeof(err)), 0);
	ck_assert(!tids_json_is_integer(tids_json_root(doc)));
	back = tids_json_number(tids_json_root(doc));
	ck_assert_msg(memcmp(&back, &v, sizeof(v)) == 0, "%.17g wrote %s, read %.17g", v, w.buf, back);
	ck_assert_msg(w.len <= 24, "%s is not short", w.buf);
	tids_json_free(doc);
	tids_jw_free(&w);
}

START_TEST(test_writer_doubles)
{
	uint64_t x = 0x9E3779B97F4A7C15u;

	expect_double(0.1, "0.1");
	expect_double(1.0, "1.0");
	expect_double(-0.0, "-0.0");
	expect_double(100.0, "100.0");
	expect_double(1.0 / 3.0, "0.3333333333333333");
	expect_double(0.1 + 0.2, "0.30000000000000004");
	expect_double(1e21, "1e+21");
	expect_double(-123000.0, "-123000.0");
	expect_double(1e15, "1e+15");
	expect_double(0.0001, "0.0001");
	expect_double(5e-324, "5e-324");
	expect_double(1.5e-7, "1.5e-07");
	for (size_t k = 0; k < sizeof(doubles) / sizeof(doubles[0]); k++)
		double_round_trip(doubles[k]);
	/* Random bit patterns cover every exponent. */
	for (int k = 0; k < 20000; k++) {
		double v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&v, &x, sizeof(v));
		if (isfinite(v))
			double_round_trip(v);
	}
}
END_TEST

/* Records through JSON. */

static const char record_json[] =
	"{\"record_id\": \"00112233445566778899aabbccddeeff\",\n"
	" \"owner\": \"factory.sh1\", \"asset_id\": \"press-7\", \"category\": \"telemetry\",\n"
	" \"tier\": \"important\", \"origin\": \"CN-SH\", \"produced_at\": \"2026-11-29T10:00:00Z\",\n"
	" \"personal\": true, \"individuals\": 3, \"sensitive_personal\": false,\n"
	" \"schema\": \"press.telemetry/1\",\n"
	" \"fields\": [\n"
	"  {\"name\": \"spindle_rpm\", \"value\": 1200, \"tier\": \"core\", \"labels\": [\"process\", \"droppable\"]},\n"
	"  {\"name\": \"temp\", \"value\": 71.5},\n"
	"  {\"name\": \"ok\", \"value\": true},\n"
	"  {\"name\": \"operator\", \"value\": \"Zh\\u00e9ng \\\"Li\\\"\", \"labels\": [\"personal\"]},\n"
	"  {\"name\": \"count\", \"value\": {\"uint\": 18446744073709551615}},\n"
	"  {\"name\": \"big\", \"value\": 9223372036854775808},\n"
	"  {\"name\": \"low\", \"value\": -9223372036854775808},\n"
	"  {\"name\": \"raw\", \"value\": {\"blob\": \"AP8Q\"}},\n"
	"  {\"name\": \"whole\", \"value\": 2.0},\n"
	"  {\"name\": \"empty\", \"value\": {\"blob\": \"\"}}\n"
	" ]}";

static int record_from(const char *text, struct tids_record *rec)
{
	struct tids_json_doc *doc;
	int r;

	err[0] = '\0';
	r = tids_json_parse(text, strlen(text), &doc, err, sizeof(err));
	ck_assert_msg(r == 0, "%s", err);
	r = tids_json_to_record(tids_json_root(doc), rec, err, sizeof(err));
	/* The record owns its storage: the document can go first. */
	tids_json_free(doc);
	return r;
}

static void assert_same_record(const struct tids_record *a, const struct tids_record *b)
{
	ck_assert_mem_eq(a->record_id, b->record_id, TIDS_RECORD_ID_BYTES);
	ck_assert_str_eq(a->owner, b->owner);
	ck_assert_str_eq(a->asset_id, b->asset_id);
	ck_assert_str_eq(a->category, b->category);
	ck_assert_int_eq(a->tier, b->tier);
	ck_assert_str_eq(a->origin, b->origin);
	ck_assert_int_eq(a->produced_at_ms, b->produced_at_ms);
	ck_assert(a->personal == b->personal);
	ck_assert(a->sensitive_personal == b->sensitive_personal);
	ck_assert_uint_eq(a->individuals, b->individuals);
	ck_assert_str_eq(a->schema, b->schema);
	ck_assert_uint_eq(a->n_fields, b->n_fields);
	for (size_t i = 0; i < a->n_fields; i++) {
		const struct tids_field *f = &a->fields[i], *g = &b->fields[i];

		ck_assert_str_eq(f->name, g->name);
		ck_assert_int_eq(f->tier, g->tier);
		ck_assert_uint_eq(f->n_labels, g->n_labels);
		for (size_t l = 0; l < f->n_labels; l++)
			ck_assert_str_eq(f->labels[l], g->labels[l]);
		ck_assert_int_eq(f->value.kind, g->value.kind);
		switch (f->value.kind) {
		case TIDS_VALUE_TEXT:
		case TIDS_VALUE_BLOB:
			ck_assert_uint_eq(f->value.as.bytes.len, g->value.as.bytes.len);
			ck_assert_mem_eq(f->value.as.bytes.data, g->value.as.bytes.data, f->value.as.bytes.len);
			break;
		case TIDS_VALUE_REAL:   /* bits, so -0.0 and 0.0 differ */
			ck_assert_mem_eq(&f->value.as.d, &g->value.as.d, sizeof(double));
			break;
		case TIDS_VALUE_FLAG:
			ck_assert(f->value.as.b == g->value.as.b);
			break;
		case TIDS_VALUE_UINT:
			ck_assert_uint_eq(f->value.as.u, g->value.as.u);
			break;
		default:
			ck_assert_int_eq(f->value.as.i, g->value.as.i);
		}
	}
}

START_TEST(test_record_read)
{
	static const uint8_t id[] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	struct tids_record rec;
	const struct tids_field *f;

	ck_assert_msg(record_from(record_json, &rec) == 0, "%s", err);
	ck_assert_mem_eq(rec.record_id, id, sizeof(id));
	ck_assert_str_eq(rec.owner, "factory.sh1");
	ck_assert_str_eq(rec.asset_id, "press-7");
	ck_assert_str_eq(rec.category, "telemetry");
	ck_assert_int_eq(rec.tier, TIDS_TIER_IMPORTANT);
	ck_assert_str_eq(rec.origin, "CN-SH");
	ck_assert_int_eq(rec.produced_at_ms, 1795946400000);
	ck_assert(rec.personal && !rec.sensitive_personal);
	ck_assert_uint_eq(rec.individuals, 3);
	ck_assert_str_eq(rec.schema, "press.telemetry/1");
	ck_assert_uint_eq(rec.n_fields, 10);
	f = tids_record_field(&rec, "spindle_rpm");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_INT);
	ck_assert_int_eq(f->value.as.i, 1200);
	ck_assert_int_eq(f->tier, TIDS_TIER_CORE);
	ck_assert(tids_field_has_label(f, "droppable"));
	ck_assert_int_eq(tids_record_effective_tier(&rec), TIDS_TIER_CORE);
	f = tids_record_field(&rec, "temp");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_REAL);
	ck_assert(f->value.as.d == 71.5);
	ck_assert_int_eq(f->tier, TIDS_TIER_UNSET);
	ck_assert_int_eq(tids_record_field(&rec, "ok")->value.kind, TIDS_VALUE_FLAG);
	f = tids_record_field(&rec, "operator");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_TEXT);
	ck_assert_str_eq((const char *)f->value.as.bytes.data, "Zh\xc3\xa9ng \"Li\"");
	ck_assert_uint_eq(f->value.as.bytes.len, 11);
	f = tids_record_field(&rec, "count");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_UINT);
	ck_assert_uint_eq(f->value.as.u, UINT64_MAX);
	f = tids_record_field(&rec, "big");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_UINT);
	ck_assert_uint_eq(f->value.as.u, (uint64_t)INT64_MAX + 1);
	f = tids_record_field(&rec, "low");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_INT);
	ck_assert_int_eq(f->value.as.i, INT64_MIN);
	f = tids_record_field(&rec, "raw");
	ck_assert_int_eq(f->value.kind, TIDS_VALUE_BLOB);
	ck_assert_uint_eq(f->value.as.bytes.len, 3);
	ck_assert_mem_eq(f->value.as.bytes.data, "\x00\xff\x10", 3);
	ck_assert_int_eq(tids_record_field(&rec, "whole")->value.kind, TIDS_VALUE_REAL);
	ck_assert_uint_eq(tids_record_field(&rec, "empty")->value.as.bytes.len, 0);
	ck_assert_ptr_nonnull(rec.backing);
	tids_record_free(&rec);
	ck_assert_ptr_null(rec.backing);
}
END_TEST

START_TEST(test_record_round_trip)
{
	struct tids_record a, b;
	struct tids_jw w1, w2;

	ck_assert_msg(record_from(record_json, &a) == 0, "%s", err);
	tids_jw_init(&w1);
	tids_jw_record(&w1, &a);
	ck_assert_int_eq(w1.err, 0);
	ck_assert_msg(record_from(w1.buf, &b) == 0, "%s in %s", err, w1.buf);
	assert_same_record(&a, &b);
	/* And the text is a fixed point. */
	tids_jw_init(&w2);
	tids_jw_record(&w2, &b);
	ck_assert_str_eq(w1.buf, w2.buf);
	ck_assert_ptr_nonnull(strstr(w1.buf, "\"record_id\":\"00112233445566778899aabbccddeeff\""));
	ck_assert_ptr_nonnull(strstr(w1.buf, "\"produced_at\":1795946400000"));
	ck_assert_ptr_nonnull(strstr(w1.buf, "\"value\":{\"uint\":18446744073709551615}"));
	ck_assert_ptr_nonnull(strstr(w1.buf, "\"value\":{\"blob\":\"AP8Q\"}"));
	ck_assert_ptr_nonnull(strstr(w1.buf, "\"value\":2.0"));
	ck_assert_ptr_nonnull(strstr(w1.buf, "\"tier\":\"important\""));
	tids_jw_free(&w1);
	tids_jw_free(&w2);
	tids_record_free(&a);
	tids_record_free(&b);
}
END_TEST

/* A record made in C (as the wire gate would hand it) through JSON. */
START_TEST(test_record_from_struct_round_trip)
{
	static const char *const labels[] = { "personal", "process" };
	static const uint8_t blob[] = { 0, 1, 2, 0xfe, 0xff, '"', '\\' };
	struct tids_field fields[] = {
		{ .name = "i", .value = { .kind = TIDS_VALUE_INT, .as.i = INT64_MIN } },
		{ .name = "u", .value = { .kind = TIDS_VALUE_UINT, .as.u = 5 } },
		{ .name = "r", .value = { .kind = TIDS_VALUE_REAL, .as.d = -0.0 } },
		{ .name = "r2", .value = { .kind = TIDS_VALUE_REAL, .as.d = 1e-300 } },
		{ .name = "f", .value = { .kind = TIDS_VALUE_FLAG, .as.b = false } },
		{ .name = "t", .value = { .kind = TIDS_VALUE_TEXT,
					  .as.bytes = { (const uint8_t *)"tab\there\x01\xe4\xb8\xad", 12 } },
		  .tier = TIDS_TIER_GENERAL, .labels = labels, .n_labels = 2 },
		{ .name = "b", .value = { .kind = TIDS_VALUE_BLOB, .as.bytes = { blob, sizeof(blob) } } },
	};
	struct tids_record a = {
		.record_id = { 0xff, 1, 2, 3 }, .owner = "lessor:x", .asset_id = "", .category = "run_hours",
		.tier = TIDS_TIER_CORE, .origin = "DE", .produced_at_ms = 1, .schema = "",
		.fields = fields, .n_fields = sizeof(fields) / sizeof(fields[0]),
	}, b;
	struct tids_jw w;

	tids_jw_init(&w);
	tids_jw_record(&w, &a);
	ck_assert_int_eq(w.err, 0);
	ck_assert_msg(record_from(w.buf, &b) == 0, "%s in %s", err, w.buf);
	assert_same_record(&a, &b);
	ck_assert(signbit(tids_record_field(&b, "r")->value.as.d));
	tids_record_free(&b);
	tids_jw_free(&w);
}
END_TEST

START_TEST(test_record_defaults)
{
	const char *text = "{\"owner\": \"f1\", \"category\": \"energy\", \"tier\": \"general\", \"origin\": \"CN-HB\"}";
	static const uint8_t zero[TIDS_RECORD_ID_BYTES];
	struct tids_record a, b;
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ck_assert_msg(record_from(text, &a) == 0, "%s", err);
	ck_assert_msg(record_from(text, &b) == 0, "%s", err);
	ck_assert(memcmp(a.record_id, zero, sizeof(zero)) != 0);
	ck_assert(memcmp(a.record_id, b.record_id, sizeof(zero)) != 0);
	ck_assert(a.produced_at_ms >= now && a.produced_at_ms < now + 60000);
	ck_assert_str_eq(a.asset_id, "");
	ck_assert_str_eq(a.schema, "");
	ck_assert_uint_eq(a.n_fields, 0);
	tids_record_free(&a);
	tids_record_free(&b);
}
END_TEST

#define BASE "\"owner\": \"f1\", \"category\": \"energy\", \"origin\": \"CN-HB\", \"produced_at\": 5"

static const struct bad_record {
	const char *text;
	int code;
	const char *what;
} bad_records[] = {
	{ "[]", TIDS_EINVAL, "record: expected a JSON object" },
	{ "{" BASE ", \"tier\": \"general\", \"ownr\": \"x\"}", TIDS_EINVAL, "unknown key \"ownr\" in record" },
	{ "{" BASE ", \"tier\": \"secret\"}", TIDS_EINVAL,
	  "tier: unknown tier \"secret\" (expected general, important or core)" },
	{ "{" BASE ", \"tier\": 2}", TIDS_EINVAL, "tier: expected a string" },
	{ "{" BASE "}", TIDS_ENOTIER, "no tier" },
	{ "{\"tier\": \"core\", \"category\": \"energy\", \"origin\": \"CN-HB\"}", TIDS_EMISSING, "owner missing" },
	{ "{" BASE ", \"tier\": \"core\", \"owner\": 7}", TIDS_EINVAL, "duplicate key \"owner\"" },  /* the parser's */
	{ "{\"owner\": 7}", TIDS_EINVAL, "owner: expected a string" },
	{ "{\"record_id\": \"0011\"}", TIDS_EINVAL, "record_id: expected 32 hex digits" },
	{ "{\"record_id\": \"00112233445566778899aabbccddeefg\"}", TIDS_EINVAL, "record_id: expected 32 hex digits" },
	{ "{\"produced_at\": \"2026-02-30T00:00:00Z\"}", TIDS_EINVAL,
	  "produced_at: \"2026-02-30T00:00:00Z\" is not a valid time" },
	{ "{\"produced_at\": 1.5}", TIDS_EINVAL, "produced_at: expected milliseconds since 1970" },
	{ "{\"personal\": 1}", TIDS_EINVAL, "personal: expected true or false" },
	{ "{\"individuals\": -1}", TIDS_EINVAL, "individuals: expected an integer from 0 to" },
	{ "{\"fields\": {}}", TIDS_EINVAL, "fields: expected an array" },
	{ "{\"fields\": [1]}", TIDS_EINVAL, "fields[0]: expected an object" },
	{ "{\"fields\": [{\"name\": \"a\", \"value\": 1}, {\"name\": \"b\", \"valu\": 1}]}", TIDS_EINVAL,
	  "fields[1]: unknown key \"valu\"" },
	{ "{\"fields\": [{}, {}, {\"name\": \"c\", \"value\": null}]}", TIDS_EINVAL,
	  "fields[2].value: expected a number, string, bool or {\"uint\"|\"blob\": ...}" },
	{ "{\"fields\": [{\"value\": [1]}]}", TIDS_EINVAL, "fields[0].value: expected a number, string, bool" },
	{ "{\"fields\": [{\"value\": {\"int\": 1}}]}", TIDS_EINVAL, "fields[0].value: expected a number" },
	{ "{\"fields\": [{\"value\": {\"uint\": 1, \"blob\": \"\"}}]}", TIDS_EINVAL, "fields[0].value: expected" },
	{ "{\"fields\": [{\"value\": {\"uint\": -1}}]}", TIDS_EINVAL,
	  "fields[0].value.uint: expected an integer from 0 to 18446744073709551615" },
	{ "{\"fields\": [{\"value\": {\"uint\": 1.0}}]}", TIDS_EINVAL, "fields[0].value.uint: expected" },
	{ "{\"fields\": [{\"value\": {\"blob\": \"AP8\"}}]}", TIDS_EINVAL, "fields[0].value.blob: not valid base64" },
	{ "{\"fields\": [{\"value\": {\"blob\": \"AP-_\"}}]}", TIDS_EINVAL, "fields[0].value.blob: not valid base64" },
	{ "{\"fields\": [{\"value\": {\"blob\": \"AP8Q \"}}]}", TIDS_EINVAL, "fields[0].value.blob: not valid base64" },
	{ "{\"fields\": [{\"value\": {\"blob\": 1}}]}", TIDS_EINVAL, "fields[0].value.blob: expected a base64 string" },
	{ "{\"fields\": [{\"value\": 18446744073709551616}]}", TIDS_EINVAL, "fields[0].value: integer out of range" },
	{ "{\"fields\": [{\"value\": -9223372036854775809}]}", TIDS_EINVAL, "fields[0].value: integer out of range" },
	{ "{\"fields\": [{\"value\": 1e999}]}", TIDS_EINVAL, "fields[0].value: number too large" },
	{ "{\"fields\": [{\"name\": 1}]}", TIDS_EINVAL, "fields[0].name: expected a string" },
	{ "{\"fields\": [{\"tier\": \"top\"}]}", TIDS_EINVAL, "fields[0].tier: unknown tier \"top\"" },
	{ "{\"fields\": [{\"labels\": \"x\"}]}", TIDS_EINVAL, "fields[0].labels: expected an array of strings" },
	{ "{\"fields\": [{\"labels\": [\"a\", 2]}]}", TIDS_EINVAL, "fields[0].labels[1]: expected a string" },
	{ "{\"fields\": [{\"labels\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}]}", TIDS_ETOOMANY,
	  "fields[0].labels: 9 labels, at most 8" },
	/* Shape is right; validation (shared with the wire gate) refuses. */
	{ "{" BASE ", \"tier\": \"core\", \"fields\": [{\"name\": \"a\"}]}", TIDS_EMISSING, "no value" },
	{ "{" BASE ", \"tier\": \"core\", \"fields\": [{\"name\": \"a\", \"value\": 1}, {\"name\": \"a\", \"value\": 2}]}",
	  TIDS_EDUP, "repeats field 0" },
	{ "{\"owner\": \"f1\", \"category\": \"energy\", \"origin\": \"shanghai\", \"tier\": \"core\"}",
	  TIDS_EINVAL, "not a jurisdiction" },
};

START_TEST(test_record_errors)
{
	const struct bad_record *b = &bad_records[_i];
	static const struct tids_record zero;
	struct tids_json_doc *doc;
	struct tids_record rec;
	int r;

	memset(&rec, 0xa5, sizeof(rec));
	err[0] = '\0';
	r = tids_json_parse(b->text, strlen(b->text), &doc, err, sizeof(err));
	if (r == 0) {
		r = tids_json_to_record(tids_json_root(doc), &rec, err, sizeof(err));
		tids_json_free(doc);
		ck_assert_msg(memcmp(&rec, &zero, sizeof(rec)) == 0, "%s: record not zeroed", b->text);
	}
	ck_assert_msg(r == b->code, "%s: got %d (%s), expected %d", b->text, r, err, b->code);
	ck_assert_msg(strstr(err, b->what) != NULL, "%s: message '%s' lacks '%s'", b->text, err, b->what);
}
END_TEST

START_TEST(test_record_too_many_fields)
{
	size_t cap = 16 * (TIDS_FIELDS_MAX + 2), n = 0;
	char *s = malloc(cap);
	struct tids_record rec;

	n += (size_t)snprintf(s + n, cap - n, "{\"fields\": [");
	for (int i = 0; i <= TIDS_FIELDS_MAX; i++)
		n += (size_t)snprintf(s + n, cap - n, "%s{}", i ? "," : "");
	snprintf(s + n, cap - n, "]}");
	ck_assert_int_eq(record_from(s, &rec), TIDS_ETOOMANY);
	ck_assert_ptr_nonnull(strstr(err, "fields: 257 fields, at most 256"));
	free(s);
}
END_TEST

/* RFC 3339 times. */

START_TEST(test_time)
{
	static const struct {
		const char *text;
		int ok;
		int64_t ms;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "2026-11-29T10:00:00Z", 1, 1795946400000 },
		{ "2026-11-29t10:00:00z", 1, 1795946400000 },
		{ "2026-11-29T18:00:00+08:00", 1, 1795946400000 },
		{ "2026-11-29T04:30:00-05:30", 1, 1795946400000 },
		{ "2026-11-29T10:00:00-00:00", 1, 1795946400000 },
		{ "2026-11-29T10:00:00.5Z", 1, 1795946400500 },
		{ "2026-11-29T10:00:00.05Z", 1, 1795946400050 },
		{ "2026-11-29T10:00:00.123Z", 1, 1795946400123 },
		{ "2026-11-29T10:00:00.123999999Z", 1, 1795946400123 },
		{ "1969-12-31T23:59:59.999Z", 1, -1 },
		{ "2000-02-29T00:00:00Z", 1, 951782400000 },
		{ "2024-02-29T12:34:56Z", 1, 1709210096000 },
		{ "0001-01-01T00:00:00Z", 1, -62135596800000 },
		{ "9999-12-31T23:59:59Z", 1, 253402300799000 },
		{ "2023-02-29T00:00:00Z", 0, 0 },
		{ "1900-02-29T00:00:00Z", 0, 0 },
		{ "2026-02-30T00:00:00Z", 0, 0 },
		{ "2026-04-31T00:00:00Z", 0, 0 },
		{ "2026-13-01T00:00:00Z", 0, 0 },
		{ "2026-00-01T00:00:00Z", 0, 0 },
		{ "2026-01-00T00:00:00Z", 0, 0 },
		{ "2026-01-01T24:00:00Z", 0, 0 },
		{ "2026-01-01T23:60:00Z", 0, 0 },
		{ "2026-12-31T23:59:60Z", 0, 0 },
		{ "2026-01-01T00:00:00", 0, 0 },
		{ "2026-01-01 00:00:00Z", 0, 0 },
		{ "2026-01-01T00:00:00.Z", 0, 0 },
		{ "2026-01-01T00:00:00.1234567890Z", 0, 0 },
		{ "2026-01-01T00:00:00+8:00", 0, 0 },
		{ "2026-01-01T00:00:00+24:00", 0, 0 },
		{ "2026-01-01T00:00:00+08:60", 0, 0 },
		{ "2026-01-01T00:00:00+0800", 0, 0 },
		{ "2026-01-01T00:00:00Zjunk", 0, 0 },
		{ "2026-1-01T00:00:00Z", 0, 0 },
		{ "2026-01", 0, 0 },
		{ "", 0, 0 },
		{ "+2026-01-01T00:00:00Z", 0, 0 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int64_t ms = 42;
		int r = tids_json_parse_time(cases[k].text, &ms);

		ck_assert_msg((r == 0) == cases[k].ok, "%s: %d", cases[k].text, r);
		if (cases[k].ok)
			ck_assert_msg(ms == cases[k].ms, "%s: %lld", cases[k].text, (long long)ms);
		else
			ck_assert_int_eq(r, TIDS_EINVAL);
	}
	ck_assert_int_eq(tids_json_parse_time(NULL, &(int64_t){ 0 }), TIDS_EINVAL);
}
END_TEST

/* Every day from 1600 to 2400 against a simple day counter. */
START_TEST(test_time_calendar)
{
	int64_t days = -135140, ms;   /* 1600-01-01 */
	char buf[64];

	for (int y = 1600; y < 2400; y++) {
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

		for (int m = 1; m <= 12; m++) {
			int dim = (int[]){ 31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }[m - 1];

			for (int d = 1; d <= dim; d++, days++) {
				snprintf(buf, sizeof(buf), "%04d-%02d-%02dT00:00:00Z", y, m, d);
				ck_assert_int_eq(tids_json_parse_time(buf, &ms), 0);
				ck_assert_msg(ms == days * 86400000, "%s", buf);
			}
			snprintf(buf, sizeof(buf), "%04d-%02d-%02dT00:00:00Z", y, m, dim + 1);
			ck_assert_int_eq(tids_json_parse_time(buf, &ms), TIDS_EINVAL);
		}
	}
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc;

	tc = tcase_create("reader");
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_tree);
	tcase_add_test(tc, test_null_safe);
	tcase_add_loop_test(tc, test_rejects, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_reject_nul_bytes);
	tcase_add_test(tc, test_text_not_terminated);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_depth_objects);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_big_object_lookup);
	tcase_add_test(tc, test_string_escapes);
	tcase_add_test(tc, test_integers);
	tcase_add_test(tc, test_reals);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_add_test(tc, test_writer_structure);
	tcase_add_test(tc, test_writer_escaping);
	tcase_add_test(tc, test_writer_errors);
	tcase_add_test(tc, test_writer_encodings);
	tcase_add_test(tc, test_writer_doubles);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("record");
	tcase_add_test(tc, test_record_read);
	tcase_add_test(tc, test_record_round_trip);
	tcase_add_test(tc, test_record_from_struct_round_trip);
	tcase_add_test(tc, test_record_defaults);
	tcase_add_loop_test(tc, test_record_errors, 0, (int)(sizeof(bad_records) / sizeof(bad_records[0])));
	tcase_add_test(tc, test_record_too_many_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("time");
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_time_calendar);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
