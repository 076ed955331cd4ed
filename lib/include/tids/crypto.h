/*
 * Hashing and signing that tids defines on top of libsodium: the batch
 * Merkle tree (RFC 6962 shape over BLAKE2b-256), domain-separated Ed25519
 * signatures, and participant identities (Ed25519 keys whose X25519 forms
 * are the Noise static keys).
 */
#ifndef TIDS_CRYPTO_H
#define TIDS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/record.h"
#include "tids/wire.h"

#define TIDS_MERKLE_PATH_MAX 64
#define TIDS_SECRET_KEY_BYTES 64       /* Ed25519 secret key (seed || public) */
#define TIDS_SEED_BYTES 32
#define TIDS_DH_KEY_BYTES 32

/* Signature domains: fixed strings, none a prefix of another. */
#define TIDS_DOMAIN_BATCH "tids.v1.batch"
#define TIDS_DOMAIN_GRANT "tids.v1.grant"
#define TIDS_DOMAIN_APPROVAL "tids.v1.approval"
#define TIDS_DOMAIN_CHECKPOINT "tids.v1.checkpoint"
#define TIDS_DOMAIN_STATE "tids.v1.state"
#define TIDS_DOMAIN_DIRECTORY "tids.v1.directory"
#define TIDS_DOMAIN_INGEST_RECEIPT "tids.v1.ingest-receipt"

/* Leaf = BLAKE2b-256(0x00 || data); node = BLAKE2b-256(0x01 || l || r). */
void tids_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[TIDS_HASH_BYTES]);
void tids_merkle_node_hash(const uint8_t left[TIDS_HASH_BYTES], const uint8_t right[TIDS_HASH_BYTES],
			   uint8_t out[TIDS_HASH_BYTES]);

/* Root over n >= 1 leaves. TIDS_EINVAL for n == 0, TIDS_ENOMEM. */
__attribute__((warn_unused_result))
int tids_merkle_root(const struct tids_bytes *leaves, size_t n, uint8_t root[TIDS_HASH_BYTES]);

/* Audit path (RFC 6962 §2.1.1) of leaf index: sibling hashes from the leaf
 * up, at most TIDS_MERKLE_PATH_MAX. */
__attribute__((warn_unused_result))
int tids_merkle_path(const struct tids_bytes *leaves, size_t n, size_t index,
		     uint8_t path[][TIDS_HASH_BYTES], size_t *path_len);

/* The whole tree, for the paths of every leaf of a batch in one pass
 * (tids_merkle_path alone would cost O(n) per leaf). */
struct tids_merkle_tree {
	uint8_t (*nodes)[TIDS_HASH_BYTES];   /* level 0 (leaves) first, then up */
	size_t level_start[TIDS_MERKLE_PATH_MAX + 1];
	size_t level_width[TIDS_MERKLE_PATH_MAX + 1];
	size_t levels;
};

__attribute__((warn_unused_result))
int tids_merkle_tree_build(const struct tids_bytes *leaves, size_t n, struct tids_merkle_tree *t);
const uint8_t *tids_merkle_tree_root(const struct tids_merkle_tree *t);
void tids_merkle_tree_path(const struct tids_merkle_tree *t, size_t index, uint8_t path[][TIDS_HASH_BYTES],
			   size_t *path_len);
void tids_merkle_tree_free(struct tids_merkle_tree *t);

/* RFC 9162 §2.1.3.2: does leaf_hash at index of an n-leaf tree with this
 * path lead to root? 0 if it does, TIDS_EBADSIG if not. */
__attribute__((warn_unused_result))
int tids_merkle_verify_path(const uint8_t leaf_hash[TIDS_HASH_BYTES], size_t index, size_t n,
			    const uint8_t path[][TIDS_HASH_BYTES], size_t path_len,
			    const uint8_t root[TIDS_HASH_BYTES]);

/* Ed25519 over domain || msg. */
__attribute__((warn_unused_result))
int tids_sign_detached(const uint8_t sk[TIDS_SECRET_KEY_BYTES], const char *domain,
		       const uint8_t *msg, size_t len, uint8_t sig[TIDS_SIGNATURE_BYTES]);
__attribute__((warn_unused_result))
int tids_sign_verify_detached(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const char *domain,
			      const uint8_t *msg, size_t len, const uint8_t sig[TIDS_SIGNATURE_BYTES]);

