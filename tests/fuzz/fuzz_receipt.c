/*
 * libFuzzer target for receipts, what an auditor reads from participants'
 * files (tidsctl audit verify --receipts): the receipt line gate, then the
 * opening of what it yields with the hub key the seeds were signed with
 * (identity from seed 0x01..), so mutations reach the statement gate and
 * the coverage checks behind the signatures. The first byte picks the
 * input: a receipt line, or one of the receipt messages on its own.
 * Whatever parses must write out and parse again the same.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tids_identity hub;

static void open_line(const struct tids_receipt_line *l)
{
	struct tids_ingest_statement st;
	struct tids_audit_checkpoint head;
	char err[256];

	switch (l->kind) {
	case TIDS_RECEIPT_INGEST:
		if (tids_receipt_ingest_open(&l->ingest, hub.sign_pk, &st, err, sizeof(err)) == 0) {
			if (st.n_positions == 0 || st.hub_id == NULL)
				abort();
			tids_ingest_statement_free(&st);
		}
		break;
	case TIDS_RECEIPT_DELIVERY:
		if (tids_receipt_delivery_open(&l->delivery, hub.sign_pk, &head, err, sizeof(err)) == 0) {
			if (head.partition != l->delivery.partition || head.seq < l->delivery.seq)
				abort();
			tids_audit_checkpoint_free(&head);
		}
		break;
	case TIDS_RECEIPT_HEAD:
		if (tids_receipt_head_open(l->head.data, l->head.len, hub.sign_pk, &head, err, sizeof(err)) == 0)
			tids_audit_checkpoint_free(&head);
		break;
	}
}

static void line_again(const struct tids_receipt_line *l)
{
	struct tids_receipt_line m;
	struct tids_jw w;
	char err[256];

	tids_jw_init(&w);
	if (l->kind == TIDS_RECEIPT_INGEST)
		tids_receipt_line_ingest(&w, &l->ingest);
	else if (l->kind == TIDS_RECEIPT_DELIVERY)
		tids_receipt_line_delivery(&w, &l->delivery, l->delivery_seq, l->has_record_id ? l->record_id : NULL);
	else
		tids_receipt_line_head(&w, l->head.data, l->head.len);
	if (w.err != 0 || tids_receipt_line_parse(w.buf, w.len, &m, err, sizeof(err)) != 0 || m.kind != l->kind)
		abort();
	tids_receipt_line_free(&m);
	tids_jw_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char err[256];
	const uint8_t *buf = data + 1;
	size_t n;

	if (!ready) {
		uint8_t seed[TIDS_SEED_BYTES];

		if (sodium_init() < 0)
			abort();
		memset(seed, 0x01, sizeof(seed));
		if (tids_identity_from_seed(seed, &hub) != 0)
			abort();
		ready = true;
	}
	if (size < 1)
		return 0;
	n = size - 1;
	switch (data[0] % 4) {
	case 0: {
		struct tids_receipt_line l;

		if (tids_receipt_line_parse((const char *)buf, n, &l, err, sizeof(err)) == 0) {
			open_line(&l);
			line_again(&l);
			tids_receipt_line_free(&l);
		}
		break;
	}
	case 1: {
		struct tids_ingest_statement st, again;
		uint8_t *out;
		size_t len;

		if (tids_wire_decode_ingest_statement(buf, n, &st, err, sizeof(err)) == 0) {
			if (tids_wire_encode_ingest_statement(&st, &out, &len) != 0)
				abort();
			if (tids_wire_decode_ingest_statement(out, len, &again, err, sizeof(err)) != 0 ||
			    again.n_positions != st.n_positions)
				abort();
			tids_ingest_statement_free(&again);
			free(out);
			tids_ingest_statement_free(&st);
		}
		break;
	}
	case 2: {
		struct tids_ingest_receipt r;

		if (tids_wire_decode_ingest_receipt(buf, n, &r, err, sizeof(err)) == 0) {
			struct tids_receipt_line l = { .kind = TIDS_RECEIPT_INGEST, .ingest = r };

			open_line(&l);
			tids_ingest_receipt_free(&r);
		}
		break;
	}
	default: {
		struct tids_delivery_receipt r;

		if (tids_wire_decode_delivery_receipt(buf, n, &r, err, sizeof(err)) == 0) {
			struct tids_receipt_line l = { .kind = TIDS_RECEIPT_DELIVERY, .delivery = r };

			open_line(&l);
			tids_delivery_receipt_free(&r);
		}
		break;
	}
	}
	return 0;
}
