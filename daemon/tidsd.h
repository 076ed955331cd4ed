/*
 * tidsd's private header: the daemon state that the one event loop owns,
 * and the interface of each role (one file per role, as in the process
 * diagram of DESIGN §2).
 */
#ifndef TIDSD_H
#define TIDSD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "policy.h"
#include "tids/buf.h"
#include "tids/channel.h"
#include "tids/crypto.h"
#include "tids/log.h"
#include "tids/noise.h"
#include "tids/wire.h"

#define TIDSD_VERSION "0.1.0"
#define TIDSD_TICK_MS 100

struct tidsd;
struct session;
struct subscriber;

/* --- fatal (only the daemon decides what is fatal) ----------------------- */

__attribute__((noreturn, format(printf, 1, 2))) void fatalx(const char *fmt, ...);
int64_t now_ms(void);          /* wall clock, Unix ms */
int64_t mono_ms(void);         /* monotonic clock, ms */

/* --- config.c ------------------------------------------------------------ */

enum kafka_mode { KAFKA_EXTERNAL, KAFKA_EMBEDDED };

struct kafka_prop {
	char *name;                /* librdkafka property, without "kafka." */
	char *value;
	unsigned line;
};

struct config {
	char *path;
	char *hub_id;
	char *jurisdiction;
	char *instance;            /* this instance's name among the hub's (hub.instance, else the host name) */
	char *hub_key;             /* identity key file of the hub */
	char *master_key;          /* file with the key that wraps data keys */
	char *timezone;            /* hub.timezone: the zone of the hub's calendar */
	char *epoch_key;           /* file with the epoch key that wraps grant keys */
	char *listen_tcp;          /* "host:port"; "" disables */
	char *listen_unix;         /* path; "" disables */
	char *metrics_listen;      /* "host:port" of /metrics and /health; "" disables */
	char *state_dir;
	char *policy_dir;
	int kafka_mode;
	char *topic_prefix;
	int64_t partitions;
	int64_t replication;
	struct kafka_prop *kafka;
	size_t n_kafka;
	int64_t max_connections;   /* TCP connections (the admin socket has its own budget) */
	int64_t max_handshakes;    /* TCP connections still in their handshake */
	int64_t max_handshakes_per_address;
	int64_t max_admin_connections;
	int64_t frame_max;
	int64_t idle_timeout_ms;
	int64_t handshake_timeout_ms;
	int64_t send_buffer;       /* bytes queued for one connection before it is paused */
	int64_t publish_timeout_ms;
	int64_t publish_in_flight; /* publishes of one connection awaiting Kafka before it is not read */
	char *admin_keys;          /* comma-separated base64 Ed25519 keys allowed Admin over TCP */
	uint8_t (*admin_key)[TIDS_PUBLIC_KEY_BYTES];
	size_t n_admin_keys;
	int64_t admin_gid;         /* Unix socket: this group (primary or supplementary) may administer (-1: root and our uid only) */
	int log_level;
	int64_t checkpoint_entries;
	int64_t checkpoint_interval_ms;
	int64_t ledger_cache;      /* bytes of SQLite page cache for the indexer */
	int64_t indexer_prefetch;  /* bytes of Kafka data the indexer reads ahead */
	int64_t router_prefetch;   /* bytes of ingress records the router reads ahead */
	bool ledger;               /* keep the ledger in this instance */
	int64_t link_timeout_ms;   /* a peer link silent this long is dialled again */
	int64_t statistics_period_ms;   /* signed statistics of every period this long... */
	int64_t statistics_delay_ms;    /* ...made this long after it ends */
	bool router;               /* route ingress in this process */
	int64_t router_session_timeout_ms;   /* silent this long: its partitions go to the other instances */
};

/* Reads path into a new config. On error, prints nothing: each problem is
 * appended to errs as "file:line: message\n". */
int config_load(const char *path, struct config **out, struct tids_buf *errs);
void config_free(struct config *c);
/* Keeps old values of options that cannot change without a restart, and
 * says which in the log. */
void config_carry_over(const struct config *old, struct config *next);
/* tidsd -i NAME: this instance's name, over hub.instance. */
int config_set_instance(struct config *c, const char *name, char *err, size_t errlen);
/* Applies the kafka.* pass-through properties that a client of this type
 * uses (librdkafka's property table says which) to conf. */
int config_kafka(const struct config *c, rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen);
/* Does librdkafka use property name in a client of this type? */
bool config_kafka_applies(const char *name, rd_kafka_type_t type);
/* state_dir/name into buf. */
void config_state_path(const struct config *c, const char *name, char *buf, size_t len);

/* --- loop.c -------------------------------------------------------------- */

struct watch {
	int fd;
	void (*on_event)(struct tidsd *d, struct watch *w, uint32_t events);
	void *ctx;
	uint32_t events;
};

int loop_init(struct tidsd *d);
void loop_free(struct tidsd *d);
int loop_add(struct tidsd *d, struct watch *w, uint32_t events);
int loop_mod(struct tidsd *d, struct watch *w, uint32_t events);
void loop_del(struct tidsd *d, struct watch *w);
/* Runs until a stop is requested. */
void loop_run(struct tidsd *d);
/* Waits for events up to timeout_ms and dispatches them (used while draining). */
void loop_once(struct tidsd *d, int timeout_ms);

