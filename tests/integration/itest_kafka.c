/*
 * Smoke test of the Kafka features tids is built on, against the real broker
 * that tests/kafka/with-broker.sh starts: idempotent produce with acks=all,
 * consumer-group reads with synchronous commits, and transactions.
 */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "../lib/testenv.h"

#define N_MSGS 1000
#define N_PARTITIONS 3
#define NAME_MAX_LEN 160
/* Generous: the first group or transaction of a run waits for the broker to
 * load its coordinator partitions. */
#define WAIT_MS 60000

/* Delivery reports of one producer, indexed by the message's number. */
struct reports {
	int ok;
	int failed;
	char first_error[256];
	int count[N_MSGS];          /* reports per message: must end as 1 */
	int persisted[N_MSGS];      /* status was PERSISTED */
	int32_t partition[N_MSGS];
	int64_t offset[N_MSGS];
};

static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char errstr[512];

	ck_assert_msg(rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) ==
			      RD_KAFKA_CONF_OK,
		      "%s=%s: %s", name, value, errstr);
}

static rd_kafka_conf_t *conf_new(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	conf_set(conf, "bootstrap.servers", tids_test_kafka_bootstrap());
	conf_set(conf, "client.id", "itest_kafka");
	return conf;
}

/* Takes ownership of conf. */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char errstr[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

	ck_assert_msg(rk != NULL, "rd_kafka_new: %s", errstr);
	return rk;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct reports *r = opaque;
	intptr_t i = (intptr_t)m->_private;

	(void)rk;
	if (i < 0 || i >= N_MSGS) {
		r->failed++;
		snprintf(r->first_error, sizeof(r->first_error),
			 "delivery report for unknown message %jd", (intmax_t)i);
		return;
	}
	r->count[i]++;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (r->failed++ == 0)
			snprintf(r->first_error, sizeof(r->first_error),
				 "message %jd: %s", (intmax_t)i, rd_kafka_err2str(m->err));
		return;
	}
	r->ok++;
	r->persisted[i] = rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED;
	r->partition[i] = m->partition;
	r->offset[i] = m->offset;
}

/* Waits until the broker's metadata lists topic with all its partitions led. */
static void wait_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int64_t deadline = mono_ms() + WAIT_MS;
	const char *why = "no answer";

	ck_assert(rkt != NULL);
	for (;;) {
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
		int ready = 0;

		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			why = rd_kafka_err2str(err);
		} else if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			why = md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "topic missing";
		} else if (md->topics[0].partition_cnt != partitions) {
			why = "partition count differs";
		} else {
			ready = 1;
			for (int p = 0; p < partitions; p++)
				if (md->topics[0].partitions[p].leader < 0)
					ready = 0;
			if (!ready)
				why = "a partition has no leader yet";
		}
		if (md != NULL)
			rd_kafka_metadata_destroy(md);
		if (ready)
			break;
		ck_assert_msg(mono_ms() < deadline, "topic %s not ready: %s", topic, why);
		rd_kafka_poll(rk, 200);
	}
	rd_kafka_topic_destroy(rkt);
}

/* Creates topic with the Admin API (not auto-create) and waits until usable. */
static void create_topic(const char *topic, int partitions)
{
	char errstr[512];
	rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf_new());
	rd_kafka_NewTopic_t *nt;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **topics;
	size_t n;

	nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof(errstr));
	ck_assert_msg(nt != NULL, "NewTopic %s: %s", topic, errstr);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	ck_assert(rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr,
							      sizeof(errstr)) == 0);
	ck_assert(rd_kafka_AdminOptions_set_request_timeout(opts, WAIT_MS, errstr,
							    sizeof(errstr)) == 0);
	rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
	ev = rd_kafka_queue_poll(q, WAIT_MS + 5000);
	ck_assert_msg(ev != NULL, "CreateTopics %s: no result", topic);
	ck_assert_int_eq(rd_kafka_event_type(ev), RD_KAFKA_EVENT_CREATETOPICS_RESULT);
	ck_assert_msg(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR,
		      "CreateTopics %s: %s", topic, rd_kafka_event_error_string(ev));
	res = rd_kafka_event_CreateTopics_result(ev);
	topics = rd_kafka_CreateTopics_result_topics(res, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rd_kafka_topic_result_name(topics[0]), topic);
	ck_assert_msg(rd_kafka_topic_result_error(topics[0]) == RD_KAFKA_RESP_ERR_NO_ERROR,
		      "CreateTopics %s: %s", topic,
		      rd_kafka_topic_result_error_string(topics[0]));
	rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_NewTopic_destroy(nt);

	wait_topic(rk, topic, partitions);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
}

