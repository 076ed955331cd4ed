/*
 * The audit ledger's figures (DESIGN §6): `audit verify` entries/s over a
 * synthetic ledger of 1M entries (target >= 1M/s), and query latency for
 * the indexed filters on a large ledger (10M entries unless
 * BENCH_AUDIT_QUERY_ENTRIES says fewer; the size used is printed). The
 * ledgers are built in a temporary directory through the same API the
 * indexer uses, with real chains and signed checkpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/ledger.h"
#include "tids/wire.h"

#define PARTITIONS 4
#define CP_EVERY 1000
#define VERIFY_ENTRIES 1000000
#define QUERY_ENTRIES 10000000
#define VERIFY_TARGET 1e6

static char err[512];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the writer's cost apart from the synthetic
 * hub's (encoding, hashing, signing), whatever else the machine runs. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds of writer CPU so far, and what one cpu_s() pair costs. */
static double write_cpu, clock_pair;

static void die(const char *what)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, err);
	exit(1);
}

/* --- a synthetic hub's decisions ------------------------------------------------ */

struct gen {
	struct tids_identity hub;
	uint8_t head[PARTITIONS][TIDS_HASH_BYTES];
	uint64_t seq[PARTITIONS];
	uint64_t rng;
	int64_t t0, span_ms;
};

static uint32_t next_rand(struct gen *g)
{
	/* xorshift64*: reproducible and fast. */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return (uint32_t)((g->rng * 2685821657736338717ULL) >> 32);
}

static const char *const categories[] = { "run_hours", "cycles", "telemetry", "output_count", "energy", "quality",
					  "recipe", "location" };
static const char *const purposes[] = { "billing", "maintenance", "warranty", "safety", "statistics" };
static const char *const destinations[] = { "CN-SH", "CN-SH", "CN-SH", "CN-SH", "CN-HB", "CN-CQ", "SG", "DE" };

/*
 * A hub as it is: decisions are not independent draws. 200 owners each
 * deal with 8 of 1000 other participants, whose jurisdiction is theirs
 * for good; each such relation carries 3 kinds of decision out of 60
 * (what category, for what purpose, decided how, at which tier, by which
 * of 50 rules); one relation in 20 rests on a grant. That gives thousands
 * of distinct (who, what) combinations over millions of entries, as a
 * regional hub would see them.
 */
#define OWNERS 200
#define PARTICIPANTS 1000
#define RELATIONS 8
#define KINDS_PER_RELATION 3
#define KINDS 60

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

struct kind {
	const char *category, *purpose;
	unsigned rule;
	enum tids_decision decision;
	enum tids_tier tier;
};

static struct kind kind_of(unsigned k)
{
	uint32_t h = mix(k * 2654435761u + 1);
	unsigned d = h % 100;

	return (struct kind){
		categories[k % 8], purposes[(k / 8) % 5], k % 50,
		d < 80 ? TIDS_DECISION_ALLOW : d < 95 ? TIDS_DECISION_DENY : TIDS_DECISION_TRANSFORM,
		(h >> 8) % 100 < 80 ? TIDS_TIER_GENERAL : (h >> 8) % 100 < 95 ? TIDS_TIER_IMPORTANT : TIDS_TIER_CORE,
	};
}

