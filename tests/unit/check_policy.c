/*
 * The policy engine module by module: lexer, parser and checker (with the
 * exact messages an operator reads), static analysis, the index, the fact
 * store, the evaluator's semantics (default deny, forbid wins, obligations
 * composing to the most restrictive, tier lowering) and applying obligations.
 * Policies here are small and inline; policy/scenarios/ tests the default set.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "policy.h"
#include "tids/error.h"

#define T0 INT64_C(1780300800000)         /* 2026-06-01T08:00:00Z */
#define DAY INT64_C(86400000)

/* ---- helpers ---- */

static struct tids_policy_diags *diags;

static int compile_text(const char *text, struct tids_policy_set **set)
{
	struct tids_policy_source src = { "t.tidspol", text, strlen(text) };
	tids_policy_diags_clear(diags);
	return tids_policy_compile(&src, 1, set, diags);
}

static struct tids_policy_set *compile_ok(const char *text)
{
	struct tids_policy_set *set = NULL;
	int rc = compile_text(text, &set);
	if (rc != 0) {
		char line[600];
		const struct tids_policy_diag *d = tids_policy_diags_at(diags, 0);
		if (d != NULL)
			tids_policy_diag_format(d, line, sizeof(line));
		else
			snprintf(line, sizeof(line), "%s", tids_strerror(rc));
		ck_abort_msg("policy does not compile: %s", line);
	}
	return set;
}

/* The formatted diagnostics, one per line, for substring checks. */
static const char *all_diags(void)
{
	static char buf[8192];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < tids_policy_diags_count(diags) && o < sizeof(buf); i++) {
		int n = tids_policy_diag_format(tids_policy_diags_at(diags, i), buf + o, sizeof(buf) - o);
		if (n < 0)
			break;
		o += (size_t)n;
		if (o + 1 < sizeof(buf))
			buf[o++] = '\n';
		buf[o < sizeof(buf) ? o : sizeof(buf) - 1] = '\0';
	}
	return buf;
}

/* Compiles text expecting failure with a diagnostic containing want. */
static void expect_error(const char *text, const char *want)
{
	struct tids_policy_set *set = NULL;
	int rc = compile_text(text, &set);
	ck_assert_msg(rc == TIDS_EPOLICY, "expected an error for:\n%s\ngot rc %d", text, rc);
	ck_assert_ptr_null(set);
	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected \"%s\" among:\n%s", want,
		      all_diags());
}

static void expect_warning(const char *text, const char *want)
{
	struct tids_policy_set *set = compile_ok(text);
	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected warning \"%s\" among:\n%s", want,
		      all_diags());
	ck_assert_uint_eq(tids_policy_diags_errors(diags), 0);
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

/* A small world: a lessee, its lessor (CN, with an agreement), a foreign
 * lessor, a regulator; one leased asset. */
static struct tids_policy_facts *world(void)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256];
	static const struct tids_policy_attr agreement[] = { { "security_agreement", "true" } };
	const struct tids_policy_participant ps[] = {
		{ .id = "owner.a", .role = "factory", .jurisdiction = "CN-SH" },
		{ .id = "lessor.b", .role = "lessor", .jurisdiction = "CN-HB", .attrs = agreement,
		  .n_attrs = 1 },
		{ .id = "lessor.x", .role = "lessor", .jurisdiction = "DE" },
		{ .id = "reg.c", .role = "regulator", .jurisdiction = "CN-SH" },
		{ .id = "gone.d", .role = "lessor", .jurisdiction = "CN-SH", .suspended = true },
	};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		ck_assert_int_eq(tids_policy_facts_put_participant(f, &ps[i], err, sizeof(err)), 0);
	struct tids_policy_asset a = { .id = "m1", .lessee = "owner.a", .lessor = "lessor.b",
				       .site = "site-1" };
	ck_assert_int_eq(tids_policy_facts_put_asset(f, &a, err, sizeof(err)), 0);
	return f;
}

static const char *const personal[] = { "personal" };
static const char *const droppable[] = { "droppable" };
static const char *const process[] = { "process" };

static struct tids_field fields[4] = {
	{ .name = "rpm", .value = { .kind = TIDS_VALUE_INT } },
	{ .name = "operator", .value = { .kind = TIDS_VALUE_TEXT, .as.bytes = { (const uint8_t *)"op", 2 } },
	  .labels = personal, .n_labels = 1 },
	{ .name = "recipe_step", .value = { .kind = TIDS_VALUE_INT }, .tier = TIDS_TIER_CORE,
	  .labels = droppable, .n_labels = 1 },
	{ .name = "load", .value = { .kind = TIDS_VALUE_INT }, .labels = process, .n_labels = 1 },
};

static struct tids_record record(const char *category, enum tids_tier tier, size_t n_fields)
{
	return (struct tids_record){
		.owner = "owner.a", .asset_id = "m1", .category = category, .tier = tier,
		.origin = "CN-SH", .schema = "", .fields = fields, .n_fields = n_fields,
		.produced_at_ms = T0,
	};
}

static struct tids_policy_decision dec;

static int decide(const struct tids_policy_set *set, const struct tids_policy_facts *f,
		  const struct tids_record *rec, const char *recipient, const char *purpose)
{
	struct tids_policy_request req = { rec, recipient, purpose, T0, NULL, 0, false, NULL };
	return tids_policy_decide(set, f, &req, &dec);
}

static bool listed(const char *rule)
{
	for (size_t i = 0; i < dec.n_rules; i++)
		if (strcmp(dec.rule_ids[i], rule) == 0)
			return true;
	return false;
}

/* ---- lexer ---- */

struct lexed {
	enum tok kind[32];
	int64_t num[32];
	int64_t months[32];
	bool date[32];
	const char *str[32];
	unsigned line[32], col[32];
	size_t n;
};

static struct arena lex_arena;

static struct lexed lex_all(const char *text)
{
	struct lexer lx;
	struct lexed out = { .n = 0 };
	tids_policy_diags_clear(diags);
	pol_lex_init(&lx, "l", text, strlen(text), &lex_arena, diags);
	for (;;) {
		struct token t;
		pol_lex_next(&lx, &t);
		out.kind[out.n] = t.kind;
		out.num[out.n] = t.num;
		out.months[out.n] = t.months;
		out.date[out.n] = t.date;
		out.str[out.n] = t.str;
		out.line[out.n] = t.line;
		out.col[out.n] = t.col;
		out.n++;
		if (t.kind == TOK_EOF || out.n == 32)
			return out;
	}
}

START_TEST(lex_tokens)
{
	struct lexed l = lex_all("permit x_1 when a.b >= 100_000 && !c || d != \"s\\\"q\" # comment\n"
				 "  in [ ] ( ) , ; : = + - < <= > == // also a comment\n");
	enum tok want[] = { TOK_IDENT, TOK_IDENT, TOK_IDENT, TOK_IDENT, TOK_DOT, TOK_IDENT, TOK_GE,
			    TOK_INT, TOK_AND, TOK_NOT, TOK_IDENT, TOK_OR, TOK_IDENT, TOK_NE, TOK_STRING,
			    TOK_IDENT, TOK_LBRACK, TOK_RBRACK, TOK_LPAREN, TOK_RPAREN, TOK_COMMA,
			    TOK_SEMI, TOK_COLON, TOK_ASSIGN, TOK_PLUS, TOK_MINUS, TOK_LT, TOK_LE, TOK_GT,
			    TOK_EQ, TOK_EOF };
	ck_assert_uint_eq(l.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < l.n; i++)
		ck_assert_msg(l.kind[i] == want[i], "token %zu: %s, expected %s", i,
			      pol_tok_name(l.kind[i]), pol_tok_name(want[i]));
	ck_assert_int_eq(l.num[7], 100000);
	ck_assert_str_eq(l.str[14], "s\"q");
	ck_assert_uint_eq(l.line[15], 2);
	ck_assert_uint_eq(l.col[15], 3);
	ck_assert_uint_eq(tids_policy_diags_errors(diags), 0);
}
END_TEST

START_TEST(lex_durations_and_times)
{
	struct lexed l = lex_all("1h30m 90d 3y 250ms 2026-06-01 2026-06-01T08:00:00Z 2026-06-01T16:00:00+08:00 7 "
				 "1mo 1q 1y6mo2d");
	ck_assert_int_eq(l.kind[0], TOK_DURATION);
	ck_assert_int_eq(l.num[0], 90 * 60 * 1000);
	ck_assert_int_eq(l.num[1], 90 * DAY);
	/* years, quarters and months follow the calendar: no fixed length */
	ck_assert_int_eq(l.num[2], 0);
	ck_assert_int_eq(l.months[2], 36);
	ck_assert_int_eq(l.num[3], 250);
	ck_assert_int_eq(l.kind[4], TOK_TIME);
	ck_assert_int_eq(l.num[4], T0 - 8 * 3600 * 1000);
	ck_assert(l.date[4]);
	ck_assert_int_eq(l.num[5], T0);
	ck_assert(!l.date[5]);
	ck_assert_int_eq(l.num[6], T0);
	ck_assert_int_eq(l.kind[7], TOK_INT);
	ck_assert_int_eq(l.months[8], 1);
	ck_assert_int_eq(l.months[9], 3);
	ck_assert_int_eq(l.months[10], 18);
	ck_assert_int_eq(l.num[10], 2 * DAY);
}
END_TEST

static void lex_error(const char *text, const char *want)
{
	struct lexed l = lex_all(text);
	bool saw = false;
	for (size_t i = 0; i < l.n; i++)
		saw |= l.kind[i] == TOK_ERROR;
	ck_assert_msg(saw, "no error token for %s", text);
	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected \"%s\", got:\n%s", want, all_diags());
}

START_TEST(lex_errors_units_and_times)
{
	lex_error("\"open", "l:1:1: error: string is not closed before the end of the line");
	lex_error("\"a\\qb\"", "unknown escape \\'q' in string");
	lex_error("5x", "l:1:1: error: unknown duration unit 'x' (use ms, s, m, h, d, w, or mo, q, y of the calendar)");
	lex_error("2026-13-01", "'2026-13-01' is not a valid time");
	lex_error("2026-02-30", "is not a valid time");
	lex_error("a & b", "l:1:3: error: '&' alone is not an operator (write &&)");
	lex_error("'x'", "strings are written in double quotes");
	lex_error("99999999999999999999", "number is too large");
	lex_error("x @", "l:1:3: error: unexpected '@'");
}
END_TEST

/* ---- parser ---- */

