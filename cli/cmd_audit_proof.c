/*
 * tidsctl audit proof, check-proof and export: a self-contained proof of
 * what happened to one record, a signed bundle of the chains for a time
 * range, and the offline check of either with only public keys.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tids/error.h"
#include "cmd_audit.h"

static int write_file(void *ctx, const void *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : TIDS_EIO;
}

static FILE *open_out(const char *path)
{
	FILE *f;

	if (path == NULL || strcmp(path, "-") == 0)
		return stdout;
	f = fopen(path, "we");
	if (f == NULL)
		cli_fail("%s: %s", path, strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *path)
{
	if (f == stdout)
		return fflush(f) == 0 ? 0 : cli_fail("writing the output failed");
	return fclose(f) == 0 ? 0 : cli_fail("%s: write failed", path);
}

/* A whole small file (a record's bytes). */
static int read_small(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	uint8_t *buf;
	size_t n;

	if (f == NULL)
		return cli_fail("%s: %s", path, strerror(errno));
	buf = malloc(TIDS_RECORD_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return cli_fail("out of memory");
	}
	n = fread(buf, 1, TIDS_RECORD_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > TIDS_RECORD_MAX) {
		free(buf);
		return cli_fail("%s: not a serialized record (empty or over %u bytes)", path, TIDS_RECORD_MAX);
	}
	*out = buf;
	*len = n;
	return 0;
}

static int read_signer(const char *path, struct tids_identity *id)
{
	char err[512];

	if (tids_keyfile_read_identity(path, id, err, sizeof(err)) != 0)
		return cli_fail("%s", err);
	return 0;
}

/* --- proof ----------------------------------------------------------------------- */

static const char proof_help[] =
	"usage: tidsctl audit proof [--ledger FILE] [-o FILE] [--sign KEYFILE] [--record FILE] RECORD_ID\n"
	"Writes a self-contained proof of what happened to the record (32 hex digits): its\n"
	"audit entries with the chain segments around them up to checkpoints the hub\n"
	"signed, and the publisher's batch signature and Merkle path. tidsctl audit\n"
	"check-proof verifies it anywhere with only the hub's and the publisher's public\n"
	"keys. A record sealed at ingest (important, core) is in the ledger only as its\n"
	"leaf hash: --record FILE adds its serialized bytes (e.g. the publisher's copy) so\n"
	"that the proof binds the record itself. --sign adds your signature over the proof.\n"
	"--json (with -o) prints {\"file\", \"record_id\", \"signed\"}.\n";

int audit_proof(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "output", required_argument, NULL, 'o' },
		{ "sign", required_argument, NULL, 's' }, { "record", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = audit_default_ledger(), *out_path = NULL, *sign = NULL, *record_path = NULL;
	bool json = false;
	uint8_t record_id[TIDS_RECORD_ID_BYTES], *record = NULL;
	struct tids_bytes rec = { NULL, 0 };
	struct tids_identity signer;
	struct tids_ledger *l;
	char err[512];
	FILE *f;
	int opt, r, rc = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 'o': out_path = optarg; break;
		case 's': sign = optarg; break;
		case 'r': record_path = optarg; break;
		case 'J': json = true; break;
		case 'h': fputs(proof_help, stdout); return EXIT_OK;
		default: return cli_usage(proof_help);
		}
	}
	if (optind + 1 != argc)
		return cli_usage(proof_help);
	if (json && out_path == NULL) {
		fprintf(stderr, "tidsctl: error: proof --json describes the proof it wrote: give -o FILE\n");
		return EXIT_USAGE;
	}
	if (strlen(argv[optind]) != 2 * TIDS_RECORD_ID_BYTES ||
	    sodium_hex2bin(record_id, sizeof(record_id), argv[optind], strlen(argv[optind]), NULL, NULL, NULL) != 0)
		return cli_fail("'%s' is not a record id (32 hex digits)", argv[optind]) + 1;
	memset(&signer, 0, sizeof(signer));
	if (sign != NULL && read_signer(sign, &signer) != 0)
		return EXIT_FAIL;
	if (record_path != NULL && read_small(record_path, &record, &rec.len) != 0)
		goto out;
	rec.data = record;
	if ((l = audit_open(path, false)) == NULL)
		goto out;
	if ((f = open_out(out_path)) == NULL) {
		tids_ledger_close(l);
		goto out;
	}
	r = tids_ledger_proof(l, record_id, sign != NULL ? &signer : NULL, record != NULL ? &rec : NULL, write_file, f,
			      err, sizeof(err));
	tids_ledger_close(l);
	if (close_out(f, out_path) != 0)
		goto out;
	if (r != 0) {
		if (out_path != NULL)
			remove(out_path);
		cli_fail("%s", err);
		goto out;
	}
	rc = EXIT_OK;
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "file");
		tids_jw_string(&w, out_path);
		tids_jw_key(&w, "record_id");
		tids_jw_hex(&w, record_id, TIDS_RECORD_ID_BYTES);
		tids_jw_key(&w, "signed");
		tids_jw_bool(&w, sign != NULL);
		rc = cli_json_end(&w);
	}
