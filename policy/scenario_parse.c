/*
 * Parser for scenario files (*.scenario): fact statements one per line
 * (participant, asset, grant, approval, counter, uses, remove, now),
 * named records with their fields, and cases as Markdown-style table rows
 * (| # | record | recipient | purpose | expect |) so a table of expected
 * decisions reads as written. See policy/README.md for the format.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "tids/error.h"

#define WORDS_MAX 128
#define CELLS_MAX 16

struct word {
	const char *s;            /* decoded, NUL-terminated (arena) */
	size_t len;
	unsigned col;
};

struct sp {
	struct tids_policy_scenario *s;
	struct tids_policy_diags *diags;
	const char *file;
	unsigned line;
	size_t errors;
	bool oom;
	struct scen_record *record;       /* `field` lines add to it */
	int cols[CELLS_MAX];              /* table column -> meaning */
	size_t n_cols;
	bool have_header;
	struct scen_case *expecting;      /* its expectations are being read */
	tids_policy_tz_loader *load_tz;
	void *load_tz_ctx;
	bool times_read;                  /* a `timezone` after this would change them */
};

enum column { COL_IGNORE, COL_NAME, COL_RECORD, COL_RECIPIENT, COL_PURPOSE, COL_NOW, COL_EXPECT };

static void error_at(struct sp *p, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *dup(struct sp *p, const char *s, size_t n);

/* An error in a case's expectations is that case's failure (the first
 * one, kept on the case); any other fails the file. */
static void error_at(struct sp *p, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (p->expecting != NULL) {
		char msg[512];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (p->expecting->bad == NULL) {
			p->expecting->bad = dup(p, msg, strlen(msg));
			p->expecting->bad_col = col;
		}
		return;
	}
	pol_vdiag(p->diags, TIDS_POLICY_ERROR, p->file, p->line, col, fmt, ap);
	va_end(ap);
	p->errors++;
}

static void *alloc(struct sp *p, size_t n)
{
	void *m = pol_arena_alloc(&p->s->arena, n);
	if (m == NULL)
		p->oom = true;
	return m;
}

static const char *dup(struct sp *p, const char *s, size_t n)
{
	const char *d = pol_arena_strndup(&p->s->arena, s, n);
	if (d == NULL)
		p->oom = true;
	return d;
}

/* Splits text into words: whitespace separates, "double quotes" group
 * (with \" and \\), an unquoted # at a word's start ends the line. */
static size_t split_words(struct sp *p, const char *text, size_t len, unsigned col0,
			  struct word *out, size_t max, bool comments)
{
	size_t n = 0, i = 0;
	char buf[TIDS_TEXT_MAX];
	while (i < len) {
		while (i < len && isspace((unsigned char)text[i]))
			i++;
		if (i >= len)
			break;
		if (comments && text[i] == '#')
			break;
		unsigned col = col0 + (unsigned)i;
		size_t k = 0;
		bool quoted = false;
		while (i < len && (quoted || !isspace((unsigned char)text[i]))) {
			char c = text[i++];
			if (c == '"') {
				quoted = !quoted;
				continue;
			}
			if (quoted && c == '\\' && i < len) {
				c = text[i++];
				if (c == 'n')
					c = '\n';
			}
			if (k + 1 < sizeof(buf))
				buf[k++] = c;
		}
		if (quoted)
			error_at(p, col, "unclosed quote");
		if (n >= max) {
			error_at(p, col, "too many words on one line");
			return n;
		}
		out[n].s = dup(p, buf, k);
		out[n].len = k;
		out[n].col = col;
		if (out[n].s == NULL)
			return n;
		n++;
	}
	return n;
}

static bool is(const struct word *w, const char *s)
{
	return strcmp(w->s, s) == 0;
}

/* "key=value": sets *value (or NULL for a bare flag) and returns the key. */
static const char *split_kv(struct sp *p, const struct word *w, const char **value)
{
	const char *eq = strchr(w->s, '=');
	if (eq == NULL) {
		*value = NULL;
		return w->s;
	}
	*value = eq + 1;
	return dup(p, w->s, (size_t)(eq - w->s));
}

static const char *const *split_list(struct sp *p, const char *v, size_t *n)
{
	size_t count = 1;
	for (const char *c = v; *c; c++)
		count += *c == ',';
	const char **list = alloc(p, count * sizeof(*list));
	*n = 0;
	if (list == NULL)
		return NULL;
	if (*v == '\0')
		return list;
	const char *start = v;
	for (const char *c = v;; c++) {
		if (*c == ',' || *c == '\0') {
			list[(*n)++] = dup(p, start, (size_t)(c - start));
			if (*c == '\0')
				break;
			start = c + 1;
		}
	}
	return list;
}

/* A time; a date alone is its whole day in the scenario's time zone:
 * from its first instant (START) or to its last (END). */
#define START TIDS_POLICY_DAY_START
#define END TIDS_POLICY_DAY_END

static bool parse_time(struct sp *p, const struct word *w, const char *v, enum tids_policy_bound bound,
		       int64_t *out)
{
	p->times_read = true;
	if (v == NULL || tids_policy_parse_time_tz(v, strlen(v), p->s->tz, bound, out) != 0) {
		error_at(p, w->col, "'%s' is not a time (write 2026-06-01 or 2026-06-01T08:00:00Z)",
			 v ? v : "");
		return false;
	}
	return true;
}

/* A duration: fixed (ms to weeks) and calendar months (mo, q, y). */
static bool parse_dur(struct sp *p, unsigned col, const char *v, int64_t *months, int64_t *out)
{
	if (v == NULL || pol_parse_calendar(v, strlen(v), months, out) != 0) {
		error_at(p, col, "'%s' is not a duration (write 1h, 30d, 1mo, 3y)", v ? v : "");
		return false;
	}
	return true;
}

static bool parse_u64(struct sp *p, unsigned col, const char *v, uint64_t *out)
{
	char digits[32];
	size_t k = 0;
	if (v == NULL || *v == '\0')
		goto bad;
	for (const char *c = v; *c; c++) {
		if (*c == '_')
			continue;
		if (!isdigit((unsigned char)*c) || k + 1 >= sizeof(digits))
			goto bad;
		digits[k++] = *c;
	}
	digits[k] = '\0';
	char *end;
	*out = strtoull(digits, &end, 10);
	if (*end == '\0')
		return true;
bad:
	error_at(p, col, "'%s' is not a whole number", v ? v : "");
	return false;
}

static bool parse_bool(struct sp *p, unsigned col, const char *v, bool *out)
{
	if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
		*out = false;
		return true;
	}
	error_at(p, col, "'%s' is not true or false", v);
	return false;
}

