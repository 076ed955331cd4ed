/*
 * Noise handshake and transport (lib/noise*.c): every cacophony vector in
 * tests/vectors/noise-25519-chachapoly-blake2b.json byte for byte, then the
 * failures a hostile or broken peer can cause, and misuse by the caller.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/noise.h"
#include "../lib/vectors_json.h"

#define VECTOR_FILE "tests/vectors/noise-25519-chachapoly-blake2b.json"
#define VECTORS_IN_FILE 5
#define BUF (TIDS_NOISE_MAX_MESSAGE_BYTES + 64)

static uint8_t msg[BUF], pt[BUF], expect[BUF];

struct keypair {
	uint8_t priv[TIDS_NOISE_DH_BYTES], pub[TIDS_NOISE_DH_BYTES];
};

/* Both ends of one session. */
struct pair {
	struct tids_noise_handshake ini, res;
	struct keypair is, rs;
	struct tids_noise_cipher isend, irecv, rsend, rrecv;
};

static struct tids_test_json *load_vectors(void)
{
	const char *dir = getenv("TIDS_SOURCE_DIR");
	char path[4096];
	struct tids_test_json *doc;

	if (dir != NULL)
		snprintf(path, sizeof path, "%s/%s", dir, VECTOR_FILE);
	else
		snprintf(path, sizeof path, "%s", VECTOR_FILE);
	doc = tids_test_json_load(path);
	ck_assert_msg(doc != NULL, "cannot load %s (set TIDS_SOURCE_DIR)", path);
	return doc;
}

/* The 32-byte key under name, or NULL when the vector has none. */
static const uint8_t *vector_key(const struct tids_test_json *v, const char *name,
				 uint8_t out[32])
{
	const struct tids_test_json *j = tids_test_json_get(v, name);
	size_t len;

	if (j == NULL)
		return NULL;
	if (j->type == TIDS_TEST_JSON_ARRAY) {
		/* psks: the patterns here have one psk token each. */
		ck_assert_uint_eq(tids_test_json_count(j), 1);
		j = tids_test_json_at(j, 0);
	}
	ck_assert_int_eq(tids_test_json_hex(j, out, 32, &len), 0);
	ck_assert_uint_eq(len, 32);
	return out;
}

static void vector_init(struct tids_noise_handshake *hs,
			const struct tids_test_json *v, const char *name,
			int initiator)
{
	const char *side = initiator ? "init" : "resp";
	uint8_t prologue[256], s[32], rs[32], psk[32], e[32];
	const uint8_t *sp, *rsp, *pskp;
	char key[64];
	size_t prologue_len;

	snprintf(key, sizeof key, "%s_prologue", side);
	ck_assert_int_eq(tids_test_json_hex(tids_test_json_get(v, key), prologue,
					    sizeof prologue, &prologue_len), 0);
	snprintf(key, sizeof key, "%s_static", side);
	sp = vector_key(v, key, s);
	snprintf(key, sizeof key, "%s_remote_static", side);
	rsp = vector_key(v, key, rs);
	snprintf(key, sizeof key, "%s_psks", side);
	pskp = vector_key(v, key, psk);
	ck_assert_int_eq(tids_noise_handshake_init(hs, name, initiator, prologue,
						   prologue_len, sp, rsp, pskp), 0);
	snprintf(key, sizeof key, "%s_ephemeral", side);
	ck_assert_ptr_nonnull(vector_key(v, key, e));
	ck_assert_int_eq(tids_noise_handshake_set_ephemeral(hs, e), 0);
}

static void assert_remote_is(const struct tids_noise_handshake *hs,
			     const struct tids_test_json *v, const char *key)
{
	uint8_t s[32], pub[32];
	const uint8_t *rs = tids_noise_remote_static(hs);

	if (rs == NULL)
		return;
	ck_assert_ptr_nonnull(vector_key(v, key, s));
	ck_assert_int_eq(crypto_scalarmult_base(pub, s), 0);
	ck_assert_mem_eq(rs, pub, 32);
}

/*
 * One vector: the handshake messages, then transport messages; in cacophony
 * both alternate initiator, responder, initiator... for interactive patterns.
 */
