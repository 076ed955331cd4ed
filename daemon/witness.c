/*
 * Witnessing: the peers keep each other's signed chain heads. Ours are read
 * from the ledger and sent to every peer pulling from us; theirs, received
 * on our links and checked with their keys, go to a witness file per peer
 * (state.dir/witness/<peer>.witness), which an auditor gives to
 * `tidsctl audit verify --witness` to catch a hub that rewrote or cut its
 * history after the heads left it. The file is in the format of the
 * participants' receipts (one {"kind":"head"} line per chain, its newest
 * signed head), so the same checker holds a ledger to both; a file of the
 * first format ("witness ..." lines) is read as well.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "federation.h"
#include "tids/error.h"
#include "tids/receipt.h"

#define WITNESS_PARTITIONS_MAX 1024

static void witness_path(const struct tidsd *d, const char *peer, char *buf, size_t len)
{
	char dir[4096];

	config_state_path(d->conf, "witness", dir, sizeof(dir));
	snprintf(buf, len, "%s/%s.witness", dir, peer);
}

/* Rewrites the file whole (temp file, fsync, rename): a crash leaves the
 * old one or the new one, never half of either. */
static int write_file(struct tidsd *d, struct fed_peer *p)
{
	char dir[4096], path[4400], tmp[4500];
	struct tids_jw w;
	FILE *f;
	int fd, r = 0;

	config_state_path(d->conf, "witness", dir, sizeof(dir));
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return TIDS_EIO;
	witness_path(d, p->id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		return TIDS_EIO;
	}
	tids_jw_init(&w);
	for (size_t i = 0; i < p->n_witness && r == 0; i++) {
		uint8_t *head;
		size_t len;

		if (p->witness[i].seq == 0)
			continue;
		if (tids_wire_encode_audit_checkpoint(&p->witness[i], &head, &len) != 0) {
			r = TIDS_ENOMEM;
			break;
		}
		tids_jw_reset(&w);
		tids_receipt_line_head(&w, head, len);
		free(head);
		if (w.err != 0 || fwrite(w.buf, 1, w.len, f) != w.len || fputc('\n', f) == EOF)
			r = TIDS_EIO;
	}
	tids_jw_free(&w);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		r = TIDS_EIO;
	if (fclose(f) != 0)
		r = TIDS_EIO;
	if (r == 0 && rename(tmp, path) != 0)
		r = TIDS_EIO;
	if (r != 0)
		unlink(tmp);
	return r;
}

static struct tids_audit_checkpoint *slot(struct fed_peer *p, int32_t partition)
{
	if (partition < 0 || partition >= WITNESS_PARTITIONS_MAX)
		return NULL;
	if ((size_t)partition >= p->n_witness) {
		size_t n = (size_t)partition + 1;
		struct tids_audit_checkpoint *grown = realloc(p->witness, n * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		memset(grown + p->n_witness, 0, (n - p->n_witness) * sizeof(*grown));
		p->witness = grown;
		p->n_witness = n;
	}
	return &p->witness[partition];
}

void witness_keep(struct tidsd *d, struct fed_peer *p, const struct tids_audit_checkpoint *cp)
{
	struct tids_audit_checkpoint *s;
	struct tids_witness w;

	tids_witness_from_checkpoint(cp, &w);
	if (strcmp(cp->hub_id, p->id) != 0 || !tids_witness_valid(&w, p->public_key)) {
		fed_peer_error(p, "a chain head it sent (%d:%llu) is not signed by its key; not kept",
			       (int)cp->partition, (unsigned long long)cp->seq);
		return;
	}
	s = slot(p, cp->partition);
	if (s == NULL || cp->seq <= s->seq)
		return;
	*s = *cp;
	s->hub_id = p->id;
	s->backing = NULL;
	if (cp->seq > p->witnessed_seq)
		p->witnessed_seq = cp->seq;
	if (write_file(d, p) != 0)
		fed_peer_error(p, "its witness file could not be written");
}

void witness_load(struct tidsd *d, struct fed_peer *p)
{
	char path[4400], err[256], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	FILE *f;

	witness_path(d, p->id, path, sizeof(path));
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct tids_receipt_line rl;
		struct tids_audit_checkpoint cp, *s;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		/* Ours, but read through the gate and checked with the key again. */
		if (tids_receipt_line_parse(line, (size_t)len, &rl, err, sizeof(err)) != 0 ||
		    (rl.kind != TIDS_RECEIPT_HEAD && snprintf(err, sizeof(err), "not a signed head") > 0)) {
			tids_log_warnx("federation: witness file %s:%u: %s; line skipped", path, lineno, err);
			tids_receipt_line_free(&rl);
			continue;
		}
		if (tids_receipt_head_open(rl.head.data, rl.head.len, p->public_key, &cp, err, sizeof(err)) != 0) {
			tids_log_warnx("federation: witness file %s:%u: %s; line skipped", path, lineno, err);
			tids_receipt_line_free(&rl);
			continue;
		}
		if (strcmp(cp.hub_id, p->id) == 0 && (s = slot(p, cp.partition)) != NULL && cp.seq > s->seq) {
			*s = cp;
			s->hub_id = p->id;
			s->backing = NULL;
			if (s->seq > p->witnessed_seq)
				p->witnessed_seq = s->seq;
		}
		tids_audit_checkpoint_free(&cp);
		tids_receipt_line_free(&rl);
	}
	free(line);
	fclose(f);
}

void witness_read_own(struct tidsd *d)
{
	struct federation *f = d->federation;
	int64_t now = mono_ms();
	size_t n = (size_t)d->conf->partitions;
	char path[4096], err[256];

	if (f->peers.n == 0 || now - f->heads_read_at < WITNESS_PUSH_MS)
		return;
	f->heads_read_at = now;
	if (f->ledger == NULL) {
		config_state_path(d->conf, "ledger.db", path, sizeof(path));
		if (tids_ledger_open(path, TIDS_LEDGER_RDONLY, &f->ledger, err, sizeof(err)) != 0)
			return;   /* the indexer has not made it yet */
	}
	if (n > f->n_heads) {
		struct tids_audit_checkpoint *grown = realloc(f->heads, n * sizeof(*grown));

		if (grown == NULL)
			return;
		memset(grown + f->n_heads, 0, (n - f->n_heads) * sizeof(*grown));
		f->heads = grown;
		f->n_heads = n;
	}
	for (size_t i = 0; i < n; i++) {
		struct tids_audit_checkpoint cp;

		if (tids_ledger_last_checkpoint(f->ledger, (int32_t)i, &cp) != 0)
			continue;
		if (cp.seq > f->heads[i].seq && strcmp(cp.hub_id, d->conf->hub_id) == 0) {
			f->heads[i] = cp;
			f->heads[i].hub_id = f->hub_id;
			f->heads[i].backing = NULL;
			f->heads_version++;
		}
		tids_audit_checkpoint_free(&cp);
	}
}
