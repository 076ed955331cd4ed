/*
 * Routing against a real Apache Kafka broker and a real tidsd: every acked
 * record reaches each permitted recipient exactly once across kill -9 and a
 * broker restart, audit entries match deliveries one to one, a revoked
 * grant's deliveries no longer decrypt, and forged, replayed, badly signed
 * or tierless input is refused with nothing written.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "clock.h"
#include "hub.h"
#include "policy.h"
#include "records.h"
#include "testenv.h"
#include "tids/error.h"
#include "topics.h"

struct world {
	struct tids_test_hub hub;
	struct tids_identity factory, lessor;
};

/* factory.sh1 leases press-7 from lessor.wh, who receives run hours for
 * billing (and maintenance when asked). */
static void world_start_conf(struct world *w, const char *conf, const char *lessor_purposes[], size_t n)
{
	struct tids_client *c;
	char err[256];

	ck_assert_int_eq(tids_test_hub_start(&w->hub, conf), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory.sh1", "factory", "CN-SH", NULL, &w->factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &w->lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w->hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	/* The lessor's purposes stand once it has subscribed. */
	c = tids_test_hub_connect(&w->hub, &w->lessor);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, lessor_purposes, n, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
	tids_client_free(c);
	/* The router needs its partitions before the story starts. */
	ck_assert_int_eq(tids_test_hub_await_log(&w->hub, "ingress partitions assigned", 1, 60000), 0);
}

static void world_start(struct world *w, const char *lessor_purposes[], size_t n)
{
	world_start_conf(w, "kafka.partitions = 3", lessor_purposes, n);
}

/* One serialized record of press-7 (see records.h). */
static struct tids_bytes make_record(uint32_t n, const char *owner, const char *category, enum tids_tier tier)
{
	const struct tids_field hours = { .name = "hours", .value = { .kind = TIDS_VALUE_REAL, .as.d = 0.25 } };
	const struct tids_test_record spec = { .n = n, .owner = owner, .asset = "press-7", .category = category,
					       .tier = tier, .extra = &hours, .n_extra = 1 };
	struct tids_bytes out;

	ck_assert_int_eq(tids_test_record_encode(&spec, &out), 0);
	return out;
}

static void free_records(struct tids_bytes *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)recs[i].data);
}

/*
 * Publishes one batch until it is acknowledged, as a careful client does:
 * when the connection breaks or the hub restarts, the same batch (same
 * sequence, same records) is published again.
 */
static void publish_until_acked(struct world *w, struct tids_client **c, uint64_t seq, struct tids_bytes *recs,
				size_t n, bool restart_dead_hub)
{
	char err[512];
	long accepted = tids_test_hub_publish_until_acked(&w->hub, c, &w->factory, "factory.sh1", seq, recs, n,
							  restart_dead_hub, err, sizeof(err));

	ck_assert_msg(accepted >= 0, "%s", err);
	ck_assert_int_eq(accepted, (long)n);
}

/* Collects deliveries of the lessor until `want` distinct n or idle. */
struct received {
	uint32_t *count;       /* per n */
	uint32_t max_n;
	size_t distinct;
	size_t duplicates;
	size_t total;
};

static void receive(struct world *w, struct received *rx, size_t want, const char *purposes[], size_t np)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->lessor);
	char err[512];
	uint64_t last = 0;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, np, 5000, err, sizeof(err)), 0);
	while (rx->distinct < want) {
		struct tids_delivery d;
		const struct tids_field *f;
		int r = tids_client_next_delivery(c, &d, 60000, err, sizeof(err));

		if (r == 0)
			break;
		ck_assert_msg(r == 1, "subscription broke: %s", err);
		f = tids_record_field(&d.record, "n");
		ck_assert_ptr_nonnull(f);
		ck_assert((uint64_t)f->value.as.i <= rx->max_n);
		if (rx->count[f->value.as.i]++ == 0)
			rx->distinct++;
		else
			rx->duplicates++;
		rx->total++;
		last = d.delivery_seq;
		tids_delivery_free(&d);
		if (rx->total % 1000 == 0)
			ck_assert_int_eq(tids_client_ack(c, last, err, sizeof(err)), 0);
	}
	if (last > 0)
		ck_assert_int_eq(tids_client_ack(c, last, err, sizeof(err)), 0);
	/* Anything more would be a duplicate: give it a moment to show. */
	for (;;) {
		struct tids_delivery d;

		if (tids_client_next_delivery(c, &d, 3000, err, sizeof(err)) != 1)
			break;
		rx->duplicates++;
		tids_delivery_free(&d);
	}
	tids_client_free(c);
}

/* Audit entries on the audit topic: count allow decisions for the lessor
 * per record id, and check each chain links up. */
struct audit_scan {
	uint8_t last_head[64][32];
	uint64_t last_seq[64];
	size_t entries, allows, checkpoints, broken;
	uint32_t *per_n;
	uint32_t max_n;
};

