/*
 * Routing one ingress record: open it (unseal, gate), ask the policy engine
 * for every candidate recipient and purpose, apply the obligations, produce
 * the deliveries (sealed when the tier demands it) and one audit entry per
 * decision. Runs in the router thread, inside the batch's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "router.h"
#include "tids/error.h"

/* What a decision removed, by field name, for the delivery's obligations. */
struct removed_names {
	const char *items[TIDS_FIELDS_MAX];
	size_t n;
};

static void to_wire_obligations(const struct tids_policy_decision *dec, const struct tids_record *rec,
				struct removed_names *removed, struct tids_obligations *o)
{
	const struct tids_policy_obligations *po = &dec->obligations;

	memset(o, 0, sizeof(*o));
	removed->n = 0;
	for (size_t i = 0; i < rec->n_fields; i++)
		if (tids_policy_field_removed(po, i))
			removed->items[removed->n++] = rec->fields[i].name;
	o->retain_until_ms = po->retain_until_ms;
	o->notify = (struct tids_strlist){ po->notify, po->n_notify };
	o->no_onward_transfer = po->no_onward_transfer;
	o->encrypt = po->encrypt;
	o->redacted = (struct tids_strlist){ removed->items, removed->n };
	if (po->aggregate) {
		o->aggregate.function = po->aggregation.function;
		o->aggregate.field = po->aggregation.field;
		o->aggregate.window_ms = po->aggregation.window_ms;
		o->aggregate.by = (struct tids_strlist){ po->aggregation.by, po->aggregation.n_by };
	}
	if (po->purposes_restricted)
		o->purposes = (struct tids_strlist){ po->purposes, po->n_purposes };
	o->duties = (struct tids_strlist){ po->duties, po->n_duties };
}

int route_produce_delivery(struct router *rt, const char *recipient, const struct tids_delivery *del,
			   const char *grant_id, uint8_t hash[TIDS_HASH_BYTES])
{
	struct tids_delivery_envelope env = { 0 };
	const struct grant_key *gk = NULL;
	char topic[512], sealed_by[TIDS_ID_MAX + 8] = "";
	uint8_t *plain, *sealed = NULL, *value;
	size_t plen, vlen;
	int r;

	if ((r = tids_wire_encode_delivery(del, &plain, &plen)) != 0)
		return r;
	crypto_generichash(hash, TIDS_HASH_BYTES, plain, plen, NULL, 0);
	env.delivery = (struct tids_bytes){ plain, plen };
	memcpy(env.record_id, del->record.record_id, TIDS_RECORD_ID_BYTES);
	/* Kafka never holds important or core data in the clear: a grant's
	 * deliveries under the grant's key (shredded with it), others under the
	 * hub data key. */
	if (tids_record_effective_tier(&del->record) >= TIDS_TIER_IMPORTANT || del->obligations.encrypt) {
		const uint8_t *key = rt->data_key;

		if (grant_id != NULL && *grant_id != '\0') {
			gk = tids_map_get_str(&rt->grant_keys, grant_id);
			if (gk == NULL) {
				sodium_memzero(plain, plen);
				free(plain);
				return TIDS_ECRYPTO;
			}
			key = gk->key;
			snprintf(sealed_by, sizeof(sealed_by), "grant:%s", grant_id);
		} else {
			snprintf(sealed_by, sizeof(sealed_by), "hub");
		}
		sealed = malloc(plen + TIDS_SEAL_OVERHEAD);
		if (sealed == NULL) {
			free(plain);
			return TIDS_ENOMEM;
		}
		tids_seal(key, env.record_id, TIDS_RECORD_ID_BYTES, plain, plen, sealed);
		env.delivery = (struct tids_bytes){ sealed, plen + TIDS_SEAL_OVERHEAD };
	}
	env.sealed_by = sealed_by;
	r = tids_wire_encode_delivery_envelope(&env, &value, &vlen);
	sodium_memzero(plain, plen);
	free(plain);
	free(sealed);
	if (r != 0)
		return r;
	snprintf(topic, sizeof(topic), "%s%s", rt->t_deliver_prefix, recipient);
	r = router_produce(rt, topic, RD_KAFKA_PARTITION_UA, del->record.record_id, TIDS_RECORD_ID_BYTES, value, vlen);
	if (r == 0)
		rt->deliveries++;
	return r;
}