static void run_vector(const struct tids_test_json *v)
{
	const char *name = tids_test_json_str(tids_test_json_get(v, "protocol_name"));
	const struct tids_test_json *msgs = tids_test_json_get(v, "messages");
	struct pair p;
	struct tids_noise_handshake *from, *to;
	struct tids_noise_cipher *send, *recv;
	uint8_t payload[1024], hash[TIDS_NOISE_HASH_BYTES];
	size_t i, n, payload_len, expect_len, len, hash_len, handshake_msgs = 0;

	ck_assert_ptr_nonnull(name);
	ck_assert_uint_gt(tids_test_json_count(msgs), 0);
	vector_init(&p.ini, v, name, 1);
	vector_init(&p.res, v, name, 0);
	ck_assert_int_eq(tids_test_json_hex(tids_test_json_get(v, "handshake_hash"),
					    hash, sizeof hash, &hash_len), 0);
	ck_assert_uint_eq(hash_len, sizeof hash);

	n = tids_test_json_count(msgs);
	for (i = 0; i < n; i++) {
		const struct tids_test_json *m = tids_test_json_at(msgs, i);
		int by_initiator = i % 2 == 0;

		ck_assert_int_eq(tids_test_json_hex(tids_test_json_get(m, "payload"),
						    payload, sizeof payload,
						    &payload_len), 0);
		ck_assert_int_eq(tids_test_json_hex(tids_test_json_get(m, "ciphertext"),
						    expect, sizeof expect,
						    &expect_len), 0);
		if (!tids_noise_handshake_done(&p.ini)) {
			from = by_initiator ? &p.ini : &p.res;
			to = by_initiator ? &p.res : &p.ini;
			ck_assert_int_eq(tids_noise_handshake_want_write(from), 1);
			ck_assert_int_eq(tids_noise_handshake_want_write(to), 0);
			ck_assert_int_eq(tids_noise_write_message(from, payload,
				payload_len, msg, sizeof msg, &len), 0);
			ck_assert_msg(len == expect_len &&
				      memcmp(msg, expect, len) == 0,
				      "%s: handshake message %zu differs", name, i);
			ck_assert_int_eq(tids_noise_read_message(to, msg, len, pt,
				sizeof pt, &len), 0);
			ck_assert_uint_eq(len, payload_len);
			ck_assert_mem_eq(pt, payload, len);
			handshake_msgs++;
			ck_assert_int_eq(tids_noise_handshake_done(&p.ini),
					 tids_noise_handshake_done(&p.res));
			if (!tids_noise_handshake_done(&p.ini))
				continue;
			ck_assert_msg(memcmp(tids_noise_handshake_hash(&p.ini), hash,
					     sizeof hash) == 0,
				      "%s: initiator's handshake hash differs", name);
			ck_assert_mem_eq(tids_noise_handshake_hash(&p.res), hash,
					 sizeof hash);
			assert_remote_is(&p.res, v, "init_static");
			assert_remote_is(&p.ini, v, "resp_static");
			ck_assert_int_eq(tids_noise_split(&p.ini, &p.isend, &p.irecv), 0);
			ck_assert_int_eq(tids_noise_split(&p.res, &p.rsend, &p.rrecv), 0);
			continue;
		}
		send = by_initiator ? &p.isend : &p.rsend;
		recv = by_initiator ? &p.rrecv : &p.irecv;
		ck_assert_int_eq(tids_noise_encrypt(send, NULL, 0, payload,
			payload_len, msg, sizeof msg, &len), 0);
		ck_assert_msg(len == expect_len && memcmp(msg, expect, len) == 0,
			      "%s: transport message %zu differs", name, i);
		ck_assert_int_eq(tids_noise_decrypt(recv, NULL, 0, msg, len, pt,
						    sizeof pt, &len), 0);
		ck_assert_uint_eq(len, payload_len);
		ck_assert_mem_eq(pt, payload, len);
	}
	ck_assert_msg(tids_noise_handshake_done(&p.ini), "%s: not done", name);
	ck_assert_uint_lt(handshake_msgs, n);
	/* The hash outlives the split, for channel binding. */
	ck_assert_mem_eq(tids_noise_handshake_hash(&p.ini), hash, sizeof hash);
	tids_noise_handshake_wipe(&p.ini);
	tids_noise_handshake_wipe(&p.res);
	tids_noise_cipher_wipe(&p.isend);
	tids_noise_cipher_wipe(&p.irecv);
	tids_noise_cipher_wipe(&p.rsend);
	tids_noise_cipher_wipe(&p.rrecv);
}

START_TEST(test_vectors)
{
	struct tids_test_json *doc = load_vectors();
	const struct tids_test_json *vs = tids_test_json_get(doc, "vectors");
	size_t i, run = 0;

	for (i = 0; i < tids_test_json_count(vs); i++) {
		run_vector(tids_test_json_at(vs, i));
		run++;
	}
	ck_assert_uint_eq(run, tids_test_json_count(vs));
	ck_assert_uint_eq(run, VECTORS_IN_FILE);
	tids_test_json_free(doc);
}
END_TEST

static void new_keypair(struct keypair *k)
{
	crypto_box_keypair(k->pub, k->priv);
}

/* An XX pair with fresh random static and ephemeral keys. */
static void xx_pair(struct pair *p)
{
	memset(p, 0, sizeof *p);
	new_keypair(&p->is);
	new_keypair(&p->rs);
	ck_assert_int_eq(tids_noise_handshake_init(&p->ini, TIDS_NOISE_PROTOCOL, 1,
		(const uint8_t *)"tids", 4, p->is.priv, NULL, NULL), 0);
	ck_assert_int_eq(tids_noise_handshake_init(&p->res, TIDS_NOISE_PROTOCOL, 0,
		(const uint8_t *)"tids", 4, p->rs.priv, NULL, NULL), 0);
}

/* Writes the next message from one side; returns its length in msg. */
static size_t step_write(struct tids_noise_handshake *from, const char *payload)
{
	size_t len;

	ck_assert_int_eq(tids_noise_write_message(from, (const uint8_t *)payload,
		strlen(payload), msg, sizeof msg, &len), 0);
	return len;
}

static void step_read(struct tids_noise_handshake *to, const uint8_t *m,
		      size_t len, const char *payload)
{
	size_t plen;

	ck_assert_int_eq(tids_noise_read_message(to, m, len, pt, sizeof pt, &plen), 0);
	ck_assert_uint_eq(plen, strlen(payload));
	ck_assert_mem_eq(pt, payload, plen);
}

/* Runs a whole handshake of any pattern, messages alternating. */
static void handshake(struct tids_noise_handshake *ini,
		      struct tids_noise_handshake *res)
{
	struct tids_noise_handshake *from, *to;
	size_t len, i;
	char payload[32];

