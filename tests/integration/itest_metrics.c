/*
 * /metrics and /health of a real tidsd on a real Kafka broker: a known load
 * (records allowed, denied by a rule, denied by default, refused at ingest,
 * an unregistered key) moves every counter by exactly its size while tidsd
 * routes; /health is ready once the router has its partitions and not
 * while the broker is down; the HTTP listener refuses what is not a plain
 * GET and keeps serving.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "hub.h"
#include "records.h"
#include "topics.h"
#include "testenv.h"
#include "tids/error.h"

/* Sends raw bytes to the hub's metrics listener and reads the answer until
 * the server closes; returns the HTTP status (0 if none) and the body. */
static int http_raw(const struct tids_test_hub *h, const char *req, size_t req_len, char *body, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static char resp[1 << 20];
	const char *colon = strrchr(h->metrics, ':');
	struct timeval tv = { 30, 0 };
	size_t n = 0;
	int fd, status = 0;
	char *start;

	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return 0;
	}
	ck_assert_int_eq(write(fd, req, req_len), (ssize_t)req_len);
	for (;;) {
		ssize_t r = read(fd, resp + n, sizeof(resp) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	resp[n] = '\0';
	sscanf(resp, "HTTP/1.%*d %d", &status);
	start = strstr(resp, "\r\n\r\n");
	snprintf(body, cap, "%s", start != NULL ? start + 4 : "");
	return status;
}

static int raw(const struct tids_test_hub *h, const char *req, char *body, size_t cap)
{
	return http_raw(h, req, strlen(req), body, cap);
}

static int http_get(const struct tids_test_hub *h, const char *path, char *body, size_t cap)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	return http_raw(h, req, strlen(req), body, cap);
}

/* The value of one sample ("name" or "name{labels}") in an exposition;
 * -1 when absent. */
static double sample(const char *text, const char *series)
{
	size_t len = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, series, len) == 0 && p[len] == ' ')
			return strtod(p + len + 1, NULL);
	return -1;
}

static double scrape(const struct tids_test_hub *h, const char *series)
{
	static char body[1 << 20];

	ck_assert_int_eq(http_get(h, "/metrics", body, sizeof(body)), 200);
	return sample(body, series);
}

/* Waits (generously) until series reaches want; returns what it last was. */
static double wait_for(const struct tids_test_hub *h, const char *series, double want)
{
	double v = -1;

	for (int i = 0; i < 1200; i++) {
		v = scrape(h, series);
		if (v == want)
			break;
		sleep_ms(100);
	}
	return v;
}

static int wait_health(const struct tids_test_hub *h, int want, char *body, size_t cap)
{
	int status = 0;

	for (int i = 0; i < 1200; i++) {
		status = http_get(h, "/health", body, cap);
		if (status == want)
			break;
		sleep_ms(100);
	}
	return status;
}

/* A record of press-7 (see records.h), and a text field "note" if text is
 * not NULL. */
static struct tids_bytes make_record_with(uint32_t n, const char *category, enum tids_tier tier, const char *text)
{
	const struct tids_test_record spec = { .n = n, .owner = "factory.sh1", .asset = "press-7", .category = category,
					       .tier = tier, .note = text };
	struct tids_bytes out;

	ck_assert_int_eq(tids_test_record_encode(&spec, &out), 0);
	return out;
}

static struct tids_bytes make_record(uint32_t n, const char *category, enum tids_tier tier)
{
	return make_record_with(n, category, tier, NULL);
}

/* The factory, its press leased to the lessor, and the lessor subscribed
 * for billing with this window: its session. */
static struct tids_client *lessor_subscribed(struct tids_test_hub *h, struct tids_identity *factory,
					     struct tids_identity *lessor, uint32_t window)
{
	const char *purposes[] = { "billing" };
	struct tids_client *sub;
	char err[512];

