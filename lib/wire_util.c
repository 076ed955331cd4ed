/*
 * Mechanics shared by the decode gates: bounded unpacking into owned
 * storage, packing, and the checks applied to ids, names and lists.
 */
#include <stdlib.h>
#include <string.h>

#include "wire_internal.h"

int wire_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		size_t max, size_t extra, struct backing **b, char *err, size_t errlen)
{
	struct backing *nb;

	*b = NULL;
	if (len > max)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "%s: %zu bytes, at most %zu",
				 desc->short_name, len, max);
	if (buf == NULL && len > 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s: no buffer", desc->short_name);
	nb = calloc(1, sizeof(*nb));
	if (nb == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "%s: out of memory", desc->short_name);
	nb->msg = protobuf_c_message_unpack(desc, NULL, len, buf != NULL ? buf : (const uint8_t *)"");
	if (nb->msg == NULL) {
		free(nb);
		return tids_fail(err, errlen, TIDS_EDECODE,
				 "%s: not a valid protobuf encoding (truncated, or a field of the wrong type)",
				 desc->short_name);
	}
	if (extra > 0) {
		nb->mem = calloc(1, extra);
		if (nb->mem == NULL) {
			wire_release(nb);
			return tids_fail(err, errlen, TIDS_ENOMEM, "%s: out of memory", desc->short_name);
		}
	}
	*b = nb;
	return 0;
}

void *wire_alloc(struct backing *b, size_t size)
{
	b->mem = calloc(1, size > 0 ? size : 1);
	return b->mem;
}

void wire_release(void *backing)
{
	struct backing *b = backing;

	if (b == NULL)
		return;
	if (b->msg != NULL)
		protobuf_c_message_free_unpacked(b->msg, NULL);
	free(b->mem);
	free(b);
}

int wire_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);

	/* malloc(0) may return NULL; an empty message is still a message. */
	*out = malloc(n > 0 ? n : 1);
	if (*out == NULL)
		return TIDS_ENOMEM;
	*len = protobuf_c_message_pack(msg, *out);
	return 0;
}

int wire_need_id(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	return wire_opt_id(what, s, err, errlen);
}

int wire_opt_id(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0' || tids_valid_id(s))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be 1-%d of [A-Za-z0-9._:-]", what, TIDS_ID_MAX);
}

/* A grant's or approval's id as a hub knows it: its own (an id), or one
 * another hub issued and sent it (id@hub, 128 characters at most). */
int wire_opt_consent_id(const char *what, const char *s, char *err, size_t errlen)
{
	char id[TIDS_ID_MAX + 1], hub[TIDS_ID_MAX + 1];

	if (s == NULL || *s == '\0' || (strlen(s) <= TIDS_ID_MAX && tids_address_split(s, id, hub)))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be id or id@hub, 1-%d of [A-Za-z0-9._:-@]", what,
			 TIDS_ID_MAX);
}

int wire_need_name(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	return wire_opt_name(what, s, err, errlen);
}

int wire_opt_name(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0' || tids_valid_name(s))
		return 0;
	return tids_fail(err, errlen, TIDS_EBADID, "%s must be 1-%d of [a-z0-9_]", what, TIDS_NAME_MAX);
}

int wire_need_jurisdiction(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0')
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	return wire_opt_jurisdiction(what, s, err, errlen);
}

int wire_opt_jurisdiction(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0' || tids_valid_jurisdiction(s))
		return 0;
	return tids_fail(err, errlen, TIDS_EINVAL, "%s '%.16s' is not a jurisdiction like CN-SH or DE", what, s);
}

int wire_text(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
	if (s != NULL && strnlen(s, max + 1) > max)
		return tids_fail(err, errlen, TIDS_ETOOBIG, "%s longer than %zu bytes", what, max);
	return 0;
}

int wire_bytes(const char *what, ProtobufCBinaryData d, size_t want, char *err, size_t errlen)
{
	if (d.len == 0)
		return tids_fail(err, errlen, TIDS_EMISSING, "%s missing", what);
	if (d.len != want)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s is %zu bytes, must be %zu", what, d.len, want);
	return 0;
}

int wire_tier(const char *what, int tier, bool required, char *err, size_t errlen)
{
	if (tier == TIDS_TIER_UNSET && required)
		return tids_fail(err, errlen, TIDS_ENOTIER, "%s has no tier (general, important or core)", what);
	if (tier < TIDS_TIER_UNSET || tier > TIDS_TIER_CORE)
		return tids_fail(err, errlen, TIDS_EINVAL, "%s: unknown tier %d", what, tier);
	return 0;
}

int wire_list(const char *what, char **items, size_t n, enum list_kind kind, size_t min,
	      struct tids_strlist *out, char *err, size_t errlen)
{
	if (n < min)
		return tids_fail(err, errlen, TIDS_EMISSING, "%s: at least %zu needed", what, min);
	if (n > TIDS_LIST_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "%s: %zu entries, at most %d", what, n, TIDS_LIST_MAX);
	for (size_t i = 0; i < n; i++) {
		static const char *const rule[] = {
			[LIST_IDS] = "1-128 of [A-Za-z0-9._:-]",
			[LIST_NAMES] = "1-64 of [a-z0-9_]",
			[LIST_FIELDS] = "1-64 of [A-Za-z0-9_.-]",
		};
		bool ok = kind == LIST_IDS ? tids_valid_id(items[i]) :
			  kind == LIST_NAMES ? tids_valid_name(items[i]) :
			  tids_valid_field_name(items[i]);

		if (!ok)
			return tids_fail(err, errlen, TIDS_EBADID, "%s[%zu] must be %s", what, i, rule[kind]);
	}
	out->items = (const char *const *)items;
	out->n = n;
	return 0;
}

bool tids_strlist_has(const struct tids_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

const char *tids_decision_name(enum tids_decision d)
{
	switch (d) {
	case TIDS_DECISION_ALLOW:
		return "allow";
	case TIDS_DECISION_DENY:
		return "deny";
	case TIDS_DECISION_TRANSFORM:
		return "transform";
	case TIDS_DECISION_UNSET:
		break;
	}
	return "unset";
}
