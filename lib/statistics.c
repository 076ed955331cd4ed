/*
 * Statistics that travel: the hub's signature over its HubStatistics, the
 * record that carries them through the network (and its gate), and when a
 * hub that publishes them is to be called silent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/statistics.h"

#define FIELD_START "period_start"
#define FIELD_PERIOD "period_ms"
#define FIELD_DECISIONS "decisions"
#define FIELD_PART "statistics."
#define SUMMARY_FIELDS 3

int tids_statistics_sign(const uint8_t sk[TIDS_SECRET_KEY_BYTES], struct tids_hub_statistics *s)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_hub_statistics_unsigned(s, &buf, &len);

	if (r != 0)
		return r;
	r = tids_sign_detached(sk, TIDS_DOMAIN_STATISTICS, buf, len, s->signature);
	free(buf);
	return r;
}

int tids_statistics_verify(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const struct tids_hub_statistics *s, char *err,
			   size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_hub_statistics_unsigned(s, &buf, &len);

	if (r != 0)
		return tids_fail(err, errlen, r, "statistics of %s: out of memory", s->hub_id);
	r = tids_sign_verify_detached(pk, TIDS_DOMAIN_STATISTICS, buf, len, s->signature);
	free(buf);
	if (r != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "statistics of hub %s for the period from %lld: the signature "
				 "does not verify with the hub's key", s->hub_id, (long long)s->period_start_ms);
	return 0;
}

void tids_statistics_record_id(const char *hub_id, int64_t period_start_ms, uint8_t id[TIDS_RECORD_ID_BYTES])
{
	crypto_generichash_state st;
	uint8_t be[8], zero = 0;
	uint64_t v = (uint64_t)period_start_ms;

	for (int i = 7; i >= 0; i--, v >>= 8)
		be[i] = (uint8_t)v;
	crypto_generichash_init(&st, NULL, 0, TIDS_RECORD_ID_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)TIDS_DOMAIN_STATISTICS, strlen(TIDS_DOMAIN_STATISTICS));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const uint8_t *)hub_id, strlen(hub_id));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, be, sizeof(be));
	crypto_generichash_final(&st, id, TIDS_RECORD_ID_BYTES);
}

bool tids_statistics_is_record(const struct tids_record *rec)
{
	return rec->category != NULL && strcmp(rec->category, TIDS_STATISTICS_CATEGORY) == 0;
}

int tids_statistics_record(const struct tids_hub_statistics *s, uint8_t **out, size_t *len)
{
	struct tids_field fields[SUMMARY_FIELDS + TIDS_STATISTICS_PARTS_MAX];
	char names[TIDS_STATISTICS_PARTS_MAX][32];
	struct tids_record rec = { 0 };
	uint8_t *bytes;
	size_t n, parts;
	int r;

	if ((r = tids_wire_encode_hub_statistics(s, &bytes, &n)) != 0)
		return r;
	if (n > TIDS_STATISTICS_BYTES_MAX) {
		free(bytes);
		return TIDS_ETOOBIG;
	}
	memset(fields, 0, sizeof(fields));
	fields[0].name = FIELD_START;
	fields[0].value.kind = TIDS_VALUE_INT;
	fields[0].value.as.i = s->period_start_ms;
	fields[1].name = FIELD_PERIOD;
	fields[1].value.kind = TIDS_VALUE_INT;
	fields[1].value.as.i = s->period_ms;
	fields[2].name = FIELD_DECISIONS;
	fields[2].value.kind = TIDS_VALUE_UINT;
	fields[2].value.as.u = s->decisions;
	parts = n > 0 ? (n + TIDS_BLOB_MAX - 1) / TIDS_BLOB_MAX : 1;
	for (size_t i = 0; i < parts; i++) {
		struct tids_field *f = &fields[SUMMARY_FIELDS + i];
		size_t off = i * TIDS_BLOB_MAX;

		snprintf(names[i], sizeof(names[i]), FIELD_PART "%zu", i);
		f->name = names[i];
		f->value.kind = TIDS_VALUE_BLOB;
		f->value.as.bytes.data = bytes + off;
		f->value.as.bytes.len = n - off < TIDS_BLOB_MAX ? n - off : TIDS_BLOB_MAX;
	}
	tids_statistics_record_id(s->hub_id, s->period_start_ms, rec.record_id);
	rec.owner = s->hub_id;
	rec.asset_id = "";
	rec.category = TIDS_STATISTICS_CATEGORY;
	rec.tier = TIDS_TIER_GENERAL;
	rec.origin = s->jurisdiction;
	rec.produced_at_ms = s->period_start_ms + s->period_ms;
	rec.schema = TIDS_STATISTICS_SCHEMA;
	rec.fields = fields;
	rec.n_fields = SUMMARY_FIELDS + parts;
	r = tids_wire_encode_record(&rec, out, len);
	free(bytes);
	return r;
}

/* The summary field name with its kind, or fails. */
static const struct tids_field *summary(const struct tids_record *rec, const char *name, enum tids_value_kind kind,
					char *err, size_t errlen)
{
	const struct tids_field *f = tids_record_field(rec, name);

	if (f == NULL || f->value.kind != kind) {
		tids_fail(err, errlen, TIDS_EINVAL, "statistics record: field %s missing or of the wrong type", name);
		return NULL;
	}
	return f;
}

