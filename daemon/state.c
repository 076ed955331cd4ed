/*
 * The router's state on the compacted state topic: chain heads, grant use
 * counts and policy counters, open aggregation windows, publishers'
 * positions. The state of ingress partition p lives in state partition p,
 * written in the same transaction as the deliveries it accounts for, and
 * read back when the router is assigned partitions, so that what it knows
 * is exactly what Kafka committed, and it moves with its partition from
 * one instance of the hub to another.
 *
 * Kafka is not trusted with the state's integrity: each entry carries a
 * sequence number and a MAC under a key derived from the hub data key (see
 * tids_wire_open_router_state). On load, an entry that does not verify,
 * or whose sequence is not above that of an earlier entry of its key (an
 * old entry written again), is refused loudly and not applied. Sequences
 * keep rising across instances: a router that takes a partition reads its
 * entries, whose sequences it then writes above.
 *
 * Where routing resumes. Key "position/<p>" in state partition p, value
 * RouterState.next_offset: the first offset of ingress partition p not yet
 * routed. transact() raises it (per partition, to the last offset of the
 * batch + 1) and writes it with the batch's deliveries, entries and other
 * state, in the same transaction, so it moves exactly when they commit.
 * When partitions are assigned, the router reads the state of the ones it
 * holds (to the end, transactions still open included) and starts each it
 * was given at next_offset (the group's committed offset only where no
 * entry exists yet, as after an upgrade). It is the one place routing
 * resumes from, on whichever instance. The consumer group's offsets are
 * committed in the same transaction (txn.c), so that the group coordinator
 * fences an instance it has dropped; they show the group's lag and decide
 * nothing else. One entry per partition: whoever routes partition p
 * owns "position/<p>" (and "chain/<p>"), so instances that split the
 * partitions between them never write each other's entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "tids/error.h"

#define LOAD_TIMEOUT_MS 60000

uint64_t state_count_add(struct router *rt, int32_t partition, const char *key, uint64_t amount)
{
	struct count *c = tids_map_get_str(&rt->counts, key);

	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return 0;
		snprintf(c->key, sizeof(c->key), "%s", key);
		if (tids_map_put_str(&rt->counts, c->key, c, NULL) != 0) {
			free(c);
			return 0;
		}
	}
	c->partition = partition;
	c->value += amount;
	c->dirty = true;
	return c->value;
}

bool state_first_time(struct router *rt, int32_t partition, const char *publisher, uint64_t sequence,
		      uint32_t leaf_index)
{
	char key[sizeof(((struct seen *)0)->key)];
	struct seen *s = partition >= 0 && partition < ROUTER_PARTITIONS_MAX ? rt->last_seen[partition] : NULL;

	/* A partition's records mostly come from the publisher of the last. */
	if (s == NULL || s->partition != partition || strcmp(s->publisher, publisher) != 0) {
		snprintf(key, sizeof(key), "seen/%d/%s", (int)partition, publisher);
		s = tids_map_get_str(&rt->seen, key);
	}
	/* Within a partition a publisher's records arrive in (sequence, leaf)
	 * order; a copy from a batch published again is at or below. */
	if (s != NULL && (sequence < s->sequence || (sequence == s->sequence && leaf_index <= s->leaf_index)))
		return false;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return true;
		snprintf(s->key, sizeof(s->key), "%s", key);
		snprintf(s->publisher, sizeof(s->publisher), "%s", publisher);
		s->partition = partition;
		if (tids_map_put_str(&rt->seen, s->key, s, NULL) != 0) {
			free(s);
			return true;
		}
	}
	s->sequence = sequence;
	s->leaf_index = leaf_index;
	s->dirty = true;
	if (partition >= 0 && partition < ROUTER_PARTITIONS_MAX)
		rt->last_seen[partition] = s;
	return true;
}

