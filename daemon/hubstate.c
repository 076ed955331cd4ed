/*
 * The hub's state on Kafka. Every registry change (participants, assets,
 * peers, grants with their wrapped keys, approvals and their revocations,
 * subscriptions, suspensions, the hub data key) is an entry of the
 * compacted registry topic; each instance applies the entries in topic
 * order to its SQLite view and its memory, so that a change made through
 * any instance reaches every instance, and a new instance (or one whose
 * view is lost) rebuilds its view from the topic.
 *
 * Writing. One instance of the hub at a time holds the writer role: the
 * registry writer's transactional id is the hub's, not the instance's, so
 * that an instance taking the role (init_transactions) fences whoever had
 * it. A change is checked against this instance's view, then the writer
 * (a thread: Kafka's transaction calls block) checks, holding the role,
 * that the topic ends where the view ends, i.e. that the check saw every
 * change before it, and commits the entries. Should another instance
 * have written first, the view catches up and the change is checked again.
 * So changes are linearizable: two admins changing the same thing get the
 * topic's order (the later one wins, or is refused if it no longer makes
 * sense, e.g. a second grant under one id), and both are kept, with who
 * made them, on the uncompacted change log.
 *
 * Authenticity. Kafka is trusted with neither integrity nor keys: each
 * entry carries a sequence (one above the entry before it) and a MAC under
 * a key derived from the hub's master key, which every instance holds; an
 * entry that fails either is refused loudly and not applied. Keys travel
 * wrapped under the master key.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/seal.h"
#include "tidsd.h"

#define START_TIMEOUT_MS 120000        /* reading the topic at start */
#define CHANGE_TIMEOUT_MS 60000        /* a change that cannot be written in this time fails */
#define RETRY_MS 1000
#define ATTEMPTS_MAX 100               /* checked again after another instance wrote first */
#define LATENCY_SAMPLES 4096

/* The record kinds of the registry topic: Kafka key "<prefix>/<id>". */
static const struct {
	const char *prefix;
	bool has_id;
} kinds[HS_KIND_COUNT] = {
	[HS_HUB] = { "hub", false },
	[HS_HUBKEY] = { "hubkey", true },
	[HS_PARTICIPANT] = { "participant", true },
	[HS_ASSET] = { "asset", true },
	[HS_PEER] = { "peer", true },
	[HS_GRANT] = { "grant", true },
	[HS_APPROVAL] = { "approval", true },
	[HS_SUBSCRIPTION] = { "subscription", true },
};

/* The one hub data key's label (as the registry kept it before). */
#define HUBKEY_ID "ingress"

/* --- the writer thread ------------------------------------------------------- */

struct hs_msg {
	bool on_changes;                       /* the change log, else the registry */
	char key[TIDS_STATE_KEY_MAX + 1];
	uint8_t *value;
	size_t len;
	uint8_t seq[8];
	uint8_t mac[TIDS_STATE_MAC_BYTES];
};

enum { JOB_STALE = 1, JOB_CURRENT = 2 };

struct hs_job {
	int64_t view_end;                      /* the check saw every entry before this offset */
	bool probe;                            /* no entries: is the view current (JOB_CURRENT)? */
	struct hs_msg *msgs;
	size_t n, n_registry;
	int result;                            /* 0, JOB_STALE or a TIDS_E* code */
	int64_t end;                           /* after our entries; or the topic's end when stale */
	char err[256];
};

struct writer {
	pthread_t thread;
	bool started;
	atomic_int stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct hs_job *in, *out;
	int out_fd;                            /* eventfd: a result for the loop */
	struct watch out_watch;
	rd_kafka_conf_t *conf;
	char txn_id[400];
	char t_registry[256], t_changes[256];
	rd_kafka_t *producer;                  /* holds the writer role while not fenced */
	unsigned fenced;                       /* times in a row another instance took it */
	rd_kafka_t *meta;                      /* asks for watermarks, never fenced */
};

/* --- changes waiting ---------------------------------------------------------- */

enum pending_state { PS_READY, PS_WRITING, PS_WAIT_VIEW, PS_WAIT_APPLY, PS_RETRY };

struct hs_pending {
	struct hs_pending *next;
	enum hs_op op;
	uint8_t *blob;
	size_t len;
	char id[TIDS_ID_MAX + 1];
	bool flag;
	bool has_caller;
	char caller[TIDS_ID_MAX + 1];
	char actor[200];
	struct session *s;
	uint64_t call_id;
	hs_done_fn *done;
	void *ctx;
	enum pending_state state;
	int64_t wait_end;
	int64_t retry_at;
	int64_t deadline;
	uint64_t seq_first, seq_last;
	int attempts;
	bool probed;                           /* refused once: asked whether the view was current */
	int r;
	char err[512];
};

struct hubstate {
	rd_kafka_t *rk;                        /* the applier: reads the registry topic */
	rd_kafka_queue_t *q;
	int q_pipe[2];                         /* its queue became non-empty */
	struct watch qw;
	bool watching;
	char topic[256], changes[256];
	uint8_t mac_key[32];
	int64_t start_offset;
	int64_t applied_end;                   /* every entry before this offset is applied */
	int64_t start_end;                     /* the topic's end at start */
	uint64_t seq;                          /* of the last entry applied */
	bool have_identity;
	uint8_t genesis[TIDS_HUB_GENESIS_BYTES];
	bool writing;                          /* the head change is with the writer */
	struct hs_pending *pending;
	struct writer w;
	uint64_t applied, refused, written;
	int64_t latency[LATENCY_SAMPLES];      /* ms from write to apply here, for others' entries */
	size_t n_latency;
	bool live;                         /* read to its end at start: entries from now on propagate */
	uint64_t remote;
	int64_t last_report;
	uint64_t reported;                     /* remote, when last reported */
};

static void pump(struct tidsd *d);

/* --- batches -------------------------------------------------------------------- */

int hs_batch_add(struct hs_batch *b, enum hs_kind kind, const char *id, const uint8_t *body, size_t len,
		 const uint8_t *wrapped, int64_t revoked_at_ms)
{
	struct hs_item *it;

	if (b->n == b->cap) {
		size_t cap = b->cap > 0 ? b->cap * 2 : 8;
		struct hs_item *grown = realloc(b->items, cap * sizeof(*grown));

		if (grown == NULL)
			return TIDS_ENOMEM;
		b->items = grown;
		b->cap = cap;
	}
	it = &b->items[b->n];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	snprintf(it->id, sizeof(it->id), "%s", id != NULL ? id : "");
	if (len > 0) {
		it->body = malloc(len);
		if (it->body == NULL)
			return TIDS_ENOMEM;
		memcpy(it->body, body, len);
		it->len = len;
	}
	if (wrapped != NULL) {
		memcpy(it->wrapped, wrapped, sizeof(it->wrapped));
		it->has_key = true;
	}
	it->revoked_at_ms = revoked_at_ms;
	b->n++;
	return 0;
}

