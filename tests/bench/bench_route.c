/*
 * make bench: end-to-end routing through a real tidsd on the real broker
 * (256-byte records, 3 recipients each), next to raw librdkafka
 * consume->produce pass-through on the same broker in the same run; then
 * publish->delivery latency at 10k records/s, and signature
 * verifications per record. Prints figures next to the DESIGN §6 targets.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sodium.h>

#include "hub.h"
#include "testenv.h"

#define RECORDS 100000
#define BATCH 500
#define PAYLOAD 256

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_route: %s\n", what);
	exit(1);
}

/* A 256-byte record (serialized) with n in field "n". */
static struct tids_bytes record(uint32_t n, int64_t produced_at)
{
	static char pad[PAYLOAD];
	struct tids_field f[2] = { { 0 } };
	struct tids_record r = { 0 };
	uint8_t *buf;
	size_t len;

	memset(pad, 'x', sizeof(pad) - 1);
	randombytes_buf(r.record_id, sizeof(r.record_id));
	r.owner = "factory.sh1";
	r.asset_id = "press-7";
	r.category = "run_hours";
	r.tier = TIDS_TIER_GENERAL;
	r.origin = "CN-SH";
	r.produced_at_ms = produced_at;
	f[0].name = "n";
	f[0].value.kind = TIDS_VALUE_INT;
	f[0].value.as.i = n;
	f[1].name = "note";
	f[1].value.kind = TIDS_VALUE_TEXT;
	/* Filled so that the serialized record is PAYLOAD bytes. */
	f[1].value.as.bytes.data = (const uint8_t *)pad;
	f[1].value.as.bytes.len = PAYLOAD - 80;
	r.fields = f;
	r.n_fields = 2;
	if (tids_wire_encode_record(&r, &buf, &len) != 0)
		die("encode");
	return (struct tids_bytes){ buf, len };
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *group, const char *extra[][2])
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	rd_kafka_conf_set(c, "bootstrap.servers", tids_test_kafka_bootstrap(), err, sizeof(err));
	rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err));
	if (group != NULL)
		rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
	for (int i = 0; extra != NULL && extra[i][0] != NULL; i++)
		if (rd_kafka_conf_set(c, extra[i][0], extra[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
			die(err);
	rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
	if (rk == NULL)
		die(err);
	return rk;
}

/* Raw librdkafka: consume RECORDS messages of 256 bytes from one topic and
 * produce `fanout` copies of each to another (acks=all), as fast as it
 * goes. Returns records per second. */
static double raw_passthrough(int fanout)
{
	const char *pconf[][2] = { { "enable.idempotence", "true" }, { "linger.ms", "5" }, { NULL, NULL } };
	const char *cconf[][2] = { { "auto.offset.reset", "earliest" }, { "enable.auto.commit", "false" },
				   { NULL, NULL } };
	char in[128], out[128], group[128], payload[PAYLOAD];
	rd_kafka_t *p = client(RD_KAFKA_PRODUCER, NULL, pconf), *c;
	rd_kafka_topic_partition_list_t *tl;
	int64_t t0;
	long got = 0;

	tids_test_unique_name(in, sizeof(in), "raw-in");
	tids_test_unique_name(out, sizeof(out), "raw-out");
	tids_test_unique_name(group, sizeof(group), "raw");
	memset(payload, 'r', sizeof(payload));
	for (int i = 0; i < RECORDS; i++)
		while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(in), RD_KAFKA_V_VALUE(payload, sizeof(payload)),
					 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
			rd_kafka_poll(p, 10);
	rd_kafka_flush(p, 60000);
	c = client(RD_KAFKA_CONSUMER, group, cconf);
	rd_kafka_poll_set_consumer(c);
	tl = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tl, in, RD_KAFKA_PARTITION_UA);
	rd_kafka_subscribe(c, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	t0 = 0;
	while (got < RECORDS) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);

		if (m == NULL)
			continue;
		if (m->err == 0) {
			if (t0 == 0)
				t0 = mono_us();
			for (int k = 0; k < fanout; k++)
				while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(out), RD_KAFKA_V_VALUE(m->payload, m->len),
							 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
					rd_kafka_poll(p, 10);
			got++;
		}
		rd_kafka_message_destroy(m);
		rd_kafka_poll(p, 0);
	}
	rd_kafka_flush(p, 60000);
	double secs = (double)(mono_us() - t0) / 1e6;
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	rd_kafka_destroy(p);
	return RECORDS / secs;
}

struct world {
	struct tids_test_hub hub;
	struct tids_identity factory, lessor, reg;
};

static void subscribe(struct world *w, const struct tids_identity *id, const char *purpose)
{
	const char *purposes[] = { purpose };
	struct tids_client *c = tids_test_hub_connect(&w->hub, id);
	char err[256];

	if (c == NULL || tids_client_subscribe(c, purposes, 1, 10, err, sizeof(err)) != 0 ||
	    tids_client_ping(c, err, sizeof(err), err, sizeof(err)) != 0)
		die("subscribe");
	tids_client_free(c);
}

