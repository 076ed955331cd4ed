/*
 * Who may ask for what, and who may approve (issue 9, items 1 and 2): the
 * `purposes role ... may` and `purpose ... needs case by role` declarations
 * with their checker errors, `purpose_allowed` (narrowed by a participant's
 * "purposes" attribute), approval()'s signer_role:/signer_covers: that make
 * an approval count only while its signer is an active regulator covering
 * the exporter, and cases: a purpose that needs one is served only under
 * one, and the decision names it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tids/error.h"

#define T0 INT64_C(1780300800000)         /* 2026-06-01T08:00:00Z */
#define DAY INT64_C(86400000)

static struct tids_policy_diags *diags;

static int compile_text(const char *text, struct tids_policy_set **set)
{
	struct tids_policy_source src = { "t.tidspol", text, strlen(text) };

	tids_policy_diags_clear(diags);
	return tids_policy_compile(&src, 1, set, diags);
}

static const char *all_diags(void)
{
	static char buf[8192];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < tids_policy_diags_count(diags) && o + 1 < sizeof(buf); i++) {
		int n = tids_policy_diag_format(tids_policy_diags_at(diags, i), buf + o, sizeof(buf) - o);

		if (n < 0)
			break;
		o += (size_t)n < sizeof(buf) - o ? (size_t)n : sizeof(buf) - o - 1;
		buf[o++] = '\n';
		buf[o] = '\0';
	}
	return buf;
}

static struct tids_policy_set *compile_ok(const char *text)
{
	struct tids_policy_set *set = NULL;

	ck_assert_msg(compile_text(text, &set) == 0, "does not compile:\n%s", all_diags());
	return set;
}

static void expect_error(const char *text, const char *want)
{
	struct tids_policy_set *set = NULL;

	ck_assert_int_eq(compile_text(text, &set), TIDS_EPOLICY);
	ck_assert_ptr_null(set);
	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected \"%s\" among:\n%s", want, all_diags());
}

static void expect_warning(const char *text, const char *want)
{
	struct tids_policy_set *set = compile_ok(text);

	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected warning \"%s\" among:\n%s", want, all_diags());
	tids_policy_set_free(set);
}

static void setup(void)
{
	diags = tids_policy_diags_new();
}

static void teardown(void)
{
	tids_policy_diags_free(diags);
	diags = NULL;
}

static const char declarations[] =
	"purposes role \"lessor\" may [\"billing\", \"maintenance\",];\n"
	"purposes role [\"regulator\", \"court_liaison\"] may [\"supervision\", \"legal_request\"];\n"
	"purposes role \"auditor\" may [];\n"
	"purpose \"legal_request\" needs case by role \"regulator\";\n";

START_TEST(declarations_and_queries)
{
	char text[2048];
	struct tids_policy_set *set;
	const char *roles[16], *purposes[16];
	size_t n;

	snprintf(text, sizeof(text), "%spermit p when purpose_allowed because \"r\";\n", declarations);
	set = compile_ok(text);
	ck_assert_uint_eq(tids_policy_diags_count(diags), 0);
	ck_assert(tids_policy_may_ask(set, "lessor", "billing"));
	ck_assert(tids_policy_may_ask(set, "court_liaison", "legal_request"));
	ck_assert(!tids_policy_may_ask(set, "lessor", "supervision"));
	ck_assert(!tids_policy_may_ask(set, "auditor", "billing"));
	ck_assert(!tids_policy_may_ask(set, "factory", "billing"));
	ck_assert(tids_policy_needs_case(set, "legal_request"));
	ck_assert(!tids_policy_needs_case(set, "supervision"));
	/* Every pair, in (role, purpose) order; `may []` adds none. */
	n = tids_policy_role_purposes(set, roles, purposes, 16);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(roles[0], "court_liaison");
	ck_assert_str_eq(purposes[0], "legal_request");
	ck_assert_str_eq(roles[2], "lessor");
	ck_assert_str_eq(purposes[2], "billing");
	ck_assert_str_eq(roles[5], "regulator");
	ck_assert_str_eq(purposes[5], "supervision");
	ck_assert_uint_eq(tids_policy_role_purposes(set, NULL, NULL, 0), 6);
	n = tids_policy_case_purposes(set, purposes, roles, 16);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(purposes[0], "legal_request");
	ck_assert_str_eq(roles[0], "regulator");
	tids_policy_set_free(set);
}
END_TEST