/* --- systemd.c: sd_notify without libsystemd ------------------------------ */

void sd_ready(void);
void sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sd_stopping(void);
void sd_reloading(void);
/* The start (or stop) goes on: systemd gives it ms more. */
void sd_extend_timeout(int64_t ms);
/* Pings the watchdog when due (every half of WATCHDOG_USEC). */
void sd_watchdog_tick(int64_t mono);

/* --- store.c: SQLite registry ------------------------------------------- */

struct store;

int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
/* Commits the open batch of writes (called each tick and before replies
 * that promise durability). On failure (a full disk) none of the batch
 * was written: it is rolled back, and the next write starts a new one. */
int store_commit(struct store *s);
bool store_dirty(const struct store *s);

enum store_kind { STORE_PARTICIPANT, STORE_ASSET, STORE_PEER, STORE_GRANT, STORE_APPROVAL, STORE_SUBSCRIPTION };
/* Entries are kept as the serialized protobuf that passed the gate; they
 * pass it again when loaded. */
int store_put(struct store *s, enum store_kind kind, const char *id, const uint8_t *blob, size_t len);
int store_delete(struct store *s, enum store_kind kind, const char *id);
typedef int store_each_fn(void *ctx, const char *id, const uint8_t *blob, size_t len);
int store_each(struct store *s, enum store_kind kind, store_each_fn *fn, void *ctx);
int store_get_u64(struct store *s, const char *ns, const char *key, uint64_t *value);
int store_set_u64(struct store *s, const char *ns, const char *key, uint64_t value);
int store_get_blob(struct store *s, const char *ns, const char *key, uint8_t *buf, size_t cap, size_t *len);
int store_set_blob(struct store *s, const char *ns, const char *key, const uint8_t *buf, size_t len);
int store_delete_key(struct store *s, const char *ns, const char *key);
int store_each_kv(struct store *s, const char *ns, store_each_fn *fn, void *ctx);
/* The view of the hub state starts over (hubstate.c): every entry, and a
 * namespace of the kv table. */
int store_clear_entries(struct store *s);
int store_clear_ns(struct store *s, const char *ns);
int64_t store_count_entries(struct store *s);
/* Only the keys of ns that start with prefix. */
int store_each_kv_prefix(struct store *s, const char *ns, const char *prefix, store_each_fn *fn, void *ctx);
/* Deletes the keys of ns that start with prefix except the newest `keep`
 * (in key order) and those also present in ns `unless`. */
int store_trim_kv(struct store *s, const char *ns, const char *prefix, unsigned keep, const char *unless);
/* Abandons the open batch of writes (after one of them failed, or its
 * commit: whatever SQLite still holds open of it). */
void store_rollback(struct store *s);
/* Commits, then copies the WAL into the database and truncates it, so that
 * no older version of a row stays on disk. */
int store_checkpoint(struct store *s);

/* --- registry.c: participants, assets, peers, grants, approvals in memory -- */

#define UNACKED_MAX 64

struct participant {
	struct tids_participant p;      /* owns its strings */
	uint8_t dh_pk[TIDS_DH_KEY_BYTES];
	uint64_t batch_seq;             /* highest accepted PublishBatch.sequence */
	/* Batches accepted by an earlier run of tidsd and never acknowledged:
	 * the publisher must publish them again before anything new, so that
	 * copies never follow newer records (see ingest.c). */
	uint64_t unacked[UNACKED_MAX];
	size_t n_unacked;
};

/* From the view (SQLite); hubstate.c keeps both current from the topic. */
int registry_load(struct tidsd *d);
void registry_free(struct tidsd *d);
const struct participant *registry_participant(const struct tidsd *d, const char *id);
struct participant *registry_participant_mut(struct tidsd *d, const char *id);
const struct participant *registry_by_dh_key(const struct tidsd *d, const uint8_t dh_pk[TIDS_DH_KEY_BYTES]);
const struct tids_asset *registry_asset(const struct tidsd *d, const char *id);
/* Is p new to this instance (not in its view)? */
bool registry_knows_participant(const struct tidsd *d, const char *id);
/* Grants past their end are revoked (through the hub state). */
void registry_expire_grants(struct tidsd *d, int64_t now);
typedef void registry_peer_fn(struct tidsd *d, const struct tids_peer *p, void *ctx);
void registry_each_peer(struct tidsd *d, registry_peer_fn *fn, void *ctx);
/* Standing subscriptions, for our directory. */
typedef void registry_subscriber_fn(void *ctx, const struct subscriber *s);
void registry_each_subscriber(struct tidsd *d, registry_subscriber_fn *fn, void *ctx);
typedef void registry_participant_fn(void *ctx, const struct participant *p);
void registry_each_participant(struct tidsd *d, registry_participant_fn *fn, void *ctx);
/* Consent another hub issued (its hub_id) and sent us, kept by each
 * instance that links to that hub (not on the hub state): known here as
 * id@hub (registry_consent_id). The import functions store and index it
 * (1: held already); the signer was checked by the caller. */
