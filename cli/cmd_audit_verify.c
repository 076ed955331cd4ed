/*
 * tidsctl audit verify and prune: recompute every chain against the hub's
 * key and name the first entry of each that does not match, and hold the
 * ledger to the receipts participants kept; remove whole signed segments
 * past their retention, only from a ledger that verifies.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <sodium.h>

#include "tids/error.h"
#include "tids/known_hubs.h"
#include "tids/receipt.h"
#include "cmd_audit.h"

static int64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A verdict other than held, kept for --json. */
struct problem {
	const char *file;
	unsigned line;
	enum tids_receipt_verdict verdict;
	char what[600];
};

struct problems {
	struct problem *items;
	size_t n, cap;
};

/* Pins: "pin PARTITION SEQ HEAD-HEX" lines, what verify --save-pins wrote. */
static int read_pins(const char *path, struct tids_ledger_pin **out, size_t *n)
{
	FILE *f = fopen(path, "re");
	char line[256], hex[2 * TIDS_HASH_BYTES + 2];
	unsigned lineno = 0;

	*out = NULL;
	*n = 0;
	if (f == NULL)
		return cli_fail("%s: cannot open", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		struct tids_ledger_pin pin;
		unsigned long long seq;
		int p;
		void *grown;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "pin %d %llu %65s", &p, &seq, hex) != 3 || p < 0 || seq == 0 ||
		    strlen(hex) != 2 * TIDS_HASH_BYTES ||
		    sodium_hex2bin(pin.head, TIDS_HASH_BYTES, hex, strlen(hex), NULL, NULL, NULL) != 0) {
			fclose(f);
			free(*out);
			*out = NULL;
			return cli_fail("%s:%u: not a pin line (pin PARTITION SEQ HEAD)", path, lineno);
		}
		pin.partition = p;
		pin.seq = seq;
		grown = realloc(*out, (*n + 1) * sizeof(**out));
		if (grown == NULL) {
			fclose(f);
			free(*out);
			*out = NULL;
			return cli_fail("out of memory");
		}
		*out = grown;
		(*out)[(*n)++] = pin;
	}
	fclose(f);
	return 0;
}

static int save_pins(const char *path, const struct tids_ledger_verify_report *rep)
{
	FILE *f = fopen(path, "we");
	char hex[2 * TIDS_HASH_BYTES + 1];

	if (f == NULL)
		return cli_fail("%s: cannot create", path);
	fprintf(f, "# the signed head of each chain, as tidsctl audit verify saw it\n");
	for (size_t i = 0; i < rep->n_chains; i++) {
		const struct tids_ledger_chain_report *c = &rep->chains[i];

		if (!c->ok || c->signed_seq == 0)
			continue;
		sodium_bin2hex(hex, sizeof(hex), c->signed_head, TIDS_HASH_BYTES);
		fprintf(f, "pin %d %llu %s\n", c->partition, (unsigned long long)c->signed_seq, hex);
	}
	if (fclose(f) != 0)
		return cli_fail("%s: write failed", path);
	return 0;
}

static void print_chain(const struct tids_ledger_chain_report *c)
{
	char t[32];

	if (!c->ok) {
		printf("chain %d: FAILED at %s %d:%llu: %s\n", c->partition, c->bad_checkpoint ? "checkpoint" : "entry",
		       c->partition, (unsigned long long)c->bad_seq, c->what);
		return;
	}
	printf("chain %d: ", c->partition);
	if (c->entries > 0)
		printf("entries %d:%llu..%d:%llu (%llu)", c->partition, (unsigned long long)c->first_seq, c->partition,
		       (unsigned long long)c->last_seq, (unsigned long long)c->entries);
	else
		printf("no entries");
	if (c->anchor_seq > 0)
		printf(", pruned through %llu (anchored)", (unsigned long long)c->anchor_seq);
	printf(", %llu checkpoints", (unsigned long long)c->checkpoints);
	if (c->signed_seq > 0) {
		audit_format_time(c->signed_at_ms, t);
		printf(", signed through %llu at %s", (unsigned long long)c->signed_seq, t);
	}
	if (c->unanchored > 0)
		printf(", %llu after the last checkpoint (not signed yet)", (unsigned long long)c->unanchored);
	printf(": OK\n");
}

