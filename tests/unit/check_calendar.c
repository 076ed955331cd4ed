/*
 * The hub's calendar: TZif data read (and refused when malformed), offsets
 * across daylight saving time in Europe/Berlin (listed transitions, the
 * footer's rule beyond them, and "slim" files of the rule alone), months,
 * quarters and years that follow the calendar across month ends and leap
 * years, aggregation windows aligned to it, and dates that mean the whole
 * local day, in the engine and in scenarios. Zone data comes from
 * tests/vectors/tz (copies of tzdata), not from this machine.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "testenv.h"
#include "tids/error.h"

#define S INT64_C(1000)
#define HOUR (3600 * S)
#define DAY (24 * HOUR)

static int64_t at(const char *iso)
{
	int64_t ms;
	ck_assert_msg(tids_policy_parse_time(iso, strlen(iso), &ms) == 0, "%s", iso);
	return ms;
}

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/vectors/tz/%s", tids_test_source_dir(), name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	uint8_t *buf = malloc(1 << 16);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static struct tids_policy_tz *zone(const char *name)
{
	size_t len;
	uint8_t *data = slurp(name, &len);
	struct tids_policy_tz *tz = NULL;
	char err[256] = "";
	int rc = tids_policy_tz_parse(name, data, len, &tz, err, sizeof(err));
	free(data);
	ck_assert_msg(rc == 0, "%s: %s", name, err);
	return tz;
}

/* For scenarios: zones by name from the vectors. */
static int load(void *ctx, const char *name, struct tids_policy_tz **out, char *err, size_t errlen)
{
	(void)ctx;
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/vectors/tz/%s", tids_test_source_dir(), name);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "no such zone");
		return TIDS_ENOENT;
	}
	uint8_t buf[1 << 16];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return tids_policy_tz_parse(name, buf, len, out, err, errlen);
}

static void expect_offset(const struct tids_policy_tz *tz, const char *utc, int64_t hours)
{
	ck_assert_msg(tids_policy_tz_offset_ms(tz, at(utc)) == hours * HOUR, "%s at %s: %lld, not %lld h",
		      tids_policy_tz_name(tz), utc, (long long)tids_policy_tz_offset_ms(tz, at(utc)),
		      (long long)hours);
}

/* ---- zones ---- */

/* Berlin around the 2026 changes (29 March, 25 October, 01:00 UTC), in
 * 2040 (past the listed transitions: the footer's rule), and the same
 * from a slim file that has only the rule. zdump -v agrees. */
START_TEST(berlin_daylight_saving)
{
	const char *names[] = { "Europe/Berlin", "Slim/Berlin" };
	for (size_t i = 0; i < 2; i++) {
		struct tids_policy_tz *tz = zone(names[i]);
		expect_offset(tz, "2026-01-15T12:00:00Z", 1);
		expect_offset(tz, "2026-03-29T00:59:59Z", 1);
		expect_offset(tz, "2026-03-29T01:00:00Z", 2);
		expect_offset(tz, "2026-07-01T12:00:00Z", 2);
		expect_offset(tz, "2026-10-25T00:59:59Z", 2);
		expect_offset(tz, "2026-10-25T01:00:00Z", 1);
		expect_offset(tz, "2040-03-25T00:59:59Z", 1);
		expect_offset(tz, "2040-03-25T01:00:00Z", 2);
		expect_offset(tz, "2040-10-28T01:00:00Z", 1);
		expect_offset(tz, "2100-06-01T00:00:00Z", 2);
		tids_policy_tz_free(tz);
	}
	/* before the first transition: the first time type (local mean time) */
	struct tids_policy_tz *tz = zone("Europe/Berlin");
	ck_assert_int_eq(tids_policy_tz_offset_ms(tz, at("1800-01-01T00:00:00Z")), 3208 * S);
	tids_policy_tz_free(tz);
}
END_TEST

