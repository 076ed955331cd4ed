/*
 * Logging for tidsd and tidsctl: lines on stderr, with "<N>" priority
 * prefixes when stderr is journald's stream (so journald files them at the
 * right level) and a level word otherwise (after the time, for tidsd). lib/ and policy/ never log;
 * they return errors and the programs decide what to say.
 */
#ifndef TIDS_LOG_H
#define TIDS_LOG_H

#include <stdarg.h>

enum tids_log_priority {
	TIDS_LOG_ERR = 3,
	TIDS_LOG_WARNING = 4,
	TIDS_LOG_NOTICE = 5,
	TIDS_LOG_INFO = 6,
	TIDS_LOG_DEBUG = 7,
};

/* ident prefixes human-readable lines; max is the most verbose priority
 * printed (TIDS_LOG_INFO by default, TIDS_LOG_DEBUG with -d). */
void tids_log_init(const char *ident, enum tids_log_priority max);
void tids_log_set_max(enum tids_log_priority max);
/* Daemons: begin each line with the local time (RFC 3339, ms), except
 * when stderr is journald's, which stamps lines itself. */
void tids_log_set_timestamps(int on);
enum tids_log_priority tids_log_max(void);

void tids_logv(enum tids_log_priority prio, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void tids_log(enum tids_log_priority prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* OpenBSD's names: _warn appends strerror(errno), _warnx does not. */
void tids_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tids_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tids_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tids_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
