/*
 * tidsd speaks systemd's notify protocol without libsystemd: a test socket
 * stands in for systemd and must see READY=1 once serving, WATCHDOG=1 at
 * half of WATCHDOG_USEC, RELOADING=1 then READY=1 on SIGHUP, and STOPPING=1
 * on SIGTERM, followed by a clean exit.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "hub.h"

/* Reads notify datagrams for up to ms, appending them to log. */
static void collect(int fd, char *log, size_t cap, int ms)
{
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end) {
		struct timeval tv = { 0, 100000 };
		char buf[512];
		ssize_t n;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strlen(log) + (size_t)n + 2 < cap) {
			strcat(log, buf);
			strcat(log, "\n");
		}
	}
}

static int count(const char *log, const char *what)
{
	int n = 0;

	for (const char *p = log; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

START_TEST(notify_protocol)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tids_test_hub hub;
	static char log[65536];
	char path[108];
	int fd;

	snprintf(path, sizeof(path), "/tmp/tids-notify-%ld.sock", (long)getpid());
	unlink(path);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* The child inherits these, as it would from systemd. */
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "1000000", 1);
	ck_assert_int_eq(tids_test_hub_start(&hub, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	collect(fd, log, sizeof(log), 3000);
	ck_assert_msg(count(log, "READY=1") == 1, "notifications: %s", log);
	ck_assert_int_ge(count(log, "STATUS="), 1);
	/* 3 s at half of 1 s: about six pings; at least four. */
	ck_assert_msg(count(log, "WATCHDOG=1") >= 4, "watchdog pings: %d", count(log, "WATCHDOG=1"));

	ck_assert_int_eq(tids_test_hub_signal(&hub, SIGHUP), 0);
	collect(fd, log, sizeof(log), 1500);
	ck_assert_int_eq(count(log, "RELOADING=1"), 1);
	ck_assert_int_eq(count(log, "READY=1"), 2);

	ck_assert_int_eq(tids_test_hub_stop(&hub), 0);
	collect(fd, log, sizeof(log), 300);
	ck_assert_int_eq(count(log, "STOPPING=1"), 1);
	ck_assert_int_ge(tids_test_hub_log_count(&hub, "info: stopped"), 1);
	close(fd);
	unlink(path);
	tids_test_hub_destroy(&hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tcase_create("notify");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, notify_protocol);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
