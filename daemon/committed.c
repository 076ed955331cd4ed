/* See committed.h for why a lookup is asked for again. */
#include "committed.h"

static rd_kafka_resp_err_t assign_at(struct committed_start *cs, int64_t offset)
{
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t e;

	rd_kafka_topic_partition_list_add(tp, cs->topic, cs->partition)->offset = offset;
	e = rd_kafka_assign(cs->rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	return e;
}

rd_kafka_resp_err_t committed_assign(struct committed_start *cs, rd_kafka_t *rk, const char *topic,
				     int32_t partition, int64_t from)
{
	*cs = (struct committed_start){ .rk = rk, .topic = topic, .partition = partition };
	if (from >= 0) {
		/* An explicit position needs no lookup. */
		cs->started = true;
		return assign_at(cs, from);
	}
	cs->asked = 1;
	return assign_at(cs, RD_KAFKA_OFFSET_STORED);
}

bool committed_on_event(struct committed_start *cs, rd_kafka_event_t *ev)
{
	if (cs->started || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_ERROR || rd_kafka_event_error_is_fatal(ev))
		return false;
	/* Which request an error came from the event does not say; any
	 * error before the first message might be the lookup's. Dropping
	 * the partition takes it off librdkafka's list of lookups under
	 * way, so the new assignment looks it up afresh. */
	if (rd_kafka_assign(cs->rk, NULL) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    assign_at(cs, RD_KAFKA_OFFSET_STORED) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	cs->asked++;
	return true;
}

void committed_started(struct committed_start *cs)
{
	cs->started = true;
}
