/*
 * tidsctl grant, revoke and approve: an owner's consent and a regulator's
 * approval, signed here with the caller's own key for one hub (its id is
 * signed in, so no other hub accepts them), and a regulator's revocation
 * of its approval.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "odrl.h"
#include "policy.h"
#include "tids/error.h"
#include "tids/json.h"
#include "tids/wire.h"
#include "tidsctl.h"

char *tidsctl_policy_read_file(const char *path, size_t *len);   /* cmd_policy.c */

static int64_t now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* --json result of a revocation: {"grant_id"|"approval_id": id, "revoked": true}. */
static int json_revoked(const char *key, const char *id)
{
	struct tids_jw w;

	cli_json_begin(&w);
	tids_jw_key(&w, key);
	tids_jw_string(&w, id);
	tids_jw_key(&w, "revoked");
	tids_jw_bool(&w, true);
	return cli_json_end(&w);
}

/* Who this connection is: the signer named in the message. (The ping also
 * tells libtids the hub's id, which the message is issued to unless
 * --hub-id says otherwise.) */
static int whoami(struct tids_client *c, char *me, size_t len)
{
	char err[512] = "";

	if (tids_client_ping(c, me, len, err, sizeof(err)) != 0 || *me == '\0')
		return cli_fail("this needs a participant connection (--hub host:port --key FILE): %s", err);
	return 0;
}

static const char grant_help[] =
	"usage: tidsctl grant [CONNECTION] --id ID --to PARTICIPANT --category C... --purpose P...\n"
	"                     [--asset A]... [--from TIME] --until TIME [--max-uses N]\n"
	"                     [--redact FIELD]... [--retain-until TIME] [--no-onward-transfer]\n"
	"                     [--notify PARTICIPANT]... [--oblige NAME[=V,...]]... [--hub-id HUB]\n"
	"       tidsctl grant [CONNECTION] --odrl FILE [--id ID] [--hub-id HUB]\n"
	"Consents, as the owner of the data, to PARTICIPANT using it. TIME is RFC 3339,\n"
	"Unix ms, +DURATION (+30d), or a date alone (2026-05-31: that whole day in the\n"
	"hub's time zone). The grant's data key is destroyed when it ends.\n"
	"The grant names the hub it is for (the id the hub gives, or --hub-id): no\n"
	"other hub accepts it. --oblige attaches an obligation of the vocabulary\n"
	"below to every delivery (a flag by its name, a list as NAME=V,V).\n"
	"--odrl reads the grant from an ODRL 2.2 offer or agreement (JSON-LD, as\n"
	"Eclipse EDC and Catena-X write them; tidsctl policy export-odrl writes the\n"
	"same profile) and refuses it, listing each term, if tids cannot enforce all of\n"
	"it: a use permission with tids:category, purpose, dateTime and count\n"
	"constraints; delete, inform and tids: duties; distribute and other-purpose\n"
	"prohibitions.\n" CONN_HELP;

/* Reads an ODRL policy into g (tz: the hub's calendar); prints what tids
 * cannot enforce and fails when anything is. odrl (its storage) must
 * outlive g. */
static int odrl_grant(const char *path, const struct tids_json *root, const struct tids_policy_tz *tz,
		      struct tids_policy_odrl_grant *odrl)
{
	char err[512];
	int rc = tids_policy_odrl_read_grant(root, tz, odrl, err, sizeof(err));

	if (rc == 0)
		return 0;
	if (rc != TIDS_EPOLICY)
		return cli_fail("%s: %s", path, err);
	fprintf(stderr, "tidsctl: %s: refused, %s:\n", path, err);
	for (size_t i = 0; i < odrl->n_problems; i++)
		fprintf(stderr, "  - %s\n", odrl->problems[i]);
	if (odrl->more_problems)
		fprintf(stderr, "  - (and more)\n");
	return EXIT_FAIL;
}

/* tidsctl grant --odrl FILE: the offer or agreement read, refused with the
 * list of what tids cannot enforce before any connection, then signed by
 * the caller (who must be its assigner, when it names one) for the hub
 * connected to, whose calendar reads its dates. */
