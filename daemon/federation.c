/*
 * Federation in the main loop: the registered peer hubs and their runtime
 * state, the Federation/Pull service a peer calls to take what we forward
 * to it (our outbound topic for it, in a window of unacknowledged forwards,
 * with our directory and our signed chain heads), and Admin/Peers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "federation.h"
#include "metrics.h"
#include "router.h"
#include "tids/error.h"
#include "tids/seal.h"

enum { CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_PERMISSION_DENIED = 7, CODE_FAILED_PRECONDITION = 9,
       CODE_UNAVAILABLE = 14 };

/* A peer pulling from us on one of its sessions. */
struct pull {
	struct pull *next;                 /* in the graveyard */
	struct session *s;
	uint64_t call_id;
	struct fed_peer *p;
	rd_kafka_t *rk;
	struct kafka_read_ahead read_ahead;  /* rk's */
	struct kafka_queue_watch qw;
	uint32_t window;
	uint64_t *sent;                    /* positions sent and not acknowledged, oldest first */
	size_t head, n, cap;
	uint64_t last_sent;                /* position + 1 of the last forward sent (0: none) */
	uint64_t dir_version;              /* of the directory last sent */
	bool in_news;                      /* send_news is on the stack (a flush may resume us) */
	uint64_t *cp_sent;                 /* per partition: seq of the chain head last sent */
	size_t n_cp;
	uint64_t consent_version;          /* of our consent last sent (0: none yet) */
};

static struct pull *graveyard;

static void send_news(struct tidsd *d, struct pull *pl);

struct fed_peer *fed_peer(struct tidsd *d, const char *id)
{
	return d->federation != NULL ? tids_map_get_str(&d->federation->peers, id) : NULL;
}

void fed_peer_error(struct fed_peer *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	p->last_error_ms = now_ms();
	tids_log_warnx("federation: peer %s: %s", p->id, p->last_error);
}

const char *federation_peer_by_dh_key(const struct tidsd *d, const uint8_t dh_pk[TIDS_DH_KEY_BYTES])
{
	struct fed_peer *p;
	size_t pos = 0;

	if (d->federation == NULL)
		return NULL;
	while ((p = tids_map_next(&d->federation->peers, &pos)) != NULL)
		if (sodium_memcmp(p->dh_pk, dh_pk, TIDS_DH_KEY_BYTES) == 0)
			return p->id;
	return NULL;
}

bool federation_peer_key(const struct tidsd *d, const char *id, uint8_t key[TIDS_PUBLIC_KEY_BYTES])
{
	const struct fed_peer *p = d->federation != NULL ? tids_map_get_str(&d->federation->peers, id) : NULL;

	if (p == NULL)
		return false;
	memcpy(key, p->public_key, TIDS_PUBLIC_KEY_BYTES);
	return true;
}

bool federation_hub_key(const struct tidsd *d, const char *id, uint8_t key[TIDS_PUBLIC_KEY_BYTES],
			char jurisdiction[16], char *why, size_t whylen)
{
	const struct fed_peer *p;
	const char *voucher = NULL;
	size_t pos = 0;

	if (d->federation == NULL) {
		snprintf(why, whylen, "this hub has no peers");
		return false;
	}
	if ((p = tids_map_get_str(&d->federation->peers, id)) != NULL) {
		memcpy(key, p->public_key, TIDS_PUBLIC_KEY_BYTES);
		snprintf(jurisdiction, 16, "%s", p->jurisdiction);
		return true;
	}
	/* Not ours: what the peers that are its peers registered. */
	while ((p = tids_map_next(&d->federation->peers, &pos)) != NULL)
		for (size_t i = 0; p->dir.hub_id != NULL && i < p->dir.n_hubs; i++) {
			const struct tids_directory_hub *h = &p->dir.hubs[i];

			if (strcmp(h->hub_id, id) != 0)
				continue;
			if (voucher != NULL && (sodium_memcmp(key, h->public_key, TIDS_PUBLIC_KEY_BYTES) != 0 ||
						strcmp(jurisdiction, h->jurisdiction) != 0)) {
				snprintf(why, whylen, "hubs %s and %s give hub %s different keys or jurisdictions", voucher, p->id,
					 id);
				return false;
			}
			memcpy(key, h->public_key, TIDS_PUBLIC_KEY_BYTES);
			snprintf(jurisdiction, 16, "%s", h->jurisdiction);
			voucher = p->id;
		}
	if (voucher == NULL)
		snprintf(why, whylen, "hub %s is no peer of this hub, nor of its peers", id);
	return voucher != NULL;
}

