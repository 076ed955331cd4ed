/*
 * Key files: one base64 line holding a 32-byte secret. Created 0600 and
 * never overwritten; refused when anyone but the owner may read or write
 * them, so a secret never sits in a file others can copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"

#define KEYFILE_MAX 256

int tids_keyfile_write_secret(const char *path, const uint8_t secret[32], char *err, size_t errlen)
{
	char text[TIDS_KEY_BASE64_BYTES + 1];
	size_t len;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return tids_fail(err, errlen, errno == EEXIST ? TIDS_EEXIST : TIDS_EIO,
				 "%s: %s", path, errno == EEXIST ? "exists; refusing to overwrite a key" : strerror(errno));
	tids_key_to_base64(secret, text);
	len = strlen(text);
	text[len++] = '\n';
	/* The umask cannot widen 0600, but a pre-set ACL default could: be explicit. */
	if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	sodium_memzero(text, sizeof(text));
	if (close(fd) != 0 && r == 0)
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	if (r < 0)
		unlink(path);
	return r;
}

int tids_keyfile_read_secret(const char *path, uint8_t secret[32], char *err, size_t errlen)
{
	char text[KEYFILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return tids_fail(err, errlen, errno == ENOENT ? TIDS_ENOENT : TIDS_EIO,
				 "%s: %s", path, errno == ELOOP ? "is a symlink; refusing it" : strerror(errno));
	if (fstat(fd, &st) != 0) {
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = tids_fail(err, errlen, TIDS_EPERM, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		r = tids_fail(err, errlen, TIDS_EPERM,
			      "%s: mode %04o lets others read or change a secret key; run chmod 600 on it",
			      path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (got < sizeof(text) - 1 && (n = read(fd, text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = '\0';
	if (got >= KEYFILE_MAX) {
		r = tids_fail(err, errlen, TIDS_ETOOBIG, "%s: too long for a key file", path);
		goto out;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (tids_key_from_base64(text, secret) != 0)
		r = tids_fail(err, errlen, TIDS_EINVAL, "%s: not one base64 line of a 32-byte key", path);
out:
	sodium_memzero(text, sizeof(text));
	close(fd);
	if (r < 0)
		sodium_memzero(secret, 32);
	return r;
}

int tids_keyfile_write_identity(const char *path, const struct tids_identity *id, char *err, size_t errlen)
{
	/* The seed is the first half of libsodium's Ed25519 secret key. */
	return tids_keyfile_write_secret(path, id->sign_sk, err, errlen);
}

int tids_keyfile_read_identity(const char *path, struct tids_identity *id, char *err, size_t errlen)
{
	uint8_t seed[TIDS_SEED_BYTES];
	int r = tids_keyfile_read_secret(path, seed, err, errlen);

	if (r == 0 && tids_identity_from_seed(seed, id) != 0)
		r = tids_fail(err, errlen, TIDS_EINVAL, "%s: not a usable identity seed", path);
	sodium_memzero(seed, sizeof(seed));
	return r;
}
