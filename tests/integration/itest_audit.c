/*
 * The audit ledger end to end: a real tidsd routes records over the real
 * test broker, its indexer fills the ledger, and with the daemon stopped
 * tidsctl verifies, queries, proves and exports it; every kind of
 * tampering with the real ledger file is caught and its first bad entry
 * named; the indexer resumes exactly after a restart; and when the audit
 * topic cannot be written, nothing is delivered (fail closed).
 */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "hub.h"
#include "shell.h"
#include "testenv.h"
#include "tids/error.h"
#include "tids/json.h"
#include "tids/ledger.h"
#include "tids/wire.h"

#define N_ASSETS 6
#define N_RUN_HOURS 24           /* each goes to the lessor twice: billing, maintenance */
#define N_RECIPES 2              /* each denied to the lessor, twice */
#define WAIT_MS 60000

static char err[512];

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- a hub with a lessee, a lessor and leased machines -------------------------- */

struct world {
	struct tids_test_hub hub;
	struct tids_identity factory, lessor;
	char ledger[400];
	char hub_b64[TIDS_KEY_BASE64_BYTES], factory_b64[TIDS_KEY_BASE64_BYTES];
	uint64_t batch_seq;
};

static void world_start(struct world *w, const char *extra)
{
	char asset[32];

	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(tids_test_hub_start(&w->hub, extra), 0);
	snprintf(w->ledger, sizeof(w->ledger), "%s/state/ledger.db", w->hub.dir);
	tids_key_to_base64(w->hub.hub_pk, w->hub_b64);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory", "lessee", "CN-SH", NULL, &w->factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "lessor", "lessor", "CN-SH", "security_agreement=true",
						   &w->lessor), 0);
	tids_key_to_base64(w->factory.sign_pk, w->factory_b64);
	for (int i = 0; i < N_ASSETS; i++) {
		snprintf(asset, sizeof(asset), "press-%d", i);
		ck_assert_int_eq(tids_test_hub_asset(&w->hub, asset, "factory", "lessor", "sh-plant-1"), 0);
	}
	w->batch_seq = (uint64_t)time(NULL) * 1000;
	/* Routing starts once the router holds its partitions; on a fresh
	 * broker the group coordinators take a while to load, and a consumer
	 * started before that may wait long for its committed offsets. */
	for (int64_t until = mono() + WAIT_MS; mono() < until; sleep_ms(200))
		if (tids_test_hub_log_count(&w->hub, "ingress partitions assigned") > 0)
			break;
	ck_assert_int_gt(tids_test_hub_log_count(&w->hub, "ingress partitions assigned"), 0);
}

static void world_free(struct world *w)
{
	tids_test_hub_destroy(&w->hub);
	tids_identity_wipe(&w->factory);
	tids_identity_wipe(&w->lessor);
}

/* Publishes n records of category, one per asset in turn; their ids go to
 * ids (if not NULL), the first one's bytes to first (if not NULL). Recipes
 * are important data (their category's floor), the rest general. */
static void publish_ex(struct world *w, const char *category, int n, uint8_t (*ids)[TIDS_RECORD_ID_BYTES],
		       const char *first)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->factory);
	struct tids_bytes recs[64];
	struct tids_publish_ack ack;
	char asset[32];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_le(n, 64);
	for (int i = 0; i < n; i++) {
		struct tids_field f = { .name = "hours", .value = { .kind = TIDS_VALUE_REAL, .as.d = 1.5 + i } };
		struct tids_record r = { .owner = "factory", .asset_id = asset, .category = category,
					 .tier = strcmp(category, "recipe") == 0 ? TIDS_TIER_IMPORTANT : TIDS_TIER_GENERAL,
					 .origin = "CN-SH",
					 .produced_at_ms = (int64_t)time(NULL) * 1000, .schema = "", .fields = &f,
					 .n_fields = 1 };
		uint8_t *b;

		snprintf(asset, sizeof(asset), "press-%d", i % N_ASSETS);
		randombytes_buf(r.record_id, TIDS_RECORD_ID_BYTES);
		if (ids != NULL)
			memcpy(ids[i], r.record_id, TIDS_RECORD_ID_BYTES);
		ck_assert_int_eq(tids_wire_encode_record(&r, &b, &recs[i].len), 0);
		recs[i].data = b;
		if (i == 0 && first != NULL) {
			FILE *out = fopen(first, "wb");

			ck_assert_ptr_nonnull(out);
			ck_assert_uint_eq(fwrite(b, 1, recs[i].len, out), recs[i].len);
			fclose(out);
		}
	}
	ck_assert_msg(tids_client_publish(c, &w->factory, "factory", ++w->batch_seq, recs, (size_t)n, &ack, err,
					  sizeof(err)) == 0, "publish: %s", err);
	ck_assert_msg(ack.accepted == (uint32_t)n, "%u of %d %s records accepted: %s", ack.accepted, n, category,
		      ack.n_errors > 0 ? ack.errors[0].message : "");
	tids_publish_ack_free(&ack);
	for (int i = 0; i < n; i++)
		free((void *)recs[i].data);
	tids_client_free(c);
}

