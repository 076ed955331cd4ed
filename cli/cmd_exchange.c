/*
 * tidsctl ping, publish and subscribe: a participant's side of the
 * exchange. publish reads records as JSON lines and sends them in signed
 * batches; subscribe prints deliveries as JSON lines and acknowledges each
 * once it is written out. Both can keep the hub's receipts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "tids/error.h"
#include "tids/json.h"
#include "tids/receipt.h"
#include "tidsctl.h"

static const char ping_help[] =
	"usage: tidsctl ping [CONNECTION]\n"
	"Connects, runs the handshake and prints the hub and who it says you are\n"
	"(--json: {\"hub_id\", \"participant\"}, participant \"\" on the local socket).\n" CONN_HELP;

int tidsctl_ping(int argc, char **argv)
{
	static const struct option longopts[] = { CONN_LONG_OPTIONS, { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	struct conn_opts co;
	struct tids_client *c;
	char who[TIDS_ID_MAX + 1], err[512];
	int opt, rc = EXIT_OK;

	conn_opts_init(&co, TIDSCTL_DEFAULT_SOCKET);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		if (opt == 'h') {
			fputs(ping_help, stdout);
			return EXIT_OK;
		}
		return cli_usage(ping_help);
	}
	c = cli_connect(&co, NULL);
	if (c == NULL)
		return EXIT_FAIL;
	if (tids_client_ping(c, who, sizeof(who), err, sizeof(err)) != 0) {
		rc = cli_fail("ping: %s", err);
	} else if (co.json) {
		struct tids_jw w;

		/* participant is "" on the local admin socket. */
		cli_json_begin(&w);
		tids_jw_key(&w, "hub_id");
		tids_jw_string(&w, tids_client_hub_id(c));
		tids_jw_key(&w, "participant");
		tids_jw_string(&w, who);
		rc = cli_json_end(&w);
	} else {
		printf("hub %s: you are %s\n", tids_client_hub_id(c), *who != '\0' ? who : "the local administrator");
	}
	tids_client_free(c);
	return rc;
}

static const char publish_help[] =
	"usage: tidsctl publish [CONNECTION] [--batch N] [--seq N] [--receipts DIR] < records.jsonl\n"
	"Publishes records given as JSON lines (see tidsctl(1) for the record form),\n"
	"in batches of N (default 100, at most 1000), each signed once with your key.\n"
	"--seq is the first batch sequence number (default: the time in microseconds).\n"
	"--receipts DIR keeps the hub's signed receipt of each batch (where each record\n"
	"went) in a new file in DIR, for tidsctl audit verify --receipts.\n"
	"Exit status 1 if any record was refused (each refusal is printed), or a\n"
	"receipt is missing or does not verify with the hub's key. --json prints\n"
	"{\"accepted\", \"refused\", \"errors\": [{\"line\", \"code\", \"message\"}]} at the end.\n" CONN_HELP;

/* Where publish keeps its receipts. */
struct receipts_out {
	FILE *f;
	const char *dir;
	struct tids_jw w;
};

struct pending_records {
	struct tids_bytes *recs;
	unsigned *lines;
	size_t n, cap;
};

static void pending_clear(struct pending_records *p)
{
	for (size_t i = 0; i < p->n; i++)
		free((void *)p->recs[i].data);
	p->n = 0;
}

/* One refused line in the --json result's errors. */
static void json_refusal(struct tids_jw *w, unsigned line, int code, const char *message)
{
	if (w == NULL)
		return;
	tids_jw_object_begin(w);
	tids_jw_key(w, "line");
	tids_jw_uint64(w, line);
	tids_jw_key(w, "code");
	tids_jw_int64(w, code);
	tids_jw_key(w, "message");
	tids_jw_string(w, message);
	tids_jw_object_end(w);
}

static int flush_batch(struct tids_client *c, const struct tids_identity *id, const char *me, uint64_t *seq,
		       struct pending_records *p, struct receipts_out *ro, size_t *accepted, size_t *refused,
		       struct tids_jw *errors)
{
	struct tids_publish_ack ack;
	char err[512];
	int rc = 0, r;