/* Fills the fields every audit entry of this record shares. */
static void entry_for(struct router *rt, const struct tids_record *rec, const rd_kafka_message_t *m,
		      const char *recipient, const char *purpose, struct tids_audit_entry *e)
{
	const struct tids_participant *p = tids_map_get_str(&rt->participants, recipient);

	memset(e, 0, sizeof(*e));
	e->hub_id = rt->hub_id;
	memcpy(e->record_id, rec->record_id, TIDS_RECORD_ID_BYTES);
	e->owner = rec->owner;
	e->recipient = recipient;
	e->purpose = purpose;
	e->category = rec->category;
	e->origin = rec->origin;
	e->destination = p != NULL ? p->jurisdiction : "";
	e->decided_at_ms = now_ms();
	e->ingress_offset = m->offset;
	e->asset_id = rec->asset_id;
}

/* One notice: the record's header, no fields, to `to`. */
static int notice(struct router *rt, const rd_kafka_message_t *m, const struct tids_record *rec, const char *to,
		  const char *recipient, const char *purpose, const struct tids_policy_decision *dec)
{
	struct tids_delivery n = { 0 };
	struct tids_audit_entry e;
	uint8_t hash[TIDS_HASH_BYTES];
	int r;

	n.record = *rec;
	n.record.fields = NULL;
	n.record.n_fields = 0;
	/* A notice says that data moved, not what it was. */
	n.record.tier = TIDS_TIER_GENERAL;
	n.decision = TIDS_DECISION_ALLOW;
	n.rule_ids = (struct tids_strlist){ dec->rule_ids, dec->n_rules };
	n.purpose = purpose;
	n.decided_at_ms = now_ms();
	n.source_record_id = (struct tids_bytes){ rec->record_id, TIDS_RECORD_ID_BYTES };
	n.notification_for = recipient;
	if ((r = route_produce_delivery(rt, to, &n, NULL, hash)) != 0)
		return r;
	entry_for(rt, rec, m, to, purpose, &e);
	e.decision = TIDS_DECISION_ALLOW;
	e.rule_ids = n.rule_ids;
	e.tier = rec->tier;
	e.reason = "notice of a delivery (notify obligation)";
	e.delivered_hash = (struct tids_bytes){ hash, TIDS_HASH_BYTES };
	return audit_append(rt, m->partition, &e);
}

/* Notices for a notify obligation. A target "role:R" means every
 * participant of this hub with role R (the policies name roles, the
 * registry knows who holds them). */
static int notify(struct router *rt, const rd_kafka_message_t *m, const struct tids_record *rec,
		  const char *recipient, const char *purpose, const struct tids_policy_decision *dec)
{
	for (size_t i = 0; i < dec->obligations.n_notify; i++) {
		const char *to = dec->obligations.notify[i];
		const struct tids_participant *p;
		size_t pos = 0;
		int r;

		if (strncmp(to, "role:", 5) != 0) {
			if (tids_map_get_str(&rt->participants, to) == NULL) {
				tids_log_warnx("router: notify %s: not a registered participant", to);
				continue;
			}
			if ((r = notice(rt, m, rec, to, recipient, purpose, dec)) != 0)
				return r;
			continue;
		}
		while ((p = tids_map_next(&rt->participants, &pos)) != NULL)
			if (strcmp(p->role, to + 5) == 0 && *p->home_hub == '\0' && !p->suspended &&
			    (r = notice(rt, m, rec, p->id, recipient, purpose, dec)) != 0)
				return r;
	}
	return 0;
}

