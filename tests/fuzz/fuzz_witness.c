/*
 * libFuzzer target for witness files (tidsctl audit verify --witness, and
 * what tidsd reads back of the witness files it keeps): whatever parses is
 * formatted again and must parse to the same witnesses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tids/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tids_witness *w, *again;
	char err[256], line[TIDS_WITNESS_LINE_MAX + 2];
	size_t n, m;

	if (tids_witness_parse((const char *)data, size, &w, &n, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int len = tids_witness_format(&w[i], line, sizeof(line));

		if (len <= 0 || tids_witness_parse(line, (size_t)len, &again, &m, err, sizeof(err)) != 0 || m != 1 ||
		    memcmp(again, &w[i], sizeof(*again)) != 0)
			abort();
		free(again);
	}
	free(w);
	return 0;
}
