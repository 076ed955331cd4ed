/*
 * The national network: four hubs, each a real tidsd on its own Apache
 * Kafka broker (Shanghai CN-SH on the test broker, Wuhan CN-HB, Chongqing
 * CN-CQ and a foreign hub DE on brokers of this test), peered over Noise.
 * The Wuhan lessor receives run hours and hourly output sums of its press in
 * Shanghai, with provenance it checks against the factory's own key; a core
 * record never leaves Shanghai; an important record goes to DE only under
 * a valid approval; a record imported at Wuhan is not passed on to
 * Chongqing; a peer cannot pass off records of a participant it does not
 * host; peers witness each other's chains; and forwards arrive exactly once
 * across kill -9 of either hub and a cut link, with the export and import
 * audit entries one to one.
 *
 * TIDS_TEST_FED_SHARED=1 puts every hub on the test broker (quicker while
 * developing; the topics are apart by hub id).
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sodium.h>

#include "hub.h"
#include "testenv.h"
#include "tids/error.h"
#include "tids/ledger.h"
#include "topics.h"

enum { SH, HB, CQ, DE, N_HUBS };

static const char *const hub_name[N_HUBS] = { "hub.sh", "hub.wh", "hub.cq", "hub.de" };
static const char *const hub_jurisdiction[N_HUBS] = { "CN-SH", "CN-HB", "CN-CQ", "DE" };

/* The brokers: SH's is the test broker; the others are this test's. */
static char broker_dir[N_HUBS][256];
static char broker_bootstrap[N_HUBS][64];

struct net {
	struct tids_test_hub hub[N_HUBS];
	bool started[N_HUBS];
	struct tids_identity factory, reg_sh, lessor_wh, reg_hb, oem_cq, lessor_de;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *bootstrap_of(int h)
{
	return broker_bootstrap[h][0] != '\0' ? broker_bootstrap[h] : NULL;
}

static void start_hub(struct net *n, int h, const char *extra)
{
	char conf[512];

	snprintf(conf, sizeof(conf), "kafka.partitions = 2\n%s", extra != NULL ? extra : "");
	ck_assert_int_eq(tids_test_hub_start_as(&n->hub[h], hub_name[h], hub_jurisdiction[h], bootstrap_of(h), conf), 0);
	n->started[h] = true;
}

static void peer(struct net *n, int a, int b)
{
	ck_assert_int_eq(tids_test_hub_peer(&n->hub[a], &n->hub[b]), 0);
	ck_assert_int_eq(tids_test_hub_peer(&n->hub[b], &n->hub[a]), 0);
}

/* Waits until hub h has logged needle (count times); fails after 120 s. */
static void await_log(struct tids_test_hub *h, const char *needle, int count)
{
	for (int i = 0; i < 1200 && tids_test_hub_log_count(h, needle) < count; i++)
		sleep_ms(100);
	ck_assert_msg(tids_test_hub_log_count(h, needle) >= count, "%s never logged '%s'", h->hub_id, needle);
}

/* Hub h knows `entries` participants of peer p, `interests` of them with
 * standing purposes. */
static void await_directory(struct net *n, int h, int p, int entries, int interests)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "directory of %s, version", n->hub[p].hub_id);
	for (int i = 0; i < 1200; i++) {
		char line[4096];
		bool seen = false;
		FILE *f = fopen(n->hub[h].log, "r");
		char want[64];

		snprintf(want, sizeof(want), ": %d participants, %d with standing purposes", entries, interests);
		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, needle) != NULL)
				seen = strstr(line, want) != NULL;
		if (f != NULL)
			fclose(f);
		if (seen)
			return;
		sleep_ms(100);
	}
	ck_abort_msg("%s never had %s's directory with %d participants, %d with purposes", n->hub[h].hub_id,
		     n->hub[p].hub_id, entries, interests);
}

static void subscribe_once(struct tids_test_hub *h, const struct tids_identity *id, const char *const *purposes,
			   size_t np)
{
	struct tids_client *c = tids_test_hub_connect(h, id);
	char err[256];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, np, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
	tids_client_free(c);
}

