/*
 * A hand-driven participant connection for bad-input tests (see rawconn.h):
 * the same Noise and channel code as libtids' client, with every step
 * exposed so that a test can break any of them on purpose.
 */
#include "rawconn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/noise.h"

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - mono_now();

	return left > 0 ? (int)left : 0;
}

int tids_test_raw_dial(struct tids_test_raw *r, const char *addr)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[64], *colon;
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	tids_channel_init_plain(&r->ch, TIDS_FRAME_MAX_LIMIT);
	snprintf(host, sizeof(host), "%s", addr);
	colon = strrchr(host, ':');
	if (colon == NULL) {
		fprintf(stderr, "rawconn: %s is not host:port\n", addr);
		return -1;
	}
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		fprintf(stderr, "rawconn: cannot resolve %s\n", addr);
		return -1;
	}
	r->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		fprintf(stderr, "rawconn: connect %s: %s\n", addr, strerror(errno));
		freeaddrinfo(ai);
		tids_test_raw_close(r);
		return -1;
	}
	freeaddrinfo(ai);
	/* Each write leaves at once, so the hub sees the bytes the test meant
	 * as one piece as soon as possible. */
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

void tids_test_raw_close(struct tids_test_raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	tids_channel_wipe(&r->ch);
	tids_buf_wipe(&r->in);
	tids_buf_free(&r->in);
}