out:
	tids_identity_wipe(&signer);
	free(record);
	return rc;
}

/* --- check-proof ------------------------------------------------------------------- */

struct pubkeys {
	struct {
		const char *id;              /* NULL: any publisher */
		uint8_t key[TIDS_PUBLIC_KEY_BYTES];
	} k[32];
	size_t n;
};

static const uint8_t *lookup_key(void *ctx, const char *publisher)
{
	struct pubkeys *ks = ctx;

	for (size_t i = 0; i < ks->n; i++)
		if (ks->k[i].id != NULL && strcmp(ks->k[i].id, publisher) == 0)
			return ks->k[i].key;
	for (size_t i = 0; i < ks->n; i++)
		if (ks->k[i].id == NULL)
			return ks->k[i].key;
	return NULL;
}

struct shown {
	bool quiet;
	uint64_t n;
};

static void show_entry(void *ctx, const struct tids_audit_entry *e, bool of_record)
{
	struct shown *s = ctx;
	char t[32];

	if (!of_record || s->quiet)
		return;
	if (s->n++ == 0)
		printf("  decisions about the record:\n");
	audit_format_time(e->decided_at_ms, t);
	printf("    %s  %d:%llu  %-9s %s for %s", t, e->partition, (unsigned long long)e->seq,
	       tids_decision_name(e->decision), e->recipient, *e->purpose != '\0' ? e->purpose : "-");
	for (size_t i = 0; i < e->rule_ids.n; i++)
		printf("%s%s", i == 0 ? " under " : ", ", e->rule_ids.items[i]);
	if (*e->grant_id != '\0')
		printf(" (grant %s)", e->grant_id);
	putchar('\n');
}

