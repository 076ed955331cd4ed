/*
 * ODRL 2.2: grants round-trip through ODRL JSON-LD (grant -> ODRL ->
 * grant, and ODRL -> grant -> ODRL byte for byte), the examples of the
 * ODRL 2.2 Information Model are refused with the list of what tids cannot
 * enforce, Catena-X's terms read as theirs, and the standing rules ODRL
 * can express are exported (the others named, with why).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odrl.h"
#include "testenv.h"
#include "tids/error.h"

static int64_t at(const char *iso)
{
	int64_t ms;
	ck_assert_int_eq(tids_policy_parse_time(iso, strlen(iso), &ms), 0);
	return ms;
}

static char *odrl_of(const struct tids_grant *g, const char *hub)
{
	struct tids_jw w;
	tids_jw_init(&w);
	tids_policy_odrl_grant(&w, g, hub);
	ck_assert_int_eq(w.err, 0);
	char *s = strdup(w.buf);
	tids_jw_free(&w);
	return s;
}

/* Reads text; rc what tids_policy_odrl_read_grant returned. The document
 * stays alive in *doc. */
static int read_odrl(const char *text, const struct tids_policy_tz *tz, struct tids_json_doc **doc,
		     struct tids_policy_odrl_grant *out, char *err, size_t errlen)
{
	ck_assert_msg(tids_json_parse(text, strlen(text), doc, err, errlen) == 0, "%s", err);
	return tids_policy_odrl_read_grant(tids_json_root(*doc), tz, out, err, errlen);
}

static char problems[8192];

static const char *all_problems(const struct tids_policy_odrl_grant *o)
{
	size_t n = 0;
	problems[0] = '\0';
	for (size_t i = 0; i < o->n_problems && n + 2 < sizeof(problems); i++)
		n += (size_t)snprintf(problems + n, sizeof(problems) - n, "%s\n", o->problems[i]);
	return problems;
}

static void same_list(const struct tids_strlist *a, const struct tids_strlist *b, const char *what)
{
	ck_assert_msg(a->n == b->n, "%s: %zu, not %zu", what, b->n, a->n);
	for (size_t i = 0; i < a->n; i++)
		ck_assert_str_eq(a->items[i], b->items[i]);
}

static void same_grant(const struct tids_grant *a, const struct tids_grant *b)
{
	ck_assert_str_eq(a->grant_id, b->grant_id);
	ck_assert_str_eq(a->owner, b->owner);
	ck_assert_str_eq(a->grantee, b->grantee);
	same_list(&a->assets, &b->assets, "assets");
	same_list(&a->categories, &b->categories, "categories");
	same_list(&a->purposes, &b->purposes, "purposes");
	ck_assert_int_eq(a->not_before_ms, b->not_before_ms);
	ck_assert_int_eq(a->not_after_ms, b->not_after_ms);
	ck_assert_uint_eq(a->max_uses, b->max_uses);
	const struct tids_obligations *x = &a->obligations, *y = &b->obligations;
	ck_assert_int_eq(x->retain_until_ms, y->retain_until_ms);
	same_list(&x->redacted, &y->redacted, "redacted");
	same_list(&x->purposes, &y->purposes, "only for");
	ck_assert_int_eq(x->aggregate.function == NULL, y->aggregate.function == NULL);
	if (x->aggregate.function != NULL) {
		ck_assert_str_eq(x->aggregate.function, y->aggregate.function);
		ck_assert_str_eq(x->aggregate.field, y->aggregate.field);
		ck_assert_int_eq(x->aggregate.window_ms, y->aggregate.window_ms);
		ck_assert_int_eq(x->aggregate.window_months, y->aggregate.window_months);
		same_list(&x->aggregate.by, &y->aggregate.by, "by");
	}
	struct tids_obligations xo = *x, yo = *y;
	const struct tids_policy_ob_info *v;
	for (size_t i = 0; (v = tids_policy_ob_at(i)) != NULL; i++) {
		if (v->list)
			same_list(tids_policy_ob_wire_list(&xo, v->index), tids_policy_ob_wire_list(&yo, v->index), v->name);
		else
			ck_assert_msg(*tids_policy_ob_wire_flag(&xo, v->index) == *tids_policy_ob_wire_flag(&yo, v->index),
				      "%s", v->name);
	}
}

