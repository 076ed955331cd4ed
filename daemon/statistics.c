/*
 * Every period's signed statistics (statistics.proto), the hub's side.
 * The indexer, which owns the ledger, counts a period once it has closed
 * (statistics.delay after its end, and the audit topic read up to then),
 * signs the counts with the hub key and hands them here as the record that
 * carries them; ingest publishes it on the ingress topic as a one-record
 * batch of the hub's own (publisher the hub, sequence the period's start),
 * and the router takes it to the hub's regulators and to every peer hub
 * the policies allow (route_statistics.c). A period is published also when
 * the hub decided nothing in it: a period that never comes means a silent
 * hub. Which period comes next is kept in the registry once Kafka has the
 * record; one lost in a crash is made again with the same id, and the
 * router routes only the first.
 *
 * Shared between the main loop and the indexer thread under one lock: the
 * next period to publish and the one record built for it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tids/error.h"
#include "tids/statistics.h"
#include "tidsd.h"

/* After a hub was down: at most this many periods are made afterwards. */
#define BACKFILL_MAX 168
#define RETRY_MS 5000

struct statistics {
	pthread_mutex_t lock;
	int64_t period_ms, delay_ms;        /* copied at start: not reloadable */
	int64_t next_start;                 /* the first period not yet on Kafka */
	uint8_t *ready;                     /* its record, built by the indexer */
	size_t ready_len;
	int64_t ready_start;
	bool in_flight;                     /* produced, awaiting Kafka */
	int64_t retry_at;                   /* mono ms: try again after a failure */
	struct watch w;                     /* eventfd: a record is ready */
	uint64_t published;
};

static int64_t align_down(int64_t t, int64_t period)
{
	return t - (t % period + period) % period;
}

static void produce_ready(struct tidsd *d);

/* Kafka took the record (or refused it). */
static void on_done(struct tidsd *d, int err)
{
	struct statistics *st = d->statistics;
	int64_t start;

	if (st == NULL)
		return;
	pthread_mutex_lock(&st->lock);
	st->in_flight = false;
	start = st->ready_start;
	if (err == 0) {
		free(st->ready);
		st->ready = NULL;
		st->next_start = start + st->period_ms;
		st->published++;
	} else {
		st->retry_at = mono_ms() + RETRY_MS;
	}
	pthread_mutex_unlock(&st->lock);
	if (err != 0) {
		tids_log_warnx("statistics: the period from %lld did not reach Kafka (%s); trying again in %d s",
			       (long long)start, tids_strerror(err), RETRY_MS / 1000);
		return;
	}
	if (store_set_u64(d->store, "statistics", "next", (uint64_t)(start + st->period_ms)) != 0)
		tids_log_warnx("statistics: progress not stored; the period from %lld may be made again", (long long)start);
	tids_log_debug("statistics: period from %lld published", (long long)start);
}

static void produce_ready(struct tidsd *d)
{
	struct statistics *st = d->statistics;
	uint8_t *rec = NULL;
	size_t len = 0;
	int64_t start = 0;
	int r;

	pthread_mutex_lock(&st->lock);
	if (st->ready != NULL && !st->in_flight && mono_ms() >= st->retry_at) {
		rec = st->ready;
		len = st->ready_len;
		start = st->ready_start;
		st->in_flight = true;
	}
	pthread_mutex_unlock(&st->lock);
	if (rec == NULL)
		return;
	/* The record stays st->ready's until Kafka confirms it. */
	r = ingest_hub_record(d, rec, len, (uint64_t)start, on_done);
	if (r != 0)
		on_done(d, r);
}

static void on_ready(struct tidsd *d, struct watch *w, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0) {
		/* Nothing to read: woken for nothing. */
	}
	produce_ready(d);
}

int statistics_init(struct tidsd *d)
{
	struct statistics *st = calloc(1, sizeof(*st));
	int64_t now = now_ms(), current;
	uint64_t next = 0;

	if (st == NULL)
		return TIDS_ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	st->period_ms = d->conf->statistics_period_ms;
	st->delay_ms = d->conf->statistics_delay_ms;
	current = align_down(now, st->period_ms);
	if (store_get_u64(d->store, "statistics", "next", &next) != 0 || next == 0 || (int64_t)next > current) {
		/* A new hub starts with the period it starts in. */
		st->next_start = current;
	} else {
		/* A period changed since: the first whole one after. */
		st->next_start = align_down((int64_t)next + st->period_ms - 1, st->period_ms);
		if ((current - st->next_start) / st->period_ms > BACKFILL_MAX) {
			tids_log_warnx("statistics: the hub was away for %lld periods; only the last %d are made",
				       (long long)((current - st->next_start) / st->period_ms), BACKFILL_MAX);
			st->next_start = current - BACKFILL_MAX * st->period_ms;
		}
	}
	st->w.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	st->w.on_event = on_ready;
	d->statistics = st;
	if (st->w.fd < 0 || loop_add(d, &st->w, EPOLLIN) != 0) {
		tids_log_warn("statistics: eventfd");
		return TIDS_EIO;
	}
	tids_log_info("statistics: every %lld s, %lld s after each period; next the period from %lld",
		      (long long)(st->period_ms / 1000), (long long)(st->delay_ms / 1000), (long long)st->next_start);
	return 0;
}

void statistics_tick(struct tidsd *d)
{
	if (d->statistics != NULL)
		produce_ready(d);
}

void statistics_free(struct tidsd *d)
{
	struct statistics *st = d->statistics;

	if (st == NULL)
		return;
	if (st->w.fd >= 0) {
		loop_del(d, &st->w);
		close(st->w.fd);
	}
	tids_log_info("statistics: %llu periods published this run", (unsigned long long)st->published);
	free(st->ready);
	pthread_mutex_destroy(&st->lock);
	free(st);
	d->statistics = NULL;
}

/* --- the indexer's side (its thread) ------------------------------------------- */

bool statistics_due(struct statistics *st, int64_t now, int64_t *start, int64_t *period_ms, int64_t *delay_ms)
{
	bool due;

	pthread_mutex_lock(&st->lock);
	due = st->ready == NULL && !st->in_flight && now >= st->next_start + st->period_ms + st->delay_ms;
	*start = st->next_start;
	*period_ms = st->period_ms;
	*delay_ms = st->delay_ms;
	pthread_mutex_unlock(&st->lock);
	return due;
}

void statistics_offer(struct statistics *st, int64_t start, uint8_t *record, size_t len)
{
	uint64_t one = 1;

	pthread_mutex_lock(&st->lock);
	if (st->ready == NULL && !st->in_flight && start == st->next_start) {
		st->ready = record;
		st->ready_len = len;
		st->ready_start = start;
		st->retry_at = 0;
		record = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	free(record);
	if (write(st->w.fd, &one, sizeof(one)) < 0) {
		/* The counter is full: the loop is woken already. */
	}
}