static void produce_one(rd_kafka_t *rk, const char *topic, int32_t partition,
			const char *key, const char *value, intptr_t id)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
					RD_KAFKA_V_PARTITION(partition),
					RD_KAFKA_V_KEY(key, strlen(key)),
					RD_KAFKA_V_VALUE((void *)(uintptr_t)value, strlen(value)),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_OPAQUE((void *)id), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 100);
	}
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "produce %s to %s: %s", key,
		      topic, rd_kafka_err2str(err));
}

static void msg_text(char *key, size_t klen, char *value, size_t vlen, int i)
{
	snprintf(key, klen, "key-%04d", i);
	snprintf(value, vlen, "value-%04d-of-%d", i, N_MSGS);
}

/* An idempotent, acks=all producer that reports into r. */
static rd_kafka_t *idempotent_producer(struct reports *r)
{
	rd_kafka_conf_t *conf = conf_new();

	conf_set(conf, "enable.idempotence", "true");
	conf_set(conf, "acks", "all");
	conf_set(conf, "linger.ms", "5");
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_opaque(conf, r);
	return client_new(RD_KAFKA_PRODUCER, conf);
}

/* Produces N_MSGS keyed messages (key-NNNN / value-NNNN-of-N) and waits for
 * every delivery report. */
static void produce_keyed(const char *topic, struct reports *r)
{
	rd_kafka_t *rk = idempotent_producer(r);
	char key[32], value[64];
	rd_kafka_resp_err_t err;

	for (int i = 0; i < N_MSGS; i++) {
		msg_text(key, sizeof(key), value, sizeof(value), i);
		produce_one(rk, topic, RD_KAFKA_PARTITION_UA, key, value, i);
		rd_kafka_poll(rk, 0);
	}
	err = rd_kafka_flush(rk, WAIT_MS);
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "flush: %s (%d left)",
		      rd_kafka_err2str(err), rd_kafka_outq_len(rk));
	rd_kafka_destroy(rk);
}

