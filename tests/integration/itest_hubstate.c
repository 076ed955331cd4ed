/*
 * The hub's state on Kafka, with two tidsd instances of one hub on the
 * test broker: a change made through either reaches the other (and takes
 * rights away from sessions there at once); two admins changing the same
 * thing at once get the topic's order and both changes are on the change
 * log; a grant id two participants race for goes to one; forged, moved
 * and replayed entries are refused by every instance; a view is resumed
 * after a restart and rebuilt when it is lost; an instance with keys that
 * are not the hub's does not start.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "clock.h"
#include "hub.h"
#include "testenv.h"
#include "tids/error.h"
#include "topics.h"

#define WAIT_MS 60000

/* Routing is not what these tests are about: neither instance routes. */
static void start_two(struct tids_test_hub *a, struct tids_test_hub *b)
{
	ck_assert_int_eq(tids_test_hub_start(a, "router.enabled = no"), 0);
	ck_assert_int_eq(tids_test_hub_join(b, a, "b", "router.enabled = no"), 0);
}

/* A participant session on h that answers a ping; NULL if h refuses id. */
static struct tids_client *try_connect(struct tids_test_hub *h, const struct tids_identity *id)
{
	struct tids_client_options o = { .address = h->addr, .identity = id, .hub_key = h->hub_pk,
					 .timeout_ms = 10000 };
	struct tids_client *c = NULL;
	char err[256], who[160];

	if (tids_client_connect(&o, &c, err, sizeof(err)) != 0)
		return NULL;
	if (tids_client_ping(c, who, sizeof(who), err, sizeof(err)) != 0) {
		tids_client_free(c);
		return NULL;
	}
	return c;
}

/* Waits until h accepts (want) or refuses (!want) id; returns the ms it took. */
static int64_t wait_accepts(struct tids_test_hub *h, const struct tids_identity *id, bool want)
{
	int64_t t0 = mono_ms();

	while (mono_ms() - t0 < WAIT_MS) {
		struct tids_client *c = try_connect(h, id);

		if (c != NULL)
			tids_client_free(c);
		if ((c != NULL) == want)
			return mono_ms() - t0;
		sleep_ms(20);
	}
	ck_abort_msg("instance %s did not %s the participant within %d ms", h->instance, want ? "accept" : "refuse",
		     WAIT_MS);
	return -1;
}

static int admin_suspend(struct tids_test_hub *h, const char *id, bool suspended, char *err, size_t errlen)
{
	struct tids_client *c = tids_test_hub_admin(h);
	int r;

	ck_assert_ptr_nonnull(c);
	r = tids_client_suspend(c, id, suspended, err, errlen);
	tids_client_free(c);
	return r;
}

static int register_with(struct tids_test_hub *h, const char *id, const struct tids_identity *key, const char *attr,
			 const char *value, char *err, size_t errlen)
{
	struct tids_attribute a = { .name = attr, .value = value };
	struct tids_participant p = { .id = id, .role = "factory", .jurisdiction = "CN-SH" };
	struct tids_client *c = tids_test_hub_admin(h);
	int r;

	ck_assert_ptr_nonnull(c);
	memcpy(p.identity_key, key->sign_pk, 32);
	if (attr != NULL) {
		p.attributes = &a;
		p.n_attributes = 1;
	}
	r = tids_client_register_participant(c, &p, err, errlen);
	tids_client_free(c);
	return r;
}

/* A participant's entry as an instance's view holds it (malloc'd), or NULL. */
static uint8_t *view_entry(const struct tids_test_hub *h, int kind, const char *id, size_t *len)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st;
	uint8_t *out = NULL;

	snprintf(path, sizeof(path), "%s/state/registry.db", h->dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT blob FROM entry WHERE kind = ?1 AND id = ?2", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		out = malloc(*len + 1);
		ck_assert_ptr_nonnull(out);
		memcpy(out, sqlite3_column_blob(st, 0), *len);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

#define STORE_PARTICIPANT 0         /* daemon/tidsd.h, enum store_kind */
#define STORE_SUBSCRIPTION 5

static void topic_of(const struct tids_test_hub *h, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "tids.%s.%s", h->hub_id, suffix);
}

