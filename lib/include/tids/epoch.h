/*
 * The epoch key file: where the hub keeps the key that wraps its grants'
 * keys (through bucket keys; see daemon/keys.c for the hierarchy). It is
 * small, fixed-size and rewritten in place, never appended to or renamed,
 * so that a key erased from it leaves no copy in the file's blocks, and it
 * is kept apart from the registry database, so that a copy of the database
 * never holds the key that opens it.
 *
 * Layout (176 bytes): "tids-epoch-v1\n\0\0" (16 bytes), then two slots of
 * uint64be epoch || the epoch key wrapped under the master key with label
 * "epoch/<epoch>" (72 bytes). Epoch 0 marks an empty slot, all zero. Two
 * slots let a new epoch be made durable before the old one is erased.
 * Created 0600; refused when group or others may read or write it, when it
 * is not a regular file, or when it is a symlink.
 */
#ifndef TIDS_EPOCH_H
#define TIDS_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#include "tids/seal.h"

#define TIDS_EPOCH_MAGIC "tids-epoch-v1\n\0\0"
#define TIDS_EPOCH_MAGIC_BYTES 16
#define TIDS_EPOCH_SLOTS 2
#define TIDS_EPOCH_SLOT_BYTES (8 + TIDS_SEAL_WRAPPED_KEY_BYTES)
#define TIDS_EPOCH_FILE_BYTES (TIDS_EPOCH_MAGIC_BYTES + TIDS_EPOCH_SLOTS * TIDS_EPOCH_SLOT_BYTES)

struct tids_epoch_slot {
	uint64_t epoch;                                   /* 0: empty */
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
};

/* Checks and splits the file's bytes: TIDS_ETRUNC or TIDS_ETOOBIG for a
 * wrong length, TIDS_EINVAL for a wrong magic, an empty slot that is not
 * all zero, or two slots of the same epoch. */
__attribute__((warn_unused_result))
int tids_epoch_parse(const uint8_t *buf, size_t len, struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS],
		     char *err, size_t errlen);

/* Reads path: TIDS_ENOENT when missing, TIDS_EPERM when others may read
 * it, else as tids_epoch_parse. */
__attribute__((warn_unused_result))
int tids_epoch_read(const char *path, struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS], char *err, size_t errlen);

/* Writes one slot in place (creating the file, empty, if missing) and
 * waits until it is on disk. An empty slot (epoch 0) is written as zeros:
 * that is how a key is erased. */
__attribute__((warn_unused_result))
int tids_epoch_write_slot(const char *path, unsigned slot, const struct tids_epoch_slot *s,
			  char *err, size_t errlen);

/* "epoch/<epoch>": the label of an epoch key wrapped under the master key. */
void tids_epoch_label(uint64_t epoch, char *buf, size_t len);

#endif