static void publish(struct world *w, const char *category, int n, uint8_t (*ids)[TIDS_RECORD_ID_BYTES])
{
	publish_ex(w, category, n, ids, NULL);
}

struct seen {
	uint8_t id[TIDS_RECORD_ID_BYTES];
	char purpose[32];
};

static struct tids_client *subscribe(struct world *w)
{
	static const char *const purposes[] = { "billing", "maintenance" };
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->lessor);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(tids_client_subscribe(c, purposes, 2, 100, err, sizeof(err)) == 0, "subscribe: %s", err);
	/* The standing subscription reaches the router asynchronously (hub
	 * state first), and the lessor has never subscribed before: records
	 * the router routes before it has the purposes go to nobody, and the
	 * deliveries counted below never come. Published once the router
	 * says it has them, not after a guess of how long that takes. */
	ck_assert_msg(tids_test_hub_await_log(&w->hub, "router: lessor is a recipient", 1, WAIT_MS) == 0,
		      "tidsd never logged that the lessor is a recipient");
	return c;
}

/* Takes deliveries until `want` arrived or timeout_ms passed quietly. */
static int receive(struct tids_client *c, struct seen *seen, int have, int want, int timeout_ms)
{
	int64_t until = mono() + timeout_ms;

	while (have < want && mono() < until) {
		struct tids_delivery d;
		int r = tids_client_next_delivery(c, &d, 500, err, sizeof(err));

		ck_assert_msg(r >= 0, "delivery stream: %s", err);
		if (r == 0)
			continue;
		if (*d.notification_for == '\0' && seen != NULL) {
			memcpy(seen[have].id, d.record.record_id, TIDS_RECORD_ID_BYTES);
			snprintf(seen[have].purpose, sizeof(seen[have].purpose), "%s", d.purpose);
			have++;
		}
		ck_assert_int_eq(tids_client_ack(c, d.delivery_seq, err, sizeof(err)), 0);
		tids_delivery_free(&d);
	}
	return have;
}

/* Waits until the ledger (read while the daemon runs) holds `entries`
 * entries, all signed by checkpoints. */
static void wait_ledger(struct world *w, uint64_t entries)
{
	int64_t until = mono() + WAIT_MS;
	struct tids_ledger_verify_report rep = { 0 };
	int r = -1;

	while (mono() < until) {
		if (access(w->ledger, R_OK) == 0) {
			r = tids_ledger_verify(w->ledger, w->hub.hub_pk, NULL, &rep, err, sizeof(err));
			if (r == 0 && rep.entries == entries && rep.unanchored == 0)
				break;
			ck_assert_msg(r == 0 || r == TIDS_EDB || r == TIDS_ENOENT, "ledger does not verify while running: %s",
				      rep.n_chains > 0 ? rep.chains[0].what : err);
			tids_ledger_verify_report_free(&rep);
		}
		sleep_ms(250);
	}
	ck_assert_msg(r == 0 && rep.entries == entries && rep.unanchored == 0,
		      "the ledger did not reach %llu signed entries (has %llu, %llu unsigned)",
		      (unsigned long long)entries, (unsigned long long)rep.entries, (unsigned long long)rep.unanchored);
	tids_ledger_verify_report_free(&rep);
}

/* --- tampering with a copy of the real ledger -------------------------------------- */

static int64_t id_of(int32_t p, uint64_t seq)
{
	return (int64_t)((uint64_t)p << TIDS_LEDGER_SEQ_BITS | seq);
}

