/*
 * The fact store: participants, assets, grants, approvals and counters the
 * daemon keeps current from SQLite. Every entry is one allocation holding
 * its strings; hashed indexes give a decision the recipient, the owner,
 * the asset, the grants between (owner, grantee) and the approvals naming a
 * recipient or exporter without scanning and without allocating.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

/* ---- a small open-addressing map over entries that carry their key ---- */

struct key {
	const char *a;
	size_t alen;
	const char *b;            /* second part, or NULL */
	size_t blen;
	const char *c;            /* third part, or NULL */
	size_t clen;
	int64_t n;
	uint64_t ha, hb, hc;      /* pol_str_hash of the parts when known, else 0 */
};

typedef void key_fn(const void *item, struct key *k);

/* Hash and item side by side: a probe touches one cache line. */
struct slot {
	uint64_t hash;            /* 0: empty */
	void *item;
};

struct map {
	struct slot *slots;
	size_t mask;
	size_t count;
	key_fn *key_of;
};

static uint64_t key_hash(const struct key *k)
{
	uint64_t h = k->ha ? k->ha : pol_str_hash(k->a, k->alen);
	if (k->b != NULL)
		h ^= (k->hb ? k->hb : pol_str_hash(k->b, k->blen)) * UINT64_C(0x9e3779b97f4a7c15);
	if (k->c != NULL)
		h ^= (k->hc ? k->hc : pol_str_hash(k->c, k->clen)) * UINT64_C(0xff51afd7ed558ccd);
	h ^= (uint64_t)k->n * UINT64_C(0xc2b2ae3d27d4eb4f);
	return h | 1;             /* 0 marks an empty slot */
}

static bool key_eq(const struct key *x, const struct key *y)
{
	return x->alen == y->alen && memcmp(x->a, y->a, x->alen) == 0 &&
	       (x->b == NULL) == (y->b == NULL) &&
	       (x->b == NULL || (x->blen == y->blen && memcmp(x->b, y->b, x->blen) == 0)) &&
	       (x->c == NULL) == (y->c == NULL) &&
	       (x->c == NULL || (x->clen == y->clen && memcmp(x->c, y->c, x->clen) == 0)) &&
	       x->n == y->n;
}

static void *map_find(const struct map *m, const struct key *k, size_t *at)
{
	if (m->slots == NULL)
		return NULL;
	uint64_t h = key_hash(k);
	for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
		const struct slot *sl = &m->slots[i];
		if (sl->hash == 0)
			return NULL;
		if (sl->hash == h) {
			struct key other;
			m->key_of(sl->item, &other);
			if (key_eq(k, &other)) {
				if (at != NULL)
					*at = i;
				return sl->item;
			}
		}
	}
}

static int map_grow(struct map *m)
{
	size_t cap = m->slots ? (m->mask + 1) * 2 : 64;
	struct slot *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; m->slots != NULL && i <= m->mask; i++) {
		if (m->slots[i].hash == 0)
			continue;
		size_t k = (size_t)m->slots[i].hash & (cap - 1);
		while (slots[k].hash != 0)
			k = (k + 1) & (cap - 1);
		slots[k] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = cap - 1;
	return 0;
}

/* The caller has checked the key is absent. */
static int map_insert(struct map *m, void *item)
{
	if ((m->slots == NULL || (m->count + 1) * 2 > m->mask + 1) && map_grow(m) != 0)
		return TIDS_ENOMEM;
	struct key k;
	m->key_of(item, &k);
	uint64_t h = key_hash(&k);
	size_t i = (size_t)h & m->mask;
	while (m->slots[i].hash != 0)
		i = (i + 1) & m->mask;
	m->slots[i] = (struct slot){ .hash = h, .item = item };
	m->count++;
	return 0;
}

/* Backward-shift deletion keeps probe sequences whole without tombstones. */
static void map_remove_at(struct map *m, size_t i)
{
	size_t j = i;
	m->slots[i] = (struct slot){ 0 };
	m->count--;
	for (;;) {
		j = (j + 1) & m->mask;
		if (m->slots[j].hash == 0)
			return;
		size_t home = (size_t)m->slots[j].hash & m->mask;
		/* may the entry at j move back to the hole at i? */
		bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (between)
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j] = (struct slot){ 0 };
		i = j;
	}
}

