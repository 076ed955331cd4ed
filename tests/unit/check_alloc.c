/*
 * Hot paths that must not allocate per message (issue 13): the decode
 * gates reuse their thread's arena blocks, so decoding the router's and the
 * indexer's messages over and over allocates nothing once warm. malloc and
 * friends are interposed here to count calls; under AddressSanitizer,
 * which owns them (and where the arena is off on purpose), the cases say
 * so and pass.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tids/wire.h"

#if defined(__SANITIZE_ADDRESS__)
#define COUNTING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNTING 0
#endif
#endif
#ifndef COUNTING
#define COUNTING 1
#endif

static unsigned long allocations;

#if COUNTING
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
	allocations++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	allocations++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	allocations++;
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#endif

static char err[256];

/* A record as the benchmark publishes it: a number and a note. */
static void sample_record(uint8_t **buf, size_t *len)
{
	static char note[200];
	struct tids_field f[2] = { { 0 } };
	struct tids_record r = { 0 };

	memset(note, 'x', sizeof(note));
	memset(r.record_id, 0x5a, sizeof(r.record_id));
	r.owner = "factory.sh1";
	r.asset_id = "press-7";
	r.category = "run_hours";
	r.tier = TIDS_TIER_GENERAL;
	r.origin = "CN-SH";
	r.produced_at_ms = 1764400000000;
	f[0].name = "n";
	f[0].value.kind = TIDS_VALUE_INT;
	f[0].value.as.i = 42;
	f[1].name = "note";
	f[1].value.kind = TIDS_VALUE_TEXT;
	f[1].value.as.bytes.data = (const uint8_t *)note;
	f[1].value.as.bytes.len = sizeof(note);
	r.fields = f;
	r.n_fields = 2;
	ck_assert_int_eq(tids_wire_encode_record(&r, buf, len), 0);
}

/* What the router decodes per record: the ingress message, then the record. */
START_TEST(decode_gates_reuse_their_arena)
{
	uint8_t path[9][TIDS_HASH_BYTES], *rec, *msg;
	struct tids_ingress_record ir = { 0 };
	size_t rec_len, msg_len;
	unsigned long before, used;

	if (!COUNTING) {
		puts("check_alloc: malloc is AddressSanitizer's here; not counted");
		return;
	}
	sample_record(&rec, &rec_len);
	memset(path, 7, sizeof(path));
	ir.record = (struct tids_bytes){ rec, rec_len };
	memset(ir.record_id, 0x5a, sizeof(ir.record_id));
	ir.publisher = "factory.sh1";
	ir.sequence = 9;
	ir.leaf_count = 500;
	ir.merkle_path = (const uint8_t (*)[TIDS_HASH_BYTES])path;
	ir.n_merkle_path = 9;
	ck_assert_int_eq(tids_wire_encode_ingress_record(&ir, &msg, &msg_len), 0);
	for (int round = 0; round < 3; round++) {
		int bad = 0;

		/* No ck_assert inside: Check allocates to report each one. */
		before = allocations;
		for (int i = 0; i < 100; i++) {
			struct tids_ingress_record in;
			struct tids_record r;

			if (tids_wire_decode_ingress_record(msg, msg_len, &in, err, sizeof(err)) != 0) {
				bad++;
				continue;
			}
			if (tids_wire_decode_record(in.record.data, in.record.len, &r, err, sizeof(err)) != 0 ||
			    r.n_fields != 2 || in.n_merkle_path != 9)
				bad++;
			tids_record_free(&r);
			tids_ingress_record_free(&in);
		}
		used = allocations - before;
		ck_assert_int_eq(bad, 0);
		/* The first round warms the thread's blocks; the others reuse them. */
		if (round > 0)
			ck_assert_msg(used == 0, "%lu allocations for 100 records", used);
	}
	free(msg);
	free(rec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("alloc");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, decode_gates_reuse_their_arena);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
