/*
 * Connection budgets. A connection that has not finished its handshake has
 * proved nothing, so it may not hold a slot that others need: handshakes
 * are capped overall and per source address, and when a budget is full
 * the oldest handshake is dropped for the newcomer (those that have sent
 * nothing before those that have). Authenticated sessions
 * are never dropped to make room, and the admin socket has a budget of its
 * own (limits.max_admin_connections), so no flood of TCP connections can
 * lock out participants that have a key or the operator.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "tids/error.h"
#include "tids/map.h"
#include "tidsd.h"

enum { ALL = 0, ADDR = 1 };

struct hs_list {
	struct session *head, *tail;
	size_t n;
};

/* The handshakes of one source address. */
struct hs_addr {
	struct addr_key key;
	struct hs_list idle, started;
};

struct budget {
	struct hs_list idle, started;     /* every handshake, by whether it began */
	struct tids_map by_addr;          /* addr_key bytes -> struct hs_addr */
	unsigned long dropped;            /* since the last warning */
	int64_t logged;                   /* mono ms of that warning */
};

#define DROP_LOG_MS 60000

void budget_addr_key(const struct sockaddr_storage *ss, struct addr_key *k)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(k, 0, sizeof(*k));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		k->b[0] = 4;
		memcpy(k->b + 1, &sin->sin_addr, 4);
		k->len = 5;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		const uint8_t *a = sin6->sin6_addr.s6_addr;

		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			k->b[0] = 4;
			memcpy(k->b + 1, a + 12, 4);
			k->len = 5;
		} else {
			/* One holder of a /64 has all of its addresses. */
			k->b[0] = 6;
			memcpy(k->b + 1, a, 8);
			k->len = 9;
		}
	} else {
		k->len = 1;
	}
}

static struct budget *budget_get(struct tidsd *d)
{
	if (d->budget == NULL)
		d->budget = calloc(1, sizeof(*d->budget));
	return d->budget;
}

static void list_append(struct hs_list *l, struct session *s, int i)
{
	s->slot.prev[i] = l->tail;
	s->slot.next[i] = NULL;
	if (l->tail != NULL)
		l->tail->slot.next[i] = s;
	else
		l->head = s;
	l->tail = s;
	l->n++;
}

static void list_unlink(struct hs_list *l, struct session *s, int i)
{
	if (s->slot.prev[i] != NULL)
		s->slot.prev[i]->slot.next[i] = s->slot.next[i];
	else
		l->head = s->slot.next[i];
	if (s->slot.next[i] != NULL)
		s->slot.next[i]->slot.prev[i] = s->slot.prev[i];
	else
		l->tail = s->slot.prev[i];
	s->slot.prev[i] = s->slot.next[i] = NULL;
	l->n--;
}

size_t budget_handshakes(const struct tidsd *d)
{
	return d->budget != NULL ? d->budget->idle.n + d->budget->started.n : 0;
}

static size_t addr_handshakes(const struct hs_addr *a)
{
	return a->idle.n + a->started.n;
}

/*
 * The handshake to drop first: the oldest that has sent nothing, else the
 * oldest. Under a flood we may be behind in reading: a connection whose
 * bytes wait unread has begun, whatever we know of it yet.
 */
