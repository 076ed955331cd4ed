/*
 * The fact store: participants, assets, grants, approvals and counters the
 * daemon keeps current from SQLite. Hashed tables give a decision the
 * recipient, the owner, the asset, the grants between (owner, grantee)
 * and the approvals naming a recipient or exporter without scanning and
 * without allocating. Grants are what a hub has by the hundred thousand,
 * so they are compact: the names they share (participants, assets,
 * categories, purposes) are interned once, their duties kept only when
 * they have any.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

/* ---- open addressing over pointers, the hash beside each ---- */

struct tslot {
	uint64_t hash;
	void *e;                  /* NULL: empty */
};

struct table {
	struct tslot *slots;
	size_t mask;
	size_t count;
	unsigned max_load;        /* percent */
};

typedef bool eq_fn(const void *entry, const void *key);

static void *t_find(const struct table *t, uint64_t h, eq_fn *eq, const void *key, size_t *at)
{
	if (t->slots == NULL)
		return NULL;
	for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
		const struct tslot *sl = &t->slots[i];
		if (sl->e == NULL)
			return NULL;
		if (sl->hash == h && eq(sl->e, key)) {
			if (at != NULL)
				*at = i;
			return sl->e;
		}
	}
}

static int t_grow(struct table *t)
{
	size_t cap = t->slots ? (t->mask + 1) * 2 : 64;
	struct tslot *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
		if (t->slots[i].e == NULL)
			continue;
		size_t k = (size_t)t->slots[i].hash & (cap - 1);
		while (slots[k].e != NULL)
			k = (k + 1) & (cap - 1);
		slots[k] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->mask = cap - 1;
	return 0;
}

/* The caller has checked the key is absent. */
static int t_insert(struct table *t, uint64_t h, void *e)
{
	if ((t->slots == NULL || (t->count + 1) * 100 > (t->mask + 1) * t->max_load) &&
	    t_grow(t) != 0)
		return TIDS_ENOMEM;
	size_t i = (size_t)h & t->mask;
	while (t->slots[i].e != NULL)
		i = (i + 1) & t->mask;
	t->slots[i] = (struct tslot){ .hash = h, .e = e };
	t->count++;
	return 0;
}

/* Backward-shift deletion keeps probe sequences whole without tombstones. */
static void t_remove_at(struct table *t, size_t i)
{
	size_t j = i;
	t->slots[i] = (struct tslot){ 0 };
	t->count--;
	for (;;) {
		j = (j + 1) & t->mask;
		if (t->slots[j].e == NULL)
			return;
		size_t home = (size_t)t->slots[j].hash & t->mask;
		/* may the entry at j move back to the hole at i? */
		bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (between)
			continue;
		t->slots[i] = t->slots[j];
		t->slots[j] = (struct tslot){ 0 };
		i = j;
	}
}

static void t_free(struct table *t, bool entries)
{
	for (size_t i = 0; entries && t->slots != NULL && i <= t->mask; i++)
		free(t->slots[i].e);
	free(t->slots);
	t->slots = NULL;
	t->count = 0;
}

static uint64_t mix2(uint64_t a, uint64_t b)
{
	return a ^ (b * UINT64_C(0x9e3779b97f4a7c15) + UINT64_C(0x632be59bd9b4e019));
}

struct skey {
	const char *p;
	size_t len;
};

/* ---- entries ---- */

struct fact_participant {
	uint32_t id_len;
	struct tids_policy_participant p;
};

struct fact_asset {
	uint32_t id_len;
	struct tids_policy_asset a;
};

/* The grants between one owner and one grantee. */
struct pair_list {
	const struct fsym *owner;
	const struct fsym *grantee;
	uint32_t n;
	uint32_t cap;
	struct grant_link links[];    /* by category hash, in insertion order within one */
};

struct approval_list {
	const char *id;
	size_t id_len;
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
	struct table participants;
	struct table assets;
	struct table syms;
	struct table grants;
	struct table pairs;
	struct table approvals;
	struct table by_recipient;
	struct table by_exporter;
	struct table counters;
	struct fact_approval *all_approvals;
	/* Which (owner, grantee) pairs may have grants: most recipients a
	 * record goes to hold none from its owner, and this answers them
	 * from one word. Blocked (both bits in one word); removals are
	 * counted and the filter rebuilt once they pile up. */
	uint64_t *pair_bloom;     /* NULL: every pair may */
	size_t bloom_mask;        /* words - 1 */
	size_t bloom_stale;       /* pairs removed since it was built */
	struct fact_grant *retired_head, *retired_tail;   /* oldest first */
	size_t n_retired;
};

