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

static void free_items(struct federation *f)
{
	for (size_t k = 0; k < f->n_dir_items; k++)
		free((void *)f->dir_items[k].data);
	free(f->dir_items);
	f->dir_items = NULL;
	f->n_dir_items = 0;
}

struct hubs_build {
	struct tids_directory_hub *hubs;
	size_t n, cap;
};

static void add_hub(struct tidsd *d, const struct tids_peer *p, void *ctx)
{
	struct hubs_build *b = ctx;

	(void)d;
	if (b->n == b->cap)
		return;
	b->hubs[b->n].hub_id = p->hub_id;
	b->hubs[b->n].jurisdiction = p->jurisdiction;
	memcpy(b->hubs[b->n].public_key, p->public_key, TIDS_PUBLIC_KEY_BYTES);
	b->n++;
}

static int build_own(struct tidsd *d)
{
	struct federation *f = d->federation;
	struct own_build b = { .d = d };
	struct hubs_build hb = { .cap = TIDS_DIRECTORY_HUBS_MAX };
	struct tids_directory dir = { .hub_id = d->conf->hub_id };
	struct tids_directory *pages = NULL;
	struct tids_bytes *items = NULL;
	uint64_t stored = 0;
	size_t n = 0, ni = 0, n_pages = 0, k = 0;
	const size_t max = (size_t)TIDS_DIRECTORY_ENTRIES_MAX * TIDS_DIRECTORY_PAGES_MAX;
	int r = TIDS_ENOMEM;

	registry_each_participant(d, count_entry, &n);
	registry_each_subscriber(d, count_interest, &ni);
	if (n > max) {
		tids_log_warnx("federation: %zu participants; a directory lists at most %zu (%d pages), the rest "
			       "are not announced to peers", n, max, TIDS_DIRECTORY_PAGES_MAX);
		n = max;
	}
	ni = ni < n ? ni : n;
	b.cap = n;
	b.icap = ni;
	b.entries = calloc(n + 1, sizeof(*b.entries));
	b.interests = calloc(ni + 1, sizeof(*b.interests));
	b.purposes = calloc((ni + 1) * SUBSCRIPTION_PURPOSES_MAX, sizeof(*b.purposes));
	hb.hubs = calloc(TIDS_DIRECTORY_HUBS_MAX, sizeof(*hb.hubs));
	if (b.entries == NULL || b.interests == NULL || b.purposes == NULL || hb.hubs == NULL)
		goto out;
	registry_each_participant(d, add_entry, &b);
	registry_each_subscriber(d, add_interest, &b);
	/* Our peers, whose statistics we pass on: their keys, as registered. */
	registry_each_peer(d, add_hub, &hb);
	/* Versions only grow, also across restarts and clock steps. */
	if (store_get_u64(d->store, "federation", "directory_version", &stored) != 0)
		stored = 0;
	dir.version = (uint64_t)now_ms() > stored ? (uint64_t)now_ms() : stored + 1;
	dir.entries = b.entries;
	dir.n_entries = b.n;
	dir.interests = b.interests;
	dir.n_interests = b.ni;
	dir.hubs = hb.hubs;
	dir.n_hubs = hb.n;
	dir.signed_at_ms = now_ms();
	/* Up to 4096 participants, one page: the bytes of before pages. */
	if ((r = tids_directory_paginate(&dir, TIDS_DIRECTORY_ENTRIES_MAX, &pages, &n_pages)) != 0)
		goto out;
	items = calloc(n_pages, sizeof(*items));
	if (items == NULL) {
		r = TIDS_ENOMEM;
		goto out;
	}
	for (k = 0; k < n_pages; k++) {
		struct tids_pull_item it = { .kind = TIDS_PULL_DIRECTORY };
		uint8_t *buf;

		if ((r = tids_directory_sign(d->hub.sign_sk, &pages[k])) != 0)
			goto out;
		it.directory = pages[k];
		if ((r = tids_wire_encode_pull_item(&it, &buf, &items[k].len)) != 0)
			goto out;
		items[k].data = buf;
	}
	free_items(f);
	f->dir_items = items;
	f->n_dir_items = n_pages;
	items = NULL;
	if (store_set_u64(d->store, "federation", "directory_version", dir.version) != 0)
		tids_log_warnx("federation: directory version not stored");
	f->dir_version = dir.version;
	f->dir_dirty = false;
	tids_log_debug("federation: our directory, version %llu: %zu participants in %zu pages, %zu with standing "
		       "purposes", (unsigned long long)dir.version, b.n, n_pages, b.ni);
out:
	for (size_t i = 0; items != NULL && i < k; i++)
		free((void *)items[i].data);
	free(items);
	tids_directory_pages_free(pages, n_pages);
	free(b.entries);
	free(b.interests);
	free(b.purposes);
	free(hb.hubs);
	return r;
}

