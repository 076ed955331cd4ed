/*
 * Classes and profiles: what an auditor filters on, apart from time and
 * record, stored once per distinct combination instead of once per entry.
 * A class is what was decided — purpose, decision, tier, category,
 * jurisdictions, rules; a profile is who it was about — owner, recipient,
 * grant, approval — and its class. A hub makes millions of decisions but
 * few distinct ones, so an entry row carries a profile and a class number
 * and the ledger keeps one secondary index per entry and two posting lists
 * (ledger_posting.c) instead of ten indexes: that is what lets the indexer
 * keep up with the router (issue 13). A
 * question about who goes through the profiles, one about what through
 * the classes; either finds few of them. Names are numbered once too.
 *
 * Writers find numbers through in-memory maps and make what is missing;
 * readers resolve numbers to strings and cache them. Nothing here trusts
 * the file: readers compare every profile with the entry bytes that cite
 * it (ledger_profile_mismatch).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "tids/map.h"

enum {
	D_NAME_GET, D_NAME_INS, D_NAME_STR,
	D_CLASS_GET, D_CLASS_INS, D_CLASS_RULE_INS, D_CLASS_ROW,
	D_PROFILE_GET, D_PROFILE_INS, D_PROFILE_ROW,
	D_CLASS_COUNT, D_PROFILE_COUNT,
	D_COUNT
};

static const char *const dict_sql[D_COUNT] = {
	[D_NAME_GET] = "SELECT n FROM name WHERE s = ?1",
	[D_NAME_INS] = "INSERT INTO name(s) VALUES (?1)",
	[D_NAME_STR] = "SELECT s FROM name WHERE n = ?1",
	[D_CLASS_GET] = "SELECT n FROM class WHERE purpose = ?1 AND decision = ?2 AND tier = ?3 AND category = ?4"
			" AND origin = ?5 AND destination = ?6 AND rules = ?7",
	[D_CLASS_INS] = "INSERT INTO class(purpose, decision, tier, category, origin, destination, rules,"
			" origin_country, destination_country) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[D_CLASS_RULE_INS] = "INSERT OR IGNORE INTO class_rule(rule, class) VALUES (?1, ?2)",
	[D_CLASS_ROW] = "SELECT purpose, decision, tier, category, origin, destination, rules FROM class WHERE n = ?1",
	[D_PROFILE_GET] = "SELECT n FROM profile WHERE owner = ?1 AND recipient = ?2 AND grant_id = ?3"
			  " AND approval_id = ?4 AND class = ?5",
	[D_PROFILE_INS] = "INSERT INTO profile(owner, recipient, grant_id, approval_id, class)"
			  " VALUES (?1, ?2, ?3, ?4, ?5)",
	[D_PROFILE_ROW] = "SELECT owner, recipient, grant_id, approval_id, class FROM profile WHERE n = ?1",
	[D_CLASS_COUNT] = "UPDATE class SET entries = entries + ?2 WHERE n = ?1",
	[D_PROFILE_COUNT] = "UPDATE profile SET entries = entries + ?2 WHERE n = ?1",
};

/* Writer side: name -> number; class or profile key -> number. */
struct name_slot {
	int64_t n;
	size_t len;
	char s[];
};

struct key_slot {
	int64_t n;
	size_t len;
	uint8_t key[];
};

/* Reader side: number -> name, class or profile, resolved. */
struct num_name {
	int64_t n;
	char s[];
};

struct num_class {
	int64_t n;
	struct ledger_class c;
};

struct num_profile {
	int64_t n;
	struct ledger_profile p;
};

/* Entries added in the open batch, per class or profile. */
struct pending_count {
	int64_t n;
	int64_t add;
};

struct ledger_dict {
	sqlite3 *db;
	sqlite3_stmt *st[D_COUNT];
	struct tids_map names;           /* s -> struct name_slot */
	struct tids_map class_keys;      /* class key -> struct key_slot */
	struct tids_map profile_keys;    /* profile key -> struct key_slot */
	struct tids_map by_num;          /* n (8 bytes) -> struct num_name */
	struct tids_map classes;         /* n (8 bytes) -> struct num_class */
	struct tids_map profiles;        /* n (8 bytes) -> struct num_profile */
	struct tids_map counts[2];       /* class, profile n -> struct pending_count */
};

int ledger_dict_new(sqlite3 *db, struct ledger_dict **out)
{
	struct ledger_dict *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (d == NULL)
		return TIDS_ENOMEM;
	d->db = db;
	for (int i = 0; i < D_COUNT; i++)
		if (sqlite3_prepare_v3(db, dict_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i], NULL) != SQLITE_OK) {
			ledger_dict_free(d);
			return TIDS_EDB;
		}
	*out = d;
	return 0;
}

