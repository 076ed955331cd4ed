/*
 * A lessor's usage statement (pay per use, pay per output) proven from the
 * ledger: every line names the audit entry it rests on and the hash of its
 * bytes; a use line carries the value of the record the lessee published
 * (with that record's leaf hash), an output line what the aggregate the
 * lessor received said. The hub signs the whole (JSON lines, like proofs,
 * under a domain of its own). The checker recomputes everything against a
 * ledger that verifies: each line is true, signed checkpoints cover it,
 * and the ledger holds no line the statement left out.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_internal.h"
#include "tids/crypto.h"
#include "tids/json.h"

/* Records may be decided a while after they are produced, and windows are
 * emitted after they close: entries are looked for this long around the
 * period, and judged by the time of their record or window. */
#define STATEMENT_SLACK_MS (7 * TIDS_LEDGER_DAY_MS)

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *use_field(const struct tids_statement_request *rq, const char *category)
{
	for (size_t i = 0; i < rq->n_uses; i++)
		if (strcmp(rq->uses[i].category, category) == 0)
			return rq->uses[i].field;
	return NULL;
}

static bool is_output(const struct tids_statement_request *rq, const char *category)
{
	for (size_t i = 0; i < rq->n_outputs; i++)
		if (strcmp(rq->outputs[i], category) == 0)
			return true;
	return false;
}

static bool number_of(const struct tids_value *v, double *out)
{
	switch (v->kind) {
	case TIDS_VALUE_INT: *out = (double)v->as.i; return true;
	case TIDS_VALUE_UINT: *out = (double)v->as.u; return true;
	case TIDS_VALUE_REAL: *out = v->as.d; return isfinite(v->as.d);
	default: return false;
	}
}

/* The published record of an entry, from the ledger's ingress material:
 * its value of `field`, time and leaf hash. The leaf must lead to the
 * batch root the publisher signed. */
struct use_value {
	double value;
	int64_t at_ms;
	uint8_t leaf[TIDS_HASH_BYTES];
	uint8_t record_id[TIDS_RECORD_ID_BYTES];
	char publisher[TIDS_ID_MAX + 1];
	uint64_t sequence;
	uint8_t root[TIDS_HASH_BYTES], signature[TIDS_SIGNATURE_BYTES];
};

static int read_use(struct tids_ledger *l, int32_t partition, int64_t offset, const char *field, struct use_value *u,
		    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	struct tids_record rec;
	bool found = false;
	int r;

	if (sqlite3_prepare_v2(l->db, "SELECT record, record_id, publisher, sequence, batch_root, batch_signature,"
			       " leaf_index, leaf_count, path FROM ingress WHERE part = ?1 AND off = ?2", -1, &st,
			       NULL) != SQLITE_OK)
		return tids_fail(err, errlen, TIDS_EDB, "%s: %s", l->path, sqlite3_errmsg(l->db));
	sqlite3_bind_int(st, 1, partition);
	sqlite3_bind_int64(st, 2, offset);
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = tids_fail(err, errlen, TIDS_ENOENT, "ingress %d/%lld: not in the ledger", partition, (long long)offset);
		goto out;
	}
	if (sqlite3_column_type(st, 0) != SQLITE_BLOB) {
		r = tids_fail(err, errlen, TIDS_ENOENT, "ingress %d/%lld: the record was sealed at ingest; the ledger "
			      "keeps no plaintext of it", partition, (long long)offset);
		goto out;
	}
	if (sqlite3_column_bytes(st, 1) != TIDS_RECORD_ID_BYTES || sqlite3_column_bytes(st, 4) != TIDS_HASH_BYTES ||
	    sqlite3_column_bytes(st, 5) != TIDS_SIGNATURE_BYTES || sqlite3_column_bytes(st, 8) % TIDS_HASH_BYTES != 0 ||
	    sqlite3_column_bytes(st, 8) / TIDS_HASH_BYTES > TIDS_MERKLE_PATH_MAX) {
		r = tids_fail(err, errlen, TIDS_EBADSIG, "ingress %d/%lld: malformed row in the ledger", partition,
			      (long long)offset);
		goto out;
	}
	tids_merkle_leaf_hash(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), u->leaf);
	memcpy(u->root, sqlite3_column_blob(st, 4), TIDS_HASH_BYTES);
	if (tids_merkle_verify_path(u->leaf, (size_t)sqlite3_column_int64(st, 6), (size_t)sqlite3_column_int64(st, 7),
				    (const uint8_t (*)[TIDS_HASH_BYTES])sqlite3_column_blob(st, 8),
				    (size_t)sqlite3_column_bytes(st, 8) / TIDS_HASH_BYTES, u->root) != 0) {
		r = tids_fail(err, errlen, TIDS_EBADSIG, "ingress %d/%lld: the record does not lead to the batch root its "
			      "publisher signed", partition, (long long)offset);
		goto out;
	}
	memcpy(u->record_id, sqlite3_column_blob(st, 1), TIDS_RECORD_ID_BYTES);
	memcpy(u->signature, sqlite3_column_blob(st, 5), TIDS_SIGNATURE_BYTES);
	snprintf(u->publisher, sizeof(u->publisher), "%s", (const char *)sqlite3_column_text(st, 2));
	u->sequence = (uint64_t)sqlite3_column_int64(st, 3);
	if ((r = tids_wire_decode_record(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &rec, err,
					 errlen)) != 0)
		goto out;
	u->at_ms = rec.produced_at_ms;
	for (size_t i = 0; i < rec.n_fields && !found; i++)
		if (strcmp(rec.fields[i].name, field) == 0)
			found = number_of(&rec.fields[i].value, &u->value);
	tids_record_free(&rec);
	r = found ? 0 : tids_fail(err, errlen, TIDS_EMISSING, "ingress %d/%lld: the record has no numeric field %s",
				  partition, (long long)offset, field);
