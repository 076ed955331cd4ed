/*
 * tidsd.conf: "name = value" lines read through one typed option table
 * (name, type, bounds, default, reloadable), Redis style, instead of a chain
 * of string compares. kafka.* names the table does not know pass through to
 * librdkafka, which checks them.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tids/error.h"
#include "tids/zoneinfo.h"
#include "tidsd.h"

enum opt_type { OPT_STRING, OPT_ID, OPT_JURISDICTION, OPT_PATH, OPT_TIMEZONE, OPT_INT, OPT_DURATION, OPT_SIZE,
		OPT_BOOL, OPT_ENUM };

struct option {
	const char *name;
	enum opt_type type;
	size_t offset;
	int64_t min, max;
	const char *def;
	bool reloadable;
	const char *const *words;   /* OPT_ENUM: value i is words[i] */
	const char *help;
};

static const char *const kafka_modes[] = { "external", "embedded", NULL };
static const char *const log_levels[] = { "", "", "", "error", "warning", "notice", "info", "debug", NULL };

#define O(f) offsetof(struct config, f)
static const struct option options[] = {
	{ "admin.group", OPT_INT, O(admin_gid), -1, 2147483647, "-1", true, NULL, "group id (primary or supplementary) allowed to administer over the Unix socket" },
	{ "admin.keys", OPT_STRING, O(admin_keys), 0, 4096, "", true, NULL, "base64 Ed25519 keys allowed to call Admin over TCP" },
	{ "audit.checkpoint_entries", OPT_INT, O(checkpoint_entries), 1, 10000000, "1000", true, NULL, "sign a checkpoint after this many entries" },
	{ "audit.checkpoint_interval", OPT_DURATION, O(checkpoint_interval_ms), 100, 86400000, "10s", true, NULL, "or after this long" },
	{ "audit.indexer_prefetch", OPT_SIZE, O(indexer_prefetch), 1048576, 1073741824, "4M", false, NULL, "Kafka data the ledger indexer reads ahead" },
	{ "audit.ledger", OPT_BOOL, O(ledger), 0, 0, "yes", false, NULL, "keep the audit ledger (state.dir/ledger.db) in this instance; every instance of a hub may, or some" },
	{ "audit.ledger_cache", OPT_SIZE, O(ledger_cache), 1048576, 1073741824, "16M", false, NULL, "SQLite page cache of the ledger indexer" },
	{ "federation.link_timeout", OPT_DURATION, O(link_timeout_ms), 1000, 3600000, "30s", true, NULL, "a peer link silent this long (or not up this long) is dialled again" },
	{ "hub.epoch_key", OPT_PATH, O(epoch_key), 0, 0, "", false, NULL, "file with the epoch key that wraps grant keys (keep it out of backups); default state.dir/epoch.key" },
	{ "hub.id", OPT_ID, O(hub_id), 0, 0, NULL, false, NULL, "this hub's id" },
	{ "hub.instance", OPT_STRING, O(instance), 0, 128, "", false, NULL, "this instance's name among the hub's tidsd instances (default: the host name)" },
	{ "hub.jurisdiction", OPT_JURISDICTION, O(jurisdiction), 0, 0, NULL, false, NULL, "jurisdiction code, e.g. CN-SH" },
	{ "hub.key", OPT_PATH, O(hub_key), 0, 0, "", false, NULL, "hub identity key file (mode 0600); default: systemd credential hub.key, else state.dir/hub.key" },
	{ "hub.master_key", OPT_PATH, O(master_key), 0, 0, "", false, NULL, "key wrapping data keys; default: systemd credential master.key, else state.dir/master.key" },
	{ "hub.timezone", OPT_TIMEZONE, O(timezone), 0, 0, "UTC", false, NULL, "time zone of the hub's calendar (monthly windows, dates), e.g. Asia/Shanghai" },
	{ "kafka.mode", OPT_ENUM, O(kafka_mode), 0, 0, "external", false, kafka_modes, "external broker, or embedded (not durable)" },
	{ "kafka.partitions", OPT_INT, O(partitions), 1, 1024, "4", false, NULL, "partitions of the ingress and audit topics" },
	{ "kafka.replication", OPT_INT, O(replication), -1, 16, "-1", false, NULL, "replication factor of created topics (-1: broker default)" },
	{ "kafka.topic_prefix", OPT_ID, O(topic_prefix), 0, 0, "tids", false, NULL, "topic names start with it" },
	{ "limits.frame_max", OPT_SIZE, O(frame_max), 1024, TIDS_FRAME_MAX_LIMIT, "1048576", true, NULL, "largest frame accepted" },
	{ "limits.handshake_timeout", OPT_DURATION, O(handshake_timeout_ms), 100, 600000, "10s", true, NULL, "time allowed to finish the handshake" },
	{ "limits.idle_timeout", OPT_DURATION, O(idle_timeout_ms), 1000, 86400000, "300s", true, NULL, "close connections silent this long" },
	{ "limits.max_admin_connections", OPT_INT, O(max_admin_connections), 1, 100000, "16", true, NULL, "admin socket connections served at once, apart from max_connections" },
	{ "limits.max_connections", OPT_INT, O(max_connections), 1, 1000000, "1024", true, NULL, "TCP connections served at once" },
	{ "limits.max_handshakes", OPT_INT, O(max_handshakes), 1, 1000000, "256", true, NULL, "TCP connections still in their handshake" },
	{ "limits.max_handshakes_per_address", OPT_INT, O(max_handshakes_per_address), 1, 1000000, "32", true, NULL, "of those, from one IPv4 address or IPv6 /64" },
	{ "limits.publish_in_flight", OPT_INT, O(publish_in_flight), 1, 65536, "32", true, NULL, "publishes of one connection awaiting Kafka before it is read no more" },
	{ "limits.publish_timeout", OPT_DURATION, O(publish_timeout_ms), 1000, 86400000, "300s", false, NULL, "how long a publish waits for Kafka before failing" },
	{ "limits.send_buffer", OPT_SIZE, O(send_buffer), 65536, 1073741824, "4194304", true, NULL, "bytes queued to one connection before it is paused" },
	{ "listen.tcp", OPT_STRING, O(listen_tcp), 0, 256, "0.0.0.0:7443", false, NULL, "participant API address (host:port; empty disables)" },
	{ "listen.unix", OPT_PATH, O(listen_unix), 0, 0, "/run/tids/tidsd.sock", false, NULL, "local admin socket (empty disables)" },
	{ "log.level", OPT_ENUM, O(log_level), 0, 0, "info", true, log_levels, "error, warning, notice, info or debug" },
	{ "metrics.listen", OPT_STRING, O(metrics_listen), 0, 256, "127.0.0.1:9743", false, NULL, "Prometheus /metrics and /health address (host:port; empty disables)" },
	{ "policy.dir", OPT_PATH, O(policy_dir), 0, 0, "/etc/tids/policy", true, NULL, "directory of *.tidspol files" },
	{ "router.enabled", OPT_BOOL, O(router), 0, 0, "yes", false, NULL, "route ingress records in this process" },
	{ "router.prefetch", OPT_SIZE, O(router_prefetch), 1048576, 1073741824, "4M", false, NULL, "ingress records the router reads ahead" },
	{ "router.session_timeout", OPT_DURATION, O(router_session_timeout_ms), 6000, 300000, "10s", false, NULL, "an instance silent this long loses its ingress partitions to the others" },
	{ "state.dir", OPT_PATH, O(state_dir), 0, 0, "/var/lib/tids", false, NULL, "SQLite databases" },
	{ "statistics.delay", OPT_DURATION, O(statistics_delay_ms), 0, 86400000, "1m", false, NULL, "a period's statistics are made this long after it ends (longer than a router transaction can take)" },
	{ "statistics.period", OPT_DURATION, O(statistics_period_ms), 1000, 86400000, "1h", false, NULL, "the hub publishes signed statistics of every period this long" },
};
#undef O

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))
#define CONFIG_LINE_MAX 4094          /* bytes of one line, without its newline */