	if (p->n == 0)
		return 0;
	r = tids_client_publish(c, id, me, *seq, p->recs, p->n, &ack, err, sizeof(err));
	if (r != 0 && r != TIDS_EBADSIG) {
		rc = cli_fail("batch %llu (lines %u-%u): %s", (unsigned long long)*seq, p->lines[0], p->lines[p->n - 1], err);
		*refused += p->n;
		for (size_t i = 0; i < p->n; i++)
			json_refusal(errors, p->lines[i], r == TIDS_EDENIED ? tids_client_status(c) : tids_error_code(r), err);
	} else {
		*accepted += ack.accepted;
		*refused += ack.n_errors;
		for (size_t i = 0; i < ack.n_errors; i++) {
			unsigned line = ack.errors[i].index < p->n ? p->lines[ack.errors[i].index] : 0;

			fprintf(stderr, "tidsctl: line %u refused: %s\n", line, ack.errors[i].message);
			json_refusal(errors, line, ack.errors[i].code, ack.errors[i].message);
		}
		/* Acknowledged, but the hub's word on it is not good: say so. */
		if (r == TIDS_EBADSIG)
			rc = cli_fail("batch %llu (lines %u-%u) was acknowledged, but its receipt is not the hub's "
				      "statement of this batch: %s", (unsigned long long)*seq, p->lines[0],
				      p->lines[p->n - 1], err);
		else if (ro->f != NULL && ack.accepted > 0 && !ack.has_receipt)
			rc = cli_fail("batch %llu (lines %u-%u): the hub acknowledged it without a receipt",
				      (unsigned long long)*seq, p->lines[0], p->lines[p->n - 1]);
		else if (ro->f != NULL && ack.has_receipt) {
			tids_jw_reset(&ro->w);
			tids_receipt_line_ingest(&ro->w, &ack.receipt);
			rc = cli_receipts_write(ro->f, ro->dir, &ro->w);
		}
		tids_publish_ack_free(&ack);
	}
	(*seq)++;
	pending_clear(p);
	return rc;
}

