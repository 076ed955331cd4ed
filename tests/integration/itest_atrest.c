/*
 * Data at rest against a real Apache Kafka broker and a real tidsd (issue 9):
 * a revoked grant's deliveries are shredded whatever their tier, and nothing
 * on disk or in a registry backup opens the grant's key afterwards; an
 * envelope moved to another participant's topic does not open; forged or
 * replayed state entries are refused and a grant's use limit holds; batch
 * rows are pruned; a connection with too many publishes in flight is not
 * read until Kafka answers; keys stay out of memory a core dump would hold.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
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
#include "rawconn.h"
#include "records.h"
#include "testenv.h"
#include "tids/epoch.h"
#include "tids/error.h"
#include "tids/seal.h"
#include "topics.h"

#define WAIT_MS 60000

struct world {
	struct tids_test_hub hub;
	struct tids_identity factory, lessor;
};

static void wait_partitions(struct world *w)
{
	ck_assert_int_eq(tids_test_hub_await_log(&w->hub, "ingress partitions assigned", 1, 60000), 0);
}

static void subscribe_once(struct world *w, const struct tids_identity *id, const char *const *purposes, size_t n)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, id);
	char err[256];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, n, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
	tids_client_free(c);
}

/* factory.sh1 leases press-7 from lessor.wh; the lessor has subscribed for
 * purposes. */
static void world_start(struct world *w, const char *const *purposes, size_t n, const char *extra)
{
	char conf[512];

	snprintf(conf, sizeof(conf), "kafka.partitions = 2\n%s", extra != NULL ? extra : "");
	ck_assert_int_eq(tids_test_hub_start(&w->hub, conf), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory.sh1", "factory", "CN-SH", NULL, &w->factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &w->lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w->hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	subscribe_once(w, &w->lessor, purposes, n);
	wait_partitions(w);
}

/* A serialized record of press-7 (see records.h); note (if not NULL) in
 * field "note". */
static struct tids_bytes make_record(uint32_t n, const char *category, enum tids_tier tier, const char *note)
{
	const struct tids_test_record spec = { .n = n, .owner = "factory.sh1", .asset = "press-7", .category = category,
					       .tier = tier, .note = note };
	struct tids_bytes out;

	ck_assert_int_eq(tids_test_record_encode(&spec, &out), 0);
	return out;
}

static void publish_until_acked(struct world *w, struct tids_client **c, uint64_t seq, struct tids_bytes *recs,
				size_t n)
{
	char err[512];
	long accepted = tids_test_hub_publish_until_acked(&w->hub, c, &w->factory, "factory.sh1", seq, recs, n, false,
							  err, sizeof(err));

	ck_assert_msg(accepted >= 0, "%s", err);
	ck_assert_int_eq(accepted, (long)n);
}

static void grant(struct world *w, const char *id, const char *category, const char *purpose, uint32_t max_uses)
{
	const char *cats[] = { category }, *purposes[] = { purpose };
	struct tids_grant g = { 0 };
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->factory);
	char err[512];

	ck_assert_ptr_nonnull(c);
	g.grant_id = id;
	g.hub_id = w->hub.hub_id;
	g.owner = "factory.sh1";
	g.grantee = "lessor.wh";
	g.categories = (struct tids_strlist){ cats, 1 };
	g.purposes = (struct tids_strlist){ purposes, 1 };
	g.not_before_ms = now_ms() - 1000;
	g.not_after_ms = now_ms() + 30LL * 86400 * 1000;
	g.max_uses = max_uses;
	ck_assert_int_eq(tids_client_sign_grant(&w->factory, &g), 0);
	ck_assert_int_eq(tids_client_grant(c, &g, err, sizeof(err)), 0);
	tids_client_free(c);
}

static void revoke_grant(struct world *w, const char *id)
{
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->factory);
	char err[512];

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(tids_client_revoke(c, id, err, sizeof(err)) == 0, "revoke %s: %s", id, err);
	tids_client_free(c);
}

static void topic_name(const struct world *w, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "tids.%s.%s", w->hub.hub_id, suffix);
}

static void wait_topic(const char *topic, int64_t at_least)
{
	for (int i = 0; i < 600 && tids_test_topic_end(topic) < at_least; i++)
		sleep_ms(100);
	ck_assert_int_ge(tids_test_topic_end(topic), at_least);
}

/* ---- Kafka, read and written directly (headers included) ------------------ */

struct kmsg {
	int32_t partition;
	int64_t offset;
	uint8_t key[256];
	size_t key_len;
	uint8_t *value;                 /* NULL: a tombstone */
	size_t len;
	uint8_t mac[64], seq[16];
	size_t mac_len, seq_len;        /* 0: no such header */
};

struct kmsgs {
	struct kmsg *m;
	size_t n, cap;
};

static void kmsgs_free(struct kmsgs *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->m[i].value);
	free(ms->m);
	memset(ms, 0, sizeof(*ms));
}

static rd_kafka_t *client(rd_kafka_type_t type)
{
	char err[256], group[128];
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	tids_test_unique_name(group, sizeof(group), "atrest");
	ck_assert_int_eq(rd_kafka_conf_set(c, "bootstrap.servers", tids_test_kafka_bootstrap(), err, sizeof(err)), 0);
	ck_assert_int_eq(rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err)), 0);
	if (type == RD_KAFKA_CONSUMER) {
		ck_assert_int_eq(rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)), 0);
		ck_assert_int_eq(rd_kafka_conf_set(c, "isolation.level", "read_committed", err, sizeof(err)), 0);
		ck_assert_int_eq(rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err)), 0);
		ck_assert_int_eq(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)), 0);
	}
	{
		rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));

		ck_assert_msg(rk != NULL, "%s", err);
		return rk;
	}
}

