/*
 * Federation's wire contract and signatures: directories (signed, checked
 * for form), the Pull call's messages, forwarded ingress records, the
 * provenance a recipient verifies, the audit entries that name the other
 * hub's entry, and id@hub addresses.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/resolve.h"
#include "tids/wire.h"

static char err[256];

static struct tids_field fields[2];

static struct tids_record sample_record(void)
{
	struct tids_record r;

	memset(&r, 0, sizeof(r));
	memset(r.record_id, 0x5a, sizeof(r.record_id));
	r.owner = "factory.sh1";
	r.asset_id = "press-7";
	r.category = "run_hours";
	r.tier = TIDS_TIER_GENERAL;
	r.origin = "CN-SH";
	r.produced_at_ms = 1764400000000;
	memset(fields, 0, sizeof(fields));
	fields[0].name = "hours";
	fields[0].value.kind = TIDS_VALUE_REAL;
	fields[0].value.as.d = 0.25;
	fields[1].name = "operator_id";
	fields[1].value.kind = TIDS_VALUE_TEXT;
	fields[1].value.as.bytes.data = (const uint8_t *)"op-1";
	fields[1].value.as.bytes.len = 4;
	r.fields = fields;
	r.n_fields = 2;
	return r;
}

/* --- directories -------------------------------------------------------------- */

static const char *purposes[] = { "billing", "maintenance" };

static struct tids_directory_entry entries[2];
static struct tids_interest interests[1];
static struct tids_directory_hub hubs[2];

static struct tids_directory sample_directory(void)
{
	struct tids_directory d = { .hub_id = "hub.wh", .version = 7, .signed_at_ms = 1764400000000 };

	memset(entries, 0, sizeof(entries));
	entries[0] = (struct tids_directory_entry){ .id = "lessor.wh", .role = "lessor", .jurisdiction = "CN-HB" };
	memset(entries[0].identity_key, 1, 32);
	entries[1] = (struct tids_directory_entry){ .id = "reg.hb", .role = "regulator", .jurisdiction = "CN-HB" };
	memset(entries[1].identity_key, 2, 32);
	interests[0] = (struct tids_interest){ .participant = "lessor.wh", .purposes = { purposes, 2 } };
	d.entries = entries;
	d.n_entries = 2;
	d.interests = interests;
	d.n_interests = 1;
	/* Its peers, whose statistics it passes on. */
	hubs[0] = (struct tids_directory_hub){ .hub_id = "hub.sh", .jurisdiction = "CN-SH" };
	memset(hubs[0].public_key, 3, 32);
	hubs[1] = (struct tids_directory_hub){ .hub_id = "hub.cq", .jurisdiction = "CN-CQ" };
	memset(hubs[1].public_key, 4, 32);
	d.hubs = hubs;
	d.n_hubs = 2;
	return d;
}

static int gate_directory(const struct tids_directory *d)
{
	struct tids_directory out;
	uint8_t *buf;
	size_t len;
	int r;

	ck_assert_int_eq(tids_wire_encode_directory(d, &buf, &len), 0);
	r = tids_wire_decode_directory(buf, len, &out, err, sizeof(err));
	tids_directory_free(&out);
	free(buf);
	return r;
}

