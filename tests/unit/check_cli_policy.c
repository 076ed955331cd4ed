/*
 * tidsctl policy check | test | explain | export-odrl, as an operator runs
 * them: the built tidsctl on files in a temporary directory, its output
 * and exit status read back. The library under them is tested in
 * check_policy.c; this is what the commands add (options, output, exit
 * status).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testenv.h"

static char dir[256];

static void write_file(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Runs tidsctl with args (a shell line, in dir) and returns its exit
 * status; out gets stdout and stderr. */
static int tidsctl(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int tidsctl(char *out, size_t len, const char *fmt, ...)
{
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s/tidsctl' %s 2>&1", dir, tids_test_build_dir(), args);
	FILE *p = popen(cmd, "r");
	ck_assert(p != NULL);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/tids-cli.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char policy[] =
	"floor category \"recipe\" = important;\n"
	"permit lessor_billing when recipient.role == \"lessor\" && purpose == \"billing\"\n"
	"  with log 183d because \"the lessor bills\";\n";

static const char scenario[] =
	"participant l role=lessor jurisdiction=CN-HB\n"
	"record run owner=o category=run_hours tier=general origin=CN-SH\n"
	"record recipe owner=o category=recipe tier=general origin=CN-SH\n"
	"| # | record | recipient | purpose | expect |\n"
	"| 1 | run | l | billing | allow; log >= 183d |\n"
	"| 2 | recipe | l | billing | reject; because \"needs tier important\" |\n";

/* -v prints every case with the decision behind it, passing or not, and
 * a case the engine or ingest refuses as a reject. */
START_TEST(test_verbose_prints_passing_decisions_and_rejects)
{
	char out[8192];
	write_file("p.tidspol", policy);
	write_file("s.scenario", scenario);
	ck_assert_int_eq(tidsctl(out, sizeof(out), "policy test -p p.tidspol -v s.scenario"), 0);
	ck_assert_msg(strstr(out, "s.scenario:5: case 1: ok (allow)\n    | decision: allow\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "    | because: the lessor bills\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "s.scenario:6: case 2: ok (reject)\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "2 cases in 1 file: 2 passed, 0 failed") != NULL, "%s", out);
	/* without -v only the summary */
	ck_assert_int_eq(tidsctl(out, sizeof(out), "policy test -p p.tidspol s.scenario"), 0);
	ck_assert_msg(strstr(out, "case 1") == NULL, "%s", out);
}
END_TEST

/* A wrong expectation fails its case; the file's other cases run. */
START_TEST(test_bad_expectation_fails_only_its_case)
{
	char out[8192];
	write_file("p.tidspol", policy);
	write_file("s.scenario",
		   "participant l role=lessor jurisdiction=CN-HB\n"
		   "record run owner=o category=run_hours tier=general origin=CN-SH\n"
		   "| # | record | recipient | purpose | expect |\n"
		   "| 1 | run | l | billing | allow; log at_least 6mo |\n"
		   "| 2 | run | l | billing | allow |\n");
	ck_assert_int_eq(tidsctl(out, sizeof(out), "policy test -p p.tidspol s.scenario"), 1);
	ck_assert_msg(strstr(out, "s.scenario:4: case 1: column ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "'at_least' is not a comparison") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "2 cases in 1 file: 1 passed, 1 failed\n") != NULL, "%s", out);
}
END_TEST

/* explain names what nearly matched a denial: the text form and JSON. */
START_TEST(explain_names_the_near_miss)
{
	char out[16384];
	write_file("g.tidspol", "permit by_grant when grant() because \"granted\";\n"
				"forbid needs_approval when purpose == \"export\" && !approval(kind: \"export\", "
				"recipient: recipient.id) because \"needs an approval\";\n");
	static const char facts[] =
		"\"now\": \"2026-06-01T08:00:00Z\", \"recipient\": \"l\",\n"
		" \"participants\": [{\"id\": \"l\", \"role\": \"lessor\", \"jurisdiction\": \"CN-HB\"}],\n"
		" \"grants\": [{\"id\": \"g1\", \"owner\": \"o\", \"grantee\": \"l\", \"categories\": [\"run_hours\"],\n"
		"   \"purposes\": [\"billing\"], \"not_after\": \"2026-12-31\", \"max_uses\": 3, \"uses\": 3}],\n"
		" \"approvals\": [{\"id\": \"a1\", \"kind\": \"export\", \"regulator\": \"r\", \"exporter\": \"o\",\n"
		"   \"recipient\": \"l\", \"categories\": [\"run_hours\"], \"purposes\": [\"export\"],\n"
		"   \"valid_until\": \"2026-12-31\", \"revoked_at\": \"2026-05-01T00:00:00Z\"}],\n"
		" \"record\": {\"owner\": \"o\", \"category\": \"run_hours\", \"tier\": \"general\", \"origin\": \"CN-SH\",\n"
		"   \"produced_at\": \"2026-06-01T07:00:00Z\", \"fields\": [{\"name\": \"h\", \"value\": 5}]},\n";
	char input[4096];
	snprintf(input, sizeof(input), "{%s \"purpose\": \"billing\"}\n", facts);
	write_file("used.json", input);
	snprintf(input, sizeof(input), "{%s \"purpose\": \"export\"}\n", facts);
	write_file("revoked.json", input);

	ck_assert_int_eq(tidsctl(out, sizeof(out), "policy explain -p g.tidspol used.json"), 0);
	ck_assert_msg(strstr(out, "decision: deny\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "nearly: grant g1 is used up (3 of 3 uses) (used_up, in rule by_grant)\n") != NULL,
		      "%s", out);
	ck_assert_int_eq(tidsctl(out, sizeof(out), "policy explain -p g.tidspol --json used.json"), 0);
	ck_assert_msg(strstr(out, "\"near_miss\":{\"kind\":\"grant\",\"id\":\"g1\",\"code\":\"used_up\","
				  "\"failed\":[\"used_up\"]") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"uses\":3,\"max_uses\":3,\"rule\":\"by_grant\"") != NULL, "%s", out);
	/* an approval revoked: kept, never counting, named */
	ck_assert_int_eq(tidsctl(out, sizeof(out), "policy explain -p g.tidspol revoked.json"), 0);
	ck_assert_msg(strstr(out, "because: needs an approval\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "nearly: approval a1 was revoked at 2026-05-01T00:00:00Z (revoked, in rule "
				  "needs_approval)\n") != NULL, "%s", out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tidsctl policy");
	TCase *tc = tcase_create("test");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_verbose_prints_passing_decisions_and_rejects);
	tcase_add_test(tc, test_bad_expectation_fails_only_its_case);
	tcase_add_test(tc, explain_names_the_near_miss);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
