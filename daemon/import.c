/*
 * Imports, the destination's side of a link: every forward a peer sends is
 * checked here (one gate, as ingest checks a publisher's batch) and written
 * to our ingress topic, where the router decides it under our import
 * policy, audits the decision naming the exporting hub's entry, and drops a
 * forward it routed before by (peer, position), in the same transaction.
 * The peer gets an ack for a position only once Kafka has that forward and
 * every one before it: the ack follows the commit.
 *
 * The checks: the record came from the hub it names (a peer cannot pass off
 * another hub's participant as its own), it is for one of our participants,
 * its owner is one of the origin hub's (by that hub's signed directory), and
 * its publisher signed it: the batch signature verifies with the owner's
 * key, the leaf's path leads to the signed root, and a record forwarded as
 * published is that leaf. A forward that fails them is still written, marked
 * refused, so that the router audits the refusal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "federation.h"
#include "tids/error.h"
#include "tids/seal.h"
#include "tids/statistics.h"

#define VERIFIED_CACHE 256

/* Forwards of one peer on their way to Kafka, in the order received. */
struct import_queue {
	uint64_t *pos;
	bool *done;
	size_t head, n, cap;
	uint64_t first_serial;               /* serial of pos[head] */
	uint64_t next_serial;
	uint64_t gen;                        /* bumped when the link drops */
};

struct fwd_ref {
	struct fed_peer *p;
	uint64_t gen;
	uint64_t serial;
};

/* Batches whose signature verified: records of one batch usually arrive
 * together, and one verification per batch is what ingest costs too. */
struct verified {
	char publisher[TIDS_ID_MAX + 1];
	uint64_t sequence;
	uint8_t root[TIDS_HASH_BYTES];
	uint8_t sig[TIDS_SIGNATURE_BYTES];
};

struct import {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	struct kafka_queue_watch qw;
	struct tids_map queues;              /* peer id -> struct import_queue */
	char topic[256];                     /* our ingress topic: part of a sealing's AD */
	struct verified cache[VERIFIED_CACHE];
	size_t cache_next;
	uint64_t verifications;
};

static struct import_queue *queue_of(struct import *im, struct fed_peer *p)
{
	struct import_queue *q = tids_map_get_str(&im->queues, p->id);

	if (q == NULL) {
		q = calloc(1, sizeof(*q));
		if (q == NULL || tids_map_put_str(&im->queues, p->id, q, NULL) != 0) {
			free(q);
			return NULL;
		}
	}
	return q;
}

static int queue_push(struct import_queue *q, uint64_t position, uint64_t *serial)
{
	if (q->head > 0 && q->head + q->n == q->cap) {
		memmove(q->pos, q->pos + q->head, q->n * sizeof(*q->pos));
		memmove(q->done, q->done + q->head, q->n * sizeof(*q->done));
		q->head = 0;
	}
	if (q->head + q->n == q->cap) {
		size_t cap = q->cap > 0 ? q->cap * 2 : 1024;
		uint64_t *pos = realloc(q->pos, cap * sizeof(*pos));
		bool *done;

		if (pos == NULL)
			return TIDS_ENOMEM;
		q->pos = pos;
		done = realloc(q->done, cap * sizeof(*done));
		if (done == NULL)
			return TIDS_ENOMEM;
		q->done = done;
		q->cap = cap;
	}
	if (q->n == 0)
		q->first_serial = q->next_serial;
	q->pos[q->head + q->n] = position;
	q->done[q->head + q->n] = false;
	q->n++;
	*serial = q->next_serial++;
	return 0;
}

size_t import_in_flight(const struct tidsd *d, const struct fed_peer *p)
{
	struct import *im = d->federation != NULL ? d->federation->import : NULL;
	const struct import_queue *q = im != NULL ? tids_map_get_str(&im->queues, p->id) : NULL;

	return q != NULL ? q->n : 0;
}

void import_forget(struct tidsd *d, struct fed_peer *p)
{
	struct import *im = d->federation != NULL ? d->federation->import : NULL;
	struct import_queue *q = im != NULL ? tids_map_get_str(&im->queues, p->id) : NULL;

	/* Their delivery reports are ignored from now on; the next link
	 * starts from the last position Kafka confirmed in order. */
	if (q != NULL) {
		q->gen++;
		q->head = q->n = 0;
	}
}

