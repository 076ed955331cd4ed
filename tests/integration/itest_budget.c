/*
 * Connection budgets against the real tidsd and the real Kafka broker
 * (issue 9, finding 3): half-open TCP connections, by the thousand or
 * until the daemon has no file descriptor left, lock out neither a
 * participant that has a key nor the operator on the admin socket, and
 * running out of descriptors does not make the event loop spin.
 */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "../lib/hub.h"
#include "../lib/rawconn.h"
#include "../lib/testenv.h"
#include "tids/client.h"
#include "tids/crypto.h"
#include "tids/wire.h"

enum { CODE_OK = 0 };

/* Generous waits: a slow or sanitized build must not fail for speed. */
#define WAIT_MS 30000
#define PUB_ID "factory.flood"

/* What the unit gives tidsd (LimitNOFILE= in packaging/tidsd.service);
 * the test process needs as many for its own ends of the flood. */
#define NOFILE 65536

static struct tids_test_hub hub;

static int log_lines(void)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(hub.log, "r");

	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		n++;
	fclose(f);
	return n;
}

/* Open descriptors of the hub; open[i] says whether i is open, below cap. */
static int hub_fds(bool *open, int cap)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)hub.pid);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	if (open != NULL)
		memset(open, 0, (size_t)cap * sizeof(*open));
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (open != NULL && atoi(e->d_name) < cap)
			open[atoi(e->d_name)] = true;
	}
	closedir(dir);
	return n;
}

/* CPU time of the hub's main thread (the event loop), in ms. */
static long loop_cpu_ms(void)
{
	char path[64], buf[2048], *p;
	unsigned long utime, stime;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", (long)hub.pid, (long)hub.pid);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15, counted after the command's closing parenthesis. */
	p = strrchr(buf, ')');
	ck_assert(p != NULL);
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
	return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/*
 * As many descriptors as the unit gives tidsd, if this process may have
 * them (the hub inherits them), and at least need for the test's own ends
 * of the flood.
 */
static void raise_nofile(rlim_t need)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE) {
		struct rlimit up = { NOFILE, NOFILE };

		/* Raising the hard limit needs CAP_SYS_RESOURCE; without it,
		 * the hard limit we have may still do. */
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE ? rl.rlim_max : NOFILE;
	ck_assert_msg(rl.rlim_cur >= need, "RLIMIT_NOFILE: the test needs %lu descriptors, the hard limit is %lu",
		      (unsigned long)need, (unsigned long)rl.rlim_max);
	ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0, "RLIMIT_NOFILE %lu: %s", (unsigned long)rl.rlim_cur,
		      strerror(errno));
}

/* ---- a participant's whole errand: connect, publish, be acked ---------- */

static uint64_t next_seq = 1;

static void participant_publishes(const struct tids_identity *id)
{
	struct tids_field f = { .name = "temp", .value = { .kind = TIDS_VALUE_INT } };
	struct tids_record rec = { .owner = PUB_ID, .asset_id = "", .category = "telemetry",
				   .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .schema = "test/1",
				   .produced_at_ms = 1700000000000, .fields = &f, .n_fields = 1 };
	struct tids_publish_ack ack;
	struct tids_bytes one;
	struct tids_client *c;
	char who[160], err[256];
	uint8_t *out;

	f.value.as.i = (int64_t)next_seq;
	randombytes_buf(rec.record_id, sizeof(rec.record_id));
	ck_assert_int_eq(tids_wire_encode_record(&rec, &out, &one.len), 0);
	one.data = out;
	c = tids_test_hub_connect(&hub, id);
	ck_assert_msg(c != NULL, "a registered participant cannot connect");
	ck_assert_msg(tids_client_ping(c, who, sizeof(who), err, sizeof(err)) == 0, "ping: %s", err);
	ck_assert_str_eq(who, PUB_ID);
	ck_assert_msg(tids_client_publish(c, id, PUB_ID, next_seq, &one, 1, &ack, err, sizeof(err)) == 0,
		      "publish: %s", err);
	ck_assert_uint_eq(ack.sequence, next_seq);
	ck_assert_uint_eq(ack.accepted, 1);
	tids_publish_ack_free(&ack);
	next_seq++;
	tids_client_free(c);
	free(out);
}

