/*
 * The hub state gate (issue 12): an entry of the registry topic is applied
 * only if its key is printable, its sequence and MAC headers are there and
 * the MAC, under the hub's key, binds topic, key, sequence and value; a
 * tombstone is refused (removals are entries); the value passes the
 * HubStateEntry gate. Each refusal says what was wrong.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/wire.h"

static const uint8_t key[32] = { 7, 7, 7 };
static const char *topic = "tids.hub.registry";
static char err[256];

struct entry {
	uint8_t *value;
	size_t len;
	uint8_t seq[8];
	uint8_t mac[TIDS_STATE_MAC_BYTES];
	struct tids_state_message m;
};

static void make(struct entry *e, const char *k, uint64_t seq, const struct tids_hub_state *hs)
{
	memset(e, 0, sizeof(*e));
	ck_assert_int_eq(tids_wire_encode_hub_state(hs, &e->value, &e->len), 0);
	for (int i = 7; i >= 0; i--)
		e->seq[i] = (uint8_t)(seq >> (8 * (7 - i)));
	tids_state_mac(key, topic, (const uint8_t *)k, strlen(k), seq, e->value, e->len, e->mac);
	e->m = (struct tids_state_message){ .topic = topic, .key = (const uint8_t *)k, .key_len = strlen(k),
					    .value = e->value, .len = e->len, .mac = e->mac,
					    .mac_len = sizeof(e->mac), .seq = e->seq, .seq_len = sizeof(e->seq) };
}

START_TEST(entry_round_trip)
{
	uint8_t wrapped[TIDS_HUB_WRAPPED_KEY_BYTES];
	struct tids_hub_state in = { .body = { (const uint8_t *)"body", 4 }, .actor = "local admin (uid 0) on a",
				     .instance = "a", .at_ms = 1234, .revoked_at_ms = 99 };
	struct tids_hub_state out;
	struct entry e;
	uint64_t seq;

	memset(wrapped, 0xab, sizeof(wrapped));
	in.wrapped_key = (struct tids_bytes){ wrapped, sizeof(wrapped) };
	make(&e, "grant/g-1", 42, &in);
	ck_assert_int_eq(tids_wire_open_hub_state(key, &e.m, &out, &seq, err, sizeof(err)), 0);
	ck_assert_uint_eq(seq, 42);
	ck_assert_uint_eq(out.body.len, 4);
	ck_assert_int_eq(memcmp(out.body.data, "body", 4), 0);
	ck_assert_uint_eq(out.wrapped_key.len, sizeof(wrapped));
	ck_assert_int_eq(memcmp(out.wrapped_key.data, wrapped, sizeof(wrapped)), 0);
	ck_assert_str_eq(out.actor, "local admin (uid 0) on a");
	ck_assert_str_eq(out.instance, "a");
	ck_assert_int_eq(out.at_ms, 1234);
	ck_assert_int_eq(out.revoked_at_ms, 99);
	tids_hub_state_free(&out);
	free(e.value);
}
END_TEST

START_TEST(entry_authenticity)
{
	struct tids_hub_state in = { .body = { (const uint8_t *)"body", 4 }, .instance = "a" }, out;
	uint8_t other[32] = { 8 };
	struct entry e;
	struct tids_state_message m;
	uint64_t seq;

	make(&e, "participant/p", 5, &in);
	/* No MAC, no sequence. */
	m = e.m;
	m.mac = NULL;
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_str_eq(err, "state entry: no tids-mac header: not written by this hub");
	m = e.m;
	m.seq = NULL;
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_str_eq(err, "state entry: no tids-seq header: not written by this hub");
	m = e.m;
	m.mac_len = 16;
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_str_eq(err, "state entry: tids-mac header of 16 bytes");
	/* Another key, another topic, another entry key, another sequence,
	 * another value: the MAC binds each. */
	ck_assert_int_eq(tids_wire_open_hub_state(other, &e.m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_str_eq(err, "state entry: its MAC does not verify (forged or altered)");
	m = e.m;
	m.topic = "tids.other.registry";
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	m = e.m;
	m.key = (const uint8_t *)"participant/q";
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	{
		uint8_t seq2[8];

		memcpy(seq2, e.seq, 8);
		seq2[7] ^= 1;
		m = e.m;
		m.seq = seq2;
		ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	}
	e.value[e.len - 1] ^= 1;
	ck_assert_int_eq(tids_wire_open_hub_state(key, &e.m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	ck_assert_ptr_null(out.backing);
	ck_assert_uint_eq(seq, 0);
	free(e.value);
}
END_TEST

START_TEST(entry_shape)
{
	struct tids_hub_state in = { .body = { (const uint8_t *)"b", 1 } }, out;
	uint8_t short_key[10] = { 0 }, mac[TIDS_STATE_MAC_BYTES], seq8[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	struct entry e;
	struct tids_state_message m;
	uint64_t seq;

	/* A key with a space or a NUL is no key of ours. */
	make(&e, "participant/p q", 1, &in);
	ck_assert_int_eq(tids_wire_open_hub_state(key, &e.m, &out, &seq, err, sizeof(err)), TIDS_EBADID);
	ck_assert_str_eq(err, "state entry: key byte 13 is not printable");
	free(e.value);
	/* A tombstone, authentic or not, is refused. */
	tids_state_mac(key, topic, (const uint8_t *)"hub", 3, 1, NULL, 0, mac);
	m = (struct tids_state_message){ .topic = topic, .key = (const uint8_t *)"hub", .key_len = 3, .mac = mac,
					 .mac_len = sizeof(mac), .seq = seq8, .seq_len = 8 };
	ck_assert_int_eq(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_str_eq(err, "hub state entry: a tombstone (removals are entries)");
	/* A wrapped key that is no wrapped key. */
	in.wrapped_key = (struct tids_bytes){ short_key, sizeof(short_key) };
	make(&e, "grant/g", 1, &in);
	ck_assert_int_eq(tids_wire_open_hub_state(key, &e.m, &out, &seq, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "hub state entry: wrapped_key is 10 bytes, must be 72");
	free(e.value);
	/* A sequence of 0 is none. */
	in.wrapped_key = (struct tids_bytes){ NULL, 0 };
	make(&e, "grant/g", 0, &in);
	ck_assert_int_eq(tids_wire_open_hub_state(key, &e.m, &out, &seq, err, sizeof(err)), TIDS_EAUTH);
	free(e.value);
	/* Bytes that are no HubStateEntry, with a good MAC over them. */
	{
		static const uint8_t junk[] = { 0xff, 0xff, 0xff };

		tids_state_mac(key, topic, (const uint8_t *)"hub", 3, 1, junk, sizeof(junk), mac);
		m = (struct tids_state_message){ .topic = topic, .key = (const uint8_t *)"hub", .key_len = 3,
						 .value = junk, .len = sizeof(junk), .mac = mac, .mac_len = sizeof(mac),
						 .seq = seq8, .seq_len = 8 };
		ck_assert_int_lt(tids_wire_open_hub_state(key, &m, &out, &seq, err, sizeof(err)), 0);
		ck_assert_str_ne(err, "");
		ck_assert_uint_eq(seq, 0);
	}
}
END_TEST

START_TEST(identity_round_trip_and_shape)
{
	struct tids_hub_identity in = { .hub_id = "hub.sh" }, out;
	uint8_t *buf;
	size_t len;

	memset(in.sign_key, 3, sizeof(in.sign_key));
	memset(in.genesis, 4, sizeof(in.genesis));
	ck_assert_int_eq(tids_wire_encode_hub_identity(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_hub_identity(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.hub_id, "hub.sh");
	ck_assert_int_eq(memcmp(out.sign_key, in.sign_key, 32), 0);
	ck_assert_int_eq(memcmp(out.genesis, in.genesis, 16), 0);
	tids_hub_identity_free(&out);
	free(buf);
	in.hub_id = "hub with spaces";
	ck_assert_int_eq(tids_wire_encode_hub_identity(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_hub_identity(buf, len, &out, err, sizeof(err)), TIDS_EBADID);
	ck_assert_ptr_nonnull(strstr(err, "hub identity: hub_id"));
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hubstate");
	TCase *tc = tcase_create("gate");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, entry_round_trip);
	tcase_add_test(tc, entry_authenticity);
	tcase_add_test(tc, entry_shape);
	tcase_add_test(tc, identity_round_trip_and_shape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