static int grant_odrl(struct conn_opts *co, const char *path, const char *id, const char *hub_id)
{
	struct tids_policy_odrl_grant *odrl = calloc(1, sizeof(*odrl));
	struct tids_policy_tz *tz = NULL;
	struct tids_json_doc *doc = NULL;
	struct tids_client *c = NULL;
	struct tids_identity ident;
	char *text = NULL, me[TIDS_ID_MAX + 1], err[512];
	size_t len;
	int rc = EXIT_FAIL;

	if (odrl == NULL)
		return cli_fail("out of memory");
	text = tidsctl_policy_read_file(path, &len);
	if (text == NULL)
		goto out;
	if (tids_json_parse(text, len, &doc, err, sizeof(err)) != 0) {
		cli_fail("%s: %s", path, err);
		goto out;
	}
	/* everything tids cannot enforce, before connecting */
	if (odrl_grant(path, tids_json_root(doc), NULL, odrl) != 0)
		goto out;
	c = cli_connect(co, &ident);
	if (c == NULL || whoami(c, me, sizeof(me)) != 0)
		goto out;
	if (strcmp(tids_client_hub_timezone(c), "UTC") != 0 &&
	    cli_load_tz(NULL, tids_client_hub_timezone(c), &tz, err, sizeof(err)) != 0) {
		cli_fail("the hub keeps time in %s: %s", tids_client_hub_timezone(c), err);
		goto out;
	}
	if (odrl_grant(path, tids_json_root(doc), tz, odrl) != 0)
		goto out;
	struct tids_grant *g = &odrl->grant;
	if (odrl->assigner != NULL && strcmp(odrl->assigner, me) != 0) {
		cli_fail("%s: its assigner is %s, not you (%s): only the data's owner grants", path, odrl->assigner, me);
		goto out;
	}
	g->owner = me;
	if (id != NULL)
		g->grant_id = id;
	if (g->grant_id == NULL) {
		cli_fail("%s: its @id is not a tids grant id (urn:tids:grant:ID): give --id", path);
		goto out;
	}
	g->hub_id = hub_id != NULL ? hub_id : odrl->hub_id;
	if (g->not_before_ms == 0)
		g->not_before_ms = now();
	if (tids_client_issue_grant(c, &ident, g, err, sizeof(err)) != 0) {
		cli_fail("grant %s: %s", g->grant_id, err);
		goto out;
	}
	if (co->json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "grant_id");
		tids_jw_string(&w, g->grant_id);
		tids_jw_key(&w, "owner");
		tids_jw_string(&w, me);
		tids_jw_key(&w, "grantee");
		tids_jw_string(&w, g->grantee);
		tids_jw_key(&w, "hub_id");
		tids_jw_string(&w, g->hub_id);
		tids_jw_key(&w, "odrl");
		tids_jw_string(&w, path);
		rc = cli_json_end(&w);
	} else {
		printf("granted %s: %s -> %s (hub %s, from ODRL %s)\n", g->grant_id, me, g->grantee, g->hub_id, path);
		rc = EXIT_OK;
	}
out:
	if (c != NULL)
		tids_identity_wipe(&ident);
	tids_client_free(c);
	tids_policy_tz_free(tz);
	tids_json_free(doc);
	free(text);
	free(odrl);
	return rc;
}

/* The obligations vocabulary, after the help text. */
static void vocabulary_help(FILE *f)
{
	const struct tids_policy_ob_info *v;

	fprintf(f, "obligations (--oblige):\n");
	for (size_t i = 0; (v = tids_policy_ob_at(i)) != NULL; i++)
		fprintf(f, "  %-20s %s%s\n", v->name, v->list ? "list: " : "", v->summary);
}

/* --oblige NAME or NAME=A,B: the vocabulary's flag set, or its list added to. */
static int oblige(const char *arg, struct tids_obligations *o, struct strv *lists, struct strv *owned)
{
	char name[64];
	const char *eq = strchr(arg, '=');
	size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	const struct tids_policy_ob_info *v;

	snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), arg);
	v = tids_policy_ob_find(name);
	if (v == NULL || strcmp(v->name, name) != 0)
		return cli_fail("--oblige %s: no such obligation (tidsctl grant --help lists them)", name);
	if (!v->list) {
		if (eq != NULL)
			return cli_fail("--oblige %s: a flag takes no value", name);
		*tids_policy_ob_wire_flag(o, v->index) = true;
		return 0;
	}
	if (eq == NULL || eq[1] == '\0')
		return cli_fail("--oblige %s: a list takes values: %s=A,B", name, name);
	char *copy = strdup(eq + 1);

	if (copy == NULL)
		return cli_fail("out of memory");
	strv_add(owned, copy);
	for (char *p = copy, *next; p != NULL; p = next) {
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		if (*p != '\0')
			strv_add(&lists[v->index], p);
	}
	return 0;
}

