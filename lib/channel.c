/*
 * Framing on a participant connection: Noise messages with 16-bit lengths
 * outside, a stream of 32-bit-length frames inside. Both tidsd and the
 * client library speak it through these functions.
 */
#include <string.h>

#include <sodium.h>

#include "tids/channel.h"
#include "tids/error.h"

void tids_channel_init_plain(struct tids_channel *ch, size_t frame_max)
{
	memset(ch, 0, sizeof(*ch));
	ch->frame_max = frame_max;
}

void tids_channel_init_noise(struct tids_channel *ch, struct tids_noise_cipher *tx,
			     struct tids_noise_cipher *rx, size_t frame_max)
{
	tids_channel_init_plain(ch, frame_max);
	ch->encrypted = true;
	ch->tx = *tx;
	ch->rx = *rx;
	tids_noise_cipher_wipe(tx);
	tids_noise_cipher_wipe(rx);
}

void tids_channel_wipe(struct tids_channel *ch)
{
	tids_noise_cipher_wipe(&ch->tx);
	tids_noise_cipher_wipe(&ch->rx);
	tids_buf_wipe(&ch->plain);
	tids_buf_free(&ch->plain);
	ch->pending = 0;
}

int tids_channel_pull_message(const struct tids_buf *in, const uint8_t **msg, size_t *len)
{
	const uint8_t *p = tids_buf_head(in);
	size_t n;

	if (in->len < 2)
		return 0;
	n = (size_t)p[0] << 8 | p[1];
	if (in->len < 2 + n)
		return 0;
	*msg = p + 2;
	*len = n;
	return 1;
}

int tids_channel_put_message(struct tids_buf *out, const uint8_t *msg, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	int r;

	if (len > TIDS_NOISE_MAX_MESSAGE_BYTES)
		return TIDS_ETOOBIG;
	if ((r = tids_buf_reserve(out, 2 + len)) < 0)
		return r;
	memcpy(tids_buf_tail(out), hdr, 2);
	memcpy(tids_buf_tail(out) + 2, msg, len);
	tids_buf_commit(out, 2 + len);
	return 0;
}

/* Encrypts plaintext in Noise-message-sized pieces onto out. */
static int seal_stream(struct tids_channel *ch, const uint8_t *p, size_t n, struct tids_buf *out)
{
	while (n > 0) {
		size_t chunk = n < TIDS_NOISE_MAX_PAYLOAD_BYTES ? n : TIDS_NOISE_MAX_PAYLOAD_BYTES;
		size_t clen;
		uint8_t *dst;
		int r;

		if ((r = tids_buf_reserve(out, 2 + chunk + TIDS_NOISE_TAG_BYTES)) < 0)
			return r;
		dst = tids_buf_tail(out);
		r = tids_noise_encrypt(&ch->tx, NULL, 0, p, chunk, dst + 2,
				       chunk + TIDS_NOISE_TAG_BYTES, &clen);
		if (r < 0)
			return r;
		dst[0] = (uint8_t)(clen >> 8);
		dst[1] = (uint8_t)clen;
		tids_buf_commit(out, 2 + clen);
		p += chunk;
		n -= chunk;
	}
	return 0;
}

int tids_channel_seal(struct tids_channel *ch, const uint8_t *frame, size_t len, struct tids_buf *out)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
	uint8_t small[TIDS_NOISE_MAX_PAYLOAD_BYTES];
	int r;

	if (len > ch->frame_max)
		return TIDS_ETOOBIG;
	if (!ch->encrypted) {
		if ((r = tids_buf_append(out, hdr, 4)) < 0)
			return r;
		return tids_buf_append(out, frame, len);
	}
	/* Small frames (most of them) go out as one Noise message. */
	if (len + 4 <= sizeof(small)) {
		memcpy(small, hdr, 4);
		memcpy(small + 4, frame, len);
		r = seal_stream(ch, small, len + 4, out);
		sodium_memzero(small, len + 4);
		return r;
	}
	if ((r = seal_stream(ch, hdr, 4, out)) < 0)
		return r;
	return seal_stream(ch, frame, len, out);
}

/* Is a whole frame already waiting in plain? */
static bool frame_waiting(const struct tids_channel *ch)
{
	const uint8_t *p = tids_buf_head(&ch->plain);
	size_t n;

	if (ch->plain.len - ch->pending < 4)
		return false;
	p += ch->pending;
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	return ch->plain.len - ch->pending >= 4 + n || n > ch->frame_max;
}

int tids_channel_absorb(struct tids_channel *ch, struct tids_buf *in)
{
	const uint8_t *msg;
	size_t len, plen;
	int r;

	if (!ch->encrypted) {
		r = tids_buf_append(&ch->plain, tids_buf_head(in), in->len);
		if (r == 0)
			tids_buf_consume(in, in->len);
		return r;
	}
	while (!frame_waiting(ch) && tids_channel_pull_message(in, &msg, &len) == 1) {
		if (len < TIDS_NOISE_TAG_BYTES)
			return TIDS_EAUTH;
		if ((r = tids_buf_reserve(&ch->plain, len)) < 0)
			return r;
		r = tids_noise_decrypt(&ch->rx, NULL, 0, msg, len, tids_buf_tail(&ch->plain), len, &plen);
		if (r < 0)
			return TIDS_EAUTH;
		tids_buf_commit(&ch->plain, plen);
		tids_buf_consume(in, 2 + len);
	}
	return 0;
}

int tids_channel_next(struct tids_channel *ch, const uint8_t **frame, size_t *len)
{
	const uint8_t *p;
	size_t n;

	if (ch->pending > 0) {
		/* Plaintext frames are wiped once read: they may hold records. */
		sodium_memzero(ch->plain.data + ch->plain.off, ch->pending);
		tids_buf_consume(&ch->plain, ch->pending);
		ch->pending = 0;
	}
	if (ch->plain.len < 4)
		return 0;
	p = tids_buf_head(&ch->plain);
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (n > ch->frame_max)
		return TIDS_ETOOBIG;
	if (ch->plain.len < 4 + n)
		return 0;
	*frame = p + 4;
	*len = n;
	ch->pending = 4 + n;
	return 1;
}

size_t tids_channel_hello_encode(const char *hub_id, const uint8_t key[32], uint8_t out[TIDS_HELLO_MAX])
{
	size_t n = strnlen(hub_id, TIDS_ID_MAX);

	memcpy(out, hub_id, n);
	out[n] = 0x00;
	memcpy(out + n + 1, key, 32);
	return n + 1 + 32;
}

int tids_channel_hello_decode(const uint8_t *p, size_t len, char hub_id[TIDS_ID_MAX + 1], uint8_t key[32],
			      bool *has_key)
{
	const uint8_t *nul = memchr(p, 0x00, len);
	size_t n = nul != NULL ? (size_t)(nul - p) : len;

	*has_key = false;
	hub_id[0] = '\0';
	if (n == 0 || n > TIDS_ID_MAX || (nul != NULL && len - n - 1 != 32))
		return TIDS_EINVAL;
	memcpy(hub_id, p, n);
	hub_id[n] = '\0';
	if (!tids_valid_id(hub_id)) {
		hub_id[0] = '\0';
		return TIDS_EINVAL;
	}
	if (nul != NULL) {
		memcpy(key, nul + 1, 32);
		*has_key = true;
	}
	return 0;
}
