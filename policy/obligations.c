/*
 * Obligations: which fields a rule removes (redact, drop, keep, demote and
 * a grant's redactions), how the obligations of every rule that made a
 * decision compose to the most restrictive, and applying the field
 * obligations to a record in caller-provided storage.
 */
#include <string.h>

#include "internal.h"
#include "tids/error.h"

static bool selected(const struct tids_field *f, const struct xob *ob)
{
	for (uint32_t i = 0; i < ob->n_names; i++)
		if (strcmp(f->name, ob->names[i]) == 0)
			return true;
	for (uint32_t i = 0; i < ob->n_labels; i++)
		if (tids_field_has_label(f, ob->labels[i]))
			return true;
	return false;
}

void pol_select_fields(const struct tids_record *rec, const struct xob *ob,
		       uint64_t out[TIDS_POLICY_FIELD_WORDS])
{
	memset(out, 0, TIDS_POLICY_FIELD_WORDS * sizeof(uint64_t));
	for (size_t i = 0; i < rec->n_fields && i < TIDS_FIELDS_MAX; i++)
		if (selected(&rec->fields[i], ob))
			pol_bit_set(out, i);
}

void pol_rule_removals(const struct eval_ctx *ctx, const struct crule *r,
		       const struct fact_grant *grant,
		       uint64_t removals[TIDS_POLICY_FIELD_WORDS],
		       uint64_t demotions[TIDS_POLICY_FIELD_WORDS])
{
	const struct tids_record *rec = ctx->rec;
	size_t n = rec->n_fields < TIDS_FIELDS_MAX ? rec->n_fields : TIDS_FIELDS_MAX;
	uint64_t sel[TIDS_POLICY_FIELD_WORDS];
	for (uint32_t o = 0; o < r->n_obs; o++) {
		const struct xob *ob = &r->obs[o];
		switch ((enum ob_kind)ob->kind) {
		case OB_REDACT:
		case OB_DROP:
			pol_select_fields(rec, ob, sel);
			for (size_t w = 0; w < TIDS_POLICY_FIELD_WORDS; w++)
				removals[w] |= sel[w];
			break;
		case OB_KEEP:
			pol_select_fields(rec, ob, sel);
			for (size_t i = 0; i < n; i++)
				if (!pol_bit_get(sel, i))
					pol_bit_set(removals, i);
			break;
		case OB_DEMOTE: {
			/* only fields above the record's own tier (and its
			 * category's floor) lower it */
			enum tids_tier base = rec->tier > ctx->floor ? rec->tier : ctx->floor;
			if (ctx->view_tier <= base)
				break;
			pol_select_fields(rec, ob, sel);
			for (size_t i = 0; i < n; i++)
				if (pol_bit_get(sel, i) && rec->fields[i].tier > base)
					pol_bit_set(demotions, i);
			break;
		}
		default:
			break;
		}
	}
	if (grant != NULL && grant->duties != NULL)
		for (size_t k = 0; k < grant->duties->n_redact; k++)
			for (size_t i = 0; i < n; i++)
				if (strcmp(rec->fields[i].name, grant->duties->redact[k]) == 0)
					pol_bit_set(removals, i);
}

/* ---- composing ---- */

const char *pol_decision_string(struct tids_policy_decision *d, const struct val *v)
{
	if (v->p[v->len] == '\0')
		return v->p;
	if (d->strbuf_used + v->len + 1 > sizeof(d->strbuf))
		return NULL;
	char *s = d->strbuf + d->strbuf_used;
	memcpy(s, v->p, v->len);
	s[v->len] = '\0';
	d->strbuf_used += v->len + 1;
	return s;
}

static int add_unique(const char **list, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], s) == 0)
			return 0;
	if (*n >= TIDS_POLICY_LIST)
		return TIDS_ETOOMANY;
	list[(*n)++] = s;
	return 0;
}

/* Use is restricted to the intersection of every purpose list asked for. */
static void restrict_purposes(struct tids_policy_obligations *o, const char *const *purposes,
			      size_t n)
{
	if (!o->purposes_restricted) {
		o->purposes_restricted = true;
		o->n_purposes = 0;
		for (size_t i = 0; i < n && o->n_purposes < TIDS_POLICY_LIST; i++)
			add_unique(o->purposes, &o->n_purposes, purposes[i]);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < o->n_purposes; i++) {
		bool keep = false;
		for (size_t j = 0; j < n && !keep; j++)
			keep = strcmp(o->purposes[i], purposes[j]) == 0;
		if (keep)
			o->purposes[k++] = o->purposes[i];
	}
	o->n_purposes = k;
}

static void earliest(int64_t *until, int64_t t)
{
	if (t > 0 && (*until == 0 || t < *until))
		*until = t;
}

/* A window's length for comparing: a month as its average (30.436875
 * days); only which is longer matters. */