int directory_own_items(struct tidsd *d, const struct tids_bytes **items, size_t *n)
{
	struct federation *f = d->federation;
	int r;

	if ((f->dir_dirty || f->dir_items == NULL) && (r = build_own(d)) != 0)
		return r;
	*items = f->dir_items;
	*n = f->n_dir_items;
	return 0;
}

/* --- the peers' -------------------------------------------------------------------- */

static void free_pages(struct tids_directory *pages, size_t n)
{
	for (size_t k = 0; pages != NULL && k < n; k++)
		tids_directory_free(&pages[k]);
	free(pages);
}

static void drop_pending(struct fed_peer *p)
{
	free_pages(p->pend, p->pend_n);
	p->pend = NULL;
	p->pend_n = p->pend_have = 0;
	p->pend_version = 0;
}

void directory_forget(struct fed_peer *p)
{
	drop_pending(p);
	tids_directory_merged_free(&p->dir);
	free_pages(p->dir_pages, p->n_dir_pages);
	p->dir_pages = NULL;
	p->n_dir_pages = 0;
}

/* The key page k of p's directory is kept under: page 0 under the peer's
 * id (where a directory of one page always was), the others after it. */
static void page_key(const struct fed_peer *p, size_t k, char *key, size_t len)
{
	if (k == 0)
		snprintf(key, len, "%s", p->id);
	else
		snprintf(key, len, "%s#%zu", p->id, k);
}

/* A decoded copy of page that owns its bytes (through the gate again). */
static int copy_page(const struct tids_directory *page, struct tids_directory *copy, char *err, size_t errlen)
{
	uint8_t *blob;
	size_t len;
	int r;

	if ((r = tids_wire_encode_directory(page, &blob, &len)) != 0)
		return tids_fail(err, errlen, r, "out of memory");
	r = tids_wire_decode_directory(blob, len, copy, err, errlen);
	free(blob);
	return r;
}

/* Keeps pages (verified decoded copies, taken over, freed on failure) as
 * p's directory, stored in the registry when store says so. */
static int keep(struct tidsd *d, struct fed_peer *p, struct tids_directory *pages, size_t n, bool store, char *err,
		size_t errlen)
{
	struct tids_directory merged;
	int r;

	if ((r = tids_directory_merge(pages, n, &merged, err, errlen)) != 0)
		goto fail;
	for (size_t k = 0; store && k < n; k++) {
		char key[sizeof(((struct fed_peer *)0)->id) + 24];
		uint8_t *blob;
		size_t len;

		page_key(p, k, key, sizeof(key));
		if ((r = tids_wire_encode_directory(&pages[k], &blob, &len)) != 0) {
			tids_directory_merged_free(&merged);
			r = tids_fail(err, errlen, r, "out of memory");
			goto fail;
		}
		r = store_set_blob(d->store, "directory", key, blob, len);
		free(blob);
		if (r != 0) {
			tids_directory_merged_free(&merged);
			r = tids_fail(err, errlen, TIDS_EDB, "directory of %s: page %zu could not be stored", p->id, k);
			goto fail;
		}
	}
	tids_directory_merged_free(&p->dir);
	free_pages(p->dir_pages, p->n_dir_pages);
	p->dir = merged;
	p->dir_pages = pages;
	p->n_dir_pages = n;
	return 0;
fail:
	free_pages(pages, n);
	return r;
}

/*
 * One page of p's directory (a directory of one page is all of it). The
 * pages of a version are held until every one is there, then used
 * together; a newer version's page drops what was held of an older one.
 */
