/*
 * Encoders of the messages the router writes for every record: Record,
 * Delivery, DeliveryEnvelope and AuditEntry, appended straight to a
 * buffer. protobuf-c packs through its descriptors (a sizing pass, then a
 * packing pass, each field looked up and tested) and needs its own structs
 * filled first: for three deliveries and four audit entries per record that
 * was a quarter of the router's CPU. These write the same bytes protobuf-c
 * does (fields in number order, proto3 defaults left out, oneof members
 * written when set) in one pass with no allocation once the buffer has
 * room; check_wire_write holds them to protobuf-c's output.
 */
#include <limits.h>
#include <string.h>

#include "tids/buf.h"
#include "tids/varint.h"
#include "wire_internal.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* The writer keeps raw positions in the buffer, and goes back to the
 * buffer only to grow it and when it is done: a room test is a pointer
 * comparison and a write a store, which is what the router's per-record
 * encoding spends its time on (several dozen fields per record). */
struct w {
	struct tids_buf *b;
	uint8_t *p;                          /* where the next byte goes */
	uint8_t *end;                        /* the end of the buffer's room */
	int err;
};

#define HOT static inline __attribute__((always_inline))

static void w_init(struct w *w, struct tids_buf *b)
{
	w->b = b;
	w->err = 0;
	w->p = b->data != NULL ? tids_buf_tail(b) : NULL;
	w->end = b->data != NULL ? b->data + b->cap : NULL;
}

/* The buffer's length, brought up to the writer's position. */
static void w_sync(struct w *w)
{
	if (w->p != NULL)
		w->b->len = (size_t)(w->p - tids_buf_head(w->b));
}

static __attribute__((noinline)) bool grow(struct w *w, size_t n)
{
	if (w->err != 0)
		return false;
	w_sync(w);
	if ((w->err = tids_buf_reserve(w->b, n)) != 0) {
		/* Every room test fails from here on. */
		w->end = w->p;
		return false;
	}
	w->p = tids_buf_tail(w->b);
	w->end = w->b->data + w->b->cap;
	return true;
}

HOT bool room(struct w *w, size_t n)
{
	if (w->p != NULL && (size_t)(w->end - w->p) >= n)
		return true;
	return grow(w, n);
}

/* Caller made room (at most 10 bytes). */
HOT void put_varint(struct w *w, uint64_t v)
{
	w->p += tids_varint_put(w->p, v);
}

HOT void put_key(struct w *w, unsigned field, unsigned wt)
{
	put_varint(w, (uint64_t)field << 3 | wt);
}

HOT void field_varint(struct w *w, unsigned field, uint64_t v)
{
	if (room(w, 12)) {
		put_key(w, field, WT_VARINT);
		put_varint(w, v);
	}
}

/* proto3 scalars: left out at zero. int32 and enums sign-extend. */
HOT void opt_u64(struct w *w, unsigned field, uint64_t v)
{
	if (v != 0)
		field_varint(w, field, v);
}

HOT void opt_i64(struct w *w, unsigned field, int64_t v)
{
	if (v != 0)
		field_varint(w, field, (uint64_t)v);
}

HOT void opt_i32(struct w *w, unsigned field, int32_t v)
{
	if (v != 0)
		field_varint(w, field, (uint64_t)(int64_t)v);
}

HOT void opt_bool(struct w *w, unsigned field, bool v)
{
	if (v)
		field_varint(w, field, 1);
}

HOT void field_bytes(struct w *w, unsigned field, const void *p, size_t n)
{
	if (room(w, 12 + n)) {
		put_key(w, field, WT_LEN);
		put_varint(w, n);
		if (n > 0)
			memcpy(w->p, p, n);
		w->p += n;
	}
}

HOT void opt_string(struct w *w, unsigned field, const char *s)
{
	if (s != NULL && *s != '\0')
		field_bytes(w, field, s, strlen(s));
}

/* protobuf-c leaves a proto3 bytes field out when it is empty. */
HOT void opt_bytes(struct w *w, unsigned field, const struct tids_bytes *v)
{
	if (v->len != 0)
		field_bytes(w, field, v->data, v->len);
}

static void strings(struct w *w, unsigned field, const struct tids_strlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->items[i] != NULL ? l->items[i] : "";

		field_bytes(w, field, s, strlen(s));
	}
}

static void field_double(struct w *w, unsigned field, double d)
{
	uint64_t v;

	if (!room(w, 10))
		return;
	put_key(w, field, WT_I64);
	memcpy(&v, &d, sizeof(v));
	for (int i = 0; i < 8; i++)
		w->p[i] = (uint8_t)(v >> (8 * i));
	w->p += 8;
}

/* A sub-message: its key and a one-byte length now, the length fixed up
 * (and the body moved) once the body is written, if it took 128 bytes or
 * more. Positions are offsets from the buffer's head: it may move while
 * growing. */
