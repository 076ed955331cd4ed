/*
 * Runs a parsed scenario against a compiled set: replays the fact
 * statements into a fresh fact store, decides each case with the same
 * tids_policy_decide the daemon calls, and compares the decision with
 * what the case expects, describing every mismatch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "tids/error.h"

struct msg {
	char *buf;
	size_t len;
	size_t used;
};

static void say(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct msg *m, const char *fmt, ...)
{
	if (m->used + 1 >= m->len)
		return;
	if (m->used > 0) {
		int n = snprintf(m->buf + m->used, m->len - m->used, "; ");
		if (n > 0)
			m->used += (size_t)n;
		if (m->used >= m->len) {
			m->used = m->len - 1;
			return;
		}
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m->buf + m->used, m->len - m->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->used += (size_t)n;
	if (m->used >= m->len)
		m->used = m->len - 1;
}

static bool in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] != NULL && strcmp(list[i], s) == 0)
			return true;
	return false;
}

static int field_index(const struct tids_record *rec, const char *name)
{
	for (size_t i = 0; i < rec->n_fields; i++)
		if (strcmp(rec->fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void list_text(char *buf, size_t len, const char *const *v, size_t n)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		int w = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", v[i]);
		if (w < 0)
			return;
		o += (size_t)w;
	}
	if (n == 0)
		snprintf(buf, len, "none");
}

static void removed_text(char *buf, size_t len, const struct tids_policy_decision *d,
			 const struct tids_record *rec)
{
	const char *names[TIDS_FIELDS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < rec->n_fields; i++)
		if (tids_policy_field_removed(&d->obligations, i))
			names[n++] = rec->fields[i].name;
	list_text(buf, len, names, n);
}

static bool compares(int64_t have, enum expect_op op, int64_t want)
{
	switch (op) {
	case OP_GE: return have >= want;
	case OP_GT: return have > want;
	case OP_LE: return have <= want;
	case OP_LT: return have < want;
	case OP_EQ: break;
	}
	return have == want;
}

static const char *op_text(enum expect_op op)
{
	switch (op) {
	case OP_GE: return "at least ";
	case OP_GT: return "more than ";
	case OP_LE: return "at most ";
	case OP_LT: return "less than ";
	case OP_EQ: break;
	}
	return "";
}

static const char *ob_name(bool list, unsigned which)
{
	const struct tids_policy_ob_info *v;
	for (size_t i = 0; (v = tids_policy_ob_at(i)) != NULL; i++)
		if (v->list == list && v->index == which)
			return v->name;
	return "?";
}

static void check_expect(struct msg *m, const struct expect *e,
			 const struct tids_policy_decision *d, const struct tids_record *rec,
			 int64_t now, const struct tids_policy_tz *tz)
{
	const struct tids_policy_obligations *o = &d->obligations;
	char got[512];
	switch (e->kind) {
	case EX_BECAUSE:
		if ((d->because == NULL || strstr(d->because, e->text) == NULL) != e->negated)
			say(m, "reason %s\"%s\", got \"%s\"", e->negated ? "should not contain " : "",
			    e->text, d->because ? d->because : "");
		break;
	case EX_RULE:
		for (size_t i = 0; i < e->n_args; i++)
			if (in_list(d->rule_ids, d->n_rules, e->args[i]) == e->negated) {
				list_text(got, sizeof(got), d->rule_ids, d->n_rules);
				say(m, "rule %s should %sbe among the rules (%s)", e->args[i],
				    e->negated ? "not " : "", got);
			}
		break;
	case EX_REMOVES:
	case EX_KEEPS:
		for (size_t i = 0; i < e->n_args; i++) {
			int fi = field_index(rec, e->args[i]);
			if (fi < 0) {
				say(m, "the record has no field %s", e->args[i]);
				continue;
			}
			bool want_removed = (e->kind == EX_REMOVES) != e->negated;
			if (tids_policy_field_removed(o, (size_t)fi) != want_removed) {
				removed_text(got, sizeof(got), d, rec);
				say(m, "field %s should be %s (removed: %s)", e->args[i],
				    want_removed ? "removed" : "kept", got);
			}
		}
		break;
	case EX_AGGREGATE: {
		if (e->negated) {
			if (o->aggregate)
				say(m, "expected no aggregation, got %s of %s", o->aggregation.function,
				    o->aggregation.field);
			break;
		}
		bool ok = o->aggregate && strcmp(o->aggregation.function, e->args[0]) == 0 &&
			  strcmp(o->aggregation.field, e->args[1]) == 0 &&
			  o->aggregation.window_ms == e->num && o->aggregation.window_months == e->months;
		if (ok && e->n_args > 2) {
			ok = o->aggregation.n_by == e->n_args - 2;
			for (size_t i = 2; ok && i < e->n_args; i++)
				ok = in_list(o->aggregation.by, o->aggregation.n_by, e->args[i]);
		}
		if (!ok) {
			char w1[32], w2[32], by[128];
			tids_policy_format_calendar(e->months, e->num, w1, sizeof(w1));
			if (o->aggregate) {
				tids_policy_format_calendar(o->aggregation.window_months, o->aggregation.window_ms, w2,
							    sizeof(w2));
				list_text(by, sizeof(by), o->aggregation.by, o->aggregation.n_by);
				say(m, "expected aggregate %s %s every %s, got %s %s every %s by %s",
				    e->args[0], e->args[1], w1, o->aggregation.function,
				    o->aggregation.field, w2, by);
			} else {
				say(m, "expected aggregate %s %s every %s, got no aggregation", e->args[0],
				    e->args[1], w1);
			}
		}
		break;
	}
	case EX_COARSEN:
		for (size_t i = 0; i < e->n_args; i++) {
			int fi = field_index(rec, e->args[i]);
			if (fi < 0)
				say(m, "the record has no field %s", e->args[i]);
			else if (tids_policy_field_coarsened(o, (size_t)fi) == e->negated)
				say(m, "field %s should %sbe coarsened", e->args[i], e->negated ? "not " : "");
		}
		if (e->text != NULL && (o->coarsen_to == NULL || strcmp(o->coarsen_to, e->text) != 0))
			say(m, "expected coarsening to %s, got %s", e->text,
			    o->coarsen_to ? o->coarsen_to : "none");
		break;
	case EX_RETAIN:
	case EX_RETAIN_UNTIL: {
		int64_t want = e->kind == EX_RETAIN ? tids_policy_add(tz, now, e->months, e->num) : e->num;
		/* no retention limit is later than any time */
		int64_t have = o->retain_until_ms != 0 ? o->retain_until_ms : INT64_MAX;
		if (compares(have, e->op, want) == e->negated) {
			char w[48], g[48];
			tids_policy_format_time(want, w, sizeof(w));
			if (o->retain_until_ms)
				tids_policy_format_time(o->retain_until_ms, g, sizeof(g));
			else
				snprintf(g, sizeof(g), "no limit");
			say(m, "expected retention until %s%s%s, got %s", e->negated ? "not " : "", op_text(e->op),
			    w, g);
		}
		break;
	}
	case EX_LOG: {
		/* `log 6mo`: six months from now on the calendar, as the rule's is */
		int64_t want = tids_policy_add(tz, now, e->months, e->num) - now;
		if (compares(o->log_retain_ms, e->op, want) == e->negated) {
			char w[32], g[32];
			tids_policy_format_calendar(e->months, e->num, w, sizeof(w));
			tids_policy_format_duration(o->log_retain_ms, g, sizeof(g));
			say(m, "expected the audit entry kept %s%s%s, got %s", e->negated ? "not " : "",
			    op_text(e->op), w, g);
		}
		break;
	}
	case EX_OB_LIST: {
		size_t *n;
		const char *const *list = pol_ob_list((struct tids_policy_obligations *)o, e->which, &n);
		for (size_t i = 0; i < e->n_args; i++) {
			if (in_list(list, *n, e->args[i]) == e->negated) {
				list_text(got, sizeof(got), list, *n);
				say(m, "%s %s should %sbe there (%s)", ob_name(true, e->which), e->args[i],
				    e->negated ? "not " : "", got);
			}
		}
		break;
	}
	case EX_OB_FLAG:
		if (*pol_ob_flag((struct tids_policy_obligations *)o, e->which) == e->negated)
			say(m, "delivery should %scarry %s", e->negated ? "not " : "", ob_name(false, e->which));
		break;
	case EX_ONLY_FOR: {
		bool ok = o->purposes_restricted && o->n_purposes == e->n_args;
		for (size_t i = 0; ok && i < e->n_args; i++)
			ok = in_list(o->purposes, o->n_purposes, e->args[i]);
		if (ok == e->negated) {
			list_text(got, sizeof(got), o->purposes, o->n_purposes);
			say(m, "use should %sbe restricted to the listed purposes (%s%s)",
			    e->negated ? "not " : "", o->purposes_restricted ? "" : "unrestricted: ", got);
		}
		break;
	}
	case EX_COUNT: {
		bool found = false;
		for (size_t i = 0; i < o->n_counts && !found; i++) {
			const struct tids_policy_count *c = &o->counts[i];
			if (strcmp(c->counter, e->args[0]) != 0)
				continue;
			found = e->negated || (strcmp(c->key, e->args[1]) == 0 && c->period == e->num &&
					       c->amount == (uint64_t)e->num2);
		}
		if (found == e->negated) {
			if (e->negated)
				say(m, "counter %s should not be counted", e->args[0]);
			else
				say(m, "expected count %s[%s, %lld] += %lld", e->args[0], e->args[1],
				    (long long)e->num, (long long)e->num2);
		}
		break;
	}
	case EX_GRANT:
	case EX_APPROVAL:
	case EX_CASE: {
		const char *have = e->kind == EX_GRANT ? d->grant_id : e->kind == EX_APPROVAL ? d->approval_id
			: d->case_id;
		const char *what = e->kind == EX_GRANT ? "grant" : e->kind == EX_APPROVAL ? "approval" : "case";
		if (e->text == NULL) {
			if (have != NULL)
				say(m, "expected no %s, got %s", what, have);
		} else if ((have != NULL && strcmp(have, e->text) == 0) == e->negated) {
			say(m, "expected %s%s %s, got %s", e->negated ? "not " : "", what, e->text,
			    have ? have : "none");
		}
		break;
	}
	case EX_NEAR: {
		const struct tids_policy_near_miss *nm = &d->near;
		char have[160];
		snprintf(have, sizeof(have), "%s %s %s",
			 nm->kind == TIDS_POLICY_NEAR_GRANT ? "grant" : nm->kind == TIDS_POLICY_NEAR_APPROVAL ? "approval" : "none",
			 nm->id != NULL ? nm->id : "none", nm->code != 0 ? tids_policy_miss_name(nm->code) : "");
		if (e->which == TIDS_POLICY_NEAR_NONE) {
			if (nm->kind != TIDS_POLICY_NEAR_NONE)
				say(m, "expected no near miss, got %s", have);
			break;
		}
		bool same = nm->kind == (enum tids_policy_near_kind)e->which &&
			    (e->text == NULL ? nm->id == NULL : nm->id != NULL && strcmp(nm->id, e->text) == 0) &&
			    (e->num == 0 || (nm->failed & (UINT32_C(1) << e->num)) != 0);
		if (same == e->negated)
			say(m, "expected %snear %s %s%s%s, got %s", e->negated ? "no " : "",
			    e->which == TIDS_POLICY_NEAR_GRANT ? "grant" : "approval", e->text ? e->text : "none",
			    e->num > TIDS_POLICY_MISS_NONE ? " " : "",
			    e->num > TIDS_POLICY_MISS_NONE ? tids_policy_miss_name((enum tids_policy_miss)e->num) : "", have);
		break;
	}
	case EX_TIER:
		if ((d->tier == e->num) == e->negated)
			say(m, "expected to be judged at %s, got %s",
			    tids_tier_name((enum tids_tier)e->num), tids_tier_name(d->tier));
		break;
	}
}