static void copy_ledger(const char *from, const char *to)
{
	sqlite3 *db;
	char q[1024];

	unlink(to);
	ck_assert_int_eq(sqlite3_open_v2(from, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(q, sizeof(q), "VACUUM INTO '%s'", to);
	ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void exec_sql(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void exec_sql(const char *path, const char *fmt, ...)
{
	sqlite3 *db;
	char q[4096], *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", q, msg);
	sqlite3_close(db);
}

static uint8_t *blob(const char *path, const char *table, int64_t id, size_t *len)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char q[128];
	uint8_t *b;

	snprintf(q, sizeof(q), "SELECT bytes FROM %s WHERE id = %lld", table, (long long)id);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	*len = (size_t)sqlite3_column_bytes(st, 0);
	b = malloc(*len);
	memcpy(b, sqlite3_column_blob(st, 0), *len);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return b;
}

static void set_blob(const char *path, const char *table, int64_t id, const uint8_t *b, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char q[128];

	snprintf(q, sizeof(q), "UPDATE %s SET bytes = ?1 WHERE id = %lld", table, (long long)id);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, b, (int)len, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Moves entries seq >= from of chain p by delta. */
static void shift(const char *path, int32_t p, uint64_t from, uint64_t last, int delta)
{
	if (delta > 0)
		for (uint64_t s = last; s >= from; s--)
			exec_sql(path, "UPDATE entry SET id = %lld WHERE id = %lld", (long long)id_of(p, s + 1),
				 (long long)id_of(p, s));
	else
		for (uint64_t s = from; s <= last; s++)
			exec_sql(path, "UPDATE entry SET id = %lld WHERE id = %lld", (long long)id_of(p, s - 1),
				 (long long)id_of(p, s));
}

/* Makes the index of entry id say what an editor wants — recipient
 * mallory, or another decision (0 keeps it) — through a class and a
 * profile made for it, as someone with sqlite3 would. */
static void index_says(const char *path, int64_t id, bool mallory, int decision)
{
	char dec[16];
	const char *rcp = mallory ? "(SELECT n FROM name WHERE s = 'mallory')" : "p1.recipient";

	snprintf(dec, sizeof(dec), decision != 0 ? "%d" : "c1.decision", decision);
	exec_sql(path,
		 "INSERT OR IGNORE INTO name(s) VALUES ('mallory');"
		 "CREATE TEMP TABLE old AS SELECT profile AS p, class AS c FROM entry WHERE id = %lld;"
		 "INSERT OR IGNORE INTO class(purpose, decision, tier, category, origin, destination, rules,"
		 "  origin_country, destination_country) SELECT purpose, %s, tier, category, origin, destination, rules,"
		 "  origin_country, destination_country FROM class AS c1 WHERE c1.n = (SELECT c FROM old);"
		 "CREATE TEMP TABLE want AS SELECT c2.n AS c FROM class AS c2, class AS c1 WHERE c1.n = (SELECT c FROM old)"
		 "  AND c2.purpose = c1.purpose AND c2.decision = %s AND c2.tier = c1.tier AND c2.category = c1.category"
		 "  AND c2.origin = c1.origin AND c2.destination = c1.destination AND c2.rules = c1.rules;"
		 "INSERT OR IGNORE INTO profile(owner, recipient, grant_id, approval_id, class)"
		 "  SELECT owner, %s, grant_id, approval_id, (SELECT c FROM want) FROM profile AS p1"
		 "  WHERE p1.n = (SELECT p FROM old);"
		 "UPDATE entry SET class = (SELECT c FROM want), profile = (SELECT p2.n FROM profile AS p2, profile AS p1"
		 "  WHERE p1.n = (SELECT p FROM old) AND p2.owner = p1.owner AND p2.recipient = %s"
		 "  AND p2.grant_id = p1.grant_id AND p2.approval_id = p1.approval_id AND p2.class = (SELECT c FROM want))"
		 "  WHERE id = %lld",
		 (long long)id, dec, dec, rcp, rcp, (long long)id);
}

/* The verdict of tidsctl audit verify on a ledger file. */
static void expect_verify(struct world *w, const char *path, int status, const char *words)
{
	char out[16384];
	int rc = tids_test_tidsctl(out, sizeof(out), "audit verify --ledger '%s' --hub-key %s", path, w->hub_b64);

	ck_assert_msg(rc == status, "verify exited %d, expected %d:\n%s", rc, status, out);
	if (words != NULL)
		ck_assert_msg(strstr(out, words) != NULL, "verify output lacks '%s':\n%s", words, out);
	ck_assert_ptr_nonnull(strstr(out, "entries/s"));
	/* --json: the same verdict as one object, the bad chain named. */
	rc = tids_test_tidsctl(out, sizeof(out), "audit verify --json --ledger '%s' --hub-key %s", path, w->hub_b64);
	ck_assert_msg(rc == status, "verify --json exited %d, expected %d:\n%s", rc, status, out);
	ck_assert_msg(strstr(out, status == 0 ? "\"ok\":true," : "\"ok\":false,") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"chains\":[{\"partition\":") != NULL, "%s", out);
	if (status != 0 && strstr(out, "\"index_bad\":null") != NULL)
		ck_assert_msg(strstr(out, "\"bad\":{\"at\":\"") != NULL, "no bad chain named:\n%s", out);
}

/* The longest chain, and where its checkpoints are. */
struct target {
	int32_t p;
	uint64_t last;
	uint64_t cps[64];
	size_t n_cps;
};

static bool is_cp(const struct target *t, uint64_t seq)
{
	for (size_t i = 0; i < t->n_cps; i++)
		if (t->cps[i] == seq)
			return true;
	return false;
}

static void find_target(const char *path, struct target *t)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT id >> 40, count(*), max(id & 1099511627775) FROM entry GROUP BY 1 "
					    "ORDER BY 2 DESC LIMIT 1", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	t->p = sqlite3_column_int(st, 0);
	t->last = (uint64_t)sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT id & 1099511627775 FROM checkpoint WHERE id >> 40 = ?1 ORDER BY id",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int(st, 1, t->p);
	while (sqlite3_step(st) == SQLITE_ROW && t->n_cps < 64)
		t->cps[t->n_cps++] = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void tamper_tests(struct world *w)
{
	char copy[500], words[128];
	struct target t;
	uint64_t s;
	size_t len, nlen;
	uint8_t *b, *nb;
	struct tids_audit_entry e;

	snprintf(copy, sizeof(copy), "%s/tampered.db", w->hub.dir);
	find_target(w->ledger, &t);
	ck_assert_msg(t.last >= 8 && t.n_cps >= 2, "chain %d too short for the tamper tests (%llu entries)", t.p,
		      (unsigned long long)t.last);
	ck_assert(is_cp(&t, t.last));
	/* s: an entry that is neither the first nor right before a checkpoint,
	 * so that every tamper has a neighbour on both sides. */
	for (s = 3; s + 1 < t.last && (is_cp(&t, s) || is_cp(&t, s - 1)); s++)
		;
	ck_assert(s + 1 < t.last);

	/* 1. Edit a field: the index column... */
	copy_ledger(w->ledger, copy);
	index_says(copy, id_of(t.p, s), true, 0);
	snprintf(words, sizeof(words), "FAILED at entry %d:%llu", t.p, (unsigned long long)s);
	expect_verify(w, copy, 1, words);
	/* ...and the entry's bytes (with its column, so they agree). */
	copy_ledger(w->ledger, copy);
	b = blob(copy, "entry", id_of(t.p, s), &len);
	ck_assert_int_eq(tids_wire_decode_audit_entry(b, len, &e, err, sizeof(err)), 0);
	e.decision = e.decision == TIDS_DECISION_DENY ? TIDS_DECISION_ALLOW : TIDS_DECISION_DENY;
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &nb, &nlen), 0);
	set_blob(copy, "entry", id_of(t.p, s), nb, nlen);
	index_says(copy, id_of(t.p, s), false, (int)e.decision);
	tids_audit_entry_free(&e);
	free(b);
	free(nb);
	expect_verify(w, copy, 1, words);

	/* 2. Delete an entry. */
	copy_ledger(w->ledger, copy);
	exec_sql(copy, "DELETE FROM entry WHERE id = %lld", (long long)id_of(t.p, s));
	expect_verify(w, copy, 1, words);
	/* ...and close the gap. */
	shift(copy, t.p, s + 1, t.last, -1);
	expect_verify(w, copy, 1, words);

	/* 3. Insert one: well formed, chained to its predecessor, the rest
	 * moved up a place. */
	copy_ledger(w->ledger, copy);
	b = blob(copy, "entry", id_of(t.p, s), &len);
	ck_assert_int_eq(tids_wire_decode_audit_entry(b, len, &e, err, sizeof(err)), 0);
	e.recipient = "mallory";
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &nb, &nlen), 0);
	shift(copy, t.p, s, t.last, +1);
	exec_sql(copy, "INSERT INTO entry SELECT %lld, decided_at, profile, class, record_id, bytes FROM entry"
		 " WHERE id = %lld", (long long)id_of(t.p, s), (long long)id_of(t.p, s + 1));
	set_blob(copy, "entry", id_of(t.p, s), nb, nlen);
	index_says(copy, id_of(t.p, s), true, 0);
	tids_audit_entry_free(&e);
	free(b);
	free(nb);
	expect_verify(w, copy, 1, words);

	/* 4. Swap two. */
	copy_ledger(w->ledger, copy);
	exec_sql(copy, "UPDATE entry SET id = -1 WHERE id = %lld; UPDATE entry SET id = %lld WHERE id = %lld;"
		 "UPDATE entry SET id = %lld WHERE id = -1",
		 (long long)id_of(t.p, s), (long long)id_of(t.p, s), (long long)id_of(t.p, s + 1),
		 (long long)id_of(t.p, s + 1));
	expect_verify(w, copy, 1, words);

	/* 5. Truncate the tail (the last checkpoint stays and names it). */
	copy_ledger(w->ledger, copy);
	exec_sql(copy, "DELETE FROM entry WHERE id >= %lld AND id <= %lld; DELETE FROM record WHERE first >= %lld"
		 " AND first <= %lld", (long long)id_of(t.p, t.last - 1), (long long)id_of(t.p, t.last),
		 (long long)id_of(t.p, t.last - 1), (long long)id_of(t.p, t.last));
	snprintf(words, sizeof(words), "FAILED at entry %d:%llu", t.p, (unsigned long long)t.last - 1);
	expect_verify(w, copy, 1, words);
	expect_verify(w, copy, 1, "truncated");

	/* 6. Replace a checkpoint's signature. */
	copy_ledger(w->ledger, copy);
	b = blob(copy, "checkpoint", id_of(t.p, t.cps[0]), &len);
	b[len - 7] ^= 0x40;
	set_blob(copy, "checkpoint", id_of(t.p, t.cps[0]), b, len);
	free(b);
	snprintf(words, sizeof(words), "FAILED at checkpoint %d:%llu", t.p, (unsigned long long)t.cps[0]);
	expect_verify(w, copy, 1, words);

	/* The untouched original still verifies. */
	expect_verify(w, w->ledger, 0, "OK");
	unlink(copy);
}

