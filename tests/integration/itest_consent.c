/*
 * Who may approve, and who may ask (issue 9, findings 1, 2, 13c and 14),
 * against a real tidsd on the real Kafka broker:
 *
 * - a factory that signs its own core_access approval is refused at
 *   registration, and gets no core record of another owner even when its
 *   approval sits in the registry anyway (the policies check the signer at
 *   every decision);
 * - an approval by a regulator of another jurisdiction is refused, one by
 *   the exporter's country's regulator accepted; approval ids are never
 *   reused; grants and approvals issued to another hub are refused;
 * - a revoked approval (tidsctl approve --revoke) stops later deliveries,
 *   also after a restart, and a suspended regulator's approvals stop too;
 * - a purpose the subscriber's role may not ask for is refused at
 *   Subscribe, naming it; a legal request needs an open case, and the case
 *   id is in the audit entry of every delivery it opens;
 * - a grant serialized by someone else (fields in another order, no
 *   obligations) and signed over its exact bytes is accepted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "clock.h"
#include "hub.h"
#include "policy.h"
#include "records.h"
#include "shell.h"
#include "testenv.h"
#include "tids/error.h"
#include "topics.h"

#define WAIT_MS 120000
#define CODE_PERMISSION_DENIED 7

struct world {
	struct tids_test_hub hub;
	struct tids_identity owner, attacker, lessor, reg_sh, reg_hb, reg_cn;
	uint64_t seq[2];            /* next batch sequence of owner, attacker */
};

/* factory.sh1 owns the data (press-7, leased from lessor.wh); factory.x is
 * another factory of the same region; three regulators: CN-SH, CN-HB, CN. */
static void world_start(struct world *w)
{
	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(tids_test_hub_start(&w->hub, "kafka.partitions = 2"), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory.sh1", "factory", "CN-SH", NULL, &w->owner), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory.x", "factory", "CN-SH", "security_agreement=true",
						   &w->attacker), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &w->lessor), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "reg.sh", "regulator", "CN-SH", NULL, &w->reg_sh), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "reg.hb", "regulator", "CN-HB", NULL, &w->reg_hb), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "reg.cn", "regulator", "CN", NULL, &w->reg_cn), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w->hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	w->seq[0] = w->seq[1] = 1;
	ck_assert_int_eq(tids_test_hub_await_log(&w->hub, "ingress partitions assigned", 1, WAIT_MS), 0);
}

static void world_free(struct world *w)
{
	tids_test_hub_destroy(&w->hub);
	tids_identity_wipe(&w->owner);
	tids_identity_wipe(&w->attacker);
	tids_identity_wipe(&w->lessor);
	tids_identity_wipe(&w->reg_sh);
	tids_identity_wipe(&w->reg_hb);
	tids_identity_wipe(&w->reg_cn);
}

/* A connection that knows the hub's id (from its Ping reply). */
static struct tids_client *connect_as(struct world *w, const struct tids_identity *id)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, id);
	char who[160], err[256];

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(tids_client_ping(c, who, sizeof(who), err, sizeof(err)) == 0, "ping: %s", err);
	ck_assert_str_eq(tids_client_hub_id(c), w->hub.hub_id);
	return c;
}

static const char *const telemetry[] = { "telemetry" };
static const char *const recipe[] = { "recipe" };
static const char *const maintenance[] = { "maintenance" };
static const char *const legal_request[] = { "legal_request" };
static const char *const supervision[] = { "supervision" };

static struct tids_approval approval(const char *id, const char *kind, const char *regulator, const char *exporter,
				     const char *recipient, const char *const *cats, const char *const *purposes,
				     enum tids_tier tier)
{
	struct tids_approval a;

	memset(&a, 0, sizeof(a));
	a.approval_id = id;
	a.kind = kind;
	a.regulator = regulator;
	a.exporter = exporter;
	a.recipient = recipient;
	a.categories = (struct tids_strlist){ cats, 1 };
	a.purposes = (struct tids_strlist){ purposes, 1 };
	a.tiers[0] = tier;
	a.n_tiers = 1;
	a.from_jurisdiction = "CN-SH";
	a.to_jurisdiction = "CN-SH";
	a.valid_from_ms = now_ms() - 60000;
	a.valid_until_ms = now_ms() + 30LL * 86400 * 1000;
	return a;
}

/* Signs a (for the connected hub unless a->hub_id is set) as signer and
 * sends it on signer's own connection. 0, or TIDS_EDENIED with the hub's
 * reason in err and its code in *code. */
