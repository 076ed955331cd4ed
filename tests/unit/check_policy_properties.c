/*
 * Properties of the engine over random rule sets, records, recipients and
 * purposes (a fixed seed; TIDS_PROPERTY_SEED=N tries another, and a
 * failure prints the seed, the rule set and the request):
 *
 *  1. Forbid wins, default deny: a request is delivered exactly when no
 *     forbid's condition holds and some permit's does. The conditions are
 *     evaluated here, by a separate interpreter of the generated syntax
 *     tree, not by the engine.
 *  2. Obligations never loosen when a rule is added: with one more rule
 *     (permit, forbid or oblige, anywhere in the set), a request delivered
 *     both times leaves with at least the fields removed, retention no
 *     longer, audit retention no shorter, every flag, list entry and count
 *     kept, purposes no wider, aggregation no finer; a forbid or an oblige
 *     never turns a deny into a delivery, and nothing turns a transform
 *     into a plain allow.
 */
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "tids/error.h"

#define T0 INT64_C(1780300800000)         /* 2026-06-01T08:00:00Z */
#define DAY INT64_C(86400000)
#define ROUNDS 300
#define MAX_RULES 9
#define MAX_NODES 16

/* ---- the world ---- */

struct rcpt {
	const char *id, *role, *country;
	bool registered, suspended;
};

static const struct rcpt rcpts[] = {
	{ "owner.a", "factory", "CN", true, false },
	{ "lessor.b", "lessor", "CN", true, false },
	{ "lessor.x", "lessor", "DE", true, false },
	{ "reg.c", "regulator", "CN", true, false },
	{ "gone.d", "lessor", "CN", true, true },
	{ "stranger.e", "", "", false, false },
};
#define N_RCPTS (sizeof(rcpts) / sizeof(rcpts[0]))

static const char *const categories[] = { "telemetry", "energy", "recipe", "quality" };
static const char *const purposes[] = { "billing", "maintenance", "statistics", "safety" };
static const char *const origins[] = { "CN-SH", "DE" };
static const enum tids_tier tiers[] = { TIDS_TIER_GENERAL, TIDS_TIER_IMPORTANT, TIDS_TIER_CORE };
static const char *const tier_names[] = { "general", "important", "core" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The one grant: owner.a lets lessor.x use telemetry for maintenance. */
static const char *const grant_categories[] = { "telemetry" };
static const char *const grant_purposes[] = { "maintenance" };

static struct tids_policy_facts *world(void)
{
	struct tids_policy_facts *f = tids_policy_facts_new();
	char err[256];
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < N_RCPTS; i++) {
		if (!rcpts[i].registered)
			continue;
		struct tids_policy_participant p = {
			.id = rcpts[i].id, .role = rcpts[i].role, .suspended = rcpts[i].suspended,
			.jurisdiction = strcmp(rcpts[i].country, "CN") == 0 ? "CN-SH" : rcpts[i].country,
		};
		ck_assert_int_eq(tids_policy_facts_put_participant(f, &p, err, sizeof(err)), 0);
	}
	struct tids_policy_asset a = { .id = "m1", .lessee = "owner.a", .lessor = "lessor.b", .site = "site-1" };
	ck_assert_int_eq(tids_policy_facts_put_asset(f, &a, err, sizeof(err)), 0);
	struct tids_policy_grant g = {
		.id = "g1", .owner = "owner.a", .grantee = "lessor.x",
		.categories = grant_categories, .n_categories = 1,
		.purposes = grant_purposes, .n_purposes = 1,
		.not_before_ms = T0 - DAY, .not_after_ms = T0 + 30 * DAY,
	};
	ck_assert_int_eq(tids_policy_facts_put_grant(f, &g, err, sizeof(err)), 0);
	return f;
}

static const char *const personal[] = { "personal" };
static const char *const keepme[] = { "keepme" };

/* Fields carry no tier of their own: removing one never changes the tier
 * a record is judged at, so the conditions below see the same request. */
