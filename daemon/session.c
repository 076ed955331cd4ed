/*
 * One participant connection: the Noise_XX handshake (responder), the
 * refusal of keys the registry does not know or has suspended, frames in
 * and out, backpressure (a connection whose replies pile up, or whose
 * publishes awaiting Kafka reach limits.publish_in_flight, is not read
 * until they drain), and the handshake and idle timeouts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/error.h"
#include "metrics.h"
#include "tidsd.h"

/* tids.v1.Code values used here. */
enum { CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_PERMISSION_DENIED = 7, CODE_RESOURCE_EXHAUSTED = 8,
       CODE_UNAUTHENTICATED = 16 };

#define READ_CHUNK 65536
#define READ_BUDGET (4 * READ_CHUNK)   /* per wake-up, so one client cannot starve others */
#define CLOSING_GRACE_MS 5000

/* Too many publishes of this session await Kafka: its frames wait (and
 * TCP pushes back on the client) until one is answered. */
static bool publish_blocked(const struct tidsd *d, const struct session *s)
{
	return s->state == SESSION_OPEN && (int64_t)s->pending_calls >= d->conf->publish_in_flight;
}

static void update_events(struct tidsd *d, struct session *s)
{
	uint32_t ev = 0;

	if (s->state != SESSION_CLOSING && !s->paused && !publish_blocked(d, s) && !s->waiting)
		ev |= EPOLLIN;
	if (s->out.len > 0)
		ev |= EPOLLOUT;
	if (loop_mod(d, &s->w, ev) != 0)
		tids_log_warn("session %lu: epoll", s->id);
}

static void flush_out(struct tidsd *d, struct session *s)
{
	while (s->out.len > 0) {
		ssize_t n = send(s->w.fd, tids_buf_head(&s->out), s->out.len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			session_close(d, s, strerror(errno));
			return;
		}
		tids_buf_consume(&s->out, (size_t)n);
	}
	if (s->state == SESSION_CLOSING && s->out.len == 0) {
		session_close(d, s, NULL);
		return;
	}
	/* Resume reading (and streaming) once half the buffer has drained. */
	if (s->paused && (int64_t)s->out.len <= d->conf->send_buffer / 2) {
		s->paused = false;
		egress_resume(d, s);
		federation_resume(d, s);
	}
	update_events(d, s);
}

/* Queues one serialized frame. */
static int send_frame(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	uint8_t *buf;
	size_t len;
	int r;

	if (s->state == SESSION_CLOSING)
		return TIDS_EPROTO;
	if ((r = tids_wire_encode_frame(f, &buf, &len)) < 0)
		return r;
	r = tids_channel_seal(&s->ch, buf, len, &s->out);
	sodium_memzero(buf, len);
	free(buf);
	if (r < 0) {
		session_close(d, s, "cannot queue a frame");
		return r;
	}
	if ((int64_t)s->out.len > d->conf->send_buffer)
		s->paused = true;
	flush_out(d, s);
	return 0;
}

void session_reply(struct tidsd *d, struct session *s, uint64_t call_id, int code, const char *message,
		   const uint8_t *body, size_t len)
{
	struct tids_frame f = {
		.call_id = call_id, .kind = TIDS_FRAME_RESPONSE,
		.body = { body, body != NULL ? len : 0 },
		.status = { code, message != NULL ? message : "" },
	};

	if (code != CODE_OK)
		tids_log_debug("session %lu (%s): call %llu: code %d: %s", s->id, s->participant,
			       (unsigned long long)call_id, code, message);
	if (send_frame(d, s, &f) != 0)
		tids_log_debug("session %lu: reply dropped", s->id);
}

int session_stream_item(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len)
{
	struct tids_frame f = { .call_id = call_id, .kind = TIDS_FRAME_STREAM_ITEM, .body = { body, len } };

	return send_frame(d, s, &f);
}

void session_stream_end(struct tidsd *d, struct session *s, uint64_t call_id, int code, const char *message)
{
	struct tids_frame f = { .call_id = call_id, .kind = TIDS_FRAME_STREAM_END,
				.status = { code, message != NULL ? message : "" } };

	if (send_frame(d, s, &f) != 0)
		tids_log_debug("session %lu: stream end dropped", s->id);
}