/* --- the proof: verifies offline, and no byte of it can change ------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static const uint8_t *factory_key(void *ctx, const char *publisher)
{
	return strcmp(publisher, "factory") == 0 ? ctx : NULL;
}

static void proof_tests(struct world *w, const uint8_t id[TIDS_RECORD_ID_BYTES],
			const uint8_t recipe_id[TIDS_RECORD_ID_BYTES], const char *recipe_bytes)
{
	char hex[2 * TIDS_RECORD_ID_BYTES + 1], proof[500], bundle[500], out[16384];
	struct tids_proof_opts o = { .hub_pk = w->hub.hub_pk, .publisher_key = factory_key, .key_ctx = w->factory.sign_pk };
	struct tids_proof_result res;
	uint8_t *b;
	size_t len;

	sodium_bin2hex(hex, sizeof(hex), id, TIDS_RECORD_ID_BYTES);
	snprintf(proof, sizeof(proof), "%s/proof.jsonl", w->hub.dir);
	snprintf(bundle, sizeof(bundle), "%s/bundle.jsonl", w->hub.dir);
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit proof --ledger '%s' -o '%s' %s", w->ledger, proof, hex) == 0, "%s",
		      out);
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s --publisher-key factory=%s '%s'",
					w->hub_b64, w->factory_b64, proof) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "VALID"));
	ck_assert_ptr_nonnull(strstr(out, "2 decisions"));
	ck_assert_ptr_nonnull(strstr(out, "bytes are included"));
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit check-proof --json --hub-key %s --publisher-key factory=%s '%s'",
					w->hub_b64, w->factory_b64, proof) == 0, "%s", out);
	ck_assert_msg(strstr(out, "{\"valid\":true,\"kind\":\"proof\",") != NULL &&
		      strstr(out, "\"record_entries\":2,\"publisher\":\"factory\",") != NULL &&
		      strstr(out, "\"record_bound\":true,") != NULL, "%s", out);
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit proof --json --ledger '%s' -o '%s.2' %s", w->ledger, proof, hex) == 0,
		      "%s", out);
	ck_assert_msg(strstr(out, "{\"file\":\"") != NULL && strstr(out, hex) != NULL &&
		      strstr(out, "\"signed\":false}") != NULL, "%s", out);
	/* Without the publisher's key it cannot be checked; with the wrong hub
	 * key it fails. */
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s '%s'", w->hub_b64, proof), 1);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s --publisher-key %s '%s'",
					   w->factory_b64, w->factory_b64, proof), 1);
	/* Every byte, one bit at a time. */
	b = slurp(proof, &len);
	ck_assert_int_eq(tids_proof_check(b, len, &o, &res), 0);
	ck_assert_uint_eq(res.record_entries, 2);
	for (size_t i = 0; i < len; i++) {
		b[i] ^= 0x01;
		ck_assert_msg(tids_proof_check(b, len, &o, &res) != 0, "byte %zu of the proof changed and it still held", i);
		b[i] ^= 0x04;
		ck_assert_msg(tids_proof_check(b, len, &o, &res) != 0, "byte %zu of the proof changed and it still held", i);
		b[i] ^= 0x05;
	}
	ck_assert_int_eq(tids_proof_check(b, len - 1, &o, &res), TIDS_EBADSIG);
	free(b);
	/* The changed file is refused by tidsctl too. */
	b = slurp(proof, &len);
	b[len / 2] ^= 0x02;
	{
		FILE *f = fopen(proof, "wb");

		ck_assert_uint_eq(fwrite(b, 1, len, f), len);
		fclose(f);
	}
	free(b);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s --publisher-key %s '%s'", w->hub_b64,
					   w->factory_b64, proof), 1);
	ck_assert_ptr_nonnull(strstr(out, "INVALID"));
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit check-proof --json --hub-key %s --publisher-key %s '%s'",
					   w->hub_b64, w->factory_b64, proof), 1);
	ck_assert_msg(strstr(out, "{\"valid\":false,\"bad_line\":") != NULL, "%s", out);

	/* A record sealed at ingest: the ledger has its leaf hash only, and
	 * says so; its bytes, supplied, bind it. */
	sodium_bin2hex(hex, sizeof(hex), recipe_id, TIDS_RECORD_ID_BYTES);
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit proof --ledger '%s' -o '%s' %s", w->ledger, proof, hex) == 0, "%s",
		      out);
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s --publisher-key %s '%s'", w->hub_b64,
					w->factory_b64, proof) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "sealed"));
	ck_assert_ptr_nonnull(strstr(out, "deny"));
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s --publisher-key %s --record '%s' '%s'",
					w->hub_b64, w->factory_b64, recipe_bytes, proof) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "bytes are included"));

	/* A signed bundle of everything, checked elsewhere. */
	{
		char keyfile[500];

		snprintf(keyfile, sizeof(keyfile), "%s/hub.key", w->hub.dir);
		ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit export --json --ledger '%s' --key '%s' -o '%s'", w->ledger,
						keyfile, bundle) == 0, "%s", out);
		ck_assert_msg(strstr(out, "{\"file\":\"") != NULL && strstr(out, "\"signer\":\"") != NULL &&
			      strstr(out, "\"unanchored_left_out\":") != NULL, "%s", out);
	}
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit check-proof --hub-key %s --signer-key %s --publisher-key factory=%s "
					"'%s'", w->hub_b64, w->hub_b64, w->factory_b64, bundle) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "bundle of hub"));
	ck_assert_ptr_nonnull(strstr(out, "VALID"));
	ck_assert_msg(tids_test_tidsctl(out, sizeof(out), "audit check-proof --json --hub-key %s --signer-key %s --publisher-key "
					"factory=%s '%s'", w->hub_b64, w->hub_b64, w->factory_b64, bundle) == 0, "%s", out);
	ck_assert_msg(strstr(out, "{\"valid\":true,\"kind\":\"bundle\",") != NULL &&
		      strstr(out, "\"signer\":\"") != NULL, "%s", out);
}

