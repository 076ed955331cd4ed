/*
 * tidsctl audit report: the evaluation report of a period, as one
 * self-contained HTML page (the default) or as JSON with the same numbers.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_audit.h"
#include "report.h"

static const char report_help[] =
	"usage: tidsctl audit report [--ledger FILE] --since TIME --until TIME [--hub-key KEY]\n"
	"                            [--html | --format html|json | --json] [--output FILE] [--title TEXT]\n"
	"An evaluation report of [since, until): decisions by tier over time, flows between\n"
	"countries, the rules that denied most, the approvals used, the personal information\n"
	"sent abroad against the thresholds that apply, the categories, and the ledger's\n"
	"verification with the signed checkpoints it rests on (with --hub-key; without it the\n"
	"report says that it is not verified). HTML is one file with inline SVG charts and\n"
	"no external assets; JSON holds the same numbers. Counts come from the ledger's index.\n";

static void jw_items(struct tids_jw *w, const char *key, const struct report_list *l, bool counters)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < l->n; i++) {
		const struct report_item *it = &l->items[i];

		tids_jw_object_begin(w);
		tids_jw_key(w, "name");
		tids_jw_string(w, it->name);
		if (it->detail != NULL && !counters) {
			tids_jw_key(w, "detail");
			tids_jw_string(w, it->detail);
		}
		if (counters) {
			tids_jw_key(w, "counter");
			tids_jw_string(w, it->detail != NULL ? it->detail : "");
			tids_jw_key(w, "period");
			tids_jw_int64(w, it->period);
			tids_jw_key(w, "thresholds");
			tids_jw_array_begin(w);
			for (int k = 0; k < 2; k++)
				if (it->threshold[k] > 0) {
					tids_jw_object_begin(w);
					tids_jw_key(w, "at");
					tids_jw_uint64(w, it->threshold[k]);
					tids_jw_key(w, "needs");
					tids_jw_string(w, it->threshold_label[k]);
					tids_jw_object_end(w);
				}
			tids_jw_array_end(w);
		}
		tids_jw_key(w, "permitted");
		tids_jw_uint64(w, it->permitted);
		tids_jw_key(w, "denied");
		tids_jw_uint64(w, it->denied);
		tids_jw_object_end(w);
	}
	tids_jw_array_end(w);
}

static void jw_tiers(struct tids_jw *w, const uint64_t *v)
{
	static const char *const names[REPORT_TIERS] = { "unset", "general", "important", "core" };

	tids_jw_object_begin(w);
	for (int t = 1; t < REPORT_TIERS; t++) {
		tids_jw_key(w, names[t]);
		tids_jw_uint64(w, v[t]);
	}
	tids_jw_object_end(w);
}

bool report_write_json(const struct report *r, FILE *f)
{
	struct tids_jw w;
	bool ok;

	tids_jw_init(&w);
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "hub_id");
	tids_jw_string(&w, r->hub_id);
	tids_jw_key(&w, "since_ms");
	tids_jw_int64(&w, r->since_ms);
	tids_jw_key(&w, "until_ms");
	tids_jw_int64(&w, r->until_ms);
	tids_jw_key(&w, "created_ms");
	tids_jw_int64(&w, r->created_ms);
	tids_jw_key(&w, "permitted");
	jw_tiers(&w, r->total_permitted);
	tids_jw_key(&w, "denied");
	jw_tiers(&w, r->total_denied);
	tids_jw_key(&w, "bucket_ms");
	tids_jw_int64(&w, r->bucket_ms);
	tids_jw_key(&w, "flows");
	tids_jw_array_begin(&w);
	for (size_t b = 0; b < r->n_buckets; b++) {
		tids_jw_object_begin(&w);
		tids_jw_key(&w, "start_ms");
		tids_jw_int64(&w, r->since_ms - (r->since_ms % r->bucket_ms + r->bucket_ms) % r->bucket_ms +
				      (int64_t)b * r->bucket_ms);
		tids_jw_key(&w, "permitted");
		jw_tiers(&w, r->permitted[b]);
		tids_jw_key(&w, "denied");
		jw_tiers(&w, r->denied[b]);
		tids_jw_object_end(&w);
	}
	tids_jw_array_end(&w);
	tids_jw_key(&w, "countries");
	tids_jw_array_begin(&w);
	for (size_t i = 0; i < r->n_pairs; i++) {
		tids_jw_object_begin(&w);
		tids_jw_key(&w, "from");
		tids_jw_string(&w, r->pairs[i].from);
		tids_jw_key(&w, "to");
		tids_jw_string(&w, r->pairs[i].to);
		tids_jw_key(&w, "permitted");
		tids_jw_uint64(&w, r->pairs[i].permitted);
		tids_jw_key(&w, "denied");
		tids_jw_uint64(&w, r->pairs[i].denied);
		tids_jw_object_end(&w);
	}
	tids_jw_array_end(&w);
	jw_items(&w, "denial_rules", &r->denial_rules, false);
	jw_items(&w, "approvals", &r->approvals, false);
	jw_items(&w, "counters", &r->counters, true);
	jw_items(&w, "categories", &r->categories, false);
	tids_jw_key(&w, "verification");
	tids_jw_object_begin(&w);
	tids_jw_key(&w, "verified");
	tids_jw_bool(&w, r->verified);
	if (r->verified) {
		tids_jw_key(&w, "ok");
		tids_jw_bool(&w, r->verify_ok);
		tids_jw_key(&w, "problem");
		tids_jw_string(&w, r->verify_what);
		tids_jw_key(&w, "entries");
		tids_jw_uint64(&w, r->verify.entries);
		tids_jw_key(&w, "checkpoints");
		tids_jw_uint64(&w, r->verify.checkpoints);
		tids_jw_key(&w, "unanchored");
		tids_jw_uint64(&w, r->verify.unanchored);
		tids_jw_key(&w, "chains");
		tids_jw_array_begin(&w);
		for (size_t i = 0; i < r->verify.n_chains; i++) {
			const struct tids_ledger_chain_report *c = &r->verify.chains[i];

			tids_jw_object_begin(&w);
			tids_jw_key(&w, "partition");
			tids_jw_int64(&w, c->partition);
			tids_jw_key(&w, "entries");
			tids_jw_uint64(&w, c->entries);
			tids_jw_key(&w, "signed_seq");
			tids_jw_uint64(&w, c->signed_seq);
			tids_jw_key(&w, "signed_head");
			tids_jw_hex(&w, c->signed_head, TIDS_HASH_BYTES);
			tids_jw_key(&w, "signed_at_ms");
			tids_jw_int64(&w, c->signed_at_ms);
			tids_jw_key(&w, "ok");
			tids_jw_bool(&w, c->ok);
			tids_jw_object_end(&w);
		}
		tids_jw_array_end(&w);
	}
	tids_jw_object_end(&w);
	tids_jw_object_end(&w);
	ok = audit_flush(&w, f) && fputc('\n', f) != EOF;
	tids_jw_free(&w);
	return ok;
}

int audit_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' }, { "hub-key", required_argument, NULL, 'k' },
		{ "html", no_argument, NULL, 'H' }, { "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' }, { "title", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = audit_default_ledger(), *out = NULL, *title = NULL;
	int64_t since = 0, until = 0;
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];
	bool json = false, have_pk = false, ok;
	struct report r;
	FILE *f = stdout;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 's': if (cli_time(optarg, &since) != 0) return EXIT_USAGE; break;
		case 'u': if (cli_time(optarg, &until) != 0) return EXIT_USAGE; break;
		case 'k':
			if (cli_public_key(optarg, pk) != 0)
				return EXIT_USAGE;
			have_pk = true;
			break;
		case 'H': json = false; break;
		case 'J': json = true; break;
		case 'f':
			if (strcmp(optarg, "html") != 0 && strcmp(optarg, "json") != 0)
				return cli_fail("--format %s: html or json", optarg) + 1;
			json = strcmp(optarg, "json") == 0;
			break;
		case 'o': out = optarg; break;
		case 't': title = optarg; break;
		case 'h': fputs(report_help, stdout); return EXIT_OK;
		default: return cli_usage(report_help);
		}
	}
	if (optind != argc)
		return cli_usage(report_help);
	if (since == 0 || until == 0)
		return cli_fail("a report covers a period: --since TIME --until TIME") + 1;
	if (audit_check_range(since, until) != 0)
		return EXIT_USAGE;
	if (since >= until)
		return cli_fail("--since must come before --until") + 1;
	if (report_collect(path, since, until, have_pk ? pk : NULL, &r) != 0)
		return EXIT_FAIL;
	snprintf(r.title, sizeof(r.title), "%s", title != NULL ? title : "Evaluation report of the data hub's decisions");
	if (out != NULL && (f = fopen(out, "w")) == NULL) {
		report_free(&r);
		return cli_fail("%s: cannot write it", out);
	}
	ok = json ? report_write_json(&r, f) : report_write_html(&r, f);
	if (f != stdout)
		ok = fclose(f) == 0 && ok;
	else
		ok = fflush(stdout) == 0 && ok;
	report_free(&r);
	if (!ok)
		return cli_fail("%s: writing the report failed", out != NULL ? out : "standard output");
	if (out != NULL)
		fprintf(stderr, "report written to %s%s\n", out, have_pk ? "" : " (not verified: no --hub-key)");
	return EXIT_OK;
}