static void copy_header(rd_kafka_headers_t *h, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	const void *v;
	size_t n;

	*len = 0;
	if (h != NULL && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v != NULL &&
	    n <= cap) {
		memcpy(buf, v, n);
		*len = n;
	}
}

/* Every committed message of partition 0 of topic, up to its end now. */
static void read_all(const char *topic, struct kmsgs *out)
{
	rd_kafka_t *rk = client(RD_KAFKA_CONSUMER);
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
	int idle = 0;

	memset(out, 0, sizeof(*out));
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	ck_assert_int_eq(rd_kafka_assign(rk, tp), 0);
	rd_kafka_topic_partition_list_destroy(tp);
	while (idle < 600) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_headers_t *h = NULL;
		struct kmsg *k;

		if (m == NULL) {
			idle++;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			break;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->key_len > sizeof(k->key)) {
			rd_kafka_message_destroy(m);
			continue;
		}
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->m = realloc(out->m, out->cap * sizeof(*out->m));
			ck_assert_ptr_nonnull(out->m);
		}
		k = &out->m[out->n++];
		memset(k, 0, sizeof(*k));
		k->partition = m->partition;
		k->offset = m->offset;
		memcpy(k->key, m->key, m->key_len);
		k->key_len = m->key_len;
		if (m->payload != NULL) {
			k->value = malloc(m->len + 1);
			memcpy(k->value, m->payload, m->len);
			k->len = m->len;
		}
		rd_kafka_message_headers(m, &h);
		copy_header(h, TIDS_STATE_HEADER_MAC, k->mac, sizeof(k->mac), &k->mac_len);
		copy_header(h, TIDS_STATE_HEADER_SEQ, k->seq, sizeof(k->seq), &k->seq_len);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* Writes one message to partition 0 of topic, as anyone with write access
 * to Kafka could. mac/seq NULL: no such header. */
static void write_raw(const char *topic, const void *key, size_t key_len, const void *value, size_t len,
		      const uint8_t *mac, size_t mac_len, const uint8_t *seq, size_t seq_len)
{
	rd_kafka_t *rk = client(RD_KAFKA_PRODUCER);
	rd_kafka_headers_t *h = rd_kafka_headers_new(2);

	if (seq != NULL)
		rd_kafka_header_add(h, TIDS_STATE_HEADER_SEQ, -1, seq, (ssize_t)seq_len);
	if (mac != NULL)
		rd_kafka_header_add(h, TIDS_STATE_HEADER_MAC, -1, mac, (ssize_t)mac_len);
	ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
					   RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
					   RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					   RD_KAFKA_V_END), 0);
	ck_assert_int_eq(rd_kafka_flush(rk, 30000), 0);
	rd_kafka_destroy(rk);
}

/* ---- files and the registry -------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if (f == NULL)
		return NULL;
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	fclose(f);
	return buf;
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	return n >= m && memmem(hay, n, needle, m) != NULL;
}

/* Counts the files under dir (recursively) that contain needle. */
static int files_containing(const char *dir, const void *needle, size_t m, char *which, size_t wlen)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	int found = 0;

	ck_assert_ptr_nonnull(dp);
	while ((e = readdir(dp)) != NULL) {
		char path[1024];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found += files_containing(path, needle, m, which, wlen);
		} else if (S_ISREG(st.st_mode)) {
			size_t len;
			uint8_t *b = slurp(path, &len);

			if (contains(b, len, needle, m)) {
				found++;
				snprintf(which, wlen, "%s", path);
			}
			free(b);
		}
	}
	closedir(dp);
	return found;
}

/* The stored (wrapped) key of a grant, whatever the layout: 0 if found. */
static int wrapped_grant_key(const char *db_path, const char *grant_id, uint8_t out[TIDS_SEAL_WRAPPED_KEY_BYTES])
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int r = -1;

	ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE ns = 'grant_key' AND "
					    "(key = ?1 OR substr(key, 5) = ?1)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, grant_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == TIDS_SEAL_WRAPPED_KEY_BYTES) {
		memcpy(out, sqlite3_column_blob(st, 0), TIDS_SEAL_WRAPPED_KEY_BYTES);
		r = 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

static int64_t count_rows(const char *db_path, const char *ns)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM kv WHERE ns = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * Everything an attacker holding master.key, the epoch key file and a
 * registry database (the live one, or a backup) can try on a wrapped grant
 * key: the master key alone (the first layout), then each epoch key in the
 * file, opened with the master key, on each bucket key of the database.
 * Returns 1 and the key if one of them opens it, 0 if none does; *how says
 * which.
 */