static struct tids_field fields[] = {
	{ .name = "v", .value = { .kind = TIDS_VALUE_INT, .as.i = 5 } },
	{ .name = "f1", .value = { .kind = TIDS_VALUE_INT }, .labels = personal, .n_labels = 1 },
	{ .name = "f2", .value = { .kind = TIDS_VALUE_INT }, .labels = keepme, .n_labels = 1 },
	{ .name = "f3", .value = { .kind = TIDS_VALUE_INT } },
};

struct req {
	const char *category, *origin, *purpose;
	size_t tier, rcpt, n_fields;
};

/* ---- random numbers (xorshift64*) ---- */

static uint64_t rng;
static unsigned current_round;   /* for messages */

static uint64_t splitmix(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

static uint32_t rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * UINT64_C(2685821657736338717)) >> 33) % n;
}

/* ---- conditions: generated as a tree, printed as policy text ---- */

enum atom {
	A_CATEGORY_EQ, A_CATEGORY_IN, A_TIER_EQ, A_TIER_GE, A_ROLE_EQ, A_ID_EQ, A_PURPOSE_EQ, A_PURPOSE_IN,
	A_ORIGIN_EQ, A_SUSPENDED, A_REGISTERED, A_GRANT, A_COUNTRY_EQ, A_TRUE, N_ATOMS,
	C_NOT, C_AND, C_OR,
};

struct cnode {
	enum atom op;
	uint32_t a, b;             /* values (indexes), or children */
};

struct cond {
	struct cnode n[MAX_NODES];
	size_t count;
};

static const char *const roles[] = { "factory", "lessor", "regulator" };
static const char *const countries[] = { "CN", "DE" };

static uint32_t gen(struct cond *c, int depth)
{
	uint32_t at = (uint32_t)c->count++;
	struct cnode *n = &c->n[at];
	if (depth > 0 && c->count + 2 < MAX_NODES && rnd(3) == 0) {
		n->op = (enum atom)(C_NOT + rnd(3));
		uint32_t a = gen(c, depth - 1);
		uint32_t b = n->op == C_NOT ? 0 : gen(c, depth - 1);
		c->n[at].a = a;
		c->n[at].b = b;
		return at;
	}
	n->op = (enum atom)rnd(N_ATOMS);
	switch (n->op) {
	case A_CATEGORY_EQ: n->a = rnd(N(categories)); break;
	case A_CATEGORY_IN: n->a = rnd(N(categories)); n->b = rnd(N(categories)); break;
	case A_TIER_EQ: case A_TIER_GE: n->a = rnd(N(tiers)); break;
	case A_ROLE_EQ: n->a = rnd(N(roles)); break;
	case A_ID_EQ: n->a = rnd(N_RCPTS); break;
	case A_PURPOSE_EQ: n->a = rnd(N(purposes)); break;
	case A_PURPOSE_IN: n->a = rnd(N(purposes)); n->b = rnd(N(purposes)); break;
	case A_ORIGIN_EQ: n->a = rnd(N(origins)); break;
	case A_COUNTRY_EQ: n->a = rnd(N(countries)); break;
	default: break;
	}
	return at;
}

struct text {
	char buf[16384];
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(t->buf) - t->len);
	t->len += (size_t)n;
}