static void judge(const struct scen_case *c, int rc, int64_t now, const struct tids_policy_tz *tz,
		  struct tids_policy_case_result *res)
{
	struct msg m = { .buf = res->message, .len = sizeof(res->message) };
	const struct tids_policy_decision *d = &res->decision;
	res->message[0] = '\0';
	if (c->bad != NULL) {
		say(&m, "column %u: the expectation is wrong: %s", c->bad_col, c->bad);
	} else if (c->reject) {
		if (rc == 0)
			say(&m, "expected the request to be rejected, got %s (%s)",
			    tids_policy_verdict_name(d->verdict), d->because);
		for (size_t i = 0; rc != 0 && i < c->n_exps; i++)
			if (c->exps[i].kind == EX_BECAUSE)
				check_expect(&m, &c->exps[i], d, &c->record->rec, now, tz);
	} else if (rc != 0) {
		say(&m, "expected %s, the engine refused: %s (%s)", tids_policy_verdict_name(c->verdict),
		    tids_strerror(rc), d->because);
	} else {
		if (d->verdict != c->verdict)
			say(&m, "expected %s, got %s because \"%s\"", tids_policy_verdict_name(c->verdict),
			    tids_policy_verdict_name(d->verdict), d->because);
		for (size_t i = 0; i < c->n_exps; i++)
			check_expect(&m, &c->exps[i], d, &c->record->rec, now, tz);
	}
	res->passed = m.used == 0;
}

