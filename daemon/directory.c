/*
 * Directories: who is where in the network. Ours lists this hub's
 * participants (id, role, jurisdiction, key; nothing else) and their
 * standing subscriptions, signed with the hub key; each peer's, verified
 * with the key its registration gives, is kept in the registry. From all
 * of them and the registry, one map says which hub serves which id: an id
 * two hubs claim (or a peer claims one of ours) is refused and reported,
 * and the router learns of the others as participants with a home hub.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "federation.h"
#include "router.h"
#include "tids/error.h"

#define DIRECTORY_BLOB_MAX (TIDS_FRAME_MAX_DEFAULT)

/* --- ours --------------------------------------------------------------------- */

struct own_build {
	struct tidsd *d;
	struct tids_directory_entry *entries;
	size_t n, cap;
	struct tids_interest *interests;
	size_t ni, icap;
	const char **purposes;             /* SUBSCRIPTION_PURPOSES_MAX per interest */
};

static bool is_local(const struct tidsd *d, const struct participant *p)
{
	return *p->p.home_hub == '\0' || strcmp(p->p.home_hub, d->conf->hub_id) == 0;
}

static void add_entry(void *ctx, const struct participant *p)
{
	struct own_build *b = ctx;

	if (!is_local(b->d, p) || p->p.suspended || b->n == b->cap)
		return;
	b->entries[b->n++] = (struct tids_directory_entry){ .id = p->p.id, .role = p->p.role,
							    .jurisdiction = p->p.jurisdiction };
	memcpy(b->entries[b->n - 1].identity_key, p->p.identity_key, TIDS_PUBLIC_KEY_BYTES);
}

static void add_interest(void *ctx, const struct subscriber *s)
{
	struct own_build *b = ctx;
	const struct participant *p = registry_participant(b->d, s->id);
	const char **pp;

	if (p == NULL || !is_local(b->d, p) || p->p.suspended || s->n_purposes == 0 || b->ni == b->icap)
		return;
	pp = &b->purposes[b->ni * SUBSCRIPTION_PURPOSES_MAX];
	for (size_t i = 0; i < s->n_purposes; i++)
		pp[i] = s->purposes[i];
	b->interests[b->ni++] = (struct tids_interest){ .participant = s->id, .purposes = { pp, s->n_purposes } };
}

static void count_entry(void *ctx, const struct participant *p)
{
	(void)p;
	(*(size_t *)ctx)++;
}

static void count_interest(void *ctx, const struct subscriber *s)
{
	(void)s;
	(*(size_t *)ctx)++;
}

static int build_own(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct own_build b = { .d = d };
	struct tids_directory dir = { .hub_id = d->conf->hub_id };
	struct tids_pull_item it = { .kind = TIDS_PULL_DIRECTORY };
	uint64_t stored = 0;
	size_t n = 0, ni = 0;
	int r = TIDS_ENOMEM;

	registry_each_participant(d, count_entry, &n);
	registry_each_subscriber(d, count_interest, &ni);
	if (n > TIDS_DIRECTORY_ENTRIES_MAX) {
		tids_log_warnx("federation: %zu participants; a directory lists at most %d, the rest are not "
			       "announced to peers", n, TIDS_DIRECTORY_ENTRIES_MAX);
		n = TIDS_DIRECTORY_ENTRIES_MAX;
	}
	ni = ni < n ? ni : n;
	b.cap = n;
	b.icap = ni;
	b.entries = calloc(n + 1, sizeof(*b.entries));
	b.interests = calloc(ni + 1, sizeof(*b.interests));
	b.purposes = calloc((ni + 1) * SUBSCRIPTION_PURPOSES_MAX, sizeof(*b.purposes));
	if (b.entries == NULL || b.interests == NULL || b.purposes == NULL)
		goto out;
	registry_each_participant(d, add_entry, &b);
	registry_each_subscriber(d, add_interest, &b);
	/* Versions only grow, also across restarts and clock steps. */
	if (store_get_u64(d->store, "federation", "directory_version", &stored) != 0)
		stored = 0;
	dir.version = (uint64_t)now_ms() > stored ? (uint64_t)now_ms() : stored + 1;
	dir.entries = b.entries;
	dir.n_entries = b.n;
	dir.interests = b.interests;
	dir.n_interests = b.ni;
	dir.signed_at_ms = now_ms();
	if ((r = tids_directory_sign(d->hub.sign_sk, &dir)) != 0)
		goto out;
	it.directory = dir;
	free(f->dir_item);
	f->dir_item = NULL;
	if ((r = tids_wire_encode_pull_item(&it, &f->dir_item, &f->dir_item_len)) != 0)
		goto out;
	if (store_set_u64(d->store, "federation", "directory_version", dir.version) != 0)
		tids_log_warnx("federation: directory version not stored");
	f->dir_version = dir.version;
	f->dir_dirty = false;
	tids_log_debug("federation: our directory, version %llu: %zu participants, %zu with standing purposes",
		       (unsigned long long)dir.version, b.n, b.ni);
out:
	free(b.entries);
	free(b.interests);
	free(b.purposes);
	return r;
}

