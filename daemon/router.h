/*
 * The router's private state, shared by router.c (thread, Kafka,
 * transactions), route.c (decisions per record), audit.c (hash chains and
 * checkpoints), aggregate.c (windows) and state.c (the state topic).
 *
 * The router runs in a thread of its own because librdkafka's transaction
 * calls block (commit_transaction should be given the whole transaction
 * timeout), and a Kafka outage must not freeze the sessions. It shares
 * nothing mutable with the main loop: the loop posts registry changes to
 * its inbox, and the router owns the policy facts from then on.
 */
#ifndef TIDSD_ROUTER_H
#define TIDSD_ROUTER_H

#include <pthread.h>
#include <stdatomic.h>

#include "delivery_hash.h"
#include "metrics.h"
#include "tids/buf.h"
#include "tids/map.h"
#include "tids/seal.h"
#include "tids/secmem.h"
#include "tidsd.h"

#define ROUTER_BATCH_MAX 2000
#define ROUTER_BATCH_MS 5
#define ROUTER_PARTITIONS_MAX 1024
#define ROUTER_WINDOW_GRACE_MS 2000
#define TXN_SLOTS 2                          /* transactional producers, used in turn */
#define TXN_HIST_MS 2000                     /* commit times kept to the ms up to this */

enum router_msg_kind {
	RM_PARTICIPANT, RM_ASSET, RM_GRANT, RM_REVOKE, RM_APPROVAL, RM_SUBSCRIBER, RM_POLICY,
	RM_REVOKE_APPROVAL,
	/* Federation: a peer hub (id), a participant or subscriber no longer
	 * known (a peer's directory dropped or conflicts on it). */
	RM_PEER, RM_FORGET_PARTICIPANT, RM_FORGET_SUBSCRIBER,
};

struct router_msg {
	struct router_msg *next;
	enum router_msg_kind kind;
	char id[TIDS_ID_MAX + 1];
	struct tids_policy_set *policy;      /* RM_POLICY: ownership passes */
	uint8_t key[TIDS_SEAL_KEY_BYTES];    /* RM_GRANT: its data key (wiped once applied) */
	size_t len;
	uint8_t blob[];                      /* serialized entry (or purposes text) */
};

struct chain {
	uint64_t seq;                        /* last entry written, 0 = none */
	uint8_t head[TIDS_HASH_BYTES];
	uint64_t since_checkpoint;
	int64_t last_checkpoint_ms;
	bool dirty;                          /* write its state in this transaction */
};

/* The last head of a chain signed (a checkpoint's, or a receipt's): reused
 * while the chain has not moved, so a head is signed at most once. Apart
 * from struct chain, which a state reload wipes. */
struct signed_head {
	uint8_t *bytes;                      /* serialized AuditCheckpoint */
	size_t len;
	uint64_t seq;
	uint8_t hash[TIDS_HASH_BYTES];
};

/* A delivery made in this transaction, held until the heads of the chains
 * that record it are signed: its receipt goes with it (receipts.c). */
struct dest;
struct held_delivery {
	struct dest *dest;                   /* its recipient's topic */
	uint8_t key[TIDS_RECORD_ID_BYTES];
	size_t off, len;                     /* its envelope, in held_deliveries.buf */
	int64_t timestamp_ms;                /* its record's ingress time (router.ingress_ts) */
	bool bound;                          /* its audit entry is known: */
	int32_t partition;
	uint64_t seq;
	uint8_t entry_hash[TIDS_HASH_BYTES];
};

/* Reused from one transaction to the next: nothing allocated per
 * delivery once they have grown to the load. */
struct held_deliveries {
	struct held_delivery *items;
	size_t n, cap;
	struct tids_buf buf;                 /* their envelopes, one after the other */
};

/* Held deliveries leave when the transaction ends, or sooner once they
 * hold this much: the router's memory stays bounded whatever the record
 * size (one more signature per chain per MiB of deliveries). */
#define RECEIPTS_HOLD_BYTES (1024 * 1024)

/* Entries of one chain made in this transaction, not yet produced: they
 * leave in one Kafka message per AUDIT_BATCH_MAX entries. They are
 * written straight into that message (an AuditLogRecord whose key and
 * length go into the AUDIT_HEAD bytes kept free at its start). */
#define AUDIT_BATCH_MAX 500
#define AUDIT_BATCH_BYTES (512 * 1024)
#define AUDIT_HEAD 6

struct audit_pending {
	struct tids_buf msg;
	size_t n;
};

