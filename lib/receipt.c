/*
 * Receipts (see tids/receipt.h): signing the hub's statements, opening and
 * checking them on the participant's side, and the receipt file's lines.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/ledger.h"
#include "tids/receipt.h"

int tids_receipt_ingest_sign(const struct tids_identity *hub, const struct tids_ingest_statement *st,
			     uint8_t **statement, size_t *len, uint8_t sig[TIDS_SIGNATURE_BYTES])
{
	int r = tids_wire_encode_ingest_statement(st, statement, len);

	if (r != 0)
		return r;
	r = tids_sign_detached(hub->sign_sk, TIDS_DOMAIN_INGEST_RECEIPT, *statement, *len, sig);
	if (r != 0) {
		free(*statement);
		*statement = NULL;
	}
	return r;
}

int tids_receipt_ingest_open(const struct tids_ingest_receipt *r, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			     struct tids_ingest_statement *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	/* The signature first, over the bytes as they came: what the hub
	 * signed is what is decoded, never a re-encoding. */
	if (tids_sign_verify_detached(hub_pk, TIDS_DOMAIN_INGEST_RECEIPT, r->statement.data, r->statement.len,
				      r->signature) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "ingest receipt: the signature does not verify with the hub's key");
	return tids_wire_decode_ingest_statement(r->statement.data, r->statement.len, st, err, errlen);
}

static bool refused(const struct tids_publish_ack *ack, uint32_t index)
{
	for (size_t i = 0; i < ack->n_errors; i++)
		if (ack->errors[i].index == index)
			return true;
	return false;
}

int tids_receipt_ingest_matches(const struct tids_ingest_statement *st, const char *hub_id, const char *publisher,
				uint64_t sequence, const uint8_t root[TIDS_HASH_BYTES], size_t n,
				const struct tids_publish_ack *ack, char *err, size_t errlen)
{
	size_t k = 0;

	if (strcmp(st->hub_id, hub_id) != 0 || strcmp(st->publisher, publisher) != 0 || st->sequence != sequence ||
	    memcmp(st->batch_root, root, TIDS_HASH_BYTES) != 0)
		return tids_fail(err, errlen, TIDS_EBADSIG, "the receipt names batch %llu of %s at hub %s (another batch "
				 "or root than was published)", (unsigned long long)st->sequence, st->publisher,
				 st->hub_id);
	for (uint32_t i = 0; i < n; i++) {
		if (refused(ack, i))
			continue;
		if (k >= st->n_positions || st->positions[k].leaf_index != i)
			return tids_fail(err, errlen, TIDS_EBADSIG, "the receipt does not place record %u, which the ack "
					 "counts as written", i);
		k++;
	}
	if (k != st->n_positions || k != ack->accepted)
		return tids_fail(err, errlen, TIDS_EBADSIG, "the receipt places %zu records, the ack says %u were written",
				 st->n_positions, ack->accepted);
	return 0;
}

/* Ed25519 over "tids.v1.checkpoint" || the checkpoint without signature,
 * as the hub signs checkpoints (audit.proto). */
