/*
 * ODRL 2.2 (W3C) for the rest of the data-space world: tids grants, and the
 * standing rules of a policy set that ODRL can express, written as ODRL
 * policies in JSON-LD (compact, in the odrl.jsonld context that Eclipse
 * EDC and Catena-X use: "use" permissions whose constraints are one "and"
 * of atomic constraints); and an ODRL offer or agreement read back into a
 * grant, refusing, with the list, whatever tids cannot enforce. Pure: JSON
 * in, JSON out; an ODRL document is untrusted input (fuzz_odrl).
 *
 * The tids profile (https://w3id.org/tids/odrl/v1, prefix "tids:"):
 *
 *   policy  Agreement (a grant: assigner the owner, assignee the grantee),
 *           Set (a standing rule); "tids:hub" the hub it is issued to
 *   target  urn:tids:data:OWNER (the owner's data on the hub)
 *   parties urn:tids:participant:ID, urn:tids:role:ROLE
 *   constraints (permission, "and"-ed):
 *           tids:category isAnyOf [..]   tids:asset isAnyOf [..]
 *           purpose isAnyOf [..]         dateTime gteq / lteq (validity)
 *           count lteq N (uses)          spatial isAnyOf [countries]
 *           tids:tier, tids:recipientRole, tids:recipient, ... (rules)
 *   duties  delete (dateTime lteq T, or elapsedTime lteq D: retention)
 *           inform (informedParty: notify)
 *           tids:redact, tids:keep, tids:demote (tids:field / tids:label)
 *           tids:aggregate (tids:function, tids:field, tids:window, tids:by)
 *           tids:log (elapsedTime gteq D: audit retention)
 *           tids:NAME for the other flags and lists of obligations.def
 *   prohibitions
 *           distribute (no_onward_transfer)
 *           use with purpose isNoneOf [..] (use only for these purposes)
 *
 * Catena-X's UsagePurpose and DataUsageEndDate read as purpose and
 * dateTime lteq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "odrl.h"
#include "tids/error.h"

#define NS "https://w3id.org/tids/odrl/v1/"
#define PROFILE "https://w3id.org/tids/odrl/v1"

/* ---- writing ---- */

static void context(struct tids_jw *w)
{
	tids_jw_key(w, "@context");
	tids_jw_array_begin(w);
	tids_jw_string(w, "http://www.w3.org/ns/odrl.jsonld");
	tids_jw_object_begin(w);
	tids_jw_key(w, "tids");
	tids_jw_string(w, NS);
	tids_jw_key(w, "xsd");
	tids_jw_string(w, "http://www.w3.org/2001/XMLSchema#");
	tids_jw_object_end(w);
	tids_jw_array_end(w);
}

static void iri(struct tids_jw *w, const char *kind, const char *id)
{
	char buf[TIDS_NAME_MAX * 4 + 64];
	snprintf(buf, sizeof(buf), "urn:tids:%s:%s", kind, id);
	tids_jw_string(w, buf);
}

static void typed(struct tids_jw *w, const char *value, const char *type)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "@value");
	tids_jw_string(w, value);
	tids_jw_key(w, "@type");
	tids_jw_string(w, type);
	tids_jw_object_end(w);
}

static void datetime(struct tids_jw *w, int64_t ms)
{
	char t[48];
	tids_policy_format_time(ms, t, sizeof(t));
	typed(w, t, "xsd:dateTime");
}

/* An xsd:duration: P1Y6M, P30D, PT1H, PT1.5S (days of 24 hours; months
 * and years of the calendar). */
static void format_duration(int64_t months, int64_t ms, char *d, size_t len)
{
	size_t o = (size_t)snprintf(d, len, "P");
	int64_t days = ms / POL_MS_DAY, rest = ms % POL_MS_DAY;
	int64_t h = rest / POL_MS_HOUR, mi = rest / POL_MS_MINUTE % 60, s = rest / 1000 % 60, f = rest % 1000;
	if (months / 12 > 0)
		o += (size_t)snprintf(d + o, len - o, "%lldY", (long long)(months / 12));
	if (months % 12 > 0)
		o += (size_t)snprintf(d + o, len - o, "%lldM", (long long)(months % 12));
	if (days > 0)
		o += (size_t)snprintf(d + o, len - o, "%lldD", (long long)days);
	if (rest > 0) {
		o += (size_t)snprintf(d + o, len - o, "T");
		if (h > 0)
			o += (size_t)snprintf(d + o, len - o, "%lldH", (long long)h);
		if (mi > 0)
			o += (size_t)snprintf(d + o, len - o, "%lldM", (long long)mi);
		if (f > 0)
			o += (size_t)snprintf(d + o, len - o, "%lld.%03lldS", (long long)s, (long long)f);
		else if (s > 0)
			o += (size_t)snprintf(d + o, len - o, "%lldS", (long long)s);
	}
	if (months == 0 && ms == 0)
		snprintf(d, len, "PT0S");
}

static void duration(struct tids_jw *w, int64_t months, int64_t ms)
{
	char d[96];
	format_duration(months, ms, d, sizeof(d));
	typed(w, d, "xsd:duration");
}

/* {"leftOperand": left, "operator": op, "rightOperand": ...}: the value
 * written by the caller after this. */
static void atom(struct tids_jw *w, const char *left, const char *op)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "leftOperand");
	tids_jw_string(w, left);
	tids_jw_key(w, "operator");
	tids_jw_string(w, op);
	tids_jw_key(w, "rightOperand");
}

static void strings(struct tids_jw *w, const char *const *v, size_t n)
{
	tids_jw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		tids_jw_string(w, v[i]);
	tids_jw_array_end(w);
}

static void atom_strings(struct tids_jw *w, const char *left, const char *op, const char *const *v, size_t n)
{
	atom(w, left, op);
	strings(w, v, n);
	tids_jw_object_end(w);
}

/* "constraint": [c] or [{"and": [c, ...]}], the way EDC and Catena-X write
 * several. begin ... end around the atoms; n is how many will come. */
static void constraints_begin(struct tids_jw *w, size_t n)
{
	tids_jw_key(w, "constraint");
	tids_jw_array_begin(w);
	if (n > 1) {
		tids_jw_object_begin(w);
		tids_jw_key(w, "and");
		tids_jw_array_begin(w);
	}
}

static void constraints_end(struct tids_jw *w, size_t n)
{
	if (n > 1) {
		tids_jw_array_end(w);
		tids_jw_object_end(w);
	}
	tids_jw_array_end(w);
}

static void duty_action(struct tids_jw *w, const char *action)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "action");
	tids_jw_string(w, action);
}

static void aggregate_duty(struct tids_jw *w, const char *fn, const char *field, int64_t months, int64_t ms,
			   const char *const *by, size_t n_by)
{
	duty_action(w, "tids:aggregate");
	size_t n = n_by > 0 ? 4u : 3u;
	constraints_begin(w, n);
	atom(w, "tids:function", "eq");
	tids_jw_string(w, fn);
	tids_jw_object_end(w);
	atom(w, "tids:field", "eq");
	tids_jw_string(w, field != NULL ? field : "");
	tids_jw_object_end(w);
	atom(w, "tids:window", "eq");
	duration(w, months, ms);
	tids_jw_object_end(w);
	if (n_by > 0)
		atom_strings(w, "tids:by", "isAllOf", by, n_by);
	constraints_end(w, n);
	tids_jw_object_end(w);
}

static void inform_duty(struct tids_jw *w, const char *const *who, size_t n)
{
	duty_action(w, "inform");
	tids_jw_key(w, "informedParty");
	tids_jw_array_begin(w);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(who[i], "role:", 5) == 0)
			iri(w, "role", who[i] + 5);
		else
			iri(w, "participant", who[i]);
	}
	tids_jw_array_end(w);
	tids_jw_object_end(w);
}

/* The vocabulary's flags and lists, but notify (inform) and
 * no_onward_transfer (a prohibition of distribute). */
static bool ob_special(const char *name)
{
	return strcmp(name, "notify") == 0 || strcmp(name, "no_onward_transfer") == 0;
}

static void vocabulary_duties(struct tids_jw *w, struct tids_obligations *o)
{
	const struct tids_policy_ob_info *v;
	for (size_t i = 0; (v = tids_policy_ob_at(i)) != NULL; i++) {
		char action[80];
		if (ob_special(v->name))
			continue;
		snprintf(action, sizeof(action), "tids:%s", v->name);
		if (!v->list) {
			if (*tids_policy_ob_wire_flag(o, v->index)) {
				duty_action(w, action);
				tids_jw_object_end(w);
			}
			continue;
		}
		const struct tids_strlist *l = tids_policy_ob_wire_list(o, v->index);
		if (l->n == 0)
			continue;
		duty_action(w, action);
		constraints_begin(w, 1);
		atom_strings(w, "tids:value", "isAllOf", l->items, l->n);
		constraints_end(w, 1);
		tids_jw_object_end(w);
	}
}