bool state_first_import(struct router *rt, int32_t partition, const char *hub, uint64_t position)
{
	char key[sizeof(((struct seen *)0)->key)];
	struct seen *s;

	snprintf(key, sizeof(key), "imported/%d/%s", (int)partition, hub);
	s = tids_map_get_str(&rt->seen, key);
	if (s != NULL && position <= s->sequence)
		return false;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return true;
		snprintf(s->key, sizeof(s->key), "%s", key);
		snprintf(s->publisher, sizeof(s->publisher), "%s", hub);
		s->partition = partition;
		s->import = true;
		if (tids_map_put_str(&rt->seen, s->key, s, NULL) != 0) {
			free(s);
			return true;
		}
	}
	s->sequence = position;
	s->dirty = true;
	return true;
}

/* Gives a count's value to the policy facts. */
static void count_to_facts(struct router *rt, const char *key, uint64_t value)
{
	char name[TIDS_NAME_MAX + 1], ckey[TIDS_ID_MAX + 1];
	long long period;

	if (strncmp(key, "uses/", 5) == 0) {
		tids_policy_facts_set_grant_uses(rt->facts, key + 5, value > UINT32_MAX ? UINT32_MAX : (uint32_t)value);
		return;
	}
	if (sscanf(key, "counter/%64[^/]/%128[^/]/%lld", name, ckey, &period) == 3 &&
	    tids_policy_facts_set_counter(rt->facts, name, ckey, period, value) != 0)
		tids_log_warnx("router: counter %s not restored", key);
}

void state_clear(struct router *rt)
{
	size_t pos = 0;
	struct count *c;

	/* Whatever an aborted batch counted is undone in the facts too. */
	while ((c = tids_map_next(&rt->counts, &pos)) != NULL) {
		count_to_facts(rt, c->key, 0);
		free(c);
	}
	tids_map_free(&rt->counts);
	pos = 0;
	for (void *sn; (sn = tids_map_next(&rt->seen, &pos)) != NULL;)
		free(sn);
	tids_map_free(&rt->seen);
	memset(rt->last_seen, 0, sizeof(rt->last_seen));
	memset(rt->chains, 0, sizeof(rt->chains));
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		rt->next_offset[p] = -1;
		rt->next_dirty[p] = false;
	}
}

/* The sequence of the last entry applied per key, while the topic loads. */
struct last_seq {
	char key[TIDS_STATE_KEY_MAX + 1];
	uint64_t seq;
};

static void header(const rd_kafka_message_t *m, const char *name, const uint8_t **value, size_t *len)
{
	rd_kafka_headers_t *h = NULL;
	const void *v = NULL;
	size_t n = 0;

	*value = NULL;
	*len = 0;
	/* The last one counts, as Kafka clients read headers. */
	if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v != NULL) {
		*value = v;
		*len = n;
	}
}

