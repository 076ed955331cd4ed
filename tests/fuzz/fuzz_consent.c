/*
 * libFuzzer target for the consent gates tidsd runs on untrusted input:
 * SignedGrant (Exchange/Grant), SignedApproval (Exchange/Approve) and
 * RevokeApprovalRequest (Exchange/RevokeApproval), each as rpc.c and
 * registry.c use them: decoded, the signature checked over the exact bytes
 * kept (never a re-encoding), and whatever decodes re-encoded and decoded
 * again to the same message, its signed bytes unchanged.
 *
 * Input: byte 0 picks the gate, the rest is the message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/crypto.h"
#include "tids/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Any key: a signature the fuzzer could make verify would be news. */
static const uint8_t signer_key[TIDS_PUBLIC_KEY_BYTES] = { 1 };

static void same_bytes(const struct tids_bytes *a, const struct tids_bytes *b)
{
	if (a->len != b->len || a->len == 0 || memcmp(a->data, b->data, a->len) != 0)
		abort();
}

static void grant_gate(const uint8_t *buf, size_t n)
{
	struct tids_grant g, h;
	char err[256] = "";
	uint8_t *out;
	size_t len;

	if (tids_wire_decode_signed_grant(buf, n, &g, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();   /* a refusal must say why */
		return;
	}
	if (g.bytes.len == 0 || g.hub_id == NULL || *g.hub_id == '\0')
		abort();
	(void)tids_sign_verify_detached(signer_key, TIDS_DOMAIN_GRANT, g.bytes.data, g.bytes.len, g.signature);
	if (tids_wire_encode_signed_grant(&g, &out, &len) == 0) {
		if (tids_wire_decode_signed_grant(out, len, &h, err, sizeof(err)) != 0)
			abort();
		same_bytes(&g.bytes, &h.bytes);
		if (memcmp(g.signature, h.signature, TIDS_SIGNATURE_BYTES) != 0 || strcmp(g.grant_id, h.grant_id) != 0)
			abort();
		tids_grant_free(&h);
		free(out);
	}
	tids_grant_free(&g);
}

static void approval_gate(const uint8_t *buf, size_t n)
{
	struct tids_approval a, b;
	char err[256] = "";
	uint8_t *out;
	size_t len;

	if (tids_wire_decode_signed_approval(buf, n, &a, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (a.bytes.len == 0 || a.hub_id == NULL || *a.hub_id == '\0' || a.case_id == NULL ||
	    a.n_tiers < 1 || a.n_tiers > 3)
		abort();
	(void)tids_sign_verify_detached(signer_key, TIDS_DOMAIN_APPROVAL, a.bytes.data, a.bytes.len, a.signature);
	if (tids_wire_encode_signed_approval(&a, &out, &len) == 0) {
		if (tids_wire_decode_signed_approval(out, len, &b, err, sizeof(err)) != 0)
			abort();
		same_bytes(&a.bytes, &b.bytes);
		if (strcmp(a.approval_id, b.approval_id) != 0 || strcmp(a.case_id, b.case_id) != 0)
			abort();
		tids_approval_free(&b);
		free(out);
	}
	tids_approval_free(&a);
}

static void revoke_gate(const uint8_t *buf, size_t n)
{
	struct tids_id_message m, r;
	char err[256] = "";
	uint8_t *out;
	size_t len;

	if (tids_wire_decode_revoke_approval_request(buf, n, &m, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (m.id == NULL || *m.id == '\0')
		abort();
	if (tids_wire_encode_revoke_approval_request(&m, &out, &len) == 0) {
		if (tids_wire_decode_revoke_approval_request(out, len, &r, err, sizeof(err)) != 0 ||
		    strcmp(m.id, r.id) != 0)
			abort();
		tids_id_message_free(&r);
		free(out);
	}
	tids_id_message_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	size_t n;

	if (size < 1)
		return 0;
	/* A buffer of exactly the message, so ASan sees any over-read. */
	n = size - 1;
	copy = malloc(n > 0 ? n : 1);
	if (copy == NULL)
		abort();
	if (n > 0)
		memcpy(copy, data + 1, n);
	switch (data[0] % 3) {
	case 0: grant_gate(copy, n); break;
	case 1: approval_gate(copy, n); break;
	default: revoke_gate(copy, n); break;
	}
	free(copy);
	return 0;
}
