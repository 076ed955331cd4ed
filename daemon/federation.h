/*
 * Federation's private state in the main loop, shared by federation.c
 * (peers, the Pull service we serve, Admin/Peers), link.c (our links to
 * the peers), import.c (what the links bring), directory.c (our directory
 * and the peers') and witness.c (their chain heads, and ours for them).
 *
 * Every peer pair keeps two links: each hub dials the other and pulls the
 * records that hub forwards to it from its outbound topic
 * tids.<hub>.out.<peer>. Positions are offsets on that topic: the puller
 * acks a position once the forward is on its own ingress topic (durable),
 * and its router drops a forward it has routed before by the same position.
 */
#ifndef TIDSD_FEDERATION_H
#define TIDSD_FEDERATION_H

#include "tids/ledger.h"
#include "tids/map.h"
#include "tidsd.h"

#define LINK_WINDOW 2000             /* forwards in flight on a link */
#define LINK_BACKOFF_MIN_MS 500
#define LINK_BACKOFF_MAX_MS 15000
#define WITNESS_PUSH_MS 1000         /* how often our chain heads go to the pullers */
#define TRIM_MS 10000                /* how often what a peer acknowledged is deleted */

struct link;
struct pull;

/* One peer hub: its registration, what we know of it, and both links. */
struct fed_peer {
	char id[TIDS_ID_MAX + 1];
	char jurisdiction[16];
	char address[300];
	uint8_t public_key[TIDS_PUBLIC_KEY_BYTES];
	uint8_t dh_pk[TIDS_DH_KEY_BYTES];
	char out_topic[512];             /* what we forward to it */

	/* Its directory, as last verified (zeroed when none yet): the pages
	 * (decoded copies owning their bytes, kept in the registry as signed)
	 * and dir, their merge (tids_directory_merged_free). */
	struct tids_directory dir;
	struct tids_directory *dir_pages;
	size_t n_dir_pages;
	/* The pages of a newer version while they arrive (slots of pend_n). */
	struct tids_directory *pend;
	uint32_t pend_n, pend_have;
	uint64_t pend_version;
	uint32_t conflicts;              /* of its ids, refused */

	/* Our link to it: we pull what it forwards to us. */
	struct link *link;
	uint64_t next_position;          /* first of its positions not yet on our ingress */
	uint64_t in_epoch;               /* of its outbound topic, as its forwards say (0: none yet) */
	uint64_t in_base;                /* added to its positions for our router: grows per epoch */
	uint64_t max_queued;             /* highest of its positions sent to our Kafka (this epoch) */
	uint64_t expect;                 /* on this link, positions go on from here (never back) */
	uint64_t imported, refused;
	char last_error[256];
	int64_t last_error_ms;

	/* Its link to us: it pulls what we forward to it. */
	struct pull *serving;
	uint64_t acked;                  /* the position after its last ack */
	uint64_t forwarded;
	uint64_t trimmed;                /* its outbound topic is deleted up to here */
	bool acked_checked;              /* acked is of the topic as it is (checked at a Pull) */
	uint64_t out_epoch;              /* of its outbound topic: new when we find it restarted */
	int64_t trimmed_at;

	/* Its consent (consent.c): the round being received, and the ids of
	 * its grants and approvals that round listed so far. */
	uint64_t consent_round;
	struct tids_map consent_seen;

	/* Its chain heads we witness, by partition. */
	struct tids_audit_checkpoint *witness;   /* owned copies (hub_id points to id) */
	size_t n_witness;
	uint64_t witnessed_seq;
};

/* A participant of a peer hub, as its directory says (accepted: no other
 * hub claims the id). */
struct remote {
	char id[TIDS_ID_MAX + 1];
	char hub[TIDS_ID_MAX + 1];
	char role[TIDS_NAME_MAX + 1];
	char jurisdiction[16];
	uint8_t identity_key[TIDS_PUBLIC_KEY_BYTES];
	bool admin_registered;           /* the registry has it (with its attributes): not posted again */
	char purposes[SUBSCRIPTION_PURPOSES_MAX][TIDS_NAME_MAX + 1];
	size_t n_purposes;
};

