/*
 * Record schemas in the policy language: declared per category, checked
 * when compiled (errors with file, line and column), enforced on records
 * field by field (what ingest and the scenario runner refuse), and held
 * against the rules: an aggregate, a removal or a test of a field the
 * category does not have is refused by `policy check`.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tids/error.h"

static struct tids_policy_diags *diags;

static char *all_diags(void)
{
	static char buf[8192];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < tids_policy_diags_count(diags) && o + 2 < sizeof(buf); i++) {
		int n = tids_policy_diag_format(tids_policy_diags_at(diags, i), buf + o, sizeof(buf) - o);
		o += n > 0 ? (size_t)n : 0;
		if (o + 1 < sizeof(buf))
			buf[o++] = '\n';
		buf[o < sizeof(buf) ? o : sizeof(buf) - 1] = '\0';
	}
	return buf;
}

static int compile(const char *text, struct tids_policy_set **set)
{
	struct tids_policy_source src = { "s.tidspol", text, strlen(text) };
	tids_policy_diags_clear(diags);
	*set = NULL;
	return tids_policy_compile(&src, 1, set, diags);
}

static struct tids_policy_set *compile_ok(const char *text)
{
	struct tids_policy_set *set;
	int rc = compile(text, &set);
	ck_assert_msg(rc == 0, "does not compile:\n%s", all_diags());
	return set;
}

static void expect_error(const char *text, const char *want)
{
	struct tids_policy_set *set;
	ck_assert_int_eq(compile(text, &set), TIDS_EPOLICY);
	ck_assert_ptr_null(set);
	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected \"%s\" among:\n%s", want, all_diags());
}

static void setup(void)
{
	diags = tids_policy_diags_new();
}

static void teardown(void)
{
	tids_policy_diags_free(diags);
}

static const char energy[] =
	"schema category \"energy\" fields [\n"
	"\t\"kwh\": real unit \"kWh\",\n"
	"\t\"meter_serial\": text optional,\n"
	"\t\"operator_id\": text labels [\"personal\", \"droppable\"] optional,\n"
	"\t\"pulses\": uint optional,\n"
	"];\n";

START_TEST(declarations_are_checked)
{
	expect_error("schema category \"energy\" fields [\"kwh\": decimal];",
		     "s.tidspol:1:41: error: expected a field type: int, uint, real, bool, text or blob, found 'decimal'");
	expect_error("schema category \"energy\" fields [\"kwh\": real, \"kwh\": int];",
		     "s.tidspol:1:47: error: field \"kwh\" is already in this schema (line 1)");
	expect_error("schema category \"energy\" fields [\"k w h\": real];",
		     "\"k w h\" is not a valid field name");
	expect_error("schema category \"Energy\" fields [\"kwh\": real];", "\"Energy\" is not a valid category name");
	expect_error("schema category \"energy\" fields [\"kwh\": real labels [\"no such\"]];",
		     "\"no such\" is not a valid label");
	expect_error("schema category \"energy\" fields [\"kwh\": real unit \"\"];", "the unit of \"kwh\" is 1 to 32");
	expect_error("schema category \"energy\" fields [\"kwh\": real];\n"
		     "schema category [\"water\", \"energy\"] fields [];\n",
		     "s.tidspol:2:17: error: category \"energy\" already has a schema at s.tidspol:1; one schema per category");
	expect_error("schema category \"energy\" [\"kwh\": real];", "expected `fields`");
	/* the declaration after a broken one is still read */
	expect_error("schema category \"energy\" fields [\"kwh\" real];\npermit p when nope because \"r\";\n",
		     "s.tidspol:2:15: error: unknown name 'nope'");
	struct tids_policy_set *set = compile_ok(energy);
	struct tids_policy_schemas *copy = tids_policy_schemas_copy(set);
	ck_assert_uint_eq(tids_policy_schemas_count(copy), 1);
	tids_policy_set_free(set);
	/* the copy outlives the set */
	struct tids_record rec = { .category = "energy", .tier = TIDS_TIER_GENERAL };
	char err[256];
	ck_assert_int_eq(tids_policy_schemas_check(copy, &rec, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "record does not fit the schema of category energy: field kwh (real) is missing");
	tids_policy_schemas_free(copy);
	tids_policy_schemas_free(NULL);
}
END_TEST

static struct tids_field field(const char *name, enum tids_value_kind kind, const char *const *labels, size_t n)
{
	struct tids_field f = { .name = name, .labels = labels, .n_labels = n };
	f.value.kind = kind;
	if (kind == TIDS_VALUE_TEXT) {
		f.value.as.bytes.data = (const uint8_t *)"x";
		f.value.as.bytes.len = 1;
	}
	return f;
}