static const char *const cats[] = { "recipe", "energy" }, *const assets[] = { "press-7" },
		  *const purposes[] = { "maintenance", "billing" }, *const notify[] = { "factory.sh1", "role:regulator" },
		  *const redact[] = { "operator_id" }, *const only[] = { "maintenance" }, *const by[] = { "asset", "site" },
		  *const duties[] = { "delete_after_study" };

static struct tids_grant full_grant(void)
{
	struct tids_grant g = {
		.grant_id = "g-1", .owner = "factory.sh1", .grantee = "lessor.wh", .assets = { assets, 1 },
		.categories = { cats, 2 }, .purposes = { purposes, 2 }, .max_uses = 3,
	};
	g.not_before_ms = at("2026-01-01T00:00:00Z");
	g.not_after_ms = at("2026-12-31T15:59:59.999Z");
	g.obligations.retain_until_ms = at("2027-01-31T00:00:00Z");
	g.obligations.redacted = (struct tids_strlist){ redact, 1 };
	g.obligations.purposes = (struct tids_strlist){ only, 1 };
	g.obligations.aggregate = (struct tids_aggregation){ .function = "sum", .field = "kwh", .window_months = 1,
							      .by = { by, 2 } };
	g.obligations.notify = (struct tids_strlist){ notify, 2 };
	g.obligations.duties = (struct tids_strlist){ duties, 1 };
	g.obligations.no_onward_transfer = true;
	g.obligations.encrypt = true;
	return g;
}

/* grant -> ODRL -> grant: everything comes back; ODRL -> grant -> ODRL:
 * the same bytes. */
START_TEST(grants_round_trip)
{
	struct tids_grant g = full_grant();
	char *text = odrl_of(&g, "hub.sh");
	struct tids_json_doc *doc = NULL;
	struct tids_policy_odrl_grant *o = calloc(1, sizeof(*o));
	char err[512];
	int rc = read_odrl(text, NULL, &doc, o, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s\n%s\n%s", err, all_problems(o), text);
	ck_assert_str_eq(o->assigner, "factory.sh1");
	ck_assert_str_eq(o->hub_id, "hub.sh");
	same_grant(&g, &o->grant);
	char *again = odrl_of(&o->grant, o->hub_id);
	ck_assert_str_eq(text, again);
	/* in the profile EDC and Catena-X read */
	ck_assert_msg(strstr(text, "\"@context\":[\"http://www.w3.org/ns/odrl.jsonld\"") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "\"action\":\"use\",\"constraint\":[{\"and\":[") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":"
				   "[\"maintenance\",\"billing\"]}") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":3}") != NULL, "%s",
		      text);
	ck_assert_msg(strstr(text, "\"prohibition\":[{\"target\":\"urn:tids:data:factory.sh1\","
				   "\"assigner\":\"urn:tids:participant:factory.sh1\",\"assignee\":"
				   "\"urn:tids:participant:lessor.wh\",\"action\":\"distribute\"}") != NULL, "%s", text);
	free(again);
	free(text);
	tids_json_free(doc);
	/* the least a grant has */
	struct tids_grant m = { .grant_id = "g-2", .owner = "o", .grantee = "r", .categories = { cats, 1 },
				.purposes = { purposes, 1 } };
	m.not_after_ms = at("2026-06-30T00:00:00Z");
	text = odrl_of(&m, NULL);
	doc = NULL;
	ck_assert_int_eq(read_odrl(text, NULL, &doc, o, err, sizeof(err)), 0);
	same_grant(&m, &o->grant);
	free(text);
	tids_json_free(doc);
	free(o);
}
END_TEST

/* Every entry of the obligations vocabulary, on its own, round-trips. */
START_TEST(every_vocabulary_entry_round_trips)
{
	const struct tids_policy_ob_info *v = tids_policy_ob_at((size_t)_i);
	struct tids_grant g = { .grant_id = "g-v", .owner = "o", .grantee = "r", .categories = { cats, 1 },
				.purposes = { purposes, 1 } };
	static const char *const values[] = { "reg.sh" }, *const names[] = { "some_duty" };
	g.not_after_ms = at("2026-06-30T00:00:00Z");
	if (v->list)
		*tids_policy_ob_wire_list(&g.obligations, v->index) = (struct tids_strlist){ v->ids ? values : names, 1 };
	else
		*tids_policy_ob_wire_flag(&g.obligations, v->index) = true;
	char *text = odrl_of(&g, NULL), err[512];
	struct tids_json_doc *doc = NULL;
	struct tids_policy_odrl_grant *o = calloc(1, sizeof(*o));
	ck_assert_msg(read_odrl(text, NULL, &doc, o, err, sizeof(err)) == 0, "%s: %s\n%s", v->name, all_problems(o), text);
	same_grant(&g, &o->grant);
	free(text);
	free(o);
	tids_json_free(doc);
}
END_TEST

