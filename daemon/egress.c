/*
 * Egress: a Subscribe call streams the participant's deliver topic to it,
 * unsealed for it, within a window of unacknowledged deliveries (counted in
 * deliveries: transaction markers and aborted transactions take offsets of
 * the topic too, so a window counted in offsets shrinks by a different
 * amount for every transaction, and a subscriber that waits for a number
 * of deliveries before it acks could wait forever). Acks move
 * the participant's position, committed to Kafka as the offset of its
 * consumer group (one group per subscriber, never joined: its consumers
 * assign the partition), so a subscriber that comes back, to this
 * instance of the hub or to another, resumes after its last ack. A
 * subscriber that stops reading stops being fed (librdkafka holds at most
 * queued.max.messages.kbytes for it).
 *
 * Commits are asynchronous, so an ack costs no round trip, and at most one
 * per stream is in flight: acks that arrive meanwhile move the position
 * that the next commit carries (the latest one), sent when the first is
 * answered. One commit per ack, pipelined to the group coordinator, let a
 * subscriber that acks every delivery put thousands in flight, and closing
 * the consumer waited for all of them (a minute to stop). A failed commit
 * is sent again a second later or with the next ack; the last position
 * is sent before the consumer closes. A subscriber that moves to another
 * instance before its last acks are committed may be sent again what it
 * acked last; the delivery_seq lets it drop those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/map.h"
#include "tids/seal.h"
#include "tids/secmem.h"
#include "committed.h"
#include "metrics.h"
#include "tidsd.h"

enum { CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_PERMISSION_DENIED = 7, CODE_FAILED_PRECONDITION = 9,
       CODE_UNAVAILABLE = 14 };

/* A stream that cannot move for this long is worth a line in the log. */
#define STALL_LOG_MS 15000

struct subscription {
	struct subscription *next;     /* in the graveyard */
	struct session *s;
	uint64_t call_id;
	rd_kafka_t *rk;
	struct kafka_read_ahead read_ahead;  /* rk's */
	struct kafka_queue_watch qw;
	/* Commit results, on a queue of their own: the consumer's queue is
	 * not read while the window is full, and a result read only when
	 * the subscriber acks again would hold the next commit back. */
	struct kafka_queue_watch commits;
	struct committed_start start;  /* the position looked up in Kafka */
	uint32_t window;
	/* delivery_seq of each delivery sent and not acknowledged, oldest
	 * first: a ring of window entries. */
	uint64_t *unacked;
	uint32_t head, n_unacked;
	uint64_t last_sent;            /* delivery_seq of the last position handled (sent or skipped) */
	uint64_t last_acked;
	/* Position commits: the one in flight (0: none) and the latest acked
	 * position not yet sent (0: none). */
	uint64_t commit_in_flight, commit_pending;
	bool commit_failing;           /* said so; say so again when one succeeds */
	int64_t commit_retry_at;       /* mono ms: egress_tick sends a failed one again then */
	bool positioned;               /* the first delivery said where the stream starts */
	uint64_t skipped;              /* deliveries whose key is gone */
	int64_t last_progress;         /* mono ms of the last ack or send */
	bool stall_logged;             /* said so; say so again when it moves */
	char participant[TIDS_ID_MAX + 1];
	char topic[256];
};

/* Grant keys that open deliveries, unwrapped once: a SQLite lookup and an
 * unwrap per delivery would cost more than the delivery. Revocation drops
 * a grant's key here too (egress_forget_key). */
struct cached_key {
	char id[TIDS_ID_MAX + 8];
	uint8_t *key;                  /* a slot of the pool: guarded memory */
};

struct egress {
	struct tids_map active;        /* participant -> subscription: one stream each */
	struct tids_map keys;          /* sealed_by -> struct cached_key */
	struct tids_secmem_pool *pool; /* the cached keys */
	/* Ended this loop iteration: its queue may be mid-pump, or its events
	 * still in the batch being dispatched. Freed by egress_reap. */
	struct subscription *graveyard;
};

