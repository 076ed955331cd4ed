/*
 * Every case of every scenario file in policy/scenarios against the default
 * rule set in policy/default/, through tids_policy_scenario_run, the same
 * function `tidsctl policy test` uses. Each case is its own assertion, and
 * a mismatch names the file, line and case.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "testenv.h"
#include "tids/error.h"

struct scenario_file {
	char *path;
	char *text;
	struct tids_policy_scenario *s;
	size_t cases;
};

static struct tids_policy_set *set;
static struct scenario_file files[128];
static size_t n_files;
static size_t n_cases;
static char setup_error[8192];

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted paths of dir's files ending in ext. */
static size_t list_dir(const char *dir, const char *ext, char **out, size_t max)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	if (d == NULL)
		return 0;
	for (struct dirent *e; (e = readdir(d)) != NULL && n < max;) {
		size_t l = strlen(e->d_name), le = strlen(ext);
		if (l <= le || strcmp(e->d_name + l - le, ext) != 0)
			continue;
		size_t pl = strlen(dir) + l + 2;
		out[n] = malloc(pl);
		snprintf(out[n], pl, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), by_name);
	return n;
}

static void diags_into(const struct tids_policy_diags *d, char *buf, size_t len)
{
	size_t o = strlen(buf);
	for (size_t i = 0; i < tids_policy_diags_count(d) && o + 2 < len; i++) {
		int w = tids_policy_diag_format(tids_policy_diags_at(d, i), buf + o, len - o);
		if (w < 0)
			return;
		o += (size_t)w;
		if (o + 1 < len)
			buf[o++] = '\n';
		buf[o < len ? o : len - 1] = '\0';
	}
}

/* The hub's zone a scenario names (timezone NAME), from the zones in
 * tests/vectors/tz: the same TZif data on every machine. */
static int load_tz(void *ctx, const char *name, struct tids_policy_tz **out, char *err, size_t errlen)
{
	(void)ctx;
	char path[1024];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/tests/vectors/tz/%s", tids_test_source_dir(), name);
	char *data = strstr(name, "..") == NULL ? slurp(path, &len) : NULL;
	if (data == NULL) {
		snprintf(err, errlen, "no zone %s in tests/vectors/tz", name);
		return TIDS_ENOENT;
	}
	int rc = tids_policy_tz_parse(name, (const uint8_t *)data, len, out, err, errlen);
	free(data);
	return rc;
}

/* Compiles the default set and parses every scenario, once, before the
 * tests fork. Problems are reported by the `setup` test. */
static void load(void)
{
	char dir[4096], *paths[64];
	struct tids_policy_source src[64];
	struct tids_policy_diags *d = tids_policy_diags_new();
	snprintf(dir, sizeof(dir), "%s/policy/default", tids_test_source_dir());
	size_t n = list_dir(dir, ".tidspol", paths, 64);
	if (n == 0)
		snprintf(setup_error, sizeof(setup_error), "no policy files in %.4000s\n", dir);
	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		char *text = slurp(paths[i], &len);
		src[i] = (struct tids_policy_source){ paths[i], text ? text : "", len };
	}
	int rc = tids_policy_compile(src, n, &set, d);
	if (rc != 0) {
		snprintf(setup_error, sizeof(setup_error), "the default policy does not compile (%s):\n",
			 tids_strerror(rc));
		diags_into(d, setup_error, sizeof(setup_error));
	} else if (tids_policy_diags_warnings(d) > 0) {
		snprintf(setup_error, sizeof(setup_error), "the default policy has warnings:\n");
		diags_into(d, setup_error, sizeof(setup_error));
	}
	for (size_t i = 0; i < n; i++) {
		free((char *)src[i].text);
		free(paths[i]);
	}
	snprintf(dir, sizeof(dir), "%s/policy/scenarios", tids_test_source_dir());
	n = list_dir(dir, ".scenario", paths, 64);
	for (size_t i = 0; i < n; i++) {
		struct scenario_file *f = &files[n_files++];
		size_t len = 0;
		f->path = paths[i];
		f->text = slurp(paths[i], &len);
		tids_policy_diags_clear(d);
		if (f->text == NULL ||
		    tids_policy_scenario_parse_tz(paths[i], f->text, len, load_tz, NULL, &f->s, d) != 0) {
			size_t o = strlen(setup_error);
			snprintf(setup_error + o, sizeof(setup_error) - o, "%s does not parse:\n", paths[i]);
			diags_into(d, setup_error, sizeof(setup_error));
			continue;
		}
		f->cases = tids_policy_scenario_case_count(f->s);
		n_cases += f->cases;
	}
	tids_policy_diags_free(d);
}

START_TEST(setup_is_clean)
{
	ck_assert_msg(setup_error[0] == '\0', "%s", setup_error);
	ck_assert_msg(n_files >= 2, "expected scenario files in policy/scenarios");
	/* policy-reference §5 and the rest of issue 15's 200 */
	ck_assert_uint_ge(n_cases, 200);
}
END_TEST

static void check_result(void *ctx, const struct tids_policy_case_result *r)
{
	(void)ctx;
	ck_assert_msg(r->passed, "%s:%u: case %s: %s", r->file, r->line, r->name, r->message);
}

START_TEST(scenario_case)
{
	ck_assert_ptr_nonnull(set);
	size_t i = (size_t)_i;
	for (size_t f = 0; f < n_files; f++) {
		if (i < files[f].cases) {
			int failures = tids_policy_scenario_run(files[f].s, set, i, 1, check_result, NULL);
			ck_assert_int_ge(failures, 0);
			return;
		}
		i -= files[f].cases;
	}
	ck_abort_msg("no case %d", _i);
}
END_TEST

int main(void)
{
	load();
	Suite *s = suite_create("policy scenarios");
	TCase *tc = tcase_create("setup");
	tcase_add_test(tc, setup_is_clean);
	suite_add_tcase(s, tc);
	tc = tcase_create("cases");
	tcase_add_loop_test(tc, scenario_case, 0, (int)n_cases);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("%zu scenario cases in %zu files\n", n_cases, n_files);
	for (size_t i = 0; i < n_files; i++) {
		tids_policy_scenario_free(files[i].s);
		free(files[i].text);
		free(files[i].path);
	}
	tids_policy_set_free(set);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
