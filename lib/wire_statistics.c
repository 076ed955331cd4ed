/*
 * The gate and encoders of HubStatistics (statistics.proto): a hub's signed
 * counts of one period, which reach every hub of the network and the
 * regulators. What another hub sends passes here before anything reads it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tids/statistics.h"
#include "wire_internal.h"

#define PERIOD_MIN_MS 1000
#define PERIOD_MAX_MS 86400000

/* --- order: every list is sorted by its key, each key once ----------------- */

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_decided(const struct tids_stat_decided *a, const struct tids_stat_decided *b)
{
	int c = cmp_i64(a->tier, b->tier);

	if (c == 0)
		c = cmp_str(a->category, b->category);
	return c != 0 ? c : cmp_i64(a->decision, b->decision);
}

static int cmp_flow(const struct tids_stat_flow *a, const struct tids_stat_flow *b)
{
	int c = cmp_str(a->origin, b->origin);

	return c != 0 ? c : cmp_str(a->destination, b->destination);
}

static int cmp_counter(const struct tids_stat_counter *a, const struct tids_stat_counter *b)
{
	int c = cmp_str(a->counter, b->counter);

	if (c == 0)
		c = cmp_str(a->key, b->key);
	return c != 0 ? c : cmp_i64(a->period, b->period);
}

static int cmp_usage(const struct tids_stat_usage *a, const struct tids_stat_usage *b)
{
	int c = cmp_str(a->lessor, b->lessor);

	if (c == 0)
		c = cmp_str(a->asset, b->asset);
	return c != 0 ? c : cmp_str(a->category, b->category);
}

static int unordered(const char *what, size_t i, char *err, size_t errlen)
{
	return tids_fail(err, errlen, TIDS_EINVAL, "statistics: %s row %zu is not after the one before it (rows are "
			 "sorted by their keys, each key once)", what, i);
}

static int rows(const char *what, size_t n, char *err, size_t errlen)
{
	if (n > TIDS_STATISTICS_ROWS_MAX)
		return tids_fail(err, errlen, TIDS_ETOOMANY, "statistics: %zu %s rows, at most %d", n, what,
				 TIDS_STATISTICS_ROWS_MAX);
	return 0;
}

/* --- the gate ---------------------------------------------------------------- */

static int decided_from(const Tids__V1__HubStatistics *m, struct tids_hub_statistics *s, uint64_t *sum, char *err,
			size_t errlen)
{
	for (size_t i = 0; i < m->n_decided; i++) {
		const Tids__V1__DecisionCount *d = m->decided[i];
		struct tids_stat_decided *o = &s->decided[i];
		int r;

		if ((r = wire_tier("statistics: decided row", (int)d->tier, true, err, errlen)) < 0 ||
		    (r = wire_need_name("statistics: decided category", d->category, err, errlen)) < 0)
			return r;
		if ((int)d->decision < TIDS_DECISION_ALLOW || (int)d->decision > TIDS_DECISION_TRANSFORM)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: decided row %zu: decision %d is none of "
					 "allow, deny, transform", i, (int)d->decision);
		if (d->decisions == 0 || d->records > d->decisions)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: decided row %zu: %llu decisions about %llu "
					 "records (at least one decision, no more records than decisions)", i,
					 (unsigned long long)d->decisions, (unsigned long long)d->records);
		*o = (struct tids_stat_decided){ (enum tids_tier)d->tier, d->category, (enum tids_decision)d->decision,
						 d->decisions, d->records };
		if (i > 0 && cmp_decided(&s->decided[i - 1], o) >= 0)
			return unordered("decided", i, err, errlen);
		if (*sum + d->decisions < *sum)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: decided rows overflow");
		*sum += d->decisions;
	}
	return 0;
}

