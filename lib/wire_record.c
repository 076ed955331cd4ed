/*
 * Gates and encoders for records and what carries them: Record,
 * PublishBatch, PublishAck, Delivery, and the Obligations inside them.
 */
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

/* A batch of TIDS_BATCH_RECORDS_MAX full records plus framing. */
#define BATCH_MAX ((size_t)TIDS_BATCH_RECORDS_MAX * (TIDS_RECORD_MAX + 8) + 4096)

static int value_from(const Tids__V1__Value *v, struct tids_value *out)
{
	memset(out, 0, sizeof(*out));
	if (v == NULL)
		return 0;
	switch (v->kind_case) {
	case TIDS__V1__VALUE__KIND_INT:
		out->kind = TIDS_VALUE_INT;
		out->as.i = v->int_;
		break;
	case TIDS__V1__VALUE__KIND_UINT:
		out->kind = TIDS_VALUE_UINT;
		out->as.u = v->uint;
		break;
	case TIDS__V1__VALUE__KIND_REAL:
		out->kind = TIDS_VALUE_REAL;
		out->as.d = v->real;
		break;
	case TIDS__V1__VALUE__KIND_FLAG:
		out->kind = TIDS_VALUE_FLAG;
		out->as.b = v->flag != 0;
		break;
	case TIDS__V1__VALUE__KIND_TEXT:
		out->kind = TIDS_VALUE_TEXT;
		out->as.bytes.data = (const uint8_t *)v->text;
		out->as.bytes.len = strlen(v->text);
		break;
	case TIDS__V1__VALUE__KIND_BLOB:
		out->kind = TIDS_VALUE_BLOB;
		out->as.bytes.data = v->blob.data;
		out->as.bytes.len = v->blob.len;
		break;
	default:
		break;
	}
	return 0;
}

int wire_record_from(const Tids__V1__Record *m, struct tids_record *rec,
		     struct tids_field *fields, char *err, size_t errlen)
{
	memset(rec, 0, sizeof(*rec));
	if (m->record_id.len != TIDS_RECORD_ID_BYTES)
		return tids_fail(err, errlen, m->record_id.len == 0 ? TIDS_EMISSING : TIDS_EINVAL,
				 "record: record_id is %zu bytes, must be %d", m->record_id.len,
				 TIDS_RECORD_ID_BYTES);
	memcpy(rec->record_id, m->record_id.data, TIDS_RECORD_ID_BYTES);
	rec->owner = m->owner;
	rec->asset_id = m->asset_id;
	rec->category = m->category;
	rec->tier = (enum tids_tier)m->tier;
	rec->origin = m->origin;
	rec->produced_at_ms = m->produced_at_ms;
	rec->personal = m->personal != 0;
	rec->individuals = m->individuals;
	rec->sensitive_personal = m->sensitive_personal != 0;
	rec->schema = m->schema;
	rec->fields = fields;
	rec->n_fields = m->n_fields;
	for (size_t i = 0; i < m->n_fields; i++) {
		const Tids__V1__Field *f = m->fields[i];

		fields[i].name = f->name;
		fields[i].tier = (enum tids_tier)f->tier;
		fields[i].labels = (const char *const *)f->labels;
		fields[i].n_labels = f->n_labels;
		value_from(f->value, &fields[i].value);
	}
	return tids_record_validate(rec, err, errlen);
}