static bool need(struct sp *p, const struct word *w, const char *v)
{
	if (v != NULL)
		return true;
	error_at(p, w->col, "%s needs a value (%s=...)", w->s, w->s);
	return false;
}

static struct scen_step *new_step(struct sp *p, enum step_kind kind)
{
	struct tids_policy_scenario *s = p->s;
	if (s->n_steps == s->cap_steps) {
		size_t cap = s->cap_steps ? s->cap_steps * 2 : 32;
		struct scen_step *ns = alloc(p, cap * sizeof(*ns));
		if (ns == NULL)
			return NULL;
		if (s->n_steps)
			memcpy(ns, s->steps, s->n_steps * sizeof(*ns));
		s->steps = ns;
		s->cap_steps = cap;
	}
	struct scen_step *st = &s->steps[s->n_steps++];
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->line = p->line;
	return st;
}

/* Free-form attributes: every key=value not otherwise known. */
struct attrs {
	struct tids_policy_attr items[32];
	size_t n;
};

static bool add_attr(struct sp *p, struct attrs *a, const struct word *w, const char *key,
		     const char *value)
{
	if (a->n >= 32) {
		error_at(p, w->col, "too many attributes");
		return false;
	}
	a->items[a->n].name = key;
	a->items[a->n].value = value != NULL ? value : "true";
	a->n++;
	return true;
}

static const struct tids_policy_attr *keep_attrs(struct sp *p, const struct attrs *a)
{
	struct tids_policy_attr *v = alloc(p, (a->n ? a->n : 1) * sizeof(*v));
	if (v != NULL && a->n)
		memcpy(v, a->items, a->n * sizeof(*v));
	return v;
}

/* timezone Asia/Shanghai: the hub's calendar for this file (dates, months,
 * windows); before any time is read. */
static void st_timezone(struct sp *p, const struct word *w, size_t n)
{
	char err[256] = "";
	struct tids_policy_tz *tz = NULL;
	if (n != 2) {
		error_at(p, w[0].col, "write: timezone NAME (e.g. Asia/Shanghai)");
		return;
	}
	if (p->times_read || p->s->tz != NULL) {
		error_at(p, w[0].col, "the timezone comes before any time and only once: times already read "
			 "would have meant another day");
		return;
	}
	if (strcmp(w[1].s, "UTC") == 0)
		return;
	if (p->load_tz == NULL) {
		error_at(p, w[1].col, "time zone %s: no time zone data here (only UTC)", w[1].s);
		return;
	}
	int rc = p->load_tz(p->load_tz_ctx, w[1].s, &tz, err, sizeof(err));
	if (rc != 0) {
		error_at(p, w[1].col, "time zone %s: %s", w[1].s, err[0] ? err : tids_strerror(rc));
		return;
	}
	p->s->tz = tz;
}

static void st_participant(struct sp *p, const struct word *w, size_t n)
{
	if (n < 2) {
		error_at(p, w[0].col, "participant needs an id: participant ID role=... jurisdiction=...");
		return;
	}
	struct scen_step *st = new_step(p, STEP_PARTICIPANT);
	if (st == NULL)
		return;
	struct tids_policy_participant *pt = &st->u.participant;
	struct attrs a = { .n = 0 };
	pt->id = w[1].s;
	for (size_t i = 2; i < n; i++) {
		const char *v, *k = split_kv(p, &w[i], &v);
		if (strcmp(k, "role") == 0 && need(p, &w[i], v))
			pt->role = v;
		else if (strcmp(k, "jurisdiction") == 0 && need(p, &w[i], v))
			pt->jurisdiction = v;
		else if (strcmp(k, "home_hub") == 0 && need(p, &w[i], v))
			pt->home_hub = v;
		else if (strcmp(k, "suspended") == 0)
			parse_bool(p, w[i].col, v, &pt->suspended);
		else if (strcmp(k, "role") != 0 && strcmp(k, "jurisdiction") != 0 &&
			 strcmp(k, "home_hub") != 0)
			add_attr(p, &a, &w[i], k, v);
	}
	pt->attrs = keep_attrs(p, &a);
	pt->n_attrs = a.n;
}

static void st_asset(struct sp *p, const struct word *w, size_t n)
{
	if (n < 2) {
		error_at(p, w[0].col, "asset needs an id: asset ID lessee=... lessor=... site=...");
		return;
	}
	struct scen_step *st = new_step(p, STEP_ASSET);
	if (st == NULL)
		return;
	struct tids_policy_asset *as = &st->u.asset;
	struct attrs a = { .n = 0 };
	as->id = w[1].s;
	for (size_t i = 2; i < n; i++) {
		const char *v, *k = split_kv(p, &w[i], &v);
		if (strcmp(k, "lessee") == 0 && need(p, &w[i], v))
			as->lessee = v;
		else if (strcmp(k, "lessor") == 0 && need(p, &w[i], v))
			as->lessor = v;
		else if (strcmp(k, "site") == 0 && need(p, &w[i], v))
			as->site = v;
		else if (strcmp(k, "kind") == 0 && need(p, &w[i], v))
			as->kind = v;
		else if (strcmp(k, "lessee") && strcmp(k, "lessor") && strcmp(k, "site") && strcmp(k, "kind"))
			add_attr(p, &a, &w[i], k, v);
	}
	as->attrs = keep_attrs(p, &a);
	as->n_attrs = a.n;
}