/* What the recipient must do with a delivery under the grant. */
static void grant_duties(struct tids_jw *w, const struct tids_grant *g)
{
	struct tids_obligations o = g->obligations;
	const struct tids_strlist *notify = tids_policy_ob_wire_list(&o, TIDS_POLICY_OB_LIST_notify);
	tids_jw_key(w, "duty");
	tids_jw_array_begin(w);
	if (o.retain_until_ms != 0) {
		duty_action(w, "delete");
		constraints_begin(w, 1);
		atom(w, "dateTime", "lteq");
		datetime(w, o.retain_until_ms);
		tids_jw_object_end(w);
		constraints_end(w, 1);
		tids_jw_object_end(w);
	}
	if (notify->n > 0)
		inform_duty(w, notify->items, notify->n);
	if (o.redacted.n > 0) {
		duty_action(w, "tids:redact");
		constraints_begin(w, 1);
		atom_strings(w, "tids:field", "isAllOf", o.redacted.items, o.redacted.n);
		constraints_end(w, 1);
		tids_jw_object_end(w);
	}
	if (o.aggregate.function != NULL && *o.aggregate.function != '\0')
		aggregate_duty(w, o.aggregate.function, o.aggregate.field, o.aggregate.window_months,
			       o.aggregate.window_ms, o.aggregate.by.items, o.aggregate.by.n);
	vocabulary_duties(w, &o);
	tids_jw_array_end(w);
}

static void party(struct tids_jw *w, const char *key, const char *id)
{
	tids_jw_key(w, key);
	iri(w, "participant", id);
}

void tids_policy_odrl_grant(struct tids_jw *w, const struct tids_grant *g, const char *hub_id)
{
	char id[TIDS_NAME_MAX * 4 + 32];
	struct tids_obligations o = g->obligations;
	bool no_onward = *tids_policy_ob_wire_flag(&o, TIDS_POLICY_OB_FLAG_no_onward_transfer);
	tids_jw_object_begin(w);
	context(w);
	tids_jw_key(w, "@type");
	tids_jw_string(w, "Agreement");
	snprintf(id, sizeof(id), "urn:tids:grant:%s", g->grant_id);
	tids_jw_key(w, "@id");
	tids_jw_string(w, id);
	tids_jw_key(w, "profile");
	tids_jw_string(w, PROFILE);
	tids_jw_key(w, "conflict");
	tids_jw_string(w, "prohibit");
	if (hub_id != NULL && *hub_id != '\0') {
		tids_jw_key(w, "tids:hub");
		tids_jw_string(w, hub_id);
	}
	tids_jw_key(w, "permission");
	tids_jw_array_begin(w);
	tids_jw_object_begin(w);
	tids_jw_key(w, "target");
	iri(w, "data", g->owner);
	party(w, "assigner", g->owner);
	party(w, "assignee", g->grantee);
	tids_jw_key(w, "action");
	tids_jw_string(w, "use");
	size_t n = 2u + (g->assets.n > 0 ? 1u : 0u) + (g->not_before_ms != 0 ? 1u : 0u) +
		   (g->not_after_ms != 0 ? 1u : 0u) + (g->max_uses != 0 ? 1u : 0u);
	constraints_begin(w, n);
	atom_strings(w, "tids:category", "isAnyOf", g->categories.items, g->categories.n);
	if (g->assets.n > 0)
		atom_strings(w, "tids:asset", "isAnyOf", g->assets.items, g->assets.n);
	atom_strings(w, "purpose", "isAnyOf", g->purposes.items, g->purposes.n);
	if (g->not_before_ms != 0) {
		atom(w, "dateTime", "gteq");
		datetime(w, g->not_before_ms);
		tids_jw_object_end(w);
	}
	if (g->not_after_ms != 0) {
		atom(w, "dateTime", "lteq");
		datetime(w, g->not_after_ms);
		tids_jw_object_end(w);
	}
	if (g->max_uses != 0) {
		atom(w, "count", "lteq");
		tids_jw_uint64(w, g->max_uses);
		tids_jw_object_end(w);
	}
	constraints_end(w, n);
	grant_duties(w, g);
	tids_jw_object_end(w);
	tids_jw_array_end(w);
	if (no_onward || o.purposes.n > 0) {
		tids_jw_key(w, "prohibition");
		tids_jw_array_begin(w);
		if (no_onward) {
			tids_jw_object_begin(w);
			tids_jw_key(w, "target");
			iri(w, "data", g->owner);
			party(w, "assigner", g->owner);
			party(w, "assignee", g->grantee);
			tids_jw_key(w, "action");
			tids_jw_string(w, "distribute");
			tids_jw_object_end(w);
		}
		if (o.purposes.n > 0) {
			/* use only for these: using it for any other is prohibited */
			tids_jw_object_begin(w);
			tids_jw_key(w, "target");
			iri(w, "data", g->owner);
			party(w, "assigner", g->owner);
			party(w, "assignee", g->grantee);
			tids_jw_key(w, "action");
			tids_jw_string(w, "use");
			constraints_begin(w, 1);
			atom_strings(w, "purpose", "isNoneOf", o.purposes.items, o.purposes.n);
			constraints_end(w, 1);
			tids_jw_object_end(w);
		}
		tids_jw_array_end(w);
	}
	tids_jw_object_end(w);
}

/* ---- reading ---- */

/* The lists of struct tids_policy_odrl_grant: the grant's, and the
 * obligations' (the vocabulary's lists from L_VOCAB on). */
enum { L_CATEGORIES, L_ASSETS, L_PURPOSES, L_ONLY_FOR, L_REDACT, L_BY, L_VOCAB };
_Static_assert(L_VOCAB + TIDS_POLICY_OB_LISTS <= sizeof(((struct tids_policy_odrl_grant *)0)->n_lists) /
	       sizeof(size_t), "the lists fit");

struct rd {
	struct tids_policy_odrl_grant *out;
	const struct tids_policy_tz *tz;
	bool have_after;          /* not_after set */
};

static const char *keep(struct rd *r, const char *s, size_t n)
{
	struct tids_policy_odrl_grant *o = r->out;
	if (o->text_used + n + 1 > sizeof(o->text))
		return NULL;
	char *c = o->text + o->text_used;
	memcpy(c, s, n);
	c[n] = '\0';
	o->text_used += n + 1;
	return c;
}

static void problem(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct rd *r, const char *fmt, ...)
{
	struct tids_policy_odrl_grant *o = r->out;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < o->n_problems; i++)
		if (strcmp(o->problems[i], msg) == 0)
			return;
	const char *k = o->n_problems < TIDS_POLICY_ODRL_PROBLEMS ? keep(r, msg, strlen(msg)) : NULL;
	if (k == NULL) {
		o->more_problems = true;
		return;
	}
	o->problems[o->n_problems++] = k;
}

/* A term as the tids profile names it: ODRL's own without a prefix
 * (purpose, dateTime), ours as tids:NAME, Catena-X's bare (UsagePurpose). */
static const char *term(const char *s, char *buf, size_t len)
{
	static const char *const strip[] = {
		"http://www.w3.org/ns/odrl/2/", "odrl:", "https://w3id.org/catenax/2025/9/policy/",
		"https://w3id.org/catenax/policy/", "cx-policy:",
	};
	if (s == NULL)
		return "";
	if (strncmp(s, NS, strlen(NS)) == 0) {
		snprintf(buf, len, "tids:%s", s + strlen(NS));
		return buf;
	}
	for (size_t i = 0; i < sizeof(strip) / sizeof(strip[0]); i++)
		if (strncmp(s, strip[i], strlen(strip[i])) == 0)
			return s + strlen(strip[i]);
	return s;
}

/* A value's text: a string, {"@value": ...} or {"@id": ...}. */
static const char *text_of(const struct tids_json *v)
{
	if (v == NULL)
		return NULL;
	if (tids_json_type(v) == TIDS_JSON_STRING)
		return tids_json_string(v);
	if (tids_json_type(v) == TIDS_JSON_OBJECT) {
		const struct tids_json *x = tids_json_get(v, "@value");
		if (x == NULL)
			x = tids_json_get(v, "@id");
		if (x != NULL && tids_json_type(x) == TIDS_JSON_STRING)
			return tids_json_string(x);
	}
	return NULL;
}

