/*
 * Records from JSON, the form `tidsctl publish` reads. Strict: an unknown
 * key is an error, so a typo cannot silently drop a label or a tier; and it
 * ends in the same validation as the wire gate. json_record_write.c writes
 * exactly what this reads.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "tids/error.h"
#include "json_impl.h"

struct build {
	struct tids_json_arena *arena;
	char *err;
	size_t errlen;
};

#define UINT_RANGE "an integer from 0 to 18446744073709551615"
#define VALUE_FORMS "a number, string, bool or {\"uint\"|\"blob\": ...}"
#define TIME_FORMS "milliseconds since 1970 or a time like \"2026-11-29T10:00:00Z\""

static int no_memory(struct build *b)
{
	return tids_fail(b->err, b->errlen, TIDS_ENOMEM, "out of memory");
}

/* A copy of string v that the record owns; path names v in errors. */
static int copy_text(struct build *b, const struct tids_json *v, const char *path,
		     const char **out)
{
	if (tids_json_type(v) != TIDS_JSON_STRING)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL, "%s: expected a string", path);
	*out = tids_json_arena_strndup(b->arena, tids_json_string(v), tids_json_string_len(v));
	return *out != NULL ? 0 : no_memory(b);
}

static int read_tier(struct build *b, const struct tids_json *v, const char *path,
		     enum tids_tier *out)
{
	char buf[40];

	if (tids_json_type(v) != TIDS_JSON_STRING)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL, "%s: expected a string", path);
	*out = tids_tier_parse(tids_json_string(v));
	if (*out == TIDS_TIER_UNSET)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL,
				 "%s: unknown tier \"%s\" (expected general, important or core)",
				 path, tids_json_printable(tids_json_string(v), buf));
	return 0;
}

static int read_blob(struct build *b, const struct tids_json *v, size_t i,
		     struct tids_value *out)
{
	const char *b64 = tids_json_string(v);
	size_t b64_len = tids_json_string_len(v), max, len;
	unsigned char *bin;

	if (b64 == NULL)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL,
				 "fields[%zu].value.blob: expected a base64 string", i);
	max = b64_len / 4 * 3 + 3;
	bin = (unsigned char *)tids_json_arena_bytes(b->arena, max);
	if (bin == NULL)
		return no_memory(b);
	/* No b64_end: libsodium then fails unless it consumes all the text. */
	if (sodium_base642bin(bin, max, b64, b64_len, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL,
				 "fields[%zu].value.blob: not valid base64 (standard alphabet, with padding)", i);
	out->kind = TIDS_VALUE_BLOB;
	out->as.bytes.data = bin;
	out->as.bytes.len = len;
	return 0;
}

/* {"uint": N} or {"blob": "..."}: the forms plain JSON cannot tell apart. */
static int read_tagged(struct build *b, const struct tids_json *v, size_t i,
		       struct tids_value *out)
{
	const char *tag = tids_json_key_at(v, 0);

	if (tids_json_len(v) == 1 && strcmp(tag, "uint") == 0) {
		if (tids_json_uint64(tids_json_at(v, 0), &out->as.u) < 0)
			return tids_fail(b->err, b->errlen, TIDS_EINVAL,
					 "fields[%zu].value.uint: expected " UINT_RANGE, i);
		out->kind = TIDS_VALUE_UINT;
		return 0;
	}
	if (tids_json_len(v) == 1 && strcmp(tag, "blob") == 0)
		return read_blob(b, tids_json_at(v, 0), i, out);
	return tids_fail(b->err, b->errlen, TIDS_EINVAL, "fields[%zu].value: expected " VALUE_FORMS, i);
}

static int read_value(struct build *b, const struct tids_json *v, size_t i,
		      struct tids_value *out)
{
	const char *text;

	switch (tids_json_type(v)) {
	case TIDS_JSON_NUMBER:
		if (!tids_json_is_integer(v)) {
			out->kind = TIDS_VALUE_REAL;
			out->as.d = tids_json_number(v);
			if (!isfinite(out->as.d))
				return tids_fail(b->err, b->errlen, TIDS_EINVAL,
						 "fields[%zu].value: number too large for a double", i);
		} else if (tids_json_int64(v, &out->as.i) == 0) {
			out->kind = TIDS_VALUE_INT;
		} else if (tids_json_uint64(v, &out->as.u) == 0) {
			out->kind = TIDS_VALUE_UINT;   /* past INT64_MAX, still exact */
		} else {
			return tids_fail(b->err, b->errlen, TIDS_EINVAL,
					 "fields[%zu].value: integer out of range (-2^63 to 2^64-1)", i);
		}
		return 0;
	case TIDS_JSON_BOOL:
		out->kind = TIDS_VALUE_FLAG;
		out->as.b = tids_json_bool(v);
		return 0;
	case TIDS_JSON_STRING:
		text = tids_json_arena_strndup(b->arena, tids_json_string(v), tids_json_string_len(v));
		if (text == NULL)
			return no_memory(b);
		out->kind = TIDS_VALUE_TEXT;
		out->as.bytes.data = (const uint8_t *)text;
		out->as.bytes.len = tids_json_string_len(v);
		return 0;
	case TIDS_JSON_OBJECT:
		return read_tagged(b, v, i, out);
	default:
		return tids_fail(b->err, b->errlen, TIDS_EINVAL, "fields[%zu].value: expected " VALUE_FORMS, i);
	}
}