/* The key as text, printable for the log (it comes from Kafka). */
static void printable_key(const rd_kafka_message_t *m, char *buf, size_t len)
{
	size_t n = m->key_len < len - 1 ? m->key_len : len - 1;

	for (size_t i = 0; i < n; i++) {
		char c = ((const char *)m->key)[i];

		buf[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	buf[n] = '\0';
}

static void apply_entry(struct router *rt, const rd_kafka_message_t *m, struct tids_map *seqs)
{
	struct tids_state_message sm = { .topic = rt->t_state, .key = m->key, .key_len = m->key_len,
					 .value = m->payload, .len = m->len };
	struct tids_router_state st;
	struct last_seq *last;
	char key[TIDS_STATE_KEY_MAX + 1], err[256];
	uint64_t seq;
	int p;

	header(m, TIDS_STATE_HEADER_MAC, &sm.mac, &sm.mac_len);
	header(m, TIDS_STATE_HEADER_SEQ, &sm.seq, &sm.seq_len);
	if (tids_wire_open_router_state(rt->keys->state_mac, &sm, &st, &seq, err, sizeof(err)) != 0) {
		/* Not written by this hub's router, or changed since: someone with
		 * write access to Kafka. Never applied; said loudly. */
		printable_key(m, key, sizeof(key));
		tids_log_warnx("router: state entry %s (partition %d, offset %lld) refused, not applied: %s", key,
			       (int)m->partition, (long long)m->offset, err);
		rt->state_refused++;
		return;
	}
	memcpy(key, m->key, m->key_len);
	key[m->key_len] = '\0';
	last = tids_map_get_str(seqs, key);
	if (last != NULL && seq <= last->seq) {
		tids_log_warnx("router: state entry %s (partition %d, offset %lld) refused, not applied: sequence %llu "
			       "is not above %llu of an earlier entry (an old entry written again)", key,
			       (int)m->partition, (long long)m->offset, (unsigned long long)seq,
			       (unsigned long long)last->seq);
		rt->state_refused++;
		tids_router_state_free(&st);
		return;
	}
	if (last == NULL && (last = calloc(1, sizeof(*last))) != NULL) {
		snprintf(last->key, sizeof(last->key), "%s", key);
		if (tids_map_put_str(seqs, last->key, last, NULL) != 0) {
			free(last);
			last = NULL;
		}
	}
	if (last != NULL)
		last->seq = seq;
	if (seq > rt->state_seq)
		rt->state_seq = seq;
	if (m->payload == NULL) {
		/* A tombstone: an emitted window. */
		struct window *w = tids_map_remove_str(&rt->windows, key);

		free(w);
		return;
	}
	if (st.kind == TIDS_STATE_CHAIN && sscanf(key, "chain/%d", &p) == 1 && p >= 0 && p < ROUTER_PARTITIONS_MAX &&
	    p == st.chain.partition) {
		struct chain *c = &rt->chains[p];

		c->seq = st.chain.seq;
		memcpy(c->head, st.chain.head, TIDS_HASH_BYTES);
		c->since_checkpoint = st.chain.since_checkpoint;
		c->dirty = false;
	} else if (st.kind == TIDS_STATE_COUNT) {
		struct count *c = tids_map_get_str(&rt->counts, key);
		uint64_t was = c != NULL ? c->value : 0;

		state_count_add(rt, m->partition, key, st.count - was);
		c = tids_map_get_str(&rt->counts, key);
		if (c != NULL)
			c->dirty = false;
		count_to_facts(rt, key, st.count);
	} else if (st.kind == TIDS_STATE_POSITION && sscanf(key, "position/%d", &p) == 1 && p == m->partition &&
		   p < ROUTER_PARTITIONS_MAX) {
		rt->next_offset[p] = st.next_offset;
		rt->next_dirty[p] = false;
	} else if (st.kind == TIDS_STATE_WINDOW) {
		state_window_restore(rt, m->partition, key, &st.window);
	} else if (st.kind == TIDS_STATE_SEEN) {
		struct seen *sn;

		if (state_first_time(rt, st.seen.partition, st.seen.publisher, st.seen.sequence, st.seen.leaf_index) &&
		    (sn = tids_map_get_str(&rt->seen, key)) != NULL)
			sn->dirty = false;
	} else if (st.kind == TIDS_STATE_IMPORTED) {
		struct seen *sn;

		if (state_first_import(rt, st.seen.partition, st.seen.publisher, st.seen.sequence) &&
		    (sn = tids_map_get_str(&rt->seen, key)) != NULL)
			sn->dirty = false;
	} else {
		tids_log_warnx("router: state entry %s does not match its key", key);
	}
	tids_router_state_free(&st);
}

int state_load(struct router *rt)
{
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *tp = NULL, *owned;
	int64_t end[ROUTER_PARTITIONS_MAX];
	rd_kafka_t *rk;
	struct tids_map seqs = { 0 };
	char err[512], group[320];
	int64_t deadline = mono_ms() + LOAD_TIMEOUT_MS, said = mono_ms();
	size_t n = 0, pos = 0;
	int eofs = 0, want = 0, r = -1;

	state_clear(rt);
	aggregate_clear(rt);
	rt->state_refused = 0;
	owned = rd_kafka_topic_partition_list_new(8);
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++)
		if (rt->owned[p])
			rd_kafka_topic_partition_list_add(owned, rt->t_ingress, p);
	if (owned->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(owned);
		return 0;
	}
	conf = rd_kafka_conf_dup(rt->conf_consumer);
	/* Read by assign(): the group only names the reader, nothing commits. */
	snprintf(group, sizeof(group), "%s.state", rt->group_id);
	if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		rd_kafka_topic_partition_list_destroy(owned);
		tids_log_warnx("router: %s", err);
		return -1;
	}
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		rd_kafka_topic_partition_list_destroy(owned);
		tids_log_warnx("router: %s", err);
		return -1;
	}
	rd_kafka_set_log_queue(rk, NULL);
	rd_kafka_poll_set_consumer(rk);
	tp = rd_kafka_topic_partition_list_new(owned->cnt);
	for (int i = 0; i < owned->cnt; i++) {
		int32_t p = owned->elems[i].partition;
		int64_t lo = 0, hi = -1;

		/* An empty partition (a new hub) has nothing to wait for: its end
		 * may never be signalled while it is still being set up after the
		 * topic's creation. */
		if (rd_kafka_query_watermark_offsets(rk, rt->t_state, p, &lo, &hi, 10000) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR)
			hi = -1;
		else if (hi == 0)
			continue;
		/* Read to the high watermark, not only to the first end seen:
		 * read_committed ends at the last stable offset, which stays
		 * below a transaction still open (of an instance that died
		 * holding p, until it times out) and below one committed whose
		 * markers are still being written (the last of an instance
		 * that just gave p up, or ours). Its position entry is the one
		 * routing resumes from. */
		end[p] = hi;
		rd_kafka_topic_partition_list_add(tp, rt->t_state, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
		want++;
	}
	if (want == 0) {
		r = 0;
		goto out;
	}
	if (rd_kafka_assign(rk, tp) != RD_KAFKA_RESP_ERR_NO_ERROR)
		goto out;
	/* Read each to its end as of now (read_committed: the last stable offset). */
	while (mono_ms() < deadline && !rt->stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m == NULL) {
			if (mono_ms() - said > 10000) {
				tids_log_info("router: still reading the state topic %s (%zu entries so far)",
					      rt->t_state, n);
				said = mono_ms();
			}
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			bool there = m->partition < 0 || m->partition >= ROUTER_PARTITIONS_MAX ||
				     m->offset >= end[m->partition];

			rd_kafka_message_destroy(m);
			if (there && ++eofs == want) {
				r = 0;
				break;
			}
			continue;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			tids_log_warnx("router: state topic: %s", rd_kafka_message_errstr(m));
		else if (m->partition >= 0 && m->partition < ROUTER_PARTITIONS_MAX && rt->owned[m->partition]) {
			apply_entry(rt, m, &seqs);
			n++;
		}
		rd_kafka_message_destroy(m);
	}
out:
	if (r == 0 && rt->state_refused > 0)
		tids_log_warnx("router: state of %d partitions restored from %zu entries; %zu refused (see above): the "
			       "state topic %s was written by someone other than this hub", owned->cnt,
			       n - rt->state_refused, rt->state_refused, rt->t_state);
	else if (r == 0)
		tids_log_info("router: state of %d partitions restored from %zu entries", owned->cnt, n);
	else
		tids_log_warnx("router: the state topic %s could not be read to its end", rt->t_state);
	for (void *v; (v = tids_map_next(&seqs, &pos)) != NULL;)
		free(v);
	tids_map_free(&seqs);
	rd_kafka_topic_partition_list_destroy(tp);
	rd_kafka_topic_partition_list_destroy(owned);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return r;
}

