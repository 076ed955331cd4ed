/*
 * tidsctl monitor: a live view of what the hub decides, for a regulator or
 * an operator at a terminal (over ssh too): decisions by tier over a
 * sliding window with their rate, flows between countries and the rules
 * that deny; the network's hubs as their signed statistics say (each
 * hub's newest period: decisions by tier, denials, flows across a border,
 * and whether it is silent); and, with --hub, the links to the peer hubs
 * with their lag (Admin/Peers). It reads the ledger, so it works with the
 * daemon up or down and needs no port of its own. Plain ANSI escapes, no
 * curses; the alternate screen and the terminal's modes are restored
 * however it ends.
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
#include "tids/error.h"
#include "tids/statistics.h"
#include "tidsctl.h"

static const char monitor_help[] =
	"usage: tidsctl monitor [--ledger FILE] [--interval SEC] [--window DURATION] [--once]\n"
	"                       [--hub-keys FILE] [CONNECTION]\n"
	"A live view of the hub's decisions over the last --window (default 15m, e.g. 1h):\n"
	"by tier with their rate, between countries, and the rules that denied most; the\n"
	"hubs of the network as their signed statistics in the ledger say (each one's\n"
	"newest period; SILENT when the next is overdue, quiet when it decided nothing,\n"
	"none when there are none of the last 26 hours); the network's denials by rule\n"
	"from those statistics; and, with --hub, the links to the peer hubs and their lag.\n"
	"Refreshes every --interval seconds (default 2) in place; q or Ctrl-C\n"
	"quits. --once prints one frame and exits (for scripts). Reads the ledger file,\n"
	"with the daemon up or down.\n"
	"  --hub-keys FILE  lines 'HUB-ID KEY' (base64): check each hub's statistics with\n"
	"                   its key (BAD SIGNATURE otherwise) and expect them from it\n"
	"Connection (for the peer links; none by default):\n" CONN_HELP;

#define ROWS_MAX 12
#define HUBS_MAX 32
/* How far back the ledger is searched for each hub's newest statistics. */
#define STATS_LOOKBACK_MS (26 * 3600 * 1000LL)

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
	/* The network's hubs, by their newest statistics. */
	struct hub_row {
		char id[TIDS_ID_MAX + 1], jurisdiction[16];
		bool seen, bad_signature, checked;
		int64_t start, period, delay;
		uint64_t decisions, permitted[4], denied, cross_border;
	} hubs[HUBS_MAX];
	size_t n_hubs;
	/* Denials by rule across the network: every hub's periods in the
	 * look-back, each counted once (signed statistics carry no records). */
	struct rule_count net_rules[64];
	size_t n_net_rules;
	/* Links to the peers (with --hub). */
	struct tids_peers_reply peers;
	bool have_peers;
	char peers_error[256];
};

/* Keys to check statistics with (--hub-keys). */
struct hub_key {
	char id[TIDS_ID_MAX + 1];
	uint8_t key[TIDS_PUBLIC_KEY_BYTES];
};

static struct hub_key *hub_keys;
static size_t n_hub_keys;

static void country(const char *j, char out[8])
{
	size_t n = strcspn(j, "-");

	snprintf(out, 8, "%.*s", (int)(n < 7 ? n : 7), j);
}

/* Adds n to rule's row of rows (a new row while there is room). */
static void count_rule(struct rule_count *rows, size_t *n_rows, size_t cap, const char *rule, uint64_t n)
{
	size_t i;

	for (i = 0; i < *n_rows; i++)
		if (strcmp(rows[i].rule, rule) == 0)
			break;
	if (i == *n_rows) {
		if (*n_rows == cap)
			return;
		snprintf(rows[i].rule, sizeof(rows[i].rule), "%s", rule);
		rows[i].n = 0;
		(*n_rows)++;
	}
	rows[i].n += n;
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
	for (size_t k = 0; !ok && k < t->n_rules; k++)
		count_rule(f->rules, &f->n_rules, sizeof(f->rules) / sizeof(f->rules[0]), t->rules[k], t->count);
	return 0;
}

static struct hub_row *hub_row(struct frame *f, const char *id)
{
	for (size_t i = 0; i < f->n_hubs; i++)
		if (strcmp(f->hubs[i].id, id) == 0)
			return &f->hubs[i];
	if (f->n_hubs == HUBS_MAX)
		return NULL;
	memset(&f->hubs[f->n_hubs], 0, sizeof(f->hubs[0]));
	snprintf(f->hubs[f->n_hubs].id, sizeof(f->hubs[0].id), "%s", id);
	return &f->hubs[f->n_hubs++];
}

