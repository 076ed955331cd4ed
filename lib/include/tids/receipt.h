/*
 * Receipts: the hub's signed statements that participants keep, so that a
 * ledger cut short or rewritten later (the hub's operator holds the key and
 * could sign a new history) is caught by `tidsctl audit verify --receipts`.
 *
 *  - An ingest receipt comes with every PublishAck: the hub, publisher,
 *    sequence and batch root, and where each accepted record went on the
 *    ingress topic, signed once per batch (before any routing).
 *  - A delivery receipt comes with every Delivery: its audit entry
 *    (partition, seq, chain hash) and the hub's signed chain head at the
 *    end of the router transaction that made it (or once a MiB of its
 *    deliveries is held), one signature per chain per transaction, shared
 *    by all its deliveries.
 *  - A signed chain head alone (an AuditCheckpoint) is what a peer hub keeps
 *    as a witness of this hub's ledger; it is checked the same way.
 *
 * Receipt files hold one JSON line per receipt:
 *   {"kind":"ingest","receipt":"<base64 IngestReceipt>"}
 *   {"kind":"delivery","receipt":"<base64 DeliveryReceipt>","delivery_seq":N,"record_id":"<hex>"}
 *   {"kind":"head","head":"<base64 AuditCheckpoint>"}
 * delivery_seq and record_id are the holder's labels for messages; what is
 * checked is the signed part. A peer hub's witness file (tidsd's
 * state.dir/witness/HUB.witness) is made of head lines; a line of the
 * first witness format ("witness HUB PARTITION SEQ HEAD SIGNED-AT SIG")
 * parses as the head line it stands for.
 */
#ifndef TIDS_RECEIPT_H
#define TIDS_RECEIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/crypto.h"
#include "tids/json.h"
#include "tids/wire.h"

#define TIDS_RECEIPT_LINE_MAX (128u << 10)

/* The hub's side: signs st (its signed_at_ms set by the caller); *statement
 * (malloc'd) holds the exact bytes signed. */
__attribute__((warn_unused_result))
int tids_receipt_ingest_sign(const struct tids_identity *hub, const struct tids_ingest_statement *st,
			     uint8_t **statement, size_t *len, uint8_t sig[TIDS_SIGNATURE_BYTES]);

/* Checks r's signature over its exact bytes with hub_pk, then decodes them
 * through the statement gate into *st (free with tids_ingest_statement_free).
 * TIDS_EBADSIG if the signature does not hold. */
__attribute__((warn_unused_result))
int tids_receipt_ingest_open(const struct tids_ingest_receipt *r, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			     struct tids_ingest_statement *st, char *err, size_t errlen);

/* Does st acknowledge exactly this batch: this hub, publisher, sequence and
 * root, and, in leaf order, each of the n records the ack does not list
 * as refused? TIDS_EBADSIG names the first difference. */
__attribute__((warn_unused_result))
int tids_receipt_ingest_matches(const struct tids_ingest_statement *st, const char *hub_id, const char *publisher,
				uint64_t sequence, const uint8_t root[TIDS_HASH_BYTES], size_t n,
				const struct tids_publish_ack *ack, char *err, size_t errlen);

/* Signs cp (a chain head) as checkpoints are signed, and encodes it with
 * its signature into *bytes (malloc'd). */
__attribute__((warn_unused_result))
int tids_receipt_head_sign(const struct tids_identity *hub, struct tids_audit_checkpoint *cp, uint8_t **bytes,
			   size_t *len);

/* A signed chain head: through the checkpoint gate, then its signature
 * with hub_pk. *head is freed with tids_audit_checkpoint_free. */
__attribute__((warn_unused_result))
int tids_receipt_head_open(const uint8_t *bytes, size_t len, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			   struct tids_audit_checkpoint *head, char *err, size_t errlen);

/* A delivery receipt: its head opens (as above), is of the receipt's chain
 * and at or after its entry. */
__attribute__((warn_unused_result))
int tids_receipt_delivery_open(const struct tids_delivery_receipt *r, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			       struct tids_audit_checkpoint *head, char *err, size_t errlen);

/* --- receipt files ------------------------------------------------------- */

enum tids_receipt_kind { TIDS_RECEIPT_INGEST = 1, TIDS_RECEIPT_DELIVERY = 2, TIDS_RECEIPT_HEAD = 3 };

struct tids_receipt_line {
	enum tids_receipt_kind kind;
	struct tids_ingest_receipt ingest;       /* INGEST */
	struct tids_delivery_receipt delivery;   /* DELIVERY */
	struct tids_bytes head;                  /* HEAD: a serialized AuditCheckpoint */
	uint64_t delivery_seq;                   /* DELIVERY labels, 0 / false when absent */
	bool has_record_id;
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	void *backing;
};

/* One line each (the writer adds the newline between lines). */
void tids_receipt_line_ingest(struct tids_jw *w, const struct tids_ingest_receipt *r);
void tids_receipt_line_delivery(struct tids_jw *w, const struct tids_delivery_receipt *r, uint64_t delivery_seq,
				const uint8_t *record_id);
void tids_receipt_line_head(struct tids_jw *w, const uint8_t *head, size_t len);

/* The gate for one line of a receipts file (without its newline): the
 * JSON, the kind, the base64, and the receipt through its wire gate.
 * Signatures are not checked here (tids_receipt_*_open does). */
__attribute__((warn_unused_result))
int tids_receipt_line_parse(const char *line, size_t len, struct tids_receipt_line *out, char *err, size_t errlen);
void tids_receipt_line_free(struct tids_receipt_line *l);

#endif
