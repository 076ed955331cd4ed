/*
 * The ledger's indexer: a consumer of its own reads the audit topic
 * (entries and signed checkpoints) and the ingress topic (the publishers'
 * batch signatures and Merkle paths, for proofs), committed messages only,
 * and writes them into the ledger file in batches. The offsets it consumed
 * are written in the same SQLite transaction, so after a stop or a crash it
 * resumes exactly where the ledger ends.
 *
 * It runs in a thread of its own: indexing costs tens of microseconds of
 * SQLite per entry, several entries per record, and the main loop must keep
 * serving sessions meanwhile. It shares nothing mutable with the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/ledger.h"
#include "tids/seal.h"
#include "tids/secmem.h"
#include "tids/statistics.h"
#include "metrics.h"
#include "tidsd.h"

#define INDEXER_COMMIT_MS 1000      /* a batch is committed this often... */
#define INDEXER_BATCH 50000         /* ...or when it holds this many rows */
#define INDEXER_RETRY_MS 5000       /* after a failed write */
#define INDEXER_DRAIN_MS 3000       /* at stop: read what the router wrote last */

enum { T_AUDIT = TIDS_LEDGER_TOPIC_AUDIT, T_INGRESS = TIDS_LEDGER_TOPIC_INGRESS, N_TOPICS };

struct chain_state {
	uint64_t seq;
	uint8_t head[TIDS_HASH_BYTES];
	bool warned;
};

struct indexer {
	struct tids_ledger *ledger;
	rd_kafka_t *rk;
	struct kafka_read_ahead read_ahead;  /* rk's */
	rd_kafka_queue_t *q;
	int q_pipe[2];                      /* the consumer queue became non-empty */
	int wake_fd;                        /* eventfd: stop */
	pthread_t thread;
	bool started;
	atomic_int stop;
	char topic[N_TOPICS][256];
	int32_t partitions[N_TOPICS];
	int64_t *next[N_TOPICS];            /* next offset per partition, as consumed */
	bool dirty;                         /* offsets moved since the last commit */
	struct chain_state *chains;         /* per audit partition: the chain as seen */
	uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES];
	uint8_t *ingress_key;               /* its own copy, guarded memory */
	uint8_t *plain;                     /* an unsealed ingress record, reused; wiped after each */
	size_t plain_cap;
	bool paused;                        /* a write failed: waiting to retry */
	int64_t retry_at;
	uint64_t entries, checkpoints, ingress, skipped;
	uint64_t uncommitted;               /* entries of the open batch */
	int64_t last_event;                 /* mono ms of the last message */
	int64_t last_lag;                   /* mono ms the lag was measured */
	struct metrics *metrics;

	/* Each period's statistics, counted here once the audit topic has
	 * been read past the period's close (statistics.c publishes them). */
	struct statistics *stats;
	const struct tids_identity *hub;    /* the daemon's (guarded memory); never changes */
	char hub_id[TIDS_ID_MAX + 1], jurisdiction[16], path[4096];
	struct tids_ledger *reader;         /* a read-only connection of its own for counting */
	bool *at_end;                       /* per audit partition: nothing read since its end */
	int64_t *end_at;                    /* wall ms when its end was last reached */
	int64_t failed_start;               /* the period whose counting failed last (said once) */
};

/* --- offsets and batches ------------------------------------------------------ */

static int assign(struct indexer *ix)
{
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(ix->partitions[0] + ix->partitions[1]);
	rd_kafka_resp_err_t err;

	for (int t = 0; t < N_TOPICS; t++)
		for (int32_t p = 0; p < ix->partitions[t]; p++) {
			int64_t next;

			if (tids_ledger_offset(ix->ledger, (enum tids_ledger_topic)t, p, &next) != 0)
				next = RD_KAFKA_OFFSET_BEGINNING;
			ix->next[t][p] = next;
			rd_kafka_topic_partition_list_add(tp, ix->topic[t], p)->offset = next;
		}
	err = rd_kafka_assign(ix->rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		tids_log_warnx("indexer: cannot assign partitions: %s", rd_kafka_err2str(err));
		return TIDS_EKAFKA;
	}
	return 0;
}

