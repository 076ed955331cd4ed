/*
 * Policy decision benchmark (DESIGN §6): the default rule set plus 10,000
 * generated rules and 100,000 grants; p50/p99 latency of one decision from
 * a sorted sample, decisions per second, the heap allocations made while
 * deciding (counted by wrapping malloc), and the memory the compiled set
 * and the fact store hold, each next to its target.
 *
 * Two orders of the same 196,608 requests (65,536 records, 3 recipients
 * each): as the router asks (a record's recipients one after another), and
 * shuffled, so that almost every fact and rule a decision reads is cold.
 * A benchmark, never a timed test: it prints and exits 0 unless it breaks.
 */
#include <dirent.h>
#include <malloc.h>
#include <sys/resource.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define GEN_RULES 10000
#define GRANTS 100000
#define FACTORIES 1000
#define LESSORS 2000
#define ASSETS 5000
#define CATEGORIES 40
#define PURPOSES 12
#define RECORDS 65536
#define PER_RECORD 3
#define REQUESTS (RECORDS * PER_RECORD)
#define SAMPLES 1000000
#define TARGET_P50_NS 1000.0
#define TARGET_P99_NS 5000.0
#define TARGET_MEMORY_MB 100.0   /* DESIGN §6: the daemon's RSS with 100k grants */

/* ---- counting allocations ----
 * The executable's malloc family wraps glibc's, so every allocation in the
 * process (the engine's included) is counted while `counting` is set.
 * Sanitizer builds keep their own allocator and report "not measured". */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

#if COUNT_ALLOCS
/* The wrappers also keep the heap in use and its peak (what malloc handed
 * out, by malloc_usable_size), to show what compiling needs for a while. */
static volatile int counting;
static volatile uint64_t allocations;
static size_t heap_live, heap_peak;
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
int posix_memalign(void **out, size_t align, size_t size);
void *aligned_alloc(size_t align, size_t size);

static void *took(void *p)
{
	if (p != NULL) {
		heap_live += malloc_usable_size(p);
		if (heap_live > heap_peak)
			heap_peak = heap_live;
	}
	return p;
}

void *malloc(size_t size)
{
	if (counting)
		allocations++;
	return took(__libc_malloc(size));
}

void *calloc(size_t n, size_t size)
{
	if (counting)
		allocations++;
	return took(__libc_calloc(n, size));
}

void *realloc(void *p, size_t size)
{
	if (counting)
		allocations++;
	size_t before = p != NULL ? malloc_usable_size(p) : 0;
	void *q = __libc_realloc(p, size);
	if (q != NULL || size == 0)
		heap_live -= before;
	return took(q);
}

void free(void *p)
{
	if (p != NULL)
		heap_live -= malloc_usable_size(p);
	__libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	if (counting)
		allocations++;
	*out = took(__libc_memalign(align, size));
	return *out != NULL ? 0 : 12;
}

void *aligned_alloc(size_t align, size_t size)
{
	if (counting)
		allocations++;
	return took(__libc_memalign(align, size));
}
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_policy: %s\n", what);
	exit(1);
}

/* ---- the policy: the default rule set and generated rules ---- */

struct text {
	char *buf;
	size_t len;
	size_t cap;
};

static void append(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("format");
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n + 1;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL)
			die("out of memory");
	}
}

static const char *const real_categories[] = { "telemetry", "run_hours", "output_count", "energy" };
static const char *const real_purposes[] = { "maintenance", "billing", "statistics", "warranty" };

static const char *category(uint32_t i, char *buf)
{
	if (i < 4)
		return real_categories[i];
	snprintf(buf, 24, "cat_%u", i);
	return buf;
}

static const char *purpose_name(uint32_t i, char *buf)
{
	if (i < 4)
		return real_purposes[i];
	snprintf(buf, 24, "use_%u", i);
	return buf;
}

/* Rules of the shapes hubs add: per lessor, per owner, per category and
 * role, and a few cross-cutting forbids and obliges. */