/* One chain of a verification report as JSON. */
static void jw_chain(struct tids_jw *w, const struct tids_ledger_chain_report *c)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "partition");
	tids_jw_int64(w, c->partition);
	tids_jw_key(w, "ok");
	tids_jw_bool(w, c->ok);
	tids_jw_key(w, "first_seq");
	tids_jw_uint64(w, c->first_seq);
	tids_jw_key(w, "last_seq");
	tids_jw_uint64(w, c->last_seq);
	tids_jw_key(w, "entries");
	tids_jw_uint64(w, c->entries);
	tids_jw_key(w, "checkpoints");
	tids_jw_uint64(w, c->checkpoints);
	tids_jw_key(w, "anchor_seq");
	tids_jw_uint64(w, c->anchor_seq);
	tids_jw_key(w, "signed_seq");
	tids_jw_uint64(w, c->signed_seq);
	tids_jw_key(w, "signed_at_ms");
	tids_jw_int64(w, c->signed_at_ms);
	tids_jw_key(w, "unanchored");
	tids_jw_uint64(w, c->unanchored);
	tids_jw_key(w, "bad");
	if (c->ok) {
		tids_jw_null(w);
	} else {
		tids_jw_object_begin(w);
		tids_jw_key(w, "at");
		tids_jw_string(w, c->bad_checkpoint ? "checkpoint" : "entry");
		tids_jw_key(w, "seq");
		tids_jw_uint64(w, c->bad_seq);
		tids_jw_key(w, "what");
		tids_jw_string(w, c->what);
		tids_jw_object_end(w);
	}
	tids_jw_object_end(w);
}

/* verify --json: the whole report as one object; ok is the verdict. */
static int json_verify(const char *path, const char *hub_id, const struct tids_ledger_verify_report *rep, bool ok,
		       size_t n_witness, uint64_t witness_heads, const struct problems *wp)
{
	struct tids_jw w;

	cli_json_begin(&w);
	tids_jw_key(&w, "ledger");
	tids_jw_string(&w, path);
	tids_jw_key(&w, "hub_id");
	tids_jw_string(&w, hub_id);
	tids_jw_key(&w, "ok");
	tids_jw_bool(&w, ok);
	tids_jw_key(&w, "entries");
	tids_jw_uint64(&w, rep->entries);
	tids_jw_key(&w, "checkpoints");
	tids_jw_uint64(&w, rep->checkpoints);
	tids_jw_key(&w, "unanchored");
	tids_jw_uint64(&w, rep->unanchored);
	tids_jw_key(&w, "bad_chains");
	tids_jw_uint64(&w, rep->bad_chains);
	tids_jw_key(&w, "index_bad");
	if (rep->index_bad[0] != '\0')
		tids_jw_string(&w, rep->index_bad);
	else
		tids_jw_null(&w);
	tids_jw_key(&w, "seconds");
	tids_jw_double(&w, rep->seconds);
	tids_jw_key(&w, "chains");
	tids_jw_array_begin(&w);
	for (size_t i = 0; i < rep->n_chains; i++)
		jw_chain(&w, &rep->chains[i]);
	tids_jw_array_end(&w);
	if (n_witness > 0) {
		/* --witness: the heads checked, and each one not held. */
		tids_jw_key(&w, "witness_heads");
		tids_jw_uint64(&w, witness_heads);
		tids_jw_key(&w, "witness_problems");
		tids_jw_array_begin(&w);
		for (size_t i = 0; i < wp->n; i++) {
			tids_jw_object_begin(&w);
			tids_jw_key(&w, "file");
			tids_jw_string(&w, wp->items[i].file);
			tids_jw_key(&w, "line");
			tids_jw_uint64(&w, wp->items[i].line);
			tids_jw_key(&w, "verdict");
			tids_jw_string(&w, tids_receipt_verdict_name(wp->items[i].verdict));
			tids_jw_key(&w, "what");
			tids_jw_string(&w, wp->items[i].what);
			tids_jw_object_end(&w);
		}
		tids_jw_array_end(&w);
	}
	return cli_json_end(&w);
}

