/*
 * A real tidsd for integration tests: its own directory, config, keys and
 * hub id (so topics never collide between tests), started as a process
 * against the test broker, and stopped, killed or restarted on demand.
 * TIDS_TEST_WRAPPER (e.g. "valgrind --error-exitcode=99") wraps it.
 */
#ifndef TIDS_TEST_HUB_H
#define TIDS_TEST_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tids/client.h"
#include "tids/crypto.h"

struct tids_test_hub {
	char dir[256];
	char jurisdiction[16];
	char bootstrap[256];      /* its own broker, or "" for the test broker */
	char conf[300];
	char sock[300];
	char addr[64];            /* 127.0.0.1:PORT */
	char metrics[64];         /* 127.0.0.1:PORT of /metrics and /health */
	char hub_id[64];
	char log[300];
	char instance[32];        /* hub.instance */
	char key_path[300];       /* hub.key, shared by the hub's instances */
	char master_path[300];    /* hub.master_key, shared too */
	pid_t pid;
	uint8_t hub_pk[32];
};

/* Starts a hub with extra config lines appended (may be NULL); waits until
 * it answers on its admin socket. kafka.mode is external on the test
 * broker, policy.dir the default set and state.dir under the hub's own
 * directory, unless extra says otherwise. Returns 0 or -1 (log printed). */
int tids_test_hub_start(struct tids_test_hub *h, const char *extra_conf);
/* Starts another instance of first's hub (same hub id, hub key and master
 * key; its own directory, state, ports and hub.instance). */
int tids_test_hub_join(struct tids_test_hub *h, const struct tids_test_hub *first, const char *instance,
		       const char *extra_conf);
/* As tids_test_hub_start, for a hub of the network: its id starts with
 * name ("hub.sh" gives "hub.sh-PID-N"), its jurisdiction and its Kafka
 * broker (NULL: the test broker) are given. */
int tids_test_hub_start_as(struct tids_test_hub *h, const char *name, const char *jurisdiction,
			   const char *bootstrap, const char *extra_conf);
/* Registers other as a peer of h (its address, key and jurisdiction). */
int tids_test_hub_peer(struct tids_test_hub *h, const struct tids_test_hub *other);
/* The same with a given hub id and listen address (NULL: a fresh one), to
 * put another hub where one was. */
int tids_test_hub_start_at(struct tids_test_hub *h, const char *hub_id, const char *addr, const char *extra_conf);
/* Starts the same hub again (same dir, state and id). */
int tids_test_hub_restart(struct tids_test_hub *h);
/* SIGTERM and wait; returns the exit status (or -1). */
int tids_test_hub_stop(struct tids_test_hub *h);
/* SIGKILL and wait. */
void tids_test_hub_kill(struct tids_test_hub *h);
/* Stops it if running and removes its directory. */
void tids_test_hub_destroy(struct tids_test_hub *h);
bool tids_test_hub_alive(struct tids_test_hub *h);
/* Sends a signal (SIGHUP for reload). */
int tids_test_hub_signal(struct tids_test_hub *h, int sig);

/* A client on the admin socket, or as a participant over TCP. */
struct tids_client *tids_test_hub_admin(struct tids_test_hub *h);
struct tids_client *tids_test_hub_connect(struct tids_test_hub *h, const struct tids_identity *id);

/* Generates an identity and registers it; attrs is "name=value" or NULL. */
int tids_test_hub_participant(struct tids_test_hub *h, const char *id, const char *role, const char *jurisdiction,
			      const char *attr, struct tids_identity *out);
int tids_test_hub_asset(struct tids_test_hub *h, const char *id, const char *lessee, const char *lessor,
			const char *site);

/*
 * Publishes one batch of records of owner, signed by id, until h
 * acknowledges it, as a careful client does: the same sequence and records
 * again after a broken connection, on a new session in *c (NULL: connect
 * first), and, if restart_dead, after starting a hub that died again.
 * Returns how many records the hub accepted, or -1 with err filled when it
 * refused one or did not acknowledge within 600 tries 200 ms apart.
 */
long tids_test_hub_publish_until_acked(struct tids_test_hub *h, struct tids_client **c, const struct tids_identity *id,
				       const char *owner, uint64_t seq, const struct tids_bytes *recs, size_t n,
				       bool restart_dead, char *err, size_t errlen);

/* Counts lines of the hub's log containing needle. */
int tids_test_hub_log_count(struct tids_test_hub *h, const char *needle);
/* Waits until the hub's log has `count` lines containing needle: 0, or
 * -1 after timeout_ms. */
int tids_test_hub_await_log(struct tids_test_hub *h, const char *needle, int count, int timeout_ms);
/* The last lines of h's log on stderr, for whoever reads a failed run. */
void tids_test_hub_log_tail(const struct tids_test_hub *h, int lines);
/* The same, of the lines with none of the words in skip (grep -v -e each; NULL
 * for none): what a failure's output keeps is its last screen, so the
 * sessions' lines of a busy hub must not crowd out the router's. */
void tids_test_hub_log_tail_without(const struct tids_test_hub *h, int lines, const char *const *skip);

/* n (at most 4) distinct free loopback TCP ports, for listeners of our own. */
int tids_test_free_ports(int *ports, int n);

#endif