out:
	sqlite3_finalize(st);
	return r;
}

/* --- the lines of a statement, as the ledger has them ------------------------------ */

struct statement_line {
	bool output;
	int32_t partition;
	uint64_t seq;
	uint8_t entry_hash[TIDS_HASH_BYTES];
	char category[TIDS_NAME_MAX + 1], field[TIDS_NAME_MAX + 1], function[TIDS_NAME_MAX + 1];
	double value;
	int64_t at_ms;                   /* use: the record's time; output: the window's start */
	int64_t window_ms;
	uint64_t records;
	struct use_value use;
};

struct collect {
	struct tids_ledger *l;
	const struct tids_statement_request *rq;
	struct statement_line *lines;
	size_t n, cap;
	char *err;
	size_t errlen;
};

static int seen_record(const struct collect *c, const uint8_t id[TIDS_RECORD_ID_BYTES])
{
	for (size_t i = 0; i < c->n; i++)
		if (!c->lines[i].output && memcmp(c->lines[i].use.record_id, id, TIDS_RECORD_ID_BYTES) == 0)
			return 1;
	return 0;
}

static int entry_bytes_hash(struct tids_ledger *l, int32_t p, uint64_t seq, uint8_t hash[TIDS_HASH_BYTES])
{
	sqlite3_stmt *st = l->st[LS_ENTRY_BYTES];
	int r = TIDS_ENOENT;

	sqlite3_bind_int64(st, 1, ledger_id(p, seq));
	if (sqlite3_step(st) == SQLITE_ROW) {
		crypto_generichash(hash, TIDS_HASH_BYTES, sqlite3_column_blob(st, 0),
				   (unsigned long long)sqlite3_column_bytes(st, 0), NULL, 0);
		r = 0;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static int collect_entry(void *ctx, const struct tids_audit_entry *e)
{
	struct collect *c = ctx;
	struct statement_line ln;
	const char *field;
	int r;

	if (e->decision == TIDS_DECISION_DENY || strcmp(e->asset_id, c->rq->asset) != 0 ||
	    strcmp(e->purpose, c->rq->purpose) != 0)
		return 0;
	memset(&ln, 0, sizeof(ln));
	ln.partition = e->partition;
	ln.seq = e->seq;
	snprintf(ln.category, sizeof(ln.category), "%s", e->category);
	if (e->has_aggregate && is_output(c->rq, e->category)) {
		if (e->aggregate.window_start_ms < c->rq->since_ms || e->aggregate.window_start_ms >= c->rq->until_ms)
			return 0;
		ln.output = true;
		snprintf(ln.field, sizeof(ln.field), "%s", e->aggregate.field);
		snprintf(ln.function, sizeof(ln.function), "%s", e->aggregate.function);
		ln.value = e->aggregate.value;
		ln.at_ms = e->aggregate.window_start_ms;
		ln.window_ms = e->aggregate.window_ms;
		ln.records = e->aggregate.count;
	} else if (!e->has_aggregate && e->ingress_offset >= 0 && (field = use_field(c->rq, e->category)) != NULL &&
		   (e->obligations.aggregate.function == NULL || *e->obligations.aggregate.function == '\0')) {
		if ((r = read_use(c->l, e->partition, e->ingress_offset, field, &ln.use, c->err, c->errlen)) != 0)
			return r;
		/* One line per record, whatever the purposes it was received for. */
		if (ln.use.at_ms < c->rq->since_ms || ln.use.at_ms >= c->rq->until_ms || seen_record(c, ln.use.record_id))
			return 0;
		snprintf(ln.field, sizeof(ln.field), "%s", field);
		ln.value = ln.use.value;
		ln.at_ms = ln.use.at_ms;
	} else {
		return 0;
	}
	if ((r = entry_bytes_hash(c->l, e->partition, e->seq, ln.entry_hash)) != 0)
		return tids_fail(c->err, c->errlen, r, "entry %d:%llu: gone from the ledger", e->partition,
				 (unsigned long long)e->seq);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct statement_line *p = realloc(c->lines, cap * sizeof(*p));

		if (p == NULL)
			return tids_fail(c->err, c->errlen, TIDS_ENOMEM, "out of memory");
		c->lines = p;
		c->cap = cap;
	}
	c->lines[c->n++] = ln;
	return 0;
}

/* Every line the ledger holds for the request, in decision order. */
static int collect(struct tids_ledger *l, const struct tids_statement_request *rq, struct collect *c, char *err,
		   size_t errlen)
{
	struct tids_ledger_filter f = { .recipient = rq->lessor, .since_ms = rq->since_ms - STATEMENT_SLACK_MS,
					.until_ms = rq->until_ms + STATEMENT_SLACK_MS };

	memset(c, 0, sizeof(*c));
	c->l = l;
	c->rq = rq;
	c->err = err;
	c->errlen = errlen;
	return tids_ledger_query(l, &f, collect_entry, c, err, errlen);
}

/* Per category: lines and sum. */
static void totals_of(const struct statement_line *lines, size_t n, struct tids_statement_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		struct tids_statement_total *x = NULL;

		for (size_t k = 0; k < t->n; k++)
			if (t->by[k].output == lines[i].output && strcmp(t->by[k].category, lines[i].category) == 0)
				x = &t->by[k];
		if (x == NULL) {
			if (t->n == TIDS_STATEMENT_CATEGORIES_MAX)
				continue;
			x = &t->by[t->n++];
			x->output = lines[i].output;
			snprintf(x->category, sizeof(x->category), "%s", lines[i].category);
			snprintf(x->field, sizeof(x->field), "%s", lines[i].field);
		}
		x->lines++;
		x->records += lines[i].output ? lines[i].records : 1;
		x->sum += lines[i].value;
	}
}

