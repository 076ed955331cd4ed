/*
 * The obligations vocabulary (policy/obligations.def) end to end: every
 * entry of the table, whatever it holds, goes through the same paths
 * without code of its own. A rule asks for it, a decision carries it, the
 * wire carries it to the recipient, JSON shows it, a grant's duties bring
 * it, a scenario expects it. A new entry is tested here the moment it is
 * added to the table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tids/error.h"
#include "tids/json.h"
#include "tids/wire.h"

#define T0 INT64_C(1780300800000)         /* 2026-06-01T08:00:00Z */

static const struct tids_policy_ob_info *entry(size_t i)
{
	return tids_policy_ob_at(i);
}

/* A value the entry's list accepts. */
static const char *value_for(const struct tids_policy_ob_info *v)
{
	return v->ids ? "reg.c" : "some_duty";
}

static struct tids_policy_set *compile_rule(const char *with)
{
	char text[512];
	struct tids_policy_set *set = NULL;
	struct tids_policy_diags *d = tids_policy_diags_new();
	snprintf(text, sizeof(text), "permit p when recipient.id == \"lessor.b\" with %s because \"ok\";\n",
		 with);
	struct tids_policy_source src = { "v.tidspol", text, strlen(text) };
	int rc = tids_policy_compile(&src, 1, &set, d);
	char line[512] = "";
	if (rc != 0 && tids_policy_diags_count(d) > 0)
		tids_policy_diag_format(tids_policy_diags_at(d, 0), line, sizeof(line));
	tids_policy_diags_free(d);
	ck_assert_msg(rc == 0, "`with %s` does not compile: %s", with, line);
	return set;
}

static struct tids_policy_facts *facts(void)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256];
	struct tids_policy_participant p = { .id = "lessor.b", .role = "lessor", .jurisdiction = "CN-HB" };
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &p, err, sizeof(err)), 0);
	return f;
}

static struct tids_record record(void)
{
	struct tids_record r = { .owner = "owner.a", .asset_id = "m1", .category = "telemetry",
				 .tier = TIDS_TIER_GENERAL, .origin = "CN-SH", .produced_at_ms = T0 };
	return r;
}

static bool wire_has(struct tids_obligations *o, const struct tids_policy_ob_info *v)
{
	if (!v->list)
		return *tids_policy_ob_wire_flag(o, v->index);
	const struct tids_strlist *l = tids_policy_ob_wire_list(o, v->index);
	return l->n == 1 && strcmp(l->items[0], value_for(v)) == 0;
}