bool session_can_send(const struct tidsd *d, const struct session *s)
{
	return s->state == SESSION_OPEN && !s->paused && (int64_t)s->out.len < d->conf->send_buffer;
}

/* The first transport message: OK, or why this participant may not stay. */
static void send_welcome(struct tidsd *d, struct session *s, int code, const char *message)
{
	struct tids_status st = { code, message };
	uint8_t *buf = NULL;
	size_t len;
	int r = tids_wire_encode_status(&st, &buf, &len);

	if (r == 0)
		r = tids_channel_seal(&s->ch, buf, len, &s->out);
	free(buf);
	if (r != 0) {
		session_close(d, s, "cannot queue the welcome");
		return;
	}
	if (code != CODE_OK) {
		tids_log_info("session %lu (%s): refused: %s", s->id, s->peer, message);
		s->state = SESSION_CLOSING;
	}
	flush_out(d, s);
}

static void handshake_done(struct tidsd *d, struct session *s)
{
	struct tids_noise_cipher tx, rx;
	const struct participant *p = registry_by_dh_key(d, tids_noise_remote_static(&s->hs));
	const char *hub;
	char msg[256];
	int code;

	if (tids_noise_split(&s->hs, &tx, &rx) != 0) {
		session_close(d, s, "handshake split failed");
		return;
	}
	tids_channel_init_noise(&s->ch, &tx, &rx, (size_t)d->conf->frame_max);
	s->state = SESSION_OPEN;
	budget_handshake_end(d, s);
	if (p == NULL && (hub = federation_peer_by_dh_key(d, tids_noise_remote_static(&s->hs))) != NULL) {
		/* A peer hub, by the key its registration gives. */
		snprintf(s->peer_hub, sizeof(s->peer_hub), "%s", hub);
		federation_peer_key(d, hub, s->identity_key);
		tids_log_info("session %lu (%s): peer hub %s authenticated", s->id, s->peer, s->peer_hub);
		snprintf(msg, sizeof(msg), "welcome hub %s", s->peer_hub);
		send_welcome(d, s, CODE_OK, msg);
		return;
	}
	if (p != NULL && *p->p.home_hub != '\0' && strcmp(p->p.home_hub, d->conf->hub_id) != 0) {
		/* Its data enters the network at its own hub, nowhere else. */
		snprintf(msg, sizeof(msg), "participant %s is served by hub %s; connect there", p->p.id, p->p.home_hub);
		send_welcome(d, s, CODE_PERMISSION_DENIED, msg);
		return;
	}
	if (p == NULL) {
		metrics_add(&d->metrics->handshake_failures[MHS_UNREGISTERED], 1);
		snprintf(msg, sizeof(msg), "this static key is not registered at hub %s", d->conf->hub_id);
		send_welcome(d, s, CODE_UNAUTHENTICATED, msg);
		return;
	}
	if (p->p.suspended) {
		metrics_add(&d->metrics->handshake_failures[MHS_SUSPENDED], 1);
		snprintf(msg, sizeof(msg), "participant %s is suspended at hub %s", p->p.id, d->conf->hub_id);
		send_welcome(d, s, CODE_PERMISSION_DENIED, msg);
		return;
	}
	snprintf(s->participant, sizeof(s->participant), "%s", p->p.id);
	memcpy(s->identity_key, p->p.identity_key, sizeof(s->identity_key));
	if (!session_rights(d, s, &s->admin, &code, msg, sizeof(msg))) {
		send_welcome(d, s, code, msg);
		return;
	}
	metrics_add(&d->metrics->sessions_authenticated, 1);
	tids_log_info("session %lu (%s): %s authenticated%s", s->id, s->peer, s->participant,
		      s->admin ? " (admin)" : "");
	snprintf(msg, sizeof(msg), "welcome %s", s->participant);
	send_welcome(d, s, CODE_OK, msg);
}