	for (i = 0; !tids_noise_handshake_done(ini); i++) {
		ck_assert_uint_lt(i, TIDS_NOISE_MAX_MESSAGES);
		from = i % 2 == 0 ? ini : res;
		to = i % 2 == 0 ? res : ini;
		snprintf(payload, sizeof payload, "message %zu", i);
		len = step_write(from, payload);
		step_read(to, msg, len, payload);
	}
	ck_assert(tids_noise_handshake_done(res));
	ck_assert_mem_eq(tids_noise_handshake_hash(ini),
			 tids_noise_handshake_hash(res), TIDS_NOISE_HASH_BYTES);
}

static void transport(struct tids_noise_cipher *send,
		      struct tids_noise_cipher *recv, const char *text)
{
	size_t len, plen;

	ck_assert_int_eq(tids_noise_encrypt(send, (const uint8_t *)"ad", 2,
		(const uint8_t *)text, strlen(text), msg, sizeof msg, &len), 0);
	ck_assert_uint_eq(len, strlen(text) + TIDS_NOISE_TAG_BYTES);
	ck_assert_int_eq(tids_noise_decrypt(recv, (const uint8_t *)"ad", 2, msg,
					    len, pt, sizeof pt, &plen), 0);
	ck_assert_uint_eq(plen, strlen(text));
	ck_assert_mem_eq(pt, text, plen);
}

static void split_pair(struct pair *p)
{
	ck_assert_int_eq(tids_noise_split(&p->ini, &p->isend, &p->irecv), 0);
	ck_assert_int_eq(tids_noise_split(&p->res, &p->rsend, &p->rrecv), 0);
}

START_TEST(test_xx_random_keys)
{
	struct pair p;
	int i;

	xx_pair(&p);
	ck_assert_ptr_null(tids_noise_remote_static(&p.ini));
	ck_assert_ptr_null(tids_noise_remote_static(&p.res));
	step_read(&p.res, msg, step_write(&p.ini, "hello"), "hello");
	step_read(&p.ini, msg, step_write(&p.res, "hub"), "hub");
	/* The initiator knows the hub before revealing itself. */
	ck_assert_mem_eq(tids_noise_remote_static(&p.ini), p.rs.pub, 32);
	ck_assert_ptr_null(tids_noise_remote_static(&p.res));
	step_read(&p.res, msg, step_write(&p.ini, "factory"), "factory");
	ck_assert_mem_eq(tids_noise_remote_static(&p.res), p.is.pub, 32);
	ck_assert(tids_noise_handshake_done(&p.ini));
	ck_assert(tids_noise_handshake_done(&p.res));
	ck_assert_mem_eq(tids_noise_handshake_hash(&p.ini),
			 tids_noise_handshake_hash(&p.res), TIDS_NOISE_HASH_BYTES);
	split_pair(&p);
	for (i = 0; i < 3; i++) {
		transport(&p.isend, &p.rrecv, "publish");
		transport(&p.rsend, &p.irecv, "deliver");
	}
	transport(&p.isend, &p.rrecv, "");
	/* Directions differ: a message cannot be reflected back. */
	ck_assert(memcmp(p.isend.k, p.irecv.k, TIDS_NOISE_KEY_BYTES) != 0);
	/* Split wiped the handshake's secrets but kept h and rs. */
	ck_assert(sodium_is_zero(p.ini.s, sizeof p.ini.s));
	ck_assert(sodium_is_zero(p.ini.e, sizeof p.ini.e));
	ck_assert(sodium_is_zero(p.ini.ss.ck, sizeof p.ini.ss.ck));
	ck_assert(sodium_is_zero(p.ini.ss.cs.k, sizeof p.ini.ss.cs.k));
	ck_assert_ptr_nonnull(tids_noise_handshake_hash(&p.ini));
	ck_assert_mem_eq(tids_noise_remote_static(&p.res), p.is.pub, 32);
	ck_assert_int_eq(tids_noise_split(&p.ini, &p.isend, &p.irecv), TIDS_EPROTO);
}
END_TEST

/* Every supported pattern and psk placement, against itself. */
START_TEST(test_all_patterns)
{
	static const char *const names[] = {
		"NN", "NK", "NX", "XN", "XK", "XX", "KN", "KK", "KX", "IN", "IK", "IX",
	};
	static const char *const mods[] = { "", "psk0", "psk1", "psk2", "psk3" };
	struct tids_noise_handshake ini, res;
	struct tids_noise_cipher is, ir, rs_, rr;
	struct keypair ik, rk;
	uint8_t psk[32];
	char name[128];
	size_t i, j;
	int ret;

	randombytes_buf(psk, sizeof psk);
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		int pre_r = strchr("NXKI", names[i][0]) && names[i][1] == 'K';
		int pre_i = names[i][0] == 'K';
		int three = names[i][0] == 'X';

		for (j = 0; j < sizeof mods / sizeof mods[0]; j++) {
			int with_psk = mods[j][0] != '\0';

			snprintf(name, sizeof name, "Noise_%s%s_25519_ChaChaPoly_BLAKE2b",
				 names[i], mods[j]);
			if (j == 4 && !three) {
				ck_assert_int_eq(tids_noise_protocol_check(name, NULL, 0),
						 TIDS_EINVAL);
				continue;
			}
			ck_assert_msg(tids_noise_protocol_check(name, NULL, 0) == 0,
				      "%s refused", name);
			new_keypair(&ik);
			new_keypair(&rk);
			ret = tids_noise_handshake_init(&ini, name, 1, NULL, 0, ik.priv,
				pre_r ? rk.pub : NULL, with_psk ? psk : NULL);
			ck_assert_msg(ret == 0, "%s initiator: %d", name, ret);
			ret = tids_noise_handshake_init(&res, name, 0, NULL, 0, rk.priv,
				pre_i ? ik.pub : NULL, with_psk ? psk : NULL);
			ck_assert_msg(ret == 0, "%s responder: %d", name, ret);
			handshake(&ini, &res);
			if (names[i][0] != 'N')
				ck_assert_mem_eq(tids_noise_remote_static(&res), ik.pub, 32);
			if (names[i][1] != 'N')
				ck_assert_mem_eq(tids_noise_remote_static(&ini), rk.pub, 32);
			ck_assert_int_eq(tids_noise_split(&ini, &is, &ir), 0);
			ck_assert_int_eq(tids_noise_split(&res, &rs_, &rr), 0);
			transport(&is, &rr, name);
			transport(&rs_, &ir, name);
		}
	}
}
END_TEST