struct federation {
	struct tids_map peers;           /* id -> struct fed_peer */
	struct tids_map remote;          /* participant id -> struct remote */
	struct tids_map conflicted;      /* "id@hub" of refused claims (for logging once) */

	/* Our own directory, signed, as the PullItems every puller gets (one
	 * a page). */
	bool dir_dirty;
	uint64_t dir_version;
	struct tids_bytes *dir_items;
	size_t n_dir_items;

	/* Our chain heads, read from the ledger, for the pullers. */
	struct tids_ledger *ledger;
	struct tids_audit_checkpoint *heads;     /* by partition; seq 0 = none */
	size_t n_heads;
	uint64_t heads_version;          /* grows when a head moves */
	int64_t heads_read_at;

	uint64_t consent_version;        /* grows when our grants or approvals change */

	char hub_id[TIDS_ID_MAX + 1];    /* ours (the config may be swapped on reload) */
	struct import *import;           /* import.c */
};

/* federation.c */
struct fed_peer *fed_peer(struct tidsd *d, const char *id);
void fed_peer_error(struct fed_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* directory.c */
/* Our directory as signed PullItems, one a page (rebuilt when the registry
 * changed). */
int directory_own_items(struct tidsd *d, const struct tids_bytes **items, size_t *n);
/* Frees what p holds of its directory (kept and arriving pages). */
void directory_forget(struct fed_peer *p);
/* A peer's directory: checks the signature with its key and the version,
 * keeps it (registry), and rebuilds who is where. */
int directory_apply(struct tidsd *d, struct fed_peer *p, const struct tids_directory *dir, char *err, size_t errlen);
/* Loads the peers' directories kept in the registry. */
void directory_load(struct tidsd *d);
/* Recomputes the accepted remote participants from every directory and
 * the registry, and passes the differences to the router. */
void directory_rebuild(struct tidsd *d);
void directory_free(struct tidsd *d);

/* link.c: our links, one per peer, dialled with backoff. */
void link_start(struct tidsd *d, struct fed_peer *p);
void link_stop(struct tidsd *d, struct fed_peer *p);
void link_tick(struct tidsd *d, struct fed_peer *p);
bool link_is_up(const struct fed_peer *p);
/* Sends an ack for position on p's link (import.c, once it is durable). */
void link_ack(struct tidsd *d, struct fed_peer *p, uint64_t position);
/* A received item: directory, checkpoint or forward. */
void link_item(struct tidsd *d, struct fed_peer *p, struct tids_pull_item *it);
/* The link broke (or the peer stopped the stream): close and back off. */
void link_fail(struct tidsd *d, struct fed_peer *p, const char *why);

/* import.c: forwards onto our ingress; acks once Kafka has them. */
int import_init(struct tidsd *d);
void import_free(struct tidsd *d);
void import_forward(struct tidsd *d, struct fed_peer *p, struct tids_pull_item *it);
/* The link to p went down: forget what waits for an ack on it. */
void import_forget(struct tidsd *d, struct fed_peer *p);
/* Forwards of p's on their way to Kafka. */
size_t import_in_flight(const struct tidsd *d, const struct fed_peer *p);

/* consent.c */
/* Our grants and approvals for p's participants, as one round of pages. */
typedef int consent_emit_fn(struct tidsd *d, void *ctx, const struct tids_consent_page *page);
int consent_send(struct tidsd *d, const struct fed_peer *p, consent_emit_fn *emit, void *ctx);
/* One page of p's consent: what verifies is kept; at the end of a round,
 * what it did not list is revoked here. */
void consent_page(struct tidsd *d, struct fed_peer *p, const struct tids_consent_page *c);
/* The link to p dropped: a round half received counts for nothing. */
void consent_forget(struct fed_peer *p);

/* witness.c */
/* A peer's signed chain head: kept (and written to its witness file) if
 * its signature verifies and it is newer. */
void witness_keep(struct tidsd *d, struct fed_peer *p, const struct tids_audit_checkpoint *cp);
void witness_load(struct tidsd *d, struct fed_peer *p);
/* Rereads our own chain heads from the ledger when due. */
void witness_read_own(struct tidsd *d);

#endif