/* --- writing ----------------------------------------------------------------------- */

static void jw_hex(struct tids_jw *w, const char *key, const uint8_t *b, size_t n)
{
	tids_jw_key(w, key);
	tids_jw_hex(w, b, n);
}

static void line_json(struct tids_jw *w, const struct statement_line *ln)
{
	char entry[48];

	snprintf(entry, sizeof(entry), "%d:%llu", ln->partition, (unsigned long long)ln->seq);
	tids_jw_object_begin(w);
	tids_jw_key(w, ln->output ? "output" : "use");
	tids_jw_object_begin(w);
	tids_jw_key(w, "entry");
	tids_jw_string(w, entry);
	jw_hex(w, "entry_hash", ln->entry_hash, TIDS_HASH_BYTES);
	tids_jw_key(w, "category");
	tids_jw_string(w, ln->category);
	tids_jw_key(w, "field");
	tids_jw_string(w, ln->field);
	tids_jw_key(w, "value");
	tids_jw_double(w, ln->value);
	if (ln->output) {
		tids_jw_key(w, "function");
		tids_jw_string(w, ln->function);
		tids_jw_key(w, "window_start_ms");
		tids_jw_int64(w, ln->at_ms);
		tids_jw_key(w, "window_ms");
		tids_jw_int64(w, ln->window_ms);
		tids_jw_key(w, "records");
		tids_jw_uint64(w, ln->records);
	} else {
		tids_jw_key(w, "produced_at_ms");
		tids_jw_int64(w, ln->at_ms);
		jw_hex(w, "record_id", ln->use.record_id, TIDS_RECORD_ID_BYTES);
		jw_hex(w, "leaf_hash", ln->use.leaf, TIDS_HASH_BYTES);
		tids_jw_key(w, "publisher");
		tids_jw_string(w, ln->use.publisher);
		tids_jw_key(w, "sequence");
		tids_jw_uint64(w, ln->use.sequence);
	}
	tids_jw_object_end(w);
	tids_jw_object_end(w);
}

