/*
 * Gate and encoder for the router's state entries (chain heads, counts,
 * open aggregation windows) on the compacted state topic, and the MAC that
 * authenticates each entry there and on the registry topic, with the one
 * opener that checks it for both gates.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"

#include "wire_internal.h"

#define STATE_MAX 65536

static int window_from(const Tids__V1__AggregateWindow *m, struct tids_aggregate_window *w, char *err, size_t errlen)
{
	int r;

	if ((r = wire_need_id("window: recipient", m->recipient, err, errlen)) < 0 ||
	    (r = wire_opt_name("window: purpose", m->purpose, err, errlen)) < 0 ||
	    (r = wire_need_name("window: function", m->function, err, errlen)) < 0 ||
	    (r = wire_text("window: group", m->group, 1024, err, errlen)) < 0 ||
	    (r = wire_list("window: rule_ids", m->rule_ids, m->n_rule_ids, LIST_IDS, 0, &w->rule_ids, err, errlen)) < 0 ||
	    (r = wire_opt_consent_id("window: grant_id", m->grant_id, err, errlen)) < 0 ||
	    (r = wire_obligations_from(m->obligations, &w->obligations, err, errlen)) < 0)
		return r;
	if (!tids_valid_field_name(m->field))
		return tids_fail(err, errlen, TIDS_EBADID, "window: field must be a field name");
	if (m->window_ms <= 0 || m->start_ms < 0 || isnan(m->sum) || isnan(m->min) || isnan(m->max))
		return tids_fail(err, errlen, TIDS_EINVAL, "window: bad window or values");
	if (m->header == NULL || m->header->n_fields != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "window: header missing or carries fields");
	if ((r = wire_record_from(m->header, &w->header, NULL, err, errlen)) < 0)
		return r;
	w->recipient = m->recipient;
	w->purpose = m->purpose;
	w->function = m->function;
	w->field = m->field;
	w->start_ms = m->start_ms;
	w->window_ms = m->window_ms;
	w->group = m->group;
	w->count = m->count;
	w->sum = m->sum;
	w->min = m->min;
	w->max = m->max;
	w->grant_id = m->grant_id;
	return 0;
}

int tids_wire_decode_router_state(const uint8_t *buf, size_t len, struct tids_router_state *out,
				  char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__RouterState *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__router_state__descriptor, buf, len, STATE_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__RouterState *)b->msg;
	switch (m->kind_case) {
	case TIDS__V1__ROUTER_STATE__KIND_CHAIN:
		if (m->chain->partition < 0 || m->chain->seq == 0 || m->chain->head.len != TIDS_HASH_BYTES) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "state: malformed chain head");
			goto out;
		}
		out->kind = TIDS_STATE_CHAIN;
		out->chain.partition = m->chain->partition;
		out->chain.seq = m->chain->seq;
		memcpy(out->chain.head, m->chain->head.data, TIDS_HASH_BYTES);
		out->chain.since_checkpoint = m->chain->since_checkpoint;
		break;
	case TIDS__V1__ROUTER_STATE__KIND_COUNT:
		out->kind = TIDS_STATE_COUNT;
		out->count = m->count;
		break;
	case TIDS__V1__ROUTER_STATE__KIND_WINDOW:
		if ((r = window_from(m->window, &out->window, err, errlen)) < 0)
			goto out;
		out->kind = TIDS_STATE_WINDOW;
		break;
	case TIDS__V1__ROUTER_STATE__KIND_SEEN:
	case TIDS__V1__ROUTER_STATE__KIND_IMPORTED: {
		const Tids__V1__Position *pos = m->kind_case == TIDS__V1__ROUTER_STATE__KIND_SEEN ? m->seen : m->imported;

		if ((r = wire_need_id("state: position.publisher", pos->publisher, err, errlen)) < 0)
			goto out;
		/* An imported position may be 0: the first offset of a peer's topic. */
		if (pos->partition < 0 || (pos->sequence == 0 && m->kind_case == TIDS__V1__ROUTER_STATE__KIND_SEEN)) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "state: malformed position");
			goto out;
		}
		out->kind = m->kind_case == TIDS__V1__ROUTER_STATE__KIND_SEEN ? TIDS_STATE_SEEN : TIDS_STATE_IMPORTED;
		out->seen.publisher = pos->publisher;
		out->seen.sequence = pos->sequence;
		out->seen.leaf_index = pos->leaf_index;
		out->seen.partition = pos->partition;
		break;
	}
	case TIDS__V1__ROUTER_STATE__KIND_NEXT_OFFSET:
		if (m->next_offset < 0) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "state: next offset %lld is negative",
				      (long long)m->next_offset);
			goto out;
		}
		out->kind = TIDS_STATE_POSITION;
		out->next_offset = m->next_offset;
		break;
	default:
		r = tids_fail(err, errlen, TIDS_EMISSING, "state: no kind set");
		goto out;
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_router_state(const struct tids_router_state *in, uint8_t **out, size_t *len)
{
	Tids__V1__RouterState pb;
	Tids__V1__ChainHead ch = TIDS__V1__CHAIN_HEAD__INIT;
	Tids__V1__Position pos = TIDS__V1__POSITION__INIT;
	Tids__V1__AggregateWindow w = TIDS__V1__AGGREGATE_WINDOW__INIT;
	Tids__V1__Record hdr;
	Tids__V1__Obligations ob;
	Tids__V1__Aggregation agg;
	int r;

	tids__v1__router_state__init(&pb);
	switch (in->kind) {
	case TIDS_STATE_CHAIN:
		ch.partition = in->chain.partition;
		ch.seq = in->chain.seq;
		ch.head.data = (uint8_t *)in->chain.head;
		ch.head.len = TIDS_HASH_BYTES;
		ch.since_checkpoint = in->chain.since_checkpoint;
		pb.kind_case = TIDS__V1__ROUTER_STATE__KIND_CHAIN;
		pb.chain = &ch;
		return wire_pack(&pb.base, out, len);
	case TIDS_STATE_COUNT:
		pb.kind_case = TIDS__V1__ROUTER_STATE__KIND_COUNT;
		pb.count = in->count;
		return wire_pack(&pb.base, out, len);
	case TIDS_STATE_SEEN:
	case TIDS_STATE_IMPORTED:
		pos.publisher = (char *)in->seen.publisher;
		pos.sequence = in->seen.sequence;
		pos.leaf_index = in->seen.leaf_index;
		pos.partition = in->seen.partition;
		if (in->kind == TIDS_STATE_SEEN) {
			pb.kind_case = TIDS__V1__ROUTER_STATE__KIND_SEEN;
			pb.seen = &pos;
		} else {
			pb.kind_case = TIDS__V1__ROUTER_STATE__KIND_IMPORTED;
			pb.imported = &pos;
		}
		return wire_pack(&pb.base, out, len);
	case TIDS_STATE_POSITION:
		pb.kind_case = TIDS__V1__ROUTER_STATE__KIND_NEXT_OFFSET;
		pb.next_offset = in->next_offset;
		return wire_pack(&pb.base, out, len);
	case TIDS_STATE_WINDOW:
		break;
	default:
		return TIDS_EINVAL;
	}
	if ((r = wire_record_view(&in->window.header, &hdr)) < 0)
		return r;
	hdr.n_fields = 0;
	wire_obligations_to(&in->window.obligations, &ob, &agg);
	w.recipient = (char *)in->window.recipient;
	w.purpose = (char *)(in->window.purpose != NULL ? in->window.purpose : "");
	w.function = (char *)in->window.function;
	w.field = (char *)in->window.field;
	w.start_ms = in->window.start_ms;
	w.window_ms = in->window.window_ms;
	w.group = (char *)(in->window.group != NULL ? in->window.group : "");
	w.count = in->window.count;
	w.sum = in->window.sum;
	w.min = in->window.min;
	w.max = in->window.max;
	w.header = &hdr;
	w.rule_ids = (char **)in->window.rule_ids.items;
	w.n_rule_ids = in->window.rule_ids.n;
	w.grant_id = (char *)(in->window.grant_id != NULL ? in->window.grant_id : "");
	w.obligations = &ob;
	pb.kind_case = TIDS__V1__ROUTER_STATE__KIND_WINDOW;
	pb.window = &w;
	r = wire_pack(&pb.base, out, len);
	wire_record_view_free(&hdr);
	return r;
}