static double window_length(int64_t months, int64_t ms)
{
	return (double)months * 2629746000.0 + (double)ms;
}

static void set_aggregation(struct tids_policy_obligations *o, const char *fn, const char *field,
			    int64_t months, int64_t window, const char *const *by, size_t n_by)
{
	/* Of several aggregations the coarsest window reveals the least. */
	if (o->aggregate && window_length(months, window) <=
	    window_length(o->aggregation.window_months, o->aggregation.window_ms))
		return;
	o->aggregate = true;
	o->aggregation.function = fn;
	o->aggregation.field = field;
	o->aggregation.window_ms = window;
	o->aggregation.window_months = months;
	o->aggregation.n_by = 0;
	for (size_t i = 0; i < n_by && i < TIDS_POLICY_LIST; i++)
		o->aggregation.by[o->aggregation.n_by++] = by[i];
}

/* Appends the string values of e (a string or a list of them). */
static int strings_of(struct eval_ctx *ctx, struct tids_policy_decision *d, const struct xnode *e,
		      const char **out, size_t *n, size_t cap)
{
	struct val v;
	if (e->type == PT_LIST) {
		for (uint32_t i = 0; i < e->n_items; i++) {
			int rc = strings_of(ctx, d, e->items[i], out, n, cap);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	pol_eval(ctx, e, &v);
	const char *s = pol_decision_string(d, &v);
	if (s == NULL)
		return TIDS_ETOOMANY;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i], s) == 0)
			return 0;
	if (*n >= cap)
		return TIDS_ETOOMANY;
	out[(*n)++] = s;
	return 0;
}

static int add_count(struct tids_policy_obligations *o, const char *counter, const char *key,
		     int64_t period, int64_t amount)
{
	uint64_t a = amount > 0 ? (uint64_t)amount : 0;
	for (size_t i = 0; i < o->n_counts; i++) {
		struct tids_policy_count *c = &o->counts[i];
		if (strcmp(c->counter, counter) == 0 && strcmp(c->key, key) == 0 && c->period == period) {
			if (a > c->amount)
				c->amount = a;   /* two rules counting one delivery count it once */
			return 0;
		}
	}
	if (o->n_counts >= TIDS_POLICY_COUNTS)
		return TIDS_ETOOMANY;
	o->counts[o->n_counts++] = (struct tids_policy_count){
		.counter = counter, .key = key, .period = period, .amount = a,
	};
	return 0;
}

int pol_compose_grant(struct tids_policy_decision *d, const struct fact_grant *g,
		      const struct tids_record *rec)
{
	struct tids_policy_obligations *o = &d->obligations;
	const struct tids_policy_grant_duties *du = g->duties;
	int rc = 0;
	(void)rec;
	if (du == NULL)
		return 0;
	earliest(&o->retain_until_ms, du->retain_until_ms);
	/* the vocabulary's flags and lists */
	for (unsigned f = 0; f < TIDS_POLICY_OB_FLAGS; f++)
		*pol_ob_flag(o, f) |= pol_duty_flag(du, f);
	for (unsigned l = 0; l < TIDS_POLICY_OB_LISTS && rc == 0; l++) {
		size_t n, *have;
		const char *const *v = pol_duty_list(du, l, &n);
		const char **list = pol_ob_list(o, l, &have);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = add_unique(list, have, v[i]);
	}
	if (du->n_purposes > 0)
		restrict_purposes(o, du->purposes, du->n_purposes);
	if (du->aggregate_function != NULL && du->aggregate_function[0] != '\0')
		set_aggregation(o, du->aggregate_function, du->aggregate_field, du->aggregate_window_months,
				du->aggregate_window_ms, du->aggregate_by, du->n_aggregate_by);
	return rc;
}

