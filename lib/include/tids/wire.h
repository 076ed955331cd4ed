/*
 * The decode gate and encoders for the tids.v1 wire contract (proto/).
 * Every protobuf message that crosses a trust boundary enters here: the
 * length is checked first, then protobuf-c decodes, then every field is
 * validated and converted into an internal struct. Nothing outside lib/wire*
 * sees protobuf-c types.
 *
 * Decoded structs point into storage they own (`backing`); free them with
 * the matching _free. Encoders allocate *out with malloc; the caller frees.
 */
#ifndef TIDS_WIRE_H
#define TIDS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/record.h"

#define TIDS_SIGNATURE_BYTES 64
#define TIDS_PUBLIC_KEY_BYTES 32
#define TIDS_FRAME_MAX_DEFAULT (1u << 20)
#define TIDS_FRAME_MAX_LIMIT (16u << 20)
#define TIDS_LIST_MAX 64             /* ids, purposes, categories in grants etc. */
#define TIDS_ATTRIBUTES_MAX 32
#define TIDS_ATTR_VALUE_MAX 256
#define TIDS_METHOD_MAX 128
#define TIDS_STATUS_MESSAGE_MAX 1024
#define TIDS_PING_NONCE_MAX 64

struct tids_bytes {
	const uint8_t *data;
	size_t len;
};

/* A list of validated strings. */
struct tids_strlist {
	const char *const *items;
	size_t n;
};

bool tids_strlist_has(const struct tids_strlist *l, const char *s);

/* --- records, batches, deliveries --------------------------------------- */

struct tids_batch {
	const char *publisher;
	uint64_t sequence;
	struct tids_bytes *records;          /* serialized tids.v1.Record each */
	size_t n_records;
	uint8_t merkle_root[TIDS_HASH_BYTES];
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	void *backing;
};

enum tids_decision {
	TIDS_DECISION_UNSET = 0,
	TIDS_DECISION_ALLOW = 1,
	TIDS_DECISION_DENY = 2,
	TIDS_DECISION_TRANSFORM = 3,
};

const char *tids_decision_name(enum tids_decision d);

struct tids_aggregation {
	const char *function;                /* NULL when no aggregation */
	const char *field;
	int64_t window_ms;                   /* a fixed length, */
	int64_t window_months;               /* or calendar months (then window_ms is 0) */
	struct tids_strlist by;
};

/* tids.v1.Obligations. The obligations carried by name (flags and lists of
 * names) come from the vocabulary's table, policy/obligations.def: one
 * field each, of the entry's name. */
struct tids_obligations {
	int64_t retain_until_ms;
	struct tids_strlist redacted;
	struct tids_aggregation aggregate;
	struct tids_strlist purposes;
#define TIDS_OB_FLAG(name, summary) bool name;
#define TIDS_OB_LIST(name, word, check, summary) struct tids_strlist name;
#include "obligations.def"
};

/* --- receipts (receipt.proto; signed and checked in tids/receipt.h) -------- */

#define TIDS_RECEIPT_STATEMENT_MAX (64u << 10)
#define TIDS_RECEIPT_HEAD_MAX 1024

struct tids_ingress_position {
	uint32_t leaf_index;
	int32_t partition;
	int64_t offset;
};

/* What the hub states when it acknowledges a batch. */
struct tids_ingest_statement {
	const char *hub_id;
	const char *publisher;
	uint64_t sequence;
	uint8_t batch_root[TIDS_HASH_BYTES];
	const struct tids_ingress_position *positions;  /* by increasing leaf_index */
	size_t n_positions;
	int64_t signed_at_ms;
	void *backing;
};

/* The statement's exact bytes and the hub's signature over them. Inside a
 * PublishAck its bytes belong to the ack (backing NULL). */
struct tids_ingest_receipt {
	struct tids_bytes statement;
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	void *backing;
};

/* A delivery's audit entry and the signed chain head that covers it.
 * Inside a Delivery or envelope its bytes belong to them (backing NULL). */
struct tids_delivery_receipt {
	int32_t partition;
	uint64_t seq;
	uint8_t entry_hash[TIDS_HASH_BYTES];
	struct tids_bytes head;              /* serialized AuditCheckpoint */
	void *backing;
};

struct tids_record_error {
	uint32_t index;
	int code;                            /* tids.v1.Code */
	const char *message;
};

struct tids_publish_ack {
	uint64_t sequence;
	uint32_t accepted;
	struct tids_record_error *errors;
	size_t n_errors;
	bool has_receipt;
	struct tids_ingest_receipt receipt;
	void *backing;
};