START_TEST(parse_declarations)
{
	struct tids_policy_set *set = compile_ok(
		"attribute participant.vip: bool = true;\n"
		"attribute asset.age: int = -1;\n"
		"let lessors = [\"lessor\", \"leasing\"];\n"
		"permit a when recipient.role in lessors && recipient.vip && asset.age < 5\n"
		"  with redact label \"process\" field [\"x\", \"y\"], drop field \"z\", keep label \"k\",\n"
		"       demote label \"droppable\", aggregate(sum, field \"n\", every 1h, by [asset, site]),\n"
		"       coarsen(label \"pos\", to asset.site), retain 30d, retain until now + 1d, log 3y,\n"
		"       notify [\"reg.c\", record.owner], only_for [purpose], duty \"no_resale\",\n"
		"       count(\"c\", record.owner, year(now), record.individuals), no_onward_transfer, encrypt\n"
		"  because \"every obligation\";\n"
		"forbid b when not (record.tier == core) and purpose not in [\"x\"] or false because \"words\";\n"
		"oblige c with encrypt because \"always\";\n");
	ck_assert_uint_eq(tids_policy_set_rule_count(set), 3);
	const struct tids_policy_rule_info *ri = tids_policy_set_rule(set, "b");
	ck_assert_ptr_nonnull(ri);
	ck_assert_int_eq(ri->kind, TIDS_POLICY_FORBID);
	ck_assert_str_eq(ri->because, "words");
	ck_assert_uint_eq(ri->line, 11);
	ck_assert_ptr_null(tids_policy_set_rule(set, "nope"));
	tids_policy_set_free(set);
}
END_TEST

START_TEST(parse_errors_name_line_and_column)
{
	expect_error("permit a when x ==\n", "t.tidspol:2:1: error: expected a value, a name or `(`, found end of file");
	expect_error("permit a because \"r\"", "t.tidspol:1:21: error: expected `;` to end the rule, found end of file");
	expect_error("permit a when purpose == \"x\";", "t.tidspol:1:29: error: expected an operator, `with`, or `because` and the rule's reason, found `;`");
	expect_error("permit when x because \"r\";", "t.tidspol:1:8: error: 'when' is a keyword and cannot be the rule's name");
	expect_error("forbid f when true with encrypt because \"r\";", "t.tidspol:1:20: error: a forbid cannot carry obligations");
	expect_error("permit a when purpose = \"x\" because \"r\";", "t.tidspol:1:23: error: `=` assigns; compare with `==`");
	expect_error("permit a when 1 < 2 < 3 because \"r\";", "comparisons do not chain");
	expect_error("permit a with shred field \"x\" because \"r\";", "t.tidspol:1:15: error: unknown obligation 'shred'");
	expect_error("permit a with redact \"x\" because \"r\";", "expected `field` or `label`");
	expect_error("permit a with aggregate(sum, \"n\", 1h) because \"r\";", "expected `every`");
	expect_error("grant x;", "t.tidspol:1:1: error: expected `permit`, `forbid`, `oblige`, `let`, `attribute`, `floor`, `purposes`, `purpose` or `schema`, found 'grant'");
	expect_error("attribute recipient.x: bool;", "expected `participant` or `asset`");
	expect_error("attribute participant.x: float;", "expected a type: bool, int, string, time, duration or tier");
}
END_TEST

START_TEST(parse_recovers_and_reports_every_error)
{
	struct tids_policy_set *set = NULL;
	int rc = compile_text("permit a when purpose == because \"r\";\n"
			      "permit b when purpose == \"x\" because \"r\"\n"
			      "permit c when purpose == \"y\" because \"r\";\n"
			      "forbid d when purpose == 3 because \"r\";\n", &set);
	ck_assert_int_eq(rc, TIDS_EPOLICY);
	ck_assert_uint_eq(tids_policy_diags_errors(diags), 3);
	const char *d = all_diags();
	ck_assert_msg(strstr(d, "t.tidspol:1:26:") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "t.tidspol:3:1: error: expected `;` to end the rule, found 'permit'") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "t.tidspol:4:23: error: `==` compares purpose (string) with a int") != NULL, "%s", d);
}
END_TEST

START_TEST(parse_nesting_limit)
{
	char buf[512];
	size_t o = 0;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "permit a when ");
	for (int i = 0; i < 70; i++)
		buf[o++] = '(';
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "true");
	for (int i = 0; i < 70; i++)
		buf[o++] = ')';
	snprintf(buf + o, sizeof(buf) - o, " because \"r\";");
	expect_error(buf, "expression is nested more than 64 deep");
}
END_TEST

/* ---- checker ---- */

START_TEST(check_names_and_suggestions)
{
	expect_error("attribute participant.security_agreement: bool;\n"
		     "permit a when recipient.security_agrement because \"r\";",
		     "t.tidspol:2:15: error: unknown attribute recipient.security_agrement (did you mean recipient.security_agreement?)");
	expect_error("permit a when record.categroy == \"x\" because \"r\";",
		     "unknown attribute record.categroy (did you mean record.category?)");
	expect_error("permit a when recipient.colour == \"x\" because \"r\";",
		     "unknown attribute recipient.colour (declare it: attribute participant.colour: bool;)");
	expect_error("permit a when customer.id == \"x\" because \"r\";",
		     "unknown attribute customer.id: attributes start with record., recipient., owner., asset. or grant.");
	expect_error("permit a when purpse == \"x\" because \"r\";", "unknown name 'purpse' (did you mean purpose?)");
	expect_error("permit a when x == billing because \"r\";", "unknown name 'billing' (strings are written in double quotes)");
	expect_error("permit a when record == \"x\" because \"r\";", "record is not a value; name one of its attributes, e.g. record.category");
	expect_error("permit a when contry(record.origin) == \"CN\" because \"r\";", "unknown function contry() (did you mean country?)");
}
END_TEST

START_TEST(check_types)
{
	expect_error("permit a when record.tier == \"core\" because \"r\";",
		     "t.tidspol:1:30: error: tiers are written without quotes: core, not \"core\"");
	expect_error("permit a when record.tier in [\"core\"] because \"r\";", "tiers are written without quotes in the list");
	expect_error("permit a when record.individuals > \"many\" because \"r\";",
		     "`>` compares record.individuals (int) with \"many\" (string)");
	expect_error("permit a when purpose < \"m\" because \"r\";", "`<` needs ordered values, not strings");
	expect_error("permit a when purpose because \"r\";", "the condition of a must be true or false, but it is purpose (string)");
	expect_error("permit a when purpose == [\"x\"] because \"r\";", "`==` cannot compare a list; test membership with `in`");
	expect_error("permit a when purpose in \"x\" because \"r\";", "`in` needs a [list] on its right, not a string");
	expect_error("permit a when purpose in [\"x\", 1] because \"r\";", "list mixes string and int items");
	expect_error("permit a when now + now > now because \"r\";", "cannot add a time to a time");
	expect_error("permit a when !purpose because \"r\";", "`!` negates a bool, not a string");
	expect_error("permit a when purpose && true because \"r\";", "`&&` joins conditions; purpose (string) is not one");
	expect_error("permit a with retain until 3 because \"r\";", "retain until needs a time, not a int");
	expect_error("permit a with notify 3 because \"r\";", "notify takes strings, not a int");
	expect_error("permit a with count(\"c\", 1, 2, 3) because \"r\";", "count's key must be a string, not a int");
	expect_error("permit a with aggregate(median, \"n\", every 1h) because \"r\";", "unknown aggregate function 'median'");
	expect_error("permit a with aggregate(sum, \"n\", every 1h, by colour) because \"r\";", "cannot group by 'colour'");
	expect_error("permit a with duty \"No Resale\" because \"r\";", "duty \"No Resale\" must be a name of [a-z0-9_]");
	expect_error("permit a with drop field \"a b\" because \"r\";", "\"a b\" is not a valid field name");
}
END_TEST

START_TEST(check_functions)
{
	expect_error("permit a when approval(\"export\") because \"r\";",
		     "approval() takes named arguments: approval(kind: ...");
	expect_error("permit a when approval(kind: \"export\", recipent: recipient.id) because \"r\";",
		     "approval() has no argument 'recipent' (did you mean recipient?)");
	expect_error("permit a when approval(kind: \"a\", kind: \"b\") because \"r\";", "argument 'kind' is given twice");
	expect_error("permit a when approval(tier: \"core\") because \"r\";", "tiers are written without quotes: core, not \"core\"");
	expect_error("permit a when approval(at: 3) because \"r\";", "approval(at: ...) takes a time, not a int");
	expect_error("permit a when counter(\"x\", record.owner) > 1 because \"r\";",
		     "counter takes 3 arguments: counter(name, key, period)");
	expect_error("permit a when country(kind: record.origin) == \"CN\" because \"r\";", "country takes its arguments by position");
	expect_error("permit a when grant(max_window: 3) because \"r\";", "grant(max_window: ...) takes a duration, not a int");
	expect_error("permit a when grant.not_after > now because \"r\";",
		     "rule a reads grant.* but never calls grant(), so there is no grant to read");
	expect_error("permit a with retain until grant.not_after because \"r\";", "never calls grant()");
}
END_TEST

START_TEST(check_lets_and_declarations)
{
	expect_error("let a = b;\nlet b = a;\npermit p when a because \"r\";", "'a' is defined in terms of itself");
	expect_error("let x = true;\nlet x = false;\npermit p when x because \"r\";",
		     "t.tidspol:2:5: error: 'x' is already defined at t.tidspol:1");
	expect_error("let purpose = true;\npermit p when true because \"r\";", "'purpose' is a built-in name and cannot be redefined");
	expect_error("let grant = true;\npermit p when true because \"r\";", "'grant' is a built-in name");
	expect_error("let country = true;\npermit p when true because \"r\";", "'country' is a function and cannot be redefined");
	expect_error("attribute participant.role: string;\npermit p when true because \"r\";", "recipient.role is built in and cannot be declared");
	expect_error("attribute participant.x: bool;\nattribute participant.x: int;\npermit p when recipient.x because \"r\";",
		     "attribute participant.x is already declared at t.tidspol:1");
	expect_error("attribute participant.x: bool = 1;\npermit p when recipient.x because \"r\";",
		     "the default of a bool attribute must be a bool literal");
	expect_error("permit a when true because \"r\";\npermit a when true because \"r\";",
		     "t.tidspol:2:1: error: rule a is already defined at t.tidspol:1");
	expect_error("permit a because \"\";", "rule a: the reason after `because` is empty");
	/* a let that uses grant.* makes its users call grant() too */
	expect_error("let late = grant.not_after < now + 1d;\npermit a when late because \"r\";", "never calls grant()");
	struct tids_policy_set *set = compile_ok("let late = grant.not_after < now + 1d;\n"
						 "let granted = grant();\n"
						 "permit a when granted && late because \"r\";");
	tids_policy_set_free(set);
}
END_TEST