static void generate_rules(struct text *t)
{
	char c[24], p[24], p2[24];
	append(t, "let gen_purposes = [");
	for (uint32_t i = 0; i < PURPOSES; i++)
		append(t, "%s\"%s\"", i ? ", " : "", purpose_name(i, p));
	append(t, "];\n");
	for (uint32_t i = 0; i < GEN_RULES; i++) {
		switch (i % 10) {
		case 0: case 1: case 2: case 3:
			append(t, "permit gen_%u when recipient.id == \"lessor.%u\" && record.category == \"%s\""
				  " && purpose in [\"%s\", \"%s\"] && asset.lessor == recipient.id"
				  " with redact label \"secret_%u\" because \"generated lessor rule\";\n",
			       i, rnd(LESSORS), category(rnd(CATEGORIES), c), purpose_name(rnd(PURPOSES), p),
			       purpose_name(rnd(PURPOSES), p2), i % 7);
			break;
		case 4: case 5:
			append(t, "forbid gen_%u when record.owner == \"factory.%u\" && recipient.role == \"lessor\""
				  " && record.category == \"%s\" && purpose == \"%s\" because \"generated owner ban\";\n",
			       i, rnd(FACTORIES), category(rnd(CATEGORIES), c), purpose_name(rnd(PURPOSES), p));
			break;
		case 6: case 7:
			append(t, "permit gen_%u when record.category == \"%s\" && recipient.role == \"auditor_%u\""
				  " && record.tier <= important && purpose in gen_purposes"
				  " with retain 30d, duty \"gen_duty_%u\" because \"generated role rule\";\n",
			       i, category(rnd(CATEGORIES), c), i % 50, i % 5);
			break;
		case 8:
			append(t, "oblige gen_%u when record.asset == \"asset.%u\" with notify \"watch.%u\""
				  " because \"generated watch\";\n", i, rnd(ASSETS), i % 100);
			break;
		default:
			append(t, "permit gen_%u when recipient.id == \"lessor.%u\" && grant(max_window: 400d)"
				  " && record.category == \"%s\" because \"generated grant rule\";\n",
			       i, rnd(LESSORS), category(rnd(CATEGORIES), c));
			break;
		}
	}
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc((size_t)n + 1);
	if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
		die("cannot read a policy file");
	fclose(f);
	*len = (size_t)n;
	return b;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The default rule set (every .tidspol file of policy/default, in name
 * order), then the generated rules. */
static size_t load_sources(struct tids_policy_source *src, size_t cap, struct text *gen)
{
	const char *root = getenv("TIDS_SOURCE_DIR");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/policy/default", root ? root : ".");
	size_t n = 0;
	char *names[64];
	size_t nn = 0;
	DIR *d = opendir(dir);
	if (d != NULL) {
		for (struct dirent *e; (e = readdir(d)) != NULL && nn < 64;) {
			size_t l = strlen(e->d_name);
			if (l > 8 && strcmp(e->d_name + l - 8, ".tidspol") == 0)
				names[nn++] = strdup(e->d_name);
		}
		closedir(d);
	}
	qsort(names, nn, sizeof(char *), by_name);
	for (size_t i = 0; i < nn && n < cap - 1; i++) {
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		size_t len = 0;
		char *text = read_all(path, &len);
		if (text == NULL)
			die("cannot read a policy file");
		src[n++] = (struct tids_policy_source){ .name = names[i], .text = text, .len = len };
	}
	if (nn == 0)
		fprintf(stderr, "bench_policy: %s not found: generated rules only\n", dir);
	src[n++] = (struct tids_policy_source){ .name = "generated.tidspol", .text = gen->buf,
						.len = gen->len };
	return n;
}

/* ---- facts ---- */

static const char *const jurisdictions[] = { "CN-SH", "CN-HB", "CN-CQ", "CN-SC", "DE", "SG" };

static void fill_facts(struct tids_policy_facts *f)
{
	char id[64], id2[64], c[24], p[24], err[256];
	struct tids_policy_attr sa = { "security_agreement", "true" };
	for (uint32_t i = 0; i < FACTORIES; i++) {
		snprintf(id, sizeof(id), "factory.%u", i);
		struct tids_policy_participant pt = { .id = id, .role = "factory",
			.jurisdiction = jurisdictions[i % 4] };
		if (tids_policy_facts_put_participant(f, &pt, err, sizeof(err)) != 0)
			die(err);
	}
	for (uint32_t i = 0; i < LESSORS; i++) {
		snprintf(id, sizeof(id), "lessor.%u", i);
		struct tids_policy_participant pt = { .id = id, .role = "lessor",
			.jurisdiction = jurisdictions[i % 6], .attrs = &sa, .n_attrs = i % 2 };
		if (tids_policy_facts_put_participant(f, &pt, err, sizeof(err)) != 0)
			die(err);
	}
	for (uint32_t i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "auditor.%u", i);
		snprintf(id2, sizeof(id2), "auditor_%u", i);
		struct tids_policy_participant pt = { .id = id, .role = id2, .jurisdiction = "CN-SH",
			.attrs = &sa, .n_attrs = 1 };
		if (tids_policy_facts_put_participant(f, &pt, err, sizeof(err)) != 0)
			die(err);
	}
	for (uint32_t i = 0; i < ASSETS; i++) {
		snprintf(id, sizeof(id), "asset.%u", i);
		char lessee[32], lessor[32];
		snprintf(lessee, sizeof(lessee), "factory.%u", i % FACTORIES);
		snprintf(lessor, sizeof(lessor), "lessor.%u", i % LESSORS);
		struct tids_policy_asset a = { .id = id, .lessee = lessee, .lessor = lessor,
					       .site = "site" };
		if (tids_policy_facts_put_asset(f, &a, err, sizeof(err)) != 0)
			die(err);
	}
	for (uint32_t i = 0; i < GRANTS; i++) {
		char owner[32], grantee[32], asset[32];
		/* grants cluster on the pairs assets make: the lessee and its lessors */
		uint32_t a = rnd(ASSETS);
		snprintf(id, sizeof(id), "grant.%u", i);
		snprintf(owner, sizeof(owner), "factory.%u", a % FACTORIES);
		snprintf(grantee, sizeof(grantee), "lessor.%u", rnd(4) == 0 ? rnd(LESSORS) : a % LESSORS);
		snprintf(asset, sizeof(asset), "asset.%u", a);
		const char *assets[1] = { asset };
		const char *cats[2] = { category(rnd(CATEGORIES), c), real_categories[rnd(4)] };
		const char *purposes[2] = { purpose_name(rnd(PURPOSES), p), real_purposes[rnd(4)] };
		struct tids_policy_grant g = {
			.id = id, .owner = owner, .grantee = grantee, .assets = assets, .n_assets = 1,
			.categories = cats, .n_categories = 2, .purposes = purposes, .n_purposes = 2,
			.not_before_ms = INT64_C(1767225600000), .not_after_ms = INT64_C(1798761600000),
			.max_uses = rnd(3) == 0 ? 100 : 0, .uses = rnd(150),
		};
		if (tids_policy_facts_put_grant(f, &g, err, sizeof(err)) != 0)
			die(err);
	}
}

