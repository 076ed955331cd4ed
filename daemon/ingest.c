/*
 * Ingest: a PublishBatch is checked (one signature verification per batch,
 * sequence against replay, owner, each record through the gate), accepted
 * records go to the ingress topic with an idempotent producer, and the
 * client's ack leaves only after Kafka confirmed every one of them.
 *
 * Sequences. Each accepted batch is remembered (publisher, sequence, root,
 * acknowledged or not) in the registry. A new batch needs a sequence above
 * every earlier one; a batch whose ack was lost (tidsd crashed, the
 * connection broke) may be published again with the same sequence and the
 * same records, and the router drops the copies of records it already
 * routed, by (publisher, sequence, leaf) per partition. That is sound only
 * if such a copy never follows newer records of the publisher, so after a
 * restart a publisher with unacknowledged batches must publish those again
 * before anything new. An acknowledged batch published again is answered
 * with its ack, and nothing is written.
 *
 * Batch rows. A pending batch also has a row in batch_pending, so that a
 * start reads only those. A publisher publishes again only batches whose
 * acks it has not seen, at most what it had in flight (limits.
 * publish_in_flight per connection): each ack prunes the publisher's rows
 * to the newest BATCH_KEEP (pending ones are never pruned). An older batch
 * published again is refused as out of order, which it is. The ack of each
 * kept batch, as it was sent with its receipt, is kept beside it.
 *
 * A full state disk. A batch is accepted when its row (pending) and the
 * publisher's sequence are committed to SQLite, and that happens before
 * any of its records goes to Kafka. If that commit fails, the batch is
 * refused (UNAVAILABLE), nothing of it was written anywhere and memory is
 * left as it was, so the same batch published again later is accepted,
 * and a refused batch is never delivered. Once accepted, the batch is
 * acknowledged when Kafka has confirmed its records, even if its
 * "acknowledged" mark cannot be committed then: the records are on their
 * way to the recipients, and a refusal would make a publisher send them
 * again in a new batch, which the router could not tell from new records.
 * The durable pending row covers the meantime (the same batch published
 * again is written again and the router drops the copies); the mark is
 * written again each tick until a commit succeeds. The other choice,
 * answering a refusal for records already in Kafka and undoing nothing,
 * is what delivered records twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/receipt.h"
#include "tids/seal.h"
#include "metrics.h"
#include "tidsd.h"

enum { CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_PERMISSION_DENIED = 7, CODE_RESOURCE_EXHAUSTED = 8,
       CODE_FAILED_PRECONDITION = 9, CODE_UNAVAILABLE = 14, CODE_UNAUTHENTICATED = 16 };

#define ERROR_MESSAGE_MAX 200

struct pending;

/* One produced record: librdkafka hands this back in its delivery report. */
struct msg_ref {
	struct pending *p;
	uint32_t index;
};

struct pending {
	struct pending *next;
	struct session *s;             /* NULL once the session is gone */
	uint64_t call_id;
	char publisher[TIDS_ID_MAX + 1];
	uint8_t root[TIDS_HASH_BYTES];
	uint32_t n_records;
	uint64_t sequence;
	uint32_t outstanding;
	uint32_t accepted;
	uint32_t retryable;            /* records Kafka did not take: publish the batch again */
	size_t n_errors;
	struct tids_record_error *errors;   /* messages point into messages[] */
	char (*messages)[ERROR_MESSAGE_MAX];
	struct msg_ref *refs;
	/* Where Kafka put each record written (the ack's receipt). */
	struct tids_ingress_position *positions;
	bool *written;
};

/* A category's tier floor, copied out of the policy set (the router owns
 * the set; ingest keeps only this). */
struct ingest_floor {
	char category[TIDS_NAME_MAX + 1];
	enum tids_tier tier;
};

struct unrecorded;

struct ingest {
	struct ingest_floor *floors;   /* by category name */
	struct msg_ref hub_ref;        /* the hub's own record in flight (p NULL) */
	bool hub_in_flight;
	void (*hub_done)(struct tidsd *d, int err);
	struct unrecorded *unrecorded; /* acknowledged, mark not yet committed */
	uint64_t refused;              /* batches refused because the registry could not be written */
	int64_t refused_logged_at;     /* mono ms */
	size_t n_floors;
	struct tids_policy_schemas *schemas;   /* copied from the policy set, likewise */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	struct kafka_queue_watch qw;
	struct pending *pending;
	size_t in_flight;
	uint64_t verifications;        /* batch signatures checked */
	uint64_t records_written;      /* records Kafka confirmed */
	char topic[256];               /* the ingress topic: part of a sealing's AD */
};

/* The registry's memory of a batch: root, acknowledged, records, time. */
#define BATCH_ENTRY_BYTES (TIDS_HASH_BYTES + 1 + 4 + 8)
#define NS_BATCH "batch"
#define NS_PENDING "batch_pending"
#define NS_ACK "ack"                   /* an acknowledged batch's ack as sent, receipt and all */
#define BATCH_KEEP 256

enum batch_state { BATCH_PENDING = 0, BATCH_ACKED = 1, BATCH_ABANDONED = 2 };

struct batch_entry {
	uint8_t root[TIDS_HASH_BYTES];
	enum batch_state state;
	uint32_t n_records;
	int64_t at_ms;
};

/* An acknowledged batch whose mark could not be committed yet. */
struct unrecorded {
	struct unrecorded *next;
	char publisher[TIDS_ID_MAX + 1];
	uint64_t sequence;
	struct batch_entry e;
	uint8_t *ack;                  /* the ack as sent, receipt included (NULL if not kept) */
	size_t ack_len;
};