static int recover(const char *master_path, const char *state_dir, const char *db_path, const char *grant_id,
		   const uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES], uint8_t key[32], const char **how)
{
	struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS];
	uint8_t master[32], epoch_key[32], bucket_key[32];
	char path[512], err[256], label[64];
	sqlite3 *db;
	sqlite3_stmt *st;
	int found = 0;

	/* hub.master_key: the hub's, outside an instance's state. */
	ck_assert_msg(tids_keyfile_read_secret(master_path, master, err, sizeof(err)) == 0, "%s", err);
	if (tids_seal_unwrap_key(master, grant_id, wrapped, key) == 0) {
		*how = "the master key alone";
		return 1;
	}
	snprintf(path, sizeof(path), "%s/epoch.key", state_dir);
	if (tids_epoch_read(path, slots, err, sizeof(err)) != 0)
		return 0;
	ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT key, value FROM kv WHERE ns = 'key_bucket'", -1, &st, NULL),
			 SQLITE_OK);
	while (!found && sqlite3_step(st) == SQLITE_ROW) {
		const uint8_t *row = sqlite3_column_blob(st, 1);

		if (sqlite3_column_bytes(st, 1) != 8 + TIDS_SEAL_WRAPPED_KEY_BYTES)
			continue;
		snprintf(label, sizeof(label), "bucket/%d", atoi((const char *)sqlite3_column_text(st, 0)));
		for (int s = 0; s < TIDS_EPOCH_SLOTS && !found; s++) {
			if (slots[s].epoch == 0)
				continue;
			tids_epoch_label(slots[s].epoch, path, sizeof(path));
			if (tids_seal_unwrap_key(master, path, slots[s].wrapped, epoch_key) != 0)
				continue;
			if (tids_seal_unwrap_key(epoch_key, label, row + 8, bucket_key) == 0 &&
			    tids_seal_unwrap_key(bucket_key, grant_id, wrapped, key) == 0) {
				*how = "an epoch key and a bucket key";
				found = 1;
			}
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	sodium_memzero(master, sizeof(master));
	sodium_memzero(epoch_key, sizeof(epoch_key));
	sodium_memzero(bucket_key, sizeof(bucket_key));
	return found;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	uint8_t *b = slurp(from, &len);
	FILE *f;

	if (b == NULL)
		return;
	f = fopen(to, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b, 1, len, f), len);
	fclose(f);
	free(b);
}

/* ---- item 6: every grant delivery is sealed, whatever its tier ---------------- */

static int find_envelope(const struct kmsgs *ms, uint32_t n, struct tids_delivery_envelope *env)
{
	char err[256];

	for (size_t i = 0; i < ms->n; i++) {
		uint32_t got;

		if (ms->m[i].value == NULL ||
		    tids_wire_decode_delivery_envelope(ms->m[i].value, ms->m[i].len, env, err, sizeof(err)) != 0)
			continue;
		memcpy(&got, env->record_id, sizeof(got));
		if (got == n)
			return (int)i;
		tids_delivery_envelope_free(env);
	}
	return -1;
}