START_TEST(declaration_errors)
{
	expect_error("purposes role \"Lessor\" may [\"billing\"];", "t.tidspol:1:15: error: \"Lessor\" is not a valid role name");
	expect_error("purposes role \"lessor\" may [\"bill ing\"];", "t.tidspol:1:28: error: \"bill ing\" is not a valid purpose name");
	expect_error("purposes role \"lessor\" may [\"billing\"];\npurposes role \"lessor\" may [\"warranty\"];",
		     "t.tidspol:2:15: error: role \"lessor\" already has a purposes declaration at t.tidspol:1; list all of its purposes there");
	expect_error("purposes role \"lessor\" [\"billing\"];", "t.tidspol:1:24: error: expected `may`, found `[`");
	expect_error("purposes \"lessor\" may [\"billing\"];", "error: expected `role`");
	expect_error("purposes role \"lessor\" may billing;", "error: expected a purpose as a string or a [list] of strings");
	expect_error("purposes role [] may [\"billing\"];", "error: expected a role as a string");
	expect_error("purpose \"legal_request\" needs case;", "error: expected `by`");
	expect_error("purpose \"legal_request\" needs case by \"regulator\";", "error: expected `role`");
	expect_error("purpose \"Legal\" needs case by role \"regulator\";", "\"Legal\" is not a valid purpose name");
	expect_error("purposes role \"regulator\" may [\"legal_request\"];\n"
		     "purpose \"legal_request\" needs case by role \"regulator\";\n"
		     "purpose \"legal_request\" needs case by role \"court\";\n",
		     "t.tidspol:3:9: error: purpose \"legal_request\" already needs a case at t.tidspol:2; name every approving role there");
	/* The declarations do not reserve words: a rule may still say purpose. */
	expect_error("purposes role \"lessor\" may [\"billing\"];\npermit p when purpose_alowed because \"r\";",
		     "unknown name 'purpose_alowed' (did you mean purpose_allowed?)");
}
END_TEST

START_TEST(declaration_warnings)
{
	expect_warning("purposes role \"lessor\" may [\"billing\", \"billing\"];",
		       "warning: purpose \"billing\" is listed twice for role \"lessor\"");
	expect_warning("purposes role \"lessor\" may [\"billing\"];\n"
		       "purpose \"legal_request\" needs case by role \"regulator\";",
		       "t.tidspol:2:9: warning: purpose \"legal_request\" needs a case, but no purposes declaration lets any role ask for it");
	expect_warning("permit p when purpose_allowed because \"r\";",
		       "t.tidspol:1:15: warning: purpose_allowed is false for every request: no `purposes role ... may [...]` declaration");
}
END_TEST

/* ---- deciding ---- */

static const struct tids_policy_attr narrowed[] = { { "purposes", "maintenance" } };

static struct tids_policy_facts *world(void)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256];
	const struct tids_policy_participant ps[] = {
		{ .id = "owner.a", .role = "factory", .jurisdiction = "CN-SH" },
		{ .id = "owner.hb", .role = "factory", .jurisdiction = "CN-HB" },
		{ .id = "lessor.b", .role = "lessor", .jurisdiction = "CN-HB" },
		{ .id = "lessor.n", .role = "lessor", .jurisdiction = "CN-HB", .attrs = narrowed, .n_attrs = 1 },
		{ .id = "reg.sh", .role = "regulator", .jurisdiction = "CN-SH" },
		{ .id = "reg.hb", .role = "regulator", .jurisdiction = "CN-HB" },
		{ .id = "reg.cn", .role = "regulator", .jurisdiction = "CN" },
		{ .id = "reg.off", .role = "regulator", .jurisdiction = "CN-SH", .suspended = true },
		{ .id = "fake.reg", .role = "factory", .jurisdiction = "CN-SH" },
		{ .id = "reg.none", .role = "regulator", .jurisdiction = "" },
	};

	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		ck_assert_int_eq(tids_policy_facts_put_participant(f, &ps[i], err, sizeof(err)), 0);
	return f;
}

static struct tids_record rec(const char *owner, const char *category, enum tids_tier tier)
{
	struct tids_record r;

	memset(&r, 0, sizeof(r));
	r.owner = owner;
	r.asset_id = "";
	r.category = category;
	r.tier = tier;
	r.origin = "CN-SH";
	r.schema = "";
	return r;
}