/* check-proof --json: the verdict and what it rests on. */
static int json_check(int r, const struct tids_proof_result *res)
{
	struct tids_jw w;
	char b64[TIDS_KEY_BASE64_BYTES];
	int rc;

	cli_json_begin(&w);
	tids_jw_key(&w, "valid");
	tids_jw_bool(&w, r == 0);
	if (r != 0) {
		tids_jw_key(&w, "bad_line");
		tids_jw_uint64(&w, res->bad_line);
		tids_jw_key(&w, "what");
		tids_jw_string(&w, res->what);
		rc = cli_json_end(&w);
		return rc == EXIT_OK ? EXIT_FAIL : rc;
	}
	tids_jw_key(&w, "kind");
	tids_jw_string(&w, res->kind == TIDS_PROOF_RECORD ? "proof" : "bundle");
	tids_jw_key(&w, "hub_id");
	tids_jw_string(&w, res->hub_id);
	if (res->kind == TIDS_PROOF_RECORD) {
		tids_jw_key(&w, "record_id");
		tids_jw_hex(&w, res->record_id, TIDS_RECORD_ID_BYTES);
		tids_jw_key(&w, "record_entries");
		tids_jw_uint64(&w, res->record_entries);
		tids_jw_key(&w, "publisher");
		tids_jw_string(&w, res->publisher);
		tids_jw_key(&w, "batch_sequence");
		tids_jw_uint64(&w, res->batch_sequence);
		tids_jw_key(&w, "record_bound");
		tids_jw_bool(&w, res->record_bound);
	} else {
		tids_jw_key(&w, "since_ms");
		tids_jw_int64(&w, res->since_ms);
		tids_jw_key(&w, "until_ms");
		tids_jw_int64(&w, res->until_ms);
		tids_jw_key(&w, "anchored_segments");
		tids_jw_uint64(&w, res->anchored_segments);
		tids_jw_key(&w, "publications_verified");
		tids_jw_uint64(&w, res->ingress_verified);
	}
	tids_jw_key(&w, "segments");
	tids_jw_uint64(&w, res->segments);
	tids_jw_key(&w, "entries");
	tids_jw_uint64(&w, res->entries);
	tids_jw_key(&w, "checkpoints");
	tids_jw_uint64(&w, res->checkpoints);
	tids_jw_key(&w, "publications");
	tids_jw_uint64(&w, res->ingress);
	tids_jw_key(&w, "signer");
	if (res->is_signed) {
		tids_key_to_base64(res->signer, b64);
		tids_jw_string(&w, b64);
	} else {
		tids_jw_null(&w);
	}
	return cli_json_end(&w);
}

static const char check_help[] =
	"usage: tidsctl audit check-proof --hub-key KEY [--publisher-key [ID=]KEY]...\n"
	"                                 [--signer-key KEY] [--record FILE] [--quiet] [--json] FILE\n"
	"Checks a proof (tidsctl audit proof) or a bundle (tidsctl audit export) offline:\n"
	"every chain segment hashes to a checkpoint that verifies with the hub's KEY, the\n"
	"record was published in a batch its publisher signed (--publisher-key; ID= when\n"
	"several), and no byte of the file was changed. --signer-key requires the file to\n"
	"be signed by that key. Keys are base64 or @file.pub. Exit 0 only if all holds.\n"
	"--json prints the verdict as one JSON object (\"valid\", and \"bad_line\" and \"what\"\n"
	"or what was checked).\n";

