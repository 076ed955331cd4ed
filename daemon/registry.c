/*
 * The registry in memory: participants (by id and by Noise key), assets,
 * peers, grants and approvals, loaded from this instance's view (SQLite)
 * through the decode gate and kept in step with the policy engine's fact
 * store. It changes in two steps, both here: registry_prepare checks a
 * change against the registry as this instance has it and makes the
 * entries it writes to the hub state topic; registry_apply applies an
 * entry from the topic, on every instance (hubstate.c carries between).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/map.h"
#include "tids/seal.h"
#include "router.h"
#include "tidsd.h"

struct registry {
	struct tids_map participants;   /* id -> struct participant */
	struct tids_map by_dh;          /* X25519 key -> struct participant */
	struct tids_map assets;         /* id -> struct tids_asset */
	struct tids_map peers;          /* id -> struct tids_peer */
	struct tids_map grants;         /* id -> struct tids_grant */
	struct tids_map approvals;      /* id -> struct approval_entry */
	struct tids_map subscribers;    /* id -> struct subscriber */
};

/* --- participants -------------------------------------------------------- */

static void participant_free(struct participant *p)
{
	if (p == NULL)
		return;
	tids_participant_free(&p->p);
	free(p);
}

/* Decodes and indexes one participant. Its key is its own: should the
 * topic (as compaction left it) give it to a second participant, the
 * later entry takes it, on every instance alike. */
static int index_participant(struct tidsd *d, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct registry *reg = d->registry;
	struct participant *p = calloc(1, sizeof(*p)), *old, *same_key;
	void *replaced;
	int r;

	if (p == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	if ((r = tids_wire_decode_participant(blob, len, &p->p, err, errlen)) < 0)
		goto fail;
	if (tids_identity_dh_public(p->p.identity_key, p->dh_pk) != 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "participant %s: identity_key is not an Ed25519 public key",
			      p->p.id);
		goto fail;
	}
	same_key = tids_map_get(&reg->by_dh, p->dh_pk, sizeof(p->dh_pk));
	if (same_key != NULL && strcmp(same_key->p.id, p->p.id) != 0) {
		tids_log_warnx("registry: participant %s takes the identity key %s had", p->p.id, same_key->p.id);
		tids_map_remove(&reg->by_dh, same_key->dh_pk, sizeof(same_key->dh_pk));
	}
	old = tids_map_get_str(&reg->participants, p->p.id);
	if (old != NULL) {
		p->batch_seq = old->batch_seq;
		memcpy(p->unacked, old->unacked, sizeof(p->unacked));
		p->n_unacked = old->n_unacked;
		if (tids_map_get(&reg->by_dh, old->dh_pk, sizeof(old->dh_pk)) == old)
			tids_map_remove(&reg->by_dh, old->dh_pk, sizeof(old->dh_pk));
	} else if (store_get_u64(d->store, "batch_seq", p->p.id, &p->batch_seq) != 0) {
		p->batch_seq = 0;
	}
	if (tids_map_put_str(&reg->participants, p->p.id, p, &replaced) != 0 ||
	    tids_map_put(&reg->by_dh, p->dh_pk, sizeof(p->dh_pk), p, NULL) != 0) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		goto fail;
	}
	participant_free(replaced);
	router_post(d, RM_PARTICIPANT, p->p.id, blob, len, NULL, NULL);
	return 0;
fail:
	participant_free(p);
	return r;
}

static int prepare_participant(struct tidsd *d, const uint8_t *blob, size_t len, struct hs_batch *b, char *err,
			       size_t errlen)
{
	struct tids_participant p;
	uint8_t dh[TIDS_DH_KEY_BYTES];
	const struct participant *same_key;
	const char *claimed;
	int r;

	if ((r = tids_wire_decode_participant(blob, len, &p, err, errlen)) < 0)
		return r;
	if ((r = purposes_check_attribute(&p, err, errlen)) != 0)
		goto out;
	/* Hubs are recipients of statistics under their own ids and the role
	 * "hub": no participant may pass for one. */
	if (strcmp(p.role, "hub") == 0 || strcmp(p.id, d->conf->hub_id) == 0 ||
	    tids_map_get_str(&d->registry->peers, p.id) != NULL) {
		r = tids_fail(err, errlen, TIDS_EPERM, "participant %s: %s", p.id, strcmp(p.role, "hub") == 0 ?
			      "the role hub is reserved for hubs" : "that is the id of a hub");
		goto out;
	}
	/* Ids are unique across the network: one a peer hub serves is not
	 * ours to take (registering it with that hub as home adds to it). */
	claimed = federation_home_of(d, p.id);
	if (claimed != NULL && strcmp(p.home_hub, claimed) != 0) {
		r = tids_fail(err, errlen, TIDS_EEXIST, "participant %s is served by hub %s (its directory says so); "
			      "register it with --home-hub %s, or pick another id", p.id, claimed, claimed);
		goto out;
	}
	if (tids_identity_dh_public(p.identity_key, dh) != 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "participant %s: identity_key is not an Ed25519 public key", p.id);
		goto out;
	}
	same_key = registry_by_dh_key(d, dh);
	if (same_key != NULL && strcmp(same_key->p.id, p.id) != 0) {
		r = tids_fail(err, errlen, TIDS_EEXIST, "participant %s: identity_key already belongs to %s", p.id,
			      same_key->p.id);
		goto out;
	}
	r = hs_batch_add(b, HS_PARTICIPANT, p.id, blob, len, NULL, 0);
out:
	tids_participant_free(&p);
	return r;
}

