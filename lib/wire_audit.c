/*
 * Gates and encoders for the audit trail: AuditEntry and AuditCheckpoint.
 * Entries are read back from Kafka and from the ledger by auditors, so they
 * pass the same gate as anything else from outside.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

#define ENTRY_MAX 32768

static int fixed(const char *what, ProtobufCBinaryData d, size_t want, bool required, uint8_t *out,
		 char *err, size_t errlen)
{
	if (d.len == 0 && !required)
		return 0;
	if (d.len != want)
		return tids_fail(err, errlen, d.len == 0 ? TIDS_EMISSING : TIDS_EINVAL,
				 "%s is %zu bytes, must be %zu", what, d.len, want);
	memcpy(out, d.data, want);
	return 0;
}

static int counts_from(const Tids__V1__AuditEntry *m, struct backing *b, struct tids_audit_entry *out, char *err,
		       size_t errlen)
{
	struct tids_counter_increment *c;
	int r;

	if (m->n_counts == 0)
		return 0;
	if (m->n_counts > TIDS_AUDIT_COUNTS_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "audit entry: more than %d counts", TIDS_AUDIT_COUNTS_MAX);
	if ((c = wire_alloc(b, m->n_counts * sizeof(*c))) == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n_counts; i++) {
		if ((r = wire_need_name("audit entry: count name", m->counts[i]->name, err, errlen)) < 0 ||
		    (r = wire_text("audit entry: count key", m->counts[i]->key, TIDS_ID_MAX, err, errlen)) < 0)
			return r;
		c[i] = (struct tids_counter_increment){ m->counts[i]->name, m->counts[i]->key, m->counts[i]->period,
							m->counts[i]->amount, m->counts[i]->total };
	}
	out->counts = c;
	out->n_counts = m->n_counts;
	return 0;
}

static int aggregate_from(const Tids__V1__AuditEntry *m, struct tids_audit_entry *out, char *err, size_t errlen)
{
	const Tids__V1__AggregateResult *a = m->aggregate;
	int r;

	if (a == NULL)
		return 0;
	if ((r = wire_need_name("audit entry: aggregate function", a->function, err, errlen)) < 0 ||
	    (r = wire_need_name("audit entry: aggregate field", a->field, err, errlen)) < 0)
		return r;
	if (a->window_ms <= 0 || !isfinite(a->value))
		return tids_fail(err, errlen, TIDS_EINVAL, "audit entry: aggregate needs a positive window and a finite "
				 "value");
	out->has_aggregate = true;
	out->aggregate = (struct tids_aggregate_result){ a->function, a->field, a->window_start_ms, a->window_ms,
							 a->count, a->value };
	return 0;
}

static int near_miss_from(const Tids__V1__AuditEntry *m, struct tids_audit_entry *out, char *err, size_t errlen)
{
	const Tids__V1__NearMiss *n = m->near_miss;
	int r;

	if (n == NULL)
		return 0;
	if (strcmp(n->kind, "grant") != 0 && strcmp(n->kind, "approval") != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "audit entry: near_miss.kind must be grant or approval");
	if ((int)n->code <= 0 || (int)n->code > TIDS_NEAR_MISS_CODE_MAX || (n->failed >> n->code & 1u) == 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "audit entry: near_miss.code %d is not among what failed",
				 (int)n->code);
	if ((r = wire_opt_id("audit entry: near_miss.id", n->id, err, errlen)) < 0 ||
	    (r = wire_opt_id("audit entry: near_miss.rule_id", n->rule_id, err, errlen)) < 0)
		return r;
	out->has_near_miss = true;
	out->near_miss = (struct tids_near_miss){ n->kind, n->id, (int)n->code, n->failed, n->at_ms,
						  n->uses, n->max_uses, n->rule_id };
	return 0;
}

int tids_wire_decode_audit_entry(const uint8_t *buf, size_t len, struct tids_audit_entry *out,
				 char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__AuditEntry *m;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__audit_entry__descriptor, buf, len, ENTRY_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__AuditEntry *)b->msg;
	if ((r = wire_need_id("audit entry: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = fixed("audit entry: prev_hash", m->prev_hash, TIDS_HASH_BYTES, false, out->prev_hash, err, errlen)) < 0 ||
	    (r = fixed("audit entry: record_id", m->record_id, TIDS_RECORD_ID_BYTES, true, out->record_id, err, errlen)) < 0 ||
	    (r = wire_need_id("audit entry: owner", m->owner, err, errlen)) < 0 ||
	    (r = wire_need_id("audit entry: recipient", m->recipient, err, errlen)) < 0 ||
	    (r = wire_opt_name("audit entry: purpose", m->purpose, err, errlen)) < 0 ||
	    (r = wire_list("audit entry: rule_ids", m->rule_ids, m->n_rule_ids, LIST_IDS, 0, &out->rule_ids, err, errlen)) < 0 ||
	    (r = wire_tier("audit entry: tier", (int)m->tier, true, err, errlen)) < 0 ||
	    (r = wire_need_name("audit entry: category", m->category, err, errlen)) < 0 ||
	    (r = wire_opt_jurisdiction("audit entry: origin", m->origin, err, errlen)) < 0 ||
	    (r = wire_opt_jurisdiction("audit entry: destination", m->destination, err, errlen)) < 0 ||
	    (r = wire_opt_consent_id("audit entry: grant_id", m->grant_id, err, errlen)) < 0 ||
	    (r = wire_opt_consent_id("audit entry: approval_id", m->approval_id, err, errlen)) < 0 ||
	    (r = wire_obligations_from(m->obligations, &out->obligations, err, errlen)) < 0 ||
	    (r = wire_text("audit entry: reason", m->reason, 1024, err, errlen)) < 0 ||
	    (r = wire_opt_id("audit entry: asset_id", m->asset_id, err, errlen)) < 0 ||
	    (r = wire_opt_id("audit entry: case_id", m->case_id, err, errlen)) < 0 ||
	    (r = wire_opt_id("audit entry: peer_hub", m->peer_hub, err, errlen)) < 0)
		goto out;
	if (m->peer_partition < 0 || ((m->peer_seq != 0 || m->peer_partition != 0) && *m->peer_hub == '\0')) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "audit entry: peer entry without a peer hub, or out of range");
		goto out;
	}
	if (m->seq == 0 || m->partition < 0) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "audit entry: seq must be >= 1 and partition >= 0");
		goto out;
	}
	if (m->decision < TIDS__V1__DECISION__DECISION_ALLOW || m->decision > TIDS__V1__DECISION__DECISION_TRANSFORM) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "audit entry: decision %d unknown", (int)m->decision);
		goto out;
	}
	if (m->delivered_hash.len != 0 && m->delivered_hash.len != TIDS_HASH_BYTES) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "audit entry: delivered_hash must be %d bytes", TIDS_HASH_BYTES);
		goto out;
	}
	if ((r = counts_from(m, b, out, err, errlen)) < 0 || (r = aggregate_from(m, out, err, errlen)) < 0 ||
	    (r = near_miss_from(m, out, err, errlen)) < 0)
		goto out;
	out->hub_id = m->hub_id;
	out->partition = m->partition;
	out->seq = m->seq;
	out->owner = m->owner;
	out->recipient = m->recipient;
	out->purpose = m->purpose;
	out->decision = (enum tids_decision)m->decision;
	out->tier = (enum tids_tier)m->tier;
	out->category = m->category;
	out->origin = m->origin;
	out->destination = m->destination;
	out->grant_id = m->grant_id;
	out->approval_id = m->approval_id;
	out->decided_at_ms = m->decided_at_ms;
	out->ingress_offset = m->ingress_offset;
	out->reason = m->reason;
	out->delivered_hash.data = m->delivered_hash.data;
	out->delivered_hash.len = m->delivered_hash.len;
	out->asset_id = m->asset_id;
	out->delivery_seq = m->delivery_seq;
	out->peer_hub = m->peer_hub;
	out->peer_partition = m->peer_partition;
	out->peer_seq = m->peer_seq;
	out->case_id = m->case_id;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

void tids_audit_entry_free(struct tids_audit_entry *e)
{
	if (e == NULL)
		return;
	wire_release(e->backing);
	memset(e, 0, sizeof(*e));
}

int wire_checkpoint_from(const Tids__V1__AuditCheckpoint *m, struct tids_audit_checkpoint *out,
			 char *err, size_t errlen)
{
	int r;

	if ((r = wire_need_id("checkpoint: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = fixed("checkpoint: head_hash", m->head_hash, TIDS_HASH_BYTES, true, out->head_hash, err, errlen)) < 0 ||
	    (r = fixed("checkpoint: signature", m->signature, TIDS_SIGNATURE_BYTES, true, out->signature, err, errlen)) < 0)
		return r;
	if (m->seq == 0 || m->partition < 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "checkpoint: seq must be >= 1 and partition >= 0");
	out->hub_id = m->hub_id;
	out->partition = m->partition;
	out->seq = m->seq;
	out->signed_at_ms = m->signed_at_ms;
	return 0;
}

int tids_wire_decode_audit_checkpoint(const uint8_t *buf, size_t len, struct tids_audit_checkpoint *out,
				      char *err, size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__audit_checkpoint__descriptor, buf, len, 4096, 0, &b, err, errlen);
	if (r < 0)
		return r;
	if ((r = wire_checkpoint_from((Tids__V1__AuditCheckpoint *)b->msg, out, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

void wire_checkpoint_view(const struct tids_audit_checkpoint *in, bool with_signature, Tids__V1__AuditCheckpoint *pb)
{
	tids__v1__audit_checkpoint__init(pb);
	pb->hub_id = (char *)in->hub_id;
	pb->partition = in->partition;
	pb->seq = in->seq;
	pb->head_hash.data = (uint8_t *)in->head_hash;
	pb->head_hash.len = TIDS_HASH_BYTES;
	pb->signed_at_ms = in->signed_at_ms;
	if (with_signature) {
		pb->signature.data = (uint8_t *)in->signature;
		pb->signature.len = TIDS_SIGNATURE_BYTES;
	}
}

static int encode_checkpoint(const struct tids_audit_checkpoint *in, bool with_signature,
			     uint8_t **out, size_t *len)
{
	Tids__V1__AuditCheckpoint pb;

	wire_checkpoint_view(in, with_signature, &pb);
	return wire_pack(&pb.base, out, len);
}

int tids_wire_encode_audit_checkpoint(const struct tids_audit_checkpoint *in, uint8_t **out, size_t *len)
{
	return encode_checkpoint(in, true, out, len);
}

int tids_wire_encode_audit_checkpoint_unsigned(const struct tids_audit_checkpoint *in,
					       uint8_t **out, size_t *len)
{
	return encode_checkpoint(in, false, out, len);
}

void tids_audit_checkpoint_free(struct tids_audit_checkpoint *c)
{
	if (c == NULL)
		return;
	wire_release(c->backing);
	memset(c, 0, sizeof(*c));
}

/* --- the audit topic's messages --------------------------------------------- */