/* The id in a tids IRI (urn:tids:KIND:ID), else the text as it is. */
static const char *unprefix(const char *s, const char *kind)
{
	char p[48];
	snprintf(p, sizeof(p), "urn:tids:%s:", kind);
	return s != NULL && strncmp(s, p, strlen(p)) == 0 ? s + strlen(p) : s;
}

/* A short rendering of a value, for problems. */
static void show(const struct tids_json *v, char *buf, size_t len)
{
	const char *t = text_of(v);
	if (t != NULL) {
		snprintf(buf, len, "%.80s", t);
	} else if (v != NULL && tids_json_type(v) == TIDS_JSON_ARRAY) {
		size_t o = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < tids_json_len(v) && o + 4 < len; i++) {
			const char *x = text_of(tids_json_at(v, i));
			int w = snprintf(buf + o, len - o, "%s%.40s", i ? ", " : "[", x != NULL ? x : "?");
			o += w > 0 ? (size_t)w : 0;
		}
		if (o + 2 < len)
			snprintf(buf + o, len - o, "]");
	} else if (v != NULL && tids_json_type(v) == TIDS_JSON_NUMBER) {
		snprintf(buf, len, "%g", tids_json_number(v));
	} else {
		snprintf(buf, len, "(a value)");
	}
}

static void add_item(struct rd *r, int list, const char *s, const char *what, bool (*valid)(const char *))
{
	struct tids_policy_odrl_grant *o = r->out;
	if (s == NULL || !valid(s)) {
		problem(r, "%s \"%.80s\" is not a tids name ([a-z0-9_], ids also . : -)", what, s != NULL ? s : "");
		return;
	}
	for (size_t i = 0; i < o->n_lists[list]; i++)
		if (strcmp(o->lists[list][i], s) == 0)
			return;
	if (o->n_lists[list] >= TIDS_LIST_MAX) {
		problem(r, "more than %d %ss", TIDS_LIST_MAX, what);
		return;
	}
	o->lists[list][o->n_lists[list]++] = s;
}

/* A right operand of names: a string or an array of them. */
static bool names(struct rd *r, const struct tids_json *v, int list, const char *what, const char *kind,
		  bool (*valid)(const char *))
{
	if (v != NULL && tids_json_type(v) == TIDS_JSON_ARRAY) {
		if (tids_json_len(v) == 0)
			return false;
		for (size_t i = 0; i < tids_json_len(v); i++)
			add_item(r, list, unprefix(text_of(tids_json_at(v, i)), kind), what, valid);
		return true;
	}
	const char *t = text_of(v);
	if (t == NULL)
		return false;
	add_item(r, list, unprefix(t, kind), what, valid);
	return true;
}

/* A time; a date alone is a day of the hub's calendar: its first instant,
 * or (end) its last. */
static bool time_value(struct rd *r, const struct tids_json *v, bool end, int64_t *ms)
{
	const char *t = text_of(v);
	return t != NULL && tids_policy_parse_time_tz(t, strlen(t), r->tz,
						      end ? TIDS_POLICY_DAY_END : TIDS_POLICY_DAY_START, ms) == 0;
}

/* An xsd:duration: PnYnMnWnDTnHnMn.nS (a day of 24 hours). */
static bool duration_value(const struct tids_json *v, int64_t *months, int64_t *ms)
{
	const char *s = text_of(v);
	bool time = false, any = false;
	*months = 0;
	*ms = 0;
	if (s == NULL || *s++ != 'P')
		return false;
	while (*s != '\0') {
		if (*s == 'T' && !time) {
			time = true;
			s++;
			continue;
		}
		char *end;
		long long n = strtoll(s, &end, 10);
		if (end == s || n < 0 || n > 100000000)
			return false;
		int64_t frac = 0;
		if (*end == '.' && time) {
			char *fe;
			long long f = strtoll(end + 1, &fe, 10);
			size_t digits = (size_t)(fe - end - 1);
			if (digits == 0 || digits > 3 || *fe != 'S' || f < 0)
				return false;
			frac = f;
			for (size_t k = digits; k < 3; k++)
				frac *= 10;
			end = fe;
		}
		switch (*end) {
		case 'Y': if (time) return false; *months += n * 12; break;
		case 'M': if (time) *ms += n * POL_MS_MINUTE; else *months += n; break;
		case 'W': if (time) return false; *ms += n * POL_MS_WEEK; break;
		case 'D': if (time) return false; *ms += n * POL_MS_DAY; break;
		case 'H': if (!time) return false; *ms += n * POL_MS_HOUR; break;
		case 'S': if (!time) return false; *ms += n * POL_MS_SECOND + frac; break;
		default: return false;
		}
		any = true;
		s = end + 1;
	}
	return any;
}

/* Calls fn for every atomic constraint of c (an object or an array),
 * "and"s flattened; any other logical constraint is a problem. */
typedef void atom_fn(struct rd *r, const char *where, const struct tids_json *c, void *ctx);

static void each_atom(struct rd *r, const char *where, const struct tids_json *c, atom_fn *fn, void *ctx,
		      unsigned depth)
{
	if (c == NULL)
		return;
	if (depth > 8) {
		problem(r, "%s: constraints nested too deep", where);
		return;
	}
	if (tids_json_type(c) == TIDS_JSON_ARRAY) {
		for (size_t i = 0; i < tids_json_len(c); i++)
			each_atom(r, where, tids_json_at(c, i), fn, ctx, depth + 1);
		return;
	}
	if (tids_json_type(c) != TIDS_JSON_OBJECT) {
		problem(r, "%s: a constraint that is not an object", where);
		return;
	}
	static const char *const logical[] = { "or", "xone", "andSequence", "odrl:or", "odrl:xone",
					       "odrl:andSequence" };
	for (size_t i = 0; i < sizeof(logical) / sizeof(logical[0]); i++)
		if (tids_json_get(c, logical[i]) != NULL) {
			problem(r, "%s: a \"%s\" of constraints: tids enforces constraints that all hold (and)", where,
				logical[i]);
			return;
		}
	const struct tids_json *and = tids_json_get(c, "and");
	if (and == NULL)
		and = tids_json_get(c, "odrl:and");
	if (and != NULL) {
		const struct tids_json *list = tids_json_get(and, "@list");
		each_atom(r, where, list != NULL ? list : and, fn, ctx, depth + 1);
		return;
	}
	fn(r, where, c, ctx);
}

/* leftOperand, operator and rightOperand of an atomic constraint. */
struct atom_parts {
	char lbuf[96];
	const char *left;
	const char *op;
	const struct tids_json *right;
	char shown[200];
};

static bool parts(struct rd *r, const char *where, const struct tids_json *c, struct atom_parts *p)
{
	char obuf[64];
	static const char *const known[] = { "leftOperand", "operator", "rightOperand", "@type", "uid", "@id",
					     "dataType", "odrl:leftOperand", "odrl:operator", "odrl:rightOperand" };
	p->left = term(text_of(tids_json_get(c, "leftOperand")), p->lbuf, sizeof(p->lbuf));
	if (*p->left == '\0')
		p->left = term(text_of(tids_json_get(c, "odrl:leftOperand")), p->lbuf, sizeof(p->lbuf));
	const char *op = text_of(tids_json_get(c, "operator"));
	if (op == NULL)
		op = text_of(tids_json_get(c, "odrl:operator"));
	p->op = term(op, obuf, sizeof(obuf));
	p->right = tids_json_get(c, "rightOperand");
	if (p->right == NULL)
		p->right = tids_json_get(c, "odrl:rightOperand");
	show(p->right, p->shown, sizeof(p->shown));
	if (*p->left == '\0' || op == NULL || p->right == NULL) {
		problem(r, "%s: a constraint without leftOperand, operator and rightOperand", where);
		return false;
	}
	/* the operator points into the document (term strips a prefix) */
	for (size_t i = 0; i < tids_json_len(c); i++) {
		const char *k = tids_json_key_at(c, i);
		bool ok = false;
		for (size_t j = 0; j < sizeof(known) / sizeof(known[0]) && !ok; j++)
			ok = strcmp(k, known[j]) == 0;
		if (!ok) {
			problem(r, "%s: constraint %s with \"%s\": tids cannot enforce it", where, p->left, k);
			return false;
		}
	}
	return true;
}

static bool op_is(const struct atom_parts *p, const char *a, const char *b)
{
	return strcmp(p->op, a) == 0 || (b != NULL && strcmp(p->op, b) == 0);
}