/* Kafka has the forward with this serial: the peer gets an ack for the
 * longest prefix that is all there. */
static void confirmed(struct tidsd *d, struct fed_peer *p, struct import_queue *q, uint64_t serial)
{
	uint64_t last = 0;
	size_t advanced = 0;

	if (serial < q->first_serial || serial - q->first_serial >= q->n)
		return;
	q->done[q->head + (serial - q->first_serial)] = true;
	while (q->n > 0 && q->done[q->head]) {
		last = q->pos[q->head];
		q->head++;
		q->n--;
		q->first_serial++;
		advanced++;
	}
	if (q->n == 0)
		q->head = 0;
	if (advanced == 0)
		return;
	p->imported += advanced;
	p->next_position = last + 1;
	if (store_set_u64(d->store, "fed_next", p->id, p->next_position) != 0 ||
	    store_set_u64(d->store, "fed_imported", p->id, p->imported) != 0)
		tids_log_warnx("federation: %s: import position not stored", p->id);
	link_ack(d, p, last);
}

static void on_event(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	const rd_kafka_message_t *m;

	(void)ctx;
	if (kafka_log_event(d, ev) || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_DR)
		return;
	while ((m = rd_kafka_event_message_next(ev)) != NULL) {
		struct fwd_ref *ref = m->_private;
		struct import *im = d->federation->import;
		struct import_queue *q = tids_map_get_str(&im->queues, ref->p->id);

		if (q != NULL && q->gen == ref->gen) {
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
				confirmed(d, ref->p, q, ref->serial);
			} else {
				char why[300];

				snprintf(why, sizeof(why), "Kafka did not take a forward: %s", rd_kafka_err2str(m->err));
				link_fail(d, ref->p, why);
			}
		}
		free(ref);
	}
}

/* --- the checks ----------------------------------------------------------------------- */

static bool verified_before(struct import *im, const struct tids_ingress_record *ir)
{
	for (size_t i = 0; i < VERIFIED_CACHE; i++) {
		const struct verified *v = &im->cache[i];

		if (v->sequence == ir->sequence && strcmp(v->publisher, ir->publisher) == 0 &&
		    memcmp(v->root, ir->batch_root, TIDS_HASH_BYTES) == 0 &&
		    memcmp(v->sig, ir->batch_signature, TIDS_SIGNATURE_BYTES) == 0)
			return true;
	}
	return false;
}

/* Provenance: returns "" or why it does not hold (into why). */
static void check_provenance(struct import *im, const struct tids_ingress_record *ir, const uint8_t *owner_key,
			     char *why, size_t whylen)
{
	const struct tids_forward_info *fw = &ir->forwarded;
	uint8_t leaf[TIDS_HASH_BYTES];

	if (*ir->publisher == '\0') {
		/* Only an aggregate of the origin hub's own making has none. */
		if (fw->decision != TIDS_DECISION_TRANSFORM || fw->obligations.aggregate.function == NULL)
			snprintf(why, whylen, "it carries no publisher proof and is not an aggregate");
		return;
	}
	if (fw->decision == TIDS_DECISION_ALLOW) {
		tids_merkle_leaf_hash(ir->record.data, ir->record.len, leaf);
		if (sodium_memcmp(leaf, fw->leaf_hash, TIDS_HASH_BYTES) != 0) {
			snprintf(why, whylen, "forwarded as published, but it is not the leaf its publisher signed");
			return;
		}
	}
	if (tids_merkle_verify_path(fw->leaf_hash, ir->leaf_index, ir->leaf_count, ir->merkle_path, ir->n_merkle_path,
				    ir->batch_root) != 0) {
		snprintf(why, whylen, "its Merkle path does not lead to batch %llu's root",
			 (unsigned long long)ir->sequence);
		return;
	}
	if (verified_before(im, ir))
		return;
	im->verifications++;
	if (tids_sign_batch_verify(owner_key, ir->publisher, ir->sequence, ir->batch_root, ir->batch_signature) != 0) {
		snprintf(why, whylen, "batch %llu's signature does not verify with %s's key",
			 (unsigned long long)ir->sequence, ir->publisher);
		return;
	}
	{
		struct verified *v = &im->cache[im->cache_next++ % VERIFIED_CACHE];

		snprintf(v->publisher, sizeof(v->publisher), "%s", ir->publisher);
		v->sequence = ir->sequence;
		memcpy(v->root, ir->batch_root, TIDS_HASH_BYTES);
		memcpy(v->sig, ir->batch_signature, TIDS_SIGNATURE_BYTES);
	}
}