struct refusal {
	const char *name;
	const char *odrl;
	const char *want[4];
};

/* The examples of the ODRL 2.2 Information Model (W3C Recommendation,
 * 2018), as written there: none is a grant tids can enforce, and each
 * refusal names what. */
static const struct refusal examples[] = {
	{ "Example 1: a Set to play a movie",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Set\", \"uid\": "
	  "\"http://example.com/policy:1010\", \"permission\": [{\"target\": \"http://example.com/asset:9898.movie\", "
	  "\"action\": \"play\"}]}",
	  { "permission 1: action play: a grant permits use", "no assignee", "no tids:category constraint",
	    "no dateTime lteq constraint" } },
	{ "Example 3: an Agreement to play",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Agreement\", \"uid\": "
	  "\"http://example.com/policy:1012\", \"profile\": \"http://example.com/odrl:profile:01\", \"permission\": "
	  "[{\"target\": \"http://example.com/asset:9898.movie\", \"assigner\": \"http://example.com/party:org:abc\", "
	  "\"assignee\": \"http://example.com/party:person:billie\", \"action\": \"play\"}]}",
	  { "assigner \"http://example.com/party:org:abc\" is not a participant of a hub",
	    "target http://example.com/asset:9898.movie: a grant covers its owner's data" } },
	{ "Example 13: distribute before 2018 (a dateTime constraint)",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Offer\", \"uid\": "
	  "\"http://example.com/policy:6163\", \"profile\": \"http://example.com/odrl:profile:10\", \"permission\": "
	  "[{\"target\": \"http://example.com/document:1234\", \"assigner\": \"http://example.com/org:616\", \"action\": "
	  "\"distribute\", \"constraint\": [{\"leftOperand\": \"dateTime\", \"operator\": \"lt\", \"rightOperand\": "
	  "{\"@value\": \"2018-01-01\", \"@type\": \"xsd:date\"}}]}]}",
	  { "permission 1: action distribute: a grant permits use" } },
	{ "Example 15: an xone of constraints",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Offer\", \"uid\": "
	  "\"http://example.com/policy:88\", \"permission\": [{\"target\": \"http://example.com/book/1999\", "
	  "\"assigner\": \"http://example.com/org/paisley-park\", \"action\": [{\"rdf:value\": {\"@id\": "
	  "\"odrl:reproduce\"}, \"refinement\": {\"xone\": {\"@list\": [{\"@id\": \"http://example.com/p:88/C1\"}, "
	  "{\"@id\": \"http://example.com/p:88/C2\"}]}}}]}]}",
	  { "an action with a refinement: tids cannot enforce it", "action reproduce" } },
	{ "Example 17: a party collection",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Agreement\", \"uid\": "
	  "\"http://example.com/policy:4444\", \"permission\": [{\"target\": \"http://example.com/myPhotos:BdayParty\", "
	  "\"assigner\": \"http://example.com/user44\", \"assignee\": {\"@type\": \"PartyCollection\", \"source\": "
	  "\"http://example.com/user44/friends\", \"refinement\": [{\"leftOperand\": \"foaf:age\", \"operator\": \"gt\", "
	  "\"rightOperand\": {\"@value\": \"17\", \"@type\": \"xsd:integer\"}}]}, \"action\": {\"@id\": \"ex:view\"}}]}",
	  { "assignee is a party collection", "action ex:view" } },
	{ "Example 19: perm over a prohibition to archive",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Agreement\", \"uid\": "
	  "\"http://example.com/policy:5555\", \"conflict\": \"perm\", \"permission\": [{\"target\": "
	  "\"http://example.com/photoAlbum:55\", \"action\": \"display\", \"assigner\": \"http://example.com/MyPix:55\", "
	  "\"assignee\": \"http://example.com/assignee:55\"}], \"prohibition\": [{\"target\": "
	  "\"http://example.com/photoAlbum:55\", \"action\": \"archive\", \"assigner\": \"http://example.com/MyPix:55\", "
	  "\"assignee\": \"http://example.com/assignee:55\"}]}",
	  { "conflict perm: in tids a prohibition always wins", "prohibition of archive" } },
	{ "Example 22: a duty to pay before use",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Offer\", \"uid\": "
	  "\"http://example.com/policy:88\", \"permission\": [{\"assigner\": \"http://example.com/assigner:sony\", "
	  "\"target\": \"http://example.com/music/1999.mp3\", \"action\": \"play\", \"duty\": [{\"action\": "
	  "[{\"rdf:value\": {\"@id\": \"odrl:compensate\"}, \"refinement\": [{\"leftOperand\": \"payAmount\", "
	  "\"operator\": \"eq\", \"rightOperand\": {\"@value\": \"5.00\", \"@type\": \"xsd:decimal\"}, \"unit\": "
	  "\"http://dbpedia.org/resource/Euro\"}]}], \"constraint\": [{\"leftOperand\": \"event\", \"operator\": "
	  "\"lt\", \"rightOperand\": {\"@id\": \"odrl:policyUsage\"}}]}]}]}",
	  { "duty 1: duty compensate: tids cannot enforce it" } },
	{ "Example 23: a duty to attribute, with a consequence",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Agreement\", \"uid\": "
	  "\"http://example.com/policy:66\", \"permission\": [{\"target\": \"http://example.com/data:77\", \"assigner\": "
	  "\"http://example.com/org:99\", \"assignee\": \"http://example.com/person:88\", \"action\": \"distribute\", "
	  "\"duty\": [{\"action\": \"attribute\", \"attributedParty\": \"http://australia.gov.au/\", \"consequence\": "
	  "[{\"action\": \"acceptTracking\", \"trackingParty\": \"http://example.com/dept:100\"}]}]}]}",
	  { "duty 1: \"consequence\": tids cannot enforce it", "duty 1: duty attribute: tids cannot enforce it" } },
	{ "Example 24: a prohibition to index, with a remedy",
	  "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\", \"@type\": \"Agreement\", \"uid\": "
	  "\"http://example.com/policy:33CC\", \"prohibition\": [{\"target\": "
	  "\"http://example.com/data:77\", \"assigner\": \"http://example.com/person:88\", \"assignee\": "
	  "\"http://example.com/org:99\", \"action\": \"index\", \"remedy\": [{\"action\": \"anonymize\", \"target\": "
	  "\"http://example.com/data:77\"}]}]}",
	  { "prohibition 1: \"remedy\": tids cannot enforce it", "prohibition of index",
	    "policy: no permission: a grant permits use" } },
};

