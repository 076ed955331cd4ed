/*
 * The clocks and the sleep every test uses, in milliseconds.
 */
#ifndef TIDS_TEST_CLOCK_H
#define TIDS_TEST_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* For intervals and deadlines. */
static inline int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix time, for what tidsd stamps (record times, validity). */
static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
