/*
 * libFuzzer target for the scenario parser (`tidsctl policy test` reads
 * files from anyone), and the runner over a fixed small policy (grants,
 * approvals and a case, so that denials explain themselves).
 * Seeds: tests/fuzz/seeds/fuzz_policy_scenario.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *ctx, const struct tids_policy_case_result *r)
{
	(void)ctx;
	(void)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tids_policy_set *set;
	if (set == NULL) {
		static const char policy[] =
			"permit p when grant() || recipient.role == \"lessor\" with redact label \"personal\","
			" aggregate(sum, \"count\", every 1h, by asset) because \"p\";\n"
			"forbid f when record.tier == core && approval(kind: \"x\") because \"f\";\n"
			/* denials that explain themselves (near misses) */
			"forbid g when record.tier == important && !approval(kind: \"export\", exporter: record.owner,"
			" recipient: recipient.id, category: record.category, tier: important, purpose: purpose,"
			" from: record.origin, to: recipient.jurisdiction, signer_role: \"regulator\","
			" signer_covers: owner.jurisdiction) because \"g\";\n"
			"forbid h when record.category == \"recipe\" && !grant(max_window: 1y) because \"h\";\n"
			"purpose \"legal_request\" needs case by role \"regulator\";\n";
		struct tids_policy_source src = { "p.tidspol", policy, sizeof(policy) - 1 };
		if (tids_policy_compile(&src, 1, &set, NULL) != 0)
			abort();
	}
	struct tids_policy_diags *d = tids_policy_diags_new();
	struct tids_policy_scenario *s = NULL;
	if (tids_policy_scenario_parse("fuzz.scenario", (const char *)data, size, &s, d) == 0) {
		if (tids_policy_scenario_run(s, set, 0, 64, ignore, NULL) < 0)
			abort();
		tids_policy_scenario_free(s);
	}
	tids_policy_diags_free(d);
	return 0;
}
