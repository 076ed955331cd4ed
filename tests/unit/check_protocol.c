/*
 * The protocol's known answers (tests/vectors/protocol.json, documented in
 * docs/PROTOCOL.md): libtids still makes exactly the committed file, and the
 * file passes the hub's own side — the responder of the recorded handshake,
 * the channel, the frame, batch and consent gates and their signature
 * checks. Other clients check the same file (clients/python/tests).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/channel.h"
#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/noise.h"
#include "tids/wire.h"
#include "testenv.h"
#include "vectors_json.h"

static struct tids_test_json *doc;
static char err[256];

static char *slurp(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap);

	ck_assert(buf != NULL);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			buf = realloc(buf, cap *= 2);
			ck_assert(buf != NULL);
		}
	}
	*len = n;
	return buf;
}

/* The hex member key of obj into a malloc'd buffer. */
static uint8_t *get_hex(const struct tids_test_json *obj, const char *key, size_t *len)
{
	const struct tids_test_json *j = tids_test_json_get(obj, key);
	uint8_t *buf;

	ck_assert_msg(j != NULL && tids_test_json_str(j) != NULL, "vector has no %s", key);
	buf = malloc(j->len / 2 + 1);
	ck_assert(buf != NULL);
	ck_assert_msg(tids_test_json_hex(j, buf, j->len / 2 + 1, len) == 0, "%s is not hex", key);
	return buf;
}

static void get_hex32(const struct tids_test_json *obj, const char *key, uint8_t out[32])
{
	size_t len;
	uint8_t *b = get_hex(obj, key, &len);

	ck_assert_uint_eq(len, 32);
	memcpy(out, b, 32);
	free(b);
}

static const struct tids_test_json *identity(const char *name)
{
	const struct tids_test_json *ids = tids_test_json_get(doc, "identities");

	for (size_t i = 0; i < tids_test_json_count(ids); i++)
		if (strcmp(tids_test_json_str(tids_test_json_get(tids_test_json_at(ids, i), "name")), name) == 0)
			return tids_test_json_at(ids, i);
	ck_abort_msg("no identity %s", name);
	return NULL;
}

static void load_identity(const char *name, struct tids_identity *id)
{
	uint8_t seed[32];

	get_hex32(identity(name), "seed", seed);
	ck_assert_int_eq(tids_identity_from_seed(seed, id), 0);
}

START_TEST(generator_makes_the_committed_file)
{
	char cmd[4096], path[4096];
	size_t glen, flen;
	FILE *p, *f;
	char *gen, *file;

	snprintf(cmd, sizeof(cmd), "'%s/tests/gen_protocol'", tids_test_build_dir());
	snprintf(path, sizeof(path), "%s/tests/vectors/protocol.json", tids_test_source_dir());
	p = popen(cmd, "r");
	ck_assert(p != NULL);
	gen = slurp(p, &glen);
	ck_assert_int_eq(pclose(p), 0);
	f = fopen(path, "r");
	ck_assert(f != NULL);
	file = slurp(f, &flen);
	fclose(f);
	ck_assert_msg(glen == flen && memcmp(gen, file, glen) == 0,
		      "libtids no longer makes %s: the protocol changed (update docs/PROTOCOL.md and every client), "
		      "or regenerate with %s > %s", path, cmd, path);
	free(gen);
	free(file);
}
END_TEST

