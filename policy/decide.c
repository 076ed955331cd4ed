/*
 * A decision: evaluate the candidate rules the index selects, in policy
 * order; default deny, forbid wins; then judge the record as it would be
 * delivered (after the removals the matching rules ask for, and the
 * demotions a refusal asks for) until nothing changes, and compose the
 * obligations of every rule that made the result. Allocates nothing.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

#define W TIDS_POLICY_FIELD_WORDS
#define CONTRIBUTORS_MAX 8

static bool permitted(const struct pass *p)
{
	return p->any_permit && !p->any_forbid;
}

/* Counts and flags only: list entries beyond a count are never read. */
static void clear_obligations(struct tids_policy_obligations *o)
{
	memset(o->removed, 0, sizeof(o->removed));
	memset(o->coarsened, 0, sizeof(o->coarsened));
	o->coarsen_to = NULL;
	o->aggregate = false;
	memset(&o->aggregation, 0, offsetof(struct tids_policy_aggregation, by));
	o->aggregation.n_by = 0;
	o->retain_until_ms = 0;
	o->log_retain_ms = 0;
#define TIDS_OB_FLAG(name, summary) o->name = false;
#define TIDS_OB_LIST(name, word, check, summary) o->n_##name = 0;
#include "obligations.def"
	o->purposes_restricted = false;
	o->n_purposes = 0;
	o->n_counts = 0;
}

/* The rules a decision names, gathered then listed in policy order. */
struct listing {
	uint32_t idx[POL_MATCHED_MAX + CONTRIBUTORS_MAX];
	size_t n;
};

static void note(struct listing *l, uint32_t ri)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->idx[i] == ri)
			return;
	if (l->n < sizeof(l->idx) / sizeof(l->idx[0]))
		l->idx[l->n++] = ri;
}

static void emit(const struct tids_policy_set *set, struct listing *l,
		 struct tids_policy_decision *d)
{
	for (size_t i = 1; i < l->n; i++) {
		uint32_t v = l->idx[i];
		size_t j = i;
		for (; j > 0 && l->idx[j - 1] > v; j--)
			l->idx[j] = l->idx[j - 1];
		l->idx[j] = v;
	}
	d->n_rules = 0;
	d->rules_truncated = l->n > TIDS_POLICY_DECISION_RULES;
	for (size_t i = 0; i < l->n && i < TIDS_POLICY_DECISION_RULES; i++)
		d->rule_ids[d->n_rules++] = set->rules[l->idx[i]].info.id;
}

static void deny(const struct tids_policy_set *set, const struct pass *p,
		 struct tids_policy_decision *d)
{
	d->verdict = TIDS_POLICY_DENY;
	clear_obligations(&d->obligations);
	d->grant_id = NULL;
	d->approval_id = NULL;
	d->case_id = NULL;
	d->n_rules = 0;
	d->rules_truncated = false;
	if (p == NULL)
		return;
	if (p->any_forbid) {
		d->deciding_rule = set->rules[p->first_forbid].info.id;
		d->because = set->rules[p->first_forbid].info.because;
	}
	struct listing l;
	l.n = 0;
	for (uint32_t i = 0; i < p->n; i++)
		if (set->rules[p->m[i].rule].info.kind != TIDS_POLICY_OBLIGE)
			note(&l, p->m[i].rule);
	emit(set, &l, d);
}

static bool any_bit(const uint64_t *w, size_t n_fields)
{
	for (size_t i = 0; i < n_fields && i < TIDS_FIELDS_MAX; i++)
		if (pol_bit_get(w, i))
			return true;
	return false;
}