static void free_map(struct tids_map *m)
{
	size_t pos = 0;
	void *v;

	while ((v = tids_map_next(m, &pos)) != NULL)
		free(v);
	tids_map_free(m);
	memset(m, 0, sizeof(*m));
}

void ledger_dict_forget(struct ledger_dict *d)
{
	if (d == NULL)
		return;
	free_map(&d->names);
	free_map(&d->class_keys);
	free_map(&d->profile_keys);
	free_map(&d->by_num);
	free_map(&d->classes);
	free_map(&d->profiles);
	free_map(&d->counts[0]);
	free_map(&d->counts[1]);
}

void ledger_dict_free(struct ledger_dict *d)
{
	if (d == NULL)
		return;
	ledger_dict_forget(d);
	for (int i = 0; i < D_COUNT; i++)
		sqlite3_finalize(d->st[i]);
	free(d);
}

/* Steps a lookup by key: the number in *n, 0 when there is none. */
static int lookup(sqlite3_stmt *st, int64_t *n)
{
	int rc = sqlite3_step(st);

	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TIDS_EDB;
}

static int remember(struct tids_map *m, const void *key, size_t len, int64_t n)
{
	struct key_slot *slot = malloc(sizeof(*slot) + len);

	if (slot == NULL)
		return TIDS_ENOMEM;
	slot->n = n;
	slot->len = len;
	memcpy(slot->key, key, len);
	if (tids_map_put(m, slot->key, len, slot, NULL) != 0) {
		free(slot);
		return TIDS_ENOMEM;
	}
	return 0;
}

/* --- names ------------------------------------------------------------------- */

static int name_lookup(struct ledger_dict *d, const void *s, size_t len, bool make, int64_t *n)
{
	struct name_slot *slot = tids_map_get(&d->names, s, len);
	sqlite3_stmt *st;
	int r;

	if (slot != NULL) {
		*n = slot->n;
		return 0;
	}
	st = d->st[D_NAME_GET];
	sqlite3_bind_text(st, 1, len > 0 ? s : "", (int)len, SQLITE_STATIC);
	if ((r = lookup(st, n)) != 0)
		return r;
	if (*n == 0) {
		if (!make)
			return TIDS_ENOENT;
		st = d->st[D_NAME_INS];
		sqlite3_bind_text(st, 1, len > 0 ? s : "", (int)len, SQLITE_STATIC);
		if (ledger_step_done(st) != 0)
			return TIDS_EDB;
		*n = sqlite3_last_insert_rowid(d->db);
	}
	if ((slot = malloc(sizeof(*slot) + len + 1)) == NULL)
		return TIDS_ENOMEM;
	slot->n = *n;
	slot->len = len;
	memcpy(slot->s, s, len);
	slot->s[len] = '\0';
	if (tids_map_put(&d->names, slot->s, len, slot, NULL) != 0) {
		free(slot);
		return TIDS_ENOMEM;
	}
	return 0;
}

int ledger_dict_name(struct ledger_dict *d, const char *s, int64_t *n)
{
	return name_lookup(d, s, strlen(s), false, n);
}

/* Number -> string, cached. */
static int name_of(struct ledger_dict *d, int64_t n, const char **out)
{
	struct num_name *slot = tids_map_get(&d->by_num, &n, sizeof(n));
	sqlite3_stmt *st;
	int rc, r = 0;

	if (slot != NULL) {
		*out = slot->s;
		return 0;
	}
	st = d->st[D_NAME_STR];
	sqlite3_bind_int64(st, 1, n);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		if ((slot = malloc(sizeof(*slot) + len + 1)) == NULL) {
			r = TIDS_ENOMEM;
		} else {
			slot->n = n;
			memcpy(slot->s, sqlite3_column_text(st, 0), len);
			slot->s[len] = '\0';
			if (tids_map_put(&d->by_num, &slot->n, sizeof(slot->n), slot, NULL) != 0) {
				free(slot);
				r = TIDS_ENOMEM;
			}
		}
	} else {
		r = rc == SQLITE_ROW || rc == SQLITE_DONE ? TIDS_ENOENT : TIDS_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r == 0)
		*out = slot->s;
	return r;
}

/* --- writing ----------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The class's fields as numbers; rules sorted, without repeats, last. */
struct class_key {
	int64_t purpose, decision, tier, category, origin, destination;
	int64_t rules[LEDGER_RULES_MAX];
	size_t n_rules;
};

