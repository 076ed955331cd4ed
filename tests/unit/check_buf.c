/*
 * Byte buffers give no memory back unwiped: a buffer that held a secret
 * and grew, was compacted or was freed leaves no copy of it in a block
 * returned to the allocator. The test sees every block as it is released
 * (the binary is linked with --wrap=free,--wrap=realloc).
 */
#include <check.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/buf.h"

void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static uint8_t secret[32];
static bool armed;
static size_t released, released_with_secret;

static bool holds_secret(const void *p)
{
	size_t n = malloc_usable_size((void *)p);

	for (size_t i = 0; i + sizeof(secret) <= n; i++)
		if (memcmp((const uint8_t *)p + i, secret, sizeof(secret)) == 0)
			return true;
	return false;
}

static void seen(void *p)
{
	if (!armed || p == NULL)
		return;
	released++;
	if (holds_secret(p))
		released_with_secret++;
}

void *__wrap_realloc(void *p, size_t n)
{
	/* realloc may free p as it is: count it as released. */
	seen(p);
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	seen(p);
	__real_free(p);
}

static void arm(void)
{
	randombytes_buf(secret, sizeof(secret));
	released = released_with_secret = 0;
	armed = true;
}

START_TEST(growth_wipes_the_old_block)
{
	struct tids_buf b = { 0 };
	uint8_t filler[1000];

	memset(filler, 0x11, sizeof(filler));
	arm();
	ck_assert_int_eq(tids_buf_append(&b, secret, sizeof(secret)), 0);
	/* 256 -> 512 -> ... -> 65536: the secret moves six times. */
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(tids_buf_append(&b, filler, sizeof(filler)), 0);
	ck_assert_uint_ge(b.cap, 60000);
	ck_assert_mem_eq(tids_buf_head(&b), secret, sizeof(secret));
	ck_assert_uint_ge(released, 5);
	armed = false;
	ck_assert_msg(released_with_secret == 0, "%zu of %zu released blocks still held the secret",
		      released_with_secret, released);
	tids_buf_wipe(&b);
	tids_buf_free(&b);
}
END_TEST

/* An append-only buffer, grown across blocks: wiping what it holds leaves
 * no byte of the secret in the block it keeps, nor in those it left. */
START_TEST(wipe_used_after_appends)
{
	struct tids_buf b = { 0 };
	uint8_t filler[1000];
	size_t cap;

	memset(filler, 0x33, sizeof(filler));
	arm();
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(tids_buf_append(&b, secret, sizeof(secret)), 0);
		ck_assert_int_eq(tids_buf_append(&b, filler, sizeof(filler)), 0);
	}
	cap = b.cap;
	tids_buf_wipe_used(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, cap);
	for (size_t i = 0; i + sizeof(secret) <= cap; i++)
		ck_assert_msg(memcmp(b.data + i, secret, sizeof(secret)) != 0, "the secret is still at byte %zu", i);
	armed = false;
	ck_assert_uint_eq(released_with_secret, 0);
	tids_buf_free(&b);
}
END_TEST

START_TEST(free_wipes)
{
	struct tids_buf b = { 0 };

	arm();
	ck_assert_int_eq(tids_buf_append(&b, secret, sizeof(secret)), 0);
	/* Consumed (still in the block), then freed without a wipe first. */
	tids_buf_consume(&b, sizeof(secret));
	tids_buf_free(&b);
	armed = false;
	ck_assert_uint_ge(released, 1);
	ck_assert_uint_eq(released_with_secret, 0);
	ck_assert_ptr_null(b.data);
	tids_buf_free(&b);
}
END_TEST

START_TEST(compaction_then_growth)
{
	struct tids_buf b = { 0 };
	uint8_t filler[200];

	memset(filler, 0x22, sizeof(filler));
	arm();
	ck_assert_int_eq(tids_buf_append(&b, filler, 100), 0);
	ck_assert_int_eq(tids_buf_append(&b, secret, sizeof(secret)), 0);
	tids_buf_consume(&b, 100);
	/* Compacts (the secret moves to the front), then grows. */
	ck_assert_int_eq(tids_buf_append(&b, filler, sizeof(filler)), 0);
	ck_assert_int_eq(tids_buf_append(&b, filler, sizeof(filler)), 0);
	ck_assert_mem_eq(tids_buf_head(&b), secret, sizeof(secret));
	tids_buf_free(&b);
	armed = false;
	ck_assert_uint_ge(released, 2);
	ck_assert_uint_eq(released_with_secret, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("wipe");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, growth_wipes_the_old_block);
	tcase_add_test(tc, wipe_used_after_appends);
	tcase_add_test(tc, free_wipes);
	tcase_add_test(tc, compaction_then_growth);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