/* Counts what the decision consumed: grant uses, counters. They are kept
 * with the record's partition: ingress is keyed by owner, so a grant's
 * uses and an exporter's counters are all counted where that owner's
 * records are routed, by one instance at a time. */
static void account(struct router *rt, int32_t partition, const struct tids_policy_decision *dec)
{
	char key[sizeof(((struct count *)0)->key)];

	if (dec->grant_id != NULL) {
		snprintf(key, sizeof(key), "uses/%s", dec->grant_id);
		state_count_add(rt, partition, key, 1);
		tids_policy_facts_add_grant_use(rt->facts, dec->grant_id);
	}
	for (size_t i = 0; i < dec->obligations.n_counts; i++) {
		const struct tids_policy_count *c = &dec->obligations.counts[i];

		snprintf(key, sizeof(key), "counter/%s/%s/%lld", c->counter, c->key, (long long)c->period);
		state_count_add(rt, partition, key, c->amount);
		if (tids_policy_facts_add_counter(rt->facts, c->counter, c->key, c->period, c->amount) != 0)
			tids_log_warnx("router: counter %s not updated", c->counter);
	}
}

static int decide_one(struct router *rt, const rd_kafka_message_t *m, const struct tids_record *rec,
		      const char *recipient, const char *purpose)
{
	static struct tids_field fields[TIDS_FIELDS_MAX];
	static struct removed_names removed;
	struct tids_policy_request req = { rec, recipient, purpose, now_ms() };
	struct tids_policy_decision dec;
	struct tids_counter_increment counts[TIDS_AUDIT_COUNTS_MAX];
	struct tids_audit_entry e;
	struct tids_delivery del;
	uint8_t hash[TIDS_HASH_BYTES];
	int r;

	rt->decisions++;
	r = tids_policy_decide(rt->policy, rt->facts, &req, &dec);
	entry_for(rt, rec, m, recipient, purpose, &e);
	e.rule_ids = (struct tids_strlist){ dec.rule_ids, dec.n_rules };
	e.tier = dec.tier != TIDS_TIER_UNSET ? dec.tier : rec->tier;
	e.grant_id = dec.grant_id;
	e.approval_id = dec.approval_id;
	e.case_id = dec.case_id;
	e.reason = dec.because != NULL ? dec.because : "";
	if (r != 0 || dec.verdict == TIDS_POLICY_DENY || dec.verdict == TIDS_POLICY_UNDECIDED) {
		rt->denials++;
		e.decision = TIDS_DECISION_DENY;
		return audit_append(rt, m->partition, &e);
	}
	memset(&del, 0, sizeof(del));
	if ((r = tids_policy_apply(&dec, rec, &del.record, fields, TIDS_FIELDS_MAX)) != 0)
		return r;
	del.decision = dec.verdict == TIDS_POLICY_TRANSFORM ? TIDS_DECISION_TRANSFORM : TIDS_DECISION_ALLOW;
	del.rule_ids = e.rule_ids;
	to_wire_obligations(&dec, rec, &removed, &del.obligations);
	del.grant_id = dec.grant_id;
	del.purpose = purpose;
	del.decided_at_ms = e.decided_at_ms;
	del.source_record_id = (struct tids_bytes){ rec->record_id, TIDS_RECORD_ID_BYTES };
	e.decision = del.decision;
	e.obligations = del.obligations;
	e.tier = del.record.tier;
	/* The ledger keeps what each decision counted, so that it alone can
	 * total the counters (tidsctl audit report). */
	for (size_t i = 0; i < dec.obligations.n_counts && i < TIDS_AUDIT_COUNTS_MAX; i++)
		counts[i] = (struct tids_counter_increment){ dec.obligations.counts[i].counter, dec.obligations.counts[i].key,
							     dec.obligations.counts[i].period, dec.obligations.counts[i].amount };
	e.counts = counts;
	e.n_counts = dec.obligations.n_counts < TIDS_AUDIT_COUNTS_MAX ? dec.obligations.n_counts : TIDS_AUDIT_COUNTS_MAX;
	account(rt, m->partition, &dec);
	if (dec.obligations.aggregate) {
		/* The record joins a window; what leaves is the window's aggregate. */
		if ((r = aggregate_add(rt, m->partition, &del.record, recipient, purpose, &dec)) != 0)
			return r;
		e.reason = "aggregated: delivered as part of a window";
		return audit_append(rt, m->partition, &e);
	}
	if ((r = route_produce_delivery(rt, recipient, &del, dec.grant_id, hash)) != 0) {
		tids_log_warnx("router: delivery to %s not produced: %s", recipient, tids_strerror(r));
		return r;
	}
	e.delivered_hash = (struct tids_bytes){ hash, TIDS_HASH_BYTES };
	if ((r = audit_append(rt, m->partition, &e)) != 0)
		return r;
	return notify(rt, m, rec, recipient, purpose, &dec);
}