static void on_audit(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
		     const void *value, size_t len)
{
	struct audit_scan *a = ctx;
	struct tids_audit_log_record lr;
	struct tids_audit_entry e;
	crypto_generichash_state st;
	char err[256];

	(void)offset;
	(void)key;
	(void)key_len;
	ck_assert_int_lt(partition, 64);
	ck_assert_int_eq(tids_wire_decode_audit_log_record(value, len, &lr, err, sizeof(err)), 0);
	if (lr.is_checkpoint) {
		a->checkpoints++;
		if (memcmp(lr.checkpoint.head_hash, a->last_head[partition], 32) != 0 ||
		    lr.checkpoint.seq != a->last_seq[partition])
			a->broken++;
		tids_audit_log_record_free(&lr);
		return;
	}
	for (size_t i = 0; i < lr.n_entries; i++) {
		const struct tids_bytes *b = &lr.entries[i];

		ck_assert_int_eq(tids_wire_decode_audit_entry(b->data, b->len, &e, err, sizeof(err)), 0);
		if (e.seq != a->last_seq[partition] + 1 || memcmp(e.prev_hash, a->last_head[partition], 32) != 0)
			a->broken++;
		crypto_generichash_init(&st, NULL, 0, 32);
		crypto_generichash_update(&st, a->last_head[partition], 32);
		crypto_generichash_update(&st, b->data, b->len);
		crypto_generichash_final(&st, a->last_head[partition], 32);
		a->last_seq[partition] = e.seq;
		a->entries++;
		if (e.decision != TIDS_DECISION_DENY && strcmp(e.recipient, "lessor.wh") == 0) {
			uint32_t n;

			memcpy(&n, e.record_id, sizeof(n));
			a->allows++;
			if (a->per_n != NULL && n <= a->max_n)
				a->per_n[n]++;
		}
		tids_audit_entry_free(&e);
	}
	tids_audit_log_record_free(&lr);
}

static void audit_topic(const struct world *w, char *buf, size_t len)
{
	snprintf(buf, len, "tids.%s.audit", w->hub.hub_id);
}

struct killer {
	pid_t pid;
	int after_ms;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	sleep_ms(k->after_ms);
	kill(k->pid, SIGKILL);
	return NULL;
}

#define LOAD_RECORDS 100000
#define LOAD_BATCH 500

START_TEST(exactly_once_across_kill9)
{
	const char *purposes[] = { "billing" };
	struct world w;
	struct received rx = { 0 };
	struct audit_scan scan = { 0 };
	struct tids_client *c = NULL;
	char topic[256];
	int kills = 0;

	world_start(&w, purposes, 1);
	for (uint32_t b = 0; b < LOAD_RECORDS / LOAD_BATCH; b++) {
		struct tids_bytes recs[LOAD_BATCH];
		pthread_t t;
		struct killer k = { w.hub.pid, 2 + (int)(b % 7) };

		for (uint32_t i = 0; i < LOAD_BATCH; i++)
			recs[i] = make_record(b * LOAD_BATCH + i, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
		/* kill -9 while a batch is in flight, three times in the load. */
		if (b == 40 || b == 110 || b == 170) {
			ck_assert_int_eq(pthread_create(&t, NULL, kill_later, &k), 0);
			pthread_detach(t);
			kills++;
		}
		publish_until_acked(&w, &c, b + 1, recs, LOAD_BATCH, true);
		free_records(recs, LOAD_BATCH);
	}
	tids_client_free(c);
	ck_assert_int_eq(kills, 3);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "tidsd: info: ready"), 4);
	/* And once more while the router is still working through the backlog. */
	sleep_ms(500);
	tids_test_hub_kill(&w.hub);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);

	rx.max_n = LOAD_RECORDS;
	rx.count = calloc(LOAD_RECORDS + 1, sizeof(*rx.count));
	receive(&w, &rx, LOAD_RECORDS, purposes, 1);
	ck_assert_msg(rx.distinct == LOAD_RECORDS, "%zu of %d acked records delivered", rx.distinct, LOAD_RECORDS);
	ck_assert_msg(rx.duplicates == 0, "%zu duplicate deliveries", rx.duplicates);

	/* One audit entry per delivery, and the chains link. */
	scan.per_n = calloc(LOAD_RECORDS + 1, sizeof(*scan.per_n));
	scan.max_n = LOAD_RECORDS;
	audit_topic(&w, topic, sizeof(topic));
	ck_assert_int_gt(tids_test_topic_read(topic, on_audit, &scan), 0);
	ck_assert_uint_eq(scan.broken, 0);
	ck_assert_uint_eq(scan.allows, LOAD_RECORDS);
	for (uint32_t n = 0; n < LOAD_RECORDS; n++)
		ck_assert_msg(scan.per_n[n] == 1, "record %u has %u audit entries", n, scan.per_n[n]);
	ck_assert_uint_gt(scan.checkpoints, 0);
	free(rx.count);
	free(scan.per_n);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

