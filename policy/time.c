/*
 * Civil time for the language's time literals, year(), and the CLI's
 * output: proleptic Gregorian, UTC, milliseconds since the Unix epoch.
 * Pure arithmetic (Hinnant's algorithms), so no time zone state is read;
 * calendar.c does the same in the hub's zone. Fixed durations (ms to
 * weeks) are here; months, quarters and years of the calendar have no
 * fixed length and are calendar.c's.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

int64_t pol_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;
	int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void pol_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t pol_year_of(int64_t ms)
{
	int64_t y;
	unsigned m, d;
	pol_civil_from_days(floor_div(ms, POL_MS_DAY), &y, &m, &d);
	return y;
}

/* Reads exactly n digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, int64_t *out)
{
	int64_t v = 0;
	for (unsigned k = 0; k < n; k++) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return false;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	*out = v;
	return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return false;
	(*i)++;
	return true;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tids_policy_parse_time(const char *s, size_t len, int64_t *ms_out)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t i = 0;
	int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;

	if (!digits(s, len, &i, 4, &y) || !expect(s, len, &i, '-') ||
	    !digits(s, len, &i, 2, &mo) || !expect(s, len, &i, '-') ||
	    !digits(s, len, &i, 2, &d))
		return TIDS_EINVAL;
	if (mo < 1 || mo > 12 || d < 1)
		return TIDS_EINVAL;
	unsigned dim = mdays[mo - 1] + (mo == 2 && leap(y) ? 1u : 0u);
	if (d > dim)
		return TIDS_EINVAL;
	int64_t offset_min = 0;
	if (i < len) {
		if (s[i] != 'T' && s[i] != 't')
			return TIDS_EINVAL;
		i++;
		if (!digits(s, len, &i, 2, &h) || !expect(s, len, &i, ':') ||
		    !digits(s, len, &i, 2, &mi))
			return TIDS_EINVAL;
		if (i < len && s[i] == ':') {
			i++;
			if (!digits(s, len, &i, 2, &sec))
				return TIDS_EINVAL;
			if (i < len && s[i] == '.') {
				i++;
				unsigned n = 0;
				int64_t scale = 100;
				while (i < len && s[i] >= '0' && s[i] <= '9') {
					if (n < 3)
						frac += (s[i] - '0') * scale;
					scale /= 10;
					n++;
					i++;
				}
				if (n == 0 || n > 9)
					return TIDS_EINVAL;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return TIDS_EINVAL;
		if (i >= len)
			return TIDS_EINVAL;     /* a time of day needs a zone */
		if (s[i] == 'Z' || s[i] == 'z') {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			int sign = s[i] == '-' ? -1 : 1;
			int64_t oh, om;
			i++;
			if (!digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ':') ||
			    !digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
				return TIDS_EINVAL;
			offset_min = sign * (oh * 60 + om);
		} else {
			return TIDS_EINVAL;
		}
		if (i != len)
			return TIDS_EINVAL;
	}
	int64_t days = pol_days_from_civil(y, (unsigned)mo, (unsigned)d);
	*ms_out = days * POL_MS_DAY + h * POL_MS_HOUR + mi * POL_MS_MINUTE + sec * POL_MS_SECOND +
		  frac - offset_min * POL_MS_MINUTE;
	return 0;
}

void tids_policy_format_time(int64_t ms, char *buf, size_t len)
{
	int64_t days = floor_div(ms, POL_MS_DAY);
	int64_t rest = ms - days * POL_MS_DAY;
	int64_t y;
	unsigned m, d;
	pol_civil_from_days(days, &y, &m, &d);
	int64_t h = rest / POL_MS_HOUR, mi = rest / POL_MS_MINUTE % 60;
	int64_t s = rest / POL_MS_SECOND % 60, frac = rest % 1000;
	if (frac != 0)
		snprintf(buf, len, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", (long long)y, m, d,
			 (long long)h, (long long)mi, (long long)s, (long long)frac);
	else
		snprintf(buf, len, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)y, m, d,
			 (long long)h, (long long)mi, (long long)s);
}

void tids_policy_format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "w", POL_MS_WEEK }, { "d", POL_MS_DAY }, { "h", POL_MS_HOUR },
		{ "m", POL_MS_MINUTE }, { "s", POL_MS_SECOND }, { "ms", 1 },
	};
	size_t o = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	if (ms < 0) {
		snprintf(buf, len, "-");
		o = 1;
		ms = ms == INT64_MIN ? INT64_MAX : -ms;
	}
	/* The shorter of: the largest unit that divides exactly ("90d", "2w",
	 * not "12w6d"), and a sum of units without weeks ("1d1h5ms"). */
	char one[40] = "", sum[64] = "";
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (ms % units[u].ms == 0) {
			snprintf(one, sizeof(one), "%lld%s", (long long)(ms / units[u].ms), units[u].unit);
			break;
		}
	}
	size_t so = 0;
	int64_t rest = ms;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]) && rest > 0; u++) {
		int64_t n = rest / units[u].ms;
		if (n == 0 || units[u].ms == POL_MS_WEEK)
			continue;
		rest -= n * units[u].ms;
		int w = snprintf(sum + so, sizeof(sum) - so, "%lld%s", (long long)n, units[u].unit);
		if (w < 0 || (size_t)w >= sizeof(sum) - so)
			break;
		so += (size_t)w;
	}
	snprintf(buf + o, len - o, "%s", strlen(one) <= strlen(sum) ? one : sum);
}

int pol_parse_duration(const char *s, size_t len, int64_t *ms_out)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", POL_MS_SECOND }, { "m", POL_MS_MINUTE }, { "h", POL_MS_HOUR },
		{ "d", POL_MS_DAY }, { "w", POL_MS_WEEK },
	};
	size_t i = 0;
	int64_t total = 0;
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
		int64_t ms = 0;
		for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
			if (strlen(units[k].unit) == i - u && memcmp(units[k].unit, s + u, i - u) == 0)
				ms = units[k].ms;
		if (ms == 0 || (v != 0 && ms > INT64_MAX / v) || total > INT64_MAX - v * ms)
			return TIDS_EINVAL;
		total += v * ms;
	}
	*ms_out = total;
	return 0;
}