START_TEST(identities_and_key_files)
{
	const char *names[] = { "participant", "hub", "regulator" };

	for (size_t i = 0; i < 3; i++) {
		const struct tids_test_json *v = identity(names[i]);
		struct tids_identity id;
		uint8_t want[32], fromfile[32];
		char b64[TIDS_KEY_BASE64_BYTES];
		const char *kf = tids_test_json_str(tids_test_json_get(v, "key_file"));
		char line[128];

		load_identity(names[i], &id);
		get_hex32(v, "ed25519_public", want);
		ck_assert_mem_eq(id.sign_pk, want, 32);
		get_hex32(v, "x25519_private", want);
		ck_assert_mem_eq(id.dh_sk, want, 32);
		get_hex32(v, "x25519_public", want);
		ck_assert_mem_eq(id.dh_pk, want, 32);
		ck_assert_int_eq(tids_identity_dh_public(id.sign_pk, fromfile), 0);
		ck_assert_mem_eq(fromfile, want, 32);
		tids_key_to_base64(id.sign_pk, b64);
		ck_assert_str_eq(b64, tids_test_json_str(tids_test_json_get(v, "ed25519_public_base64")));
		/* A key file is one base64 line of the seed. */
		ck_assert(kf != NULL && strlen(kf) < sizeof(line));
		snprintf(line, sizeof(line), "%s", kf);
		ck_assert(line[strlen(line) - 1] == '\n');
		line[strlen(line) - 1] = '\0';
		ck_assert_int_eq(tids_key_from_base64(line, fromfile), 0);
		get_hex32(v, "seed", want);
		ck_assert_mem_eq(fromfile, want, 32);
		tids_identity_wipe(&id);
	}
}
END_TEST

/* Strips the uint16be length of a recorded Noise message. */
static uint8_t *message(const struct tids_test_json *hs, const char *key, size_t *len)
{
	uint8_t *m = get_hex(hs, key, len);

	ck_assert_uint_ge(*len, 2);
	ck_assert_uint_eq(((size_t)m[0] << 8 | m[1]), *len - 2);
	memmove(m, m + 2, *len - 2);
	*len -= 2;
	return m;
}