static const char verify_help[] =
	"usage: tidsctl audit verify [--ledger FILE] [--hub-key KEY] [--threads N] [--strict]\n"
	"                            [--pins FILE] [--save-pins FILE] [--witness FILE]...\n"
	"                            [--receipts DIR|FILE]... [--json]\n"
	"Recomputes every chain (hash = BLAKE2b(prev || entry)), checks every checkpoint's\n"
	"signature with the hub's public key KEY (base64 or @file.pub; or the key a\n"
	"known-hubs file pins for the ledger's hub), every index row against its\n"
	"entry, and a pruned prefix against its anchor. On any edit, deletion, insertion\n"
	"or reordering, names the first entry of the chain that does not match and exits 1.\n"
	"A tail cut off together with its checkpoints looks like a shorter ledger: only\n"
	"pins, witnesses or receipts reveal it. Prints entries/s.\n"
	"  --strict          fail also on entries after the last checkpoint (not signed yet)\n"
	"  --save-pins FILE  remember each chain's signed head; --pins FILE later requires\n"
	"                    them still there (catches a truncation that took checkpoints too)\n"
	"  --witness FILE    signed heads a peer hub kept of this hub (its state.dir/witness/HUB.witness):\n"
	"                    the ledger must still hold each, which catches a hub that rewrote or cut\n"
	"                    its history after the heads left it\n"
	"  --receipts DIR    the receipts participants kept (tidsctl publish/subscribe\n"
	"                    --receipts; every *.receipts file of DIR, or one FILE): each is\n"
	"                    checked with KEY, and every receipted entry or publication the\n"
	"                    ledger lacks is named\n"
	"  --known-hubs FILE without --hub-key, KEY is the one FILE pins for the ledger's hub\n"
	"                    (also TIDS_KNOWN_HUBS; e.g. ~/.config/tids/known_hubs)\n"
	"  --json            the report as one JSON object: ok, entries, checkpoints, chains[]\n"
	"                    (each with ok and, when bad, {at, seq, what})\n";

/* --- receipts ------------------------------------------------------------------ */

struct receipt_tally {
	uint64_t n[TIDS_RECEIPT_INVALID + 1];
	uint64_t files, bad_lines;
	bool heads_only;                 /* a witness file: signed heads only */
	struct problems *problems;       /* --json: kept here instead of printed */
};

static uint64_t tally_total(const struct receipt_tally *t)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= TIDS_RECEIPT_INVALID; i++)
		n += t->n[i];
	return n;
}

static bool tally_bad(const struct receipt_tally *t)
{
	return t->n[TIDS_RECEIPT_MISSING] + t->n[TIDS_RECEIPT_DIFFERS] + t->n[TIDS_RECEIPT_INVALID] > 0;
}

/* One verdict other than held: a line of text, or an object of --json. */
static void problem(struct receipt_tally *t, const char *path, unsigned lineno, enum tids_receipt_verdict v,
		    const char *what)
{
	struct problems *ps = t->problems;

	if (ps == NULL) {
		printf("%s:%u: %s: %s\n", path, lineno, tids_receipt_verdict_name(v), what);
		return;
	}
	if (ps->n == ps->cap) {
		size_t cap = ps->cap > 0 ? ps->cap * 2 : 8;
		struct problem *grown = realloc(ps->items, cap * sizeof(*grown));

		if (grown == NULL)
			return;   /* the counts still say it */
		ps->items = grown;
		ps->cap = cap;
	}
	ps->items[ps->n] = (struct problem){ .file = path, .line = lineno, .verdict = v };
	snprintf(ps->items[ps->n++].what, sizeof(ps->items[0].what), "%s", what);
}

