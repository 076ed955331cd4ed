/*
 * The epoch key file (see tids/epoch.h): parsed as bytes (one gate, fuzzed),
 * read with the key file's checks, written slot by slot in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/epoch.h"
#include "tids/error.h"

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int tids_epoch_parse(const uint8_t *buf, size_t len, struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS],
		     char *err, size_t errlen)
{
	memset(slots, 0, TIDS_EPOCH_SLOTS * sizeof(*slots));
	if (len < TIDS_EPOCH_FILE_BYTES)
		return tids_fail(err, errlen, TIDS_ETRUNC, "epoch key file: %zu bytes, expected %d", len,
				 TIDS_EPOCH_FILE_BYTES);
	if (len > TIDS_EPOCH_FILE_BYTES)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "epoch key file: %zu bytes, expected %d", len,
				 TIDS_EPOCH_FILE_BYTES);
	if (memcmp(buf, TIDS_EPOCH_MAGIC, TIDS_EPOCH_MAGIC_BYTES) != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "epoch key file: not a tids epoch key file (bad magic)");
	for (unsigned i = 0; i < TIDS_EPOCH_SLOTS; i++) {
		const uint8_t *s = buf + TIDS_EPOCH_MAGIC_BYTES + i * TIDS_EPOCH_SLOT_BYTES;

		slots[i].epoch = get64(s);
		memcpy(slots[i].wrapped, s + 8, TIDS_SEAL_WRAPPED_KEY_BYTES);
		if (slots[i].epoch == 0 && !all_zero(s + 8, TIDS_SEAL_WRAPPED_KEY_BYTES)) {
			memset(slots, 0, TIDS_EPOCH_SLOTS * sizeof(*slots));
			return tids_fail(err, errlen, TIDS_EINVAL, "epoch key file: slot %u is empty but not erased", i);
		}
	}
	if (slots[0].epoch != 0 && slots[0].epoch == slots[1].epoch) {
		memset(slots, 0, TIDS_EPOCH_SLOTS * sizeof(*slots));
		return tids_fail(err, errlen, TIDS_EINVAL, "epoch key file: both slots hold epoch %llu",
				 (unsigned long long)slots[1].epoch);
	}
	return 0;
}

/* Opens path with the key file's checks: regular, not a symlink, 0600. */
static int open_checked(const char *path, int flags, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return tids_fail(err, errlen, errno == ENOENT ? TIDS_ENOENT : TIDS_EIO, "%s: %s", path,
				 errno == ELOOP ? "is a symlink; refusing it" : strerror(errno));
	if (fstat(fd, &st) != 0) {
		close(fd);
		return tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return tids_fail(err, errlen, TIDS_EPERM, "%s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return tids_fail(err, errlen, TIDS_EPERM,
				 "%s: mode %04o lets others read or change a secret key; run chmod 600 on it", path,
				 (unsigned)(st.st_mode & 07777));
	}
	return fd;
}

int tids_epoch_read(const char *path, struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS], char *err, size_t errlen)
{
	uint8_t buf[TIDS_EPOCH_FILE_BYTES + 1];
	size_t got = 0;
	ssize_t n;
	int fd = open_checked(path, O_RDONLY, err, errlen), r;

	memset(slots, 0, TIDS_EPOCH_SLOTS * sizeof(*slots));
	if (fd < 0)
		return fd;
	while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(fd);
	r = tids_epoch_parse(buf, got, slots, err, errlen);
	sodium_memzero(buf, sizeof(buf));
	if (r != 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err != NULL && errlen > 0 ? err : "");
		return tids_fail(err, errlen, r, "%s: %s", path, why);
	}
	return 0;
}

int tids_epoch_write_slot(const char *path, unsigned slot, const struct tids_epoch_slot *s,
			  char *err, size_t errlen)
{
	uint8_t buf[TIDS_EPOCH_SLOT_BYTES];
	struct stat st;
	int fd, r = 0;

	if (slot >= TIDS_EPOCH_SLOTS)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s: no slot %u", path, slot);
	fd = open_checked(path, O_RDWR | O_CREAT, err, errlen);
	if (fd < 0)
		return fd;
	/* A new file: the magic and two empty slots, on disk before any key. */
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		uint8_t empty[TIDS_EPOCH_FILE_BYTES] = { 0 };

		memcpy(empty, TIDS_EPOCH_MAGIC, TIDS_EPOCH_MAGIC_BYTES);
		if (fchmod(fd, 0600) != 0 || pwrite(fd, empty, sizeof(empty), 0) != (ssize_t)sizeof(empty) ||
		    fsync(fd) != 0) {
			r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
	} else if (st.st_size != TIDS_EPOCH_FILE_BYTES) {
		r = tids_fail(err, errlen, TIDS_EINVAL, "%s: %lld bytes, not an epoch key file; refusing to write it",
			      path, (long long)st.st_size);
		goto out;
	}
	memset(buf, 0, sizeof(buf));
	if (s->epoch != 0) {
		put64(buf, s->epoch);
		memcpy(buf + 8, s->wrapped, TIDS_SEAL_WRAPPED_KEY_BYTES);
	}
	/* In place: the slot's old bytes are overwritten, not left behind in
	 * blocks a rename would free. */
	if (pwrite(fd, buf, sizeof(buf), (off_t)(TIDS_EPOCH_MAGIC_BYTES + slot * TIDS_EPOCH_SLOT_BYTES)) !=
		    (ssize_t)sizeof(buf) || fdatasync(fd) != 0)
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
out:
	sodium_memzero(buf, sizeof(buf));
	if (close(fd) != 0 && r == 0)
		r = tids_fail(err, errlen, TIDS_EIO, "%s: %s", path, strerror(errno));
	return r;
}

void tids_epoch_label(uint64_t epoch, char *buf, size_t len)
{
	snprintf(buf, len, "epoch/%llu", (unsigned long long)epoch);
}