/* --- query results against what the lessor received -------------------------------------- */

static void query_tests(struct world *w, const struct seen *seen, int n_seen)
{
	static char out[1 << 20];
	int rc, rows = 0, matched = 0;
	char *line, *save = NULL;

	rc = tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --recipient lessor --decision allow --format jsonl",
			       w->ledger);
	ck_assert_msg(rc == 0, "%s", out);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		struct tids_json_doc *doc;
		const struct tids_json *v;
		uint8_t id[TIDS_RECORD_ID_BYTES];
		const char *hex, *purpose;

		ck_assert_msg(tids_json_parse(line, strlen(line), &doc, err, sizeof(err)) == 0, "%s: %s", line, err);
		v = tids_json_root(doc);
		hex = tids_json_string(tids_json_get(v, "record_id"));
		purpose = tids_json_string(tids_json_get(v, "purpose"));
		ck_assert_ptr_nonnull(hex);
		ck_assert_ptr_nonnull(purpose);
		ck_assert_int_eq(sodium_hex2bin(id, sizeof(id), hex, strlen(hex), NULL, NULL, NULL), 0);
		ck_assert_str_eq(tids_json_string(tids_json_get(v, "category")), "run_hours");
		for (int i = 0; i < n_seen; i++)
			if (memcmp(seen[i].id, id, sizeof(id)) == 0 && strcmp(seen[i].purpose, purpose) == 0) {
				matched++;
				break;
			}
		rows++;
		tids_json_free(doc);
	}
	ck_assert_int_eq(rows, n_seen);
	ck_assert_int_eq(matched, n_seen);
	/* The recipes were denied, each for both purposes, and delivered to no one. */
	rc = tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --category recipe --format csv", w->ledger);
	ck_assert_msg(rc == 0, "%s", out);
	{
		int lines = 0, denies = 0;

		for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
			lines++;
			denies += strstr(line, ",deny,") != NULL;
		}
		ck_assert_int_eq(lines, 1 + 2 * N_RECIPES);
		ck_assert_int_eq(denies, 2 * N_RECIPES);
	}
	/* The CSV carries the obligations, in the one JSON form: quoted, last. */
	rc = tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --recipient lessor --decision allow --format csv "
			       "--limit 1", w->ledger);
	ck_assert_msg(rc == 0, "%s", out);
	ck_assert_msg(strstr(out, ",seq,obligations\n") != NULL, "no obligations column:\n%s", out);
	/* {} as it is, or quoted (RFC 4180) when it holds quotes or commas. */
	ck_assert_msg(strstr(out, ",{}\n") != NULL || (strstr(out, ",\"{\"\"") != NULL && strstr(out, "}\"\n") != NULL),
		      "no obligations cell:\n%s", out);
	rc = tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --rule lessor_usage --from CN --to CN-SH", w->ledger);
	ck_assert_msg(rc == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "decisions"));
	rc = tids_test_tidsctl(out, sizeof(out), "audit stats --ledger '%s' --format csv", w->ledger);
	ck_assert_msg(rc == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "allow,general,run_hours,CN-SH,CN-SH,48"));
	ck_assert_ptr_nonnull(strstr(out, "deny,important,recipe,CN-SH,CN-SH,4"));
}