/* Who published a record delivered through another hub (see record.proto). */
struct tids_provenance {
	bool present;
	const char *hub_id;
	const char *publisher;               /* "" for an aggregate */
	uint64_t sequence;
	uint8_t batch_root[TIDS_HASH_BYTES];
	uint8_t batch_signature[TIDS_SIGNATURE_BYTES];
	uint32_t leaf_index;
	uint32_t leaf_count;
	const uint8_t (*merkle_path)[TIDS_HASH_BYTES];
	size_t n_merkle_path;
	uint8_t leaf_hash[TIDS_HASH_BYTES];
	struct tids_bytes published;         /* empty unless needed */
	uint32_t hops;
	const char *export_hub;
	int32_t export_partition;
	uint64_t export_seq;
};

struct tids_delivery {
	struct tids_record record;
	enum tids_decision decision;
	struct tids_strlist rule_ids;
	struct tids_obligations obligations;
	const char *grant_id;                /* "" when none */
	const char *purpose;
	uint64_t delivery_seq;
	int64_t decided_at_ms;
	struct tids_bytes source_record_id;  /* empty for aggregates */
	const char *notification_for;        /* "" unless a notify obligation's notice */
	struct tids_provenance provenance;   /* present: the record came from another hub */
	bool has_receipt;
	struct tids_delivery_receipt receipt;
	void *backing;
};

/* What a forwarding hub decided about a record (see kafka.proto). */
struct tids_forward_info {
	bool present;
	const char *from_hub;                /* "" on the forwarding hub's own topic */
	uint64_t position;
	const char *recipient;
	const char *purpose;
	enum tids_decision decision;         /* ALLOW or TRANSFORM */
	struct tids_obligations obligations;
	struct tids_strlist rule_ids;
	uint8_t leaf_hash[TIDS_HASH_BYTES];  /* zeros for an aggregate */
	int32_t entry_partition;
	uint64_t entry_seq;
	uint32_t hops;
	const char *origin_hub;
	int64_t decided_at_ms;
	const char *refused;                 /* "" unless the import checks failed */
};

/* What ingest writes to the ingress topic for each accepted record. */
struct tids_ingress_record {
	struct tids_bytes record;            /* serialized Record, or sealed */
	bool sealed;
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	const char *publisher;
	uint64_t sequence;
	uint8_t batch_root[TIDS_HASH_BYTES];
	uint8_t batch_signature[TIDS_SIGNATURE_BYTES];
	uint32_t leaf_index;
	uint32_t leaf_count;
	const uint8_t (*merkle_path)[TIDS_HASH_BYTES];
	size_t n_merkle_path;
	int64_t received_at_ms;
	/* Forwarded by (or being forwarded to) another hub. Then publisher
	 * may be "" (an aggregate the origin hub made): no batch material. */
	struct tids_forward_info forwarded;
	void *backing;
};

/* A delivery as stored on a recipient's deliver topic. */
struct tids_delivery_envelope {
	struct tids_bytes delivery;          /* serialized Delivery, or sealed */
	const char *sealed_by;               /* "", "hub" or "grant:<id>" */
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	bool has_receipt;
	struct tids_delivery_receipt receipt;
	void *backing;
};

/* --- consent ------------------------------------------------------------- */

/*
 * Grants and approvals travel signed (tids.v1.SignedGrant, SignedApproval):
 * `bytes` is the serialized Grant or Approval exactly as its signer
 * produced it, `signature` the signer's over the domain || those bytes.
 * The hub verifies and keeps those bytes, never a re-encoding. Decoding a
 * bare Grant or Approval leaves both empty.
 */
struct tids_grant {
	const char *grant_id;
	const char *owner;
	const char *grantee;
	struct tids_strlist assets;          /* empty: all of the owner's */
	struct tids_strlist categories;
	struct tids_strlist purposes;
	int64_t not_before_ms;
	int64_t not_after_ms;
	uint32_t max_uses;                   /* 0: unlimited */
	struct tids_obligations obligations;
	const char *hub_id;                  /* the hub it is issued to */
	struct tids_bytes bytes;             /* as signed */
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	void *backing;
};

struct tids_approval {
	const char *approval_id;
	const char *kind;
	const char *regulator;
	const char *exporter;
	const char *recipient;
	struct tids_strlist categories;
	enum tids_tier tiers[3];
	size_t n_tiers;
	struct tids_strlist purposes;
	const char *from_jurisdiction;
	const char *to_jurisdiction;
	int64_t valid_from_ms;
	int64_t valid_until_ms;
	const char *hub_id;                  /* the hub it is issued to */
	const char *case_id;                 /* "" unless it opens a case */
	struct tids_bytes bytes;             /* as signed */
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	void *backing;
};