static struct egress *egress_get(struct tidsd *d)
{
	if (d->egress == NULL && (d->egress = calloc(1, sizeof(*d->egress))) != NULL &&
	    (d->egress->pool = tids_secmem_pool_new(TIDS_SEAL_KEY_BYTES)) == NULL) {
		free(d->egress);
		d->egress = NULL;
	}
	return d->egress;
}

static void cached_key_free(struct egress *eg, struct cached_key *k)
{
	tids_secmem_pool_put(eg->pool, k->key);
	free(k);
}

static bool ready(struct tidsd *d, void *ctx)
{
	struct subscription *sub = ctx;

	return sub->s != NULL && session_can_send(d, sub->s) && sub->n_unacked < sub->window;
}

static void unacked_push(struct subscription *sub, uint64_t seq)
{
	/* ready() keeps n_unacked below window, and a fetch event holds one
	 * message; a full ring would only make the window look emptier. */
	if (sub->n_unacked == sub->window)
		return;
	sub->unacked[(sub->head + sub->n_unacked) % sub->window] = seq;
	sub->n_unacked++;
}

/* An ack covers every delivery up to seq. */
static void unacked_pop_through(struct subscription *sub, uint64_t seq)
{
	while (sub->n_unacked > 0 && sub->unacked[sub->head] <= seq) {
		sub->head = (sub->head + 1) % sub->window;
		sub->n_unacked--;
	}
}

/* The stream moved: if it was reported stuck, say that it is not. */
static void progress(struct subscription *sub)
{
	int64_t now = mono_ms();

	if (sub->stall_logged)
		tids_log_info("egress %s: stream moving again after %lld s", sub->participant,
			      (long long)((now - sub->last_progress) / 1000));
	sub->stall_logged = false;
	sub->last_progress = now;
}

/* The key that opens what sealed_by names ("hub" or "grant:<id>"), in
 * guarded memory; valid until the grant is forgotten. */
static const uint8_t *key_for(struct tidsd *d, const char *sealed_by)
{
	struct egress *eg = d->egress;
	struct cached_key *k;

	if (strcmp(sealed_by, "hub") == 0)
		return keys_delivery(d);
	k = tids_map_get_str(&eg->keys, sealed_by);
	if (k != NULL)
		return k->key;
	k = calloc(1, sizeof(*k));
	if (k == NULL || (k->key = tids_secmem_pool_get(eg->pool)) == NULL) {
		free(k);
		return NULL;
	}
	snprintf(k->id, sizeof(k->id), "%s", sealed_by);
	if (keys_grant_key(d, sealed_by + 6, k->key) != 0 || tids_map_put_str(&eg->keys, k->id, k, NULL) != 0) {
		cached_key_free(eg, k);
		return NULL;
	}
	return k->key;
}

void egress_forget_key(struct tidsd *d, const char *grant_id)
{
	char id[TIDS_ID_MAX + 8];
	struct cached_key *k;

	if (d->egress == NULL)
		return;
	snprintf(id, sizeof(id), "grant:%s", grant_id);
	k = tids_map_remove_str(&d->egress->keys, id);
	if (k != NULL)
		cached_key_free(d->egress, k);
}

/* Opens the envelope read from sub's topic: the Delivery bytes, unsealed
 * if need be, into *out. */
