/*
 * A read-only view of an AuditEntry's bytes for verify's hot loop: the
 * fields verify compares, found by walking the protobuf wire format in
 * place, with no allocation. It is not a gate: every entry entered the
 * ledger through tids_wire_decode_audit_entry (tids_ledger_add_entry), and
 * verify proves that the bytes are still those (the chain and the signed
 * checkpoints); the entries no checkpoint covers yet go through the gate
 * again (ledger_verify.c). What the view cannot read, verify hands to the
 * gate, which says what is wrong.
 */
#include <string.h>

#include "ledger_internal.h"

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

static bool set_string(struct tids_bytes *s, const uint8_t *p, uint64_t n)
{
	/* The gate's strings hold no NUL; the column comparisons rely on it. */
	if (memchr(p, 0, (size_t)n) != NULL)
		return false;
	s->data = p;
	s->len = (size_t)n;
	return true;
}

int ledger_scan_entry(const uint8_t *b, size_t len, struct ledger_entry_view *v)
{
	const uint8_t *p = b, *end = b + len;
	static const uint8_t empty[1];

	memset(v, 0, sizeof(*v));
	v->hub_id = v->owner = v->recipient = v->purpose = v->category = (struct tids_bytes){ empty, 0 };
	v->origin = v->destination = v->grant_id = v->approval_id = (struct tids_bytes){ empty, 0 };
	while (p < end) {
		uint64_t key, x;
		unsigned field, wt;

		if (!varint(&p, end, &key))
			return -1;
		field = (unsigned)(key >> 3);
		wt = (unsigned)(key & 7);
		if (field == 0)
			return -1;
		switch (wt) {
		case 0:
			if (!varint(&p, end, &x))
				return -1;
			switch (field) {
			case 2: v->partition = (int32_t)x; break;
			case 3: v->seq = x; break;
			case 9: v->decision = (int)x; break;
			case 11: v->tier = (int)x; break;
			case 17: v->decided_at_ms = (int64_t)x; break;
			case 1: case 4: case 5: case 6: case 7: case 8: case 10: case 12: case 13: case 14:
			case 15: case 16: case 19: case 20: case 21: case 22:
				return -1;                     /* a known field of another type */
			default: break;
			}
			break;
		case 1:
		case 5:
			if ((field >= 1 && field <= 23) || (size_t)(end - p) < (wt == 1 ? 8u : 4u))
				return -1;
			p += wt == 1 ? 8 : 4;
			break;
		case 2:
			if (!varint(&p, end, &x) || x > (uint64_t)(end - p))
				return -1;
			switch (field) {
			case 1: if (!set_string(&v->hub_id, p, x)) return -1; break;
			case 4:
				if (x != TIDS_HASH_BYTES && x != 0)
					return -1;
				v->prev_hash = x != 0 ? p : NULL;
				break;
			case 5:
				if (x != TIDS_RECORD_ID_BYTES)
					return -1;
				v->record_id = p;
				break;
			case 6: if (!set_string(&v->owner, p, x)) return -1; break;
			case 7: if (!set_string(&v->recipient, p, x)) return -1; break;
			case 8: if (!set_string(&v->purpose, p, x)) return -1; break;
			case 10:
				if (v->n_rules == LEDGER_RULES_MAX || !set_string(&v->rules[v->n_rules], p, x))
					return -1;
				v->n_rules++;
				break;
			case 12: if (!set_string(&v->category, p, x)) return -1; break;
			case 13: if (!set_string(&v->origin, p, x)) return -1; break;
			case 14: if (!set_string(&v->destination, p, x)) return -1; break;
			case 15: if (!set_string(&v->grant_id, p, x)) return -1; break;
			case 16: if (!set_string(&v->approval_id, p, x)) return -1; break;
			case 2: case 3: case 9: case 11: case 17: case 18: case 23:
				return -1;
			default: break;                        /* obligations, reason, hashes: not compared */
			}
			p += x;
			break;
		default:
			return -1;
		}
	}
	if (v->seq == 0 || v->partition < 0 || v->record_id == NULL || v->hub_id.len == 0)
		return -1;
	return 0;
}