int tids_test_raw_write(struct tids_test_raw *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = send(r->fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads what is there into r->in, waiting up to timeout_ms: 1 if bytes
 * came, 0 on timeout, -1 when the peer closed or reset. */
static int read_some(struct tids_test_raw *r, int timeout_ms)
{
	struct pollfd pfd = { r->fd, POLLIN, 0 };
	ssize_t n;
	int pr = poll(&pfd, 1, timeout_ms);

	if (pr == 0)
		return 0;
	if (pr < 0)
		return errno == EINTR ? 0 : -1;
	if (tids_buf_reserve(&r->in, 65536) != 0)
		return -1;
	n = recv(r->fd, tids_buf_tail(&r->in), 65536, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	tids_buf_commit(&r->in, (size_t)n);
	return 1;
}

int tids_test_raw_read_message(struct tids_test_raw *r, uint8_t *buf, size_t cap, size_t *len, int timeout_ms)
{
	int64_t deadline = mono_now() + timeout_ms;
	const uint8_t *msg;
	size_t n;

	while (tids_channel_pull_message(&r->in, &msg, &n) != 1) {
		int got;

		if (mono_now() >= deadline)
			return 0;
		if ((got = read_some(r, left_ms(deadline))) < 0)
			return -1;
	}
	if (n > cap)
		return -1;
	memcpy(buf, msg, n);
	*len = n;
	tids_buf_consume(&r->in, 2 + n);
	return 1;
}

/* Sends one handshake message with its prefix and keeps a copy. */
static int send_recorded(struct tids_test_raw *r, const uint8_t *msg, size_t len, uint8_t *copy, size_t *copy_len)
{
	if (2 + len > TIDS_TEST_RAW_HS_MAX)
		return -1;
	copy[0] = (uint8_t)(len >> 8);
	copy[1] = (uint8_t)len;
	memcpy(copy + 2, msg, len);
	*copy_len = 2 + len;
	return tids_test_raw_write(r, copy, *copy_len);
}

/* The hub's first transport message: a Status. */
static int read_welcome(struct tids_test_raw *r, int64_t deadline)
{
	struct tids_status st;
	const uint8_t *buf;
	size_t len;
	char err[256];

	for (;;) {
		int got;

		if (tids_channel_absorb(&r->ch, &r->in) != 0) {
			fprintf(stderr, "rawconn: the welcome does not decrypt\n");
			return -1;
		}
		got = tids_channel_next(&r->ch, &buf, &len);
		if (got == 1)
			break;
		if (got < 0 || mono_now() >= deadline || read_some(r, left_ms(deadline)) < 0) {
			fprintf(stderr, "rawconn: no welcome from the hub\n");
			return -1;
		}
	}
	if (tids_wire_decode_status(buf, len, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "rawconn: the welcome is not a Status: %s\n", err);
		return -1;
	}
	r->welcome_code = st.code;
	snprintf(r->welcome, sizeof(r->welcome), "%s", st.message);
	tids_status_free(&st);
	return 0;
}

int tids_test_raw_handshake(struct tids_test_raw *r, const struct tids_identity *id,
			    const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES], int timeout_ms)
{
	static uint8_t msg[TIDS_NOISE_MAX_MESSAGE_BYTES], payload[TIDS_NOISE_MAX_MESSAGE_BYTES];
	int64_t deadline = mono_now() + timeout_ms;
	struct tids_noise_handshake hs;
	struct tids_noise_cipher tx, rx;
	uint8_t expect[TIDS_DH_KEY_BYTES];
	size_t len, plen;
	int rc = -1;

	if (tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 1, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
				      strlen(TIDS_CHANNEL_PROLOGUE), id->dh_sk, NULL, NULL) != 0)
		return -1;
	if (tids_noise_write_message(&hs, NULL, 0, msg, sizeof(msg), &len) != 0 ||
	    send_recorded(r, msg, len, r->msg1, &r->msg1_len) != 0) {
		fprintf(stderr, "rawconn: cannot send message 1\n");
		goto out;
	}
	if (tids_test_raw_read_message(r, msg, sizeof(msg), &len, left_ms(deadline)) != 1) {
		fprintf(stderr, "rawconn: no handshake message 2 from the hub\n");
		goto out;
	}
	if (tids_noise_read_message(&hs, msg, len, payload, sizeof(payload), &plen) != 0) {
		fprintf(stderr, "rawconn: message 2 does not verify\n");
		goto out;
	}
	if (tids_identity_dh_public(hub_pk, expect) != 0 ||
	    sodium_memcmp(expect, tids_noise_remote_static(&hs), sizeof(expect)) != 0) {
		fprintf(stderr, "rawconn: the hub's static key is not its registered key\n");
		goto out;
	}
	if (tids_noise_write_message(&hs, NULL, 0, msg, sizeof(msg), &len) != 0 ||
	    send_recorded(r, msg, len, r->msg3, &r->msg3_len) != 0 || tids_noise_split(&hs, &tx, &rx) != 0) {
		fprintf(stderr, "rawconn: cannot send message 3\n");
		goto out;
	}
	tids_channel_init_noise(&r->ch, &tx, &rx, TIDS_FRAME_MAX_LIMIT);
	rc = read_welcome(r, deadline);
out:
	tids_noise_handshake_wipe(&hs);
	return rc;
}

int tids_test_raw_send_plain(struct tids_test_raw *r, const void *p, size_t n)
{
	static uint8_t out[2 + TIDS_NOISE_MAX_MESSAGE_BYTES];
	const uint8_t *b = p;

	while (n > 0) {
		size_t chunk = n < TIDS_NOISE_MAX_PAYLOAD_BYTES ? n : TIDS_NOISE_MAX_PAYLOAD_BYTES;
		size_t clen;

		if (tids_noise_encrypt(&r->ch.tx, NULL, 0, b, chunk, out + 2, sizeof(out) - 2, &clen) != 0)
			return -1;
		out[0] = (uint8_t)(clen >> 8);
		out[1] = (uint8_t)clen;
		if (tids_test_raw_write(r, out, 2 + clen) != 0)
			return -1;
		b += chunk;
		n -= chunk;
	}
	return 0;
}

int tids_test_raw_send_frame(struct tids_test_raw *r, const struct tids_frame *f)
{
	uint8_t *buf, *all;
	size_t len;
	int rc;

	if (tids_wire_encode_frame(f, &buf, &len) != 0)
		return -1;
	all = malloc(4 + len);
	if (all == NULL) {
		free(buf);
		return -1;
	}
	all[0] = (uint8_t)(len >> 24);
	all[1] = (uint8_t)(len >> 16);
	all[2] = (uint8_t)(len >> 8);
	all[3] = (uint8_t)len;
	memcpy(all + 4, buf, len);
	rc = tids_test_raw_send_plain(r, all, 4 + len);
	free(all);
	free(buf);
	return rc;
}

int tids_test_raw_read_frame(struct tids_test_raw *r, struct tids_frame *f, int timeout_ms)
{
	int64_t deadline = mono_now() + timeout_ms;
	const uint8_t *buf;
	size_t len;
	char err[256];

	memset(f, 0, sizeof(*f));
	for (;;) {
		int got;

		if (tids_channel_absorb(&r->ch, &r->in) != 0)
			return -1;
		got = tids_channel_next(&r->ch, &buf, &len);
		if (got < 0)
			return -1;
		if (got == 1)
			break;
		if (mono_now() >= deadline)
			return 0;
		if ((got = read_some(r, left_ms(deadline))) < 0)
			return -1;
	}
	if (tids_wire_decode_frame(buf, len, TIDS_FRAME_MAX_LIMIT, f, err, sizeof(err)) != 0) {
		fprintf(stderr, "rawconn: the hub sent something that is not a Frame: %s\n", err);
		return -1;
	}
	return 1;
}

int tids_test_raw_ping(struct tids_test_raw *r, uint64_t call_id, int timeout_ms)
{
	int64_t deadline = mono_now() + timeout_ms;
	uint8_t nonce[16], *body;
	struct tids_ping req = { .nonce = { nonce, sizeof(nonce) } }, rep;
	struct tids_frame f = { .call_id = call_id, .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Exchange/Ping" };
	size_t len;
	char err[256];
	int rc;

	randombytes_buf(nonce, sizeof(nonce));
	if (tids_wire_encode_ping_request(&req, &body, &len) != 0)
		return -1;
	f.body = (struct tids_bytes){ body, len };
	rc = tids_test_raw_send_frame(r, &f);
	free(body);
	if (rc != 0)
		return -1;
	for (;;) {
		struct tids_frame got;

		if (tids_test_raw_read_frame(r, &got, left_ms(deadline)) != 1)
			return -1;
		if (got.call_id != call_id || got.kind != TIDS_FRAME_RESPONSE) {
			tids_frame_free(&got);
			continue;
		}
		rc = got.status.code;
		if (rc == 0) {
			/* A failed decode leaves rep zeroed, which frees as nothing. */
			if (tids_wire_decode_ping_reply(got.body.data, got.body.len, &rep, err, sizeof(err)) != 0 ||
			    rep.nonce.len != sizeof(nonce) || memcmp(rep.nonce.data, nonce, sizeof(nonce)) != 0)
				rc = -1;
			tids_ping_free(&rep);
		}
		tids_frame_free(&got);
		return rc;
	}
}

int tids_test_raw_wait_closed(struct tids_test_raw *r, int timeout_ms, size_t *received)
{
	int64_t deadline = mono_now() + timeout_ms;
	uint8_t scratch[65536];

	if (received != NULL)
		*received = 0;
	for (;;) {
		struct pollfd pfd = { r->fd, POLLIN, 0 };
		ssize_t n;

		int pr = poll(&pfd, 1, left_ms(deadline));

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return 0;
		if (pr < 0)
			return 1;
		n = recv(r->fd, scratch, sizeof(scratch), 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return 1;
		if (n > 0 && received != NULL)
			*received += (size_t)n;
	}
}