/* A psk that differs, or a pinned key that is wrong, fails the handshake. */
START_TEST(test_wrong_psk_and_pinned_key)
{
	struct tids_noise_handshake ini, res;
	struct keypair ik, rk, other;
	uint8_t psk1[32] = { 1 }, psk2[32] = { 2 };
	size_t len, plen;

	new_keypair(&ik);
	new_keypair(&rk);
	new_keypair(&other);
	ck_assert_int_eq(tids_noise_handshake_init(&ini,
		"Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b", 1, NULL, 0, ik.priv, NULL,
		psk1), 0);
	ck_assert_int_eq(tids_noise_handshake_init(&res,
		"Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b", 0, NULL, 0, rk.priv, NULL,
		psk2), 0);
	step_read(&res, msg, step_write(&ini, ""), "");
	step_read(&ini, msg, step_write(&res, ""), "");
	len = step_write(&ini, "");
	ck_assert_int_eq(tids_noise_read_message(&res, msg, len, pt, sizeof pt, &plen),
			 TIDS_EAUTH);
	ck_assert_ptr_null(tids_noise_remote_static(&res));

	/* IK towards a hub whose key is not the one pinned. */
	ck_assert_int_eq(tids_noise_handshake_init(&ini,
		"Noise_IK_25519_ChaChaPoly_BLAKE2b", 1, NULL, 0, ik.priv, other.pub,
		NULL), 0);
	ck_assert_int_eq(tids_noise_handshake_init(&res,
		"Noise_IK_25519_ChaChaPoly_BLAKE2b", 0, NULL, 0, rk.priv, NULL,
		NULL), 0);
	len = step_write(&ini, "hi");
	ck_assert_int_eq(tids_noise_read_message(&res, msg, len, pt, sizeof pt, &plen),
			 TIDS_EAUTH);

	/* A prologue that differs is caught by the first encrypted payload. */
	ck_assert_int_eq(tids_noise_handshake_init(&ini, TIDS_NOISE_PROTOCOL, 1,
		(const uint8_t *)"a", 1, ik.priv, NULL, NULL), 0);
	ck_assert_int_eq(tids_noise_handshake_init(&res, TIDS_NOISE_PROTOCOL, 0,
		(const uint8_t *)"b", 1, rk.priv, NULL, NULL), 0);
	step_read(&res, msg, step_write(&ini, ""), "");
	len = step_write(&res, "");
	ck_assert_int_eq(tids_noise_read_message(&ini, msg, len, pt, sizeof pt, &plen),
			 TIDS_EAUTH);
}
END_TEST

START_TEST(test_flipped_byte)
{
	struct pair p;
	uint8_t m2[BUF];
	size_t len, plen, i;

	/* Every byte of message 2 is covered: e via h, s and payload by MACs. */
	xx_pair(&p);
	step_read(&p.res, msg, step_write(&p.ini, "hello"), "hello");
	len = step_write(&p.res, "hub payload");
	memcpy(m2, msg, len);
	for (i = 0; i < len; i++) {
		struct tids_noise_handshake copy = p.ini;

		m2[i] ^= 0x01;
		ck_assert_int_eq(tids_noise_read_message(&copy, m2, len, pt,
							 sizeof pt, &plen), TIDS_EAUTH);
		m2[i] ^= 0x01;
		/* Also bit 255 of e, which X25519 itself ignores. */
		m2[i] ^= 0x80;
		copy = p.ini;
		ck_assert_int_eq(tids_noise_read_message(&copy, m2, len, pt,
							 sizeof pt, &plen), TIDS_EAUTH);
		m2[i] ^= 0x80;
	}
	m2[len - 1] ^= 0x01;
	ck_assert_int_eq(tids_noise_read_message(&p.ini, m2, len, pt, sizeof pt,
						 &plen), TIDS_EAUTH);
	ck_assert_uint_eq(plen, 0);
	/* The failed handshake is wiped and refuses everything after. */
	ck_assert(sodium_is_zero((const uint8_t *)&p.ini, sizeof p.ini));
	ck_assert_int_eq(tids_noise_read_message(&p.ini, msg, len, pt, sizeof pt,
						 &plen), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_write_message(&p.ini, NULL, 0, msg, sizeof msg,
						  &len), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_handshake_want_write(&p.ini), 0);
	ck_assert_int_eq(tids_noise_handshake_done(&p.ini), 0);
	ck_assert_ptr_null(tids_noise_remote_static(&p.ini));
	ck_assert_ptr_null(tids_noise_handshake_hash(&p.ini));
	ck_assert_int_eq(tids_noise_split(&p.ini, &p.isend, &p.irecv), TIDS_EPROTO);
}
END_TEST

