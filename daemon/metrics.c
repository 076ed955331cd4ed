/*
 * The metrics' storage, the label tables, the router's per-transaction
 * staging, Kafka reachability from librdkafka's statistics, and the
 * Prometheus text exposition and /health body. No I/O: http.c serves them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tids/error.h"
#include "tids/json.h"

/* Statistics come every second; older than this, Kafka counts as unknown. */
#define KAFKA_STATS_STALE_MS 5000

static const uint64_t bucket_us[METRICS_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const bucket_le[METRICS_BUCKETS] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};
static const char *const decision_names[MD_COUNT] = { "allow", "transform", "deny" };
static const char *const tier_names[METRICS_TIERS] = { "unset", "general", "important", "core" };
static const char *const handshake_reasons[MHS_COUNT] = { "invalid", "timeout", "unregistered", "suspended" };
static const char *const reader_names[MR_COUNT] = { "router", "indexer", "egress", "pull" };

/* The label of a default deny: parentheses never occur in rule ids. */
#define DEFAULT_DENY_LABEL "(default-deny)"
#define OTHER_LABEL "other"

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->categories.cap = METRICS_CATEGORIES_MAX;
	m->rules.cap = METRICS_RULES_MAX;
	atomic_init(&m->router_lag, -1);
	atomic_init(&m->indexer_lag, -1);
	atomic_init(&m->router_partitions, -1);
	return m;
}

void metrics_free(struct metrics *m)
{
	free(m);
}

static uint32_t label_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

unsigned metrics_label_slot(struct metrics_labels *t, const char *name)
{
	const size_t mask = sizeof(t->slots) / sizeof(t->slots[0]) - 1;
	unsigned n = atomic_load_explicit(&t->n, memory_order_relaxed);
	size_t i = label_hash(name) & mask;

	/* At most cap - 1 names in twice as many slots: a free one is near. */
	for (; t->slots[i] != 0; i = (i + 1) & mask)
		if (strcmp(t->names[t->slots[i] - 1], name) == 0)
			return t->slots[i] - 1u;
	if (n < t->cap - 1) {
		snprintf(t->names[n], sizeof(t->names[n]), "%s", name);
		t->slots[i] = (uint16_t)(n + 1);
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
		return n;
	}
	/* Full: everything new is "other", the last slot. */
	if (n == t->cap - 1) {
		snprintf(t->names[n], sizeof(t->names[n]), "%s", OTHER_LABEL);
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
	}
	return t->cap - 1;
}

void metrics_observe_us(struct metrics_histogram *h, uint64_t us)
{
	size_t b = 0;

	while (b < METRICS_BUCKETS && us > bucket_us[b])
		b++;
	metrics_add(&h->bucket[b], 1);
	metrics_add(&h->sum_us, us);
}

void metrics_stage_decision(struct metrics *m, struct metrics_route_stage *st, const char *category,
			    enum metrics_decision dec, enum tids_tier tier, const char *deny_rule)
{
	unsigned c = metrics_label_slot(&m->categories, category != NULL ? category : "");
	unsigned t = (unsigned)tier < METRICS_TIERS ? (unsigned)tier : 0;

	st->decisions[c][dec][t]++;
	if (dec == MD_DENY)
		st->denials[metrics_label_slot(&m->rules, deny_rule != NULL ? deny_rule : DEFAULT_DENY_LABEL)]++;
}

void metrics_stage_commit(struct metrics *m, struct metrics_route_stage *st)
{
	unsigned nc = atomic_load_explicit(&m->categories.n, memory_order_relaxed);
	unsigned nr = atomic_load_explicit(&m->rules.n, memory_order_relaxed);

	metrics_add(&m->records_routed, st->records);
	metrics_add(&m->deliveries_produced, st->deliveries);
	for (unsigned c = 0; c < nc; c++)
		for (int d = 0; d < MD_COUNT; d++)
			for (int t = 0; t < METRICS_TIERS; t++)
				if (st->decisions[c][d][t] != 0)
					metrics_add(&m->decisions[c][d][t], st->decisions[c][d][t]);
	for (unsigned r = 0; r < nr; r++)
		if (st->denials[r] != 0)
			metrics_add(&m->denials[r], st->denials[r]);
	metrics_stage_discard(st);
}

void metrics_stage_discard(struct metrics_route_stage *st)
{
	memset(st, 0, sizeof(*st));
}

void metrics_kafka_stats(struct metrics *m, const char *json, size_t len, int64_t mono)
{
	struct tids_json_doc *doc = NULL;
	const struct tids_json *brokers;
	char err[128];
	bool up = false;

	if (tids_json_parse(json, len, &doc, err, sizeof(err)) != 0)
		return;
	brokers = tids_json_get(tids_json_root(doc), "brokers");
	for (size_t i = 0; i < tids_json_len(brokers); i++) {
		const struct tids_json *b = tids_json_at(brokers, i);
		const char *state = tids_json_string(tids_json_get(b, "state"));
		const struct tids_json *id = tids_json_get(b, "nodeid");

		/* A learned broker (not the bootstrap entry, id -1) connected. */
		if (state != NULL && strcmp(state, "UP") == 0 && id != NULL && tids_json_number(id) >= 0)
			up = true;
	}
	tids_json_free(doc);
	m->kafka_reachable = up;
	m->kafka_seen_ms = mono;
}