static int allow(struct eval_ctx *ctx, const struct pass *p, const uint64_t removed[W],
		 const uint32_t *contributors, size_t n_contributors,
		 struct tids_policy_decision *d)
{
	const struct tids_policy_set *set = ctx->set;
	struct tids_policy_obligations *o = &d->obligations;
	int rc = 0;
	memcpy(o->removed, removed, sizeof(o->removed));
	d->deciding_rule = set->rules[p->first_permit].info.id;
	d->because = set->rules[p->first_permit].info.because;
	const struct fact_grant *grant = NULL;
	struct listing l;
	l.n = 0;
	for (uint32_t i = 0; i < p->n && rc == 0; i++) {
		const struct crule *r = &set->rules[p->m[i].rule];
		/* a rule that only demotes made this decision only if its
		 * demotion was applied: then it is among the contributors */
		if (!r->demote_only)
			note(&l, p->m[i].rule);
		if (grant == NULL && r->info.kind == TIDS_POLICY_PERMIT)
			grant = p->m[i].grant;
		rc = pol_compose(ctx, d, r, p->m[i].grant);
	}
	/* Rules of earlier passes whose removals shaped what is delivered. */
	for (size_t i = 0; i < n_contributors; i++)
		note(&l, contributors[i]);
	emit(set, &l, d);
	if (grant == NULL && p->escape_grant != NULL) {
		grant = p->escape_grant;
		if (rc == 0)
			rc = pol_compose_grant(d, grant, ctx->rec);
	}
	d->grant_id = grant != NULL ? pol_grant_id(grant) : NULL;
	d->approval_id = p->approval != NULL ? p->approval->id : NULL;
	bool transform = any_bit(o->removed, ctx->rec->n_fields) ||
			 any_bit(o->coarsened, ctx->rec->n_fields) || o->aggregate;
	d->verdict = transform ? TIDS_POLICY_TRANSFORM : TIDS_POLICY_ALLOW;
	return rc;
}

static void begin(struct tids_policy_decision *d)
{
	d->verdict = TIDS_POLICY_DENY;
	d->tier = TIDS_TIER_UNSET;
	d->because = TIDS_POLICY_DEFAULT_DENY;
	d->deciding_rule = NULL;
	d->n_rules = 0;
	d->rules_truncated = false;
	d->grant_id = NULL;
	d->approval_id = NULL;
	d->case_id = NULL;
	d->passes = 0;
	d->strbuf_used = 0;
	memset(&d->near, 0, sizeof(d->near));
	clear_obligations(&d->obligations);
}

/*
 * A purpose declared to need a case is served only under one, whatever the
 * rules permit: the decision names the case (for the audit entry of every
 * delivery it opens), or is refused. The owner needs no case for its own
 * data.
 */
static const char no_case[] = "this purpose is served only under an open case: no valid approval of its "
			      "kind with a case id names this recipient, the record's owner, category and tier, "
			      "signed by an active participant of a role that may open one";

static int open_case(struct eval_ctx *ctx, struct tids_policy_decision *d)
{
	const struct tids_policy_request *req = ctx->req;
	if (ctx->set->n_case_roles == 0 || !tids_policy_needs_case(ctx->set, req->purpose) ||
	    strcmp(req->recipient, req->record->owner) == 0)
		return 0;
	const struct tids_policy_approval *c = pol_find_case(ctx, d->tier);
	if (c == NULL) {
		enum tids_tier tier = d->tier;
		deny(ctx->set, NULL, d);
		d->tier = tier;
		d->deciding_rule = NULL;
		d->because = no_case;
		pol_near_case(ctx, tier, d);
		return 0;
	}
	d->case_id = c->case_id;
	if (d->approval_id == NULL)
		d->approval_id = c->id;
	return 0;
}

static bool valid_request(const struct tids_policy_request *req)
{
	const struct tids_record *r = req->record;
	return r != NULL && req->recipient != NULL && req->purpose != NULL &&
	       r->n_fields <= TIDS_FIELDS_MAX && (r->n_fields == 0 || r->fields != NULL);
}

