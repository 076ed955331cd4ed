/*
 * Private to policy/: the syntax tree shared by the parser, checker,
 * analyser, compiler and evaluator, the compiled set, the fact store's
 * entries, and the small allocator everything of a set lives in.
 * Cross-file helpers carry a pol_ prefix; nothing here is public API.
 */
#ifndef TIDS_POLICY_INTERNAL_H
#define TIDS_POLICY_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"

/* ---- limits the language enforces (each has a diagnostic) ---- */
#define POL_DEPTH_MAX 64          /* expression nesting */
#define POL_STRING_MAX 4096       /* bytes in a string literal */
#define POL_IDENT_MAX 64
#define POL_LIST_MAX 4096         /* items in a list literal */
#define POL_ATTR_DECLS_MAX 32     /* declared attributes per entity */
#define POL_DERIVED_MAX 64        /* cached country()/year() of attributes */
#define POL_OBLIGATIONS_MAX 64    /* obligations per rule */
#define POL_PASSES_MAX 4          /* evaluations per decision (tier lowering) */
#define POL_MATCHED_MAX 256       /* rules matching one request */

uint64_t pol_hash(const char *s, size_t len);

/* Equality of two short byte strings of length n, inline: a word or two
 * at a time, never reading past either end. */
static inline bool pol_mem_eq(const void *a, const void *b, size_t n)
{
	const char *x = a, *y = b;
	uint64_t u, v;
	uint32_t s, t;
	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&u, x + i, 8);
			memcpy(&v, y + i, 8);
			if (u != v)
				return false;
		}
		memcpy(&u, x + n - 8, 8);
		memcpy(&v, y + n - 8, 8);
		return u == v;
	}
	if (n >= 4) {
		memcpy(&s, x, 4);
		memcpy(&t, y, 4);
		if (s != t)
			return false;
		memcpy(&s, x + n - 4, 4);
		memcpy(&t, y + n - 4, 4);
		return s == t;
	}
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Arena: every node and string of a parse or a compiled set. Freed whole.
 */
struct arena_block;
struct arena {
	struct arena_block *head;
	size_t bytes;             /* allocated so far, for limits and stats */
};

void *pol_arena_alloc(struct arena *a, size_t size);            /* zeroed; NULL on ENOMEM */
void *pol_arena_alloc_line(struct arena *a, size_t size);       /* ... on a 64-byte boundary */
char *pol_arena_strndup(struct arena *a, const char *s, size_t len);
void pol_arena_free(struct arena *a);

/* ------------------------------------------------------------------------
 * Diagnostics.
 */
struct tids_policy_diags {
	struct tids_policy_diag *items;
	size_t n;
	size_t n_errors;
	size_t n_warnings;
	size_t dropped;
	struct arena strings;
};