	ck_assert_int_eq(tids_test_hub_participant(h, "factory.sh1", "factory", "CN-SH", NULL, factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(h, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(h, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	sub = tids_test_hub_connect(h, lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, window, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_ping(sub, err, sizeof(err), err, sizeof(err)), 0);
	return sub;
}

#define BACKLOG_BATCH 200

/* batches of BACKLOG_BATCH records of the category, each with 1.5 KB of
 * text, from the factory; every record accepted. */
static void publish_backlog(struct tids_test_hub *h, const struct tids_identity *factory, const char *category,
			    uint64_t batches)
{
	static char big[1500];
	struct tids_bytes recs[BACKLOG_BATCH];
	struct tids_publish_ack ack;
	struct tids_client *c;
	char err[512];

	memset(big, 't', sizeof(big) - 1);
	c = tids_test_hub_connect(h, factory);
	ck_assert_ptr_nonnull(c);
	for (uint64_t batch = 1; batch <= batches; batch++) {
		for (uint32_t i = 0; i < BACKLOG_BATCH; i++)
			recs[i] = make_record_with(i, category, TIDS_TIER_GENERAL, big);
		ck_assert_int_eq(tids_client_publish(c, factory, "factory.sh1", batch, recs, BACKLOG_BATCH, &ack, err,
						     sizeof(err)), 0);
		ck_assert_uint_eq(ack.accepted, BACKLOG_BATCH);
		tids_publish_ack_free(&ack);
		for (uint32_t i = 0; i < BACKLOG_BATCH; i++)
			free((void *)recs[i].data);
	}
	tids_client_free(c);
}

#define N_RUN_HOURS 20   /* allowed to the lessor for billing (permit lessor_usage) */
#define N_RECIPES 5      /* denied: forbid recipe_needs_time_boxed_grant */
#define N_QUALITY 3      /* denied: no rule permits (default deny) */
#define N_LOW_RECIPES 2  /* refused at ingest: below the recipe tier floor */
#define N_ALL (N_RUN_HOURS + N_RECIPES + N_QUALITY + N_LOW_RECIPES)

START_TEST(counters_follow_a_known_load)
{
	struct tids_identity factory, lessor, stranger;
	struct tids_test_hub hub;
	struct tids_bytes recs[N_ALL];
	struct tids_publish_ack ack;
	struct tids_client *c, *sub;
	struct tids_client_options o = { 0 };
	static char body[1 << 20];
	char err[512];
	size_t got = 0, n = 0;
	uint64_t last = 0;

	ck_assert_int_eq(tids_test_hub_start(&hub, "kafka.partitions = 3"), 0);
	/* Live as soon as it serves; ready once the router has its group. */
	ck_assert_int_eq(http_get(&hub, "/health/live", body, sizeof(body)), 200);
	ck_assert_int_eq(wait_health(&hub, 200, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"ready\":true") && strstr(body, "\"kafka\":\"reachable\"") &&
		      strstr(body, "\"router\":\"assigned 3 partitions\""), "%s", body);
	ck_assert_int_eq(http_get(&hub, "/health/ready", body, sizeof(body)), 200);
	ck_assert(scrape(&hub, "tids_ready") == 1);
	ck_assert(scrape(&hub, "tids_router_partitions") == 3);
	ck_assert(scrape(&hub, "tids_records_in_total") == 0);

	/* The lessor's purpose stands from its first Subscribe. */
	sub = lessor_subscribed(&hub, &factory, &lessor, 100);

	for (uint32_t i = 0; i < N_RUN_HOURS; i++)
		recs[n++] = make_record(i, "run_hours", TIDS_TIER_GENERAL);
	for (uint32_t i = 0; i < N_RECIPES; i++)
		recs[n++] = make_record(i, "recipe", TIDS_TIER_IMPORTANT);
	for (uint32_t i = 0; i < N_QUALITY; i++)
		recs[n++] = make_record(i, "quality", TIDS_TIER_GENERAL);
	for (uint32_t i = 0; i < N_LOW_RECIPES; i++)
		recs[n++] = make_record(i, "recipe", TIDS_TIER_GENERAL);
	c = tids_test_hub_connect(&hub, &factory);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_publish(c, &factory, "factory.sh1", 1, recs, n, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, N_ALL - N_LOW_RECIPES);
	ck_assert_uint_eq(ack.n_errors, N_LOW_RECIPES);
	tids_publish_ack_free(&ack);
	tids_client_free(c);

	/* An unknown key is refused in the handshake, and counted. */
	ck_assert_int_eq(tids_identity_generate(&stranger), 0);
	o.address = hub.addr;
	o.identity = &stranger;
	o.hub_key = hub.hub_pk;
	o.timeout_ms = 30000;
	ck_assert_int_ne(tids_client_connect(&o, &c, err, sizeof(err)), 0);

	/* Everything routed, then delivered. */
	ck_assert(wait_for(&hub, "tids_records_routed_total", N_ALL - N_LOW_RECIPES) == N_ALL - N_LOW_RECIPES);
	while (got < N_RUN_HOURS) {
		struct tids_delivery d;

		ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
		ck_assert_str_eq(d.record.category, "run_hours");
		last = d.delivery_seq;
		tids_delivery_free(&d);
		got++;
	}
	ck_assert_int_eq(tids_client_ack(sub, last, err, sizeof(err)), 0);
	ck_assert(wait_for(&hub, "tids_records_out_total", N_RUN_HOURS) == N_RUN_HOURS);
	/* All the ledger's entries indexed: one per decision. */
	ck_assert(wait_for(&hub, "tids_ledger_entries_indexed_total", N_RUN_HOURS + N_RECIPES + N_QUALITY) ==
		  N_RUN_HOURS + N_RECIPES + N_QUALITY);
	ck_assert(wait_for(&hub, "tids_ledger_indexer_lag", 0) == 0);
	ck_assert(wait_for(&hub, "tids_router_consumer_lag", 0) == 0);

	ck_assert_int_eq(http_get(&hub, "/metrics", body, sizeof(body)), 200);
	ck_assert(sample(body, "tids_records_in_total") == N_ALL - N_LOW_RECIPES);
	ck_assert(sample(body, "tids_records_refused_total") == N_LOW_RECIPES);
	ck_assert(sample(body, "tids_records_routed_total") == N_ALL - N_LOW_RECIPES);
	ck_assert(sample(body, "tids_deliveries_produced_total") == N_RUN_HOURS);
	ck_assert(sample(body, "tids_records_out_total") == N_RUN_HOURS);
	ck_assert(sample(body, "tids_decisions_total{decision=\"allow\",tier=\"general\",category=\"run_hours\"}") ==
		  N_RUN_HOURS);
	ck_assert(sample(body, "tids_decisions_total{decision=\"deny\",tier=\"important\",category=\"recipe\"}") ==
		  N_RECIPES);
	ck_assert(sample(body, "tids_decisions_total{decision=\"deny\",tier=\"general\",category=\"quality\"}") ==
		  N_QUALITY);
	ck_assert(sample(body, "tids_decisions_total{decision=\"allow\",tier=\"important\",category=\"recipe\"}") == -1);
	ck_assert(sample(body, "tids_denials_total{rule=\"recipe_needs_time_boxed_grant\"}") == N_RECIPES);
	ck_assert(sample(body, "tids_denials_total{rule=\"(default-deny)\"}") == N_QUALITY);
	/* Every delivery sent was timed from its acceptance at ingest. */
	ck_assert(sample(body, "tids_delivery_latency_seconds_count") == N_RUN_HOURS);
	ck_assert(sample(body, "tids_delivery_latency_seconds_bucket{le=\"+Inf\"}") == N_RUN_HOURS);
	ck_assert(sample(body, "tids_transaction_commit_seconds_count") >= 1);
	ck_assert(sample(body, "tids_transaction_commit_seconds_count") <= sample(body, "tids_router_transactions_total"));
	ck_assert(sample(body, "tids_router_transaction_failures_total") == 0);
	/* Three handshakes completed (lessor, factory); the stranger failed. */
	ck_assert(sample(body, "tids_sessions_accepted_total{transport=\"tcp\"}") == 3);
	ck_assert(sample(body, "tids_sessions_authenticated_total") == 2);
	ck_assert(sample(body, "tids_handshake_failures_total{reason=\"unregistered\"}") == 1);
	ck_assert(sample(body, "tids_handshake_failures_total{reason=\"invalid\"}") == 0);
	ck_assert(sample(body, "tids_sessions_open") >= 1);
	ck_assert(sample(body, "tids_kafka_reachable") == 1);
	ck_assert_ptr_nonnull(strstr(body, "# TYPE tids_delivery_latency_seconds histogram\n"));
	/* No read-ahead came near full: no fetcher was woken. (No federation
	 * pull runs here: its series is only shown to be there.) */
	ck_assert(sample(body, "tids_kafka_fetch_wakes_total{consumer=\"router\"}") == 0);
	ck_assert(sample(body, "tids_kafka_fetch_wakes_total{consumer=\"indexer\"}") == 0);
	ck_assert(sample(body, "tids_kafka_fetch_wakes_total{consumer=\"egress\"}") == 0);
	ck_assert(sample(body, "tids_kafka_fetch_wakes_total{consumer=\"pull\"}") == 0);

	tids_client_free(sub);
	for (size_t i = 0; i < n; i++)
		free((void *)recs[i].data);
	tids_identity_wipe(&stranger);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&hub);
}
END_TEST

#define BACKLOG_BATCHES 20

/* A backlog of about 7 MB on the ingress topic, published while no router
 * runs, meets an instance that reads 1 MiB ahead: its router fills its
 * read-ahead, empties it, and wakes the fetches that librdkafka stopped;
 * everything is routed and indexed. Then the same for a new instance's
 * indexer and the audit topic. */
START_TEST(read_ahead_refills)
{
	struct tids_identity factory, lessor;
	struct tids_test_hub a, b, late;
	struct tids_client *sub;
	double wakes;

	ck_assert_int_eq(tids_test_hub_start(&a, "kafka.partitions = 2\nrouter.enabled = no\naudit.ledger = no"), 0);
	sub = lessor_subscribed(&a, &factory, &lessor, 100);
	/* Quality records: denied to the lessor by default, one entry each. */
	publish_backlog(&a, &factory, "quality", BACKLOG_BATCHES);

	ck_assert_int_eq(tids_test_hub_join(&b, &a, "b", "router.prefetch = 1M\naudit.indexer_prefetch = 1M"), 0);
	ck_assert(wait_for(&b, "tids_records_routed_total", BACKLOG_BATCHES * BACKLOG_BATCH) ==
		  BACKLOG_BATCHES * BACKLOG_BATCH);
	ck_assert(wait_for(&b, "tids_ledger_entries_indexed_total", BACKLOG_BATCHES * BACKLOG_BATCH) ==
		  BACKLOG_BATCHES * BACKLOG_BATCH);
	wakes = scrape(&b, "tids_kafka_fetch_wakes_total{consumer=\"router\"}");
	ck_assert_msg(wakes >= 1, "the router's fetches were never woken (%g)", wakes);
	ck_assert(scrape(&b, "tids_router_transaction_failures_total") == 0);

	/* An instance that starts now indexes the whole audit topic, a backlog
	 * larger than its read-ahead, into a ledger of its own. */
	ck_assert_int_eq(tids_test_hub_join(&late, &a, "c", "router.enabled = no\naudit.indexer_prefetch = 1M"), 0);
	ck_assert(wait_for(&late, "tids_ledger_entries_indexed_total", BACKLOG_BATCHES * BACKLOG_BATCH) ==
		  BACKLOG_BATCHES * BACKLOG_BATCH);
	wakes = scrape(&late, "tids_kafka_fetch_wakes_total{consumer=\"indexer\"}");
	ck_assert_msg(wakes >= 1, "the indexer's fetches were never woken (%g)", wakes);

	tids_client_free(sub);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&late);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

#define STALL_BATCHES 6
#define STALL_WINDOW 50
#define STALL_RECORDS (STALL_BATCHES * BACKLOG_BATCH)

static int cmp_record_id(const void *a, const void *b)
{
	return memcmp(a, b, TIDS_RECORD_ID_BYTES);
}

/* A subscriber that stops reading while about 2 MB of deliveries wait for
 * it: egress stops at its window, librdkafka at its 1 MiB read-ahead. Once
 * it reads again, egress empties its queue, wakes the fetch, and the
 * subscriber gets every delivery once, in order. */
START_TEST(egress_refills_after_a_stall)
{
	struct tids_identity factory, lessor;
	struct tids_test_hub hub;
	struct tids_client *sub;
	struct tids_delivery d;
	static uint8_t ids[STALL_RECORDS][TIDS_RECORD_ID_BYTES];
	char err[512];
	uint64_t last = 0;
	double wakes;

	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	sub = lessor_subscribed(&hub, &factory, &lessor, STALL_WINDOW);
	/* Run hours, permitted to the lessor whole (permit lessor_usage). */
	publish_backlog(&hub, &factory, "run_hours", STALL_BATCHES);
	ck_assert(wait_for(&hub, "tids_deliveries_produced_total", STALL_RECORDS) == STALL_RECORDS);
	/* Egress holds what librdkafka read ahead; it sent one window. */
	ck_assert(wait_for(&hub, "tids_records_out_total", STALL_WINDOW) == STALL_WINDOW);
	ck_assert(scrape(&hub, "tids_kafka_fetch_wakes_total{consumer=\"egress\"}") == 0);

	for (uint32_t got = 0; got < STALL_RECORDS; got++) {
		ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
		ck_assert_str_eq(d.record.category, "run_hours");
		/* Increasing: none twice (they are Kafka offsets, with gaps where
		 * transaction markers sit). */
		if (got > 0)
			ck_assert_uint_gt(d.delivery_seq, last);
		last = d.delivery_seq;
		memcpy(ids[got], d.record.record_id, TIDS_RECORD_ID_BYTES);
		tids_delivery_free(&d);
		if ((got + 1) % (STALL_WINDOW / 2) == 0)
			ck_assert_int_eq(tids_client_ack(sub, last, err, sizeof(err)), 0);
	}
	/* Once: every record a different one, and nothing more comes. */
	qsort(ids, STALL_RECORDS, sizeof(ids[0]), cmp_record_id);
	for (uint32_t i = 1; i < STALL_RECORDS; i++)
		ck_assert_msg(memcmp(ids[i - 1], ids[i], TIDS_RECORD_ID_BYTES) != 0, "a record delivered twice");
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 2000, err, sizeof(err)), 0);
	ck_assert(scrape(&hub, "tids_records_out_total") == STALL_RECORDS);
	wakes = scrape(&hub, "tids_kafka_fetch_wakes_total{consumer=\"egress\"}");
	ck_assert_msg(wakes >= 1, "egress's fetches were never woken (%g)", wakes);

	tids_client_free(sub);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&hub);
}
END_TEST

