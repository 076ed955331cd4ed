/*
 * make bench: one hub on several tidsd instances (issue 12), on the test
 * broker of make bench:
 *
 *  - routing with one and with two instances: a backlog of records from
 *    eight owners is published through an instance that does not route;
 *    then one (or two) routing instances join and drain it, and the rate
 *    is taken between 10% and 90% of the backlog routed (committed offsets
 *    of the router group), with the CPU each tidsd and the broker spent;
 *  - the propagation of a change of the hub state: participants registered
 *    through instance a, timed until instance b accepts each one's
 *    handshake (what a participant sees), and as the instances themselves
 *    measure it (from the write on a to the apply on b, in b's log).
 *
 * Benchmarks measure and never pass or fail on a figure. The figures also
 * go to $TIDS_BUILD_DIR/bench/cluster.json.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sodium.h>

#include "clock.h"
#include "hub.h"
#include "procstat.h"
#include "testenv.h"

#define OWNERS 8
#define PARTITIONS 8
#define BATCH 500
#define PAYLOAD 256

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "bench_cluster: %s\n", what);
	exit(1);
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : dflt;
}

/* --- the world: owners with a press each, a lessor that bills them all --- */

struct world {
	struct tids_test_hub ingest;        /* takes the publishes, does not route */
	struct tids_test_hub routers[2];
	int n_routers;
	struct tids_identity owner[OWNERS], lessor;
};

static void start_world(struct world *w, const char *conf)
{
	char extra[512], id[32], asset[32];
	const char *billing[] = { "billing" };
	struct tids_client *c;
	char err[256];

	memset(w, 0, sizeof(*w));
	snprintf(extra, sizeof(extra), "kafka.partitions = %d\nrouter.enabled = no\naudit.ledger = no\n%s", PARTITIONS,
		 conf);
	if (tids_test_hub_start(&w->ingest, extra) != 0)
		die("hub did not start");
	for (int i = 0; i < OWNERS; i++) {
		snprintf(id, sizeof(id), "factory.%d", i);
		snprintf(asset, sizeof(asset), "press-%d", i);
		if (tids_test_hub_participant(&w->ingest, id, "factory", "CN-SH", NULL, &w->owner[i]) != 0)
			die("register factory");
		if (i == 0 && tids_test_hub_participant(&w->ingest, "lessor.wh", "lessor", "CN-SH", NULL, &w->lessor) != 0)
			die("register lessor");
		if (tids_test_hub_asset(&w->ingest, asset, id, "lessor.wh", "sh-plant-2") != 0)
			die("register asset");
	}
	c = tids_test_hub_connect(&w->ingest, &w->lessor);
	if (c == NULL || tids_client_subscribe(c, billing, 1, 100, err, sizeof(err)) != 0 ||
	    tids_client_ping(c, err, sizeof(err), err, sizeof(err)) != 0)
		die("subscribe");
	tids_client_free(c);
}

static void stop_world(struct world *w)
{
	for (int i = w->n_routers - 1; i >= 0; i--)
		tids_test_hub_destroy(&w->routers[i]);
	tids_test_hub_destroy(&w->ingest);
	for (int i = 0; i < OWNERS; i++)
		tids_identity_wipe(&w->owner[i]);
	tids_identity_wipe(&w->lessor);
}

static struct tids_bytes make_record(uint32_t n, int owner)
{
	char id[32], asset[32];
	uint8_t pad[PAYLOAD / 2];
	struct tids_field f[2] = { { .name = "hours", .value = { .kind = TIDS_VALUE_REAL, .as.d = 0.25 } },
				   { .name = "pad", .value = { .kind = TIDS_VALUE_BLOB } } };
	struct tids_record r = { .category = "run_hours", .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .fields = f,
				 .n_fields = 2 };
	struct tids_bytes out;
	uint8_t *buf;
	size_t len;

	snprintf(id, sizeof(id), "factory.%d", owner);
	snprintf(asset, sizeof(asset), "press-%d", owner);
	memset(pad, 'x', sizeof(pad));
	f[1].value.as.bytes.data = pad;
	f[1].value.as.bytes.len = sizeof(pad);
	r.owner = id;
	r.asset_id = asset;
	randombytes_buf(r.record_id, sizeof(r.record_id));
	memcpy(r.record_id, &n, sizeof(n));
	r.produced_at_ms = wall_ms();
	if (tids_wire_encode_record(&r, &buf, &len) != 0)
		die("encode");
	out.data = buf;
	out.len = len;
	return out;
}