static void totals_json(struct tids_jw *w, const struct tids_statement_totals *t)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "totals");
	tids_jw_array_begin(w);
	for (size_t i = 0; i < t->n; i++) {
		tids_jw_object_begin(w);
		tids_jw_key(w, "kind");
		tids_jw_string(w, t->by[i].output ? "output" : "use");
		tids_jw_key(w, "category");
		tids_jw_string(w, t->by[i].category);
		tids_jw_key(w, "field");
		tids_jw_string(w, t->by[i].field);
		tids_jw_key(w, "lines");
		tids_jw_uint64(w, t->by[i].lines);
		tids_jw_key(w, "records");
		tids_jw_uint64(w, t->by[i].records);
		tids_jw_key(w, "sum");
		tids_jw_double(w, t->by[i].sum);
		tids_jw_object_end(w);
	}
	tids_jw_array_end(w);
	tids_jw_object_end(w);
}

static void header_json(struct tids_jw *w, const char *hub_id, const struct tids_statement_request *rq,
			int64_t created_ms)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "statement");
	tids_jw_uint64(w, 1);
	tids_jw_key(w, "hub_id");
	tids_jw_string(w, hub_id);
	tids_jw_key(w, "lessor");
	tids_jw_string(w, rq->lessor);
	tids_jw_key(w, "asset");
	tids_jw_string(w, rq->asset);
	tids_jw_key(w, "purpose");
	tids_jw_string(w, rq->purpose);
	tids_jw_key(w, "since_ms");
	tids_jw_int64(w, rq->since_ms);
	tids_jw_key(w, "until_ms");
	tids_jw_int64(w, rq->until_ms);
	tids_jw_key(w, "created_ms");
	tids_jw_int64(w, created_ms);
	tids_jw_key(w, "uses");
	tids_jw_array_begin(w);
	for (size_t i = 0; i < rq->n_uses; i++) {
		tids_jw_object_begin(w);
		tids_jw_key(w, "category");
		tids_jw_string(w, rq->uses[i].category);
		tids_jw_key(w, "field");
		tids_jw_string(w, rq->uses[i].field);
		tids_jw_object_end(w);
	}
	tids_jw_array_end(w);
	tids_jw_key(w, "outputs");
	tids_jw_array_begin(w);
	for (size_t i = 0; i < rq->n_outputs; i++)
		tids_jw_string(w, rq->outputs[i]);
	tids_jw_array_end(w);
	tids_jw_object_end(w);
}

