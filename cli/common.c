/*
 * What the commands share: connection options, key and time arguments,
 * error output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/json.h"
#include "policy.h"
#include "tids/zoneinfo.h"
#include "tidsctl.h"

void conn_opts_init(struct conn_opts *o, const char *default_hub)
{
	const char *hub = getenv("TIDS_HUB");

	o->hub = hub != NULL && *hub != '\0' ? hub : default_hub;
	o->key = getenv("TIDS_KEY");
	o->hub_key = getenv("TIDS_HUB_KEY");
	o->known_hubs = NULL;
	o->no_tofu = false;
	o->timeout_ms = 30000;
	o->json = false;
}

bool conn_opts_parse(struct conn_opts *o, int c, const char *arg)
{
	switch (c) {
	case 1000:
		o->hub = arg;
		return true;
	case 1001:
		o->key = arg;
		return true;
	case 1002:
		o->hub_key = arg;
		return true;
	case 1004:
		o->json = true;
		return true;
	case 1003: {
		uint64_t sec;

		/* A bad timeout is a usage error, not 30 s in disguise. */
		if (cli_number("--timeout", arg, 1, 86400, &sec) != 0)
			exit(EXIT_USAGE);
		o->timeout_ms = (int)sec * 1000;
		return true;
	}
	case 1005:
		o->known_hubs = arg;
		return true;
	case 1006:
		o->no_tofu = true;
		return true;
	default:
		return false;
	}
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tidsctl: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int cli_usage(const char *text)
{
	fputs(text, stderr);
	return EXIT_USAGE;
}

int cli_number(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (arg[0] < '0' || arg[0] > '9' || (v = strtoull(arg, &end, 10), errno != 0) || *end != '\0' ||
	    v < min || v > max) {
		fprintf(stderr, "tidsctl: error: %s '%s': a whole number from %llu to %llu\n", opt, arg,
			(unsigned long long)min, (unsigned long long)max);
		return EXIT_USAGE;
	}
	*out = v;
	return 0;
}

void cli_json_begin(struct tids_jw *w)
{
	tids_jw_init(w);
	tids_jw_object_begin(w);
}

int cli_json_end(struct tids_jw *w)
{
	int rc = EXIT_OK;

	tids_jw_object_end(w);
	if (w->err != 0 || fwrite(w->buf, 1, w->len, stdout) != w->len || putchar('\n') == EOF || fflush(stdout) != 0)
		rc = cli_fail("writing the JSON result failed%s", w->err != 0 ? " (bad text)" : "");
	tids_jw_free(w);
	return rc;
}

int cli_public_key(const char *arg, uint8_t key[32])
{
	char line[256];

	if (arg[0] == '@') {
		FILE *f = fopen(arg + 1, "re");

		if (f == NULL)
			return cli_fail("%s: %s", arg + 1, strerror(errno));
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		arg = line;
	}
	if (tids_key_from_base64(arg, key) != 0)
		return cli_fail("'%.60s' is not a base64 public key (44 characters)", arg);
	return 0;
}

