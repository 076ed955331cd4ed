/*
 * tidsd: one straight startup sequence (arguments, configuration, -n check,
 * keys, registry, policies, loop, Kafka, roles, listeners, READY=1), the
 * loop, and an orderly stop: stop accepting, drain Kafka, close sessions,
 * commit SQLite.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/epoch.h"
#include "tids/error.h"
#include "tids/secmem.h"
#include "metrics.h"
#include "router.h"
#include "tidsd.h"

#define DEFAULT_CONFIG TIDS_SYSCONFDIR "/tids/tidsd.conf"
#define DRAIN_MS 10000

static const char *instance_arg;          /* -i NAME */

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tids_logv(TIDS_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tidsd [-d] [-n] [-c config] [-i instance]\n"
		   "       tidsd -V | -h\n"
		   "  -c, --config FILE    configuration (default " DEFAULT_CONFIG ")\n"
		   "  -i, --instance NAME  this instance's name among the hub's instances (over hub.instance)\n"
		   "  -n, --check          check the configuration and policies, print \"configuration OK\", exit\n"
		   "  -d, --debug          debug logging\n"
		   "  -V, --version        print the version, exit\n"
		   "  -h, --help           print this help, exit\n"
		   "Signals: SIGHUP reloads the configuration and policies; SIGTERM stops.\n"
		   "See tidsd(8) and tidsd.conf(5).\n");
}

/* Prints each collected error line and exits (for -n and startup). */
static void die_with(struct tids_buf *errs)
{
	if (errs->len > 0 && fwrite(tids_buf_head(errs), 1, errs->len, stderr) != errs->len)
		exit(1);
	exit(1);
}

/* Logs each line of errs on its own, with the log's prefix. */
static void log_lines(enum tids_log_priority prio, const struct tids_buf *errs)
{
	const char *p = (const char *)tids_buf_head(errs), *end = p + errs->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0)
			tids_log(prio, "%.*s", (int)n, p);
		p += n + 1;
	}
}

static int check_only(const struct config *conf, struct tids_buf *errs)
{
	struct tids_policy_set *set = NULL;
	struct tids_identity id;
	char err[512];
	int bad = 0;

	const struct tids_policy_tz *tz;
	if (timezone_load(conf->timezone, &tz, err, sizeof(err)) != 0) {
		tids_log(TIDS_LOG_ERR, "%s: hub.timezone: %s", conf->path, err);
		bad = 1;
	} else {
		tids_policy_tz_free((struct tids_policy_tz *)tz);
	}
	if (policy_load_dir(conf->policy_dir, &set, errs) != 0) {
		log_lines(TIDS_LOG_ERR, errs);
		tids_buf_free(errs);
		tids_log(TIDS_LOG_ERR, "the policies in %s do not compile", conf->policy_dir);
		bad = 1;
	}
	tids_policy_set_free(set);
	if (tids_keyfile_read_identity(conf->hub_key, &id, err, sizeof(err)) != 0) {
		/* A missing key is created at first start; a bad one is an error. */
		if (access(conf->hub_key, F_OK) == 0) {
			fprintf(stderr, "%s: hub.key: %s\n", conf->path, err);
			bad = 1;
		}
	}
	tids_identity_wipe(&id);
	{
		struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS];
		char path[4096];

		/* Created at first start; one that exists must be whole and private. */
		if (*conf->epoch_key != '\0')
			snprintf(path, sizeof(path), "%s", conf->epoch_key);
		else
			config_state_path(conf, "epoch.key", path, sizeof(path));
		if (access(path, F_OK) == 0 && tids_epoch_read(path, slots, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: hub.epoch_key: %s\n", conf->path, err);
			bad = 1;
		}
	}
	if (bad)
		die_with(errs);
	printf("configuration OK\n");
	return 0;
}

static void load_hub_key(struct tidsd *d)
{
	char err[512];
	int r = tids_keyfile_read_identity(d->conf->hub_key, &d->hub, err, sizeof(err));

	if (r == TIDS_ENOENT) {
		/* First start: the hub makes its identity, once. */
		if (tids_identity_generate(&d->hub) != 0 ||
		    tids_keyfile_write_identity(d->conf->hub_key, &d->hub, err, sizeof(err)) != 0)
			fatalx("hub key: %s", err);
		tids_log_info("created hub key %s", d->conf->hub_key);
		r = 0;
	}
	if (r != 0)
		fatalx("hub key: %s", err);
	{
		char pub[TIDS_KEY_BASE64_BYTES];

		tids_key_to_base64(d->hub.sign_pk, pub);
		tids_log_info("hub %s (%s), public key %s", d->conf->hub_id, d->conf->jurisdiction, pub);
	}
	/* Not fatal: the key can still be had over the admin socket. */
	(void)keys_write_hub_pub(d);
}