static void map_free(struct map *m)
{
	free(m->slots);
	m->slots = NULL;
}

/* ---- entries ---- */

/* Its key is copied in (one allocation, one cache miss to compare). */
struct grant_list {
	struct grant_link *links;
	uint32_t n;
	uint32_t cap;
	uint16_t owner_len;
	uint16_t grantee_len;
	uint16_t category_len;
	char key[];               /* owner, grantee, category: back to back */
};

struct approval_list {
	const char *id;
	struct fact_approval *head;
	struct fact_approval *tail;
	enum approval_by by;
};

struct counter {
	const char *name;
	const char *key;
	int64_t period;
	uint64_t value;
};

struct tids_policy_facts {
	struct map participants;
	struct map assets;
	struct map grants;
	struct map grant_lists;
	struct map approvals;
	struct map by_recipient;
	struct map by_exporter;
	struct map counters;
	struct fact_approval *all_approvals;
};

static void whole(const char *s, struct key *k)
{
	memset(k, 0, sizeof(*k));
	k->a = s;
	k->alen = strlen(s);
}

static void participant_key(const void *item, struct key *k)
{
	whole(((const struct tids_policy_participant *)item)->id, k);
}

static void asset_key(const void *item, struct key *k)
{
	whole(((const struct tids_policy_asset *)item)->id, k);
}

static void grant_key(const void *item, struct key *k)
{
	whole(((const struct fact_grant *)item)->g.id, k);
}

static void approval_key(const void *item, struct key *k)
{
	whole(((const struct fact_approval *)item)->a.id, k);
}

static void grant_list_key(const void *item, struct key *k)
{
	const struct grant_list *l = item;
	memset(k, 0, sizeof(*k));
	k->a = l->key;
	k->alen = l->owner_len;
	k->b = l->key + l->owner_len;
	k->blen = l->grantee_len;
	k->c = l->key + l->owner_len + l->grantee_len;
	k->clen = l->category_len;
}

static void list_key(const void *item, struct key *k)
{
	whole(((const struct approval_list *)item)->id, k);
}

static void counter_key(const void *item, struct key *k)
{
	const struct counter *c = item;
	whole(c->name, k);
	k->b = c->key;
	k->blen = strlen(c->key);
	k->n = c->period;
}

struct tids_policy_facts *tids_policy_facts_new(void)
{
	struct tids_policy_facts *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->participants.key_of = participant_key;
	f->assets.key_of = asset_key;
	f->grants.key_of = grant_key;
	f->grant_lists.key_of = grant_list_key;
	f->approvals.key_of = approval_key;
	f->by_recipient.key_of = list_key;
	f->by_exporter.key_of = list_key;
	f->counters.key_of = counter_key;
	return f;
}

static void free_items(struct map *m)
{
	for (size_t i = 0; m->slots != NULL && i <= m->mask; i++)
		if (m->slots[i].hash != 0)
			free(m->slots[i].item);
	map_free(m);
}

void tids_policy_facts_free(struct tids_policy_facts *f)
{
	if (f == NULL)
		return;
	free_items(&f->participants);
	free_items(&f->assets);
	free_items(&f->grants);
	for (size_t i = 0; f->grant_lists.slots != NULL && i <= f->grant_lists.mask; i++)
		if (f->grant_lists.slots[i].hash != 0)
			free(((struct grant_list *)f->grant_lists.slots[i].item)->links);
	free_items(&f->grant_lists);
	free_items(&f->approvals);
	free_items(&f->by_recipient);
	free_items(&f->by_exporter);
	free_items(&f->counters);
	free(f);
}

/* ---- packing an entry and its strings into one allocation ---- */

struct packer {
	char *buf;
	size_t used;
	size_t cap;               /* 0 while measuring */
};

static void *pack_raw(struct packer *p, size_t size, size_t align)
{
	p->used = (p->used + align - 1) & ~(align - 1);
	void *at = p->cap ? p->buf + p->used : NULL;
	p->used += size;
	return at;
}

