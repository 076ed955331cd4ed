/*
 * tidsctl: the hub's command line, for operators (admin), participants
 * (publish, subscribe, grant) and auditors (audit). Each command lives in
 * its own file; this one dispatches.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "tids/log.h"
#include "tidsctl.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "keygen", tidsctl_keygen, "create an identity key pair" },
	{ "admin", tidsctl_admin, "register participants, assets and peers; suspend" },
	{ "peers", tidsctl_peers, "the links to peer hubs: up or down, forwarded, imported, lag" },
	{ "ping", tidsctl_ping, "check the connection and who the hub says you are" },
	{ "publish", tidsctl_publish, "publish records read as JSON lines from stdin" },
	{ "subscribe", tidsctl_subscribe, "receive deliveries as JSON lines" },
	{ "grant", tidsctl_grant, "consent to a recipient using your data" },
	{ "revoke", tidsctl_revoke, "revoke a grant (its deliveries become unreadable)" },
	{ "approve", tidsctl_approve, "issue an export approval (regulators)" },
	{ "policy", tidsctl_policy, "check, explain and test policies" },
	{ "audit", tidsctl_audit, "query, verify, prove and export the audit ledger (auditors)" },
	{ "monitor", tidsctl_monitor, "a live view of the hub's decisions (regulators, operators)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tidsctl COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'tidsctl COMMAND --help' describes each; see tidsctl(1).\n");
}

int main(int argc, char **argv)
{
	tids_log_init("tidsctl", TIDS_LOG_WARNING);
	if (sodium_init() < 0) {
		fprintf(stderr, "tidsctl: libsodium failed to initialise\n");
		return EXIT_FAIL;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tidsctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
