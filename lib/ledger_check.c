/*
 * Checking a proof or bundle offline, with only the hub's key (checkpoints)
 * and the publishers' keys (batch signatures): line by line, in constant
 * memory. The text is untrusted input; this is its one gate. Each line must
 * be exactly what the writer would produce for the values it holds, so
 * every byte of a proof is either checked by a signature or a hash, or
 * fixed by the format.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "tids/buf.h"

#define RECORD_REFS_MAX 256
#define PENDING_MAX (64u << 20)

enum phase { PH_HEADER, PH_BODY, PH_INGRESS, PH_DONE };

struct tids_proof_checker {
	struct tids_proof_opts o;
	struct tids_proof_result res;
	crypto_generichash_state hash;
	enum phase phase;
	bool failed;
	struct tids_jw jw;

	/* The open segment. */
	bool in_segment;
	int32_t seg_p;
	uint64_t expect_seq;
	bool have_head;
	uint8_t head[TIDS_HASH_BYTES];
	uint64_t seg_entries;
	bool closed;                      /* the last line was a checkpoint of its last entry */

	/* Entries not yet under a checkpoint, for on_entry. */
	struct tids_buf pending;

	/* The proof's record: where its entries point on the ingress topic. */
	struct {
		int32_t partition;
		int64_t offset;
		bool seen;
	} refs[RECORD_REFS_MAX];
	size_t n_refs;
	char owner[TIDS_ID_MAX + 1];
};

static int fail(struct tids_proof_checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct tids_proof_checker *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->failed) {
		c->failed = true;
		c->res.bad_line = c->res.lines;
		va_start(ap, fmt);
		vsnprintf(c->res.what, sizeof(c->res.what), fmt, ap);
		va_end(ap);
	}
	return TIDS_EBADSIG;
}

int tids_proof_checker_new(const struct tids_proof_opts *o, struct tids_proof_checker **out)
{
	struct tids_proof_checker *c;

	*out = NULL;
	if (o == NULL || o->hub_pk == NULL)
		return TIDS_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TIDS_ENOMEM;
	c->o = *o;
	tids_jw_init(&c->jw);
	crypto_generichash_init(&c->hash, NULL, 0, TIDS_HASH_BYTES);
	*out = c;
	return 0;
}

void tids_proof_checker_free(struct tids_proof_checker *c)
{
	if (c == NULL)
		return;
	tids_jw_free(&c->jw);
	tids_buf_free(&c->pending);
	free(c);
}

/* --- canonical form ------------------------------------------------------------ */

static void rewrite(struct tids_jw *w, const struct tids_json *v)
{
	int64_t i;
	uint64_t u;

	switch (tids_json_type(v)) {
	case TIDS_JSON_NULL:
		tids_jw_null(w);
		break;
	case TIDS_JSON_BOOL:
		tids_jw_bool(w, tids_json_bool(v));
		break;
	case TIDS_JSON_NUMBER:
		/* Only integers appear in the format. */
		if (tids_json_int64(v, &i) == 0)
			tids_jw_int64(w, i);
		else if (tids_json_uint64(v, &u) == 0)
			tids_jw_uint64(w, u);
		else
			w->err = TIDS_EINVAL;
		break;
	case TIDS_JSON_STRING:
		tids_jw_string_len(w, tids_json_string(v), tids_json_string_len(v));
		break;
	case TIDS_JSON_ARRAY:
		tids_jw_array_begin(w);
		for (size_t k = 0; k < tids_json_len(v); k++)
			rewrite(w, tids_json_at(v, k));
		tids_jw_array_end(w);
		break;
	case TIDS_JSON_OBJECT:
		tids_jw_object_begin(w);
		for (size_t k = 0; k < tids_json_len(v); k++) {
			tids_jw_key(w, tids_json_key_at(v, k));
			rewrite(w, tids_json_at(v, k));
		}
		tids_jw_object_end(w);
		break;
	}
}

static bool canonical(struct tids_proof_checker *c, const struct tids_json *v, const char *line, size_t len)
{
	tids_jw_reset(&c->jw);
	rewrite(&c->jw, v);
	return c->jw.err == 0 && c->jw.len == len && memcmp(c->jw.buf, line, len) == 0;
}

/* The object has exactly these keys, in this order (the last `optional`
 * may be absent). */
