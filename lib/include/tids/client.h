/*
 * libtids client: connect to a hub (TCP with Noise_XX as a registered
 * participant, or the local admin socket), call the Exchange and Admin
 * methods, and stream deliveries. Blocking, one connection per client
 * object, no threads; any C program can use it (pkg-config libtids).
 */
#ifndef TIDS_CLIENT_H
#define TIDS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/crypto.h"
#include "tids/known_hubs.h"
#include "tids/wire.h"

struct tids_client;

struct tids_client_options {
	/* "host:port" for a participant connection, or an absolute path for
	 * the hub's local admin socket. */
	const char *address;
	/* Who we are (TCP only): the X25519 form is our Noise static key. */
	const struct tids_identity *identity;
	/* The hub's Ed25519 public key; when set, a hub whose Noise key does
	 * not match it is refused before we reveal who we are. */
	const uint8_t *hub_key;
	/* The known-hubs file (tids/known_hubs.h), used when hub_key is NULL
	 * (hub_key overrides it: the file is then neither read nor written).
	 * A hub it pins must present the pinned key, and is refused before we
	 * reveal who we are when it does not (its error names both keys); a
	 * hub it does not know is pinned on first use, unless pin_strict.
	 * A TCP connection needs hub_key or known_hubs: an unauthenticated
	 * hub could read what we publish and forge what we receive. */
	const char *known_hubs;
	bool pin_strict;               /* refuse a hub known_hubs does not know */
	int timeout_ms;                /* per operation; 0 means 30 s */
	size_t frame_max;              /* 0 means TIDS_FRAME_MAX_DEFAULT */
};

/* Connects, runs the handshake and reads the hub's welcome. A hub that
 * refuses us (unknown key, suspended) fails with its reason in err. */
__attribute__((warn_unused_result))
int tids_client_connect(const struct tids_client_options *o, struct tids_client **out, char *err, size_t errlen);
void tids_client_free(struct tids_client *c);

/* The hub's id: from the handshake, then from the hub's Ping reply
 * ("local" on the admin socket until a Ping). Grants and approvals name it
 * (tids_grant.hub_id): a hub refuses one issued to another. */
const char *tids_client_hub_id(const struct tids_client *c);
/* The hub's time zone (hub.timezone) as its last Ping reply gave it;
 * "UTC" before one, or from a hub that does not say. */
const char *tids_client_hub_timezone(const struct tids_client *c);
/* The Ed25519 key the hub proved in the handshake (its X25519 form is the
 * hub's Noise static key); NULL on the local socket. */
const uint8_t *tids_client_hub_key(const struct tids_client *c);

/* How the hub's key was checked. */
enum tids_client_pin {
	TIDS_CLIENT_PIN_NONE = 0,      /* the local socket */
	TIDS_CLIENT_PIN_KEY,           /* matched hub_key */
	TIDS_CLIENT_PIN_FILE,          /* matched the key the known-hubs file pins */
	TIDS_CLIENT_PIN_ADDED,         /* not in the file before: pinned now (first use) */
};
/* The outcome, and the file's entry it concerns (matched or added) in
 * *entry when not NULL. */
enum tids_client_pin tids_client_pin(const struct tids_client *c, struct tids_known_hub *entry);

/*
 * One unary call. On an OK status returns 0 with the response body in
 * *resp (malloc'd; NULL when empty). On another status returns
 * TIDS_EDENIED with the hub's message in err, and tids_client_status()
 * gives the tids.v1.Code; transport failures return their own codes.
 */
__attribute__((warn_unused_result))
int tids_client_call(struct tids_client *c, const char *method, const uint8_t *body, size_t len,
		     uint8_t **resp, size_t *resp_len, char *err, size_t errlen);
int tids_client_status(const struct tids_client *c);

__attribute__((warn_unused_result))
int tids_client_ping(struct tids_client *c, char *participant, size_t plen, char *err, size_t errlen);

/* Builds a batch of serialized records, computes its Merkle root, signs it
 * with id and publishes it; *ack holds per-record errors and the hub's
 * receipt (tids/receipt.h). The receipt is checked with the hub's key:
 * TIDS_EBADSIG (with *ack filled: the batch was acknowledged) when it does
 * not verify or does not describe this batch. */
__attribute__((warn_unused_result))
int tids_client_publish(struct tids_client *c, const struct tids_identity *id, const char *publisher,
			uint64_t sequence, const struct tids_bytes *records, size_t n,
			struct tids_publish_ack *ack, char *err, size_t errlen);

/* Signs a grant or approval in place (its signer's key): over the bytes
 * tids_wire_encode_grant / _approval make of it, which are the bytes
 * tids_client_grant / _approve send. Set hub_id first (the hub it is for,
 * e.g. tids_client_hub_id() after tids_client_ping()). */
__attribute__((warn_unused_result))
int tids_client_sign_grant(const struct tids_identity *id, struct tids_grant *g);
__attribute__((warn_unused_result))
int tids_client_sign_approval(const struct tids_identity *id, struct tids_approval *a);