/* Runs the handshake as far as the bytes received allow. */
static void handshake_step(struct tidsd *d, struct session *s)
{
	uint8_t payload[TIDS_NOISE_MAX_MESSAGE_BYTES], out[TIDS_NOISE_MAX_MESSAGE_BYTES];
	const uint8_t *msg;
	size_t len, plen, olen;

	while (s->state == SESSION_HANDSHAKE && tids_channel_pull_message(&s->in, &msg, &len) == 1) {
		int r = tids_noise_read_message(&s->hs, msg, len, payload, sizeof(payload), &plen);

		tids_buf_consume(&s->in, 2 + len);
		if (r != 0) {
			/* Garbage, a replayed message or a forged key: nothing to
			 * answer, the peer did not prove anything. */
			metrics_add(&d->metrics->handshake_failures[MHS_INVALID], 1);
			session_close(d, s, "handshake failed");
			return;
		}
		if (tids_noise_handshake_done(&s->hs)) {
			handshake_done(d, s);
			return;
		}
		if (tids_noise_handshake_want_write(&s->hs)) {
			/* Our id and Ed25519 key: clients pin the key (known_hubs). */
			uint8_t hello[TIDS_HELLO_MAX];
			size_t hlen = tids_channel_hello_encode(d->conf->hub_id, d->hub.sign_pk, hello);

			r = tids_noise_write_message(&s->hs, hello, hlen, out, sizeof(out), &olen);
			if (r != 0 || tids_channel_put_message(&s->out, out, olen) != 0) {
				session_close(d, s, "handshake write failed");
				return;
			}
			flush_out(d, s);
		}
	}
	if (s->state == SESSION_HANDSHAKE && s->in.len >= 2 + TIDS_NOISE_MAX_MESSAGE_BYTES) {
		metrics_add(&d->metrics->handshake_failures[MHS_INVALID], 1);
		session_close(d, s, "handshake message too long");
	}
}

