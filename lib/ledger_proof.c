/*
 * Writing proofs and bundles from the ledger: chain segments between
 * signed checkpoints, the publishers' batch material, and an end line whose
 * digest covers every byte before it (signed for bundles). The checker in
 * ledger_check.c reads exactly this form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"

/* --- the line writer -------------------------------------------------------- */

int proof_writer_init(struct proof_writer *pw, tids_ledger_write_fn *w, void *ctx)
{
	memset(pw, 0, sizeof(*pw));
	pw->w = w;
	pw->ctx = ctx;
	tids_jw_init(&pw->jw);
	pw->hash = malloc(sizeof(*pw->hash));
	if (pw->hash == NULL)
		return TIDS_ENOMEM;
	crypto_generichash_init(pw->hash, NULL, 0, TIDS_HASH_BYTES);
	return 0;
}

int proof_writer_emit(struct proof_writer *pw)
{
	int r;

	if (pw->err != 0)
		return pw->err;
	if (pw->jw.err != 0 || pw->jw.buf == NULL)
		return pw->err = pw->jw.err != 0 ? pw->jw.err : TIDS_EINVAL;
	/* Each line is one top-level value of its own, then exactly one '\n'. */
	crypto_generichash_update(pw->hash, (const uint8_t *)pw->jw.buf, pw->jw.len);
	crypto_generichash_update(pw->hash, (const uint8_t *)"\n", 1);
	if ((r = pw->w(pw->ctx, pw->jw.buf, pw->jw.len)) != 0 || (r = pw->w(pw->ctx, "\n", 1)) != 0)
		return pw->err = r;
	pw->lines++;
	tids_jw_reset(&pw->jw);
	return 0;
}

int proof_writer_end(struct proof_writer *pw, const struct tids_identity *signer)
{
	return proof_writer_end_domain(pw, signer, TIDS_DOMAIN_BUNDLE);
}

int proof_writer_end_domain(struct proof_writer *pw, const struct tids_identity *signer, const char *domain)
{
	uint8_t digest[TIDS_HASH_BYTES], sig[TIDS_SIGNATURE_BYTES];

	if (pw->err != 0)
		return pw->err;
	crypto_generichash_final(pw->hash, digest, TIDS_HASH_BYTES);
	tids_jw_object_begin(&pw->jw);
	tids_jw_key(&pw->jw, "end");
	tids_jw_uint64(&pw->jw, pw->lines);
	tids_jw_key(&pw->jw, "digest");
	tids_jw_hex(&pw->jw, digest, sizeof(digest));
	if (signer != NULL) {
		if (tids_sign_detached(signer->sign_sk, domain, digest, sizeof(digest), sig) != 0)
			return pw->err = TIDS_ENOMEM;
		tids_jw_key(&pw->jw, "signer");
		tids_jw_base64(&pw->jw, signer->sign_pk, TIDS_PUBLIC_KEY_BYTES);
		tids_jw_key(&pw->jw, "signature");
		tids_jw_base64(&pw->jw, sig, sizeof(sig));
	}
	tids_jw_object_end(&pw->jw);
	/* The end line is outside the digest; emit re-hashes, harmlessly. */
	crypto_generichash_init(pw->hash, NULL, 0, TIDS_HASH_BYTES);
	return proof_writer_emit(pw);
}

void proof_writer_free(struct proof_writer *pw)
{
	tids_jw_free(&pw->jw);
	free(pw->hash);
	pw->hash = NULL;
}

void proof_line_segment(struct tids_jw *jw, int32_t partition, uint64_t first_seq)
{
	tids_jw_object_begin(jw);
	tids_jw_key(jw, "segment");
	tids_jw_int64(jw, partition);
	tids_jw_key(jw, "first_seq");
	tids_jw_uint64(jw, first_seq);
	tids_jw_object_end(jw);
}