bool registry_consent_id(const struct tidsd *d, const char *id, const char *hub_id, char buf[TIDS_ID_MAX + 1]);
int registry_import_grant(struct tidsd *d, const char *id, const uint8_t *blob, size_t len, char *err, size_t errlen);
int registry_import_approval(struct tidsd *d, const char *id, const uint8_t *blob, size_t len, char *err,
			     size_t errlen);
/* Revokes what hub issued and keep() does not keep: grants lose their data
 * key (their deliveries here become unreadable), approvals stop counting. */
typedef bool registry_keep_fn(void *ctx, bool grant, const char *id);
void registry_revoke_imported(struct tidsd *d, const char *hub, registry_keep_fn *keep, void *ctx);
typedef void registry_grant_fn(void *ctx, const struct tids_grant *g);
void registry_each_grant(struct tidsd *d, registry_grant_fn *fn, void *ctx);
/* Unrevoked approvals only. */
typedef void registry_approval_fn(void *ctx, const struct tids_approval *a);
void registry_each_approval(struct tidsd *d, registry_approval_fn *fn, void *ctx);
/* Is there a valid, unrevoked case (approval of kind purpose with a case
 * id) naming recipient, signed by an active participant? */
bool registry_case_open(const struct tidsd *d, const char *recipient, const char *purpose, int64_t now);
/* Equal, or covering is covered's country (CN covers CN-SH); "" covers nothing. */
bool jurisdiction_covers(const char *covering, const char *covered);

/* Standing subscriptions: the purposes a participant receives data for.
 * The router considers every subscriber a candidate recipient. */
#define SUBSCRIPTION_PURPOSES_MAX 8
struct subscriber {
	char id[TIDS_ID_MAX + 1];
	char purposes[SUBSCRIPTION_PURPOSES_MAX][TIDS_NAME_MAX + 1];
	size_t n_purposes;
};

/* --- hubstate.c: the hub's state on Kafka ---------------------------------- */

/* Kinds of entry on the registry topic (Kafka key "<prefix>/<id>"); the
 * table in hubstate.c gives each its prefix. */
enum hs_kind {
	HS_HUB,                    /* "hub": the hub's identity and genesis */
	HS_HUBKEY,                 /* "hubkey/ingress": the hub data key, wrapped */
	HS_PARTICIPANT, HS_ASSET, HS_PEER,
	HS_GRANT,                  /* body: SignedGrant, with its wrapped key; empty: revoked */
	HS_APPROVAL,               /* body: SignedApproval; revoked_at_ms once revoked */
	HS_SUBSCRIPTION,           /* body: the purposes, one per line */
	HS_KIND_COUNT
};

/* What a change asks; registry_prepare turns it into entries. */
enum hs_op {
	HS_PUT_PARTICIPANT, HS_PUT_ASSET, HS_PUT_PEER, HS_SUSPEND, HS_PUT_GRANT, HS_REVOKE_GRANT, HS_EXPIRE_GRANT,
	HS_PUT_APPROVAL, HS_REVOKE_APPROVAL, HS_SUBSCRIBE, HS_BOOTSTRAP,
};

struct hs_request {
	enum hs_op op;
	const uint8_t *blob;       /* the thing as sent (participant, signed grant, ...) or purposes text */
	size_t len;
	const char *id;            /* suspend, revoke, expire, subscribe: whose */
	bool flag;                 /* suspend: suspended */
	const char *caller;        /* the calling participant; NULL: the local admin or the hub */
	const char *actor;         /* who, for the change log */
};

struct hs_item {
	enum hs_kind kind;
	char id[TIDS_ID_MAX + 1];
	uint8_t *body;
	size_t len;
	uint8_t wrapped[TIDS_HUB_WRAPPED_KEY_BYTES];
	bool has_key;
	int64_t revoked_at_ms;
};

struct hs_batch {
	struct hs_item *items;
	size_t n, cap;
};

/* Copies body. 0 or TIDS_ENOMEM. */
int hs_batch_add(struct hs_batch *b, enum hs_kind kind, const char *id, const uint8_t *body, size_t len,
		 const uint8_t *wrapped, int64_t revoked_at_ms);
void hs_batch_free(struct hs_batch *b);

/* registry.c: the entries a change writes, checked against the registry
 * as this instance has it: 0 with b filled (b->n == 0: nothing changes),
 * or a TIDS_E* code with err saying what is wrong. */
int registry_prepare(struct tidsd *d, const struct hs_request *rq, struct hs_batch *b, char *err, size_t errlen);
/* registry.c: applies one entry of the hub state to the view and memory:
 * through its gate, indexed, given to the router; no referential checks
 * (the writer made them, and compaction may reorder what it keeps). */
int registry_apply(struct tidsd *d, enum hs_kind kind, const char *id, const struct tids_hub_state *e,
		   char *err, size_t errlen);

/* Before the registry loads: checks that the view belongs to the topic
 * (rebuilding it if it does not). Needs Kafka. */
int hubstate_open(struct tidsd *d);
/* After it loads: catches up with the topic, makes a new hub's identity
 * and data key (or publishes a pre-cluster registry), checks that this
 * instance's hub key is the hub's; then applies entries as they come. */
int hubstate_start(struct tidsd *d);
void hubstate_free(struct tidsd *d);
/* Makes a change: checked now against this instance's view, written to
 * the topic under the writer role (which one instance of the hub holds at
 * a time), checked again if another instance changed the state first, and
 * answered (done, with ctx, which it owns) once this instance has applied
 * it. s, if any, waits meanwhile: its later calls follow. */