int tids_wire_decode_record(const uint8_t *buf, size_t len, struct tids_record *out,
			    char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Record *m;
	struct tids_field *fields;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__record__descriptor, buf, len, TIDS_RECORD_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Record *)b->msg;
	if (m->n_fields > TIDS_FIELDS_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "record: %zu fields, at most %d",
			      m->n_fields, TIDS_FIELDS_MAX);
		goto out;
	}
	fields = wire_alloc(b, m->n_fields * sizeof(*fields));
	if (fields == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "record: out of memory");
		goto out;
	}
	r = wire_record_from(m, out, fields, err, errlen);
	if (r < 0)
		goto out;
	out->backing = b;
	out->release = wire_release;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int wire_record_view(const struct tids_record *rec, Tids__V1__Record *pb)
{
	Tids__V1__Field **ptrs;
	Tids__V1__Field *fields;
	Tids__V1__Value *values;
	size_t n = rec->n_fields;

	tids__v1__record__init(pb);
	ptrs = malloc(n * (sizeof(*ptrs) + sizeof(*fields) + sizeof(*values)) + 1);
	if (ptrs == NULL)
		return TIDS_ENOMEM;
	fields = (Tids__V1__Field *)(void *)(ptrs + n);
	values = (Tids__V1__Value *)(void *)(fields + n);
	pb->record_id.data = (uint8_t *)rec->record_id;
	pb->record_id.len = TIDS_RECORD_ID_BYTES;
	pb->owner = (char *)(rec->owner != NULL ? rec->owner : "");
	pb->asset_id = (char *)(rec->asset_id != NULL ? rec->asset_id : "");
	pb->category = (char *)(rec->category != NULL ? rec->category : "");
	pb->tier = (Tids__V1__Tier)rec->tier;
	pb->origin = (char *)(rec->origin != NULL ? rec->origin : "");
	pb->produced_at_ms = rec->produced_at_ms;
	pb->personal = rec->personal;
	pb->individuals = rec->individuals;
	pb->sensitive_personal = rec->sensitive_personal;
	pb->schema = (char *)(rec->schema != NULL ? rec->schema : "");
	pb->n_fields = n;
	pb->fields = ptrs;
	for (size_t i = 0; i < n; i++) {
		const struct tids_field *f = &rec->fields[i];
		Tids__V1__Value *v = &values[i];

		tids__v1__field__init(&fields[i]);
		tids__v1__value__init(v);
		fields[i].name = (char *)f->name;
		fields[i].tier = (Tids__V1__Tier)f->tier;
		fields[i].labels = (char **)f->labels;
		fields[i].n_labels = f->n_labels;
		fields[i].value = v;
		switch (f->value.kind) {
		case TIDS_VALUE_INT:
			v->kind_case = TIDS__V1__VALUE__KIND_INT;
			v->int_ = f->value.as.i;
			break;
		case TIDS_VALUE_UINT:
			v->kind_case = TIDS__V1__VALUE__KIND_UINT;
			v->uint = f->value.as.u;
			break;
		case TIDS_VALUE_REAL:
			v->kind_case = TIDS__V1__VALUE__KIND_REAL;
			v->real = f->value.as.d;
			break;
		case TIDS_VALUE_FLAG:
			v->kind_case = TIDS__V1__VALUE__KIND_FLAG;
			v->flag = f->value.as.b;
			break;
		case TIDS_VALUE_TEXT:
			v->kind_case = TIDS__V1__VALUE__KIND_TEXT;
			v->text = (char *)f->value.as.bytes.data;
			break;
		case TIDS_VALUE_BLOB:
			v->kind_case = TIDS__V1__VALUE__KIND_BLOB;
			v->blob.data = (uint8_t *)f->value.as.bytes.data;
			v->blob.len = f->value.as.bytes.len;
			break;
		case TIDS_VALUE_NONE:
			fields[i].value = NULL;
			break;
		}
		ptrs[i] = &fields[i];
	}
	return 0;
}

void wire_record_view_free(Tids__V1__Record *pb)
{
	free(pb->fields);
	pb->fields = NULL;
}

/* --- batches ------------------------------------------------------------ */