START_TEST(odrl_model_examples_are_refused_with_reasons)
{
	const struct refusal *x = &examples[_i];
	struct tids_json_doc *doc = NULL;
	struct tids_policy_odrl_grant *o = calloc(1, sizeof(*o));
	char err[512];
	int rc = read_odrl(x->odrl, NULL, &doc, o, err, sizeof(err));
	ck_assert_msg(rc == TIDS_EPOLICY, "%s: rc %d: %s", x->name, rc, err);
	const char *all = all_problems(o);
	for (size_t i = 0; i < 4 && x->want[i] != NULL; i++)
		ck_assert_msg(strstr(all, x->want[i]) != NULL, "%s: no \"%s\" among:\n%s", x->name, x->want[i], all);
	tids_json_free(doc);
	free(o);
}
END_TEST

/* A tids-shaped offer as a connector writes it: Catena-X's terms read as
 * theirs, dates as days of the hub, and every term beyond the profile
 * listed, whatever else is fine. */
START_TEST(catena_x_terms_and_hub_days)
{
	char text[4096], err[512];
	struct tids_policy_odrl_grant *o = calloc(1, sizeof(*o));
	struct tids_json_doc *doc = NULL;
	/* UsagePurpose, DataUsageEndDate, a list of constraints not in an and */
	snprintf(text, sizeof(text),
		 "{\"@context\": [\"https://w3id.org/catenax/2025/9/policy/odrl.jsonld\", "
		 "\"https://w3id.org/catenax/2025/9/policy/context.jsonld\"], \"@type\": \"Offer\", \"@id\": "
		 "\"urn:tids:grant:cx-1\", \"permission\": [{\"action\": \"use\", \"assigner\": \"factory.sh1\", "
		 "\"assignee\": \"lessor.wh\", \"constraint\": ["
		 "{\"leftOperand\": \"UsagePurpose\", \"operator\": \"isAnyOf\", \"rightOperand\": [\"maintenance\"]},"
		 "{\"leftOperand\": \"https://w3id.org/tids/odrl/v1/category\", \"operator\": \"eq\", \"rightOperand\": "
		 "\"telemetry\"},"
		 "{\"leftOperand\": \"DataUsageEndDate\", \"operator\": \"eq\", \"rightOperand\": \"2026-05-31\"}]}]}");
	ck_assert_msg(read_odrl(text, NULL, &doc, o, err, sizeof(err)) == 0, "%s\n%s", err, all_problems(o));
	ck_assert_str_eq(o->grant.grant_id, "cx-1");
	ck_assert_str_eq(o->grant.purposes.items[0], "maintenance");
	ck_assert_str_eq(o->grant.categories.items[0], "telemetry");
	ck_assert_int_eq(o->grant.not_after_ms, at("2026-05-31T23:59:59.999Z"));
	tids_json_free(doc);
	/* in Shanghai the day ends 8 hours earlier */
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/vectors/tz/Asia/Shanghai", tids_test_source_dir());
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	uint8_t tzif[4096];
	size_t len = fread(tzif, 1, sizeof(tzif), f);
	fclose(f);
	struct tids_policy_tz *tz;
	ck_assert_int_eq(tids_policy_tz_parse("Asia/Shanghai", tzif, len, &tz, err, sizeof(err)), 0);
	ck_assert_int_eq(read_odrl(text, tz, &doc, o, err, sizeof(err)), 0);
	ck_assert_int_eq(o->grant.not_after_ms, at("2026-05-31T15:59:59.999Z"));
	tids_json_free(doc);
	tids_policy_tz_free(tz);
	/* Catena-X's own purposes are not tids purposes; its framework
	 * agreements and an or of constraints tids cannot check */
	snprintf(text, sizeof(text),
		 "{\"@type\": \"Set\", \"permission\": [{\"action\": \"use\", \"assignee\": \"lessor.wh\", \"constraint\": "
		 "[{\"and\": [{\"leftOperand\": \"UsagePurpose\", \"operator\": \"isAnyOf\", \"rightOperand\": "
		 "[\"cx.pcf.base:1\"]}, {\"leftOperand\": \"FrameworkAgreement\", \"operator\": \"eq\", \"rightOperand\": "
		 "\"DataExchangeGovernance:1.0\"}, {\"leftOperand\": \"spatial\", \"operator\": \"eq\", \"rightOperand\": "
		 "\"https://www.wikidata.org/wiki/Q183\"}, {\"or\": [{\"leftOperand\": \"tids:category\", \"operator\": "
		 "\"eq\", \"rightOperand\": \"a\"}]}]}]}]}");
	ck_assert_int_eq(read_odrl(text, NULL, &doc, o, err, sizeof(err)), TIDS_EPOLICY);
	const char *all = all_problems(o);
	ck_assert_msg(strstr(all, "purpose \"cx.pcf.base:1\" is not a tids name") != NULL, "%s", all);
	ck_assert_msg(strstr(all, "constraint FrameworkAgreement eq DataExchangeGovernance:1.0: tids does not check "
			      "Catena-X framework agreements") != NULL, "%s", all);
	ck_assert_msg(strstr(all, "constraint spatial eq https://www.wikidata.org/wiki/Q183: a grant does not say where "
			      "its recipient may be") != NULL, "%s", all);
	ck_assert_msg(strstr(all, "a \"or\" of constraints") != NULL, "%s", all);
	tids_json_free(doc);
	/* not a policy at all */
	ck_assert_int_eq(read_odrl("{\"@type\": \"Asset\"}", NULL, &doc, o, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_msg(strstr(err, "is not an ODRL policy") != NULL, "%s", err);
	tids_json_free(doc);
	ck_assert_int_eq(read_odrl("[1]", NULL, &doc, o, err, sizeof(err)), TIDS_EINVAL);
	tids_json_free(doc);
	free(o);
}
END_TEST

struct skips {
	char text[4096];
	size_t n;
};

static void skipped(void *ctx, const char *id, const char *why)
{
	struct skips *s = ctx;
	size_t o = strlen(s->text);
	snprintf(s->text + o, sizeof(s->text) - o, "%s: %s\n", id, why);
	s->n++;
}

/* The standing rules ODRL can say, and only those, whole. */
START_TEST(rules_export)
{
	const char *pol =
		"permit stats when recipient.role == \"regulator\" && record.category in [\"energy\", \"water\"] && "
		"purpose == \"statistics\" with aggregate(sum, field \"kwh\", every 1mo, by site), redact field "
		"\"meter_serial\", retain 30d, no_onward_transfer, only_for [\"statistics\"] because \"stats\";\n"
		"forbid foreign when recipient.country not in [\"CN\", \"DE\"] && record.tier >= important because \"f\";\n"
		"oblige notify_core when record.tier == core with notify \"role:regulator\", log 3y because \"n\";\n"
		"permit mine when recipient.id == record.owner because \"owner\";\n"
		"permit granted when grant() because \"grant\";\n"
		"oblige per_record when true with retain until record.produced_at + 1d because \"r\";\n";
	struct tids_policy_source src = { "r.tidspol", pol, strlen(pol) };
	struct tids_policy_set *set = NULL;
	ck_assert_int_eq(tids_policy_compile(&src, 1, &set, NULL), 0);
	struct tids_jw w;
	struct skips s = { .n = 0 };
	tids_jw_init(&w);
	tids_jw_array_begin(&w);
	ck_assert_uint_eq(tids_policy_odrl_rules(&w, set, skipped, &s), 3);
	tids_jw_array_end(&w);
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_msg(strstr(s.text, "mine: it compares two attributes") != NULL, "%s", s.text);
	ck_assert_msg(strstr(s.text, "granted: it calls a function") != NULL, "%s", s.text);
	ck_assert_msg(strstr(s.text, "per_record: it retains until a time computed per delivery") != NULL, "%s", s.text);
	const char *j = w.buf;
	const char *want[] = {
		"\"@id\":\"urn:tids:rule:stats\"", "\"conflict\":\"prohibit\"",
		"{\"leftOperand\":\"tids:recipientRole\",\"operator\":\"eq\",\"rightOperand\":\"regulator\"}",
		"{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"statistics\"}",
		"{\"action\":\"tids:aggregate\",\"constraint\":[{\"and\":[{\"leftOperand\":\"tids:function\","
		"\"operator\":\"eq\",\"rightOperand\":\"sum\"}",
		"{\"leftOperand\":\"tids:window\",\"operator\":\"eq\",\"rightOperand\":{\"@value\":\"P1M\","
		"\"@type\":\"xsd:duration\"}}",
		"{\"action\":\"delete\",\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\","
		"\"rightOperand\":{\"@value\":\"P30D\",\"@type\":\"xsd:duration\"}}]}",
		"\"action\":\"distribute\"",
		"{\"leftOperand\":\"purpose\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"statistics\"]}",
		"\"@id\":\"urn:tids:rule:foreign\"",
		"{\"leftOperand\":\"spatial\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"CN\",\"DE\"]}",
		"{\"leftOperand\":\"tids:tier\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"important\",\"core\"]}",
		"\"obligation\":[{\"action\":\"inform\",\"informedParty\":[\"urn:tids:role:regulator\"]",
		"{\"action\":\"tids:log\",\"constraint\":[{\"and\":[{\"leftOperand\":\"tids:tier\",\"operator\":\"eq\","
		"\"rightOperand\":\"core\"},{\"leftOperand\":\"elapsedTime\",\"operator\":\"gteq\",\"rightOperand\":"
		"{\"@value\":\"P3Y\"",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(j, want[i]) != NULL, "no %s in\n%s", want[i], j);
	/* it is JSON */
	struct tids_json_doc *doc = NULL;
	char err[256];
	ck_assert_msg(tids_json_parse(w.buf, w.len, &doc, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(tids_json_len(tids_json_root(doc)), 3);
	tids_json_free(doc);
	tids_jw_free(&w);
	tids_policy_set_free(set);
}
END_TEST

int main(void)
{
	size_t n_vocab = 0;
	while (tids_policy_ob_at(n_vocab) != NULL)
		n_vocab++;
	Suite *s = suite_create("odrl");
	TCase *tc = tcase_create("odrl");
	tcase_add_test(tc, grants_round_trip);
	tcase_add_loop_test(tc, every_vocabulary_entry_round_trips, 0, (int)n_vocab);
	tcase_add_loop_test(tc, odrl_model_examples_are_refused_with_reasons, 0,
			    (int)(sizeof(examples) / sizeof(examples[0])));
	tcase_add_test(tc, catena_x_terms_and_hub_days);
	tcase_add_test(tc, rules_export);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
