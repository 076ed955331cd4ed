/*
 * ODRL 2.2 import and export (policy/odrl.c): tids grants and the standing
 * rules ODRL can express, as ODRL policies in JSON-LD (the odrl.jsonld
 * context Eclipse EDC and Catena-X use), and an ODRL offer or agreement
 * read into a grant, refusing, with the list, what tids cannot enforce.
 * Pure: no I/O; a document is untrusted input, read through this one gate.
 */
#ifndef TIDS_POLICY_ODRL_H
#define TIDS_POLICY_ODRL_H

#include "policy.h"
#include "tids/json.h"
#include "tids/wire.h"

#define TIDS_POLICY_ODRL_PROFILE "https://w3id.org/tids/odrl/v1"
#define TIDS_POLICY_ODRL_PROBLEMS 32

/* The grant as one ODRL Agreement (a JSON object written to w). hub_id,
 * when given, is written as "tids:hub". */
void tids_policy_odrl_grant(struct tids_jw *w, const struct tids_grant *g, const char *hub_id);

/*
 * The standing rules of set that ODRL can express, one Set policy each,
 * written to w as the elements of an array the caller opened: a permit as
 * a permission, a forbid as a prohibition, an oblige as obligations, each
 * with its condition as constraints and its obligations as duties. A rule
 * whose condition or obligations go beyond that (a function such as
 * grant() or approval(), two attributes compared, an obligation computed
 * per record) is left out: skipped(ctx, id, why) says which and why. A
 * rule is exported whole or not at all. Returns how many were written.
 */
typedef void tids_policy_odrl_skip_fn(void *ctx, const char *rule_id, const char *why);
size_t tids_policy_odrl_rules(struct tids_jw *w, const struct tids_policy_set *set,
			      tids_policy_odrl_skip_fn *skipped, void *ctx);

/* An ODRL policy read as a grant. The grant's strings point into the JSON
 * document it was read from and into this struct: keep both alive. */
struct tids_policy_odrl_grant {
	struct tids_grant grant;
	/* what tids cannot enforce (or what is missing), one line each */
	const char *problems[TIDS_POLICY_ODRL_PROBLEMS];
	size_t n_problems;
	bool more_problems;              /* past the list */
	const char *hub_id;              /* "tids:hub", or NULL */
	const char *assigner;            /* NULL when the policy names none */
	/* storage */
	const char *lists[6 + TIDS_POLICY_OB_LISTS][TIDS_LIST_MAX];
	size_t n_lists[6 + TIDS_POLICY_OB_LISTS];
	char text[8192];
	size_t text_used;
};

/*
 * Reads the ODRL policy doc (an Offer, Agreement, Set or Policy object;
 * with or without the tids profile) into out->grant: owner (the assigner,
 * else NULL for the caller to set), grantee (the assignee), grant id (from
 * "@id" urn:tids:grant:ID, or NULL), categories, assets, purposes,
 * validity, uses, duties. Dates alone are days of tz (the hub's), from
 * their first or to their last millisecond as the operator says.
 *
 * Returns 0 when nothing was refused; TIDS_EPOLICY when something was:
 * out->problems lists every term tids cannot enforce ("permission action
 * play: a grant permits use", "constraint spatial eq ...: ...") and every
 * term a grant needs but the policy lacks. TIDS_EINVAL when doc is not a
 * policy at all (err says why).
 */
TIDS_POLICY_WUR
int tids_policy_odrl_read_grant(const struct tids_json *doc, const struct tids_policy_tz *tz,
				struct tids_policy_odrl_grant *out, char *err, size_t errlen);

#endif