typedef void hs_done_fn(struct tidsd *d, struct session *s, uint64_t call_id, void *ctx, int r, const char *err);
void hubstate_change(struct tidsd *d, struct session *s, uint64_t call_id, const struct hs_request *rq,
		     hs_done_fn *done, void *ctx);
/* Is a change of op for id waiting? (so that expiries are asked once) */
bool hubstate_pending(const struct tidsd *d, enum hs_op op, const char *id);
/* The session is going away: its changes go on, unanswered. */
void hubstate_forget_session(struct tidsd *d, struct session *s);
void hubstate_tick(struct tidsd *d);

/* --- policyload.c: compile the policy dir's .tidspol files ------------------ */

/* Compiles every *.tidspol of dir; on failure writes each diagnostic to errs. */
int policy_load_dir(const char *dir, struct tids_policy_set **out, struct tids_buf *errs);
/* The hub's calendar (hub.timezone): its TZif data read from the zoneinfo
 * directory and checked. "UTC" needs no file. err says what is wrong. */
int timezone_load(const char *name, const struct tids_policy_tz **out, char *err, size_t errlen);

/* --- purposes.c: who may ask for which purposes ----------------------------- */

struct purposes;
/* Copies the purpose declarations of set (at load and on reload, before the
 * set goes to the router). 0 or TIDS_ENOMEM, which keeps the old ones. */
int purposes_set(struct tidsd *d, const struct tids_policy_set *set);
void purposes_free(struct tidsd *d);
/* May participant p subscribe for these purposes? Its role must be allowed
 * each (the policies' `purposes` declarations), its "purposes" attribute,
 * when the hub set one, must list it, and a purpose that needs a case needs
 * an open one naming p. 0, or TIDS_EPERM with err naming purpose and role. */
int purposes_check_subscribe(struct tidsd *d, const struct tids_participant *p,
			     const struct tids_strlist *purposes, char *err, size_t errlen);
/* Does purpose (an approval's kind) need a case? */
bool purposes_needs_case(const struct tidsd *d, const char *purpose);
/* May a participant of role open a case for purpose? */
bool purposes_case_role(const struct tidsd *d, const char *purpose, const char *role);
/* A participant's "purposes" attribute, when present, must be a comma-
 * separated list of purpose names. 0 or TIDS_EINVAL. */
int purposes_check_attribute(const struct tids_participant *p, char *err, size_t errlen);

/* --- keys.c: keys at rest (the hierarchy is described at its top) --------- */

struct keyring;
/* Loads the master key, the epoch and bucket keys (creating what a new
 * instance lacks) and moves grant keys of the first layout under the
 * epoch. Needs the store. */
int keys_open(struct tidsd *d);
/* The hub data key, once the hub state has brought it (hubstate_start). */
int keys_open_data(struct tidsd *d);
/* The hub state's keys (hubstate.c): the MAC key of its entries, and keys
 * wrapped under the master key, which every instance of the hub holds, to
 * travel with it. A grant's key goes from the entry to this instance's
 * buckets (import), and back (export: a registry from before the hub
 * state was on Kafka is published). */
void keys_hub_state_mac(const struct tidsd *d, uint8_t out[32]);
void keys_wrap_for_hub(const struct tidsd *d, const char *label, const uint8_t key[32], uint8_t out[72]);
__attribute__((warn_unused_result))
int keys_unwrap_from_hub(const struct tidsd *d, const char *label, const uint8_t in[72], uint8_t key[32]);
int keys_grant_import(struct tidsd *d, const char *grant_id, const uint8_t in[72]);
int keys_grant_export(struct tidsd *d, const char *grant_id, uint8_t out[72]);
void keys_close(struct tidsd *d);
/* Keys derived from the hub data key, in guarded memory while open: for
 * the ingress topic, for deliveries no grant carries, for state MACs. */
const uint8_t *keys_ingress(const struct tidsd *d);
const uint8_t *keys_delivery(const struct tidsd *d);
const uint8_t *keys_state_mac(const struct tidsd *d);
/* Writes the hub's public key beside hub.key (hub.pub, as tidsctl keygen
 * writes NAME.pub) unless it is there already; warns on failure. */
int keys_write_hub_pub(struct tidsd *d);
/* A new grant's data key, made and stored in the open batch of writes. */
int keys_grant_create(struct tidsd *d, const char *grant_id);
/* A grant's data key; TIDS_ECRYPTO once the grant is revoked or expired. */
int keys_grant_key(struct tidsd *d, const char *grant_id, uint8_t key[32]);
/* Destroys the grants' keys for good: commits what is batched, then moves
 * every key to a new epoch and erases the old one. 0, or an error with
 * nothing changed. */
int keys_grants_destroy(struct tidsd *d, const char *const *ids, size_t n, char *err, size_t errlen);

/* --- kafka.c --------------------------------------------------------------- */

