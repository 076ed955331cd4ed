/*
 * The router's transactions, two at a time: two transactional producers
 * are used in turn, and a committer thread commits one while the router
 * routes the next batch into the other. A commit used to stop routing for
 * its whole round trip to the coordinator, and the next transaction's
 * first produce often found the coordinator still writing the last one's
 * markers (CONCURRENT_TRANSACTIONS).
 *
 * That still happens to a producer that begins right after its own
 * commit: librdkafka 2.0.2 then pauses the transaction's first write a
 * fixed 20 ms (not retry.backoff.ms). With two producers, 15 and 20 of
 * about 500 and 950 transactions met it at 10k and 5k records/s
 * (kafka.debug = eos). Three producers in turn met it 0 and 1 times, but
 * added 6 to 8 MB to the peak RSS of make bench's sustained phase (92.8
 * and 95.3 MB against 86.6 to 89.3 in three runs; target 100) and moved
 * publish->delivery less than runs differ from each other: not kept.
 *
 * Order is kept: a batch is produced only once everything the previous
 * one produced is written (flushed), so deliveries, audit entries and
 * state reach each partition in batch order; commits go one after the
 * other, in the same order. A failed commit fails everything after it:
 * the router then starts over from what Kafka committed, as it always
 * has. The time a batch collects records is what the last commit takes,
 * so the commit interval follows the load: single records under light
 * load, thousands per transaction under heavy load.
 *
 * Each transaction also carries the positions it routes to, as offsets of
 * the consumer group (KIP-447), sent with the group's metadata as the
 * consumer knows it at commit time. The group coordinator refuses them
 * from a member it no longer counts: an instance paused or cut off past
 * router.session_timeout, whose partitions others took meanwhile, fails
 * its transaction instead of committing deliveries the new owner makes
 * too, and starts over. Where routing resumes is still the state topic's
 * position entry (state.c); the group's offsets show its lag.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "router.h"
#include "tids/error.h"

#define FLUSH_MS 30000

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- the committer thread ---------------------------------------------------- */

