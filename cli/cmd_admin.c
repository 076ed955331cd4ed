/*
 * tidsctl admin: the hub operator's registry changes, and the hub's public
 * key for participants to pin, over the local socket (or TCP with a hub
 * admin key).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tids/json.h"
#include "tidsctl.h"

static const char help[] =
	"usage: tidsctl admin [CONNECTION] register participant --id ID --role ROLE --jurisdiction J\n"
	"                         --key-pub KEY [--attr NAME=VALUE]... [--home-hub HUB] [--name TEXT]\n"
	"       tidsctl admin [CONNECTION] register asset --id ID --lessee P [--lessor P] [--site S] [--kind K]\n"
	"                         [--attr NAME=VALUE]...\n"
	"       tidsctl admin [CONNECTION] register peer --id HUB --jurisdiction J --address HOST:PORT\n"
	"                         --key-pub KEY\n"
	"       tidsctl admin [CONNECTION] suspend|reinstate PARTICIPANT\n"
	"       tidsctl admin [CONNECTION] hub-key [--address HOST:PORT]\n"
	"hub-key prints the hub's public key as hub.pub holds it, for participants to pin\n"
	"(--hub-key @hub.pub); with --address, as a known-hubs line for that address;\n"
	"with --json, as {\"hub_id\", \"public_key\", \"jurisdiction\"}.\n"
	"       tidsctl admin [CONNECTION] list participants|assets|peers|grants|approvals|subscriptions\n"
	"                         [--limit N]\n"
	"       tidsctl admin [CONNECTION] show ID\n"
	"list and show print what the hub has registered, one entry per line (JSON lines with\n"
	"--json); show prints every entry named ID (a participant and its subscription, say).\n"
	"register, suspend and reinstate print {\"registered\", \"id\"} or {\"participant\",\n"
	"\"suspended\"} with --json.\n"
	"KEY is base64 or @file.pub (a hub's: its hub.pub). A participant served by a peer hub\n"
	"is named ID@HUB (--lessor lessor.wh@hub.wh); a bare ID is one of this hub's.\n"
	"Connection (default: the local socket " TIDSCTL_DEFAULT_SOCKET "):\n"
	CONN_HELP;

struct admin_args {
	const char *id, *role, *jurisdiction, *key_pub, *home_hub, *name;
	const char *lessee, *lessor, *site, *kind, *address;
	struct tids_attribute attrs[TIDS_ATTRIBUTES_MAX];
	size_t n_attrs;
};

static int add_attr(struct admin_args *a, char *arg)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL || a->n_attrs == TIDS_ATTRIBUTES_MAX)
		return cli_fail("--attr takes NAME=VALUE (at most %d)", TIDS_ATTRIBUTES_MAX);
	*eq = '\0';
	a->attrs[a->n_attrs].name = arg;
	a->attrs[a->n_attrs++].value = eq + 1;
	return 0;
}

static int need(const char *v, const char *opt)
{
	return v != NULL ? 0 : cli_fail("%s is required", opt);
}

static int do_hub_key(struct tids_client *c, const char *address, bool json)
{
	struct tids_hub_key k;
	char err[512], line[512], b64[TIDS_KEY_BASE64_BYTES];
	int rc = EXIT_OK;

	if (tids_client_hub_key_get(c, &k, err, sizeof(err)) != 0)
		return cli_fail("hub-key: %s", err);
	tids_key_to_base64(k.public_key, b64);
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "hub_id");
		tids_jw_string(&w, k.hub_id);
		tids_jw_key(&w, "public_key");
		tids_jw_string(&w, b64);
		tids_jw_key(&w, "jurisdiction");
		tids_jw_string(&w, k.jurisdiction);
		rc = cli_json_end(&w);
	} else if (address == NULL) {
		printf("%s\n", b64);
	} else if (tids_known_hubs_format(address, k.hub_id, k.public_key, line, sizeof(line)) != 0) {
		rc = cli_fail("--address '%s' is not a host:port", address);
	} else {
		printf("%s\n", line);
	}
	tids_hub_key_free(&k);
	return rc;
}

static int do_register(struct tids_client *c, const char *what, struct admin_args *a, bool json)
{
	char err[512];
	int r;

	if (strcmp(what, "participant") == 0) {
		struct tids_participant p = { .id = a->id, .role = a->role, .jurisdiction = a->jurisdiction,
					      .attributes = a->attrs, .n_attributes = a->n_attrs,
					      .home_hub = a->home_hub, .display_name = a->name };
		char id[TIDS_ID_MAX + 1], hub[TIDS_ID_MAX + 1];

		/* ID@HUB: a participant of a peer hub, registered here for what
		 * this hub records about it (attributes such as an agreement). */
		if (a->id != NULL && strchr(a->id, '@') != NULL) {
			if (!tids_address_split(a->id, id, hub))
				return cli_fail("--id %s: not ID or ID@HUB", a->id);
			if (a->home_hub != NULL && strcmp(a->home_hub, hub) != 0)
				return cli_fail("--id %s names hub %s, --home-hub %s", a->id, hub, a->home_hub);
			p.id = id;
			p.home_hub = hub;
		}

		if (need(a->id, "--id") || need(a->role, "--role") || need(a->jurisdiction, "--jurisdiction") ||
		    need(a->key_pub, "--key-pub") || cli_public_key(a->key_pub, p.identity_key) != 0)
			return EXIT_FAIL;
		r = tids_client_register_participant(c, &p, err, sizeof(err));
	} else if (strcmp(what, "asset") == 0) {
		struct tids_asset as = { .asset_id = a->id, .lessee = a->lessee, .lessor = a->lessor, .site = a->site,
					 .kind = a->kind, .attributes = a->attrs, .n_attributes = a->n_attrs };

		if (need(a->id, "--id") || need(a->lessee, "--lessee"))
			return EXIT_FAIL;
		r = tids_client_register_asset(c, &as, err, sizeof(err));
	} else if (strcmp(what, "peer") == 0) {
		struct tids_peer p = { .hub_id = a->id, .jurisdiction = a->jurisdiction, .address = a->address };

		if (need(a->id, "--id") || need(a->jurisdiction, "--jurisdiction") ||
		    need(a->address, "--address") || need(a->key_pub, "--key-pub") ||
		    cli_public_key(a->key_pub, p.public_key) != 0)
			return EXIT_FAIL;
		r = tids_client_register_peer(c, &p, err, sizeof(err));
	} else {
		return cli_usage(help);
	}
	if (r != 0)
		return cli_fail("register %s %s: %s", what, a->id, err);
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "registered");
		tids_jw_string(&w, what);
		tids_jw_key(&w, "id");
		tids_jw_string(&w, a->id);
		return cli_json_end(&w);
	}
	printf("registered %s %s\n", what, a->id);
	return EXIT_OK;
}

