/*
 * Kafka glue: client configuration from tidsd.conf, the embedded mock
 * cluster, topic names and creation, and the bridge that turns a librdkafka
 * queue into an fd the event loop watches (so no callback ever runs on
 * librdkafka's threads).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tids/error.h"
#include "tidsd.h"

struct kafka {
	rd_kafka_t *mock_owner;             /* embedded mode: hosts the mock cluster */
	rd_kafka_mock_cluster_t *mock;
	char bootstrap[512];
	rd_kafka_t *admin;                  /* creates topics */
	char last_error[512];               /* the admin client's, for "waiting for Kafka" */
};

/* How often the start says it is still waiting for Kafka. */
#define WAIT_LOG_MS 30000

static struct kafka_queue_watch admin_watch;

rd_kafka_conf_t *kafka_conf(struct tidsd *d, rd_kafka_type_t type, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (config_kafka(d->conf, type, conf, err, errlen) != 0)
		goto fail;
	if (d->kafka != NULL && d->kafka->mock != NULL &&
	    rd_kafka_conf_set(conf, "bootstrap.servers", d->kafka->bootstrap, err, errlen) != RD_KAFKA_CONF_OK)
		goto fail;
	/* Logs arrive as events on the client's main queue, read by the loop.
	 * A queue served by librdkafka's own poll (rd_kafka_flush and the
	 * transaction calls do that) hands them to log_cb instead: ours too,
	 * never librdkafka's default that prints raw "%3|...|FAIL|" lines. */
	if (rd_kafka_conf_set(conf, "log.queue", "true", err, errlen) != RD_KAFKA_CONF_OK)
		goto fail;
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/*
 * A backlog waits on Kafka, not in our memory: librdkafka's default read-ahead
 * (64 MiB per consumer, plus its overhead per message) made most of tidsd's
 * RSS under load. A small one needs kafka_ran_dry, though (below).
 */
int kafka_conf_read_ahead(rd_kafka_conf_t *conf, struct kafka_read_ahead *ra, int64_t bytes,
			  atomic_ulong *wakes, char *err, size_t errlen)
{
	char kbytes[32];

	ra->rk = NULL;
	ra->bytes = bytes;
	ra->taken = 0;
	ra->wakes = wakes;
	snprintf(kbytes, sizeof(kbytes), "%lld", (long long)(bytes / 1024));
	return rd_kafka_conf_set(conf, "queued.max.messages.kbytes", kbytes, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

/*
 * librdkafka 2.0.2 stops fetching a partition once the consumer's queue
 * holds its read-ahead, and looks again only when the broker's thread next
 * wakes: on a request or an answer for that broker, or a second later
 * (rd_kafka_toppar_fetch_decide; 2.10's fetch.queue.backoff.ms shortens the
 * wait). A consumer that emptied its queue meanwhile sat idle for the rest
 * of that second, and a small read-ahead made it idle most of the time under
 * load (README, Known limits). So a consumer whose queue may have filled (it
 * took half its read-ahead or more since the queue was last empty) and has
 * now run dry asks its partitions' brokers for their end offsets: the
 * request wakes each broker's thread, which then finds room and fetches. It
 * waits for no answer (timeout 0: librdkafka drops replies that come after
 * it returned), so it never blocks its caller. A queue that never filled had
 * its fetcher running all along and is left alone: an idle hub asks nothing.
 */
void kafka_ran_dry(struct kafka_read_ahead *ra)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	bool filled = ra->taken >= ra->bytes / 2;

	ra->taken = 0;
	if (!filled || ra->rk == NULL || rd_kafka_assignment(ra->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (parts->cnt > 0) {
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = RD_KAFKA_OFFSET_END;
		(void)rd_kafka_offsets_for_times(ra->rk, parts, 0);
		if (ra->wakes != NULL)
			atomic_fetch_add_explicit(ra->wakes, 1, memory_order_relaxed);
	}
	rd_kafka_topic_partition_list_destroy(parts);
}

void kafka_read_ahead_start(struct kafka_read_ahead *ra, rd_kafka_t *rk)
{
	rd_kafka_poll_set_consumer(rk);
	ra->rk = rk;
}

rd_kafka_t *kafka_client(struct tidsd *d, rd_kafka_type_t type, const char *name, rd_kafka_conf_t *conf,
			 char *err, size_t errlen)
{
	char id[TIDS_ID_MAX + 64];
	rd_kafka_t *rk;

	snprintf(id, sizeof(id), "tidsd-%s-%s", d->conf->hub_id, name);
	if (rd_kafka_conf_set(conf, "client.id", id, err, errlen) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	/* rd_kafka_new takes conf on success only. */
	rk = rd_kafka_new(type, conf, err, errlen);
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_set_log_queue(rk, NULL);
	return rk;
}

void kafka_queue_pump(struct tidsd *d, struct kafka_queue_watch *kw)
{
	rd_kafka_event_t *ev;

	/* librdkafka writes to the pipe only when the queue becomes non-empty,
	 * so whoever stops early (ready() false) must pump again later. */
	while (kw->ready == NULL || kw->ready(d, kw->ctx)) {
		if ((ev = rd_kafka_queue_poll(kw->q, 0)) == NULL) {
			if (kw->read_ahead != NULL)
				kafka_ran_dry(kw->read_ahead);
			return;
		}
		kw->on_event(d, ev, kw->ctx);
		rd_kafka_event_destroy(ev);
	}
}

static void on_queue_ready(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct kafka_queue_watch *kw = w->ctx;
	char buf[64];

	(void)events;
	while (read(kw->pipe_fd[0], buf, sizeof(buf)) > 0)
		;
	kafka_queue_pump(d, kw);
}

int kafka_watch_queue(struct tidsd *d, struct kafka_queue_watch *kw, rd_kafka_queue_t *q,
		      void (*on_event)(struct tidsd *d, rd_kafka_event_t *ev, void *ctx), void *ctx)
{
	if (pipe2(kw->pipe_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		rd_kafka_queue_destroy(q);   /* ours from the call on */
		return TIDS_EIO;
	}
	kw->q = q;
	kw->on_event = on_event;
	kw->ctx = ctx;
	kw->w.fd = kw->pipe_fd[0];
	kw->w.on_event = on_queue_ready;
	kw->w.ctx = kw;
	rd_kafka_queue_io_event_enable(q, kw->pipe_fd[1], "1", 1);
	if (loop_add(d, &kw->w, EPOLLIN) != 0)
		return TIDS_EIO;
	/* Events queued before the pipe existed would never be signalled. */
	on_queue_ready(d, &kw->w, 0);
	return 0;
}

int kafka_watch_consumer(struct tidsd *d, struct kafka_queue_watch *kw, struct kafka_read_ahead *ra,
			 void (*on_event)(struct tidsd *d, rd_kafka_event_t *ev, void *ctx), void *ctx)
{
	kw->read_ahead = ra;
	return kafka_watch_queue(d, kw, rd_kafka_queue_get_consumer(ra->rk), on_event, ctx);
}

void kafka_unwatch_queue(struct tidsd *d, struct kafka_queue_watch *kw)
{
	if (kw->q == NULL)
		return;
	rd_kafka_queue_io_event_enable(kw->q, -1, NULL, 0);
	loop_del(d, &kw->w);
	close(kw->pipe_fd[0]);
	close(kw->pipe_fd[1]);
	rd_kafka_queue_destroy(kw->q);
	kw->q = NULL;
}

static enum tids_log_priority priority(int syslog_level)
{
	return syslog_level <= 3 ? TIDS_LOG_ERR : syslog_level == 4 ? TIDS_LOG_WARNING :
	       syslog_level <= 6 ? TIDS_LOG_INFO : TIDS_LOG_DEBUG;
}

/*
 * librdkafka says each broker failure twice: a log line (FAIL, at the
 * level the failure deserves) and an error event with the same text (or,
 * where a callback serves the queue, an ERROR log line with the client's
 * name before it); and every client of the process says it alike. So a
 * FAIL line is logged at its level and remembered, and an error or warning
 * whose text was remembered less than DEDUP_MS ago is dropped: an operator
 * reads each failure once (and again later if it persists). The router's
 * thread logs too, hence the lock.
 */
#define DEDUP_MS 10000
#define DEDUP_SLOTS 32

static pthread_mutex_t dedup_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t hash;
	int64_t at;
} dedup[DEDUP_SLOTS];
static size_t dedup_next;

static bool said_recently(const char *text)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	int64_t now = mono_ms();
	bool seen = false;
	/* Without librdkafka's " (after 3ms in state CONNECT, 2 identical
	 * error(s) suppressed)", which differs every time. */
	const char *end = strstr(text, " (after ");

	for (const unsigned char *p = (const unsigned char *)text; *p != '\0' && (const char *)p != end; p++)
		h = (h ^ *p) * 1099511628211ULL;
	pthread_mutex_lock(&dedup_lock);
	for (size_t i = 0; i < DEDUP_SLOTS && !seen; i++)
		seen = dedup[i].hash == h && dedup[i].at != 0 && now - dedup[i].at < DEDUP_MS;
	if (!seen) {
		dedup[dedup_next].hash = h;
		dedup[dedup_next].at = now;
		dedup_next = (dedup_next + 1) % DEDUP_SLOTS;
	}
	pthread_mutex_unlock(&dedup_lock);
	return seen;
}

/* Log lines start with "[thrd:NAME]: ", ERROR lines with the client's name
 * ("tidsd-hub-ingest#producer-2: "), events with neither. */
static const char *bare(const char *s)
{
	const char *end, *hash;

	if (strncmp(s, "[thrd:", 6) == 0 && (end = strstr(s, "]: ")) != NULL)
		s = end + 3;
	if ((hash = strchr(s, '#')) != NULL && (strncmp(hash, "#producer-", 10) == 0 ||
						strncmp(hash, "#consumer-", 10) == 0) &&
	    (end = strstr(hash, ": ")) != NULL && memchr(s, ' ', (size_t)(hash - s)) == NULL)
		s = end + 2;
	return s;
}

static void log_line(int level, const char *fac, const char *buf)
{
	enum tids_log_priority prio = priority(level);
	const char *text = bare(buf);
	bool fail = strcmp(fac, "FAIL") == 0, error = strcmp(fac, "ERROR") == 0;

	/* A FAIL line is remembered whatever its level, so that the error
	 * event after it is not logged in its place. */
	if ((fail || prio <= TIDS_LOG_WARNING) && said_recently(text))
		return;
	if (prio > tids_log_max())
		return;
	/* FAIL and ERROR say nothing that the level does not. */
	if (fail || error)
		tids_log(prio, "kafka: %s", text);
	else
		tids_log(prio, "kafka: %s: %s", fac, text);
}

void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	log_line(level, fac, buf);
}

bool kafka_log_event(struct tidsd *d, rd_kafka_event_t *ev)
{
	const char *fac, *str;
	int level;

	(void)d;
	switch (rd_kafka_event_type(ev)) {
	case RD_KAFKA_EVENT_LOG:
		if (rd_kafka_event_log(ev, &fac, &str, &level) == 0)
			log_line(level, fac, str);
		return true;
	case RD_KAFKA_EVENT_ERROR:
		log_line(rd_kafka_event_error_is_fatal(ev) ? 3 : 4, "ERROR", rd_kafka_event_error_string(ev));
		return true;
	default:
		return false;
	}
}

/*
 * Every topic tidsd uses, with its settings: the one place that says what
 * the hub keeps on Kafka. Names are "<prefix>.<hub>.<suffix>", and
 * "<prefix>.<hub>.<suffix>.<participant>" for the per-participant ones.
 */
static const char *const compacted[] = { "cleanup.policy", "compact", NULL };
/* The registry: superseded entries (a revoked grant's wrapped key among
 * them) leave the log within two hours of being superseded. */
static const char *const registry_settings[] = {
	"cleanup.policy", "compact", "segment.ms", "3600000", "max.compaction.lag.ms", "3600000",
	"min.cleanable.dirty.ratio", "0.1", NULL,
};
/* Who changed what, kept: the compacted registry forgets what was replaced.
 * And what we forward to a peer hub: kept until tidsd deletes it itself
 * (once acknowledged), not after the broker's retention, for a peer may be
 * away for long. */
static const char *const kept_forever[] = { "retention.ms", "-1", "retention.bytes", "-1", NULL };

static const struct topic_spec {
	const char *suffix;
	bool per_partition;        /* kafka.partitions partitions, else one */
	bool per_participant;      /* one per participant (or peer hub), made when it is registered */
	const char *const *settings;   /* name, value, ..., NULL */
} topic_specs[KT_COUNT] = {
	[KT_INGRESS] = { "ingress", true, false, NULL },
	[KT_AUDIT] = { "audit", true, false, NULL },
	[KT_STATE] = { "state", true, false, compacted },
	[KT_REGISTRY] = { "registry", false, false, registry_settings },
	[KT_CHANGES] = { "changes", false, false, kept_forever },
	/* One partition: a subscriber's delivery_seq is its offset + 1. */
	[KT_DELIVER] = { "deliver", false, true, NULL },
	/* One per peer hub: what is forwarded to it, in order. */
	[KT_OUTBOUND] = { "out", false, true, kept_forever },
};

static const char *const group_suffix[KG_COUNT] = {
	[KG_ROUTER] = "router", [KG_INDEXER] = "indexer", [KG_EGRESS] = "egress", [KG_REGISTRY] = "registry",
};

void kafka_topic_name(const struct tidsd *d, enum kafka_topic t, const char *participant, char *buf, size_t len)
{
	if (topic_specs[t].per_participant)
		snprintf(buf, len, "%s.%s.%s.%s", d->conf->topic_prefix, d->conf->hub_id, topic_specs[t].suffix,
			 participant != NULL ? participant : "");
	else
		snprintf(buf, len, "%s.%s.%s", d->conf->topic_prefix, d->conf->hub_id, topic_specs[t].suffix);
}

void kafka_group_name(const struct tidsd *d, enum kafka_group g, const char *name, char *buf, size_t len)
{
	if (name != NULL)
		snprintf(buf, len, "%s.%s.%s.%s", d->conf->topic_prefix, d->conf->hub_id, group_suffix[g], name);
	else
		snprintf(buf, len, "%s.%s.%s", d->conf->topic_prefix, d->conf->hub_id, group_suffix[g]);
}

int kafka_watermarks(struct tidsd *d, const char *topic, int64_t *lo, int64_t *hi)
{
	/* Admin commands only: a round trip to the broker, bounded. */
	if (d->kafka == NULL || d->kafka->admin == NULL ||
	    rd_kafka_query_watermark_offsets(d->kafka->admin, topic, 0, lo, hi, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return TIDS_EKAFKA;
	return 0;
}

static void on_admin_event(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	const rd_kafka_topic_result_t **res;
	size_t n;
	const char *fac, *str = NULL;
	int level = 7;

	(void)ctx;
	/* The last failure, for "waiting for Kafka at ...". */
	if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR)
		str = rd_kafka_event_error_string(ev);
	else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LOG && rd_kafka_event_log(ev, &fac, &str, &level) != 0)
		str = NULL;
	if (str != NULL && level <= 4 && d->kafka != NULL)
		snprintf(d->kafka->last_error, sizeof(d->kafka->last_error), "%s", bare(str));
	if (kafka_log_event(d, ev))
		return;
	if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DELETERECORDS_RESULT) {
		const rd_kafka_topic_partition_list_t *tp;

		/* A failed request has no offsets (librdkafka asserts if
		 * asked for them): say so and stop there. */
		if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			tids_log_warnx("kafka: records not deleted: %s", rd_kafka_event_error_string(ev));
			return;
		}
		tp = rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
		for (int i = 0; tp != NULL && i < tp->cnt; i++)
			if (tp->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
				tids_log_warnx("kafka: records of %s not deleted: %s", tp->elems[i].topic,
					       rd_kafka_err2str(tp->elems[i].err));
		return;
	}
	if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_CREATETOPICS_RESULT)
		return;
	/* Topics made in the background (kafka_topic_create_async). */
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		tids_log_warnx("kafka: topics not created: %s", rd_kafka_event_error_string(ev));
		return;
	}
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	for (size_t i = 0; i < n; i++)
		if (rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			tids_log_warnx("kafka: topic %s not created: %s", rd_kafka_topic_result_name(res[i]),
				       rd_kafka_topic_result_error_string(res[i]));
}

static const char *bootstrap_servers(const struct tidsd *d)
{
	for (size_t i = 0; i < d->conf->n_kafka; i++)
		if (strcmp(d->conf->kafka[i].name, "bootstrap.servers") == 0)
			return d->conf->kafka[i].value;
	return "(kafka.bootstrap.servers not set)";
}

/*
 * Kafka may come up after tidsd (a host booting, a broker restarting):
 * wait for it, and say so, rather than exit and be restarted into the same
 * wait. Nothing listens meanwhile, the admin socket neither: a hub answers
 * once every method it serves can work, and until then the log and the
 * service status (systemctl status tidsd) say what it waits for. The
 * start timeout of the unit is extended as long as it waits.
 */
static int wait_for_kafka(struct tidsd *d)
{
	struct kafka *k = d->kafka;
	int64_t start = mono_ms(), said = 0;
	const char *where = bootstrap_servers(d);

	for (;;) {
		const struct rd_kafka_metadata *md;
		rd_kafka_resp_err_t err = rd_kafka_metadata(k->admin, 0, NULL, &md, 2000);
		int64_t now;

		kafka_queue_pump(d, &admin_watch);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_metadata_destroy(md);
			if (said != 0)
				tids_log_info("Kafka at %s answered after %lld s", where,
					      (long long)((mono_ms() - start) / 1000));
			return 0;
		}
		if (d->sig_stop)
			return TIDS_EUNAVAIL;
		now = mono_ms();
		if (said == 0 || now - said >= WAIT_LOG_MS) {
			const char *why = *k->last_error != '\0' ? k->last_error : rd_kafka_err2str(err);

			if (said == 0)
				tids_log_warnx("waiting for Kafka at %s (kafka.bootstrap.servers): %s", where, why);
			else
				tids_log_warnx("still waiting for Kafka at %s after %lld s: %s", where,
					       (long long)((now - start) / 1000), why);
			sd_status("waiting for Kafka at %s: %s", where, why);
			said = now;
		}
		sd_extend_timeout(2 * WAIT_LOG_MS);
	}
}