int audit_check_proof(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hub-key", required_argument, NULL, 'k' }, { "publisher-key", required_argument, NULL, 'p' },
		{ "signer-key", required_argument, NULL, 's' }, { "record", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' }, { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	bool json = false;
	struct pubkeys keys = { .n = 0 };
	struct shown shown = { false, 0 };
	struct tids_proof_opts o = { .publisher_key = lookup_key, .key_ctx = &keys, .on_entry = show_entry,
				     .entry_ctx = &shown };
	struct tids_proof_checker *c;
	struct tids_proof_result res;
	uint8_t hub[TIDS_PUBLIC_KEY_BYTES], signer[TIDS_PUBLIC_KEY_BYTES], *record = NULL;
	const char *hub_key = getenv("TIDS_HUB_KEY");
	char *line, t[32], u[32], hex[2 * TIDS_RECORD_ID_BYTES + 1], b64[TIDS_KEY_BASE64_BYTES];
	ssize_t len;
	FILE *f;
	int opt, r, rc = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': hub_key = optarg; break;
		case 'p': {
			char *eq = strchr(optarg, '=');

			if (keys.n == sizeof(keys.k) / sizeof(keys.k[0]))
				return cli_fail("too many --publisher-key") + 1;
			keys.k[keys.n].id = NULL;
			/* base64 keys end in '=' padding; "ID=KEY" has its '=' early. */
			if (eq != NULL && eq[1] != '\0' && eq[1] != '=') {
				*eq = '\0';
				keys.k[keys.n].id = optarg;
				optarg = eq + 1;
			}
			if (cli_public_key(optarg, keys.k[keys.n].key) != 0)
				return EXIT_USAGE;
			keys.n++;
			break;
		}
		case 's':
			if (cli_public_key(optarg, signer) != 0)
				return EXIT_USAGE;
			o.signer_pk = signer;
			break;
		case 'r':
			if (read_small(optarg, &record, &o.record.len) != 0)
				return EXIT_FAIL;
			o.record.data = record;
			break;
		case 'q': shown.quiet = true; break;
		case 'J': json = true; shown.quiet = true; break;
		case 'h': fputs(check_help, stdout); return EXIT_OK;
		default: return cli_usage(check_help);
		}
	}
	if (optind + 1 != argc) {
		free(record);
		return cli_usage(check_help);
	}
	if (hub_key == NULL || cli_public_key(hub_key, hub) != 0) {
		free(record);
		return hub_key == NULL ? cli_fail("check-proof needs the hub's public key: --hub-key KEY") + 1 : EXIT_USAGE;
	}
	o.hub_pk = hub;
	f = strcmp(argv[optind], "-") == 0 ? stdin : fopen(argv[optind], "re");
	if (f == NULL) {
		free(record);
		return cli_fail("%s: %s", argv[optind], strerror(errno));
	}
	if (tids_proof_checker_new(&o, &c) != 0) {
		fclose(f);
		free(record);
		return cli_fail("out of memory");
	}
	/* Bounded lines: the file is untrusted, and no line of the format is
	 * longer than TIDS_PROOF_LINE_MAX. */
	line = malloc(TIDS_PROOF_LINE_MAX + 2);
	if (line == NULL) {
		if (f != stdin)
			fclose(f);
		tids_proof_checker_free(c);
		free(record);
		return cli_fail("out of memory");
	}
	while (fgets(line, TIDS_PROOF_LINE_MAX + 2, f) != NULL) {
		bool whole;

		len = (ssize_t)strlen(line);
		/* A line too long, with a NUL inside, or without its '\n' (a
		 * truncation) goes in as an empty line, which is refused. */
		whole = len > 0 && line[len - 1] == '\n';
		if (tids_proof_checker_line(c, line, whole ? (size_t)len - 1 : 0) != 0 || !whole)
			break;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	r = tids_proof_checker_finish(c, &res);
	tids_proof_checker_free(c);
	free(record);
	if (json)
		return json_check(r, &res);
	if (r != 0) {
		printf("INVALID: line %llu: %s\n", (unsigned long long)res.bad_line, res.what);
		fflush(stdout);
		return EXIT_FAIL;
	}
	if (res.kind == TIDS_PROOF_RECORD) {
		sodium_bin2hex(hex, sizeof(hex), res.record_id, TIDS_RECORD_ID_BYTES);
		printf("proof of record %s on hub %s: VALID\n", hex, res.hub_id);
		printf("  %llu decision%s about it, in %llu chain segment%s of %llu entries, each ending at a checkpoint "
		       "the hub signed (%llu verified)\n", (unsigned long long)res.record_entries,
		       res.record_entries == 1 ? "" : "s", (unsigned long long)res.segments, res.segments == 1 ? "" : "s",
		       (unsigned long long)res.entries, (unsigned long long)res.checkpoints);
		if (res.ingress > 0)
			printf("  published by %s in batch %llu, signature verified with the publisher's key; %s\n",
			       res.publisher, (unsigned long long)res.batch_sequence,
			       res.record_bound ? "the record's bytes are included and hash to the signed leaf" :
						  "the record was sealed: only its leaf hash is included, so the link between "
						  "this record id and the signed leaf rests on the hub's word (add --record)");
		else
			printf("  no publication: the hub made this record (an aggregate)\n");
	} else {
		audit_format_time(res.since_ms, t);
		audit_format_time(res.until_ms, u);
		printf("bundle of hub %s from %s to %s: VALID\n", res.hub_id, res.since_ms != 0 ? t : "the start",
		       res.until_ms != 0 ? u : "the end");
		printf("  %llu entries in %llu chain segments (%llu anchored at a signed checkpoint or the chain's start), "
		       "%llu checkpoints verified with the hub key\n", (unsigned long long)res.entries,
		       (unsigned long long)res.segments, (unsigned long long)res.anchored_segments,
		       (unsigned long long)res.checkpoints);
		printf("  %llu publications, %llu of them verified with the publisher keys given\n",
		       (unsigned long long)res.ingress, (unsigned long long)res.ingress_verified);
	}
	if (res.is_signed) {
		tids_key_to_base64(res.signer, b64);
		printf("  signed by %s\n", b64);
	}
	rc = EXIT_OK;
	return fflush(stdout) == 0 ? rc : cli_fail("writing the output failed");
}