START_TEST(test_replay)
{
	struct pair p;
	struct tids_noise_handshake fresh;
	uint8_t m1[BUF], m3[BUF];
	size_t l1, l3, len, plen;

	xx_pair(&p);
	l1 = step_write(&p.ini, "");
	memcpy(m1, msg, l1);
	step_read(&p.res, m1, l1, "");
	/* Message 1 again: the responder is waiting to write, not to read. */
	ck_assert_int_eq(tids_noise_read_message(&p.res, m1, l1, pt, sizeof pt, &plen),
			 TIDS_EPROTO);
	step_read(&p.ini, msg, step_write(&p.res, ""), "");
	l3 = step_write(&p.ini, "id");
	memcpy(m3, msg, l3);
	step_read(&p.res, m3, l3, "id");
	ck_assert_int_eq(tids_noise_read_message(&p.res, m3, l3, pt, sizeof pt, &plen),
			 TIDS_EPROTO);

	/* A recorded session replayed to a new responder: its fresh ephemeral
	 * makes message 3 fail. */
	ck_assert_int_eq(tids_noise_handshake_init(&fresh, TIDS_NOISE_PROTOCOL, 0,
		(const uint8_t *)"tids", 4, p.rs.priv, NULL, NULL), 0);
	step_read(&fresh, m1, l1, "");
	(void)step_write(&fresh, "");
	ck_assert_int_eq(tids_noise_read_message(&fresh, m3, l3, pt, sizeof pt, &plen),
			 TIDS_EAUTH);
	ck_assert_ptr_null(tids_noise_remote_static(&fresh));

	/* Transport: a replayed message fails, the next fresh one passes. */
	split_pair(&p);
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, (const uint8_t *)"x", 1,
					    m1, sizeof m1, &len), 0);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, m1, len, pt,
					    sizeof pt, &plen), 0);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, m1, len, pt,
					    sizeof pt, &plen), TIDS_EAUTH);
	transport(&p.isend, &p.rrecv, "next");
}
END_TEST

START_TEST(test_transport_failure_keeps_nonce)
{
	struct pair p;
	size_t len, plen;

	xx_pair(&p);
	handshake(&p.ini, &p.res);
	split_pair(&p);
	ck_assert_int_eq(tids_noise_encrypt(&p.rsend, NULL, 0, (const uint8_t *)"abc",
					    3, msg, sizeof msg, &len), 0);
	msg[0] ^= 1;
	ck_assert_int_eq(tids_noise_decrypt(&p.irecv, NULL, 0, msg, len, pt,
					    sizeof pt, &plen), TIDS_EAUTH);
	msg[0] ^= 1;
	ck_assert_int_eq(tids_noise_decrypt(&p.irecv, (const uint8_t *)"x", 1, msg,
					    len, pt, sizeof pt, &plen), TIDS_EAUTH);
	ck_assert_uint_eq(p.irecv.n, 0);
	ck_assert_int_eq(tids_noise_decrypt(&p.irecv, NULL, 0, msg, len, pt,
					    sizeof pt, &plen), 0);
	ck_assert_uint_eq(plen, 3);
	ck_assert_uint_eq(p.irecv.n, 1);
	/* In place. */
	ck_assert_int_eq(tids_noise_encrypt(&p.rsend, NULL, 0, (const uint8_t *)"abc",
					    3, msg, sizeof msg, &len), 0);
	ck_assert_int_eq(tids_noise_decrypt(&p.irecv, NULL, 0, msg, len, msg,
					    sizeof msg, &plen), 0);
	ck_assert_mem_eq(msg, "abc", 3);
}
END_TEST

START_TEST(test_truncated)
{
	struct pair p;
	struct tids_noise_handshake copy;
	uint8_t m2[BUF], m3[BUF];
	size_t l2, l3, i, plen;
	int ret;

	xx_pair(&p);
	for (i = 0; i < TIDS_NOISE_DH_BYTES; i++) {
		copy = p.res;
		ck_assert_int_eq(tids_noise_read_message(&copy, msg, i, pt, sizeof pt,
							 &plen), TIDS_ETRUNC);
	}
	step_read(&p.res, msg, step_write(&p.ini, ""), "");
	l2 = step_write(&p.res, "payload");
	memcpy(m2, msg, l2);
	for (i = 0; i < l2; i++) {
		copy = p.ini;
		ret = tids_noise_read_message(&copy, m2, i, pt, sizeof pt, &plen);
		/* e, encrypted s, payload tag: 32 + 48 + 16. */
		ck_assert_int_eq(ret, i < 96 ? TIDS_ETRUNC : TIDS_EAUTH);
		ck_assert_ptr_null(tids_noise_remote_static(&copy));
	}
	step_read(&p.ini, m2, l2, "payload");
	l3 = step_write(&p.ini, "");
	memcpy(m3, msg, l3);
	for (i = 0; i < l3; i++) {
		copy = p.res;
		ret = tids_noise_read_message(&copy, m3, i, pt, sizeof pt, &plen);
		ck_assert_int_eq(ret, TIDS_ETRUNC);
	}
	/* One byte too many is not a valid message either. */
	m3[l3] = 0;
	copy = p.res;
	ck_assert_int_eq(tids_noise_read_message(&copy, m3, l3 + 1, pt, sizeof pt,
						 &plen), TIDS_EAUTH);
	step_read(&p.res, m3, l3, "");
}
END_TEST