static int check_receipt_file(struct tids_ledger *l, const uint8_t *pk, const char *path, int64_t now,
			      struct receipt_tally *t)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, err[512];
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL)
		return cli_fail("%s: %s", path, strerror(errno));
	t->files++;
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		struct tids_receipt_line rl;
		struct tids_receipt_check res;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (tids_receipt_line_parse(line, (size_t)len, &rl, err, sizeof(err)) != 0 ||
		    (t->heads_only && rl.kind != TIDS_RECEIPT_HEAD &&
		     snprintf(err, sizeof(err), "a witness file holds signed chain heads only") > 0)) {
			char what[600];

			snprintf(what, sizeof(what), "not a %s: %s", t->heads_only ? "signed head" : "receipt", err);
			problem(t, path, lineno, TIDS_RECEIPT_INVALID, what);
			t->bad_lines++;
			t->n[TIDS_RECEIPT_INVALID]++;
			tids_receipt_line_free(&rl);
			continue;
		}
		if (tids_ledger_check_receipt(l, pk, &rl, now, &res) != 0) {
			rc = cli_fail("%s: cannot read the ledger", path);
		} else {
			t->n[res.verdict]++;
			if (res.verdict != TIDS_RECEIPT_HELD)
				problem(t, path, lineno, res.verdict, res.what);
		}
		tids_receipt_line_free(&rl);
	}
	free(line);
	fclose(f);
	return rc;
}

static int receipt_file_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 9 && strcmp(e->d_name + n - 9, ".receipts") == 0;
}

/* Every receipt under each path (a directory's *.receipts files in name
 * order, or a file); 0 when all are held or pruned. */
static int check_receipts(const char *ledger, const uint8_t *pk, const struct strv *paths, int64_t now)
{
	struct receipt_tally t = { 0 };
	struct tids_ledger *l = audit_open(ledger, false);
	int rc = EXIT_OK;

	if (l == NULL)
		return EXIT_FAIL;
	for (size_t i = 0; i < paths->n && rc == EXIT_OK; i++) {
		struct stat st;
		struct dirent **names;
		int n;

		if (stat(paths->items[i], &st) != 0) {
			rc = cli_fail("%s: %s", paths->items[i], strerror(errno));
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = check_receipt_file(l, pk, paths->items[i], now, &t) != 0 ? EXIT_FAIL : EXIT_OK;
			continue;
		}
		n = scandir(paths->items[i], &names, receipt_file_filter, alphasort);
		if (n < 0) {
			rc = cli_fail("%s: %s", paths->items[i], strerror(errno));
			break;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", paths->items[i], names[k]->d_name);
			if (rc == EXIT_OK && check_receipt_file(l, pk, path, now, &t) != 0)
				rc = EXIT_FAIL;
			free(names[k]);
		}
		free(names);
	}
	tids_ledger_close(l);
	if (rc != EXIT_OK)
		return rc;
	printf("receipts: %llu in %llu files: %llu held, %llu pruned, %llu missing, %llu differ, %llu invalid\n",
	       (unsigned long long)tally_total(&t), (unsigned long long)t.files, (unsigned long long)t.n[TIDS_RECEIPT_HELD],
	       (unsigned long long)t.n[TIDS_RECEIPT_PRUNED], (unsigned long long)t.n[TIDS_RECEIPT_MISSING],
	       (unsigned long long)t.n[TIDS_RECEIPT_DIFFERS], (unsigned long long)t.n[TIDS_RECEIPT_INVALID]);
	if (tally_bad(&t)) {
		printf("FAILED: the ledger does not hold what the hub signed for its participants (see above)\n");
		return EXIT_FAIL;
	}
	if (t.files == 0)
		printf("warning: no *.receipts file found: nothing was checked against receipts\n");
	return EXIT_OK;
}

/* Witness files: the signed chain heads a peer hub kept of this hub, in
 * the receipts' format (the first format's lines read as the same heads).
 * Each goes through the receipts' checker, verdicts and all: the ledger
 * must still hold every head. 0 when all are held or pruned; with
 * problems set (--json), verdicts other than held go there. */