static const char *pack_str(struct packer *p, const char *s)
{
	if (s == NULL)
		s = "";
	size_t n = strlen(s) + 1;
	char *at = pack_raw(p, n, 1);
	if (at != NULL)
		memcpy(at, s, n);
	return at;
}

static const char *const *pack_strv(struct packer *p, const char *const *v, size_t n)
{
	const char **at = pack_raw(p, (n ? n : 1) * sizeof(char *), sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *s = pack_str(p, v[i]);
		if (at != NULL)
			at[i] = s;
	}
	return at;
}

static const struct tids_policy_attr *pack_attrs(struct packer *p, const struct tids_policy_attr *v,
						 size_t n)
{
	struct tids_policy_attr *at = pack_raw(p, (n ? n : 1) * sizeof(*at), sizeof(void *));
	for (size_t i = 0; i < n; i++) {
		const char *name = pack_str(p, v[i].name);
		const char *value = pack_str(p, v[i].value);
		if (at != NULL) {
			at[i].name = name;
			at[i].value = value;
		}
	}
	return at;
}

/* An entry's pack function runs twice: with e == NULL to measure, then
 * over one allocation of the measured size to fill it. */
typedef void pack_fn(struct packer *p, void *e, const void *in);

static void *pack_entry(size_t size, pack_fn *fn, const void *in)
{
	struct packer p = { 0 };
	pack_raw(&p, size, 16);
	fn(&p, NULL, in);
	char *buf = calloc(1, p.used);
	if (buf == NULL)
		return NULL;
	p = (struct packer){ .buf = buf, .cap = SIZE_MAX };
	void *e = pack_raw(&p, size, 16);
	fn(&p, e, in);
	return e;
}

#define SET(field, value)                                                  \
	do {                                                               \
		__typeof__(value) v_ = (value);                            \
		if (e != NULL)                                             \
			e->field = v_;                                     \
	} while (0)

static bool empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static int fail(char *err, size_t errlen, const char *what)
{
	return tids_fail(err, errlen, TIDS_EINVAL, "%s", what);
}

/* ---- participants and assets ---- */

static void pack_participant(struct packer *p, void *out, const void *arg)
{
	struct tids_policy_participant *e = out;
	const struct tids_policy_participant *in = arg;
	SET(id, pack_str(p, in->id));
	SET(role, pack_str(p, in->role));
	SET(jurisdiction, pack_str(p, in->jurisdiction));
	SET(home_hub, pack_str(p, in->home_hub));
	SET(attrs, pack_attrs(p, in->attrs, in->n_attrs));
	SET(n_attrs, in->n_attrs);
	SET(suspended, in->suspended);
}