static void add_one(struct tids_ledger *l, struct gen *g, uint64_t i, uint64_t n)
{
	char owner[32], recipient[32], rule[2][32], grant[48];
	const char *rules[2] = { rule[0], rule[1] };
	unsigned o = next_rand(g) % OWNERS, rel = next_rand(g) % RELATIONS;
	unsigned who = mix(o * RELATIONS + rel) % PARTICIPANTS;
	struct kind k = kind_of(mix((o * RELATIONS + rel) * KINDS_PER_RELATION + next_rand(g) % KINDS_PER_RELATION) %
				KINDS);
	uint8_t delivered[TIDS_HASH_BYTES];
	struct tids_audit_entry e = { 0 };
	int32_t p = (int32_t)(i % PARTITIONS);
	uint32_t r = next_rand(g);
	crypto_generichash_state st;
	uint8_t *bytes;
	size_t len;
	double t;

	snprintf(owner, sizeof(owner), "factory-%u", o);
	snprintf(recipient, sizeof(recipient), "participant-%u", who);
	snprintf(rule[0], sizeof(rule[0]), "rule_%u", k.rule);
	snprintf(rule[1], sizeof(rule[1]), "audit_six_months");
	snprintf(grant, sizeof(grant), "grant-%u-%u", o, rel);
	memset(delivered, (int)(r & 0xff), sizeof(delivered));
	e.hub_id = "hub-sh1";
	e.partition = p;
	e.seq = ++g->seq[p];
	memcpy(e.prev_hash, g->head[p], TIDS_HASH_BYTES);
	/* Two decisions per record, as for a subscriber with two purposes. */
	memcpy(e.record_id, &i, sizeof(i) < TIDS_RECORD_ID_BYTES ? sizeof(i) : TIDS_RECORD_ID_BYTES);
	e.record_id[0] ^= (uint8_t)(i & 1);
	e.record_id[15] = 0xa5;
	e.owner = owner;
	e.recipient = recipient;
	e.purpose = k.purpose;
	e.decision = k.decision;
	e.rule_ids = (struct tids_strlist){ rules, 2 };
	e.tier = k.tier;
	e.category = k.category;
	e.origin = "CN-SH";
	e.destination = destinations[mix(who) % 8];
	e.grant_id = mix(o * RELATIONS + rel + 7) % 20 == 0 ? grant : "";
	e.decided_at_ms = g->t0 + (int64_t)((double)i / (double)n * (double)g->span_ms);
	e.ingress_offset = (int64_t)(i / 2);
	e.reason = "the lessor may use run hours and cycles for pay-per-use billing and maintenance";
	if (e.decision != TIDS_DECISION_DENY)
		e.delivered_hash = (struct tids_bytes){ delivered, sizeof(delivered) };
	e.asset_id = "press-7";
	if (tids_wire_encode_audit_entry(&e, &bytes, &len) != 0)
		die("encode");
	crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
	crypto_generichash_update(&st, g->head[p], TIDS_HASH_BYTES);
	crypto_generichash_update(&st, bytes, len);
	crypto_generichash_final(&st, g->head[p], TIDS_HASH_BYTES);
	t = cpu_s();
	if (tids_ledger_add_entry(l, bytes, len, err, sizeof(err)) != 0)
		die("add entry");
	write_cpu += cpu_s() - t - clock_pair;
	free(bytes);
	if (g->seq[p] % CP_EVERY == 0 || i + PARTITIONS >= n) {
		struct tids_audit_checkpoint cp = { .hub_id = "hub-sh1", .partition = p, .seq = g->seq[p],
						    .signed_at_ms = e.decided_at_ms + 1 };

		memcpy(cp.head_hash, g->head[p], TIDS_HASH_BYTES);
		if (tids_wire_encode_audit_checkpoint_unsigned(&cp, &bytes, &len) != 0 ||
		    tids_sign_detached(g->hub.sign_sk, TIDS_DOMAIN_CHECKPOINT, bytes, len, cp.signature) != 0)
			die("sign");
		free(bytes);
		t = cpu_s();
		if (tids_ledger_add_checkpoint(l, &cp, err, sizeof(err)) != 0)
			die("add checkpoint");
		write_cpu += cpu_s() - t - clock_pair;
	}
}

/* Commits the batch, its CPU counted as the writer's. */
static void commit_timed(struct tids_ledger *l)
{
	double t = cpu_s();

	if (tids_ledger_commit(l) != 0)
		die("commit");
	write_cpu += cpu_s() - t - clock_pair;
}

static void build(const char *path, struct gen *g, uint64_t n)
{
	struct tids_ledger *l;
	double t = now_s(), c = cpu_s();

	for (int i = 0; i < 1000; i++)
		(void)cpu_s();
	clock_pair = 2 * (cpu_s() - c) / 1000;
	write_cpu = 0;

	if (tids_ledger_open(path, TIDS_LEDGER_WRITE | TIDS_LEDGER_BULK, &l, err, sizeof(err)) != 0)
		die("open");
	if (tids_ledger_set_hub(l, "hub-sh1", g->hub.sign_pk) != 0)
		die("set hub");
	for (uint64_t i = 0; i < n; i++) {
		add_one(l, g, i, n);
		if (tids_ledger_pending(l) >= 50000)
			commit_timed(l);
	}
	commit_timed(l);
	tids_ledger_close(l);
	t = now_s() - t;
	printf("  built %llu entries in %.1f s (%.0f entries/s through tids_ledger_add_entry)\n", (unsigned long long)n, t,
	       (double)n / t);
	printf("  writer CPU: %.2f us per entry (add_entry, checkpoints, commits; batches of 50000)\n",
	       write_cpu * 1e6 / (double)n);
}

static void gen_init(struct gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	if (tids_identity_generate(&g->hub) != 0)
		die("identity");
	g->rng = seed;
	g->t0 = INT64_C(1764400000000);
	g->span_ms = INT64_C(30) * 86400000;
}

/* --- verify ------------------------------------------------------------------------- */