/* aggregate=sum:count:1h:asset,site */
static void grant_aggregate(struct sp *p, const struct word *w, const char *v,
			    struct tids_policy_grant_duties *du)
{
	size_t n;
	const char *const *parts = NULL;
	char *copy = (char *)dup(p, v, strlen(v));
	if (copy == NULL)
		return;
	const char *f[4] = { 0 };
	size_t k = 0;
	for (char *c = copy, *start = copy; k < 4; c++) {
		if (*c == ':' || *c == '\0') {
			bool end = *c == '\0';
			*c = '\0';
			f[k++] = start;
			start = c + 1;
			if (end)
				break;
		}
	}
	if (k < 3 || !parse_dur(p, w->col, f[2], &du->aggregate_window_months, &du->aggregate_window_ms)) {
		error_at(p, w->col, "write aggregate=FUNCTION:FIELD:WINDOW[:BY,BY]");
		return;
	}
	du->aggregate_function = f[0];
	du->aggregate_field = f[1];
	if (k == 4) {
		parts = split_list(p, f[3], &n);
		du->aggregate_by = parts;
		du->n_aggregate_by = n;
	}
}

static void grant_flag(struct tids_policy_grant_duties *du, unsigned flag, bool on)
{
	switch (flag) {
#define TIDS_OB_FLAG(name, summary) case TIDS_POLICY_OB_FLAG_##name: du->name = on; break;
#include "obligations.def"
	default: break;
	}
}

static void grant_list(struct tids_policy_grant_duties *du, unsigned list, const char *const *v, size_t n)
{
	switch (list) {
#define TIDS_OB_LIST(name, word, check, summary) \
	case TIDS_POLICY_OB_LIST_##name: du->name = v; du->n_##name = n; break;
#include "obligations.def"
	default: break;
	}
}

static void st_grant(struct sp *p, const struct word *w, size_t n)
{
	if (n < 2) {
		error_at(p, w[0].col, "grant needs an id: grant ID owner=... grantee=... categories=... purposes=...");
		return;
	}
	struct scen_step *st = new_step(p, STEP_GRANT);
	if (st == NULL)
		return;
	struct tids_policy_grant *g = &st->u.grant;
	struct tids_policy_grant_duties *du = &g->duties;
	g->id = w[1].s;
	for (size_t i = 2; i < n; i++) {
		const char *v, *k = split_kv(p, &w[i], &v);
		uint64_t u;
		/* the vocabulary's flags (no_onward_transfer) and lists
		 * (duties=a,b), by name */
		const struct tids_policy_ob_info *ob = tids_policy_ob_find(k);
		if (ob != NULL && strcmp(ob->name, k) == 0) {
			if (!ob->list) {
				bool on = false;
				parse_bool(p, w[i].col, v, &on);
				grant_flag(du, ob->index, on);
			} else if (need(p, &w[i], v)) {
				size_t nl;
				const char *const *list = split_list(p, v, &nl);
				grant_list(du, ob->index, list, nl);
			}
			continue;
		}
		if (!need(p, &w[i], v))
			continue;
		if (strcmp(k, "owner") == 0)
			g->owner = v;
		else if (strcmp(k, "grantee") == 0)
			g->grantee = v;
		else if (strcmp(k, "assets") == 0)
			g->assets = split_list(p, v, &g->n_assets);
		else if (strcmp(k, "categories") == 0)
			g->categories = split_list(p, v, &g->n_categories);
		else if (strcmp(k, "purposes") == 0)
			g->purposes = split_list(p, v, &g->n_purposes);
		else if (strcmp(k, "not_before") == 0 || strcmp(k, "from") == 0)
			parse_time(p, &w[i], v, START, &g->not_before_ms);
		else if (strcmp(k, "not_after") == 0 || strcmp(k, "until") == 0)
			parse_time(p, &w[i], v, END, &g->not_after_ms);
		else if (strcmp(k, "max_uses") == 0 && parse_u64(p, w[i].col, v, &u))
			g->max_uses = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
		else if (strcmp(k, "uses") == 0 && parse_u64(p, w[i].col, v, &u))
			g->uses = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
		else if (strcmp(k, "retain_until") == 0)
			parse_time(p, &w[i], v, END, &du->retain_until_ms);
		else if (strcmp(k, "redact") == 0)
			du->redact = split_list(p, v, &du->n_redact);
		else if (strcmp(k, "only_for") == 0)
			du->purposes = split_list(p, v, &du->n_purposes);
		else if (strcmp(k, "aggregate") == 0)
			grant_aggregate(p, &w[i], v, du);
		else if (strcmp(k, "max_uses") != 0 && strcmp(k, "uses") != 0)
			error_at(p, w[i].col, "unknown grant key '%s'", k);
	}
}

static void st_approval(struct sp *p, const struct word *w, size_t n)
{
	if (n < 2) {
		error_at(p, w[0].col, "approval needs an id: approval ID kind=... exporter=... recipient=...");
		return;
	}
	struct scen_step *st = new_step(p, STEP_APPROVAL);
	if (st == NULL)
		return;
	struct tids_policy_approval *a = &st->u.approval;
	a->id = w[1].s;
	for (size_t i = 2; i < n; i++) {
		const char *v, *k = split_kv(p, &w[i], &v);
		if (!need(p, &w[i], v))
			continue;
		if (strcmp(k, "kind") == 0)
			a->kind = v;
		else if (strcmp(k, "regulator") == 0)
			a->regulator = v;
		else if (strcmp(k, "exporter") == 0)
			a->exporter = v;
		else if (strcmp(k, "recipient") == 0)
			a->recipient = v;
		else if (strcmp(k, "categories") == 0)
			a->categories = split_list(p, v, &a->n_categories);
		else if (strcmp(k, "purposes") == 0)
			a->purposes = split_list(p, v, &a->n_purposes);
		else if (strcmp(k, "from") == 0)
			a->from_jurisdiction = v;
		else if (strcmp(k, "to") == 0)
			a->to_jurisdiction = v;
		else if (strcmp(k, "valid_from") == 0)
			parse_time(p, &w[i], v, START, &a->valid_from_ms);
		else if (strcmp(k, "valid_until") == 0)
			parse_time(p, &w[i], v, END, &a->valid_until_ms);
		else if (strcmp(k, "case") == 0)
			a->case_id = v;
		else if (strcmp(k, "tiers") == 0) {
			size_t nt;
			const char *const *names = split_list(p, v, &nt);
			enum tids_tier *tiers = alloc(p, (nt ? nt : 1) * sizeof(*tiers));
			if (names == NULL || tiers == NULL)
				return;
			for (size_t t = 0; t < nt; t++) {
				tiers[t] = tids_tier_parse(names[t]);
				if (tiers[t] == TIDS_TIER_UNSET)
					error_at(p, w[i].col, "'%s' is not a tier", names[t]);
			}
			a->tiers = tiers;
			a->n_tiers = nt;
		} else {
			error_at(p, w[i].col, "unknown approval key '%s'", k);
		}
	}
}