/* --- peers ---------------------------------------------------------------------- */

static void load_counters(struct tidsd *d, struct fed_peer *p)
{
	if (store_get_u64(d->store, "fed_next", p->id, &p->next_position) != 0)
		p->next_position = 0;
	if (store_get_u64(d->store, "fed_acked", p->id, &p->acked) != 0)
		p->acked = 0;
	if (store_get_u64(d->store, "fed_forwarded", p->id, &p->forwarded) != 0)
		p->forwarded = 0;
	if (store_get_u64(d->store, "fed_imported", p->id, &p->imported) != 0)
		p->imported = 0;
	if (store_get_u64(d->store, "fed_refused", p->id, &p->refused) != 0)
		p->refused = 0;
	if (store_get_u64(d->store, "fed_epoch", p->id, &p->in_epoch) != 0)
		p->in_epoch = 0;
	if (store_get_u64(d->store, "fed_base", p->id, &p->in_base) != 0)
		p->in_base = 0;
	if (store_get_u64(d->store, "fed_trimmed", p->id, &p->trimmed) != 0)
		p->trimmed = 0;
	if (store_get_u64(d->store, "fed_out_epoch", p->id, &p->out_epoch) != 0 || p->out_epoch == 0) {
		do
			randombytes_buf(&p->out_epoch, sizeof(p->out_epoch));
		while (p->out_epoch == 0);
		if (store_set_u64(d->store, "fed_out_epoch", p->id, p->out_epoch) != 0)
			tids_log_warnx("federation: %s: outbound epoch not stored", p->id);
	}
}

/*
 * Our outbound topic for p restarted (deleted and made again, by an
 * operator or a broker that lost it) if its positions went back: it ends
 * before what p acknowledged or asks for, or starts before what we
 * trimmed. Its positions then mean nothing to p: a new epoch tells p to
 * take them as new, and what the old topic held that p had not taken is
 * gone (said loudly: no forward is deduplicated away silently).
 */
static void check_restart(struct tidsd *d, struct fed_peer *p, const struct tids_pull_control *c, uint64_t *from)
{
	int64_t lo = 0, hi = 0;
	uint64_t old = p->out_epoch;
	const char *why = NULL;
	char what[200];

	/* Its positions are of an older epoch of ours: from the start (of
	 * this epoch, unless the topic restarted again). */
	if (c->epoch != 0 && c->epoch != p->out_epoch)
		*from = 0;
	if (kafka_watermarks(d, p->out_topic, &lo, &hi) != 0)
		return;
	/* Whatever follows, acked is then of the topic as it is now. */
	p->acked_checked = true;
	if ((uint64_t)hi < p->acked)
		why = "it ends before what the peer acknowledged";
	else if (c->epoch == p->out_epoch && (uint64_t)hi < c->from_position)
		why = "it ends before where the peer resumes";
	else if (p->trimmed > 0 && (uint64_t)lo < p->trimmed)
		why = "it starts before what was trimmed";
	if (why == NULL)
		return;
	snprintf(what, sizeof(what), "positions %lld..%lld, the peer at %llu, acknowledged %llu, trimmed %llu",
		 (long long)lo, (long long)hi, (unsigned long long)c->from_position, (unsigned long long)p->acked,
		 (unsigned long long)p->trimmed);
	do
		randombytes_buf(&p->out_epoch, sizeof(p->out_epoch));
	while (p->out_epoch == 0 || p->out_epoch == old);
	p->acked = p->trimmed = 0;
	if (store_set_u64(d->store, "fed_out_epoch", p->id, p->out_epoch) != 0 ||
	    store_set_u64(d->store, "fed_acked", p->id, 0) != 0 || store_set_u64(d->store, "fed_trimmed", p->id, 0) != 0)
		tids_log_warnx("federation: %s: outbound epoch not stored", p->id);
	fed_peer_error(p, "our outbound topic %s restarted (%s: %s); a new epoch begins, its positions are new to the "
		       "peer, and forwards the old topic held that the peer had not taken are lost", p->out_topic, why,
		       what);
	*from = 0;
}

