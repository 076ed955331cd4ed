/*
 * Statistics that travel: the HubStatistics gate (form, order, limits,
 * counts that agree), the hub's signature under its own domain, the record
 * that carries them and its gate, when a hub is silent, and a period
 * counted from a synthetic ledger: decisions and records by tier, category
 * and decision, flows, denials by rule, approvals used, counters against
 * their thresholds, billed use per lessor; the statistics' own routing and
 * decisions of other periods left out; the records the ledger keeps found
 * again.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "tids/crypto.h"
#include "tids/error.h"
#include "tids/ledger.h"
#include "tids/statistics.h"
#include "tids/wire.h"

#define HOUR INT64_C(3600000)
#define T0 (INT64_C(1767225600000) + 10 * HOUR)   /* 2026-01-01T10:00Z */

static char err[512];

/* --- a message by hand ------------------------------------------------------------ */

static struct tids_stat_decided decided[2];
static struct tids_stat_flow flows[1];
static struct tids_stat_named denials[2], approvals[1];
static struct tids_stat_counter counters[1];
static struct tids_stat_usage usage[1];

static struct tids_hub_statistics sample(void)
{
	struct tids_hub_statistics s = { .hub_id = "hub.sh", .jurisdiction = "CN-SH", .period_start_ms = T0,
					 .period_ms = HOUR, .delay_ms = 60000, .decisions = 7,
					 .signed_at_ms = T0 + HOUR + 60000 };

	decided[0] = (struct tids_stat_decided){ TIDS_TIER_GENERAL, "run_hours", TIDS_DECISION_ALLOW, 4, 2 };
	decided[1] = (struct tids_stat_decided){ TIDS_TIER_IMPORTANT, "recipe", TIDS_DECISION_DENY, 3, 3 };
	flows[0] = (struct tids_stat_flow){ "CN-SH", "SG", 1, 2 };
	denials[0] = (struct tids_stat_named){ "core_never_exported", 1 };
	denials[1] = (struct tids_stat_named){ "recipe_needs_time_boxed_grant", 2 };
	approvals[0] = (struct tids_stat_named){ "sa-2026-001", 1 };
	memset(counters, 0, sizeof(counters));
	counters[0] = (struct tids_stat_counter){ .counter = "pi_individuals_exported", .key = "factory.sh1",
						  .period = 2026, .added = 10, .total = 99990,
						  .thresholds = { 100000, 1000000 }, .n_thresholds = 2 };
	usage[0] = (struct tids_stat_usage){ "lessor.wh", "press-7", "output_count", 1, 5, 510.0 };
	s.decided = decided;
	s.n_decided = 2;
	s.flows = flows;
	s.n_flows = 1;
	s.denials = denials;
	s.n_denials = 2;
	s.approvals = approvals;
	s.n_approvals = 1;
	s.counters = counters;
	s.n_counters = 1;
	s.usage = usage;
	s.n_usage = 1;
	return s;
}

/* Encodes s and runs it through the gate: 0, or the gate's code (err). */
static int through_gate(const struct tids_hub_statistics *s)
{
	struct tids_hub_statistics out;
	uint8_t *b;
	size_t len;
	int r;

	ck_assert_int_eq(tids_wire_encode_hub_statistics(s, &b, &len), 0);
	r = tids_wire_decode_hub_statistics(b, len, &out, err, sizeof(err));
	free(b);
	tids_hub_statistics_free(&out);
	return r;
}

