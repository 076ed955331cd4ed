/*
 * Faults found under test (issue 10), against the real tidsd and the real
 * Kafka broker: a subscriber that acks in batches gets everything although
 * transaction markers and aborted transactions take offsets of its topic;
 * a stuck stream says so in the log; acknowledged deliveries that a crash
 * sends again are dropped by the client library and tidsctl; a connection
 * reset between pipelined frames leaks nothing; a full state disk never
 * delivers a refused batch; and what an operator reads makes sense.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sodium.h>

#include "clock.h"
#include "hub.h"
#include "rawconn.h"
#include "records.h"
#include "shell.h"
#include "testenv.h"
#include "tids/error.h"
#include "topics.h"

/* Generous: a loaded or sanitized build must not fail for speed. */
#define WAIT_MS 60000

struct world {
	struct tids_test_hub hub;
	struct tids_identity factory, lessor;
	char deliver_topic[256];
};

/* factory.sh1 leases press-7 from lessor.wh, who receives run hours for
 * billing. */
static void world_start(struct world *w, const char *extra)
{
	const char *purposes[] = { "billing" };
	struct tids_client *c;
	char err[256];

	ck_assert_int_eq(tids_test_hub_start(&w->hub, extra), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "factory.sh1", "factory", "CN-SH", NULL, &w->factory), 0);
	ck_assert_int_eq(tids_test_hub_participant(&w->hub, "lessor.wh", "lessor", "CN-HB", "security_agreement=true",
						   &w->lessor), 0);
	ck_assert_int_eq(tids_test_hub_asset(&w->hub, "press-7", "factory.sh1", "lessor.wh", "sh-plant-2"), 0);
	tids_test_deliver_topic(w->deliver_topic, w->hub.hub_id, "lessor.wh");
	/* The lessor's purposes stand once it has subscribed. */
	c = tids_test_hub_connect(&w->hub, &w->lessor);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
	tids_client_free(c);
	ck_assert_int_eq(tids_test_hub_await_log(&w->hub, "ingress partitions assigned", 1, WAIT_MS), 0);
}

static void world_stop(struct world *w)
{
	tids_test_hub_destroy(&w->hub);
	tids_identity_wipe(&w->factory);
	tids_identity_wipe(&w->lessor);
}

/* One serialized record of the factory's run hours (see records.h). */
static struct tids_bytes make_record(uint32_t n)
{
	const struct tids_field hours = { .name = "hours", .value = { .kind = TIDS_VALUE_REAL, .as.d = 0.25 } };
	const struct tids_test_record spec = { .n = n, .owner = "factory.sh1", .asset = "press-7",
					       .category = "run_hours", .tier = TIDS_TIER_GENERAL,
					       .extra = &hours, .n_extra = 1 };
	struct tids_bytes out;

	ck_assert_int_eq(tids_test_record_encode(&spec, &out), 0);
	return out;
}

static void free_records(struct tids_bytes *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)recs[i].data);
}

/* Publishes one batch until it is acknowledged, as a careful client does
 * (the same sequence and records again after a broken connection or a
 * hub restart). */
static void publish_until_acked(struct world *w, struct tids_client **c, uint64_t seq, struct tids_bytes *recs,
				size_t n, bool restart_dead_hub)
{
	char err[512];
	long accepted = tids_test_hub_publish_until_acked(&w->hub, c, &w->factory, "factory.sh1", seq, recs, n,
							  restart_dead_hub, err, sizeof(err));

	ck_assert_msg(accepted >= 0, "%s", err);
	ck_assert_int_eq(accepted, (long)n);
}

/* The high watermark of partition 0 of topic (messages and markers). */
static int64_t topic_end(rd_kafka_t *rk, const char *topic)
{
	int64_t lo, hi;

	if (rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	return hi;
}

static rd_kafka_t *watermark_reader(void)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_t *rk;

	ck_assert(rd_kafka_conf_set(c, "bootstrap.servers", tids_test_kafka_bootstrap(), err, sizeof(err)) ==
		  RD_KAFKA_CONF_OK);
	ck_assert(rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err)) == RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	ck_assert_msg(rk != NULL, "%s", err);
	return rk;
}

/* Committed offsets of the lessor's deliveries, in order. */
struct offsets {
	int64_t *at;
	size_t n, cap;
};

static void on_offset(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
		      const void *value, size_t len)
{
	struct offsets *o = ctx;

	(void)partition;
	(void)key;
	(void)key_len;
	(void)value;
	(void)len;
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 1024;
		o->at = realloc(o->at, o->cap * sizeof(*o->at));
		ck_assert_ptr_nonnull(o->at);
	}
	o->at[o->n++] = offset;
}

/* Reads the lessor's delivery topic into o until it holds n deliveries or
 * 3 * WAIT_MS have passed: a hub that restarts, rejoins and resumes, or
 * recovers from a broker restart, has taken longer than WAIT_MS on a
 * loaded machine (CI under sanitizers). If it falls short, the hub's log
 * says why, for whoever reads the failed run. */
static void wait_routed(struct world *w, struct offsets *o, size_t n)
{
	for (int waited = 0; waited < 3 * WAIT_MS; waited += 200) {
		o->n = 0;
		ck_assert_int_ge(tids_test_topic_read(w->deliver_topic, on_offset, o), 0);
		if (o->n >= n)
			return;
		sleep_ms(200);
	}
	tids_test_hub_log_tail(&w->hub, 40);
}

/* Audit entries for the lessor per record n (n is in the record id). */
struct audit_count {
	uint32_t *per_n;
	uint32_t max_n;
};