static bool participant_eq(const void *e, const void *k)
{
	const struct fact_participant *p = e;
	const struct skey *key = k;
	return p->id_len == key->len && pol_mem_eq(p->p.id, key->p, key->len);
}

static bool asset_eq(const void *e, const void *k)
{
	const struct fact_asset *a = e;
	const struct skey *key = k;
	return a->id_len == key->len && pol_mem_eq(a->a.id, key->p, key->len);
}

static bool sym_eq(const void *e, const void *k)
{
	const struct fsym *y = e;
	const struct skey *key = k;
	return y->len == key->len && pol_mem_eq(y->s, key->p, key->len);
}

static bool grant_eq(const void *e, const void *k)
{
	const struct fact_grant *g = e;
	const struct skey *key = k;
	return g->id_len == key->len && pol_mem_eq(pol_grant_id(g), key->p, key->len);
}

struct pair_key {
	struct pol_str owner;
	struct pol_str grantee;
};

static bool pair_eq(const void *e, const void *k)
{
	const struct pair_list *l = e;
	const struct pair_key *key = k;
	return pol_fsym_is(l->owner, key->owner.p, key->owner.len, key->owner.h) &&
	       pol_fsym_is(l->grantee, key->grantee.p, key->grantee.len, key->grantee.h);
}

static bool approval_eq(const void *e, const void *k)
{
	const struct fact_approval *a = e;
	const struct skey *key = k;
	return strncmp(a->a.id, key->p, key->len) == 0 && a->a.id[key->len] == '\0';
}

static bool approval_list_eq(const void *e, const void *k)
{
	const struct approval_list *l = e;
	const struct skey *key = k;
	return l->id_len == key->len && pol_mem_eq(l->id, key->p, key->len);
}

struct counter_key {
	struct skey name;
	struct skey key;
	int64_t period;
};

static bool counter_eq(const void *e, const void *k)
{
	const struct counter *c = e;
	const struct counter_key *key = k;
	return c->period == key->period &&
	       strncmp(c->name, key->name.p, key->name.len) == 0 && c->name[key->name.len] == '\0' &&
	       strncmp(c->key, key->key.p, key->key.len) == 0 && c->key[key->key.len] == '\0';
}

static uint64_t str_hash(const char *s, size_t len, uint64_t h)
{
	return h != 0 ? h : pol_str_hash(s, len);
}

static uint64_t counter_hash(const struct counter_key *k)
{
	return mix2(mix2(pol_str_hash(k->name.p, k->name.len), pol_str_hash(k->key.p, k->key.len)),
		    (uint64_t)k->period);
}

struct tids_policy_facts *tids_policy_facts_new(void)
{
	struct tids_policy_facts *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->participants.max_load = 50;
	f->assets.max_load = 50;
	f->syms.max_load = 50;
	/* by id only when one is put or removed, never by a decision */
	f->grants.max_load = 80;
	f->pairs.max_load = 50;
	f->approvals.max_load = 50;
	f->by_recipient.max_load = 50;
	f->by_exporter.max_load = 50;
	f->counters.max_load = 50;
	return f;
}