void proof_line_blob(struct tids_jw *jw, const char *key, const uint8_t *data, size_t len)
{
	tids_jw_object_begin(jw);
	tids_jw_key(jw, key);
	tids_jw_base64(jw, data, len);
	tids_jw_object_end(jw);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A proof or bundle reads many statements: one snapshot for all of them,
 * so that the indexer committing meanwhile cannot tear it. */
static void snapshot_begin(struct tids_ledger *l)
{
	if (sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL);
}

static void snapshot_end(struct tids_ledger *l)
{
	if (!l->in_tx && !sqlite3_get_autocommit(l->db))
		sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
}

/* --- segments ------------------------------------------------------------------ */

static int checkpoint_line(struct tids_ledger *l, struct proof_writer *pw, int32_t p, uint64_t seq, char *err,
			   size_t errlen)
{
	sqlite3_stmt *st;
	int r = 0;

	if (sqlite3_prepare_v2(l->db, "SELECT bytes FROM checkpoint WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_bind_int64(st, 1, ledger_id(p, seq));
	if (sqlite3_step(st) == SQLITE_ROW) {
		proof_line_blob(&pw->jw, "checkpoint", sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		r = proof_writer_emit(pw);
	} else {
		r = tids_fail(err, errlen, TIDS_ENOENT, "the ledger lacks checkpoint %d:%llu", p, (unsigned long long)seq);
	}
	sqlite3_finalize(st);
	return r;
}

int proof_write_segment(struct tids_ledger *l, struct proof_writer *pw, int32_t partition, uint64_t from_seq,
			uint64_t to_seq, proof_ingress_fn *fn, void *fctx, char *err, size_t errlen)
{
	sqlite3_stmt *es = NULL, *cs = NULL;
	uint64_t expect = from_seq;
	bool cp_row;
	int rc, r;

	proof_line_segment(&pw->jw, partition, from_seq);
	if ((r = proof_writer_emit(pw)) != 0)
		return tids_fail(err, errlen, r, "cannot write the proof");
	if (from_seq > 1 && (r = checkpoint_line(l, pw, partition, from_seq - 1, err, errlen)) != 0)
		return r;
	if (sqlite3_prepare_v2(l->db, "SELECT id, bytes FROM entry WHERE id BETWEEN ?1 AND ?2 ORDER BY id", -1, &es,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->db, "SELECT id, bytes FROM checkpoint WHERE id BETWEEN ?1 AND ?2 ORDER BY id", -1,
			       &cs, NULL) != SQLITE_OK) {
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
		goto out;
	}
	sqlite3_bind_int64(es, 1, ledger_id(partition, from_seq));
	sqlite3_bind_int64(es, 2, ledger_id(partition, to_seq));
	sqlite3_bind_int64(cs, 1, ledger_id(partition, from_seq));
	sqlite3_bind_int64(cs, 2, ledger_id(partition, to_seq));
	cp_row = sqlite3_step(cs) == SQLITE_ROW;
	while ((rc = sqlite3_step(es)) == SQLITE_ROW) {
		uint64_t seq = ledger_id_seq(sqlite3_column_int64(es, 0));
		const uint8_t *bytes = sqlite3_column_blob(es, 1);
		size_t len = (size_t)sqlite3_column_bytes(es, 1);
		struct tids_audit_entry e;

		if (seq != expect) {
			r = tids_fail(err, errlen, TIDS_ENOENT, "the ledger lacks entry %d:%llu (run tidsctl audit verify)",
				      partition, (unsigned long long)expect);
			goto out;
		}
		if (fn != NULL && tids_wire_decode_audit_entry(bytes, len, &e, NULL, 0) == 0) {
			r = fn(fctx, &e);
			tids_audit_entry_free(&e);
			if (r != 0)
				goto out;
		}
		proof_line_blob(&pw->jw, "entry", bytes, len);
		if ((r = proof_writer_emit(pw)) != 0)
			goto out;
		while (cp_row && ledger_id_seq(sqlite3_column_int64(cs, 0)) <= seq) {
			if (ledger_id_seq(sqlite3_column_int64(cs, 0)) == seq) {
				proof_line_blob(&pw->jw, "checkpoint", sqlite3_column_blob(cs, 1),
						(size_t)sqlite3_column_bytes(cs, 1));
				if ((r = proof_writer_emit(pw)) != 0)
					goto out;
			}
			cp_row = sqlite3_step(cs) == SQLITE_ROW;
		}
		expect++;
	}
	if (rc != SQLITE_DONE)
		r = tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	else if (expect != to_seq + 1)
		r = tids_fail(err, errlen, TIDS_ENOENT, "the ledger lacks entry %d:%llu (run tidsctl audit verify)",
			      partition, (unsigned long long)expect);
out:
	if (r != 0 && err != NULL && errlen > 0 && *err == '\0')
		tids_fail(err, errlen, r, "cannot write the proof");
	sqlite3_finalize(es);
	sqlite3_finalize(cs);
	return r;
}

/* --- ingress lines ---------------------------------------------------------------- */

static void jw_key_hex(struct tids_jw *jw, const char *key, const void *data, size_t len)
{
	tids_jw_key(jw, key);
	tids_jw_hex(jw, data, len);
}

int proof_write_ingress(struct tids_ledger *l, struct proof_writer *pw, int32_t partition, int64_t offset,
			const struct tids_bytes *record, bool *found, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	uint8_t leaf[TIDS_HASH_BYTES];
	const uint8_t *rec = NULL, *path;
	size_t rec_len = 0, path_len;
	int r = 0;

	*found = false;
	if (sqlite3_prepare_v2(l->db, "SELECT record_id, publisher, sequence, batch_root, batch_signature, leaf_index,"
			       " leaf_count, path, leaf_hash, record FROM ingress WHERE part = ?1 AND off = ?2", -1,
			       &st, NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_bind_int(st, 1, partition);
	sqlite3_bind_int64(st, 2, offset);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_bytes(st, 0) != TIDS_RECORD_ID_BYTES || sqlite3_column_bytes(st, 3) != TIDS_HASH_BYTES ||
	    sqlite3_column_bytes(st, 4) != TIDS_SIGNATURE_BYTES || sqlite3_column_bytes(st, 7) % TIDS_HASH_BYTES != 0 ||
	    sqlite3_column_bytes(st, 7) / TIDS_HASH_BYTES > TIDS_MERKLE_PATH_MAX) {
		r = tids_fail(err, errlen, TIDS_EDECODE, "ingress %d/%lld: malformed row in the ledger", partition,
			      (long long)offset);
		goto out;
	}
	*found = true;
	if (sqlite3_column_type(st, 9) == SQLITE_BLOB) {
		rec = sqlite3_column_blob(st, 9);
		rec_len = (size_t)sqlite3_column_bytes(st, 9);
	} else if (record != NULL && record->len > 0) {
		rec = record->data;
		rec_len = record->len;
	}
	if (rec != NULL) {
		tids_merkle_leaf_hash(rec, rec_len, leaf);
		if (sqlite3_column_bytes(st, 8) == TIDS_HASH_BYTES &&
		    memcmp(sqlite3_column_blob(st, 8), leaf, TIDS_HASH_BYTES) != 0) {
			r = tids_fail(err, errlen, TIDS_EBADSIG, "ingress %d/%lld: the record bytes do not hash to the "
				      "published leaf", partition, (long long)offset);
			goto out;
		}
	} else if (sqlite3_column_bytes(st, 8) == TIDS_HASH_BYTES) {
		memcpy(leaf, sqlite3_column_blob(st, 8), TIDS_HASH_BYTES);
	} else {
		r = tids_fail(err, errlen, TIDS_ENOENT, "ingress %d/%lld: the ledger has neither the record (it was "
			      "sealed) nor its leaf hash; supply the record with --record", partition, (long long)offset);
		goto out;
	}
	tids_jw_object_begin(&pw->jw);
	tids_jw_key(&pw->jw, "ingress");
	tids_jw_int64(&pw->jw, partition);
	tids_jw_key(&pw->jw, "offset");
	tids_jw_int64(&pw->jw, offset);
	jw_key_hex(&pw->jw, "record_id", sqlite3_column_blob(st, 0), TIDS_RECORD_ID_BYTES);
	tids_jw_key(&pw->jw, "publisher");
	tids_jw_string(&pw->jw, (const char *)sqlite3_column_text(st, 1));
	tids_jw_key(&pw->jw, "sequence");
	tids_jw_uint64(&pw->jw, (uint64_t)sqlite3_column_int64(st, 2));
	jw_key_hex(&pw->jw, "batch_root", sqlite3_column_blob(st, 3), TIDS_HASH_BYTES);
	tids_jw_key(&pw->jw, "batch_signature");
	tids_jw_base64(&pw->jw, sqlite3_column_blob(st, 4), TIDS_SIGNATURE_BYTES);
	tids_jw_key(&pw->jw, "leaf_index");
	tids_jw_int64(&pw->jw, sqlite3_column_int64(st, 5));
	tids_jw_key(&pw->jw, "leaf_count");
	tids_jw_int64(&pw->jw, sqlite3_column_int64(st, 6));
	tids_jw_key(&pw->jw, "path");
	tids_jw_array_begin(&pw->jw);
	path = sqlite3_column_blob(st, 7);
	path_len = (size_t)sqlite3_column_bytes(st, 7) / TIDS_HASH_BYTES;
	for (size_t i = 0; i < path_len; i++)
		tids_jw_hex(&pw->jw, path + i * TIDS_HASH_BYTES, TIDS_HASH_BYTES);
	tids_jw_array_end(&pw->jw);
	jw_key_hex(&pw->jw, "leaf_hash", leaf, TIDS_HASH_BYTES);
	if (rec != NULL) {
		tids_jw_key(&pw->jw, "record");
		tids_jw_base64(&pw->jw, rec, rec_len);
	}
	tids_jw_object_end(&pw->jw);
	r = proof_writer_emit(pw);
out:
	sqlite3_finalize(st);
	return r;
}

/* --- what to include ------------------------------------------------------------------ */

struct ingress_keys {
	struct ingress_key {
		int32_t partition;
		int64_t offset;
	} *k;
	size_t n, cap;
	const uint8_t *record_id;            /* a proof: only this record's */
};

static int keep_ingress(void *ctx, const struct tids_audit_entry *e)
{
	struct ingress_keys *ks = ctx;
	int32_t partition = e->partition;
	int64_t offset = e->ingress_offset;

	if (offset < 0 || (ks->record_id != NULL && memcmp(e->record_id, ks->record_id, TIDS_RECORD_ID_BYTES) != 0))
		return 0;

	if (ks->n > 0 && ks->k[ks->n - 1].partition == partition && ks->k[ks->n - 1].offset == offset)
		return 0;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 64;
		void *n = realloc(ks->k, cap * sizeof(*ks->k));

		if (n == NULL)
			return TIDS_ENOMEM;
		ks->k = n;
		ks->cap = cap;
	}
	ks->k[ks->n].partition = partition;
	ks->k[ks->n++].offset = offset;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct ingress_key *x = a, *y = b;

	if (x->partition != y->partition)
		return (x->partition > y->partition) - (x->partition < y->partition);
	return (x->offset > y->offset) - (x->offset < y->offset);
}

static int write_ingress_lines(struct tids_ledger *l, struct proof_writer *pw, struct ingress_keys *ks,
			       const struct tids_bytes *record, bool required, char *err, size_t errlen)
{
	bool found;
	int r;

	if (ks->n > 1)
		qsort(ks->k, ks->n, sizeof(*ks->k), cmp_key);
	for (size_t i = 0; i < ks->n; i++) {
		if (i > 0 && cmp_key(&ks->k[i], &ks->k[i - 1]) == 0)
			continue;
		if ((r = proof_write_ingress(l, pw, ks->k[i].partition, ks->k[i].offset, record, &found, err, errlen)) != 0)
			return r;
		if (!found && required)
			return tids_fail(err, errlen, TIDS_ENOENT, "the ledger has no publication material for ingress "
					 "%d/%lld (the indexer never saw it)", ks->k[i].partition,
					 (long long)ks->k[i].offset);
	}
	return 0;
}

/* Seq of the checkpoint nearest seq in a chain: the last one < seq (after
 * = false) or the first one >= seq (after = true); 0 when there is none. */
static int nearest_checkpoint(struct tids_ledger *l, int32_t p, uint64_t seq, bool after, uint64_t *out)
{
	sqlite3_stmt *st;
	const char *q = after ? "SELECT id FROM checkpoint WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 1"
			      : "SELECT id FROM checkpoint WHERE id >= ?2 AND id < ?1 ORDER BY id DESC LIMIT 1";
	int rc;

	*out = 0;
	if (sqlite3_prepare_v2(l->db, q, -1, &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, seq));
	sqlite3_bind_int64(st, 2, after ? ledger_id(p + 1, 0) : ledger_id(p, 0));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = ledger_id_seq(sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

static void header_line(struct tids_jw *jw, const char *kind, const char *hub_id)
{
	tids_jw_object_begin(jw);
	tids_jw_key(jw, "tids_audit");
	tids_jw_string(jw, kind);
	tids_jw_key(jw, "version");
	tids_jw_int64(jw, PROOF_VERSION);
	tids_jw_key(jw, "hub_id");
	tids_jw_string(jw, hub_id);
}

/* The record's entries, grouped by chain. */
struct proof_runs {
	struct {
		int32_t p;
		uint64_t lo, hi;
	} run[64];
	size_t n;
};

static int add_to_run(struct proof_runs *pr, int64_t id)
{
	int32_t p = ledger_id_partition(id);

	if (pr->n > 0 && pr->run[pr->n - 1].p == p) {
		pr->run[pr->n - 1].hi = ledger_id_seq(id);
		return 0;
	}
	/* A record id reused on more than 64 chains: no sane proof. */
	if (pr->n == sizeof(pr->run) / sizeof(pr->run[0]))
		return TIDS_ETOOMANY;
	pr->run[pr->n].p = p;
	pr->run[pr->n].lo = pr->run[pr->n].hi = ledger_id_seq(id);
	pr->n++;
	return 0;
}

static int record_runs(struct tids_ledger *l, const uint8_t record_id[TIDS_RECORD_ID_BYTES], struct proof_runs *pr)
{
	int64_t *ids;
	size_t n;
	int r = ledger_record_entries(l, record_id, &ids, &n);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = add_to_run(pr, ids[i]);
	free(ids);
	return r;
}

int tids_ledger_proof(struct tids_ledger *l, const uint8_t record_id[TIDS_RECORD_ID_BYTES],
		      const struct tids_identity *signer, const struct tids_bytes *record,
		      tids_ledger_write_fn *w, void *ctx, char *err, size_t errlen)
{
	struct proof_writer pw;
	struct ingress_keys ks = { 0 };
	struct proof_runs pr = { .n = 0 };
	char hub_id[TIDS_ID_MAX + 1] = "";
	int r;

	if (err != NULL && errlen > 0)
		*err = '\0';
	ks.record_id = record_id;
	if ((r = proof_writer_init(&pw, w, ctx)) != 0)
		return tids_fail(err, errlen, r, "out of memory");
	snapshot_begin(l);
	if ((r = record_runs(l, record_id, &pr)) != 0) {
		if (r == TIDS_ETOOMANY)
			tids_fail(err, errlen, r, "the record's entries are spread over more than %zu chains",
				  sizeof(pr.run) / sizeof(pr.run[0]));
		else if (r == TIDS_ENOMEM)
			tids_fail(err, errlen, r, "out of memory");
		else
			tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
		goto out;
	}
	if (pr.n > 0) {
		sqlite3_stmt *st = l->st[LS_ENTRY_BYTES];
		struct tids_audit_entry e;

		sqlite3_bind_int64(st, 1, ledger_id(pr.run[0].p, pr.run[0].lo));
		if (sqlite3_step(st) == SQLITE_ROW &&
		    tids_wire_decode_audit_entry(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &e, NULL,
						 0) == 0) {
			snprintf(hub_id, sizeof(hub_id), "%s", e.hub_id);
			tids_audit_entry_free(&e);
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	if (pr.n == 0) {
		r = tids_fail(err, errlen, TIDS_ENOENT, "no audit entry names this record");
		goto out;
	}
	header_line(&pw.jw, "proof", hub_id);
	tids_jw_key(&pw.jw, "record_id");
	tids_jw_hex(&pw.jw, record_id, TIDS_RECORD_ID_BYTES);
	tids_jw_key(&pw.jw, "created_ms");
	tids_jw_int64(&pw.jw, wall_ms());
	tids_jw_object_end(&pw.jw);
	if ((r = proof_writer_emit(&pw)) != 0)
		goto out;
	for (size_t i = 0; i < pr.n; i++) {
		uint64_t before, after;

		if ((r = nearest_checkpoint(l, pr.run[i].p, pr.run[i].lo, false, &before)) != 0 ||
		    (r = nearest_checkpoint(l, pr.run[i].p, pr.run[i].hi, true, &after)) != 0) {
			tids_fail(err, errlen, r, "%s: %s", l->path, sqlite3_errmsg(l->db));
			goto out;
		}
		if (after == 0) {
			r = tids_fail(err, errlen, TIDS_EAGAIN, "entry %d:%llu of the record is not signed by a checkpoint "
				      "yet; try again after the next one (audit.checkpoint_interval)", pr.run[i].p,
				      (unsigned long long)pr.run[i].hi);
			goto out;
		}
		if ((r = proof_write_segment(l, &pw, pr.run[i].p, before + 1, after, keep_ingress, &ks, err, errlen)) != 0)
			goto out;
	}
	if ((r = write_ingress_lines(l, &pw, &ks, record, true, err, errlen)) != 0 ||
	    (r = proof_writer_end(&pw, signer)) != 0)
		goto out;
out:
	if (r != 0 && err != NULL && *err == '\0')
		tids_fail(err, errlen, r, "cannot write the proof: %s", tids_strerror(r));
	snapshot_end(l);
	free(ks.k);
	proof_writer_free(&pw);
	return r;
}

/* The segment of one chain that an export covers: from just after the last
 * checkpoint signed before since, to the first signed at or after until (or
 * the last one); entries in the range that no checkpoint signs yet are
 * counted in *unanchored and left out. */
static int export_range(struct tids_ledger *l, int32_t p, int64_t since_ms, int64_t until_ms, uint64_t *from,
			uint64_t *to, uint64_t *unanchored)
{
	sqlite3_stmt *st;
	uint64_t first = 0, last = 0;

	*from = *to = 0;
	if (sqlite3_prepare_v2(l->db, "SELECT min(id), max(id) FROM entry WHERE id >= ?1 AND id < ?2", -1, &st, NULL) !=
	    SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, 0));
	sqlite3_bind_int64(st, 2, ledger_id(p + 1, 0));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		first = ledger_id_seq(sqlite3_column_int64(st, 0));
		last = ledger_id_seq(sqlite3_column_int64(st, 1));
	}
	sqlite3_finalize(st);
	if (first == 0)
		return 0;
	*from = first;
	if (since_ms != 0) {
		if (sqlite3_prepare_v2(l->db, "SELECT max(id) FROM checkpoint WHERE id >= ?1 AND id < ?2 AND signed_at < ?3",
				       -1, &st, NULL) != SQLITE_OK)
			return TIDS_EDB;
		sqlite3_bind_int64(st, 1, ledger_id(p, first));
		sqlite3_bind_int64(st, 2, ledger_id(p, last + 1));
		sqlite3_bind_int64(st, 3, since_ms);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
			*from = ledger_id_seq(sqlite3_column_int64(st, 0)) + 1;
		sqlite3_finalize(st);
	}
	if (until_ms != 0) {
		if (sqlite3_prepare_v2(l->db, "SELECT min(id) FROM checkpoint WHERE id >= ?1 AND id < ?2 AND signed_at >= ?3",
				       -1, &st, NULL) != SQLITE_OK)
			return TIDS_EDB;
		sqlite3_bind_int64(st, 1, ledger_id(p, *from));
		sqlite3_bind_int64(st, 2, ledger_id(p, last + 1));
		sqlite3_bind_int64(st, 3, until_ms);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
			*to = ledger_id_seq(sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}
	if (*to == 0 && nearest_checkpoint(l, p, last + 1, false, to) != 0)
		return TIDS_EDB;
	if (*to == last)
		return 0;
	/* Entries after the last signature that fall in the range. */
	if (sqlite3_prepare_v2(l->db, "SELECT count(*) FROM entry WHERE id > ?1 AND id < ?2 AND decided_at < ?3", -1,
			       &st, NULL) != SQLITE_OK)
		return TIDS_EDB;
	sqlite3_bind_int64(st, 1, ledger_id(p, *to >= *from ? *to : *from - 1));
	sqlite3_bind_int64(st, 2, ledger_id(p + 1, 0));
	sqlite3_bind_int64(st, 3, until_ms != 0 ? until_ms : INT64_MAX);
	if (sqlite3_step(st) == SQLITE_ROW)
		*unanchored += (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (*to < *from)
		*to = 0;
	return 0;
}

int tids_ledger_export(struct tids_ledger *l, int64_t since_ms, int64_t until_ms,
		       const struct tids_identity *signer, tids_ledger_write_fn *w, void *ctx,
		       uint64_t *unanchored, char *err, size_t errlen)
{
	struct proof_writer pw;
	struct ingress_keys ks = { 0 };
	struct tids_ledger_verify_report parts = { 0 };
	struct tids_ledger_verify_opts none = { 0 };
	char hub_id[TIDS_ID_MAX + 1] = "";
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];
	int r;

	*unanchored = 0;
	if (err != NULL && errlen > 0)
		*err = '\0';
	if (signer == NULL)
		return tids_fail(err, errlen, TIDS_EINVAL, "an export must be signed");
	if (tids_ledger_hub(l, hub_id, pk) != 0)
		hub_id[0] = '\0';
	snapshot_begin(l);
	if ((r = ledger_list_chains(l->db, &none, &parts)) != 0) {
		snapshot_end(l);
		return tids_fail(err, errlen, r, "%s: cannot list the chains", l->path);
	}
	if ((r = proof_writer_init(&pw, w, ctx)) != 0)
		goto out;
	header_line(&pw.jw, "bundle", hub_id);
	tids_jw_key(&pw.jw, "since_ms");
	tids_jw_int64(&pw.jw, since_ms);
	tids_jw_key(&pw.jw, "until_ms");
	tids_jw_int64(&pw.jw, until_ms);
	tids_jw_key(&pw.jw, "created_ms");
	tids_jw_int64(&pw.jw, wall_ms());
	tids_jw_object_end(&pw.jw);
	if ((r = proof_writer_emit(&pw)) != 0)
		goto out;
	for (size_t i = 0; i < parts.n_chains; i++) {
		int32_t p = parts.chains[i].partition;
		uint64_t from, to;

		if ((r = export_range(l, p, since_ms, until_ms, &from, &to, unanchored)) != 0) {
			tids_fail(err, errlen, r, "%s: %s", l->path, sqlite3_errmsg(l->db));
			goto out;
		}
		if (to == 0)
			continue;
		if ((r = proof_write_segment(l, &pw, p, from, to, keep_ingress, &ks, err, errlen)) != 0)
			goto out;
	}
	if ((r = write_ingress_lines(l, &pw, &ks, NULL, false, err, errlen)) != 0 ||
	    (r = proof_writer_end(&pw, signer)) != 0)
		goto out;
out:
	if (r != 0 && err != NULL && *err == '\0')
		tids_fail(err, errlen, r, "cannot write the bundle: %s", tids_strerror(r));
	snapshot_end(l);
	free(ks.k);
	tids_ledger_verify_report_free(&parts);
	proof_writer_free(&pw);
	return r;
}