static void register_asset(struct tids_test_hub *h, const char *id, const char *lessee, const char *lessor)
{
	struct tids_asset a = { .asset_id = id, .lessee = lessee, .lessor = lessor, .site = "sh-plant-2" };
	struct tids_client *c = tids_test_hub_admin(h);
	char err[256];

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(tids_client_register_asset(c, &a, err, sizeof(err)) == 0, "asset %s: %s", id, err);
	tids_client_free(c);
}

/*
 * The network of the story: Shanghai with the factory (lessee of three
 * machines, leased from Wuhan, Chongqing and Germany) and its regulator;
 * Wuhan with the lessor; Chongqing and DE with theirs. `with` picks the
 * hubs beyond Shanghai (bit per hub).
 */
static void net_start(struct net *n, unsigned with)
{
	const char *lessor_purposes[] = { "billing", "maintenance" };
	char lessor[160];

	memset(n, 0, sizeof(*n));
	start_hub(n, SH, NULL);
	ck_assert_int_eq(tids_test_hub_participant(&n->hub[SH], "factory.sh1", "factory", "CN-SH", NULL, &n->factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&n->hub[SH], "reg.sh", "regulator", "CN-SH", NULL, &n->reg_sh), 0);
	if (with & (1u << HB)) {
		start_hub(n, HB, NULL);
		ck_assert_int_eq(tids_test_hub_participant(&n->hub[HB], "lessor.wh", "lessor", "CN-HB",
							   "security_agreement=true", &n->lessor_wh), 0);
		ck_assert_int_eq(tids_test_hub_participant(&n->hub[HB], "reg.hb", "regulator", "CN-HB", NULL,
							   &n->reg_hb), 0);
		peer(n, SH, HB);
		subscribe_once(&n->hub[HB], &n->lessor_wh, lessor_purposes, 2);
	}
	if (with & (1u << CQ)) {
		start_hub(n, CQ, NULL);
		ck_assert_int_eq(tids_test_hub_participant(&n->hub[CQ], "oem.cq", "lessor", "CN-CQ", NULL, &n->oem_cq), 0);
		peer(n, SH, CQ);
		subscribe_once(&n->hub[CQ], &n->oem_cq, lessor_purposes, 2);
	}
	if (with & (1u << DE)) {
		start_hub(n, DE, NULL);
		ck_assert_int_eq(tids_test_hub_participant(&n->hub[DE], "lessor.de", "lessor", "DE",
							   "security_agreement=true", &n->lessor_de), 0);
		peer(n, SH, DE);
		subscribe_once(&n->hub[DE], &n->lessor_de, lessor_purposes + 1, 1);
	}
	/* Shanghai learns who is where from the directories, then its assets
	 * can name their lessors as id@hub. */
	if (with & (1u << HB)) {
		await_directory(n, SH, HB, 2, 1);
		snprintf(lessor, sizeof(lessor), "lessor.wh@%s", n->hub[HB].hub_id);
		register_asset(&n->hub[SH], "press-7", "factory.sh1", lessor);
	}
	if (with & (1u << CQ)) {
		await_directory(n, SH, CQ, 1, 1);
		snprintf(lessor, sizeof(lessor), "oem.cq@%s", n->hub[CQ].hub_id);
		register_asset(&n->hub[SH], "mill-3", "factory.sh1", lessor);
	}
	if (with & (1u << DE)) {
		await_directory(n, SH, DE, 1, 1);
		snprintf(lessor, sizeof(lessor), "lessor.de@%s", n->hub[DE].hub_id);
		register_asset(&n->hub[SH], "lathe-9", "factory.sh1", lessor);
	}
	for (int h = 0; h < N_HUBS; h++)
		if (n->started[h])
			await_log(&n->hub[h], "ingress partitions assigned", 1);
}

static void net_stop(struct net *n)
{
	for (int h = 0; h < N_HUBS; h++)
		if (n->started[h])
			tids_test_hub_destroy(&n->hub[h]);
	tids_identity_wipe(&n->factory);
}