static const uint8_t *key_of(const char *id)
{
	for (size_t i = 0; i < n_hub_keys; i++)
		if (strcmp(hub_keys[i].id, id) == 0)
			return hub_keys[i].key;
	return NULL;
}

/* One statistics record of the ledger: kept if it is the hub's newest. */
static int add_statistics(void *ctx, const uint8_t *bytes, size_t len)
{
	struct frame *f = ctx;
	struct tids_record rec;
	struct tids_hub_statistics st;
	struct hub_row *h;
	const uint8_t *key;
	char err[256];

	if (tids_wire_decode_record(bytes, len, &rec, err, sizeof(err)) != 0)
		return 0;
	if (tids_statistics_from_record(&rec, &st, err, sizeof(err)) != 0) {
		tids_record_free(&rec);
		return 0;
	}
	for (size_t i = 0; i < st.n_denials; i++)
		count_rule(f->net_rules, &f->n_net_rules, sizeof(f->net_rules) / sizeof(f->net_rules[0]), st.denials[i].name,
			   st.denials[i].count);
	h = hub_row(f, st.hub_id);
	if (h != NULL && (!h->seen || st.period_start_ms > h->start)) {
		key = key_of(st.hub_id);
		h->seen = true;
		h->checked = key != NULL;
		h->bad_signature = key != NULL && tids_statistics_verify(key, &st, err, sizeof(err)) != 0;
		snprintf(h->jurisdiction, sizeof(h->jurisdiction), "%s", st.jurisdiction);
		h->start = st.period_start_ms;
		h->period = st.period_ms;
		h->delay = st.delay_ms;
		h->decisions = st.decisions;
		memset(h->permitted, 0, sizeof(h->permitted));
		h->denied = h->cross_border = 0;
		for (size_t i = 0; i < st.n_decided; i++) {
			const struct tids_stat_decided *d = &st.decided[i];

			if (d->decision == TIDS_DECISION_DENY)
				h->denied += d->decisions;
			else if (d->tier >= 1 && d->tier <= 3)
				h->permitted[d->tier] += d->decisions;
		}
		for (size_t i = 0; i < st.n_flows; i++)
			if (strncmp(st.flows[i].origin, st.flows[i].destination, 2) != 0)
				h->cross_border += st.flows[i].permitted;
	}
	tids_hub_statistics_free(&st);
	tids_record_free(&rec);
	return 0;
}

static int by_count(const void *a, const void *b)
{
	uint64_t x = ((const struct rule_count *)a)->n, y = ((const struct rule_count *)b)->n;

	return (x < y) - (x > y);
}

static void clock_of(int64_t ms, char out[16])
{
	char t[32];

	audit_format_time(ms, t);
	/* "YYYY-MM-DDTHH:MM:SSZ": the time of day is enough here. */
	snprintf(out, 16, "%.8s", strlen(t) >= 19 ? t + 11 : t);
}

/* Each hub's newest period, as its signed statistics say; a hub whose
 * next period is overdue is SILENT (DESIGN: it publishes every period,
 * also when it decided nothing, which makes it quiet). */
static void draw_hubs(const struct frame *f, const char *bar)
{
	int64_t now = wall_ms();

	printf("%s\n%-30s %8s %8s %8s %9s %6s %7s %8s  %s\n", bar, "HUBS (signed statistics)", "ends", "decided",
	       "general", "important", "core", "denied", "x-border", "status");
	if (f->n_hubs == 0)
		printf("  (no statistics in the ledger)\n");
	for (size_t i = 0; i < f->n_hubs; i++) {
		const struct hub_row *h = &f->hubs[i];
		char name[40], ends[16], status[64], since[16];

		snprintf(name, sizeof(name), "%s%s%s%s", h->id, *h->jurisdiction ? " (" : "", h->jurisdiction,
			 *h->jurisdiction ? ")" : "");
		/* Expected but never seen: a hub that has not finished its first
		 * period looks the same, so this is not called silent. */
		if (!h->seen) {
			printf("  %-28.28s %8s %8s %8s %9s %6s %7s %8s  none in %d h\n", name, "-", "-", "-", "-", "-", "-",
			       "-", (int)(STATS_LOOKBACK_MS / 3600000));
			continue;
		}
		clock_of(h->start + h->period, ends);
		if (h->bad_signature) {
			snprintf(status, sizeof(status), "BAD SIGNATURE");
		} else if (now > tids_statistics_overdue_at(h->start + h->period, h->period, h->delay)) {
			clock_of(h->start + 2 * h->period + h->delay, since);
			snprintf(status, sizeof(status), "SILENT (due %s)", since);
		} else {
			snprintf(status, sizeof(status), "%s%s", h->decisions == 0 ? "quiet" : "active",
				 h->checked ? ", signature ok" : "");
		}
		printf("  %-28.28s %8s %8llu %8llu %9llu %6llu %7llu %8llu  %s\n", name, ends,
		       (unsigned long long)h->decisions, (unsigned long long)h->permitted[1],
		       (unsigned long long)h->permitted[2], (unsigned long long)h->permitted[3],
		       (unsigned long long)h->denied, (unsigned long long)h->cross_border, status);
	}
}