/* A hub's statistics, forwarded to this hub (by the hub that made them or
 * by one that passes them on): owned and published by the hub they name,
 * whose key (its registration here, or what our peers' directories say)
 * verifies both the batch and the statistics' own signature. */
static void check_statistics(struct tidsd *d, const struct tids_ingress_record *ir, const struct tids_record *rec,
			     char *why, size_t whylen)
{
	const struct tids_forward_info *fw = &ir->forwarded;
	struct tids_hub_statistics s;
	uint8_t key[TIDS_PUBLIC_KEY_BYTES];
	char jurisdiction[16], err[300];

	if (strcmp(fw->recipient, d->conf->hub_id) != 0) {
		snprintf(why, whylen, "statistics are forwarded to hubs, not to %s", fw->recipient);
		return;
	}
	if (strcmp(rec->owner, fw->origin_hub) != 0 || strcmp(ir->publisher, rec->owner) != 0) {
		snprintf(why, whylen, "statistics of %s published by %s, said to come from hub %s: a hub publishes its "
			 "own", rec->owner, ir->publisher, fw->origin_hub);
		return;
	}
	if (!federation_hub_key(d, rec->owner, key, jurisdiction, err, sizeof(err))) {
		snprintf(why, whylen, "statistics of hub %.64s cannot be checked: %.180s", rec->owner, err);
		return;
	}
	if (tids_statistics_from_record(rec, &s, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "%.250s", err);
		return;
	}
	if (tids_statistics_verify(key, &s, err, sizeof(err)) != 0)
		snprintf(why, whylen, "%.250s", err);
	else if (strcmp(s.jurisdiction, jurisdiction) != 0)
		snprintf(why, whylen, "statistics of hub %s say %s, the hub is registered in %s", s.hub_id, s.jurisdiction,
			 jurisdiction);
	tids_hub_statistics_free(&s);
	if (*why == '\0')
		check_provenance(d->federation->import, ir, key, why, whylen);
}

static void check(struct tidsd *d, struct fed_peer *p, const struct tids_ingress_record *ir,
		  const struct tids_record *rec, char *why, size_t whylen)
{
	const struct tids_forward_info *fw = &ir->forwarded;
	const struct participant *rcpt = registry_participant(d, fw->recipient);
	const struct remote *owner;
	enum tids_tier floor;

	if (fw->hops == 1 && strcmp(fw->origin_hub, p->id) != 0) {
		snprintf(why, whylen, "it claims to come from hub %s, but hub %s sent it first-hand", fw->origin_hub,
			 p->id);
		return;
	}
	if (memcmp(rec->record_id, ir->record_id, TIDS_RECORD_ID_BYTES) != 0) {
		snprintf(why, whylen, "its envelope names another record");
		return;
	}
	if (tids_statistics_is_record(rec)) {
		check_statistics(d, ir, rec, why, whylen);
		return;
	}
	if (rcpt == NULL || (*rcpt->p.home_hub != '\0' && strcmp(rcpt->p.home_hub, d->conf->hub_id) != 0)) {
		snprintf(why, whylen, "recipient %s is not a participant of this hub", fw->recipient);
		return;
	}
	owner = tids_map_get_str(&d->federation->remote, rec->owner);
	if (owner == NULL || strcmp(owner->hub, fw->origin_hub) != 0) {
		snprintf(why, whylen, "owner %s is not a participant of hub %s by its directory here", rec->owner,
			 fw->origin_hub);
		return;
	}
	if (*ir->publisher != '\0' && strcmp(ir->publisher, rec->owner) != 0) {
		snprintf(why, whylen, "publisher %s is not the owner %s", ir->publisher, rec->owner);
		return;
	}
	floor = ingest_floor(d, rec->category);
	if (tids_record_effective_tier(rec) < floor) {
		snprintf(why, whylen, "category %s needs tier %s or higher here", rec->category, tids_tier_name(floor));
		return;
	}
	check_provenance(d->federation->import, ir, owner->identity_key, why, whylen);
}