/* Loads what the ledger says each chain's head is, for the live check. */
static void load_chains(struct indexer *ix)
{
	for (int32_t p = 0; p < ix->partitions[T_AUDIT]; p++)
		if (tids_ledger_head(ix->ledger, p, &ix->chains[p].seq, ix->chains[p].head) != 0)
			tids_log_warnx("indexer: chain %d: the ledger's last entry does not decode; run "
				       "tidsctl audit verify", (int)p);
}

/* A write failed (disk full, file locked too long): drop the batch, go back
 * to what the ledger holds, and try again later. */
static void fail_batch(struct indexer *ix, const char *why)
{
	tids_log_warnx("indexer: ledger %s: %s; retrying in %d s from the last committed batch",
		       tids_ledger_path(ix->ledger), why, INDEXER_RETRY_MS / 1000);
	tids_ledger_rollback(ix->ledger);
	ix->dirty = false;
	ix->uncommitted = 0;
	ix->paused = true;
	ix->retry_at = mono_ms() + INDEXER_RETRY_MS;
	rd_kafka_assign(ix->rk, NULL);
	load_chains(ix);
}

static void commit(struct indexer *ix)
{
	if (ix->paused)
		return;
	if (ix->dirty) {
		for (int t = 0; t < N_TOPICS; t++)
			for (int32_t p = 0; p < ix->partitions[t]; p++)
				if (ix->next[t][p] >= 0 &&
				    tids_ledger_set_offset(ix->ledger, (enum tids_ledger_topic)t, p, ix->next[t][p]) != 0) {
					fail_batch(ix, "offsets not written");
					return;
				}
		ix->dirty = false;
	}
	if (tids_ledger_commit(ix->ledger) != 0) {
		fail_batch(ix, "commit failed");
		return;
	}
	metrics_add(&ix->metrics->ledger_entries, ix->uncommitted);
	ix->uncommitted = 0;
}

/* Audit topic messages not in the ledger yet: the high watermark of the
 * last fetch less the consumer's position (which steps over transaction
 * markers), or less the next offset to index before anything arrived. */
static void update_lag(struct indexer *ix)
{
	rd_kafka_topic_partition_list_t *tp;
	long lag = 0;

	if (ix->paused)
		return;
	tp = rd_kafka_topic_partition_list_new(ix->partitions[T_AUDIT]);
	for (int32_t p = 0; p < ix->partitions[T_AUDIT]; p++)
		rd_kafka_topic_partition_list_add(tp, ix->topic[T_AUDIT], p);
	if (rd_kafka_position(ix->rk, tp) != RD_KAFKA_RESP_ERR_NO_ERROR)
		lag = -1;
	for (int i = 0; lag >= 0 && i < tp->cnt; i++) {
		int64_t lo, hi, pos = tp->elems[i].offset;

		if (rd_kafka_get_watermark_offsets(ix->rk, ix->topic[T_AUDIT], tp->elems[i].partition, &lo, &hi) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0) {
			lag = -1;
			break;
		}
		if (pos < 0)
			pos = ix->next[T_AUDIT][tp->elems[i].partition] >= 0 ? ix->next[T_AUDIT][tp->elems[i].partition] : lo;
		if (hi > pos)
			lag += (long)(hi - pos);
	}
	rd_kafka_topic_partition_list_destroy(tp);
	atomic_store_explicit(&ix->metrics->indexer_lag, lag, memory_order_relaxed);
}

/* --- messages ----------------------------------------------------------------- */

/* The chain as it arrives: Kafka is trusted with neither plaintext nor
 * integrity, so a gap or a break is said at once (the ledger keeps what
 * came; tidsctl audit verify names it later). */
