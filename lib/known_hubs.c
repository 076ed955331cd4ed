/*
 * The known-hubs file (see tids/known_hubs.h): parsing it through one gate,
 * looking a hub up, and appending the hub a client trusts on first use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/known_hubs.h"

/* Printable ASCII without space or '#': what a host:port can hold
 * ("[::1]:7443" too), and nothing that would split or end a line. */
static bool valid_address(const char *s, size_t n)
{
	if (n == 0 || n > TIDS_ADDRESS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '#')
			return false;
	return true;
}

/* The next whitespace-separated word of [*p, end): its start and length. */
static size_t word(const char **p, const char *end, const char **start)
{
	const char *s = *p;
	size_t n = 0;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	*start = s;
	while (s + n < end && s[n] != ' ' && s[n] != '\t')
		n++;
	*p = s + n;
	return n;
}

static int parse_line(const char *s, size_t n, unsigned lineno, struct tids_known_hub *h, char *err, size_t errlen)
{
	const char *p = s, *end = s + n, *w[3];
	size_t wl[3];
	char text[TIDS_KEY_BASE64_BYTES];

	for (int i = 0; i < 3; i++)
		wl[i] = word(&p, end, &w[i]);
	{
		const char *extra;

		if (word(&p, end, &extra) > 0 || wl[2] == 0)
			return tids_fail(err, errlen, TIDS_EINVAL, "line %u: not 'ADDRESS HUB-ID KEY'", lineno);
	}
	if (!valid_address(w[0], wl[0]))
		return tids_fail(err, errlen, TIDS_EINVAL, "line %u: '%.*s' is not a host:port address", lineno,
				 (int)(wl[0] > 64 ? 64 : wl[0]), w[0]);
	memset(h, 0, sizeof(*h));
	h->line = lineno;
	memcpy(h->address, w[0], wl[0]);
	if (wl[1] > TIDS_ID_MAX)
		return tids_fail(err, errlen, TIDS_EINVAL, "line %u: hub id longer than %d bytes", lineno, TIDS_ID_MAX);
	memcpy(h->hub_id, w[1], wl[1]);
	if (!tids_valid_id(h->hub_id))
		return tids_fail(err, errlen, TIDS_EINVAL, "line %u: '%s' is not a hub id", lineno, h->hub_id);
	if (wl[2] != TIDS_KEY_BASE64_BYTES - 1)
		return tids_fail(err, errlen, TIDS_EINVAL, "line %u: the key is not 44 characters of base64", lineno);
	memcpy(text, w[2], wl[2]);
	text[wl[2]] = '\0';
	if (tids_key_from_base64(text, h->key) != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "line %u: the key is not 44 characters of base64", lineno);
	return 0;
}

int tids_known_hubs_parse(const char *text, size_t len, tids_known_hubs_fn *fn, void *ctx, char *err,
			  size_t errlen)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	if (len > TIDS_KNOWN_HUBS_FILE_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "%zu bytes; a known-hubs file holds at most %u", len,
				 TIDS_KNOWN_HUBS_FILE_MAX);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl != NULL ? nl : end) - p);
		struct tids_known_hub h;
		size_t skip = 0;
		int r;

		lineno++;
		if (n > TIDS_KNOWN_HUBS_LINE_MAX)
			return tids_fail(err, errlen, TIDS_ETOOBIG, "line %u: longer than %d bytes", lineno,
					 TIDS_KNOWN_HUBS_LINE_MAX);
		if (memchr(p, '\0', n) != NULL)
			return tids_fail(err, errlen, TIDS_EINVAL, "line %u: holds a NUL byte", lineno);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		while (skip < n && (p[skip] == ' ' || p[skip] == '\t'))
			skip++;
		if (skip < n && p[skip] != '#') {
			if ((r = parse_line(p, n, lineno, &h, err, errlen)) != 0)
				return r;
			if ((r = fn(ctx, &h)) != 0)
				return r;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

int tids_known_hubs_default_path(char *buf, size_t len)
{
	const char *env = getenv(TIDS_KNOWN_HUBS_ENV), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	if (env != NULL && *env != '\0')
		n = snprintf(buf, len, "%s", env);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, len, "%s/tids/known_hubs", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, len, "%s/.config/tids/known_hubs", home);
	else
		return TIDS_ENOENT;
	return n > 0 && (size_t)n < len ? 0 : TIDS_ETOOBIG;
}