static bool keys_are(const struct tids_json *obj, const char *const *keys, size_t n, size_t optional)
{
	size_t have = tids_json_len(obj);

	if (tids_json_type(obj) != TIDS_JSON_OBJECT || have > n || have < n - optional)
		return false;
	for (size_t i = 0; i < have; i++)
		if (strcmp(tids_json_key_at(obj, i), keys[i]) != 0)
			return false;
	return true;
}

/* --- field readers (each re-encodes what it decodes: one spelling only) --------- */

static bool get_i64(const struct tids_json *obj, size_t i, int64_t *out)
{
	const struct tids_json *v = tids_json_at(obj, i);

	return v != NULL && tids_json_type(v) == TIDS_JSON_NUMBER && tids_json_int64(v, out) == 0;
}

static bool get_u64(const struct tids_json *obj, size_t i, uint64_t *out)
{
	const struct tids_json *v = tids_json_at(obj, i);

	return v != NULL && tids_json_type(v) == TIDS_JSON_NUMBER && tids_json_uint64(v, out) == 0;
}

static const char *get_str(const struct tids_json *obj, size_t i)
{
	const struct tids_json *v = tids_json_at(obj, i);

	return v != NULL ? tids_json_string(v) : NULL;
}

static bool hex_exact(const char *s, uint8_t *out, size_t want)
{
	size_t n;
	char back[2 * 64 + 1];

	if (s == NULL || strlen(s) != 2 * want || want > 64)
		return false;
	if (sodium_hex2bin(out, want, s, 2 * want, NULL, &n, NULL) != 0 || n != want)
		return false;
	sodium_bin2hex(back, sizeof(back), out, want);
	return strcmp(back, s) == 0;
}

/* base64 of at most cap bytes into a malloc'd buffer; exact spelling. */
static uint8_t *b64_exact(const char *s, size_t cap, size_t *len)
{
	size_t sl = s != NULL ? strlen(s) : 0, n;
	uint8_t *out;
	char *back;

	if (s == NULL || sl == 0 || sl / 4 * 3 > cap + 3)
		return NULL;
	out = malloc(sl / 4 * 3 + 3);
	if (out == NULL)
		return NULL;
	if (sodium_base642bin(out, sl / 4 * 3 + 3, s, sl, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n > cap || n == 0) {
		free(out);
		return NULL;
	}
	back = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
	if (back == NULL) {
		free(out);
		return NULL;
	}
	sodium_bin2base64(back, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), out, n,
			  sodium_base64_VARIANT_ORIGINAL);
	if (strcmp(back, s) != 0) {
		free(back);
		free(out);
		return NULL;
	}
	free(back);
	*len = n;
	return out;
}

static bool b64_fixed(const char *s, uint8_t *out, size_t want)
{
	size_t n;
	uint8_t *b = b64_exact(s, want, &n);
	bool ok = b != NULL && n == want;

	if (ok)
		memcpy(out, b, want);
	free(b);
	return ok;
}

/* --- lines ------------------------------------------------------------------------ */

static int header(struct tids_proof_checker *c, const struct tids_json *v)
{
	static const char *const proof_keys[] = { "tids_audit", "version", "hub_id", "record_id", "created_ms" };
	static const char *const bundle_keys[] = { "tids_audit", "version", "hub_id", "since_ms", "until_ms",
						   "created_ms" };
	const char *kind = get_str(v, 0), *hub = get_str(v, 2);
	int64_t version;

	if (kind == NULL || tids_json_type(v) != TIDS_JSON_OBJECT ||
	    strcmp(tids_json_key_at(v, 0) != NULL ? tids_json_key_at(v, 0) : "", "tids_audit") != 0)
		return fail(c, "not a tids audit proof or bundle");
	if (!get_i64(v, 1, &version) || version != PROOF_VERSION)
		return fail(c, "unknown version (this tidsctl reads version %d)", PROOF_VERSION);
	if (hub == NULL || !tids_valid_id(hub))
		return fail(c, "header: bad hub_id");
	snprintf(c->res.hub_id, sizeof(c->res.hub_id), "%s", hub);
	if (strcmp(kind, "proof") == 0) {
		c->res.kind = TIDS_PROOF_RECORD;
		if (!keys_are(v, proof_keys, 5, 0) || !hex_exact(get_str(v, 3), c->res.record_id, TIDS_RECORD_ID_BYTES) ||
		    !get_i64(v, 4, &c->res.created_ms))
			return fail(c, "header: malformed proof header");
	} else if (strcmp(kind, "bundle") == 0) {
		c->res.kind = TIDS_PROOF_BUNDLE;
		if (!keys_are(v, bundle_keys, 6, 0) || !get_i64(v, 3, &c->res.since_ms) || !get_i64(v, 4, &c->res.until_ms) ||
		    !get_i64(v, 5, &c->res.created_ms))
			return fail(c, "header: malformed bundle header");
	} else {
		return fail(c, "header: '%s' is neither proof nor bundle", kind);
	}
	c->phase = PH_BODY;
	return 0;
}