static void unenforceable(struct rd *r, const char *where, const struct atom_parts *p)
{
	static const struct {
		const char *left;
		const char *why;
	} reasons[] = {
		{ "spatial", "a grant does not say where its recipient may be; the hub's cross-border rules do" },
		{ "elapsedTime", "a grant's validity is its dates (dateTime gteq and lteq)" },
		{ "event", "tids does not see events outside the hub" },
		{ "payAmount", "tids does not take payments" },
		{ "FrameworkAgreement", "tids does not check Catena-X framework agreements" },
		{ "Membership", "tids does not check Catena-X membership; the hub's registry says who is a participant" },
		{ "BusinessPartnerNumber", "the grant's assignee names its recipient" },
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(p->left, reasons[i].left) == 0) {
			problem(r, "%s: constraint %s %s %s: %s", where, p->left, p->op, p->shown, reasons[i].why);
			return;
		}
	problem(r, "%s: constraint %s %s %s: tids cannot enforce it (not in its profile)", where, p->left, p->op,
		p->shown);
}

static bool valid_id(const char *s)
{
	return tids_valid_id(s);
}

static bool valid_name(const char *s)
{
	return tids_valid_name(s);
}

/* A constraint of the "use" permission. */
static void permission_atom(struct rd *r, const char *where, const struct tids_json *c, void *ctx)
{
	struct tids_grant *g = &r->out->grant;
	struct atom_parts p;
	(void)ctx;
	if (!parts(r, where, c, &p))
		return;
	if (strcmp(p.left, "tids:category") == 0 && op_is(&p, "isAnyOf", "eq")) {
		if (!names(r, p.right, L_CATEGORIES, "category", "category", valid_name))
			problem(r, "%s: tids:category needs a name or a list of them", where);
	} else if (strcmp(p.left, "tids:asset") == 0 && op_is(&p, "isAnyOf", "eq")) {
		if (!names(r, p.right, L_ASSETS, "asset", "asset", valid_id))
			problem(r, "%s: tids:asset needs an id or a list of them", where);
	} else if ((strcmp(p.left, "purpose") == 0 || strcmp(p.left, "UsagePurpose") == 0) &&
		   op_is(&p, "isAnyOf", "eq")) {
		if (!names(r, p.right, L_PURPOSES, "purpose", "purpose", valid_name))
			problem(r, "%s: %s needs a purpose or a list of them", where, p.left);
	} else if (strcmp(p.left, "dateTime") == 0 && op_is(&p, "gteq", "gt")) {
		/* after a date: from the day after */
		bool gt = op_is(&p, "gt", NULL);
		int64_t t;
		if (!time_value(r, p.right, gt, &t))
			problem(r, "%s: dateTime %s %s is not a date or time", where, p.op, p.shown);
		else if (g->not_before_ms == 0 || t + gt > g->not_before_ms)
			g->not_before_ms = t + gt;
	} else if ((strcmp(p.left, "dateTime") == 0 && op_is(&p, "lteq", "lt")) ||
		   (strcmp(p.left, "DataUsageEndDate") == 0 && op_is(&p, "eq", "lteq"))) {
		bool lt = op_is(&p, "lt", NULL);
		int64_t t;
		if (!time_value(r, p.right, !lt, &t))
			problem(r, "%s: %s %s %s is not a date or time", where, p.left, p.op, p.shown);
		else if (!r->have_after || t - lt < g->not_after_ms) {
			g->not_after_ms = t - lt;
			r->have_after = true;
		}
	} else if (strcmp(p.left, "count") == 0 && op_is(&p, "lteq", "lt")) {
		uint64_t n;
		if (tids_json_type(p.right) == TIDS_JSON_OBJECT) {
			const char *t = text_of(p.right);
			char *end;
			n = t != NULL ? strtoull(t, &end, 10) : 0;
			if (t == NULL || *end != '\0')
				n = 0;
		} else if (tids_json_uint64(p.right, &n) != 0) {
			n = 0;
		}
		if (op_is(&p, "lt", NULL) && n > 0)
			n--;
		if (n == 0 || n > UINT32_MAX)
			problem(r, "%s: count %s %s: a grant allows 1 to 4294967295 uses", where, p.op, p.shown);
		else if (g->max_uses == 0 || n < g->max_uses)
			g->max_uses = (uint32_t)n;
	} else if (strcmp(p.left, "tids:category") == 0 || strcmp(p.left, "tids:asset") == 0 ||
		   strcmp(p.left, "purpose") == 0 || strcmp(p.left, "UsagePurpose") == 0 ||
		   strcmp(p.left, "dateTime") == 0 || strcmp(p.left, "count") == 0) {
		problem(r, "%s: constraint %s %s %s: tids enforces %s only with %s", where, p.left, p.op, p.shown,
			p.left, strcmp(p.left, "dateTime") == 0 ? "gteq, gt, lteq and lt"
			: strcmp(p.left, "count") == 0 ? "lteq and lt" : "eq and isAnyOf");
	} else {
		unenforceable(r, where, &p);
	}
}

/* The parts of a duty: its action's term (with any refinement a problem)
 * and its own constraints. */
static const char *action_of(struct rd *r, const char *where, const struct tids_json *rule, char *buf, size_t len)
{
	const struct tids_json *a = tids_json_get(rule, "action");
	if (a != NULL && tids_json_type(a) == TIDS_JSON_ARRAY && tids_json_len(a) == 1)
		a = tids_json_at(a, 0);
	if (a != NULL && tids_json_type(a) == TIDS_JSON_OBJECT) {
		if (tids_json_get(a, "refinement") != NULL)
			problem(r, "%s: an action with a refinement: tids cannot enforce it", where);
		const struct tids_json *v = tids_json_get(a, "rdf:value");
		if (v != NULL)
			a = v;
	}
	const char *t = text_of(a);
	if (t == NULL) {
		problem(r, "%s: no action", where);
		return "";
	}
	return term(t, buf, len);
}

struct duty_ctx {
	const char *action;
	int64_t until;            /* delete: dateTime lteq */
	struct tids_aggregation agg;
	int agg_parts;
	int list;                 /* tids:redact / vocabulary list: the list filled */
	const char *kind;
};

static void duty_atom(struct rd *r, const char *where, const struct tids_json *c, void *vctx)
{
	struct duty_ctx *d = vctx;
	struct atom_parts p;
	if (!parts(r, where, c, &p))
		return;
	if (strcmp(d->action, "delete") == 0 && strcmp(p.left, "dateTime") == 0 && op_is(&p, "lteq", "lt")) {
		bool lt = op_is(&p, "lt", NULL);
		int64_t t;
		if (!time_value(r, p.right, !lt, &t))
			problem(r, "%s: delete by %s: not a date or time", where, p.shown);
		else
			d->until = t - lt;
		return;
	}
	if (strcmp(d->action, "tids:aggregate") == 0) {
		const char *v = text_of(p.right);
		if (strcmp(p.left, "tids:function") == 0 && op_is(&p, "eq", NULL) && v != NULL) {
			d->agg.function = v;
			d->agg_parts |= 1;
			return;
		}
		if (strcmp(p.left, "tids:field") == 0 && op_is(&p, "eq", NULL) && v != NULL) {
			d->agg.field = v;
			d->agg_parts |= 2;
			return;
		}
		if (strcmp(p.left, "tids:window") == 0 && op_is(&p, "eq", NULL) &&
		    duration_value(p.right, &d->agg.window_months, &d->agg.window_ms)) {
			d->agg_parts |= 4;
			return;
		}
		if (strcmp(p.left, "tids:by") == 0 && op_is(&p, "isAllOf", "eq")) {
			struct tids_policy_odrl_grant *o = r->out;
			if (names(r, p.right, L_BY, "grouping key", "by", valid_name))
				d->agg.by = (struct tids_strlist){ o->lists[L_BY], o->n_lists[L_BY] };
			return;
		}
	}
	if (d->list >= 0 && (strcmp(p.left, "tids:field") == 0 || strcmp(p.left, "tids:value") == 0) &&
	    op_is(&p, "isAllOf", "eq")) {
		if (!names(r, p.right, d->list, d->kind, d->kind,
			   strcmp(p.left, "tids:field") == 0 ? tids_valid_field_name : valid_name))
			problem(r, "%s: %s needs names", where, p.left);
		return;
	}
	problem(r, "%s: duty %s with constraint %s %s %s: tids cannot enforce it", where, d->action, p.left, p.op,
		p.shown);
}

static bool valid_notify(const char *s)
{
	return s != NULL && (strncmp(s, "role:", 5) == 0 ? tids_valid_name(s + 5) : tids_valid_id(s));
}