static int put(struct router *rt, int32_t partition, const char *key, const struct tids_router_state *st)
{
	rd_kafka_headers_t *h;
	uint8_t *value = NULL, mac[TIDS_STATE_MAC_BYTES], seq[8];
	uint64_t s = ++rt->state_seq;
	size_t len = 0;
	int r;

	if (st != NULL && (r = tids_wire_encode_router_state(st, &value, &len)) != 0)
		return r;
	for (int i = 7; i >= 0; i--, s >>= 8)
		seq[i] = (uint8_t)s;
	tids_state_mac(rt->keys->state_mac, rt->t_state, (const uint8_t *)key, strlen(key), rt->state_seq, value,
		       len, mac);
	h = rd_kafka_headers_new(2);
	if (h == NULL || rd_kafka_header_add(h, TIDS_STATE_HEADER_SEQ, -1, seq, sizeof(seq)) != 0 ||
	    rd_kafka_header_add(h, TIDS_STATE_HEADER_MAC, -1, mac, sizeof(mac)) != 0) {
		if (h != NULL)
			rd_kafka_headers_destroy(h);
		free(value);
		return TIDS_ENOMEM;
	}
	return router_produce_h(rt, rt->t_state, partition, key, strlen(key), value, len, h);
}

static void window_state(const struct window *w, struct tids_router_state *st, const char *rules[8])
{
	memset(st, 0, sizeof(*st));
	st->kind = TIDS_STATE_WINDOW;
	for (size_t i = 0; i < w->n_rules; i++)
		rules[i] = w->rule_ids[i];
	st->window = (struct tids_aggregate_window){
		.recipient = w->recipient, .purpose = w->purpose, .function = w->function, .field = w->field,
		.start_ms = w->start_ms, .window_ms = w->window_ms, .group = w->group, .count = w->count,
		.sum = w->sum, .min = w->min, .max = w->max, .rule_ids = { rules, w->n_rules },
		.grant_id = w->grant_id,
	};
	st->window.header.owner = w->owner;
	st->window.header.asset_id = w->asset_id;
	st->window.header.category = w->category;
	st->window.header.tier = w->tier;
	st->window.header.origin = w->origin;
	st->window.header.produced_at_ms = w->start_ms > 0 ? w->start_ms : 1;
	if (w->window_months > 0) {
		/* the obligation's calendar months, for the aggregate's delivery
		 * after a restart (window_ms is this window's own length) */
		st->window.obligations.aggregate = (struct tids_aggregation){
			.function = w->function, .field = w->field, .window_months = w->window_months,
		};
	}
	aggregate_record_id(w, st->window.header.record_id);
}

