/*
 * Near misses as words: the names scenarios, explain and the audit ledger
 * use for what failed, and the sentence a denial adds to its reason.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

static const char *const names[] = {
	[TIDS_POLICY_MISS_NONE] = "none",
	[TIDS_POLICY_MISS_REVOKED] = "revoked",
	[TIDS_POLICY_MISS_NOT_YET_VALID] = "not_yet_valid",
	[TIDS_POLICY_MISS_EXPIRED] = "expired",
	[TIDS_POLICY_MISS_USED_UP] = "used_up",
	[TIDS_POLICY_MISS_RECIPIENT] = "recipient",
	[TIDS_POLICY_MISS_EXPORTER] = "exporter",
	[TIDS_POLICY_MISS_CATEGORY] = "category",
	[TIDS_POLICY_MISS_ASSET] = "asset",
	[TIDS_POLICY_MISS_PURPOSE] = "purpose",
	[TIDS_POLICY_MISS_TIER] = "tier",
	[TIDS_POLICY_MISS_KIND] = "kind",
	[TIDS_POLICY_MISS_FROM] = "from",
	[TIDS_POLICY_MISS_TO] = "to",
	[TIDS_POLICY_MISS_SIGNER] = "signer",
	[TIDS_POLICY_MISS_WINDOW] = "window",
	[TIDS_POLICY_MISS_NO_CASE] = "no_case",
};

const char *tids_policy_miss_name(enum tids_policy_miss code)
{
	return (unsigned)code < sizeof(names) / sizeof(names[0]) ? names[code] : NULL;
}

int tids_policy_miss_from_name(const char *name, enum tids_policy_miss *code)
{
	for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0) {
			*code = (enum tids_policy_miss)i;
			return 0;
		}
	return TIDS_EINVAL;
}

struct out {
	char *buf;
	size_t len, used;
	int total;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->used < o->len ? o->buf + o->used : NULL, o->used < o->len ? o->len - o->used : 0,
			  fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->total += n;
	o->used += (size_t)n;
}

static void at(struct out *o, const char *what, int64_t ms)
{
	char t[40];
	if (ms == 0) {
		put(o, "%.*s", (int)(strrchr(what, ' ') - what), what);    /* without " at" */
		return;
	}
	tids_policy_format_time(ms, t, sizeof(t));
	put(o, "%s %s", what, t);
}

/* "the value" or "it", when the request's value is unknown. */
static const char *v(const char *s)
{
	return s != NULL ? s : "the one asked for";
}

int tids_policy_near_miss_format(const struct tids_policy_near_miss *n, char *buf, size_t len)
{
	struct out o = { buf, len, 0, 0 };
	if (len > 0)
		buf[0] = '\0';
	if (n == NULL || n->kind == TIDS_POLICY_NEAR_NONE)
		return 0;
	const char *what = n->kind == TIDS_POLICY_NEAR_GRANT ? "grant" : "approval";
	if (n->code == TIDS_POLICY_MISS_NONE || n->id == NULL) {
		put(&o, n->kind == TIDS_POLICY_NEAR_GRANT ? "no grant from the owner to this recipient comes close"
			: "no approval of this exporter or for this recipient comes close");
		return o.total;
	}
	put(&o, "%s %s ", what, n->id);
	switch (n->code) {
	case TIDS_POLICY_MISS_REVOKED: at(&o, "was revoked at", n->at_ms); break;
	case TIDS_POLICY_MISS_NOT_YET_VALID: at(&o, "is valid only from", n->at_ms); break;
	case TIDS_POLICY_MISS_EXPIRED: at(&o, "expired at", n->at_ms); break;
	case TIDS_POLICY_MISS_USED_UP:
		put(&o, "is used up (%" PRIu32 " of %" PRIu32 " uses)", n->uses, n->max_uses);
		break;
	case TIDS_POLICY_MISS_RECIPIENT: put(&o, "names another recipient, not %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_EXPORTER: put(&o, "names another exporter, not %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_CATEGORY: put(&o, "does not cover category %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_ASSET: put(&o, "does not cover asset %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_PURPOSE: put(&o, "does not cover purpose %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_TIER: put(&o, "does not cover tier %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_KIND: put(&o, "is of another kind (%s)", v(n->asked)); break;
	case TIDS_POLICY_MISS_FROM: put(&o, "does not cover the origin %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_TO: put(&o, "does not cover the destination %s", v(n->asked)); break;
	case TIDS_POLICY_MISS_SIGNER:
		put(&o, "is signed by %s, whom the rule does not accept now (not registered and active, or of "
		    "another role or jurisdiction)", v(n->asked));
		break;
	case TIDS_POLICY_MISS_WINDOW: put(&o, "runs longer than the rule allows a grant to"); break;
	case TIDS_POLICY_MISS_NO_CASE: put(&o, "opens no case (it has no case id)"); break;
	default: put(&o, "does not hold"); break;
	}
	const char *sep = "; also: ";
	for (unsigned c = (unsigned)n->code + 1; c <= TIDS_POLICY_MISS_MAX; c++)
		if (n->failed & (UINT32_C(1) << c)) {
			put(&o, "%s%s", sep, names[c]);
			sep = ", ";
		}
	return o.total;
}