int tids_ledger_statement(struct tids_ledger *l, const struct tids_statement_request *rq,
			  const struct tids_identity *signer, tids_ledger_write_fn *w, void *ctx,
			  struct tids_statement_totals *totals, char *err, size_t errlen)
{
	struct proof_writer pw;
	struct collect c;
	char hub_id[TIDS_ID_MAX + 1];
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];
	int r;

	if (tids_ledger_hub(l, hub_id, pk) != 0)
		return tids_fail(err, errlen, TIDS_ENOENT, "%s: the ledger names no hub yet", l->path);
	if ((r = collect(l, rq, &c, err, errlen)) != 0) {
		free(c.lines);
		return r;
	}
	totals_of(c.lines, c.n, totals);
	if ((r = proof_writer_init(&pw, w, ctx)) != 0) {
		free(c.lines);
		return tids_fail(err, errlen, r, "out of memory");
	}
	header_json(&pw.jw, hub_id, rq, wall_ms());
	r = proof_writer_emit(&pw);
	for (size_t i = 0; i < c.n && r == 0; i++) {
		line_json(&pw.jw, &c.lines[i]);
		r = proof_writer_emit(&pw);
	}
	if (r == 0) {
		totals_json(&pw.jw, totals);
		r = proof_writer_emit(&pw);
	}
	if (r == 0)
		r = proof_writer_end_domain(&pw, signer, TIDS_DOMAIN_STATEMENT);
	proof_writer_free(&pw);
	free(c.lines);
	return r != 0 ? tids_fail(err, errlen, r, "cannot write the statement: %s", tids_strerror(r)) : 0;
}

/* --- checking ------------------------------------------------------------------------- */

static int bad(struct tids_statement_result *res, uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct tids_statement_result *res, uint64_t line, const char *fmt, ...)
{
	va_list ap;

	res->bad_line = line;
	va_start(ap, fmt);
	vsnprintf(res->what, sizeof(res->what), fmt, ap);
	va_end(ap);
	return TIDS_EBADSIG;
}

static const char *str(const struct tids_json *o, const char *key)
{
	const char *s = tids_json_string(tids_json_get(o, key));

	return s != NULL ? s : "";
}

static bool hex_is(const struct tids_json *o, const char *key, const uint8_t *b, size_t n)
{
	char hex[2 * TIDS_HASH_BYTES + 1];

	if (n > TIDS_HASH_BYTES)
		return false;
	sodium_bin2hex(hex, sizeof(hex), b, n);
	return strcmp(str(o, key), hex) == 0;
}

static bool i64_is(const struct tids_json *o, const char *key, int64_t v)
{
	int64_t x;

	return tids_json_get(o, key) != NULL && tids_json_int64(tids_json_get(o, key), &x) == 0 && x == v;
}

static bool num_is(const struct tids_json *o, const char *key, double v)
{
	const struct tids_json *j = tids_json_get(o, key);

	return j != NULL && tids_json_type(j) == TIDS_JSON_NUMBER && tids_json_number(j) == v;
}

/* Line i of the statement against line ln of the ledger. */
static int check_line(struct tids_statement_result *res, uint64_t lineno, const struct tids_json *o,
		      const struct statement_line *ln)
{
	char entry[48];

	snprintf(entry, sizeof(entry), "%d:%llu", ln->partition, (unsigned long long)ln->seq);
	o = tids_json_get(o, ln->output ? "output" : "use");
	if (o == NULL)
		return bad(res, lineno, "the ledger has a %s line here (entry %s), the statement another",
			   ln->output ? "output" : "use", entry);
	if (strcmp(str(o, "entry"), entry) != 0 || !hex_is(o, "entry_hash", ln->entry_hash, TIDS_HASH_BYTES))
		return bad(res, lineno, "the line names entry %s (or its hash) otherwise than the ledger, which has %s "
			   "here", str(o, "entry"), entry);
	if (strcmp(str(o, "category"), ln->category) != 0 || strcmp(str(o, "field"), ln->field) != 0 ||
	    !num_is(o, "value", ln->value))
		return bad(res, lineno, "entry %s: the ledger says %s %s %.17g", entry, ln->category, ln->field, ln->value);
	if (ln->output && (strcmp(str(o, "function"), ln->function) != 0 || !i64_is(o, "window_start_ms", ln->at_ms) ||
			   !i64_is(o, "window_ms", ln->window_ms) || !i64_is(o, "records", (int64_t)ln->records)))
		return bad(res, lineno, "entry %s: the aggregate's window or count differs from the ledger's", entry);
	if (!ln->output && (!i64_is(o, "produced_at_ms", ln->at_ms) ||
			    !hex_is(o, "record_id", ln->use.record_id, TIDS_RECORD_ID_BYTES) ||
			    !hex_is(o, "leaf_hash", ln->use.leaf, TIDS_HASH_BYTES) ||
			    strcmp(str(o, "publisher"), ln->use.publisher) != 0 ||
			    !i64_is(o, "sequence", (int64_t)ln->use.sequence)))
		return bad(res, lineno, "entry %s: the record differs from the one its publisher signed", entry);
	return 0;
}

