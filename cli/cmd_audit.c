/*
 * tidsctl audit: the auditor's view of the ledger file, read-only and with
 * the daemon up or down. This file dispatches the subcommands and holds
 * query and stats; verify and prune, proofs and bundles live next to it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "tids/error.h"
#include "cmd_audit.h"
#include "policy.h"

static const char audit_help[] =
	"usage: tidsctl audit SUBCOMMAND [OPTIONS]\n"
	"The audit ledger, read from its file (works while tidsd is stopped):\n"
	"  query        decisions by time, owner, recipient, decision, tier, category,\n"
	"               jurisdictions, rule, record or grant (table, jsonl or csv)\n"
	"  stats        counts by decision x tier x category x jurisdiction pair\n"
	"  verify       recompute every chain, check every checkpoint signature\n"
	"  proof        a self-contained proof of what happened to one record\n"
	"  check-proof  check a proof or an exported bundle offline\n"
	"  export       a signed bundle of the chains for a time range\n"
	"  prune        remove whole signed segments past their retention\n"
	"  report       an evaluation report of a period (HTML with charts, or JSON)\n"
	"  statement    a lessor's usage bill of a period, proven from the ledger, signed\n"
	"  check-statement  check a statement offline against the ledger\n"
	"'tidsctl audit SUBCOMMAND --help' describes each; see tidsctl(1).\n";

int tidsctl_audit(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
		{ "query", audit_query }, { "stats", audit_stats }, { "verify", audit_verify },
		{ "proof", audit_proof }, { "check-proof", audit_check_proof }, { "export", audit_export },
		{ "prune", audit_prune }, { "report", audit_report },
		{ "statement", audit_statement }, { "check-statement", audit_check_statement },
	};

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(audit_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 0;
			return subs[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "tidsctl: audit: unknown subcommand '%s'\n", argv[1]);
	return cli_usage(audit_help);
}

/* --- shared ----------------------------------------------------------------------- */

const char *audit_default_ledger(void)
{
	const char *e = getenv("TIDS_LEDGER");

	return e != NULL && *e != '\0' ? e : AUDIT_DEFAULT_LEDGER;
}

struct tids_ledger *audit_open(const char *path, bool writable)
{
	struct tids_ledger *l;
	struct stat st;
	char err[512];

	/* Say what is wrong with the path in words, before SQLite reports a
	 * directory as a "disk I/O error". */
	if (stat(path, &st) != 0) {
		cli_fail("ledger %s: %s (give the ledger's file with --ledger FILE or TIDS_LEDGER)", path,
			 errno == ENOENT ? "no such file" : strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_fail("ledger %s is a directory, not a ledger file (the ledger is a file such as %s)", path,
			 AUDIT_DEFAULT_LEDGER);
		return NULL;
	}
	if (tids_ledger_open(path, writable ? TIDS_LEDGER_WRITE : TIDS_LEDGER_RDONLY, &l, err, sizeof(err)) != 0) {
		cli_fail("%s", err);
		return NULL;
	}
	return l;
}

int audit_check_range(int64_t since_ms, int64_t until_ms)
{
	if (since_ms != 0 && until_ms != 0 && since_ms >= until_ms) {
		fprintf(stderr, "tidsctl: error: --since must be before --until: nothing is decided in [since, until)\n");
		return EXIT_USAGE;
	}
	return 0;
}

void audit_format_time(int64_t ms, char out[32])
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	size_t n;

	if (gmtime_r(&s, &tm) == NULL) {
		snprintf(out, 32, "%lld", (long long)ms);
		return;
	}
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms - (int64_t)s * 1000));
}

int audit_duration(const char *arg, int64_t *ms)
{
	char *end;
	long long n;
	int64_t unit;

	errno = 0;
	n = strtoll(arg, &end, 10);
	unit = strcmp(end, "y") == 0 ? 365 * TIDS_LEDGER_DAY_MS : strcmp(end, "w") == 0 ? 7 * TIDS_LEDGER_DAY_MS :
	       strcmp(end, "d") == 0 ? TIDS_LEDGER_DAY_MS : strcmp(end, "h") == 0 ? 3600000 : -1;
	if (errno != 0 || end == arg || n <= 0 || unit < 0 || n > INT64_MAX / unit)
		return cli_fail("'%s' is not a duration like 183d, 26w, 3y or 4380h", arg);
	*ms = n * unit;
	return 0;
}

