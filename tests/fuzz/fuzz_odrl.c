/*
 * libFuzzer target for the ODRL gate (tids_policy_odrl_read_grant:
 * `tidsctl grant --odrl` reads offers from other connectors): any JSON
 * document is read without crashing; one read as a grant is written as
 * ODRL and read back to the same grant, byte for byte.
 * Seeds: tests/fuzz/seeds/fuzz_odrl (a tids grant, ODRL 2.2 examples).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "odrl.h"
#include "tids/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *write(const struct tids_grant *g, const char *hub)
{
	struct tids_jw w;
	tids_jw_init(&w);
	tids_policy_odrl_grant(&w, g, hub);
	char *s = w.err == 0 && w.buf != NULL ? strdup(w.buf) : NULL;
	tids_jw_free(&w);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tids_policy_odrl_grant a, b;
	struct tids_json_doc *doc = NULL, *doc2 = NULL;
	char err[256];
	if (tids_json_parse((const char *)data, size, &doc, err, sizeof(err)) != 0)
		return 0;
	int rc = tids_policy_odrl_read_grant(tids_json_root(doc), NULL, &a, err, sizeof(err));
	if (rc == TIDS_EPOLICY && a.n_problems == 0 && !a.more_problems)
		abort();                  /* a refusal names what it refuses */
	if (rc == 0 && a.grant.owner != NULL && a.grant.grant_id != NULL) {
		char *one = write(&a.grant, a.hub_id), *two = NULL;
		if (one == NULL || tids_json_parse(one, strlen(one), &doc2, err, sizeof(err)) != 0 ||
		    tids_policy_odrl_read_grant(tids_json_root(doc2), NULL, &b, err, sizeof(err)) != 0)
			abort();
		two = write(&b.grant, b.hub_id);
		if (two == NULL || strcmp(one, two) != 0)
			abort();
		free(one);
		free(two);
		tids_json_free(doc2);
	}
	tids_json_free(doc);
	return 0;
}