/* The links to the peer hubs, from Admin/Peers. */
static void draw_links(const struct frame *f, const char *bar)
{
	printf("%s\n%-30s %5s %8s %10s %10s %10s  %s\n", bar, "PEER LINKS", "link", "serving", "lag", "imported",
	       "forwarded", "last error");
	if (*f->peers_error != '\0') {
		printf("  (%s)\n", f->peers_error);
		return;
	}
	if (f->peers.n_peers == 0)
		printf("  (no peer hubs registered)\n");
	for (size_t i = 0; i < f->peers.n_peers && i < ROWS_MAX; i++) {
		const struct tids_peer_status *p = &f->peers.peers[i];

		printf("  %-28.28s %5s %8s %10llu %10llu %10llu  %.40s\n", p->hub_id, p->link_up ? "up" : "DOWN",
		       p->serving ? "up" : "DOWN", (unsigned long long)p->lag, (unsigned long long)p->imported,
		       (unsigned long long)p->forwarded, *p->last_error != '\0' ? p->last_error : "-");
	}
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
	draw_hubs(f, bar);
	printf("%s\n%-40s %12s\n", bar, "NETWORK DENIALS BY RULE (signed statistics)", "denied");
	if (f->n_net_rules == 0)
		printf("  (none in %d h)\n", (int)(STATS_LOOKBACK_MS / 3600000));
	for (size_t i = 0; i < f->n_net_rules && i < ROWS_MAX; i++)
		printf("  %-38.38s %12llu\n", f->net_rules[i].rule, (unsigned long long)f->net_rules[i].n);
	if (f->have_peers || *f->peers_error != '\0')
		draw_links(f, bar);
	printf("%s\n* crosses a border\n", bar);
	fflush(stdout);
}

