/*
 * The evaluation report end to end: a real tidsd routes run hours to a
 * domestic lessor, shift records with personal information to a service in
 * Singapore under a grant, and recipes that everyone is denied; with the
 * daemon stopped, tidsctl audit report turns its ledger into JSON, whose
 * numbers must match the ledger's own entries, and into an HTML page that a
 * real headless Chromium renders with every chart present (its screenshot
 * is kept under the build directory). A tampered copy of the ledger makes
 * the report say that it does not verify.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

#define WAIT_MS 60000
#define N_HOURS 4
#define N_SHIFTS 3
#define INDIVIDUALS 10
#define N_OUTPUTS 5

static char err[512];

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs a shell line; its output (stdout and stderr) into out. */
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

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	ck_assert_msg(f != NULL, "%s is missing", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

struct world {
	struct tids_test_hub hub;
	struct tids_identity factory, lessor, service, regulator;
	char ledger[400], hub_b64[TIDS_KEY_BASE64_BYTES], factory_b64[TIDS_KEY_BASE64_BYTES];
	char records[400];           /* what the factory published, as JSON lines */
	int64_t t0, t1;
	double hours, outputs;       /* the run hours and output counts of press-7 */
};

static struct tids_client *subscriber(struct world *w, const struct tids_identity *id, const char *purpose)
{
	const char *purposes[] = { purpose };
	struct tids_client *c = tids_test_hub_connect(&w->hub, id);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(tids_client_subscribe(c, purposes, 1, 100, err, sizeof(err)) == 0, "subscribe: %s", err);
	return c;
}

/* An output count of press-7, three hours old: its hourly window is
 * closed, so the lessor's aggregate of it leaves at once. */
static struct tids_bytes output_record(int i, FILE *json)
{
	struct tids_field f[2] = { { .name = "count", .value = { .kind = TIDS_VALUE_INT, .as.i = 100 + i } },
				   { .name = "sku", .value = { .kind = TIDS_VALUE_TEXT } } };
	struct tids_record r = { .owner = "factory.sh1", .asset_id = "press-7", .category = "output_count",
				 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .schema = "", .fields = f, .n_fields = 2 };
	struct tids_jw w;
	struct tids_bytes b;
	uint8_t *p;

	r.produced_at_ms = (wall() - 3 * 3600000) / 3600000 * 3600000 + 60000 * i;
	f[1].value.as.bytes.data = (const uint8_t *)"SKU-9";
	f[1].value.as.bytes.len = 5;
	randombytes_buf(r.record_id, TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(tids_wire_encode_record(&r, &p, &b.len), 0);
	b.data = p;
	tids_jw_init(&w);
	tids_jw_record(&w, &r);
	fprintf(json, "%.*s\n", (int)w.len, w.buf);
	tids_jw_free(&w);
	return b;
}

static struct tids_bytes record(const char *category, enum tids_tier tier, bool personal, int i, FILE *json)
{
	struct tids_field f[2] = { { .name = "hours", .value = { .kind = TIDS_VALUE_REAL, .as.d = 7.5 + i } },
				   { .name = "operator", .value = { .kind = TIDS_VALUE_TEXT } } };
	static const char *const personal_label[] = { "personal" };
	struct tids_record r = { .owner = "factory.sh1", .asset_id = "press-7", .category = category, .tier = tier,
				 .origin = "CN-SH", .produced_at_ms = wall(), .schema = "", .fields = f,
				 .n_fields = personal ? 2 : 1, .personal = personal,
				 .individuals = personal ? INDIVIDUALS : 0 };
	struct tids_bytes b;
	uint8_t *p;

	f[1].value.as.bytes.data = (const uint8_t *)"Li Wei";
	f[1].value.as.bytes.len = 6;
	f[1].labels = personal_label;
	f[1].n_labels = 1;
	randombytes_buf(r.record_id, TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(tids_wire_encode_record(&r, &p, &b.len), 0);
	b.data = p;
	{
		struct tids_jw w;

		tids_jw_init(&w);
		tids_jw_record(&w, &r);
		fprintf(json, "%.*s\n", (int)w.len, w.buf);
		tids_jw_free(&w);
	}
	return b;
}

/* A hub with a day of traffic of three kinds, stopped, its ledger whole. */
static void world_run(struct world *w)
{
	struct tids_client *subs[3], *c;
	struct tids_bytes recs[N_HOURS + N_SHIFTS + N_OUTPUTS + 1];
	FILE *json;
	struct tids_publish_ack ack;
	struct tids_grant g = { .grant_id = "shifts-hr", .owner = "factory.sh1", .grantee = "hr.sg" };
	static const char *const cats[] = { "shifts" }, *const purposes[] = { "maintenance" };
	size_t n = 0;

	memset(w, 0, sizeof(*w));
	w->t0 = wall() - 1000;
	ck_assert_int_eq(tids_test_hub_start(&w->hub, NULL), 0);
	snprintf(w->ledger, sizeof(w->ledger), "%s/state/ledger.db", w->hub.dir);
	tids_key_to_base64(w->hub.hub_pk, w->hub_b64);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory.sh1", "factory", "CN-SH", NULL, &w->factory), 0);
	tids_key_to_base64(w->factory.sign_pk, w->factory_b64);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &w->lessor), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "hr.sg", "service", "SG", NULL, &w->service), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "reg.sh", "regulator", "CN-SH", NULL, &w->regulator), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w->hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	for (int64_t until = mono() + WAIT_MS; mono() < until; sleep_ms(200))
		if (tids_test_hub_log_count(&w->hub, "ingress partitions assigned") > 0)
			break;
	/* The owner lets the service in Singapore have its shift records. */
	g.categories = (struct tids_strlist){ cats, 1 };
	g.purposes = (struct tids_strlist){ purposes, 1 };
	g.not_before_ms = wall() - 60000;
	g.not_after_ms = wall() + 86400000;
	ck_assert_ptr_nonnull(c = tids_test_hub_connect(&w->hub, &w->factory));
	ck_assert_msg(tids_client_issue_grant(c, &w->factory, &g, err, sizeof(err)) == 0, "grant: %s", err);
	subs[0] = subscriber(w, &w->lessor, "billing");
	subs[1] = subscriber(w, &w->service, "maintenance");
	subs[2] = subscriber(w, &w->regulator, "statistics");
	/* The standing subscriptions reach the router asynchronously (hub
	 * state first), and none of the three has subscribed before: what the
	 * router routes before it has a subscriber's purposes goes to nobody,
	 * and the deliveries awaited below would never come. Published once
	 * the router says it has all three, not after a guess of how long
	 * that takes. */
	for (int i = 0; i < 3; i++) {
		static const char *const has[] = { "router: lessor.wh is a recipient", "router: hr.sg is a recipient",
						   "router: reg.sh is a recipient" };

		ck_assert_msg(tids_test_hub_await_log(&w->hub, has[i], 1, WAIT_MS) == 0, "tidsd never logged '%s'",
			      has[i]);
	}
	snprintf(w->records, sizeof(w->records), "%s/published.jsonl", w->hub.dir);
	ck_assert_ptr_nonnull(json = fopen(w->records, "w"));
	for (int i = 0; i < N_HOURS; i++) {
		recs[n++] = record("run_hours", TIDS_TIER_GENERAL, false, i, json);
		w->hours += 7.5 + i;
	}
	for (int i = 0; i < N_SHIFTS; i++)
		recs[n++] = record("shifts", TIDS_TIER_GENERAL, true, i, json);
	recs[n++] = record("recipe", TIDS_TIER_IMPORTANT, false, 0, json);
	for (int i = 0; i < N_OUTPUTS; i++) {
		recs[n++] = output_record(i, json);
		w->outputs += 100 + i;
	}
	fclose(json);
	ck_assert_msg(tids_client_publish(c, &w->factory, "factory.sh1", 1, recs, n, &ack, err, sizeof(err)) == 0,
		      "publish: %s", err);
	ck_assert_uint_eq(ack.accepted, n);
	tids_publish_ack_free(&ack);
	for (size_t i = 0; i < n; i++)
		free((void *)recs[i].data);
	/* The service receives every shift record: routing is done for them. */
	for (int got = 0; got < N_SHIFTS;) {
		struct tids_delivery d;
		int r = tids_client_next_delivery(subs[1], &d, 30000, err, sizeof(err));

		ck_assert_msg(r == 1, "the service got %d of %d shift records: %s", got, N_SHIFTS, err);
		got += strcmp(d.record.category, "shifts") == 0;
		tids_delivery_free(&d);
	}
	/* The lessor receives the hourly aggregate of the output counts. */
	for (int got = 0; got < 1;) {
		struct tids_delivery d;
		int r = tids_client_next_delivery(subs[0], &d, 30000, err, sizeof(err));

		ck_assert_msg(r == 1, "the lessor got no aggregate of the output counts: %s", err);
		got += strcmp(d.record.category, "output_count") == 0;
		tids_delivery_free(&d);
	}
	sleep_ms(2000);              /* the other decisions of the same transactions index */
	for (int i = 0; i < 3; i++)
		tids_client_free(subs[i]);
	tids_client_free(c);
	/* Stopping signs the last checkpoints and drains the indexer. */
	ck_assert_int_eq(tids_test_hub_stop(&w->hub), 0);
	w->t1 = wall() + 1000;
}