/* --- registry ------------------------------------------------------------ */

struct tids_attribute {
	const char *name;
	const char *value;
};

struct tids_participant {
	const char *id;
	const char *role;
	const char *jurisdiction;
	uint8_t identity_key[TIDS_PUBLIC_KEY_BYTES];
	struct tids_attribute *attributes;
	size_t n_attributes;
	bool suspended;
	const char *home_hub;                /* "" when this hub */
	const char *display_name;
	void *backing;
};

/* Value of attribute name, or NULL. */
const char *tids_participant_attribute(const struct tids_participant *p, const char *name);

struct tids_asset {
	const char *asset_id;
	const char *lessee;
	const char *lessor;                  /* "" when not leased */
	const char *site;
	const char *kind;
	struct tids_attribute *attributes;
	size_t n_attributes;
	void *backing;
};

struct tids_peer {
	const char *hub_id;
	const char *jurisdiction;
	uint8_t public_key[TIDS_PUBLIC_KEY_BYTES];
	const char *address;                 /* HOST:PORT */
	void *backing;
};

/* --- audit --------------------------------------------------------------- */

struct tids_counter_increment {
	const char *name, *key;
	int64_t period;
	uint64_t amount;
	uint64_t total;                      /* the counter after the decision; 0: not recorded */
};

struct tids_aggregate_result {
	const char *function, *field;
	int64_t window_start_ms, window_ms;
	uint64_t count;
	double value;
};

#define TIDS_AUDIT_COUNTS_MAX 16

/* A denial's near miss (tids.v1.NearMiss): code and failed hold the
 * values of policy/policy.h's enum tids_policy_miss. */
#define TIDS_NEAR_MISS_CODE_MAX 31
struct tids_near_miss {
	const char *kind;                    /* "grant" or "approval" */
	const char *id;                      /* "" when none exists */
	int code;
	uint32_t failed;
	int64_t at_ms;
	uint32_t uses, max_uses;
	const char *rule_id;                 /* "": the purpose's case */
};

struct tids_audit_entry {
	const char *hub_id;
	int32_t partition;
	uint64_t seq;
	uint8_t prev_hash[TIDS_HASH_BYTES];
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	const char *owner;
	const char *recipient;
	const char *purpose;
	enum tids_decision decision;
	struct tids_strlist rule_ids;
	enum tids_tier tier;
	const char *category;
	const char *origin;
	const char *destination;
	const char *grant_id;
	const char *approval_id;
	int64_t decided_at_ms;
	int64_t ingress_offset;
	struct tids_obligations obligations;
	const char *reason;
	struct tids_bytes delivered_hash;    /* empty on deny, else 32 bytes */
	const char *asset_id;
	uint64_t delivery_seq;
	const char *case_id;                 /* "" unless a case opened it */
	bool has_near_miss;                  /* on deny */
	struct tids_near_miss near_miss;
	const struct tids_counter_increment *counts;
	size_t n_counts;
	bool has_aggregate;
	struct tids_aggregate_result aggregate;
	const char *peer_hub;                /* export: destination hub; import: origin hub */
	int32_t peer_partition;              /* import: the export's entry at peer_hub */
	uint64_t peer_seq;
	void *backing;
};

struct tids_audit_checkpoint {
	const char *hub_id;
	int32_t partition;
	uint64_t seq;
	uint8_t head_hash[TIDS_HASH_BYTES];
	int64_t signed_at_ms;
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	void *backing;
};

/* One message of the audit topic: entries' exact bytes, or a checkpoint. */
#define TIDS_AUDIT_ENTRIES_MAX 10000

struct tids_audit_log_record {
	bool is_checkpoint;
	const struct tids_bytes *entries;    /* consecutive entries of the chain */
	size_t n_entries;
	struct tids_audit_checkpoint checkpoint;  /* backing is the record's */
	void *backing;
};

/* The router's state on the compacted state topic. */
enum tids_state_kind { TIDS_STATE_CHAIN = 1, TIDS_STATE_COUNT = 2, TIDS_STATE_WINDOW = 3, TIDS_STATE_SEEN = 4,
		       TIDS_STATE_IMPORTED = 5, TIDS_STATE_POSITION = 6 };

struct tids_position {
	const char *publisher;
	uint64_t sequence;
	uint32_t leaf_index;
	int32_t partition;
};