START_TEST(signed_round_trip)
{
	struct tids_identity hub, other;
	struct tids_hub_statistics s = sample(), out;
	uint8_t *b;
	size_t len;

	ck_assert_int_eq(tids_identity_generate(&hub), 0);
	ck_assert_int_eq(tids_identity_generate(&other), 0);
	ck_assert_int_eq(tids_statistics_sign(hub.sign_sk, &s), 0);
	ck_assert_int_eq(tids_wire_encode_hub_statistics(&s, &b, &len), 0);
	ck_assert_msg(tids_wire_decode_hub_statistics(b, len, &out, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(out.hub_id, "hub.sh");
	ck_assert_int_eq(out.period_start_ms, T0);
	ck_assert_uint_eq(out.n_decided, 2);
	ck_assert_str_eq(out.decided[1].category, "recipe");
	ck_assert_uint_eq(out.counters[0].total, 99990);
	ck_assert_uint_eq(out.counters[0].n_thresholds, 2);
	ck_assert_uint_eq(out.counters[0].thresholds[1], 1000000);
	ck_assert(out.usage[0].sum == 510.0);
	ck_assert_int_eq(tids_statistics_verify(hub.sign_pk, &out, err, sizeof(err)), 0);
	/* Another hub's key, or a count changed after signing: refused. */
	ck_assert_int_eq(tids_statistics_verify(other.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
	ck_assert_ptr_nonnull(strstr(err, "does not verify with the hub's key"));
	out.decisions++;
	ck_assert_int_eq(tids_statistics_verify(hub.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
	tids_hub_statistics_free(&out);
	/* A checkpoint's signature (another domain) over the same bytes is no
	 * signature of statistics. */
	free(b);
	ck_assert_int_eq(tids_wire_encode_hub_statistics_unsigned(&s, &b, &len), 0);
	ck_assert_int_eq(tids_sign_detached(hub.sign_sk, TIDS_DOMAIN_CHECKPOINT, b, len, s.signature), 0);
	ck_assert_int_eq(tids_statistics_verify(hub.sign_pk, &s, err, sizeof(err)), TIDS_EBADSIG);
	free(b);
	tids_identity_wipe(&hub);
	tids_identity_wipe(&other);
}
END_TEST

START_TEST(gate_rejections)
{
	struct tids_hub_statistics s;
	struct tids_stat_named many[TIDS_STATISTICS_ROWS_MAX + 1];
	char names[TIDS_STATISTICS_ROWS_MAX + 1][16];

	s = sample();
	ck_assert_msg(through_gate(&s) == 0, "%s", err);
	s.period_start_ms = T0 + 1;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a multiple of the period"));
	s = sample();
	s.period_ms = 10;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "1 s to 1 day"));
	s = sample();
	s.hub_id = "";
	ck_assert_int_eq(through_gate(&s), TIDS_EMISSING);
	s = sample();
	s.jurisdiction = "Shanghai";
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	/* Rows out of order, or a key twice. */
	s = sample();
	denials[0].name = "z_rule";
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "denial row 1 is not after"));
	s = sample();
	decided[1] = decided[0];
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "decided row 1"));
	/* Counts that cannot be. */
	s = sample();
	decided[0].records = 5;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no more records than decisions"));
	s = sample();
	s.decisions = 6;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "more than the 6 of the period"));
	s = sample();
	flows[0].destination = "CN-SH";
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "to itself"));
	s = sample();
	counters[0].total = 5;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	s = sample();
	counters[0].thresholds[1] = 50;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ascending"));
	s = sample();
	usage[0].sum = NAN;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	s = sample();
	decided[0].decision = (enum tids_decision)7;
	ck_assert_int_eq(through_gate(&s), TIDS_EINVAL);
	/* Too many rows. */
	s = sample();
	for (int i = 0; i <= TIDS_STATISTICS_ROWS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "rule%04d", i);
		many[i] = (struct tids_stat_named){ names[i], 1 };
	}
	s.denials = many;
	s.n_denials = TIDS_STATISTICS_ROWS_MAX + 1;
	ck_assert_int_eq(through_gate(&s), TIDS_ETOOMANY);
	/* Not statistics at all, and too long to be. */
	{
		struct tids_hub_statistics out;
		uint8_t junk[16] = { 0xff, 0xff, 0xff };
		uint8_t *big = calloc(1, TIDS_STATISTICS_BYTES_MAX + 1);

		ck_assert_int_eq(tids_wire_decode_hub_statistics(junk, sizeof(junk), &out, err, sizeof(err)), TIDS_EDECODE);
		ck_assert_int_eq(tids_wire_decode_hub_statistics(big, TIDS_STATISTICS_BYTES_MAX + 1, &out, err,
								 sizeof(err)), TIDS_ETOOBIG);
		free(big);
	}
}
END_TEST

/* --- the record that carries them ------------------------------------------------------ */

static void record_of(const struct tids_hub_statistics *s, struct tids_record *rec)
{
	uint8_t *b;
	size_t len;

	ck_assert_int_eq(tids_statistics_record(s, &b, &len), 0);
	ck_assert_msg(tids_wire_decode_record(b, len, rec, err, sizeof(err)) == 0, "%s", err);
	free(b);
}