static int approve(struct world *w, const struct tids_identity *signer, struct tids_approval *a, int *code,
		   char *err, size_t errlen)
{
	struct tids_client *c = connect_as(w, signer);
	const char *hub_id = a->hub_id;
	int r;

	/* libtids names the hub it is connected to unless told otherwise. */
	r = tids_client_issue_approval(c, signer, a, err, errlen);
	if (hub_id == NULL)
		ck_assert_str_eq(a->hub_id, w->hub.hub_id);
	if (code != NULL)
		*code = tids_client_status(c);
	a->hub_id = hub_id;
	tids_client_free(c);
	return r;
}

/* One record whose id starts with n (see records.h); the factory's are of
 * press-7, anyone else's of no asset. */
static struct tids_bytes make_record(uint32_t n, const char *owner, const char *category, enum tids_tier tier)
{
	const struct tids_test_record spec = { .n = n, .n_kind = TIDS_VALUE_UINT, .owner = owner,
					       .asset = strcmp(owner, "factory.sh1") == 0 ? "press-7" : NULL,
					       .category = category, .tier = tier };
	struct tids_bytes out;

	ck_assert_int_eq(tids_test_record_encode(&spec, &out), 0);
	return out;
}

/* Publishes record n as the owner (who = 0) or factory.x (who = 1). */
static void publish(struct world *w, int who, uint32_t n, const char *category, enum tids_tier tier)
{
	const struct tids_identity *id = who == 0 ? &w->owner : &w->attacker;
	const char *owner = who == 0 ? "factory.sh1" : "factory.x";
	struct tids_bytes rec = make_record(n, owner, category, tier);
	struct tids_publish_ack ack;
	char err[512] = "";

	for (int attempt = 0; attempt < 300; attempt++) {
		struct tids_client *c = tids_test_hub_connect(&w->hub, id);
		int r = c != NULL ? tids_client_publish(c, id, owner, w->seq[who], &rec, 1, &ack, err, sizeof(err)) : -1;

		tids_client_free(c);
		if (r == 0) {
			ck_assert_msg(ack.n_errors == 0, "record %u refused: %s", n, ack.errors[0].message);
			tids_publish_ack_free(&ack);
			w->seq[who]++;
			free((void *)rec.data);
			return;
		}
		sleep_ms(200);
	}
	ck_abort_msg("record %u never acknowledged: %s", n, err);
}

/* The audit entry of the decision about record n for recipient. */
struct finding {
	const char *recipient;
	uint32_t n;
	bool found;
	enum tids_decision decision;
	char case_id[TIDS_ID_MAX + 1];
	char approval_id[TIDS_ID_MAX + 1];
	/* a denial's reason code: kind:id:code, "" when none */
	char near[2 * TIDS_ID_MAX + 32];
};

static void on_audit(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
		     const void *value, size_t len)
{
	struct finding *f = ctx;
	struct tids_audit_log_record lr;
	char err[256];

	(void)partition;
	(void)offset;
	(void)key;
	(void)key_len;
	ck_assert_int_eq(tids_wire_decode_audit_log_record(value, len, &lr, err, sizeof(err)), 0);
	for (size_t i = 0; !lr.is_checkpoint && i < lr.n_entries; i++) {
		struct tids_audit_entry e;
		uint32_t n;

		ck_assert_int_eq(tids_wire_decode_audit_entry(lr.entries[i].data, lr.entries[i].len, &e, err,
							      sizeof(err)), 0);
		memcpy(&n, e.record_id, sizeof(n));
		/* The decision itself, not a notice about it. */
		if (n == f->n && strcmp(e.recipient, f->recipient) == 0 &&
		    strstr(e.reason, "notice of a delivery") == NULL) {
			f->found = true;
			f->decision = e.decision;
			snprintf(f->case_id, sizeof(f->case_id), "%s", e.case_id);
			snprintf(f->approval_id, sizeof(f->approval_id), "%s", e.approval_id);
			f->near[0] = '\0';
			if (e.has_near_miss)
				snprintf(f->near, sizeof(f->near), "%s:%s:%s", e.near_miss.kind, e.near_miss.id,
					 tids_policy_miss_name((enum tids_policy_miss)e.near_miss.code));
		}
		tids_audit_entry_free(&e);
	}
	tids_audit_log_record_free(&lr);
}

/* Waits until the router has decided record n for recipient. A delivery
 * leaves in the same transaction as its audit entry: once the entry can be
 * read, so could the delivery. */
static struct finding decided(struct world *w, const char *recipient, uint32_t n)
{
	struct finding f = { .recipient = recipient, .n = n };
	char topic[256];

	snprintf(topic, sizeof(topic), "tids.%s.audit", w->hub.hub_id);
	for (int i = 0; i < WAIT_MS / 250 && !f.found; i++) {
		if (i > 0)
			sleep_ms(250);
		ck_assert_int_ge(tids_test_topic_read(topic, on_audit, &f), 0);
	}
	ck_assert_msg(f.found, "no audit entry for record %u and %s", n, recipient);
	return f;
}