struct kafka_queue_watch {
	struct watch w;
	int pipe_fd[2];
	rd_kafka_queue_t *q;
	void (*on_event)(struct tidsd *d, rd_kafka_event_t *ev, void *ctx);
	/* If set, events are taken only while it says yes (backpressure);
	 * call kafka_queue_pump when it would say yes again. */
	bool (*ready)(struct tidsd *d, void *ctx);
	void *ctx;
	/* A consumer's: told when the queue runs dry (on_event counts what it
	 * takes with kafka_took). */
	struct kafka_read_ahead *read_ahead;
};

int kafka_init(struct tidsd *d);
void kafka_free(struct tidsd *d);
/* A new client configured from the config, with events delivered on its
 * main queue; name labels it in logs. */
rd_kafka_t *kafka_client(struct tidsd *d, rd_kafka_type_t type, const char *name,
			 rd_kafka_conf_t *conf, char *err, size_t errlen);
/* A configuration for a client of this type: the kafka.* properties it uses. */
rd_kafka_conf_t *kafka_conf(struct tidsd *d, rd_kafka_type_t type, char *err, size_t errlen);
/* A consumer's read-ahead: how much librdkafka may fetch ahead of us, and
 * what we took from it since its queue was last empty (kafka.c). */
struct kafka_read_ahead {
	rd_kafka_t *rk;                      /* the consumer, once made */
	int64_t bytes;                       /* queued.max.messages.kbytes, as bytes */
	int64_t taken;                       /* payload and key bytes, since it was last empty */
	atomic_ulong *wakes;                 /* fetchers woken (metrics), or NULL */
};

/* Bounds what a consumer reads ahead of us (queued.max.messages.kbytes)
 * and remembers it in ra, with the counter of its wakes (metrics) or NULL. */
int kafka_conf_read_ahead(rd_kafka_conf_t *conf, struct kafka_read_ahead *ra, int64_t bytes,
			  atomic_ulong *wakes, char *err, size_t errlen);
/* The consumer rk, just made from that configuration, delivers its
 * messages on its consumer queue, and ra wakes its fetchers. */
void kafka_read_ahead_start(struct kafka_read_ahead *ra, rd_kafka_t *rk);
/* The consumer took m from its queue. */
static inline void kafka_took(struct kafka_read_ahead *ra, const rd_kafka_message_t *m)
{
	ra->taken += (int64_t)(m->len + m->key_len);
}
/* Its queue is empty: if it may have filled since it was last empty,
 * librdkafka may have stopped fetching for it; wakes the brokers of its
 * partitions with a request. Never blocks. */
void kafka_ran_dry(struct kafka_read_ahead *ra);
/* Routes a queue's readiness into the event loop; takes the reference q
 * (unwatch destroys it; a failure here already has). */
int kafka_watch_queue(struct tidsd *d, struct kafka_queue_watch *kw, rd_kafka_queue_t *q,
		      void (*on_event)(struct tidsd *d, rd_kafka_event_t *ev, void *ctx), void *ctx);
/* The same for the consumer queue of ra's consumer, telling ra when it
 * runs dry. */
int kafka_watch_consumer(struct tidsd *d, struct kafka_queue_watch *kw, struct kafka_read_ahead *ra,
			 void (*on_event)(struct tidsd *d, rd_kafka_event_t *ev, void *ctx), void *ctx);
void kafka_unwatch_queue(struct tidsd *d, struct kafka_queue_watch *kw);
void kafka_queue_pump(struct tidsd *d, struct kafka_queue_watch *kw);
/* For clients whose queue is served by rd_kafka_consumer_poll (which calls
 * it on the polling thread, never on librdkafka's own): logs as tids does. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
/* Logs librdkafka log and error events; returns true if it handled ev. */
bool kafka_log_event(struct tidsd *d, rd_kafka_event_t *ev);
/* The hub's topics; names and settings are in kafka.c's table. */
enum kafka_topic {
	KT_INGRESS,                /* accepted records, keyed by owner */
	KT_AUDIT,                  /* audit chains: partition p holds chain p */
	KT_STATE,                  /* router state of ingress partition p, in partition p (compacted) */
	KT_REGISTRY,               /* the hub's state: registry entries (compacted) */
	KT_CHANGES,                /* every registry change, kept */
	KT_DELIVER,                /* one per participant: its deliveries */
	KT_OUTBOUND,               /* one per peer hub: what is forwarded to it */
	KT_COUNT
};
enum kafka_group { KG_ROUTER, KG_INDEXER, KG_EGRESS, KG_REGISTRY, KG_COUNT };
/* "<prefix>.<hub>.<suffix>", and ".<participant>" after it for KT_DELIVER
 * (".<peer hub>" for KT_OUTBOUND). */
void kafka_topic_name(const struct tidsd *d, enum kafka_topic t, const char *participant, char *buf, size_t len);
/* Consumer groups (and transactional ids made from them); name, when not
 * NULL, is appended (a subscriber, an instance). */
void kafka_group_name(const struct tidsd *d, enum kafka_group g, const char *name, char *buf, size_t len);
/* Creates the topic with its settings if it is missing; waits (30 s at most). */
int kafka_topic_create(struct tidsd *d, enum kafka_topic t, const char *participant, char *err, size_t errlen);
/* The same without waiting: a failure is logged when Kafka answers. */
void kafka_topic_create_async(struct tidsd *d, enum kafka_topic t, const char *participant);
/* Deletes the records of partition 0 of topic before offset (async). */
int kafka_delete_before(struct tidsd *d, const char *topic, int64_t offset);
/* Low and high watermarks of partition 0 of topic (asks the broker). */
int kafka_watermarks(struct tidsd *d, const char *topic, int64_t *lo, int64_t *hi);
/* Partitions of a hub topic, or a negative TIDS_E* code with err filled. */
int kafka_topic_partitions(struct tidsd *d, enum kafka_topic t, char *err, size_t errlen);

