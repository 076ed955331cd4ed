/*
 * The router thread: consumes the ingress topic in a consumer group and, per
 * batch, decides, transforms and produces deliveries, audit entries and its
 * own state, with where routing resumes, in one Kafka transaction (exactly
 * once; txn.c commits them). Any failure of a transaction resets the router
 * to what Kafka committed: the state topic restores chains, counts, windows
 * and each partition's position.
 *
 * The instances of a hub share the ingress partitions through the group:
 * cooperative rebalancing (an instance joining or leaving moves only the
 * partitions that must move), static membership (a restarted instance
 * takes its partitions back without a rebalance), transactional ids per
 * instance. A partition is given up only once the transactions routing it
 * have committed, and taken up only after its state partition has been
 * read to its end, open transactions included: each partition's chain,
 * windows, counters and position move with it through the state topic.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "router.h"
#include "tids/error.h"

/* --- facts: applying registry changes -------------------------------------- */

static void replace(struct tids_map *m, const char *key, void *value, void (*free_value)(void *))
{
	void *old = NULL;

	if (tids_map_put_str(m, key, value, &old) != 0) {
		tids_log_warnx("router: out of memory indexing %s", key);
		free_value(value);
		return;
	}
	if (old != NULL)
		free_value(old);
}

static void free_participant(void *p)
{
	tids_participant_free(p);
	free(p);
}

static void free_asset(void *a)
{
	tids_asset_free(a);
	free(a);
}

static void free_grant_key(struct router *rt, struct grant_key *k)
{
	tids_secmem_pool_put(rt->key_pool, k->key);
	free(k);
}

static void put_participant(struct router *rt, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct tids_participant *p = calloc(1, sizeof(*p));
	struct tids_policy_attr attrs[TIDS_ATTRIBUTES_MAX];

	if (p == NULL || tids_wire_decode_participant(blob, len, p, err, errlen) != 0) {
		free(p);
		return;
	}
	for (size_t i = 0; i < p->n_attributes; i++) {
		attrs[i].name = p->attributes[i].name;
		attrs[i].value = p->attributes[i].value;
	}
	struct tids_policy_participant pp = {
		.id = p->id, .role = p->role, .jurisdiction = p->jurisdiction, .home_hub = p->home_hub,
		.attrs = attrs, .n_attrs = p->n_attributes, .suspended = p->suspended,
	};
	if (tids_policy_facts_put_participant(rt->facts, &pp, err, errlen) != 0) {
		free_participant(p);
		return;
	}
	replace(&rt->participants, p->id, p, free_participant);
	rt->participants_gen++;
}

static void apply_participant(struct router *rt, const struct router_msg *m, char *err, size_t errlen)
{
	put_participant(rt, m->blob, m->len, err, errlen);
}

/* A hub as the policies see it when it is a recipient (of statistics):
 * role "hub", its jurisdiction, served by itself (home_hub "" for ours). */
static void put_hub(struct router *rt, const char *id, const char *jurisdiction, const char *home_hub)
{
	struct tids_participant tp = { .id = id, .role = "hub", .jurisdiction = jurisdiction, .home_hub = home_hub };
	char err[256] = "";
	uint8_t *blob;
	size_t len;

	if (tids_wire_encode_participant(&tp, &blob, &len) != 0)
		return;
	put_participant(rt, blob, len, err, sizeof(err));
	free(blob);
	if (*err != '\0')
		tids_log_warnx("router: hub %s not known to the policies: %s", id, err);
}

static void apply_asset(struct router *rt, const struct router_msg *m, char *err, size_t errlen)
{
	struct tids_asset *a = calloc(1, sizeof(*a));
	struct tids_policy_attr attrs[TIDS_ATTRIBUTES_MAX];

	if (a == NULL || tids_wire_decode_asset(m->blob, m->len, a, err, errlen) != 0) {
		free(a);
		return;
	}
	for (size_t i = 0; i < a->n_attributes; i++) {
		attrs[i].name = a->attributes[i].name;
		attrs[i].value = a->attributes[i].value;
	}
	struct tids_policy_asset pa = {
		.id = a->asset_id, .lessee = a->lessee, .lessor = a->lessor, .site = a->site, .kind = a->kind,
		.attrs = attrs, .n_attrs = a->n_attributes,
	};
	if (tids_policy_facts_put_asset(rt->facts, &pa, err, errlen) != 0) {
		free_asset(a);
		return;
	}
	replace(&rt->assets, a->asset_id, a, free_asset);
}

static void apply_grant(struct router *rt, const struct router_msg *m, char *err, size_t errlen)
{
	struct tids_grant g;
	struct grant_key *k;
	struct count *uses;
	char key[sizeof(uses->key)];

	if (tids_wire_decode_signed_grant(m->blob, m->len, &g, err, errlen) != 0)
		return;
	/* m->id is how this hub knows it: another hub's grant is id@hub. */
	snprintf(key, sizeof(key), "uses/%s", m->id);
	uses = tids_map_get_str(&rt->counts, key);
	struct tids_policy_grant pg = {
		.id = m->id, .owner = g.owner, .grantee = g.grantee,
		.assets = g.assets.items, .n_assets = g.assets.n,
		.categories = g.categories.items, .n_categories = g.categories.n,
		.purposes = g.purposes.items, .n_purposes = g.purposes.n,
		.not_before_ms = g.not_before_ms, .not_after_ms = g.not_after_ms,
		.max_uses = g.max_uses, .uses = uses != NULL ? (uint32_t)uses->value : 0,
	};
	tids_policy_duties_from_wire(&g.obligations, &pg.duties);
	k = calloc(1, sizeof(*k));
	if (k == NULL || (k->key = tids_secmem_pool_get(rt->key_pool)) == NULL) {
		tids_log_warnx("router: grant %s: out of memory; not routing under it", m->id);
		free(k);
		tids_grant_free(&g);
		return;
	}
	memcpy(k->key, m->key, TIDS_SEAL_KEY_BYTES);
	snprintf(k->id, sizeof(k->id), "%s", m->id);
	if (tids_policy_facts_put_grant(rt->facts, &pg, err, errlen) == 0) {
		struct grant_key *old = NULL;

		if (tids_map_put_str(&rt->grant_keys, k->id, k, (void **)&old) != 0) {
			tids_log_warnx("router: out of memory indexing %s", k->id);
			tids_policy_facts_remove_grant(rt->facts, k->id);
			free_grant_key(rt, k);
		} else if (old != NULL) {
			free_grant_key(rt, old);
		}
	} else {
		free_grant_key(rt, k);
	}
	tids_grant_free(&g);
}