int tidsctl_grant(int argc, char **argv)
{
	static const struct option longopts[] = {
		CONN_LONG_OPTIONS,
		{ "id", required_argument, NULL, 'i' }, { "to", required_argument, NULL, 't' },
		{ "category", required_argument, NULL, 'c' }, { "purpose", required_argument, NULL, 'p' },
		{ "asset", required_argument, NULL, 'a' }, { "from", required_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' }, { "max-uses", required_argument, NULL, 'm' },
		{ "redact", required_argument, NULL, 'r' }, { "retain-until", required_argument, NULL, 'R' },
		{ "no-onward-transfer", no_argument, NULL, 'N' }, { "notify", required_argument, NULL, 'n' },
		{ "oblige", required_argument, NULL, 'O' }, { "odrl", required_argument, NULL, 'D' },
		{ "hub-id", required_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct strv cats = { 0 }, purposes = { 0 }, assets = { 0 }, redact = { 0 };
	struct strv lists[TIDS_POLICY_OB_LISTS + 1] = { { 0 } }, owned = { 0 };
	struct tids_grant g = { 0 };
	struct tids_identity id;
	struct conn_opts co;
	struct tids_client *c = NULL;
	char me[TIDS_ID_MAX + 1], err[512];
	const char *from = NULL, *until = NULL, *retain = NULL, *odrl = NULL;
	int opt, rc = EXIT_FAIL, terms = 0;

	conn_opts_init(&co, NULL);
	g.not_before_ms = now();
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		terms += opt != 'i' && opt != 'H' && opt != 'D' && opt != 'h';
		switch (opt) {
		case 'i': g.grant_id = optarg; break;
		case 't': g.grantee = optarg; break;
		case 'c': strv_add(&cats, optarg); break;
		case 'p': strv_add(&purposes, optarg); break;
		case 'a': strv_add(&assets, optarg); break;
		case 'f': from = optarg; break;
		case 'u': until = optarg; break;
		case 'm': {
			uint64_t v;

			if (cli_number("--max-uses", optarg, 0, UINT32_MAX, &v) != 0) {
				rc = EXIT_USAGE;
				goto out;
			}
			g.max_uses = (uint32_t)v;
			break;
		}
		case 'r': strv_add(&redact, optarg); break;
		case 'R': retain = optarg; break;
		case 'N': g.obligations.no_onward_transfer = true; break;
		case 'n': strv_add(&lists[TIDS_POLICY_OB_LIST_notify], optarg); break;
		case 'O': if (oblige(optarg, &g.obligations, lists, &owned) != 0) goto out; break;
		case 'H': g.hub_id = optarg; break;
		case 'D': odrl = optarg; break;
		case 'h': fputs(grant_help, stdout); vocabulary_help(stdout); rc = EXIT_OK; goto out;
		default: rc = cli_usage(grant_help); goto out;
		}
	}
	if (odrl != NULL) {
		/* the policy says the terms; only --id and --hub-id go with it */
		rc = terms == 0 && optind == argc ? grant_odrl(&co, odrl, g.grant_id, g.hub_id) : cli_usage(grant_help);
		goto out;
	}
	if (g.grant_id == NULL || g.grantee == NULL || until == NULL || cats.n == 0 || purposes.n == 0) {
		rc = cli_usage(grant_help);
		goto out;
	}
	g.categories = (struct tids_strlist){ cats.items, cats.n };
	g.purposes = (struct tids_strlist){ purposes.items, purposes.n };
	g.assets = (struct tids_strlist){ assets.items, assets.n };
	g.obligations.redacted = (struct tids_strlist){ redact.items, redact.n };
	for (unsigned l = 0; l < TIDS_POLICY_OB_LISTS; l++)
		*tids_policy_ob_wire_list(&g.obligations, l) = (struct tids_strlist){ lists[l].items, lists[l].n };
	c = cli_connect(&co, &id);
	if (c == NULL || whoami(c, me, sizeof(me)) != 0)
		goto out;
	/* dates are the hub's days: read once the hub has said its zone */
	if ((from != NULL && cli_time_at_hub(c, from, false, &g.not_before_ms) != 0) ||
	    cli_time_at_hub(c, until, true, &g.not_after_ms) != 0 ||
	    (retain != NULL && cli_time_at_hub(c, retain, true, &g.obligations.retain_until_ms) != 0))
		goto out;
	g.owner = me;
	if (tids_client_issue_grant(c, &id, &g, err, sizeof(err)) != 0) {
		cli_fail("grant %s: %s", g.grant_id, err);
		goto out;
	}
	if (co.json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "grant_id");
		tids_jw_string(&w, g.grant_id);
		tids_jw_key(&w, "owner");
		tids_jw_string(&w, me);
		tids_jw_key(&w, "grantee");
		tids_jw_string(&w, g.grantee);
		tids_jw_key(&w, "hub_id");
		tids_jw_string(&w, g.hub_id);
		rc = cli_json_end(&w);
	} else {
		printf("granted %s: %s -> %s (hub %s)\n", g.grant_id, me, g.grantee, g.hub_id);
		rc = EXIT_OK;
	}
out:
	if (c != NULL)
		tids_identity_wipe(&id);
	tids_client_free(c);
	strv_free(&cats);
	strv_free(&purposes);
	strv_free(&assets);
	strv_free(&redact);
	for (unsigned l = 0; l < TIDS_POLICY_OB_LISTS; l++)
		strv_free(&lists[l]);
	for (size_t i = 0; i < owned.n; i++)
		free((char *)owned.items[i]);
	strv_free(&owned);
	return rc;
}

static const char revoke_help[] =
	"usage: tidsctl revoke [CONNECTION] GRANT_ID\n"
	"Revokes one of your grants. Its data key is destroyed at once: every copy of\n"
	"the deliveries made under it becomes unreadable, and later records are denied.\n" CONN_HELP;

int tidsctl_revoke(int argc, char **argv)
{
	static const struct option longopts[] = { CONN_LONG_OPTIONS, { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	struct conn_opts co;
	struct tids_client *c;
	char err[512];
	int opt, rc = EXIT_OK;

	conn_opts_init(&co, NULL);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		if (opt == 'h') {
			fputs(revoke_help, stdout);
			return EXIT_OK;
		}
		return cli_usage(revoke_help);
	}
	if (optind + 1 != argc)
		return cli_usage(revoke_help);
	c = cli_connect(&co, NULL);
	if (c == NULL)
		return EXIT_FAIL;
	if (tids_client_revoke(c, argv[optind], err, sizeof(err)) != 0)
		rc = cli_fail("revoke %s: %s", argv[optind], err);
	else if (co.json)
		rc = json_revoked("grant_id", argv[optind]);
	else
		printf("revoked %s\n", argv[optind]);
	tids_client_free(c);
	return rc;
}

static const char approve_help[] =
	"usage: tidsctl approve [CONNECTION] --id ID --kind KIND --exporter P --recipient P\n"
	"                       --category C... --tier T... --purpose P... --from-jurisdiction J\n"
	"                       --to-jurisdiction J [--valid-from TIME] --until TIME\n"
	"                       [--case CASE_ID] [--hub-id HUB]\n"
	"       tidsctl approve [CONNECTION] --revoke ID\n"
	"Issues, as a regulator, an approval such as a passed export assessment\n"
	"(KIND export), a filed standard contract (KIND standard_contract), access to\n"
	"core data (KIND core_access) or a legal case (KIND legal_request, with --case:\n"
	"the case id is in the audit entry of every delivery it opens). The hub accepts\n"
	"it only from an active regulator whose jurisdiction is the exporter's, or the\n"
	"exporter's country. It names the hub it is for (the id the hub gives, or\n"
	"--hub-id): no other hub accepts it. Approval ids are never reused.\n"
	"--revoke withdraws one of your approvals: records routed from then on no longer\n"
	"rest on it.\n" CONN_HELP;

static int revoke_approval(struct conn_opts *co, const char *id)
{
	struct tids_client *c = cli_connect(co, NULL);
	char err[512];
	int rc = EXIT_OK;

	if (c == NULL)
		return EXIT_FAIL;
	if (tids_client_revoke_approval(c, id, err, sizeof(err)) != 0)
		rc = cli_fail("approve --revoke %s: %s", id, err);
	else if (co->json)
		rc = json_revoked("approval_id", id);
	else
		printf("revoked approval %s\n", id);
	tids_client_free(c);
	return rc;
}

int tidsctl_approve(int argc, char **argv)
{
	static const struct option longopts[] = {
		CONN_LONG_OPTIONS,
		{ "id", required_argument, NULL, 'i' }, { "kind", required_argument, NULL, 'k' },
		{ "exporter", required_argument, NULL, 'e' }, { "recipient", required_argument, NULL, 'r' },
		{ "category", required_argument, NULL, 'c' }, { "tier", required_argument, NULL, 't' },
		{ "purpose", required_argument, NULL, 'p' }, { "from-jurisdiction", required_argument, NULL, 'F' },
		{ "to-jurisdiction", required_argument, NULL, 'T' }, { "valid-from", required_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' }, { "case", required_argument, NULL, 'C' },
		{ "hub-id", required_argument, NULL, 'H' }, { "revoke", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct strv cats = { 0 }, purposes = { 0 };
	struct tids_approval a = { 0 };
	struct tids_identity id;
	struct conn_opts co;
	struct tids_client *c = NULL;
	const char *revoke = NULL, *from = NULL, *until = NULL;
	char me[TIDS_ID_MAX + 1], err[512];
	int opt, rc = EXIT_FAIL;

	conn_opts_init(&co, NULL);
	a.valid_from_ms = now();
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		switch (opt) {
		case 'i': a.approval_id = optarg; break;
		case 'k': a.kind = optarg; break;
		case 'e': a.exporter = optarg; break;
		case 'r': a.recipient = optarg; break;
		case 'c': strv_add(&cats, optarg); break;
		case 't':
			if (a.n_tiers == 3 || (a.tiers[a.n_tiers++] = tids_tier_parse(optarg)) == TIDS_TIER_UNSET) {
				cli_fail("--tier takes general, important or core (at most three)");
				goto out;
			}
			break;
		case 'p': strv_add(&purposes, optarg); break;
		case 'F': a.from_jurisdiction = optarg; break;
		case 'T': a.to_jurisdiction = optarg; break;
		case 'f': from = optarg; break;
		case 'u': until = optarg; break;
		case 'C': a.case_id = optarg; break;
		case 'H': a.hub_id = optarg; break;
		case 'R': revoke = optarg; break;
		case 'h': fputs(approve_help, stdout); rc = EXIT_OK; goto out;
		default: rc = cli_usage(approve_help); goto out;
		}
	}
	if (revoke != NULL) {
		rc = optind == argc ? revoke_approval(&co, revoke) : cli_usage(approve_help);
		goto out;
	}
	if (optind != argc || a.approval_id == NULL || a.kind == NULL || a.exporter == NULL || a.recipient == NULL ||
	    cats.n == 0 || purposes.n == 0 || a.n_tiers == 0 || a.from_jurisdiction == NULL ||
	    a.to_jurisdiction == NULL || until == NULL) {
		rc = cli_usage(approve_help);
		goto out;
	}
	a.categories = (struct tids_strlist){ cats.items, cats.n };
	a.purposes = (struct tids_strlist){ purposes.items, purposes.n };
	c = cli_connect(&co, &id);
	if (c == NULL || whoami(c, me, sizeof(me)) != 0)
		goto out;
	if ((from != NULL && cli_time_at_hub(c, from, false, &a.valid_from_ms) != 0) ||
	    cli_time_at_hub(c, until, true, &a.valid_until_ms) != 0)
		goto out;
	a.regulator = me;
	if (tids_client_issue_approval(c, &id, &a, err, sizeof(err)) != 0) {
		cli_fail("approve %s: %s", a.approval_id, err);
		goto out;
	}
	if (co.json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "approval_id");
		tids_jw_string(&w, a.approval_id);
		tids_jw_key(&w, "kind");
		tids_jw_string(&w, a.kind);
		tids_jw_key(&w, "regulator");
		tids_jw_string(&w, me);
		tids_jw_key(&w, "exporter");
		tids_jw_string(&w, a.exporter);
		tids_jw_key(&w, "recipient");
		tids_jw_string(&w, a.recipient);
		tids_jw_key(&w, "case_id");
		tids_jw_string(&w, a.case_id != NULL ? a.case_id : "");
		tids_jw_key(&w, "hub_id");
		tids_jw_string(&w, a.hub_id);
		if (cli_json_end(&w) != EXIT_OK)
			goto out;
	} else {
		printf("approved %s: %s -> %s (%s%s%s, hub %s)\n", a.approval_id, a.exporter, a.recipient, a.kind,
		       a.case_id != NULL ? ", case " : "", a.case_id != NULL ? a.case_id : "", a.hub_id);
	}
	rc = EXIT_OK;
out:
	if (c != NULL)
		tids_identity_wipe(&id);
	tids_client_free(c);
	strv_free(&cats);
	strv_free(&purposes);
	return rc;
}
