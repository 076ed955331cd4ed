/*
 * RPC dispatch: methods of the Exchange and Admin services by name, who may
 * call them, and the small handlers that only touch the registry. Unknown
 * methods and bad bodies get an error status; the connection stays usable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tidsd.h"

enum { CODE_OK = 0, CODE_INVALID_ARGUMENT = 3, CODE_PERMISSION_DENIED = 7, CODE_FAILED_PRECONDITION = 9,
       CODE_UNIMPLEMENTED = 12, CODE_UNAVAILABLE = 14 };

enum { NEEDS_PARTICIPANT = 1, NEEDS_ADMIN = 2 };

typedef void method_fn(struct tidsd *d, struct session *s, const struct tids_frame *f);

/* Replies to a change with its id, or with the error. */
static void reply_change(struct tidsd *d, struct session *s, uint64_t call_id, int r, const char *id,
			 const char *err)
{
	struct tids_id_message m = { .id = id };
	uint8_t *body;
	size_t len;

	if (r != 0) {
		session_reply(d, s, call_id, tids_error_code(r), err, NULL, 0);
		return;
	}
	/* Changes are durable before they are acknowledged. */
	if (store_commit(d->store) != 0) {
		session_reply(d, s, call_id, CODE_UNAVAILABLE, "registry could not be written", NULL, 0);
		return;
	}
	if (tids_wire_encode_change_reply(&m, &body, &len) != 0) {
		session_reply(d, s, call_id, tids_error_code(TIDS_ENOMEM), "out of memory", NULL, 0);
		return;
	}
	session_reply(d, s, call_id, CODE_OK, "", body, len);
	free(body);
}