static void admin_answers(void)
{
	struct tids_client *a = tids_test_hub_admin(&hub);
	char who[160], err[256];

	ck_assert_msg(a != NULL, "the admin socket does not take a connection");
	ck_assert_msg(tids_client_ping(a, who, sizeof(who), err, sizeof(err)) == 0, "admin ping: %s", err);
	tids_client_free(a);
}

/* ---- the flood: half-open connections, opened and held ----------------- */

struct flood {
	pthread_t thread;
	int want;                 /* connections to open */
	int n_sources;            /* from 127.0.0.2 on */
	int *fds;
	atomic_int opened;
	atomic_bool stop;
	char err[256];
};

static void *flood_run(void *arg)
{
	struct flood *fl = arg;
	struct sockaddr_in to = { .sin_family = AF_INET };
	const char *colon = strrchr(hub.addr, ':');

	to.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	for (int i = 0; i < fl->want && !atomic_load(&fl->stop); i++) {
		struct sockaddr_in from = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		/* 127.0.0.0/8 is all ours: each source address its own attacker. */
		from.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % fl->n_sources));
		if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
		    connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
			snprintf(fl->err, sizeof(fl->err), "flood connection %d: %s", i, strerror(errno));
			if (fd >= 0)
				close(fd);
			break;
		}
		/* Connected, and not a byte more: held until the test ends. */
		fl->fds[i] = fd;
		atomic_store(&fl->opened, i + 1);
	}
	return NULL;
}

static void flood_start(struct flood *fl, int want, int n_sources)
{
	memset(fl, 0, sizeof(*fl));
	fl->want = want;
	fl->n_sources = n_sources;
	fl->fds = calloc((size_t)want, sizeof(int));
	ck_assert(fl->fds != NULL);
	for (int i = 0; i < want; i++)
		fl->fds[i] = -1;
	ck_assert_int_eq(pthread_create(&fl->thread, NULL, flood_run, fl), 0);
}

static void flood_wait(struct flood *fl, int n)
{
	int64_t deadline = mono_ms() + 10 * WAIT_MS;

	while (atomic_load(&fl->opened) < n && fl->err[0] == '\0' && mono_ms() < deadline)
		sleep_ms(20);
	ck_assert_msg(atomic_load(&fl->opened) >= n, "%d of %d flood connections opened: %s", atomic_load(&fl->opened),
		      n, fl->err[0] != '\0' ? fl->err : "timeout");
}

static void flood_end(struct flood *fl)
{
	atomic_store(&fl->stop, true);
	pthread_join(fl->thread, NULL);
	for (int i = 0; i < fl->want; i++)
		if (fl->fds[i] >= 0)
			close(fl->fds[i]);
	free(fl->fds);
}

/* ---- 10,000 half-open connections ----------------------------------------- */

#define FLOOD 10000
#define FLOOD_SOURCES 10          /* each above limits.max_handshakes_per_address, all above max_handshakes */
#define FLOOD_HANDSHAKES 256      /* the default limits.max_handshakes */