START_TEST(general_grant_delivery_shredded)
{
	const char *purposes[] = { "energy_management" };
	char marker[64], topic[256], err[512];
	struct tids_bytes rec;
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	struct tids_delivery_envelope env;
	struct kmsgs ms;
	struct world w;
	int i;

	world_start(&w, purposes, 1, NULL);
	/* meter readings: no schema in the default set (energy records must
	 * carry kwh and nothing else), no rule but the owner's grant */
	grant(&w, "g1", "meter_reading", "energy_management", 0);
	snprintf(marker, sizeof(marker), "energy-reading-%08x", randombytes_random());
	rec = make_record(1, "meter_reading", TIDS_TIER_GENERAL, marker);
	publish_until_acked(&w, &c, 1, &rec, 1);

	/* The lessor reads it under g1 (and does not acknowledge it). */
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, WAIT_MS, err, sizeof(err)), 1);
	ck_assert_str_eq(d.grant_id, "g1");
	ck_assert_int_eq(d.record.tier, TIDS_TIER_GENERAL);
	ck_assert_str_eq((const char *)tids_record_field(&d.record, "note")->value.as.bytes.data, marker);
	tids_delivery_free(&d);
	tids_client_free(sub);

	/* On Kafka the general-tier delivery is sealed under g1's key. */
	topic_name(&w, "deliver.lessor.wh", topic, sizeof(topic));
	read_all(topic, &ms);
	i = find_envelope(&ms, 1, &env);
	ck_assert_int_ge(i, 0);
	ck_assert_msg(strcmp(env.sealed_by, "grant:g1") == 0, "the delivery is sealed by \"%s\"", env.sealed_by);
	ck_assert(!contains(ms.m[i].value, ms.m[i].len, marker, strlen(marker)));
	tids_delivery_envelope_free(&env);
	kmsgs_free(&ms);

	revoke_grant(&w, "g1");
	/* Read directly from Kafka, the envelope stays what it was: sealed,
	 * its plaintext nowhere, and the key that sealed it is nowhere either. */
	read_all(topic, &ms);
	i = find_envelope(&ms, 1, &env);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(env.sealed_by, "grant:g1");
	ck_assert(!contains(ms.m[i].value, ms.m[i].len, marker, strlen(marker)));
	{
		struct tids_delivery dd;
		char db[600];
		uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];

		/* Not a Delivery in the clear... */
		ck_assert_int_ne(tids_wire_decode_delivery(env.delivery.data, env.delivery.len, &dd, err, sizeof(err)), 0);
		/* ...and g1's key is gone from the registry. */
		snprintf(db, sizeof(db), "%s/state/registry.db", w.hub.dir);
		ck_assert_int_ne(wrapped_grant_key(db, "g1", wrapped), 0);
	}
	tids_delivery_envelope_free(&env);
	kmsgs_free(&ms);
	/* Nor does the hub open it any more. */
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 8000, err, sizeof(err)), 0);
	tids_client_free(sub);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "key grant:g1 is destroyed"), 1);
	tids_client_free(c);
	free((void *)rec.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* ---- item 7: nothing at rest opens a revoked grant ------------------------------ */

START_TEST(revoke_leaves_nothing_at_rest)
{
	const char *purposes[] = { "maintenance" };
	char state[512], db[600], backup[600], path[700], which[1024] = "";
	uint8_t wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES], key[32], again[32];
	const char *how = "";
	struct tids_bytes rec;
	struct tids_client *c = NULL;
	struct world w;
	int n;

	world_start(&w, purposes, 1, NULL);
	snprintf(state, sizeof(state), "%s/state", w.hub.dir);
	snprintf(db, sizeof(db), "%s/registry.db", state);
	grant(&w, "g-keep", "recipe", "maintenance", 0);
	grant(&w, "g-rest", "recipe", "maintenance", 0);
	rec = make_record(1, "recipe", TIDS_TIER_IMPORTANT, NULL);
	publish_until_acked(&w, &c, 1, &rec, 1);

	/* The grant's wrapped key as stored, and the way to open it with what
	 * is on disk: it works while the grant lives. */
	ck_assert_int_eq(wrapped_grant_key(db, "g-rest", wrapped), 0);
	ck_assert_msg(recover(w.hub.master_path, state, db, "g-rest", wrapped, key, &how) == 1,
		      "the live grant's key does not open");
	ck_assert_msg(strcmp(how, "the master key alone") != 0, "the master key alone opens a grant's key");
	/* A backup of the registry, taken while the grant lived. */
	snprintf(backup, sizeof(backup), "%s/backup.db", w.hub.dir);
	copy_file(db, backup);
	snprintf(path, sizeof(path), "%s-wal", db);
	{
		char bwal[700];

		snprintf(bwal, sizeof(bwal), "%s-wal", backup);
		copy_file(path, bwal);
	}

	revoke_grant(&w, "g-rest");
	/* No file under state.dir holds the wrapped key any more. */
	n = files_containing(state, wrapped, sizeof(wrapped), which, sizeof(which));
	ck_assert_msg(n == 0, "%d files under state.dir hold the revoked grant's wrapped key, e.g. %s", n, which);
	/* The master key alone does not open it; nor the master key with the
	 * epoch key file and the live registry; nor with a registry backup. */
	ck_assert_msg(recover(w.hub.master_path, state, db, "g-rest", wrapped, again, &how) == 0, "opened with %s", how);
	ck_assert_msg(recover(w.hub.master_path, state, backup, "g-rest", wrapped, again, &how) == 0,
		      "opened with %s and a backup", how);
	/* The grant that lives on still opens, from the live registry. */
	ck_assert_int_eq(wrapped_grant_key(db, "g-keep", wrapped), 0);
	ck_assert_int_eq(recover(w.hub.master_path, state, db, "g-keep", wrapped, again, &how), 1);
	/* The epoch moved on: one slot holds a key, the old one is zeros. */
	{
		struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS];
		char err[256];

		snprintf(path, sizeof(path), "%s/epoch.key", state);
		ck_assert_int_eq(tids_epoch_read(path, slots, err, sizeof(err)), 0);
		ck_assert((slots[0].epoch == 0) != (slots[1].epoch == 0));
		ck_assert_uint_ge(slots[0].epoch + slots[1].epoch, 2);
	}
	/* And after a restart the hub still serves the live grant. */
	tids_client_free(c);
	c = NULL;
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	ck_assert_int_eq(wrapped_grant_key(db, "g-keep", wrapped), 0);
	ck_assert_int_eq(recover(w.hub.master_path, state, db, "g-keep", wrapped, again, &how), 1);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "cannot be recovered"), 0);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(again, sizeof(again));
	free((void *)rec.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* A change of epoch cut short by a crash (a second slot left in the epoch
 * file, newer or older than the registry's epoch) is finished at the next
 * start: the slot the registry does not use is erased, the live grant
 * still delivers. */
START_TEST(interrupted_epoch_change_finished)
{
	const char *purposes[] = { "maintenance" };
	char state[512], path[600], label[32], err[256];
	struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS], extra;
	uint8_t master[32], junk[32];
	struct tids_bytes rec;
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	struct world w;
	int used;

	world_start(&w, purposes, 1, NULL);
	snprintf(state, sizeof(state), "%s/state", w.hub.dir);
	ck_assert_int_eq(tids_keyfile_read_secret(w.hub.master_path, master, err, sizeof(err)), 0);
	grant(&w, "g-live", "recipe", "maintenance", 0);
	/* A revocation first, so that there is an epoch before the current. */
	grant(&w, "g-gone", "recipe", "maintenance", 0);
	revoke_grant(&w, "g-gone");
	snprintf(path, sizeof(path), "%s/epoch.key", state);
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
		ck_assert_int_eq(tids_epoch_read(path, slots, err, sizeof(err)), 0);
		used = slots[0].epoch != 0 ? 0 : 1;
		ck_assert_uint_eq(slots[1 - used].epoch, 0);
		/* Round 0: the next epoch was written, the registry not yet
		 * moved to it. Round 1: the registry moved, the old epoch not
		 * yet erased (as if this slot held it). */
		extra.epoch = round == 0 ? slots[used].epoch + 1 : slots[used].epoch - 1;
		randombytes_buf(junk, sizeof(junk));
		tids_epoch_label(extra.epoch, label, sizeof(label));
		tids_seal_wrap_key(master, label, junk, extra.wrapped);
		ck_assert_int_eq(tids_epoch_write_slot(path, (unsigned)(1 - used), &extra, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
		ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "left by an interrupted change of epoch"), round + 1);
		ck_assert_int_eq(tids_epoch_read(path, slots, err, sizeof(err)), 0);
		ck_assert_uint_eq(slots[1 - used].epoch, 0);
		ck_assert(sodium_is_zero(slots[1 - used].wrapped, sizeof(slots[1 - used].wrapped)));
		ck_assert_uint_ne(slots[used].epoch, 0);
	}
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "cannot be recovered"), 0);
	wait_partitions(&w);
	rec = make_record(1, "recipe", TIDS_TIER_IMPORTANT, NULL);
	publish_until_acked(&w, &c, 1, &rec, 1);
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, WAIT_MS, err, sizeof(err)), 1);
	ck_assert_str_eq(d.grant_id, "g-live");
	tids_delivery_free(&d);
	tids_client_free(sub);
	tids_client_free(c);
	sodium_memzero(master, sizeof(master));
	free((void *)rec.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* ---- item 10: an envelope moved to another participant does not open ------------ */

START_TEST(moved_envelope_does_not_open)
{
	const char *purposes[] = { "maintenance" };
	char t_factory[256], t_lessor[256], t_other[256], err[512];
	struct tids_identity other;
	struct tids_delivery_envelope env;
	struct tids_bytes rec;
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	struct kmsgs mf, ml;
	struct world w;
	int i, got = 0;

	world_start(&w, purposes, 1, NULL);
	ck_assert_int_eq(tids_test_hub_participant(&w.hub, "other.fac", "factory", "CN-SH", NULL, &other), 0);
	subscribe_once(&w, &other, purposes, 1);
	subscribe_once(&w, &w.factory, purposes, 1);
	grant(&w, "g-m", "recipe", "maintenance", 0);
	rec = make_record(1, "recipe", TIDS_TIER_IMPORTANT, NULL);
	publish_until_acked(&w, &c, 1, &rec, 1);
	topic_name(&w, "deliver.factory.sh1", t_factory, sizeof(t_factory));
	topic_name(&w, "deliver.lessor.wh", t_lessor, sizeof(t_lessor));
	topic_name(&w, "deliver.other.fac", t_other, sizeof(t_other));
	wait_topic(t_factory, 1);
	wait_topic(t_lessor, 1);

	/* The owner's copy (sealed by the hub) goes to the lessor's topic; the
	 * lessor's (sealed by its grant) to a third participant's. */
	read_all(t_factory, &mf);
	read_all(t_lessor, &ml);
	i = find_envelope(&mf, 1, &env);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(env.sealed_by, "hub");
	tids_delivery_envelope_free(&env);
	write_raw(t_lessor, mf.m[i].key, mf.m[i].key_len, mf.m[i].value, mf.m[i].len, NULL, 0, NULL, 0);
	i = find_envelope(&ml, 1, &env);
	ck_assert_int_ge(i, 0);
	ck_assert_str_eq(env.sealed_by, "grant:g-m");
	tids_delivery_envelope_free(&env);
	write_raw(t_other, ml.m[i].key, ml.m[i].key_len, ml.m[i].value, ml.m[i].len, NULL, 0, NULL, 0);
	kmsgs_free(&mf);
	kmsgs_free(&ml);

	/* The lessor gets its own delivery, not the owner's. */
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	while (tids_client_next_delivery(sub, &d, 8000, err, sizeof(err)) == 1) {
		got++;
		ck_assert_str_eq(d.grant_id, "g-m");
		tids_delivery_free(&d);
	}
	tids_client_free(sub);
	ck_assert_msg(got == 1, "the lessor received %d deliveries, its own and a moved one", got);
	/* The third participant gets nothing. */
	sub = tids_test_hub_connect(&w.hub, &other);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, 8000, err, sizeof(err)), 0);
	tids_client_free(sub);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "does not decrypt under hub for lessor.wh"), 1);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "does not decrypt under grant:g-m for other.fac"), 1);
	tids_identity_wipe(&other);
	tids_client_free(c);
	free((void *)rec.data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* ---- item 9: forged and replayed state entries are refused ----------------------- */

/* The entries of key in the state topic, in order. */
static size_t state_entries(const struct world *w, const char *key, struct kmsgs *all, size_t idx[], size_t cap)
{
	char topic[256];
	size_t n = 0;

	topic_name(w, "state", topic, sizeof(topic));
	read_all(topic, all);
	for (size_t i = 0; i < all->n && n < cap; i++)
		if (all->m[i].key_len == strlen(key) && memcmp(all->m[i].key, key, all->m[i].key_len) == 0)
			idx[n++] = i;
	return n;
}

static uint64_t count_of(const struct kmsg *m)
{
	struct tids_router_state st;
	char err[256];
	uint64_t v;

	ck_assert_ptr_nonnull(m->value);
	ck_assert_int_eq(tids_wire_decode_router_state(m->value, m->len, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(st.kind, TIDS_STATE_COUNT);
	v = st.count;
	tids_router_state_free(&st);
	return v;
}

/* Waits until the state topic's last entry of key has count want. */
static void wait_count(const struct world *w, const char *key, uint64_t want)
{
	for (int t = 0; t < 300; t++) {
		struct kmsgs all;
		size_t idx[64], n = state_entries(w, key, &all, idx, 64);
		uint64_t last = n > 0 ? count_of(&all.m[idx[n - 1]]) : 0;

		kmsgs_free(&all);
		if (last == want)
			return;
		sleep_ms(200);
	}
	ck_abort_msg("the state topic never counted %llu for %s", (unsigned long long)want, key);
}

START_TEST(forged_state_refused)
{
	const char *purposes[] = { "maintenance" };
	struct tids_router_state forged = { .kind = TIDS_STATE_COUNT, .count = 0 };
	struct tids_bytes r[5];
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	struct kmsgs all;
	struct world w;
	char topic[256], err[512];
	uint8_t *value, mac[32], seq[8];
	size_t len, idx[64], n, replayed;
	uint32_t seen[5] = { 0 }, total = 0;

	world_start(&w, purposes, 1, NULL);
	grant(&w, "g-3", "recipe", "maintenance", 3);
	for (uint32_t i = 0; i < 5; i++)
		r[i] = make_record(i, "recipe", TIDS_TIER_IMPORTANT, NULL);
	publish_until_acked(&w, &c, 1, &r[0], 1);
	wait_count(&w, "uses/g-3", 1);
	publish_until_acked(&w, &c, 2, &r[1], 1);
	wait_count(&w, "uses/g-3", 2);
	tids_client_free(c);
	c = NULL;
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);

	/* A Kafka writer resets the grant's use count three ways: a new entry
	 * without headers, one with made-up headers, and the hub's own first
	 * entry (count 1) written again as it was. */
	n = state_entries(&w, "uses/g-3", &all, idx, 64);
	ck_assert_uint_ge(n, 2);
	replayed = idx[0];
	ck_assert_uint_eq(count_of(&all.m[replayed]), 1);
	topic_name(&w, "state", topic, sizeof(topic));
	ck_assert_int_eq(tids_wire_encode_router_state(&forged, &value, &len), 0);
	write_raw(topic, "uses/g-3", 8, value, len, NULL, 0, NULL, 0);
	randombytes_buf(mac, sizeof(mac));
	memset(seq, 0x7f, sizeof(seq));
	write_raw(topic, "uses/g-3", 8, value, len, mac, sizeof(mac), seq, sizeof(seq));
	write_raw(topic, "uses/g-3", 8, all.m[replayed].value, all.m[replayed].len, all.m[replayed].mac,
		  all.m[replayed].mac_len, all.m[replayed].seq, all.m[replayed].seq_len);
	free(value);
	kmsgs_free(&all);

	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	for (int i = 0; i < 600 && tids_test_hub_log_count(&w.hub, "ingress partitions assigned") < 2; i++)
		sleep_ms(100);

	/* The limit holds: one use was left, so one more record arrives. */
	publish_until_acked(&w, &c, 3, &r[2], 1);
	publish_until_acked(&w, &c, 4, &r[3], 1);
	publish_until_acked(&w, &c, 5, &r[4], 1);
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	while (tids_client_next_delivery(sub, &d, 10000, err, sizeof(err)) == 1) {
		int64_t k = tids_record_field(&d.record, "n")->value.as.i;

		ck_assert(k >= 0 && k < 5);
		seen[k]++;
		total++;
		tids_delivery_free(&d);
	}
	tids_client_free(sub);
	ck_assert_msg(total == 3, "%u deliveries under a grant of 3 uses", total);
	ck_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	/* Each forgery refused loudly, named with its key, partition and offset. */
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "state entry uses/g-3 (partition 0, offset"), 3);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "its MAC does not verify"), 1);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "no tids-mac header"), 1);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "an old entry written again"), 1);
	tids_client_free(c);
	for (int i = 0; i < 5; i++)
		free((void *)r[i].data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* ---- item 11: batch rows pruned; publishes in flight capped ---------------------- */

#define PRUNE_BATCHES 300

START_TEST(batch_rows_pruned)
{
	const char *purposes[] = { "billing" };
	struct tids_client *c = NULL;
	struct tids_publish_ack ack;
	struct tids_bytes recs[PRUNE_BATCHES + 1];
	struct world w;
	char db[600], err[512];
	int64_t rows;

	world_start(&w, purposes, 1, NULL);
	snprintf(db, sizeof(db), "%s/state/registry.db", w.hub.dir);
	for (uint32_t i = 0; i <= PRUNE_BATCHES; i++)
		recs[i] = make_record(i, "run_hours", TIDS_TIER_GENERAL, NULL);
	for (uint32_t i = 0; i < PRUNE_BATCHES; i++)
		publish_until_acked(&w, &c, i + 1, &recs[i], 1);
	tids_client_free(c);
	c = NULL;
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	rows = count_rows(db, "batch");
	ck_assert_msg(rows == 256, "%lld batch rows kept for %d acknowledged batches", (long long)rows, PRUNE_BATCHES);
	ck_assert_int_eq(count_rows(db, "batch_pending"), 0);

	ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
	c = tids_test_hub_connect(&w.hub, &w.factory);
	ck_assert_ptr_nonnull(c);
	/* The newest acknowledged batch published again: its ack again. */
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", PRUNE_BATCHES, &recs[PRUNE_BATCHES - 1], 1,
					     &ack, err, sizeof(err)), 0);
	ck_assert_uint_eq(ack.accepted, 1);
	tids_publish_ack_free(&ack);
	/* One pruned long ago: out of order. */
	ck_assert_int_eq(tids_client_publish(c, &w.factory, "factory.sh1", 5, &recs[4], 1, &ack, err, sizeof(err)),
			 TIDS_EDENIED);
	ck_assert_ptr_nonnull(strstr(err, "replayed or out of order"));
	publish_until_acked(&w, &c, PRUNE_BATCHES + 1, &recs[PRUNE_BATCHES], 1);
	ck_assert_int_le(count_rows(db, "batch"), 256);
	tids_client_free(c);
	for (uint32_t i = 0; i <= PRUNE_BATCHES; i++)
		free((void *)recs[i].data);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