int pol_compose(struct eval_ctx *ctx, struct tids_policy_decision *d, const struct crule *r,
		const struct fact_grant *grant)
{
	struct tids_policy_obligations *o = &d->obligations;
	const struct tids_record *rec = ctx->rec;
	int rc = 0;
	ctx->rule_grant = grant;          /* obligations may read grant.* */
	for (uint32_t i = 0; i < r->n_obs && rc == 0; i++) {
		const struct xob *ob = &r->obs[i];
		struct val v;
		switch ((enum ob_kind)ob->kind) {
		case OB_AGGREGATE:
			set_aggregation(o, ob->text, ob->field, ob->months, ob->ms, ob->by, ob->n_by);
			break;
		case OB_COARSEN: {
			uint64_t sel[TIDS_POLICY_FIELD_WORDS];
			pol_select_fields(rec, ob, sel);
			bool any = false;
			for (size_t w = 0; w < TIDS_POLICY_FIELD_WORDS; w++)
				any |= sel[w] != 0;
			if (!any)
				break;
			if (o->coarsen_to == NULL) {
				pol_eval(ctx, ob->expr, &v);
				o->coarsen_to = pol_decision_string(d, &v);
				if (o->coarsen_to == NULL)
					rc = TIDS_ETOOMANY;
			}
			for (size_t w = 0; w < TIDS_POLICY_FIELD_WORDS; w++)
				o->coarsened[w] |= sel[w];
			break;
		}
		case OB_RETAIN:
			earliest(&o->retain_until_ms,
				 tids_policy_add(ctx->req->tz, ctx->req->now_ms, ob->months, ob->ms));
			break;
		case OB_RETAIN_UNTIL:
			pol_eval(ctx, ob->expr, &v);
			earliest(&o->retain_until_ms, v.i);
			break;
		case OB_LOG: {
			/* from now, on the calendar: `log 6mo` is 181 to 184 days */
			int64_t now = ctx->req->now_ms;
			int64_t keep = tids_policy_add(ctx->req->tz, now, ob->months, ob->ms);
			keep = keep == INT64_MAX ? INT64_MAX : keep - now;
			if (keep > o->log_retain_ms)
				o->log_retain_ms = keep;
			break;
		}
		case OB_LIST: {
			size_t *n;
			const char **list = pol_ob_list(o, ob->which, &n);
			for (uint32_t k = 0; k < ob->n_exprs && rc == 0; k++)
				rc = strings_of(ctx, d, ob->exprs[k], list, n, TIDS_POLICY_LIST);
			break;
		}
		case OB_FLAG:
			*pol_ob_flag(o, ob->which) = true;
			break;
		case OB_ONLY_FOR: {
			const char *purposes[TIDS_POLICY_LIST];
			size_t n = 0;
			for (uint32_t k = 0; k < ob->n_exprs && rc == 0; k++)
				rc = strings_of(ctx, d, ob->exprs[k], purposes, &n, TIDS_POLICY_LIST);
			if (rc == 0)
				restrict_purposes(o, purposes, n);
			break;
		}
		case OB_COUNT: {
			struct val key, period, amount;
			pol_eval(ctx, ob->exprs[0], &key);
			pol_eval(ctx, ob->exprs[1], &period);
			pol_eval(ctx, ob->exprs[2], &amount);
			const char *k = pol_decision_string(d, &key);
			rc = k == NULL ? TIDS_ETOOMANY : add_count(o, ob->text, k, period.i, amount.i);
			break;
		}
		case OB_REDACT:
		case OB_DROP:
		case OB_KEEP:
		case OB_DEMOTE:
			break;        /* fields: decided before composing */
		}
	}
	if (rc == 0 && grant != NULL)
		rc = pol_compose_grant(d, grant, rec);
	ctx->rule_grant = NULL;
	return rc;
}

/* ---- applying ---- */

int tids_policy_apply(const struct tids_policy_decision *d, const struct tids_record *in,
		      struct tids_record *out, struct tids_field *fields, size_t cap)
{
	if (d->verdict != TIDS_POLICY_ALLOW && d->verdict != TIDS_POLICY_TRANSFORM)
		return TIDS_EDENIED;
	const struct tids_policy_obligations *o = &d->obligations;
	*out = *in;
	out->backing = NULL;
	out->release = NULL;
	out->fields = fields;
	size_t k = 0;
	enum tids_tier tier = in->tier;
	bool had_personal = false, kept_personal = false;
	for (size_t i = 0; i < in->n_fields; i++) {
		bool personal = tids_field_has_label(&in->fields[i], "personal");
		had_personal |= personal;
		if (tids_policy_field_removed(o, i))
			continue;
		kept_personal |= personal;
		if (k >= cap)
			return TIDS_ETOOMANY;
		fields[k] = in->fields[i];
		if (tids_policy_field_coarsened(o, i) && o->coarsen_to != NULL) {
			fields[k].value.kind = TIDS_VALUE_TEXT;
			fields[k].value.as.bytes.data = (const uint8_t *)o->coarsen_to;
			fields[k].value.as.bytes.len = strlen(o->coarsen_to);
		}
		if (fields[k].tier > tier)
			tier = fields[k].tier;
		k++;
	}
	out->n_fields = k;
	/* never below the tier it was judged at (a category's floor) */
	if (d->tier > tier)
		tier = d->tier;
	/* Every field labelled personal is gone: what is delivered no longer
	 * carries personal information (the policy's stripped("personal")).
	 * A record that flags personal information without labelling any
	 * field keeps its flags: nothing says where that information is. */
	if (had_personal && !kept_personal) {
		out->personal = false;
		out->sensitive_personal = false;
		out->individuals = 0;
	}
	if (tier != in->tier) {
		/* Fields that inherited the record's tier keep it explicitly,
		 * now that the record is judged at a higher one. */
		for (size_t i = 0; i < k; i++)
			if (fields[i].tier == TIDS_TIER_UNSET)
				fields[i].tier = in->tier;
		out->tier = tier;
	}
	return 0;
}