/* What the daemon's ingest does before any decision: a record below the
 * tier floor of its category, or one that does not fit its category's
 * schema, never enters the hub. */
static int refuse_at_ingest(const struct tids_policy_set *set, const struct tids_record *rec,
			    struct tids_policy_decision *d)
{
	enum tids_tier floor = tids_policy_tier_floor(set, rec->category);
	enum tids_tier tier = tids_record_effective_tier(rec);
	char why[sizeof(d->strbuf) - 32];
	if (tids_policy_check_record(set, rec, why, sizeof(why)) != 0) {
		d->verdict = TIDS_POLICY_DENY;
		d->tier = tier;
		snprintf(d->strbuf, sizeof(d->strbuf), "%s: ingest refuses the record", why);
		d->because = d->strbuf;
		return TIDS_EINVAL;
	}
	if (rec->tier == TIDS_TIER_UNSET || tier >= floor)
		return 0;
	d->verdict = TIDS_POLICY_DENY;
	d->tier = tier;
	snprintf(d->strbuf, sizeof(d->strbuf),
		 "category %s needs tier %s or higher (got %s): ingest refuses the record",
		 rec->category, tids_tier_name(floor), tids_tier_name(tier));
	d->because = d->strbuf;
	return TIDS_EINVAL;
}

static int apply_step(struct tids_policy_facts *f, const struct scen_step *st, int64_t now, char *err,
		      size_t errlen)
{
	switch (st->kind) {
	case STEP_REVOKE:
		return strcmp(st->u.remove.what, "grant") == 0
			? tids_policy_facts_retire_grant(f, st->u.remove.id, true, now)
			: tids_policy_facts_revoke_approval(f, st->u.remove.id, now);
	case STEP_PARTICIPANT:
		return tids_policy_facts_put_participant(f, &st->u.participant, err, errlen);
	case STEP_ASSET:
		return tids_policy_facts_put_asset(f, &st->u.asset, err, errlen);
	case STEP_GRANT:
		return tids_policy_facts_put_grant(f, &st->u.grant, err, errlen);
	case STEP_APPROVAL:
		return tids_policy_facts_put_approval(f, &st->u.approval, err, errlen);
	case STEP_COUNTER:
		return tids_policy_facts_set_counter(f, st->u.counter.name, st->u.counter.key,
						     st->u.counter.period, st->u.counter.value);
	case STEP_USES:
		return tids_policy_facts_set_grant_uses(f, st->u.uses.grant, st->u.uses.uses);
	case STEP_REMOVE: {
		const char *w = st->u.remove.what, *id = st->u.remove.id;
		return strcmp(w, "participant") == 0 ? tids_policy_facts_remove_participant(f, id)
		     : strcmp(w, "asset") == 0 ? tids_policy_facts_remove_asset(f, id)
		     : strcmp(w, "grant") == 0 ? tids_policy_facts_remove_grant(f, id)
		     : tids_policy_facts_remove_approval(f, id);
	}
	case STEP_NOW:
	case STEP_CASE:
		return 0;
	}
	return 0;
}