static void on_audit_entry(void *ctx, int32_t partition, int64_t offset, const void *key, size_t key_len,
			   const void *value, size_t len)
{
	struct audit_count *a = ctx;
	struct tids_audit_log_record lr;
	struct tids_audit_entry e;
	char err[256];

	(void)partition;
	(void)offset;
	(void)key;
	(void)key_len;
	ck_assert_int_eq(tids_wire_decode_audit_log_record(value, len, &lr, err, sizeof(err)), 0);
	for (size_t i = 0; !lr.is_checkpoint && i < lr.n_entries; i++) {
		ck_assert_int_eq(tids_wire_decode_audit_entry(lr.entries[i].data, lr.entries[i].len, &e, err,
							      sizeof(err)), 0);
		if (e.decision != TIDS_DECISION_DENY && strcmp(e.recipient, "lessor.wh") == 0) {
			uint32_t n;

			memcpy(&n, e.record_id, sizeof(n));
			if (n < a->max_n)
				a->per_n[n]++;
		}
		tids_audit_entry_free(&e);
	}
	tids_audit_log_record_free(&lr);
}

/* Receives as a batch-acking subscriber: window, an ack every ack_every
 * deliveries (never for fewer); counts the records n < max_n. Returns the
 * number of distinct records received before the stream went quiet. */
static size_t receive_batched(struct world *w, uint32_t window, uint32_t ack_every, uint32_t max_n,
			      size_t *duplicates)
{
	const char *purposes[] = { "billing" };
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->lessor);
	uint8_t *seen = calloc(max_n, 1);
	size_t distinct = 0, got = 0;
	char err[512];

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(seen);
	*duplicates = 0;
	ck_assert_int_eq(tids_client_subscribe(c, purposes, 1, window, err, sizeof(err)), 0);
	while (distinct < max_n) {
		struct tids_delivery d;
		const struct tids_field *f;
		/* Quiet for 20 s with records still missing: stuck. */
		int r = tids_client_next_delivery(c, &d, 20000, err, sizeof(err));

		if (r == 0)
			break;
		ck_assert_msg(r == 1, "subscription broke: %s", err);
		f = tids_record_field(&d.record, "n");
		ck_assert_ptr_nonnull(f);
		ck_assert(f->value.as.i >= 0 && f->value.as.i < (int64_t)max_n);
		if (seen[f->value.as.i]++ == 0)
			distinct++;
		else
			(*duplicates)++;
		if (++got % ack_every == 0)
			ck_assert_int_eq(tids_client_ack(c, d.delivery_seq, err, sizeof(err)), 0);
		tids_delivery_free(&d);
	}
	tids_client_free(c);
	free(seen);
	return distinct;
}

/* ---- 1. the flow-control window counts deliveries ------------------------ */

#define ONE_PER_TXN 180

START_TEST(window_counts_deliveries)
{
	struct world w;
	struct tids_client *c = NULL;
	rd_kafka_t *rk;
	int64_t start, end;
	size_t dups, got;

	world_start(&w, NULL);
	rk = watermark_reader();
	/* One record at a time, each routed before the next is published: one
	 * delivery per transaction, so each takes two offsets (the delivery
	 * and the commit marker). */
	start = topic_end(rk, w.deliver_topic);
	ck_assert_int_ge(start, 0);
	end = start;
	for (uint32_t i = 0; i < ONE_PER_TXN; i++) {
		struct tids_bytes r = make_record(i);
		int waited = 0;

		publish_until_acked(&w, &c, i + 1, &r, 1, false);
		free_records(&r, 1);
		while (topic_end(rk, w.deliver_topic) < end + 2 && waited < WAIT_MS) {
			sleep_ms(10);
			waited += 10;
		}
		end = topic_end(rk, w.deliver_topic);
		ck_assert_msg(end >= start + 2 * (int64_t)(i + 1), "record %u not routed in time", i);
	}
	tids_client_free(c);
	rd_kafka_destroy(rk);
	/* What made the old window stall: offsets outnumber deliveries. */
	ck_assert_int_ge(end - start, 2 * ONE_PER_TXN);

	/* Window 100, an ack every 60 deliveries: offsets would fill the
	 * window after 50, deliveries never do. */
	got = receive_batched(&w, 100, 60, ONE_PER_TXN, &dups);
	ck_assert_msg(got == ONE_PER_TXN, "a subscriber acking every 60 with window 100 got %zu of %d records", got,
		      ONE_PER_TXN);
	ck_assert_uint_eq(dups, 0);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "no acknowledgement for"), 0);
	world_stop(&w);
}
END_TEST

struct killer {
	pid_t pid;
	int after_ms;
	bool sent;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	sleep_ms(k->after_ms);
	k->sent = kill(k->pid, SIGKILL) == 0;
	return NULL;
}

#define GAP_BATCH 200
#define GAP_WINDOW 20

