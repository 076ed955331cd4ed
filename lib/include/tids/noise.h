/*
 * The Noise Protocol Framework (revision 34) for tids' secure channel:
 * handshake and transport of Noise_*_25519_ChaChaPoly_BLAKE2b on libsodium.
 * Sessions use XX; the other interactive patterns exist for tests and peers.
 *
 * Keys. tids static keys are the X25519 forms of the participants' Ed25519
 * identity keys (crypto_sign_ed25519_sk_to_curve25519 for our own,
 * crypto_sign_ed25519_pk_to_curve25519 for a registered peer), so the
 * handshake authenticates against the registry.
 *
 * Memory. Every struct here is plain data without heap pointers, meant to be
 * embedded per connection; its fields are private (use the functions).
 * A zeroed struct is "not initialised" and every call on it fails with
 * TIDS_EPROTO. Wipe handshakes and cipher states when done: the wipe
 * functions zero all key material.
 *
 * Errors. Functions return 0 or a negative TIDS_E* code (tids/error.h):
 *   TIDS_EINVAL   bad argument, malformed protocol name, missing or
 *                 superfluous key for the pattern
 *   TIDS_EUNKNOWN unsupported pattern, modifier, DH, cipher or hash
 *   TIDS_EPROTO   call out of order (not our turn, handshake not done,
 *                 failed or wiped state), nonce exhausted
 *   TIDS_EAUTH    a MAC did not verify, or a peer key gives an all-zero DH
 *   TIDS_ETRUNC   a message is shorter than the pattern requires
 *   TIDS_ETOOBIG  a message would exceed 65535 bytes, or an output buffer
 *                 is too small
 * Any failure while processing a handshake message wipes the handshake and
 * leaves it failed (spec section 5.3: abort the handshake); only
 * TIDS_ETOOBIG for a too small caller buffer or too large payload to write,
 * and TIDS_EINVAL for bad arguments, leave it usable. In transport, a failed
 * decryption leaves the cipher state unchanged (section 5.1); the session
 * should be closed all the same.
 */
#ifndef TIDS_NOISE_H
#define TIDS_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define TIDS_NOISE_DH_BYTES 32           /* X25519 private and public keys */
#define TIDS_NOISE_KEY_BYTES 32          /* ChaChaPoly key */
#define TIDS_NOISE_PSK_BYTES 32
#define TIDS_NOISE_TAG_BYTES 16          /* ChaChaPoly MAC */
#define TIDS_NOISE_HASH_BYTES 64         /* BLAKE2b-512: HASHLEN */
#define TIDS_NOISE_BLOCK_BYTES 128       /* BLAKE2b: BLOCKLEN */
#define TIDS_NOISE_MAX_MESSAGE_BYTES 65535
#define TIDS_NOISE_MAX_PAYLOAD_BYTES \
	(TIDS_NOISE_MAX_MESSAGE_BYTES - TIDS_NOISE_TAG_BYTES)
#define TIDS_NOISE_MAX_PROTOCOL_NAME 255
#define TIDS_NOISE_MAX_MESSAGES 3        /* of any supported pattern */
#define TIDS_NOISE_MAX_TOKENS 8          /* per message, with a psk token */

/* The protocol tids sessions speak. */
#define TIDS_NOISE_PROTOCOL "Noise_XX_25519_ChaChaPoly_BLAKE2b"

#define TIDS_NOISE_WUR __attribute__((warn_unused_result))

/* A CipherState (section 5.1): one direction of a transport. */
struct tids_noise_cipher {
	uint8_t k[TIDS_NOISE_KEY_BYTES];
	uint64_t n;
	uint8_t has_key;
};

/* A SymmetricState (section 5.2). */
struct tids_noise_symmetric {
	struct tids_noise_cipher cs;
	uint8_t ck[TIDS_NOISE_HASH_BYTES];
	uint8_t h[TIDS_NOISE_HASH_BYTES];
};

/* A HandshakeState (section 5.3) with its compiled pattern. */
struct tids_noise_handshake {
	struct tids_noise_symmetric ss;
	uint8_t s[TIDS_NOISE_DH_BYTES], s_pub[TIDS_NOISE_DH_BYTES];
	uint8_t e[TIDS_NOISE_DH_BYTES], e_pub[TIDS_NOISE_DH_BYTES];
	uint8_t rs[TIDS_NOISE_DH_BYTES], re[TIDS_NOISE_DH_BYTES];
	uint8_t psk[TIDS_NOISE_PSK_BYTES];
	uint8_t tokens[TIDS_NOISE_MAX_MESSAGES][TIDS_NOISE_MAX_TOKENS];
	uint8_t n_messages, next;
	uint8_t initiator, has_s, has_e, has_rs, has_re, has_psk, psk_mode;
	uint8_t state;
};

/*
 * Checks that name is a protocol this implementation speaks, e.g.
 * "Noise_XX_25519_ChaChaPoly_BLAKE2b" or "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b".
 * Supported: the twelve interactive fundamental patterns (NN NK NX XN XK XX
 * KN KK KX IN IK IX) with at most one pskN modifier; DH 25519, cipher
 * ChaChaPoly, hash BLAKE2b. On failure writes why into err (errlen may be 0)
 * and returns TIDS_EINVAL or TIDS_EUNKNOWN. For configuration checks: the
 * handshake functions return the same codes without the text.
 */
int tids_noise_protocol_check(const char *name, char *err, size_t errlen)
	TIDS_NOISE_WUR;