static void world_start(struct world *w, const char *extra)
{
	if (tids_test_hub_start(&w->hub, extra) != 0 ||
	    tids_test_hub_participant(&w->hub, "factory.sh1", "factory", "CN-SH", NULL, &w->factory) != 0 ||
	    tids_test_hub_participant(&w->hub, "lessor.wh", "lessor", "CN-HB", "security_agreement=true", &w->lessor) ||
	    tids_test_hub_participant(&w->hub, "reg.sh", "regulator", "CN-SH", NULL, &w->reg) != 0 ||
	    tids_test_hub_asset(&w->hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2") != 0)
		die("hub setup");
	/* Three recipients per record: the lessor, the regulator, the owner. */
	subscribe(w, &w->lessor, "billing");
	subscribe(w, &w->reg, "statistics");
	subscribe(w, &w->factory, "billing");
}

static void publish_all(struct world *w, uint32_t n, uint64_t first_seq)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->factory);
	struct tids_bytes recs[BATCH];
	struct tids_publish_ack ack;
	char err[256];

	if (c == NULL)
		die("connect");
	for (uint32_t b = 0; b < n / BATCH; b++) {
		for (uint32_t i = 0; i < BATCH; i++)
			recs[i] = record(b * BATCH + i, wall_ms());
		if (tids_client_publish(c, &w->factory, "factory.sh1", first_seq + b, recs, BATCH, &ack, err,
					sizeof(err)) != 0 || ack.accepted != BATCH)
			die(err);
		tids_publish_ack_free(&ack);
		for (uint32_t i = 0; i < BATCH; i++)
			free((void *)recs[i].data);
	}
	tids_client_free(c);
}

/* Committed position of the router's group on the ingress topic. */
static int64_t router_committed(struct world *w, int partitions)
{
	char group[256], topic[256];
	const char *none[][2] = { { NULL, NULL } };
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *tl;
	int64_t sum = 0;

	snprintf(group, sizeof(group), "tids.%s.router", w->hub.hub_id);
	snprintf(topic, sizeof(topic), "tids.%s.ingress", w->hub.hub_id);
	rk = client(RD_KAFKA_CONSUMER, group, none);
	tl = rd_kafka_topic_partition_list_new(partitions);
	for (int p = 0; p < partitions; p++)
		rd_kafka_topic_partition_list_add(tl, topic, p);
	if (rd_kafka_committed(rk, tl, 10000) == 0)
		for (int p = 0; p < partitions; p++)
			sum += tl->elems[p].offset > 0 ? tl->elems[p].offset : 0;
	rd_kafka_topic_partition_list_destroy(tl);
	rd_kafka_destroy(rk);
	return sum;
}

static double tidsd_routing(struct world *w, unsigned long *verifications, unsigned long *written, double *steady)
{
	char conf[512];
	int64_t t0;
	FILE *f;

	/* Ingest first with the router off, then route the backlog: that is
	 * the routing rate alone, like the raw pass-through's. */
	world_start(w, "kafka.partitions = 4\nrouter.enabled = no");
	publish_all(w, RECORDS, 1);
	tids_test_hub_stop(&w->hub);
	snprintf(conf, sizeof(conf), "%s", w->hub.conf);
	f = fopen(conf, "a");
	if (f == NULL)
		die("config");
	fprintf(f, "# bench: now route\n");
	fclose(f);
	{
		/* Flip router.enabled to yes. */
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "sed -i 's/router.enabled = no/router.enabled = yes/' '%s'", conf);
		if (system(cmd) != 0)
			die("sed");
	}
	if (tids_test_hub_restart(&w->hub) != 0)
		die("restart");
	t0 = mono_us();
	{
		int64_t first_at = 0, first_done = 0, done;

		while ((done = router_committed(w, 4)) < RECORDS) {
			if (mono_us() - t0 > 600 * 1000000LL)
				die("routing did not finish in 10 minutes");
			if (done > 0 && first_at == 0) {
				first_at = mono_us();
				first_done = done;
			}
			usleep(20000);
		}
		/* From the first committed transaction on: the router's start
		 * (transactions, state, joining the group) is a one-off cost. */
		if (first_at > 0 && mono_us() > first_at)
			*steady = (double)(RECORDS - first_done) / ((double)(mono_us() - first_at) / 1e6);
	}
	double rate = RECORDS / ((double)(mono_us() - t0) / 1e6);
	tids_test_hub_stop(&w->hub);
	/* From the first run's log (ingest counts itself at shutdown). */
	{
		char line[512];
		FILE *log = fopen(w->hub.log, "r");

		while (log != NULL && fgets(line, sizeof(line), log) != NULL) {
			unsigned long v, r;
			/* After the time stamp. */
			const char *at = strstr(line, "tidsd: info: ingest: ");

			if (at != NULL &&
			    sscanf(at, "tidsd: info: ingest: %lu batch signatures verified for %lu records", &v, &r) == 2 &&
			    r > 0) {
				*verifications = v;
				*written = r;
			}
		}
		if (log != NULL)
			fclose(log);
	}
	tids_test_hub_destroy(&w->hub);
	return rate;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct lat_ctx {
	struct world *w;
	int64_t *samples;
	size_t n, want;
};

