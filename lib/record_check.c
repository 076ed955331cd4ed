/*
 * The rules every record must satisfy, whichever way it enters: the wire
 * gate calls them after decoding, the JSON reader after parsing. One place,
 * so a record the CLI accepts is one the daemon accepts.
 */
#include <string.h>

#include "tids/error.h"
#include "tids/record.h"

/* One test per character class, by comparisons: the router validates
 * every record it decodes, and a strchr over the allowed set for each
 * character was 3 % of its CPU (perf, make bench). */
static bool lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* [a-z0-9A-Z._:-] */
static bool id_char(char c)
{
	return lower_or_digit(c) || upper(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

/* [a-z0-9_]: names and labels */
static bool name_char(char c)
{
	return lower_or_digit(c) || c == '_';
}

/* [a-z0-9A-Z_.-] */
static bool field_name_char(char c)
{
	return lower_or_digit(c) || upper(c) || c == '_' || c == '.' || c == '-';
}

static inline bool valid_chars(const char *s, size_t max, bool (*allowed)(char))
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; s[n] != '\0'; n++)
		if (n >= max || !allowed(s[n]))
			return false;
	return true;
}

bool tids_valid_id(const char *s)
{
	return valid_chars(s, TIDS_ID_MAX, id_char);
}

bool tids_valid_name(const char *s)
{
	return valid_chars(s, TIDS_NAME_MAX, name_char);
}

bool tids_valid_field_name(const char *s)
{
	return valid_chars(s, TIDS_NAME_MAX, field_name_char);
}

bool tids_valid_jurisdiction(const char *s)
{
	size_t n;

	if (s == NULL || !upper(s[0]) || !upper(s[1]))
		return false;
	if (s[2] == '\0')
		return true;
	if (s[2] != '-')
		return false;
	for (n = 3; s[n] != '\0'; n++)
		if (n > 5 || !(upper(s[n]) || (s[n] >= '0' && s[n] <= '9')))
			return false;
	return n > 3;
}

static int check_field(const struct tids_field *f, size_t i, char *err, size_t errlen)
{
	if (!tids_valid_field_name(f->name))
		return tids_fail(err, errlen, TIDS_EBADID,
				 "field %zu: name must be 1-%d of [A-Za-z0-9_.-]", i, TIDS_NAME_MAX);
	if ((unsigned)f->tier > TIDS_TIER_CORE)
		return tids_fail(err, errlen, TIDS_EINVAL, "field %zu '%s': unknown tier %d",
				 i, f->name, (int)f->tier);
	if (f->n_labels > TIDS_LABELS_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "field %zu '%s': %zu labels, at most %d",
				 i, f->name, f->n_labels, TIDS_LABELS_MAX);
	for (size_t l = 0; l < f->n_labels; l++)
		if (!valid_chars(f->labels[l], TIDS_LABEL_MAX, name_char))
			return tids_fail(err, errlen, TIDS_EBADID,
					 "field %zu '%s': label %zu must be 1-%d of [a-z0-9_]",
					 i, f->name, l, TIDS_LABEL_MAX);
	switch (f->value.kind) {
	case TIDS_VALUE_INT:
	case TIDS_VALUE_UINT:
	case TIDS_VALUE_REAL:
	case TIDS_VALUE_FLAG:
		return 0;
	case TIDS_VALUE_TEXT:
		if (f->value.as.bytes.len > TIDS_TEXT_MAX)
			return tids_fail(err, errlen, TIDS_ETOOBIG, "field %zu '%s': text of %zu bytes, at most %d",
					 i, f->name, f->value.as.bytes.len, TIDS_TEXT_MAX);
		if (memchr(f->value.as.bytes.data, '\0', f->value.as.bytes.len) != NULL)
			return tids_fail(err, errlen, TIDS_EINVAL, "field %zu '%s': text contains NUL", i, f->name);
		return 0;
	case TIDS_VALUE_BLOB:
		if (f->value.as.bytes.len > TIDS_BLOB_MAX)
			return tids_fail(err, errlen, TIDS_ETOOBIG, "field %zu '%s': blob of %zu bytes, at most %d",
					 i, f->name, f->value.as.bytes.len, TIDS_BLOB_MAX);
		return 0;
	case TIDS_VALUE_NONE:
		break;
	}
	return tids_fail(err, errlen, TIDS_EMISSING, "field %zu '%s': no value", i, f->name);
}

int tids_record_validate(const struct tids_record *rec, char *err, size_t errlen)
{
	int r;

	if (rec->tier == TIDS_TIER_UNSET)
		return tids_fail(err, errlen, TIDS_ENOTIER, "record has no tier (general, important or core)");
	if ((unsigned)rec->tier > TIDS_TIER_CORE)
		return tids_fail(err, errlen, TIDS_EINVAL, "record: unknown tier %d", (int)rec->tier);
	if (rec->owner == NULL || *rec->owner == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "record: owner missing");
	if (!tids_valid_id(rec->owner))
		return tids_fail(err, errlen, TIDS_EBADID, "record: owner must be 1-%d of [A-Za-z0-9._:-]", TIDS_ID_MAX);
	if (rec->asset_id != NULL && *rec->asset_id != '\0' && !tids_valid_id(rec->asset_id))
		return tids_fail(err, errlen, TIDS_EBADID, "record: asset_id must be 1-%d of [A-Za-z0-9._:-]", TIDS_ID_MAX);
	if (rec->category == NULL || *rec->category == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "record: category missing");
	if (!tids_valid_name(rec->category))
		return tids_fail(err, errlen, TIDS_EBADID, "record: category must be 1-%d of [a-z0-9_]", TIDS_NAME_MAX);
	if (rec->origin == NULL || *rec->origin == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "record: origin jurisdiction missing");
	if (!tids_valid_jurisdiction(rec->origin))
		return tids_fail(err, errlen, TIDS_EINVAL, "record: origin '%.16s' is not a jurisdiction like CN-SH or DE",
				 rec->origin);
	if (rec->produced_at_ms <= 0)
		return tids_fail(err, errlen, TIDS_EMISSING, "record: produced_at_ms missing");
	if (rec->individuals > 0 && !rec->personal)
		return tids_fail(err, errlen, TIDS_EINVAL, "record: individuals set but personal is false");
	if (rec->sensitive_personal && !rec->personal)
		return tids_fail(err, errlen, TIDS_EINVAL, "record: sensitive_personal set but personal is false");
	if (rec->schema != NULL && strlen(rec->schema) > TIDS_ID_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "record: schema longer than %d bytes", TIDS_ID_MAX);
	if (rec->n_fields > TIDS_FIELDS_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "record: %zu fields, at most %d",
				 rec->n_fields, TIDS_FIELDS_MAX);
	for (size_t i = 0; i < rec->n_fields; i++) {
		r = check_field(&rec->fields[i], i, err, errlen);
		if (r < 0)
			return r;
		/* Quadratic, but bounded by TIDS_FIELDS_MAX and only on ingest. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(rec->fields[i].name, rec->fields[j].name) == 0)
				return tids_fail(err, errlen, TIDS_EDUP, "field %zu: name '%s' repeats field %zu",
						 i, rec->fields[i].name, j);
	}
	return 0;
}
