/*
 * Obligations as JSON: the one writer, so that every tidsctl output
 * (subscribe, audit query and export, admin list of grants, explain)
 * says the same thing the same way: a key appears when its duty is set.
 * The obligations carried by name come from the vocabulary's table.
 */
#include "tids/json.h"
#include "tids/wire.h"

static void strings(struct tids_jw *w, const char *key, const struct tids_strlist *l)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < l->n; i++)
		tids_jw_string(w, l->items[i]);
	tids_jw_array_end(w);
}

void tids_jw_obligations(struct tids_jw *w, const struct tids_obligations *o)
{
	const struct tids_aggregation *a = &o->aggregate;

	tids_jw_object_begin(w);
	if (o->retain_until_ms != 0) {
		tids_jw_key(w, "retain_until_ms");
		tids_jw_int64(w, o->retain_until_ms);
	}
	if (o->redacted.n > 0)
		strings(w, "redacted", &o->redacted);
	if (a->function != NULL && *a->function != '\0') {
		tids_jw_key(w, "aggregate");
		tids_jw_object_begin(w);
		tids_jw_key(w, "function");
		tids_jw_string(w, a->function);
		tids_jw_key(w, "field");
		tids_jw_string(w, a->field != NULL ? a->field : "");
		tids_jw_key(w, "window_ms");
		tids_jw_int64(w, a->window_ms);
		if (a->window_months != 0) {
			tids_jw_key(w, "window_months");
			tids_jw_int64(w, a->window_months);
		}
		strings(w, "by", &a->by);
		tids_jw_object_end(w);
	}
	if (o->purposes.n > 0)
		strings(w, "purposes", &o->purposes);
#define TIDS_OB_FLAG(name, summary)              \
	if (o->name) {                           \
		tids_jw_key(w, #name);           \
		tids_jw_bool(w, true);           \
	}
#define TIDS_OB_LIST(name, word, check, summary) \
	if (o->name.n > 0)                       \
		strings(w, #name, &o->name);
#include "obligations.def"
	tids_jw_object_end(w);
}
