/*
 * Our link to one peer hub: a TCP connection dialled from the event loop
 * (a host name looked up on a thread, never in the loop),
 * the Noise_XX handshake as initiator with the hub key (the peer must prove
 * the key its registration gives before we say who we are), the peer's
 * welcome, then one Federation/Pull call whose items (forwards, the peer's
 * directory, its chain heads) go to import.c, directory.c and witness.c.
 * A link that breaks is dialled again with a backoff; what the peer
 * forwards meanwhile waits on its outbound topic.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "federation.h"
#include "tids/error.h"
#include "tids/resolve.h"

#define READ_CHUNK 65536
#define READ_BUDGET (4 * READ_CHUNK)

enum link_state { L_IDLE, L_RESOLVING, L_CONNECTING, L_HANDSHAKE, L_WELCOME, L_OPEN };

struct link {
	struct watch w;
	struct tidsd *d;
	struct fed_peer *p;
	enum link_state state;
	struct tids_resolve *resolving;    /* L_RESOLVING: the peer's host name, on a thread */
	struct tids_noise_handshake hs;
	struct tids_channel ch;
	struct tids_buf in, out;
	int64_t started;                   /* mono ms of this attempt */
	int64_t retry_at;
	int backoff;
	uint64_t call_id;
	uint64_t generation;               /* bumped per connection */
	int64_t last_rx;                   /* mono ms of the last bytes from the peer */
	int64_t last_ping;
	uint64_t pings;
};

static void on_event(struct tidsd *d, struct watch *w, uint32_t events);

bool link_is_up(const struct fed_peer *p)
{
	return p->link != NULL && p->link->state == L_OPEN;
}

static void update_events(struct tidsd *d, struct link *l)
{
	uint32_t ev = EPOLLIN;

	if (l->state == L_CONNECTING || l->out.len > 0)
		ev |= EPOLLOUT;
	if (loop_mod(d, &l->w, ev) != 0)
		tids_log_warn("federation: link to %s: epoll", l->p->id);
}

/* Closes the connection (if any) and schedules the next attempt. */
static void disconnect(struct tidsd *d, struct link *l)
{
	if (l->w.fd >= 0) {
		loop_del(d, &l->w);
		close(l->w.fd);
		l->w.fd = -1;
	}
	if (l->state == L_OPEN)
		tids_log_info("federation: link to %s down", l->p->id);
	tids_resolve_drop(l->resolving);
	l->resolving = NULL;
	import_forget(d, l->p);
	consent_forget(l->p);
	tids_noise_handshake_wipe(&l->hs);
	tids_channel_wipe(&l->ch);
	tids_buf_wipe(&l->in);
	tids_buf_free(&l->in);
	tids_buf_free(&l->out);
	memset(&l->in, 0, sizeof(l->in));
	memset(&l->out, 0, sizeof(l->out));
	l->state = L_IDLE;
	l->retry_at = mono_ms() + l->backoff;
	l->backoff = l->backoff * 2 < LINK_BACKOFF_MAX_MS ? l->backoff * 2 : LINK_BACKOFF_MAX_MS;
}

void link_fail(struct tidsd *d, struct fed_peer *p, const char *why)
{
	struct link *l = p->link;

	if (l == NULL || l->state == L_IDLE)
		return;
	fed_peer_error(p, "link: %s; dialling again in %d ms", why, l->backoff);
	disconnect(d, l);
}

static int flush_out(struct tidsd *d, struct link *l)
{
	while (l->out.len > 0) {
		ssize_t n = send(l->w.fd, tids_buf_head(&l->out), l->out.len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			link_fail(d, l->p, strerror(errno));
			return -1;
		}
		tids_buf_consume(&l->out, (size_t)n);
	}
	update_events(d, l);
	return 0;
}

static int send_frame(struct tidsd *d, struct link *l, const struct tids_frame *f)
{
	uint8_t *buf;
	size_t len;
	int r;

	if (l->state != L_OPEN && !(l->state == L_WELCOME && f->kind == TIDS_FRAME_REQUEST))
		return TIDS_EPROTO;
	if ((r = tids_wire_encode_frame(f, &buf, &len)) != 0)
		return r;
	r = tids_channel_seal(&l->ch, buf, len, &l->out);
	free(buf);
	if (r != 0) {
		link_fail(d, l->p, "cannot queue a frame");
		return r;
	}
	return flush_out(d, l);
}