struct pusher {
	struct world *w;
	int owner;
	long records;
};

static void *push(void *arg)
{
	struct pusher *p = arg;
	struct tids_bytes recs[BATCH];
	struct tids_client *c = tids_test_hub_connect(&p->w->ingest, &p->w->owner[p->owner]);
	char id[32], err[256];

	snprintf(id, sizeof(id), "factory.%d", p->owner);
	if (c == NULL)
		die("connect");
	for (long b = 0; b * BATCH < p->records; b++) {
		struct tids_publish_ack ack;

		for (int i = 0; i < BATCH; i++)
			recs[i] = make_record((uint32_t)(b * BATCH + i), p->owner);
		if (tids_client_publish(c, &p->w->owner[p->owner], id, (uint64_t)b + 1, recs, BATCH, &ack, err,
					sizeof(err)) != 0 || ack.accepted != BATCH)
			die(err);
		tids_publish_ack_free(&ack);
		for (int i = 0; i < BATCH; i++)
			free((void *)recs[i].data);
	}
	tids_client_free(c);
	return NULL;
}

/* Records the router group has committed, summed over the partitions. */
static int64_t routed(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(PARTITIONS);
	int64_t sum = 0;

	for (int p = 0; p < PARTITIONS; p++)
		rd_kafka_topic_partition_list_add(tp, topic, p);
	if (rd_kafka_committed(rk, tp, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (int i = 0; i < tp->cnt; i++)
			sum += tp->elems[i].offset > 0 ? tp->elems[i].offset : 0;
	rd_kafka_topic_partition_list_destroy(tp);
	return sum;
}

static rd_kafka_t *group_reader(const char *group)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(c, "bootstrap.servers", tids_test_kafka_bootstrap(), err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "isolation.level", "read_committed", err, sizeof(err)))
		die(err);
	if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err))) == NULL)
		die(err);
	return rk;
}

static pid_t broker_pid(void)
{
	char path[512];
	FILE *f;
	long pid = 0;

	if (tids_test_kafka_dir() == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/broker.pid", tids_test_kafka_dir());
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

struct routing {
	int instances;
	long records;
	double rate;                        /* records/s, 10% to 90% */
	double router_cpu_us[2];            /* per record, each instance's router thread */
	double tidsd_cpu_us[2];             /* per record, each instance in all */
	double broker_cpu_us;
};

static double group_cpu(const struct tids_procstat *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->name[i], name) == 0)
			return s->cpu_us[i];
	return 0;
}

/* The partitions h's router holds now, from its log (the last "holds N"). */
static int held(const struct tids_test_hub *h)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(h->log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, "router: ingress partitions ");

		if (p != NULL && (p = strstr(p, "; holds ")) != NULL)
			(void)sscanf(p, "; holds %d:", &n);
	}
	fclose(f);
	return n;
}

/* A backlog published through the ingest instance, drained by n routers.
 * The routers join first and share the partitions; they stop (static
 * members: their partitions stay theirs for router.session_timeout) while
 * the backlog is published, and come back to drain it together. */