void tids_router_state_free(struct tids_router_state *s)
{
	if (s == NULL)
		return;
	wire_release(s->backing);
	memset(s, 0, sizeof(*s));
}

static void put_u(crypto_generichash_state *st, uint64_t v, size_t bytes)
{
	uint8_t b[8];

	for (size_t i = bytes; i-- > 0; v >>= 8)
		b[i] = (uint8_t)v;
	crypto_generichash_update(st, b, bytes);
}

void tids_state_mac(const uint8_t mac_key[32], const char *topic, const uint8_t *key, size_t key_len,
		    uint64_t seq, const uint8_t *value, size_t len, uint8_t mac[TIDS_STATE_MAC_BYTES])
{
	crypto_generichash_state st;
	size_t tlen = strlen(topic);

	/* Length-prefixed, so that no two entries give the same bytes. */
	crypto_generichash_init(&st, mac_key, 32, TIDS_STATE_MAC_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)TIDS_DOMAIN_STATE, strlen(TIDS_DOMAIN_STATE) + 1);
	put_u(&st, tlen, 4);
	crypto_generichash_update(&st, (const uint8_t *)topic, tlen);
	put_u(&st, key_len, 4);
	crypto_generichash_update(&st, key, key_len);
	put_u(&st, seq, 8);
	put_u(&st, value != NULL, 1);
	if (value != NULL) {
		put_u(&st, len, 4);
		crypto_generichash_update(&st, value, len);
	}
	crypto_generichash_final(&st, mac, TIDS_STATE_MAC_BYTES);
}