static void add_err(struct tids_buf *errs, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_err(struct tids_buf *errs, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[512];
	int n;
	va_list ap;

	n = line > 0 ? snprintf(msg, sizeof(msg), "%s:%u: ", file, line) : snprintf(msg, sizeof(msg), "%s: ", file);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	if (tids_buf_append(errs, msg, strlen(msg)) < 0) {
		/* Out of memory while reporting: the load fails anyway. */
	}
}

static const struct option *find_option(const char *name)
{
	size_t lo = 0, hi = N_OPTIONS;

	/* The table is sorted by name. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, options[mid].name);

		if (c == 0)
			return &options[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* "300", "300ms", "10s", "5m", "2h", "1d" -> ms */
static int parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t unit = 1000;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		unit = 1000;
	else if (strcmp(end, "m") == 0)
		unit = 60000;
	else if (strcmp(end, "h") == 0)
		unit = 3600000;
	else if (strcmp(end, "d") == 0)
		unit = 86400000;
	else
		return -1;
	if (v > INT64_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

/* "4096", "64k", "4M", "1G" -> bytes */
static int parse_size(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t unit = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		unit = 1024;
	else if (*end == 'M')
		unit = 1024 * 1024;
	else if (*end == 'G')
		unit = 1024 * 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > INT64_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

static int set_option(struct config *c, const struct option *o, const char *value, char *why, size_t whylen)
{
	void *field = (char *)c + o->offset;
	int64_t v = 0;
	char *end;

	switch (o->type) {
	case OPT_ID:
		if (!tids_valid_id(value))
			return tids_fail(why, whylen, TIDS_EINVAL, "%s must be 1-128 of [A-Za-z0-9._:-]", o->name);
		break;
	case OPT_JURISDICTION:
		if (!tids_valid_jurisdiction(value))
			return tids_fail(why, whylen, TIDS_EINVAL, "%s: '%s' is not a jurisdiction like CN-SH or DE",
					 o->name, value);
		break;
	case OPT_TIMEZONE:
		if (!tids_zoneinfo_valid_name(value))
			return tids_fail(why, whylen, TIDS_EINVAL, "%s: '%s' is not a time zone name like Asia/Shanghai",
					 o->name, value);
		break;
	case OPT_PATH:
		if (*value != '\0' && *value != '/')
			return tids_fail(why, whylen, TIDS_EINVAL, "%s must be an absolute path", o->name);
		break;
	case OPT_STRING:
		if (strlen(value) > (size_t)o->max)
			return tids_fail(why, whylen, TIDS_EINVAL, "%s is longer than %lld bytes", o->name,
					 (long long)o->max);
		break;
	case OPT_INT:
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0')
			return tids_fail(why, whylen, TIDS_EINVAL, "%s: '%s' is not an integer", o->name, value);
		goto bounds;
	case OPT_DURATION:
		if (parse_duration(value, &v) != 0)
			return tids_fail(why, whylen, TIDS_EINVAL,
					 "%s: '%s' is not a duration like 300ms, 10s, 5m, 2h, 1d", o->name, value);
		goto bounds;
	case OPT_SIZE:
		if (parse_size(value, &v) != 0)
			return tids_fail(why, whylen, TIDS_EINVAL, "%s: '%s' is not a size like 65536, 64k, 4M",
					 o->name, value);
		goto bounds;
	case OPT_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "on") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "off") == 0)
			*(bool *)field = false;
		else
			return tids_fail(why, whylen, TIDS_EINVAL, "%s: '%s' is not yes or no", o->name, value);
		return 0;
	case OPT_ENUM:
		for (int i = 0; o->words[i] != NULL; i++)
			if (*o->words[i] != '\0' && strcmp(o->words[i], value) == 0) {
				*(int *)field = i;
				return 0;
			}
		return tids_fail(why, whylen, TIDS_EINVAL, "%s: '%s' is not one of the allowed values", o->name, value);
	}
	{
		char *copy = strdup(value);

		if (copy == NULL)
			return tids_fail(why, whylen, TIDS_ENOMEM, "out of memory");
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
bounds:
	if (v < o->min || v > o->max)
		return tids_fail(why, whylen, TIDS_EINVAL, "%s: %lld is outside %lld..%lld", o->name,
				 (long long)v, (long long)o->min, (long long)o->max);
	*(int64_t *)field = v;
	return 0;
}

/* Strips blanks around s in place; removes one pair of double quotes. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (e - s >= 2 && *s == '"' && e[-1] == '"') {
		e[-1] = '\0';
		s++;
	}
	return s;
}

static int add_kafka_prop(struct config *c, const char *name, const char *value, unsigned line)
{
	struct kafka_prop *p = realloc(c->kafka, (c->n_kafka + 1) * sizeof(*p));

	if (p == NULL)
		return TIDS_ENOMEM;
	c->kafka = p;
	p[c->n_kafka].name = strdup(name);
	p[c->n_kafka].value = strdup(value);
	p[c->n_kafka].line = line;
	if (p[c->n_kafka].name == NULL || p[c->n_kafka].value == NULL) {
		free(p[c->n_kafka].name);
		free(p[c->n_kafka].value);
		return TIDS_ENOMEM;
	}
	c->n_kafka++;
	return 0;
}

/* line: where admin.keys was set (0 if it was not), for the error. */
static int parse_admin_keys(struct config *c, struct tids_buf *errs, unsigned line)
{
	char *copy, *tok, *save = NULL;
	int r = 0;

	free(c->admin_key);
	c->admin_key = NULL;
	c->n_admin_keys = 0;
	if (c->admin_keys == NULL || *c->admin_keys == '\0')
		return 0;
	copy = strdup(c->admin_keys);
	if (copy == NULL)
		return TIDS_ENOMEM;
	for (tok = strtok_r(copy, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		uint8_t (*k)[TIDS_PUBLIC_KEY_BYTES] = realloc(c->admin_key, (c->n_admin_keys + 1) * sizeof(*k));

		if (k == NULL) {
			r = TIDS_ENOMEM;
			break;
		}
		c->admin_key = k;
		if (tids_key_from_base64(tok, c->admin_key[c->n_admin_keys]) != 0) {
			add_err(errs, c->path, line, "admin.keys: '%.20s' is not a base64 Ed25519 public key", tok);
			r = TIDS_ECONFIG;
			continue;
		}
		c->n_admin_keys++;
	}
	free(copy);
	return r;
}

/* hub.instance names this process among the hub's instances (its static
 * group membership and transactional ids): the host name unless set. */
static int set_instance(struct config *c, char *why, size_t whylen)
{
	char host[TIDS_ID_MAX + 1] = "";

	if (*c->instance != '\0') {
		if (!tids_valid_id(c->instance))
			return tids_fail(why, whylen, TIDS_EINVAL, "hub.instance must be 1-128 of [A-Za-z0-9._:-]");
		return 0;
	}
	if (gethostname(host, sizeof(host) - 1) != 0 || *host == '\0')
		snprintf(host, sizeof(host), "localhost");
	for (char *p = host; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != ':' && *p != '-')
			*p = '-';
	free(c->instance);
	c->instance = strdup(host);
	return c->instance != NULL ? 0 : tids_fail(why, whylen, TIDS_ENOMEM, "out of memory");
}

/* The hub key is the hub's, shared by its instances: a systemd credential
 * (LoadCredential=hub.key:...) unless hub.key names a file. */
static int set_hub_key(struct config *c)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];

	if (*c->hub_key != '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/hub.key", creds != NULL ? creds : "");
	if (creds == NULL || *creds == '\0' || access(path, F_OK) != 0)
		snprintf(path, sizeof(path), "%s/hub.key", c->state_dir);
	free(c->hub_key);
	c->hub_key = strdup(path);
	return c->hub_key != NULL ? 0 : TIDS_ENOMEM;
}

int config_set_instance(struct config *c, const char *name, char *err, size_t errlen)
{
	char *copy;

	if (!tids_valid_id(name))
		return tids_fail(err, errlen, TIDS_EINVAL, "-i %s: an instance name is 1-128 of [A-Za-z0-9._:-]", name);
	copy = strdup(name);
	if (copy == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
	free(c->instance);
	c->instance = copy;
	return 0;
}

int config_load(const char *path, struct config **out, struct tids_buf *errs)
{
	struct config *c = calloc(1, sizeof(*c));
	/* Fuzzing (tests/fuzz/fuzz_config.c) found that fgets and strchr
	 * misread a line holding a NUL byte: reported as too long, and the
	 * next line swallowed unread. getline counts the bytes it read. */
	unsigned seen[N_OPTIONS] = { 0 };   /* line where each option is set; 0: not set */
	char *line = NULL, why[512];
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	FILE *f;
	int bad = 0;

	*out = NULL;
	if (c == NULL)
		return TIDS_ENOMEM;
	c->path = strdup(path);
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].def != NULL && set_option(c, &options[i], options[i].def, why, sizeof(why)) != 0)
			fatalx("built-in default of %s is invalid: %s", options[i].name, why);
	f = fopen(path, "re");
	if (f == NULL) {
		add_err(errs, path, 0, "%s", strerror(errno));
		config_free(c);
		return TIDS_ECONFIG;
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		char *eq, *name, *value;
		const struct option *o;
		size_t n = (size_t)len - (line[len - 1] == '\n');

		lineno++;
		if (n > CONFIG_LINE_MAX) {
			add_err(errs, path, lineno, "line longer than %d bytes", CONFIG_LINE_MAX);
			bad = 1;
			continue;
		}
		if (memchr(line, '\0', n) != NULL) {
			add_err(errs, path, lineno, "NUL byte in the line");
			bad = 1;
			continue;
		}
		name = trim(line);
		if (*name == '\0' || *name == '#' || *name == ';')
			continue;
		eq = strchr(name, '=');
		if (eq == NULL) {
			add_err(errs, path, lineno, "expected 'name = value'");
			bad = 1;
			continue;
		}
		*eq = '\0';
		value = trim(eq + 1);
		name = trim(name);
		o = find_option(name);
		if (o == NULL && strncmp(name, "kafka.", 6) == 0 && name[6] != '\0') {
			if (add_kafka_prop(c, name + 6, value, lineno) != 0)
				bad = 1;
			continue;
		}
		if (o == NULL) {
			add_err(errs, path, lineno, "unknown option '%s'", name);
			bad = 1;
			continue;
		}
		if (seen[o - options]) {
			add_err(errs, path, lineno, "%s is set twice", name);
			bad = 1;
			continue;
		}
		seen[o - options] = lineno;
		if (set_option(c, o, value, why, sizeof(why)) != 0) {
			add_err(errs, path, lineno, "%s", why);
			bad = 1;
		}
	}
	free(line);
	fclose(f);
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].def == NULL && !seen[i]) {
			add_err(errs, path, 0, "%s is required", options[i].name);
			bad = 1;
		}
	if (parse_admin_keys(c, errs, seen[find_option("admin.keys") - options]) != 0)
		bad = 1;
	if (set_instance(c, why, sizeof(why)) != 0) {
		add_err(errs, path, seen[find_option("hub.instance") - options], "%s", why);
		bad = 1;
	}
	if (set_hub_key(c) != 0)
		bad = 1;
	/* Kafka properties are checked by librdkafka itself, line by line. */
	{
		rd_kafka_conf_t *kc = rd_kafka_conf_new();

		for (size_t i = 0; i < c->n_kafka; i++)
			if (rd_kafka_conf_set(kc, c->kafka[i].name, c->kafka[i].value, why, sizeof(why)) !=
			    RD_KAFKA_CONF_OK) {
				add_err(errs, path, c->kafka[i].line, "kafka.%s: %s", c->kafka[i].name, why);
				bad = 1;
			}
		rd_kafka_conf_destroy(kc);
	}
	if (c->kafka_mode == KAFKA_EXTERNAL) {
		bool have = false;

		for (size_t i = 0; i < c->n_kafka; i++)
			have |= strcmp(c->kafka[i].name, "bootstrap.servers") == 0;
		if (!have) {
			add_err(errs, path, 0, "kafka.bootstrap.servers is required with kafka.mode = external");
			bad = 1;
		}
	}
	if (bad) {
		config_free(c);
		return TIDS_ECONFIG;
	}
	*out = c;
	return 0;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		enum opt_type t = options[i].type;

		if (t == OPT_STRING || t == OPT_ID || t == OPT_JURISDICTION || t == OPT_PATH || t == OPT_TIMEZONE)
			free(*(char **)((char *)c + options[i].offset));
	}
	for (size_t i = 0; i < c->n_kafka; i++) {
		free(c->kafka[i].name);
		free(c->kafka[i].value);
	}
	free(c->kafka);
	free(c->admin_key);
	free(c->path);
	free(c);
}