/* "revoked MS" or "expired MS" (registry.c post_withdrawn). */
static bool withdrawn_how(const struct router_msg *m, int64_t *at_ms)
{
	char text[48];
	long long at = 0;

	snprintf(text, sizeof(text), "%.*s", (int)(m->len < sizeof(text) ? m->len : sizeof(text) - 1),
		 (const char *)m->blob);
	*at_ms = sscanf(text, "%*s %lld", &at) == 1 ? (int64_t)at : now_ms();
	return strncmp(text, "expired", 7) != 0;
}

/* The grant's key goes; the policy facts keep the grant, never to match
 * again, so that a denial can name it (revoked at, expired at). */
static void apply_revoke(struct router *rt, const struct router_msg *m)
{
	struct grant_key *k = tids_map_remove_str(&rt->grant_keys, m->id);
	int64_t at;
	bool revoked = withdrawn_how(m, &at);

	tids_policy_facts_retire_grant(rt->facts, m->id, revoked, at);
	if (k != NULL)
		free_grant_key(rt, k);
}

static void apply_approval(struct router *rt, const struct router_msg *m, char *err, size_t errlen)
{
	struct tids_approval a;

	if (tids_wire_decode_signed_approval(m->blob, m->len, &a, err, errlen) != 0)
		return;
	struct tids_policy_approval pa = {
		.id = m->id, .kind = a.kind, .regulator = a.regulator, .exporter = a.exporter,
		.recipient = a.recipient, .categories = a.categories.items, .n_categories = a.categories.n,
		.tiers = a.tiers, .n_tiers = a.n_tiers, .purposes = a.purposes.items, .n_purposes = a.purposes.n,
		.from_jurisdiction = a.from_jurisdiction, .to_jurisdiction = a.to_jurisdiction,
		.valid_from_ms = a.valid_from_ms, .valid_until_ms = a.valid_until_ms, .case_id = a.case_id,
	};
	if (tids_policy_facts_put_approval(rt->facts, &pa, err, errlen) != 0)
		tids_log_warnx("router: approval %s: %s", m->id, err);
	tids_approval_free(&a);
}

static void apply_subscriber(struct router *rt, const struct router_msg *m)
{
	struct subscriber *sub = calloc(1, sizeof(*sub));
	size_t i = 0;

	if (sub == NULL)
		return;
	snprintf(sub->id, sizeof(sub->id), "%s", m->id);
	/* The main loop checked the purposes; they arrive one per line. */
	while (i < m->len && sub->n_purposes < SUBSCRIPTION_PURPOSES_MAX) {
		size_t n = 0;

		while (i + n < m->len && m->blob[i + n] != '\n')
			n++;
		if (n > 0 && n <= TIDS_NAME_MAX) {
			memcpy(sub->purposes[sub->n_purposes], m->blob + i, n);
			sub->purposes[sub->n_purposes++][n] = '\0';
		}
		i += n + 1;
	}
	tids_log_info("router: %s is a recipient for %zu purposes", sub->id, sub->n_purposes);
	replace(&rt->subscribers, sub->id, sub, free);
}

/* A peer hub: its outbound topic is where its recipients' records go. */
static void apply_peer(struct router *rt, const struct router_msg *m)
{
	char *topic = malloc(strlen(rt->t_out_prefix) + strlen(m->id) + 1);

	if (topic == NULL)
		return;
	strcpy(topic, rt->t_out_prefix);
	strcat(topic, m->id);
	/* The key is the hub id inside the topic name (which outlives the entry). */
	replace(&rt->peers, topic + strlen(rt->t_out_prefix), topic, free);
	/* The blob is its jurisdiction: a recipient of statistics. */
	if (m->len > 0 && m->len < 16) {
		char jurisdiction[16];

		memcpy(jurisdiction, m->blob, m->len);
		jurisdiction[m->len] = '\0';
		put_hub(rt, m->id, jurisdiction, m->id);
	}
}

static void apply_forget(struct router *rt, const struct router_msg *m)
{
	void *v;

	if (m->kind == RM_FORGET_PARTICIPANT) {
		tids_policy_facts_remove_participant(rt->facts, m->id);
		if ((v = tids_map_remove_str(&rt->participants, m->id)) != NULL)
			free_participant(v);
		rt->participants_gen++;
	} else if ((v = tids_map_remove_str(&rt->subscribers, m->id)) != NULL) {
		free(v);
	}
}

static void apply(struct router *rt, struct router_msg *m)
{
	char err[256] = "";

	switch (m->kind) {
	case RM_PEER:
		apply_peer(rt, m);
		break;
	case RM_FORGET_PARTICIPANT:
	case RM_FORGET_SUBSCRIBER:
		apply_forget(rt, m);
		break;
	case RM_PARTICIPANT:
		apply_participant(rt, m, err, sizeof(err));
		break;
	case RM_ASSET:
		apply_asset(rt, m, err, sizeof(err));
		break;
	case RM_GRANT:
		apply_grant(rt, m, err, sizeof(err));
		break;
	case RM_REVOKE:
		apply_revoke(rt, m);
		break;
	case RM_APPROVAL:
		apply_approval(rt, m, err, sizeof(err));
		break;
	case RM_REVOKE_APPROVAL: {
		int64_t at;

		/* Applied before the next batch is decided: records routed
		 * after the revocation no longer rest on it. */
		(void)withdrawn_how(m, &at);
		tids_policy_facts_revoke_approval(rt->facts, m->id, at);
		break;
	}
	case RM_SUBSCRIBER:
		apply_subscriber(rt, m);
		break;
	case RM_POLICY:
		tids_policy_set_free(rt->policy);
		rt->policy = m->policy;
		m->policy = NULL;
		break;
	}
	if (*err != '\0')
		tids_log_warnx("router: %s %s not applied: %s", m->kind == RM_PARTICIPANT ? "participant" :
			       m->kind == RM_ASSET ? "asset" : "entry", m->id, err);
	sodium_memzero(m->key, sizeof(m->key));
	tids_policy_set_free(m->policy);
	free(m);
}

