/*
 * Aggregation obligations: records a policy says to aggregate join a
 * tumbling window (by record time, aligned to the hub's calendar in
 * hub.timezone) per recipient, purpose, category and group (the `by` keys)
 * and owner; when a window has closed (its end plus a grace
 * period has passed), one aggregate record is delivered in its place. The
 * windows live on the state topic, written in the same transaction as the
 * records they absorb, so a crash neither loses nor double-counts one. A
 * record arriving after its window was emitted opens a correction window.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "router.h"
#include "tids/error.h"

void aggregate_record_id(const struct window *w, uint8_t id[TIDS_RECORD_ID_BYTES])
{
	crypto_generichash(id, TIDS_RECORD_ID_BYTES, (const uint8_t *)w->key, strlen(w->key), NULL, 0);
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* The value of one `by` key for rec. */
static const char *group_value(struct router *rt, const struct tids_record *rec, const char *by)
{
	const struct tids_asset *a;
	const struct tids_field *f;

	if (strcmp(by, "asset") == 0)
		return rec->asset_id;
	if (strcmp(by, "owner") == 0)
		return rec->owner;
	if (strcmp(by, "category") == 0)
		return rec->category;
	if (strcmp(by, "site") == 0) {
		a = tids_map_get_str(&rt->assets, rec->asset_id);
		return a != NULL ? a->site : "";
	}
	f = tids_record_field(rec, by);
	if (f != NULL && f->value.kind == TIDS_VALUE_TEXT)
		return (const char *)f->value.as.bytes.data;
	return "";
}

static bool numeric(const struct tids_value *v, double *out)
{
	switch (v->kind) {
	case TIDS_VALUE_INT:
		*out = (double)v->as.i;
		return true;
	case TIDS_VALUE_UINT:
		*out = (double)v->as.u;
		return true;
	case TIDS_VALUE_REAL:
		*out = v->as.d;
		return isfinite(v->as.d);
	default:
		return false;
	}
}

int aggregate_add(struct router *rt, int32_t partition, const struct tids_record *rec, const char *recipient,
		  const char *purpose, const struct tids_policy_decision *dec)
{
	const struct tids_policy_aggregation *spec = &dec->obligations.aggregation;
	char group[512] = "", key[sizeof(((struct window *)0)->key)];
	const struct tids_field *f;
	struct window *w;
	int64_t start, end;
	size_t glen = 0;
	double v;

	if (spec->window_ms <= 0 && spec->window_months <= 0)
		return TIDS_EINVAL;
	/* on the hub's calendar: a monthly window is a month of local time,
	 * not thirty days counted from 1970 */
	tids_policy_window(rt->tz, spec->window_months, spec->window_ms, rec->produced_at_ms, &start, &end);
	for (size_t i = 0; i < spec->n_by; i++)
		glen += (size_t)snprintf(group + glen, sizeof(group) - glen, "%s%s", i > 0 ? "/" : "",
					 group_value(rt, rec, spec->by[i]));
	/* One owner per window: an aggregate is a record, and a record has
	 * one owner; and the window lives with that owner's partition, where
	 * all its records are routed (ingress is keyed by owner). */
	snprintf(key, sizeof(key), "window/%s/%s/%s/%s/%s/%s/%s/%lld", rec->owner, recipient, purpose, rec->category,
		 spec->function, spec->field, group, (long long)start);
	w = tids_map_get_str(&rt->windows, key);
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return TIDS_ENOMEM;
		copy(w->key, sizeof(w->key), key);
		copy(w->recipient, sizeof(w->recipient), recipient);
		copy(w->purpose, sizeof(w->purpose), purpose);
		copy(w->function, sizeof(w->function), spec->function);
		copy(w->field, sizeof(w->field), spec->field);
		copy(w->group, sizeof(w->group), group);
		copy(w->owner, sizeof(w->owner), rec->owner);
		copy(w->category, sizeof(w->category), rec->category);
		copy(w->origin, sizeof(w->origin), rec->origin);
		copy(w->grant_id, sizeof(w->grant_id), dec->grant_id);
		/* The asset is named only if every contribution shares it. */
		for (size_t i = 0; i < spec->n_by; i++)
			if (strcmp(spec->by[i], "asset") == 0)
				copy(w->asset_id, sizeof(w->asset_id), rec->asset_id);
		for (size_t i = 0; i < dec->n_rules && w->n_rules < 8; i++)
			copy(w->rule_ids[w->n_rules++], sizeof(w->rule_ids[0]), dec->rule_ids[i]);
		w->start_ms = start;
		w->window_ms = end - start;         /* this window's own length */
		w->window_months = spec->window_months;
		w->min = INFINITY;
		w->max = -INFINITY;
		if (tids_map_put_str(&rt->windows, w->key, w, NULL) != 0) {
			free(w);
			return TIDS_ENOMEM;
		}
	}
	if (rec->tier > w->tier)
		w->tier = rec->tier;
	w->partition = partition;
	w->count++;
	f = tids_record_field(rec, spec->field);
	if (f != NULL && numeric(&f->value, &v)) {
		w->sum += v;
		w->min = v < w->min ? v : w->min;
		w->max = v > w->max ? v : w->max;
	}
	w->dirty = true;
	return 0;
}