static void informed(struct rd *r, const char *where, const struct tids_json *who)
{
	int list = L_VOCAB + TIDS_POLICY_OB_LIST_notify;
	size_t n = who != NULL && tids_json_type(who) == TIDS_JSON_ARRAY ? tids_json_len(who) : 1;
	for (size_t i = 0; i < n; i++) {
		const char *t = text_of(who != NULL && tids_json_type(who) == TIDS_JSON_ARRAY ? tids_json_at(who, i) : who);
		if (t == NULL) {
			problem(r, "%s: inform needs an informedParty (urn:tids:participant:ID)", where);
			continue;
		}
		if (strncmp(t, "urn:tids:role:", 14) == 0) {
			char buf[TIDS_NAME_MAX + 8];
			snprintf(buf, sizeof(buf), "role:%.64s", t + 14);
			if (!tids_valid_name(t + 14))
				problem(r, "%s: informedParty %s: not a role name", where, t);
			else
				add_item(r, list, keep(r, buf, strlen(buf)), "informed party", valid_notify);
			continue;
		}
		const char *id = unprefix(t, "participant");
		/* "role:R" means every participant of role R: never an id */
		if (strncmp(id, "role:", 5) == 0)
			problem(r, "%s: informedParty %.80s: a participant id does not start with role:", where, t);
		else
			add_item(r, list, id, "informed party", valid_id);
	}
}

/* Keys a rule may carry besides those read. */
static void rule_keys(struct rd *r, const char *where, const struct tids_json *rule, const char *const *known)
{
	for (size_t i = 0; i < tids_json_len(rule); i++) {
		const char *k = tids_json_key_at(rule, i);
		bool ok = false;
		for (const char *const *p = known; *p != NULL && !ok; p++)
			ok = strcmp(k, *p) == 0;
		if (!ok)
			problem(r, "%s: \"%s\": tids cannot enforce it", where, k);
	}
}

/* One duty (of the permission, or an obligation of the policy). */
static void read_duty(struct rd *r, const char *where, const struct tids_json *duty)
{
	static const char *const keys[] = { "action", "constraint", "target", "assigner", "assignee", "informedParty",
					    "@type", "uid", "@id", NULL };
	struct tids_obligations *o = &r->out->grant.obligations;
	char buf[96];
	if (tids_json_type(duty) != TIDS_JSON_OBJECT) {
		problem(r, "%s: a duty that is not an object", where);
		return;
	}
	rule_keys(r, where, duty, keys);
	struct duty_ctx d = { .action = action_of(r, where, duty, buf, sizeof(buf)), .list = -1 };
	if (*d.action == '\0')
		return;
	if (strcmp(d.action, "inform") == 0) {
		informed(r, where, tids_json_get(duty, "informedParty"));
		each_atom(r, where, tids_json_get(duty, "constraint"), duty_atom, &d, 0);
		return;
	}
	if (strcmp(d.action, "delete") == 0) {
		each_atom(r, where, tids_json_get(duty, "constraint"), duty_atom, &d, 0);
		if (d.until == 0)
			problem(r, "%s: delete without dateTime lteq: tids enforces deletion by a date", where);
		else if (o->retain_until_ms == 0 || d.until < o->retain_until_ms)
			o->retain_until_ms = d.until;
		return;
	}
	if (strcmp(d.action, "tids:redact") == 0) {
		d.list = L_REDACT;
		d.kind = "field";
		each_atom(r, where, tids_json_get(duty, "constraint"), duty_atom, &d, 0);
		return;
	}
	if (strcmp(d.action, "tids:aggregate") == 0) {
		each_atom(r, where, tids_json_get(duty, "constraint"), duty_atom, &d, 0);
		if (d.agg_parts != 7 || (d.agg.window_ms > 0) == (d.agg.window_months > 0) ||
		    !tids_valid_name(d.agg.function) || !tids_valid_field_name(d.agg.field))
			problem(r, "%s: tids:aggregate needs tids:function, tids:field and one tids:window of months "
				"or of a fixed length", where);
		else
			o->aggregate = d.agg;
		return;
	}
	/* the vocabulary: tids:NAME */
	const struct tids_policy_ob_info *v = strncmp(d.action, "tids:", 5) == 0 ? tids_policy_ob_find(d.action + 5)
										 : NULL;
	if (v != NULL && strcmp(v->name, d.action + 5) == 0 && !ob_special(v->name)) {
		if (!v->list) {
			*tids_policy_ob_wire_flag(o, v->index) = true;
			each_atom(r, where, tids_json_get(duty, "constraint"), duty_atom, &d, 0);
			return;
		}
		d.list = L_VOCAB + (int)v->index;
		d.kind = v->name;
		each_atom(r, where, tids_json_get(duty, "constraint"), duty_atom, &d, 0);
		return;
	}
	problem(r, "%s: duty %s: tids cannot enforce it", where, d.action);
}

static void each(struct rd *r, const char *what, const struct tids_json *v,
		 void (*fn)(struct rd *, const char *, const struct tids_json *))
{
	char where[64];
	if (v == NULL)
		return;
	size_t n = tids_json_type(v) == TIDS_JSON_ARRAY ? tids_json_len(v) : 1;
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s %zu", what, i + 1);
		fn(r, where, tids_json_type(v) == TIDS_JSON_ARRAY ? tids_json_at(v, i) : v);
	}
}

/* A party: a tids participant IRI or id; a collection is a problem. */
static const char *read_party(struct rd *r, const char *where, const char *role, const struct tids_json *v)
{
	if (v == NULL)
		return NULL;
	if (tids_json_type(v) == TIDS_JSON_OBJECT && tids_json_get(v, "@value") == NULL &&
	    tids_json_get(v, "@id") == NULL) {
		problem(r, "%s: %s is a party collection: a grant names one participant", where, role);
		return NULL;
	}
	const char *id = unprefix(text_of(v), "participant");
	if (id == NULL || !tids_valid_id(id)) {
		problem(r, "%s: %s \"%.80s\" is not a participant of a hub (urn:tids:participant:ID)", where, role,
			id != NULL ? id : "");
		return NULL;
	}
	return id;
}

/* The same party throughout; the first met stands. */
static void set_party(struct rd *r, const char *where, const char *role, const char **have, const char *id)
{
	if (id == NULL)
		return;
	if (*have != NULL && strcmp(*have, id) != 0) {
		problem(r, "%s: %s %s, but %s elsewhere: a grant has one", where, role, id, *have);
		return;
	}
	*have = id;
}

static void read_target(struct rd *r, const char *where, const struct tids_json *t)
{
	if (t == NULL)
		return;
	const char *s = text_of(t);
	if (tids_json_type(t) == TIDS_JSON_OBJECT && tids_json_get(t, "@id") == NULL) {
		problem(r, "%s: the target is an asset collection: a grant covers categories (tids:category) and "
			"assets (tids:asset)", where);
		return;
	}
	if (s != NULL && strncmp(s, "urn:tids:data:", 14) == 0) {
		if (!tids_valid_id(s + 14))
			problem(r, "%s: target %.80s: not the data of a participant (urn:tids:data:ID)", where, s);
		else
			set_party(r, where, "assigner", &r->out->assigner, s + 14);
		return;
	}
	if (s != NULL && strncmp(s, "urn:tids:asset:", 15) == 0) {
		add_item(r, L_ASSETS, s + 15, "asset", valid_id);
		return;
	}
	problem(r, "%s: target %.80s: a grant covers its owner's data (urn:tids:data:OWNER) or assets "
		"(urn:tids:asset:ID)", where, s != NULL ? s : "(not an IRI)");
}

static void read_permission(struct rd *r, const char *where, const struct tids_json *p)
{
	static const char *const keys[] = { "action", "constraint", "duty", "target", "assigner", "assignee",
					    "@type", "uid", "@id", NULL };
	char buf[96];
	if (tids_json_type(p) != TIDS_JSON_OBJECT) {
		problem(r, "%s: not an object", where);
		return;
	}
	rule_keys(r, where, p, keys);
	const char *action = action_of(r, where, p, buf, sizeof(buf));
	if (*action != '\0' && strcmp(action, "use") != 0)
		problem(r, "%s: action %s: a grant permits use (delivery for the purposes it names)", where, action);
	read_target(r, where, tids_json_get(p, "target"));
	set_party(r, where, "assigner", &r->out->assigner, read_party(r, where, "assigner", tids_json_get(p, "assigner")));
	set_party(r, where, "assignee", &r->out->grant.grantee,
		  read_party(r, where, "assignee", tids_json_get(p, "assignee")));
	each_atom(r, where, tids_json_get(p, "constraint"), permission_atom, NULL, 0);
	each(r, "duty", tids_json_get(p, "duty"), read_duty);
}

/* A prohibition tids carries on deliveries: distribute (no onward
 * transfer), or use for any purpose but these (use only for them). */