struct tids_chain_head {
	int32_t partition;
	uint64_t seq;
	uint8_t head[TIDS_HASH_BYTES];
	uint64_t since_checkpoint;
};

struct tids_aggregate_window {
	const char *recipient;
	const char *purpose;
	const char *function;
	const char *field;
	int64_t start_ms;
	int64_t window_ms;
	const char *group;
	uint64_t count;
	double sum, min, max;
	struct tids_record header;           /* no fields */
	struct tids_strlist rule_ids;
	const char *grant_id;
	struct tids_obligations obligations;
};

struct tids_router_state {
	enum tids_state_kind kind;
	struct tids_chain_head chain;
	uint64_t count;
	struct tids_aggregate_window window;
	struct tids_position seen;           /* SEEN and IMPORTED */
	int64_t next_offset;                 /* TIDS_STATE_POSITION */
	void *backing;
};

/* --- federation ------------------------------------------------------------ */

#define TIDS_DIRECTORY_ENTRIES_MAX 4096   /* per page */
#define TIDS_DIRECTORY_PAGES_MAX 256
#define TIDS_INTEREST_PURPOSES_MAX 8
#define TIDS_PULL_WINDOW_MAX 10000

struct tids_directory_entry {
	const char *id;
	const char *role;
	const char *jurisdiction;
	uint8_t identity_key[TIDS_PUBLIC_KEY_BYTES];
};

struct tids_interest {
	const char *participant;
	struct tids_strlist purposes;
};

#define TIDS_DIRECTORY_HUBS_MAX 256

/* A peer of the publishing hub, as registered there. */
struct tids_directory_hub {
	const char *hub_id;
	const char *jurisdiction;
	uint8_t public_key[TIDS_PUBLIC_KEY_BYTES];
};

/* A hub's signed directory of its participants. The gate checks its form
 * (unique ids, interests of listed participants only), not its signature:
 * tids_directory_verify does, with the publishing hub's key. */
struct tids_directory {
	const char *hub_id;
	uint64_t version;
	struct tids_directory_entry *entries;
	size_t n_entries;
	struct tids_interest *interests;
	size_t n_interests;
	struct tids_directory_hub *hubs;
	size_t n_hubs;
	int64_t signed_at_ms;
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	uint32_t page;                       /* of pages (0-based); pages 0 reads as 1 */
	uint32_t pages;
	void *backing;
};

/* A directory of any size as pages of at most per_page entries (each
 * interest in its participant's page), numbered and of d's version: *out
 * (free with tids_directory_pages_free) holds n views borrowing d's
 * entries and strings, to be signed one by one. */
__attribute__((warn_unused_result))
int tids_directory_paginate(const struct tids_directory *d, size_t per_page, struct tids_directory **out,
			    size_t *n);
void tids_directory_pages_free(struct tids_directory *pages, size_t n);
/* The pages of one version (each through the gate and verified), in page
 * order, as one directory: *out's arrays are malloc'd (free with
 * tids_directory_merged_free), its strings borrowed from the pages. Every
 * page must be there once, of one hub and version, and no id listed twice. */
__attribute__((warn_unused_result))
int tids_directory_merge(const struct tids_directory *pages, size_t n, struct tids_directory *out, char *err,
			 size_t errlen);
void tids_directory_merged_free(struct tids_directory *d);

/* PullControl: a start (from_position, window) or an ack. */
struct tids_pull_control {
	bool is_ack;
	uint64_t from_position;
	uint32_t window;
	uint64_t epoch;                      /* of the outbound topic from_position is on (0: none) */
	uint64_t ack_position;
	void *backing;
};

enum tids_pull_item_kind { TIDS_PULL_FORWARD = 1, TIDS_PULL_DIRECTORY = 2, TIDS_PULL_CHECKPOINT = 3,
			   TIDS_PULL_CONSENT = 4 };

#define TIDS_CONSENT_PAGE_MAX 512    /* grants and approvals, each, in one page */

/* One page of a round of the serving hub's consent: signed grants and
 * approvals as their signers produced them. The gate passes each through
 * the signed_grant / signed_approval gate (form only: signatures are for
 * the receiving hub to check against the serving hub's directory). */
struct tids_consent_page {
	uint64_t round;
	struct tids_bytes *grants;
	size_t n_grants;
	struct tids_bytes *approvals;
	size_t n_approvals;
	bool complete;
};

/* PullItem: one of a forward (position, record), a directory, a
 * checkpoint or a consent page; the sub-structs share the item's backing. */