START_TEST(broker_restart_during_load)
{
	const char *purposes[] = { "billing" };
	struct tids_bytes recs[3][100];
	struct world w;
	struct received rx = { 0 };
	struct tids_client *c = NULL, *admin;
	struct tids_publish_ack ack;
	char err[512], who[160];
	int r;

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to stop */
	world_start(&w, purposes, 1);
	for (uint32_t b = 0; b < 3; b++)
		for (uint32_t i = 0; i < 100; i++)
			recs[b][i] = make_record(b * 100 + i, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
	publish_until_acked(&w, &c, 1, recs[0], 100, false);

	ck_assert_int_eq(tids_test_broker("stop"), 0);
	/* While Kafka is away nothing is acknowledged... */
	{
		struct tids_client_options o = { .address = w.hub.addr, .identity = &w.factory,
						 .hub_key = w.hub.hub_pk, .timeout_ms = 4000 };
		struct tids_client *quick;

		ck_assert_int_eq(tids_client_connect(&o, &quick, err, sizeof(err)), 0);
		r = tids_client_publish(quick, &w.factory, "factory.sh1", 2, recs[1], 100, &ack, err, sizeof(err));
		ck_assert_msg(r != 0, "a batch was acknowledged while Kafka was stopped");
		tids_client_free(quick);
	}
	/* ...but the hub stays up and keeps serving. */
	sleep_ms(3000);
	ck_assert(tids_test_hub_alive(&w.hub));
	admin = tids_test_hub_admin(&w.hub);
	ck_assert_ptr_nonnull(admin);
	ck_assert_int_eq(tids_client_ping(admin, who, sizeof(who), err, sizeof(err)), 0);
	tids_client_free(admin);

	ck_assert_int_eq(tids_test_broker("start"), 0);
	publish_until_acked(&w, &c, 2, recs[1], 100, false);
	publish_until_acked(&w, &c, 3, recs[2], 100, false);
	tids_client_free(c);
	ck_assert(tids_test_hub_alive(&w.hub));

	rx.max_n = 300;
	rx.count = calloc(301, sizeof(*rx.count));
	receive(&w, &rx, 300, purposes, 1);
	ck_assert_msg(rx.distinct == 300, "%zu of 300 records delivered", rx.distinct);
	ck_assert_uint_eq(rx.duplicates, 0);
	for (uint32_t b = 0; b < 3; b++)
		free_records(recs[b], 100);
	free(rx.count);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* The wrapped key of a grant, from the registry database; 0 if present. */
static int grant_key_present(struct world *w, const char *grant_id)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	int present = 0;

	snprintf(path, sizeof(path), "%s/state/registry.db", w->hub.dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	/* Keyed "<bucket>/<grant id>" (see daemon/keys.c). */
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM kv WHERE ns = 'grant_key' AND substr(key, 5) = ?1",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, grant_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		present = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return present;
}

/* The reason code of the audit entry for record n to lessor.wh:
 * "kind:id:code", "" when it has none. */
struct near_scan {
	uint32_t n;
	bool found;
	char near[160];
};

static void on_audit_near(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
			  const void *value, size_t len)
{
	struct near_scan *s = ctx;
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
		if (n == s->n && strcmp(e.recipient, "lessor.wh") == 0) {
			s->found = true;
			s->near[0] = '\0';
			if (e.has_near_miss)
				snprintf(s->near, sizeof(s->near), "%s:%s:%s", e.near_miss.kind, e.near_miss.id,
					 tids_policy_miss_name((enum tids_policy_miss)e.near_miss.code));
		}
		tids_audit_entry_free(&e);
	}
	tids_audit_log_record_free(&lr);
}

static const char *audit_near(const struct world *w, uint32_t n, struct near_scan *s)
{
	char topic[256];

	audit_topic(w, topic, sizeof(topic));
	*s = (struct near_scan){ .n = n };
	for (int i = 0; i < 80 && !s->found; i++) {
		if (i > 0)
			sleep_ms(250);
		ck_assert_int_ge(tids_test_topic_read(topic, on_audit_near, s), 0);
	}
	ck_assert_msg(s->found, "no audit entry for record %u to lessor.wh", n);
	return s->near;
}

START_TEST(revoked_grant_no_longer_decrypts)
{
	const char *purposes[] = { "maintenance" };
	const char *cats[] = { "recipe" };
	struct tids_grant g = { 0 };
	struct tids_bytes r1, r2;
	struct world w;
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	char err[512];

	world_start(&w, purposes, 1);
	g.grant_id = "g-recipe";
	g.hub_id = w.hub.hub_id;
	g.owner = "factory.sh1";
	g.grantee = "lessor.wh";
	g.categories = (struct tids_strlist){ cats, 1 };
	g.purposes = (struct tids_strlist){ purposes, 1 };
	g.not_before_ms = now_ms() - 1000;
	g.not_after_ms = now_ms() + 30LL * 86400 * 1000;
	c = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_sign_grant(&w.factory, &g), 0);
	ck_assert_int_eq(tids_client_grant(c, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(grant_key_present(&w, "g-recipe"), 1);

	r1 = make_record(1, "factory.sh1", "recipe", TIDS_TIER_IMPORTANT);
	publish_until_acked(&w, &c, 1, &r1, 1, false);
	/* The lessor can read it under the grant (and does not ack it). */
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
	ck_assert_str_eq(d.grant_id, "g-recipe");
	ck_assert_str_eq(d.record.category, "recipe");
	ck_assert_int_eq(tids_record_field(&d.record, "n")->value.as.i, 1);
	tids_delivery_free(&d);
	tids_client_free(sub);

	ck_assert_int_eq(tids_client_revoke(c, "g-recipe", err, sizeof(err)), 0);
	ck_assert_int_eq(grant_key_present(&w, "g-recipe"), 0);
	/* Later records are denied; the earlier delivery no longer opens. */
	r2 = make_record(2, "factory.sh1", "recipe", TIDS_TIER_IMPORTANT);
	publish_until_acked(&w, &c, 2, &r2, 1, false);
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 8000, err, sizeof(err)), 0);
	tids_client_free(sub);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "key grant:g-recipe is destroyed"), 1);
	{
		/* the denial names the grant and that it was revoked */
		struct near_scan ns;

		ck_assert_str_eq(audit_near(&w, 2, &ns), "grant:g-recipe:revoked");
		ck_assert_str_eq(audit_near(&w, 1, &ns), "");
	}
	tids_client_free(c);
	free((void *)r1.data);
	free((void *)r2.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

START_TEST(bad_input_changes_nothing)
{
	const char *purposes[] = { "billing" };
	struct tids_bytes good, forged, tierless;
	struct tids_batch b = { 0 };
	struct tids_publish_ack ack;
	struct world w;
	struct received rx = { 0 };
	struct tids_client *c;
	char ingress[256], err[512];
	uint8_t *body, *resp;
	size_t len, rlen;
	int64_t before;

	world_start(&w, purposes, 1);
	snprintf(ingress, sizeof(ingress), "tids.%s.ingress", w.hub.hub_id);
	c = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(c);
	good = make_record(1, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
	publish_until_acked(&w, &c, 10, &good, 1, false);
	sleep_ms(500);
	before = tids_test_topic_end(ingress);
	ck_assert_int_eq(before, 1);

	/* A forged owner: refused with its reason, nothing written. */
	forged = make_record(2, "lessor.wh", "run_hours", TIDS_TIER_GENERAL);
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 11, &forged, 1, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, 0);
	ck_assert_uint_eq(ack.n_errors, 1);
	ck_assert_int_eq(ack.errors[0].code, 7);
	ck_assert_ptr_nonnull(strstr(ack.errors[0].message, "is not the publisher"));
	tids_publish_ack_free(&ack);

	/* A record without a tier. */
	tierless = make_record(3, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
	{
		struct tids_record r;

		ck_assert_int_eq(tids_wire_decode_record(tierless.data, tierless.len, &r, err, sizeof(err)), 0);
		r.tier = TIDS_TIER_UNSET;
		free((void *)tierless.data);
		ck_assert_int_eq(tids_wire_encode_record(&r, &body, &len), 0);
		tids_record_free(&r);
		tierless = (struct tids_bytes){ body, len };
	}
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 12, &tierless, 1, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.n_errors, 1);
	ck_assert_int_eq(ack.errors[0].code, 3);
	ck_assert_ptr_nonnull(strstr(ack.errors[0].message, "no tier"));
	tids_publish_ack_free(&ack);

	/* The acknowledged batch again: its ack again, nothing written. */
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 10, &good, 1, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, 1);
	tids_publish_ack_free(&ack);
	/* Its sequence with other records: a replay. */
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 10, &forged, 1, &ack, err, sizeof(err)),
			 TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "replay refused"));
	/* An older sequence: out of order. */
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 5, &good, 1, &ack, err, sizeof(err)),
			 TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "replayed or out of order"));

	/* A bad signature (another key signed it). */
	b.publisher = "factory.sh1";
	b.sequence = 20;
	b.records = &good;
	b.n_records = 1;
	ck_assert_int_eq(tids_merkle_root(&good, 1, b.merkle_root), 0);
	ck_assert_int_eq(tids_sign_batch(w.lessor.sign_sk, "factory.sh1", 20, b.merkle_root, b.signature), 0);
	ck_assert_int_eq(tids_wire_encode_batch(&b, &body, &len), 0);
	ck_assert_int_eq(tids_client_call(c, "tids.v1.Exchange/Publish", body, len, &resp, &rlen, err, sizeof(err)),
			 TIDS_EDENIED);
	ck_assert_int_eq(tids_client_status(c), 16);
	ck_assert_ptr_nonnull(strstr(err, "signature does not verify"));
	free(body);

	sleep_ms(1000);
	ck_assert_int_eq(tids_test_topic_end(ingress), before);
	/* And the lessor got the one good record, once. */
	rx.max_n = 10;
	rx.count = calloc(11, sizeof(*rx.count));
	receive(&w, &rx, 1, purposes, 1);
	ck_assert_uint_eq(rx.distinct, 1);
	ck_assert_uint_eq(rx.count[1], 1);
	ck_assert_uint_eq(rx.duplicates, 0);
	free(rx.count);
	tids_client_free(c);
	free((void *)good.data);
	free((void *)forged.data);
	free((void *)tierless.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* The default policy puts recipes at important or above: a recipe published
 * as general is refused at ingest with its reason, nothing of it written,
 * also after a reload. */
START_TEST(tier_floor_refuses_low_recipes)
{
	const char *purposes[] = { "billing" };
	struct tids_bytes recs[3];
	struct tids_publish_ack ack;
	struct world w;
	struct tids_client *c;
	char ingress[256], err[512];

	world_start(&w, purposes, 1);
	snprintf(ingress, sizeof(ingress), "tids.%s.ingress", w.hub.hub_id);
	recs[0] = make_record(0, "factory.sh1", "recipe", TIDS_TIER_GENERAL);
	recs[1] = make_record(1, "factory.sh1", "recipe", TIDS_TIER_IMPORTANT);
	recs[2] = make_record(2, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
	c = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 1, recs, 3, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, 2);
	ck_assert_uint_eq(ack.n_errors, 1);
	ck_assert_uint_eq(ack.errors[0].index, 0);
	ck_assert_int_eq(ack.errors[0].code, 3);
	ck_assert_str_eq(ack.errors[0].message, "record: category recipe needs tier important or higher (got general)");
	tids_publish_ack_free(&ack);
	sleep_ms(500);
	ck_assert_int_eq(tids_test_topic_end(ingress), 2);

	ck_assert_int_eq(tids_test_hub_signal(&w.hub, SIGHUP), 0);
	for (int i = 0; i < 50 && tids_test_hub_log_count(&w.hub, "reloaded") == 0; i++)
		sleep_ms(100);
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 2, recs, 1, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, 0);
	ck_assert_uint_eq(ack.n_errors, 1);
	tids_publish_ack_free(&ack);
	sleep_ms(500);
	ck_assert_int_eq(tids_test_topic_end(ingress), 2);
	tids_client_free(c);
	for (int i = 0; i < 3; i++)
		free((void *)recs[i].data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

START_TEST(core_delivery_notifies_regulator)
{
	const char *own[] = { "maintenance" }, *supervision[] = { "supervision" };
	struct tids_identity reg;
	struct tids_bytes core;
	struct world w;
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	char err[512];

	world_start(&w, own, 1);
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "reg.sh", "regulator", "CN-SH", NULL, &reg), 0);
	/* The owner receives its own core data; the regulator hears of it. */
	sub = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, own, 1, 10, err, sizeof(err)), 0);
	/* Calls are served in order: once this ping is answered, the
	 * subscription stands (it is written to the hub state first). */
	ck_assert_int_eq(tids_client_ping(sub, err, sizeof(err), err, sizeof(err)), 0);
	core = make_record(7, "factory.sh1", "telemetry", TIDS_TIER_CORE);
	publish_until_acked(&w, &c, 1, &core, 1, false);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
	ck_assert_int_eq(d.record.tier, TIDS_TIER_CORE);
	ck_assert_int_eq(tids_record_field(&d.record, "n")->value.as.i, 7);
	tids_delivery_free(&d);
	tids_client_free(sub);

	sub = tids_test_hub_connect(&w.hub, &reg);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, supervision, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 60000, err, sizeof(err)), 1);
	ck_assert_str_eq(d.notification_for, "factory.sh1");
	ck_assert_uint_eq(d.record.n_fields, 0);
	ck_assert_mem_eq(d.record.record_id, core.data + 2, 4);
	tids_delivery_free(&d);
	tids_client_free(sub);
	tids_client_free(c);
	free((void *)core.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/*
 * Aggregation windows survive kill -9: half of a window's records are
 * routed, tidsd is killed, the other half comes after the restart, and the
 * one aggregate delivered when the window closes counts each exactly once.
 * The test brings a policy with a 20 s window (windows go by record time).
 */
START_TEST(aggregate_window_survives_kill9)
{
	const char *purposes[] = { "billing" };
	char dir[128], path[256], extra[512], topic[256], err[512];
	struct tids_bytes recs[20];
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	struct world w;
	int64_t window, start;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/tids-aggpol.%ld", (long)getpid());
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/agg.tidspol", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "purposes role \"lessor\" may [\"billing\"];\n"
		   "permit lessor_output_sums\n"
		   "\twhen recipient.role == \"lessor\" && record.category == \"output_count\" && purpose == \"billing\"\n"
		   "\twith aggregate(sum, field \"count\", every 20s, by asset)\n"
		   "\tbecause \"test: sums per 20 s\";\n");
	fclose(f);
	snprintf(extra, sizeof(extra), "kafka.partitions = 3\npolicy.dir = %s", dir);
	/* world_start with this policy. */
	ck_assert_int_eq(tids_test_hub_start(&w.hub, extra), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "factory.sh1", "factory", "CN-SH", NULL, &w.factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "lessor.wh", "lessor", "CN-HB", NULL, &w.lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w.hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_ping(sub, err, sizeof(err), err, sizeof(err)), 0);
	tids_client_free(sub);
	for (int i = 0; i < 600 && tids_test_hub_log_count(&w.hub, "ingress partitions assigned") == 0; i++)
		sleep_ms(100);

	/* The next whole 20 s window, by record time. */
	window = 20000;
	start = (now_ms() / window + 1) * window;
	for (uint32_t i = 0; i < 20; i++) {
		struct tids_field fl[1] = { { 0 } };
		struct tids_record r = { 0 };
		uint8_t *buf;
		size_t len;

		randombytes_buf(r.record_id, sizeof(r.record_id));
		r.owner = "factory.sh1";
		r.asset_id = "press-7";
		r.category = "output_count";
		r.tier = TIDS_TIER_GENERAL;
		r.origin = "CN-SH";
		r.produced_at_ms = start + i * 100;
		fl[0].name = "count";
		fl[0].value.kind = TIDS_VALUE_INT;
		fl[0].value.as.i = (int64_t)i + 1;        /* 1 + 2 + ... + 20 = 210 */
		r.fields = fl;
		r.n_fields = 1;
		ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &len), 0);
		recs[i] = (struct tids_bytes){ buf, len };
	}
	publish_until_acked(&w, &c, 1, recs, 10, false);
	/* Wait until the router has taken them into the window (its state). */
	snprintf(topic, sizeof(topic), "tids.%s.state", w.hub.hub_id);
	for (int i = 0; i < 100; i++) {
		if (tids_test_topic_end(topic) >= 2)
			break;
		sleep_ms(100);
	}
	sleep_ms(1500);
	tids_client_free(c);
	c = NULL;
	tids_test_hub_kill(&w.hub);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	publish_until_acked(&w, &c, 2, recs + 10, 10, false);

	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 90000, err, sizeof(err)), 1);
	ck_assert_str_eq(d.obligations.aggregate.function, "sum");
	ck_assert_double_eq(tids_record_field(&d.record, "sum_count")->value.as.d, 210.0);
	ck_assert_uint_eq(tids_record_field(&d.record, "contributions")->value.as.u, 20);
	ck_assert_int_eq(tids_record_field(&d.record, "window_start_ms")->value.as.i, start);
	tids_delivery_free(&d);
	/* And only one. */
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 5000, err, sizeof(err)), 0);
	tids_client_free(sub);
	tids_client_free(c);
	for (int i = 0; i < 20; i++)
		free((void *)recs[i].data);
	unlink(path);
	rmdir(dir);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