START_TEST(test_too_big)
{
	static uint8_t big[TIDS_NOISE_MAX_MESSAGE_BYTES + 1];
	struct pair p;
	struct tids_noise_handshake copy;
	size_t len, plen;

	xx_pair(&p);
	/* From the peer: refused, and the handshake is over. */
	copy = p.res;
	ck_assert_int_eq(tids_noise_read_message(&copy, big, sizeof big, pt,
						 sizeof pt, &plen), TIDS_ETOOBIG);
	ck_assert(sodium_is_zero((const uint8_t *)&copy, sizeof copy));
	/* Exactly the maximum is fine (msg 1 of XX: e and clear payload). */
	copy = p.res;
	ck_assert_int_eq(tids_noise_read_message(&copy, big, sizeof big - 1, pt,
						 sizeof pt, &plen), 0);
	ck_assert_uint_eq(plen, TIDS_NOISE_MAX_MESSAGE_BYTES - 32);
	/* A payload cap too small is the caller's: the state stays. */
	copy = p.res;
	ck_assert_int_eq(tids_noise_read_message(&copy, big, 40, pt, 7, &plen),
			 TIDS_ETOOBIG);
	ck_assert_int_eq(tids_noise_read_message(&copy, big, 40, pt, 8, &plen), 0);

	/* Our own: refused before anything changes. */
	ck_assert_int_eq(tids_noise_write_message(&p.ini, big,
		TIDS_NOISE_MAX_MESSAGE_BYTES - 31, msg, sizeof msg, &len), TIDS_ETOOBIG);
	ck_assert_int_eq(tids_noise_write_message(&p.ini, big, 10, msg, 41, &len),
			 TIDS_ETOOBIG);
	ck_assert_int_eq(tids_noise_handshake_want_write(&p.ini), 1);
	ck_assert_int_eq(tids_noise_write_message(&p.ini, big,
		TIDS_NOISE_MAX_MESSAGE_BYTES - 32, msg, sizeof msg, &len), 0);
	ck_assert_uint_eq(len, TIDS_NOISE_MAX_MESSAGE_BYTES);
	ck_assert_int_eq(tids_noise_read_message(&p.res, msg, len, pt, sizeof pt,
						 &plen), 0);
	ck_assert_uint_eq(plen, TIDS_NOISE_MAX_MESSAGE_BYTES - 32);

	xx_pair(&p);
	handshake(&p.ini, &p.res);
	split_pair(&p);
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, big,
		TIDS_NOISE_MAX_PAYLOAD_BYTES + 1, msg, sizeof msg, &len), TIDS_ETOOBIG);
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, big, 10, msg, 25,
					    &len), TIDS_ETOOBIG);
	ck_assert_uint_eq(p.isend.n, 0);
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, big,
		TIDS_NOISE_MAX_PAYLOAD_BYTES, msg, sizeof msg, &len), 0);
	ck_assert_uint_eq(len, TIDS_NOISE_MAX_MESSAGE_BYTES);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, big, sizeof big, pt,
					    sizeof pt, &plen), TIDS_ETOOBIG);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, msg, 15, pt,
					    sizeof pt, &plen), TIDS_ETRUNC);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, msg, len, pt,
					    len - 17, &plen), TIDS_ETOOBIG);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, msg, len, pt,
					    sizeof pt, &plen), 0);
	ck_assert_uint_eq(plen, TIDS_NOISE_MAX_PAYLOAD_BYTES);
}
END_TEST

START_TEST(test_garbage_first_message)
{
	struct pair p;
	struct tids_noise_handshake copy;
	uint8_t zero[32] = { 0 };
	size_t len, plen;

	xx_pair(&p);
	/* Shorter than an ephemeral key. */
	copy = p.res;
	ck_assert_int_eq(tids_noise_read_message(&copy, (const uint8_t *)"garbage", 7,
						 pt, sizeof pt, &plen), TIDS_ETRUNC);
	ck_assert_int_eq(tids_noise_handshake_want_write(&copy), 0);
	ck_assert_int_eq(tids_noise_read_message(&copy, zero, 32, pt, sizeof pt,
						 &plen), TIDS_EPROTO);
	/* A low-order ephemeral: the DH is all zeros and the reply refused. */
	copy = p.res;
	ck_assert_int_eq(tids_noise_read_message(&copy, zero, 32, pt, sizeof pt,
						 &plen), 0);
	ck_assert_int_eq(tids_noise_write_message(&copy, NULL, 0, msg, sizeof msg,
						  &len), TIDS_EAUTH);
	ck_assert(sodium_is_zero((const uint8_t *)&copy, sizeof copy));
	/* Noise message 1 of XX is a bare key, so random bytes pass it; the
	 * initiator that sent them cannot answer message 2. */
	copy = p.res;
	randombytes_buf(msg, 64);
	ck_assert_int_eq(tids_noise_read_message(&copy, msg, 64, pt, sizeof pt,
						 &plen), 0);
	ck_assert_uint_eq(plen, 32);
}
END_TEST

