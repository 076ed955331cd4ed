/*
 * The gate for receipts (receipt.proto): the hub's signed ingest statement
 * and the receipt each delivery carries. Receipts come back from files that
 * participants keep, so every field is checked as from a stranger; what is
 * signed (the statement, the chain head) is carried as its exact bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "tids/ledger.h"
#include "wire_internal.h"

/* --- ingest statements ---------------------------------------------------- */

int tids_wire_decode_ingest_statement(const uint8_t *buf, size_t len, struct tids_ingest_statement *out, char *err,
				      size_t errlen)
{
	struct backing *b;
	Tids__V1__IngestStatement *m;
	struct tids_ingress_position *pos;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__ingest_statement__descriptor, buf, len, TIDS_RECEIPT_STATEMENT_MAX, 0, &b, err,
			errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__IngestStatement *)b->msg;
	if ((r = wire_need_id("ingest statement: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_need_id("ingest statement: publisher", m->publisher, err, errlen)) < 0 ||
	    (r = wire_bytes("ingest statement: batch_root", m->batch_root, TIDS_HASH_BYTES, err, errlen)) < 0)
		goto out;
	if (m->n_positions == 0 || m->n_positions > TIDS_BATCH_RECORDS_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "ingest statement: %zu positions (1 to %d)", m->n_positions,
			      TIDS_BATCH_RECORDS_MAX);
		goto out;
	}
	if (m->signed_at_ms <= 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "ingest statement: signed_at_ms missing");
		goto out;
	}
	pos = wire_alloc(b, m->n_positions * sizeof(*pos));
	if (pos == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "ingest statement: out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n_positions; i++) {
		const Tids__V1__IngressPosition *p = m->positions[i];

		if (p->leaf_index >= TIDS_BATCH_RECORDS_MAX || (i > 0 && p->leaf_index <= pos[i - 1].leaf_index)) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "ingest statement: position %zu: leaf %u out of order or "
				      "range", i, p->leaf_index);
			goto out;
		}
		if (p->partition < 0 || p->partition > TIDS_LEDGER_PARTITION_MAX || p->offset < 0) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "ingest statement: position %zu: partition %d offset %lld",
				      i, p->partition, (long long)p->offset);
			goto out;
		}
		pos[i] = (struct tids_ingress_position){ p->leaf_index, p->partition, p->offset };
	}
	out->hub_id = m->hub_id;
	out->publisher = m->publisher;
	out->sequence = m->sequence;
	memcpy(out->batch_root, m->batch_root.data, TIDS_HASH_BYTES);
	out->positions = pos;
	out->n_positions = m->n_positions;
	out->signed_at_ms = m->signed_at_ms;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_ingest_statement(const struct tids_ingest_statement *in, uint8_t **out, size_t *len)
{
	Tids__V1__IngestStatement pb = TIDS__V1__INGEST_STATEMENT__INIT;
	Tids__V1__IngressPosition *pos, **ptrs;
	size_t n = in->n_positions;
	int r;

	ptrs = malloc(n * (sizeof(*ptrs) + sizeof(*pos)) + 1);
	if (ptrs == NULL)
		return TIDS_ENOMEM;
	pos = (Tids__V1__IngressPosition *)(void *)(ptrs + n);
	for (size_t i = 0; i < n; i++) {
		tids__v1__ingress_position__init(&pos[i]);
		pos[i].leaf_index = in->positions[i].leaf_index;
		pos[i].partition = in->positions[i].partition;
		pos[i].offset = in->positions[i].offset;
		ptrs[i] = &pos[i];
	}
	pb.hub_id = (char *)in->hub_id;
	pb.publisher = (char *)in->publisher;
	pb.sequence = in->sequence;
	pb.batch_root.data = (uint8_t *)in->batch_root;
	pb.batch_root.len = TIDS_HASH_BYTES;
	pb.positions = ptrs;
	pb.n_positions = n;
	pb.signed_at_ms = in->signed_at_ms;
	r = wire_pack(&pb.base, out, len);
	free(ptrs);
	return r;
}

void tids_ingest_statement_free(struct tids_ingest_statement *s)
{
	if (s == NULL)
		return;
	wire_release(s->backing);
	memset(s, 0, sizeof(*s));
}

/* --- ingest receipts ---------------------------------------------------- */

