/*
 * Read access to a parsed JSON document. Every accessor takes NULL and
 * values of the wrong type and answers "nothing", so a caller can chain
 * lookups and check once.
 */
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "json_impl.h"

const struct tids_json *tids_json_root(const struct tids_json_doc *doc)
{
	return doc != NULL ? doc->root : NULL;
}

enum tids_json_type tids_json_type(const struct tids_json *v)
{
	return v != NULL ? (enum tids_json_type)v->type : TIDS_JSON_NULL;
}

unsigned tids_json_line(const struct tids_json *v)
{
	return v != NULL ? v->line : 0;
}

unsigned tids_json_column(const struct tids_json *v)
{
	return v != NULL ? v->column : 0;
}

static bool is_container(const struct tids_json *v)
{
	return v != NULL && (v->type == TIDS_JSON_ARRAY || v->type == TIDS_JSON_OBJECT);
}

const struct tids_json *tids_json_get(const struct tids_json *obj, const char *key)
{
	const struct tids_json *const *sorted;
	size_t lo = 0, hi;
	int c;

	if (obj == NULL || key == NULL || obj->type != TIDS_JSON_OBJECT)
		return NULL;
	if (!obj->flag) {
		for (size_t i = 0; i < obj->len; i++)
			if (strcmp(obj->u.kids[i].key, key) == 0)
				return &obj->u.kids[i];
		return NULL;
	}
	sorted = (const struct tids_json *const *)(const void *)(obj->u.kids + obj->len);
	for (hi = obj->len; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;

		c = strcmp(sorted[mid]->key, key);
		if (c == 0)
			return sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t tids_json_len(const struct tids_json *v)
{
	return is_container(v) ? v->len : 0;
}

const struct tids_json *tids_json_at(const struct tids_json *v, size_t i)
{
	return is_container(v) && i < v->len ? &v->u.kids[i] : NULL;
}

const char *tids_json_key_at(const struct tids_json *obj, size_t i)
{
	if (obj == NULL || obj->type != TIDS_JSON_OBJECT || i >= obj->len)
		return NULL;
	return obj->u.kids[i].key;
}

const char *tids_json_string(const struct tids_json *v)
{
	return v != NULL && v->type == TIDS_JSON_STRING ? v->u.text : NULL;
}

size_t tids_json_string_len(const struct tids_json *v)
{
	return v != NULL && v->type == TIDS_JSON_STRING ? v->len : 0;
}

bool tids_json_bool(const struct tids_json *v)
{
	return v != NULL && v->type == TIDS_JSON_BOOL && v->flag;
}

double tids_json_number(const struct tids_json *v)
{
	/* The parser checked the syntax; strtod only converts. */
	return v != NULL && v->type == TIDS_JSON_NUMBER ? strtod(v->u.text, NULL) : 0.0;
}

bool tids_json_is_integer(const struct tids_json *v)
{
	return v != NULL && v->type == TIDS_JSON_NUMBER && v->flag;
}

/* Sign and magnitude of an integer, exactly: going through a double would
 * lose everything past 2^53. */
static int magnitude(const struct tids_json *v, bool *neg, uint64_t *mag)
{
	const char *s;
	uint64_t m = 0;

	if (!tids_json_is_integer(v))
		return TIDS_EINVAL;
	s = v->u.text;
	*neg = *s == '-';
	if (*neg)
		s++;
	for (; *s != '\0'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (m > (UINT64_MAX - d) / 10)
			return TIDS_EINVAL;
		m = m * 10 + d;
	}
	*mag = m;
	return 0;
}

int tids_json_int64(const struct tids_json *v, int64_t *out)
{
	uint64_t mag;
	bool neg;

	if (magnitude(v, &neg, &mag) < 0)
		return TIDS_EINVAL;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return TIDS_EINVAL;
		/* -(2^63) has no positive twin to negate. */
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return TIDS_EINVAL;
		*out = (int64_t)mag;
	}
	return 0;
}

int tids_json_uint64(const struct tids_json *v, uint64_t *out)
{
	uint64_t mag;
	bool neg;

	if (magnitude(v, &neg, &mag) < 0 || (neg && mag != 0))
		return TIDS_EINVAL;
	*out = mag;
	return 0;
}