START_TEST(window_across_aborted_transaction)
{
	struct world w;
	struct tids_client *c = NULL;
	struct offsets o = { 0 };
	int64_t gap = 0;
	uint32_t batches = 0;
	size_t dups, got;

	world_start(&w, NULL);
	/* kill -9 while the router is in a transaction leaves the deliveries
	 * it had produced aborted: offsets that no delivery will ever have.
	 * Kill until one such gap is wider than the window (a kill between
	 * two transactions leaves none). */
	for (int round = 0; round < 8 && gap <= 2 * GAP_WINDOW; round++) {
		struct killer k = { w.hub.pid, 5 + 7 * round, false };
		pthread_t t;

		for (int b = 0; b < 6; b++, batches++) {
			struct tids_bytes recs[GAP_BATCH];

			for (uint32_t i = 0; i < GAP_BATCH; i++)
				recs[i] = make_record(batches * GAP_BATCH + i);
			if (b == 3)
				ck_assert_int_eq(pthread_create(&t, NULL, kill_later, &k), 0);
			publish_until_acked(&w, &c, batches + 1, recs, GAP_BATCH, true);
			free_records(recs, GAP_BATCH);
		}
		/* A slow machine may kill it after the last batch was acked,
		 * and a process just sent SIGKILL may not have exited yet: a
		 * look with WNOHANG would find it alive and never restart it.
		 * The hub the killer shot (not restarted since) is reaped. */
		pthread_join(t, NULL);
		if (k.sent && k.pid == w.hub.pid)
			tids_test_hub_kill(&w.hub);
		if (!tids_test_hub_alive(&w.hub)) {
			tids_client_free(c);
			c = NULL;
			ck_assert_int_eq(tids_test_hub_restart(&w.hub), 0);
		}
		/* Everything routed, then measure the widest gap. */
		wait_routed(&w, &o, (size_t)batches * GAP_BATCH);
		ck_assert_uint_eq(o.n, (size_t)batches * GAP_BATCH);
		for (size_t i = 1; i < o.n; i++)
			gap = o.at[i] - o.at[i - 1] > gap ? o.at[i] - o.at[i - 1] : gap;
	}
	tids_client_free(c);
	free(o.at);
	ck_assert_msg(gap > 2 * GAP_WINDOW, "no aborted transaction wider than %d offsets in 8 kills (widest gap %lld)",
		      2 * GAP_WINDOW, (long long)gap);

	got = receive_batched(&w, GAP_WINDOW, 10, batches * GAP_BATCH, &dups);
	ck_assert_msg(got == batches * GAP_BATCH, "a subscriber acking every 10 with window %d got %zu of %u records "
		      "(aborted gap of %lld offsets)", GAP_WINDOW, got, batches * GAP_BATCH, (long long)gap);
	ck_assert_uint_eq(dups, 0);
	world_stop(&w);
}
END_TEST

/* A subscriber that stops acknowledging, and one that stops reading: the
 * log says which, once, and again when the stream moves. */
START_TEST(stuck_stream_is_logged)
{
	const char *purposes[] = { "billing" };
	struct world w;
	struct tids_client *c = NULL, *sub;
	struct tids_bytes recs[20];
	struct tids_delivery d;
	char err[512];
	uint64_t last = 0;

	world_start(&w, NULL);
	for (uint32_t i = 0; i < 20; i++)
		recs[i] = make_record(i);
	publish_until_acked(&w, &c, 1, recs, 20, false);
	free_records(recs, 20);
	tids_client_free(c);

	sub = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(sub);
	ck_assert_int_eq(tids_client_subscribe(sub, purposes, 1, 5, err, sizeof(err)), 0);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(tids_client_next_delivery(sub, &d, WAIT_MS, err, sizeof(err)), 1);
		last = d.delivery_seq;
		tids_delivery_free(&d);
	}
	/* Its window is full and it does not ack. */
	ck_assert_msg(tids_test_hub_await_log(&w.hub, "egress lessor.wh: no acknowledgement for", 1, WAIT_MS) == 0,
		      "a subscriber that stopped acknowledging went unmentioned");
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "all 5 deliveries of its window are unacknowledged"), 1);
	ck_assert_int_eq(tids_client_ack(sub, last, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_test_hub_await_log(&w.hub, "egress lessor.wh: stream moving again", 1, WAIT_MS), 0);
	/* Said once per episode, not once per tick. */
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "egress lessor.wh: no acknowledgement for"), 1);
	tids_client_free(sub);
	world_stop(&w);
}
END_TEST

/* ---- 2. a full state disk: refused batches never delivered ---------------- */

/* A small tmpfs for the state directory, mounted by the test's (unchecked)
 * fixture in the parent process, so that it is unmounted whatever the test
 * does; and on SIGTERM or SIGINT of the whole binary too. */
static char full_mnt[256];
static char full_pidfile[300];

static void full_umount(void)
{
	FILE *f;
	int pid;

	if (full_mnt[0] == '\0')
		return;
	/* A tidsd left behind by a failed test would keep it busy. */
	f = fopen(full_pidfile, "r");
	if (f != NULL) {
		if (fscanf(f, "%d", &pid) == 1 && pid > 0)
			kill(pid, SIGKILL);
		fclose(f);
		unlink(full_pidfile);
	}
	if (umount2(full_mnt, MNT_DETACH) != 0)
		fprintf(stderr, "umount %s: %s\n", full_mnt, strerror(errno));
	rmdir(full_mnt);
	full_mnt[0] = '\0';
}