static void batch_key(char *key, size_t len, const char *publisher, uint64_t sequence)
{
	/* Zero-padded so that keys sort by sequence. */
	snprintf(key, len, "%s/%020llu", publisher, (unsigned long long)sequence);
}

static int batch_get(struct tidsd *d, const char *publisher, uint64_t sequence, struct batch_entry *e)
{
	uint8_t buf[BATCH_ENTRY_BYTES];
	char key[TIDS_ID_MAX + 32];
	size_t len;
	int r;

	batch_key(key, sizeof(key), publisher, sequence);
	r = store_get_blob(d->store, NS_BATCH, key, buf, sizeof(buf), &len);
	if (r != 0 || len != sizeof(buf))
		return r != 0 ? r : TIDS_EDB;
	memcpy(e->root, buf, TIDS_HASH_BYTES);
	e->state = (enum batch_state)buf[TIDS_HASH_BYTES];
	e->n_records = (uint32_t)buf[33] << 24 | (uint32_t)buf[34] << 16 | (uint32_t)buf[35] << 8 | buf[36];
	e->at_ms = 0;
	for (int i = 0; i < 8; i++)
		e->at_ms = e->at_ms << 8 | buf[37 + i];
	return 0;
}

static int batch_put(struct tidsd *d, const char *publisher, uint64_t sequence, const struct batch_entry *e)
{
	uint8_t buf[BATCH_ENTRY_BYTES];
	char key[TIDS_ID_MAX + 32];
	uint64_t at = (uint64_t)e->at_ms;

	batch_key(key, sizeof(key), publisher, sequence);
	memcpy(buf, e->root, TIDS_HASH_BYTES);
	buf[TIDS_HASH_BYTES] = (uint8_t)e->state;
	for (int i = 0; i < 4; i++)
		buf[33 + i] = (uint8_t)(e->n_records >> (24 - 8 * i));
	for (int i = 7; i >= 0; i--, at >>= 8)
		buf[37 + i] = (uint8_t)at;
	if (store_set_blob(d->store, NS_BATCH, key, buf, sizeof(buf)) != 0)
		return TIDS_EDB;
	if (e->state == BATCH_PENDING)
		return store_set_blob(d->store, NS_PENDING, key, buf + TIDS_HASH_BYTES, 1);
	return store_delete_key(d->store, NS_PENDING, key);
}

/* Keeps the publisher's newest BATCH_KEEP rows and the pending ones, and
 * the acks (with their receipts) of the newest BATCH_KEEP. */
static void batch_prune(struct tidsd *d, const char *publisher)
{
	char prefix[TIDS_ID_MAX + 2];

	snprintf(prefix, sizeof(prefix), "%s/", publisher);
	if (store_trim_kv(d->store, NS_BATCH, prefix, BATCH_KEEP, NS_PENDING) != 0 ||
	    store_trim_kv(d->store, NS_ACK, prefix, BATCH_KEEP, NS_PENDING) != 0)
		tids_log_warnx("ingest: old batches of %s could not be pruned", publisher);
}

static void forget_unacked(struct participant *pub, uint64_t sequence)
{
	for (size_t i = 0; i < pub->n_unacked; i++)
		if (pub->unacked[i] == sequence) {
			pub->unacked[i] = pub->unacked[--pub->n_unacked];
			return;
		}
}

/* Keys of a namespace, collected before any row changes. */
struct keys {
	char (*k)[TIDS_ID_MAX + 32];
	size_t n, cap;
	char last_publisher[TIDS_ID_MAX + 1];
	bool pending_only;
};

static int collect(void *ctx, const char *key, const uint8_t *blob, size_t len)
{
	struct keys *ks = ctx;

	if (strlen(key) >= sizeof(ks->k[0]))
		return 0;
	if (ks->pending_only) {
		/* Layout 1: the pending rows, and each publisher's first row (to
		 * know whom to prune); rows come sorted by publisher. */
		char publisher[TIDS_ID_MAX + 1];
		bool first = sscanf(key, "%128[^/]/", publisher) == 1 && strcmp(publisher, ks->last_publisher) != 0;

		if (first)
			snprintf(ks->last_publisher, sizeof(ks->last_publisher), "%s", publisher);
		else if (len != BATCH_ENTRY_BYTES || blob[TIDS_HASH_BYTES] != BATCH_PENDING)
			return 0;
	}
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 64;
		void *k = realloc(ks->k, cap * sizeof(*ks->k));

		if (k == NULL)
			return TIDS_ENOMEM;
		ks->k = k;
		ks->cap = cap;
	}
	snprintf(ks->k[ks->n++], sizeof(ks->k[0]), "%s", key);
	return 0;
}

static int load_one(struct tidsd *d, const char *key)
{
	char publisher[TIDS_ID_MAX + 1];
	unsigned long long seq;
	struct participant *pub;
	struct batch_entry e;

	if (sscanf(key, "%128[^/]/%llu", publisher, &seq) != 2 || batch_get(d, publisher, seq, &e) != 0 ||
	    e.state != BATCH_PENDING) {
		/* Its row says otherwise: the index is stale. */
		return store_delete_key(d->store, NS_PENDING, key);
	}
	pub = registry_participant_mut(d, publisher);
	if (pub == NULL)
		return 0;
	/* Not published again in time: from now on its records need a new
	 * batch, so a late copy can never follow newer records. */
	if (now_ms() - e.at_ms > d->conf->publish_timeout_ms || pub->n_unacked == UNACKED_MAX) {
		e.state = BATCH_ABANDONED;
		if (batch_put(d, publisher, seq, &e) != 0)
			return TIDS_EDB;
		tids_log_info("ingest: batch %llu of %s was never acknowledged and is abandoned", seq, publisher);
		return 0;
	}
	pub->unacked[pub->n_unacked++] = seq;
	return 0;
}