/* --- export ---------------------------------------------------------------------- */

static const char export_help[] =
	"usage: tidsctl audit export [--ledger FILE] --key KEYFILE [--since TIME] [--until TIME]\n"
	"                            [-o FILE]\n"
	"Writes a bundle of every chain from the last checkpoint before --since to the\n"
	"first after --until, with the publishers' batch material, signed with your\n"
	"identity KEYFILE. tidsctl audit check-proof --signer-key verifies it elsewhere.\n"
	"--json (with -o) prints {\"file\", \"signer\", \"unanchored_left_out\"}.\n";

int audit_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ledger", required_argument, NULL, 'L' }, { "key", required_argument, NULL, 'k' },
		{ "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
		{ "output", required_argument, NULL, 'o' }, { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *path = audit_default_ledger(), *key = getenv("TIDS_KEY"), *out_path = NULL;
	bool json = false;
	struct tids_identity signer;
	int64_t since = 0, until = 0;
	uint64_t unanchored = 0;
	char b64[TIDS_KEY_BASE64_BYTES], err[512];
	struct tids_ledger *l;
	FILE *f;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'L': path = optarg; break;
		case 'k': key = optarg; break;
		case 's': if (cli_time(optarg, &since) != 0) return EXIT_USAGE; break;
		case 'u': if (cli_time(optarg, &until) != 0) return EXIT_USAGE; break;
		case 'o': out_path = optarg; break;
		case 'J': json = true; break;
		case 'h': fputs(export_help, stdout); return EXIT_OK;
		default: return cli_usage(export_help);
		}
	}
	if (optind != argc)
		return cli_usage(export_help);
	if (json && out_path == NULL) {
		fprintf(stderr, "tidsctl: error: export --json describes the bundle it wrote: give -o FILE\n");
		return EXIT_USAGE;
	}
	if (audit_check_range(since, until) != 0)
		return EXIT_USAGE;
	if (key == NULL)
		return cli_fail("a bundle is signed: --key KEYFILE (or TIDS_KEY)");
	if (read_signer(key, &signer) != 0)
		return EXIT_FAIL;
	if ((l = audit_open(path, false)) == NULL) {
		tids_identity_wipe(&signer);
		return EXIT_FAIL;
	}
	if ((f = open_out(out_path)) == NULL) {
		tids_ledger_close(l);
		tids_identity_wipe(&signer);
		return EXIT_FAIL;
	}
	r = tids_ledger_export(l, since, until, &signer, write_file, f, &unanchored, err, sizeof(err));
	tids_ledger_close(l);
	tids_key_to_base64(signer.sign_pk, b64);
	tids_identity_wipe(&signer);
	if (close_out(f, out_path) != 0)
		return EXIT_FAIL;
	if (r != 0) {
		if (out_path != NULL)
			remove(out_path);
		return cli_fail("%s", err);
	}
	if (json) {
		struct tids_jw w;

		cli_json_begin(&w);
		tids_jw_key(&w, "file");
		tids_jw_string(&w, out_path);
		tids_jw_key(&w, "signer");
		tids_jw_string(&w, b64);
		tids_jw_key(&w, "unanchored_left_out");
		tids_jw_uint64(&w, unanchored);
		return cli_json_end(&w);
	}
	fprintf(stderr, "bundle signed by %s", b64);
	if (unanchored > 0)
		fprintf(stderr, "; %llu entries in the range are not signed by a checkpoint yet and were left out",
			(unsigned long long)unanchored);
	fputc('\n', stderr);
	return EXIT_OK;
}