static int open_envelope(struct tidsd *d, const struct subscription *sub, const struct tids_delivery_envelope *env,
			 uint8_t **out, size_t *len, char *err, size_t errlen)
{
	uint8_t ad[TIDS_SEAL_AD_MAX];
	const uint8_t *key;
	size_t ad_len;
	int r;

	if (*env->sealed_by == '\0') {
		*out = malloc(env->delivery.len);
		if (*out == NULL)
			return TIDS_ENOMEM;
		memcpy(*out, env->delivery.data, env->delivery.len);
		*len = env->delivery.len;
		return 0;
	}
	key = key_for(d, env->sealed_by);
	if (key == NULL)
		return tids_fail(err, errlen, TIDS_ECRYPTO, "key %s is destroyed (grant revoked or expired)",
				 env->sealed_by);
	/* Sealed for this participant on this topic, or it does not open. */
	ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_DELIVERY, sub->topic, sub->participant, env->sealed_by,
			      env->record_id);
	if (env->delivery.len < TIDS_SEAL_OVERHEAD || ad_len == 0)
		return tids_fail(err, errlen, TIDS_ECRYPTO, "delivery too short to be sealed");
	if ((*out = malloc(env->delivery.len)) == NULL)
		return TIDS_ENOMEM;
	r = tids_seal_open(key, ad, ad_len, env->delivery.data, env->delivery.len, *out, len);
	if (r != 0) {
		free(*out);
		*out = NULL;
		return tids_fail(err, errlen, TIDS_ECRYPTO, "delivery does not decrypt under %s for %s on %s",
				 env->sealed_by, sub->participant, sub->topic);
	}
	return 0;
}

static void send_message(struct tidsd *d, struct subscription *sub, const rd_kafka_message_t *m)
{
	struct tids_delivery_envelope env;
	struct tids_delivery del;
	uint8_t *plain = NULL, *body;
	size_t plen = 0, blen;
	char err[256];
	uint64_t seq = (uint64_t)m->offset + 1;

	/* The stream starts where Kafka has the group's position: the first
	 * delivery says where that is. */
	if (!sub->positioned) {
		sub->last_sent = sub->last_acked = seq - 1;
		sub->positioned = true;
	}
	/* Whatever happens below, this position is done with. */
	sub->last_sent = seq;
	if (tids_wire_decode_delivery_envelope(m->payload, m->len, &env, err, sizeof(err)) != 0 ||
	    open_envelope(d, sub, &env, &plain, &plen, err, sizeof(err)) != 0 ||
	    tids_wire_decode_delivery(plain, plen, &del, err, sizeof(err)) != 0) {
		/* Crypto-shredded or damaged: the subscriber cannot have it. It
		 * counts as handled, or one bad entry would block the stream. */
		tids_log_info("egress %s: delivery %llu skipped: %s", sub->participant, (unsigned long long)seq, err);
		sub->skipped++;
		metrics_add(&d->metrics->deliveries_unreadable, 1);
		tids_delivery_envelope_free(&env);
		if (plain != NULL)
			sodium_memzero(plain, plen);
		free(plain);
		return;
	}
	del.delivery_seq = seq;
	/* The receipt rides outside the sealed delivery (its entry was hashed
	 * before it could exist): the subscriber gets it inside. */
	del.has_receipt = env.has_receipt;
	if (env.has_receipt)
		del.receipt = env.receipt;
	if (tids_wire_encode_delivery(&del, &body, &blen) == 0) {
		if (session_stream_item(d, sub->s, sub->call_id, body, blen) != 0) {
			tids_log_debug("egress %s: item %llu not queued", sub->participant, (unsigned long long)seq);
		} else {
			/* The router stamps a delivery with the time ingest took
			 * its record (aggregates: when their window closed). */
			int64_t at = rd_kafka_message_timestamp(m, NULL), now = now_ms();

			unacked_push(sub, seq);
			progress(sub);
			metrics_add(&d->metrics->records_out, 1);
			if (at > 0)
				metrics_observe_us(&d->metrics->delivery_latency, now > at ? (uint64_t)(now - at) * 1000u : 0);
		}
		sodium_memzero(body, blen);
		free(body);
	}
	tids_delivery_free(&del);
	tids_delivery_envelope_free(&env);
	sodium_memzero(plain, plen);
	free(plain);
}

/* Keeps a position that did not reach Kafka for the next commit. */
static void commit_later(struct subscription *sub, uint64_t next)
{
	if (next > sub->commit_pending)
		sub->commit_pending = next;
}

/* Position `next` did not reach Kafka: egress_tick sends it again a
 * second later (at once could spin while the coordinator is away), unless
 * an ack does first. Said once per episode: while the coordinator is
 * away, every try fails alike. */