/* A registry of the first layout: pending rows indexed, every publisher's
 * rows pruned, once. */
static int upgrade_batches(struct tidsd *d)
{
	struct keys ks = { .pending_only = true };
	char publisher[TIDS_ID_MAX + 1];
	unsigned long long seq;
	int r = store_each_kv(d->store, NS_BATCH, collect, &ks);

	for (size_t i = 0; r == 0 && i < ks.n; i++) {
		struct batch_entry e;

		if (sscanf(ks.k[i], "%128[^/]/%llu", publisher, &seq) != 2)
			continue;
		if (batch_get(d, publisher, seq, &e) == 0 && e.state == BATCH_PENDING)
			r = batch_put(d, publisher, seq, &e);
		if (r == 0 && (i + 1 == ks.n || strncmp(ks.k[i + 1], publisher, strlen(publisher)) != 0 ||
			       ks.k[i + 1][strlen(publisher)] != '/'))
			batch_prune(d, publisher);
	}
	free(ks.k);
	if (r == 0)
		r = store_set_u64(d->store, "ingest", "batch_layout", 2);
	if (r == 0)
		r = store_commit(d->store);
	return r;
}

int ingest_load_unacked(struct tidsd *d)
{
	struct keys ks = { 0 };
	uint64_t layout;
	int r = 0;

	if (store_get_u64(d->store, "ingest", "batch_layout", &layout) != 0 && (r = upgrade_batches(d)) != 0)
		return r;
	r = store_each_kv(d->store, NS_PENDING, collect, &ks);
	for (size_t i = 0; r == 0 && i < ks.n; i++)
		r = load_one(d, ks.k[i]);
	free(ks.k);
	return r;
}

static bool in_flight(const struct tidsd *d, const char *publisher, uint64_t sequence)
{
	for (const struct pending *p = d->ingest->pending; p != NULL; p = p->next)
		if (p->sequence == sequence && strcmp(p->publisher, publisher) == 0)
			return true;
	return false;
}

static void add_error(struct pending *p, uint32_t index, int code, const char *message)
{
	struct tids_record_error *e = &p->errors[p->n_errors];

	snprintf(p->messages[p->n_errors], ERROR_MESSAGE_MAX, "%.*s", ERROR_MESSAGE_MAX - 1, message);
	e->index = index;
	e->code = code;
	e->message = p->messages[p->n_errors];
	p->n_errors++;
}

static void pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	free(p->errors);
	free(p->messages);
	free(p->refs);
	free(p->positions);
	free(p->written);
	free(p);
}

static struct pending *pending_new(size_t n)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->errors = calloc(n, sizeof(*p->errors));
	p->messages = calloc(n, sizeof(*p->messages));
	p->refs = calloc(n, sizeof(*p->refs));
	p->positions = calloc(n, sizeof(*p->positions));
	p->written = calloc(n, sizeof(*p->written));
	if (p->errors == NULL || p->messages == NULL || p->refs == NULL || p->positions == NULL || p->written == NULL) {
		pending_free(p);
		return NULL;
	}
	return p;
}

static struct unrecorded *find_unrecorded(const struct ingest *in, const char *publisher, uint64_t sequence)
{
	for (struct unrecorded *u = in->unrecorded; u != NULL; u = u->next)
		if (u->sequence == sequence && strcmp(u->publisher, publisher) == 0)
			return u;
	return NULL;
}

static void unrecorded_free(struct unrecorded *u)
{
	free(u->ack);
	free(u);
}

static void remember_unrecorded(struct tidsd *d, const char *publisher, uint64_t sequence,
				const struct batch_entry *e, const uint8_t *ack, size_t ack_len)
{
	struct unrecorded *u = find_unrecorded(d->ingest, publisher, sequence);

	tids_log_warnx("ingest: batch %llu of %s acknowledged but not recorded as such (the registry cannot be "
		       "written: is %s full?); retrying every tick", (unsigned long long)sequence, publisher,
		       d->conf->state_dir);
	if (u == NULL && (u = calloc(1, sizeof(*u))) != NULL) {
		snprintf(u->publisher, sizeof(u->publisher), "%s", publisher);
		u->sequence = sequence;
		u->next = d->ingest->unrecorded;
		d->ingest->unrecorded = u;
	}
	/* Out of memory too: the pending row stands, which is safe. */
	if (u == NULL)
		return;
	u->e = *e;
	free(u->ack);
	u->ack = ack != NULL ? malloc(ack_len) : NULL;
	u->ack_len = u->ack != NULL ? ack_len : 0;
	if (u->ack != NULL)
		memcpy(u->ack, ack, ack_len);
}

/* The ack of a batch, as sent, is kept: a batch published again after a
 * lost ack gets the same ack, receipt included. */
static int ack_put(struct tidsd *d, const char *publisher, uint64_t sequence, const uint8_t *body, size_t len)
{
	char key[TIDS_ID_MAX + 32];

	batch_key(key, sizeof(key), publisher, sequence);
	return store_set_blob(d->store, NS_ACK, key, body, len);
}

/* The receipt: where each record went, signed once for the batch. Before
 * any routing, so the ledger must later account for every position. */
