/*
 * The internal form of a record: what the decode gate produces from a
 * tids.v1.Record and what the policy engine and router work on. Strings are
 * NUL-terminated and validated; they belong to whoever owns the record.
 */
#ifndef TIDS_RECORD_H
#define TIDS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIDS_RECORD_ID_BYTES 16
#define TIDS_HASH_BYTES 32
#define TIDS_ID_MAX 128          /* participant, asset, grant, hub ids */
#define TIDS_NAME_MAX 64         /* categories, roles, purposes, field names */
#define TIDS_LABEL_MAX 32
#define TIDS_LABELS_MAX 8        /* labels per field */
#define TIDS_FIELDS_MAX 256      /* fields per record */
#define TIDS_TEXT_MAX 4096
#define TIDS_BLOB_MAX 16384
#define TIDS_RECORD_MAX 65536    /* serialized record */
#define TIDS_BATCH_RECORDS_MAX 1000

enum tids_tier {
	TIDS_TIER_UNSET = 0,
	TIDS_TIER_GENERAL = 1,
	TIDS_TIER_IMPORTANT = 2,
	TIDS_TIER_CORE = 3,
};

enum tids_value_kind {
	TIDS_VALUE_NONE = 0,
	TIDS_VALUE_INT,
	TIDS_VALUE_UINT,
	TIDS_VALUE_REAL,
	TIDS_VALUE_FLAG,
	TIDS_VALUE_TEXT,
	TIDS_VALUE_BLOB,
};

struct tids_value {
	enum tids_value_kind kind;
	union {
		int64_t i;
		uint64_t u;
		double d;
		bool b;
		struct {
			const uint8_t *data; /* TEXT: NUL-terminated too */
			size_t len;
		} bytes;
	} as;
};

struct tids_field {
	const char *name;
	struct tids_value value;
	enum tids_tier tier;          /* UNSET: the record's tier */
	const char *const *labels;
	size_t n_labels;
};

struct tids_record {
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	const char *owner;
	const char *asset_id;         /* "" when none */
	const char *category;
	enum tids_tier tier;
	const char *origin;           /* jurisdiction, e.g. "CN-SH" */
	int64_t produced_at_ms;
	bool personal;
	bool sensitive_personal;
	uint64_t individuals;
	const char *schema;           /* "" when none */
	struct tids_field *fields;
	size_t n_fields;
	/* Owned storage (decoded message, arena) and how to release it;
	 * both NULL when the record borrows its strings from another. */
	void *backing;
	void (*release)(void *backing);
};

/* Name of a tier as the policy language and the CLI spell it. */
const char *tids_tier_name(enum tids_tier tier);
/* Parses "general", "important" or "core"; returns TIDS_TIER_UNSET otherwise. */
enum tids_tier tids_tier_parse(const char *name);

/* The tier that governs the record: the highest of its own and its fields'. */
enum tids_tier tids_record_effective_tier(const struct tids_record *rec);

/* Does field f carry label? */
bool tids_field_has_label(const struct tids_field *f, const char *label);

/* Field by name, or NULL. */
const struct tids_field *tids_record_field(const struct tids_record *rec, const char *name);

/* Checks every rule the wire gate applies to a record: identifiers and
 * their characters, jurisdiction syntax, tier present and known, field
 * names unique and well formed, values set, limits. The first problem is
 * described in err ("field 3 'rpm': no value"). Used by the decode gate and
 * by every other way a record enters (JSON from the CLI). */
__attribute__((warn_unused_result))
int tids_record_validate(const struct tids_record *rec, char *err, size_t errlen);

/* Identifier rules shared by the gates (return true if acceptable):
 * ids [A-Za-z0-9._:-]{1,128}; names [a-z0-9_]{1,64}; field names
 * [A-Za-z0-9_.-]{1,64}; jurisdictions "CC" or "CC-XXX" (upper case). */
bool tids_valid_id(const char *s);
bool tids_valid_name(const char *s);
bool tids_valid_field_name(const char *s);
bool tids_valid_jurisdiction(const char *s);

/* Releases rec's backing storage, if it owns any; NULL is a no-op. */
void tids_record_free(struct tids_record *rec);

#endif
