/*
 * tidsctl policy export-odrl: grants and the standing rules ODRL can
 * express, as ODRL 2.2 policies (JSON-LD in the context Eclipse EDC and
 * Catena-X use), for other data-space connectors. The conversion is the
 * library's (policy/odrl.h); this reads the files and writes the array.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odrl.h"
#include "tids/error.h"
#include "tids/json.h"
#include "tids/wire.h"
#include "tidsctl.h"

struct policy_sources {
	struct tids_policy_source *v;
	size_t n;
	size_t cap;
};
int tidsctl_policy_export_odrl(int argc, char **argv);
int tidsctl_policy_add_path(struct policy_sources *srcs, const char *path, const char *ext);
int tidsctl_policy_compile(struct policy_sources *srcs, struct tids_policy_set **set, bool quiet);
void tidsctl_policy_sources_free(struct policy_sources *srcs);
char *tidsctl_policy_read_file(const char *path, size_t *len);
const char *tidsctl_policy_default_dir(void);
int tidsctl_policy_grants(const struct tids_json *list, const struct tids_policy_tz *tz,
			  int (*fn)(void *ctx, const struct tids_policy_grant *g), void *ctx, char *err, size_t errlen);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tidsctl policy export-odrl [-p POLICY]... [--grants FILE.json] [--no-rules]\n"
		"                                  [--hub-id HUB] [--timezone ZONE]\n"
		"\n"
		"Writes, as one JSON array of ODRL 2.2 policies (JSON-LD, the odrl.jsonld\n"
		"context Eclipse EDC and Catena-X use, with the tids profile), the grants of\n"
		"FILE (explain's grant objects: a list, or {\"grants\": [...]}) as Agreements,\n"
		"and each standing rule of the policy that ODRL can express as a Set: a permit\n"
		"as a permission, a forbid as a prohibition, an oblige as obligations, the\n"
		"rule's tests as constraints and its obligations as duties. A rule that calls\n"
		"a function (grant(), approval()), compares two attributes or computes an\n"
		"obligation per record is left out, whole; stderr says which and why.\n"
		"\n"
		"  -p, --policy FILE|DIR  policy to export (repeatable; default %s)\n"
		"      --grants FILE      grants to export (\"-\": standard input)\n"
		"      --no-rules         the grants only\n"
		"      --hub-id HUB       the hub the grants are issued to (\"tids:hub\")\n"
		"      --timezone ZONE    the hub's, for dates alone in FILE (default UTC)\n"
		"\n"
		"Exit status: 0 when written, 1 on bad input, 2 on bad usage.\n",
		tidsctl_policy_default_dir());
}

struct out {
	struct tids_jw *w;
	const char *hub_id;
	size_t grants;
};

/* A grant as the fact store has it, as the wire has it, as ODRL. */
static int one_grant(void *ctx, const struct tids_policy_grant *pg)
{
	struct out *o = ctx;
	struct tids_grant g = {
		.grant_id = pg->id, .owner = pg->owner, .grantee = pg->grantee,
		.assets = { pg->assets, pg->n_assets }, .categories = { pg->categories, pg->n_categories },
		.purposes = { pg->purposes, pg->n_purposes }, .not_before_ms = pg->not_before_ms,
		.not_after_ms = pg->not_after_ms, .max_uses = pg->max_uses,
	};
	tids_policy_duties_to_wire(&pg->duties, &g.obligations);
	tids_policy_odrl_grant(o->w, &g, o->hub_id);
	o->grants++;
	return 0;
}

static void skipped(void *ctx, const char *rule, const char *why)
{
	(void)ctx;
	fprintf(stderr, "tidsctl: rule %s is not exported: %s\n", rule, why);
}

int tidsctl_policy_export_odrl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' }, { "grants", required_argument, NULL, 'g' },
		{ "no-rules", no_argument, NULL, 'n' }, { "hub-id", required_argument, NULL, 'H' },
		{ "timezone", required_argument, NULL, 'z' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_sources srcs = { 0 };
	struct tids_policy_set *set = NULL;
	struct tids_policy_tz *tz = NULL;
	struct tids_json_doc *doc = NULL;
	struct tids_jw w;
	const char *grants = NULL, *zone = NULL;
	char *text = NULL, err[512];
	bool rules = true;
	struct out o = { .w = &w };
	int c, status = EXIT_FAIL;

	tids_jw_init(&w);
	optind = 0;
	while ((c = getopt_long(argc, argv, "+p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (tidsctl_policy_add_path(&srcs, optarg, ".tidspol") != 0)
				goto out;
			break;
		case 'g': grants = optarg; break;
		case 'n': rules = false; break;
		case 'H': o.hub_id = optarg; break;
		case 'z': zone = optarg; break;
		case 'h': usage(stdout); status = EXIT_OK; goto out;
		default: usage(stderr); status = EXIT_USAGE; goto out;
		}
	}
	if (optind != argc || (!rules && grants == NULL)) {
		usage(stderr);
		status = EXIT_USAGE;
		goto out;
	}
	if (zone != NULL && strcmp(zone, "UTC") != 0 && cli_load_tz(NULL, zone, &tz, err, sizeof(err)) != 0) {
		fprintf(stderr, "tidsctl: --timezone: %s\n", err);
		goto out;
	}
	if (rules) {
		if (srcs.n == 0 && tidsctl_policy_add_path(&srcs, tidsctl_policy_default_dir(), ".tidspol") != 0)
			goto out;
		if (tidsctl_policy_compile(&srcs, &set, true) != 0)
			goto out;
	}
	tids_jw_array_begin(&w);
	if (grants != NULL) {
		size_t len;
		text = tidsctl_policy_read_file(grants, &len);
		if (text == NULL)
			goto out;
		if (tids_json_parse(text, len, &doc, err, sizeof(err)) != 0 ||
		    tidsctl_policy_grants(tids_json_root(doc), tz, one_grant, &o, err, sizeof(err)) != 0) {
			fprintf(stderr, "tidsctl: %s: %s\n", grants, err);
			goto out;
		}
	}
	size_t n_rules = rules ? tids_policy_odrl_rules(&w, set, skipped, NULL) : 0;
	tids_jw_array_end(&w);
	if (w.err != 0) {
		fprintf(stderr, "tidsctl: cannot write JSON: %s\n", tids_strerror(w.err));
		goto out;
	}
	printf("%.*s\n", (int)w.len, w.buf);
	fprintf(stderr, "tidsctl: %zu grant%s and %zu rule%s written as ODRL\n", o.grants, o.grants == 1 ? "" : "s",
		n_rules, n_rules == 1 ? "" : "s");
	status = EXIT_OK;
out:
	tids_jw_free(&w);
	tids_json_free(doc);
	free(text);
	tids_policy_tz_free(tz);
	tids_policy_set_free(set);
	tidsctl_policy_sources_free(&srcs);
	return status;
}