static bool same_value(const struct config *a, const struct config *b, const struct option *o)
{
	const char *pa = (const char *)a + o->offset, *pb = (const char *)b + o->offset;

	switch (o->type) {
	case OPT_STRING: case OPT_ID: case OPT_JURISDICTION: case OPT_PATH: case OPT_TIMEZONE:
		return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
	case OPT_INT: case OPT_DURATION: case OPT_SIZE:
		return *(const int64_t *)pa == *(const int64_t *)pb;
	case OPT_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case OPT_ENUM:
		return *(const int *)pa == *(const int *)pb;
	}
	return true;
}

void config_carry_over(const struct config *old, struct config *next)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option *o = &options[i];
		char *pn = (char *)next + o->offset;
		const char *po = (const char *)old + o->offset;

		if (o->reloadable || same_value(old, next, o))
			continue;
		tids_log_warnx("%s changed in %s; the change takes effect at the next restart", o->name, next->path);
		switch (o->type) {
		case OPT_STRING: case OPT_ID: case OPT_JURISDICTION: case OPT_PATH: case OPT_TIMEZONE: {
			char *copy = strdup(*(char *const *)po);

			if (copy != NULL) {
				free(*(char **)pn);
				*(char **)pn = copy;
			}
			break;
		}
		case OPT_INT: case OPT_DURATION: case OPT_SIZE:
			*(int64_t *)pn = *(const int64_t *)po;
			break;
		case OPT_BOOL:
			*(bool *)pn = *(const bool *)po;
			break;
		case OPT_ENUM:
			*(int *)pn = *(const int *)po;
			break;
		}
	}
	/* Kafka clients are built from these at start; keep the old ones so
	 * that clients made later match those already running. */
	for (size_t i = 0; i < next->n_kafka; i++) {
		free(next->kafka[i].name);
		free(next->kafka[i].value);
	}
	next->n_kafka = 0;
	for (size_t i = 0; i < old->n_kafka; i++)
		if (add_kafka_prop(next, old->kafka[i].name, old->kafka[i].value, old->kafka[i].line) != 0)
			tids_log_warnx("out of memory keeping kafka.%s", old->kafka[i].name);
}