static int sign_receipt(struct tidsd *d, const struct pending *p, struct tids_publish_ack *ack, uint8_t **statement)
{
	struct tids_ingest_statement st = {
		.hub_id = d->conf->hub_id, .publisher = p->publisher, .sequence = p->sequence,
		.signed_at_ms = now_ms(),
	};
	struct tids_ingress_position *pos = malloc(p->n_records * sizeof(*pos) + 1);
	size_t n = 0, len;
	int r;

	*statement = NULL;
	if (pos == NULL)
		return TIDS_ENOMEM;
	for (uint32_t i = 0; i < p->n_records; i++)
		if (p->written[i])
			pos[n++] = p->positions[i];
	memcpy(st.batch_root, p->root, TIDS_HASH_BYTES);
	st.positions = pos;
	st.n_positions = n;
	r = tids_receipt_ingest_sign(&d->hub, &st, statement, &len, ack->receipt.signature);
	free(pos);
	if (r != 0)
		return r;
	ack->receipt.statement = (struct tids_bytes){ *statement, len };
	ack->has_receipt = true;
	return 0;
}

/* All records confirmed or failed: answer (if anyone still listens). */
static void finish(struct tidsd *d, struct pending *p)
{
	struct ingest *in = d->ingest;
	struct pending **pp;
	struct tids_publish_ack ack = {
		.sequence = p->sequence, .accepted = p->accepted, .errors = p->errors, .n_errors = p->n_errors,
	};
	uint8_t *body = NULL, *statement = NULL;
	size_t len = 0;
	int enc;

	for (pp = &in->pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (p->accepted > 0 && sign_receipt(d, p, &ack, &statement) != 0)
		tids_log_warnx("ingest: batch %llu of %s: its receipt could not be signed (out of memory)",
			       (unsigned long long)p->sequence, p->publisher);
	enc = tids_wire_encode_publish_ack(&ack, &body, &len);
	if (p->retryable == 0) {
		struct batch_entry e = { .state = BATCH_ACKED, .n_records = p->n_records, .at_ms = now_ms() };
		struct participant *pub = registry_participant_mut(d, p->publisher);
		int w;

		memcpy(e.root, p->root, TIDS_HASH_BYTES);
		/* Durable before the ack when the disk allows; when it does not,
		 * acknowledged all the same (see the top of the file) and
		 * written again each tick. */
		w = batch_put(d, p->publisher, p->sequence, &e);
		if (w == 0 && enc == 0 && ack_put(d, p->publisher, p->sequence, body, len) != 0)
			tids_log_warnx("ingest: batch %llu of %s: its ack is not kept; published again, it will be "
				       "acknowledged without a receipt", (unsigned long long)p->sequence, p->publisher);
		if (w == 0) {
			batch_prune(d, p->publisher);
			w = store_commit(d->store);
		}
		if (w != 0) {
			store_rollback(d->store);
			remember_unrecorded(d, p->publisher, p->sequence, &e, enc == 0 ? body : NULL, len);
		}
		if (pub != NULL)
			forget_unacked(pub, p->sequence);
	}
	if (p->s != NULL) {
		p->s->pending_calls--;
		if (enc == 0)
			session_reply(d, p->s, p->call_id, CODE_OK, "", body, len);
		session_publish_done(d, p->s);
	}
	free(body);
	free(statement);
	pending_free(p);
}

/* Writes the acknowledged marks that a full disk held back. */
void ingest_tick(struct tidsd *d)
{
	struct ingest *in = d->ingest;
	struct unrecorded *u;
	size_t n = 0;

	if (in == NULL || in->unrecorded == NULL)
		return;
	for (u = in->unrecorded; u != NULL; u = u->next, n++)
		if (batch_put(d, u->publisher, u->sequence, &u->e) != 0 ||
		    (u->ack != NULL && ack_put(d, u->publisher, u->sequence, u->ack, u->ack_len) != 0))
			break;
	if (u != NULL || store_commit(d->store) != 0) {
		store_rollback(d->store);
		return;
	}
	tids_log_info("ingest: %zu acknowledged batches recorded as such, now that the registry can be written", n);
	while ((u = in->unrecorded) != NULL) {
		in->unrecorded = u->next;
		unrecorded_free(u);
	}
}

static void on_event(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	struct ingest *in = ctx;
	const rd_kafka_message_t *m;

	if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_STATS) {
		const char *json = rd_kafka_event_stats(ev);

		metrics_kafka_stats(d->metrics, json, strlen(json), mono_ms());
		return;
	}
	if (kafka_log_event(d, ev) || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_DR)
		return;
	while ((m = rd_kafka_event_message_next(ev)) != NULL) {
		struct msg_ref *ref = m->_private;
		struct pending *p = ref->p;

		in->in_flight--;
		if (p == NULL) {
			/* The hub's own record. */
			in->hub_in_flight = false;
			if (in->hub_done != NULL)
				in->hub_done(d, m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : TIDS_EKAFKA);
			continue;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			char msg[ERROR_MESSAGE_MAX];

			snprintf(msg, sizeof(msg), "Kafka did not take the record: %s; publish it again",
				 rd_kafka_err2str(m->err));
			add_error(p, ref->index, CODE_UNAVAILABLE, msg);
			p->retryable++;
		} else {
			p->accepted++;
			in->records_written++;
			p->positions[ref->index] = (struct tids_ingress_position){ ref->index, m->partition, m->offset };
			p->written[ref->index] = true;
			metrics_add(&d->metrics->records_in, 1);
		}
		if (--p->outstanding == 0)
			finish(d, p);
	}
}