/* A segment is over: it must have ended on a checkpoint of its last entry. */
static int close_segment(struct tids_proof_checker *c)
{
	if (!c->in_segment)
		return 0;
	if (c->seg_entries == 0 || !c->closed)
		return fail(c, "segment of chain %d ends at %d:%llu without a checkpoint signing it", c->seg_p, c->seg_p,
			    (unsigned long long)c->expect_seq - 1);
	c->in_segment = false;
	return 0;
}

static int segment(struct tids_proof_checker *c, const struct tids_json *v)
{
	static const char *const keys[] = { "segment", "first_seq" };
	int64_t p;
	uint64_t first;
	int r;

	if (c->phase != PH_BODY)
		return fail(c, "a segment after the ingress lines");
	if (!keys_are(v, keys, 2, 0) || !get_i64(v, 0, &p) || !get_u64(v, 1, &first) || p < 0 ||
	    p > TIDS_LEDGER_PARTITION_MAX || first == 0)
		return fail(c, "malformed segment line");
	if ((r = close_segment(c)) != 0)
		return r;
	c->in_segment = true;
	c->seg_p = (int32_t)p;
	c->expect_seq = first;
	c->seg_entries = 0;
	c->closed = false;
	c->have_head = first == 1;
	memset(c->head, 0, sizeof(c->head));
	c->res.segments++;
	if (first == 1)
		c->res.anchored_segments++;
	c->pending.len = 0;
	c->pending.off = 0;
	return 0;
}

static void release_pending(struct tids_proof_checker *c)
{
	const uint8_t *p = tids_buf_head(&c->pending);
	size_t left = c->pending.len;

	while (left >= sizeof(uint32_t)) {
		uint32_t n;
		struct tids_audit_entry e;

		memcpy(&n, p, sizeof(n));
		if (tids_wire_decode_audit_entry(p + sizeof(n), n, &e, NULL, 0) == 0) {
			c->o.on_entry(c->o.entry_ctx, &e, c->res.kind == TIDS_PROOF_RECORD &&
				      memcmp(e.record_id, c->res.record_id, TIDS_RECORD_ID_BYTES) == 0);
			tids_audit_entry_free(&e);
		}
		p += sizeof(n) + n;
		left -= sizeof(n) + n;
	}
	c->pending.len = 0;
	c->pending.off = 0;
}

