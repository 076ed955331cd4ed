/*
 * The evaluator: runs a rule's bytecode and the expression trees it leaves
 * to be walked, reading attributes of the request (cached per decision in
 * slots, strings with their hashes), the fact store (approvals, grants,
 * counters) and the record as it would be delivered (the view), without
 * allocating. Missing facts read as empty values: "" for strings, 0, false.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

static void v_str(struct val *v, const char *p)
{
	if (p == NULL)
		p = "";
	*v = (struct val){ .type = PT_STR, .p = p, .len = (uint32_t)strlen(p) };
}

static void v_int(struct val *v, enum ptype t, int64_t i)
{
	*v = (struct val){ .type = (uint8_t)t, .i = i };
}

static void v_bool(struct val *v, bool b)
{
	*v = (struct val){ .type = PT_BOOL, .b = b };
}

static int64_t clamp_u64(uint64_t u)
{
	return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

static int64_t sat_neg(int64_t a)
{
	return a == INT64_MIN ? INT64_MAX : -a;
}

/* A string value's hash, computed once. */
static uint64_t hash_of(struct val *v)
{
	if (v->h == 0)
		v->h = pol_str_hash(v->p, v->len);
	return v->h;
}

int64_t pol_val_code(struct val *v)
{
	switch (v->type) {
	case PT_STR: return (int64_t)hash_of(v);
	case PT_BOOL: return v->b ? 2 : 1;
	default: return v->i;
	}
}

static bool str_eq(struct val *a, struct val *b)
{
	if (a->len != b->len)
		return false;
	if (a->h != 0 && b->h != 0 && a->h != b->h)
		return false;
	return pol_mem_eq(a->p, b->p, a->len);
}

static bool cstr_eq(const struct val *a, const char *s)
{
	/* strncmp stops at s's end, so a short s is never read past */
	return strncmp(s, a->p, a->len) == 0 && s[a->len] == '\0';
}

static size_t country_len(const char *p, size_t len)
{
	const char *dash = memchr(p, '-', len);
	return dash != NULL ? (size_t)(dash - p) : len;
}

/* The request's own attributes, which nearly every decision reads: set
 * at once, without a slot lookup each. */
#define EAGER_SLOTS                                                                 \
	((UINT64_C(1) << B_RECORD_OWNER) | (UINT64_C(1) << B_RECORD_ASSET) |         \
	 (UINT64_C(1) << B_RECORD_CATEGORY) | (UINT64_C(1) << B_RECORD_BASE_TIER) | \
	 (UINT64_C(1) << B_RECORD_ORIGIN) | (UINT64_C(1) << B_RECORD_COUNTRY) |     \
	 (UINT64_C(1) << B_RECORD_PRODUCED_AT) | (UINT64_C(1) << B_RECORD_PERSONAL) | \
	 (UINT64_C(1) << B_RECORD_SENSITIVE) | (UINT64_C(1) << B_RECORD_INDIVIDUALS) | \
	 (UINT64_C(1) << B_RCPT_ID) |                                               \
	 (UINT64_C(1) << B_RCPT_ROLE) | (UINT64_C(1) << B_RCPT_JURISDICTION) |      \
	 (UINT64_C(1) << B_RCPT_COUNTRY) |                                          \
	 (UINT64_C(1) << B_RCPT_REGISTERED) | (UINT64_C(1) << B_RCPT_SUSPENDED) |   \
	 (UINT64_C(1) << B_ASSET_ID) | (UINT64_C(1) << B_PURPOSE) | (UINT64_C(1) << B_NOW))
_Static_assert(B_NOW < 64, "the eager slots are in the first word");

void pol_eval_begin(struct eval_ctx *ctx, const struct tids_policy_set *set,
		    const struct tids_policy_facts *facts, const struct tids_policy_request *req)
{
	const struct tids_record *rec = req->record;
	struct val *c = ctx->cache;
	ctx->set = set;
	ctx->facts = facts;
	ctx->req = req;
	ctx->rec = rec;
	memset(ctx->have, 0, sizeof(ctx->have));
	memset(ctx->removed, 0, sizeof(ctx->removed));
	ctx->rule_grant = NULL;
	ctx->rule_approval = NULL;
	ctx->rule_miss = NULL;
	ctx->owner_looked_up = false;
	ctx->asset_looked_up = false;
	/* the recipient's id, the owner and the asset, hashed once for the
	 * lookups, the index and the rules; what they will look up is asked
	 * for first, so the memory comes in while the rest is set */
	v_str(&c[B_RCPT_ID], req->recipient);
	c[B_RCPT_ID].h = pol_str_hash(c[B_RCPT_ID].p, c[B_RCPT_ID].len);
	v_str(&c[B_RECORD_OWNER], rec->owner);
	hash_of(&c[B_RECORD_OWNER]);
	v_str(&c[B_RECORD_ASSET], rec->asset_id);
	if (c[B_RECORD_ASSET].len > 0)
		hash_of(&c[B_RECORD_ASSET]);
	c[B_ASSET_ID] = c[B_RECORD_ASSET];
	pol_facts_prefetch(facts, c[B_RCPT_ID].h, c[B_RECORD_OWNER].h, c[B_RECORD_ASSET].h);
	v_str(&c[B_RECORD_CATEGORY], rec->category);
	v_int(&c[B_RECORD_BASE_TIER], PT_TIER, rec->tier);
	v_str(&c[B_RECORD_ORIGIN], rec->origin);
	c[B_RECORD_COUNTRY] = c[B_RECORD_ORIGIN];
	c[B_RECORD_COUNTRY].len = (uint32_t)country_len(c[B_RECORD_ORIGIN].p, c[B_RECORD_ORIGIN].len);
	v_int(&c[B_RECORD_PRODUCED_AT], PT_TIME, rec->produced_at_ms);
	v_bool(&c[B_RECORD_PERSONAL], rec->personal);
	v_bool(&c[B_RECORD_SENSITIVE], rec->sensitive_personal);
	v_int(&c[B_RECORD_INDIVIDUALS], PT_INT, clamp_u64(rec->individuals));
	v_str(&c[B_PURPOSE], req->purpose);
	v_int(&c[B_NOW], PT_TIME, req->now_ms);
	ctx->floor = TIDS_TIER_GENERAL;
	if (set->n_floors > 0) {
		struct val *cat = &c[B_RECORD_CATEGORY];
		ctx->floor = pol_floor_of(set, cat->p, cat->len, hash_of(cat));
	}
	/* by now the recipient's slot has come in */
	const struct tids_policy_participant *r = pol_facts_participant(facts, c[B_RCPT_ID].p,
		c[B_RCPT_ID].len, c[B_RCPT_ID].h);
	ctx->recipient = r;
	v_str(&c[B_RCPT_ROLE], r ? r->role : "");
	v_str(&c[B_RCPT_JURISDICTION], r ? r->jurisdiction : "");
	c[B_RCPT_COUNTRY] = c[B_RCPT_JURISDICTION];
	c[B_RCPT_COUNTRY].len = (uint32_t)country_len(c[B_RCPT_JURISDICTION].p,
						      c[B_RCPT_JURISDICTION].len);
	v_bool(&c[B_RCPT_REGISTERED], r != NULL);
	v_bool(&c[B_RCPT_SUSPENDED], r != NULL && r->suspended);
	ctx->have[0] = EAGER_SLOTS;
	pol_facts_prefetch_asset(facts, c[B_RECORD_ASSET].h);
	/* pol_eval_set_view sets the tier, from what is left of the record */
	ctx->view_tier = TIDS_TIER_UNSET;
}

static struct val *slot_load(struct eval_ctx *ctx, uint32_t slot);

/* The cached value of a slot, loaded on first use (strings hash lazily:
 * hash_of). */
static inline struct val *slot_ref(struct eval_ctx *ctx, uint32_t slot)
{
	if (__builtin_expect(!pol_bit_get(ctx->have, slot), 0))
		return slot_load(ctx, slot);
	return &ctx->cache[slot];
}

static const struct tids_policy_participant *owner_of(struct eval_ctx *ctx)
{
	if (!ctx->owner_looked_up) {
		struct val *owner = slot_ref(ctx, B_RECORD_OWNER);
		ctx->owner_entry = pol_facts_participant(ctx->facts, owner->p, owner->len,
							 hash_of(owner));
		ctx->owner_looked_up = true;
	}
	return ctx->owner_entry;
}

static const struct tids_policy_asset *asset_of(struct eval_ctx *ctx)
{
	if (!ctx->asset_looked_up) {
		struct val *asset = slot_ref(ctx, B_RECORD_ASSET);
		ctx->asset_entry = asset->len > 0 ? pol_facts_asset(ctx->facts, asset->p, asset->len,
								    hash_of(asset))
						  : NULL;
		ctx->asset_looked_up = true;
	}
	return ctx->asset_entry;
}