static size_t open_msg(struct w *w, unsigned field)
{
	if (!room(w, 4))
		return 0;
	put_key(w, field, WT_LEN);
	w->p++;
	return (size_t)(w->p - tids_buf_head(w->b));
}

static void close_msg(struct w *w, size_t body)
{
	size_t n, extra;
	uint8_t *head;

	if (w->err != 0)
		return;
	n = (size_t)(w->p - tids_buf_head(w->b)) - body;
	extra = tids_varint_len(n) - 1;
	if (extra > 0 && !room(w, extra))
		return;
	head = w->b->data + w->b->off;
	if (extra > 0)
		memmove(head + body + extra, head + body, n);
	tids_varint_put(head + body - 1, n);
	w->p += extra;
}

/* --- messages ------------------------------------------------------------ */

static void value(struct w *w, const struct tids_value *v)
{
	switch (v->kind) {
	case TIDS_VALUE_INT:
		field_varint(w, 1, (uint64_t)v->as.i << 1 ^ (uint64_t)(v->as.i >> 63));
		break;
	case TIDS_VALUE_UINT:
		field_varint(w, 2, v->as.u);
		break;
	case TIDS_VALUE_REAL:
		field_double(w, 3, v->as.d);
		break;
	case TIDS_VALUE_FLAG:
		field_varint(w, 4, v->as.b ? 1 : 0);
		break;
	case TIDS_VALUE_TEXT:
		if (v->as.bytes.data != NULL)
			field_bytes(w, 5, v->as.bytes.data, v->as.bytes.len);
		break;
	case TIDS_VALUE_BLOB:
		field_bytes(w, 6, v->as.bytes.data, v->as.bytes.len);
		break;
	case TIDS_VALUE_NONE:
		break;
	}
}

static void record(struct w *w, const struct tids_record *r)
{
	field_bytes(w, 1, r->record_id, TIDS_RECORD_ID_BYTES);
	opt_string(w, 2, r->owner);
	opt_string(w, 3, r->asset_id);
	opt_string(w, 4, r->category);
	opt_i32(w, 5, (int32_t)r->tier);
	opt_string(w, 6, r->origin);
	opt_i64(w, 7, r->produced_at_ms);
	opt_bool(w, 8, r->personal);
	opt_u64(w, 9, r->individuals);
	opt_bool(w, 10, r->sensitive_personal);
	opt_string(w, 11, r->schema);
	for (size_t i = 0; i < r->n_fields; i++) {
		const struct tids_field *f = &r->fields[i];
		size_t body = open_msg(w, 12);

		opt_string(w, 1, f->name);
		if (f->value.kind != TIDS_VALUE_NONE) {
			size_t v = open_msg(w, 2);

			value(w, &f->value);
			close_msg(w, v);
		}
		opt_i32(w, 3, (int32_t)f->tier);
		strings(w, 4, &(struct tids_strlist){ (const char *const *)f->labels, f->n_labels });
		close_msg(w, body);
	}
}

/* The field numbers of the obligations vocabulary (policy/obligations.def)
 * in tids.v1.Obligations: an obligation added there without its number
 * here does not compile. protobuf-c writes fields by increasing number, so
 * the table is expanded twice, around the fields with rules of their own
 * (redacted 5, aggregate 6, purposes 7). */
enum { OB_notify = 2, OB_no_onward_transfer = 3, OB_encrypt = 4, OB_duties = 8 };

