/*
 * Clients authenticate the hub: tidsd writes hub.pub beside its key and
 * tidsctl admin hub-key prints it; a client pins the hub it first meets in
 * its known-hubs file, and when another hub with another key later answers
 * at the same address (same hub id or not) it refuses loudly, naming both
 * keys, before it reveals who it is. --hub-key overrides the file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "hub.h"
#include "shell.h"
#include "testenv.h"
#include "tids/error.h"
#include "tids/known_hubs.h"

static char err[1024];

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Registers participant id with identity key id at hub h. */
static void register_at(struct tids_test_hub *h, const char *who, const struct tids_identity *id)
{
	struct tids_participant p = { .id = who, .role = "factory", .jurisdiction = "CN-SH" };
	struct tids_client *c = tids_test_hub_admin(h);

	ck_assert_ptr_nonnull(c);
	memcpy(p.identity_key, id->sign_pk, 32);
	ck_assert_msg(tids_client_register_participant(c, &p, err, sizeof(err)) == 0, "register: %s", err);
	tids_client_free(c);
}

START_TEST(second_hub_on_a_pinned_address_is_refused)
{
	static struct tids_test_hub a, b, c;
	struct tids_identity me;
	char out[16384], path[512], key[512], known[512], strict[512], a_b64[TIDS_KEY_BASE64_BYTES],
		b_b64[TIDS_KEY_BASE64_BYTES], before[8192], line[600];
	struct stat st;
	char *text;

	ck_assert_int_eq(tids_test_hub_start(&a, NULL), 0);
	tids_key_to_base64(a.hub_pk, a_b64);

	/* tidsd wrote hub.pub beside hub.key, as tidsctl keygen writes NAME.pub. */
	snprintf(path, sizeof(path), "%s/hub.pub", a.dir);
	text = slurp(path);
	ck_assert_msg(text != NULL, "%s is missing", path);
	snprintf(line, sizeof(line), "%s\n", a_b64);
	ck_assert_str_eq(text, line);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	/* ...and the admin socket says the same. */
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "admin --hub '%s' hub-key", a.sock), 0);
	ck_assert_str_eq(out, line);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "admin --hub '%s' hub-key --address %s", a.sock, a.addr), 0);
	snprintf(line, sizeof(line), "%s %s %s\n", a.addr, a.hub_id, a_b64);
	ck_assert_str_eq(out, line);

	/* A participant meets hub A: its key is pinned on first use. */
	ck_assert_int_eq(tids_identity_generate(&me), 0);
	register_at(&a, "factory", &me);
	snprintf(key, sizeof(key), "%s/factory.key", a.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &me, err, sizeof(err)), 0);
	snprintf(known, sizeof(known), "%s/cfg/known_hubs", a.dir);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s' --known-hubs '%s'", a.addr, key, known), 0);
	ck_assert_msg(strstr(out, "is new: pinned its key") != NULL && strstr(out, a_b64) != NULL, "%s", out);
	text = slurp(known);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, line);
	/* The second time it is simply known (the file from the environment). */
	setenv("TIDS_KNOWN_HUBS", known, 1);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s'", a.addr, key), 0);
	unsetenv("TIDS_KNOWN_HUBS");
	ck_assert_msg(strstr(out, "pinned") == NULL && strstr(out, "you are factory") != NULL, "%s", out);
	ck_assert_int_eq(tids_test_hub_stop(&a), 0);

	/* Hub B takes A's address and id, with a key of its own, and would
	 * welcome the participant (it knows its key too). */
	ck_assert_int_eq(tids_test_hub_start_at(&b, a.hub_id, a.addr, "kafka.topic_prefix = impostor"), 0);
	tids_key_to_base64(b.hub_pk, b_b64);
	register_at(&b, "factory", &me);
	snprintf(before, sizeof(before), "%s", slurp(known));
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s' --known-hubs '%s'", b.addr, key, known), 1);
	ck_assert_msg(strstr(out, "HUB KEY CHANGED") != NULL, "%s", out);
	ck_assert_msg(strstr(out, a_b64) != NULL && strstr(out, b_b64) != NULL, "both keys must be named:\n%s", out);
	ck_assert_msg(strstr(out, known) != NULL, "the file must be named:\n%s", out);
	/* Refused before message 3: B never learnt who was calling. */
	ck_assert_int_eq(tids_test_hub_log_count(&b, "factory authenticated"), 0);
	/* libtids refuses the same way. */
	{
		struct tids_client_options o = { .address = b.addr, .identity = &me, .known_hubs = known,
						 .timeout_ms = 30000 };
		struct tids_client *cl = NULL;

		ck_assert_int_eq(tids_client_connect(&o, &cl, err, sizeof(err)), TIDS_EAUTH);
		ck_assert_ptr_nonnull(strstr(err, a_b64));
		ck_assert_ptr_nonnull(strstr(err, b_b64));
		/* Nor does it connect with neither a key nor a file. */
		o.known_hubs = NULL;
		ck_assert_int_eq(tids_client_connect(&o, &cl, err, sizeof(err)), TIDS_EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "cannot be authenticated"));
	}
	ck_assert_int_eq(tids_test_hub_log_count(&b, "factory authenticated"), 0);
	ck_assert_str_eq(slurp(known), before);
	/* --hub-key overrides the pin, and leaves the file alone. */
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s' --known-hubs '%s' --hub-key %s", b.addr, key,
					   known, b_b64), 0);
	ck_assert_msg(strstr(out, "you are factory") != NULL && strstr(out, "pinned") == NULL, "%s", out);
	ck_assert_str_eq(slurp(known), before);
	ck_assert_int_eq(tids_test_hub_stop(&b), 0);

	/* Hub C answers at the pinned address under another id. */
	ck_assert_int_eq(tids_test_hub_start_at(&c, NULL, a.addr, "kafka.topic_prefix = impostor2"), 0);
	register_at(&c, "factory", &me);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s' --known-hubs '%s'", c.addr, key, known), 1);
	ck_assert_msg(strstr(out, "HUB CHANGED") != NULL && strstr(out, a.hub_id) != NULL && strstr(out, c.hub_id) != NULL,
		      "%s", out);
	ck_assert_int_eq(tids_test_hub_log_count(&c, "factory authenticated"), 0);
	/* With --no-tofu, an unknown hub is refused too, and nothing pinned;
	 * the line the operator hands out (admin hub-key --address) pins it. */
	snprintf(strict, sizeof(strict), "%s/strict_hubs", c.dir);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s' --known-hubs '%s' --no-tofu", c.addr, key,
					   strict), 1);
	ck_assert_msg(strstr(out, "is not in") != NULL, "%s", out);
	ck_assert_int_eq(access(strict, F_OK), -1);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "admin --hub '%s' hub-key --address %s > '%s'", c.sock, c.addr, strict),
			 0);
	ck_assert_int_eq(tids_test_tidsctl(out, sizeof(out), "ping --hub %s --key '%s' --known-hubs '%s' --no-tofu", c.addr, key,
					   strict), 0);
	ck_assert_msg(strstr(out, "pinned") == NULL && strstr(out, "you are factory") != NULL, "%s", out);
	ck_assert_int_eq(tids_test_hub_log_count(&c, "factory authenticated"), 1);

	tids_identity_wipe(&me);
	tids_test_hub_destroy(&c);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pinning");
	TCase *tc = tcase_create("real tidsd, real Kafka");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, second_hub_on_a_pinned_address_is_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