START_TEST(test_flood_of_half_open_connections)
{
	struct tids_identity pub;
	struct flood fl;
	int before, during;

	raise_nofile(FLOOD + 1024);
	/* Held means held: no timeout frees a slot during the test. The
	 * budgets are the defaults. */
	ck_assert_msg(tids_test_hub_start(&hub, "limits.handshake_timeout = 600s") == 0, "tidsd did not start");
	ck_assert_int_eq(tids_test_hub_participant(&hub, PUB_ID, "factory", "CN-SH", NULL, &pub), 0);
	participant_publishes(&pub);
	before = hub_fds(NULL, 0);

	flood_start(&fl, FLOOD, FLOOD_SOURCES);
	/* Past the 1024 slots of limits.max_connections, that 80 idle sockets
	 * out of 64 filled before budgets existed. */
	flood_wait(&fl, 2000);
	participant_publishes(&pub);
	admin_answers();

	/* All 10,000 open and held. */
	flood_wait(&fl, FLOOD);
	participant_publishes(&pub);
	admin_answers();
	/* The hub holds no more of them than its handshake budget. */
	during = hub_fds(NULL, 0);
	ck_assert_msg(during <= before + FLOOD_HANDSHAKES + 32, "tidsd holds %d descriptors, %d before the flood",
		      during, before);
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "dropped for a newer connection", 1, WAIT_MS), 0);
	ck_assert_msg(tids_test_hub_alive(&hub), "tidsd died; its log is %s", hub.log);

	flood_end(&fl);
	participant_publishes(&pub);
	admin_answers();
	tids_identity_wipe(&pub);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* One source address is capped by itself: a flood from it leaves the
 * budget of everyone else alone, even one that is slow to handshake. */
START_TEST(test_flood_from_one_address)
{
	struct tids_identity pub;
	struct tids_test_raw slow;
	struct flood fl;

	raise_nofile(2000 + 1024);
	/* The default budgets: 32 handshakes per address, 256 in all. */
	ck_assert_msg(tids_test_hub_start(&hub, "limits.handshake_timeout = 600s") == 0, "tidsd did not start");
	ck_assert_int_eq(tids_test_hub_participant(&hub, PUB_ID, "factory", "CN-SH", NULL, &pub), 0);
	/* A connection from 127.0.0.1 that has not begun its handshake. */
	ck_assert_int_eq(tids_test_raw_dial(&slow, hub.addr), 0);
	flood_start(&fl, 2000, 1);
	flood_wait(&fl, 2000);
	participant_publishes(&pub);
	admin_answers();
	ck_assert_int_eq(tids_test_raw_handshake(&slow, &pub, hub.hub_pk, WAIT_MS), 0);
	ck_assert_int_eq(slow.welcome_code, CODE_OK);
	ck_assert_int_eq(tids_test_raw_ping(&slow, 1, WAIT_MS), CODE_OK);
	tids_test_raw_close(&slow);
	/* Only the flooding address paid for its flood. */
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "(limits.max_handshakes_per_address)", 1, WAIT_MS), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&hub, "(limits.max_handshakes)"), 0);
	flood_end(&fl);
	tids_identity_wipe(&pub);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* ---- the admin socket's own budget --------------------------------------- */