static struct tids_policy_decision decide(const struct tids_policy_set *set, const struct tids_policy_facts *f,
					  const struct tids_record *r, const char *recipient, const char *purpose)
{
	struct tids_policy_request req = { r, recipient, purpose, T0, NULL, 0, false, NULL };
	struct tids_policy_decision d;

	ck_assert_int_eq(tids_policy_decide(set, f, &req, &d), 0);
	return d;
}

START_TEST(purpose_allowed_reads_role_and_narrowing)
{
	struct tids_policy_set *set = compile_ok(
		"purposes role \"lessor\" may [\"billing\", \"maintenance\"];\n"
		"permit asked when purpose_allowed because \"the role may ask for it\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record r = rec("owner.a", "run_hours", TIDS_TIER_GENERAL);

	ck_assert_int_eq(decide(set, f, &r, "lessor.b", "billing").verdict, TIDS_POLICY_ALLOW);
	ck_assert_int_eq(decide(set, f, &r, "lessor.b", "supervision").verdict, TIDS_POLICY_DENY);
	/* a role without a declaration, and an unregistered recipient */
	ck_assert_int_eq(decide(set, f, &r, "reg.sh", "billing").verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(decide(set, f, &r, "nobody.x", "billing").verdict, TIDS_POLICY_DENY);
	/* purposes=maintenance narrows what the role allows lessor.n */
	ck_assert_int_eq(decide(set, f, &r, "lessor.n", "maintenance").verdict, TIDS_POLICY_ALLOW);
	ck_assert_int_eq(decide(set, f, &r, "lessor.n", "billing").verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

static void put_approval(struct tids_policy_facts *f, const char *id, const char *kind, const char *regulator,
			 const char *exporter, const char *recipient, const char *case_id, const char *purpose)
{
	static const char *const cats[] = { "telemetry" };
	static const enum tids_tier tiers[] = { TIDS_TIER_CORE, TIDS_TIER_IMPORTANT };
	const char *purposes[] = { purpose };
	struct tids_policy_approval a = {
		.id = id, .kind = kind, .regulator = regulator, .exporter = exporter, .recipient = recipient,
		.categories = cats, .n_categories = 1, .tiers = tiers, .n_tiers = 2, .purposes = purposes,
		.n_purposes = 1, .from_jurisdiction = "", .to_jurisdiction = "", .valid_from_ms = T0 - DAY,
		.valid_until_ms = T0 + DAY, .case_id = case_id,
	};
	char err[256];

	ck_assert_int_eq(tids_policy_facts_put_approval(f, &a, err, sizeof(err)), 0);
}

START_TEST(approval_counts_only_from_a_covering_regulator)
{
	struct tids_policy_set *set = compile_ok(
		"permit core_access\n"
		"  when approval(kind: \"core_access\", exporter: record.owner, recipient: recipient.id,\n"
		"                signer_role: \"regulator\", signer_covers: owner.jurisdiction)\n"
		"  because \"a regulator approved it\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record r = rec("owner.a", "telemetry", TIDS_TIER_CORE);
	struct tids_record hb = rec("owner.hb", "telemetry", TIDS_TIER_CORE);
	struct tids_policy_participant reg_sh = { .id = "reg.sh", .role = "regulator", .jurisdiction = "CN-SH",
						  .suspended = true };
	struct tids_policy_decision d;
	char err[256];

	/* The finding: a factory signs its own core access. It counts not. */
	put_approval(f, "self", "core_access", "fake.reg", "owner.a", "fake.reg", NULL, "maintenance");
	ck_assert_int_eq(decide(set, f, &r, "fake.reg", "maintenance").verdict, TIDS_POLICY_DENY);
	/* Unregistered signer; a suspended one; one without a jurisdiction. */
	put_approval(f, "ghost", "core_access", "ghost.reg", "owner.a", "lessor.b", NULL, "maintenance");
	put_approval(f, "off", "core_access", "reg.off", "owner.a", "lessor.n", NULL, "maintenance");
	put_approval(f, "none", "core_access", "reg.none", "owner.a", "reg.hb", NULL, "maintenance");
	ck_assert_int_eq(decide(set, f, &r, "lessor.b", "maintenance").verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(decide(set, f, &r, "lessor.n", "maintenance").verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(decide(set, f, &r, "reg.hb", "maintenance").verdict, TIDS_POLICY_DENY);
	/* A regulator of another region covers not; CN covers CN-SH and CN-HB. */
	put_approval(f, "hb", "core_access", "reg.hb", "owner.a", "lessor.b", NULL, "maintenance");
	ck_assert_int_eq(decide(set, f, &r, "lessor.b", "maintenance").verdict, TIDS_POLICY_DENY);
	d = decide(set, f, &hb, "lessor.b", "maintenance");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_DENY);          /* names owner.a, not owner.hb */
	put_approval(f, "hb2", "core_access", "reg.hb", "owner.hb", "lessor.b", NULL, "maintenance");
	d = decide(set, f, &hb, "lessor.b", "maintenance");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(d.approval_id, "hb2");
	put_approval(f, "cn", "core_access", "reg.cn", "owner.a", "lessor.b", NULL, "maintenance");
	d = decide(set, f, &r, "lessor.b", "maintenance");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(d.approval_id, "cn");
	/* The right regulator, until it is suspended. */
	put_approval(f, "sh", "core_access", "reg.sh", "owner.a", "lessor.n", NULL, "maintenance");
	ck_assert_int_eq(decide(set, f, &r, "lessor.n", "maintenance").verdict, TIDS_POLICY_ALLOW);
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &reg_sh, err, sizeof(err)), 0);
	ck_assert_int_eq(decide(set, f, &r, "lessor.n", "maintenance").verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(case_purposes_need_a_case)
{
	struct tids_policy_set *set = compile_ok(
		"purposes role \"regulator\" may [\"legal_request\", \"supervision\"];\n"
		"purpose \"legal_request\" needs case by role \"regulator\";\n"
		"permit regulators when recipient.role == \"regulator\" because \"regulators\";\n"
		"permit owners when recipient.id == record.owner because \"owners\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record r = rec("owner.a", "telemetry", TIDS_TIER_IMPORTANT);
	struct tids_record other = rec("owner.hb", "telemetry", TIDS_TIER_IMPORTANT);
	struct tids_policy_decision d;

	/* A purpose that needs no case: the rules decide alone. */
	d = decide(set, f, &r, "reg.sh", "supervision");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_ALLOW);
	ck_assert_ptr_null(d.case_id);
	/* No case: refused whatever permits it, and said why. */
	d = decide(set, f, &r, "reg.sh", "legal_request");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_DENY);
	ck_assert_ptr_nonnull(strstr(d.because, "only under an open case"));
	ck_assert_uint_eq(d.n_rules, 0);
	ck_assert_ptr_null(d.case_id);
	/* Approvals that open no case: no case id; signed by a factory; of
	 * another kind; by a regulator not covering the exporter. */
	put_approval(f, "a1", "legal_request", "reg.sh", "owner.a", "reg.sh", "", "legal_request");
	put_approval(f, "a2", "legal_request", "fake.reg", "owner.a", "reg.sh", "C-2", "legal_request");
	put_approval(f, "a3", "core_access", "reg.sh", "owner.a", "reg.sh", "C-3", "legal_request");
	put_approval(f, "a4", "legal_request", "reg.hb", "owner.a", "reg.sh", "C-4", "legal_request");
	ck_assert_int_eq(decide(set, f, &r, "reg.sh", "legal_request").verdict, TIDS_POLICY_DENY);
	/* The case: the decision names it, for this exporter only. */
	put_approval(f, "case-1", "legal_request", "reg.sh", "owner.a", "reg.sh", "CASE-1", "legal_request");
	d = decide(set, f, &r, "reg.sh", "legal_request");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(d.case_id, "CASE-1");
	ck_assert_str_eq(d.approval_id, "case-1");
	ck_assert_int_eq(decide(set, f, &other, "reg.sh", "legal_request").verdict, TIDS_POLICY_DENY);
	/* The owner needs no case for its own data. */
	d = decide(set, f, &r, "owner.a", "legal_request");
	ck_assert_int_eq(d.verdict, TIDS_POLICY_ALLOW);
	ck_assert_ptr_null(d.case_id);
	/* Withdrawn: closed. */
	ck_assert_int_eq(tids_policy_facts_remove_approval(f, "case-1"), 0);
	ck_assert_int_eq(decide(set, f, &r, "reg.sh", "legal_request").verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy purposes");
	TCase *tc = tcase_create("purposes");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, declarations_and_queries);
	tcase_add_test(tc, declaration_errors);
	tcase_add_test(tc, declaration_warnings);
	tcase_add_test(tc, purpose_allowed_reads_role_and_narrowing);
	tcase_add_test(tc, approval_counts_only_from_a_covering_regulator);
	tcase_add_test(tc, case_purposes_need_a_case);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
