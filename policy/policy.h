/*
 * The policy engine: compiles *.tidspol text into an immutable rule set and
 * decides, for one record, recipient and purpose, whether the record may go,
 * in what form and why. Pure C: no I/O, no globals, never prints; the daemon,
 * tidsctl and the fuzzer call exactly these functions.
 *
 * Lifecycle in the daemon:
 *
 *   facts = tids_policy_facts_new();            fill from SQLite, then keep
 *   tids_policy_facts_put_grant(facts, &g) ...  up to date incrementally
 *   tids_policy_compile(srcs, n, &set, diags)   on start and on SIGHUP; on
 *                                               failure keep the old set
 *   tids_policy_decide(set, facts, &req, &dec)  per record and recipient
 *   tids_policy_apply(&dec, rec, &out, fields, cap)   redact/drop/coarsen
 *
 * Ownership: the library copies everything it is given (sources, facts), so
 * callers may free their buffers after a call returns. A decision points
 * into the set, the facts, the record and the request it was made from; it
 * stays valid while all four are alive and unchanged.
 *
 * Threads: a set is immutable and may be shared; decisions only read the
 * facts, so several threads may decide at once as long as nobody modifies
 * the facts meanwhile (the daemon's single event loop guarantees that).
 */
#ifndef TIDS_POLICY_H
#define TIDS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/record.h"

#define TIDS_POLICY_WUR __attribute__((warn_unused_result))

/* ------------------------------------------------------------------------
 * Diagnostics: errors and warnings from compiling policies and parsing
 * scenarios. The library never prints; the CLI formats them as
 * "file:line:col: error: message".
 */

enum tids_policy_severity {
	TIDS_POLICY_ERROR = 0,
	TIDS_POLICY_WARNING = 1,
};

struct tids_policy_diag {
	const char *file;          /* the source name given to compile */
	unsigned line;             /* from 1 */
	unsigned col;              /* from 1, in characters (UTF-8 aware) */
	enum tids_policy_severity severity;
	const char *message;       /* one line, no trailing period */
};

struct tids_policy_diags;      /* owns its messages */

#define TIDS_POLICY_DIAGS_MAX 200  /* further diagnostics are counted, not kept */

struct tids_policy_diags *tids_policy_diags_new(void);
void tids_policy_diags_free(struct tids_policy_diags *diags);
void tids_policy_diags_clear(struct tids_policy_diags *diags);
size_t tids_policy_diags_count(const struct tids_policy_diags *diags);
size_t tids_policy_diags_errors(const struct tids_policy_diags *diags);
size_t tids_policy_diags_warnings(const struct tids_policy_diags *diags);
const struct tids_policy_diag *tids_policy_diags_at(const struct tids_policy_diags *diags, size_t i);
/* "file:line:col: error: message" into buf (always NUL-terminated);
 * returns the length snprintf would have written. */