static struct tids_bytes energy_record_field(const char *iso, const char *field, double kwh, bool text);

/* One energy record of kwh, produced at iso. */
static struct tids_bytes energy_record(const char *iso, double kwh)
{
	return energy_record_field(iso, "kwh", kwh, false);
}

/* ... with its one field named and typed as given. */
static struct tids_bytes energy_record_field(const char *iso, const char *field, double kwh, bool text)
{
	struct tids_field fl[1] = { { 0 } };
	struct tids_record r = { 0 };
	struct tids_bytes out;
	uint8_t *buf;
	size_t len;

	randombytes_buf(r.record_id, sizeof(r.record_id));
	r.owner = "factory.sh1";
	r.asset_id = "press-7";
	r.category = "energy";
	r.tier = TIDS_TIER_GENERAL;
	r.origin = "CN-SH";
	ck_assert_int_eq(tids_policy_parse_time(iso, strlen(iso), &r.produced_at_ms), 0);
	fl[0].name = field;
	fl[0].value.kind = text ? TIDS_VALUE_TEXT : TIDS_VALUE_REAL;
	if (text)
	{
		fl[0].value.as.bytes.data = (const uint8_t *)"12.5";
		fl[0].value.as.bytes.len = 4;
	}
	else
		fl[0].value.as.d = kwh;
	r.fields = fl;
	r.n_fields = 1;
	ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &len), 0);
	out = (struct tids_bytes){ buf, len };
	return out;
}

