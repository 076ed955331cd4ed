/*
 * Writes a record as the JSON object that tids_json_to_record reads (see
 * tids/json.h), so subscribe output can be published again unchanged:
 * record_id in hex, produced_at in ms, uint and blob values tagged.
 */
#include "tids/error.h"
#include "tids/json.h"

static void write_value(struct tids_jw *w, const struct tids_value *v)
{
	switch (v->kind) {
	case TIDS_VALUE_INT:
		tids_jw_int64(w, v->as.i);
		return;
	case TIDS_VALUE_UINT:
		tids_jw_object_begin(w);
		tids_jw_key(w, "uint");
		tids_jw_uint64(w, v->as.u);
		tids_jw_object_end(w);
		return;
	case TIDS_VALUE_REAL:
		tids_jw_double(w, v->as.d);
		return;
	case TIDS_VALUE_FLAG:
		tids_jw_bool(w, v->as.b);
		return;
	case TIDS_VALUE_TEXT:
		tids_jw_string_len(w, (const char *)v->as.bytes.data, v->as.bytes.len);
		return;
	case TIDS_VALUE_BLOB:
		tids_jw_object_begin(w);
		tids_jw_key(w, "blob");
		tids_jw_base64(w, v->as.bytes.data, v->as.bytes.len);
		tids_jw_object_end(w);
		return;
	case TIDS_VALUE_NONE:
		break;
	}
	tids_jw_null(w);   /* an unset value, as the reader will then report */
}

static void write_field(struct tids_jw *w, const struct tids_field *f)
{
	tids_jw_object_begin(w);
	tids_jw_key(w, "name");
	tids_jw_string(w, f->name);
	tids_jw_key(w, "value");
	write_value(w, &f->value);
	if (f->tier != TIDS_TIER_UNSET) {
		tids_jw_key(w, "tier");
		tids_jw_string(w, tids_tier_name(f->tier));
	}
	if (f->n_labels > 0) {
		tids_jw_key(w, "labels");
		tids_jw_array_begin(w);
		for (size_t l = 0; l < f->n_labels; l++)
			tids_jw_string(w, f->labels[l]);
		tids_jw_array_end(w);
	}
	tids_jw_object_end(w);
}

void tids_jw_record(struct tids_jw *w, const struct tids_record *rec)
{
	if (rec == NULL) {
		if (w->err == 0)
			w->err = TIDS_EINVAL;
		return;
	}
	tids_jw_object_begin(w);
	tids_jw_key(w, "record_id");
	tids_jw_hex(w, rec->record_id, sizeof(rec->record_id));
	tids_jw_key(w, "owner");
	tids_jw_string(w, rec->owner);
	tids_jw_key(w, "asset_id");
	tids_jw_string(w, rec->asset_id != NULL ? rec->asset_id : "");
	tids_jw_key(w, "category");
	tids_jw_string(w, rec->category);
	tids_jw_key(w, "tier");
	tids_jw_string(w, tids_tier_name(rec->tier));
	tids_jw_key(w, "origin");
	tids_jw_string(w, rec->origin);
	tids_jw_key(w, "produced_at");
	tids_jw_int64(w, rec->produced_at_ms);
	tids_jw_key(w, "personal");
	tids_jw_bool(w, rec->personal);
	tids_jw_key(w, "individuals");
	tids_jw_uint64(w, rec->individuals);
	tids_jw_key(w, "sensitive_personal");
	tids_jw_bool(w, rec->sensitive_personal);
	tids_jw_key(w, "schema");
	tids_jw_string(w, rec->schema != NULL ? rec->schema : "");
	tids_jw_key(w, "fields");
	tids_jw_array_begin(w);
	for (size_t i = 0; i < rec->n_fields; i++)
		write_field(w, &rec->fields[i]);
	tids_jw_array_end(w);
	tids_jw_object_end(w);
}
