/*
 * libFuzzer target for the statement checker (lib/ledger_statement.c,
 * tidsctl audit check-statement), the gate a lessor or lessee runs on a
 * bill from elsewhere. Without a ledger only the text and its signature
 * are judged; the hub key is the fixed one the seed was signed with, so
 * that mutations of a signed seed reach the line parsing. Whatever the
 * input, no crash, and nothing unsigned is accepted.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tids_identity hub;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct tids_statement_result res;
	int r;

	if (!ready) {
		uint8_t seed[TIDS_SEED_BYTES];

		if (sodium_init() < 0)
			abort();
		memset(seed, 0x01, sizeof(seed));
		if (tids_identity_from_seed(seed, &hub) != 0)
			abort();
		ready = true;
	}
	r = tids_statement_check(data, size, hub.sign_pk, NULL, NULL, &res);
	/* Accepted means signed: an end line whose signature holds. */
	if (r == 0 && !res.signed_ok)
		abort();
	if (r != 0 && res.what[0] == '\0')
		abort();
	return 0;
}