START_TEST(check_expansion_limit)
{
	/* each let doubles the last: 2^20 operations if inlined naively */
	char buf[2048];
	size_t o = (size_t)snprintf(buf, sizeof(buf), "let l0 = purpose == \"x\";\n");
	for (int i = 1; i <= 20; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "let l%d = l%d || l%d;\n", i, i - 1, i - 1);
	snprintf(buf + o, sizeof(buf) - o, "permit a when l20 because \"r\";\n");
	expect_error(buf, "rule a expands to more than 20000 operations through its definitions");
}
END_TEST

/* ---- analysis ---- */

START_TEST(analysis_warnings)
{
	expect_warning("permit a when record.category == \"x\" && record.category == \"y\" because \"r\";",
		       "t.tidspol:1:1: warning: rule a can never match: record.category cannot be both \"x\" and \"y\"");
	expect_warning("permit a when record.tier == core && record.tier < important because \"r\";", "rule a can never match");
	expect_warning("permit a when purpose in [\"a\"] && purpose not in [\"a\", \"b\"] because \"r\";",
		       "rule a can never match: no value of purpose passes all its tests");
	expect_warning("permit a when false because \"r\";", "rule a can never match: its condition is false");
	expect_warning("forbid f when record.category == \"x\" because \"r\";\n"
		       "permit p when purpose == \"b\" && record.category == \"x\" because \"r\";",
		       "t.tidspol:2:1: warning: permit p never takes effect: forbid f (t.tidspol:1) matches whenever it does");
	expect_warning("forbid f when record.tier >= important because \"r\";\n"
		       "permit p when record.tier == core because \"r\";", "permit p never takes effect");
	expect_warning("forbid f when recipient.suspended because \"r\";\n"
		       "permit p when recipient.suspended == true because \"r\";", "permit p never takes effect");
	expect_warning("permit a when purpose in [\"x\", \"y\"] && recipient.role == \"r\" because \"r\";\n"
		       "permit b when recipient.role == \"r\" && purpose in [\"y\", \"x\"] because \"r\";",
		       "t.tidspol:2:1: warning: rule b repeats rule a (t.tidspol:1): same condition and effect");
	expect_warning("let unused = true;\npermit a when true because \"r\";", "t.tidspol:1:5: warning: 'unused' is defined but never used");
	expect_warning("attribute asset.colour: string;\npermit a when true because \"r\";",
		       "attribute asset.colour is declared but no rule reads it");
}
END_TEST

START_TEST(analysis_quiet_on_distinct_rules)
{
	struct tids_policy_set *set = compile_ok(
		"forbid f when record.category == \"x\" && purpose == \"a\" because \"r\";\n"
		"permit p when record.category == \"x\" because \"r\";\n"
		"permit q when record.category == \"x\" with encrypt because \"r\";\n"
		"permit s when record.tier >= important && record.tier <= core because \"r\";\n");
	ck_assert_msg(tids_policy_diags_count(diags) == 0, "unexpected:\n%s", all_diags());
	tids_policy_set_free(set);
}
END_TEST

/* The index must never hide a rule that matches: compare the candidates
 * with a full evaluation of every rule over many requests. */
