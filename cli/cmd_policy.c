/*
 * tidsctl policy check | explain | test: the operator's tools for policy
 * files. This file reads files and prints; everything it reports comes
 * from the same library calls the daemon makes (policy/policy.h).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy.h"
#include "tidsctl.h"
#include "tids/error.h"
#include "tids/json.h"

#ifndef TIDS_SYSCONFDIR
#define TIDS_SYSCONFDIR "/etc"
#endif

/* Shared with cmd_policy_explain.c. */
struct policy_sources {
	struct tids_policy_source *v;
	size_t n;
	size_t cap;
};
int tidsctl_policy_explain(int argc, char **argv);
int tidsctl_policy_export_odrl(int argc, char **argv);
int tidsctl_policy_add_path(struct policy_sources *srcs, const char *path, const char *ext);
int tidsctl_policy_compile(struct policy_sources *srcs, struct tids_policy_set **set, bool quiet);
void tidsctl_policy_sources_free(struct policy_sources *srcs);
char *tidsctl_policy_read_file(const char *path, size_t *len);
const char *tidsctl_policy_default_dir(void);

const char *tidsctl_policy_default_dir(void)
{
	const char *env = getenv("TIDS_POLICY_DIR");
	return env != NULL && env[0] != '\0' ? env : TIDS_SYSCONFDIR "/tids/policy";
}

char *tidsctl_policy_read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "tidsctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		if (n == cap) {
			if (cap >= TIDS_POLICY_SOURCE_MAX) {
				fprintf(stderr, "tidsctl: %s: larger than %u bytes\n", path,
					TIDS_POLICY_SOURCE_MAX);
				free(buf);
				buf = NULL;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				fprintf(stderr, "tidsctl: %s: %s\n", path, strerror(errno));
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL)
		return NULL;
	*len = n;
	return buf;
}

static int add_file(struct policy_sources *s, const char *path)
{
	size_t len;
	char *text = tidsctl_policy_read_file(path, &len);
	if (text == NULL)
		return -1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct tids_policy_source *nv = realloc(s->v, cap * sizeof(*nv));
		if (nv == NULL) {
			free(text);
			return -1;
		}
		s->v = nv;
		s->cap = cap;
	}
	char *name = strdup(path);
	if (name == NULL) {
		free(text);
		return -1;
	}
	s->v[s->n++] = (struct tids_policy_source){ .name = name, .text = text, .len = len };
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every *ext file of a directory in name order (the order
 * files are compiled and rules evaluated in). */
int tidsctl_policy_add_path(struct policy_sources *s, const char *path, const char *ext)
{
	struct stat st;
	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d == NULL) {
			fprintf(stderr, "tidsctl: %s: %s\n", path, strerror(errno));
			return -1;
		}
		char **names = NULL;
		size_t n = 0, cap = 0;
		int rc = 0;
		for (struct dirent *e; (e = readdir(d)) != NULL;) {
			size_t l = strlen(e->d_name), le = strlen(ext);
			if (e->d_name[0] == '.' || l <= le || strcmp(e->d_name + l - le, ext) != 0)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				char **nn = realloc(names, cap * sizeof(*nn));
				if (nn == NULL) {
					rc = -1;
					break;
				}
				names = nn;
			}
			size_t pl = strlen(path) + 1 + l + 1;
			names[n] = malloc(pl);
			if (names[n] == NULL) {
				rc = -1;
				break;
			}
			snprintf(names[n], pl, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
				 e->d_name);
			n++;
		}
		closedir(d);
		if (n > 0)
			qsort(names, n, sizeof(*names), by_name);
		for (size_t i = 0; i < n; i++) {
			if (rc == 0)
				rc = add_file(s, names[i]);
			free(names[i]);
		}
		free(names);
		if (rc == 0 && n == 0) {
			fprintf(stderr, "tidsctl: %s: no *%s files\n", path, ext);
			return -1;
		}
		return rc;
	}
	return add_file(s, path);
}

