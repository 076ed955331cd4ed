/*
 * The router's encoders (lib/wire_write.c) write exactly what protobuf-c
 * packs from the same message: the reference below fills protobuf-c's
 * structs the way the encoders before them did and packs them. Records,
 * deliveries, envelopes and audit entries of every shape (each value kind,
 * zero values, empty and absent strings and bytes, lists, obligations with
 * and without aggregation, counts, aggregates, bodies long enough for
 * multi-byte lengths), then thousands of random ones; and messages with
 * every field set, walked against protobuf-c's descriptors, so that a
 * field a proto gains and both writers miss is caught too.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/wire_internal.h"
#include "tids/buf.h"
#include "tids/error.h"
#include "tids/wire.h"

/* --- the reference: protobuf-c ------------------------------------------------ */

static void ref_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	ck_assert_int_eq(wire_pack(m, out, len), 0);
}

static void ref_record(const struct tids_record *in, uint8_t **out, size_t *len)
{
	Tids__V1__Record pb;

	ck_assert_int_eq(wire_record_view(in, &pb), 0);
	ref_pack(&pb.base, out, len);
	wire_record_view_free(&pb);
}

static void ref_delivery(const struct tids_delivery *in, uint8_t **out, size_t *len)
{
	Tids__V1__Delivery pb = TIDS__V1__DELIVERY__INIT;
	Tids__V1__DeliveryReceipt receipt;
	Tids__V1__Provenance prov = TIDS__V1__PROVENANCE__INIT;
	ProtobufCBinaryData path[64];
	Tids__V1__Record rec;
	Tids__V1__Obligations ob;
	Tids__V1__Aggregation agg;

	ck_assert_int_eq(wire_record_view(&in->record, &rec), 0);
	wire_obligations_to(&in->obligations, &ob, &agg);
	pb.record = &rec;
	pb.decision = (Tids__V1__Decision)in->decision;
	pb.rule_ids = (char **)in->rule_ids.items;
	pb.n_rule_ids = in->rule_ids.n;
	pb.obligations = &ob;
	pb.grant_id = (char *)(in->grant_id != NULL ? in->grant_id : "");
	pb.purpose = (char *)(in->purpose != NULL ? in->purpose : "");
	pb.delivery_seq = in->delivery_seq;
	pb.decided_at_ms = in->decided_at_ms;
	pb.source_record_id.data = (uint8_t *)in->source_record_id.data;
	pb.source_record_id.len = in->source_record_id.len;
	pb.notification_for = (char *)(in->notification_for != NULL ? in->notification_for : "");
	if (in->has_receipt) {
		wire_delivery_receipt_to(&in->receipt, &receipt);
		pb.receipt = &receipt;
	}
	if (in->provenance.present) {
		const struct tids_provenance *p = &in->provenance;
		size_t n = p->n_merkle_path < 64 ? p->n_merkle_path : 64;

		for (size_t i = 0; i < n; i++) {
			path[i].data = (uint8_t *)p->merkle_path[i];
			path[i].len = TIDS_HASH_BYTES;
		}
		prov.hub_id = (char *)p->hub_id;
		prov.publisher = (char *)(p->publisher != NULL ? p->publisher : "");
		prov.sequence = p->sequence;
		if (*prov.publisher != '\0') {
			prov.batch_root.data = (uint8_t *)p->batch_root;
			prov.batch_root.len = TIDS_HASH_BYTES;
			prov.batch_signature.data = (uint8_t *)p->batch_signature;
			prov.batch_signature.len = TIDS_SIGNATURE_BYTES;
			prov.leaf_hash.data = (uint8_t *)p->leaf_hash;
			prov.leaf_hash.len = TIDS_HASH_BYTES;
			prov.merkle_path = path;
			prov.n_merkle_path = n;
			prov.published.data = (uint8_t *)p->published.data;
			prov.published.len = p->published.len;
		}
		prov.leaf_index = p->leaf_index;
		prov.leaf_count = p->leaf_count;
		prov.hops = p->hops;
		prov.export_hub = (char *)(p->export_hub != NULL ? p->export_hub : "");
		prov.export_partition = p->export_partition;
		prov.export_seq = p->export_seq;
		pb.provenance = &prov;
	}
	ref_pack(&pb.base, out, len);
	wire_record_view_free(&rec);
}

