/*
 * tidsctl monitor: a live view of what the hub decides, for a regulator or
 * an operator at a terminal (over ssh too): decisions by tier over a
 * sliding window with their rate, flows between countries and the rules
 * that deny. It reads the ledger, so it works
 * with the daemon up or down and needs no port of its own. Plain ANSI
 * escapes, no curses; the alternate screen and the terminal's modes are
 * restored however it ends.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd_audit.h"
#include "tidsctl.h"

static const char monitor_help[] =
	"usage: tidsctl monitor [--ledger FILE] [--interval SEC] [--window DURATION] [--once]\n"
	"A live view of the hub's decisions over the last --window (default 15m, e.g. 1h):\n"
	"by tier with their rate, between countries, and the rules that denied most.\n"
	"Refreshes every --interval seconds (default 2) in place; q or Ctrl-C\n"
	"quits. --once prints one frame and exits (for scripts). Reads the ledger file,\n"
	"with the daemon up or down.\n";

#define ROWS_MAX 12

static struct termios saved;
static bool raw_mode, alt_screen;
static volatile sig_atomic_t quit, resized;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		quit = 1;
}

static void restore(void)
{
	if (alt_screen)
		fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	if (raw_mode)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	raw_mode = alt_screen = false;
}

/* Keys without Enter, no echo; the alternate screen, no cursor. */
static void enter_screen(void)
{
	struct termios t;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		t = saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			raw_mode = true;
	}
	fputs("\033[?1049h\033[?25l", stdout);
	alt_screen = true;
	atexit(restore);
}

