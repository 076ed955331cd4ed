/*
 * Loads the policy set: every *.tidspol file of the policy directory, in
 * name order, compiled together. A set that does not compile is refused as
 * a whole; the caller keeps the one it has.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tids/error.h"
#include "tids/zoneinfo.h"
#include "tidsd.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file's text, or NULL with the reason in why. */
static char *read_file(const char *path, size_t *len, char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	struct stat st;
	size_t n;

	if (f == NULL) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	/* A directory opens, and then reads as nothing sensible. */
	if (fstat(fileno(f), &st) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "is a directory, not a policy file (policy.dir takes *.tidspol files only)");
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "is not a regular file");
	} else if ((uintmax_t)st.st_size > TIDS_POLICY_SOURCE_MAX) {
		snprintf(why, whylen, "is %jd bytes, more than the %zu a policy file may have", (intmax_t)st.st_size,
			 (size_t)TIDS_POLICY_SOURCE_MAX);
	} else {
		n = (size_t)st.st_size;
		buf = malloc(n + 1);
		if (buf == NULL) {
			snprintf(why, whylen, "out of memory");
		} else if (fread(buf, 1, n, f) != n || ferror(f)) {
			snprintf(why, whylen, "%s", ferror(f) ? strerror(errno) : "changed while it was read");
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = n;
		}
	}
	fclose(f);
	return buf;
}

static void say(struct tids_buf *errs, const char *line)
{
	if (tids_buf_append(errs, line, strlen(line)) < 0 || tids_buf_append(errs, "\n", 1) < 0) {
		/* Out of memory: the caller fails anyway. */
	}
}

int policy_load_dir(const char *dir, struct tids_policy_set **out, struct tids_buf *errs)
{
	struct tids_policy_source *src = NULL;
	struct tids_policy_diags *diags = NULL;
	char **names = NULL, line[1024];
	size_t n = 0;
	struct dirent *de;
	DIR *dp;
	int r = TIDS_EPOLICY;

	*out = NULL;
	dp = opendir(dir);
	if (dp == NULL) {
		snprintf(line, sizeof(line), "%s: %s", dir, strerror(errno));
		say(errs, line);
		return TIDS_EPOLICY;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);
		char **grown;

		if (l < 9 || strcmp(de->d_name + l - 8, ".tidspol") != 0 || de->d_name[0] == '.')
			continue;
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (grown == NULL)
			goto out;
		names = grown;
		if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0)
			goto out;
		n++;
	}
	if (n == 0) {
		snprintf(line, sizeof(line), "%s: no *.tidspol files; refusing to run without policies", dir);
		say(errs, line);
		goto out;
	}
	qsort(names, n, sizeof(*names), by_name);
	src = calloc(n, sizeof(*src));
	diags = tids_policy_diags_new();
	if (src == NULL || diags == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char why[256];

		src[i].name = names[i];
		src[i].text = read_file(names[i], &src[i].len, why, sizeof(why));
		if (src[i].text == NULL) {
			snprintf(line, sizeof(line), "%s: %s", names[i], why);
			say(errs, line);
			goto out;
		}
	}
	r = tids_policy_compile(src, n, out, diags);
	for (size_t i = 0; i < tids_policy_diags_count(diags); i++) {
		const struct tids_policy_diag *dg = tids_policy_diags_at(diags, i);

		tids_policy_diag_format(dg, line, sizeof(line));
		if (dg->severity == TIDS_POLICY_ERROR)
			say(errs, line);
		else
			tids_log_warnx("%s", line);
	}
	if (r != 0 && errs->len == 0)
		say(errs, "policies do not compile");
out:
	closedir(dp);
	if (src != NULL)
		for (size_t i = 0; i < n; i++)
			free((char *)src[i].text);
	free(src);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	tids_policy_diags_free(diags);
	return r;
}

int timezone_load(const char *name, const struct tids_policy_tz **out, char *err, size_t errlen)
{
	struct tids_policy_tz *tz = NULL;
	uint8_t *data;
	size_t len;
	int r;

	*out = NULL;
	r = tids_zoneinfo_read(name, &data, &len, err, errlen);
	if (r == TIDS_ENOENT && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)) {
		/* a machine without tzdata still has UTC */
		*out = tids_policy_tz_utc();
		return 0;
	}
	if (r != 0)
		return r;
	r = tids_policy_tz_parse(name, data, len, &tz, err, errlen);
	free(data);
	if (r == 0)
		*out = tz;
	return r;
}