/*
 * The peer's outbound topic has epochs: a new one when the peer finds that
 * the topic restarted. Its positions are then new, and our router, which
 * drops a forward at or below the last position it routed from the peer,
 * must not take them for old ones: the positions it sees are the peer's
 * plus a base that moves past every earlier one at each new epoch. Within
 * one link, positions never go back: if they do, the topic restarted under
 * the peer's feet, and the link starts over so that the peer finds out.
 * Returns false if the forward must not be imported.
 */
static bool epoch_of(struct tidsd *d, struct fed_peer *p, const struct tids_pull_item *it)
{
	char why[300];

	if (it->epoch != 0 && it->epoch != p->in_epoch) {
		if (p->in_epoch != 0) {
			uint64_t used = p->next_position > p->max_queued + 1 ? p->next_position : p->max_queued + 1;

			if (import_in_flight(d, p) > 0) {
				link_fail(d, p, "its outbound epoch changed within one link");
				return false;
			}
			/* Past everything routed, or on its way, under the old one. */
			p->in_base += used + (UINT64_C(1) << 32);
			fed_peer_error(p, "its outbound topic restarted (a new epoch): its positions start anew, "
				       "after %llu of the old one; whatever it had not sent of the old topic is lost there",
				       (unsigned long long)used);
			p->next_position = p->expect = 0;
			p->max_queued = 0;
		}
		/* The first epoch it names (a peer of before epochs, or none
		 * yet) is the topic its positions were on all along. */
		p->in_epoch = it->epoch;
		if (store_set_u64(d->store, "fed_epoch", p->id, p->in_epoch) != 0 ||
		    store_set_u64(d->store, "fed_base", p->id, p->in_base) != 0 ||
		    store_set_u64(d->store, "fed_next", p->id, p->next_position) != 0)
			tids_log_warnx("federation: %s: its epoch not stored", p->id);
	}
	if (it->position < p->expect) {
		snprintf(why, sizeof(why), "its positions went back from %llu to %llu (its outbound topic restarted?)",
			 (unsigned long long)p->expect, (unsigned long long)it->position);
		link_fail(d, p, why);
		return false;
	}
	p->expect = it->position;
	return true;
}

void import_forward(struct tidsd *d, struct fed_peer *p, struct tids_pull_item *it)
{
	struct import *im = d->federation->import;
	struct tids_ingress_record *ir = &it->record;
	struct import_queue *q;
	struct tids_record rec;
	struct fwd_ref *ref = NULL;
	char why[300] = "", err[256];
	uint8_t *sealed = NULL, *payload = NULL;
	size_t len;
	const void *key = ir->record_id;
	size_t key_len = TIDS_RECORD_ID_BYTES;
	bool decoded;

	if (im == NULL || (q = queue_of(im, p)) == NULL) {
		link_fail(d, p, "imports are not possible (out of memory or no Kafka producer)");
		return;
	}
	if (!epoch_of(d, p, it))
		return;
	decoded = tids_wire_decode_record(ir->record.data, ir->record.len, &rec, err, sizeof(err)) == 0;
	if (!decoded)
		snprintf(why, sizeof(why), "the record does not decode: %s", err);
	else
		check(d, p, ir, &rec, why, sizeof(why));
	if (*why != '\0') {
		p->refused++;
		if (store_set_u64(d->store, "fed_refused", p->id, p->refused) != 0)
			tids_log_debug("federation: refusal count not stored");
		fed_peer_error(p, "forward %llu refused: %s", (unsigned long long)it->position, why);
	}
	/* Ours from here: who sent it is the link's peer, whatever it says. */
	ir->forwarded.from_hub = p->id;
	ir->forwarded.position = p->in_base + it->position;
	ir->forwarded.refused = why;
	ir->received_at_ms = now_ms();
	/* Kafka is not trusted with the plaintext of important or core data
	 * (nor with what we cannot even read). */
	if (!decoded || tids_record_effective_tier(&rec) >= TIDS_TIER_IMPORTANT || ir->forwarded.obligations.encrypt) {
		uint8_t ad[TIDS_SEAL_AD_MAX];
		/* As ingest seals a publisher's records: the router opens both alike. */
		size_t ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_INGRESS, im->topic, ir->publisher, "", ir->record_id);

		sealed = ad_len > 0 ? malloc(ir->record.len + TIDS_SEAL_OVERHEAD) : NULL;
		if (sealed == NULL)
			goto oom;
		tids_seal(keys_ingress(d), ad, ad_len, ir->record.data, ir->record.len, sealed);
		ir->record = (struct tids_bytes){ sealed, ir->record.len + TIDS_SEAL_OVERHEAD };
		ir->sealed = true;
	}
	/* Keyed as ingest keys a publisher's records: one machine's in order. */
	if (decoded) {
		key = *rec.asset_id != '\0' ? rec.asset_id : rec.owner;
		key_len = strlen(key);
	}
	if (tids_wire_encode_ingress_record(ir, &payload, &len) != 0)
		goto oom;
	ref = malloc(sizeof(*ref));
	if (ref == NULL || queue_push(q, it->position, &ref->serial) != 0)
		goto oom;
	ref->p = p;
	ref->gen = q->gen;
	if (it->position > p->max_queued)
		p->max_queued = it->position;
	if (rd_kafka_produce(im->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, payload, len, key, key_len, ref) != 0) {
		/* Not written: this link starts over from the last confirmed. */
		free(payload);
		free(ref);
		link_fail(d, p, "Kafka's queue is full; the peer sends again");
		goto out;
	}
	goto out;