void tids_policy_facts_free(struct tids_policy_facts *f)
{
	if (f == NULL)
		return;
	t_free(&f->participants, true);
	t_free(&f->assets, true);
	for (size_t i = 0; f->grants.slots != NULL && i <= f->grants.mask; i++) {
		struct fact_grant *g = f->grants.slots[i].e;
		if (g != NULL)
			free((void *)g->duties);
	}
	t_free(&f->grants, true);
	t_free(&f->pairs, true);
	t_free(&f->syms, true);
	t_free(&f->approvals, true);
	t_free(&f->by_recipient, true);
	t_free(&f->by_exporter, true);
	t_free(&f->counters, true);
	free(f->pair_bloom);
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
	if (n == 0)
		return NULL;
	const char **at = pack_raw(p, n * sizeof(char *), sizeof(char *));
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
	if (n == 0)
		return NULL;
	struct tids_policy_attr *at = pack_raw(p, n * sizeof(*at), sizeof(void *));
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

static struct skey skey_of(const char *s)
{
	return (struct skey){ .p = s, .len = strlen(s) };
}

/* ---- participants and assets ---- */

static void pack_participant(struct packer *p, void *out, const void *arg)
{
	struct fact_participant *e = out;
	const struct tids_policy_participant *in = arg;
	SET(id_len, (uint32_t)strlen(in->id));
	SET(p.id, pack_str(p, in->id));
	SET(p.role, pack_str(p, in->role));
	SET(p.jurisdiction, pack_str(p, in->jurisdiction));
	SET(p.home_hub, pack_str(p, in->home_hub));
	SET(p.attrs, pack_attrs(p, in->attrs, in->n_attrs));
	SET(p.n_attrs, in->n_attrs);
	SET(p.suspended, in->suspended);
}

int tids_policy_facts_put_participant(struct tids_policy_facts *f,
				      const struct tids_policy_participant *in, char *err,
				      size_t errlen)
{
	if (empty(in->id))
		return fail(err, errlen, "participant without an id");
	if (in->n_attrs > 0 && in->attrs == NULL)
		return fail(err, errlen, "participant attributes missing");
	struct fact_participant *entry = pack_entry(sizeof(*entry), pack_participant, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_participant(f, in->id);
	if (t_insert(&f->participants, pol_str_hash(in->id, entry->id_len), entry) != 0) {
		free(entry);
		return TIDS_ENOMEM;
	}
	return 0;
}

int tids_policy_facts_remove_participant(struct tids_policy_facts *f, const char *id)
{
	struct skey k = skey_of(id);
	size_t at;
	void *e = t_find(&f->participants, pol_str_hash(k.p, k.len), participant_eq, &k, &at);
	if (e == NULL)
		return TIDS_ENOENT;
	t_remove_at(&f->participants, at);
	free(e);
	return 0;
}

static void pack_asset(struct packer *p, void *out, const void *arg)
{
	struct fact_asset *e = out;
	const struct tids_policy_asset *in = arg;
	SET(id_len, (uint32_t)strlen(in->id));
	SET(a.id, pack_str(p, in->id));
	SET(a.lessee, pack_str(p, in->lessee));
	SET(a.lessor, pack_str(p, in->lessor));
	SET(a.site, pack_str(p, in->site));
	SET(a.kind, pack_str(p, in->kind));
	SET(a.attrs, pack_attrs(p, in->attrs, in->n_attrs));
	SET(a.n_attrs, in->n_attrs);
}

int tids_policy_facts_put_asset(struct tids_policy_facts *f, const struct tids_policy_asset *in,
				char *err, size_t errlen)
{
	if (empty(in->id))
		return fail(err, errlen, "asset without an id");
	if (in->n_attrs > 0 && in->attrs == NULL)
		return fail(err, errlen, "asset attributes missing");
	struct fact_asset *entry = pack_entry(sizeof(*entry), pack_asset, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_asset(f, in->id);
	if (t_insert(&f->assets, pol_str_hash(in->id, entry->id_len), entry) != 0) {
		free(entry);
		return TIDS_ENOMEM;
	}
	return 0;
}

int tids_policy_facts_remove_asset(struct tids_policy_facts *f, const char *id)
{
	struct skey k = skey_of(id);
	size_t at;
	void *e = t_find(&f->assets, pol_str_hash(k.p, k.len), asset_eq, &k, &at);
	if (e == NULL)
		return TIDS_ENOENT;
	t_remove_at(&f->assets, at);
	free(e);
	return 0;
}

const struct tids_policy_participant *pol_facts_participant(const struct tids_policy_facts *f,
							     const char *id, size_t len, uint64_t h)
{
	struct skey k = { id, len };
	const struct fact_participant *p = t_find(&f->participants, str_hash(id, len, h),
						  participant_eq, &k, NULL);
	return p != NULL ? &p->p : NULL;
}

const struct tids_policy_asset *pol_facts_asset(const struct tids_policy_facts *f,
						 const char *id, size_t len, uint64_t h)
{
	struct skey k = { id, len };
	const struct fact_asset *a = t_find(&f->assets, str_hash(id, len, h), asset_eq, &k, NULL);
	return a != NULL ? &a->a : NULL;
}

/* ---- interned names ---- */

static const struct fsym *sym_get(struct tids_policy_facts *f, const char *s)
{
	struct skey k = skey_of(s);
	uint64_t h = pol_str_hash(k.p, k.len);
	struct fsym *y = t_find(&f->syms, h, sym_eq, &k, NULL);
	if (y != NULL) {
		y->refs++;
		return y;
	}
	if (k.len > UINT32_MAX - 1)
		return NULL;
	y = malloc(sizeof(*y) + k.len + 1);
	if (y == NULL)
		return NULL;
	y->hash = h;
	y->refs = 1;
	y->len = (uint32_t)k.len;
	memcpy(y->s, s, k.len + 1);
	if (t_insert(&f->syms, h, y) != 0) {
		free(y);
		return NULL;
	}
	return y;
}

static void sym_put(struct tids_policy_facts *f, const struct fsym *cy)
{
	if (cy == NULL)
		return;
	struct fsym *y = (struct fsym *)cy;
	if (--y->refs > 0)
		return;
	struct skey k = { y->s, y->len };
	size_t at;
	if (t_find(&f->syms, y->hash, sym_eq, &k, &at) == y)
		t_remove_at(&f->syms, at);
	free(y);
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

static bool has_duties(const struct tids_policy_grant_duties *du)
{
	bool any = du->retain_until_ms != 0 || du->n_redact > 0 || du->n_purposes > 0 ||
		   (du->aggregate_function != NULL && du->aggregate_function[0] != '\0');
#define TIDS_OB_FLAG(name, summary) any |= du->name;
#define TIDS_OB_LIST(name, word, check, summary) any |= du->n_##name > 0;
#include "obligations.def"
	return any;
}

static void pack_duties(struct packer *p, void *out, const void *arg)
{
	struct tids_policy_grant_duties *e = out;
	const struct tids_policy_grant_duties *du = arg;
	SET(retain_until_ms, du->retain_until_ms);
#define TIDS_OB_FLAG(name, summary) SET(name, du->name);
#define TIDS_OB_LIST(name, word, check, summary) \
	SET(name, pack_strv(p, du->name, du->n_##name)); \
	SET(n_##name, du->n_##name);
#include "obligations.def"
	SET(redact, pack_strv(p, du->redact, du->n_redact));
	SET(n_redact, du->n_redact);
	SET(purposes, pack_strv(p, du->purposes, du->n_purposes));
	SET(n_purposes, du->n_purposes);
	SET(aggregate_function, du->aggregate_function ? pack_str(p, du->aggregate_function) : NULL);
	SET(aggregate_field, pack_str(p, du->aggregate_field));
	SET(aggregate_window_ms, du->aggregate_window_ms);
	SET(aggregate_by, pack_strv(p, du->aggregate_by, du->n_aggregate_by));
	SET(n_aggregate_by, du->n_aggregate_by);
}

static void free_grant(struct tids_policy_facts *f, struct fact_grant *g)
{
	if (g == NULL)
		return;
	sym_put(f, g->owner);
	sym_put(f, g->grantee);
	size_t n = (size_t)g->n_assets + g->n_categories + g->n_purposes;
	for (size_t i = 0; i < n; i++)
		sym_put(f, g->items[i]);
	free((void *)g->duties);
	free(g);
}

/* A grant as the store keeps it, or NULL when memory runs out. */
static struct fact_grant *make_grant(struct tids_policy_facts *f, const struct tids_policy_grant *in)
{
	size_t na = in->n_assets, nc = in->n_categories, np = in->n_purposes;
	size_t id_len = strlen(in->id), taken = 0;
	struct fact_grant *g = calloc(1, sizeof(*g) + (na + nc + np) * sizeof(g->items[0]) + id_len + 1);
	if (g == NULL)
		return NULL;
	g->id_hash = pol_str_hash(in->id, id_len);
	g->not_before_ms = in->not_before_ms;
	g->not_after_ms = in->not_after_ms;
	g->max_uses = in->max_uses;
	g->uses = in->uses;
	g->n_assets = (uint16_t)na;
	g->n_categories = (uint16_t)nc;
	g->n_purposes = (uint16_t)np;
	g->id_len = (uint16_t)id_len;
	memcpy((char *)pol_grant_id(g), in->id, id_len + 1);
	bool ok = (g->owner = sym_get(f, in->owner)) != NULL &&
		  (g->grantee = sym_get(f, in->grantee)) != NULL;
	for (size_t i = 0; ok && i < na + nc + np; i++) {
		const char *name = i < na ? in->assets[i] : i < na + nc ? in->categories[i - na]
			: in->purposes[i - na - nc];
		ok = (g->items[i] = sym_get(f, name)) != NULL;
		taken += ok;
	}
	if (ok && has_duties(&in->duties))
		ok = (g->duties = pack_entry(sizeof(*g->duties), pack_duties, &in->duties)) != NULL;
	if (!ok) {
		sym_put(f, g->owner);
		sym_put(f, g->grantee);
		for (size_t i = 0; i < taken; i++)
			sym_put(f, g->items[i]);
		free((void *)g->duties);
		free(g);
		return NULL;
	}
	return g;
}

static uint64_t pair_hash(uint64_t owner, uint64_t grantee)
{
	return mix2(owner, grantee);
}

static uint64_t bloom_bits(uint64_t h)
{
	return (UINT64_C(1) << ((h >> 40) & 63)) | (UINT64_C(1) << ((h >> 46) & 63));
}

static void bloom_add(struct tids_policy_facts *f, uint64_t h)
{
	if (f->pair_bloom != NULL)
		f->pair_bloom[(h >> 52 ^ h) & f->bloom_mask] |= bloom_bits(h);
}

static bool bloom_may(const struct tids_policy_facts *f, uint64_t h)
{
	uint64_t bits = bloom_bits(h);
	return f->pair_bloom == NULL || (f->pair_bloom[(h >> 52 ^ h) & f->bloom_mask] & bits) == bits;
}

/* About 16 bits per pair: a pair without grants passes one time in 70. */
static void bloom_rebuild(struct tids_policy_facts *f)
{
	size_t words = 64;
	while (words * 4 < f->pairs.count)
		words *= 2;
	free(f->pair_bloom);
	f->pair_bloom = calloc(words, sizeof(uint64_t));
	f->bloom_mask = words - 1;
	f->bloom_stale = 0;
	for (size_t i = 0; f->pair_bloom != NULL && f->pairs.slots != NULL && i <= f->pairs.mask; i++)
		if (f->pairs.slots[i].e != NULL)
			bloom_add(f, f->pairs.slots[i].hash);
}

/* The lines a decision will read first, asked for at once: the misses
 * overlap instead of following one another. */
void pol_facts_prefetch(const struct tids_policy_facts *f, uint64_t recipient, uint64_t owner,
			uint64_t asset)
{
	if (f->participants.slots != NULL)
		__builtin_prefetch(&f->participants.slots[recipient & f->participants.mask]);
	if (f->assets.slots != NULL && asset != 0)
		__builtin_prefetch(&f->assets.slots[asset & f->assets.mask]);
	uint64_t h = pair_hash(owner, recipient);
	if (f->pair_bloom != NULL)
		__builtin_prefetch(&f->pair_bloom[(h >> 52 ^ h) & f->bloom_mask]);
	if (f->pairs.slots != NULL)
		__builtin_prefetch(&f->pairs.slots[h & f->pairs.mask]);
}

void pol_facts_prefetch_asset(const struct tids_policy_facts *f, uint64_t asset)
{
	if (f->assets.slots == NULL || asset == 0)
		return;
	const struct tslot *sl = &f->assets.slots[asset & f->assets.mask];
	if (sl->hash == asset)
		__builtin_prefetch(sl->e);
}

static struct pair_list *find_pair(const struct tids_policy_facts *f, struct pol_str owner,
				   struct pol_str grantee, size_t *at)
{
	owner.h = str_hash(owner.p, owner.len, owner.h);
	grantee.h = str_hash(grantee.p, grantee.len, grantee.h);
	uint64_t h = pair_hash(owner.h, grantee.h);
	if (!bloom_may(f, h))
		return NULL;
	struct pair_key k = { owner, grantee };
	return t_find(&f->pairs, h, pair_eq, &k, at);
}

static struct pol_str sym_str(const struct fsym *y)
{
	return (struct pol_str){ .p = y->s, .len = y->len, .h = y->hash };
}

static uint32_t bloom_of(const struct fact_grant *g)
{
	uint32_t b = g->n_assets == 0 ? POL_BLOOM_ALL_ASSETS : 0;
	for (size_t i = 0; i < g->n_assets; i++)
		b |= pol_bloom_asset(pol_grant_assets(g)[i]->hash);
	for (size_t i = 0; i < g->n_purposes; i++)
		b |= pol_bloom_purpose(pol_grant_purposes(g)[i]->hash);
	return b;
}

/* First link of the run of category c, or where it would start. */
static uint32_t lower_bound(const struct pair_list *l, uint32_t c)
{
	uint32_t lo = 0, hi = l->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->links[mid].category < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Files g under (owner, grantee), once per category, each after the
 * grants already filed under that category. */
static int link_grant(struct tids_policy_facts *f, const struct fact_grant *g)
{
	if (g->n_categories == 0)
		return 0;                 /* it covers no category: nothing to find it by */
	size_t at;
	struct pair_list *l = find_pair(f, sym_str(g->owner), sym_str(g->grantee), &at);
	uint32_t need = (l != NULL ? l->n : 0) + g->n_categories;
	if (l == NULL || need > l->cap) {
		uint32_t cap = need < 4 ? need : need + need / 2;
		struct pair_list *nl = realloc(l, sizeof(*nl) + cap * sizeof(nl->links[0]));
		if (nl == NULL)
			return TIDS_ENOMEM;
		if (l == NULL) {
			uint64_t h = pair_hash(g->owner->hash, g->grantee->hash);
			nl->owner = g->owner;
			nl->grantee = g->grantee;
			nl->n = 0;
			nl->cap = cap;
			if (t_insert(&f->pairs, h, nl) != 0) {
				free(nl);
				return TIDS_ENOMEM;
			}
			if (f->pair_bloom == NULL || f->pairs.count > (f->bloom_mask + 1) * 4)
				bloom_rebuild(f);     /* (a failure leaves no filter: every pair may) */
			else
				bloom_add(f, h);
		} else {
			nl->cap = cap;
			f->pairs.slots[at].e = nl;
		}
		l = nl;
	}
	uint32_t bloom = bloom_of(g);
	for (size_t c = 0; c < g->n_categories; c++) {
		uint32_t h = pol_hash32(pol_grant_categories(g)[c]->hash);
		uint32_t pos = lower_bound(l, h + 1);
		if (h == UINT32_MAX)
			pos = l->n;
		memmove(&l->links[pos + 1], &l->links[pos], (l->n - pos) * sizeof(l->links[0]));
		l->links[pos] = (struct grant_link){ .category = h, .bloom = bloom, .grant = g };
		l->n++;
	}
	return 0;
}

static void unlink_grant(struct tids_policy_facts *f, const struct fact_grant *g)
{
	size_t at;
	struct pair_list *l = find_pair(f, sym_str(g->owner), sym_str(g->grantee), &at);
	if (l == NULL)
		return;
	uint32_t k = 0;
	for (uint32_t i = 0; i < l->n; i++)
		if (l->links[i].grant != g)
			l->links[k++] = l->links[i];      /* the others keep their order */
	l->n = k;
	if (l->n == 0) {
		t_remove_at(&f->pairs, at);
		free(l);
		if (++f->bloom_stale > f->pairs.count + 1024)
			bloom_rebuild(f);
	}
}

static struct fact_grant *grant_by_id(const struct tids_policy_facts *f, const char *id,
				      size_t *at)
{
	struct skey k = skey_of(id);
	return t_find(&f->grants, pol_str_hash(k.p, k.len), grant_eq, &k, at);
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
	bool lists_ok = true;
#define TIDS_OB_LIST(name, word, check, summary) lists_ok &= strv_ok(du->name, du->n_##name);
#include "obligations.def"
	if (!strv_ok(in->assets, in->n_assets) || !strv_ok(in->categories, in->n_categories) ||
	    !strv_ok(in->purposes, in->n_purposes) || !lists_ok ||
	    !strv_ok(du->redact, du->n_redact) || !strv_ok(du->purposes, du->n_purposes) ||
	    !strv_ok(du->aggregate_by, du->n_aggregate_by))
		return tids_fail(err, errlen, TIDS_EINVAL, "grant %s: a list holds a NULL string",
				 in->id);
	if (in->not_after_ms != 0 && in->not_after_ms < in->not_before_ms)
		return tids_fail(err, errlen, TIDS_EINVAL, "grant %s: not_after is before not_before",
				 in->id);
	if (in->n_assets > POL_GRANT_LIST_MAX || in->n_categories > POL_GRANT_LIST_MAX ||
	    in->n_purposes > POL_GRANT_LIST_MAX || strlen(in->id) > UINT16_MAX)
		return tids_fail(err, errlen, TIDS_EINVAL, "grant %s: too many assets, categories "
				 "or purposes", in->id);
	struct fact_grant *g = make_grant(f, in);
	if (g == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_grant(f, in->id);
	if (t_insert(&f->grants, g->id_hash, g) != 0) {
		free_grant(f, g);
		return TIDS_ENOMEM;
	}
	if (link_grant(f, g) != 0) {
		tids_policy_facts_remove_grant(f, in->id);
		return TIDS_ENOMEM;
	}
	return 0;
}

static void retired_unlink(struct tids_policy_facts *f, struct fact_grant *g)
{
	if (g->retired == POL_LIVE)
		return;
	if (g->retired_prev)
		g->retired_prev->retired_next = g->retired_next;
	else
		f->retired_head = g->retired_next;
	if (g->retired_next)
		g->retired_next->retired_prev = g->retired_prev;
	else
		f->retired_tail = g->retired_prev;
	g->retired_prev = g->retired_next = NULL;
	f->n_retired--;
}

int tids_policy_facts_remove_grant(struct tids_policy_facts *f, const char *id)
{
	size_t at;
	struct fact_grant *g = grant_by_id(f, id, &at);
	if (g == NULL)
		return TIDS_ENOENT;
	t_remove_at(&f->grants, at);
	unlink_grant(f, g);
	retired_unlink(f, g);
	free_grant(f, g);
	return 0;
}

int tids_policy_facts_retire_grant(struct tids_policy_facts *f, const char *id, bool revoked,
				   int64_t at_ms)
{
	struct fact_grant *g = grant_by_id(f, id, NULL);
	if (g == NULL)
		return TIDS_ENOENT;
	if (g->retired == POL_LIVE) {
		/* no bloom bits: grant() passes over its links unread */
		struct pair_list *l = find_pair(f, sym_str(g->owner), sym_str(g->grantee), NULL);
		for (uint32_t i = 0; l != NULL && i < l->n; i++)
			if (l->links[i].grant == g)
				l->links[i].bloom = 0;
		g->retired_prev = f->retired_tail;
		if (f->retired_tail)
			f->retired_tail->retired_next = g;
		else
			f->retired_head = g;
		f->retired_tail = g;
		f->n_retired++;
	}
	g->retired = revoked ? POL_REVOKED : POL_EXPIRED;
	g->retired_at_ms = at_ms;
	while (f->n_retired > TIDS_POLICY_RETIRED_MAX)
		tids_policy_facts_remove_grant(f, pol_grant_id(f->retired_head));
	return 0;
}

int tids_policy_facts_set_grant_uses(struct tids_policy_facts *f, const char *grant_id,
				     uint32_t uses)
{
	struct fact_grant *g = grant_by_id(f, grant_id, NULL);
	if (g == NULL)
		return TIDS_ENOENT;
	g->uses = uses;
	return 0;
}

int tids_policy_facts_add_grant_use(struct tids_policy_facts *f, const char *grant_id)
{
	struct fact_grant *g = grant_by_id(f, grant_id, NULL);
	if (g == NULL)
		return TIDS_ENOENT;
	if (g->uses < UINT32_MAX)
		g->uses++;
	return 0;
}

int tids_policy_facts_grant_uses(const struct tids_policy_facts *f, const char *grant_id,
				 uint32_t *uses)
{
	const struct fact_grant *g = grant_by_id(f, grant_id, NULL);
	if (g == NULL)
		return TIDS_ENOENT;
	if (uses != NULL)
		*uses = g->uses;
	return 0;
}

size_t tids_policy_facts_grant_count(const struct tids_policy_facts *f)
{
	return f->grants.count - f->n_retired;
}

const struct grant_link *pol_facts_grants(const struct tids_policy_facts *f,
					  struct pol_str owner, struct pol_str grantee,
					  struct pol_str category, size_t *n)
{
	*n = 0;
	const struct pair_list *l = find_pair(f, owner, grantee, NULL);
	if (l == NULL)
		return NULL;
	uint32_t c = pol_hash32(str_hash(category.p, category.len, category.h));
	uint32_t first = lower_bound(l, c), end = first;
	while (end < l->n && l->links[end].category == c)
		end++;
	*n = end - first;
	return end > first ? &l->links[first] : NULL;
}

const struct grant_link *pol_facts_pair_grants(const struct tids_policy_facts *f,
					       struct pol_str owner, struct pol_str grantee, size_t *n)
{
	const struct pair_list *l = find_pair(f, owner, grantee, NULL);
	*n = l != NULL ? l->n : 0;
	return l != NULL ? l->links : NULL;
}

/* ---- approvals ---- */

static int list_add(struct table *t, const char *id, struct fact_approval *a, enum approval_by by)
{
	struct skey k = skey_of(id);
	uint64_t h = pol_str_hash(k.p, k.len);
	struct approval_list *l = t_find(t, h, approval_list_eq, &k, NULL);
	if (l == NULL) {
		l = calloc(1, sizeof(*l) + k.len + 1);
		if (l == NULL)
			return TIDS_ENOMEM;
		memcpy(l + 1, id, k.len + 1);
		l->id = (const char *)(l + 1);
		l->id_len = k.len;
		l->by = by;
		if (t_insert(t, h, l) != 0) {
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

static void list_drop(struct table *t, struct approval_list *l)
{
	struct skey k = { l->id, l->id_len };
	size_t at;
	if (t_find(t, pol_str_hash(k.p, k.len), approval_list_eq, &k, &at) == l)
		t_remove_at(t, at);
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
	SET(a.case_id, pack_str(p, in->case_id));
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
	struct fact_approval *entry = pack_entry(sizeof(*entry), pack_approval, in);
	if (entry == NULL)
		return TIDS_ENOMEM;
	tids_policy_facts_remove_approval(f, in->id);
	if (t_insert(&f->approvals, pol_str_hash(in->id, strlen(in->id)), entry) != 0) {
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
	struct skey k = skey_of(id);
	size_t at;
	struct fact_approval *a = t_find(&f->approvals, pol_str_hash(k.p, k.len), approval_eq, &k,
					 &at);
	if (a == NULL)
		return TIDS_ENOENT;
	t_remove_at(&f->approvals, at);
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

int tids_policy_facts_revoke_approval(struct tids_policy_facts *f, const char *id, int64_t at_ms)
{
	struct skey k = skey_of(id);
	struct fact_approval *a = t_find(&f->approvals, pol_str_hash(k.p, k.len), approval_eq, &k, NULL);
	if (a == NULL)
		return TIDS_ENOENT;
	a->revoked = true;
	a->revoked_at_ms = at_ms;
	return 0;
}

const struct fact_approval *pol_facts_approvals(const struct tids_policy_facts *f,
						enum approval_by by, const char *id, size_t len)
{
	if (by == BY_NONE)
		return f->all_approvals;
	struct skey k = { id, len };
	const struct approval_list *l = t_find(by == BY_RECIPIENT ? &f->by_recipient : &f->by_exporter,
					       pol_str_hash(id, len), approval_list_eq, &k, NULL);
	return l != NULL ? l->head : NULL;
}

/* ---- counters ---- */

static struct counter *counter_find(const struct tids_policy_facts *f, const char *name,
				    size_t name_len, const char *key, size_t key_len, int64_t period)
{
	struct counter_key k = { { name, name_len }, { key, key_len }, period };
	return t_find(&f->counters, counter_hash(&k), counter_eq, &k, NULL);
}

static int counter_put(struct tids_policy_facts *f, const char *name, const char *key,
		       int64_t period, uint64_t value, bool add)
{
	if (empty(name) || key == NULL)
		return TIDS_EINVAL;
	size_t ln = strlen(name), lk = strlen(key);
	struct counter *c = counter_find(f, name, ln, key, lk, period);
	if (c != NULL) {
		c->value = add ? (c->value > UINT64_MAX - value ? UINT64_MAX : c->value + value) : value;
		return 0;
	}
	c = calloc(1, sizeof(*c) + ln + lk + 2);
	if (c == NULL)
		return TIDS_ENOMEM;
	char *s = (char *)(c + 1);
	memcpy(s, name, ln + 1);
	memcpy(s + ln + 1, key, lk + 1);
	c->name = s;
	c->key = s + ln + 1;
	c->period = period;
	c->value = value;
	struct counter_key k = { { name, ln }, { key, lk }, period };
	if (t_insert(&f->counters, counter_hash(&k), c) != 0) {
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
