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
#include "tids/statistics.h"
#include "tids/varint.h"

/* --- destinations ------------------------------------------------------------- */

struct dest *route_dest(struct router *rt, const char *recipient)
{
	/* A decision asks for its recipient's twice (its entry, its
	 * delivery): the last one answered is kept. */
	struct dest *d = rt->last_dest != NULL && strcmp(rt->last_dest->id, recipient) == 0 ? rt->last_dest :
			 tids_map_get_str(&rt->dests, recipient);

	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return NULL;
		snprintf(d->id, sizeof(d->id), "%s", recipient);
		snprintf(d->topic, sizeof(d->topic), "%s%s", rt->t_deliver_prefix, recipient);
		d->participants_gen = rt->participants_gen - 1;
		if (tids_map_put_str(&rt->dests, d->id, d, NULL) != 0) {
			free(d);
			return NULL;
		}
	}
	if (d->participants_gen != rt->participants_gen) {
		const struct tids_participant *p = tids_map_get_str(&rt->participants, recipient);

		snprintf(d->jurisdiction, sizeof(d->jurisdiction), "%s", p != NULL ? p->jurisdiction : "");
		d->participants_gen = rt->participants_gen;
	}
	rt->last_dest = d;
	return d;
}

rd_kafka_topic_t *route_dest_topic(struct router *rt, struct dest *d)
{
	/* Each producer has its handles, which go with it (teardown); made
	 * only for a delivery, so that a name never produced to (a recipient
	 * at a peer hub) is never asked for. */
	if (d->rkt[rt->cur] == NULL || d->producer_gen[rt->cur] != rt->slot[rt->cur].gen) {
		d->rkt[rt->cur] = router_topic(rt, d->topic);
		d->producer_gen[rt->cur] = rt->slot[rt->cur].gen;
	}
	return d->rkt[rt->cur];
}

void route_dests_clear(struct router *rt)
{
	size_t pos = 0;
	struct dest *d;

	while ((d = tids_map_next(&rt->dests, &pos)) != NULL)
		free(d);
	tids_map_free(&rt->dests);
	rt->last_dest = NULL;
}

/* --- deliveries ------------------------------------------------------------------- */

/* Room kept before the Delivery for the envelope's key and length. */
#define ENVELOPE_HEAD 11

