/*
 * Hubs' statistics (statistics.proto) in the router thread: this hub's
 * own, which its indexer made and ingest published, and those peers
 * forward. Statistics travel from hub to hub, never to another hub's
 * participants: each hub keeps every hub's statistics once (an entry names
 * the hub itself as the recipient, so its ledger holds them), gives them
 * to its own regulators and passes them on to each of its peers but the
 * one they came from and the hub that made them, as the policies allow
 * (policy/default: onward transfer is refused for every other record, and
 * permitted for these; see 70-statistics.tidspol). A copy that arrives
 * another way later is audited as such and goes no further, so statistics
 * reach every hub the network connects, once each, and never go round a
 * circle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "tids/error.h"
#include "tids/statistics.h"

#define PURPOSE "statistics"

/* The period of the statistics a record carries (its summary fields; the
 * record passed the statistics gate where it entered). */
static bool period_of(const struct tids_record *rec, int64_t *start, int64_t *period)
{
	const struct tids_field *s = tids_record_field(rec, "period_start"), *p = tids_record_field(rec, "period_ms");

	if (s == NULL || p == NULL || s->value.kind != TIDS_VALUE_INT || p->value.kind != TIDS_VALUE_INT ||
	    p->value.as.i <= 0 || s->value.as.i < 0)
		return false;
	*start = s->value.as.i;
	*period = p->value.as.i;
	return true;
}

/* Is this the first copy of hub's statistics of the period here? If so,
 * remember it: a bit per period, 64 periods to a count on the state topic,
 * written in this transaction. Every copy of a hub's statistics is keyed
 * by that hub (ingest and import key records by owner), so all come on
 * one ingress partition, and the count lives with it. */
static bool first_copy(struct router *rt, int32_t partition, const char *hub, int64_t start, int64_t period)
{
	char key[sizeof(((struct count *)0)->key)];
	int64_t n = start / period;
	uint64_t bit = UINT64_C(1) << (n % 64);
	const struct count *c;

	snprintf(key, sizeof(key), "statistics/%s/%lld/%lld", hub, (long long)period, (long long)(n / 64));
	c = tids_map_get_str(&rt->counts, key);
	if (c != NULL && (c->value & bit) != 0)
		return false;
	state_count_add(rt, partition, key, bit);
	return true;
}

/* To this hub's regulators and its peers (onward: they were forwarded to
 * this hub, and go on from here). */
static int spread(struct router *rt, const struct route_ctx *ctx, bool onward, const char *from_hub)
{
	const struct subscriber *sub;
	const char *topic;
	size_t pos = 0;
	int r = 0;

	while (r == 0 && (sub = tids_map_next(&rt->subscribers, &pos)) != NULL) {
		const struct tids_participant *p = tids_map_get_str(&rt->participants, sub->id);

		/* Another hub's participants have their hub for that. */
		if (p != NULL && *p->home_hub != '\0' && strcmp(p->home_hub, rt->hub_id) != 0)
			continue;
		for (size_t i = 0; r == 0 && i < sub->n_purposes; i++)
			r = route_decide(rt, ctx, sub->id, sub->purposes[i], onward);
	}
	for (pos = 0; r == 0 && (topic = tids_map_next(&rt->peers, &pos)) != NULL;) {
		const char *peer = topic + strlen(rt->t_out_prefix);

		if ((from_hub != NULL && strcmp(peer, from_hub) == 0) || strcmp(peer, ctx->rec->owner) == 0)
			continue;
		r = route_decide(rt, ctx, peer, PURPOSE, onward);
	}
	return r;
}

int route_statistics(struct router *rt, const struct route_ctx *ctx)
{
	const struct tids_forward_info *fw = &ctx->ir->forwarded;
	int64_t start, period;
	int r;

	if (!period_of(ctx->rec, &start, &period)) {
		tids_log_warnx("router: statistics of %s without their period skipped", ctx->rec->owner);
		rt->skipped++;
		return 0;
	}
	if (!fw->present) {
		/* Ours: kept here (the ledger holds them), then spread. */
		first_copy(rt, ctx->m->partition, rt->hub_id, start, period);
		if ((r = route_decide(rt, ctx, rt->hub_id, PURPOSE, false)) != 0 || !rt->last_permitted)
			return r;
		return spread(rt, ctx, false, NULL);
	}
	if (!first_copy(rt, ctx->m->partition, ctx->rec->owner, start, period)) {
		struct tids_audit_entry e;
		char reason[400];

		/* Arrived another way before (or went round a circle). */
		rt->decisions++;
		rt->duplicates++;
		route_entry_for(rt, ctx->rec, ctx->m, fw->recipient, fw->purpose, &e);
		snprintf(reason, sizeof(reason), "statistics of hub %s for the period from %lld arrived before by another "
			 "way: not routed again", ctx->rec->owner, (long long)start);
		e.decision = TIDS_DECISION_DENY;
		e.tier = ctx->rec->tier;
		e.reason = reason;
		e.peer_hub = fw->from_hub;
		e.peer_partition = fw->entry_partition;
		e.peer_seq = fw->entry_seq;
		return audit_append(rt, ctx->m->partition, &e);
	}
	/* The import (the forward's recipient is this hub), then onward. */
	if ((r = route_decide(rt, ctx, fw->recipient, fw->purpose, false)) != 0 || !rt->last_permitted)
		return r;
	return spread(rt, ctx, true, fw->from_hub);
}