START_TEST(record_round_trip_and_gate)
{
	struct tids_identity hub;
	struct tids_hub_statistics s = sample(), out;
	struct tids_record rec;
	uint8_t id[TIDS_RECORD_ID_BYTES];
	struct tids_field *f;

	ck_assert_int_eq(tids_identity_generate(&hub), 0);
	ck_assert_int_eq(tids_statistics_sign(hub.sign_sk, &s), 0);
	record_of(&s, &rec);
	ck_assert_str_eq(rec.owner, "hub.sh");
	ck_assert_str_eq(rec.category, TIDS_STATISTICS_CATEGORY);
	ck_assert_str_eq(rec.origin, "CN-SH");
	ck_assert_int_eq(rec.tier, TIDS_TIER_GENERAL);
	ck_assert_int_eq(rec.produced_at_ms, T0 + HOUR);
	ck_assert_uint_eq(tids_record_field(&rec, "decisions")->value.as.u, 7);
	/* The id is the hub's and the period's, wherever it is made. */
	tids_statistics_record_id("hub.sh", T0, id);
	ck_assert_mem_eq(rec.record_id, id, sizeof(id));
	tids_statistics_record_id("hub.sh", T0 + HOUR, id);
	ck_assert(memcmp(rec.record_id, id, sizeof(id)) != 0);
	tids_statistics_record_id("hub.wh", T0, id);
	ck_assert(memcmp(rec.record_id, id, sizeof(id)) != 0);
	ck_assert_msg(tids_statistics_from_record(&rec, &out, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(tids_statistics_verify(hub.sign_pk, &out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out.n_denials, 2);
	tids_hub_statistics_free(&out);
	/* Owned by another hub than the statistics name. */
	rec.owner = "hub.wh";
	ck_assert_int_eq(tids_statistics_from_record(&rec, &out, err, sizeof(err)), TIDS_EPERM);
	ck_assert_ptr_nonnull(strstr(err, "owned by hub.wh"));
	rec.owner = "hub.sh";
	/* A summary that says otherwise than the statistics. */
	f = (struct tids_field *)tids_record_field(&rec, "decisions");
	f->value.as.u = 1000;
	ck_assert_int_eq(tids_statistics_from_record(&rec, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "summary fields disagree"));
	f->value.as.u = 7;
	/* Another id. */
	rec.record_id[0] ^= 1;
	ck_assert_int_eq(tids_statistics_from_record(&rec, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "its id is not"));
	rec.record_id[0] ^= 1;
	/* A byte of the signed part changed: the gate takes it or not, the
	 * signature never. */
	f = (struct tids_field *)tids_record_field(&rec, "statistics.0");
	((uint8_t *)f->value.as.bytes.data)[f->value.as.bytes.len - 70] ^= 0x01;
	if (tids_statistics_from_record(&rec, &out, err, sizeof(err)) == 0) {
		ck_assert_int_eq(tids_statistics_verify(hub.sign_pk, &out, err, sizeof(err)), TIDS_EBADSIG);
		tids_hub_statistics_free(&out);
	}
	((uint8_t *)f->value.as.bytes.data)[f->value.as.bytes.len - 70] ^= 0x01;
	/* No part, or a part missing in the middle. */
	f->name = "statistics.1";
	ck_assert_int_eq(tids_statistics_from_record(&rec, &out, err, sizeof(err)), TIDS_EINVAL);
	f->name = "statistics.0";
	/* Another category or schema. */
	rec.category = "run_hours";
	ck_assert_int_eq(tids_statistics_from_record(&rec, &out, err, sizeof(err)), TIDS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no statistics record"));
	rec.category = TIDS_STATISTICS_CATEGORY;
	rec.schema = "press.telemetry/1";
	ck_assert_int_eq(tids_statistics_from_record(&rec, &out, err, sizeof(err)), TIDS_EINVAL);
	tids_record_free(&rec);
	tids_identity_wipe(&hub);
}
END_TEST

START_TEST(silent_after_a_missing_period)
{
	/* Hourly, a minute late: the next is overdue 1 h 31 min after the
	 * period ends (half a period for the way through the network). */
	ck_assert_int_eq(tids_statistics_overdue_at(T0, HOUR, 60000), T0 + HOUR + 60000 + HOUR / 2);
	/* Short periods get at least 30 s of margin. */
	ck_assert_int_eq(tids_statistics_overdue_at(T0, 2000, 1000), T0 + 2000 + 1000 + 30000);
}
END_TEST

/* --- a period counted from a ledger ------------------------------------------------------ */

struct entry_spec {
	const char *recipient, *purpose, *category, *destination, *approval, *rule;
	enum tids_decision decision;
	enum tids_tier tier;
	int record;                        /* which record id */
	int64_t at;                        /* after T0 */
	uint64_t counted, total;           /* pi_individuals_exported of factory.sh1 */
	uint64_t window_records;           /* an aggregate of so many records... */
	double value;                      /* ...saying this */
};

static uint8_t head[TIDS_HASH_BYTES];
static uint64_t seq;

static void add(struct tids_ledger *l, const uint8_t ids[][TIDS_RECORD_ID_BYTES], const struct entry_spec *sp)
{
	const char *rules[1] = { sp->rule };
	struct tids_counter_increment count = { "pi_individuals_exported", "factory.sh1", 2026, sp->counted, sp->total };
	uint8_t hash[TIDS_HASH_BYTES];
	struct tids_audit_entry e = { 0 };
	uint8_t *bytes;
	size_t len;

	memset(hash, 0x5a, sizeof(hash));
	e.hub_id = "hub.sh";
	e.partition = 0;
	e.seq = ++seq;
	memcpy(e.prev_hash, head, TIDS_HASH_BYTES);
	memcpy(e.record_id, ids[sp->record], TIDS_RECORD_ID_BYTES);
	e.owner = strcmp(sp->category, TIDS_STATISTICS_CATEGORY) == 0 ? "hub.sh" : "factory.sh1";
	e.recipient = sp->recipient;
	e.purpose = sp->purpose;
	e.decision = sp->decision;
	e.rule_ids = (struct tids_strlist){ rules, sp->rule != NULL };
	e.tier = sp->tier;
	e.category = sp->category;
	e.origin = "CN-SH";
	e.destination = sp->destination;
	e.approval_id = sp->approval != NULL ? sp->approval : "";
	e.decided_at_ms = T0 + sp->at;
	e.ingress_offset = sp->record;
	e.reason = "test";
	if (sp->decision != TIDS_DECISION_DENY)
		e.delivered_hash = (struct tids_bytes){ hash, sizeof(hash) };
	e.asset_id = strcmp(sp->category, TIDS_STATISTICS_CATEGORY) == 0 ? "" : "press-7";
	if (sp->counted > 0) {
		e.counts = &count;
		e.n_counts = 1;
	}
	if (sp->window_records > 0) {
		e.has_aggregate = true;
		e.aggregate = (struct tids_aggregate_result){ "sum", "count", T0, HOUR, sp->window_records, sp->value };
	}
	ck_assert_int_eq(tids_wire_encode_audit_entry(&e, &bytes, &len), 0);
	{
		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, head, TIDS_HASH_BYTES);
		crypto_generichash_update(&st, bytes, len);
		crypto_generichash_final(&st, head, TIDS_HASH_BYTES);
	}
	ck_assert_msg(tids_ledger_add_entry(l, bytes, len, err, sizeof(err)) == 0, "%s", err);
	free(bytes);
}

struct found {
	int n;
	char hub[64];
	int64_t start;
};

static int on_found(void *ctx, const uint8_t *bytes, size_t len)
{
	struct found *f = ctx;
	struct tids_record rec;
	struct tids_hub_statistics s;

	ck_assert_msg(tids_wire_decode_record(bytes, len, &rec, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tids_statistics_from_record(&rec, &s, err, sizeof(err)) == 0, "%s", err);
	snprintf(f->hub, sizeof(f->hub), "%s", s.hub_id);
	f->start = s.period_start_ms;
	f->n++;
	tids_hub_statistics_free(&s);
	tids_record_free(&rec);
	return 0;
}

START_TEST(period_from_the_ledger)
{
	enum { R_HOURS, R_HOURS2, R_SHIFT, R_RECIPE, R_SUM, R_STATS, R_LATE, N_REC };
	const struct entry_spec spec[] = {
		{ "lessor.wh", "billing", "run_hours", "CN-HB", NULL, "lessor_usage", TIDS_DECISION_ALLOW,
		  TIDS_TIER_GENERAL, R_HOURS, 1000, 0, 0, 0, 0 },
		{ "lessor.wh", "maintenance", "run_hours", "CN-HB", NULL, "lessor_usage", TIDS_DECISION_ALLOW,
		  TIDS_TIER_GENERAL, R_HOURS, 1001, 0, 0, 0, 0 },
		{ "lessor.wh", "billing", "run_hours", "CN-HB", NULL, "lessor_usage", TIDS_DECISION_ALLOW,
		  TIDS_TIER_GENERAL, R_HOURS2, 1500, 0, 0, 0, 0 },
		{ "bank.sh", "billing", "run_hours", "CN-SH", NULL, "default_deny", TIDS_DECISION_DENY,
		  TIDS_TIER_GENERAL, R_HOURS, 1002, 0, 0, 0, 0 },
		{ "hr.sg", "maintenance", "shifts", "SG", "sa-2026-001", "owner_grant", TIDS_DECISION_TRANSFORM,
		  TIDS_TIER_GENERAL, R_SHIFT, 2000, 10, 99990, 0, 0 },
		{ "lessor.wh", "maintenance", "recipe", "CN-HB", NULL, "recipe_needs_time_boxed_grant", TIDS_DECISION_DENY,
		  TIDS_TIER_IMPORTANT, R_RECIPE, 3000, 0, 0, 0, 0 },
		{ "lessor.wh", "billing", "output_count", "CN-HB", NULL, "lessor_output_billing", TIDS_DECISION_TRANSFORM,
		  TIDS_TIER_GENERAL, R_SUM, 4000, 0, 0, 5, 510.0 },
		/* The statistics' own routing is left out... */
		{ "hub.wh", "statistics", TIDS_STATISTICS_CATEGORY, "CN-HB", NULL, "statistics_between_hubs",
		  TIDS_DECISION_ALLOW, TIDS_TIER_GENERAL, R_STATS, 5000, 0, 0, 0, 0 },
		{ "hub.sh", "statistics", TIDS_STATISTICS_CATEGORY, "CN-SH", NULL, "statistics_between_hubs",
		  TIDS_DECISION_ALLOW, TIDS_TIER_GENERAL, R_STATS, 5001, 0, 0, 0, 0 },
		/* ...and so is the next period. */
		{ "lessor.wh", "billing", "run_hours", "CN-HB", NULL, "lessor_usage", TIDS_DECISION_ALLOW,
		  TIDS_TIER_GENERAL, R_LATE, HOUR, 0, 0, 0, 0 },
	};
	struct tids_statistics_request rq = { .hub_id = "hub.sh", .jurisdiction = "CN-SH", .period_start_ms = T0,
					      .period_ms = HOUR, .delay_ms = 60000, .signed_at_ms = T0 + HOUR + 60000 };
	uint8_t ids[N_REC][TIDS_RECORD_ID_BYTES];
	char dir[] = "/tmp/tids-stats-XXXXXX", path[300];
	struct tids_identity hub;
	struct tids_ledger *l;
	struct tids_record rec;
	struct tids_hub_statistics s;
	struct found found = { 0 };
	uint8_t *bytes;
	size_t len;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ledger.db", dir);
	ck_assert_int_eq(tids_identity_generate(&hub), 0);
	for (int i = 0; i < N_REC; i++)
		randombytes_buf(ids[i], TIDS_RECORD_ID_BYTES);
	ck_assert_int_eq(tids_ledger_open(path, TIDS_LEDGER_WRITE | TIDS_LEDGER_BULK, &l, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
		add(l, (const uint8_t(*)[TIDS_RECORD_ID_BYTES])ids, &spec[i]);
	ck_assert_int_eq(tids_ledger_commit(l), 0);

	ck_assert_msg(tids_ledger_statistics(l, &rq, &hub, &bytes, &len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tids_wire_decode_record(bytes, len, &rec, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tids_statistics_from_record(&rec, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(tids_statistics_verify(hub.sign_pk, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(s.period_start_ms, T0);
	ck_assert_int_eq(s.delay_ms, 60000);
	ck_assert_uint_eq(s.decisions, 7);
	ck_assert_uint_eq(s.omitted, 0);
	/* By tier, category, decision: decisions and the records they were about. */
	ck_assert_uint_eq(s.n_decided, 5);
	ck_assert_int_eq(s.decided[0].tier, TIDS_TIER_GENERAL);
	ck_assert_str_eq(s.decided[0].category, "output_count");
	ck_assert_str_eq(s.decided[1].category, "run_hours");
	ck_assert_int_eq(s.decided[1].decision, TIDS_DECISION_ALLOW);
	ck_assert_uint_eq(s.decided[1].decisions, 3);
	ck_assert_uint_eq(s.decided[1].records, 2);
	ck_assert_int_eq(s.decided[2].decision, TIDS_DECISION_DENY);
	ck_assert_str_eq(s.decided[3].category, "shifts");
	ck_assert_int_eq(s.decided[4].tier, TIDS_TIER_IMPORTANT);
	ck_assert_str_eq(s.decided[4].category, "recipe");
	/* Flows between jurisdictions. */
	ck_assert_uint_eq(s.n_flows, 2);
	ck_assert_str_eq(s.flows[0].destination, "CN-HB");
	ck_assert_uint_eq(s.flows[0].permitted, 4);
	ck_assert_uint_eq(s.flows[0].denied, 1);
	ck_assert_str_eq(s.flows[1].destination, "SG");
	ck_assert_uint_eq(s.flows[1].permitted, 1);
	/* Denials by rule, approvals used. */
	ck_assert_uint_eq(s.n_denials, 2);
	ck_assert_str_eq(s.denials[0].name, "default_deny");
	ck_assert_str_eq(s.denials[1].name, "recipe_needs_time_boxed_grant");
	ck_assert_uint_eq(s.n_approvals, 1);
	ck_assert_str_eq(s.approvals[0].name, "sa-2026-001");
	/* The exporter's counter: what the period added, where it stands, the
	 * thresholds. */
	ck_assert_uint_eq(s.n_counters, 1);
	ck_assert_str_eq(s.counters[0].key, "factory.sh1");
	ck_assert_uint_eq(s.counters[0].added, 10);
	ck_assert_uint_eq(s.counters[0].total, 99990);
	ck_assert_uint_eq(s.counters[0].thresholds[0], 100000);
	/* Billed use of the leased press, per lessor. */
	ck_assert_uint_eq(s.n_usage, 2);
	ck_assert_str_eq(s.usage[0].category, "output_count");
	ck_assert_uint_eq(s.usage[0].records, 5);
	ck_assert(s.usage[0].sum == 510.0);
	ck_assert_str_eq(s.usage[1].category, "run_hours");
	ck_assert_uint_eq(s.usage[1].deliveries, 2);
	tids_hub_statistics_free(&s);
	tids_record_free(&rec);

	/* A quiet period counts nothing and is published all the same. */
	rq.period_start_ms = T0 - HOUR;
	free(bytes);
	ck_assert_msg(tids_ledger_statistics(l, &rq, &hub, &bytes, &len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(tids_wire_decode_record(bytes, len, &rec, err, sizeof(err)), 0);
	ck_assert_int_eq(tids_statistics_from_record(&rec, &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.decisions, 0);
	ck_assert_uint_eq(s.n_decided + s.n_flows + s.n_denials + s.n_usage, 0);
	tids_hub_statistics_free(&s);
	tids_record_free(&rec);

	/* The statistics record the hub kept (its entry names the hub) is
	 * found again in the ledger, once. */
	{
		struct tids_ingress_record ir = { .record = { bytes, len }, .publisher = "hub.sh", .sequence = 1,
						  .leaf_count = 1, .received_at_ms = T0 };
		uint8_t leaf[TIDS_HASH_BYTES];

		tids_statistics_record_id("hub.sh", T0 - HOUR, ir.record_id);
		tids_merkle_leaf_hash(bytes, len, leaf);
		ck_assert_int_eq(tids_ledger_add_ingress(l, 0, R_STATS, &ir, leaf, err, sizeof(err)), 0);
		ck_assert_int_eq(tids_ledger_commit(l), 0);
	}
	ck_assert_msg(tids_ledger_each_statistics(l, "hub.sh", T0, T0 + HOUR, on_found, &found, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(found.n, 1);
	ck_assert_str_eq(found.hub, "hub.sh");
	ck_assert_int_eq(found.start, T0 - HOUR);
	found.n = 0;
	ck_assert_int_eq(tids_ledger_each_statistics(l, "hub.cq", T0, T0 + HOUR, on_found, &found, err, sizeof(err)), 0);
	ck_assert_int_eq(found.n, 0);
	free(bytes);
	tids_ledger_close(l);
	tids_identity_wipe(&hub);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(thresholds)
{
	uint64_t t[TIDS_STATISTICS_THRESHOLDS_MAX];

	ck_assert_uint_eq(tids_statistics_thresholds("pi_individuals_exported", t), 2);
	ck_assert_uint_eq(t[1], 1000000);
	ck_assert_uint_eq(tids_statistics_thresholds("spi_individuals_exported", t), 2);
	ck_assert_uint_eq(t[1], 10000);
	ck_assert_uint_eq(tids_statistics_thresholds("something_else", t), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("statistics");
	TCase *tc = tcase_create("statistics");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, signed_round_trip);
	tcase_add_test(tc, gate_rejections);
	tcase_add_test(tc, record_round_trip_and_gate);
	tcase_add_test(tc, silent_after_a_missing_period);
	tcase_add_test(tc, period_from_the_ledger);
	tcase_add_test(tc, thresholds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
