/*
 * Imports, the destination's side of federation (router thread): a record
 * a peer hub forwarded is routed once (by the peer's position, kept in the
 * router's state in the same transaction), decided under this hub's import
 * policy for the recipient and purpose it was forwarded for, and audited
 * naming the export's entry at the peer. Anyone else this hub would give it
 * to receives it by onward transfer: decided as well, refused by default,
 * and never when the export carried the no_onward_transfer duty. The
 * exporting hub's duties travel with the delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "tids/error.h"
#include "tids/statistics.h"

static bool has(const char *const *items, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i], s) == 0)
			return true;
	return false;
}

/* Union of a and b into out (cap entries). */
static struct tids_strlist list_union(struct tids_strlist a, struct tids_strlist b, const char **out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < a.n && n < cap; i++)
		if (!has(out, n, a.items[i]))
			out[n++] = a.items[i];
	for (size_t i = 0; i < b.n && n < cap; i++)
		if (!has(out, n, b.items[i]))
			out[n++] = b.items[i];
	return (struct tids_strlist){ out, n };
}

void route_merge_obligations(struct tids_obligations *o, const struct tids_obligations *theirs,
			     struct oblig_merge *buf)
{
	if (theirs->retain_until_ms > 0 && (o->retain_until_ms == 0 || theirs->retain_until_ms < o->retain_until_ms))
		o->retain_until_ms = theirs->retain_until_ms;
	/* Every flag and list of the obligations vocabulary (policy/obligations.def):
	 * set by either, the union of both. Their notifications were theirs to
	 * send (to their participants): not carried on. */
	for (unsigned f = 0; f < TIDS_POLICY_OB_FLAGS; f++)
		*tids_policy_ob_wire_flag(o, f) |= *tids_policy_ob_wire_flag((struct tids_obligations *)theirs, f);
	for (unsigned l = 0; l < TIDS_POLICY_OB_LISTS; l++)
		if (l != TIDS_POLICY_OB_LIST_notify)
			*tids_policy_ob_wire_list(o, l) =
				list_union(*tids_policy_ob_wire_list(o, l),
					   *tids_policy_ob_wire_list((struct tids_obligations *)theirs, l), buf->lists[l],
					   sizeof(buf->lists[l]) / sizeof(buf->lists[l][0]));
	o->redacted = list_union(o->redacted, theirs->redacted, buf->redacted, sizeof(buf->redacted) / sizeof(buf->redacted[0]));
	/* Use restricted by both: the purposes both allow. */
	if (theirs->purposes.n > 0 && o->purposes.n > 0) {
		size_t n = 0;

		for (size_t i = 0; i < o->purposes.n; i++)
			if (has(theirs->purposes.items, theirs->purposes.n, o->purposes.items[i]) && n < TIDS_LIST_MAX)
				buf->purposes[n++] = o->purposes.items[i];
		o->purposes = (struct tids_strlist){ buf->purposes, n };
	} else if (theirs->purposes.n > 0) {
		o->purposes = theirs->purposes;
	}
	/* An aggregate stays one: the exporting hub made it. */
	if (o->aggregate.function == NULL && theirs->aggregate.function != NULL)
		o->aggregate = theirs->aggregate;
}

int route_import(struct router *rt, const struct route_ctx *ctx)
{
	const struct tids_forward_info *fw = &ctx->ir->forwarded;
	const rd_kafka_message_t *m = ctx->m;
	const struct subscriber *sub;
	size_t pos = 0;
	int r;

	if (!state_first_import(rt, m->partition, fw->from_hub, fw->position)) {
		/* Sent again after an ack was lost: routed already. */
		rt->duplicates++;
		return 0;
	}
	if (*fw->refused != '\0') {
		struct tids_audit_entry e;
		char reason[600];

		/* The checks at the link failed: audited, not delivered. */
		rt->decisions++;
		rt->denials++;
		route_entry_for(rt, ctx->rec, m, fw->recipient, fw->purpose, &e);
		snprintf(reason, sizeof(reason), "import from hub %s refused: %s", fw->from_hub, fw->refused);
		e.decision = TIDS_DECISION_DENY;
		e.tier = ctx->rec->tier;
		e.reason = reason;
		e.peer_hub = fw->from_hub;
		e.peer_partition = fw->entry_partition;
		e.peer_seq = fw->entry_seq;
		return audit_append(rt, m->partition, &e);
	}
	/* A hub's statistics go on from hub to hub (route_statistics.c). */
	if (tids_statistics_is_record(ctx->rec))
		return route_statistics(rt, ctx);
	if ((r = route_decide(rt, ctx, fw->recipient, fw->purpose, false)) != 0)
		return r;
	while ((sub = tids_map_next(&rt->subscribers, &pos)) != NULL)
		for (size_t i = 0; i < sub->n_purposes; i++) {
			if (strcmp(sub->id, fw->recipient) == 0 && strcmp(sub->purposes[i], fw->purpose) == 0)
				continue;
			if ((r = route_decide(rt, ctx, sub->id, sub->purposes[i], true)) != 0)
				return r;
		}
	return 0;
}