START_TEST(test_out_of_order)
{
	struct pair p;
	struct tids_noise_handshake zero;
	struct tids_noise_cipher none;
	uint8_t e[32] = { 7 };
	size_t len, plen;

	xx_pair(&p);
	ck_assert_int_eq(tids_noise_read_message(&p.ini, msg, 32, pt, sizeof pt,
						 &plen), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_write_message(&p.res, NULL, 0, msg, sizeof msg,
						  &len), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_split(&p.ini, &p.isend, &p.irecv), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_split(&p.ini, &p.isend, &p.isend), TIDS_EINVAL);
	ck_assert_ptr_null(tids_noise_handshake_hash(&p.ini));
	/* Misuse by the caller does not end the handshake. */
	step_read(&p.res, msg, step_write(&p.ini, "a"), "a");
	ck_assert_int_eq(tids_noise_handshake_set_ephemeral(&p.ini, e), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_handshake_set_ephemeral(&p.res, e), TIDS_EPROTO);
	step_read(&p.ini, msg, step_write(&p.res, "b"), "b");
	step_read(&p.res, msg, step_write(&p.ini, "c"), "c");
	ck_assert_int_eq(tids_noise_write_message(&p.ini, NULL, 0, msg, sizeof msg,
						  &len), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_read_message(&p.res, msg, len, pt, sizeof pt,
						 &plen), TIDS_EPROTO);

	/* A zeroed (never initialised) state and bad arguments. */
	memset(&zero, 0, sizeof zero);
	ck_assert_int_eq(tids_noise_write_message(&zero, NULL, 0, msg, sizeof msg,
						  &len), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_read_message(&zero, msg, 32, pt, sizeof pt,
						 &plen), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_handshake_set_ephemeral(&zero, e), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_write_message(NULL, NULL, 0, msg, sizeof msg,
						  &len), TIDS_EINVAL);
	ck_assert_int_eq(tids_noise_write_message(&p.ini, NULL, 3, msg, sizeof msg,
						  &len), TIDS_EINVAL);
	memset(&none, 0, sizeof none);
	ck_assert_int_eq(tids_noise_encrypt(&none, NULL, 0, NULL, 0, msg,
					    sizeof msg, &len), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_decrypt(&none, NULL, 0, msg, 16, pt,
					    sizeof pt, &plen), TIDS_EPROTO);
	tids_noise_handshake_wipe(NULL);
	tids_noise_cipher_wipe(NULL);
}
END_TEST

START_TEST(test_protocol_names)
{
	static const struct {
		const char *name;
		int ret;
		const char *why;
	} cases[] = {
		{ "Noise_XX_25519_ChaChaPoly_BLAKE2b", 0, "" },
		{ "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b", 0, "" },
		{ "Noise_XX_448_ChaChaPoly_BLAKE2b", TIDS_EUNKNOWN, "DH function '448'" },
		{ "Noise_XX_25519_AESGCM_BLAKE2b", TIDS_EUNKNOWN, "cipher 'AESGCM'" },
		{ "Noise_XX_25519_ChaChaPoly_SHA256", TIDS_EUNKNOWN, "hash 'SHA256'" },
		{ "Noise_XX_25519_ChaChaPoly_BLAKE2s", TIDS_EUNKNOWN, "hash 'BLAKE2s'" },
		{ "Noise_ZZ_25519_ChaChaPoly_BLAKE2b", TIDS_EUNKNOWN, "pattern 'ZZ'" },
		{ "Noise_N_25519_ChaChaPoly_BLAKE2b", TIDS_EUNKNOWN, "pattern 'N'" },
		{ "Noise_XXfallback_25519_ChaChaPoly_BLAKE2b", TIDS_EUNKNOWN, "modifier 'fallback'" },
		{ "Noise_XXpsk0+psk3_25519_ChaChaPoly_BLAKE2b", TIDS_EUNKNOWN, "modifier" },
		{ "Noise_NNpsk3_25519_ChaChaPoly_BLAKE2b", TIDS_EINVAL, "beyond" },
		{ "Noise_XX_25519_ChaChaPoly", TIDS_EINVAL, "not of the form" },
		{ "Noise_XX_25519_ChaChaPoly_BLAKE2b_", TIDS_EINVAL, "not of the form" },
		{ "Noise_XX_25519_ChaChaPoly_BLAKE2b_x", TIDS_EINVAL, "not of the form" },
		{ "Nosie_XX_25519_ChaChaPoly_BLAKE2b", TIDS_EINVAL, "not of the form" },
		{ "", TIDS_EINVAL, "not of the form" },
	};
	struct tids_noise_handshake hs;
	char err[256], longname[400];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		ck_assert_int_eq(tids_noise_protocol_check(cases[i].name, err,
							   sizeof err), cases[i].ret);
		ck_assert_msg(strstr(err, cases[i].why) != NULL,
			      "%s: error '%s' lacks '%s'", cases[i].name, err,
			      cases[i].why);
		if (cases[i].ret != 0)
			ck_assert_int_eq(tids_noise_handshake_init(&hs, cases[i].name,
				1, NULL, 0, NULL, NULL, NULL), cases[i].ret);
	}
	memset(longname, 'X', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	ck_assert_int_eq(tids_noise_protocol_check(longname, err, sizeof err),
			 TIDS_EINVAL);
	ck_assert_int_eq(tids_noise_protocol_check(NULL, NULL, 0), TIDS_EINVAL);
}
END_TEST