static void print_cond(struct text *t, const struct cond *c, uint32_t i)
{
	const struct cnode *n = &c->n[i];
	switch (n->op) {
	case A_CATEGORY_EQ: put(t, "record.category == \"%s\"", categories[n->a]); break;
	case A_CATEGORY_IN: put(t, "record.category in [\"%s\", \"%s\"]", categories[n->a], categories[n->b]); break;
	case A_TIER_EQ: put(t, "record.tier == %s", tier_names[n->a]); break;
	case A_TIER_GE: put(t, "record.tier >= %s", tier_names[n->a]); break;
	case A_ROLE_EQ: put(t, "recipient.role == \"%s\"", roles[n->a]); break;
	case A_ID_EQ: put(t, "recipient.id == \"%s\"", rcpts[n->a].id); break;
	case A_PURPOSE_EQ: put(t, "purpose == \"%s\"", purposes[n->a]); break;
	case A_PURPOSE_IN: put(t, "purpose in [\"%s\", \"%s\"]", purposes[n->a], purposes[n->b]); break;
	case A_ORIGIN_EQ: put(t, "record.origin == \"%s\"", origins[n->a]); break;
	case A_SUSPENDED: put(t, "recipient.suspended"); break;
	case A_REGISTERED: put(t, "recipient.registered"); break;
	case A_GRANT: put(t, "grant()"); break;
	case A_COUNTRY_EQ: put(t, "recipient.country == \"%s\"", countries[n->a]); break;
	case A_TRUE: put(t, "true"); break;
	case C_NOT: put(t, "!("); print_cond(t, c, n->a); put(t, ")"); break;
	case C_AND: case C_OR:
		put(t, "(");
		print_cond(t, c, n->a);
		put(t, n->op == C_AND ? " && " : " || ");
		print_cond(t, c, n->b);
		put(t, ")");
		break;
	default: ck_abort();
	}
}

/* The oracle: the condition's value for a request, without the engine. */
static bool holds(const struct cond *c, uint32_t i, const struct req *r)
{
	const struct cnode *n = &c->n[i];
	const struct rcpt *to = &rcpts[r->rcpt];
	switch (n->op) {
	case A_CATEGORY_EQ: return strcmp(r->category, categories[n->a]) == 0;
	case A_CATEGORY_IN:
		return strcmp(r->category, categories[n->a]) == 0 || strcmp(r->category, categories[n->b]) == 0;
	case A_TIER_EQ: return r->tier == n->a;
	case A_TIER_GE: return r->tier >= n->a;
	case A_ROLE_EQ: return strcmp(to->role, roles[n->a]) == 0;
	case A_ID_EQ: return r->rcpt == n->a;
	case A_PURPOSE_EQ: return strcmp(r->purpose, purposes[n->a]) == 0;
	case A_PURPOSE_IN:
		return strcmp(r->purpose, purposes[n->a]) == 0 || strcmp(r->purpose, purposes[n->b]) == 0;
	case A_ORIGIN_EQ: return strcmp(r->origin, origins[n->a]) == 0;
	case A_SUSPENDED: return to->suspended;
	case A_REGISTERED: return to->registered;
	case A_GRANT:
		return strcmp(to->id, "lessor.x") == 0 && strcmp(r->category, "telemetry") == 0 &&
		       strcmp(r->purpose, "maintenance") == 0;
	case A_COUNTRY_EQ: return strcmp(to->country, countries[n->a]) == 0;
	case A_TRUE: return true;
	case C_NOT: return !holds(c, n->a, r);
	case C_AND: return holds(c, n->a, r) && holds(c, n->b, r);
	case C_OR: return holds(c, n->a, r) || holds(c, n->b, r);
	default: ck_abort();
	}
	return false;
}

/* ---- rules ---- */

enum kind { PERMIT, FORBID, OBLIGE };

static const char *const obligation_menu[] = {
	"redact field \"f1\"", "redact label \"personal\"", "drop field \"f3\"", "keep label \"keepme\"",
	"retain 30d", "retain 7d", "log 30d", "log 1y", "log 6mo", "encrypt", "no_onward_transfer",
	"notify \"n1\"", "notify \"n2\"", "duty \"d1\"", "duty \"d2\"", "only_for \"billing\"",
	"only_for [\"billing\", \"maintenance\"]", "aggregate(sum, field \"v\", every 1h)",
	"aggregate(sum, field \"v\", every 1d)", "count(\"c1\", record.owner, year(now), 1)",
	"count(\"c1\", record.owner, year(now), 3)", "count(\"c2\", recipient.id, year(now), 1)",
};