/* Entries beyond their chain's record_through: those whose record index
 * rows the indexer still holds in memory. */
static int entries_beyond_through(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM record_through t JOIN entry e ON e.id > t.through"
					    " AND e.id < ((t.part + 1) << ?1)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int(st, 1, TIDS_LEDGER_SEQ_BITS);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* tidsd killed while its indexer holds record index rows not yet put in
 * (it puts them in every ten commits): the file verifies, every record's
 * entries are found by record, and the next start puts the rows in. */
static void killed_between_flushes(struct world *w, uint64_t entries)
{
	static char out[1 << 16];
	uint8_t ids[6][TIDS_RECORD_ID_BYTES];
	char hex[2 * TIDS_RECORD_ID_BYTES + 1];
	int behind;

	ck_assert_int_eq(tids_test_hub_restart(&w->hub), 0);
	publish(w, "run_hours", 6, ids);
	wait_ledger(w, entries + 12);
	tids_test_hub_kill(&w->hub);
	/* The flush comes ten commits after the first of these entries; the
	 * kill, a second or two after they are in, must come before it, or
	 * this would not test the rebuild at all. */
	behind = entries_beyond_through(w->ledger);
	ck_assert_msg(behind > 0, "the indexer had flushed the record index before the kill: nothing to rebuild");
	expect_verify(w, w->ledger, 0, "OK");
	for (int i = 0; i < 6; i++) {
		int lines = 0;

		sodium_bin2hex(hex, sizeof(hex), ids[i], TIDS_RECORD_ID_BYTES);
		ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --record %s --format csv",
						   w->ledger, hex), 0);
		for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
			lines++;
		ck_assert_msg(lines == 1 + 2, "record %d of 6 (%s): %d entries found, not 2:\n%s", i, hex, lines - 1, out);
	}
	ck_assert_int_eq(tids_test_hub_restart(&w->hub), 0);
	ck_assert_int_eq(tids_test_hub_stop(&w->hub), 0);
	ck_assert_int_eq(entries_beyond_through(w->ledger), 0);
	expect_verify(w, w->ledger, 0, "OK");
}