int tids_wire_decode_batch(const uint8_t *buf, size_t len, struct tids_batch *out,
			   char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__PublishBatch *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__publish_batch__descriptor, buf, len, BATCH_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__PublishBatch *)b->msg;
	if ((r = wire_need_id("batch: publisher", m->publisher, err, errlen)) < 0)
		goto out;
	if (m->sequence == 0) {
		r = tids_fail(err, errlen, TIDS_EMISSING, "batch: sequence missing (starts at 1)");
		goto out;
	}
	if (m->n_records == 0) {
		r = tids_fail(err, errlen, TIDS_EMISSING, "batch: no records");
		goto out;
	}
	if (m->n_records > TIDS_BATCH_RECORDS_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "batch: %zu records, at most %d",
			      m->n_records, TIDS_BATCH_RECORDS_MAX);
		goto out;
	}
	if ((r = wire_bytes("batch: merkle_root", m->merkle_root, TIDS_HASH_BYTES, err, errlen)) < 0 ||
	    (r = wire_bytes("batch: signature", m->signature, TIDS_SIGNATURE_BYTES, err, errlen)) < 0)
		goto out;
	out->records = wire_alloc(b, m->n_records * sizeof(*out->records));
	if (out->records == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "batch: out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n_records; i++) {
		if (m->records[i].len == 0 || m->records[i].len > TIDS_RECORD_MAX) {
			r = tids_fail(err, errlen, m->records[i].len == 0 ? TIDS_EMISSING : TIDS_ETOOBIG,
				      "batch: record %zu is %zu bytes (1 to %d)", i, m->records[i].len,
				      TIDS_RECORD_MAX);
			goto out;
		}
		out->records[i].data = m->records[i].data;
		out->records[i].len = m->records[i].len;
	}
	out->publisher = m->publisher;
	out->sequence = m->sequence;
	out->n_records = m->n_records;
	memcpy(out->merkle_root, m->merkle_root.data, TIDS_HASH_BYTES);
	memcpy(out->signature, m->signature.data, TIDS_SIGNATURE_BYTES);
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_batch(const struct tids_batch *in, uint8_t **out, size_t *len)
{
	Tids__V1__PublishBatch pb = TIDS__V1__PUBLISH_BATCH__INIT;
	ProtobufCBinaryData *recs;
	int r;

	recs = malloc(in->n_records * sizeof(*recs) + 1);
	if (recs == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < in->n_records; i++) {
		recs[i].data = (uint8_t *)in->records[i].data;
		recs[i].len = in->records[i].len;
	}
	pb.publisher = (char *)in->publisher;
	pb.sequence = in->sequence;
	pb.records = recs;
	pb.n_records = in->n_records;
	pb.merkle_root.data = (uint8_t *)in->merkle_root;
	pb.merkle_root.len = TIDS_HASH_BYTES;
	pb.signature.data = (uint8_t *)in->signature;
	pb.signature.len = TIDS_SIGNATURE_BYTES;
	r = wire_pack(&pb.base, out, len);
	free(recs);
	return r;
}

void tids_batch_free(struct tids_batch *b)
{
	if (b == NULL)
		return;
	wire_release(b->backing);
	memset(b, 0, sizeof(*b));
}

/* --- publish acks ------------------------------------------------------- */

int tids_wire_decode_publish_ack(const uint8_t *buf, size_t len, struct tids_publish_ack *out,
				 char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__PublishAck *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__publish_ack__descriptor, buf, len, 1u << 20, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__PublishAck *)b->msg;
	if (m->n_errors > TIDS_BATCH_RECORDS_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "publish ack: %zu errors", m->n_errors);
		goto out;
	}
	out->errors = wire_alloc(b, m->n_errors * sizeof(*out->errors));
	if (out->errors == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "publish ack: out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->n_errors; i++) {
		const Tids__V1__RecordError *e = m->errors[i];

		out->errors[i].index = e->index;
		out->errors[i].code = e->status != NULL ? (int)e->status->code : 2;
		out->errors[i].message = e->status != NULL ? e->status->message : "";
		if ((r = wire_text("publish ack: message", out->errors[i].message,
				   TIDS_STATUS_MESSAGE_MAX, err, errlen)) < 0)
			goto out;
	}
	if (m->receipt != NULL) {
		if ((r = wire_ingest_receipt_from(m->receipt, &out->receipt, err, errlen)) < 0)
			goto out;
		out->has_receipt = true;
	}
	out->n_errors = m->n_errors;
	out->sequence = m->sequence;
	out->accepted = m->accepted;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_publish_ack(const struct tids_publish_ack *in, uint8_t **out, size_t *len)
{
	Tids__V1__PublishAck pb = TIDS__V1__PUBLISH_ACK__INIT;
	Tids__V1__IngestReceipt receipt;
	Tids__V1__RecordError *errs, **ptrs;
	Tids__V1__Status *st;
	size_t n = in->n_errors;
	int r;

	ptrs = malloc(n * (sizeof(*ptrs) + sizeof(*errs) + sizeof(*st)) + 1);
	if (ptrs == NULL)
		return TIDS_ENOMEM;
	errs = (Tids__V1__RecordError *)(void *)(ptrs + n);
	st = (Tids__V1__Status *)(void *)(errs + n);
	for (size_t i = 0; i < n; i++) {
		tids__v1__record_error__init(&errs[i]);
		tids__v1__status__init(&st[i]);
		st[i].code = (Tids__V1__Code)in->errors[i].code;
		st[i].message = (char *)in->errors[i].message;
		errs[i].index = in->errors[i].index;
		errs[i].status = &st[i];
		ptrs[i] = &errs[i];
	}
	pb.sequence = in->sequence;
	pb.accepted = in->accepted;
	pb.n_errors = n;
	pb.errors = ptrs;
	if (in->has_receipt) {
		wire_ingest_receipt_to(&in->receipt, &receipt);
		pb.receipt = &receipt;
	}
	r = wire_pack(&pb.base, out, len);
	free(ptrs);
	return r;
}

