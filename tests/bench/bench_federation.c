/*
 * make bench: one hop of the national network. A factory at hub.sh
 * publishes run hours of a press whose lessor is served by hub.wh; the
 * records cross over the peer link (router transaction at the origin,
 * outbound topic, Noise link, import onto the destination's ingress, its
 * router's transaction, egress). Next to it, in the same run on the same
 * broker, the same lessor served by hub.sh itself: the single-hub figures.
 * Prints records/s end to end (publish of the first to delivery of the
 * last) and publish->delivery latency at a fixed rate, and the difference:
 * what a hop adds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "hub.h"
#include "testenv.h"

#define RECORDS 50000
#define BATCH 500
#define PAYLOAD 256
#define RATE 2000                   /* records/s for the latency run */
#define RATE_SECONDS 10

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
	fprintf(stderr, "bench_federation: %s\n", what);
	exit(1);
}

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
	f[1].value.as.bytes.data = (const uint8_t *)pad;
	f[1].value.as.bytes.len = PAYLOAD - 80;
	r.fields = f;
	r.n_fields = 2;
	if (tids_wire_encode_record(&r, &buf, &len) != 0)
		die("encode");
	return (struct tids_bytes){ buf, len };
}

/* One setup: the hub the factory publishes at, and the hub the lessor is
 * served by (the same one, or its peer). */
struct setup {
	struct tids_test_hub sh, wh;
	bool hop;
	struct tids_identity factory, lessor;
	uint64_t seq;
};

static void wait_log(struct tids_test_hub *h, const char *needle)
{
	for (int i = 0; i < 1200 && tids_test_hub_log_count(h, needle) == 0; i++)
		usleep(100000);
	if (tids_test_hub_log_count(h, needle) == 0)
		die(needle);
}

static void setup_start(struct setup *s, bool hop)
{
	const char *purposes[] = { "billing" };
	struct tids_test_hub *home;
	struct tids_client *c;
	char lessor[200], err[256], needle[300];

	memset(s, 0, sizeof(*s));
	s->hop = hop;
	if (tids_test_hub_start_as(&s->sh, "hub.sh", "CN-SH", NULL, "kafka.partitions = 4") != 0 ||
	    tids_test_hub_participant(&s->sh, "factory.sh1", "factory", "CN-SH", NULL, &s->factory) != 0)
		die("hub.sh");
	home = &s->sh;
	if (hop) {
		if (tids_test_hub_start_as(&s->wh, "hub.wh", "CN-HB", NULL, "kafka.partitions = 4") != 0 ||
		    tids_test_hub_peer(&s->sh, &s->wh) != 0 || tids_test_hub_peer(&s->wh, &s->sh) != 0)
			die("hub.wh");
		home = &s->wh;
	}
	if (tids_test_hub_participant(home, "lessor.wh", "lessor", "CN-HB", "security_agreement=true", &s->lessor) != 0)
		die("lessor");
	c = tids_test_hub_connect(home, &s->lessor);
	if (c == NULL || tids_client_subscribe(c, purposes, 1, 10, err, sizeof(err)) != 0 ||
	    tids_client_ping(c, err, sizeof(err), err, sizeof(err)) != 0)
		die("subscribe");
	tids_client_free(c);
	if (hop) {
		snprintf(needle, sizeof(needle), "directory of %s, version", s->wh.hub_id);
		for (int i = 0; i < 1200; i++) {
			char line[4096];
			bool ready = false;
			FILE *f = fopen(s->sh.log, "r");

			while (f != NULL && fgets(line, sizeof(line), f) != NULL)
				if (strstr(line, needle) != NULL && strstr(line, ", 1 with standing purposes") != NULL)
					ready = true;
			if (f != NULL)
				fclose(f);
			if (ready)
				break;
			usleep(100000);
		}
		snprintf(lessor, sizeof(lessor), "lessor.wh@%s", s->wh.hub_id);
	} else {
		snprintf(lessor, sizeof(lessor), "lessor.wh");
	}
	if (tids_test_hub_asset(&s->sh, "press-7", "factory.sh1", lessor, "sh-plant-2") != 0)
		die("asset");
	wait_log(&s->sh, "ingress partitions assigned");
	if (hop)
		wait_log(&s->wh, "ingress partitions assigned");
}

static void setup_stop(struct setup *s)
{
	tids_test_hub_destroy(&s->sh);
	if (s->hop)
		tids_test_hub_destroy(&s->wh);
}

struct rx {
	struct setup *s;
	size_t want, n;
	int64_t *lat;               /* ms, per delivery (latency run) */
	int64_t last_us;            /* when the last arrived */
};