START_TEST(directory_signed_round_trip)
{
	struct tids_identity hub, other;
	struct tids_directory d = sample_directory(), out;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_identity_generate(&hub), 0);
	ck_assert_int_eq(tids_identity_generate(&other), 0);
	ck_assert_int_eq(tids_directory_sign(hub.sign_sk, &d), 0);
	ck_assert_int_eq(tids_wire_encode_directory(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_directory(buf, len, &out, err, sizeof(err)), 0);
	free(buf);
	ck_assert_str_eq(out.hub_id, "hub.wh");
	ck_assert_uint_eq(out.version, 7);
	ck_assert_uint_eq(out.n_entries, 2);
	ck_assert_str_eq(out.entries[1].id, "reg.hb");
	ck_assert_str_eq(out.entries[1].role, "regulator");
	ck_assert_uint_eq(out.n_interests, 1);
	ck_assert_str_eq(out.interests[0].participant, "lessor.wh");
	ck_assert_uint_eq(out.interests[0].purposes.n, 2);
	ck_assert_uint_eq(out.n_hubs, 2);
	ck_assert_str_eq(out.hubs[1].hub_id, "hub.cq");
	ck_assert_str_eq(out.hubs[1].jurisdiction, "CN-CQ");
	ck_assert_uint_eq(out.hubs[1].public_key[31], 4);
	ck_assert_int_eq(tids_directory_verify(hub.sign_pk, &out, err, sizeof(err)), 0);
	/* The peers' keys are signed as the rest. */
	out.hubs[0].public_key[0] ^= 1;
	ck_assert_int_eq(tids_directory_verify(hub.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
	out.hubs[0].public_key[0] ^= 1;
	/* Another hub's key, or any change after signing, does not verify. */
	ck_assert_int_eq(tids_directory_verify(other.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "hub.wh"));
	out.entries[0].identity_key[0] ^= 1;
	ck_assert_int_eq(tids_directory_verify(hub.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
	out.entries[0].identity_key[0] ^= 1;
	out.version = 8;
	ck_assert_int_eq(tids_directory_verify(hub.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
	tids_directory_free(&out);
	tids_identity_wipe(&hub);
	tids_identity_wipe(&other);
}
END_TEST

START_TEST(directory_rejections)
{
	struct tids_directory d = sample_directory();
	const char *nine[9] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };

	ck_assert_int_eq(gate_directory(&d), 0);
	entries[1].id = "lessor.wh";
	ck_assert_int_eq(gate_directory(&d), TIDS_EDUP);
	ck_assert_ptr_nonnull(strstr(err, "lessor.wh listed twice"));
	d = sample_directory();
	interests[0].participant = "stranger";
	ck_assert_int_eq(gate_directory(&d), TIDS_ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "stranger"));
	d = sample_directory();
	interests[0].purposes = (struct tids_strlist){ nine, 9 };
	ck_assert_int_eq(gate_directory(&d), TIDS_ETOOMANY);
	d = sample_directory();
	interests[0].purposes = (struct tids_strlist){ NULL, 0 };
	ck_assert_int_eq(gate_directory(&d), TIDS_EMISSING);
	d = sample_directory();
	d.version = 0;
	ck_assert_int_eq(gate_directory(&d), TIDS_EINVAL);
	d = sample_directory();
	entries[0].jurisdiction = "Hubei";
	ck_assert_int_eq(gate_directory(&d), TIDS_EINVAL);
	d = sample_directory();
	entries[0].id = "lessor@wh";
	ck_assert_int_eq(gate_directory(&d), TIDS_EBADID);
	/* Peers: each once, not the hub itself, a key of 32 bytes. */
	d = sample_directory();
	hubs[1].hub_id = "hub.sh";
	ck_assert_int_eq(gate_directory(&d), TIDS_EDUP);
	ck_assert_ptr_nonnull(strstr(err, "hub hub.sh listed twice"));
	d = sample_directory();
	hubs[1].hub_id = "hub.wh";
	ck_assert_int_eq(gate_directory(&d), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "lists itself"));
	d = sample_directory();
	hubs[0].jurisdiction = "";
	ck_assert_int_eq(gate_directory(&d), TIDS_EMISSING);
}
END_TEST

/* --- the Pull call ------------------------------------------------------------ */

/*
 * A directory of more participants than one message may list goes in
 * pages: each signed on its own and naming its place, each through the
 * gate, and merged only when every page of one version is there.
 */
#define BIG_N (2 * TIDS_DIRECTORY_ENTRIES_MAX + 5)

START_TEST(directory_in_pages)
{
	struct tids_directory_hub peer_hubs[2] = { { .hub_id = "hub.wh", .jurisdiction = "CN-HB" },
						   { .hub_id = "hub.cq", .jurisdiction = "CN-CQ" } };
	struct tids_identity hub;
	struct tids_directory_entry *big = calloc(BIG_N, sizeof(*big));
	char (*ids)[16] = calloc(BIG_N, sizeof(*ids));
	struct tids_interest in[4];
	struct tids_directory d = { .hub_id = "hub.sh", .version = 9, .signed_at_ms = 1764400000000 };
	struct tids_directory *pages, got[3], merged, swap[3];
	const char *want_in[4];
	size_t n, k;
	uint8_t *buf, *one_a, *one_b;
	size_t len, la, lb;

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(ids);
	ck_assert_int_eq(tids_identity_generate(&hub), 0);
	memset(peer_hubs[0].public_key, 0xbb, 32);
	memset(peer_hubs[1].public_key, 0xcc, 32);
	for (size_t i = 0; i < BIG_N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "p%05zu", i);
		big[i] = (struct tids_directory_entry){ .id = ids[i], .role = "factory", .jurisdiction = "CN-SH" };
		memset(big[i].identity_key, (int)(i & 0xff), 32);
	}
	/* Interests out of page order: each must land in its participant's page. */
	want_in[0] = ids[BIG_N - 1];
	want_in[1] = ids[3];
	want_in[2] = ids[TIDS_DIRECTORY_ENTRIES_MAX + 1];
	want_in[3] = ids[7];
	for (int i = 0; i < 4; i++)
		in[i] = (struct tids_interest){ .participant = want_in[i], .purposes = { purposes, 1 } };
	d.entries = big;
	d.n_entries = BIG_N;
	d.interests = in;
	d.n_interests = 4;
	/* The hub's own peers (statistics they pass on are checked with them). */
	d.hubs = peer_hubs;
	d.n_hubs = 2;
	/* As one message, the gate refuses it: hence pages. */
	ck_assert_int_eq(gate_directory(&d), TIDS_ETOOMANY);

	ck_assert_int_eq(tids_directory_paginate(&d, TIDS_DIRECTORY_ENTRIES_MAX, &pages, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(pages[0].n_entries, TIDS_DIRECTORY_ENTRIES_MAX);
	ck_assert_uint_eq(pages[1].n_entries, TIDS_DIRECTORY_ENTRIES_MAX);
	ck_assert_uint_eq(pages[2].n_entries, 5);
	ck_assert_uint_eq(pages[0].n_interests, 2);
	ck_assert_str_eq(pages[0].interests[0].participant, ids[3]);
	ck_assert_str_eq(pages[0].interests[1].participant, ids[7]);
	ck_assert_uint_eq(pages[1].n_interests, 1);
	ck_assert_str_eq(pages[1].interests[0].participant, ids[TIDS_DIRECTORY_ENTRIES_MAX + 1]);
	ck_assert_uint_eq(pages[2].n_interests, 1);
	ck_assert_str_eq(pages[2].interests[0].participant, ids[BIG_N - 1]);
	ck_assert_uint_eq(pages[0].n_hubs, 2);
	ck_assert_uint_eq(pages[1].n_hubs, 0);
	ck_assert_uint_eq(pages[2].n_hubs, 0);
	for (k = 0; k < n; k++) {
		struct tids_pull_item it = { .kind = TIDS_PULL_DIRECTORY }, out;

		ck_assert_uint_eq(pages[k].page, k);
		ck_assert_uint_eq(pages[k].pages, 3);
		ck_assert_int_eq(tids_directory_sign(hub.sign_sk, &pages[k]), 0);
		/* Each page through the PullItem gate, and verified. */
		it.directory = pages[k];
		ck_assert_int_eq(tids_wire_encode_pull_item(&it, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_pull_item(buf, len, &out, err, sizeof(err)), 0);
		free(buf);
		ck_assert_int_eq(out.kind, TIDS_PULL_DIRECTORY);
		ck_assert_int_eq(tids_directory_verify(hub.sign_pk, &out.directory, err, sizeof(err)), 0);
		ck_assert_uint_eq(out.directory.page, k);
		ck_assert_uint_eq(out.directory.pages, 3);
		/* got[k] owns its bytes: a plain directory decode of the page. */
		ck_assert_int_eq(tids_wire_encode_directory(&out.directory, &buf, &len), 0);
		ck_assert_int_eq(tids_wire_decode_directory(buf, len, &got[k], err, sizeof(err)), 0);
		free(buf);
		tids_pull_item_free(&out);
	}
	/* Where a page stands is signed: page 1 cannot pass for page 2. */
	got[1].page = 2;
	ck_assert_int_eq(tids_directory_verify(hub.sign_pk, &got[1], err, sizeof(err)), TIDS_EBADSIG);
	got[1].page = 1;

	ck_assert_int_eq(tids_directory_merge(got, 3, &merged, err, sizeof(err)), 0);
	ck_assert_uint_eq(merged.n_entries, BIG_N);
	ck_assert_uint_eq(merged.n_interests, 4);
	ck_assert_str_eq(merged.hub_id, "hub.sh");
	ck_assert_uint_eq(merged.version, 9);
	/* Signed on page 0, through its gate, and kept by the merge. */
	ck_assert_uint_eq(merged.n_hubs, 2);
	ck_assert_str_eq(merged.hubs[1].hub_id, "hub.cq");
	ck_assert_str_eq(merged.hubs[1].jurisdiction, "CN-CQ");
	ck_assert_uint_eq(merged.hubs[1].public_key[0], 0xcc);
	for (size_t i = 0; i < BIG_N; i++) {
		ck_assert_str_eq(merged.entries[i].id, ids[i]);
		ck_assert_uint_eq(merged.entries[i].identity_key[31], i & 0xff);
	}
	tids_directory_merged_free(&merged);

	/* Not every page, pages out of order, or of two versions: not merged. */
	ck_assert_int_eq(tids_directory_merge(got, 2, &merged, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "2 pages of 3"));
	swap[0] = got[1];
	swap[1] = got[0];
	swap[2] = got[2];
	ck_assert_int_eq(tids_directory_merge(swap, 3, &merged, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "page 1 of 3 of version 9 where page 0 of 3"));
	got[2].version = 10;
	ck_assert_int_eq(tids_directory_merge(got, 3, &merged, err, sizeof(err)), TIDS_EINVAL);
	got[2].version = 9;
	/* An id on two pages (each page's gate saw it once): refused. */
	got[2].entries[0].id = got[0].entries[5].id;
	ck_assert_int_eq(tids_directory_merge(got, 3, &merged, err, sizeof(err)), TIDS_EDUP);
	ck_assert_ptr_nonnull(strstr(err, "p00005 listed twice"));
	for (k = 0; k < 3; k++)
		tids_directory_free(&got[k]);
	tids_directory_pages_free(pages, n);

	/* A page that names no place among its pages, or too many pages. */
	d.n_entries = 2;
	d.n_interests = 0;
	d.pages = 2;
	d.page = 2;
	ck_assert_int_eq(gate_directory(&d), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "page 2 of 2"));
	d.pages = TIDS_DIRECTORY_PAGES_MAX + 1;
	d.page = 0;
	ck_assert_int_eq(gate_directory(&d), TIDS_EINVAL);
	/* One page is what a directory was before pages: the same bytes. */
	d.pages = 0;
	ck_assert_int_eq(tids_wire_encode_directory(&d, &one_a, &la), 0);
	ck_assert_int_eq(tids_directory_paginate(&d, TIDS_DIRECTORY_ENTRIES_MAX, &pages, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(tids_wire_encode_directory(&pages[0], &one_b, &lb), 0);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(one_a, one_b, la);
	free(one_a);
	free(one_b);
	tids_directory_pages_free(pages, n);
	/* More than 256 pages' worth: refused, not cut. */
	d.n_entries = BIG_N;
	ck_assert_int_eq(tids_directory_paginate(&d, 16, &pages, &n), TIDS_ETOOMANY);
	tids_identity_wipe(&hub);
	free(ids);
	free(big);
}
END_TEST

START_TEST(pull_control)
{
	struct tids_pull_control c = { .from_position = 42, .window = 500, .epoch = 0xfeedbeefcafe }, out;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_pull_control(&c, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_pull_control(buf, len, &out, err, sizeof(err)), 0);
	ck_assert(!out.is_ack);
	ck_assert_uint_eq(out.from_position, 42);
	ck_assert_uint_eq(out.window, 500);
	ck_assert_uint_eq(out.epoch, 0xfeedbeefcafe);
	tids_pull_control_free(&out);
	free(buf);
	c.window = 0;
	ck_assert_int_eq(tids_wire_encode_pull_control(&c, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_pull_control(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
	c.window = TIDS_PULL_WINDOW_MAX + 1;
	ck_assert_int_eq(tids_wire_encode_pull_control(&c, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_pull_control(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
	c = (struct tids_pull_control){ .is_ack = true, .ack_position = 99 };
	ck_assert_int_eq(tids_wire_encode_pull_control(&c, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_pull_control(buf, len, &out, err, sizeof(err)), 0);
	ck_assert(out.is_ack);
	ck_assert_uint_eq(out.ack_position, 99);
	tids_pull_control_free(&out);
	free(buf);
	ck_assert_int_eq(tids_wire_decode_pull_control((const uint8_t *)"", 0, &out, err, sizeof(err)), TIDS_EMISSING);
}
END_TEST

static uint8_t rec_bytes[1024];
static size_t rec_len;
static uint8_t path[1][TIDS_HASH_BYTES];

/* A forwarded ingress record as the origin's router writes it. */
static struct tids_ingress_record sample_forward(void)
{
	struct tids_record r = sample_record();
	struct tids_ingress_record ir;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &len), 0);
	ck_assert_uint_lt(len, sizeof(rec_bytes));
	memcpy(rec_bytes, buf, len);
	rec_len = len;
	free(buf);
	memset(&ir, 0, sizeof(ir));
	ir.record = (struct tids_bytes){ rec_bytes, rec_len };
	memcpy(ir.record_id, r.record_id, 16);
	ir.publisher = "factory.sh1";
	ir.sequence = 3;
	memset(ir.batch_root, 7, 32);
	memset(ir.batch_signature, 8, 64);
	ir.leaf_index = 1;
	ir.leaf_count = 2;
	memset(path, 9, sizeof(path));
	ir.merkle_path = (const uint8_t (*)[TIDS_HASH_BYTES])path;
	ir.n_merkle_path = 1;
	ir.forwarded = (struct tids_forward_info){
		.present = true, .recipient = "lessor.wh", .purpose = "billing", .decision = TIDS_DECISION_ALLOW,
		.entry_partition = 2, .entry_seq = 41, .hops = 1, .origin_hub = "hub.sh", .decided_at_ms = 5,
	};
	tids_merkle_leaf_hash(rec_bytes, rec_len, ir.forwarded.leaf_hash);
	ir.forwarded.obligations.no_onward_transfer = true;
	return ir;
}

static int gate_item(const struct tids_pull_item *it, struct tids_pull_item *out)
{
	uint8_t *buf;
	size_t len;
	int r;

	ck_assert_int_eq(tids_wire_encode_pull_item(it, &buf, &len), 0);
	r = tids_wire_decode_pull_item(buf, len, out, err, sizeof(err));
	free(buf);
	return r;
}

START_TEST(pull_item_forward)
{
	struct tids_pull_item it = { .kind = TIDS_PULL_FORWARD, .position = 1234, .epoch = 77 }, out;

	it.record = sample_forward();
	ck_assert_int_eq(gate_item(&it, &out), 0);
	ck_assert_int_eq(out.kind, TIDS_PULL_FORWARD);
	ck_assert_uint_eq(out.position, 1234);
	ck_assert_uint_eq(out.epoch, 77);
	ck_assert(out.record.forwarded.present);
	ck_assert_str_eq(out.record.forwarded.recipient, "lessor.wh");
	ck_assert_str_eq(out.record.forwarded.origin_hub, "hub.sh");
	ck_assert_uint_eq(out.record.forwarded.entry_seq, 41);
	ck_assert(out.record.forwarded.obligations.no_onward_transfer);
	ck_assert_mem_eq(out.record.forwarded.leaf_hash, it.record.forwarded.leaf_hash, 32);
	ck_assert_str_eq(out.record.publisher, "factory.sh1");
	ck_assert_uint_eq(out.record.n_merkle_path, 1);
	tids_pull_item_free(&out);

	/* A forward is never sealed on the link, and always says what was decided. */
	it.record.sealed = true;
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	it.record = sample_forward();
	it.record.forwarded.present = false;
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	it.record = sample_forward();
	it.record.forwarded.hops = 0;
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "hops"));
	it.record = sample_forward();
	it.record.forwarded.decision = TIDS_DECISION_DENY;
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	it.record = sample_forward();
	it.record.forwarded.entry_seq = 0;
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "audit entry"));
	it.record = sample_forward();
	it.record.forwarded.recipient = "";
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EMISSING);

	/* An aggregate made by the origin hub: no publisher, no batch material. */
	it.record = sample_forward();
	it.record.publisher = "";
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "without a publisher"));
	it.record.leaf_count = 0;
	it.record.leaf_index = 0;
	it.record.n_merkle_path = 0;
	ck_assert_int_eq(gate_item(&it, &out), 0);
	ck_assert_str_eq(out.record.publisher, "");
	tids_pull_item_free(&out);
}
END_TEST

START_TEST(pull_item_directory_and_checkpoint)
{
	struct tids_pull_item it = { .kind = TIDS_PULL_DIRECTORY }, out;

	it.directory = sample_directory();
	ck_assert_int_eq(gate_item(&it, &out), 0);
	ck_assert_int_eq(out.kind, TIDS_PULL_DIRECTORY);
	ck_assert_str_eq(out.directory.entries[0].id, "lessor.wh");
	tids_pull_item_free(&out);
	entries[1].id = "lessor.wh";
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EDUP);

	memset(&it, 0, sizeof(it));
	it.kind = TIDS_PULL_CHECKPOINT;
	it.checkpoint.hub_id = "hub.sh";
	it.checkpoint.partition = 1;
	it.checkpoint.seq = 77;
	memset(it.checkpoint.head_hash, 4, 32);
	memset(it.checkpoint.signature, 5, 64);
	ck_assert_int_eq(gate_item(&it, &out), 0);
	ck_assert_int_eq(out.kind, TIDS_PULL_CHECKPOINT);
	ck_assert_uint_eq(out.checkpoint.seq, 77);
	tids_pull_item_free(&out);
	it.checkpoint.seq = 0;
	ck_assert_int_eq(gate_item(&it, &out), TIDS_EINVAL);
	ck_assert_int_eq(tids_wire_decode_pull_item((const uint8_t *)"", 0, &out, err, sizeof(err)), TIDS_EMISSING);
}
END_TEST

START_TEST(ingress_forwarded_round_trip)
{
	struct tids_ingress_record ir = sample_forward(), out;
	uint8_t *buf;
	size_t len;

	ir.forwarded.from_hub = "hub.sh";
	ir.forwarded.position = 17;
	ir.forwarded.refused = "provenance: signature does not verify";
	ck_assert_int_eq(tids_wire_encode_ingress_record(&ir, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_ingress_record(buf, len, &out, err, sizeof(err)), 0);
	free(buf);
	ck_assert_str_eq(out.forwarded.from_hub, "hub.sh");
	ck_assert_uint_eq(out.forwarded.position, 17);
	ck_assert_str_eq(out.forwarded.refused, "provenance: signature does not verify");
	tids_ingress_record_free(&out);
	/* A record published here still needs its whole batch material. */
	ir.forwarded.present = false;
	ir.publisher = "";
	ck_assert_int_eq(tids_wire_encode_ingress_record(&ir, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_ingress_record(buf, len, &out, err, sizeof(err)), TIDS_EMISSING);
	free(buf);
}
END_TEST

/* --- provenance --------------------------------------------------------------- */

/* A batch of two records published by id; the delivery carries record 1. */
static void published_delivery(const struct tids_identity *id, struct tids_delivery *d, uint8_t bytes[2][1024],
			       size_t lens[2], uint8_t p[][TIDS_HASH_BYTES])
{
	struct tids_record r = sample_record();
	struct tids_bytes leaves[2];
	uint8_t *buf;
	size_t len, plen;

	for (int i = 0; i < 2; i++) {
		r.record_id[0] = (uint8_t)i;
		ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &len), 0);
		memcpy(bytes[i], buf, len);
		lens[i] = len;
		free(buf);
		leaves[i] = (struct tids_bytes){ bytes[i], lens[i] };
	}
	memset(d, 0, sizeof(*d));
	ck_assert_int_eq(tids_wire_decode_record(bytes[1], lens[1], &d->record, err, sizeof(err)), 0);
	d->decision = TIDS_DECISION_ALLOW;
	d->purpose = "billing";
	d->provenance.present = true;
	d->provenance.hub_id = "hub.sh";
	d->provenance.publisher = "factory.sh1";
	d->provenance.sequence = 9;
	d->provenance.leaf_index = 1;
	d->provenance.leaf_count = 2;
	d->provenance.hops = 1;
	ck_assert_int_eq(tids_merkle_root(leaves, 2, d->provenance.batch_root), 0);
	ck_assert_int_eq(tids_merkle_path(leaves, 2, 1, p, &plen), 0);
	d->provenance.merkle_path = (const uint8_t (*)[TIDS_HASH_BYTES])p;
	d->provenance.n_merkle_path = plen;
	tids_merkle_leaf_hash(bytes[1], lens[1], d->provenance.leaf_hash);
	ck_assert_int_eq(tids_sign_batch(id->sign_sk, "factory.sh1", 9, d->provenance.batch_root,
					 d->provenance.batch_signature), 0);
}

START_TEST(provenance_verify)
{
	struct tids_identity factory, other;
	struct tids_delivery d, back;
	uint8_t bytes[2][1024], p[TIDS_MERKLE_PATH_MAX][TIDS_HASH_BYTES], *buf;
	size_t lens[2], len;
	bool covers;

	ck_assert_int_eq(tids_identity_generate(&factory), 0);
	ck_assert_int_eq(tids_identity_generate(&other), 0);
	published_delivery(&factory, &d, bytes, lens, p);
	/* Through the wire, as the recipient gets it. */
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &back, err, sizeof(err)), 0);
	free(buf);
	ck_assert(back.provenance.present);
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), 0);
	ck_assert(covers);
	/* Not the factory's key. */
	ck_assert_int_eq(tids_provenance_verify(&back, other.sign_pk, &covers, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "signature"));
	/* A changed value: the record is not the leaf the factory signed. */
	((struct tids_field *)back.record.fields)[0].value.as.d = 99.0;
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "not the leaf"));
	((struct tids_field *)back.record.fields)[0].value.as.d = 0.25;
	/* With the published bytes: they must decode to the delivered record. */
	back.provenance.published = (struct tids_bytes){ bytes[1], lens[1] };
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), 0);
	((struct tids_field *)back.record.fields)[0].value.as.d = 1.0;
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "not the one published"));
	back.provenance.published = (struct tids_bytes){ bytes[0], lens[0] };
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), TIDS_EBADSIG);
	back.provenance.published = (struct tids_bytes){ NULL, 0 };
	/* A wrong path. */
	back.decision = TIDS_DECISION_TRANSFORM;
	back.provenance.leaf_index = 0;
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "path"));
	/* Transformed: the proof covers the record as published only. */
	back.provenance.leaf_index = 1;
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), 0);
	ck_assert(!covers);
	/* An aggregate: nothing to check. */
	back.provenance.publisher = "";
	ck_assert_int_eq(tids_provenance_verify(&back, factory.sign_pk, &covers, err, sizeof(err)), TIDS_ENOENT);
	tids_delivery_free(&back);
	tids_record_free(&d.record);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&other);
}
END_TEST

