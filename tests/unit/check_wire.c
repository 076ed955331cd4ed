/*
 * The decode gate: every message type round-trips through its encoder and
 * decoder, and a corpus of malformed messages is rejected, each with its
 * own error code and a message naming what was wrong.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tids/wire.h"

static char err[256];

static const char *labels_personal[] = { "personal", "droppable" };

static struct tids_field sample_fields[3];

static struct tids_record sample_record(void)
{
	struct tids_record r;

	memset(&r, 0, sizeof(r));
	memset(r.record_id, 0xab, sizeof(r.record_id));
	r.owner = "factory.sh1";
	r.asset_id = "press-7";
	r.category = "telemetry";
	r.tier = TIDS_TIER_IMPORTANT;
	r.origin = "CN-SH";
	r.produced_at_ms = 1764400000000;
	r.personal = true;
	r.individuals = 1;
	r.schema = "press.telemetry/1";
	memset(sample_fields, 0, sizeof(sample_fields));
	sample_fields[0].name = "spindle_rpm";
	sample_fields[0].value.kind = TIDS_VALUE_INT;
	sample_fields[0].value.as.i = -1200;
	sample_fields[1].name = "operator_id";
	sample_fields[1].value.kind = TIDS_VALUE_TEXT;
	sample_fields[1].value.as.bytes.data = (const uint8_t *)"op-17";
	sample_fields[1].value.as.bytes.len = 5;
	sample_fields[1].labels = labels_personal;
	sample_fields[1].n_labels = 2;
	sample_fields[2].name = "load";
	sample_fields[2].value.kind = TIDS_VALUE_REAL;
	sample_fields[2].value.as.d = 0.75;
	sample_fields[2].tier = TIDS_TIER_CORE;
	r.fields = sample_fields;
	r.n_fields = 3;
	return r;
}

/* Encodes rec and runs it through the gate; returns the gate's result. */
static int gate_record(const struct tids_record *rec)
{
	struct tids_record out;
	uint8_t *buf;
	size_t len;
	int r;

	ck_assert_int_eq(tids_wire_encode_record(rec, &buf, &len), 0);
	r = tids_wire_decode_record(buf, len, &out, err, sizeof(err));
	tids_record_free(&out);
	free(buf);
	return r;
}