void link_ack(struct tidsd *d, struct fed_peer *p, uint64_t position)
{
	struct link *l = p->link;
	struct tids_pull_control c = { .is_ack = true, .ack_position = position };
	struct tids_frame f = { .kind = TIDS_FRAME_CLIENT_ITEM };
	uint8_t *body;
	size_t len;

	if (l == NULL || l->state != L_OPEN || tids_wire_encode_pull_control(&c, &body, &len) != 0)
		return;
	f.call_id = l->call_id;
	f.body = (struct tids_bytes){ body, len };
	send_frame(d, l, &f);
	free(body);
}

/* --- connecting ------------------------------------------------------------------ */

/* Connects to the first address of ai (the link's backoff covers the rest). */
static void dial_addr(struct tidsd *d, struct link *l, struct addrinfo *ai)
{
	int fd, one = 1;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)) {
		fed_peer_error(l->p, "link: connect to %s: %s", l->p->address, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		l->state = L_IDLE;
		l->retry_at = mono_ms() + l->backoff;
		l->backoff = l->backoff * 2 < LINK_BACKOFF_MAX_MS ? l->backoff * 2 : LINK_BACKOFF_MAX_MS;
		return;
	}
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	l->w.fd = fd;
	l->w.on_event = on_event;
	l->w.ctx = l;
	l->state = L_CONNECTING;
	l->last_rx = l->last_ping = mono_ms();
	if (loop_add(d, &l->w, EPOLLOUT | EPOLLIN) != 0) {
		close(fd);
		l->w.fd = -1;
		l->state = L_IDLE;
		l->retry_at = mono_ms() + l->backoff;
	}
}

/* A lookup ended: connect, or back off. */
static void resolved(struct tidsd *d, struct link *l, struct addrinfo *ai, int rc)
{
	tids_resolve_drop(l->resolving);
	l->resolving = NULL;
	if (ai == NULL) {
		fed_peer_error(l->p, "link: %s: %s", l->p->address, rc != 0 ? gai_strerror(rc) : "no address");
		l->state = L_IDLE;
		l->retry_at = mono_ms() + l->backoff;
		l->backoff = l->backoff * 2 < LINK_BACKOFF_MAX_MS ? l->backoff * 2 : LINK_BACKOFF_MAX_MS;
		return;
	}
	dial_addr(d, l, ai);
}

static void dial(struct tidsd *d, struct link *l)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST }, *ai = NULL;
	char host[300], port[16];
	const char *colon = strrchr(l->p->address, ':');
	size_t hn;

	l->started = mono_ms();
	l->generation++;
	if (colon == NULL || (hn = (size_t)(colon - l->p->address)) >= sizeof(host)) {
		fed_peer_error(l->p, "address %s is not HOST:PORT", l->p->address);
		l->retry_at = mono_ms() + LINK_BACKOFF_MAX_MS;
		return;
	}
	memcpy(host, l->p->address, hn);
	host[hn] = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	/* An address is taken as it is; a name is looked up on a thread of
	 * its own (a slow name server must not stall the loop), and polled
	 * for at each tick. */
	if (getaddrinfo(host, port, &hints, &ai) == 0) {
		dial_addr(d, l, ai);
		return;
	}
	l->resolving = tids_resolve_start(host, port, NULL);
	if (l->resolving == NULL) {
		fed_peer_error(l->p, "link: %s: cannot start a lookup", l->p->address);
		l->retry_at = mono_ms() + l->backoff;
		return;
	}
	l->state = L_RESOLVING;
}

static void start_handshake(struct tidsd *d, struct link *l)
{
	uint8_t msg[TIDS_NOISE_MAX_MESSAGE_BYTES];
	size_t len;

	if (tids_noise_handshake_init(&l->hs, TIDS_NOISE_PROTOCOL, 1, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
				      strlen(TIDS_CHANNEL_PROLOGUE), d->hub.dh_sk, NULL, NULL) != 0 ||
	    tids_noise_write_message(&l->hs, NULL, 0, msg, sizeof(msg), &len) != 0 ||
	    tids_channel_put_message(&l->out, msg, len) != 0) {
		link_fail(d, l->p, "handshake setup failed");
		return;
	}
	l->state = L_HANDSHAKE;
	flush_out(d, l);
}

/* The responder's message: check it is the peer's key before we say who
 * we are in the last message. */