void pol_eval_set_view(struct eval_ctx *ctx, const uint64_t removed[TIDS_POLICY_FIELD_WORDS])
{
	const struct tids_record *rec = ctx->rec;
	enum tids_tier tier = rec->tier > ctx->floor ? rec->tier : ctx->floor;
	memcpy(ctx->removed, removed, sizeof(ctx->removed));
	for (size_t i = 0; i < rec->n_fields && i < TIDS_FIELDS_MAX; i++)
		if (!pol_bit_get(removed, i) && rec->fields[i].tier > tier)
			tier = rec->fields[i].tier;
	ctx->view_tier = tier;
	for (size_t w = 0; w < sizeof(ctx->have) / sizeof(ctx->have[0]); w++)
		ctx->have[w] &= ~ctx->set->view_slots[w];
	v_int(&ctx->cache[B_RECORD_TIER], PT_TIER, tier);
	pol_bit_set(ctx->have, B_RECORD_TIER);
}

/* ---- declared attributes ---- */

static const char *find_attr(const struct tids_policy_attr *attrs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(attrs[i].name, name) == 0)
			return attrs[i].value;
	return NULL;
}

static void declared_default(const struct xdecl *d, struct val *out)
{
	*out = d->deflt;
}

static bool parse_i64(const char *s, int64_t *out)
{
	char *end;
	if (s[0] == '\0')
		return false;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

/* Registry attributes are text; the declaration says how to read them.
 * A value that does not read as its type counts as absent. */
static void declared_value(const struct xdecl *d, const char *text, struct val *out)
{
	int64_t i;
	if (text == NULL) {
		declared_default(d, out);
		return;
	}
	switch (d->type) {
	case PT_STR:
		v_str(out, text);
		return;
	case PT_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "1") == 0)
			v_bool(out, true);
		else if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0 ||
			 strcmp(text, "0") == 0)
			v_bool(out, false);
		else
			declared_default(d, out);
		return;
	case PT_TIER: {
		enum tids_tier t = tids_tier_parse(text);
		if (t != TIDS_TIER_UNSET)
			v_int(out, PT_TIER, t);
		else
			declared_default(d, out);
		return;
	}
	case PT_TIME:
		if (tids_policy_parse_time(text, strlen(text), &i) == 0 || parse_i64(text, &i))
			v_int(out, PT_TIME, i);
		else
			declared_default(d, out);
		return;
	default:
		if (parse_i64(text, &i))
			v_int(out, (enum ptype)d->type, i);
		else
			declared_default(d, out);
		return;
	}
}

/* ---- built-in attributes ---- */

static void participant_attr(const struct tids_policy_participant *p, enum builtin which,
			     const char *id, struct val *out)
{
	switch (which) {
	case B_RCPT_ID: v_str(out, id); break;
	case B_RCPT_ROLE: v_str(out, p ? p->role : ""); break;
	case B_RCPT_JURISDICTION: v_str(out, p ? p->jurisdiction : ""); break;
	case B_RCPT_COUNTRY:
		v_str(out, p ? p->jurisdiction : "");
		out->len = (uint32_t)country_len(out->p, out->len);
		break;
	case B_RCPT_HOME_HUB: v_str(out, p ? p->home_hub : ""); break;
	case B_RCPT_REGISTERED: v_bool(out, p != NULL); break;
	case B_RCPT_SUSPENDED: v_bool(out, p != NULL && p->suspended); break;
	default: v_str(out, ""); break;
	}
}

static void grant_attr(const struct fact_grant *g, enum builtin which, struct val *out)
{
	switch (which) {
	case B_GRANT_ID: v_str(out, g ? pol_grant_id(g) : ""); break;
	case B_GRANT_OWNER: v_str(out, g ? g->owner->s : ""); break;
	case B_GRANT_GRANTEE: v_str(out, g ? g->grantee->s : ""); break;
	case B_GRANT_NOT_BEFORE: v_int(out, PT_TIME, g ? g->not_before_ms : 0); break;
	case B_GRANT_NOT_AFTER: v_int(out, PT_TIME, g ? g->not_after_ms : 0); break;
	case B_GRANT_MAX_USES: v_int(out, PT_INT, g ? g->max_uses : 0); break;
	case B_GRANT_USES: v_int(out, PT_INT, g ? g->uses : 0); break;
	case B_GRANT_REMAINING:
		v_int(out, PT_INT, g == NULL ? 0 : g->max_uses == 0 ? INT64_MAX
			: g->uses >= g->max_uses ? 0 : (int64_t)(g->max_uses - g->uses));
		break;
	default: v_str(out, ""); break;
	}
}

