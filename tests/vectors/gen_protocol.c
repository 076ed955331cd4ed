/*
 * Writes tests/vectors/protocol.json: known answers of the participant
 * protocol (docs/PROTOCOL.md) made by libtids itself from fixed keys — the
 * identities and their key file, a recorded Noise_XX handshake with fixed
 * ephemerals, the first transport messages (welcome Status, a Ping call),
 * a signed batch with its Merkle leaves and paths, a signed grant and a
 * signed approval. check_protocol compares this program's output with the
 * committed file and checks the file through the hub's own gates; every
 * other client checks the same file (clients/python/tests/test_vectors.py).
 *
 *   build/tests/gen_protocol > tests/vectors/protocol.json
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/channel.h"
#include "tids/client.h"
#include "tids/crypto.h"
#include "tids/noise.h"
#include "tids/wire.h"

#define HUB_ID "hub.vectors"
#define PARTICIPANT_ID "factory.vec"

static void die(const char *what)
{
	fprintf(stderr, "gen_protocol: %s failed\n", what);
	exit(1);
}

static void hex(const char *key, const uint8_t *p, size_t n, int indent, int last)
{
	printf("%*s\"%s\": \"", indent, "", key);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\"%s\n", last ? "" : ",");
}

static void str(const char *key, const char *s, int indent, int last)
{
	/* Vector strings are plain ASCII without quotes or backslashes. */
	printf("%*s\"%s\": \"%s\"%s\n", indent, "", key, s, last ? "" : ",");
}

static void num(const char *key, uint64_t v, int indent, int last)
{
	printf("%*s\"%s\": %" PRIu64 "%s\n", indent, "", key, v, last ? "" : ",");
}

/* Bytes 0..31 made from a label, so every fixed key is different. */
static void fixed(const char *label, uint8_t *out, size_t n)
{
	crypto_generichash(out, n, (const uint8_t *)label, strlen(label), NULL, 0);
}

static void identity(const char *name, const char *id, const uint8_t seed[32], struct tids_identity *out, int last)
{
	char b64[TIDS_KEY_BASE64_BYTES], line[TIDS_KEY_BASE64_BYTES + 2];

	if (tids_identity_from_seed(seed, out) != 0)
		die("identity");
	printf("    {\n");
	str("name", name, 6, 0);
	str("id", id, 6, 0);
	hex("seed", seed, 32, 6, 0);
	tids_key_to_base64(seed, b64);
	snprintf(line, sizeof(line), "%s\\n", b64);
	str("key_file", line, 6, 0);
	hex("ed25519_public", out->sign_pk, 32, 6, 0);
	tids_key_to_base64(out->sign_pk, b64);
	str("ed25519_public_base64", b64, 6, 0);
	hex("x25519_private", out->dh_sk, 32, 6, 0);
	hex("x25519_public", out->dh_pk, 32, 6, 1);
	printf("    }%s\n", last ? "" : ",");
}

/* One Noise message as it travels: uint16be length + message. */
static void wire_message(const char *key, const uint8_t *msg, size_t len, int indent, int last)
{
	uint8_t buf[2 + TIDS_NOISE_MAX_MESSAGE_BYTES];

	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, msg, len);
	hex(key, buf, 2 + len, indent, last);
}

/* A transport step: the plaintext frame and the bytes on the wire. */
static void transport(const char *from, const char *what, struct tids_channel *ch, const uint8_t *frame, size_t len,
		      int last)
{
	struct tids_buf out = { 0 };

	if (tids_channel_seal(ch, frame, len, &out) != 0)
		die("seal");
	printf("      {\n");
	str("from", from, 8, 0);
	str("what", what, 8, 0);
	hex("frame", frame, len, 8, 0);
	hex("wire", tids_buf_head(&out), out.len, 8, 1);
	printf("      }%s\n", last ? "" : ",");
	tids_buf_free(&out);
}

