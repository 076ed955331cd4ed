/*
 * Time zones for the hub's calendar, from TZif data (RFC 8536, the format
 * of /usr/share/zoneinfo) that the caller read: the engine does no I/O.
 * TZif is input from outside the program, so this is a gate: sizes first,
 * every count, index and offset checked, the POSIX TZ rule of the footer
 * parsed strictly; anything else is refused with what was wrong. Lookups
 * allocate nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

#define TZ_DATA_MAX (1u << 20)        /* zoneinfo files are a few KiB */
#define TZ_TIMES_MAX 100000u
#define TZ_TYPES_MAX 256u
#define TZ_CHARS_MAX 4096u
#define TZ_OFFSET_MAX (26 * 3600)     /* RFC 8536 allows up to 25:59:59 */
#define TZ_NAME_MAX 128

/* A day of the POSIX rule: Jn (1..365, never Feb 29), n (0..365), or
 * Mm.w.d (month, week 1..5 with 5 the last, weekday 0 = Sunday). */
struct tz_day {
	char kind;                /* 'J', 'n' or 'M' */
	int n;                    /* J, n */
	int month, week, wday;    /* M */
	int32_t time;             /* seconds after local midnight, may be < 0 or > 24h */
};

struct tz_rule {
	bool present;
	int32_t std_off;          /* seconds east of UTC */
	bool has_dst;
	int32_t dst_off;
	struct tz_day start, end;
};

struct tids_policy_tz {
	char name[TZ_NAME_MAX + 1];
	size_t n;                 /* transitions */
	int64_t *at;              /* UTC seconds, ascending */
	int32_t *off;             /* the offset from each on */
	int32_t first_off;        /* before the first (the first time type) */
	struct tz_rule rule;      /* after the last */
};

static const struct tids_policy_tz utc = { .name = "UTC" };

const struct tids_policy_tz *tids_policy_tz_utc(void)
{
	return &utc;
}

const char *tids_policy_tz_name(const struct tids_policy_tz *tz)
{
	return tz != NULL ? tz->name : "UTC";
}

void tids_policy_tz_free(struct tids_policy_tz *tz)
{
	if (tz == NULL || tz == &utc)
		return;
	free(tz->at);
	free(tz->off);
	free(tz);
}

/* ---- the POSIX TZ rule of the footer ---- */

struct rd {
	const char *s;
	size_t len, i;
};

static bool more(const struct rd *r)
{
	return r->i < r->len;
}

static int peekc(const struct rd *r)
{
	return more(r) ? (unsigned char)r->s[r->i] : -1;
}

static bool num(struct rd *r, int max, int *out)
{
	int v = 0, digits = 0;
	while (more(r) && r->s[r->i] >= '0' && r->s[r->i] <= '9') {
		v = v * 10 + (r->s[r->i++] - '0');
		if (v > max || ++digits > 3)
			return false;
	}
	*out = v;
	return digits > 0;
}

/* A zone abbreviation: three or more letters, or <...> of [A-Za-z0-9+-]. */
static bool abbreviation(struct rd *r)
{
	size_t n = 0;
	if (peekc(r) == '<') {
		r->i++;
		while (more(r) && r->s[r->i] != '>') {
			char c = r->s[r->i++];
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '+' || c == '-'))
				return false;
			n++;
		}
		if (!more(r))
			return false;
		r->i++;
		return n >= 3;
	}
	while (more(r) && ((r->s[r->i] >= 'A' && r->s[r->i] <= 'Z') || (r->s[r->i] >= 'a' && r->s[r->i] <= 'z'))) {
		r->i++;
		n++;
	}
	return n >= 3;
}