/* Is item one of the comma-separated names of list? */
static bool csv_has(const char *list, const char *item, size_t len)
{
	for (const char *p = list; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == len && memcmp(p, item, len) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* The recipient's role may ask for the purpose (`purposes` declarations),
 * and the hub's narrowing of it for this participant, if any, lists it. */
static bool purpose_allowed(struct eval_ctx *ctx)
{
	const struct tids_policy_set *set = ctx->set;
	const struct tids_policy_participant *r = ctx->recipient;
	if (r == NULL || set->n_role_purposes == 0)
		return false;
	/* by the hashes of role and purpose (the index has usually hashed
	 * them already), confirmed against the names */
	struct val *role = slot_ref(ctx, B_RCPT_ROLE), *purpose = slot_ref(ctx, B_PURPOSE);
	uint64_t key = pol_pair_key(hash_of(role), hash_of(purpose));
	uint32_t lo = 0, hi = set->n_role_purposes;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (set->role_purpose_keys[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	bool declared = false;
	for (; lo < set->n_role_purposes && set->role_purpose_keys[lo].key == key && !declared; lo++) {
		const struct name_pair *pr = &set->role_purposes[set->role_purpose_keys[lo].i];
		declared = cstr_eq(role, pr->a) && cstr_eq(purpose, pr->b);
	}
	if (!declared)
		return false;
	const char *narrowed = r->n_attrs > 0 ? find_attr(r->attrs, r->n_attrs, TIDS_POLICY_PURPOSES_ATTR) : NULL;
	return narrowed == NULL || csv_has(narrowed, purpose->p, purpose->len);
}

static void builtin(struct eval_ctx *ctx, enum builtin b, struct val *out)
{
	const struct tids_record *rec = ctx->rec;
	switch (b) {
	case B_RECORD_OWNER: v_str(out, rec->owner); break;
	case B_RECORD_ASSET: v_str(out, rec->asset_id); break;
	case B_RECORD_CATEGORY: v_str(out, rec->category); break;
	case B_RECORD_TIER: v_int(out, PT_TIER, ctx->view_tier); break;
	case B_RECORD_BASE_TIER: v_int(out, PT_TIER, rec->tier); break;
	case B_RECORD_ORIGIN: v_str(out, rec->origin); break;
	case B_RECORD_COUNTRY:
		v_str(out, rec->origin);
		out->len = (uint32_t)country_len(out->p, out->len);
		break;
	case B_RECORD_PRODUCED_AT: v_int(out, PT_TIME, rec->produced_at_ms); break;
	case B_RECORD_PERSONAL: v_bool(out, rec->personal); break;
	case B_RECORD_SENSITIVE: v_bool(out, rec->sensitive_personal); break;
	case B_RECORD_INDIVIDUALS: v_int(out, PT_INT, clamp_u64(rec->individuals)); break;
	case B_RECORD_SCHEMA: v_str(out, rec->schema); break;
	case B_RECORD_VIA_HUB: v_str(out, ctx->req->via_hub != NULL ? ctx->req->via_hub : ""); break;
	case B_RECORD_HOPS: v_int(out, PT_INT, ctx->req->hops); break;
	case B_RCPT_ID:
	case B_RCPT_ROLE:
	case B_RCPT_JURISDICTION:
	case B_RCPT_COUNTRY:
	case B_RCPT_HOME_HUB:
	case B_RCPT_REGISTERED:
	case B_RCPT_SUSPENDED:
		participant_attr(ctx->recipient, b, ctx->req->recipient, out);
		break;
	case B_OWNER_ID:
	case B_OWNER_ROLE:
	case B_OWNER_JURISDICTION:
	case B_OWNER_COUNTRY:
	case B_OWNER_HOME_HUB:
	case B_OWNER_REGISTERED:
	case B_OWNER_SUSPENDED:
		participant_attr(owner_of(ctx), (enum builtin)(b - B_OWNER_ID + B_RCPT_ID), rec->owner,
				 out);
		break;
	case B_ASSET_ID: v_str(out, rec->asset_id); break;
	case B_ASSET_LESSEE: v_str(out, asset_of(ctx) ? asset_of(ctx)->lessee : ""); break;
	case B_ASSET_LESSOR: v_str(out, asset_of(ctx) ? asset_of(ctx)->lessor : ""); break;
	case B_ASSET_SITE: v_str(out, asset_of(ctx) ? asset_of(ctx)->site : ""); break;
	case B_ASSET_KIND: v_str(out, asset_of(ctx) ? asset_of(ctx)->kind : ""); break;
	case B_ASSET_REGISTERED: v_bool(out, asset_of(ctx) != NULL); break;
	case B_PURPOSE: v_str(out, ctx->req->purpose); break;
	case B_NOW: v_int(out, PT_TIME, ctx->req->now_ms); break;
	case B_PURPOSE_ALLOWED: v_bool(out, purpose_allowed(ctx)); break;
	case B_ONWARD: v_bool(out, ctx->req->onward); break;
	default:
		grant_attr(ctx->rule_grant, b, out);
		break;
	}
}

static void load_slot(struct eval_ctx *ctx, uint32_t slot, struct val *out)
{
	const struct slot_def *sd = &ctx->set->slots[slot];
	switch (sd->src) {
	case SLOT_BUILTIN:
		builtin(ctx, (enum builtin)sd->id, out);
		return;
	case SLOT_RECIPIENT_ATTR:
		declared_value(sd->xdecl, ctx->recipient ? find_attr(ctx->recipient->attrs,
			       ctx->recipient->n_attrs, sd->xdecl->name) : NULL, out);
		return;
	case SLOT_OWNER_ATTR: {
		const struct tids_policy_participant *o = owner_of(ctx);
		declared_value(sd->xdecl, o ? find_attr(o->attrs, o->n_attrs, sd->xdecl->name) : NULL,
			       out);
		return;
	}
	case SLOT_ASSET_ATTR: {
		const struct tids_policy_asset *as = asset_of(ctx);
		declared_value(sd->xdecl, as ? find_attr(as->attrs, as->n_attrs, sd->xdecl->name) : NULL,
			       out);
		return;
	}
	case SLOT_DERIVED: {
		struct val base;
		pol_eval_slot(ctx, sd->base, &base);
		if (sd->fn == F_COUNTRY) {
			*out = base;
			out->len = (uint32_t)country_len(base.p, base.len);
			out->h = 0;
		} else {
			v_int(out, PT_INT, pol_year_in(ctx->req->tz, base.i));
		}
		return;
	}
	default:
		v_str(out, "");
	}
}

static __attribute__((noinline)) struct val *slot_load(struct eval_ctx *ctx, uint32_t slot)
{
	struct val *v = &ctx->cache[slot];
	load_slot(ctx, slot, v);
	pol_bit_set(ctx->have, slot);
	return v;
}

static bool cacheable(uint32_t slot)
{
	return slot < POL_FIRST_GRANT_BUILTIN || slot >= B_COUNT;
}

int64_t pol_slot_code(struct eval_ctx *ctx, uint32_t slot)
{
	if (!cacheable(slot)) {
		struct val v;
		load_slot(ctx, slot, &v);
		return pol_val_code(&v);
	}
	return pol_val_code(slot_ref(ctx, slot));
}

void pol_slot_codes(struct eval_ctx *ctx, const uint32_t *slots, uint32_t n, int64_t *out)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = slots[i];
		if (__builtin_expect(!cacheable(slot), 0)) {
			out[i] = pol_slot_code(ctx, slot);
			continue;
		}
		struct val *v = slot_ref(ctx, slot);
		out[i] = v->type == PT_STR ? (int64_t)hash_of(v) : v->type == PT_BOOL ? (v->b ? 2 : 1)
										       : v->i;
	}
}

void pol_eval_slot(struct eval_ctx *ctx, uint32_t slot, struct val *out)
{
	if (!cacheable(slot)) {
		load_slot(ctx, slot, out);
		return;
	}
	*out = *slot_ref(ctx, slot);
}

/* ---- functions ---- */

/* Does a string argument (a value or a [list] of values) accept s? */
static bool arg_accepts(struct eval_ctx *ctx, const struct xnode *arg, const char *s)
{
	if (arg->op == N_LIST) {
		for (uint32_t i = 0; i < arg->n_items; i++) {
			struct val v;
			pol_eval(ctx, arg->items[i], &v);
			if (cstr_eq(&v, s))
				return true;
		}
		return false;
	}
	struct val v;
	pol_eval(ctx, arg, &v);
	return cstr_eq(&v, s);
}

static bool in_strv(const char *const *v, size_t n, const struct val *s)
{
	for (size_t i = 0; i < n; i++)
		if (cstr_eq(s, v[i]))
			return true;
	return false;
}

/* An approval for a country ("CC") covers its regions ("CC-*"); an
 * empty one covers any jurisdiction. */
static bool jurisdiction_covers(const char *granted, const struct val *asked)
{
	size_t n = strlen(granted);
	if (n == 0)
		return true;
	if (n == asked->len && memcmp(granted, asked->p, n) == 0)
		return true;
	return memchr(granted, '-', n) == NULL && asked->len > n && asked->p[n] == '-' &&
	       memcmp(granted, asked->p, n) == 0;
}

/* A signer's jurisdiction covers another when they are equal or the
 * signer's is the other's country (CN covers CN-SH). Unlike an approval's
 * own from/to, an empty one covers nothing: a signer must have one. */
static bool signer_covers(const char *signer, const struct val *asked)
{
	size_t n = strlen(signer);
	if (n == 0 || asked->len == 0)
		return false;
	if (n == asked->len && memcmp(signer, asked->p, n) == 0)
		return true;
	return memchr(signer, '-', n) == NULL && asked->len > n && asked->p[n] == '-' &&
	       memcmp(signer, asked->p, n) == 0;
}

enum { AP_KIND, AP_REGULATOR, AP_EXPORTER, AP_RECIPIENT, AP_CATEGORY, AP_TIER, AP_PURPOSE,
       AP_FROM, AP_TO, AP_AT, AP_SIGNER_ROLE, AP_SIGNER_COVERS };

/* signer_role: and signer_covers: look at the approval's signer as the
 * registry has it now: registered, not suspended, of one of those roles,
 * its jurisdiction covering the one given. A regulator suspended (or no
 * longer a regulator) stops its approvals counting at once. */
static bool signer_ok(struct eval_ctx *ctx, const struct xnode *const *a,
		      const struct tids_policy_approval *ap, const struct val *covers)
{
	if (!a[AP_SIGNER_ROLE] && !a[AP_SIGNER_COVERS])
		return true;
	const struct tids_policy_participant *s =
		pol_facts_participant(ctx->facts, ap->regulator, strlen(ap->regulator), 0);
	if (s == NULL || s->suspended)
		return false;
	if (a[AP_SIGNER_ROLE] && !arg_accepts(ctx, a[AP_SIGNER_ROLE], s->role))
		return false;
	return !a[AP_SIGNER_COVERS] || signer_covers(s->jurisdiction, covers);
}

static bool call_approval(struct eval_ctx *ctx, const struct xnode *n)
{
	const struct xnode *const *a = n->items;
	struct val exporter, recipient, category, purpose, from, to, tier, at, covers;
	if (a[AP_EXPORTER]) pol_eval(ctx, a[AP_EXPORTER], &exporter);
	if (a[AP_SIGNER_COVERS]) pol_eval(ctx, a[AP_SIGNER_COVERS], &covers);
	if (a[AP_RECIPIENT]) pol_eval(ctx, a[AP_RECIPIENT], &recipient);
	if (a[AP_CATEGORY]) pol_eval(ctx, a[AP_CATEGORY], &category);
	if (a[AP_PURPOSE]) pol_eval(ctx, a[AP_PURPOSE], &purpose);
	if (a[AP_FROM]) pol_eval(ctx, a[AP_FROM], &from);
	if (a[AP_TO]) pol_eval(ctx, a[AP_TO], &to);
	if (a[AP_TIER]) pol_eval(ctx, a[AP_TIER], &tier);
	if (a[AP_AT])
		pol_eval(ctx, a[AP_AT], &at);
	else
		v_int(&at, PT_TIME, ctx->req->now_ms);

	enum approval_by by = a[AP_RECIPIENT] ? BY_RECIPIENT : a[AP_EXPORTER] ? BY_EXPORTER : BY_NONE;
	const struct val *key = by == BY_RECIPIENT ? &recipient : &exporter;
	const struct fact_approval *fa = pol_facts_approvals(ctx->facts, by,
		by == BY_NONE ? NULL : key->p, by == BY_NONE ? 0 : key->len);
	for (; fa != NULL; fa = pol_approval_next(fa, by)) {
		const struct tids_policy_approval *ap = &fa->a;
		if (fa->revoked)
			continue;
		if (at.i < ap->valid_from_ms || (ap->valid_until_ms != 0 && at.i > ap->valid_until_ms))
			continue;
		if (a[AP_RECIPIENT] && !cstr_eq(&recipient, ap->recipient))
			continue;
		if (a[AP_EXPORTER] && !cstr_eq(&exporter, ap->exporter))
			continue;
		if (a[AP_KIND] && !arg_accepts(ctx, a[AP_KIND], ap->kind))
			continue;
		if (a[AP_REGULATOR] && !arg_accepts(ctx, a[AP_REGULATOR], ap->regulator))
			continue;
		if (a[AP_CATEGORY] && !in_strv(ap->categories, ap->n_categories, &category))
			continue;
		if (a[AP_PURPOSE] && !in_strv(ap->purposes, ap->n_purposes, &purpose))
			continue;
		if (a[AP_TIER]) {
			bool ok = false;
			for (size_t i = 0; i < ap->n_tiers && !ok; i++)
				ok = (int64_t)ap->tiers[i] == tier.i;
			if (!ok)
				continue;
		}
		if (a[AP_FROM] && !jurisdiction_covers(ap->from_jurisdiction, &from))
			continue;
		if (a[AP_TO] && !jurisdiction_covers(ap->to_jurisdiction, &to))
			continue;
		if (!signer_ok(ctx, a, ap, &covers))
			continue;
		if (ctx->rule_approval == NULL)
			ctx->rule_approval = ap;
		return true;
	}
	return false;
}

/* The case a purpose that needs one is served under: an approval of the
 * purpose's kind with a case id, naming this recipient, the record's owner
 * as exporter, its category, the tier it is judged at and the purpose,
 * valid now, signed by an active participant of a role the declaration
 * names whose jurisdiction covers the owner's. */
const struct tids_policy_approval *pol_find_case(struct eval_ctx *ctx, enum tids_tier tier)
{
	const struct tids_policy_set *set = ctx->set;
	const struct tids_policy_request *req = ctx->req;
	const char *purpose = req->purpose;
	size_t plen = strlen(purpose);
	const struct tids_policy_participant *owner = owner_of(ctx);
	struct val owner_j;
	v_str(&owner_j, owner != NULL ? owner->jurisdiction : "");
	const struct fact_approval *fa = pol_facts_approvals(ctx->facts, BY_RECIPIENT, req->recipient,
							      strlen(req->recipient));
	for (; fa != NULL; fa = pol_approval_next(fa, BY_RECIPIENT)) {
		const struct tids_policy_approval *ap = &fa->a;
		bool tier_ok = false;
		if (fa->revoked || ap->case_id == NULL || ap->case_id[0] == '\0' || strcmp(ap->kind, purpose) != 0 ||
		    strcmp(ap->recipient, req->recipient) != 0 || strcmp(ap->exporter, ctx->rec->owner) != 0)
			continue;
		if (req->now_ms < ap->valid_from_ms || (ap->valid_until_ms != 0 && req->now_ms > ap->valid_until_ms))
			continue;
		for (size_t i = 0; i < ap->n_tiers && !tier_ok; i++)
			tier_ok = ap->tiers[i] == tier;
		bool cat_ok = false, purpose_ok = false;
		for (size_t i = 0; i < ap->n_categories && !cat_ok; i++)
			cat_ok = strcmp(ap->categories[i], ctx->rec->category) == 0;
		for (size_t i = 0; i < ap->n_purposes && !purpose_ok; i++)
			purpose_ok = strcmp(ap->purposes[i], purpose) == 0;
		if (!tier_ok || !cat_ok || !purpose_ok)
			continue;
		const struct tids_policy_participant *signer =
			pol_facts_participant(ctx->facts, ap->regulator, strlen(ap->regulator), 0);
		if (signer == NULL || signer->suspended || signer->role == NULL ||
		    !pol_pair_find(set->case_roles, set->n_case_roles, purpose, plen, signer->role,
				   strlen(signer->role)) ||
		    !signer_covers(signer->jurisdiction, &owner_j))
			continue;
		return ap;
	}
	return NULL;
}

enum { GR_OWNER, GR_GRANTEE, GR_ASSET, GR_CATEGORY, GR_PURPOSE, GR_AT, GR_MAX_WINDOW };

/* The argument's value, or else the attribute's cached value: the cache
 * keeps the string hashes computed for the lookup. */
static struct val *arg_or_slot(struct eval_ctx *ctx, const struct xnode *arg, uint32_t slot,
			       struct val *tmp)
{
	if (arg != NULL) {
		pol_eval(ctx, arg, tmp);
		return tmp;
	}
	return slot_ref(ctx, slot);
}

static struct pol_str pstr(struct val *v)
{
	return (struct pol_str){ .p = v->p, .len = v->len, .h = hash_of(v) };
}

static bool fsym_in(const struct fsym *const *v, size_t n, struct val *s)
{
	uint64_t h = hash_of(s);
	for (size_t i = 0; i < n; i++)
		if (pol_fsym_is(v[i], s->p, s->len, h))
			return true;
	return false;
}

static bool call_grant(struct eval_ctx *ctx, const struct xnode *n)
{
	const struct xnode *const *a = n->items;
	struct val t_owner, t_grantee, t_asset, t_category, t_purpose, t_at, window;
	struct val *owner = arg_or_slot(ctx, a[GR_OWNER], B_RECORD_OWNER, &t_owner);
	struct val *grantee = arg_or_slot(ctx, a[GR_GRANTEE], B_RCPT_ID, &t_grantee);
	struct val *category = arg_or_slot(ctx, a[GR_CATEGORY], B_RECORD_CATEGORY, &t_category);
	size_t n_links;
	const struct grant_link *links = pol_facts_grants(ctx->facts, pstr(owner), pstr(grantee),
							  pstr(category), &n_links);
	if (n_links == 0)
		return false;
	struct val *asset = arg_or_slot(ctx, a[GR_ASSET], B_RECORD_ASSET, &t_asset);
	struct val *purpose = arg_or_slot(ctx, a[GR_PURPOSE], B_PURPOSE, &t_purpose);
	struct val *at = arg_or_slot(ctx, a[GR_AT], B_NOW, &t_at);
	if (a[GR_MAX_WINDOW])
		pol_eval(ctx, a[GR_MAX_WINDOW], &window);
	/* A link holds what rejects most grants (a bit per purpose and per
	 * asset), so a grant that cannot cover the request is never read;
	 * names are confirmed on the grant itself before it is used. */
	uint32_t want = pol_bloom_purpose(hash_of(purpose)) | pol_bloom_asset(hash_of(asset));
	for (const struct grant_link *ln = links; ln < links + n_links; ln++) {
		if ((ln->bloom & want) != want)
			continue;
		const struct fact_grant *g = ln->grant;
		if (at->i < g->not_before_ms || (g->not_after_ms != 0 && at->i > g->not_after_ms))
			continue;
		if (g->max_uses != 0 && g->uses >= g->max_uses)
			continue;
		if (a[GR_MAX_WINDOW] && (g->not_after_ms == 0 ||
					 g->not_after_ms > tids_policy_add(ctx->req->tz, g->not_before_ms,
									   window.months, window.i)))
			continue;
		if (!fsym_in(pol_grant_categories(g), g->n_categories, category))
			continue;
		if (g->n_assets > 0 && !fsym_in(pol_grant_assets(g), g->n_assets, asset))
			continue;
		if (!fsym_in(pol_grant_purposes(g), g->n_purposes, purpose))
			continue;
		ctx->rule_grant = g;
		return true;
	}
	return false;
}

/* grant() or approval(); the first that finds nothing in a rule is kept
 * (one store): a denial may explain itself from it. */
static bool call_consent(struct eval_ctx *ctx, const struct xnode *n)
{
	bool found = n->fn == F_GRANT ? call_grant(ctx, n) : call_approval(ctx, n);
	if (!found && ctx->rule_miss == NULL)
		ctx->rule_miss = n;
	return found;
}

/* ---- near misses ----
 *
 * When a decision is a denial that rests on a grant() or approval() that
 * found nothing, the same call is looked at again, wider: every grant
 * between the owner and the grantee (retired ones too), every approval of
 * the exporter or the recipient, each checked on every term, and the one
 * that failed on the fewest is named with what failed. Only denials pay
 * for it, and a scan reads at most NEAR_SCAN_MAX of each list.
 */

#define NEAR_SCAN_MAX 16        /* grants or approvals read */
#define NEAR_LINKS_MAX 256      /* a pair's links looked at */
#define MISS(c) (UINT32_C(1) << TIDS_POLICY_MISS_##c)

/* What a grant or approval is for; one that differs from the request in
 * more than NEAR_SCOPE_MAX of these is about something else, not a near
 * miss (an export approval for another recipient, category and purpose). */
#define NEAR_SCOPE (MISS(RECIPIENT) | MISS(EXPORTER) | MISS(CATEGORY) | MISS(ASSET) | MISS(PURPOSE) | \
		    MISS(TIER) | MISS(KIND) | MISS(FROM) | MISS(TO))
#define NEAR_SCOPE_MAX 2

/* Nearer: differs in fewer of what it is for (one revoked, expired or
 * signed by the wrong party is about this very request), then in fewer
 * terms at all; of equals, the later filed. */
static bool better(uint32_t failed, bool have, uint32_t best)
{
	int scope = __builtin_popcount(failed & NEAR_SCOPE), best_scope = __builtin_popcount(best & NEAR_SCOPE);
	if (failed == 0 || scope > NEAR_SCOPE_MAX)
		return false;
	return !have || scope < best_scope ||
	       (scope == best_scope && __builtin_popcount(failed) <= __builtin_popcount(best));
}

static void near_set(struct tids_policy_decision *d, enum tids_policy_near_kind kind, const char *id,
		     uint32_t failed)
{
	struct tids_policy_near_miss *nm = &d->near;
	nm->kind = kind;
	nm->id = id;
	nm->failed = failed;
	nm->code = (enum tids_policy_miss)__builtin_ctz(failed);
	nm->asked = NULL;
	nm->at_ms = 0;
	nm->uses = nm->max_uses = 0;
}

static const char *near_asked(struct tids_policy_decision *d, const struct val *v)
{
	return v->type == PT_STR ? pol_decision_string(d, v) : NULL;
}

static uint32_t grant_failures(struct eval_ctx *ctx, const struct fact_grant *g, struct val *category,
			       struct val *asset, struct val *purpose, const struct val *at,
			       const struct val *window)
{
	uint32_t f = 0;
	if (g->retired == POL_REVOKED)
		f |= MISS(REVOKED);
	if (!fsym_in(pol_grant_categories(g), g->n_categories, category))
		f |= MISS(CATEGORY);
	if (g->n_assets > 0 && !fsym_in(pol_grant_assets(g), g->n_assets, asset))
		f |= MISS(ASSET);
	if (!fsym_in(pol_grant_purposes(g), g->n_purposes, purpose))
		f |= MISS(PURPOSE);
	if (at->i < g->not_before_ms)
		f |= MISS(NOT_YET_VALID);
	if ((g->not_after_ms != 0 && at->i > g->not_after_ms) || g->retired == POL_EXPIRED)
		f |= MISS(EXPIRED);
	if (g->max_uses != 0 && g->uses >= g->max_uses)
		f |= MISS(USED_UP);
	if (window != NULL && (g->not_after_ms == 0 ||
			       g->not_after_ms > tids_policy_add(ctx->req->tz, g->not_before_ms, window->months,
								 window->i)))
		f |= MISS(WINDOW);
	return f;
}

static void near_grant(struct eval_ctx *ctx, const struct xnode *n, struct tids_policy_decision *d)
{
	const struct xnode *const *a = n->items;
	struct val t_owner, t_grantee, t_asset, t_category, t_purpose, t_at, window;
	struct val *owner = arg_or_slot(ctx, a[GR_OWNER], B_RECORD_OWNER, &t_owner);
	struct val *grantee = arg_or_slot(ctx, a[GR_GRANTEE], B_RCPT_ID, &t_grantee);
	struct val *category = arg_or_slot(ctx, a[GR_CATEGORY], B_RECORD_CATEGORY, &t_category);
	struct val *asset = arg_or_slot(ctx, a[GR_ASSET], B_RECORD_ASSET, &t_asset);
	struct val *purpose = arg_or_slot(ctx, a[GR_PURPOSE], B_PURPOSE, &t_purpose);
	struct val *at = arg_or_slot(ctx, a[GR_AT], B_NOW, &t_at);
	if (a[GR_MAX_WINDOW])
		pol_eval(ctx, a[GR_MAX_WINDOW], &window);
	/* Three sweeps of the pair's links: those filed under the request's
	 * category whose bloom bits allow its purpose and asset (grant() has
	 * just read them: in cache), the category's others, then (when none
	 * of those is near) the other categories'. A link's bits tell without
	 * reading the grant (a cache miss) that it lacks the purpose or the
	 * asset: a grant that cannot be nearer in scope than the best so far
	 * is not read. Retired links have no bits. A grant filed under two
	 * categories may be read twice: it scores the same. */
	size_t n_links;
	const struct grant_link *links = pol_facts_pair_grants(ctx->facts, pstr(owner), pstr(grantee), &n_links);
	uint32_t c = pol_hash32(hash_of(category));
	uint32_t want_purpose = pol_bloom_purpose(hash_of(purpose)), want_asset = pol_bloom_asset(hash_of(asset));
	const struct fact_grant *best = NULL;
	uint32_t best_failed = 0;
	unsigned reads = 0;
	if (n_links > NEAR_LINKS_MAX)
		n_links = NEAR_LINKS_MAX;
	for (int sweep = 0; sweep < 3 && reads < NEAR_SCAN_MAX; sweep++) {
		if (sweep == 2 && best != NULL)
			break;
		for (size_t i = 0; i < n_links && reads < NEAR_SCAN_MAX; i++) {
			const struct grant_link *ln = &links[i];
			bool mine = ln->category == c;
			bool passes = (ln->bloom & (want_purpose | want_asset)) == (want_purpose | want_asset);
			if (mine != (sweep < 2) || (sweep < 2 && passes != (sweep == 0)))
				continue;
			if (best != NULL && ln->bloom != 0) {
				int lower = !mine + !(ln->bloom & want_purpose) + !(ln->bloom & want_asset);
				if (lower >= __builtin_popcount(best_failed & NEAR_SCOPE))
					continue;
			}
			uint32_t f = grant_failures(ctx, ln->grant, category, asset, purpose, at,
						    a[GR_MAX_WINDOW] ? &window : NULL);
			reads++;
			if (better(f, best != NULL, best_failed)) {
				best = ln->grant;
				best_failed = f;
			}
		}
	}
	if (best == NULL) {
		near_set(d, TIDS_POLICY_NEAR_GRANT, NULL, MISS(NONE));
		return;
	}
	near_set(d, TIDS_POLICY_NEAR_GRANT, pol_grant_id(best), best_failed);
	struct tids_policy_near_miss *nm = &d->near;
	switch (nm->code) {
	case TIDS_POLICY_MISS_REVOKED: nm->at_ms = best->retired_at_ms; break;
	case TIDS_POLICY_MISS_NOT_YET_VALID: nm->at_ms = best->not_before_ms; break;
	case TIDS_POLICY_MISS_EXPIRED:
		nm->at_ms = best->not_after_ms != 0 ? best->not_after_ms : best->retired_at_ms;
		break;
	case TIDS_POLICY_MISS_USED_UP:
		nm->uses = best->uses;
		nm->max_uses = best->max_uses;
		break;
	case TIDS_POLICY_MISS_CATEGORY: nm->asked = near_asked(d, category); break;
	case TIDS_POLICY_MISS_ASSET: nm->asked = near_asked(d, asset); break;
	case TIDS_POLICY_MISS_PURPOSE: nm->asked = near_asked(d, purpose); break;
	default: break;
	}
}

/* The arguments of one approval() call, evaluated once. */
struct ap_args {
	const struct xnode *const *a;
	struct val exporter, recipient, category, purpose, from, to, tier, at, covers;
};

static uint32_t approval_failures(struct eval_ctx *ctx, struct ap_args *x, const struct fact_approval *fa)
{
	const struct xnode *const *a = x->a;
	const struct tids_policy_approval *ap = &fa->a;
	uint32_t f = 0;
	if (fa->revoked)
		f |= MISS(REVOKED);
	if (a[AP_KIND] && !arg_accepts(ctx, a[AP_KIND], ap->kind))
		f |= MISS(KIND);
	if (a[AP_RECIPIENT] && !cstr_eq(&x->recipient, ap->recipient))
		f |= MISS(RECIPIENT);
	if (a[AP_EXPORTER] && !cstr_eq(&x->exporter, ap->exporter))
		f |= MISS(EXPORTER);
	if (a[AP_CATEGORY] && !in_strv(ap->categories, ap->n_categories, &x->category))
		f |= MISS(CATEGORY);
	if (a[AP_PURPOSE] && !in_strv(ap->purposes, ap->n_purposes, &x->purpose))
		f |= MISS(PURPOSE);
	if (a[AP_TIER]) {
		bool ok = false;
		for (size_t i = 0; i < ap->n_tiers && !ok; i++)
			ok = (int64_t)ap->tiers[i] == x->tier.i;
		if (!ok)
			f |= MISS(TIER);
	}
	if (a[AP_FROM] && !jurisdiction_covers(ap->from_jurisdiction, &x->from))
		f |= MISS(FROM);
	if (a[AP_TO] && !jurisdiction_covers(ap->to_jurisdiction, &x->to))
		f |= MISS(TO);
	if ((a[AP_REGULATOR] && !arg_accepts(ctx, a[AP_REGULATOR], ap->regulator)) ||
	    !signer_ok(ctx, a, ap, &x->covers))
		f |= MISS(SIGNER);
	if (x->at.i < ap->valid_from_ms)
		f |= MISS(NOT_YET_VALID);
	if (ap->valid_until_ms != 0 && x->at.i > ap->valid_until_ms)
		f |= MISS(EXPIRED);
	return f;
}

/* What the approval's code is about, for the sentence. */
static void near_approval_detail(struct tids_policy_decision *d, const struct fact_approval *fa,
				 const struct val *recipient, const struct val *exporter,
				 const struct val *category, const struct val *purpose,
				 const struct val *from, const struct val *to, int64_t tier)
{
	struct tids_policy_near_miss *nm = &d->near;
	const struct tids_policy_approval *ap = &fa->a;
	switch (nm->code) {
	case TIDS_POLICY_MISS_REVOKED: nm->at_ms = fa->revoked_at_ms; break;
	case TIDS_POLICY_MISS_NOT_YET_VALID: nm->at_ms = ap->valid_from_ms; break;
	case TIDS_POLICY_MISS_EXPIRED: nm->at_ms = ap->valid_until_ms; break;
	case TIDS_POLICY_MISS_KIND: nm->asked = ap->kind; break;
	case TIDS_POLICY_MISS_SIGNER: nm->asked = ap->regulator; break;
	case TIDS_POLICY_MISS_RECIPIENT: nm->asked = recipient ? near_asked(d, recipient) : NULL; break;
	case TIDS_POLICY_MISS_EXPORTER: nm->asked = exporter ? near_asked(d, exporter) : NULL; break;
	case TIDS_POLICY_MISS_CATEGORY: nm->asked = category ? near_asked(d, category) : NULL; break;
	case TIDS_POLICY_MISS_PURPOSE: nm->asked = purpose ? near_asked(d, purpose) : NULL; break;
	case TIDS_POLICY_MISS_FROM: nm->asked = from ? near_asked(d, from) : NULL; break;
	case TIDS_POLICY_MISS_TO: nm->asked = to ? near_asked(d, to) : NULL; break;
	case TIDS_POLICY_MISS_TIER: nm->asked = tier >= 0 ? tids_tier_name((enum tids_tier)tier) : NULL; break;
	default: break;
	}
}

static void near_approval(struct eval_ctx *ctx, const struct xnode *n, struct tids_policy_decision *d)
{
	struct ap_args x;
	const struct xnode *const *a = x.a = n->items;
	if (a[AP_EXPORTER]) pol_eval(ctx, a[AP_EXPORTER], &x.exporter);
	if (a[AP_SIGNER_COVERS]) pol_eval(ctx, a[AP_SIGNER_COVERS], &x.covers);
	if (a[AP_RECIPIENT]) pol_eval(ctx, a[AP_RECIPIENT], &x.recipient);
	if (a[AP_CATEGORY]) pol_eval(ctx, a[AP_CATEGORY], &x.category);
	if (a[AP_PURPOSE]) pol_eval(ctx, a[AP_PURPOSE], &x.purpose);
	if (a[AP_FROM]) pol_eval(ctx, a[AP_FROM], &x.from);
	if (a[AP_TO]) pol_eval(ctx, a[AP_TO], &x.to);
	if (a[AP_TIER]) pol_eval(ctx, a[AP_TIER], &x.tier);
	if (a[AP_AT])
		pol_eval(ctx, a[AP_AT], &x.at);
	else
		v_int(&x.at, PT_TIME, ctx->req->now_ms);
	/* the exporter's approvals (for any recipient), then the recipient's
	 * (from other exporters); with neither named, all */
	const struct fact_approval *best = NULL;
	uint32_t best_failed = 0;
	for (int pass = 0; pass < 2; pass++) {
		enum approval_by by = pass == 0 ? BY_EXPORTER : BY_RECIPIENT;
		const struct val *key = pass == 0 ? &x.exporter : &x.recipient;
		if (!a[pass == 0 ? AP_EXPORTER : AP_RECIPIENT]) {
			if (pass == 0 || a[AP_EXPORTER])
				continue;
			by = BY_NONE;
		}
		const struct fact_approval *fa = pol_facts_approvals(ctx->facts, by, by == BY_NONE ? NULL : key->p,
								      by == BY_NONE ? 0 : key->len);
		for (unsigned k = 0; fa != NULL && k < NEAR_SCAN_MAX; fa = pol_approval_next(fa, by), k++) {
			if (pass == 1 && a[AP_EXPORTER] && cstr_eq(&x.exporter, fa->a.exporter))
				continue;                 /* seen with the exporter's */
			uint32_t f = approval_failures(ctx, &x, fa);
			if (better(f, best != NULL, best_failed)) {
				best = fa;
				best_failed = f;
			}
		}
	}
	if (best == NULL) {
		near_set(d, TIDS_POLICY_NEAR_APPROVAL, NULL, MISS(NONE));
		return;
	}
	near_set(d, TIDS_POLICY_NEAR_APPROVAL, best->a.id, best_failed);
	near_approval_detail(d, best, a[AP_RECIPIENT] ? &x.recipient : NULL, a[AP_EXPORTER] ? &x.exporter : NULL,
			     a[AP_CATEGORY] ? &x.category : NULL, a[AP_PURPOSE] ? &x.purpose : NULL,
			     a[AP_FROM] ? &x.from : NULL, a[AP_TO] ? &x.to : NULL, a[AP_TIER] ? x.tier.i : -1);
}

void pol_near_miss(struct eval_ctx *ctx, const struct xnode *call, uint32_t rule, struct tids_policy_decision *d)
{
	if (call->fn == F_GRANT)
		near_grant(ctx, call, d);
	else
		near_approval(ctx, call, d);
	d->near.rule = ctx->set->rules[rule].info.id;
}

/* Why no approval opens the case the purpose needs (pol_find_case's terms). */
void pol_near_case(struct eval_ctx *ctx, enum tids_tier tier, struct tids_policy_decision *d)
{
	const struct tids_policy_set *set = ctx->set;
	const struct tids_policy_request *req = ctx->req;
	const char *purpose = req->purpose, *owner_id = ctx->rec->owner;
	const struct tids_policy_participant *owner = owner_of(ctx);
	struct val owner_j, v_recipient, v_owner, v_category, v_purpose;
	v_str(&owner_j, owner != NULL ? owner->jurisdiction : "");
	v_str(&v_recipient, req->recipient);
	v_str(&v_owner, owner_id);
	v_str(&v_category, ctx->rec->category);
	v_str(&v_purpose, purpose);
	const struct fact_approval *best = NULL;
	uint32_t best_failed = 0;
	for (int pass = 0; pass < 2; pass++) {
		enum approval_by by = pass == 0 ? BY_RECIPIENT : BY_EXPORTER;
		const char *key = pass == 0 ? req->recipient : owner_id;
		const struct fact_approval *fa = pol_facts_approvals(ctx->facts, by, key, strlen(key));
		for (unsigned k = 0; fa != NULL && k < NEAR_SCAN_MAX; fa = pol_approval_next(fa, by), k++) {
			const struct tids_policy_approval *ap = &fa->a;
			if (pass == 1 && strcmp(ap->recipient, req->recipient) == 0)
				continue;                 /* seen with the recipient's */
			uint32_t f = fa->revoked ? MISS(REVOKED) : 0;
			if (strcmp(ap->kind, purpose) != 0)
				f |= MISS(KIND);
			if (ap->case_id == NULL || ap->case_id[0] == '\0')
				f |= MISS(NO_CASE);
			if (strcmp(ap->recipient, req->recipient) != 0)
				f |= MISS(RECIPIENT);
			if (strcmp(ap->exporter, owner_id) != 0)
				f |= MISS(EXPORTER);
			if (!in_strv(ap->categories, ap->n_categories, &v_category))
				f |= MISS(CATEGORY);
			if (!in_strv(ap->purposes, ap->n_purposes, &v_purpose))
				f |= MISS(PURPOSE);
			bool tier_ok = false;
			for (size_t i = 0; i < ap->n_tiers && !tier_ok; i++)
				tier_ok = ap->tiers[i] == tier;
			if (!tier_ok)
				f |= MISS(TIER);
			const struct tids_policy_participant *signer =
				pol_facts_participant(ctx->facts, ap->regulator, strlen(ap->regulator), 0);
			if (signer == NULL || signer->suspended || signer->role == NULL ||
			    !pol_pair_find(set->case_roles, set->n_case_roles, purpose, strlen(purpose), signer->role,
					   strlen(signer->role)) ||
			    !signer_covers(signer->jurisdiction, &owner_j))
				f |= MISS(SIGNER);
			if (req->now_ms < ap->valid_from_ms)
				f |= MISS(NOT_YET_VALID);
			if (ap->valid_until_ms != 0 && req->now_ms > ap->valid_until_ms)
				f |= MISS(EXPIRED);
			if (better(f, best != NULL, best_failed)) {
				best = fa;
				best_failed = f;
			}
		}
	}
	if (best == NULL)
		near_set(d, TIDS_POLICY_NEAR_APPROVAL, NULL, MISS(NONE));
	else {
		near_set(d, TIDS_POLICY_NEAR_APPROVAL, best->a.id, best_failed);
		near_approval_detail(d, best, &v_recipient, &v_owner, &v_category, &v_purpose, NULL, NULL, tier);
	}
	d->near.rule = NULL;
}

static bool label_is(const struct tids_field *f, const struct val *label)
{
	for (size_t i = 0; i < f->n_labels; i++)
		if (cstr_eq(label, f->labels[i]))
			return true;
	return false;
}

static bool call_fields(struct eval_ctx *ctx, const struct xnode *n)
{
	const struct tids_record *rec = ctx->rec;
	struct val what;
	pol_eval(ctx, n->items[0], &what);
	bool any = false, any_kept = false;
	for (size_t i = 0; i < rec->n_fields && i < TIDS_FIELDS_MAX; i++) {
		const struct tids_field *f = &rec->fields[i];
		bool hit = n->fn == F_HAS_FIELD ? cstr_eq(&what, f->name) : label_is(f, &what);
		if (!hit)
			continue;
		any = true;
		if (!pol_bit_get(ctx->removed, i))
			any_kept = true;
	}
	return n->fn == F_STRIPPED ? any && !any_kept : any_kept;
}

static void call(struct eval_ctx *ctx, const struct xnode *n, struct val *out)
{
	struct val a, b, c;
	switch ((enum fn_id)n->fn) {
	case F_COUNTRY:
		pol_eval(ctx, n->items[0], out);
		out->len = (uint32_t)country_len(out->p, out->len);
		out->h = 0;
		return;
	case F_YEAR:
		pol_eval(ctx, n->items[0], &a);
		v_int(out, PT_INT, pol_year_in(ctx->req->tz, a.i));
		return;
	case F_APPROVAL:
	case F_GRANT:
		v_bool(out, call_consent(ctx, n));
		return;
	case F_COUNTER:
		pol_eval(ctx, n->items[0], &a);
		pol_eval(ctx, n->items[1], &b);
		pol_eval(ctx, n->items[2], &c);
		v_int(out, PT_INT, clamp_u64(pol_facts_counter(ctx->facts, a.p, a.len, b.p, b.len, c.i)));
		return;
	case F_HAS_LABEL:
	case F_HAS_FIELD:
	case F_STRIPPED:
		v_bool(out, call_fields(ctx, n));
		return;
	case F_NONE:
		break;
	}
	v_bool(out, false);
}

/* ---- operators ---- */

static bool values_equal(struct val *x, struct val *y)
{
	if (x->type == PT_STR) {
		/* with a literal on one side its hash is known: hash the other */
		if (x->h != 0 || y->h != 0) {
			hash_of(x);
			hash_of(y);
		}
		return str_eq(x, y);
	}
	if (x->type == PT_BOOL)
		return x->b == y->b;
	if (x->type == PT_DUR)
		return x->i == y->i && x->months == y->months;
	return x->i == y->i;
}

static int64_t find_code(const int64_t *codes, uint32_t n, int64_t c)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (codes[mid] == c)
			return mid;
		if (codes[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static bool member(struct eval_ctx *ctx, const struct xnode *list, struct val *x)
{
	if (list->constant) {
		if (list->n_items == 0)
			return false;
		if (x->type != PT_STR)
			return find_code(list->codes, list->n_items, pol_val_code(x)) >= 0;
		int64_t at = find_code(list->codes, list->n_items, (int64_t)hash_of(x));
		if (at < 0)
			return false;
		const struct xnode *item = list->items[at];    /* same order as codes */
		return item->len == x->len && pol_mem_eq(item->s, x->p, x->len);
	}
	for (uint32_t i = 0; i < list->n_items; i++) {
		struct val y;
		pol_eval(ctx, list->items[i], &y);
		if (values_equal(x, &y))
			return true;
	}
	return false;
}

/* The cached value of an attribute, loaded (and hashed) on first use;
 * NULL for grant.* which is per rule and never cached. */
static struct val *cached(struct eval_ctx *ctx, const struct xnode *n)
{
	if (n->op != N_ATTR || !cacheable(n->slot))
		return NULL;
	return slot_ref(ctx, n->slot);
}

/* attribute == "literal": the most common test, answered from the cache
 * by hash, confirmed by text. */
static bool slot_equals_literal(struct eval_ctx *ctx, const struct xnode *attr,
				const struct xnode *lit, bool *out)
{
	if (lit->op != N_STR)
		return false;
	struct val *v = cached(ctx, attr);
	if (v == NULL)
		return false;
	*out = v->len == lit->len && hash_of(v) == lit->h && pol_mem_eq(v->p, lit->s, lit->len);
	return true;
}

bool pol_eval_bool(struct eval_ctx *ctx, const struct xnode *n)
{
	struct val a, b;
	bool eq;
	switch ((enum node_op)n->op) {
	case N_AND:
		return pol_eval_bool(ctx, n->a) && pol_eval_bool(ctx, n->b);
	case N_OR:
		return pol_eval_bool(ctx, n->a) || pol_eval_bool(ctx, n->b);
	case N_NOT:
		return !pol_eval_bool(ctx, n->a);
	case N_BOOL:
		return n->i != 0;
	case N_EQ:
	case N_NE: {
		if (slot_equals_literal(ctx, n->a, n->b, &eq) || slot_equals_literal(ctx, n->b, n->a, &eq))
			return eq == (n->op == N_EQ);
		/* attribute == attribute (asset.lessor == recipient.id): in place */
		struct val *x = cached(ctx, n->a), *y = x != NULL ? cached(ctx, n->b) : NULL;
		if (y != NULL)
			return values_equal(x, y) == (n->op == N_EQ);
		pol_eval(ctx, n->a, &a);
		pol_eval(ctx, n->b, &b);
		return values_equal(&a, &b) == (n->op == N_EQ);
	}
	case N_LT:
		pol_eval(ctx, n->a, &a);
		pol_eval(ctx, n->b, &b);
		return a.i < b.i;
	case N_LE:
		pol_eval(ctx, n->a, &a);
		pol_eval(ctx, n->b, &b);
		return a.i <= b.i;
	case N_GT:
		pol_eval(ctx, n->a, &a);
		pol_eval(ctx, n->b, &b);
		return a.i > b.i;
	case N_GE:
		pol_eval(ctx, n->a, &a);
		pol_eval(ctx, n->b, &b);
		return a.i >= b.i;
	case N_IN:
	case N_NOT_IN: {
		struct val *v = cached(ctx, n->a);
		if (v == NULL) {
			pol_eval(ctx, n->a, &a);
			v = &a;
		}
		return member(ctx, n->b, v) == (n->op == N_IN);
	}
	case N_ATTR:
		if (cacheable(n->slot))
			return slot_ref(ctx, n->slot)->b;
		pol_eval_slot(ctx, n->slot, &a);
		return a.b;
	case N_CALL:
		switch ((enum fn_id)n->fn) {
		case F_APPROVAL:
		case F_GRANT: return call_consent(ctx, n);
		case F_HAS_LABEL:
		case F_HAS_FIELD:
		case F_STRIPPED: return call_fields(ctx, n);
		default: break;
		}
		break;
	default:
		break;
	}
	pol_eval(ctx, n, &a);
	return a.type == PT_BOOL && a.b;
}

/* + and -: numbers and fixed lengths as they are; a time and a duration
 * on the hub's calendar (a month added to 31 January is 28 February). */
static void arith(struct eval_ctx *ctx, const struct xnode *n, struct val *a, struct val *b,
		  struct val *out)
{
	int64_t sign = n->op == N_ADD ? 1 : -1;
	if (n->type == PT_TIME) {
		struct val *t = a->type == PT_TIME ? a : b, *d = a->type == PT_TIME ? b : a;
		int64_t months = d->months * sign, ms = sign > 0 ? d->i : sat_neg(d->i);
		v_int(out, PT_TIME, months != 0 ? tids_policy_add(ctx->req->tz, t->i, months, ms)
						: sat_add(t->i, ms));
		return;
	}
	v_int(out, (enum ptype)n->type, sign > 0 ? sat_add(a->i, b->i) : sat_add(a->i, sat_neg(b->i)));
	if (n->type == PT_DUR)
		out->months = a->type == PT_DUR && b->type == PT_DUR ? a->months + sign * b->months : 0;
}

void pol_eval(struct eval_ctx *ctx, const struct xnode *n, struct val *out)
{
	struct val a, b;
	switch ((enum node_op)n->op) {
	case N_BOOL:
		v_bool(out, n->i != 0);
		return;
	case N_INT:
	case N_TIER:
		v_int(out, (enum ptype)n->type, n->i);
		return;
	case N_DUR:
		v_int(out, PT_DUR, n->i);
		out->months = n->months;
		return;
	case N_TIME:
		/* a date alone: the start of that day on the hub's calendar */
		v_int(out, PT_TIME, n->fn == POL_TIME_DATE
		      ? pol_local_day_start(ctx->req->tz, n->i / POL_MS_DAY) : n->i);
		return;
	case N_STR:
		*out = (struct val){ .type = PT_STR, .p = n->s, .len = n->len, .h = n->h };
		return;
	case N_ATTR:
		pol_eval_slot(ctx, n->slot, out);
		return;
	case N_CALL:
		call(ctx, n, out);
		return;
	case N_NEG:
		pol_eval(ctx, n->a, &a);
		v_int(out, (enum ptype)n->type, sat_neg(a.i));
		if (n->type == PT_DUR)
			out->months = -a.months;
		return;
	case N_ADD:
	case N_SUB:
		pol_eval(ctx, n->a, &a);
		pol_eval(ctx, n->b, &b);
		arith(ctx, n, &a, &b, out);
		return;
	case N_AND:
	case N_OR:
	case N_NOT:
	case N_EQ:
	case N_NE:
	case N_LT:
	case N_LE:
	case N_GT:
	case N_GE:
	case N_IN:
	case N_NOT_IN:
		v_bool(out, pol_eval_bool(ctx, n));
		return;
	case N_LIST:
	case N_NAME:
	case N_PATH:
		break;
	}
	v_bool(out, false);
}

/* ---- bytecode ---- */

static bool str_in(const struct insn *in, struct val *v)
{
	int64_t c = (int64_t)hash_of(v);
	uint32_t lo = 0, hi = in->arg;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (in->codes[mid] < c) {
			lo = mid + 1;
		} else if (in->codes[mid] > c) {
			hi = mid;
		} else {
			const struct xnode *item = in->items[mid];     /* same order as codes */
			return item->len == v->len && pol_mem_eq(item->s, v->p, v->len);
		}
	}
	return false;
}

static bool same_value(const struct val *x, const struct val *y)
{
	if (x->type == PT_STR)
		return x->len == y->len && (x->h == 0 || y->h == 0 || x->h == y->h) &&
		       pol_mem_eq(x->p, y->p, x->len);
	if (x->type == PT_BOOL)
		return x->b == y->b;
	return x->i == y->i;
}

static inline __attribute__((always_inline)) bool rule_matches(struct eval_ctx *ctx,
							     const struct crule *r)
{
	const struct insn *code = r->code;
	if (code == NULL)
		return true;
	for (const struct insn *in = code;;) {
		const struct val *v;
		bool t;
		switch ((enum insn_op)in->op) {
		case I_CONST:
			t = in->arg != 0;
			break;
		case I_STR_EQ:
			/* a hash already known rejects at once; else the text */
			v = slot_ref(ctx, in->slot);
			t = v->len == in->arg && (v->h == 0 || v->h == in->h) &&
			    pol_mem_eq(v->p, in->s, in->arg);
			break;
		case I_STR_IN:
			t = str_in(in, slot_ref(ctx, in->slot));
			break;
		case I_MASK: {
			v = slot_ref(ctx, in->slot);
			int64_t c = v->type == PT_BOOL ? (v->b ? 2 : 1) : v->i;
			t = c >= 0 && c < 32 && ((in->arg >> c) & 1u);
			break;
		}
		case I_SLOT_EQ:
			v = slot_ref(ctx, in->slot);
			t = same_value(v, slot_ref(ctx, in->arg));
			break;
		case I_EXPR:
		default:
			t = pol_eval_bool(ctx, in->node);
			break;
		}
		uint32_t next = t ? in->on_true : in->on_false;
		if (next >= PC_NO_MATCH)
			return next == PC_MATCH;
		in = code + next;
	}
}

bool pol_rule_matches(struct eval_ctx *ctx, const struct crule *r)
{
	return rule_matches(ctx, r);
}

/* The decision's inner loop: the candidates in order, each rule's
 * bytecode run in place. */
void pol_run_pass(struct eval_ctx *ctx, struct pass *p)
{
	const struct tids_policy_set *set = ctx->set;
	struct candidates c;
	p->n = 0;
	p->overflow = false;
	p->any_permit = p->any_forbid = false;
	p->approval = NULL;
	p->escape_grant = NULL;
	p->forbid_miss = NULL;
	p->permit_miss = NULL;
	memset(p->proposals, 0, sizeof(p->proposals));
	memset(p->demotions, 0, sizeof(p->demotions));
	pol_candidates(ctx, &c);
	/* the candidates' rules asked for at once, each one's code a few
	 * rules ahead of running it */
	if (!c.merging)
		for (uint32_t i = 0; i < c.n_gathered; i++)
			__builtin_prefetch(&set->rules[c.gathered[i]]);
	for (uint32_t ri; (ri = pol_candidates_next(&c)) != UINT32_MAX;) {
		const struct crule *r = &set->rules[ri];
		if (!c.merging && c.pos + 2 < c.n_gathered)
			__builtin_prefetch(set->rules[c.gathered[c.pos + 2]].code);
		ctx->rule_grant = NULL;
		ctx->rule_approval = NULL;
		ctx->rule_miss = NULL;
		bool m = rule_matches(ctx, r);
		if (!m && ctx->rule_miss != NULL && p->permit_miss == NULL && r->info.kind == TIDS_POLICY_PERMIT) {
			p->permit_miss = ctx->rule_miss;
			p->permit_miss_rule = ri;
		}
		if (r->info.kind == TIDS_POLICY_FORBID && !m) {
			/* an approval or grant that kept a forbid quiet made the decision */
			if (ctx->rule_approval != NULL && p->approval == NULL)
				p->approval = ctx->rule_approval;
			if (ctx->rule_grant != NULL && p->escape_grant == NULL)
				p->escape_grant = ctx->rule_grant;
			continue;
		}
		if (!m)
			continue;
		if (p->n >= POL_MATCHED_MAX) {
			p->overflow = true;
			return;
		}
		p->m[p->n++] = (struct match){ .rule = ri, .grant = ctx->rule_grant };
		if (r->info.kind == TIDS_POLICY_FORBID) {
			if (!p->any_forbid) {
				p->first_forbid = ri;
				p->forbid_miss = ctx->rule_miss;
			}
			p->any_forbid = true;
			continue;
		}
		if (r->info.kind == TIDS_POLICY_PERMIT) {
			if (!p->any_permit)
				p->first_permit = ri;
			p->any_permit = true;
		}
		if (ctx->rule_approval != NULL && p->approval == NULL)
			p->approval = ctx->rule_approval;
		if (r->has_field_obligations ||
		    (ctx->rule_grant != NULL && ctx->rule_grant->duties != NULL &&
		     ctx->rule_grant->duties->n_redact > 0))
			pol_rule_removals(ctx, r, ctx->rule_grant, p->proposals, p->demotions);
	}
	ctx->rule_grant = NULL;
	ctx->rule_approval = NULL;
	ctx->rule_miss = NULL;
}

