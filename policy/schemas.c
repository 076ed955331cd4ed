/*
 * Record schemas: per category, the fields a record carries, with their
 * types, units and the labels they must bear (`schema category ...`).
 * Ingest refuses a record that does not fit, naming each field that does
 * not; the checker refuses rules over fields a category does not have.
 * The schemas of a set are one object of their own, so that ingest can
 * keep a copy while the router owns the set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

struct tids_policy_schemas {
	struct arena arena;
	struct pol_schema *v;     /* by category */
	uint32_t n;
};

const char *pol_value_type_name(uint8_t type)
{
	switch ((enum tids_value_kind)type) {
	case TIDS_VALUE_INT: return "int";
	case TIDS_VALUE_UINT: return "uint";
	case TIDS_VALUE_REAL: return "real";
	case TIDS_VALUE_FLAG: return "bool";
	case TIDS_VALUE_TEXT: return "text";
	case TIDS_VALUE_BLOB: return "blob";
	case TIDS_VALUE_NONE: break;
	}
	return "none";
}

static int by_category(const void *a, const void *b)
{
	return strcmp(((const struct pol_schema *)a)->category, ((const struct pol_schema *)b)->category);
}

static int by_field(const void *a, const void *b)
{
	return strcmp(((const struct pol_schema_field *)a)->name, ((const struct pol_schema_field *)b)->name);
}

static const char *copy(struct arena *a, const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	const char *c = pol_arena_strndup(a, s, strlen(s));
	*oom |= c == NULL;
	return c;
}

/* One schema per category: the checker has refused a second. */
static int build(struct tids_policy_schemas *out, const struct pol_schema *in, size_t n)
{
	bool oom = false;
	out->v = pol_arena_alloc(&out->arena, (n ? n : 1) * sizeof(*out->v));
	if (out->v == NULL)
		return TIDS_ENOMEM;
	for (size_t i = 0; i < n && !oom; i++) {
		struct pol_schema *s = &out->v[i];
		s->category = copy(&out->arena, in[i].category, &oom);
		s->n_fields = in[i].n_fields;
		s->fields = pol_arena_alloc(&out->arena, (s->n_fields ? s->n_fields : 1) * sizeof(*s->fields));
		if (s->fields == NULL)
			return TIDS_ENOMEM;
		for (uint32_t k = 0; k < s->n_fields && !oom; k++) {
			const struct pol_schema_field *f = &in[i].fields[k];
			struct pol_schema_field *g = &s->fields[k];
			*g = (struct pol_schema_field){ .type = f->type, .optional = f->optional, .n_labels = f->n_labels };
			g->name = copy(&out->arena, f->name, &oom);
			g->unit = copy(&out->arena, f->unit, &oom);
			const char **labels = pol_arena_alloc(&out->arena, (f->n_labels ? f->n_labels : 1) * sizeof(char *));
			if (labels == NULL)
				return TIDS_ENOMEM;
			for (uint32_t l = 0; l < f->n_labels; l++)
				labels[l] = copy(&out->arena, f->labels[l], &oom);
			g->labels = labels;
		}
		qsort(s->fields, s->n_fields, sizeof(*s->fields), by_field);
	}
	if (oom)
		return TIDS_ENOMEM;
	qsort(out->v, n, sizeof(*out->v), by_category);
	out->n = (uint32_t)n;
	return 0;
}

int pol_schemas_build(const struct schema_decl *const *decls, size_t n, struct tids_policy_schemas **out)
{
	*out = NULL;
	struct pol_schema *tmp = calloc(n ? n : 1, sizeof(*tmp));
	struct pol_schema_field *fields = NULL;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += decls[i]->n_fields;
	fields = calloc(total ? total : 1, sizeof(*fields));
	struct tids_policy_schemas *s = calloc(1, sizeof(*s));
	int rc = TIDS_ENOMEM;
	if (tmp == NULL || fields == NULL || s == NULL)
		goto out;
	for (size_t i = 0, at = 0; i < n; i++) {
		tmp[i] = (struct pol_schema){ .category = decls[i]->category, .fields = fields + at,
					      .n_fields = decls[i]->n_fields };
		for (uint32_t k = 0; k < decls[i]->n_fields; k++) {
			const struct schema_field_decl *f = &decls[i]->fields[k];
			fields[at++] = (struct pol_schema_field){ .name = f->name, .type = f->type,
								  .optional = f->optional, .unit = f->unit,
								  .labels = f->labels, .n_labels = f->n_labels };
		}
	}
	if ((rc = build(s, tmp, n)) == 0) {
		*out = s;
		s = NULL;
	}
out:
	tids_policy_schemas_free(s);
	free(tmp);
	free(fields);
	return rc;
}

struct tids_policy_schemas *tids_policy_schemas_copy(const struct tids_policy_set *set)
{
	struct tids_policy_schemas *s = calloc(1, sizeof(*s));
	const struct tids_policy_schemas *from = set != NULL ? set->schemas : NULL;
	if (s == NULL)
		return NULL;
	if (from != NULL && build(s, from->v, from->n) != 0) {
		tids_policy_schemas_free(s);
		return NULL;
	}
	return s;
}

void tids_policy_schemas_free(struct tids_policy_schemas *s)
{
	if (s == NULL)
		return;
	pol_arena_free(&s->arena);
	free(s);
}