static double result(const struct window *w)
{
	if (strcmp(w->function, "count") == 0)
		return (double)w->count;
	if (strcmp(w->function, "min") == 0)
		return isfinite(w->min) ? w->min : 0;
	if (strcmp(w->function, "max") == 0)
		return isfinite(w->max) ? w->max : 0;
	if (strcmp(w->function, "avg") == 0)
		return w->count > 0 ? w->sum / (double)w->count : 0;
	return w->sum;
}

static int emit(struct router *rt, struct window *w)
{
	char name[TIDS_NAME_MAX * 2 + 2];
	const char *rules[8];
	struct tids_field fields[4];
	struct tids_delivery del = { 0 };
	struct tids_audit_entry e = { 0 };
	const struct tids_participant *p = tids_map_get_str(&rt->participants, w->recipient);
	uint8_t hash[TIDS_HASH_BYTES];
	int r;

	snprintf(name, sizeof(name), "%s_%s", w->function, w->field);
	memset(fields, 0, sizeof(fields));
	fields[0].name = name;
	fields[0].value.kind = TIDS_VALUE_REAL;
	fields[0].value.as.d = result(w);
	fields[1].name = "contributions";
	fields[1].value.kind = TIDS_VALUE_UINT;
	fields[1].value.as.u = w->count;
	fields[2].name = "window_start_ms";
	fields[2].value.kind = TIDS_VALUE_INT;
	fields[2].value.as.i = w->start_ms;
	fields[3].name = "window_ms";
	fields[3].value.kind = TIDS_VALUE_INT;
	fields[3].value.as.i = w->window_ms;
	for (size_t i = 0; i < w->n_rules; i++)
		rules[i] = w->rule_ids[i];
	aggregate_record_id(w, del.record.record_id);
	del.record.owner = w->owner;
	del.record.asset_id = w->asset_id;
	del.record.category = w->category;
	del.record.tier = w->tier != TIDS_TIER_UNSET ? w->tier : TIDS_TIER_GENERAL;
	del.record.origin = w->origin;
	del.record.produced_at_ms = w->start_ms + w->window_ms;
	del.record.schema = "tids.aggregate/1";
	del.record.fields = fields;
	del.record.n_fields = 4;
	del.decision = TIDS_DECISION_TRANSFORM;
	del.rule_ids = (struct tids_strlist){ rules, w->n_rules };
	del.obligations.aggregate.function = w->function;
	del.obligations.aggregate.field = w->field;
	del.obligations.aggregate.window_ms = w->window_months > 0 ? 0 : w->window_ms;
	del.obligations.aggregate.window_months = w->window_months;
	del.grant_id = w->grant_id;
	del.purpose = w->purpose;
	del.decided_at_ms = now_ms();
	{
		bool unreachable;
		const char *hub = route_peer_of(rt, w->recipient, &unreachable);

		/* A recipient at a peer hub gets it through that hub's outbound
		 * topic (no publisher proof: this hub made the aggregate). */
		if (hub != NULL) {
			e.peer_hub = hub;
			r = route_export(rt, hub, w->recipient, &del, NULL, w->partition, hash);
		} else if (unreachable) {
			r = TIDS_ENOENT;
		} else {
			r = route_produce_delivery(rt, w->recipient, &del, w->grant_id, NULL, hash);
		}
	}
	if (r == TIDS_ENOENT) {
		/* Its home hub is no longer our peer: nothing to send it by. */
		e.decision = TIDS_DECISION_DENY;
		e.reason = "the recipient's home hub is no longer a peer; aggregate not delivered";
	} else if (r == TIDS_ECRYPTO && *w->grant_id != '\0') {
		/* The grant ended while the window was open: what it carried is
		 * not delivered, and the ledger says so. */
		e.decision = TIDS_DECISION_DENY;
		e.reason = "grant ended before the window closed; aggregate not delivered";
	} else if (r != 0) {
		return r;
	} else {
		e.decision = TIDS_DECISION_TRANSFORM;
		e.reason = "aggregate of a closed window";
		e.delivered_hash = (struct tids_bytes){ hash, TIDS_HASH_BYTES };
	}
	e.hub_id = rt->hub_id;
	memcpy(e.record_id, del.record.record_id, TIDS_RECORD_ID_BYTES);
	e.owner = w->owner;
	e.recipient = w->recipient;
	e.purpose = w->purpose;
	e.rule_ids = del.rule_ids;
	e.tier = del.record.tier;
	e.category = w->category;
	e.origin = w->origin;
	e.destination = p != NULL ? p->jurisdiction : "";
	e.grant_id = w->grant_id;
	e.decided_at_ms = del.decided_at_ms;
	e.ingress_offset = -1;
	/* What the aggregate said, in the chain: a usage bill rests on it. */
	e.has_aggregate = true;
	e.aggregate = (struct tids_aggregate_result){ w->function, w->field, w->start_ms, w->window_ms, w->count,
						      result(w) };
	e.obligations = del.obligations;
	e.asset_id = w->asset_id;
	if ((r = audit_append(rt, w->partition, &e)) != 0)
		return r;
	w->emitted = true;
	return 0;
}