void tids_publish_ack_free(struct tids_publish_ack *a)
{
	if (a == NULL)
		return;
	wire_release(a->backing);
	memset(a, 0, sizeof(*a));
}

/* --- obligations -------------------------------------------------------- */

int wire_obligations_from(const Tids__V1__Obligations *m, struct tids_obligations *o,
			  char *err, size_t errlen)
{
	const Tids__V1__Aggregation *a;
	int r;

	memset(o, 0, sizeof(*o));
	if (m == NULL)
		return 0;
	if (m->retain_until_ms < 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "obligations: retain_until_ms is negative");
	o->retain_until_ms = m->retain_until_ms;
	if ((r = wire_list("obligations: redacted", m->redacted, m->n_redacted, LIST_FIELDS, 0, &o->redacted, err, errlen)) < 0 ||
	    (r = wire_list("obligations: purposes", m->purposes, m->n_purposes, LIST_NAMES, 0, &o->purposes, err, errlen)) < 0)
		return r;
	/* the vocabulary's flags and lists (policy/obligations.def) */
#define TIDS_OB_FLAG(name, summary) o->name = m->name != 0;
#define TIDS_OB_LIST(name, word, check, summary)                                                      \
	if ((r = wire_list("obligations: " #name, m->name, m->n_##name, LIST_##check, 0, &o->name, err, \
			   errlen)) < 0)                                                                \
		return r;
#include "obligations.def"
	a = m->aggregate;
	if (a == NULL)
		return 0;
	if ((r = wire_need_name("obligations: aggregate.function", a->function, err, errlen)) < 0)
		return r;
	if (a->field == NULL || !tids_valid_field_name(a->field))
		return tids_fail(err, errlen, TIDS_EBADID, "obligations: aggregate.field must be a field name");
	if (a->window_ms < 0 || a->window_months < 0 || a->window_months > 1200000 ||
	    (a->window_ms > 0) == (a->window_months > 0))
		return tids_fail(err, errlen, TIDS_EINVAL, "obligations: aggregate needs one positive window: "
				 "window_ms or window_months");
	if ((r = wire_list("obligations: aggregate.by", a->by, a->n_by, LIST_NAMES, 0, &o->aggregate.by, err, errlen)) < 0)
		return r;
	o->aggregate.function = a->function;
	o->aggregate.field = a->field;
	o->aggregate.window_ms = a->window_ms;
	o->aggregate.window_months = a->window_months;
	return 0;
}

void wire_obligations_to(const struct tids_obligations *o, Tids__V1__Obligations *pb,
			 Tids__V1__Aggregation *agg)
{
	tids__v1__obligations__init(pb);
	pb->retain_until_ms = o->retain_until_ms;
	pb->redacted = (char **)o->redacted.items;
	pb->n_redacted = o->redacted.n;
	pb->purposes = (char **)o->purposes.items;
	pb->n_purposes = o->purposes.n;
#define TIDS_OB_FLAG(name, summary) pb->name = o->name;
#define TIDS_OB_LIST(name, word, check, summary) \
	pb->name = (char **)o->name.items;       \
	pb->n_##name = o->name.n;
#include "obligations.def"
	if (o->aggregate.function == NULL)
		return;
	tids__v1__aggregation__init(agg);
	agg->function = (char *)o->aggregate.function;
	agg->field = (char *)o->aggregate.field;
	agg->window_ms = o->aggregate.window_ms;
	agg->window_months = o->aggregate.window_months;
	agg->by = (char **)o->aggregate.by.items;
	agg->n_by = o->aggregate.by.n;
	pb->aggregate = agg;
}

/* --- deliveries --------------------------------------------------------- */

static int hash_from(const char *what, ProtobufCBinaryData d, bool required, uint8_t out[TIDS_HASH_BYTES],
		     char *err, size_t errlen)
{
	if (d.len == 0 && !required)
		return 0;
	if (d.len != TIDS_HASH_BYTES)
		return tids_fail(err, errlen, d.len == 0 ? TIDS_EMISSING : TIDS_EINVAL, "%s is %zu bytes, must be %d",
				 what, d.len, TIDS_HASH_BYTES);
	memcpy(out, d.data, TIDS_HASH_BYTES);
	return 0;
}

static int provenance_from(const Tids__V1__Provenance *m, uint8_t (*path)[TIDS_HASH_BYTES],
			   struct tids_provenance *p, char *err, size_t errlen)
{
	int r;