START_TEST(index_never_hides_a_match)
{
	struct tids_policy_set *set = compile_ok(
		"attribute participant.vip: bool;\n"
		"permit a when record.category == \"c1\" && recipient.role == \"lessor\" because \"r\";\n"
		"permit b when record.category in [\"c1\", \"c2\"] && purpose in [\"p1\", \"p2\"] && recipient.id == \"lessor.b\" because \"r\";\n"
		"permit c when record.tier >= important && recipient.vip because \"r\";\n"
		"permit d when (purpose == \"p1\" || purpose == \"p3\") && !recipient.suspended because \"r\";\n"
		"forbid e when country(recipient.jurisdiction) != record.country because \"r\";\n"
		"forbid f when record.owner == \"owner.a\" && record.category == \"c2\" && recipient.role != \"regulator\" because \"r\";\n"
		"oblige g when record.asset == \"m1\" with encrypt because \"r\";\n"
		"permit h when asset.lessor == recipient.id because \"r\";\n"
		"permit i when record.category == \"c3\" && record.tier == general && purpose == \"p2\" && recipient.role == \"lessor\" because \"r\";\n");
	struct tids_policy_facts *f = world();
	const char *cats[] = { "c1", "c2", "c3", "other" };
	const char *purposes[] = { "p1", "p2", "p3", "zz" };
	const char *rcpts[] = { "owner.a", "lessor.b", "lessor.x", "reg.c", "gone.d", "nobody" };
	size_t checked = 0;
	for (size_t c = 0; c < 4; c++)
		for (int t = TIDS_TIER_GENERAL; t <= TIDS_TIER_CORE; t++)
			for (size_t p = 0; p < 4; p++)
				for (size_t r = 0; r < 6; r++) {
					struct tids_record rec = record(cats[c], (enum tids_tier)t, 1);
					struct tids_policy_request req = { &rec, rcpts[r], purposes[p], T0, NULL, 0, false, NULL };
					struct eval_ctx ctx;
					struct candidates cand;
					bool is_candidate[16] = { false };
					pol_eval_begin(&ctx, set, f, &req);
					uint64_t none[TIDS_POLICY_FIELD_WORDS] = { 0 };
					pol_eval_set_view(&ctx, none);
					pol_candidates(&ctx, &cand);
					uint32_t prev = 0;
					bool first = true;
					for (uint32_t ri; (ri = pol_candidates_next(&cand)) != UINT32_MAX;) {
						ck_assert_msg(first || ri > prev, "candidates out of order");
						first = false;
						prev = ri;
						is_candidate[ri] = true;
					}
					for (size_t ri = 0; ri < set->n_rules; ri++) {
						const struct crule *rule = &set->rules[ri];
						bool m = pol_rule_matches(&ctx, rule);
						ck_assert_msg(!m || is_candidate[ri],
							      "rule %s matches %s/%s/%s/%d but the index hid it",
							      rule->info.id, cats[c], purposes[p], rcpts[r], t);
						checked++;
					}
				}
	ck_assert_uint_gt(checked, 100);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* ---- evaluator semantics ---- */

START_TEST(eval_default_deny_and_forbid_wins)
{
	struct tids_policy_set *set = compile_ok(
		"permit p when purpose == \"ok\" because \"ok purpose\";\n"
		"permit p2 when purpose == \"ok\" && recipient.role == \"lessor\" because \"lessors too\";\n"
		"forbid f when recipient.suspended because \"suspended\";\n"
		"forbid g when recipient.jurisdiction == \"DE\" because \"not to DE\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 1);

	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "other"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_str_eq(dec.because, TIDS_POLICY_DEFAULT_DENY);
	ck_assert_ptr_null(dec.deciding_rule);
	ck_assert_uint_eq(dec.n_rules, 0);

	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "ok"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(dec.because, "ok purpose");
	ck_assert_str_eq(dec.deciding_rule, "p");
	ck_assert_uint_eq(dec.n_rules, 2);
	ck_assert_str_eq(dec.rule_ids[0], "p");
	ck_assert_str_eq(dec.rule_ids[1], "p2");

	/* forbid and permit both match: forbid wins and both are named */
	ck_assert_int_eq(decide(set, f, &rec, "gone.d", "ok"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_str_eq(dec.because, "suspended");
	ck_assert_str_eq(dec.deciding_rule, "f");
	ck_assert(listed("p") && listed("p2") && listed("f"));

	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "ok"), 0);
	ck_assert_str_eq(dec.because, "not to DE");
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_request_errors)
{
	struct tids_policy_set *set = compile_ok("permit p because \"always\";");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_UNSET, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), TIDS_ENOTIER);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	struct tids_policy_request req = { NULL, "lessor.b", "x", T0, NULL, 0, false, NULL };
	ck_assert_int_eq(tids_policy_decide(set, f, &req, &dec), TIDS_EINVAL);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_missing_facts_read_empty)
{
	struct tids_policy_set *set = compile_ok(
		"attribute participant.level: int = 7;\n"
		"permit unregistered when !recipient.registered && recipient.role == \"\" && recipient.level == 7 because \"r\";\n"
		"permit no_asset when !asset.registered && asset.lessor == \"\" because \"r\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 1);
	rec.asset_id = "unknown-machine";
	ck_assert_int_eq(decide(set, f, &rec, "stranger", "x"), 0);
	ck_assert(listed("unregistered") && listed("no_asset"));
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_attributes_and_functions)
{
	struct tids_policy_set *set = compile_ok(
		"attribute participant.security_agreement: bool;\n"
		"attribute participant.level: int = 1;\n"
		"attribute asset.installed: time = 2020-01-01;\n"
		"permit agreement when recipient.security_agreement because \"r\";\n"
		"permit country when recipient.country == \"CN\" && record.country == country(record.origin) because \"r\";\n"
		"permit year when year(now) == 2026 && year(record.produced_at) >= 2026 because \"r\";\n"
		"permit arithmetic when now - record.produced_at < 1h && now + 1d > now && -(1) + 2 == 1 because \"r\";\n"
		"permit declared when recipient.level == 1 && asset.installed < now because \"r\";\n"
		"permit labels when has_label(\"personal\") && has_field(\"rpm\") && !has_field(\"nope\") && !stripped(\"personal\") because \"r\";\n"
		"permit lessor when asset.lessor == recipient.id && asset.lessee == record.owner && owner.role == \"factory\" because \"r\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 2);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	const char *want[] = { "agreement", "country", "year", "arithmetic", "declared", "labels", "lessor" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(listed(want[i]), "rule %s should match", want[i]);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "x"), 0);
	ck_assert(!listed("agreement") && !listed("country") && !listed("lessor"));
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_obligations_compose_most_restrictive)
{
	struct tids_policy_set *set = compile_ok(
		"permit a when true with retain 30d, notify \"n1\", only_for [\"billing\", \"maintenance\"],\n"
		"  aggregate(sum, \"count\", every 1h, by asset), redact label \"personal\", log 183d\n"
		"  because \"a\";\n"
		"permit b when true with retain 7d, notify [\"n2\", \"n1\"], only_for \"maintenance\",\n"
		"  aggregate(max, \"count\", every 1d, by [site]), log 3y, duty \"d1\" because \"b\";\n"
		"oblige c when true with encrypt, no_onward_transfer, duty \"d1\", duty \"d2\",\n"
		"  count(\"exports\", record.owner, year(now), 5), count(\"exports\", record.owner, year(now), 3)\n"
		"  because \"c\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 2);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "billing"), 0);
	const struct tids_policy_obligations *o = &dec.obligations;
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert_int_eq(o->retain_until_ms, T0 + 7 * DAY);
	/* 3y from 2026-06-01 on the calendar: 2028 is a leap year */
	ck_assert_int_eq(o->log_retain_ms, 1096 * DAY);
	ck_assert_uint_eq(o->n_notify, 2);
	ck_assert(o->purposes_restricted);
	ck_assert_uint_eq(o->n_purposes, 1);
	ck_assert_str_eq(o->purposes[0], "maintenance");
	ck_assert(o->aggregate);
	ck_assert_str_eq(o->aggregation.function, "max");
	ck_assert_int_eq(o->aggregation.window_ms, DAY);
	ck_assert_str_eq(o->aggregation.by[0], "site");
	ck_assert(tids_policy_field_removed(o, 1) && !tids_policy_field_removed(o, 0));
	ck_assert(o->encrypt && o->no_onward_transfer);
	ck_assert_uint_eq(o->n_duties, 2);
	ck_assert_uint_eq(o->n_counts, 1);
	ck_assert_str_eq(o->counts[0].counter, "exports");
	ck_assert_str_eq(o->counts[0].key, "owner.a");
	ck_assert_int_eq(o->counts[0].period, 2026);
	ck_assert_uint_eq(o->counts[0].amount, 5);
	ck_assert(listed("a") && listed("b") && listed("c"));
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_keep_and_coarsen)
{
	struct tids_policy_set *set = compile_ok(
		"permit a when true with keep field [\"rpm\", \"operator\"], coarsen(label \"personal\", to asset.site)\n"
		"  because \"a\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 4);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert(!tids_policy_field_removed(&dec.obligations, 0));
	ck_assert(!tids_policy_field_removed(&dec.obligations, 1));
	ck_assert(tids_policy_field_removed(&dec.obligations, 2));
	ck_assert(tids_policy_field_removed(&dec.obligations, 3));
	ck_assert(tids_policy_field_coarsened(&dec.obligations, 1));
	ck_assert_str_eq(dec.obligations.coarsen_to, "site-1");

	struct tids_field out_fields[4];
	struct tids_record out;
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert_uint_eq(out.n_fields, 2);
	ck_assert_str_eq(out.fields[0].name, "rpm");
	ck_assert_str_eq(out.fields[1].name, "operator");
	ck_assert_int_eq(out.fields[1].value.kind, TIDS_VALUE_TEXT);
	ck_assert_mem_eq(out.fields[1].value.as.bytes.data, "site-1", 6);
	ck_assert_int_eq(out.tier, TIDS_TIER_GENERAL);     /* the core field is gone */
	ck_assert_ptr_null(out.backing);
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 1), TIDS_ETOOMANY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* A record is judged at its highest field tier unless a rule drops the
 * droppable field that raises it; forbids judge what would be delivered. */
START_TEST(eval_tier_lowering_by_demotion)
{
	const char *policy =
		"permit p when recipient.role == \"lessor\" because \"lessors\";\n"
		"forbid core_home when record.tier == core && recipient.country != record.country because \"core stays\";\n"
		"oblige lower when recipient.id != record.owner with demote label \"droppable\" because \"drop to lower\";\n";
	struct tids_policy_set *set = compile_ok(policy);
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 3);    /* with recipe_step (core, droppable) */

	/* domestic: allowed at core as published, nothing dropped */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_int_eq(dec.tier, TIDS_TIER_CORE);
	ck_assert(!listed("lower"));

	/* abroad: refused at core, allowed at general once the field is dropped */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert_int_eq(dec.tier, TIDS_TIER_GENERAL);
	ck_assert(tids_policy_field_removed(&dec.obligations, 2));
	ck_assert(listed("lower") && listed("p") && !listed("core_home"));
	ck_assert_uint_eq(dec.passes, 2);
	tids_policy_set_free(set);

	/* without a rule that drops it the record is refused at core */
	set = compile_ok("permit p when recipient.role == \"lessor\" because \"lessors\";\n"
			 "forbid core_home when record.tier == core && recipient.country != record.country because \"core stays\";\n");
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_str_eq(dec.because, "core stays");
	ck_assert_int_eq(dec.tier, TIDS_TIER_CORE);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* Redacting personal fields changes what a forbid sees (stripped()). */
START_TEST(eval_forbids_judge_the_delivered_record)
{
	struct tids_policy_set *set = compile_ok(
		"permit p when true with redact label \"personal\" because \"p\";\n"
		"forbid pi when record.personal && !stripped(\"personal\") because \"personal\";\n"
		"oblige count when record.personal && !stripped(\"personal\") with count(\"pi\", record.owner, 0, 1) because \"c\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 2);
	rec.personal = true;
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert(tids_policy_field_removed(&dec.obligations, 1));
	ck_assert_uint_eq(dec.obligations.n_counts, 0);
	ck_assert(!listed("pi"));
	/* personal but no labelled field: nothing to strip, the forbid holds */
	rec.n_fields = 1;
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_str_eq(dec.because, "personal");
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_grants)
{
	struct tids_policy_set *set = compile_ok(
		"permit by_grant when grant() with retain until grant.not_after because \"granted\";\n"
		"permit boxed when grant(max_window: 31d) && grant.remaining <= 1 because \"boxed\";\n");
	struct tids_policy_facts *f = world();
	char err[256];
	const char *cats[] = { "recipe" }, *purposes[] = { "maintenance" }, *assets[] = { "m1" };
	const char *redact[] = { "operator" }, *notify[] = { "owner.a" };
	struct tids_policy_grant g = {
		.id = "g1", .owner = "owner.a", .grantee = "lessor.b", .assets = assets, .n_assets = 1,
		.categories = cats, .n_categories = 1, .purposes = purposes, .n_purposes = 1,
		.not_before_ms = T0 - DAY, .not_after_ms = T0 + 10 * DAY, .max_uses = 3, .uses = 1,
		.duties = { .redact = redact, .n_redact = 1, .notify = notify, .n_notify = 1,
			    .encrypt = true },
	};
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	struct tids_record rec = record("recipe", TIDS_TIER_IMPORTANT, 2);

	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);       /* the grant redacts */
	ck_assert_str_eq(dec.grant_id, "g1");
	ck_assert_int_eq(dec.obligations.retain_until_ms, T0 + 10 * DAY);
	ck_assert(dec.obligations.encrypt);
	ck_assert_str_eq(dec.obligations.notify[0], "owner.a");
	ck_assert(tids_policy_field_removed(&dec.obligations, 1));
	ck_assert(listed("by_grant") && !listed("boxed"));          /* 2 uses remain */

	ck_assert_int_eq(tids_policy_facts_add_grant_use(f, "g1"), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert(listed("boxed"));                                /* the last use */
	ck_assert_int_eq(tids_policy_facts_add_grant_use(f, "g1"), 0);
	uint32_t uses = 0;
	ck_assert_int_eq(tids_policy_facts_grant_uses(f, "g1", &uses), 0);
	ck_assert_uint_eq(uses, 3);
	ck_assert_int_eq(tids_policy_facts_grant_uses(f, "nope", &uses), TIDS_ENOENT);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);            /* used up */
	ck_assert_ptr_null(dec.grant_id);

	ck_assert_int_eq(tids_policy_facts_set_grant_uses(f, "g1", 0), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "billing"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);            /* purpose not covered */
	rec.category = "telemetry";
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);            /* category not covered */
	rec.category = "recipe";
	rec.asset_id = "m2";
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);            /* asset not covered */
	rec.asset_id = "m1";
	struct tids_policy_request late = { &rec, "lessor.b", "maintenance", T0 + 11 * DAY, NULL, 0, false, NULL };
	ck_assert_int_eq(tids_policy_decide(set, f, &late, &dec), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);            /* expired */
	struct tids_policy_request early = { &rec, "lessor.b", "maintenance", T0 - 2 * DAY, NULL, 0, false, NULL };
	ck_assert_int_eq(tids_policy_decide(set, f, &early, &dec), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);            /* not yet valid */

	ck_assert_int_eq(tids_policy_facts_remove_grant(f, "g1"), 0);
	ck_assert_int_eq(tids_policy_facts_remove_grant(f, "g1"), TIDS_ENOENT);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_approvals)
{
	struct tids_policy_set *set = compile_ok(
		"permit p when true because \"p\";\n"
		"forbid export when recipient.country != record.country\n"
		"  && !approval(kind: [\"export\", \"standard_contract\"], exporter: record.owner, recipient: recipient.id,\n"
		"               category: record.category, tier: record.tier, purpose: purpose,\n"
		"               from: record.origin, to: recipient.jurisdiction)\n"
		"  because \"export needs approval\";\n");
	struct tids_policy_facts *f = world();
	char err[256];
	const char *cats[] = { "telemetry" }, *purposes[] = { "maintenance" };
	const enum tids_tier tiers[] = { TIDS_TIER_IMPORTANT };
	struct tids_policy_approval a = {
		.id = "a1", .kind = "export", .regulator = "reg.c", .exporter = "owner.a",
		.recipient = "lessor.x", .categories = cats, .n_categories = 1, .tiers = tiers,
		.n_tiers = 1, .purposes = purposes, .n_purposes = 1, .from_jurisdiction = "CN",
		.to_jurisdiction = "DE", .valid_from_ms = T0 - DAY, .valid_until_ms = T0 + DAY,
	};
	ck_assert_int_eq(tids_policy_facts_put_approval(f, &a, err, sizeof(err)), 0);
	struct tids_record rec = record("telemetry", TIDS_TIER_IMPORTANT, 1);

	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(dec.approval_id, "a1");              /* "CN" covers CN-SH */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "billing"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);      /* purpose outside its scope */
	ck_assert_str_eq(dec.because, "export needs approval");
	rec.tier = TIDS_TIER_GENERAL;
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);      /* tier outside its scope */
	rec.tier = TIDS_TIER_IMPORTANT;
	struct tids_policy_request late = { &rec, "lessor.x", "maintenance", T0 + 2 * DAY, NULL, 0, false, NULL };
	ck_assert_int_eq(tids_policy_decide(set, f, &late, &dec), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);      /* expired */
	ck_assert_int_eq(tids_policy_facts_remove_approval(f, "a1"), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_counters)
{
	struct tids_policy_set *set = compile_ok(
		"permit p when counter(\"pi\", record.owner, year(now)) + record.individuals < 100_000\n"
		"  with count(\"pi\", record.owner, year(now), record.individuals) because \"under\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 1);
	rec.individuals = 10;
	ck_assert_int_eq(tids_policy_facts_set_counter(f, "pi", "owner.a", 2026, 99989), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_uint_eq(dec.obligations.counts[0].amount, 10);
	ck_assert_int_eq(tids_policy_facts_add_counter(f, "pi", "owner.a", 2026, 1), 0);
	ck_assert_uint_eq(tids_policy_facts_counter(f, "pi", "owner.a", 2026), 99990);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_uint_eq(tids_policy_facts_counter(f, "pi", "owner.a", 2025), 0);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(eval_allocates_nothing_and_truncates_lists)
{
	/* 40 matching permits: the decision lists 32 and says it cut */
	char buf[8192];
	size_t o = 0;
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "permit p%d when purpose == \"x\" && %d == %d because \"r\";\n", i, i, i);
	struct tids_policy_set *set = compile_ok(buf);
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_uint_eq(dec.n_rules, TIDS_POLICY_DECISION_RULES);
	ck_assert(dec.rules_truncated);
	tids_policy_set_free(set);
	/* more notify targets than a decision holds: refused, not dropped */
	set = compile_ok("permit p when true with notify [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\"] because \"r\";");
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), TIDS_ETOOMANY);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* floor category "x" = tier: parsed, checked, looked up and enforced on
 * the tier a record is judged at. */
START_TEST(floors_parse_check_and_lookup)
{
	expect_error("floor category \"recipe\" = secret;", "t.tidspol:1:27: error: unknown tier 'secret' (general, important or core)");
	expect_error("floor category \"recipe\" important;", "t.tidspol:1:25: error: expected `=` and the lowest tier the category may carry, found 'important'");
	expect_error("floor \"recipe\" = core;", "t.tidspol:1:7: error: expected `category`, found a string");
	expect_error("floor category recipe = core;", "t.tidspol:1:16: error: expected a category as a string or a [list] of strings");
	expect_error("floor category \"recipe\" = core", "expected `;` to end the floor");
	expect_error("floor category \"Recipe!\" = core;", "t.tidspol:1:16: error: \"Recipe!\" is not a valid category name");
	expect_error("floor category \"recipe\" = core;\npermit a when true because \"r\";\nfloor category [\"x\", \"recipe\"] = important;",
		     "t.tidspol:3:16: error: category \"recipe\" already has a floor (core) at t.tidspol:1");
	/* recovery: an error in a floor does not hide the next declaration's */
	expect_error("floor category \"a\" = nope;\npermit a when q because \"r\";", "t.tidspol:2:15: error: unknown name 'q'");
	expect_warning("floor category \"telemetry\" = general;\npermit a when true because \"r\";",
		       "t.tidspol:1:16: warning: a floor of general for \"telemetry\" changes nothing");

	struct tids_policy_set *set = compile_ok(
		"floor category \"recipe\" = important;\n"
		"floor category [\"formula\", \"blueprint\"] = core;\n"
		"permit a when true because \"r\";\n");
	ck_assert_int_eq(tids_policy_tier_floor(set, "recipe"), TIDS_TIER_IMPORTANT);
	ck_assert_int_eq(tids_policy_tier_floor(set, "formula"), TIDS_TIER_CORE);
	ck_assert_int_eq(tids_policy_tier_floor(set, "blueprint"), TIDS_TIER_CORE);
	ck_assert_int_eq(tids_policy_tier_floor(set, "telemetry"), TIDS_TIER_GENERAL);
	ck_assert_int_eq(tids_policy_tier_floor(set, "recip"), TIDS_TIER_GENERAL);
	ck_assert_int_eq(tids_policy_tier_floor(set, ""), TIDS_TIER_GENERAL);
	ck_assert_int_eq(tids_policy_tier_floor(NULL, "recipe"), TIDS_TIER_GENERAL);
	const char *cats[3];
	enum tids_tier tiers[3];
	ck_assert_uint_eq(tids_policy_tier_floors(set, NULL, NULL, 0), 3);
	ck_assert_uint_eq(tids_policy_tier_floors(set, cats, tiers, 2), 3);   /* only 2 filled */
	ck_assert_uint_eq(tids_policy_tier_floors(set, cats, tiers, 3), 3);
	ck_assert_str_eq(cats[0], "blueprint");      /* in name order */
	ck_assert_str_eq(cats[1], "formula");
	ck_assert_str_eq(cats[2], "recipe");
	ck_assert_int_eq(tiers[0], TIDS_TIER_CORE);
	ck_assert_int_eq(tiers[2], TIDS_TIER_IMPORTANT);
	ck_assert_uint_eq(tids_policy_tier_floors(NULL, cats, tiers, 3), 0);
	tids_policy_set_free(set);

	/* a record is never judged below its category's floor, even once the
	 * fields that raised it are dropped; the delivered copy says so */
	set = compile_ok("floor category \"recipe\" = important;\n"
			 "permit p when recipient.role == \"lessor\" because \"lessors\";\n"
			 "forbid no_important when record.tier == important && recipient.id == \"lessor.x\" because \"x\";\n"
			 "forbid no_core when record.tier == core && recipient.id == \"lessor.b\" because \"b\";\n"
			 "oblige lower when true with demote label \"droppable\" because \"lower\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("recipe", TIDS_TIER_GENERAL, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_int_eq(dec.tier, TIDS_TIER_IMPORTANT);
	struct tids_field out_fields[4];
	struct tids_record out;
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert_int_eq(out.tier, TIDS_TIER_IMPORTANT);
	ck_assert_int_eq(out.fields[0].tier, TIDS_TIER_GENERAL);   /* the field keeps its own */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_str_eq(dec.because, "x");
	/* a core droppable field: dropped down to the floor, not below */
	rec = record("recipe", TIDS_TIER_GENERAL, 3);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert_int_eq(dec.tier, TIDS_TIER_IMPORTANT);
	ck_assert(tids_policy_field_removed(&dec.obligations, 2));
	ck_assert(listed("lower") && !listed("no_core"));
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert_int_eq(out.tier, TIDS_TIER_IMPORTANT);
	/* other categories are judged as before */
	rec = record("telemetry", TIDS_TIER_GENERAL, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_int_eq(dec.tier, TIDS_TIER_GENERAL);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* Once every field labelled personal is removed, the delivered record no
 * longer says it carries personal information. */
START_TEST(apply_clears_personal_flags)
{
	struct tids_policy_set *set = compile_ok(
		"permit redacting when recipient.id == \"lessor.b\" with redact label \"personal\" because \"r\";\n"
		"permit coarsening when recipient.id == \"lessor.x\" with coarsen(label \"personal\", to \"someone\") because \"c\";\n"
		"permit plain when recipient.id == \"reg.c\" with drop field \"load\" because \"p\";\n");
	struct tids_policy_facts *f = world();
	struct tids_field out_fields[4];
	struct tids_record out;
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 4);
	rec.personal = true;
	rec.sensitive_personal = true;
	rec.individuals = 7;

	/* the operator id (the only personal field) is redacted */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert_uint_eq(out.n_fields, 3);
	ck_assert(!out.personal && !out.sensitive_personal);
	ck_assert_uint_eq(out.individuals, 0);
	ck_assert(rec.personal && rec.individuals == 7);          /* the input is untouched */

	/* coarsened, still there: still personal */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "x"), 0);
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert(out.personal && out.sensitive_personal);
	ck_assert_uint_eq(out.individuals, 7);

	/* other fields removed, the personal one kept: still personal */
	ck_assert_int_eq(decide(set, f, &rec, "reg.c", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_TRANSFORM);
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert_uint_eq(out.n_fields, 3);
	ck_assert(out.personal && out.individuals == 7);

	/* personal, but no field says where: nothing can have removed it */
	rec = record("telemetry", TIDS_TIER_GENERAL, 1);
	rec.personal = true;
	rec.individuals = 2;
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(tids_policy_apply(&dec, &rec, &out, out_fields, 4), 0);
	ck_assert(out.personal && out.individuals == 2);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* Conditions run as bytecode: every kind of test answers as the language
 * says, and tests without side effects may run cheapest first, but never
 * across a grant() or approval() call (which records what it matched). */
START_TEST(eval_bytecode_tests_and_order)
{
	struct tids_policy_set *set = compile_ok(
		"attribute participant.level: tier;\n"
		"attribute participant.vip: bool = true;\n"
		"permit p when true because \"p\";\n"
		/* approval() between two cheap tests: the second must not run first */
		"forbid f when record.category == \"telemetry\"\n"
		"  && !approval(kind: \"export\", recipient: recipient.id) && purpose == \"forbidden\"\n"
		"  because \"f\";\n"
		"oblige masks when recipient.level < important && recipient.vip && record.tier in [general, core]\n"
		"  && !(record.tier > important) with duty \"masks\" because \"m\";\n"
		"oblige strs when recipient.role in [\"lessor\", \"x\", \"y\", \"z\", \"w\"] && purpose not in []\n"
		"  && (recipient.id == \"nobody\" || asset.lessor == recipient.id) && record.owner != recipient.id\n"
		"  with duty \"strs\" because \"s\";\n"
		"oblige exprs when record.individuals + 1 > 1 || has_label(\"personal\") with duty \"exprs\" because \"e\";\n");
	struct tids_policy_facts *f = world();
	char err[256];
	struct tids_policy_approval a = { .id = "a1", .kind = "export", .recipient = "lessor.b" };
	ck_assert_int_eq(tids_policy_facts_put_approval(f, &a, err, sizeof(err)), 0);
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 1);

	/* the category matched, so approval() ran (and kept f quiet): the
	 * decision names it even though purpose would also have */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert_str_eq(dec.approval_id, "a1");
	ck_assert(listed("masks") && listed("strs") && !listed("exprs"));
	/* another category: approval() never ran */
	rec = record("energy", TIDS_TIER_GENERAL, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_ptr_null(dec.approval_id);
	/* no approval for lessor.x: the forbid holds for the forbidden purpose only */
	rec = record("telemetry", TIDS_TIER_GENERAL, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "forbidden"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_ALLOW);
	ck_assert(listed("masks") && !listed("strs"));        /* lessor.x leases nothing */
	/* tier masks: important is not in [general, core]; core is > important */
	rec = record("telemetry", TIDS_TIER_IMPORTANT, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert(!listed("masks"));
	rec = record("telemetry", TIDS_TIER_CORE, 1);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert(!listed("masks"));
	/* expressions left to the tree evaluator */
	rec = record("telemetry", TIDS_TIER_GENERAL, 2);
	ck_assert_int_eq(decide(set, f, &rec, "reg.c", "maintenance"), 0);
	ck_assert(listed("exprs") && !listed("strs"));
	rec.individuals = 5;
	rec.n_fields = 1;
	ck_assert_int_eq(decide(set, f, &rec, "reg.c", "maintenance"), 0);
	ck_assert(listed("exprs"));
	rec.individuals = 0;
	ck_assert_int_eq(decide(set, f, &rec, "reg.c", "maintenance"), 0);
	ck_assert(!listed("exprs"));
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

/* ---- facts ---- */

#define S(lit) ((struct pol_str){ .p = (lit), .len = sizeof(lit) - 1 })

START_TEST(facts_replace_and_remove)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256];
	struct tids_policy_participant p = { .id = "x", .role = "lessor" };
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &p, err, sizeof(err)), 0);
	p.role = "regulator";
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &p, err, sizeof(err)), 0);
	const struct tids_policy_participant *got = pol_facts_participant(f, "x", 1, 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->role, "regulator");
	ck_assert_int_eq(tids_policy_facts_remove_participant(f, "x"), 0);
	ck_assert_ptr_null(pol_facts_participant(f, "x", 1, 0));
	ck_assert_int_eq(tids_policy_facts_remove_participant(f, "x"), TIDS_ENOENT);

	struct tids_policy_participant bad = { .id = "" };
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &bad, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "participant without an id");
	struct tids_policy_grant g = { .id = "g", .owner = "o" };
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "grant g: owner and grantee are required");
	g = (struct tids_policy_grant){ .id = "g", .owner = "o", .grantee = "e", .not_before_ms = 5,
					.not_after_ms = 1 };
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "grant g: not_after is before not_before");

	/* many grants between the same pair, removed in any order */
	const char *cats[] = { "a", "b" }, *purposes[] = { "p" };
	for (int i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "g%d", i);
		g = (struct tids_policy_grant){ .id = id, .owner = "o", .grantee = "e", .categories = cats,
						.n_categories = 2, .purposes = purposes, .n_purposes = 1 };
		ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	}
	ck_assert_uint_eq(tids_policy_facts_grant_count(f), 200);
	size_t n = 0;
	const struct grant_link *links = pol_facts_grants(f, S("o"), S("e"), S("b"), &n);
	ck_assert_uint_eq(n, 200);
	ck_assert_str_eq(pol_grant_id(links[0].grant), "g0");
	ck_assert_str_eq(pol_grant_id(links[199].grant), "g199");
	for (int i = 0; i < 200; i += 2) {
		char id[16];
		snprintf(id, sizeof(id), "g%d", (i * 37) % 200);
		tids_policy_facts_remove_grant(f, id);
	}
	links = pol_facts_grants(f, S("o"), S("e"), S("a"), &n);
	ck_assert_uint_eq(n, tids_policy_facts_grant_count(f));
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(tids_policy_facts_grant_uses(f, pol_grant_id(links[i].grant), NULL), 0);
		/* what is left keeps its order */
		if (i > 0)
			ck_assert_int_lt(atoi(pol_grant_id(links[i - 1].grant) + 1),
					 atoi(pol_grant_id(links[i].grant) + 1));
	}
	for (int i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "g%d", i);
		tids_policy_facts_remove_grant(f, id);
	}
	ck_assert_uint_eq(tids_policy_facts_grant_count(f), 0);
	ck_assert_ptr_null(pol_facts_grants(f, S("o"), S("e"), S("a"), &n));
	ck_assert_uint_eq(n, 0);
	tids_policy_facts_free(f);
	tids_policy_facts_free(NULL);
}
END_TEST