/* --- a change through one instance reaches the other ------------------------- */

START_TEST(change_reaches_every_instance)
{
	struct tids_test_hub a, b;
	struct tids_identity fx;
	struct tids_client *on_a;
	char err[512], who[160];
	int64_t ms;

	start_two(&a, &b);
	ck_assert_int_eq(tids_test_hub_participant(&a, "factory.x", "factory", "CN-SH", NULL, &fx), 0);
	/* Registered through a, it may connect to b. */
	ms = wait_accepts(&b, &fx, true);
	printf("  a registration on instance a was usable on instance b after %lld ms\n", (long long)ms);
	/* Suspended through b, its open session on a ends at once. */
	on_a = try_connect(&a, &fx);
	ck_assert_ptr_nonnull(on_a);
	ck_assert_int_eq(admin_suspend(&b, "factory.x", true, err, sizeof(err)), 0);
	{
		int64_t t0 = mono_ms();
		int r = 0;

		while (mono_ms() - t0 < WAIT_MS && (r = tids_client_ping(on_a, who, sizeof(who), err, sizeof(err))) == 0)
			sleep_ms(20);
		ck_assert_msg(r != 0, "the session on a outlived the suspension made on b");
		ck_assert_msg(strstr(err, "suspended") != NULL, "%s", err);
	}
	tids_client_free(on_a);
	ck_assert_int_ge(tids_test_hub_log_count(&a, "is suspended at hub"), 1);
	wait_accepts(&a, &fx, false);
	wait_accepts(&b, &fx, false);
	/* Reinstated through a: both take it back. */
	ck_assert_int_eq(admin_suspend(&a, "factory.x", false, err, sizeof(err)), 0);
	wait_accepts(&b, &fx, true);
	tids_identity_wipe(&fx);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

/* --- two admins at once -------------------------------------------------------- */

#define RACE_ROUNDS 15

struct racer {
	struct tids_test_hub *h;
	const struct tids_identity *key;
	int ok;
	char err[512];
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		char value[64];

		snprintf(value, sizeof(value), "%.16s-%d", r->h->instance, i);
		if (register_with(r->h, "contested", r->key, "round", value, r->err, sizeof(r->err)) == 0)
			r->ok++;
	}
	return NULL;
}

struct change_scan {
	int on_a, on_b;
	uint8_t *last;
	size_t last_len;
};

static void on_change(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
		      const void *value, size_t len)
{
	struct change_scan *cs = ctx;

	(void)partition;
	(void)offset;
	if (key_len != strlen("participant/contested") || memcmp(key, "participant/contested", key_len) != 0)
		return;
	/* The entry names the instance it was made through. */
	if (memmem(value, len, "on a", 4) != NULL)
		cs->on_a++;
	if (memmem(value, len, "on b", 4) != NULL)
		cs->on_b++;
	free(cs->last);
	cs->last = malloc(len);
	ck_assert_ptr_nonnull(cs->last);
	memcpy(cs->last, value, len);
	cs->last_len = len;
}

