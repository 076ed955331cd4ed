/*
 * Host names resolved on a thread, so that an event loop never waits for a
 * name server: the lookup and its caller share one small struct, freed by
 * whichever of the two lets go of it last.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/resolve.h"

struct tids_resolve {
	atomic_int refs;              /* the thread's and the caller's */
	atomic_bool done;
	tids_resolve_fn *fn;
	char host[256];
	char port[16];
	struct addrinfo *ai;          /* the answer, until the caller takes it */
	int rc;
	bool taken;
};

static void unref(struct tids_resolve *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	/* Nobody took the answer: the caller dropped the lookup first. */
	if (r->ai != NULL && !r->taken)
		freeaddrinfo(r->ai);
	free(r);
}

static void *lookup(void *arg)
{
	struct tids_resolve *r = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };

	r->rc = r->fn(r->host, r->port, &hints, &r->ai);
	if (r->rc != 0)
		r->ai = NULL;
	atomic_store(&r->done, true);
	unref(r);
	return NULL;
}

struct tids_resolve *tids_resolve_start(const char *host, const char *port, tids_resolve_fn *fn)
{
	struct tids_resolve *r;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	if (strlen(host) >= sizeof(r->host) || strlen(port) >= sizeof(r->port))
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(r->port, sizeof(r->port), "%s", port);
	r->fn = fn != NULL ? fn : getaddrinfo;
	atomic_init(&r->refs, 2);
	atomic_init(&r->done, false);
	if (pthread_attr_init(&attr) != 0) {
		free(r);
		return NULL;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* A small stack: it only waits for the resolver. */
	pthread_attr_setstacksize(&attr, 256 * 1024);
	err = pthread_create(&t, &attr, lookup, r);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		free(r);
		return NULL;
	}
	return r;
}

int tids_resolve_poll(struct tids_resolve *r, struct addrinfo **ai, int *rc)
{
	if (!atomic_load(&r->done))
		return 0;
	*ai = r->taken ? NULL : r->ai;
	*rc = r->rc;
	r->taken = true;
	return 1;
}

void tids_resolve_drop(struct tids_resolve *r)
{
	if (r != NULL)
		unref(r);
}