static int flows_from(const Tids__V1__HubStatistics *m, struct tids_hub_statistics *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n_flows; i++) {
		const Tids__V1__FlowCount *f = m->flows[i];
		struct tids_stat_flow *o = &s->flows[i];
		int r;

		if ((r = wire_need_jurisdiction("statistics: flow origin", f->origin, err, errlen)) < 0 ||
		    (r = wire_need_jurisdiction("statistics: flow destination", f->destination, err, errlen)) < 0)
			return r;
		if (strcmp(f->origin, f->destination) == 0)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: flow row %zu goes from %s to itself", i,
					 f->origin);
		if (f->permitted + f->denied == 0 || f->permitted + f->denied < f->permitted)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: flow row %zu: no decisions, or too many", i);
		*o = (struct tids_stat_flow){ f->origin, f->destination, f->permitted, f->denied };
		if (i > 0 && cmp_flow(&s->flows[i - 1], o) >= 0)
			return unordered("flow", i, err, errlen);
	}
	return 0;
}

static int named_from(const char *what, Tids__V1__NamedCount **in, size_t n, struct tids_stat_named *out, char *err,
		      size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		char field[64];
		int r;

		snprintf(field, sizeof(field), "statistics: %s row %zu", what, i);
		if ((r = wire_need_id(field, in[i]->name, err, errlen)) < 0)
			return r;
		if (in[i]->count == 0)
			return tids_fail(err, errlen, TIDS_EINVAL, "%s counts nothing", field);
		out[i] = (struct tids_stat_named){ in[i]->name, in[i]->count };
		if (i > 0 && strcmp(out[i - 1].name, out[i].name) >= 0)
			return unordered(what, i, err, errlen);
	}
	return 0;
}

static int counters_from(const Tids__V1__HubStatistics *m, struct tids_hub_statistics *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n_counters; i++) {
		const Tids__V1__CounterCount *c = m->counters[i];
		struct tids_stat_counter *o = &s->counters[i];
		int r;

		if ((r = wire_need_name("statistics: counter", c->counter, err, errlen)) < 0 ||
		    (r = wire_text("statistics: counter key", c->key, TIDS_ID_MAX, err, errlen)) < 0)
			return r;
		if (c->added == 0 || c->total < c->added)
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: counter %s/%s: added %llu, total %llu (the "
					 "period adds something, the total holds it)", c->counter, c->key,
					 (unsigned long long)c->added, (unsigned long long)c->total);
		if (c->n_thresholds > TIDS_STATISTICS_THRESHOLDS_MAX)
			return tids_fail(err, errlen, TIDS_ETOOMANY, "statistics: counter %s: %zu thresholds, at most %d",
					 c->counter, c->n_thresholds, TIDS_STATISTICS_THRESHOLDS_MAX);
		memset(o, 0, sizeof(*o));
		for (size_t k = 0; k < c->n_thresholds; k++) {
			if (c->thresholds[k] == 0 || (k > 0 && c->thresholds[k] <= c->thresholds[k - 1]))
				return tids_fail(err, errlen, TIDS_EINVAL, "statistics: counter %s: thresholds must be "
						 "positive and ascending", c->counter);
			o->thresholds[k] = c->thresholds[k];
		}
		o->n_thresholds = c->n_thresholds;
		o->counter = c->counter;
		o->key = c->key;
		o->period = c->period;
		o->added = c->added;
		o->total = c->total;
		if (i > 0 && cmp_counter(&s->counters[i - 1], o) >= 0)
			return unordered("counter", i, err, errlen);
	}
	return 0;
}

static int usage_from(const Tids__V1__HubStatistics *m, struct tids_hub_statistics *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->n_usage; i++) {
		const Tids__V1__UsageCount *u = m->usage[i];
		struct tids_stat_usage *o = &s->usage[i];
		int r;

		if ((r = wire_need_id("statistics: usage lessor", u->lessor, err, errlen)) < 0 ||
		    (r = wire_opt_id("statistics: usage asset", u->asset, err, errlen)) < 0 ||
		    (r = wire_need_name("statistics: usage category", u->category, err, errlen)) < 0)
			return r;
		if (u->deliveries == 0 || !isfinite(u->sum))
			return tids_fail(err, errlen, TIDS_EINVAL, "statistics: usage row %zu: no deliveries, or a sum that "
					 "is not a number", i);
		*o = (struct tids_stat_usage){ u->lessor, u->asset, u->category, u->deliveries, u->records, u->sum };
		if (i > 0 && cmp_usage(&s->usage[i - 1], o) >= 0)
			return unordered("usage", i, err, errlen);
	}
	return 0;
}

