/*
 * Pinned hub keys: the known-hubs file's gate (every bad line refused and
 * named), the lookup verdicts a client acts on (known, known at another
 * address, changed key, another hub at a pinned address), appending entries,
 * the default path, and the hub's handshake payload that names its key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/channel.h"
#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/known_hubs.h"

static char err[512];
static char dir[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/tids-pin.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int count(void *ctx, const struct tids_known_hub *h)
{
	(void)h;
	(*(int *)ctx)++;
	return 0;
}

static int parse(const char *text)
{
	int n = 0;

	err[0] = '\0';
	return tids_known_hubs_parse(text, strlen(text), count, &n, err, sizeof(err)) == 0 ? n : -1;
}

START_TEST(parse_lines)
{
	uint8_t k[32];
	char b64[TIDS_KEY_BASE64_BYTES], text[1024];

	randombytes_buf(k, sizeof(k));
	tids_key_to_base64(k, b64);
	snprintf(text, sizeof(text), "# pinned\n\nhub.example:7443 hub.sh %s\n  [::1]:7443\thub.wh\t%s\r\n# end", b64, b64);
	ck_assert_int_eq(parse(text), 2);
	ck_assert_int_eq(parse(""), 0);
	/* Each bad line is refused, and named. */
	snprintf(text, sizeof(text), "a:1 hub.sh %s\nhub.example:7443 hub.sh\n", b64);
	ck_assert_int_eq(parse(text), -1);
	ck_assert_ptr_nonnull(strstr(err, "line 2"));
	snprintf(text, sizeof(text), "hub.example:7443 hub.sh %s extra\n", b64);
	ck_assert_int_eq(parse(text), -1);
	snprintf(text, sizeof(text), "hub.example:7443 'bad id' %s\n", b64);
	ck_assert_int_eq(parse(text), -1);
	snprintf(text, sizeof(text), "hub.example:7443 hub.sh %.43s!\n", b64);
	ck_assert_int_eq(parse(text), -1);
	ck_assert_ptr_nonnull(strstr(err, "base64"));
	snprintf(text, sizeof(text), "hub.example:7443 hub.sh %.40s\n", b64);
	ck_assert_int_eq(parse(text), -1);
	ck_assert_int_eq(tids_known_hubs_parse("a:1 h \0 x\n", 10, count, &(int){ 0 }, err, sizeof(err)), TIDS_EINVAL);
	{
		char *long_line = malloc(TIDS_KNOWN_HUBS_LINE_MAX + 16);

		memset(long_line, 'a', TIDS_KNOWN_HUBS_LINE_MAX + 15);
		long_line[TIDS_KNOWN_HUBS_LINE_MAX + 15] = '\0';
		ck_assert_int_eq(parse(long_line), -1);
		free(long_line);
	}
}
END_TEST

