/*
 * CPU time of a process by thread name, read from /proc, for benchmarks
 * that say where the CPU of a run went (tidsd's router, indexer, main loop
 * and librdkafka threads; the broker's JVM as a whole).
 */
#ifndef TIDS_TEST_PROCSTAT_H
#define TIDS_TEST_PROCSTAT_H

#include <stddef.h>
#include <sys/types.h>

#define TIDS_PROCSTAT_GROUPS 8

/* CPU microseconds (user + system) per thread group: threads are grouped
 * by their name, librdkafka's ("rdk:...") together. */
struct tids_procstat {
	size_t n;
	char name[TIDS_PROCSTAT_GROUPS][32];
	double cpu_us[TIDS_PROCSTAT_GROUPS];
	double total_us;
};

/* Samples every thread of pid. 0, or -1 when the process is gone. */
int tids_procstat_sample(pid_t pid, struct tids_procstat *out);
/* after - before, group by group (groups only in after count from 0). */
void tids_procstat_diff(const struct tids_procstat *before, const struct tids_procstat *after,
			struct tids_procstat *out);

#endif