int tids_policy_scenario_run(const struct tids_policy_scenario *s, const struct tids_policy_set *set,
			     size_t first, size_t count, tids_policy_case_fn *fn, void *ctx)
{
	struct tids_policy_facts *facts = tids_policy_facts_new();
	struct tids_policy_case_result *res = NULL;
	if (facts == NULL)
		return TIDS_ENOMEM;
	/* A result holds a whole decision: too big to keep on every stack. */
	res = calloc(1, sizeof(*res));
	if (res == NULL) {
		tids_policy_facts_free(facts);
		return TIDS_ENOMEM;
	}
	int failures = 0;
	int64_t now = 0;
	size_t index = 0;
	for (size_t i = 0; i < s->n_steps; i++) {
		const struct scen_step *st = &s->steps[i];
		char err[256] = "";
		if (st->kind == STEP_NOW) {
			now = st->u.now;
			continue;
		}
		if (st->kind != STEP_CASE) {
			int rc = apply_step(facts, st, now, err, sizeof(err));
			/* A broken statement is a scenario bug worth saying, once:
			 * by the run that starts at the first case. */
			if (rc != 0 && first == 0) {
				memset(res, 0, sizeof(*res));
				res->file = s->file;
				res->line = st->line;
				res->name = "(facts)";
				snprintf(res->message, sizeof(res->message), "line %u: %s%s%s", st->line,
					 tids_strerror(rc), err[0] ? ": " : "", err);
				if (fn != NULL)
					fn(ctx, res);
				failures++;
			}
			continue;
		}
		size_t this = index++;
		if (this < first || this - first >= count)
			continue;
		const struct scen_case *c = st->u.c;
		memset(res, 0, sizeof(*res));
		int64_t at = c->has_now ? c->now : now;
		const struct scen_record *sr = c->record;
		struct tids_policy_request req = {
			.record = &sr->rec, .recipient = c->recipient, .purpose = c->purpose,
			.now_ms = at, .via_hub = sr->via_hub, .hops = sr->hops > 16 ? 16 : (uint32_t)sr->hops,
			.onward = sr->for_recipient != NULL && (strcmp(sr->for_recipient, c->recipient) != 0 ||
								 strcmp(sr->for_purpose, c->purpose) != 0),
			.tz = s->tz,
		};
		res->file = s->file;
		res->line = c->line;
		res->name = c->name;
		res->record = &c->record->rec;
		res->decide_rc = refuse_at_ingest(set, req.record, &res->decision);
		if (res->decide_rc == 0)
			res->decide_rc = tids_policy_decide(set, facts, &req, &res->decision);
		judge(c, res->decide_rc, at, s->tz, res);
		if (!res->passed)
			failures++;
		if (fn != NULL)
			fn(ctx, res);
	}
	free(res);
	tids_policy_facts_free(facts);
	return failures;
}