START_TEST(concurrent_admins_get_the_topic_order)
{
	struct tids_test_hub a, b;
	struct tids_identity key;
	struct racer ra, rb;
	struct change_scan cs = { 0 };
	pthread_t ta, tb;
	uint8_t *va = NULL, *vb = NULL;
	size_t la = 0, lb = 0;
	char topic[256];

	start_two(&a, &b);
	ck_assert_int_eq(tids_identity_generate(&key), 0);
	ra = (struct racer){ .h = &a, .key = &key };
	rb = (struct racer){ .h = &b, .key = &key };
	ck_assert_int_eq(pthread_create(&ta, NULL, race, &ra), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, race, &rb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_msg(ra.ok == RACE_ROUNDS, "%d of %d changes through a made: %s", ra.ok, RACE_ROUNDS, ra.err);
	ck_assert_msg(rb.ok == RACE_ROUNDS, "%d of %d changes through b made: %s", rb.ok, RACE_ROUNDS, rb.err);
	/* Both views end with the same entry: the last on the topic. */
	for (int64_t t0 = mono_ms(); mono_ms() - t0 < WAIT_MS; sleep_ms(100)) {
		free(va);
		free(vb);
		va = view_entry(&a, STORE_PARTICIPANT, "contested", &la);
		vb = view_entry(&b, STORE_PARTICIPANT, "contested", &lb);
		if (va != NULL && vb != NULL && la == lb && memcmp(va, vb, la) == 0)
			break;
	}
	ck_assert_msg(va != NULL && vb != NULL && la == lb && memcmp(va, vb, la) == 0,
		      "the two instances' views disagree on the contested participant");
	/* Every change of both admins is on the change log, in one order,
	 * and the last one is what both views hold. */
	topic_of(&a, "changes", topic, sizeof(topic));
	ck_assert_int_gt(tids_test_topic_read(topic, on_change, &cs), 0);
	ck_assert_int_eq(cs.on_a, RACE_ROUNDS);
	ck_assert_int_eq(cs.on_b, RACE_ROUNDS);
	ck_assert_ptr_nonnull(cs.last);
	ck_assert_msg(memmem(cs.last, cs.last_len, va, la) != NULL,
		      "the last change on the log is not what the views hold");
	free(cs.last);
	free(va);
	free(vb);
	tids_identity_wipe(&key);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

struct granter {
	struct tids_test_hub *h;
	const struct tids_identity *owner;
	const char *purpose;
	int r;
	char err[512];
};

static void *grant_once(void *arg)
{
	struct granter *g = arg;
	const char *cats[] = { "telemetry" };
	const char *purposes[] = { g->purpose };
	struct tids_grant gr = { 0 };
	struct tids_client *c = tids_test_hub_connect(g->h, g->owner);

	if (c == NULL) {
		g->r = -1;
		snprintf(g->err, sizeof(g->err), "no session on %s", g->h->instance);
		return NULL;
	}
	gr.grant_id = "g-race";
	gr.hub_id = g->h->hub_id;
	gr.owner = "factory.o";
	gr.grantee = "lessor.l";
	gr.categories = (struct tids_strlist){ cats, 1 };
	gr.purposes = (struct tids_strlist){ purposes, 1 };
	gr.not_before_ms = now_ms() - 1000;
	gr.not_after_ms = now_ms() + 86400000LL;
	if (tids_client_sign_grant(g->owner, &gr) != 0)
		g->r = -1;
	else
		g->r = tids_client_grant(c, &gr, g->err, sizeof(g->err));
	tids_client_free(c);
	return NULL;
}

START_TEST(one_grant_id_goes_to_one)
{
	struct tids_test_hub a, b;
	struct tids_identity owner, lessor;
	struct granter ga, gb;
	pthread_t ta, tb;

	start_two(&a, &b);
	ck_assert_int_eq(tids_test_hub_participant(&a, "factory.o", "factory", "CN-SH", NULL, &owner), 0);
	ck_assert_int_eq(tids_test_hub_participant(&a, "lessor.l", "lessor", "CN-SH", NULL, &lessor), 0);
	wait_accepts(&b, &owner, true);
	/* The same id, two different grants, through two instances at once. */
	ga = (struct granter){ .h = &a, .owner = &owner, .purpose = "maintenance" };
	gb = (struct granter){ .h = &b, .owner = &owner, .purpose = "billing" };
	ck_assert_int_eq(pthread_create(&ta, NULL, grant_once, &ga), 0);
	ck_assert_int_eq(pthread_create(&tb, NULL, grant_once, &gb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ck_assert_msg((ga.r == 0) != (gb.r == 0), "a: %d (%s), b: %d (%s): exactly one may have the id", ga.r, ga.err,
		      gb.r, gb.err);
	ck_assert_msg(strstr(ga.r == 0 ? gb.err : ga.err, "grant g-race exists") != NULL, "%s",
		      ga.r == 0 ? gb.err : ga.err);
	tids_identity_wipe(&owner);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

/* --- forged, moved and replayed entries ---------------------------------------- */

struct keep {
	const char *key;
	struct tids_test_message first, last;
	uint8_t *buf[8];
	int n;
};

static void *dup_bytes(struct keep *k, const void *p, size_t len)
{
	uint8_t *b = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(b);
	memcpy(b, p, len);
	ck_assert_int_lt(k->n, 8);
	k->buf[k->n++] = b;
	return b;
}

static void on_entry(void *ctx, const struct tids_test_message *m)
{
	struct keep *k = ctx;
	struct tids_test_message copy = *m;

	if (m->key_len != strlen(k->key) || memcmp(m->key, k->key, m->key_len) != 0)
		return;
	if (k->first.key != NULL && k->last.key != NULL)
		return;   /* the first two are enough */
	copy.key = dup_bytes(k, m->key, m->key_len);
	copy.value = dup_bytes(k, m->value, m->len);
	copy.seq = m->seq != NULL ? dup_bytes(k, m->seq, m->seq_len) : NULL;
	copy.mac = m->mac != NULL ? dup_bytes(k, m->mac, m->mac_len) : NULL;
	if (k->first.key == NULL)
		k->first = copy;
	else
		k->last = copy;
}

START_TEST(forged_moved_and_replayed_entries_are_refused)
{
	struct tids_test_hub a, b;
	struct tids_identity victim, mallory;
	struct keep k = { .key = "participant/victim" };
	char err[512], topic[256];
	uint8_t junk[32];
	int before_a, before_b;

	start_two(&a, &b);
	ck_assert_int_eq(tids_test_hub_participant(&a, "victim", "factory", "CN-SH", NULL, &victim), 0);
	ck_assert_int_eq(admin_suspend(&a, "victim", true, err, sizeof(err)), 0);
	wait_accepts(&b, &victim, false);
	topic_of(&a, "registry", topic, sizeof(topic));
	ck_assert_int_gt(tids_test_topic_read_h(topic, on_entry, &k), 0);
	ck_assert_ptr_nonnull(k.first.key);
	before_a = tids_test_hub_log_count(&a, "refused, not applied");
	before_b = tids_test_hub_log_count(&b, "refused, not applied");

	/* 1. The victim's first entry (not suspended), written again as it
	 * was: MAC and all. Its sequence is behind: refused. */
	ck_assert_int_eq(tids_test_topic_write(topic, 0, k.first.key, k.first.key_len, k.first.value, k.first.len,
					       k.first.seq, k.first.seq_len, k.first.mac, k.first.mac_len), 0);
	/* 2. The same entry moved to another participant's key: the MAC
	 * binds the key. (And a sequence far ahead, which would win if it
	 * counted.) */
	{
		uint8_t seq[8] = { 0, 0, 0, 0, 0, 0, 0x10, 0 };

		ck_assert_int_eq(tids_test_topic_write(topic, 0, "participant/mallory", 19, k.first.value, k.first.len,
						       seq, sizeof(seq), k.first.mac, k.first.mac_len), 0);
	}
	/* 3. A participant of our own making, without a MAC, and with a
	 * made-up one. */
	ck_assert_int_eq(tids_identity_generate(&mallory), 0);
	{
		struct tids_participant p = { .id = "mallory", .role = "factory", .jurisdiction = "CN-SH" };
		uint8_t *blob, *entry;
		size_t len, elen;
		struct tids_hub_state e = { .actor = "local admin (uid 0) on a", .instance = "a", .at_ms = now_ms() };
		uint8_t seq[8] = { 0, 0, 0, 0, 0, 0, 0x20, 0 };

		memcpy(p.identity_key, mallory.sign_pk, 32);
		ck_assert_int_eq(tids_wire_encode_participant(&p, &blob, &len), 0);
		e.body = (struct tids_bytes){ blob, len };
		ck_assert_int_eq(tids_wire_encode_hub_state(&e, &entry, &elen), 0);
		ck_assert_int_eq(tids_test_topic_write(topic, 0, "participant/mallory", 19, entry, elen, NULL, 0, NULL, 0),
				 0);
		randombytes_buf(junk, sizeof(junk));
		ck_assert_int_eq(tids_test_topic_write(topic, 0, "participant/mallory", 19, entry, elen, seq, sizeof(seq),
						       junk, sizeof(junk)), 0);
		free(blob);
		free(entry);
	}
	/* Every instance says so, once per entry... */
	for (int64_t t0 = mono_ms(); mono_ms() - t0 < WAIT_MS; sleep_ms(100))
		if (tids_test_hub_log_count(&a, "refused, not applied") >= before_a + 4 &&
		    tids_test_hub_log_count(&b, "refused, not applied") >= before_b + 4)
			break;
	ck_assert_int_eq(tids_test_hub_log_count(&a, "refused, not applied"), before_a + 4);
	ck_assert_int_eq(tids_test_hub_log_count(&b, "refused, not applied"), before_b + 4);
	ck_assert_int_ge(tids_test_hub_log_count(&b, "not above"), 1);
	ck_assert_int_ge(tids_test_hub_log_count(&b, "MAC does not verify"), 2);
	ck_assert_int_ge(tids_test_hub_log_count(&b, "no tids-mac header"), 1);
	/* ...and nothing changed: the victim is still suspended, mallory a stranger. */
	wait_accepts(&a, &victim, false);
	wait_accepts(&b, &victim, false);
	ck_assert_ptr_null(try_connect(&a, &mallory));
	ck_assert_ptr_null(try_connect(&b, &mallory));
	/* And later changes still apply (the sequence was not thrown off). */
	ck_assert_int_eq(admin_suspend(&b, "victim", false, err, sizeof(err)), 0);
	wait_accepts(&a, &victim, true);
	/* A restarted instance reads the same entries and refuses them again. */
	ck_assert_int_eq(tids_test_hub_stop(&b), 0);
	ck_assert_int_eq(tids_test_hub_restart(&b), 0);
	wait_accepts(&b, &victim, true);
	ck_assert_ptr_null(try_connect(&b, &mallory));
	for (int i = 0; i < k.n; i++)
		free(k.buf[i]);
	tids_identity_wipe(&victim);
	tids_identity_wipe(&mallory);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

/* --- views ------------------------------------------------------------------------ */

START_TEST(view_resumed_and_rebuilt)
{
	struct tids_test_hub a, b;
	struct tids_identity p[3];
	char id[32], path[1000];

	start_two(&a, &b);
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "factory.%d", i);
		ck_assert_int_eq(tids_test_hub_participant(&a, id, "factory", "CN-SH", NULL, &p[i]), 0);
	}
	wait_accepts(&b, &p[2], true);
	/* Restarted, b goes on from where its view ended. */
	ck_assert_int_eq(tids_test_hub_stop(&b), 0);
	ck_assert_int_eq(tids_test_hub_restart(&b), 0);
	ck_assert_int_ge(tids_test_hub_log_count(&b, "hub state: 0 entries applied"), 1);
	wait_accepts(&b, &p[0], true);
	/* Its view lost, b rebuilds it from the topic. */
	ck_assert_int_eq(tids_test_hub_stop(&b), 0);
	snprintf(path, sizeof(path), "rm -f '%s/state/registry.db' '%s/state/registry.db-wal' '%s/state/registry.db-shm'",
		 b.dir, b.dir, b.dir);
	ck_assert_int_eq(system(path), 0);
	ck_assert_int_eq(tids_test_hub_restart(&b), 0);
	for (int i = 0; i < 3; i++) {
		wait_accepts(&b, &p[i], true);
		tids_identity_wipe(&p[i]);
	}
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

START_TEST(instance_without_the_hubs_keys_does_not_start)
{
	struct tids_test_hub a, c;
	struct tids_identity other;
	char conf[700], path[400], err[256];
	uint8_t master[32];

	ck_assert_int_eq(tids_test_hub_start(&a, "router.enabled = no"), 0);
	/* Another hub key. */
	snprintf(path, sizeof(path), "%s/other-hub.key", a.dir);
	ck_assert_int_eq(tids_identity_generate(&other), 0);
	ck_assert_int_eq(tids_keyfile_write_identity(path, &other, err, sizeof(err)), 0);
	tids_identity_wipe(&other);
	snprintf(conf, sizeof(conf), "router.enabled = no\nhub.key = %s", path);
	ck_assert_int_ne(tids_test_hub_join(&c, &a, "c", conf), 0);
	ck_assert_int_ge(tids_test_hub_log_count(&c, "every instance of a hub needs the same hub key"), 1);
	tids_test_hub_destroy(&c);
	/* Another master key. */
	snprintf(path, sizeof(path), "%s/other-master.key", a.dir);
	randombytes_buf(master, sizeof(master));
	ck_assert_int_eq(tids_keyfile_write_secret(path, master, err, sizeof(err)), 0);
	snprintf(conf, sizeof(conf), "router.enabled = no\nhub.master_key = %s", path);
	ck_assert_int_ne(tids_test_hub_join(&c, &a, "c", conf), 0);
	ck_assert_int_ge(tids_test_hub_log_count(&c, "needs the hub's master key"), 1);
	tids_test_hub_destroy(&c);
	tids_test_hub_destroy(&a);
}
END_TEST

/* --- a subscriber moves between instances ------------------------------------ */

static struct tids_bytes run_hours(uint32_t n)
{
	struct tids_field f = { .name = "n", .value = { .kind = TIDS_VALUE_INT, .as.i = n } };
	struct tids_record r = { .owner = "factory.sh1", .asset_id = "press-7", .category = "run_hours",
				 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .fields = &f, .n_fields = 1 };
	struct tids_bytes out;
	uint8_t *buf;
	size_t len;

	randombytes_buf(r.record_id, sizeof(r.record_id));
	r.produced_at_ms = now_ms();
	ck_assert_int_eq(tids_wire_encode_record(&r, &buf, &len), 0);
	out.data = buf;
	out.len = len;
	return out;
}

static void publish_on(struct tids_test_hub *h, const struct tids_identity *id, uint64_t seq, uint32_t first,
		       uint32_t n)
{
	struct tids_bytes recs[100];
	struct tids_publish_ack ack;
	struct tids_client *c = tids_test_hub_connect(h, id);
	char err[512];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_le(n, 100);
	for (uint32_t i = 0; i < n; i++)
		recs[i] = run_hours(first + i);
	ck_assert_msg(tids_client_publish(c, id, "factory.sh1", seq, recs, n, &ack, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ack.accepted, n);
	tids_publish_ack_free(&ack);
	for (uint32_t i = 0; i < n; i++)
		free((void *)recs[i].data);
	tids_client_free(c);
}

/* Receives until `until` (the n of a record) and returns the delivery_seq
 * of each n received in seqs[n]; acks `ack_at` (an n) when it is reached. */
static void receive_on(struct tids_test_hub *h, const struct tids_identity *id, uint32_t until, uint32_t ack_at,
		       uint64_t *seqs, uint32_t *first_n)
{
	const char *purposes[] = { "billing" };
	struct tids_client *c = tids_test_hub_connect(h, id);
	char err[512];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, 1, 1000, err, sizeof(err)), 0);
	*first_n = UINT32_MAX;
	for (;;) {
		struct tids_delivery d;
		const struct tids_field *f;
		int r = tids_client_next_delivery(c, &d, WAIT_MS, err, sizeof(err));
		uint32_t n;

		ck_assert_msg(r == 1, "no delivery on %s: %s", h->instance, err);
		f = tids_record_field(&d.record, "n");
		ck_assert_ptr_nonnull(f);
		n = (uint32_t)f->value.as.i;
		if (*first_n == UINT32_MAX)
			*first_n = n;
		seqs[n] = d.delivery_seq;
		if (n == ack_at)
			ck_assert_int_eq(tids_client_ack(c, d.delivery_seq, err, sizeof(err)), 0);
		tids_delivery_free(&d);
		if (n == until)
			break;
	}
	/* Answered in order: the ack has been handled once the ping is. */
	ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
	tids_client_free(c);
}

START_TEST(subscriber_resumes_on_another_instance)
{
	struct tids_test_hub a, b;
	struct tids_identity factory, lessor;
	uint64_t seqs[200] = { 0 };
	uint32_t first;

	/* a routes; the participants use either. */
	ck_assert_int_eq(tids_test_hub_start(&a, "kafka.partitions = 2"), 0);
	ck_assert_int_eq(tids_test_hub_join(&b, &a, "b", "kafka.partitions = 2\nrouter.enabled = no"), 0);
	ck_assert_int_eq(tids_test_hub_participant(&a, "factory.sh1", "factory", "CN-SH", NULL, &factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&b, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(&a, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	wait_accepts(&b, &factory, true);
	for (int i = 0; i < 600 && tids_test_hub_log_count(&a, "ingress partitions assigned") == 0; i++)
		sleep_ms(100);
	/* The lessor's purposes stand (subscribed through b) before records come. */
	{
		const char *purposes[] = { "billing" };
		struct tids_client *c = tids_test_hub_connect(&b, &lessor);
		char err[512];

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(tids_client_subscribe(c, purposes, 1, 10, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
		tids_client_free(c);
	}
	/* ...on a too, which routes. */
	for (int64_t t0 = mono_ms(); mono_ms() - t0 < WAIT_MS; sleep_ms(50)) {
		size_t len;
		uint8_t *sub = view_entry(&a, STORE_SUBSCRIPTION, "lessor.wh", &len);

		free(sub);
		if (sub != NULL)
			break;
	}
	publish_on(&b, &factory, 1, 0, 100);
	/* Through a: everything from the start; the lessor acks record 59. */
	receive_on(&a, &lessor, 99, 59, seqs, &first);
	ck_assert_uint_eq(first, 0);
	/* Through b: the stream resumes after the last ack, with what was
	 * published since. */
	publish_on(&a, &factory, 2, 100, 50);
	memset(seqs, 0, sizeof(seqs));
	receive_on(&b, &lessor, 149, 149, seqs, &first);
	ck_assert_msg(first == 60, "the stream on b started at record %u, not after the last ack (59)", first);
	for (uint32_t n = 0; n < 60; n++)
		ck_assert_msg(seqs[n] == 0, "record %u, acked on a, was sent again on b", n);
	/* And back through a: after record 149. */
	publish_on(&b, &factory, 3, 150, 1);
	receive_on(&a, &lessor, 150, 150, seqs, &first);
	ck_assert_uint_eq(first, 150);
	tids_identity_wipe(&factory);
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&b);
	tids_test_hub_destroy(&a);
}
END_TEST

/* A subscriber that closes a connection right after its Subscribe (its
 * purposes still being written) and subscribes again on another is served
 * there: the closed one, not read while it waited for the hub state, does
 * not hold the participant's one subscription. */
START_TEST(resubscribe_after_close)
{
	const char *purposes[] = { "billing", "maintenance" };
	struct tids_test_hub a;
	struct tids_identity lessor;
	struct tids_delivery d;
	struct tids_client *c1, *c2;
	char err[512];

	ck_assert_int_eq(tids_test_hub_start(&a, "router.enabled = no"), 0);
	ck_assert_int_eq(tids_test_hub_participant(&a, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &lessor), 0);
	for (int round = 0; round < 3; round++) {
		c1 = tids_test_hub_connect(&a, &lessor);
		c2 = tids_test_hub_connect(&a, &lessor);
		ck_assert(c1 != NULL && c2 != NULL);
		/* Each a change of the purposes, written to the hub state. */
		ck_assert_int_eq(tids_client_subscribe(c1, purposes, 1 + (size_t)(round % 2), 10, err, sizeof(err)), 0);
		tids_client_free(c1);
		ck_assert_int_eq(tids_client_subscribe(c2, purposes, 2 - (size_t)(round % 2), 10, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_client_ping(c2, err, sizeof(err), err, sizeof(err)), 0);
		/* Subscribed: nothing comes, and the stream stays open. */
		ck_assert_msg(tids_client_next_delivery(c2, &d, 2000, err, sizeof(err)) == 0, "round %d: %s", round,
			      err);
		tids_client_free(c2);
	}
	tids_identity_wipe(&lessor);
	tids_test_hub_destroy(&a);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{ "reaches", change_reaches_every_instance },
		{ "concurrent", concurrent_admins_get_the_topic_order },
		{ "grant_race", one_grant_id_goes_to_one },
		{ "forged", forged_moved_and_replayed_entries_are_refused },
		{ "views", view_resumed_and_rebuilt },
		{ "keys", instance_without_the_hubs_keys_does_not_start },
		{ "subscriber_moves", subscriber_resumes_on_another_instance },
		{ "resubscribe", resubscribe_after_close },
	};
	Suite *s = suite_create("hubstate");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, 600);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
