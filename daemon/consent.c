/*
 * Consent across hubs. A grant or an approval is issued to one hub (its
 * hub_id), which enforces it when it exports; but the destination's import
 * rules may need it too (a recipe goes only under the owner's time-boxed
 * grant, core data only to the holder of a regulator's approval). So the
 * consent travels with what it covers: every hub sends each peer pulling
 * from it the grants its participants issued to that peer's participants
 * and the approvals its regulators gave them, as the exact bytes their
 * signers produced, whole at the start of every Pull and again after every
 * change (one round, in pages).
 *
 * The receiving hub accepts a grant or approval as the issuing hub's only
 * if it names that hub (the link's peer), its signer is a participant of
 * that hub by its directory (for an approval, a regulator whose
 * jurisdiction covers the exporter's) and the signature verifies with the
 * directory's key, and it is for one of its own participants. It keeps it
 * as id@hub, with a data key of its own that seals every delivery made
 * under it here. What the issuing hub no longer lists at the end of a round
 * was revoked (or expired) there: here it is revoked too, and a grant's key
 * is destroyed, so that its deliveries on this hub's topics no longer open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "federation.h"
#include "tids/error.h"

/* --- the serving side ------------------------------------------------------------ */

/* The hub that serves participant id: ours, a peer, or NULL if unknown. */
static const char *home_of(const struct tidsd *d, const char *id)
{
	const struct participant *reg = registry_participant(d, id);

	if (reg != NULL)
		return *reg->p.home_hub != '\0' ? reg->p.home_hub : d->conf->hub_id;
	return federation_home_of(d, id);
}

struct collect {
	struct tidsd *d;
	const struct fed_peer *p;
	int64_t now;
	struct tids_bytes *items;
	size_t n, cap;
	bool failed;
};

static void add(struct collect *c, uint8_t *blob, size_t len)
{
	if (c->n == c->cap) {
		size_t cap = c->cap > 0 ? c->cap * 2 : 16;
		struct tids_bytes *grown = realloc(c->items, cap * sizeof(*grown));

		if (grown == NULL) {
			free(blob);
			c->failed = true;
			return;
		}
		c->items = grown;
		c->cap = cap;
	}
	c->items[c->n++] = (struct tids_bytes){ blob, len };
}

static void collect_grant(void *ctx, const struct tids_grant *g)
{
	struct collect *c = ctx;
	const char *home = home_of(c->d, g->grantee);
	uint8_t *blob;
	size_t len;

	/* Ours (not one a peer sent us), in force, for one of the peer's. */
	if (strcmp(g->hub_id, c->d->conf->hub_id) != 0 || g->not_after_ms <= c->now || home == NULL ||
	    strcmp(home, c->p->id) != 0)
		return;
	if (tids_wire_encode_signed_grant(g, &blob, &len) != 0) {
		c->failed = true;
		return;
	}
	add(c, blob, len);
}

static void collect_approval(void *ctx, const struct tids_approval *a)
{
	struct collect *c = ctx;
	const char *home = home_of(c->d, a->recipient);
	uint8_t *blob;
	size_t len;

	if (strcmp(a->hub_id, c->d->conf->hub_id) != 0 || a->valid_until_ms <= c->now || home == NULL ||
	    strcmp(home, c->p->id) != 0)
		return;
	if (tids_wire_encode_signed_approval(a, &blob, &len) != 0) {
		c->failed = true;
		return;
	}
	add(c, blob, len);
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free((void *)c->items[i].data);
	free(c->items);
}