static void full_on_signal(int sig)
{
	full_umount();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void full_setup(void)
{
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";

	full_mnt[0] = '\0';
	if (geteuid() != 0)
		return;
	snprintf(full_mnt, sizeof(full_mnt), "%s/tids-full.XXXXXX", tmp);
	if (mkdtemp(full_mnt) == NULL) {
		full_mnt[0] = '\0';
		return;
	}
	snprintf(full_pidfile, sizeof(full_pidfile), "%s.pid", full_mnt);
	if (mount("tmpfs", full_mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0700") != 0) {
		fprintf(stderr, "mount tmpfs on %s: %s\n", full_mnt, strerror(errno));
		rmdir(full_mnt);
		full_mnt[0] = '\0';
		return;
	}
	signal(SIGTERM, full_on_signal);
	signal(SIGINT, full_on_signal);
}

static void full_teardown(void)
{
	full_umount();
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
}

static void note_pid(struct world *w)
{
	FILE *f = fopen(full_pidfile, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%d\n", (int)w->hub.pid);
	fclose(f);
}

/* Fills the file system of dir (to ENOSPC) with one file; returns its path. */
static void fill(const char *dir, char *path, size_t len)
{
	static const uint8_t zeros[65536];
	int fd;

	snprintf(path, len, "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	for (;;) {
		ssize_t n = write(fd, zeros, sizeof(zeros));

		if (n <= 0) {
			ck_assert_int_eq(errno, ENOSPC);
			break;
		}
	}
	/* And the last bytes a short write left. */
	while (write(fd, zeros, 1) == 1)
		;
	close(fd);
}

#define FULL_BATCH 50
#define FULL_MAX_BATCHES 400

struct full_state {
	struct world w;
	struct tids_client *c;
	uint64_t seq;                   /* last sequence used */
	uint32_t next_n;                /* next record number */
	size_t refusals, acked_while_full;
};

/* Publishes one batch of new records while the disk is full; true if it
 * was refused (UNAVAILABLE), false if acknowledged. The caller decides
 * what to do with a refusal; *recs then holds the records. */
static bool publish_while_full(struct full_state *fs, struct tids_bytes *recs)
{
	struct tids_publish_ack ack;
	char err[512];
	int r;

	for (uint32_t i = 0; i < FULL_BATCH; i++)
		recs[i] = make_record(fs->next_n + i);
	fs->next_n += FULL_BATCH;
	fs->seq++;
	r = tids_client_publish(fs->c, &fs->w.factory, "factory.sh1", fs->seq, recs, FULL_BATCH, &ack, err,
				sizeof(err));
	if (r == 0) {
		/* An accepted batch is acknowledged whole. */
		ck_assert_msg(ack.n_errors == 0 && ack.accepted == FULL_BATCH, "batch %llu: %zu errors: %s",
			      (unsigned long long)fs->seq, ack.n_errors, ack.n_errors ? ack.errors[0].message : "");
		tids_publish_ack_free(&ack);
		fs->acked_while_full++;
		free_records(recs, FULL_BATCH);
		return false;
	}
	ck_assert_msg(r == TIDS_EDENIED && tids_client_status(fs->c) == 14,
		      "batch %llu on a full disk: %s (code %d)", (unsigned long long)fs->seq, err,
		      tids_client_status(fs->c));
	fs->refusals++;
	return true;
}

START_TEST(full_state_disk)
{
	struct full_state fs = { 0 };
	struct tids_bytes recs[FULL_BATCH];
	char extra[512], filler[512], err[512];
	size_t dups, got;

	if (full_mnt[0] == '\0') {
		fprintf(stderr, "  SKIP     full_state_disk: needs root to mount a tmpfs\n");
		return;
	}
	snprintf(extra, sizeof(extra), "state.dir = %s/state", full_mnt);
	world_start(&fs.w, extra);
	note_pid(&fs.w);
	fs.c = tids_test_hub_connect(&fs.w.hub, &fs.w.factory);
	ck_assert_ptr_nonnull(fs.c);
	for (int b = 0; b < 4; b++) {
		for (uint32_t i = 0; i < FULL_BATCH; i++)
			recs[i] = make_record(fs.next_n + i);
		fs.next_n += FULL_BATCH;
		publish_until_acked(&fs.w, &fs.c, ++fs.seq, recs, FULL_BATCH, false);
		free_records(recs, FULL_BATCH);
	}

	/* A careful publisher: a refused batch is published again, same
	 * sequence, same records, once there is room. It must be accepted,
	 * not refused as a replay. */
	fill(full_mnt, filler, sizeof(filler));
	while (fs.refusals == 0 && fs.seq < FULL_MAX_BATCHES)
		publish_while_full(&fs, recs);
	ck_assert_msg(fs.refusals > 0, "%zu batches acknowledged on a full disk, none refused", fs.acked_while_full);
	ck_assert_int_eq(unlink(filler), 0);
	publish_until_acked(&fs.w, &fs.c, fs.seq, recs, FULL_BATCH, false);
	free_records(recs, FULL_BATCH);

	/* A publisher that sends refused records again in a new batch: each
	 * must still be delivered once. */
	fill(full_mnt, filler, sizeof(filler));
	{
		size_t before = fs.refusals;

		while (fs.refusals == before && fs.seq < 2 * FULL_MAX_BATCHES)
			publish_while_full(&fs, recs);
		ck_assert_msg(fs.refusals > before, "the second fill refused nothing");
	}
	ck_assert_int_eq(unlink(filler), 0);
	publish_until_acked(&fs.w, &fs.c, ++fs.seq, recs, FULL_BATCH, false);
	free_records(recs, FULL_BATCH);
	tids_client_free(fs.c);
	ck_assert(tids_test_hub_alive(&fs.w.hub));

	/* Every record once, and one audit entry for each. */
	got = receive_batched(&fs.w, 1000, 1, fs.next_n, &dups);
	ck_assert_msg(dups == 0, "%zu records delivered twice", dups);
	ck_assert_msg(got == fs.next_n, "%zu of %u records delivered", got, fs.next_n);
	{
		struct audit_count ac = { .per_n = calloc(fs.next_n, sizeof(uint32_t)), .max_n = fs.next_n };
		char topic[256];

		ck_assert_ptr_nonnull(ac.per_n);
		snprintf(topic, sizeof(topic), "tids.%s.audit", fs.w.hub.hub_id);
		ck_assert_int_gt(tids_test_topic_read(topic, on_audit_entry, &ac), 0);
		for (uint32_t n = 0; n < fs.next_n; n++)
			ck_assert_msg(ac.per_n[n] == 1, "record %u has %u audit entries for the lessor", n, ac.per_n[n]);
		free(ac.per_n);
	}
	(void)err;
	ck_assert_int_eq(tids_test_hub_stop(&fs.w.hub), 0);
	world_stop(&fs.w);
	unlink(full_pidfile);
}
END_TEST

/* ---- 3. acknowledged deliveries sent again after a crash are dropped ------ */

/* Runs tidsctl subscribe as the lessor; its output (JSON lines) in out. */
static int tidsctl_subscribe(struct world *w, const char *key, const char *args, char *out, size_t outlen)
{
	char hub_key[TIDS_KEY_BASE64_BYTES];

	tids_key_to_base64(w->hub.hub_pk, hub_key);
	return tids_test_shell(out, outlen, "%s/tidsctl subscribe --hub %s --key '%s' --hub-key %s --purpose billing %s",
			       tids_test_build_dir(), w->hub.addr, key, hub_key, args);
}

/* The delivery_seq and n of each JSON line of tidsctl subscribe. */
static size_t parse_lines(const char *out, uint64_t *seqs, int64_t *ns, size_t max)
{
	size_t k = 0;

	for (const char *line = out; *line != '\0' && k < max;) {
		const char *s = strstr(line, "\"delivery_seq\":"), *f = strstr(line, "\"name\":\"n\"");
		const char *eol = strchr(line, '\n');

		ck_assert_ptr_nonnull(eol);
		ck_assert_msg(s != NULL && s < eol && f != NULL && f < eol, "unexpected line: %.*s", (int)(eol - line),
			      line);
		seqs[k] = strtoull(s + strlen("\"delivery_seq\":"), NULL, 10);
		f = strstr(f, "\"value\":");
		ck_assert(f != NULL && f < eol);
		f += strlen("\"value\":");
		while (*f == '{' || *f == '"' || (*f >= 'a' && *f <= 'z') || *f == ':')
			f++;
		ns[k++] = strtoll(f, NULL, 10);
		line = eol + 1;
	}
	return k;
}

#define RESEND_RECORDS 600
#define RESEND_STEP 100

/* Takes RESEND_STEP deliveries as the lessor on a connection of its own,
 * then acks them one by one while the broker is paused, so that at most
 * the first ack's position can reach Kafka, and kill -9s the hub once it
 * has read them all: what a subscriber sees when the hub dies before its
 * last acks are committed. Their n into ns, their delivery_seq into seqs;
 * the hub is restarted. */
static void ack_then_kill(struct world *w, uint64_t *seqs, int64_t *ns)
{
	const char *purposes[] = { "billing" };
	struct tids_client *c = tids_test_hub_connect(&w->hub, &w->lessor);
	char err[512];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(tids_client_subscribe(c, purposes, 1, RESEND_STEP, err, sizeof(err)), 0);
	for (size_t i = 0; i < RESEND_STEP; i++) {
		struct tids_delivery d;
		const struct tids_field *f;

		ck_assert_int_eq(tids_client_next_delivery(c, &d, WAIT_MS, err, sizeof(err)), 1);
		f = tids_record_field(&d.record, "n");
		ck_assert_ptr_nonnull(f);
		seqs[i] = d.delivery_seq;
		ns[i] = f->value.as.i;
		tids_delivery_free(&d);
	}
	ck_assert_int_eq(tids_test_broker("pause"), 0);
	for (size_t i = 0; i < RESEND_STEP; i++)
		ck_assert_int_eq(tids_client_ack(c, seqs[i], err, sizeof(err)), 0);
	/* Answered after the acks on the same connection: the hub has them. */
	ck_assert_int_eq(tids_client_ping(c, err, sizeof(err), err, sizeof(err)), 0);
	tids_test_hub_kill(&w->hub);
	ck_assert_int_eq(tids_test_broker("resume"), 0);
	tids_client_free(c);
	ck_assert_int_eq(tids_test_hub_restart(&w->hub), 0);
}

/* Writes seq into a --state file as tidsctl subscribe does. */
static void state_file_write(const char *path, uint64_t seq)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_gt(fprintf(f, "%llu\n", (unsigned long long)seq), 0);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(acked_deliveries_sent_again_are_dropped)
{
	const char *purposes[] = { "billing" };
	struct world w;
	struct tids_client *c = NULL, *peek;
	struct tids_bytes recs[RESEND_RECORDS];
	struct tids_delivery d;
	char key[512], state[512], args[1024], err[512];
	static char out[4 * 1024 * 1024];
	static uint64_t seqs[RESEND_RECORDS];
	static int64_t ns[RESEND_RECORDS];
	uint8_t printed[RESEND_RECORDS] = { 0 };
	uint64_t saved = 0, committed;
	size_t total = 0, k;
	FILE *f;

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to pause */
	world_start(&w, NULL);
	snprintf(key, sizeof(key), "%s/lessor.key", w.hub.dir);
	snprintf(state, sizeof(state), "%s/subscribe.state", w.hub.dir);
	ck_assert_int_eq(tids_keyfile_write_identity(key, &w.lessor, err, sizeof(err)), 0);
	for (uint32_t i = 0; i < RESEND_RECORDS; i++)
		recs[i] = make_record(i);
	publish_until_acked(&w, &c, 1, recs, RESEND_RECORDS, false);
	free_records(recs, RESEND_RECORDS);
	tids_client_free(c);

	/* tidsctl takes some and keeps the last one's delivery_seq; it
	 * closes its stream cleanly, so its acks are committed. */
	snprintf(args, sizeof(args), "--count %d --idle 60 --state '%s'", RESEND_STEP, state);
	ck_assert_int_eq(tidsctl_subscribe(&w, key, args, out, sizeof(out)), 0);
	k = parse_lines(out, seqs, ns, RESEND_RECORDS);
	ck_assert_uint_eq(k, RESEND_STEP);
	for (size_t i = 0; i < k; i++) {
		ck_assert(ns[i] >= 0 && ns[i] < RESEND_RECORDS);
		ck_assert_msg(printed[ns[i]]++ == 0, "record %lld printed twice", (long long)ns[i]);
	}
	total = k;
	committed = seqs[k - 1];
	f = fopen(state, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%llu", (unsigned long long *)&saved), 1);
	fclose(f);
	ck_assert_uint_eq(saved, committed);
	/* Closing the stream sent the last position: wait until Kafka has it,
	 * or the next stream could start before it. */
	{
		int64_t at = -1;

		for (int i = 0; i < WAIT_MS / 100 &&
				(at = tids_test_subscriber_position(w.hub.hub_id, "lessor.wh")) != (int64_t)committed;
		     i++)
			sleep_ms(100);
		ck_assert_msg(at == (int64_t)committed, "position %lld committed, %llu expected", (long long)at,
			      (unsigned long long)committed);
	}

	/* The next ones are acked while the broker answers nothing, and the
	 * hub dies: the subscriber keeps the last, as tidsctl would. */
	ack_then_kill(&w, seqs, ns);
	for (size_t i = 0; i < RESEND_STEP; i++) {
		ck_assert(ns[i] >= 0 && ns[i] < RESEND_RECORDS);
		ck_assert_msg(printed[ns[i]]++ == 0, "record %lld taken twice", (long long)ns[i]);
		ck_assert_uint_gt(seqs[i], committed);
	}
	total += RESEND_STEP;
	saved = seqs[RESEND_STEP - 1];
	state_file_write(state, saved);

	/* A client that holds nothing sees what the hub sends first: again
	 * some of what was acknowledged (at most the first ack's commit
	 * reached Kafka), and nothing from before the clean close. */
	peek = tids_test_hub_connect(&w.hub, &w.lessor);
	ck_assert_ptr_nonnull(peek);
	ck_assert_int_eq(tids_client_subscribe(peek, purposes, 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_client_next_delivery(peek, &d, WAIT_MS, err, sizeof(err)), 1);
	ck_assert_msg(d.delivery_seq == seqs[0] || d.delivery_seq == seqs[1],
		      "after the crash the hub started at delivery_seq %llu; acked before the pause %llu, "
		      "the first two acks during it %llu and %llu",
		      (unsigned long long)d.delivery_seq, (unsigned long long)committed, (unsigned long long)seqs[0],
		      (unsigned long long)seqs[1]);
	tids_delivery_free(&d);
	tids_client_free(peek);

	/* tidsctl with its state file prints none of them again, and takes
	 * the rest: those it drops are acknowledged, or a window of 10 would
	 * fill with them. */
	snprintf(args, sizeof(args), "--window 10 --count %zu --idle 20 --state '%s'", RESEND_RECORDS - total, state);
	ck_assert_int_eq(tidsctl_subscribe(&w, key, args, out, sizeof(out)), 0);
	k = parse_lines(out, seqs, ns, RESEND_RECORDS);
	ck_assert_uint_eq(k, RESEND_RECORDS - total);
	ck_assert_msg(seqs[0] > saved, "delivery_seq %llu printed again (last printed before: %llu)",
		      (unsigned long long)seqs[0], (unsigned long long)saved);
	for (size_t i = 0; i < k; i++)
		ck_assert_msg(printed[ns[i]]++ == 0, "record %lld printed twice", (long long)ns[i]);

	/* A bad number is a usage error, as for every tidsctl number. */
	snprintf(args, sizeof(args), "--after x%llu", (unsigned long long)saved);
	ck_assert_int_eq(tidsctl_subscribe(&w, key, args, out, sizeof(out)), 2);
	world_stop(&w);
}
END_TEST

/* ---- 4. a reset between pipelined frames leaks nothing -------------------- */

/*
 * Frames wait in tidsd's buffer while the peer resets the connection: the
 * reply to the first fails, which closes the session in the middle of the
 * frame loop. The old loop went on with a wiped channel and allocated a
 * buffer nobody freed; under the leak checker (tests/integration/run.sh
 * with SANITIZE) tidsd's exit then fails, as its exit status does here.
 */
START_TEST(reset_between_frames_leaks_nothing)
{
	struct world w;
	struct tids_test_raw r;
	struct tids_client *admin;
	struct linger lg = { 1, 0 };
	char who[160], err[256];

	world_start(&w, NULL);
	for (int round = 0; round < 5; round++) {
		ck_assert_int_eq(tids_test_raw_dial(&r, w.hub.addr), 0);
		ck_assert_int_eq(tids_test_raw_handshake(&r, &w.factory, w.hub.hub_pk, WAIT_MS), 0);
		ck_assert_int_eq(r.welcome_code, 0);
		/* Stopped, tidsd reads nothing until the pings and the reset
		 * are all there. */
		ck_assert_int_eq(kill(w.hub.pid, SIGSTOP), 0);
		for (uint64_t i = 1; i <= 50; i++) {
			uint8_t nonce[16], *body;
			struct tids_ping req = { .nonce = { nonce, sizeof(nonce) } };
			struct tids_frame f = { .call_id = i, .kind = TIDS_FRAME_REQUEST,
						.method = "tids.v1.Exchange/Ping" };
			size_t len;

			randombytes_buf(nonce, sizeof(nonce));
			ck_assert_int_eq(tids_wire_encode_ping_request(&req, &body, &len), 0);
			f.body = (struct tids_bytes){ body, len };
			ck_assert_int_eq(tids_test_raw_send_frame(&r, &f), 0);
			free(body);
		}
		ck_assert_int_eq(setsockopt(r.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
		tids_test_raw_close(&r);
		ck_assert_int_eq(kill(w.hub.pid, SIGCONT), 0);
	}
	/* It goes on serving. */
	admin = tids_test_hub_admin(&w.hub);
	ck_assert_ptr_nonnull(admin);
	ck_assert_int_eq(tids_client_ping(admin, who, sizeof(who), err, sizeof(err)), 0);
	tids_client_free(admin);
	ck_assert_int_eq(tids_test_hub_stop(&w.hub), 0);
	world_stop(&w);
}
END_TEST

/* ---- 5. what operators read ---------------------------------------------- */

struct solo {
	char dir[256], conf[300], log[300], sock[300];
	pid_t pid;
	int dead_port;
};

/* A tidsd of our own whose Kafka is a port nobody listens on; state in
 * state_dir (NULL: under its directory). */
static void solo_init(struct solo *h, const char *state_dir)
{
	int ports[3];
	char src[4096];
	FILE *f;

	memset(h, 0, sizeof(*h));
	ck_assert_ptr_nonnull(realpath(tids_test_source_dir(), src));
	snprintf(h->dir, sizeof(h->dir), "%s/tids-solo.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(h->dir));
	snprintf(h->conf, sizeof(h->conf), "%s/tidsd.conf", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/tidsd.log", h->dir);
	snprintf(h->sock, sizeof(h->sock), "%s/tidsd.sock", h->dir);
	ck_assert_int_eq(tids_test_free_ports(ports, 3), 0);
	h->dead_port = ports[0];
	f = fopen(h->conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "hub.id = solo\nhub.jurisdiction = CN-SH\nhub.key = %s/hub.key\nstate.dir = %s/state\n"
		   "listen.tcp = 127.0.0.1:%d\nlisten.unix = %s\npolicy.dir = %s/policy/default\n"
		   "kafka.mode = external\nkafka.bootstrap.servers = 127.0.0.1:%d\nmetrics.listen = 127.0.0.1:%d\n",
		h->dir, state_dir != NULL ? state_dir : h->dir, ports[1], h->sock, src, h->dead_port, ports[2]);
	fclose(f);
}

/* Starts it with stderr to its log; journal: as if under journald. */
static void solo_start(struct solo *h, bool journal)
{
	char bin[4096];
	int fd;

	snprintf(bin, sizeof(bin), "%s/tidsd", tids_test_build_dir());
	fd = open(h->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	if (journal) {
		struct stat st;
		char js[64];

		ck_assert_int_eq(fstat(fd, &st), 0);
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
	} else {
		unsetenv("JOURNAL_STREAM");
	}
	fflush(NULL);
	h->pid = fork();
	ck_assert_int_ge(h->pid, 0);
	if (h->pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "-c", h->conf, (char *)NULL);
		_exit(127);
	}
	close(fd);
	unsetenv("JOURNAL_STREAM");
}

static int count_in(const char *path, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

static bool wait_in(const char *path, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 100) {
		if (count_in(path, needle) > 0)
			return true;
		sleep_ms(100);
	}
	return count_in(path, needle) > 0;
}

/* Waits for it to exit; its status, or -1 after timeout_ms (then kills). */
static int solo_wait(struct solo *h, int timeout_ms)
{
	int status;

	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(50);
	}
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->pid = 0;
	return -1;
}

static void solo_destroy(struct solo *h)
{
	char cmd[600];

	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
	}
	if (h->dir[0] != '\0' && getenv("TIDS_TEST_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", h->dir);
	}
}

/* Every line of the log begins with an RFC 3339 time, or none does. */
static int lines_stamped(const char *path, int *total)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");

	*total = 0;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		(*total)++;
		if (strlen(line) > 30 && line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' &&
		    line[19] == '.' && (line[23] == '+' || line[23] == '-') && line[29] == ' ')
			n++;
	}
	fclose(f);
	return n;
}

START_TEST(kafka_down_at_start)
{
	struct solo h;
	char want[128], refused[128];
	int total, stamped;

	solo_init(&h, NULL);
	solo_start(&h, false);
	snprintf(want, sizeof(want), "waiting for Kafka at 127.0.0.1:%d (kafka.bootstrap.servers)", h.dead_port);
	ck_assert_msg(wait_in(h.log, want, WAIT_MS), "no \"%s\" line", want);
	/* Long enough for librdkafka to say the failure its several ways. */
	sleep_ms(4000);
	ck_assert_msg(access(h.sock, F_OK) != 0, "the admin socket is open while tidsd waits for Kafka");
	snprintf(refused, sizeof(refused), "Connect to ipv4#127.0.0.1:%d failed", h.dead_port);
	/* The failure once from librdkafka, once in the waiting line. */
	ck_assert_int_eq(count_in(h.log, refused), 2);
	ck_assert_int_eq(count_in(h.log, "%3|"), 0);
	ck_assert_int_eq(count_in(h.log, "|FAIL|"), 0);
	stamped = lines_stamped(h.log, &total);
	ck_assert_int_gt(total, 3);
	ck_assert_msg(stamped == total, "%d of %d lines carry a time stamp", stamped, total);
	/* SIGTERM while it waits: a clean stop. */
	ck_assert_int_eq(kill(h.pid, SIGTERM), 0);
	ck_assert_int_eq(solo_wait(&h, WAIT_MS), 0);
	ck_assert_int_eq(count_in(h.log, "stopped while waiting for Kafka"), 1);

	/* Under journald: priority prefixes, and journald's own time stamps. */
	solo_start(&h, true);
	ck_assert(wait_in(h.log, want, WAIT_MS));
	ck_assert_int_eq(lines_stamped(h.log, &total), 0);
	ck_assert_int_eq(count_in(h.log, "<4>waiting for Kafka at"), 1);
	ck_assert_int_eq(kill(h.pid, SIGTERM), 0);
	ck_assert_int_eq(solo_wait(&h, WAIT_MS), 0);
	solo_destroy(&h);
}
END_TEST

static void *start_hub(void *arg)
{
	struct world *w = arg;

	return (void *)(intptr_t)tids_test_hub_start(&w->hub, NULL);
}

/* Kafka comes up after tidsd: it waits, says so, and starts serving then. */
START_TEST(kafka_comes_later)
{
	struct world w;
	pthread_t t;
	void *rc;
	int waited;

	if (tids_test_kafka_dir() == NULL)
		return;   /* a developer's own broker: not ours to stop */
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(tids_test_broker("stop"), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, start_hub, &w), 0);
	for (waited = 0; waited < WAIT_MS; waited += 100) {
		if (w.hub.log[0] != '\0' && count_in(w.hub.log, "waiting for Kafka at") > 0)
			break;
		sleep_ms(100);
	}
	/* Past the 30 s in which the old tidsd gave up. */
	sleep_ms(35000);
	ck_assert_int_eq(tids_test_broker("start"), 0);
	pthread_join(t, &rc);
	ck_assert_msg(waited < WAIT_MS, "no \"waiting for Kafka\" line");
	ck_assert_msg(rc == NULL, "tidsd did not start once Kafka came");
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "still waiting for Kafka at"), 1);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "answered after"), 1);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "%3|"), 0);
	tids_test_hub_destroy(&w.hub);
}
END_TEST

