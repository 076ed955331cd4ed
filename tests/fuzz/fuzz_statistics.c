/*
 * libFuzzer target for a hub's statistics as they arrive from another hub:
 * the input is a HubStatistics message (what an importing hub, tidsctl
 * monitor and a regulator's client decode), and, as a Record, a statistics
 * record (the gate that takes the message out of its parts). Whatever
 * passes is encoded again and must pass again, with the same counts, and
 * a signature check must not crash on it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/statistics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void again(const struct tids_hub_statistics *s)
{
	static const uint8_t pk[TIDS_PUBLIC_KEY_BYTES] = { 1 };
	struct tids_hub_statistics t;
	char err[256];
	uint8_t *b;
	size_t len;

	if (tids_wire_encode_hub_statistics(s, &b, &len) != 0)
		abort();
	if (tids_wire_decode_hub_statistics(b, len, &t, err, sizeof(err)) != 0 || t.decisions != s->decisions ||
	    t.n_decided != s->n_decided || t.n_flows != s->n_flows || t.n_counters != s->n_counters ||
	    t.n_usage != s->n_usage || strcmp(t.hub_id, s->hub_id) != 0)
		abort();
	(void)tids_statistics_verify(pk, &t, err, sizeof(err));
	tids_hub_statistics_free(&t);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_hub_statistics s;
	struct tids_record rec;
	char err[256];

	if (tids_wire_decode_hub_statistics(data, size, &s, err, sizeof(err)) == 0) {
		again(&s);
		tids_hub_statistics_free(&s);
	}
	if (tids_wire_decode_record(data, size, &rec, err, sizeof(err)) == 0) {
		if (tids_statistics_from_record(&rec, &s, err, sizeof(err)) == 0) {
			again(&s);
			tids_hub_statistics_free(&s);
		}
		tids_record_free(&rec);
	}
	return 0;
}