/* Where deliveries to one recipient go, resolved once rather than per
 * delivery: its topic and the producer's handle of it, and its
 * jurisdiction for the audit entries (read again when a participant
 * changes). */
struct dest {
	char id[TIDS_ID_MAX + 1];
	char topic[320];
	rd_kafka_topic_t *rkt[TXN_SLOTS];    /* each producer's handle of it */
	uint64_t producer_gen[TXN_SLOTS];
	uint64_t participants_gen;           /* jurisdiction read at */
	char jurisdiction[32];
};

struct grant_key {
	char id[TIDS_ID_MAX + 1];
	uint8_t *key;                        /* a slot of the router's key pool (guarded memory) */
};

/* The router's own copies of the keys it uses, in guarded memory. */
struct router_keys {
	uint8_t ingress[TIDS_SEAL_KEY_BYTES];    /* opens the ingress topic */
	uint8_t delivery[TIDS_SEAL_KEY_BYTES];   /* seals deliveries no grant carries */
	uint8_t state_mac[TIDS_SEAL_KEY_BYTES];  /* authenticates state entries */
};

struct count {
	char key[TIDS_ID_MAX * 3 + 64];      /* "uses/<grant>" or "counter/<name>/<key>/<period>" */
	int32_t partition;                   /* whose state partition holds it (the decision's) */
	uint64_t value;
	bool dirty;
};

/* The last (sequence, leaf) of a publisher routed from one partition; or
 * (import) the last position of a peer hub's forwards routed from it. */
struct seen {
	char key[TIDS_ID_MAX + 32];          /* "seen/<partition>/<publisher>" or "imported/<partition>/<hub>" */
	char publisher[TIDS_ID_MAX + 1];     /* or the peer hub */
	int32_t partition;
	uint64_t sequence;                   /* or the position */
	uint32_t leaf_index;
	bool import;
	bool dirty;
};

struct window {
	char key[1024];                      /* "window/<owner>/<recipient>/<purpose>/<category>/..." */
	char recipient[TIDS_ID_MAX + 1];
	char purpose[TIDS_NAME_MAX + 1];
	char function[TIDS_NAME_MAX + 1];
	char field[TIDS_NAME_MAX + 1];
	char group[512];
	char owner[TIDS_ID_MAX + 1];
	char asset_id[TIDS_ID_MAX + 1];
	char category[TIDS_NAME_MAX + 1];
	char origin[16];
	char grant_id[TIDS_ID_MAX + 1];
	char rule_ids[8][TIDS_ID_MAX + 1];
	size_t n_rules;
	enum tids_tier tier;
	int64_t start_ms;
	int64_t window_ms;                   /* this window's length */
	int64_t window_months;               /* the obligation's, when in calendar months */
	int32_t partition;                   /* chain its emission is audited on */
	uint64_t count;
	double sum, min, max;
	bool dirty;                          /* write it in this transaction */
	bool emitted;                        /* delete its state in this transaction */
};

/* Topic handles are kept: producing by name makes librdkafka search its
 * topic list for every message, and a hub has a topic per participant. */
struct topic_handle {
	char name[256];
	rd_kafka_topic_t *rkt;
};

/* One of the router's transactional producers (txn.c). busy, flushed and
 * records are the committer's to change, under txn_lock. */

struct txn_slot {
	rd_kafka_t *producer;
	rd_kafka_queue_t *pq;                /* its logs and errors */
	struct tids_map topics;              /* name -> struct topic_handle */
	char id[320];                        /* transactional.id */
	uint64_t gen;                        /* topic handles belong to it */
	bool open;                           /* a transaction the router is producing */
	bool busy;                           /* produced into, not committed yet */
	bool flushed;                        /* what it produced is written */
	size_t records;
	int64_t handed_ms;
	rd_kafka_topic_partition_list_t *offsets;    /* where the transaction moves routing to (NULL: nowhere) */
	struct metrics_route_stage stage;    /* its counts, added to the metrics if it commits */
};

struct router {
	pthread_t thread;
	bool started;
	atomic_int stop;

	pthread_mutex_t lock;
	struct router_msg *inbox, **inbox_tail;
	int inbox_fd;                        /* eventfd: wakes the router */

