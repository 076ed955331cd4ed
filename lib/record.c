/*
 * Small helpers over the internal record form shared by the router, the
 * policy engine and the CLI.
 */
#include <string.h>

#include "tids/record.h"

static const char *const tier_names[] = {
	[TIDS_TIER_UNSET] = "unset",
	[TIDS_TIER_GENERAL] = "general",
	[TIDS_TIER_IMPORTANT] = "important",
	[TIDS_TIER_CORE] = "core",
};

const char *tids_tier_name(enum tids_tier tier)
{
	if ((unsigned)tier > TIDS_TIER_CORE)
		return "invalid";
	return tier_names[tier];
}

enum tids_tier tids_tier_parse(const char *name)
{
	for (unsigned t = TIDS_TIER_GENERAL; t <= TIDS_TIER_CORE; t++)
		if (strcmp(name, tier_names[t]) == 0)
			return (enum tids_tier)t;
	return TIDS_TIER_UNSET;
}

enum tids_tier tids_record_effective_tier(const struct tids_record *rec)
{
	enum tids_tier tier = rec->tier;

	for (size_t i = 0; i < rec->n_fields; i++)
		if (rec->fields[i].tier > tier)
			tier = rec->fields[i].tier;
	return tier;
}

bool tids_field_has_label(const struct tids_field *f, const char *label)
{
	for (size_t i = 0; i < f->n_labels; i++)
		if (strcmp(f->labels[i], label) == 0)
			return true;
	return false;
}

const struct tids_field *tids_record_field(const struct tids_record *rec, const char *name)
{
	for (size_t i = 0; i < rec->n_fields; i++)
		if (strcmp(rec->fields[i].name, name) == 0)
			return &rec->fields[i];
	return NULL;
}

void tids_record_free(struct tids_record *rec)
{
	if (rec == NULL)
		return;
	if (rec->release != NULL)
		rec->release(rec->backing);
	memset(rec, 0, sizeof(*rec));
}