/* The ledger's own answer, entry by entry, to compare the report with. */
struct truth {
	uint64_t entries, permitted, denied, to_sg, individuals;
};

static int tally(void *ctx, const struct tids_audit_entry *e)
{
	struct truth *t = ctx;

	t->entries++;
	if (e->decision == TIDS_DECISION_DENY)
		t->denied++;
	else
		t->permitted++;
	if (strcmp(e->destination, "SG") == 0 && e->decision != TIDS_DECISION_DENY)
		t->to_sg++;
	for (size_t i = 0; i < e->n_counts; i++)
		if (strcmp(e->counts[i].name, "pi_individuals_exported") == 0)
			t->individuals += e->counts[i].amount;
	return 0;
}

static uint64_t u64(const struct tids_json *v)
{
	uint64_t x = 0;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(tids_json_uint64(v, &x), 0);
	return x;
}

static uint64_t tier_sum(const struct tids_json *o)
{
	return u64(tids_json_get(o, "general")) + u64(tids_json_get(o, "important")) + u64(tids_json_get(o, "core"));
}

START_TEST(report_json_matches_the_ledger)
{
	struct world w;
	struct truth t = { 0 };
	struct tids_ledger_filter f = { 0 };
	struct tids_ledger *l;
	struct tids_json_doc *doc;
	const struct tids_json *root, *v;
	char out[8192], json[512];
	uint64_t pi = 0, sg = 0, flows = 0;
	size_t len;
	char *text;

	world_run(&w);
	ck_assert_int_eq(tids_ledger_open(w.ledger, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_ledger_query(l, &f, tally, &t, err, sizeof(err)), 0);
	tids_ledger_close(l);
	ck_assert_uint_ge(t.denied, 3);            /* the recipe, to everyone */
	ck_assert_uint_eq(t.individuals, N_SHIFTS * INDIVIDUALS);
	snprintf(json, sizeof(json), "%s/report.json", w.hub.dir);
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit report --ledger %s --since %lld --until %lld --hub-key %s "
			  "--format json --output %s", tids_test_build_dir(), w.ledger, (long long)w.t0, (long long)w.t1,
			  w.hub_b64, json) == 0, "%s", out);
	text = slurp(json, &len);
	ck_assert_msg(tids_json_parse(text, len, &doc, err, sizeof(err)) == 0, "report JSON: %s", err);
	root = tids_json_root(doc);
	ck_assert_uint_eq(tier_sum(tids_json_get(root, "permitted")), t.permitted);
	ck_assert_uint_eq(tier_sum(tids_json_get(root, "denied")), t.denied);
	v = tids_json_get(root, "flows");
	for (size_t i = 0; i < tids_json_len(v); i++)
		flows += tier_sum(tids_json_get(tids_json_at(v, i), "permitted")) +
			 tier_sum(tids_json_get(tids_json_at(v, i), "denied"));
	ck_assert_uint_eq(flows, t.entries);
	v = tids_json_get(root, "countries");
	for (size_t i = 0; i < tids_json_len(v); i++)
		if (strcmp(tids_json_string(tids_json_get(tids_json_at(v, i), "to")), "SG") == 0)
			sg += u64(tids_json_get(tids_json_at(v, i), "permitted"));
	ck_assert_uint_eq(sg, t.to_sg);
	ck_assert_uint_ge(sg, N_SHIFTS);
	v = tids_json_get(root, "counters");
	for (size_t i = 0; i < tids_json_len(v); i++)
		if (strcmp(tids_json_string(tids_json_get(tids_json_at(v, i), "counter")), "pi_individuals_exported") == 0)
			pi += u64(tids_json_get(tids_json_at(v, i), "permitted"));
	ck_assert_uint_eq(pi, N_SHIFTS * INDIVIDUALS);
	ck_assert_uint_gt(tids_json_len(tids_json_get(root, "denial_rules")), 0);
	v = tids_json_get(root, "verification");
	ck_assert(tids_json_bool(tids_json_get(v, "verified")));
	ck_assert(tids_json_bool(tids_json_get(v, "ok")));
	ck_assert_uint_eq(u64(tids_json_get(v, "entries")), t.entries);
	tids_json_free(doc);
	free(text);
	/* A period before any decision counts nothing. */
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit report --ledger %s --since %lld --until %lld --format json",
			  tids_test_build_dir(), w.ledger, (long long)w.t0 - 86400000, (long long)w.t0 - 3600000) == 0,
		      "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\"permitted\":{\"general\":0,\"important\":0,\"core\":0}"));
	ck_assert_ptr_nonnull(strstr(out, "\"verified\":false"));
	/* A period is required, and must be one. */
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit report --ledger %s", tids_test_build_dir(), w.ledger), 2);
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit report --ledger %s --since %lld --until %lld",
			     tids_test_build_dir(), w.ledger, (long long)w.t1, (long long)w.t0), 2);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* Renders path in headless Chromium: the DOM after rendering into dom, a
 * screenshot into png. */