START_TEST(hub_side_of_the_recorded_handshake)
{
	const struct tids_test_json *hs = tids_test_json_get(doc, "handshake");
	const struct tids_test_json *tr = tids_test_json_get(hs, "transport");
	struct tids_identity hub, p;
	struct tids_noise_handshake resp;
	struct tids_noise_cipher tx, rx;
	struct tids_channel ch;
	struct tids_buf in = { 0 }, out = { 0 };
	uint8_t re[32], *m1, *m2, *m3, *hh, pl[256], mine[256];
	size_t l1, l2, l3, hl, pll, ml;
	const char *hub_id = tids_test_json_str(tids_test_json_get(hs, "hub_id"));

	load_identity("hub", &hub);
	load_identity("participant", &p);
	get_hex32(hs, "responder_ephemeral_private", re);
	m1 = message(hs, "message1", &l1);
	m2 = message(hs, "message2", &l2);
	m3 = message(hs, "message3", &l3);
	ck_assert_str_eq(tids_test_json_str(tids_test_json_get(hs, "prologue")), TIDS_CHANNEL_PROLOGUE);
	ck_assert_str_eq(tids_test_json_str(tids_test_json_get(hs, "protocol")), TIDS_NOISE_PROTOCOL);
	ck_assert_int_eq(tids_noise_handshake_init(&resp, TIDS_NOISE_PROTOCOL, 0, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
						   strlen(TIDS_CHANNEL_PROLOGUE), hub.dh_sk, NULL, NULL), 0);
	ck_assert_int_eq(tids_noise_handshake_set_ephemeral(&resp, re), 0);
	ck_assert_int_eq(tids_noise_read_message(&resp, m1, l1, pl, sizeof(pl), &pll), 0);
	ck_assert_uint_eq(pll, 0);
	/* Message 2 carries the hub id, 0x00 and the hub's Ed25519 key. */
	{
		uint8_t hello[TIDS_HELLO_MAX], *want;
		size_t hlen = tids_channel_hello_encode(hub_id, hub.sign_pk, hello), wl;

		want = get_hex(hs, "message2_payload", &wl);
		ck_assert_uint_eq(wl, hlen);
		ck_assert_mem_eq(want, hello, hlen);
		free(want);
		ck_assert_int_eq(tids_noise_write_message(&resp, hello, hlen, mine, sizeof(mine), &ml), 0);
	}
	ck_assert_uint_eq(ml, l2);
	ck_assert_mem_eq(mine, m2, l2);
	ck_assert_int_eq(tids_noise_read_message(&resp, m3, l3, pl, sizeof(pl), &pll), 0);
	ck_assert_mem_eq(tids_noise_remote_static(&resp), p.dh_pk, 32);
	hh = get_hex(hs, "handshake_hash", &hl);
	ck_assert_uint_eq(hl, TIDS_NOISE_HASH_BYTES);
	ck_assert_mem_eq(tids_noise_handshake_hash(&resp), hh, hl);
	ck_assert_int_eq(tids_noise_split(&resp, &tx, &rx), 0);
	tids_channel_init_noise(&ch, &tx, &rx, TIDS_FRAME_MAX_DEFAULT);

	/* The hub's frames seal to the recorded bytes; the participant's
	 * open to the recorded frame. */
	for (size_t i = 0; i < tids_test_json_count(tr); i++) {
		const struct tids_test_json *t = tids_test_json_at(tr, i);
		size_t fl, wl, got_len;
		uint8_t *frame = get_hex(t, "frame", &fl), *wire = get_hex(t, "wire", &wl);
		const uint8_t *got;

		if (strcmp(tids_test_json_str(tids_test_json_get(t, "from")), "hub") == 0) {
			ck_assert_int_eq(tids_channel_seal(&ch, frame, fl, &out), 0);
			ck_assert_uint_eq(out.len, wl);
			ck_assert_mem_eq(tids_buf_head(&out), wire, wl);
			tids_buf_consume(&out, out.len);
		} else {
			struct tids_frame f;

			ck_assert_int_eq(tids_buf_append(&in, wire, wl), 0);
			ck_assert_int_eq(tids_channel_absorb(&ch, &in), 0);
			ck_assert_int_eq(tids_channel_next(&ch, &got, &got_len), 1);
			ck_assert_uint_eq(got_len, fl);
			ck_assert_mem_eq(got, frame, fl);
			ck_assert_msg(tids_wire_decode_frame(got, got_len, TIDS_FRAME_MAX_DEFAULT, &f, err, sizeof(err)) == 0,
				      "%s", err);
			ck_assert_str_eq(f.method, "tids.v1.Exchange/Ping");
			tids_frame_free(&f);
		}
		if (i == 0) {
			struct tids_status st;

			/* The welcome: a Status, not a Frame. */
			ck_assert_int_eq(tids_wire_decode_status(frame, fl, &st, err, sizeof(err)), 0);
			ck_assert_int_eq(st.code, 0);
			tids_status_free(&st);
		}
		free(frame);
		free(wire);
	}
	tids_channel_wipe(&ch);
	tids_buf_free(&in);
	tids_buf_free(&out);
	tids_noise_handshake_wipe(&resp);
	tids_identity_wipe(&hub);
	tids_identity_wipe(&p);
	free(m1);
	free(m2);
	free(m3);
	free(hh);
}
END_TEST