static void handle_frame(struct tidsd *d, struct session *s, const uint8_t *buf, size_t len)
{
	struct tids_frame f;
	char err[256];

	if (tids_wire_decode_frame(buf, len, (size_t)d->conf->frame_max, &f, err, sizeof(err)) != 0) {
		/* The frame was complete, so the stream is still in step: say
		 * what was wrong and keep serving. */
		session_reply(d, s, 0, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	s->last_active = mono_ms();
	rpc_dispatch(d, s, &f);
	tids_frame_free(&f);
}

static void frames_step(struct tidsd *d, struct session *s)
{
	const uint8_t *frame;
	size_t len;
	int r;

	s->in_frames = true;
	while (s->w.fd >= 0 && s->state == SESSION_OPEN && !s->paused && !publish_blocked(d, s) && !s->waiting) {
		if (tids_channel_absorb(&s->ch, &s->in) != 0) {
			session_close(d, s, "transport message does not decrypt");
			return;
		}
		r = tids_channel_next(&s->ch, &frame, &len);
		if (r == 0)
			break;
		if (r < 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "frame longer than limits.frame_max (%lld bytes)",
				 (long long)d->conf->frame_max);
			session_reply(d, s, 0, CODE_INVALID_ARGUMENT, msg, NULL, 0);
			s->state = SESSION_CLOSING;
			flush_out(d, s);
			break;
		}
		handle_frame(d, s, frame, len);
	}
	s->in_frames = false;
}

void session_publish_done(struct tidsd *d, struct session *s)
{
	/* Within frames_step (a publish answered at once) its loop goes on by
	 * itself; otherwise serve the frames that waited, then read again. */
	if (s->w.fd < 0 || s->in_frames)
		return;
	if (s->state == SESSION_OPEN && !s->paused && !publish_blocked(d, s) &&
	    (s->in.len > 0 || s->ch.plain.len > s->ch.pending))
		frames_step(d, s);
	if (s->w.fd >= 0)
		update_events(d, s);
}

static void read_in(struct tidsd *d, struct session *s)
{
	size_t budget = READ_BUDGET;

	while (budget > 0 && (s->state == SESSION_HANDSHAKE ||
			      (s->state == SESSION_OPEN && !s->paused && !publish_blocked(d, s) && !s->waiting))) {
		ssize_t n;

		if (tids_buf_reserve(&s->in, READ_CHUNK) != 0) {
			session_close(d, s, "out of memory");
			return;
		}
		n = recv(s->w.fd, tids_buf_tail(&s->in), READ_CHUNK, 0);
		if (n == 0) {
			session_close(d, s, "peer closed");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				session_close(d, s, strerror(errno));
			return;
		}
		tids_buf_commit(&s->in, (size_t)n);
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (s->state == SESSION_HANDSHAKE) {
			/* Talking, not just holding a slot: dropped after those that are silent. */
			budget_handshake_started(d, s);
			handshake_step(d, s);
		}
		if (s->state == SESSION_OPEN)
			frames_step(d, s);
	}
}

void session_catch_up(struct tidsd *d, struct session *s)
{
	if (s->w.fd >= 0 && s->state == SESSION_OPEN && !s->waiting)
		read_in(d, s);
}

static void on_event(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct session *s = w->ctx;

	if (s->w.fd < 0)
		return;   /* closed earlier in this iteration */
	if (events & EPOLLOUT)
		flush_out(d, s);
	/* Frames read before a pause wait in our buffers, and epoll reports
	 * only new bytes on the socket: serve them once the pause is over. */
	if (s->w.fd >= 0 && s->state == SESSION_OPEN && !s->paused && !publish_blocked(d, s) && !s->waiting &&
	    (s->in.len > 0 || s->ch.plain.len > s->ch.pending))
		frames_step(d, s);
	if (s->w.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_in(d, s);
	if (s->w.fd >= 0)
		update_events(d, s);
}

/* Why a local peer is not served (a tids.v1.Code), or CODE_OK. One that
 * may not administer could call nothing: it is told so at once. */
static int local_refusal(struct tidsd *d, struct session *s, char *why, size_t len)
{
	int code;

	if (rights_read_peer(s->w.fd, s) != 0) {
		snprintf(why, len, "the peer's credentials cannot be read");
		return CODE_PERMISSION_DENIED;
	}
	if (!session_rights(d, s, &s->admin, &code, why, len))
		return code;
	if (!budget_admit_local(d)) {
		snprintf(why, len, "%zu admin connections open (limits.max_admin_connections)", d->n_local);
		return CODE_RESOURCE_EXHAUSTED;
	}
	return CODE_OK;
}

void session_accept(struct tidsd *d, int fd, bool local, const char *peer, const struct addr_key *k)
{
	struct session *s = calloc(1, sizeof(*s));
	char why[512];
	int code = CODE_OK;

	if (s == NULL) {
		close(fd);
		return;
	}
	s->w.fd = fd;
	s->w.on_event = on_event;
	s->w.ctx = s;
	s->local = local;
	s->id = ++d->next_session_id;
	s->opened = s->last_active = mono_ms();
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	if (local) {
		tids_channel_init_plain(&s->ch, (size_t)d->conf->frame_max);
		s->state = SESSION_OPEN;
		code = local_refusal(d, s, why, sizeof(why));
	} else if (tids_noise_handshake_init(&s->hs, TIDS_NOISE_PROTOCOL, 0, (const uint8_t *)TIDS_CHANNEL_PROLOGUE,
					     strlen(TIDS_CHANNEL_PROLOGUE), d->hub.dh_sk, NULL, NULL) != 0 ||
		   budget_handshake_begin(d, s, k) != 0) {
		tids_noise_handshake_wipe(&s->hs);
		close(fd);
		free(s);
		return;
	}
	if (loop_add(d, &s->w, EPOLLIN) != 0) {
		budget_handshake_end(d, s);
		tids_noise_handshake_wipe(&s->hs);
		close(fd);
		free(s->groups);
		free(s);
		return;
	}
	s->next = d->sessions;
	if (d->sessions != NULL)
		d->sessions->prev = s;
	d->sessions = s;
	d->n_sessions++;
	if (local)
		d->n_local++;
	else
		d->n_tcp++;
	tids_log_debug("session %lu: %s connected", s->id, s->peer);
	if (code != CODE_OK)
		session_end(d, s, code, why);
}

void session_end(struct tidsd *d, struct session *s, int code, const char *why)
{
	if (s->w.fd < 0 || s->state == SESSION_CLOSING)
		return;
	if (s->state == SESSION_HANDSHAKE) {
		/* No channel to say it on yet. */
		session_close(d, s, why);
		return;
	}
	tids_log_info("session %lu (%s%s%s): ending: %s", s->id, s->peer, *s->participant ? ", " : "", s->participant,
		      why);
	/* Call 0 speaks of the connection itself; clients report it as the
	 * answer to whatever they wait for. */
	session_reply(d, s, 0, code, why, NULL, 0);
	if (s->w.fd < 0)
		return;
	s->state = SESSION_CLOSING;
	s->last_active = mono_ms();   /* the grace to read it starts now */
	flush_out(d, s);
}

void session_resume(struct tidsd *d, struct session *s)
{
	if (s->w.fd < 0)
		return;
	/* Frames that arrived behind the call wait in our buffers. */
	if (s->state == SESSION_OPEN && !s->paused && !s->waiting && (s->in.len > 0 || s->ch.plain.len > s->ch.pending))
		frames_step(d, s);
	if (s->w.fd >= 0)
		update_events(d, s);
}

void session_close(struct tidsd *d, struct session *s, const char *why)
{
	if (s->w.fd < 0)
		return;
	if (why != NULL)
		tids_log(s->state == SESSION_HANDSHAKE ? TIDS_LOG_INFO : TIDS_LOG_DEBUG, "session %lu (%s%s%s): closed: %s",
			 s->id, s->peer, *s->participant ? ", " : "", s->participant, why);
	/* CLOSED before anything else: the loops that called us (frames_step,
	 * read_in) stop at once instead of feeding a wiped channel, which
	 * allocated buffers that nothing freed. */
	s->state = SESSION_CLOSED;
	ingest_forget_session(d, s);
	egress_forget_session(d, s);
	hubstate_forget_session(d, s);
	federation_forget_session(d, s);
	budget_handshake_end(d, s);
	loop_del(d, &s->w);
	close(s->w.fd);
	s->w.fd = -1;
	tids_noise_handshake_wipe(&s->hs);
	tids_channel_wipe(&s->ch);
	/* Unlink now, free after the loop iteration: events for this session
	 * may still be in the batch being dispatched. */
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	d->n_sessions--;
	if (s->local)
		d->n_local--;
	else
		d->n_tcp--;
	s->next = d->graveyard;
	d->graveyard = s;
}

void sessions_reap(struct tidsd *d)
{
	while (d->graveyard != NULL) {
		struct session *s = d->graveyard;

		d->graveyard = s->next;
		tids_channel_wipe(&s->ch);
		tids_buf_wipe(&s->in);
		tids_buf_free(&s->in);
		tids_buf_wipe(&s->out);
		tids_buf_free(&s->out);
		free(s->groups);
		free(s);
	}
}

void sessions_tick(struct tidsd *d)
{
	int64_t now = mono_ms();
	struct session *s, *next;

	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SESSION_HANDSHAKE && now - s->opened > d->conf->handshake_timeout_ms) {
			metrics_add(&d->metrics->handshake_failures[MHS_TIMEOUT], 1);
			session_close(d, s, "handshake not finished in time (limits.handshake_timeout)");
		} else if (s->state == SESSION_CLOSING && now - s->last_active > CLOSING_GRACE_MS)
			session_close(d, s, "peer does not read its last messages");
		else if (s->state == SESSION_OPEN && s->subs == NULL && s->pull == NULL && s->pending_calls == 0 &&
			 now - s->last_active > d->conf->idle_timeout_ms)
			session_close(d, s, "idle (limits.idle_timeout)");
	}
}

void sessions_close_all(struct tidsd *d)
{
	while (d->sessions != NULL)
		session_close(d, d->sessions, "hub stopping");
	sessions_reap(d);
}

size_t session_count(const struct tidsd *d)
{
	return d->n_sessions;
}
