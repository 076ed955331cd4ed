/*
 * tidsctl audit statement and check-statement: a lessor's usage bill of a
 * period (pay per use, pay per output) proven from the ledger and signed by
 * the hub; checked offline against the ledger. With --from-records the
 * lessee totals its own published records the same way, to compare.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_audit.h"
#include "tids/error.h"

static const char statement_help[] =
	"usage: tidsctl audit statement [--ledger FILE] --lessor ID --asset ID\n"
	"                               (--period YYYY-MM | --since TIME --until TIME)\n"
	"                               (--key HUBKEYFILE | --from-records FILE)\n"
	"                               [--purpose P] [--use CATEGORY=FIELD]... [--output-category C]...\n"
	"                               [--output-field C=FIELD]... [-o FILE [--json]]\n"
	"The usage bill of a period for a leased asset, from what the lessor received:\n"
	"one line per use (a record of a use category: default run_hours=hours and\n"
	"cycles=cycles, counted once) and per output (an aggregate of an output category,\n"
	"default output_count), each naming its audit entry, then the totals; signed\n"
	"with the hub key (--key). --period is a calendar month in UTC. Uses count by\n"
	"their record's time, outputs by their window's start.\n"
	"--from-records FILE (JSON lines, as tidsctl publish reads): the lessee's own\n"
	"totals of the same period from the records it published (outputs summed over\n"
	"--output-field, default output_count=count), printed as JSON to compare.\n";

static const char check_help[] =
	"usage: tidsctl audit check-statement --hub-key KEY [--ledger FILE] [--publisher-key KEY] FILE\n"
	"Checks a statement offline: the hub's signature over every byte; with --ledger,\n"
	"that the ledger verifies, holds every line as stated (entry, hash, record or\n"
	"aggregate, signed by a checkpoint), holds no line the statement left out, and\n"
	"that the totals add up; with --publisher-key, each use's batch signature too.\n"
	"Exit 0 when it holds, 1 with the first problem when it does not. --json prints\n"
	"{valid, hub_id, lessor, asset, since_ms, until_ms, lines, ledger_checked, totals}\n"
	"or {valid, bad_line, what}.\n";

/* Totals as JSON (key "totals"), the fields of the lessee's totals plus lines. */
static void jw_totals(struct tids_jw *w, const struct tids_statement_totals *t)
{
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
}

static int write_file(void *ctx, const void *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : TIDS_EIO;
}

/* "2026-11": the month in UTC. */
static int parse_month(const char *s, int64_t *since, int64_t *until)
{
	int y, m;
	char tail;
	struct tm a = { 0 }, b = { 0 };

	if (sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 || m > 12 || y < 1970)
		return cli_fail("--period %s: a month like 2026-11", s) + 1;
	a.tm_year = y - 1900;
	a.tm_mon = m - 1;
	a.tm_mday = 1;
	b = a;
	b.tm_mon = m % 12;
	b.tm_year = a.tm_year + (m == 12);
	*since = (int64_t)timegm(&a) * 1000;
	*until = (int64_t)timegm(&b) * 1000;
	return 0;
}

#define PAIRS_MAX TIDS_STATEMENT_CATEGORIES_MAX

struct pairs {
	char store[PAIRS_MAX][2][TIDS_NAME_MAX + 1];
	struct tids_statement_use v[PAIRS_MAX];
	size_t n;
};

static int add_pair(struct pairs *p, const char *arg, const char *opt)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || eq[1] == '\0' || (size_t)(eq - arg) > TIDS_NAME_MAX || strlen(eq + 1) > TIDS_NAME_MAX)
		return cli_fail("%s %s: CATEGORY=FIELD", opt, arg) + 1;
	if (p->n == PAIRS_MAX)
		return cli_fail("%s: at most %d", opt, PAIRS_MAX) + 1;
	snprintf(p->store[p->n][0], sizeof(p->store[0][0]), "%.*s", (int)(eq - arg), arg);
	snprintf(p->store[p->n][1], sizeof(p->store[0][1]), "%s", eq + 1);
	p->v[p->n] = (struct tids_statement_use){ p->store[p->n][0], p->store[p->n][1] };
	p->n++;
	return 0;
}

