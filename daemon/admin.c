/*
 * Admin reads: List and Show serve the registry's entries as stored (the
 * exact bytes that passed their gates, grants and approvals with their
 * signatures), in id order and a page at a time, so an operator can see who
 * is registered without opening registry.db.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tidsd.h"

enum { CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_INTERNAL = 13 };

/* Room left in a reply frame for the message around the entries, and what
 * an entry costs beyond its bytes (its id, tags and lengths). */
#define REPLY_SLACK 1024
#define ENTRY_COST (2 * TIDS_ID_MAX)

struct entry {
	char *id;
	uint8_t *blob;
	size_t len;
	int64_t revoked_at_ms;
	uint64_t acked;
	char **purposes;
	size_t n_purposes;
};

struct collect {
	struct tidsd *d;
	enum store_kind kind;
	const char *after, *only;
	size_t limit, budget, used;
	struct entry *e;
	size_t n;
	char last[TIDS_ID_MAX + 1];
	bool more;
	int err;
};

static const enum store_kind kinds[] = { STORE_PARTICIPANT, STORE_ASSET, STORE_PEER, STORE_GRANT, STORE_APPROVAL,
					 STORE_SUBSCRIPTION };

/* Subscriptions are stored as their purposes, one per line. */
static int split_purposes(struct entry *e)
{
	size_t i = 0;

	while (i < e->len) {
		size_t n = 0;
		char **p;

		while (i + n < e->len && e->blob[i + n] != '\n')
			n++;
		p = realloc(e->purposes, (e->n_purposes + 1) * sizeof(*p));
		if (p == NULL)
			return TIDS_ENOMEM;
		e->purposes = p;
		if ((p[e->n_purposes] = strndup((const char *)e->blob + i, n)) == NULL)
			return TIDS_ENOMEM;
		e->n_purposes++;
		i += n + 1;
	}
	return 0;
}

static int take(void *ctx, const char *id, const uint8_t *blob, size_t len)
{
	struct collect *c = ctx;
	struct entry *e;

	if (c->only != NULL && strcmp(id, c->only) != 0)
		return 0;
	if (c->after != NULL && strcmp(id, c->after) <= 0)
		return 0;
	/* A page holds at least one entry (each came in a frame of this size),
	 * so paging always moves on. */
	if (c->n == c->limit || (c->n > 0 && c->used + len + ENTRY_COST > c->budget)) {
		c->more = true;
		return 1;
	}
	e = realloc(c->e, (c->n + 1) * sizeof(*e));
	if (e == NULL)
		return c->err = TIDS_ENOMEM;
	c->e = e;
	e = &c->e[c->n];
	memset(e, 0, sizeof(*e));
	e->id = strdup(id);
	e->blob = malloc(len > 0 ? len : 1);
	if (e->id == NULL || e->blob == NULL) {
		free(e->id);
		free(e->blob);
		return c->err = TIDS_ENOMEM;
	}
	memcpy(e->blob, blob, len);
	e->len = len;
	c->n++;
	c->used += len + ENTRY_COST;
	snprintf(c->last, sizeof(c->last), "%s", id);
	if (c->kind == STORE_APPROVAL) {
		uint64_t at;

		if (store_get_u64(c->d->store, "approval_revoked", id, &at) == 0)
			e->revoked_at_ms = (int64_t)at;
	} else if (c->kind == STORE_SUBSCRIPTION) {
		if (store_get_u64(c->d->store, "egress", id, &e->acked) != 0)
			e->acked = 0;
		if (split_purposes(e) != 0)
			return c->err = TIDS_ENOMEM;
	}
	return 0;
}

static void entries_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		for (size_t j = 0; j < c->e[i].n_purposes; j++)
			free(c->e[i].purposes[j]);
		free(c->e[i].purposes);
		free(c->e[i].id);
		free(c->e[i].blob);
	}
	free(c->e);
	c->e = NULL;
	c->n = 0;
}