START_TEST(delivery_provenance_rejections)
{
	struct tids_identity factory;
	struct tids_delivery d, back;
	uint8_t bytes[2][1024], p[TIDS_MERKLE_PATH_MAX][TIDS_HASH_BYTES], *buf;
	size_t lens[2], len;

	ck_assert_int_eq(tids_identity_generate(&factory), 0);
	published_delivery(&factory, &d, bytes, lens, p);
	d.provenance.hops = 0;
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &back, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
	d.provenance.hops = 1;
	d.provenance.leaf_index = 2;
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &back, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
	d.provenance.leaf_index = 1;
	d.provenance.hub_id = "";
	ck_assert_int_eq(tids_wire_encode_delivery(&d, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_delivery(buf, len, &back, err, sizeof(err)), TIDS_EMISSING);
	free(buf);
	tids_record_free(&d.record);
	tids_identity_wipe(&factory);
}
END_TEST

/* --- audit entries, state, addresses ---------------------------------------------- */

START_TEST(audit_entry_names_the_peer_entry)
{
	struct tids_audit_entry e, out;
	uint8_t *buf;
	size_t len;

	memset(&e, 0, sizeof(e));
	e.hub_id = "hub.wh";
	e.partition = 0;
	e.seq = 5;
	memset(e.record_id, 1, 16);
	e.owner = "factory.sh1";
	e.recipient = "lessor.wh";
	e.decision = TIDS_DECISION_ALLOW;
	e.tier = TIDS_TIER_GENERAL;
	e.category = "run_hours";
	e.peer_hub = "hub.sh";
	e.peer_partition = 2;
	e.peer_seq = 41;
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), 0);
	free(buf);
	ck_assert_str_eq(out.peer_hub, "hub.sh");
	ck_assert_int_eq(out.peer_partition, 2);
	ck_assert_uint_eq(out.peer_seq, 41);
	tids_audit_entry_free(&out);
	e.peer_hub = "";
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_audit_entry(buf, len, &out, err, sizeof(err)), TIDS_EINVAL);
	free(buf);
}
END_TEST