int tids_policy_facts_put_participant(struct tids_policy_facts *f,
				      const struct tids_policy_participant *in, char *err,
				      size_t errlen)
{
	if (empty(in->id))
		return fail(err, errlen, "participant without an id");
	if (in->n_attrs > 0 && in->attrs == NULL)
		return fail(err, errlen, "participant attributes missing");
	struct tids_policy_participant *entry;
	entry = pack_entry(sizeof(*entry), pack_participant, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_participant(f, in->id);
	if (map_insert(&f->participants, entry) != 0) {
		free(entry);
		return TIDS_ENOMEM;
	}
	return 0;
}

int tids_policy_facts_remove_participant(struct tids_policy_facts *f, const char *id)
{
	struct key k;
	size_t at;
	whole(id, &k);
	void *e = map_find(&f->participants, &k, &at);
	if (e == NULL)
		return TIDS_ENOENT;
	map_remove_at(&f->participants, at);
	free(e);
	return 0;
}

static void pack_asset(struct packer *p, void *out, const void *arg)
{
	struct tids_policy_asset *e = out;
	const struct tids_policy_asset *in = arg;
	SET(id, pack_str(p, in->id));
	SET(lessee, pack_str(p, in->lessee));
	SET(lessor, pack_str(p, in->lessor));
	SET(site, pack_str(p, in->site));
	SET(kind, pack_str(p, in->kind));
	SET(attrs, pack_attrs(p, in->attrs, in->n_attrs));
	SET(n_attrs, in->n_attrs);
}

int tids_policy_facts_put_asset(struct tids_policy_facts *f, const struct tids_policy_asset *in,
				char *err, size_t errlen)
{
	if (empty(in->id))
		return fail(err, errlen, "asset without an id");
	if (in->n_attrs > 0 && in->attrs == NULL)
		return fail(err, errlen, "asset attributes missing");
	struct tids_policy_asset *entry;
	entry = pack_entry(sizeof(*entry), pack_asset, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_asset(f, in->id);
	if (map_insert(&f->assets, entry) != 0) {
		free(entry);
		return TIDS_ENOMEM;
	}
	return 0;
}

int tids_policy_facts_remove_asset(struct tids_policy_facts *f, const char *id)
{
	struct key k;
	size_t at;
	whole(id, &k);
	void *e = map_find(&f->assets, &k, &at);
	if (e == NULL)
		return TIDS_ENOENT;
	map_remove_at(&f->assets, at);
	free(e);
	return 0;
}

const struct tids_policy_participant *pol_facts_participant(const struct tids_policy_facts *f,
							     const char *id, size_t len, uint64_t h)
{
	struct key k = { .a = id, .alen = len, .ha = h };
	return map_find(&f->participants, &k, NULL);
}

const struct tids_policy_asset *pol_facts_asset(const struct tids_policy_facts *f,
						 const char *id, size_t len, uint64_t h)
{
	struct key k = { .a = id, .alen = len, .ha = h };
	return map_find(&f->assets, &k, NULL);
}

/* ---- grants ---- */

static bool strv_ok(const char *const *v, size_t n)
{
	if (n > 0 && v == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] == NULL)
			return false;
	return true;
}

/* Files grant e under (owner, grantee, its c-th category). */
static int link_grant(struct tids_policy_facts *f, struct fact_grant *e, size_t c)
{
	const struct tids_policy_grant *g = &e->g;
	struct key k = { .a = g->owner, .alen = strlen(g->owner), .b = g->grantee,
			 .blen = strlen(g->grantee), .c = g->categories[c],
			 .clen = strlen(g->categories[c]) };
	struct grant_list *l = map_find(&f->grant_lists, &k, NULL);
	if (l == NULL) {
		if (k.alen > UINT16_MAX || k.blen > UINT16_MAX || k.clen > UINT16_MAX)
			return TIDS_EINVAL;
		l = calloc(1, sizeof(*l) + k.alen + k.blen + k.clen);
		if (l == NULL)
			return TIDS_ENOMEM;
		l->owner_len = (uint16_t)k.alen;
		l->grantee_len = (uint16_t)k.blen;
		l->category_len = (uint16_t)k.clen;
		memcpy(l->key, k.a, k.alen);
		memcpy(l->key + k.alen, k.b, k.blen);
		memcpy(l->key + k.alen + k.blen, k.c, k.clen);
		if (map_insert(&f->grant_lists, l) != 0) {
			free(l);
			return TIDS_ENOMEM;
		}
	}
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 2;
		struct grant_link *nl = realloc(l->links, cap * sizeof(*nl));
		if (nl == NULL)
			return TIDS_ENOMEM;
		l->links = nl;
		l->cap = cap;
	}
	struct grant_link *ln = &l->links[l->n++];
	memset(ln, 0, sizeof(*ln));
	ln->grant = e;
	ln->not_before_ms = g->not_before_ms;
	ln->not_after_ms = g->not_after_ms;
	ln->max_uses = g->max_uses;
	ln->uses = g->uses;
	ln->n_purposes = g->n_purposes <= POL_LINK_PURPOSES ? (uint8_t)g->n_purposes : UINT8_MAX;
	for (size_t i = 0; i < g->n_purposes && i < POL_LINK_PURPOSES; i++)
		ln->purpose_hash[i] = pol_hash32(g->purposes[i], strlen(g->purposes[i]));
	ln->n_assets = g->n_assets <= POL_LINK_ASSETS ? (uint8_t)g->n_assets : UINT8_MAX;
	for (size_t i = 0; i < g->n_assets && i < POL_LINK_ASSETS; i++)
		ln->asset_hash[i] = pol_hash32(g->assets[i], strlen(g->assets[i]));
	e->lists[c] = l;
	return 0;
}