void router_post(struct tidsd *d, enum router_msg_kind kind, const char *id, const uint8_t *blob, size_t len,
		 const uint8_t *key, struct tids_policy_set *policy)
{
	struct router *rt = d->router;
	struct router_msg *m = calloc(1, sizeof(*m) + len);
	uint64_t one = 1;

	if (m == NULL) {
		tids_log_warnx("router: out of memory; %s not passed on", id);
		tids_policy_set_free(policy);
		return;
	}
	m->kind = kind;
	snprintf(m->id, sizeof(m->id), "%s", id != NULL ? id : "");
	m->policy = policy;
	if (key != NULL)
		memcpy(m->key, key, sizeof(m->key));
	if (len > 0)
		memcpy(m->blob, blob, len);
	m->len = len;
	if (!rt->started) {
		/* Before the thread runs, the main loop is the only user. */
		apply(rt, m);
		return;
	}
	pthread_mutex_lock(&rt->lock);
	*rt->inbox_tail = m;
	rt->inbox_tail = &m->next;
	pthread_mutex_unlock(&rt->lock);
	if (write(rt->inbox_fd, &one, sizeof(one)) < 0)
		tids_log_warn("router: wake");
}

static void drain_inbox(struct router *rt)
{
	struct router_msg *list;
	uint64_t n;

	if (read(rt->inbox_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		tids_log_warn("router: inbox");
	pthread_mutex_lock(&rt->lock);
	list = rt->inbox;
	rt->inbox = NULL;
	rt->inbox_tail = &rt->inbox;
	pthread_mutex_unlock(&rt->lock);
	while (list != NULL) {
		struct router_msg *next = list->next;

		apply(rt, list);
		list = next;
	}
}

/* --- Kafka ------------------------------------------------------------------ */

rd_kafka_topic_t *router_topic(struct router *rt, const char *name)
{
	struct txn_slot *slot = &rt->slot[rt->cur];
	struct topic_handle *t = tids_map_get_str(&slot->topics, name);

	if (t != NULL)
		return t->rkt;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->rkt = rd_kafka_topic_new(slot->producer, name, NULL);
	if (t->rkt == NULL || tids_map_put_str(&slot->topics, t->name, t, NULL) != 0) {
		if (t->rkt != NULL)
			rd_kafka_topic_destroy(t->rkt);
		free(t);
		return NULL;
	}
	return t->rkt;
}

/* Takes value and headers, whatever the outcome; timestamp_ms 0 is now. */
static int produce(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		   uint8_t *value, size_t len, rd_kafka_headers_t *headers, int64_t timestamp_ms)
{
	rd_kafka_topic_t *rkt = router_topic(rt, topic);
	rd_kafka_resp_err_t err;

	if (rkt == NULL) {
		free(value);
		if (headers != NULL)
			rd_kafka_headers_destroy(headers);
		return TIDS_ENOMEM;
	}
	err = rd_kafka_producev(rt->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
				RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_HEADERS(headers),
				RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
				RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		free(value);
		/* On failure the headers are still ours. */
		if (headers != NULL)
			rd_kafka_headers_destroy(headers);
		tids_log_warnx("router: produce to %s: %s", topic, rd_kafka_err2str(err));
		return TIDS_EKAFKA;
	}
	return 0;
}

int router_produce_copy(struct router *rt, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
			size_t key_len, const uint8_t *value, size_t len, int64_t timestamp_ms)
{
	/* librdkafka copies the value into the message it allocates anyway:
	 * the caller's buffer is reused for the next one. */
	rd_kafka_resp_err_t err = rd_kafka_producev(rt->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
						    RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
						    RD_KAFKA_V_TIMESTAMP(timestamp_ms),
						    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		tids_log_warnx("router: produce to %s: %s", rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
		return TIDS_EKAFKA;
	}
	return 0;
}

int router_produce(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		   uint8_t *value, size_t len)
{
	return produce(rt, topic, partition, key, key_len, value, len, NULL, 0);
}

int router_produce_h(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		     uint8_t *value, size_t len, rd_kafka_headers_t *headers)
{
	return produce(rt, topic, partition, key, key_len, value, len, headers, 0);
}

int router_produce_at(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		      uint8_t *value, size_t len, int64_t timestamp_ms)
{
	return produce(rt, topic, partition, key, key_len, value, len, NULL, timestamp_ms);
}

static void drain_producer_events(struct router *rt)
{
	rd_kafka_event_t *ev;

	for (int i = 0; i < TXN_SLOTS; i++)
		while (rt->slot[i].pq != NULL && (ev = rd_kafka_queue_poll(rt->slot[i].pq, 0)) != NULL) {
			kafka_log_event(NULL, ev);
			rd_kafka_event_destroy(ev);
		}
}

static bool producer_fatal(struct router *rt)
{
	for (int i = 0; i < TXN_SLOTS; i++)
		if (rt->slot[i].producer != NULL &&
		    rd_kafka_fatal_error(rt->slot[i].producer, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
			return true;
	return false;
}

static void discard_batch(struct router *rt)
{
	for (size_t i = 0; i < rt->n_batch; i++)
		rd_kafka_message_destroy(rt->batch[i]);
	rt->n_batch = 0;
}

/* Drops what the batch holds of partitions this router no longer owns:
 * their next owner reads them again from their positions. The rest
 * stays (the consumer has moved past it). */
static void keep_owned(struct router *rt)
{
	size_t kept = 0;

	for (size_t i = 0; i < rt->n_batch; i++) {
		rd_kafka_message_t *m = rt->batch[i];

		if (m->partition >= 0 && m->partition < ROUTER_PARTITIONS_MAX && rt->owned[m->partition])
			rt->batch[kept++] = m;
		else
			rd_kafka_message_destroy(m);
	}
	rt->n_batch = kept;
}

static void describe(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < parts->cnt && n + 16 < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%d", i > 0 ? " " : "", (int)parts->elems[i].partition);
}

/* How long a partition that comes waits for its last owner's transaction
 * to end: its transaction.timeout.ms (10 s, producer_conf), then the
 * coordinator's sweep for timed-out transactions (every 10 s by default),
 * with room to spare. */
#define PENDING_WAIT_MS 60000

/* The other half of the fencing (KIP-447). The last owner of a partition
 * that comes may have had its positions accepted into a transaction
 * (send_offsets_to_transaction) and then stalled before committing it:
 * stopped, swapped out, cut off. Its group generation was valid when the
 * positions went in, so nothing stops that transaction from committing
 * when it wakes, with chain entries and state for records this router is
 * about to route again. The group coordinator holds such positions as
 * pending; asking for them with require_stable (librdkafka does, for a
 * read_committed consumer) answers UNSTABLE_OFFSET_COMMIT until the
 * transaction has committed or been aborted. After that the state topic
 * (state_load) shows all it did.
 *
 * On success, parts carry the group's positions, or
 * RD_KAFKA_OFFSET_BEGINNING where the group has none: an assignment at an
 * explicit offset asks librdkafka for no lookup of its own, a lookup it
 * never repeats when the request fails (see committed.h). */
static int wait_pending_positions(struct router *rt, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
	int64_t t0 = mono_ms(), said = t0;
	int r = -1;

	while (!rt->stop) {
		int64_t left = t0 + PENDING_WAIT_MS - mono_ms();
		rd_kafka_resp_err_t e = left > 0 ? rd_kafka_committed(rk, q, (int)left) : RD_KAFKA_RESP_ERR__TIMED_OUT;
		int unstable = 0;

		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			tids_log_warnx("router: the group's positions could not be read: %s", rd_kafka_err2str(e));
			break;
		}
		for (int i = 0; i < q->cnt; i++)
			if (q->elems[i].err == RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT)
				unstable++;
		if (unstable == 0) {
			for (int i = 0; i < q->cnt && i < parts->cnt; i++)
				parts->elems[i].offset = q->elems[i].offset >= 0 ? q->elems[i].offset
										 : RD_KAFKA_OFFSET_BEGINNING;
			r = 0;
			break;
		}
		if (mono_ms() - said >= 5000) {
			tids_log_info("router: waiting for the last owner's transaction on %d partitions to end", unstable);
			said = mono_ms();
		}
		poll(NULL, 0, 100);
	}
	rd_kafka_topic_partition_list_destroy(q);
	return r;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct router *rt = opaque;
	bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
	char list[512], holding[512];
	int held = 0;

	/* Runs in the router thread, inside rd_kafka_consumer_poll, between
	 * transactions. Those handed to the committer finish first, so that
	 * no transaction commits a position of a partition once it has gone
	 * (a failure shows at the next transaction). A half-collected batch
	 * loses the records of partitions that go (their next owner reads
	 * them again from the position in the state topic) and keeps the
	 * rest (the consumer has moved past them). */
	(void)txn_wait_idle(rt);
	if (!cooperative)
		memset(rt->owned, 0, sizeof(rt->owned));
	for (int i = 0; i < parts->cnt; i++) {
		int32_t p = parts->elems[i].partition;

		if (p >= 0 && p < ROUTER_PARTITIONS_MAX)
			rt->owned[p] = assign;
	}
	keep_owned(rt);
	describe(parts, list, sizeof(list));
	/* Partitions that go stop being fetched before anything else. */
	if (!assign && cooperative) {
		rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);

		if (e != NULL) {
			tids_log_warnx("router: partitions %s not unassigned: %s", list, rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
	} else if (!assign) {
		rd_kafka_assign(rk, NULL);
	}
	/* Each partition's chain, windows, counters and position come from
	 * the state topic: those that come bring theirs, those that go take
	 * theirs along (read again for those that stay). A partition that
	 * comes is fetched from its position, read before it is assigned. */
	if ((assign && wait_pending_positions(rt, rk, parts) != 0) || state_load(rt) != 0) {
		rt->load_failed = true;
		if (assign) {
			for (int i = 0; i < parts->cnt; i++) {
				int32_t p = parts->elems[i].partition;

				if (p >= 0 && p < ROUTER_PARTITIONS_MAX)
					rt->owned[p] = false;
			}
			keep_owned(rt);
		}
	} else if (assign) {
		for (int i = 0; i < parts->cnt; i++) {
			int32_t p = parts->elems[i].partition;

			if (p >= 0 && p < ROUTER_PARTITIONS_MAX && rt->next_offset[p] >= 0)
				parts->elems[i].offset = rt->next_offset[p];
		}
	}
	if (assign && cooperative) {
		/* After a failed load nothing is assigned; the router starts
		 * over (run() sees load_failed). */
		rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(0);
		rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, rt->load_failed ? none : parts);

		if (e != NULL) {
			tids_log_warnx("router: partitions %s not assigned: %s", list, rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
		rd_kafka_topic_partition_list_destroy(none);
	} else if (assign) {
		rd_kafka_assign(rk, rt->load_failed ? NULL : parts);
	}
	{
		size_t n = 0;

		holding[0] = '\0';
		for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++)
			if (rt->owned[p] && n + 16 < sizeof(holding))
				n += (size_t)snprintf(holding + n, sizeof(holding) - n, "%s%d", held++ > 0 ? " " : "", (int)p);
	}
	rt->assigned = held > 0;
	atomic_store_explicit(&rt->metrics->router_partitions, held, memory_order_relaxed);
	tids_log_info("router: ingress partitions %s: %s; holds %d: %s",
		      assign ? "assigned" : rd_kafka_assignment_lost(rk) ? "lost" : "revoked", list, held, holding);
}

static rd_kafka_conf_t *conf_dup(struct router *rt, rd_kafka_type_t type)
{
	return rd_kafka_conf_dup(type == RD_KAFKA_CONSUMER ? rt->conf_consumer : rt->conf_producer);
}

/* A transactional producer's configuration (txn_open). */
static rd_kafka_conf_t *producer_conf(struct router *rt, const char *id)
{
	rd_kafka_conf_t *conf = conf_dup(rt, RD_KAFKA_PRODUCER);
	char err[512];

	/* retry.backoff.ms: a transaction's offsets and its end can still
	 * meet the coordinator finishing an earlier one (CONCURRENT_
	 * TRANSACTIONS); the default 100 ms pause would be most of a record's
	 * latency. (Its first write's pause is fixed at 20 ms: see txn.c.) */
	if (rd_kafka_conf_set(conf, "transactional.id", id, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    /* A transaction of an instance that died holds its partitions
	     * back from the others (state_load waits for it) until this has
	     * passed. */
	    rd_kafka_conf_set(conf, "transaction.timeout.ms", "10000", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "linger.ms", "1", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "retry.backoff.ms", "5", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "client.id", id, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		tids_log_warnx("router: %s", err);
		return NULL;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG);
	return conf;
}

static int setup(struct router *rt)
{
	char err[512], session_timeout[32];
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *topics;

	if (txn_open(rt, producer_conf) != 0)
		return -1;
	if (state_load(rt) != 0)
		return -1;

	conf = conf_dup(rt, RD_KAFKA_CONSUMER);
	/* Static membership: a router that restarts (after a crash too) takes
	 * its partitions back at once instead of waiting for its old self's
	 * session to expire; one that is gone for longer than the session
	 * timeout has its partitions taken over by the other instances. */
	snprintf(session_timeout, sizeof(session_timeout), "%lld", (long long)rt->session_timeout_ms);
	if (rd_kafka_conf_set(conf, "group.instance.id", rt->instance_id, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "session.timeout.ms", session_timeout, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "group.id", rt->group_id, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "5", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    kafka_conf_read_ahead(conf, &rt->read_ahead, rt->prefetch, &rt->metrics->fetch_wakes[MR_ROUTER], err,
				  sizeof(err)) != 0 ||
	    rd_kafka_conf_set(conf, "client.id", rt->group_id, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		tids_log_warnx("router: %s", err);
		return -1;
	}
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	rd_kafka_conf_set_opaque(conf, rt);
	rt->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rt->consumer == NULL) {
		rd_kafka_conf_destroy(conf);
		tids_log_warnx("router: %s", err);
		return -1;
	}
	rd_kafka_set_log_queue(rt->consumer, NULL);
	kafka_read_ahead_start(&rt->read_ahead, rt->consumer);
	rt->cq = rd_kafka_queue_get_consumer(rt->consumer);
	if (pipe2(rt->cq_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	rd_kafka_queue_io_event_enable(rt->cq, rt->cq_pipe[1], "1", 1);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, rt->t_ingress, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(rt->consumer, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_topic_partition_list_destroy(topics);
		return -1;
	}
	rd_kafka_topic_partition_list_destroy(topics);
	tids_log_info("router: consuming %s", rt->t_ingress);
	return 0;
}

static void teardown(struct router *rt)
{
	/* The committer asks the consumer for the group's metadata. */
	(void)txn_wait_idle(rt);
	discard_batch(rt);
	rt->assigned = false;
	memset(rt->owned, 0, sizeof(rt->owned));
	atomic_store_explicit(&rt->metrics->router_partitions, -1, memory_order_relaxed);
	atomic_store_explicit(&rt->metrics->router_lag, -1, memory_order_relaxed);
	if (rt->consumer != NULL) {
		rd_kafka_queue_io_event_enable(rt->cq, -1, NULL, 0);
		rd_kafka_queue_destroy(rt->cq);
		/* Only at a stop or after a fault of the consumer itself: a
		 * failed transaction keeps it (recover). In the librdkafka
		 * this runs on (Debian's 2.0.2) a close or destroy that meets
		 * a cooperative rebalance under way can wait for ever
		 * (librdkafka issues 4041, 4527). */
		rd_kafka_consumer_close(rt->consumer);
		rd_kafka_destroy(rt->consumer);
		close(rt->cq_pipe[0]);
		close(rt->cq_pipe[1]);
		rt->consumer = NULL;
		rt->read_ahead.rk = NULL;
	}
	txn_close(rt);
}

/* One transaction: the batch, due checkpoints and windows, the state they
 * change, and the offsets consumed, produced in the current producer and
 * handed to the committer (txn.c). The caller checked txn_ready. On
 * failure, *code says why: Kafka's code, or RD_KAFKA_RESP_ERR__FAIL when
 * the batch itself could not be written (routing it again at once would
 * fail again). */
static int transact(struct router *rt, rd_kafka_resp_err_t *code)
{
	rd_kafka_topic_partition_list_t *offsets = NULL;
	rd_kafka_error_t *e;
	int64_t now = now_ms();
	size_t records = rt->n_batch;
	int r = 0;

	e = txn_begin(rt);
	if (e != NULL)
		goto fail;
	for (size_t i = 0; i < rt->n_batch && r == 0; i++)
		r = route_message(rt, rt->batch[i]);
	/* Windows close only where their records are routed: a router without
	 * partitions (joining, or after a crash) could close one early. */
	if (r == 0 && rt->assigned)
		r = aggregate_emit_due(rt, now);
	if (r == 0)
		r = rt->stop ? audit_checkpoints_all(rt) : audit_checkpoints_due(rt, now);
	if (r == 0)
		r = audit_flush_all(rt);
	/* Where routing resumes goes into the state topic with the rest, in
	 * the same transaction as what was routed. */
	for (size_t i = 0; r == 0 && i < rt->n_batch; i++) {
		const rd_kafka_message_t *m = rt->batch[i];

		if (m->offset + 1 > rt->next_offset[m->partition]) {
			rt->next_offset[m->partition] = m->offset + 1;
			rt->next_dirty[m->partition] = true;
		}
	}
	/* And to the consumer group (txn.c): every partition held, so that
	 * a transaction that closes windows or writes checkpoints only is
	 * fenced as well. */
	for (int32_t p = 0; r == 0 && p < ROUTER_PARTITIONS_MAX; p++) {
		if (!rt->owned[p] || rt->next_offset[p] < 0)
			continue;
		if (offsets == NULL)
			offsets = rd_kafka_topic_partition_list_new(4);
		rd_kafka_topic_partition_list_add(offsets, rt->t_ingress, p)->offset = rt->next_offset[p];
	}
	if (r == 0)
		r = state_write_dirty(rt);
	if (r == 0)
		r = receipts_release(rt);
	if (r != 0) {
		if (offsets != NULL)
			rd_kafka_topic_partition_list_destroy(offsets);
		goto abort;
	}
	/* Its counts go with it: the committer adds them to the metrics
	 * when (and only if) it commits. */
	rt->stage.records = rt->n_batch;
	discard_batch(rt);
	txn_hand_off(rt, records, offsets);
	return 0;
fail:
	metrics_stage_discard(&rt->stage);
	metrics_add(&rt->metrics->transaction_failures, 1);
	audit_discard_all(rt);
	receipts_discard(rt);
	/* The cause is often in the producer's own log (a message too large,
	 * a fenced id): say it before the generic error. */
	drain_producer_events(rt);
	tids_log_warnx("router: transaction failed: %s; resuming from the last committed state",
		       rd_kafka_error_string(e));
	*code = rd_kafka_error_code(e);
	rd_kafka_error_destroy(e);
	return -1;
abort:
	metrics_stage_discard(&rt->stage);
	metrics_add(&rt->metrics->transaction_failures, 1);
	audit_discard_all(rt);
	receipts_discard(rt);
	tids_log_warnx("router: could not write deliveries or audit entries; nothing of this batch is routed");
	txn_abort(rt);
	*code = RD_KAFKA_RESP_ERR__FAIL;
	return -1;
}

/* A commit failed in the committer: say why, and start over. */
static int commit_failed(struct router *rt, rd_kafka_resp_err_t *code)
{
	char why[256];

	if (!txn_failed(rt, why, sizeof(why), code))
		return 0;
	drain_producer_events(rt);
	tids_log_warnx("router: transaction failed: %s; resuming from the last committed state", why);
	return -1;
}

/* After a transaction the group fenced (a rebalance under way): what
 * it and the one behind it did is undone, their producers go and
 * init_transactions (txn_open) aborts whatever they left open; the state
 * of the partitions held is read again from the state topic; the consumer
 * goes back to where that state says routing resumes. The consumer itself
 * stays in the group, so that a fenced transaction costs no rebalance of
 * its own, and because closing it while the group rebalances can hang in
 * the librdkafka this runs on (see teardown): seen here as a router that
 * never started again after a fenced transaction. Partitions the group has
 * moved elsewhere meanwhile go through on_rebalance as usual. */
static int recover(struct router *rt, rd_kafka_resp_err_t code)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_error_t *e;

	/* Only a transaction the group fenced: any other failure (a broker
	 * gone, a timeout, a batch that could not be written) starts the
	 * router over, as it always has, with a consumer made anew. */
	switch (code) {
	case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
	case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
	case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
	case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
		break;
	default:
		return -1;
	}
	/* No pause between two in a row is needed: each costs the round
	 * trips of init_transactions and a read of the state topic. */
	discard_batch(rt);
	txn_close(rt);
	if (txn_open(rt, producer_conf) != 0 || state_load(rt) != 0)
		return -1;
	parts = rd_kafka_topic_partition_list_new(8);
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++)
		if (rt->owned[p])
			/* No position: nothing of p was ever committed by anyone. */
			rd_kafka_topic_partition_list_add(parts, rt->t_ingress, p)->offset =
				rt->next_offset[p] >= 0 ? rt->next_offset[p] : RD_KAFKA_OFFSET_BEGINNING;
	/* Asynchronous: the seek puts a barrier in each partition's queue at
	 * once, so nothing fetched before it is returned after it (and
	 * librdkafka 2.0.2 shortens a synchronous seek's timeout a
	 * thousandfold). */
	e = parts->cnt > 0 ? rd_kafka_seek_partitions(rt->consumer, parts, 0) : NULL;
	if (e != NULL) {
		tids_log_warnx("router: could not go back to the committed positions: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		rd_kafka_topic_partition_list_destroy(parts);
		return -1;
	}
	tids_log_info("router: resumed from the committed state of the %d partitions it holds", parts->cnt);
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}

/* Ingress records on our partitions not consumed yet, from what the
 * consumer knows (no broker round trip): the high watermark of the last
 * fetch less our position. Once a second. */
static void update_lag(struct router *rt)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	long lag = 0;

	if (rd_kafka_assignment(rt->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (rd_kafka_position(rt->consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (int i = 0; i < parts->cnt; i++) {
			rd_kafka_topic_partition_t *tp = &parts->elems[i];
			int64_t lo, hi;

			if (rd_kafka_get_watermark_offsets(rt->consumer, tp->topic, tp->partition, &lo, &hi) !=
			    RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0) {
				lag = -1;
				break;
			}
			if (tp->offset >= 0 && hi > tp->offset)
				lag += (long)(hi - tp->offset);
		}
	}
	rd_kafka_topic_partition_list_destroy(parts);
	atomic_store_explicit(&rt->metrics->router_lag, lag, memory_order_relaxed);
}

static int64_t batch_deadline_wait(struct router *rt)
{
	int64_t now = mono_ms();

	if (rt->n_batch == 0)
		return 1000 - (now - rt->last_maintenance) > 0 ? 1000 - (now - rt->last_maintenance) : 0;
	return rt->batch_started + ROUTER_BATCH_MS > now ? rt->batch_started + ROUTER_BATCH_MS - now : 0;
}

static int run(struct router *rt)
{
	rd_kafka_resp_err_t code;
	char buf[64];
	bool drained = false;

	rt->last_maintenance = mono_ms();
	while (!rt->stop) {
		struct pollfd fds[3] = { { rt->cq_pipe[0], POLLIN, 0 }, { rt->inbox_fd, POLLIN, 0 },
					 { rt->commit_fd, POLLIN, 0 } };
		bool full = rt->n_batch == ROUTER_BATCH_MAX;
		int64_t wait = batch_deadline_wait(rt);

		/* A batch that is due but has no producer free waits for the
		 * committer (which wakes us), taking in records meanwhile. */
		if (rt->n_batch > 0 && (full || drained || wait == 0) && !txn_ready(rt))
			wait = 1000;
		/* Sleep only once the consumer's queue is empty (or the batch
		 * full): librdkafka signals the pipe when the queue becomes
		 * non-empty, not while it stays so. */
		if ((drained || full) && poll(fds, 3, (int)wait) < 0 && errno != EINTR)
			return -1;
		while (read(rt->cq_pipe[0], buf, sizeof(buf)) > 0)
			;
		while (read(rt->commit_fd, buf, sizeof(buf)) > 0)
			;
		/* Registry changes (a directory, a registration) before the
		 * next batch, also while the consumer keeps it too busy to sleep. */
		drain_inbox(rt);
		drain_producer_events(rt);
		if (producer_fatal(rt))
			return -1;
		if (commit_failed(rt, &code) != 0 && recover(rt, code) != 0)
			return -1;
		/* Take what the consumer has, up to a batch. */
		drained = false;
		while (rt->n_batch < ROUTER_BATCH_MAX) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(rt->consumer, 0);

			if (m == NULL) {
				drained = true;
				kafka_ran_dry(&rt->read_ahead);
				break;
			}
			kafka_took(&rt->read_ahead, m);
			if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;

				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					tids_log_warnx("router: %s", rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				/* E.g. fenced after a broker restart: this consumer
				 * is done; start over from what Kafka committed. */
				if (fatal)
					return -1;
				continue;
			}
			/* Only what this instance holds (a partition that went
			 * may still have had a fetch under way). */
			if (m->partition < 0 || m->partition >= ROUTER_PARTITIONS_MAX || !rt->owned[m->partition]) {
				rd_kafka_message_destroy(m);
				continue;
			}
			if (rt->n_batch == 0)
				rt->batch_started = mono_ms();
			rt->batch[rt->n_batch++] = m;
		}
		if (rt->load_failed) {
			rt->load_failed = false;
			commit_failed(rt, &code);
			tids_log_warnx("router: the state topic could not be read at an assignment; starting over");
			return -1;
		}
		if (rt->policy == NULL) {
			drained = true;
			continue;
		}
		/* A batch goes when it is full, when its time is up, or when the
		 * queue ran dry (waiting longer would only add latency), and a
		 * producer is free: while the last commit runs, it grows. */
		if (((rt->n_batch > 0 && (rt->n_batch == ROUTER_BATCH_MAX || drained || batch_deadline_wait(rt) == 0)) ||
		     mono_ms() - rt->last_maintenance >= 1000) && txn_ready(rt)) {
			if (mono_ms() - rt->last_maintenance >= 1000) {
				rt->last_maintenance = mono_ms();
				update_lag(rt);
			}
			if (transact(rt, &code) != 0 && recover(rt, code) != 0)
				return -1;
		}
	}
	return 0;
}

/* Stopping: the commits in flight, then the heads of the chains signed,
 * so that a stopped hub leaves no entry without a checkpoint. */
static void finish(struct router *rt)
{
	rd_kafka_resp_err_t code;

	if (txn_wait_idle(rt) != 0) {
		commit_failed(rt, &code);
		return;
	}
	if (rt->policy != NULL && (transact(rt, &code) != 0 || txn_wait_idle(rt) != 0)) {
		commit_failed(rt, &code);
		tids_log_warnx("router: the last checkpoints could not be written");
	}
}

static void *router_main(void *arg)
{
	struct router *rt = arg;
	int backoff = 500;

	pthread_setname_np(pthread_self(), "tidsd-router");
	while (!rt->stop) {
		int64_t started = mono_ms();

		if (setup(rt) == 0 && run(rt) == 0) {
			finish(rt);
			teardown(rt);
			break;
		}
		teardown(rt);
		if (rt->stop)
			break;
		/* The back-off is for failures in a row: one after a long
		 * healthy run (a rebalance that fenced a transaction) starts
		 * over at once. */
		if (mono_ms() - started > 60000)
			backoff = 500;
		tids_log_warnx("router: restarting in %d ms", backoff);
		{
			struct pollfd pfd = { rt->inbox_fd, POLLIN, 0 };
			int64_t until = mono_ms() + backoff;

			/* Keep applying registry changes while we wait. */
			while (!rt->stop && mono_ms() < until) {
				if (poll(&pfd, 1, (int)(until - mono_ms())) > 0)
					drain_inbox(rt);
			}
		}
		backoff = backoff < 8000 ? backoff * 2 : 10000;
	}
	return NULL;
}

/* --- the main loop's side ---------------------------------------------------- */

int router_new(struct tidsd *d)
{
	struct router *rt = calloc(1, sizeof(*rt));

	if (rt == NULL)
		return TIDS_ENOMEM;
	rt->facts = tids_policy_facts_new();
	if (rt->facts == NULL) {
		free(rt);
		return TIDS_ENOMEM;
	}
	/* Grants arrive, with their keys, while the registry loads. */
	rt->key_pool = tids_secmem_pool_new(TIDS_SEAL_KEY_BYTES);
	rt->keys = tids_secmem_alloc(sizeof(*rt->keys));
	if (rt->key_pool == NULL || rt->keys == NULL) {
		tids_secmem_pool_free(rt->key_pool);
		tids_secmem_free(rt->keys);
		tids_policy_facts_free(rt->facts);
		free(rt);
		return TIDS_ENOMEM;
	}
	rt->hub = &d->hub;
	pthread_mutex_init(&rt->lock, NULL);
	rt->inbox_tail = &rt->inbox;
	rt->inbox_fd = -1;
	rt->commit_fd = -1;
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++)
		rt->next_offset[p] = -1;
	rt->tz = d->tz;
	rt->metrics = d->metrics;
	/* Peers arrive while the registry loads, too. */
	kafka_topic_name(d, KT_OUTBOUND, "", rt->t_out_prefix, sizeof(rt->t_out_prefix));
	snprintf(rt->hub_id, sizeof(rt->hub_id), "%s", d->conf->hub_id);
	/* This hub keeps every hub's statistics: a recipient of them. */
	put_hub(rt, d->conf->hub_id, d->conf->jurisdiction, "");
	d->router = rt;
	return 0;
}

int router_init(struct tidsd *d)
{
	struct router *rt = d->router;
	char err[512];
	int rc;

	/* Derived from the hub data key, which the hub state brought. */
	memcpy(rt->keys->ingress, keys_ingress(d), TIDS_SEAL_KEY_BYTES);
	memcpy(rt->keys->delivery, keys_delivery(d), TIDS_SEAL_KEY_BYTES);
	memcpy(rt->keys->state_mac, keys_state_mac(d), TIDS_SEAL_KEY_BYTES);
	rt->conf_producer = kafka_conf(d, RD_KAFKA_PRODUCER, err, sizeof(err));
	rt->conf_consumer = rt->conf_producer != NULL ? kafka_conf(d, RD_KAFKA_CONSUMER, err, sizeof(err)) : NULL;
	if (rt->conf_consumer == NULL) {
		tids_log_warnx("router: %s", err);
		return TIDS_EKAFKA;
	}
	snprintf(rt->hub_id, sizeof(rt->hub_id), "%s", d->conf->hub_id);
	kafka_topic_name(d, KT_INGRESS, NULL, rt->t_ingress, sizeof(rt->t_ingress));
	kafka_topic_name(d, KT_AUDIT, NULL, rt->t_audit, sizeof(rt->t_audit));
	kafka_topic_name(d, KT_STATE, NULL, rt->t_state, sizeof(rt->t_state));
	kafka_topic_name(d, KT_DELIVER, "", rt->t_deliver_prefix, sizeof(rt->t_deliver_prefix));
	kafka_group_name(d, KG_ROUTER, NULL, rt->group_id, sizeof(rt->group_id));
	/* Transactional ids and a static member id of this instance of the
	 * hub: the same instance restarted fences its former self (a
	 * transaction it left open is aborted) and takes its partitions back.
	 * The two producers' ids differ in the part before the instance name,
	 * so no instance's (names may hold dots) is another's. Instances
	 * fence each other by position, not by id: a partition changes hands
	 * only after its owner's transactions have finished (on_rebalance),
	 * and its next owner reads its state topic partition to the end,
	 * open transactions included (state_load). */
	for (int i = 0; i < TXN_SLOTS; i++) {
		char slot[16] = "";

		if (i > 0)
			snprintf(slot, sizeof(slot), "%d", i);
		snprintf(rt->txn_ids[i], sizeof(rt->txn_ids[i]), "%s.txn%s.%s", rt->group_id, slot, d->conf->instance);
	}
	snprintf(rt->instance_id, sizeof(rt->instance_id), "%s.%s", rt->group_id, d->conf->instance);
	rt->session_timeout_ms = d->conf->router_session_timeout_ms;
	rt->prefetch = d->conf->router_prefetch;
	{
		int n = kafka_topic_partitions(d, KT_STATE, err, sizeof(err));
		int want = kafka_topic_partitions(d, KT_INGRESS, err, sizeof(err));

		/* The state of ingress partition p is in state partition p. */
		if (n < 0 || want < 0 || n != want) {
			tids_log_warnx("router: %s has %d partitions, %s %d: the state of each ingress partition "
				       "lives in the state partition of its number (a state topic made by tidsd 0.1, "
				       "for one router per hub, has one); %s", rt->t_state, n, rt->t_ingress, want,
				       n < 0 || want < 0 ? err : "give it as many partitions");
			return TIDS_EKAFKA;
		}
	}
	rt->checkpoint_entries = d->conf->checkpoint_entries;
	rt->checkpoint_ms = d->conf->checkpoint_interval_ms;
	rt->inbox_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->inbox_fd < 0 || txn_init(rt) != 0)
		return TIDS_EIO;
	rc = pthread_create(&rt->thread, NULL, router_main, rt);
	if (rc != 0) {
		tids_log_warnx("router: thread: %s", strerror(rc));
		return TIDS_EIO;
	}
	rt->started = true;
	return 0;
}

void router_tick(struct tidsd *d)
{
	static int64_t last;
	struct router *rt = d->router;
	int64_t now = mono_ms();

	if (rt == NULL || now - last < 10000)
		return;
	last = now;
	sd_status("serving %zu sessions; routed %lu records, %lu deliveries, %lu denials",
		  session_count(d), (unsigned long)rt->records, (unsigned long)rt->deliveries,
		  (unsigned long)rt->denials);
}

void router_free(struct tidsd *d)
{
	struct router *rt = d->router;
	uint64_t one = 1;
	size_t pos;
	void *v;

	if (rt == NULL)
		return;
	if (rt->started) {
		rt->stop = 1;
		if (write(rt->inbox_fd, &one, sizeof(one)) < 0)
			tids_log_warn("router: wake");
		pthread_join(rt->thread, NULL);
		tids_log_info("router: %lu records routed in %lu transactions: %lu decisions, %lu deliveries, "
			      "%lu denials, %lu copies of republished batches dropped, %lu unreadable records skipped; "
			      "%lu forwarded to peer hubs, %lu imported from them",
			      (unsigned long)rt->records, (unsigned long)rt->transactions, (unsigned long)rt->decisions,
			      (unsigned long)rt->deliveries, (unsigned long)rt->denials,
			      (unsigned long)rt->duplicates, (unsigned long)rt->skipped, (unsigned long)rt->exported,
			      (unsigned long)rt->imported);
		txn_log_stats(rt);
	}
	txn_free(rt);
	while (rt->inbox != NULL) {
		struct router_msg *m = rt->inbox;

		rt->inbox = m->next;
		tids_policy_set_free(m->policy);
		sodium_memzero(m->key, sizeof(m->key));
		free(m);
	}
	if (rt->inbox_fd >= 0)
		close(rt->inbox_fd);
	if (rt->conf_producer != NULL)
		rd_kafka_conf_destroy(rt->conf_producer);
	if (rt->conf_consumer != NULL)
		rd_kafka_conf_destroy(rt->conf_consumer);
	for (pos = 0; (v = tids_map_next(&rt->participants, &pos)) != NULL;)
		free_participant(v);
	for (pos = 0; (v = tids_map_next(&rt->assets, &pos)) != NULL;)
		free_asset(v);
	for (pos = 0; (v = tids_map_next(&rt->grant_keys, &pos)) != NULL;)
		free_grant_key(rt, v);
	for (pos = 0; (v = tids_map_next(&rt->subscribers, &pos)) != NULL;)
		free(v);
	for (pos = 0; (v = tids_map_next(&rt->peers, &pos)) != NULL;)
		free(v);
	tids_map_free(&rt->peers);
	tids_map_free(&rt->participants);
	tids_map_free(&rt->assets);
	tids_map_free(&rt->grant_keys);
	tids_map_free(&rt->subscribers);
	state_clear(rt);
	aggregate_clear(rt);
	audit_discard_all(rt);
	receipts_free(rt);
	for (int32_t p = 0; p < ROUTER_PARTITIONS_MAX; p++)
		tids_buf_free(&rt->audit_pending[p].msg);
	route_dests_clear(rt);
	tids_buf_free(&rt->record_bytes);
	tids_buf_free(&rt->scratch);
	tids_buf_free(&rt->sealed);
	tids_buf_free(&rt->opened);
	tids_policy_set_free(rt->policy);
	tids_policy_facts_free(rt->facts);
	tids_secmem_pool_free(rt->key_pool);
	tids_secmem_free(rt->keys);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
	d->router = NULL;
}