bool metrics_kafka_ok(const struct metrics *m, int64_t mono)
{
	return m->kafka_seen_ms > 0 && mono - m->kafka_seen_ms <= KAFKA_STATS_STALE_MS && m->kafka_reachable;
}

bool metrics_ready(const struct metrics *m, int64_t mono)
{
	return metrics_kafka_ok(m, mono) &&
	       (!m->router_enabled || atomic_load_explicit(&m->router_partitions, memory_order_relaxed) >= 0);
}

/* --- exposition ------------------------------------------------------------------ */

struct out {
	struct tids_buf *b;
	int err;
};

__attribute__((format(printf, 2, 3)))
static void emit(struct out *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		o->err = TIDS_ETOOBIG;
		return;
	}
	if (o->err == 0 && tids_buf_append(o->b, line, (size_t)n) != 0)
		o->err = TIDS_ENOMEM;
}

/* A label value as the text format wants it: \, " and newline escaped. */
static const char *escape(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[n++] = '\\';
			buf[n++] = *s;
		} else if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long get(const atomic_ulong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void counter(struct out *o, const char *name, const char *help, const atomic_ulong *c)
{
	head(o, name, "counter", help);
	emit(o, "%s %lu\n", name, get(c));
}

static void gauge(struct out *o, const char *name, const char *help, long v)
{
	head(o, name, "gauge", help);
	emit(o, "%s %ld\n", name, v);
}

static void histogram(struct out *o, const char *name, const char *help, const struct metrics_histogram *h)
{
	unsigned long cum = 0, sum = get(&h->sum_us);

	head(o, name, "histogram", help);
	for (size_t b = 0; b < METRICS_BUCKETS; b++) {
		cum += get(&h->bucket[b]);
		emit(o, "%s_bucket{le=\"%s\"} %lu\n", name, bucket_le[b], cum);
	}
	cum += get(&h->bucket[METRICS_BUCKETS]);
	emit(o, "%s_bucket{le=\"+Inf\"} %lu\n", name, cum);
	emit(o, "%s_sum %lu.%06lu\n", name, sum / 1000000, sum % 1000000);
	emit(o, "%s_count %lu\n", name, cum);
}

static void render_router(struct out *o, const struct metrics *m)
{
	unsigned nc = atomic_load_explicit(&m->categories.n, memory_order_acquire);
	unsigned nr = atomic_load_explicit(&m->rules.n, memory_order_acquire);
	char esc[METRICS_LABEL_MAX * 2];
	long lag = atomic_load_explicit(&m->router_lag, memory_order_relaxed);
	int parts = atomic_load_explicit(&m->router_partitions, memory_order_relaxed);

	counter(o, "tids_records_routed_total", "Ingress records routed (committed with their decisions).",
		&m->records_routed);
	counter(o, "tids_deliveries_produced_total",
		"Deliveries written to recipients' deliver topics (committed), notices and aggregates included.",
		&m->deliveries_produced);
	head(o, "tids_decisions_total", "counter", "Policy decisions by decision, tier judged and record category.");
	for (unsigned c = 0; c < nc; c++)
		for (int d = 0; d < MD_COUNT; d++)
			for (int t = 0; t < METRICS_TIERS; t++) {
				unsigned long v = get(&m->decisions[c][d][t]);

				if (v != 0)
					emit(o, "tids_decisions_total{decision=\"%s\",tier=\"%s\",category=\"%s\"} %lu\n",
					     decision_names[d], tier_names[t], escape(m->categories.names[c], esc, sizeof(esc)), v);
			}
	head(o, "tids_denials_total", "counter",
	     "Denials by the deciding rule (" DEFAULT_DENY_LABEL ": no rule permits).");
	for (unsigned r = 0; r < nr; r++) {
		unsigned long v = get(&m->denials[r]);

		if (v != 0)
			emit(o, "tids_denials_total{rule=\"%s\"} %lu\n", escape(m->rules.names[r], esc, sizeof(esc)), v);
	}
	counter(o, "tids_router_transactions_total", "Kafka transactions the router committed.", &m->transactions);
	counter(o, "tids_router_transaction_failures_total",
		"Router transactions that failed or were aborted (the router resumed from Kafka's state).",
		&m->transaction_failures);
	histogram(o, "tids_transaction_commit_seconds", "Time to commit a router transaction that carried records.",
		  &m->commit_latency);
	if (parts >= 0)
		gauge(o, "tids_router_partitions", "Ingress partitions assigned to this router.", parts);
	if (lag >= 0)
		gauge(o, "tids_router_consumer_lag", "Ingress records on the assigned partitions not yet consumed.", lag);
	/* Per peer (forwarded, imported): federation's counters go here. */
}

int metrics_render(const struct metrics *m, const struct metrics_info *info, int64_t mono, struct tids_buf *out)
{
	struct out o = { out, 0 };
	char esc[METRICS_LABEL_MAX * 2], esc2[64];
	long ilag = atomic_load_explicit(&m->indexer_lag, memory_order_relaxed);

	head(&o, "tids_build_info", "gauge", "tidsd's version and hub id.");
	emit(&o, "tids_build_info{version=\"%s\",hub=\"%s\"} 1\n", escape(info->version, esc2, sizeof(esc2)),
	     escape(info->hub_id, esc, sizeof(esc)));
	gauge(&o, "tids_ready", "1 when Kafka is reachable and the router has its assignment (see /health).",
	      metrics_ready(m, mono));
	gauge(&o, "tids_kafka_reachable", "1 while a connection to a Kafka broker is up.", metrics_kafka_ok(m, mono));

	gauge(&o, "tids_sessions_open", "Connections open (participants and local admin).", (long)info->sessions_open);
	head(&o, "tids_sessions_accepted_total", "counter", "Connections accepted.");
	emit(&o, "tids_sessions_accepted_total{transport=\"tcp\"} %lu\n", get(&m->sessions_accepted_tcp));
	emit(&o, "tids_sessions_accepted_total{transport=\"unix\"} %lu\n", get(&m->sessions_accepted_unix));
	counter(&o, "tids_sessions_authenticated_total", "Noise handshakes that authenticated a registered participant.",
		&m->sessions_authenticated);
	head(&o, "tids_handshake_failures_total", "counter", "Handshakes refused or failed, by reason.");
	for (int r = 0; r < MHS_COUNT; r++)
		emit(&o, "tids_handshake_failures_total{reason=\"%s\"} %lu\n", handshake_reasons[r],
		     get(&m->handshake_failures[r]));

	counter(&o, "tids_records_in_total", "Published records accepted and confirmed by Kafka.", &m->records_in);
	counter(&o, "tids_records_refused_total", "Published records refused at ingest (owner, tier, floor, form).",
		&m->records_refused);
	render_router(&o, m);
	counter(&o, "tids_records_out_total", "Deliveries sent to subscribers' streams.", &m->records_out);
	counter(&o, "tids_deliveries_unreadable_total",
		"Deliveries skipped because they no longer open (a revoked grant's key is gone).",
		&m->deliveries_unreadable);
	counter(&o, "tids_subscriber_acks_total", "Subscriber acks that moved the subscriber's position.",
		&m->subscriber_acks);
	counter(&o, "tids_subscriber_position_commits_total",
		"Subscriber positions sent to Kafka (one in flight per stream: acks meanwhile ride the next).",
		&m->position_commits);
	histogram(&o, "tids_delivery_latency_seconds",
		  "From a record's acceptance at ingest to its delivery's sending to the subscriber.",
		  &m->delivery_latency);
	counter(&o, "tids_ledger_entries_indexed_total", "Audit entries written into the ledger by the indexer.",
		&m->ledger_entries);
	if (ilag >= 0)
		gauge(&o, "tids_ledger_indexer_lag", "Audit topic messages not yet in the ledger.", ilag);
	head(&o, "tids_kafka_fetch_wakes_total", "counter",
	     "Times a consumer emptied its read-ahead after filling it, and woke Kafka fetches that had stopped.");
	for (int r = 0; r < MR_COUNT; r++)
		emit(&o, "tids_kafka_fetch_wakes_total{consumer=\"%s\"} %lu\n", reader_names[r], get(&m->fetch_wakes[r]));
	return o.err;
}

int metrics_render_health(const struct metrics *m, int64_t mono, struct tids_buf *out)
{
	struct out o = { out, 0 };
	int parts = atomic_load_explicit(&m->router_partitions, memory_order_relaxed);
	char router[64];

	if (!m->router_enabled)
		snprintf(router, sizeof(router), "disabled");
	else if (parts < 0)
		snprintf(router, sizeof(router), "waiting for its group assignment");
	else
		snprintf(router, sizeof(router), "assigned %d partitions", parts);
	emit(&o, "{\"live\":true,\"ready\":%s,\"kafka\":\"%s\",\"router\":\"%s\"}\n",
	     metrics_ready(m, mono) ? "true" : "false",
	     m->kafka_seen_ms == 0 || mono - m->kafka_seen_ms > KAFKA_STATS_STALE_MS ? "unknown" :
	     m->kafka_reachable ? "reachable" : "unreachable",
	     router);
	return o.err;
}