static int checkpoint(struct tids_proof_checker *c, const struct tids_json *v)
{
	static const char *const keys[] = { "checkpoint" };
	struct tids_audit_checkpoint cp;
	uint8_t *b;
	size_t len;
	char why[200];
	int r = 0;

	if (!c->in_segment || c->phase != PH_BODY)
		return fail(c, "a checkpoint outside a segment");
	if (!keys_are(v, keys, 1, 0) || (b = b64_exact(get_str(v, 0), 4096, &len)) == NULL)
		return fail(c, "malformed checkpoint line");
	if (tids_wire_decode_audit_checkpoint(b, len, &cp, why, sizeof(why)) != 0) {
		free(b);
		return fail(c, "checkpoint does not decode: %s", why);
	}
	/* Must be exactly the bytes the hub wrote, not another encoding. */
	{
		uint8_t *again;
		size_t alen;

		if (tids_wire_encode_audit_checkpoint(&cp, &again, &alen) != 0) {
			r = fail(c, "out of memory");
		} else {
			if (alen != len || memcmp(again, b, len) != 0)
				r = fail(c, "checkpoint %d:%llu is not in its canonical encoding", cp.partition,
					 (unsigned long long)cp.seq);
			free(again);
		}
	}
	free(b);
	if (r != 0)
		goto out;
	if (strcmp(cp.hub_id, c->res.hub_id) != 0 || cp.partition != c->seg_p) {
		r = fail(c, "checkpoint %d:%llu of hub %s does not belong to this segment", cp.partition,
			 (unsigned long long)cp.seq, cp.hub_id);
		goto out;
	}
	if (!ledger_checkpoint_valid(&cp, c->o.hub_pk)) {
		r = fail(c, "checkpoint %d:%llu: its signature does not verify with the hub key", cp.partition,
			 (unsigned long long)cp.seq);
		goto out;
	}
	if (c->seg_entries == 0 && !c->have_head && cp.seq + 1 == c->expect_seq) {
		/* The anchor: the segment continues a signed head. */
		memcpy(c->head, cp.head_hash, TIDS_HASH_BYTES);
		c->have_head = true;
		c->res.anchored_segments++;
	} else if (c->seg_entries > 0 && cp.seq + 1 == c->expect_seq) {
		if (sodium_memcmp(cp.head_hash, c->head, TIDS_HASH_BYTES) != 0) {
			r = fail(c, "entries up to %d:%llu do not hash to the head that checkpoint %d:%llu signs",
				 c->seg_p, (unsigned long long)cp.seq, c->seg_p, (unsigned long long)cp.seq);
			goto out;
		}
		c->closed = true;
		if (c->o.on_entry != NULL)
			release_pending(c);
	} else {
		r = fail(c, "checkpoint %d:%llu is out of place (expected %d:%llu)", cp.partition,
			 (unsigned long long)cp.seq, c->seg_p, (unsigned long long)c->expect_seq - 1);
		goto out;
	}
	c->res.checkpoints++;
out:
	tids_audit_checkpoint_free(&cp);
	return r;
}

static void note_record_entry(struct tids_proof_checker *c, const struct tids_audit_entry *e)
{
	c->res.record_entries++;
	if (c->owner[0] == '\0')
		snprintf(c->owner, sizeof(c->owner), "%s", e->owner);
	if (e->ingress_offset < 0)
		return;
	for (size_t i = 0; i < c->n_refs; i++)
		if (c->refs[i].partition == e->partition && c->refs[i].offset == e->ingress_offset)
			return;
	if (c->n_refs < RECORD_REFS_MAX) {
		c->refs[c->n_refs].partition = e->partition;
		c->refs[c->n_refs].offset = e->ingress_offset;
		c->refs[c->n_refs++].seen = false;
	}
}

static int entry(struct tids_proof_checker *c, const struct tids_json *v)
{
	static const char *const keys[] = { "entry" };
	struct tids_audit_entry e;
	uint8_t *b;
	size_t len;
	char why[200];
	int r = 0;

	if (!c->in_segment || c->phase != PH_BODY)
		return fail(c, "an entry outside a segment");
	if (!keys_are(v, keys, 1, 0) || (b = b64_exact(get_str(v, 0), PROOF_LINE_MAX, &len)) == NULL)
		return fail(c, "malformed entry line");
	if (tids_wire_decode_audit_entry(b, len, &e, why, sizeof(why)) != 0) {
		free(b);
		return fail(c, "entry %d:%llu does not decode: %s", c->seg_p, (unsigned long long)c->expect_seq, why);
	}
	if (strcmp(e.hub_id, c->res.hub_id) != 0 || e.partition != c->seg_p || e.seq != c->expect_seq) {
		r = fail(c, "entry %d:%llu of hub %s is not the next of this segment (%d:%llu)", e.partition,
			 (unsigned long long)e.seq, e.hub_id, c->seg_p, (unsigned long long)c->expect_seq);
		goto out;
	}
	if (!c->have_head) {
		/* A segment without an anchor starts from what its first entry
		 * says; only the checkpoint at its end vouches for it. */
		memcpy(c->head, e.prev_hash, TIDS_HASH_BYTES);
		c->have_head = true;
	}
	if (sodium_memcmp(e.prev_hash, c->head, TIDS_HASH_BYTES) != 0) {
		r = fail(c, "entry %d:%llu does not follow %d:%llu: its prev_hash does not match", e.partition,
			 (unsigned long long)e.seq, e.partition, (unsigned long long)e.seq - 1);
		goto out;
	}
	ledger_chain_hash(c->head, b, len, c->head);
	if (c->o.on_entry != NULL) {
		uint32_t n = (uint32_t)len;

		if (c->pending.len + len > PENDING_MAX) {
			r = fail(c, "segment of chain %d runs too long without a checkpoint", c->seg_p);
			goto out;
		}
		if (tids_buf_append(&c->pending, &n, sizeof(n)) != 0 || tids_buf_append(&c->pending, b, len) != 0) {
			r = fail(c, "out of memory");
			goto out;
		}
	}
	if (c->res.kind == TIDS_PROOF_RECORD && memcmp(e.record_id, c->res.record_id, TIDS_RECORD_ID_BYTES) == 0)
		note_record_entry(c, &e);
	c->expect_seq++;
	c->seg_entries++;
	c->closed = false;
	c->res.entries++;
out:
	free(b);
	tids_audit_entry_free(&e);
	return r;
}