/* --- ingest.c -------------------------------------------------------------- */

int ingest_init(struct tidsd *d);
/* Copies the tier floors and record schemas of set for the record checks
 * (at load and on reload, before the set goes to the router). 0 or
 * TIDS_ENOMEM, which keeps the ones ingest had. */
int ingest_set_floors(struct tidsd *d, const struct tids_policy_set *set);
/* The lowest tier a record of category may carry (imports check it too). */
enum tids_tier ingest_floor(const struct tidsd *d, const char *category);
/* Loads the batches an earlier run accepted but never acknowledged. */
int ingest_load_unacked(struct tidsd *d);
void ingest_free(struct tidsd *d);
/* Handles a Publish call. */
void ingest_publish(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len);
/* The session is going away: forget its pending acks. */
void ingest_forget_session(struct tidsd *d, struct session *s);
/* Publishes a record the hub makes itself (its statistics) as a one-record
 * batch the hub signs: publisher the hub id, sequence given (increasing).
 * One at a time; done runs in the loop once Kafka took it (err 0) or not.
 * 0, or an error with done not called. */
int ingest_hub_record(struct tidsd *d, const uint8_t *rec, size_t len, uint64_t sequence,
		      void (*done)(struct tidsd *d, int err));
/* Records written but not yet confirmed by Kafka. */
size_t ingest_in_flight(const struct tidsd *d);
/* Writes what a full disk held back (every tick). */
void ingest_tick(struct tidsd *d);
void ingest_flush(struct tidsd *d, int timeout_ms);

/* --- egress.c: Subscribe streams ------------------------------------------- */

struct subscription;
void egress_subscribe(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len);
void egress_client_item(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len);
void egress_cancel(struct tidsd *d, struct session *s, uint64_t call_id);
void egress_forget_session(struct tidsd *d, struct session *s);
/* The session's send buffer drained: resume its streams. */
void egress_resume(struct tidsd *d, struct session *s);
void egress_free(struct tidsd *d);
/* Frees the streams that ended during this loop iteration. */
void egress_reap(struct tidsd *d);
/* Logs the streams that have been stuck for a while, and why. */
void egress_tick(struct tidsd *d);
/* A grant ended: its key must not outlive it in egress's cache either. */
void egress_forget_key(struct tidsd *d, const char *grant_id);

/* --- router.c: runs in its own thread; see router.h ------------------------- */

enum router_msg_kind;
/* Creates the router and its policy facts (before the registry loads). */
int router_new(struct tidsd *d);
/* Starts routing: from now on the router thread owns the facts. */
int router_init(struct tidsd *d);
void router_free(struct tidsd *d);
void router_tick(struct tidsd *d);
/* Passes a registry change (serialized entry, or purposes one per line for
 * a subscriber; a grant comes with its data key) or a new policy set
 * (ownership passes) to the router. */
void router_post(struct tidsd *d, enum router_msg_kind kind, const char *id, const uint8_t *blob, size_t len,
		 const uint8_t *key, struct tids_policy_set *policy);

/* --- federation.c: peer hubs, links, directories (see federation.h) -------- */

struct pull;
/* After Kafka and before the router: peers, their directories, out topics. */
int federation_init(struct tidsd *d);
void federation_free(struct tidsd *d);
void federation_tick(struct tidsd *d);
/* A peer was registered or changed (admin). */
void federation_peer_changed(struct tidsd *d, const struct tids_peer *p);
/* Local participants or subscriptions changed: our directory is stale and
 * who is where may have changed. */
void federation_registry_changed(struct tidsd *d);
/* A grant or approval of ours was issued, revoked or expired: the peers
 * get the consent that covers their participants again. */
void federation_consent_changed(struct tidsd *d);
/* The peer whose hub key has this Noise (X25519) form, or NULL. */
const char *federation_peer_by_dh_key(const struct tidsd *d, const uint8_t dh_pk[TIDS_DH_KEY_BYTES]);
/* The registered key of peer hub id into key; false if it is no peer. */
bool federation_peer_key(const struct tidsd *d, const char *id, uint8_t key[TIDS_PUBLIC_KEY_BYTES]);
/* The key and jurisdiction of hub id: its registration when it is our
 * peer, else what our peers' directories say of it (their own peers), when
 * they agree. false, with why, when there is none or they disagree. */
bool federation_hub_key(const struct tidsd *d, const char *id, uint8_t key[TIDS_PUBLIC_KEY_BYTES],
			char jurisdiction[16], char *why, size_t whylen);
/* The peer hub whose directory (accepted) lists participant id, or NULL. */
const char *federation_home_of(const struct tidsd *d, const char *id);
/* Resolves a participant address "id" or "id@hub" to an id this hub can
 * name: a local participant (hub empty or this hub), or one a peer's
 * directory lists (or the admin registered with that home hub). */
