/*
 * The obligations vocabulary (obligations.def) as data: its entries for
 * tools that read or write obligations by name, and each entry's field in
 * a decision's obligations and in a grant's duties, by index, so that the
 * code composing them loops over the table instead of naming each one.
 */
#include <string.h>

#include "internal.h"

#define IDS_LIST true
#define NAMES_LIST false

static const struct tids_policy_ob_info entries[] = {
#define TIDS_OB_FLAG(name, summary) \
	{ #name, #name, false, false, TIDS_POLICY_OB_FLAG_##name, summary },
#define TIDS_OB_LIST(name, word, check, summary) \
	{ #name, word, true, check##_LIST, TIDS_POLICY_OB_LIST_##name, summary },
#include "obligations.def"
};

#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

const struct tids_policy_ob_info *tids_policy_ob_at(size_t i)
{
	return i < N_ENTRIES ? &entries[i] : NULL;
}

const struct tids_policy_ob_info *tids_policy_ob_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < N_ENTRIES; i++)
		if (strcmp(entries[i].name, name) == 0 || strcmp(entries[i].word, name) == 0)
			return &entries[i];
	return NULL;
}

const char *pol_ob_words(void)
{
	static const char words[] = ""
#define TIDS_OB_FLAG(name, summary) ", " #name
#define TIDS_OB_LIST(name, word, check, summary) ", " word
#include "obligations.def"
		;
	return words + 2;
}

bool *pol_ob_flag(struct tids_policy_obligations *o, unsigned flag)
{
	switch (flag) {
#define TIDS_OB_FLAG(name, summary) case TIDS_POLICY_OB_FLAG_##name: return &o->name;
#include "obligations.def"
	default: return NULL;
	}
}

const char **pol_ob_list(struct tids_policy_obligations *o, unsigned list, size_t **n)
{
	switch (list) {
#define TIDS_OB_LIST(name, word, check, summary) \
	case TIDS_POLICY_OB_LIST_##name: *n = &o->n_##name; return o->name;
#include "obligations.def"
	default: *n = NULL; return NULL;
	}
}

bool pol_duty_flag(const struct tids_policy_grant_duties *du, unsigned flag)
{
	switch (flag) {
#define TIDS_OB_FLAG(name, summary) case TIDS_POLICY_OB_FLAG_##name: return du->name;
#include "obligations.def"
	default: return false;
	}
}

const char *const *pol_duty_list(const struct tids_policy_grant_duties *du, unsigned list, size_t *n)
{
	switch (list) {
#define TIDS_OB_LIST(name, word, check, summary) \
	case TIDS_POLICY_OB_LIST_##name: *n = du->n_##name; return du->name;
#include "obligations.def"
	default: *n = 0; return NULL;
	}
}