static void follow_chain(struct indexer *ix, int32_t p, const uint8_t *bytes, size_t len)
{
	struct chain_state *c = &ix->chains[p];
	uint8_t prev[TIDS_HASH_BYTES];
	int32_t partition;
	uint64_t seq;

	if (tids_ledger_peek_entry(bytes, len, &partition, &seq, prev) != 0)
		return;
	if (seq <= c->seq)
		return;              /* read again after a restart of ours: already indexed */
	if (seq != c->seq + 1 || sodium_memcmp(prev, c->head, TIDS_HASH_BYTES) != 0) {
		if (!c->warned)
			tids_log_warnx("indexer: audit chain %d: entry %llu does not follow entry %llu as indexed "
				       "(entries lost or altered on Kafka?)", (int)p, (unsigned long long)seq,
				       (unsigned long long)c->seq);
		c->warned = true;
		memcpy(c->head, prev, TIDS_HASH_BYTES);
	}
	{
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, c->head, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, bytes, len);
		crypto_generichash_final(&st, c->head, TIDS_HASH_BYTES);
	}
	c->seq = seq;
}

static int on_audit(struct indexer *ix, const rd_kafka_message_t *m)
{
	struct tids_audit_log_record lr;
	char err[256];
	int r;

	if (tids_wire_decode_audit_log_record(m->payload, m->len, &lr, err, sizeof(err)) != 0) {
		tids_log_warnx("indexer: audit %d/%lld is not an audit record (%s); not indexed", (int)m->partition,
			       (long long)m->offset, err);
		ix->skipped++;
		return 0;
	}
	if (lr.is_checkpoint) {
		const struct chain_state *c = &ix->chains[m->partition];

		if (lr.checkpoint.partition != m->partition || (lr.checkpoint.seq == c->seq &&
		    sodium_memcmp(lr.checkpoint.head_hash, c->head, TIDS_HASH_BYTES) != 0))
			tids_log_warnx("indexer: checkpoint %d:%llu does not match the chain as indexed",
				       (int)lr.checkpoint.partition, (unsigned long long)lr.checkpoint.seq);
		r = tids_ledger_add_checkpoint(ix->ledger, &lr.checkpoint, err, sizeof(err));
		if (r == 0)
			ix->checkpoints++;
	} else {
		r = 0;
		for (size_t i = 0; i < lr.n_entries && (r == 0 || r == TIDS_EEXIST); i++) {
			const struct tids_bytes *e = &lr.entries[i];

			r = tids_ledger_add_entry(ix->ledger, e->data, e->len, err, sizeof(err));
			if (r == 0 || r == TIDS_EEXIST)
				follow_chain(ix, m->partition, e->data, e->len);
			if (r == 0) {
				ix->entries++;
				ix->uncommitted++;
			}
		}
		if (r == TIDS_EEXIST)
			r = 0;
	}
	tids_audit_log_record_free(&lr);
	if (r == TIDS_EDB) {
		fail_batch(ix, err);
		return r;
	}
	if (r != 0) {
		/* A fork or an entry the gate refuses: evidence of something
		 * wrong upstream, which verify will name; keep going. */
		tids_log_warnx("indexer: audit %d/%lld not indexed: %s", (int)m->partition, (long long)m->offset, err);
		ix->skipped++;
	}
	return 0;
}

/* Room for an unsealed record of len bytes: the buffer grows to the
 * largest record seen instead of one allocation per record. */
static uint8_t *plain_buffer(struct indexer *ix, size_t len)
{
	uint8_t *p;

	if (len <= ix->plain_cap)
		return ix->plain;
	if ((p = malloc(len)) == NULL)
		return NULL;
	if (ix->plain != NULL) {
		sodium_memzero(ix->plain, ix->plain_cap);
		free(ix->plain);
	}
	ix->plain = p;
	ix->plain_cap = len;
	return p;
}