/* Puts the entries of c into the reply's arrays of c->kind. */
static int fill(struct tids_list_reply *rep, const struct collect *c)
{
	struct tids_bytes *b = NULL;

	if (c->n == 0)
		return 0;
	if (c->kind == STORE_APPROVAL) {
		rep->approvals = calloc(c->n, sizeof(*rep->approvals));
		if (rep->approvals == NULL)
			return TIDS_ENOMEM;
		for (size_t i = 0; i < c->n; i++)
			rep->approvals[i] = (struct tids_listed_approval){ { c->e[i].blob, c->e[i].len },
									   c->e[i].revoked_at_ms };
		rep->n_approvals = c->n;
		return 0;
	}
	if (c->kind == STORE_SUBSCRIPTION) {
		rep->subscriptions = calloc(c->n, sizeof(*rep->subscriptions));
		if (rep->subscriptions == NULL)
			return TIDS_ENOMEM;
		for (size_t i = 0; i < c->n; i++)
			rep->subscriptions[i] = (struct tids_listed_subscription){
				c->e[i].id, { (const char *const *)c->e[i].purposes, c->e[i].n_purposes }, c->e[i].acked };
		rep->n_subscriptions = c->n;
		return 0;
	}
	b = calloc(c->n, sizeof(*b));
	if (b == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		b[i] = (struct tids_bytes){ c->e[i].blob, c->e[i].len };
	switch (c->kind) {
	case STORE_PARTICIPANT: rep->participants = b; rep->n_participants = c->n; break;
	case STORE_ASSET: rep->assets = b; rep->n_assets = c->n; break;
	case STORE_PEER: rep->peers = b; rep->n_peers = c->n; break;
	default: rep->grants = b; rep->n_grants = c->n; break;
	}
	return 0;
}

static void reply_free(struct tids_list_reply *rep)
{
	free(rep->participants);
	free(rep->assets);
	free(rep->peers);
	free(rep->grants);
	free(rep->approvals);
	free(rep->subscriptions);
}

/* Collects kinds[from..to) (after/only as the request says) and replies. */
static void serve(struct tidsd *d, struct session *s, uint64_t call_id, size_t from, size_t to, const char *after,
		  const char *only, size_t limit)
{
	struct collect c[sizeof(kinds) / sizeof(kinds[0])];
	struct tids_list_reply rep = { .next_after = "" };
	size_t budget = (size_t)d->conf->frame_max / 2 > REPLY_SLACK ? (size_t)d->conf->frame_max - REPLY_SLACK
									 : (size_t)d->conf->frame_max / 2;
	size_t used = 0;
	uint8_t *body = NULL;
	size_t len;
	int r = 0;

	memset(c, 0, sizeof(c));
	for (size_t k = from; k < to && r == 0; k++) {
		c[k] = (struct collect){ .d = d, .kind = kinds[k], .after = after, .only = only, .limit = limit,
					 .budget = used < budget ? budget - used : 0 };
		if (store_each(d->store, kinds[k], take, &c[k]) < 0 && c[k].err == 0)
			c[k].err = TIDS_EDB;
		used += c[k].used;
		r = c[k].err;
		if (r == 0)
			r = fill(&rep, &c[k]);
		if (r == 0 && c[k].more)
			rep.next_after = c[k].last;
	}
	if (r == 0)
		r = tids_wire_encode_list_reply(&rep, &body, &len);
	if (r != 0)
		session_reply(d, s, call_id, r == TIDS_EDB ? CODE_INTERNAL : tids_error_code(r),
			      r == TIDS_EDB ? "the registry could not be read" : "out of memory", NULL, 0);
	else
		session_reply(d, s, call_id, CODE_OK, "", body, len);
	free(body);
	reply_free(&rep);
	for (size_t k = from; k < to; k++)
		entries_free(&c[k]);
}

void admin_list(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_list_request req;
	char err[256];
	size_t k;

	if (tids_wire_decode_list_request(f->body.data, f->body.len, &req, err, sizeof(err)) != 0) {
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	for (k = 0; strcmp(tids_list_kinds[k], req.kind) != 0; k++)
		;
	serve(d, s, f->call_id, k, k + 1, *req.after != '\0' ? req.after : NULL, NULL, req.limit);
	tids_list_request_free(&req);
}

void admin_show(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message req;
	char err[256];

	if (tids_wire_decode_show_request(f->body.data, f->body.len, &req, err, sizeof(err)) != 0) {
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	/* One id names at most one entry of each kind. */
	serve(d, s, f->call_id, 0, sizeof(kinds) / sizeof(kinds[0]), NULL, req.id, 1);
	tids_id_message_free(&req);
}