void hs_batch_free(struct hs_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].body);
		sodium_memzero(b->items[i].wrapped, sizeof(b->items[i].wrapped));
	}
	free(b->items);
	memset(b, 0, sizeof(*b));
}

static void entry_key(enum hs_kind kind, const char *id, char *buf, size_t len)
{
	if (kinds[kind].has_id)
		snprintf(buf, len, "%s/%s", kinds[kind].prefix, id);
	else
		snprintf(buf, len, "%s", kinds[kind].prefix);
}

/* "<prefix>/<id>" -> kind and id; -1 if it names nothing we know. */
static int parse_key(const rd_kafka_message_t *m, char *id, size_t idlen)
{
	char key[TIDS_STATE_KEY_MAX + 1];
	const char *slash;

	memcpy(key, m->key, m->key_len);
	key[m->key_len] = '\0';
	slash = strchr(key, '/');
	for (int k = 0; k < HS_KIND_COUNT; k++) {
		size_t n = strlen(kinds[k].prefix);

		if (!kinds[k].has_id) {
			if (strcmp(key, kinds[k].prefix) == 0) {
				*id = '\0';
				return k;
			}
			continue;
		}
		if (slash == NULL || (size_t)(slash - key) != n || strncmp(key, kinds[k].prefix, n) != 0)
			continue;
		if (!tids_valid_id(slash + 1) || strlen(slash + 1) >= idlen)
			return -1;
		snprintf(id, idlen, "%s", slash + 1);
		return k;
	}
	return -1;
}

/* --- the writer thread ---------------------------------------------------------- */

static void drain_events(rd_kafka_t *rk)
{
	rd_kafka_queue_t *q = rd_kafka_queue_get_main(rk);
	rd_kafka_event_t *ev;

	while ((ev = rd_kafka_queue_poll(q, 0)) != NULL) {
		const char *fac, *str;
		int level;

		/* Being fenced is how another instance takes the writer role:
		 * not an error, and said once, plainly, by take_role. */
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR && rd_kafka_event_error_is_fatal(ev))
			;
		else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LOG && rd_kafka_event_log(ev, &fac, &str, &level) == 0 &&
			 (strstr(str, "fenced") != NULL || strstr(str, "old epoch") != NULL))
			tids_log_debug("hub state: kafka: %s: %s", fac, str);
		else
			kafka_log_event(NULL, ev);
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_queue_destroy(q);
}

/* What the writer's producer says as it is fenced and destroyed. */
static void writer_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (strstr(buf, "fenced") != NULL || strstr(buf, "old epoch") != NULL)
		tids_log_debug("hub state: kafka: %s: %s", fac, buf);
	else
		kafka_log_cb(rk, level, fac, buf);
}

static void drop_producer(struct writer *w)
{
	if (w->producer == NULL)
		return;
	drain_events(w->producer);
	rd_kafka_destroy(w->producer);
	w->producer = NULL;
}