static void ref_envelope(const struct tids_delivery_envelope *in, uint8_t **out, size_t *len)
{
	Tids__V1__DeliveryEnvelope pb = TIDS__V1__DELIVERY_ENVELOPE__INIT;
	Tids__V1__DeliveryReceipt receipt;

	if (in->has_receipt) {
		wire_delivery_receipt_to(&in->receipt, &receipt);
		pb.receipt = &receipt;
	}
	pb.delivery.data = (uint8_t *)in->delivery.data;
	pb.delivery.len = in->delivery.len;
	pb.sealed_by = (char *)(in->sealed_by != NULL ? in->sealed_by : "");
	pb.record_id.data = (uint8_t *)in->record_id;
	pb.record_id.len = TIDS_RECORD_ID_BYTES;
	ref_pack(&pb.base, out, len);
}

static void ref_entry(const struct tids_audit_entry *in, uint8_t **out, size_t *len)
{
	Tids__V1__AuditEntry pb = TIDS__V1__AUDIT_ENTRY__INIT;
	Tids__V1__Obligations ob;
	Tids__V1__Aggregation agg;
	Tids__V1__CounterIncrement cs[TIDS_AUDIT_COUNTS_MAX], *cp[TIDS_AUDIT_COUNTS_MAX];
	Tids__V1__AggregateResult ag = TIDS__V1__AGGREGATE_RESULT__INIT;

	wire_obligations_to(&in->obligations, &ob, &agg);
	pb.hub_id = (char *)in->hub_id;
	pb.partition = in->partition;
	pb.seq = in->seq;
	pb.prev_hash.data = (uint8_t *)in->prev_hash;
	pb.prev_hash.len = TIDS_HASH_BYTES;
	pb.record_id.data = (uint8_t *)in->record_id;
	pb.record_id.len = TIDS_RECORD_ID_BYTES;
	pb.owner = (char *)in->owner;
	pb.recipient = (char *)in->recipient;
	pb.purpose = (char *)(in->purpose != NULL ? in->purpose : "");
	pb.decision = (Tids__V1__Decision)in->decision;
	pb.rule_ids = (char **)in->rule_ids.items;
	pb.n_rule_ids = in->rule_ids.n;
	pb.tier = (Tids__V1__Tier)in->tier;
	pb.category = (char *)in->category;
	pb.origin = (char *)(in->origin != NULL ? in->origin : "");
	pb.destination = (char *)(in->destination != NULL ? in->destination : "");
	pb.grant_id = (char *)(in->grant_id != NULL ? in->grant_id : "");
	pb.approval_id = (char *)(in->approval_id != NULL ? in->approval_id : "");
	pb.decided_at_ms = in->decided_at_ms;
	pb.ingress_offset = in->ingress_offset;
	pb.obligations = &ob;
	pb.reason = (char *)(in->reason != NULL ? in->reason : "");
	pb.delivered_hash.data = (uint8_t *)in->delivered_hash.data;
	pb.delivered_hash.len = in->delivered_hash.len;
	pb.asset_id = (char *)(in->asset_id != NULL ? in->asset_id : "");
	pb.delivery_seq = in->delivery_seq;
	pb.case_id = (char *)(in->case_id != NULL ? in->case_id : "");
	Tids__V1__NearMiss nm = TIDS__V1__NEAR_MISS__INIT;
	if (in->has_near_miss) {
		nm.kind = (char *)in->near_miss.kind;
		nm.id = (char *)(in->near_miss.id != NULL ? in->near_miss.id : "");
		nm.code = (Tids__V1__NearMissCode)in->near_miss.code;
		nm.failed = in->near_miss.failed;
		nm.at_ms = in->near_miss.at_ms;
		nm.uses = in->near_miss.uses;
		nm.max_uses = in->near_miss.max_uses;
		nm.rule_id = (char *)(in->near_miss.rule_id != NULL ? in->near_miss.rule_id : "");
		pb.near_miss = &nm;
	}
	pb.peer_hub = (char *)(in->peer_hub != NULL ? in->peer_hub : "");
	pb.peer_partition = in->peer_partition;
	pb.peer_seq = in->peer_seq;
	for (size_t i = 0; i < in->n_counts; i++) {
		tids__v1__counter_increment__init(&cs[i]);
		cs[i].name = (char *)in->counts[i].name;
		cs[i].key = (char *)in->counts[i].key;
		cs[i].period = in->counts[i].period;
		cs[i].amount = in->counts[i].amount;
		cs[i].total = in->counts[i].total;
		cp[i] = &cs[i];
	}
	pb.counts = cp;
	pb.n_counts = in->n_counts;
	if (in->has_aggregate) {
		ag.function = (char *)in->aggregate.function;
		ag.field = (char *)in->aggregate.field;
		ag.window_start_ms = in->aggregate.window_start_ms;
		ag.window_ms = in->aggregate.window_ms;
		ag.count = in->aggregate.count;
		ag.value = in->aggregate.value;
		pb.aggregate = &ag;
	}
	ref_pack(&pb.base, out, len);
}