START_TEST(record_round_trip)
{
	struct tids_record in = sample_record(), out;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_record(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_record(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_mem_eq(out.record_id, in.record_id, 16);
	ck_assert_str_eq(out.owner, "factory.sh1");
	ck_assert_str_eq(out.asset_id, "press-7");
	ck_assert_str_eq(out.category, "telemetry");
	ck_assert_int_eq(out.tier, TIDS_TIER_IMPORTANT);
	ck_assert_str_eq(out.origin, "CN-SH");
	ck_assert(out.produced_at_ms == 1764400000000);
	ck_assert(out.personal && out.individuals == 1);
	ck_assert_uint_eq(out.n_fields, 3);
	ck_assert_int_eq(out.fields[0].value.kind, TIDS_VALUE_INT);
	ck_assert(out.fields[0].value.as.i == -1200);
	ck_assert_str_eq((const char *)out.fields[1].value.as.bytes.data, "op-17");
	ck_assert(tids_field_has_label(&out.fields[1], "personal"));
	ck_assert(tids_field_has_label(&out.fields[1], "droppable"));
	ck_assert(out.fields[2].value.as.d == 0.75);
	ck_assert_int_eq(tids_record_effective_tier(&out), TIDS_TIER_CORE);
	tids_record_free(&out);
	tids_record_free(&out); /* idempotent */
	free(buf);
}
END_TEST

/* Each mutation of a valid record and the error the gate must give. */
struct record_case {
	const char *name;
	void (*mutate)(struct tids_record *r);
	int code;
	const char *says;
};

static void no_tier(struct tids_record *r) { r->tier = TIDS_TIER_UNSET; }
static void bad_tier(struct tids_record *r) { r->tier = (enum tids_tier)9; }
static void no_owner(struct tids_record *r) { r->owner = ""; }
static void bad_owner(struct tids_record *r) { r->owner = "factory sh1"; }
static void no_category(struct tids_record *r) { r->category = ""; }
static void bad_category(struct tids_record *r) { r->category = "Run-Hours"; }
static void bad_origin(struct tids_record *r) { r->origin = "shanghai"; }
static void no_origin(struct tids_record *r) { r->origin = ""; }
static void no_time(struct tids_record *r) { r->produced_at_ms = 0; }
static void individuals_without_personal(struct tids_record *r) { r->personal = false; }
static void dup_field(struct tids_record *r) { r->fields[2].name = "spindle_rpm"; }
static void bad_field_name(struct tids_record *r) { r->fields[0].name = "rpm!"; }
static void no_value(struct tids_record *r) { r->fields[2].value.kind = TIDS_VALUE_NONE; }
static void bad_field_tier(struct tids_record *r) { r->fields[1].tier = (enum tids_tier)7; }
static const char *bad_labels[] = { "Personal!" };
static void bad_label(struct tids_record *r) { r->fields[1].labels = bad_labels; r->fields[1].n_labels = 1; }
static void long_owner(struct tids_record *r)
{
	static char id[200];

	memset(id, 'a', sizeof(id) - 1);
	r->owner = id;
}

static const struct record_case record_cases[] = {
	{ "no tier", no_tier, TIDS_ENOTIER, "no tier" },
	{ "unknown tier", bad_tier, TIDS_EINVAL, "unknown tier 9" },
	{ "no owner", no_owner, TIDS_EMISSING, "owner missing" },
	{ "bad owner", bad_owner, TIDS_EBADID, "owner must be" },
	{ "long owner", long_owner, TIDS_EBADID, "owner must be" },
	{ "no category", no_category, TIDS_EMISSING, "category missing" },
	{ "bad category", bad_category, TIDS_EBADID, "category must be" },
	{ "bad origin", bad_origin, TIDS_EINVAL, "not a jurisdiction" },
	{ "no origin", no_origin, TIDS_EMISSING, "origin jurisdiction missing" },
	{ "no time", no_time, TIDS_EMISSING, "produced_at_ms missing" },
	{ "individuals without personal", individuals_without_personal, TIDS_EINVAL, "personal is false" },
	{ "duplicate field", dup_field, TIDS_EDUP, "repeats field 0" },
	{ "bad field name", bad_field_name, TIDS_EBADID, "field 0: name" },
	{ "field without value", no_value, TIDS_EMISSING, "field 2 'load': no value" },
	{ "bad field tier", bad_field_tier, TIDS_EINVAL, "unknown tier 7" },
	{ "bad label", bad_label, TIDS_EBADID, "label 0" },
};

START_TEST(record_rejections)
{
	const struct record_case *c = &record_cases[_i];
	struct tids_record r = sample_record();

	c->mutate(&r);
	ck_assert_msg(gate_record(&r) == c->code, "%s: got %s (%s)", c->name, tids_strerror(gate_record(&r)), err);
	ck_assert_msg(strstr(err, c->says) != NULL, "%s: message '%s' lacks '%s'", c->name, err, c->says);
}
END_TEST

START_TEST(record_too_many_fields)
{
	struct tids_record r = sample_record();
	struct tids_field *many = calloc(TIDS_FIELDS_MAX + 1, sizeof(*many));
	char (*names)[16] = calloc(TIDS_FIELDS_MAX + 1, 16);

	for (size_t i = 0; i <= TIDS_FIELDS_MAX; i++) {
		snprintf(names[i], 16, "f%zu", i);
		many[i].name = names[i];
		many[i].value.kind = TIDS_VALUE_FLAG;
	}
	r.fields = many;
	r.n_fields = TIDS_FIELDS_MAX + 1;
	ck_assert_int_eq(gate_record(&r), TIDS_ETOOMANY);
	r.n_fields = TIDS_FIELDS_MAX;
	ck_assert_int_eq(gate_record(&r), 0);
	free(many);
	free(names);
}
END_TEST

START_TEST(record_raw_bytes)
{
	struct tids_record out;
	uint8_t *buf, *big;
	size_t len;
	struct tids_record in = sample_record();

	ck_assert_int_eq(tids_wire_encode_record(&in, &buf, &len), 0);
	/* Truncated anywhere inside a length-delimited field. */
	ck_assert_int_eq(tids_wire_decode_record(buf, len - 3, &out, err, sizeof(err)), TIDS_EDECODE);
	ck_assert_ptr_nonnull(strstr(err, "not a valid protobuf"));
	ck_assert_ptr_null(out.owner);
	/* A field with the wrong wire type: owner (2) sent as a varint. */
	{
		const uint8_t wrong[] = { 0x10, 0x05 };

		ck_assert_int_eq(tids_wire_decode_record(wrong, sizeof(wrong), &out, err, sizeof(err)), TIDS_EDECODE);
	}
	/* Empty message: the first missing thing is the record id. */
	ck_assert_int_eq(tids_wire_decode_record((const uint8_t *)"", 0, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "record_id"));
	/* Oversize before anything is decoded. */
	big = calloc(1, TIDS_RECORD_MAX + 1);
	ck_assert_int_eq(tids_wire_decode_record(big, TIDS_RECORD_MAX + 1, &out, err, sizeof(err)), TIDS_ETOOBIG);
	free(big);
	free(buf);
}
END_TEST

static struct tids_batch sample_batch(struct tids_bytes *recs, size_t n)
{
	struct tids_batch b;

	memset(&b, 0, sizeof(b));
	b.publisher = "factory.sh1";
	b.sequence = 42;
	b.records = recs;
	b.n_records = n;
	memset(b.merkle_root, 1, sizeof(b.merkle_root));
	memset(b.signature, 2, sizeof(b.signature));
	return b;
}

START_TEST(batch_round_trip_and_rejections)
{
	struct tids_bytes recs[2] = { { (const uint8_t *)"abc", 3 }, { (const uint8_t *)"defg", 4 } };
	struct tids_batch in = sample_batch(recs, 2), out;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_batch(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_batch(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.publisher, "factory.sh1");
	ck_assert(out.sequence == 42);
	ck_assert_uint_eq(out.n_records, 2);
	ck_assert_mem_eq(out.records[1].data, "defg", 4);
	ck_assert_mem_eq(out.signature, in.signature, 64);
	tids_batch_free(&out);
	free(buf);

	in.sequence = 0;
	ck_assert_int_eq(tids_wire_encode_batch(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_batch(buf, len, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "sequence"));
	free(buf);

	in = sample_batch(recs, 0);
	ck_assert_int_eq(tids_wire_encode_batch(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_batch(buf, len, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "no records"));
	free(buf);

	in = sample_batch(recs, 2);
	in.publisher = "";
	ck_assert_int_eq(tids_wire_encode_batch(&in, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_batch(buf, len, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "publisher"));
	/* Cut off inside the signature: the gate notices. */
	ck_assert_int_eq(tids_wire_decode_batch(buf, len - 1, &out, err, sizeof(err)), TIDS_EDECODE);
	free(buf);
}
END_TEST

START_TEST(batch_signature_length)
{
	/* publisher "p", sequence 1, one record, a 32-byte root and a 3-byte signature. */
	uint8_t msg[64] = { 0x0a, 0x01, 'p', 0x10, 0x01, 0x1a, 0x01, 'x', 0x22, 32 };
	struct tids_batch out;
	size_t n = 10 + 32;

	msg[n++] = 0x2a;
	msg[n++] = 3;
	msg[n++] = 1;
	msg[n++] = 2;
	msg[n++] = 3;
	ck_assert_int_eq(tids_wire_decode_batch(msg, n, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "signature is 3 bytes, must be 64"));
}
END_TEST

static const char *purposes[] = { "maintenance", "billing" };
static const char *categories[] = { "run_hours" };
static const char *notify[] = { "reg.sh" };

START_TEST(grant_round_trip_and_rejections)
{
	struct tids_grant g, out;
	uint8_t *buf, *ubuf;
	size_t len, ulen;

	memset(&g, 0, sizeof(g));
	g.grant_id = "g-1";
	g.owner = "factory.sh1";
	g.grantee = "lessor.wh";
	g.categories = (struct tids_strlist){ categories, 1 };
	g.purposes = (struct tids_strlist){ purposes, 2 };
	g.not_before_ms = 1;
	g.not_after_ms = 2000;
	g.max_uses = 3;
	g.obligations.notify = (struct tids_strlist){ notify, 1 };
	g.obligations.no_onward_transfer = true;
	g.hub_id = "hub.sh";
	ck_assert_int_eq(tids_wire_encode_grant(&g, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_grant(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.grantee, "lessor.wh");
	ck_assert(tids_strlist_has(&out.purposes, "billing"));
	ck_assert_uint_eq(out.max_uses, 3);
	ck_assert(out.obligations.no_onward_transfer);
	ck_assert_str_eq(out.obligations.notify.items[0], "reg.sh");
	ck_assert_str_eq(out.hub_id, "hub.sh");
	/* A bare Grant carries no signed bytes (SignedGrant does). */
	ck_assert_uint_eq(out.bytes.len, 0);
	ck_assert_int_eq(tids_wire_encode_grant(&out, &ubuf, &ulen), 0);
	ck_assert(ulen == len && memcmp(ubuf, buf, len) == 0);
	free(ubuf);
	tids_grant_free(&out);
	free(buf);

	g.purposes.n = 0;
	ck_assert_int_eq(tids_wire_encode_grant(&g, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_grant(buf, len, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "purposes"));
	free(buf);
	g.purposes.n = 2;
	g.not_after_ms = 0;
	ck_assert_int_eq(tids_wire_encode_grant(&g, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_grant(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "validity"));
	free(buf);
	g.not_after_ms = 2000;
	g.grantee = "factory.sh1";
	ck_assert_int_eq(tids_wire_encode_grant(&g, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_grant(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "same participant"));
	free(buf);
}
END_TEST

START_TEST(approval_round_trip_and_rejections)
{
	struct tids_approval a, out;
	uint8_t *buf;
	size_t len;

	memset(&a, 0, sizeof(a));
	a.approval_id = "ap-1";
	a.kind = "export";
	a.regulator = "reg.sh";
	a.exporter = "factory.sh1";
	a.recipient = "lessor.sg";
	a.categories = (struct tids_strlist){ categories, 1 };
	a.purposes = (struct tids_strlist){ purposes, 1 };
	a.tiers[0] = TIDS_TIER_IMPORTANT;
	a.n_tiers = 1;
	a.from_jurisdiction = "CN-SH";
	a.to_jurisdiction = "SG";
	a.valid_from_ms = 10;
	a.valid_until_ms = 20;
	a.hub_id = "hub.sh";
	ck_assert_int_eq(tids_wire_encode_approval(&a, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_approval(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.to_jurisdiction, "SG");
	ck_assert_str_eq(out.hub_id, "hub.sh");
	ck_assert_str_eq(out.case_id, "");
	ck_assert_int_eq(out.tiers[0], TIDS_TIER_IMPORTANT);
	tids_approval_free(&out);
	free(buf);

	a.tiers[0] = TIDS_TIER_UNSET;
	ck_assert_int_eq(tids_wire_encode_approval(&a, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_approval(buf, len, &out, err, sizeof(err)), TIDS_ENOTIER);
	free(buf);
	a.tiers[0] = TIDS_TIER_CORE;
	a.to_jurisdiction = "singapore";
	ck_assert_int_eq(tids_wire_encode_approval(&a, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_approval(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "to_jurisdiction"));
	free(buf);
}
END_TEST

START_TEST(registry_round_trip_and_rejections)
{
	struct tids_attribute attrs[2] = { { "security_agreement", "true" }, { "sector", "ic" } };
	struct tids_participant p, pout;
	struct tids_asset a, aout;
	struct tids_peer peer, peerout;
	uint8_t *buf;
	size_t len;

	memset(&p, 0, sizeof(p));
	p.id = "lessor.wh";
	p.role = "lessor";
	p.jurisdiction = "CN-HB";
	memset(p.identity_key, 7, 32);
	p.attributes = attrs;
	p.n_attributes = 2;
	ck_assert_int_eq(tids_wire_encode_participant(&p, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_participant(buf, len, &pout, err, sizeof(err)), 0);
	ck_assert_str_eq(tids_participant_attribute(&pout, "security_agreement"), "true");
	ck_assert_ptr_null(tids_participant_attribute(&pout, "missing"));
	tids_participant_free(&pout);
	free(buf);
	attrs[1].name = "security_agreement";
	ck_assert_int_eq(tids_wire_encode_participant(&p, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_participant(buf, len, &pout, err, sizeof(err)), TIDS_EDUP);
	free(buf);
	p.n_attributes = 0;
	p.role = "";
	ck_assert_int_eq(tids_wire_encode_participant(&p, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_participant(buf, len, &pout, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "role"));
	free(buf);

	memset(&a, 0, sizeof(a));
	a.asset_id = "press-7";
	a.lessee = "factory.sh1";
	a.lessor = "lessor.wh";
	a.site = "sh-plant-2";
	ck_assert_int_eq(tids_wire_encode_asset(&a, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_asset(buf, len, &aout, err, sizeof(err)), 0);
	ck_assert_str_eq(aout.lessor, "lessor.wh");
	tids_asset_free(&aout);
	free(buf);
	a.lessor = "factory.sh1";
	ck_assert_int_eq(tids_wire_encode_asset(&a, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_asset(buf, len, &aout, err, sizeof(err)), TIDS_EINVAL);
	free(buf);

	memset(&peer, 0, sizeof(peer));
	peer.hub_id = "hub.wuhan";
	peer.jurisdiction = "CN-HB";
	peer.address = "";
	memset(peer.public_key, 3, 32);
	ck_assert_int_eq(tids_wire_encode_peer(&peer, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_peer(buf, len, &peerout, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "address"));
	free(buf);
	{
		static const char *const bad[] = { "10.0.0.2", "10.0.0.2:", ":7443", "hub:0", "hub:65536", "hu b:7443",
						   "hub:74x3", "[::1:7443", "[zz]:7443" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			peer.address = bad[i];
			ck_assert_int_eq(tids_wire_encode_peer(&peer, &buf, &len), 0);
			ck_assert_msg(tids_wire_decode_peer(buf, len, &peerout, err, sizeof(err)) == TIDS_EINVAL,
				      "address %s accepted", bad[i]);
			free(buf);
		}
	}
	peer.address = "hub.wh.example:7443";
	ck_assert_int_eq(tids_wire_encode_peer(&peer, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_peer(buf, len, &peerout, err, sizeof(err)), 0);
	ck_assert_str_eq(peerout.address, "hub.wh.example:7443");
	tids_peer_free(&peerout);
	free(buf);
	peer.address = "[::1]:7443";
	ck_assert_int_eq(tids_wire_encode_peer(&peer, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_peer(buf, len, &peerout, err, sizeof(err)), 0);
	tids_peer_free(&peerout);
	free(buf);
}
END_TEST

START_TEST(audit_round_trip_and_rejections)
{
	const char *rules[] = { "lessor_billing" };
	struct tids_audit_entry e, out;
	struct tids_audit_checkpoint c, cout;
	uint8_t hash[32];
	uint8_t *buf;
	size_t len;

	memset(&e, 0, sizeof(e));
	memset(hash, 5, sizeof(hash));
	e.hub_id = "hub.sh";
	e.partition = 2;
	e.seq = 9;
	memset(e.record_id, 1, 16);
	e.owner = "factory.sh1";
	e.recipient = "lessor.wh";
	e.purpose = "billing";
	e.decision = TIDS_DECISION_ALLOW;
	e.rule_ids = (struct tids_strlist){ rules, 1 };
	e.tier = TIDS_TIER_GENERAL;
	e.category = "run_hours";
	e.delivered_hash = (struct tids_bytes){ hash, 32 };
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.rule_ids.items[0], "lessor_billing");
	ck_assert_int_eq(out.decision, TIDS_DECISION_ALLOW);
	ck_assert(out.seq == 9 && out.partition == 2);
	tids_audit_entry_free(&out);
	free(buf);
	e.decision = TIDS_DECISION_UNSET;
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "decision"));
	free(buf);

	/* What a decision counted and what an aggregate said travel with it;
	 * nonsense in either is refused by name. */
	{
		struct tids_counter_increment counts[TIDS_AUDIT_COUNTS_MAX + 1];

		for (size_t i = 0; i <= TIDS_AUDIT_COUNTS_MAX; i++)
			counts[i] = (struct tids_counter_increment){ "pi_individuals_exported", "factory.sh1", 2026, 10 + i,
								     99990 + i };
		e.decision = TIDS_DECISION_TRANSFORM;
		e.counts = counts;
		e.n_counts = 2;
		e.has_aggregate = true;
		e.aggregate = (struct tids_aggregate_result){ "sum", "count", 1764806400000, 3600000, 12, 340.5 };
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), 0);
		ck_assert_uint_eq(out.n_counts, 2);
		ck_assert_str_eq(out.counts[1].name, "pi_individuals_exported");
		ck_assert_uint_eq(out.counts[1].amount, 11);
		ck_assert_uint_eq(out.counts[1].total, 99991);
		ck_assert_int_eq(out.counts[0].period, 2026);
		ck_assert(out.has_aggregate && out.aggregate.count == 12 && out.aggregate.value == 340.5);
		ck_assert_str_eq(out.aggregate.field, "count");
		tids_audit_entry_free(&out);
		free(buf);
		e.aggregate.value = NAN;
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "aggregate"));
		free(buf);
		e.has_aggregate = false;
		e.counts = counts;
		e.n_counts = TIDS_AUDIT_COUNTS_MAX + 1;
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), TIDS_ETOOMANY);
		counts[0].name = "not a name!";
		e.n_counts = 1;
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_lt(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), 0);
		ck_assert_ptr_nonnull(strstr(err, "count name"));
		free(buf);
		e.n_counts = 0;
	}

	/* A denial's reason code: what nearly matched and what failed. */
	{
		e.decision = TIDS_DECISION_DENY;
		e.delivered_hash = (struct tids_bytes){ NULL, 0 };
		e.has_near_miss = true;
		e.near_miss = (struct tids_near_miss){ "grant", "study", 5, (1u << 5) | (1u << 10), 0, 3, 3,
						       "owner_grant" };
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), 0);
		ck_assert(out.has_near_miss);
		ck_assert_str_eq(out.near_miss.kind, "grant");
		ck_assert_str_eq(out.near_miss.id, "study");
		ck_assert_int_eq(out.near_miss.code, 5);
		ck_assert_uint_eq(out.near_miss.failed, (1u << 5) | (1u << 10));
		ck_assert(out.near_miss.uses == 3 && out.near_miss.max_uses == 3);
		ck_assert_str_eq(out.near_miss.rule_id, "owner_grant");
		tids_audit_entry_free(&out);
		free(buf);
		/* none exists: no id */
		e.near_miss = (struct tids_near_miss){ "approval", NULL, 1, 1u << 1, 0, 0, 0, NULL };
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), 0);
		ck_assert(out.has_near_miss && out.near_miss.code == 1 && *out.near_miss.id == '\0');
		tids_audit_entry_free(&out);
		free(buf);
		/* a code that is not among what failed, another kind: refused */
		e.near_miss = (struct tids_near_miss){ "grant", "study", 4, 1u << 5, 0, 0, 0, "" };
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "near_miss.code"));
		free(buf);
		e.near_miss = (struct tids_near_miss){ "consent", "study", 5, 1u << 5, 0, 0, 0, "" };
		ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "near_miss.kind"));
		free(buf);
		e.has_near_miss = false;
	}

	memset(&c, 0, sizeof(c));
	c.hub_id = "hub.sh";
	c.seq = 100;
	memcpy(c.head_hash, hash, 32);
	memset(c.signature, 4, 64);
	ck_assert_int_eq(tids_wire_encode_audit_checkpoint(&c, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_audit_checkpoint(buf, len, &cout, err, sizeof(err)), 0);
	ck_assert_mem_eq(cout.head_hash, hash, 32);
	tids_audit_checkpoint_free(&cout);
	free(buf);
	ck_assert_int_eq(tids_wire_encode_audit_checkpoint_unsigned(&c, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_audit_checkpoint(buf, len, &cout, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "signature"));
	free(buf);
}
END_TEST

START_TEST(delivery_round_trip)
{
	const char *rules[] = { "lessor_maintenance", "redact_personal" };
	const char *redacted[] = { "operator_id" };
	struct tids_delivery d, out;
	uint8_t *buf;
	size_t len;

	memset(&d, 0, sizeof(d));
	d.record = sample_record();
	d.decision = TIDS_DECISION_TRANSFORM;
	d.rule_ids = (struct tids_strlist){ rules, 2 };
	d.obligations.redacted = (struct tids_strlist){ redacted, 1 };
	d.obligations.aggregate.function = "sum";
	d.obligations.aggregate.field = "count";
	d.obligations.aggregate.window_ms = 3600000;
	d.purpose = "maintenance";
	d.delivery_seq = 77;
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.decision, TIDS_DECISION_TRANSFORM);
	ck_assert_str_eq(out.obligations.redacted.items[0], "operator_id");
	ck_assert_str_eq(out.obligations.aggregate.function, "sum");
	ck_assert(out.obligations.aggregate.window_ms == 3600000);
	ck_assert(out.delivery_seq == 77);
	ck_assert_str_eq(out.record.owner, "factory.sh1");
	tids_delivery_free(&out);
	free(buf);
	d.decision = TIDS_DECISION_DENY;
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
	d.decision = TIDS_DECISION_ALLOW;
	d.record.tier = TIDS_TIER_UNSET;
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &out, err, sizeof(err)), TIDS_ENOTIER);
	free(buf);
	/* a window of calendar months, and not both kinds or neither */
	d.decision = TIDS_DECISION_TRANSFORM;
	d.record = sample_record();
	d.obligations.aggregate.window_ms = 0;
	d.obligations.aggregate.window_months = 1;
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &out, err, sizeof(err)), 0);
	ck_assert(out.obligations.aggregate.window_months == 1 && out.obligations.aggregate.window_ms == 0);
	tids_delivery_free(&out);
	free(buf);
	for (int k = 0; k < 2; k++) {
		d.obligations.aggregate.window_ms = k == 0 ? 3600000 : 0;
		d.obligations.aggregate.window_months = k == 0 ? 1 : 0;
		ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_msg(strstr(err, "one positive window") != NULL, "%s", err);
		free(buf);
	}
}
END_TEST

START_TEST(frame_round_trip_and_rejections)
{
	struct tids_frame f, out;
	uint8_t *buf;
	size_t len;

	memset(&f, 0, sizeof(f));
	f.call_id = 3;
	f.kind = TIDS_FRAME_REQUEST;
	f.method = "tids.v1.Exchange/Ping";
	f.body = (struct tids_bytes){ (const uint8_t *)"\x0a\x01z", 3 };
	ck_assert_int_eq(tids_wire_encode_frame(&f, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_frame(buf, len, 1024, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.method, "tids.v1.Exchange/Ping");
	ck_assert_uint_eq(out.body.len, 3);
	tids_frame_free(&out);
	/* Over the connection's limit. */
	ck_assert_int_eq(tids_wire_decode_frame(buf, len, len - 1, &out, err, sizeof(err)), TIDS_ETOOBIG);
	free(buf);

	f.method = "Ping";
	ck_assert_int_eq(tids_wire_encode_frame(&f, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_frame(buf, len, 1024, &out, err, sizeof(err)), TIDS_EBADID);
	free(buf);
	f.method = "tids.v1.Exchange/Ping";
	f.call_id = 0;
	ck_assert_int_eq(tids_wire_encode_frame(&f, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_frame(buf, len, 1024, &out, err, sizeof(err)), TIDS_EMISSING);
	ck_assert_ptr_nonnull(strstr(err, "call_id"));
	free(buf);
	f.call_id = 1;
	f.kind = (enum tids_frame_kind)42;
	ck_assert_int_eq(tids_wire_encode_frame(&f, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_frame(buf, len, 1024, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "kind 42"));
	free(buf);
	/* Garbage. */
	ck_assert_int_eq(tids_wire_decode_frame((const uint8_t *)"\xff\xff\xff", 3, 1024, &out, err, sizeof(err)),
			 TIDS_EDECODE);
}
END_TEST

START_TEST(small_messages)
{
	struct tids_subscribe_control s, sout;
	struct tids_id_message m, mout;
	struct tids_ping p, pout;
	struct tids_publish_ack a, aout;
	struct tids_record_error re = { 1, 3, "record has no tier" };
	uint8_t *buf;
	size_t len;

	memset(&s, 0, sizeof(s));
	s.purposes = (struct tids_strlist){ purposes, 2 };
	s.window = 100;
	ck_assert_int_eq(tids_wire_encode_subscribe_control(&s, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_subscribe_control(buf, len, &sout, err, sizeof(err)), 0);
	ck_assert(!sout.is_ack && sout.window == 100 && sout.purposes.n == 2);
	tids_subscribe_control_free(&sout);
	free(buf);
	s.window = 0;
	ck_assert_int_eq(tids_wire_encode_subscribe_control(&s, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_subscribe_control(buf, len, &sout, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
	s.is_ack = true;
	s.ack_seq = 12;
	ck_assert_int_eq(tids_wire_encode_subscribe_control(&s, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_subscribe_control(buf, len, &sout, err, sizeof(err)), 0);
	ck_assert(sout.is_ack && sout.ack_seq == 12);
	tids_subscribe_control_free(&sout);
	free(buf);
	ck_assert_int_eq(tids_wire_decode_subscribe_control((const uint8_t *)"", 0, &sout, err, sizeof(err)),
			 TIDS_EMISSING);

	memset(&m, 0, sizeof(m));
	m.id = "g-1";
	ck_assert_int_eq(tids_wire_encode_revoke_request(&m, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_revoke_request(buf, len, &mout, err, sizeof(err)), 0);
	ck_assert_str_eq(mout.id, "g-1");
	tids_id_message_free(&mout);
	free(buf);
	ck_assert_int_eq(tids_wire_decode_revoke_request((const uint8_t *)"", 0, &mout, err, sizeof(err)),
			 TIDS_EMISSING);
	m.id = "lessor.wh";
	m.flag = true;
	ck_assert_int_eq(tids_wire_encode_suspend_request(&m, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_suspend_request(buf, len, &mout, err, sizeof(err)), 0);
	ck_assert(mout.flag);
	tids_id_message_free(&mout);
	free(buf);

	memset(&p, 0, sizeof(p));
	p.nonce = (struct tids_bytes){ (const uint8_t *)"hello", 5 };
	p.hub_id = "hub.sh";
	p.participant = "factory.sh1";
	ck_assert_int_eq(tids_wire_encode_ping_reply(&p, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_ping_reply(buf, len, &pout, err, sizeof(err)), 0);
	ck_assert_str_eq(pout.participant, "factory.sh1");
	tids_ping_free(&pout);
	free(buf);
	{
		uint8_t nonce[100] = { 0 };

		p.nonce = (struct tids_bytes){ nonce, sizeof(nonce) };
		ck_assert_int_eq(tids_wire_encode_ping_request(&p, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_ping_request(buf, len, &pout, err, sizeof(err)), TIDS_ETOOBIG);
		free(buf);
	}

	memset(&a, 0, sizeof(a));
	a.sequence = 5;
	a.accepted = 2;
	a.errors = &re;
	a.n_errors = 1;
	ck_assert_int_eq(tids_wire_encode_publish_ack(&a, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_publish_ack(buf, len, &aout, err, sizeof(err)), 0);
	ck_assert_uint_eq(aout.n_errors, 1);
	ck_assert_str_eq(aout.errors[0].message, "record has no tier");
	ck_assert_int_eq(aout.errors[0].code, 3);
	tids_publish_ack_free(&aout);
	free(buf);
}
END_TEST

/* Where the router resumes on a partition: a state entry of its own kind;
 * a negative offset is refused by name. */
START_TEST(state_position)
{
	struct tids_router_state st = { .kind = TIDS_STATE_POSITION, .next_offset = 123456789012 }, out;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_router_state(&st, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_router_state(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.kind, TIDS_STATE_POSITION);
	ck_assert_int_eq(out.next_offset, 123456789012);
	tids_router_state_free(&out);
	free(buf);
	st.next_offset = 0;
	ck_assert_int_eq(tids_wire_encode_router_state(&st, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_router_state(buf, len, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.next_offset, 0);
	tids_router_state_free(&out);
	free(buf);
	st.next_offset = -5;
	ck_assert_int_eq(tids_wire_encode_router_state(&st, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_router_state(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "next offset -5 is negative"));
	free(buf);
}
END_TEST

/* The character classes of ids, names and field names, every byte in
 * every position that matters, against the sets the rules spell out
 * (record_check.c tests them by comparisons). */
static bool in_spelled_set(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c) != NULL);
}

START_TEST(identifier_character_classes)
{
	for (int i = 1; i < 256; i++) {
		char c = (char)i, one[2] = { c, '\0' }, mid[4] = { 'a', c, 'b', '\0' };

		ck_assert_int_eq(tids_valid_id(one), in_spelled_set(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ._:-"));
		ck_assert_int_eq(tids_valid_id(mid), in_spelled_set(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ._:-"));
		ck_assert_int_eq(tids_valid_name(one), in_spelled_set(c, "_"));
		ck_assert_int_eq(tids_valid_name(mid), in_spelled_set(c, "_"));
		ck_assert_int_eq(tids_valid_field_name(one), in_spelled_set(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-"));
		ck_assert_int_eq(tids_valid_field_name(mid), in_spelled_set(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-"));
	}
	ck_assert(!tids_valid_id(""));
	ck_assert(!tids_valid_id(NULL));
	ck_assert(!tids_valid_name(""));
}
END_TEST

START_TEST(error_strings)
{
	for (int e = 0; e >= TIDS_ERROR_MIN; e--)
		ck_assert_ptr_nonnull(tids_strerror(e));
	ck_assert_str_eq(tids_strerror(TIDS_ENOTIER), "no classification tier");
	ck_assert_int_eq(tids_error_code(TIDS_EBADSIG), 16);
	ck_assert_int_eq(tids_error_code(TIDS_EREPLAY), 9);
	ck_assert_int_eq(tids_error_code(-1000), 13);
}
END_TEST

/* Admin/List and Admin/Show: what an operator may ask, and the reply. */
START_TEST(admin_list_gates)
{
	static const char *const sub_purposes[] = { "billing", "maintenance" };
	struct tids_list_request req = { .kind = "grants", .after = "g-1", .limit = 0 }, got;
	struct tids_id_message show = { .id = "factory.sh1" }, sgot;
	struct tids_bytes parts[2] = { { (const uint8_t *)"\x0a\x01a", 3 }, { (const uint8_t *)"", 0 } };
	struct tids_listed_approval ap = { { (const uint8_t *)"xyz", 3 }, 1234 };
	struct tids_listed_subscription sub = { "lessor.x", { sub_purposes, 2 }, 77 };
	struct tids_list_reply rep = { .participants = parts, .n_participants = 2, .approvals = &ap, .n_approvals = 1,
				       .subscriptions = &sub, .n_subscriptions = 1, .next_after = "lessor.x" }, rgot;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_list_request(&req, &buf, &len), 0);
	ck_assert_msg(tids_wire_decode_list_request(buf, len, &got, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(got.kind, "grants");
	ck_assert_str_eq(got.after, "g-1");
	ck_assert_uint_eq(got.limit, TIDS_LIST_LIMIT_DEFAULT);
	tids_list_request_free(&got);
	free(buf);
	/* Kinds the hub does not list, limits above the cap, bad ids: refused
	 * with what was wrong. */
	req.kind = "keys";
	ck_assert_int_eq(tids_wire_encode_list_request(&req, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_list_request(buf, len, &got, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "kind 'keys' is none of participants"));
	free(buf);
	req.kind = "";
	ck_assert_int_eq(tids_wire_encode_list_request(&req, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_list_request(buf, len, &got, err, sizeof(err)), TIDS_EMISSING);
	free(buf);
	req = (struct tids_list_request){ .kind = "assets", .after = "", .limit = TIDS_LIST_LIMIT_MAX + 1 };
	ck_assert_int_eq(tids_wire_encode_list_request(&req, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_list_request(buf, len, &got, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "limit 10001 is above 10000"));
	free(buf);
	req = (struct tids_list_request){ .kind = "assets", .after = "bad id!", .limit = 5 };
	ck_assert_int_eq(tids_wire_encode_list_request(&req, &buf, &len), 0);
	ck_assert_int_lt(tids_wire_decode_list_request(buf, len, &got, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "list: after"));
	free(buf);

	ck_assert_int_eq(tids_wire_encode_show_request(&show, &buf, &len), 0);
	ck_assert_msg(tids_wire_decode_show_request(buf, len, &sgot, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(sgot.id, "factory.sh1");
	tids_id_message_free(&sgot);
	free(buf);
	show.id = "";
	ck_assert_int_eq(tids_wire_encode_show_request(&show, &buf, &len), 0);
	ck_assert_int_lt(tids_wire_decode_show_request(buf, len, &sgot, err, sizeof(err)), 0);
	free(buf);

	ck_assert_int_eq(tids_wire_encode_list_reply(&rep, &buf, &len), 0);
	ck_assert_msg(tids_wire_decode_list_reply(buf, len, &rgot, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(rgot.n_participants, 2);
	ck_assert_uint_eq(rgot.participants[0].len, 3);
	ck_assert_mem_eq(rgot.participants[0].data, "\x0a\x01a", 3);
	ck_assert_uint_eq(rgot.participants[1].len, 0);
	ck_assert_uint_eq(rgot.n_assets + rgot.n_peers + rgot.n_grants, 0);
	ck_assert_uint_eq(rgot.n_approvals, 1);
	ck_assert_int_eq(rgot.approvals[0].revoked_at_ms, 1234);
	ck_assert_uint_eq(rgot.n_subscriptions, 1);
	ck_assert_str_eq(rgot.subscriptions[0].participant, "lessor.x");
	ck_assert_uint_eq(rgot.subscriptions[0].purposes.n, 2);
	ck_assert_str_eq(rgot.subscriptions[0].purposes.items[1], "maintenance");
	ck_assert_uint_eq(rgot.subscriptions[0].acked, 77);
	ck_assert_str_eq(rgot.next_after, "lessor.x");
	tids_list_reply_free(&rgot);
	free(buf);
	/* A subscription with a malformed purpose does not pass. */
	{
		static const char *const bad[] = { "Not A Name" };

		sub.purposes = (struct tids_strlist){ bad, 1 };
		ck_assert_int_eq(tids_wire_encode_list_reply(&rep, &buf, &len), 0);
		ck_assert_int_lt(tids_wire_decode_list_reply(buf, len, &rgot, err, sizeof(err)), 0);
		ck_assert_ptr_nonnull(strstr(err, "subscription purposes"));
		free(buf);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("gate");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, record_round_trip);
	tcase_add_loop_test(tc, record_rejections, 0, (int)(sizeof(record_cases) / sizeof(record_cases[0])));
	tcase_add_test(tc, record_too_many_fields);
	tcase_add_test(tc, record_raw_bytes);
	tcase_add_test(tc, batch_round_trip_and_rejections);
	tcase_add_test(tc, batch_signature_length);
	tcase_add_test(tc, grant_round_trip_and_rejections);
	tcase_add_test(tc, approval_round_trip_and_rejections);
	tcase_add_test(tc, registry_round_trip_and_rejections);
	tcase_add_test(tc, audit_round_trip_and_rejections);
	tcase_add_test(tc, delivery_round_trip);
	tcase_add_test(tc, frame_round_trip_and_rejections);
	tcase_add_test(tc, small_messages);
	tcase_add_test(tc, state_position);
	tcase_add_test(tc, error_strings);
	tcase_add_test(tc, identifier_character_classes);
	tcase_add_test(tc, admin_list_gates);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