static int on_ingress(struct indexer *ix, const rd_kafka_message_t *m)
{
	struct tids_ingress_record ir;
	uint8_t leaf[TIDS_HASH_BYTES], *plain = NULL, ad[TIDS_SEAL_AD_MAX];
	const uint8_t *leaf_p = NULL;
	size_t plen = 0, ad_len;
	char err[256];
	int r;

	if (tids_wire_decode_ingress_record(m->payload, m->len, &ir, err, sizeof(err)) != 0) {
		tids_log_warnx("indexer: ingress %d/%lld does not decode (%s); no proof material kept",
			       (int)m->partition, (long long)m->offset, err);
		ix->skipped++;
		return 0;
	}
	if (!ir.sealed) {
		tids_merkle_leaf_hash(ir.record.data, ir.record.len, leaf);
		leaf_p = leaf;
	} else if (ir.record.len > TIDS_SEAL_OVERHEAD &&
		   (ad_len = tids_seal_ad(ad, TIDS_SEAL_KIND_INGRESS, ix->topic[T_INGRESS], ir.publisher, "",
					  ir.record_id)) > 0 &&
		   (plain = plain_buffer(ix, ir.record.len)) != NULL &&
		   tids_seal_open(ix->ingress_key, ad, ad_len, ir.record.data, ir.record.len, plain, &plen) == 0) {
		/* Only the leaf hash of a sealed record is kept, never its
		 * plaintext. */
		tids_merkle_leaf_hash(plain, plen, leaf);
		leaf_p = leaf;
	}
	if (plain != NULL)
		sodium_memzero(plain, ir.record.len);
	if (ir.forwarded.present) {
		/* From a peer hub: the leaf is the record as its publisher
		 * signed it, which a transformed record is not (its bytes are
		 * then not kept as the leaf's); an aggregate has none. */
		leaf_p = *ir.publisher != '\0' ? ir.forwarded.leaf_hash : NULL;
		if (ir.forwarded.decision != TIDS_DECISION_ALLOW)
			ir.sealed = true;
	}
	/* The Merkle path is not checked here: ingest (or, for a forward,
	 * the link's import) checked the batch, and a proof that rests on
	 * this material checks the path again (tidsctl audit check-proof),
	 * where it matters. */
	r = tids_ledger_add_ingress(ix->ledger, m->partition, m->offset, &ir, leaf_p, err, sizeof(err));
	tids_ingress_record_free(&ir);
	if (r != 0) {
		fail_batch(ix, err);
		return r;
	}
	ix->ingress++;
	return 0;
}

static void on_message(struct indexer *ix, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	int t = strcmp(topic, ix->topic[T_AUDIT]) == 0 ? T_AUDIT : T_INGRESS;
	int r;

	if (m->partition < 0 || m->partition >= ix->partitions[t])
		return;
	if (t == T_AUDIT)
		ix->at_end[m->partition] = false;
	if (m->offset < ix->next[t][m->partition] && ix->next[t][m->partition] >= 0)
		return;                      /* fetched before a re-assign */
	r = t == T_AUDIT ? on_audit(ix, m) : on_ingress(ix, m);
	if (r != 0)
		return;
	ix->next[t][m->partition] = m->offset + 1;
	ix->dirty = true;
	ix->last_event = mono_ms();
	if (tids_ledger_pending(ix->ledger) >= INDEXER_BATCH)
		commit(ix);
}

/* The end of a partition was reached: everything committed on it up to
 * now is read (an audit partition's end tells when a period is). */
static void at_end(struct indexer *ix, const char *topic, int32_t partition)
{
	if (topic != NULL && strcmp(topic, ix->topic[T_AUDIT]) == 0 && partition >= 0 &&
	    partition < ix->partitions[T_AUDIT]) {
		ix->at_end[partition] = true;
		ix->end_at[partition] = now_ms();
	}
}

static void on_event(struct tidsd *d, rd_kafka_event_t *ev, void *ctx)
{
	struct indexer *ix = ctx;
	const rd_kafka_message_t *m;

	/* The consumer's queue says so as an error event, which is none. */
	if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR &&
	    rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		rd_kafka_topic_partition_t *tp = rd_kafka_event_topic_partition(ev);

		if (tp != NULL) {
			at_end(ix, tp->topic, tp->partition);
			rd_kafka_topic_partition_destroy(tp);
		}
		return;
	}
	if (kafka_log_event(d, ev) || rd_kafka_event_type(ev) != RD_KAFKA_EVENT_FETCH)
		return;
	while ((m = rd_kafka_event_message_next(ev)) != NULL) {
		if (ix->paused)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			at_end(ix, m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : NULL, m->partition);
			continue;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			tids_log_warnx("indexer: %s", rd_kafka_message_errstr(m));
			continue;
		}
		kafka_took(&ix->read_ahead, m);
		on_message(ix, m);
	}
}