int route_produce_delivery(struct router *rt, const char *recipient, const struct tids_delivery *del,
			   const char *grant_id, const struct tids_bytes *record_bytes, uint8_t hash[TIDS_HASH_BYTES])
{
	struct tids_buf *b = &rt->scratch, *s = &rt->sealed;
	const struct grant_key *gk = NULL;
	struct dest *d = route_dest(rt, recipient);
	char sealed_by[TIDS_ID_MAX + 8] = "";
	uint8_t ad[TIDS_SEAL_AD_MAX], hdr[ENVELOPE_HEAD];
	const uint8_t *key = NULL, *value;
	size_t plen, vlen, ad_len, n;
	uint8_t *plain;
	int r;

	if (d == NULL)
		return TIDS_ENOMEM;
	/* The Delivery is written once, after room for the envelope's head,
	 * and hashed where it lies. */
	b->off = 0;
	b->len = 0;
	if ((r = tids_buf_reserve(b, ENVELOPE_HEAD)) != 0)
		return r;
	b->len = ENVELOPE_HEAD;
	if ((r = tids_wire_append_delivery(b, del, record_bytes)) != 0)
		return r;
	plain = b->data + ENVELOPE_HEAD;
	plen = b->len - ENVELOPE_HEAD;
	/* The record's bytes open the Delivery (field 1: key, length, bytes),
	 * the same for each recipient that gets it unchanged: hashed once. */
	delivery_hash(&rt->record_hash, record_bytes != NULL ? record_bytes->data : NULL,
		      record_bytes != NULL ? 1 + tids_varint_len(record_bytes->len) + record_bytes->len : 0,
		      plain, plen, hash);
	/* What a grant carries is sealed under the grant's key, whatever its
	 * tier: revoking the grant destroys the key and so every copy of its
	 * deliveries. Other important and core deliveries are sealed under the
	 * hub's delivery key: Kafka never holds them in the clear. */
	if (grant_id != NULL && *grant_id != '\0') {
		gk = tids_map_get_str(&rt->grant_keys, grant_id);
		if (gk == NULL) {
			sodium_memzero(plain, plen);
			return TIDS_ECRYPTO;
		}
		key = gk->key;
		snprintf(sealed_by, sizeof(sealed_by), "grant:%s", grant_id);
	} else if (tids_record_effective_tier(&del->record) >= TIDS_TIER_IMPORTANT || del->obligations.encrypt) {
		key = rt->keys->delivery;
		snprintf(sealed_by, sizeof(sealed_by), "hub");
	}
	if (key == NULL) {
		hdr[0] = 1 << 3 | 2;
		n = 1 + tids_varint_put(hdr + 1, plen);
		memcpy(plain - n, hdr, n);
		/* The tail may move the buffer: offsets from here on. */
		if ((r = tids_wire_append_envelope_tail(b, "", del->record.record_id)) != 0)
			return r;
		value = b->data + ENVELOPE_HEAD - n;
		vlen = b->len - (ENVELOPE_HEAD - n);
	} else {
		/* Bound to this recipient's topic: moved elsewhere, it does not open. */
		ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_DELIVERY, d->topic, recipient, sealed_by, del->record.record_id);
		s->off = 0;
		s->len = 0;
		r = ad_len == 0 ? TIDS_EINVAL : tids_wire_append_envelope_head(s, plen + TIDS_SEAL_OVERHEAD);
		if (r == 0 && (r = tids_buf_reserve(s, plen + TIDS_SEAL_OVERHEAD)) == 0) {
			tids_seal(key, ad, ad_len, plain, plen, tids_buf_tail(s));
			s->len += plen + TIDS_SEAL_OVERHEAD;
			r = tids_wire_append_envelope_tail(s, sealed_by, del->record.record_id);
		}
		sodium_memzero(plain, plen);
		if (r != 0)
			return r;
		value = s->data;
		vlen = s->len;
	}
	/* It leaves at the end of the transaction, with its receipt. */
	r = receipts_hold(rt, d, del->record.record_id, value, vlen);
	if (r == 0) {
		rt->deliveries++;
		rt->stage.deliveries++;
	}
	return r;
}

