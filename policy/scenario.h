/*
 * Private to the scenario parser and runner: a scenario is a list of steps
 * (fact statements and cases) replayed in order, plus the named records the
 * cases send.
 */
#ifndef TIDS_POLICY_SCENARIO_H
#define TIDS_POLICY_SCENARIO_H

#include "internal.h"

struct scen_record {
	const char *name;
	unsigned line;
	struct tids_record rec;
	size_t cap_fields;
	/* Forwarded by another hub (via_hub=H hops=N for=RECIPIENT:PURPOSE):
	 * a request for another recipient or purpose is an onward transfer. */
	const char *via_hub;
	uint64_t hops;
	const char *for_recipient;
	const char *for_purpose;
};

enum expect_kind {
	EX_BECAUSE,               /* text: a substring of the reason */
	EX_RULE,                  /* args: rule ids listed */
	EX_REMOVES,               /* args: field names removed */
	EX_KEEPS,                 /* args: field names kept */
	EX_AGGREGATE,             /* args: fn, field [, by...]; num: window */
	EX_COARSEN,               /* args: fields; text: target or NULL */
	EX_RETAIN,                /* num: duration from now */
	EX_RETAIN_UNTIL,          /* num: time */
	EX_LOG,                   /* num: duration */
	EX_ONLY_FOR,              /* args: exactly these purposes */
	EX_COUNT,                 /* args: counter, key; num: period; num2: amount */
	EX_OB_FLAG,               /* which: the vocabulary's flag */
	EX_OB_LIST,               /* which: the vocabulary's list; args: names in it */
	EX_GRANT,                 /* text: id, or NULL for "no grant" */
	EX_APPROVAL,              /* text: id, or NULL */
	EX_CASE,                  /* text: case id, or NULL for "no case" */
	EX_TIER,                  /* num */
	EX_NEAR,                  /* which: near kind (0 none); text: id or NULL; num: miss code or 0 */
};

/* How EX_LOG and EX_RETAIN compare: `log 3y` (exactly), `log >= 6mo`. */
enum expect_op { OP_EQ, OP_GE, OP_GT, OP_LE, OP_LT };

struct expect {
	enum expect_kind kind;
	enum expect_op op;
	unsigned which;           /* EX_OB_FLAG, EX_OB_LIST */
	bool negated;
	unsigned col;
	const char **args;
	size_t n_args;
	const char *text;
	int64_t num;
	int64_t months;           /* EX_RETAIN, EX_LOG, EX_AGGREGATE: calendar months besides num */
	int64_t num2;
};

struct scen_case {
	const char *name;
	unsigned line;
	const struct scen_record *record;
	const char *recipient;
	const char *purpose;
	bool has_now;
	int64_t now;
	bool reject;              /* the engine must refuse the request itself */
	enum tids_policy_verdict verdict;
	struct expect *exps;
	size_t n_exps;
	/* what was wrong with the expectations as written: the case fails
	 * with it, the rest of the file still runs */
	const char *bad;
	unsigned bad_col;
};

enum step_kind {
	STEP_NOW,
	STEP_PARTICIPANT,
	STEP_ASSET,
	STEP_GRANT,
	STEP_APPROVAL,
	STEP_COUNTER,
	STEP_USES,
	STEP_REMOVE,
	STEP_REVOKE,              /* u.remove: grant or approval, at the scenario's now */
	STEP_CASE,
};

struct scen_step {
	enum step_kind kind;
	unsigned line;
	union {
		int64_t now;
		struct tids_policy_participant participant;
		struct tids_policy_asset asset;
		struct tids_policy_grant grant;
		struct tids_policy_approval approval;
		struct {
			const char *name;
			const char *key;
			int64_t period;
			uint64_t value;
		} counter;
		struct {
			const char *grant;
			uint32_t uses;
		} uses;
		struct {
			const char *what;
			const char *id;
		} remove;
		struct scen_case *c;
	} u;
};

struct tids_policy_scenario {
	struct arena arena;
	const char *file;
	struct tids_policy_tz *tz;        /* `timezone`, owned; NULL: UTC */
	struct scen_step *steps;
	size_t n_steps;
	size_t cap_steps;
	struct scen_record **records;
	size_t n_records;
	size_t cap_records;
	size_t n_cases;
};

#endif
