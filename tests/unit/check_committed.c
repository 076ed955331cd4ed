/*
 * daemon/committed.c alone (compiled into this test), against librdkafka's
 * mock cluster with OffsetFetch failing: a consumer assigned at its group's
 * committed position starts there once the lookup succeeds, where
 * librdkafka by itself would wait for good (the second case shows that
 * it does, which is why daemon/committed.c exists).
 */
#include "../../daemon/committed.c"

#include <check.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define TOPIC "positions"
#define GROUP "g.positions"
/* OffsetFetch's API key in the Kafka protocol. */
#define API_OFFSET_FETCH 9
/* More failures than librdkafka retries one lookup (RD_KAFKA_REQUEST_MAX_RETRIES). */
#define FAILURES 6

struct cluster {
	rd_kafka_t *owner;
	rd_kafka_mock_cluster_t *mock;
	char bootstrap[256];
};

static rd_kafka_conf_t *conf_new(const struct cluster *c, const char *group)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];

	ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, err, sizeof(err)), RD_KAFKA_CONF_OK);
	ck_assert_int_eq(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)), RD_KAFKA_CONF_OK);
	if (group != NULL) {
		ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)), RD_KAFKA_CONF_OK);
		ck_assert_int_eq(rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)),
				 RD_KAFKA_CONF_OK);
		ck_assert_int_eq(rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err)),
				 RD_KAFKA_CONF_OK);
	}
	return conf;
}

/* A one-broker mock cluster with TOPIC holding messages 0..2, and the
 * group's position committed at 1. */
static void cluster_start(struct cluster *c)
{
	char err[256];
	rd_kafka_t *p, *committer;
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_conf_t *quiet = rd_kafka_conf_new();

	/* The owner only hosts the cluster: it has no brokers to name. */
	ck_assert_int_eq(rd_kafka_conf_set(quiet, "log_level", "0", err, sizeof(err)), RD_KAFKA_CONF_OK);
	c->owner = rd_kafka_new(RD_KAFKA_PRODUCER, quiet, err, sizeof(err));
	ck_assert_ptr_nonnull(c->owner);
	c->mock = rd_kafka_mock_cluster_new(c->owner, 1);
	ck_assert_ptr_nonnull(c->mock);
	snprintf(c->bootstrap, sizeof(c->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(c->mock));
	ck_assert_int_eq(rd_kafka_mock_topic_create(c->mock, TOPIC, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

	p = rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(c, NULL), err, sizeof(err));
	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 3; i++) {
		char v[16];

		snprintf(v, sizeof(v), "m%d", i);
		ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
						   RD_KAFKA_V_VALUE(v, strlen(v)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						   RD_KAFKA_V_END),
				 RD_KAFKA_RESP_ERR_NO_ERROR);
	}
	ck_assert_int_eq(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(p);

	committer = rd_kafka_new(RD_KAFKA_CONSUMER, conf_new(c, GROUP), err, sizeof(err));
	ck_assert_ptr_nonnull(committer);
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, TOPIC, 0)->offset = 1;
	ck_assert_int_eq(rd_kafka_commit(committer, tp, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(tp);
	rd_kafka_consumer_close(committer);
	rd_kafka_destroy(committer);
}

static void cluster_stop(struct cluster *c)
{
	rd_kafka_mock_cluster_destroy(c->mock);
	rd_kafka_destroy(c->owner);
}

static void fail_lookups(struct cluster *c)
{
	rd_kafka_resp_err_t errs[FAILURES];

	for (int i = 0; i < FAILURES; i++)
		errs[i] = RD_KAFKA_RESP_ERR_NOT_COORDINATOR;
	rd_kafka_mock_push_request_errors_array(c->mock, API_OFFSET_FETCH, FAILURES, errs);
}

static rd_kafka_t *consumer_new(const struct cluster *c)
{
	rd_kafka_conf_t *conf = conf_new(c, GROUP);
	char err[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_ERROR);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	ck_assert_ptr_nonnull(rk);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* The offset of the first message the consumer returns within ms, -1 if
 * none; cs (if any) sees every event first, as egress does. */
static int64_t first_offset(rd_kafka_t *rk, struct committed_start *cs, int ms)
{
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
	int64_t until = mono_ms() + ms, first = -1;

	while (first < 0 && mono_ms() < until) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
		const rd_kafka_message_t *m;

		if (ev == NULL)
			continue;
		if (cs != NULL)
			committed_on_event(cs, ev);
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_FETCH)
			while ((m = rd_kafka_event_message_next(ev)) != NULL)
				if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && first < 0) {
					if (cs != NULL)
						committed_started(cs);
					first = m->offset;
				}
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_queue_destroy(q);
	return first;
}

/* The offset of the first message a consumer of GROUP returns, with the
 * next FAILURES lookups failing: assigned through committed_assign (at
 * from, -1 for the group's position) when cs is given, else left to
 * librdkafka at the stored position. */
static int64_t first_with_failing_lookups(struct committed_start *cs, int64_t from, int ms)
{
	struct cluster c;
	rd_kafka_t *rk;
	int64_t first;

	cluster_start(&c);
	rk = consumer_new(&c);
	fail_lookups(&c);
	if (cs != NULL) {
		ck_assert_int_eq(committed_assign(cs, rk, TOPIC, 0, from), RD_KAFKA_RESP_ERR_NO_ERROR);
	} else {
		rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(tp, TOPIC, 0)->offset = RD_KAFKA_OFFSET_STORED;
		ck_assert_int_eq(rd_kafka_assign(rk, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
		rd_kafka_topic_partition_list_destroy(tp);
	}
	first = first_offset(rk, cs, ms);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	cluster_stop(&c);
	return first;
}

START_TEST(test_asks_again_after_failed_lookups)
{
	struct committed_start cs;

	ck_assert_int_eq(first_with_failing_lookups(&cs, -1, 30000), 1);
	ck_assert_uint_gt(cs.asked, 1);
	/* Once started, errors are the caller's alone. */
	ck_assert(cs.started);
}
END_TEST

START_TEST(test_explicit_position_needs_no_lookup)
{
	struct committed_start cs;

	ck_assert_int_eq(first_with_failing_lookups(&cs, 2, 30000), 2);
	ck_assert_uint_eq(cs.asked, 0);
}
END_TEST

/* What daemon/committed.c is for: left to itself, librdkafka never
 * fetches a partition whose lookup failed. Should a newer librdkafka
 * retry it, this fails, and committed.c could go. */
START_TEST(test_librdkafka_alone_waits_for_good)
{
	ck_assert_int_eq(first_with_failing_lookups(NULL, -1, 5000), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("committed");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_asks_again_after_failed_lookups);
	tcase_add_test(tc, test_explicit_position_needs_no_lookup);
	tcase_add_test(tc, test_librdkafka_alone_waits_for_good);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