static void commit_failed(struct subscription *sub, uint64_t next, rd_kafka_resp_err_t e)
{
	if (!sub->commit_failing)
		tids_log_warnx("egress %s: position %llu not committed: %s; trying again", sub->participant,
			       (unsigned long long)next, rd_kafka_err2str(e));
	sub->commit_failing = true;
	sub->commit_retry_at = mono_ms() + 1000;
	commit_later(sub, next);
}

/* Sends position `next` (the offset to read next) to Kafka. The result
 * comes back as an OFFSET_COMMIT event on sub->commits (commit_done):
 * with rd_kafka_commit() (async), librdkafka 2.0.2 gives results only to
 * an offset_commit_cb, so failures went unseen. */
static void send_commit(struct tidsd *d, struct subscription *sub, uint64_t next)
{
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_resp_err_t e;

	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, sub->topic, 0)->offset = (int64_t)next;
	e = rd_kafka_commit_queue(sub->rk, tp, sub->commits.q, NULL, NULL);
	rd_kafka_topic_partition_list_destroy(tp);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		commit_failed(sub, next, e);
		return;
	}
	if (next >= sub->commit_pending)
		sub->commit_pending = 0;
	sub->commit_in_flight = next;
	metrics_add(&d->metrics->position_commits, 1);
}

/* Sends position `next`, or, while a commit is in flight, keeps it for
 * the next one: one in flight per stream however fast acks come. */
static void commit_position(struct tidsd *d, struct subscription *sub, uint64_t next)
{
	if (sub->commit_in_flight != 0)
		commit_later(sub, next);
	else
		send_commit(d, sub, next);
}

/* The commit in flight was answered: the acks that came meanwhile go in
 * the next one. */
static void commit_done(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	struct subscription *sub = ctx;
	const rd_kafka_topic_partition_list_t *tp = rd_kafka_event_topic_partition_list(ev);
	rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
	uint64_t sent = sub->commit_in_flight;

	if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT)
		return;
	sub->commit_in_flight = 0;
	/* The request may succeed and the partition's commit fail. */
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && tp != NULL && tp->cnt == 1)
		e = tp->elems[0].err;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		commit_failed(sub, sent, e);
		return;
	}
	if (sub->commit_failing)
		tids_log_info("egress %s: position %llu committed again", sub->participant, (unsigned long long)sent);
	sub->commit_failing = false;
	if (sub->commit_pending != 0)
		commit_position(d, sub, sub->commit_pending);
}

static void on_event(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	struct subscription *sub = ctx;
	const rd_kafka_message_t *m;

	/* Every error event before the first message asks again; during an
	 * outage that is one per event, so the log says so at lookups 2, 4,
	 * 8 and so on. */
	if (committed_on_event(&sub->start, ev) && (sub->start.asked & (sub->start.asked - 1)) == 0)
		tids_log_info("egress %s: asking Kafka for the position again (lookup %u)", sub->participant,
			      sub->start.asked);
	if (kafka_log_event(d, ev))
		return;
	if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_FETCH)
		return;
	while ((m = rd_kafka_event_message_next(ev)) != NULL) {
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				tids_log_warnx("egress %s: %s", sub->participant, rd_kafka_message_errstr(m));
			continue;
		}
		kafka_took(&sub->read_ahead, m);
		committed_started(&sub->start);
		if (sub->s != NULL)
			send_message(d, sub, m);
	}
}

static void subscription_free(struct tidsd *d, struct subscription *sub)
{
	if (sub->rk != NULL) {
		/* The acks since the commit in flight go beside it: closing
		 * waits for both. */
		if (sub->commit_pending != 0 && sub->commits.q != NULL)
			send_commit(d, sub, sub->commit_pending);
		kafka_unwatch_queue(d, &sub->qw);
		rd_kafka_consumer_close(sub->rk);
		kafka_unwatch_queue(d, &sub->commits);
		rd_kafka_destroy(sub->rk);
	}
	free(sub->unacked);
	free(sub);
}

