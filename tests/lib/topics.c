/*
 * Direct reads of the test broker (see topics.h), with librdkafka.
 */
#include "topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "testenv.h"

/* A consumer of group (NULL: a group of its own) that joins nothing. */
static rd_kafka_t *consumer_of(const char *bootstrap, const char *group)
{
	char err[256], own[128];
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	if (group == NULL) {
		tids_test_unique_name(own, sizeof(own), "reader");
		group = own;
	}
	if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap != NULL && *bootstrap != '\0' ? bootstrap :
			      tids_test_kafka_bootstrap(), err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "isolation.level", "read_committed", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err))) {
		fprintf(stderr, "reader: %s\n", err);
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	return rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
}

const char *tids_test_deliver_topic(char topic[256], const char *hub_id, const char *participant)
{
	snprintf(topic, 256, "tids.%s.deliver.%s", hub_id, participant);
	return topic;
}

int64_t tids_test_subscriber_position(const char *hub_id, const char *participant)
{
	char group[256], topic[256];

	snprintf(group, sizeof(group), "tids.%s.egress.%s", hub_id, participant);
	return tids_test_group_committed(group, tids_test_deliver_topic(topic, hub_id, participant), 1);
}

static rd_kafka_t *consumer(const char *bootstrap)
{
	return consumer_of(bootstrap, NULL);
}

int64_t tids_test_group_committed(const char *group, const char *topic, int partitions)
{
	rd_kafka_t *rk = consumer_of(NULL, group);
	rd_kafka_topic_partition_list_t *tl;
	int64_t sum = 0;

	if (rk == NULL)
		return -1;
	tl = rd_kafka_topic_partition_list_new(partitions);
	for (int p = 0; p < partitions; p++)
		rd_kafka_topic_partition_list_add(tl, topic, p);
	if (rd_kafka_committed(rk, tl, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		sum = -1;
	for (int p = 0; sum >= 0 && p < partitions; p++)
		sum += tl->elems[p].offset > 0 ? tl->elems[p].offset : 0;
	rd_kafka_topic_partition_list_destroy(tl);
	rd_kafka_destroy(rk);
	return sum;
}

static int partitions(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int n = -1;

	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			n = md->topics[0].partition_cnt;
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return n;
}

int64_t tids_test_topic_end(const char *topic)
{
	return tids_test_topic_end_on(NULL, topic);
}

int64_t tids_test_topic_end_on(const char *bootstrap, const char *topic)
{
	rd_kafka_t *rk = consumer(bootstrap);
	int64_t total = 0, lo, hi;
	int n;

	if (rk == NULL)
		return -1;
	n = partitions(rk, topic);
	for (int p = 0; p < n; p++) {
		if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			total = -1;
			break;
		}
		total += hi;
	}
	rd_kafka_destroy(rk);
	return n < 0 ? -1 : total;
}

int64_t tids_test_topic_start_on(const char *bootstrap, const char *topic)
{
	rd_kafka_t *rk = consumer(bootstrap);
	int64_t lo = -1, hi;

	if (rk == NULL)
		return -1;
	if (rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		lo = -1;
	rd_kafka_destroy(rk);
	return lo;
}

long tids_test_topic_read(const char *topic, tids_test_message_fn *fn, void *ctx)
{
	return tids_test_topic_read_on(NULL, topic, fn, ctx);
}

long tids_test_topic_read_on(const char *bootstrap, const char *topic, tids_test_message_fn *fn, void *ctx)
{
	rd_kafka_t *rk = consumer(bootstrap);
	rd_kafka_topic_partition_list_t *tp;
	long count = 0;
	int n, eofs = 0, idle = 0;

	if (rk == NULL)
		return -1;
	n = partitions(rk, topic);
	if (n <= 0) {
		rd_kafka_destroy(rk);
		return -1;
	}
	rd_kafka_poll_set_consumer(rk);
	tp = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(tp, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	/* Each partition reports EOF once it has been read to its end. */
	while (eofs < n && idle < 600) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m == NULL) {
			idle++;
			continue;
		}
		idle = 0;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			eofs++;
		else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			fn(ctx, m->partition, m->offset, m->key, m->key_len, m->payload, m->len);
			count++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return eofs == n ? count : -1;
}

/* --- with headers, and writing (the hub state tests forge and replay) ------ */

long tids_test_topic_read_h(const char *topic, tids_test_message_h_fn *fn, void *ctx)
{
	rd_kafka_t *rk = consumer(NULL);
	rd_kafka_topic_partition_list_t *tp;
	long count = 0;
	int n, eofs = 0, idle = 0;

	if (rk == NULL)
		return -1;
	n = partitions(rk, topic);
	if (n <= 0) {
		rd_kafka_destroy(rk);
		return -1;
	}
	rd_kafka_poll_set_consumer(rk);
	tp = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(tp, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	while (eofs < n && idle < 600) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		struct tids_test_message tm;
		rd_kafka_headers_t *h = NULL;
		const void *v;
		size_t len;

		if (m == NULL) {
			idle++;
			continue;
		}
		idle = 0;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eofs++;
		} else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			memset(&tm, 0, sizeof(tm));
			tm.partition = m->partition;
			tm.offset = m->offset;
			tm.key = m->key;
			tm.key_len = m->key_len;
			tm.value = m->payload;
			tm.len = m->len;
			if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
				if (rd_kafka_header_get_last(h, "tids-seq", &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
					tm.seq = v;
					tm.seq_len = len;
				}
				if (rd_kafka_header_get_last(h, "tids-mac", &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
					tm.mac = v;
					tm.mac_len = len;
				}
			}
			fn(ctx, &tm);
			count++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return eofs == n ? count : -1;
}

int tids_test_topic_write(const char *topic, int32_t partition, const void *key, size_t key_len, const void *value,
			  size_t len, const void *seq, size_t seq_len, const void *mac, size_t mac_len)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_headers_t *h = rd_kafka_headers_new(2);
	rd_kafka_t *rk;
	rd_kafka_resp_err_t e;

	if (rd_kafka_conf_set(c, "bootstrap.servers", tids_test_kafka_bootstrap(), err, sizeof(err)) ||
	    rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof(err))) {
		rd_kafka_conf_destroy(c);
		rd_kafka_headers_destroy(h);
		return -1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (rk == NULL) {
		rd_kafka_conf_destroy(c);
		rd_kafka_headers_destroy(h);
		return -1;
	}
	if (seq != NULL)
		rd_kafka_header_add(h, "tids-seq", -1, seq, (ssize_t)seq_len);
	if (mac != NULL)
		rd_kafka_header_add(h, "tids-mac", -1, mac, (ssize_t)mac_len);
	e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
			      RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
			      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_kafka_headers_destroy(h);
	else
		e = rd_kafka_flush(rk, 30000);
	rd_kafka_destroy(rk);
	return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}