static void measure_routing(int n, long records, struct routing *out)
{
	struct world w;
	struct pusher p[OWNERS];
	pthread_t t[OWNERS];
	struct tids_procstat before[3], after[3], diff;
	char topic[256], group[256];
	int64_t total, t10 = 0, t90 = 0, r10 = 0, r90 = 0;
	rd_kafka_t *rk;

	memset(out, 0, sizeof(*out));
	out->instances = n;
	out->records = records;
	start_world(&w, "");
	for (int i = 0; i < n; i++) {
		char extra[256];
		int sum = 0;

		snprintf(extra, sizeof(extra), "kafka.partitions = %d\naudit.ledger = no\nrouter.session_timeout = 300s",
			 PARTITIONS);
		if (tids_test_hub_join(&w.routers[i], &w.ingest, i == 0 ? "r1" : "r2", extra) != 0)
			die("router instance did not start");
		w.n_routers++;
		for (int64_t deadline = mono_ms() + 120000; mono_ms() < deadline; sleep_ms(100)) {
			sum = 0;
			for (int j = 0; j <= i; j++)
				sum += held(&w.routers[j]);
			if (sum == PARTITIONS && (i == 0 || held(&w.routers[i]) > 0))
				break;
		}
		if (sum != PARTITIONS)
			die("the routers did not come to share the partitions");
	}
	for (int i = 0; i < n; i++)
		if (tids_test_hub_stop(&w.routers[i]) != 0)
			die("a router did not stop cleanly");
	for (int i = 0; i < OWNERS; i++) {
		p[i] = (struct pusher){ &w, i, records / OWNERS };
		if (pthread_create(&t[i], NULL, push, &p[i]) != 0)
			die("thread");
	}
	for (int i = 0; i < OWNERS; i++)
		pthread_join(t[i], NULL);
	total = (records / OWNERS / BATCH) * BATCH * OWNERS;
	snprintf(topic, sizeof(topic), "tids.%s.ingress", w.ingest.hub_id);
	snprintf(group, sizeof(group), "tids.%s.router", w.ingest.hub_id);
	rk = group_reader(group);
	/* The backlog is on Kafka: now the routers, back to their partitions. */
	for (int i = 0; i < n; i++)
		if (tids_test_hub_restart(&w.routers[i]) != 0)
			die("router instance did not start again");
	for (int64_t deadline = mono_ms() + 30 * 60 * 1000; mono_ms() < deadline; sleep_ms(50)) {
		int64_t r = routed(rk, topic), now = mono_ms();

		if (r10 == 0 && r >= total / 10) {
			r10 = r;
			t10 = now;
			for (int i = 0; i < n; i++)
				tids_procstat_sample(w.routers[i].pid, &before[i]);
			tids_procstat_sample(broker_pid(), &before[2]);
		}
		if (r10 != 0 && r >= total * 9 / 10) {
			r90 = r;
			t90 = now;
			for (int i = 0; i < n; i++)
				tids_procstat_sample(w.routers[i].pid, &after[i]);
			tids_procstat_sample(broker_pid(), &after[2]);
			break;
		}
	}
	if (t90 == 0)
		die("the backlog was not routed in 30 minutes");
	out->rate = (double)(r90 - r10) * 1000.0 / (double)(t90 - t10 > 0 ? t90 - t10 : 1);
	for (int i = 0; i < n; i++) {
		tids_procstat_diff(&before[i], &after[i], &diff);
		out->router_cpu_us[i] = group_cpu(&diff, "tidsd-router") / (double)(r90 - r10);
		out->tidsd_cpu_us[i] = diff.total_us / (double)(r90 - r10);
	}
	tids_procstat_diff(&before[2], &after[2], &diff);
	out->broker_cpu_us = diff.total_us / (double)(r90 - r10);
	rd_kafka_destroy(rk);
	stop_world(&w);
}

/* --- propagation ---------------------------------------------------------- */

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct propagation {
	int samples;
	double p50, p99, max;               /* ms: reply on a -> accepted by b */
	char daemon_line[512];              /* b's own measure, from its log */
};

static bool accepts(struct tids_test_hub *h, const struct tids_identity *id)
{
	struct tids_client_options o = { .address = h->addr, .identity = id, .hub_key = h->hub_pk, .timeout_ms = 5000 };
	struct tids_client *c = NULL;
	char err[256], who[160];
	bool ok;

	if (tids_client_connect(&o, &c, err, sizeof(err)) != 0)
		return false;
	ok = tids_client_ping(c, who, sizeof(who), err, sizeof(err)) == 0;
	tids_client_free(c);
	return ok;
}

static void measure_propagation(int samples, struct propagation *out)
{
	struct tids_test_hub a, b;
	double *ms = calloc((size_t)samples, sizeof(*ms));
	char line[4096];
	FILE *f;

	memset(out, 0, sizeof(*out));
	if (ms == NULL)
		die("out of memory");
	if (tids_test_hub_start(&a, "router.enabled = no\naudit.ledger = no") != 0 ||
	    tids_test_hub_join(&b, &a, "b", "router.enabled = no\naudit.ledger = no") != 0)
		die("hub did not start");
	for (int i = 0; i < samples; i++) {
		struct tids_identity id;
		char name[32];
		int64_t t0;

		snprintf(name, sizeof(name), "factory.p%d", i);
		if (tids_test_hub_participant(&a, name, "factory", "CN-SH", NULL, &id) != 0)
			die("register");
		t0 = mono_ms();
		while (!accepts(&b, &id)) {
			if (mono_ms() - t0 > 60000)
				die("a registration did not reach the other instance in 60 s");
		}
		ms[i] = (double)(mono_ms() - t0);
		tids_identity_wipe(&id);
	}
	qsort(ms, (size_t)samples, sizeof(*ms), by_value);
	out->samples = samples;
	out->p50 = ms[samples / 2];
	out->p99 = ms[(samples * 99) / 100 < samples ? (samples * 99) / 100 : samples - 1];
	out->max = ms[samples - 1];
	/* b's own figure, which it logs at stop. */
	tids_test_hub_stop(&b);
	if ((f = fopen(b.log, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "changes from other instances applied") != NULL)
				snprintf(out->daemon_line, sizeof(out->daemon_line), "%.500s", line);
		fclose(f);
	}
	out->daemon_line[strcspn(out->daemon_line, "\n")] = '\0';
	free(ms);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}

