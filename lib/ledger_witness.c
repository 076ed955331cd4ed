/*
 * Witness files: the signed chain heads a peer hub received from this one,
 * one line each. Parsed here for tidsctl audit verify --witness and for
 * tidsd, which keeps such a file for each of its peers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ledger_internal.h"
#include "tids/error.h"
#include "tids/ledger.h"

void tids_witness_from_checkpoint(const struct tids_audit_checkpoint *cp, struct tids_witness *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->hub_id, sizeof(w->hub_id), "%s", cp->hub_id);
	w->partition = cp->partition;
	w->seq = cp->seq;
	memcpy(w->head, cp->head_hash, TIDS_HASH_BYTES);
	w->signed_at_ms = cp->signed_at_ms;
	memcpy(w->signature, cp->signature, TIDS_SIGNATURE_BYTES);
}

bool tids_witness_valid(const struct tids_witness *w, const uint8_t hub_pk[TIDS_PUBLIC_KEY_BYTES])
{
	struct tids_audit_checkpoint cp = {
		.hub_id = w->hub_id, .partition = w->partition, .seq = w->seq, .signed_at_ms = w->signed_at_ms,
	};

	memcpy(cp.head_hash, w->head, TIDS_HASH_BYTES);
	memcpy(cp.signature, w->signature, TIDS_SIGNATURE_BYTES);
	return ledger_checkpoint_valid(&cp, hub_pk);
}

int tids_witness_format(const struct tids_witness *w, char *buf, size_t len)
{
	char head[2 * TIDS_HASH_BYTES + 1], sig[2 * TIDS_SIGNATURE_BYTES + 1];
	int n;

	sodium_bin2hex(head, sizeof(head), w->head, TIDS_HASH_BYTES);
	sodium_bin2hex(sig, sizeof(sig), w->signature, TIDS_SIGNATURE_BYTES);
	n = snprintf(buf, len, "witness %s %" PRId32 " %" PRIu64 " %s %" PRId64 " %s\n", w->hub_id, w->partition,
		     w->seq, head, w->signed_at_ms, sig);
	return n < 0 || (size_t)n >= len ? TIDS_ETOOBIG : n;
}

/* Parses an unsigned decimal of at most 19 digits into *out. */
static bool number(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool hex(const char *s, size_t n, uint8_t *out, size_t want)
{
	size_t got;

	return n == 2 * want && sodium_hex2bin(out, want, s, n, NULL, &got, NULL) == 0 && got == want;
}

/* One line (without its newline) into w. */
static int parse_line(const char *line, size_t len, struct tids_witness *w, const char **why)
{
	const char *tok[7];
	size_t tlen[7], n = 0, i = 0;
	uint64_t v;

	while (i < len && n < 7) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		tok[n] = line + i;
		while (i < len && line[i] != ' ')
			i++;
		tlen[n] = (size_t)(line + i - tok[n]);
		n++;
	}
	while (i < len && line[i] == ' ')
		i++;
	memset(w, 0, sizeof(*w));
	if (n != 7 || i != len || tlen[0] != 7 || memcmp(tok[0], "witness", 7) != 0) {
		*why = "not a witness line (witness HUB PARTITION SEQ HEAD SIGNED-AT SIGNATURE)";
		return TIDS_EINVAL;
	}
	if (tlen[1] > TIDS_ID_MAX) {
		*why = "hub id too long";
		return TIDS_EBADID;
	}
	memcpy(w->hub_id, tok[1], tlen[1]);
	w->hub_id[tlen[1]] = '\0';
	if (!tids_valid_id(w->hub_id)) {
		*why = "not a hub id";
		return TIDS_EBADID;
	}
	if (!number(tok[2], tlen[2], &v) || v > TIDS_LEDGER_PARTITION_MAX) {
		*why = "bad partition";
		return TIDS_EINVAL;
	}
	w->partition = (int32_t)v;
	if (!number(tok[3], tlen[3], &w->seq) || w->seq == 0 || w->seq > TIDS_LEDGER_SEQ_MAX) {
		*why = "bad sequence number";
		return TIDS_EINVAL;
	}
	if (!hex(tok[4], tlen[4], w->head, TIDS_HASH_BYTES)) {
		*why = "head is not 64 hex digits";
		return TIDS_EINVAL;
	}
	if (!number(tok[5], tlen[5], &v) || v > INT64_MAX) {
		*why = "bad signing time";
		return TIDS_EINVAL;
	}
	w->signed_at_ms = (int64_t)v;
	if (!hex(tok[6], tlen[6], w->signature, TIDS_SIGNATURE_BYTES)) {
		*why = "signature is not 128 hex digits";
		return TIDS_EINVAL;
	}
	return 0;
}

int tids_witness_parse(const char *text, size_t len, struct tids_witness **out, size_t *n, char *err,
		       size_t errlen)
{
	struct tids_witness *list = NULL;
	size_t count = 0, cap = 0, pos = 0;
	unsigned lineno = 0;

	*out = NULL;
	*n = 0;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos;
		const char *why = NULL;
		int r;

		pos += ll + (nl != NULL ? 1 : 0);
		lineno++;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0 || line[0] == '#')
			continue;
		if (ll > TIDS_WITNESS_LINE_MAX) {
			free(list);
			return tids_fail(err, errlen, TIDS_ETOOBIG, "line %u: longer than %d bytes", lineno,
					 TIDS_WITNESS_LINE_MAX);
		}
		if (count == cap) {
			size_t ncap = cap > 0 ? cap * 2 : 16;
			struct tids_witness *grown = ncap <= 1u << 20 ? realloc(list, ncap * sizeof(*grown)) : NULL;

			if (grown == NULL) {
				free(list);
				return tids_fail(err, errlen, TIDS_ENOMEM, "line %u: out of memory", lineno);
			}
			list = grown;
			cap = ncap;
		}
		if ((r = parse_line(line, ll, &list[count], &why)) != 0) {
			free(list);
			return tids_fail(err, errlen, r, "line %u: %s", lineno, why);
		}
		count++;
	}
	*out = list;
	*n = count;
	return 0;
}