static void obligations_named(struct w *w, const struct tids_obligations *o, unsigned lo, unsigned hi)
{
#define TIDS_OB_FLAG(name, summary) \
	if (OB_##name > lo && OB_##name < hi) \
		opt_bool(w, OB_##name, o->name);
#define TIDS_OB_LIST(name, word, check, summary) \
	if (OB_##name > lo && OB_##name < hi) \
		strings(w, OB_##name, &o->name);
#include "obligations.def"
}

static void obligations(struct w *w, unsigned field, const struct tids_obligations *o)
{
	size_t body = open_msg(w, field);

	opt_i64(w, 1, o->retain_until_ms);
	obligations_named(w, o, 1, 5);
	strings(w, 5, &o->redacted);
	if (o->aggregate.function != NULL) {
		size_t agg = open_msg(w, 6);

		opt_string(w, 1, o->aggregate.function);
		opt_string(w, 2, o->aggregate.field);
		opt_i64(w, 3, o->aggregate.window_ms);
		strings(w, 4, &o->aggregate.by);
		opt_i64(w, 5, o->aggregate.window_months);
		close_msg(w, agg);
	}
	strings(w, 7, &o->purposes);
	obligations_named(w, o, 7, UINT_MAX);
	close_msg(w, body);
}

/* A DeliveryReceipt (receipt.proto) as field `field`. */
static void receipt(struct w *w, unsigned field, const struct tids_delivery_receipt *r)
{
	size_t body = open_msg(w, field);

	opt_i32(w, 1, r->partition);
	opt_u64(w, 2, r->seq);
	field_bytes(w, 3, r->entry_hash, TIDS_HASH_BYTES);
	opt_bytes(w, 4, &r->head);
	close_msg(w, body);
}

/* A Provenance (record.proto): the batch material only with a publisher,
 * as tids_wire_decode_delivery demands. */
static void provenance(struct w *w, unsigned field, const struct tids_provenance *p)
{
	size_t body = open_msg(w, field);
	bool batch = p->publisher != NULL && *p->publisher != '\0';
	size_t n = p->n_merkle_path < 64 ? p->n_merkle_path : 64;

	opt_string(w, 1, p->hub_id);
	opt_string(w, 2, p->publisher);
	opt_u64(w, 3, p->sequence);
	if (batch) {
		field_bytes(w, 4, p->batch_root, TIDS_HASH_BYTES);
		field_bytes(w, 5, p->batch_signature, TIDS_SIGNATURE_BYTES);
	}
	opt_u64(w, 6, p->leaf_index);
	opt_u64(w, 7, p->leaf_count);
	if (batch) {
		for (size_t i = 0; i < n; i++)
			field_bytes(w, 8, p->merkle_path[i], TIDS_HASH_BYTES);
		field_bytes(w, 9, p->leaf_hash, TIDS_HASH_BYTES);
		opt_bytes(w, 10, &p->published);
	}
	opt_u64(w, 11, p->hops);
	opt_string(w, 12, p->export_hub);
	opt_i32(w, 13, p->export_partition);
	opt_u64(w, 14, p->export_seq);
	close_msg(w, body);
}

static int done(struct w *w, size_t start)
{
	w_sync(w);
	if (w->err != 0) {
		w->b->len = start;
		return w->err;
	}
	return 0;
}

int tids_wire_append_record(struct tids_buf *out, const struct tids_record *in)
{
	struct w w;
	size_t start = out->len;

	w_init(&w, out);
	record(&w, in);
	return done(&w, start);
}

int tids_wire_append_delivery(struct tids_buf *out, const struct tids_delivery *in, const struct tids_bytes *record_bytes)
{
	struct w w;
	size_t start = out->len;

	w_init(&w, out);
	if (record_bytes != NULL) {
		field_bytes(&w, 1, record_bytes->data, record_bytes->len);
	} else {
		size_t body = open_msg(&w, 1);

		record(&w, &in->record);
		close_msg(&w, body);
	}
	opt_i32(&w, 2, (int32_t)in->decision);
	strings(&w, 3, &in->rule_ids);
	obligations(&w, 4, &in->obligations);
	opt_string(&w, 5, in->grant_id);
	opt_string(&w, 6, in->purpose);
	opt_u64(&w, 7, in->delivery_seq);
	opt_i64(&w, 8, in->decided_at_ms);
	opt_bytes(&w, 9, &in->source_record_id);
	opt_string(&w, 10, in->notification_for);
	if (in->provenance.present)
		provenance(&w, 11, &in->provenance);
	if (in->has_receipt)
		receipt(&w, 12, &in->receipt);
	return done(&w, start);
}

int tids_wire_append_envelope_head(struct tids_buf *out, size_t delivery_len)
{
	struct w w;

	w_init(&w, out);
	if (room(&w, 12)) {
		put_key(&w, 1, WT_LEN);
		put_varint(&w, delivery_len);
	}
	w_sync(&w);
	return w.err;
}

int tids_wire_append_envelope_tail(struct tids_buf *out, const char *sealed_by,
				   const uint8_t record_id[TIDS_RECORD_ID_BYTES])
{
	struct w w;
	size_t start = out->len;

	w_init(&w, out);
	opt_string(&w, 2, sealed_by);
	field_bytes(&w, 3, record_id, TIDS_RECORD_ID_BYTES);
	return done(&w, start);
}

int tids_wire_append_envelope_receipt(struct tids_buf *out, const struct tids_delivery_receipt *rc)
{
	struct w w;
	size_t start = out->len;

	w_init(&w, out);
	receipt(&w, 10, rc);
	return done(&w, start);
}

int tids_wire_append_audit_entry(struct tids_buf *out, const struct tids_audit_entry *in)
{
	struct w w;
	size_t start = out->len;

	w_init(&w, out);
	opt_string(&w, 1, in->hub_id);
	opt_i32(&w, 2, in->partition);
	opt_u64(&w, 3, in->seq);
	field_bytes(&w, 4, in->prev_hash, TIDS_HASH_BYTES);
	field_bytes(&w, 5, in->record_id, TIDS_RECORD_ID_BYTES);
	opt_string(&w, 6, in->owner);
	opt_string(&w, 7, in->recipient);
	opt_string(&w, 8, in->purpose);
	opt_i32(&w, 9, (int32_t)in->decision);
	strings(&w, 10, &in->rule_ids);
	opt_i32(&w, 11, (int32_t)in->tier);
	opt_string(&w, 12, in->category);
	opt_string(&w, 13, in->origin);
	opt_string(&w, 14, in->destination);
	opt_string(&w, 15, in->grant_id);
	opt_string(&w, 16, in->approval_id);
	opt_i64(&w, 17, in->decided_at_ms);
	opt_i64(&w, 18, in->ingress_offset);
	obligations(&w, 19, &in->obligations);
	opt_string(&w, 20, in->reason);
	opt_bytes(&w, 21, &in->delivered_hash);
	opt_string(&w, 22, in->asset_id);
	opt_u64(&w, 23, in->delivery_seq);
	opt_string(&w, 24, in->case_id);
	if (in->has_near_miss) {
		const struct tids_near_miss *nm = &in->near_miss;
		size_t body = open_msg(&w, 25);

		opt_string(&w, 1, nm->kind);
		opt_string(&w, 2, nm->id);
		opt_i32(&w, 3, nm->code);
		opt_u64(&w, 4, nm->failed);
		opt_i64(&w, 5, nm->at_ms);
		opt_u64(&w, 6, nm->uses);
		opt_u64(&w, 7, nm->max_uses);
		opt_string(&w, 8, nm->rule_id);
		close_msg(&w, body);
	}
	if (in->n_counts > TIDS_AUDIT_COUNTS_MAX) {
		out->len = start;
		return TIDS_ETOOMANY;
	}
	for (size_t i = 0; i < in->n_counts; i++) {
		const struct tids_counter_increment *c = &in->counts[i];
		size_t body = open_msg(&w, 30);

		opt_string(&w, 1, c->name);
		opt_string(&w, 2, c->key);
		opt_i64(&w, 3, c->period);
		opt_u64(&w, 4, c->amount);
		opt_u64(&w, 5, c->total);
		close_msg(&w, body);
	}
	if (in->has_aggregate) {
		const struct tids_aggregate_result *a = &in->aggregate;
		size_t body = open_msg(&w, 31);

		opt_string(&w, 1, a->function);
		opt_string(&w, 2, a->field);
		opt_i64(&w, 3, a->window_start_ms);
		opt_i64(&w, 4, a->window_ms);
		opt_u64(&w, 5, a->count);
		if (a->value != 0)
			field_double(&w, 6, a->value);
		close_msg(&w, body);
	}
	opt_string(&w, 40, in->peer_hub);
	opt_i32(&w, 41, in->peer_partition);
	opt_u64(&w, 42, in->peer_seq);
	return done(&w, start);
}

/* --- the allocating encoders, on top ---------------------------------------- */

static int hand_over(struct tids_buf *b, int r, uint8_t **out, size_t *len)
{
	if (r != 0) {
		tids_buf_free(b);
		return r;
	}
	/* An empty message is still a message: never hand back NULL. */
	if (b->data == NULL && tids_buf_reserve(b, 1) != 0)
		return TIDS_ENOMEM;
	*out = b->data;
	*len = b->len;
	return 0;
}

int tids_wire_encode_record(const struct tids_record *in, uint8_t **out, size_t *len)
{
	struct tids_buf b = { 0 };

	return hand_over(&b, tids_wire_append_record(&b, in), out, len);
}

int tids_wire_encode_delivery(const struct tids_delivery *in, uint8_t **out, size_t *len)
{
	struct tids_buf b = { 0 };

	return hand_over(&b, tids_wire_append_delivery(&b, in, NULL), out, len);
}

int tids_wire_encode_delivery_envelope(const struct tids_delivery_envelope *in, uint8_t **out, size_t *len)
{
	struct tids_buf b = { 0 };
	int r = 0;

	/* protobuf-c leaves a bytes field out when it is empty. */
	if (in->delivery.len != 0 && (r = tids_wire_append_envelope_head(&b, in->delivery.len)) == 0)
		r = tids_buf_append(&b, in->delivery.data, in->delivery.len);
	if (r == 0)
		r = tids_wire_append_envelope_tail(&b, in->sealed_by, in->record_id);
	if (r == 0 && in->has_receipt) {
		struct w w;

		w_init(&w, &b);
		receipt(&w, 10, &in->receipt);
		w_sync(&w);
		r = w.err;
	}
	return hand_over(&b, r, out, len);
}

int tids_wire_encode_audit_entry(const struct tids_audit_entry *in, uint8_t **out, size_t *len)
{
	struct tids_buf b = { 0 };

	return hand_over(&b, tids_wire_append_audit_entry(&b, in), out, len);
}