static void handshake_step(struct tidsd *d, struct link *l)
{
	uint8_t payload[TIDS_NOISE_MAX_MESSAGE_BYTES], msg[TIDS_NOISE_MAX_MESSAGE_BYTES];
	struct tids_noise_cipher tx, rx;
	const uint8_t *in;
	size_t ilen, plen, len;
	int r;

	if (tids_channel_pull_message(&l->in, &in, &ilen) != 1) {
		if (l->in.len >= 2 + TIDS_NOISE_MAX_MESSAGE_BYTES)
			link_fail(d, l->p, "handshake message too long");
		return;
	}
	r = tids_noise_read_message(&l->hs, in, ilen, payload, sizeof(payload), &plen);
	tids_buf_consume(&l->in, 2 + ilen);
	if (r != 0) {
		link_fail(d, l->p, "its handshake message does not verify");
		return;
	}
	if (sodium_memcmp(tids_noise_remote_static(&l->hs), l->p->dh_pk, TIDS_DH_KEY_BYTES) != 0) {
		link_fail(d, l->p, "the hub at its address has another key than its registration: not this peer");
		return;
	}
	if (tids_noise_write_message(&l->hs, NULL, 0, msg, sizeof(msg), &len) != 0 ||
	    tids_channel_put_message(&l->out, msg, len) != 0 || tids_noise_split(&l->hs, &tx, &rx) != 0) {
		link_fail(d, l->p, "handshake failed");
		return;
	}
	tids_channel_init_noise(&l->ch, &tx, &rx, (size_t)d->conf->frame_max);
	tids_noise_handshake_wipe(&l->hs);
	l->state = L_WELCOME;
	flush_out(d, l);
}