/* Thousands of (owner, grantee) pairs come and go: every grant left is
 * found, none removed is, whatever the filter in front of the pairs did. */
START_TEST(facts_many_pairs)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256], id[32], owner[32], grantee[32];
	const char *cats[] = { "energy" }, *purposes[] = { "billing" };
	for (int i = 0; i < 6000; i++) {
		snprintf(id, sizeof(id), "g%d", i);
		snprintf(owner, sizeof(owner), "o%d", i % 97);
		snprintf(grantee, sizeof(grantee), "e%d", i);
		struct tids_policy_grant g = { .id = id, .owner = owner, .grantee = grantee,
					       .categories = cats, .n_categories = 1,
					       .purposes = purposes, .n_purposes = 1 };
		ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	}
	for (int i = 0; i < 6000; i++) {
		if (i % 3 == 0)
			continue;
		snprintf(id, sizeof(id), "g%d", i);
		ck_assert_int_eq(tids_policy_facts_remove_grant(f, id), 0);
	}
	ck_assert_uint_eq(tids_policy_facts_grant_count(f), 2000);
	size_t n;
	for (int i = 0; i < 6000; i++) {
		snprintf(owner, sizeof(owner), "o%d", i % 97);
		snprintf(grantee, sizeof(grantee), "e%d", i);
		struct pol_str o = { owner, strlen(owner), 0 }, e = { grantee, strlen(grantee), 0 };
		struct pol_str c = { "energy", 6, 0 };
		const struct grant_link *l = pol_facts_grants(f, o, e, c, &n);
		ck_assert_uint_eq(n, i % 3 == 0 ? 1 : 0);
		if (n == 1) {
			snprintf(id, sizeof(id), "g%d", i);
			ck_assert_str_eq(pol_grant_id(l[0].grant), id);
		}
	}
	tids_policy_facts_free(f);
}
END_TEST

