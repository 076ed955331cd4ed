/*
 * Gates and encoders for consent: an owner's Grant and a regulator's
 * Approval, which travel signed (SignedGrant, SignedApproval) as the exact
 * bytes their signer produced, and the request that revokes an approval.
 * Signatures are checked by the caller (lib/sign.c) over those bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

#define CONSENT_MAX 65536
/* A signed message: the consent message, its signature and two tags. */
#define SIGNED_MAX (CONSENT_MAX + TIDS_SIGNATURE_BYTES + 16)
#define REVOKE_MAX 1024

/* Decodes a bare Grant; with keep > 0, the first keep bytes of buf are
 * copied into the backing as out->bytes (what the owner signed). */
static int decode_grant(const uint8_t *buf, size_t len, bool keep, struct tids_grant *out,
			char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Grant *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__grant__descriptor, buf, len, CONSENT_MAX, keep ? len : 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Grant *)b->msg;
	if ((r = wire_need_id("grant: grant_id", m->grant_id, err, errlen)) < 0 ||
	    (r = wire_need_id("grant: owner", m->owner, err, errlen)) < 0 ||
	    (r = wire_need_id("grant: grantee", m->grantee, err, errlen)) < 0 ||
	    (r = wire_need_id("grant: hub_id (the hub it is issued to)", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_list("grant: assets", m->assets, m->n_assets, LIST_IDS, 0, &out->assets, err, errlen)) < 0 ||
	    (r = wire_list("grant: categories", m->categories, m->n_categories, LIST_NAMES, 1, &out->categories, err, errlen)) < 0 ||
	    (r = wire_list("grant: purposes", m->purposes, m->n_purposes, LIST_NAMES, 1, &out->purposes, err, errlen)) < 0 ||
	    (r = wire_obligations_from(m->obligations, &out->obligations, err, errlen)) < 0)
		goto out;
	if (m->not_after_ms <= 0 || m->not_before_ms < 0 || m->not_after_ms <= m->not_before_ms) {
		r = tids_fail(err, errlen, TIDS_EINVAL,
			      "grant: validity must have 0 <= not_before_ms < not_after_ms (grants always end)");
		goto out;
	}
	if (strcmp(m->owner, m->grantee) == 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "grant: owner and grantee are the same participant");
		goto out;
	}
	out->grant_id = m->grant_id;
	out->owner = m->owner;
	out->grantee = m->grantee;
	out->hub_id = m->hub_id;
	out->not_before_ms = m->not_before_ms;
	out->not_after_ms = m->not_after_ms;
	out->max_uses = m->max_uses;
	if (keep && len > 0) {
		memcpy(b->mem, buf, len);
		out->bytes = (struct tids_bytes){ b->mem, len };
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_decode_grant(const uint8_t *buf, size_t len, struct tids_grant *out,
			   char *err, size_t errlen)
{
	return decode_grant(buf, len, false, out, err, errlen);
}

int tids_wire_decode_signed_grant(const uint8_t *buf, size_t len, struct tids_grant *out,
				  char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__SignedGrant *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__signed_grant__descriptor, buf, len, SIGNED_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__SignedGrant *)b->msg;
	if (m->grant.len == 0)
		r = tids_fail(err, errlen, TIDS_EMISSING, "signed grant: grant missing");
	else if ((r = wire_bytes("signed grant: signature", m->signature, TIDS_SIGNATURE_BYTES, err, errlen)) == 0 &&
		 (r = decode_grant(m->grant.data, m->grant.len, true, out, err, errlen)) == 0)
		memcpy(out->signature, m->signature.data, TIDS_SIGNATURE_BYTES);
	wire_release(b);
	return r;
}

static int encode_grant(const struct tids_grant *in, uint8_t **out, size_t *len)
{
	Tids__V1__Grant pb = TIDS__V1__GRANT__INIT;
	Tids__V1__Obligations ob;
	Tids__V1__Aggregation agg;

	wire_obligations_to(&in->obligations, &ob, &agg);
	pb.grant_id = (char *)in->grant_id;
	pb.owner = (char *)in->owner;
	pb.grantee = (char *)in->grantee;
	pb.assets = (char **)in->assets.items;
	pb.n_assets = in->assets.n;
	pb.categories = (char **)in->categories.items;
	pb.n_categories = in->categories.n;
	pb.purposes = (char **)in->purposes.items;
	pb.n_purposes = in->purposes.n;
	pb.not_before_ms = in->not_before_ms;
	pb.not_after_ms = in->not_after_ms;
	pb.max_uses = in->max_uses;
	pb.obligations = &ob;
	pb.hub_id = (char *)(in->hub_id != NULL ? in->hub_id : "");
	return wire_pack(&pb.base, out, len);
}