START_TEST(lookup_verdicts)
{
	uint8_t a[32], b[32];
	char path[400];
	enum tids_hub_pin v;
	struct tids_known_hub e;

	randombytes_buf(a, sizeof(a));
	randombytes_buf(b, sizeof(b));
	snprintf(path, sizeof(path), "%s/cfg/tids/known_hubs", dir);
	/* No file: nothing is known. */
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h1:7443", "hub.sh", a, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_UNKNOWN);
	/* Added (directories made): known at that address with that key. */
	ck_assert_int_eq(tids_known_hubs_add(path, "h1:7443", "hub.sh", a, err, sizeof(err)), 0);
	{
		struct stat st;
		char d[400];

		snprintf(d, sizeof(d), "%s/cfg/tids", dir);
		ck_assert_int_eq(stat(d, &st), 0);
		ck_assert_int_eq(st.st_mode & 0777, 0700);
	}
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h1:7443", "hub.sh", a, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_KNOWN);
	ck_assert_uint_eq(e.line, 1);
	/* Another key for the same hub at the same address. */
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h1:7443", "hub.sh", b, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_CHANGED);
	ck_assert_mem_eq(e.key, a, 32);
	/* Another hub at the pinned address: as suspicious. */
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h1:7443", "hub.evil", b, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_CHANGED);
	ck_assert_str_eq(e.hub_id, "hub.sh");
	/* The same hub at another address: its key must be the pinned one. */
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h2:7443", "hub.sh", a, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_KNOWN_ELSEWHERE);
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h2:7443", "hub.sh", b, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_CHANGED);
	/* Nothing in common. */
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h3:7443", "hub.wh", b, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_UNKNOWN);
	/* An exact entry wins over an address shared with another hub. */
	ck_assert_int_eq(tids_known_hubs_add(path, "h1:7443", "hub.wh", b, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h1:7443", "hub.wh", b, &v, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(v, TIDS_HUB_KNOWN);
	ck_assert_uint_eq(e.line, 2);
	/* A broken file is refused, with its name and line. */
	{
		FILE *f = fopen(path, "a");

		fputs("garbage\n", f);
		fclose(f);
	}
	ck_assert_int_eq(tids_known_hubs_lookup(path, "h1:7443", "hub.sh", a, &v, &e, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "line 3"));
	/* What cannot be written as a line is not added. */
	ck_assert_int_ne(tids_known_hubs_add(path, "h 1:7443", "hub.sh", a, err, sizeof(err)), 0);
	ck_assert_int_ne(tids_known_hubs_add(path, "h1:7443", "hub sh", a, err, sizeof(err)), 0);
}
END_TEST

START_TEST(default_path)
{
	char buf[512];

	setenv(TIDS_KNOWN_HUBS_ENV, "/x/known", 1);
	ck_assert_int_eq(tids_known_hubs_default_path(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/x/known");
	unsetenv(TIDS_KNOWN_HUBS_ENV);
	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	ck_assert_int_eq(tids_known_hubs_default_path(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/cfg/tids/known_hubs");
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/u", 1);
	ck_assert_int_eq(tids_known_hubs_default_path(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/home/u/.config/tids/known_hubs");
	unsetenv("HOME");
	ck_assert_int_eq(tids_known_hubs_default_path(buf, sizeof(buf)), TIDS_ENOENT);
}
END_TEST

START_TEST(hello_payload)
{
	uint8_t k[32], got[32], buf[TIDS_HELLO_MAX], bad[TIDS_HELLO_MAX];
	char id[TIDS_ID_MAX + 1];
	size_t n;
	bool has;

	randombytes_buf(k, sizeof(k));
	n = tids_channel_hello_encode("hub.sh", k, buf);
	ck_assert_uint_eq(n, 6 + 1 + 32);
	ck_assert_int_eq(tids_channel_hello_decode(buf, n, id, got, &has), 0);
	ck_assert(has);
	ck_assert_str_eq(id, "hub.sh");
	ck_assert_mem_eq(got, k, 32);
	/* An id alone (an older hub): no key. */
	ck_assert_int_eq(tids_channel_hello_decode((const uint8_t *)"hub.sh", 6, id, got, &has), 0);
	ck_assert(!has);
	/* A key of the wrong length, no id, a bad id. */
	ck_assert_int_eq(tids_channel_hello_decode(buf, n - 1, id, got, &has), TIDS_EINVAL);
	ck_assert_int_eq(tids_channel_hello_decode(buf + 6, n - 6, id, got, &has), TIDS_EINVAL);
	memcpy(bad, buf, n);
	bad[2] = ' ';
	ck_assert_int_eq(tids_channel_hello_decode(bad, n, id, got, &has), TIDS_EINVAL);
	ck_assert_str_eq(id, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pinning");
	TCase *tc = tcase_create("known hubs");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, parse_lines);
	tcase_add_test(tc, lookup_verdicts);
	tcase_add_test(tc, default_path);
	tcase_add_test(tc, hello_payload);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