/* Every field that does not fit is named, with what is wrong with it. */
START_TEST(records_are_checked_field_by_field)
{
	static const char *const personal[] = { "personal" }, *const both[] = { "personal", "droppable" };
	struct tids_policy_set *set = compile_ok(energy);
	char err[512];
	struct tids_field f[4];
	struct tids_record rec = { .category = "energy", .tier = TIDS_TIER_GENERAL, .fields = f };

	/* fits: a whole number where a real is declared widens */
	f[0] = field("kwh", TIDS_VALUE_INT, NULL, 0);
	f[1] = field("operator_id", TIDS_VALUE_TEXT, both, 2);
	f[2] = field("pulses", TIDS_VALUE_INT, NULL, 0);
	f[2].value.as.i = 5;
	rec.n_fields = 3;
	ck_assert_int_eq(tids_policy_check_record(set, &rec, err, sizeof(err)), 0);

	/* misnamed, mistyped, missing labels, negative for a uint, missing */
	f[0] = field("energy_kwh", TIDS_VALUE_REAL, NULL, 0);
	f[1] = field("operator_id", TIDS_VALUE_TEXT, personal, 1);
	f[2].value.as.i = -1;
	f[3] = field("meter_serial", TIDS_VALUE_REAL, NULL, 0);
	rec.n_fields = 4;
	ck_assert_int_eq(tids_policy_check_record(set, &rec, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "record does not fit the schema of category energy: "
		"field energy_kwh is not one of it (did you mean kwh?); "
		"field operator_id must carry the label droppable; "
		"field pulses is int, not uint; "
		"field meter_serial is real, not text; "
		"field kwh (real) is missing");
	/* a small buffer still says the first, and the call still refuses */
	char small[80];
	ck_assert_int_eq(tids_policy_check_record(set, &rec, small, sizeof(small)), TIDS_EINVAL);
	ck_assert(strncmp(small, "record does not fit the schema of category energy: field energy_kwh", 60) == 0);
	ck_assert_int_eq(tids_policy_check_record(set, &rec, NULL, 0), TIDS_EINVAL);

	/* a category without a schema takes anything */
	rec.category = "telemetry";
	ck_assert_int_eq(tids_policy_check_record(set, &rec, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_policy_check_record(NULL, &rec, err, sizeof(err)), 0);
	tids_policy_set_free(set);
}
END_TEST

/* Rules over fields a category does not have are refused when compiled. */
START_TEST(rules_are_held_against_the_schemas)
{
	char text[4096];
	/* the default set's regulator_energy_statistics summing a field the
	 * records call otherwise */
	snprintf(text, sizeof(text), "%s"
		 "permit stats when record.category == \"energy\" && purpose == \"statistics\"\n"
		 "  with aggregate(sum, field \"energy_kwh\", every 1mo, by site) because \"s\";\n", energy);
	expect_error(text, "s.tidspol:8:8: error: rule stats aggregates field \"energy_kwh\", which category energy does "
		     "not have (its schema: kwh, meter_serial, operator_id, pulses)");
	snprintf(text, sizeof(text), "%s"
		 "permit stats when record.category == \"energy\" with aggregate(avg, field \"meter_serial\", every 1h) "
		 "because \"s\";\n", energy);
	expect_error(text, "rule stats takes the avg of field \"meter_serial\", a text in category energy: only "
		     "numbers add up");
	snprintf(text, sizeof(text), "%s"
		 "permit r when record.category == \"energy\" with redact field \"operater_id\" because \"s\";\n", energy);
	expect_error(text, "rule r removes field \"operater_id\", which category energy does not have");
	snprintf(text, sizeof(text), "%s"
		 "forbid f when record.category in [\"energy\"] && has_field(\"watts\") because \"s\";\n", energy);
	expect_error(text, "rule f tests has_field() of field \"watts\", which category energy does not have");
	/* counting needs no field; a field one covered category has is fine
	 * for removing (not for summing); categories without schemas are
	 * not judged; nor are rules for every category */
	snprintf(text, sizeof(text), "%s"
		 "schema category \"water\" fields [\"litres\": real];\n"
		 "permit c when record.category == \"energy\" with aggregate(count, field \"kwh\", every 1d) because \"s\";\n"
		 "permit r when record.category in [\"energy\", \"water\"] with redact field \"meter_serial\" because \"s\";\n"
		 "permit t when record.category in [\"energy\", \"telemetry\"] with redact field \"rpm\" because \"s\";\n"
		 "permit a when true with redact field \"anything\" because \"s\";\n", energy);
	struct tids_policy_set *set = compile_ok(text);
	tids_policy_set_free(set);
	snprintf(text, sizeof(text), "%s"
		 "schema category \"water\" fields [\"litres\": real];\n"
		 "permit s when record.category in [\"energy\", \"water\"] with aggregate(sum, field \"kwh\", every 1d) "
		 "because \"s\";\n", energy);
	expect_error(text, "rule s aggregates field \"kwh\", which category water does not have (its schema: litres)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy schemas");
	TCase *tc = tcase_create("schemas");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, declarations_are_checked);
	tcase_add_test(tc, records_are_checked_field_by_field);
	tcase_add_test(tc, rules_are_held_against_the_schemas);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