int tids_wire_encode_grant(const struct tids_grant *in, uint8_t **out, size_t *len)
{
	return encode_grant(in, out, len);
}

int tids_wire_encode_signed_grant(const struct tids_grant *in, uint8_t **out, size_t *len)
{
	Tids__V1__SignedGrant pb = TIDS__V1__SIGNED_GRANT__INIT;
	uint8_t *bare = NULL;
	size_t bare_len = 0;
	int r;

	if (in->bytes.len > 0) {
		pb.grant.data = (uint8_t *)in->bytes.data;
		pb.grant.len = in->bytes.len;
	} else {
		if ((r = encode_grant(in, &bare, &bare_len)) != 0)
			return r;
		pb.grant.data = bare;
		pb.grant.len = bare_len;
	}
	pb.signature.data = (uint8_t *)in->signature;
	pb.signature.len = TIDS_SIGNATURE_BYTES;
	r = wire_pack(&pb.base, out, len);
	free(bare);
	return r;
}

void tids_grant_free(struct tids_grant *g)
{
	if (g == NULL)
		return;
	wire_release(g->backing);
	memset(g, 0, sizeof(*g));
}

static int decode_approval(const uint8_t *buf, size_t len, bool keep, struct tids_approval *out,
			   char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Approval *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__approval__descriptor, buf, len, CONSENT_MAX, keep ? len : 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Approval *)b->msg;
	if ((r = wire_need_id("approval: approval_id", m->approval_id, err, errlen)) < 0 ||
	    (r = wire_need_name("approval: kind", m->kind, err, errlen)) < 0 ||
	    (r = wire_need_id("approval: regulator", m->regulator, err, errlen)) < 0 ||
	    (r = wire_need_id("approval: exporter", m->exporter, err, errlen)) < 0 ||
	    (r = wire_need_id("approval: recipient", m->recipient, err, errlen)) < 0 ||
	    (r = wire_need_id("approval: hub_id (the hub it is issued to)", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_opt_id("approval: case_id", m->case_id, err, errlen)) < 0 ||
	    (r = wire_list("approval: categories", m->categories, m->n_categories, LIST_NAMES, 1, &out->categories, err, errlen)) < 0 ||
	    (r = wire_list("approval: purposes", m->purposes, m->n_purposes, LIST_NAMES, 1, &out->purposes, err, errlen)) < 0 ||
	    (r = wire_need_jurisdiction("approval: from_jurisdiction", m->from_jurisdiction, err, errlen)) < 0 ||
	    (r = wire_need_jurisdiction("approval: to_jurisdiction", m->to_jurisdiction, err, errlen)) < 0)
		goto out;
	if (m->n_tiers == 0 || m->n_tiers > 3) {
		r = tids_fail(err, errlen, m->n_tiers == 0 ? TIDS_EMISSING : TIDS_ETOOMANY,
			      "approval: tiers must list 1 to 3 tiers");
		goto out;
	}
	for (size_t i = 0; i < m->n_tiers; i++) {
		if ((r = wire_tier("approval: tiers", (int)m->tiers[i], true, err, errlen)) < 0)
			goto out;
		out->tiers[i] = (enum tids_tier)m->tiers[i];
	}
	if (m->valid_until_ms <= m->valid_from_ms || m->valid_from_ms < 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "approval: valid_until_ms must follow valid_from_ms");
		goto out;
	}
	out->n_tiers = m->n_tiers;
	out->approval_id = m->approval_id;
	out->kind = m->kind;
	out->regulator = m->regulator;
	out->exporter = m->exporter;
	out->recipient = m->recipient;
	out->from_jurisdiction = m->from_jurisdiction;
	out->to_jurisdiction = m->to_jurisdiction;
	out->valid_from_ms = m->valid_from_ms;
	out->valid_until_ms = m->valid_until_ms;
	out->hub_id = m->hub_id;
	out->case_id = m->case_id;
	if (keep && len > 0) {
		memcpy(b->mem, buf, len);
		out->bytes = (struct tids_bytes){ b->mem, len };
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_decode_approval(const uint8_t *buf, size_t len, struct tids_approval *out,
			      char *err, size_t errlen)
{
	return decode_approval(buf, len, false, out, err, errlen);
}

int tids_wire_decode_signed_approval(const uint8_t *buf, size_t len, struct tids_approval *out,
				     char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__SignedApproval *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__signed_approval__descriptor, buf, len, SIGNED_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__SignedApproval *)b->msg;
	if (m->approval.len == 0)
		r = tids_fail(err, errlen, TIDS_EMISSING, "signed approval: approval missing");
	else if ((r = wire_bytes("signed approval: signature", m->signature, TIDS_SIGNATURE_BYTES, err,
				 errlen)) == 0 &&
		 (r = decode_approval(m->approval.data, m->approval.len, true, out, err, errlen)) == 0)
		memcpy(out->signature, m->signature.data, TIDS_SIGNATURE_BYTES);
	wire_release(b);
	return r;
}