bool audit_flush(struct tids_jw *w, FILE *f)
{
	bool ok = w->err == 0 && (w->len == 0 || fwrite(w->buf, 1, w->len, f) == w->len);

	tids_jw_reset(w);
	return ok;
}

static void jw_list(struct tids_jw *w, const char *key, const struct tids_strlist *l)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < l->n; i++)
		tids_jw_string(w, l->items[i]);
	tids_jw_array_end(w);
}


/* "near_miss": {"kind", "id", "code", "failed": [...], ...}: the reason
 * code of a denial, by the names policy gives the codes. */
static void audit_jw_near_miss(struct tids_jw *w, const struct tids_near_miss *n)
{
	const char *name = tids_policy_miss_name((enum tids_policy_miss)n->code);

	tids_jw_key(w, "near_miss");
	tids_jw_object_begin(w);
	tids_jw_key(w, "kind");
	tids_jw_string(w, n->kind);
	tids_jw_key(w, "id");
	if (n->id != NULL && *n->id != '\0')
		tids_jw_string(w, n->id);
	else
		tids_jw_null(w);
	tids_jw_key(w, "code");
	tids_jw_string(w, name != NULL ? name : "unknown");
	tids_jw_key(w, "failed");
	tids_jw_array_begin(w);
	for (int c = 1; c <= TIDS_NEAR_MISS_CODE_MAX; c++)
		if (n->failed >> c & 1u) {
			const char *f = tids_policy_miss_name((enum tids_policy_miss)c);

			tids_jw_string(w, f != NULL ? f : "unknown");
		}
	tids_jw_array_end(w);
	if (n->at_ms != 0) {
		char t[32];

		audit_format_time(n->at_ms, t);
		tids_jw_key(w, "at");
		tids_jw_string(w, t);
	}
	if (n->max_uses != 0) {
		tids_jw_key(w, "uses");
		tids_jw_uint64(w, n->uses);
		tids_jw_key(w, "max_uses");
		tids_jw_uint64(w, n->max_uses);
	}
	tids_jw_key(w, "rule_id");
	if (n->rule_id != NULL && *n->rule_id != '\0')
		tids_jw_string(w, n->rule_id);
	else
		tids_jw_null(w);
	tids_jw_object_end(w);
}

