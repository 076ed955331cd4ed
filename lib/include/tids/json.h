/*
 * A strict, bounded JSON reader and a small writer, for the CLI's JSON-lines
 * input and output and for policy scenarios. JSON is a trust boundary
 * (records typed by users, files from elsewhere): the reader enforces RFC
 * 8259, a nesting limit and a size limit, and reports line:column on error.
 */
#ifndef TIDS_JSON_H
#define TIDS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/record.h"

#define TIDS_JSON_DEPTH_MAX 64
#define TIDS_JSON_TEXT_MAX (16u << 20)

enum tids_json_type {
	TIDS_JSON_NULL,
	TIDS_JSON_BOOL,
	TIDS_JSON_NUMBER,
	TIDS_JSON_STRING,
	TIDS_JSON_ARRAY,
	TIDS_JSON_OBJECT,
};

struct tids_json;      /* a node; lives as long as its document */
struct tids_json_doc;  /* owns every node and string (one arena) */

/* Parses text (need not be NUL-terminated). On error returns TIDS_EINVAL or
 * TIDS_ETOOBIG (TIDS_ENOMEM if memory runs out) and writes
 * "line L, column C: what" into err; columns count characters, from 1.
 * Duplicate object keys are an error. */
__attribute__((warn_unused_result))
int tids_json_parse(const char *text, size_t len, struct tids_json_doc **out,
		    char *err, size_t errlen);
void tids_json_free(struct tids_json_doc *doc);
const struct tids_json *tids_json_root(const struct tids_json_doc *doc);

enum tids_json_type tids_json_type(const struct tids_json *v);
unsigned tids_json_line(const struct tids_json *v);   /* where v starts, from 1 */
unsigned tids_json_column(const struct tids_json *v);

/* Objects and arrays. tids_json_get returns NULL when key is absent or v is
 * not an object; tids_json_len is 0 for scalars. */
const struct tids_json *tids_json_get(const struct tids_json *obj, const char *key);
size_t tids_json_len(const struct tids_json *v);
const struct tids_json *tids_json_at(const struct tids_json *v, size_t i);
const char *tids_json_key_at(const struct tids_json *obj, size_t i);

/* Scalars. Strings are NUL-terminated UTF-8 (\u0000 is refused).
 * A number is an integer when written without fraction or exponent (so 1.0
 * and 1e3 are not: a record's real field stays real through JSON);
 * tids_json_int64/uint64 succeed only for integers in range. */
const char *tids_json_string(const struct tids_json *v);  /* NULL if not a string */
size_t tids_json_string_len(const struct tids_json *v);
bool tids_json_bool(const struct tids_json *v);
double tids_json_number(const struct tids_json *v);
bool tids_json_is_integer(const struct tids_json *v);
__attribute__((warn_unused_result))
int tids_json_int64(const struct tids_json *v, int64_t *out);
__attribute__((warn_unused_result))
int tids_json_uint64(const struct tids_json *v, uint64_t *out);

/* Writer: appends to a growing buffer; the first failure sticks in err and
 * later calls do nothing, so a caller checks once at the end. Commas and
 * quoting are handled; keys are written with tids_jw_key before a value.
 * Misuse (a value without its key in an object, a key in an array, an
 * unbalanced end, nesting past TIDS_JSON_DEPTH_MAX) is TIDS_EINVAL, as are
 * NaN, infinities and invalid UTF-8. buf (NULL until the first write)
 * stays NUL-terminated. Successive top-level values are separated by a
 * newline (JSON lines). */
struct tids_jw {
	char *buf;
	size_t len;
	size_t cap;
	int err;
	unsigned depth;
	bool need_comma[TIDS_JSON_DEPTH_MAX + 1];
	bool in_object[TIDS_JSON_DEPTH_MAX + 1];
	bool after_key;
};

void tids_jw_init(struct tids_jw *w);
void tids_jw_reset(struct tids_jw *w);   /* keep the buffer, drop the content */
void tids_jw_free(struct tids_jw *w);
void tids_jw_object_begin(struct tids_jw *w);
void tids_jw_object_end(struct tids_jw *w);
void tids_jw_array_begin(struct tids_jw *w);
void tids_jw_array_end(struct tids_jw *w);
void tids_jw_key(struct tids_jw *w, const char *key);
void tids_jw_string(struct tids_jw *w, const char *s);
void tids_jw_string_len(struct tids_jw *w, const char *s, size_t len);
void tids_jw_int64(struct tids_jw *w, int64_t v);
void tids_jw_uint64(struct tids_jw *w, uint64_t v);
void tids_jw_double(struct tids_jw *w, double v);   /* shortest round-trip form */
void tids_jw_bool(struct tids_jw *w, bool v);
void tids_jw_null(struct tids_jw *w);
void tids_jw_hex(struct tids_jw *w, const uint8_t *data, size_t len);   /* as a string */
void tids_jw_base64(struct tids_jw *w, const uint8_t *data, size_t len); /* as a string */

/*
 * Records as JSON, the form `tidsctl publish` reads and `tidsctl subscribe`
 * writes:
 *
 *   {"record_id": "32 hex digits" (optional: random if absent),
 *    "owner": "factory.sh1", "asset_id": "press-7", "category": "telemetry",
 *    "tier": "general|important|core", "origin": "CN-SH",
 *    "produced_at": 1764400000000 | "2026-11-29T10:00:00Z" (optional: now),
 *    "personal": false, "individuals": 0, "sensitive_personal": false,
 *    "schema": "press.telemetry/1",
 *    "fields": [{"name": "spindle_rpm", "value": 1200,
 *                "tier": "important", "labels": ["process"]}, ...]}
 *
 * A field value is a JSON integer (int), non-integral number (real), bool
 * (flag), string (text), {"uint": N}, or {"blob": "base64"}. The record is
 * then validated by the same rules as the wire gate (tids_record_validate),
 * so a JSON record the CLI accepts is one the daemon accepts.
 */
__attribute__((warn_unused_result))
int tids_json_to_record(const struct tids_json *obj, struct tids_record *rec,
			char *err, size_t errlen);
void tids_jw_record(struct tids_jw *w, const struct tids_record *rec);

/*
 * Obligations (tids.v1.Obligations, tids/wire.h) as one JSON object, the
 * value after a key: the only writer of obligations, for audit entries,
 * deliveries and explain alike. Only what is there is written:
 *
 *   {"retain_until_ms": 1767225599999, "redacted": ["operator_id"],
 *    "aggregate": {"function": "sum", "field": "kwh", "window_ms": 0,
 *                  "window_months": 1, "by": ["site"]},
 *    "purposes": ["billing"], "no_onward_transfer": true, "duties": [...]}
 *
 * with every flag and list of policy/obligations.def under its name.
 */
struct tids_obligations;
void tids_jw_obligations(struct tids_jw *w, const struct tids_obligations *o);

/* Parses "2026-11-29T10:00:00Z" (also with .sss fractions or +hh:mm offsets)
 * into Unix milliseconds. */
__attribute__((warn_unused_result))
int tids_json_parse_time(const char *s, int64_t *ms_out);

#endif