/* [+-]hh[:mm[:ss]] with hours up to max_h, as seconds. */
static bool hms(struct rd *r, int max_h, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;
	if (peekc(r) == '+' || peekc(r) == '-')
		sign = r->s[r->i++] == '-' ? -1 : 1;
	if (!num(r, max_h, &h))
		return false;
	if (peekc(r) == ':') {
		r->i++;
		if (!num(r, 59, &m))
			return false;
		if (peekc(r) == ':') {
			r->i++;
			if (!num(r, 59, &s))
				return false;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return true;
}

static bool rule_day(struct rd *r, struct tz_day *d)
{
	if (peekc(r) == 'J') {
		r->i++;
		d->kind = 'J';
		if (!num(r, 365, &d->n) || d->n < 1)
			return false;
	} else if (peekc(r) == 'M') {
		r->i++;
		d->kind = 'M';
		if (!num(r, 12, &d->month) || d->month < 1 || peekc(r) != '.')
			return false;
		r->i++;
		if (!num(r, 5, &d->week) || d->week < 1 || peekc(r) != '.')
			return false;
		r->i++;
		if (!num(r, 6, &d->wday))
			return false;
	} else {
		d->kind = 'n';
		if (!num(r, 365, &d->n))
			return false;
	}
	d->time = 2 * 3600;
	if (peekc(r) == '/') {
		r->i++;
		/* RFC 8536 section 3.3.1: hours from -167 to 167 */
		if (!hms(r, 167, &d->time))
			return false;
	}
	return true;
}

static int parse_rule(const char *s, size_t len, struct tz_rule *rule)
{
	struct rd r = { s, len, 0 };
	int32_t off;
	memset(rule, 0, sizeof(*rule));
	if (!abbreviation(&r) || !hms(&r, 24, &off))
		return TIDS_EINVAL;
	/* POSIX offsets are west of Greenwich: CET-1 is an hour east */
	rule->std_off = -off;
	rule->present = true;
	if (!more(&r))
		return 0;
	if (!abbreviation(&r))
		return TIDS_EINVAL;
	rule->has_dst = true;
	rule->dst_off = rule->std_off + 3600;
	if (peekc(&r) != ',' && more(&r)) {
		if (!hms(&r, 24, &off))
			return TIDS_EINVAL;
		rule->dst_off = -off;
	}
	/* a footer with daylight saving always says when it starts and ends */
	if (peekc(&r) != ',')
		return TIDS_EINVAL;
	r.i++;
	if (!rule_day(&r, &rule->start) || peekc(&r) != ',')
		return TIDS_EINVAL;
	r.i++;
	if (!rule_day(&r, &rule->end) || more(&r))
		return TIDS_EINVAL;
	return 0;
}

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970 of a rule's day in year y. */
static int64_t rule_date(const struct tz_day *d, int64_t y)
{
	int64_t jan1 = pol_days_from_civil(y, 1, 1);
	if (d->kind == 'J')
		/* 1..365, February 29 never counted */
		return jan1 + d->n - 1 + (leap_year(y) && d->n >= 60 ? 1 : 0);
	if (d->kind == 'n')
		return jan1 + d->n;
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t first = pol_days_from_civil(y, (unsigned)d->month, 1);
	/* 1970-01-01 was a Thursday (4) */
	int64_t wday_first = ((first % 7) + 7 + 4) % 7;
	int64_t day = first + (d->wday - wday_first + 7) % 7 + (int64_t)(d->week - 1) * 7;
	unsigned dim = mdays[d->month - 1] + (d->month == 2 && leap_year(y) ? 1u : 0u);
	while (day >= first + dim)
		day -= 7;               /* week 5: the last such weekday */
	return day;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int32_t rule_offset(const struct tz_rule *rule, int64_t t)
{
	if (!rule->has_dst)
		return rule->std_off;
	int64_t y;
	unsigned m, d;
	pol_civil_from_days(floor_div(t + rule->std_off, 86400), &y, &m, &d);
	/* the start is given in standard time, the end in daylight time */
	int64_t start = rule_date(&rule->start, y) * 86400 + rule->start.time - rule->std_off;
	int64_t end = rule_date(&rule->end, y) * 86400 + rule->end.time - rule->dst_off;
	bool dst = start <= end ? (t >= start && t < end) : (t < end || t >= start);
	return dst ? rule->dst_off : rule->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct header {
	char version;
	uint32_t isut, isstd, leap, time, type, chars;
};

static int header(const uint8_t *p, size_t len, size_t at, struct header *h, char *err, size_t errlen)
{
	if (len - at < 44)
		return tids_fail(err, errlen, TIDS_EINVAL, "TZif data: header truncated at byte %zu", at);
	if (memcmp(p + at, "TZif", 4) != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "not TZif data (it does not start with \"TZif\")");
	h->version = (char)p[at + 4];
	if (h->version != 0 && (h->version < '2' || h->version > '4'))
		return tids_fail(err, errlen, TIDS_EINVAL, "TZif data: unknown version %u", p[at + 4]);
	h->isut = be32(p + at + 20);
	h->isstd = be32(p + at + 24);
	h->leap = be32(p + at + 28);
	h->time = be32(p + at + 32);
	h->type = be32(p + at + 36);
	h->chars = be32(p + at + 40);
	if (h->type == 0 || h->type > TZ_TYPES_MAX || h->chars == 0 || h->chars > TZ_CHARS_MAX ||
	    h->time > TZ_TIMES_MAX || (h->isut != 0 && h->isut != h->type) ||
	    (h->isstd != 0 && h->isstd != h->type))
		return tids_fail(err, errlen, TIDS_EINVAL,
				 "TZif data: impossible counts (%u transitions, %u types, %u characters)",
				 h->time, h->type, h->chars);
	if (h->leap != 0)
		return tids_fail(err, errlen, TIDS_EINVAL,
				 "TZif data with leap seconds (a \"right/\" zone) is not supported; use the zone "
				 "without them");
	return 0;
}

static size_t block_size(const struct header *h, size_t tsize)
{
	return (size_t)h->time * tsize + h->time + (size_t)h->type * 6 + h->chars +
	       (size_t)h->leap * (tsize + 4) + h->isstd + h->isut;
}

int tids_policy_tz_parse(const char *name, const uint8_t *data, size_t len, struct tids_policy_tz **out,
			 char *err, size_t errlen)
{
	struct header h;
	struct tids_policy_tz *tz = NULL;
	int r;

	*out = NULL;
	if (name == NULL || *name == '\0' || strlen(name) > TZ_NAME_MAX)
		return tids_fail(err, errlen, TIDS_EINVAL, "a time zone needs a name of 1 to %d bytes",
				 TZ_NAME_MAX);
	if (len > TZ_DATA_MAX)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "TZif data of %zu bytes: at most %u", len,
				 TZ_DATA_MAX);
	if ((r = header(data, len, 0, &h, err, errlen)) != 0)
		return r;
	size_t at = 44, tsize = 4;
	if (len - at < block_size(&h, 4))
		return tids_fail(err, errlen, TIDS_EINVAL, "TZif data: version 1 block truncated");
	if (h.version >= '2') {
		/* the 64-bit block follows the 32-bit one, which is skipped */
		at += block_size(&h, 4);
		if ((r = header(data, len, at, &h, err, errlen)) != 0)
			return r;
		at += 44;
		tsize = 8;
		if (len - at < block_size(&h, 8))
			return tids_fail(err, errlen, TIDS_EINVAL, "TZif data: version %c block truncated",
					 h.version);
	}
	const uint8_t *times = data + at, *idx = times + (size_t)h.time * tsize;
	const uint8_t *types = idx + h.time, *chars = types + (size_t)h.type * 6;
	size_t end = at + block_size(&h, tsize);
	int32_t offs[TZ_TYPES_MAX];
	for (uint32_t i = 0; i < h.type; i++) {
		int32_t o = (int32_t)be32(types + i * 6);
		if (o < -TZ_OFFSET_MAX || o > TZ_OFFSET_MAX)
			return tids_fail(err, errlen, TIDS_EINVAL, "TZif data: time type %u has offset %d s", i, o);
		if (types[i * 6 + 4] > 1 || types[i * 6 + 5] >= h.chars)
			return tids_fail(err, errlen, TIDS_EINVAL, "TZif data: time type %u is malformed", i);
		offs[i] = o;
	}
	(void)chars;
	tz = calloc(1, sizeof(*tz));
	if (tz == NULL)
		return TIDS_ENOMEM;
	snprintf(tz->name, sizeof(tz->name), "%s", name);
	tz->first_off = offs[0];
	tz->n = h.time;
	if (h.time > 0) {
		tz->at = malloc(h.time * sizeof(*tz->at));
		tz->off = malloc(h.time * sizeof(*tz->off));
		if (tz->at == NULL || tz->off == NULL) {
			r = TIDS_ENOMEM;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < h.time; i++) {
		tz->at[i] = tsize == 8 ? be64(times + i * 8) : (int64_t)(int32_t)be32(times + i * 4);
		if (i > 0 && tz->at[i] <= tz->at[i - 1]) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "TZif data: transition %u is not after the one before",
				      i);
			goto fail;
		}
		if (idx[i] >= h.type) {
			r = tids_fail(err, errlen, TIDS_EINVAL, "TZif data: transition %u names time type %u of %u", i,
				      idx[i], h.type);
			goto fail;
		}
		tz->off[i] = offs[idx[i]];
	}
	if (h.version >= '2') {
		/* the footer: "\n" POSIX-TZ-string "\n", possibly empty */
		const uint8_t *f = data + end, *nl;
		size_t flen = len - end;
		if (flen < 2 || f[0] != '\n' || (nl = memchr(f + 1, '\n', flen - 1)) == NULL)
			r = tids_fail(err, errlen, TIDS_EINVAL, "TZif data: the footer is missing");
		else if (nl - f - 1 > 0 && parse_rule((const char *)f + 1, (size_t)(nl - f - 1), &tz->rule) != 0)
			r = tids_fail(err, errlen, TIDS_EINVAL, "TZif data: the footer's rule is not a POSIX TZ string");
		if (r != 0)
			goto fail;
	}
	*out = tz;
	return 0;
fail:
	tids_policy_tz_free(tz);
	return r;
}

/* Seconds east of UTC in effect at UTC second t. */
static int32_t offset_at(const struct tids_policy_tz *tz, int64_t t)
{
	if (tz == NULL || (tz->n == 0 && !tz->rule.present))
		return tz != NULL ? tz->first_off : 0;
	if (tz->n == 0 || t >= tz->at[tz->n - 1]) {
		if (tz->rule.present)
			return rule_offset(&tz->rule, t);
		if (tz->n == 0)
			return tz->first_off;
	}
	if (t < tz->at[0])
		return tz->first_off;
	size_t lo = 0, hi = tz->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->off[lo];
}

int64_t tids_policy_tz_offset_ms(const struct tids_policy_tz *tz, int64_t utc_ms)
{
	return (int64_t)offset_at(tz, floor_div(utc_ms, 1000)) * 1000;
}

/*
 * The UTC instant of a local time. Around a transition a local time may
 * not exist (the clocks jumped over it: the instant as if the old offset
 * still held, i.e. the local time moved on by the jump) or happen twice
 * (the clocks went back: the earlier).
 */
int64_t tids_policy_tz_to_utc(const struct tids_policy_tz *tz, int64_t local_ms)
{
	if (local_ms > POL_TIME_LIMIT || local_ms < -POL_TIME_LIMIT)
		return local_ms;        /* no calendar that far out: no arithmetic to overflow */
	int64_t before = tids_policy_tz_offset_ms(tz, local_ms - 2 * POL_MS_DAY);
	int64_t after = tids_policy_tz_offset_ms(tz, local_ms + 2 * POL_MS_DAY);
	int64_t a = local_ms - before, b = local_ms - after;
	bool a_ok = tids_policy_tz_offset_ms(tz, a) == before;
	bool b_ok = tids_policy_tz_offset_ms(tz, b) == after;
	if (a_ok && b_ok)
		return a < b ? a : b;
	if (a_ok)
		return a;
	if (b_ok)
		return b;
	return a;               /* in the gap */
}