static void add_peer(struct tidsd *d, const struct tids_peer *tp, void *ctx)
{
	struct federation *f = d->federation;
	struct fed_peer *p = tids_map_get_str(&f->peers, tp->hub_id);
	char err[256];
	bool fresh = p == NULL;

	(void)ctx;
	if (strcmp(tp->hub_id, d->conf->hub_id) == 0) {
		tids_log_warnx("federation: peer %s is this hub itself; ignored", tp->hub_id);
		return;
	}
	if (fresh) {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return;
		snprintf(p->id, sizeof(p->id), "%s", tp->hub_id);
		if (tids_map_put_str(&f->peers, p->id, p, NULL) != 0) {
			free(p);
			return;
		}
		load_counters(d, p);
		kafka_topic_name(d, KT_OUTBOUND, p->id, p->out_topic, sizeof(p->out_topic));
	} else if (p->link != NULL) {
		/* A new address or key: dial again. */
		link_stop(d, p);
	}
	snprintf(p->jurisdiction, sizeof(p->jurisdiction), "%s", tp->jurisdiction);
	snprintf(p->address, sizeof(p->address), "%s", tp->address);
	memcpy(p->public_key, tp->public_key, TIDS_PUBLIC_KEY_BYTES);
	if (tids_identity_dh_public(p->public_key, p->dh_pk) != 0) {
		fed_peer_error(p, "its key is not an Ed25519 public key; no link");
		return;
	}
	/* What we forward to it waits here, however long it is away. */
	if (kafka_topic_create(d, KT_OUTBOUND, p->id, err, sizeof(err)) != 0)
		fed_peer_error(p, "outbound topic: %s", err);
	if (fresh)
		witness_load(d, p);
	link_start(d, p);
}

void federation_peer_changed(struct tidsd *d, const struct tids_peer *p)
{
	if (d->federation == NULL)
		return;
	if (d->federation->import == NULL && import_init(d) != 0)
		tids_log_warnx("federation: no Kafka producer for imports; links cannot import");
	add_peer(d, p, NULL);
	/* Our directory lists our peers: it changed too. */
	d->federation->dir_dirty = true;
	directory_rebuild(d);
	/* A peer with a new key is no longer the one its sessions proved. */
	sessions_recheck(d, "peer hub registration changed");
}

void federation_consent_changed(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct fed_peer *p;
	size_t pos = 0;

	if (f == NULL)
		return;
	f->consent_version++;
	/* Now, before the router decides anything under it. */
	while ((p = tids_map_next(&f->peers, &pos)) != NULL)
		if (p->serving != NULL)
			send_news(d, p->serving);
}

void federation_registry_changed(struct tidsd *d)
{
	if (d->federation == NULL)
		return;
	d->federation->dir_dirty = true;
	directory_rebuild(d);
}

int federation_init(struct tidsd *d)
{
	struct federation *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return TIDS_ENOMEM;
	d->federation = f;
	f->dir_dirty = true;
	snprintf(f->hub_id, sizeof(f->hub_id), "%s", d->conf->hub_id);
	registry_each_peer(d, add_peer, NULL);
	directory_load(d);
	if (f->peers.n > 0 && import_init(d) != 0)
		return TIDS_EKAFKA;
	tids_log_info("federation: %zu peer hubs, %zu of their participants known", f->peers.n, f->remote.n);
	return 0;
}

/* --- the Pull service ---------------------------------------------------------------- */

static bool pull_ready(struct tidsd *d, void *ctx)
{
	struct pull *pl = ctx;

	return pl->s != NULL && session_can_send(d, pl->s) && pl->n < pl->window;
}

static void remember_sent(struct pull *pl, uint64_t position)
{
	if (pl->head > 0 && pl->head + pl->n == pl->cap) {
		memmove(pl->sent, pl->sent + pl->head, pl->n * sizeof(*pl->sent));
		pl->head = 0;
	}
	if (pl->head + pl->n == pl->cap) {
		size_t cap = pl->cap > 0 ? pl->cap * 2 : 1024;
		uint64_t *grown = realloc(pl->sent, cap * sizeof(*grown));

		if (grown == NULL)
			return;   /* counted as forwarded a little late: harmless */
		pl->sent = grown;
		pl->cap = cap;
	}
	pl->sent[pl->head + pl->n++] = position;
}