/* The record bytes: they hash to the leaf and name the same record and owner. */
static int check_record_bytes(struct tids_proof_checker *c, const uint8_t *rec, size_t len,
			      const uint8_t leaf[TIDS_HASH_BYTES], const uint8_t record_id[TIDS_RECORD_ID_BYTES],
			      const char *publisher)
{
	struct tids_record r;
	uint8_t h[TIDS_HASH_BYTES];
	char why[200];
	int rc = 0;

	tids_merkle_leaf_hash(rec, len, h);
	if (sodium_memcmp(h, leaf, TIDS_HASH_BYTES) != 0)
		return fail(c, "the record bytes do not hash to the leaf");
	if (tids_wire_decode_record(rec, len, &r, why, sizeof(why)) != 0)
		return fail(c, "the record bytes do not decode: %s", why);
	if (memcmp(r.record_id, record_id, TIDS_RECORD_ID_BYTES) != 0)
		rc = fail(c, "the record bytes are of another record");
	else if (strcmp(r.owner, publisher) != 0)
		rc = fail(c, "the record's owner %s is not its publisher %s", r.owner, publisher);
	tids_record_free(&r);
	return rc;
}

static int ingress(struct tids_proof_checker *c, const struct tids_json *v)
{
	static const char *const keys[] = { "ingress", "offset", "record_id", "publisher", "sequence", "batch_root",
					    "batch_signature", "leaf_index", "leaf_count", "path", "leaf_hash", "record" };
	uint8_t record_id[TIDS_RECORD_ID_BYTES], root[TIDS_HASH_BYTES], sig[TIDS_SIGNATURE_BYTES];
	uint8_t leaf[TIDS_HASH_BYTES], path[TIDS_MERKLE_PATH_MAX][TIDS_HASH_BYTES];
	const struct tids_json *pv;
	const char *publisher;
	int64_t p, off, index, count;
	uint64_t sequence;
	uint8_t *rec = NULL;
	size_t rec_len = 0, n_path;
	bool is_record, bound = false;
	const uint8_t *pk;
	int r = 0;

	if (c->phase == PH_BODY) {
		if ((r = close_segment(c)) != 0)
			return r;
		c->phase = PH_INGRESS;
	}
	if (!keys_are(v, keys, 12, 1) || !get_i64(v, 0, &p) || !get_i64(v, 1, &off) ||
	    !hex_exact(get_str(v, 2), record_id, TIDS_RECORD_ID_BYTES) || (publisher = get_str(v, 3)) == NULL ||
	    !tids_valid_id(publisher) || !get_u64(v, 4, &sequence) || !hex_exact(get_str(v, 5), root, TIDS_HASH_BYTES) ||
	    !b64_fixed(get_str(v, 6), sig, TIDS_SIGNATURE_BYTES) || !get_i64(v, 7, &index) || !get_i64(v, 8, &count) ||
	    (pv = tids_json_at(v, 9)) == NULL || tids_json_type(pv) != TIDS_JSON_ARRAY ||
	    tids_json_len(pv) > TIDS_MERKLE_PATH_MAX || !hex_exact(get_str(v, 10), leaf, TIDS_HASH_BYTES) ||
	    index < 0 || count <= 0 || index >= count || count > UINT32_MAX)
		return fail(c, "malformed ingress line");
	n_path = tids_json_len(pv);
	for (size_t i = 0; i < n_path; i++)
		if (!hex_exact(tids_json_string(tids_json_at(pv, i)), path[i], TIDS_HASH_BYTES))
			return fail(c, "malformed ingress line: path");
	if (tids_json_len(v) == 12 && (rec = b64_exact(get_str(v, 11), TIDS_RECORD_MAX, &rec_len)) == NULL)
		return fail(c, "malformed ingress line: record");
	is_record = c->res.kind == TIDS_PROOF_RECORD && memcmp(record_id, c->res.record_id, TIDS_RECORD_ID_BYTES) == 0;
	if (c->res.kind == TIDS_PROOF_RECORD && !is_record) {
		r = fail(c, "ingress line of another record");
		goto out;
	}
	if (rec != NULL) {
		if ((r = check_record_bytes(c, rec, rec_len, leaf, record_id, publisher)) != 0)
			goto out;
		bound = true;
	} else if (is_record && c->o.record.len > 0) {
		if ((r = check_record_bytes(c, c->o.record.data, c->o.record.len, leaf, record_id, publisher)) != 0)
			goto out;
		bound = true;
	}
	if (tids_merkle_verify_path(leaf, (size_t)index, (size_t)count, (const uint8_t(*)[TIDS_HASH_BYTES])path, n_path,
				    root) != 0) {
		r = fail(c, "the Merkle path of leaf %lld does not lead to the batch root", (long long)index);
		goto out;
	}
	pk = c->o.publisher_key != NULL ? c->o.publisher_key(c->o.key_ctx, publisher) : NULL;
	if (pk != NULL) {
		if (tids_sign_batch_verify(pk, publisher, sequence, root, sig) != 0) {
			r = fail(c, "batch %llu: the signature does not verify with %s's key", (unsigned long long)sequence,
				 publisher);
			goto out;
		}
		c->res.ingress_verified++;
	} else if (c->res.kind == TIDS_PROOF_RECORD) {
		r = fail(c, "no public key given for publisher %s", publisher);
		goto out;
	}
	if (is_record) {
		size_t i;

		for (i = 0; i < c->n_refs; i++)
			if (c->refs[i].partition == p && c->refs[i].offset == off)
				break;
		if (i == c->n_refs) {
			r = fail(c, "ingress %lld/%lld is not where the record's entries say it was", (long long)p,
				 (long long)off);
			goto out;
		}
		if (strcmp(publisher, c->owner) != 0) {
			r = fail(c, "the publisher %s is not the owner %s that the entries name", publisher, c->owner);
			goto out;
		}
		c->refs[i].seen = true;
		c->res.record_bound = bound;
		snprintf(c->res.publisher, sizeof(c->res.publisher), "%s", publisher);
		c->res.batch_sequence = sequence;
	}
	c->res.ingress++;
out:
	free(rec);
	return r;
}