START_TEST(shanghai_and_the_south)
{
	struct tids_policy_tz *sh = zone("Asia/Shanghai");
	expect_offset(sh, "2026-06-01T00:00:00Z", 8);
	expect_offset(sh, "2040-01-01T00:00:00Z", 8);
	expect_offset(sh, "1988-06-01T00:00:00Z", 9);      /* China had summer time then */
	tids_policy_tz_free(sh);
	/* southern hemisphere: summer spans the new year */
	struct tids_policy_tz *syd = zone("Slim/Sydney");
	expect_offset(syd, "2026-01-01T00:00:00Z", 11);
	expect_offset(syd, "2026-04-04T15:59:59Z", 11);
	expect_offset(syd, "2026-04-04T16:00:00Z", 10);
	expect_offset(syd, "2026-10-03T15:59:59Z", 10);
	expect_offset(syd, "2026-10-03T16:00:00Z", 11);
	expect_offset(syd, "2026-12-31T23:00:00Z", 11);
	tids_policy_tz_free(syd);
	/* no zone is UTC */
	ck_assert_int_eq(tids_policy_tz_offset_ms(NULL, at("2026-06-01T00:00:00Z")), 0);
	ck_assert_str_eq(tids_policy_tz_name(tids_policy_tz_utc()), "UTC");
}
END_TEST

/* Local times the clocks skip, or pass twice. */
START_TEST(local_to_utc_in_gaps_and_folds)
{
	struct tids_policy_tz *tz = zone("Europe/Berlin");
	int64_t local = at("2026-07-01T12:00:00Z");       /* as local clock readings */
	ck_assert_int_eq(tids_policy_tz_to_utc(tz, local), at("2026-07-01T10:00:00Z"));
	/* 02:30 on 29 March does not exist: moved on by the hour jumped */
	ck_assert_int_eq(tids_policy_tz_to_utc(tz, at("2026-03-29T02:30:00Z")), at("2026-03-29T01:30:00Z"));
	/* 02:30 on 25 October happens twice: the first */
	ck_assert_int_eq(tids_policy_tz_to_utc(tz, at("2026-10-25T02:30:00Z")), at("2026-10-25T00:30:00Z"));
	tids_policy_tz_free(tz);
}
END_TEST