static int check_witnesses(const char *ledger, const char *hub_id, const uint8_t *pk, const char *const *paths,
			   size_t n, int64_t now, struct problems *problems, uint64_t *heads)
{
	struct tids_ledger *l = audit_open(ledger, false);
	bool bad = false;

	if (l == NULL)
		return EXIT_FAIL;
	for (size_t i = 0; i < n; i++) {
		struct receipt_tally t = { .heads_only = true, .problems = problems };

		if (check_receipt_file(l, pk, paths[i], now, &t) != 0) {
			tids_ledger_close(l);
			return EXIT_FAIL;
		}
		*heads += tally_total(&t);
		if (problems == NULL)
			printf("witness %s: %llu signed heads of hub %s: %llu held, %llu pruned, %llu missing, %llu differ, "
			       "%llu invalid\n", paths[i], (unsigned long long)tally_total(&t),
			       *hub_id != '\0' ? hub_id : "?", (unsigned long long)t.n[TIDS_RECEIPT_HELD],
			       (unsigned long long)t.n[TIDS_RECEIPT_PRUNED], (unsigned long long)t.n[TIDS_RECEIPT_MISSING],
			       (unsigned long long)t.n[TIDS_RECEIPT_DIFFERS], (unsigned long long)t.n[TIDS_RECEIPT_INVALID]);
		if (tally_total(&t) == 0 && problems == NULL)
			printf("warning: witness %s holds no signed head: nothing was checked against it\n", paths[i]);
		bad |= tally_bad(&t);
	}
	tids_ledger_close(l);
	if (bad && problems == NULL)
		printf("FAILED: the ledger does not hold what the hub signed and a peer witnessed (see above): its "
		       "history was cut or rewritten\n");
	return bad ? EXIT_FAIL : EXIT_OK;
}

/* The hub key: --hub-key, else what the known-hubs file pins for the hub
 * the ledger names (a name from the file under check is only a lookup
 * key: a wrong one fails every signature). */
static int hub_key_of(const char *key, const char *known, const char *path, uint8_t pk[TIDS_PUBLIC_KEY_BYTES])
{
	struct tids_known_hub e;
	char hub_id[TIDS_ID_MAX + 1], file[4096], err[512];
	uint8_t stored[TIDS_PUBLIC_KEY_BYTES];
	struct tids_ledger *l;
	int r;

	if (key != NULL)
		return cli_public_key(key, pk) != 0 ? EXIT_USAGE : EXIT_OK;
	/* Only a file named here or in the environment: the key's source is
	 * the auditor's choice, never a default. */
	if (known == NULL)
		known = getenv(TIDS_KNOWN_HUBS_ENV);
	if (known == NULL || *known == '\0')
		return cli_fail("verify needs the hub's public key from a source you trust: --hub-key KEY, or "
				"--known-hubs FILE that pins it (the copy inside the ledger proves nothing)") + 1;
	snprintf(file, sizeof(file), "%s", known);
	if ((l = audit_open(path, false)) == NULL)
		return EXIT_FAIL;
	r = tids_ledger_hub(l, hub_id, stored);
	tids_ledger_close(l);
	if (r != 0)
		return cli_fail("verify needs the hub's public key from a source you trust: --hub-key KEY (the "
				"ledger names no hub to look up in %s)", file) + 1;
	if (tids_known_hubs_find(file, hub_id, pk, &e, err, sizeof(err)) != 0)
		return cli_fail("verify needs hub %s's public key from a source you trust: --hub-key KEY, or a "
				"known-hubs file that pins it (%s)", hub_id, err) + 1;
	fprintf(stderr, "tidsctl: the key of hub %s: pinned in %s:%u\n", hub_id, file, e.line);
	return EXIT_OK;
}


