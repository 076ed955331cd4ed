/*
 * RFC 3339 times for JSON records ("2026-11-29T10:00:00Z", with optional
 * fractions and "+08:00" offsets) to Unix milliseconds. The calendar is
 * computed here, not by timegm(), so the result cannot depend on TZ or locale.
 */
#include <stdbool.h>

#include "tids/error.h"
#include "tids/json.h"

/* n decimal digits at s; stops safely at the NUL of a short string. */
static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int tids_json_parse_time(const char *s, int64_t *ms_out)
{
	int y, mo, d, h, mi, sec, ms = 0, oh, om, offset = 0, n = 0;
	const char *p;

	if (s == NULL || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return TIDS_EINVAL;
	p = s + 19;
	if (*p == '.') {
		/* Milliseconds are kept; finer digits (up to ns) are truncated. */
		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 3)
				ms = ms * 10 + (*p - '0');
		if (n == 0 || n > 9)
			return TIDS_EINVAL;
		for (; n < 3; n++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return TIDS_EINVAL;
		offset = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return TIDS_EINVAL;
	}
	/* Leap seconds (:60) have no Unix time of their own; refuse them. */
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 59)
		return TIDS_EINVAL;
	*ms_out = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
		   (int64_t)offset * 60) * 1000 + ms;
	return 0;
}