static void st_counter(struct sp *p, const struct word *w, size_t n)
{
	/* counter NAME KEY PERIOD = VALUE */
	if (n != 6 || !is(&w[4], "=")) {
		error_at(p, w[0].col, "write: counter NAME KEY PERIOD = VALUE");
		return;
	}
	struct scen_step *st = new_step(p, STEP_COUNTER);
	uint64_t period;
	if (st == NULL || !parse_u64(p, w[3].col, w[3].s, &period) ||
	    !parse_u64(p, w[5].col, w[5].s, &st->u.counter.value))
		return;
	st->u.counter.name = w[1].s;
	st->u.counter.key = w[2].s;
	st->u.counter.period = (int64_t)period;
}

static void st_uses(struct sp *p, const struct word *w, size_t n)
{
	uint64_t u;
	if (n != 3) {
		error_at(p, w[0].col, "write: uses GRANT N");
		return;
	}
	struct scen_step *st = new_step(p, STEP_USES);
	if (st == NULL || !parse_u64(p, w[2].col, w[2].s, &u))
		return;
	st->u.uses.grant = w[1].s;
	st->u.uses.uses = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
}

/* revoke grant|approval ID: kept, never matching again, at the current now */
static void st_revoke(struct sp *p, const struct word *w, size_t n)
{
	if (n != 3 || !(is(&w[1], "grant") || is(&w[1], "approval"))) {
		error_at(p, w[0].col, "write: revoke grant|approval ID");
		return;
	}
	struct scen_step *st = new_step(p, STEP_REVOKE);
	if (st == NULL)
		return;
	st->u.remove.what = w[1].s;
	st->u.remove.id = w[2].s;
}

static void st_remove(struct sp *p, const struct word *w, size_t n)
{
	if (n != 3 || !(is(&w[1], "participant") || is(&w[1], "asset") || is(&w[1], "grant") ||
			is(&w[1], "approval"))) {
		error_at(p, w[0].col, "write: remove participant|asset|grant|approval ID");
		return;
	}
	struct scen_step *st = new_step(p, STEP_REMOVE);
	if (st == NULL)
		return;
	st->u.remove.what = w[1].s;
	st->u.remove.id = w[2].s;
}

static struct scen_record *find_record(const struct tids_policy_scenario *s, const char *name)
{
	for (size_t i = 0; i < s->n_records; i++)
		if (strcmp(s->records[i]->name, name) == 0)
			return s->records[i];
	return NULL;
}

static void st_record(struct sp *p, const struct word *w, size_t n)
{
	struct tids_policy_scenario *s = p->s;
	if (n < 2) {
		error_at(p, w[0].col, "record needs a name: record NAME owner=... category=... tier=...");
		return;
	}
	const struct scen_record *prev = find_record(s, w[1].s);
	if (prev != NULL) {
		error_at(p, w[1].col, "record %s is already defined on line %u", w[1].s, prev->line);
		return;
	}
	struct scen_record *r = alloc(p, sizeof(*r));
	if (r == NULL)
		return;
	r->name = w[1].s;
	r->line = p->line;
	struct tids_record *rec = &r->rec;
	rec->owner = rec->asset_id = rec->category = rec->origin = rec->schema = "";
	for (size_t i = 2; i < n; i++) {
		const char *v, *k = split_kv(p, &w[i], &v);
		if (strcmp(k, "personal") == 0) {
			parse_bool(p, w[i].col, v, &rec->personal);
			continue;
		}
		if (strcmp(k, "sensitive") == 0 || strcmp(k, "sensitive_personal") == 0) {
			parse_bool(p, w[i].col, v, &rec->sensitive_personal);
			continue;
		}
		if (!need(p, &w[i], v))
			continue;
		if (strcmp(k, "owner") == 0)
			rec->owner = v;
		else if (strcmp(k, "asset") == 0)
			rec->asset_id = v;
		else if (strcmp(k, "category") == 0)
			rec->category = v;
		else if (strcmp(k, "origin") == 0)
			rec->origin = v;
		else if (strcmp(k, "schema") == 0)
			rec->schema = v;
		else if (strcmp(k, "produced_at") == 0)
			parse_time(p, &w[i], v, START, &rec->produced_at_ms);
		else if (strcmp(k, "individuals") == 0)
			parse_u64(p, w[i].col, v, &rec->individuals);
		else if (strcmp(k, "via_hub") == 0)
			r->via_hub = v;
		else if (strcmp(k, "hops") == 0)
			parse_u64(p, w[i].col, v, &r->hops);
		else if (strcmp(k, "for") == 0) {
			const char *colon = strchr(v, ':');

			if (colon == NULL || colon == v || colon[1] == '\0') {
				error_at(p, w[i].col, "for= takes RECIPIENT:PURPOSE");
			} else {
				r->for_recipient = dup(p, v, (size_t)(colon - v));
				r->for_purpose = colon + 1;
			}
		} else if (strcmp(k, "tier") == 0) {
			rec->tier = tids_tier_parse(v);
			if (rec->tier == TIDS_TIER_UNSET && strcmp(v, "none") != 0)
				error_at(p, w[i].col, "'%s' is not a tier (general, important, core, none)", v);
		} else {
			error_at(p, w[i].col, "unknown record key '%s'", k);
		}
	}
	if (s->n_records == s->cap_records) {
		size_t cap = s->cap_records ? s->cap_records * 2 : 16;
		struct scen_record **nr = alloc(p, cap * sizeof(*nr));
		if (nr == NULL)
			return;
		if (s->n_records)
			memcpy(nr, s->records, s->n_records * sizeof(*nr));
		s->records = nr;
		s->cap_records = cap;
	}
	s->records[s->n_records++] = r;
	p->record = r;
}

