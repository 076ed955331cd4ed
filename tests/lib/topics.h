/*
 * Reading the test broker's topics directly, to check what tidsd wrote
 * without going through tidsd: message counts and every committed message.
 */
#ifndef TIDS_TEST_TOPICS_H
#define TIDS_TEST_TOPICS_H

#include <stddef.h>
#include <stdint.h>

/* Sum of the high watermarks of every partition (messages and transaction
 * markers); -1 if the topic cannot be described. */
int64_t tids_test_topic_end(const char *topic);

/* Calls fn for every committed message (read_committed) of every partition
 * up to the end as of the call; returns the number read, or -1. */
typedef void tids_test_message_fn(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
				  const void *value, size_t len);
long tids_test_topic_read(const char *topic, tids_test_message_fn *fn, void *ctx);

/* The same with the tids-seq and tids-mac headers (NULL when absent). */
struct tids_test_message {
	int32_t partition;
	int64_t offset;
	const void *key, *value, *seq, *mac;
	size_t key_len, len, seq_len, mac_len;
};
typedef void tids_test_message_h_fn(void *ctx, const struct tids_test_message *m);
long tids_test_topic_read_h(const char *topic, tids_test_message_h_fn *fn, void *ctx);

/* The offsets group has committed on partitions 0 to partitions - 1 of
 * topic, summed (none counts 0); -1 when they cannot be read. */
int64_t tids_test_group_committed(const char *group, const char *topic, int partitions);
/* A participant's deliver topic as tidsd names it (prefix "tids"), in
 * topic, which it returns. */
const char *tids_test_deliver_topic(char topic[256], const char *hub_id, const char *participant);
/* The same for a subscriber's position: its egress group on its deliver
 * topic, as tidsd names them (prefix "tids"). */
int64_t tids_test_subscriber_position(const char *hub_id, const char *participant);

/* Produces one message, with the headers that are not NULL; 0 or -1. */
int tids_test_topic_write(const char *topic, int32_t partition, const void *key, size_t key_len, const void *value,
			  size_t len, const void *seq, size_t seq_len, const void *mac, size_t mac_len);
/* The low watermark of partition 0 (what the broker still keeps starts
 * there); -1 if it cannot be asked. */
int64_t tids_test_topic_start_on(const char *bootstrap, const char *topic);

/* The same on another broker (NULL: the test broker). */
int64_t tids_test_topic_end_on(const char *bootstrap, const char *topic);
long tids_test_topic_read_on(const char *bootstrap, const char *topic, tids_test_message_fn *fn, void *ctx);

#endif
