/*
 * The attribute schema rules are checked against: the built-in attributes
 * of record, recipient, owner, asset and grant, and the hub's `attribute`
 * declarations of registry attributes, each given a slot a decision caches.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tids/error.h"

const struct builtin_attr pol_builtins[B_COUNT] = {
	[B_RECORD_OWNER] = { "record.owner", PT_STR },
	[B_RECORD_ASSET] = { "record.asset", PT_STR },
	[B_RECORD_CATEGORY] = { "record.category", PT_STR },
	[B_RECORD_TIER] = { "record.tier", PT_TIER },
	[B_RECORD_BASE_TIER] = { "record.base_tier", PT_TIER },
	[B_RECORD_ORIGIN] = { "record.origin", PT_STR },
	[B_RECORD_COUNTRY] = { "record.country", PT_STR },
	[B_RECORD_PRODUCED_AT] = { "record.produced_at", PT_TIME },
	[B_RECORD_PERSONAL] = { "record.personal", PT_BOOL },
	[B_RECORD_SENSITIVE] = { "record.sensitive_personal", PT_BOOL },
	[B_RECORD_INDIVIDUALS] = { "record.individuals", PT_INT },
	[B_RECORD_SCHEMA] = { "record.schema", PT_STR },
	[B_RECORD_VIA_HUB] = { "record.via_hub", PT_STR },
	[B_RECORD_HOPS] = { "record.hops", PT_INT },
	[B_RCPT_ID] = { "recipient.id", PT_STR },
	[B_RCPT_ROLE] = { "recipient.role", PT_STR },
	[B_RCPT_JURISDICTION] = { "recipient.jurisdiction", PT_STR },
	[B_RCPT_COUNTRY] = { "recipient.country", PT_STR },
	[B_RCPT_HOME_HUB] = { "recipient.home_hub", PT_STR },
	[B_RCPT_REGISTERED] = { "recipient.registered", PT_BOOL },
	[B_RCPT_SUSPENDED] = { "recipient.suspended", PT_BOOL },
	[B_OWNER_ID] = { "owner.id", PT_STR },
	[B_OWNER_ROLE] = { "owner.role", PT_STR },
	[B_OWNER_JURISDICTION] = { "owner.jurisdiction", PT_STR },
	[B_OWNER_COUNTRY] = { "owner.country", PT_STR },
	[B_OWNER_HOME_HUB] = { "owner.home_hub", PT_STR },
	[B_OWNER_REGISTERED] = { "owner.registered", PT_BOOL },
	[B_OWNER_SUSPENDED] = { "owner.suspended", PT_BOOL },
	[B_ASSET_ID] = { "asset.id", PT_STR },
	[B_ASSET_LESSEE] = { "asset.lessee", PT_STR },
	[B_ASSET_LESSOR] = { "asset.lessor", PT_STR },
	[B_ASSET_SITE] = { "asset.site", PT_STR },
	[B_ASSET_KIND] = { "asset.kind", PT_STR },
	[B_ASSET_REGISTERED] = { "asset.registered", PT_BOOL },
	[B_PURPOSE] = { "purpose", PT_STR },
	[B_NOW] = { "now", PT_TIME },
	[B_PURPOSE_ALLOWED] = { "purpose_allowed", PT_BOOL },
	[B_ONWARD] = { "onward", PT_BOOL },
	[B_GRANT_ID] = { "grant.id", PT_STR },
	[B_GRANT_OWNER] = { "grant.owner", PT_STR },
	[B_GRANT_GRANTEE] = { "grant.grantee", PT_STR },
	[B_GRANT_NOT_BEFORE] = { "grant.not_before", PT_TIME },
	[B_GRANT_NOT_AFTER] = { "grant.not_after", PT_TIME },
	[B_GRANT_MAX_USES] = { "grant.max_uses", PT_INT },
	[B_GRANT_USES] = { "grant.uses", PT_INT },
	[B_GRANT_REMAINING] = { "grant.remaining", PT_INT },
};

const char *pol_type_name(enum ptype t)
{
	switch (t) {
	case PT_ERROR: return "error";
	case PT_BOOL: return "bool";
	case PT_INT: return "int";
	case PT_STR: return "string";
	case PT_TIME: return "time";
	case PT_DUR: return "duration";
	case PT_TIER: return "tier";
	case PT_LIST: return "list";
	case PT_ANY: return "any";
	}
	return "?";
}

static void error_at(struct checker *ck, const char *file, unsigned line, unsigned col,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void error_at(struct checker *ck, const char *file, unsigned line, unsigned col,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pol_vdiag(ck->diags, TIDS_POLICY_ERROR, file, line, col, fmt, ap);
	va_end(ap);
	ck->errors++;
}

static bool literal_of_type(const struct node *n, enum ptype t)
{
	switch (t) {
	case PT_BOOL: return n->op == N_BOOL;
	case PT_INT: return n->op == N_INT || (n->op == N_NEG && n->a->op == N_INT);
	case PT_STR: return n->op == N_STR;
	case PT_TIME: return n->op == N_TIME;
	case PT_DUR: return n->op == N_DUR;
	case PT_TIER: return n->op == N_NAME && tids_tier_parse(n->s) != TIDS_TIER_UNSET;
	default: return false;
	}
}

static void check_attr_decls(struct checker *ck)
{
	struct program *prog = ck->prog;
	for (size_t i = 0; i < prog->n_attrs; i++) {
		struct attr_decl *d = prog->attrs[i];
		bool dup = false;
		for (size_t j = 0; j < i; j++) {
			const struct attr_decl *o = prog->attrs[j];
			if (o->entity == d->entity && strcmp(o->name, d->name) == 0) {
				error_at(ck, d->file, d->line, d->col,
					 "attribute %s.%s is already declared at %s:%u",
					 d->entity == ENT_ASSET ? "asset" : "participant", d->name,
					 o->file, o->line);
				dup = true;
				break;
			}
		}
		if (dup)
			continue;
		const char *prefix = d->entity == ENT_ASSET ? "asset." : "recipient.";
		char path[96];
		snprintf(path, sizeof(path), "%s%s", prefix, d->name);
		bool builtin = false;
		for (uint32_t b = 0; b < B_COUNT; b++)
			if (strcmp(pol_builtins[b].path, path) == 0)
				builtin = true;
		if (builtin) {
			error_at(ck, d->file, d->line, d->col, "%s is built in and cannot be declared",
				 path);
			continue;
		}
		if (d->deflt != NULL) {
			if (!literal_of_type(d->deflt, d->type)) {
				error_at(ck, d->file, d->deflt->line, d->deflt->col,
					 "the default of a %s attribute must be a %s literal",
					 pol_type_name(d->type), pol_type_name(d->type));
				continue;
			}
			if (d->type == PT_TIER) {
				d->deflt->op = N_TIER;
				d->deflt->i = tids_tier_parse(d->deflt->s);
			} else if (d->deflt->op == N_NEG) {
				d->deflt->i = -d->deflt->a->i;
				d->deflt->op = N_INT;
			}
		}
		unsigned *count = d->entity == ENT_ASSET ? &ck->n_asset_decls : &ck->n_part_decls;
		if (*count >= POL_ATTR_DECLS_MAX) {
			error_at(ck, d->file, d->line, d->col, "more than %d %s attributes are declared",
				 POL_ATTR_DECLS_MAX, d->entity == ENT_ASSET ? "asset" : "participant");
			continue;
		}
		d->index = (*count)++;
		int who_max = d->entity == ENT_ASSET ? 1 : 2;
		for (int who = 0; who < who_max; who++) {
			char name[96];
			enum slot_src src = d->entity == ENT_ASSET ? SLOT_ASSET_ATTR
					  : who == 0 ? SLOT_RECIPIENT_ATTR : SLOT_OWNER_ATTR;
			snprintf(name, sizeof(name), "%s.%s",
				 src == SLOT_ASSET_ATTR ? "asset" : src == SLOT_RECIPIENT_ATTR ? "recipient"
											: "owner", d->name);
			const char *copy = pol_arena_strndup(ck->arena, name, strlen(name));
			if (copy == NULL ||
			    pol_new_slot(ck, (struct slot_def){ .src = (uint8_t)src, .type = (uint8_t)d->type,
							    .id = d->index, .name = copy, .decl = d }) < 0) {
				ck->prog->oom = true;
				return;
			}
		}
	}
}

void pol_check_schema(struct checker *ck)
{
	for (uint32_t b = 0; b < B_COUNT; b++)
		ck->slots[b] = (struct slot_def){
			.src = SLOT_BUILTIN, .type = (uint8_t)pol_builtins[b].type, .id = b,
			.name = pol_builtins[b].path,
			/* the tier of what would be delivered changes as fields go */
			.view_dependent = b == B_RECORD_TIER,
		};
	ck->n_slots = B_COUNT;
	check_attr_decls(ck);
}