struct tids_pull_item {
	enum tids_pull_item_kind kind;
	uint64_t position;
	uint64_t epoch;                      /* FORWARD: of the outbound topic */
	struct tids_ingress_record record;
	struct tids_directory directory;
	struct tids_audit_checkpoint checkpoint;
	struct tids_consent_page consent;
	void *backing;
};

struct tids_peer_status {
	const char *hub_id;
	const char *jurisdiction;
	const char *address;
	bool link_up;
	bool serving;
	uint64_t forwarded;
	uint64_t imported;
	uint64_t lag;
	const char *last_error;
	int64_t last_error_ms;
	uint64_t directory_version;
	uint32_t directory_entries;
	uint32_t conflicts;
	uint64_t witnessed_seq;
	uint64_t refused;
};

struct tids_peers_reply {
	struct tids_peer_status *peers;
	size_t n_peers;
	void *backing;
};

/*
 * A state entry as it comes off the state topic. Kafka is not trusted with
 * its integrity: every entry carries, in two headers, a sequence number
 * (uint64be, increasing across all entries the router writes) and a MAC
 * (BLAKE2b-256 keyed with a key derived from the hub data key) over the
 * topic, the key, the sequence and the value (or the fact that it is a
 * tombstone), so an entry cannot be forged, altered, moved to another key
 * or another hub's topic.
 */
#define TIDS_STATE_MAC_BYTES 32
#define TIDS_STATE_HEADER_MAC "tids-mac"
#define TIDS_STATE_HEADER_SEQ "tids-seq"
#define TIDS_STATE_KEY_MAX 1023

struct tids_state_message {
	const char *topic;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;                /* NULL: a tombstone */
	size_t len;
	const uint8_t *mac;                  /* header values; NULL when absent */
	size_t mac_len;
	const uint8_t *seq;
	size_t seq_len;
};

/* The MAC of an entry (value NULL for a tombstone). */
void tids_state_mac(const uint8_t mac_key[32], const char *topic, const uint8_t *key, size_t key_len,
		    uint64_t seq, const uint8_t *value, size_t len, uint8_t mac[TIDS_STATE_MAC_BYTES]);

/* The hub's state: one entry of the registry topic (proto HubStateEntry). */
#define TIDS_HUB_GENESIS_BYTES 16
#define TIDS_HUB_WRAPPED_KEY_BYTES 72        /* TIDS_SEAL_WRAPPED_KEY_BYTES */

struct tids_hub_state {
	struct tids_bytes body;              /* empty: the thing is removed */
	struct tids_bytes wrapped_key;       /* empty or TIDS_HUB_WRAPPED_KEY_BYTES */
	int64_t revoked_at_ms;
	const char *actor;
	const char *instance;
	int64_t at_ms;
	void *backing;
};

struct tids_hub_identity {
	const char *hub_id;
	uint8_t sign_key[TIDS_PUBLIC_KEY_BYTES];
	uint8_t genesis[TIDS_HUB_GENESIS_BYTES];
	void *backing;
};

/* --- rpc ----------------------------------------------------------------- */

enum tids_frame_kind {
	TIDS_FRAME_UNSET = 0,
	TIDS_FRAME_REQUEST = 1,
	TIDS_FRAME_RESPONSE = 2,
	TIDS_FRAME_STREAM_ITEM = 3,
	TIDS_FRAME_STREAM_END = 4,
	TIDS_FRAME_CLIENT_ITEM = 5,
	TIDS_FRAME_CANCEL = 6,
};

struct tids_status {
	int code;                            /* tids.v1.Code, 0 = OK */
	const char *message;                 /* "" when none */
};

struct tids_frame {
	uint64_t call_id;
	enum tids_frame_kind kind;
	const char *method;                  /* "" unless REQUEST */
	struct tids_bytes body;
	struct tids_status status;
	void *backing;
};

struct tids_ping {
	struct tids_bytes nonce;
	const char *hub_id;                  /* reply only */
	const char *participant;             /* reply only */
	int64_t hub_time_ms;                 /* reply only */
	const char *timezone;                /* reply only: "" from a hub that does not say */
	void *backing;
};

/* Admin/List and Admin/Show (ShowRequest decodes into a tids_id_message). */
#define TIDS_LIST_LIMIT_DEFAULT 1000
#define TIDS_LIST_LIMIT_MAX 10000
struct tids_list_request {
	const char *kind;                    /* one of tids_list_kinds */
	const char *after;                   /* "" = from the first */
	uint32_t limit;                      /* 1..TIDS_LIST_LIMIT_MAX after decoding */
	void *backing;
};

