/*
 * libFuzzer target for the JSON gate: parses arbitrary bytes and, when they
 * parse, walks the whole tree, writes it back and reads that again, and
 * pushes objects through tids_json_to_record and back (which must be a
 * fixed point). Any broken invariant traps.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/json.h"
#include "tids/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Reads every accessor of v and its children, and writes v to w. */
static void walk(const struct tids_json *v, struct tids_jw *w, unsigned depth)
{
	int64_t i;
	uint64_t u;
	double d;
	size_t n = tids_json_len(v);

	CHECK(depth <= TIDS_JSON_DEPTH_MAX);
	CHECK(tids_json_line(v) >= 1 && tids_json_column(v) >= 1);
	switch (tids_json_type(v)) {
	case TIDS_JSON_NULL:
		tids_jw_null(w);
		break;
	case TIDS_JSON_BOOL:
		tids_jw_bool(w, tids_json_bool(v));
		break;
	case TIDS_JSON_NUMBER:
		d = tids_json_number(v);
		if (tids_json_int64(v, &i) == 0) {
			CHECK(tids_json_is_integer(v));
			tids_jw_int64(w, i);
		} else if (tids_json_uint64(v, &u) == 0) {
			CHECK(u > INT64_MAX);
			tids_jw_uint64(w, u);
		} else if (isfinite(d)) {
			tids_jw_double(w, d);
		} else {
			tids_jw_null(w);   /* 1e999: finite only as text */
		}
		break;
	case TIDS_JSON_STRING:
		CHECK(tids_json_string(v) != NULL);
		CHECK(strlen(tids_json_string(v)) == tids_json_string_len(v));
		tids_jw_string_len(w, tids_json_string(v), tids_json_string_len(v));
		break;
	case TIDS_JSON_ARRAY:
		tids_jw_array_begin(w);
		for (size_t k = 0; k < n; k++)
			walk(tids_json_at(v, k), w, depth + 1);
		CHECK(tids_json_at(v, n) == NULL);
		tids_jw_array_end(w);
		break;
	case TIDS_JSON_OBJECT:
		tids_jw_object_begin(w);
		for (size_t k = 0; k < n; k++) {
			const char *key = tids_json_key_at(v, k);

			/* Keys are unique, so a lookup finds this very member. */
			CHECK(tids_json_get(v, key) == tids_json_at(v, k));
			tids_jw_key(w, key);
			walk(tids_json_at(v, k), w, depth + 1);
		}
		CHECK(tids_json_key_at(v, n) == NULL);
		tids_jw_object_end(w);
		break;
	}
}

/* Same shape, strings and keys. */
static void same(const struct tids_json *a, const struct tids_json *b)
{
	size_t n = tids_json_len(a);

	CHECK(n == tids_json_len(b));
	if (tids_json_type(a) == TIDS_JSON_NUMBER) {
		CHECK(tids_json_type(b) == TIDS_JSON_NUMBER || tids_json_type(b) == TIDS_JSON_NULL);
		return;
	}
	CHECK(tids_json_type(a) == tids_json_type(b));
	CHECK(tids_json_bool(a) == tids_json_bool(b));
	CHECK(tids_json_string_len(a) == tids_json_string_len(b));
	if (tids_json_type(a) == TIDS_JSON_STRING)
		CHECK(memcmp(tids_json_string(a), tids_json_string(b), tids_json_string_len(a)) == 0);
	for (size_t k = 0; k < n; k++) {
		if (tids_json_type(a) == TIDS_JSON_OBJECT)
			CHECK(strcmp(tids_json_key_at(a, k), tids_json_key_at(b, k)) == 0);
		same(tids_json_at(a, k), tids_json_at(b, k));
	}
}

static void record_round_trip(const struct tids_json *obj)
{
	struct tids_record rec, back;
	struct tids_json_doc *doc;
	struct tids_jw w1, w2;
	char err[256];

	if (tids_json_to_record(obj, &rec, err, sizeof(err)) != 0) {
		CHECK(rec.backing == NULL && rec.fields == NULL);
		return;
	}
	tids_jw_init(&w1);
	tids_jw_init(&w2);
	tids_jw_record(&w1, &rec);
	CHECK(w1.err == 0);
	CHECK(tids_json_parse(w1.buf, w1.len, &doc, err, sizeof(err)) == 0);
	CHECK(tids_json_to_record(tids_json_root(doc), &back, err, sizeof(err)) == 0);
	tids_jw_record(&w2, &back);
	CHECK(w2.err == 0 && w1.len == w2.len && memcmp(w1.buf, w2.buf, w1.len) == 0);
	tids_json_free(doc);
	tids_record_free(&back);
	tids_record_free(&rec);
	tids_jw_free(&w1);
	tids_jw_free(&w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_json_doc *doc, *again;
	const struct tids_json *root;
	struct tids_jw w;
	char err[256];

	if (tids_json_parse((const char *)data, size, &doc, err, sizeof(err)) != 0) {
		CHECK(doc == NULL && strncmp(err, "line ", 5) == 0);
		return 0;
	}
	root = tids_json_root(doc);
	tids_jw_init(&w);
	walk(root, &w, 0);
	CHECK(w.err == 0);
	/* What the writer writes, the reader reads. */
	CHECK(tids_json_parse(w.buf, w.len, &again, err, sizeof(err)) == 0);
	same(root, tids_json_root(again));
	tids_json_free(again);
	tids_jw_free(&w);
	if (tids_json_type(root) == TIDS_JSON_OBJECT)
		record_round_trip(root);
	tids_json_free(doc);
	return 0;
}
