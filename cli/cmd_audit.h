/*
 * What the tidsctl audit subcommands (cmd_audit*.c) share: the ledger
 * option, printing times and entries, and one function per subcommand.
 */
#ifndef TIDSCTL_CMD_AUDIT_H
#define TIDSCTL_CMD_AUDIT_H

#include "tids/json.h"
#include "tids/ledger.h"
#include "tidsctl.h"

#define AUDIT_DEFAULT_LEDGER "/var/lib/tids/ledger.db"

/* --ledger FILE, else $TIDS_LEDGER, else the daemon's default. */
const char *audit_default_ledger(void);
/* Opens read-only (the auditor's way) and says why not on failure. */
struct tids_ledger *audit_open(const char *path, bool writable);

/* --since must come before --until; otherwise says so and returns EXIT_USAGE. */
int audit_check_range(int64_t since_ms, int64_t until_ms);
/* "2026-11-29T10:00:00.123Z" */
void audit_format_time(int64_t ms, char out[32]);
/* "183d", "26w", "3y", "4380h" -> ms; prints why not. */
int audit_duration(const char *arg, int64_t *ms);
/* An entry as one JSON object (the jsonl form of query). */
void audit_jw_entry(struct tids_jw *w, const struct tids_audit_entry *e);
/* Writes everything the writer holds to f; false on an I/O error. */
bool audit_flush(struct tids_jw *w, FILE *f);

int audit_query(int argc, char **argv);
int audit_stats(int argc, char **argv);
int audit_verify(int argc, char **argv);
int audit_prune(int argc, char **argv);
int audit_proof(int argc, char **argv);
int audit_check_proof(int argc, char **argv);
int audit_export(int argc, char **argv);
int audit_report(int argc, char **argv);
int audit_statement(int argc, char **argv);
int audit_check_statement(int argc, char **argv);

#endif