/* The lessee's side: its own records of the asset in the period. */
static int lessee_totals(const char *path, const struct tids_statement_request *rq, const struct pairs *out_fields)
{
	struct tids_statement_totals t = { .n = 0 };
	FILE *f = fopen(path, "r");
	char *line = NULL, err[256];
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	struct tids_jw w;
	int rc = EXIT_OK;

	if (f == NULL)
		return cli_fail("%s: cannot read it", path);
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct tids_json_doc *doc;
		struct tids_record rec;
		const char *field = NULL;
		bool output = false;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		if (tids_json_parse(line, (size_t)len, &doc, err, sizeof(err)) != 0 ||
		    tids_json_to_record(tids_json_root(doc), &rec, err, sizeof(err)) != 0) {
			if (doc != NULL)
				tids_json_free(doc);
			rc = cli_fail("%s:%u: %s", path, lineno, err);
			break;
		}
		tids_json_free(doc);
		for (size_t i = 0; i < rq->n_uses && field == NULL; i++)
			if (strcmp(rq->uses[i].category, rec.category) == 0)
				field = rq->uses[i].field;
		for (size_t i = 0; i < rq->n_outputs && field == NULL; i++)
			if (strcmp(rq->outputs[i], rec.category) == 0) {
				output = true;
				field = "count";
				for (size_t k = 0; k < out_fields->n; k++)
					if (strcmp(out_fields->v[k].category, rec.category) == 0)
						field = out_fields->v[k].field;
			}
		if (field != NULL && strcmp(rec.asset_id, rq->asset) == 0 && rec.produced_at_ms >= rq->since_ms &&
		    rec.produced_at_ms < rq->until_ms) {
			struct tids_statement_total *x = NULL;

			for (size_t k = 0; k < t.n; k++)
				if (strcmp(t.by[k].category, rec.category) == 0)
					x = &t.by[k];
			if (x == NULL && t.n < TIDS_STATEMENT_CATEGORIES_MAX) {
				x = &t.by[t.n++];
				x->output = output;
				snprintf(x->category, sizeof(x->category), "%s", rec.category);
				snprintf(x->field, sizeof(x->field), "%s", field);
			}
			for (size_t i = 0; x != NULL && i < rec.n_fields; i++)
				if (strcmp(rec.fields[i].name, field) == 0) {
					const struct tids_value *v = &rec.fields[i].value;

					x->sum += v->kind == TIDS_VALUE_INT ? (double)v->as.i : v->kind == TIDS_VALUE_UINT ?
						  (double)v->as.u : v->kind == TIDS_VALUE_REAL ? v->as.d : 0;
					x->records++;
				}
		}
		tids_record_free(&rec);
	}
	free(line);
	fclose(f);
	if (rc != EXIT_OK)
		return rc;
	tids_jw_init(&w);
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "lessee_totals");
	tids_jw_array_begin(&w);
	for (size_t i = 0; i < t.n; i++) {
		tids_jw_object_begin(&w);
		tids_jw_key(&w, "kind");
		tids_jw_string(&w, t.by[i].output ? "output" : "use");
		tids_jw_key(&w, "category");
		tids_jw_string(&w, t.by[i].category);
		tids_jw_key(&w, "field");
		tids_jw_string(&w, t.by[i].field);
		tids_jw_key(&w, "records");
		tids_jw_uint64(&w, t.by[i].records);
		tids_jw_key(&w, "sum");
		tids_jw_double(&w, t.by[i].sum);
		tids_jw_object_end(&w);
	}
	tids_jw_array_end(&w);
	tids_jw_object_end(&w);
	rc = audit_flush(&w, stdout) && putchar('\n') != EOF ? EXIT_OK : cli_fail("writing the output failed");
	tids_jw_free(&w);
	return rc;
}

