/*
 * A minimal JSON reader for known-answer vector files under tests/vectors/
 * (trusted input, test code only): a tree of nodes, lookups by key and index,
 * and hex-string decoding. Not for product code: lib/ has its own gate.
 */
#ifndef TIDS_TEST_VECTORS_JSON_H
#define TIDS_TEST_VECTORS_JSON_H

#include <stddef.h>
#include <stdint.h>

enum tids_test_json_type {
	TIDS_TEST_JSON_NULL,
	TIDS_TEST_JSON_BOOL,
	TIDS_TEST_JSON_NUMBER,
	TIDS_TEST_JSON_STRING,
	TIDS_TEST_JSON_ARRAY,
	TIDS_TEST_JSON_OBJECT,
};

struct tids_test_json {
	enum tids_test_json_type type;
	char *key;                    /* member name inside an object, else NULL */
	char *text;                   /* STRING decoded; other scalars: literal */
	size_t len;                   /* of text */
	struct tids_test_json *child; /* ARRAY, OBJECT: first element */
	struct tids_test_json *next;  /* next sibling */
};

/* Parses text (len bytes); NULL on a syntax error or out of memory. */
struct tids_test_json *tids_test_json_parse(const char *text, size_t len);

/* Reads and parses the file at path; NULL if it cannot. */
struct tids_test_json *tids_test_json_load(const char *path);

void tids_test_json_free(struct tids_test_json *j);

/* The member key of object obj, or NULL (also when obj is not an object). */
const struct tids_test_json *tids_test_json_get(const struct tids_test_json *obj,
						const char *key);

/* Element i of array arr, or NULL. */
const struct tids_test_json *tids_test_json_at(const struct tids_test_json *arr,
					       size_t i);

/* Elements of an array or members of an object; 0 for scalars and NULL. */
size_t tids_test_json_count(const struct tids_test_json *j);

/* The string value of j, or NULL if j is not a string. */
const char *tids_test_json_str(const struct tids_test_json *j);

/*
 * Decodes the hex string j into out (cap bytes) and sets *len. Returns 0, or
 * -1 if j is not a string of hex digit pairs or does not fit.
 */
int tids_test_json_hex(const struct tids_test_json *j, uint8_t *out, size_t cap,
		       size_t *len);

#endif