/* ---- requests ---- */

struct req_store {
	struct tids_record rec[RECORDS];
	struct tids_field fields[RECORDS][4];
	char strings[RECORDS][3][32];
	char recipients[REQUESTS][32];
	char purposes[REQUESTS][24];    /* the generated ones */
	struct tids_policy_request req[REQUESTS];
	uint32_t shuffled[REQUESTS];
};

static const char *const no_labels[1] = { "x" };
static const char *const personal_label[1] = { "personal" };

/* Each record goes to the asset's lessor, another lessor, and an auditor. */
static void make_requests(struct req_store *s)
{
	char c[24], p[24];
	for (uint32_t i = 0; i < RECORDS; i++) {
		uint32_t a = rnd(ASSETS);
		char *owner = s->strings[i][0], *asset = s->strings[i][1], *cat = s->strings[i][2];
		snprintf(owner, 32, "factory.%u", a % FACTORIES);
		snprintf(asset, 32, "asset.%u", a);
		snprintf(cat, 32, "%s", category(rnd(8) < 5 ? rnd(4) : rnd(CATEGORIES), c));
		struct tids_field *f = s->fields[i];
		f[0] = (struct tids_field){ .name = "value", .value = { .kind = TIDS_VALUE_INT } };
		f[1] = (struct tids_field){ .name = "count", .value = { .kind = TIDS_VALUE_INT } };
		f[2] = (struct tids_field){ .name = "note", .value = { .kind = TIDS_VALUE_INT },
					    .labels = no_labels, .n_labels = 1 };
		f[3] = (struct tids_field){ .name = "operator", .value = { .kind = TIDS_VALUE_INT },
					    .labels = personal_label, .n_labels = 1 };
		bool personal = rnd(8) == 0;
		s->rec[i] = (struct tids_record){
			.owner = owner, .asset_id = asset, .category = cat,
			.tier = rnd(10) < 7 ? TIDS_TIER_GENERAL : rnd(3) ? TIDS_TIER_IMPORTANT : TIDS_TIER_CORE,
			.origin = jurisdictions[a % 4], .produced_at_ms = INT64_C(1780300000000),
			.personal = personal, .individuals = personal ? 3 : 0, .schema = "",
			.fields = f, .n_fields = personal ? 4 : 3,
		};
		for (uint32_t k = 0; k < PER_RECORD; k++) {
			uint32_t r = i * PER_RECORD + k;
			char *rcpt = s->recipients[r];
			if (k == 0)
				snprintf(rcpt, 32, "lessor.%u", a % LESSORS);
			else if (k == 1)
				snprintf(rcpt, 32, "lessor.%u", rnd(LESSORS));
			else
				snprintf(rcpt, 32, "auditor.%u", rnd(50));
			/* mostly what the recipient is entitled to ask for */
			const char *purpose = k == 0 && rnd(4) != 0 ? real_purposes[i % 2]
					    : purpose_name(rnd(8) < 6 ? rnd(4) : rnd(PURPOSES), p);
			if (purpose == p)
				purpose = memcpy(s->purposes[r], p, sizeof(s->purposes[r]));
			s->req[r] = (struct tids_policy_request){
				.record = &s->rec[i], .recipient = rcpt, .purpose = purpose,
				.now_ms = INT64_C(1780300800000),
			};
		}
	}
	for (uint32_t i = 0; i < REQUESTS; i++)
		s->shuffled[i] = i;
	for (uint32_t i = REQUESTS - 1; i > 0; i--) {
		uint32_t j = rnd(i + 1), t = s->shuffled[i];
		s->shuffled[i] = s->shuffled[j];
		s->shuffled[j] = t;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	struct text gen = { .cap = 1 << 20 };
	gen.buf = malloc(gen.cap);
	if (gen.buf == NULL)
		die("out of memory");
	generate_rules(&gen);
	struct tids_policy_source src[66];
	size_t n_src = load_sources(src, 66, &gen);

	struct tids_policy_diags *diags = tids_policy_diags_new();
	struct tids_policy_set *set = NULL;
	size_t heap0 = mallinfo2().uordblks;
#if COUNT_ALLOCS
	size_t live0 = heap_live;
	heap_peak = heap_live;
#endif
	int64_t t0 = now_ns();
	if (tids_policy_compile(src, n_src, &set, diags) != 0) {
		char line[1024];
		for (size_t i = 0; i < tids_policy_diags_count(diags) && i < 10; i++) {
			tids_policy_diag_format(tids_policy_diags_at(diags, i), line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		die("the benchmark policy does not compile");
	}
	double compile_ms = (double)(now_ns() - t0) / 1e6;
	size_t heap1 = mallinfo2().uordblks;
#if COUNT_ALLOCS
	double compile_peak_mb = (double)(heap_peak - live0) / 1e6;
#endif

	struct tids_policy_facts *facts = tids_policy_facts_new();
	t0 = now_ns();
	fill_facts(facts);
	double facts_ms = (double)(now_ns() - t0) / 1e6;
	size_t heap2 = mallinfo2().uordblks;

	struct req_store *rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		die("out of memory");
	make_requests(rs);
	struct tids_policy_decision *d = malloc(sizeof(*d));
	int64_t *lat = malloc(SAMPLES * sizeof(int64_t));
	if (d == NULL || lat == NULL)
		die("out of memory");

	/* count the verdicts (this also warms what fits in the caches) */
	size_t verdicts[4] = { 0 };
	for (uint32_t i = 0; i < REQUESTS; i++) {
		int rc = tids_policy_decide(set, facts, &rs->req[i], d);
		verdicts[rc == 0 ? d->verdict : 0]++;
	}

	struct result {
		const char *name;
		double p50, p99, p999, rate;
	} res[2];
	uint64_t allocs = 0;
	for (int order = 0; order < 2; order++) {
		const uint32_t *perm = order == 1 ? rs->shuffled : NULL;
		/* throughput: decisions back to back */
#if COUNT_ALLOCS
		uint64_t before = allocations;
		counting = 1;
#endif
		t0 = now_ns();
		for (uint32_t i = 0; i < SAMPLES; i++) {
			uint32_t r = i % REQUESTS;
			int rc = tids_policy_decide(set, facts, &rs->req[perm ? perm[r] : r], d);
			(void)rc;
		}
		int64_t elapsed = now_ns() - t0;
		/* latency: each decision timed on its own */
		for (uint32_t i = 0; i < SAMPLES; i++) {
			uint32_t r = (i + SAMPLES) % REQUESTS;
			int64_t a = now_ns();
			int rc = tids_policy_decide(set, facts, &rs->req[perm ? perm[r] : r], d);
			lat[i] = now_ns() - a;
			(void)rc;
		}
#if COUNT_ALLOCS
		counting = 0;
		allocs += allocations - before;
#endif
		qsort(lat, SAMPLES, sizeof(int64_t), cmp_i64);
		res[order] = (struct result){
			.name = order == 0 ? "routing order (3 recipients per record)"
					   : "shuffled (cold: random record and recipient)",
			.p50 = (double)lat[SAMPLES / 2], .p99 = (double)lat[SAMPLES / 100 * 99],
			.p999 = (double)lat[SAMPLES / 1000 * 999],
			.rate = (double)SAMPLES / ((double)elapsed / 1e9),
		};
	}
	/* the clock's own cost, to read the latencies against */
	int64_t *clk = malloc(100000 * sizeof(int64_t));
	for (uint32_t i = 0; i < 100000 && clk != NULL; i++) {
		int64_t a = now_ns();
		clk[i] = now_ns() - a;
	}
	if (clk != NULL)
		qsort(clk, 100000, sizeof(int64_t), cmp_i64);

	size_t n_rules = tids_policy_set_rule_count(set), n_grants = tids_policy_facts_grant_count(facts);
	printf("policy decision benchmark: %zu rules (%d generated + the default set), %zu grants\n",
	       n_rules, GEN_RULES, n_grants);
	printf("  compile %.0f ms, facts %.0f ms; %d requests (%d records x %d recipients): "
	       "allow %zu, transform %zu, deny %zu\n", compile_ms, facts_ms, REQUESTS, RECORDS,
	       PER_RECORD, verdicts[TIDS_POLICY_ALLOW], verdicts[TIDS_POLICY_TRANSFORM],
	       verdicts[TIDS_POLICY_DENY]);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double set_mb = (double)(heap1 - heap0) / 1e6, facts_mb = (double)(heap2 - heap1) / 1e6;
	printf("  memory (heap held)%16s %12s %12s\n", "", "measured", "target");
	printf("    %-32s %9.1f MB %12s  (%.0f bytes a rule)\n", "compiled policy set", set_mb, "-",
	       set_mb * 1e6 / (double)n_rules);
	printf("    %-32s %9.1f MB %12s  (%.0f bytes a grant)\n", "fact store", facts_mb, "-",
	       facts_mb * 1e6 / (double)n_grants);
	printf("    %-32s %9.1f MB %9.0f MB  %s  (DESIGN §6: the daemon's RSS with 100k grants)\n",
	       "set + fact store", set_mb + facts_mb, TARGET_MEMORY_MB,
	       set_mb + facts_mb <= TARGET_MEMORY_MB ? "ok" : "MISSED");
#if COUNT_ALLOCS
	printf("    %-32s %9.1f MB %12s  (for a moment: the parse, freed once compiled)\n",
	       "compiling, at its peak", compile_peak_mb, "-");
#endif
	printf("    %-32s %9.0f MB %12s  (the benchmark's own requests included)\n",
	       "process peak RSS", (double)ru.ru_maxrss / 1024.0, "-");
	for (int order = 0; order < 2; order++) {
		printf("  %s, %d decisions:\n", res[order].name, SAMPLES);
		printf("    %-26s %12s %12s\n", "measure", "measured", "target");
		printf("    %-26s %9.0f ns %9.0f ns  %s\n", "latency p50", res[order].p50, TARGET_P50_NS,
		       res[order].p50 <= TARGET_P50_NS ? "ok" : "MISSED");
		printf("    %-26s %9.0f ns %9.0f ns  %s\n", "latency p99", res[order].p99, TARGET_P99_NS,
		       res[order].p99 <= TARGET_P99_NS ? "ok" : "MISSED");
		printf("    %-26s %9.0f ns %12s\n", "latency p99.9", res[order].p999, "-");
		printf("    %-26s %9.0f /s %12s\n", "decisions per second", res[order].rate, "-");
	}
#if COUNT_ALLOCS
	printf("  %-28s %12.4f %12d  %s  (%llu in %d decisions)\n", "allocations per decision",
	       (double)allocs / (4.0 * SAMPLES), 0, allocs == 0 ? "ok" : "MISSED",
	       (unsigned long long)allocs, 4 * SAMPLES);
#else
	printf("  %-28s %12s %12d  (sanitizer build)\n", "allocations per decision", "not measured", 0);
	(void)allocs;
#endif
	if (clk != NULL)
		printf("  (reading the clock costs %lld ns at p50; each latency includes it once)\n",
		       (long long)clk[50000]);
	free(clk);
	free(lat);
	free(d);
	free(rs);
	free(gen.buf);
	for (size_t i = 0; i + 1 < n_src; i++) {
		free((char *)src[i].text);
		free((char *)src[i].name);
	}
	tids_policy_facts_free(facts);
	tids_policy_set_free(set);
	tids_policy_diags_free(diags);
	return 0;
}
