/*
 * libFuzzer target for the proof and bundle checker (lib/ledger_check.c),
 * the gate an auditor runs on files from elsewhere. The keys are the fixed
 * ones the seeds were made with (identities from seeds 0x01.. and 0x02..),
 * so that mutations get past the signatures into the deep checks. Whatever
 * the input, the checker must not crash, and must accept nothing twice
 * differently: the whole-text and the line-by-line forms agree.
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

static struct tids_identity hub, publisher;

static const uint8_t *publisher_key(void *ctx, const char *who)
{
	(void)who;
	return ctx;
}

static void on_entry(void *ctx, const struct tids_audit_entry *e, bool of_record)
{
	unsigned *n = ctx;

	*n += of_record + (e->seq > 0);
}

static void init(void)
{
	uint8_t seed[TIDS_SEED_BYTES];

	if (sodium_init() < 0)
		abort();
	memset(seed, 0x01, sizeof(seed));
	if (tids_identity_from_seed(seed, &hub) != 0)
		abort();
	memset(seed, 0x02, sizeof(seed));
	if (tids_identity_from_seed(seed, &publisher) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	unsigned seen = 0;
	struct tids_proof_opts o;
	struct tids_proof_result whole, lines;
	struct tids_proof_checker *c;
	size_t start = 0;
	int a, b;

	if (!ready) {
		init();
		ready = true;
	}
	memset(&o, 0, sizeof(o));
	o.hub_pk = hub.sign_pk;
	o.publisher_key = publisher_key;
	o.key_ctx = publisher.sign_pk;
	o.on_entry = on_entry;
	o.entry_ctx = &seen;
	a = tids_proof_check(data, size, &o, &whole);

	/* The same text fed line by line, without the callback. */
	o.on_entry = NULL;
	if (tids_proof_checker_new(&o, &c) != 0)
		abort();
	for (size_t i = 0; i < size; i++) {
		if (data[i] != '\n')
			continue;
		if (tids_proof_checker_line(c, (const char *)data + start, i - start) != 0)
			break;
		start = i + 1;
	}
	/* A last line without its newline goes in empty, as tidsctl does. */
	if (start < size && tids_proof_checker_line(c, "", 0) == 0)
		abort();
	b = tids_proof_checker_finish(c, &lines);
	tids_proof_checker_free(c);
	if ((a == 0) != (b == 0))
		abort();
	if (a == 0 && (whole.entries != lines.entries || whole.checkpoints != lines.checkpoints))
		abort();
	return 0;
}