int state_write_dirty(struct router *rt)
{
	struct tids_router_state st;
	char key[64];
	size_t pos = 0;
	struct count *c;
	struct window *w;
	int r;

	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++) {
		struct chain *ch = &rt->chains[p];

		if (rt->next_dirty[p]) {
			memset(&st, 0, sizeof(st));
			st.kind = TIDS_STATE_POSITION;
			st.next_offset = rt->next_offset[p];
			snprintf(key, sizeof(key), "position/%d", (int)p);
			if ((r = put(rt, p, key, &st)) != 0)
				return r;
			rt->next_dirty[p] = false;
		}
		if (!ch->dirty)
			continue;
		memset(&st, 0, sizeof(st));
		st.kind = TIDS_STATE_CHAIN;
		st.chain.partition = p;
		st.chain.seq = ch->seq;
		memcpy(st.chain.head, ch->head, TIDS_HASH_BYTES);
		st.chain.since_checkpoint = ch->since_checkpoint;
		snprintf(key, sizeof(key), "chain/%d", (int)p);
		if ((r = put(rt, p, key, &st)) != 0)
			return r;
		ch->dirty = false;
	}
	while ((c = tids_map_next(&rt->counts, &pos)) != NULL) {
		if (!c->dirty)
			continue;
		memset(&st, 0, sizeof(st));
		st.kind = TIDS_STATE_COUNT;
		st.count = c->value;
		if ((r = put(rt, c->partition, c->key, &st)) != 0)
			return r;
		c->dirty = false;
	}
	pos = 0;
	{
		struct seen *sn;

		while ((sn = tids_map_next(&rt->seen, &pos)) != NULL) {
			if (!sn->dirty)
				continue;
			memset(&st, 0, sizeof(st));
			st.kind = sn->import ? TIDS_STATE_IMPORTED : TIDS_STATE_SEEN;
			st.seen = (struct tids_position){ sn->publisher, sn->sequence, sn->leaf_index, sn->partition };
			if ((r = put(rt, sn->partition, sn->key, &st)) != 0)
				return r;
			sn->dirty = false;
		}
	}
	pos = 0;
	while ((w = tids_map_next(&rt->windows, &pos)) != NULL) {
		const char *rules[8];

		if (w->emitted) {
			if ((r = put(rt, w->partition, w->key, NULL)) != 0)
				return r;
			tids_map_remove_str(&rt->windows, w->key);
			free(w);
			continue;
		}
		if (!w->dirty)
			continue;
		window_state(w, &st, rules);
		if ((r = put(rt, w->partition, w->key, &st)) != 0)
			return r;
		w->dirty = false;
	}
	return 0;
}
