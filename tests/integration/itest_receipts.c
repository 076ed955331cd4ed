/*
 * Receipts end to end: a real tidsd over the real test broker; tidsctl
 * publish and subscribe keep the hub's signed receipts; the auditor's
 * tidsctl audit verify --receipts holds the ledger to them. Cutting the
 * last entries of a chain off a ledger copy together with its last
 * checkpoint passes verify --strict (which says it cannot see that), and
 * fails verify --receipts, which names the missing entries; so does
 * removing a receipted publication.
 */
#include <check.h>
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
#include "tids/ledger.h"

#define N_RECORDS 24                 /* each to the lessor twice: billing, maintenance */
#define WAIT_MS 60000

static char err[512];

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs a shell line; its output (stdout and stderr) goes to out. */
static int run(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int run(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return tids_test_shell(out, outlen, "%s 2>&1", cmd);
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

struct world {
	struct tids_test_hub hub;
	char tidsctl[600], conn_factory[2048], conn_lessor[2048], receipts[400], ledger[400];
	int64_t seq;
};

static void participant(struct world *w, const char *id, const char *role, const char *attr, char *conn, size_t len)
{
	struct tids_identity me;
	char key[500];

	ck_assert_int_eq(tids_test_hub_participant(&w->hub, id, role, "CN-SH", attr, &me), 0);
	snprintf(key, sizeof(key), "%s/%s.key", w->hub.dir, id);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &me, err, sizeof(err)), 0);
	tids_identity_wipe(&me);
	/* The hub's key pinned in a known-hubs file of the test's (the line
	 * its operator hands out: see receipts_catch_a_cut_tail). */
	snprintf(conn, len, "--hub %s --key '%s' --known-hubs '%s/known_hubs' --no-tofu", w->hub.addr, key, w->hub.dir);
}

/* Publishes n run_hours records with tidsctl, receipts kept. */
static void publish(struct world *w, int n, int batch)
{
	char path[500], out[16384];
	FILE *f;

	snprintf(path, sizeof(path), "%s/records.jsonl", w->hub.dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < n; i++)
		fprintf(f, "{\"owner\":\"factory\",\"asset_id\":\"press-%d\",\"category\":\"run_hours\",\"tier\":\"general\","
			   "\"origin\":\"CN-SH\",\"fields\":[{\"name\":\"hours\",\"value\":%d.5}]}\n", i % 3, i);
	fclose(f);
	ck_assert_msg(run(out, sizeof(out), "%s publish %s --batch %d --seq %lld --receipts '%s' < '%s'", w->tidsctl,
			  w->conn_factory, batch, (long long)w->seq, w->receipts, path) == 0, "%s", out);
	w->seq += n;
	ck_assert_msg(strstr(out, "0 refused") != NULL, "%s", out);
}

/* Takes deliveries with tidsctl until want arrived or it went idle. */
static int subscribe(struct world *w, int want, int idle_s, bool receipts)
{
	static char out[1 << 20];
	char extra[600] = "";

	if (receipts)
		snprintf(extra, sizeof(extra), "--receipts '%s'", w->receipts);
	ck_assert_msg(run(out, sizeof(out), "%s subscribe %s --purpose billing --purpose maintenance --idle %d --count %d %s",
			  w->tidsctl, w->conn_lessor, idle_s, want, extra) == 0, "%s", out);
	return count_lines(out, "\"delivery_seq\"");
}

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
			tids_ledger_verify_report_free(&rep);
		}
		sleep_ms(250);
	}
	ck_assert_msg(r == 0 && rep.entries == entries && rep.unanchored == 0,
		      "the ledger did not reach %llu signed entries (has %llu)", (unsigned long long)entries,
		      (unsigned long long)rep.entries);
	tids_ledger_verify_report_free(&rep);
}