int tids_wire_decode_audit_log_record(const uint8_t *buf, size_t len, struct tids_audit_log_record *out,
				      char *err, size_t errlen)
{
	struct backing *b;
	Tids__V1__AuditLogRecord *m;
	struct tids_bytes *entries;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__audit_log_record__descriptor, buf, len, 4u << 20, 0, &b, err, errlen);
	if (r < 0)
		return r;
	m = (Tids__V1__AuditLogRecord *)b->msg;
	switch (m->kind_case) {
	case TIDS__V1__AUDIT_LOG_RECORD__KIND_CHECKPOINT:
		if ((r = wire_checkpoint_from(m->checkpoint, &out->checkpoint, err, errlen)) < 0)
			goto out;
		out->is_checkpoint = true;
		out->backing = b;
		return 0;
	case TIDS__V1__AUDIT_LOG_RECORD__KIND_ENTRY:
		n = 1;
		break;
	case TIDS__V1__AUDIT_LOG_RECORD__KIND_ENTRIES:
		n = m->entries->n_entries;
		break;
	default:
		r = tids_fail(err, errlen, TIDS_EMISSING, "audit log record: neither entries nor checkpoint");
		goto out;
	}
	if (n == 0 || n > TIDS_AUDIT_ENTRIES_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOMANY, "audit log record: %zu entries (1 to %d)", n,
			      TIDS_AUDIT_ENTRIES_MAX);
		goto out;
	}
	entries = wire_alloc(b, n * sizeof(*entries));
	if (entries == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "audit log record: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ProtobufCBinaryData e = m->kind_case == TIDS__V1__AUDIT_LOG_RECORD__KIND_ENTRY ? m->entry
											 : m->entries->entries[i];

		if (e.len == 0 || e.len > ENTRY_MAX) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "audit log record: entry %zu is %zu bytes (1 to %d)", i,
				      e.len, ENTRY_MAX);
			goto out;
		}
		entries[i] = (struct tids_bytes){ e.data, e.len };
	}
	out->entries = entries;
	out->n_entries = n;
	out->backing = b;
	return 0;