static void exchange_ping(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_ping req, rep = { 0 };
	char err[256];
	uint8_t *body;
	size_t len;

	if (tids_wire_decode_ping_request(f->body.data, f->body.len, &req, err, sizeof(err)) != 0) {
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	rep.nonce = req.nonce;
	rep.hub_id = d->conf->hub_id;
	rep.participant = s->participant;
	rep.hub_time_ms = now_ms();
	if (tids_wire_encode_ping_reply(&rep, &body, &len) == 0) {
		session_reply(d, s, f->call_id, CODE_OK, "", body, len);
		free(body);
	}
	tids_ping_free(&req);
}

static void exchange_publish(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	ingest_publish(d, s, f->call_id, f->body.data, f->body.len);
}

static void exchange_subscribe(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	egress_subscribe(d, s, f->call_id, f->body.data, f->body.len);
}

static const char *caller_of(const struct session *s)
{
	/* The local admin socket acts for nobody in particular: signatures
	 * still decide whose grant or approval it is. */
	return s->local ? NULL : s->participant;
}

static void exchange_grant(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_grant g;
	char err[256];
	int r = tids_wire_decode_signed_grant(f->body.data, f->body.len, &g, err, sizeof(err));

	if (r == 0)
		r = registry_put_grant(d, f->body.data, f->body.len, caller_of(s), err, sizeof(err));
	if (r == 0)
		tids_log_info("grant %s: %s grants %s (%zu categories, %zu purposes, until %lld)", g.grant_id, g.owner,
			      g.grantee, g.categories.n, g.purposes.n, (long long)g.not_after_ms);
	reply_change(d, s, f->call_id, r, r == 0 ? g.grant_id : NULL, err);
	tids_grant_free(&g);
}

static void exchange_revoke(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message m;
	char err[256];
	int r = tids_wire_decode_revoke_request(f->body.data, f->body.len, &m, err, sizeof(err));

	if (r == 0)
		r = registry_revoke_grant(d, m.id, caller_of(s), err, sizeof(err));
	if (r == 0)
		tids_log_info("grant %s revoked; its data key is destroyed", m.id);
	reply_change(d, s, f->call_id, r, m.id, err);
	tids_id_message_free(&m);
}

static void exchange_approve(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_approval a;
	char err[512];
	int r = tids_wire_decode_signed_approval(f->body.data, f->body.len, &a, err, sizeof(err));

	if (r == 0)
		r = registry_put_approval(d, f->body.data, f->body.len, caller_of(s), err, sizeof(err));
	if (r == 0)
		tids_log_info("approval %s (%s%s%s) by %s: %s -> %s", a.approval_id, a.kind, *a.case_id ? ", case " : "",
			      a.case_id, a.regulator, a.exporter, a.recipient);
	else if (a.approval_id != NULL)
		tids_log_info("approval %s by %s refused: %s", a.approval_id, a.regulator, err);
	reply_change(d, s, f->call_id, r, r == 0 ? a.approval_id : NULL, err);
	tids_approval_free(&a);
}

static void exchange_revoke_approval(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message m;
	char err[256];
	int r = tids_wire_decode_revoke_approval_request(f->body.data, f->body.len, &m, err, sizeof(err));

	if (r == 0)
		r = registry_revoke_approval(d, m.id, caller_of(s), err, sizeof(err));
	/* The hub's log is the record of who withdrew what, and when (the
	 * revocation itself is stored with the approval). */
	if (r == 0)
		tids_log_info("approval %s revoked by %s; records routed from now on do not rest on it", m.id,
			      s->local ? "the local administrator" : s->participant);
	reply_change(d, s, f->call_id, r, m.id, err);
	tids_id_message_free(&m);
}

static void admin_register_participant(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_participant p;
	char err[256];
	int r = tids_wire_decode_participant(f->body.data, f->body.len, &p, err, sizeof(err));

	/* Its delivery topic first: a participant that exists can be routed to. */
	if (r == 0)
		r = purposes_check_attribute(&p, err, sizeof(err));
	if (r == 0)
		r = kafka_topic_create(d, KT_DELIVER, p.id, err, sizeof(err));
	if (r == 0)
		r = registry_put_participant(d, f->body.data, f->body.len, err, sizeof(err));
	if (r == 0)
		tids_log_info("participant %s registered (%s, %s)%s", p.id, p.role, p.jurisdiction,
			      p.suspended ? ", suspended" : "");
	reply_change(d, s, f->call_id, r, r == 0 ? p.id : NULL, err);
	tids_participant_free(&p);
}

static void admin_register_asset(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_asset a;
	char err[256];
	int r = tids_wire_decode_asset(f->body.data, f->body.len, &a, err, sizeof(err));

	if (r == 0)
		r = registry_put_asset(d, f->body.data, f->body.len, err, sizeof(err));
	if (r == 0)
		tids_log_info("asset %s registered (lessee %s%s%s)", a.asset_id, a.lessee, *a.lessor ? ", lessor " : "",
			      a.lessor);
	reply_change(d, s, f->call_id, r, r == 0 ? a.asset_id : NULL, err);
	tids_asset_free(&a);
}

static void admin_register_peer(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_peer p;
	char err[256];
	int r = tids_wire_decode_peer(f->body.data, f->body.len, &p, err, sizeof(err));

	if (r == 0)
		r = registry_put_peer(d, f->body.data, f->body.len, err, sizeof(err));
	if (r == 0)
		tids_log_info("peer hub %s registered (%s)", p.hub_id, p.jurisdiction);
	reply_change(d, s, f->call_id, r, r == 0 ? p.hub_id : NULL, err);
	tids_peer_free(&p);
}

static void admin_suspend(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message m;
	char err[256];
	int r = tids_wire_decode_suspend_request(f->body.data, f->body.len, &m, err, sizeof(err));

	if (r == 0)
		r = registry_suspend(d, m.id, m.flag, err, sizeof(err));
	/* The suspended participant's open sessions end as the registry
	 * changes (sessions_recheck), not at their next connection. */
	if (r == 0)
		tids_log_info("participant %s %s", m.id, m.flag ? "suspended" : "reinstated");
	reply_change(d, s, f->call_id, r, m.id, err);
	tids_id_message_free(&m);
}

static const struct method {
	const char *name;
	method_fn *fn;
	unsigned needs;
} methods[] = {
	/* Sorted by name for bsearch. */
	{ "tids.v1.Admin/RegisterAsset", admin_register_asset, NEEDS_ADMIN },
	{ "tids.v1.Admin/RegisterParticipant", admin_register_participant, NEEDS_ADMIN },
	{ "tids.v1.Admin/RegisterPeer", admin_register_peer, NEEDS_ADMIN },
	{ "tids.v1.Admin/Suspend", admin_suspend, NEEDS_ADMIN },
	{ "tids.v1.Exchange/Approve", exchange_approve, 0 },
	{ "tids.v1.Exchange/Grant", exchange_grant, 0 },
	{ "tids.v1.Exchange/Ping", exchange_ping, 0 },
	{ "tids.v1.Exchange/Publish", exchange_publish, NEEDS_PARTICIPANT },
	{ "tids.v1.Exchange/Revoke", exchange_revoke, 0 },
	{ "tids.v1.Exchange/RevokeApproval", exchange_revoke_approval, 0 },
	{ "tids.v1.Exchange/Subscribe", exchange_subscribe, NEEDS_PARTICIPANT },
};

static int by_name(const void *key, const void *m)
{
	return strcmp(key, ((const struct method *)m)->name);
}

void rpc_dispatch(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	const struct method *m;
	char msg[512];
	bool admin;
	int code;

	/* Rights as they are now, not as they were when it connected. */
	if (!session_rights(d, s, &admin, &code, msg, sizeof(msg))) {
		session_end(d, s, code, msg);
		return;
	}
	switch (f->kind) {
	case TIDS_FRAME_REQUEST:
		break;
	case TIDS_FRAME_CLIENT_ITEM:
		egress_client_item(d, s, f->call_id, f->body.data, f->body.len);
		return;
	case TIDS_FRAME_CANCEL:
		egress_cancel(d, s, f->call_id);
		return;
	default:
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, "clients send REQUEST, CLIENT_ITEM or CANCEL frames",
			      NULL, 0);
		return;
	}
	m = bsearch(f->method, methods, sizeof(methods) / sizeof(methods[0]), sizeof(methods[0]), by_name);
	if (m == NULL) {
		snprintf(msg, sizeof(msg), "unknown method %s", f->method);
		session_reply(d, s, f->call_id, CODE_UNIMPLEMENTED, msg, NULL, 0);
		return;
	}
	if ((m->needs & NEEDS_ADMIN) && !admin) {
		snprintf(msg, sizeof(msg), "%s needs the local admin socket or a hub admin key", f->method);
		session_reply(d, s, f->call_id, CODE_PERMISSION_DENIED, msg, NULL, 0);
		return;
	}
	if ((m->needs & NEEDS_PARTICIPANT) && s->local) {
		snprintf(msg, sizeof(msg), "%s needs a participant session (TCP, Noise)", f->method);
		session_reply(d, s, f->call_id, CODE_FAILED_PRECONDITION, msg, NULL, 0);
		return;
	}
	/* A change it makes to its own rights takes effect once it has its answer. */
	d->in_call = s;
	m->fn(d, s, f);
	d->in_call = NULL;
	if (s->recheck)
		session_recheck(d, s, "its own call");
}
