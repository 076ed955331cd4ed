/*
 * libFuzzer target for the epoch key file's gate (tids_epoch_parse): any
 * bytes are refused with a reason or give two slots that obey the format
 * (an empty slot all zero, two slots never of one epoch); a slot that
 * parses is then unwrapped, which must fail cleanly under a wrong key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/epoch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t master[32] = { 1 };
	struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS];
	uint8_t key[32];
	char err[256] = "", label[32];

	if (sodium_init() < 0)
		abort();
	if (tids_epoch_parse(data, size, slots, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || slots[0].epoch != 0 || slots[1].epoch != 0)
			abort();
		return 0;
	}
	if (size != TIDS_EPOCH_FILE_BYTES || (slots[0].epoch != 0 && slots[0].epoch == slots[1].epoch))
		abort();
	for (int i = 0; i < TIDS_EPOCH_SLOTS; i++) {
		if (slots[i].epoch == 0) {
			if (!sodium_is_zero(slots[i].wrapped, sizeof(slots[i].wrapped)))
				abort();
			continue;
		}
		tids_epoch_label(slots[i].epoch, label, sizeof(label));
		if (tids_seal_unwrap_key(master, label, slots[i].wrapped, key) != 0 && !sodium_is_zero(key, 32))
			abort();
	}
	return 0;
}