FILE *cli_receipts_open(const char *dir, const char *hub_id, const char *what)
{
	char path[4096];
	struct timeval tv;
	int fd, n;
	FILE *f;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		cli_fail("receipts directory %s: %s", dir, strerror(errno));
		return NULL;
	}
	gettimeofday(&tv, NULL);
	n = snprintf(path, sizeof(path), "%s/%s-%s-%lld-%ld.receipts", dir, hub_id, what,
		     (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(path)) {
		cli_fail("receipts directory %s: path too long", dir);
		return NULL;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		cli_fail("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

int cli_receipts_write(FILE *f, const char *dir, struct tids_jw *w)
{
	if (w->err != 0)
		return cli_fail("a receipt could not be written out (%s)", tids_strerror(w->err));
	/* Out before the ack or the next batch: a receipt is kept or nothing
	 * is acknowledged on its strength. */
	if (fwrite(w->buf, 1, w->len, f) != w->len || fputc('\n', f) == EOF || fflush(f) != 0)
		return cli_fail("receipts in %s: %s", dir, strerror(errno));
	return 0;
}

int cli_time(const char *arg, int64_t *ms)
{
	struct timeval tv;
	char *end;

	if (arg[0] == '+') {
		long long n = strtoll(arg + 1, &end, 10);
		int64_t unit = *end == 'd' ? 86400000 : *end == 'h' ? 3600000 : *end == 'm' ? 60000 :
			       *end == 's' ? 1000 : -1;

		if (end == arg + 1 || unit < 0 || end[1] != '\0' || n < 0)
			return cli_fail("'%s': a duration like +30d, +12h, +10m or +90s", arg);
		gettimeofday(&tv, NULL);
		*ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + n * unit;
		return 0;
	}
	errno = 0;
	*ms = strtoll(arg, &end, 10);
	if (errno == 0 && end != arg && *end == '\0')
		return 0;
	if (tids_json_parse_time(arg, ms) == 0)
		return 0;
	return cli_fail("'%s' is not a time (RFC 3339, Unix ms, or +DURATION)", arg);
}

int cli_time_at_hub(struct tids_client *c, const char *arg, bool end, int64_t *ms)
{
	const char *zone = tids_client_hub_timezone(c);
	struct tids_policy_tz *tz = NULL;
	char err[512];

	/* a date alone is a day of the hub's calendar, not of UTC */
	if (strlen(arg) != 10 || tids_policy_parse_time(arg, 10, ms) != 0)
		return cli_time(arg, ms);
	if (strcmp(zone, "UTC") != 0 && cli_load_tz(NULL, zone, &tz, err, sizeof(err)) != 0)
		return cli_fail("'%s': the hub keeps time in %s: %s; give the time with its offset, e.g. "
				"%sT23:59:59+08:00", arg, zone, err, arg);
	int rc = tids_policy_parse_time_tz(arg, 10, tz, end ? TIDS_POLICY_DAY_END : TIDS_POLICY_DAY_START, ms);
	tids_policy_tz_free(tz);
	return rc == 0 ? 0 : cli_fail("'%s' is not a date", arg);
}

int cli_load_tz(void *ctx, const char *name, struct tids_policy_tz **out, char *err, size_t errlen)
{
	uint8_t *data;
	size_t len;
	int rc;

	(void)ctx;
	*out = NULL;
	if ((rc = tids_zoneinfo_read(name, &data, &len, err, errlen)) != 0)
		return rc;
	rc = tids_policy_tz_parse(name, data, len, out, err, errlen);
	free(data);
	return rc;
}

/* Says what pinning did: nothing when the pin held. */
static void report_pin(struct tids_client *c, const char *file)
{
	struct tids_known_hub e;
	char b64[TIDS_KEY_BASE64_BYTES];

	if (tids_client_pin(c, &e) != TIDS_CLIENT_PIN_ADDED)
		return;
	tids_key_to_base64(e.key, b64);
	fprintf(stderr, "tidsctl: hub %s at %s is new: pinned its key %s in %s (trust on first use: compare it "
			"with 'tidsctl admin hub-key' on the hub)\n", e.hub_id, e.address, b64, file);
}

struct tids_client *cli_connect(const struct conn_opts *o, struct tids_identity *id)
{
	struct tids_client_options co = { .address = o->hub, .timeout_ms = o->timeout_ms };
	struct tids_identity local;
	struct tids_client *c = NULL;
	uint8_t hub_key[32];
	char err[1024], known[4096];

	if (o->hub == NULL) {
		cli_fail("no hub given: use --hub host:port (or TIDS_HUB)");
		return NULL;
	}
	if (id == NULL)
		id = &local;
	memset(id, 0, sizeof(*id));
	if (o->hub[0] != '/') {
		if (o->key == NULL) {
			cli_fail("connecting to %s needs your identity: --key FILE (or TIDS_KEY)", o->hub);
			return NULL;
		}
		if (tids_keyfile_read_identity(o->key, id, err, sizeof(err)) != 0) {
			cli_fail("%s", err);
			return NULL;
		}
		co.identity = id;
		if (o->hub_key != NULL) {
			if (cli_public_key(o->hub_key, hub_key) != 0)
				goto out;
			co.hub_key = hub_key;
		}
		/* --hub-key overrides the known-hubs file, which is then left alone. */
		if (o->hub_key == NULL) {
			if (o->known_hubs != NULL)
				snprintf(known, sizeof(known), "%s", o->known_hubs);
			else if (tids_known_hubs_default_path(known, sizeof(known)) != 0) {
				cli_fail("no known-hubs file to pin %s's key in (no HOME): use --hub-key or --known-hubs",
					 o->hub);
				goto out;
			}
			co.known_hubs = known;
			co.pin_strict = o->no_tofu;
		}
	}
	if (tids_client_connect(&co, &c, err, sizeof(err)) != 0)
		cli_fail("%s", err);
	else if (co.known_hubs != NULL)
		report_pin(c, co.known_hubs);
out:
	if (id == &local)
		tids_identity_wipe(&local);
	return c;
}

void strv_add(struct strv *v, const char *s)
{
	const char **items = realloc(v->items, (v->n + 1) * sizeof(*items));

	if (items == NULL) {
		fprintf(stderr, "tidsctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	v->items = items;
	v->items[v->n++] = s;
}

void strv_free(struct strv *v)
{
	free(v->items);
	v->items = NULL;
	v->n = 0;
}