static int read_labels(struct build *b, const struct tids_json *v, size_t i,
		       struct tids_field *f)
{
	size_t n = tids_json_len(v);
	const char **labels;
	char path[48];
	int r;

	if (tids_json_type(v) != TIDS_JSON_ARRAY)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL,
				 "fields[%zu].labels: expected an array of strings", i);
	if (n > TIDS_LABELS_MAX)
		return tids_fail(b->err, b->errlen, TIDS_ETOOMANY,
				 "fields[%zu].labels: %zu labels, at most %d", i, n, TIDS_LABELS_MAX);
	labels = tids_json_arena_alloc(b->arena, (n ? n : 1) * sizeof(*labels));
	if (labels == NULL)
		return no_memory(b);
	for (size_t l = 0; l < n; l++) {
		snprintf(path, sizeof(path), "fields[%zu].labels[%zu]", i, l);
		r = copy_text(b, tids_json_at(v, l), path, &labels[l]);
		if (r < 0)
			return r;
	}
	f->labels = labels;
	f->n_labels = n;
	return 0;
}

static int read_field(struct build *b, const struct tids_json *v, size_t i,
		      struct tids_field *f)
{
	char path[48], buf[40];
	int r = 0;

	f->name = "";
	if (tids_json_type(v) != TIDS_JSON_OBJECT)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL, "fields[%zu]: expected an object", i);
	for (size_t k = 0; k < tids_json_len(v) && r == 0; k++) {
		const char *key = tids_json_key_at(v, k);
		const struct tids_json *m = tids_json_at(v, k);

		snprintf(path, sizeof(path), "fields[%zu].%s", i, key);
		if (strcmp(key, "name") == 0)
			r = copy_text(b, m, path, &f->name);
		else if (strcmp(key, "value") == 0)
			r = read_value(b, m, i, &f->value);
		else if (strcmp(key, "tier") == 0)
			r = read_tier(b, m, path, &f->tier);
		else if (strcmp(key, "labels") == 0)
			r = read_labels(b, m, i, f);
		else
			r = tids_fail(b->err, b->errlen, TIDS_EINVAL,
				      "fields[%zu]: unknown key \"%s\" (expected name, value, tier or labels)",
				      i, tids_json_printable(key, buf));
	}
	return r;
}