/* field NAME TYPE VALUE [tier=T] [labels=a,b] */
static void st_field(struct sp *p, const struct word *w, size_t n)
{
	struct scen_record *r = p->record;
	if (r == NULL) {
		error_at(p, w[0].col, "a field line belongs after a record line");
		return;
	}
	if (n < 4) {
		error_at(p, w[0].col, "write: field NAME TYPE VALUE [tier=T] [labels=a,b] "
			 "(TYPE: int, uint, real, bool, text)");
		return;
	}
	struct tids_record *rec = &r->rec;
	if (rec->n_fields >= TIDS_FIELDS_MAX) {
		error_at(p, w[0].col, "more than %d fields", TIDS_FIELDS_MAX);
		return;
	}
	if (rec->n_fields == r->cap_fields) {
		size_t cap = r->cap_fields ? r->cap_fields * 2 : 8;
		struct tids_field *nf = alloc(p, cap * sizeof(*nf));
		if (nf == NULL)
			return;
		if (rec->n_fields)
			memcpy(nf, rec->fields, rec->n_fields * sizeof(*nf));
		rec->fields = nf;
		r->cap_fields = cap;
	}
	struct tids_field *f = &rec->fields[rec->n_fields];
	memset(f, 0, sizeof(*f));
	f->name = w[1].s;
	const char *type = w[2].s, *v = w[3].s;
	char *end = NULL;
	if (strcmp(type, "int") == 0) {
		f->value.kind = TIDS_VALUE_INT;
		f->value.as.i = strtoll(v, &end, 10);
	} else if (strcmp(type, "uint") == 0) {
		f->value.kind = TIDS_VALUE_UINT;
		f->value.as.u = strtoull(v, &end, 10);
	} else if (strcmp(type, "real") == 0) {
		f->value.kind = TIDS_VALUE_REAL;
		f->value.as.d = strtod(v, &end);
	} else if (strcmp(type, "bool") == 0) {
		f->value.kind = TIDS_VALUE_FLAG;
		parse_bool(p, w[3].col, v, &f->value.as.b);
	} else if (strcmp(type, "text") == 0) {
		f->value.kind = TIDS_VALUE_TEXT;
		f->value.as.bytes.data = (const uint8_t *)v;
		f->value.as.bytes.len = w[3].len;
	} else {
		error_at(p, w[2].col, "unknown field type '%s' (int, uint, real, bool, text)", type);
		return;
	}
	if (end != NULL && (*end != '\0' || end == v)) {
		error_at(p, w[3].col, "'%s' is not a %s", v, type);
		return;
	}
	for (size_t i = 4; i < n; i++) {
		const char *val, *k = split_kv(p, &w[i], &val);
		if (!need(p, &w[i], val))
			continue;
		if (strcmp(k, "tier") == 0) {
			f->tier = tids_tier_parse(val);
			if (f->tier == TIDS_TIER_UNSET)
				error_at(p, w[i].col, "'%s' is not a tier", val);
		} else if (strcmp(k, "labels") == 0) {
			size_t nl;
			f->labels = split_list(p, val, &nl);
			f->n_labels = nl;
		} else {
			error_at(p, w[i].col, "unknown field key '%s' (tier, labels)", k);
		}
	}
	rec->n_fields++;
}

/* ---- tables of cases ---- */

/* | a | b | c |  ->  "a", "b", "c" (trimmed; | inside quotes is text) */
static size_t split_cells(const char *line, size_t len, const char **cell, size_t *cell_len,
			  unsigned *col, size_t max)
{
	size_t n = 0, i = 1;
	if (len > 1 && line[len - 1] == '|')
		len--;
	while (i <= len && n < max) {
		size_t start = i;
		bool quoted = false;
		while (i < len && (quoted || line[i] != '|')) {
			if (line[i] == '"')
				quoted = !quoted;
			i++;
		}
		size_t a = start, b = i;
		while (a < b && isspace((unsigned char)line[a]))
			a++;
		while (b > a && isspace((unsigned char)line[b - 1]))
			b--;
		cell[n] = line + a;
		cell_len[n] = b - a;
		col[n] = (unsigned)a + 1;
		n++;
		i++;
	}
	return n;
}

static bool cell_is(const char *c, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(c, word, n) == 0;
}

static bool is_rule_row(const char *const *cell, const size_t *len, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < len[i]; k++)
			if (cell[i][k] != '-' && cell[i][k] != ':' && cell[i][k] != ' ')
				return false;
	return true;
}

static bool header(struct sp *p, const char *const *cell, const size_t *len, size_t n)
{
	bool has_record = false, has_expect = false;
	for (size_t i = 0; i < n; i++) {
		has_record |= cell_is(cell[i], len[i], "record");
		has_expect |= cell_is(cell[i], len[i], "expect") || cell_is(cell[i], len[i], "decision");
	}
	if (!has_record || !has_expect)
		return false;
	p->n_cols = n;
	for (size_t i = 0; i < n; i++) {
		const char *c = cell[i];
		size_t l = len[i];
		p->cols[i] = cell_is(c, l, "#") || cell_is(c, l, "case") || cell_is(c, l, "id") ? COL_NAME
			   : cell_is(c, l, "record") ? COL_RECORD
			   : cell_is(c, l, "recipient") || cell_is(c, l, "to") ? COL_RECIPIENT
			   : cell_is(c, l, "purpose") || cell_is(c, l, "for") ? COL_PURPOSE
			   : cell_is(c, l, "now") || cell_is(c, l, "at") ? COL_NOW
			   : cell_is(c, l, "expect") || cell_is(c, l, "decision") ? COL_EXPECT
			   : COL_IGNORE;
	}
	p->have_header = true;
	return true;
}