int tidsctl_admin(int argc, char **argv)
{
	static const struct option longopts[] = {
		CONN_LONG_OPTIONS,
		{ "id", required_argument, NULL, 'i' }, { "role", required_argument, NULL, 'r' },
		{ "jurisdiction", required_argument, NULL, 'j' }, { "key-pub", required_argument, NULL, 'k' },
		{ "attr", required_argument, NULL, 'a' }, { "home-hub", required_argument, NULL, 'H' },
		{ "name", required_argument, NULL, 'n' }, { "lessee", required_argument, NULL, 'e' },
		{ "lessor", required_argument, NULL, 'o' }, { "site", required_argument, NULL, 's' },
		{ "kind", required_argument, NULL, 'K' }, { "address", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' }, { "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct admin_args a = { 0 };
	struct conn_opts co;
	uint64_t limit = 0;
	struct tids_client *c;
	char err[512];
	int opt, rc;

	conn_opts_init(&co, TIDSCTL_DEFAULT_SOCKET);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		switch (opt) {
		case 'i': a.id = optarg; break;
		case 'r': a.role = optarg; break;
		case 'j': a.jurisdiction = optarg; break;
		case 'k': a.key_pub = optarg; break;
		case 'a': if (add_attr(&a, optarg) != 0) return EXIT_USAGE; break;
		case 'H': a.home_hub = optarg; break;
		case 'n': a.name = optarg; break;
		case 'e': a.lessee = optarg; break;
		case 'o': a.lessor = optarg; break;
		case 's': a.site = optarg; break;
		case 'K': a.kind = optarg; break;
		case 'b': a.address = optarg; break;
		case 'l': if (cli_number("--limit", optarg, 1, 1000000000, &limit) != 0) return EXIT_USAGE; break;
		case 'h': fputs(help, stdout); return EXIT_OK;
		default: return cli_usage(help);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (strcmp(argv[0], "hub-key") == 0 ? argc != 1 : argc != 2) ||
	    (strcmp(argv[0], "register") != 0 && strcmp(argv[0], "suspend") != 0 &&
	     strcmp(argv[0], "reinstate") != 0 && strcmp(argv[0], "list") != 0 &&
	     strcmp(argv[0], "show") != 0 && strcmp(argv[0], "hub-key") != 0))
		return cli_usage(help);
	if (strcmp(argv[0], "list") == 0) {
		size_t k;

		for (k = 0; tids_list_kinds[k] != NULL && strcmp(tids_list_kinds[k], argv[1]) != 0; k++)
			;
		if (tids_list_kinds[k] == NULL) {
			fprintf(stderr, "tidsctl: error: admin list %s: list participants, assets, peers, grants, "
					"approvals or subscriptions\n", argv[1]);
			return EXIT_USAGE;
		}
	}
	c = cli_connect(&co, NULL);
	if (c == NULL)
		return EXIT_FAIL;
	if (strcmp(argv[0], "hub-key") == 0) {
		rc = do_hub_key(c, a.address, co.json);
	} else if (strcmp(argv[0], "list") == 0) {
		rc = admin_list(c, argv[1], (long)limit, co.json);
	} else if (strcmp(argv[0], "show") == 0) {
		rc = admin_show(c, argv[1], co.json);
	} else if (strcmp(argv[0], "register") == 0) {
		rc = do_register(c, argv[1], &a, co.json);
	} else if (tids_client_suspend(c, argv[1], strcmp(argv[0], "suspend") == 0, err, sizeof(err)) != 0) {
		rc = cli_fail("%s %s: %s", argv[0], argv[1], err);
	} else if (co.json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "participant");
		tids_jw_string(&w, argv[1]);
		tids_jw_key(&w, "suspended");
		tids_jw_bool(&w, strcmp(argv[0], "suspend") == 0);
		rc = cli_json_end(&w);
	} else {
		printf("%s %sed\n", argv[1], strcmp(argv[0], "suspend") == 0 ? "suspend" : "reinstat");
		rc = EXIT_OK;
	}
	tids_client_free(c);
	return rc;
}
