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

enum { NEEDS_PARTICIPANT = 1, NEEDS_ADMIN = 2, NEEDS_PEER = 4 };

typedef void method_fn(struct tidsd *d, struct session *s, const struct tids_frame *f);

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
	rep.timezone = d->conf->timezone;
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

/* What the hub's log says of a change made through this instance, once
 * it is made (or refused); the change log on Kafka keeps who made it too. */
struct said {
	char id[TIDS_ID_MAX + 1];
	char ok[512];
	char refused[256];
};

static void changed(struct tidsd *d, struct session *s, uint64_t call_id, void *ctx, int r, const char *err)
{
	struct said *said = ctx;
	struct tids_id_message m = { .id = said->id };
	uint8_t *body;
	size_t len;

	if (r == 0 && *said->ok != '\0')
		tids_log_info("%s", said->ok);
	else if (r != 0 && *said->refused != '\0')
		tids_log_info("%s refused: %s", said->refused, err);
	if (s != NULL) {
		if (r != 0)
			session_reply(d, s, call_id, tids_error_code(r), err, NULL, 0);
		else if (tids_wire_encode_change_reply(&m, &body, &len) != 0)
			session_reply(d, s, call_id, tids_error_code(TIDS_ENOMEM), "out of memory", NULL, 0);
		else {
			session_reply(d, s, call_id, CODE_OK, "", body, len);
			free(body);
		}
	}
	free(said);
}

/* A change of the hub state, answered once this instance has applied it
 * (hubstate.c); the change log names who asked. */
static void change(struct tidsd *d, struct session *s, const struct tids_frame *f, enum hs_op op, const char *id,
		   bool flag, struct said *said)
{
	char actor[200];
	struct hs_request rq = { .op = op, .blob = f->body.data, .len = f->body.len, .id = id, .flag = flag,
				 .caller = caller_of(s), .actor = actor };

	if (s->local)
		snprintf(actor, sizeof(actor), "local admin (uid %u) on %s", (unsigned)s->uid, d->conf->instance);
	else
		snprintf(actor, sizeof(actor), "participant %s%s on %s", s->participant, s->admin ? " (admin key)" : "",
			 d->conf->instance);
	/* Revocations and suspensions name a thing, not a body. */
	if (id != NULL) {
		rq.blob = NULL;
		rq.len = 0;
	}
	hubstate_change(d, s, f->call_id, &rq, changed, said);
}

static struct said *said_new(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct said *said = calloc(1, sizeof(*said));

	if (said == NULL)
		session_reply(d, s, f->call_id, tids_error_code(TIDS_ENOMEM), "out of memory", NULL, 0);
	return said;
}

static void exchange_grant(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct said *said = said_new(d, s, f);
	struct tids_grant g;
	char err[256];

	if (said == NULL)
		return;
	if (tids_wire_decode_signed_grant(f->body.data, f->body.len, &g, err, sizeof(err)) == 0) {
		snprintf(said->id, sizeof(said->id), "%s", g.grant_id);
		snprintf(said->ok, sizeof(said->ok), "grant %s: %s grants %s (%zu categories, %zu purposes, until %lld)",
			 g.grant_id, g.owner, g.grantee, g.categories.n, g.purposes.n, (long long)g.not_after_ms);
		tids_grant_free(&g);
	}
	change(d, s, f, HS_PUT_GRANT, NULL, false, said);
}