static void send_item(struct tidsd *d, struct pull *pl, const struct tids_pull_item *it)
{
	uint8_t *body;
	size_t len;

	if (tids_wire_encode_pull_item(it, &body, &len) != 0)
		return;
	if (session_stream_item(d, pl->s, pl->call_id, body, len) != 0)
		tids_log_debug("federation: item for %s not queued", pl->p->id);
	sodium_memzero(body, len);
	free(body);
}

/* One message of our outbound topic for the puller: unsealed, as a Forward. */
static void send_forward(struct tidsd *d, struct pull *pl, const rd_kafka_message_t *m)
{
	struct tids_pull_item it = { .kind = TIDS_PULL_FORWARD, .position = (uint64_t)m->offset,
				     .epoch = pl->p->out_epoch };
	uint8_t *plain = NULL;
	size_t plen = 0;
	char err[256];

	pl->last_sent = (uint64_t)m->offset + 1;
	if (tids_wire_decode_ingress_record(m->payload, m->len, &it.record, err, sizeof(err)) != 0 ||
	    !it.record.forwarded.present) {
		tids_log_warnx("federation: %s offset %lld skipped: %s", pl->p->out_topic, (long long)m->offset,
			       it.record.forwarded.present ? err : "not a forward");
		tids_ingress_record_free(&it.record);
		return;
	}
	if (it.record.sealed) {
		uint8_t ad[TIDS_SEAL_AD_MAX];
		size_t ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_OUTBOUND, pl->p->out_topic, it.record.forwarded.recipient,
					     "", it.record.record_id);

		plain = malloc(it.record.record.len);
		if (plain == NULL || ad_len == 0 ||
		    tids_seal_open(keys_ingress(d), ad, ad_len, it.record.record.data, it.record.record.len, plain,
				   &plen) != 0) {
			tids_log_warnx("federation: %s offset %lld does not open under the hub data key; skipped",
				       pl->p->out_topic, (long long)m->offset);
			free(plain);
			tids_ingress_record_free(&it.record);
			return;
		}
		it.record.record = (struct tids_bytes){ plain, plen };
		it.record.sealed = false;
	}
	send_item(d, pl, &it);
	remember_sent(pl, it.position);
	if (plain != NULL) {
		sodium_memzero(plain, plen);
		free(plain);
	}
	tids_ingress_record_free(&it.record);
}

static void pull_event(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	struct pull *pl = ctx;
	const rd_kafka_message_t *m;

	if (kafka_log_event(d, ev) || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_FETCH)
		return;
	while ((m = rd_kafka_event_message_next(ev)) != NULL) {
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				tids_log_warnx("federation: %s: %s", pl->p->out_topic, rd_kafka_message_errstr(m));
			continue;
		}
		kafka_took(&pl->read_ahead, m);
		if (pl->s != NULL)
			send_forward(d, pl, m);
	}
}

static int emit_consent(struct tidsd *d, void *ctx, const struct tids_consent_page *page)
{
	struct pull *pl = ctx;
	struct tids_pull_item it = { .kind = TIDS_PULL_CONSENT, .consent = *page };

	if (pl->s == NULL)
		return TIDS_EPROTO;
	send_item(d, pl, &it);
	return 0;
}

/* Our directory, consent and chain heads, whenever they are newer than
 * what the puller has. Small, and outside the window: they never wait for
 * acks. The directory comes first (the puller checks signers with it), and
 * the consent before any forward decided under it: a grant or approval
 * reaches the registry (and this) before the router routes under it. */