void audit_jw_entry(struct tids_jw *w, const struct tids_audit_entry *e)
{
	char t[32];

	audit_format_time(e->decided_at_ms, t);
	tids_jw_object_begin(w);
	tids_jw_key(w, "decided_at");
	tids_jw_string(w, t);
	tids_jw_key(w, "decided_at_ms");
	tids_jw_int64(w, e->decided_at_ms);
	tids_jw_key(w, "hub_id");
	tids_jw_string(w, e->hub_id);
	tids_jw_key(w, "partition");
	tids_jw_int64(w, e->partition);
	tids_jw_key(w, "seq");
	tids_jw_uint64(w, e->seq);
	tids_jw_key(w, "record_id");
	tids_jw_hex(w, e->record_id, TIDS_RECORD_ID_BYTES);
	tids_jw_key(w, "owner");
	tids_jw_string(w, e->owner);
	tids_jw_key(w, "asset_id");
	tids_jw_string(w, e->asset_id);
	tids_jw_key(w, "recipient");
	tids_jw_string(w, e->recipient);
	tids_jw_key(w, "purpose");
	tids_jw_string(w, e->purpose);
	tids_jw_key(w, "decision");
	tids_jw_string(w, tids_decision_name(e->decision));
	tids_jw_key(w, "tier");
	tids_jw_string(w, tids_tier_name(e->tier));
	tids_jw_key(w, "category");
	tids_jw_string(w, e->category);
	tids_jw_key(w, "origin");
	tids_jw_string(w, e->origin);
	tids_jw_key(w, "destination");
	tids_jw_string(w, e->destination);
	jw_list(w, "rule_ids", &e->rule_ids);
	tids_jw_key(w, "grant_id");
	tids_jw_string(w, e->grant_id);
	tids_jw_key(w, "approval_id");
	tids_jw_string(w, e->approval_id);
	tids_jw_key(w, "case_id");
	tids_jw_string(w, e->case_id != NULL ? e->case_id : "");
	tids_jw_key(w, "reason");
	tids_jw_string(w, e->reason);
	if (e->has_near_miss)
		audit_jw_near_miss(w, &e->near_miss);
	tids_jw_key(w, "delivered_hash");
	if (e->delivered_hash.len > 0)
		tids_jw_hex(w, e->delivered_hash.data, e->delivered_hash.len);
	else
		tids_jw_null(w);
	tids_jw_key(w, "delivery_seq");
	tids_jw_uint64(w, e->delivery_seq);
	tids_jw_key(w, "ingress_offset");
	tids_jw_int64(w, e->ingress_offset);
	if (*e->peer_hub != '\0') {
		/* Federation: the other hub, and on an import the export's entry there. */
		tids_jw_key(w, "peer_hub");
		tids_jw_string(w, e->peer_hub);
		if (e->peer_seq > 0) {
			char peer[40];

			snprintf(peer, sizeof(peer), "%d:%llu", (int)e->peer_partition, (unsigned long long)e->peer_seq);
			tids_jw_key(w, "peer_entry");
			tids_jw_string(w, peer);
		}
	}
	tids_jw_key(w, "obligations");
	tids_jw_obligations(w, &e->obligations);
	if (e->n_counts > 0) {
		tids_jw_key(w, "counts");
		tids_jw_array_begin(w);
		for (size_t i = 0; i < e->n_counts; i++) {
			tids_jw_object_begin(w);
			tids_jw_key(w, "name");
			tids_jw_string(w, e->counts[i].name);
			tids_jw_key(w, "key");
			tids_jw_string(w, e->counts[i].key);
			tids_jw_key(w, "period");
			tids_jw_int64(w, e->counts[i].period);
			tids_jw_key(w, "amount");
			tids_jw_uint64(w, e->counts[i].amount);
			if (e->counts[i].total > 0) {
				tids_jw_key(w, "total");
				tids_jw_uint64(w, e->counts[i].total);
			}
			tids_jw_object_end(w);
		}
		tids_jw_array_end(w);
	}
	if (e->has_aggregate) {
		tids_jw_key(w, "aggregate");
		tids_jw_object_begin(w);
		tids_jw_key(w, "function");
		tids_jw_string(w, e->aggregate.function);
		tids_jw_key(w, "field");
		tids_jw_string(w, e->aggregate.field);
		tids_jw_key(w, "window_start_ms");
		tids_jw_int64(w, e->aggregate.window_start_ms);
		tids_jw_key(w, "window_ms");
		tids_jw_int64(w, e->aggregate.window_ms);
		tids_jw_key(w, "count");
		tids_jw_uint64(w, e->aggregate.count);
		tids_jw_key(w, "value");
		tids_jw_double(w, e->aggregate.value);
		tids_jw_object_end(w);
	}
	tids_jw_object_end(w);
}

/* --- output forms ------------------------------------------------------------------ */

enum format { FMT_TABLE, FMT_JSONL, FMT_CSV };

static int parse_format(const char *s, enum format *f)
{
	if (strcmp(s, "table") == 0)
		*f = FMT_TABLE;
	else if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
		*f = FMT_JSONL;
	else if (strcmp(s, "csv") == 0)
		*f = FMT_CSV;
	else
		return cli_fail("--format %s: table, jsonl or csv", s);
	return 0;
}

/* Rows of strings, printed as an aligned table once all are in, or as
 * CSV at once. */
struct table {
	enum format fmt;
	size_t cols;
	char **cells;
	size_t n, cap;
	size_t width[16];
	bool io_error;
};

static void csv_cell(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		putchar('"');
		for (; *s != '\0'; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	putchar(last ? '\n' : ',');
}

static void table_row(struct table *t, const char *const *cells)
{
	if (t->fmt == FMT_CSV) {
		for (size_t i = 0; i < t->cols; i++)
			csv_cell(cells[i], i + 1 == t->cols);
		return;
	}
	if (t->n + t->cols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256 * t->cols;
		char **c = realloc(t->cells, cap * sizeof(*c));

		if (c == NULL) {
			fprintf(stderr, "tidsctl: out of memory\n");
			exit(EXIT_FAIL);
		}
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->cols; i++) {
		size_t w = strlen(cells[i]);

		t->cells[t->n++] = strdup(cells[i]);
		if (w > t->width[i])
			t->width[i] = w;
	}
}

static void table_print(struct table *t)
{
	for (size_t r = 0; r < t->n; r += t->cols) {
		for (size_t i = 0; i < t->cols; i++) {
			const char *s = t->cells[r + i] != NULL ? t->cells[r + i] : "";

			if (i + 1 == t->cols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)t->width[i], s);
			free(t->cells[r + i]);
		}
	}
	free(t->cells);
	t->cells = NULL;
	t->n = 0;
}