int tids_policy_decide(const struct tids_policy_set *set, const struct tids_policy_facts *facts,
		       const struct tids_policy_request *req, struct tids_policy_decision *out)
{
	begin(out);
	if (set == NULL || facts == NULL || req == NULL || !valid_request(req)) {
		out->because = "malformed request";
		return TIDS_EINVAL;
	}
	if (req->record->tier == TIDS_TIER_UNSET) {
		out->because = "the record has no classification tier";
		return TIDS_ENOTIER;
	}
	struct eval_ctx ctx;
	struct pass passes[2];
	uint64_t removed[W] = { 0 };
	uint32_t contributors[CONTRIBUTORS_MAX];
	size_t n_contributors = 0;
	pol_eval_begin(&ctx, set, facts, req);

	const struct pass *final = NULL;
	enum tids_tier published = TIDS_TIER_UNSET;
	for (unsigned pass = 0; pass < POL_PASSES_MAX; pass++) {
		struct pass *p = &passes[pass == 0 ? 0 : 1];
		pol_eval_set_view(&ctx, removed);
		if (pass == 0)
			published = ctx.view_tier;       /* as published: nothing removed */
		pol_run_pass(&ctx, p);
		out->passes = pass + 1;
		if (p->overflow) {
			deny(set, NULL, out);
			out->because = "more rules match than a decision can account for";
			return TIDS_ETOOMANY;
		}
		uint64_t next[W];
		bool grows = false;
		for (size_t w = 0; w < W; w++) {
			next[w] = p->proposals[w] | (permitted(p) ? 0 : p->demotions[w]);
			grows |= (next[w] & ~removed[w]) != 0;
		}
		if (!grows) {
			final = p;
			break;
		}
		/* Remember which rules asked for what is now removed. */
		for (uint32_t i = 0; i < p->n && n_contributors < CONTRIBUTORS_MAX; i++) {
			const struct crule *r = &set->rules[p->m[i].rule];
			uint64_t mine[W] = { 0 }, dem[W] = { 0 };
			if (r->info.kind == TIDS_POLICY_FORBID || !r->has_field_obligations)
				continue;
			pol_rule_removals(&ctx, r, p->m[i].grant, mine, dem);
			bool adds = false;
			for (size_t w = 0; w < W; w++)
				adds |= ((mine[w] | (permitted(p) ? 0 : dem[w])) & ~removed[w]) != 0;
			if (adds)
				contributors[n_contributors++] = p->m[i].rule;
		}
		for (size_t w = 0; w < W; w++)
			removed[w] |= next[w];
	}
	out->tier = ctx.view_tier;
	if (final != NULL && permitted(final)) {
		int rc = allow(&ctx, final, removed, contributors, n_contributors, out);
		if (rc != 0) {
			deny(set, NULL, out);
			out->because = "the obligations exceed what a decision can carry";
			return rc;
		}
		return open_case(&ctx, out);
	}
	/* Refused: explain with the record as published, unless it was
	 * permitted as published and only refused once reduced. */
	const struct pass *why = permitted(&passes[0]) && final != NULL ? final : &passes[0];
	out->tier = published;
	deny(set, why, out);
	if (final == NULL && permitted(&passes[0])) {
		out->because = "the record's obligations did not settle on a deliverable form";
		return 0;
	}
	/* What the deciding forbid found missing, else what a permit needed. */
	const struct xnode *miss = why->any_forbid ? why->forbid_miss : why->permit_miss;
	if (miss != NULL) {
		if (why == &passes[0] && out->passes > 1) {
			uint64_t none[W] = { 0 };
			pol_eval_set_view(&ctx, none);    /* the record as published */
		}
		pol_near_miss(&ctx, miss, why->any_forbid ? why->first_forbid : why->permit_miss_rule, out);
	}
	return 0;
}

const char *tids_policy_verdict_name(enum tids_policy_verdict v)
{
	switch (v) {
	case TIDS_POLICY_ALLOW: return "allow";
	case TIDS_POLICY_DENY: return "deny";
	case TIDS_POLICY_TRANSFORM: return "transform";
	case TIDS_POLICY_UNDECIDED: break;
	}
	return "undecided";
}
