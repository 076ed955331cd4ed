/*
 * Any language can be a participant: a Python client (noiseprotocol, and
 * classes protoc generated from proto/) completes the handshake with the
 * real tidsd on the real broker, publishes a batch it built and signed
 * itself, and gets its PublishAck; a libtids subscriber then receives the
 * Python-made records. It also grants, as the owner, a Grant Python
 * serialized and signed over exactly its bytes: the hub takes it (it
 * verifies those bytes, not a re-encoding) and refuses the same grant
 * issued to another hub. tests/interop/setup.sh makes the Python side.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../lib/hub.h"
#include "../lib/testenv.h"
#include "tids/client.h"
#include "tids/crypto.h"

#define WAIT_MS 60000
#define PY_ID "factory.py"
#define N_RECORDS 5

static struct tids_test_hub hub;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Runs the Python client with key file key; returns its exit status and
 * its output (stdout and stderr) in out, which it also shows under what. */
static int run_python(const char *what, const char *key, char *out, size_t outlen)
{
	char python[600], cmd[4096], hub_b64[TIDS_KEY_BASE64_BYTES];
	size_t n = 0;
	FILE *p;
	int status;

	snprintf(python, sizeof(python), "%s/venv/bin/python", tids_test_build_dir());
	ck_assert_msg(access(python, X_OK) == 0,
		      "%s is missing: run 'O=%s tests/interop/setup.sh' (make check does)", python,
		      tids_test_build_dir());
	tids_key_to_base64(hub.hub_pk, hub_b64);
	snprintf(cmd, sizeof(cmd),
		 "'%s' '%s/tests/interop/tids_interop.py' --hub %s --hub-key %s --key '%s' --id %s "
		 "--pb-dir '%s/interop' --records %d --grant-to lessor.py 2>&1",
		 python, tids_test_source_dir(), hub.addr, hub_b64, key, PY_ID, tids_test_build_dir(), N_RECORDS);
	fflush(NULL);
	p = popen(cmd, "r");
	ck_assert(p != NULL);
	while (n < outlen - 1) {
		size_t got = fread(out + n, 1, outlen - 1 - n, p);

		if (got == 0)
			break;
		n += got;
	}
	out[n] = '\0';
	status = pclose(p);
	ck_assert_msg(status != -1 && WIFEXITED(status), "python did not exit normally");
	fprintf(stderr, "python client, %s:\n%s", what, out);
	return WEXITSTATUS(status);
}

