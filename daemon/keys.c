/*
 * Keys at rest: the hub's public key written beside its secret one (what
 * participants pin), the master key (a file, or a systemd credential) that wraps
 * every data key in the registry; the hub data key that seals important and
 * core records on the ingress topic; and the per-grant keys that seal their
 * deliveries, destroyed when the grant ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/seal.h"
#include "tidsd.h"

int keys_load_master(struct tidsd *d)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char path[4096], err[512];
	int r;

	if (*d->conf->master_key != '\0')
		snprintf(path, sizeof(path), "%s", d->conf->master_key);
	else if (creds != NULL && *creds != '\0')
		snprintf(path, sizeof(path), "%s/master.key", creds);
	else
		config_state_path(d->conf, "master.key", path, sizeof(path));
	r = tids_keyfile_read_secret(path, d->master_key, err, sizeof(err));
	if (r == TIDS_ENOENT && *d->conf->master_key == '\0' && (creds == NULL || *creds == '\0')) {
		uint8_t key[32];

		/* First start with nothing configured: make one next to the data
		 * it protects. Operators who keep keys apart set hub.master_key
		 * or pass a credential. */
		randombytes_buf(key, sizeof(key));
		r = tids_keyfile_write_secret(path, key, err, sizeof(err));
		sodium_memzero(key, sizeof(key));
		if (r == 0) {
			tids_log_info("created master key %s", path);
			r = tids_keyfile_read_secret(path, d->master_key, err, sizeof(err));
		}
	}
	if (r != 0)
		tids_log_warnx("master key: %s", err);
	return r;
}

/* hub.key -> hub.pub; any other name gets ".pub" appended. */
static int pub_path(const char *key_path, char *buf, size_t len)
{
	size_t n = strlen(key_path);
	int w;

	if (n > 4 && strcmp(key_path + n - 4, ".key") == 0)
		w = snprintf(buf, len, "%.*s.pub", (int)(n - 4), key_path);
	else
		w = snprintf(buf, len, "%s.pub", key_path);
	return w > 0 && (size_t)w < len ? 0 : TIDS_ETOOBIG;
}

int keys_write_hub_pub(struct tidsd *d)
{
	char path[4096], tmp[4200], text[TIDS_KEY_BASE64_BYTES + 1], have[TIDS_KEY_BASE64_BYTES + 8];
	size_t n;
	FILE *f;
	int fd;

	if (pub_path(d->conf->hub_key, path, sizeof(path)) != 0)
		return TIDS_ETOOBIG;
	tids_key_to_base64(d->hub.sign_pk, text);
	n = strlen(text);
	text[n++] = '\n';
	/* Already there and right: leave it (and its mtime) alone. */
	f = fopen(path, "re");
	if (f != NULL) {
		size_t got = fread(have, 1, sizeof(have), f);

		fclose(f);
		if (got == n && memcmp(have, text, n) == 0)
			return 0;
	}
	/* The same format as tidsctl keygen's NAME.pub, written whole or not
	 * at all: a participant may copy it at any moment. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		tids_log_warnx("hub key: cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return TIDS_EIO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		tids_log_warnx("hub key: cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return TIDS_EIO;
	}
	tids_log_info("wrote the hub's public key to %s", path);
	return 0;
}

int keys_data_key(struct tidsd *d, uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	size_t len;
	int r = store_get_blob(d->store, "hub_key", "ingress", wrapped, sizeof(wrapped), &len);

	if (r == TIDS_ENOENT) {
		randombytes_buf(key, TIDS_SEAL_KEY_BYTES);
		tids_seal_wrap_key(d->master_key, "ingress", key, wrapped);
		if (store_set_blob(d->store, "hub_key", "ingress", wrapped, sizeof(wrapped)) != 0 ||
		    store_commit(d->store) != 0)
			return TIDS_EDB;
		return 0;
	}
	if (r != 0 || len != sizeof(wrapped))
		return TIDS_EDB;
	if (tids_seal_unwrap_key(d->master_key, "ingress", wrapped, key) != 0) {
		tids_log_warnx("the hub data key does not unwrap: wrong master key for this registry?");
		return TIDS_ECRYPTO;
	}
	return 0;
}

int keys_grant_key(struct tidsd *d, const char *grant_id, uint8_t key[TIDS_SEAL_KEY_BYTES])
{
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	size_t len;
	int r = store_get_blob(d->store, "grant_key", grant_id, wrapped, sizeof(wrapped), &len);

	if (r != 0)
		return r == TIDS_ENOENT ? TIDS_ECRYPTO : r;
	if (len != sizeof(wrapped))
		return TIDS_EDB;
	return tids_seal_unwrap_key(d->master_key, grant_id, wrapped, key);
}
