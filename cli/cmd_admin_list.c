/*
 * tidsctl admin list KIND and admin show ID: the registry as the hub
 * stores it (Admin/List, Admin/Show), one entry per line as key=value text
 * or, with --json, as JSON lines with stable field names. Every entry is
 * decoded through its own gate before it is shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/json.h"
#include "tids/wire.h"
#include "tidsctl.h"

static void jw_strlist(struct tids_jw *w, const char *key, const struct tids_strlist *l)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < l->n; i++)
		tids_jw_string(w, l->items[i]);
	tids_jw_array_end(w);
}

static void jw_str(struct tids_jw *w, const char *key, const char *v)
{
	tids_jw_key(w, key);
	tids_jw_string(w, v != NULL ? v : "");
}

static void jw_attrs(struct tids_jw *w, const struct tids_attribute *a, size_t n)
{
	tids_jw_key(w, "attributes");
	tids_jw_object_begin(w);
	for (size_t i = 0; i < n; i++)
		jw_str(w, a[i].name, a[i].value);
	tids_jw_object_end(w);
}

static void text_list(const char *key, const struct tids_strlist *l)
{
	printf(" %s=", key);
	for (size_t i = 0; i < l->n; i++)
		printf("%s%s", i ? "," : "", l->items[i]);
	if (l->n == 0)
		printf("-");
}

static const char *or_dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

static int show_participant(struct tids_jw *w, const struct tids_bytes *b, bool json)
{
	struct tids_participant p;
	char key[TIDS_KEY_BASE64_BYTES], err[256];

	if (tids_wire_decode_participant(b->data, b->len, &p, err, sizeof(err)) != 0)
		return cli_fail("the hub sent a participant that does not decode: %s", err);
	tids_key_to_base64(p.identity_key, key);
	if (json) {
		tids_jw_object_begin(w);
		jw_str(w, "entry", "participant");
		jw_str(w, "id", p.id);
		jw_str(w, "role", p.role);
		jw_str(w, "jurisdiction", p.jurisdiction);
		jw_str(w, "identity_key", key);
		tids_jw_key(w, "suspended");
		tids_jw_bool(w, p.suspended);
		jw_str(w, "home_hub", p.home_hub);
		jw_str(w, "display_name", p.display_name);
		jw_attrs(w, p.attributes, p.n_attributes);
		tids_jw_object_end(w);
	} else {
		printf("participant %s role=%s jurisdiction=%s suspended=%s home_hub=%s key=%s", p.id, p.role,
		       p.jurisdiction, p.suspended ? "yes" : "no", or_dash(p.home_hub), key);
		for (size_t i = 0; i < p.n_attributes; i++)
			printf(" attr:%s=%s", p.attributes[i].name, p.attributes[i].value);
		putchar('\n');
	}
	tids_participant_free(&p);
	return 0;
}

static int show_asset(struct tids_jw *w, const struct tids_bytes *b, bool json)
{
	struct tids_asset a;
	char err[256];

	if (tids_wire_decode_asset(b->data, b->len, &a, err, sizeof(err)) != 0)
		return cli_fail("the hub sent an asset that does not decode: %s", err);
	if (json) {
		tids_jw_object_begin(w);
		jw_str(w, "entry", "asset");
		jw_str(w, "id", a.asset_id);
		jw_str(w, "lessee", a.lessee);
		jw_str(w, "lessor", a.lessor);
		jw_str(w, "site", a.site);
		jw_str(w, "kind", a.kind);
		jw_attrs(w, a.attributes, a.n_attributes);
		tids_jw_object_end(w);
	} else {
		printf("asset %s lessee=%s lessor=%s site=%s kind=%s\n", a.asset_id, a.lessee, or_dash(a.lessor),
		       or_dash(a.site), or_dash(a.kind));
	}
	tids_asset_free(&a);
	return 0;
}

static int show_peer(struct tids_jw *w, const struct tids_bytes *b, bool json)
{
	struct tids_peer p;
	char key[TIDS_KEY_BASE64_BYTES], err[256];

	if (tids_wire_decode_peer(b->data, b->len, &p, err, sizeof(err)) != 0)
		return cli_fail("the hub sent a peer that does not decode: %s", err);
	tids_key_to_base64(p.public_key, key);
	if (json) {
		tids_jw_object_begin(w);
		jw_str(w, "entry", "peer");
		jw_str(w, "id", p.hub_id);
		jw_str(w, "jurisdiction", p.jurisdiction);
		jw_str(w, "address", p.address);
		jw_str(w, "public_key", key);
		tids_jw_object_end(w);
	} else {
		printf("peer %s jurisdiction=%s address=%s key=%s\n", p.hub_id, p.jurisdiction, p.address, key);
	}
	tids_peer_free(&p);
	return 0;
}

static int show_grant(struct tids_jw *w, const struct tids_bytes *b, bool json)
{
	struct tids_grant g;
	char err[256];

	if (tids_wire_decode_signed_grant(b->data, b->len, &g, err, sizeof(err)) != 0)
		return cli_fail("the hub sent a grant that does not decode: %s", err);
	if (json) {
		tids_jw_object_begin(w);
		jw_str(w, "entry", "grant");
		jw_str(w, "id", g.grant_id);
		jw_str(w, "owner", g.owner);
		jw_str(w, "grantee", g.grantee);
		jw_strlist(w, "assets", &g.assets);
		jw_strlist(w, "categories", &g.categories);
		jw_strlist(w, "purposes", &g.purposes);
		tids_jw_key(w, "not_before_ms");
		tids_jw_int64(w, g.not_before_ms);
		tids_jw_key(w, "not_after_ms");
		tids_jw_int64(w, g.not_after_ms);
		tids_jw_key(w, "max_uses");
		tids_jw_uint64(w, g.max_uses);
		jw_str(w, "hub_id", g.hub_id);
		tids_jw_key(w, "obligations");
		tids_jw_obligations(w, &g.obligations);
		tids_jw_key(w, "signature");
		tids_jw_base64(w, g.signature, sizeof(g.signature));
		tids_jw_object_end(w);
	} else {
		printf("grant %s owner=%s grantee=%s", g.grant_id, g.owner, g.grantee);
		text_list("assets", &g.assets);
		text_list("categories", &g.categories);
		text_list("purposes", &g.purposes);
		printf(" not_after_ms=%lld\n", (long long)g.not_after_ms);
	}
	tids_grant_free(&g);
	return 0;
}

static int show_approval(struct tids_jw *w, const struct tids_listed_approval *la, bool json)
{
	struct tids_approval a;
	char err[256];

	if (tids_wire_decode_signed_approval(la->signed_approval.data, la->signed_approval.len, &a, err,
					     sizeof(err)) != 0)
		return cli_fail("the hub sent an approval that does not decode: %s", err);
	if (json) {
		tids_jw_object_begin(w);
		jw_str(w, "entry", "approval");
		jw_str(w, "id", a.approval_id);
		jw_str(w, "kind", a.kind);
		jw_str(w, "regulator", a.regulator);
		jw_str(w, "exporter", a.exporter);
		jw_str(w, "recipient", a.recipient);
		jw_strlist(w, "categories", &a.categories);
		tids_jw_key(w, "tiers");
		tids_jw_array_begin(w);
		for (size_t i = 0; i < a.n_tiers; i++)
			tids_jw_string(w, tids_tier_name(a.tiers[i]));
		tids_jw_array_end(w);
		jw_strlist(w, "purposes", &a.purposes);
		jw_str(w, "from_jurisdiction", a.from_jurisdiction);
		jw_str(w, "to_jurisdiction", a.to_jurisdiction);
		tids_jw_key(w, "valid_from_ms");
		tids_jw_int64(w, a.valid_from_ms);
		tids_jw_key(w, "valid_until_ms");
		tids_jw_int64(w, a.valid_until_ms);
		jw_str(w, "hub_id", a.hub_id);
		jw_str(w, "case_id", a.case_id);
		tids_jw_key(w, "revoked_at_ms");
		tids_jw_int64(w, la->revoked_at_ms);
		tids_jw_key(w, "signature");
		tids_jw_base64(w, a.signature, sizeof(a.signature));
		tids_jw_object_end(w);
	} else {
		printf("approval %s kind=%s regulator=%s exporter=%s recipient=%s %s>%s", a.approval_id, a.kind,
		       a.regulator, a.exporter, a.recipient, a.from_jurisdiction, a.to_jurisdiction);
		text_list("categories", &a.categories);
		text_list("purposes", &a.purposes);
		printf(" valid_until_ms=%lld revoked=%s\n", (long long)a.valid_until_ms,
		       la->revoked_at_ms != 0 ? "yes" : "no");
	}
	tids_approval_free(&a);
	return 0;
}

static void show_subscription(struct tids_jw *w, const struct tids_listed_subscription *s, bool json)
{
	if (json) {
		tids_jw_object_begin(w);
		jw_str(w, "entry", "subscription");
		jw_str(w, "id", s->participant);
		jw_strlist(w, "purposes", &s->purposes);
		tids_jw_key(w, "acked");
		tids_jw_uint64(w, s->acked);
		tids_jw_object_end(w);
	} else {
		printf("subscription %s", s->participant);
		text_list("purposes", &s->purposes);
		printf(" acked=%llu\n", (unsigned long long)s->acked);
	}
}

/* Prints the entries of rep; the number printed is added to *n. */
static int print_reply(const struct tids_list_reply *rep, bool json, size_t *n)
{
	struct tids_jw w;
	int rc = EXIT_OK;

	tids_jw_init(&w);
#define EACH(arr, count, call)                                     \
	for (size_t i = 0; i < rep->count && rc == EXIT_OK; i++) { \
		rc = call(&w, &rep->arr[i], json);                 \
		(*n)++;                                            \
	}
	EACH(participants, n_participants, show_participant)
	EACH(assets, n_assets, show_asset)
	EACH(peers, n_peers, show_peer)
	EACH(grants, n_grants, show_grant)
	EACH(approvals, n_approvals, show_approval)
#undef EACH
	for (size_t i = 0; i < rep->n_subscriptions && rc == EXIT_OK; i++, (*n)++)
		show_subscription(&w, &rep->subscriptions[i], json);
	if (rc == EXIT_OK && json && w.len > 0 && (w.err != 0 || fwrite(w.buf, 1, w.len, stdout) != w.len ||
						   putchar('\n') == EOF))
		rc = cli_fail("writing the output failed");
	tids_jw_free(&w);
	return rc;
}