/* --- query ------------------------------------------------------------------------- */

static const char query_help[] =
	"usage: tidsctl audit query [--ledger FILE] [FILTERS] [--limit N] [--format table|jsonl|csv] [--json]\n"
	"Decisions in the ledger, oldest first. FILTERS (all must match):\n"
	"  --since TIME --until TIME     decided in [since, until): RFC 3339, Unix ms or +/-DURATION\n"
	"  --owner ID --recipient ID --purpose P --category C --rule ID --grant ID\n"
	"  --decision allow|deny|transform   --tier general|important|core\n"
	"  --from J --to J               origin and destination jurisdiction (\"CN\" means every CN-*)\n"
	"  --record HEX                  the 32 hex digits of a record id\n"
	"A denial names what nearly matched (NEARLY, near_miss): kind:id:code, e.g.\n"
	"grant:study:used_up, approval:ok-sg:expired, grant::none.\n"
	"Every row shown is decoded from its entry's bytes; an edited index stops the query.\n"
	"The table form holds the rows in memory to align them: use --limit, jsonl or csv\n"
	"for large results.\n"
	"--ledger defaults to $TIDS_LEDGER, else " AUDIT_DEFAULT_LEDGER ".\n";

struct query_out {
	enum format fmt;
	struct table t;
	struct tids_jw jw;
	uint64_t n;
	bool io_error;
};

static int query_row(void *ctx, const struct tids_audit_entry *e)
{
	struct query_out *q = ctx;
	char t[32], entry[48], pair[80], rules[1024] = "", rid[2 * TIDS_RECORD_ID_BYTES + 1], near[200] = "";

	q->n++;
	if (q->fmt == FMT_JSONL) {
		audit_jw_entry(&q->jw, e);
		if (!audit_flush(&q->jw, stdout) || putchar('\n') == EOF)
			q->io_error = true;
		return q->io_error ? TIDS_EIO : 0;
	}
	audit_format_time(e->decided_at_ms, t);
	snprintf(entry, sizeof(entry), "%d:%llu", e->partition, (unsigned long long)e->seq);
	snprintf(pair, sizeof(pair), "%s>%s", *e->origin != '\0' ? e->origin : "-",
		 *e->destination != '\0' ? e->destination : "-");
	for (size_t i = 0; i < e->rule_ids.n; i++) {
		size_t len = strlen(rules);

		snprintf(rules + len, sizeof(rules) - len, "%s%s", i > 0 ? (q->fmt == FMT_CSV ? ";" : ",") : "",
			 e->rule_ids.items[i]);
	}
	sodium_bin2hex(rid, sizeof(rid), e->record_id, TIDS_RECORD_ID_BYTES);
	if (e->has_near_miss) {
		const char *code = tids_policy_miss_name((enum tids_policy_miss)e->near_miss.code);

		/* kind:id:code, e.g. grant:study:used_up, approval::none */
		snprintf(near, sizeof(near), "%s:%s:%s", e->near_miss.kind, e->near_miss.id,
			 code != NULL ? code : "unknown");
	}
	if (q->fmt == FMT_CSV) {
		char seq[24], off[24], dseq[24];
		const char *cells[] = { t, entry, rid, e->owner, e->asset_id, e->recipient, e->purpose,
					tids_decision_name(e->decision), tids_tier_name(e->tier), e->category, e->origin,
					e->destination, rules, e->grant_id, e->approval_id, e->reason, near, dseq, off,
					seq, "" };

		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
		snprintf(off, sizeof(off), "%lld", (long long)e->ingress_offset);
		snprintf(dseq, sizeof(dseq), "%llu", (unsigned long long)e->delivery_seq);
		/* The obligations in the one JSON form every output shares. */
		tids_jw_obligations(&q->jw, &e->obligations);
		if (q->jw.err != 0)
			return q->jw.err;
		cells[20] = q->jw.buf;
		table_row(&q->t, cells);
		tids_jw_reset(&q->jw);
	} else {
		const char *cells[] = { t, entry, tids_decision_name(e->decision), tids_tier_name(e->tier), e->category,
					e->owner, e->recipient, *e->purpose != '\0' ? e->purpose : "-", pair, rules, rid,
					*e->grant_id != '\0' ? e->grant_id : "-", *near != '\0' ? near : "-" };

		table_row(&q->t, cells);
	}
	return 0;
}