/* The broker away while records are routed: the router's producer, whose
 * queue librdkafka serves itself inside a transaction's commit, logs
 * through tidsd's logger too. */
START_TEST(router_logs_through_logger)
{
	struct world w;
	struct tids_client *c = NULL;
	struct tids_bytes recs[200];
	struct offsets o = { 0 };
	size_t dups, got;
	uint32_t n = 0;

	if (tids_test_kafka_dir() == NULL)
		return;
	world_start(&w, NULL);
	for (uint64_t b = 1; b <= 3; b++) {
		for (uint32_t i = 0; i < 200; i++)
			recs[i] = make_record(n + i);
		n += 200;
		publish_until_acked(&w, &c, b, recs, 200, false);
		free_records(recs, 200);
		if (b == 1) {
			ck_assert_int_eq(tids_test_broker("stop"), 0);
			sleep_ms(5000);
			ck_assert_int_eq(tids_test_broker("start"), 0);
		}
	}
	tids_client_free(c);
	/* Routed first: the subscriber below calls 20 s of quiet stuck. */
	wait_routed(&w, &o, n);
	ck_assert_uint_eq(o.n, n);
	free(o.at);
	got = receive_batched(&w, 1000, 1, n, &dups);
	ck_assert_uint_eq(got, n);
	ck_assert_uint_eq(dups, 0);
	ck_assert_int_ge(tids_test_hub_log_count(&w.hub, "kafka: "), 1);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "%3|"), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "%4|"), 0);
	ck_assert_int_eq(tids_test_hub_log_count(&w.hub, "|FAIL|"), 0);
	world_stop(&w);
}
END_TEST