START_TEST(test_python_publish)
{
	static const char *const purposes[] = { "maintenance" };
	struct tids_identity id, stranger, lessor;
	struct tids_client *sub, *c;
	struct tids_publish_ack ack;
	struct tids_bytes rec;
	char key[400], out[16384], err[256], who[160], *line;
	int printed = 0;

	ck_assert_msg(tids_test_hub_start(&hub, NULL) == 0, "tidsd did not start");
	for (int i = 0; i < WAIT_MS / 100 && tids_test_hub_log_count(&hub, "ingress partitions assigned") == 0; i++)
		sleep_ms(100);
	ck_assert_int_eq(tids_test_hub_participant(&hub, PY_ID, "factory", "CN-SH", NULL, &id), 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "lessor.py", "lessor", "CN-SH", NULL, &lessor), 0);
	/* The Python client gets the key as tidsctl keygen would store it. */
	snprintf(key, sizeof(key), "%s/py.key", hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &id, err, sizeof(err)), 0);

	/* The owner receives its own records: a C subscriber waits for them. */
	sub = tids_test_hub_connect(&hub, &id);
	ck_assert(sub != NULL);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 100, err, sizeof(err)), 0);
	ck_assert_msg(tids_client_ping(sub, who, sizeof(who), err, sizeof(err)) == 0, "ping: %s", err);

	ck_assert_int_eq(run_python("registered", key, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "ping: participant=" PY_ID " hub=") != NULL, "no ping in:\n%s", out);
	ck_assert_msg(strstr(out, "publish: sequence=1 accepted=5 errors=0\n") != NULL, "no ack in:\n%s", out);
	ck_assert_msg(strstr(out, "bad-signature: code=16 ") != NULL, "bad signature not refused:\n%s", out);
	ck_assert_msg(strstr(out, "grant: code=0 ") != NULL, "Python's grant refused:\n%s", out);
	ck_assert_msg(strstr(out, "grant-other-hub: code=7 message=grant g-py-elsewhere is issued to hub "
				  "hub.elsewhere") != NULL, "grant for another hub not refused:\n%s", out);
	ck_assert_msg(strstr(out, "\ninterop OK\n") != NULL, "not OK:\n%s", out);
	for (line = out; (line = strstr(line, "record_id: ")) != NULL; line++)
		printed++;
	ck_assert_int_eq(printed, N_RECORDS);

	/* What Python built, libtids reads: the same records, field by field. */
	for (int i = 0; i < N_RECORDS; i++) {
		struct tids_delivery d;
		const struct tids_field *f;
		char hex[2 * TIDS_RECORD_ID_BYTES + 1], needle[64];
		int r = tids_client_next_delivery(sub, &d, WAIT_MS, err, sizeof(err));

		ck_assert_msg(r == 1, "delivery %d: %d %s", i, r, r < 0 ? err : "timeout");
		sodium_bin2hex(hex, sizeof(hex), d.record.record_id, TIDS_RECORD_ID_BYTES);
		snprintf(needle, sizeof(needle), "record_id: %s\n", hex);
		ck_assert_msg(strstr(out, needle) != NULL, "delivered record %s was not published by Python", hex);
		ck_assert_str_eq(d.record.owner, PY_ID);
		ck_assert_str_eq(d.record.schema, "interop.python/1");
		ck_assert_int_eq(d.record.tier, TIDS_TIER_GENERAL);
		f = tids_record_field(&d.record, "line");
		ck_assert(f != NULL && f->value.kind == TIDS_VALUE_TEXT);
		ck_assert_str_eq((const char *)f->value.as.bytes.data, "python");
		f = tids_record_field(&d.record, "rpm");
		ck_assert(f != NULL && f->value.kind == TIDS_VALUE_REAL);
		ck_assert(f->value.as.d >= 1200.5 && f->value.as.d <= 1200.5 + N_RECORDS);
		ck_assert_int_eq(tids_client_ack(sub, d.delivery_seq, err, sizeof(err)), 0);
		tids_delivery_free(&d);
	}
	tids_client_free(sub);

	/* Python's batch spent sequence 1 and its refused one spent nothing:
	 * libtids goes on at 2. */
	c = tids_test_hub_connect(&hub, &id);
	ck_assert(c != NULL);
	{
		struct tids_field f = { .name = "n", .value = { .kind = TIDS_VALUE_UINT, .as.u = 1 } };
		struct tids_record r = { .owner = PY_ID, .asset_id = "", .category = "telemetry",
					 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .schema = "",
					 .produced_at_ms = 1700000000000, .fields = &f, .n_fields = 1 };
		uint8_t *buf;

		randombytes_buf(r.record_id, sizeof(r.record_id));
		ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &rec.len), 0);
		rec.data = buf;
	}
	ck_assert_msg(tids_client_publish(c, &id, PY_ID, 2, &rec, 1, &ack, err, sizeof(err)) == 0, "publish: %s",
		      err);
	ck_assert_msg(ack.accepted == 1 && ack.n_errors == 0, "record refused: %s",
		      ack.n_errors > 0 ? ack.errors[0].message : "?");
	tids_publish_ack_free(&ack);
	free((void *)rec.data);
	/* Python's grant is in the registry, as the owner's: it may revoke it. */
	ck_assert_msg(tids_client_revoke(c, "g-py", err, sizeof(err)) == 0, "revoke g-py: %s", err);
	tids_client_free(c);

	/* And the Python client fails when it should: an unregistered key is
	 * refused during the handshake, with the hub's reason. */
	ck_assert_int_eq(tids_identity_generate(&stranger), 0);
	snprintf(key, sizeof(key), "%s/stranger.key", hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &stranger, err, sizeof(err)), 0);
	ck_assert_int_eq(run_python("unregistered: must be refused", key, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "not registered") != NULL, "no reason in:\n%s", out);
	ck_assert_msg(strstr(out, "interop OK") == NULL, "%s", out);

	tids_identity_wipe(&stranger);
	tids_identity_wipe(&lessor);
	tids_identity_wipe(&id);
	tids_test_hub_destroy(&hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("interop");
	TCase *tc = tcase_create("python");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_python_publish);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