int audit_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' }, { "owner", required_argument, NULL, 'o' },
		{ "recipient", required_argument, NULL, 'r' }, { "purpose", required_argument, NULL, 'p' },
		{ "category", required_argument, NULL, 'c' }, { "rule", required_argument, NULL, 'R' },
		{ "grant", required_argument, NULL, 'g' }, { "decision", required_argument, NULL, 'd' },
		{ "tier", required_argument, NULL, 't' }, { "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' }, { "record", required_argument, NULL, 'i' },
		{ "limit", required_argument, NULL, 'n' }, { "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char *const table_head[] = { "DECIDED", "ENTRY", "DECISION", "TIER", "CATEGORY", "OWNER",
						   "RECIPIENT", "PURPOSE", "FROM>TO", "RULES", "RECORD", "GRANT", "NEARLY" };
	static const char *const csv_head[] = { "decided_at", "entry", "record_id", "owner", "asset_id", "recipient",
						 "purpose", "decision", "tier", "category", "origin", "destination",
						 "rule_ids", "grant_id", "approval_id", "reason", "near_miss",
						 "delivery_seq", "ingress_offset", "seq", "obligations" };
	struct tids_ledger_filter f = { 0 };
	struct query_out q = { .fmt = FMT_TABLE };
	const char *path = audit_default_ledger();
	struct tids_ledger *l;
	char err[512];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 's': if (cli_time(optarg, &f.since_ms) != 0) return EXIT_USAGE; break;
		case 'u': if (cli_time(optarg, &f.until_ms) != 0) return EXIT_USAGE; break;
		case 'o': f.owner = optarg; break;
		case 'r': f.recipient = optarg; break;
		case 'p': f.purpose = optarg; break;
		case 'c': f.category = optarg; break;
		case 'R': f.rule_id = optarg; break;
		case 'g': f.grant_id = optarg; break;
		case 'F': f.origin = optarg; break;
		case 'T': f.destination = optarg; break;
		case 'n': {
			uint64_t v;

			if (cli_number("--limit", optarg, 1, UINT64_MAX, &v) != 0)
				return EXIT_USAGE;
			f.limit = v;
			break;
		}
		case 'f': if (parse_format(optarg, &q.fmt) != 0) return EXIT_USAGE; break;
		case 'J': q.fmt = FMT_JSONL; break;
		case 'd':
			f.decision = strcmp(optarg, "allow") == 0 ? TIDS_DECISION_ALLOW :
				     strcmp(optarg, "deny") == 0 ? TIDS_DECISION_DENY :
				     strcmp(optarg, "transform") == 0 ? TIDS_DECISION_TRANSFORM : TIDS_DECISION_UNSET;
			if (f.decision == TIDS_DECISION_UNSET)
				return cli_fail("--decision %s: allow, deny or transform", optarg) + 1;
			break;
		case 't':
			if ((f.tier = tids_tier_parse(optarg)) == TIDS_TIER_UNSET)
				return cli_fail("--tier %s: general, important or core", optarg) + 1;
			break;
		case 'i':
			if (strlen(optarg) != 2 * TIDS_RECORD_ID_BYTES ||
			    sodium_hex2bin(f.record_id, TIDS_RECORD_ID_BYTES, optarg, strlen(optarg), NULL, NULL, NULL) != 0)
				return cli_fail("--record %s: 32 hex digits", optarg) + 1;
			f.has_record_id = true;
			break;
		case 'h': fputs(query_help, stdout); return EXIT_OK;
		default: return cli_usage(query_help);
		}
	}
	if (optind != argc)
		return cli_usage(query_help);
	if (audit_check_range(f.since_ms, f.until_ms) != 0)
		return EXIT_USAGE;
	if ((l = audit_open(path, false)) == NULL)
		return EXIT_FAIL;
	tids_jw_init(&q.jw);
	q.t.fmt = q.fmt;
	if (q.fmt == FMT_TABLE) {
		q.t.cols = 13;
		table_row(&q.t, table_head);
	} else if (q.fmt == FMT_CSV) {
		q.t.cols = 21;
		table_row(&q.t, csv_head);
	}
	r = tids_ledger_query(l, &f, query_row, &q, err, sizeof(err));
	if (q.fmt == FMT_TABLE)
		table_print(&q.t);
	tids_jw_free(&q.jw);
	tids_ledger_close(l);
	if (r != 0)
		return cli_fail("%s", q.io_error ? "writing the output failed" : err);
	if (fflush(stdout) != 0)
		return cli_fail("writing the output failed");
	if (q.fmt == FMT_TABLE)
		fprintf(stderr, "%llu decision%s\n", (unsigned long long)q.n, q.n == 1 ? "" : "s");
	return EXIT_OK;
}