/* Sends a signed grant or approval (Exchange/Grant, Exchange/Approve). */
__attribute__((warn_unused_result))
int tids_client_grant(struct tids_client *c, const struct tids_grant *g, char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_approve(struct tids_client *c, const struct tids_approval *a, char *err, size_t errlen);
/* The same for a Grant or Approval serialized and signed elsewhere: its
 * exact bytes and the signature over "tids.v1.grant" / "tids.v1.approval"
 * || those bytes travel as they are. */
__attribute__((warn_unused_result))
int tids_client_grant_signed(struct tids_client *c, const uint8_t *grant, size_t len,
			     const uint8_t signature[TIDS_SIGNATURE_BYTES], char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_approve_signed(struct tids_client *c, const uint8_t *approval, size_t len,
			       const uint8_t signature[TIDS_SIGNATURE_BYTES], char *err, size_t errlen);
/* All of it for the connected hub: asks the hub its id (Ping), puts it in
 * g->hub_id / a->hub_id when that is NULL or "", signs as id and sends. The
 * hub id then points into c: use g or a no longer than c. */
__attribute__((warn_unused_result))
int tids_client_issue_grant(struct tids_client *c, const struct tids_identity *id, struct tids_grant *g,
			    char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_issue_approval(struct tids_client *c, const struct tids_identity *id, struct tids_approval *a,
			       char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_revoke(struct tids_client *c, const char *grant_id, char *err, size_t errlen);
/* Withdraws an approval this connection's regulator signed. */
__attribute__((warn_unused_result))
int tids_client_revoke_approval(struct tids_client *c, const char *approval_id, char *err, size_t errlen);

/* Admin (local socket, or an admin key). */
__attribute__((warn_unused_result))
int tids_client_register_participant(struct tids_client *c, const struct tids_participant *p, char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_register_asset(struct tids_client *c, const struct tids_asset *a, char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_register_peer(struct tids_client *c, const struct tids_peer *p, char *err, size_t errlen);
/* The hub's id and public key (free *out with tids_hub_key_free). */
__attribute__((warn_unused_result))
int tids_client_hub_key_get(struct tids_client *c, struct tids_hub_key *out, char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_suspend(struct tids_client *c, const char *participant, int suspended, char *err, size_t errlen);
/* Admin reads: one page of entries of kind (tids_list_kinds) with ids after
 * after ("" or NULL: from the first), at most limit (0: the hub's default);
 * out->next_after is "" when there are no more. Show: every entry whose id
 * is id. Free out with tids_list_reply_free. */
__attribute__((warn_unused_result))
int tids_client_list(struct tids_client *c, const char *kind, const char *after, uint32_t limit,
		     struct tids_list_reply *out, char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_show(struct tids_client *c, const char *id, struct tids_list_reply *out, char *err, size_t errlen);
/* The peer links (free *out with tids_peers_reply_free). */
__attribute__((warn_unused_result))
int tids_client_peers(struct tids_client *c, struct tids_peers_reply *out, char *err, size_t errlen);

/*
 * Subscribing: start the stream for purposes, then take deliveries one by
 * one and acknowledge them (an ack covers every delivery up to seq).
 * delivery_seq increases strictly along a participant's stream and stays
 * the same when a delivery is sent again. A delivery already returned is
 * never returned again on this client (see tids_client_resume_after for
 * the next client).
 */
__attribute__((warn_unused_result))
int tids_client_subscribe(struct tids_client *c, const char *const *purposes, size_t n, uint32_t window,
			  char *err, size_t errlen);
/* 1 with *d filled (free it with tids_delivery_free), 0 on timeout, or a
 * negative code when the stream ended or broke. A delivery whose receipt
 * does not verify with the hub's key, or does not cover it, is returned
 * with TIDS_EBADSIG (*d filled: the caller decides). */
__attribute__((warn_unused_result))
int tids_client_next_delivery(struct tids_client *c, struct tids_delivery *d, int timeout_ms,
			      char *err, size_t errlen);
__attribute__((warn_unused_result))
int tids_client_ack(struct tids_client *c, uint64_t delivery_seq, char *err, size_t errlen);
/*
 * Ends the Subscribe call and waits (at most timeout_ms) until the hub
 * says it has ended, so that every ack sent before is in hand: acks are
 * not answered, and a connection closed with deliveries still unread is
 * reset, which can drop the last acks before the hub reads them (the hub
 * then sends those deliveries again). Deliveries that arrive meanwhile
 * are dropped unacknowledged: the next stream starts with them. 0 when
 * not subscribed.
 */
__attribute__((warn_unused_result))
int tids_client_unsubscribe(struct tids_client *c, int timeout_ms, char *err, size_t errlen);
/*
 * The consumer already holds every delivery up to delivery_seq (the last
 * one it processed, kept across runs): tids_client_next_delivery drops and
 * acknowledges them if the hub sends them again. A hub that crashed sends
 * again those whose acknowledgement it had not yet committed, with the
 * same delivery_seq. Call it before taking deliveries.
 */
void tids_client_resume_after(struct tids_client *c, uint64_t delivery_seq);

#endif