static void send_pull(struct tidsd *d, struct link *l)
{
	struct tids_pull_control c = { .from_position = l->p->next_position, .window = LINK_WINDOW,
				       .epoch = l->p->in_epoch };
	struct tids_frame f = { .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Federation/Pull" };
	uint8_t *body;
	size_t len;

	if (tids_wire_encode_pull_control(&c, &body, &len) != 0) {
		link_fail(d, l->p, "out of memory");
		return;
	}
	l->call_id = 1;
	l->p->expect = l->p->next_position;
	f.call_id = l->call_id;
	f.body = (struct tids_bytes){ body, len };
	if (send_frame(d, l, &f) == 0) {
		l->state = L_OPEN;
		l->backoff = LINK_BACKOFF_MIN_MS;
		tids_log_info("federation: link to %s up; pulling from position %llu", l->p->id,
			      (unsigned long long)l->p->next_position);
	}
	free(body);
}

static void welcome(struct tidsd *d, struct link *l, const uint8_t *buf, size_t len)
{
	struct tids_status st;
	char err[256];

	if (tids_wire_decode_status(buf, len, &st, err, sizeof(err)) != 0) {
		link_fail(d, l->p, "its welcome does not decode");
		return;
	}
	if (st.code != 0) {
		snprintf(err, sizeof(err), "it refused us: %s", st.message);
		tids_status_free(&st);
		link_fail(d, l->p, err);
		return;
	}
	tids_status_free(&st);
	send_pull(d, l);
}

static void frame(struct tidsd *d, struct link *l, const uint8_t *buf, size_t len)
{
	struct tids_frame f;
	struct tids_pull_item it;
	char err[256], why[400];

	if (tids_wire_decode_frame(buf, len, (size_t)d->conf->frame_max, &f, err, sizeof(err)) != 0) {
		snprintf(why, sizeof(why), "a frame does not decode: %s", err);
		link_fail(d, l->p, why);
		return;
	}
	if (f.call_id > l->call_id && f.kind == TIDS_FRAME_RESPONSE) {
		/* A ping's answer: the peer is there. */
		tids_frame_free(&f);
		return;
	}
	if (f.call_id != l->call_id || f.kind != TIDS_FRAME_STREAM_ITEM) {
		snprintf(why, sizeof(why), "its stream ended: %s", *f.status.message != '\0' ? f.status.message :
			 f.kind == TIDS_FRAME_STREAM_END ? "(no reason)" : "unexpected frame");
		tids_frame_free(&f);
		link_fail(d, l->p, why);
		return;
	}
	if (tids_wire_decode_pull_item(f.body.data, f.body.len, &it, err, sizeof(err)) != 0) {
		tids_frame_free(&f);
		snprintf(why, sizeof(why), "an item does not decode: %s", err);
		link_fail(d, l->p, why);
		return;
	}
	tids_frame_free(&f);
	link_item(d, l->p, &it);
	tids_pull_item_free(&it);
}

static void frames(struct tidsd *d, struct link *l)
{
	uint64_t gen = l->generation;

	while ((l->state == L_WELCOME || l->state == L_OPEN) && l->generation == gen) {
		const uint8_t *buf;
		size_t len;
		int r;

		if (tids_channel_absorb(&l->ch, &l->in) != 0) {
			link_fail(d, l->p, "a transport message does not decrypt");
			return;
		}
		r = tids_channel_next(&l->ch, &buf, &len);
		if (r == 0)
			return;
		if (r < 0) {
			link_fail(d, l->p, "it sent a frame above limits.frame_max");
			return;
		}
		if (l->state == L_WELCOME)
			welcome(d, l, buf, len);
		else
			frame(d, l, buf, len);
	}
}

static void read_in(struct tidsd *d, struct link *l)
{
	size_t budget = READ_BUDGET;
	uint64_t gen = l->generation;

	while (budget > 0 && l->state != L_IDLE && l->generation == gen) {
		ssize_t n;

		if (tids_buf_reserve(&l->in, READ_CHUNK) != 0) {
			link_fail(d, l->p, "out of memory");
			return;
		}
		n = recv(l->w.fd, tids_buf_tail(&l->in), READ_CHUNK, 0);
		if (n == 0) {
			link_fail(d, l->p, "it closed the connection");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				link_fail(d, l->p, strerror(errno));
			return;
		}
		tids_buf_commit(&l->in, (size_t)n);
		l->last_rx = mono_ms();
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (l->state == L_HANDSHAKE)
			handshake_step(d, l);
		if (l->state == L_WELCOME || l->state == L_OPEN)
			frames(d, l);
	}
}

static void on_event(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct link *l = w->ctx;

	if (l->w.fd < 0)
		return;
	if (l->state == L_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(l->w.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			char why[512];

			snprintf(why, sizeof(why), "connect to %s: %s", l->p->address, strerror(soerr != 0 ? soerr : errno));
			link_fail(d, l->p, why);
			return;
		}
		start_handshake(d, l);
		return;
	}
	if ((events & EPOLLOUT) && flush_out(d, l) != 0)
		return;
	if (l->w.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_in(d, l);
}

/* --- lifecycle -------------------------------------------------------------------------- */

void link_start(struct tidsd *d, struct fed_peer *p)
{
	struct link *l = p->link;

	(void)d;
	if (l == NULL) {
		l = calloc(1, sizeof(*l));
		if (l == NULL)
			return;
		l->w.fd = -1;
		l->p = p;
		l->d = d;
		p->link = l;
	}
	l->backoff = LINK_BACKOFF_MIN_MS;
	l->retry_at = mono_ms();
}

void link_stop(struct tidsd *d, struct fed_peer *p)
{
	struct link *l = p->link;

	if (l == NULL)
		return;
	disconnect(d, l);
	p->link = NULL;
	free(l);
}

/* Asks the peer for a sign of life (its answer is bytes like any other). */
static void ping(struct tidsd *d, struct link *l)
{
	struct tids_ping req = { .nonce = { (const uint8_t *)"link", 4 } };
	struct tids_frame f = { .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Exchange/Ping" };
	uint8_t *body;
	size_t len;

	l->last_ping = mono_ms();
	if (tids_wire_encode_ping_request(&req, &body, &len) != 0)
		return;
	f.call_id = l->call_id + 1 + (l->pings++ % 1000000);
	f.body = (struct tids_bytes){ body, len };
	send_frame(d, l, &f);
	free(body);
}

void link_tick(struct tidsd *d, struct fed_peer *p)
{
	struct link *l = p->link;
	int64_t now = mono_ms(), timeout = d->conf->link_timeout_ms, quiet = timeout / 6;

	if (l == NULL)
		return;

	if (l->state == L_RESOLVING) {
		struct addrinfo *ai;
		int rc;

		if (tids_resolve_poll(l->resolving, &ai, &rc) == 1) {
			resolved(d, l, ai, rc);
			return;
		}
	}
	if (l->state == L_IDLE && now >= l->retry_at)
		dial(d, l);
	else if (l->state != L_IDLE && l->state != L_OPEN && now - l->started > timeout)
		link_fail(d, p, "no link within federation.link_timeout (connect, handshake, welcome)");
	else if (l->state == L_OPEN && now - l->last_rx > timeout)
		/* A cut that sent no reset (a dead route, a dropped NAT
		 * entry) looks like a quiet peer until we ask. */
		link_fail(d, p, "no word from the peer within federation.link_timeout");
	else if (l->state == L_OPEN && now - l->last_rx > quiet && now - l->last_ping > quiet)
		ping(d, l);
}

void link_item(struct tidsd *d, struct fed_peer *p, struct tids_pull_item *it)
{
	char err[256];

	switch (it->kind) {
	case TIDS_PULL_DIRECTORY:
		if (directory_apply(d, p, &it->directory, err, sizeof(err)) != 0)
			fed_peer_error(p, "its directory is refused: %s", err);
		break;
	case TIDS_PULL_CHECKPOINT:
		witness_keep(d, p, &it->checkpoint);
		break;
	case TIDS_PULL_FORWARD:
		import_forward(d, p, it);
		break;
	case TIDS_PULL_CONSENT:
		consent_page(d, p, &it->consent);
		break;
	}
}
