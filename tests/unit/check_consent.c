/*
 * Signed consent on the wire (issue 9, items 13 and 14): SignedGrant and
 * SignedApproval carry the exact bytes their signer produced, the gate
 * keeps those bytes (never a re-encoding), grants and approvals name the
 * hub they are issued to, approvals may carry a case id, and the request
 * that revokes an approval has its own gate. Each malformed input is
 * refused with an error naming what was wrong.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/wire.h"

static char err[256];
static const char *categories[] = { "recipe" };
static const char *purposes[] = { "maintenance" };

static struct tids_grant sample_grant(void)
{
	struct tids_grant g;

	memset(&g, 0, sizeof(g));
	g.grant_id = "g-1";
	g.owner = "factory.sh1";
	g.grantee = "lessor.wh";
	g.categories = (struct tids_strlist){ categories, 1 };
	g.purposes = (struct tids_strlist){ purposes, 1 };
	g.not_before_ms = 1000;
	g.not_after_ms = 2000;
	g.hub_id = "hub.sh";
	return g;
}

static struct tids_approval sample_approval(void)
{
	struct tids_approval a;

	memset(&a, 0, sizeof(a));
	a.approval_id = "ap-1";
	a.kind = "legal_request";
	a.regulator = "reg.sh";
	a.exporter = "factory.sh1";
	a.recipient = "reg.sh";
	a.categories = (struct tids_strlist){ categories, 1 };
	a.purposes = (struct tids_strlist){ purposes, 1 };
	a.tiers[0] = TIDS_TIER_IMPORTANT;
	a.n_tiers = 1;
	a.from_jurisdiction = "CN-SH";
	a.to_jurisdiction = "CN-SH";
	a.valid_from_ms = 10;
	a.valid_until_ms = 20;
	a.hub_id = "hub.sh";
	a.case_id = "CASE-2026-041";
	return a;
}

/* protobuf field `field` (length-delimited) holding s. */
static size_t put_string(uint8_t *out, unsigned field, const char *s)
{
	size_t n = strlen(s);

	out[0] = (uint8_t)(field << 3 | 2);
	out[1] = (uint8_t)n;
	memcpy(out + 2, s, n);
	return n + 2;
}

