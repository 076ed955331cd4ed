/*
 * tidsctl's private header: one function per command (argv[0] is the
 * command's name, the return value the exit status), and the helpers the
 * commands share to connect, read keys and print.
 */
#ifndef TIDSCTL_H
#define TIDSCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tids/client.h"
#include "tids/crypto.h"
#include "tids/json.h"

#define TIDSCTL_DEFAULT_SOCKET "/run/tids/tidsd.sock"

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int tidsctl_keygen(int argc, char **argv);
int tidsctl_admin(int argc, char **argv);
int tidsctl_peers(int argc, char **argv);
int tidsctl_ping(int argc, char **argv);
int tidsctl_publish(int argc, char **argv);
int tidsctl_subscribe(int argc, char **argv);
int tidsctl_grant(int argc, char **argv);
int tidsctl_revoke(int argc, char **argv);
int tidsctl_approve(int argc, char **argv);
int tidsctl_policy(int argc, char **argv);
int tidsctl_audit(int argc, char **argv);
int tidsctl_monitor(int argc, char **argv);

/* How to reach the hub: --hub, --key, --hub-key, --known-hubs, --no-tofu,
 * --timeout (with TIDS_HUB, TIDS_KEY, TIDS_HUB_KEY and TIDS_KNOWN_HUBS as
 * defaults). */
struct conn_opts {
	const char *hub;
	const char *key;
	const char *hub_key;
	const char *known_hubs;        /* NULL: the default file */
	bool no_tofu;
	int timeout_ms;
	bool json;                     /* --json: results as one JSON object per line */
};

/* getopt_long entries for conn_opts; codes 1000-1006. */
#define CONN_LONG_OPTIONS \
	{ "hub", required_argument, NULL, 1000 }, \
	{ "key", required_argument, NULL, 1001 }, \
	{ "hub-key", required_argument, NULL, 1002 }, \
	{ "timeout", required_argument, NULL, 1003 }, \
	{ "json", no_argument, NULL, 1004 }, \
	{ "known-hubs", required_argument, NULL, 1005 }, \
	{ "no-tofu", no_argument, NULL, 1006 }
#define CONN_HELP \
	"  --hub ADDR         host:port of the hub, or its local socket path (TIDS_HUB)\n" \
	"  --key FILE         your identity key file, for host:port (TIDS_KEY)\n" \
	"  --hub-key KEY      the hub's public key (base64 or @file.pub); refuse any other hub\n" \
	"                     (TIDS_HUB_KEY); the known-hubs file is then not used\n" \
	"  --known-hubs FILE  pinned hub keys (TIDS_KNOWN_HUBS, else ~/.config/tids/known_hubs): a hub\n" \
	"                     found there must show the pinned key; a new one is pinned on first use\n" \
	"  --no-tofu          refuse a hub the known-hubs file does not know (no trust on first use)\n" \
	"  --timeout SEC      per operation (default 30)\n" \
	"  --json             print results as JSON (one object per line, stable field names)\n"

void conn_opts_init(struct conn_opts *o, const char *default_hub);
/* Handles a CONN_LONG_OPTIONS code; false if c is not one of them. */
bool conn_opts_parse(struct conn_opts *o, int c, const char *arg);
/* Connects; on failure prints why and returns NULL. id, if not NULL,
 * receives the identity used (wipe it). */
struct tids_client *cli_connect(const struct conn_opts *o, struct tids_identity *id);

/* A new receipts file in dir (made if missing, 0755):
 * "<hub>-<what>-<unix ms>-<pid>.receipts", one JSON line per receipt
 * (tids/receipt.h). Prints why not and returns NULL on failure. */
FILE *cli_receipts_open(const char *dir, const char *hub_id, const char *what);
/* Writes the line built in w (and its newline) and flushes it. */
int cli_receipts_write(FILE *f, const char *dir, struct tids_jw *w);

/* A whole number for option opt in [min, max]: decimal digits only (no
 * sign, no suffix, no blanks). Otherwise prints why and returns EXIT_USAGE. */
int cli_number(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out);

/* admin list KIND / admin show ID (cmd_admin_list.c). limit <= 0: all. */
int admin_list(struct tids_client *c, const char *kind, long limit, bool json);
int admin_show(struct tids_client *c, const char *id, bool json);

/* --json results: cli_json_begin opens one object on w; cli_json_end
 * closes it, prints it as one line on stdout and frees w (EXIT_OK, or
 * EXIT_FAIL if it could not be written). */
struct tids_jw;
void cli_json_begin(struct tids_jw *w);
int cli_json_end(struct tids_jw *w);

/* A public key given as base64 or as @path to a .pub file. */
int cli_public_key(const char *arg, uint8_t key[32]);
/* Times: RFC 3339, a Unix ms integer, or "+DURATION" from now ("+30d"). */
int cli_time(const char *arg, int64_t *ms);
/* The same, and a date alone ("2026-05-31") as that whole day in the
 * hub's time zone (its Ping reply says which): its first instant, or with
 * end its last. Call after a ping. */
int cli_time_at_hub(struct tids_client *c, const char *arg, bool end, int64_t *ms);
/* A time zone by name from the zoneinfo directory (a
 * tids_policy_tz_loader). */
struct tids_policy_tz;
int cli_load_tz(void *ctx, const char *name, struct tids_policy_tz **out, char *err, size_t errlen);
/* "error: ..." to stderr, returns EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *text);

/* A growable list of strings from repeated options. */
struct strv {
	const char **items;
	size_t n;
};
void strv_add(struct strv *v, const char *s);
void strv_free(struct strv *v);

#endif