/* --hub-keys FILE: "HUB-ID KEY" lines, '#' comments. */
static int read_hub_keys(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	unsigned n = 0;

	if (f == NULL)
		return cli_fail("--hub-keys %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char id[TIDS_ID_MAX + 2], key[128];
		struct hub_key *grown;

		n++;
		if (line[strspn(line, " \t")] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (sscanf(line, "%129s %127s", id, key) != 2 || !tids_valid_id(id)) {
			fclose(f);
			return cli_fail("--hub-keys %s:%u: expected 'HUB-ID KEY'", path, n);
		}
		if ((grown = realloc(hub_keys, (n_hub_keys + 1) * sizeof(*hub_keys))) == NULL) {
			fclose(f);
			return cli_fail("out of memory");
		}
		hub_keys = grown;
		memcpy(hub_keys[n_hub_keys].id, id, strlen(id) + 1);   /* valid: at most TIDS_ID_MAX */
		if (tids_key_from_base64(key, hub_keys[n_hub_keys].key) != 0) {
			fclose(f);
			return cli_fail("--hub-keys %s:%u: '%.60s' is not a base64 public key", path, n, key);
		}
		n_hub_keys++;
	}
	fclose(f);
	return 0;
}

/* The hub for the links panel: connected once, again after a failure. */
struct link_conn {
	struct tids_client_options o;
	struct tids_identity id;
	uint8_t hub_key[TIDS_PUBLIC_KEY_BYTES];
	struct tids_client *c;
};

static int link_conn_init(struct link_conn *lc, const struct conn_opts *co)
{
	char err[512];

	memset(lc, 0, sizeof(*lc));
	lc->o.address = co->hub;
	lc->o.timeout_ms = co->timeout_ms < 5000 ? co->timeout_ms : 5000;
	if (co->hub == NULL || co->hub[0] == '/')
		return 0;
	if (co->key == NULL)
		return cli_fail("connecting to %s needs your identity: --key FILE (or TIDS_KEY)", co->hub);
	if (tids_keyfile_read_identity(co->key, &lc->id, err, sizeof(err)) != 0)
		return cli_fail("%s", err);
	lc->o.identity = &lc->id;
	if (co->hub_key != NULL) {
		if (cli_public_key(co->hub_key, lc->hub_key) != 0)
			return EXIT_FAIL;
		lc->o.hub_key = lc->hub_key;
	}
	return 0;
}

static void link_peers(struct link_conn *lc, struct frame *f)
{
	char err[256];

	if (lc->o.address == NULL)
		return;
	if (lc->c == NULL && tids_client_connect(&lc->o, &lc->c, err, sizeof(err)) != 0) {
		snprintf(f->peers_error, sizeof(f->peers_error), "hub %.100s not reachable: %.120s", lc->o.address, err);
		return;
	}
	if (tids_client_peers(lc->c, &f->peers, err, sizeof(err)) != 0) {
		snprintf(f->peers_error, sizeof(f->peers_error), "peers: %.200s", err);
		tids_client_free(lc->c);
		lc->c = NULL;
		return;
	}
	f->have_peers = true;
}

static void link_conn_free(struct link_conn *lc)
{
	tids_client_free(lc->c);
	tids_identity_wipe(&lc->id);
}

/* Everything one refresh shows; 0, or -1 with err. */
static int collect(struct tids_ledger *l, const char *hub_id, int64_t window_ms, struct link_conn *lc, struct frame *f,
		   char *err, size_t errlen)
{
	int64_t now = wall_ms();

	if (tids_ledger_tally(l, now - window_ms, now + 1, add, f, err, errlen) != 0)
		return -1;
	qsort(f->rules, f->n_rules, sizeof(f->rules[0]), by_count);
	/* The hubs expected to publish: this one, its peers, the keyed. */
	if (tids_valid_id(hub_id))
		hub_row(f, hub_id);
	link_peers(lc, f);
	for (size_t i = 0; f->have_peers && i < f->peers.n_peers; i++)
		hub_row(f, f->peers.peers[i].hub_id);
	for (size_t i = 0; i < n_hub_keys; i++)
		hub_row(f, hub_keys[i].id);
	if (tids_valid_id(hub_id) &&
	    tids_ledger_each_statistics(l, hub_id, now - (window_ms > STATS_LOOKBACK_MS ? window_ms : STATS_LOOKBACK_MS),
					now + 1, add_statistics, f, err, errlen) != 0)
		return -1;
	if (f->n_net_rules > 0)
		qsort(f->net_rules, f->n_net_rules, sizeof(f->net_rules[0]), by_count);
	return 0;
}

static void frame_free(struct frame *f)
{
	if (f->have_peers)
		tids_peers_reply_free(&f->peers);
}

int tidsctl_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "interval", required_argument, NULL, 'i' },
		{ "window", required_argument, NULL, 'w' }, { "once", no_argument, NULL, 'o' },
		{ "hub-keys", required_argument, NULL, 'K' }, CONN_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = audit_default_ledger();
	int64_t window_ms = 15 * 60000;
	long interval = 2;
	bool once = false;
	char hub_id[TIDS_ID_MAX + 1] = "?", err[512];
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];
	struct tids_ledger *l;
	struct conn_opts co;
	struct link_conn lc;
	int opt, rc = EXIT_OK;

	conn_opts_init(&co, NULL);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
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
		case 'K': if (read_hub_keys(optarg) != 0) return EXIT_USAGE; break;
		case 'h': fputs(monitor_help, stdout); return EXIT_OK;
		default: return cli_usage(monitor_help);
		}
	}
	if (optind != argc)
		return cli_usage(monitor_help);
	if (link_conn_init(&lc, &co) != 0) {
		link_conn_free(&lc);
		return EXIT_USAGE;
	}
	if ((l = audit_open(path, false)) == NULL) {
		link_conn_free(&lc);
		return EXIT_FAIL;
	}
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
		/* A hub that goes away mid-write must not end the view. */
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, NULL);
		enter_screen();
	}
	while (!quit) {
		struct frame *f = calloc(1, sizeof(*f));
		struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
		char c;

		if (f == NULL || collect(l, hub_id, window_ms, &lc, f, err, sizeof(err)) != 0) {
			restore();
			rc = f == NULL ? cli_fail("out of memory") : cli_fail("%s", err);
			if (f != NULL)
				frame_free(f);
			free(f);
			break;
		}
		draw(path, hub_id, window_ms, (int)interval, f, once);
		frame_free(f);
		free(f);
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
	link_conn_free(&lc);
	free(hub_keys);
	return rc;
}
