/*
 * libFuzzer target for the policy gate: text -> lexer, parser, checker,
 * analysis, compiler; and when a set compiles, decisions on fixed records
 * through the evaluator, applying and formatting their obligations.
 * Seeds: tests/fuzz/seeds/fuzz_policy (the default set and broken files).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const personal[] = { "personal" };
static const char *const droppable[] = { "droppable", "process" };

static struct tids_policy_facts *facts(void)
{
	/* built once: the fuzzer varies the policy, not the world */
	static struct tids_policy_facts *f;
	if (f != NULL)
		return f;
	f = tids_policy_facts_new();
	char err[128];
	static const struct tids_policy_attr yes[] = { { "security_agreement", "true" },
						       { "free_trade_zone", "shanghai_lingang" } };
	const struct tids_policy_participant ps[] = {
		{ .id = "factory.sh1", .role = "factory", .jurisdiction = "CN-SH", .attrs = yes, .n_attrs = 2 },
		{ .id = "lessor.wh", .role = "lessor", .jurisdiction = "CN-HB", .attrs = yes, .n_attrs = 1 },
		{ .id = "lessor.de", .role = "lessor", .jurisdiction = "DE" },
		{ .id = "reg.sh", .role = "regulator", .jurisdiction = "CN-SH" },
	};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		if (tids_policy_facts_put_participant(f, &ps[i], err, sizeof(err)) != 0)
			abort();
	struct tids_policy_asset a = { .id = "press-7", .lessee = "factory.sh1", .lessor = "lessor.wh",
				       .site = "sh-1" };
	const char *cats[] = { "recipe", "telemetry" }, *purposes[] = { "maintenance", "billing" };
	struct tids_policy_grant g = { .id = "g1", .owner = "factory.sh1", .grantee = "lessor.wh",
				       .categories = cats, .n_categories = 2, .purposes = purposes,
				       .n_purposes = 2, .not_after_ms = INT64_C(1800000000000),
				       .max_uses = 3, .uses = 1 };
	const enum tids_tier tiers[] = { TIDS_TIER_IMPORTANT };
	struct tids_policy_approval ap = { .id = "a1", .kind = "export", .exporter = "factory.sh1",
					   .recipient = "lessor.de", .categories = cats, .n_categories = 2,
					   .tiers = tiers, .n_tiers = 1, .purposes = purposes,
					   .n_purposes = 2, .valid_until_ms = INT64_C(1800000000000) };
	if (tids_policy_facts_put_asset(f, &a, err, sizeof(err)) != 0 ||
	    tids_policy_facts_put_grant(f, &g, err, sizeof(err)) != 0 ||
	    tids_policy_facts_put_approval(f, &ap, err, sizeof(err)) != 0 ||
	    tids_policy_facts_set_counter(f, "pi_individuals_exported", "factory.sh1", 2026, 99999) != 0)
		abort();
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_policy_source src = { "fuzz.tidspol", (const char *)data, size };
	struct tids_policy_diags *d = tids_policy_diags_new();
	struct tids_policy_set *set = NULL;
	char buf[4096];

	if (tids_policy_compile(&src, 1, &set, d) == 0) {
		struct tids_field fields[3] = {
			{ .name = "rpm", .value = { .kind = TIDS_VALUE_INT } },
			{ .name = "operator", .value = { .kind = TIDS_VALUE_INT }, .labels = personal,
			  .n_labels = 1 },
			{ .name = "map", .value = { .kind = TIDS_VALUE_INT }, .tier = TIDS_TIER_CORE,
			  .labels = droppable, .n_labels = 2 },
		};
		struct tids_record rec = { .owner = "factory.sh1", .asset_id = "press-7",
					   .category = "telemetry", .tier = TIDS_TIER_GENERAL,
					   .origin = "CN-SH", .schema = "", .personal = true,
					   .individuals = 3, .fields = fields, .n_fields = 3,
					   .produced_at_ms = INT64_C(1780300000000) };
		/* every floor listed is the floor looked up */
		const char *cats[8];
		enum tids_tier tiers[8];
		size_t n_floors = tids_policy_tier_floors(set, cats, tiers, 8);
		for (size_t i = 0; i < n_floors && i < 8; i++)
			if (tids_policy_tier_floor(set, cats[i]) != tiers[i])
				abort();
		const char *recipients[] = { "lessor.wh", "lessor.de", "reg.sh", "nobody" };
		struct tids_policy_decision dec;
		for (size_t i = 0; i < 4; i++) {
			struct tids_policy_request req = { &rec, recipients[i], i % 2 ? "billing" : "maintenance",
							   INT64_C(1780300800000), NULL, 0, false, NULL };
			int rc = tids_policy_decide(set, facts(), &req, &dec);
			if (rc == 0 && dec.verdict == TIDS_POLICY_DENY && dec.because == NULL)
				abort();
			struct tids_field out_fields[3];
			struct tids_record out;
			if (rc == 0 && dec.verdict != TIDS_POLICY_DENY &&
			    tids_policy_apply(&dec, &rec, &out, out_fields, 3) == 0 &&
			    (out.n_fields > rec.n_fields ||
			     out.tier < tids_policy_tier_floor(set, rec.category)))
				abort();
			tids_policy_decision_format(set, &dec, &rec, buf, sizeof(buf));
			rec.tier = (enum tids_tier)(1 + (i % 3));
			rec.category = i % 2 ? "telemetry" : "recipe";
		}
		tids_policy_set_free(set);
	}
	for (size_t i = 0; i < tids_policy_diags_count(d); i++)
		tids_policy_diag_format(tids_policy_diags_at(d, i), buf, sizeof(buf));
	tids_policy_diags_free(d);
	return 0;
}
