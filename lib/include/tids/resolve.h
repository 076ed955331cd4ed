/*
 * Resolving a host name without blocking the caller: the lookup runs on a
 * thread of its own, and the caller polls for the answer (tidsd's event
 * loop does, at each tick, for the peers it dials). A lookup the caller
 * gives up on is dropped: the thread frees it when it ends.
 */
#ifndef TIDS_RESOLVE_H
#define TIDS_RESOLVE_H

#include <netdb.h>

struct tids_resolve;

/* What does the lookup (getaddrinfo by default; tests give one that waits). */
typedef int tids_resolve_fn(const char *host, const char *port, const struct addrinfo *hints,
			    struct addrinfo **res);

/* Starts resolving host:port (numeric port, SOCK_STREAM); NULL when no
 * thread could be started (out of memory or threads). fn NULL: getaddrinfo. */
struct tids_resolve *tids_resolve_start(const char *host, const char *port, tids_resolve_fn *fn);

/* 0 while the lookup runs; 1 once it is done: *ai is the answer (the
 * caller frees it with freeaddrinfo) or NULL with *rc its getaddrinfo
 * error. After 1 the lookup is spent: drop it. */
int tids_resolve_poll(struct tids_resolve *r, struct addrinfo **ai, int *rc);

/* The caller is done with it (done or not). */
void tids_resolve_drop(struct tids_resolve *r);

#endif