int wire_ingest_receipt_from(const Tids__V1__IngestReceipt *m, struct tids_ingest_receipt *out, char *err,
			     size_t errlen)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (m->statement.len == 0 || m->statement.len > TIDS_RECEIPT_STATEMENT_MAX)
		return tids_fail(err, errlen, TIDS_EINVAL, "ingest receipt: statement of %zu bytes", m->statement.len);
	if ((r = wire_bytes("ingest receipt: signature", m->signature, TIDS_SIGNATURE_BYTES, err, errlen)) < 0)
		return r;
	out->statement.data = m->statement.data;
	out->statement.len = m->statement.len;
	memcpy(out->signature, m->signature.data, TIDS_SIGNATURE_BYTES);
	return 0;
}

void wire_ingest_receipt_to(const struct tids_ingest_receipt *in, Tids__V1__IngestReceipt *pb)
{
	tids__v1__ingest_receipt__init(pb);
	pb->statement.data = (uint8_t *)in->statement.data;
	pb->statement.len = in->statement.len;
	pb->signature.data = (uint8_t *)in->signature;
	pb->signature.len = TIDS_SIGNATURE_BYTES;
}

int tids_wire_decode_ingest_receipt(const uint8_t *buf, size_t len, struct tids_ingest_receipt *out, char *err,
				    size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__ingest_receipt__descriptor, buf, len, TIDS_RECEIPT_STATEMENT_MAX + 256, 0, &b, err,
			errlen);
	if (r < 0)
		return r;
	if ((r = wire_ingest_receipt_from((Tids__V1__IngestReceipt *)b->msg, out, err, errlen)) < 0) {
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

int tids_wire_encode_ingest_receipt(const struct tids_ingest_receipt *in, uint8_t **out, size_t *len)
{
	Tids__V1__IngestReceipt pb;

	wire_ingest_receipt_to(in, &pb);
	return wire_pack(&pb.base, out, len);
}

void tids_ingest_receipt_free(struct tids_ingest_receipt *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}

/* --- delivery receipts -------------------------------------------------- */

int wire_delivery_receipt_from(const Tids__V1__DeliveryReceipt *m, struct tids_delivery_receipt *out, char *err,
			       size_t errlen)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (m->partition < 0 || m->partition > TIDS_LEDGER_PARTITION_MAX || m->seq == 0 || m->seq > TIDS_LEDGER_SEQ_MAX)
		return tids_fail(err, errlen, TIDS_EINVAL, "delivery receipt: no audit entry %d:%llu", m->partition,
				 (unsigned long long)m->seq);
	if ((r = wire_bytes("delivery receipt: entry_hash", m->entry_hash, TIDS_HASH_BYTES, err, errlen)) < 0)
		return r;
	if (m->head.len == 0 || m->head.len > TIDS_RECEIPT_HEAD_MAX)
		return tids_fail(err, errlen, TIDS_EINVAL, "delivery receipt: head of %zu bytes", m->head.len);
	out->partition = m->partition;
	out->seq = m->seq;
	memcpy(out->entry_hash, m->entry_hash.data, TIDS_HASH_BYTES);
	out->head.data = m->head.data;
	out->head.len = m->head.len;
	return 0;
}

void wire_delivery_receipt_to(const struct tids_delivery_receipt *in, Tids__V1__DeliveryReceipt *pb)
{
	tids__v1__delivery_receipt__init(pb);
	pb->partition = in->partition;
	pb->seq = in->seq;
	pb->entry_hash.data = (uint8_t *)in->entry_hash;
	pb->entry_hash.len = TIDS_HASH_BYTES;
	pb->head.data = (uint8_t *)in->head.data;
	pb->head.len = in->head.len;
}

int tids_wire_decode_delivery_receipt(const uint8_t *buf, size_t len, struct tids_delivery_receipt *out, char *err,
				      size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__delivery_receipt__descriptor, buf, len, TIDS_RECEIPT_HEAD_MAX + 256, 0, &b, err,
			errlen);
	if (r < 0)
		return r;
	if ((r = wire_delivery_receipt_from((Tids__V1__DeliveryReceipt *)b->msg, out, err, errlen)) < 0) {
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

int tids_wire_encode_delivery_receipt(const struct tids_delivery_receipt *in, uint8_t **out, size_t *len)
{
	Tids__V1__DeliveryReceipt pb;

	wire_delivery_receipt_to(in, &pb);
	return wire_pack(&pb.base, out, len);
}

void tids_delivery_receipt_free(struct tids_delivery_receipt *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}