int federation_resolve(const struct tidsd *d, const char *address, char id[TIDS_ID_MAX + 1], char *err,
		       size_t errlen);
/* Federation/Pull on a peer hub's session, its acks, its end. */
void federation_pull(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len);
void federation_client_item(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len);
void federation_cancel(struct tidsd *d, struct session *s, uint64_t call_id);
void federation_forget_session(struct tidsd *d, struct session *s);
void federation_resume(struct tidsd *d, struct session *s);
/* Admin/Peers. */
void federation_peers(struct tidsd *d, struct session *s, uint64_t call_id);

/* --- statistics.c: every period's signed statistics ------------------------ */

struct statistics;
/* Where publishing stands, from the registry (before the indexer starts). */
int statistics_init(struct tidsd *d);
/* Every tick: a record Kafka refused is tried again. */
void statistics_tick(struct tidsd *d);
void statistics_free(struct tidsd *d);
/* The indexer thread: is the next period (start, its length and delay)
 * closed by now, and not built yet? */
bool statistics_due(struct statistics *st, int64_t now, int64_t *start, int64_t *period_ms, int64_t *delay_ms);
/* The indexer thread: the record of the period from start (ownership
 * passes), to be published by the loop. */
void statistics_offer(struct statistics *st, int64_t start, uint8_t *record, size_t len);

/* --- indexer.c: the audit ledger (consumes the audit and ingress topics) --- */

int indexer_init(struct tidsd *d);
/* Reads what the router committed last (briefly), commits, closes. */
void indexer_free(struct tidsd *d);

/* --- listener.c, session.c ------------------------------------------------- */

int listeners_open(struct tidsd *d);
void listeners_close(struct tidsd *d);
/* Every tick: accepting resumes if it was paused for want of descriptors. */
void listeners_tick(struct tidsd *d);
/* After a reload: the admin socket's group follows admin.group. */
void listeners_reloaded(struct tidsd *d, const struct config *old);

/* --- budget.c: connection budgets ------------------------------------------ */

/* Handshakes from one IPv4 address or IPv6 /64 count together. */
struct addr_key {
	uint8_t len;
	uint8_t b[9];
};

/* A handshaking TCP session's place in the budget's lists: [0] all of
 * them, [1] those of its source address; oldest first. */
struct budget_slot {
	struct session *prev[2], *next[2];
	struct hs_addr *addr;
	bool listed;
	bool started;              /* it has sent bytes */
};

void budget_addr_key(const struct sockaddr_storage *ss, struct addr_key *k);
/* Makes room for a new TCP connection from k, dropping the oldest
 * handshakes if a budget is full. 0: take it; -1: refuse it (why says
 * which limit), for every slot is held by authenticated sessions. */
int budget_admit_tcp(struct tidsd *d, const struct addr_key *k, char *why, size_t whylen);
/* May another admin socket connection be served? */
bool budget_admit_local(const struct tidsd *d);
/* s starts its handshake; 0 or TIDS_ENOMEM. */
int budget_handshake_begin(struct tidsd *d, struct session *s, const struct addr_key *k);
/* s has sent bytes: dropped only after those that have not. */
void budget_handshake_started(struct tidsd *d, struct session *s);
/* s finished or abandoned its handshake. */
void budget_handshake_end(struct tidsd *d, struct session *s);
/* Drops the oldest handshake (to free a descriptor); false if there is none. */
bool budget_drop_oldest(struct tidsd *d, const char *why);
size_t budget_handshakes(const struct tidsd *d);
void budget_free(struct tidsd *d);
/* A listening TCP socket on addr ("host:port"); logs what option was wrong. */
int listen_tcp_socket(const char *option, const char *addr);

/* --- http.c: /metrics and /health (metrics.h holds the counters) ------------ */

int http_open(struct tidsd *d);
void http_tick(struct tidsd *d);
void http_close(struct tidsd *d);

enum session_state {
	SESSION_HANDSHAKE,         /* Noise handshake in progress */
	SESSION_OPEN,              /* frames flow */
	SESSION_CLOSING,           /* flushing the last bytes, then close */
	SESSION_CLOSED,            /* socket closed, keys wiped; freed after the loop iteration */
};

struct session {
	struct watch w;
	struct session *next, *prev;
	bool local;                /* Unix socket: no Noise, peer credentials */
	/* Admin rights at the last check, only to notice their loss: every
	 * call asks session_rights, which reads the registry and the running
	 * configuration. */
	bool admin;
	bool recheck;              /* its rights changed during its own call: check after it */
	enum session_state state;
	struct tids_noise_handshake hs;
	struct tids_channel ch;
	struct tids_buf in;        /* bytes read, not yet absorbed */
	struct tids_buf out;       /* bytes to write */
	bool paused;               /* not reading: too much queued to send */
	bool waiting;              /* a call of it waits for the hub state: the calls after it wait too */
	int64_t last_active;       /* mono ms */
	int64_t opened;
	char participant[TIDS_ID_MAX + 1];   /* authenticated id ("" on the local socket) */
	char peer_hub[TIDS_ID_MAX + 1];      /* a peer hub authenticated by its key ("" otherwise) */
	uint8_t identity_key[TIDS_PUBLIC_KEY_BYTES];   /* the key it authenticated with */
	uid_t uid;                 /* local: the peer's credentials when it connected */
	gid_t gid;
	gid_t *groups;             /* its supplementary groups */
	size_t n_groups;
	struct budget_slot slot;   /* while handshaking */
	char peer[64];             /* address for logs */
	unsigned long id;          /* for logs */
	unsigned pending_calls;    /* publishes awaiting Kafka */
	bool in_frames;            /* frames_step is running for it */
	struct subscription *subs;
	struct pull *pull;         /* a peer hub pulling its forwards */
};