int consent_send(struct tidsd *d, const struct fed_peer *p, consent_emit_fn *emit, void *ctx)
{
	struct collect g = { .d = d, .p = p, .now = now_ms() }, a = { .d = d, .p = p, .now = now_ms() };
	size_t gi = 0, ai = 0, budget = (size_t)d->conf->frame_max / 2;
	uint64_t round;
	int r = 0;

	registry_each_grant(d, collect_grant, &g);
	registry_each_approval(d, collect_approval, &a);
	if (g.failed || a.failed) {
		r = TIDS_ENOMEM;
		goto out;
	}
	do
		randombytes_buf(&round, sizeof(round));
	while (round == 0);
	/* At least one page: an empty round revokes everything it held of ours. */
	do {
		struct tids_consent_page page = { .round = round, .grants = g.items + gi, .approvals = a.items + ai };
		size_t bytes = 0;

		while (gi < g.n && page.n_grants < TIDS_CONSENT_PAGE_MAX &&
		       (page.n_grants == 0 || bytes + g.items[gi].len <= budget)) {
			bytes += g.items[gi++].len;
			page.n_grants++;
		}
		while (ai < a.n && page.n_approvals < TIDS_CONSENT_PAGE_MAX &&
		       (page.n_approvals + page.n_grants == 0 || bytes + a.items[ai].len <= budget)) {
			bytes += a.items[ai++].len;
			page.n_approvals++;
		}
		page.complete = gi == g.n && ai == a.n;
		if ((r = emit(d, ctx, &page)) != 0)
			break;
	} while (gi < g.n || ai < a.n);
out:
	collect_free(&g);
	collect_free(&a);
	return r;
}

/* --- the receiving side ------------------------------------------------------------ */

/* A participant of hub p by what we know of it: the operator's
 * registration of it (its key counts) or p's directory. */
struct signer {
	const char *role;
	const char *jurisdiction;
	const uint8_t *key;
};

static bool participant_of(const struct tidsd *d, const struct fed_peer *p, const char *id, struct signer *s)
{
	const struct participant *reg = registry_participant(d, id);
	const struct remote *r;

	if (reg != NULL) {
		if (strcmp(reg->p.home_hub, p->id) != 0 || reg->p.suspended)
			return false;
		*s = (struct signer){ reg->p.role, reg->p.jurisdiction, reg->p.identity_key };
		return true;
	}
	r = tids_map_get_str(&d->federation->remote, id);
	if (r == NULL || strcmp(r->hub, p->id) != 0)
		return false;
	*s = (struct signer){ r->role, r->jurisdiction, r->identity_key };
	return true;
}

static bool ours(const struct tidsd *d, const char *id)
{
	const struct participant *reg = registry_participant(d, id);

	return reg != NULL && (*reg->p.home_hub == '\0' || strcmp(reg->p.home_hub, d->conf->hub_id) == 0);
}

static void seen(struct fed_peer *p, const char *id)
{
	char *copy;

	if (tids_map_get_str(&p->consent_seen, id) != NULL)
		return;
	copy = strdup(id);
	if (copy == NULL || tids_map_put_str(&p->consent_seen, copy, copy, NULL) != 0)
		free(copy);
}

static void forget_seen(struct fed_peer *p)
{
	char *id;
	size_t pos = 0;

	while ((id = tids_map_next(&p->consent_seen, &pos)) != NULL)
		free(id);
	tids_map_free(&p->consent_seen);
}

/* Returns 0 with the local id in id, or why not in err. */
static int accept_grant(struct tidsd *d, struct fed_peer *p, const struct tids_bytes *blob, char id[TIDS_ID_MAX + 1],
			char *err, size_t errlen)
{
	struct tids_grant g;
	struct signer owner;
	int r;

	if ((r = tids_wire_decode_signed_grant(blob->data, blob->len, &g, err, errlen)) < 0)
		return r;
	if (strcmp(g.hub_id, p->id) != 0)
		r = tids_fail(err, errlen, TIDS_EPERM, "grant %s is issued to hub %s, not to the hub that sent it",
			      g.grant_id, g.hub_id);
	else if (!registry_consent_id(d, g.grant_id, g.hub_id, id))
		r = tids_fail(err, errlen, TIDS_EBADID, "grant %s@%s: longer than an id", g.grant_id, g.hub_id);
	else if (!participant_of(d, p, g.owner, &owner))
		r = tids_fail(err, errlen, TIDS_EPERM, "grant %s: owner %s is not a participant of hub %s by its "
			      "directory here", g.grant_id, g.owner, p->id);
	else if (!ours(d, g.grantee))
		r = tids_fail(err, errlen, TIDS_ENOENT, "grant %s: grantee %s is not a participant of this hub",
			      g.grant_id, g.grantee);
	else if (tids_sign_verify_detached(owner.key, TIDS_DOMAIN_GRANT, g.bytes.data, g.bytes.len, g.signature) != 0)
		r = tids_fail(err, errlen, TIDS_EBADSIG, "grant %s: signature does not verify with %s's key",
			      g.grant_id, g.owner);
	else if ((r = registry_import_grant(d, id, blob->data, blob->len, err, errlen)) == 0)
		tids_log_info("federation: grant %s imported from hub %s (owner %s, grantee %s)", id, p->id, g.owner,
			      g.grantee);
	tids_grant_free(&g);
	return r < 0 ? r : 0;
}