static void handshake(const struct tids_identity *p, const struct tids_identity *hub)
{
	struct tids_noise_handshake ini, resp;
	struct tids_noise_cipher itx, irx, rtx, rrx;
	struct tids_channel pch, hch;
	uint8_t ie[32], re[32], m1[256], m2[256], m3[256], pl[256], nonce[16], hello[TIDS_HELLO_MAX];
	size_t l1, l2, l3, pll, hlen;
	uint8_t *buf;
	size_t len;

	fixed("tids.vectors.initiator-ephemeral", ie, sizeof(ie));
	fixed("tids.vectors.responder-ephemeral", re, sizeof(re));
	if (tids_noise_handshake_init(&ini, TIDS_NOISE_PROTOCOL, 1, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
				      strlen(TIDS_CHANNEL_PROLOGUE), p->dh_sk, NULL, NULL) != 0 ||
	    tids_noise_handshake_init(&resp, TIDS_NOISE_PROTOCOL, 0, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
				      strlen(TIDS_CHANNEL_PROLOGUE), hub->dh_sk, NULL, NULL) != 0 ||
	    tids_noise_handshake_set_ephemeral(&ini, ie) != 0 || tids_noise_handshake_set_ephemeral(&resp, re) != 0)
		die("handshake init");
	/* As tidsd and libtids run it: message 1 and 3 carry nothing, message
	 * 2 the hub id, 0x00 and the hub's Ed25519 key. */
	hlen = tids_channel_hello_encode(HUB_ID, hub->sign_pk, hello);
	if (tids_noise_write_message(&ini, NULL, 0, m1, sizeof(m1), &l1) != 0 ||
	    tids_noise_read_message(&resp, m1, l1, pl, sizeof(pl), &pll) != 0 || pll != 0 ||
	    tids_noise_write_message(&resp, hello, hlen, m2, sizeof(m2), &l2) != 0 ||
	    tids_noise_read_message(&ini, m2, l2, pl, sizeof(pl), &pll) != 0 || pll != hlen ||
	    memcmp(tids_noise_remote_static(&ini), hub->dh_pk, 32) != 0 ||
	    tids_noise_write_message(&ini, NULL, 0, m3, sizeof(m3), &l3) != 0 ||
	    tids_noise_read_message(&resp, m3, l3, pl, sizeof(pl), &pll) != 0 || pll != 0 ||
	    memcmp(tids_noise_handshake_hash(&ini), tids_noise_handshake_hash(&resp), TIDS_NOISE_HASH_BYTES) != 0)
		die("handshake");
	printf("  \"handshake\": {\n");
	str("protocol", TIDS_NOISE_PROTOCOL, 4, 0);
	str("prologue", TIDS_CHANNEL_PROLOGUE, 4, 0);
	str("hub_id", HUB_ID, 4, 0);
	hex("initiator_ephemeral_private", ie, 32, 4, 0);
	hex("responder_ephemeral_private", re, 32, 4, 0);
	wire_message("message1", m1, l1, 4, 0);
	wire_message("message2", m2, l2, 4, 0);
	hex("message2_payload", hello, hlen, 4, 0);
	wire_message("message3", m3, l3, 4, 0);
	hex("handshake_hash", tids_noise_handshake_hash(&ini), TIDS_NOISE_HASH_BYTES, 4, 0);
	if (tids_noise_split(&ini, &itx, &irx) != 0 || tids_noise_split(&resp, &rtx, &rrx) != 0)
		die("split");
	tids_channel_init_noise(&pch, &itx, &irx, TIDS_FRAME_MAX_DEFAULT);
	tids_channel_init_noise(&hch, &rtx, &rrx, TIDS_FRAME_MAX_DEFAULT);

	printf("    \"transport\": [\n");
	{
		struct tids_status st = { 0, "welcome " PARTICIPANT_ID };

		if (tids_wire_encode_status(&st, &buf, &len) != 0)
			die("status");
		transport("hub", "the welcome: a Status, framed like every frame", &hch, buf, len, 0);
		free(buf);
	}
	fixed("tids.vectors.ping-nonce", nonce, sizeof(nonce));
	{
		struct tids_ping ping = { .nonce = { nonce, sizeof(nonce) } };
		struct tids_frame f = { .call_id = 1, .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Exchange/Ping" };
		uint8_t *body;
		size_t blen;

		if (tids_wire_encode_ping_request(&ping, &body, &blen) != 0)
			die("ping");
		f.body = (struct tids_bytes){ body, blen };
		if (tids_wire_encode_frame(&f, &buf, &len) != 0)
			die("frame");
		transport("participant", "Frame REQUEST call 1 tids.v1.Exchange/Ping", &pch, buf, len, 0);
		free(buf);
		free(body);
	}
	{
		struct tids_ping rep = { .nonce = { nonce, sizeof(nonce) }, .hub_id = HUB_ID,
					 .participant = PARTICIPANT_ID, .hub_time_ms = 1767225600000 };
		struct tids_frame f = { .call_id = 1, .kind = TIDS_FRAME_RESPONSE, .method = "",
					.status = { 0, "" } };
		uint8_t *body;
		size_t blen;

		if (tids_wire_encode_ping_reply(&rep, &body, &blen) != 0)
			die("ping reply");
		f.body = (struct tids_bytes){ body, blen };
		if (tids_wire_encode_frame(&f, &buf, &len) != 0)
			die("frame");
		transport("hub", "Frame RESPONSE call 1 with a PingReply", &hch, buf, len, 0);
		free(buf);
		free(body);
	}
	{
		struct tids_frame f = { .call_id = 0, .kind = TIDS_FRAME_RESPONSE, .method = "",
					.status = { 3, "frame: kind must be set" } };

		if (tids_wire_encode_frame(&f, &buf, &len) != 0)
			die("frame");
		transport("hub", "Frame RESPONSE call 0: a frame of ours could not be read", &hch, buf, len, 1);
		free(buf);
	}
	printf("    ]\n  },\n");
	tids_channel_wipe(&pch);
	tids_channel_wipe(&hch);
}

static void batch(const struct tids_identity *p)
{
	static const char *const labels[] = { "process" };
	struct tids_field fields[] = {
		{ .name = "spindle_rpm", .value = { .kind = TIDS_VALUE_REAL, .as.d = 1200.5 } },
		{ .name = "cycles", .value = { .kind = TIDS_VALUE_UINT, .as.u = 42 } },
		{ .name = "offset", .value = { .kind = TIDS_VALUE_INT, .as.i = -3 }, .tier = TIDS_TIER_IMPORTANT,
		  .labels = labels, .n_labels = 1 },
		{ .name = "running", .value = { .kind = TIDS_VALUE_FLAG, .as.b = true } },
		{ .name = "line", .value = { .kind = TIDS_VALUE_TEXT, .as.bytes = { (const uint8_t *)"L2", 2 } } },
	};
	struct tids_bytes recs[3];
	uint8_t *bufs[3], path[TIDS_MERKLE_PATH_MAX][TIDS_HASH_BYTES], leaf[TIDS_HASH_BYTES], *enc;
	uint8_t msg[TIDS_ID_MAX + 64];
	struct tids_batch b = { .publisher = PARTICIPANT_ID, .sequence = 7, .records = recs, .n_records = 3 };
	size_t n, plen, elen, mlen;

	for (int i = 0; i < 3; i++) {
		struct tids_record r = { .owner = PARTICIPANT_ID, .asset_id = "press-7", .category = "telemetry",
					 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH",
					 .produced_at_ms = 1767225600000 + i * 1000, .schema = "press.telemetry/1",
					 .fields = fields, .n_fields = (size_t)(i + 3) };
		char label[64];

		snprintf(label, sizeof(label), "tids.vectors.record-%d", i);
		crypto_generichash(r.record_id, TIDS_RECORD_ID_BYTES, (const uint8_t *)label, strlen(label), NULL, 0);
		if (tids_wire_encode_record(&r, &bufs[i], &n) != 0)
			die("record");
		recs[i] = (struct tids_bytes){ bufs[i], n };
	}
	if (tids_merkle_root(recs, 3, b.merkle_root) != 0 ||
	    tids_sign_batch(p->sign_sk, b.publisher, b.sequence, b.merkle_root, b.signature) != 0 ||
	    tids_wire_encode_batch(&b, &enc, &elen) != 0)
		die("batch");
	printf("  \"batch\": {\n");
	str("publisher", PARTICIPANT_ID, 4, 0);
	num("sequence", b.sequence, 4, 0);
	printf("    \"records\": [\n");
	for (int i = 0; i < 3; i++) {
		tids_merkle_leaf_hash(recs[i].data, recs[i].len, leaf);
		if (tids_merkle_path(recs, 3, (size_t)i, path, &plen) != 0)
			die("path");
		printf("      {\n");
		hex("bytes", recs[i].data, recs[i].len, 8, 0);
		hex("leaf_hash", leaf, sizeof(leaf), 8, 0);
		printf("        \"path\": [");
		for (size_t j = 0; j < plen; j++) {
			printf("%s\"", j ? ", " : "");
			for (size_t k = 0; k < TIDS_HASH_BYTES; k++)
				printf("%02x", path[j][k]);
			printf("\"");
		}
		printf("]\n      }%s\n", i == 2 ? "" : ",");
	}
	printf("    ],\n");
	hex("merkle_root", b.merkle_root, TIDS_HASH_BYTES, 4, 0);
	/* What the signature covers, domain included. */
	mlen = strlen(TIDS_DOMAIN_BATCH);
	memcpy(msg, TIDS_DOMAIN_BATCH, mlen);
	memcpy(msg + mlen, PARTICIPANT_ID, strlen(PARTICIPANT_ID) + 1);
	mlen += strlen(PARTICIPANT_ID) + 1;
	for (int s = 56; s >= 0; s -= 8)
		msg[mlen++] = (uint8_t)(b.sequence >> s);
	memcpy(msg + mlen, b.merkle_root, TIDS_HASH_BYTES);
	mlen += TIDS_HASH_BYTES;
	if (crypto_sign_verify_detached(b.signature, msg, mlen, p->sign_pk) != 0)
		die("batch message");
	hex("signed_message", msg, mlen, 4, 0);
	hex("signature", b.signature, TIDS_SIGNATURE_BYTES, 4, 0);
	hex("publish_batch", enc, elen, 4, 1);
	printf("  },\n");
	free(enc);
	for (int i = 0; i < 3; i++)
		free(bufs[i]);
}

/* domain || bytes, the signature and the Signed* message. */
static void signed_bytes(const char *domain, const uint8_t *bytes, size_t len, const uint8_t sig[64],
			 const uint8_t *wrapped, size_t wlen)
{
	size_t dl = strlen(domain);
	uint8_t *msg = malloc(dl + len);

	if (msg == NULL)
		die("malloc");
	memcpy(msg, domain, dl);
	memcpy(msg + dl, bytes, len);
	hex("signed_message", msg, dl + len, 4, 0);
	hex("signature", sig, TIDS_SIGNATURE_BYTES, 4, 0);
	hex("signed", wrapped, wlen, 4, 1);
	free(msg);
}

static void grant(const struct tids_identity *p)
{
	static const char *const cats[] = { "run_hours", "cycles" }, *const purposes[] = { "billing" };
	static const char *const assets[] = { "press-7" };
	struct tids_grant g = { .grant_id = "g-vec-1", .owner = PARTICIPANT_ID, .grantee = "lessor.vec",
				.assets = { assets, 1 }, .categories = { cats, 2 }, .purposes = { purposes, 1 },
				.not_before_ms = 1767225600000, .not_after_ms = 1798761600000, .max_uses = 0,
				.hub_id = HUB_ID };
	uint8_t *bytes, *wrapped;
	size_t len, wlen;

	if (tids_wire_encode_grant(&g, &bytes, &len) != 0 || tids_client_sign_grant(p, &g) != 0)
		die("grant");
	g.bytes = (struct tids_bytes){ bytes, len };
	if (tids_wire_encode_signed_grant(&g, &wrapped, &wlen) != 0)
		die("signed grant");
	printf("  \"grant\": {\n");
	str("signer", PARTICIPANT_ID, 4, 0);
	str("grant_id", g.grant_id, 4, 0);
	str("grantee", g.grantee, 4, 0);
	str("hub_id", g.hub_id, 4, 0);
	hex("grant", bytes, len, 4, 0);
	signed_bytes(TIDS_DOMAIN_GRANT, bytes, len, g.signature, wrapped, wlen);
	printf("  },\n");
	free(bytes);
	free(wrapped);
}

static void approval(const struct tids_identity *reg)
{
	static const char *const cats[] = { "quality" }, *const purposes[] = { "export" };
	struct tids_approval a = { .approval_id = "a-vec-1", .kind = "export", .regulator = "regulator.vec",
				   .exporter = PARTICIPANT_ID, .recipient = "buyer.sg", .categories = { cats, 1 },
				   .tiers = { TIDS_TIER_IMPORTANT }, .n_tiers = 1, .purposes = { purposes, 1 },
				   .from_jurisdiction = "CN-SH", .to_jurisdiction = "SG",
				   .valid_from_ms = 1767225600000, .valid_until_ms = 1861920000000, .hub_id = HUB_ID,
				   .case_id = "" };
	uint8_t *bytes, *wrapped;
	size_t len, wlen;

	if (tids_wire_encode_approval(&a, &bytes, &len) != 0 || tids_client_sign_approval(reg, &a) != 0)
		die("approval");
	a.bytes = (struct tids_bytes){ bytes, len };
	if (tids_wire_encode_signed_approval(&a, &wrapped, &wlen) != 0)
		die("signed approval");
	printf("  \"approval\": {\n");
	str("signer", a.regulator, 4, 0);
	str("approval_id", a.approval_id, 4, 0);
	str("hub_id", a.hub_id, 4, 0);
	hex("approval", bytes, len, 4, 0);
	signed_bytes(TIDS_DOMAIN_APPROVAL, bytes, len, a.signature, wrapped, wlen);
	printf("  }\n");
	free(bytes);
	free(wrapped);
}

int main(void)
{
	struct tids_identity p, hub, reg;
	uint8_t seed[32];

	if (sodium_init() < 0)
		die("sodium_init");
	printf("{\n");
	str("source", "tests/vectors/gen_protocol.c (libtids); docs/PROTOCOL.md says what each is", 2, 0);
	printf("  \"identities\": [\n");
	fixed("tids.vectors.participant", seed, sizeof(seed));
	identity("participant", PARTICIPANT_ID, seed, &p, 0);
	fixed("tids.vectors.hub", seed, sizeof(seed));
	identity("hub", HUB_ID, seed, &hub, 0);
	fixed("tids.vectors.regulator", seed, sizeof(seed));
	identity("regulator", "regulator.vec", seed, &reg, 1);
	printf("  ],\n");
	handshake(&p, &hub);
	batch(&p);
	grant(&p);
	approval(&reg);
	printf("}\n");
	tids_identity_wipe(&p);
	tids_identity_wipe(&hub);
	tids_identity_wipe(&reg);
	sodium_memzero(seed, sizeof(seed));
	return fflush(stdout) == 0 ? 0 : 1;
}