static void prohibition_atom(struct rd *r, const char *where, const struct tids_json *c, void *ctx)
{
	struct atom_parts p;
	bool *purposes = ctx;
	if (!parts(r, where, c, &p))
		return;
	if ((strcmp(p.left, "purpose") == 0 || strcmp(p.left, "UsagePurpose") == 0) && op_is(&p, "isNoneOf", "neq") &&
	    names(r, p.right, L_ONLY_FOR, "purpose", "purpose", valid_name)) {
		*purposes = true;
		return;
	}
	problem(r, "%s: prohibition with constraint %s %s %s: tids cannot enforce it", where, p.left, p.op, p.shown);
}

static void read_prohibition(struct rd *r, const char *where, const struct tids_json *p)
{
	static const char *const keys[] = { "action", "constraint", "target", "assigner", "assignee", "@type", "uid",
					    "@id", NULL };
	char buf[96];
	if (tids_json_type(p) != TIDS_JSON_OBJECT) {
		problem(r, "%s: not an object", where);
		return;
	}
	rule_keys(r, where, p, keys);
	const char *action = action_of(r, where, p, buf, sizeof(buf));
	read_target(r, where, tids_json_get(p, "target"));
	set_party(r, where, "assigner", &r->out->assigner, read_party(r, where, "assigner", tids_json_get(p, "assigner")));
	set_party(r, where, "assignee", &r->out->grant.grantee,
		  read_party(r, where, "assignee", tids_json_get(p, "assignee")));
	const struct tids_json *c = tids_json_get(p, "constraint");
	if (strcmp(action, "distribute") == 0 && c == NULL) {
		*tids_policy_ob_wire_flag(&r->out->grant.obligations, TIDS_POLICY_OB_FLAG_no_onward_transfer) = true;
		return;
	}
	if (strcmp(action, "use") == 0 && c != NULL) {
		bool purposes = false;
		each_atom(r, where, c, prohibition_atom, &purposes, 0);
		if (purposes)
			return;
	}
	if (*action != '\0')
		problem(r, "%s: prohibition of %s%s: tids prohibits distribute, or use for other purposes (purpose "
			"isNoneOf)", where, action, c != NULL ? " under constraints" : "");
}

int tids_policy_odrl_read_grant(const struct tids_json *doc, const struct tids_policy_tz *tz,
				struct tids_policy_odrl_grant *out, char *err, size_t errlen)
{
	static const char *const types[] = { "Agreement", "Offer", "Set", "Policy", NULL };
	static const char *const keys[] = { "@context", "@type", "@id", "uid", "profile", "permission", "prohibition",
					    "obligation", "assigner", "assignee", "target", "conflict", "tids:hub",
					    NULL };
	struct rd r = { .out = out, .tz = tz };
	char buf[96];
	memset(out, 0, sizeof(*out));
	if (doc == NULL || tids_json_type(doc) != TIDS_JSON_OBJECT)
		return tids_fail(err, errlen, TIDS_EINVAL, "an ODRL policy is a JSON object");
	const char *type = term(text_of(tids_json_get(doc, "@type")), buf, sizeof(buf));
	bool known = false;
	for (const char *const *t = types; *t != NULL && !known; t++)
		known = strcmp(type, *t) == 0;
	if (!known)
		return tids_fail(err, errlen, TIDS_EINVAL, "\"@type\" \"%.60s\" is not an ODRL policy (Agreement, Offer, "
				 "Set or Policy)", type);
	if (tids_json_get(doc, "permission") == NULL)
		problem(&r, "policy: no permission: a grant permits use");
	/* the policy's own keys: metadata with a prefix (dc:title) is harmless */
	for (size_t i = 0; i < tids_json_len(doc); i++) {
		const char *k = tids_json_key_at(doc, i);
		bool ok = strchr(k, ':') != NULL && k[0] != '@' && strncmp(k, "odrl:", 5) != 0 &&
			  strncmp(k, "tids:", 5) != 0;
		for (const char *const *p = keys; *p != NULL && !ok; p++)
			ok = strcmp(k, *p) == 0;
		if (!ok)
			problem(&r, "policy: \"%s\": tids cannot enforce it", k);
	}
	const char *conflict = term(text_of(tids_json_get(doc, "conflict")), buf, sizeof(buf));
	if (*conflict != '\0' && strcmp(conflict, "prohibit") != 0)
		problem(&r, "policy: conflict %s: in tids a prohibition always wins", conflict);
	const char *id = unprefix(text_of(tids_json_get(doc, "@id")), "grant");
	if (id == NULL)
		id = unprefix(text_of(tids_json_get(doc, "uid")), "grant");
	out->grant.grant_id = id != NULL && tids_valid_id(id) ? id : NULL;
	const char *hub = text_of(tids_json_get(doc, "tids:hub"));
	out->hub_id = hub;
	/* parties and target may be given for the whole policy */
	read_target(&r, "policy", tids_json_get(doc, "target"));
	set_party(&r, "policy", "assigner", &out->assigner, read_party(&r, "policy", "assigner", tids_json_get(doc, "assigner")));
	set_party(&r, "policy", "assignee", &out->grant.grantee,
		  read_party(&r, "policy", "assignee", tids_json_get(doc, "assignee")));
	const struct tids_json *perm = tids_json_get(doc, "permission");
	if (tids_json_type(perm) == TIDS_JSON_ARRAY && tids_json_len(perm) > 1)
		problem(&r, "policy: %zu permissions: a grant is one (split the policy)", tids_json_len(perm));
	each(&r, "permission", perm, read_permission);
	each(&r, "prohibition", tids_json_get(doc, "prohibition"), read_prohibition);
	each(&r, "obligation", tids_json_get(doc, "obligation"), read_duty);

	/* what a grant cannot be without */
	struct tids_grant *g = &out->grant;
	g->owner = out->assigner;
	if (g->grantee == NULL)
		problem(&r, "no assignee: a grant names its recipient (urn:tids:participant:ID)");
	if (out->n_lists[L_CATEGORIES] == 0)
		problem(&r, "no tids:category constraint: a grant names the categories of data it covers");
	if (out->n_lists[L_PURPOSES] == 0)
		problem(&r, "no purpose constraint: a grant names the purposes it covers");
	if (!r.have_after)
		problem(&r, "no dateTime lteq constraint: a grant ends (its data key is destroyed then)");
	else if (g->not_after_ms < g->not_before_ms)
		problem(&r, "the dateTime constraints leave no time: it ends before it begins");
	g->categories = (struct tids_strlist){ out->lists[L_CATEGORIES], out->n_lists[L_CATEGORIES] };
	g->assets = (struct tids_strlist){ out->lists[L_ASSETS], out->n_lists[L_ASSETS] };
	g->purposes = (struct tids_strlist){ out->lists[L_PURPOSES], out->n_lists[L_PURPOSES] };
	g->obligations.purposes = (struct tids_strlist){ out->lists[L_ONLY_FOR], out->n_lists[L_ONLY_FOR] };
	g->obligations.redacted = (struct tids_strlist){ out->lists[L_REDACT], out->n_lists[L_REDACT] };
	for (unsigned l = 0; l < TIDS_POLICY_OB_LISTS; l++)
		*tids_policy_ob_wire_list(&g->obligations, l) =
			(struct tids_strlist){ out->lists[L_VOCAB + l], out->n_lists[L_VOCAB + l] };
	if (out->n_problems > 0 || out->more_problems)
		return tids_fail(err, errlen, TIDS_EPOLICY, "%zu%s term%s of the policy tids cannot enforce or lacks",
				 out->n_problems, out->more_problems ? "+" : "", out->n_problems == 1 ? "" : "s");
	return 0;
}

/* ---- standing rules ---- */

/* A test of the rule's condition ODRL can say: attribute, operator, values. */
struct term {
	const char *left;
	const struct insn *in;
	bool negated;
};

static const char *term_of_slot(const struct tids_policy_set *set, uint32_t slot)
{
	if (slot >= set->n_slots || set->slots[slot].src != SLOT_BUILTIN)
		return NULL;
	switch ((enum builtin)set->slots[slot].id) {
	case B_PURPOSE: return "purpose";
	case B_RECORD_CATEGORY: return "tids:category";
	case B_RECORD_TIER: return "tids:tier";
	case B_RECORD_ORIGIN: return "tids:origin";
	case B_RECORD_COUNTRY: return "tids:originCountry";
	case B_RECORD_OWNER: return "tids:owner";
	case B_RECORD_ASSET:
	case B_ASSET_ID: return "tids:asset";
	case B_RECORD_PERSONAL: return "tids:personal";
	case B_RCPT_ID: return "tids:recipient";
	case B_RCPT_ROLE: return "tids:recipientRole";
	case B_RCPT_COUNTRY: return "spatial";
	case B_RCPT_JURISDICTION: return "tids:recipientJurisdiction";
	case B_RCPT_REGISTERED: return "tids:recipientRegistered";
	case B_RCPT_SUSPENDED: return "tids:recipientSuspended";
	case B_PURPOSE_ALLOWED: return "tids:purposeDeclared";
	default: return NULL;
	}
}