/* TZif is read from outside: every malformed file is refused, naming why. */
START_TEST(malformed_tzif_refused)
{
	size_t len;
	uint8_t *good = slurp("Europe/Berlin", &len), *bad = malloc(len + 64);
	struct tids_policy_tz *tz = (struct tids_policy_tz *)1;
	char err[256];
	struct {
		size_t at;
		uint8_t byte;
		const char *want;
	} edits[] = {
		{ 0, 'X', "not TZif data" },
		{ 4, '9', "unknown version" },
		{ 31, 1, "leap seconds" },                 /* leapcnt of the first header */
		{ 39, 0, "impossible counts" },            /* typecnt 0 */
		{ 35, 0xff, "TZif" },                      /* another timecnt: the rest misread */
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(bad, good, len);
		bad[edits[i].at] = edits[i].byte;
		int rc = tids_policy_tz_parse("x", bad, len, &tz, err, sizeof(err));
		ck_assert_msg(rc == TIDS_EINVAL, "edit %zu: rc %d", i, rc);
		ck_assert_ptr_null(tz);
		ck_assert_msg(strstr(err, edits[i].want) != NULL, "edit %zu: %s", i, err);
	}
	/* truncated anywhere */
	for (size_t cut = 0; cut < len; cut += 97) {
		ck_assert_int_eq(tids_policy_tz_parse("x", good, cut, &tz, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_ptr_null(tz);
	}
	/* a footer that is not a POSIX TZ rule */
	memcpy(bad, good, len);
	const char *rule = "CET-1CEST,M3.5.0,M10.5.0/3";
	uint8_t *f = memmem(bad, len, rule, strlen(rule));
	ck_assert_ptr_nonnull(f);
	f[9] = ';';
	ck_assert_int_eq(tids_policy_tz_parse("x", bad, len, &tz, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_msg(strstr(err, "footer") != NULL, "%s", err);
	/* transitions out of order, and a transition naming a type that is
	 * not there, in the 64-bit block (after the 32-bit one) */
	uint32_t cnt[6];
	for (int k = 0; k < 6; k++)
		cnt[k] = (uint32_t)good[20 + 4 * k] << 24 | (uint32_t)good[21 + 4 * k] << 16 |
			 (uint32_t)good[22 + 4 * k] << 8 | good[23 + 4 * k];
	size_t v2 = 44 + (size_t)cnt[3] * 5 + (size_t)cnt[4] * 6 + cnt[5] + (size_t)cnt[2] * 8 + cnt[1] + cnt[0] + 44;
	ck_assert(cnt[3] > 2);
	memcpy(bad, good, len);
	memcpy(bad + v2 + 8, good + v2, 8);          /* the second transition = the first */
	ck_assert_int_eq(tids_policy_tz_parse("x", bad, len, &tz, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_msg(strstr(err, "transition 1 is not after the one before") != NULL, "%s", err);
	memcpy(bad, good, len);
	bad[v2 + (size_t)cnt[3] * 8 + 1] = 200;       /* the second transition's type */
	ck_assert_int_eq(tids_policy_tz_parse("x", bad, len, &tz, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_msg(strstr(err, "transition 1 names time type 200") != NULL, "%s", err);
	/* a zone has a name */
	ck_assert_int_eq(tids_policy_tz_parse("", good, len, &tz, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_int_eq(tids_policy_tz_parse("x", good, len, &tz, err, sizeof(err)), 0);
	tids_policy_tz_free(tz);
	tids_policy_tz_free(NULL);
	free(bad);
	free(good);
}
END_TEST

/* ---- the calendar ---- */

START_TEST(months_follow_the_calendar)
{
	/* month ends: the 31st plus a month is the last day of the next */
	ck_assert_int_eq(tids_policy_add(NULL, at("2026-01-31T10:00:00Z"), 1, 0), at("2026-02-28T10:00:00Z"));
	ck_assert_int_eq(tids_policy_add(NULL, at("2028-01-31T10:00:00Z"), 1, 0), at("2028-02-29T10:00:00Z"));
	ck_assert_int_eq(tids_policy_add(NULL, at("2026-03-31T00:00:00Z"), -1, 0), at("2026-02-28T00:00:00Z"));
	ck_assert_int_eq(tids_policy_add(NULL, at("2026-08-31T00:00:00Z"), 3, 0), at("2026-11-30T00:00:00Z"));
	/* leap years: a year is 365 or 366 days */
	ck_assert_int_eq(tids_policy_add(NULL, at("2028-02-29T00:00:00Z"), 12, 0), at("2029-02-28T00:00:00Z"));
	ck_assert_int_eq(tids_policy_add(NULL, at("2028-02-29T00:00:00Z"), 48, 0), at("2032-02-29T00:00:00Z"));
	ck_assert_int_eq(tids_policy_add(NULL, at("2026-06-01T00:00:00Z"), 12, 0) - at("2026-06-01T00:00:00Z"),
			 365 * DAY);
	ck_assert_int_eq(tids_policy_add(NULL, at("2027-06-01T00:00:00Z"), 12, 0) - at("2027-06-01T00:00:00Z"),
			 366 * DAY);
	/* across December */
	ck_assert_int_eq(tids_policy_add(NULL, at("2026-11-15T00:00:00Z"), 3, DAY), at("2027-02-16T00:00:00Z"));
	/* in Berlin a month keeps the local time of day across the change to
	 * summer time: 12:00 CET on 15 March is 12:00 CEST on 15 April */
	struct tids_policy_tz *tz = zone("Europe/Berlin");
	ck_assert_int_eq(tids_policy_add(tz, at("2026-03-15T11:00:00Z"), 1, 0), at("2026-04-15T10:00:00Z"));
	/* while a fixed day is 24 hours */
	ck_assert_int_eq(tids_policy_add(tz, at("2026-03-28T11:00:00Z"), 0, DAY), at("2026-03-29T11:00:00Z"));
	/* saturates instead of overflowing */
	ck_assert_int_eq(tids_policy_add(NULL, INT64_MAX - 5, 0, 10), INT64_MAX);
	ck_assert_int_eq(tids_policy_add(NULL, at("2026-01-01T00:00:00Z"), INT64_C(100000000), 0), INT64_MAX);
	tids_policy_tz_free(tz);
}
END_TEST

static void expect_window(const struct tids_policy_tz *tz, int64_t months, int64_t ms, const char *t,
			  const char *start, const char *end)
{
	int64_t s, e;
	tids_policy_window(tz, months, ms, at(t), &s, &e);
	char a[48], b[48];
	tids_policy_format_time(s, a, sizeof(a));
	tids_policy_format_time(e, b, sizeof(b));
	ck_assert_msg(s == at(start) && e == at(end), "window of %s (%lld mo, %lld ms) in %s: [%s, %s), not [%s, %s)",
		      t, (long long)months, (long long)ms, tids_policy_tz_name(tz), a, b, start, end);
}

/* Windows on the hub's calendar, not counted from 1970: a monthly window
 * of a record of 1 June is June, in the hub's time zone. */
START_TEST(windows_align_to_the_calendar)
{
	struct tids_policy_tz *sh = zone("Asia/Shanghai"), *be = zone("Europe/Berlin");
	/* 1 June 03:00 in Shanghai is 31 May 19:00 UTC: June there */
	expect_window(sh, 1, 0, "2026-05-31T19:00:00Z", "2026-05-31T16:00:00Z", "2026-06-30T16:00:00Z");
	/* in UTC that instant is May */
	expect_window(NULL, 1, 0, "2026-05-31T19:00:00Z", "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z");
	/* a leap February has 29 days, quarters start in April, years in January */
	expect_window(NULL, 1, 0, "2028-02-15T00:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z");
	expect_window(sh, 3, 0, "2026-05-15T00:00:00Z", "2026-03-31T16:00:00Z", "2026-06-30T16:00:00Z");
	expect_window(sh, 12, 0, "2026-12-31T17:00:00Z", "2026-12-31T16:00:00Z", "2027-12-31T16:00:00Z");
	/* Berlin: the day of the change to summer time has 23 hours, the day
	 * back 25; a monthly window spans the change */
	expect_window(be, 0, DAY, "2026-03-29T12:00:00Z", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z");
	expect_window(be, 0, DAY, "2026-10-25T12:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z");
	expect_window(be, 1, 0, "2026-03-15T12:00:00Z", "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z");
	/* hours of that day from its local midnight: 01:00-03:00 CEST is one hour */
	expect_window(be, 0, HOUR, "2026-03-29T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z");
	expect_window(be, 0, HOUR, "2026-03-29T21:30:00Z", "2026-03-29T21:00:00Z", "2026-03-29T22:00:00Z");
	/* weeks start on Monday, local midnight */
	expect_window(be, 0, 7 * DAY, "2026-06-04T12:00:00Z", "2026-05-31T22:00:00Z", "2026-06-07T22:00:00Z");
	/* an hour in Shanghai is an hour; 90 minutes on the local clock */
	expect_window(sh, 0, HOUR, "2026-06-01T08:20:00Z", "2026-06-01T08:00:00Z", "2026-06-01T09:00:00Z");
	expect_window(sh, 0, 90 * 60 * S, "2026-06-01T00:00:00Z", "2026-05-31T23:30:00Z", "2026-06-01T01:00:00Z");
	tids_policy_tz_free(sh);
	tids_policy_tz_free(be);
}
END_TEST

/* A date alone is the whole day in the hub's time zone. */
START_TEST(dates_mean_the_whole_local_day)
{
	struct tids_policy_tz *sh = zone("Asia/Shanghai"), *be = zone("Europe/Berlin");
	int64_t ms;
	ck_assert_int_eq(tids_policy_parse_time_tz("2026-05-31", 10, sh, TIDS_POLICY_DAY_END, &ms), 0);
	ck_assert_int_eq(ms, at("2026-05-31T15:59:59.999Z"));
	ck_assert_int_eq(tids_policy_parse_time_tz("2026-05-31", 10, sh, TIDS_POLICY_DAY_START, &ms), 0);
	ck_assert_int_eq(ms, at("2026-05-30T16:00:00Z"));
	ck_assert_int_eq(tids_policy_parse_time_tz("2026-05-31", 10, be, TIDS_POLICY_DAY_END, &ms), 0);
	ck_assert_int_eq(ms, at("2026-05-31T21:59:59.999Z"));
	ck_assert_int_eq(tids_policy_parse_time_tz("2026-05-31", 10, NULL, TIDS_POLICY_DAY_END, &ms), 0);
	ck_assert_int_eq(ms, at("2026-05-31T23:59:59.999Z"));
	/* a time of day says its own zone */
	ck_assert_int_eq(tids_policy_parse_time_tz("2026-05-31T12:00:00Z", 20, sh, TIDS_POLICY_DAY_END, &ms), 0);
	ck_assert_int_eq(ms, at("2026-05-31T12:00:00Z"));
	ck_assert_int_eq(tids_policy_parse_time_tz("2026-02-30", 10, sh, TIDS_POLICY_DAY_END, &ms), TIDS_EINVAL);
	tids_policy_tz_free(sh);
	tids_policy_tz_free(be);
}
END_TEST

/* ---- the engine on the hub's calendar ---- */

static struct tids_policy_set *compile(const char *text)
{
	struct tids_policy_source src = { "c.tidspol", text, strlen(text) };
	struct tids_policy_set *set = NULL;
	struct tids_policy_diags *d = tids_policy_diags_new();
	int rc = tids_policy_compile(&src, 1, &set, d);
	char line[512] = "";
	if (rc != 0 && tids_policy_diags_count(d) > 0)
		tids_policy_diag_format(tids_policy_diags_at(d, 0), line, sizeof(line));
	tids_policy_diags_free(d);
	ck_assert_msg(rc == 0, "%s", line);
	return set;
}

static enum tids_policy_verdict decide_at(const struct tids_policy_set *set, const struct tids_policy_tz *tz,
					  const char *now, struct tids_policy_decision *dec)
{
	static struct tids_record rec = { .owner = "o", .category = "c", .tier = TIDS_TIER_GENERAL,
					  .origin = "CN-SH" };
	rec.produced_at_ms = at("2026-01-31T10:00:00Z");
	struct tids_policy_facts *f = tids_policy_facts_new();
	struct tids_policy_request req = { .record = &rec, .recipient = "r", .purpose = "p", .now_ms = at(now), .tz = tz };
	ck_assert_int_eq(tids_policy_decide(set, f, &req, dec), 0);
	tids_policy_facts_free(f);
	return dec->verdict;
}

START_TEST(engine_uses_the_hub_calendar)
{
	struct tids_policy_decision dec;
	struct tids_policy_tz *sh = zone("Asia/Shanghai");
	/* a month after 31 January is 28 February */
	struct tids_policy_set *set = compile("permit fresh when now < record.produced_at + 1mo because \"fresh\";\n");
	ck_assert_int_eq(decide_at(set, NULL, "2026-02-28T09:59:59Z", &dec), TIDS_POLICY_ALLOW);
	ck_assert_int_eq(decide_at(set, NULL, "2026-02-28T10:00:00Z", &dec), TIDS_POLICY_DENY);
	tids_policy_set_free(set);
	/* year() is the hub's year: 1 January 01:00 in Shanghai */
	set = compile("permit y when year(now) == 2027 because \"new year\";\n");
	ck_assert_int_eq(decide_at(set, sh, "2026-12-31T17:00:00Z", &dec), TIDS_POLICY_ALLOW);
	ck_assert_int_eq(decide_at(set, NULL, "2026-12-31T17:00:00Z", &dec), TIDS_POLICY_DENY);
	tids_policy_set_free(set);
	/* a date in the policy is the start of the hub's day */
	set = compile("permit june when now >= 2026-06-01 because \"from June\";\n");
	ck_assert_int_eq(decide_at(set, sh, "2026-05-31T16:00:00Z", &dec), TIDS_POLICY_ALLOW);
	ck_assert_int_eq(decide_at(set, sh, "2026-05-31T15:59:59Z", &dec), TIDS_POLICY_DENY);
	ck_assert_int_eq(decide_at(set, NULL, "2026-05-31T16:00:00Z", &dec), TIDS_POLICY_DENY);
	tids_policy_set_free(set);
	/* retention and audit retention on the calendar */
	set = compile("permit keep when true with retain 1mo, log 6mo because \"kept\";\n");
	ck_assert_int_eq(decide_at(set, sh, "2026-01-31T00:00:00Z", &dec), TIDS_POLICY_ALLOW);
	ck_assert_int_eq(dec.obligations.retain_until_ms, at("2026-02-28T00:00:00Z"));
	ck_assert_int_eq(dec.obligations.log_retain_ms, at("2026-07-31T00:00:00Z") - at("2026-01-31T00:00:00Z"));
	tids_policy_set_free(set);
	/* a monthly aggregation carries its months */
	set = compile("permit a when true with aggregate(sum, field \"kwh\", every 1mo, by site) because \"m\";\n");
	ck_assert_int_eq(decide_at(set, sh, "2026-01-31T00:00:00Z", &dec), TIDS_POLICY_TRANSFORM);
	ck_assert_int_eq(dec.obligations.aggregation.window_months, 1);
	ck_assert_int_eq(dec.obligations.aggregation.window_ms, 0);
	tids_policy_set_free(set);
	tids_policy_tz_free(sh);
}
END_TEST

static void expect_compile_error(const char *text, const char *want)
{
	struct tids_policy_source src = { "c.tidspol", text, strlen(text) };
	struct tids_policy_set *set = NULL;
	struct tids_policy_diags *d = tids_policy_diags_new();
	ck_assert_int_eq(tids_policy_compile(&src, 1, &set, d), TIDS_EPOLICY);
	char all[4096] = "";
	for (size_t i = 0; i < tids_policy_diags_count(d); i++) {
		char line[512];
		tids_policy_diag_format(tids_policy_diags_at(d, i), line, sizeof(line));
		strncat(all, line, sizeof(all) - strlen(all) - 2);
		strcat(all, "\n");
	}
	tids_policy_diags_free(d);
	ck_assert_msg(strstr(all, want) != NULL, "expected \"%s\" among:\n%s", want, all);
}

START_TEST(calendar_durations_have_no_fixed_length)
{
	expect_compile_error("permit x when now - record.produced_at > 1mo because \"r\";\n",
			     "c.tidspol:1:42: error: a duration of months, quarters or years has no fixed length; "
			     "compare times instead");
	expect_compile_error("let d = 1y + 1d;\npermit x when d <= 400d because \"r\";\n",
			     "has no fixed length");
	expect_compile_error("permit x when true with aggregate(sum, field \"k\", every 1mo1d) because \"r\";\n",
			     "a window is either months of the calendar (1mo, 1q, 1y) or a fixed length");
	/* fixed lengths still compare, and calendar durations add to times */
	tids_policy_set_free(compile("permit x when now - record.produced_at > 30d && now < record.produced_at + 1q - 1d "
				     "because \"r\";\n"));
}
END_TEST

/* ---- scenarios with a time zone ---- */

static int run(const char *text, char *last, size_t len)
{
	const char *pol =
		"permit export when approval(kind: \"export\", recipient: recipient.id) because \"approved\";\n"
		"permit stats when purpose == \"statistics\" with aggregate(sum, field \"kwh\", every 1mo) "
		"because \"stats\";\n";
	struct tids_policy_set *set = compile(pol);
	struct tids_policy_diags *d = tids_policy_diags_new();
	struct tids_policy_scenario *s = NULL;
	int rc = tids_policy_scenario_parse_tz("t.scenario", text, strlen(text), load, NULL, &s, d);
	last[0] = '\0';
	if (rc != 0 && tids_policy_diags_count(d) > 0)
		tids_policy_diag_format(tids_policy_diags_at(d, 0), last, len);
	tids_policy_diags_free(d);
	if (rc != 0) {
		tids_policy_set_free(set);
		return -1;
	}
	int failures = tids_policy_scenario_run(s, set, 0, SIZE_MAX, NULL, NULL);
	tids_policy_scenario_free(s);
	tids_policy_set_free(set);
	return failures;
}

/* valid_until=2026-05-31 is the whole of 31 May in Shanghai: valid at 23:00
 * there (15:00 UTC), expired at midnight there (16:00 UTC). In UTC it
 * lasts until midnight UTC. */
START_TEST(scenario_dates_in_the_hub_zone)
{
	char last[512];
	const char *shanghai =
		"timezone Asia/Shanghai\n"
		"approval a1 kind=export exporter=o recipient=r categories=c tiers=general purposes=p "
		"valid_until=2026-05-31\n"
		"record rec owner=o category=c tier=general origin=CN-SH\n"
		"  field kwh real 1.5\n"
		"| # | record | recipient | purpose | now | expect |\n"
		"| 1 | rec | r | p | 2026-05-31T15:59:59Z | allow; approval a1 |\n"
		"| 2 | rec | r | p | 2026-05-31T16:00:00Z | deny |\n"
		"| 3 | rec | r | statistics | 2026-05-31T16:00:00Z | transform; aggregate sum kwh every 1mo; log >= 0s |\n";
	ck_assert_msg(run(shanghai, last, sizeof(last)) == 0, "%s", last);
	const char *utc =
		"approval a1 kind=export exporter=o recipient=r categories=c tiers=general purposes=p "
		"valid_until=2026-05-31\n"
		"record rec owner=o category=c tier=general origin=CN-SH\n"
		"| # | record | recipient | purpose | now | expect |\n"
		"| 1 | rec | r | p | 2026-05-31T23:59:59Z | allow |\n"
		"| 2 | rec | r | p | 2026-06-01T00:00:00Z | deny |\n";
	ck_assert_msg(run(utc, last, sizeof(last)) == 0, "%s", last);
	/* the zone comes first, and must be known */
	ck_assert_int_eq(run("now 2026-06-01\ntimezone Asia/Shanghai\n", last, sizeof(last)), -1);
	ck_assert_msg(strstr(last, "the timezone comes before any time") != NULL, "%s", last);
	ck_assert_int_eq(run("timezone Mars/Olympus\n", last, sizeof(last)), -1);
	ck_assert_msg(strstr(last, "time zone Mars/Olympus: no such zone") != NULL, "%s", last);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("calendar");
	TCase *tc = tcase_create("zones");
	tcase_add_test(tc, berlin_daylight_saving);
	tcase_add_test(tc, shanghai_and_the_south);
	tcase_add_test(tc, local_to_utc_in_gaps_and_folds);
	tcase_add_test(tc, malformed_tzif_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("calendar");
	tcase_add_test(tc, months_follow_the_calendar);
	tcase_add_test(tc, windows_align_to_the_calendar);
	tcase_add_test(tc, dates_mean_the_whole_local_day);
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_add_test(tc, engine_uses_the_hub_calendar);
	tcase_add_test(tc, calendar_durations_have_no_fixed_length);
	tcase_add_test(tc, scenario_dates_in_the_hub_zone);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
