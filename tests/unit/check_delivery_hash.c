/*
 * daemon/delivery_hash.c alone (compiled into this test): the hash of a
 * Delivery resumed from the kept state after its record's bytes is the
 * one-shot BLAKE2b of the whole Delivery, for records that end on, before
 * and after BLAKE2b's block boundaries, for tails of every size, for real
 * Deliveries written the way the router writes them, and after a reset
 * between records whose bytes sit at the same address.
 */
#include "../../daemon/delivery_hash.c"

#include <check.h>
#include <stdlib.h>

#include "tids/buf.h"
#include "tids/varint.h"
#include "tids/wire.h"

static void one_shot(const uint8_t *p, size_t n, uint8_t out[32])
{
	crypto_generichash(out, 32, p, n, NULL, 0);
}

START_TEST(test_shared_heads)
{
	static const size_t records[] = { 0, 1, 60, 123, 124, 125, 126, 127, 128, 129, 200, 251, 252, 253,
					  254, 255, 256, 257, 300, 381, 382, 383, 384, 385, 1000, 4096 };
	static const size_t tails[] = { 0, 1, 2, 60, 127, 128, 129, 255, 256, 257, 700 };
	uint8_t *msg = malloc(8192), *bytes = malloc(8192), want[32], got[32];

	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(bytes);
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		struct delivery_hash h = { 0 };
		size_t head, n;

		randombytes_buf(bytes, records[i]);
		msg[0] = 1 << 3 | 2;
		head = 1 + tids_varint_put(msg + 1, records[i]);
		memcpy(msg + head, bytes, records[i]);
		head += records[i];
		for (size_t j = 0; j < sizeof(tails) / sizeof(tails[0]); j++) {
			n = head + tails[j];
			randombytes_buf(msg + head, tails[j]);
			one_shot(msg, n, want);
			delivery_hash(&h, bytes, head, msg, n, got);
			ck_assert_mem_eq(got, want, 32);
		}
		/* Not shared: the one-shot hash. */
		delivery_hash(&h, NULL, 0, msg, n, got);
		one_shot(msg, n, want);
		ck_assert_mem_eq(got, want, 32);
		delivery_hash_reset(&h);
		ck_assert_uint_eq(h.len, 0);
	}
	free(msg);
	free(bytes);
}
END_TEST

/* Deliveries as route_produce_delivery writes them: the record encoded
 * once, given to each recipient's Delivery as its field 1. */
START_TEST(test_deliveries)
{
	static const char *const rules[] = { "owner_always", "lessor_billing" };
	static const char *const purposes[] = { "billing", "maintenance", "supervision" };
	struct tids_field fields[8];
	struct tids_record rec = { .owner = "acme", .asset_id = "press-7", .category = "run_hours",
				   .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .produced_at_ms = 1767225600000,
				   .schema = "press.v1", .fields = fields, .n_fields = 8 };
	struct tids_buf rb = { 0 }, db = { 0 };
	struct delivery_hash h = { 0 };
	char text[8][40];
	uint8_t want[32], got[32];

	randombytes_buf(rec.record_id, sizeof(rec.record_id));
	for (size_t i = 0; i < 8; i++) {
		snprintf(text[i], sizeof(text[i]), "reading-%zu-%0*d", i, (int)(8 + i * 3), 0);
		fields[i] = (struct tids_field){ .name = text[i], .value = { .kind = TIDS_VALUE_REAL, .as.d = 1.5 * (double)i } };
	}
	for (size_t shape = 0; shape < 8; shape++) {
		struct tids_bytes record_bytes;
		size_t shared;

		/* Records of 8 sizes, at the same address each time: reset between. */
		rec.n_fields = shape + 1;
		rb.off = rb.len = 0;
		ck_assert_int_eq(tids_wire_append_record(&rb, &rec), 0);
		record_bytes = (struct tids_bytes){ tids_buf_head(&rb), rb.len };
		shared = 1 + tids_varint_len(rb.len) + rb.len;
		delivery_hash_reset(&h);
		for (size_t p = 0; p < 3; p++) {
			struct tids_delivery del = { .record = rec, .decision = TIDS_DECISION_ALLOW,
						     .rule_ids = { rules, p == 0 ? 1 : 2 }, .purpose = purposes[p],
						     .decided_at_ms = 1767225600123 + (int64_t)p,
						     .source_record_id = { rec.record_id, TIDS_RECORD_ID_BYTES } };

			db.off = db.len = 0;
			ck_assert_int_eq(tids_wire_append_delivery(&db, &del, &record_bytes), 0);
			ck_assert_uint_gt(db.len, shared);
			one_shot(tids_buf_head(&db), db.len, want);
			delivery_hash(&h, record_bytes.data, shared, tids_buf_head(&db), db.len, got);
			ck_assert_mem_eq(got, want, 32);
		}
	}
	delivery_hash_reset(&h);
	tids_buf_free(&rb);
	tids_buf_free(&db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("delivery_hash");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, test_shared_heads);
	tcase_add_test(tc, test_deliveries);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