/* A batch signature: Ed25519 over "tids.v1.batch" || publisher || 0x00 ||
 * uint64be(sequence) || root. One verification per batch. */
__attribute__((warn_unused_result))
int tids_sign_batch(const uint8_t sk[TIDS_SECRET_KEY_BYTES], const char *publisher, uint64_t sequence,
		    const uint8_t root[TIDS_HASH_BYTES], uint8_t sig[TIDS_SIGNATURE_BYTES]);
__attribute__((warn_unused_result))
int tids_sign_batch_verify(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const char *publisher, uint64_t sequence,
			   const uint8_t root[TIDS_HASH_BYTES], const uint8_t sig[TIDS_SIGNATURE_BYTES]);

/* Recomputes the batch's root, compares it with the one it carries, and
 * verifies the signature with the publisher's key. TIDS_EBADSIG names which
 * check failed in err. */
__attribute__((warn_unused_result))
int tids_batch_verify(const struct tids_batch *b, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES],
		      char *err, size_t errlen);

/* A hub's directory (federation.proto): signs d in place with the hub's
 * key; verify checks it with the hub's registered key. */
__attribute__((warn_unused_result))
int tids_directory_sign(const uint8_t sk[TIDS_SECRET_KEY_BYTES], struct tids_directory *d);
__attribute__((warn_unused_result))
int tids_directory_verify(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const struct tids_directory *d,
			  char *err, size_t errlen);

/*
 * Provenance of a record that reached its recipient through another hub:
 * the publisher's batch signature verifies with publisher_pk, the leaf's
 * path leads to the signed root, and for a record delivered as published
 * the leaf is that record (its encoding, or the published bytes the
 * delivery carries, which must decode to the same record). For a
 * transformed record the proof covers the record as published only, and
 * *covers_content says so (false). TIDS_ENOENT: the delivery carries no
 * publisher proof (not forwarded, or an aggregate the origin hub made);
 * TIDS_EBADSIG with err naming the failed check.
 */
__attribute__((warn_unused_result))
int tids_provenance_verify(const struct tids_delivery *d, const uint8_t publisher_pk[TIDS_PUBLIC_KEY_BYTES],
			   bool *covers_content, char *err, size_t errlen);

/* A participant's (or hub's) identity. Wipe it with tids_identity_wipe. */
struct tids_identity {
	uint8_t sign_pk[TIDS_PUBLIC_KEY_BYTES];
	uint8_t sign_sk[TIDS_SECRET_KEY_BYTES];
	uint8_t dh_pk[TIDS_DH_KEY_BYTES];      /* X25519 form: the Noise static key */
	uint8_t dh_sk[TIDS_DH_KEY_BYTES];
};

__attribute__((warn_unused_result))
int tids_identity_generate(struct tids_identity *id);
__attribute__((warn_unused_result))
int tids_identity_from_seed(const uint8_t seed[TIDS_SEED_BYTES], struct tids_identity *id);
void tids_identity_wipe(struct tids_identity *id);

/* The X25519 (Noise) form of an Ed25519 public key. */
__attribute__((warn_unused_result))
int tids_identity_dh_public(const uint8_t sign_pk[TIDS_PUBLIC_KEY_BYTES], uint8_t dh_pk[TIDS_DH_KEY_BYTES]);

/*
 * Key files hold one base64 line: a 32-byte secret (for identities, the
 * Ed25519 seed). They are created with mode 0600 (never overwritten) and
 * refused when group or others may read or write them, when they are not
 * regular files, or when they are symlinks.
 */
__attribute__((warn_unused_result))
int tids_keyfile_write_secret(const char *path, const uint8_t secret[32], char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_keyfile_read_secret(const char *path, uint8_t secret[32], char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_keyfile_write_identity(const char *path, const struct tids_identity *id, char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_keyfile_read_identity(const char *path, struct tids_identity *id, char *err, size_t errlen);

/* Public keys as text: 44 characters of standard base64. */
#define TIDS_KEY_BASE64_BYTES 45
void tids_key_to_base64(const uint8_t key[32], char out[TIDS_KEY_BASE64_BYTES]);
__attribute__((warn_unused_result))
int tids_key_from_base64(const char *text, uint8_t key[32]);

#endif