int kafka_delete_before(struct tidsd *d, const char *topic, int64_t offset)
{
	struct kafka *k = d->kafka;
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_DeleteRecords_t *dr;

	if (k == NULL || k->admin == NULL || k->mock != NULL)
		return 0;
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = offset;
	dr = rd_kafka_DeleteRecords_new(tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (dr == NULL)
		return TIDS_ENOMEM;
	/* The answer comes to the admin queue, which logs a failure. */
	rd_kafka_DeleteRecords(k->admin, &dr, 1, NULL, admin_watch.q);
	rd_kafka_DeleteRecords_destroy(dr);
	return 0;
}

static int ensure_topic(struct tidsd *d, const char *topic, int partitions, const char *const *settings,
			char *err, size_t errlen)
{
	struct kafka *k = d->kafka;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **res;
	size_t n;
	int r = 0;

	if (k->mock != NULL) {
		/* The mock cluster's CreateTopics does not honour configs; it
		 * refuses a topic that exists, which is what we want anyway. */
		rd_kafka_mock_topic_create(k->mock, topic, partitions, 1);
		return 0;
	}
	nt = rd_kafka_NewTopic_new(topic, partitions, (int)d->conf->replication, err, errlen);
	if (nt == NULL)
		return TIDS_EKAFKA;
	for (size_t i = 0; settings != NULL && settings[i] != NULL; i += 2)
		rd_kafka_NewTopic_set_config(nt, settings[i], settings[i + 1]);
	opts = rd_kafka_AdminOptions_new(k->admin, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (opts != NULL && rd_kafka_AdminOptions_set_operation_timeout(opts, 25000, err, errlen) != 0) {
		rd_kafka_AdminOptions_destroy(opts);
		opts = NULL;
	}
	q = rd_kafka_queue_new(k->admin);
	rd_kafka_CreateTopics(k->admin, &nt, 1, opts, q);
	/* Topic creation happens at start and on registration only: waiting
	 * here is simpler than a state machine and bounded. */
	ev = rd_kafka_queue_poll(q, 30000);
	if (ev == NULL) {
		r = tids_fail(err, errlen, TIDS_EKAFKA, "%s: no answer from Kafka within 30 s", topic);
	} else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		r = tids_fail(err, errlen, TIDS_EKAFKA, "%s: %s", topic, rd_kafka_event_error_string(ev));
	} else {
		res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
		if (n == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			r = tids_fail(err, errlen, TIDS_EKAFKA, "%s: %s", topic, rd_kafka_topic_result_error_string(res[0]));
	}
	if (ev != NULL)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	if (opts != NULL)
		rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_NewTopic_destroy(nt);
	return r;
}

int kafka_topic_create(struct tidsd *d, enum kafka_topic t, const char *participant, char *err, size_t errlen)
{
	char topic[512];

	kafka_topic_name(d, t, participant, topic, sizeof(topic));
	return ensure_topic(d, topic, topic_specs[t].per_partition ? (int)d->conf->partitions : 1,
			    topic_specs[t].settings, err, errlen);
}

void kafka_topic_create_async(struct tidsd *d, enum kafka_topic t, const char *participant)
{
	struct kafka *k = d->kafka;
	const char *const *settings = topic_specs[t].settings;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	char topic[512], err[256];
	int partitions = topic_specs[t].per_partition ? (int)d->conf->partitions : 1;

	kafka_topic_name(d, t, participant, topic, sizeof(topic));
	if (k->mock != NULL) {
		rd_kafka_mock_topic_create(k->mock, topic, partitions, 1);
		return;
	}
	nt = rd_kafka_NewTopic_new(topic, partitions, (int)d->conf->replication, err, sizeof(err));
	if (nt == NULL) {
		tids_log_warnx("kafka: topic %s: %s", topic, err);
		return;
	}
	for (size_t i = 0; settings != NULL && settings[i] != NULL; i += 2)
		rd_kafka_NewTopic_set_config(nt, settings[i], settings[i + 1]);
	/* The result comes back on the admin client's queue (on_admin_event). */
	q = rd_kafka_queue_get_main(k->admin);
	rd_kafka_CreateTopics(k->admin, &nt, 1, NULL, q);
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
}

int kafka_topic_partitions(struct tidsd *d, enum kafka_topic t, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t e;
	char topic[512];
	int n = -1;

	kafka_topic_name(d, t, NULL, topic, sizeof(topic));
	rkt = rd_kafka_topic_new(d->kafka->admin, topic, NULL);
	if (rkt == NULL)
		return tids_fail(err, errlen, TIDS_EKAFKA, "%s: no topic handle", topic);
	e = rd_kafka_metadata(d->kafka->admin, 0, rkt, &md, 10000);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		n = tids_fail(err, errlen, TIDS_EKAFKA, "%s: %s", topic, rd_kafka_err2str(e));
	else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
		n = tids_fail(err, errlen, TIDS_EKAFKA, "%s: %s", topic,
			      md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not described");
	else
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

int kafka_init(struct tidsd *d)
{
	char err[512];
	rd_kafka_conf_t *conf;
	struct kafka *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return TIDS_ENOMEM;
	d->kafka = k;
	if (d->conf->kafka_mode == KAFKA_EMBEDDED) {
		tids_log_warnx("kafka.mode = embedded: records live in this process's memory only; "
			       "NOTHING IS DURABLE. Use it for demos, never for a hub.");
		conf = rd_kafka_conf_new();
		/* This client only hosts the cluster; it never connects anywhere,
		 * so its "no bootstrap.servers" warning is noise. */
		if (rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)) != RD_KAFKA_CONF_OK)
			tids_log_debug("kafka: %s", err);
		k->mock_owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
		if (k->mock_owner == NULL) {
			rd_kafka_conf_destroy(conf);
			tids_log_warnx("kafka: %s", err);
			return TIDS_EKAFKA;
		}
		k->mock = rd_kafka_mock_cluster_new(k->mock_owner, 1);
		if (k->mock == NULL)
			return TIDS_EKAFKA;
		snprintf(k->bootstrap, sizeof(k->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(k->mock));
	}
	conf = kafka_conf(d, RD_KAFKA_PRODUCER, err, sizeof(err));
	if (conf == NULL || (k->admin = kafka_client(d, RD_KAFKA_PRODUCER, "admin", conf, err, sizeof(err))) == NULL) {
		tids_log_warnx("kafka: %s", err);
		return TIDS_EKAFKA;
	}
	if (kafka_watch_queue(d, &admin_watch, rd_kafka_queue_get_main(k->admin), on_admin_event, NULL) != 0)
		return TIDS_EIO;
	if (k->mock == NULL && wait_for_kafka(d) != 0)
		return TIDS_EUNAVAIL;
	for (int t = 0; t < KT_COUNT; t++) {
		if (topic_specs[t].per_participant)
			continue;
		if (kafka_topic_create(d, (enum kafka_topic)t, NULL, err, sizeof(err)) != 0) {
			tids_log_warnx("kafka: cannot create topic %s", err);
			return TIDS_EKAFKA;
		}
	}
	return 0;
}

void kafka_free(struct tidsd *d)
{
	struct kafka *k = d->kafka;

	if (k == NULL)
		return;
	if (k->admin != NULL) {
		kafka_unwatch_queue(d, &admin_watch);
		rd_kafka_destroy(k->admin);
	}
	/* Every client of the mock cluster is gone by now: it can go, then
	 * its host. */
	if (k->mock != NULL)
		rd_kafka_mock_cluster_destroy(k->mock);
	if (k->mock_owner != NULL)
		rd_kafka_destroy(k->mock_owner);
	free(k);
	d->kafka = NULL;
}