int directory_own_item(struct tidsd *d, const uint8_t **item, size_t *len)
{
	struct federation *f = d->federation;
	int r;

	if ((f->dir_dirty || f->dir_item == NULL) && (r = build_own(d)) != 0)
		return r;
	*item = f->dir_item;
	*len = f->dir_item_len;
	return 0;
}

/* --- the peers' -------------------------------------------------------------------- */

/* Keeps dir (verified) as p's: a decoded copy that owns its bytes. */
static int keep(struct tidsd *d, struct fed_peer *p, const struct tids_directory *dir, bool store, char *err,
		size_t errlen)
{
	struct tids_directory copy;
	uint8_t *blob;
	size_t len;
	int r;

	if ((r = tids_wire_encode_directory(dir, &blob, &len)) != 0)
		return tids_fail(err, errlen, r, "out of memory");
	if ((r = tids_wire_decode_directory(blob, len, &copy, err, errlen)) != 0) {
		free(blob);
		return r;
	}
	if (store && store_set_blob(d->store, "directory", p->id, blob, len) != 0) {
		tids_directory_free(&copy);
		free(blob);
		return tids_fail(err, errlen, TIDS_EDB, "directory of %s: could not be stored", p->id);
	}
	tids_directory_free(&p->dir);
	free(p->dir_blob);
	p->dir = copy;
	p->dir_blob = blob;
	p->dir_len = len;
	return 0;
}

int directory_apply(struct tidsd *d, struct fed_peer *p, const struct tids_directory *dir, char *err, size_t errlen)
{
	int r;

	if (strcmp(dir->hub_id, p->id) != 0)
		return tids_fail(err, errlen, TIDS_EPERM, "peer %s sent the directory of %s", p->id, dir->hub_id);
	if ((r = tids_directory_verify(p->public_key, dir, err, errlen)) != 0)
		return r;
	if (p->dir.hub_id != NULL && dir->version <= p->dir.version) {
		if (dir->version == p->dir.version)
			return 0;
		return tids_fail(err, errlen, TIDS_EREPLAY, "directory of %s: version %llu is older than %llu",
				 p->id, (unsigned long long)dir->version, (unsigned long long)p->dir.version);
	}
	if ((r = keep(d, p, dir, true, err, errlen)) != 0)
		return r;
	tids_log_info("federation: directory of %s, version %llu: %zu participants, %zu with standing purposes",
		      p->id, (unsigned long long)dir->version, dir->n_entries, dir->n_interests);
	directory_rebuild(d);
	return 0;
}

void directory_load(struct tidsd *d)
{
	struct federation *f = d->federation;
	uint8_t *buf = malloc(DIRECTORY_BLOB_MAX);
	struct fed_peer *p;
	size_t pos = 0;

	if (buf == NULL)
		return;
	while ((p = tids_map_next(&f->peers, &pos)) != NULL) {
		struct tids_directory dir;
		char err[256];
		size_t len;

		if (store_get_blob(d->store, "directory", p->id, buf, DIRECTORY_BLOB_MAX, &len) != 0)
			continue;
		/* Kept by us, but it passes the gate and the signature again. */
		if (tids_wire_decode_directory(buf, len, &dir, err, sizeof(err)) != 0 ||
		    strcmp(dir.hub_id, p->id) != 0 || tids_directory_verify(p->public_key, &dir, err, sizeof(err)) != 0 ||
		    keep(d, p, &dir, false, err, sizeof(err)) != 0) {
			tids_log_warnx("federation: the kept directory of %s is not used: %s", p->id, err);
			tids_directory_free(&dir);
			continue;
		}
		tids_directory_free(&dir);
	}
	free(buf);
	directory_rebuild(d);
}

/* --- who is where ------------------------------------------------------------------ */

static void post_participant(struct tidsd *d, const struct remote *r)
{
	struct tids_participant tp = { .id = r->id, .role = r->role, .jurisdiction = r->jurisdiction,
				       .home_hub = r->hub };
	uint8_t *blob;
	size_t len;

	memcpy(tp.identity_key, r->identity_key, TIDS_PUBLIC_KEY_BYTES);
	if (tids_wire_encode_participant(&tp, &blob, &len) != 0) {
		tids_log_warnx("federation: out of memory; %s@%s not passed on", r->id, r->hub);
		return;
	}
	router_post(d, RM_PARTICIPANT, r->id, blob, len, NULL, NULL);
	free(blob);
}