static bool parse_clause(struct sp *p, struct scen_case *c, const struct word *w, size_t n,
			 struct expect *e)
{
	memset(e, 0, sizeof(*e));
	e->col = w[0].col;
	size_t i = 0;
	if (is(&w[0], "not") || is(&w[0], "no")) {
		e->negated = true;
		i = 1;
		if (n < 2) {
			error_at(p, w[0].col, "'%s' needs something to negate", w[0].s);
			return false;
		}
	}
	const struct word *k = &w[i];
	const struct word *args = &w[i + 1];
	size_t nargs = n - i - 1;
	(void)c;
	if (is(k, "because")) {
		if (nargs != 1) {
			error_at(p, k->col, "write: because \"part of the reason\"");
			return false;
		}
		e->kind = EX_BECAUSE;
		e->text = args[0].s;
		return true;
	}
	/* the vocabulary (obligations.def): a flag by its name, a list by
	 * its name or keyword with the names expected in it */
	const struct tids_policy_ob_info *ob = tids_policy_ob_find(k->s);
	if (ob != NULL) {
		e->kind = ob->list ? EX_OB_LIST : EX_OB_FLAG;
		e->which = ob->index;
		if (!ob->list) {
			if (nargs != 0) {
				error_at(p, k->col, "write: %s (or not %s)", ob->name, ob->name);
				return false;
			}
			return true;
		}
		if (nargs == 0) {
			error_at(p, k->col, "'%s' needs at least one name", k->s);
			return false;
		}
		e->args = alloc(p, nargs * sizeof(char *));
		if (e->args == NULL)
			return false;
		for (size_t a = 0; a < nargs; a++)
			e->args[a] = args[a].s;
		e->n_args = nargs;
		return true;
	}
	/* near grant ID [CODE], near approval none, not near */
	if (is(k, "near")) {
		e->kind = EX_NEAR;
		if (nargs == 0 && e->negated)
			return true;
		if (nargs < 2 || nargs > 3 || !(is(&args[0], "grant") || is(&args[0], "approval")) ||
		    (nargs == 3 && is(&args[1], "none"))) {
			error_at(p, k->col, "write: near grant|approval ID [what failed], near grant|approval none, "
				 "or not near");
			return false;
		}
		e->which = is(&args[0], "grant") ? TIDS_POLICY_NEAR_GRANT : TIDS_POLICY_NEAR_APPROVAL;
		if (is(&args[1], "none")) {
			e->num = TIDS_POLICY_MISS_NONE;
			return true;
		}
		e->text = args[1].s;
		if (nargs == 3) {
			enum tids_policy_miss code;
			if (tids_policy_miss_from_name(args[2].s, &code) != 0 || code == TIDS_POLICY_MISS_NONE) {
				error_at(p, args[2].col, "'%s' is not what can fail (revoked, not_yet_valid, expired, "
					 "used_up, recipient, exporter, category, asset, purpose, tier, kind, from, to, "
					 "signer, window, no_case)", args[2].s);
				return false;
			}
			e->num = code;
		}
		return true;
	}
	if (is(k, "grant") || is(k, "approval") || is(k, "case")) {
		e->kind = is(k, "grant") ? EX_GRANT : is(k, "approval") ? EX_APPROVAL : EX_CASE;
		if (nargs == 1)
			e->text = args[0].s;
		else if (nargs != 0 || !e->negated) {
			error_at(p, k->col, "write: %s ID, or no %s", k->s, k->s);
			return false;
		}
		return true;
	}
	if (is(k, "retain") || is(k, "log") || is(k, "tier")) {
		if (nargs == 2 && is(k, "retain") && is(&args[0], "until")) {
			e->kind = EX_RETAIN_UNTIL;
			return parse_time(p, &args[1], args[1].s, END, &e->num);
		}
		/* log >= 6mo: at least (or at most) that long */
		if (nargs == 2 && !is(k, "tier")) {
			static const struct { const char *w; enum expect_op op; } ops[] = {
				{ ">=", OP_GE }, { ">", OP_GT }, { "<=", OP_LE }, { "<", OP_LT }, { "==", OP_EQ },
			};
			size_t o;
			for (o = 0; o < sizeof(ops) / sizeof(ops[0]) && !is(&args[0], ops[o].w); o++)
				;
			if (o == sizeof(ops) / sizeof(ops[0])) {
				error_at(p, args[0].col, "'%s' is not a comparison (>=, >, <=, <, ==)", args[0].s);
				return false;
			}
			e->op = ops[o].op;
			args++;
			nargs--;
		}
		if (nargs != 1) {
			error_at(p, k->col, "write: %s %s", k->s, is(k, "tier") ? "TIER" : "[>= | <= | > | <] DURATION");
			return false;
		}
		if (is(k, "tier")) {
			e->kind = EX_TIER;
			e->num = tids_tier_parse(args[0].s);
			if (e->num == TIDS_TIER_UNSET) {
				error_at(p, args[0].col, "'%s' is not a tier", args[0].s);
				return false;
			}
			return true;
		}
		e->kind = is(k, "retain") ? EX_RETAIN : EX_LOG;
		return parse_dur(p, args[0].col, args[0].s, &e->months, &e->num);
	}
	if (is(k, "aggregate")) {
		/* aggregate FN FIELD every WINDOW [by KEY...] */
		if (e->negated && nargs == 0) {
			e->kind = EX_AGGREGATE;
			return true;
		}
		if (nargs < 4 || !is(&args[2], "every") ||
		    (nargs > 4 && !is(&args[4], "by"))) {
			error_at(p, k->col, "write: aggregate FUNCTION FIELD every WINDOW [by KEY ...]");
			return false;
		}
		e->kind = EX_AGGREGATE;
		if (!parse_dur(p, args[3].col, args[3].s, &e->months, &e->num))
			return false;
		size_t nb = nargs > 5 ? nargs - 5 : 0;
		e->args = alloc(p, (2 + nb) * sizeof(char *));
		if (e->args == NULL)
			return false;
		e->args[0] = args[0].s;
		e->args[1] = args[1].s;
		for (size_t b = 0; b < nb; b++)
			e->args[2 + b] = args[5 + b].s;
		e->n_args = 2 + nb;
		return true;
	}
	if (is(k, "count")) {
		/* count COUNTER KEY PERIOD AMOUNT */
		uint64_t period, amount;
		if (e->negated && nargs == 1) {
			e->kind = EX_COUNT;
			e->args = alloc(p, sizeof(char *));
			if (e->args == NULL)
				return false;
			e->args[0] = args[0].s;
			e->n_args = 1;
			return true;
		}
		if (nargs != 4) {
			error_at(p, k->col, "write: count COUNTER KEY PERIOD AMOUNT");
			return false;
		}
		if (!parse_u64(p, args[2].col, args[2].s, &period) ||
		    !parse_u64(p, args[3].col, args[3].s, &amount))
			return false;
		e->kind = EX_COUNT;
		e->args = alloc(p, 2 * sizeof(char *));
		if (e->args == NULL)
			return false;
		e->args[0] = args[0].s;
		e->args[1] = args[1].s;
		e->n_args = 2;
		e->num = (int64_t)period;
		e->num2 = (int64_t)amount;
		return true;
	}
	static const struct {
		const char *word;
		enum expect_kind kind;
	} lists[] = {
		{ "rule", EX_RULE }, { "rules", EX_RULE }, { "removes", EX_REMOVES },
		{ "remove", EX_REMOVES }, { "drop", EX_REMOVES }, { "drops", EX_REMOVES },
		{ "redact", EX_REMOVES }, { "redacts", EX_REMOVES }, { "keeps", EX_KEEPS },
		{ "keep", EX_KEEPS }, { "only_for", EX_ONLY_FOR },
		{ "coarsen", EX_COARSEN }, { "coarsens", EX_COARSEN },
	};
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		if (!is(k, lists[l].word))
			continue;
		e->kind = lists[l].kind;
		size_t na = nargs;
		if (e->kind == EX_COARSEN && nargs >= 2 && is(&args[nargs - 2], "to")) {
			e->text = args[nargs - 1].s;
			na -= 2;
		}
		if (na == 0 && e->kind != EX_ONLY_FOR) {
			error_at(p, k->col, "'%s' needs at least one name", k->s);
			return false;
		}
		e->args = alloc(p, (na ? na : 1) * sizeof(char *));
		if (e->args == NULL)
			return false;
		for (size_t a = 0; a < na; a++)
			e->args[a] = args[a].s;
		e->n_args = na;
		return true;
	}
	error_at(p, k->col, "unknown expectation '%s' (because, rule, removes, keeps, aggregate, "
		 "coarsen, retain, log, only_for, count, grant, approval, case, tier, %s)", k->s,
		 pol_ob_words());
	return false;
}