	if ((r = wire_need_id("provenance: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_opt_id("provenance: publisher", m->publisher, err, errlen)) < 0 ||
	    (r = wire_opt_id("provenance: export_hub", m->export_hub, err, errlen)) < 0)
		return r;
	if (m->hops < 1 || m->hops > 16 || m->export_partition < 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "provenance: hops %u or export entry out of range", m->hops);
	if (*m->publisher == '\0') {
		if (m->batch_root.len != 0 || m->batch_signature.len != 0 || m->leaf_count != 0 ||
		    m->n_merkle_path != 0 || m->leaf_hash.len != 0 || m->published.len != 0)
			return tids_fail(err, errlen, TIDS_EINVAL, "provenance: batch material without a publisher");
	} else {
		if ((r = wire_bytes("provenance: batch_root", m->batch_root, TIDS_HASH_BYTES, err, errlen)) < 0 ||
		    (r = wire_bytes("provenance: batch_signature", m->batch_signature, TIDS_SIGNATURE_BYTES, err,
				    errlen)) < 0 ||
		    (r = hash_from("provenance: leaf_hash", m->leaf_hash, true, p->leaf_hash, err, errlen)) < 0)
			return r;
		if (m->leaf_count == 0 || m->leaf_count > TIDS_BATCH_RECORDS_MAX || m->leaf_index >= m->leaf_count)
			return tids_fail(err, errlen, TIDS_EINVAL, "provenance: leaf %u of %u", m->leaf_index,
					 m->leaf_count);
		if (m->published.len > TIDS_RECORD_MAX)
			return tids_fail(err, errlen, TIDS_ETOOBIG, "provenance: published record of %zu bytes",
					 m->published.len);
		for (size_t i = 0; i < m->n_merkle_path; i++) {
			if (m->merkle_path[i].len != TIDS_HASH_BYTES)
				return tids_fail(err, errlen, TIDS_EINVAL, "provenance: merkle_path[%zu] is not %d bytes",
						 i, TIDS_HASH_BYTES);
			memcpy(path[i], m->merkle_path[i].data, TIDS_HASH_BYTES);
		}
		memcpy(p->batch_root, m->batch_root.data, TIDS_HASH_BYTES);
		memcpy(p->batch_signature, m->batch_signature.data, TIDS_SIGNATURE_BYTES);
	}
	p->present = true;
	p->hub_id = m->hub_id;
	p->publisher = m->publisher;
	p->sequence = m->sequence;
	p->leaf_index = m->leaf_index;
	p->leaf_count = m->leaf_count;
	p->merkle_path = (const uint8_t (*)[TIDS_HASH_BYTES])path;
	p->n_merkle_path = m->n_merkle_path;
	p->published.data = m->published.data;
	p->published.len = m->published.len;
	p->hops = m->hops;
	p->export_hub = m->export_hub;
	p->export_partition = m->export_partition;
	p->export_seq = m->export_seq;
	return 0;
}

int tids_wire_decode_delivery(const uint8_t *buf, size_t len, struct tids_delivery *out,
			      char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__Delivery *m;
	struct tids_field *fields;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__delivery__descriptor, buf, len, TIDS_RECORD_MAX + 16384, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__Delivery *)b->msg;
	if (m->record == NULL) {
		r = tids_fail(err, errlen, TIDS_EMISSING, "delivery: record missing");
		goto out;
	}
	if (m->record->n_fields > TIDS_FIELDS_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "delivery: record has %zu fields", m->record->n_fields);
		goto out;
	}
	if (m->provenance != NULL && m->provenance->n_merkle_path > 64) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "delivery: provenance path of %zu hashes",
			      m->provenance->n_merkle_path);
		goto out;
	}
	/* One block: the fields, then the provenance's path. */
	fields = wire_alloc(b, m->record->n_fields * sizeof(*fields) +
			       (m->provenance != NULL ? m->provenance->n_merkle_path * TIDS_HASH_BYTES : 0));
	if (fields == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "delivery: out of memory");
		goto out;
	}
	if ((r = wire_record_from(m->record, &out->record, fields, err, errlen)) < 0)
		goto out;
	if (m->provenance != NULL &&
	    (r = provenance_from(m->provenance, (uint8_t (*)[TIDS_HASH_BYTES])(void *)(fields + m->record->n_fields),
				 &out->provenance, err, errlen)) < 0)
		goto out;
	if (m->decision != TIDS__V1__DECISION__DECISION_ALLOW &&
	    m->decision != TIDS__V1__DECISION__DECISION_TRANSFORM) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "delivery: decision %d is neither allow nor transform",
			      (int)m->decision);
		goto out;
	}
	if ((r = wire_list("delivery: rule_ids", m->rule_ids, m->n_rule_ids, LIST_IDS, 0, &out->rule_ids, err, errlen)) < 0 ||
	    (r = wire_obligations_from(m->obligations, &out->obligations, err, errlen)) < 0 ||
	    (r = wire_opt_consent_id("delivery: grant_id", m->grant_id, err, errlen)) < 0 ||
	    (r = wire_opt_name("delivery: purpose", m->purpose, err, errlen)) < 0 ||
	    (r = wire_opt_id("delivery: notification_for", m->notification_for, err, errlen)) < 0)
		goto out;
	if (m->source_record_id.len != 0 && m->source_record_id.len != TIDS_RECORD_ID_BYTES) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "delivery: source_record_id must be %d bytes",
			      TIDS_RECORD_ID_BYTES);
		goto out;
	}
	out->decision = (enum tids_decision)m->decision;
	out->grant_id = m->grant_id;
	out->purpose = m->purpose;
	out->delivery_seq = m->delivery_seq;
	out->decided_at_ms = m->decided_at_ms;
	out->source_record_id.data = m->source_record_id.data;
	out->source_record_id.len = m->source_record_id.len;
	out->notification_for = m->notification_for;
	if (m->receipt != NULL) {
		if ((r = wire_delivery_receipt_from(m->receipt, &out->receipt, err, errlen)) < 0)
			goto out;
		out->has_receipt = true;
	}
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