int audit_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "hub-key", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 'j' }, { "strict", no_argument, NULL, 'S' },
		{ "pins", required_argument, NULL, 'p' }, { "save-pins", required_argument, NULL, 'P' },
		{ "witness", required_argument, NULL, 'W' },
		{ "now", required_argument, NULL, 'N' }, { "json", no_argument, NULL, 'J' },
		{ "receipts", required_argument, NULL, 'R' }, { "known-hubs", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct tids_ledger_verify_opts o = { 0 };
	bool json = false;
	struct tids_ledger_verify_report rep;
	struct tids_ledger_pin *pins = NULL;
	struct strv receipts = { 0 };
	const char *path = audit_default_ledger(), *key = getenv("TIDS_HUB_KEY"), *pins_in = NULL, *pins_out = NULL;
	const char *known = NULL;
	const char *witness[16];
	size_t n_witness = 0;
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES], stored[TIDS_PUBLIC_KEY_BYTES];
	char hub_id[TIDS_ID_MAX + 1] = "", err[512];
	bool strict = false;
	struct tids_ledger *l;
	int opt, r, rc = EXIT_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 'k': key = optarg; break;
		case 'j': {
			uint64_t v;

			if (cli_number("--threads", optarg, 1, 256, &v) != 0)
				return EXIT_USAGE;
			o.threads = (unsigned)v;
			break;
		}
		case 'S': strict = true; break;
		case 'J': json = true; break;
		case 'p': pins_in = optarg; break;
		case 'P': pins_out = optarg; break;
		case 'W':
			if (n_witness == sizeof(witness) / sizeof(witness[0]))
				return cli_fail("at most %zu --witness files", sizeof(witness) / sizeof(witness[0])) + 1;
			witness[n_witness++] = optarg;
			break;
		case 'N': if (cli_time(optarg, &o.now_ms) != 0) return EXIT_USAGE; break;
		case 'R': strv_add(&receipts, optarg); break;
		case 'K': known = optarg; break;
		case 'h': fputs(verify_help, stdout); strv_free(&receipts); return EXIT_OK;
		default: strv_free(&receipts); return cli_usage(verify_help);
		}
	}
	if (optind != argc) {
		strv_free(&receipts);
		return cli_usage(verify_help);
	}
	if (json && receipts.n > 0) {
		strv_free(&receipts);
		return cli_fail("--receipts reports in text; it does not go with --json") + 1;
	}
	if ((rc = hub_key_of(key, known, path, pk)) != EXIT_OK) {
		strv_free(&receipts);
		return rc;
	}
	if (pins_in != NULL && read_pins(pins_in, &pins, &o.n_pins) != 0) {
		strv_free(&receipts);
		return EXIT_FAIL;
	}
	if ((l = audit_open(path, false)) == NULL) {
		free(pins);
		strv_free(&receipts);
		return EXIT_FAIL;
	}
	if (tids_ledger_hub(l, hub_id, stored) == 0) {
		if (!json)
			printf("ledger %s of hub %s\n", path, hub_id);
		if (sodium_memcmp(stored, pk, sizeof(pk)) != 0)
			fprintf(stderr, "tidsctl: warning: the ledger names another hub key than --hub-key; checking "
					"against --hub-key\n");
	} else {
		hub_id[0] = '\0';
	}
	tids_ledger_close(l);
	o.pins = pins;
	r = tids_ledger_verify(path, pk, &o, &rep, err, sizeof(err));
	free(pins);
	if (r != 0 && r != TIDS_EBADSIG) {
		strv_free(&receipts);
		return cli_fail("%s", err);
	}
	if (o.now_ms == 0)
		o.now_ms = wall_ms();
	if (json) {
		bool ok = rep.index_bad[0] == '\0' && rep.bad_chains == 0 && !(strict && rep.unanchored > 0);
		struct problems wp = { 0 };
		uint64_t heads = 0;

		if (n_witness > 0 && check_witnesses(path, hub_id, pk, witness, n_witness, o.now_ms, &wp, &heads) != 0)
			ok = false;
		rc = json_verify(path, hub_id, &rep, ok, n_witness, heads, &wp);
		free(wp.items);
		if (rc == EXIT_OK && !ok)
			rc = EXIT_FAIL;
		if (rc == EXIT_OK && pins_out != NULL && save_pins(pins_out, &rep) != 0)
			rc = EXIT_FAIL;
		tids_ledger_verify_report_free(&rep);
		strv_free(&receipts);
		return rc;
	}
	for (size_t i = 0; i < rep.n_chains; i++)
		print_chain(&rep.chains[i]);
	printf("verified %llu entries and %llu checkpoints in %.3f s (%.0f entries/s)\n",
	       (unsigned long long)rep.entries, (unsigned long long)rep.checkpoints, rep.seconds,
	       rep.seconds > 0 ? (double)rep.entries / rep.seconds : 0.0);
	if (rep.index_bad[0] != '\0') {
		printf("FAILED: the rule index of the classes was altered: %s\n", rep.index_bad);
		rc = EXIT_FAIL;
	}
	if (rep.bad_chains > 0) {
		printf("FAILED: %zu of %zu chains do not verify; the first bad entry of each is named above\n",
		       rep.bad_chains, rep.n_chains);
		rc = EXIT_FAIL;
	} else if (rep.unanchored > 0) {
		printf("%s: %llu entries after the last checkpoints are chained but not signed yet\n",
		       strict ? "FAILED" : "warning", (unsigned long long)rep.unanchored);
		if (strict)
			rc = EXIT_FAIL;
	}
	/* What the hub signed for others must be here too: checked whether
	 * the chains verified or not, so that every loss is named. */
	if (n_witness > 0) {
		uint64_t heads = 0;

		if (check_witnesses(path, hub_id, pk, witness, n_witness, o.now_ms, NULL, &heads) != EXIT_OK)
			rc = EXIT_FAIL;
	}
	if (receipts.n > 0 && check_receipts(path, pk, &receipts, o.now_ms) != EXIT_OK)
		rc = EXIT_FAIL;
	if (rc == EXIT_OK) {
		if (rep.n_chains == 0)
			printf("the ledger holds no chain yet\n");
		if (pins_in == NULL && receipts.n == 0 && n_witness == 0)
			printf("note: without --pins, --witness or --receipts this cannot tell whether the last entries "
			       "of a chain were cut off together with their checkpoints (a truncated tail looks like a "
			       "shorter ledger): keep receipts (tidsctl publish/subscribe --receipts), a peer's witness "
			       "or pins (--save-pins) to detect it\n");
		printf("OK\n");
		if (pins_out != NULL && save_pins(pins_out, &rep) != 0)
			rc = EXIT_FAIL;
	}
	strv_free(&receipts);
	tids_ledger_verify_report_free(&rep);
	if (fflush(stdout) != 0)
		return cli_fail("writing the output failed");
	return rc;
}