int aggregate_emit_due(struct router *rt, int64_t now)
{
	size_t pos = 0;
	struct window *w;
	int r;

	while ((w = tids_map_next(&rt->windows, &pos)) != NULL)
		if (!w->emitted && w->start_ms + w->window_ms + ROUTER_WINDOW_GRACE_MS <= now &&
		    (r = emit(rt, w)) != 0)
			return r;
	return 0;
}

int state_window_restore(struct router *rt, int32_t partition, const char *key, const struct tids_aggregate_window *s)
{
	struct window *w = calloc(1, sizeof(*w));
	void *old;

	if (w == NULL)
		return TIDS_ENOMEM;
	copy(w->key, sizeof(w->key), key);
	copy(w->recipient, sizeof(w->recipient), s->recipient);
	copy(w->purpose, sizeof(w->purpose), s->purpose);
	copy(w->function, sizeof(w->function), s->function);
	copy(w->field, sizeof(w->field), s->field);
	copy(w->group, sizeof(w->group), s->group);
	copy(w->owner, sizeof(w->owner), s->header.owner);
	copy(w->asset_id, sizeof(w->asset_id), s->header.asset_id);
	copy(w->category, sizeof(w->category), s->header.category);
	copy(w->origin, sizeof(w->origin), s->header.origin);
	copy(w->grant_id, sizeof(w->grant_id), s->grant_id);
	for (size_t i = 0; i < s->rule_ids.n && w->n_rules < 8; i++)
		copy(w->rule_ids[w->n_rules++], sizeof(w->rule_ids[0]), s->rule_ids.items[i]);
	w->tier = s->header.tier;
	w->partition = partition;
	w->start_ms = s->start_ms;
	w->window_ms = s->window_ms;
	w->window_months = s->obligations.aggregate.window_months;
	w->count = s->count;
	w->sum = s->sum;
	w->min = s->min;
	w->max = s->max;
	if (tids_map_put_str(&rt->windows, w->key, w, &old) != 0) {
		free(w);
		return TIDS_ENOMEM;
	}
	free(old);
	return 0;
}

void aggregate_clear(struct router *rt)
{
	size_t pos = 0;
	struct window *w;

	while ((w = tids_map_next(&rt->windows, &pos)) != NULL)
		free(w);
	tids_map_free(&rt->windows);
}