/* Ends a stream now, frees it after the loop iteration. */
static void subscription_retire(struct tidsd *d, struct subscription *sub)
{
	if (sub == NULL)
		return;
	sub->s = NULL;                 /* ready() says no from now on */
	if (tids_map_get_str(&d->egress->active, sub->participant) == sub)
		tids_map_remove_str(&d->egress->active, sub->participant);
	sub->next = d->egress->graveyard;
	d->egress->graveyard = sub;
}

void egress_reap(struct tidsd *d)
{
	while (d->egress != NULL && d->egress->graveyard != NULL) {
		struct subscription *sub = d->egress->graveyard;

		d->egress->graveyard = sub->next;
		subscription_free(d, sub);
	}
}

static int start_consumer(struct tidsd *d, struct subscription *sub, char *err, size_t errlen)
{
	char group[TIDS_ID_MAX * 2 + 64];
	rd_kafka_conf_t *conf = kafka_conf(d, RD_KAFKA_CONSUMER, err, errlen);
	rd_kafka_resp_err_t kerr;
	uint64_t next = 0;
	bool legacy;

	if (conf == NULL)
		return TIDS_EKAFKA;
	/* The subscriber's group holds its position; the consumer assigns
	 * the partition rather than joining (no rebalance to wait for when a
	 * subscriber moves from an instance that died). */
	kafka_group_name(d, KG_EGRESS, sub->participant, group, sizeof(group));
	if (rd_kafka_conf_set(conf, "group.id", group, err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, errlen) != RD_KAFKA_CONF_OK ||
	    /* Bounds what a slow subscriber can make us hold. */
	    kafka_conf_read_ahead(conf, &sub->read_ahead, 1 << 20, &d->metrics->fetch_wakes[MR_EGRESS], err,
				  errlen) != 0 ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, errlen) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG |
					   RD_KAFKA_EVENT_OFFSET_COMMIT);
	sub->rk = kafka_client(d, RD_KAFKA_CONSUMER, sub->participant, conf, err, errlen);
	if (sub->rk == NULL)
		return TIDS_EKAFKA;
	kafka_read_ahead_start(&sub->read_ahead, sub->rk);
	if (kafka_watch_queue(d, &sub->commits, rd_kafka_queue_new(sub->rk), commit_done, sub) != 0)
		return tids_fail(err, errlen, TIDS_EIO, "no pipe for the commit queue");
	/* A position this instance kept in SQLite (before positions were on
	 * Kafka) is where the stream starts once, and goes to Kafka. */
	legacy = store_get_u64(d->store, "egress", sub->participant, &next) == 0;
	kerr = committed_assign(&sub->start, sub->rk, sub->topic, 0, legacy ? (int64_t)next : -1);
	if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR)
		return tids_fail(err, errlen, TIDS_EKAFKA, "%s", rd_kafka_err2str(kerr));
	if (legacy) {
		commit_position(d, sub, next);
		if (store_delete_key(d->store, "egress", sub->participant) != 0)
			tids_log_warnx("egress %s: the old position is not removed", sub->participant);
	}
	sub->qw.ready = ready;
	return kafka_watch_consumer(d, &sub->qw, &sub->read_ahead, on_event, sub);
}