oom:
	free(payload);
	free(ref);
	link_fail(d, p, "out of memory importing a forward");
out:
	free(sealed);
	if (decoded)
		tids_record_free(&rec);
}

/* --- setup ------------------------------------------------------------------------------- */

int import_init(struct tidsd *d)
{
	struct import *im = calloc(1, sizeof(*im));
	char err[512], topic[256], timeout[32];
	rd_kafka_conf_t *conf;

	if (im == NULL)
		return TIDS_ENOMEM;
	d->federation->import = im;
	conf = kafka_conf(d, RD_KAFKA_PRODUCER, err, sizeof(err));
	snprintf(timeout, sizeof(timeout), "%lld", (long long)d->conf->publish_timeout_ms);
	if (conf == NULL ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "message.timeout.ms", timeout, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "linger.ms", "2", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		tids_log_warnx("federation: %s", err);
		if (conf != NULL)
			rd_kafka_conf_destroy(conf);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG);
	im->rk = kafka_client(d, RD_KAFKA_PRODUCER, "import", conf, err, sizeof(err));
	if (im->rk == NULL) {
		tids_log_warnx("federation: %s", err);
		return TIDS_EKAFKA;
	}
	kafka_topic_name(d, KT_INGRESS, NULL, topic, sizeof(topic));
	snprintf(im->topic, sizeof(im->topic), "%s", topic);
	im->rkt = rd_kafka_topic_new(im->rk, topic, NULL);
	if (im->rkt == NULL)
		return TIDS_EKAFKA;
	return kafka_watch_queue(d, &im->qw, rd_kafka_queue_get_main(im->rk), on_event, im);
}

void import_free(struct tidsd *d)
{
	struct import *im = d->federation != NULL ? d->federation->import : NULL;
	struct import_queue *q;
	size_t pos = 0;

	if (im == NULL)
		return;
	if (im->rk != NULL) {
		/* What is in flight is confirmed now or sent again by the peer. */
		rd_kafka_flush(im->rk, 2000);
		kafka_queue_pump(d, &im->qw);
		kafka_unwatch_queue(d, &im->qw);
		if (im->rkt != NULL)
			rd_kafka_topic_destroy(im->rkt);
		rd_kafka_destroy(im->rk);
	}
	while ((q = tids_map_next(&im->queues, &pos)) != NULL) {
		free(q->pos);
		free(q->done);
		free(q);
	}
	tids_map_free(&im->queues);
	tids_log_info("federation: %llu batch signatures verified on import", (unsigned long long)im->verifications);
	free(im);
	d->federation->import = NULL;
}