static void news(struct tidsd *d, struct pull *pl)
{
	struct federation *f = d->federation;
	const struct tids_bytes *dir;
	size_t n_dir;

	if (pl->s == NULL)
		return;
	/* Only the newest version, and only once what was queued went out: a
	 * hub registering many participants changes its directory at every
	 * tick, and a large one queued each time would grow without bound. */
	if ((f->dir_dirty || f->dir_items == NULL || pl->dir_version != f->dir_version) &&
	    session_can_send(d, pl->s) && directory_own_items(d, &dir, &n_dir) == 0 &&
	    pl->dir_version != f->dir_version) {
		size_t k = 0;

		/* Every page, in order: the puller uses a version once it has all. */
		while (k < n_dir && pl->s != NULL && session_stream_item(d, pl->s, pl->call_id, dir[k].data,
									    dir[k].len) == 0)
			k++;
		if (k == n_dir)
			pl->dir_version = f->dir_version;
	}
	if (pl->consent_version != f->consent_version + 1) {
		if (consent_send(d, pl->p, emit_consent, pl) == 0)
			pl->consent_version = f->consent_version + 1;
		else
			tids_log_warnx("federation: our consent for %s not sent (out of memory); again soon", pl->p->id);
		if (pl->s == NULL)
			return;
	}
	if (pl->n_cp < f->n_heads) {
		uint64_t *grown = realloc(pl->cp_sent, f->n_heads * sizeof(*grown));

		if (grown == NULL)
			return;
		memset(grown + pl->n_cp, 0, (f->n_heads - pl->n_cp) * sizeof(*grown));
		pl->cp_sent = grown;
		pl->n_cp = f->n_heads;
	}
	for (size_t i = 0; i < f->n_heads && pl->s != NULL; i++) {
		struct tids_pull_item it = { .kind = TIDS_PULL_CHECKPOINT };

		if (f->heads[i].seq == 0 || f->heads[i].seq <= pl->cp_sent[i])
			continue;
		it.checkpoint = f->heads[i];
		send_item(d, pl, &it);
		pl->cp_sent[i] = f->heads[i].seq;
	}
}

static void send_news(struct tidsd *d, struct pull *pl)
{
	/* A flush inside may resume the session, and so us: once is enough. */
	if (pl->in_news)
		return;
	pl->in_news = true;
	news(d, pl);
	pl->in_news = false;
}

static void pull_free(struct tidsd *d, struct pull *pl)
{
	if (pl->rk != NULL) {
		kafka_unwatch_queue(d, &pl->qw);
		rd_kafka_consumer_close(pl->rk);
		rd_kafka_destroy(pl->rk);
	}
	free(pl->sent);
	free(pl->cp_sent);
	free(pl);
}

/* Ends the pull now, frees it after the loop iteration (its queue may be
 * mid-pump). */
static void pull_retire(struct tidsd *d, struct pull *pl)
{
	(void)d;
	if (pl->s != NULL)
		pl->s->pull = NULL;
	pl->s = NULL;
	if (pl->p->serving == pl)
		pl->p->serving = NULL;
	pl->next = graveyard;
	graveyard = pl;
}

static int start_consumer(struct tidsd *d, struct pull *pl, uint64_t from, char *err, size_t errlen)
{
	char group[TIDS_ID_MAX * 2 + 64];
	rd_kafka_conf_t *conf = kafka_conf(d, RD_KAFKA_CONSUMER, err, errlen);
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_resp_err_t kerr;

	if (conf == NULL)
		return TIDS_EKAFKA;
	/* As egress: a group id for the queue only; positions are the peer's. */
	snprintf(group, sizeof(group), "%s.%s.pull.%s", d->conf->topic_prefix, d->conf->hub_id, pl->p->id);
	if (rd_kafka_conf_set(conf, "group.id", group, err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, errlen) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) != RD_KAFKA_CONF_OK ||
	    /* Bounds what a slow peer can make us hold in memory. */
	    kafka_conf_read_ahead(conf, &pl->read_ahead, 2 << 20, &d->metrics->fetch_wakes[MR_PULL], err, errlen) != 0 ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, errlen) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG);
	pl->rk = kafka_client(d, RD_KAFKA_CONSUMER, group, conf, err, errlen);
	if (pl->rk == NULL)
		return TIDS_EKAFKA;
	kafka_read_ahead_start(&pl->read_ahead, pl->rk);
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, pl->p->out_topic, 0)->offset = (int64_t)from;
	kerr = rd_kafka_assign(pl->rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR)
		return tids_fail(err, errlen, TIDS_EKAFKA, "%s", rd_kafka_err2str(kerr));
	pl->qw.ready = pull_ready;
	return kafka_watch_consumer(d, &pl->qw, &pl->read_ahead, pull_event, pl);
}