static int accept_approval(struct tidsd *d, struct fed_peer *p, const struct tids_bytes *blob,
			   char id[TIDS_ID_MAX + 1], char *err, size_t errlen)
{
	struct tids_approval a;
	struct signer reg, exporter;
	int r;

	if ((r = tids_wire_decode_signed_approval(blob->data, blob->len, &a, err, errlen)) < 0)
		return r;
	if (strcmp(a.hub_id, p->id) != 0)
		r = tids_fail(err, errlen, TIDS_EPERM, "approval %s is issued to hub %s, not to the hub that sent it",
			      a.approval_id, a.hub_id);
	else if (!registry_consent_id(d, a.approval_id, a.hub_id, id))
		r = tids_fail(err, errlen, TIDS_EBADID, "approval %s@%s: longer than an id", a.approval_id, a.hub_id);
	else if (!participant_of(d, p, a.regulator, &reg) || strcmp(reg.role, "regulator") != 0)
		r = tids_fail(err, errlen, TIDS_EPERM, "approval %s: signer %s is not a regulator of hub %s by its "
			      "directory here", a.approval_id, a.regulator, p->id);
	else if (!participant_of(d, p, a.exporter, &exporter))
		r = tids_fail(err, errlen, TIDS_EPERM, "approval %s: exporter %s is not a participant of hub %s",
			      a.approval_id, a.exporter, p->id);
	else if (!jurisdiction_covers(reg.jurisdiction, exporter.jurisdiction))
		r = tids_fail(err, errlen, TIDS_EPERM, "approval %s: regulator %s (%s) has no authority over exporter "
			      "%s (%s)", a.approval_id, a.regulator, reg.jurisdiction, a.exporter,
			      exporter.jurisdiction);
	else if (!ours(d, a.recipient))
		r = tids_fail(err, errlen, TIDS_ENOENT, "approval %s: recipient %s is not a participant of this hub",
			      a.approval_id, a.recipient);
	else if (tids_sign_verify_detached(reg.key, TIDS_DOMAIN_APPROVAL, a.bytes.data, a.bytes.len, a.signature) != 0)
		r = tids_fail(err, errlen, TIDS_EBADSIG, "approval %s: signature does not verify with %s's key",
			      a.approval_id, a.regulator);
	else if ((r = registry_import_approval(d, id, blob->data, blob->len, err, errlen)) == 0)
		tids_log_info("federation: approval %s imported from hub %s (regulator %s, recipient %s)", id, p->id,
			      a.regulator, a.recipient);
	tids_approval_free(&a);
	return r < 0 ? r : 0;
}

static bool keep_seen(void *ctx, bool grant, const char *id)
{
	struct fed_peer *p = ctx;

	(void)grant;
	return tids_map_get_str(&p->consent_seen, id) != NULL;
}

void consent_page(struct tidsd *d, struct fed_peer *p, const struct tids_consent_page *c)
{
	char id[TIDS_ID_MAX + 1], err[512];

	if (c->round != p->consent_round) {
		forget_seen(p);
		p->consent_round = c->round;
	}
	for (size_t i = 0; i < c->n_grants; i++) {
		if (accept_grant(d, p, &c->grants[i], id, err, sizeof(err)) == 0)
			seen(p, id);
		else
			fed_peer_error(p, "a grant it sent is refused: %s", err);
	}
	for (size_t i = 0; i < c->n_approvals; i++) {
		if (accept_approval(d, p, &c->approvals[i], id, err, sizeof(err)) == 0)
			seen(p, id);
		else
			fed_peer_error(p, "an approval it sent is refused: %s", err);
	}
	if (!c->complete)
		return;
	/* The round is whole: what it did not list is no longer in force. */
	registry_revoke_imported(d, p->id, keep_seen, p);
	forget_seen(p);
	p->consent_round = 0;
}

void consent_forget(struct fed_peer *p)
{
	forget_seen(p);
	p->consent_round = 0;
}