/* Has every audit partition been read up to a moment past cutoff? One
 * whose end was reached after it, or that has been at its end since
 * before and is still (a second later: fetches take that much at most). */
static bool read_past(const struct indexer *ix, int64_t cutoff, int64_t now)
{
	for (int32_t p = 0; p < ix->partitions[T_AUDIT]; p++)
		if (ix->end_at[p] < cutoff && !(ix->at_end[p] && now >= cutoff + 1000))
			return false;
	return true;
}

/* The next period's statistics, once it has closed: every decision of it
 * is on the audit topic statistics.delay after its end (a router
 * transaction takes less), and in the ledger once read up to then. */
static void count_period(struct indexer *ix)
{
	struct tids_statistics_request rq = { .hub_id = ix->hub_id, .jurisdiction = ix->jurisdiction };
	int64_t now = now_ms();
	uint8_t *rec;
	size_t len;
	char err[512];
	int r;

	if (ix->stats == NULL || ix->paused ||
	    !statistics_due(ix->stats, now, &rq.period_start_ms, &rq.period_ms, &rq.delay_ms) ||
	    !read_past(ix, rq.period_start_ms + rq.period_ms + rq.delay_ms, now))
		return;
	if (ix->reader == NULL &&
	    (r = tids_ledger_open(ix->path, TIDS_LEDGER_RDONLY, &ix->reader, err, sizeof(err))) != 0) {
		if (ix->failed_start != rq.period_start_ms)
			tids_log_warnx("indexer: statistics: %s", err);
		ix->failed_start = rq.period_start_ms;
		return;
	}
	rq.signed_at_ms = now;
	if ((r = tids_ledger_statistics(ix->reader, &rq, ix->hub, &rec, &len, err, sizeof(err))) != 0) {
		if (ix->failed_start != rq.period_start_ms)
			tids_log_warnx("indexer: statistics not made, trying again: %s", err);
		ix->failed_start = rq.period_start_ms;
		return;
	}
	statistics_offer(ix->stats, rq.period_start_ms, rec, len);
}

/* Every INDEXER_COMMIT_MS: commit the batch, or retry after a failure. */
static void tick(struct indexer *ix)
{
	if (ix->paused) {
		if (mono_ms() < ix->retry_at)
			return;
		ix->paused = false;
		if (assign(ix) != 0) {
			ix->paused = true;
			ix->retry_at = mono_ms() + INDEXER_RETRY_MS;
		}
		return;
	}
	commit(ix);
	if (mono_ms() - ix->last_lag >= 1000) {
		ix->last_lag = mono_ms();
		update_lag(ix);
	}
	count_period(ix);
}

static void take_events(struct indexer *ix, int timeout_ms)
{
	rd_kafka_event_t *ev;

	while ((ev = rd_kafka_queue_poll(ix->q, timeout_ms)) != NULL) {
		on_event(NULL, ev, ix);
		rd_kafka_event_destroy(ev);
		timeout_ms = 0;
	}
}

static void *indexer_main(void *arg)
{
	struct indexer *ix = arg;
	int64_t next_tick = mono_ms() + INDEXER_COMMIT_MS, until;
	char buf[64];

	pthread_setname_np(pthread_self(), "tidsd-indexer");
	while (!ix->stop) {
		struct pollfd fds[2] = { { ix->q_pipe[0], POLLIN, 0 }, { ix->wake_fd, POLLIN, 0 } };
		int64_t wait = next_tick - mono_ms();

		if (poll(fds, 2, wait > 0 ? (int)wait : 0) < 0 && errno != EINTR)
			break;
		while (read(ix->q_pipe[0], buf, sizeof(buf)) > 0)
			;
		/* The pipe fires when the queue becomes non-empty: drain it. */
		take_events(ix, 0);
		if (!ix->paused)
			kafka_ran_dry(&ix->read_ahead);
		if (mono_ms() >= next_tick) {
			tick(ix);
			next_tick = mono_ms() + INDEXER_COMMIT_MS;
		}
	}
	/* The router has stopped: take what it committed last, until the
	 * topics go quiet, so that a stopped hub's ledger is complete. */
	until = mono_ms() + INDEXER_DRAIN_MS;
	ix->last_event = mono_ms();
	while (!ix->paused && mono_ms() < until && mono_ms() - ix->last_event < 500)
		take_events(ix, 100);
	commit(ix);
	return NULL;
}

