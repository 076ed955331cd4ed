/*
 * The hub's calendar: durations of months, quarters and years that follow
 * it (a year is 365 or 366 days, a month 28 to 31), windows aligned to it
 * in the hub's time zone (a monthly window is a calendar month of local
 * time, a daily one a local day of 23, 24 or 25 hours), and dates without
 * a time meaning the whole local day. Pure arithmetic over a zone's data;
 * nothing here allocates.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return mdays[m - 1] + (m == 2 && leap ? 1u : 0u);
}

/* Years beyond this are not civil dates anyone schedules; adding months
 * past them saturates instead of overflowing. */
#define YEAR_LIMIT INT64_C(1000000)

int64_t tids_policy_add(const struct tids_policy_tz *tz, int64_t t, int64_t months, int64_t ms)
{
	if (months != 0 && (t > POL_TIME_LIMIT || t < -POL_TIME_LIMIT))
		return months > 0 ? INT64_MAX : INT64_MIN;
	if (months != 0) {
		int64_t local = t + tids_policy_tz_offset_ms(tz, t);
		int64_t days = floor_div(local, POL_MS_DAY), in_day = local - days * POL_MS_DAY;
		int64_t y;
		unsigned m, d;
		pol_civil_from_days(days, &y, &m, &d);
		if (months > YEAR_LIMIT * 12 || months < -YEAR_LIMIT * 12)
			return months > 0 ? INT64_MAX : INT64_MIN;
		int64_t mm = y * 12 + (int64_t)(m - 1) + months;
		int64_t ny = floor_div(mm, 12);
		unsigned nm = (unsigned)(mm - ny * 12) + 1;
		if (ny > YEAR_LIMIT || ny < -YEAR_LIMIT)
			return months > 0 ? INT64_MAX : INT64_MIN;
		/* the 31st plus a month is the last day of a shorter month */
		unsigned dim = days_in_month(ny, nm);
		int64_t nd = pol_days_from_civil(ny, nm, d < dim ? d : dim);
		t = tids_policy_tz_to_utc(tz, nd * POL_MS_DAY + in_day);
	}
	return sat_add(t, ms);
}

/* The UTC instant local day `days` (since 1970-01-01) begins. */
int64_t pol_local_day_start(const struct tids_policy_tz *tz, int64_t days)
{
	if (days > POL_TIME_LIMIT / POL_MS_DAY || days < -POL_TIME_LIMIT / POL_MS_DAY)
		return days > 0 ? INT64_MAX : INT64_MIN;
	return tids_policy_tz_to_utc(tz, days * POL_MS_DAY);
}

static int64_t local_days(const struct tids_policy_tz *tz, int64_t t)
{
	if (t > POL_TIME_LIMIT || t < -POL_TIME_LIMIT)
		return floor_div(t, POL_MS_DAY);
	return floor_div(t + tids_policy_tz_offset_ms(tz, t), POL_MS_DAY);
}

int64_t pol_year_in(const struct tids_policy_tz *tz, int64_t t)
{
	int64_t y;
	unsigned m, d;
	pol_civil_from_days(local_days(tz, t), &y, &m, &d);
	return y;
}

void tids_policy_window(const struct tids_policy_tz *tz, int64_t months, int64_t ms, int64_t t, int64_t *start,
			int64_t *end)
{
	if (t > POL_TIME_LIMIT || t < -POL_TIME_LIMIT || (months <= 0 && ms <= 0) || months > 1200000) {
		*start = t;
		*end = t == INT64_MAX ? t : t + 1;
		return;
	}
	int64_t day = local_days(tz, t);
	if (months > 0) {
		/* calendar months from the start of the year: quarters begin in
		 * January, April, July and October */
		int64_t y;
		unsigned m, d;
		pol_civil_from_days(day, &y, &m, &d);
		int64_t first = floor_div(y * 12 + (int64_t)(m - 1), months) * months;
		int64_t sy = floor_div(first, 12), ey = floor_div(first + months, 12);
		*start = pol_local_day_start(tz, pol_days_from_civil(sy, (unsigned)(first - sy * 12) + 1, 1));
		*end = pol_local_day_start(tz, pol_days_from_civil(ey, (unsigned)(first + months - ey * 12) + 1, 1));
		return;
	}
	if (ms % POL_MS_DAY == 0) {
		/* whole local days; weeks begin on Mondays (1970-01-05) */
		int64_t n = ms / POL_MS_DAY, base = n % 7 == 0 ? 4 : 0;
		int64_t first = floor_div(day - base, n) * n + base;
		*start = pol_local_day_start(tz, first);
		*end = pol_local_day_start(tz, first + n);
		return;
	}
	if (POL_MS_DAY % ms == 0) {
		/* parts of a local day, counted from its midnight: the last
		 * one ends with the day (a day may have 23 or 25 hours) */
		int64_t midnight = pol_local_day_start(tz, day), next = pol_local_day_start(tz, day + 1);
		if (t < midnight) {              /* in a gap at midnight */
			next = midnight;
			midnight = pol_local_day_start(tz, day - 1);
		}
		*start = midnight + floor_div(t - midnight, ms) * ms;
		*end = *start + ms < next ? *start + ms : next;
		return;
	}
	/* any other length: on the local clock from 1970 */
	int64_t local = t + tids_policy_tz_offset_ms(tz, t);
	int64_t ls = floor_div(local, ms) * ms;
	*start = tids_policy_tz_to_utc(tz, ls);
	*end = tids_policy_tz_to_utc(tz, ls + ms);
	if (*start > t)
		*start = t;
	if (*end <= t)
		*end = t + 1;
}