static rd_kafka_t *consumer_new(const char *group, const char *isolation)
{
	rd_kafka_conf_t *conf = conf_new();
	rd_kafka_t *rk;

	conf_set(conf, "group.id", group);
	conf_set(conf, "auto.offset.reset", "earliest");
	conf_set(conf, "enable.auto.commit", "false");
	conf_set(conf, "enable.partition.eof", "true");
	conf_set(conf, "isolation.level", isolation);
	rk = client_new(RD_KAFKA_CONSUMER, conf);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

static void subscribe(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t err;

	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(rk, l);
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "subscribe %s: %s", topic,
		      rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
}

/* The message's number from its key "key-NNNN", or -1. */
static int key_index(const rd_kafka_message_t *m)
{
	char key[16];
	int i;
	char end;

	if (m->key == NULL || m->key_len == 0 || m->key_len >= sizeof(key))
		return -1;
	memcpy(key, m->key, m->key_len);
	key[m->key_len] = '\0';
	if (sscanf(key, "key-%d%c", &i, &end) != 1 || i < 0 || i >= N_MSGS)
		return -1;
	return i;
}

START_TEST(test_idempotent_produce)
{
	struct reports *r = calloc(1, sizeof(*r));
	int64_t next[N_PARTITIONS] = {0};
	int per_partition[N_PARTITIONS] = {0};
	char topic[NAME_MAX_LEN];
	rd_kafka_t *rk;

	ck_assert(r != NULL);
	tids_test_unique_name(topic, sizeof(topic), "itest-idempotent");
	create_topic(topic, N_PARTITIONS);
	produce_keyed(topic, r);

	ck_assert_msg(r->failed == 0, "%d deliveries failed, first: %s", r->failed,
		      r->first_error);
	ck_assert_int_eq(r->ok, N_MSGS);
	for (int i = 0; i < N_MSGS; i++) {
		int32_t p = r->partition[i];

		ck_assert_msg(r->count[i] == 1, "message %d reported %d times", i, r->count[i]);
		ck_assert_msg(r->persisted[i], "message %d not persisted", i);
		ck_assert_msg(p >= 0 && p < N_PARTITIONS, "message %d in partition %d", i, p);
		/* One write per message, in send order: offsets 0, 1, 2, ... */
		ck_assert_msg(r->offset[i] == next[p],
			      "message %d at offset %jd of partition %d, expected %jd", i,
			      (intmax_t)r->offset[i], p, (intmax_t)next[p]);
		next[p]++;
		per_partition[p]++;
	}
	/* Keys spread over all partitions, so the ordering check meant something. */
	for (int p = 0; p < N_PARTITIONS; p++)
		ck_assert_msg(per_partition[p] > 0, "no message in partition %d", p);

	/* The log holds exactly what was reported: no duplicate from a retry. */
	rk = client_new(RD_KAFKA_PRODUCER, conf_new());
	for (int32_t p = 0; p < N_PARTITIONS; p++) {
		int64_t lo = -1, hi = -1;
		rd_kafka_resp_err_t err =
			rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);

		ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "watermarks: %s",
			      rd_kafka_err2str(err));
		ck_assert_int_eq(lo, 0);
		ck_assert_int_eq(hi, per_partition[p]);
	}
	rd_kafka_destroy(rk);
	free(r);
}
END_TEST