/* The subscription's purposes stand (on every instance): the stream starts. */
static void subscribed(struct tidsd *d, struct session *s, uint64_t call_id, void *ctx, int r, const char *err)
{
	struct egress *eg = egress_get(d);
	struct subscription *sub;
	uint32_t window = *(uint32_t *)ctx;
	char why[512];

	free(ctx);
	if (s == NULL)
		return;
	if (r != 0) {
		session_stream_end(d, s, call_id, tids_error_code(r), err);
		return;
	}
	if (eg == NULL) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		return;
	}
	/* Its other connection may have cancelled or closed while its own
	 * Subscribe waited for the hub state (and was not read meanwhile). */
	sub = tids_map_get_str(&eg->active, s->participant);
	if (sub != NULL && sub->s != NULL && sub->s != s) {
		session_catch_up(d, sub->s);
		sub = tids_map_get_str(&eg->active, s->participant);
	}
	if (s->subs != NULL || sub != NULL) {
		session_stream_end(d, s, call_id, CODE_FAILED_PRECONDITION,
				   "this participant is already subscribed on another call or connection");
		return;
	}
	sub = calloc(1, sizeof(*sub));
	if (sub == NULL) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		return;
	}
	sub->s = s;
	sub->call_id = call_id;
	sub->window = window;
	sub->last_progress = mono_ms();
	sub->unacked = calloc(window, sizeof(*sub->unacked));
	if (sub->unacked == NULL) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		free(sub);
		return;
	}
	snprintf(sub->participant, sizeof(sub->participant), "%s", s->participant);
	kafka_topic_name(d, KT_DELIVER, s->participant, sub->topic, sizeof(sub->topic));
	if (tids_map_put_str(&eg->active, sub->participant, sub, NULL) != 0) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		free(sub->unacked);
		free(sub);
		return;
	}
	s->subs = sub;
	if (start_consumer(d, sub, why, sizeof(why)) != 0) {
		s->subs = NULL;
		subscription_retire(d, sub);
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, why);
		return;
	}
	tids_log_info("egress: %s subscribed (window %u)", sub->participant, sub->window);
}

void egress_subscribe(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len)
{
	struct egress *eg = egress_get(d);
	struct tids_subscribe_control c;
	char err[512], text[SUBSCRIPTION_PURPOSES_MAX * (TIDS_NAME_MAX + 1)], actor[200];
	uint32_t *window;
	size_t n = 0;

	if (eg == NULL) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		return;
	}
	if (tids_wire_decode_subscribe_control(body, len, &c, err, sizeof(err)) != 0 || c.is_ack) {
		session_stream_end(d, s, call_id, CODE_INVALID_ARGUMENT, c.is_ack ? "Subscribe starts with start, not ack" : err);
		tids_subscribe_control_free(&c);
		return;
	}
	if (s->subs != NULL || tids_map_get_str(&eg->active, s->participant) != NULL) {
		session_stream_end(d, s, call_id, CODE_FAILED_PRECONDITION,
				   "this participant is already subscribed on another call or connection");
		goto out;
	}
	/* A purpose is not self-asserted: the participant's role must be
	 * allowed it, and one that needs a case needs an open case. */
	{
		const struct participant *p = registry_participant(d, s->participant);

		if (p == NULL || purposes_check_subscribe(d, &p->p, &c.purposes, err, sizeof(err)) != 0) {
			if (p == NULL)
				snprintf(err, sizeof(err), "participant %s is not registered", s->participant);
			tids_log_info("egress: %s refused: %s", s->participant, err);
			session_stream_end(d, s, call_id, CODE_PERMISSION_DENIED, err);
			goto out;
		}
	}
	if (c.purposes.n > SUBSCRIPTION_PURPOSES_MAX) {
		snprintf(err, sizeof(err), "at most %d purposes per subscriber", SUBSCRIPTION_PURPOSES_MAX);
		session_stream_end(d, s, call_id, CODE_INVALID_ARGUMENT, err);
		goto out;
	}
	for (size_t i = 0; i < c.purposes.n; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\n", c.purposes.items[i]);
	window = malloc(sizeof(*window));
	if (window == NULL) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		goto out;
	}
	*window = c.window;
	snprintf(actor, sizeof(actor), "participant %s on %s", s->participant, d->conf->instance);
	/* The purposes stand: the router routes to this participant for them
	 * from now on, also while it is not connected, whichever instance
	 * routes. The stream starts once they are written (if they changed). */
	{
		struct hs_request rq = { .op = HS_SUBSCRIBE, .blob = (const uint8_t *)text, .len = n,
					 .id = s->participant, .actor = actor };

		hubstate_change(d, s, call_id, &rq, subscribed, window);
	}
out:
	tids_subscribe_control_free(&c);
}