#define ONE_BY_ONE 100

/* A subscriber that acks every delivery on its own while the broker
 * answers nothing: egress keeps one position commit in flight and the
 * later acks ride the next, so a subscriber cannot pile up commits that
 * closing its stream would wait for. Once the broker answers, the latest
 * position goes in one more commit, and a new stream starts after it. */
START_TEST(acks_one_by_one)
{
	struct tids_identity factory, lessor;
	struct tids_test_hub hub;
	struct tids_client *sub;
	struct tids_delivery d;
	uint64_t seqs[ONE_BY_ONE];
	char err[512];
	double commits;

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to pause */
	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	sub = lessor_subscribed(&hub, &factory, &lessor, ONE_BY_ONE);
	publish_backlog(&hub, &factory, "run_hours", 1);
	for (uint32_t i = 0; i < ONE_BY_ONE; i++) {
		ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
		seqs[i] = d.delivery_seq;
		tids_delivery_free(&d);
	}
	ck_assert(scrape(&hub, "tids_subscriber_position_commits_total") == 0);

	ck_assert_int_eq(tids_test_broker("pause"), 0);
	for (uint32_t i = 0; i < ONE_BY_ONE; i++)
		ck_assert_int_eq(tids_client_ack(sub, seqs[i], err, sizeof(err)), 0);
	/* Answered after the acks on the same connection: they are handled. */
	ck_assert_int_eq(tids_client_ping(sub, err, sizeof(err), err, sizeof(err)), 0);
	ck_assert(scrape(&hub, "tids_subscriber_acks_total") == ONE_BY_ONE);
	commits = scrape(&hub, "tids_subscriber_position_commits_total");
	ck_assert_msg(commits == 1, "%g commits sent for %d acks while the broker answered none", commits, ONE_BY_ONE);

	ck_assert_int_eq(tids_test_broker("resume"), 0);
	ck_assert(wait_for(&hub, "tids_subscriber_position_commits_total", 2) == 2);
	sleep_ms(1000);
	commits = scrape(&hub, "tids_subscriber_position_commits_total");
	ck_assert_msg(commits == 2, "%g commits after the broker answered the first (2 expected)", commits);

	/* The next stream starts after the last ack. */
	tids_client_free(sub);
	sub = tids_test_hub_connect(&hub, &lessor);
	ck_assert_ptr_nonnull(sub);
	{
		const char *purposes[] = { "billing" };

		ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
	ck_assert_msg(d.delivery_seq > seqs[ONE_BY_ONE - 1], "delivery_seq %llu sent again (last ack %llu)",
		      (unsigned long long)d.delivery_seq, (unsigned long long)seqs[ONE_BY_ONE - 1]);
	tids_delivery_free(&d);

	tids_client_free(sub);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* Acks while the broker is down: the position is not committed, egress
 * says so once and keeps trying, and commits it once the broker is back,
 * without another ack. */
START_TEST(commit_retried_after_outage)
{
	struct tids_identity factory, lessor;
	struct tids_test_hub hub;
	struct tids_client *sub;
	struct tids_delivery d;
	char err[512];
	uint64_t last = 0;
	int64_t at = -1;

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to stop */
	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	sub = lessor_subscribed(&hub, &factory, &lessor, 10);
	publish_backlog(&hub, &factory, "run_hours", 1);
	for (uint32_t i = 0; i < 10; i++) {
		ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
		last = d.delivery_seq;
		tids_delivery_free(&d);
	}
	ck_assert_int_eq(tids_test_broker("stop"), 0);
	ck_assert_int_eq(tids_client_ack(sub, last, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "not committed", 1, 120000), 0);
	sleep_ms(3000);
	ck_assert_int_eq(tids_test_hub_log_count(&hub, "not committed"), 1);
	ck_assert_int_eq(tids_test_broker("start"), 0);
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "egress lessor.wh: position", 2, 120000), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&hub, "committed again"), 1);
	at = tids_test_subscriber_position(hub.hub_id, "lessor.wh");
	ck_assert_msg(at == (int64_t)last, "position %lld committed, %llu acked", (long long)at,
		      (unsigned long long)last);

	tids_client_free(sub);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* Not ready while the broker is down, ready again once it is back; live
 * throughout. */