static void publish_frame(struct tids_test_raw *r, const struct tids_identity *id, uint64_t call, uint64_t seq)
{
	struct tids_bytes rec = make_record((uint32_t)seq, "run_hours", TIDS_TIER_GENERAL, NULL);
	struct tids_batch b = { .publisher = "factory.sh1", .sequence = seq, .records = &rec, .n_records = 1 };
	struct tids_frame f = { .call_id = call, .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Exchange/Publish" };
	uint8_t *body;
	size_t len;

	ck_assert_int_eq(tids_merkle_root(&rec, 1, b.merkle_root), 0);
	ck_assert_int_eq(tids_sign_batch(id->sign_sk, "factory.sh1", seq, b.merkle_root, b.signature), 0);
	ck_assert_int_eq(tids_wire_encode_batch(&b, &body, &len), 0);
	f.body = (struct tids_bytes){ body, len };
	ck_assert_int_eq(tids_test_raw_send_frame(r, &f), 0);
	free(body);
	free((void *)rec.data);
}

#define IN_FLIGHT 2
#define PIPELINED 6

START_TEST(publish_backpressure)
{
	const char *purposes[] = { "billing" };
	struct tids_ping ping = { .nonce = { (const uint8_t *)"nonce", 5 } };
	struct tids_frame f, pf = { .call_id = 100, .kind = TIDS_FRAME_REQUEST, .method = "tids.v1.Exchange/Ping" };
	struct tids_test_raw r;
	struct world w;
	uint8_t *body;
	size_t len;
	int answered = 0, ping_after = -1;

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to stop */
	world_start(&w, purposes, 1, "limits.publish_in_flight = 2\nlimits.publish_timeout = 600s");
	ck_assert_int_eq(tids_test_raw_dial(&r, w.hub.addr), 0);
	ck_assert_int_eq(tids_test_raw_handshake(&r, &w.factory, w.hub.hub_pk, WAIT_MS), 0);
	ck_assert_int_eq(r.welcome_code, 0);

	/* While Kafka is away, publishes stay in flight. The hub reads two,
	 * then nothing more from this connection: not the other publishes,
	 * not the ping behind them. */
	ck_assert_int_eq(tids_test_broker("stop"), 0);
	for (uint64_t i = 1; i <= PIPELINED; i++)
		publish_frame(&r, &w.factory, i, i);
	ck_assert_int_eq(tids_wire_encode_ping_request(&ping, &body, &len), 0);
	pf.body = (struct tids_bytes){ body, len };
	ck_assert_int_eq(tids_test_raw_send_frame(&r, &pf), 0);
	free(body);
	ck_assert_msg(tids_test_raw_read_frame(&r, &f, 5000) == 0, "the hub answered call %llu while %d publishes "
		      "were in flight", (unsigned long long)f.call_id, IN_FLIGHT);
	ck_assert(tids_test_hub_alive(&w.hub));

	/* Kafka back: every publish is acknowledged (none failed), and the
	 * ping is read only once the publishes before it have drained. */
	ck_assert_int_eq(tids_test_broker("start"), 0);
	while (answered < PIPELINED || ping_after < 0) {
		ck_assert_int_eq(tids_test_raw_read_frame(&r, &f, 180000), 1);
		ck_assert_int_eq(f.kind, TIDS_FRAME_RESPONSE);
		ck_assert_msg(f.status.code == 0, "call %llu: %s", (unsigned long long)f.call_id, f.status.message);
		if (f.call_id == 100) {
			ping_after = answered;
		} else {
			struct tids_publish_ack ack;
			char err[256];

			ck_assert(f.call_id >= 1 && f.call_id <= PIPELINED);
			ck_assert_int_eq(tids_wire_decode_publish_ack(f.body.data, f.body.len, &ack, err, sizeof(err)), 0);
			ck_assert_uint_eq(ack.accepted, 1);
			ck_assert_uint_eq(ack.n_errors, 0);
			tids_publish_ack_free(&ack);
			answered++;
		}
		tids_frame_free(&f);
	}
	ck_assert_msg(ping_after >= PIPELINED - IN_FLIGHT + 1, "the ping was answered after %d publishes", ping_after);
	tids_test_raw_close(&r);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* ---- item 13: keys stay out of what a core dump holds ---------------------------- */

/* Searches every readable mapping of pid that a core dump would include
 * (not marked dd) for each needle; returns the index of one found, or -1. */
static int dumpable_memory_holds(pid_t pid, const uint8_t (*needles)[32], size_t n, char *where, size_t wlen)
{
	char path[64], line[512];
	FILE *smaps;
	int mem, found = -1;
	unsigned long lo = 0, hi = 0;
	char perms[8] = "", name[256] = "";

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	smaps = fopen(path, "r");
	ck_assert_ptr_nonnull(smaps);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	ck_assert_int_ge(mem, 0);
	while (found < 0 && fgets(line, sizeof(line), smaps) != NULL) {
		unsigned long a, b;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, p) == 3) {
			lo = a;
			hi = b;
			snprintf(perms, sizeof(perms), "%s", p);
			name[0] = '\0';
			sscanf(line, "%*s %*s %*s %*s %*s %255s", name);
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) != 0 || perms[0] != 'r' || strstr(line, " dd") != NULL)
			continue;
		for (unsigned long at = lo; at < hi && found < 0;) {
			size_t chunk = hi - at < (1u << 20) ? hi - at : (1u << 20);
			uint8_t *buf = malloc(chunk + 32);
			ssize_t got = pread(mem, buf, chunk, (off_t)at);

			if (got <= 0) {
				free(buf);
				break;
			}
			for (size_t i = 0; i < n && found < 0; i++)
				if (memmem(buf, (size_t)got, needles[i], 32) != NULL) {
					found = (int)i;
					snprintf(where, wlen, "%lx-%lx %s %s", lo, hi, perms, name);
				}
			free(buf);
			/* Overlap chunks so a key across a boundary is seen. */
			at += (unsigned long)got > 31 ? (unsigned long)got - 31 : (unsigned long)got;
		}
	}
	close(mem);
	fclose(smaps);
	return found;
}

