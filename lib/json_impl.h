/*
 * Private to lib/json_*.c: the bump allocator that owns every node and
 * string of a document (and the storage of records built from JSON), the
 * node layout, and the reader's state shared by its two files.
 */
#ifndef TIDS_JSON_IMPL_H
#define TIDS_JSON_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/json.h"

/* Internal to libtids: not exported from the shared library. */
#pragma GCC visibility push(hidden)

struct tids_json_arena;

/* first: bytes to reserve up front (a hint; small values are rounded up). */
struct tids_json_arena *tids_json_arena_new(size_t first);
/* Takes void * so it can be a record's release callback; NULL is a no-op. */
void tids_json_arena_free(void *arena);
/* Memory aligned for any object, or NULL when out of memory. */
void *tids_json_arena_alloc(struct tids_json_arena *a, size_t size);
/* Unaligned bytes, for strings. */
char *tids_json_arena_bytes(struct tids_json_arena *a, size_t size);
/* A NUL-terminated copy of len bytes, or NULL when out of memory. */
char *tids_json_arena_strndup(struct tids_json_arena *a, const char *s, size_t len);

/* Objects with more members than this carry a sorted index for lookups. */
#define JSON_INDEX_MIN 8

/* 40 bytes: a hostile 16 MiB text of "1," is 8 M nodes, so size matters. */
struct tids_json {
	const char *key;          /* member name inside an object, else NULL */
	union {
		const char *text;     /* STRING: decoded; NUMBER: as written */
		const struct tids_json *kids;   /* ARRAY, OBJECT: contiguous */
	} u;
	uint32_t len;             /* string bytes, number text bytes, members
				   * (all below TIDS_JSON_TEXT_MAX) */
	uint32_t key_at;          /* member: offset of its key in the text */
	unsigned line, column;    /* where the value starts */
	uint8_t type;             /* enum tids_json_type */
	/* BOOL: the value; NUMBER: written as an integer; OBJECT: the kids
	 * array is followed by len pointers to them, sorted by key. */
	bool flag;
};

struct tids_json_doc {
	struct tids_json_arena *arena;
	const struct tids_json *root;
};

/* The reader's state, shared by json_lex.c (tokens, positions, messages)
 * and json_read.c (structure). */
struct tids_json_parser {
	const unsigned char *s;
	size_t len;
	size_t pos;
	unsigned line;
	size_t line_start;       /* offset of the current line's first byte */
	size_t col_pos;          /* column cache: col is the column at col_pos */
	unsigned col;
	unsigned depth;
	struct tids_json_arena *arena;
	struct tids_json *stack; /* finished values waiting for their container */
	size_t n;
	size_t cap;
	char *err;
	size_t errlen;
};

/* Column (in characters, from 1) of byte pos on the current line. */
unsigned tids_json_lex_column(struct tids_json_parser *p, size_t pos);
/* Writes "line L, column C: what" for byte pos of the current line. */
__attribute__((format(printf, 4, 5)))
int tids_json_lex_fail(struct tids_json_parser *p, int code, size_t pos, const char *fmt, ...);
/* Names what stands at pos, for "expected X but found Y". */
const char *tids_json_lex_found(const struct tids_json_parser *p, size_t pos, char buf[32]);
void tids_json_lex_skip_ws(struct tids_json_parser *p);
/* Tokens at p->pos; each advances p->pos past itself. */
int tids_json_lex_string(struct tids_json_parser *p, const char **out, uint32_t *outlen);
int tids_json_lex_number(struct tids_json_parser *p, struct tids_json *v);
int tids_json_lex_literal(struct tids_json_parser *p, struct tids_json *v);

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when
 * invalid: overlong forms, surrogates and code points past U+10FFFF are. */
size_t tids_json_utf8_seq(const unsigned char *s, size_t n);

/* A short printable form of untrusted text for error messages: at most 32
 * bytes and "...", control characters, quotes and backslashes as '?'. */
const char *tids_json_printable(const char *text, char buf[40]);

#pragma GCC visibility pop

#endif