int directory_apply(struct tidsd *d, struct fed_peer *p, const struct tids_directory *dir, char *err, size_t errlen)
{
	uint32_t pages = dir->pages > 0 ? dir->pages : 1;
	struct tids_directory *done;
	size_t n;
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
	if (p->pend != NULL && dir->version < p->pend_version)
		return tids_fail(err, errlen, TIDS_EREPLAY, "directory of %s: a page of version %llu, older than %llu",
				 p->id, (unsigned long long)dir->version, (unsigned long long)p->pend_version);
	if (p->pend != NULL && (dir->version != p->pend_version || pages != p->pend_n))
		drop_pending(p);
	if (p->pend == NULL) {
		p->pend = calloc(pages, sizeof(*p->pend));
		if (p->pend == NULL)
			return tids_fail(err, errlen, TIDS_ENOMEM, "directory of %s: out of memory", p->id);
		p->pend_n = pages;
		p->pend_version = dir->version;
	}
	if (p->pend[dir->page].hub_id != NULL)
		return 0;
	if ((r = copy_page(dir, &p->pend[dir->page], err, errlen)) != 0)
		return r;
	if (++p->pend_have < p->pend_n)
		return 0;
	done = p->pend;
	n = p->pend_n;
	p->pend = NULL;
	drop_pending(p);
	if ((r = keep(d, p, done, n, true, err, errlen)) != 0)
		return r;
	tids_log_info("federation: directory of %s, version %llu: %zu participants, %zu with standing purposes%s",
		      p->id, (unsigned long long)p->dir.version, p->dir.n_entries, p->dir.n_interests,
		      n > 1 ? " (in pages)" : "");
	directory_rebuild(d);
	return 0;
}

/* Reads page k of p's kept directory, through the gate and the signature
 * again. */
static int load_page(struct tidsd *d, struct fed_peer *p, size_t k, uint8_t *buf, struct tids_directory *out,
		     char *err, size_t errlen)
{
	char key[sizeof(((struct fed_peer *)0)->id) + 24];
	size_t len;
	int r;

	page_key(p, k, key, sizeof(key));
	if (store_get_blob(d->store, "directory", key, buf, DIRECTORY_BLOB_MAX, &len) != 0)
		return tids_fail(err, errlen, TIDS_ENOENT, "page %zu is not kept", k);
	if ((r = tids_wire_decode_directory(buf, len, out, err, errlen)) != 0)
		return r;
	if (strcmp(out->hub_id, p->id) != 0)
		r = tids_fail(err, errlen, TIDS_EPERM, "page %zu is of %s", k, out->hub_id);
	else
		r = tids_directory_verify(p->public_key, out, err, errlen);
	if (r != 0)
		tids_directory_free(out);
	return r;
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
		struct tids_directory first, *pages;
		char err[256], key[sizeof(p->id) + 24];
		size_t n, k;

		page_key(p, 0, key, sizeof(key));
		if (store_get_blob(d->store, "directory", key, buf, DIRECTORY_BLOB_MAX, &n) != 0)
			continue;
		if (load_page(d, p, 0, buf, &first, err, sizeof(err)) != 0) {
			tids_log_warnx("federation: the kept directory of %s is not used: %s", p->id, err);
			continue;
		}
		n = first.pages > 0 ? first.pages : 1;
		pages = calloc(n, sizeof(*pages));
		if (pages == NULL) {
			tids_directory_free(&first);
			continue;
		}
		pages[0] = first;
		for (k = 1; k < n; k++)
			if (load_page(d, p, k, buf, &pages[k], err, sizeof(err)) != 0)
				break;
		/* keep() checks that the pages are one version's, in order. */
		if (k < n) {
			free_pages(pages, k);
			tids_log_warnx("federation: the kept directory of %s is not used: %s", p->id, err);
		} else if (keep(d, p, pages, n, false, err, sizeof(err)) != 0) {
			tids_log_warnx("federation: the kept directory of %s is not used: %s", p->id, err);
		}
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
			/* Hubs receive statistics under their ids and role. */
			if (strcmp(e->role, "hub") == 0 || strcmp(e->id, d->conf->hub_id) == 0 ||
			    tids_map_get_str(&f->peers, e->id) != NULL) {
				conflict(f, &conflicted, p, e->id, "a participant may not pass for a hub (its id or role)");
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
	/* Who is where decides which peer gets which of our grants and
	 * approvals (and which of theirs verify here). */
	f->consent_version++;
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
	free_items(f);
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