static void open_store(struct tidsd *d)
{
	char path[4096], err[512];

	if (mkdir(d->conf->state_dir, 0750) != 0 && errno != EEXIST)
		fatalx("state.dir %s: %s", d->conf->state_dir, strerror(errno));
	config_state_path(d->conf, "registry.db", path, sizeof(path));
	if (store_open(path, &d->store, err, sizeof(err)) != 0)
		fatalx("%s", err);
}

/* Compiled first of all: a hub whose policies do not compile starts
 * nothing, so it creates no key and opens no registry on the way out. */
static struct tids_policy_set *compile_policies(const struct tidsd *d)
{
	struct tids_buf errs = { 0 };
	struct tids_policy_set *set;

	if (policy_load_dir(d->conf->policy_dir, &set, &errs) != 0) {
		/* Never run without a policy set: default deny needs rules to
		 * deny by, and routing without them would be guesswork. */
		log_lines(TIDS_LOG_ERR, &errs);
		fatalx("refusing to start: the policies in %s do not compile", d->conf->policy_dir);
	}
	tids_buf_free(&errs);
	tids_log_info("policies: %zu rules from %s", tids_policy_set_rule_count(set), d->conf->policy_dir);
	return set;
}

static void load_policies(struct tidsd *d, struct tids_policy_set *set)
{
	if (ingest_set_floors(d, set) != 0 || purposes_set(d, set) != 0)
		fatalx("policies: out of memory");
	router_post(d, RM_POLICY, "policy", NULL, 0, NULL, set);
}

void tidsd_reload(struct tidsd *d)
{
	char err[256];
	struct tids_buf errs = { 0 };
	struct config *next = NULL;
	struct tids_policy_set *set = NULL;

	sd_reloading();
	tids_log_info("reloading %s", d->conf->path);
	if (config_load(d->conf->path, &next, &errs) != 0) {
		tids_log_warnx("reload refused, keeping the running configuration:");
		log_lines(TIDS_LOG_WARNING, &errs);
		goto out;
	}
	if (instance_arg != NULL && config_set_instance(next, instance_arg, err, sizeof(err)) != 0) {
		tids_log_warnx("reload refused: %s", err);
		config_free(next);
		goto out;
	}
	config_carry_over(d->conf, next);
	if (policy_load_dir(next->policy_dir, &set, &errs) != 0) {
		tids_log_warnx("reload refused, keeping the running policies:");
		log_lines(TIDS_LOG_WARNING, &errs);
		config_free(next);
		goto out;
	}
	if (purposes_set(d, set) != 0 || ingest_set_floors(d, set) != 0) {
		tids_log_warnx("reload refused, keeping the running policies: out of memory");
		tids_policy_set_free(set);
		config_free(next);
		goto out;
	}
	/* Both are whole: swap them in together. */
	tids_log_info("reloaded: %zu policy rules", tids_policy_set_rule_count(set));
	router_post(d, RM_POLICY, "policy", NULL, 0, NULL, set);
	{
		struct config *old = d->conf;

		d->conf = next;
		listeners_reloaded(d, old);
		config_free(old);
	}
	tids_log_set_max((enum tids_log_priority)d->conf->log_level);
	/* admin.keys or admin.group may have shrunk. */
	sessions_recheck(d, "reload");
out:
	tids_buf_free(&errs);
	sd_ready();
}

void tidsd_tick(struct tidsd *d)
{
	int64_t mono = mono_ms();

	sd_watchdog_tick(mono);
	http_tick(d);
	sessions_tick(d);
	listeners_tick(d);
	egress_tick(d);
	router_tick(d);
	hubstate_tick(d);
	federation_tick(d);
	statistics_tick(d);
	registry_expire_grants(d, now_ms());
	ingest_tick(d);
	if (store_commit(d->store) != 0)
		tids_log_warnx("registry: commit failed");
}

static void shutdown_cleanly(struct tidsd *d)
{
	sd_stopping();
	tids_log_info("stopping: %zu sessions, %zu records in flight", session_count(d), ingest_in_flight(d));
	listeners_close(d);
	http_close(d);
	ingest_flush(d, DRAIN_MS);
	sessions_close_all(d);
	federation_free(d);
	budget_free(d);
	router_free(d);
	indexer_free(d);
	statistics_free(d);
	egress_free(d);
	ingest_free(d);
	hubstate_free(d);
	kafka_free(d);
	if (store_commit(d->store) != 0)
		tids_log_warnx("registry: final commit failed");
	registry_free(d);
	purposes_free(d);
	store_close(d->store);
	loop_free(d);
	tids_identity_wipe(&d->hub);
	keys_close(d);
	tids_policy_tz_free((struct tids_policy_tz *)d->tz);
	/* After the router and indexer threads, which count into it. */
	metrics_free(d->metrics);
	d->metrics = NULL;
	config_free(d->conf);
	tids_log_info("stopped");
}