static void exchange_revoke(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message m;
	struct said *said;
	char err[256];

	if (tids_wire_decode_revoke_request(f->body.data, f->body.len, &m, err, sizeof(err)) != 0) {
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	if ((said = said_new(d, s, f)) != NULL) {
		snprintf(said->id, sizeof(said->id), "%s", m.id);
		snprintf(said->ok, sizeof(said->ok), "grant %s revoked; its data key is destroyed", m.id);
		change(d, s, f, HS_REVOKE_GRANT, m.id, false, said);
	}
	tids_id_message_free(&m);
}

static void exchange_approve(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct said *said = said_new(d, s, f);
	struct tids_approval a;
	char err[256];

	if (said == NULL)
		return;
	if (tids_wire_decode_signed_approval(f->body.data, f->body.len, &a, err, sizeof(err)) == 0) {
		snprintf(said->id, sizeof(said->id), "%s", a.approval_id);
		snprintf(said->ok, sizeof(said->ok), "approval %s (%s%s%s) by %s: %s -> %s", a.approval_id, a.kind,
			 *a.case_id ? ", case " : "", a.case_id, a.regulator, a.exporter, a.recipient);
		snprintf(said->refused, sizeof(said->refused), "approval %s by %s", a.approval_id, a.regulator);
		tids_approval_free(&a);
	}
	change(d, s, f, HS_PUT_APPROVAL, NULL, false, said);
}

static void exchange_revoke_approval(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message m;
	struct said *said;
	char err[256];

	if (tids_wire_decode_revoke_approval_request(f->body.data, f->body.len, &m, err, sizeof(err)) != 0) {
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	/* The hub's log is the record of who withdrew what, and when (the
	 * revocation itself is on the hub state, with the approval). */
	if ((said = said_new(d, s, f)) != NULL) {
		snprintf(said->id, sizeof(said->id), "%s", m.id);
		snprintf(said->ok, sizeof(said->ok), "approval %s revoked by %s; records routed from now on do not rest "
			 "on it", m.id, s->local ? "the local administrator" : s->participant);
		change(d, s, f, HS_REVOKE_APPROVAL, m.id, false, said);
	}
	tids_id_message_free(&m);
}

static void admin_register_participant(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_participant p;
	struct said *said;
	char err[256];
	int r = tids_wire_decode_participant(f->body.data, f->body.len, &p, err, sizeof(err));

	/* Its delivery topic is made when the registration is applied, by
	 * every instance that applies it (registry.c): not here, where a
	 * round trip to the broker per registration held up the loop. */
	if (r != 0) {
		session_reply(d, s, f->call_id, tids_error_code(r), err, NULL, 0);
	} else if ((said = said_new(d, s, f)) != NULL) {
		snprintf(said->id, sizeof(said->id), "%s", p.id);
		snprintf(said->ok, sizeof(said->ok), "participant %s registered (%s, %s)%s", p.id, p.role,
			 p.jurisdiction, p.suspended ? ", suspended" : "");
		change(d, s, f, HS_PUT_PARTICIPANT, NULL, false, said);
	}
	tids_participant_free(&p);
}

static void admin_register_asset(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct said *said = said_new(d, s, f);
	struct tids_asset a;
	char err[256];

	if (said == NULL)
		return;
	if (tids_wire_decode_asset(f->body.data, f->body.len, &a, err, sizeof(err)) == 0) {
		snprintf(said->id, sizeof(said->id), "%s", a.asset_id);
		snprintf(said->ok, sizeof(said->ok), "asset %s registered (lessee %s%s%s)", a.asset_id, a.lessee,
			 *a.lessor ? ", lessor " : "", a.lessor);
		tids_asset_free(&a);
	}
	change(d, s, f, HS_PUT_ASSET, NULL, false, said);
}

static void admin_register_peer(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct said *said = said_new(d, s, f);
	struct tids_peer p;
	char err[256];

	if (said == NULL)
		return;
	if (tids_wire_decode_peer(f->body.data, f->body.len, &p, err, sizeof(err)) == 0) {
		snprintf(said->id, sizeof(said->id), "%s", p.hub_id);
		snprintf(said->ok, sizeof(said->ok), "peer hub %s registered (%s)", p.hub_id, p.jurisdiction);
		tids_peer_free(&p);
	}
	change(d, s, f, HS_PUT_PEER, NULL, false, said);
}

static void admin_suspend(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_id_message m;
	struct said *said;
	char err[256];

	if (tids_wire_decode_suspend_request(f->body.data, f->body.len, &m, err, sizeof(err)) != 0) {
		session_reply(d, s, f->call_id, CODE_INVALID_ARGUMENT, err, NULL, 0);
		return;
	}
	/* The suspended participant's open sessions end as the registry
	 * changes (sessions_recheck), on every instance, not at their next
	 * connection. */
	if ((said = said_new(d, s, f)) != NULL) {
		snprintf(said->id, sizeof(said->id), "%s", m.id);
		snprintf(said->ok, sizeof(said->ok), "participant %s %s", m.id, m.flag ? "suspended" : "reinstated");
		change(d, s, f, HS_SUSPEND, m.id, m.flag, said);
	}
	tids_id_message_free(&m);
}

static void admin_hub_key(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	struct tids_hub_key k = { .hub_id = d->conf->hub_id, .jurisdiction = d->conf->jurisdiction };
	uint8_t *body;
	size_t len;

	/* HubKeyRequest has no fields: nothing of the body is read. */
	memcpy(k.public_key, d->hub.sign_pk, TIDS_PUBLIC_KEY_BYTES);
	if (tids_wire_encode_hub_key_reply(&k, &body, &len) != 0) {
		session_reply(d, s, f->call_id, tids_error_code(TIDS_ENOMEM), "out of memory", NULL, 0);
		return;
	}
	session_reply(d, s, f->call_id, CODE_OK, "", body, len);
	free(body);
}

static void admin_peers(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	federation_peers(d, s, f->call_id);
}

static void federation_pull_method(struct tidsd *d, struct session *s, const struct tids_frame *f)
{
	federation_pull(d, s, f->call_id, f->body.data, f->body.len);
}

static const struct method {
	const char *name;
	method_fn *fn;
	unsigned needs;
} methods[] = {
	/* Sorted by name for bsearch. */
	{ "tids.v1.Admin/HubKey", admin_hub_key, NEEDS_ADMIN },
	{ "tids.v1.Admin/List", admin_list, NEEDS_ADMIN },
	{ "tids.v1.Admin/Peers", admin_peers, NEEDS_ADMIN },
	{ "tids.v1.Admin/RegisterAsset", admin_register_asset, NEEDS_ADMIN },
	{ "tids.v1.Admin/RegisterParticipant", admin_register_participant, NEEDS_ADMIN },
	{ "tids.v1.Admin/RegisterPeer", admin_register_peer, NEEDS_ADMIN },
	{ "tids.v1.Admin/Show", admin_show, NEEDS_ADMIN },
	{ "tids.v1.Admin/Suspend", admin_suspend, NEEDS_ADMIN },
	{ "tids.v1.Exchange/Approve", exchange_approve, 0 },
	{ "tids.v1.Exchange/Grant", exchange_grant, 0 },
	{ "tids.v1.Exchange/Ping", exchange_ping, 0 },
	{ "tids.v1.Exchange/Publish", exchange_publish, NEEDS_PARTICIPANT },
	{ "tids.v1.Exchange/Revoke", exchange_revoke, 0 },
	{ "tids.v1.Exchange/RevokeApproval", exchange_revoke_approval, 0 },
	{ "tids.v1.Exchange/Subscribe", exchange_subscribe, NEEDS_PARTICIPANT },
	{ "tids.v1.Federation/Pull", federation_pull_method, NEEDS_PEER },
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
		if (s->pull != NULL)
			federation_client_item(d, s, f->call_id, f->body.data, f->body.len);
		else
			egress_client_item(d, s, f->call_id, f->body.data, f->body.len);
		return;
	case TIDS_FRAME_CANCEL:
		if (s->pull != NULL)
			federation_cancel(d, s, f->call_id);
		else
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
	/* A peer hub's session serves federation, nothing a participant does;
	 * a participant's, nothing of a hub's. */
	if ((*s->peer_hub != '\0') != ((m->needs & NEEDS_PEER) != 0) && strcmp(f->method, "tids.v1.Exchange/Ping") != 0) {
		snprintf(msg, sizeof(msg), "%s is %s", f->method,
			 *s->peer_hub != '\0' ? "not for peer hubs" : "for peer hubs only");
		session_reply(d, s, f->call_id, CODE_PERMISSION_DENIED, msg, NULL, 0);
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