struct rule {
	enum kind kind;
	char id[16];
	struct cond cond;
	uint32_t root;
	uint32_t obligations;      /* bits of obligation_menu */
};

static void gen_rule(struct rule *r, unsigned n)
{
	memset(r, 0, sizeof(*r));
	r->kind = (enum kind)rnd(3);
	snprintf(r->id, sizeof(r->id), "r%u", n);
	r->root = gen(&r->cond, 2);
	if (r->kind != FORBID) {
		unsigned k = r->kind == OBLIGE ? 1 + rnd(3) : rnd(3);
		for (unsigned i = 0; i < k; i++)
			r->obligations |= UINT32_C(1) << rnd(N(obligation_menu));
	}
}

static void print_rule(struct text *t, const struct rule *r)
{
	static const char *const kw[] = { "permit", "forbid", "oblige" };
	put(t, "%s %s when ", kw[r->kind], r->id);
	print_cond(t, &r->cond, r->root);
	const char *sep = "\n\twith ";
	for (size_t i = 0; i < N(obligation_menu); i++)
		if (r->obligations & (UINT32_C(1) << i)) {
			put(t, "%s%s", sep, obligation_menu[i]);
			sep = ", ";
		}
	put(t, "\n\tbecause \"%s\";\n", r->id);
}

struct set {
	struct rule rules[MAX_RULES];
	size_t n;
	struct text text;
	struct tids_policy_set *compiled;
};

static void compile(struct set *s)
{
	s->text.len = 0;
	s->text.buf[0] = '\0';
	for (size_t i = 0; i < s->n; i++)
		print_rule(&s->text, &s->rules[i]);
	struct tids_policy_diags *d = tids_policy_diags_new();
	struct tids_policy_source src = { "random.tidspol", s->text.buf, s->text.len };
	int rc = tids_policy_compile(&src, 1, &s->compiled, d);
	if (rc != 0) {
		char line[512] = "";
		if (tids_policy_diags_count(d) > 0)
			tids_policy_diag_format(tids_policy_diags_at(d, 0), line, sizeof(line));
		ck_abort_msg("round %u: does not compile (%s):\n%s", current_round, line, s->text.buf);
	}
	tids_policy_diags_free(d);
}

/* ---- requests ---- */

static struct tids_record record_of(const struct req *r)
{
	return (struct tids_record){
		.owner = "owner.a", .asset_id = "m1", .category = r->category, .tier = tiers[r->tier],
		.origin = r->origin, .schema = "", .fields = fields, .n_fields = r->n_fields,
		.produced_at_ms = T0,
	};
}

static int decide(const struct set *s, const struct tids_policy_facts *f, const struct req *r,
		  struct tids_policy_decision *out)
{
	struct tids_record rec = record_of(r);
	struct tids_policy_request q = { .record = &rec, .recipient = rcpts[r->rcpt].id, .purpose = r->purpose, .now_ms = T0 };
	return tids_policy_decide(s->compiled, f, &q, out);
}

static bool delivered(const struct tids_policy_decision *d)
{
	return d->verdict == TIDS_POLICY_ALLOW || d->verdict == TIDS_POLICY_TRANSFORM;
}

static char where[20000];

static const char *describe(const struct set *s, const struct req *r, uint64_t seed)
{
	snprintf(where, sizeof(where),
		 "TIDS_PROPERTY_SEED=%" PRIu64 " round %u, record %s tier %s origin %s (%zu fields), recipient %s, purpose %s, rules:\n%s",
		 seed, current_round, r->category, tier_names[r->tier], r->origin, r->n_fields, rcpts[r->rcpt].id, r->purpose,
		 s->text.buf);
	return where;
}