/*
 * Starts a handshake (section 5.3 Initialize) as initiator (initiator != 0)
 * or responder. prologue may be NULL when prologue_len is 0.
 * s_priv: our static X25519 private key, required when the pattern uses it
 *   (ignored otherwise).
 * rs: the peer's static public key, required exactly when it is a
 *   pre-message of the pattern (the responder's in NK XK KK IK, the
 *   initiator's in KN KK KX); refused otherwise, so that nobody believes a
 *   key is pinned when the pattern learns it in-band.
 * psk: the pre-shared key, required exactly when the name has a psk modifier.
 * The keys are copied; the caller may wipe its copies.
 */
int tids_noise_handshake_init(struct tids_noise_handshake *hs,
			      const char *protocol_name, int initiator,
			      const uint8_t *prologue, size_t prologue_len,
			      const uint8_t *s_priv, const uint8_t *rs,
			      const uint8_t *psk) TIDS_NOISE_WUR;

/*
 * Uses e_priv as our ephemeral private key instead of a random one. For
 * known-answer tests only: a reused ephemeral breaks the protocol's security.
 * Allowed before the first message.
 */
int tids_noise_handshake_set_ephemeral(struct tids_noise_handshake *hs,
				       const uint8_t e_priv[TIDS_NOISE_DH_BYTES])
	TIDS_NOISE_WUR;

/*
 * Writes the next handshake message carrying payload (may be NULL when
 * payload_len is 0) into out (out_cap bytes); *out_len gets its length.
 * payload and out must not overlap. TIDS_ETOOBIG (state kept) when the
 * message would exceed TIDS_NOISE_MAX_MESSAGE_BYTES or out_cap.
 */
int tids_noise_write_message(struct tids_noise_handshake *hs,
			     const uint8_t *payload, size_t payload_len,
			     uint8_t *out, size_t out_cap, size_t *out_len)
	TIDS_NOISE_WUR;

/*
 * Reads the next handshake message msg (msg_len bytes) and decrypts its
 * payload into payload (payload_cap bytes; *payload_len gets its length).
 * msg and payload must not overlap. On any failure of the message itself the
 * handshake is wiped and failed; TIDS_ETOOBIG with a too small payload_cap
 * keeps it.
 */
int tids_noise_read_message(struct tids_noise_handshake *hs,
			    const uint8_t *msg, size_t msg_len,
			    uint8_t *payload, size_t payload_cap,
			    size_t *payload_len) TIDS_NOISE_WUR;

/* 1 when the next step is tids_noise_write_message, 0 otherwise. */
int tids_noise_handshake_want_write(const struct tids_noise_handshake *hs);

/* 1 when all handshake messages have been processed, 0 otherwise. */
int tids_noise_handshake_done(const struct tids_noise_handshake *hs);

/*
 * The peer's static public key (TIDS_NOISE_DH_BYTES) once known, else NULL:
 * from the start for pre-message keys, otherwise right after the read of the
 * message that carries it (XX: message 2 for the initiator, message 3 for the
 * responder). Look the peer up and refuse it (tids_noise_handshake_wipe)
 * before going on; an XX initiator can do so before revealing its own
 * identity in message 3.
 */
const uint8_t *tids_noise_remote_static(const struct tids_noise_handshake *hs);

/*
 * The handshake hash h (TIDS_NOISE_HASH_BYTES) for channel binding, once the
 * handshake is done (also after the split); NULL before.
 */
const uint8_t *tids_noise_handshake_hash(const struct tids_noise_handshake *hs);

/*
 * After the last message: the transport cipher states (section 5.2 Split),
 * oriented for our role. Wipes the handshake's secrets; the handshake hash and
 * the remote static key stay readable. Once only.
 */
int tids_noise_split(struct tids_noise_handshake *hs,
		     struct tids_noise_cipher *send,
		     struct tids_noise_cipher *recv) TIDS_NOISE_WUR;

/* Zeroes hs entirely (it becomes unusable). NULL is a no-op. */
void tids_noise_handshake_wipe(struct tids_noise_handshake *hs);

/*
 * Transport: encrypts in (in_len bytes) with associated data ad (may be
 * NULL when ad_len is 0) into out: in_len + TIDS_NOISE_TAG_BYTES bytes, at
 * most TIDS_NOISE_MAX_MESSAGE_BYTES. out may equal in (same address) but must
 * not otherwise overlap it.
 */
int tids_noise_encrypt(struct tids_noise_cipher *cs,
		       const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t out_cap, size_t *out_len)
	TIDS_NOISE_WUR;

/*
 * Transport: decrypts and authenticates in into out (in_len -
 * TIDS_NOISE_TAG_BYTES bytes). TIDS_EAUTH if the MAC fails, which leaves cs
 * unchanged. out may equal in but must not otherwise overlap it.
 */
int tids_noise_decrypt(struct tids_noise_cipher *cs,
		       const uint8_t *ad, size_t ad_len,
		       const uint8_t *in, size_t in_len,
		       uint8_t *out, size_t out_cap, size_t *out_len)
	TIDS_NOISE_WUR;

/* Replaces cs's key with REKEY(k) (section 11.3); the nonce is kept. */
int tids_noise_rekey(struct tids_noise_cipher *cs) TIDS_NOISE_WUR;

/* Zeroes cs (it becomes unusable). NULL is a no-op. */
void tids_noise_cipher_wipe(struct tids_noise_cipher *cs);

#endif
