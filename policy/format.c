/*
 * A decision in words, for `tidsctl policy explain` and for the scenario
 * runner's mismatch messages: verdict, reason, the rules with their files
 * and lines, and every obligation with the field names it touches.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct out {
	char *buf;
	size_t len;
	size_t used;              /* what would have been written */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->used < o->len ? o->len - o->used : 0;
	int n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
}

static void put_list(struct out *o, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(o, "%s%s", i ? ", " : "", v[i]);
}

static void put_fields(struct out *o, const uint64_t *bits, const struct tids_record *rec)
{
	bool first = true;
	for (size_t i = 0; i < TIDS_FIELDS_MAX; i++) {
		if (!pol_bit_get(bits, i))
			continue;
		if (rec != NULL && i < rec->n_fields)
			put(o, "%s%s", first ? "" : ", ", rec->fields[i].name);
		else
			put(o, "%sfield %zu", first ? "" : ", ", i);
		first = false;
	}
}

int tids_policy_decision_format(const struct tids_policy_set *set,
				const struct tids_policy_decision *d,
				const struct tids_record *rec, char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len };
	const struct tids_policy_obligations *ob = &d->obligations;
	char t[48];
	if (len > 0)
		buf[0] = '\0';
	put(&o, "decision: %s\n", tids_policy_verdict_name(d->verdict));
	put(&o, "because: %s\n", d->because != NULL ? d->because : "");
	if (d->tier != TIDS_TIER_UNSET)
		put(&o, "judged at tier: %s\n", tids_tier_name(d->tier));
	if (d->n_rules > 0) {
		put(&o, "rules:\n");
		for (size_t i = 0; i < d->n_rules; i++) {
			const struct tids_policy_rule_info *ri = tids_policy_set_rule(set, d->rule_ids[i]);
			if (ri != NULL)
				put(&o, "  %-6s %s  (%s:%u)%s\n", tids_policy_rule_kind_name(ri->kind),
				    ri->id, ri->file, ri->line,
				    d->deciding_rule != NULL && strcmp(d->deciding_rule, ri->id) == 0
				    ? "  <- decides" : "");
			else
				put(&o, "  %s\n", d->rule_ids[i]);
		}
		if (d->rules_truncated)
			put(&o, "  ... (more rules matched than a decision lists)\n");
	} else {
		put(&o, "rules: none matched\n");
	}
	if (d->grant_id != NULL)
		put(&o, "grant: %s\n", d->grant_id);
	if (d->approval_id != NULL)
		put(&o, "approval: %s\n", d->approval_id);
	if (d->case_id != NULL)
		put(&o, "case: %s\n", d->case_id);
	if (d->near.kind != TIDS_POLICY_NEAR_NONE) {
		char why[512];
		tids_policy_near_miss_format(&d->near, why, sizeof(why));
		put(&o, "nearly: %s (%s%s%s)\n", why, tids_policy_miss_name(d->near.code),
		    d->near.rule != NULL ? ", in rule " : "", d->near.rule != NULL ? d->near.rule : "");
	}
	if (d->verdict == TIDS_POLICY_DENY)
		return (int)o.used;
	bool any = false;
#define TIDS_OB_FLAG(name, summary) any |= ob->name;
#define TIDS_OB_LIST(name, word, check, summary) any |= ob->n_##name > 0;
#include "obligations.def"
	bool fields = false;
	for (size_t w = 0; w < TIDS_POLICY_FIELD_WORDS; w++)
		fields |= ob->removed[w] != 0;
	put(&o, "obligations:%s\n", any || ob->aggregate || ob->coarsen_to || ob->retain_until_ms ||
	    ob->log_retain_ms || ob->purposes_restricted || ob->n_counts ? "" : " none");
	any = fields;
	if (any) {
		put(&o, "  remove: ");
		put_fields(&o, ob->removed, rec);
		put(&o, "\n");
	}
	if (ob->coarsen_to != NULL) {
		put(&o, "  coarsen to \"%s\": ", ob->coarsen_to);
		put_fields(&o, ob->coarsened, rec);
		put(&o, "\n");
	}
	if (ob->aggregate) {
		tids_policy_format_calendar(ob->aggregation.window_months, ob->aggregation.window_ms, t, sizeof(t));
		put(&o, "  aggregate: %s of \"%s\" every %s", ob->aggregation.function,
		    ob->aggregation.field, t);
		if (ob->aggregation.n_by > 0) {
			put(&o, " by ");
			put_list(&o, ob->aggregation.by, ob->aggregation.n_by);
		}
		put(&o, "\n");
	}
	if (ob->retain_until_ms != 0) {
		tids_policy_format_time(ob->retain_until_ms, t, sizeof(t));
		put(&o, "  retain until: %s\n", t);
	}
	if (ob->log_retain_ms != 0) {
		tids_policy_format_duration(ob->log_retain_ms, t, sizeof(t));
		put(&o, "  keep audit entry: %s\n", t);
	}
#define TIDS_OB_FLAG(name, summary)          \
	if (ob->name)                         \
		put(&o, "  %s\n", #name);
#define TIDS_OB_LIST(name, word, check, summary) \
	if (ob->n_##name > 0) {                       \
		put(&o, "  %s: ", #name);             \
		put_list(&o, ob->name, ob->n_##name);  \
		put(&o, "\n");                        \
	}
#include "obligations.def"
	if (ob->purposes_restricted) {
		put(&o, "  use only for: ");
		if (ob->n_purposes == 0)
			put(&o, "(no purpose)");
		put_list(&o, ob->purposes, ob->n_purposes);
		put(&o, "\n");
	}
	for (size_t i = 0; i < ob->n_counts; i++)
		put(&o, "  count: %s[%s, %lld] += %llu\n", ob->counts[i].counter, ob->counts[i].key,
		    (long long)ob->counts[i].period, (unsigned long long)ob->counts[i].amount);
	return (int)o.used;
}