static int end_line(struct tids_proof_checker *c, const struct tids_json *v, const uint8_t digest[TIDS_HASH_BYTES])
{
	static const char *const keys[] = { "end", "digest", "signer", "signature" };
	uint8_t d[TIDS_HASH_BYTES], sig[TIDS_SIGNATURE_BYTES];
	uint64_t lines;
	int r;

	if (c->phase == PH_BODY && (r = close_segment(c)) != 0)
		return r;
	if ((tids_json_len(v) != 2 && tids_json_len(v) != 4) || !keys_are(v, keys, 4, 2) || !get_u64(v, 0, &lines) ||
	    !hex_exact(get_str(v, 1), d, TIDS_HASH_BYTES))
		return fail(c, "malformed end line");
	if (lines != c->res.lines - 1)
		return fail(c, "the end line counts %llu lines, there are %llu", (unsigned long long)lines,
			    (unsigned long long)c->res.lines - 1);
	if (sodium_memcmp(d, digest, TIDS_HASH_BYTES) != 0)
		return fail(c, "the digest does not match the lines before it: the text was changed");
	if (tids_json_len(v) == 4) {
		if (!b64_fixed(get_str(v, 2), c->res.signer, TIDS_PUBLIC_KEY_BYTES) ||
		    !b64_fixed(get_str(v, 3), sig, TIDS_SIGNATURE_BYTES))
			return fail(c, "malformed end line: signer or signature");
		if (tids_sign_verify_detached(c->res.signer, TIDS_DOMAIN_BUNDLE, d, sizeof(d), sig) != 0)
			return fail(c, "the signature over the digest does not verify with the signer's key");
		c->res.is_signed = true;
	}
	if (c->o.signer_pk != NULL &&
	    (!c->res.is_signed || sodium_memcmp(c->o.signer_pk, c->res.signer, TIDS_PUBLIC_KEY_BYTES) != 0))
		return fail(c, "not signed by the expected key");
	if (c->res.kind == TIDS_PROOF_BUNDLE && !c->res.is_signed)
		return fail(c, "a bundle must be signed");
	c->phase = PH_DONE;
	return 0;
}