/* Fills the fields every audit entry of this record shares. */
void route_entry_for(struct router *rt, const struct tids_record *rec, const rd_kafka_message_t *m,
		     const char *recipient, const char *purpose, struct tids_audit_entry *e)
{
	const struct dest *d = route_dest(rt, recipient);
	const struct tids_participant *p = d == NULL ? tids_map_get_str(&rt->participants, recipient) : NULL;

	memset(e, 0, sizeof(*e));
	e->hub_id = rt->hub_id;
	memcpy(e->record_id, rec->record_id, TIDS_RECORD_ID_BYTES);
	e->owner = rec->owner;
	e->recipient = recipient;
	e->purpose = purpose;
	e->category = rec->category;
	e->origin = rec->origin;
	e->destination = d != NULL ? d->jurisdiction : p != NULL ? p->jurisdiction : "";
	e->decided_at_ms = rt->now;
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
	n.decided_at_ms = rt->now;
	n.source_record_id = (struct tids_bytes){ rec->record_id, TIDS_RECORD_ID_BYTES };
	n.notification_for = recipient;
	if ((r = route_produce_delivery(rt, to, &n, NULL, NULL, hash)) != 0)
		return r;
	route_entry_for(rt, rec, m, to, purpose, &e);
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
			p = tids_map_get_str(&rt->participants, to);
			if (p == NULL || (*p->home_hub != '\0' && strcmp(p->home_hub, rt->hub_id) != 0)) {
				tids_log_warnx("router: notify %s: not a participant of this hub", to);
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

/* Did the decision leave the record as published? tids_policy_apply
 * copies it and changes only fields, tier and the personal flags. */
static bool unchanged(const struct tids_record *in, const struct tids_record *out)
{
	if (out->n_fields != in->n_fields || out->tier != in->tier || out->personal != in->personal ||
	    out->sensitive_personal != in->sensitive_personal || out->individuals != in->individuals)
		return false;
	for (size_t i = 0; i < in->n_fields; i++) {
		const struct tids_field *a = &in->fields[i], *b = &out->fields[i];

		if (a->name != b->name || a->tier != b->tier || a->labels != b->labels || a->n_labels != b->n_labels ||
		    a->value.kind != b->value.kind || a->value.as.bytes.data != b->value.as.bytes.data ||
		    a->value.as.bytes.len != b->value.as.bytes.len)
			return false;
	}
	return true;
}

/* The record's encoding, made once per record for every recipient that
 * receives it unchanged; NULL when the delivery's record differs (or on
 * a failure, when the delivery encodes its own). */
static const struct tids_bytes *record_bytes_for(struct router *rt, const struct tids_record *in,
						 const struct tids_record *out)
{
	static struct tids_bytes bytes;

	if (!unchanged(in, out))
		return NULL;
	if (!rt->record_encoded) {
		delivery_hash_reset(&rt->record_hash);
		rt->record_bytes.off = 0;
		rt->record_bytes.len = 0;
		if (tids_wire_append_record(&rt->record_bytes, in) != 0)
			return NULL;
		rt->record_encoded = true;
	}
	bytes = (struct tids_bytes){ tids_buf_head(&rt->record_bytes), rt->record_bytes.len };
	return &bytes;
}

/* The provenance a local recipient of an imported record gets: what the
 * origin hub's forward carried. */
static void provenance_of(const struct router *rt, const struct route_ctx *ctx, const struct tids_delivery *del,
			  struct tids_provenance *p)
{
	const struct tids_ingress_record *ir = ctx->ir;
	const struct tids_forward_info *fw = &ir->forwarded;

	(void)rt;
	memset(p, 0, sizeof(*p));
	p->present = true;
	p->hub_id = fw->origin_hub;
	p->publisher = ir->publisher;
	p->hops = fw->hops;
	p->export_hub = fw->from_hub;
	p->export_partition = fw->entry_partition;
	p->export_seq = fw->entry_seq;
	if (*ir->publisher == '\0')
		return;
	p->sequence = ir->sequence;
	memcpy(p->batch_root, ir->batch_root, TIDS_HASH_BYTES);
	memcpy(p->batch_signature, ir->batch_signature, TIDS_SIGNATURE_BYTES);
	p->leaf_index = ir->leaf_index;
	p->leaf_count = ir->leaf_count;
	p->merkle_path = ir->merkle_path;
	p->n_merkle_path = ir->n_merkle_path;
	memcpy(p->leaf_hash, fw->leaf_hash, TIDS_HASH_BYTES);
	/* The recipient re-encodes the record to find its leaf; when that
	 * encoding is not the publisher's, it gets the published bytes. */
	if (del->decision == TIDS_DECISION_ALLOW) {
		uint8_t *bytes, leaf[TIDS_HASH_BYTES];
		size_t len;

		if (tids_wire_encode_record(&del->record, &bytes, &len) == 0) {
			tids_merkle_leaf_hash(bytes, len, leaf);
			if (sodium_memcmp(leaf, p->leaf_hash, TIDS_HASH_BYTES) != 0)
				p->published = (struct tids_bytes){ ctx->bytes, ctx->len };
			free(bytes);
		}
	}
}

int route_decide(struct router *rt, const struct route_ctx *ctx, const char *recipient, const char *purpose,
		 bool onward)
{
	static struct tids_field fields[TIDS_FIELDS_MAX];
	static const char *removed[TIDS_FIELDS_MAX];
	static struct oblig_merge merged;
	const rd_kafka_message_t *m = ctx->m;
	const struct tids_record *rec = ctx->rec;
	const struct tids_forward_info *fw = &ctx->ir->forwarded;
	struct tids_policy_request req = { rec, recipient, purpose, rt->now, fw->present ? fw->from_hub : NULL,
					   fw->present ? fw->hops : 0, onward, rt->tz };
	struct tids_policy_decision dec;
	struct tids_counter_increment counts[TIDS_AUDIT_COUNTS_MAX];
	struct tids_audit_entry e;
	struct tids_delivery del;
	uint8_t hash[TIDS_HASH_BYTES];
	bool unreachable = false;
	const char *hub = route_peer_of(rt, recipient, &unreachable);
	int r;

	rt->decisions++;
	rt->last_permitted = false;
	route_entry_for(rt, rec, m, recipient, purpose, &e);
	if (fw->present) {
		/* An import names the export it answers; any other decision on
		 * the record names the hub it came from. */
		e.peer_hub = fw->from_hub;
		if (!onward) {
			e.peer_partition = fw->entry_partition;
			e.peer_seq = fw->entry_seq;
		}
		if (onward && fw->obligations.no_onward_transfer) {
			/* A duty the exporting hub attached, not a rule of ours. */
			rt->denials++;
			e.decision = TIDS_DECISION_DENY;
			e.tier = rec->tier;
			e.reason = "the exporting hub attached the no_onward_transfer duty: not passed on";
			metrics_stage_decision(rt->metrics, &rt->stage, rec->category, MD_DENY, e.tier,
					       "(no-onward-transfer)");
			return audit_append(rt, m->partition, &e);
		}
	}
	r = tids_policy_decide(rt->policy, rt->facts, &req, &dec);
	e.rule_ids = (struct tids_strlist){ dec.rule_ids, dec.n_rules };
	e.tier = dec.tier != TIDS_TIER_UNSET ? dec.tier : rec->tier;
	e.grant_id = dec.grant_id;
	e.approval_id = dec.approval_id;
	e.case_id = dec.case_id;
	e.reason = dec.because != NULL ? dec.because : "";
	if (r != 0 || dec.verdict == TIDS_POLICY_DENY || dec.verdict == TIDS_POLICY_UNDECIDED || unreachable) {
		rt->denials++;
		e.decision = TIDS_DECISION_DENY;
		if (r == 0 && unreachable && dec.verdict != TIDS_POLICY_DENY)
			e.reason = "the recipient's home hub is not a peer of this hub";
		if (dec.near.kind != TIDS_POLICY_NEAR_NONE) {
			/* the reason code: what nearly matched, and what failed */
			e.has_near_miss = true;
			e.near_miss = (struct tids_near_miss){
				.kind = dec.near.kind == TIDS_POLICY_NEAR_GRANT ? "grant" : "approval",
				.id = dec.near.id, .code = (int)dec.near.code, .failed = dec.near.failed,
				.at_ms = dec.near.at_ms, .uses = dec.near.uses, .max_uses = dec.near.max_uses,
				.rule_id = dec.near.rule,
			};
		}
		/* Denied for want of a route, a permit decided nothing. */
		metrics_stage_decision(rt->metrics, &rt->stage, rec->category, MD_DENY, e.tier,
				       r != 0 ? NULL : unreachable && dec.verdict != TIDS_POLICY_DENY ?
				       "(peer-unreachable)" : dec.deciding_rule);
		return audit_append(rt, m->partition, &e);
	}
	rt->last_permitted = true;
	if (strcmp(recipient, rt->hub_id) == 0) {
		/* The hub keeps it (statistics): its ledger holds the record. */
		e.decision = TIDS_DECISION_ALLOW;
		e.reason = "kept by this hub";
		metrics_stage_decision(rt->metrics, &rt->stage, rec->category, MD_ALLOW, e.tier, NULL);
		if (fw->present && !onward)
			rt->imported++;
		return audit_append(rt, m->partition, &e);
	}
	memset(&del, 0, sizeof(del));
	if ((r = tids_policy_apply(&dec, rec, &del.record, fields, TIDS_FIELDS_MAX)) != 0)
		return r;
	del.decision = dec.verdict == TIDS_POLICY_TRANSFORM ? TIDS_DECISION_TRANSFORM : TIDS_DECISION_ALLOW;
	del.rule_ids = e.rule_ids;
	tids_policy_obligations_to_wire(&dec, rec, removed, TIDS_FIELDS_MAX, &del.obligations);
	del.grant_id = dec.grant_id;
	del.purpose = purpose;
	del.decided_at_ms = e.decided_at_ms;
	del.source_record_id = (struct tids_bytes){ rec->record_id, TIDS_RECORD_ID_BYTES };
	if (fw->present) {
		/* The exporting hub's duties travel on, the stricter of both. */
		route_merge_obligations(&del.obligations, &fw->obligations, &merged);
		if (fw->decision == TIDS_DECISION_TRANSFORM)
			del.decision = TIDS_DECISION_TRANSFORM;
	}
	e.decision = del.decision;
	e.obligations = del.obligations;
	e.tier = del.record.tier;
	account(rt, m->partition, &dec);
	metrics_stage_decision(rt->metrics, &rt->stage, rec->category,
			       del.decision == TIDS_DECISION_TRANSFORM ? MD_TRANSFORM : MD_ALLOW, e.tier, NULL);
	/* The ledger keeps what each decision counted, and where the counter
	 * stands after it, so that it alone can total the counters (tidsctl
	 * audit report) and each period's statistics can say how close an
	 * exporter is to a threshold. */
	for (size_t i = 0; i < dec.obligations.n_counts && i < TIDS_AUDIT_COUNTS_MAX; i++) {
		const struct tids_policy_count *c = &dec.obligations.counts[i];
		char key[sizeof(((struct count *)0)->key)];
		const struct count *now;

		snprintf(key, sizeof(key), "counter/%s/%s/%lld", c->counter, c->key, (long long)c->period);
		now = tids_map_get_str(&rt->counts, key);
		counts[i] = (struct tids_counter_increment){ c->counter, c->key, c->period, c->amount,
							     now != NULL ? now->value : 0 };
	}
	e.counts = counts;
	e.n_counts = dec.obligations.n_counts < TIDS_AUDIT_COUNTS_MAX ? dec.obligations.n_counts : TIDS_AUDIT_COUNTS_MAX;
	if (dec.obligations.aggregate) {
		/* The record joins a window; what leaves is the window's aggregate. */
		if ((r = aggregate_add(rt, m->partition, &del.record, recipient, purpose, &dec)) != 0)
			return r;
		e.reason = "aggregated: delivered as part of a window";
		return audit_append(rt, m->partition, &e);
	}
	if (hub != NULL) {
		/* For a participant of a peer hub: its outbound topic, in this
		 * transaction. The entry names the hub; the import there names
		 * this entry. */
		e.peer_hub = hub;
		e.peer_partition = 0;
		e.peer_seq = 0;
		if ((r = route_export(rt, hub, recipient, &del, ctx, m->partition, hash)) != 0) {
			tids_log_warnx("router: forward to %s@%s not produced: %s", recipient, hub, tids_strerror(r));
			return r;
		}
		e.delivered_hash = (struct tids_bytes){ hash, TIDS_HASH_BYTES };
		return audit_append(rt, m->partition, &e);
	}
	if (fw->present)
		provenance_of(rt, ctx, &del, &del.provenance);
	if ((r = route_produce_delivery(rt, recipient, &del, dec.grant_id, record_bytes_for(rt, rec, &del.record),
					hash)) != 0) {
		tids_log_warnx("router: delivery to %s not produced: %s", recipient, tids_strerror(r));
		return r;
	}
	if (fw->present && !onward)
		rt->imported++;
	e.delivered_hash = (struct tids_bytes){ hash, TIDS_HASH_BYTES };
	if ((r = audit_append(rt, m->partition, &e)) != 0)
		return r;
	return notify(rt, m, rec, recipient, purpose, &dec);
}

/* Opens an ingress message down to the record: envelope, seal, record.
 * A sealed record opens into the router's buffer (no allocation per
 * record once it has grown); *plain and *alloc say what to wipe. */
static int open_record(struct router *rt, const rd_kafka_message_t *m, struct tids_ingress_record *ir,
		       uint8_t **plain, size_t *alloc, struct tids_record *rec, char *err, size_t errlen)
{
	uint8_t ad[TIDS_SEAL_AD_MAX];
	size_t plen, ad_len;
	int r;

	*plain = NULL;
	*alloc = 0;
	if ((r = tids_wire_decode_ingress_record(m->payload, m->len, ir, err, errlen)) != 0)
		return r;
	if (!ir->sealed)
		return tids_wire_decode_record(ir->record.data, ir->record.len, rec, err, errlen);
	ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_INGRESS, rt->t_ingress, ir->publisher, "", ir->record_id);
	rt->opened.off = 0;
	rt->opened.len = 0;
	if (tids_buf_reserve(&rt->opened, ir->record.len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "sealed record of %s: out of memory", ir->publisher);
	*plain = tids_buf_tail(&rt->opened);
	*alloc = ir->record.len;
	if (ad_len == 0 || tids_seal_open(rt->keys->ingress, ad, ad_len, ir->record.data, ir->record.len,
					  *plain, &plen) != 0)
		return tids_fail(err, errlen, TIDS_ECRYPTO, "sealed record of %s does not open under the hub's ingress "
				 "key for this topic", ir->publisher);
	/* From here the envelope's record is the plaintext. */
	ir->record = (struct tids_bytes){ *plain, plen };
	return tids_wire_decode_record(*plain, plen, rec, err, errlen);
}

int route_message(struct router *rt, const rd_kafka_message_t *m)
{
	struct tids_ingress_record ir;
	struct tids_record rec;
	uint8_t *plain = NULL;
	const struct subscriber *sub;
	struct route_ctx ctx;
	char err[256];
	size_t pos = 0, plain_len = 0;
	int r = 0;

	if (m->partition < 0 || m->partition >= ROUTER_PARTITIONS_MAX) {
		tids_log_warnx("router: ingress partition %d is beyond %d", (int)m->partition, ROUTER_PARTITIONS_MAX);
		return TIDS_EINVAL;
	}
	memset(&rec, 0, sizeof(rec));
	rt->now = now_ms();
	rt->record_encoded = false;
	if (open_record(rt, m, &ir, &plain, &plain_len, &rec, err, sizeof(err)) != 0) {
		/* Ingest wrote it through the same gate: this is damage or
		 * tampering on Kafka. It cannot be routed; say so loudly. */
		tids_log_warnx("router: ingress partition %d offset %lld skipped: %s", (int)m->partition,
			       (long long)m->offset, err);
		rt->skipped++;
		goto out;
	}
	ctx = (struct route_ctx){ m, &ir, &rec, ir.record.data, ir.record.len };
	if (ir.forwarded.present) {
		/* From a peer hub: deduplicated by its position, for one recipient. */
		r = route_import(rt, &ctx);
		goto out;
	}
	if (!state_first_time(rt, m->partition, ir.publisher, ir.sequence, ir.leaf_index)) {
		/* A batch published again after a lost ack: routed already. */
		rt->duplicates++;
		goto out;
	}
	if (strcmp(ir.publisher, rt->hub_id) == 0 && tids_statistics_is_record(&rec)) {
		/* Our statistics: to the hubs and our regulators. */
		r = route_statistics(rt, &ctx);
		goto out;
	}
	/* Candidates: every participant with a standing subscription, for
	 * each purpose it receives data for (participants of peer hubs too,
	 * by their directories). The policy decides the rest. */
	rt->ingress_ts = rd_kafka_message_timestamp(m, NULL) > 0 ? rd_kafka_message_timestamp(m, NULL) : 0;
	while (r == 0 && (sub = tids_map_next(&rt->subscribers, &pos)) != NULL)
		for (size_t i = 0; r == 0 && i < sub->n_purposes; i++)
			r = route_decide(rt, &ctx, sub->id, sub->purposes[i], false);
	rt->ingress_ts = 0;
out:
	if (plain != NULL && rt->record_encoded)
		sodium_memzero(rt->record_bytes.data, rt->record_bytes.len);
	rt->record_encoded = false;
	delivery_hash_reset(&rt->record_hash);
	tids_record_free(&rec);
	tids_ingress_record_free(&ir);
	if (plain != NULL)
		sodium_memzero(plain, plain_len);
	return r;
}