static int head_verify(const struct tids_audit_checkpoint *cp, const uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
{
	uint8_t *bytes;
	size_t len;
	int r = tids_wire_encode_audit_checkpoint_unsigned(cp, &bytes, &len);

	if (r != 0)
		return r;
	r = tids_sign_verify_detached(pk, TIDS_DOMAIN_CHECKPOINT, bytes, len, cp->signature);
	free(bytes);
	return r;
}

int tids_receipt_head_sign(const struct tids_identity *hub, struct tids_audit_checkpoint *cp, uint8_t **bytes,
			   size_t *len)
{
	uint8_t *u;
	size_t ulen;
	int r = tids_wire_encode_audit_checkpoint_unsigned(cp, &u, &ulen);

	if (r != 0)
		return r;
	r = tids_sign_detached(hub->sign_sk, TIDS_DOMAIN_CHECKPOINT, u, ulen, cp->signature);
	free(u);
	return r != 0 ? r : tids_wire_encode_audit_checkpoint(cp, bytes, len);
}

int tids_receipt_head_open(const uint8_t *bytes, size_t len, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			   struct tids_audit_checkpoint *head, char *err, size_t errlen)
{
	int r;

	if (len > TIDS_RECEIPT_HEAD_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "signed head of %zu bytes", len);
	if ((r = tids_wire_decode_audit_checkpoint(bytes, len, head, err, errlen)) != 0)
		return r;
	if (head_verify(head, hub_pk) != 0) {
		r = tids_fail(err, errlen, TIDS_EBADSIG, "the signed head %d:%llu does not verify with the hub's key",
			      head->partition, (unsigned long long)head->seq);
		tids_audit_checkpoint_free(head);
	}
	return r;
}

int tids_receipt_delivery_open(const struct tids_delivery_receipt *r, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			       struct tids_audit_checkpoint *head, char *err, size_t errlen)
{
	int rc = tids_receipt_head_open(r->head.data, r->head.len, hub_pk, head, err, errlen);

	if (rc != 0)
		return rc;
	if (head->partition != r->partition || head->seq < r->seq) {
		rc = tids_fail(err, errlen, TIDS_EBADSIG, "the receipt's head %d:%llu does not cover its entry %d:%llu",
			       head->partition, (unsigned long long)head->seq, r->partition, (unsigned long long)r->seq);
		tids_audit_checkpoint_free(head);
	}
	return rc;
}

/* --- receipt files ------------------------------------------------------------ */

static void line_blob(struct tids_jw *w, const char *key, const uint8_t *data, size_t len)
{
	tids_jw_key(w, key);
	tids_jw_base64(w, data, len);
}

void tids_receipt_line_ingest(struct tids_jw *w, const struct tids_ingest_receipt *r)
{
	uint8_t *b;
	size_t len;

	if (tids_wire_encode_ingest_receipt(r, &b, &len) != 0) {
		w->err = TIDS_ENOMEM;
		return;
	}
	tids_jw_object_begin(w);
	tids_jw_key(w, "kind");
	tids_jw_string(w, "ingest");
	line_blob(w, "receipt", b, len);
	tids_jw_object_end(w);
	free(b);
}

void tids_receipt_line_delivery(struct tids_jw *w, const struct tids_delivery_receipt *r, uint64_t delivery_seq,
				const uint8_t *record_id)
{
	uint8_t *b;
	size_t len;

	if (tids_wire_encode_delivery_receipt(r, &b, &len) != 0) {
		w->err = TIDS_ENOMEM;
		return;
	}
	tids_jw_object_begin(w);
	tids_jw_key(w, "kind");
	tids_jw_string(w, "delivery");
	line_blob(w, "receipt", b, len);
	if (delivery_seq > 0) {
		tids_jw_key(w, "delivery_seq");
		tids_jw_uint64(w, delivery_seq);
	}
	if (record_id != NULL) {
		tids_jw_key(w, "record_id");
		tids_jw_hex(w, record_id, TIDS_RECORD_ID_BYTES);
	}
	tids_jw_object_end(w);
	free(b);
}

void tids_receipt_line_head(struct tids_jw *w, const uint8_t *head, size_t len)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "kind");
	tids_jw_string(w, "head");
	line_blob(w, "head", head, len);
	tids_jw_object_end(w);
}