/* k: the TCP peer's address for the handshake budgets (NULL if local). */
void session_accept(struct tidsd *d, int fd, bool local, const char *peer, const struct addr_key *k);
/* Sends a response (unary end) with status code (tids.v1.Code) and body. */
void session_reply(struct tidsd *d, struct session *s, uint64_t call_id, int code, const char *message,
		   const uint8_t *body, size_t len);
/* Sends one stream item, or the stream's end. */
int session_stream_item(struct tidsd *d, struct session *s, uint64_t call_id, const uint8_t *body, size_t len);
void session_stream_end(struct tidsd *d, struct session *s, uint64_t call_id, int code, const char *message);
/* One of its publishes was answered (pending_calls went down): frames held
 * back by limits.publish_in_flight are served again. */
void session_publish_done(struct tidsd *d, struct session *s);
/* May this session queue more stream items? (backpressure) */
bool session_can_send(const struct tidsd *d, const struct session *s);
void session_close(struct tidsd *d, struct session *s, const char *why);
/* Reads and serves what s has been sent now (a session that waited for
 * the hub state was not read meanwhile: a cancel, or its close). */
void session_catch_up(struct tidsd *d, struct session *s);
/* Its call is answered: serve the calls that waited behind it. */
void session_resume(struct tidsd *d, struct session *s);
/* Tells the peer why in a RESPONSE on call 0 (code is a tids.v1.Code),
 * then closes once that is sent. */
void session_end(struct tidsd *d, struct session *s, int code, const char *why);
/* May s go on, and may it administer? Decided now, from the registry and
 * the running configuration. false: it may not (code and why say why). */
bool session_rights(const struct tidsd *d, const struct session *s, bool *admin, int *code, char *why,
		    size_t whylen);
/* After a participant changes or a reload: every open session loses at
 * once the rights it no longer has (closed, with the reason). */
void sessions_recheck(struct tidsd *d, const char *cause);
void session_recheck(struct tidsd *d, struct session *s, const char *cause);
void sessions_tick(struct tidsd *d);
/* Frees the sessions closed during this loop iteration. */
void sessions_reap(struct tidsd *d);
void sessions_close_all(struct tidsd *d);
size_t session_count(const struct tidsd *d);

/* --- rights.c -------------------------------------------------------------- */

/* Reads a local peer's uid, gid and supplementary groups into s. 0 or -1. */
int rights_read_peer(int fd, struct session *s);

/* --- rpc.c ----------------------------------------------------------------- */

void rpc_dispatch(struct tidsd *d, struct session *s, const struct tids_frame *f);

/* --- admin.c: Admin/List and Admin/Show ----------------------------------- */
void admin_list(struct tidsd *d, struct session *s, const struct tids_frame *f);
void admin_show(struct tidsd *d, struct session *s, const struct tids_frame *f);

/* --- main.c --------------------------------------------------------------- */

/* SIGHUP: new config and policies, swapped in only if whole. */
void tidsd_reload(struct tidsd *d);
/* Every TIDSD_TICK_MS: watchdog, timeouts, SQLite commit, Kafka upkeep. */
void tidsd_tick(struct tidsd *d);

/* --- the daemon ------------------------------------------------------------ */

struct tidsd {
	struct config *conf;
	struct tids_identity hub;             /* the hub's signing identity */
	struct keyring *keys;                 /* keys at rest (keys.c), guarded memory */
	const struct tids_policy_tz *tz;      /* hub.timezone, loaded at start */
	struct store *store;
	struct registry *registry;
	struct purposes *purposes;            /* copied from the policy set */

	int epfd;
	int wake_pipe[2];                     /* signals wake the loop */
	struct watch wake_watch;
	int64_t next_tick;
	struct session *graveyard;            /* closed this iteration, freed after it */

	struct watch listen_tcp;
	struct watch listen_unix;
	struct session *sessions;
	size_t n_sessions;
	size_t n_tcp, n_local;                /* of those, by listener */
	unsigned long next_session_id;
	struct session *in_call;              /* whose call rpc_dispatch runs */
	struct budget *budget;                /* handshaking sessions (budget.c) */
	int spare_fd;                         /* given up so that an admin can connect when descriptors run out */
	int64_t emfile_logged;                /* mono ms of the last warning about it */
	unsigned long emfile_since;           /* accepts deferred since */

	struct kafka *kafka;
	struct ingest *ingest;
	struct router *router;
	struct egress *egress;
	struct indexer *indexer;
	struct hubstate *hubstate;
	struct metrics *metrics;              /* written by the loop, router and indexer */
	struct http *http;
	struct federation *federation;
	struct statistics *statistics;

	bool stopping;
	volatile sig_atomic_t sig_stop;
	volatile sig_atomic_t sig_reload;
};

#endif
