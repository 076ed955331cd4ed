/*
 * daemon/metrics.c alone (compiled into this test, as the fuzz target
 * does): label tables intern up to their cap and then say "other", label
 * values are escaped for the text format, histograms are cumulative, a
 * router transaction's counts reach the totals only when it commits, and
 * Kafka is reachable only while fresh statistics show a connected broker.
 */
#include "../../daemon/metrics.c"

#include <check.h>

static char text[1 << 20];

static const char *render(const struct metrics *m, int64_t mono)
{
	struct tids_buf b = { 0 };
	struct metrics_info info = { "9.9", "hub\"x", 2 };

	ck_assert_int_eq(metrics_render(m, &info, mono, &b), 0);
	ck_assert_uint_lt(b.len, sizeof(text));
	memcpy(text, tids_buf_head(&b), b.len);
	text[b.len] = '\0';
	tids_buf_free(&b);
	return text;
}

static bool has_line(const char *t, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = t; (p = strstr(p, line)) != NULL; p++)
		if ((p == t || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

START_TEST(labels_intern_then_other)
{
	struct metrics *m = metrics_new();
	char name[32];

	ck_assert_uint_eq(metrics_label_slot(&m->categories, "run_hours"), 0);
	ck_assert_uint_eq(metrics_label_slot(&m->categories, "recipe"), 1);
	ck_assert_uint_eq(metrics_label_slot(&m->categories, "run_hours"), 0);
	for (unsigned i = 2; i < METRICS_CATEGORIES_MAX - 1; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		ck_assert_uint_eq(metrics_label_slot(&m->categories, name), i);
	}
	/* Full: anything new is "other", the old ones keep their slots. */
	ck_assert_uint_eq(metrics_label_slot(&m->categories, "new"), METRICS_CATEGORIES_MAX - 1);
	ck_assert_uint_eq(metrics_label_slot(&m->categories, "newer"), METRICS_CATEGORIES_MAX - 1);
	ck_assert_str_eq(m->categories.names[METRICS_CATEGORIES_MAX - 1], "other");
	ck_assert_uint_eq(atomic_load(&m->categories.n), METRICS_CATEGORIES_MAX);
	ck_assert_uint_eq(metrics_label_slot(&m->categories, "recipe"), 1);
	metrics_free(m);
}
END_TEST

START_TEST(stage_counts_only_at_commit)
{
	struct metrics *m = metrics_new();
	static struct metrics_route_stage st;
	const char *t;

	metrics_stage_decision(m, &st, "run_hours", MD_ALLOW, TIDS_TIER_GENERAL, NULL);
	metrics_stage_decision(m, &st, "recipe", MD_DENY, TIDS_TIER_IMPORTANT, "recipe_needs_grant");
	st.records = 2;
	st.deliveries = 1;
	/* An aborted transaction: routed again later, counted then. */
	metrics_stage_discard(&st);
	t = render(m, 1);
	ck_assert(has_line(t, "tids_records_routed_total 0"));
	ck_assert_ptr_null(strstr(t, "tids_decisions_total{"));

	metrics_stage_decision(m, &st, "run_hours", MD_ALLOW, TIDS_TIER_GENERAL, NULL);
	metrics_stage_decision(m, &st, "run_hours", MD_ALLOW, TIDS_TIER_GENERAL, NULL);
	metrics_stage_decision(m, &st, "recipe", MD_DENY, TIDS_TIER_IMPORTANT, "recipe_needs_grant");
	metrics_stage_decision(m, &st, "quality", MD_DENY, TIDS_TIER_GENERAL, NULL);
	metrics_stage_decision(m, &st, "telemetry", MD_TRANSFORM, TIDS_TIER_CORE, NULL);
	st.records = 5;
	st.deliveries = 3;
	metrics_stage_commit(m, &st);
	ck_assert_uint_eq(st.records, 0);
	t = render(m, 1);
	ck_assert(has_line(t, "tids_records_routed_total 5"));
	ck_assert(has_line(t, "tids_deliveries_produced_total 3"));
	ck_assert(has_line(t, "tids_decisions_total{decision=\"allow\",tier=\"general\",category=\"run_hours\"} 2"));
	ck_assert(has_line(t, "tids_decisions_total{decision=\"deny\",tier=\"important\",category=\"recipe\"} 1"));
	ck_assert(has_line(t, "tids_decisions_total{decision=\"deny\",tier=\"general\",category=\"quality\"} 1"));
	ck_assert(has_line(t, "tids_decisions_total{decision=\"transform\",tier=\"core\",category=\"telemetry\"} 1"));
	ck_assert(has_line(t, "tids_denials_total{rule=\"recipe_needs_grant\"} 1"));
	ck_assert(has_line(t, "tids_denials_total{rule=\"(default-deny)\"} 1"));
	ck_assert(has_line(t, "tids_build_info{version=\"9.9\",hub=\"hub\\\"x\"} 1"));
	ck_assert(has_line(t, "tids_sessions_open 2"));
	metrics_free(m);
}
END_TEST

START_TEST(label_values_escaped)
{
	struct metrics *m = metrics_new();
	static struct metrics_route_stage st;
	const char *t;

	metrics_stage_decision(m, &st, "a\"b\\c\nd", MD_DENY, TIDS_TIER_GENERAL, "r\"}\n# x");
	metrics_stage_commit(m, &st);
	t = render(m, 1);
	ck_assert(has_line(t, "tids_decisions_total{decision=\"deny\",tier=\"general\",category=\"a\\\"b\\\\c\\nd\"} 1"));
	ck_assert(has_line(t, "tids_denials_total{rule=\"r\\\"}\\n# x\"} 1"));
	/* No line of the exposition starts with anything but a name or '#'. */
	for (const char *p = t; *p != '\0'; p = strchr(p, '\n') + 1)
		ck_assert(*p == '#' || (*p >= 'a' && *p <= 'z'));
	metrics_free(m);
}
END_TEST

START_TEST(histogram_cumulative)
{
	struct metrics *m = metrics_new();
	const char *t;

	metrics_observe_us(&m->delivery_latency, 400);      /* <= 0.0005 */
	metrics_observe_us(&m->delivery_latency, 500);      /* <= 0.0005: bounds are inclusive */
	metrics_observe_us(&m->delivery_latency, 7000);     /* <= 0.01 */
	metrics_observe_us(&m->delivery_latency, 60000000); /* +Inf */
	t = render(m, 1);
	ck_assert(has_line(t, "tids_delivery_latency_seconds_bucket{le=\"0.0005\"} 2"));
	ck_assert(has_line(t, "tids_delivery_latency_seconds_bucket{le=\"0.005\"} 2"));
	ck_assert(has_line(t, "tids_delivery_latency_seconds_bucket{le=\"0.01\"} 3"));
	ck_assert(has_line(t, "tids_delivery_latency_seconds_bucket{le=\"10\"} 3"));
	ck_assert(has_line(t, "tids_delivery_latency_seconds_bucket{le=\"+Inf\"} 4"));
	ck_assert(has_line(t, "tids_delivery_latency_seconds_count 4"));
	ck_assert(has_line(t, "tids_delivery_latency_seconds_sum 60.007900"));
	metrics_free(m);
}
END_TEST

START_TEST(kafka_reachability_and_readiness)
{
	struct metrics *m = metrics_new();
	static const char up[] = "{\"name\":\"p\",\"brokers\":{\"h:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"INIT\"},"
				 "\"h:9092/1\":{\"nodeid\":1,\"state\":\"UP\"}}}";
	static const char down[] = "{\"brokers\":{\"h:9092/1\":{\"nodeid\":1,\"state\":\"TRY_CONNECT\"}}}";
	static const char boot_only[] = "{\"brokers\":{\"h:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"UP\"}}}";
	static const char health[] =
		"{\"live\":true,\"ready\":true,\"kafka\":\"reachable\",\"router\":\"assigned 0 partitions\"}\n";
	struct tids_buf b = { 0 };

	m->router_enabled = true;
	ck_assert(!metrics_kafka_ok(m, 1000));
	metrics_kafka_stats(m, up, strlen(up), 1000);
	ck_assert(metrics_kafka_ok(m, 1000));
	ck_assert(!metrics_ready(m, 1000));                 /* no assignment yet */
	atomic_store(&m->router_partitions, 0);
	ck_assert(metrics_ready(m, 1000));                  /* an empty assignment is one */
	ck_assert(!metrics_ready(m, 1000 + 5001));          /* statistics went stale */
	metrics_kafka_stats(m, down, strlen(down), 2000);
	ck_assert(!metrics_kafka_ok(m, 2000));
	metrics_kafka_stats(m, boot_only, strlen(boot_only), 3000);
	ck_assert(!metrics_kafka_ok(m, 3000));
	metrics_kafka_stats(m, "{not json", 9, 4000);       /* ignored */
	ck_assert_int_eq(m->kafka_seen_ms, 3000);
	metrics_kafka_stats(m, up, strlen(up), 4000);
	ck_assert_int_eq(metrics_render_health(m, 4000, &b), 0);
	ck_assert_uint_eq(b.len, strlen(health));
	ck_assert_mem_eq(tids_buf_head(&b), health, b.len);
	tids_buf_free(&b);
	m->router_enabled = false;
	atomic_store(&m->router_partitions, -1);
	ck_assert(metrics_ready(m, 4000));
	metrics_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, labels_intern_then_other);
	tcase_add_test(tc, stage_counts_only_at_commit);
	tcase_add_test(tc, label_values_escaped);
	tcase_add_test(tc, histogram_cumulative);
	tcase_add_test(tc, kafka_reachability_and_readiness);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