/* --- setup --------------------------------------------------------------------- */

static int32_t partition_count(rd_kafka_t *rk, const char *topic, int32_t fallback)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int32_t n = fallback;

	if (rkt != NULL && rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
	    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0)
		n = md->topics[0].partition_cnt;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	return n;
}

static int open_consumer(struct tidsd *d, struct indexer *ix)
{
	char err[512], group[300];
	rd_kafka_conf_t *conf = kafka_conf(d, RD_KAFKA_CONSUMER, err, sizeof(err));

	if (conf == NULL) {
		tids_log_warnx("indexer: %s", err);
		return TIDS_EKAFKA;
	}
	/* assign, never commit: the ledger keeps the offsets. */
	kafka_group_name(d, KG_INDEXER, NULL, group, sizeof(group));
	if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "50", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    /* Reaching the end of the audit topic says when a period is all read. */
	    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
	    kafka_conf_read_ahead(conf, &ix->read_ahead, d->conf->indexer_prefetch,
				  &d->metrics->fetch_wakes[MR_INDEXER], err, sizeof(err)) != 0) {
		rd_kafka_conf_destroy(conf);
		tids_log_warnx("indexer: %s", err);
		return TIDS_EKAFKA;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG);
	ix->rk = kafka_client(d, RD_KAFKA_CONSUMER, "indexer", conf, err, sizeof(err));
	if (ix->rk == NULL) {
		tids_log_warnx("indexer: %s", err);
		return TIDS_EKAFKA;
	}
	kafka_read_ahead_start(&ix->read_ahead, ix->rk);
	return 0;
}

