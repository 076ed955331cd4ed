/*
 * libFuzzer target for what a client reads before it trusts a hub: the
 * known-hubs file's gate and the hub's handshake payload (its id and key).
 * The first byte picks which. Whatever parses must hold only what the
 * grammar allows, and an entry formatted again must parse to itself.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/channel.h"
#include "tids/known_hubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int again(void *ctx, const struct tids_known_hub *h)
{
	const struct tids_known_hub *want = ctx;

	if (strcmp(h->address, want->address) != 0 || strcmp(h->hub_id, want->hub_id) != 0 ||
	    memcmp(h->key, want->key, sizeof(h->key)) != 0)
		abort();
	return 0;
}

static int check_entry(void *ctx, const struct tids_known_hub *h)
{
	char line[TIDS_KNOWN_HUBS_LINE_MAX + 1];

	(void)ctx;
	if (h->line == 0 || h->address[0] == '\0' || strchr(h->address, ' ') != NULL || !tids_valid_id(h->hub_id))
		abort();
	if (tids_known_hubs_format(h->address, h->hub_id, h->key, line, sizeof(line)) != 0 ||
	    tids_known_hubs_parse(line, strlen(line), again, (void *)h, NULL, 0) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], id[TIDS_ID_MAX + 1];
	uint8_t key[32], again_buf[TIDS_HELLO_MAX];
	bool has;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		(void)tids_known_hubs_parse((const char *)data + 1, size - 1, check_entry, NULL, err, sizeof(err));
		return 0;
	}
	if (tids_channel_hello_decode(data + 1, size - 1, id, key, &has) == 0) {
		if (!tids_valid_id(id))
			abort();
		if (has && (tids_channel_hello_encode(id, key, again_buf) != size - 1 ||
			    memcmp(again_buf, data + 1, size - 1) != 0))
			abort();
	}
	return 0;
}