/* One serialized record of the factory's: n in field "n" and the record id. */
static struct tids_bytes make_record(uint32_t n, const char *asset, const char *category, enum tids_tier tier,
				     int64_t produced_at)
{
	struct tids_field f[2] = { { 0 } };
	struct tids_record r = { 0 };
	struct tids_bytes out;
	uint8_t *buf;
	size_t len;

	randombytes_buf(r.record_id, sizeof(r.record_id));
	memcpy(r.record_id, &n, sizeof(n));
	r.owner = "factory.sh1";
	r.asset_id = asset;
	r.category = category;
	r.tier = tier;
	r.origin = "CN-SH";
	r.produced_at_ms = produced_at;
	f[0].name = "n";
	f[0].value.kind = TIDS_VALUE_INT;
	f[0].value.as.i = n;
	f[1].name = strcmp(category, "output_count") == 0 ? "count" : "hours";
	f[1].value.kind = TIDS_VALUE_REAL;
	f[1].value.as.d = strcmp(category, "output_count") == 0 ? 10.0 : 0.25;
	r.fields = f;
	r.n_fields = 2;
	ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &len), 0);
	out.data = buf;
	out.len = len;
	return out;
}

static void free_records(struct tids_bytes *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)recs[i].data);
}

/* Publishes one batch at Shanghai until acknowledged (again after a broken
 * connection or a restart, as a careful client does). */
static void publish_until_acked(struct net *n, struct tids_client **c, uint64_t seq, struct tids_bytes *recs,
				size_t count)
{
	char err[512] = "";

	for (int attempt = 0; attempt < 600; attempt++) {
		struct tids_publish_ack ack;
		int r;

		if (*c == NULL) {
			if (!tids_test_hub_alive(&n->hub[SH]))
				ck_assert_int_eq(tids_test_hub_restart(&n->hub[SH]), 0);
			*c = tids_test_hub_connect(&n->hub[SH], &n->factory);
			if (*c == NULL) {
				sleep_ms(200);
				continue;
			}
		}
		r = tids_client_publish(*c, &n->factory, "factory.sh1", seq, recs, count, &ack, err, sizeof(err));
		if (r == 0) {
			ck_assert_msg(ack.n_errors == 0, "batch %llu: %zu records refused: %s", (unsigned long long)seq,
				      ack.n_errors, ack.n_errors > 0 ? ack.errors[0].message : "");
			tids_publish_ack_free(&ack);
			return;
		}
		if (r != TIDS_EDENIED) {
			tids_client_free(*c);
			*c = NULL;
		}
		sleep_ms(200);
	}
	ck_abort_msg("batch %llu never acknowledged: %s", (unsigned long long)seq, err);
}

/* The next delivery of a subscription, or 0 after timeout_ms. */
static int next(struct tids_client *c, struct tids_delivery *d, int timeout_ms)
{
	char err[512];
	int r = tids_client_next_delivery(c, d, timeout_ms, err, sizeof(err));

	ck_assert_msg(r >= 0, "subscription broke: %s", err);
	return r;
}

static struct tids_client *subscribe(struct tids_test_hub *h, const struct tids_identity *id, const char *purpose,
				     uint32_t window)
{
	struct tids_client *c = tids_test_hub_connect(h, id);
	char err[256];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, &purpose, 1, window, err, sizeof(err)), 0);
	return c;
}

/* --- the Wuhan lessor and its press in Shanghai ---------------------------------- */