int tids_policy_parse_time_tz(const char *s, size_t len, const struct tids_policy_tz *tz,
			      enum tids_policy_bound bound, int64_t *ms_out)
{
	int64_t ms;
	int rc = tids_policy_parse_time(s, len, &ms);
	if (rc != 0)
		return rc;
	if (len != 10)
		return *ms_out = ms, 0;           /* a time of day names its own zone */
	/* a date alone: its whole local day */
	int64_t day = floor_div(ms, POL_MS_DAY);
	*ms_out = bound == TIDS_POLICY_DAY_END ? pol_local_day_start(tz, day + 1) - 1 : pol_local_day_start(tz, day);
	return 0;
}

/* ---- durations with calendar units ---- */

int pol_parse_calendar(const char *s, size_t len, int64_t *months_out, int64_t *ms_out)
{
	static const struct {
		const char *unit;
		int64_t ms;
		int64_t months;
	} units[] = {
		{ "ms", 1, 0 }, { "s", POL_MS_SECOND, 0 }, { "m", POL_MS_MINUTE, 0 }, { "h", POL_MS_HOUR, 0 },
		{ "d", POL_MS_DAY, 0 }, { "w", POL_MS_WEEK, 0 }, { "mo", 0, 1 }, { "q", 0, 3 }, { "y", 0, 12 },
	};
	size_t i = 0;
	int64_t total = 0, months = 0;
	if (len == 0)
		return TIDS_EINVAL;
	while (i < len) {
		int64_t v = 0;
		size_t start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (v > (INT64_MAX - 9) / 10)
				return TIDS_EINVAL;
			v = v * 10 + (s[i] - '0');
			i++;
		}
		if (i == start)
			return TIDS_EINVAL;
		size_t u = i;
		while (i < len && s[i] >= 'a' && s[i] <= 'z')
			i++;
		size_t k;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (strlen(units[k].unit) == i - u && memcmp(units[k].unit, s + u, i - u) == 0)
				break;
		if (k == sizeof(units) / sizeof(units[0]))
			return TIDS_EINVAL;
		if (units[k].months != 0) {
			/* a hundred thousand years is plenty */
			if (v > INT64_C(1200000) / units[k].months || months + v * units[k].months > INT64_C(1200000))
				return TIDS_EINVAL;
			months += v * units[k].months;
			continue;
		}
		int64_t ms = units[k].ms;
		if ((v != 0 && ms > INT64_MAX / v) || total > INT64_MAX - v * ms)
			return TIDS_EINVAL;
		total += v * ms;
	}
	*months_out = months;
	*ms_out = total;
	return 0;
}

void tids_policy_format_calendar(int64_t months, int64_t ms, char *buf, size_t len)
{
	char fixed[64] = "";
	size_t o = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	if (months == 0) {
		tids_policy_format_duration(ms, buf, len);
		return;
	}
	int64_t am = months < 0 ? -months : months;
	if (months < 0)
		o += (size_t)snprintf(buf, len, "-");
	if (am / 12 > 0 && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%lldy", (long long)(am / 12));
	if (am % 12 > 0 && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%lldmo", (long long)(am % 12));
	if (ms != 0 && o < len) {
		tids_policy_format_duration(ms, fixed, sizeof(fixed));
		snprintf(buf + o, len - o, "%s", fixed);
	}
}