/*
 * Energy records carry the fields the default policy's schema of the
 * category says: one calling its energy "energy_kwh" (the regulator's
 * monthly sums of "kwh" would silently be 0), or giving kwh as text, is
 * refused at ingest with each field named; a fitting one goes in.
 */
START_TEST(schema_refuses_records_that_do_not_fit)
{
	const char *purposes[] = { "billing" };
	struct tids_bytes recs[3];
	struct tids_publish_ack ack;
	struct world w;
	struct tids_client *c;
	char ingress[256], err[512];

	world_start(&w, purposes, 1);
	snprintf(ingress, sizeof(ingress), "tids.%s.ingress", w.hub.hub_id);
	recs[0] = energy_record_field("2026-06-01T00:00:00Z", "energy_kwh", 12.5, false);
	recs[1] = energy_record_field("2026-06-01T00:00:00Z", "kwh", 12.5, true);
	recs[2] = energy_record("2026-06-01T00:00:00Z", 12.5);
	c = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 1, recs, 3, &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, 1);
	ck_assert_uint_eq(ack.n_errors, 2);
	ck_assert_uint_eq(ack.errors[0].index, 0);
	ck_assert_int_eq(ack.errors[0].code, 3);
	ck_assert_str_eq(ack.errors[0].message, "record does not fit the schema of category energy: field energy_kwh is "
			 "not one of it (did you mean kwh?); field kwh (real) is missing");
	ck_assert_uint_eq(ack.errors[1].index, 1);
	ck_assert_str_eq(ack.errors[1].message,
			 "record does not fit the schema of category energy: field kwh is text, not real");
	tids_publish_ack_free(&ack);
	sleep_ms(500);
	ck_assert_int_eq(tids_test_topic_end(ingress), 1);
	tids_client_free(c);
	for (int i = 0; i < 3; i++)
		free((void *)recs[i].data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/*
 * A hub in Shanghai (hub.timezone = Asia/Shanghai) sums energy per calendar
 * month of its own time zone: a record of 1 June 01:00 there (31 May 17:00
 * UTC) is June's, one of 31 May 23:00 there is May's; June has 30 days,
 * May 31. Ping says the zone, so that tidsctl reads dates as its days.
 */
START_TEST(monthly_windows_follow_the_hub_calendar)
{
	const char *purposes[] = { "statistics" };
	char dir[128], path[256], extra[700], err[512], who[TIDS_ID_MAX + 1], zones[600];
	struct tids_bytes recs[3];
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d[2];
	struct world w;
	int64_t may, june, july;
	FILE *f;

	/* the zone's data from the tests' own copy, not this machine's */
	snprintf(zones, sizeof(zones), "%s/tests/vectors/tz", tids_test_source_dir());
	setenv("TZDIR", zones, 1);
	snprintf(dir, sizeof(dir), "/tmp/tids-calpol.%ld", (long)getpid());
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/cal.tidspol", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "purposes role \"regulator\" may [\"statistics\"];\n"
		   "permit regulator_energy_statistics\n"
		   "\twhen recipient.role == \"regulator\" && record.category == \"energy\" && purpose == \"statistics\"\n"
		   "\twith aggregate(sum, field \"kwh\", every 1mo, by site)\n"
		   "\tbecause \"test: monthly sums\";\n");
	fclose(f);
	snprintf(extra, sizeof(extra), "policy.dir = %s\nhub.timezone = Asia/Shanghai", dir);
	ck_assert_int_eq(tids_test_hub_start(&w.hub, extra), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "factory.sh1", "factory", "CN-SH", NULL, &w.factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "reg.sh", "regulator", "CN-SH", NULL, &w.lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w.hub, "press-7", "factory.sh1", "", "sh-plant-2"), 0);
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_ping(sub, who, sizeof(who), err, sizeof(err)), 0);
	ck_assert_str_eq(tids_client_hub_timezone(sub), "Asia/Shanghai");
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	/* Answered once the purposes stand (they are written to the hub
	 * state first): the records below are routed to reg.sh. */
	ck_assert_int_eq(tids_client_ping(sub, who, sizeof(who), err, sizeof(err)), 0);
	tids_client_free(sub);
	for (int i = 0; i < 600 && tids_test_hub_log_count(&w.hub, "ingress partitions assigned") == 0; i++)
		sleep_ms(100);

	recs[0] = energy_record("2026-05-31T15:00:00Z", 1.5);   /* 31 May 23:00 in Shanghai */
	recs[1] = energy_record("2026-05-31T17:00:00Z", 2.0);   /* 1 June 01:00 */
	recs[2] = energy_record("2026-06-30T15:59:00Z", 4.0);   /* 30 June 23:59 */
	publish_until_acked(&w, &c, 1, recs, 3, false);
	ck_assert_int_eq(tids_policy_parse_time("2026-04-30T16:00:00Z", 20, &may), 0);
	ck_assert_int_eq(tids_policy_parse_time("2026-05-31T16:00:00Z", 20, &june), 0);
	ck_assert_int_eq(tids_policy_parse_time("2026-06-30T16:00:00Z", 20, &july), 0);

	/* both months closed long ago: their sums come at the next tick */
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_msg(tids_client_next_delivery(sub, &d[i], 90000, err, sizeof(err)) == 1, "%s", err);
	if (tids_record_field(&d[0].record, "window_start_ms")->value.as.i != may) {
		struct tids_delivery t = d[0];
		d[0] = d[1];
		d[1] = t;
	}
	ck_assert_int_eq(tids_record_field(&d[0].record, "window_start_ms")->value.as.i, may);
	ck_assert_int_eq(tids_record_field(&d[0].record, "window_ms")->value.as.i, june - may);
	ck_assert_int_eq(june - may, 31LL * 86400000);
	ck_assert_uint_eq(tids_record_field(&d[0].record, "contributions")->value.as.u, 1);
	ck_assert_double_eq(tids_record_field(&d[0].record, "sum_kwh")->value.as.d, 1.5);
	ck_assert_int_eq(tids_record_field(&d[1].record, "window_start_ms")->value.as.i, june);
	ck_assert_int_eq(tids_record_field(&d[1].record, "window_ms")->value.as.i, july - june);
	ck_assert_int_eq(july - june, 30LL * 86400000);
	ck_assert_uint_eq(tids_record_field(&d[1].record, "contributions")->value.as.u, 2);
	ck_assert_double_eq(tids_record_field(&d[1].record, "sum_kwh")->value.as.d, 6.0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(d[i].obligations.aggregate.window_months, 1);
		ck_assert_int_eq(d[i].obligations.aggregate.window_ms, 0);
		tids_delivery_free(&d[i]);
	}
	tids_client_free(sub);
	tids_client_free(c);
	for (int i = 0; i < 3; i++)
		free((void *)recs[i].data);
	unlink(path);
	rmdir(dir);
	tids_test_hub_destroy(&w.hub);
	unsetenv("TZDIR");
}
END_TEST