out:
	memset(out, 0, sizeof(*out));
	wire_release(b);
	return r;
}

int tids_wire_encode_audit_log_record(const struct tids_audit_log_record *in, uint8_t **out, size_t *len)
{
	Tids__V1__AuditLogRecord pb;
	Tids__V1__AuditCheckpoint cp = TIDS__V1__AUDIT_CHECKPOINT__INIT;
	Tids__V1__AuditEntries batch = TIDS__V1__AUDIT_ENTRIES__INIT;
	ProtobufCBinaryData *entries = NULL;
	int r;

	/* The _init function, not the INIT macro: the macro's oneof braces
	 * trip -Wmissing-braces. */
	tids__v1__audit_log_record__init(&pb);
	if (in->is_checkpoint) {
		cp.hub_id = (char *)in->checkpoint.hub_id;
		cp.partition = in->checkpoint.partition;
		cp.seq = in->checkpoint.seq;
		cp.head_hash.data = (uint8_t *)in->checkpoint.head_hash;
		cp.head_hash.len = TIDS_HASH_BYTES;
		cp.signed_at_ms = in->checkpoint.signed_at_ms;
		cp.signature.data = (uint8_t *)in->checkpoint.signature;
		cp.signature.len = TIDS_SIGNATURE_BYTES;
		pb.kind_case = TIDS__V1__AUDIT_LOG_RECORD__KIND_CHECKPOINT;
		pb.checkpoint = &cp;
	} else if (in->n_entries == 1) {
		pb.kind_case = TIDS__V1__AUDIT_LOG_RECORD__KIND_ENTRY;
		pb.entry.data = (uint8_t *)in->entries[0].data;
		pb.entry.len = in->entries[0].len;
	} else {
		entries = malloc(in->n_entries * sizeof(*entries) + 1);
		if (entries == NULL)
			return TIDS_ENOMEM;
		for (size_t i = 0; i < in->n_entries; i++) {
			entries[i].data = (uint8_t *)in->entries[i].data;
			entries[i].len = in->entries[i].len;
		}
		batch.entries = entries;
		batch.n_entries = in->n_entries;
		pb.kind_case = TIDS__V1__AUDIT_LOG_RECORD__KIND_ENTRIES;
		pb.entries = &batch;
	}
	r = wire_pack(&pb.base, out, len);
	free(entries);
	return r;
}

void tids_audit_log_record_free(struct tids_audit_log_record *r)
{
	if (r == NULL)
		return;
	wire_release(r->backing);
	memset(r, 0, sizeof(*r));
}