static struct session *victim(struct tidsd *d, struct hs_list *idle, struct hs_list *started)
{
	while (idle->head != NULL) {
		struct session *s = idle->head;
		char c;

		if (recv(s->w.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
			return s;
		budget_handshake_started(d, s);
	}
	return started->head;
}

/*
 * It proved nothing, so it is told nothing. Under a flood this happens
 * thousands of times a second: each is a debug line, and a warning sums
 * them up once a minute at most.
 */
static void drop(struct tidsd *d, struct session *s, const char *why)
{
	struct budget *b = d->budget;
	int64_t now = mono_ms();

	tids_log_debug("session %lu (%s): %s", s->id, s->peer, why);
	session_close(d, s, NULL);
	b->dropped++;
	if (b->logged == 0 || now - b->logged >= DROP_LOG_MS) {
		tids_log_warnx("%lu connections that had not finished their handshake dropped for newer ones; "
			       "the last: %s", b->dropped, why);
		b->logged = now;
		b->dropped = 0;
	}
}

int budget_admit_tcp(struct tidsd *d, const struct addr_key *k, char *why, size_t whylen)
{
	struct budget *b = budget_get(d);
	struct hs_addr *a;

	if (b == NULL)
		return tids_fail(why, whylen, TIDS_ENOMEM, "out of memory");
	a = tids_map_get(&b->by_addr, k->b, k->len);
	if (a != NULL && (int64_t)addr_handshakes(a) >= d->conf->max_handshakes_per_address)
		drop(d, victim(d, &a->idle, &a->started),
		     "dropped for a newer connection from its address (limits.max_handshakes_per_address)");
	if ((int64_t)budget_handshakes(d) >= d->conf->max_handshakes)
		drop(d, victim(d, &b->idle, &b->started), "dropped for a newer connection (limits.max_handshakes)");
	if ((int64_t)d->n_tcp >= d->conf->max_connections) {
		if (budget_handshakes(d) == 0)
			return tids_fail(why, whylen, TIDS_EAGAIN,
					 "refused, %zu authenticated connections open (limits.max_connections)", d->n_tcp);
		drop(d, victim(d, &b->idle, &b->started), "dropped for a newer connection (limits.max_connections)");
	}
	return 0;
}

bool budget_admit_local(const struct tidsd *d)
{
	return (int64_t)d->n_local < d->conf->max_admin_connections;
}

int budget_handshake_begin(struct tidsd *d, struct session *s, const struct addr_key *k)
{
	struct budget *b = budget_get(d);
	struct hs_addr *a;

	if (b == NULL)
		return TIDS_ENOMEM;
	a = tids_map_get(&b->by_addr, k->b, k->len);
	if (a == NULL) {
		a = calloc(1, sizeof(*a));
		if (a == NULL)
			return TIDS_ENOMEM;
		a->key = *k;
		if (tids_map_put(&b->by_addr, a->key.b, a->key.len, a, NULL) != 0) {
			free(a);
			return TIDS_ENOMEM;
		}
	}
	memset(&s->slot, 0, sizeof(s->slot));
	s->slot.addr = a;
	s->slot.listed = true;
	list_append(&b->idle, s, ALL);
	list_append(&a->idle, s, ADDR);
	return 0;
}

void budget_handshake_started(struct tidsd *d, struct session *s)
{
	struct budget *b = d->budget;
	struct hs_addr *a = s->slot.addr;

	if (!s->slot.listed || s->slot.started)
		return;
	list_unlink(&b->idle, s, ALL);
	list_unlink(&a->idle, s, ADDR);
	s->slot.started = true;
	list_append(&b->started, s, ALL);
	list_append(&a->started, s, ADDR);
}

void budget_handshake_end(struct tidsd *d, struct session *s)
{
	struct budget *b = d->budget;
	struct hs_addr *a = s->slot.addr;

	if (!s->slot.listed)
		return;
	list_unlink(s->slot.started ? &b->started : &b->idle, s, ALL);
	list_unlink(s->slot.started ? &a->started : &a->idle, s, ADDR);
	s->slot.listed = false;
	s->slot.addr = NULL;
	if (addr_handshakes(a) == 0) {
		tids_map_remove(&b->by_addr, a->key.b, a->key.len);
		free(a);
	}
}

bool budget_drop_oldest(struct tidsd *d, const char *why)
{
	struct session *s;

	if (budget_handshakes(d) == 0)
		return false;
	s = victim(d, &d->budget->idle, &d->budget->started);
	drop(d, s, why);
	return true;
}

void budget_free(struct tidsd *d)
{
	size_t pos = 0;
	void *v;

	if (d->budget == NULL)
		return;
	while ((v = tids_map_next(&d->budget->by_addr, &pos)) != NULL)
		free(v);
	tids_map_free(&d->budget->by_addr);
	free(d->budget);
	d->budget = NULL;
}
