/*
 * libFuzzer target for the TZif gate (tids_policy_tz_parse: zone data the
 * daemon and tidsctl read from /usr/share/zoneinfo or a user names), and,
 * for data it accepts, every lookup the calendar makes of it: offsets,
 * local times back to UTC, months added, aggregation windows.
 * Seeds: tests/fuzz/seeds/fuzz_tz (real zones, fat and slim).
 */
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_policy_tz *tz = NULL;
	char err[256];
	if (tids_policy_tz_parse("fuzz", data, size, &tz, err, sizeof(err)) != 0) {
		if (tz != NULL)
			abort();          /* a refusal leaves nothing behind */
		return 0;
	}
	/* 1900 to 2200, a little over a month apart, and the extremes */
	for (int64_t t = INT64_C(-2208988800000); t < INT64_C(7258118400000); t += INT64_C(3000000000)) {
		int64_t off = tids_policy_tz_offset_ms(tz, t), s, e;
		if (off < -26 * 3600000 || off > 26 * 3600000)
			abort();
		(void)tids_policy_tz_to_utc(tz, t + off);
		(void)tids_policy_add(tz, t, 1, 0);
		tids_policy_window(tz, 1, 0, t, &s, &e);
		tids_policy_window(tz, 0, 3600000, t, &s, &e);
		tids_policy_window(tz, 0, 86400000, t, &s, &e);
	}
	const int64_t far[] = { INT64_MAX, INT64_MIN, INT64_MAX / 4 + 1, -(INT64_MAX / 4) - 1, INT64_MAX / 4 };
	for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
		int64_t s, e;
		(void)tids_policy_tz_offset_ms(tz, far[i]);
		(void)tids_policy_tz_to_utc(tz, far[i]);
		(void)tids_policy_add(tz, far[i], 1, 0);
		(void)tids_policy_add(tz, far[i], -1, -1);
		tids_policy_window(tz, 12, 0, far[i], &s, &e);
		tids_policy_window(tz, 0, 7 * 86400000, far[i], &s, &e);
	}
	tids_policy_tz_free(tz);
	return 0;
}
