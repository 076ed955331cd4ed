/*
 * Noise HandshakeState (spec revision 34, section 5.3): a generic engine
 * that runs any interactive pattern from its tokens, with pre-messages and
 * the psk modifier (section 9), for Noise_*_25519_ChaChaPoly_BLAKE2b.
 */
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/noise.h"
#include "noise_symmetric.h"

enum token { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };

enum state { ST_NONE = 0, ST_ACTIVE, ST_DONE, ST_SPLIT };

#define PATTERN_TOKENS 6

/*
 * The interactive fundamental patterns of section 7.4 (one-way patterns
 * are left out: a tids session always talks both ways). pre_i and pre_r say
 * whether the initiator's / responder's static key is a pre-message.
 */
static const struct pattern {
	const char *name;
	uint8_t pre_i, pre_r, n_messages;
	uint8_t msgs[TIDS_NOISE_MAX_MESSAGES][PATTERN_TOKENS];
} patterns[] = {
	{ "NN", 0, 0, 2, { { T_E }, { T_E, T_EE } } },
	{ "NK", 0, 1, 2, { { T_E, T_ES }, { T_E, T_EE } } },
	{ "NX", 0, 0, 2, { { T_E }, { T_E, T_EE, T_S, T_ES } } },
	{ "XN", 0, 0, 3, { { T_E }, { T_E, T_EE }, { T_S, T_SE } } },
	{ "XK", 0, 1, 3, { { T_E, T_ES }, { T_E, T_EE }, { T_S, T_SE } } },
	{ "XX", 0, 0, 3, { { T_E }, { T_E, T_EE, T_S, T_ES }, { T_S, T_SE } } },
	{ "KN", 1, 0, 2, { { T_E }, { T_E, T_EE, T_SE } } },
	{ "KK", 1, 1, 2, { { T_E, T_ES, T_SS }, { T_E, T_EE, T_SE } } },
	{ "KX", 1, 0, 2, { { T_E }, { T_E, T_EE, T_SE, T_S, T_ES } } },
	{ "IN", 0, 0, 2, { { T_E, T_S }, { T_E, T_EE, T_SE } } },
	{ "IK", 0, 1, 2, { { T_E, T_ES, T_S, T_SS }, { T_E, T_EE, T_SE } } },
	{ "IX", 0, 0, 2, { { T_E, T_S }, { T_E, T_EE, T_SE, T_S, T_ES } } },
};

struct protocol {
	const struct pattern *pattern;
	int psk_at;                     /* N of the pskN modifier, or -1 */
};

static int component_is(const char *s, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(s, want, len) == 0;
}

