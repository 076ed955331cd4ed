/*
 * libFuzzer target for the hub state gate (tids_wire_open_hub_state), as
 * hubstate.c runs it on every entry of the registry topic: key, headers and
 * MAC first, then the HubStateEntry. The fuzzer's bytes are key, sequence
 * and value; half the inputs get the right MAC over them (so the decoder
 * behind the MAC is reached), half a MAC taken from the input. Whatever is
 * accepted re-encodes to an entry that is accepted again, the same.
 *
 * Input: byte 0 = key length, byte 1 selects the MAC, then key, then 8
 * bytes of sequence, then the value (empty input after that: a tombstone).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mac_key[32] = { 1, 2, 3 };
static const char *topic = "tids.fuzz.registry";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_state_message m = { .topic = topic };
	struct tids_hub_state e, again;
	uint8_t mac[TIDS_STATE_MAC_BYTES], *key, *value = NULL, *out;
	char err[256] = "";
	size_t klen, vlen, olen;
	uint64_t seq = 0, seq2;
	bool good_mac;

	if (size < 2 + 8)
		return 0;
	klen = data[0];
	good_mac = data[1] & 1;
	if (size < 2 + klen + 8)
		return 0;
	/* Buffers of exactly the input, so ASan sees any over-read. */
	key = malloc(klen > 0 ? klen : 1);
	if (key == NULL)
		abort();
	memcpy(key, data + 2, klen);
	vlen = size - 2 - klen - 8;
	if (vlen > 0) {
		value = malloc(vlen);
		if (value == NULL)
			abort();
		memcpy(value, data + 2 + klen + 8, vlen);
	}
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | data[2 + klen + i];
	if (good_mac)
		tids_state_mac(mac_key, topic, key, klen, seq, value, vlen, mac);
	else
		memset(mac, data[1], sizeof(mac));
	m.key = key;
	m.key_len = klen;
	m.value = value;
	m.len = vlen;
	m.mac = mac;
	m.mac_len = sizeof(mac);
	m.seq = data + 2 + klen;
	m.seq_len = 8;
	if (tids_wire_open_hub_state(mac_key, &m, &e, &seq2, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || e.backing != NULL || seq2 != 0)
			abort();   /* a refusal says why and leaves nothing */
		goto out;
	}
	if (!good_mac || seq2 != seq || value == NULL)
		abort();   /* a MAC the fuzzer made up verified */
	if (tids_wire_encode_hub_state(&e, &out, &olen) == 0) {
		tids_state_mac(mac_key, topic, key, klen, seq, out, olen, mac);
		m.value = out;
		m.len = olen;
		if (tids_wire_open_hub_state(mac_key, &m, &again, &seq2, err, sizeof(err)) != 0 ||
		    again.body.len != e.body.len || again.wrapped_key.len != e.wrapped_key.len ||
		    again.at_ms != e.at_ms || again.revoked_at_ms != e.revoked_at_ms ||
		    strcmp(again.actor, e.actor) != 0 || strcmp(again.instance, e.instance) != 0 ||
		    (e.body.len > 0 && memcmp(again.body.data, e.body.data, e.body.len) != 0))
			abort();
		tids_hub_state_free(&again);
		free(out);
	}
	tids_hub_state_free(&e);
out:
	free(key);
	free(value);
	return 0;
}
