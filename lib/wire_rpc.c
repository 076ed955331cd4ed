/*
 * Gates and encoders for the RPC layer: Frame, Status and the small
 * request/reply messages of the Exchange and Admin services.
 */
#include <stdlib.h>
#include <string.h>

#include "tids/zoneinfo.h"
#include "wire_internal.h"

#define SMALL_MAX 4096

static bool valid_method(const char *s)
{
	/* "tids.v1.Service/Method": letters, digits, dots and one slash. */
	size_t n = 0, slashes = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (c == '/')
			slashes++;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '.' || c == '_'))
			return false;
	}
	return n > 0 && n <= TIDS_METHOD_MAX && slashes == 1;
}

int tids_wire_decode_frame(const uint8_t *buf, size_t len, size_t max, struct tids_frame *out,
			   char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Frame *m;
	int r;

	memset(out, 0, sizeof(*out));
	if (max > TIDS_FRAME_MAX_LIMIT)
		max = TIDS_FRAME_MAX_LIMIT;
	r = wire_unpack(&tids__v1__frame__descriptor, buf, len, max, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Frame *)b->msg;
	if (m->kind < TIDS__V1__FRAME_KIND__FRAME_REQUEST || m->kind > TIDS__V1__FRAME_KIND__FRAME_CANCEL) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "frame: kind %d unknown", (int)m->kind);
		goto out;
	}
	/* Call 0 is the connection itself: only the server's answer to a
	 * frame it could not read uses it. */
	if (m->call_id == 0 && m->kind != TIDS__V1__FRAME_KIND__FRAME_RESPONSE) {
		r = tids_fail(err, errlen, TIDS_EMISSING, "frame: call_id missing (must be non-zero)");
		goto out;
	}
	if (m->kind == TIDS__V1__FRAME_KIND__FRAME_REQUEST && !valid_method(m->method)) {
		r = tids_fail(err, errlen, *m->method == '\0' ? TIDS_EMISSING : TIDS_EBADID,
			      "frame: method must look like tids.v1.Service/Method");
		goto out;
	}
	if (m->status != NULL &&
	    (r = wire_text("frame: status message", m->status->message, TIDS_STATUS_MESSAGE_MAX, err, errlen)) < 0)
		goto out;
	out->call_id = m->call_id;
	out->kind = (enum tids_frame_kind)m->kind;
	out->method = m->method;
	out->body.data = m->body.data;
	out->body.len = m->body.len;
	out->status.code = m->status != NULL ? (int)m->status->code : 0;
	out->status.message = m->status != NULL ? m->status->message : "";
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_frame(const struct tids_frame *in, uint8_t **out, size_t *len)
{
	Tids__V1__Frame pb = TIDS__V1__FRAME__INIT;
	Tids__V1__Status st = TIDS__V1__STATUS__INIT;

	pb.call_id = in->call_id;
	pb.kind = (Tids__V1__FrameKind)in->kind;
	pb.method = (char *)(in->method != NULL ? in->method : "");
	pb.body.data = (uint8_t *)in->body.data;
	pb.body.len = in->body.len;
	if (in->kind == TIDS_FRAME_RESPONSE || in->kind == TIDS_FRAME_STREAM_END) {
		st.code = (Tids__V1__Code)in->status.code;
		st.message = (char *)(in->status.message != NULL ? in->status.message : "");
		pb.status = &st;
	}
	return wire_pack(&pb.base, out, len);
}

void tids_frame_free(struct tids_frame *f)
{
	if (f == NULL)
		return;
	wire_release(f->backing);
	memset(f, 0, sizeof(*f));
}

int tids_wire_decode_status(const uint8_t *buf, size_t len, struct tids_status *out,
			    char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Status *m;
	char *copy;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__status__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Status *)b->msg;
	r = wire_text("status: message", m->message, TIDS_STATUS_MESSAGE_MAX, err, errlen);
	copy = r == 0 ? strdup(m->message) : NULL;
	if (r == 0 && copy == NULL)
		r = tids_fail(err, errlen, TIDS_ENOMEM, "status: out of memory");
	if (r == 0) {
		out->code = (int)m->code;
		out->message = copy;
	}
	wire_release(b);
	return r;
}

int tids_wire_encode_status(const struct tids_status *in, uint8_t **out, size_t *len)
{
	Tids__V1__Status pb = TIDS__V1__STATUS__INIT;

	pb.code = (Tids__V1__Code)in->code;
	pb.message = (char *)(in->message != NULL ? in->message : "");
	return wire_pack(&pb.base, out, len);
}

void tids_status_free(struct tids_status *s)
{
	if (s == NULL)
		return;
	free((char *)s->message);
	memset(s, 0, sizeof(*s));
}