/* Rule -> decision -> Delivery bytes -> recipient -> JSON, for each entry. */
START_TEST(every_entry_travels_from_rule_to_recipient)
{
	const struct tids_policy_ob_info *v = entry((size_t)_i);
	char with[128];
	if (v->list)
		snprintf(with, sizeof(with), "%s \"%s\"", v->word, value_for(v));
	else
		snprintf(with, sizeof(with), "%s", v->word);
	struct tids_policy_set *set = compile_rule(with);
	struct tids_policy_facts *f = facts();
	struct tids_record rec = record();
	struct tids_policy_request req = { .record = &rec, .recipient = "lessor.b", .purpose = "billing", .now_ms = T0 };
	struct tids_policy_decision dec;
	ck_assert_int_eq(tids_policy_decide(set, f, &req, &dec), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);

	/* on the wire */
	const char *names[4];
	struct tids_delivery del = { 0 }, got;
	tids_policy_obligations_to_wire(&dec, &rec, names, 4, &del.obligations);
	ck_assert_msg(wire_has(&del.obligations, v), "%s lost converting the decision", v->name);
	uint8_t id[TIDS_RECORD_ID_BYTES] = { 1 };
	memcpy(rec.record_id, id, sizeof(id));
	del.record = rec;
	del.decision = TIDS_DECISION_ALLOW;
	del.purpose = "billing";
	del.grant_id = "";
	uint8_t *buf;
	size_t len;
	char err[256];
	ck_assert_int_eq(tids_wire_encode_delivery(&del, &buf, &len), 0);
	ck_assert_msg(tids_wire_decode_delivery(buf, len, &got, err, sizeof(err)) == 0, "%s", err);
	free(buf);
	ck_assert_msg(wire_has(&got.obligations, v), "%s lost on the wire", v->name);

	/* as JSON: under its name */
	struct tids_jw w;
	char want[96];
	tids_jw_init(&w);
	tids_jw_obligations(&w, &got.obligations);
	ck_assert_int_eq(w.err, 0);
	snprintf(want, sizeof(want), v->list ? "\"%s\":[\"%s\"]" : "\"%s\":true", v->name, value_for(v));
	ck_assert_msg(strstr(w.buf, want) != NULL, "JSON %s lacks %s", w.buf, want);
	tids_jw_free(&w);
	tids_delivery_free(&got);

	/* explained in words */
	char text[2048];
	tids_policy_decision_format(set, &dec, &rec, text, sizeof(text));
	ck_assert_msg(strstr(text, v->name) != NULL, "explain does not name %s:\n%s", v->name, text);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* A grant's duty (as a SignedGrant carries it) reaches the decision. */
START_TEST(every_entry_comes_with_a_grant)
{
	const struct tids_policy_ob_info *v = entry((size_t)_i);
	struct tids_policy_set *set = NULL;
	struct tids_policy_facts *f = facts();
	const char *val[] = { value_for(v) };
	struct tids_obligations wire = { 0 };
	if (v->list)
		*tids_policy_ob_wire_list(&wire, v->index) = (struct tids_strlist){ val, 1 };
	else
		*tids_policy_ob_wire_flag(&wire, v->index) = true;
	static const char *const cats[] = { "telemetry" }, *const purposes[] = { "billing" };
	struct tids_policy_grant g = { .id = "g1", .owner = "owner.a", .grantee = "lessor.b",
				       .categories = cats, .n_categories = 1, .purposes = purposes,
				       .n_purposes = 1 };
	tids_policy_duties_from_wire(&wire, &g.duties);
	char err[256];
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	/* a set whose permit rests on the grant */
	const char *text = "permit g when grant() because \"granted\";\n";
	struct tids_policy_source src = { "g.tidspol", text, strlen(text) };
	ck_assert_int_eq(tids_policy_compile(&src, 1, &set, NULL), 0);
	struct tids_record rec = record();
	struct tids_policy_request req = { .record = &rec, .recipient = "lessor.b", .purpose = "billing", .now_ms = T0 };
	struct tids_policy_decision dec;
	ck_assert_int_eq(tids_policy_decide(set, f, &req, &dec), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(dec.grant_id, "g1");
	const char *names[2];
	struct tids_obligations out;
	tids_policy_obligations_to_wire(&dec, &rec, names, 2, &out);
	ck_assert_msg(wire_has(&out, v), "the grant's %s does not reach the delivery", v->name);
	/* and back to the wire form a grant is signed in */
	struct tids_obligations back;
	tids_policy_duties_to_wire(&g.duties, &back);
	ck_assert(wire_has(&back, v));
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* Scenario files name each entry as a grant key and as an expectation. */
START_TEST(every_entry_in_a_scenario)
{
	const struct tids_policy_ob_info *v = entry((size_t)_i);
	char text[1024], grant_kv[96], expect[96];
	if (v->list) {
		snprintf(grant_kv, sizeof(grant_kv), "%s=%s", v->name, value_for(v));
		snprintf(expect, sizeof(expect), "%s %s", v->name, value_for(v));
	} else {
		snprintf(grant_kv, sizeof(grant_kv), "%s", v->name);
		snprintf(expect, sizeof(expect), "%s", v->name);
	}
	snprintf(text, sizeof(text),
		 "now 2026-06-01T08:00:00Z\n"
		 "participant lessor.b role=lessor jurisdiction=CN-HB\n"
		 "grant g1 owner=owner.a grantee=lessor.b categories=telemetry purposes=billing %s\n"
		 "record r owner=owner.a asset=m1 category=telemetry tier=general origin=CN-SH\n"
		 "| # | record | recipient | purpose | expect |\n"
		 "| 1 | r | lessor.b | billing | allow; grant g1; %s |\n"
		 "| 2 | r | lessor.b | maintenance | deny; not %s |\n",
		 grant_kv, expect, v->list ? expect : v->name);
	const char *pol = "permit g when grant() because \"granted\";\n";
	struct tids_policy_source src = { "g.tidspol", pol, strlen(pol) };
	struct tids_policy_set *set = NULL;
	ck_assert_int_eq(tids_policy_compile(&src, 1, &set, NULL), 0);
	struct tids_policy_diags *d = tids_policy_diags_new();
	struct tids_policy_scenario *s = NULL;
	int rc = tids_policy_scenario_parse("v.scenario", text, strlen(text), &s, d);
	char line[512] = "";
	if (rc != 0 && tids_policy_diags_count(d) > 0)
		tids_policy_diag_format(tids_policy_diags_at(d, 0), line, sizeof(line));
	ck_assert_msg(rc == 0, "%s", line);
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 0, SIZE_MAX, NULL, NULL), 0);
	tids_policy_scenario_free(s);
	tids_policy_diags_free(d);
	tids_policy_set_free(set);
}
END_TEST

/* The vocabulary has no two entries of one name or keyword, and each
 * name is one the wire accepts as a name. */
START_TEST(names_are_unique)
{
	const struct tids_policy_ob_info *a, *b;
	for (size_t i = 0; (a = entry(i)) != NULL; i++) {
		ck_assert_ptr_eq(tids_policy_ob_find(a->name), a);
		ck_assert_ptr_eq(tids_policy_ob_find(a->word), a);
		ck_assert(tids_valid_name(a->name));
		for (size_t j = i + 1; (b = entry(j)) != NULL; j++) {
			ck_assert_str_ne(a->name, b->name);
			ck_assert_str_ne(a->word, b->word);
		}
	}
	ck_assert_ptr_null(tids_policy_ob_find("no_such_obligation"));
}
END_TEST

int main(void)
{
	size_t n = 0;
	while (entry(n) != NULL)
		n++;
	Suite *s = suite_create("obligations vocabulary");
	TCase *tc = tcase_create("entries");
	tcase_add_loop_test(tc, every_entry_travels_from_rule_to_recipient, 0, (int)n);
	tcase_add_loop_test(tc, every_entry_comes_with_a_grant, 0, (int)n);
	tcase_add_loop_test(tc, every_entry_in_a_scenario, 0, (int)n);
	tcase_add_test(tc, names_are_unique);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