/* Pattern name with its optional modifier, e.g. "XX" or "XXpsk3". */
static int parse_pattern(const char *s, size_t len, struct protocol *p,
			 char *err, size_t errlen)
{
	size_t base = 0, i;
	const char *mod;
	size_t mod_len;

	while (base < len && s[base] >= 'A' && s[base] <= 'Z')
		base++;
	p->pattern = NULL;
	for (i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
		if (component_is(s, base, patterns[i].name))
			p->pattern = &patterns[i];
	if (p->pattern == NULL)
		return tids_fail(err, errlen, TIDS_EUNKNOWN,
				 "unknown handshake pattern '%.*s' (supported: "
				 "NN NK NX XN XK XX KN KK KX IN IK IX)",
				 (int)base, s);
	mod = s + base;
	mod_len = len - base;
	p->psk_at = -1;
	if (mod_len == 0)
		return 0;
	/* Section 9: psk0 to pskN; several, fallback or hfs are not spoken. */
	if (mod_len != 4 || memcmp(mod, "psk", 3) != 0 ||
	    mod[3] < '0' || mod[3] > '9')
		return tids_fail(err, errlen, TIDS_EUNKNOWN,
				 "unsupported pattern modifier '%.*s' (only one "
				 "pskN is supported)", (int)mod_len, mod);
	p->psk_at = mod[3] - '0';
	if (p->psk_at > p->pattern->n_messages)
		return tids_fail(err, errlen, TIDS_EINVAL,
				 "modifier '%.*s' names a message beyond the %u "
				 "of pattern %s", (int)mod_len, mod,
				 (unsigned)p->pattern->n_messages,
				 p->pattern->name);
	return 0;
}

/* Noise_PATTERN_DH_CIPHER_HASH (section 8). */
static int parse_protocol(const char *name, struct protocol *p,
			  char *err, size_t errlen)
{
	const char *part[5];
	size_t part_len[5], len, n = 0, i, start = 0;

	if (name == NULL)
		return tids_fail(err, errlen, TIDS_EINVAL, "no protocol name");
	len = strnlen(name, TIDS_NOISE_MAX_PROTOCOL_NAME + 1);
	if (len > TIDS_NOISE_MAX_PROTOCOL_NAME)
		return tids_fail(err, errlen, TIDS_EINVAL,
				 "protocol name longer than %d bytes",
				 TIDS_NOISE_MAX_PROTOCOL_NAME);
	for (i = 0; i <= len; i++) {
		if (i < len && name[i] != '_')
			continue;
		if (n == 5)
			break;
		part[n] = name + start;
		part_len[n] = i - start;
		n++;
		start = i + 1;
	}
	if (n != 5 || i <= len || !component_is(part[0], part_len[0], "Noise"))
		return tids_fail(err, errlen, TIDS_EINVAL,
				 "protocol name '%s' is not of the form "
				 "Noise_PATTERN_DH_CIPHER_HASH", name);
	if (!component_is(part[2], part_len[2], "25519"))
		return tids_fail(err, errlen, TIDS_EUNKNOWN,
				 "unsupported DH function '%.*s' in '%s' "
				 "(only 25519)", (int)part_len[2], part[2], name);
	if (!component_is(part[3], part_len[3], "ChaChaPoly"))
		return tids_fail(err, errlen, TIDS_EUNKNOWN,
				 "unsupported cipher '%.*s' in '%s' "
				 "(only ChaChaPoly)", (int)part_len[3], part[3],
				 name);
	if (!component_is(part[4], part_len[4], "BLAKE2b"))
		return tids_fail(err, errlen, TIDS_EUNKNOWN,
				 "unsupported hash '%.*s' in '%s' (only BLAKE2b)",
				 (int)part_len[4], part[4], name);
	return parse_pattern(part[1], part_len[1], p, err, errlen);
}

int tids_noise_protocol_check(const char *name, char *err, size_t errlen)
{
	struct protocol p = { 0 };

	return parse_protocol(name, &p, err, errlen);
}

/* Copies the pattern's tokens and places the psk token (section 9.2). */
static void compile(struct tids_noise_handshake *hs, const struct protocol *p)
{
	uint8_t *m;
	size_t i;

	hs->n_messages = p->pattern->n_messages;
	for (i = 0; i < hs->n_messages; i++)
		memcpy(hs->tokens[i], p->pattern->msgs[i], PATTERN_TOKENS);
	if (p->psk_at == 0) {
		m = hs->tokens[0];
		memmove(m + 1, m, PATTERN_TOKENS);
		m[0] = T_PSK;
	} else if (p->psk_at > 0) {
		m = hs->tokens[p->psk_at - 1];
		m[strnlen((const char *)m, PATTERN_TOKENS)] = T_PSK;
	}
	hs->psk_mode = p->psk_at >= 0;
}

/* Whether message i is sent by the initiator: the patterns alternate. */
static int initiator_sends(size_t i)
{
	return i % 2 == 0;
}

/* Whether our static key is used: sent, a pre-message, or in a DH. */
static int needs_static(const struct tids_noise_handshake *hs,
			const struct pattern *pat)
{
	size_t i, j;
	uint8_t t;

	if (hs->initiator ? pat->pre_i : pat->pre_r)
		return 1;
	for (i = 0; i < hs->n_messages; i++)
		for (j = 0; j < TIDS_NOISE_MAX_TOKENS; j++) {
			t = hs->tokens[i][j];
			if (t == T_SS ||
			    (t == T_S && initiator_sends(i) == !!hs->initiator) ||
			    (t == T_SE && hs->initiator) ||
			    (t == T_ES && !hs->initiator))
				return 1;
		}
	return 0;
}

int tids_noise_handshake_init(struct tids_noise_handshake *hs,
			      const char *protocol_name, int initiator,
			      const uint8_t *prologue, size_t prologue_len,
			      const uint8_t *s_priv, const uint8_t *rs,
			      const uint8_t *psk)
{
	struct protocol p = { 0 };
	int ret, need_rs;

	if (hs == NULL)
		return TIDS_EINVAL;
	tids_noise_handshake_wipe(hs);
	if (prologue == NULL && prologue_len > 0)
		return TIDS_EINVAL;
	ret = parse_protocol(protocol_name, &p, NULL, 0);
	if (ret < 0)
		goto out;
	if (p.pattern == NULL) {
		ret = TIDS_EINVAL;
		goto out;
	}
	if (sodium_init() < 0) {
		ret = TIDS_ECRYPTO;
		goto out;
	}
	hs->initiator = initiator != 0;
	compile(hs, &p);

	need_rs = initiator ? p.pattern->pre_r : p.pattern->pre_i;
	if ((rs != NULL) != need_rs || (psk != NULL) != hs->psk_mode) {
		ret = TIDS_EINVAL;
		goto out;
	}
	if (needs_static(hs, p.pattern)) {
		if (s_priv == NULL) {
			ret = TIDS_EINVAL;
			goto out;
		}
		memcpy(hs->s, s_priv, sizeof hs->s);
		if (crypto_scalarmult_base(hs->s_pub, hs->s) != 0) {
			ret = TIDS_EINVAL;
			goto out;
		}
		hs->has_s = 1;
	}
	if (rs != NULL) {
		memcpy(hs->rs, rs, sizeof hs->rs);
		hs->has_rs = 1;
	}
	if (psk != NULL) {
		memcpy(hs->psk, psk, sizeof hs->psk);
		hs->has_psk = 1;
	}

	tids_noise_sym_init(&hs->ss, protocol_name, strlen(protocol_name));
	tids_noise_sym_mix_hash(&hs->ss, prologue, prologue_len);
	/* Pre-messages (5.3): the initiator's keys are hashed first. */
	if (p.pattern->pre_i)
		tids_noise_sym_mix_hash(&hs->ss, initiator ? hs->s_pub : hs->rs,
					TIDS_NOISE_DH_BYTES);
	if (p.pattern->pre_r)
		tids_noise_sym_mix_hash(&hs->ss, initiator ? hs->rs : hs->s_pub,
					TIDS_NOISE_DH_BYTES);
	hs->state = ST_ACTIVE;
	ret = 0;
out:
	if (ret < 0)
		tids_noise_handshake_wipe(hs);
	return ret;
}

int tids_noise_handshake_set_ephemeral(struct tids_noise_handshake *hs,
				       const uint8_t e_priv[TIDS_NOISE_DH_BYTES])
{
	if (hs == NULL || e_priv == NULL)
		return TIDS_EINVAL;
	if (hs->state != ST_ACTIVE || hs->next != 0)
		return TIDS_EPROTO;
	memcpy(hs->e, e_priv, sizeof hs->e);
	if (crypto_scalarmult_base(hs->e_pub, hs->e) != 0) {
		sodium_memzero(hs->e, sizeof hs->e);
		return TIDS_EINVAL;
	}
	hs->has_e = 1;
	return 0;
}

int tids_noise_handshake_want_write(const struct tids_noise_handshake *hs)
{
	return hs != NULL && hs->state == ST_ACTIVE &&
	       initiator_sends(hs->next) == !!hs->initiator;
}

int tids_noise_handshake_done(const struct tids_noise_handshake *hs)
{
	return hs != NULL && (hs->state == ST_DONE || hs->state == ST_SPLIT);
}

const uint8_t *tids_noise_remote_static(const struct tids_noise_handshake *hs)
{
	if (hs == NULL || hs->state == ST_NONE || !hs->has_rs)
		return NULL;
	return hs->rs;
}

const uint8_t *tids_noise_handshake_hash(const struct tids_noise_handshake *hs)
{
	return tids_noise_handshake_done(hs) ? hs->ss.h : NULL;
}

/* The length of the next message with payload_len bytes of payload. */
static size_t message_len(const struct tids_noise_handshake *hs,
			  size_t payload_len)
{
	const uint8_t *t = hs->tokens[hs->next];
	int has_key = hs->ss.cs.has_key;
	size_t len = 0, i;

	for (i = 0; i < TIDS_NOISE_MAX_TOKENS && t[i] != T_END; i++) {
		if (t[i] == T_E) {
			len += TIDS_NOISE_DH_BYTES;
			has_key |= hs->psk_mode;
		} else if (t[i] == T_S) {
			len += TIDS_NOISE_DH_BYTES;
			if (has_key)
				len += TIDS_NOISE_TAG_BYTES;
		} else {
			has_key = 1;
		}
	}
	return len + payload_len + (has_key ? TIDS_NOISE_TAG_BYTES : 0);
}

/* MixKey(DH(...)) for ee, es, se, ss; the roles decide whose keys (7.1). */
static int mix_dh(struct tids_noise_handshake *hs, uint8_t token)
{
	uint8_t dh[TIDS_NOISE_DH_BYTES];
	const uint8_t *priv, *pub;
	int ok, ret = 0;
	int local_e = token == T_EE ||
		      (token == T_ES && hs->initiator) ||
		      (token == T_SE && !hs->initiator);
	int remote_e = token == T_EE ||
		       (token == T_ES && !hs->initiator) ||
		       (token == T_SE && hs->initiator);

	priv = local_e ? hs->e : hs->s;
	pub = remote_e ? hs->re : hs->rs;
	ok = (local_e ? hs->has_e : hs->has_s) &&
	     (remote_e ? hs->has_re : hs->has_rs);
	if (!ok)
		return TIDS_EPROTO;
	/* libsodium fails on an all-zero result: a low-order peer key. */
	if (crypto_scalarmult(dh, priv, pub) != 0)
		ret = TIDS_EAUTH;
	else
		tids_noise_sym_mix_key(&hs->ss, dh, sizeof dh);
	sodium_memzero(dh, sizeof dh);
	return ret;
}

static int new_ephemeral(struct tids_noise_handshake *hs)
{
	randombytes_buf(hs->e, sizeof hs->e);
	if (crypto_scalarmult_base(hs->e_pub, hs->e) != 0)
		return TIDS_ECRYPTO;
	hs->has_e = 1;
	return 0;
}

static void advance(struct tids_noise_handshake *hs)
{
	hs->next++;
	if (hs->next == hs->n_messages)
		hs->state = ST_DONE;
}

int tids_noise_write_message(struct tids_noise_handshake *hs,
			     const uint8_t *payload, size_t payload_len,
			     uint8_t *out, size_t out_cap, size_t *out_len)
{
	const uint8_t *t;
	size_t pos = 0, len, i;
	int ret = 0;

	if (out_len != NULL)
		*out_len = 0;
	if (hs == NULL || out == NULL || out_len == NULL ||
	    (payload == NULL && payload_len > 0))
		return TIDS_EINVAL;
	if (!tids_noise_handshake_want_write(hs))
		return TIDS_EPROTO;
	if (payload_len > TIDS_NOISE_MAX_MESSAGE_BYTES)
		return TIDS_ETOOBIG;
	len = message_len(hs, payload_len);
	if (len > TIDS_NOISE_MAX_MESSAGE_BYTES || len > out_cap)
		return TIDS_ETOOBIG;

	/* From here on the state changes: a failure wipes it. */
	t = hs->tokens[hs->next];
	for (i = 0; i < TIDS_NOISE_MAX_TOKENS && t[i] != T_END && ret == 0; i++) {
		switch (t[i]) {
		case T_E:
			if (!hs->has_e && (ret = new_ephemeral(hs)) < 0)
				break;
			memcpy(out + pos, hs->e_pub, TIDS_NOISE_DH_BYTES);
			pos += TIDS_NOISE_DH_BYTES;
			tids_noise_sym_mix_hash(&hs->ss, hs->e_pub, TIDS_NOISE_DH_BYTES);
			/* 9.2: with a psk, e also feeds the key. */
			if (hs->psk_mode)
				tids_noise_sym_mix_key(&hs->ss, hs->e_pub,
						       TIDS_NOISE_DH_BYTES);
			break;
		case T_S:
			if (!hs->has_s) {
				ret = TIDS_EPROTO;
				break;
			}
			len = TIDS_NOISE_DH_BYTES +
			      (hs->ss.cs.has_key ? TIDS_NOISE_TAG_BYTES : 0);
			ret = tids_noise_sym_encrypt_and_hash(&hs->ss, hs->s_pub,
							      TIDS_NOISE_DH_BYTES,
							      out + pos);
			pos += len;
			break;
		case T_PSK:
			tids_noise_sym_mix_key_and_hash(&hs->ss, hs->psk,
							sizeof hs->psk);
			break;
		default:
			ret = mix_dh(hs, t[i]);
			break;
		}
	}
	if (ret < 0)
		goto out;
	len = payload_len + (hs->ss.cs.has_key ? TIDS_NOISE_TAG_BYTES : 0);
	ret = tids_noise_sym_encrypt_and_hash(&hs->ss, payload, payload_len,
					      out + pos);
	if (ret < 0)
		goto out;
	pos += len;
	advance(hs);
	*out_len = pos;
out:
	if (ret < 0)
		tids_noise_handshake_wipe(hs);
	return ret;
}

int tids_noise_read_message(struct tids_noise_handshake *hs,
			    const uint8_t *msg, size_t msg_len,
			    uint8_t *payload, size_t payload_cap,
			    size_t *payload_len)
{
	uint8_t rs[TIDS_NOISE_DH_BYTES + TIDS_NOISE_TAG_BYTES];
	uint8_t dummy[1];
	const uint8_t *t;
	size_t pos = 0, overhead, plen, len, i;
	int ret = 0;

	if (payload_len != NULL)
		*payload_len = 0;
	if (hs == NULL || msg == NULL || payload_len == NULL ||
	    (payload == NULL && payload_cap > 0))
		return TIDS_EINVAL;
	if (hs->state != ST_ACTIVE || tids_noise_handshake_want_write(hs))
		return TIDS_EPROTO;
	/* Checked before use, so a short read never reaches a token. */
	if (msg_len > TIDS_NOISE_MAX_MESSAGE_BYTES) {
		ret = TIDS_ETOOBIG;
		goto out;
	}
	overhead = message_len(hs, 0);
	if (msg_len < overhead) {
		ret = TIDS_ETRUNC;
		goto out;
	}
	plen = msg_len - overhead;
	if (plen > payload_cap)
		return TIDS_ETOOBIG;

	t = hs->tokens[hs->next];
	for (i = 0; i < TIDS_NOISE_MAX_TOKENS && t[i] != T_END && ret == 0; i++) {
		switch (t[i]) {
		case T_E:
			memcpy(hs->re, msg + pos, TIDS_NOISE_DH_BYTES);
			hs->has_re = 1;
			pos += TIDS_NOISE_DH_BYTES;
			tids_noise_sym_mix_hash(&hs->ss, hs->re, TIDS_NOISE_DH_BYTES);
			if (hs->psk_mode)
				tids_noise_sym_mix_key(&hs->ss, hs->re,
						       TIDS_NOISE_DH_BYTES);
			break;
		case T_S:
			len = TIDS_NOISE_DH_BYTES +
			      (hs->ss.cs.has_key ? TIDS_NOISE_TAG_BYTES : 0);
			ret = tids_noise_sym_decrypt_and_hash(&hs->ss, msg + pos,
							      len, rs);
			if (ret < 0)
				break;
			memcpy(hs->rs, rs, TIDS_NOISE_DH_BYTES);
			hs->has_rs = 1;
			pos += len;
			break;
		case T_PSK:
			tids_noise_sym_mix_key_and_hash(&hs->ss, hs->psk,
							sizeof hs->psk);
			break;
		default:
			ret = mix_dh(hs, t[i]);
			break;
		}
	}
	if (ret < 0)
		goto out;
	ret = tids_noise_sym_decrypt_and_hash(&hs->ss, msg + pos, msg_len - pos,
					      payload != NULL ? payload : dummy);
	if (ret < 0)
		goto out;
	advance(hs);
	*payload_len = plen;
out:
	sodium_memzero(rs, sizeof rs);
	if (ret < 0)
		tids_noise_handshake_wipe(hs);
	return ret;
}

int tids_noise_split(struct tids_noise_handshake *hs,
		     struct tids_noise_cipher *send,
		     struct tids_noise_cipher *recv)
{
	if (hs == NULL || send == NULL || recv == NULL || send == recv)
		return TIDS_EINVAL;
	if (hs->state != ST_DONE)
		return TIDS_EPROTO;
	if (hs->initiator)
		tids_noise_sym_split(&hs->ss, send, recv);
	else
		tids_noise_sym_split(&hs->ss, recv, send);
	/* 5.3: the handshake's secrets are no longer needed; h and rs are. */
	sodium_memzero(&hs->ss.cs, sizeof hs->ss.cs);
	sodium_memzero(hs->ss.ck, sizeof hs->ss.ck);
	sodium_memzero(hs->s, sizeof hs->s);
	sodium_memzero(hs->e, sizeof hs->e);
	sodium_memzero(hs->psk, sizeof hs->psk);
	hs->has_s = hs->has_e = hs->has_psk = 0;
	hs->state = ST_SPLIT;
	return 0;
}

void tids_noise_handshake_wipe(struct tids_noise_handshake *hs)
{
	if (hs != NULL)
		sodium_memzero(hs, sizeof *hs);
}