/* The deliveries subscriber has on its stream now, by record n (bit n). */
static uint32_t received(struct world *w, const struct tids_identity *id, const char *const *purposes)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, id);
	struct tids_delivery d;
	char err[512];
	uint32_t got = 0;
	uint64_t last = 0;
	char who[160];
	int r;

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(tids_client_subscribe(c, purposes, 1, 100, err, sizeof(err)) == 0, "subscribe: %s", err);
	/* A participant's first look is what makes its purposes stand, and
	 * the tests publish right after it: what the router routes before it
	 * has them goes to nobody, and decided() would wait in vain. Calls are
	 * answered in order, the Subscribe once its purposes are written and
	 * passed to the router (which takes them before its next batch): once
	 * the ping is answered, what is published next is routed by them.
	 * Three quiet seconds would only make that likely. */
	ck_assert_msg(tids_client_ping(c, who, sizeof(who), err, sizeof(err)) == 0, "ping: %s", err);
	while ((r = tids_client_next_delivery(c, &d, 3000, err, sizeof(err))) == 1) {
		const struct tids_field *f = tids_record_field(&d.record, "n");

		if (*d.notification_for == '\0' && f != NULL && f->value.as.u < 32)
			got |= UINT32_C(1) << f->value.as.u;
		last = d.delivery_seq;
		tids_delivery_free(&d);
	}
	ck_assert_msg(r == 0, "stream: %s", err);
	/* Acknowledged: the next look sees only what came after. */
	if (last > 0) {
		ck_assert_int_eq(tids_client_ack(c, last, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_client_ping(c, who, sizeof(who), err, sizeof(err)), 0);
	}
	tids_client_free(c);
	return got;
}

/* Subscribe on a fresh connection: 0, or the stream's refusal in err. */
static int subscribe(struct world *w, const struct tids_identity *id, const char *const *purposes, size_t n,
		     int *code, char *err, size_t errlen)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, id);
	struct tids_delivery d;
	char who[160];
	int r;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, n, 10, err, errlen), 0);
	/* Calls are answered in order: after the ping, a refusal has come. */
	ck_assert_int_eq(tids_client_ping(c, who, sizeof(who), err, errlen), 0);
	r = tids_client_next_delivery(c, &d, 1, err, errlen);
	if (r == 1)
		tids_delivery_free(&d);
	*code = tids_client_status(c);
	tids_client_free(c);
	return r < 0 ? r : 0;
}