	/* Copied at start: the main loop may swap its config on reload. */
	rd_kafka_conf_t *conf_producer;      /* the kafka.* properties each kind of client uses */
	rd_kafka_conf_t *conf_consumer;
	char hub_id[TIDS_ID_MAX + 1];
	char t_ingress[256], t_audit[256], t_state[256], t_deliver_prefix[256];
	char group_id[280], instance_id[360];
	/* Each producer's transactional id: this instance's own, distinct from
	 * every other instance's, the same at each of its starts (txn_open). */
	char txn_ids[TXN_SLOTS][300];
	int64_t checkpoint_entries, checkpoint_ms;
	const struct tids_identity *hub;     /* the daemon's (guarded memory); never changes */
	struct router_keys *keys;
	struct tids_secmem_pool *key_pool;   /* grant keys */
	uint64_t state_seq;                  /* of the last state entry written or read */
	/* Where routing resumes on each ingress partition, -1 when the state
	 * topic does not say (the group's committed offset then): kept in
	 * the state topic, in the transaction that routes up to it. */
	int64_t next_offset[ROUTER_PARTITIONS_MAX];
	bool next_dirty[ROUTER_PARTITIONS_MAX];
	bool load_failed;                    /* at an assignment: start over */
	size_t state_refused;                /* entries refused at the last load */

	struct tids_policy_set *policy;
	struct tids_policy_facts *facts;
	const struct tids_policy_tz *tz;     /* hub.timezone: its calendar (immutable, the main loop's) */
	struct tids_map subscribers;         /* id -> struct subscriber */
	struct tids_map assets;              /* id -> struct tids_asset */
	struct tids_map participants;        /* id -> struct tids_participant */
	struct tids_map grant_keys;          /* id -> struct grant_key */
	struct tids_map counts;              /* key -> struct count */
	struct tids_map windows;             /* key -> struct window */
	struct tids_map seen;                /* key -> struct seen */
	struct tids_map dests;               /* recipient -> struct dest */
	uint64_t producer_gen, participants_gen;
	struct tids_map peers;               /* hub id -> its outbound topic name (malloc'd) */
	char t_out_prefix[256];              /* "<prefix>.<hub>.out." */

	rd_kafka_t *consumer;
	rd_kafka_t *producer;                /* the slot's that takes the next batch */
	rd_kafka_queue_t *cq;
	struct txn_slot slot[TXN_SLOTS];
	int cur;

	/* The committer thread (txn.c). */
	pthread_t committer;
	bool committer_started;
	pthread_mutex_t txn_lock;
	pthread_cond_t txn_cond;
	int txn_q[TXN_SLOTS], txn_qn;        /* slots to commit, in order */
	bool txn_failed, txn_quit;
	char txn_why[256];
	rd_kafka_resp_err_t txn_code;        /* and its code */
	int commit_fd;                       /* eventfd: a slot was flushed or committed */
	/* Times after routing, ms: the flush, the commit, both. */
	uint64_t flush_hist[TXN_HIST_MS + 1], commit_hist[TXN_HIST_MS + 1], txn_hist[TXN_HIST_MS + 1];
	int cq_pipe[2];
	struct chain chains[ROUTER_PARTITIONS_MAX];
	struct audit_pending audit_pending[ROUTER_PARTITIONS_MAX];
	struct held_deliveries held;
	struct signed_head signed_heads[ROUTER_PARTITIONS_MAX];
	bool assigned;                       /* holds ingress partitions now */
	bool owned[ROUTER_PARTITIONS_MAX];   /* which ones */
	int64_t session_timeout_ms;
	int64_t prefetch;                    /* router.prefetch, bytes */
	struct kafka_read_ahead read_ahead;  /* the consumer's */

	/* The record being routed: decided at one time, and encoded once for
	 * the recipients that receive it unchanged. */
	int64_t now;
	struct tids_buf record_bytes;
	bool record_encoded;
	struct delivery_hash record_hash;    /* its deliveries' shared head, hashed once */
	struct tids_buf scratch, sealed;     /* a delivery's envelope, reused */
	struct dest *last_dest;              /* route_dest's last answer */
	struct tids_buf opened;              /* a sealed ingress record's plaintext, wiped after it */
	struct seen *last_seen[ROUTER_PARTITIONS_MAX];   /* the publisher last routed per partition */

	rd_kafka_message_t *batch[ROUTER_BATCH_MAX];
	size_t n_batch;
	int64_t batch_started;
	int64_t last_maintenance;

	atomic_ulong records, decisions, deliveries, denials, transactions, skipped, duplicates;
	struct metrics *metrics;             /* the daemon's; counted at commit */
	struct metrics_route_stage stage;    /* this transaction's counts */
	/* The Kafka timestamp of the ingress record being routed (when ingest
	 * took it), given to its deliveries so that egress can measure
	 * publish-to-delivery latency; 0 between records (aggregates). */
	int64_t ingress_ts;
	atomic_ulong exported, imported;
	bool last_permitted;                 /* what route_decide decided last */
};