START_TEST(facts_approvals_by_recipient_and_exporter)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256];
	for (int i = 0; i < 50; i++) {
		char id[16], rc[16], ex[16];
		snprintf(id, sizeof(id), "a%d", i);
		snprintf(rc, sizeof(rc), "r%d", i % 5);
		snprintf(ex, sizeof(ex), "e%d", i % 7);
		struct tids_policy_approval a = { .id = id, .kind = "export", .recipient = rc, .exporter = ex };
		ck_assert_int_eq(tids_policy_facts_put_approval(f, &a, err, sizeof(err)), 0);
	}
	size_t n = 0;
	for (const struct fact_approval *a = pol_facts_approvals(f, BY_RECIPIENT, "r3", 2); a;
	     a = pol_approval_next(a, BY_RECIPIENT))
		n++;
	ck_assert_uint_eq(n, 10);
	n = 0;
	for (const struct fact_approval *a = pol_facts_approvals(f, BY_EXPORTER, "e0", 2); a;
	     a = pol_approval_next(a, BY_EXPORTER))
		n++;
	ck_assert_uint_eq(n, 8);
	for (int i = 0; i < 50; i += 3) {
		char id[16];
		snprintf(id, sizeof(id), "a%d", i);
		ck_assert_int_eq(tids_policy_facts_remove_approval(f, id), 0);
	}
	n = 0;
	for (const struct fact_approval *a = pol_facts_approvals(f, BY_NONE, NULL, 0); a;
	     a = pol_approval_next(a, BY_NONE))
		n++;
	ck_assert_uint_eq(n, 33);
	struct tids_policy_approval bad = { .id = "z" };
	ck_assert_int_eq(tids_policy_facts_put_approval(f, &bad, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_str_eq(err, "approval z: kind is required");
	tids_policy_facts_free(f);
}
END_TEST

/* ---- time, scenarios, formatting ---- */

START_TEST(time_parse_and_format)
{
	int64_t ms;
	char buf[64];
	ck_assert_int_eq(tids_policy_parse_time("2026-06-01T08:00:00Z", 20, &ms), 0);
	ck_assert_int_eq(ms, T0);
	ck_assert_int_eq(tids_policy_parse_time("2024-02-29T00:00:00.5+01:00", 27, &ms), 0);
	tids_policy_format_time(ms, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2024-02-28T23:00:00.500Z");
	ck_assert_int_eq(tids_policy_parse_time("2023-02-29", 10, &ms), TIDS_EINVAL);
	ck_assert_int_eq(tids_policy_parse_time("2026-06-01T08:00", 16, &ms), TIDS_EINVAL);
	ck_assert_int_eq(tids_policy_parse_time("1969-12-31T23:59:59Z", 20, &ms), 0);
	ck_assert_int_eq(ms, -1000);
	tids_policy_format_time(-1000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1969-12-31T23:59:59Z");
	ck_assert_int_eq(pol_year_of(T0), 2026);
	tids_policy_format_duration(90 * DAY, buf, sizeof(buf));
	ck_assert_str_eq(buf, "90d");
	/* a fixed length never says years: a year of the calendar has no fixed length */
	tids_policy_format_duration(3 * 365 * DAY, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1095d");
	tids_policy_format_calendar(18, 2 * DAY, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1y6mo2d");
	tids_policy_format_calendar(3, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3mo");
	tids_policy_format_duration(DAY + 3600 * 1000 + 5, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1d1h5ms");
	ck_assert_int_eq(pol_parse_duration("1h30m", 5, &ms), 0);
	ck_assert_int_eq(ms, 5400000);
	ck_assert_int_eq(pol_parse_duration("1x", 2, &ms), TIDS_EINVAL);
	ck_assert_int_eq(pol_parse_duration("1y", 2, &ms), TIDS_EINVAL);
	int64_t months;
	ck_assert_int_eq(pol_parse_calendar("1y6mo2d", 7, &months, &ms), 0);
	ck_assert_int_eq(months, 18);
	ck_assert_int_eq(ms, 2 * DAY);
}
END_TEST

static void scenario_error(const char *text, const char *want)
{
	struct tids_policy_scenario *s = NULL;
	tids_policy_diags_clear(diags);
	int rc = tids_policy_scenario_parse("s.scenario", text, strlen(text), &s, diags);
	ck_assert_int_eq(rc, TIDS_EPOLICY);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(all_diags(), want) != NULL, "expected \"%s\" among:\n%s", want, all_diags());
}

START_TEST(scenario_parse_errors)
{
	scenario_error("frobnicate x\n", "s.scenario:1:1: error: unknown statement 'frobnicate'");
	scenario_error("record r owner=a tier=huge\n", "s.scenario:1:18: error: 'huge' is not a tier");
	scenario_error("field x int 1\n", "a field line belongs after a record line");
	scenario_error("record r tier=general\n  field x int one\n", "s.scenario:2:15: error: 'one' is not a int");
	scenario_error("| 1 | r | a | p | allow |\n", "a table of cases needs a header row");
	scenario_error("| # | record | recipient | purpose | expect |\n| 1 | r | a | p | allow |\n",
		       "s.scenario:2:7: error: no record named 'r' is defined above");
	scenario_error("record r tier=general\n| # | record | recipient | purpose | expect |\n| 1 | r | a | allow |\n",
		       "row has 4 cells, the header has 5");
	scenario_error("grant g owner=a colour=blue\n", "unknown grant key 'colour'");
	scenario_error("counter pi a 2026 99\n", "write: counter NAME KEY PERIOD = VALUE");
	scenario_error("now tomorrow\n", "'tomorrow' is not a time");
}
END_TEST

struct collect {
	size_t n;
	size_t failed;
	char last[1024];
};

static void collect(void *ctx, const struct tids_policy_case_result *r)
{
	struct collect *c = ctx;
	c->n++;
	if (!r->passed) {
		c->failed++;
		snprintf(c->last, sizeof(c->last), "%s", r->message);
	}
}

START_TEST(scenario_runs_and_reports)
{
	struct tids_policy_set *set = compile_ok(
		"permit p when recipient.role == \"lessor\" && grant() with redact label \"personal\" because \"lessor under grant\";\n");
	const char *text =
		"now 2026-06-01T08:00:00Z\n"
		"participant l role=lessor jurisdiction=CN-SH\n"
		"grant g owner=o grantee=l categories=c purposes=p not_after=2026-12-31 max_uses=1\n"
		"record r owner=o category=c tier=general origin=CN-SH\n"
		"  field a int 1\n"
		"  field who text \"x y\" labels=personal\n"
		"| # | record | recipient | purpose | expect |\n"
		"|---|--------|-----------|---------|--------|\n"
		"| 1 | r | l | p | transform; redact who; keeps a; grant g; rule p; because \"under grant\" |\n"
		"uses g 1\n"
		"| 2 | r | l | p | allow |\n"
		"| 3 | r | l | p | deny; because \"no rule\" |\n";
	struct tids_policy_scenario *s = NULL;
	tids_policy_diags_clear(diags);
	ck_assert_int_eq(tids_policy_scenario_parse("s.scenario", text, strlen(text), &s, diags), 0);
	ck_assert_uint_eq(tids_policy_scenario_case_count(s), 3);
	struct collect c = { 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 0, SIZE_MAX, collect, &c), 1);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_uint_eq(c.failed, 1);
	ck_assert_str_eq(c.last, "expected allow, got deny because \"" TIDS_POLICY_DEFAULT_DENY "\"");
	/* running one case replays the facts before it */
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 2, 1, collect, &c), 0);
	ck_assert_uint_eq(c.n, 1);
	tids_policy_scenario_free(s);
	tids_policy_scenario_free(NULL);
	tids_policy_set_free(set);
}
END_TEST

/* A case whose expectations are wrong fails, naming what is wrong; the
 * file's other cases still run. */
START_TEST(scenario_bad_expectation_fails_its_case)
{
	struct tids_policy_set *set = compile_ok("permit p when true because \"r\";\n");
	const char *text =
		"record r owner=o category=c tier=general origin=CN-SH\n"
		"| # | record | recipient | purpose | expect |\n"
		"| 1 | r | a | p | allow; smells nice |\n"
		"| 2 | r | a | p | maybe |\n"
		"| 3 | r | a | p | allow; log >= soon |\n"
		"| 4 | r | a | p | allow |\n";
	struct tids_policy_scenario *s = NULL;
	tids_policy_diags_clear(diags);
	ck_assert_msg(tids_policy_scenario_parse("s.scenario", text, strlen(text), &s, diags) == 0, "%s",
		      all_diags());
	ck_assert_uint_eq(tids_policy_diags_errors(diags), 0);
	ck_assert_uint_eq(tids_policy_scenario_case_count(s), 4);
	struct collect c = { 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 0, 1, collect, &c), 1);
	ck_assert_msg(strstr(c.last, "column 26: the expectation is wrong: unknown expectation 'smells'") != NULL,
		      "%s", c.last);
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 1, 1, collect, &c), 1);
	ck_assert_msg(strstr(c.last, "expected allow, deny, transform or reject, found 'maybe'") != NULL, "%s",
		      c.last);
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 2, 1, collect, &c), 1);
	ck_assert_msg(strstr(c.last, "'soon' is not a duration") != NULL, "%s", c.last);
	/* the whole file: three failures, the good case passes */
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 0, SIZE_MAX, collect, &c), 3);
	ck_assert_uint_eq(c.n, 4);
	tids_policy_scenario_free(s);
	tids_policy_set_free(set);
}
END_TEST

