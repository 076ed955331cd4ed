/*
 * The client side of the participant API: a blocking connection with the
 * Noise_XX initiator, frames, unary calls and one delivery stream.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/channel.h"
#include "tids/client.h"
#include "tids/error.h"
#include "tids/receipt.h"

/* A frame that arrived while we waited for another. */
struct queued {
	struct queued *next;
	struct tids_frame f;
};

struct tids_client {
	int fd;
	int timeout_ms;
	struct tids_channel ch;
	struct tids_buf in, out;
	uint64_t next_call;
	int status;                    /* of the last call */
	char hub_id[TIDS_ID_MAX + 1];
	char hub_timezone[129];               /* from its Ping reply */
	uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES];   /* as proven in the handshake */
	bool has_hub_pk;
	enum tids_client_pin pin;
	struct tids_known_hub pin_entry;
	uint64_t sub_call;             /* open Subscribe call, 0 if none */
	uint64_t last_seen;            /* highest delivery_seq returned */
	struct queued *queue, **queue_tail;
	/* The last delivery receipt head whose signature held: deliveries of
	 * one router transaction share it, and it is verified once. */
	uint8_t *verified_head;
	size_t verified_head_len;
};

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(const char *address, char *err, size_t errlen)
{
	char host[256], port[16];
	const char *colon = strrchr(address, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *p;
	int fd = -1, rc, one = 1;

	if (address[0] == '/') {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(address) >= sizeof(sa.sun_path))
			return tids_fail(err, errlen, TIDS_EINVAL, "%s: path too long", address);
		memcpy(sa.sun_path, address, strlen(address));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			rc = tids_fail(err, errlen, TIDS_EIO, "%s: %s", address, strerror(errno));
			if (fd >= 0)
				close(fd);
			return rc;
		}
		return fd;
	}
	if (colon == NULL || (size_t)(colon - address) >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return tids_fail(err, errlen, TIDS_EINVAL, "%s: expected host:port or /path/to/socket", address);
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		return tids_fail(err, errlen, TIDS_EIO, "%s: %s", address, gai_strerror(rc));
	for (p = ai; p != NULL; p = p->ai_next) {
		fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	rc = errno;
	freeaddrinfo(ai);
	if (fd < 0)
		return tids_fail(err, errlen, TIDS_EIO, "%s: %s", address, strerror(rc));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int flush_out(struct tids_client *c, char *err, size_t errlen)
{
	int64_t deadline = mono() + c->timeout_ms;

	while (c->out.len > 0) {
		struct pollfd pfd = { c->fd, POLLOUT, 0 };
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - mono() > 0 ? deadline - mono() : 0)) <= 0)
			return tids_fail(err, errlen, TIDS_EIO, "hub does not take our data (timeout)");
		n = send(c->fd, tids_buf_head(&c->out), c->out.len, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return tids_fail(err, errlen, TIDS_EIO, "send: %s", strerror(errno));
		if (n > 0)
			tids_buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

/* Reads more bytes into c->in, waiting up to timeout_ms; 0 on timeout. */
static int read_more(struct tids_client *c, int timeout_ms, char *err, size_t errlen)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };
	ssize_t n;
	int pr = poll(&pfd, 1, timeout_ms);

	if (pr == 0)
		return 0;
	if (pr < 0)
		return errno == EINTR ? 0 : tids_fail(err, errlen, TIDS_EIO, "poll: %s", strerror(errno));
	if (tids_buf_reserve(&c->in, 65536) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	n = recv(c->fd, tids_buf_tail(&c->in), 65536, 0);
	if (n == 0)
		return tids_fail(err, errlen, TIDS_EIO, "the hub closed the connection");
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : tids_fail(err, errlen, TIDS_EIO, "recv: %s", strerror(errno));
	tids_buf_commit(&c->in, (size_t)n);
	return 1;
}

/* The next complete frame's bytes (valid until the next call), waiting. */
static int next_bytes(struct tids_client *c, const uint8_t **buf, size_t *len, int timeout_ms, char *err,
		      size_t errlen)
{
	int64_t deadline = mono() + timeout_ms;

	for (;;) {
		int r;

		if (tids_channel_absorb(&c->ch, &c->in) != 0)
			return tids_fail(err, errlen, TIDS_EAUTH, "a message from the hub does not decrypt");
		r = tids_channel_next(&c->ch, buf, len);
		if (r == 1)
			return 1;
		if (r < 0)
			return tids_fail(err, errlen, TIDS_ETOOBIG, "the hub sent a frame above our limit");
		if (mono() >= deadline)
			return 0;
		r = read_more(c, (int)(deadline - mono()), err, errlen);
		if (r < 0)
			return r;
	}
}

static int send_frame(struct tids_client *c, const struct tids_frame *f, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_frame(f, &buf, &len);

	if (r != 0)
		return tids_fail(err, errlen, r, "out of memory");
	r = tids_channel_seal(&c->ch, buf, len, &c->out);
	sodium_memzero(buf, len);
	free(buf);
	if (r != 0)
		return tids_fail(err, errlen, r, "frame of %zu bytes is above the limit", len);
	return flush_out(c, err, errlen);
}

/* The hub's key against hub_key or the known-hubs file (see client.h);
 * sets c->pin. Runs before message 3, which reveals who we are. */
static int check_hub(struct tids_client *c, const struct tids_client_options *o, const uint8_t *remote_static,
		     char *err, size_t errlen)
{
	char have[TIDS_KEY_BASE64_BYTES], pinned[TIDS_KEY_BASE64_BYTES];
	uint8_t expect[TIDS_DH_KEY_BYTES];
	enum tids_hub_pin v = TIDS_HUB_UNKNOWN;
	struct tids_known_hub *e = &c->pin_entry;
	int r;

	if (o->hub_key != NULL) {
		if (tids_identity_dh_public(o->hub_key, expect) != 0 || sodium_memcmp(expect, remote_static, 32) != 0)
			return tids_fail(err, errlen, TIDS_EAUTH, "the key of hub %s is not the one given: not connecting",
					 c->hub_id);
		/* The key given overrides the file, which is neither read nor
		 * written: a key checked out of band needs no pin. */
		memcpy(c->hub_pk, o->hub_key, TIDS_PUBLIC_KEY_BYTES);
		c->has_hub_pk = true;
		c->pin = TIDS_CLIENT_PIN_KEY;
		return 0;
	}
	if (o->known_hubs == NULL)
		return tids_fail(err, errlen, TIDS_EINVAL, "hub %s cannot be authenticated: give its key or a known-hubs "
				 "file", c->hub_id);
	if (!c->has_hub_pk)
		return tids_fail(err, errlen, TIDS_EAUTH, "hub %s does not name its key, so it cannot be pinned: give "
				 "its key", c->hub_id);
	if ((r = tids_known_hubs_lookup(o->known_hubs, o->address, c->hub_id, c->hub_pk, &v, e, err, errlen)) != 0)
		return r;
	tids_key_to_base64(c->hub_pk, have);
	tids_key_to_base64(e->key, pinned);
	switch (v) {
	case TIDS_HUB_KNOWN:
		c->pin = TIDS_CLIENT_PIN_FILE;
		return 0;
	case TIDS_HUB_KNOWN_ELSEWHERE:
		/* The same hub and key at a new address: remember the address. */
		c->pin = TIDS_CLIENT_PIN_ADDED;
		return 0;
	case TIDS_HUB_CHANGED:
		if (strcmp(e->hub_id, c->hub_id) != 0)
			return tids_fail(err, errlen, TIDS_EAUTH, "HUB CHANGED at %s: %s:%u pins hub %s there (key %s), "
					 "but hub %s answers (key %s). Not connecting: a man in the middle, or a new "
					 "hub; if its operator confirms it, delete that line", o->address, o->known_hubs,
					 e->line, e->hub_id, pinned, c->hub_id, have);
		return tids_fail(err, errlen, TIDS_EAUTH, "HUB KEY CHANGED for hub %s at %s: %s:%u pins key %s, the hub "
				 "presents key %s. Not connecting: a man in the middle, or a new hub key; if the hub's "
				 "operator confirms it (tidsctl admin hub-key), delete that line", c->hub_id, o->address,
				 o->known_hubs, e->line, pinned, have);
	case TIDS_HUB_UNKNOWN:
		break;
	}
	if (o->pin_strict)
		return tids_fail(err, errlen, TIDS_EAUTH, "hub %s at %s (key %s) is not in %s: not connecting to a hub "
				 "nobody vouched for; check its key and give it", c->hub_id, o->address, have,
				 o->known_hubs);
	c->pin = TIDS_CLIENT_PIN_ADDED;
	return 0;
}

static int handshake(struct tids_client *c, const struct tids_client_options *o, char *err, size_t errlen)
{
	struct tids_noise_handshake hs;
	struct tids_noise_cipher tx, rx;
	uint8_t msg[TIDS_NOISE_MAX_MESSAGE_BYTES], payload[TIDS_NOISE_MAX_MESSAGE_BYTES], expect[32];
	const uint8_t *in;
	size_t len, plen, ilen;
	int64_t deadline = mono() + c->timeout_ms;
	int r;

	if (o->identity == NULL)
		return tids_fail(err, errlen, TIDS_EINVAL, "a participant connection needs an identity key");
	r = tids_noise_handshake_init(&hs, TIDS_NOISE_PROTOCOL, 1, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
				      strlen(TIDS_CHANNEL_PROLOGUE), o->identity->dh_sk, NULL, NULL);
	if (r != 0)
		return tids_fail(err, errlen, r, "handshake setup failed");
	if ((r = tids_noise_write_message(&hs, NULL, 0, msg, sizeof(msg), &len)) != 0 ||
	    (r = tids_channel_put_message(&c->out, msg, len)) != 0 || (r = flush_out(c, err, errlen)) != 0)
		goto out;
	while (tids_channel_pull_message(&c->in, &in, &ilen) != 1) {
		if (mono() >= deadline) {
			r = tids_fail(err, errlen, TIDS_EIO, "the hub did not answer the handshake");
			goto out;
		}
		if ((r = read_more(c, (int)(deadline - mono()), err, errlen)) < 0)
			goto out;
	}
	r = tids_noise_read_message(&hs, in, ilen, payload, sizeof(payload) - 1, &plen);
	tids_buf_consume(&c->in, 2 + ilen);
	if (r != 0) {
		r = tids_fail(err, errlen, TIDS_EAUTH, "the hub's handshake message does not verify");
		goto out;
	}
	if (tids_channel_hello_decode(payload, plen, c->hub_id, c->hub_pk, &c->has_hub_pk) != 0) {
		r = tids_fail(err, errlen, TIDS_EPROTO, "the hub's handshake payload is not its id and key");
		goto out;
	}
	/* The key it names must be the one it proved: its X25519 form is the
	 * static key the handshake authenticated. */
	if (c->has_hub_pk && (tids_identity_dh_public(c->hub_pk, expect) != 0 ||
			      sodium_memcmp(expect, tids_noise_remote_static(&hs), 32) != 0)) {
		r = tids_fail(err, errlen, TIDS_EAUTH, "hub %s names a key that is not its Noise key: not connecting",
			      c->hub_id);
		goto out;
	}
	/* Check the hub before telling it who we are. */
	if ((r = check_hub(c, o, tids_noise_remote_static(&hs), err, errlen)) != 0)
		goto out;
	if ((r = tids_noise_write_message(&hs, NULL, 0, msg, sizeof(msg), &len)) != 0 ||
	    (r = tids_channel_put_message(&c->out, msg, len)) != 0 || (r = tids_noise_split(&hs, &tx, &rx)) != 0)
		goto out;
	tids_channel_init_noise(&c->ch, &tx, &rx, c->ch.frame_max);
	r = flush_out(c, err, errlen);
out:
	tids_noise_handshake_wipe(&hs);
	sodium_memzero(payload, sizeof(payload));
	if (r != 0 && err != NULL && *err == '\0')
		tids_fail(err, errlen, r, "handshake failed: %s", tids_strerror(r));
	return r;
}

/* The hub's first message on a participant connection: welcome or refusal. */
static int welcome(struct tids_client *c, char *err, size_t errlen)
{
	struct tids_status st;
	const uint8_t *buf;
	size_t len;
	int r = next_bytes(c, &buf, &len, c->timeout_ms, err, errlen);

	if (r == 0)
		return tids_fail(err, errlen, TIDS_EIO, "the hub did not welcome us in time");
	if (r < 0)
		return r;
	if (tids_wire_decode_status(buf, len, &st, err, errlen) != 0)
		return TIDS_EPROTO;
	c->status = st.code;
	r = st.code == 0 ? 0 : tids_fail(err, errlen, TIDS_EAUTH, "hub %s refused us: %s", c->hub_id, st.message);
	tids_status_free(&st);
	return r;
}

int tids_client_connect(const struct tids_client_options *o, struct tids_client **out, char *err, size_t errlen)
{
	struct tids_client *c;
	int r;

	*out = NULL;
	if (err != NULL && errlen > 0)
		*err = '\0';
	if (sodium_init() < 0)
		return tids_fail(err, errlen, TIDS_ECRYPTO, "libsodium failed to initialise");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	c->next_call = 1;
	c->queue_tail = &c->queue;
	tids_channel_init_plain(&c->ch, o->frame_max > 0 ? o->frame_max : TIDS_FRAME_MAX_DEFAULT);
	c->fd = dial(o->address, err, errlen);
	if (c->fd < 0) {
		r = c->fd;
		c->fd = -1;
		tids_client_free(c);
		return r;
	}
	if (o->address[0] != '/') {
		if ((r = handshake(c, o, err, errlen)) != 0 || (r = welcome(c, err, errlen)) != 0) {
			tids_client_free(c);
			return r;
		}
		/* Pinned once the hub has let us in: a hub that refuses us is
		 * not one we will talk to again. */
		if (c->pin == TIDS_CLIENT_PIN_ADDED) {
			r = tids_known_hubs_add(o->known_hubs, o->address, c->hub_id, c->hub_pk, err, errlen);
			snprintf(c->pin_entry.address, sizeof(c->pin_entry.address), "%s", o->address);
			snprintf(c->pin_entry.hub_id, sizeof(c->pin_entry.hub_id), "%s", c->hub_id);
			memcpy(c->pin_entry.key, c->hub_pk, TIDS_PUBLIC_KEY_BYTES);
			c->pin_entry.line = 0;
			/* An unrecorded first use pins nothing: the next connection
			 * would trust anyone again. */
			if (r != 0) {
				tids_client_free(c);
				return r;
			}
		}
	} else {
		snprintf(c->hub_id, sizeof(c->hub_id), "local");
	}
	*out = c;
	return 0;
}

void tids_client_free(struct tids_client *c)
{
	if (c == NULL)
		return;
	while (c->queue != NULL) {
		struct queued *q = c->queue;

		c->queue = q->next;
		tids_frame_free(&q->f);
		free(q);
	}
	if (c->fd >= 0)
		close(c->fd);
	tids_channel_wipe(&c->ch);
	tids_buf_wipe(&c->in);
	tids_buf_free(&c->in);
	tids_buf_free(&c->out);
	free(c->verified_head);
	free(c);
}

const char *tids_client_hub_id(const struct tids_client *c)
{
	return c->hub_id;
}

const char *tids_client_hub_timezone(const struct tids_client *c)
{
	return c->hub_timezone[0] != '\0' ? c->hub_timezone : "UTC";
}

const uint8_t *tids_client_hub_key(const struct tids_client *c)
{
	return c->has_hub_pk ? c->hub_pk : NULL;
}

enum tids_client_pin tids_client_pin(const struct tids_client *c, struct tids_known_hub *entry)
{
	if (entry != NULL)
		*entry = c->pin_entry;
	return c->pin;
}

int tids_client_status(const struct tids_client *c)
{
	return c->status;
}

/* Waits for a frame of call_id (any call if 0); others are queued. */
static int wait_frame(struct tids_client *c, uint64_t call_id, struct tids_frame *f, int timeout_ms,
		      char *err, size_t errlen)
{
	int64_t deadline = mono() + timeout_ms;
	struct queued **qp;

	for (qp = &c->queue; *qp != NULL; qp = &(*qp)->next) {
		struct queued *q = *qp;

		if (call_id == 0 || q->f.call_id == call_id || q->f.call_id == 0) {
			*f = q->f;
			*qp = q->next;
			if (c->queue_tail == &q->next)
				c->queue_tail = qp;
			free(q);
			return 1;
		}
	}
	for (;;) {
		const uint8_t *buf = NULL;
		size_t len = 0;
		int64_t left = deadline - mono();
		int r = next_bytes(c, &buf, &len, left > 0 ? (int)left : 0, err, errlen);
		struct queued *q;

		if (r <= 0)
			return r;
		if ((r = tids_wire_decode_frame(buf, len, c->ch.frame_max, f, err, errlen)) != 0)
			return r;
		/* Call 0 is the hub telling us a frame of ours was unreadable. */
		if (call_id == 0 || f->call_id == call_id || f->call_id == 0)
			return 1;
		q = calloc(1, sizeof(*q));
		if (q == NULL) {
			tids_frame_free(f);
			return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		}
		q->f = *f;
		*c->queue_tail = q;
		c->queue_tail = &q->next;
	}
}

/*
 * A send failed (r): the hub may have ended the connection, and before it
 * closed, said why in a RESPONSE on call 0 (suspended, key changed, admin
 * rights withdrawn). That reason, if it came, is the error; else r's.
 */
static int hub_said_why(struct tids_client *c, uint64_t call_id, int r, char *err, size_t errlen)
{
	struct tids_frame f;
	char ignored[256];
	int got;

	while (read_more(c, 0, ignored, sizeof(ignored)) > 0)
		;
	got = wait_frame(c, call_id, &f, 0, ignored, sizeof(ignored));
	if (got != 1)
		return r;
	if (f.call_id == 0 && f.status.code != 0) {
		c->status = f.status.code;
		r = tids_fail(err, errlen, TIDS_EDENIED, "%s", f.status.message);
	}
	tids_frame_free(&f);
	return r;
}

int tids_client_call(struct tids_client *c, const char *method, const uint8_t *body, size_t len,
		     uint8_t **resp, size_t *resp_len, char *err, size_t errlen)
{
	struct tids_frame req = { .call_id = c->next_call++, .kind = TIDS_FRAME_REQUEST, .method = method,
				  .body = { body, len } };
	struct tids_frame f;
	int r;

	if (resp != NULL) {
		*resp = NULL;
		*resp_len = 0;
	}
	if ((r = send_frame(c, &req, err, errlen)) != 0)
		return hub_said_why(c, req.call_id, r, err, errlen);
	r = wait_frame(c, req.call_id, &f, c->timeout_ms, err, errlen);
	if (r == 0)
		return tids_fail(err, errlen, TIDS_EIO, "%s: no answer within %d ms", method, c->timeout_ms);
	if (r < 0)
		return r;
	r = 0;
	c->status = f.status.code;
	if (f.status.code != 0) {
		r = tids_fail(err, errlen, TIDS_EDENIED, "%s", f.status.message);
	} else if (resp != NULL && f.body.len > 0) {
		*resp = malloc(f.body.len);
		if (*resp == NULL) {
			r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		} else {
			memcpy(*resp, f.body.data, f.body.len);
			*resp_len = f.body.len;
		}
	}
	tids_frame_free(&f);
	return r;
}

int tids_client_ping(struct tids_client *c, char *participant, size_t plen, char *err, size_t errlen)
{
	uint8_t nonce[16], *body, *resp;
	struct tids_ping req = { .nonce = { nonce, sizeof(nonce) } }, rep;
	size_t len, rlen;
	int r;

	randombytes_buf(nonce, sizeof(nonce));
	if (tids_wire_encode_ping_request(&req, &body, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = tids_client_call(c, "tids.v1.Exchange/Ping", body, len, &resp, &rlen, err, errlen);
	free(body);
	if (r != 0)
		return r;
	r = tids_wire_decode_ping_reply(resp, rlen, &rep, err, errlen);
	free(resp);
	if (r != 0)
		return r;
	if (rep.nonce.len != sizeof(nonce) || memcmp(rep.nonce.data, nonce, sizeof(nonce)) != 0) {
		r = tids_fail(err, errlen, TIDS_EPROTO, "the hub echoed another nonce");
	} else {
		snprintf(participant, plen, "%s", rep.participant);
		/* The hub's own word for its id: what grants and approvals
		 * signed on this connection name (tids_client_hub_id). */
		if (rep.hub_id != NULL && *rep.hub_id != '\0')
			snprintf(c->hub_id, sizeof(c->hub_id), "%s", rep.hub_id);
		/* and its calendar: a date a user types means the hub's day */
		snprintf(c->hub_timezone, sizeof(c->hub_timezone), "%s",
			 rep.timezone != NULL && *rep.timezone != '\0' ? rep.timezone : "UTC");
	}
	tids_ping_free(&rep);
	return r;
}

int tids_client_publish(struct tids_client *c, const struct tids_identity *id, const char *publisher,
			uint64_t sequence, const struct tids_bytes *records, size_t n,
			struct tids_publish_ack *ack, char *err, size_t errlen)
{
	struct tids_batch b = { .publisher = publisher, .sequence = sequence, .records = (struct tids_bytes *)records,
				.n_records = n };
	uint8_t *body, *resp;
	size_t len, rlen;
	int r;

	memset(ack, 0, sizeof(*ack));
	if (tids_merkle_root(records, n, b.merkle_root) != 0 ||
	    tids_sign_batch(id->sign_sk, publisher, sequence, b.merkle_root, b.signature) != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "cannot sign an empty batch");
	if (tids_wire_encode_batch(&b, &body, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = tids_client_call(c, "tids.v1.Exchange/Publish", body, len, &resp, &rlen, err, errlen);
	free(body);
	if (r != 0)
		return r;
	r = tids_wire_decode_publish_ack(resp, rlen, ack, err, errlen);
	free(resp);
	if (r == 0 && ack->has_receipt && c->has_hub_pk) {
		struct tids_ingest_statement st;

		/* The hub's word on where the batch went must be its own, and
		 * about this batch: else it is worth nothing later. */
		if (tids_receipt_ingest_open(&ack->receipt, c->hub_pk, &st, err, errlen) != 0 ||
		    tids_receipt_ingest_matches(&st, c->hub_id, publisher, sequence, b.merkle_root, n, ack, err,
						errlen) != 0)
			r = TIDS_EBADSIG;
		tids_ingest_statement_free(&st);
	}
	return r;
}

/* The hub verifies the signature over the bytes it receives, so what is
 * signed here is exactly what tids_client_grant sends: the same encoder
 * over the same struct gives the same bytes. */
int tids_client_sign_grant(const struct tids_identity *id, struct tids_grant *g)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_grant(g, &buf, &len);

	if (r != 0)
		return r;
	r = tids_sign_detached(id->sign_sk, TIDS_DOMAIN_GRANT, buf, len, g->signature);
	free(buf);
	return r;
}

int tids_client_sign_approval(const struct tids_identity *id, struct tids_approval *a)
{
	uint8_t *buf;
	size_t len;
	int r = tids_wire_encode_approval(a, &buf, &len);

	if (r != 0)
		return r;
	r = tids_sign_detached(id->sign_sk, TIDS_DOMAIN_APPROVAL, buf, len, a->signature);
	free(buf);
	return r;
}

/* Encodes with enc, calls method, expects a ChangeReply. */
static int change(struct tids_client *c, const char *method, int enc_r, uint8_t *body, size_t len,
		  char *err, size_t errlen)
{
	uint8_t *resp;
	size_t rlen;
	int r;

	if (enc_r != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = tids_client_call(c, method, body, len, &resp, &rlen, err, errlen);
	free(body);
	free(resp);
	return r;
}

int tids_client_grant(struct tids_client *c, const struct tids_grant *g, char *err, size_t errlen)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_signed_grant(g, &body, &len);

	return change(c, "tids.v1.Exchange/Grant", r, body, len, err, errlen);
}

int tids_client_grant_signed(struct tids_client *c, const uint8_t *grant, size_t grant_len,
			     const uint8_t signature[TIDS_SIGNATURE_BYTES], char *err, size_t errlen)
{
	struct tids_grant g = { .bytes = { grant, grant_len } };

	if (grant_len == 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "grant: no bytes to send");
	memcpy(g.signature, signature, TIDS_SIGNATURE_BYTES);
	return tids_client_grant(c, &g, err, errlen);
}

/* The hub's own id, from its Ping reply: what a grant or approval names. */
static int hub_id_for(struct tids_client *c, const char **hub_id, char *err, size_t errlen)
{
	char who[TIDS_ID_MAX + 1];
	int r;

	if (*hub_id != NULL && **hub_id != '\0')
		return 0;
	if ((r = tids_client_ping(c, who, sizeof(who), err, errlen)) != 0)
		return r;
	*hub_id = c->hub_id;
	return 0;
}

int tids_client_issue_grant(struct tids_client *c, const struct tids_identity *id, struct tids_grant *g,
			    char *err, size_t errlen)
{
	int r;

	if ((r = hub_id_for(c, &g->hub_id, err, errlen)) != 0)
		return r;
	if ((r = tids_client_sign_grant(id, g)) != 0)
		return tids_fail(err, errlen, r, "grant %s: cannot be signed", g->grant_id);
	return tids_client_grant(c, g, err, errlen);
}

int tids_client_issue_approval(struct tids_client *c, const struct tids_identity *id, struct tids_approval *a,
			       char *err, size_t errlen)
{
	int r;

	if ((r = hub_id_for(c, &a->hub_id, err, errlen)) != 0)
		return r;
	if ((r = tids_client_sign_approval(id, a)) != 0)
		return tids_fail(err, errlen, r, "approval %s: cannot be signed", a->approval_id);
	return tids_client_approve(c, a, err, errlen);
}

int tids_client_revoke(struct tids_client *c, const char *grant_id, char *err, size_t errlen)
{
	struct tids_id_message m = { .id = grant_id };
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_revoke_request(&m, &body, &len);

	return change(c, "tids.v1.Exchange/Revoke", r, body, len, err, errlen);
}

int tids_client_approve(struct tids_client *c, const struct tids_approval *a, char *err, size_t errlen)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_signed_approval(a, &body, &len);

	return change(c, "tids.v1.Exchange/Approve", r, body, len, err, errlen);
}

int tids_client_approve_signed(struct tids_client *c, const uint8_t *approval, size_t approval_len,
			       const uint8_t signature[TIDS_SIGNATURE_BYTES], char *err, size_t errlen)
{
	struct tids_approval a = { .bytes = { approval, approval_len } };

	if (approval_len == 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "approval: no bytes to send");
	memcpy(a.signature, signature, TIDS_SIGNATURE_BYTES);
	return tids_client_approve(c, &a, err, errlen);
}

int tids_client_revoke_approval(struct tids_client *c, const char *approval_id, char *err, size_t errlen)
{
	struct tids_id_message m = { .id = approval_id };
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_revoke_approval_request(&m, &body, &len);

	return change(c, "tids.v1.Exchange/RevokeApproval", r, body, len, err, errlen);
}

int tids_client_register_participant(struct tids_client *c, const struct tids_participant *p, char *err, size_t errlen)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_participant(p, &body, &len);

	return change(c, "tids.v1.Admin/RegisterParticipant", r, body, len, err, errlen);
}

int tids_client_register_asset(struct tids_client *c, const struct tids_asset *a, char *err, size_t errlen)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_asset(a, &body, &len);

	return change(c, "tids.v1.Admin/RegisterAsset", r, body, len, err, errlen);
}

int tids_client_register_peer(struct tids_client *c, const struct tids_peer *p, char *err, size_t errlen)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_peer(p, &body, &len);

	return change(c, "tids.v1.Admin/RegisterPeer", r, body, len, err, errlen);
}