static int start(struct tidsd *d, struct indexer *ix)
{
	char path[4096], err[512];
	int r;

	config_state_path(d->conf, "ledger.db", path, sizeof(path));
	if ((r = tids_ledger_open(path, TIDS_LEDGER_WRITE, &ix->ledger, err, sizeof(err))) != 0) {
		tids_log_warnx("indexer: %s", err);
		return r;
	}
	if (tids_ledger_set_cache(ix->ledger, d->conf->ledger_cache) != 0)
		tids_log_warnx("indexer: %s: page cache not set", path);
	memcpy(ix->hub_pk, d->hub.sign_pk, sizeof(ix->hub_pk));
	ix->metrics = d->metrics;
	if (tids_ledger_set_hub(ix->ledger, d->conf->hub_id, d->hub.sign_pk) != 0 || tids_ledger_commit(ix->ledger) != 0) {
		tids_log_warnx("indexer: %s: cannot record the hub", path);
		return TIDS_EDB;
	}
	if ((ix->ingress_key = tids_secmem_alloc(TIDS_SEAL_KEY_BYTES)) == NULL)
		return TIDS_ENOMEM;
	memcpy(ix->ingress_key, keys_ingress(d), TIDS_SEAL_KEY_BYTES);
	kafka_topic_name(d, KT_AUDIT, NULL, ix->topic[T_AUDIT], sizeof(ix->topic[T_AUDIT]));
	kafka_topic_name(d, KT_INGRESS, NULL, ix->topic[T_INGRESS], sizeof(ix->topic[T_INGRESS]));
	if ((r = open_consumer(d, ix)) != 0)
		return r;
	for (int t = 0; t < N_TOPICS; t++) {
		ix->partitions[t] = partition_count(ix->rk, ix->topic[t], (int32_t)d->conf->partitions);
		ix->next[t] = calloc((size_t)ix->partitions[t], sizeof(int64_t));
		if (ix->next[t] == NULL)
			return TIDS_ENOMEM;
	}
	ix->chains = calloc((size_t)ix->partitions[T_AUDIT], sizeof(*ix->chains));
	ix->at_end = calloc((size_t)ix->partitions[T_AUDIT], sizeof(*ix->at_end));
	ix->end_at = calloc((size_t)ix->partitions[T_AUDIT], sizeof(*ix->end_at));
	if (ix->chains == NULL || ix->at_end == NULL || ix->end_at == NULL)
		return TIDS_ENOMEM;
	ix->stats = d->statistics;
	ix->hub = &d->hub;
	snprintf(ix->hub_id, sizeof(ix->hub_id), "%s", d->conf->hub_id);
	snprintf(ix->jurisdiction, sizeof(ix->jurisdiction), "%s", d->conf->jurisdiction);
	snprintf(ix->path, sizeof(ix->path), "%s", path);
	load_chains(ix);
	if ((r = assign(ix)) != 0)
		return r;
	if (pipe2(ix->q_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    (ix->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return TIDS_EIO;
	ix->q = rd_kafka_queue_get_consumer(ix->rk);
	rd_kafka_queue_io_event_enable(ix->q, ix->q_pipe[1], "1", 1);
	if ((r = pthread_create(&ix->thread, NULL, indexer_main, ix)) != 0) {
		tids_log_warnx("indexer: thread: %s", strerror(r));
		return TIDS_EIO;
	}
	ix->started = true;
	tids_log_info("indexer: %s from %s (%d partitions) and %s (%d)", path, ix->topic[T_AUDIT],
		      (int)ix->partitions[T_AUDIT], ix->topic[T_INGRESS], (int)ix->partitions[T_INGRESS]);
	return 0;
}

static void destroy(struct indexer *ix)
{
	if (ix->q != NULL) {
		rd_kafka_queue_io_event_enable(ix->q, -1, NULL, 0);
		rd_kafka_queue_destroy(ix->q);
	}
	if (ix->rk != NULL) {
		rd_kafka_consumer_close(ix->rk);
		rd_kafka_destroy(ix->rk);
	}
	if (ix->q_pipe[0] >= 0) {
		close(ix->q_pipe[0]);
		close(ix->q_pipe[1]);
	}
	if (ix->wake_fd >= 0)
		close(ix->wake_fd);
	tids_ledger_close(ix->ledger);
	tids_ledger_close(ix->reader);
	tids_secmem_free(ix->ingress_key);
	if (ix->plain != NULL) {
		sodium_memzero(ix->plain, ix->plain_cap);
		free(ix->plain);
	}
	for (int t = 0; t < N_TOPICS; t++)
		free(ix->next[t]);
	free(ix->chains);
	free(ix->at_end);
	free(ix->end_at);
	free(ix);
}

int indexer_init(struct tidsd *d)
{
	struct indexer *ix = calloc(1, sizeof(*ix));
	int r;

	if (ix == NULL)
		return TIDS_ENOMEM;
	ix->q_pipe[0] = ix->q_pipe[1] = ix->wake_fd = -1;
	if ((r = start(d, ix)) != 0) {
		destroy(ix);
		return r;
	}
	d->indexer = ix;
	return 0;
}

void indexer_free(struct tidsd *d)
{
	struct indexer *ix = d->indexer;
	uint64_t one = 1;

	if (ix == NULL)
		return;
	if (ix->started) {
		ix->stop = 1;
		if (write(ix->wake_fd, &one, sizeof(one)) < 0)
			tids_log_warn("indexer: wake");
		pthread_join(ix->thread, NULL);
	}
	tids_log_info("indexer: stopped; %llu entries, %llu checkpoints, %llu publications indexed this run%s",
		      (unsigned long long)ix->entries, (unsigned long long)ix->checkpoints,
		      (unsigned long long)ix->ingress, ix->skipped > 0 ? " (some messages skipped: see above)" : "");
	destroy(ix);
	d->indexer = NULL;
}