void federation_pull(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len)
{
	struct fed_peer *p = fed_peer(d, s->peer_hub);
	struct tids_pull_control c;
	struct pull *pl;
	uint64_t from;
	char err[512];

	if (p == NULL) {
		session_stream_end(d, s, call_id, CODE_PERMISSION_DENIED, "Federation/Pull is for peer hubs");
		return;
	}
	if (tids_wire_decode_pull_control(body, len, &c, err, sizeof(err)) != 0 || c.is_ack) {
		session_stream_end(d, s, call_id, CODE_INVALID_ARGUMENT, c.is_ack ? "Pull starts with start, not ack" : err);
		tids_pull_control_free(&c);
		return;
	}
	if (s->pull != NULL) {
		session_stream_end(d, s, call_id, CODE_FAILED_PRECONDITION, "a Pull is open on this connection");
		goto out;
	}
	/* One pull per peer: a newer connection replaces an older one (the
	 * peer reconnected before we noticed the old one die). */
	if (p->serving != NULL) {
		struct session *old = p->serving->s;

		pull_retire(d, p->serving);
		if (old != NULL)
			session_close(d, old, "the peer pulls on a newer connection");
	}
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL) {
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, "out of memory");
		goto out;
	}
	pl->s = s;
	pl->call_id = call_id;
	pl->p = p;
	pl->window = c.window;
	s->pull = pl;
	p->serving = pl;
	from = c.from_position;
	check_restart(d, p, &c, &from);
	/* Directory and chain heads first: the peer checks forwards with them. */
	send_news(d, pl);
	if (start_consumer(d, pl, from, err, sizeof(err)) != 0) {
		pull_retire(d, pl);
		session_stream_end(d, s, call_id, CODE_UNAVAILABLE, err);
		goto out;
	}
	tids_log_info("federation: %s pulls from position %llu (window %u)", p->id, (unsigned long long)from, c.window);
out:
	tids_pull_control_free(&c);
}

void federation_client_item(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len)
{
	struct pull *pl = s->pull;
	struct tids_pull_control c;
	struct fed_peer *p;
	char err[256];
	size_t acked = 0;

	if (pl == NULL || pl->call_id != call_id) {
		session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, "no open Pull call with this call_id", NULL, 0);
		return;
	}
	if (tids_wire_decode_pull_control(body, len, &c, err, sizeof(err)) != 0 || !c.is_ack ||
	    c.ack_position >= pl->last_sent) {
		session_reply(d, s, call_id, CODE_INVALID_ARGUMENT,
			      c.is_ack ? "ack names a position not sent yet" : "expected an ack", NULL, 0);
		tids_pull_control_free(&c);
		return;
	}
	p = pl->p;
	while (pl->n > 0 && pl->sent[pl->head] <= c.ack_position) {
		pl->head++;
		pl->n--;
		acked++;
	}
	if (pl->n == 0)
		pl->head = 0;
	if (c.ack_position + 1 > p->acked) {
		p->acked = c.ack_position + 1;
		p->forwarded += acked;
		/* It took forwards this Pull served: acked is of the topic as
		 * it is (trimming may go on). */
		if (acked > 0)
			p->acked_checked = true;
		/* Bookkeeping for tidsctl peers: the peer's own position is what
		 * counts for exactly once. */
		if (store_set_u64(d->store, "fed_acked", p->id, p->acked) != 0 ||
		    store_set_u64(d->store, "fed_forwarded", p->id, p->forwarded) != 0)
			tids_log_warnx("federation: %s: ack not stored", p->id);
	}
	tids_pull_control_free(&c);
	kafka_queue_pump(d, &pl->qw);
}

void federation_cancel(struct tidsd *d, struct session *s, uint64_t call_id)
{
	struct pull *pl = s->pull;

	if (pl == NULL || pl->call_id != call_id)
		return;
	pull_retire(d, pl);
	session_stream_end(d, s, call_id, CODE_OK, "cancelled");
}

void federation_forget_session(struct tidsd *d, struct session *s)
{
	if (s->pull != NULL)
		pull_retire(d, s->pull);
}

void federation_resume(struct tidsd *d, struct session *s)
{
	struct pull *pl = s->pull;

	if (pl == NULL)
		return;
	/* News held back while the session was full go before forwards (a
	 * retired pull stays allocated until reap(), and is never ready). */
	send_news(d, pl);
	kafka_queue_pump(d, &pl->qw);
}