/* What the header says was counted: use categories with their field, and
 * output categories. */
struct header_counting {
	char use_cat[TIDS_STATEMENT_CATEGORIES_MAX][TIDS_NAME_MAX + 1], use_field[TIDS_STATEMENT_CATEGORIES_MAX][TIDS_NAME_MAX + 1];
	char out_cat[TIDS_STATEMENT_CATEGORIES_MAX][TIDS_NAME_MAX + 1];
	struct tids_statement_use uses[TIDS_STATEMENT_CATEGORIES_MAX];
	const char *outputs[TIDS_STATEMENT_CATEGORIES_MAX];
	size_t n_uses, n_outputs;
};

static int header_counting(const struct tids_json *o, struct header_counting *hc)
{
	const struct tids_json *u = tids_json_get(o, "uses"), *out = tids_json_get(o, "outputs");

	memset(hc, 0, sizeof(*hc));
	if (u == NULL || out == NULL || tids_json_len(u) > TIDS_STATEMENT_CATEGORIES_MAX ||
	    tids_json_len(out) > TIDS_STATEMENT_CATEGORIES_MAX)
		return -1;
	for (size_t i = 0; i < tids_json_len(u); i++) {
		snprintf(hc->use_cat[i], sizeof(hc->use_cat[i]), "%s", str(tids_json_at(u, i), "category"));
		snprintf(hc->use_field[i], sizeof(hc->use_field[i]), "%s", str(tids_json_at(u, i), "field"));
		hc->uses[i] = (struct tids_statement_use){ hc->use_cat[i], hc->use_field[i] };
	}
	hc->n_uses = tids_json_len(u);
	for (size_t i = 0; i < tids_json_len(out); i++) {
		const char *c = tids_json_string(tids_json_at(out, i));

		snprintf(hc->out_cat[i], sizeof(hc->out_cat[i]), "%s", c != NULL ? c : "");
		hc->outputs[i] = hc->out_cat[i];
	}
	hc->n_outputs = tids_json_len(out);
	return 0;
}

static const struct tids_json *line_object(struct tids_json_doc **doc, const char *p, size_t n,
					   struct tids_statement_result *res, uint64_t lineno)
{
	char err[128];

	*doc = NULL;
	if (tids_json_parse(p, n, doc, err, sizeof(err)) != 0) {
		bad(res, lineno, "not JSON: %s", err);
		return NULL;
	}
	if (tids_json_type(tids_json_root(*doc)) != TIDS_JSON_OBJECT) {
		bad(res, lineno, "not a JSON object");
		return NULL;
	}
	return tids_json_root(*doc);
}