/* What route.c knows about the record being routed, for the decisions on
 * it: the message, its envelope, the record and its bytes as received. */
struct route_ctx {
	const rd_kafka_message_t *m;
	const struct tids_ingress_record *ir;
	const struct tids_record *rec;
	const uint8_t *bytes;                /* the record as received (published, or forwarded) */
	size_t len;
};

/* route.c: decides one ingress record for every candidate; produces. */
void route_entry_for(struct router *rt, const struct tids_record *rec, const rd_kafka_message_t *m,
		     const char *recipient, const char *purpose, struct tids_audit_entry *e);
int route_message(struct router *rt, const rd_kafka_message_t *m);
/* Produces a Delivery to recipient's topic (sealed when it must be) and
 * returns the BLAKE2b-256 of the plaintext delivery in hash. record_bytes,
 * when set, is del->record already encoded. */
int route_produce_delivery(struct router *rt, const char *recipient, const struct tids_delivery *del,
			   const char *grant_id, const struct tids_bytes *record_bytes, uint8_t hash[TIDS_HASH_BYTES]);
/* The recipient's destination (NULL: out of memory). */
struct dest *route_dest(struct router *rt, const char *recipient);
/* The current producer's handle of its topic (NULL: out of memory). */
rd_kafka_topic_t *route_dest_topic(struct router *rt, struct dest *d);
void route_dests_clear(struct router *rt);

/* txn.c */
int txn_init(struct router *rt);
void txn_free(struct router *rt);
/* Both producers, their transactions initialised; conf_for makes the
 * configuration of one (transactional.id id). 0 or -1. */
int txn_open(struct router *rt, rd_kafka_conf_t *(*conf_for)(struct router *rt, const char *id));
/* Waits for the commits in flight, then drops the producers. */
void txn_close(struct router *rt);
/* May a transaction begin in the current producer? */
bool txn_ready(struct router *rt);
rd_kafka_error_t *txn_begin(struct router *rt);
void txn_abort(struct router *rt);
/* The current transaction goes to the committer; the other producer is
 * current. offsets (taken) say where it moves routing to, for each
 * partition held: the committer sends them to the consumer group in the
 * transaction, which fences an instance the group has dropped. */
void txn_hand_off(struct router *rt, size_t records, rd_kafka_topic_partition_list_t *offsets);
/* Waits until every commit handed off is done: 0, or -1 if one failed. */
int txn_wait_idle(struct router *rt);
bool txn_failed(struct router *rt, char *why, size_t len, rd_kafka_resp_err_t *code);
/* Logs how long transactions took. */
void txn_log_stats(struct router *rt);

/* route_export.c: a recipient at a peer hub. */
/* The peer hub serving recipient, or NULL when it is one of ours. A
 * recipient of a hub that is not our peer has hub set to its home hub and
 * the return value NULL (and *unreachable true). */
const char *route_peer_of(struct router *rt, const char *recipient, bool *unreachable);
/* Writes a forward of del for recipient at peer hub to that hub's outbound
 * topic, in the batch's transaction; ctx is NULL for an aggregate. The
 * export's audit entry will be (entry_partition, entry_seq). hash gets the
 * BLAKE2b-256 of the forwarded record's bytes. */
int route_export(struct router *rt, const char *hub, const char *recipient, const struct tids_delivery *del,
		 const struct route_ctx *ctx, int32_t entry_partition, uint8_t hash[TIDS_HASH_BYTES]);
/* route_import.c: a record a peer forwarded here. */
int route_import(struct router *rt, const struct route_ctx *ctx);
/* route_statistics.c: a hub's statistics (ours, or forwarded here). */
int route_statistics(struct router *rt, const struct route_ctx *ctx);
/* Adds a forward's obligations (the exporting hub's duties) to o, the
 * most restrictive of both; storage for the lists in buf. */
struct oblig_merge {
	const char *redacted[2 * TIDS_FIELDS_MAX];
	const char *purposes[2 * TIDS_LIST_MAX];
	const char *lists[TIDS_POLICY_OB_LISTS][2 * TIDS_LIST_MAX];   /* the vocabulary's */
};
void route_merge_obligations(struct tids_obligations *o, const struct tids_obligations *theirs,
			     struct oblig_merge *buf);