int audit_statement(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "lessor", required_argument, NULL, 'l' },
		{ "asset", required_argument, NULL, 'a' }, { "period", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
		{ "key", required_argument, NULL, 'k' }, { "from-records", required_argument, NULL, 'r' },
		{ "purpose", required_argument, NULL, 'P' }, { "use", required_argument, NULL, 'U' },
		{ "output-category", required_argument, NULL, 'O' }, { "output-field", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' }, { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	bool json = false;
	struct tids_statement_request rq = { 0 };
	struct tids_statement_totals totals;
	struct pairs uses = { .n = 0 }, out_fields = { .n = 0 };
	const char *outputs[PAIRS_MAX];
	const char *path = audit_default_ledger(), *keyfile = NULL, *records = NULL, *out = NULL;
	struct tids_identity hub;
	struct tids_ledger *l;
	char err[512];
	FILE *f = stdout;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 'l': rq.lessor = optarg; break;
		case 'a': rq.asset = optarg; break;
		case 'p': if (parse_month(optarg, &rq.since_ms, &rq.until_ms) != 0) return EXIT_USAGE; break;
		case 's': if (cli_time(optarg, &rq.since_ms) != 0) return EXIT_USAGE; break;
		case 'u': if (cli_time(optarg, &rq.until_ms) != 0) return EXIT_USAGE; break;
		case 'k': keyfile = optarg; break;
		case 'r': records = optarg; break;
		case 'P': rq.purpose = optarg; break;
		case 'U': if (add_pair(&uses, optarg, "--use") != 0) return EXIT_USAGE; break;
		case 'O':
			if (rq.n_outputs == PAIRS_MAX)
				return cli_fail("--output-category: at most %d", PAIRS_MAX) + 1;
			outputs[rq.n_outputs++] = optarg;
			break;
		case 'F': if (add_pair(&out_fields, optarg, "--output-field") != 0) return EXIT_USAGE; break;
		case 'o': out = optarg; break;
		case 'J': json = true; break;
		case 'h': fputs(statement_help, stdout); return EXIT_OK;
		default: return cli_usage(statement_help);
		}
	}
	if (optind != argc || rq.lessor == NULL || rq.asset == NULL || (keyfile == NULL) == (records == NULL))
		return cli_usage(statement_help);
	if (json && (out == NULL || records != NULL)) {
		fprintf(stderr, "tidsctl: error: statement --json describes the statement it wrote: give -o FILE "
				"(--from-records prints JSON already)\n");
		return EXIT_USAGE;
	}
	if (rq.since_ms == 0 || rq.until_ms == 0 || rq.since_ms >= rq.until_ms)
		return cli_fail("a statement covers a period: --period YYYY-MM, or --since before --until") + 1;
	rq.uses = uses.v;
	rq.n_uses = uses.n;
	rq.outputs = outputs;
	tids_statement_defaults(&rq);
	if (records != NULL)
		return lessee_totals(records, &rq, &out_fields);
	if (tids_keyfile_read_identity(keyfile, &hub, err, sizeof(err)) != 0)
		return cli_fail("%s", err);
	if ((l = audit_open(path, false)) == NULL) {
		tids_identity_wipe(&hub);
		return EXIT_FAIL;
	}
	if (out != NULL && (f = fopen(out, "w")) == NULL) {
		tids_ledger_close(l);
		tids_identity_wipe(&hub);
		return cli_fail("%s: cannot write it", out);
	}
	r = tids_ledger_statement(l, &rq, &hub, write_file, f, &totals, err, sizeof(err));
	tids_identity_wipe(&hub);
	tids_ledger_close(l);
	if (f != stdout && fclose(f) != 0 && r == 0)
		r = TIDS_EIO;
	if (r != 0)
		return cli_fail("%s", err);
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "file");
		tids_jw_string(&w, out);
		jw_totals(&w, &totals);
		return cli_json_end(&w);
	}
	if (out != NULL)
		for (size_t i = 0; i < totals.n; i++)
			fprintf(stderr, "%s %s: %llu lines, %s %.17g\n", totals.by[i].output ? "output" : "use",
				totals.by[i].category, (unsigned long long)totals.by[i].lines, totals.by[i].field,
				totals.by[i].sum);
	return fflush(stdout) == 0 ? EXIT_OK : cli_fail("writing the output failed");
}