/* --- comparisons ----------------------------------------------------------------- */

static void same(const char *what, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	/* The first byte that differs says more than the lengths. */
	for (size_t i = 0; i < alen && i < blen; i++)
		ck_assert_msg(a[i] == b[i], "%s: byte %zu is %02x, protobuf-c packs %02x", what, i, a[i], b[i]);
	ck_assert_msg(alen == blen, "%s: %zu bytes, protobuf-c packs %zu", what, alen, blen);
}

static void check_record(const struct tids_record *r)
{
	uint8_t *ours, *ref;
	size_t n, m;
	struct tids_buf b = { 0 };

	ck_assert_int_eq(tids_wire_encode_record(r, &ours, &n), 0);
	ref_record(r, &ref, &m);
	same("record", ours, n, ref, m);
	/* Appended after other bytes: the same bytes again. */
	ck_assert_int_eq(tids_buf_append(&b, "xyz", 3), 0);
	ck_assert_int_eq(tids_wire_append_record(&b, r), 0);
	same("appended record", tids_buf_head(&b) + 3, b.len - 3, ref, m);
	tids_buf_free(&b);
	/* Behind a consumed head, in a buffer that compacts, then grows,
	 * while the writer is inside a sub-message. */
	b = (struct tids_buf){ 0 };
	ck_assert_int_eq(tids_buf_reserve(&b, 256), 0);
	memset(b.data, 0x55, b.cap);
	b.len = b.cap - 4;
	tids_buf_consume(&b, b.len - 3);
	ck_assert_int_eq(tids_wire_append_record(&b, r), 0);
	same("record behind a consumed head", tids_buf_head(&b) + 3, b.len - 3, ref, m);
	tids_buf_free(&b);
	free(ours);
	free(ref);
}

static void check_delivery(const struct tids_delivery *d)
{
	uint8_t *ours, *ref, *rec;
	size_t n, m, rn;
	struct tids_buf b = { 0 };

	ck_assert_int_eq(tids_wire_encode_delivery(d, &ours, &n), 0);
	ref_delivery(d, &ref, &m);
	same("delivery", ours, n, ref, m);
	/* The record given already encoded (shared by several deliveries). */
	ck_assert_int_eq(tids_wire_encode_record(&d->record, &rec, &rn), 0);
	ck_assert_int_eq(tids_wire_append_delivery(&b, d, &(struct tids_bytes){ rec, rn }), 0);
	same("delivery of an encoded record", tids_buf_head(&b), b.len, ref, m);
	/* And as an envelope built in three steps. */
	{
		struct tids_delivery_envelope env = { .delivery = { ref, m }, .sealed_by = n % 2 ? "hub" : "" };
		uint8_t *e1, *e2;
		size_t l1, l2;

		memset(env.record_id, 0x3c, sizeof(env.record_id));
		ck_assert_int_eq(tids_wire_encode_delivery_envelope(&env, &e1, &l1), 0);
		ref_envelope(&env, &e2, &l2);
		same("envelope", e1, l1, e2, l2);
		b.len = 0;
		ck_assert_int_eq(tids_wire_append_envelope_head(&b, m), 0);
		ck_assert_int_eq(tids_buf_append(&b, ref, m), 0);
		ck_assert_int_eq(tids_wire_append_envelope_tail(&b, env.sealed_by, env.record_id), 0);
		same("envelope in steps", tids_buf_head(&b), b.len, e2, l2);
		free(e1);
		free(e2);
		if (d->has_receipt) {
			env.has_receipt = true;
			env.receipt = d->receipt;
			ck_assert_int_eq(tids_wire_encode_delivery_envelope(&env, &e1, &l1), 0);
			ref_envelope(&env, &e2, &l2);
			same("envelope with a receipt", e1, l1, e2, l2);
			free(e1);
			free(e2);
			/* The receipt added on its own after the envelope (receipts.c). */
			ck_assert_int_eq(tids_wire_encode_delivery_envelope_receipt(&d->receipt, &e2, &l2), 0);
			b.len = 0;
			ck_assert_int_eq(tids_wire_append_envelope_receipt(&b, &d->receipt), 0);
			same("envelope receipt", tids_buf_head(&b), b.len, e2, l2);
			free(e2);
		}
	}
	tids_buf_free(&b);
	free(rec);
	free(ours);
	free(ref);
}