static int columns(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 100;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What one refresh shows. */
struct frame {
	uint64_t permitted[4], denied[4];
	struct {
		char from[8], to[8];
		uint64_t permitted, denied;
	} pairs[ROWS_MAX];
	size_t n_pairs;
	struct rule_count {
		char rule[64];
		uint64_t n;
	} rules[64];
	size_t n_rules;
};

static void country(const char *j, char out[8])
{
	size_t n = strcspn(j, "-");

	snprintf(out, 8, "%.*s", (int)(n < 7 ? n : 7), j);
}

static int add(void *ctx, const struct tids_ledger_tally *t)
{
	struct frame *f = ctx;
	bool ok = t->decision == TIDS_DECISION_ALLOW || t->decision == TIDS_DECISION_TRANSFORM;
	int tier = t->tier >= 1 && t->tier <= 3 ? (int)t->tier : 0;
	char from[8], to[8];
	size_t i;

	*(ok ? &f->permitted[tier] : &f->denied[tier]) += t->count;
	country(t->origin, from);
	country(t->destination, to);
	for (i = 0; i < f->n_pairs; i++)
		if (strcmp(f->pairs[i].from, from) == 0 && strcmp(f->pairs[i].to, to) == 0)
			break;
	if (i == f->n_pairs && f->n_pairs < ROWS_MAX) {
		memcpy(f->pairs[i].from, from, 8);
		memcpy(f->pairs[i].to, to, 8);
		f->n_pairs++;
	}
	if (i < f->n_pairs)
		*(ok ? &f->pairs[i].permitted : &f->pairs[i].denied) += t->count;
	for (size_t k = 0; !ok && k < t->n_rules; k++) {
		for (i = 0; i < f->n_rules; i++)
			if (strcmp(f->rules[i].rule, t->rules[k]) == 0)
				break;
		if (i == f->n_rules && f->n_rules < sizeof(f->rules) / sizeof(f->rules[0]))
			snprintf(f->rules[f->n_rules++].rule, sizeof(f->rules[0].rule), "%s", t->rules[k]);
		if (i < f->n_rules)
			f->rules[i].n += t->count;
	}
	return 0;
}

static int by_count(const void *a, const void *b)
{
	uint64_t x = ((const struct rule_count *)a)->n, y = ((const struct rule_count *)b)->n;

	return (x < y) - (x > y);
}

static void draw(const char *path, const char *hub_id, int64_t window_ms, int interval, const struct frame *f,
		 bool once)
{
	static const char *const tiers[] = { "unset", "general", "important", "core" };
	char now[32], bar[256];
	int cols = columns(), w = cols - 2 < (int)sizeof(bar) - 1 ? cols - 2 : (int)sizeof(bar) - 1;
	double minutes = (double)window_ms / 60000.0;
	uint64_t all = 0;

	audit_format_time(wall_ms(), now);
	if (!once)
		fputs("\033[H\033[2J", stdout);
	memset(bar, '-', (size_t)w);
	bar[w] = '\0';
	printf("tids monitor  hub %s  %s  (every %d s; q quits)\n", hub_id, now, interval);
	printf("ledger %s, decisions of the last %.0f min\n%s\n", path, minutes, bar);
	printf("%-22s %12s %12s %12s\n", "DECISIONS BY TIER", "permitted", "denied", "per minute");
	for (int t = 1; t <= 3; t++) {
		printf("  %-20s %12llu %12llu %12.1f\n", tiers[t], (unsigned long long)f->permitted[t],
		       (unsigned long long)f->denied[t], (double)(f->permitted[t] + f->denied[t]) / minutes);
		all += f->permitted[t] + f->denied[t];
	}
	printf("  %-20s %38.1f\n", "all", (double)all / minutes);
	printf("%s\n%-22s %12s %12s\n", bar, "FLOWS (from > to)", "permitted", "denied");
	if (f->n_pairs == 0)
		printf("  (none in the window)\n");
	for (size_t i = 0; i < f->n_pairs; i++) {
		char pair[24];

		snprintf(pair, sizeof(pair), "%s > %s%s", *f->pairs[i].from ? f->pairs[i].from : "-",
			 *f->pairs[i].to ? f->pairs[i].to : "-", strcmp(f->pairs[i].from, f->pairs[i].to) != 0 ? "  *" : "");
		printf("  %-20s %12llu %12llu\n", pair, (unsigned long long)f->pairs[i].permitted,
		       (unsigned long long)f->pairs[i].denied);
	}
	printf("%s\n%-40s %12s\n", bar, "DENIALS BY RULE", "denied");
	if (f->n_rules == 0)
		printf("  (none in the window)\n");
	for (size_t i = 0; i < f->n_rules && i < ROWS_MAX; i++)
		printf("  %-38.38s %12llu\n", f->rules[i].rule, (unsigned long long)f->rules[i].n);
	printf("%s\n* crosses a border\n", bar);
	fflush(stdout);
}

int tidsctl_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "interval", required_argument, NULL, 'i' },
		{ "window", required_argument, NULL, 'w' }, { "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = audit_default_ledger();
	int64_t window_ms = 15 * 60000;
	long interval = 2;
	bool once = false;
	char hub_id[TIDS_ID_MAX + 1] = "?", err[512];
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];
	struct tids_ledger *l;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 'i': {
			char *end;

			errno = 0;
			interval = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || interval < 1 || interval > 3600)
				return cli_fail("--interval %s: whole seconds, 1 to 3600", optarg) + 1;
			break;
		}
		case 'w': if (audit_duration(optarg, &window_ms) != 0) return EXIT_USAGE; break;
		case 'o': once = true; break;
		case 'h': fputs(monitor_help, stdout); return EXIT_OK;
		default: return cli_usage(monitor_help);
		}
	}
	if (optind != argc)
		return cli_usage(monitor_help);
	if ((l = audit_open(path, false)) == NULL)
		return EXIT_FAIL;
	if (tids_ledger_hub(l, hub_id, pk) != 0)
		snprintf(hub_id, sizeof(hub_id), "(not named yet)");
	if (!once) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGWINCH, &sa, NULL);
		enter_screen();
	}
	while (!quit) {
		struct frame f;
		int64_t now = wall_ms();
		struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
		char c;

		memset(&f, 0, sizeof(f));
		if (tids_ledger_tally(l, now - window_ms, now + 1, add, &f, err, sizeof(err)) != 0) {
			restore();
			tids_ledger_close(l);
			return cli_fail("%s", err);
		}
		qsort(f.rules, f.n_rules, sizeof(f.rules[0]), by_count);
		draw(path, hub_id, window_ms, (int)interval, &f, once);
		if (once)
			break;
		/* Sleep until the next refresh, a key, a resize or a signal. */
		for (int64_t until = wall_ms() + interval * 1000; !quit && !resized && wall_ms() < until;) {
			if (poll(&pfd, 1, (int)(until - wall_ms())) > 0 && read(STDIN_FILENO, &c, 1) == 1 &&
			    (c == 'q' || c == 'Q' || c == 3))
				quit = 1;
			if (pfd.revents & (POLLHUP | POLLERR))
				quit = 1;
		}
		resized = 0;
	}
	restore();
	tids_ledger_close(l);
	return EXIT_OK;
}