START_TEST(lessor_in_wuhan_gets_hours_and_hourly_sums)
{
	struct net n;
	struct tids_bytes recs[4];
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	int64_t two_hours_ago = now_ms() - 2 * 3600 * 1000;
	bool covers;
	int hours = 0, sums = 0;
	char err[512];
	double sum = 0;

	net_start(&n, 1u << HB);
	/* Run hours go as published; output counts as an hourly sum, in a
	 * window long closed (by record time), so it is emitted at once. */
	recs[0] = make_record(1, "press-7", "run_hours", TIDS_TIER_GENERAL, now_ms());
	recs[1] = make_record(2, "press-7", "output_count", TIDS_TIER_GENERAL, two_hours_ago);
	recs[2] = make_record(3, "press-7", "output_count", TIDS_TIER_GENERAL, two_hours_ago + 1000);
	recs[3] = make_record(4, "press-7", "output_count", TIDS_TIER_GENERAL, two_hours_ago + 2000);
	publish_until_acked(&n, &c, 1, recs, 4);
	tids_client_free(c);

	/* Run hours for billing and for maintenance (the lessor stated both),
	 * the sum for billing only. */
	sub = subscribe(&n.hub[HB], &n.lessor_wh, "billing", 10);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(next(sub, &d, 120000), 1);
		ck_assert(d.provenance.present);
		ck_assert_str_eq(d.provenance.hub_id, n.hub[SH].hub_id);
		ck_assert_str_eq(d.provenance.export_hub, n.hub[SH].hub_id);
		ck_assert_uint_eq(d.provenance.hops, 1);
		ck_assert_uint_gt(d.provenance.export_seq, 0);
		if (strcmp(d.record.category, "run_hours") == 0) {
			/* The factory's own signature, checked here, at the end. */
			ck_assert_int_eq(tids_provenance_verify(&d, n.factory.sign_pk, &covers, err, sizeof(err)), 0);
			ck_assert(covers);
			ck_assert_int_eq(d.decision, TIDS_DECISION_ALLOW);
			ck_assert_int_eq(tids_record_field(&d.record, "n")->value.as.i, 1);
			/* Nobody else's key would do. */
			ck_assert_int_eq(tids_provenance_verify(&d, n.lessor_wh.sign_pk, &covers, err, sizeof(err)),
					 TIDS_EBADSIG);
			hours++;
		} else {
			ck_assert_str_eq(d.record.category, "output_count");
			ck_assert_str_eq(d.record.schema, "tids.aggregate/1");
			ck_assert_int_eq(d.decision, TIDS_DECISION_TRANSFORM);
			ck_assert_str_eq(d.obligations.aggregate.function, "sum");
			ck_assert_int_eq(d.obligations.aggregate.window_ms, 3600 * 1000);
			sum = tids_record_field(&d.record, "sum_count")->value.as.d;
			ck_assert_int_eq(tids_provenance_verify(&d, n.factory.sign_pk, &covers, err, sizeof(err)),
					 TIDS_ENOENT);
			ck_assert_str_eq(d.purpose, "billing");
			sums++;
		}
		ck_assert_int_eq(tids_client_ack(sub, d.delivery_seq, err, sizeof(err)), 0);
		tids_delivery_free(&d);
	}
	ck_assert_int_eq(hours, 2);
	ck_assert_int_eq(sums, 1);
	ck_assert(sum == 30.0);
	ck_assert_int_eq(next(sub, &d, 3000), 0);
	tids_client_free(sub);
	free_records(recs, 4);
	net_stop(&n);
}
END_TEST

/* --- main ---------------------------------------------------------------------------- */

static void stop_brokers(void)
{
	for (int h = 0; h < N_HUBS; h++)
		if (broker_dir[h][0] != '\0') {
			tids_test_broker_in("stop", broker_dir[h]);
			broker_dir[h][0] = '\0';
		}
}

static void on_signal(int sig)
{
	for (int h = 0; h < N_HUBS; h++)
		if (broker_dir[h][0] != '\0')
			tids_test_broker_in("kill9", broker_dir[h]);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "lessor_in_wuhan", lessor_in_wuhan_gets_hours_and_hourly_sums },
	};
	Suite *s = suite_create("federation");
	const char *shared = getenv("TIDS_TEST_FED_SHARED");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tids_test_kafka_bootstrap();
	if (shared == NULL || strcmp(shared, "1") != 0) {
		/* Three more brokers, one after the other, all up together. */
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		for (int h = HB; h < N_HUBS; h++)
			if (tids_test_broker_start_in(broker_dir[h], broker_bootstrap[h]) != 0) {
				fprintf(stderr, "the broker of %s did not start\n", hub_name[h]);
				stop_brokers();
				return 1;
			}
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 900);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	stop_brokers();
	return failed == 0 ? 0 : 1;
}