/* A base64 string member into a new buffer. */
static int blob_of(const struct tids_json *v, const char *key, size_t max, uint8_t **out, size_t *len, char *err,
		   size_t errlen)
{
	const char *s = tids_json_string(tids_json_get(v, key));
	size_t sl;

	*out = NULL;
	if (s == NULL)
		return tids_fail(err, errlen, TIDS_EMISSING, "receipt line: \"%s\" (base64) missing", key);
	sl = strlen(s);
	if (sl > max / 3 * 4 + 4)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "receipt line: \"%s\" longer than %zu bytes", key, max);
	*out = malloc(sl / 4 * 3 + 3);
	if (*out == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	if (sodium_base642bin(*out, sl / 4 * 3 + 3, s, sl, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    *len == 0) {
		free(*out);
		*out = NULL;
		return tids_fail(err, errlen, TIDS_EINVAL, "receipt line: \"%s\" is not base64", key);
	}
	return 0;
}

/* A line of a witness file of the first format ("witness HUB PARTITION SEQ
 * HEAD SIGNED-AT SIGNATURE"): the same signed head, read as a head line so
 * that one checker serves both. */
static int legacy_witness(const char *line, size_t len, struct tids_receipt_line *out, char *err, size_t errlen)
{
	struct tids_witness *w = NULL;
	struct tids_audit_checkpoint cp = { 0 };
	uint8_t *raw;
	size_t n = 0, rlen;
	int r;

	if ((r = tids_witness_parse(line, len, &w, &n, err, errlen)) != 0)
		return r;
	if (n != 1) {
		free(w);
		return tids_fail(err, errlen, TIDS_EINVAL, "witness line: one signed head per line");
	}
	cp.hub_id = w->hub_id;
	cp.partition = w->partition;
	cp.seq = w->seq;
	memcpy(cp.head_hash, w->head, TIDS_HASH_BYTES);
	cp.signed_at_ms = w->signed_at_ms;
	memcpy(cp.signature, w->signature, TIDS_SIGNATURE_BYTES);
	r = tids_wire_encode_audit_checkpoint(&cp, &raw, &rlen);
	free(w);
	if (r != 0)
		return tids_fail(err, errlen, r, "witness line: out of memory");
	out->kind = TIDS_RECEIPT_HEAD;
	out->head = (struct tids_bytes){ raw, rlen };
	out->backing = raw;
	return 0;
}

int tids_receipt_line_parse(const char *line, size_t len, struct tids_receipt_line *out, char *err, size_t errlen)
{
	static const char *const allowed[] = { "kind", "receipt", "head", "delivery_seq", "record_id" };
	struct tids_json_doc *doc = NULL;
	const struct tids_json *v, *m;
	const char *kind;
	uint8_t *raw = NULL;
	size_t rlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > TIDS_RECEIPT_LINE_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "receipt line of %zu bytes, at most %u", len,
				 TIDS_RECEIPT_LINE_MAX);
	if (len >= 8 && memcmp(line, "witness ", 8) == 0)
		return legacy_witness(line, len, out, err, errlen);
	if ((r = tids_json_parse(line, len, &doc, err, errlen)) != 0)
		return r;
	v = tids_json_root(doc);
	if (tids_json_type(v) != TIDS_JSON_OBJECT) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: not a JSON object");
		goto out;
	}
	for (size_t i = 0; i < tids_json_len(v); i++) {
		const char *key = tids_json_key_at(v, i);
		bool ok = false;

		for (size_t k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++)
			ok |= strcmp(key, allowed[k]) == 0;
		if (!ok) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: unknown member \"%.40s\"", key);
			goto out;
		}
	}
	kind = tids_json_string(tids_json_get(v, "kind"));
	if (kind != NULL && strcmp(kind, "ingest") == 0) {
		out->kind = TIDS_RECEIPT_INGEST;
		if ((r = blob_of(v, "receipt", TIDS_RECEIPT_STATEMENT_MAX + 256, &raw, &rlen, err, errlen)) != 0 ||
		    (r = tids_wire_decode_ingest_receipt(raw, rlen, &out->ingest, err, errlen)) != 0)
			goto out;
	} else if (kind != NULL && strcmp(kind, "delivery") == 0) {
		out->kind = TIDS_RECEIPT_DELIVERY;
		if ((r = blob_of(v, "receipt", TIDS_RECEIPT_HEAD_MAX + 256, &raw, &rlen, err, errlen)) != 0 ||
		    (r = tids_wire_decode_delivery_receipt(raw, rlen, &out->delivery, err, errlen)) != 0)
			goto out;
		if ((m = tids_json_get(v, "delivery_seq")) != NULL && tids_json_uint64(m, &out->delivery_seq) != 0) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: delivery_seq is not a count");
			goto out;
		}
		if ((m = tids_json_get(v, "record_id")) != NULL) {
			const char *hex = tids_json_string(m);

			if (hex == NULL || strlen(hex) != 2 * TIDS_RECORD_ID_BYTES ||
			    sodium_hex2bin(out->record_id, TIDS_RECORD_ID_BYTES, hex, strlen(hex), NULL, NULL, NULL) != 0) {
				r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: record_id is not 32 hex digits");
				goto out;
			}
			out->has_record_id = true;
		}
	} else if (kind != NULL && strcmp(kind, "head") == 0) {
		struct tids_audit_checkpoint cp;

		out->kind = TIDS_RECEIPT_HEAD;
		if ((r = blob_of(v, "head", TIDS_RECEIPT_HEAD_MAX, &raw, &rlen, err, errlen)) != 0)
			goto out;
		if (rlen > TIDS_RECEIPT_HEAD_MAX) {
			r = tids_fail(err, errlen, TIDS_ETOOBIG, "receipt line: head of %zu bytes", rlen);
			goto out;
		}
		if ((r = tids_wire_decode_audit_checkpoint(raw, rlen, &cp, err, errlen)) != 0)
			goto out;
		tids_audit_checkpoint_free(&cp);
		out->head = (struct tids_bytes){ raw, rlen };
		out->backing = raw;
		raw = NULL;
	} else {
		r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: \"kind\" must be ingest, delivery or head");
		goto out;
	}
	if (out->kind != TIDS_RECEIPT_DELIVERY &&
	    (tids_json_get(v, "delivery_seq") != NULL || tids_json_get(v, "record_id") != NULL)) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: delivery_seq and record_id label deliveries only");
		goto out;
	}
	if ((out->kind == TIDS_RECEIPT_HEAD) != (tids_json_get(v, "head") != NULL) ||
	    (out->kind != TIDS_RECEIPT_HEAD) != (tids_json_get(v, "receipt") != NULL)) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "receipt line: a head line has \"head\", the others \"receipt\"");
		goto out;
	}
out:
	free(raw);
	tids_json_free(doc);
	if (r != 0)
		tids_receipt_line_free(out);
	return r;
}

void tids_receipt_line_free(struct tids_receipt_line *l)
{
	if (l == NULL)
		return;
	tids_ingest_receipt_free(&l->ingest);
	tids_delivery_receipt_free(&l->delivery);
	free(l->backing);
	memset(l, 0, sizeof(*l));
}