/* The rule's condition as terms, when it is tests that all must hold of
 * attributes against values; else why not. */
static const char *conditions(const struct tids_policy_set *set, const struct crule *r, struct term *t, size_t cap,
			      size_t *n)
{
	*n = 0;
	if (r->code == NULL)
		return NULL;
	for (uint32_t i = 0;; i++) {
		const struct insn *in = &r->code[i];
		uint32_t next = i + 1;
		bool last = in->on_true == PC_MATCH || in->on_false == PC_MATCH;
		bool positive = (in->on_true == (last ? PC_MATCH : next)) && in->on_false == PC_NO_MATCH;
		bool negative = (in->on_false == (last ? PC_MATCH : next)) && in->on_true == PC_NO_MATCH;
		if (!positive && !negative)
			return "its condition joins tests with || (ODRL constraints all hold)";
		if (in->op == I_CONST) {
			if ((in->arg != 0) != positive)
				return "it can never match";
		} else if (in->op == I_SLOT_EQ) {
			return "it compares two attributes (such as recipient.id == record.owner)";
		} else if (in->op == I_EXPR) {
			return "it calls a function (grant(), approval(), ...) or computes a value";
		} else {
			const char *left = term_of_slot(set, in->slot);
			if (left == NULL)
				return "it tests an attribute the tids ODRL profile has no term for";
			if (*n >= cap)
				return "its condition has too many tests";
			t[(*n)++] = (struct term){ .left = left, .in = in, .negated = negative };
		}
		if (last)
			return NULL;
	}
}

static void write_term(struct tids_jw *w, const struct term *t)
{
	const struct insn *in = t->in;
	switch ((enum insn_op)in->op) {
	case I_STR_EQ:
		atom(w, t->left, t->negated ? "neq" : "eq");
		tids_jw_string_len(w, in->s, in->arg);
		break;
	case I_STR_IN:
		atom(w, t->left, t->negated ? "isNoneOf" : "isAnyOf");
		tids_jw_array_begin(w);
		for (uint32_t i = 0; i < in->arg; i++)
			tids_jw_string_len(w, in->items[i]->s, in->items[i]->len);
		tids_jw_array_end(w);
		break;
	case I_MASK: {
		/* a tier or bool: the values the test lets through (bit set, or
		 * not when negated; bools: 1 false, 2 true), one as eq */
		bool tier = strcmp(t->left, "tids:tier") == 0;
		int64_t lo = tier ? TIDS_TIER_GENERAL : 1, hi = tier ? TIDS_TIER_CORE : 2, only = -1;
		unsigned n = 0;
		for (int64_t c = lo; c <= hi; c++)
			if (((in->arg >> c) & 1u) != t->negated) {
				n++;
				only = c;
			}
		atom(w, t->left, n == 1 ? "eq" : "isAnyOf");
		if (n != 1)
			tids_jw_array_begin(w);
		for (int64_t c = lo; c <= hi; c++) {
			if (((in->arg >> c) & 1u) == t->negated || (n == 1 && c != only))
				continue;
			if (tier)
				tids_jw_string(w, tids_tier_name((enum tids_tier)c));
			else
				tids_jw_bool(w, c == 2);
		}
		if (n != 1)
			tids_jw_array_end(w);
		break;
	}
	default:
		atom(w, t->left, "eq");
		tids_jw_null(w);
		break;
	}
	tids_jw_object_end(w);
}

/* What one obligation of a rule becomes. */
enum spec_kind { SP_DELETE_WITHIN, SP_DELETE_BY, SP_LOG, SP_FIELDS, SP_AGGREGATE, SP_FLAG, SP_LIST, SP_INFORM,
		 SP_DISTRIBUTE, SP_ONLY_FOR };

struct spec {
	enum spec_kind kind;
	const struct xob *ob;
	const char *action;
};

static bool literal_strings(const struct xob *ob)
{
	for (uint32_t k = 0; k < ob->n_exprs; k++) {
		const struct xnode *e = ob->exprs[k];
		if (e->op == N_LIST) {
			for (uint32_t i = 0; i < e->n_items; i++)
				if (e->items[i]->op != N_STR)
					return false;
		} else if (e->op != N_STR) {
			return false;
		}
	}
	return true;
}

static const char *obligation_specs(const struct crule *r, struct spec *sp, size_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < r->n_obs && *n < POL_OBLIGATIONS_MAX; i++) {
		const struct xob *ob = &r->obs[i];
		struct spec s = { .ob = ob };
		switch ((enum ob_kind)ob->kind) {
		case OB_REDACT:
		case OB_DROP:
			s.kind = SP_FIELDS;
			s.action = "tids:redact";
			break;
		case OB_KEEP:
			s.kind = SP_FIELDS;
			s.action = "tids:keep";
			break;
		case OB_DEMOTE:
			s.kind = SP_FIELDS;
			s.action = "tids:demote";
			break;
		case OB_AGGREGATE:
			s.kind = SP_AGGREGATE;
			break;
		case OB_RETAIN:
			s.kind = SP_DELETE_WITHIN;
			break;
		case OB_RETAIN_UNTIL:
			if (ob->expr == NULL || ob->expr->op != N_TIME || ob->expr->fn == POL_TIME_DATE)
				return "it retains until a time computed per delivery";
			s.kind = SP_DELETE_BY;
			break;
		case OB_LOG:
			s.kind = SP_LOG;
			break;
		case OB_ONLY_FOR:
			if (!literal_strings(ob))
				return "its use-only-for purposes are computed per delivery";
			s.kind = SP_ONLY_FOR;
			break;
		case OB_FLAG: {
			const char *name = NULL;
			const struct tids_policy_ob_info *v;
			for (size_t k = 0; (v = tids_policy_ob_at(k)) != NULL; k++)
				if (!v->list && v->index == ob->which)
					name = v->name;
			s.kind = name != NULL && strcmp(name, "no_onward_transfer") == 0 ? SP_DISTRIBUTE : SP_FLAG;
			s.action = name;
			break;
		}
		case OB_LIST: {
			const struct tids_policy_ob_info *v;
			if (!literal_strings(ob))
				return "it notifies or names participants computed per delivery";
			for (size_t k = 0; (v = tids_policy_ob_at(k)) != NULL; k++)
				if (v->list && v->index == ob->which)
					s.action = v->name;
			s.kind = s.action != NULL && strcmp(s.action, "notify") == 0 ? SP_INFORM : SP_LIST;
			break;
		}
		case OB_COARSEN:
			return "it coarsens fields to a value computed per delivery";
		case OB_COUNT:
			return "it counts deliveries toward a counter of the hub";
		}
		sp[(*n)++] = s;
	}
	return NULL;
}

/* The values of a literal list obligation (strings, or lists of them). */
static void literal_values(struct tids_jw *w, const struct xob *ob, bool parties)
{
	for (uint32_t k = 0; k < ob->n_exprs; k++) {
		const struct xnode *e = ob->exprs[k];
		uint32_t n = e->op == N_LIST ? e->n_items : 1;
		for (uint32_t i = 0; i < n; i++) {
			const struct xnode *x = e->op == N_LIST ? e->items[i] : e;
			if (!parties) {
				tids_jw_string_len(w, x->s, x->len);
			} else {
				char buf[TIDS_NAME_MAX * 4 + 32];
				if (x->len > 5 && strncmp(x->s, "role:", 5) == 0)
					snprintf(buf, sizeof(buf), "urn:tids:role:%.*s", (int)x->len - 5, x->s + 5);
				else
					snprintf(buf, sizeof(buf), "urn:tids:participant:%.*s", (int)x->len, x->s);
				tids_jw_string(w, buf);
			}
		}
	}
}

/* A constraint list of the rule's terms and at most one more atom, which
 * the caller writes when extra is set (between begin and end). */
static void terms_begin(struct tids_jw *w, const struct term *t, size_t n, bool extra)
{
	size_t total = n + (extra ? 1u : 0u);
	if (total == 0)
		return;
	constraints_begin(w, total);
	for (size_t i = 0; i < n; i++)
		write_term(w, &t[i]);
}

static void terms_end(struct tids_jw *w, size_t n, bool extra)
{
	size_t total = n + (extra ? 1u : 0u);
	if (total > 0)
		constraints_end(w, total);
}

