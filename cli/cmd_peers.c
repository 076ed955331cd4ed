/*
 * tidsctl peers: the hub's links to its peer hubs, over the local socket
 * (or TCP with a hub admin key): up or down, records forwarded and
 * imported, what the peer has yet to take, the last error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tidsctl.h"

static const char help[] =
	"usage: tidsctl peers [CONNECTION]\n"
	"Each peer hub: its link to us (it pulls what we forward: 'serving') and ours to it\n"
	"(we pull: 'link'), records forwarded to it and acknowledged, records imported from\n"
	"it, lag (outbound positions it has not acknowledged), forwards refused at import,\n"
	"its directory, ids of it refused (claimed elsewhere), the highest chain position of\n"
	"it we witness, and the last error.\n"
	"Connection (default: the local socket " TIDSCTL_DEFAULT_SOCKET "):\n" CONN_HELP;

static void print_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(out, 32, "-");
	else
		strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int tidsctl_peers(int argc, char **argv)
{
	static const struct option longopts[] = {
		CONN_LONG_OPTIONS, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct tids_peers_reply rep;
	struct conn_opts co;
	struct tids_client *c;
	char err[512];
	int opt, r;

	conn_opts_init(&co, TIDSCTL_DEFAULT_SOCKET);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		if (opt == 'h') {
			fputs(help, stdout);
			return EXIT_OK;
		}
		return cli_usage(help);
	}
	if (optind != argc)
		return cli_usage(help);
	c = cli_connect(&co, NULL);
	if (c == NULL)
		return EXIT_FAIL;
	r = tids_client_peers(c, &rep, err, sizeof(err));
	tids_client_free(c);
	if (r != 0)
		return cli_fail("peers: %s", err);
	if (rep.n_peers == 0)
		printf("no peer hubs registered (tidsctl admin register peer)\n");
	for (size_t i = 0; i < rep.n_peers; i++) {
		const struct tids_peer_status *p = &rep.peers[i];
		char t[32];

		printf("%s (%s) at %s\n", p->hub_id, p->jurisdiction, p->address);
		printf("  link %s, serving %s\n", p->link_up ? "up" : "down", p->serving ? "up" : "down");
		printf("  forwarded %" PRIu64 ", imported %" PRIu64 ", lag %" PRIu64 ", refused %" PRIu64 "\n",
		       p->forwarded, p->imported, p->lag, p->refused);
		printf("  directory version %" PRIu64 ", %u participants, %u conflicts; witnessed up to %" PRIu64 "\n",
		       p->directory_version, p->directory_entries, p->conflicts, p->witnessed_seq);
		print_time(p->last_error_ms, t);
		printf("  last error: %s%s%s\n", *p->last_error != '\0' ? p->last_error : "none",
		       *p->last_error != '\0' ? " at " : "", *p->last_error != '\0' ? t : "");
	}
	tids_peers_reply_free(&rep);
	return fflush(stdout) == 0 ? EXIT_OK : cli_fail("writing the output failed");
}
