/*
 * libFuzzer target for the state topic's gate (tids_wire_open_router_state):
 * the input is split into key, value and the two headers; for one input in
 * two the MAC header is made valid, so that what lies behind the MAC check
 * (the value's decoding, tombstones) is reached too. A forged MAC must
 * never be accepted; an entry that opens must say what it is.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t mac_key[32] = { 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5, 2,
				     3, 5, 3, 6, 0, 2, 8, 7, 4, 7, 1, 3, 5, 2, 6, 6 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_state_message m = { .topic = "tids.fuzz.state" };
	struct tids_router_state st;
	uint8_t mac[TIDS_STATE_MAC_BYTES], seq[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	char err[256] = "";
	uint64_t s, want = 0;
	size_t klen;
	int sign, r;

	/* flags, key length, key, value (the rest) */
	if (size < 2)
		return 0;
	sign = data[0] & 1;
	m.seq = (data[0] & 2) ? NULL : seq;
	m.seq_len = (data[0] & 4) ? 7 : 8;
	klen = data[1];
	data += 2;
	size -= 2;
	if (klen > size)
		klen = size;
	m.key = data;
	m.key_len = klen;
	m.value = (data[-2] & 8) ? NULL : data + klen;
	m.len = m.value != NULL ? size - klen : 0;
	if (m.seq != NULL && m.seq_len == 8)
		for (int i = 0; i < 8; i++)
			want = want << 8 | seq[i];
	if (sign && m.key_len > 0)
		tids_state_mac(mac_key, m.topic, m.key, m.key_len, want, m.value, m.len, mac);
	else
		memset(mac, 0xa5, sizeof(mac));
	m.mac = (data[-2] & 16) ? NULL : mac;
	m.mac_len = sizeof(mac);
	r = tids_wire_open_router_state(mac_key, &m, &st, &s, err, sizeof(err));
	if (r == 0) {
		/* Only what the key signed opens, and only with its sequence. */
		if (!sign || m.mac == NULL || m.seq == NULL || s != want)
			abort();
		if ((m.value == NULL) != (st.kind == 0))
			abort();
		tids_router_state_free(&st);
	} else if (err[0] == '\0') {
		abort();
	}
	return 0;
}