static void check_entry(const struct tids_audit_entry *e, bool valid)
{
	uint8_t *ours, *ref;
	size_t n, m;
	struct tids_audit_entry back;
	char err[256];

	ck_assert_int_eq(tids_wire_encode_audit_entry(e, &ours, &n), 0);
	ref_entry(e, &ref, &m);
	same("audit entry", ours, n, ref, m);
	/* Appended as audit.c does, after other entries in a buffer that
	 * compacts and grows under the writer. */
	{
		struct tids_buf b = { 0 };

		ck_assert_int_eq(tids_buf_reserve(&b, 256), 0);
		memset(b.data, 0x55, b.cap);
		b.len = b.cap - 2;
		tids_buf_consume(&b, 100);
		ck_assert_int_eq(tids_wire_append_audit_entry(&b, e), 0);
		same("appended audit entry", tids_buf_head(&b) + (254 - 100), b.len - (254 - 100), ref, m);
		tids_buf_free(&b);
	}
	/* What the hub writes passes its own gate. */
	if (valid) {
		ck_assert_msg(tids_wire_decode_audit_entry(ours, n, &back, err, sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(back.seq, e->seq);
		tids_audit_entry_free(&back);
	}
	free(ours);
	free(ref);
}

/* --- fixed shapes ------------------------------------------------------------------ */

static const char *labels[] = { "personal", "", "droppable" };
static char big[20000];

static void fill_record(struct tids_record *r, struct tids_field *f)
{
	memset(r, 0, sizeof(*r));
	memset(r->record_id, 0xab, sizeof(r->record_id));
	r->owner = "factory.sh1";
	r->asset_id = "press-7";
	r->category = "telemetry";
	r->tier = TIDS_TIER_IMPORTANT;
	r->origin = "CN-SH";
	r->produced_at_ms = 1764400000000;
	r->schema = "press.telemetry/1";
	memset(f, 0, 9 * sizeof(*f));
	f[0] = (struct tids_field){ .name = "rpm", .value = { .kind = TIDS_VALUE_INT, .as.i = -1200 } };
	f[1] = (struct tids_field){ .name = "zero", .value = { .kind = TIDS_VALUE_INT, .as.i = 0 }, .tier = TIDS_TIER_CORE };
	f[2] = (struct tids_field){ .name = "count", .value = { .kind = TIDS_VALUE_UINT, .as.u = UINT64_MAX } };
	f[3] = (struct tids_field){ .name = "load", .value = { .kind = TIDS_VALUE_REAL, .as.d = -0.0 } };
	f[4] = (struct tids_field){ .name = "on", .value = { .kind = TIDS_VALUE_FLAG, .as.b = false },
				    .labels = labels, .n_labels = 3 };
	f[5] = (struct tids_field){ .name = "who", .value = { .kind = TIDS_VALUE_TEXT,
							     .as.bytes = { (const uint8_t *)"", 0 } } };
	f[6] = (struct tids_field){ .name = "raw", .value = { .kind = TIDS_VALUE_BLOB, .as.bytes = { NULL, 0 } } };
	f[7] = (struct tids_field){ .name = "none" };
	f[8] = (struct tids_field){ .name = "", .value = { .kind = TIDS_VALUE_REAL, .as.d = 3.5 } };
	r->fields = f;
	r->n_fields = 9;
}

/* What every audit entry holds: the hub, the parties, the decision and
 * where the record came from and went. */
static void fill_decision(struct tids_audit_entry *e)
{
	static const char *rules[] = { "default_deny" };

	memset(e, 0, sizeof(*e));
	e->hub_id = "hub-sh1";
	e->owner = "factory.sh1";
	e->recipient = "lessor.wh";
	e->purpose = "billing";
	e->decision = TIDS_DECISION_DENY;
	e->rule_ids = (struct tids_strlist){ rules, 1 };
	e->tier = TIDS_TIER_GENERAL;
	e->category = "run_hours";
	e->origin = "CN-SH";
	e->destination = "CN-HB";
	e->decided_at_ms = 1764400000000;
}

START_TEST(records_as_protobuf_c_packs_them)
{
	struct tids_record r;
	struct tids_field f[9];

	fill_record(&r, f);
	check_record(&r);
	r.personal = r.sensitive_personal = true;
	r.individuals = 300;
	r.produced_at_ms = -5;
	r.tier = TIDS_TIER_UNSET;
	r.schema = NULL;
	r.asset_id = "";
	check_record(&r);
	/* Bodies of 128+ and 16384+ bytes: lengths of two and three bytes. */
	memset(big, 'b', sizeof(big));
	f[6].value.as.bytes.data = (const uint8_t *)big;
	f[6].value.as.bytes.len = 200;
	check_record(&r);
	f[6].value.as.bytes.data = (const uint8_t *)big;
	f[6].value.as.bytes.len = sizeof(big);
	check_record(&r);
	r.n_fields = 0;
	check_record(&r);
}
END_TEST

START_TEST(deliveries_and_envelopes_as_protobuf_c_packs_them)
{
	static const char *rules[] = { "lessor_billing", "audit_six_months" }, *by[] = { "asset", "site" };
	static const char *redacted[] = { "sku" }, *purposes[] = { "billing" }, *duties[] = { "x" };
	struct tids_delivery d = { 0 };
	struct tids_field f[9];

	fill_record(&d.record, f);
	d.decision = TIDS_DECISION_TRANSFORM;
	d.rule_ids = (struct tids_strlist){ rules, 2 };
	d.grant_id = "";
	d.purpose = "billing";
	d.decided_at_ms = 1764400000123;
	d.source_record_id = (struct tids_bytes){ d.record.record_id, TIDS_RECORD_ID_BYTES };
	check_delivery(&d);
	d.obligations.retain_until_ms = 99;
	d.obligations.notify = (struct tids_strlist){ rules, 1 };
	d.obligations.no_onward_transfer = d.obligations.encrypt = true;
	d.obligations.redacted = (struct tids_strlist){ redacted, 1 };
	d.obligations.purposes = (struct tids_strlist){ purposes, 1 };
	d.obligations.duties = (struct tids_strlist){ duties, 1 };
	check_delivery(&d);
	d.obligations.aggregate = (struct tids_aggregation){ "sum", "count", 3600000, 0, { by, 2 } };
	d.source_record_id = (struct tids_bytes){ NULL, 0 };
	d.notification_for = "lessor.wh";
	d.delivery_seq = 7;
	d.grant_id = "g-1";
	check_delivery(&d);
	f[6].value.as.bytes.data = (const uint8_t *)big;
	f[6].value.as.bytes.len = sizeof(big);
	check_delivery(&d);
}
END_TEST

START_TEST(audit_entries_as_protobuf_c_packs_them)
{
	static const char *by[] = { "asset" };
	struct tids_counter_increment counts[2] = { { "pi_abroad", "factory.sh1", 2026, 300, 9300 }, { "c", "", 0, 0, 0 } };
	uint8_t hash[TIDS_HASH_BYTES];
	struct tids_audit_entry e;

	memset(hash, 0x11, sizeof(hash));
	fill_decision(&e);
	e.seq = 1;
	check_entry(&e, true);
	e.partition = 3;
	e.seq = UINT64_C(1) << 39;
	memset(e.prev_hash, 0xee, sizeof(e.prev_hash));
	e.decision = TIDS_DECISION_ALLOW;
	e.delivered_hash = (struct tids_bytes){ hash, sizeof(hash) };
	e.ingress_offset = 123456789;
	e.reason = "the lessor may use run hours";
	e.asset_id = "press-7";
	e.grant_id = "grant-1";
	e.approval_id = "ap-2";
	e.case_id = "case-3";
	e.delivery_seq = 5;
	e.obligations.aggregate = (struct tids_aggregation){ "avg", "temp", 0, 14, { by, 1 } };
	check_entry(&e, true);
	e.counts = counts;
	e.n_counts = 2;
	check_entry(&e, true);
	e.has_aggregate = true;
	e.aggregate = (struct tids_aggregate_result){ "sum", "count", 1764400000000, 3600000, 12, 0.0 };
	check_entry(&e, true);
	e.aggregate.value = -2.75;
	e.ingress_offset = -1;
	check_entry(&e, true);
}
END_TEST

/* --- random shapes ------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static const char *pick(void)
{
	static const char *words[] = { "", "a", "billing", "factory.sh1", "CN-SH", "a-rather-longer-name-of-a-rule_x",
				       NULL };

	return words[rnd() % 7];
}

static int64_t any_i64(void)
{
	switch (rnd() % 4) {
	case 0: return 0;
	case 1: return (int64_t)(rnd() % 200);
	case 2: return -(int64_t)(rnd() % 1000);
	default: return (int64_t)rnd();
	}
}

START_TEST(random_messages_as_protobuf_c_packs_them)
{
	static const char *list[8];
	struct tids_field f[12];

	for (int round = 0; round < 3000; round++) {
		struct tids_delivery d = { 0 };
		struct tids_audit_entry e = { 0 };
		struct tids_counter_increment c[3];
		size_t nl = rnd() % 4;

		/* Never NULL: protobuf-c's sizing pass reads list items with strlen. */
		for (size_t i = 0; i < 8; i++)
			list[i] = (list[i] = pick()) != NULL ? list[i] : "";
		memset(f, 0, sizeof(f));
		for (size_t i = 0; i < 12; i++) {
			f[i].name = pick();
			f[i].tier = (enum tids_tier)(rnd() % 4);
			f[i].labels = list;
			f[i].n_labels = rnd() % 3;
			f[i].value.kind = (enum tids_value_kind)(rnd() % 7);
			switch (f[i].value.kind) {
			case TIDS_VALUE_INT: f[i].value.as.i = any_i64(); break;
			case TIDS_VALUE_UINT: f[i].value.as.u = (uint64_t)any_i64(); break;
			case TIDS_VALUE_REAL: f[i].value.as.d = (double)any_i64() / 3.0; break;
			case TIDS_VALUE_FLAG: f[i].value.as.b = rnd() % 2; break;
			case TIDS_VALUE_TEXT: {
				/* Text as decoded: NUL-terminated, len its strlen. */
				const char *t = pick();

				f[i].value.as.bytes.data = (const uint8_t *)t;
				f[i].value.as.bytes.len = t != NULL ? strlen(t) : 0;
				break;
			}
			case TIDS_VALUE_BLOB:
				f[i].value.as.bytes.len = rnd() % 3 == 0 ? 0 : rnd() % 300;
				f[i].value.as.bytes.data = rnd() % 2 ? (const uint8_t *)big : NULL;
				if (f[i].value.as.bytes.data == NULL)
					f[i].value.as.bytes.len = 0;
				break;
			default: break;
			}
		}
		memset(d.record.record_id, (int)(rnd() & 0xff), TIDS_RECORD_ID_BYTES);
		d.record.owner = pick();
		d.record.asset_id = pick();
		d.record.category = pick();
		d.record.origin = pick();
		d.record.schema = pick();
		d.record.tier = (enum tids_tier)(rnd() % 4);
		d.record.produced_at_ms = any_i64();
		d.record.individuals = (uint64_t)any_i64();
		d.record.personal = rnd() % 2;
		d.record.fields = f;
		d.record.n_fields = rnd() % 13;
		check_record(&d.record);
		d.decision = (enum tids_decision)(rnd() % 4);
		d.rule_ids = (struct tids_strlist){ list, nl };
		d.obligations.retain_until_ms = any_i64();
		d.obligations.notify = (struct tids_strlist){ list, rnd() % 3 };
		d.obligations.redacted = (struct tids_strlist){ list + 2, rnd() % 3 };
		if (rnd() % 3 == 0)
			d.obligations.aggregate = (struct tids_aggregation){ pick() != NULL ? "sum" : "", pick(), any_i64(),
									    any_i64(), { list, rnd() % 3 } };
		d.grant_id = pick();
		d.purpose = pick();
		d.delivery_seq = (uint64_t)any_i64();
		d.decided_at_ms = any_i64();
		if (rnd() % 2)
			d.source_record_id = (struct tids_bytes){ d.record.record_id, rnd() % 4 ? TIDS_RECORD_ID_BYTES : 0 };
		d.notification_for = pick();
		if ((d.provenance.present = rnd() % 3 == 0)) {
			d.provenance.hub_id = pick();
			d.provenance.publisher = pick();
			d.provenance.sequence = (uint64_t)any_i64();
			memset(d.provenance.batch_root, (int)(rnd() & 0xff), TIDS_HASH_BYTES);
			d.provenance.leaf_index = (uint32_t)any_i64();
			d.provenance.leaf_count = (uint32_t)any_i64();
			d.provenance.merkle_path = (const uint8_t (*)[TIDS_HASH_BYTES])(const void *)big;
			d.provenance.n_merkle_path = rnd() % 5;
			if (rnd() % 2)
				d.provenance.published = (struct tids_bytes){ (const uint8_t *)big, rnd() % 200 };
			d.provenance.hops = (uint32_t)any_i64();
			d.provenance.export_hub = pick();
			d.provenance.export_partition = (int32_t)any_i64();
			d.provenance.export_seq = (uint64_t)any_i64();
		}
		if ((d.has_receipt = rnd() % 3 == 0)) {
			d.receipt.partition = (int32_t)any_i64();
			d.receipt.seq = (uint64_t)any_i64();
			if (rnd() % 2)
				d.receipt.head = (struct tids_bytes){ (const uint8_t *)big, rnd() % 300 };
		}
		check_delivery(&d);
		e.hub_id = pick();
		e.partition = (int32_t)(rnd() % 5) - 1;
		e.seq = (uint64_t)any_i64();
		e.owner = pick();
		e.recipient = pick();
		e.purpose = pick();
		e.decision = d.decision;
		e.rule_ids = d.rule_ids;
		e.tier = d.record.tier;
		e.category = pick();
		e.origin = pick();
		e.destination = pick();
		e.grant_id = pick();
		e.approval_id = pick();
		e.decided_at_ms = any_i64();
		e.ingress_offset = any_i64();
		e.obligations = d.obligations;
		e.reason = pick();
		if (rnd() % 2)
			e.delivered_hash = (struct tids_bytes){ (const uint8_t *)big, TIDS_HASH_BYTES };
		e.asset_id = pick();
		e.delivery_seq = (uint64_t)any_i64();
		e.case_id = pick();
		e.n_counts = rnd() % 4;
		for (size_t i = 0; i < e.n_counts; i++)
			c[i] = (struct tids_counter_increment){ pick(), pick(), any_i64(), (uint64_t)any_i64(),
								(uint64_t)any_i64() };
		e.counts = c;
		if ((e.has_aggregate = rnd() % 3 == 0))
			e.aggregate = (struct tids_aggregate_result){ pick(), pick(), any_i64(), any_i64(), (uint64_t)any_i64(),
								      (double)any_i64() / 7.0 };
		if ((e.has_near_miss = rnd() % 3 == 0))
			e.near_miss = (struct tids_near_miss){ pick(), pick(), (int)(rnd() % 18), (uint32_t)any_i64(),
							      any_i64(), (uint32_t)any_i64(), (uint32_t)any_i64(), pick() };
		if (e.has_near_miss && e.near_miss.kind == NULL)
			e.near_miss.kind = "";
		e.peer_hub = pick();
		e.peer_partition = (int32_t)any_i64();
		e.peer_seq = (uint64_t)any_i64();
		check_entry(&e, false);
	}
}
END_TEST