/* The ingest state exists from the first policy load on, before Kafka. */
static struct ingest *ingest_state(struct tidsd *d)
{
	if (d->ingest == NULL)
		d->ingest = calloc(1, sizeof(*d->ingest));
	return d->ingest;
}

static int by_category(const void *key, const void *item)
{
	return strcmp(key, ((const struct ingest_floor *)item)->category);
}

int ingest_set_floors(struct tidsd *d, const struct tids_policy_set *set)
{
	struct ingest *in = ingest_state(d);
	size_t n = tids_policy_tier_floors(set, NULL, NULL, 0);
	const char **cats = calloc(n ? n : 1, sizeof(*cats));
	enum tids_tier *tiers = calloc(n ? n : 1, sizeof(*tiers));
	struct ingest_floor *floors = calloc(n ? n : 1, sizeof(*floors));
	struct tids_policy_schemas *schemas = tids_policy_schemas_copy(set);

	if (in == NULL || cats == NULL || tiers == NULL || floors == NULL || schemas == NULL) {
		free(cats);
		free(tiers);
		free(floors);
		tids_policy_schemas_free(schemas);
		return TIDS_ENOMEM;
	}
	tids_policy_schemas_free(in->schemas);
	in->schemas = schemas;
	/* in name order, as bsearch wants them; names are [a-z0-9_]{1,64} */
	tids_policy_tier_floors(set, cats, tiers, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(floors[i].category, sizeof(floors[i].category), "%s", cats[i]);
		floors[i].tier = tiers[i];
	}
	free(cats);
	free(tiers);
	free(in->floors);
	in->floors = floors;
	in->n_floors = n;
	return 0;
}

/* The lowest tier a record of the category may carry. */
static enum tids_tier floor_of(const struct ingest *in, const char *category)
{
	const struct ingest_floor *f = in->n_floors > 0
		? bsearch(category, in->floors, in->n_floors, sizeof(*in->floors), by_category) : NULL;

	return f != NULL ? f->tier : TIDS_TIER_GENERAL;
}

enum tids_tier ingest_floor(const struct tidsd *d, const char *category)
{
	return d->ingest != NULL ? floor_of(d->ingest, category) : TIDS_TIER_GENERAL;
}

/* Categories only the hub itself publishes. */
static bool reserved_category(const char *category)
{
	return strcmp(category, "hub_statistics") == 0;
}

/* Checks one record of a batch; returns 0 or fills the record's error. */
static int check_record(struct tidsd *d, const char *publisher, const struct tids_bytes *raw,
			struct tids_record *rec, int *code, char *err, size_t errlen)
{
	const struct tids_asset *asset;
	enum tids_tier floor, tier;
	int r = tids_wire_decode_record(raw->data, raw->len, rec, err, errlen);

	*code = CODE_INVALID_ARGUMENT;
	if (r != 0)
		return r;
	/* "The highest tier governs": the record's tier, raised by its fields'. */
	floor = floor_of(d->ingest, rec->category);
	tier = tids_record_effective_tier(rec);
	if (tier < floor)
		return tids_fail(err, errlen, TIDS_EINVAL, "record: category %s needs tier %s or higher (got %s)",
				 rec->category, tids_tier_name(floor), tids_tier_name(tier));
	/* Its fields as the category's schema says, each that does not fit named. */
	if ((r = tids_policy_schemas_check(d->ingest->schemas, rec, err, errlen)) != 0)
		return r;
	*code = CODE_PERMISSION_DENIED;
	/* A hub's statistics are signed by the hub: no participant's record
	 * may pass for them. */
	if (reserved_category(rec->category))
		return tids_fail(err, errlen, TIDS_EPERM, "record: category %s is reserved for the hubs' own records",
				 rec->category);
	if (strcmp(rec->owner, publisher) != 0)
		return tids_fail(err, errlen, TIDS_EPERM, "record owner %s is not the publisher %s", rec->owner,
				 publisher);
	if (*rec->asset_id != '\0') {
		asset = registry_asset(d, rec->asset_id);
		if (asset == NULL)
			return tids_fail(err, errlen, TIDS_ENOENT, "asset %s is not registered", rec->asset_id);
		/* Data from a leased machine belongs to its lessee. */
		if (strcmp(asset->lessee, rec->owner) != 0)
			return tids_fail(err, errlen, TIDS_EPERM, "asset %s is used by %s, who owns its data, not %s",
					 rec->asset_id, asset->lessee, rec->owner);
	}
	return 0;
}

