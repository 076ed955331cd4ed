/*
 * Any language can be a participant: the official Python client
 * (clients/python, package tids: noiseprotocol, protobuf, PyNaCl) completes
 * the handshake with the real tidsd on the real broker with the hub's key
 * pinned, publishes a batch it built and signed itself, and gets its
 * PublishAck; a libtids subscriber then receives the Python-made records.
 * It grants, as the owner, a Grant Python serialized and signed over
 * exactly its bytes: the hub takes it (it verifies those bytes, not a
 * re-encoding) and refuses the same grant issued to another hub; it
 * revokes. It subscribes, receives what libtids published and acks it: a
 * second subscription starts after the ack. As a regulator it approves and
 * revokes the approval. tests/interop/setup.sh installs the client.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "../lib/hub.h"
#include "../lib/shell.h"
#include "../lib/testenv.h"
#include "tids/client.h"
#include "tids/crypto.h"
#include "tids/error.h"

#define WAIT_MS 60000
#define PY_ID "factory.py"
#define N_RECORDS 5

static struct tids_test_hub hub;

/* Runs the Python client with key file key as participant who, and extra
 * arguments; returns its exit status and its output (stdout and stderr) in
 * out, which it also shows under what. */
static int run_python(const char *what, const char *key, const char *who, const char *extra, char *out,
		      size_t outlen)
{
	char python[600], hub_b64[TIDS_KEY_BASE64_BYTES];
	int status;

	snprintf(python, sizeof(python), "%s/venv/bin/python", tids_test_build_dir());
	ck_assert_msg(access(python, X_OK) == 0,
		      "%s is missing: run 'O=%s tests/interop/setup.sh' (make check does)", python,
		      tids_test_build_dir());
	tids_key_to_base64(hub.hub_pk, hub_b64);
	status = tids_test_shell(out, outlen,
				 "'%s' '%s/tests/interop/tids_interop.py' --hub %s --hub-key %s --key '%s' --id %s %s 2>&1",
				 python, tids_test_source_dir(), hub.addr, hub_b64, key, who, extra);
	ck_assert_msg(status >= 0 && status != 128, "python did not exit normally");
	fprintf(stderr, "python client, %s:\n%s", what, out);
	return status;
}

/* Publishes one record as id at sequence seq with libtids; its id in hex. */
static void c_publish(const struct tids_identity *id, uint64_t seq, char hex[2 * TIDS_RECORD_ID_BYTES + 1])
{
	struct tids_field f = { .name = "n", .value = { .kind = TIDS_VALUE_UINT, .as.u = seq } };
	struct tids_record r = { .owner = PY_ID, .asset_id = "", .category = "telemetry",
				 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .schema = "",
				 .produced_at_ms = 1700000000000, .fields = &f, .n_fields = 1 };
	struct tids_client *c = tids_test_hub_connect(&hub, id);
	struct tids_publish_ack ack;
	struct tids_bytes rec;
	char err[256];
	uint8_t *buf;

	ck_assert(c != NULL);
	randombytes_buf(r.record_id, sizeof(r.record_id));
	sodium_bin2hex(hex, 2 * TIDS_RECORD_ID_BYTES + 1, r.record_id, TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &rec.len), 0);
	rec.data = buf;
	ck_assert_msg(tids_client_publish(c, id, PY_ID, seq, &rec, 1, &ack, err, sizeof(err)) == 0, "publish: %s",
		      err);
	ck_assert_msg(ack.accepted == 1 && ack.n_errors == 0, "record refused: %s",
		      ack.n_errors > 0 ? ack.errors[0].message : "?");
	tids_publish_ack_free(&ack);
	free(buf);
	tids_client_free(c);
}