/* --- nothing left out ------------------------------------------------------------------ */

/*
 * The reference above is hand-written too, so both could miss a field that
 * a proto gained. Walk the packed bytes of a message with every field set
 * against protobuf-c's descriptor: every field it declares (but for oneof
 * members) must be there, in every sub-message as well.
 */
static const uint8_t *varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned sh = 0; p < end && sh < 64; sh += 7) {
		*v |= (uint64_t)(*p & 0x7f) << sh;
		if ((*p++ & 0x80) == 0)
			return p;
	}
	ck_abort_msg("malformed varint");
	return end;
}

static void every_field(const char *what, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len, *first[64] = { 0 };
	size_t first_len[64] = { 0 };
	uint64_t seen = 0;

	ck_assert_uint_le(d->n_fields, 64);
	while (p < end) {
		uint64_t key, v;
		const ProtobufCFieldDescriptor *f;

		p = varint(p, end, &key);
		f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
		ck_assert_msg(f != NULL, "%s: field %u is not in %s", what, (unsigned)(key >> 3), d->name);
		switch (key & 7) {
		case 0: p = varint(p, end, &v); break;
		case 1: p += 8; break;
		case 5: p += 4; break;
		case 2:
			p = varint(p, end, &v);
			ck_assert_uint_le(v, (uint64_t)(end - p));
			if (first[f - d->fields] == NULL) {
				first[f - d->fields] = p;
				first_len[f - d->fields] = (size_t)v;
			}
			p += v;
			break;
		default: ck_abort_msg("%s: wire type %u", what, (unsigned)(key & 7));
		}
		seen |= UINT64_C(1) << (f - d->fields);
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			continue;
		ck_assert_msg(seen >> i & 1, "%s: %s.%s (field %u) was not written", what, d->name, f->name, f->id);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			every_field(what, f->descriptor, first[i], first_len[i]);
	}
}