static int produce(struct tidsd *d, struct pending *p, const struct tids_batch *b, uint32_t index,
		   const struct tids_record *rec, const uint8_t (*path)[TIDS_HASH_BYTES], size_t path_len)
{
	struct ingest *in = d->ingest;
	const struct tids_bytes *raw = &b->records[index];
	struct tids_ingress_record ir = {
		.record = *raw, .publisher = b->publisher, .sequence = b->sequence,
		.leaf_index = index, .leaf_count = (uint32_t)b->n_records,
		.merkle_path = path, .n_merkle_path = path_len, .received_at_ms = now_ms(),
	};
	uint8_t *sealed = NULL, *payload, ad[TIDS_SEAL_AD_MAX];
	size_t len, ad_len;
	const char *key = rec->owner;
	int r;

	memcpy(ir.record_id, rec->record_id, TIDS_RECORD_ID_BYTES);
	memcpy(ir.batch_root, b->merkle_root, TIDS_HASH_BYTES);
	memcpy(ir.batch_signature, b->signature, TIDS_SIGNATURE_BYTES);
	/* Kafka is not trusted with the plaintext of important or core data. */
	if (tids_record_effective_tier(rec) >= TIDS_TIER_IMPORTANT) {
		/* Bound to this topic and publisher (and under a key of its own,
		 * not the one deliveries are sealed with). */
		ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_INGRESS, in->topic, b->publisher, "", rec->record_id);
		sealed = ad_len > 0 ? malloc(raw->len + TIDS_SEAL_OVERHEAD) : NULL;
		if (sealed == NULL)
			return TIDS_ENOMEM;
		tids_seal(keys_ingress(d), ad, ad_len, raw->data, raw->len, sealed);
		ir.record.data = sealed;
		ir.record.len = raw->len + TIDS_SEAL_OVERHEAD;
		ir.sealed = true;
	}
	r = tids_wire_encode_ingress_record(&ir, &payload, &len);
	free(sealed);
	if (r != 0)
		return r;
	p->refs[index].p = p;
	p->refs[index].index = index;
	/* Keyed by owner: all of an owner's records in one partition (so one
	 * machine's records stay in order, its lessee being their owner), and
	 * with them everything a decision on them counts (grant uses, the
	 * owner's export counters, its aggregation windows), which thus never
	 * spreads over instances that hold different partitions. */
	if (rd_kafka_produce(in->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, payload, len, key, strlen(key),
			     &p->refs[index]) != 0) {
		free(payload);
		return TIDS_EAGAIN;
	}
	in->in_flight++;
	return 0;
}

/* Replies with the ack of a batch acknowledged before (nothing is written):
 * the one kept, receipt and all, or one made up without a receipt. */
static void ack_again(struct tidsd *d, struct session *s, uint64_t call_id, const struct tids_batch *b)
{
	struct tids_publish_ack ack = { .sequence = b->sequence, .accepted = (uint32_t)b->n_records };
	char key[TIDS_ID_MAX + 32];
	uint8_t *body, *kept = malloc(TIDS_FRAME_MAX_DEFAULT);
	size_t len;

	batch_key(key, sizeof(key), b->publisher, b->sequence);
	if (kept != NULL && store_get_blob(d->store, NS_ACK, key, kept, TIDS_FRAME_MAX_DEFAULT, &len) == 0) {
		struct tids_publish_ack old;

		/* Our own bytes, but from disk: through the gate again. */
		bool same = tids_wire_decode_publish_ack(kept, len, &old, NULL, 0) == 0 && old.sequence == b->sequence;

		tids_publish_ack_free(&old);
		if (same) {
			session_reply(d, s, call_id, CODE_OK, "", kept, len);
			free(kept);
			return;
		}
	}
	free(kept);

	if (tids_wire_encode_publish_ack(&ack, &body, &len) == 0) {
		session_reply(d, s, call_id, CODE_OK, "", body, len);
		free(body);
	}
}

/* Decides whether the batch may be written: 0 if so, else replies and
 * returns non-zero. See the comment at the top of the file. */
static int check_sequence(struct tidsd *d, struct session *s, uint64_t call_id, const struct participant *pub,
			  const struct tids_batch *b)
{
	struct batch_entry e;
	struct unrecorded *u;
	char msg[256];
	int r = batch_get(d, pub->p.id, b->sequence, &e);

	if (r == 0) {
		if (sodium_memcmp(e.root, b->merkle_root, TIDS_HASH_BYTES) != 0) {
			snprintf(msg, sizeof(msg), "batch sequence %llu was used for other records: replay refused",
				 (unsigned long long)b->sequence);
			session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, msg, NULL, 0);
			return TIDS_EREPLAY;
		}
		if (e.state == BATCH_ACKED) {
			ack_again(d, s, call_id, b);
			return TIDS_EEXIST;
		}
		/* Acknowledged while the disk was full: the same ack again. */
		if ((u = find_unrecorded(d->ingest, pub->p.id, b->sequence)) != NULL) {
			if (u->ack != NULL)
				session_reply(d, s, call_id, CODE_OK, "", u->ack, u->ack_len);
			else
				ack_again(d, s, call_id, b);
			return TIDS_EEXIST;
		}
		if (e.state == BATCH_ABANDONED) {
			snprintf(msg, sizeof(msg), "batch %llu was abandoned (not published again within "
				 "limits.publish_timeout); publish its records in a new batch",
				 (unsigned long long)b->sequence);
			session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, msg, NULL, 0);
			return TIDS_EREPLAY;
		}
		if (in_flight(d, pub->p.id, b->sequence)) {
			snprintf(msg, sizeof(msg), "batch %llu is being written; wait for its ack",
				 (unsigned long long)b->sequence);
			session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, msg, NULL, 0);
			return TIDS_EAGAIN;
		}
		return 0;   /* published again after a lost ack */
	}
	if (b->sequence <= pub->batch_seq) {
		snprintf(msg, sizeof(msg), "batch sequence %llu replayed or out of order (last accepted %llu)",
			 (unsigned long long)b->sequence, (unsigned long long)pub->batch_seq);
		session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, msg, NULL, 0);
		return TIDS_EREPLAY;
	}
	if (pub->n_unacked > 0) {
		uint64_t first = pub->unacked[0];

		for (size_t i = 1; i < pub->n_unacked; i++)
			first = pub->unacked[i] < first ? pub->unacked[i] : first;
		snprintf(msg, sizeof(msg), "publish batch %llu again first: its ack was lost when the hub restarted",
			 (unsigned long long)first);
		session_reply(d, s, call_id, CODE_FAILED_PRECONDITION, msg, NULL, 0);
		return TIDS_EAGAIN;
	}
	return 0;
}

