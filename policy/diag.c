/*
 * The diagnostics list compile and scenario parsing fill: file, line,
 * column, severity and message, kept in order for the CLI to print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct tids_policy_diags *tids_policy_diags_new(void)
{
	return calloc(1, sizeof(struct tids_policy_diags));
}

void tids_policy_diags_clear(struct tids_policy_diags *d)
{
	if (d == NULL)
		return;
	free(d->items);
	pol_arena_free(&d->strings);
	memset(d, 0, sizeof(*d));
}

void tids_policy_diags_free(struct tids_policy_diags *d)
{
	if (d == NULL)
		return;
	tids_policy_diags_clear(d);
	free(d);
}

size_t tids_policy_diags_count(const struct tids_policy_diags *d)
{
	return d != NULL ? d->n : 0;
}

size_t tids_policy_diags_errors(const struct tids_policy_diags *d)
{
	return d != NULL ? d->n_errors : 0;
}

size_t tids_policy_diags_warnings(const struct tids_policy_diags *d)
{
	return d != NULL ? d->n_warnings : 0;
}

const struct tids_policy_diag *tids_policy_diags_at(const struct tids_policy_diags *d, size_t i)
{
	if (d == NULL || i >= d->n)
		return NULL;
	return &d->items[i];
}

int tids_policy_diag_format(const struct tids_policy_diag *d, char *buf, size_t len)
{
	return snprintf(buf, len, "%s:%u:%u: %s: %s", d->file, d->line, d->col,
			d->severity == TIDS_POLICY_ERROR ? "error" : "warning", d->message);
}

/* Keeps the last file name copied: diagnostics come in runs per file. */
static const char *intern_file(struct tids_policy_diags *d, const char *file)
{
	if (d->n > 0 && d->items[d->n - 1].file != NULL && strcmp(d->items[d->n - 1].file, file) == 0)
		return d->items[d->n - 1].file;
	return pol_arena_strndup(&d->strings, file, strlen(file));
}

void pol_vdiag(struct tids_policy_diags *d, enum tids_policy_severity sev, const char *file,
	       unsigned line, unsigned col, const char *fmt, va_list ap)
{
	if (d == NULL)
		return;
	if (sev == TIDS_POLICY_ERROR)
		d->n_errors++;
	else
		d->n_warnings++;
	if (d->n >= TIDS_POLICY_DIAGS_MAX) {
		d->dropped++;
		return;
	}
	if (d->items == NULL) {
		d->items = calloc(TIDS_POLICY_DIAGS_MAX, sizeof(*d->items));
		if (d->items == NULL)
			return;
	}
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *f = intern_file(d, file != NULL ? file : "<policy>");
	const char *m = pol_arena_strndup(&d->strings, msg, strlen(msg));
	if (f == NULL || m == NULL)
		return;
	d->items[d->n++] = (struct tids_policy_diag){
		.file = f, .line = line, .col = col, .severity = sev, .message = m,
	};
}

void pol_diag(struct tids_policy_diags *d, enum tids_policy_severity sev, const char *file,
	      unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pol_vdiag(d, sev, file, line, col, fmt, ap);
	va_end(ap);
}
