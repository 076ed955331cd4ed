/*
 * A consumer that reads one partition from its group's committed position
 * (a subscriber's stream), without joining the group.
 *
 * librdkafka (2.0.2, and its master as of this writing) looks the position
 * up with an OffsetFetch request; when the whole request fails (e.g. Not
 * coordinator, just after a broker restart), it raises a consumer error
 * and leaves the partition waiting for an answer that never comes:
 * rd_kafka_assignment_apply_offsets() does nothing for request-level
 * errors. Seen here as a subscriber that got nothing after a broker
 * restart. So the position is asked for again after any consumer error,
 * until the first message has arrived; before it nothing was consumed, so
 * starting over from the committed position repeats nothing.
 */
#ifndef TIDSD_COMMITTED_H
#define TIDSD_COMMITTED_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

struct committed_start {
	rd_kafka_t *rk;
	const char *topic;                   /* the caller's, outliving this */
	int32_t partition;
	bool started;                        /* a message arrived: nothing to ask again */
	unsigned asked;                      /* lookups made: 1 unless some failed */
};

/* Assigns topic's partition to rk (a consumer with a group.id) at the
 * group's committed position, or at `from` if from >= 0. */
rd_kafka_resp_err_t committed_assign(struct committed_start *cs, rd_kafka_t *rk, const char *topic,
				     int32_t partition, int64_t from);
/* Every event of the consumer's queue goes through here first. Returns
 * true when it was an error that could have cost the lookup and the
 * position was asked for again (the event is still the caller's to log). */
bool committed_on_event(struct committed_start *cs, rd_kafka_event_t *ev);
/* The caller saw a message (not an error) of the partition. */
void committed_started(struct committed_start *cs);

#endif