START_TEST(test_python_publish)
{
	static const char *const purposes[] = { "maintenance" };
	struct tids_identity id, stranger, lessor, regulator;
	struct tids_client *sub, *c;
	char key[400], rkey[400], out[16384], err[256], who[160], *line, first[40], second[40], needle[512];
	uint8_t stranger_pk[TIDS_PUBLIC_KEY_BYTES];
	int printed = 0;

	ck_assert_msg(tids_test_hub_start(&hub, NULL) == 0, "tidsd did not start");
	for (int i = 0; i < WAIT_MS / 100 && tids_test_hub_log_count(&hub, "ingress partitions assigned") == 0; i++)
		sleep_ms(100);
	ck_assert_int_eq(tids_test_hub_participant(&hub, PY_ID, "factory", "CN-SH", NULL, &id), 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "lessor.py", "lessor", "CN-SH", NULL, &lessor), 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "regulator.py", "regulator", "CN-SH", NULL, &regulator), 0);
	{
		struct tids_identity k;

		ck_assert_int_eq(tids_identity_generate(&k), 0);
		memcpy(stranger_pk, k.sign_pk, sizeof(stranger_pk));
		tids_identity_wipe(&k);
	}
	/* The Python client gets the key as tidsctl keygen would store it. */
	snprintf(key, sizeof(key), "%s/py.key", hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &id, err, sizeof(err)), 0);

	/* The owner receives its own records: a C subscriber waits for them. */
	sub = tids_test_hub_connect(&hub, &id);
	ck_assert(sub != NULL);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 100, err, sizeof(err)), 0);
	ck_assert_msg(tids_client_ping(sub, who, sizeof(who), err, sizeof(err)) == 0, "ping: %s", err);

	ck_assert_int_eq(run_python("registered", key, PY_ID, "--records 5 --grant-to lessor.py", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "ping: participant=" PY_ID " hub=") != NULL, "no ping in:\n%s", out);
	ck_assert_msg(strstr(out, "publish: sequence=1 accepted=5 errors=0\n") != NULL, "no ack in:\n%s", out);
	ck_assert_msg(strstr(out, "bad-signature: code=16 ") != NULL, "bad signature not refused:\n%s", out);
	ck_assert_msg(strstr(out, "grant: code=0 id=g-py\n") != NULL, "Python's grant refused:\n%s", out);
	ck_assert_msg(strstr(out, "grant-other-hub: code=7 message=grant g-py-elsewhere is issued to hub "
				  "hub.elsewhere") != NULL, "grant for another hub not refused:\n%s", out);
	ck_assert_msg(strstr(out, "revoke: id=g-py-2\n") != NULL, "Python's revoke failed:\n%s", out);
	ck_assert_msg(strstr(out, "revoke-again: code=5 ") != NULL, "a second revoke was not refused:\n%s", out);
	ck_assert_msg(strstr(out, "\ninterop OK\n") != NULL, "not OK:\n%s", out);
	for (line = out; (line = strstr(line, "record_id: ")) != NULL; line++)
		printed++;
	ck_assert_int_eq(printed, N_RECORDS);

	/* The operator sees what is registered: the grant Python signed (with
	 * its signature), not the revoked one; lists page; show finds every
	 * entry under an id. */
	{
		char args[4096], tout[16384];

		snprintf(args, sizeof(args), "admin --hub '%s' list grants --json", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		fprintf(stderr, "admin list grants:\n%s", tout);
		ck_assert_msg(strstr(tout, "{\"entry\":\"grant\",\"id\":\"g-py\",\"owner\":\"" PY_ID "\","
					   "\"grantee\":\"lessor.py\",\"assets\":[],\"categories\":[\"recipe\"],"
					   "\"purposes\":[\"maintenance\"],") != NULL, "%s", tout);
		ck_assert_msg(strstr(tout, "\"obligations\":{},\"signature\":\"") != NULL, "%s", tout);
		ck_assert_msg(strstr(tout, "g-py-2") == NULL, "a revoked grant is listed:\n%s", tout);
		snprintf(args, sizeof(args), "admin --hub '%s' list participants", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		fprintf(stderr, "admin list participants:\n%s", tout);
		ck_assert_msg(strstr(tout, "participant " PY_ID " role=factory jurisdiction=CN-SH suspended=no ") != NULL,
			      "%s", tout);
		ck_assert_msg(strstr(tout, "participant regulator.py role=regulator ") != NULL, "%s", tout);
		ck_assert_msg(strstr(tout, "3 participants\n") != NULL, "%s", tout);
		/* One entry a page: the CLI follows next_after to the end, --limit stops it. */
		snprintf(args, sizeof(args), "admin --hub '%s' list participants --json --limit 2", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		ck_assert_msg(strstr(tout, "\"id\":\"factory.py\"") != NULL && strstr(tout, "\"id\":\"lessor.py\"") != NULL &&
			      strstr(tout, "regulator.py") == NULL, "%s", tout);
		snprintf(args, sizeof(args), "admin --hub '%s' show " PY_ID " --json", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		fprintf(stderr, "admin show:\n%s", tout);
		ck_assert_msg(strstr(tout, "{\"entry\":\"participant\",\"id\":\"" PY_ID "\",\"role\":\"factory\"") != NULL,
			      "%s", tout);
		ck_assert_msg(strstr(tout, "{\"entry\":\"subscription\",\"id\":\"" PY_ID "\",\"purposes\":"
					   "[\"maintenance\"],\"acked\":") != NULL, "%s", tout);
		snprintf(args, sizeof(args), "admin --hub '%s' show nobody.here", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 1);
		ck_assert_msg(strstr(tout, "nothing registered under nobody.here") != NULL, "%s", tout);
		snprintf(args, sizeof(args), "admin --hub '%s' list keys", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 2);
		snprintf(args, sizeof(args), "admin --hub '%s' list grants --limit 0", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 2);

		/* A participant is no admin: the hub refuses it the registry. */
		{
			struct tids_client *pc = tids_test_hub_connect(&hub, &id);
			struct tids_list_reply rep;

			ck_assert(pc != NULL);
			ck_assert_int_eq(tids_client_list(pc, "participants", NULL, 0, &rep, err, sizeof(err)), TIDS_EDENIED);
			ck_assert_int_eq(tids_client_status(pc), 7);
			tids_client_free(pc);
		}
	}

	/* What Python built, libtids reads: the same records, field by field. */
	for (int i = 0; i < N_RECORDS; i++) {
		struct tids_delivery d;
		const struct tids_field *f;
		char hex[2 * TIDS_RECORD_ID_BYTES + 1];
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
		f = tids_record_field(&d.record, "count");
		ck_assert(f != NULL && f->value.kind == TIDS_VALUE_UINT);
		ck_assert_int_eq(tids_client_ack(sub, d.delivery_seq, err, sizeof(err)), 0);
		tids_delivery_free(&d);
	}
	/* The acks are the hub's before the stream goes (a Ping behind them). */
	ck_assert_msg(tids_client_ping(sub, who, sizeof(who), err, sizeof(err)) == 0, "ping: %s", err);
	tids_client_free(sub);

	/* Python's batch spent sequence 1 and its refused one spent nothing:
	 * libtids goes on at 2. Python's grant is in the registry, as the
	 * owner's: it may revoke it. */
	c_publish(&id, 2, first);
	c = tids_test_hub_connect(&hub, &id);
	ck_assert(c != NULL);
	ck_assert_msg(tids_client_revoke(c, "g-py", err, sizeof(err)) == 0, "revoke g-py: %s", err);
	tids_client_free(c);

	/* Python subscribes: it gets what libtids published (not the five
	 * libtids acked) and acks it; so its next subscription starts after. */
	ck_assert_int_eq(run_python("subscriber", key, PY_ID, "--subscribe 1", out, sizeof(out)), 0);
	snprintf(needle, sizeof(needle), " record_id=%s owner=" PY_ID " ", first);
	ck_assert_msg(strstr(out, needle) != NULL, "Python did not receive %s:\n%s", first, out);
	ck_assert_msg(strstr(out, "subscribe: received=1 ") != NULL, "%s", out);
	c_publish(&id, 3, second);
	ck_assert_int_eq(run_python("subscriber after its ack", key, PY_ID, "--subscribe 1", out, sizeof(out)), 0);
	snprintf(needle, sizeof(needle), " record_id=%s owner=" PY_ID " ", second);
	ck_assert_msg(strstr(out, needle) != NULL, "Python did not receive %s next:\n%s", second, out);
	snprintf(needle, sizeof(needle), " record_id=%s ", first);
	ck_assert_msg(strstr(out, needle) == NULL, "an acked delivery came again:\n%s", out);

	/* As a regulator: approve, a second approval under the id refused,
	 * revoke. */
	snprintf(rkey, sizeof(rkey), "%s/regulator.key", hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(rkey, &regulator, err, sizeof(err)), 0);
	ck_assert_int_eq(run_python("regulator", rkey, "regulator.py",
				    "--approve-exporter " PY_ID " --approve-recipient lessor.py", out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "approve: id=a-py\n") != NULL, "Python's approval refused:\n%s", out);
	ck_assert_msg(strstr(out, "approve-again: code=6 ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "revoke-approval: id=a-py\n") != NULL, "%s", out);
	ck_assert_int_eq(tids_test_hub_log_count(&hub, "approval a-py revoked by regulator.py"), 1);
	{
		char args[1024], tout[8192];

		char hub_b64[TIDS_KEY_BASE64_BYTES];

		tids_key_to_base64(hub.hub_pk, hub_b64);
		snprintf(args, sizeof(args), "approve --hub %s --hub-key %s --key '%s' --json --id a-json --kind export "
			 "--exporter " PY_ID " --recipient lessor.py --category quality --tier important --purpose export "
			 "--from-jurisdiction CN-SH --to-jurisdiction SG --until +1d", hub.addr, hub_b64, rkey);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		snprintf(needle, sizeof(needle), "{\"approval_id\":\"a-json\",\"kind\":\"export\",\"regulator\":"
			 "\"regulator.py\",\"exporter\":\"" PY_ID "\",\"recipient\":\"lessor.py\",\"case_id\":\"\","
			 "\"hub_id\":\"%s\"}\n", hub.hub_id);
		ck_assert_msg(strcmp(tout, needle) == 0, "%s", tout);
		snprintf(args, sizeof(args), "approve --hub %s --hub-key %s --key '%s' --json --revoke a-json", hub.addr,
			 hub_b64, rkey);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		ck_assert_str_eq(tout, "{\"approval_id\":\"a-json\",\"revoked\":true}\n");
		snprintf(args, sizeof(args), "admin --hub '%s' list approvals", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		ck_assert_msg(strstr(tout, "approval a-py kind=export regulator=regulator.py exporter=" PY_ID
					   " recipient=lessor.py CN-SH>SG categories=quality purposes=export ") != NULL &&
			      strstr(tout, " revoked=yes\n") != NULL, "%s", tout);
	}

	/* Every command that prints a result prints it as JSON with --json. */
	{
		char args[4096], tout[16384];
		char hub_b64[TIDS_KEY_BASE64_BYTES], conn[1200], rec[512], pub[TIDS_KEY_BASE64_BYTES];

		tids_key_to_base64(hub.hub_pk, hub_b64);
		snprintf(conn, sizeof(conn), "--hub %s --hub-key %s --key '%s' --json", hub.addr, hub_b64, key);
		snprintf(args, sizeof(args), "ping --hub '%s' --json", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		snprintf(needle, sizeof(needle), "{\"hub_id\":\"%s\",\"participant\":\"\"}\n", hub.hub_id);
		ck_assert_msg(strcmp(tout, needle) == 0, "%s", tout);
		snprintf(args, sizeof(args), "ping %s", conn);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		snprintf(needle, sizeof(needle), "{\"hub_id\":\"%s\",\"participant\":\"" PY_ID "\"}\n", hub.hub_id);
		ck_assert_msg(strcmp(tout, needle) == 0, "%s", tout);
		/* One record accepted, one refused (another owner): both counted. */
		snprintf(rec, sizeof(rec), "%s/recs.jsonl", hub.dir);
		{
			FILE *f = fopen(rec, "w");

			ck_assert(f != NULL);
			fprintf(f, "{\"owner\":\"" PY_ID "\",\"category\":\"telemetry\",\"tier\":\"general\","
				   "\"origin\":\"CN-SH\",\"fields\":[{\"name\":\"n\",\"value\":1}]}\n"
				   "{\"owner\":\"lessor.py\",\"category\":\"telemetry\",\"tier\":\"general\","
				   "\"origin\":\"CN-SH\",\"fields\":[{\"name\":\"n\",\"value\":2}]}\n");
			fclose(f);
		}
		snprintf(args, sizeof(args), "publish %s --seq 10 < '%s'", conn, rec);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 1);
		fprintf(stderr, "publish --json:\n%s", tout);
		ck_assert_msg(strstr(tout, "{\"errors\":[{\"line\":2,\"code\":7,\"message\":\"") != NULL &&
			      strstr(tout, "],\"accepted\":1,\"refused\":1}\n") != NULL, "%s", tout);
		snprintf(args, sizeof(args), "grant %s --id g-json --to lessor.py --category cycles --purpose "
			 "maintenance --until +1d", conn);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		snprintf(needle, sizeof(needle), "{\"grant_id\":\"g-json\",\"owner\":\"" PY_ID "\",\"grantee\":"
			 "\"lessor.py\",\"hub_id\":\"%s\"}\n", hub.hub_id);
		ck_assert_msg(strcmp(tout, needle) == 0, "%s", tout);
		snprintf(args, sizeof(args), "revoke %s g-json", conn);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		ck_assert_str_eq(tout, "{\"grant_id\":\"g-json\",\"revoked\":true}\n");
		tids_key_to_base64(stranger_pk, pub);
		snprintf(args, sizeof(args), "admin --hub '%s' --json register participant --id json.p --role factory "
			 "--jurisdiction CN-SH --key-pub %s", hub.sock, pub);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		ck_assert_str_eq(tout, "{\"registered\":\"participant\",\"id\":\"json.p\"}\n");
		snprintf(args, sizeof(args), "admin --hub '%s' --json suspend json.p", hub.sock);
		ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
		ck_assert_str_eq(tout, "{\"participant\":\"json.p\",\"suspended\":true}\n");
	}

	/* And the Python client fails when it should: an unregistered key is
	 * refused during the handshake, with the hub's reason. */
	ck_assert_int_eq(tids_identity_generate(&stranger), 0);
	snprintf(key, sizeof(key), "%s/stranger.key", hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &stranger, err, sizeof(err)), 0);
	ck_assert_int_eq(run_python("unregistered: must be refused", key, PY_ID, "", out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "not registered") != NULL, "no reason in:\n%s", out);
	ck_assert_msg(strstr(out, "interop OK") == NULL, "%s", out);

	tids_identity_wipe(&stranger);
	tids_identity_wipe(&lessor);
	tids_identity_wipe(&regulator);
	tids_identity_wipe(&id);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* Admin/List pages by size as well as by count: with small frames the CLI
 * follows next_after through many pages and shows every entry once, in
 * id order. */
START_TEST(test_admin_list_pages)
{
	struct tids_identity owner;
	char site[120], id[32], args[1024], needle[64];
	static char tout[1 << 17];
	const char *at;

	ck_assert_msg(tids_test_hub_start(&hub, "limits.frame_max = 2048\n") == 0, "tidsd did not start");
	ck_assert_int_eq(tids_test_hub_participant(&hub, "owner.pages", "factory", "CN-SH", NULL, &owner), 0);
	memset(site, 's', 100);
	site[100] = '\0';
	for (int i = 0; i < 30; i++) {
		snprintf(id, sizeof(id), "asset-%02d", i);
		ck_assert_int_eq(tids_test_hub_asset(&hub, id, "owner.pages", NULL, site), 0);
	}
	snprintf(args, sizeof(args), "admin --hub '%s' list assets --json", hub.sock);
	ck_assert_int_eq(tids_test_tidsctl(tout, sizeof(tout), "%s", args), 0);
	at = tout;
	for (int i = 0; i < 30; i++) {
		snprintf(needle, sizeof(needle), "{\"entry\":\"asset\",\"id\":\"asset-%02d\",", i);
		at = strstr(at, needle);
		if (at == NULL)
			fprintf(stderr, "admin list assets:\n%s", tout);
		ck_assert_msg(at != NULL, "asset-%02d missing or out of order (output above)", i);
	}
	ck_assert_msg(strstr(at + strlen(needle), "\"entry\"") == NULL, "more than 30 entries");
	tids_identity_wipe(&owner);
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
	tcase_add_test(tc, test_admin_list_pages);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