struct profile_key {
	int64_t owner, recipient, grant_id, approval_id, class_n;
};

static int names_of(struct ledger_dict *d, const struct tids_bytes *const *strs, int64_t *const *nums, size_t n)
{
	int r;

	for (size_t i = 0; i < n; i++)
		if ((r = name_lookup(d, strs[i]->data, strs[i]->len, true, nums[i])) != 0)
			return r;
	return 0;
}

static int class_key_of(struct ledger_dict *d, const struct ledger_entry_view *v, struct class_key *k)
{
	const struct tids_bytes *strs[] = { &v->purpose, &v->category, &v->origin, &v->destination };
	int64_t *const nums[] = { &k->purpose, &k->category, &k->origin, &k->destination };
	size_t j = 0;
	int r;

	if ((r = names_of(d, strs, nums, 4)) != 0)
		return r;
	k->decision = v->decision;
	k->tier = v->tier;
	for (size_t i = 0; i < v->n_rules; i++)
		if ((r = name_lookup(d, v->rules[i].data, v->rules[i].len, true, &k->rules[i])) != 0)
			return r;
	qsort(k->rules, v->n_rules, sizeof(k->rules[0]), cmp_i64);
	for (size_t i = 0; i < v->n_rules; i++)
		if (j == 0 || k->rules[i] != k->rules[j - 1])
			k->rules[j++] = k->rules[i];
	k->n_rules = j;
	return 0;
}

/* "3,17,40": the rules column. */
static void rules_text(const struct class_key *k, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < k->n_rules && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i > 0 ? "," : "", (long long)k->rules[i]);
}

static int country_num(struct ledger_dict *d, int64_t jurisdiction, int64_t *out)
{
	const char *j;
	char c[3];
	int r;

	if ((r = name_of(d, jurisdiction, &j)) != 0)
		return r;
	ledger_country(j, c);
	return name_lookup(d, c, strlen(c), true, out);
}

static void bind_class(sqlite3_stmt *st, const struct class_key *k, const char *rules)
{
	sqlite3_bind_int64(st, 1, k->purpose);
	sqlite3_bind_int64(st, 2, k->decision);
	sqlite3_bind_int64(st, 3, k->tier);
	sqlite3_bind_int64(st, 4, k->category);
	sqlite3_bind_int64(st, 5, k->origin);
	sqlite3_bind_int64(st, 6, k->destination);
	sqlite3_bind_text(st, 7, rules, -1, SQLITE_STATIC);
}

static int class_of(struct ledger_dict *d, const struct ledger_entry_view *v, int64_t *n)
{
	struct class_key k;
	struct key_slot *slot;
	char rules[LEDGER_RULES_MAX * 21 + 1];
	size_t klen;
	int64_t oc, dc;
	int r;

	if ((r = class_key_of(d, v, &k)) != 0)
		return r;
	klen = offsetof(struct class_key, rules) + k.n_rules * sizeof(k.rules[0]);
	if ((slot = tids_map_get(&d->class_keys, &k, klen)) != NULL) {
		*n = slot->n;
		return 0;
	}
	rules_text(&k, rules, sizeof(rules));
	bind_class(d->st[D_CLASS_GET], &k, rules);
	if ((r = lookup(d->st[D_CLASS_GET], n)) != 0)
		return r;
	if (*n == 0) {
		sqlite3_stmt *st = d->st[D_CLASS_INS];

		if ((r = country_num(d, k.origin, &oc)) != 0 || (r = country_num(d, k.destination, &dc)) != 0)
			return r;
		bind_class(st, &k, rules);
		sqlite3_bind_int64(st, 8, oc);
		sqlite3_bind_int64(st, 9, dc);
		if (ledger_step_done(st) != 0)
			return TIDS_EDB;
		*n = sqlite3_last_insert_rowid(d->db);
		st = d->st[D_CLASS_RULE_INS];
		for (size_t i = 0; i < k.n_rules; i++) {
			sqlite3_bind_int64(st, 1, k.rules[i]);
			sqlite3_bind_int64(st, 2, *n);
			if (ledger_step_done(st) != 0)
				return TIDS_EDB;
		}
	}
	return remember(&d->class_keys, &k, klen, *n);
}

static void bind_profile(sqlite3_stmt *st, const struct profile_key *k)
{
	sqlite3_bind_int64(st, 1, k->owner);
	sqlite3_bind_int64(st, 2, k->recipient);
	sqlite3_bind_int64(st, 3, k->grant_id);
	sqlite3_bind_int64(st, 4, k->approval_id);
	sqlite3_bind_int64(st, 5, k->class_n);
}