static void render(const char *path, const char *png, char *dom, size_t domlen)
{
	char profile[512];

	snprintf(profile, sizeof(profile), "%s.chromium", path);
	ck_assert_msg(access("/usr/bin/chromium", X_OK) == 0,
		      "Debian's chromium is not installed (make check installs it with packaging/deps.sh --test)");
	/* Chromium must not reach out: no background networking, no sync. */
#define CHROMIUM "/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run " \
		 "--disable-background-networking --disable-component-update --disable-sync " \
		 "--hide-scrollbars --window-size=1100,2600 --user-data-dir="
	ck_assert_msg(run(dom, domlen, CHROMIUM "%s --dump-dom 'file://%s' 2>/dev/null", profile, path) == 0, "%s", dom);
	if (png != NULL) {
		char out[4096];
		struct stat st;

		unlink(png);
		ck_assert_msg(run(out, sizeof(out), CHROMIUM "%s --screenshot='%s' 'file://%s'", profile, png, path) == 0,
			      "%s", out);
		ck_assert_msg(stat(png, &st) == 0 && st.st_size > 10000, "no screenshot at %s", png);
	}
	run(dom + strlen(dom), 1, "rm -rf '%s'", profile);
}

START_TEST(report_html_renders_in_chromium)
{
	static const char *const charts[] = { "chart-flows", "chart-matrix", "chart-denials", "chart-approvals",
					      "chart-counters" };
	struct world w;
	char out[4096], html[512], png[512], copy[512], *dom = malloc(1 << 20);

	world_run(&w);
	snprintf(html, sizeof(html), "%s/report.html", w.hub.dir);
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit report --ledger %s --since %lld --until %lld --hub-key %s "
			  "--html --output %s --title 'Evaluation of the Shanghai hub'", tids_test_build_dir(), w.ledger,
			  (long long)w.t0, (long long)w.t1, w.hub_b64, html) == 0, "%s", out);
	snprintf(png, sizeof(png), "%s/test-artifacts", tids_test_build_dir());
	mkdir(png, 0755);
	snprintf(png, sizeof(png), "%s/test-artifacts/audit-report.png", tids_test_build_dir());
	render(html, png, dom, 1 << 20);
	for (size_t i = 0; i < sizeof(charts) / sizeof(charts[0]); i++) {
		char id[64];

		snprintf(id, sizeof(id), "<svg id=\"%s\"", charts[i]);
		ck_assert_msg(strstr(dom, id) != NULL, "the rendered page has no %s", charts[i]);
	}
	ck_assert_ptr_nonnull(strstr(dom, "Evaluation of the Shanghai hub"));
	ck_assert_ptr_nonnull(strstr(dom, "class=\"bar tier-general\""));
	ck_assert_ptr_nonnull(strstr(dom, "class=\"cell cross-border\""));
	ck_assert_ptr_nonnull(strstr(dom, "class=\"threshold\""));
	ck_assert_ptr_nonnull(strstr(dom, "The ledger verifies"));
	ck_assert_ptr_null(strstr(dom, "http"));                 /* nothing to fetch from anywhere */
	/* A copy of the ledger with one entry's bytes changed: the report
	 * says it does not verify. */
	{
		sqlite3 *db;

		snprintf(copy, sizeof(copy), "%s/tampered.db", w.hub.dir);
		ck_assert_int_eq(sqlite3_open_v2(w.ledger, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		snprintf(out, sizeof(out), "VACUUM INTO '%s'", copy);
		ck_assert_int_eq(sqlite3_exec(db, out, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		ck_assert_int_eq(sqlite3_open(copy, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db, "UPDATE entry SET bytes = substr(bytes, 1, length(bytes) - 1) || x'00'"
					      " WHERE id = (SELECT min(id) FROM entry)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit report --ledger %s --since %lld --until %lld --hub-key %s "
			  "--output %s", tids_test_build_dir(), copy, (long long)w.t0, (long long)w.t1, w.hub_b64, html) == 0,
		      "%s", out);
	render(html, NULL, dom, 1 << 20);
	ck_assert_ptr_nonnull(strstr(dom, "does NOT verify"));
	free(dom);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* The lessor's bill: signed by the hub, holding in the ledger, the same
 * totals as the lessee's own records, and failing after any edit. */
START_TEST(lessor_statement)
{
	struct world w;
	char out[16384], st[512], bad[512];
	int64_t since, until;

	world_run(&w);
	since = w.t0 - 4 * 3600000;
	until = w.t1;
	snprintf(st, sizeof(st), "%s/statement.jsonl", w.hub.dir);
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit statement --ledger %s --lessor lessor.wh --asset press-7 "
			  "--since %lld --until %lld --key %s/hub.key -o %s", tids_test_build_dir(), w.ledger,
			  (long long)since, (long long)until, w.hub.dir, st) == 0, "%s", out);
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit check-statement --hub-key %s --ledger %s --publisher-key %s "
			  "%s", tids_test_build_dir(), w.hub_b64, w.ledger, w.factory_b64, st) == 0, "%s", out);
	{
		char want[128];

		snprintf(want, sizeof(want), "use run_hours: %d lines, %d records, hours %.17g", N_HOURS, N_HOURS, w.hours);
		ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
		snprintf(want, sizeof(want), "output output_count: 1 lines, %d records, count %.17g", N_OUTPUTS, w.outputs);
		ck_assert_msg(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
	}
	/* The same verdict and totals as JSON; the writer's --json says what it wrote. */
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit check-statement --json --hub-key %s --ledger %s %s",
			  tids_test_build_dir(), w.hub_b64, w.ledger, st) == 0, "%s", out);
	ck_assert_msg(strstr(out, "{\"valid\":true,\"hub_id\":\"") != NULL &&
		      strstr(out, "\"lessor\":\"lessor.wh\",\"asset\":\"press-7\",") != NULL &&
		      strstr(out, "\"ledger_checked\":true,\"totals\":[{\"kind\":\"use\",\"category\":\"run_hours\","
				  "\"field\":\"hours\",\"lines\":") != NULL, "%s", out);
	{
		char st2[600];

		snprintf(st2, sizeof(st2), "%s.2", st);
		ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit statement --json --ledger %s --lessor lessor.wh "
				  "--asset press-7 --since %lld --until %lld --key %s/hub.key -o %s", tids_test_build_dir(),
				  w.ledger, (long long)since, (long long)until, w.hub.dir, st2) == 0, "%s", out);
		ck_assert_msg(strstr(out, "{\"file\":\"") != NULL && strstr(out, "\"totals\":[{\"kind\":\"use\",") != NULL,
			      "%s", out);
	}
	/* The lessee, from what it published, gets the same totals. */
	ck_assert_msg(run(out, sizeof(out), "%s/tidsctl audit statement --lessor lessor.wh --asset press-7 --since %lld "
			  "--until %lld --from-records %s", tids_test_build_dir(), (long long)since, (long long)until,
			  w.records) == 0, "%s", out);
	{
		char want[160];
		struct tids_jw h, o;

		/* Numbers as the JSON writer writes them. */
		tids_jw_init(&h);
		tids_jw_double(&h, w.hours);
		tids_jw_init(&o);
		tids_jw_double(&o, w.outputs);
		snprintf(want, sizeof(want), "{\"kind\":\"use\",\"category\":\"run_hours\",\"field\":\"hours\",\"records\":%d,"
			 "\"sum\":%.*s}", N_HOURS, (int)h.len, h.buf);
		ck_assert_msg(strstr(out, want) != NULL, "no '%s' in %s", want, out);
		snprintf(want, sizeof(want), "{\"kind\":\"output\",\"category\":\"output_count\",\"field\":\"count\","
			 "\"records\":%d,\"sum\":%.*s}", N_OUTPUTS, (int)o.len, o.buf);
		ck_assert_msg(strstr(out, want) != NULL, "no '%s' in %s", want, out);
		tids_jw_free(&h);
		tids_jw_free(&o);
	}
	/* Any edit fails: a value, a line taken out, the period. */
	snprintf(bad, sizeof(bad), "%s/edited.jsonl", w.hub.dir);
	ck_assert_int_eq(run(out, sizeof(out), "sed 's/\"value\":7.5,/\"value\":8.5,/' %s > %s", st, bad), 0);
	ck_assert_int_eq(run(out, sizeof(out), "cmp -s %s %s", st, bad), 1);
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit check-statement --hub-key %s --ledger %s %s",
			     tids_test_build_dir(), w.hub_b64, w.ledger, bad), 1);
	ck_assert_msg(strstr(out, "digest") != NULL, "%s", out);
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit check-statement --json --hub-key %s --ledger %s %s",
			     tids_test_build_dir(), w.hub_b64, w.ledger, bad), 1);
	ck_assert_msg(strstr(out, "{\"valid\":false,\"bad_line\":") != NULL, "%s", out);
	ck_assert_int_eq(run(out, sizeof(out), "sed '2d' %s > %s", st, bad), 0);
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit check-statement --hub-key %s %s", tids_test_build_dir(),
			     w.hub_b64, bad), 1);
	ck_assert_int_eq(run(out, sizeof(out), "sed '1s/\"since_ms\":[0-9]*/\"since_ms\":0/' %s > %s", st, bad), 0);
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit check-statement --hub-key %s %s", tids_test_build_dir(),
			     w.hub_b64, bad), 1);
	/* Signed by someone else: refused. */
	ck_assert_int_eq(run(out, sizeof(out), "%s/tidsctl audit check-statement --hub-key %s %s", tids_test_build_dir(),
			     w.factory_b64, st), 1);
	ck_assert_ptr_nonnull(strstr(out, "not signed by the hub key"));
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* tidsctl monitor in a real terminal (tmux): it draws, refreshes in
 * place, quits on q and gives the terminal back as it found it. */