static int read_fields(struct build *b, const struct tids_json *v, struct tids_record *rec)
{
	size_t n = tids_json_len(v);
	struct tids_field *fields;
	int r;

	if (tids_json_type(v) != TIDS_JSON_ARRAY)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL, "fields: expected an array");
	/* Checked before allocating: validation would refuse it later anyway. */
	if (n > TIDS_FIELDS_MAX)
		return tids_fail(b->err, b->errlen, TIDS_ETOOMANY, "fields: %zu fields, at most %d",
				 n, TIDS_FIELDS_MAX);
	fields = tids_json_arena_alloc(b->arena, (n ? n : 1) * sizeof(*fields));
	if (fields == NULL)
		return no_memory(b);
	memset(fields, 0, (n ? n : 1) * sizeof(*fields));
	rec->fields = fields;
	rec->n_fields = n;
	for (size_t i = 0; i < n; i++) {
		r = read_field(b, tids_json_at(v, i), i, &fields[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_record_id(struct build *b, const struct tids_json *v, struct tids_record *rec)
{
	const char *hex = tids_json_string(v);
	size_t len = 0;

	if (hex == NULL || tids_json_string_len(v) != 2 * TIDS_RECORD_ID_BYTES ||
	    sodium_hex2bin(rec->record_id, sizeof(rec->record_id), hex, 2 * TIDS_RECORD_ID_BYTES,
			   NULL, &len, NULL) != 0 || len != TIDS_RECORD_ID_BYTES)
		return tids_fail(b->err, b->errlen, TIDS_EINVAL, "record_id: expected %d hex digits",
				 2 * TIDS_RECORD_ID_BYTES);
	return 0;
}

static int read_time(struct build *b, const struct tids_json *v, int64_t *out)
{
	char buf[40];

	if (tids_json_type(v) == TIDS_JSON_STRING) {
		if (tids_json_parse_time(tids_json_string(v), out) == 0)
			return 0;
		return tids_fail(b->err, b->errlen, TIDS_EINVAL,
				 "produced_at: \"%s\" is not a valid time; expected " TIME_FORMS,
				 tids_json_printable(tids_json_string(v), buf));
	}
	if (tids_json_int64(v, out) == 0)
		return 0;
	return tids_fail(b->err, b->errlen, TIDS_EINVAL, "produced_at: expected " TIME_FORMS);
}

enum member_kind { M_ID, M_TEXT, M_TIER, M_TIME, M_FLAG, M_COUNT, M_FIELDS };

static const struct member {
	const char *name;
	enum member_kind kind;
	size_t offset;
} members[] = {
	{ "record_id", M_ID, 0 },
	{ "owner", M_TEXT, offsetof(struct tids_record, owner) },
	{ "asset_id", M_TEXT, offsetof(struct tids_record, asset_id) },
	{ "category", M_TEXT, offsetof(struct tids_record, category) },
	{ "tier", M_TIER, offsetof(struct tids_record, tier) },
	{ "origin", M_TEXT, offsetof(struct tids_record, origin) },
	{ "produced_at", M_TIME, offsetof(struct tids_record, produced_at_ms) },
	{ "personal", M_FLAG, offsetof(struct tids_record, personal) },
	{ "individuals", M_COUNT, offsetof(struct tids_record, individuals) },
	{ "sensitive_personal", M_FLAG, offsetof(struct tids_record, sensitive_personal) },
	{ "schema", M_TEXT, offsetof(struct tids_record, schema) },
	{ "fields", M_FIELDS, 0 },
};

static int read_member(struct build *b, const struct member *m, const struct tids_json *v,
		       struct tids_record *rec)
{
	void *at = (char *)rec + m->offset;

	switch (m->kind) {
	case M_ID:
		return read_record_id(b, v, rec);
	case M_TEXT:
		return copy_text(b, v, m->name, (const char **)at);
	case M_TIER:
		return read_tier(b, v, m->name, (enum tids_tier *)at);
	case M_TIME:
		return read_time(b, v, (int64_t *)at);
	case M_FLAG:
		if (tids_json_type(v) != TIDS_JSON_BOOL)
			return tids_fail(b->err, b->errlen, TIDS_EINVAL, "%s: expected true or false", m->name);
		*(bool *)at = tids_json_bool(v);
		return 0;
	case M_COUNT:
		if (tids_json_uint64(v, (uint64_t *)at) < 0)
			return tids_fail(b->err, b->errlen, TIDS_EINVAL, "%s: expected " UINT_RANGE, m->name);
		return 0;
	case M_FIELDS:
		return read_fields(b, v, rec);
	}
	return TIDS_EINVAL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tids_json_to_record(const struct tids_json *obj, struct tids_record *rec,
			char *err, size_t errlen)
{
	struct build b = { .err = err, .errlen = errlen };
	bool have_id = false, have_time = false;
	char buf[40];
	size_t k, m;
	int r;

	memset(rec, 0, sizeof(*rec));
	if (tids_json_type(obj) != TIDS_JSON_OBJECT)
		return tids_fail(err, errlen, TIDS_EINVAL, "record: expected a JSON object");
	b.arena = tids_json_arena_new(1024);
	if (b.arena == NULL)
		return no_memory(&b);
	/* The record owns the arena from here: tids_record_free cleans up. */
	rec->backing = b.arena;
	rec->release = tids_json_arena_free;
	rec->owner = rec->asset_id = rec->category = rec->origin = rec->schema = "";
	for (k = 0; k < tids_json_len(obj); k++) {
		const char *key = tids_json_key_at(obj, k);

		for (m = 0; m < sizeof(members) / sizeof(members[0]); m++)
			if (strcmp(key, members[m].name) == 0)
				break;
		if (m == sizeof(members) / sizeof(members[0])) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "unknown key \"%s\" in record",
				      tids_json_printable(key, buf));
			goto out;
		}
		r = read_member(&b, &members[m], tids_json_at(obj, k), rec);
		if (r < 0)
			goto out;
		have_id |= members[m].kind == M_ID;
		have_time |= members[m].kind == M_TIME;
	}
	if (!have_id) {
		if (sodium_init() < 0) {
			r = tids_fail(err, errlen, TIDS_ECRYPTO, "record_id: libsodium failed to start");
			goto out;
		}
		randombytes_buf(rec->record_id, sizeof(rec->record_id));
	}
	if (!have_time)
		rec->produced_at_ms = now_ms();
	r = tids_record_validate(rec, err, errlen);
out:
	if (r < 0)
		tids_record_free(rec);
	return r;
}