static void parse_expect(struct sp *p, struct scen_case *c, const char *text, size_t len,
			 unsigned col0)
{
	struct expect exps[32];
	size_t n_exps = 0;
	size_t start = 0;
	bool first = true, quoted = false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] == '"')
			quoted = !quoted;
		if (i < len && (quoted || text[i] != ';'))
			continue;
		struct word w[WORDS_MAX];
		size_t n = split_words(p, text + start, i - start, col0 + (unsigned)start, w, WORDS_MAX,
				       false);
		start = i + 1;
		if (n == 0) {
			if (first) {
				error_at(p, col0, "the case has no expected decision");
				return;
			}
			continue;
		}
		if (first) {
			first = false;
			if (is(&w[0], "allow"))
				c->verdict = TIDS_POLICY_ALLOW;
			else if (is(&w[0], "deny"))
				c->verdict = TIDS_POLICY_DENY;
			else if (is(&w[0], "transform"))
				c->verdict = TIDS_POLICY_TRANSFORM;
			else if (is(&w[0], "reject"))
				c->reject = true;
			else {
				error_at(p, w[0].col, "expected allow, deny, transform or reject, found '%s'",
					 w[0].s);
				return;
			}
			if (n == 1)
				continue;
			/* "deny because ..." without a ; is fine too */
			memmove(w, w + 1, (n - 1) * sizeof(w[0]));
			n--;
		}
		if (n_exps >= sizeof(exps) / sizeof(exps[0])) {
			error_at(p, w[0].col, "too many expectations in one case");
			return;
		}
		if (parse_clause(p, c, w, n, &exps[n_exps]))
			n_exps++;
	}
	c->exps = alloc(p, (n_exps ? n_exps : 1) * sizeof(*c->exps));
	if (c->exps != NULL && n_exps)
		memcpy(c->exps, exps, n_exps * sizeof(*exps));
	c->n_exps = n_exps;
}