START_TEST(ledger_of_real_routing)
{
	static struct world w;
	static struct seen seen[2 * N_RUN_HOURS + 16];
	static char out[1 << 20];
	uint8_t ids[N_RUN_HOURS][TIDS_RECORD_ID_BYTES], recipes[N_RECIPES][TIDS_RECORD_ID_BYTES];
	char recipe_bytes[400];
	struct tids_client *sub;
	int n;

	world_start(&w, "audit.checkpoint_entries = 4");
	sub = subscribe(&w);
	snprintf(recipe_bytes, sizeof(recipe_bytes), "%s/recipe.pb", w.hub.dir);
	publish(&w, "run_hours", N_RUN_HOURS, ids);
	publish_ex(&w, "recipe", N_RECIPES, recipes, recipe_bytes);
	n = receive(sub, seen, 0, 2 * N_RUN_HOURS, WAIT_MS);
	ck_assert_int_eq(n, 2 * N_RUN_HOURS);
	/* Nothing more comes: the recipes were denied. */
	ck_assert_int_eq(receive(sub, seen, n, n + 1, 3000), n);
	tids_client_free(sub);
	wait_ledger(&w, 2 * N_RUN_HOURS + 2 * N_RECIPES);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);

	/* The daemon is down; the auditor has the file and the hub's key. */
	expect_verify(&w, w.ledger, 0, "OK");
	query_tests(&w, seen, n);
	proof_tests(&w, ids[5], recipes[0], recipe_bytes);
	tamper_tests(&w);

	/* The indexer resumes where it stopped: a restart and more records
	 * add exactly their entries, and the chains go on. */
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	publish(&w, "run_hours", 6, NULL);
	wait_ledger(&w, 2 * N_RUN_HOURS + 2 * N_RECIPES + 12);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	expect_verify(&w, w.ledger, 0, "OK");
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --recipient lessor --format csv", w.ledger), 0);
	{
		int lines = 0;

		for (char *p = out; (p = strchr(p, '\n')) != NULL; p++)
			lines++;
		ck_assert_int_eq(lines, 1 + 2 * N_RUN_HOURS + 2 * N_RECIPES + 12);
	}
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "not indexed"), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "does not follow"), 0);
	killed_between_flushes(&w, 2 * N_RUN_HOURS + 2 * N_RECIPES + 12);
	world_free(&w);
}
END_TEST

/* --- fail closed ---------------------------------------------------------------------------- */