START_TEST(signed_batch_passes_the_gate)
{
	const struct tids_test_json *b = tids_test_json_get(doc, "batch");
	const struct tids_test_json *recs = tids_test_json_get(b, "records");
	struct tids_identity p;
	struct tids_batch got;
	size_t len, mlen;
	uint8_t *enc = get_hex(b, "publish_batch", &len), *msg = get_hex(b, "signed_message", &mlen), root[32];

	load_identity("participant", &p);
	ck_assert_msg(tids_wire_decode_batch(enc, len, &got, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tids_batch_verify(&got, p.sign_pk, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(got.n_records, tids_test_json_count(recs));
	get_hex32(b, "merkle_root", root);
	for (size_t i = 0; i < got.n_records; i++) {
		const struct tids_test_json *r = tids_test_json_at(recs, i);
		const struct tids_test_json *path = tids_test_json_get(r, "path");
		uint8_t leaf[32], want[32], pth[TIDS_MERKLE_PATH_MAX][32];
		size_t n = tids_test_json_count(path), pl;

		tids_merkle_leaf_hash(got.records[i].data, got.records[i].len, leaf);
		get_hex32(r, "leaf_hash", want);
		ck_assert_mem_eq(leaf, want, 32);
		for (size_t j = 0; j < n; j++)
			ck_assert_int_eq(tids_test_json_hex(tids_test_json_at(path, j), pth[j], 32, &pl), 0);
		ck_assert_int_eq(tids_merkle_verify_path(leaf, i, got.n_records, (const uint8_t(*)[32])pth, n, root), 0);
	}
	/* The signature covers exactly signed_message. */
	ck_assert_int_eq(crypto_sign_verify_detached(got.signature, msg, mlen, p.sign_pk), 0);
	ck_assert_mem_eq(msg, TIDS_DOMAIN_BATCH, strlen(TIDS_DOMAIN_BATCH));
	got.signature[0] ^= 1;
	ck_assert_int_eq(tids_batch_verify(&got, p.sign_pk, err, sizeof(err)), TIDS_EBADSIG);
	tids_batch_free(&got);
	tids_identity_wipe(&p);
	free(enc);
	free(msg);
}
END_TEST

START_TEST(signed_consent_passes_the_gate)
{
	const struct tids_test_json *g = tids_test_json_get(doc, "grant"), *a = tids_test_json_get(doc, "approval");
	struct tids_identity p, reg;
	struct tids_grant gr;
	struct tids_approval ap;
	size_t len, blen;
	uint8_t *enc, *bytes;

	load_identity("participant", &p);
	load_identity("regulator", &reg);
	enc = get_hex(g, "signed", &len);
	bytes = get_hex(g, "grant", &blen);
	ck_assert_msg(tids_wire_decode_signed_grant(enc, len, &gr, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gr.bytes.len, blen);
	ck_assert_mem_eq(gr.bytes.data, bytes, blen);
	ck_assert_str_eq(gr.hub_id, tids_test_json_str(tids_test_json_get(g, "hub_id")));
	ck_assert_int_eq(tids_sign_verify_detached(p.sign_pk, TIDS_DOMAIN_GRANT, gr.bytes.data, gr.bytes.len,
						   gr.signature), 0);
	ck_assert_int_eq(tids_sign_verify_detached(p.sign_pk, TIDS_DOMAIN_APPROVAL, gr.bytes.data, gr.bytes.len,
						   gr.signature), TIDS_EBADSIG);
	tids_grant_free(&gr);
	free(enc);
	free(bytes);

	enc = get_hex(a, "signed", &len);
	bytes = get_hex(a, "approval", &blen);
	ck_assert_msg(tids_wire_decode_signed_approval(enc, len, &ap, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ap.bytes.len, blen);
	ck_assert_mem_eq(ap.bytes.data, bytes, blen);
	ck_assert_int_eq(tids_sign_verify_detached(reg.sign_pk, TIDS_DOMAIN_APPROVAL, ap.bytes.data, ap.bytes.len,
						   ap.signature), 0);
	tids_approval_free(&ap);
	free(enc);
	free(bytes);
	tids_identity_wipe(&p);
	tids_identity_wipe(&reg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc = tcase_create("known answers");
	SRunner *sr;
	char path[4096];
	int failed;

	if (sodium_init() < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/tests/vectors/protocol.json", tids_test_source_dir());
	doc = tids_test_json_load(path);
	if (doc == NULL) {
		fprintf(stderr, "cannot load %s\n", path);
		return 1;
	}
	tcase_add_test(tc, generator_makes_the_committed_file);
	tcase_add_test(tc, identities_and_key_files);
	tcase_add_test(tc, hub_side_of_the_recorded_handshake);
	tcase_add_test(tc, signed_batch_passes_the_gate);
	tcase_add_test(tc, signed_consent_passes_the_gate);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tids_test_json_free(doc);
	return failed == 0 ? 0 : 1;
}