static void wake_router(struct router *rt)
{
	uint64_t one = 1;

	if (write(rt->commit_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		tids_log_warn("router: wake");
}

static void note(uint64_t *hist, int64_t ms)
{
	hist[ms < 0 ? 0 : ms >= TXN_HIST_MS ? TXN_HIST_MS : (size_t)ms]++;
}

/* KIP-447 fencing, above. A transaction with no position to send (no
 * partition held yet) has nothing another instance could route twice. */
static rd_kafka_error_t *send_positions(struct router *rt, const struct txn_slot *s)
{
	rd_kafka_consumer_group_metadata_t *group;
	rd_kafka_error_t *e;

	if (s->offsets == NULL || s->offsets->cnt == 0)
		return NULL;
	group = rd_kafka_consumer_group_metadata(rt->consumer);
	if (group == NULL)
		return rd_kafka_error_new(RD_KAFKA_RESP_ERR__STATE, "the router's consumer has no group");
	e = rd_kafka_send_offsets_to_transaction(s->producer, s->offsets, group, -1);
	rd_kafka_consumer_group_metadata_destroy(group);
	return e;
}

static void *committer_main(void *arg)
{
	struct router *rt = arg;

	pthread_setname_np(pthread_self(), "tidsd-commit");
	pthread_mutex_lock(&rt->txn_lock);
	for (;;) {
		struct txn_slot *s;
		rd_kafka_error_t *e = NULL;
		int64_t t0;
		uint64_t us0;

		while (!rt->txn_quit && rt->txn_qn == 0)
			pthread_cond_wait(&rt->txn_cond, &rt->txn_lock);
		if (rt->txn_qn == 0)
			break;
		s = &rt->slot[rt->txn_q[0]];
		if (!rt->txn_failed) {
			pthread_mutex_unlock(&rt->txn_lock);
			/* Written first, so that the next batch may be produced
			 * behind these messages; then the commit proper. */
			t0 = mono_ms();
			us0 = mono_us();
			if (rd_kafka_flush(s->producer, FLUSH_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
				pthread_mutex_lock(&rt->txn_lock);
				s->flushed = true;
				note(rt->flush_hist, mono_ms() - t0);
				pthread_mutex_unlock(&rt->txn_lock);
				wake_router(rt);
			}
			t0 = mono_ms();
			e = send_positions(rt, s);
			if (e == NULL)
				e = rd_kafka_commit_transaction(s->producer, -1);
			pthread_mutex_lock(&rt->txn_lock);
			if (e != NULL) {
				snprintf(rt->txn_why, sizeof(rt->txn_why), "%s", rd_kafka_error_string(e));
				rt->txn_code = rd_kafka_error_code(e);
				rd_kafka_error_destroy(e);
				rt->txn_failed = true;
			} else {
				/* What the batch counted is counted now that it
				 * is committed (Prometheus, metrics.c). */
				if (s->records > 0)
					metrics_observe_us(&rt->metrics->commit_latency, mono_us() - us0);
				metrics_stage_commit(rt->metrics, &s->stage);
				metrics_add(&rt->metrics->transactions, 1);
				note(rt->commit_hist, mono_ms() - t0);
				note(rt->txn_hist, mono_ms() - s->handed_ms);
				rt->records += s->records;
				rt->transactions++;
			}
		}
		/* After a failure, the transactions behind it are left open:
		 * the router drops their producers, which aborts them. */
		if (rt->txn_failed) {
			metrics_stage_discard(&s->stage);
			metrics_add(&rt->metrics->transaction_failures, 1);
		}
		if (s->offsets != NULL) {
			rd_kafka_topic_partition_list_destroy(s->offsets);
			s->offsets = NULL;
		}
		s->busy = false;
		s->flushed = true;
		rt->txn_q[0] = rt->txn_q[1];
		rt->txn_qn--;
		pthread_cond_broadcast(&rt->txn_cond);
		wake_router(rt);
	}
	pthread_mutex_unlock(&rt->txn_lock);
	return NULL;
}

int txn_init(struct router *rt)
{
	int rc;

	pthread_mutex_init(&rt->txn_lock, NULL);
	pthread_cond_init(&rt->txn_cond, NULL);
	rt->commit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->commit_fd < 0)
		return TIDS_EIO;
	rc = pthread_create(&rt->committer, NULL, committer_main, rt);
	if (rc != 0) {
		tids_log_warnx("router: committer thread: %s", strerror(rc));
		return TIDS_EIO;
	}
	rt->committer_started = true;
	return 0;
}

void txn_free(struct router *rt)
{
	if (rt->committer_started) {
		pthread_mutex_lock(&rt->txn_lock);
		rt->txn_quit = true;
		pthread_cond_broadcast(&rt->txn_cond);
		pthread_mutex_unlock(&rt->txn_lock);
		pthread_join(rt->committer, NULL);
		rt->committer_started = false;
	}
	if (rt->commit_fd >= 0)
		close(rt->commit_fd);
	rt->commit_fd = -1;
}

/* --- the router's side ---------------------------------------------------------- */

int txn_open(struct router *rt, rd_kafka_conf_t *(*conf_for)(struct router *rt, const char *id))
{
	char err[512];

	for (int i = 0; i < TXN_SLOTS; i++) {
		struct txn_slot *s = &rt->slot[i];
		rd_kafka_conf_t *conf;
		rd_kafka_error_t *e;

		/* Ids that this instance has at every start: a transaction
		 * one left open is aborted when it starts again. */
		snprintf(s->id, sizeof(s->id), "%s", rt->txn_ids[i]);
		if ((conf = conf_for(rt, s->id)) == NULL)
			return -1;
		s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
		if (s->producer == NULL) {
			rd_kafka_conf_destroy(conf);
			tids_log_warnx("router: %s", err);
			return -1;
		}
		rd_kafka_set_log_queue(s->producer, NULL);
		s->pq = rd_kafka_queue_get_main(s->producer);
		s->gen = ++rt->producer_gen;
		tids_log_info("router: starting transactions as %s", s->id);
		e = rd_kafka_init_transactions(s->producer, 10000);
		if (e != NULL) {
			tids_log_warnx("router: transactions unavailable: %s", rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			return -1;
		}
	}
	rt->cur = 0;
	rt->producer = rt->slot[0].producer;
	pthread_mutex_lock(&rt->txn_lock);
	rt->txn_failed = false;
	for (int i = 0; i < TXN_SLOTS; i++)
		rt->slot[i].flushed = true;
	pthread_mutex_unlock(&rt->txn_lock);
	return 0;
}

int txn_wait_idle(struct router *rt)
{
	bool failed;

	pthread_mutex_lock(&rt->txn_lock);
	while (rt->txn_qn > 0)
		pthread_cond_wait(&rt->txn_cond, &rt->txn_lock);
	failed = rt->txn_failed;
	pthread_mutex_unlock(&rt->txn_lock);
	return failed ? -1 : 0;
}

void txn_close(struct router *rt)
{
	size_t pos;
	void *t;

	/* Nothing may be committing with a producer that goes. An open
	 * transaction dies with its producer; the next init_transactions
	 * aborts it at the coordinator. */
	txn_wait_idle(rt);
	for (int i = 0; i < TXN_SLOTS; i++) {
		struct txn_slot *s = &rt->slot[i];

		for (pos = 0; (t = tids_map_next(&s->topics, &pos)) != NULL;) {
			rd_kafka_topic_destroy(((struct topic_handle *)t)->rkt);
			free(t);
		}
		tids_map_free(&s->topics);
		if (s->pq != NULL)
			rd_kafka_queue_destroy(s->pq);
		if (s->producer != NULL)
			rd_kafka_destroy(s->producer);
		s->pq = NULL;
		s->producer = NULL;
		s->busy = s->open = false;
	}
	rt->producer = NULL;
}

bool txn_ready(struct router *rt)
{
	bool ready;

	pthread_mutex_lock(&rt->txn_lock);
	/* This producer's last commit is done, and what the other produced
	 * is written: a batch produced now lands behind it. */
	ready = !rt->slot[rt->cur].busy && rt->slot[rt->cur ^ 1].flushed;
	pthread_mutex_unlock(&rt->txn_lock);
	return ready;
}

bool txn_failed(struct router *rt, char *why, size_t len, rd_kafka_resp_err_t *code)
{
	bool failed;

	pthread_mutex_lock(&rt->txn_lock);
	failed = rt->txn_failed;
	if (failed) {
		snprintf(why, len, "%s", rt->txn_why);
		*code = rt->txn_code;
	}
	pthread_mutex_unlock(&rt->txn_lock);
	return failed;
}

rd_kafka_error_t *txn_begin(struct router *rt)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(rt->slot[rt->cur].producer);

	rt->slot[rt->cur].open = e == NULL;
	return e;
}

void txn_abort(struct router *rt)
{
	struct txn_slot *s = &rt->slot[rt->cur];
	rd_kafka_error_t *e;

	if (!s->open)
		return;
	e = rd_kafka_abort_transaction(s->producer, -1);
	if (e != NULL)
		rd_kafka_error_destroy(e);
	s->open = false;
}

void txn_hand_off(struct router *rt, size_t records, rd_kafka_topic_partition_list_t *offsets)
{
	struct txn_slot *s = &rt->slot[rt->cur];

	pthread_mutex_lock(&rt->txn_lock);
	s->offsets = offsets;
	s->busy = true;
	s->flushed = false;
	s->open = false;
	s->records = records;
	s->handed_ms = mono_ms();
	memcpy(&s->stage, &rt->stage, sizeof(s->stage));
	metrics_stage_discard(&rt->stage);
	rt->txn_q[rt->txn_qn++] = rt->cur;
	pthread_cond_broadcast(&rt->txn_cond);
	pthread_mutex_unlock(&rt->txn_lock);
	rt->cur ^= 1;
	rt->producer = rt->slot[rt->cur].producer;
}

static void percentiles(const uint64_t *hist, int64_t *p50, int64_t *p99)
{
	uint64_t n = 0, seen = 0;

	*p50 = *p99 = -1;
	for (size_t i = 0; i <= TXN_HIST_MS; i++)
		n += hist[i];
	for (size_t i = 0; i <= TXN_HIST_MS && n > 0; i++) {
		seen += hist[i];
		if (*p50 < 0 && seen * 2 >= n)
			*p50 = (int64_t)i;
		if (*p99 < 0 && seen * 100 >= n * 99)
			*p99 = (int64_t)i;
	}
}

void txn_log_stats(struct router *rt)
{
	int64_t f50, f99, c50, c99, t50, t99;

	percentiles(rt->flush_hist, &f50, &f99);
	percentiles(rt->commit_hist, &c50, &c99);
	percentiles(rt->txn_hist, &t50, &t99);
	tids_log_info("router: %lu transactions of %.0f records on average; after routing, writing took p50 %lld ms "
		      "(p99 %lld), committing p50 %lld ms (p99 %lld), both p50 %lld ms (p99 %lld)",
		      (unsigned long)rt->transactions,
		      rt->transactions > 0 ? (double)rt->records / (double)rt->transactions : 0.0, (long long)f50,
		      (long long)f99, (long long)c50, (long long)c99, (long long)t50, (long long)t99);
}