/* The hub's registry, for what a test must put there behind its back. */
static void registry_put(struct world *w, int kind, const char *id, const uint8_t *blob, size_t len)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;

	snprintf(path, sizeof(path), "%s/state/registry.db", w->hub.dir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO entry(kind, id, blob) VALUES (?1, ?2, ?3)", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, blob, (int)len, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

#define STORE_APPROVAL 4            /* daemon/tidsd.h, enum store_kind */

/* Finding 1: a factory signs its own core_access approval. */
START_TEST(self_approval_gets_nothing)
{
	struct world w;
	struct tids_approval a;
	struct tids_client *admin;
	uint8_t *blob;
	size_t len;
	char err[512];
	int code;

	world_start(&w);
	/* factory.x asks for maintenance: a purpose its role may ask for. */
	ck_assert_int_eq(received(&w, &w.attacker, maintenance), 0);

	a = approval("self-core", "core_access", "factory.x", "factory.sh1", "factory.x", telemetry, maintenance,
		     TIDS_TIER_CORE);
	ck_assert_int_eq(approve(&w, &w.attacker, &a, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_int_eq(code, CODE_PERMISSION_DENIED);
	ck_assert_msg(strstr(err, "factory.x has role factory; only a participant with role regulator may approve"),
		      "%s", err);
	/* Nor through the hub's own admin socket: the signature says whose it is. */
	a.hub_id = w.hub.hub_id;
	ck_assert_int_eq(tids_client_sign_approval(&w.attacker, &a), 0);
	admin = tids_test_hub_admin(&w.hub);
	ck_assert_ptr_nonnull(admin);
	ck_assert_int_eq(tids_client_approve(admin, &a, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "only a participant with role regulator may approve"));
	tids_client_free(admin);

	/* Even if it were in the registry (put there before this check
	 * existed, or behind the hub's back), it does not count: the policies
	 * look at the signer at every decision. */
	ck_assert_int_eq(tids_wire_encode_signed_approval(&a, &blob, &len), 0);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	registry_put(&w, STORE_APPROVAL, "self-core", blob, len);
	free(blob);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "registry: 1 approvals loaded"), 1);

	publish(&w, 0, 1, "telemetry", TIDS_TIER_CORE);
	ck_assert_int_eq(decided(&w, "factory.x", 1).decision, TIDS_DECISION_DENY);
	ck_assert_uint_eq(received(&w, &w.attacker, maintenance), 0);
	world_free(&w);
}
END_TEST

static int run_tidsctl(struct world *w, const char *key, const char *args, char *out, size_t outlen)
{
	char hub_b64[TIDS_KEY_BASE64_BYTES];
	int status;

	tids_key_to_base64(w->hub.hub_pk, hub_b64);
	status = tids_test_tidsctl(out, outlen, "%s --hub %s --hub-key %s --key '%s'", args, w->hub.addr, hub_b64, key);
	fprintf(stderr, "tidsctl %s:\n%s", args, out);
	return status;
}

/* Only a regulator whose jurisdiction covers the exporter's; never an id
 * twice; never for another hub. */
START_TEST(approval_authority_and_immutability)
{
	static const char *const export_purposes[] = { "maintenance" };
	struct world w;
	struct tids_approval a;
	struct tids_client *c;
	char err[512];
	int code;

	world_start(&w);
	/* CN-HB has no authority over a CN-SH exporter. */
	a = approval("hb-1", "export", "reg.hb", "factory.sh1", "lessor.wh", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	ck_assert_int_eq(approve(&w, &w.reg_hb, &a, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_int_eq(code, CODE_PERMISSION_DENIED);
	ck_assert_msg(strstr(err, "regulator reg.hb (CN-HB) has no authority over exporter factory.sh1 (CN-SH)"),
		      "%s", err);
	/* The country's regulator covers its regions. */
	a = approval("cn-1", "export", "reg.cn", "factory.sh1", "lessor.wh", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	ck_assert_msg(approve(&w, &w.reg_cn, &a, NULL, err, sizeof(err)) == 0, "%s", err);
	/* An exporter the hub does not know cannot be covered. */
	a = approval("cn-2", "export", "reg.cn", "factory.nowhere", "lessor.wh", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	ck_assert_int_eq(approve(&w, &w.reg_cn, &a, NULL, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "exporter factory.nowhere is not registered"));

	/* Immutable: appr-1 is reg.sh's; nobody replaces it, reg.sh neither. */
	a = approval("appr-1", "export", "reg.sh", "factory.sh1", "lessor.wh", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	ck_assert_msg(approve(&w, &w.reg_sh, &a, NULL, err, sizeof(err)) == 0, "%s", err);
	a = approval("appr-1", "export", "reg.cn", "factory.sh1", "factory.x", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	ck_assert_int_eq(approve(&w, &w.reg_cn, &a, NULL, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_msg(strstr(err, "approval appr-1 exists; approvals are immutable"), "%s", err);
	a = approval("appr-1", "export", "reg.sh", "factory.sh1", "factory.x", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	ck_assert_int_eq(approve(&w, &w.reg_sh, &a, NULL, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "immutable"));

	/* Signed by reg.sh, sent by someone else: refused. */
	a = approval("appr-2", "export", "reg.sh", "factory.sh1", "lessor.wh", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	a.hub_id = w.hub.hub_id;
	ck_assert_int_eq(tids_client_sign_approval(&w.reg_sh, &a), 0);
	c = connect_as(&w, &w.lessor);
	ck_assert_int_eq(tids_client_approve(c, &a, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "signed by reg.sh, not by the caller lessor.wh"));
	tids_client_free(c);

	/* Issued to another hub (finding 13): refused, for approvals and
	 * grants alike, though the signature is good. */
	a = approval("appr-3", "export", "reg.sh", "factory.sh1", "lessor.wh", telemetry, export_purposes,
		     TIDS_TIER_IMPORTANT);
	a.hub_id = "hub.elsewhere";
	ck_assert_int_eq(approve(&w, &w.reg_sh, &a, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_int_eq(code, CODE_PERMISSION_DENIED);
	ck_assert_msg(strstr(err, "approval appr-3 is issued to hub hub.elsewhere; this hub is"), "%s", err);
	{
		struct tids_grant g = { 0 };

		g.grant_id = "g-elsewhere";
		g.owner = "factory.sh1";
		g.grantee = "lessor.wh";
		g.categories = (struct tids_strlist){ recipe, 1 };
		g.purposes = (struct tids_strlist){ maintenance, 1 };
		g.not_before_ms = now_ms() - 1000;
		g.not_after_ms = now_ms() + 86400000;
		g.hub_id = "hub.elsewhere";
		ck_assert_int_eq(tids_client_sign_grant(&w.owner, &g), 0);
		c = connect_as(&w, &w.owner);
		ck_assert_int_eq(tids_client_grant(c, &g, err, sizeof(err)), TIDS_EDENIED);
		ck_assert_msg(strstr(err, "grant g-elsewhere is issued to hub hub.elsewhere"), "%s", err);
		/* The same grant for this hub is fine. */
		g.hub_id = tids_client_hub_id(c);
		ck_assert_int_eq(tids_client_sign_grant(&w.owner, &g), 0);
		ck_assert_msg(tids_client_grant(c, &g, err, sizeof(err)) == 0, "%s", err);
		tids_client_free(c);
	}
	/* tidsctl grant names the hub it is connected to, or --hub-id's. */
	{
		char key[512], out[4096], want[256];

		snprintf(key, sizeof(key), "%s/factory.sh1.key", w.hub.dir);
		ck_assert_int_eq(tids_keyfile_write_identity(key, &w.owner, err, sizeof(err)), 0);
		ck_assert_int_eq(run_tidsctl(&w, key, "grant --id g-cli --to lessor.wh --category recipe "
					     "--purpose maintenance --until +1d", out, sizeof(out)), 0);
		snprintf(want, sizeof(want), "granted g-cli: factory.sh1 -> lessor.wh (hub %s)", w.hub.hub_id);
		ck_assert_ptr_nonnull(strstr(out, want));
		ck_assert_int_eq(run_tidsctl(&w, key, "grant --id g-cli2 --to lessor.wh --category recipe "
					     "--purpose maintenance --until +1d --hub-id hub.elsewhere", out, sizeof(out)), 1);
		ck_assert_ptr_nonnull(strstr(out, "grant g-cli2 is issued to hub hub.elsewhere"));
	}
	world_free(&w);
}
END_TEST

/* The signer withdraws an approval: records routed after it no longer
 * rest on it, also after a restart; a suspended regulator's approvals
 * stop counting too. */
START_TEST(revoked_approval_stops_deliveries)
{
	struct world w;
	struct tids_approval a;
	struct tids_client *c;
	char err[512], key[512], out[4096];

	world_start(&w);
	a = approval("core-1", "core_access", "reg.sh", "factory.sh1", "lessor.wh", telemetry, maintenance,
		     TIDS_TIER_CORE);
	ck_assert_msg(approve(&w, &w.reg_sh, &a, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(received(&w, &w.lessor, maintenance), 0);
	publish(&w, 0, 1, "telemetry", TIDS_TIER_CORE);
	{
		struct finding f = decided(&w, "lessor.wh", 1);

		ck_assert_int_ne(f.decision, TIDS_DECISION_DENY);
		ck_assert_str_eq(f.approval_id, "core-1");
	}
	ck_assert_uint_eq(received(&w, &w.lessor, maintenance), 1u << 1);

	/* Only its signer may withdraw it. */
	c = connect_as(&w, &w.lessor);
	ck_assert_int_eq(tids_client_revoke_approval(c, "core-1", err, sizeof(err)), TIDS_EDENIED);
	ck_assert_msg(strstr(err, "approval core-1 was signed by reg.sh; only its signer may revoke it"), "%s", err);
	ck_assert_int_eq(tids_client_revoke_approval(c, "core-9", err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "no approval core-9"));
	tids_client_free(c);
	/* tidsctl approve --revoke, as the regulator would. */
	snprintf(key, sizeof(key), "%s/reg.sh.key", w.hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &w.reg_sh, err, sizeof(err)), 0);
	ck_assert_int_eq(run_tidsctl(&w, key, "approve --revoke core-1", out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "revoked approval core-1"));
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "approval core-1 revoked by reg.sh"), 1);

	publish(&w, 0, 2, "telemetry", TIDS_TIER_CORE);
	{
		/* the denial names the approval and that it was revoked */
		struct finding f = decided(&w, "lessor.wh", 2);

		ck_assert_int_eq(f.decision, TIDS_DECISION_DENY);
		ck_assert_str_eq(f.near, "approval:core-1:revoked");
	}
	ck_assert_uint_eq(received(&w, &w.lessor, maintenance), 0);
	/* The revocation is stored: it holds after a restart, and the id
	 * stays spent. */
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	publish(&w, 0, 3, "telemetry", TIDS_TIER_CORE);
	{
		/* the router learnt it as revoked from the store */
		struct finding f = decided(&w, "lessor.wh", 3);

		ck_assert_int_eq(f.decision, TIDS_DECISION_DENY);
		ck_assert_str_eq(f.near, "approval:core-1:revoked");
	}
	ck_assert_uint_eq(received(&w, &w.lessor, maintenance), 0);
	a = approval("core-1", "core_access", "reg.sh", "factory.sh1", "lessor.wh", telemetry, maintenance,
		     TIDS_TIER_CORE);
	ck_assert_int_eq(approve(&w, &w.reg_sh, &a, NULL, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_msg(strstr(err, "approval core-1 exists (revoked)"), "%s", err);

	/* A regulator suspended later: its approvals stop counting at once. */
	a = approval("core-2", "core_access", "reg.cn", "factory.sh1", "lessor.wh", telemetry, maintenance,
		     TIDS_TIER_CORE);
	ck_assert_msg(approve(&w, &w.reg_cn, &a, NULL, err, sizeof(err)) == 0, "%s", err);
	publish(&w, 0, 4, "telemetry", TIDS_TIER_CORE);
	ck_assert_int_ne(decided(&w, "lessor.wh", 4).decision, TIDS_DECISION_DENY);
	c = tids_test_hub_admin(&w.hub);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_suspend(c, "reg.cn", 1, err, sizeof(err)), 0);
	tids_client_free(c);
	publish(&w, 0, 5, "telemetry", TIDS_TIER_CORE);
	{
		struct finding f = decided(&w, "lessor.wh", 5);

		ck_assert_int_eq(f.decision, TIDS_DECISION_DENY);
		ck_assert_str_eq(f.near, "approval:core-2:signer");
	}
	ck_assert_uint_eq(received(&w, &w.lessor, maintenance), 1u << 4);
	world_free(&w);
}
END_TEST

/* Finding 2: purposes are not self-asserted; a legal request needs a case. */
START_TEST(purposes_are_declared_and_cases_named)
{
	static const char *const billing_supervision[] = { "billing", "supervision" };
	struct world w;
	struct tids_identity narrowed, bad;
	char err[512], key[512], out[4096], args[1024];
	int code;

	world_start(&w);
	ck_assert_int_eq(subscribe(&w, &w.lessor, legal_request, 1, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_int_eq(code, CODE_PERMISSION_DENIED);
	ck_assert_msg(strstr(err, "purpose legal_request is not one a participant with role lessor may ask for "
				  "(it may ask for: asset_protection, billing, energy_management, maintenance, warranty)"),
		      "%s", err);
	ck_assert_int_eq(subscribe(&w, &w.lessor, billing_supervision, 2, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "purpose supervision is not one a participant with role lessor"));
	ck_assert_int_eq(subscribe(&w, &w.attacker, supervision, 1, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "role factory may ask for"));
	/* The hub narrows one participant. */
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "lessor.n", "lessor", "CN-HB", "purposes=maintenance",
						   &narrowed), 0);
	ck_assert_int_eq(subscribe(&w, &narrowed, (const char *const[]){ "billing" }, 1, &code, err, sizeof(err)),
			 TIDS_EDENIED);
	ck_assert_msg(strstr(err, "purpose billing is not among those the hub allows lessor.n (purposes=maintenance)"),
		      "%s", err);
	ck_assert_int_eq(subscribe(&w, &narrowed, maintenance, 1, &code, err, sizeof(err)), 0);
	{
		struct tids_attribute attr = { "purposes", "billing;maintenance" };
		struct tids_participant p = { .id = "lessor.b", .role = "lessor", .jurisdiction = "CN-HB",
					      .attributes = &attr, .n_attributes = 1 };
		struct tids_client *admin = tids_test_hub_admin(&w.hub);

		ck_assert_int_eq(tids_identity_generate(&bad), 0);
		memcpy(p.identity_key, bad.sign_pk, sizeof(p.identity_key));
		ck_assert_ptr_nonnull(admin);
		ck_assert_int_eq(tids_client_register_participant(admin, &p, err, sizeof(err)), TIDS_EDENIED);
		ck_assert_msg(strstr(err, "participant lessor.b: attribute purposes must list purpose names separated "
					  "by commas"), "%s", err);
		tids_client_free(admin);
		tids_identity_wipe(&bad);
	}

	/* A regulator may ask for a legal request only under an open case. */
	ck_assert_int_eq(subscribe(&w, &w.reg_sh, legal_request, 1, &code, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_msg(strstr(err, "purpose legal_request needs an open case: no valid approval of kind legal_request "
				  "with a case id names reg.sh"), "%s", err);
	snprintf(key, sizeof(key), "%s/reg.sh.key", w.hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &w.reg_sh, err, sizeof(err)), 0);
	snprintf(args, sizeof(args), "approve --id case-41 --kind legal_request --exporter factory.sh1 "
		 "--recipient reg.sh --category recipe --tier important --purpose legal_request "
		 "--from-jurisdiction CN-SH --to-jurisdiction CN-SH --until +30d");
	ck_assert_int_eq(run_tidsctl(&w, key, args, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "kind legal_request opens a case and needs a case id"));
	strcat(args, " --case CASE-2026-041");
	ck_assert_int_eq(run_tidsctl(&w, key, args, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "approved case-41: factory.sh1 -> reg.sh (legal_request, case CASE-2026-041"));
	ck_assert_int_eq(subscribe(&w, &w.reg_sh, legal_request, 1, &code, err, sizeof(err)), 0);

	/* The case opens factory.sh1's recipes, and names itself in their
	 * audit entries; another factory's recipes stay closed. */
	publish(&w, 0, 1, "recipe", TIDS_TIER_IMPORTANT);
	publish(&w, 1, 2, "recipe", TIDS_TIER_IMPORTANT);
	{
		struct finding f = decided(&w, "reg.sh", 1), g = decided(&w, "reg.sh", 2);

		ck_assert_int_ne(f.decision, TIDS_DECISION_DENY);
		ck_assert_str_eq(f.case_id, "CASE-2026-041");
		ck_assert_str_eq(f.approval_id, "case-41");
		ck_assert_int_eq(g.decision, TIDS_DECISION_DENY);
		ck_assert_str_eq(g.case_id, "");
	}
	ck_assert_uint_eq(received(&w, &w.reg_sh, legal_request), 1u << 1);
	tids_identity_wipe(&narrowed);
	world_free(&w);
}
END_TEST

/* protobuf field `field` (length-delimited) holding s. */
static size_t put_string(uint8_t *out, unsigned field, const char *s)
{
	size_t n = strlen(s);

	out[0] = (uint8_t)(field << 3 | 2);
	out[1] = (uint8_t)n;
	memcpy(out + 2, s, n);
	return n + 2;
}

static size_t put_varint_field(uint8_t *out, unsigned field, uint64_t v)
{
	size_t i = 0;

	out[i++] = (uint8_t)(field << 3);
	do {
		out[i++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return i;
}

/* Finding 14: a Grant serialized by another encoder (reverse field order,
 * no obligations) and signed over exactly those bytes is accepted; the
 * hub keeps the bytes it verified. */
START_TEST(foreign_encoding_grant_accepted)
{
	struct world w;
	struct tids_client *c;
	uint8_t grant[512], sig[TIDS_SIGNATURE_BYTES];
	size_t n = 0;
	char err[512];
	int64_t now = now_ms();

	world_start(&w);
	c = connect_as(&w, &w.owner);
	n += put_string(grant + n, 12, tids_client_hub_id(c));
	n += put_varint_field(grant + n, 8, (uint64_t)(now + 86400000));
	n += put_varint_field(grant + n, 7, (uint64_t)(now - 1000));
	n += put_string(grant + n, 6, "maintenance");
	n += put_string(grant + n, 5, "recipe");
	n += put_string(grant + n, 3, "lessor.wh");
	n += put_string(grant + n, 2, "factory.sh1");
	n += put_string(grant + n, 1, "g-foreign");
	ck_assert_int_eq(tids_sign_detached(w.owner.sign_sk, TIDS_DOMAIN_GRANT, grant, n, sig), 0);
	ck_assert_msg(tids_client_grant_signed(c, grant, n, sig, err, sizeof(err)) == 0, "%s", err);
	/* It is in force: the lessor receives a recipe under it. */
	ck_assert_int_eq(received(&w, &w.lessor, maintenance), 0);
	publish(&w, 0, 1, "recipe", TIDS_TIER_IMPORTANT);
	ck_assert_int_ne(decided(&w, "lessor.wh", 1).decision, TIDS_DECISION_DENY);
	ck_assert_uint_eq(received(&w, &w.lessor, maintenance), 1u << 1);
	/* One bit of the bytes changed and the signature no longer holds. */
	grant[n - 1] ^= 1;
	ck_assert_int_eq(tids_client_grant_signed(c, grant, n, sig, err, sizeof(err)), TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "signature does not verify"));
	tids_client_free(c);
	world_free(&w);
}
END_TEST

/*
 * An ODRL agreement, as a connector writes it, becomes a signed grant:
 * tidsctl grant --odrl signs it for the hub it is connected to and the
 * lessor receives recipes under it; an offer with a term tids cannot
 * enforce is refused, each term listed, and nothing is granted.
 */
START_TEST(odrl_agreement_becomes_a_grant)
{
	struct world w;
	char key[512], path[512], out[8192], err[512];

	world_start(&w);
	snprintf(key, sizeof(key), "%s/factory.sh1.key", w.hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &w.owner, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/offer.json", w.hub.dir);
	{
		FILE *f = fopen(path, "w");
		char until[48];

		/* a month from now (recipes go only under time-boxed grants) */
		tids_policy_format_time(now_ms() + 30LL * 86400000, until, sizeof(until));
		until[10] = '\0';
		ck_assert_ptr_nonnull(f);
		fprintf(f, "{\"@context\": [\"http://www.w3.org/ns/odrl.jsonld\", {\"tids\": \"https://w3id.org/tids/odrl/v1/\"}],\n"
			   " \"@type\": \"Agreement\", \"@id\": \"urn:tids:grant:g-odrl\",\n"
			   " \"permission\": [{\"target\": \"urn:tids:data:factory.sh1\", \"assigner\": "
			   "\"urn:tids:participant:factory.sh1\",\n"
			   "   \"assignee\": \"urn:tids:participant:lessor.wh\", \"action\": \"use\",\n"
			   "   \"constraint\": [{\"and\": [\n"
			   "     {\"leftOperand\": \"tids:category\", \"operator\": \"isAnyOf\", \"rightOperand\": [\"recipe\"]},\n"
			   "     {\"leftOperand\": \"purpose\", \"operator\": \"eq\", \"rightOperand\": \"maintenance\"},\n"
			   "     {\"leftOperand\": \"dateTime\", \"operator\": \"lteq\", \"rightOperand\": "
			   "{\"@value\": \"%s\", \"@type\": \"xsd:date\"}},\n"
			   "     {\"leftOperand\": \"count\", \"operator\": \"lteq\", \"rightOperand\": 5}]}],\n"
			   "   \"duty\": [{\"action\": \"inform\", \"informedParty\": \"urn:tids:participant:factory.sh1\"}]}],\n"
			   " \"prohibition\": [{\"action\": \"distribute\"}]}\n", until);
		ck_assert_int_eq(fclose(f), 0);
	}
	{
		char args[600], want[256];

		snprintf(args, sizeof(args), "grant --odrl '%s'", path);
		ck_assert_int_eq(run_tidsctl(&w, key, args, out, sizeof(out)), 0);
		snprintf(want, sizeof(want), "granted g-odrl: factory.sh1 -> lessor.wh (hub %s, from ODRL", w.hub.hub_id);
		ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	}
	/* in force, with its duties */
	ck_assert_int_eq(received(&w, &w.lessor, maintenance), 0);
	publish(&w, 0, 1, "recipe", TIDS_TIER_IMPORTANT);
	ck_assert_int_ne(decided(&w, "lessor.wh", 1).decision, TIDS_DECISION_DENY);
	{
		struct tids_client *c = tids_test_hub_connect(&w.hub, &w.lessor);
		struct tids_delivery d;

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(tids_client_subscribe(c, maintenance, 1, 10, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_client_next_delivery(c, &d, WAIT_MS, err, sizeof(err)), 1);
		ck_assert_str_eq(d.grant_id, "g-odrl");
		ck_assert(d.obligations.no_onward_transfer);
		ck_assert_uint_eq(d.obligations.notify.n, 1);
		ck_assert_str_eq(d.obligations.notify.items[0], "factory.sh1");
		tids_delivery_free(&d);
		tids_client_free(c);
	}
	/* an offer with terms tids cannot enforce: refused, nothing granted */
	{
		FILE *f = fopen(path, "w");
		char args[600];

		ck_assert_ptr_nonnull(f);
		fprintf(f, "{\"@type\": \"Offer\", \"@id\": \"urn:tids:grant:g-odrl-2\", \"permission\": [{\"action\": \"use\",\n"
			   " \"assignee\": \"lessor.wh\", \"constraint\": [{\"and\": [\n"
			   "   {\"leftOperand\": \"tids:category\", \"operator\": \"eq\", \"rightOperand\": \"recipe\"},\n"
			   "   {\"leftOperand\": \"purpose\", \"operator\": \"eq\", \"rightOperand\": \"maintenance\"},\n"
			   "   {\"leftOperand\": \"dateTime\", \"operator\": \"lteq\", \"rightOperand\": \"2099-12-31\"},\n"
			   "   {\"leftOperand\": \"spatial\", \"operator\": \"eq\", \"rightOperand\": \"DE\"}]}],\n"
			   " \"duty\": [{\"action\": \"compensate\"}]}]}\n");
		ck_assert_int_eq(fclose(f), 0);
		snprintf(args, sizeof(args), "grant --odrl '%s'", path);
		ck_assert_int_eq(run_tidsctl(&w, key, args, out, sizeof(out)), 1);
		ck_assert_msg(strstr(out, "refused, 2 terms of the policy tids cannot enforce or lacks") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "  - permission 1: constraint spatial eq DE: a grant does not say where") != NULL,
			      "%s", out);
		ck_assert_msg(strstr(out, "  - duty 1: duty compensate: tids cannot enforce it") != NULL, "%s", out);
	}
	{
		struct tids_client *c = connect_as(&w, &w.owner);

		/* g-odrl-2 does not exist: revoking it says so */
		ck_assert_int_ne(tids_client_revoke(c, "g-odrl-2", err, sizeof(err)), 0);
		tids_client_free(c);
	}
	world_free(&w);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		/* One case each, so that CK_RUN_CASE can pick one. */
		{ "self_approval", self_approval_gets_nothing },
		{ "authority", approval_authority_and_immutability },
		{ "revoke", revoked_approval_stops_deliveries },
		{ "purposes", purposes_are_declared_and_cases_named },
		{ "foreign_grant", foreign_encoding_grant_accepted },
		{ "odrl", odrl_agreement_becomes_a_grant },
	};
	Suite *s = suite_create("consent");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 900);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
