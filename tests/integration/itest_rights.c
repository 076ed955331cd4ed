/*
 * Rights of open sessions against the real tidsd and the real Kafka broker
 * (issue 9, findings 5 and 12): a session loses at once, and is told why,
 * the rights its participant loses (key rotated, suspended, admin key
 * removed from admin.keys and SIGHUP sent, admin.group changed); and
 * admin.group admits a peer by any of its groups, supplementary included.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "../lib/hub.h"
#include "../lib/rawconn.h"
#include "../lib/testenv.h"
#include "tids/client.h"
#include "tids/crypto.h"
#include "tids/wire.h"

enum { CODE_OK = 0, CODE_PERMISSION_DENIED = 7, CODE_UNAUTHENTICATED = 16 };

#define WAIT_MS 15000

static struct tids_test_hub hub;

/* Registers id with the key of identity *k (made here if k->sign_pk is
 * all zero) through the admin socket. */
static void register_as(const char *id, const struct tids_identity *k)
{
	struct tids_participant p = { .id = id, .role = "factory", .jurisdiction = "CN-SH" };
	struct tids_client *a = tids_test_hub_admin(&hub);
	char err[256];

	ck_assert(a != NULL);
	memcpy(p.identity_key, k->sign_pk, 32);
	ck_assert_msg(tids_client_register_participant(a, &p, err, sizeof(err)) == 0, "register %s: %s", id, err);
	tids_client_free(a);
}

/* A RegisterAsset call: 0 or the client's error, with its message. */
static int register_asset(struct tids_client *c, const char *asset, char *err, size_t errlen)
{
	struct tids_asset a = { .asset_id = asset, .lessee = "factory.lessee", .lessor = "", .site = "" };

	return tids_client_register_asset(c, &a, err, errlen);
}

/* An open raw session sees, unasked, a RESPONSE on call 0 with code and a
 * message holding needle, and then the hub closes it. */
static void assert_ended(struct tids_test_raw *r, int code, const char *needle)
{
	struct tids_frame f;

	ck_assert_msg(tids_test_raw_read_frame(r, &f, WAIT_MS) == 1, "the session was not told why it ends");
	ck_assert_int_eq(f.kind, TIDS_FRAME_RESPONSE);
	ck_assert_uint_eq(f.call_id, 0);
	ck_assert_int_eq(f.status.code, code);
	ck_assert_msg(strstr(f.status.message, needle) != NULL, "reason: %s", f.status.message);
	tids_frame_free(&f);
	ck_assert_int_eq(tids_test_raw_wait_closed(r, WAIT_MS, NULL), 1);
	tids_test_raw_close(r);
}

static void raw_open(struct tids_test_raw *r, const struct tids_identity *id)
{
	ck_assert_int_eq(tids_test_raw_dial(r, hub.addr), 0);
	ck_assert_int_eq(tids_test_raw_handshake(r, id, hub.hub_pk, WAIT_MS), 0);
	ck_assert_msg(r->welcome_code == CODE_OK, "not welcomed: %d %s", r->welcome_code, r->welcome);
}

static char *admin_keys_line(const struct tids_identity *id, char *buf, size_t len)
{
	char b64[TIDS_KEY_BASE64_BYTES];

	tids_key_to_base64(id->sign_pk, b64);
	snprintf(buf, len, "admin.keys = %s", b64);
	return buf;
}

/* ---- participant key rotated --------------------------------------------- */

START_TEST(test_key_rotated)
{
	struct tids_identity k1, k2, lessee;
	struct tids_test_raw watcher, r;
	struct tids_client *c;
	char conf[256], err[512];

	ck_assert_int_eq(tids_identity_generate(&k1), 0);
	ck_assert_int_eq(tids_identity_generate(&k2), 0);
	/* ops.admin administers over TCP with k1. */
	ck_assert(tids_test_hub_start(&hub, admin_keys_line(&k1, conf, sizeof(conf))) == 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "factory.lessee", "factory", "CN-SH", NULL, &lessee), 0);
	register_as("ops.admin", &k1);
	c = tids_test_hub_connect(&hub, &k1);
	ck_assert(c != NULL);
	ck_assert_msg(register_asset(c, "asset.1", err, sizeof(err)) == 0, "RegisterAsset: %s", err);
	raw_open(&watcher, &k1);

	/* The key is rotated: re-registered with k2. */
	register_as("ops.admin", &k2);

	/* Sessions with the old key end at once, and say why. */
	assert_ended(&watcher, CODE_UNAUTHENTICATED, "ops.admin has another key");
	ck_assert_int_ne(register_asset(c, "asset.2", err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "ops.admin has another key") != NULL, "RegisterAsset: %s", err);
	tids_client_free(c);
	/* The old key is refused, the new one served (and not an admin). */
	ck_assert_int_eq(tids_test_raw_dial(&r, hub.addr), 0);
	ck_assert_int_eq(tids_test_raw_handshake(&r, &k1, hub.hub_pk, WAIT_MS), 0);
	ck_assert_int_eq(r.welcome_code, CODE_UNAUTHENTICATED);
	tids_test_raw_close(&r);
	c = tids_test_hub_connect(&hub, &k2);
	ck_assert(c != NULL);
	ck_assert_int_ne(register_asset(c, "asset.3", err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_status(c), CODE_PERMISSION_DENIED);
	tids_client_free(c);
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "ending: participant ops.admin has another key", 2, WAIT_MS), 0);

	tids_identity_wipe(&k1);
	tids_identity_wipe(&k2);
	tids_identity_wipe(&lessee);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* ---- participant suspended ----------------------------------------------- */