/* One duty; an oblige's carries the rule's condition (t, n) too. */
static void write_spec(struct tids_jw *w, const struct spec *s, const struct term *t, size_t n)
{
	const struct xob *ob = s->ob;
	char action[80];
	switch (s->kind) {
	case SP_DELETE_WITHIN:
	case SP_LOG:
		duty_action(w, s->kind == SP_LOG ? "tids:log" : "delete");
		terms_begin(w, t, n, true);
		atom(w, "elapsedTime", s->kind == SP_LOG ? "gteq" : "lteq");
		duration(w, ob->months, ob->ms);
		tids_jw_object_end(w);
		terms_end(w, n, true);
		break;
	case SP_DELETE_BY:
		duty_action(w, "delete");
		terms_begin(w, t, n, true);
		atom(w, "dateTime", "lteq");
		datetime(w, ob->expr->i);
		tids_jw_object_end(w);
		terms_end(w, n, true);
		break;
	case SP_FIELDS: {
		bool both = ob->n_names > 0 && ob->n_labels > 0;
		duty_action(w, s->action);
		size_t extra = both ? 2 : 1;
		constraints_begin(w, n + extra);
		for (size_t i = 0; i < n; i++)
			write_term(w, &t[i]);
		if (ob->n_names > 0)
			atom_strings(w, "tids:field", "isAllOf", ob->names, ob->n_names);
		if (ob->n_labels > 0)
			atom_strings(w, "tids:label", "isAllOf", ob->labels, ob->n_labels);
		constraints_end(w, n + extra);
		break;
	}
	case SP_AGGREGATE:
		/* written with its own constraints only: an oblige never aggregates
		 * (aggregation is a field obligation of permits) */
		aggregate_duty(w, ob->text, ob->field, ob->months, ob->ms, ob->by, ob->n_by);
		return;
	case SP_FLAG:
		snprintf(action, sizeof(action), "tids:%s", s->action);
		duty_action(w, action);
		terms_begin(w, t, n, false);
		terms_end(w, n, false);
		break;
	case SP_LIST:
		snprintf(action, sizeof(action), "tids:%s", s->action);
		duty_action(w, action);
		terms_begin(w, t, n, true);
		atom(w, "tids:value", "isAllOf");
		tids_jw_array_begin(w);
		literal_values(w, ob, false);
		tids_jw_array_end(w);
		tids_jw_object_end(w);
		terms_end(w, n, true);
		break;
	case SP_INFORM:
		duty_action(w, "inform");
		tids_jw_key(w, "informedParty");
		tids_jw_array_begin(w);
		literal_values(w, ob, true);
		tids_jw_array_end(w);
		terms_begin(w, t, n, false);
		terms_end(w, n, false);
		break;
	case SP_DISTRIBUTE:
	case SP_ONLY_FOR:
		return;                   /* prohibitions, written apart */
	}
	tids_jw_object_end(w);
}

static void write_prohibitions(struct tids_jw *w, const struct spec *sp, size_t n_sp, const struct term *t,
			       size_t n)
{
	for (size_t i = 0; i < n_sp; i++) {
		if (sp[i].kind != SP_DISTRIBUTE && sp[i].kind != SP_ONLY_FOR)
			continue;
		tids_jw_object_begin(w);
		tids_jw_key(w, "target");
		tids_jw_string(w, "urn:tids:data");
		tids_jw_key(w, "action");
		tids_jw_string(w, sp[i].kind == SP_DISTRIBUTE ? "distribute" : "use");
		bool extra = sp[i].kind == SP_ONLY_FOR;
		terms_begin(w, t, n, extra);
		if (extra) {
			atom(w, "purpose", "isNoneOf");
			tids_jw_array_begin(w);
			literal_values(w, sp[i].ob, false);
			tids_jw_array_end(w);
			tids_jw_object_end(w);
		}
		terms_end(w, n, extra);
		tids_jw_object_end(w);
	}
}

static bool has_prohibitions(const struct spec *sp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sp[i].kind == SP_DISTRIBUTE || sp[i].kind == SP_ONLY_FOR)
			return true;
	return false;
}

/* Could the permit serve a purpose declared to need a case? (Its purpose
 * test names one, or it has none while the set declares some.) */
static bool serves_a_case(const struct tids_policy_set *set, const struct term *t, size_t n)
{
	if (set->n_case_roles == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].left, "purpose") != 0)
			continue;
		const struct insn *in = t[i].in;
		char name[POL_IDENT_MAX * 2];
		if (t[i].negated)
			return true;
		if (in->op == I_STR_EQ) {
			snprintf(name, sizeof(name), "%.*s", (int)in->arg, in->s);
			return tids_policy_needs_case(set, name);
		}
		for (uint32_t k = 0; in->op == I_STR_IN && k < in->arg; k++) {
			snprintf(name, sizeof(name), "%.*s", (int)in->items[k]->len, in->items[k]->s);
			if (tids_policy_needs_case(set, name))
				return true;
		}
		return false;
	}
	return true;
}

size_t tids_policy_odrl_rules(struct tids_jw *w, const struct tids_policy_set *set, tids_policy_odrl_skip_fn *skipped,
			      void *ctx)
{
	size_t written = 0;
	struct term t[64];
	struct spec sp[POL_OBLIGATIONS_MAX];
	for (size_t i = 0; set != NULL && i < set->n_rules; i++) {
		const struct crule *r = &set->rules[i];
		size_t n, n_sp;
		const char *why = conditions(set, r, t, sizeof(t) / sizeof(t[0]), &n);
		if (why == NULL)
			why = obligation_specs(r, sp, &n_sp);
		if (why == NULL && r->info.kind == TIDS_POLICY_PERMIT && serves_a_case(set, t, n))
			why = "it may serve a purpose that needs an open case (a regulator's approval), which ODRL "
			      "cannot say";
		if (why != NULL) {
			if (skipped != NULL)
				skipped(ctx, r->info.id, why);
			continue;
		}
		char id[POL_IDENT_MAX + 32];
		snprintf(id, sizeof(id), "urn:tids:rule:%s", r->info.id);
		tids_jw_object_begin(w);
		context(w);
		tids_jw_key(w, "@type");
		tids_jw_string(w, "Set");
		tids_jw_key(w, "@id");
		tids_jw_string(w, id);
		tids_jw_key(w, "profile");
		tids_jw_string(w, PROFILE);
		/* tids' semantics: a prohibition always wins */
		tids_jw_key(w, "conflict");
		tids_jw_string(w, "prohibit");
		tids_jw_key(w, "tids:because");
		tids_jw_string(w, r->info.because);
		switch (r->info.kind) {
		case TIDS_POLICY_PERMIT:
			tids_jw_key(w, "permission");
			tids_jw_array_begin(w);
			tids_jw_object_begin(w);
			tids_jw_key(w, "target");
			tids_jw_string(w, "urn:tids:data");
			tids_jw_key(w, "action");
			tids_jw_string(w, "use");
			terms_begin(w, t, n, false);
			terms_end(w, n, false);
			if (n_sp > (has_prohibitions(sp, n_sp) ? 1u : 0u) || (n_sp > 0 && !has_prohibitions(sp, n_sp))) {
				tids_jw_key(w, "duty");
				tids_jw_array_begin(w);
				for (size_t k = 0; k < n_sp; k++)
					write_spec(w, &sp[k], NULL, 0);
				tids_jw_array_end(w);
			}
			tids_jw_object_end(w);
			tids_jw_array_end(w);
			if (has_prohibitions(sp, n_sp)) {
				tids_jw_key(w, "prohibition");
				tids_jw_array_begin(w);
				write_prohibitions(w, sp, n_sp, t, n);
				tids_jw_array_end(w);
			}
			break;
		case TIDS_POLICY_FORBID:
			tids_jw_key(w, "prohibition");
			tids_jw_array_begin(w);
			tids_jw_object_begin(w);
			tids_jw_key(w, "target");
			tids_jw_string(w, "urn:tids:data");
			tids_jw_key(w, "action");
			tids_jw_string(w, "use");
			terms_begin(w, t, n, false);
			terms_end(w, n, false);
			tids_jw_object_end(w);
			tids_jw_array_end(w);
			break;
		case TIDS_POLICY_OBLIGE:
			tids_jw_key(w, "obligation");
			tids_jw_array_begin(w);
			for (size_t k = 0; k < n_sp; k++)
				write_spec(w, &sp[k], t, n);
			tids_jw_array_end(w);
			if (has_prohibitions(sp, n_sp)) {
				tids_jw_key(w, "prohibition");
				tids_jw_array_begin(w);
				write_prohibitions(w, sp, n_sp, t, n);
				tids_jw_array_end(w);
			}
			break;
		}
		tids_jw_object_end(w);
		written++;
	}
	return written;
}