/* The checks of the state topics' gates before the value is decoded. */
int wire_state_open(const uint8_t mac_key[32], const struct tids_state_message *m, enum state_key_rule rule,
		    size_t max, uint64_t *seq, char *err, size_t errlen)
{
	uint8_t want[TIDS_STATE_MAC_BYTES];
	uint64_t s = 0;
	int ok;

	*seq = 0;
	if (m->key == NULL || m->key_len == 0 || m->key_len > TIDS_STATE_KEY_MAX)
		return tids_fail(err, errlen, TIDS_EBADID, "state entry: key missing or longer than %d bytes",
				 TIDS_STATE_KEY_MAX);
	if (rule == STATE_KEY_NO_NUL && memchr(m->key, '\0', m->key_len) != NULL)
		return tids_fail(err, errlen, TIDS_EBADID, "state entry: key holds a NUL byte");
	if (rule == STATE_KEY_PRINTABLE)
		for (size_t i = 0; i < m->key_len; i++)
			if (m->key[i] < 0x21 || m->key[i] > 0x7e)
				return tids_fail(err, errlen, TIDS_EBADID, "state entry: key byte %zu is not printable",
						 i);
	if (m->value != NULL && m->len > max)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "state entry: value longer than %zu bytes", max);
	if (m->mac == NULL || m->seq == NULL)
		return tids_fail(err, errlen, TIDS_EAUTH, "state entry: no %s header: not written by this hub",
				 m->mac == NULL ? TIDS_STATE_HEADER_MAC : TIDS_STATE_HEADER_SEQ);
	if (m->mac_len != TIDS_STATE_MAC_BYTES || m->seq_len != 8)
		return tids_fail(err, errlen, TIDS_EAUTH, "state entry: %s header of %zu bytes",
				 m->mac_len != TIDS_STATE_MAC_BYTES ? TIDS_STATE_HEADER_MAC : TIDS_STATE_HEADER_SEQ,
				 m->mac_len != TIDS_STATE_MAC_BYTES ? m->mac_len : m->seq_len);
	for (int i = 0; i < 8; i++)
		s = s << 8 | m->seq[i];
	tids_state_mac(mac_key, m->topic, m->key, m->key_len, s, m->value, m->len, want);
	ok = crypto_verify_32(want, m->mac) == 0;
	sodium_memzero(want, sizeof(want));
	if (!ok || s == 0)
		return tids_fail(err, errlen, TIDS_EAUTH, "state entry: its MAC does not verify (forged or altered)");
	*seq = s;
	return 0;
}

int tids_wire_open_router_state(const uint8_t mac_key[32], const struct tids_state_message *m,
				struct tids_router_state *out, uint64_t *seq, char *err, size_t errlen)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = wire_state_open(mac_key, m, STATE_KEY_NO_NUL, STATE_MAX, seq, err, errlen)) != 0)
		return r;
	if (m->value == NULL)
		return 0;
	return tids_wire_decode_router_state(m->value, m->len, out, err, errlen);
}