void tids_delivery_free(struct tids_delivery *d)
{
	if (d == NULL)
		return;
	wire_release(d->backing);
	memset(d, 0, sizeof(*d));
}

/* --- ingress envelopes ---------------------------------------------------- */

static int forward_from(const Tids__V1__ForwardInfo *m, struct tids_forward_info *f, char *err, size_t errlen)
{
	int r;

	if ((r = wire_opt_id("forwarded: from_hub", m->from_hub, err, errlen)) < 0 ||
	    (r = wire_need_id("forwarded: recipient", m->recipient, err, errlen)) < 0 ||
	    (r = wire_need_name("forwarded: purpose", m->purpose, err, errlen)) < 0 ||
	    (r = wire_obligations_from(m->obligations, &f->obligations, err, errlen)) < 0 ||
	    (r = wire_list("forwarded: rule_ids", m->rule_ids, m->n_rule_ids, LIST_IDS, 0, &f->rule_ids, err, errlen)) < 0 ||
	    (r = hash_from("forwarded: leaf_hash", m->leaf_hash, false, f->leaf_hash, err, errlen)) < 0 ||
	    (r = wire_need_id("forwarded: origin_hub", m->origin_hub, err, errlen)) < 0 ||
	    (r = wire_text("forwarded: refused", m->refused, 512, err, errlen)) < 0)
		return r;
	if (m->decision != TIDS__V1__DECISION__DECISION_ALLOW && m->decision != TIDS__V1__DECISION__DECISION_TRANSFORM)
		return tids_fail(err, errlen, TIDS_EINVAL, "forwarded: decision %d is neither allow nor transform",
				 (int)m->decision);
	if (m->hops < 1 || m->hops > 16)
		return tids_fail(err, errlen, TIDS_EINVAL, "forwarded: hops %u (1-16)", m->hops);
	if (m->entry_seq == 0 || m->entry_partition < 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "forwarded: the export's audit entry is not named");
	f->present = true;
	f->from_hub = m->from_hub;
	f->position = m->position;
	f->recipient = m->recipient;
	f->purpose = m->purpose;
	f->decision = (enum tids_decision)m->decision;
	f->entry_partition = m->entry_partition;
	f->entry_seq = m->entry_seq;
	f->hops = m->hops;
	f->origin_hub = m->origin_hub;
	f->decided_at_ms = m->decided_at_ms;
	f->refused = m->refused;
	return 0;
}