void tidsctl_policy_sources_free(struct policy_sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free((char *)s->v[i].name);
		free((char *)s->v[i].text);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void print_diags(const struct tids_policy_diags *d, bool warnings)
{
	char line[1024];
	for (size_t i = 0; i < tids_policy_diags_count(d); i++) {
		const struct tids_policy_diag *g = tids_policy_diags_at(d, i);
		if (g->severity == TIDS_POLICY_WARNING && !warnings)
			continue;
		tids_policy_diag_format(g, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	size_t shown = tids_policy_diags_count(d);
	size_t total = tids_policy_diags_errors(d) + tids_policy_diags_warnings(d);
	if (total > shown)
		fprintf(stderr, "tidsctl: %zu more diagnostics not shown\n", total - shown);
}

/* The diagnostics as a JSON array (key "diagnostics"). */
static void jw_diags(struct tids_jw *w, const struct tids_policy_diags *d)
{
	tids_jw_key(w, "diagnostics");
	tids_jw_array_begin(w);
	for (size_t i = 0; d != NULL && i < tids_policy_diags_count(d); i++) {
		const struct tids_policy_diag *g = tids_policy_diags_at(d, i);

		tids_jw_object_begin(w);
		tids_jw_key(w, "file");
		tids_jw_string(w, g->file);
		tids_jw_key(w, "line");
		tids_jw_uint64(w, g->line);
		tids_jw_key(w, "col");
		tids_jw_uint64(w, g->col);
		tids_jw_key(w, "severity");
		tids_jw_string(w, g->severity == TIDS_POLICY_WARNING ? "warning" : "error");
		tids_jw_key(w, "message");
		tids_jw_string(w, g->message);
		tids_jw_object_end(w);
	}
	tids_jw_array_end(w);
}

/* Compiles, printing errors (and warnings unless quiet). 0 or -1. */
int tidsctl_policy_compile(struct policy_sources *srcs, struct tids_policy_set **set, bool quiet)
{
	struct tids_policy_diags *d = tids_policy_diags_new();
	if (d == NULL)
		return -1;
	int rc = tids_policy_compile(srcs->v, srcs->n, set, d);
	print_diags(d, !quiet);
	tids_policy_diags_free(d);
	if (rc != 0) {
		if (rc != TIDS_EPOLICY)
			fprintf(stderr, "tidsctl: cannot compile the policy: %s\n", tids_strerror(rc));
		return -1;
	}
	return 0;
}

/* ---- check ---- */

static void usage_check(FILE *f)
{
	fprintf(f,
		"usage: tidsctl policy check [-W] [-q] FILE|DIR...\n"
		"\n"
		"Parses, type-checks and analyses the policy files together (a directory\n"
		"stands for its *.tidspol files in name order). Errors and warnings are\n"
		"printed as file:line:col: severity: message.\n"
		"\n"
		"  -W, --werror   treat warnings as errors\n"
		"  -q, --quiet    print errors only, and no summary\n"
		"      --json     print one JSON object: ok, rules, tier_floors, files, errors,\n"
		"                 warnings, diagnostics [{file, line, col, severity, message}]\n"
		"\n"
		"Exit status: 0 when the files compile, 1 on any error, 2 on bad usage.\n");
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "werror", no_argument, NULL, 'W' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool werror = false, quiet = false, json = false;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+Wqh", opts, NULL)) != -1) {
		switch (c) {
		case 'W': werror = true; break;
		case 'q': quiet = true; break;
		case 'J': json = true; break;
		case 'h': usage_check(stdout); return EXIT_OK;
		default: usage_check(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_check(stderr);
		return EXIT_USAGE;
	}
	struct policy_sources srcs = { 0 };
	for (int i = optind; i < argc; i++)
		if (tidsctl_policy_add_path(&srcs, argv[i], ".tidspol") != 0) {
			tidsctl_policy_sources_free(&srcs);
			return EXIT_FAIL;
		}
	struct tids_policy_diags *d = tids_policy_diags_new();
	struct tids_policy_set *set = NULL;
	int rc = d != NULL ? tids_policy_compile(srcs.v, srcs.n, &set, d) : TIDS_ENOMEM;
	int status = EXIT_OK;
	if (d != NULL && !json)
		print_diags(d, !quiet);
	if (rc != 0) {
		if (rc != TIDS_EPOLICY)
			fprintf(stderr, "tidsctl: %s\n", tids_strerror(rc));
		status = EXIT_FAIL;
	} else if (werror && tids_policy_diags_warnings(d) > 0) {
		status = EXIT_FAIL;
	}
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "ok");
		tids_jw_bool(&w, status == EXIT_OK);
		tids_jw_key(&w, "rules");
		tids_jw_uint64(&w, set != NULL ? tids_policy_set_rule_count(set) : 0);
		tids_jw_key(&w, "tier_floors");
		tids_jw_uint64(&w, set != NULL ? tids_policy_tier_floors(set, NULL, NULL, 0) : 0);
		{
			struct tids_policy_schemas *schemas = set != NULL ? tids_policy_schemas_copy(set) : NULL;

			tids_jw_key(&w, "schemas");
			tids_jw_uint64(&w, tids_policy_schemas_count(schemas));
			tids_policy_schemas_free(schemas);
		}
		tids_jw_key(&w, "files");
		tids_jw_uint64(&w, srcs.n);
		tids_jw_key(&w, "errors");
		tids_jw_uint64(&w, d != NULL ? tids_policy_diags_errors(d) : 0);
		tids_jw_key(&w, "warnings");
		tids_jw_uint64(&w, d != NULL ? tids_policy_diags_warnings(d) : 0);
		jw_diags(&w, d);
		if (cli_json_end(&w) != EXIT_OK)
			status = EXIT_FAIL;
	} else if (!quiet && status == EXIT_OK) {
		size_t n_floors = tids_policy_tier_floors(set, NULL, NULL, 0);
		struct tids_policy_schemas *schemas = tids_policy_schemas_copy(set);
		size_t n_schemas = tids_policy_schemas_count(schemas);
		tids_policy_schemas_free(schemas);
		printf("policy OK: %zu rules, %zu tier floor%s and %zu record schema%s in %zu file%s, %zu warning%s\n",
		       tids_policy_set_rule_count(set), n_floors, n_floors == 1 ? "" : "s", n_schemas,
		       n_schemas == 1 ? "" : "s", srcs.n, srcs.n == 1 ? "" : "s", tids_policy_diags_warnings(d),
		       tids_policy_diags_warnings(d) == 1 ? "" : "s");
	} else if (!quiet)
		fprintf(stderr, "policy has %zu error%s and %zu warning%s\n", tids_policy_diags_errors(d),
			tids_policy_diags_errors(d) == 1 ? "" : "s", tids_policy_diags_warnings(d),
			tids_policy_diags_warnings(d) == 1 ? "" : "s");
	tids_policy_set_free(set);
	tids_policy_diags_free(d);
	tidsctl_policy_sources_free(&srcs);
	return status;
}

/* ---- test ---- */

static void usage_test(FILE *f)
{
	fprintf(f,
		"usage: tidsctl policy test [-p POLICY]... [-v] SCENARIO...\n"
		"\n"
		"Runs table-driven scenarios (a directory stands for its *.scenario files)\n"
		"against the policy and prints every case whose decision, obligations or\n"
		"reason differ from what it expects. See policy/README.md for the format.\n"
		"\n"
		"  -p, --policy FILE|DIR  policy to test (repeatable; default %s)\n"
		"  -v, --verbose          print every case with the decision behind it\n"
		"      --json             one JSON object per case ({file, line, name, passed,\n"
		"                         decision, message}), then {cases, files, passed, failed, broken}\n"
		"\n"
		"Exit status: 0 when every case passes, 1 on any mismatch or error, 2 on bad usage.\n",
		tidsctl_policy_default_dir());
}

struct test_run {
	bool verbose;
	bool json;
	const struct tids_policy_set *set;
	const struct tids_policy_scenario *scenario;
	size_t cases;
	size_t failed;
};

static void report_case(void *ctx, const struct tids_policy_case_result *r)
{
	struct test_run *t = ctx;
	bool facts = strcmp(r->name, "(facts)") == 0;
	if (!facts)
		t->cases++;
	if (!r->passed)
		t->failed += t->json;
	if (t->json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "file");
		tids_jw_string(&w, r->file);
		tids_jw_key(&w, "line");
		tids_jw_uint64(&w, r->line);
		tids_jw_key(&w, "name");
		tids_jw_string(&w, r->name);
		tids_jw_key(&w, "passed");
		tids_jw_bool(&w, r->passed);
		tids_jw_key(&w, "decision");
		tids_jw_string(&w, r->decide_rc != 0 ? "reject" : tids_policy_verdict_name(r->decision.verdict));
		tids_jw_key(&w, "message");
		tids_jw_string(&w, r->passed ? "" : r->message);
		(void)cli_json_end(&w);
		return;
	}
	if (r->passed) {
		/* a request the engine (or ingest) refuses is a reject, not a deny */
		if (t->verbose)
			printf("%s:%u: case %s: ok (%s)\n", r->file, r->line, r->name,
			       r->decide_rc != 0 ? "reject" : tids_policy_verdict_name(r->decision.verdict));
	} else {
		t->failed++;
		printf("%s:%u: case %s: %s\n", r->file, r->line, r->name, r->message);
	}
	/* -v: the decision behind every case, passing or not */
	if (t->verbose && !facts) {
		char buf[4096];
		tids_policy_decision_format(t->set, &r->decision, r->record, buf, sizeof(buf));
		for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n"))
			printf("    | %s\n", line);
	}
}

static int cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_sources srcs = { 0 };
	struct test_run t = { 0 };
	int c, status = EXIT_FAIL;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (tidsctl_policy_add_path(&srcs, optarg, ".tidspol") != 0)
				goto out;
			break;
		case 'v': t.verbose = true; break;
		case 'J': t.json = true; break;
		case 'h': usage_test(stdout); status = EXIT_OK; goto out;
		default: usage_test(stderr); status = EXIT_USAGE; goto out;
		}
	}
	if (optind >= argc) {
		usage_test(stderr);
		status = EXIT_USAGE;
		goto out;
	}
	if (srcs.n == 0 && tidsctl_policy_add_path(&srcs, tidsctl_policy_default_dir(), ".tidspol") != 0)
		goto out;
	struct tids_policy_set *set = NULL;
	if (tidsctl_policy_compile(&srcs, &set, true) != 0)
		goto out;
	t.set = set;
	struct policy_sources scen = { 0 };
	size_t broken = 0;
	for (int i = optind; i < argc; i++)
		if (tidsctl_policy_add_path(&scen, argv[i], ".scenario") != 0)
			broken++;
	for (size_t i = 0; i < scen.n; i++) {
		struct tids_policy_diags *d = tids_policy_diags_new();
		struct tids_policy_scenario *s = NULL;
		/* a scenario may name its time zone: read from this machine's zoneinfo */
		int rc = d ? tids_policy_scenario_parse_tz(scen.v[i].name, scen.v[i].text, scen.v[i].len, cli_load_tz,
							   NULL, &s, d)
			   : TIDS_ENOMEM;
		if (d != NULL)
			print_diags(d, true);
		tids_policy_diags_free(d);
		if (rc != 0) {
			if (rc != TIDS_EPOLICY)
				fprintf(stderr, "tidsctl: %s: %s\n", scen.v[i].name, tids_strerror(rc));
			broken++;
			continue;
		}
		t.scenario = s;
		rc = tids_policy_scenario_run(s, set, 0, SIZE_MAX, report_case, &t);
		if (rc < 0) {
			fprintf(stderr, "tidsctl: %s: %s\n", scen.v[i].name, tids_strerror(rc));
			broken++;
		}
		tids_policy_scenario_free(s);
	}
	if (t.json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "cases");
		tids_jw_uint64(&w, t.cases);
		tids_jw_key(&w, "files");
		tids_jw_uint64(&w, scen.n);
		tids_jw_key(&w, "passed");
		tids_jw_uint64(&w, t.cases - (t.failed > t.cases ? t.cases : t.failed));
		tids_jw_key(&w, "failed");
		tids_jw_uint64(&w, t.failed);
		tids_jw_key(&w, "broken");
		tids_jw_uint64(&w, broken);
		if (cli_json_end(&w) != EXIT_OK)
			broken++;
	} else {
		printf("%zu case%s in %zu file%s: %zu passed, %zu failed%s\n", t.cases, t.cases == 1 ? "" : "s",
		       scen.n, scen.n == 1 ? "" : "s", t.cases - (t.failed > t.cases ? t.cases : t.failed),
		       t.failed, broken ? ", some files could not be read or parsed" : "");
	}
	status = t.failed == 0 && broken == 0 ? EXIT_OK : EXIT_FAIL;
	tidsctl_policy_sources_free(&scen);
	tids_policy_set_free(set);
out:
	tidsctl_policy_sources_free(&srcs);
	return status;
}

/* ---- dispatch ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tidsctl policy VERB [OPTIONS] ...\n"
		"\n"
		"  check FILE|DIR...                 parse and check policy files\n"
		"  explain [-p POLICY] [INPUT.json]  decide one record for one recipient and say why\n"
		"  test [-p POLICY] SCENARIO...      run table-driven scenarios\n"
		"  export-odrl [-p POLICY] [--grants FILE]  grants and rules as ODRL 2.2 (JSON-LD)\n"
		"\n"
		"`tidsctl policy VERB --help` describes each verb.\n");
}

int tidsctl_policy(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(verb, "explain") == 0)
		return tidsctl_policy_explain(argc - 1, argv + 1);
	if (strcmp(verb, "test") == 0)
		return cmd_test(argc - 1, argv + 1);
	if (strcmp(verb, "export-odrl") == 0)
		return tidsctl_policy_export_odrl(argc - 1, argv + 1);
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "tidsctl policy: unknown verb '%s'\n", verb);
	usage(stderr);
	return EXIT_USAGE;
}