static void reap(struct tidsd *d)
{
	while (graveyard != NULL) {
		struct pull *pl = graveyard;

		graveyard = pl->next;
		pull_free(d, pl);
	}
}

/* --- tick, Admin/Peers, shutdown ---------------------------------------------------------- */

void federation_tick(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct fed_peer *p;
	size_t pos = 0;

	if (f == NULL)
		return;
	reap(d);
	witness_read_own(d);
	while ((p = tids_map_next(&f->peers, &pos)) != NULL) {
		link_tick(d, p);
		/* What the peer acknowledged is on its ingress: no longer ours
		 * to keep. Not before a Pull checked the topic against acked:
		 * a topic made again after a restart would lose positions the
		 * peer never had. */
		if (p->acked_checked && p->acked > p->trimmed && mono_ms() - p->trimmed_at >= TRIM_MS &&
		    kafka_delete_before(d, p->out_topic, (int64_t)p->acked) == 0) {
			p->trimmed = p->acked;
			p->trimmed_at = mono_ms();
			/* What the topic may not start before (a restart check). */
			if (store_set_u64(d->store, "fed_trimmed", p->id, p->trimmed) != 0)
				tids_log_debug("federation: %s: trim point not stored", p->id);
		}
		if (p->serving != NULL) {
			send_news(d, p->serving);
			/* Sending may have ended the session and its pull. */
			if (p->serving != NULL)
				kafka_queue_pump(d, &p->serving->qw);
		}
	}
}

void federation_peers(struct tidsd *d, struct session *s, uint64_t call_id)
{
	struct federation *f = d->federation;
	struct tids_peers_reply rep = { 0 };
	struct fed_peer *p;
	uint8_t *body;
	size_t len, pos = 0, i = 0;

	if (f != NULL && f->peers.n > 0) {
		rep.peers = calloc(f->peers.n, sizeof(*rep.peers));
		if (rep.peers == NULL) {
			session_reply(d, s, call_id, CODE_UNAVAILABLE, "out of memory", NULL, 0);
			return;
		}
		while ((p = tids_map_next(&f->peers, &pos)) != NULL) {
			int64_t lo = 0, hi = 0;

			if (kafka_watermarks(d, p->out_topic, &lo, &hi) != 0)
				hi = (int64_t)p->acked;
			rep.peers[i++] = (struct tids_peer_status){
				.hub_id = p->id, .jurisdiction = p->jurisdiction, .address = p->address,
				.link_up = link_is_up(p), .serving = p->serving != NULL,
				.forwarded = p->forwarded, .imported = p->imported,
				.lag = hi > (int64_t)p->acked ? (uint64_t)hi - p->acked : 0,
				.last_error = p->last_error, .last_error_ms = p->last_error_ms,
				.directory_version = p->dir.hub_id != NULL ? p->dir.version : 0,
				.directory_entries = p->dir.hub_id != NULL ? (uint32_t)p->dir.n_entries : 0,
				.conflicts = p->conflicts, .witnessed_seq = p->witnessed_seq, .refused = p->refused,
			};
		}
		rep.n_peers = i;
	}
	if (tids_wire_encode_peers_reply(&rep, &body, &len) != 0) {
		session_reply(d, s, call_id, CODE_UNAVAILABLE, "out of memory", NULL, 0);
	} else {
		session_reply(d, s, call_id, CODE_OK, "", body, len);
		free(body);
	}
	free(rep.peers);
}

void federation_free(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct fed_peer *p;
	size_t pos = 0;

	if (f == NULL)
		return;
	while ((p = tids_map_next(&f->peers, &pos)) != NULL) {
		link_stop(d, p);
		if (p->serving != NULL)
			pull_retire(d, p->serving);
	}
	reap(d);
	import_free(d);
	pos = 0;
	while ((p = tids_map_next(&f->peers, &pos)) != NULL) {
		consent_forget(p);
		directory_forget(p);
		free(p->witness);
		free(p);
	}
	tids_map_free(&f->peers);
	directory_free(d);
	tids_ledger_close(f->ledger);
	free(f->heads);
	free(f);
	d->federation = NULL;
}