int main(void)
{
	long records = env_long("TIDS_BENCH_CLUSTER_RECORDS", 200000);
	int samples = (int)env_long("TIDS_BENCH_PROPAGATION_SAMPLES", 200);
	struct routing one, two;
	struct propagation prop;
	char path[512];
	FILE *f;

	if (sodium_init() < 0)
		die("libsodium");
	printf("routing a backlog of %ld records (8 owners, %d partitions, 1 delivery and 1 audit entry each), "
	       "rate between 10%% and 90%% routed\n", records, PARTITIONS);
	measure_routing(1, records, &one);
	printf("  1 instance:  %8.0f records/s; router thread %.1f us/record, tidsd %.1f us/record, broker %.1f "
	       "us/record\n", one.rate, one.router_cpu_us[0], one.tidsd_cpu_us[0], one.broker_cpu_us);
	measure_routing(2, records, &two);
	printf("  2 instances: %8.0f records/s; router threads %.1f + %.1f us/record, tidsd %.1f + %.1f us/record, "
	       "broker %.1f us/record\n", two.rate, two.router_cpu_us[0], two.router_cpu_us[1], two.tidsd_cpu_us[0],
	       two.tidsd_cpu_us[1], two.broker_cpu_us);
	printf("  (%ld cores for the broker, both instances and this benchmark: CPU per record, not the instances' "
	       "number, bounds the rate; a second instance pays for a second consumer and producer)\n",
	       sysconf(_SC_NPROCESSORS_ONLN));
	measure_propagation(samples, &prop);
	printf("hub state propagation, %d registrations through instance a, until instance b accepts the "
	       "participant's handshake: p50 %.0f ms, p99 %.0f ms, max %.0f ms (target p99 1000 ms)\n", prop.samples,
	       prop.p50, prop.p99, prop.max);
	if (*prop.daemon_line != '\0')
		printf("  instance b's own measure (write on a to apply on b): %s\n",
		       strstr(prop.daemon_line, "hub state:") != NULL ? strstr(prop.daemon_line, "hub state:")
								    : prop.daemon_line);
	snprintf(path, sizeof(path), "%s/bench", tids_test_build_dir());
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bench/cluster.json", tids_test_build_dir());
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write cluster.json");
	fprintf(f, "{\n  \"cores\": %ld,\n  \"records\": %ld,\n", sysconf(_SC_NPROCESSORS_ONLN), records);
	fprintf(f, "  \"one_instance\": { \"records_per_s\": %.0f, \"router_us_per_record\": %.2f, "
		   "\"tidsd_us_per_record\": %.2f, \"broker_us_per_record\": %.2f },\n",
		one.rate, one.router_cpu_us[0], one.tidsd_cpu_us[0], one.broker_cpu_us);
	fprintf(f, "  \"two_instances\": { \"records_per_s\": %.0f, \"router_us_per_record\": [%.2f, %.2f], "
		   "\"tidsd_us_per_record\": [%.2f, %.2f], \"broker_us_per_record\": %.2f },\n",
		two.rate, two.router_cpu_us[0], two.router_cpu_us[1], two.tidsd_cpu_us[0], two.tidsd_cpu_us[1],
		two.broker_cpu_us);
	fprintf(f, "  \"propagation_ms\": { \"samples\": %d, \"p50\": %.0f, \"p99\": %.0f, \"max\": %.0f }\n}\n",
		prop.samples, prop.p50, prop.p99, prop.max);
	if (fclose(f) != 0)
		die("cannot write cluster.json");
	return 0;
}