static int statistics_from(const Tids__V1__HubStatistics *m, struct backing *b, struct tids_hub_statistics *s,
			   char *err, size_t errlen)
{
	size_t bytes;
	char *mem;
	uint64_t sum = 0;
	int r;

	if ((r = wire_need_id("statistics: hub_id", m->hub_id, err, errlen)) < 0 ||
	    (r = wire_need_jurisdiction("statistics: jurisdiction", m->jurisdiction, err, errlen)) < 0)
		return r;
	if (m->period_ms < PERIOD_MIN_MS || m->period_ms > PERIOD_MAX_MS)
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics: period of %lld ms, must be 1 s to 1 day",
				 (long long)m->period_ms);
	if (m->period_start_ms <= 0 || m->period_start_ms % m->period_ms != 0)
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics: period start %lld is not a multiple of the "
				 "period (%lld ms) after 1970", (long long)m->period_start_ms, (long long)m->period_ms);
	if (m->delay_ms < 0 || m->delay_ms > PERIOD_MAX_MS)
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics: delay of %lld ms, must be 0 to 1 day",
				 (long long)m->delay_ms);
	if (m->signature.len != 0 && m->signature.len != TIDS_SIGNATURE_BYTES)
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics: signature is %zu bytes, must be %d",
				 m->signature.len, TIDS_SIGNATURE_BYTES);
	if ((r = rows("decided", m->n_decided, err, errlen)) < 0 || (r = rows("flow", m->n_flows, err, errlen)) < 0 ||
	    (r = rows("denial", m->n_denials, err, errlen)) < 0 ||
	    (r = rows("approval", m->n_approvals, err, errlen)) < 0 ||
	    (r = rows("counter", m->n_counters, err, errlen)) < 0 || (r = rows("usage", m->n_usage, err, errlen)) < 0)
		return r;
	bytes = m->n_decided * sizeof(*s->decided) + m->n_flows * sizeof(*s->flows) +
		(m->n_denials + m->n_approvals) * sizeof(struct tids_stat_named) +
		m->n_counters * sizeof(*s->counters) + m->n_usage * sizeof(*s->usage);
	if ((mem = wire_alloc(b, bytes)) == NULL)
		return tids_fail(err, errlen, TIDS_ENOMEM, "statistics: out of memory");
	/* Every element type here is 8-byte aligned. */
	s->decided = (void *)mem;
	mem += m->n_decided * sizeof(*s->decided);
	s->flows = (void *)mem;
	mem += m->n_flows * sizeof(*s->flows);
	s->denials = (void *)mem;
	mem += m->n_denials * sizeof(*s->denials);
	s->approvals = (void *)mem;
	mem += m->n_approvals * sizeof(*s->approvals);
	s->counters = (void *)mem;
	mem += m->n_counters * sizeof(*s->counters);
	s->usage = (void *)mem;
	if ((r = decided_from(m, s, &sum, err, errlen)) < 0 || (r = flows_from(m, s, err, errlen)) < 0 ||
	    (r = named_from("denial", m->denials, m->n_denials, s->denials, err, errlen)) < 0 ||
	    (r = named_from("approval", m->approvals, m->n_approvals, s->approvals, err, errlen)) < 0 ||
	    (r = counters_from(m, s, err, errlen)) < 0 || (r = usage_from(m, s, err, errlen)) < 0)
		return r;
	if (sum > m->decisions)
		return tids_fail(err, errlen, TIDS_EINVAL, "statistics: the decided rows count %llu decisions, more than "
				 "the %llu of the period", (unsigned long long)sum, (unsigned long long)m->decisions);
	s->n_decided = m->n_decided;
	s->n_flows = m->n_flows;
	s->n_denials = m->n_denials;
	s->n_approvals = m->n_approvals;
	s->n_counters = m->n_counters;
	s->n_usage = m->n_usage;
	s->hub_id = m->hub_id;
	s->jurisdiction = m->jurisdiction;
	s->period_start_ms = m->period_start_ms;
	s->period_ms = m->period_ms;
	s->delay_ms = m->delay_ms;
	s->decisions = m->decisions;
	s->omitted = m->omitted;
	s->signed_at_ms = m->signed_at_ms;
	if (m->signature.len == TIDS_SIGNATURE_BYTES)
		memcpy(s->signature, m->signature.data, TIDS_SIGNATURE_BYTES);
	return 0;
}

