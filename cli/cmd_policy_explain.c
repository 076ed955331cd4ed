/*
 * tidsctl policy explain: decides one record for one recipient and purpose,
 * given as JSON with the facts that matter (participants, assets, grants,
 * approvals, counters), and prints the decision, its obligations and every
 * rule behind it (text, or JSON with --json).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "tidsctl.h"
#include "tids/error.h"
#include "tids/json.h"
#include "tids/wire.h"

struct policy_sources {
	struct tids_policy_source *v;
	size_t n;
	size_t cap;
};
int tidsctl_policy_explain(int argc, char **argv);
int tidsctl_policy_add_path(struct policy_sources *srcs, const char *path, const char *ext);
int tidsctl_policy_compile(struct policy_sources *srcs, struct tids_policy_set **set, bool quiet);
void tidsctl_policy_sources_free(struct policy_sources *srcs);
char *tidsctl_policy_read_file(const char *path, size_t *len);
const char *tidsctl_policy_default_dir(void);
int tidsctl_policy_grants(const struct tids_json *list, const struct tids_policy_tz *tz,
			  int (*fn)(void *ctx, const struct tids_policy_grant *g), void *ctx, char *err, size_t errlen);

#define ERRLEN 512

/* Reading JSON facts: every failure names the JSON path and stops. */
struct rd {
	char err[ERRLEN];
	const struct tids_policy_tz *tz;   /* "timezone": a date alone is its day there */
	/* string arrays handed to the fact store; freed after each put */
	const char **pool[16];
	size_t n_pool;
};

static int bad(struct rd *r, const char *path, const char *what)
{
	snprintf(r->err, sizeof(r->err), "%s: %s", path, what);
	return TIDS_EINVAL;
}

static void pool_free(struct rd *r)
{
	for (size_t i = 0; i < r->n_pool; i++)
		free(r->pool[i]);
	r->n_pool = 0;
}

static int get_str(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		   const char **out)
{
	const struct tids_json *v = tids_json_get(obj, key);
	if (v == NULL)
		return 0;
	if (tids_json_type(v) != TIDS_JSON_STRING) {
		char p[128];
		snprintf(p, sizeof(p), "%s.%s", path, key);
		return bad(r, p, "expected a string");
	}
	*out = tids_json_string(v);
	return 0;
}

static int get_bool(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		    bool *out)
{
	const struct tids_json *v = tids_json_get(obj, key);
	if (v == NULL)
		return 0;
	if (tids_json_type(v) != TIDS_JSON_BOOL) {
		char p[128];
		snprintf(p, sizeof(p), "%s.%s", path, key);
		return bad(r, p, "expected true or false");
	}
	*out = tids_json_bool(v);
	return 0;
}

static int get_u64(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		   uint64_t *out)
{
	const struct tids_json *v = tids_json_get(obj, key);
	if (v == NULL)
		return 0;
	if (tids_json_uint64(v, out) != 0) {
		char p[128];
		snprintf(p, sizeof(p), "%s.%s", path, key);
		return bad(r, p, "expected a whole number");
	}
	return 0;
}

/* A time: milliseconds since 1970 or an ISO-8601 string; a date alone is
 * its whole day in the input's time zone, from its start or to its end. */
static int get_time_at(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		       enum tids_policy_bound bound, int64_t *out)
{
	const struct tids_json *v = tids_json_get(obj, key);
	char p[128];
	if (v == NULL)
		return 0;
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (tids_json_type(v) == TIDS_JSON_STRING) {
		const char *s = tids_json_string(v);
		if (tids_policy_parse_time_tz(s, strlen(s), r->tz, bound, out) != 0)
			return bad(r, p, "expected a time like \"2026-06-01T08:00:00Z\" or a date");
		return 0;
	}
	if (tids_json_int64(v, out) != 0)
		return bad(r, p, "expected milliseconds since 1970 or a time string");
	return 0;
}

static int get_time(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		    int64_t *out)
{
	return get_time_at(r, obj, key, path, TIDS_POLICY_DAY_START, out);
}

static int get_end(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		   int64_t *out)
{
	return get_time_at(r, obj, key, path, TIDS_POLICY_DAY_END, out);
}