START_TEST(test_admin_budget)
{
	struct tids_identity pub;
	struct tids_test_raw tcp[2];
	struct tids_client *held[2], *third;
	char who[160], err[256];
	int64_t deadline;
	int r;

	ck_assert_msg(tids_test_hub_start(&hub, "limits.max_connections = 2\nlimits.max_admin_connections = 2") == 0,
		      "tidsd did not start");
	ck_assert_int_eq(tids_test_hub_participant(&hub, PUB_ID, "factory", "CN-SH", NULL, &pub), 0);
	/* Participants hold every TCP slot: the admin socket does not care. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(tids_test_raw_dial(&tcp[i], hub.addr), 0);
		ck_assert_int_eq(tids_test_raw_handshake(&tcp[i], &pub, hub.hub_pk, WAIT_MS), 0);
		ck_assert_int_eq(tcp[i].welcome_code, CODE_OK);
	}
	admin_answers();

	/* Admins hold its own budget: one more is told so. */
	for (int i = 0; i < 2; i++) {
		held[i] = tids_test_hub_admin(&hub);
		ck_assert(held[i] != NULL);
		ck_assert_int_eq(tids_client_ping(held[i], who, sizeof(who), err, sizeof(err)), 0);
	}
	third = tids_test_hub_admin(&hub);
	ck_assert(third != NULL);
	ck_assert_int_ne(tids_client_ping(third, who, sizeof(who), err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "(limits.max_admin_connections)") != NULL, "ping: %s", err);
	tids_client_free(third);
	/* Those in are served, and participants too. */
	ck_assert_int_eq(tids_client_ping(held[0], who, sizeof(who), err, sizeof(err)), 0);
	ck_assert_int_eq(tids_test_raw_ping(&tcp[0], 1, WAIT_MS), CODE_OK);

	/* Room again once one leaves. */
	tids_client_free(held[1]);
	deadline = mono_ms() + WAIT_MS;
	do {
		third = tids_test_hub_admin(&hub);
		ck_assert(third != NULL);
		r = tids_client_ping(third, who, sizeof(who), err, sizeof(err));
		tids_client_free(third);
		if (r != 0)
			sleep_ms(100);
	} while (r != 0 && mono_ms() < deadline);
	ck_assert_msg(r == 0, "no room on the admin socket after one left: %s", err);
	tids_client_free(held[0]);
	for (int i = 0; i < 2; i++)
		tids_test_raw_close(&tcp[i]);
	tids_identity_wipe(&pub);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* ---- RLIMIT_NOFILE fits the budgets ---------------------------------------- */

/* Started with a soft limit of 512 (as from a shell), tidsd raises it
 * above its connection budgets, so that connections run out first. */
START_TEST(test_nofile_fits_budgets)
{
	struct rlimit mine, low, its;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &mine), 0);
	ck_assert_msg(mine.rlim_max == RLIM_INFINITY || mine.rlim_max >= 1024 + 16 + 256,
		      "the hard limit %lu is too low for this test", (unsigned long)mine.rlim_max);
	low = mine;
	low.rlim_cur = 512;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_msg(tids_test_hub_start(&hub, NULL) == 0, "tidsd did not start");
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &mine), 0);
	ck_assert_int_eq(prlimit(hub.pid, RLIMIT_NOFILE, NULL, &its), 0);
	/* The default limits.max_connections and max_admin_connections. */
	ck_assert_msg(its.rlim_cur >= 1024 + 16, "tidsd runs with RLIMIT_NOFILE %lu", (unsigned long)its.rlim_cur);
	admin_answers();
	tids_test_hub_destroy(&hub);
}
END_TEST

/* ---- out of file descriptors ----------------------------------------------- */

#define ROOM 24                   /* descriptors tidsd has left for connections */
#define EMFILE_FLOOD 300
#define AUTHED_MAX 64

/* Lowers the hub's RLIMIT_NOFILE so that room descriptors are left: a
 * new one is the lowest free number below the limit. */