static int prepare_suspend(struct tidsd *d, const char *id, bool suspended, struct hs_batch *b, char *err,
			   size_t errlen)
{
	struct participant *p = tids_map_get_str(&d->registry->participants, id);
	struct tids_participant copy;
	uint8_t *blob;
	size_t len;
	int r;

	if (p == NULL)
		return tids_fail(err, errlen, TIDS_ENOENT, "no participant %s", id);
	copy = p->p;
	copy.suspended = suspended;
	if (tids_wire_encode_participant(&copy, &blob, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = hs_batch_add(b, HS_PARTICIPANT, id, blob, len, NULL, 0);
	free(blob);
	return r;
}

static int apply_participant(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err,
			     size_t errlen)
{
	bool known = registry_knows_participant(d, id);
	int r = index_participant(d, e->body.data, e->body.len, err, errlen);

	if (r == 0 && store_put(d->store, STORE_PARTICIPANT, id, e->body.data, e->body.len) != 0)
		r = tids_fail(err, errlen, TIDS_EDB, "participant %s: could not be stored", id);
	/* Its delivery topic, before anything can be routed to it (that needs
	 * a subscription or a grant, later entries): each instance asks, the
	 * first makes it, Kafka says the others' exists. */
	if (r == 0 && !known)
		kafka_topic_create_async(d, KT_DELIVER, id);
	/* A new key, a suspension: open sessions lose what they no longer
	 * have; our directory, which peers hold, changes. */
	if (r == 0) {
		sessions_recheck(d, "participant changed");
		federation_registry_changed(d);
	}
	return r;
}

bool registry_knows_participant(const struct tidsd *d, const char *id)
{
	return tids_map_get_str(&d->registry->participants, id) != NULL;
}

const struct participant *registry_participant(const struct tidsd *d, const char *id)
{
	return tids_map_get_str(&d->registry->participants, id);
}

struct participant *registry_participant_mut(struct tidsd *d, const char *id)
{
	return tids_map_get_str(&d->registry->participants, id);
}

const struct participant *registry_by_dh_key(const struct tidsd *d, const uint8_t dh_pk[TIDS_DH_KEY_BYTES])
{
	return tids_map_get(&d->registry->by_dh, dh_pk, TIDS_DH_KEY_BYTES);
}

void registry_each_participant(struct tidsd *d, registry_participant_fn *fn, void *ctx)
{
	const struct participant *p;
	size_t pos = 0;

	while ((p = tids_map_next(&d->registry->participants, &pos)) != NULL)
		fn(ctx, p);
}

void registry_each_subscriber(struct tidsd *d, registry_subscriber_fn *fn, void *ctx)
{
	const struct subscriber *s;
	size_t pos = 0;

	while ((s = tids_map_next(&d->registry->subscribers, &pos)) != NULL)
		fn(ctx, s);
}

void registry_each_peer(struct tidsd *d, registry_peer_fn *fn, void *ctx)
{
	const struct tids_peer *p;
	size_t pos = 0;

	while ((p = tids_map_next(&d->registry->peers, &pos)) != NULL)
		fn(d, p, ctx);
}



/* --- assets and peers ------------------------------------------------------ */

static int index_asset(struct tidsd *d, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct tids_asset *a = calloc(1, sizeof(*a));
	void *old;
	int r;

	if (a == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	if ((r = tids_wire_decode_asset(blob, len, a, err, errlen)) < 0)
		goto fail;
	if (tids_map_put_str(&d->registry->assets, a->asset_id, a, &old) != 0) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		goto fail;
	}
	if (old != NULL) {
		tids_asset_free(old);
		free(old);
	}
	router_post(d, RM_ASSET, a->asset_id, blob, len, NULL, NULL);
	return 0;
fail:
	tids_asset_free(a);
	free(a);
	return r;
}

static int prepare_asset(struct tidsd *d, const uint8_t *blob, size_t len, struct hs_batch *b, char *err,
			 size_t errlen)
{
	struct tids_asset a;
	int r;
	char lessor[TIDS_ID_MAX + 1], why[256];
	uint8_t *named = NULL;
	size_t named_len;

	if ((r = tids_wire_decode_asset(blob, len, &a, err, errlen)) < 0)
		return r;
	if (registry_participant(d, a.lessee) == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOENT, "asset %s: lessee %s is not registered", a.asset_id, a.lessee);
		goto out;
	}
	/* The lessor may be a participant of another hub (lessor.wh@hub.wh):
	 * kept by its id, which is unique across the network. */
	if (*a.lessor != '\0') {
		if (federation_resolve(d, a.lessor, lessor, why, sizeof(why)) != 0) {
			r = tids_fail(err, errlen, TIDS_ENOENT, "asset %s: lessor %s", a.asset_id, why);
			goto out;
		}
		if (strcmp(lessor, a.lessor) != 0) {
			struct tids_asset copy = a;

			copy.lessor = lessor;
			if (tids_wire_encode_asset(&copy, &named, &named_len) != 0) {
				r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
				goto out;
			}
			blob = named;
			len = named_len;
		}
	}
	r = hs_batch_add(b, HS_ASSET, a.asset_id, blob, len, NULL, 0);
out:
	free(named);
	tids_asset_free(&a);
	return r;
}

static int apply_asset(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err, size_t errlen)
{
	int r = index_asset(d, e->body.data, e->body.len, err, errlen);

	if (r == 0 && store_put(d->store, STORE_ASSET, id, e->body.data, e->body.len) != 0)
		r = tids_fail(err, errlen, TIDS_EDB, "asset %s: could not be stored", id);
	return r;
}

const struct tids_asset *registry_asset(const struct tidsd *d, const char *id)
{
	return tids_map_get_str(&d->registry->assets, id);
}

static int index_peer(struct tidsd *d, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct tids_peer *p = calloc(1, sizeof(*p));
	void *old;
	int r;

	if (p == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	if ((r = tids_wire_decode_peer(blob, len, p, err, errlen)) < 0)
		goto fail;
	if (tids_map_put_str(&d->registry->peers, p->hub_id, p, &old) != 0) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		goto fail;
	}
	if (old != NULL) {
		tids_peer_free(old);
		free(old);
	}
	router_post(d, RM_PEER, p->hub_id, (const uint8_t *)p->jurisdiction, strlen(p->jurisdiction), NULL, NULL);
	return 0;
fail:
	tids_peer_free(p);
	free(p);
	return r;
}

static int prepare_peer(struct tidsd *d, const uint8_t *blob, size_t len, struct hs_batch *b, char *err, size_t errlen)
{
	struct tids_peer p;
	int r;

	if ((r = tids_wire_decode_peer(blob, len, &p, err, errlen)) < 0)
		return r;
	if (strcmp(p.hub_id, d->conf->hub_id) == 0)
		r = tids_fail(err, errlen, TIDS_EINVAL, "peer %s is this hub", p.hub_id);
	else
		r = hs_batch_add(b, HS_PEER, p.hub_id, blob, len, NULL, 0);
	tids_peer_free(&p);
	return r;
}

static int apply_peer(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err, size_t errlen)
{
	int r = index_peer(d, e->body.data, e->body.len, err, errlen);

	if (r == 0 && store_put(d->store, STORE_PEER, id, e->body.data, e->body.len) != 0)
		r = tids_fail(err, errlen, TIDS_EDB, "peer %s: could not be stored", id);
	if (r == 0)
		federation_peer_changed(d, tids_map_get_str(&d->registry->peers, id));
	return r;
}

/* --- grants and approvals -------------------------------------------------- */

/* The role whose participants issue approvals (DESIGN §5: only a regulator
 * of the exporter's jurisdiction can approve an export). */
#define APPROVAL_SIGNER_ROLE "regulator"

/* An approval as the registry keeps it. Revoked ones stay (their ids are
 * spent: approvals are immutable); the router knows them as revoked. */
struct approval_entry {
	struct tids_approval a;
	char id[TIDS_ID_MAX + 1];       /* as this hub knows it (registry_consent_id) */
	bool revoked;
};

/* How this hub knows a grant or approval: by its id if it was issued to
 * this hub, as id@hub if another hub issued it (hub_id names that hub,
 * which enforces it and sent it to us over its link). False if that does
 * not fit an id's length. */
bool registry_consent_id(const struct tidsd *d, const char *id, const char *hub_id, char buf[TIDS_ID_MAX + 1])
{
	if (strcmp(hub_id, d->conf->hub_id) == 0)
		return (size_t)snprintf(buf, TIDS_ID_MAX + 1, "%s", id) <= TIDS_ID_MAX;
	return (size_t)snprintf(buf, TIDS_ID_MAX + 1, "%s@%s", id, hub_id) <= TIDS_ID_MAX;
}

/* A grant as the registry keeps it: the grant first (the map's values are
 * read as struct tids_grant), then the id the map is keyed by. */
struct grant_entry {
	struct tids_grant g;
	char id[TIDS_ID_MAX + 1];       /* as this hub knows it (registry_consent_id) */
};

static int index_grant(struct tidsd *d, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	uint8_t key[TIDS_SEAL_KEY_BYTES];
	struct grant_entry *ge = calloc(1, sizeof(*ge));
	struct tids_grant *g;
	char *id;
	void *old;
	int r;

	if (ge == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	g = &ge->g;
	id = ge->id;
	if ((r = tids_wire_decode_signed_grant(blob, len, g, err, errlen)) < 0)
		goto fail;
	if (!registry_consent_id(d, g->grant_id, g->hub_id, id)) {
		r = tids_fail(err, errlen, TIDS_EBADID, "grant %s@%s: id too long", g->grant_id, g->hub_id);
		goto fail;
	}
	/* A grant without its key has been shredded: it cannot carry data. */
	if (keys_grant_key(d, id, key) != 0) {
		r = tids_fail(err, errlen, TIDS_ECRYPTO, "grant %s has no data key", id);
		goto fail;
	}
	if (tids_map_put_str(&d->registry->grants, id, g, &old) != 0) {
		sodium_memzero(key, sizeof(key));
		r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		goto fail;
	}
	if (old != NULL) {
		tids_grant_free(old);
		free(old);
	}
	router_post(d, RM_GRANT, id, blob, len, key, NULL);
	sodium_memzero(key, sizeof(key));
	return 0;
fail:
	tids_grant_free(g);
	free(ge);
	return r;
}

/* Checks a signed consent message: it names this hub, the caller is its
 * signer, and the signature over the exact bytes the signer produced
 * verifies with the signer's registered key. */
static int check_signed(struct tidsd *d, const char *signer, const char *caller, const char *hub_id,
			const char *domain, const struct tids_bytes *bytes, const uint8_t sig[TIDS_SIGNATURE_BYTES],
			const char *what, const char *id, char *err, size_t errlen)
{
	const struct participant *p = registry_participant(d, signer);

	if (strcmp(hub_id, d->conf->hub_id) != 0)
		return tids_fail(err, errlen, TIDS_EPERM, "%s %s is issued to hub %s; this hub is %s", what, id, hub_id,
				 d->conf->hub_id);
	if (caller != NULL && strcmp(caller, signer) != 0)
		return tids_fail(err, errlen, TIDS_EPERM, "%s is signed by %s, not by the caller %s", what, signer, caller);
	if (p == NULL)
		return tids_fail(err, errlen, TIDS_ENOENT, "%s: signer %s is not registered", what, signer);
	if (tids_sign_verify_detached(p->p.identity_key, domain, bytes->data, bytes->len, sig) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "%s: signature does not verify with %s's key", what, signer);
	return 0;
}

static int prepare_grant(struct tidsd *d, const uint8_t *blob, size_t len, const char *caller, struct hs_batch *b,
			 char *err, size_t errlen)
{
	uint8_t key[TIDS_SEAL_KEY_BYTES], wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	struct tids_grant g;
	int r;

	if ((r = tids_wire_decode_signed_grant(blob, len, &g, err, errlen)) < 0)
		return r;
	if (tids_map_get_str(&d->registry->grants, g.grant_id) != NULL) {
		r = tids_fail(err, errlen, TIDS_EEXIST, "grant %s exists; grants are immutable, revoke and grant anew",
			      g.grant_id);
		goto out;
	}
	if ((r = check_signed(d, g.owner, caller, g.hub_id, TIDS_DOMAIN_GRANT, &g.bytes, g.signature, "grant",
			      g.grant_id, err, errlen)) < 0)
		goto out;
	if (registry_participant(d, g.grantee) == NULL && federation_home_of(d, g.grantee) == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOENT, "grant %s: grantee %s is not registered here nor listed by a "
			      "peer hub", g.grant_id, g.grantee);
		goto out;
	}
	/* The grant's own data key: its deliveries are sealed under it, and
	 * destroying it on revocation or expiry makes them unreadable. It
	 * travels to the other instances wrapped under the hub's master key;
	 * each keeps its own copy under its epoch (keys.c).
	 * What is written is what the owner sent: the exact signed bytes. */
	randombytes_buf(key, sizeof(key));
	keys_wrap_for_hub(d, g.grant_id, key, wrapped);
	sodium_memzero(key, sizeof(key));
	r = hs_batch_add(b, HS_GRANT, g.grant_id, blob, len, wrapped, 0);
out:
	tids_grant_free(&g);
	return r;
}

static int prepare_revoke_grant(struct tidsd *d, const char *grant_id, const char *caller, bool expiry,
				struct hs_batch *b, char *err, size_t errlen)
{
	struct tids_grant *g = tids_map_get_str(&d->registry->grants, grant_id);

	if (g == NULL)
		return expiry ? 0 : tids_fail(err, errlen, TIDS_ENOENT, "no grant %s", grant_id);
	if (caller != NULL && strcmp(caller, g->owner) != 0)
		return tids_fail(err, errlen, TIDS_EPERM, "grant %s belongs to %s; only its owner may revoke it",
				 grant_id, g->owner);
	if (expiry && g->not_after_ms > now_ms())
		return 0;
	return hs_batch_add(b, HS_GRANT, grant_id, NULL, 0, NULL, 0);
}

/* What the router hears of a consent withdrawn: "revoked MS" or
 * "expired MS". Its policy facts keep it, never matching, so that a
 * denial can say what became of it. */
static void post_withdrawn(struct tidsd *d, enum router_msg_kind kind, const char *id, const char *how,
			   int64_t at_ms)
{
	char why[48];
	int n = snprintf(why, sizeof(why), "%s %lld", how, (long long)at_ms);

	router_post(d, kind, id, (const uint8_t *)why, n > 0 ? (size_t)n : 0, NULL, NULL);
}

/* The grant, its key destroyed already, leaves the registry (at at_ms,
 * when the entry that ended it was written). */
static void forget_grant(struct tidsd *d, const char *grant_id, bool expired, int64_t at_ms)
{
	struct tids_grant *g = tids_map_remove_str(&d->registry->grants, grant_id);

	/* Once its key is gone a stored grant is skipped at load: a failure
	 * here leaves nothing that could carry data. */
	if (store_delete(d->store, STORE_GRANT, grant_id) != 0)
		tids_log_warnx("grant %s: its entry could not be removed (its key is destroyed)", grant_id);
	post_withdrawn(d, RM_REVOKE, grant_id, expired ? "expired" : "revoked", at_ms);
	egress_forget_key(d, grant_id);
	if (g != NULL) {
		tids_grant_free(g);
		free(g);
	}
}

static int apply_grant(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err, size_t errlen)
{
	const char *ids[1] = { id };
	struct tids_grant g;
	int r;

	if (e->body.len == 0) {
		/* Revoked or expired: key first, durably, so that once it is gone
		 * the grant's deliveries are unreadable here, whatever happens
		 * next. */
		const struct tids_grant *old = tids_map_get_str(&d->registry->grants, id);
		int64_t at = e->at_ms > 0 ? e->at_ms : now_ms();

		if ((r = keys_grants_destroy(d, ids, 1, err, errlen)) != 0)
			return r;
		/* The entry does not say why it ended: a grant past its end when
		 * it was written expired (HS_EXPIRE_GRANT writes only those). */
		forget_grant(d, id, old != NULL && old->not_after_ms <= at, at);
		federation_consent_changed(d);
		return 0;
	}
	if ((r = tids_wire_decode_signed_grant(e->body.data, e->body.len, &g, err, errlen)) < 0)
		return r;
	if (strcmp(g.grant_id, id) != 0)
		r = tids_fail(err, errlen, TIDS_EINVAL, "grant entry %s holds grant %s", id, g.grant_id);
	else if (e->wrapped_key.len != TIDS_SEAL_WRAPPED_KEY_BYTES)
		r = tids_fail(err, errlen, TIDS_ECRYPTO, "grant %s comes without its data key", id);
	tids_grant_free(&g);
	if (r != 0)
		return r;
	if (keys_grant_import(d, id, e->wrapped_key.data) != 0)
		return tids_fail(err, errlen, TIDS_ECRYPTO, "grant %s: its data key does not unwrap under the master key",
				 id);
	if (store_put(d->store, STORE_GRANT, id, e->body.data, e->body.len) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "grant %s: could not be stored", id);
	if ((r = index_grant(d, e->body.data, e->body.len, err, errlen)) == 0)
		federation_consent_changed(d);
	return r;
}

void registry_expire_grants(struct tidsd *d, int64_t now)
{
	static int64_t last;
	char ids[64][TIDS_ID_MAX + 1], imported[64][TIDS_ID_MAX + 1], err[256];
	const char *idp[64];
	size_t pos = 0, n = 0, m = 0;
	const struct tids_grant *g;

	/* Once a second is precise enough for validity windows in ms of days. */
	if (now - last < 1000)
		return;
	last = now;
	while (n < 64 && m < 64 && (g = tids_map_next(&d->registry->grants, &pos)) != NULL) {
		if (g->not_after_ms > now)
			continue;
		/* Ours expire through the hub state: every instance asks, the
		 * first to write it revokes, and the others find it gone. */
		if (strcmp(g->hub_id, d->conf->hub_id) == 0) {
			if (!hubstate_pending(d, HS_EXPIRE_GRANT, g->grant_id))
				snprintf(ids[n++], sizeof(ids[0]), "%s", g->grant_id);
		} else if (registry_consent_id(d, g->grant_id, g->hub_id, imported[m])) {
			/* Another hub's, which this instance imported itself. */
			idp[m] = imported[m];
			m++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct hs_request rq = { .op = HS_EXPIRE_GRANT, .id = ids[i], .actor = "hub (grant expired)" };

		hubstate_change(d, NULL, 0, &rq, NULL, NULL);
	}
	if (m == 0)
		return;
	/* One change of epoch for all of them. */
	if (keys_grants_destroy(d, idp, m, err, sizeof(err)) != 0) {
		tids_log_warnx("%zu grants expired but their keys could not be destroyed: %s", m, err);
		return;
	}
	for (size_t i = 0; i < m; i++) {
		forget_grant(d, idp[i], true, now);
		tids_log_info("grant %s expired; its data key is destroyed", idp[i]);
	}
	federation_consent_changed(d);
}

bool jurisdiction_covers(const char *covering, const char *covered)
{
	size_t n = strlen(covering);

	if (n == 0 || *covered == '\0')
		return false;
	if (strcmp(covering, covered) == 0)
		return true;
	/* A country (no dash) covers its regions: CN covers CN-SH. */
	return strchr(covering, '-') == NULL && strncmp(covering, covered, n) == 0 && covered[n] == '-';
}

static void approval_entry_free(struct approval_entry *e)
{
	if (e == NULL)
		return;
	tids_approval_free(&e->a);
	free(e);
}

/* Indexes a stored approval; a revoked one is kept (its id stays spent)
 * and reaches the router as revoked. */
static int index_approval(struct tidsd *d, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	struct approval_entry *e = calloc(1, sizeof(*e));
	uint64_t revoked_at;
	void *old;
	int r;

	if (e == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	if ((r = tids_wire_decode_signed_approval(blob, len, &e->a, err, errlen)) < 0)
		goto fail;
	if (!registry_consent_id(d, e->a.approval_id, e->a.hub_id, e->id)) {
		r = tids_fail(err, errlen, TIDS_EBADID, "approval %s@%s: id too long", e->a.approval_id, e->a.hub_id);
		goto fail;
	}
	e->revoked = store_get_u64(d->store, "approval_revoked", e->id, &revoked_at) == 0;
	if (tids_map_put_str(&d->registry->approvals, e->id, e, &old) != 0) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		goto fail;
	}
	approval_entry_free(old);
	/* A revoked one too: the policies never count it, but a denial can
	 * say it was revoked. By the id this hub knows it by (another hub's
	 * is id@hub). */
	router_post(d, RM_APPROVAL, e->id, blob, len, NULL, NULL);
	if (e->revoked)
		post_withdrawn(d, RM_REVOKE_APPROVAL, e->id, "revoked", (int64_t)revoked_at);
	return 0;
fail:
	approval_entry_free(e);
	return r;
}

/* Who may sign an approval: a registered, active regulator whose
 * jurisdiction covers the exporter's. The policies check the same at every
 * decision (approval(signer_role:, signer_covers:)), so a regulator
 * suspended later stops its approvals counting. */
static int check_approver(struct tidsd *d, const struct tids_approval *a, char *err, size_t errlen)
{
	const struct participant *reg = registry_participant(d, a->regulator);
	const struct participant *exporter = registry_participant(d, a->exporter);

	if (strcmp(reg->p.role, APPROVAL_SIGNER_ROLE) != 0)
		return tids_fail(err, errlen, TIDS_EPERM,
				 "approval %s: %s has role %s; only a participant with role %s may approve",
				 a->approval_id, a->regulator, reg->p.role, APPROVAL_SIGNER_ROLE);
	if (reg->p.suspended)
		return tids_fail(err, errlen, TIDS_EPERM, "approval %s: regulator %s is suspended", a->approval_id,
				 a->regulator);
	if (exporter == NULL)
		return tids_fail(err, errlen, TIDS_ENOENT, "approval %s: exporter %s is not registered",
				 a->approval_id, a->exporter);
	if (!jurisdiction_covers(reg->p.jurisdiction, exporter->p.jurisdiction))
		return tids_fail(err, errlen, TIDS_EPERM,
				 "approval %s: regulator %s (%s) has no authority over exporter %s (%s): "
				 "its jurisdiction must be the exporter's or the exporter's country",
				 a->approval_id, a->regulator, reg->p.jurisdiction, a->exporter,
				 exporter->p.jurisdiction);
	if (purposes_needs_case(d, a->kind) && *a->case_id == '\0')
		return tids_fail(err, errlen, TIDS_EINVAL,
				 "approval %s: kind %s opens a case and needs a case id (tidsctl approve --case ID)",
				 a->approval_id, a->kind);
	return 0;
}

static int prepare_approval(struct tidsd *d, const uint8_t *blob, size_t len, const char *caller,
			    struct hs_batch *b, char *err, size_t errlen)
{
	struct tids_approval a;
	const struct approval_entry *old;
	int r;

	if ((r = tids_wire_decode_signed_approval(blob, len, &a, err, errlen)) < 0)
		return r;
	/* Immutable, as grants are: a second approval under an id would
	 * silently replace what the first allowed, whoever signed it. */
	if ((old = tids_map_get_str(&d->registry->approvals, a.approval_id)) != NULL) {
		r = tids_fail(err, errlen, TIDS_EEXIST, "approval %s exists%s; approvals are immutable, issue one "
			      "under a new id", a.approval_id, old->revoked ? " (revoked)" : "");
		goto out;
	}
	if ((r = check_signed(d, a.regulator, caller, a.hub_id, TIDS_DOMAIN_APPROVAL, &a.bytes, a.signature,
			      "approval", a.approval_id, err, errlen)) < 0 ||
	    (r = check_approver(d, &a, err, errlen)) < 0)
		goto out;
	r = hs_batch_add(b, HS_APPROVAL, a.approval_id, blob, len, NULL, 0);
out:
	tids_approval_free(&a);
	return r;
}

static int prepare_revoke_approval(struct tidsd *d, const char *approval_id, const char *caller,
				   struct hs_batch *b, char *err, size_t errlen)
{
	struct approval_entry *e = tids_map_get_str(&d->registry->approvals, approval_id);
	uint8_t *blob;
	size_t len;
	int r;

	if (e == NULL)
		return tids_fail(err, errlen, TIDS_ENOENT, "no approval %s", approval_id);
	if (caller != NULL && strcmp(caller, e->a.regulator) != 0)
		return tids_fail(err, errlen, TIDS_EPERM, "approval %s was signed by %s; only its signer may revoke it",
				 approval_id, e->a.regulator);
	if (e->revoked)
		return tids_fail(err, errlen, TIDS_EEXIST, "approval %s is already revoked", approval_id);
	/* The revocation is written with the approval (whose id stays spent):
	 * the same signed bytes, and the time it ended. */
	if (tids_wire_encode_signed_approval(&e->a, &blob, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	r = hs_batch_add(b, HS_APPROVAL, approval_id, blob, len, NULL, now_ms());
	free(blob);
	return r;
}

static int apply_approval(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err,
			  size_t errlen)
{
	int r = 0;

	if (e->revoked_at_ms > 0 && store_set_u64(d->store, "approval_revoked", id, (uint64_t)e->revoked_at_ms) != 0)
		r = TIDS_EDB;
	if (r == 0 && store_put(d->store, STORE_APPROVAL, id, e->body.data, e->body.len) != 0)
		r = TIDS_EDB;
	if (r != 0)
		return tids_fail(err, errlen, r, "approval %s: could not be stored", id);
	/* A revocation reaches the router (index_approval posts it) before
	 * any record it routes after this entry. */
	if ((r = index_approval(d, e->body.data, e->body.len, err, errlen)) == 0)
		federation_consent_changed(d);
	return r;
}

/* --- consent of other hubs ---------------------------------------------------- */

/* federation/consent.c checked the signer against the issuing hub's
 * directory; what is kept is the exact signed bytes, as for our own. */
int registry_import_grant(struct tidsd *d, const char *id, const uint8_t *blob, size_t len, char *err, size_t errlen)
{
	const struct tids_grant *old = tids_map_get_str(&d->registry->grants, id);
	int r;

	if (old != NULL) {
		/* Sent again with every round: the same bytes are no news. */
		if (old->bytes.len > 0 && blob != NULL) {
			struct tids_grant g;

			if (tids_wire_decode_signed_grant(blob, len, &g, err, errlen) < 0)
				return TIDS_EINVAL;
			r = g.bytes.len == old->bytes.len && memcmp(g.bytes.data, old->bytes.data, g.bytes.len) == 0 ? 1 :
			    tids_fail(err, errlen, TIDS_EEXIST, "grant %s exists with other terms; grants are immutable",
				      id);
			tids_grant_free(&g);
			return r;
		}
		return 1;
	}
	if (keys_grant_create(d, id) != 0 || store_put(d->store, STORE_GRANT, id, blob, len) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "grant %s: could not be stored", id);
	return index_grant(d, blob, len, err, errlen);
}

int registry_import_approval(struct tidsd *d, const char *id, const uint8_t *blob, size_t len, char *err,
			     size_t errlen)
{
	/* Revoked ones stay spent: the issuing hub cannot bring one back. */
	if (tids_map_get_str(&d->registry->approvals, id) != NULL)
		return 1;
	if (store_put(d->store, STORE_APPROVAL, id, blob, len) != 0)
		return tids_fail(err, errlen, TIDS_EDB, "approval %s: could not be stored", id);
	return index_approval(d, blob, len, err, errlen);
}

void registry_revoke_imported(struct tidsd *d, const char *hub, registry_keep_fn *keep, void *ctx)
{
	char ids[64][TIDS_ID_MAX + 1], err[256];
	const char *idp[64];
	const struct tids_grant *g;
	struct approval_entry *e;
	size_t pos, n;

	/* Grants: keys destroyed (one change of epoch for up to 64), then
	 * forgotten, as a revocation by their owner here would. */
	do {
		n = 0;
		for (pos = 0; n < 64 && (g = tids_map_next(&d->registry->grants, &pos)) != NULL;)
			if (strcmp(g->hub_id, hub) == 0 && registry_consent_id(d, g->grant_id, g->hub_id, ids[n]) &&
			    !keep(ctx, true, ids[n])) {
				idp[n] = ids[n];
				n++;
			}
		if (n == 0)
			break;
		if (keys_grants_destroy(d, idp, n, err, sizeof(err)) != 0) {
			tids_log_warnx("federation: %zu grants of hub %s revoked there, but their keys could not be "
				       "destroyed here: %s", n, hub, err);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			forget_grant(d, ids[i], false, now_ms());
			tids_log_info("federation: grant %s revoked by hub %s; its data key is destroyed", ids[i], hub);
		}
	} while (n == 64);
	for (pos = 0; (e = tids_map_next(&d->registry->approvals, &pos)) != NULL;) {
		if (e->revoked || strcmp(e->a.hub_id, hub) != 0 || keep(ctx, false, e->id))
			continue;
		if (store_set_u64(d->store, "approval_revoked", e->id, (uint64_t)now_ms()) != 0) {
			tids_log_warnx("federation: approval %s: revocation could not be stored", e->id);
			continue;
		}
		e->revoked = true;
		post_withdrawn(d, RM_REVOKE_APPROVAL, e->id, "revoked", now_ms());
		tids_log_info("federation: approval %s revoked by hub %s", e->id, hub);
	}
}

void registry_each_grant(struct tidsd *d, registry_grant_fn *fn, void *ctx)
{
	const struct tids_grant *g;
	size_t pos = 0;

	while ((g = tids_map_next(&d->registry->grants, &pos)) != NULL)
		fn(ctx, g);
}

void registry_each_approval(struct tidsd *d, registry_approval_fn *fn, void *ctx)
{
	const struct approval_entry *e;
	size_t pos = 0;

	while ((e = tids_map_next(&d->registry->approvals, &pos)) != NULL)
		if (!e->revoked)
			fn(ctx, &e->a);
}

bool registry_case_open(const struct tidsd *d, const char *recipient, const char *purpose, int64_t now)
{
	const struct approval_entry *e;
	size_t pos = 0;

	while ((e = tids_map_next(&d->registry->approvals, &pos)) != NULL) {
		const struct tids_approval *a = &e->a;
		const struct participant *reg = registry_participant(d, a->regulator);

		if (!e->revoked && *a->case_id != '\0' && strcmp(a->kind, purpose) == 0 &&
		    strcmp(a->recipient, recipient) == 0 && tids_strlist_has(&a->purposes, purpose) &&
		    a->valid_from_ms <= now && now <= a->valid_until_ms && reg != NULL && !reg->p.suspended &&
		    purposes_case_role(d, purpose, reg->p.role))
			return true;
	}
	return false;
}

/* --- standing subscriptions ------------------------------------------------- */

/* Stored as the purposes, one per line: a format simple enough to check.
 * The participant need not be registered (yet): compaction may put a
 * subscription before its participant's latest entry. */
static int index_subscription_text(struct tidsd *d, const char *id, const uint8_t *text, size_t len,
				   char *err, size_t errlen)
{
	struct subscriber *sub = calloc(1, sizeof(*sub));
	void *old;
	size_t i = 0;

	if (sub == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	snprintf(sub->id, sizeof(sub->id), "%s", id);
	while (i < len) {
		size_t n = 0;

		while (i + n < len && text[i + n] != '\n')
			n++;
		if (n == 0 || n > TIDS_NAME_MAX || sub->n_purposes == SUBSCRIPTION_PURPOSES_MAX) {
			free(sub);
			return tids_fail(err, errlen, TIDS_EINVAL, "subscription %s: malformed purposes", id);
		}
		memcpy(sub->purposes[sub->n_purposes], text + i, n);
		sub->purposes[sub->n_purposes][n] = '\0';
		if (!tids_valid_name(sub->purposes[sub->n_purposes])) {
			free(sub);
			return tids_fail(err, errlen, TIDS_EINVAL, "subscription %s: malformed purpose", id);
		}
		sub->n_purposes++;
		i += n + 1;
	}
	if (!tids_valid_id(sub->id)) {
		free(sub);
		return tids_fail(err, errlen, TIDS_EBADID, "subscription of a malformed participant id");
	}
	if (tids_map_put_str(&d->registry->subscribers, sub->id, sub, &old) != 0) {
		free(sub);
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	}
	free(old);
	router_post(d, RM_SUBSCRIBER, sub->id, text, len, NULL, NULL);
	return 0;
}

/* The purposes, one per line, are written only when they changed. */
static int prepare_subscription(struct tidsd *d, const char *participant, const uint8_t *text, size_t len,
				struct hs_batch *b, char *err, size_t errlen)
{
	const struct subscriber *cur = tids_map_get_str(&d->registry->subscribers, participant);
	char now[SUBSCRIPTION_PURPOSES_MAX * (TIDS_NAME_MAX + 1)];
	size_t n = 0;

	if (len > sizeof(now))
		return tids_fail(err, errlen, TIDS_ETOOMANY, "at most %d purposes per subscriber",
				 SUBSCRIPTION_PURPOSES_MAX);
	if (cur != NULL) {
		for (size_t i = 0; i < cur->n_purposes; i++)
			n += (size_t)snprintf(now + n, sizeof(now) - n, "%s\n", cur->purposes[i]);
		if (n == len && memcmp(now, text, len) == 0)
			return 0;
	}
	return hs_batch_add(b, HS_SUBSCRIPTION, participant, text, len, NULL, 0);
}

static int apply_subscription(struct tidsd *d, const char *id, const struct tids_hub_state *e, char *err,
			      size_t errlen)
{
	int r = index_subscription_text(d, id, e->body.data, e->body.len, err, errlen);

	if (r == 0 && store_put(d->store, STORE_SUBSCRIPTION, id, e->body.data, e->body.len) != 0)
		r = tids_fail(err, errlen, TIDS_EDB, "subscription of %s could not be stored", id);
	if (r == 0)
		federation_registry_changed(d);
	return r;
}

/* --- changes: prepared here, applied from the topic ------------------------- */

int registry_prepare(struct tidsd *d, const struct hs_request *rq, struct hs_batch *b, char *err, size_t errlen)
{
	switch (rq->op) {
	case HS_PUT_PARTICIPANT:
		return prepare_participant(d, rq->blob, rq->len, b, err, errlen);
	case HS_PUT_ASSET:
		return prepare_asset(d, rq->blob, rq->len, b, err, errlen);
	case HS_PUT_PEER:
		return prepare_peer(d, rq->blob, rq->len, b, err, errlen);
	case HS_SUSPEND:
		return prepare_suspend(d, rq->id, rq->flag, b, err, errlen);
	case HS_PUT_GRANT:
		return prepare_grant(d, rq->blob, rq->len, rq->caller, b, err, errlen);
	case HS_REVOKE_GRANT:
		return prepare_revoke_grant(d, rq->id, rq->caller, false, b, err, errlen);
	case HS_EXPIRE_GRANT:
		return prepare_revoke_grant(d, rq->id, NULL, true, b, err, errlen);
	case HS_PUT_APPROVAL:
		return prepare_approval(d, rq->blob, rq->len, rq->caller, b, err, errlen);
	case HS_REVOKE_APPROVAL:
		return prepare_revoke_approval(d, rq->id, rq->caller, b, err, errlen);
	case HS_SUBSCRIBE:
		return prepare_subscription(d, rq->id, rq->blob, rq->len, b, err, errlen);
	case HS_BOOTSTRAP:
		break;
	}
	return tids_fail(err, errlen, TIDS_EUNKNOWN, "not a registry change");
}

int registry_apply(struct tidsd *d, enum hs_kind kind, const char *id, const struct tids_hub_state *e,
		   char *err, size_t errlen)
{
	if (e->body.len == 0 && kind != HS_GRANT)
		return tids_fail(err, errlen, TIDS_EMISSING, "entry %s has no body", id);
	switch (kind) {
	case HS_PARTICIPANT:
		return apply_participant(d, id, e, err, errlen);
	case HS_ASSET:
		return apply_asset(d, id, e, err, errlen);
	case HS_PEER:
		return apply_peer(d, id, e, err, errlen);
	case HS_GRANT:
		return apply_grant(d, id, e, err, errlen);
	case HS_APPROVAL:
		return apply_approval(d, id, e, err, errlen);
	case HS_SUBSCRIPTION:
		return apply_subscription(d, id, e, err, errlen);
	default:
		return tids_fail(err, errlen, TIDS_EUNKNOWN, "entry %s is not a registry entry", id);
	}
}

/* --- loading and freeing ----------------------------------------------------- */

struct load_ctx {
	struct tidsd *d;
	enum store_kind kind;
	int (*index)(struct tidsd *d, const uint8_t *blob, size_t len, char *err, size_t errlen);
	const char *what;
	size_t loaded, skipped;
};

static int load_one(void *ctx, const char *id, const uint8_t *blob, size_t len)
{
	struct load_ctx *lc = ctx;
	char err[256];

	/* State entries pass the gate again: a damaged one is skipped, loudly. */
	if ((lc->kind == STORE_SUBSCRIPTION ? index_subscription_text(lc->d, id, blob, len, err, sizeof(err))
					     : lc->index(lc->d, blob, len, err, sizeof(err))) != 0) {
		tids_log_warnx("registry: %s %s skipped: %s", lc->what, id, err);
		lc->skipped++;
		return 0;
	}
	lc->loaded++;
	return 0;
}

int registry_load(struct tidsd *d)
{
	static const struct {
		enum store_kind kind;
		const char *what;
		int (*index)(struct tidsd *, const uint8_t *, size_t, char *, size_t);
	} kinds[] = {
		{ STORE_PARTICIPANT, "participant", index_participant },
		{ STORE_ASSET, "asset", index_asset },
		{ STORE_PEER, "peer", index_peer },
		{ STORE_GRANT, "grant", index_grant },
		{ STORE_APPROVAL, "approval", index_approval },
		{ STORE_SUBSCRIPTION, "subscription", NULL },
	};

	d->registry = calloc(1, sizeof(*d->registry));
	if (d->registry == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct load_ctx lc = { d, kinds[i].kind, kinds[i].index, kinds[i].what, 0, 0 };

		if (store_each(d->store, kinds[i].kind, load_one, &lc) != 0)
			return TIDS_EDB;
		tids_log_info("registry: %zu %ss loaded%s", lc.loaded, kinds[i].what,
			      lc.skipped > 0 ? " (some skipped, see above)" : "");
	}
	return 0;
}

void registry_free(struct tidsd *d)
{
	struct registry *reg = d->registry;
	size_t pos;
	void *v;

	if (reg == NULL)
		return;
	for (pos = 0; (v = tids_map_next(&reg->participants, &pos)) != NULL;)
		participant_free(v);
	for (pos = 0; (v = tids_map_next(&reg->assets, &pos)) != NULL; free(v))
		tids_asset_free(v);
	for (pos = 0; (v = tids_map_next(&reg->peers, &pos)) != NULL; free(v))
		tids_peer_free(v);
	for (pos = 0; (v = tids_map_next(&reg->grants, &pos)) != NULL; free(v))
		tids_grant_free(v);
	for (pos = 0; (v = tids_map_next(&reg->approvals, &pos)) != NULL;)
		approval_entry_free(v);
	for (pos = 0; (v = tids_map_next(&reg->subscribers, &pos)) != NULL;)
		free(v);
	tids_map_free(&reg->subscribers);
	tids_map_free(&reg->participants);
	tids_map_free(&reg->by_dh);
	tids_map_free(&reg->assets);
	tids_map_free(&reg->peers);
	tids_map_free(&reg->grants);
	tids_map_free(&reg->approvals);
	free(reg);
	d->registry = NULL;
}