int tids_client_suspend(struct tids_client *c, const char *participant, int suspended, char *err, size_t errlen)
{
	struct tids_id_message m = { .id = participant, .flag = suspended != 0 };
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_suspend_request(&m, &body, &len);

	return change(c, "tids.v1.Admin/Suspend", r, body, len, err, errlen);
}

int tids_client_hub_key_get(struct tids_client *c, struct tids_hub_key *out, char *err, size_t errlen)
{
	uint8_t *resp;
	size_t rlen;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = tids_client_call(c, "tids.v1.Admin/HubKey", NULL, 0, &resp, &rlen, err, errlen)) != 0)
		return r;
	r = tids_wire_decode_hub_key_reply(resp, rlen, out, err, errlen);
	free(resp);
	return r;
}

int tids_client_peers(struct tids_client *c, struct tids_peers_reply *out, char *err, size_t errlen)
{
	uint8_t *resp;
	size_t rlen;
	int r;

	memset(out, 0, sizeof(*out));
	r = tids_client_call(c, "tids.v1.Admin/Peers", NULL, 0, &resp, &rlen, err, errlen);
	if (r != 0)
		return r;
	r = tids_wire_decode_peers_reply(resp, rlen, out, err, errlen);
	free(resp);
	return r;
}

int tids_client_subscribe(struct tids_client *c, const char *const *purposes, size_t n, uint32_t window,
			  char *err, size_t errlen)
{
	struct tids_subscribe_control sc = { .purposes = { purposes, n }, .window = window };
	struct tids_frame req = { .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Exchange/Subscribe" };
	uint8_t *body;
	size_t len;
	int r;

	if (tids_wire_encode_subscribe_control(&sc, &body, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	req.call_id = c->next_call++;
	req.body = (struct tids_bytes){ body, len };
	r = send_frame(c, &req, err, errlen);
	free(body);
	if (r == 0)
		c->sub_call = req.call_id;
	return r;
}

/* A delivery's receipt: its head is the hub's (verified once per distinct
 * head) and covers the delivery's entry. */
static int check_delivery_receipt(struct tids_client *c, const struct tids_delivery *d, char *err, size_t errlen)
{
	const struct tids_delivery_receipt *r = &d->receipt;
	struct tids_audit_checkpoint head;
	uint8_t *copy;
	int rc;

	if (c->verified_head != NULL && c->verified_head_len == r->head.len &&
	    memcmp(c->verified_head, r->head.data, r->head.len) == 0) {
		if ((rc = tids_wire_decode_audit_checkpoint(r->head.data, r->head.len, &head, err, errlen)) != 0)
			return rc;
		rc = head.partition == r->partition && head.seq >= r->seq ? 0 :
		     tids_fail(err, errlen, TIDS_EBADSIG, "the receipt's head %d:%llu does not cover its entry %d:%llu",
			       head.partition, (unsigned long long)head.seq, r->partition, (unsigned long long)r->seq);
		tids_audit_checkpoint_free(&head);
		return rc;
	}
	if ((rc = tids_receipt_delivery_open(r, c->hub_pk, &head, err, errlen)) != 0)
		return rc;
	tids_audit_checkpoint_free(&head);
	if ((copy = malloc(r->head.len)) != NULL) {
		memcpy(copy, r->head.data, r->head.len);
		free(c->verified_head);
		c->verified_head = copy;
		c->verified_head_len = r->head.len;
	}
	return 0;
}

int tids_client_next_delivery(struct tids_client *c, struct tids_delivery *d, int timeout_ms,
			      char *err, size_t errlen)
{
	int64_t deadline = mono() + timeout_ms;

	memset(d, 0, sizeof(*d));
	if (c->sub_call == 0)
		return tids_fail(err, errlen, TIDS_EPROTO, "not subscribed");
	for (;;) {
		struct tids_frame f;
		int64_t left = deadline - mono();
		int r = wait_frame(c, c->sub_call, &f, left > 0 ? (int)left : 0, err, errlen);

		if (r <= 0)
			return r;
		if (f.kind == TIDS_FRAME_STREAM_END || f.kind == TIDS_FRAME_RESPONSE) {
			c->status = f.status.code;
			r = tids_fail(err, errlen, f.status.code == 0 ? TIDS_EIO : TIDS_EDENIED, "stream ended: %s",
				      f.status.message);
			if (f.kind == TIDS_FRAME_STREAM_END)
				c->sub_call = 0;
			tids_frame_free(&f);
			return r;
		}
		r = tids_wire_decode_delivery(f.body.data, f.body.len, d, err, errlen);
		tids_frame_free(&f);
		if (r != 0)
			return r;
		/* Sent again (the hub crashed before it committed our ack), and
		 * held already: acknowledged again, so that the hub's window
		 * does not fill with what we drop. */
		if (d->delivery_seq <= c->last_seen) {
			uint64_t seq = d->delivery_seq;

			tids_delivery_free(d);
			if ((r = tids_client_ack(c, seq, err, errlen)) != 0)
				return r;
			continue;
		}
		c->last_seen = d->delivery_seq;
		if (d->has_receipt && c->has_hub_pk && check_delivery_receipt(c, d, err, errlen) != 0)
			return TIDS_EBADSIG;
		return 1;
	}
}

int tids_client_ack(struct tids_client *c, uint64_t delivery_seq, char *err, size_t errlen)
{
	struct tids_subscribe_control sc = { .is_ack = true, .ack_seq = delivery_seq };
	struct tids_frame f = { .call_id = c->sub_call, .kind = TIDS_FRAME_CLIENT_ITEM };
	uint8_t *body;
	size_t len;
	int r;

	if (tids_wire_encode_subscribe_control(&sc, &body, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	f.body = (struct tids_bytes){ body, len };
	r = send_frame(c, &f, err, errlen);
	free(body);
	return r;
}

int tids_client_unsubscribe(struct tids_client *c, int timeout_ms, char *err, size_t errlen)
{
	struct tids_frame cancel = { .call_id = c->sub_call, .kind = TIDS_FRAME_CANCEL };
	int64_t deadline = mono() + timeout_ms;
	int r;

	if (c->sub_call == 0)
		return 0;
	if ((r = send_frame(c, &cancel, err, errlen)) != 0)
		return r;
	for (;;) {
		struct tids_frame f;
		int64_t left = deadline - mono();

		r = wait_frame(c, c->sub_call, &f, left > 0 ? (int)left : 0, err, errlen);
		if (r == 0)
			return tids_fail(err, errlen, TIDS_EIO, "the hub did not end the stream within %d ms", timeout_ms);
		if (r < 0)
			return r;
		if (f.kind == TIDS_FRAME_STREAM_END || f.kind == TIDS_FRAME_RESPONSE) {
			c->sub_call = 0;
			tids_frame_free(&f);
			return 0;
		}
		tids_frame_free(&f);
	}
}

void tids_client_resume_after(struct tids_client *c, uint64_t delivery_seq)
{
	if (delivery_seq > c->last_seen)
		c->last_seen = delivery_seq;
}

/* Unary call whose reply is a ListReply. */
static int list_call(struct tids_client *c, const char *method, int enc_r, uint8_t *body, size_t len,
		     struct tids_list_reply *out, char *err, size_t errlen)
{
	uint8_t *resp = NULL;
	size_t rlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (enc_r != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = tids_client_call(c, method, body, len, &resp, &rlen, err, errlen);
	free(body);
	if (r == 0)
		r = tids_wire_decode_list_reply(resp, rlen, out, err, errlen);
	free(resp);
	return r;
}

int tids_client_list(struct tids_client *c, const char *kind, const char *after, uint32_t limit,
		     struct tids_list_reply *out, char *err, size_t errlen)
{
	struct tids_list_request req = { .kind = kind, .after = after, .limit = limit };
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_list_request(&req, &body, &len);

	return list_call(c, "tids.v1.Admin/List", r, body, len, out, err, errlen);
}

int tids_client_show(struct tids_client *c, const char *id, struct tids_list_reply *out, char *err, size_t errlen)
{
	struct tids_id_message req = { .id = id };
	uint8_t *body = NULL;
	size_t len = 0;
	int r = tids_wire_encode_show_request(&req, &body, &len);

	return list_call(c, "tids.v1.Admin/Show", r, body, len, out, err, errlen);
}