int audit_check_statement(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hub-key", required_argument, NULL, 'k' }, { "ledger", required_argument, NULL, 'L' },
		{ "publisher-key", required_argument, NULL, 'p' }, { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES], pub[TIDS_PUBLIC_KEY_BYTES];
	bool have_pk = false, have_pub = false, json = false;
	const char *ledger = NULL;
	struct tids_statement_result res;
	char *text = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': if (cli_public_key(optarg, pk) != 0) return EXIT_USAGE; have_pk = true; break;
		case 'p': if (cli_public_key(optarg, pub) != 0) return EXIT_USAGE; have_pub = true; break;
		case 'L': ledger = optarg; break;
		case 'J': json = true; break;
		case 'h': fputs(check_help, stdout); return EXIT_OK;
		default: return cli_usage(check_help);
		}
	}
	if (optind + 1 != argc)
		return cli_usage(check_help);
	if (!have_pk)
		return cli_fail("check-statement needs the hub's public key: --hub-key KEY") + 1;
	if ((f = fopen(argv[optind], "rb")) == NULL)
		return cli_fail("%s: cannot read it", argv[optind]);
	for (;;) {
		if (len == cap) {
			char *n = realloc(text, cap = cap ? cap * 2 : 65536);

			if (n == NULL) {
				free(text);
				fclose(f);
				return cli_fail("out of memory");
			}
			text = n;
		}
		size_t got = fread(text + len, 1, cap - len, f);

		if (got == 0)
			break;
		len += got;
	}
	fclose(f);
	r = tids_statement_check((const uint8_t *)text, len, pk, ledger, have_pub ? pub : NULL, &res);
	free(text);
	if (json) {
		struct tids_jw w;
		int rc;

		cli_json_begin(&w);
		tids_jw_key(&w, "valid");
		tids_jw_bool(&w, r == 0);
		if (r != 0) {
			tids_jw_key(&w, "bad_line");
			tids_jw_uint64(&w, res.bad_line);
			tids_jw_key(&w, "what");
			tids_jw_string(&w, res.what);
			rc = cli_json_end(&w);
			return rc == EXIT_OK ? EXIT_FAIL : rc;
		}
		tids_jw_key(&w, "hub_id");
		tids_jw_string(&w, res.hub_id);
		tids_jw_key(&w, "lessor");
		tids_jw_string(&w, res.lessor);
		tids_jw_key(&w, "asset");
		tids_jw_string(&w, res.asset);
		tids_jw_key(&w, "since_ms");
		tids_jw_int64(&w, res.since_ms);
		tids_jw_key(&w, "until_ms");
		tids_jw_int64(&w, res.until_ms);
		tids_jw_key(&w, "lines");
		tids_jw_uint64(&w, res.lines);
		tids_jw_key(&w, "ledger_checked");
		tids_jw_bool(&w, ledger != NULL);
		jw_totals(&w, &res.totals);
		return cli_json_end(&w);
	}
	if (r != 0) {
		if (res.bad_line > 0)
			return cli_fail("%s: line %llu: %s", argv[optind], (unsigned long long)res.bad_line, res.what);
		return cli_fail("%s: %s", argv[optind], res.what);
	}
	printf("statement of hub %s for %s, asset %s: %llu lines, signed by the hub%s\n", res.hub_id, res.lessor,
	       res.asset, (unsigned long long)res.lines, ledger != NULL ? "; every line holds in the ledger, none is "
	       "missing" : " (not checked against a ledger: --ledger)");
	for (size_t i = 0; i < res.totals.n; i++)
		printf("  %s %s: %llu lines, %llu records, %s %.17g\n", res.totals.by[i].output ? "output" : "use",
		       res.totals.by[i].category, (unsigned long long)res.totals.by[i].lines,
		       (unsigned long long)res.totals.by[i].records, res.totals.by[i].field, res.totals.by[i].sum);
	printf("OK\n");
	return EXIT_OK;
}