START_TEST(test_suspended)
{
	static const char *const purposes[] = { "maintenance" };
	struct tids_identity p, other;
	struct tids_test_raw watcher, bystander;
	struct tids_delivery dl;
	struct tids_client *sub, *a;
	char err[512];

	ck_assert(tids_test_hub_start(&hub, NULL) == 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "factory.susp", "factory", "CN-SH", NULL, &p), 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "factory.other", "factory", "CN-SH", NULL, &other), 0);
	raw_open(&watcher, &p);
	raw_open(&bystander, &other);
	/* A subscriber with an open stream. */
	sub = tids_test_hub_connect(&hub, &p);
	ck_assert(sub != NULL);
	ck_assert_msg(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)) == 0, "subscribe: %s", err);
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "egress: factory.susp subscribed", 1, WAIT_MS), 0);

	a = tids_test_hub_admin(&hub);
	ck_assert(a != NULL);
	ck_assert_msg(tids_client_suspend(a, "factory.susp", 1, err, sizeof(err)) == 0, "suspend: %s", err);
	tids_client_free(a);

	assert_ended(&watcher, CODE_PERMISSION_DENIED, "factory.susp is suspended");
	/* The stream's reader learns it in the stream. */
	ck_assert_int_lt(tids_client_next_delivery(sub, &dl, WAIT_MS, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "factory.susp is suspended") != NULL, "stream: %s", err);
	tids_client_free(sub);
	/* Nobody else is touched. */
	ck_assert_int_eq(tids_test_raw_ping(&bystander, 1, WAIT_MS), CODE_OK);
	tids_test_raw_close(&bystander);
	tids_identity_wipe(&p);
	tids_identity_wipe(&other);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* ---- admin key removed from admin.keys, SIGHUP --------------------------- */

/* The hub's config less its admin.keys line, plus add. */
static void rewrite_conf(const char *drop_prefix, const char *add)
{
	char orig[8192], *line, *save = NULL;
	size_t n;
	FILE *f = fopen(hub.conf, "r");

	ck_assert(f != NULL);
	n = fread(orig, 1, sizeof(orig) - 1, f);
	orig[n] = '\0';
	fclose(f);
	f = fopen(hub.conf, "w");
	ck_assert(f != NULL);
	for (line = strtok_r(orig, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, drop_prefix, strlen(drop_prefix)) != 0)
			fprintf(f, "%s\n", line);
	fprintf(f, "%s\n", add);
	ck_assert_int_eq(fclose(f), 0);
}

static void reload(int n)
{
	ck_assert_int_eq(tids_test_hub_signal(&hub, SIGHUP), 0);
	ck_assert_int_eq(tids_test_hub_await_log(&hub, "reloaded: ", n, WAIT_MS), 0);
}