int tids_wire_decode_hub_statistics(const uint8_t *buf, size_t len, struct tids_hub_statistics *out, char *err,
				    size_t errlen)
{
	struct backing *b;
	int r;

	memset(out, 0, sizeof(*out));
	r = wire_unpack(&tids__v1__hub_statistics__descriptor, buf, len, TIDS_STATISTICS_BYTES_MAX, 0, &b, err, errlen);
	if (r < 0)
		return r;
	if ((r = statistics_from((Tids__V1__HubStatistics *)b->msg, b, out, err, errlen)) < 0) {
		memset(out, 0, sizeof(*out));
		wire_release(b);
		return r;
	}
	out->backing = b;
	return 0;
}

void tids_hub_statistics_free(struct tids_hub_statistics *s)
{
	if (s == NULL)
		return;
	wire_release(s->backing);
	memset(s, 0, sizeof(*s));
}

/* --- encoders ------------------------------------------------------------------ */

/* A protobuf-c view of s borrowing its strings; one allocation. */
struct stats_view {
	Tids__V1__HubStatistics pb;
	void *mem;
};

static int stats_view(const struct tids_hub_statistics *s, bool with_signature, struct stats_view *v)
{
	size_t n = s->n_decided + s->n_flows + s->n_denials + s->n_approvals + s->n_counters + s->n_usage;
	size_t bytes = n * sizeof(void *) + s->n_decided * sizeof(Tids__V1__DecisionCount) +
		       s->n_flows * sizeof(Tids__V1__FlowCount) +
		       (s->n_denials + s->n_approvals) * sizeof(Tids__V1__NamedCount) +
		       s->n_counters * sizeof(Tids__V1__CounterCount) + s->n_usage * sizeof(Tids__V1__UsageCount) +
		       s->n_counters * TIDS_STATISTICS_THRESHOLDS_MAX * sizeof(uint64_t);
	char *mem;
	void **ptrs;
	Tids__V1__DecisionCount *dc;
	Tids__V1__FlowCount *fc;
	Tids__V1__NamedCount *nc;
	Tids__V1__CounterCount *cc;
	Tids__V1__UsageCount *uc;
	uint64_t *th;

	memset(v, 0, sizeof(*v));
	tids__v1__hub_statistics__init(&v->pb);
	if ((v->mem = mem = calloc(1, bytes > 0 ? bytes : 1)) == NULL)
		return TIDS_ENOMEM;
	ptrs = (void **)(void *)mem;
	mem += n * sizeof(void *);
	dc = (void *)mem;
	mem += s->n_decided * sizeof(*dc);
	fc = (void *)mem;
	mem += s->n_flows * sizeof(*fc);
	nc = (void *)mem;
	mem += (s->n_denials + s->n_approvals) * sizeof(*nc);
	cc = (void *)mem;
	mem += s->n_counters * sizeof(*cc);
	uc = (void *)mem;
	mem += s->n_usage * sizeof(*uc);
	th = (void *)mem;

	v->pb.decided = (Tids__V1__DecisionCount **)ptrs;
	for (size_t i = 0; i < s->n_decided; i++) {
		tids__v1__decision_count__init(&dc[i]);
		dc[i].tier = (Tids__V1__Tier)s->decided[i].tier;
		dc[i].category = (char *)s->decided[i].category;
		dc[i].decision = (Tids__V1__Decision)s->decided[i].decision;
		dc[i].decisions = s->decided[i].decisions;
		dc[i].records = s->decided[i].records;
		*ptrs++ = &dc[i];
	}
	v->pb.flows = (Tids__V1__FlowCount **)ptrs;
	for (size_t i = 0; i < s->n_flows; i++) {
		tids__v1__flow_count__init(&fc[i]);
		fc[i].origin = (char *)s->flows[i].origin;
		fc[i].destination = (char *)s->flows[i].destination;
		fc[i].permitted = s->flows[i].permitted;
		fc[i].denied = s->flows[i].denied;
		*ptrs++ = &fc[i];
	}
	v->pb.denials = (Tids__V1__NamedCount **)ptrs;
	for (size_t i = 0; i < s->n_denials + s->n_approvals; i++) {
		const struct tids_stat_named *src = i < s->n_denials ? &s->denials[i] : &s->approvals[i - s->n_denials];

		if (i == s->n_denials)
			v->pb.approvals = (Tids__V1__NamedCount **)ptrs;
		tids__v1__named_count__init(&nc[i]);
		nc[i].name = (char *)src->name;
		nc[i].count = src->count;
		*ptrs++ = &nc[i];
	}
	if (s->n_approvals == 0)
		v->pb.approvals = (Tids__V1__NamedCount **)ptrs;
	v->pb.counters = (Tids__V1__CounterCount **)ptrs;
	for (size_t i = 0; i < s->n_counters; i++) {
		tids__v1__counter_count__init(&cc[i]);
		cc[i].counter = (char *)s->counters[i].counter;
		cc[i].key = (char *)s->counters[i].key;
		cc[i].period = s->counters[i].period;
		cc[i].added = s->counters[i].added;
		cc[i].total = s->counters[i].total;
		cc[i].thresholds = th;
		for (size_t k = 0; k < s->counters[i].n_thresholds && k < TIDS_STATISTICS_THRESHOLDS_MAX; k++)
			*th++ = s->counters[i].thresholds[k];
		cc[i].n_thresholds = (size_t)(th - cc[i].thresholds);
		*ptrs++ = &cc[i];
	}
	v->pb.usage = (Tids__V1__UsageCount **)ptrs;
	for (size_t i = 0; i < s->n_usage; i++) {
		tids__v1__usage_count__init(&uc[i]);
		uc[i].lessor = (char *)s->usage[i].lessor;
		uc[i].asset = (char *)(s->usage[i].asset != NULL ? s->usage[i].asset : "");
		uc[i].category = (char *)s->usage[i].category;
		uc[i].deliveries = s->usage[i].deliveries;
		uc[i].records = s->usage[i].records;
		uc[i].sum = s->usage[i].sum;
		*ptrs++ = &uc[i];
	}
	v->pb.n_decided = s->n_decided;
	v->pb.n_flows = s->n_flows;
	v->pb.n_denials = s->n_denials;
	v->pb.n_approvals = s->n_approvals;
	v->pb.n_counters = s->n_counters;
	v->pb.n_usage = s->n_usage;
	v->pb.hub_id = (char *)s->hub_id;
	v->pb.jurisdiction = (char *)s->jurisdiction;
	v->pb.period_start_ms = s->period_start_ms;
	v->pb.period_ms = s->period_ms;
	v->pb.delay_ms = s->delay_ms;
	v->pb.decisions = s->decisions;
	v->pb.omitted = s->omitted;
	v->pb.signed_at_ms = s->signed_at_ms;
	if (with_signature) {
		v->pb.signature.data = (uint8_t *)s->signature;
		v->pb.signature.len = TIDS_SIGNATURE_BYTES;
	}
	return 0;
}

static int encode(const struct tids_hub_statistics *in, bool with_signature, uint8_t **out, size_t *len)
{
	struct stats_view v;
	int r = stats_view(in, with_signature, &v);

	if (r == 0)
		r = wire_pack(&v.pb.base, out, len);
	free(v.mem);
	return r;
}

int tids_wire_encode_hub_statistics(const struct tids_hub_statistics *in, uint8_t **out, size_t *len)
{
	return encode(in, true, out, len);
}

int tids_wire_encode_hub_statistics_unsigned(const struct tids_hub_statistics *in, uint8_t **out, size_t *len)
{
	return encode(in, false, out, len);
}