static size_t put_varint_field(uint8_t *out, unsigned field, uint64_t v)
{
	size_t i = 0;

	out[i++] = (uint8_t)(field << 3);
	do {
		out[i++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return i;
}

/*
 * A Grant as another implementation may serialize it: fields in reverse
 * order and no `obligations` at all. protobuf-c would write them in field
 * order with an empty obligations message, so these bytes are not what
 * re-encoding the decoded grant gives.
 */
static size_t foreign_grant(uint8_t *out, const char *hub)
{
	size_t n = 0;

	n += put_string(out + n, 12, hub);
	n += put_varint_field(out + n, 8, 2000);
	n += put_varint_field(out + n, 7, 1000);
	n += put_string(out + n, 6, "maintenance");
	n += put_string(out + n, 5, "recipe");
	n += put_string(out + n, 3, "lessor.wh");
	n += put_string(out + n, 2, "factory.sh1");
	n += put_string(out + n, 1, "g-py");
	return n;
}

START_TEST(signed_grant_keeps_the_signers_bytes)
{
	struct tids_identity owner;
	struct tids_grant g = { 0 }, out;
	uint8_t bytes[256], *wire, *again;
	size_t n = foreign_grant(bytes, "hub.sh"), len, again_len;

	ck_assert_int_eq(tids_identity_generate(&owner), 0);
	ck_assert_int_eq(tids_sign_detached(owner.sign_sk, TIDS_DOMAIN_GRANT, bytes, n, g.signature), 0);
	g.bytes = (struct tids_bytes){ bytes, n };
	ck_assert_int_eq(tids_wire_encode_signed_grant(&g, &wire, &len), 0);
	ck_assert_int_eq(tids_wire_decode_signed_grant(wire, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.grant_id, "g-py");
	ck_assert_str_eq(out.hub_id, "hub.sh");
	ck_assert_uint_eq(out.bytes.len, n);
	ck_assert_mem_eq(out.bytes.data, bytes, n);
	ck_assert_mem_eq(out.signature, g.signature, TIDS_SIGNATURE_BYTES);
	/* What the owner signed verifies over the kept bytes... */
	ck_assert_int_eq(tids_sign_verify_detached(owner.sign_pk, TIDS_DOMAIN_GRANT, out.bytes.data, out.bytes.len,
						   out.signature), 0);
	/* ...and not over a re-encoding, which differs (that was finding 14). */
	ck_assert_int_eq(tids_wire_encode_grant(&out, &again, &again_len), 0);
	ck_assert(again_len != n || memcmp(again, bytes, n) != 0);
	ck_assert_int_ne(tids_sign_verify_detached(owner.sign_pk, TIDS_DOMAIN_GRANT, again, again_len,
						   out.signature), 0);
	free(again);
	tids_grant_free(&out);
	free(wire);
	tids_identity_wipe(&owner);
}
END_TEST

START_TEST(signed_grant_from_a_struct)
{
	struct tids_grant g = sample_grant(), out;
	uint8_t *wire, *bare;
	size_t len, bare_len;

	memset(g.signature, 7, sizeof(g.signature));
	/* Without bytes, the encoder wraps the bare encoding of the struct:
	 * what tids_client_sign_grant signs. */
	ck_assert_int_eq(tids_wire_encode_signed_grant(&g, &wire, &len), 0);
	ck_assert_int_eq(tids_wire_encode_grant(&g, &bare, &bare_len), 0);
	ck_assert_int_eq(tids_wire_decode_signed_grant(wire, len, &out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out.bytes.len, bare_len);
	ck_assert_mem_eq(out.bytes.data, bare, bare_len);
	ck_assert_uint_eq(out.signature[63], 7);
	tids_grant_free(&out);
	free(bare);
	free(wire);
}
END_TEST

/* Encodes a SignedGrant of raw parts and runs it through the gate. */
static int gate_signed_grant(const uint8_t *grant, size_t glen, const uint8_t *sig, size_t slen)
{
	uint8_t buf[512];
	struct tids_grant out;
	size_t n = 0;
	int r;

	if (glen > 0) {
		buf[n++] = 1 << 3 | 2;
		buf[n++] = (uint8_t)glen;
		memcpy(buf + n, grant, glen);
		n += glen;
	}
	if (slen > 0) {
		buf[n++] = 2 << 3 | 2;
		buf[n++] = (uint8_t)slen;
		memcpy(buf + n, sig, slen);
		n += slen;
	}
	r = tids_wire_decode_signed_grant(buf, n, &out, err, sizeof(err));
	if (r == 0)
		tids_grant_free(&out);
	else
		ck_assert_ptr_null(out.backing);
	return r;
}

START_TEST(signed_grant_rejections)
{
	uint8_t grant[256], sig[64] = { 1 };
	size_t n = foreign_grant(grant, "hub.sh");
	struct tids_grant out;

	ck_assert_int_eq(gate_signed_grant(grant, n, sig, 64), 0);
	ck_assert_int_eq(gate_signed_grant(NULL, 0, sig, 64), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "signed grant: grant missing"));
	ck_assert_int_eq(gate_signed_grant(grant, n, NULL, 0), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "signature missing"));
	ck_assert_int_eq(gate_signed_grant(grant, n, sig, 63), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "signature is 63 bytes"));
	/* The Grant inside passes the same checks as ever. */
	ck_assert_int_eq(gate_signed_grant((const uint8_t *)"\xff\xff", 2, sig, 64), TIDS_EDECODE);
	/* A grant that names no hub could be replayed at any: refused. */
	n = foreign_grant(grant, "");
	ck_assert_int_eq(gate_signed_grant(grant + 2, n - 2, sig, 64), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "hub_id"));
	n = foreign_grant(grant, "hub sh");
	ck_assert_int_eq(gate_signed_grant(grant, n, sig, 64), TIDS_EBADID);
	ck_assert_ptr_nonnull(strstr(err, "hub_id"));
	/* Too big for the gate, before anything is decoded. */
	{
		static uint8_t big[70000];

		ck_assert_int_eq(tids_wire_decode_signed_grant(big, sizeof(big), &out, err, sizeof(err)), TIDS_ETOOBIG);
	}
}
END_TEST

