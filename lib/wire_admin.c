/*
 * The gates of the Admin reads: ListRequest and ShowRequest (what the hub
 * takes from an operator) and ListReply (what tidsctl takes from the hub;
 * its entries are stored bytes that each go through their own gate).
 */
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

#define REQUEST_MAX 1024

const char *const tids_list_kinds[] = { "participants", "assets", "peers", "grants", "approvals", "subscriptions",
					NULL };

int tids_wire_decode_list_request(const uint8_t *buf, size_t len, struct tids_list_request *out, char *err,
				  size_t errlen)
{
	struct backing *b;
	Tids__V1__ListRequest *m;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__list_request__descriptor, buf, len, REQUEST_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__ListRequest *)b->msg;
	for (i = 0; tids_list_kinds[i] != NULL && strcmp(tids_list_kinds[i], m->kind) != 0; i++)
		;
	if (tids_list_kinds[i] == NULL)
		r = tids_fail(err, errlen, *m->kind == '\0' ? TIDS_EMISSING : TIDS_EINVAL,
			      "list: kind '%.64s' is none of participants, assets, peers, grants, approvals, "
			      "subscriptions", m->kind);
	else if (m->limit > TIDS_LIST_LIMIT_MAX)
		r = tids_fail(err, errlen, TIDS_EINVAL, "list: limit %u is above %d", m->limit, TIDS_LIST_LIMIT_MAX);
	else
		r = wire_opt_id("list: after", m->after, err, errlen);
	if (r < 0) {
		wire_release(b);
		return r;
	}
	out->kind = m->kind;
	out->after = m->after;
	out->limit = m->limit == 0 ? TIDS_LIST_LIMIT_DEFAULT : m->limit;
	out->backing = b;
	return 0;
}

int tids_wire_encode_list_request(const struct tids_list_request *in, uint8_t **out, size_t *len)
{
	Tids__V1__ListRequest pb = TIDS__V1__LIST_REQUEST__INIT;

	pb.kind = (char *)in->kind;
	pb.after = (char *)(in->after != NULL ? in->after : "");
	pb.limit = in->limit;
	return wire_pack(&pb.base, out, len);
}

void tids_list_request_free(struct tids_list_request *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}