int admin_list(struct tids_client *c, const char *kind, long limit, bool json)
{
	char err[512], after[TIDS_ID_MAX + 1] = "";
	size_t n = 0;
	int rc = EXIT_OK;

	/* Page through everything unless --limit asks for a number. */
	do {
		struct tids_list_reply rep;
		uint32_t page = limit > 0 && (size_t)limit - n < TIDS_LIST_LIMIT_MAX ? (uint32_t)((size_t)limit - n) : 0;

		if (tids_client_list(c, kind, after, page, &rep, err, sizeof(err)) != 0)
			return cli_fail("list %s: %s", kind, err);
		rc = print_reply(&rep, json, &n);
		snprintf(after, sizeof(after), "%s", rep.next_after);
		tids_list_reply_free(&rep);
	} while (rc == EXIT_OK && *after != '\0' && (limit <= 0 || n < (size_t)limit));
	if (rc == EXIT_OK && !json)
		fprintf(stderr, "%zu %s\n", n, kind);
	return rc;
}

int admin_show(struct tids_client *c, const char *id, bool json)
{
	struct tids_list_reply rep;
	char err[512];
	size_t n = 0;
	int rc;

	if (tids_client_show(c, id, &rep, err, sizeof(err)) != 0)
		return cli_fail("show %s: %s", id, err);
	rc = print_reply(&rep, json, &n);
	tids_list_reply_free(&rep);
	if (rc == EXIT_OK && n == 0)
		rc = cli_fail("nothing registered under %s", id);
	return rc;
}
