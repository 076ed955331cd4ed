/*
 * Statistics that travel (statistics.proto): what one hub decided in one
 * period, counted from its ledger and signed by the hub, carried as a
 * record of its own (category hub_statistics, owned by the hub) to every hub
 * of the network and to the regulators. Counts only, never a record's
 * content. A hub publishes one every period, also when it decided nothing,
 * so a period that does not arrive tells a silent hub from a quiet one.
 */
#ifndef TIDS_STATISTICS_H
#define TIDS_STATISTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tids/crypto.h"
#include "tids/ledger.h"
#include "tids/record.h"
#include "tids/wire.h"

/* The hub signs its statistics under this domain (no prefix of another). */
#define TIDS_DOMAIN_STATISTICS "tids.v1.statistics"
/* The record that carries them: its category (reserved: ingest refuses it
 * from participants) and schema. */
#define TIDS_STATISTICS_CATEGORY "hub_statistics"
#define TIDS_STATISTICS_SCHEMA "tids.statistics/1"
/* Rows of each list (the largest counts are kept, the rest counted as
 * omitted), and thresholds of a counter. */
#define TIDS_STATISTICS_ROWS_MAX 128
#define TIDS_STATISTICS_THRESHOLDS_MAX 4
/* The signed message travels in blob fields "statistics.0", ".1", ... of at
 * most TIDS_BLOB_MAX bytes each, at most this many. */
#define TIDS_STATISTICS_PARTS_MAX 3
#define TIDS_STATISTICS_BYTES_MAX (TIDS_STATISTICS_PARTS_MAX * TIDS_BLOB_MAX)

struct tids_stat_decided {
	enum tids_tier tier;
	const char *category;
	enum tids_decision decision;
	uint64_t decisions, records;
};

struct tids_stat_flow {
	const char *origin, *destination;
	uint64_t permitted, denied;
};

struct tids_stat_named {
	const char *name;
	uint64_t count;
};

struct tids_stat_counter {
	const char *counter, *key;
	int64_t period;
	uint64_t added, total;
	uint64_t thresholds[TIDS_STATISTICS_THRESHOLDS_MAX];
	size_t n_thresholds;
};

struct tids_stat_usage {
	const char *lessor, *asset, *category;
	uint64_t deliveries, records;
	double sum;
};

struct tids_hub_statistics {
	const char *hub_id;
	const char *jurisdiction;
	int64_t period_start_ms, period_ms, delay_ms;
	uint64_t decisions;
	struct tids_stat_decided *decided;
	size_t n_decided;
	struct tids_stat_flow *flows;
	size_t n_flows;
	struct tids_stat_named *denials;
	size_t n_denials;
	struct tids_stat_named *approvals;
	size_t n_approvals;
	struct tids_stat_counter *counters;
	size_t n_counters;
	struct tids_stat_usage *usage;
	size_t n_usage;
	uint32_t omitted;
	int64_t signed_at_ms;
	uint8_t signature[TIDS_SIGNATURE_BYTES];
	void *backing;
};

/* The gate of a HubStatistics message: ids, names and jurisdictions well
 * formed, the period a positive multiple, lists within their limits, sorted
 * and without a key twice, every count consistent (a flow between two
 * jurisdictions, decisions no fewer than records). The signature is not
 * checked here: tids_statistics_verify does. */
__attribute__((warn_unused_result))
int tids_wire_decode_hub_statistics(const uint8_t *buf, size_t len, struct tids_hub_statistics *out, char *err,
				    size_t errlen);
/* Encoders (the _unsigned one leaves the signature out: what is signed). */
__attribute__((warn_unused_result))
int tids_wire_encode_hub_statistics(const struct tids_hub_statistics *in, uint8_t **out, size_t *len);
__attribute__((warn_unused_result))
int tids_wire_encode_hub_statistics_unsigned(const struct tids_hub_statistics *in, uint8_t **out, size_t *len);
void tids_hub_statistics_free(struct tids_hub_statistics *s);

/* Signs s in place with the hub's key; verify checks it with the hub's. */
__attribute__((warn_unused_result))
int tids_statistics_sign(const uint8_t sk[TIDS_SECRET_KEY_BYTES], struct tids_hub_statistics *s);
__attribute__((warn_unused_result))
int tids_statistics_verify(const uint8_t pk[TIDS_PUBLIC_KEY_BYTES], const struct tids_hub_statistics *s,
			   char *err, size_t errlen);

/* The record id of hub's statistics of the period starting at start: the
 * same wherever and however often they are made, so that copies are seen
 * to be copies. */
void tids_statistics_record_id(const char *hub_id, int64_t period_start_ms, uint8_t id[TIDS_RECORD_ID_BYTES]);
/* Wraps signed statistics as their record (serialized tids.v1.Record). */
__attribute__((warn_unused_result))
int tids_statistics_record(const struct tids_hub_statistics *s, uint8_t **out, size_t *len);
/* The gate of a statistics record: the record (already through the record
 * gate) is one (category, schema, owner and origin the statistics' hub and
 * jurisdiction, record id and summary fields theirs), and its parts decode
 * through the HubStatistics gate. Does not verify the signature. */
__attribute__((warn_unused_result))
int tids_statistics_from_record(const struct tids_record *rec, struct tids_hub_statistics *out, char *err,
				size_t errlen);
/* Is the record a statistics record at all (its category)? */
bool tids_statistics_is_record(const struct tids_record *rec);

/* When the statistics of the period after the one ending at period_end
 * are overdue: one period and the delay later, plus a margin for the way
 * through the network (half a period, at least 30 s). A hub whose newest
 * statistics end at period_end is silent from then on. */
int64_t tids_statistics_overdue_at(int64_t period_end_ms, int64_t period_ms, int64_t delay_ms);

/* The thresholds the default policies apply to a counter (the 2024
 * provisions on cross-border data flows, Arts. 7 and 8), ascending, into
 * out; how many (0 for a counter they do not know). */
size_t tids_statistics_thresholds(const char *counter, uint64_t out[TIDS_STATISTICS_THRESHOLDS_MAX]);

/* --- from the ledger ---------------------------------------------------------- */

struct tids_statistics_request {
	const char *hub_id, *jurisdiction;
	int64_t period_start_ms, period_ms, delay_ms;
	int64_t signed_at_ms;
};

/* Counts [start, start + period) of the ledger (decisions about statistics
 * themselves left out), signs them with hub and wraps them as their record
 * (*record malloc'd). Like tids_ledger_stats, the counts come from the
 * index: verify the ledger to trust them. */
__attribute__((warn_unused_result))
int tids_ledger_statistics(struct tids_ledger *l, const struct tids_statistics_request *rq,
			   const struct tids_identity *hub, uint8_t **record, size_t *len, char *err, size_t errlen);

/* Every statistics record the hub hub_id kept (its own and those of other
 * hubs it imported: each has an entry naming hub_id as the recipient),
 * decided in [since, until), once each: the record's bytes as the ledger
 * holds them (untrusted: pass them through the gates and verify). */
typedef int tids_ledger_record_fn(void *ctx, const uint8_t *record, size_t len);
__attribute__((warn_unused_result))
int tids_ledger_each_statistics(struct tids_ledger *l, const char *hub_id, int64_t since_ms, int64_t until_ms,
				tids_ledger_record_fn *fn, void *ctx, char *err, size_t errlen);

#endif