START_TEST(test_init_keys)
{
	struct tids_noise_handshake hs;
	struct keypair k;
	uint8_t psk[32] = { 0 };

	new_keypair(&k);
	/* XX needs our static, takes no pinned key and no psk. */
	ck_assert_int_eq(tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 1,
		NULL, 0, NULL, NULL, NULL), TIDS_EINVAL);
	ck_assert(sodium_is_zero((const uint8_t *)&hs, sizeof hs));
	ck_assert_int_eq(tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 0,
		NULL, 0, k.priv, k.pub, NULL), TIDS_EINVAL);
	ck_assert_int_eq(tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 0,
		NULL, 0, k.priv, NULL, psk), TIDS_EINVAL);
	ck_assert_int_eq(tids_noise_handshake_init(&hs,
		"Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b", 0, NULL, 0, k.priv, NULL,
		NULL), TIDS_EINVAL);
	ck_assert_int_eq(tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 0,
		NULL, 3, k.priv, NULL, NULL), TIDS_EINVAL);
	/* IK: the initiator must pin the responder; the responder must not. */
	ck_assert_int_eq(tids_noise_handshake_init(&hs,
		"Noise_IK_25519_ChaChaPoly_BLAKE2b", 1, NULL, 0, k.priv, NULL,
		NULL), TIDS_EINVAL);
	ck_assert_int_eq(tids_noise_handshake_init(&hs,
		"Noise_IK_25519_ChaChaPoly_BLAKE2b", 0, NULL, 0, k.priv, k.pub,
		NULL), TIDS_EINVAL);
	/* NN uses no static key: one given is ignored, not kept. */
	ck_assert_int_eq(tids_noise_handshake_init(&hs,
		"Noise_NN_25519_ChaChaPoly_BLAKE2b", 1, NULL, 0, k.priv, NULL,
		NULL), 0);
	ck_assert(sodium_is_zero(hs.s, sizeof hs.s));
	tids_noise_handshake_wipe(&hs);
	ck_assert(sodium_is_zero((const uint8_t *)&hs, sizeof hs));
}
END_TEST

START_TEST(test_nonce_exhaustion)
{
	struct pair p;
	size_t len, plen;

	xx_pair(&p);
	handshake(&p.ini, &p.res);
	split_pair(&p);
	/* 2^64-1 is reserved (5.1): the last usable nonce is 2^64-2. */
	p.isend.n = UINT64_MAX - 1;
	p.rrecv.n = UINT64_MAX - 1;
	transport(&p.isend, &p.rrecv, "last");
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, (const uint8_t *)"x",
					    1, msg, sizeof msg, &len), TIDS_EPROTO);
	ck_assert_uint_eq(len, 0);
	memset(msg, 0, 17);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, msg, 17, pt,
					    sizeof pt, &plen), TIDS_EPROTO);
}
END_TEST

START_TEST(test_rekey)
{
	struct pair p;
	uint8_t nonce[12], zeros[32] = { 0 }, out[48], old[32];
	size_t len, plen;

	xx_pair(&p);
	handshake(&p.ini, &p.res);
	split_pair(&p);
	transport(&p.isend, &p.rrecv, "before");
	memcpy(old, p.isend.k, sizeof old);
	ck_assert_int_eq(tids_noise_rekey(&p.isend), 0);
	/* 11.3 default REKEY: ENCRYPT(k, 2^64-1, "", zeros)[0:32]. */
	memset(nonce, 0xff, sizeof nonce);
	memset(nonce, 0, 4);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, zeros, 32, NULL, 0,
						  NULL, nonce, old);
	ck_assert_mem_eq(p.isend.k, out, 32);
	ck_assert_uint_eq(p.isend.n, 1);
	/* The receiver that has not rekeyed cannot read it... */
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, (const uint8_t *)"y",
					    1, msg, sizeof msg, &len), 0);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, msg, len, pt,
					    sizeof pt, &plen), TIDS_EAUTH);
	/* ...and after rekeying it can. */
	ck_assert_int_eq(tids_noise_rekey(&p.rrecv), 0);
	ck_assert_int_eq(tids_noise_decrypt(&p.rrecv, NULL, 0, msg, len, pt,
					    sizeof pt, &plen), 0);
	transport(&p.isend, &p.rrecv, "after");
	tids_noise_cipher_wipe(&p.isend);
	ck_assert(sodium_is_zero((const uint8_t *)&p.isend, sizeof p.isend));
	ck_assert_int_eq(tids_noise_rekey(&p.isend), TIDS_EPROTO);
	ck_assert_int_eq(tids_noise_encrypt(&p.isend, NULL, 0, NULL, 0, msg,
					    sizeof msg, &len), TIDS_EPROTO);
}
END_TEST

static Suite *noise_suite(void)
{
	Suite *s = suite_create("noise");
	TCase *tc = tcase_create("noise");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_xx_random_keys);
	tcase_add_test(tc, test_all_patterns);
	tcase_add_test(tc, test_wrong_psk_and_pinned_key);
	tcase_add_test(tc, test_flipped_byte);
	tcase_add_test(tc, test_replay);
	tcase_add_test(tc, test_transport_failure_keeps_nonce);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_too_big);
	tcase_add_test(tc, test_garbage_first_message);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_protocol_names);
	tcase_add_test(tc, test_init_keys);
	tcase_add_test(tc, test_nonce_exhaustion);
	tcase_add_test(tc, test_rekey);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(noise_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