int tids_statement_check(const uint8_t *text, size_t len, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES],
			 const char *ledger_path, const uint8_t *publisher_pk, struct tids_statement_result *res)
{
	struct tids_statement_request rq = { 0 };
	struct header_counting hc;
	struct tids_statement_totals mine;
	struct tids_ledger_verify_report vrep = { 0 };
	struct tids_ledger *l = NULL;
	struct collect c = { 0 };
	crypto_generichash_state h;
	uint8_t digest[TIDS_HASH_BYTES];
	const char *p = (const char *)text, *end = p + len;
	char lessor[TIDS_ID_MAX + 1] = "", asset[TIDS_ID_MAX + 1] = "", purpose[TIDS_NAME_MAX + 1] = "";
	uint64_t lineno = 0, items = 0;
	bool ended = false;
	int r = 0;

	memset(res, 0, sizeof(*res));
	crypto_generichash_init(&h, NULL, 0, TIDS_HASH_BYTES);
	while (p < end && r == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct tids_json_doc *doc = NULL;
		const struct tids_json *o;

		lineno++;
		if (nl == NULL || ended) {
			r = bad(res, lineno, ended ? "text after the end line" : "the last line does not end");
			break;
		}
		if ((o = line_object(&doc, p, (size_t)(nl - p), res, lineno)) == NULL) {
			r = TIDS_EBADSIG;
		} else if (lineno == 1) {
			/* The header: who, what, when, and what was counted how. */
			if (tids_json_get(o, "statement") == NULL ||
			    tids_json_int64(tids_json_get(o, "since_ms"), &rq.since_ms) != 0 ||
			    tids_json_int64(tids_json_get(o, "until_ms"), &rq.until_ms) != 0 ||
			    header_counting(o, &hc) != 0) {
				r = bad(res, lineno, "not a statement header");
			} else {
				snprintf(lessor, sizeof(lessor), "%s", str(o, "lessor"));
				snprintf(asset, sizeof(asset), "%s", str(o, "asset"));
				snprintf(purpose, sizeof(purpose), "%s", str(o, "purpose"));
				snprintf(res->hub_id, sizeof(res->hub_id), "%s", str(o, "hub_id"));
				snprintf(res->lessor, sizeof(res->lessor), "%s", lessor);
				snprintf(res->asset, sizeof(res->asset), "%s", asset);
				res->since_ms = rq.since_ms;
				res->until_ms = rq.until_ms;
			}
		} else if (tids_json_get(o, "end") != NULL) {
			uint8_t sig[TIDS_SIGNATURE_BYTES], signer[TIDS_PUBLIC_KEY_BYTES];
			size_t n;

			ended = true;
			crypto_generichash_final(&h, digest, sizeof(digest));
			if (!hex_is(o, "digest", digest, sizeof(digest)))
				r = bad(res, lineno, "the digest does not match the lines before it: the statement was changed");
			else if (tids_key_from_base64(str(o, "signer"), signer) != 0 ||
				 sodium_memcmp(signer, hub_pk, TIDS_PUBLIC_KEY_BYTES) != 0)
				r = bad(res, lineno, "not signed by the hub key given");
			else if (sodium_base642bin(sig, sizeof(sig), str(o, "signature"), strlen(str(o, "signature")), NULL,
						   &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || n != sizeof(sig) ||
				 tids_sign_verify_detached(hub_pk, TIDS_DOMAIN_STATEMENT, digest, sizeof(digest), sig) != 0)
				r = bad(res, lineno, "the hub's signature does not verify");
		} else if (tids_json_get(o, "totals") != NULL) {
			const struct tids_json *t = tids_json_get(o, "totals");

			res->totals.n = 0;
			for (size_t i = 0; i < tids_json_len(t) && res->totals.n < TIDS_STATEMENT_CATEGORIES_MAX; i++) {
				const struct tids_json *x = tids_json_at(t, i);
				struct tids_statement_total *y = &res->totals.by[res->totals.n++];

				y->output = strcmp(str(x, "kind"), "output") == 0;
				snprintf(y->category, sizeof(y->category), "%s", str(x, "category"));
				snprintf(y->field, sizeof(y->field), "%s", str(x, "field"));
				if (tids_json_uint64(tids_json_get(x, "lines"), &y->lines) != 0 ||
				    tids_json_uint64(tids_json_get(x, "records"), &y->records) != 0 ||
				    tids_json_type(tids_json_get(x, "sum")) != TIDS_JSON_NUMBER)
					r = bad(res, lineno, "a total is malformed");
				else
					y->sum = tids_json_number(tids_json_get(x, "sum"));
			}
		} else if (tids_json_get(o, "use") == NULL && tids_json_get(o, "output") == NULL) {
			r = bad(res, lineno, "neither a use nor an output line");
		} else {
			items++;
		}
		if (!ended)
			crypto_generichash_update(&h, (const uint8_t *)p, (size_t)(nl - p) + 1);
		tids_json_free(doc);
		p = nl + 1;
	}
	if (r == 0 && !ended)
		r = bad(res, lineno, "no end line: the statement is cut short");
	if (r != 0)
		return r;
	res->signed_ok = true;
	res->lines = items;
	if (ledger_path == NULL)
		return 0;
	/* Against the ledger: it verifies, and holds exactly these lines. */
	{
		char err[512];
		int v = tids_ledger_verify(ledger_path, hub_pk, NULL, &vrep, err, sizeof(err));

		if (v != 0) {
			r = bad(res, 0, "the ledger does not verify: %s", v == TIDS_EBADSIG ? "run tidsctl audit verify" : err);
			goto out;
		}
		if ((v = tids_ledger_open(ledger_path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err))) != 0) {
			r = bad(res, 0, "%s", err);
			goto out;
		}
		rq.lessor = lessor;
		rq.asset = asset;
		rq.purpose = purpose;
		rq.uses = hc.uses;
		rq.n_uses = hc.n_uses;
		rq.outputs = hc.outputs;
		rq.n_outputs = hc.n_outputs;
		if ((v = collect(l, &rq, &c, err, sizeof(err))) != 0) {
			r = bad(res, 0, "%s", err);
			goto out;
		}
	}
	if (c.n != items) {
		r = bad(res, 0, "the ledger holds %zu lines for %s, %s and this period; the statement %llu", c.n, lessor,
			asset, (unsigned long long)items);
		goto out;
	}
	p = (const char *)text;
	lineno = 0;
	for (size_t i = 0; p < end && r == 0;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct tids_json_doc *doc = NULL;
		const struct tids_json *o;

		lineno++;
		o = line_object(&doc, p, (size_t)(nl - p), res, lineno);
		if (o != NULL && (tids_json_get(o, "use") != NULL || tids_json_get(o, "output") != NULL)) {
			const struct statement_line *ln = &c.lines[i++];

			r = check_line(res, lineno, o, ln);
			/* Signed checkpoints must cover the entry. */
			for (size_t k = 0; r == 0 && k < vrep.n_chains; k++)
				if (vrep.chains[k].partition == ln->partition && vrep.chains[k].signed_seq < ln->seq)
					r = bad(res, lineno, "entry %d:%llu is not signed by a checkpoint yet", ln->partition,
						(unsigned long long)ln->seq);
			if (r == 0 && !ln->output && publisher_pk != NULL &&
			    tids_sign_batch_verify(publisher_pk, ln->use.publisher, ln->use.sequence, ln->use.root,
						   ln->use.signature) != 0)
				r = bad(res, lineno, "the publisher's signature over batch %llu does not verify",
					(unsigned long long)ln->use.sequence);
		}
		tids_json_free(doc);
		p = nl + 1;
	}
	if (r != 0)
		goto out;
	totals_of(c.lines, c.n, &mine);
	if (mine.n != res->totals.n) {
		r = bad(res, 0, "the totals name %zu categories, the lines %zu", res->totals.n, mine.n);
		goto out;
	}
	for (size_t i = 0; i < mine.n && r == 0; i++)
		if (mine.by[i].output != res->totals.by[i].output ||
		    strcmp(mine.by[i].category, res->totals.by[i].category) != 0 ||
		    mine.by[i].lines != res->totals.by[i].lines || mine.by[i].records != res->totals.by[i].records ||
		    mine.by[i].sum != res->totals.by[i].sum)
			r = bad(res, 0, "the total of %s is %.17g over %llu lines by the lines, not what the statement says",
				mine.by[i].category, mine.by[i].sum, (unsigned long long)mine.by[i].lines);
	res->ledger_ok = r == 0;
out:
	free(c.lines);
	tids_ledger_close(l);
	tids_ledger_verify_report_free(&vrep);
	return r;
}

void tids_statement_defaults(struct tids_statement_request *rq)
{
	static const struct tids_statement_use uses[] = { { "run_hours", "hours" }, { "cycles", "cycles" } };
	static const char *const outputs[] = { "output_count" };

	if (rq->purpose == NULL || *rq->purpose == '\0')
		rq->purpose = "billing";
	if (rq->n_uses == 0) {
		rq->uses = uses;
		rq->n_uses = sizeof(uses) / sizeof(uses[0]);
	}
	if (rq->n_outputs == 0) {
		rq->outputs = outputs;
		rq->n_outputs = sizeof(outputs) / sizeof(outputs[0]);
	}
}