START_TEST(test_admin_key_removed)
{
	struct tids_identity k, plain, lessee;
	struct tids_test_raw watcher, bystander;
	struct tids_client *c;
	char conf[256], err[512];

	ck_assert_int_eq(tids_identity_generate(&k), 0);
	ck_assert(tids_test_hub_start(&hub, admin_keys_line(&k, conf, sizeof(conf))) == 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "factory.lessee", "factory", "CN-SH", NULL, &lessee), 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "factory.plain", "factory", "CN-SH", NULL, &plain), 0);
	register_as("ops.admin", &k);
	c = tids_test_hub_connect(&hub, &k);
	ck_assert(c != NULL);
	ck_assert_msg(register_asset(c, "asset.1", err, sizeof(err)) == 0, "RegisterAsset: %s", err);
	raw_open(&watcher, &k);
	raw_open(&bystander, &plain);

	/* A reload that leaves admin.keys as it is changes nothing. */
	reload(1);
	ck_assert_int_eq(tids_test_raw_ping(&watcher, 1, WAIT_MS), CODE_OK);
	ck_assert_msg(register_asset(c, "asset.2", err, sizeof(err)) == 0, "RegisterAsset: %s", err);

	/* The key leaves admin.keys. */
	rewrite_conf("admin.keys", "admin.keys =");
	reload(2);
	assert_ended(&watcher, CODE_PERMISSION_DENIED, "admin rights of participant ops.admin withdrawn");
	ck_assert_int_ne(register_asset(c, "asset.3", err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "withdrawn") != NULL, "RegisterAsset: %s", err);
	tids_client_free(c);
	/* Still a participant, no longer an admin. */
	c = tids_test_hub_connect(&hub, &k);
	ck_assert(c != NULL);
	ck_assert_int_ne(register_asset(c, "asset.4", err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_status(c), CODE_PERMISSION_DENIED);
	tids_client_free(c);
	/* Sessions that never were admins go on. */
	ck_assert_int_eq(tids_test_raw_ping(&bystander, 2, WAIT_MS), CODE_OK);
	tids_test_raw_close(&bystander);

	/* Back in admin.keys: admin again, for sessions old and new. */
	rewrite_conf("admin.keys", admin_keys_line(&k, conf, sizeof(conf)));
	reload(3);
	c = tids_test_hub_connect(&hub, &k);
	ck_assert(c != NULL);
	ck_assert_msg(register_asset(c, "asset.5", err, sizeof(err)) == 0, "RegisterAsset: %s", err);
	tids_client_free(c);
	tids_identity_wipe(&k);
	tids_identity_wipe(&plain);
	tids_identity_wipe(&lessee);
	tids_test_hub_destroy(&hub);
}
END_TEST

/* ---- admin.group: supplementary groups ----------------------------------- */

#define PEER_UID 4242
#define ADMIN_GID 4343
#define OTHER_GID 4444
#define THIRD_GID 4545

enum { CHILD_OK = 0, CHILD_NO_CONNECT = 10, CHILD_REFUSED = 11, CHILD_SETUP = 12, CHILD_NOT_TOLD = 13 };

struct child {
	pid_t pid;
	int to_child[2], from_child[2];
	char err[512];
};

/* In a child running as uid PEER_UID with primary gid and the given
 * supplementary groups: connects to the admin socket and registers an
 * asset. With wait_go, it then tells the parent, waits for a byte, and
 * calls once more, which must fail saying admin.group. */
static void child_start(struct child *ch, gid_t gid, const gid_t *groups, size_t n, bool wait_go)
{
	ck_assert_int_eq(pipe(ch->to_child), 0);
	ck_assert_int_eq(pipe(ch->from_child), 0);
	fflush(NULL);
	ch->pid = fork();
	ck_assert(ch->pid >= 0);
	if (ch->pid == 0) {
		struct tids_client_options o = { .address = hub.sock, .timeout_ms = WAIT_MS };
		struct tids_client *c = NULL;
		char err[512] = "", go;
		int code = CHILD_OK;

		close(ch->to_child[1]);
		close(ch->from_child[0]);
		if (setgroups(n, groups) != 0 || setgid(gid) != 0 || setuid(PEER_UID) != 0) {
			snprintf(err, sizeof(err), "setgroups/setgid/setuid: %s", strerror(errno));
			code = CHILD_SETUP;
		} else if (tids_client_connect(&o, &c, err, sizeof(err)) != 0) {
			code = CHILD_NO_CONNECT;
		} else if (register_asset(c, "asset.child", err, sizeof(err)) != 0) {
			code = CHILD_REFUSED;
		} else if (wait_go) {
			if (write(ch->from_child[1], "r", 1) != 1 || read(ch->to_child[0], &go, 1) != 1)
				code = CHILD_SETUP;
			else if (register_asset(c, "asset.child2", err, sizeof(err)) == 0 || strstr(err, "admin.group") == NULL)
				code = CHILD_NOT_TOLD;
		}
		if (write(ch->from_child[1], err, strlen(err)) < 0)
			code = CHILD_SETUP;
		tids_client_free(c);
		_exit(code);
	}
	close(ch->to_child[0]);
	close(ch->from_child[1]);
}