/* librdkafka's own property table (rd_kafka_conf_properties_show) says
 * whether a property is for consumers (C), producers (P) or every client
 * (*). A property set on a client that ignores it only earns a warning in
 * the log at every start, so each client gets the properties it uses. */
struct kafka_scope {
	char name[64];
	char scope;
};

static struct kafka_scope *kafka_scopes;
static size_t n_kafka_scopes;
static pthread_once_t kafka_scopes_once = PTHREAD_ONCE_INIT;

static void kafka_scopes_load(void)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0, cap = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return;
	rd_kafka_conf_properties_show(f);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return;
	}
	/* Rows read "name | C/P | range | default | importance | text". */
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[64], scope;
		struct kafka_scope *grown;

		if (sscanf(line, "%63s | %c |", name, &scope) != 2 || (scope != 'C' && scope != 'P' && scope != '*'))
			continue;
		if (n_kafka_scopes == cap) {
			cap = cap > 0 ? cap * 2 : 256;
			if ((grown = realloc(kafka_scopes, cap * sizeof(*grown))) == NULL)
				break;
			kafka_scopes = grown;
		}
		/* Listed twice (global and topic): used by either if either says so. */
		for (size_t i = 0; i < n_kafka_scopes; i++)
			if (strcmp(kafka_scopes[i].name, name) == 0) {
				if (kafka_scopes[i].scope != scope)
					kafka_scopes[i].scope = '*';
				goto next;
			}
		snprintf(kafka_scopes[n_kafka_scopes].name, sizeof(kafka_scopes[0].name), "%s", name);
		kafka_scopes[n_kafka_scopes++].scope = scope;
next:;
	}
	free(text);
}

bool config_kafka_applies(const char *name, rd_kafka_type_t type)
{
	pthread_once(&kafka_scopes_once, kafka_scopes_load);
	for (size_t i = 0; i < n_kafka_scopes; i++)
		if (strcmp(kafka_scopes[i].name, name) == 0)
			return kafka_scopes[i].scope == '*' || kafka_scopes[i].scope == (type == RD_KAFKA_CONSUMER ? 'C' : 'P');
	/* Not in the table (a plugin's, say): librdkafka decides. */
	return true;
}

int config_kafka(const struct config *c, rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n_kafka; i++)
		if (config_kafka_applies(c->kafka[i].name, type) &&
		    rd_kafka_conf_set(conf, c->kafka[i].name, c->kafka[i].value, err, errlen) != RD_KAFKA_CONF_OK)
			return TIDS_ECONFIG;
	return 0;
}

void config_state_path(const struct config *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->state_dir, name);
}