/* route.c: one decision (shared with route_import.c). onward: the record
 * was forwarded here for another recipient or purpose. The recipient may be
 * this hub itself (its statistics): the decision is audited, nothing is
 * delivered. rt->last_permitted says what was decided. */
int route_decide(struct router *rt, const struct route_ctx *ctx, const char *recipient, const char *purpose,
		 bool onward);

/* audit.c */
int audit_append(struct router *rt, int32_t partition, struct tids_audit_entry *e);
int audit_checkpoint(struct router *rt, int32_t partition);
/* Time-based checkpoints of every chain with entries since its last. */
int audit_checkpoints_due(struct router *rt, int64_t now);
/* Every chain with entries since its last checkpoint (at stop). */
int audit_checkpoints_all(struct router *rt);
/* Produces the entries waiting in every chain (end of a transaction). */
int audit_flush_all(struct router *rt);
/* Forgets them (the transaction is abandoned). */
void audit_discard_all(struct router *rt);

/* receipts.c: every delivery carries a receipt, the hub's signed head of
 * its entry's chain, one signature per chain per transaction. */
/* Holds a copy of an encoded envelope for dest until release. */
int receipts_hold(struct router *rt, struct dest *dest, const uint8_t key[TIDS_RECORD_ID_BYTES],
		  const uint8_t *value, size_t len);
/* The audit entry (partition, seq, chain hash after it) of the delivery
 * held last: audit_append calls it for every entry with a delivered_hash.
 * Releases what is held once it reaches RECEIPTS_HOLD_BYTES. */
int receipts_bind(struct router *rt, int32_t partition, uint64_t seq, const uint8_t entry_hash[TIDS_HASH_BYTES]);
/* Signs the head of each chain the held deliveries' entries are on, adds
 * each one's receipt and produces it (end of a transaction, or when they
 * hold too much). */
int receipts_release(struct router *rt);
/* Forgets them (the transaction is abandoned). */
void receipts_discard(struct router *rt);
/* A head just signed (a checkpoint): kept for the receipts. */
void receipts_remember_head(struct router *rt, const struct tids_audit_checkpoint *cp);
/* Frees the held deliveries and the signed heads kept. */
void receipts_free(struct router *rt);

/* aggregate.c */
int aggregate_add(struct router *rt, int32_t partition, const struct tids_record *rec, const char *recipient,
		  const char *purpose, const struct tids_policy_decision *dec);
int aggregate_emit_due(struct router *rt, int64_t now);
void aggregate_clear(struct router *rt);
/* The aggregate record's id: derived from the window, so stable. */
void aggregate_record_id(const struct window *w, uint8_t id[TIDS_RECORD_ID_BYTES]);

/* state.c */
/* Forgets the router's state and reads that of the partitions it owns
 * (rt->owned) from the state topic, each to its end: 0 or -1. */
int state_load(struct router *rt);
int state_write_dirty(struct router *rt);
/* Adds amount to the count under key, kept on partition's state (marking
 * it for writing); returns it. */
uint64_t state_count_add(struct router *rt, int32_t partition, const char *key, uint64_t amount);
/* Is (publisher, sequence, leaf) on partition new? If so, remember it. */
bool state_first_time(struct router *rt, int32_t partition, const char *publisher, uint64_t sequence,
		      uint32_t leaf_index);
/* Is a peer hub's forward at position new on partition? If so, remember it.
 * (One link writes a peer's forwards in order: a copy sent again after a
 * lost ack is at or below the last one routed.) */
bool state_first_import(struct router *rt, int32_t partition, const char *hub, uint64_t position);
void state_clear(struct router *rt);
int state_window_restore(struct router *rt, int32_t partition, const char *key, const struct tids_aggregate_window *w);

/* router.c */
int router_produce(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		   uint8_t *value, size_t len);
/* Produces a copy of value to a topic handle (value stays the caller's). */
int router_produce_copy(struct router *rt, rd_kafka_topic_t *rkt, int32_t partition, const void *key,
			size_t key_len, const uint8_t *value, size_t len, int64_t timestamp_ms);
rd_kafka_topic_t *router_topic(struct router *rt, const char *name);
/* The same with Kafka headers (takes them, whatever the outcome). */
int router_produce_h(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		     uint8_t *value, size_t len, rd_kafka_headers_t *headers);
/* The same with the message's timestamp (0: now). */
int router_produce_at(struct router *rt, const char *topic, int32_t partition, const void *key, size_t key_len,
		      uint8_t *value, size_t len, int64_t timestamp_ms);

#endif
