/*
 * The one JSON form of a delivery's obligations, shared by every writer
 * (tidsctl subscribe, audit query and export, admin list of grants), so
 * they cannot drift apart: a key appears when its duty is set.
 */
#include "tids/json.h"
#include "tids/wire.h"

static void strlist(struct tids_jw *w, const char *key, const struct tids_strlist *l)
{
	tids_jw_key(w, key);
	tids_jw_array_begin(w);
	for (size_t i = 0; i < l->n; i++)
		tids_jw_string(w, l->items[i]);
	tids_jw_array_end(w);
}

void tids_jw_obligations(struct tids_jw *w, const struct tids_obligations *o)
{
	tids_jw_object_begin(w);
	if (o->retain_until_ms != 0) {
		tids_jw_key(w, "retain_until_ms");
		tids_jw_int64(w, o->retain_until_ms);
	}
	if (o->notify.n > 0)
		strlist(w, "notify", &o->notify);
	if (o->no_onward_transfer) {
		tids_jw_key(w, "no_onward_transfer");
		tids_jw_bool(w, true);
	}
	if (o->encrypt) {
		tids_jw_key(w, "encrypt");
		tids_jw_bool(w, true);
	}
	if (o->redacted.n > 0)
		strlist(w, "redacted", &o->redacted);
	if (o->aggregate.function != NULL && *o->aggregate.function != '\0') {
		tids_jw_key(w, "aggregate");
		tids_jw_object_begin(w);
		tids_jw_key(w, "function");
		tids_jw_string(w, o->aggregate.function);
		tids_jw_key(w, "field");
		tids_jw_string(w, o->aggregate.field != NULL ? o->aggregate.field : "");
		tids_jw_key(w, "window_ms");
		tids_jw_int64(w, o->aggregate.window_ms);
		strlist(w, "by", &o->aggregate.by);
		tids_jw_object_end(w);
	}
	if (o->purposes.n > 0)
		strlist(w, "purposes", &o->purposes);
	if (o->duties.n > 0)
		strlist(w, "duties", &o->duties);
	tids_jw_object_end(w);
}