static int child_end(struct child *ch)
{
	int status;
	ssize_t n;

	close(ch->to_child[1]);
	n = read(ch->from_child[0], ch->err, sizeof(ch->err) - 1);
	ch->err[n > 0 ? n : 0] = '\0';
	close(ch->from_child[0]);
	ck_assert_int_eq(waitpid(ch->pid, &status, 0), ch->pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* One connection as the given groups: the child's exit code. */
static int admin_as(gid_t gid, const gid_t *groups, size_t n, char *err, size_t errlen)
{
	struct child ch;
	int code;

	child_start(&ch, gid, groups, n, false);
	code = child_end(&ch);
	snprintf(err, errlen, "%s", ch.err);
	return code;
}

START_TEST(test_admin_group)
{
	const gid_t admin[] = { ADMIN_GID }, third[] = { THIRD_GID }, several[] = { THIRD_GID, ADMIN_GID };
	struct tids_identity lessee;
	struct child ch;
	struct stat st;
	char err[512], go = 'g';
	int code;

	if (geteuid() != 0) {
		fprintf(stderr, "test_admin_group: not root, cannot take other users' credentials: skipped\n");
		return;
	}
	ck_assert(tids_test_hub_start(&hub, "admin.group = 4343") == 0);
	ck_assert_int_eq(tids_test_hub_participant(&hub, "factory.lessee", "factory", "CN-SH", NULL, &lessee), 0);
	/* Others may reach the socket's directory; the socket itself decides. */
	ck_assert_int_eq(chmod(hub.dir, 0711), 0);

	/* The socket belongs to admin.group, so that its members can connect. */
	ck_assert_int_eq(stat(hub.sock, &st), 0);
	ck_assert_uint_eq(st.st_gid, ADMIN_GID);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);

	/* admin.group as a supplementary group, alone or among others. */
	code = admin_as(OTHER_GID, admin, 1, err, sizeof(err));
	ck_assert_msg(code == CHILD_OK, "supplementary admin.group: child %d: %s", code, err);
	code = admin_as(OTHER_GID, several, 2, err, sizeof(err));
	ck_assert_msg(code == CHILD_OK, "admin.group among others: child %d: %s", code, err);
	/* ... and as the primary group. */
	code = admin_as(ADMIN_GID, NULL, 0, err, sizeof(err));
	ck_assert_msg(code == CHILD_OK, "primary admin.group: child %d: %s", code, err);
	/* Not in it: the socket's mode keeps it out ... */
	code = admin_as(OTHER_GID, third, 1, err, sizeof(err));
	ck_assert_msg(code == CHILD_NO_CONNECT, "outsider: child %d: %s", code, err);
	/* ... and if the mode is loosened by mistake, its credentials do. */
	ck_assert_int_eq(chmod(hub.sock, 0666), 0);
	code = admin_as(OTHER_GID, third, 1, err, sizeof(err));
	ck_assert_msg(code == CHILD_REFUSED && strstr(err, "admin.group") != NULL, "outsider: child %d: %s", code, err);
	ck_assert_int_eq(chmod(hub.sock, 0660), 0);

	/* admin.group changes on reload: an open session of the old group's
	 * member ends, told why, and the socket follows the new group. */
	child_start(&ch, OTHER_GID, admin, 1, true);
	ck_assert_msg(read(ch.from_child[0], &go, 1) == 1, "the child did not get in");
	rewrite_conf("admin.group", "admin.group = 4545");
	reload(1);
	ck_assert_int_eq(write(ch.to_child[1], &go, 1), 1);
	code = child_end(&ch);
	ck_assert_msg(code == CHILD_OK, "after the reload: child %d: %s", code, ch.err);
	ck_assert_int_eq(stat(hub.sock, &st), 0);
	ck_assert_uint_eq(st.st_gid, THIRD_GID);
	code = admin_as(OTHER_GID, admin, 1, err, sizeof(err));
	ck_assert_msg(code == CHILD_NO_CONNECT, "old group after the reload: child %d: %s", code, err);
	code = admin_as(OTHER_GID, third, 1, err, sizeof(err));
	ck_assert_msg(code == CHILD_OK, "new group after the reload: child %d: %s", code, err);

	tids_identity_wipe(&lessee);
	tids_test_hub_destroy(&hub);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rights");
	TCase *tc = tcase_create("rights of open sessions");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return EXIT_FAILURE;
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_key_rotated);
	tcase_add_test(tc, test_suspended);
	tcase_add_test(tc, test_admin_key_removed);
	tcase_add_test(tc, test_admin_group);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