static int encode_approval(const struct tids_approval *in, uint8_t **out, size_t *len)
{
	Tids__V1__Approval pb = TIDS__V1__APPROVAL__INIT;
	Tids__V1__Tier tiers[3];

	for (size_t i = 0; i < in->n_tiers && i < 3; i++)
		tiers[i] = (Tids__V1__Tier)in->tiers[i];
	pb.approval_id = (char *)in->approval_id;
	pb.kind = (char *)in->kind;
	pb.regulator = (char *)in->regulator;
	pb.exporter = (char *)in->exporter;
	pb.recipient = (char *)in->recipient;
	pb.categories = (char **)in->categories.items;
	pb.n_categories = in->categories.n;
	pb.tiers = tiers;
	pb.n_tiers = in->n_tiers < 3 ? in->n_tiers : 3;
	pb.purposes = (char **)in->purposes.items;
	pb.n_purposes = in->purposes.n;
	pb.from_jurisdiction = (char *)in->from_jurisdiction;
	pb.to_jurisdiction = (char *)in->to_jurisdiction;
	pb.valid_from_ms = in->valid_from_ms;
	pb.valid_until_ms = in->valid_until_ms;
	pb.hub_id = (char *)(in->hub_id != NULL ? in->hub_id : "");
	pb.case_id = (char *)(in->case_id != NULL ? in->case_id : "");
	return wire_pack(&pb.base, out, len);
}

int tids_wire_encode_approval(const struct tids_approval *in, uint8_t **out, size_t *len)
{
	return encode_approval(in, out, len);
}

int tids_wire_encode_signed_approval(const struct tids_approval *in, uint8_t **out, size_t *len)
{
	Tids__V1__SignedApproval pb = TIDS__V1__SIGNED_APPROVAL__INIT;
	uint8_t *bare = NULL;
	size_t bare_len = 0;
	int r;

	if (in->bytes.len > 0) {
		pb.approval.data = (uint8_t *)in->bytes.data;
		pb.approval.len = in->bytes.len;
	} else {
		if ((r = encode_approval(in, &bare, &bare_len)) != 0)
			return r;
		pb.approval.data = bare;
		pb.approval.len = bare_len;
	}
	pb.signature.data = (uint8_t *)in->signature;
	pb.signature.len = TIDS_SIGNATURE_BYTES;
	r = wire_pack(&pb.base, out, len);
	free(bare);
	return r;
}

void tids_approval_free(struct tids_approval *a)
{
	if (a == NULL)
		return;
	wire_release(a->backing);
	memset(a, 0, sizeof(*a));
}

int tids_wire_decode_revoke_approval_request(const uint8_t *buf, size_t len, struct tids_id_message *out,
					     char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__revoke_approval_request__descriptor, buf, len, REVOKE_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	out->id = ((Tids__V1__RevokeApprovalRequest *)b->msg)->approval_id;
	if ((r = wire_need_id("revoke approval: approval_id", out->id, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

int tids_wire_encode_revoke_approval_request(const struct tids_id_message *in, uint8_t **out, size_t *len)
{
	Tids__V1__RevokeApprovalRequest pb = TIDS__V1__REVOKE_APPROVAL_REQUEST__INIT;

	pb.approval_id = (char *)(in->id != NULL ? in->id : "");
	return wire_pack(&pb.base, out, len);
}