START_TEST(keys_left_out_of_core_dumps)
{
	static const char *what[] = { "the master key", "the hub's identity seed", "the hub's X25519 key",
				      "a grant's key", "the epoch key" };
	const char *purposes[] = { "maintenance" };
	uint8_t needles[5][32], wrapped[TIDS_SEAL_WRAPPED_KEY_BYTES];
	char state[512], db[600], path[700], err[512], where[512] = "";
	struct tids_epoch_slot slots[TIDS_EPOCH_SLOTS];
	struct tids_identity hub;
	const char *how;
	struct tids_bytes rec;
	struct tids_client *c = NULL, *sub;
	struct tids_delivery d;
	struct world w;
	int i;

	world_start(&w, purposes, 1, NULL);
	snprintf(state, sizeof(state), "%s/state", w.hub.dir);
	snprintf(db, sizeof(db), "%s/registry.db", state);
	grant(&w, "g-dump", "recipe", "maintenance", 0);
	rec = make_record(1, "recipe", TIDS_TIER_IMPORTANT, NULL);
	publish_until_acked(&w, &c, 1, &rec, 1);
	/* The router sealed with the grant's key; egress opens with it. */
	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(sub, &d, WAIT_MS, err, sizeof(err)), 1);
	tids_delivery_free(&d);
	tids_client_free(sub);
	tids_client_free(c);

	ck_assert_int_eq(tids_keyfile_read_secret(w.hub.master_path, needles[0], err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/hub.key", w.hub.dir);
	ck_assert_int_eq(tids_keyfile_read_identity(path, &hub, err, sizeof(err)), 0);
	memcpy(needles[1], hub.sign_sk, 32);
	memcpy(needles[2], hub.dh_sk, 32);
	tids_identity_wipe(&hub);
	ck_assert_int_eq(wrapped_grant_key(db, "g-dump", wrapped), 0);
	ck_assert_int_eq(recover(w.hub.master_path, state, db, "g-dump", wrapped, needles[3], &how), 1);
	i = dumpable_memory_holds(w.hub.pid, (const uint8_t(*)[32])needles, 4, where, sizeof(where));
	ck_assert_msg(i < 0, "%s is in memory a core dump holds: %s", i >= 0 ? what[i] : "", where);
	/* The epoch key is wiped once the bucket keys are open. */
	snprintf(path, sizeof(path), "%s/epoch.key", state);
	ck_assert_int_eq(tids_epoch_read(path, slots, err, sizeof(err)), 0);
	i = slots[0].epoch != 0 ? 0 : 1;
	tids_epoch_label(slots[i].epoch, path, sizeof(path));
	ck_assert_int_eq(tids_seal_unwrap_key(needles[0], path, slots[i].wrapped, needles[4]), 0);
	i = dumpable_memory_holds(w.hub.pid, (const uint8_t(*)[32])needles + 4, 1, where, sizeof(where));
	ck_assert_msg(i < 0, "the epoch key is in memory a core dump holds: %s", where);
	sodium_memzero(needles, sizeof(needles));
	free((void *)rec.data);
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
		{ "shred_general", general_grant_delivery_shredded },
		{ "at_rest", revoke_leaves_nothing_at_rest },
		{ "epoch_crash", interrupted_epoch_change_finished },
		{ "moved_envelope", moved_envelope_does_not_open },
		{ "forged_state", forged_state_refused },
		{ "batch_prune", batch_rows_pruned },
		{ "backpressure", publish_backpressure },
		{ "core_dump", keys_left_out_of_core_dumps },
	};
	Suite *s = suite_create("atrest");
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