START_TEST(policy_dir_entry_is_a_directory)
{
	struct solo h;
	char cmd[4096], dir[600], out[4096];

	solo_init(&h, NULL);
	snprintf(dir, sizeof(dir), "%s/policy", h.dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/old.tidspol' && cp '%s'/policy/default/*.tidspol '%s/' && "
		 "sed -i 's|^policy.dir = .*|policy.dir = %s|' '%s'", dir, tids_test_source_dir(), dir, dir, h.conf);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(tids_test_shell(out, sizeof(out), "'%s/tidsd' -n -c '%s' 2>&1", tids_test_build_dir(), h.conf),
			 1);
	ck_assert_msg(strstr(out, "old.tidspol: is a directory") != NULL, "tidsd -n said: %s", out);
	ck_assert_ptr_null(strstr(out, "File too large"));
	solo_destroy(&h);
}
END_TEST

START_TEST(full_disk_at_start)
{
	struct solo h;
	char state[300], filler[512], want[600];

	if (full_mnt[0] == '\0') {
		fprintf(stderr, "  SKIP     full_disk_at_start: needs root to mount a tmpfs\n");
		return;
	}
	snprintf(state, sizeof(state), "%s/state", full_mnt);
	solo_init(&h, full_mnt);
	/* A hub that has run: its registry is there (it has loaded it). */
	solo_start(&h, false);
	ck_assert(wait_in(h.log, "policies:", WAIT_MS));
	ck_assert_int_eq(kill(h.pid, SIGTERM), 0);
	ck_assert_int_ge(solo_wait(&h, WAIT_MS), 0);
	fill(full_mnt, filler, sizeof(filler));
	solo_start(&h, false);
	ck_assert_int_eq(solo_wait(&h, WAIT_MS), 1);
	snprintf(want, sizeof(want), "%s/registry.db: no space left on device", state);
	ck_assert_msg(count_in(h.log, want) == 1, "no \"%s\" line", want);
	ck_assert_int_eq(count_in(h.log, "disk I/O error"), 0);
	unlink(filler);
	solo_destroy(&h);
}
END_TEST

int main(void)
{
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		/* One case each, so that CK_RUN_CASE can pick one. */
		{ "window", window_counts_deliveries },
		{ "window_gap", window_across_aborted_transaction },
		{ "stuck", stuck_stream_is_logged },
		{ "full_disk", full_state_disk },
		{ "resend", acked_deliveries_sent_again_are_dropped },
		{ "reset_leak", reset_between_frames_leaks_nothing },
		{ "kafka_down", kafka_down_at_start },
		{ "kafka_later", kafka_comes_later },
		{ "router_log", router_logs_through_logger },
		{ "policy_dir", policy_dir_entry_is_a_directory },
		{ "full_at_start", full_disk_at_start },
	};
	Suite *s = suite_create("faults");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		if (cases[i].test == full_state_disk || cases[i].test == full_disk_at_start)
			tcase_add_unchecked_fixture(tc, full_setup, full_teardown);
		if (cases[i].test == acked_deliveries_sent_again_are_dropped)
			tcase_add_unchecked_fixture(tc, NULL, tids_test_broker_unpause);
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