static int get_strv(struct rd *r, const struct tids_json *obj, const char *key, const char *path,
		    const char *const **out, size_t *n)
{
	const struct tids_json *v = tids_json_get(obj, key);
	char p[128];
	if (v == NULL)
		return 0;
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (tids_json_type(v) != TIDS_JSON_ARRAY)
		return bad(r, p, "expected a list of strings");
	size_t len = tids_json_len(v);
	if (r->n_pool >= sizeof(r->pool) / sizeof(r->pool[0]))
		return bad(r, p, "too many lists");
	const char **list = calloc(len ? len : 1, sizeof(*list));
	if (list == NULL)
		return TIDS_ENOMEM;
	r->pool[r->n_pool++] = list;
	for (size_t i = 0; i < len; i++) {
		const struct tids_json *e = tids_json_at(v, i);
		if (tids_json_type(e) != TIDS_JSON_STRING)
			return bad(r, p, "expected a list of strings");
		list[i] = tids_json_string(e);
	}
	*out = list;
	*n = len;
	return 0;
}

/* Rejects keys the reader does not know: a typo must not drop a fact. */
static int known_keys(struct rd *r, const struct tids_json *obj, const char *path,
		      const char *const *keys)
{
	if (tids_json_type(obj) != TIDS_JSON_OBJECT)
		return bad(r, path, "expected an object");
	for (size_t i = 0; i < tids_json_len(obj); i++) {
		const char *k = tids_json_key_at(obj, i);
		bool ok = false;
		for (const char *const *p = keys; *p != NULL && !ok; p++)
			ok = strcmp(*p, k) == 0;
		if (!ok) {
			char msg[160];
			snprintf(msg, sizeof(msg), "unknown key \"%.60s\"", k);
			return bad(r, path, msg);
		}
	}
	return 0;
}

static int read_attrs(struct rd *r, const struct tids_json *obj, const char *path,
		      struct tids_policy_attr *attrs, size_t *n, char (*bufs)[32])
{
	const struct tids_json *a = tids_json_get(obj, "attributes");
	*n = 0;
	if (a == NULL)
		return 0;
	if (tids_json_type(a) != TIDS_JSON_OBJECT)
		return bad(r, path, "attributes: expected an object of name: value");
	for (size_t i = 0; i < tids_json_len(a) && i < 32; i++) {
		const struct tids_json *v = tids_json_at(a, i);
		attrs[i].name = tids_json_key_at(a, i);
		switch (tids_json_type(v)) {
		case TIDS_JSON_STRING:
			attrs[i].value = tids_json_string(v);
			break;
		case TIDS_JSON_BOOL:
			attrs[i].value = tids_json_bool(v) ? "true" : "false";
			break;
		case TIDS_JSON_NUMBER: {
			int64_t x;
			if (tids_json_int64(v, &x) != 0)
				return bad(r, path, "attributes: numbers must be whole");
			snprintf(bufs[i], 32, "%lld", (long long)x);
			attrs[i].value = bufs[i];
			break;
		}
		default:
			return bad(r, path, "attributes: values are strings, numbers or bools");
		}
		(*n)++;
	}
	return 0;
}

static int read_participant(struct rd *r, struct tids_policy_facts *f, const struct tids_json *o,
			    const char *path)
{
	static const char *const keys[] = { "id", "role", "jurisdiction", "home_hub", "suspended",
					    "attributes", NULL };
	struct tids_policy_participant p = { 0 };
	struct tids_policy_attr attrs[32];
	char bufs[32][32];
	int rc;
	if ((rc = known_keys(r, o, path, keys)) || (rc = get_str(r, o, "id", path, &p.id)) ||
	    (rc = get_str(r, o, "role", path, &p.role)) ||
	    (rc = get_str(r, o, "jurisdiction", path, &p.jurisdiction)) ||
	    (rc = get_str(r, o, "home_hub", path, &p.home_hub)) ||
	    (rc = get_bool(r, o, "suspended", path, &p.suspended)) ||
	    (rc = read_attrs(r, o, path, attrs, &p.n_attrs, bufs)))
		return rc;
	p.attrs = attrs;
	return tids_policy_facts_put_participant(f, &p, r->err, sizeof(r->err));
}