int tids_wire_decode_show_request(const uint8_t *buf, size_t len, struct tids_id_message *out, char *err,
				  size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__show_request__descriptor, buf, len, REQUEST_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	out->id = ((Tids__V1__ShowRequest *)b->msg)->id;
	if ((r = wire_need_id("show: id", out->id, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

int tids_wire_encode_show_request(const struct tids_id_message *in, uint8_t **out, size_t *len)
{
	Tids__V1__ShowRequest pb = TIDS__V1__SHOW_REQUEST__INIT;

	pb.id = (char *)in->id;
	return wire_pack(&pb.base, out, len);
}

/* ListReply: sizes of the converted arrays, laid out in one block. */
int tids_wire_decode_list_reply(const uint8_t *buf, size_t len, struct tids_list_reply *out, char *err,
				size_t errlen)
{
	struct backing *b;
	Tids__V1__ListReply *m;
	size_t n_bytes, sz;
	uint8_t *mem;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__list_reply__descriptor, buf, len, TIDS_FRAME_MAX_LIMIT, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__ListReply *)b->msg;
	n_bytes = m->n_participants + m->n_assets + m->n_peers + m->n_grants;
	sz = n_bytes * sizeof(struct tids_bytes) + m->n_approvals * sizeof(struct tids_listed_approval) +
	     m->n_subscriptions * sizeof(struct tids_listed_subscription);
	mem = wire_alloc(b, sz);
	if (mem == NULL) {
		wire_release(b);
		return tids_fail(err, errlen, TIDS_ENOMEM, "list reply: out of memory");
	}
#define TAKE(field)                                                                         \
	do {                                                                                \
		out->field = (struct tids_bytes *)(void *)mem;                              \
		out->n_##field = m->n_##field;                                              \
		for (size_t i = 0; i < m->n_##field; i++)                                   \
			out->field[i] = (struct tids_bytes){ m->field[i].data, m->field[i].len }; \
		mem += m->n_##field * sizeof(struct tids_bytes);                            \
	} while (0)
	TAKE(participants);
	TAKE(assets);
	TAKE(peers);
	TAKE(grants);
#undef TAKE
	out->approvals = (struct tids_listed_approval *)(void *)mem;
	out->n_approvals = m->n_approvals;
	for (size_t i = 0; i < m->n_approvals; i++) {
		out->approvals[i].signed_approval = (struct tids_bytes){ m->approvals[i]->signed_approval.data,
									 m->approvals[i]->signed_approval.len };
		out->approvals[i].revoked_at_ms = m->approvals[i]->revoked_at_ms;
	}
	mem += m->n_approvals * sizeof(struct tids_listed_approval);
	out->subscriptions = (struct tids_listed_subscription *)(void *)mem;
	out->n_subscriptions = m->n_subscriptions;
	for (size_t i = 0; i < m->n_subscriptions; i++) {
		const Tids__V1__ListedSubscription *s = m->subscriptions[i];

		out->subscriptions[i].participant = s->participant;
		out->subscriptions[i].acked = s->acked;
		if ((r = wire_need_id("list reply: subscription participant", s->participant, err, errlen)) < 0 ||
		    (r = wire_list("list reply: subscription purposes", s->purposes, s->n_purposes, LIST_NAMES, 0,
				   &out->subscriptions[i].purposes, err, errlen)) < 0) {
			wire_release(b);
			memset(out, 0, sizeof(*out));
			return r;
		}
	}
	if ((r = wire_opt_id("list reply: next_after", m->next_after, err, errlen)) < 0) {
		wire_release(b);
		memset(out, 0, sizeof(*out));
		return r;
	}
	out->next_after = m->next_after;
	out->backing = b;
	return 0;
}

int tids_wire_encode_list_reply(const struct tids_list_reply *in, uint8_t **out, size_t *len)
{
	Tids__V1__ListReply pb = TIDS__V1__LIST_REPLY__INIT;
	size_t n_bytes = in->n_participants + in->n_assets + in->n_peers + in->n_grants;
	ProtobufCBinaryData *bin = calloc(n_bytes + 1, sizeof(*bin)), *p = bin;
	Tids__V1__ListedApproval *ap = calloc(in->n_approvals + 1, sizeof(*ap));
	Tids__V1__ListedApproval **app = calloc(in->n_approvals + 1, sizeof(*app));
	Tids__V1__ListedSubscription *sub = calloc(in->n_subscriptions + 1, sizeof(*sub));
	Tids__V1__ListedSubscription **subp = calloc(in->n_subscriptions + 1, sizeof(*subp));
	int r = TIDS_ENOMEM;

	if (bin == NULL || ap == NULL || app == NULL || sub == NULL || subp == NULL)
		goto out;
#define PUT(field)                                                                             \
	do {                                                                                   \
		pb.field = p;                                                                  \
		pb.n_##field = in->n_##field;                                                  \
		for (size_t i = 0; i < in->n_##field; i++)                                     \
			*p++ = (ProtobufCBinaryData){ in->field[i].len, (uint8_t *)in->field[i].data }; \
	} while (0)
	PUT(participants);
	PUT(assets);
	PUT(peers);
	PUT(grants);
#undef PUT
	for (size_t i = 0; i < in->n_approvals; i++) {
		tids__v1__listed_approval__init(&ap[i]);
		ap[i].signed_approval = (ProtobufCBinaryData){ in->approvals[i].signed_approval.len,
							       (uint8_t *)in->approvals[i].signed_approval.data };
		ap[i].revoked_at_ms = in->approvals[i].revoked_at_ms;
		app[i] = &ap[i];
	}
	pb.approvals = app;
	pb.n_approvals = in->n_approvals;
	for (size_t i = 0; i < in->n_subscriptions; i++) {
		tids__v1__listed_subscription__init(&sub[i]);
		sub[i].participant = (char *)in->subscriptions[i].participant;
		sub[i].purposes = (char **)in->subscriptions[i].purposes.items;
		sub[i].n_purposes = in->subscriptions[i].purposes.n;
		sub[i].acked = in->subscriptions[i].acked;
		subp[i] = &sub[i];
	}
	pb.subscriptions = subp;
	pb.n_subscriptions = in->n_subscriptions;
	pb.next_after = (char *)(in->next_after != NULL ? in->next_after : "");
	r = wire_pack(&pb.base, out, len);
out:
	free(bin);
	free(ap);
	free(app);
	free(sub);
	free(subp);
	return r;
}

void tids_list_reply_free(struct tids_list_reply *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}