static int take_role(struct writer *w, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf;
	rd_kafka_error_t *e;

	if (w->producer != NULL && rd_kafka_fatal_error(w->producer, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	if (w->producer != NULL)
		tids_log_info("hub state: another instance wrote since; taking the writer role back");
	drop_producer(w);
	conf = rd_kafka_conf_dup(w->conf);
	if (rd_kafka_conf_set(conf, "transactional.id", w->txn_id, err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "transaction.timeout.ms", "15000", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "linger.ms", "0", err, errlen) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG);
	rd_kafka_conf_set_log_cb(conf, writer_log_cb);
	w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
	if (w->producer == NULL) {
		rd_kafka_conf_destroy(conf);
		return TIDS_EKAFKA;
	}
	rd_kafka_set_log_queue(w->producer, NULL);
	/* Fences the instance that had the role, and aborts what it had open. */
	e = rd_kafka_init_transactions(w->producer, 30000);
	if (e != NULL) {
		tids_fail(err, errlen, TIDS_EUNAVAIL, "the registry writer role: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		drop_producer(w);
		return TIDS_EUNAVAIL;
	}
	return 0;
}

static int topic_end(struct writer *w, int64_t *end, char *err, size_t errlen)
{
	int64_t lo = 0, hi = 0;
	rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(w->meta, w->t_registry, 0, &lo, &hi, 10000);

	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return tids_fail(err, errlen, TIDS_EUNAVAIL, "%s: %s", w->t_registry, rd_kafka_err2str(e));
	*end = hi;
	return 0;
}

static void run_job(struct writer *w, struct hs_job *job)
{
	rd_kafka_error_t *e = NULL;
	int64_t end;
	size_t i;

	/* A change refused by a view that may be behind: does the topic end
	 * where the view ends? No role needed to ask, nor taken from another. */
	if (job->probe) {
		if ((job->result = topic_end(w, &end, job->err, sizeof(job->err))) == 0) {
			job->result = end != job->view_end ? JOB_STALE : JOB_CURRENT;
			job->end = end;
		}
		return;
	}
	job->result = take_role(w, job->err, sizeof(job->err));
	if (job->result != 0)
		return;
	if ((job->result = topic_end(w, &end, job->err, sizeof(job->err))) != 0)
		return;
	/* Holding the role, nobody else writes: if the topic ends where the
	 * view that checked this change ended, the check saw everything. */
	if (end != job->view_end) {
		job->result = JOB_STALE;
		job->end = end;
		return;
	}
	if ((e = rd_kafka_begin_transaction(w->producer)) != NULL)
		goto fail;
	for (i = 0; i < job->n; i++) {
		struct hs_msg *m = &job->msgs[i];
		rd_kafka_headers_t *h = rd_kafka_headers_new(2);
		rd_kafka_resp_err_t pe;

		rd_kafka_header_add(h, TIDS_STATE_HEADER_SEQ, -1, m->seq, sizeof(m->seq));
		rd_kafka_header_add(h, TIDS_STATE_HEADER_MAC, -1, m->mac, sizeof(m->mac));
		pe = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(m->on_changes ? w->t_changes : w->t_registry),
				       RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(m->key, strlen(m->key)),
				       RD_KAFKA_V_VALUE(m->value, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				       RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
		if (pe != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_headers_destroy(h);
			tids_fail(job->err, sizeof(job->err), TIDS_EUNAVAIL, "%s", rd_kafka_err2str(pe));
			e = rd_kafka_abort_transaction(w->producer, 30000);
			job->result = TIDS_EUNAVAIL;
			if (e != NULL) {
				rd_kafka_error_destroy(e);
				drop_producer(w);
			}
			return;
		}
	}
	if ((e = rd_kafka_commit_transaction(w->producer, 30000)) != NULL)
		goto fail;
	job->result = 0;
	job->end = end + (int64_t)job->n_registry;
	w->fenced = 0;
	drain_events(w->producer);
	return;
fail:
	snprintf(job->err, sizeof(job->err), "%s", rd_kafka_error_string(e));
	if (rd_kafka_error_is_fatal(e)) {
		/* Fenced: another instance holds the role now, and may have
		 * written. Check again once the view has caught up, after a
		 * random while that grows while it happens again, so that two
		 * instances writing at once do not take the role from each other
		 * forever. */
		unsigned shift = w->fenced < 5 ? w->fenced : 5;

		w->fenced++;
		drop_producer(w);
		usleep((useconds_t)(randombytes_uniform(50000u << shift) + 20000));
		job->result = topic_end(w, &job->end, job->err, sizeof(job->err)) == 0 ? JOB_STALE : TIDS_EUNAVAIL;
	} else {
		if (rd_kafka_error_txn_requires_abort(e)) {
			rd_kafka_error_t *ae = rd_kafka_abort_transaction(w->producer, 30000);

			if (ae != NULL) {
				rd_kafka_error_destroy(ae);
				drop_producer(w);
			}
		}
		job->result = TIDS_EUNAVAIL;
	}
	rd_kafka_error_destroy(e);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t one = 1;

	pthread_setname_np(pthread_self(), "tidsd-hubstate");
	for (;;) {
		struct hs_job *job;

		pthread_mutex_lock(&w->lock);
		while (!w->stop && w->in == NULL)
			pthread_cond_wait(&w->cond, &w->lock);
		job = w->in;
		w->in = NULL;
		pthread_mutex_unlock(&w->lock);
		if (job == NULL)
			break;
		run_job(w, job);
		pthread_mutex_lock(&w->lock);
		w->out = job;
		pthread_mutex_unlock(&w->lock);
		if (write(w->out_fd, &one, sizeof(one)) < 0)
			tids_log_warn("hub state: wake");
	}
	drop_producer(w);
	return NULL;
}

/* --- applying entries ---------------------------------------------------------- */

static void store_position(struct tidsd *d)
{
	struct hubstate *hs = d->hubstate;

	if (store_set_u64(d->store, "view", "next", (uint64_t)hs->applied_end) != 0 ||
	    store_set_u64(d->store, "view", "seq", hs->seq) != 0)
		tids_log_warnx("hub state: the view's position could not be stored");
}

static int apply_identity(struct tidsd *d, const struct tids_hub_state *e, char *err, size_t errlen)
{
	struct hubstate *hs = d->hubstate;
	struct tids_hub_identity id;
	char ours[TIDS_KEY_BASE64_BYTES], theirs[TIDS_KEY_BASE64_BYTES];
	int r;

	if ((r = tids_wire_decode_hub_identity(e->body.data, e->body.len, &id, err, errlen)) != 0)
		return r;
	if (strcmp(id.hub_id, d->conf->hub_id) != 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "the registry topic is hub %s's", id.hub_id);
		goto out;
	}
	if (hs->have_identity && sodium_memcmp(hs->genesis, id.genesis, sizeof(hs->genesis)) != 0) {
		r = tids_fail(err, errlen, TIDS_EEXIST, "a second identity of the hub (the first stands)");
		goto out;
	}
	if (sodium_memcmp(id.sign_key, d->hub.sign_pk, TIDS_PUBLIC_KEY_BYTES) != 0) {
		tids_key_to_base64(d->hub.sign_pk, ours);
		tids_key_to_base64(id.sign_key, theirs);
		/* Two keys for one hub would sign two histories. */
		fatalx("hub.key %s is not hub %s's key: this instance has public key %s, the hub's (on %s) is %s; "
		       "every instance of a hub needs the same hub key", d->conf->hub_key, d->conf->hub_id, ours,
		       hs->topic, theirs);
	}
	memcpy(hs->genesis, id.genesis, sizeof(hs->genesis));
	hs->have_identity = true;
	if (store_set_blob(d->store, "view", "genesis", id.genesis, sizeof(id.genesis)) != 0)
		r = tids_fail(err, errlen, TIDS_EDB, "the hub's identity could not be stored");
out:
	tids_hub_identity_free(&id);
	return r;
}

static int apply_hubkey(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err, size_t errlen)
{
	uint8_t have[TIDS_SEAL_WRAPPED_KEY_BYTES], key[TIDS_SEAL_KEY_BYTES];
	size_t len;

	if (strcmp(id, HUBKEY_ID) != 0 || e->wrapped_key.len != TIDS_SEAL_WRAPPED_KEY_BYTES)
		return tids_fail(err, errlen, TIDS_EINVAL, "hub key entry %s is malformed", id);
	/* Records on Kafka are sealed under it: it is made once, never replaced. */
	if (store_get_blob(d->store, "hub_key", HUBKEY_ID, have, sizeof(have), &len) == 0 && len == sizeof(have) &&
	    memcmp(have, e->wrapped_key.data, len) != 0)
		return tids_fail(err, errlen, TIDS_EEXIST, "a second hub data key (the first stands)");
	if (keys_unwrap_from_hub(d, HUBKEY_ID, e->wrapped_key.data, key) != 0)
		fatalx("the hub data key on %s does not unwrap under this instance's master key: every instance of "
		       "a hub needs the hub's master key (hub.master_key, or the credential master.key)",
		       d->hubstate->topic);
	sodium_memzero(key, sizeof(key));
	if (store_set_blob(d->store, "hub_key", HUBKEY_ID, e->wrapped_key.data, e->wrapped_key.len) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "the hub data key could not be stored");
	return 0;
}

static void note_latency(struct hubstate *hs, const struct tids_hub_state *e, const char *instance)
{
	int64_t ms;

	/* Entries read at start were written before this instance ran: their
	 * age is not a propagation delay. */
	if (!hs->live || e->instance == NULL || strcmp(e->instance, instance) == 0 || e->at_ms <= 0)
		return;
	ms = now_ms() - e->at_ms;
	hs->latency[hs->remote % LATENCY_SAMPLES] = ms < 0 ? 0 : ms;
	hs->remote++;
	if (hs->n_latency < LATENCY_SAMPLES)
		hs->n_latency++;
}

static void apply_message(struct tidsd *d, const rd_kafka_message_t *m)
{
	struct hubstate *hs = d->hubstate;
	struct tids_state_message sm = { .topic = hs->topic, .key = m->key, .key_len = m->key_len,
					 .value = m->payload, .len = m->len };
	struct tids_hub_state e;
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t n;
	char id[TIDS_ID_MAX + 1], err[512];
	uint64_t seq;
	int kind, r;

	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (rd_kafka_header_get_last(h, TIDS_STATE_HEADER_MAC, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			sm.mac = v;
			sm.mac_len = n;
		}
		if (rd_kafka_header_get_last(h, TIDS_STATE_HEADER_SEQ, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			sm.seq = v;
			sm.seq_len = n;
		}
	}
	hs->applied_end = m->offset + 1;
	if (tids_wire_open_hub_state(hs->mac_key, &sm, &e, &seq, err, sizeof(err)) != 0) {
		/* Not written by this hub's instances, or changed since: someone
		 * with write access to Kafka. Never applied; said loudly. */
		tids_log_warnx("hub state: entry at offset %lld refused, not applied: %s", (long long)m->offset, err);
		hs->refused++;
		goto out;
	}
	if (seq <= hs->seq) {
		tids_log_warnx("hub state: entry at offset %lld refused, not applied: sequence %llu is not above %llu "
			       "(an old entry written again)", (long long)m->offset, (unsigned long long)seq,
			       (unsigned long long)hs->seq);
		hs->refused++;
		tids_hub_state_free(&e);
		goto out;
	}
	hs->seq = seq;
	kind = parse_key(m, id, sizeof(id));
	if (kind < 0)
		r = tids_fail(err, sizeof(err), TIDS_EUNKNOWN, "its key names nothing this tidsd knows");
	else if (kind == HS_HUB)
		r = apply_identity(d, &e, err, sizeof(err));
	else if (kind == HS_HUBKEY)
		r = apply_hubkey(d, id, &e, err, sizeof(err));
	else
		r = registry_apply(d, (enum hs_kind)kind, id, &e, err, sizeof(err));
	if (r != 0) {
		/* Authentic but not applicable here (e.g. a kind a newer tidsd
		 * writes): the same on every instance of this version. */
		tids_log_warnx("hub state: entry %.*s (sequence %llu) not applied: %s", (int)m->key_len,
			       (const char *)m->key, (unsigned long long)seq, err);
		if (hs->pending != NULL && hs->pending->state == PS_WAIT_APPLY && seq >= hs->pending->seq_first &&
		    seq <= hs->pending->seq_last && hs->pending->r == 0) {
			hs->pending->r = r;
			snprintf(hs->pending->err, sizeof(hs->pending->err), "%.255s", err);
		}
	} else {
		hs->applied++;
		note_latency(hs, &e, d->conf->instance);
	}
	tids_hub_state_free(&e);
out:
	store_position(d);
}

/* The applier's queue has messages: apply them all. Read with
 * consumer_poll, which gives the end of the partition with its offset
 * (the event API gives it as an error without one). */
static void on_ready(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct hubstate *hs = w->ctx;
	rd_kafka_message_t *m;
	char buf[64];

	(void)events;
	while (read(hs->q_pipe[0], buf, sizeof(buf)) > 0)
		;
	while ((m = rd_kafka_consumer_poll(hs->rk, 0)) != NULL) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			/* Transaction markers count: the end is where the writer
			 * will find it. */
			if (m->offset > hs->applied_end) {
				hs->applied_end = m->offset;
				store_position(d);
			}
		} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			tids_log_warnx("hub state: %s", rd_kafka_message_errstr(m));
		} else {
			apply_message(d, m);
		}
		rd_kafka_message_destroy(m);
	}
	pump(d);
}

/* --- changes -------------------------------------------------------------------- */

static void pending_free(struct hs_pending *p)
{
	free(p->blob);
	free(p);
}

static void finish(struct tidsd *d, struct hs_pending *p, int r, const char *err)
{
	struct hubstate *hs = d->hubstate;
	struct session *s = p->s;

	hs->pending = p->next;
	/* The view holds what the answer says (a revoked grant's key is gone
	 * from this instance's disk too) before the caller hears it. */
	if (store_commit(d->store) != 0 && r == 0) {
		r = TIDS_EDB;
		err = "the view of the hub state could not be written";
	}
	if (r != 0 && p->s == NULL && p->done == NULL)
		tids_log_warnx("hub state: %s: %s", p->actor, err);
	if (p->done != NULL)
		p->done(d, s, p->call_id, p->ctx, r, err);
	if (s != NULL) {
		s->waiting = false;
		/* A change it made to its own rights takes effect now that it
		 * has its answer. */
		if (s->recheck)
			session_recheck(d, s, "its own call");
		session_resume(d, s);
	}
	pending_free(p);
}

/* Builds the messages of b: seq follows the view's last; every entry goes
 * to the registry, and without its key to the change log. */
static int build_job(struct tidsd *d, struct hs_pending *p, const struct hs_batch *b, struct hs_job *job)
{
	struct hubstate *hs = d->hubstate;
	int64_t at = now_ms();

	memset(job, 0, sizeof(*job));
	job->msgs = calloc(b->n * 2, sizeof(*job->msgs));
	if (job->msgs == NULL)
		return TIDS_ENOMEM;
	job->n_registry = b->n;
	job->view_end = hs->applied_end;
	p->seq_first = hs->seq + 1;
	for (size_t i = 0; i < b->n * 2; i++) {
		const struct hs_item *it = &b->items[i % b->n];
		struct hs_msg *m = &job->msgs[job->n];
		struct tids_hub_state e = {
			.body = { it->body, it->len }, .revoked_at_ms = it->revoked_at_ms, .actor = p->actor,
			.instance = d->conf->instance, .at_ms = at,
		};
		uint64_t seq = hs->seq + 1 + i % b->n;

		m->on_changes = i >= b->n;
		if (it->has_key && !m->on_changes)
			e.wrapped_key = (struct tids_bytes){ it->wrapped, sizeof(it->wrapped) };
		entry_key(it->kind, it->id, m->key, sizeof(m->key));
		if (tids_wire_encode_hub_state(&e, &m->value, &m->len) != 0)
			return TIDS_ENOMEM;
		job->n++;
		for (int k = 7; k >= 0; k--, seq >>= 8)
			m->seq[k] = (uint8_t)seq;
		tids_state_mac(hs->mac_key, m->on_changes ? hs->changes : hs->topic, (const uint8_t *)m->key,
			       strlen(m->key), hs->seq + 1 + i % b->n, m->value, m->len, m->mac);
	}
	p->seq_last = hs->seq + b->n;
	return 0;
}

static void job_free(struct hs_job *job)
{
	if (job == NULL)
		return;
	for (size_t i = 0; i < job->n; i++) {
		sodium_memzero(job->msgs[i].value, job->msgs[i].len);
		free(job->msgs[i].value);
	}
	free(job->msgs);
	free(job);
}

static int prepare_bootstrap(struct tidsd *d, struct hs_batch *b, char *err, size_t errlen);

/* Checks the head change against the view and hands its entries to the
 * writer. */
static void submit(struct tidsd *d, struct hs_pending *p)
{
	struct hubstate *hs = d->hubstate;
	struct hs_request rq = { .op = p->op, .blob = p->blob, .len = p->len, .id = p->id, .flag = p->flag,
				 .caller = p->has_caller ? p->caller : NULL, .actor = p->actor };
	struct hs_batch b = { 0 };
	struct hs_job *job;
	char err[512];
	int r;

	r = p->op == HS_BOOTSTRAP ? prepare_bootstrap(d, &b, err, sizeof(err))
				  : registry_prepare(d, &rq, &b, err, sizeof(err));
	/* Refused: perhaps by a view that has not yet applied a change made
	 * through another instance and acknowledged there (a participant an
	 * asset names). Once, the writer says whether the topic ends where
	 * the view ends; if not, the change is checked again once the view
	 * has caught up, so that a refusal, like a change, saw every change
	 * before it. */
	if (r != 0 && r != TIDS_ENOMEM && p->op != HS_BOOTSTRAP && !p->probed &&
	    (job = calloc(1, sizeof(*job))) != NULL) {
		hs_batch_free(&b);
		p->probed = true;
		p->r = r;
		snprintf(p->err, sizeof(p->err), "%s", err);
		job->probe = true;
		job->view_end = hs->applied_end;
		p->state = PS_WRITING;
		hs->writing = true;
		pthread_mutex_lock(&hs->w.lock);
		hs->w.in = job;
		pthread_cond_signal(&hs->w.cond);
		pthread_mutex_unlock(&hs->w.lock);
		return;
	}
	if (r != 0 || b.n == 0) {
		hs_batch_free(&b);
		finish(d, p, r, err);
		return;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL || build_job(d, p, &b, job) != 0) {
		hs_batch_free(&b);
		job_free(job);
		finish(d, p, TIDS_ENOMEM, "out of memory");
		return;
	}
	hs_batch_free(&b);
	p->state = PS_WRITING;
	hs->writing = true;
	pthread_mutex_lock(&hs->w.lock);
	hs->w.in = job;
	pthread_cond_signal(&hs->w.cond);
	pthread_mutex_unlock(&hs->w.lock);
}

/* Moves the head change on as far as it can go now. */
static void pump(struct tidsd *d)
{
	struct hubstate *hs = d->hubstate;
	struct hs_pending *p;

	while (hs != NULL && !hs->writing && (p = hs->pending) != NULL) {
		int64_t now = mono_ms();

		if (now > p->deadline) {
			finish(d, p, TIDS_EUNAVAIL, *p->err != '\0' ? p->err : "the hub state could not be written in time");
			continue;
		}
		switch (p->state) {
		case PS_READY:
			submit(d, p);
			continue;
		case PS_WAIT_VIEW:
			if (hs->applied_end < p->wait_end)
				return;
			p->state = PS_READY;
			continue;
		case PS_WAIT_APPLY:
			if (hs->applied_end < p->wait_end)
				return;
			finish(d, p, p->r, p->err);
			continue;
		case PS_RETRY:
			if (now < p->retry_at)
				return;
			p->state = PS_READY;
			continue;
		case PS_WRITING:
			return;
		}
	}
}

static void on_result(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct hubstate *hs = w->ctx;
	struct hs_pending *p = hs->pending;
	struct hs_job *job;
	uint64_t n;

	(void)events;
	if (read(hs->w.out_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		tids_log_warn("hub state: result");
	pthread_mutex_lock(&hs->w.lock);
	job = hs->w.out;
	hs->w.out = NULL;
	pthread_mutex_unlock(&hs->w.lock);
	if (job == NULL) {
		pump(d);   /* a kick from hubstate_change */
		return;
	}
	hs->writing = false;
	if (p != NULL && p->state == PS_WRITING && job->probe) {
		if (job->result == JOB_STALE) {
			p->r = 0;
			p->err[0] = '\0';
			p->state = PS_WAIT_VIEW;
			p->wait_end = job->end;
		} else {
			/* Current (or Kafka cannot say): the refusal stands. */
			finish(d, p, p->r, p->err);
		}
	} else if (p != NULL && p->state == PS_WRITING) {
		if (job->result == 0) {
			hs->written++;
			p->state = PS_WAIT_APPLY;
			p->wait_end = job->end;
		} else if (job->result == JOB_STALE) {
			/* Another instance wrote first: check again on a view that
			 * has what it wrote. */
			if (++p->attempts > ATTEMPTS_MAX) {
				finish(d, p, TIDS_EUNAVAIL, "the hub state kept changing under this change; try again");
			} else {
				p->state = PS_WAIT_VIEW;
				p->wait_end = job->end;
			}
		} else {
			tids_log_warnx("hub state: %s not written yet: %s", p->actor, job->err);
			snprintf(p->err, sizeof(p->err), "the hub state could not be written: %.200s", job->err);
			p->state = PS_RETRY;
			p->retry_at = mono_ms() + RETRY_MS;
		}
	}
	job_free(job);
	pump(d);
}

void hubstate_change(struct tidsd *d, struct session *s, uint64_t call_id, const struct hs_request *rq,
		     hs_done_fn *done, void *ctx)
{
	struct hubstate *hs = d->hubstate;
	struct hs_pending *p = calloc(1, sizeof(*p)), **pp;
	uint64_t one = 1;

	if (p == NULL || (rq->len > 0 && (p->blob = malloc(rq->len)) == NULL)) {
		free(p);
		if (done != NULL)
			done(d, s, call_id, ctx, TIDS_ENOMEM, "out of memory");
		return;
	}
	p->op = rq->op;
	if (rq->len > 0)
		memcpy(p->blob, rq->blob, rq->len);
	p->len = rq->len;
	snprintf(p->id, sizeof(p->id), "%s", rq->id != NULL ? rq->id : "");
	p->flag = rq->flag;
	if (rq->caller != NULL) {
		p->has_caller = true;
		snprintf(p->caller, sizeof(p->caller), "%s", rq->caller);
	}
	snprintf(p->actor, sizeof(p->actor), "%s", rq->actor != NULL ? rq->actor : "hub");
	p->s = s;
	p->call_id = call_id;
	p->done = done;
	p->ctx = ctx;
	p->deadline = mono_ms() + CHANGE_TIMEOUT_MS;
	if (s != NULL)
		s->waiting = true;
	for (pp = &hs->pending; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = p;
	/* Moved on from the loop, never inside the call that asked: its
	 * answer may resume the session, which would serve its next frames
	 * in the middle of this one. */
	if (write(hs->w.out_fd, &one, sizeof(one)) < 0)
		tids_log_warn("hub state: kick");
}

bool hubstate_pending(const struct tidsd *d, enum hs_op op, const char *id)
{
	for (const struct hs_pending *p = d->hubstate != NULL ? d->hubstate->pending : NULL; p != NULL; p = p->next)
		if (p->op == op && strcmp(p->id, id) == 0)
			return true;
	return false;
}

void hubstate_forget_session(struct tidsd *d, struct session *s)
{
	for (struct hs_pending *p = d->hubstate != NULL ? d->hubstate->pending : NULL; p != NULL; p = p->next)
		if (p->s == s)
			p->s = NULL;
}

/* --- a new hub, or one that kept its registry in SQLite only -------------------- */

struct legacy {
	struct tidsd *d;
	struct hs_batch *b;
	enum hs_kind kind;
	int r;
};

static int add_legacy(void *ctx, const char *id, const uint8_t *blob, size_t len)
{
	struct legacy *l = ctx;
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	uint64_t revoked = 0;

	if (l->kind == HS_GRANT && keys_grant_export(l->d, id, wrapped) != 0)
		return 0;   /* shredded: nothing to carry */
	if (l->kind == HS_APPROVAL && store_get_u64(l->d->store, "approval_revoked", id, &revoked) != 0)
		revoked = 0;
	l->r = hs_batch_add(l->b, l->kind, id, blob, len, l->kind == HS_GRANT ? wrapped : NULL, (int64_t)revoked);
	sodium_memzero(wrapped, sizeof(wrapped));
	return l->r;
}

/* The hub's identity and data key, and what the view held without a topic
 * behind it (a registry from before the hub state was on Kafka, or, in
 * embedded mode, the registry of the last run): all in one transaction. */
static int prepare_bootstrap(struct tidsd *d, struct hs_batch *b, char *err, size_t errlen)
{
	static const struct { enum store_kind store; enum hs_kind kind; } legacy_kinds[] = {
		{ STORE_PARTICIPANT, HS_PARTICIPANT }, { STORE_ASSET, HS_ASSET }, { STORE_PEER, HS_PEER },
		{ STORE_GRANT, HS_GRANT }, { STORE_APPROVAL, HS_APPROVAL }, { STORE_SUBSCRIPTION, HS_SUBSCRIPTION },
	};
	struct tids_hub_identity id = { .hub_id = d->conf->hub_id };
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES], key[TIDS_SEAL_KEY_BYTES], *blob;
	size_t len;
	int r;

	if (d->hubstate->have_identity)
		return 0;   /* another instance made it first */
	memcpy(id.sign_key, d->hub.sign_pk, sizeof(id.sign_key));
	randombytes_buf(id.genesis, sizeof(id.genesis));
	if (tids_wire_encode_hub_identity(&id, &blob, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = hs_batch_add(b, HS_HUB, NULL, blob, len, NULL, 0);
	free(blob);
	if (r != 0)
		return tids_fail(err, errlen, r, "out of memory");
	/* The data key a single-instance hub made goes on: Kafka holds
	 * records sealed under it. */
	if (store_get_blob(d->store, "hub_key", HUBKEY_ID, wrapped, sizeof(wrapped), &len) != 0 ||
	    len != sizeof(wrapped) || keys_unwrap_from_hub(d, HUBKEY_ID, wrapped, key) != 0) {
		randombytes_buf(key, sizeof(key));
		keys_wrap_for_hub(d, HUBKEY_ID, key, wrapped);
	}
	sodium_memzero(key, sizeof(key));
	r = hs_batch_add(b, HS_HUBKEY, HUBKEY_ID, (const uint8_t *)HUBKEY_ID, strlen(HUBKEY_ID), wrapped, 0);
	sodium_memzero(wrapped, sizeof(wrapped));
	for (size_t i = 0; r == 0 && i < sizeof(legacy_kinds) / sizeof(legacy_kinds[0]); i++) {
		struct legacy l = { d, b, legacy_kinds[i].kind, 0 };

		if (store_each(d->store, legacy_kinds[i].store, add_legacy, &l) != 0)
			r = l.r != 0 ? l.r : TIDS_EDB;
	}
	if (r != 0)
		return tids_fail(err, errlen, r, "the hub's first entries could not be made");
	if (b->n > 2)
		tids_log_info("hub state: publishing the %zu entries of this instance's registry to %s", b->n - 2,
			      d->hubstate->topic);
	return 0;
}

/* --- start and stop ----------------------------------------------------------- */

static int read_first(struct tidsd *d, int64_t lo, struct tids_hub_identity *id, char *err, size_t errlen)
{
	struct hubstate *hs = d->hubstate;
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
	int64_t deadline = mono_ms() + 30000;
	int r = tids_fail(err, errlen, TIDS_EUNAVAIL, "%s: its first entry could not be read", hs->topic);

	rd_kafka_topic_partition_list_add(tp, hs->topic, 0)->offset = lo;
	rd_kafka_assign(hs->rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	while (mono_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(hs->rk, 200);
		struct tids_state_message sm;
		struct tids_hub_state e;
		uint64_t seq;
		const void *v;
		rd_kafka_headers_t *h = NULL;
		size_t n;

		if (m == NULL)
			continue;
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_message_destroy(m);
			continue;
		}
		memset(&sm, 0, sizeof(sm));
		sm.topic = hs->topic;
		sm.key = m->key;
		sm.key_len = m->key_len;
		sm.value = m->payload;
		sm.len = m->len;
		if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (rd_kafka_header_get_last(h, TIDS_STATE_HEADER_MAC, &v, &n) == 0) {
				sm.mac = v;
				sm.mac_len = n;
			}
			if (rd_kafka_header_get_last(h, TIDS_STATE_HEADER_SEQ, &v, &n) == 0) {
				sm.seq = v;
				sm.seq_len = n;
			}
		}
		r = tids_wire_open_hub_state(hs->mac_key, &sm, &e, &seq, err, errlen);
		if (r == TIDS_EAUTH)
			r = tids_fail(err, errlen, TIDS_EAUTH, "the first entry of %s does not verify under this "
				      "instance's master key: every instance of a hub needs the hub's master key "
				      "(hub.master_key, or the credential master.key)", hs->topic);
		if (r == 0 && (m->key_len != 3 || memcmp(m->key, "hub", 3) != 0))
			r = tids_fail(err, errlen, TIDS_EINVAL, "%s does not begin with the hub's identity", hs->topic);
		if (r == 0)
			r = tids_wire_decode_hub_identity(e.body.data, e.body.len, id, err, errlen);
		tids_hub_state_free(&e);
		rd_kafka_message_destroy(m);
		break;
	}
	rd_kafka_assign(hs->rk, NULL);
	return r;
}

/* The view starts over: what it holds belongs to another history. */
static int clear_view(struct tidsd *d)
{
	static const char *const ns[] = { "view", "grant_key", "approval_revoked", "hub_key" };
	int r = store_clear_entries(d->store);

	for (size_t i = 0; r == 0 && i < sizeof(ns) / sizeof(ns[0]); i++)
		r = store_clear_ns(d->store, ns[i]);
	return r == 0 ? store_commit(d->store) : r;
}

static int open_consumer(struct tidsd *d, struct hubstate *hs)
{
	char err[512], group[300];
	rd_kafka_conf_t *conf = kafka_conf(d, RD_KAFKA_CONSUMER, err, sizeof(err));

	if (conf == NULL) {
		tids_log_warnx("hub state: %s", err);
		return TIDS_EKAFKA;
	}
	/* Read by assign(): the group only names the reader, nothing commits. */
	kafka_group_name(d, KG_REGISTRY, d->conf->instance, group, sizeof(group));
	if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		tids_log_warnx("hub state: %s", err);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	hs->rk = kafka_client(d, RD_KAFKA_CONSUMER, "hubstate", conf, err, sizeof(err));
	if (hs->rk == NULL) {
		tids_log_warnx("hub state: %s", err);
		return TIDS_EKAFKA;
	}
	/* Logs and errors come through consumer_poll too, in the loop. */
	rd_kafka_poll_set_consumer(hs->rk);
	return 0;
}

/* Kafka may still be starting (a hub and its brokers booting together). */
static int watermarks(struct tidsd *d, int64_t *lo, int64_t *hi)
{
	struct hubstate *hs = d->hubstate;
	int64_t deadline = mono_ms() + START_TIMEOUT_MS, said = 0;

	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(hs->rk, hs->topic, 0, lo, hi, 10000);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			return 0;
		if (mono_ms() > deadline) {
			tids_log_warnx("hub state: %s: %s", hs->topic, rd_kafka_err2str(e));
			return TIDS_EUNAVAIL;
		}
		if (mono_ms() - said > 10000) {
			tids_log_info("hub state: waiting for Kafka to describe %s (%s)", hs->topic, rd_kafka_err2str(e));
			said = mono_ms();
		}
		usleep(500000);
	}
}

int hubstate_open(struct tidsd *d)
{
	struct hubstate *hs = calloc(1, sizeof(*hs));
	uint8_t genesis[TIDS_HUB_GENESIS_BYTES];
	uint64_t next = 0, seq = 0;
	size_t glen = 0;
	bool synced;
	int64_t lo, hi;
	char err[512];
	int r;

	if (hs == NULL)
		return TIDS_ENOMEM;
	d->hubstate = hs;
	hs->w.out_fd = -1;
	kafka_topic_name(d, KT_REGISTRY, NULL, hs->topic, sizeof(hs->topic));
	kafka_topic_name(d, KT_CHANGES, NULL, hs->changes, sizeof(hs->changes));
	keys_hub_state_mac(d, hs->mac_key);
	if ((r = open_consumer(d, hs)) != 0 || (r = watermarks(d, &lo, &hi)) != 0)
		return r;
	synced = store_get_blob(d->store, "view", "genesis", genesis, sizeof(genesis), &glen) == 0 &&
		 glen == sizeof(genesis);
	if (synced && (store_get_u64(d->store, "view", "next", &next) != 0 ||
		       store_get_u64(d->store, "view", "seq", &seq) != 0))
		next = seq = 0;
	hs->start_end = hi;
	if (hi == 0) {
		if (synced && d->conf->kafka_mode != KAFKA_EMBEDDED) {
			tids_log_warnx("hub state: %s is empty, but this instance's view of the hub state was made "
				       "from it: was the topic deleted, or is this another Kafka? Move %s/registry.db "
				       "away to start this hub anew", hs->topic, d->conf->state_dir);
			return TIDS_EINVAL;
		}
		/* Embedded Kafka forgets everything at each stop: the registry
		 * of the last run is published again (hubstate_start). */
		if (synced && (store_clear_ns(d->store, "view") != 0 || store_commit(d->store) != 0))
			return TIDS_EDB;
		hs->start_offset = 0;
		return 0;
	}
	{
		struct tids_hub_identity id;

		if ((r = read_first(d, lo, &id, err, sizeof(err))) != 0) {
			tids_log_warnx("hub state: %s", err);
			return r;
		}
		if (synced && sodium_memcmp(genesis, id.genesis, sizeof(genesis)) == 0 && (int64_t)next >= lo &&
		    (int64_t)next <= hi) {
			hs->start_offset = (int64_t)next;
			hs->seq = seq;
			memcpy(hs->genesis, genesis, sizeof(genesis));
			hs->have_identity = true;
		} else if (synced) {
			tids_log_warnx("hub state: this instance's view belongs to another history of %s; it is "
				       "rebuilt from the topic", hs->topic);
			r = clear_view(d);
			hs->start_offset = RD_KAFKA_OFFSET_BEGINNING;
		} else if (store_count_entries(d->store) > 0) {
			tids_log_warnx("hub state: %s/registry.db holds a registry that %s does not have (it was made "
				       "before tidsd kept the hub state on Kafka, by an instance that did not start "
				       "first): start the instance that holds the hub's registry first, or move this "
				       "registry.db away to take the hub's", d->conf->state_dir, hs->topic);
			r = TIDS_EEXIST;
		} else {
			hs->start_offset = RD_KAFKA_OFFSET_BEGINNING;
		}
		tids_hub_identity_free(&id);
	}
	return r;
}

static int start_writer(struct tidsd *d, struct hubstate *hs)
{
	struct writer *w = &hs->w;
	char err[512];
	rd_kafka_conf_t *conf;

	w->conf = kafka_conf(d, RD_KAFKA_PRODUCER, err, sizeof(err));
	if (w->conf == NULL) {
		tids_log_warnx("hub state: %s", err);
		return TIDS_EKAFKA;
	}
	/* The hub's writer id, shared by its instances: taking it fences. */
	kafka_group_name(d, KG_REGISTRY, "writer", w->txn_id, sizeof(w->txn_id));
	snprintf(w->t_registry, sizeof(w->t_registry), "%s", hs->topic);
	snprintf(w->t_changes, sizeof(w->t_changes), "%s", hs->changes);
	conf = kafka_conf(d, RD_KAFKA_PRODUCER, err, sizeof(err));
	if (conf == NULL || (w->meta = kafka_client(d, RD_KAFKA_PRODUCER, "hubstate-meta", conf, err, sizeof(err))) ==
			    NULL) {
		tids_log_warnx("hub state: %s", err);
		return TIDS_EKAFKA;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->out_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->out_fd < 0)
		return TIDS_EIO;
	w->out_watch.fd = w->out_fd;
	w->out_watch.on_event = on_result;
	w->out_watch.ctx = hs;
	if (loop_add(d, &w->out_watch, EPOLLIN) != 0)
		return TIDS_EIO;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		return TIDS_EIO;
	w->started = true;
	return 0;
}

static void done_flag(struct tidsd *d, struct session *s, uint64_t call_id, void *ctx, int r, const char *err)
{
	int *result = ctx;

	(void)d;
	(void)s;
	(void)call_id;
	if (r != 0)
		tids_log_warnx("hub state: the hub's first entries: %s", err);
	*result = r;
}

int hubstate_start(struct tidsd *d)
{
	struct hubstate *hs = d->hubstate;
	rd_kafka_topic_partition_list_t *tp;
	int64_t deadline = mono_ms() + START_TIMEOUT_MS, said = mono_ms();
	int r;

	if ((r = start_writer(d, hs)) != 0)
		return r;
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, hs->topic, 0)->offset = hs->start_offset;
	r = rd_kafka_assign(hs->rk, tp) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : TIDS_EKAFKA;
	rd_kafka_topic_partition_list_destroy(tp);
	if (r != 0 || pipe2(hs->q_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return TIDS_EKAFKA;
	hs->q = rd_kafka_queue_get_consumer(hs->rk);
	rd_kafka_queue_io_event_enable(hs->q, hs->q_pipe[1], "1", 1);
	hs->qw.fd = hs->q_pipe[0];
	hs->qw.on_event = on_ready;
	hs->qw.ctx = hs;
	if (loop_add(d, &hs->qw, EPOLLIN) != 0)
		return TIDS_EIO;
	hs->watching = true;
	on_ready(d, &hs->qw, 0);
	/* What the hub state was when we started, before anything is served. */
	while (hs->applied_end < hs->start_end && mono_ms() < deadline) {
		loop_once(d, 100);
		if (mono_ms() - said > 10000) {
			tids_log_info("hub state: reading %s: %lld of %lld", hs->topic, (long long)hs->applied_end,
				      (long long)hs->start_end);
			said = mono_ms();
		}
	}
	if (hs->applied_end < hs->start_end) {
		tids_log_warnx("hub state: %s could not be read to its end", hs->topic);
		return TIDS_EUNAVAIL;
	}
	if (!hs->have_identity) {
		struct hs_request rq = { .op = HS_BOOTSTRAP, .actor = "hub (first start)" };
		int result = 1;

		hubstate_change(d, NULL, 0, &rq, done_flag, &result);
		while (result == 1)
			loop_once(d, 100);
		if (result != 0 || !hs->have_identity)
			return result != 0 ? result : TIDS_EUNAVAIL;
	}
	tids_log_info("hub state: %llu entries applied from %s (sequence %llu)", (unsigned long long)hs->applied,
		      hs->topic, (unsigned long long)hs->seq);
	hs->live = true;
	return store_commit(d->store);
}

static int by_value(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Propagation as this instance sees it: from another instance's write to
 * our apply. */
static void report(struct tidsd *d, const char *when)
{
	struct hubstate *hs = d->hubstate;
	int64_t sorted[LATENCY_SAMPLES];
	size_t n = hs->n_latency;

	if (n == 0)
		return;
	memcpy(sorted, hs->latency, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), by_value);
	tids_log_info("hub state: %s%llu changes from other instances applied; propagation over the last %zu: "
		      "p50 %lld ms, p99 %lld ms, max %lld ms", when, (unsigned long long)hs->remote, n,
		      (long long)sorted[n / 2], (long long)sorted[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
		      (long long)sorted[n - 1]);
}

void hubstate_tick(struct tidsd *d)
{
	struct hubstate *hs = d->hubstate;

	if (hs == NULL)
		return;
	pump(d);
	if (mono_ms() - hs->last_report > 60000 && hs->remote != hs->reported) {
		hs->last_report = mono_ms();
		hs->reported = hs->remote;
		report(d, "");
	}
}

void hubstate_free(struct tidsd *d)
{
	struct hubstate *hs = d->hubstate;

	if (hs == NULL)
		return;
	report(d, "at stop, ");
	if (hs->w.started) {
		pthread_mutex_lock(&hs->w.lock);
		hs->w.stop = 1;
		pthread_cond_signal(&hs->w.cond);
		pthread_mutex_unlock(&hs->w.lock);
		pthread_join(hs->w.thread, NULL);
		job_free(hs->w.in);
		job_free(hs->w.out);
		loop_del(d, &hs->w.out_watch);
		pthread_mutex_destroy(&hs->w.lock);
		pthread_cond_destroy(&hs->w.cond);
	}
	if (hs->w.out_fd >= 0)
		close(hs->w.out_fd);
	if (hs->w.meta != NULL)
		rd_kafka_destroy(hs->w.meta);
	if (hs->w.conf != NULL)
		rd_kafka_conf_destroy(hs->w.conf);
	while (hs->pending != NULL) {
		struct hs_pending *p = hs->pending;

		hs->pending = p->next;
		if (p->done != NULL)
			p->done(d, NULL, 0, p->ctx, TIDS_EUNAVAIL, "tidsd is stopping");
		pending_free(p);
	}
	if (hs->watching) {
		rd_kafka_queue_io_event_enable(hs->q, -1, NULL, 0);
		loop_del(d, &hs->qw);
	}
	if (hs->q != NULL)
		rd_kafka_queue_destroy(hs->q);
	if (hs->q_pipe[0] > 0) {
		close(hs->q_pipe[0]);
		close(hs->q_pipe[1]);
	}
	if (hs->rk != NULL) {
		rd_kafka_consumer_close(hs->rk);
		rd_kafka_destroy(hs->rk);
	}
	sodium_memzero(hs->mac_key, sizeof(hs->mac_key));
	free(hs);
	d->hubstate = NULL;
}