static void post_purposes(struct tidsd *d, const struct remote *r)
{
	char text[SUBSCRIPTION_PURPOSES_MAX * (TIDS_NAME_MAX + 1)];
	size_t len = 0;

	for (size_t i = 0; i < r->n_purposes; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n", r->purposes[i]);
	router_post(d, RM_SUBSCRIBER, r->id, (const uint8_t *)text, len, NULL, NULL);
}

static bool same_purposes(const struct remote *a, const struct remote *b)
{
	if (a->n_purposes != b->n_purposes)
		return false;
	for (size_t i = 0; i < a->n_purposes; i++)
		if (strcmp(a->purposes[i], b->purposes[i]) != 0)
			return false;
	return true;
}

/* A refused claim: counted for tidsctl peers, logged when it is new. */
static void conflict(struct federation *f, struct tids_map *now, struct fed_peer *p, const char *id, const char *why)
{
	char key[2 * TIDS_ID_MAX + 2], *copy;

	p->conflicts++;
	snprintf(key, sizeof(key), "%s@%s", id, p->id);
	if (tids_map_get_str(now, key) != NULL)
		return;
	if (tids_map_get_str(&f->conflicted, key) == NULL)
		tids_log_warnx("federation: %s's claim to participant %s is refused: %s", p->id, id, why);
	copy = strdup(key);
	if (copy != NULL && tids_map_put_str(now, copy, copy, NULL) != 0)
		free(copy);
}

void directory_rebuild(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct tids_map next = { 0 }, refused = { 0 }, conflicted = { 0 };
	struct fed_peer *p;
	struct remote *r, *old;
	char *c;
	size_t pos;

	if (f == NULL)
		return;
	for (pos = 0; (p = tids_map_next(&f->peers, &pos)) != NULL;)
		p->conflicts = 0;
	for (pos = 0; (p = tids_map_next(&f->peers, &pos)) != NULL;) {
		for (size_t i = 0; p->dir.hub_id != NULL && i < p->dir.n_entries; i++) {
			const struct tids_directory_entry *e = &p->dir.entries[i];
			const struct participant *reg = registry_participant(d, e->id);
			char why[300];

			if ((old = tids_map_get_str(&refused, e->id)) != NULL) {
				snprintf(why, sizeof(why), "hub %s claims it too", old->hub);
				conflict(f, &conflicted, p, e->id, why);
				continue;
			}
			if (reg != NULL && is_local(d, reg)) {
				conflict(f, &conflicted, p, e->id, "it is a participant of this hub");
				continue;
			}
			if (reg != NULL && strcmp(reg->p.home_hub, p->id) != 0) {
				snprintf(why, sizeof(why), "it is registered here as a participant of hub %s",
					 reg->p.home_hub);
				conflict(f, &conflicted, p, e->id, why);
				continue;
			}
			if ((old = tids_map_get_str(&next, e->id)) != NULL) {
				struct fed_peer *first = tids_map_get_str(&f->peers, old->hub);

				/* Neither hub keeps it: which claim came first is no
				 * ground to decide, and a wrong guess misroutes data. */
				snprintf(why, sizeof(why), "hub %s claims it too", p->id);
				if (first != NULL)
					conflict(f, &conflicted, first, e->id, why);
				snprintf(why, sizeof(why), "hub %s claims it too", old->hub);
				conflict(f, &conflicted, p, e->id, why);
				tids_map_remove_str(&next, e->id);
				if (tids_map_put_str(&refused, old->id, old, NULL) != 0)
					free(old);
				continue;
			}
			r = calloc(1, sizeof(*r));
			if (r == NULL)
				continue;
			snprintf(r->id, sizeof(r->id), "%s", e->id);
			snprintf(r->hub, sizeof(r->hub), "%s", p->id);
			snprintf(r->role, sizeof(r->role), "%s", e->role);
			snprintf(r->jurisdiction, sizeof(r->jurisdiction), "%s", e->jurisdiction);
			memcpy(r->identity_key, e->identity_key, TIDS_PUBLIC_KEY_BYTES);
			/* The operator registered it (with attributes, say a
			 * security agreement): that entry is what the router has. */
			r->admin_registered = reg != NULL;
			if (reg != NULL && sodium_memcmp(reg->p.identity_key, e->identity_key, TIDS_PUBLIC_KEY_BYTES) != 0)
				tids_log_warnx("federation: %s's directory gives %s another key than its registration "
					       "here; the registration's key counts", p->id, e->id);
			if (tids_map_put_str(&next, r->id, r, NULL) != 0)
				free(r);
		}
	}
	for (pos = 0; (c = tids_map_next(&f->conflicted, &pos)) != NULL;)
		free(c);
	tids_map_free(&f->conflicted);
	f->conflicted = conflicted;
	/* Standing purposes of the accepted ones. */
	for (pos = 0; (p = tids_map_next(&f->peers, &pos)) != NULL;)
		for (size_t i = 0; p->dir.hub_id != NULL && i < p->dir.n_interests; i++) {
			const struct tids_interest *in = &p->dir.interests[i];

			r = tids_map_get_str(&next, in->participant);
			if (r == NULL || strcmp(r->hub, p->id) != 0)
				continue;
			for (size_t k = 0; k < in->purposes.n && r->n_purposes < SUBSCRIPTION_PURPOSES_MAX; k++)
				snprintf(r->purposes[r->n_purposes++], sizeof(r->purposes[0]), "%s", in->purposes.items[k]);
		}
	/* Tell the router what changed. */
	for (pos = 0; (r = tids_map_next(&next, &pos)) != NULL;) {
		old = tids_map_get_str(&f->remote, r->id);
		if (!r->admin_registered &&
		    (old == NULL || old->admin_registered || strcmp(old->hub, r->hub) != 0 ||
		     strcmp(old->role, r->role) != 0 || strcmp(old->jurisdiction, r->jurisdiction) != 0 ||
		     memcmp(old->identity_key, r->identity_key, TIDS_PUBLIC_KEY_BYTES) != 0))
			post_participant(d, r);
		if (old == NULL || !same_purposes(old, r)) {
			if (r->n_purposes > 0)
				post_purposes(d, r);
			else if (old != NULL && old->n_purposes > 0)
				router_post(d, RM_FORGET_SUBSCRIBER, r->id, NULL, 0, NULL, NULL);
		}
	}
	for (pos = 0; (old = tids_map_next(&f->remote, &pos)) != NULL;) {
		r = tids_map_get_str(&next, old->id);
		if (r == NULL && !old->admin_registered)
			router_post(d, RM_FORGET_PARTICIPANT, old->id, NULL, 0, NULL, NULL);
		if (r == NULL && old->n_purposes > 0)
			router_post(d, RM_FORGET_SUBSCRIBER, old->id, NULL, 0, NULL, NULL);
		free(old);
	}
	tids_map_free(&f->remote);
	f->remote = next;
	for (pos = 0; (r = tids_map_next(&refused, &pos)) != NULL;)
		free(r);
	tids_map_free(&refused);
}

void directory_free(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct remote *r;
	size_t pos = 0;

	while ((r = tids_map_next(&f->remote, &pos)) != NULL)
		free(r);
	tids_map_free(&f->remote);
	pos = 0;
	while ((r = tids_map_next(&f->conflicted, &pos)) != NULL)
		free(r);
	tids_map_free(&f->conflicted);
	free(f->dir_item);
	f->dir_item = NULL;
}

/* --- addresses ------------------------------------------------------------------------ */

const char *federation_home_of(const struct tidsd *d, const char *id)
{
	const struct remote *r = d->federation != NULL ? tids_map_get_str(&d->federation->remote, id) : NULL;

	return r != NULL ? r->hub : NULL;
}

int federation_resolve(const struct tidsd *d, const char *address, char id[TIDS_ID_MAX + 1], char *err,
		       size_t errlen)
{
	char hub[TIDS_ID_MAX + 1];
	const struct participant *reg;
	const char *home;

	if (!tids_address_split(address, id, hub))
		return tids_fail(err, errlen, TIDS_EBADID, "'%s' is not a participant address (id or id@hub)", address);
	reg = registry_participant(d, id);
	if (*hub == '\0' || strcmp(hub, d->conf->hub_id) == 0) {
		/* A bare id is this hub's (or one the operator registered). */
		if (reg == NULL)
			return tids_fail(err, errlen, TIDS_ENOENT, "%s is not registered%s", id,
					 federation_home_of(d, id) != NULL ? " here; name it id@hub" : "");
		if (*hub != '\0' && !is_local(d, reg))
			return tids_fail(err, errlen, TIDS_ENOENT, "%s is a participant of hub %s", id, reg->p.home_hub);
		return 0;
	}
	if (reg != NULL)
		return strcmp(reg->p.home_hub, hub) == 0 ? 0 :
		       tids_fail(err, errlen, TIDS_ENOENT, "%s is registered here as a participant of %s, not %s", id,
				 is_local(d, reg) ? "this hub" : reg->p.home_hub, hub);
	home = federation_home_of(d, id);
	if (home == NULL || strcmp(home, hub) != 0)
		return tids_fail(err, errlen, TIDS_ENOENT, "hub %s's directory does not list %s%s", hub, id,
				 fed_peer((struct tidsd *)d, hub) == NULL ? " (and it is not a peer of this hub)" : " (yet?)");
	return 0;
}