int wire_ingress_from(const Tids__V1__IngressRecord *m, struct backing *b, struct tids_ingress_record *out,
		      char *err, size_t errlen)
{
	uint8_t (*path)[TIDS_HASH_BYTES];
	bool batch;
	int r;

	memset(out, 0, sizeof(*out));
	if (m->record.len == 0 || m->record.len > TIDS_RECORD_MAX + 64)
		return tids_fail(err, errlen, TIDS_EINVAL, "ingress: record of %zu bytes", m->record.len);
	if ((r = wire_bytes("ingress: record_id", m->record_id, TIDS_RECORD_ID_BYTES, err, errlen)) < 0)
		return r;
	if (m->forwarded != NULL && (r = forward_from(m->forwarded, &out->forwarded, err, errlen)) < 0)
		return r;
	/* Only a hub's aggregate, forwarded, comes without a publisher. */
	batch = m->forwarded == NULL || *m->publisher != '\0';
	if (!batch) {
		if (m->batch_root.len != 0 || m->batch_signature.len != 0 || m->leaf_count != 0 ||
		    m->n_merkle_path != 0 || m->forwarded->leaf_hash.len != 0)
			return tids_fail(err, errlen, TIDS_EINVAL, "ingress: batch material without a publisher");
	} else {
		if ((r = wire_need_id("ingress: publisher", m->publisher, err, errlen)) < 0 ||
		    (r = wire_bytes("ingress: batch_root", m->batch_root, TIDS_HASH_BYTES, err, errlen)) < 0 ||
		    (r = wire_bytes("ingress: batch_signature", m->batch_signature, TIDS_SIGNATURE_BYTES, err, errlen)) < 0)
			return r;
		if (m->leaf_count == 0 || m->leaf_count > TIDS_BATCH_RECORDS_MAX || m->leaf_index >= m->leaf_count ||
		    m->n_merkle_path > 64)
			return tids_fail(err, errlen, TIDS_EINVAL, "ingress: leaf %u of %u with a path of %zu hashes",
					 m->leaf_index, m->leaf_count, m->n_merkle_path);
		if (m->forwarded != NULL && m->forwarded->leaf_hash.len == 0)
			return tids_fail(err, errlen, TIDS_EMISSING, "forwarded: leaf_hash missing");
	}
	path = wire_alloc(b, m->n_merkle_path * TIDS_HASH_BYTES);
	if (path == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "ingress: out of memory");
	for (size_t i = 0; i < m->n_merkle_path; i++) {
		if (m->merkle_path[i].len != TIDS_HASH_BYTES)
			return tids_fail(err, errlen, TIDS_EINVAL, "ingress: merkle_path[%zu] is not %d bytes", i,
					 TIDS_HASH_BYTES);
		memcpy(path[i], m->merkle_path[i].data, TIDS_HASH_BYTES);
	}
	out->record.data = m->record.data;
	out->record.len = m->record.len;
	out->sealed = m->sealed != 0;
	memcpy(out->record_id, m->record_id.data, TIDS_RECORD_ID_BYTES);
	out->publisher = m->publisher;
	out->sequence = m->sequence;
	if (batch) {
		memcpy(out->batch_root, m->batch_root.data, TIDS_HASH_BYTES);
		memcpy(out->batch_signature, m->batch_signature.data, TIDS_SIGNATURE_BYTES);
	}
	out->leaf_index = m->leaf_index;
	out->leaf_count = m->leaf_count;
	out->merkle_path = (const uint8_t (*)[TIDS_HASH_BYTES])path;
	out->n_merkle_path = m->n_merkle_path;
	out->received_at_ms = m->received_at_ms;
	return 0;
}