/* A grant of at most three uses allows three deliveries, also when the hub
 * restarts between them, and denies the fourth. */
START_TEST(grant_uses_exact_across_restart)
{
	const char *purposes[] = { "maintenance" };
	const char *cats[] = { "recipe" };
	struct tids_grant g = { 0 };
	struct tids_bytes r[5];
	struct received rx = { 0 };
	struct world w;
	struct tids_client *c = NULL;
	char err[512];

	world_start(&w, purposes, 1);
	g.grant_id = "g-3";
	g.hub_id = w.hub.hub_id;
	g.owner = "factory.sh1";
	g.grantee = "lessor.wh";
	g.categories = (struct tids_strlist){ cats, 1 };
	g.purposes = (struct tids_strlist){ purposes, 1 };
	g.not_before_ms = now_ms() - 1000;
	g.not_after_ms = now_ms() + 30LL * 86400 * 1000;
	g.max_uses = 3;
	c = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_sign_grant(&w.factory, &g), 0);
	ck_assert_int_eq(tids_client_grant(c, &g, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < 5; i++)
		r[i] = make_record(i, "factory.sh1", "recipe", TIDS_TIER_IMPORTANT);
	publish_until_acked(&w, &c, 1, &r[0], 1, false);
	publish_until_acked(&w, &c, 2, &r[1], 1, false);
	/* Let the router count them, then restart. */
	for (int i = 0; i < 100; i++) {
		char topic[256];

		if (tids_test_topic_end(tids_test_deliver_topic(topic, w.hub.hub_id, "lessor.wh")) >= 2)
			break;
		sleep_ms(100);
	}
	tids_client_free(c);
	c = NULL;
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	publish_until_acked(&w, &c, 3, &r[2], 1, false);
	publish_until_acked(&w, &c, 4, &r[3], 1, false);
	publish_until_acked(&w, &c, 5, &r[4], 1, false);
	rx.max_n = 5;
	rx.count = calloc(6, sizeof(*rx.count));
	receive(&w, &rx, 3, purposes, 1);
	ck_assert_uint_eq(rx.distinct, 3);
	ck_assert_uint_eq(rx.duplicates, 0);
	ck_assert(rx.count[0] == 1 && rx.count[1] == 1 && rx.count[2] == 1);
	ck_assert(rx.count[3] == 0 && rx.count[4] == 0);
	free(rx.count);
	for (int i = 0; i < 5; i++)
		free((void *)r[i].data);
	tids_client_free(c);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/*
 * kafka.* properties go to the clients that use them: producer-only and
 * consumer-only ones in tidsd.conf earn no "will be ignored" warning from
 * any of tidsd's clients (ingest's producer, the router's producer and
 * consumers, the indexer's and egress's consumers), and routing works.
 */
START_TEST(kafka_properties_by_client)
{
	const char *purposes[] = { "billing" };
	struct world w;
	struct received rx = { 0 };
	struct tids_client *c = NULL;
	struct tids_bytes recs[3];

	world_start_conf(&w, "kafka.partitions = 3\n"
			 "kafka.retry.backoff.ms = 10\n"           /* producers only */
			 "kafka.linger.ms = 2\n"
			 "kafka.fetch.wait.max.ms = 20\n"          /* consumers only */
			 "kafka.queued.max.messages.kbytes = 4096\n"
			 "kafka.socket.keepalive.enable = true",   /* every client */
			 purposes, 1);
	for (uint32_t i = 0; i < 3; i++)
		recs[i] = make_record(i, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
	publish_until_acked(&w, &c, 1, recs, 3, false);
	tids_client_free(c);
	rx.max_n = 3;
	rx.count = calloc(4, sizeof(*rx.count));
	receive(&w, &rx, 3, purposes, 1);
	ck_assert_uint_eq(rx.distinct, 3);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	ck_assert_int_gt(tids_test_hub_log_count(&w.hub, "indexer: stopped"), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "will be ignored"), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "kafka.retry.backoff.ms"), 0);
	free(rx.count);
	free_records(recs, 3);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* The router group's committed offsets on the ingress topic, summed
 * (-1 when they cannot be read). */
static int64_t group_committed(struct world *w, int partitions)
{
	char group[256], topic[256];

	snprintf(group, sizeof(group), "tids.%s.router", w->hub.hub_id);
	snprintf(topic, sizeof(topic), "tids.%s.ingress", w->hub.hub_id);
	return tids_test_group_committed(group, topic, partitions);
}

/* Sets the router group's committed offsets back to 0, once the group is
 * empty (its static member's session over): 0, or -1 after a minute. */
static int group_rewind(struct world *w, int partitions)
{
	char err[256], group[256], topic[256];
	int r = -1;

	snprintf(group, sizeof(group), "tids.%s.router", w->hub.hub_id);
	snprintf(topic, sizeof(topic), "tids.%s.ingress", w->hub.hub_id);
	for (int attempt = 0; attempt < 60 && r != 0; attempt++) {
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(partitions);
		rd_kafka_t *rk;

		rd_kafka_conf_set(conf, "bootstrap.servers", tids_test_kafka_bootstrap(), err, sizeof(err));
		rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
		rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
		rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
		ck_assert_ptr_nonnull(rk);
		for (int p = 0; p < partitions; p++)
			rd_kafka_topic_partition_list_add(tl, topic, p)->offset = 0;
		if (rd_kafka_commit(rk, tl, 0) == RD_KAFKA_RESP_ERR_NO_ERROR)
			r = 0;
		rd_kafka_topic_partition_list_destroy(tl);
		rd_kafka_destroy(rk);
		if (r != 0)
			sleep_ms(1000);
	}
	return r;
}

/*
 * Where routing resumes is kept in the state topic, in the transaction
 * that routes up to it, not in the consumer group's offsets (whose commit
 * cost two round trips per transaction): a restarted router resumes from
 * the state topic even when the group's offsets say to start over, and
 * the group's offsets still follow routing for those who watch its lag.
 */
START_TEST(resumes_where_the_state_topic_says)
{
	const char *purposes[] = { "billing" };
	struct tids_bytes recs[400];
	struct world w;
	struct received rx = { 0 };
	struct tids_client *c = NULL;
	int64_t committed = -1;

	world_start(&w, purposes, 1);
	for (uint32_t i = 0; i < 400; i++)
		recs[i] = make_record(i, "factory.sh1", "run_hours", TIDS_TIER_GENERAL);
	for (uint32_t b = 0; b < 3; b++)
		publish_until_acked(&w, &c, b + 1, recs + b * 100, 100, false);
	rx.max_n = 400;
	rx.count = calloc(401, sizeof(*rx.count));
	receive(&w, &rx, 300, purposes, 1);
	ck_assert_uint_eq(rx.distinct, 300);
	/* The group's offsets follow, a second or so behind. */
	for (int i = 0; i < 300 && committed < 300; i++) {
		committed = group_committed(&w, 3);
		if (committed < 300)
			sleep_ms(100);
	}
	ck_assert_int_eq(committed, 300);
	tids_client_free(c);
	c = NULL;
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	/* Someone rewinds the group: the state topic still rules. */
	ck_assert_int_eq(group_rewind(&w, 3), 0);
	ck_assert_int_eq(group_committed(&w, 3), 0);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	for (int i = 0; i < 600 && tids_test_hub_log_count(&w.hub, "ingress partitions assigned") < 2; i++)
		sleep_ms(100);
	publish_until_acked(&w, &c, 4, recs + 300, 100, false);
	receive(&w, &rx, 400, purposes, 1);
	ck_assert_uint_eq(rx.distinct, 400);
	ck_assert_uint_eq(rx.duplicates, 0);
	tids_client_free(c);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	/* Nothing was read twice: the restarted router routed the new batch
	 * only, and dropped no copies of the old ones. */
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "router: 100 records routed"), 1);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, " 0 copies of republished batches dropped"), 2);
	free(rx.count);
	free_records(recs, 400);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		/* One case each, so that CK_RUN_CASE can pick one. */
		{ "bad_input", bad_input_changes_nothing },
		{ "revoke", revoked_grant_no_longer_decrypts },
		{ "floor", tier_floor_refuses_low_recipes },
		{ "notify", core_delivery_notifies_regulator },
		{ "grant_uses", grant_uses_exact_across_restart },
		{ "aggregate", aggregate_window_survives_kill9 },
		{ "calendar", monthly_windows_follow_the_hub_calendar },
		{ "schema", schema_refuses_records_that_do_not_fit },
		{ "kill9", exactly_once_across_kill9 },
		{ "broker_restart", broker_restart_during_load },
		{ "kafka_properties", kafka_properties_by_client },
		{ "resume", resumes_where_the_state_topic_says },
	};
	Suite *s = suite_create("routing");
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
	return failed == 0 ? 0 : 1;
}