static int read_asset(struct rd *r, struct tids_policy_facts *f, const struct tids_json *o,
		      const char *path)
{
	static const char *const keys[] = { "id", "lessee", "lessor", "site", "kind", "attributes",
					    NULL };
	struct tids_policy_asset a = { 0 };
	struct tids_policy_attr attrs[32];
	char bufs[32][32];
	int rc;
	if ((rc = known_keys(r, o, path, keys)) || (rc = get_str(r, o, "id", path, &a.id)) ||
	    (rc = get_str(r, o, "lessee", path, &a.lessee)) ||
	    (rc = get_str(r, o, "lessor", path, &a.lessor)) ||
	    (rc = get_str(r, o, "site", path, &a.site)) ||
	    (rc = get_str(r, o, "kind", path, &a.kind)) ||
	    (rc = read_attrs(r, o, path, attrs, &a.n_attrs, bufs)))
		return rc;
	a.attrs = attrs;
	return tids_policy_facts_put_asset(f, &a, r->err, sizeof(r->err));
}

static int read_duties(struct rd *r, const struct tids_json *o, const char *path,
		       struct tids_policy_grant_duties *du)
{
	/* the special ones, then the vocabulary's flags and lists by name */
	static const char *const keys[] = { "retain_until", "redact", "purposes", "aggregate",
#define TIDS_OB_FLAG(name, summary) #name,
#define TIDS_OB_LIST(name, word, check, summary) #name,
#include "obligations.def"
					    NULL };
	static const char *const agg_keys[] = { "function", "field", "window_ms", "window_months", "by", NULL };
	int rc;
	if ((rc = known_keys(r, o, path, keys)) ||
	    (rc = get_end(r, o, "retain_until", path, &du->retain_until_ms)) ||
	    (rc = get_strv(r, o, "redact", path, &du->redact, &du->n_redact)) ||
	    (rc = get_strv(r, o, "purposes", path, &du->purposes, &du->n_purposes)))
		return rc;
#define TIDS_OB_FLAG(name, summary)                                  \
	if ((rc = get_bool(r, o, #name, path, &du->name)) != 0)      \
		return rc;
#define TIDS_OB_LIST(name, word, check, summary)                              \
	if ((rc = get_strv(r, o, #name, path, &du->name, &du->n_##name)) != 0) \
		return rc;
#include "obligations.def"

	const struct tids_json *a = tids_json_get(o, "aggregate");
	if (a == NULL)
		return 0;
	uint64_t window = 0, months = 0;
	if ((rc = known_keys(r, a, "obligations.aggregate", agg_keys)) ||
	    (rc = get_str(r, a, "function", path, &du->aggregate_function)) ||
	    (rc = get_str(r, a, "field", path, &du->aggregate_field)) ||
	    (rc = get_u64(r, a, "window_ms", path, &window)) ||
	    (rc = get_u64(r, a, "window_months", path, &months)) ||
	    (rc = get_strv(r, a, "by", path, &du->aggregate_by, &du->n_aggregate_by)))
		return rc;
	if (months > 1200000)
		return bad(r, path, "aggregate.window_months: too many");
	du->aggregate_window_ms = window > INT64_MAX ? INT64_MAX : (int64_t)window;
	du->aggregate_window_months = (int64_t)months;
	return 0;
}

/* A grant object; revoked_at (may be NULL) gets "revoked_at" (0: none),
 * "expired_at" as its negation. */
static int grant_from(struct rd *r, const struct tids_json *o, const char *path, struct tids_policy_grant *out,
		      int64_t *retired_at)
{
	static const char *const keys[] = { "id", "owner", "grantee", "assets", "categories",
					    "purposes", "not_before", "not_after", "max_uses", "uses",
					    "obligations", "revoked_at", "expired_at", NULL };
	int64_t revoked_at = 0, expired_at = 0;
	struct tids_policy_grant g = { 0 };
	uint64_t max_uses = 0, uses = 0;
	int rc;
	if ((rc = known_keys(r, o, path, keys)) || (rc = get_str(r, o, "id", path, &g.id)) ||
	    (rc = get_str(r, o, "owner", path, &g.owner)) ||
	    (rc = get_str(r, o, "grantee", path, &g.grantee)) ||
	    (rc = get_strv(r, o, "assets", path, &g.assets, &g.n_assets)) ||
	    (rc = get_strv(r, o, "categories", path, &g.categories, &g.n_categories)) ||
	    (rc = get_strv(r, o, "purposes", path, &g.purposes, &g.n_purposes)) ||
	    (rc = get_time(r, o, "not_before", path, &g.not_before_ms)) ||
	    (rc = get_end(r, o, "not_after", path, &g.not_after_ms)) ||
	    (rc = get_u64(r, o, "max_uses", path, &max_uses)) ||
	    (rc = get_u64(r, o, "uses", path, &uses)) ||
	    (rc = get_time(r, o, "revoked_at", path, &revoked_at)) ||
	    (rc = get_time(r, o, "expired_at", path, &expired_at)))
		return rc;
	if (retired_at != NULL)
		*retired_at = revoked_at != 0 ? revoked_at : -expired_at;
	if (max_uses > UINT32_MAX || uses > UINT32_MAX)
		return bad(r, path, "max_uses and uses are at most 4294967295");
	g.max_uses = (uint32_t)max_uses;
	g.uses = (uint32_t)uses;
	const struct tids_json *ob = tids_json_get(o, "obligations");
	if (ob != NULL && (rc = read_duties(r, ob, path, &g.duties)) != 0)
		return rc;
	*out = g;
	return 0;
}

static int read_grant(struct rd *r, struct tids_policy_facts *f, const struct tids_json *o,
		      const char *path)
{
	struct tids_policy_grant g;
	int64_t retired = 0;
	int rc = grant_from(r, o, path, &g, &retired);
	if (rc == 0)
		rc = tids_policy_facts_put_grant(f, &g, r->err, sizeof(r->err));
	/* a revoked grant (or one expired and destroyed) never matches; a
	 * denial names it */
	if (rc == 0 && retired != 0)
		rc = tids_policy_facts_retire_grant(f, g.id, retired > 0, retired > 0 ? retired : -retired);
	return rc;
}

int tidsctl_policy_grants(const struct tids_json *list, const struct tids_policy_tz *tz,
			  int (*fn)(void *ctx, const struct tids_policy_grant *g), void *ctx, char *err, size_t errlen)
{
	struct rd r = { .tz = tz };
	const struct tids_json *v = tids_json_type(list) == TIDS_JSON_OBJECT ? tids_json_get(list, "grants") : list;
	int rc = 0;
	if (v == NULL || tids_json_type(v) != TIDS_JSON_ARRAY)
		return tids_fail(err, errlen, TIDS_EINVAL, "expected a list of grants, or {\"grants\": [...]}");
	for (size_t i = 0; i < tids_json_len(v) && rc == 0; i++) {
		char path[64];
		struct tids_policy_grant g;
		snprintf(path, sizeof(path), "grants[%zu]", i);
		r.err[0] = '\0';
		rc = grant_from(&r, tids_json_at(v, i), path, &g, NULL);
		if (rc == 0 && (g.id == NULL || g.owner == NULL || g.grantee == NULL))
			rc = bad(&r, path, "a grant needs an id, an owner and a grantee");
		if (rc == 0)
			rc = fn(ctx, &g);
		pool_free(&r);
		if (rc != 0 && r.err[0] != '\0')
			snprintf(err, errlen, "%s", r.err);
	}
	return rc;
}

static int read_approval(struct rd *r, struct tids_policy_facts *f, const struct tids_json *o,
			 const char *path)
{
	static const char *const keys[] = { "id", "kind", "regulator", "exporter", "recipient",
					    "categories", "tiers", "purposes", "from", "to",
					    "valid_from", "valid_until", "case", "revoked_at", NULL };
	struct tids_policy_approval a = { 0 };
	int64_t revoked_at = 0;
	const char *const *tier_names = NULL;
	size_t n_tiers = 0;
	enum tids_tier tiers[8];
	int rc;
	if ((rc = known_keys(r, o, path, keys)) || (rc = get_str(r, o, "id", path, &a.id)) ||
	    (rc = get_str(r, o, "kind", path, &a.kind)) ||
	    (rc = get_str(r, o, "regulator", path, &a.regulator)) ||
	    (rc = get_str(r, o, "exporter", path, &a.exporter)) ||
	    (rc = get_str(r, o, "recipient", path, &a.recipient)) ||
	    (rc = get_strv(r, o, "categories", path, &a.categories, &a.n_categories)) ||
	    (rc = get_strv(r, o, "tiers", path, &tier_names, &n_tiers)) ||
	    (rc = get_strv(r, o, "purposes", path, &a.purposes, &a.n_purposes)) ||
	    (rc = get_str(r, o, "from", path, &a.from_jurisdiction)) ||
	    (rc = get_str(r, o, "to", path, &a.to_jurisdiction)) ||
	    (rc = get_time(r, o, "valid_from", path, &a.valid_from_ms)) ||
	    (rc = get_end(r, o, "valid_until", path, &a.valid_until_ms)) ||
	    (rc = get_str(r, o, "case", path, &a.case_id)) ||
	    (rc = get_time(r, o, "revoked_at", path, &revoked_at)))
		return rc;
	if (n_tiers > 8)
		return bad(r, path, "tiers: at most 8");
	for (size_t i = 0; i < n_tiers; i++) {
		tiers[i] = tids_tier_parse(tier_names[i]);
		if (tiers[i] == TIDS_TIER_UNSET)
			return bad(r, path, "tiers: expected general, important or core");
	}
	a.tiers = tiers;
	a.n_tiers = n_tiers;
	rc = tids_policy_facts_put_approval(f, &a, r->err, sizeof(r->err));
	if (rc == 0 && revoked_at != 0)
		rc = tids_policy_facts_revoke_approval(f, a.id, revoked_at);
	return rc;
}

static int read_counter(struct rd *r, struct tids_policy_facts *f, const struct tids_json *o,
			const char *path)
{
	static const char *const keys[] = { "name", "key", "period", "value", NULL };
	const char *name = NULL, *key = NULL;
	uint64_t period = 0, value = 0;
	int rc;
	if ((rc = known_keys(r, o, path, keys)) || (rc = get_str(r, o, "name", path, &name)) ||
	    (rc = get_str(r, o, "key", path, &key)) || (rc = get_u64(r, o, "period", path, &period)) ||
	    (rc = get_u64(r, o, "value", path, &value)))
		return rc;
	if (name == NULL || key == NULL)
		return bad(r, path, "a counter needs a name and a key");
	return tids_policy_facts_set_counter(f, name, key, (int64_t)period, value);
}

typedef int reader_fn(struct rd *r, struct tids_policy_facts *f, const struct tids_json *o,
		      const char *path);

static int read_list(struct rd *r, struct tids_policy_facts *f, const struct tids_json *root,
		     const char *key, reader_fn *fn)
{
	const struct tids_json *v = tids_json_get(root, key);
	if (v == NULL)
		return 0;
	if (tids_json_type(v) != TIDS_JSON_ARRAY)
		return bad(r, key, "expected a list");
	for (size_t i = 0; i < tids_json_len(v); i++) {
		char path[64];
		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		int rc = fn(r, f, tids_json_at(v, i), path);
		pool_free(r);
		if (rc != 0) {
			if (r->err[0] == '\0' || strncmp(r->err, path, strlen(path)) != 0) {
				char msg[ERRLEN + 80];
				snprintf(msg, sizeof(msg), "%s: %s", path, r->err[0] ? r->err : tids_strerror(rc));
				snprintf(r->err, sizeof(r->err), "%.*s", ERRLEN - 1, msg);
			}
			return rc;
		}
	}
	return 0;
}

/* ---- output ---- */

/* "near_miss": what a denial's grant() or approval() nearly found */
static void near_miss_json(struct tids_jw *w, const struct tids_policy_near_miss *n)
{
	char text[512], t[48];
	tids_jw_key(w, "near_miss");
	tids_jw_object_begin(w);
	tids_jw_key(w, "kind");
	tids_jw_string(w, n->kind == TIDS_POLICY_NEAR_GRANT ? "grant" : "approval");
	tids_jw_key(w, "id");
	if (n->id != NULL)
		tids_jw_string(w, n->id);
	else
		tids_jw_null(w);
	tids_jw_key(w, "code");
	tids_jw_string(w, tids_policy_miss_name(n->code));
	tids_jw_key(w, "failed");
	tids_jw_array_begin(w);
	for (unsigned c = 1; c <= TIDS_POLICY_MISS_MAX; c++)
		if (n->failed >> c & 1u)
			tids_jw_string(w, tids_policy_miss_name((enum tids_policy_miss)c));
	tids_jw_array_end(w);
	if (n->asked != NULL) {
		tids_jw_key(w, "asked");
		tids_jw_string(w, n->asked);
	}
	if (n->at_ms != 0) {
		tids_policy_format_time(n->at_ms, t, sizeof(t));
		tids_jw_key(w, "at");
		tids_jw_string(w, t);
	}
	if (n->max_uses != 0) {
		tids_jw_key(w, "uses");
		tids_jw_uint64(w, n->uses);
		tids_jw_key(w, "max_uses");
		tids_jw_uint64(w, n->max_uses);
	}
	tids_jw_key(w, "rule");
	if (n->rule != NULL)
		tids_jw_string(w, n->rule);
	else
		tids_jw_null(w);
	tids_policy_near_miss_format(n, text, sizeof(text));
	tids_jw_key(w, "text");
	tids_jw_string(w, text);
	tids_jw_object_end(w);
}


static void jw_fields(struct tids_jw *w, const char *key, const uint64_t *bits,
		      const struct tids_record *rec)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < rec->n_fields; i++)
		if ((bits[i / 64] >> (i % 64)) & 1u)
			tids_jw_string(w, rec->fields[i].name);
	tids_jw_array_end(w);
}

static void write_json(const struct tids_policy_set *set, const struct tids_policy_decision *d,
		       const struct tids_record *rec)
{
	const struct tids_policy_obligations *o = &d->obligations;
	struct tids_jw w;
	tids_jw_init(&w);
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "decision");
	tids_jw_string(&w, tids_policy_verdict_name(d->verdict));
	tids_jw_key(&w, "because");
	tids_jw_string(&w, d->because);
	tids_jw_key(&w, "deciding_rule");
	if (d->deciding_rule)
		tids_jw_string(&w, d->deciding_rule);
	else
		tids_jw_null(&w);
	tids_jw_key(&w, "tier");
	tids_jw_string(&w, tids_tier_name(d->tier));
	tids_jw_key(&w, "rules");
	tids_jw_array_begin(&w);
	for (size_t i = 0; i < d->n_rules; i++) {
		const struct tids_policy_rule_info *ri = tids_policy_set_rule(set, d->rule_ids[i]);
		tids_jw_object_begin(&w);
		tids_jw_key(&w, "id");
		tids_jw_string(&w, d->rule_ids[i]);
		if (ri != NULL) {
			tids_jw_key(&w, "kind");
			tids_jw_string(&w, tids_policy_rule_kind_name(ri->kind));
			tids_jw_key(&w, "because");
			tids_jw_string(&w, ri->because);
			tids_jw_key(&w, "file");
			tids_jw_string(&w, ri->file);
			tids_jw_key(&w, "line");
			tids_jw_uint64(&w, ri->line);
		}
		tids_jw_object_end(&w);
	}
	tids_jw_array_end(&w);
	tids_jw_key(&w, "grant_id");
	if (d->grant_id)
		tids_jw_string(&w, d->grant_id);
	else
		tids_jw_null(&w);
	tids_jw_key(&w, "approval_id");
	if (d->approval_id)
		tids_jw_string(&w, d->approval_id);
	else
		tids_jw_null(&w);
	tids_jw_key(&w, "case_id");
	if (d->case_id)
		tids_jw_string(&w, d->case_id);
	else
		tids_jw_null(&w);
	if (d->near.kind != TIDS_POLICY_NEAR_NONE)
		near_miss_json(&w, &d->near);
	/* what the recipient is obliged to, as its delivery says it */
	const char **names = calloc(rec->n_fields ? rec->n_fields : 1, sizeof(*names));
	struct tids_obligations wire;
	tids_policy_obligations_to_wire(d, rec, names, names != NULL ? rec->n_fields : 0, &wire);
	tids_jw_key(&w, "obligations");
	tids_jw_obligations(&w, &wire);
	free(names);
	/* and what the hub does besides */
	jw_fields(&w, "coarsened", o->coarsened, rec);
	if (o->coarsen_to != NULL) {
		tids_jw_key(&w, "coarsen_to");
		tids_jw_string(&w, o->coarsen_to);
	}
	tids_jw_key(&w, "log_retain_ms");
	tids_jw_int64(&w, o->log_retain_ms);
	tids_jw_key(&w, "counts");
	tids_jw_array_begin(&w);
	for (size_t i = 0; i < o->n_counts; i++) {
		tids_jw_object_begin(&w);
		tids_jw_key(&w, "counter");
		tids_jw_string(&w, o->counts[i].counter);
		tids_jw_key(&w, "key");
		tids_jw_string(&w, o->counts[i].key);
		tids_jw_key(&w, "period");
		tids_jw_int64(&w, o->counts[i].period);
		tids_jw_key(&w, "amount");
		tids_jw_uint64(&w, o->counts[i].amount);
		tids_jw_object_end(&w);
	}
	tids_jw_array_end(&w);
	if (d->verdict != TIDS_POLICY_DENY) {
		struct tids_field *fields = calloc(rec->n_fields ? rec->n_fields : 1, sizeof(*fields));
		struct tids_record out;
		if (fields != NULL && tids_policy_apply(d, rec, &out, fields, rec->n_fields) == 0) {
			tids_jw_key(&w, "delivered");
			tids_jw_record(&w, &out);
		}
		free(fields);
	}
	tids_jw_object_end(&w);
	if (w.err == 0)
		printf("%.*s\n", (int)w.len, w.buf);
	else
		fprintf(stderr, "tidsctl: cannot write JSON: %s\n", tids_strerror(w.err));
	tids_jw_free(&w);
}

static void usage_explain(FILE *f)
{
	fprintf(f,
		"usage: tidsctl policy explain [-p POLICY]... [--json] [INPUT.json | -]\n"
		"\n"
		"Decides one record for one recipient and purpose and prints the decision,\n"
		"its obligations and every rule behind it; a denial, the grant or approval\n"
		"that nearly matched and what failed (or that none exists). INPUT (default: standard input):\n"
		"\n"
		"  {\"record\": {... as tidsctl publish reads it ...},\n"
		"   \"recipient\": \"PARTICIPANT-ID\", \"purpose\": \"PURPOSE\",\n"
		"   \"now\": \"2026-06-01T08:00:00Z\",                (default: the clock)\n"
		"   \"timezone\": \"Asia/Shanghai\",                  (the hub's; default UTC:\n"
		"                                               a date alone is its whole day there)\n"
		"   \"participants\": [{\"id\", \"role\", \"jurisdiction\", \"suspended\",\n"
		"                     \"attributes\": {\"NAME\": \"value\" | true | 1}}],\n"
		"   \"assets\": [{\"id\", \"lessee\", \"lessor\", \"site\", \"kind\"}],\n"
		"   \"grants\": [{\"id\", \"owner\", \"grantee\", \"assets\", \"categories\",\n"
		"               \"purposes\", \"not_before\", \"not_after\", \"max_uses\", \"uses\",\n"
		"               \"obligations\": {...}, \"revoked_at\", \"expired_at\"}],\n"
		"   \"approvals\": [{\"id\", \"kind\", \"regulator\", \"exporter\", \"recipient\",\n"
		"                  \"categories\", \"tiers\", \"purposes\", \"from\", \"to\",\n"
		"                  \"valid_from\", \"valid_until\", \"case\", \"revoked_at\"}],\n"
		"   \"counters\": [{\"name\", \"key\", \"period\", \"value\"}]}\n"
		"\n"
		"  -p, --policy FILE|DIR  policy to use (repeatable; default %s)\n"
		"      --json             print the decision as JSON, with the delivered record\n"
		"\n"
		"Exit status: 0 when a decision was made (whatever it is), 1 on bad input.\n",
		tidsctl_policy_default_dir());
}

int tidsctl_policy_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = { "record", "recipient", "purpose", "now", "timezone", "participants",
					    "assets", "grants", "approvals", "counters", NULL };
	struct tids_policy_tz *tz = NULL;
	struct policy_sources srcs = { 0 };
	struct tids_policy_set *set = NULL;
	struct tids_policy_facts *facts = NULL;
	struct tids_json_doc *doc = NULL;
	struct tids_record rec = { 0 };
	struct rd r = { .n_pool = 0 };
	char *text = NULL;
	bool json = false;
	int c, status = EXIT_FAIL;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (tidsctl_policy_add_path(&srcs, optarg, ".tidspol") != 0)
				goto out;
			break;
		case 'j': json = true; break;
		case 'h': usage_explain(stdout); status = EXIT_OK; goto out;
		default: usage_explain(stderr); status = EXIT_USAGE; goto out;
		}
	}
	if (argc - optind > 1) {
		usage_explain(stderr);
		status = EXIT_USAGE;
		goto out;
	}
	const char *input = optind < argc ? argv[optind] : "-";
	if (srcs.n == 0 && tidsctl_policy_add_path(&srcs, tidsctl_policy_default_dir(), ".tidspol") != 0)
		goto out;
	if (tidsctl_policy_compile(&srcs, &set, true) != 0)
		goto out;
	size_t len;
	text = tidsctl_policy_read_file(input, &len);
	if (text == NULL)
		goto out;
	if (tids_json_parse(text, len, &doc, r.err, sizeof(r.err)) != 0) {
		fprintf(stderr, "tidsctl: %s: %s\n", input, r.err);
		goto out;
	}
	const struct tids_json *root = tids_json_root(doc);
	if (known_keys(&r, root, "input", keys) != 0) {
		fprintf(stderr, "tidsctl: %s: %s\n", input, r.err);
		goto out;
	}
	const struct tids_json *jrec = tids_json_get(root, "record");
	const char *recipient = NULL, *purpose = NULL, *zone = NULL;
	/* the hub's calendar, before any time is read */
	if (get_str(&r, root, "timezone", "input", &zone) != 0) {
		fprintf(stderr, "tidsctl: %s: %s\n", input, r.err);
		goto out;
	}
	if (zone != NULL && strcmp(zone, "UTC") != 0) {
		if (cli_load_tz(NULL, zone, &tz, r.err, sizeof(r.err)) != 0) {
			fprintf(stderr, "tidsctl: %s: timezone: %s\n", input, r.err);
			goto out;
		}
		r.tz = tz;
	}
	int64_t now = (int64_t)time(NULL) * 1000;
	if (jrec == NULL || get_str(&r, root, "recipient", "input", &recipient) != 0 ||
	    get_str(&r, root, "purpose", "input", &purpose) != 0 || recipient == NULL ||
	    purpose == NULL) {
		fprintf(stderr, "tidsctl: %s: %s\n", input,
			r.err[0] ? r.err : "the input needs \"record\", \"recipient\" and \"purpose\"");
		goto out;
	}
	if (get_time(&r, root, "now", "input", &now) != 0) {
		fprintf(stderr, "tidsctl: %s: %s\n", input, r.err);
		goto out;
	}
	if (tids_json_to_record(jrec, &rec, r.err, sizeof(r.err)) != 0) {
		fprintf(stderr, "tidsctl: %s: record: %s\n", input, r.err);
		goto out;
	}
	facts = tids_policy_facts_new();
	if (facts == NULL)
		goto out;
	if (read_list(&r, facts, root, "participants", read_participant) != 0 ||
	    read_list(&r, facts, root, "assets", read_asset) != 0 ||
	    read_list(&r, facts, root, "grants", read_grant) != 0 ||
	    read_list(&r, facts, root, "approvals", read_approval) != 0 ||
	    read_list(&r, facts, root, "counters", read_counter) != 0) {
		fprintf(stderr, "tidsctl: %s: %s\n", input, r.err);
		goto out;
	}
	struct tids_policy_request req = { .record = &rec, .recipient = recipient, .purpose = purpose,
					   .now_ms = now, .tz = tz };
	struct tids_policy_decision *d = malloc(sizeof(*d));
	if (d == NULL)
		goto out;
	int rc = tids_policy_decide(set, facts, &req, d);
	if (rc != 0)
		fprintf(stderr, "tidsctl: the engine refused the request: %s\n", tids_strerror(rc));
	char fit[512];
	if (tids_policy_check_record(set, &rec, fit, sizeof(fit)) != 0)
		fprintf(stderr, "tidsctl: note: %s: ingest refuses this record\n", fit);
	enum tids_tier floor = tids_policy_tier_floor(set, rec.category);
	if (rec.tier != TIDS_TIER_UNSET && tids_record_effective_tier(&rec) < floor)
		fprintf(stderr, "tidsctl: note: category %s needs tier %s or higher (got %s): "
			"ingest refuses this record\n", rec.category, tids_tier_name(floor),
			tids_tier_name(tids_record_effective_tier(&rec)));
	if (json) {
		write_json(set, d, &rec);
	} else {
		char buf[8192];
		tids_policy_decision_format(set, d, &rec, buf, sizeof(buf));
		fputs(buf, stdout);
	}
	free(d);
	status = rc == 0 ? EXIT_OK : EXIT_FAIL;
out:
	tids_policy_tz_free(tz);
	pool_free(&r);
	tids_record_free(&rec);
	tids_json_free(doc);
	free(text);
	tids_policy_facts_free(facts);
	tids_policy_set_free(set);
	tidsctl_policy_sources_free(&srcs);
	return status;
}