int tids_proof_checker_line(struct tids_proof_checker *c, const char *line, size_t len)
{
	struct tids_json_doc *doc = NULL;
	const struct tids_json *v;
	const char *kind;
	uint8_t digest[TIDS_HASH_BYTES];
	char why[160];
	int r;

	if (c->failed)
		return TIDS_EBADSIG;
	c->res.lines++;
	if (c->phase == PH_DONE)
		return fail(c, "text after the end line");
	if (len == 0 || len > PROOF_LINE_MAX)
		return fail(c, len == 0 ? "empty line" : "line too long");
	{
		/* The digest so far, before this line joins it. */
		crypto_generichash_state copy = c->hash;

		crypto_generichash_final(&copy, digest, TIDS_HASH_BYTES);
	}
	crypto_generichash_update(&c->hash, (const uint8_t *)line, len);
	crypto_generichash_update(&c->hash, (const uint8_t *)"\n", 1);
	if (tids_json_parse(line, len, &doc, why, sizeof(why)) != 0)
		return fail(c, "not JSON: %s", why);
	v = tids_json_root(doc);
	if (!canonical(c, v, line, len)) {
		r = fail(c, "not in canonical form (spacing, escapes or numbers were changed)");
		goto out;
	}
	if (c->phase == PH_HEADER) {
		r = header(c, v);
		goto out;
	}
	kind = tids_json_type(v) == TIDS_JSON_OBJECT ? tids_json_key_at(v, 0) : NULL;
	if (kind == NULL)
		r = fail(c, "a line that is no object");
	else if (strcmp(kind, "segment") == 0)
		r = segment(c, v);
	else if (strcmp(kind, "entry") == 0)
		r = entry(c, v);
	else if (strcmp(kind, "checkpoint") == 0)
		r = checkpoint(c, v);
	else if (strcmp(kind, "ingress") == 0)
		r = ingress(c, v);
	else if (strcmp(kind, "end") == 0)
		r = end_line(c, v, digest);
	else
		r = fail(c, "unknown line kind '%.40s'", kind);
out:
	tids_json_free(doc);
	return r;
}

int tids_proof_checker_finish(struct tids_proof_checker *c, struct tids_proof_result *res)
{
	int r = 0;

	if (!c->failed && c->phase != PH_DONE)
		r = fail(c, "the text ends before its end line (truncated)");
	if (!c->failed && c->res.kind == TIDS_PROOF_RECORD) {
		if (c->res.record_entries == 0)
			r = fail(c, "the proof holds no entry of its record");
		for (size_t i = 0; !c->failed && i < c->n_refs; i++)
			if (!c->refs[i].seen)
				r = fail(c, "the proof lacks the publication of the record (ingress %d/%lld)",
					 c->refs[i].partition, (long long)c->refs[i].offset);
	}
	*res = c->res;
	return c->failed ? TIDS_EBADSIG : r;
}

int tids_proof_check(const uint8_t *text, size_t len, const struct tids_proof_opts *o, struct tids_proof_result *res)
{
	struct tids_proof_checker *c;
	size_t start = 0;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = tids_proof_checker_new(o, &c)) != 0)
		return r;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		if (tids_proof_checker_line(c, (const char *)text + start, i - start) != 0)
			break;
		start = i + 1;
	}
	if (start < len && !c->failed) {
		c->res.lines++;
		fail(c, "the last line has no newline");
	}
	r = tids_proof_checker_finish(c, res);
	tids_proof_checker_free(c);
	return r;
}