START_TEST(monitor_under_tmux)
{
	struct world w;
	char out[16384], first[16384], session[64], cmd[2048];
	bool gone = false;

	world_run(&w);
	ck_assert_msg(access("/usr/bin/tmux", X_OK) == 0, "tmux is not installed (make check installs it)");
	snprintf(session, sizeof(session), "tids-monitor-%ld", (long)getpid());
	snprintf(cmd, sizeof(cmd), "%s/tidsctl monitor --ledger %s --interval 1 --window 1h; echo EXIT=$?; "
		 "stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 60", tids_test_build_dir(), w.ledger);
	ck_assert_int_eq(run(out, sizeof(out), "tmux new-session -d -s %s -x 110 -y 50 \"%s\"", session, cmd), 0);
	sleep_ms(2500);
	ck_assert_int_eq(run(first, sizeof(first), "tmux capture-pane -p -t %s", session), 0);
	ck_assert_msg(strstr(first, "DECISIONS BY TIER") != NULL && strstr(first, "FLOWS (from > to)") != NULL &&
		      strstr(first, "DENIALS BY RULE") != NULL, "the monitor did not draw:\n%s", first);
	ck_assert_msg(strstr(first, "CN > SG  *") != NULL, "no cross-border flow shown:\n%s", first);
	/* The network's hubs: this one, whose first hour of statistics is not
	 * over yet, is expected but not called silent. */
	ck_assert_msg(strstr(first, "HUBS (signed statistics)") != NULL && strstr(first, "none in 26 h") != NULL &&
		      strstr(first, "SILENT") == NULL, "no hubs panel:\n%s", first);
	ck_assert_msg(strstr(first, "recipe") != NULL, "no recipe denial shown:\n%s", first);
	{
		/* The permitted general decisions, as the ledger counts them. */
		struct tids_ledger *l;
		struct truth t = { 0 };
		struct tids_ledger_filter f = { .tier = TIDS_TIER_GENERAL };
		char row[128];
		uint64_t perm;

		ck_assert_int_eq(tids_ledger_open(w.ledger, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_ledger_query(l, &f, tally, &t, err, sizeof(err)), 0);
		tids_ledger_close(l);
		perm = t.permitted;
		snprintf(row, sizeof(row), "general %llu %llu", (unsigned long long)perm, (unsigned long long)t.denied);
		{
			/* Compare with the columns squeezed to single spaces. */
			char squeezed[16384];
			size_t k = 0;

			for (size_t i = 0; first[i] != '\0' && k + 1 < sizeof(squeezed); i++)
				if (first[i] != ' ' || (k > 0 && squeezed[k - 1] != ' '))
					squeezed[k++] = first[i];
			squeezed[k] = '\0';
			ck_assert_msg(strstr(squeezed, row) != NULL, "no '%s' in:\n%s", row, first);
		}
	}
	/* It refreshes in place: the clock moves, the screen stays one screen. */
	sleep_ms(2200);
	ck_assert_int_eq(run(out, sizeof(out), "tmux capture-pane -p -t %s", session), 0);
	ck_assert_msg(strcmp(out, first) != 0, "the view did not refresh");
	ck_assert_ptr_null(strstr(strstr(out, "tids monitor") + 1, "tids monitor"));
	/* q quits, with the terminal's modes restored. */
	ck_assert_int_eq(run(out, sizeof(out), "tmux send-keys -t %s q", session), 0);
	for (int i = 0; i < 50 && !gone; i++) {
		sleep_ms(100);
		run(out, sizeof(out), "tmux capture-pane -p -t %s", session);
		gone = strstr(out, "EXIT=0") != NULL;
	}
	ck_assert_msg(gone, "the monitor did not quit on q:\n%s", out);
	sleep_ms(300);
	run(out, sizeof(out), "tmux capture-pane -p -t %s", session);
	ck_assert_msg(strstr(out, "\nicanon") != NULL && strstr(out, "-icanon") == NULL,
		      "the terminal was left in raw mode:\n%s", out);
	ck_assert_ptr_null(strstr(out, "DECISIONS BY TIER"));     /* the alternate screen is gone */
	run(out, sizeof(out), "tmux kill-session -t %s", session);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, report_json_matches_the_ledger);
	tcase_add_test(tc, report_html_renders_in_chromium);
	tcase_add_test(tc, lessor_statement);
	tcase_add_test(tc, monitor_under_tmux);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