/* Says so at most every 10 s: publishers retry, and a full disk lasts. */
static void refused_for_disk(struct tidsd *d, const char *publisher, const char *why)
{
	struct ingest *in = d->ingest;
	int64_t now = mono_ms();

	in->refused++;
	if (in->refused_logged_at != 0 && now - in->refused_logged_at < 10000)
		return;
	tids_log_warnx("ingest: %s: %s (%llu batches refused so far)", publisher, why,
		       (unsigned long long)in->refused);
	in->refused_logged_at = now;
}

void ingest_publish(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len)
{
	struct participant *pub;
	struct tids_batch b;
	struct pending *p = NULL;
	struct tids_merkle_tree tree = { 0 };
	char err[256];
	int r = 0;

	if (tids_wire_decode_batch(body, len, &b, err, sizeof(err)) != 0) {
		session_reply(d, s, call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	pub = registry_participant_mut(d, b.publisher);
	if (strcmp(b.publisher, s->participant) != 0 || pub == NULL) {
		snprintf(err, sizeof(err), "batch publisher %s is not the authenticated participant %s", b.publisher,
			 s->participant);
		session_reply(d, s, call_id, CODE_PERMISSION_DENIED, err, NULL, 0);
		goto out;
	}
	d->ingest->verifications++;
	if (tids_batch_verify(&b, pub->p.identity_key, err, sizeof(err)) != 0) {
		session_reply(d, s, call_id, CODE_UNAUTHENTICATED, err, NULL, 0);
		goto out;
	}
	if ((r = check_sequence(d, s, call_id, pub, &b)) != 0)
		goto out;
	p = pending_new(b.n_records);
	if (p == NULL) {
		session_reply(d, s, call_id, CODE_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
		goto out;
	}
	{
		struct batch_entry e = { .state = BATCH_PENDING, .n_records = (uint32_t)b.n_records, .at_ms = now_ms() };

		memcpy(e.root, b.merkle_root, TIDS_HASH_BYTES);
		if (b.sequence > pub->batch_seq)
			r = store_set_u64(d->store, "batch_seq", pub->p.id, b.sequence);
		/* Accepted once this is durable, and not before: nothing goes to
		 * Kafka for a batch the hub may yet refuse (see the top). */
		if (r != 0 || batch_put(d, pub->p.id, b.sequence, &e) != 0 || store_commit(d->store) != 0) {
			store_rollback(d->store);
			snprintf(err, sizeof(err), "batch %llu refused: the hub cannot record it (is its state disk "
				 "full?); nothing of it was written: publish it again later",
				 (unsigned long long)b.sequence);
			refused_for_disk(d, pub->p.id, err);
			session_reply(d, s, call_id, CODE_UNAVAILABLE, err, NULL, 0);
			goto out;
		}
		if (b.sequence > pub->batch_seq)
			pub->batch_seq = b.sequence;
	}
	snprintf(p->publisher, sizeof(p->publisher), "%s", pub->p.id);
	memcpy(p->root, b.merkle_root, TIDS_HASH_BYTES);
	p->n_records = (uint32_t)b.n_records;
	p->s = s;
	p->call_id = call_id;
	p->sequence = b.sequence;
	if (tids_merkle_tree_build(b.records, b.n_records, &tree) != 0) {
		session_reply(d, s, call_id, CODE_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
		goto out;
	}
	for (uint32_t i = 0; i < b.n_records; i++) {
		uint8_t path[TIDS_MERKLE_PATH_MAX][TIDS_HASH_BYTES];
		struct tids_record rec;
		size_t path_len;
		int code;

		tids_merkle_tree_path(&tree, i, path, &path_len);
		if (check_record(d, b.publisher, &b.records[i], &rec, &code, err, sizeof(err)) != 0) {
			add_error(p, i, code, err);
			metrics_add(&d->metrics->records_refused, 1);
		} else if ((r = produce(d, p, &b, i, &rec, (const uint8_t(*)[TIDS_HASH_BYTES])path, path_len)) != 0) {
			add_error(p, i, r == TIDS_EAGAIN ? CODE_UNAVAILABLE : CODE_RESOURCE_EXHAUSTED,
				  r == TIDS_EAGAIN ? "Kafka's queue is full; publish it again later" : "out of memory");
			p->retryable++;
		} else {
			p->outstanding++;
		}
		tids_record_free(&rec);
	}
	s->pending_calls++;
	p->next = d->ingest->pending;
	d->ingest->pending = p;
	if (p->outstanding == 0)
		finish(d, p);
	p = NULL;
out:
	tids_merkle_tree_free(&tree);
	pending_free(p);
	tids_batch_free(&b);
}

int ingest_hub_record(struct tidsd *d, const uint8_t *bytes, size_t len, uint64_t sequence,
		      void (*done)(struct tidsd *d, int err))
{
	struct ingest *in = d->ingest;
	struct tids_bytes leaf = { bytes, len };
	struct tids_ingress_record ir = {
		.record = leaf, .publisher = d->conf->hub_id, .sequence = sequence, .leaf_index = 0, .leaf_count = 1,
		.received_at_ms = now_ms(),
	};
	struct tids_record rec;
	uint8_t *sealed = NULL, *payload, ad[TIDS_SEAL_AD_MAX];
	size_t plen, ad_len;
	char err[256];
	int r;

	if (in == NULL || in->rk == NULL)
		return TIDS_EKAFKA;
	if (in->hub_in_flight)
		return TIDS_EAGAIN;
	if ((r = tids_wire_decode_record(bytes, len, &rec, err, sizeof(err))) != 0) {
		tids_log_warnx("ingest: the hub's own record does not pass the gate: %s", err);
		return r;
	}
	memcpy(ir.record_id, rec.record_id, TIDS_RECORD_ID_BYTES);
	/* A batch of one: its root is the record's leaf, signed by the hub as
	 * any publisher signs its batches, so that its provenance is proven
	 * the same way wherever it goes. */
	if ((r = tids_merkle_root(&leaf, 1, ir.batch_root)) != 0 ||
	    (r = tids_sign_batch(d->hub.sign_sk, d->conf->hub_id, sequence, ir.batch_root, ir.batch_signature)) != 0)
		goto out;
	if (tids_record_effective_tier(&rec) >= TIDS_TIER_IMPORTANT) {
		ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_INGRESS, in->topic, d->conf->hub_id, "", rec.record_id);
		sealed = ad_len > 0 ? malloc(len + TIDS_SEAL_OVERHEAD) : NULL;
		if (sealed == NULL) {
			r = TIDS_ENOMEM;
			goto out;
		}
		tids_seal(keys_ingress(d), ad, ad_len, bytes, len, sealed);
		ir.record = (struct tids_bytes){ sealed, len + TIDS_SEAL_OVERHEAD };
		ir.sealed = true;
	}
	if ((r = tids_wire_encode_ingress_record(&ir, &payload, &plen)) != 0)
		goto out;
	in->hub_ref.p = NULL;
	in->hub_ref.index = 0;
	/* Keyed by the hub, as a publisher's records by their owner. */
	if (rd_kafka_produce(in->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_FREE, payload, plen, d->conf->hub_id,
			     strlen(d->conf->hub_id), &in->hub_ref) != 0) {
		free(payload);
		r = TIDS_EAGAIN;
		goto out;
	}
	in->in_flight++;
	in->hub_in_flight = true;
	in->hub_done = done;
out:
	free(sealed);
	tids_record_free(&rec);
	return r;
}

void ingest_forget_session(struct tidsd *d, struct session *s)
{
	struct pending *p;

	if (d->ingest == NULL)
		return;
	for (p = d->ingest->pending; p != NULL; p = p->next)
		if (p->s == s)
			p->s = NULL;
}

size_t ingest_in_flight(const struct tidsd *d)
{
	return d->ingest != NULL ? d->ingest->in_flight : 0;
}

int ingest_init(struct tidsd *d)
{
	struct ingest *in = ingest_state(d);
	char err[512], topic[256], timeout[32];
	rd_kafka_conf_t *conf;

	if (in == NULL)
		return TIDS_ENOMEM;
	conf = kafka_conf(d, RD_KAFKA_PRODUCER, err, sizeof(err));
	snprintf(timeout, sizeof(timeout), "%lld", (long long)d->conf->publish_timeout_ms);
	if (conf == NULL ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "acks", "all", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "message.timeout.ms", timeout, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "linger.ms", "2", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    /* Its statistics say whether a broker is connected (/health). */
	    rd_kafka_conf_set(conf, "statistics.interval.ms", "1000", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		tids_log_warnx("ingest: %s", err);
		if (conf != NULL)
			rd_kafka_conf_destroy(conf);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_STATS);
	in->rk = kafka_client(d, RD_KAFKA_PRODUCER, "ingest", conf, err, sizeof(err));
	if (in->rk == NULL) {
		tids_log_warnx("ingest: %s", err);
		return TIDS_EKAFKA;
	}
	kafka_topic_name(d, KT_INGRESS, NULL, topic, sizeof(topic));
	snprintf(in->topic, sizeof(in->topic), "%s", topic);
	in->rkt = rd_kafka_topic_new(in->rk, topic, NULL);
	if (in->rkt == NULL)
		return TIDS_EKAFKA;
	return kafka_watch_queue(d, &in->qw, rd_kafka_queue_get_main(in->rk), on_event, in);
}

void ingest_flush(struct tidsd *d, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	/* Delivery reports arrive through the loop; keep it turning. */
	while (d->ingest != NULL && d->ingest->in_flight > 0 && mono_ms() < deadline) {
		rd_kafka_flush(d->ingest->rk, 0);
		loop_once(d, 50);
	}
	if (d->ingest != NULL && d->ingest->in_flight > 0)
		tids_log_warnx("ingest: %zu records still unconfirmed by Kafka at shutdown; "
			       "their publishers get no ack and will publish them again", d->ingest->in_flight);
}

void ingest_free(struct tidsd *d)
{
	struct ingest *in = d->ingest;

	if (in == NULL)
		return;
	tids_log_info("ingest: %llu batch signatures verified for %llu records written",
		      (unsigned long long)in->verifications, (unsigned long long)in->records_written);
	if (in->rk != NULL) {
		kafka_unwatch_queue(d, &in->qw);
		if (in->rkt != NULL)
			rd_kafka_topic_destroy(in->rkt);
		rd_kafka_destroy(in->rk);
	}
	while (in->pending != NULL) {
		struct pending *p = in->pending;

		in->pending = p->next;
		pending_free(p);
	}
	while (in->unrecorded != NULL) {
		struct unrecorded *u = in->unrecorded;

		in->unrecorded = u->next;
		unrecorded_free(u);
	}
	free(in->floors);
	tids_policy_schemas_free(in->schemas);
	free(in);
	d->ingest = NULL;
}