/* --- stats ------------------------------------------------------------------------- */

static const char stats_help[] =
	"usage: tidsctl audit stats [--ledger FILE] [--since TIME] [--until TIME] [--by-country]\n"
	"                           [--format table|jsonl|csv] [--json]\n"
	"Counts of decisions by decision x tier x category x (origin, destination) over\n"
	"[since, until): the regulator's monitoring view. --by-country folds CN-SH, CN-HB...\n"
	"into CN. Counts come from the index: run tidsctl audit verify to trust them.\n";

struct stats_out {
	enum format fmt;
	struct table t;
	struct tids_jw jw;
	uint64_t total;
	bool io_error;
};

static int stats_row(void *ctx, const struct tids_ledger_stat *s)
{
	struct stats_out *o = ctx;
	char count[24];

	o->total += s->count;
	if (o->fmt == FMT_JSONL) {
		tids_jw_object_begin(&o->jw);
		tids_jw_key(&o->jw, "decision");
		tids_jw_string(&o->jw, tids_decision_name(s->decision));
		tids_jw_key(&o->jw, "tier");
		tids_jw_string(&o->jw, tids_tier_name(s->tier));
		tids_jw_key(&o->jw, "category");
		tids_jw_string(&o->jw, s->category);
		tids_jw_key(&o->jw, "origin");
		tids_jw_string(&o->jw, s->origin);
		tids_jw_key(&o->jw, "destination");
		tids_jw_string(&o->jw, s->destination);
		tids_jw_key(&o->jw, "count");
		tids_jw_uint64(&o->jw, s->count);
		tids_jw_object_end(&o->jw);
		if (!audit_flush(&o->jw, stdout) || putchar('\n') == EOF)
			o->io_error = true;
		return o->io_error ? TIDS_EIO : 0;
	}
	snprintf(count, sizeof(count), "%llu", (unsigned long long)s->count);
	{
		const char *cells[] = { tids_decision_name(s->decision), tids_tier_name(s->tier), s->category,
					*s->origin != '\0' ? s->origin : "-", *s->destination != '\0' ? s->destination : "-",
					count };

		table_row(&o->t, cells);
	}
	return 0;
}

int audit_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' }, { "by-country", no_argument, NULL, 'C' },
		{ "format", required_argument, NULL, 'f' }, { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char *const head[] = { "DECISION", "TIER", "CATEGORY", "FROM", "TO", "COUNT" };
	static const char *const csv_head[] = { "decision", "tier", "category", "origin", "destination", "count" };
	struct stats_out o = { .fmt = FMT_TABLE };
	const char *path = audit_default_ledger();
	int64_t since = 0, until = 0;
	bool by_country = false;
	struct tids_ledger *l;
	char err[512];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 's': if (cli_time(optarg, &since) != 0) return EXIT_USAGE; break;
		case 'u': if (cli_time(optarg, &until) != 0) return EXIT_USAGE; break;
		case 'C': by_country = true; break;
		case 'f': if (parse_format(optarg, &o.fmt) != 0) return EXIT_USAGE; break;
		case 'J': o.fmt = FMT_JSONL; break;
		case 'h': fputs(stats_help, stdout); return EXIT_OK;
		default: return cli_usage(stats_help);
		}
	}
	if (optind != argc)
		return cli_usage(stats_help);
	if (audit_check_range(since, until) != 0)
		return EXIT_USAGE;
	if ((l = audit_open(path, false)) == NULL)
		return EXIT_FAIL;
	tids_jw_init(&o.jw);
	o.t.fmt = o.fmt;
	o.t.cols = 6;
	if (o.fmt != FMT_JSONL)
		table_row(&o.t, o.fmt == FMT_CSV ? csv_head : head);
	r = tids_ledger_stats(l, since, until, by_country, stats_row, &o, err, sizeof(err));
	if (o.fmt == FMT_TABLE) {
		char total[24];
		const char *cells[] = { "total", "", "", "", "", total };

		snprintf(total, sizeof(total), "%llu", (unsigned long long)o.total);
		table_row(&o.t, cells);
		table_print(&o.t);
	}
	tids_jw_free(&o.jw);
	tids_ledger_close(l);
	if (r != 0)
		return cli_fail("%s", o.io_error ? "writing the output failed" : err);
	return fflush(stdout) == 0 ? EXIT_OK : cli_fail("writing the output failed");
}