START_TEST(fully_populated_messages_leave_nothing_out)
{
	static const char *one[] = { "x-1" };
	static const uint8_t path[2][TIDS_HASH_BYTES] = { { 1 }, { 2 } };
	static const struct tids_counter_increment counts[1] = { { "c", "k", 2026, 3, 4 } };
	const char *lab[] = { "personal" };
	struct tids_field f = { .name = "rpm", .value = { .kind = TIDS_VALUE_INT, .as.i = 5 }, .tier = TIDS_TIER_CORE,
				.labels = lab, .n_labels = 1 };
	uint8_t hash[TIDS_HASH_BYTES], head[40];
	struct tids_obligations ob = { 0 };
	struct tids_delivery d = { 0 };
	struct tids_audit_entry e;
	struct tids_delivery_envelope env = { 0 };
	uint8_t *buf, *ref;
	size_t n, m;

	memset(hash, 0x22, sizeof(hash));
	memset(head, 0x33, sizeof(head));
	/* Every obligation of the vocabulary, whatever it holds. */
	ob.retain_until_ms = 5;
	ob.redacted = ob.purposes = (struct tids_strlist){ one, 1 };
	ob.aggregate = (struct tids_aggregation){ "sum", "rpm", 60000, 2, { one, 1 } };
#define TIDS_OB_FLAG(name, summary) ob.name = true;
#define TIDS_OB_LIST(name, word, check, summary) ob.name = (struct tids_strlist){ one, 1 };
#include "obligations.def"

	d.record = (struct tids_record){ .owner = "o", .asset_id = "a", .category = "c", .tier = TIDS_TIER_CORE,
					 .origin = "CN-SH", .produced_at_ms = 1, .personal = true, .individuals = 2,
					 .sensitive_personal = true, .schema = "s", .fields = &f, .n_fields = 1 };
	memset(d.record.record_id, 0xab, TIDS_RECORD_ID_BYTES);
	d.decision = TIDS_DECISION_TRANSFORM;
	d.rule_ids = (struct tids_strlist){ one, 1 };
	d.obligations = ob;
	d.grant_id = "g";
	d.purpose = "billing";
	d.delivery_seq = 3;
	d.decided_at_ms = 4;
	d.source_record_id = (struct tids_bytes){ hash, TIDS_RECORD_ID_BYTES };
	d.notification_for = "n";
	d.provenance = (struct tids_provenance){ .present = true, .hub_id = "hub-a", .publisher = "p", .sequence = 9,
						 .leaf_index = 1, .leaf_count = 2, .merkle_path = path, .n_merkle_path = 2,
						 .published = { hash, 8 }, .hops = 1, .export_hub = "hub-b",
						 .export_partition = 3, .export_seq = 4 };
	memset(d.provenance.batch_root, 1, TIDS_HASH_BYTES);
	memset(d.provenance.batch_signature, 2, TIDS_SIGNATURE_BYTES);
	memset(d.provenance.leaf_hash, 3, TIDS_HASH_BYTES);
	d.has_receipt = true;
	d.receipt = (struct tids_delivery_receipt){ .partition = 2, .seq = 7, .head = { head, sizeof(head) } };
	memset(d.receipt.entry_hash, 4, TIDS_HASH_BYTES);
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &n), 0);
	ref_delivery(&d, &ref, &m);
	same("full delivery", buf, n, ref, m);
	every_field("delivery", &tids__v1__delivery__descriptor, buf, n);
	free(ref);

	env.delivery = (struct tids_bytes){ buf, n };
	env.sealed_by = "hub";
	env.has_receipt = true;
	env.receipt = d.receipt;
	{
		uint8_t *eb;
		size_t en;

		ck_assert_int_eq(tids_wire_encode_delivery_envelope(&env, &eb, &en), 0);
		ref_envelope(&env, &ref, &m);
		same("full envelope", eb, en, ref, m);
		every_field("envelope", &tids__v1__delivery_envelope__descriptor, eb, en);
		free(eb);
		free(ref);
	}
	free(buf);

	fill_decision(&e);
	e.partition = 1;
	e.seq = 2;
	memset(e.prev_hash, 5, TIDS_HASH_BYTES);
	memset(e.record_id, 6, TIDS_RECORD_ID_BYTES);
	e.grant_id = "g";
	e.approval_id = "ap";
	e.ingress_offset = 4;
	e.obligations = ob;
	e.reason = "why";
	e.delivered_hash = (struct tids_bytes){ hash, TIDS_HASH_BYTES };
	e.asset_id = "a";
	e.delivery_seq = 5;
	e.case_id = "case";
	e.has_near_miss = true;
	e.near_miss = (struct tids_near_miss){ "grant", "g-2", 4, 1u << 4 | 1u << 5, 6, 7, 8, "rule" };
	e.counts = counts;
	e.n_counts = 1;
	e.has_aggregate = true;
	e.aggregate = (struct tids_aggregate_result){ "sum", "rpm", 1, 2, 3, 4.5 };
	e.peer_hub = "hub-b";
	e.peer_partition = 9;
	e.peer_seq = 10;
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &n), 0);
	ref_entry(&e, &ref, &m);
	same("full audit entry", buf, n, ref, m);
	every_field("audit entry", &tids__v1__audit_entry__descriptor, buf, n);
	free(buf);
	free(ref);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire_write");
	TCase *tc = tcase_create("wire_write");
	SRunner *sr;
	int failed;

	memset(big, 'q', sizeof(big));
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, records_as_protobuf_c_packs_them);
	tcase_add_test(tc, deliveries_and_envelopes_as_protobuf_c_packs_them);
	tcase_add_test(tc, audit_entries_as_protobuf_c_packs_them);
	tcase_add_test(tc, random_messages_as_protobuf_c_packs_them);
	tcase_add_test(tc, fully_populated_messages_leave_nothing_out);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
