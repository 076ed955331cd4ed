/*
 * Known answers for tids' hashing and signing: the batch Merkle tree against
 * vectors computed independently (tests/vectors/gen_merkle.py), Ed25519
 * against RFC 8032, and the batch signature's exact message layout; key
 * files refuse loose permissions.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "testenv.h"
#include "vectors_json.h"

static char err[256];

static void hex(const char *h, uint8_t *out, size_t len)
{
	ck_assert_int_eq(sodium_hex2bin(out, len, h, strlen(h), NULL, NULL, NULL), 0);
}

START_TEST(merkle_known_answers)
{
	char path[4096];
	struct tids_test_json *doc;
	const struct tids_test_json *cases;
	size_t n_cases, checked = 0;

	snprintf(path, sizeof(path), "%s/tests/vectors/merkle-blake2b.json", tids_test_source_dir());
	doc = tids_test_json_load(path);
	ck_assert_msg(doc != NULL, "cannot load %s", path);
	cases = tids_test_json_get(doc, "cases");
	n_cases = tids_test_json_count(cases);
	ck_assert_uint_ge(n_cases, 10);
	for (size_t c = 0; c < n_cases; c++) {
		const struct tids_test_json *tc = tids_test_json_at(cases, c);
		const struct tids_test_json *leaves = tids_test_json_get(tc, "leaves");
		size_t n = tids_test_json_count(leaves);
		struct tids_bytes *lv = calloc(n, sizeof(*lv));
		uint8_t (*data)[256] = calloc(n, 256);
		uint8_t want[32], got[32], p[TIDS_MERKLE_PATH_MAX][32], leaf[32];
		size_t len;

		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(tids_test_json_hex(tids_test_json_at(leaves, i), data[i], 256, &len), 0);
			lv[i] = (struct tids_bytes){ data[i], len };
		}
		ck_assert_int_eq(tids_test_json_hex(tids_test_json_get(tc, "root"), want, 32, &len), 0);
		ck_assert_int_eq(tids_merkle_root(lv, n, got), 0);
		ck_assert_msg(memcmp(got, want, 32) == 0, "root of %zu leaves differs", n);
		for (size_t i = 0; i < n; i++) {
			const struct tids_test_json *wp = tids_test_json_at(tids_test_json_get(tc, "paths"), i);
			size_t plen;

			ck_assert_int_eq(tids_merkle_path(lv, n, i, p, &plen), 0);
			{
				/* The one-pass tree gives the same path. */
				struct tids_merkle_tree t;
				uint8_t q[TIDS_MERKLE_PATH_MAX][32];
				size_t qlen;

				ck_assert_int_eq(tids_merkle_tree_build(lv, n, &t), 0);
				ck_assert_mem_eq(tids_merkle_tree_root(&t), want, 32);
				tids_merkle_tree_path(&t, i, q, &qlen);
				ck_assert_uint_eq(qlen, plen);
				ck_assert_int_eq(memcmp(q, p, qlen * 32), 0);
				tids_merkle_tree_free(&t);
			}
			ck_assert_uint_eq(plen, tids_test_json_count(wp));
			for (size_t k = 0; k < plen; k++) {
				uint8_t w[32];

				ck_assert_int_eq(tids_test_json_hex(tids_test_json_at(wp, k), w, 32, &len), 0);
				ck_assert_msg(memcmp(w, p[k], 32) == 0, "path %zu/%zu step %zu differs", i, n, k);
			}
			tids_merkle_leaf_hash(lv[i].data, lv[i].len, leaf);
			ck_assert_int_eq(tids_merkle_verify_path(leaf, i, n, (const uint8_t(*)[32])p, plen, got), 0);
			/* The same path does not prove another position or tree size. */
			if (n > 1) {
				ck_assert_int_eq(tids_merkle_verify_path(leaf, (i + 1) % n, n,
									 (const uint8_t(*)[32])p, plen, got), TIDS_EBADSIG);
				if (plen > 0) {
					p[0][0] ^= 1;
					ck_assert_int_eq(tids_merkle_verify_path(leaf, i, n, (const uint8_t(*)[32])p,
										 plen, got), TIDS_EBADSIG);
				}
			}
			checked++;
		}
		free(lv);
		free(data);
	}
	ck_assert_uint_ge(checked, 50);
	tids_test_json_free(doc);
}
END_TEST

