/*
 * A time zone's TZif file, read from the zoneinfo directory. The name
 * comes from configuration or from a user: it is checked so that it can
 * only name a file inside that directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tids/zoneinfo.h"

bool tids_zoneinfo_valid_name(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0, part = 0;
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = name[i];
		if (c == '/' || c == '\0') {
			/* no empty, "." or ".." part: nothing outside the directory */
			if (part == 0 || (part == 1 && name[i - 1] == '.') ||
			    (part == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return false;
			part = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '+' || c == '-' || c == '.'))
			return false;
		part++;
	}
	return true;
}

int tids_zoneinfo_read(const char *name, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[4096];
	uint8_t *buf = NULL;
	size_t n = 0;
	FILE *f;

	*data = NULL;
	*len = 0;
	if (!tids_zoneinfo_valid_name(name))
		return tids_fail(err, errlen, TIDS_EINVAL, "'%s' is not a time zone name like Asia/Shanghai",
				 name != NULL ? name : "");
	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rbe");
	if (f == NULL)
		return tids_fail(err, errlen, errno == ENOENT ? TIDS_ENOENT : TIDS_EIO, "time zone %s: %s: %s", name,
				 path, strerror(errno));
	buf = malloc(TIDS_ZONEINFO_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return TIDS_ENOMEM;
	}
	n = fread(buf, 1, TIDS_ZONEINFO_MAX + 1, f);
	if (ferror(f)) {
		int e = errno;
		fclose(f);
		free(buf);
		return tids_fail(err, errlen, TIDS_EIO, "time zone %s: %s: %s", name, path, strerror(e));
	}
	fclose(f);
	if (n > TIDS_ZONEINFO_MAX) {
		free(buf);
		return tids_fail(err, errlen, TIDS_ETOOBIG, "time zone %s: %s is larger than %u bytes", name, path,
				 TIDS_ZONEINFO_MAX);
	}
	*data = buf;
	*len = n;
	return 0;
}