struct tids_listed_approval {
	struct tids_bytes signed_approval;   /* serialized SignedApproval */
	int64_t revoked_at_ms;               /* 0 = in force */
};

struct tids_listed_subscription {
	const char *participant;
	struct tids_strlist purposes;
	uint64_t acked;
};

/* Entries as stored: decode each through its own gate
 * (tids_wire_decode_participant, _asset, _peer, _signed_grant,
 * _signed_approval) before use. */
struct tids_list_reply {
	struct tids_bytes *participants;
	size_t n_participants;
	struct tids_bytes *assets;
	size_t n_assets;
	struct tids_bytes *peers;
	size_t n_peers;
	struct tids_bytes *grants;
	size_t n_grants;
	struct tids_listed_approval *approvals;
	size_t n_approvals;
	struct tids_listed_subscription *subscriptions;
	size_t n_subscriptions;
	const char *next_after;              /* "" = no more */
	void *backing;
};

/* The kinds Admin/List serves, NULL-terminated. */
extern const char *const tids_list_kinds[];

/* SubscribeControl: a start (purposes, window) or an ack. */
struct tids_subscribe_control {
	bool is_ack;
	struct tids_strlist purposes;
	uint32_t window;
	uint64_t ack_seq;
	void *backing;
};

/* RevokeRequest, ChangeReply and SuspendRequest all name one id. */
struct tids_id_message {
	const char *id;
	bool flag;                           /* SuspendRequest.suspended */
	void *backing;
};

/* HubKeyReply: what participants pin. */
struct tids_hub_key {
	const char *hub_id;
	const char *jurisdiction;
	uint8_t public_key[TIDS_PUBLIC_KEY_BYTES];
	void *backing;
};

/*
 * Decoders. Each checks len against its limit before decoding, then every
 * field; on failure returns a negative TIDS_E* code, writes what was wrong
 * into err (e.g. "record: field 2 'rpm': no value") and leaves *out zeroed.
 */
#define TIDS_DECODER(name, type) \
	__attribute__((warn_unused_result)) \
	int tids_wire_decode_##name(const uint8_t *buf, size_t len, type *out, char *err, size_t errlen)

TIDS_DECODER(record, struct tids_record);
TIDS_DECODER(batch, struct tids_batch);
TIDS_DECODER(publish_ack, struct tids_publish_ack);
TIDS_DECODER(delivery, struct tids_delivery);
TIDS_DECODER(ingress_record, struct tids_ingress_record);
TIDS_DECODER(delivery_envelope, struct tids_delivery_envelope);
TIDS_DECODER(audit_log_record, struct tids_audit_log_record);
TIDS_DECODER(router_state, struct tids_router_state);
TIDS_DECODER(grant, struct tids_grant);
TIDS_DECODER(approval, struct tids_approval);
/* The gates of Exchange/Grant and Exchange/Approve (and of what the hub
 * stores of them): the Grant or Approval inside is decoded and checked like
 * a bare one, its exact bytes kept in out->bytes. The signature is checked
 * by the caller, over out->bytes (lib/sign.c). */
TIDS_DECODER(signed_grant, struct tids_grant);
TIDS_DECODER(signed_approval, struct tids_approval);
TIDS_DECODER(revoke_approval_request, struct tids_id_message);
TIDS_DECODER(participant, struct tids_participant);
TIDS_DECODER(asset, struct tids_asset);
TIDS_DECODER(peer, struct tids_peer);
TIDS_DECODER(audit_entry, struct tids_audit_entry);
TIDS_DECODER(audit_checkpoint, struct tids_audit_checkpoint);
TIDS_DECODER(ping_request, struct tids_ping);
TIDS_DECODER(ping_reply, struct tids_ping);
TIDS_DECODER(subscribe_control, struct tids_subscribe_control);
TIDS_DECODER(revoke_request, struct tids_id_message);
TIDS_DECODER(change_reply, struct tids_id_message);
TIDS_DECODER(suspend_request, struct tids_id_message);
TIDS_DECODER(status, struct tids_status);
TIDS_DECODER(hub_key_reply, struct tids_hub_key);
TIDS_DECODER(ingest_statement, struct tids_ingest_statement);
TIDS_DECODER(ingest_receipt, struct tids_ingest_receipt);
TIDS_DECODER(delivery_receipt, struct tids_delivery_receipt);
TIDS_DECODER(list_request, struct tids_list_request);
TIDS_DECODER(show_request, struct tids_id_message);
TIDS_DECODER(list_reply, struct tids_list_reply);
TIDS_DECODER(directory, struct tids_directory);
TIDS_DECODER(pull_control, struct tids_pull_control);
TIDS_DECODER(pull_item, struct tids_pull_item);
TIDS_DECODER(peers_reply, struct tids_peers_reply);
TIDS_DECODER(hub_identity, struct tids_hub_identity);
#undef TIDS_DECODER