START_TEST(test_group_consume_commit)
{
	struct reports *r = calloc(1, sizeof(*r));
	int seen[N_MSGS] = {0};
	int last_index[N_PARTITIONS], per_partition[N_PARTITIONS] = {0};
	int64_t last_offset[N_PARTITIONS];
	char topic[NAME_MAX_LEN], group[NAME_MAX_LEN];
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk, *prod;
	int new_seen[N_PARTITIONS] = {0};
	int got = 0, extra = 0, got_new = 0;
	int64_t deadline;

	ck_assert(r != NULL);
	for (int p = 0; p < N_PARTITIONS; p++) {
		last_index[p] = -1;
		last_offset[p] = -1;
	}
	tids_test_unique_name(topic, sizeof(topic), "itest-group");
	tids_test_unique_name(group, sizeof(group), "itest-group");
	create_topic(topic, N_PARTITIONS);
	produce_keyed(topic, r);
	ck_assert_msg(r->ok == N_MSGS, "%d of %d produced, first error: %s", r->ok,
		      N_MSGS, r->first_error);

	rk = consumer_new(group, "read_committed");
	subscribe(rk, topic);
	deadline = mono_ms() + WAIT_MS;
	while (got < N_MSGS) {
		rd_kafka_message_t *m;
		char want[64], key[32];
		int i, p;

		ck_assert_msg(mono_ms() < deadline, "only %d of %d messages consumed", got,
			      N_MSGS);
		m = rd_kafka_consumer_poll(rk, 500);
		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			continue;
		}
		ck_assert_msg(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, "consume: %s",
			      rd_kafka_message_errstr(m));
		i = key_index(m);
		p = (int)m->partition;
		ck_assert_msg(i >= 0, "message with an unexpected key at offset %jd",
			      (intmax_t)m->offset);
		ck_assert_msg(p >= 0 && p < N_PARTITIONS, "partition %d", p);
		ck_assert_msg(seen[i] == 0, "message %d delivered twice", i);
		msg_text(key, sizeof(key), want, sizeof(want), i);
		ck_assert_uint_eq(m->len, strlen(want));
		ck_assert_msg(memcmp(m->payload, want, m->len) == 0, "payload of message %d",
			      i);
		/* In order within the partition, and no gaps in its offsets. */
		ck_assert_msg(i > last_index[p], "message %d after %d in partition %d", i,
			      last_index[p], p);
		ck_assert_int_eq(m->offset, last_offset[p] + 1);
		last_index[p] = i;
		last_offset[p] = m->offset;
		seen[i] = 1;
		per_partition[p]++;
		got++;
		rd_kafka_message_destroy(m);
	}
	/* Nothing more: no duplicates waiting behind the last one. */
	deadline = mono_ms() + 500;
	while (mono_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			extra++;
		rd_kafka_message_destroy(m);
	}
	ck_assert_int_eq(extra, 0);

	err = rd_kafka_commit(rk, NULL, 0);
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "commit: %s",
		      rd_kafka_err2str(err));
	parts = rd_kafka_topic_partition_list_new(N_PARTITIONS);
	for (int32_t p = 0; p < N_PARTITIONS; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p);
	err = rd_kafka_committed(rk, parts, 10000);
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "committed: %s",
		      rd_kafka_err2str(err));
	for (int k = 0; k < parts->cnt; k++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[k];

		ck_assert_int_eq(tp->err, RD_KAFKA_RESP_ERR_NO_ERROR);
		ck_assert_int_eq(tp->offset, per_partition[tp->partition]);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	err = rd_kafka_consumer_close(rk);
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "close: %s", rd_kafka_err2str(err));
	rd_kafka_destroy(rk);

	/* A second member of the group starts from the commit. One new message
	 * per partition: each must be the first it gets from that partition, at
	 * the offset right after the committed ones (order within a partition
	 * means an old message would have come first). */
	rk = consumer_new(group, "read_committed");
	subscribe(rk, topic);
	memset(r, 0, sizeof(*r));
	prod = idempotent_producer(r);
	for (int32_t p = 0; p < N_PARTITIONS; p++)
		produce_one(prod, topic, p, "after-commit", "new", p);
	ck_assert(rd_kafka_flush(prod, WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
	ck_assert_int_eq(r->ok, N_PARTITIONS);
	rd_kafka_destroy(prod);
	deadline = mono_ms() + WAIT_MS;
	while (got_new < N_PARTITIONS) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		int p;

		ck_assert_msg(mono_ms() < deadline, "second consumer got %d of %d new messages",
			      got_new, N_PARTITIONS);
		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			continue;
		}
		ck_assert_msg(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, "second consumer: %s",
			      rd_kafka_message_errstr(m));
		p = (int)m->partition;
		ck_assert_msg(p >= 0 && p < N_PARTITIONS && !new_seen[p],
			      "second consumer: unexpected message in partition %d", p);
		ck_assert_msg(m->offset == per_partition[p],
			      "second consumer got offset %jd of partition %d, committed was %d",
			      (intmax_t)m->offset, p, per_partition[p]);
		ck_assert_uint_eq(m->key_len, strlen("after-commit"));
		ck_assert(memcmp(m->key, "after-commit", m->key_len) == 0);
		new_seen[p] = 1;
		got_new++;
		rd_kafka_message_destroy(m);
	}
	ck_assert(rd_kafka_consumer_close(rk) == RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
	free(r);
}
END_TEST

static void expect_no_error(rd_kafka_error_t *error, const char *what)
{
	if (error == NULL)
		return;
	ck_abort_msg("%s: %s (%s)", what, rd_kafka_error_string(error),
		     rd_kafka_error_name(error));
}