START_TEST(state_imported_position)
{
	struct tids_router_state st = { .kind = TIDS_STATE_IMPORTED }, out;
	uint8_t *buf;
	size_t len;

	st.seen = (struct tids_position){ "hub.sh", 0, 0, 3 };
	ck_assert_int_eq(tids_wire_encode_router_state(&st, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_router_state(buf, len, &out, err, sizeof(err)), 0);
	free(buf);
	ck_assert_int_eq(out.kind, TIDS_STATE_IMPORTED);
	ck_assert_str_eq(out.seen.publisher, "hub.sh");
	ck_assert_int_eq(out.seen.partition, 3);
	tids_router_state_free(&out);
	st.seen.publisher = "@hub.sh";
	ck_assert_int_eq(tids_wire_encode_router_state(&st, &buf, &len), 0);
	ck_assert_int_eq(tids_wire_decode_router_state(buf, len, &out, err, sizeof(err)), TIDS_EBADID);
	free(buf);
}
END_TEST

START_TEST(addresses)
{
	char id[TIDS_ID_MAX + 1], hub[TIDS_ID_MAX + 1];
	char longid[200];

	ck_assert(tids_address_split("lessor.wh@hub.wh", id, hub));
	ck_assert_str_eq(id, "lessor.wh");
	ck_assert_str_eq(hub, "hub.wh");
	ck_assert(tids_address_split("factory.sh1", id, hub));
	ck_assert_str_eq(id, "factory.sh1");
	ck_assert_str_eq(hub, "");
	ck_assert(!tids_address_split("@hub.wh", id, hub));
	ck_assert(!tids_address_split("x@", id, hub));
	ck_assert(!tids_address_split("x@y@z", id, hub));
	ck_assert(!tids_address_split("a b@hub", id, hub));
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	ck_assert(!tids_address_split(longid, id, hub));
}
END_TEST

/* --- consent pages --------------------------------------------------------------- */

START_TEST(pull_item_consent)
{
	const char *cats[] = { "recipe" }, *purps[] = { "maintenance" };
	struct tids_grant g = { .grant_id = "g-recipe", .owner = "factory.sh1", .grantee = "lessor.wh",
				.categories = { cats, 1 }, .purposes = { purps, 1 }, .not_before_ms = 1,
				.not_after_ms = 2, .hub_id = "hub.sh" };
	struct tids_approval a = { .approval_id = "ca-1", .kind = "core_access", .regulator = "reg.sh",
				   .exporter = "factory.sh1", .recipient = "lessor.wh", .categories = { cats, 1 },
				   .purposes = { purps, 1 }, .from_jurisdiction = "CN", .to_jurisdiction = "CN",
				   .valid_from_ms = 1, .valid_until_ms = 2, .hub_id = "hub.sh" };
	struct tids_pull_item it = { .kind = TIDS_PULL_CONSENT }, out;
	struct tids_bytes blobs[2], bad;
	uint8_t *gb, *ab;
	size_t gl, al;

	a.tiers[0] = TIDS_TIER_CORE;
	a.n_tiers = 1;
	ck_assert_int_eq(tids_wire_encode_signed_grant(&g, &gb, &gl), 0);
	ck_assert_int_eq(tids_wire_encode_signed_approval(&a, &ab, &al), 0);
	blobs[0] = (struct tids_bytes){ gb, gl };
	blobs[1] = (struct tids_bytes){ ab, al };
	it.consent = (struct tids_consent_page){ .round = 42, .grants = &blobs[0], .n_grants = 1,
						 .approvals = &blobs[1], .n_approvals = 1, .complete = true };
	ck_assert_int_eq(gate_item(&it, &out), 0);
	ck_assert_int_eq(out.kind, TIDS_PULL_CONSENT);
	ck_assert_uint_eq(out.consent.round, 42);
	ck_assert(out.consent.complete);
	ck_assert_uint_eq(out.consent.n_grants, 1);
	ck_assert_uint_eq(out.consent.n_approvals, 1);
	/* The exact bytes the signer produced, untouched. */
	ck_assert_uint_eq(out.consent.grants[0].len, gl);
	ck_assert(memcmp(out.consent.grants[0].data, gb, gl) == 0);
	ck_assert(memcmp(out.consent.approvals[0].data, ab, al) == 0);
	tids_pull_item_free(&out);
	/* An empty round is a round. */
	it.consent.n_grants = it.consent.n_approvals = 0;
	ck_assert_int_eq(gate_item(&it, &out), 0);
	tids_pull_item_free(&out);
	/* An approval among the grants is no grant; nor are random bytes. */
	it.consent.grants = &blobs[1];
	it.consent.n_grants = 1;
	ck_assert_int_lt(gate_item(&it, &out), 0);
	ck_assert_ptr_nonnull(strstr(err, "consent: grant 0"));
	bad = (struct tids_bytes){ (const uint8_t *)"\x0a\x03xyz", 5 };
	it.consent.grants = &blobs[0];
	it.consent.approvals = &bad;
	it.consent.n_approvals = 1;
	ck_assert_int_lt(gate_item(&it, &out), 0);
	ck_assert_ptr_nonnull(strstr(err, "consent: approval 0"));
	free(gb);
	free(ab);
}
END_TEST

/* --- resolving without blocking ----------------------------------------------------- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int lookups;

/* A name server that answers only when the test lets it. */
static int slow_lookup(const char *host, const char *port, const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h = *hints;

	atomic_fetch_add(&lookups, 1);
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	(void)host;
	h.ai_flags |= AI_NUMERICHOST;
	return getaddrinfo("127.0.0.1", port, &h, res);
}

static void open_gate(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

START_TEST(resolve_does_not_block)
{
	struct tids_resolve *r, *dropped;
	struct addrinfo *ai = NULL;
	int rc = -1;

	gate_open = false;
	atomic_store(&lookups, 0);
	r = tids_resolve_start("peer.example", "7411", slow_lookup);
	dropped = tids_resolve_start("other.example", "7412", slow_lookup);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(dropped);
	/* The caller goes on while the name server takes its time. */
	for (int i = 0; i < 200 && atomic_load(&lookups) < 2; i++)
		usleep(10000);
	ck_assert_int_eq(atomic_load(&lookups), 2);
	ck_assert_int_eq(tids_resolve_poll(r, &ai, &rc), 0);
	/* One given up on while it runs: freed by its thread when it ends. */
	tids_resolve_drop(dropped);
	open_gate();
	for (int i = 0; i < 500 && tids_resolve_poll(r, &ai, &rc) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(ai);
	ck_assert_int_eq(ai->ai_family, AF_INET);
	ck_assert_int_eq(ntohs(((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port), 7411);
	freeaddrinfo(ai);
	tids_resolve_drop(r);
	/* A name that does not resolve says so. */
	r = tids_resolve_start("no-such-host.invalid", "1", NULL);
	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < 3000 && tids_resolve_poll(r, &ai, &rc) == 0; i++)
		usleep(10000);
	ck_assert_ptr_null(ai);
	ck_assert_int_ne(rc, 0);
	tids_resolve_drop(r);
	usleep(50000);   /* the dropped lookup's thread ends (sanitizers see it free) */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("federation");
	TCase *tc = tcase_create("wire");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, directory_signed_round_trip);
	tcase_add_test(tc, directory_rejections);
	tcase_add_test(tc, directory_in_pages);
	tcase_add_test(tc, pull_control);
	tcase_add_test(tc, pull_item_forward);
	tcase_add_test(tc, pull_item_directory_and_checkpoint);
	tcase_add_test(tc, ingress_forwarded_round_trip);
	tcase_add_test(tc, provenance_verify);
	tcase_add_test(tc, delivery_provenance_rejections);
	tcase_add_test(tc, audit_entry_names_the_peer_entry);
	tcase_add_test(tc, state_imported_position);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, pull_item_consent);
	tcase_add_test(tc, resolve_does_not_block);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