/* The state topic's gate: checks the key, the headers and the MAC, then
 * decodes the value (a tombstone leaves out->kind 0). TIDS_EAUTH when the
 * MAC is missing or does not verify. */
__attribute__((warn_unused_result))
int tids_wire_open_router_state(const uint8_t mac_key[32], const struct tids_state_message *m,
				struct tids_router_state *out, uint64_t *seq, char *err, size_t errlen);

/* The registry topic's gate: the key (printable, "<kind>/<id>"), the
 * headers and the MAC, then the value (no tombstones: a removal is an
 * entry with an empty body). TIDS_EAUTH when the MAC is missing or does not
 * verify; *seq is the entry's sequence. */
__attribute__((warn_unused_result))
int tids_wire_open_hub_state(const uint8_t mac_key[32], const struct tids_state_message *m,
			     struct tids_hub_state *out, uint64_t *seq, char *err, size_t errlen);

/* Frames have a caller-chosen limit (the daemon's configured maximum). */
__attribute__((warn_unused_result))
int tids_wire_decode_frame(const uint8_t *buf, size_t len, size_t max, struct tids_frame *out,
			   char *err, size_t errlen);

void tids_batch_free(struct tids_batch *b);
void tids_publish_ack_free(struct tids_publish_ack *a);
void tids_delivery_free(struct tids_delivery *d);
void tids_ingress_record_free(struct tids_ingress_record *r);
void tids_delivery_envelope_free(struct tids_delivery_envelope *e);
void tids_audit_log_record_free(struct tids_audit_log_record *r);
void tids_router_state_free(struct tids_router_state *s);
void tids_hub_state_free(struct tids_hub_state *s);
void tids_hub_identity_free(struct tids_hub_identity *h);
void tids_grant_free(struct tids_grant *g);
void tids_approval_free(struct tids_approval *a);
void tids_participant_free(struct tids_participant *p);
void tids_asset_free(struct tids_asset *a);
void tids_peer_free(struct tids_peer *p);
void tids_audit_entry_free(struct tids_audit_entry *e);
void tids_audit_checkpoint_free(struct tids_audit_checkpoint *c);
void tids_ping_free(struct tids_ping *p);
void tids_subscribe_control_free(struct tids_subscribe_control *c);
void tids_id_message_free(struct tids_id_message *m);
void tids_frame_free(struct tids_frame *f);
void tids_hub_key_free(struct tids_hub_key *k);
void tids_ingest_statement_free(struct tids_ingest_statement *s);
void tids_ingest_receipt_free(struct tids_ingest_receipt *r);
void tids_delivery_receipt_free(struct tids_delivery_receipt *r);
/* Status decoded on its own owns its message string. */
void tids_status_free(struct tids_status *s);
void tids_list_request_free(struct tids_list_request *r);
void tids_list_reply_free(struct tids_list_reply *r);
void tids_directory_free(struct tids_directory *d);
void tids_pull_control_free(struct tids_pull_control *c);
void tids_pull_item_free(struct tids_pull_item *i);
void tids_peers_reply_free(struct tids_peers_reply *r);

/*
 * Encoders. They do not validate (what we encode came through a gate or was
 * built by us); they return 0, or TIDS_ENOMEM. The `_unsigned` variants
 * leave the signature out: those bytes are what the signer signs. The
 * signed_grant and signed_approval encoders wrap in->bytes and
 * in->signature, or, when in->bytes is empty, the bare encoding of *in.
 */
#define TIDS_ENCODER(name, type) \
	__attribute__((warn_unused_result)) \
	int tids_wire_encode_##name(const type *in, uint8_t **out, size_t *len)