int tids_statistics_from_record(const struct tids_record *rec, struct tids_hub_statistics *out, char *err,
				size_t errlen)
{
	const struct tids_field *start, *period, *decisions;
	uint8_t id[TIDS_RECORD_ID_BYTES], *joined = NULL;
	size_t parts = 0, len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!tids_statistics_is_record(rec))
		return tids_fail(err, errlen, TIDS_EINVAL, "record of category %s is no statistics record", rec->category);
	if (strcmp(rec->schema, TIDS_STATISTICS_SCHEMA) != 0 || rec->tier != TIDS_TIER_GENERAL || rec->personal ||
	    rec->sensitive_personal || rec->individuals != 0 || *rec->asset_id != '\0')
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics record: schema %s, tier general, no asset and no "
				 "personal information expected", TIDS_STATISTICS_SCHEMA);
	if ((start = summary(rec, FIELD_START, TIDS_VALUE_INT, err, errlen)) == NULL ||
	    (period = summary(rec, FIELD_PERIOD, TIDS_VALUE_INT, err, errlen)) == NULL ||
	    (decisions = summary(rec, FIELD_DECISIONS, TIDS_VALUE_UINT, err, errlen)) == NULL)
		return TIDS_EINVAL;
	/* The parts, in order, and nothing else. */
	for (;; parts++) {
		char name[32];
		const struct tids_field *f;

		snprintf(name, sizeof(name), FIELD_PART "%zu", parts);
		if ((f = tids_record_field(rec, name)) == NULL)
			break;
		if (parts == TIDS_STATISTICS_PARTS_MAX || f->value.kind != TIDS_VALUE_BLOB)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics record: field %s is not one of at most %d "
					 "blob parts", name, TIDS_STATISTICS_PARTS_MAX);
		len += f->value.as.bytes.len;
	}
	if (parts == 0 || rec->n_fields != SUMMARY_FIELDS + parts)
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics record: %zu fields, expected the %d summary fields "
				 "and the parts " FIELD_PART "0...", rec->n_fields, SUMMARY_FIELDS);
	if ((joined = malloc(len > 0 ? len : 1)) == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "statistics record: out of memory");
	len = 0;
	for (size_t i = 0; i < parts; i++) {
		char name[32];
		const struct tids_field *f;

		snprintf(name, sizeof(name), FIELD_PART "%zu", i);
		f = tids_record_field(rec, name);
		if (f->value.as.bytes.len > 0)
			memcpy(joined + len, f->value.as.bytes.data, f->value.as.bytes.len);
		len += f->value.as.bytes.len;
	}
	r = tids_wire_decode_hub_statistics(joined, len, out, err, errlen);
	free(joined);
	if (r != 0)
		return r;
	/* The record says what the statistics say. */
	tids_statistics_record_id(out->hub_id, out->period_start_ms, id);
	if (strcmp(rec->owner, out->hub_id) != 0 || strcmp(rec->origin, out->jurisdiction) != 0)
		r = tids_fail(err, errlen, TIDS_EPERM, "statistics record: owned by %s of %s, but the statistics are hub "
			      "%s's of %s", rec->owner, rec->origin, out->hub_id, out->jurisdiction);
	else if (start->value.as.i != out->period_start_ms || period->value.as.i != out->period_ms ||
		 decisions->value.as.u != out->decisions || rec->produced_at_ms != out->period_start_ms + out->period_ms)
		r = tids_fail(err, errlen, TIDS_EINVAL, "statistics record: its summary fields disagree with the "
			      "statistics it carries");
	else if (sodium_memcmp(id, rec->record_id, TIDS_RECORD_ID_BYTES) != 0)
		r = tids_fail(err, errlen, TIDS_EINVAL, "statistics record: its id is not the one of hub %s's period "
			      "from %lld", out->hub_id, (long long)out->period_start_ms);
	if (r != 0)
		tids_hub_statistics_free(out);
	return r;
}

int64_t tids_statistics_overdue_at(int64_t period_end_ms, int64_t period_ms, int64_t delay_ms)
{
	int64_t margin = period_ms / 2 > 30000 ? period_ms / 2 : 30000;

	return period_end_ms + period_ms + delay_ms + margin;
}

/* Thresholds of the 2024 provisions on cross-border data flows, for the
 * counters policy/default keeps: a filed standard contract from 100,000
 * individuals a year (any sensitive one), a security assessment above
 * 1,000,000 (10,000 sensitive). */
static const struct {
	const char *counter;
	uint64_t thresholds[2];
} known[] = {
	{ "pi_individuals_exported", { 100000, 1000000 } },
	{ "spi_individuals_exported", { 1, 10000 } },
};

size_t tids_statistics_thresholds(const char *counter, uint64_t out[TIDS_STATISTICS_THRESHOLDS_MAX])
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i].counter, counter) == 0) {
			memcpy(out, known[i].thresholds, sizeof(known[i].thresholds));
			return 2;
		}
	return 0;
}