static void sql(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sql(const char *path, const char *fmt, ...)
{
	sqlite3 *db;
	char q[2048], *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", q, msg);
	sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

START_TEST(receipts_catch_a_cut_tail)
{
	static struct world w;
	static char out[1 << 20];
	char copy[500], words[600];
	int got = 0, probes = 0;
	int64_t p, last, cut;

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(tids_test_hub_start(&w.hub, "audit.checkpoint_entries = 6"), 0);
	snprintf(w.tidsctl, sizeof(w.tidsctl), "%s/tidsctl", tids_test_build_dir());
	snprintf(w.receipts, sizeof(w.receipts), "%s/receipts", w.hub.dir);
	snprintf(w.ledger, sizeof(w.ledger), "%s/state/ledger.db", w.hub.dir);
	w.seq = (int64_t)time(NULL) * 1000;
	ck_assert_msg(run(out, sizeof(out), "%s admin --hub '%s' hub-key --address %s > '%s/known_hubs'", w.tidsctl,
			  w.hub.sock, w.hub.addr, w.hub.dir) == 0, "%s", out);
	participant(&w, "factory", "lessee", NULL, w.conn_factory, sizeof(w.conn_factory));
	participant(&w, "lessor", "lessor", "security_agreement=true", w.conn_lessor, sizeof(w.conn_lessor));
	for (int i = 0; i < 3; i++) {
		char asset[32];

		snprintf(asset, sizeof(asset), "press-%d", i);
		ck_assert_int_eq(tids_test_hub_asset(&w.hub, asset, "factory", "lessor", "sh-plant-1"), 0);
	}
	/* The lessor's purposes stand once it has subscribed, from when the
	 * router has them. */
	ck_assert_int_eq(subscribe(&w, 1, 1, false), 0);
	for (int64_t until = mono() + WAIT_MS; mono() < until; sleep_ms(100))
		if (tids_test_hub_log_count(&w.hub, "lessor is a recipient") > 0 &&
		    tids_test_hub_log_count(&w.hub, "ingress partitions assigned") > 0)
			break;
	ck_assert_int_gt(tids_test_hub_log_count(&w.hub, "lessor is a recipient"), 0);

	publish(&w, N_RECORDS, 5);
	while (got < 2 * N_RECORDS && probes++ < 20)
		got += subscribe(&w, 2 * N_RECORDS - got, 10, true);
	ck_assert_int_eq(got, 2 * N_RECORDS);
	wait_ledger(&w, 2 * N_RECORDS);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);

	/* Every receipt is held by the intact ledger; the key comes from the
	 * known-hubs file the clients pinned it in. */
	ck_assert_msg(run(out, sizeof(out), "%s audit verify --ledger '%s' --known-hubs '%s/known_hubs' --strict --receipts '%s'",
			  w.tidsctl, w.ledger, w.hub.dir, w.receipts) == 0, "%s", out);
	/* One per delivery, one per batch of five. */
	snprintf(words, sizeof(words), "%d held, 0 pruned, 0 missing, 0 differ, 0 invalid",
		 2 * N_RECORDS + (N_RECORDS + 4) / 5);
	ck_assert_msg(strstr(out, words) != NULL, "expected '%s':\n%s", words, out);
	ck_assert_msg(strstr(out, "pinned in") != NULL && strstr(out, "cannot tell") == NULL, "%s", out);

	/* Cut the tail of the longest chain at its last but one checkpoint,
	 * the last checkpoint with it. */
	p = sql_int(w.ledger, "SELECT id >> 40 FROM entry GROUP BY 1 ORDER BY count(*) DESC LIMIT 1");
	snprintf(copy, sizeof(copy), "SELECT max(id & 1099511627775) FROM entry WHERE id >> 40 = %lld", (long long)p);
	last = sql_int(w.ledger, copy);
	snprintf(copy, sizeof(copy), "SELECT max(id & 1099511627775) FROM checkpoint WHERE id >> 40 = %lld AND "
		 "(id & 1099511627775) < %lld", (long long)p, (long long)last);
	cut = sql_int(w.ledger, copy);
	ck_assert_msg(cut > 0 && cut < last, "chain %lld: entries to %lld, no checkpoint before its last", (long long)p,
		      (long long)last);
	snprintf(copy, sizeof(copy), "%s/cut.db", w.hub.dir);
	sql(w.ledger, "VACUUM INTO '%s'", copy);
	sql(copy, "DELETE FROM entry WHERE id > %lld AND id >> 40 = %lld; DELETE FROM record WHERE first > %lld AND "
		  "first >> 40 = %lld; DELETE FROM checkpoint WHERE id > %lld AND id >> 40 = %lld",
	    (long long)(p << 40 | cut), (long long)p, (long long)(p << 40 | cut), (long long)p,
	    (long long)(p << 40 | cut), (long long)p);

	/* verify alone passes, strict too, and says what it cannot see. */
	ck_assert_msg(run(out, sizeof(out), "%s audit verify --ledger '%s' --hub-key @%s/hub.pub --strict", w.tidsctl, copy,
			  w.hub.dir) == 0, "%s", out);
	ck_assert_msg(strstr(out, "OK") != NULL && strstr(out, "cannot tell whether the last entries") != NULL &&
		      strstr(out, "truncated tail") != NULL, "%s", out);
	/* With the receipts it fails, naming the missing entries. */
	ck_assert_msg(run(out, sizeof(out), "%s audit verify --ledger '%s' --hub-key @%s/hub.pub --strict --receipts '%s'",
			  w.tidsctl, copy, w.hub.dir, w.receipts) == 1, "%s", out);
	snprintf(words, sizeof(words), "entry %lld:%lld is missing", (long long)p, (long long)cut + 1);
	ck_assert_msg(strstr(out, words) != NULL, "expected '%s':\n%s", words, out);
	snprintf(words, sizeof(words), "ends at %lld:%lld", (long long)p, (long long)cut);
	ck_assert_msg(strstr(out, words) != NULL, "expected '%s':\n%s", words, out);
	/* Each cut entry was a receipted delivery. */
	ck_assert_msg(count_lines(out, "MISSING: delivery receipt") >= (int)(last - cut), "%s", out);
	ck_assert_msg(strstr(out, "FAILED: the ledger does not hold what the hub signed") != NULL, "%s", out);

	/* A publication removed (its entries left alone): named too. */
	sql(w.ledger, "VACUUM INTO '%s.2'", copy);
	snprintf(words, sizeof(words), "%s.2", copy);
	sql(words, "DELETE FROM ingress WHERE part = %lld AND off = (SELECT max(off) FROM ingress WHERE part = %lld)",
	    (long long)p, (long long)p);
	ck_assert_msg(run(out, sizeof(out), "%s audit verify --ledger '%s' --hub-key @%s/hub.pub --receipts '%s'",
			  w.tidsctl, words, w.hub.dir, w.receipts) == 1, "%s", out);
	ck_assert_msg(strstr(out, "MISSING: ingest receipt for batch") != NULL &&
		      strstr(out, "missing from the ledger") != NULL && count_lines(out, "MISSING") == 1, "%s", out);

	/* Receipts are the hub's: a hub key of someone else makes them invalid. */
	{
		struct tids_identity stranger;
		char b64[TIDS_KEY_BASE64_BYTES];

		ck_assert_int_eq(tids_identity_generate(&stranger), 0);
		tids_key_to_base64(stranger.sign_pk, b64);
		ck_assert_int_eq(run(out, sizeof(out), "%s audit verify --ledger '%s' --hub-key %s --receipts '%s'", w.tidsctl,
				     w.ledger, b64, w.receipts), 1);
		ck_assert_msg(strstr(out, "INVALID") != NULL, "%s", out);
		tids_identity_wipe(&stranger);
	}
	tids_test_hub_destroy(&w.hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("receipts");
	TCase *tc = tcase_create("real tidsd, real Kafka");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, receipts_catch_a_cut_tail);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