START_TEST(health_follows_kafka)
{
	struct tids_test_hub hub;
	static char body[65536];

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to stop */
	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	ck_assert_int_eq(wait_health(&hub, 200, body, sizeof(body)), 200);
	ck_assert_int_eq(tids_test_broker("stop"), 0);
	ck_assert_int_eq(wait_health(&hub, 503, body, sizeof(body)), 503);
	ck_assert_msg(strstr(body, "\"ready\":false") != NULL, "%s", body);
	ck_assert_int_eq(http_get(&hub, "/health/ready", body, sizeof(body)), 503);
	ck_assert_int_eq(http_get(&hub, "/health/live", body, sizeof(body)), 200);
	ck_assert(scrape(&hub, "tids_ready") == 0);
	ck_assert_int_eq(tids_test_broker("start"), 0);
	ck_assert_int_eq(wait_health(&hub, 200, body, sizeof(body)), 200);
	ck_assert_msg(strstr(body, "\"kafka\":\"reachable\"") != NULL, "%s", body);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* What is not a plain GET of a known path is refused, and the listener
 * keeps serving (and so does the hub). */
START_TEST(http_refuses_and_keeps_serving)
{
	struct tids_test_hub hub;
	static char body[65536], big[40000];
	const char *garbage = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
	int status;

	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	ck_assert_int_eq(http_get(&hub, "/nothing", body, sizeof(body)), 404);
	ck_assert_int_eq(http_get(&hub, "/metrics/../health", body, sizeof(body)), 404);
	ck_assert_int_eq(raw(&hub, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
			     body, sizeof(body)), 405);
	ck_assert_int_eq(raw(&hub, "DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", body, sizeof(body)),
			 405);
	ck_assert_int_eq(raw(&hub, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
			     body, sizeof(body)), 400);
	status = http_raw(&hub, garbage, strlen(garbage), body, sizeof(body));
	ck_assert_msg(status == 0 || status == 400, "garbage answered %d", status);
	ck_assert_int_eq(raw(&hub, "GET /metrics HTTP/1.1\r\n\r\n", body, sizeof(body)), 400);  /* no Host */
	/* Headers past the connection's memory. */
	memcpy(big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ", 40);
	memset(big + 40, 'a', sizeof(big) - 45);
	memcpy(big + sizeof(big) - 5, "\r\n\r\n", 4);
	status = http_raw(&hub, big, sizeof(big) - 1, body, sizeof(body));
	ck_assert_msg(status == 0 || status == 431 || status == 413 || status == 400, "huge headers answered %d", status);
	ck_assert_int_eq(http_get(&hub, "/metrics", body, sizeof(body)), 200);
	ck_assert_ptr_nonnull(strstr(body, "tids_build_info{version=\""));
	ck_assert(tids_test_hub_alive(&hub));
	tids_test_hub_destroy(&hub);
}
END_TEST

/* metrics.listen = "" turns the listener off; an address in use stops
 * the start with the option named. */
START_TEST(listener_off_or_taken)
{
	struct tids_test_hub hub, second;
	static char body[4096], extra[128];

	ck_assert_int_eq(tids_test_hub_start(&hub, "metrics.listen = \"\""), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&hub, "metrics on"), 0);
	tids_test_hub_destroy(&hub);

	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	ck_assert_int_eq(http_get(&hub, "/health/live", body, sizeof(body)), 200);
	snprintf(extra, sizeof(extra), "metrics.listen = %s", hub.metrics);
	ck_assert_int_ne(tids_test_hub_start(&second, extra), 0);
	ck_assert_int_gt(tids_test_hub_log_count(&second, "metrics.listen"), 0);
	tids_test_hub_destroy(&second);
	tids_test_hub_destroy(&hub);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "counters", counters_follow_a_known_load },
		{ "http", http_refuses_and_keeps_serving },
		{ "listener", listener_off_or_taken },
		{ "health_kafka", health_follows_kafka },
		{ "read_ahead", read_ahead_refills },
		{ "egress_stall", egress_refills_after_a_stall },
		{ "acks_one_by_one", acks_one_by_one },
		{ "commit_retried", commit_retried_after_outage },
	};
	Suite *s = suite_create("metrics");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		if (cases[i].test == acks_one_by_one)
			tcase_add_unchecked_fixture(tc, NULL, tids_test_broker_unpause);
		tcase_set_timeout(tc, 600);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