int main(int argc, char **argv)
{
	struct tidsd *d;
	const char *conf_path = DEFAULT_CONFIG;
	char err[256];
	struct tids_buf errs = { 0 };
	struct tids_policy_set *policies;
	bool check = false, debug = false;
	int c, r;
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "instance", required_argument, NULL, 'i' },
		{ "check", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "c:di:nVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'i':
			instance_arg = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'n':
			check = true;
			break;
		case 'V':
			printf("tidsd %s\n", TIDSD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	tids_log_init("tidsd", debug ? TIDS_LOG_DEBUG : TIDS_LOG_INFO);
	tids_log_set_timestamps(1);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	/* The daemon's state holds the hub's identity: guarded memory keeps it
	 * out of core dumps and swap. */
	d = tids_secmem_alloc(sizeof(*d));
	if (d == NULL)
		fatalx("out of memory");
	/* The loop ticks while the hub state is read, before the listeners open. */
	d->listen_tcp.fd = d->listen_unix.fd = d->spare_fd = -1;
	if (config_load(conf_path, &d->conf, &errs) != 0)
		die_with(&errs);
	if (instance_arg != NULL && config_set_instance(d->conf, instance_arg, err, sizeof(err)) != 0)
		fatalx("%s", err);
	if (check)
		return check_only(d->conf, &errs);
	if (!debug)
		tids_log_set_max((enum tids_log_priority)d->conf->log_level);
	sd_status("starting");

	d->metrics = metrics_new();
	if (d->metrics == NULL)
		fatalx("out of memory");
	d->metrics->router_enabled = d->conf->router;
	/* the calendar too, before anything is created */
	if (timezone_load(d->conf->timezone, &d->tz, err, sizeof(err)) != 0)
		fatalx("refusing to start: hub.timezone: %s", err);
	policies = compile_policies(d);
	load_hub_key(d);
	open_store(d);
	/* The master key and the epoch keys are this instance's; the hub data
	 * key comes with the hub state (keys_open_data, below). */
	if (keys_open(d) != 0)
		fatalx("cannot continue without the keys at rest; see above");
	if (router_new(d) != 0)
		fatalx("out of memory");
	load_policies(d, policies);
	if (loop_init(d) != 0)
		fatalx("event loop: %s", strerror(errno));
	sd_status("connecting to Kafka");
	r = kafka_init(d);
	if (r != 0 && d->sig_stop) {
		/* Stopped while it waited for Kafka: nothing ran yet. */
		tids_log_info("stopped while waiting for Kafka");
		shutdown_cleanly(d);
		return 0;
	}
	if (r != 0)
		fatalx("Kafka is not usable; see above");
	/* The registry is a view of the hub state on Kafka: checked against
	 * the topic, loaded, then brought up to date before anything is served. */
	if (hubstate_open(d) != 0)
		fatalx("the hub state on Kafka is not usable; see above");
	if (registry_load(d) != 0)
		fatalx("registry could not be loaded");
	sd_status("reading the hub state");
	if (hubstate_start(d) != 0)
		fatalx("the hub state could not be read; see above");
	if (keys_open_data(d) != 0)
		fatalx("cannot continue without the hub data key; see above");
	if (ingest_init(d) != 0 || ingest_load_unacked(d) != 0)
		fatalx("Kafka is not usable; see above");
	/* Before the router: it must know the peers' participants before it
	 * routes anything. */
	if (federation_init(d) != 0)
		fatalx("federation could not start; see above");
	if (d->conf->router && router_init(d) != 0)
		fatalx("router could not start; see above");
	/* Each instance that keeps a ledger indexes every chain: the same
	 * ledger, the same answers, from any of them. Statistics are counted
	 * from that ledger; instances that keep it each publish a period's
	 * statistics as the same record (the same id), and a copy stops at
	 * the router. */
	if (d->conf->ledger && (statistics_init(d) != 0 || indexer_init(d) != 0))
		fatalx("audit ledger indexer could not start; see above");
	if (listeners_open(d) != 0 || http_open(d) != 0)
		fatalx("cannot listen; see above");

	sd_ready();
	tids_log_info("ready");
	loop_run(d);
	shutdown_cleanly(d);
	tids_secmem_free(d);
	return 0;
}