static void audit_topic_config(struct world *w, const char *name, const char *value)
{
	char topic[256], errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_ConfigResource_t *res;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;

	snprintf(topic, sizeof(topic), "tids.%s.audit", w->hub.hub_id);
	ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", tids_test_kafka_bootstrap(), errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	ck_assert_msg(rk != NULL, "%s", errstr);
	res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	ck_assert_int_eq(rd_kafka_ConfigResource_set_config(res, name, value), RD_KAFKA_RESP_ERR_NO_ERROR);
	q = rd_kafka_queue_new(rk);
	rd_kafka_AlterConfigs(rk, &res, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, 30000);
	ck_assert_ptr_nonnull(ev);
	ck_assert_msg(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR, "%s", rd_kafka_event_error_string(ev));
	{
		size_t n;
		const rd_kafka_ConfigResource_t **r =
			rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);

		ck_assert_uint_eq(n, 1);
		ck_assert_msg(rd_kafka_ConfigResource_error(r[0]) == RD_KAFKA_RESP_ERR_NO_ERROR, "%s",
			      rd_kafka_ConfigResource_error_string(r[0]));
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_ConfigResource_destroy(res);
	rd_kafka_destroy(rk);
}

START_TEST(fail_closed)
{
	static struct world w;
	static struct seen seen[8];
	struct tids_client *sub;
	uint8_t id[1][TIDS_RECORD_ID_BYTES];
	char out[16384];
	int n;

	world_start(&w, NULL);
	sub = subscribe(&w);
	publish(&w, "run_hours", 1, NULL);
	n = receive(sub, seen, 0, 2, WAIT_MS);
	ck_assert_int_eq(n, 2);
	wait_ledger(&w, 2);

	/* The audit topic now refuses every entry: each batch of them is
	 * larger than 200 bytes. (The broker still takes the ~80-byte abort
	 * markers, so the coordinator can end the failed transactions; with
	 * a limit below that, the transactional id would stay stuck after the
	 * topic was fixed. min.insync.replicas cannot do it either: Kafka 4
	 * caps it at the replication factor.) The router's transactions
	 * cannot hold the entries, so nothing is delivered. */
	audit_topic_config(&w, "max.message.bytes", "200");
	sleep_ms(1000);
	publish(&w, "run_hours", 1, id);
	ck_assert_int_eq(receive(sub, seen, n, n + 1, 15000), n);
	for (int64_t until = mono() + WAIT_MS; mono() < until; ) {
		if (tids_test_hub_log_count(&w.hub, "router: transaction failed") > 0 ||
		    tids_test_hub_log_count(&w.hub, "nothing of this batch is routed") > 0)
			break;
		ck_assert_int_eq(receive(sub, seen, n, n + 1, 1000), n);
	}
	ck_assert_msg(tids_test_hub_log_count(&w.hub, "router: transaction failed") > 0 ||
		      tids_test_hub_log_count(&w.hub, "nothing of this batch is routed") > 0,
		      "the router did not say why it stopped routing (log %s)", w.hub.log);
	ck_assert_int_eq(receive(sub, seen, n, n + 1, 2000), n);

	/* Writable again: the record is routed, once, with its entries. */
	audit_topic_config(&w, "max.message.bytes", "1048588");
	n = receive(sub, seen, n, n + 2, getenv("ITEST_LONG") ? 240000 : WAIT_MS);
	ck_assert_int_eq(n, 4);
	ck_assert_mem_eq(seen[2].id, id[0], TIDS_RECORD_ID_BYTES);
	ck_assert_mem_eq(seen[3].id, id[0], TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(receive(sub, seen, n, n + 1, 3000), n);
	tids_client_free(sub);
	/* Why: the audit topic's produce error. Whether it reaches the log
	 * depends on which transaction call in router.c meets it first (see
	 * the report): said, not asserted. */
	if (tids_test_hub_log_count(&w.hub, "too large") == 0 && tids_test_hub_log_count(&w.hub, "TOO_LARGE") == 0)
		fprintf(stderr, "itest_audit: note: the router's log says its transactions failed but not that the "
				"audit topic refused the entries (log %s)\n", w.hub.log);
	wait_ledger(&w, 4);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	expect_verify(&w, w.ledger, 0, "OK");
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "audit query --ledger '%s' --format csv", w.ledger), 0);
	world_free(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("real tidsd, real Kafka");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_set_timeout(tc, 600);
	if (getenv("ITEST_AUDIT_ONLY") == NULL || strcmp(getenv("ITEST_AUDIT_ONLY"), "routing") == 0)
		tcase_add_test(tc, ledger_of_real_routing);
	if (getenv("ITEST_AUDIT_ONLY") == NULL || strcmp(getenv("ITEST_AUDIT_ONLY"), "fail_closed") == 0)
		tcase_add_test(tc, fail_closed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
