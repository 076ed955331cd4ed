/*
 * Shared by the lib/wire_*.c gates only: storage that owns a decoded
 * message, and the field checks every gate applies.
 */
#ifndef TIDS_WIRE_INTERNAL_H
#define TIDS_WIRE_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "tids/v1/audit.pb-c.h"
#include "tids/v1/consent.pb-c.h"
#include "tids/v1/hubstate.pb-c.h"
#include "tids/v1/federation.pb-c.h"
#include "tids/v1/kafka.pb-c.h"
#include "tids/v1/receipt.pb-c.h"
#include "tids/v1/record.pb-c.h"
#include "tids/v1/registry.pb-c.h"
#include "tids/v1/rpc.pb-c.h"
#include "tids/v1/statistics.pb-c.h"
#include "tids/v1/status.pb-c.h"

#include "tids/error.h"
#include "tids/wire.h"

/* Internal to libtids: not exported from the shared library. */
#pragma GCC visibility push(hidden)

/* The decoded protobuf-c message plus one block for converted arrays, all
 * in the arena of blocks that wire_release frees. */
struct arena_block;
struct backing {
	ProtobufCMessage *msg;
	void *mem;
	struct arena_block *blocks;          /* NULL: msg and mem are malloc'd */
};

/* Unpacks buf as desc after checking len <= max; on success *b owns the
 * message and `extra` zeroed bytes at (*b)->mem. */
int wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		size_t max, size_t extra, struct backing **b, char *err, size_t errlen);
void wire_release(void *backing);
/* The one converted-array block of b (zeroed), or NULL. */
void *wire_alloc(struct backing *b, size_t size);

/* Packs msg into a malloc'd buffer. */
int wire_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len);

/* Field checks; `what` names the field in the error ("grant: grantee"). */
int wire_need_id(const char *what, const char *s, char *err, size_t errlen);
int wire_opt_id(const char *what, const char *s, char *err, size_t errlen);
int wire_opt_consent_id(const char *what, const char *s, char *err, size_t errlen);
int wire_need_name(const char *what, const char *s, char *err, size_t errlen);
int wire_opt_name(const char *what, const char *s, char *err, size_t errlen);
int wire_need_jurisdiction(const char *what, const char *s, char *err, size_t errlen);
int wire_opt_jurisdiction(const char *what, const char *s, char *err, size_t errlen);
int wire_text(const char *what, const char *s, size_t max, char *err, size_t errlen);
int wire_bytes(const char *what, ProtobufCBinaryData d, size_t want, char *err, size_t errlen);
int wire_tier(const char *what, int tier, bool required, char *err, size_t errlen);

enum list_kind { LIST_IDS, LIST_NAMES, LIST_FIELDS };
int wire_list(const char *what, char **items, size_t n, enum list_kind kind, size_t min,
	      struct tids_strlist *out, char *err, size_t errlen);

/* Receipts ride inside acks, deliveries and envelopes: their bytes stay
 * the enclosing message's (the out structs' backing is NULL). */
int wire_ingest_receipt_from(const Tids__V1__IngestReceipt *m, struct tids_ingest_receipt *out, char *err,
			     size_t errlen);
void wire_ingest_receipt_to(const struct tids_ingest_receipt *in, Tids__V1__IngestReceipt *pb);
int wire_delivery_receipt_from(const Tids__V1__DeliveryReceipt *m, struct tids_delivery_receipt *out, char *err,
			       size_t errlen);
void wire_delivery_receipt_to(const struct tids_delivery_receipt *in, Tids__V1__DeliveryReceipt *pb);

/* Obligations and records appear inside several messages. */
int wire_obligations_from(const Tids__V1__Obligations *m, struct tids_obligations *o,
			  char *err, size_t errlen);
/* pb must outlive o; pointers go into it. Allocates nothing: *pb is
 * caller storage, lists point at the caller's strings. */
void wire_obligations_to(const struct tids_obligations *o, Tids__V1__Obligations *pb,
			 Tids__V1__Aggregation *agg);
/* fields: storage for m->n_fields converted fields. */
int wire_record_from(const Tids__V1__Record *m, struct tids_record *rec,
		     struct tids_field *fields, char *err, size_t errlen);
/* Builds a protobuf-c view of rec (strings borrowed from rec); the field
 * arrays are malloc'd and freed with wire_record_view_free. */
int wire_record_view(const struct tids_record *rec, Tids__V1__Record *pb);
void wire_record_view_free(Tids__V1__Record *pb);

/* IngressRecord inside IngressRecord itself and Forward: the checks of its
 * gate (b gets the path array), and a protobuf-c view borrowing in's
 * storage (v must outlive the packing). */
int wire_ingress_from(const Tids__V1__IngressRecord *m, struct backing *b, struct tids_ingress_record *out,
		      char *err, size_t errlen);
struct ingress_view {
	Tids__V1__IngressRecord pb;
	ProtobufCBinaryData path[64];
	Tids__V1__ForwardInfo fw;
	Tids__V1__Obligations ob;
	Tids__V1__Aggregation agg;
};
void wire_ingress_view(const struct tids_ingress_record *in, struct ingress_view *v);

/* AuditCheckpoint inside AuditLogRecord and PullItem. */
int wire_checkpoint_from(const Tids__V1__AuditCheckpoint *m, struct tids_audit_checkpoint *out,
			 char *err, size_t errlen);
void wire_checkpoint_view(const struct tids_audit_checkpoint *in, bool with_signature, Tids__V1__AuditCheckpoint *pb);

/* The state topics' entries (tids_state_message): the key, by the rule of
 * its topic, the value's length against max, the sequence and MAC headers,
 * and the MAC; *seq on success, else 0. The value itself is the caller's. */
enum state_key_rule {
	STATE_KEY_NO_NUL,                    /* the router's state topic */
	STATE_KEY_PRINTABLE,                 /* the registry topic: "<kind>/<id>" */
};
__attribute__((warn_unused_result))
int wire_state_open(const uint8_t mac_key[32], const struct tids_state_message *m, enum state_key_rule rule,
		    size_t max, uint64_t *seq, char *err, size_t errlen);

#pragma GCC visibility pop

#endif