void egress_client_item(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len)
{
	struct subscription *sub = s->subs;
	struct tids_subscribe_control c;
	char err[256];

	if (sub == NULL || sub->call_id != call_id) {
		session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, "no open Subscribe call with this call_id", NULL, 0);
		return;
	}
	if (tids_wire_decode_subscribe_control(body, len, &c, err, sizeof(err)) != 0 || !c.is_ack ||
	    c.ack_seq > sub->last_sent) {
		session_reply(d, s, call_id, CODE_INVALID_ARGUMENT,
			      c.is_ack ? "ack names a delivery not sent yet" : "expected an ack", NULL, 0);
		tids_subscribe_control_free(&c);
		return;
	}
	if (c.ack_seq > sub->last_acked) {
		sub->last_acked = c.ack_seq;
		unacked_pop_through(sub, c.ack_seq);
		progress(sub);
		metrics_add(&d->metrics->subscriber_acks, 1);
		/* delivery_seq is offset + 1: the next offset to read. */
		commit_position(d, sub, c.ack_seq);
	}
	tids_subscribe_control_free(&c);
	kafka_queue_pump(d, &sub->qw);
}

/* Says once per episode why a stream has not moved for STALL_LOG_MS: the
 * subscriber does not acknowledge (its window is full), or does not read
 * (its connection's send buffer is full). A stream with nothing to send
 * is not stuck, and says nothing. */
void egress_tick(struct tidsd *d)
{
	int64_t now = mono_ms();
	struct subscription *sub;
	size_t pos = 0;

	if (d->egress == NULL)
		return;
	while ((sub = tids_map_next(&d->egress->active, &pos)) != NULL) {
		if (sub->commit_in_flight == 0 && sub->commit_pending != 0 && now >= sub->commit_retry_at)
			commit_position(d, sub, sub->commit_pending);
		if (sub->s == NULL || sub->stall_logged || now - sub->last_progress < STALL_LOG_MS)
			continue;
		if (sub->n_unacked >= sub->window) {
			tids_log_warnx("egress %s: no acknowledgement for %lld s: all %u deliveries of its window are "
				       "unacknowledged (delivery_seq %llu to %llu; last acknowledged %llu); nothing more "
				       "is sent until the subscriber acknowledges",
				       sub->participant, (long long)((now - sub->last_progress) / 1000), sub->window,
				       (unsigned long long)sub->unacked[sub->head],
				       (unsigned long long)sub->unacked[(sub->head + sub->n_unacked - 1) % sub->window],
				       (unsigned long long)sub->last_acked);
			sub->stall_logged = true;
		} else if (!session_can_send(d, sub->s)) {
			tids_log_warnx("egress %s: the subscriber has read nothing for %lld s (%zu bytes wait in its "
				       "connection); nothing more is sent until it reads",
				       sub->participant, (long long)((now - sub->last_progress) / 1000), sub->s->out.len);
			sub->stall_logged = true;
		}
	}
}

void egress_cancel(struct tidsd *d, struct session *s, uint64_t call_id)
{
	struct subscription *sub = s->subs;

	if (sub == NULL || sub->call_id != call_id)
		return;
	s->subs = NULL;
	subscription_retire(d, sub);
	session_stream_end(d, s, call_id, CODE_OK, "cancelled");
}

void egress_resume(struct tidsd *d, struct session *s)
{
	if (s->subs != NULL)
		kafka_queue_pump(d, &s->subs->qw);
}

void egress_forget_session(struct tidsd *d, struct session *s)
{
	struct subscription *sub = s->subs;

	if (sub == NULL)
		return;
	s->subs = NULL;
	subscription_retire(d, sub);
}

void egress_free(struct tidsd *d)
{
	size_t pos = 0;
	struct cached_key *k;

	if (d->egress == NULL)
		return;
	egress_reap(d);
	while ((k = tids_map_next(&d->egress->keys, &pos)) != NULL)
		cached_key_free(d->egress, k);
	tids_map_free(&d->egress->keys);
	tids_secmem_pool_free(d->egress->pool);
	tids_map_free(&d->egress->active);
	free(d->egress);
	d->egress = NULL;
}