/* --- prune ----------------------------------------------------------------------- */

static const char prune_help[] =
	"usage: tidsctl audit prune [--ledger FILE] --hub-key KEY [--retain CLASS=DURATION]...\n"
	"                           [--save] [--dry-run]\n"
	"Removes from the start of each chain the whole signed segments in which every\n"
	"entry is past its retention, keeping the last removed segment's checkpoint as the\n"
	"anchor the rest verifies from. Refuses a ledger that does not verify with KEY.\n"
	"CLASS is general, important, core or export (origin and destination in different\n"
	"countries); an entry is kept for the longest of its classes. Defaults: general and\n"
	"important 183d, core and export 3y; shorter than that is refused. --save stores\n"
	"the periods in the ledger for later runs. DURATION: 183d, 26w, 3y, 4380h.\n"
	"--json prints {dry_run, retain_days, entries, segments, chains, checkpoints,\n"
	"publications}.\n";

int audit_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "hub-key", required_argument, NULL, 'k' },
		{ "retain", required_argument, NULL, 'r' }, { "save", no_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' }, { "now", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct {
		int cls;
		int64_t ms;
	} set[16];
	size_t n_set = 0;
	const char *path = audit_default_ledger(), *key = getenv("TIDS_HUB_KEY");
	struct tids_ledger_verify_opts vo = { 0 };
	struct tids_ledger_verify_report rep;
	struct tids_ledger_retention ret;
	struct tids_ledger_prune_result res;
	uint8_t pk[TIDS_PUBLIC_KEY_BYTES];
	bool save = false, dry = false, json = false;
	int64_t now = 0;
	struct tids_ledger *l;
	char err[512];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 'k': key = optarg; break;
		case 's': save = true; break;
		case 'n': dry = true; break;
		case 'J': json = true; break;
		case 'N': if (cli_time(optarg, &now) != 0) return EXIT_USAGE; break;
		case 'r': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || n_set == sizeof(set) / sizeof(set[0]))
				return cli_fail("--retain %s: CLASS=DURATION", optarg) + 1;
			*eq = '\0';
			if ((set[n_set].cls = tids_ledger_class_parse(optarg)) < 0)
				return cli_fail("--retain: '%s' is not general, important, core or export", optarg) + 1;
			if (audit_duration(eq + 1, &set[n_set].ms) != 0)
				return EXIT_USAGE;
			n_set++;
			break;
		}
		case 'h': fputs(prune_help, stdout); return EXIT_OK;
		default: return cli_usage(prune_help);
		}
	}
	if (optind != argc)
		return cli_usage(prune_help);
	if (key == NULL)
		return cli_fail("prune verifies the ledger first: --hub-key KEY") + 1;
	if (cli_public_key(key, pk) != 0)
		return EXIT_USAGE;
	if (now == 0)
		now = wall_ms();
	vo.now_ms = now;
	/* Never prune what does not verify: that would destroy the evidence. */
	r = tids_ledger_verify(path, pk, &vo, &rep, err, sizeof(err));
	if (r != 0 && r != TIDS_EBADSIG)
		return cli_fail("%s", err);
	if (rep.bad_chains > 0 || rep.index_bad[0] != '\0') {
		for (size_t i = 0; i < rep.n_chains; i++)
			if (!rep.chains[i].ok)
				print_chain(&rep.chains[i]);
		if (rep.index_bad[0] != '\0')
			printf("the rule index of the classes was altered: %s\n", rep.index_bad);
		tids_ledger_verify_report_free(&rep);
		return cli_fail("the ledger does not verify; nothing pruned");
	}
	tids_ledger_verify_report_free(&rep);
	if ((l = audit_open(path, !dry)) == NULL)
		return EXIT_FAIL;
	if (tids_ledger_retention(l, &ret) != 0) {
		tids_ledger_close(l);
		return cli_fail("%s: cannot read the retention periods", path);
	}
	for (size_t i = 0; i < n_set; i++)
		ret.ms[set[i].cls] = set[i].ms;
	if (tids_ledger_retention_check(&ret, err, sizeof(err)) != 0 ||
	    (save && !dry && tids_ledger_set_retention(l, &ret, err, sizeof(err)) != 0)) {
		tids_ledger_close(l);
		return cli_fail("%s", err);
	}
	for (int c = 0; c < TIDS_LEDGER_CLASSES && !json; c++)
		printf("retain %-9s %lld days\n", tids_ledger_class_name((enum tids_ledger_class)c),
		       (long long)(ret.ms[c] / TIDS_LEDGER_DAY_MS));
	r = tids_ledger_prune(l, &ret, now, dry, &res, err, sizeof(err));
	tids_ledger_close(l);
	if (r != 0)
		return cli_fail("%s", err);
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "dry_run");
		tids_jw_bool(&w, dry);
		tids_jw_key(&w, "retain_days");
		tids_jw_object_begin(&w);
		for (int c = 0; c < TIDS_LEDGER_CLASSES; c++) {
			tids_jw_key(&w, tids_ledger_class_name((enum tids_ledger_class)c));
			tids_jw_int64(&w, ret.ms[c] / TIDS_LEDGER_DAY_MS);
		}
		tids_jw_object_end(&w);
		tids_jw_key(&w, "entries");
		tids_jw_uint64(&w, res.entries);
		tids_jw_key(&w, "segments");
		tids_jw_uint64(&w, res.segments);
		tids_jw_key(&w, "chains");
		tids_jw_uint64(&w, res.chains);
		tids_jw_key(&w, "checkpoints");
		tids_jw_uint64(&w, res.checkpoints);
		tids_jw_key(&w, "publications");
		tids_jw_uint64(&w, res.ingress);
		return cli_json_end(&w);
	}
	printf("%s %llu entries in %llu segments from %zu chains, %llu checkpoints and %llu publications%s\n",
	       dry ? "would prune" : "pruned", (unsigned long long)res.entries, (unsigned long long)res.segments,
	       res.chains, (unsigned long long)res.checkpoints, (unsigned long long)res.ingress,
	       dry ? "" : "; each chain keeps its last removed checkpoint as its anchor");
	return fflush(stdout) == 0 ? EXIT_OK : cli_fail("writing the output failed");
}
