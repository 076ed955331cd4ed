/*
 * Obligations between the policy engine and the wire: a decision's
 * obligations as a Delivery carries them, and a grant's duties as a
 * SignedGrant carries them, both ways. The one place the two struct
 * families meet; the vocabulary's entries are converted by the table.
 */
#include <string.h>

#include "internal.h"
#include "tids/wire.h"

void tids_policy_obligations_to_wire(const struct tids_policy_decision *d, const struct tids_record *rec,
				     const char **names, size_t cap, struct tids_obligations *o)
{
	const struct tids_policy_obligations *po = &d->obligations;
	size_t n = 0;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; rec != NULL && i < rec->n_fields && n < cap; i++)
		if (tids_policy_field_removed(po, i))
			names[n++] = rec->fields[i].name;
	o->redacted = (struct tids_strlist){ names, n };
	o->retain_until_ms = po->retain_until_ms;
	if (po->aggregate) {
		o->aggregate.function = po->aggregation.function;
		o->aggregate.field = po->aggregation.field;
		o->aggregate.window_ms = po->aggregation.window_ms;
		o->aggregate.window_months = po->aggregation.window_months;
		o->aggregate.by = (struct tids_strlist){ po->aggregation.by, po->aggregation.n_by };
	}
	if (po->purposes_restricted)
		o->purposes = (struct tids_strlist){ po->purposes, po->n_purposes };
#define TIDS_OB_FLAG(name, summary) o->name = po->name;
#define TIDS_OB_LIST(name, word, check, summary) o->name = (struct tids_strlist){ po->name, po->n_##name };
#include "obligations.def"
}

void tids_policy_duties_from_wire(const struct tids_obligations *o, struct tids_policy_grant_duties *du)
{
	memset(du, 0, sizeof(*du));
	du->retain_until_ms = o->retain_until_ms;
	du->redact = o->redacted.items;
	du->n_redact = o->redacted.n;
	du->purposes = o->purposes.items;
	du->n_purposes = o->purposes.n;
	du->aggregate_function = o->aggregate.function;
	du->aggregate_field = o->aggregate.field;
	du->aggregate_window_ms = o->aggregate.window_ms;
	du->aggregate_window_months = o->aggregate.window_months;
	du->aggregate_by = o->aggregate.by.items;
	du->n_aggregate_by = o->aggregate.by.n;
#define TIDS_OB_FLAG(name, summary) du->name = o->name;
#define TIDS_OB_LIST(name, word, check, summary) \
	du->name = o->name.items;                \
	du->n_##name = o->name.n;
#include "obligations.def"
}

void tids_policy_duties_to_wire(const struct tids_policy_grant_duties *du, struct tids_obligations *o)
{
	memset(o, 0, sizeof(*o));
	o->retain_until_ms = du->retain_until_ms;
	o->redacted = (struct tids_strlist){ du->redact, du->n_redact };
	o->purposes = (struct tids_strlist){ du->purposes, du->n_purposes };
	if (du->aggregate_function != NULL && du->aggregate_function[0] != '\0') {
		o->aggregate.function = du->aggregate_function;
		o->aggregate.field = du->aggregate_field;
		o->aggregate.window_ms = du->aggregate_window_ms;
		o->aggregate.window_months = du->aggregate_window_months;
		o->aggregate.by = (struct tids_strlist){ du->aggregate_by, du->n_aggregate_by };
	}
#define TIDS_OB_FLAG(name, summary) o->name = du->name;
#define TIDS_OB_LIST(name, word, check, summary) o->name = (struct tids_strlist){ du->name, du->n_##name };
#include "obligations.def"
}

bool *tids_policy_ob_wire_flag(struct tids_obligations *o, unsigned flag)
{
	switch (flag) {
#define TIDS_OB_FLAG(name, summary) case TIDS_POLICY_OB_FLAG_##name: return &o->name;
#include "obligations.def"
	default: return NULL;
	}
}

struct tids_strlist *tids_policy_ob_wire_list(struct tids_obligations *o, unsigned list)
{
	switch (list) {
#define TIDS_OB_LIST(name, word, check, summary) case TIDS_POLICY_OB_LIST_##name: return &o->name;
#include "obligations.def"
	default: return NULL;
	}
}