TIDS_ENCODER(record, struct tids_record);
TIDS_ENCODER(batch, struct tids_batch);
TIDS_ENCODER(publish_ack, struct tids_publish_ack);
TIDS_ENCODER(delivery, struct tids_delivery);
TIDS_ENCODER(ingress_record, struct tids_ingress_record);
TIDS_ENCODER(delivery_envelope, struct tids_delivery_envelope);
TIDS_ENCODER(audit_log_record, struct tids_audit_log_record);
TIDS_ENCODER(router_state, struct tids_router_state);
TIDS_ENCODER(hub_state, struct tids_hub_state);
TIDS_ENCODER(hub_identity, struct tids_hub_identity);
TIDS_ENCODER(grant, struct tids_grant);
TIDS_ENCODER(signed_grant, struct tids_grant);
TIDS_ENCODER(approval, struct tids_approval);
TIDS_ENCODER(signed_approval, struct tids_approval);
TIDS_ENCODER(revoke_approval_request, struct tids_id_message);
TIDS_ENCODER(participant, struct tids_participant);
TIDS_ENCODER(asset, struct tids_asset);
TIDS_ENCODER(peer, struct tids_peer);
TIDS_ENCODER(audit_entry, struct tids_audit_entry);
TIDS_ENCODER(audit_checkpoint, struct tids_audit_checkpoint);
TIDS_ENCODER(audit_checkpoint_unsigned, struct tids_audit_checkpoint);
TIDS_ENCODER(ping_request, struct tids_ping);
TIDS_ENCODER(ping_reply, struct tids_ping);
TIDS_ENCODER(subscribe_control, struct tids_subscribe_control);
TIDS_ENCODER(revoke_request, struct tids_id_message);
TIDS_ENCODER(change_reply, struct tids_id_message);
TIDS_ENCODER(suspend_request, struct tids_id_message);
TIDS_ENCODER(frame, struct tids_frame);
TIDS_ENCODER(status, struct tids_status);
TIDS_ENCODER(hub_key_reply, struct tids_hub_key);
TIDS_ENCODER(ingest_statement, struct tids_ingest_statement);
TIDS_ENCODER(ingest_receipt, struct tids_ingest_receipt);
TIDS_ENCODER(delivery_receipt, struct tids_delivery_receipt);
/* A DeliveryEnvelope holding its receipt alone: appended to an encoded
 * envelope, it adds the receipt (protobuf merges concatenated messages). */
TIDS_ENCODER(delivery_envelope_receipt, struct tids_delivery_receipt);
TIDS_ENCODER(list_request, struct tids_list_request);
TIDS_ENCODER(show_request, struct tids_id_message);
TIDS_ENCODER(list_reply, struct tids_list_reply);
TIDS_ENCODER(directory, struct tids_directory);
TIDS_ENCODER(directory_unsigned, struct tids_directory);
TIDS_ENCODER(pull_control, struct tids_pull_control);
TIDS_ENCODER(pull_item, struct tids_pull_item);
TIDS_ENCODER(peers_reply, struct tids_peers_reply);
#undef TIDS_ENCODER

/*
 * The router's per-record messages, appended to a buffer (no allocation
 * once it has room), byte for byte what the encoders above write. 0, or
 * TIDS_ENOMEM / TIDS_ETOOMANY with the buffer as it was.
 */
struct tids_buf;
__attribute__((warn_unused_result))
int tids_wire_append_record(struct tids_buf *out, const struct tids_record *in);
/* With record_bytes set, those (an encoded Record) stand for in->record:
 * deliveries of one unchanged record to several recipients share them. */
__attribute__((warn_unused_result))
int tids_wire_append_delivery(struct tids_buf *out, const struct tids_delivery *in,
			      const struct tids_bytes *record_bytes);
__attribute__((warn_unused_result))
int tids_wire_append_audit_entry(struct tids_buf *out, const struct tids_audit_entry *in);
/* A DeliveryEnvelope in three steps, so that the Delivery (or its sealing)
 * is written in place: the key and length of its delivery field, then the
 * delivery_len bytes, then the tail (sealed_by and record_id). */
__attribute__((warn_unused_result))
int tids_wire_append_envelope_head(struct tids_buf *out, size_t delivery_len);
__attribute__((warn_unused_result))
int tids_wire_append_envelope_tail(struct tids_buf *out, const char *sealed_by,
				   const uint8_t record_id[TIDS_RECORD_ID_BYTES]);
/* The receipt of a delivery, added when its chain's head is signed: a
 * DeliveryEnvelope holding only its receipt field, appended to the
 * envelope (protobuf merges the two); as
 * tids_wire_encode_delivery_envelope_receipt writes it. */
__attribute__((warn_unused_result))
int tids_wire_append_envelope_receipt(struct tids_buf *out, const struct tids_delivery_receipt *rc);

/*
 * Participant addresses across the network: "id" (this hub) or "id@hub".
 * Splits addr into id and hub ("" when bare); false if either part is not
 * a valid id.
 */
bool tids_address_split(const char *addr, char id[TIDS_ID_MAX + 1], char hub[TIDS_ID_MAX + 1]);

#endif