int tidsctl_publish(int argc, char **argv)
{
	static const struct option longopts[] = { CONN_LONG_OPTIONS, { "batch", required_argument, NULL, 'b' },
						  { "seq", required_argument, NULL, 's' },
						  { "receipts", required_argument, NULL, 'R' },
						  { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct pending_records p = { 0 };
	struct receipts_out ro = { 0 };
	struct tids_identity id;
	struct conn_opts co;
	struct tids_client *c;
	struct timeval tv;
	char *line = NULL, me[TIDS_ID_MAX + 1], err[512];
	size_t cap = 0, batch = 100, accepted = 0, refused = 0;
	struct tids_jw result, *errs = NULL;
	uint64_t num;
	uint64_t seq;
	unsigned lineno = 0;
	ssize_t len;
	int opt, rc = EXIT_OK;

	gettimeofday(&tv, NULL);
	seq = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	conn_opts_init(&co, NULL);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		switch (opt) {
		case 'b':
			if (cli_number("--batch", optarg, 1, TIDS_BATCH_RECORDS_MAX, &num) != 0)
				return EXIT_USAGE;
			batch = (size_t)num;
			break;
		case 's':
			if (cli_number("--seq", optarg, 1, UINT64_MAX, &seq) != 0)
				return EXIT_USAGE;
			break;
		case 'R':
			ro.dir = optarg;
			break;
		case 'h':
			fputs(publish_help, stdout);
			return EXIT_OK;
		default:
			return cli_usage(publish_help);
		}
	}
	c = cli_connect(&co, &id);
	if (c == NULL)
		return EXIT_FAIL;
	/* Ask the hub who we are: that is the publisher the batch must name. */
	if (tids_client_ping(c, me, sizeof(me), err, sizeof(err)) != 0 || *me == '\0') {
		rc = cli_fail("publishing needs a participant connection: %s", *err ? err : "use --hub host:port");
		goto out;
	}
	tids_jw_init(&ro.w);
	if (ro.dir != NULL && (ro.f = cli_receipts_open(ro.dir, tids_client_hub_id(c), "publish")) == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	if (co.json) {
		errs = &result;
		cli_json_begin(errs);
		tids_jw_key(errs, "errors");
		tids_jw_array_begin(errs);
	}
	p.recs = calloc(batch, sizeof(*p.recs));
	p.lines = calloc(batch, sizeof(*p.lines));
	if (p.recs == NULL || p.lines == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		struct tids_json_doc *doc;
		struct tids_record rec;
		uint8_t *buf;
		size_t blen;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		if (tids_json_parse(line, (size_t)len, &doc, err, sizeof(err)) != 0) {
			rc = cli_fail("line %u: %s", lineno, err);
			goto out;
		}
		if (tids_json_to_record(tids_json_root(doc), &rec, err, sizeof(err)) != 0) {
			tids_json_free(doc);
			rc = cli_fail("line %u: %s", lineno, err);
			goto out;
		}
		tids_json_free(doc);
		if (tids_wire_encode_record(&rec, &buf, &blen) != 0) {
			tids_record_free(&rec);
			rc = cli_fail("out of memory");
			goto out;
		}
		tids_record_free(&rec);
		p.recs[p.n] = (struct tids_bytes){ buf, blen };
		p.lines[p.n++] = lineno;
		if (p.n == batch && flush_batch(c, &id, me, &seq, &p, &ro, &accepted, &refused, errs) != 0)
			rc = EXIT_FAIL;
	}
	if (flush_batch(c, &id, me, &seq, &p, &ro, &accepted, &refused, errs) != 0)
		rc = EXIT_FAIL;
	if (errs != NULL) {
		tids_jw_array_end(errs);
		tids_jw_key(errs, "accepted");
		tids_jw_uint64(errs, accepted);
		tids_jw_key(errs, "refused");
		tids_jw_uint64(errs, refused);
		errs = NULL;
		if (cli_json_end(&result) != EXIT_OK)
			rc = EXIT_FAIL;
	} else {
		printf("published %zu records; %zu refused\n", accepted, refused);
	}
	if (refused > 0)
		rc = EXIT_FAIL;
out:
	if (ro.f != NULL && (fsync(fileno(ro.f)) != 0 || fclose(ro.f) != 0))
		rc = cli_fail("receipts in %s could not be written", ro.dir);
	tids_jw_free(&ro.w);
	if (errs != NULL)
		tids_jw_free(errs);
	pending_clear(&p);
	free(p.recs);
	free(p.lines);
	free(line);
	tids_identity_wipe(&id);
	tids_client_free(c);
	return rc;
}

static const char subscribe_help[] =
	"usage: tidsctl subscribe [CONNECTION] --purpose P [--purpose P]... [--window N]\n"
	"                         [--count N] [--idle SEC] [--after SEQ] [--state FILE]\n"
	"                         [--publisher-key ID=KEY]... [--receipts DIR]\n"
	"Receives your deliveries for the purposes named (they stand: the hub routes\n"
	"to you for them from now on) and prints each as a JSON line, acknowledging it\n"
	"once written (with or without --json: deliveries are always JSON lines).\n"
	"Stops after --count deliveries or --idle seconds without one.\n"
	"A hub that crashed may send again what was acknowledged just before, with\n"
	"the same delivery_seq: --after SEQ drops deliveries up to SEQ, and --state\n"
	"FILE keeps the last delivery_seq printed in FILE and resumes after it.\n"
	"The hub refuses a purpose your role may not ask for (its policies declare\n"
	"them per role), and one that needs a case (legal_request) without an open case.\n"
	"A record from another hub carries its provenance; with the publisher's key\n"
	"(base64 or @file.pub) it is checked, and \"verified\" says the outcome: true\n"
	"(signed by the publisher, as delivered), \"as published\" (the publisher\n"
	"signed the record before a transformation), or why not.\n"
	"--receipts DIR keeps each delivery's receipt (its audit entry and the hub's\n"
	"signed chain head) in a new file in DIR, for tidsctl audit verify --receipts;\n"
	"a delivery whose receipt is missing or does not verify is not acknowledged.\n" CONN_HELP;

struct publisher_keys {
	const char *ids[16];
	uint8_t keys[16][32];
	size_t n;
};

static void write_provenance(struct tids_jw *w, const struct tids_delivery *d, const struct publisher_keys *pk)
{
	const struct tids_provenance *p = &d->provenance;
	char err[256], entry[300];
	bool covers;
	int r;

	tids_jw_key(w, "provenance");
	tids_jw_object_begin(w);
	tids_jw_key(w, "hub");
	tids_jw_string(w, p->hub_id);
	tids_jw_key(w, "publisher");
	tids_jw_string(w, p->publisher);
	tids_jw_key(w, "hops");
	tids_jw_uint64(w, p->hops);
	snprintf(entry, sizeof(entry), "%s:%d:%llu", p->export_hub, (int)p->export_partition,
		 (unsigned long long)p->export_seq);
	tids_jw_key(w, "export_entry");
	tids_jw_string(w, entry);
	for (size_t i = 0; i < pk->n; i++) {
		if (strcmp(pk->ids[i], p->publisher) != 0)
			continue;
		r = tids_provenance_verify(d, pk->keys[i], &covers, err, sizeof(err));
		tids_jw_key(w, "verified");
		if (r == 0 && covers)
			tids_jw_bool(w, true);
		else
			tids_jw_string(w, r == 0 ? "as published" : err);
	}
	tids_jw_object_end(w);
}

/* The last delivery_seq a --state file holds; 0 for a file not there. */
static int state_read(const char *path, uint64_t *seq)
{
	char buf[32], *end;
	FILE *f = fopen(path, "r");
	size_t n;

	*seq = 0;
	if (f == NULL)
		return errno == ENOENT ? 0 : cli_fail("--state %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	errno = 0;
	*seq = strtoull(buf, &end, 10);
	if (n == 0 || end == buf || (*end != '\n' && *end != '\0') || errno != 0 || buf[0] == '-')
		return cli_fail("--state %s: not a delivery_seq written by tidsctl subscribe", path);
	return 0;
}

/* Replaces the file whole (a crash leaves the old number or the new). */
static int state_write(const char *path, uint64_t seq)
{
	char tmp[4096], line[32];
	int fd, n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)seq);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;

		if (fd >= 0)
			unlink(tmp);
		return cli_fail("--state %s: %s", path, strerror(e));
	}
	return 0;
}