static void *receive(void *arg)
{
	struct rx *rx = arg;
	const char *purposes[] = { "billing" };
	struct tids_client *c = tids_test_hub_connect(rx->s->hop ? &rx->s->wh : &rx->s->sh, &rx->s->lessor);
	char err[256];

	if (c == NULL || tids_client_subscribe(c, purposes, 1, 10000, err, sizeof(err)) != 0)
		die("subscribe");
	while (rx->n < rx->want) {
		struct tids_delivery d;

		if (tids_client_next_delivery(c, &d, 120000, err, sizeof(err)) != 1)
			die("deliveries stopped");
		if (rx->lat != NULL)
			rx->lat[rx->n] = wall_ms() - d.record.produced_at_ms;
		rx->n++;
		rx->last_us = mono_us();
		if (rx->n % 1000 == 0 && tids_client_ack(c, d.delivery_seq, err, sizeof(err)) != 0)
			die("ack");
		tids_delivery_free(&d);
	}
	tids_client_free(c);
	return NULL;
}

static void publish(struct setup *s, struct tids_client *c, uint32_t from, uint32_t n)
{
	struct tids_bytes recs[BATCH];
	struct tids_publish_ack ack;
	char err[256];

	for (uint32_t i = 0; i < n; i++)
		recs[i] = record(from + i, wall_ms());
	if (tids_client_publish(c, &s->factory, "factory.sh1", ++s->seq, recs, n, &ack, err, sizeof(err)) != 0 ||
	    ack.accepted != n)
		die(err);
	tids_publish_ack_free(&ack);
	for (uint32_t i = 0; i < n; i++)
		free((void *)recs[i].data);
}

/* RECORDS as fast as they go: records/s from the first publish to the
 * last delivery. */
static double throughput(struct setup *s)
{
	struct rx rx = { s, RECORDS, 0, NULL, 0 };
	struct tids_client *c = tids_test_hub_connect(&s->sh, &s->factory);
	pthread_t t;
	int64_t t0;

	if (c == NULL)
		die("connect");
	pthread_create(&t, NULL, receive, &rx);
	t0 = mono_us();
	for (uint32_t b = 0; b < RECORDS / BATCH; b++)
		publish(s, c, b * BATCH, BATCH);
	pthread_join(t, NULL);
	tids_client_free(c);
	return (double)RECORDS / ((double)(rx.last_us - t0) / 1e6);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* RATE records/s for RATE_SECONDS, in batches of RATE/100 every 10 ms. */
static void latency(struct setup *s, int64_t *p50, int64_t *p99)
{
	struct rx rx = { s, RATE * RATE_SECONDS, 0, NULL, 0 };
	struct tids_client *c = tids_test_hub_connect(&s->sh, &s->factory);
	pthread_t t;
	int64_t next;

	rx.lat = calloc(rx.want, sizeof(*rx.lat));
	if (c == NULL || rx.lat == NULL)
		die("connect");
	pthread_create(&t, NULL, receive, &rx);
	next = mono_us();
	for (uint32_t b = 0; b < (uint32_t)(RATE * RATE_SECONDS / (RATE / 100)); b++) {
		publish(s, c, b * (RATE / 100), RATE / 100);
		next += 10000;
		if (next > mono_us())
			usleep((useconds_t)(next - mono_us()));
	}
	pthread_join(t, NULL);
	tids_client_free(c);
	qsort(rx.lat, rx.n, sizeof(*rx.lat), cmp64);
	*p50 = rx.lat[rx.n / 2];
	*p99 = rx.lat[rx.n * 99 / 100];
	free(rx.lat);
}

int main(void)
{
	struct setup s;
	double rate[2];
	int64_t p50[2], p99[2];

	if (sodium_init() < 0)
		return 1;
	printf("federation benchmark: %d records of %d bytes to one lessor, real Kafka at %s\n", RECORDS, PAYLOAD,
	       tids_test_kafka_bootstrap());
	for (int hop = 0; hop < 2; hop++) {
		setup_start(&s, hop == 1);
		rate[hop] = throughput(&s);
		latency(&s, &p50[hop], &p99[hop]);
		setup_stop(&s);
	}
	printf("  %-46s %12.0f records/s\n", "single hub: publish -> delivery", rate[0]);
	printf("  %-46s %12.0f records/s  (%.2f of single-hub)\n", "one hop (hub.sh -> hub.wh): publish -> delivery",
	       rate[1], rate[1] / rate[0]);
	printf("  %-46s p50 %lld ms, p99 %lld ms\n", "single hub: latency at 2k records/s", (long long)p50[0],
	       (long long)p99[0]);
	printf("  %-46s p50 %lld ms, p99 %lld ms\n", "one hop: latency at 2k records/s", (long long)p50[1],
	       (long long)p99[1]);
	printf("  %-46s p50 %+lld ms, p99 %+lld ms\n", "added by the hop", (long long)(p50[1] - p50[0]),
	       (long long)(p99[1] - p99[0]));
	return 0;
}