void pol_diag(struct tids_policy_diags *d, enum tids_policy_severity sev, const char *file,
	      unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void pol_vdiag(struct tids_policy_diags *d, enum tids_policy_severity sev, const char *file,
	       unsigned line, unsigned col, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

/* ------------------------------------------------------------------------
 * Time: civil dates without libc's time zone machinery (pure, UTC).
 */
int64_t pol_days_from_civil(int64_t y, unsigned m, unsigned d);
void pol_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
int64_t pol_year_of(int64_t ms);
/* The calendar in a time zone (calendar.c; tz NULL: UTC). */
int64_t pol_year_in(const struct tids_policy_tz *tz, int64_t ms);
int64_t pol_local_day_start(const struct tids_policy_tz *tz, int64_t days);
/* "1y6mo", "90d": months of the calendar and fixed ms. */
int pol_parse_calendar(const char *s, size_t len, int64_t *months, int64_t *ms);
/* "90d", "1h30m": as the language spells durations. */
int pol_parse_duration(const char *s, size_t len, int64_t *ms_out);

/* Beyond this many ms from 1970 (some 73 million years) times are not
 * put on a calendar: they stay as they are, and nothing overflows. */
#define POL_TIME_LIMIT (INT64_MAX / 4)

#define POL_MS_SECOND INT64_C(1000)
#define POL_MS_MINUTE (60 * POL_MS_SECOND)
#define POL_MS_HOUR (60 * POL_MS_MINUTE)
#define POL_MS_DAY (24 * POL_MS_HOUR)
#define POL_MS_WEEK (7 * POL_MS_DAY)

/* ------------------------------------------------------------------------
 * Lexer.
 */
enum tok {
	TOK_EOF = 0,
	TOK_IDENT,
	TOK_STRING,
	TOK_INT,
	TOK_DURATION,
	TOK_TIME,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_LBRACK,
	TOK_RBRACK,
	TOK_COMMA,
	TOK_SEMI,
	TOK_COLON,
	TOK_DOT,
	TOK_ASSIGN,
	TOK_EQ,
	TOK_NE,
	TOK_LT,
	TOK_LE,
	TOK_GT,
	TOK_GE,
	TOK_AND,
	TOK_OR,
	TOK_NOT,
	TOK_PLUS,
	TOK_MINUS,
	TOK_ERROR,                /* already reported */
};

struct token {
	enum tok kind;
	unsigned line;
	unsigned col;
	const char *start;        /* in the source text */
	size_t len;
	int64_t num;              /* INT value, DURATION or TIME in ms */
	int64_t months;           /* DURATION: calendar months (mo, q, y) besides num */
	bool date;                /* TIME: a date alone (the start of the local day) */
	const char *str;          /* STRING decoded (arena), IDENT copy (arena) */
	size_t str_len;
};

/* Identifiers and string literals, each copied once however often the
 * sources repeat them (every rule says `recipient` and `record`). */
struct strtab_entry {
	const char *s;
	uint32_t len;
	uint64_t h;
};

struct strtab {
	struct strtab_entry *v;
	size_t mask;
	size_t count;
};

void pol_strtab_free(struct strtab *t);

struct lexer {
	struct strtab *strings;   /* NULL: copy every string */
	const char *file;
	const char *src;
	size_t len;
	size_t pos;
	unsigned line;
	unsigned col;
	struct arena *arena;
	struct tids_policy_diags *diags;
	bool oom;
};

void pol_lex_init(struct lexer *lx, const char *file, const char *src, size_t len,
		  struct arena *arena, struct tids_policy_diags *diags);
void pol_lex_next(struct lexer *lx, struct token *t);
const char *pol_tok_name(enum tok kind);

/* ------------------------------------------------------------------------
 * Types and the syntax tree.
 */
enum ptype {
	PT_ERROR = 0,             /* already reported; suppresses follow-on errors */
	PT_BOOL,
	PT_INT,
	PT_STR,
	PT_TIME,
	PT_DUR,
	PT_TIER,
	PT_LIST,
	PT_ANY,                   /* element type of the empty list */
};

const char *pol_type_name(enum ptype t);

enum node_op {
	N_BOOL,
	N_INT,
	N_STR,
	N_TIME,
	N_DUR,
	N_TIER,
	N_LIST,
	N_NAME,                   /* bare identifier, resolved by the checker */
	N_PATH,                   /* a.b, resolved by the checker into N_ATTR */
	N_ATTR,
	N_CALL,
	N_NOT,
	N_AND,
	N_OR,
	N_NEG,
	N_EQ,
	N_NE,
	N_LT,
	N_LE,
	N_GT,
	N_GE,
	N_IN,
	N_NOT_IN,
	N_ADD,
	N_SUB,
};

enum fn_id {
	F_NONE = 0,
	F_COUNTRY,                /* country(jurisdiction) -> string */
	F_YEAR,                   /* year(time) -> int (UTC) */
	F_APPROVAL,               /* approval(kind: ..., ...) -> bool */
	F_GRANT,                  /* grant(purpose: ..., ...) -> bool */
	F_COUNTER,                /* counter(name, key, period) -> int */
	F_HAS_LABEL,              /* has_label(label) -> bool, over delivered fields */
	F_HAS_FIELD,              /* has_field(name) -> bool, over delivered fields */
	F_STRIPPED,               /* stripped(label) -> bool */
};

/* A node of the syntax tree, as parsed and checked. A compiled set keeps
 * none of them: lower.c turns conditions into bytecode and the rest into
 * struct xnode. */
struct node {
	/* what struct xnode keeps */
	uint8_t op;               /* enum node_op */
	uint8_t type;             /* enum ptype, set by the checker */
	uint8_t fn;               /* N_CALL: enum fn_id */
	bool constant;            /* N_LIST: every item a literal */
	uint32_t slot;            /* N_ATTR */
	uint32_t n_items;
	uint32_t len;
	struct node *a;
	struct node *b;
	union {
		int64_t i;        /* N_INT, N_DUR, N_TIME, N_TIER, N_BOOL */
		int64_t *codes;   /* constant N_LIST: sorted value codes, items in the same order */
	};
	const char *s;            /* N_STR value; N_NAME / N_PATH text */
	struct node **items;      /* N_LIST items; N_CALL arguments (by parameter once checked) */
	union {
		uint64_t h;       /* N_STR: pol_str_hash of s, set when compiled */
		int64_t months;   /* N_DUR: calendar months besides the ms in i */
	};
	/* parsing, checking, analysis, lowering */
	const char **arg_names;   /* N_CALL as written: name or NULL when positional */
	uint64_t shash;           /* structural hash */
	const struct xnode *lowered;   /* its copy in the set (lower.c), once made */
	unsigned line;
	unsigned col;
	uint32_t size;            /* nodes when expanded, saturating; 0: not computed */
	uint32_t code_size;       /* lower.c: instructions + 1, 0 not known */
	uint16_t test_cost;       /* lower.c: cost + 1, 0 not known */
	uint8_t elem;             /* N_LIST: element type */
	bool checked;
	/* Let definitions make the tree a DAG: walks memoize on the node. */
	bool interned;
	bool hashed;
	uint8_t purity;           /* lower.c: 0 not known, 1 pure, 2 calls grant()/approval() */
	bool calendar;            /* PT_DUR: has calendar months, so no fixed length */
};

/* fn of an N_TIME node written as a date alone: its value is the start of
 * that day in the hub's time zone (i holds the day's UTC midnight). */
#define POL_TIME_DATE 1


/* Obligation clauses of a rule's `with`. */
enum ob_kind {
	OB_REDACT,
	OB_DROP,
	OB_KEEP,
	OB_DEMOTE,
	OB_AGGREGATE,
	OB_COARSEN,
	OB_RETAIN,                /* ms: duration from now */
	OB_RETAIN_UNTIL,          /* expr: time */
	OB_LOG,                   /* ms: audit retention */
	OB_ONLY_FOR,              /* exprs: strings */
	OB_COUNT,                 /* text: counter; exprs: key, period, amount */
	OB_FLAG,                  /* which: enum tids_policy_ob_flag (obligations.def) */
	OB_LIST,                  /* which: enum tids_policy_ob_list; exprs: strings */
};

struct obligation {
	enum ob_kind kind;
	uint8_t which;            /* OB_FLAG, OB_LIST: the vocabulary's entry */
	unsigned line;
	unsigned col;
	const char **names;       /* selector: field names */
	uint32_t n_names;
	const char **labels;      /* selector: labels */
	uint32_t n_labels;
	struct node *expr;        /* RETAIN_UNTIL; COARSEN target */
	struct node **exprs;      /* NOTIFY, ONLY_FOR, COUNT */
	uint32_t n_exprs;
	int64_t ms;               /* RETAIN, LOG, AGGREGATE window */
	int64_t months;           /* ... and their calendar months */
	const char *text;         /* COUNT counter, AGGREGATE function */
	const char *field;        /* AGGREGATE */
	const char **by;          /* AGGREGATE */
	uint32_t n_by;
};

/* A rule as parsed and checked; lower.c makes its struct crule. */
struct rule {
	struct node *when;        /* NULL: always */
	struct obligation *obs;
	uint32_t n_obs;
	uint32_t index;           /* position in the set: evaluation order */
	bool has_field_obligations;
	bool demote_only;         /* every obligation is `demote`: it matters only when applied */
	bool calls_grant;
	bool uses_grant_attr;
	struct tids_policy_rule_info info;   /* kind, id, because, file, line, col */
	unsigned grant_attr_line, grant_attr_col;
};

struct let_def {
	const char *name;
	struct node *expr;
	const char *file;
	unsigned line;
	unsigned col;
	int state;                /* 0 unchecked, 1 checking, 2 done */
	bool used;
	bool calls_grant;
	bool uses_grant_attr;
};

enum entity { ENT_PARTICIPANT, ENT_ASSET };

struct attr_decl {
	enum entity entity;
	const char *name;
	enum ptype type;
	struct node *deflt;       /* literal or NULL */
	const char *file;
	unsigned line;
	unsigned col;
	bool used;
	uint32_t index;           /* among its entity's declarations */
};

/* `floor category "recipe" = important;`: the lowest tier a record of the
 * category may carry (ingest refuses records below it). */
struct floor_decl {
	const char *category;
	enum tids_tier tier;
	const char *file;
	unsigned line;
	unsigned col;
};

/* `purposes role "lessor" may ["billing", ...];`: one per role and purpose
 * (purpose NULL: the role's declaration lists none). */
struct purpose_decl {
	const char *role;
	const char *purpose;
	const char *file;
	unsigned line;            /* of the roles */
	unsigned col;
	unsigned purpose_line;    /* of the purposes */
	unsigned purpose_col;
};

/* `purpose "legal_request" needs case by role "regulator";`: one per
 * purpose and approving role. */
struct case_decl {
	const char *purpose;
	const char *role;
	const char *file;
	unsigned line;
	unsigned col;
	unsigned role_line;
	unsigned role_col;
};

/* `schema category "energy" fields ["kwh": real unit "kWh", ...];`: the
 * fields a record of the category carries (ingest refuses others). */
struct schema_field_decl {
	const char *name;
	uint8_t type;             /* enum tids_value_kind */
	bool optional;
	const char *unit;         /* NULL: none said */
	const char **labels;      /* labels the field must carry */
	uint32_t n_labels;
	unsigned line;
	unsigned col;
};

struct schema_decl {
	const char *category;
	struct schema_field_decl *fields;
	uint32_t n_fields;
	const char *file;
	unsigned line;            /* of the category */
	unsigned col;
};

/* Parse output: everything from every source, in source order. */
struct program {
	struct arena *arena;
	struct rule **rules;
	size_t n_rules;
	size_t cap_rules;
	struct let_def **lets;
	size_t n_lets;
	size_t cap_lets;
	struct attr_decl **attrs;
	size_t n_attrs;
	size_t cap_attrs;
	struct floor_decl **floors;
	size_t n_floors;
	size_t cap_floors;
	struct purpose_decl **purposes;
	size_t n_purposes;
	size_t cap_purposes;
	struct case_decl **cases;
	size_t n_cases;
	size_t cap_cases;
	struct schema_decl **schemas;
	size_t n_schemas;
	size_t cap_schemas;
	struct strtab strings;    /* the lexer's copies */
	bool oom;
};

int pol_parse(struct program *prog, const char *file, const char *text, size_t len,
	      struct tids_policy_diags *diags);

/* ------------------------------------------------------------------------
 * Attribute slots: every attribute a rule can read has a slot, and a
 * decision caches each slot's value the first time a rule reads it.
 */
enum builtin {
	B_RECORD_OWNER,
	B_RECORD_ASSET,
	B_RECORD_CATEGORY,
	B_RECORD_TIER,            /* of the record as it would be delivered */
	B_RECORD_BASE_TIER,       /* the record's own tier, fields aside */
	B_RECORD_ORIGIN,
	B_RECORD_COUNTRY,
	B_RECORD_PRODUCED_AT,
	B_RECORD_PERSONAL,
	B_RECORD_SENSITIVE,
	B_RECORD_INDIVIDUALS,
	B_RECORD_SCHEMA,
	B_RECORD_VIA_HUB,         /* the peer hub it was forwarded from; "" if published here */
	B_RECORD_HOPS,            /* hubs it crossed to get here */
	B_RCPT_ID,
	B_RCPT_ROLE,
	B_RCPT_JURISDICTION,
	B_RCPT_COUNTRY,
	B_RCPT_HOME_HUB,
	B_RCPT_REGISTERED,
	B_RCPT_SUSPENDED,
	B_OWNER_ID,
	B_OWNER_ROLE,
	B_OWNER_JURISDICTION,
	B_OWNER_COUNTRY,
	B_OWNER_HOME_HUB,
	B_OWNER_REGISTERED,
	B_OWNER_SUSPENDED,
	B_ASSET_ID,
	B_ASSET_LESSEE,
	B_ASSET_LESSOR,
	B_ASSET_SITE,
	B_ASSET_KIND,
	B_ASSET_REGISTERED,
	B_PURPOSE,
	B_NOW,
	B_PURPOSE_ALLOWED,        /* the recipient's role may ask for the purpose */
	B_ONWARD,                 /* forwarded here for another recipient or purpose */
	/* grant.*: the grant the rule's grant() call matched; never cached */
	B_GRANT_ID,
	B_GRANT_OWNER,
	B_GRANT_GRANTEE,
	B_GRANT_NOT_BEFORE,
	B_GRANT_NOT_AFTER,
	B_GRANT_MAX_USES,
	B_GRANT_USES,
	B_GRANT_REMAINING,
	B_COUNT
};

#define POL_FIRST_GRANT_BUILTIN B_GRANT_ID

struct builtin_attr {
	const char *path;
	enum ptype type;
};
extern const struct builtin_attr pol_builtins[B_COUNT];

enum slot_src {
	SLOT_BUILTIN,
	SLOT_RECIPIENT_ATTR,      /* declared participant attribute, of the recipient */
	SLOT_OWNER_ATTR,          /* ... of the record's owner */
	SLOT_ASSET_ATTR,
	SLOT_DERIVED,             /* fn(base slot): country() or year() */
};

struct slot_def {
	uint8_t src;              /* enum slot_src */
	uint8_t type;             /* enum ptype */
	uint8_t fn;               /* SLOT_DERIVED: F_COUNTRY or F_YEAR */
	uint32_t id;              /* builtin, or index of the declaration */
	uint32_t base;            /* SLOT_DERIVED: the slot it is derived from */
	const char *name;         /* "recipient.role", "country(record.origin)" */
	const struct attr_decl *decl;   /* while compiling */
	const struct xdecl *xdecl;      /* in a compiled set */
	bool view_dependent;      /* changes when fields are removed */
};

#define POL_SLOTS_MAX (B_COUNT + 3 * POL_ATTR_DECLS_MAX + POL_DERIVED_MAX)

/* ------------------------------------------------------------------------
 * Checking: names, types, lets, declarations; then analysis (warnings,
 * index keys). Both work on the program; the compiler assembles the set.
 */
struct checker {
	struct program *prog;
	struct tids_policy_diags *diags;
	/* the parse reported errors: what did not parse may have used a
	 * definition, so none is said to be unused */
	bool syntax_errors;
	struct arena *arena;
	struct slot_def slots[POL_SLOTS_MAX];
	uint32_t n_slots;
	size_t errors;
	struct rule *rule;        /* being checked */
	unsigned n_part_decls;
	unsigned n_asset_decls;
	/* let name -> def, for lookups during checking */
	struct let_def **let_table;
	size_t let_mask;
	/* the first use of purpose_allowed, for the warning when nothing is declared */
	const char *purpose_allowed_file;
	unsigned purpose_allowed_line;
	unsigned purpose_allowed_col;
	/* where we are: the file, and the let being checked (NULL in a rule) */
	const char *scope_file[POL_DEPTH_MAX];
	struct let_def *scope_let[POL_DEPTH_MAX];
	unsigned n_scopes;
};

int pol_check(struct checker *ck);
/* Built-in slots and the `attribute` declarations (schema.c). */
void pol_check_schema(struct checker *ck);
int pol_new_slot(struct checker *ck, struct slot_def def);    /* index, or -1 when full */

/* A rule's equality constraint on one slot, for indexing and analysis. */
struct constraint {
	uint32_t slot;
	bool negated;             /* the value is NOT in the set */
	uint32_t n;
	const int64_t *codes;     /* sorted codes (pol_val_code) */
	const struct node *origin;
};

struct tids_policy_set;
/* Warnings and the index, over the checked rules (set->n_rules of them). */
int pol_analyze(struct tids_policy_set *set, const struct rule *rules,
		struct tids_policy_diags *diags);

/* ------------------------------------------------------------------------
 * The compiled set's runtime form (lower.c), in the set's own arena: the
 * parse is freed once a set is compiled.
 */

/* An expression the bytecode leaves to the tree evaluator (arithmetic,
 * function calls, ...) and every expression of an obligation: the fields
 * of a checked node that evaluation reads, in 64 bytes. */
struct xnode {
	uint8_t op;               /* enum node_op */
	uint8_t type;             /* enum ptype */
	uint8_t fn;               /* N_CALL: enum fn_id */
	bool constant;            /* N_LIST: every item a literal */
	uint32_t slot;            /* N_ATTR */
	uint32_t n_items;
	uint32_t len;
	const struct xnode *a;
	const struct xnode *b;
	union {
		int64_t i;        /* N_INT, N_DUR, N_TIME, N_TIER, N_BOOL */
		const int64_t *codes;   /* constant N_LIST: sorted codes, items in the same order */
	};
	const char *s;            /* N_STR */
	const struct xnode *const *items;   /* N_LIST items; N_CALL arguments by parameter */
	union {
		uint64_t h;       /* N_STR: pol_str_hash of s */
		int64_t months;   /* N_DUR: calendar months */
	};
};

/*
 * A rule's condition as bytecode: each instruction tests one thing and
 * jumps to on_true or on_false, either another instruction of the rule or
 * PC_MATCH / PC_NO_MATCH. `&&`, `||` and `!` become jumps, so a condition
 * runs its tests in the order short-circuit evaluation would, except that
 * tests without side effects (everything but grant() and approval() and
 * what reads grant.*) are ordered cheapest first between those that have.
 */
enum insn_op {
	I_CONST,                  /* arg: the value */
	I_STR_EQ,                 /* string slot == the literal (s, arg = length, h) */
	I_STR_IN,                 /* string slot in the constant list (codes, items, arg = count) */
	I_MASK,                   /* tier or bool slot: bit (its code) set in arg */
	I_SLOT_EQ,                /* slot == slot arg */
	I_EXPR,                   /* node, by the tree evaluator */
};

#define PC_MATCH 0xffffu
#define PC_NO_MATCH 0xfffeu
#define POL_CODE_MAX 0xfff0u      /* instructions per rule */

struct insn {
	uint8_t op;               /* enum insn_op */
	uint16_t slot;
	uint16_t on_true;
	uint16_t on_false;
	uint32_t arg;
	union {
		uint64_t h;                       /* I_STR_EQ */
		const int64_t *codes;             /* I_STR_IN */
	};
	union {
		const char *s;                    /* I_STR_EQ */
		const struct xnode *node;         /* I_EXPR */
		const struct xnode *const *items; /* I_STR_IN */
	};
};

/* An obligation of a compiled rule (struct obligation, lowered). */
struct xob {
	uint8_t kind;             /* enum ob_kind */
	uint8_t which;            /* OB_FLAG, OB_LIST: the vocabulary's entry */
	uint32_t n_names;
	uint32_t n_labels;
	uint32_t n_exprs;
	uint32_t n_by;
	const char *const *names;
	const char *const *labels;
	const struct xnode *expr;
	const struct xnode *const *exprs;
	int64_t ms;
	int64_t months;
	const char *text;
	const char *field;
	const char *const *by;
};

/* A rule of a compiled set. */
struct crule {
	const struct insn *code;  /* NULL: always matches */
	const struct xob *obs;
	uint32_t n_obs;
	bool has_field_obligations;
	bool demote_only;         /* every obligation is `demote`: it matters only when applied */
	struct tids_policy_rule_info info;   /* kind, id, because, file, line, col */
};

struct val {
	uint8_t type;             /* enum ptype */
	bool b;
	uint32_t len;
	int64_t i;
	const char *p;
	union {
		uint64_t h;       /* strings: pol_str_hash, 0 until computed */
		int64_t months;   /* durations: calendar months besides the ms in i */
	};
};

/* A declared registry attribute, as a decision reads it. */
struct xdecl {
	const char *name;
	uint8_t type;             /* enum ptype */
	struct val deflt;         /* the value when absent or unreadable */
};

/* Lowers the checked rules into set->rules and the declarations of the
 * slots into xdecls (lower.c). 0 or TIDS_ENOMEM. */
int pol_lower(struct tids_policy_set *set, const struct rule *rules);
/* The set's copy of a string (interned). */
const char *pol_set_string(struct tids_policy_set *set, const char *s, size_t len);

/* ------------------------------------------------------------------------
 * The compiled set.
 */
/* Where the index files a rule: under the values it accepts for up to
 * POL_KEY_SLOTS attributes together (every combination of them), or for
 * every request (n_slots 0), or nowhere (it can never match). */
#define POL_KEY_SLOTS 3
#define POL_KEY_COMBINATIONS 64
struct rule_key {
	bool nowhere;
	uint32_t n_slots;
	uint32_t slots[POL_KEY_SLOTS];        /* ascending */
	const int64_t *codes[POL_KEY_SLOTS];
	uint32_t n_codes[POL_KEY_SLOTS];
};
int pol_build_index(struct tids_policy_set *set, const struct rule_key *keys, size_t n_rules);

struct sym_entry {
	const char *s;            /* NULL: empty slot */
	uint32_t len;
	uint64_t hash;            /* pol_str_hash */
};

/* 16 bytes, so a probe that misses touches one cache line; the codes it
 * stands for are compared (in a parallel array) only on a hash match. */
struct index_bucket {
	uint64_t hash;            /* 0: empty */
	uint32_t off;             /* into rule_lists */
	uint32_t n;
};

/* Rules filed under one combination of attributes ("signature"). */
struct index_key {
	uint32_t slots[POL_KEY_SLOTS];
	uint8_t pos[POL_KEY_SLOTS];           /* each slot's place in the set's key_slots */
	uint32_t n_slots;
	struct index_bucket *table;
	int64_t *codes;           /* [bucket * POL_KEY_SLOTS + slot] */
	uint32_t mask;
	uint32_t n_rules;
};

#define POL_INDEX_KEYS_MAX 32

/* A category's floor in the set: sorted by hash for a binary search. */
struct tier_floor {
	uint64_t hash;            /* pol_str_hash of the category */
	const char *category;
	uint32_t len;
	uint8_t tier;             /* enum tids_tier */
};

struct tids_policy_set {
	struct arena arena;
	struct crule *rules;      /* contiguous, in evaluation order */
	size_t n_rules;
	struct slot_def slots[POL_SLOTS_MAX];
	uint32_t n_slots;
	/* interned strings while compiling: every string of the policy once */
	struct sym_entry *syms;
	size_t sym_mask;
	uint32_t n_syms;
	/* rule id -> index */
	uint32_t *rule_ids;       /* open addressing, UINT32_MAX empty */
	size_t rule_id_mask;
	/* the index: rules keyed by the slot they test for equality */
	struct index_key keys[POL_INDEX_KEYS_MAX];
	uint32_t n_keys;
	uint32_t key_slots[POL_INDEX_KEYS_MAX * POL_KEY_SLOTS];  /* every slot a key uses, once */
	uint32_t n_key_slots;
	uint32_t *rule_lists;
	uint32_t *unindexed;      /* rules no key selects: always candidates */
	uint32_t n_unindexed;
	/* slots to forget when the view (the removed fields) changes */
	uint64_t view_slots[(POL_SLOTS_MAX + 63) / 64];
	/* tier floors per category, in category order for the API */
	struct tier_floor *floors;        /* by hash */
	const struct tier_floor **floors_by_name;
	uint32_t n_floors;
	/* the record schemas per category (schemas.c) */
	struct tids_policy_schemas *schemas;
	/* who may ask for which purpose, and which purposes need a case */
	struct name_pair *role_purposes;  /* (role, purpose) */
	uint32_t n_role_purposes;
	struct role_purpose_key *role_purpose_keys;   /* the same, by pol_pair_key */
	struct name_pair *case_roles;     /* (purpose, approving role) */
	uint32_t n_case_roles;
};

/* A (role, purpose) a `purposes` declaration allows, or a (purpose, role)
 * of a `purpose ... needs case by role` declaration: sorted by (a, b). */
struct name_pair {
	const char *a;
	const char *b;
};

/* Does the set pair a with b? (a binary search over a sorted pair list) */
bool pol_pair_find(const struct name_pair *pairs, uint32_t n, const char *a, size_t a_len,
		   const char *b, size_t b_len);

/* A (role, purpose) pair by the pol_str_hash of each, combined: what a
 * decision looks up (both hashes are usually computed already). */
struct role_purpose_key {
	uint64_t key;
	uint32_t i;               /* into role_purposes */
};

static inline uint64_t pol_pair_key(uint64_t ha, uint64_t hb)
{
	return ha * UINT64_C(0x9e3779b97f4a7c15) ^ hb;
}

/* Record schemas (schemas.c): built from the declarations once they are
 * checked; looked up by category. */
struct pol_schema_field {
	const char *name;
	uint8_t type;             /* enum tids_value_kind */
	bool optional;
	const char *unit;
	const char *const *labels;
	uint32_t n_labels;
};

struct pol_schema {
	const char *category;
	struct pol_schema_field *fields;   /* by name */
	uint32_t n_fields;
};

int pol_schemas_build(const struct schema_decl *const *decls, size_t n, struct tids_policy_schemas **out);
const struct pol_schema *pol_schema_of(const struct tids_policy_schemas *s, const char *category, size_t len);
const struct pol_schema_field *pol_schema_field(const struct pol_schema *s, const char *name);
const char *pol_value_type_name(uint8_t type);

/* The floor of a category given its text and pol_str_hash. */
enum tids_tier pol_floor_of(const struct tids_policy_set *set, const char *category, size_t len,
			    uint64_t h);

/* Strings compare by 64-bit hash, always confirmed against the text; the
 * compiler refuses literals whose hashes collide, so analysis is exact. */
static inline uint64_t pol_str_hash(const char *s, size_t len)
{
	return pol_hash(s, len) | 1u;     /* never 0: 0 means "not computed" */
}
/* Records s among the set's literals: 0, 1 when another literal has the
 * same hash, or TIDS_ENOMEM. */
int pol_sym_intern(struct tids_policy_set *set, const char *s, size_t len, uint64_t *h);
const char *pol_sym_text(const struct tids_policy_set *set, uint64_t h, uint32_t *len);

/* Candidate rules for the current view, in rule order: gathered and
 * sorted when few (the usual case), else the lists still to merge, each
 * as [next, end). */
#define POL_GATHER_MAX 256
struct candidates {
	uint32_t gathered[POL_GATHER_MAX];
	uint32_t n_gathered;
	uint32_t pos;
	bool merging;
	const uint32_t *next[POL_INDEX_KEYS_MAX + 1];
	const uint32_t *end[POL_INDEX_KEYS_MAX + 1];
	uint32_t n_lists;
};
struct eval_ctx;
void pol_candidates(struct eval_ctx *ctx, struct candidates *c);
uint32_t pol_candidates_merge_next(struct candidates *c);
/* Next candidate rule index, or UINT32_MAX when done. */
static inline uint32_t pol_candidates_next(struct candidates *c)
{
	if (__builtin_expect(!c->merging, 1))
		return c->pos < c->n_gathered ? c->gathered[c->pos++] : UINT32_MAX;
	return pol_candidates_merge_next(c);
}


/* ------------------------------------------------------------------------
 * The fact store's entries (facts.c); the evaluator walks them directly.
 */

/* A string the fact store holds once however many grants name it:
 * participants, assets, categories, purposes. */
struct fsym {
	uint64_t hash;            /* pol_str_hash */
	uint32_t refs;
	uint32_t len;
	char s[];
};

/* A grant, compact: its names interned, its duties (which few grants
 * carry) only when it has any, its id at the end of the block. */
struct fact_grant {
	uint64_t id_hash;
	const struct fsym *owner;
	const struct fsym *grantee;
	int64_t not_before_ms;
	int64_t not_after_ms;                 /* 0: open-ended */
	uint32_t max_uses;                    /* 0: unlimited */
	uint32_t uses;
	const struct tids_policy_grant_duties *duties;   /* NULL: none */
	/* Retired (revoked, or expired and destroyed): its links hold no
	 * bloom bits, so grant() never reads it; a near miss does. */
	int64_t retired_at_ms;
	struct fact_grant *retired_prev, *retired_next;   /* oldest first */
	uint8_t retired;                      /* enum pol_retired */
	uint16_t n_assets;                    /* 0: all of the owner's assets */
	uint16_t n_categories;
	uint16_t n_purposes;
	uint16_t id_len;
	const struct fsym *items[];           /* assets, categories, purposes; then the id */
};

#define POL_GRANT_LIST_MAX 0xffffu        /* assets, categories, purposes each */
enum pol_retired { POL_LIVE = 0, POL_REVOKED = 1, POL_EXPIRED = 2 };

static inline const struct fsym *const *pol_grant_assets(const struct fact_grant *g)
{
	return g->items;
}

static inline const struct fsym *const *pol_grant_categories(const struct fact_grant *g)
{
	return g->items + g->n_assets;
}

static inline const struct fsym *const *pol_grant_purposes(const struct fact_grant *g)
{
	return g->items + g->n_assets + g->n_categories;
}

static inline const char *pol_grant_id(const struct fact_grant *g)
{
	return (const char *)(g->items + g->n_assets + g->n_categories + g->n_purposes);
}

/* The grants between an owner and a grantee are one array of links,
 * sorted by category (in insertion order within one), each holding what
 * rejects most grants without reading them: a walk reads memory in
 * sequence and touches only the grants that may cover the request. */
struct grant_link {
	uint32_t category;                    /* pol_hash32 of the category */
	uint32_t bloom;                       /* POL_BLOOM_* of its purposes and assets */
	const struct fact_grant *grant;
};

static inline uint32_t pol_hash32(uint64_t str_hash)
{
	return (uint32_t)(str_hash >> 32);
}

/* Bits 0-15: one per purpose; 16-31: one per asset (all of them set for a
 * grant on every asset). From bits of the hash pol_hash32 does not use. */
#define POL_BLOOM_ALL_ASSETS 0xffff0000u
static inline uint32_t pol_bloom_purpose(uint64_t str_hash)
{
	return UINT32_C(1) << ((str_hash >> 4) & 15);
}

static inline uint32_t pol_bloom_asset(uint64_t str_hash)
{
	return UINT32_C(1) << (16 + ((str_hash >> 8) & 15));
}

struct fact_approval {
	struct tids_policy_approval a;
	int64_t revoked_at_ms;
	bool revoked;             /* kept for near misses; never counts */
	struct fact_approval *by_recipient_next;
	struct fact_approval *by_recipient_prev;
	struct fact_approval *by_exporter_next;
	struct fact_approval *by_exporter_prev;
	struct fact_approval *all_next;
	struct fact_approval *all_prev;
	struct approval_list *recipient_list;
	struct approval_list *exporter_list;
};

/* Lookups take the key's pol_str_hash when the caller has it (0: compute):
 * a decision hashes each string of the request once. */
const struct tids_policy_participant *pol_facts_participant(const struct tids_policy_facts *f,
							     const char *id, size_t len, uint64_t h);
const struct tids_policy_asset *pol_facts_asset(const struct tids_policy_facts *f,
						 const char *id, size_t len, uint64_t h);
/* The links of the grants between owner and grantee filed under the
 * category's pol_hash32, in insertion order (the caller confirms the
 * category on the grant); *n their number. */
struct pol_str {
	const char *p;
	size_t len;
	uint64_t h;               /* pol_str_hash, or 0 */
};
const struct grant_link *pol_facts_grants(const struct tids_policy_facts *f,
					  struct pol_str owner, struct pol_str grantee,
					  struct pol_str category, size_t *n);
/* All the links between owner and grantee (each grant once per category),
 * retired grants too; *n their number. */
const struct grant_link *pol_facts_pair_grants(const struct tids_policy_facts *f,
					       struct pol_str owner, struct pol_str grantee, size_t *n);
static inline bool pol_fsym_is(const struct fsym *y, const char *p, size_t len, uint64_t h)
{
	return y->hash == h && y->len == len && pol_mem_eq(y->s, p, len);
}
/* Starts loading what a decision about (recipient, owner, asset) reads
 * first (pol_str_hash of each; asset 0: none). Only a hint. */
void pol_facts_prefetch(const struct tids_policy_facts *f, uint64_t recipient, uint64_t owner,
			uint64_t asset);
/* ... and the asset's entry, once its slot is in. */
void pol_facts_prefetch_asset(const struct tids_policy_facts *f, uint64_t asset);
enum approval_by { BY_RECIPIENT, BY_EXPORTER, BY_NONE };
const struct fact_approval *pol_facts_approvals(const struct tids_policy_facts *f,
						enum approval_by by, const char *id, size_t len);
static inline const struct fact_approval *pol_approval_next(const struct fact_approval *a,
							    enum approval_by by)
{
	return by == BY_RECIPIENT ? a->by_recipient_next
	     : by == BY_EXPORTER ? a->by_exporter_next : a->all_next;
}
uint64_t pol_facts_counter(const struct tids_policy_facts *f, const char *name, size_t name_len,
			   const char *key, size_t key_len, int64_t period);

/* ------------------------------------------------------------------------
 * Evaluation.
 */
struct eval_ctx {
	const struct tids_policy_set *set;
	const struct tids_policy_facts *facts;
	const struct tids_policy_request *req;
	const struct tids_record *rec;
	const struct tids_policy_participant *recipient;
	/* looked up on first use: many decisions never read them */
	const struct tids_policy_participant *owner_entry;
	const struct tids_policy_asset *asset_entry;
	bool owner_looked_up;
	bool asset_looked_up;
	uint64_t removed[TIDS_POLICY_FIELD_WORDS];     /* the view being judged */
	enum tids_tier view_tier;
	enum tids_tier floor;     /* of the record's category: no view is judged below it */
	/* the grant and approval the current rule's calls matched */
	const struct fact_grant *rule_grant;
	const struct tids_policy_approval *rule_approval;
	/* the first grant() or approval() call of the current rule that
	 * found nothing: a denial explains itself from it */
	const struct xnode *rule_miss;
	uint64_t have[(POL_SLOTS_MAX + 63) / 64];
	struct val cache[POL_SLOTS_MAX];
};

/* One evaluation of the candidate rules of the current view. */
struct match {
	uint32_t rule;
	const struct fact_grant *grant;
};

struct pass {
	struct match m[POL_MATCHED_MAX];
	uint32_t n;
	bool overflow;
	bool any_permit;
	bool any_forbid;
	uint32_t first_permit;
	uint32_t first_forbid;
	uint64_t proposals[TIDS_POLICY_FIELD_WORDS];   /* removals the matching rules ask for */
	uint64_t demotions[TIDS_POLICY_FIELD_WORDS];   /* ... only to avoid a refusal */
	const struct tids_policy_approval *approval;
	const struct fact_grant *escape_grant;   /* a forbid did not fire because of it */
	/* the call that found nothing in the first matching forbid, and in
	 * the first permit that did not match because of one */
	const struct xnode *forbid_miss;
	const struct xnode *permit_miss;
	uint32_t permit_miss_rule;
};

/* Evaluates the candidate rules in policy order into p (eval.c). */
void pol_run_pass(struct eval_ctx *ctx, struct pass *p);

void pol_eval_begin(struct eval_ctx *ctx, const struct tids_policy_set *set,
		    const struct tids_policy_facts *facts, const struct tids_policy_request *req);
void pol_eval_set_view(struct eval_ctx *ctx, const uint64_t removed[TIDS_POLICY_FIELD_WORDS]);
/* Does the rule's condition hold? (Sets ctx->rule_grant and rule_approval
 * from the grant() and approval() calls it makes.) */
bool pol_rule_matches(struct eval_ctx *ctx, const struct crule *r);
bool pol_eval_bool(struct eval_ctx *ctx, const struct xnode *n);
void pol_eval(struct eval_ctx *ctx, const struct xnode *n, struct val *out);
void pol_eval_slot(struct eval_ctx *ctx, uint32_t slot, struct val *out);
int64_t pol_val_code(struct val *v);           /* index code of a value (hashes strings) */
int64_t pol_slot_code(struct eval_ctx *ctx, uint32_t slot);
void pol_slot_codes(struct eval_ctx *ctx, const uint32_t *slots, uint32_t n, int64_t *out);

/* A denial's near miss (d->near): what the call (grant() or approval(),
 * of rule) nearly found, or why no approval opens the purpose's case. */
void pol_near_miss(struct eval_ctx *ctx, const struct xnode *call, uint32_t rule,
		   struct tids_policy_decision *d);
void pol_near_case(struct eval_ctx *ctx, enum tids_tier tier, struct tids_policy_decision *d);

/* The case that serves this request's purpose at tier, or NULL (eval.c). */
const struct tids_policy_approval *pol_find_case(struct eval_ctx *ctx, enum tids_tier tier);

/* The vocabulary's flags and lists in a decision's obligations and in a
 * grant's duties, by index (vocabulary.c). */
bool *pol_ob_flag(struct tids_policy_obligations *o, unsigned flag);
const char **pol_ob_list(struct tids_policy_obligations *o, unsigned list, size_t **n);
bool pol_duty_flag(const struct tids_policy_grant_duties *du, unsigned flag);
const char *const *pol_duty_list(const struct tids_policy_grant_duties *du, unsigned list, size_t *n);
/* "notify, no_onward_transfer, ...": the vocabulary's keywords, for messages. */
const char *pol_ob_words(void);

/* Field selection for obligations (obligations.c). */
void pol_select_fields(const struct tids_record *rec, const struct xob *ob,
		       uint64_t out[TIDS_POLICY_FIELD_WORDS]);
void pol_rule_removals(const struct eval_ctx *ctx, const struct crule *r,
		       const struct fact_grant *grant,
		       uint64_t removals[TIDS_POLICY_FIELD_WORDS],
		       uint64_t demotions[TIDS_POLICY_FIELD_WORDS]);
/* Adds rule r's (and its grant's) non-removal obligations to d.
 * Returns 0 or TIDS_ETOOMANY. */
int pol_compose(struct eval_ctx *ctx, struct tids_policy_decision *d, const struct crule *r,
		const struct fact_grant *grant);
int pol_compose_grant(struct tids_policy_decision *d, const struct fact_grant *g,
		      const struct tids_record *rec);
const char *pol_decision_string(struct tids_policy_decision *d, const struct val *v);

static inline void pol_bit_set(uint64_t *words, size_t i)
{
	words[i / 64] |= UINT64_C(1) << (i % 64);
}

static inline bool pol_bit_get(const uint64_t *words, size_t i)
{
	return (words[i / 64] >> (i % 64)) & 1u;
}

#endif