/* The whole file, NUL-terminated; *text NULL (and 0) when it does not exist. */
static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd, r = 0;

	*text = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = tids_fail(err, errlen, TIDS_EIO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > TIDS_KNOWN_HUBS_FILE_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOBIG, "%s: larger than %u bytes", path, TIDS_KNOWN_HUBS_FILE_MAX);
		goto out;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (*text == NULL) {
		r = tids_fail(err, errlen, TIDS_ENOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *text + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	(*text)[got] = '\0';
	*len = got;
out:
	close(fd);
	if (r != 0) {
		free(*text);
		*text = NULL;
	}
	return r;
}

struct lookup {
	const char *address, *hub_id;
	const uint8_t *key;
	/* The best match so far, by rank: exact > same address > same hub. */
	int rank;
	enum tids_hub_pin verdict;
	struct tids_known_hub entry;
};

static int lookup_one(void *ctx, const struct tids_known_hub *h)
{
	struct lookup *l = ctx;
	bool same_addr = strcmp(h->address, l->address) == 0, same_hub = strcmp(h->hub_id, l->hub_id) == 0;
	bool same_key = sodium_memcmp(h->key, l->key, TIDS_PUBLIC_KEY_BYTES) == 0;
	int rank = same_addr && same_hub ? 3 : same_addr ? 2 : same_hub ? 1 : 0;

	if (rank == 0 || rank <= l->rank)
		return 0;
	l->rank = rank;
	l->entry = *h;
	if (rank == 3)
		l->verdict = same_key ? TIDS_HUB_KNOWN : TIDS_HUB_CHANGED;
	else if (rank == 2)
		l->verdict = TIDS_HUB_CHANGED;    /* another hub answers at a pinned address */
	else
		l->verdict = same_key ? TIDS_HUB_KNOWN_ELSEWHERE : TIDS_HUB_CHANGED;
	return 0;
}

int tids_known_hubs_lookup(const char *path, const char *address, const char *hub_id,
			   const uint8_t key[TIDS_PUBLIC_KEY_BYTES], enum tids_hub_pin *verdict,
			   struct tids_known_hub *entry, char *err, size_t errlen)
{
	struct lookup l = { .address = address, .hub_id = hub_id, .key = key, .verdict = TIDS_HUB_UNKNOWN };
	char *text, why[256];
	size_t len;
	int r;

	*verdict = TIDS_HUB_UNKNOWN;
	if ((r = read_file(path, &text, &len, err, errlen)) != 0)
		return r;
	if (text == NULL)
		return 0;
	r = tids_known_hubs_parse(text, len, lookup_one, &l, why, sizeof(why));
	free(text);
	if (r != 0)
		return tids_fail(err, errlen, r, "%s: %s", path, why);
	*verdict = l.verdict;
	if (entry != NULL && l.rank > 0)
		*entry = l.entry;
	return 0;
}

struct find {
	const char *hub_id;
	bool found, conflict;
	struct tids_known_hub entry;
};

static int find_one(void *ctx, const struct tids_known_hub *h)
{
	struct find *f = ctx;

	if (strcmp(h->hub_id, f->hub_id) != 0)
		return 0;
	if (f->found && sodium_memcmp(h->key, f->entry.key, TIDS_PUBLIC_KEY_BYTES) != 0)
		f->conflict = true;
	if (!f->found)
		f->entry = *h;
	f->found = true;
	return 0;
}

int tids_known_hubs_find(const char *path, const char *hub_id, uint8_t key[TIDS_PUBLIC_KEY_BYTES],
			 struct tids_known_hub *entry, char *err, size_t errlen)
{
	struct find f = { .hub_id = hub_id };
	char *text, why[256];
	size_t len;
	int r;

	if ((r = read_file(path, &text, &len, err, errlen)) != 0)
		return r;
	if (text == NULL)
		return tids_fail(err, errlen, TIDS_ENOENT, "%s does not exist", path);
	r = tids_known_hubs_parse(text, len, find_one, &f, why, sizeof(why));
	free(text);
	if (r != 0)
		return tids_fail(err, errlen, r, "%s: %s", path, why);
	if (!f.found)
		return tids_fail(err, errlen, TIDS_ENOENT, "%s pins no key for hub %s", path, hub_id);
	if (f.conflict)
		return tids_fail(err, errlen, TIDS_EDUP, "%s pins two different keys for hub %s", path, hub_id);
	memcpy(key, f.entry.key, TIDS_PUBLIC_KEY_BYTES);
	if (entry != NULL)
		*entry = f.entry;
	return 0;
}

int tids_known_hubs_format(const char *address, const char *hub_id, const uint8_t key[TIDS_PUBLIC_KEY_BYTES],
			   char *out, size_t outlen)
{
	char b64[TIDS_KEY_BASE64_BYTES];
	int n;

	if (!valid_address(address, strlen(address)) || !tids_valid_id(hub_id))
		return TIDS_EINVAL;
	tids_key_to_base64(key, b64);
	n = snprintf(out, outlen, "%s %s %s", address, hub_id, b64);
	return n > 0 && (size_t)n < outlen ? 0 : TIDS_ETOOBIG;
}

/* mkdir -p for the file's directory; the last component 0700 (it is the
 * user's configuration), parents as the umask says. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return tids_fail(err, errlen, TIDS_ETOOBIG, "%s: path too long", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return tids_fail(err, errlen, TIDS_EIO, "%s: %s", dir, strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return tids_fail(err, errlen, TIDS_EIO, "%s: %s", dir, strerror(errno));
	return 0;
}

int tids_known_hubs_add(const char *path, const char *address, const char *hub_id,
			const uint8_t key[TIDS_PUBLIC_KEY_BYTES], char *err, size_t errlen)
{
	char line[TIDS_ADDRESS_MAX + TIDS_ID_MAX + TIDS_KEY_BASE64_BYTES + 8];
	size_t n;
	int fd, r = 0;

	if (tids_known_hubs_format(address, hub_id, key, line, sizeof(line) - 1) != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "cannot pin hub '%.64s' at '%.64s': not a hub id and host:port",
				 hub_id, address);
	n = strlen(line);
	line[n++] = '\n';
	if ((r = make_dirs(path, err, errlen)) != 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	/* One write: entries appended by two clients at once never interleave. */
	if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0)
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	if (close(fd) != 0 && r == 0)
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	return r;
}