static void leave_room(int room)
{
	enum { CAP = 4096 };
	static bool open[CAP];
	struct rlimit rl;
	int limit, free_below = 0;

	hub_fds(open, CAP);
	for (limit = 0; limit < CAP && free_below < room; limit++)
		free_below += !open[limit];
	ck_assert_int_lt(limit, CAP);
	ck_assert_int_eq(prlimit(hub.pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = (rlim_t)limit;
	ck_assert_msg(prlimit(hub.pid, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit: %s", strerror(errno));
}

START_TEST(test_out_of_descriptors)
{
	struct tids_test_raw authed[AUTHED_MAX];
	struct tids_identity pub;
	struct flood fl;
	int n_authed = 0, lines;
	long cpu;

	raise_nofile(EMFILE_FLOOD + 1024);
	/* The default budgets are far above the descriptors left (ROOM):
	 * here it is RLIMIT_NOFILE that runs out. */
	ck_assert_msg(tids_test_hub_start(&hub, "limits.handshake_timeout = 600s") == 0, "tidsd did not start");
	ck_assert_int_eq(tids_test_hub_participant(&hub, PUB_ID, "factory", "CN-SH", NULL, &pub), 0);
	/* Kafka and SQLite have what they need before the limit comes down:
	 * librdkafka's connections compete for the same descriptors. */
	participant_publishes(&pub);
	admin_answers();
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "ingress partitions assigned", 1, WAIT_MS), 0);
	sleep_ms(1000);
	leave_room(ROOM);

	/* 1. Half-open connections take every descriptor left: the oldest
	 *    gives way to each newcomer, the participant and the admin. */
	flood_start(&fl, EMFILE_FLOOD, 1);
	flood_wait(&fl, 2 * ROOM);
	participant_publishes(&pub);
	admin_answers();
	flood_wait(&fl, EMFILE_FLOOD);
	participant_publishes(&pub);
	admin_answers();
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "no file descriptor left for a newer connection", 1, WAIT_MS),
			 0);
	flood_end(&fl);

	/* 2. Authenticated sessions take every descriptor: nothing may be
	 *    dropped for a newcomer, which waits in the kernel's queue (the
	 *    last handshake fails, and rawconn says so on stderr). */
	for (n_authed = 0; n_authed < AUTHED_MAX; n_authed++) {
		struct tids_test_raw *r = &authed[n_authed];

		ck_assert_int_eq(tids_test_raw_dial(r, hub.addr), 0);
		if (tids_test_raw_handshake(r, &pub, hub.hub_pk, 3000) != 0) {
			tids_test_raw_close(r);
			break;
		}
		ck_assert_int_eq(r->welcome_code, CODE_OK);
	}
	ck_assert_msg(n_authed > 0 && n_authed < AUTHED_MAX, "%d authenticated sessions before descriptors ran out",
		      n_authed);
	/* One connection waits, unaccepted: the listener is readable all
	 * along. A loop that retried at once would spin (and log) without end. */
	{
		struct tids_test_raw waiting;

		ck_assert_int_eq(tids_test_raw_dial(&waiting, hub.addr), 0);
		ck_assert_msg(tids_test_hub_await_log(&hub, "accepting paused", 1, WAIT_MS) == 0,
			      "no pause in the log (tidsd %s)", tids_test_hub_alive(&hub) ? "alive" : "dead");
		lines = log_lines();
		cpu = loop_cpu_ms();
		sleep_ms(3000);
		ck_assert_msg(log_lines() - lines <= 2, "%d log lines in 3 s while out of descriptors",
			      log_lines() - lines);
		ck_assert_msg(loop_cpu_ms() - cpu < 1500, "the event loop used %ld ms of CPU in 3 s while out of "
			      "descriptors", loop_cpu_ms() - cpu);
		/* The operator still gets in (tidsd keeps a descriptor for it),
		 * and the sessions already open are served. */
		admin_answers();
		for (int i = 0; i < n_authed; i++)
			ck_assert_int_eq(tids_test_raw_ping(&authed[i], (uint64_t)i + 1, WAIT_MS), CODE_OK);
		tids_test_raw_close(&waiting);
	}
	/* A session leaves: accepting resumes. */
	tids_test_raw_close(&authed[--n_authed]);
	{
		int64_t deadline = mono_ms() + WAIT_MS;
		struct tids_client *c = NULL;

		while (c == NULL && mono_ms() < deadline) {
			c = tids_test_hub_connect(&hub, &pub);
			if (c == NULL)
				sleep_ms(200);
		}
		ck_assert_msg(c != NULL, "no connection accepted after a descriptor was freed");
		tids_client_free(c);
	}
	for (int i = 0; i < n_authed; i++)
		tids_test_raw_close(&authed[i]);
	participant_publishes(&pub);
	admin_answers();
	ck_assert_msg(tids_test_hub_alive(&hub), "tidsd died; its log is %s", hub.log);
	tids_identity_wipe(&pub);
	tids_test_hub_destroy(&hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("connection budgets");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_flood_of_half_open_connections);
	tcase_add_test(tc, test_flood_from_one_address);
	tcase_add_test(tc, test_admin_budget);
	tcase_add_test(tc, test_nofile_fits_budgets);
	tcase_add_test(tc, test_out_of_descriptors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