int ledger_dict_entry_of(struct ledger_dict *d, const struct ledger_entry_view *v, int64_t *profile, int64_t *class_n)
{
	const struct tids_bytes *strs[] = { &v->owner, &v->recipient, &v->grant_id, &v->approval_id };
	struct profile_key k;
	int64_t *const nums[] = { &k.owner, &k.recipient, &k.grant_id, &k.approval_id };
	struct key_slot *slot;
	int r;

	if ((r = class_of(d, v, &k.class_n)) != 0 || (r = names_of(d, strs, nums, 4)) != 0)
		return r;
	*class_n = k.class_n;
	if ((slot = tids_map_get(&d->profile_keys, &k, sizeof(k))) != NULL) {
		*profile = slot->n;
		return 0;
	}
	bind_profile(d->st[D_PROFILE_GET], &k);
	if ((r = lookup(d->st[D_PROFILE_GET], profile)) != 0)
		return r;
	if (*profile == 0) {
		bind_profile(d->st[D_PROFILE_INS], &k);
		if (ledger_step_done(d->st[D_PROFILE_INS]) != 0)
			return TIDS_EDB;
		*profile = sqlite3_last_insert_rowid(d->db);
	}
	return remember(&d->profile_keys, &k, sizeof(k), *profile);
}

static void count_one(struct tids_map *m, int64_t n)
{
	struct pending_count *c = tids_map_get(m, &n, sizeof(n));

	if (c == NULL) {
		/* Out of memory: an estimate stays a little low, nothing more. */
		if ((c = malloc(sizeof(*c))) == NULL)
			return;
		c->n = n;
		c->add = 0;
		if (tids_map_put(m, &c->n, sizeof(c->n), c, NULL) != 0) {
			free(c);
			return;
		}
	}
	c->add++;
}

void ledger_dict_count(struct ledger_dict *d, int64_t profile, int64_t class_n)
{
	count_one(&d->counts[0], class_n);
	count_one(&d->counts[1], profile);
}

int ledger_dict_flush_counts(struct ledger_dict *d)
{
	for (int k = 0; k < 2; k++) {
		sqlite3_stmt *st = d->st[k == 0 ? D_CLASS_COUNT : D_PROFILE_COUNT];
		struct pending_count *c;
		size_t pos = 0;

		while ((c = tids_map_next(&d->counts[k], &pos)) != NULL) {
			sqlite3_bind_int64(st, 1, c->n);
			sqlite3_bind_int64(st, 2, c->add);
			if (ledger_step_done(st) != 0)
				return TIDS_EDB;
		}
		free_map(&d->counts[k]);
	}
	return 0;
}