static int decode_ping(const uint8_t *buf, size_t len, bool reply, struct tids_ping *out,
		       char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	if (!reply) {
		Tids__V1__PingRequest *m;

		r = wire_unpack(&tids__v1__ping_request__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
		if (r < 0)
			return r;
		m = (Tids__V1__PingRequest *)b->msg;
		out->nonce.data = m->nonce.data;
		out->nonce.len = m->nonce.len;
		out->hub_id = out->participant = out->timezone = "";
	} else {
		Tids__V1__PingReply *m;

		r = wire_unpack(&tids__v1__ping_reply__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
		if (r < 0)
			return r;
		m = (Tids__V1__PingReply *)b->msg;
		out->nonce.data = m->nonce.data;
		out->nonce.len = m->nonce.len;
		out->hub_id = m->hub_id;
		out->participant = m->participant;
		out->hub_time_ms = m->hub_time_ms;
		out->timezone = m->timezone;
		if ((r = wire_opt_id("ping reply: hub_id", m->hub_id, err, errlen)) < 0 ||
		    (r = wire_opt_id("ping reply: participant", m->participant, err, errlen)) < 0)
			goto out;
		if (*m->timezone != '\0' && !tids_zoneinfo_valid_name(m->timezone)) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "ping reply: timezone is not a time zone name");
			goto out;
		}
	}
	if (out->nonce.len > TIDS_PING_NONCE_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOBIG, "ping: nonce of %zu bytes, at most %d",
			      out->nonce.len, TIDS_PING_NONCE_MAX);
		goto out;
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_decode_ping_request(const uint8_t *buf, size_t len, struct tids_ping *out,
				  char *err, size_t errlen)
{
	return decode_ping(buf, len, false, out, err, errlen);
}

int tids_wire_decode_ping_reply(const uint8_t *buf, size_t len, struct tids_ping *out,
				char *err, size_t errlen)
{
	return decode_ping(buf, len, true, out, err, errlen);
}

int tids_wire_encode_ping_request(const struct tids_ping *in, uint8_t **out, size_t *len)
{
	Tids__V1__PingRequest pb = TIDS__V1__PING_REQUEST__INIT;

	pb.nonce.data = (uint8_t *)in->nonce.data;
	pb.nonce.len = in->nonce.len;
	return wire_pack(&pb.base, out, len);
}

int tids_wire_encode_ping_reply(const struct tids_ping *in, uint8_t **out, size_t *len)
{
	Tids__V1__PingReply pb = TIDS__V1__PING_REPLY__INIT;

	pb.nonce.data = (uint8_t *)in->nonce.data;
	pb.nonce.len = in->nonce.len;
	pb.hub_id = (char *)(in->hub_id != NULL ? in->hub_id : "");
	pb.participant = (char *)(in->participant != NULL ? in->participant : "");
	pb.hub_time_ms = in->hub_time_ms;
	pb.timezone = (char *)(in->timezone != NULL ? in->timezone : "");
	return wire_pack(&pb.base, out, len);
}

void tids_ping_free(struct tids_ping *p)
{
	if (p == NULL)
		return;
	wire_release(p->backing);
	memset(p, 0, sizeof(*p));
}

int tids_wire_decode_hub_key_reply(const uint8_t *buf, size_t len, struct tids_hub_key *out, char *err,
				   size_t errlen)
{
	struct backing *b;
	Tids__V1__HubKeyReply *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__hub_key_reply__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__HubKeyReply *)b->msg;
	if ((r = wire_need_id("hub key: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_opt_jurisdiction("hub key: jurisdiction", m->jurisdiction, err, errlen)) < 0 ||
	    (r = wire_bytes("hub key: public_key", m->public_key, TIDS_PUBLIC_KEY_BYTES, err, errlen)) < 0) {
		wire_release(b);
		return r;
	}
	out->hub_id = m->hub_id;
	out->jurisdiction = m->jurisdiction;
	memcpy(out->public_key, m->public_key.data, TIDS_PUBLIC_KEY_BYTES);
	out->backing = b;
	return 0;
}

int tids_wire_encode_hub_key_reply(const struct tids_hub_key *in, uint8_t **out, size_t *len)
{
	Tids__V1__HubKeyReply pb = TIDS__V1__HUB_KEY_REPLY__INIT;

	pb.hub_id = (char *)(in->hub_id != NULL ? in->hub_id : "");
	pb.jurisdiction = (char *)(in->jurisdiction != NULL ? in->jurisdiction : "");
	pb.public_key.data = (uint8_t *)in->public_key;
	pb.public_key.len = TIDS_PUBLIC_KEY_BYTES;
	return wire_pack(&pb.base, out, len);
}

void tids_hub_key_free(struct tids_hub_key *k)
{
	if (k == NULL)
		return;
	wire_release(k->backing);
	memset(k, 0, sizeof(*k));
}

int tids_wire_decode_subscribe_control(const uint8_t *buf, size_t len, struct tids_subscribe_control *out,
				       char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__SubscribeControl *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__subscribe_control__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__SubscribeControl *)b->msg;
	switch (m->kind_case) {
	case TIDS__V1__SUBSCRIBE_CONTROL__KIND_START:
		if ((r = wire_list("subscribe: purposes", m->start->purposes, m->start->n_purposes,
				   LIST_NAMES, 1, &out->purposes, err, errlen)) < 0)
			goto out;
		if (m->start->window < 1 || m->start->window > 10000) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "subscribe: window %u, must be 1 to 10000",
				      m->start->window);
			goto out;
		}
		out->window = m->start->window;
		break;
	case TIDS__V1__SUBSCRIBE_CONTROL__KIND_ACK:
		if (m->ack->delivery_seq == 0) {
			r = tids_fail(err, errlen, TIDS_EMISSING, "subscribe: ack names no delivery_seq");
			goto out;
		}
		out->is_ack = true;
		out->ack_seq = m->ack->delivery_seq;
		break;
	default:
		r = tids_fail(err, errlen, TIDS_EMISSING, "subscribe: neither start nor ack set");
		goto out;
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_subscribe_control(const struct tids_subscribe_control *in, uint8_t **out, size_t *len)
{
	Tids__V1__SubscribeControl pb = TIDS__V1__SUBSCRIBE_CONTROL__INIT;
	Tids__V1__SubscribeRequest start = TIDS__V1__SUBSCRIBE_REQUEST__INIT;
	Tids__V1__DeliveryAck ack = TIDS__V1__DELIVERY_ACK__INIT;

	if (in->is_ack) {
		ack.delivery_seq = in->ack_seq;
		pb.kind_case = TIDS__V1__SUBSCRIBE_CONTROL__KIND_ACK;
		pb.ack = &ack;
	} else {
		start.purposes = (char **)in->purposes.items;
		start.n_purposes = in->purposes.n;
		start.window = in->window;
		pb.kind_case = TIDS__V1__SUBSCRIBE_CONTROL__KIND_START;
		pb.start = &start;
	}
	return wire_pack(&pb.base, out, len);
}

void tids_subscribe_control_free(struct tids_subscribe_control *c)
{
	if (c == NULL)
		return;
	wire_release(c->backing);
	memset(c, 0, sizeof(*c));
}

/* RevokeRequest, ChangeReply and SuspendRequest: one id (and a flag). */
int tids_wire_decode_revoke_request(const uint8_t *buf, size_t len, struct tids_id_message *out,
				    char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__revoke_request__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	out->id = ((Tids__V1__RevokeRequest *)b->msg)->grant_id;
	if ((r = wire_need_id("revoke: grant_id", out->id, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

int tids_wire_decode_change_reply(const uint8_t *buf, size_t len, struct tids_id_message *out,
				  char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__change_reply__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	out->id = ((Tids__V1__ChangeReply *)b->msg)->id;
	if ((r = wire_opt_id("change reply: id", out->id, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

int tids_wire_decode_suspend_request(const uint8_t *buf, size_t len, struct tids_id_message *out,
				     char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__SuspendRequest *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__suspend_request__descriptor, buf, len, SMALL_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__SuspendRequest *)b->msg;
	if ((r = wire_need_id("suspend: participant", m->participant, err, errlen)) < 0) {
		wire_release(b);
		return r;
	}
	out->id = m->participant;
	out->flag = m->suspended != 0;
	out->backing = b;
	return 0;
}

int tids_wire_encode_revoke_request(const struct tids_id_message *in, uint8_t **out, size_t *len)
{
	Tids__V1__RevokeRequest pb = TIDS__V1__REVOKE_REQUEST__INIT;

	pb.grant_id = (char *)in->id;
	return wire_pack(&pb.base, out, len);
}

int tids_wire_encode_change_reply(const struct tids_id_message *in, uint8_t **out, size_t *len)
{
	Tids__V1__ChangeReply pb = TIDS__V1__CHANGE_REPLY__INIT;

	pb.id = (char *)(in->id != NULL ? in->id : "");
	return wire_pack(&pb.base, out, len);
}

int tids_wire_encode_suspend_request(const struct tids_id_message *in, uint8_t **out, size_t *len)
{
	Tids__V1__SuspendRequest pb = TIDS__V1__SUSPEND_REQUEST__INIT;

	pb.participant = (char *)in->id;
	pb.suspended = in->flag;
	return wire_pack(&pb.base, out, len);
}

void tids_id_message_free(struct tids_id_message *m)
{
	if (m == NULL)
		return;
	wire_release(m->backing);
	memset(m, 0, sizeof(*m));
}