static void unlink_grant(struct tids_policy_facts *f, struct fact_grant *e, size_t c)
{
	struct grant_list *l = e->lists[c];
	if (l == NULL)
		return;
	e->lists[c] = NULL;
	for (uint32_t i = 0; i < l->n; i++) {
		if (l->links[i].grant != e)
			continue;
		/* keep insertion order: the first covering grant is the one used */
		memmove(&l->links[i], &l->links[i + 1], (l->n - i - 1) * sizeof(l->links[0]));
		l->n--;
		break;
	}
	if (l->n == 0) {
		struct key k;
		size_t at;
		grant_list_key(l, &k);
		if (map_find(&f->grant_lists, &k, &at) == l)
			map_remove_at(&f->grant_lists, at);
		free(l->links);
		free(l);
	}
}

static void pack_grant(struct packer *p, void *out, const void *arg)
{
	struct fact_grant *e = out;
	const struct tids_policy_grant *in = arg;
	const struct tids_policy_grant_duties *du = &in->duties;
	SET(g.id, pack_str(p, in->id));
	SET(g.owner, pack_str(p, in->owner));
	SET(g.grantee, pack_str(p, in->grantee));
	SET(g.assets, pack_strv(p, in->assets, in->n_assets));
	SET(g.n_assets, in->n_assets);
	SET(g.categories, pack_strv(p, in->categories, in->n_categories));
	SET(g.n_categories, in->n_categories);
	SET(g.purposes, pack_strv(p, in->purposes, in->n_purposes));
	SET(g.n_purposes, in->n_purposes);
	SET(g.not_before_ms, in->not_before_ms);
	SET(g.not_after_ms, in->not_after_ms);
	SET(g.max_uses, in->max_uses);
	SET(g.uses, in->uses);
	SET(g.duties.retain_until_ms, du->retain_until_ms);
	SET(g.duties.notify, pack_strv(p, du->notify, du->n_notify));
	SET(g.duties.n_notify, du->n_notify);
	SET(g.duties.no_onward_transfer, du->no_onward_transfer);
	SET(g.duties.encrypt, du->encrypt);
	SET(g.duties.redact, pack_strv(p, du->redact, du->n_redact));
	SET(g.duties.n_redact, du->n_redact);
	SET(g.duties.purposes, pack_strv(p, du->purposes, du->n_purposes));
	SET(g.duties.n_purposes, du->n_purposes);
	SET(g.duties.duties, pack_strv(p, du->duties, du->n_duties));
	SET(g.duties.n_duties, du->n_duties);
	SET(g.duties.aggregate_function,
	    du->aggregate_function ? pack_str(p, du->aggregate_function) : NULL);
	SET(g.duties.aggregate_field, pack_str(p, du->aggregate_field));
	SET(g.duties.aggregate_window_ms, du->aggregate_window_ms);
	SET(g.duties.aggregate_by, pack_strv(p, du->aggregate_by, du->n_aggregate_by));
	SET(g.duties.n_aggregate_by, du->n_aggregate_by);
	SET(lists, (struct grant_list **)pack_raw(p, (in->n_categories ? in->n_categories : 1) *
						  sizeof(struct grant_list *), sizeof(void *)));
}