int tids_policy_diag_format(const struct tids_policy_diag *d, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * Compiling. Sources are compiled together: rules are evaluated in the
 * order given, a `let` or `attribute` of any source may be used in any
 * other, and rule ids are unique across all.
 */

#define TIDS_POLICY_SOURCE_MAX (8u << 20)   /* bytes per source */
#define TIDS_POLICY_RULES_MAX 1000000       /* rules per set */

struct tids_policy_source {
	const char *name;          /* file name for diagnostics */
	const char *text;          /* need not be NUL-terminated */
	size_t len;
};

struct tids_policy_set;        /* immutable once compiled */

/*
 * Parses, type-checks, analyses and compiles the sources into *out.
 * Returns 0 (warnings may have been added to diags), TIDS_EPOLICY when any
 * source has an error (every error is in diags, *out is NULL), TIDS_ETOOBIG
 * or TIDS_ENOMEM. diags may be NULL to compile silently.
 */
TIDS_POLICY_WUR
int tids_policy_compile(const struct tids_policy_source *sources, size_t n_sources,
			struct tids_policy_set **out, struct tids_policy_diags *diags);
void tids_policy_set_free(struct tids_policy_set *set);
size_t tids_policy_set_rule_count(const struct tids_policy_set *set);

enum tids_policy_rule_kind {
	TIDS_POLICY_PERMIT = 0,
	TIDS_POLICY_FORBID = 1,
	TIDS_POLICY_OBLIGE = 2,    /* adds obligations to permitted deliveries */
};

struct tids_policy_rule_info {
	enum tids_policy_rule_kind kind;
	const char *id;
	const char *because;
	const char *file;
	unsigned line;
	unsigned col;
};

/*
 * Tier floors: `floor category "recipe" = important;` declares the lowest
 * tier a record of the category may carry; ingest refuses a record whose
 * tier (tids_record_effective_tier: the highest of its own and its
 * fields') is below the floor of its category. Both functions are pure and
 * allocate nothing.
 *
 * tids_policy_tier_floor: the floor of category, TIDS_TIER_GENERAL when the
 * set declares none (or set is NULL).
 *
 * tids_policy_tier_floors: every floor, in category name order, into
 * categories[0..cap) and tiers[0..cap) (either may be NULL); returns how
 * many floors the set declares, which may exceed cap. The strings belong
 * to the set: copy them to keep them past tids_policy_set_free.
 */
enum tids_tier tids_policy_tier_floor(const struct tids_policy_set *set, const char *category);
size_t tids_policy_tier_floors(const struct tids_policy_set *set, const char **categories,
			       enum tids_tier *tiers, size_t cap);

/*
 * Purposes: `purposes role "lessor" may ["billing", "maintenance"];` says
 * which purposes a participant of a role may ask for (tidsd refuses a
 * Subscribe for any other; rules read it as `purpose_allowed`), and
 * `purpose "legal_request" needs case by role "regulator";` that a purpose
 * is served only under an open case: an approval of kind "legal_request"
 * carrying a case id, naming the recipient, the record's owner (exporter),
 * category, tier and the purpose, signed by an active participant of that
 * role whose jurisdiction covers the owner's. The engine enforces cases
 * itself (a decision without one is denied) and names the case in the
 * decision (case_id), so the audit entry of every delivery it opens does.
 *
 * A participant's registry attribute "purposes" (TIDS_POLICY_PURPOSES_ATTR,
 * comma-separated), when the hub sets one, narrows what its role allows.
 *
 * tids_policy_may_ask: does the set let role ask for purpose?
 * tids_policy_needs_case: does purpose need a case?
 * tids_policy_role_purposes: every (role, purpose) pair in that order into
 * roles[0..cap) and purposes[0..cap) (either may be NULL); returns how many.
 * tids_policy_case_purposes: every (purpose, approving role) pair likewise.
 * The strings belong to the set.
 */
#define TIDS_POLICY_PURPOSES_ATTR "purposes"
bool tids_policy_may_ask(const struct tids_policy_set *set, const char *role, const char *purpose);
bool tids_policy_needs_case(const struct tids_policy_set *set, const char *purpose);
size_t tids_policy_role_purposes(const struct tids_policy_set *set, const char **roles, const char **purposes,
				 size_t cap);
size_t tids_policy_case_purposes(const struct tids_policy_set *set, const char **purposes, const char **roles,
				 size_t cap);

/*
 * Record schemas: `schema category "energy" fields ["kwh": real unit
 * "kWh", "meter_serial": text optional];` declares the fields a record of
 * the category carries: names, types (numbers widen: an int fits a real),
 * units, the labels each must bear (e.g. "personal"), and which may be
 * absent. A category without one takes any fields.
 *
 * tids_policy_check_record: 0 when rec fits its category's schema (or
 * there is none), else TIDS_EINVAL and err names every field that does
 * not fit: "record does not fit the schema of category energy: field
 * energy_kwh is not one of it (did you mean kwh?); field kwh (real) is
 * missing". Pure; allocates nothing.
 *
 * The schemas of a set are one immutable object of their own, so that a
 * caller can keep a copy apart from the set (tidsd's ingest does, as it
 * does the floors): tids_policy_schemas_copy (NULL when out of memory;
 * an empty object for a set without schemas), _check (as above), _free.
 */
struct tids_policy_schemas;
TIDS_POLICY_WUR
int tids_policy_check_record(const struct tids_policy_set *set, const struct tids_record *rec, char *err,
			     size_t errlen);
struct tids_policy_schemas *tids_policy_schemas_copy(const struct tids_policy_set *set);
void tids_policy_schemas_free(struct tids_policy_schemas *schemas);
size_t tids_policy_schemas_count(const struct tids_policy_schemas *schemas);
TIDS_POLICY_WUR
int tids_policy_schemas_check(const struct tids_policy_schemas *schemas, const struct tids_record *rec, char *err,
			      size_t errlen);

/* Rule by id, or NULL. For explain and audit tooling. */
const struct tids_policy_rule_info *tids_policy_set_rule(const struct tids_policy_set *set,
							  const char *id);
const char *tids_policy_rule_kind_name(enum tids_policy_rule_kind kind);

/* ------------------------------------------------------------------------
 * Facts: the registry, grants, approvals and counters a decision reads.
 * The daemon fills the store from SQLite and keeps it current; lookups by
 * id and by (owner, grantee) are hashed, so a decision with 100k grants
 * touches only the grants between the record's owner and the recipient.
 * Every put copies its argument and replaces an entry with the same id.
 */

struct tids_policy_attr {
	const char *name;          /* [a-z0-9_] */
	const char *value;         /* typed by the policy's `attribute` declaration */
};

struct tids_policy_participant {
	const char *id;
	const char *role;
	const char *jurisdiction;  /* country "CC" or region "CC-RRR" */
	const char *home_hub;      /* "" or NULL: this hub */
	const struct tids_policy_attr *attrs;
	size_t n_attrs;
	bool suspended;
};

struct tids_policy_asset {
	const char *id;
	const char *lessee;
	const char *lessor;        /* "" or NULL when not leased */
	const char *site;
	const char *kind;
	const struct tids_policy_attr *attrs;
	size_t n_attrs;
};

/* ------------------------------------------------------------------------
 * The obligations vocabulary (policy/obligations.def): the obligations
 * carried by name, as flags and lists of names. Each struct below that
 * holds obligations has one field per table entry, of the entry's name.
 */
enum tids_policy_ob_flag {
#define TIDS_OB_FLAG(name, summary) TIDS_POLICY_OB_FLAG_##name,
#include "obligations.def"
	TIDS_POLICY_OB_FLAGS
};

enum tids_policy_ob_list {
#define TIDS_OB_LIST(name, word, check, summary) TIDS_POLICY_OB_LIST_##name,
#include "obligations.def"
	TIDS_POLICY_OB_LISTS
};

struct tids_policy_ob_info {
	const char *name;          /* field, proto, JSON and scenario name */
	const char *word;          /* the policy language's keyword */
	bool list;                 /* a list of names, else a flag */
	bool ids;                  /* list of participant ids ("role:R" too), else of names */
	unsigned index;            /* enum tids_policy_ob_flag or _list */
	const char *summary;
};

/* Every entry of the table, flags and lists in table order; NULL past the
 * end. tids_policy_ob_find looks one up by name or keyword. */
const struct tids_policy_ob_info *tids_policy_ob_at(size_t i);
const struct tids_policy_ob_info *tids_policy_ob_find(const char *name);

/* Duties attached to a grant by its owner (tids.v1.Obligations). */
struct tids_policy_grant_duties {
	int64_t retain_until_ms;             /* 0: none */
#define TIDS_OB_FLAG(name, summary) bool name;
#define TIDS_OB_LIST(name, word, check, summary) const char *const *name; size_t n_##name;
#include "obligations.def"
	const char *const *redact;           /* field names removed */
	size_t n_redact;
	const char *const *purposes;         /* use restricted to these; none: no restriction */
	size_t n_purposes;
	const char *aggregate_function;      /* NULL: no aggregation */
	const char *aggregate_field;
	int64_t aggregate_window_ms;
	int64_t aggregate_window_months;
	const char *const *aggregate_by;
	size_t n_aggregate_by;
};

struct tids_policy_grant {
	const char *id;
	const char *owner;
	const char *grantee;
	const char *const *assets;           /* none: all of the owner's assets */
	size_t n_assets;
	const char *const *categories;       /* none: covers no category */
	size_t n_categories;
	const char *const *purposes;         /* none: covers no purpose */
	size_t n_purposes;
	int64_t not_before_ms;
	int64_t not_after_ms;                /* 0: open-ended */
	uint32_t max_uses;                   /* 0: unlimited */
	uint32_t uses;                       /* deliveries made so far */
	struct tids_policy_grant_duties duties;
};

struct tids_policy_approval {
	const char *id;
	const char *kind;                    /* e.g. "export", "standard_contract" */
	const char *regulator;
	const char *exporter;
	const char *recipient;
	const char *const *categories;
	size_t n_categories;
	const enum tids_tier *tiers;
	size_t n_tiers;
	const char *const *purposes;
	size_t n_purposes;
	const char *from_jurisdiction;       /* a country covers its regions */
	const char *to_jurisdiction;
	int64_t valid_from_ms;
	int64_t valid_until_ms;
	const char *case_id;                 /* "" or NULL: opens no case */
};

struct tids_policy_facts;

struct tids_policy_facts *tids_policy_facts_new(void);
void tids_policy_facts_free(struct tids_policy_facts *facts);

/* Each returns 0, TIDS_EINVAL (missing id or malformed entry, err says
 * which) or TIDS_ENOMEM. */
TIDS_POLICY_WUR int tids_policy_facts_put_participant(struct tids_policy_facts *facts,
		const struct tids_policy_participant *p, char *err, size_t errlen);
TIDS_POLICY_WUR int tids_policy_facts_put_asset(struct tids_policy_facts *facts,
		const struct tids_policy_asset *a, char *err, size_t errlen);
TIDS_POLICY_WUR int tids_policy_facts_put_grant(struct tids_policy_facts *facts,
		const struct tids_policy_grant *g, char *err, size_t errlen);
TIDS_POLICY_WUR int tids_policy_facts_put_approval(struct tids_policy_facts *facts,
		const struct tids_policy_approval *a, char *err, size_t errlen);
/* Return 0 or TIDS_ENOENT. */
int tids_policy_facts_remove_participant(struct tids_policy_facts *facts, const char *id);
int tids_policy_facts_remove_asset(struct tids_policy_facts *facts, const char *id);
int tids_policy_facts_remove_grant(struct tids_policy_facts *facts, const char *id);
int tids_policy_facts_remove_approval(struct tids_policy_facts *facts, const char *id);

/*
 * A grant revoked (revoked) or expired and destroyed (!revoked) at at_ms:
 * it never matches again, but stays known, so that a denial can say what
 * became of it (near misses, below). The oldest of them are forgotten past
 * TIDS_POLICY_RETIRED_MAX. A revoked approval likewise stays, and never
 * counts again. Return 0 or TIDS_ENOENT.
 */
#define TIDS_POLICY_RETIRED_MAX 4096
int tids_policy_facts_retire_grant(struct tids_policy_facts *facts, const char *id, bool revoked,
				   int64_t at_ms);
int tids_policy_facts_revoke_approval(struct tids_policy_facts *facts, const char *id, int64_t at_ms);

/* Use counts are persisted by the daemon; the engine compares uses with
 * max_uses. set replaces the count, add_use counts one delivery. */
int tids_policy_facts_set_grant_uses(struct tids_policy_facts *facts, const char *grant_id,
				     uint32_t uses);
int tids_policy_facts_add_grant_use(struct tids_policy_facts *facts, const char *grant_id);

/* Counters are named by the policy (e.g. individuals exported per exporter
 * per calendar year): name, key, period -> value. */
TIDS_POLICY_WUR int tids_policy_facts_set_counter(struct tids_policy_facts *facts,
		const char *name, const char *key, int64_t period, uint64_t value);
TIDS_POLICY_WUR int tids_policy_facts_add_counter(struct tids_policy_facts *facts,
		const char *name, const char *key, int64_t period, uint64_t amount);
uint64_t tids_policy_facts_counter(const struct tids_policy_facts *facts,
				   const char *name, const char *key, int64_t period);

/* A grant's use count into *uses (which may be NULL): 0, or TIDS_ENOENT
 * when no grant has that id. */
int tids_policy_facts_grant_uses(const struct tids_policy_facts *facts, const char *grant_id,
				 uint32_t *uses);
/* Grants that can match (retired ones not counted). */
size_t tids_policy_facts_grant_count(const struct tids_policy_facts *facts);

/* ------------------------------------------------------------------------
 * Deciding.
 */

struct tids_policy_tz;

struct tids_policy_request {
	const struct tids_record *record;
	const char *recipient;     /* participant id; need not be registered */
	const char *purpose;       /* the purpose the recipient states */
	int64_t now_ms;
	/* Federation: a record forwarded by another hub. via_hub (NULL or ""
	 * when published here) and hops (hubs crossed) are record.via_hub and
	 * record.hops; onward says that this recipient and purpose are not the
	 * ones it was forwarded for (passing it on would be an onward transfer). */
	const char *via_hub;
	uint32_t hops;
	bool onward;
	/* The hub's time zone (hub.timezone), for its calendar: months and
	 * years added to times, year(), dates in the policy. NULL: UTC. */
	const struct tids_policy_tz *tz;
};

/* Values match tids.v1.Decision. */
enum tids_policy_verdict {
	TIDS_POLICY_UNDECIDED = 0,
	TIDS_POLICY_ALLOW = 1,     /* deliver as published (duties may apply) */
	TIDS_POLICY_DENY = 2,
	TIDS_POLICY_TRANSFORM = 3, /* deliver after removing, coarsening or aggregating */
};

#define TIDS_POLICY_DECISION_RULES 32   /* rule ids listed per decision */
#define TIDS_POLICY_LIST 8              /* notify, purposes, duties, by */
#define TIDS_POLICY_COUNTS 4            /* counter increments per decision */
#define TIDS_POLICY_FIELD_WORDS ((TIDS_FIELDS_MAX + 63) / 64)
#define TIDS_POLICY_STRBUF 512

struct tids_policy_aggregation {
	const char *function;      /* sum, count, min, max, avg */
	const char *field;
	int64_t window_ms;         /* tumbling window by record time: a fixed length, */
	int64_t window_months;     /* or calendar months (0 when fixed); tids_policy_window */
	const char *by[TIDS_POLICY_LIST];   /* asset, site, owner, category, ... */
	size_t n_by;
};

/* A counter the daemon must increase when it delivers. */
struct tids_policy_count {
	const char *counter;
	const char *key;
	int64_t period;
	uint64_t amount;
};

/* Obligations composed to the most restrictive across every rule (and
 * grant) that made the decision. */
struct tids_policy_obligations {
	/* Fields of the record that must not be delivered (bit i = fields[i]),
	 * from redact, drop, keep and demote and the grant's redactions. */
	uint64_t removed[TIDS_POLICY_FIELD_WORDS];
	/* Fields whose value is replaced by coarsen_to. */
	uint64_t coarsened[TIDS_POLICY_FIELD_WORDS];
	const char *coarsen_to;
	bool aggregate;            /* aggregation is set */
	struct tids_policy_aggregation aggregation;
	int64_t retain_until_ms;   /* 0: none; else the earliest asked for */
	int64_t log_retain_ms;     /* audit retention: the longest asked for */
	/* the vocabulary's flags (any asked for) and lists (the union) */
#define TIDS_OB_FLAG(name, summary) bool name;
#define TIDS_OB_LIST(name, word, check, summary) const char *name[TIDS_POLICY_LIST]; size_t n_##name;
#include "obligations.def"
	bool purposes_restricted;  /* use only for purposes[]; may be empty */
	const char *purposes[TIDS_POLICY_LIST];
	size_t n_purposes;
	struct tids_policy_count counts[TIDS_POLICY_COUNTS];
	size_t n_counts;
};

/*
 * Why a denial's grant() or approval() did not hold: the grant or approval
 * that nearly matched and what failed, or that none exists. Values match
 * tids.v1.NearMissCode (the audit entry's reason code).
 */
enum tids_policy_miss {
	TIDS_POLICY_MISS_UNSET = 0,
	TIDS_POLICY_MISS_NONE = 1,           /* none between these parties, or none close:
					      * each differs in 3 or more of recipient,
					      * exporter, category, asset, purpose, tier,
					      * kind, from, to */
	TIDS_POLICY_MISS_REVOKED = 2,
	TIDS_POLICY_MISS_NOT_YET_VALID = 3,
	TIDS_POLICY_MISS_EXPIRED = 4,
	TIDS_POLICY_MISS_USED_UP = 5,
	TIDS_POLICY_MISS_RECIPIENT = 6,      /* out of scope: ... */
	TIDS_POLICY_MISS_EXPORTER = 7,
	TIDS_POLICY_MISS_CATEGORY = 8,
	TIDS_POLICY_MISS_ASSET = 9,
	TIDS_POLICY_MISS_PURPOSE = 10,
	TIDS_POLICY_MISS_TIER = 11,
	TIDS_POLICY_MISS_KIND = 12,
	TIDS_POLICY_MISS_FROM = 13,          /* jurisdictions */
	TIDS_POLICY_MISS_TO = 14,
	TIDS_POLICY_MISS_SIGNER = 15,        /* not (now) a signer the rule accepts */
	TIDS_POLICY_MISS_WINDOW = 16,        /* runs longer than the rule's max_window */
	TIDS_POLICY_MISS_NO_CASE = 17,       /* carries no case id */
};
#define TIDS_POLICY_MISS_MAX TIDS_POLICY_MISS_NO_CASE

enum tids_policy_near_kind {
	TIDS_POLICY_NEAR_NONE = 0,           /* the denial rests on no grant() or approval() */
	TIDS_POLICY_NEAR_GRANT = 1,
	TIDS_POLICY_NEAR_APPROVAL = 2,
};

struct tids_policy_near_miss {
	enum tids_policy_near_kind kind;
	enum tids_policy_miss code;          /* the first of what failed */
	uint32_t failed;                     /* bit 1 << code of each thing that failed */
	const char *id;                      /* what nearly matched; NULL with MISS_NONE */
	const char *rule;                    /* the rule whose call it was; NULL: the purpose's case */
	const char *asked;                   /* the value out of scope (purpose, ...), or NULL */
	int64_t at_ms;                       /* expired at, valid from, revoked at (0: unknown) */
	uint32_t uses, max_uses;             /* MISS_USED_UP */
};

struct tids_policy_decision {
	enum tids_policy_verdict verdict;
	enum tids_tier tier;       /* the tier the delivered record is judged at */
	const char *because;       /* the deciding rule's reason */
	const char *deciding_rule; /* NULL on default deny */
	/* Every rule that made the decision, in policy order: matching
	 * forbids and permits, and, when delivered, the obliges applied. */
	const char *rule_ids[TIDS_POLICY_DECISION_RULES];
	size_t n_rules;
	bool rules_truncated;
	const char *grant_id;      /* grant the delivery rests on, or NULL */
	const char *approval_id;   /* approval that made it possible, or NULL */
	const char *case_id;       /* the case the purpose needed, or NULL */
	unsigned passes;           /* evaluations needed (tier lowering) */
	/* On deny: the grant() or approval() the deciding forbid found
	 * missing, or the first a permit needed, or the purpose's case. */
	struct tids_policy_near_miss near;
	struct tids_policy_obligations obligations;
	char strbuf[TIDS_POLICY_STRBUF];  /* storage for derived strings */
	size_t strbuf_used;
};

/* The reason given when no permit matches. */
#define TIDS_POLICY_DEFAULT_DENY "no rule permits this record for this recipient and purpose"

/*
 * Decides req under set and facts; allocates nothing. Always fills *out;
 * returns 0, or a negative code with out->verdict == TIDS_POLICY_DENY:
 * TIDS_ENOTIER for a record without a tier, TIDS_EINVAL for a malformed
 * request, TIDS_ETOOMANY when the obligations overflow the decision's
 * fixed lists (the engine refuses rather than drop a duty).
 *
 * A record holding fields of a higher tier than its own is judged at the
 * highest. When that refuses it and a matching rule can `demote` (drop)
 * those fields, or any rule's redactions change what would be delivered,
 * the engine judges the record as it would be delivered and repeats until
 * nothing changes: forbids always judge exactly what leaves.
 */
TIDS_POLICY_WUR
int tids_policy_decide(const struct tids_policy_set *set, const struct tids_policy_facts *facts,
		       const struct tids_policy_request *req, struct tids_policy_decision *out);

const char *tids_policy_verdict_name(enum tids_policy_verdict v);

/* "expired", "used_up", ... (as scenarios and the audit ledger name them);
 * NULL for an unknown code. from_name returns TIDS_EINVAL for an unknown name. */
const char *tids_policy_miss_name(enum tids_policy_miss code);
int tids_policy_miss_from_name(const char *name, enum tids_policy_miss *code);
/* One sentence: "grant study is used up (2 of 2 uses)", "approval ok-sg
 * does not cover purpose warranty; also: expired". Returns what
 * snprintf would; "" for kind NONE. */
int tids_policy_near_miss_format(const struct tids_policy_near_miss *n, char *buf, size_t len);

static inline bool tids_policy_field_removed(const struct tids_policy_obligations *o, size_t i)
{
	return i < TIDS_FIELDS_MAX && (o->removed[i / 64] >> (i % 64)) & 1u;
}

static inline bool tids_policy_field_coarsened(const struct tids_policy_obligations *o, size_t i)
{
	return i < TIDS_FIELDS_MAX && (o->coarsened[i / 64] >> (i % 64)) & 1u;
}

/*
 * Applies the decision's field obligations to in: copies the record header
 * into *out (borrowing in's strings; out owns nothing), the fields that
 * remain into fields[0..cap), replaces coarsened values with the coarsen
 * target, and sets out->tier to the effective tier of what remains. Does
 * not aggregate (the router does, per the aggregation spec). Returns 0,
 * TIDS_EDENIED for a deny decision, or TIDS_ETOOMANY if cap is too small.
 */
TIDS_POLICY_WUR
int tids_policy_apply(const struct tids_policy_decision *d, const struct tids_record *in,
		      struct tids_record *out, struct tids_field *fields, size_t cap);

/*
 * Obligations between the engine and the wire (tids.v1.Obligations as
 * tids/wire.h has it), converted in one place (policy/convert.c). Strings
 * are borrowed, never copied.
 *
 * tids_policy_obligations_to_wire: what a permitting decision obliges the
 * recipient to, as its Delivery carries it; the names of the removed
 * fields of rec go into names[0..cap) (o->redacted points there).
 * tids_policy_duties_from_wire / _to_wire: a grant's duties.
 * tids_policy_ob_wire_flag / _list: a vocabulary entry's field in o.
 */
struct tids_obligations;
struct tids_strlist;
void tids_policy_obligations_to_wire(const struct tids_policy_decision *d, const struct tids_record *rec,
				     const char **names, size_t cap, struct tids_obligations *o);
void tids_policy_duties_from_wire(const struct tids_obligations *o, struct tids_policy_grant_duties *du);
void tids_policy_duties_to_wire(const struct tids_policy_grant_duties *du, struct tids_obligations *o);
bool *tids_policy_ob_wire_flag(struct tids_obligations *o, unsigned flag);
struct tids_strlist *tids_policy_ob_wire_list(struct tids_obligations *o, unsigned list);

/*
 * Human-readable account of a decision for explain and test: verdict,
 * reason, rules with their files and lines, obligations with field names.
 * rec is the record decided (for field names) and may be NULL. Returns the
 * length snprintf would have written; buf is always NUL-terminated.
 */
int tids_policy_decision_format(const struct tids_policy_set *set,
				const struct tids_policy_decision *d,
				const struct tids_record *rec, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * Scenarios: table-driven tests of a policy set (see policy/README.md for
 * the format). Parsing is a pure function over text; reading files is the
 * caller's job. Statements run in order, so facts may change between
 * cases (a grant used up, the clock moved on).
 */

struct tids_policy_scenario;

TIDS_POLICY_WUR
int tids_policy_scenario_parse(const char *name, const char *text, size_t len,
			       struct tids_policy_scenario **out, struct tids_policy_diags *diags);
/* The same, for files that may name a time zone (`timezone Asia/Shanghai`):
 * load reads a zone by name (the engine reads no files), 0 or an error
 * with err saying why. Without a loader only UTC is known. */
typedef int tids_policy_tz_loader(void *ctx, const char *name, struct tids_policy_tz **out, char *err,
				  size_t errlen);
TIDS_POLICY_WUR
int tids_policy_scenario_parse_tz(const char *name, const char *text, size_t len, tids_policy_tz_loader *load,
				  void *load_ctx, struct tids_policy_scenario **out,
				  struct tids_policy_diags *diags);
void tids_policy_scenario_free(struct tids_policy_scenario *s);
size_t tids_policy_scenario_case_count(const struct tids_policy_scenario *s);

struct tids_policy_case_result {
	const char *file;
	unsigned line;
	const char *name;          /* the case's label, e.g. "3" */
	bool passed;
	char message[1024];        /* why it failed: expected vs got */
	struct tids_policy_decision decision;
	int decide_rc;             /* what tids_policy_decide returned; not 0: a reject */
	const struct tids_record *record;   /* the record decided (NULL for "(facts)") */
};

typedef void tids_policy_case_fn(void *ctx, const struct tids_policy_case_result *res);

/*
 * Runs cases [first, first + count) of s against set (count may exceed the
 * number of cases), replaying the scenario's fact statements from the
 * start, and calls fn for each case run. Returns the number of failing
 * cases, or a negative code when the facts cannot be built.
 */
TIDS_POLICY_WUR
int tids_policy_scenario_run(const struct tids_policy_scenario *s, const struct tids_policy_set *set,
			     size_t first, size_t count, tids_policy_case_fn *fn, void *ctx);

/* ------------------------------------------------------------------------
 * Time zones and the hub's calendar. The engine reads no files: the
 * caller reads a zone's TZif data (RFC 8536, /usr/share/zoneinfo/NAME) and
 * hands it over. tids_policy_tz_parse checks it whole (it is untrusted
 * input) and returns 0, TIDS_EINVAL with err saying what is wrong,
 * TIDS_ETOOBIG or TIDS_ENOMEM. A zone is immutable and may be shared;
 * lookups allocate nothing. NULL anywhere a zone is read means UTC.
 */
TIDS_POLICY_WUR
int tids_policy_tz_parse(const char *name, const uint8_t *data, size_t len, struct tids_policy_tz **out,
			 char *err, size_t errlen);
void tids_policy_tz_free(struct tids_policy_tz *tz);
const struct tids_policy_tz *tids_policy_tz_utc(void);
const char *tids_policy_tz_name(const struct tids_policy_tz *tz);
/* The zone's offset from UTC at a UTC instant, in ms (east positive). */
int64_t tids_policy_tz_offset_ms(const struct tids_policy_tz *tz, int64_t utc_ms);
/* The UTC instant of a local time (ms since 1970 on the local clock): a
 * local time the clocks jumped over is moved on by the jump, one they
 * passed twice is the earlier. */
int64_t tids_policy_tz_to_utc(const struct tids_policy_tz *tz, int64_t local_ms);

/* t plus months of the calendar of tz (the 31st plus a month is the last
 * day of a shorter month; local time of day kept), plus ms. Saturates. */
int64_t tids_policy_add(const struct tids_policy_tz *tz, int64_t t, int64_t months, int64_t ms);

/*
 * The aggregation window holding t, [*start, *end), aligned to the
 * calendar of tz: months counted from January (1q: quarters, 1y: years),
 * whole days from local midnight (weeks from Monday), parts of a day from
 * its local midnight (the last part ends with the day, which has 23, 24
 * or 25 hours), anything else on the local clock.
 */
void tids_policy_window(const struct tids_policy_tz *tz, int64_t months, int64_t ms, int64_t t, int64_t *start,
			int64_t *end);

/* A date alone ("2026-05-31") means its whole local day: its first
 * instant as a start, its last (23:59:59.999) as an end. A time of day
 * carries its zone and is read as written. 0 or TIDS_EINVAL. */
enum tids_policy_bound { TIDS_POLICY_DAY_START, TIDS_POLICY_DAY_END };
TIDS_POLICY_WUR
int tids_policy_parse_time_tz(const char *s, size_t len, const struct tids_policy_tz *tz,
			      enum tids_policy_bound bound, int64_t *ms_out);
/* "1y6mo2d": calendar months (mo, q = 3, y = 12) and fixed ms. */
void tids_policy_format_calendar(int64_t months, int64_t ms, char *buf, size_t len);

/* Parses an ISO-8601 time ("2026-06-01", "2026-06-01T10:00:00Z", with
 * fractions or +hh:mm) into Unix ms (a date alone: UTC midnight). Returns
 * 0 or TIDS_EINVAL. */
TIDS_POLICY_WUR
int tids_policy_parse_time(const char *s, size_t len, int64_t *ms_out);
/* "2026-06-01T10:00:00Z" (".123" when there are milliseconds). */
void tids_policy_format_time(int64_t ms, char *buf, size_t len);
/* "90d", "1h30m", "250ms": the shortest exact spelling of a fixed length. */
void tids_policy_format_duration(int64_t ms, char *buf, size_t len);

#endif