size_t tids_policy_schemas_count(const struct tids_policy_schemas *s)
{
	return s != NULL ? s->n : 0;
}

const struct pol_schema *pol_schema_of(const struct tids_policy_schemas *s, const char *category, size_t len)
{
	if (s == NULL || s->n == 0)
		return NULL;
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const char *c = s->v[mid].category;
		int cmp = strncmp(category, c, len);
		if (cmp == 0)
			cmp = c[len] == '\0' ? 0 : -1;
		if (cmp == 0)
			return &s->v[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct pol_schema_field *pol_schema_field(const struct pol_schema *s, const char *name)
{
	uint32_t lo = 0, hi = s->n_fields;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(name, s->fields[mid].name);
		if (cmp == 0)
			return &s->fields[mid];
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Numbers widen: an integer fits a real field, a non-negative int a uint
 * field, a uint below 2^63 an int field (JSON does not say which). */
static bool type_fits(const struct tids_value *v, uint8_t want)
{
	if (v->kind == want)
		return true;
	switch ((enum tids_value_kind)want) {
	case TIDS_VALUE_REAL: return v->kind == TIDS_VALUE_INT || v->kind == TIDS_VALUE_UINT;
	case TIDS_VALUE_UINT: return v->kind == TIDS_VALUE_INT && v->as.i >= 0;
	case TIDS_VALUE_INT: return v->kind == TIDS_VALUE_UINT && v->as.u <= (uint64_t)INT64_MAX;
	default: return false;
	}
}

struct msg {
	char *buf;
	size_t len, used;
	unsigned problems;
};

static void say(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct msg *m, const char *fmt, ...)
{
	m->problems++;
	if (m->buf == NULL || m->len == 0 || m->used + 1 >= m->len)
		return;
	if (m->problems > 1) {
		int n = snprintf(m->buf + m->used, m->len - m->used, "; ");
		m->used += n > 0 ? (size_t)n : 0;
		if (m->used >= m->len) {
			m->used = m->len - 1;
			return;
		}
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(m->buf + m->used, m->len - m->used, fmt, ap);
	va_end(ap);
	m->used += n > 0 ? (size_t)n : 0;
	if (m->used >= m->len)
		m->used = m->len - 1;
}

/* The declared field nearest to a name the record used (a typo, or
 * energy_kwh for kwh), for the message. */
static const char *nearest(const struct pol_schema *s, const char *name)
{
	const char *best = NULL;
	size_t best_d = 99, ln = strlen(name);
	for (uint32_t i = 0; i < s->n_fields; i++) {
		const char *c = s->fields[i].name;
		size_t lc = strlen(c), d = 99;
		/* one inside the other (energy_kwh, kwh), else a few letters off */
		if ((ln > lc && strstr(name, c) != NULL) || (lc > ln && strstr(c, name) != NULL))
			d = 1;
		else if (ln == lc) {
			d = 0;
			for (size_t k = 0; k < ln; k++)
				d += name[k] != c[k];
		}
		if (d < best_d && d <= 2) {
			best = c;
			best_d = d;
		}
	}
	return best;
}

int tids_policy_schemas_check(const struct tids_policy_schemas *schemas, const struct tids_record *rec, char *err,
			      size_t errlen)
{
	const struct pol_schema *s;
	if (rec == NULL || rec->category == NULL ||
	    (s = pol_schema_of(schemas, rec->category, strlen(rec->category))) == NULL)
		return 0;
	struct msg m = { .buf = err, .len = errlen };
	if (err != NULL && errlen > 0) {
		int n = snprintf(err, errlen, "record does not fit the schema of category %s: ", rec->category);
		m.used = n > 0 && (size_t)n < errlen ? (size_t)n : 0;
	}
	for (size_t i = 0; i < rec->n_fields; i++) {
		const struct tids_field *f = &rec->fields[i];
		const struct pol_schema_field *d = pol_schema_field(s, f->name);
		if (d == NULL) {
			const char *near = nearest(s, f->name);
			if (near != NULL)
				say(&m, "field %s is not one of it (did you mean %s?)", f->name, near);
			else
				say(&m, "field %s is not one of it", f->name);
			continue;
		}
		if (!type_fits(&f->value, d->type))
			say(&m, "field %s is %s, not %s", f->name, pol_value_type_name((uint8_t)f->value.kind),
			    pol_value_type_name(d->type));
		for (uint32_t l = 0; l < d->n_labels; l++)
			if (!tids_field_has_label(f, d->labels[l]))
				say(&m, "field %s must carry the label %s", f->name, d->labels[l]);
	}
	for (uint32_t k = 0; k < s->n_fields; k++) {
		if (s->fields[k].optional)
			continue;
		bool present = false;
		for (size_t i = 0; i < rec->n_fields && !present; i++)
			present = strcmp(rec->fields[i].name, s->fields[k].name) == 0;
		if (!present)
			say(&m, "field %s (%s) is missing", s->fields[k].name, pol_value_type_name(s->fields[k].type));
	}
	return m.problems == 0 ? 0 : TIDS_EINVAL;
}

int tids_policy_check_record(const struct tids_policy_set *set, const struct tids_record *rec, char *err,
			     size_t errlen)
{
	return tids_policy_schemas_check(set != NULL ? set->schemas : NULL, rec, err, errlen);
}