START_TEST(signed_approval_round_trip_and_rejections)
{
	struct tids_approval a = sample_approval(), out;
	uint8_t *wire, *bare;
	size_t len, bare_len;
	struct tids_identity reg;

	ck_assert_int_eq(tids_identity_generate(&reg), 0);
	ck_assert_int_eq(tids_wire_encode_approval(&a, &bare, &bare_len), 0);
	ck_assert_int_eq(tids_sign_detached(reg.sign_sk, TIDS_DOMAIN_APPROVAL, bare, bare_len, a.signature), 0);
	ck_assert_int_eq(tids_wire_encode_signed_approval(&a, &wire, &len), 0);
	ck_assert_int_eq(tids_wire_decode_signed_approval(wire, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.case_id, "CASE-2026-041");
	ck_assert_str_eq(out.hub_id, "hub.sh");
	ck_assert_str_eq(out.kind, "legal_request");
	ck_assert_uint_eq(out.bytes.len, bare_len);
	ck_assert_int_eq(tids_sign_verify_detached(reg.sign_pk, TIDS_DOMAIN_APPROVAL, out.bytes.data, out.bytes.len,
						   out.signature), 0);
	tids_approval_free(&out);
	free(wire);
	free(bare);

	/* A case id is an id: no spaces, no slashes. */
	a.case_id = "CASE 2026/041";
	ck_assert_int_eq(tids_wire_encode_signed_approval(&a, &wire, &len), 0);
	ck_assert_int_eq(tids_wire_decode_signed_approval(wire, len, &out, err, sizeof(err)), TIDS_EBADID);
	ck_assert_ptr_nonnull(strstr(err, "case_id"));
	free(wire);
	a.case_id = "CASE-2026-041";
	ck_assert_int_eq(tids_wire_encode_signed_approval(&a, &wire, &len), 0);
	ck_assert_int_eq(tids_wire_decode_signed_approval(wire, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.case_id, "CASE-2026-041");
	tids_approval_free(&out);
	free(wire);
	/* No hub named: refused, like a grant. */
	a.hub_id = "";
	ck_assert_int_eq(tids_wire_encode_signed_approval(&a, &wire, &len), 0);
	ck_assert_int_eq(tids_wire_decode_signed_approval(wire, len, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "approval: hub_id"));
	free(wire);
	/* A bare Approval is not a SignedApproval. */
	a.hub_id = "hub.sh";
	ck_assert_int_eq(tids_wire_encode_approval(&a, &bare, &bare_len), 0);
	ck_assert_int_ne(tids_wire_decode_signed_approval(bare, bare_len, &out, err, sizeof(err)), 0);
	free(bare);
	tids_identity_wipe(&reg);
}
END_TEST

START_TEST(revoke_approval_request)
{
	struct tids_id_message m = { .id = "ap-1" }, out;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_revoke_approval_request(&m, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_revoke_approval_request(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.id, "ap-1");
	tids_id_message_free(&out);
	free(buf);
	m.id = "";
	ck_assert_int_eq(tids_wire_encode_revoke_approval_request(&m, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_revoke_approval_request(buf, len, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "revoke approval: approval_id missing"));
	free(buf);
	m.id = "a b";
	ck_assert_int_eq(tids_wire_encode_revoke_approval_request(&m, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_revoke_approval_request(buf, len, &out, err, sizeof(err)), TIDS_EBADID);
	free(buf);
	ck_assert_int_eq(tids_wire_decode_revoke_approval_request((const uint8_t *)"\x0a\xff", 2, &out, err,
								  sizeof(err)), TIDS_EDECODE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("consent");
	TCase *tc = tcase_create("signed");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, signed_grant_keeps_the_signers_bytes);
	tcase_add_test(tc, signed_grant_from_a_struct);
	tcase_add_test(tc, signed_grant_rejections);
	tcase_add_test(tc, signed_approval_round_trip_and_rejections);
	tcase_add_test(tc, revoke_approval_request);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