static void table_row(struct sp *p, const char *line, size_t len)
{
	const char *cell[CELLS_MAX];
	size_t clen[CELLS_MAX];
	unsigned col[CELLS_MAX];
	size_t n = split_cells(line, len, cell, clen, col, CELLS_MAX);
	if (n == 0 || is_rule_row(cell, clen, n))
		return;
	if (header(p, cell, clen, n))
		return;
	if (!p->have_header) {
		error_at(p, 1, "a table of cases needs a header row: | # | record | recipient | purpose | expect |");
		return;
	}
	if (n != p->n_cols) {
		error_at(p, 1, "row has %zu cells, the header has %zu", n, p->n_cols);
		return;
	}
	struct scen_case *c = alloc(p, sizeof(*c));
	if (c == NULL)
		return;
	c->line = p->line;
	bool have_expect = false;
	for (size_t i = 0; i < n; i++) {
		const char *v = dup(p, cell[i], clen[i]);
		if (v == NULL)
			return;
		switch (p->cols[i]) {
		case COL_NAME:
			c->name = v;
			break;
		case COL_RECORD:
			c->record = find_record(p->s, v);
			if (c->record == NULL) {
				error_at(p, col[i], "no record named '%s' is defined above", v);
				return;
			}
			break;
		case COL_RECIPIENT:
			c->recipient = v;
			break;
		case COL_PURPOSE:
			c->purpose = v;
			break;
		case COL_NOW:
			if (clen[i] > 0) {
				c->has_now = true;
				p->times_read = true;
				if (tids_policy_parse_time_tz(v, clen[i], p->s->tz, START, &c->now) != 0) {
					error_at(p, col[i], "'%s' is not a time", v);
					return;
				}
			}
			break;
		case COL_EXPECT:
			have_expect = true;
			p->expecting = c;
			parse_expect(p, c, cell[i], clen[i], col[i]);
			p->expecting = NULL;
			break;
		default:
			break;
		}
	}
	if (c->record == NULL || c->recipient == NULL || c->purpose == NULL || !have_expect) {
		error_at(p, 1, "a case needs a record, a recipient, a purpose and an expected decision");
		return;
	}
	if (c->name == NULL || c->name[0] == '\0') {
		char buf[32];
		snprintf(buf, sizeof(buf), "line %u", p->line);
		c->name = dup(p, buf, strlen(buf));
	}
	struct scen_step *st = new_step(p, STEP_CASE);
	if (st == NULL)
		return;
	st->u.c = c;
	p->s->n_cases++;
}

static void statement(struct sp *p, const char *line, size_t len)
{
	struct word w[WORDS_MAX];
	size_t n = split_words(p, line, len, 1, w, WORDS_MAX, true);
	if (n == 0)
		return;
	if (!is(&w[0], "field"))
		p->record = NULL;
	if (is(&w[0], "now")) {
		struct scen_step *st;
		if (n != 2) {
			error_at(p, w[0].col, "write: now 2026-06-01T00:00:00Z");
			return;
		}
		st = new_step(p, STEP_NOW);
		if (st != NULL)
			parse_time(p, &w[1], w[1].s, START, &st->u.now);
	} else if (is(&w[0], "timezone")) {
		st_timezone(p, w, n);
	} else if (is(&w[0], "participant")) {
		st_participant(p, w, n);
	} else if (is(&w[0], "asset")) {
		st_asset(p, w, n);
	} else if (is(&w[0], "grant")) {
		st_grant(p, w, n);
	} else if (is(&w[0], "approval")) {
		st_approval(p, w, n);
	} else if (is(&w[0], "counter")) {
		st_counter(p, w, n);
	} else if (is(&w[0], "uses")) {
		st_uses(p, w, n);
	} else if (is(&w[0], "remove")) {
		st_remove(p, w, n);
	} else if (is(&w[0], "revoke")) {
		st_revoke(p, w, n);
	} else if (is(&w[0], "record")) {
		st_record(p, w, n);
	} else if (is(&w[0], "field")) {
		st_field(p, w, n);
	} else {
		error_at(p, w[0].col, "unknown statement '%s' (timezone, now, participant, asset, grant, approval, "
			 "counter, uses, remove, revoke, record, field, or a | table row |)", w[0].s);
	}
}

int tids_policy_scenario_parse(const char *name, const char *text, size_t len,
			       struct tids_policy_scenario **out, struct tids_policy_diags *diags)
{
	return tids_policy_scenario_parse_tz(name, text, len, NULL, NULL, out, diags);
}

int tids_policy_scenario_parse_tz(const char *name, const char *text, size_t len, tids_policy_tz_loader *load,
				  void *load_ctx, struct tids_policy_scenario **out,
				  struct tids_policy_diags *diags)
{
	*out = NULL;
	struct tids_policy_scenario *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TIDS_ENOMEM;
	struct sp p = { .s = s, .diags = diags, .load_tz = load, .load_tz_ctx = load_ctx };
	s->file = pol_arena_strndup(&s->arena, name ? name : "<scenario>", strlen(name ? name : "<scenario>"));
	p.file = s->file;
	if (len > TIDS_POLICY_SOURCE_MAX) {
		pol_diag(diags, TIDS_POLICY_ERROR, p.file, 1, 1, "file is larger than %u bytes",
			 TIDS_POLICY_SOURCE_MAX);
		tids_policy_scenario_free(s);
		return TIDS_ETOOBIG;
	}
	size_t i = 0;
	while (i < len && !p.oom) {
		size_t end = i;
		while (end < len && text[end] != '\n')
			end++;
		p.line++;
		size_t a = i, b = end;
		while (a < b && (text[a] == ' ' || text[a] == '\t'))
			a++;
		while (b > a && isspace((unsigned char)text[b - 1]))
			b--;
		if (a < b && memchr(text + a, '\0', b - a) != NULL) {
			error_at(&p, 1, "NUL byte in the line");
		} else if (a < b && text[a] == '|') {
			p.record = NULL;
			table_row(&p, text + a, b - a);
		} else if (a < b && text[a] != '#') {
			/* fact statements may sit between rows: the header stays */
			statement(&p, text + i, b - i);
		}
		i = end + 1;
	}
	if (p.oom) {
		tids_policy_scenario_free(s);
		return TIDS_ENOMEM;
	}
	if (p.errors > 0) {
		tids_policy_scenario_free(s);
		return TIDS_EPOLICY;
	}
	*out = s;
	return 0;
}

void tids_policy_scenario_free(struct tids_policy_scenario *s)
{
	if (s == NULL)
		return;
	tids_policy_tz_free(s->tz);
	pol_arena_free(&s->arena);
	free(s);
}

size_t tids_policy_scenario_case_count(const struct tids_policy_scenario *s)
{
	return s != NULL ? s->n_cases : 0;
}
