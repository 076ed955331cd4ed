/*
 * Who may ask for which purposes: the policies' `purposes role ... may`
 * and `purpose ... needs case by role` declarations, copied out of the
 * policy set (the router owns the set), and checked when a participant
 * subscribes. A purpose is never self-asserted: Subscribe with one the
 * participant's role may not ask for is refused, and the router denies it
 * too (`purpose_allowed`), for subscriptions that stood before a reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/error.h"
#include "tidsd.h"

struct pair {
	char a[TIDS_NAME_MAX + 1];
	char b[TIDS_NAME_MAX + 1];
};

struct purposes {
	struct pair *may;              /* (role, purpose), sorted */
	size_t n_may;
	struct pair *cases;            /* (purpose, approving role), sorted */
	size_t n_cases;
};

static int by_pair(const void *x, const void *y)
{
	const struct pair *p = x, *q = y;
	int c = strcmp(p->a, q->a);

	return c != 0 ? c : strcmp(p->b, q->b);
}

static bool has(const struct pair *v, size_t n, const char *a, const char *b)
{
	struct pair key;

	if (strlen(a) > TIDS_NAME_MAX || (b != NULL && strlen(b) > TIDS_NAME_MAX))
		return false;
	snprintf(key.a, sizeof(key.a), "%s", a);
	if (b != NULL) {
		snprintf(key.b, sizeof(key.b), "%s", b);
		return n > 0 && bsearch(&key, v, n, sizeof(*v), by_pair) != NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].a, a) == 0)
			return true;
	return false;
}

/* pairs as the set lists them (already sorted by (a, b)). */
static struct pair *copy(const struct tids_policy_set *set,
			 size_t (*list)(const struct tids_policy_set *, const char **, const char **, size_t),
			 size_t *n_out)
{
	size_t n = list(set, NULL, NULL, 0);
	const char **a = calloc(n + 1, sizeof(*a)), **b = calloc(n + 1, sizeof(*b));
	struct pair *v = calloc(n + 1, sizeof(*v));

	if (a == NULL || b == NULL || v == NULL) {
		free(v);
		v = NULL;
		goto out;
	}
	list(set, a, b, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].a, sizeof(v[i].a), "%s", a[i]);
		snprintf(v[i].b, sizeof(v[i].b), "%s", b[i]);
	}
	*n_out = n;
out:
	free(a);
	free(b);
	return v;
}

int purposes_set(struct tidsd *d, const struct tids_policy_set *set)
{
	struct purposes *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->may = copy(set, tids_policy_role_purposes, &p->n_may)) == NULL ||
	    (p->cases = copy(set, tids_policy_case_purposes, &p->n_cases)) == NULL) {
		if (p != NULL) {
			free(p->may);
			free(p);
		}
		return TIDS_ENOMEM;
	}
	purposes_free(d);
	d->purposes = p;
	if (p->n_may == 0)
		tids_log_warnx("policies: no `purposes role ... may [...]` declaration: every Subscribe is refused");
	return 0;
}

void purposes_free(struct tidsd *d)
{
	if (d->purposes == NULL)
		return;
	free(d->purposes->may);
	free(d->purposes->cases);
	free(d->purposes);
	d->purposes = NULL;
}

bool purposes_needs_case(const struct tidsd *d, const char *purpose)
{
	return d->purposes != NULL && has(d->purposes->cases, d->purposes->n_cases, purpose, NULL);
}

bool purposes_case_role(const struct tidsd *d, const char *purpose, const char *role)
{
	return d->purposes != NULL && has(d->purposes->cases, d->purposes->n_cases, purpose, role);
}

/* Is item one of the comma-separated names of list? */
static bool csv_has(const char *list, const char *item)
{
	size_t len = strlen(item);

	for (const char *p = list; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		if (n == len && memcmp(p, item, len) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* "billing, maintenance" for an error message: what role may ask for. */
static void allowed_list(const struct purposes *ps, const char *role, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ps->n_may && used < len; i++)
		if (strcmp(ps->may[i].a, role) == 0)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", ps->may[i].b);
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

int purposes_check_subscribe(struct tidsd *d, const struct tids_participant *p,
			     const struct tids_strlist *purposes, char *err, size_t errlen)
{
	const struct purposes *ps = d->purposes;
	const char *narrowed = tids_participant_attribute(p, TIDS_POLICY_PURPOSES_ATTR);
	char allowed[512];

	if (ps == NULL)
		return tids_fail(err, errlen, TIDS_EPERM, "no policy set is loaded: no purpose may be asked for");
	for (size_t i = 0; i < purposes->n; i++) {
		const char *purpose = purposes->items[i];

		if (!has(ps->may, ps->n_may, p->role, purpose)) {
			allowed_list(ps, p->role, allowed, sizeof(allowed));
			return tids_fail(err, errlen, TIDS_EPERM,
					 "purpose %s is not one a participant with role %s may ask for (it may ask "
					 "for: %s)", purpose, p->role, allowed);
		}
		if (narrowed != NULL && !csv_has(narrowed, purpose))
			return tids_fail(err, errlen, TIDS_EPERM,
					 "purpose %s is not among those the hub allows %s (%s=%s)", purpose, p->id,
					 TIDS_POLICY_PURPOSES_ATTR, narrowed);
		if (purposes_needs_case(d, purpose) && !registry_case_open(d, p->id, purpose, now_ms()))
			return tids_fail(err, errlen, TIDS_EPERM,
					 "purpose %s needs an open case: no valid approval of kind %s with a case id "
					 "names %s (a regulator issues one: tidsctl approve --kind %s --case ID)",
					 purpose, purpose, p->id, purpose);
	}
	return 0;
}

int purposes_check_attribute(const struct tids_participant *p, char *err, size_t errlen)
{
	const char *v = tids_participant_attribute(p, TIDS_POLICY_PURPOSES_ATTR);
	char name[TIDS_NAME_MAX + 1];

	if (v == NULL)
		return 0;
	for (const char *s = v;;) {
		const char *end = strchr(s, ',');
		size_t n = end != NULL ? (size_t)(end - s) : strlen(s);

		if (n == 0 || n > TIDS_NAME_MAX)
			goto bad;
		memcpy(name, s, n);
		name[n] = '\0';
		if (!tids_valid_name(name))
			goto bad;
		if (end == NULL)
			return 0;
		s = end + 1;
	}
bad:
	return tids_fail(err, errlen, TIDS_EINVAL,
			 "participant %s: attribute %s must list purpose names separated by commas, e.g. "
			 "billing,maintenance (got '%s')", p->id, TIDS_POLICY_PURPOSES_ATTR, v);
}