START_TEST(merkle_edges)
{
	uint8_t root[32], leaf[32], p[1][32];
	struct tids_bytes one = { (const uint8_t *)"x", 1 };
	size_t plen;

	ck_assert_int_eq(tids_merkle_root(&one, 0, root), TIDS_EINVAL);
	ck_assert_int_eq(tids_merkle_path(&one, 1, 1, p, &plen), TIDS_EINVAL);
	/* A leaf is not a node: H(0x00||x) differs from H(0x01||...). */
	ck_assert_int_eq(tids_merkle_root(&one, 1, root), 0);
	tids_merkle_leaf_hash((const uint8_t *)"x", 1, leaf);
	ck_assert_mem_eq(root, leaf, 32);
	ck_assert_int_eq(tids_merkle_verify_path(leaf, 0, 0, (const uint8_t(*)[32])p, 0, root), TIDS_EBADSIG);
}
END_TEST

/* RFC 8032 section 7.1, tests 1 to 3: with an empty domain tids signs the bare message. */
static const struct {
	const char *seed, *pk, *msg, *sig;
} rfc8032[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

START_TEST(ed25519_rfc8032)
{
	struct tids_identity id;
	uint8_t seed[32], pk[32], msg[2], want[64], sig[64];
	size_t mlen = strlen(rfc8032[_i].msg) / 2;

	hex(rfc8032[_i].seed, seed, 32);
	hex(rfc8032[_i].pk, pk, 32);
	hex(rfc8032[_i].sig, want, 64);
	if (mlen > 0)
		hex(rfc8032[_i].msg, msg, mlen);
	ck_assert_int_eq(tids_identity_from_seed(seed, &id), 0);
	ck_assert_mem_eq(id.sign_pk, pk, 32);
	ck_assert_int_eq(tids_sign_detached(id.sign_sk, "", msg, mlen, sig), 0);
	ck_assert_mem_eq(sig, want, 64);
	ck_assert_int_eq(tids_sign_verify_detached(pk, "", msg, mlen, sig), 0);
	/* The same signature does not verify under a domain. */
	ck_assert_int_eq(tids_sign_verify_detached(pk, TIDS_DOMAIN_GRANT, msg, mlen, sig), TIDS_EBADSIG);
	tids_identity_wipe(&id);
}
END_TEST

START_TEST(batch_signature_layout)
{
	struct tids_identity id;
	uint8_t seed[32], root[32], sig[64];
	/* "tids.v1.batch" "factory.sh1" 0x00 uint64be(258) root, built by hand. */
	uint8_t msg[13 + 11 + 1 + 8 + 32];

	memset(seed, 1, sizeof(seed));
	memset(root, 0xcd, sizeof(root));
	ck_assert_int_eq(tids_identity_from_seed(seed, &id), 0);
	ck_assert_int_eq(tids_sign_batch(id.sign_sk, "factory.sh1", 258, root, sig), 0);
	memcpy(msg, "tids.v1.batch", 13);
	memcpy(msg + 13, "factory.sh1", 11);
	memcpy(msg + 24, "\0\0\0\0\0\0\0\x01\x02", 9);
	memcpy(msg + 33, root, 32);
	ck_assert_int_eq(crypto_sign_verify_detached(sig, msg, sizeof(msg), id.sign_pk), 0);
	ck_assert_int_eq(tids_sign_batch_verify(id.sign_pk, "factory.sh1", 258, root, sig), 0);
	ck_assert_int_eq(tids_sign_batch_verify(id.sign_pk, "factory.sh1", 259, root, sig), TIDS_EBADSIG);
	ck_assert_int_eq(tids_sign_batch_verify(id.sign_pk, "factory.sh2", 258, root, sig), TIDS_EBADSIG);
	tids_identity_wipe(&id);
}
END_TEST

START_TEST(batch_verify)
{
	struct tids_identity id, other;
	struct tids_bytes recs[3] = { { (const uint8_t *)"r0", 2 }, { (const uint8_t *)"r1", 2 },
				      { (const uint8_t *)"r2", 2 } };
	struct tids_batch b;

	ck_assert_int_eq(tids_identity_generate(&id), 0);
	ck_assert_int_eq(tids_identity_generate(&other), 0);
	memset(&b, 0, sizeof(b));
	b.publisher = "factory.sh1";
	b.sequence = 7;
	b.records = recs;
	b.n_records = 3;
	ck_assert_int_eq(tids_merkle_root(recs, 3, b.merkle_root), 0);
	ck_assert_int_eq(tids_sign_batch(id.sign_sk, b.publisher, b.sequence, b.merkle_root, b.signature), 0);
	ck_assert_int_eq(tids_batch_verify(&b, id.sign_pk, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_batch_verify(&b, other.sign_pk, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "signature does not verify"));
	recs[1].data = (const uint8_t *)"rX";
	ck_assert_int_eq(tids_batch_verify(&b, id.sign_pk, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "merkle_root does not match"));
	tids_identity_wipe(&id);
	tids_identity_wipe(&other);
}
END_TEST

START_TEST(identity_x25519_agrees)
{
	struct tids_identity a, b;
	uint8_t dh_pk[32], s1[32], s2[32];

	ck_assert_int_eq(tids_identity_generate(&a), 0);
	ck_assert_int_eq(tids_identity_generate(&b), 0);
	ck_assert_int_eq(tids_identity_dh_public(a.sign_pk, dh_pk), 0);
	ck_assert_mem_eq(dh_pk, a.dh_pk, 32);
	ck_assert_int_eq(crypto_scalarmult(s1, a.dh_sk, b.dh_pk), 0);
	ck_assert_int_eq(crypto_scalarmult(s2, b.dh_sk, a.dh_pk), 0);
	ck_assert_mem_eq(s1, s2, 32);
	tids_identity_wipe(&a);
	ck_assert(sodium_is_zero(a.sign_sk, sizeof(a.sign_sk)));
	tids_identity_wipe(&b);
}
END_TEST

START_TEST(keyfile_modes)
{
	char dir[] = "/tmp/tids-keyfile-XXXXXX", path[128], link_path[128];
	struct tids_identity id, back;
	char b64[TIDS_KEY_BASE64_BYTES];
	uint8_t pk[32];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hub.key", dir);
	ck_assert_int_eq(tids_identity_generate(&id), 0);
	ck_assert_int_eq(tids_keyfile_write_identity(path, &id, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(tids_keyfile_read_identity(path, &back, err, sizeof(err)), 0);
	ck_assert_mem_eq(back.sign_sk, id.sign_sk, 64);
	ck_assert_mem_eq(back.dh_sk, id.dh_sk, 32);
	/* Never overwritten. */
	ck_assert_int_eq(tids_keyfile_write_identity(path, &id, err, sizeof(err)), TIDS_EEXIST);
	/* Readable by the group: refused, and the error says what to do. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(tids_keyfile_read_identity(path, &back, err, sizeof(err)), TIDS_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	ck_assert(sodium_is_zero(back.sign_sk, sizeof(back.sign_sk)) || tids_keyfile_read_identity(path, &back, err, sizeof(err)) == TIDS_EPERM);
	ck_assert_int_eq(chmod(path, 0604), 0);
	ck_assert_int_eq(tids_keyfile_read_identity(path, &back, err, sizeof(err)), TIDS_EPERM);
	ck_assert_int_eq(chmod(path, 0400), 0);
	ck_assert_int_eq(tids_keyfile_read_identity(path, &back, err, sizeof(err)), 0);
	/* Symlinks are refused: they let another file stand in for the key. */
	snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
	ck_assert_int_eq(symlink(path, link_path), 0);
	ck_assert_int_lt(tids_keyfile_read_identity(link_path, &back, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "symlink"));
	unlink(link_path);
	/* Not a key. */
	unlink(path);
	{
		int fd = open(path, O_WRONLY | O_CREAT, 0600);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "not base64!\n", 12), 12);
		close(fd);
	}
	ck_assert_int_eq(tids_keyfile_read_identity(path, &back, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_int_eq(tids_keyfile_read_identity("/nonexistent/x.key", &back, err, sizeof(err)), TIDS_ENOENT);
	unlink(path);
	rmdir(dir);

	tids_key_to_base64(id.sign_pk, b64);
	ck_assert_uint_eq(strlen(b64), 44);
	ck_assert_int_eq(tids_key_from_base64(b64, pk), 0);
	ck_assert_mem_eq(pk, id.sign_pk, 32);
	ck_assert_int_eq(tids_key_from_base64("AAAA", pk), TIDS_EINVAL);
	tids_identity_wipe(&id);
	tids_identity_wipe(&back);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("known answers");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, merkle_known_answers);
	tcase_add_test(tc, merkle_edges);
	tcase_add_loop_test(tc, ed25519_rfc8032, 0, 3);
	tcase_add_test(tc, batch_signature_layout);
	tcase_add_test(tc, batch_verify);
	tcase_add_test(tc, identity_x25519_agrees);
	tcase_add_test(tc, keyfile_modes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