/* `log >= 6mo`, `retain <= 30d`: at least or at most, not only exactly. */
START_TEST(scenario_log_and_retain_compare)
{
	struct tids_policy_set *set = compile_ok("permit p when true with log 3y, retain 10d because \"r\";\n");
	const char *text =
		"now 2026-06-01T08:00:00Z\n"
		"record r owner=o category=c tier=general origin=CN-SH\n"
		"| # | record | recipient | purpose | expect |\n"
		"| 1 | r | a | p | allow; log >= 183d; log > 2y; log <= 3y; log 3y; retain <= 30d; retain > 1d |\n"
		"| 2 | r | a | p | allow; log >= 4y |\n"
		"| 3 | r | a | p | allow; retain < 10d |\n"
		"| 4 | r | a | p | allow; not log < 1y; not retain >= 30d |\n";
	struct tids_policy_scenario *s = NULL;
	tids_policy_diags_clear(diags);
	ck_assert_msg(tids_policy_scenario_parse("s.scenario", text, strlen(text), &s, diags) == 0, "%s",
		      all_diags());
	struct collect c = { 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 0, 1, collect, &c), 0);
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 1, 1, collect, &c), 1);
	ck_assert_msg(strstr(c.last, "expected the audit entry kept at least 4y, got 1096d") != NULL, "%s", c.last);
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 2, 1, collect, &c), 1);
	ck_assert_msg(strstr(c.last, "expected retention until less than 2026-06-11T08:00:00Z") != NULL, "%s",
		      c.last);
	c = (struct collect){ 0 };
	ck_assert_int_eq(tids_policy_scenario_run(s, set, 3, 1, collect, &c), 0);
	tids_policy_scenario_free(s);
	tids_policy_set_free(set);
}
END_TEST

/* A syntax error may hide the only use of a definition: no "never used"
 * warning then, only the error. */
START_TEST(no_unused_warning_after_a_syntax_error)
{
	struct tids_policy_set *set = NULL;
	ck_assert_int_eq(compile_text("let near = purpose == \"p\";\n"
				      "permit p when near && (( because \"r\";\n", &set), TIDS_EPOLICY);
	ck_assert_msg(strstr(all_diags(), "t.tidspol:2:") != NULL, "%s", all_diags());
	ck_assert_msg(strstr(all_diags(), "never used") == NULL, "%s", all_diags());
	ck_assert_uint_eq(tids_policy_diags_warnings(diags), 0);
	/* without the syntax error, an unused definition is still reported */
	expect_warning("let near = purpose == \"p\";\npermit p when true because \"r\";\n",
		       "'near' is defined but never used");
}
END_TEST

START_TEST(format_decision)
{
	struct tids_policy_set *set = compile_ok(
		"permit p when true with redact label \"personal\", retain 1d, encrypt because \"why\";\n");
	struct tids_policy_facts *f = world();
	struct tids_record rec = record("telemetry", TIDS_TIER_GENERAL, 2);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	char buf[2048];
	tids_policy_decision_format(set, &dec, &rec, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "decision: transform\nbecause: why\n") == buf, "%s", buf);
	ck_assert_msg(strstr(buf, "  permit p  (t.tidspol:1)  <- decides\n") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "  remove: operator\n") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "  retain until: 2026-06-02T08:00:00Z\n") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "  encrypt\n") != NULL, "%s", buf);
	/* a small buffer truncates but still reports the full length */
	char small[16];
	int n = tids_policy_decision_format(set, &dec, &rec, small, sizeof(small));
	ck_assert_uint_eq((size_t)n, strlen(buf));
	ck_assert_uint_eq(strlen(small), 15);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(compile_many_files_and_free_null)
{
	const char *b = "permit y when x because \"r\";\npermit z when q because \"r\";";
	struct tids_policy_source src[2] = {
		{ "a.tidspol", "let x = purpose == \"p\";", 23 },
		{ "b.tidspol", b, strlen(b) },
	};
	struct tids_policy_set *set = NULL;
	tids_policy_diags_clear(diags);
	ck_assert_int_eq(tids_policy_compile(src, 2, &set, diags), TIDS_EPOLICY);
	ck_assert_msg(strstr(all_diags(), "b.tidspol:2:15: error: unknown name 'q'") != NULL, "%s", all_diags());
	src[1].len = strlen("permit y when x because \"r\";");
	ck_assert_int_eq(tids_policy_compile(src, 2, &set, NULL), 0);
	ck_assert_uint_eq(tids_policy_set_rule_count(set), 1);
	tids_policy_set_free(set);
	tids_policy_set_free(NULL);
	tids_policy_diags_free(NULL);
	ck_assert_uint_eq(tids_policy_diags_count(NULL), 0);
}
END_TEST


/* ---- near misses ---- */

static const char *near_text(void)
{
	static char buf[512];
	tids_policy_near_miss_format(&dec.near, buf, sizeof(buf));
	return buf;
}

