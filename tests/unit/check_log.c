/*
 * Logging: with stderr on journald's stream every line of a message starts
 * with its "<N>" priority (a reload's list of errors stays a warning on
 * every line); elsewhere every line carries the program and level word.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tids/log.h"

/* Points stderr at a fresh file (as journald's stream, if journal) and
 * returns it. Check runs each test in a child, so stderr is ours to move. */
static FILE *capture(bool journal)
{
	FILE *f = tmpfile();
	struct stat st;
	char js[64];

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	if (journal)
		setenv("JOURNAL_STREAM", js, 1);
	else
		unsetenv("JOURNAL_STREAM");
	tids_log_init("tidsd", TIDS_LOG_INFO);
	return f;
}

static const char *captured(FILE *f)
{
	static char buf[16384];
	size_t n;

	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

START_TEST(journal_priority_on_every_line)
{
	FILE *f = capture(true);

	tids_log_warnx("reload refused, keeping the running configuration:\n%s",
		       "tidsd.conf:3: unknown option \"x\"\ntidsd.conf:7: listen.tcp: not host:port\n");
	tids_log_info("ready");
	tids_log(TIDS_LOG_ERR, "two\nlines");
	tids_log_debug("not shown at info");
	ck_assert_str_eq(captured(f),
			 "<4>reload refused, keeping the running configuration:\n"
			 "<4>tidsd.conf:3: unknown option \"x\"\n"
			 "<4>tidsd.conf:7: listen.tcp: not host:port\n"
			 "<6>ready\n"
			 "<3>two\n"
			 "<3>lines\n");
	fclose(f);
}
END_TEST

START_TEST(terminal_prefix_on_every_line)
{
	FILE *f = capture(false);

	tids_log_warnx("reload refused:\n%s", "a.tidspol:1:1: expected rule\n");
	tids_log_warnx("%s", "");
	tids_log_info("blank\n\nline kept");
	ck_assert_str_eq(captured(f),
			 "tidsd: warning: reload refused:\n"
			 "tidsd: warning: a.tidspol:1:1: expected rule\n"
			 "tidsd: warning: \n"
			 "tidsd: info: blank\n"
			 "tidsd: info: \n"
			 "tidsd: info: line kept\n");
	fclose(f);
}
END_TEST

START_TEST(long_message_is_cut_not_overrun)
{
	static char big[20000];
	FILE *f = capture(true);
	const char *out;

	memset(big, 'x', sizeof(big) - 1);
	tids_log_warnx("%s", big);
	out = captured(f);
	ck_assert(strncmp(out, "<4>xxx", 6) == 0);
	ck_assert(out[strlen(out) - 1] == '\n');
	ck_assert_uint_lt(strlen(out), 12289);
	fclose(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("lines");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, journal_priority_on_every_line);
	tcase_add_test(tc, terminal_prefix_on_every_line);
	tcase_add_test(tc, long_message_is_cut_not_overrun);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