static void write_strlist(struct tids_jw *w, const char *key, const struct tids_strlist *l)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < l->n; i++)
		tids_jw_string(w, l->items[i]);
	tids_jw_array_end(w);
}

static void write_delivery(struct tids_jw *w, const struct tids_delivery *d, const struct publisher_keys *pk)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "delivery_seq");
	tids_jw_uint64(w, d->delivery_seq);
	tids_jw_key(w, "decision");
	tids_jw_string(w, tids_decision_name(d->decision));
	tids_jw_key(w, "purpose");
	tids_jw_string(w, d->purpose);
	write_strlist(w, "rule_ids", &d->rule_ids);
	if (*d->grant_id != '\0') {
		tids_jw_key(w, "grant_id");
		tids_jw_string(w, d->grant_id);
	}
	if (*d->notification_for != '\0') {
		tids_jw_key(w, "notification_for");
		tids_jw_string(w, d->notification_for);
	}
	tids_jw_key(w, "obligations");
	tids_jw_obligations(w, &d->obligations);
	if (d->provenance.present)
		write_provenance(w, d, pk);
	tids_jw_key(w, "record");
	tids_jw_record(w, &d->record);
	tids_jw_object_end(w);
}

int tidsctl_subscribe(int argc, char **argv)
{
	static const struct option longopts[] = { CONN_LONG_OPTIONS, { "purpose", required_argument, NULL, 'p' },
						  { "window", required_argument, NULL, 'w' },
						  { "count", required_argument, NULL, 'c' },
						  { "idle", required_argument, NULL, 'i' },
						  { "after", required_argument, NULL, 'a' },
						  { "state", required_argument, NULL, 's' },
						  { "publisher-key", required_argument, NULL, 'k' },
						  { "receipts", required_argument, NULL, 'R' },
						  { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct publisher_keys pk = { .n = 0 };
	struct strv purposes = { 0 };
	struct receipts_out ro = { 0 };
	struct conn_opts co;
	struct tids_client *c;
	struct tids_jw w;
	char err[512];
	const char *state = NULL;
	uint64_t after = 0;
	unsigned long window = 100, count = 0, got = 0;
	uint64_t num, held = 0;
	int idle_ms = -1, opt, rc = EXIT_OK;

	conn_opts_init(&co, NULL);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (conn_opts_parse(&co, opt, optarg))
			continue;
		switch (opt) {
		case 'p': strv_add(&purposes, optarg); break;
		case 'w':
			if (cli_number("--window", optarg, 1, 10000, &num) != 0) {
				strv_free(&purposes);
				return EXIT_USAGE;
			}
			window = (unsigned long)num;
			break;
		case 'c':
			if (cli_number("--count", optarg, 1, UINT32_MAX, &num) != 0) {
				strv_free(&purposes);
				return EXIT_USAGE;
			}
			count = (unsigned long)num;
			break;
		case 'i':
			if (cli_number("--idle", optarg, 0, 86400, &num) != 0) {
				strv_free(&purposes);
				return EXIT_USAGE;
			}
			idle_ms = (int)num * 1000;
			break;
		case 'a':
			if (cli_number("--after", optarg, 0, UINT64_MAX, &num) != 0) {
				strv_free(&purposes);
				return EXIT_USAGE;
			}
			after = num;
			break;
		case 's': state = optarg; break;
		case 'R': ro.dir = optarg; break;
		case 'k': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL || pk.n == 16) {
				strv_free(&purposes);
				return cli_fail("--publisher-key takes ID=KEY (at most 16)") + 1;
			}
			*eq = '\0';
			pk.ids[pk.n] = optarg;
			if (cli_public_key(eq + 1, pk.keys[pk.n]) != 0) {
				strv_free(&purposes);
				return EXIT_USAGE;
			}
			pk.n++;
			break;
		}
		case 'h': fputs(subscribe_help, stdout); strv_free(&purposes); return EXIT_OK;
		default: strv_free(&purposes); return cli_usage(subscribe_help);
		}
	}
	if (purposes.n == 0) {
		strv_free(&purposes);
		return cli_fail("name at least one --purpose");
	}
	if (state != NULL && state_read(state, &held) != 0) {
		strv_free(&purposes);
		return EXIT_FAIL;
	}
	held = after > held ? after : held;
	c = cli_connect(&co, NULL);
	if (c == NULL) {
		strv_free(&purposes);
		return EXIT_FAIL;
	}
	tids_jw_init(&w);
	tids_jw_init(&ro.w);
	if (ro.dir != NULL && (ro.f = cli_receipts_open(ro.dir, tids_client_hub_id(c), "deliveries")) == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	tids_client_resume_after(c, held);
	if (tids_client_subscribe(c, purposes.items, purposes.n, (uint32_t)window, err, sizeof(err)) != 0) {
		rc = cli_fail("subscribe: %s", err);
		goto out;
	}
	while (count == 0 || got < count) {
		struct tids_delivery d;
		int r = tids_client_next_delivery(c, &d, idle_ms >= 0 ? idle_ms : 3600000, err, sizeof(err));

		if (r == 0 && idle_ms >= 0)
			break;
		if (r == 0)
			continue;
		if (r == TIDS_EBADSIG) {
			rc = cli_fail("delivery %llu: its receipt is not the hub's: %s; not acknowledged",
				      (unsigned long long)d.delivery_seq, err);
			tids_delivery_free(&d);
			break;
		}
		if (r < 0) {
			rc = cli_fail("%s", err);
			break;
		}
		if (ro.f != NULL) {
			const uint8_t *rid = d.source_record_id.len == TIDS_RECORD_ID_BYTES ? d.source_record_id.data
											   : d.record.record_id;

			if (!d.has_receipt) {
				rc = cli_fail("delivery %llu came without a receipt; not acknowledged",
					      (unsigned long long)d.delivery_seq);
				tids_delivery_free(&d);
				break;
			}
			tids_jw_reset(&ro.w);
			tids_receipt_line_delivery(&ro.w, &d.receipt, d.delivery_seq, rid);
			if (cli_receipts_write(ro.f, ro.dir, &ro.w) != 0) {
				rc = EXIT_FAIL;
				tids_delivery_free(&d);
				break;
			}
		}
		tids_jw_reset(&w);
		write_delivery(&w, &d, &pk);
		if (w.err == 0) {
			fwrite(w.buf, 1, w.len, stdout);
			fputc('\n', stdout);
		}
		/* Acknowledge only what is written out (and, with --state,
		 * remembered: what the hub sends again is then dropped). */
		if (fflush(stdout) != 0) {
			tids_delivery_free(&d);
			rc = cli_fail("stdout: %s", strerror(errno));
			break;
		}
		if (state != NULL && state_write(state, d.delivery_seq) != 0) {
			tids_delivery_free(&d);
			rc = EXIT_FAIL;
			break;
		}
		if (tids_client_ack(c, d.delivery_seq, err, sizeof(err)) != 0) {
			tids_delivery_free(&d);
			rc = cli_fail("ack: %s", err);
			break;
		}
		tids_delivery_free(&d);
		got++;
	}
	/* The hub has the last acks once it says the stream is over; closing
	 * with deliveries unread resets the connection, which can lose them. */
	if (tids_client_unsubscribe(c, 30000, err, sizeof(err)) != 0 && rc == EXIT_OK)
		rc = cli_fail("ending the stream: %s; the last deliveries may be sent again", err);
out:
	if (ro.f != NULL && (fsync(fileno(ro.f)) != 0 || fclose(ro.f) != 0))
		rc = cli_fail("receipts in %s could not be written", ro.dir);
	tids_jw_free(&ro.w);
	tids_jw_free(&w);
	strv_free(&purposes);
	tids_client_free(c);
	return rc;
}