static void *receive_latencies(void *arg)
{
	struct lat_ctx *l = arg;
	const char *purposes[] = { "billing" };
	struct tids_client *c = tids_test_hub_connect(&l->w->hub, &l->w->lessor);
	char err[256];

	if (c == NULL || tids_client_subscribe(c, purposes, 1, 10000, err, sizeof(err)) != 0)
		die("subscribe");
	while (l->n < l->want) {
		struct tids_delivery d;

		if (tids_client_next_delivery(c, &d, 30000, err, sizeof(err)) != 1)
			break;
		l->samples[l->n++] = wall_ms() - d.record.produced_at_ms;
		if (l->n % 500 == 0 && tids_client_ack(c, d.delivery_seq, err, sizeof(err)) != 0)
			die("ack");
		tids_delivery_free(&d);
	}
	tids_client_free(c);
	return NULL;
}

/* 10k records/s for 10 s: batches of 100 every 10 ms. */
static void latency(struct world *w, int64_t *p50, int64_t *p99, size_t *n)
{
	struct lat_ctx l = { w, NULL, 0, 100000 };
	struct tids_client *c;
	struct tids_bytes recs[100];
	struct tids_publish_ack ack;
	pthread_t t;
	char err[256];
	int64_t next;

	world_start(w, "kafka.partitions = 4");
	for (int i = 0; i < 600 && tids_test_hub_log_count(&w->hub, "ingress partitions assigned") == 0; i++)
		usleep(100000);
	l.samples = calloc(l.want, sizeof(*l.samples));
	pthread_create(&t, NULL, receive_latencies, &l);
	c = tids_test_hub_connect(&w->hub, &w->factory);
	if (c == NULL)
		die("connect");
	next = mono_us();
	for (uint32_t b = 0; b < 1000; b++) {
		for (uint32_t i = 0; i < 100; i++)
			recs[i] = record(b * 100 + i, wall_ms());
		if (tids_client_publish(c, &w->factory, "factory.sh1", b + 1, recs, 100, &ack, err, sizeof(err)) != 0)
			die(err);
		tids_publish_ack_free(&ack);
		for (uint32_t i = 0; i < 100; i++)
			free((void *)recs[i].data);
		next += 10000;
		if (next > mono_us())
			usleep((useconds_t)(next - mono_us()));
	}
	pthread_join(t, NULL);
	tids_client_free(c);
	qsort(l.samples, l.n, sizeof(*l.samples), cmp64);
	*n = l.n;
	*p50 = l.n > 0 ? l.samples[l.n / 2] : -1;
	*p99 = l.n > 0 ? l.samples[l.n * 99 / 100] : -1;
	free(l.samples);
	tids_test_hub_destroy(&w->hub);
}

int main(void)
{
	struct world w;
	unsigned long verifications = 0, written = 0;
	int64_t p50, p99;
	size_t n;

	if (sodium_init() < 0)
		return 1;
	printf("routing benchmark: %d records of %d bytes, 3 recipients each, real Kafka at %s\n", RECORDS, PAYLOAD,
	       tids_test_kafka_bootstrap());
	double raw1 = raw_passthrough(1);
	double raw3 = raw_passthrough(3);
	double steady = 0;
	double tids = tidsd_routing(&w, &verifications, &written, &steady);
	printf("  %-46s %12.0f records/s\n", "raw librdkafka consume->produce (1 copy)", raw1);
	printf("  %-46s %12.0f records/s\n", "raw librdkafka consume->produce (3 copies)", raw3);
	printf("  %-46s %12.0f records/s  (3 deliveries + 3 audit entries each, transactional)\n",
	       "tidsd routing, router start included", tids);
	printf("  %-46s %12.0f records/s\n", "tidsd routing, from its first transaction", steady);
	printf("  %-46s %12.2f  (target >= 0.50)\n", "ratio tidsd / raw (1 copy)", tids / raw1);
	printf("  %-46s %12.2f  (target >= 0.50)\n", "ratio tidsd / raw (3 copies)", tids / raw3);
	printf("  %-46s %12.2f\n", "ratio, from the first transaction (1 copy)", steady / raw1);
	if (written > 0)
		printf("  %-46s %12.4f  (%lu per %lu records; target <= 1 per batch)\n",
		       "signature verifications per record", (double)verifications / (double)written, verifications,
		       written);
	latency(&w, &p50, &p99, &n);
	printf("  %-46s p50 %lld ms, p99 %lld ms over %zu deliveries  (target p99 <= 20 ms)\n",
	       "publish->delivery latency at 10k records/s", (long long)p50, (long long)p99, n);
	return 0;
}