#define MAX_READ 8

/* Reads partition 0 of topic from the start to its end (the last stable
 * offset for read_committed) and returns the payloads in out. */
static int read_all(const char *topic, const char *isolation, char out[][32])
{
	char group[NAME_MAX_LEN];
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *rk;
	rd_kafka_resp_err_t err;
	int64_t deadline = mono_ms() + WAIT_MS;
	int n = 0, eof = 0;

	tids_test_unique_name(group, sizeof(group), "itest-txn-read");
	rk = consumer_new(group, isolation);
	rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	err = rd_kafka_assign(rk, l);
	ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "assign: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
	while (!eof) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		ck_assert_msg(mono_ms() < deadline, "%s: no end of partition after %d messages",
			      isolation, n);
		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eof = 1;
		} else {
			ck_assert_msg(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, "%s: %s", isolation,
				      rd_kafka_message_errstr(m));
			ck_assert_msg(n < MAX_READ, "%s: too many messages", isolation);
			ck_assert_uint_lt(m->len, 32);
			memcpy(out[n], m->payload, m->len);
			out[n][m->len] = '\0';
			n++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_destroy(rk);
	return n;
}

START_TEST(test_transactions)
{
	struct reports *r = calloc(1, sizeof(*r));
	char topic[NAME_MAX_LEN], txid[NAME_MAX_LEN];
	char got[MAX_READ][32];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	int n;

	ck_assert(r != NULL);
	tids_test_unique_name(topic, sizeof(topic), "itest-txn");
	tids_test_unique_name(txid, sizeof(txid), "itest-txn");
	create_topic(topic, 1);

	conf = conf_new();
	conf_set(conf, "transactional.id", txid);
	conf_set(conf, "acks", "all");
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_opaque(conf, r);
	rk = client_new(RD_KAFKA_PRODUCER, conf);
	expect_no_error(rd_kafka_init_transactions(rk, WAIT_MS), "init_transactions");

	expect_no_error(rd_kafka_begin_transaction(rk), "begin 1");
	produce_one(rk, topic, 0, "t1", "committed", 0);
	expect_no_error(rd_kafka_commit_transaction(rk, WAIT_MS), "commit 1");

	/* The aborted message must really reach the log (abort would purge it
	 * from the queue), or read_uncommitted could not see it either. */
	expect_no_error(rd_kafka_begin_transaction(rk), "begin 2");
	produce_one(rk, topic, 0, "t2", "aborted", 1);
	ck_assert(rd_kafka_flush(rk, WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR);
	ck_assert_msg(r->count[1] == 1 && r->persisted[1], "aborted message not written: %s",
		      r->first_error);
	expect_no_error(rd_kafka_abort_transaction(rk, WAIT_MS), "abort 2");

	expect_no_error(rd_kafka_begin_transaction(rk), "begin 3");
	produce_one(rk, topic, 0, "t3", "committed-again", 2);
	expect_no_error(rd_kafka_commit_transaction(rk, WAIT_MS), "commit 3");
	ck_assert_msg(r->failed == 0, "%d deliveries failed, first: %s", r->failed,
		      r->first_error);
	ck_assert_int_eq(r->ok, 3);
	rd_kafka_destroy(rk);

	n = read_all(topic, "read_committed", got);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(got[0], "committed");
	ck_assert_str_eq(got[1], "committed-again");

	n = read_all(topic, "read_uncommitted", got);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(got[0], "committed");
	ck_assert_str_eq(got[1], "aborted");
	ck_assert_str_eq(got[2], "committed-again");
	free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kafka");
	TCase *tc = tcase_create("broker");
	SRunner *sr;
	int failed;

	/* Real broker, first coordinator loads: minutes are not a hang. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_idempotent_produce);
	tcase_add_test(tc, test_group_consume_commit);
	tcase_add_test(tc, test_transactions);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