/* Property 1, against the oracle. */
static void check_verdict(const struct set *s, const struct req *r, const struct tids_policy_decision *d,
			  uint64_t seed)
{
	bool forbidden = false, permitted = false;
	for (size_t i = 0; i < s->n; i++) {
		const struct rule *u = &s->rules[i];
		if (u->kind == OBLIGE || !holds(&u->cond, u->root, r))
			continue;
		if (u->kind == FORBID)
			forbidden = true;
		else
			permitted = true;
	}
	if (forbidden)
		ck_assert_msg(d->verdict == TIDS_POLICY_DENY, "a forbid matches, yet %s (rule %s): %s",
			      d->verdict == TIDS_POLICY_ALLOW ? "allow" : "transform",
			      d->deciding_rule ? d->deciding_rule : "-", describe(s, r, seed));
	else if (permitted)
		ck_assert_msg(delivered(d), "a permit matches and no forbid, yet deny (%s): %s", d->because,
			      describe(s, r, seed));
	else
		ck_assert_msg(d->verdict == TIDS_POLICY_DENY && d->deciding_rule == NULL,
			      "no permit matches, yet not the default deny: %s", describe(s, r, seed));
}

static bool list_has(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* Property 2: b (one rule more) is at least as strict as a. */
static void check_stricter(const struct tids_policy_decision *a, const struct tids_policy_decision *b,
			   const char *what)
{
	const struct tids_policy_obligations *x = &a->obligations, *y = &b->obligations;
	ck_assert_msg(!(a->verdict == TIDS_POLICY_TRANSFORM && b->verdict == TIDS_POLICY_ALLOW),
		      "a transform became an allow: %s", what);
	for (size_t w = 0; w < TIDS_POLICY_FIELD_WORDS; w++) {
		ck_assert_msg((x->removed[w] & ~y->removed[w]) == 0, "a removed field is delivered: %s", what);
		ck_assert_msg((x->coarsened[w] & ~y->coarsened[w]) == 0, "a coarsened field is not: %s", what);
	}
	if (x->aggregate) {
		ck_assert_msg(y->aggregate, "aggregation dropped: %s", what);
		ck_assert_msg(y->aggregation.window_ms >= x->aggregation.window_ms, "aggregation finer: %s", what);
	}
	if (x->retain_until_ms != 0)
		ck_assert_msg(y->retain_until_ms != 0 && y->retain_until_ms <= x->retain_until_ms,
			      "retention longer: %s", what);
	ck_assert_msg(y->log_retain_ms >= x->log_retain_ms, "audit retention shorter: %s", what);
#define TIDS_OB_FLAG(name, summary) ck_assert_msg(!x->name || y->name, #name " dropped: %s", what);
#define TIDS_OB_LIST(name, word, check, summary)                                                              \
	for (size_t i = 0; i < x->n_##name; i++)                                                               \
		ck_assert_msg(list_has(y->name, y->n_##name, x->name[i]), #name " %s dropped: %s", x->name[i], what);
#include "obligations.def"
	if (x->purposes_restricted) {
		ck_assert_msg(y->purposes_restricted, "use no longer restricted to purposes: %s", what);
		for (size_t i = 0; i < y->n_purposes; i++)
			ck_assert_msg(list_has(x->purposes, x->n_purposes, y->purposes[i]),
				      "purpose %s allowed again: %s", y->purposes[i], what);
	}
	for (size_t i = 0; i < x->n_counts; i++) {
		bool found = false;
		for (size_t j = 0; j < y->n_counts; j++)
			if (strcmp(x->counts[i].counter, y->counts[j].counter) == 0 &&
			    strcmp(x->counts[i].key, y->counts[j].key) == 0 && x->counts[i].period == y->counts[j].period)
				found = y->counts[j].amount >= x->counts[i].amount;
		ck_assert_msg(found, "count %s less: %s", x->counts[i].counter, what);
	}
}

static void random_set(struct set *s)
{
	s->n = 1 + rnd(MAX_RULES - 1);
	for (size_t i = 0; i < s->n; i++)
		gen_rule(&s->rules[i], (unsigned)i);
}

/* s plus one rule, at a random place. */
static void plus_one(const struct set *s, struct set *t)
{
	size_t at = rnd((uint32_t)s->n + 1), k = 0;
	t->n = s->n + 1;
	for (size_t i = 0; i < t->n; i++) {
		if (i == at)
			gen_rule(&t->rules[i], (unsigned)MAX_RULES);
		else
			t->rules[i] = s->rules[k++];
	}
}

static void each_request(void (*fn)(void *, const struct req *), void *ctx)
{
	static const size_t field_counts[] = { 1, N(fields) };
	for (size_t c = 0; c < N(categories); c++)
		for (size_t t = 0; t < N(tiers); t++)
			for (size_t o = 0; o < N(origins); o++)
				for (size_t fc = 0; fc < N(field_counts); fc++)
					for (size_t to = 0; to < N_RCPTS; to++)
						for (size_t p = 0; p < N(purposes); p++) {
							struct req r = { categories[c], origins[o], purposes[p], t,
									 to, field_counts[fc] };
							fn(ctx, &r);
						}
}

struct round {
	struct set *a, *b;
	const struct rule *added;
	struct tids_policy_facts *facts;
	uint64_t seed;
	size_t decisions, delivered_both;
};

static struct tids_policy_decision da, db;

static void one_request(void *ctx, const struct req *r)
{
	struct round *k = ctx;
	int ra = decide(k->a, k->facts, r, &da);
	int rb = decide(k->b, k->facts, r, &db);
	ck_assert_msg(ra == 0, "decide: %s: %s", tids_strerror(ra), describe(k->a, r, k->seed));
	ck_assert_msg(rb == 0, "decide: %s: %s", tids_strerror(rb), describe(k->b, r, k->seed));
	k->decisions += 2;
	check_verdict(k->a, r, &da, k->seed);
	check_verdict(k->b, r, &db, k->seed);
	if (k->added->kind != PERMIT && !delivered(&da))
		ck_assert_msg(!delivered(&db), "a forbid or oblige added turned a deny into a delivery: %s",
			      describe(k->b, r, k->seed));
	if (delivered(&da) && delivered(&db)) {
		k->delivered_both++;
		check_stricter(&da, &db, describe(k->b, r, k->seed));
	}
}

static uint64_t first_seed(void)
{
	const char *e = getenv("TIDS_PROPERTY_SEED");
	return e != NULL && *e != '\0' ? strtoull(e, NULL, 10) : UINT64_C(0x7469647331350a);
}

START_TEST(random_rule_sets)
{
	struct tids_policy_facts *facts = world();
	static struct set a, b;
	size_t decisions = 0, both = 0, forbids_matched = 0;
	uint64_t seed0 = first_seed();
	for (unsigned round = 0; round < ROUNDS; round++) {
		rng = splitmix(seed0 * UINT64_C(1000003) + round) | 1;
		random_set(&a);
		plus_one(&a, &b);
		compile(&a);
		compile(&b);
		const struct rule *added = NULL;
		for (size_t i = 0; i < b.n; i++)
			if (strcmp(b.rules[i].id, "r9") == 0)
				added = &b.rules[i];
		ck_assert_ptr_nonnull(added);
		for (size_t i = 0; i < a.n; i++)
			forbids_matched += a.rules[i].kind == FORBID;
		current_round = round;
		struct round k = { &a, &b, added, facts, seed0, 0, 0 };
		each_request(one_request, &k);
		decisions += k.decisions;
		both += k.delivered_both;
		tids_policy_set_free(a.compiled);
		tids_policy_set_free(b.compiled);
	}
	/* the generator reaches what the properties are about */
	ck_assert_uint_gt(both, 10000);
	ck_assert_uint_gt(forbids_matched, ROUNDS / 2);
	printf("%zu decisions over %u pairs of rule sets (seed %" PRIu64 "), %zu delivered under both\n",
	       decisions, ROUNDS, seed0, both);
	tids_policy_facts_free(facts);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy properties");
	TCase *tc = tcase_create("properties");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, random_rule_sets);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
