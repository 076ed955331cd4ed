/*
 * Records for integration tests (see records.h). No check.h here: the
 * benchmarks link tests/lib too, without libcheck.
 */
#include "records.h"

#include <string.h>

#include <sodium.h>

#include "clock.h"

int tids_test_record_encode(const struct tids_test_record *spec, struct tids_bytes *out)
{
	struct tids_field f[2 + TIDS_TEST_RECORD_MAX_EXTRA] = { { 0 } };
	struct tids_record r = { 0 };
	uint8_t *buf;
	size_t len;

	if (spec->n_extra > TIDS_TEST_RECORD_MAX_EXTRA)
		return -1;
	randombytes_buf(r.record_id, sizeof(r.record_id));
	memcpy(r.record_id, &spec->n, sizeof(spec->n));
	r.owner = spec->owner;
	r.asset_id = spec->asset != NULL ? spec->asset : "";
	r.category = spec->category;
	r.tier = spec->tier;
	r.origin = spec->origin != NULL ? spec->origin : "CN-SH";
	r.produced_at_ms = spec->produced_at_ms != 0 ? spec->produced_at_ms : now_ms();
	f[0].name = "n";
	if (spec->n_kind == TIDS_VALUE_UINT) {
		f[0].value.kind = TIDS_VALUE_UINT;
		f[0].value.as.u = spec->n;
	} else {
		f[0].value.kind = TIDS_VALUE_INT;
		f[0].value.as.i = spec->n;
	}
	if (spec->n_extra > 0)
		memcpy(&f[1], spec->extra, spec->n_extra * sizeof(f[0]));
	r.fields = f;
	r.n_fields = 1 + spec->n_extra;
	if (spec->note != NULL) {
		f[r.n_fields].name = "note";
		f[r.n_fields].value.kind = TIDS_VALUE_TEXT;
		f[r.n_fields].value.as.bytes.data = (const uint8_t *)spec->note;
		f[r.n_fields].value.as.bytes.len = strlen(spec->note);
		r.n_fields++;
	}
	if (tids_wire_encode_record(&r, &buf, &len) != 0)
		return -1;
	out->data = buf;
	out->len = len;
	return 0;
}