START_TEST(near_grant_says_what_failed)
{
	struct tids_policy_set *set = compile_ok("permit by_grant when grant() because \"granted\";\n"
						 "forbid no_x when purpose == \"x\" because \"never x\";\n");
	struct tids_policy_facts *f = world();
	char err[256];
	const char *cats[] = { "recipe" }, *purposes[] = { "maintenance" }, *assets[] = { "m1" };
	struct tids_policy_grant g = {
		.id = "g1", .owner = "owner.a", .grantee = "lessor.b", .assets = assets, .n_assets = 1,
		.categories = cats, .n_categories = 1, .purposes = purposes, .n_purposes = 1,
		.not_before_ms = T0 - DAY, .not_after_ms = T0 + 10 * DAY, .max_uses = 3, .uses = 3,
	};
	struct tids_record rec = record("recipe", TIDS_TIER_IMPORTANT, 2);

	/* none between the parties */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.kind, TIDS_POLICY_NEAR_GRANT);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_NONE);
	ck_assert_ptr_null(dec.near.id);
	ck_assert_str_eq(dec.near.rule, "by_grant");
	ck_assert_str_eq(near_text(), "no grant from the owner to this recipient comes close");

	/* used 3 of 3: named, with the count */
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_str_eq(dec.near.id, "g1");
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_USED_UP);
	ck_assert(dec.near.uses == 3 && dec.near.max_uses == 3);
	ck_assert_str_eq(near_text(), "grant g1 is used up (3 of 3 uses)");
	/* and another purpose on top: both said, used up first */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "warranty"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_USED_UP);
	ck_assert_uint_eq(dec.near.failed, (1u << TIDS_POLICY_MISS_USED_UP) | (1u << TIDS_POLICY_MISS_PURPOSE));
	ck_assert_str_eq(near_text(), "grant g1 is used up (3 of 3 uses); also: purpose");
	ck_assert_int_eq(tids_policy_facts_set_grant_uses(f, "g1", 1), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "warranty"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_PURPOSE);
	ck_assert_str_eq(near_text(), "grant g1 does not cover purpose warranty");
	/* expired at its end */
	struct tids_policy_request late = { &rec, "lessor.b", "maintenance", T0 + 11 * DAY, NULL, 0, false, NULL };
	ck_assert_int_eq(tids_policy_decide(set, f, &late, &dec), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_EXPIRED);
	ck_assert_int_eq(dec.near.at_ms, T0 + 10 * DAY);
	ck_assert_str_eq(near_text(), "grant g1 expired at 2026-06-11T08:00:00Z");
	/* the grant holds: nothing to say */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_ne(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.kind, TIDS_POLICY_NEAR_NONE);
	/* a forbid that rests on no grant decides: no near miss */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "x"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.kind, TIDS_POLICY_NEAR_NONE);

	/* revoked: never matches again, a denial names it */
	ck_assert_uint_eq(tids_policy_facts_grant_count(f), 1);
	ck_assert_int_eq(tids_policy_facts_retire_grant(f, "g1", true, T0 + DAY), 0);
	ck_assert_uint_eq(tids_policy_facts_grant_count(f), 0);
	ck_assert_int_eq(tids_policy_facts_retire_grant(f, "g9", true, T0), TIDS_ENOENT);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_REVOKED);
	ck_assert_int_eq(dec.near.at_ms, T0 + DAY);
	ck_assert_str_eq(near_text(), "grant g1 was revoked at 2026-06-02T08:00:00Z");
	/* expired and destroyed (the daemon's expiry): expired, at its end */
	ck_assert_int_eq(tids_policy_facts_retire_grant(f, "g1", false, T0 + 10 * DAY), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_EXPIRED);
	/* put again under its id: live again */
	g.uses = 0;
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_str_eq(dec.grant_id, "g1");
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(near_retired_grants_are_bounded)
{
	struct tids_policy_facts *f = world();
	char err[256], id[32];
	const char *cats[] = { "recipe" }, *purposes[] = { "maintenance" };
	for (unsigned i = 0; i < TIDS_POLICY_RETIRED_MAX + 10; i++) {
		snprintf(id, sizeof(id), "g%u", i);
		struct tids_policy_grant g = { .id = id, .owner = "owner.a", .grantee = "lessor.b",
					       .categories = cats, .n_categories = 1, .purposes = purposes,
					       .n_purposes = 1, .not_after_ms = T0 + DAY };
		ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_policy_facts_retire_grant(f, id, true, T0), 0);
	}
	/* the oldest are forgotten; the rest are still known */
	ck_assert_int_eq(tids_policy_facts_grant_uses(f, "g0", NULL), TIDS_ENOENT);
	ck_assert_int_eq(tids_policy_facts_grant_uses(f, "g9", NULL), TIDS_ENOENT);
	ck_assert_int_eq(tids_policy_facts_grant_uses(f, "g10", NULL), 0);
	ck_assert_uint_eq(tids_policy_facts_grant_count(f), 0);
	/* removing a retired grant keeps the count right */
	ck_assert_int_eq(tids_policy_facts_remove_grant(f, "g10"), 0);
	snprintf(id, sizeof(id), "g%u", TIDS_POLICY_RETIRED_MAX + 10);
	struct tids_policy_grant g = { .id = id, .owner = "owner.a", .grantee = "lessor.b", .categories = cats,
				       .n_categories = 1, .purposes = purposes, .n_purposes = 1 };
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_policy_facts_retire_grant(f, id, false, T0), 0);
	ck_assert_int_eq(tids_policy_facts_grant_uses(f, "g11", NULL), 0);
	tids_policy_facts_free(f);
}
END_TEST

START_TEST(near_approval_says_what_failed)
{
	struct tids_policy_set *set = compile_ok(
		"forbid needs_export when record.tier == important && !approval(kind: \"export\", "
		"exporter: record.owner, recipient: recipient.id, category: record.category, tier: important, "
		"purpose: purpose, from: record.origin, to: recipient.jurisdiction, signer_role: \"regulator\", "
		"signer_covers: owner.jurisdiction) because \"needs an export approval\";\n"
		"permit p when true because \"ok\";\n");
	struct tids_policy_facts *f = world();
	char err[256];
	const char *cats[] = { "telemetry" }, *purposes[] = { "maintenance" };
	const enum tids_tier tiers[] = { TIDS_TIER_IMPORTANT };
	struct tids_policy_approval a = {
		.id = "a1", .kind = "export", .regulator = "reg.c", .exporter = "owner.a", .recipient = "lessor.x",
		.categories = cats, .n_categories = 1, .tiers = tiers, .n_tiers = 1, .purposes = purposes,
		.n_purposes = 1, .from_jurisdiction = "CN", .to_jurisdiction = "DE",
		.valid_from_ms = T0 - DAY, .valid_until_ms = T0 + DAY,
	};
	struct tids_record rec = record("telemetry", TIDS_TIER_IMPORTANT, 1);

	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.kind, TIDS_POLICY_NEAR_APPROVAL);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_NONE);
	ck_assert_str_eq(dec.near.rule, "needs_export");
	ck_assert_int_eq(tids_policy_facts_put_approval(f, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_ne(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.kind, TIDS_POLICY_NEAR_NONE);
	/* another purpose; another recipient (found by the exporter's) */
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "warranty"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_PURPOSE);
	ck_assert_str_eq(near_text(), "approval a1 does not cover purpose warranty");
	ck_assert_int_eq(decide(set, f, &rec, "lessor.b", "maintenance"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_RECIPIENT);
	ck_assert_uint_eq(dec.near.failed, (1u << TIDS_POLICY_MISS_RECIPIENT) | (1u << TIDS_POLICY_MISS_TO));
	ck_assert_str_eq(near_text(), "approval a1 names another recipient, not lessor.b; also: to");
	/* the signer suspended */
	struct tids_policy_participant reg = { .id = "reg.c", .role = "regulator", .jurisdiction = "CN-SH",
					       .suspended = true };
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &reg, err, sizeof(err)), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_SIGNER);
	ck_assert_ptr_nonnull(strstr(near_text(), "is signed by reg.c"));
	reg.suspended = false;
	ck_assert_int_eq(tids_policy_facts_put_participant(f, &reg, err, sizeof(err)), 0);
	/* revoked: kept, never counting */
	ck_assert_int_eq(tids_policy_facts_revoke_approval(f, "a1", T0), 0);
	ck_assert_int_eq(tids_policy_facts_revoke_approval(f, "a9", T0), TIDS_ENOENT);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.verdict, TIDS_POLICY_DENY);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_REVOKED);
	ck_assert_str_eq(near_text(), "approval a1 was revoked at 2026-06-01T08:00:00Z");
	/* one that is about something else (3 terms off) is not near */
	const char *other_cats[] = { "quality" }, *other_purposes[] = { "warranty" };
	struct tids_policy_approval far = a;
	far.id = "far";
	far.recipient = "lessor.b";
	far.categories = other_cats;
	far.purposes = other_purposes;
	ck_assert_int_eq(tids_policy_facts_remove_approval(f, "a1"), 0);
	ck_assert_int_eq(tids_policy_facts_put_approval(f, &far, err, sizeof(err)), 0);
	ck_assert_int_eq(decide(set, f, &rec, "lessor.x", "maintenance"), 0);
	ck_assert_int_eq(dec.near.code, TIDS_POLICY_MISS_NONE);
	tids_policy_facts_free(f);
	tids_policy_set_free(set);
}
END_TEST

START_TEST(near_names_and_sentences)
{
	for (unsigned c = TIDS_POLICY_MISS_NONE; c <= TIDS_POLICY_MISS_MAX; c++) {
		enum tids_policy_miss back;
		const char *name = tids_policy_miss_name((enum tids_policy_miss)c);
		ck_assert_ptr_nonnull(name);
		ck_assert_int_eq(tids_policy_miss_from_name(name, &back), 0);
		ck_assert_int_eq(back, c);
		struct tids_policy_near_miss n = { .kind = TIDS_POLICY_NEAR_APPROVAL, .code = c, .failed = 1u << c,
						   .id = "a1", .asked = "v" };
		char buf[256];
		int len = tids_policy_near_miss_format(&n, buf, sizeof(buf));
		ck_assert_int_eq(len, (int)strlen(buf));
		ck_assert_msg(c == TIDS_POLICY_MISS_NONE || strncmp(buf, "approval a1 ", 12) == 0, "%s", buf);
		/* short buffers truncate, and say how long it would be */
		char small[8];
		ck_assert_int_eq(tids_policy_near_miss_format(&n, small, sizeof(small)), len);
		ck_assert_uint_eq(strlen(small), 7);
	}
	ck_assert_ptr_null(tids_policy_miss_name((enum tids_policy_miss)99));
	ck_assert_ptr_null(tids_policy_miss_name(TIDS_POLICY_MISS_UNSET));
	enum tids_policy_miss c;
	ck_assert_int_eq(tids_policy_miss_from_name("stale", &c), TIDS_EINVAL);
	struct tids_policy_near_miss none = { 0 };
	char buf[16] = "x";
	ck_assert_int_eq(tids_policy_near_miss_format(&none, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	struct {
		const char *name;
		const TTest *tests[16];
	} cases[] = {
		{ "lexer", { lex_tokens, lex_durations_and_times, lex_errors_units_and_times } },
		{ "parser", { parse_declarations, parse_errors_name_line_and_column,
			      parse_recovers_and_reports_every_error, parse_nesting_limit } },
		{ "checker", { check_names_and_suggestions, check_types, check_functions,
			       check_lets_and_declarations, check_expansion_limit } },
		{ "analysis", { analysis_warnings, analysis_quiet_on_distinct_rules,
				index_never_hides_a_match } },
		{ "evaluator", { eval_default_deny_and_forbid_wins, eval_request_errors,
				 eval_missing_facts_read_empty, eval_attributes_and_functions,
				 eval_obligations_compose_most_restrictive, eval_keep_and_coarsen,
				 eval_tier_lowering_by_demotion, eval_forbids_judge_the_delivered_record,
				 eval_grants, eval_approvals, eval_counters,
				 eval_allocates_nothing_and_truncates_lists, floors_parse_check_and_lookup,
				 apply_clears_personal_flags, eval_bytecode_tests_and_order } },
		{ "near misses", { near_grant_says_what_failed, near_retired_grants_are_bounded,
				   near_approval_says_what_failed, near_names_and_sentences } },
		{ "facts", { facts_replace_and_remove, facts_approvals_by_recipient_and_exporter,
			     facts_many_pairs } },
		{ "tools", { time_parse_and_format, scenario_parse_errors, scenario_runs_and_reports,
			     scenario_bad_expectation_fails_its_case, scenario_log_and_retain_compare,
			     no_unused_warning_after_a_syntax_error, format_decision,
			     compile_many_files_and_free_null } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		for (size_t k = 0; k < 16 && cases[i].tests[k] != NULL; k++)
			_tcase_add_test(tc, cases[i].tests[k], 0, 0, 0, 1);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pol_arena_free(&lex_arena);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
