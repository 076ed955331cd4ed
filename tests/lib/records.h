/*
 * The records integration tests publish, encoded as a client sends them.
 * Each carries its number n in field "n" and in the first bytes of its id,
 * so a test can tell which records came back and in what order.
 */
#ifndef TIDS_TEST_RECORDS_H
#define TIDS_TEST_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "tids/record.h"
#include "tids/wire.h"

#define TIDS_TEST_RECORD_MAX_EXTRA 4     /* besides "n" and "note" */

struct tids_test_record {
	uint32_t n;
	enum tids_value_kind n_kind;       /* of field "n": TIDS_VALUE_UINT, else INT */
	const char *owner;
	const char *asset;                 /* NULL: none */
	const char *category;
	enum tids_tier tier;
	const char *origin;                /* NULL: "CN-SH" */
	int64_t produced_at_ms;            /* 0: now */
	const struct tids_field *extra;    /* fields after "n", at most MAX_EXTRA */
	size_t n_extra;
	const char *note;                  /* NULL: none; else a text field "note", last */
};

/* Encodes the record spec describes, the rest of its id random, into *out
 * (the caller frees out->data). Returns 0, or -1 if it has too many extra
 * fields or does not encode. */
int tids_test_record_encode(const struct tids_test_record *spec, struct tids_bytes *out)
	__attribute__((warn_unused_result));

#endif
