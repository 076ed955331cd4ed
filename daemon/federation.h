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

	/* Its directory, as last verified (zeroed when none yet). */
	struct tids_directory dir;
	uint8_t *dir_blob;               /* the signed bytes, kept in the registry */
	size_t dir_len;
	uint32_t conflicts;              /* of its ids, refused */

	/* Our link to it: we pull what it forwards to us. */
	struct link *link;
	uint64_t next_position;          /* first of its positions not yet on our ingress */
	uint64_t imported, refused;
	char last_error[256];
	int64_t last_error_ms;

	/* Its link to us: it pulls what we forward to it. */
	struct pull *serving;
	uint64_t acked;                  /* the position after its last ack */
	uint64_t forwarded;
	uint64_t trimmed;                /* its outbound topic is deleted up to here */
	int64_t trimmed_at;

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

	/* Our own directory, signed, as the PullItem bytes every puller gets. */
	bool dir_dirty;
	uint64_t dir_version;
	uint8_t *dir_item;
	size_t dir_item_len;

	/* Our chain heads, read from the ledger, for the pullers. */
	struct tids_ledger *ledger;
	struct tids_audit_checkpoint *heads;     /* by partition; seq 0 = none */
	size_t n_heads;
	uint64_t heads_version;          /* grows when a head moves */
	int64_t heads_read_at;

	char hub_id[TIDS_ID_MAX + 1];    /* ours (the config may be swapped on reload) */
	struct import *import;           /* import.c */
};

/* federation.c */
struct fed_peer *fed_peer(struct tidsd *d, const char *id);
void fed_peer_error(struct fed_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* directory.c */
/* Our directory as a signed PullItem (rebuilt when the registry changed). */
int directory_own_item(struct tidsd *d, const uint8_t **item, size_t *len);
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

/* witness.c */
/* A peer's signed chain head: kept (and written to its witness file) if
 * its signature verifies and it is newer. */
void witness_keep(struct tidsd *d, struct fed_peer *p, const struct tids_audit_checkpoint *cp);
void witness_load(struct tidsd *d, struct fed_peer *p);
/* Rereads our own chain heads from the ledger when due. */
void witness_read_own(struct tidsd *d);

#endif