static void bench_verify(const char *dir)
{
	char path[600];
	struct gen g;
	struct tids_ledger_verify_report rep;
	double best = 0, best1 = 0;

	snprintf(path, sizeof(path), "%s/verify.db", dir);
	gen_init(&g, 0x9e3779b97f4a7c15ULL);
	printf("audit verify over %d synthetic entries (%d chains, a checkpoint every %d)\n", VERIFY_ENTRIES, PARTITIONS,
	       CP_EVERY);
	build(path, &g, VERIFY_ENTRIES);
	for (int run = 0; run < 3; run++) {
		struct tids_ledger_verify_opts one = { .threads = 1 };

		if (tids_ledger_verify(path, g.hub.sign_pk, NULL, &rep, err, sizeof(err)) != 0 || rep.entries != VERIFY_ENTRIES)
			die("verify");
		if ((double)rep.entries / rep.seconds > best)
			best = (double)rep.entries / rep.seconds;
		tids_ledger_verify_report_free(&rep);
		if (tids_ledger_verify(path, g.hub.sign_pk, &one, &rep, err, sizeof(err)) != 0)
			die("verify");
		if ((double)rep.entries / rep.seconds > best1)
			best1 = (double)rep.entries / rep.seconds;
		tids_ledger_verify_report_free(&rep);
	}
	printf("  verify, one thread per CPU (%ld): %.0f entries/s (target >= %.0f): %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	       best, VERIFY_TARGET, best >= VERIFY_TARGET ? "met" : "NOT MET");
	printf("  verify, one thread: %.0f entries/s\n", best1);
	if (getenv("BENCH_AUDIT_KEEP") == NULL)
		unlink(path);
	tids_identity_wipe(&g.hub);
}

/* --- queries -------------------------------------------------------------------------- */

struct counter {
	uint64_t n;
};

static int count_row(void *ctx, const struct tids_audit_entry *e)
{
	(void)e;
	((struct counter *)ctx)->n++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Runs the filter `runs` times (varied by fill), prints p50/p95 and rows. */
static void time_query(struct tids_ledger *l, const char *name, int runs,
		       void (*fill)(struct tids_ledger_filter *f, int run, char *buf))
{
	double t[64];
	uint64_t rows = 0;
	char buf[64];

	for (int i = 0; i < runs; i++) {
		struct tids_ledger_filter f = { .limit = 100 };
		struct counter c = { 0 };
		double t0;

		fill(&f, i, buf);
		t0 = now_s();
		if (tids_ledger_query(l, &f, count_row, &c, err, sizeof(err)) != 0)
			die(name);
		t[i] = now_s() - t0;
		rows += c.n;
	}
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
	printf("  %-34s p50 %8.3f ms  p95 %8.3f ms  (%llu rows/query, first 100)\n", name, t[runs / 2] * 1e3,
	       t[(runs * 95) / 100] * 1e3, (unsigned long long)(rows / (uint64_t)runs));
}

static int64_t q_t0 = INT64_C(1764400000000);
static uint64_t q_n;

static void f_recipient(struct tids_ledger_filter *f, int i, char *b)
{
	/* Someone an owner deals with. */
	snprintf(b, 64, "participant-%u", mix((unsigned)(i * 13 % OWNERS) * RELATIONS + (unsigned)i % RELATIONS) %
		 PARTICIPANTS);
	f->recipient = b;
}

static void f_owner_window(struct tids_ledger_filter *f, int i, char *b)
{
	snprintf(b, 64, "factory-%d", (i * 13) % 200);
	f->owner = b;
	f->since_ms = q_t0 + (int64_t)i * 86400000 / 2;
	f->until_ms = f->since_ms + 86400000;
}

static void f_record(struct tids_ledger_filter *f, int i, char *b)
{
	uint64_t id = ((uint64_t)i * 104729u) % q_n;

	(void)b;
	f->has_record_id = true;
	memset(f->record_id, 0, sizeof(f->record_id));
	memcpy(f->record_id, &id, sizeof(id));
	f->record_id[0] ^= (uint8_t)(id & 1);
	f->record_id[15] = 0xa5;
	f->limit = 0;
}

/* The i-th relation that rests on a grant. */
static void f_grant(struct tids_ledger_filter *f, int i, char *b)
{
	unsigned seen = 0;

	for (unsigned x = 0; x < OWNERS * RELATIONS; x++)
		if (mix(x + 7) % 20 == 0 && seen++ == (unsigned)i % 40) {
			snprintf(b, 64, "grant-%u-%u", x / RELATIONS, x % RELATIONS);
			break;
		}
	f->grant_id = b;
}

static void f_rule(struct tids_ledger_filter *f, int i, char *b)
{
	snprintf(b, 64, "rule_%d", i % 50);
	f->rule_id = b;
}

static void f_pair(struct tids_ledger_filter *f, int i, char *b)
{
	(void)b;
	f->origin = "CN";
	f->destination = i % 2 ? "DE" : "SG";
}

static void f_category(struct tids_ledger_filter *f, int i, char *b)
{
	(void)b;
	f->category = categories[i % 8];
	f->since_ms = q_t0 + (int64_t)(i % 28) * 86400000;
}

static void f_decision_tier(struct tids_ledger_filter *f, int i, char *b)
{
	(void)b;
	f->decision = TIDS_DECISION_DENY;
	f->tier = i % 2 ? TIDS_TIER_CORE : TIDS_TIER_IMPORTANT;
}

static void f_time(struct tids_ledger_filter *f, int i, char *b)
{
	(void)b;
	f->since_ms = q_t0 + (int64_t)i * 3600000 * 11;
	f->until_ms = f->since_ms + 60000;
	f->limit = 0;
}

static void f_recipient_all(struct tids_ledger_filter *f, int i, char *b)
{
	f_recipient(f, i, b);
	f->since_ms = q_t0 + (int64_t)(i % 29) * 86400000;
	f->until_ms = f->since_ms + 86400000;
	f->limit = 0;
}

static int stat_row(void *ctx, const struct tids_ledger_stat *s)
{
	((struct counter *)ctx)->n += s->count;
	return 0;
}

static void bench_queries(const char *dir)
{
	const char *env = getenv("BENCH_AUDIT_QUERY_ENTRIES");
	uint64_t n = env != NULL ? strtoull(env, NULL, 10) : QUERY_ENTRIES;
	char path[600];
	struct gen g;
	struct tids_ledger *l;
	struct counter c = { 0 };
	double t;

	snprintf(path, sizeof(path), "%s/query.db", dir);
	q_n = n;
	gen_init(&g, 0x2545f4914f6cdd1dULL);
	printf("query latency on a ledger of %llu entries%s\n", (unsigned long long)n,
	       n < QUERY_ENTRIES ? " (FEWER than the 10M of the target: BENCH_AUDIT_QUERY_ENTRIES)" : "");
	build(path, &g, n);
	if (tids_ledger_open(path, TIDS_LEDGER_RDONLY, &l, err, sizeof(err)) != 0)
		die("open");
	time_query(l, "recipient (first 100)", 21, f_recipient);
	time_query(l, "recipient, one day (all rows)", 21, f_recipient_all);
	time_query(l, "owner, one day (first 100)", 21, f_owner_window);
	time_query(l, "record id (all rows)", 41, f_record);
	time_query(l, "grant id (first 100)", 21, f_grant);
	time_query(l, "rule id (first 100)", 21, f_rule);
	time_query(l, "jurisdiction pair CN>DE|SG (first 100)", 21, f_pair);
	time_query(l, "category since a day (first 100)", 21, f_category);
	time_query(l, "decision deny x tier (first 100)", 21, f_decision_tier);
	time_query(l, "time range, one minute (all rows)", 21, f_time);
	t = now_s();
	if (tids_ledger_stats(l, q_t0, q_t0 + 86400000, false, stat_row, &c, err, sizeof(err)) != 0)
		die("stats");
	printf("  %-34s %8.3f ms  (%llu decisions counted)\n", "stats over one day", (now_s() - t) * 1e3,
	       (unsigned long long)c.n);
	tids_ledger_close(l);
	{
		FILE *f = fopen(path, "rb");

		if (f != NULL) {
			fseek(f, 0, SEEK_END);
			printf("  ledger file: %.1f MB (%.0f bytes per entry)\n", (double)ftell(f) / 1e6,
			       (double)ftell(f) / (double)n);
			fclose(f);
		}
	}
	if (getenv("BENCH_AUDIT_KEEP") == NULL)
		unlink(path);
	tids_identity_wipe(&g.hub);
}

int main(void)
{
	char dir[256];

	if (sodium_init() < 0)
		return 1;
	snprintf(dir, sizeof(dir), "%s/bench-audit.XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench_audit\n");
	if (getenv("BENCH_AUDIT_SKIP_VERIFY") == NULL)
		bench_verify(dir);
	if (getenv("BENCH_AUDIT_SKIP_QUERIES") == NULL)
		bench_queries(dir);
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (getenv("BENCH_AUDIT_KEEP") == NULL && system(cmd) != 0)
			fprintf(stderr, "bench_audit: cannot remove %s\n", dir);
	}
	return 0;
}