int tids_wire_decode_ingress_record(const uint8_t *buf, size_t len, struct tids_ingress_record *out,
				    char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__ingress_record__descriptor, buf, len, TIDS_RECORD_MAX + 16384, 0, &b, err, errlen);
	if (r < 0)
		return r;
	r = wire_ingress_from((Tids__V1__IngressRecord *)b->msg, b, out, err, errlen);
	if (r < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

void wire_ingress_view(const struct tids_ingress_record *in, struct ingress_view *v)
{
	Tids__V1__IngressRecord *pb = &v->pb;
	size_t n = in->n_merkle_path < 64 ? in->n_merkle_path : 64;
	bool batch = in->publisher != NULL && *in->publisher != '\0';

	tids__v1__ingress_record__init(pb);
	for (size_t i = 0; i < n; i++) {
		v->path[i].data = (uint8_t *)in->merkle_path[i];
		v->path[i].len = TIDS_HASH_BYTES;
	}
	pb->record.data = (uint8_t *)in->record.data;
	pb->record.len = in->record.len;
	pb->sealed = in->sealed;
	pb->record_id.data = (uint8_t *)in->record_id;
	pb->record_id.len = TIDS_RECORD_ID_BYTES;
	pb->publisher = (char *)(in->publisher != NULL ? in->publisher : "");
	pb->sequence = in->sequence;
	if (batch) {
		pb->batch_root.data = (uint8_t *)in->batch_root;
		pb->batch_root.len = TIDS_HASH_BYTES;
		pb->batch_signature.data = (uint8_t *)in->batch_signature;
		pb->batch_signature.len = TIDS_SIGNATURE_BYTES;
	}
	pb->leaf_index = in->leaf_index;
	pb->leaf_count = in->leaf_count;
	pb->merkle_path = v->path;
	pb->n_merkle_path = n;
	pb->received_at_ms = in->received_at_ms;
	if (in->forwarded.present) {
		const struct tids_forward_info *f = &in->forwarded;
		Tids__V1__ForwardInfo *fw = &v->fw;

		tids__v1__forward_info__init(fw);
		wire_obligations_to(&f->obligations, &v->ob, &v->agg);
		fw->from_hub = (char *)(f->from_hub != NULL ? f->from_hub : "");
		fw->position = f->position;
		fw->recipient = (char *)f->recipient;
		fw->purpose = (char *)f->purpose;
		fw->decision = (Tids__V1__Decision)f->decision;
		fw->obligations = &v->ob;
		fw->rule_ids = (char **)f->rule_ids.items;
		fw->n_rule_ids = f->rule_ids.n;
		if (batch) {
			fw->leaf_hash.data = (uint8_t *)f->leaf_hash;
			fw->leaf_hash.len = TIDS_HASH_BYTES;
		}
		fw->entry_partition = f->entry_partition;
		fw->entry_seq = f->entry_seq;
		fw->hops = f->hops;
		fw->origin_hub = (char *)f->origin_hub;
		fw->decided_at_ms = f->decided_at_ms;
		fw->refused = (char *)(f->refused != NULL ? f->refused : "");
		pb->forwarded = fw;
	}
}

int tids_wire_encode_ingress_record(const struct tids_ingress_record *in, uint8_t **out, size_t *len)
{
	struct ingress_view v;

	wire_ingress_view(in, &v);
	return wire_pack(&v.pb.base, out, len);
}

void tids_ingress_record_free(struct tids_ingress_record *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}

/* --- delivery envelopes --------------------------------------------------- */

int tids_wire_decode_delivery_envelope(const uint8_t *buf, size_t len, struct tids_delivery_envelope *out,
				       char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__DeliveryEnvelope *m;
	const char *by;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__delivery_envelope__descriptor, buf, len, TIDS_RECORD_MAX + 32768, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__DeliveryEnvelope *)b->msg;
	by = m->sealed_by;
	if (m->delivery.len == 0) {
		r = tids_fail(err, errlen, TIDS_EMISSING, "delivery envelope: delivery missing");
		goto out;
	}
	if ((r = wire_bytes("delivery envelope: record_id", m->record_id, TIDS_RECORD_ID_BYTES, err, errlen)) < 0)
		goto out;
	/* A grant another hub issued is known here as id@hub. */
	if (!(*by == '\0' || strcmp(by, "hub") == 0 ||
	      (strncmp(by, "grant:", 6) == 0 && by[6] != '\0' && wire_opt_consent_id("", by + 6, NULL, 0) == 0))) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "delivery envelope: sealed_by must be \"\", hub, grant:<id> or "
			      "grant:<id>@<hub>");
		goto out;
	}
	if (m->receipt != NULL) {
		if ((r = wire_delivery_receipt_from(m->receipt, &out->receipt, err, errlen)) < 0)
			goto out;
		out->has_receipt = true;
	}
	out->delivery.data = m->delivery.data;
	out->delivery.len = m->delivery.len;
	out->sealed_by = by;
	memcpy(out->record_id, m->record_id.data, TIDS_RECORD_ID_BYTES);
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_delivery_envelope_receipt(const struct tids_delivery_receipt *in, uint8_t **out, size_t *len)
{
	Tids__V1__DeliveryEnvelope pb = TIDS__V1__DELIVERY_ENVELOPE__INIT;
	Tids__V1__DeliveryReceipt receipt;

	/* proto3 leaves the empty fields out: only the receipt's is written. */
	wire_delivery_receipt_to(in, &receipt);
	pb.receipt = &receipt;
	return wire_pack(&pb.base, out, len);
}

void tids_delivery_envelope_free(struct tids_delivery_envelope *e)
{
	if (e == NULL)
		return;
	wire_release(e->backing);
	memset(e, 0, sizeof(*e));
}