/* Opens an ingress message down to the record: envelope, seal, record. */
static int open_record(struct router *rt, const rd_kafka_message_t *m, struct tids_ingress_record *ir,
		       uint8_t **plain, size_t *alloc, struct tids_record *rec, char *err, size_t errlen)
{
	size_t plen;
	int r;

	*plain = NULL;
	*alloc = 0;
	if ((r = tids_wire_decode_ingress_record(m->payload, m->len, ir, err, errlen)) != 0)
		return r;
	if (!ir->sealed)
		return tids_wire_decode_record(ir->record.data, ir->record.len, rec, err, errlen);
	*plain = malloc(ir->record.len);
	if (*plain == NULL)
		return TIDS_ENOMEM;
	*alloc = ir->record.len;
	if (tids_seal_open(rt->data_key, ir->record_id, TIDS_RECORD_ID_BYTES, ir->record.data, ir->record.len,
			   *plain, &plen) != 0)
		return tids_fail(err, errlen, TIDS_ECRYPTO, "sealed record does not open under the hub data key");
	return tids_wire_decode_record(*plain, plen, rec, err, errlen);
}

int route_message(struct router *rt, const rd_kafka_message_t *m)
{
	struct tids_ingress_record ir;
	struct tids_record rec;
	uint8_t *plain = NULL;
	const struct subscriber *sub;
	char err[256];
	size_t pos = 0, plain_len = 0;
	int r = 0;

	if (m->partition < 0 || m->partition >= ROUTER_PARTITIONS_MAX) {
		tids_log_warnx("router: ingress partition %d is beyond %d", (int)m->partition, ROUTER_PARTITIONS_MAX);
		return TIDS_EINVAL;
	}
	memset(&rec, 0, sizeof(rec));
	if (open_record(rt, m, &ir, &plain, &plain_len, &rec, err, sizeof(err)) != 0) {
		/* Ingest wrote it through the same gate: this is damage or
		 * tampering on Kafka. It cannot be routed; say so loudly. */
		tids_log_warnx("router: ingress partition %d offset %lld skipped: %s", (int)m->partition,
			       (long long)m->offset, err);
		rt->skipped++;
		goto out;
	}
	if (!state_first_time(rt, m->partition, ir.publisher, ir.sequence, ir.leaf_index)) {
		/* A batch published again after a lost ack: routed already. */
		rt->duplicates++;
		goto out;
	}
	/* Candidates: every participant with a standing subscription, for
	 * each purpose it receives data for. The policy decides the rest. */
	while (r == 0 && (sub = tids_map_next(&rt->subscribers, &pos)) != NULL)
		for (size_t i = 0; r == 0 && i < sub->n_purposes; i++)
			r = decide_one(rt, m, &rec, sub->id, sub->purposes[i]);
out:
	tids_record_free(&rec);
	tids_ingress_record_free(&ir);
	if (plain != NULL) {
		sodium_memzero(plain, plain_len);
		free(plain);
	}
	return r;
}