int tids_policy_facts_put_grant(struct tids_policy_facts *f, const struct tids_policy_grant *in,
				char *err, size_t errlen)
{
	const struct tids_policy_grant_duties *du = &in->duties;
	if (empty(in->id))
		return fail(err, errlen, "grant without an id");
	if (empty(in->owner) || empty(in->grantee))
		return tids_fail(err, errlen, TIDS_EINVAL, "grant %s: owner and grantee are required",
				 in->id);
	if (!strv_ok(in->assets, in->n_assets) || !strv_ok(in->categories, in->n_categories) ||
	    !strv_ok(in->purposes, in->n_purposes) || !strv_ok(du->notify, du->n_notify) ||
	    !strv_ok(du->redact, du->n_redact) || !strv_ok(du->purposes, du->n_purposes) ||
	    !strv_ok(du->duties, du->n_duties) || !strv_ok(du->aggregate_by, du->n_aggregate_by))
		return tids_fail(err, errlen, TIDS_EINVAL, "grant %s: a list holds a NULL string",
				 in->id);
	if (in->not_after_ms != 0 && in->not_after_ms < in->not_before_ms)
		return tids_fail(err, errlen, TIDS_EINVAL, "grant %s: not_after is before not_before",
				 in->id);
	struct fact_grant *entry;
	entry = pack_entry(sizeof(*entry), pack_grant, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_grant(f, in->id);
	if (map_insert(&f->grants, entry) != 0) {
		free(entry);
		return TIDS_ENOMEM;
	}
	for (size_t c = 0; c < entry->g.n_categories; c++) {
		if (link_grant(f, entry, c) != 0) {
			tids_policy_facts_remove_grant(f, in->id);
			return TIDS_ENOMEM;
		}
	}
	return 0;
}

int tids_policy_facts_remove_grant(struct tids_policy_facts *f, const char *id)
{
	struct key k;
	size_t at;
	whole(id, &k);
	struct fact_grant *g = map_find(&f->grants, &k, &at);
	if (g == NULL)
		return TIDS_ENOENT;
	map_remove_at(&f->grants, at);
	for (size_t c = 0; c < g->g.n_categories; c++)
		unlink_grant(f, g, c);
	free(g);
	return 0;
}

static struct fact_grant *grant_by_id(const struct tids_policy_facts *f, const char *id)
{
	struct key k;
	whole(id, &k);
	return map_find(&f->grants, &k, NULL);
}

static void set_uses(struct fact_grant *g, uint32_t uses)
{
	g->g.uses = uses;
	for (size_t c = 0; c < g->g.n_categories; c++) {
		struct grant_list *l = g->lists[c];
		for (uint32_t i = 0; l != NULL && i < l->n; i++)
			if (l->links[i].grant == g)
				l->links[i].uses = uses;
	}
}

int tids_policy_facts_set_grant_uses(struct tids_policy_facts *f, const char *grant_id,
				     uint32_t uses)
{
	struct fact_grant *g = grant_by_id(f, grant_id);
	if (g == NULL)
		return TIDS_ENOENT;
	set_uses(g, uses);
	return 0;
}

int tids_policy_facts_add_grant_use(struct tids_policy_facts *f, const char *grant_id)
{
	struct fact_grant *g = grant_by_id(f, grant_id);
	if (g == NULL)
		return TIDS_ENOENT;
	if (g->g.uses < UINT32_MAX)
		set_uses(g, g->g.uses + 1);
	return 0;
}

const struct tids_policy_grant *tids_policy_facts_grant(const struct tids_policy_facts *f,
							 const char *id)
{
	struct fact_grant *g = grant_by_id(f, id);
	return g != NULL ? &g->g : NULL;
}

size_t tids_policy_facts_grant_count(const struct tids_policy_facts *f)
{
	return f->grants.count;
}

const struct grant_link *pol_facts_grants(const struct tids_policy_facts *f,
					  struct pol_str owner, struct pol_str grantee,
					  struct pol_str category, size_t *n)
{
	struct key k = { .a = owner.p, .alen = owner.len, .ha = owner.h,
			 .b = grantee.p, .blen = grantee.len, .hb = grantee.h,
			 .c = category.p, .clen = category.len, .hc = category.h };
	const struct grant_list *l = map_find(&f->grant_lists, &k, NULL);
	*n = l != NULL ? l->n : 0;
	return l != NULL ? l->links : NULL;
}

/* ---- approvals ---- */

static int list_add(struct map *m, const char *id, struct fact_approval *a, enum approval_by by)
{
	struct key k;
	whole(id, &k);
	struct approval_list *l = map_find(m, &k, NULL);
	if (l == NULL) {
		size_t n = strlen(id) + 1;
		l = calloc(1, sizeof(*l) + n);
		if (l == NULL)
			return TIDS_ENOMEM;
		memcpy(l + 1, id, n);
		l->id = (const char *)(l + 1);
		l->by = by;
		if (map_insert(m, l) != 0) {
			free(l);
			return TIDS_ENOMEM;
		}
	}
	if (by == BY_RECIPIENT) {
		a->recipient_list = l;
		a->by_recipient_prev = l->tail;
		if (l->tail)
			l->tail->by_recipient_next = a;
		else
			l->head = a;
	} else {
		a->exporter_list = l;
		a->by_exporter_prev = l->tail;
		if (l->tail)
			l->tail->by_exporter_next = a;
		else
			l->head = a;
	}
	l->tail = a;
	return 0;
}

static void list_drop(struct map *m, struct approval_list *l)
{
	struct key k;
	size_t at;
	whole(l->id, &k);
	if (map_find(m, &k, &at) == l)
		map_remove_at(m, at);
	free(l);
}

static void pack_approval(struct packer *p, void *out, const void *arg)
{
	struct fact_approval *e = out;
	const struct tids_policy_approval *in = arg;
	SET(a.id, pack_str(p, in->id));
	SET(a.kind, pack_str(p, in->kind));
	SET(a.regulator, pack_str(p, in->regulator));
	SET(a.exporter, pack_str(p, in->exporter));
	SET(a.recipient, pack_str(p, in->recipient));
	SET(a.categories, pack_strv(p, in->categories, in->n_categories));
	SET(a.n_categories, in->n_categories);
	enum tids_tier *tiers = pack_raw(p, (in->n_tiers ? in->n_tiers : 1) * sizeof(*tiers),
					 sizeof(int));
	if (tiers != NULL && in->n_tiers > 0)
		memcpy(tiers, in->tiers, in->n_tiers * sizeof(*tiers));
	SET(a.tiers, (const enum tids_tier *)tiers);
	SET(a.n_tiers, in->n_tiers);
	SET(a.purposes, pack_strv(p, in->purposes, in->n_purposes));
	SET(a.n_purposes, in->n_purposes);
	SET(a.from_jurisdiction, pack_str(p, in->from_jurisdiction));
	SET(a.to_jurisdiction, pack_str(p, in->to_jurisdiction));
	SET(a.valid_from_ms, in->valid_from_ms);
	SET(a.valid_until_ms, in->valid_until_ms);
}

int tids_policy_facts_put_approval(struct tids_policy_facts *f,
				   const struct tids_policy_approval *in, char *err, size_t errlen)
{
	if (empty(in->id))
		return fail(err, errlen, "approval without an id");
	if (empty(in->kind))
		return tids_fail(err, errlen, TIDS_EINVAL, "approval %s: kind is required", in->id);
	if (!strv_ok(in->categories, in->n_categories) || !strv_ok(in->purposes, in->n_purposes) ||
	    (in->n_tiers > 0 && in->tiers == NULL))
		return tids_fail(err, errlen, TIDS_EINVAL, "approval %s: a list holds a NULL entry",
				 in->id);
	struct fact_approval *entry;
	entry = pack_entry(sizeof(*entry), pack_approval, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_approval(f, in->id);
	if (map_insert(&f->approvals, entry) != 0) {
		free(entry);
		return TIDS_ENOMEM;
	}
	if (list_add(&f->by_recipient, entry->a.recipient, entry, BY_RECIPIENT) != 0 ||
	    list_add(&f->by_exporter, entry->a.exporter, entry, BY_EXPORTER) != 0) {
		tids_policy_facts_remove_approval(f, in->id);
		return TIDS_ENOMEM;
	}
	entry->all_next = f->all_approvals;
	if (f->all_approvals != NULL)
		f->all_approvals->all_prev = entry;
	f->all_approvals = entry;
	return 0;
}

int tids_policy_facts_remove_approval(struct tids_policy_facts *f, const char *id)
{
	struct key k;
	size_t at;
	whole(id, &k);
	struct fact_approval *a = map_find(&f->approvals, &k, &at);
	if (a == NULL)
		return TIDS_ENOENT;
	map_remove_at(&f->approvals, at);
	struct approval_list *l = a->recipient_list;
	if (l != NULL) {
		if (a->by_recipient_prev)
			a->by_recipient_prev->by_recipient_next = a->by_recipient_next;
		else
			l->head = a->by_recipient_next;
		if (a->by_recipient_next)
			a->by_recipient_next->by_recipient_prev = a->by_recipient_prev;
		else
			l->tail = a->by_recipient_prev;
		if (l->head == NULL)
			list_drop(&f->by_recipient, l);
	}
	l = a->exporter_list;
	if (l != NULL) {
		if (a->by_exporter_prev)
			a->by_exporter_prev->by_exporter_next = a->by_exporter_next;
		else
			l->head = a->by_exporter_next;
		if (a->by_exporter_next)
			a->by_exporter_next->by_exporter_prev = a->by_exporter_prev;
		else
			l->tail = a->by_exporter_prev;
		if (l->head == NULL)
			list_drop(&f->by_exporter, l);
	}
	if (a->all_prev)
		a->all_prev->all_next = a->all_next;
	else if (f->all_approvals == a)
		f->all_approvals = a->all_next;
	if (a->all_next)
		a->all_next->all_prev = a->all_prev;
	free(a);
	return 0;
}

const struct fact_approval *pol_facts_approvals(const struct tids_policy_facts *f,
						enum approval_by by, const char *id, size_t len)
{
	if (by == BY_NONE)
		return f->all_approvals;
	struct key k = { .a = id, .alen = len };
	const struct approval_list *l = map_find(by == BY_RECIPIENT ? &f->by_recipient
								    : &f->by_exporter, &k, NULL);
	return l != NULL ? l->head : NULL;
}

/* ---- counters ---- */

static struct counter *counter_find(const struct tids_policy_facts *f, const char *name,
				    size_t name_len, const char *key, size_t key_len, int64_t period)
{
	struct key k = { .a = name, .alen = name_len, .b = key, .blen = key_len, .n = period };
	return map_find(&f->counters, &k, NULL);
}

static int counter_put(struct tids_policy_facts *f, const char *name, const char *key,
		       int64_t period, uint64_t value, bool add)
{
	if (empty(name) || key == NULL)
		return TIDS_EINVAL;
	struct counter *c = counter_find(f, name, strlen(name), key, strlen(key), period);
	if (c != NULL) {
		c->value = add ? (c->value > UINT64_MAX - value ? UINT64_MAX : c->value + value) : value;
		return 0;
	}
	size_t ln = strlen(name) + 1, lk = strlen(key) + 1;
	c = calloc(1, sizeof(*c) + ln + lk);
	if (c == NULL)
		return TIDS_ENOMEM;
	char *s = (char *)(c + 1);
	memcpy(s, name, ln);
	memcpy(s + ln, key, lk);
	c->name = s;
	c->key = s + ln;
	c->period = period;
	c->value = value;
	if (map_insert(&f->counters, c) != 0) {
		free(c);
		return TIDS_ENOMEM;
	}
	return 0;
}

int tids_policy_facts_set_counter(struct tids_policy_facts *f, const char *name, const char *key,
				  int64_t period, uint64_t value)
{
	return counter_put(f, name, key, period, value, false);
}

int tids_policy_facts_add_counter(struct tids_policy_facts *f, const char *name, const char *key,
				  int64_t period, uint64_t amount)
{
	return counter_put(f, name, key, period, amount, true);
}

uint64_t tids_policy_facts_counter(const struct tids_policy_facts *f, const char *name,
				   const char *key, int64_t period)
{
	const struct counter *c = counter_find(f, name, strlen(name), key, strlen(key), period);
	return c != NULL ? c->value : 0;
}

uint64_t pol_facts_counter(const struct tids_policy_facts *f, const char *name, size_t name_len,
			   const char *key, size_t key_len, int64_t period)
{
	const struct counter *c = counter_find(f, name, name_len, key, key_len, period);
	return c != NULL ? c->value : 0;
}