/* --- reading ------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Parses the rules column into name numbers; -1 if it is not ours. */
static int parse_rules(const char *text, int64_t *out, size_t *n)
{
	const char *p = text;

	*n = 0;
	while (*p != '\0') {
		char *end;
		long long v = strtoll(p, &end, 10);

		if (end == p || v <= 0 || *n == LEDGER_RULES_MAX || (*end != ',' && *end != '\0'))
			return -1;
		out[(*n)++] = v;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Reads n integer columns of the row under st; -1 if one is not. */
static int int_columns(sqlite3_stmt *st, int64_t *out, int n)
{
	for (int i = 0; i < n; i++) {
		if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
			return -1;
		out[i] = sqlite3_column_int64(st, i);
	}
	return 0;
}

int ledger_dict_class(struct ledger_dict *d, int64_t n, const struct ledger_class **out)
{
	struct num_class *slot = tids_map_get(&d->classes, &n, sizeof(n));
	sqlite3_stmt *st = d->st[D_CLASS_ROW];
	int64_t nums[6], rules[LEDGER_RULES_MAX];
	size_t n_rules = 0;
	int rc, r = 0;

	if (slot != NULL) {
		*out = &slot->c;
		return 0;
	}
	sqlite3_bind_int64(st, 1, n);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = int_columns(st, nums, 6) != 0 || sqlite3_column_type(st, 6) != SQLITE_TEXT ||
			    parse_rules((const char *)sqlite3_column_text(st, 6), rules, &n_rules) != 0 ? TIDS_EBADSIG : 0;
	else
		r = rc == SQLITE_DONE ? TIDS_ENOENT : TIDS_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != 0)
		return r;
	if ((slot = calloc(1, sizeof(*slot) + n_rules * sizeof(char *))) == NULL)
		return TIDS_ENOMEM;
	slot->n = slot->c.n = n;
	slot->c.rules = (const char **)(slot + 1);
	slot->c.n_rules = n_rules;
	slot->c.decision = (int)nums[1];
	slot->c.tier = (int)nums[2];
	/* Columns: purpose, decision, tier, category, origin, destination. */
	if ((r = name_of(d, nums[0], &slot->c.purpose)) == 0 && (r = name_of(d, nums[3], &slot->c.category)) == 0 &&
	    (r = name_of(d, nums[4], &slot->c.origin)) == 0)
		r = name_of(d, nums[5], &slot->c.destination);
	for (size_t i = 0; i < n_rules && r == 0; i++)
		r = name_of(d, rules[i], &slot->c.rules[i]);
	if (r == 0) {
		qsort(slot->c.rules, n_rules, sizeof(char *), cmp_str);
		if (tids_map_put(&d->classes, &slot->n, sizeof(slot->n), slot, NULL) != 0)
			r = TIDS_ENOMEM;
	}
	if (r != 0) {
		free(slot);
		/* A class citing a name that is not there was edited. */
		return r == TIDS_ENOENT ? TIDS_EBADSIG : r;
	}
	*out = &slot->c;
	return 0;
}

int ledger_dict_profile(struct ledger_dict *d, int64_t n, const struct ledger_profile **out)
{
	struct num_profile *slot = tids_map_get(&d->profiles, &n, sizeof(n));
	sqlite3_stmt *st = d->st[D_PROFILE_ROW];
	int64_t nums[5];
	int rc, r;

	if (slot != NULL) {
		*out = &slot->p;
		return 0;
	}
	sqlite3_bind_int64(st, 1, n);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = int_columns(st, nums, 5) != 0 ? TIDS_EBADSIG : 0;
	else
		r = rc == SQLITE_DONE ? TIDS_ENOENT : TIDS_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != 0)
		return r;
	if ((slot = calloc(1, sizeof(*slot))) == NULL)
		return TIDS_ENOMEM;
	slot->n = slot->p.n = n;
	slot->p.class_n = nums[4];
	if ((r = name_of(d, nums[0], &slot->p.owner)) == 0 && (r = name_of(d, nums[1], &slot->p.recipient)) == 0 &&
	    (r = name_of(d, nums[2], &slot->p.grant_id)) == 0 && (r = name_of(d, nums[3], &slot->p.approval_id)) == 0)
		r = ledger_dict_class(d, nums[4], &slot->p.c);
	if (r == 0 && tids_map_put(&d->profiles, &slot->n, sizeof(slot->n), slot, NULL) != 0)
		r = TIDS_ENOMEM;
	if (r != 0) {
		free(slot);
		return r == TIDS_ENOENT ? TIDS_EBADSIG : r;
	}
	*out = &slot->p;
	return 0;
}

static bool same(const char *s, const struct tids_bytes *b)
{
	return strlen(s) == b->len && memcmp(s, b->data, b->len) == 0;
}

static int cmp_view_rule(const void *x, const void *y)
{
	const struct tids_bytes *a = x, *b = y;
	int c = memcmp(a->data, b->data, a->len < b->len ? a->len : b->len);

	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

const char *ledger_profile_mismatch(const struct ledger_profile *p, struct ledger_entry_view *v)
{
	const struct ledger_class *c = p->c;
	size_t j = 0;

	if (!same(p->owner, &v->owner))
		return "owner";
	if (!same(p->recipient, &v->recipient))
		return "recipient";
	if (!same(p->grant_id, &v->grant_id))
		return "grant_id";
	if (!same(p->approval_id, &v->approval_id))
		return "approval_id";
	if (!same(c->purpose, &v->purpose))
		return "purpose";
	if (c->decision != v->decision)
		return "decision";
	if (c->tier != v->tier)
		return "tier";
	if (!same(c->category, &v->category))
		return "category";
	if (!same(c->origin, &v->origin))
		return "origin";
	if (!same(c->destination, &v->destination))
		return "destination";
	/* The entry's rules, sorted and without repeats, are the class's. */
	if (v->n_rules > 1)
		qsort(v->rules, v->n_rules, sizeof(v->rules[0]), cmp_view_rule);
	for (size_t i = 0; i < v->n_rules; i++) {
		if (i > 0 && cmp_view_rule(&v->rules[i], &v->rules[i - 1]) == 0)
			continue;
		if (j >= c->n_rules || !same(c->rules[j], &v->rules[i]))
			return "rules";
		j++;
	}
	return j == c->n_rules ? NULL : "rules";
}
