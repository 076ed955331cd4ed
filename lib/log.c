/*
 * stderr logging with journald priority prefixes on every line, each call
 * written with a single write(2) so concurrent processes do not interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tids/log.h"

static const char *log_ident = "tids";
static enum tids_log_priority log_max = TIDS_LOG_INFO;
static bool log_journal;
static bool log_time;

/* systemd sets JOURNAL_STREAM=dev:ino for the stream stderr is (if it is). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void tids_log_init(const char *ident, enum tids_log_priority max)
{
	log_ident = ident;
	log_max = max;
	log_journal = stderr_is_journal();
}

void tids_log_set_max(enum tids_log_priority max)
{
	log_max = max;
}

void tids_log_set_timestamps(int on)
{
	log_time = on != 0;
}

/* "2026-03-01T08:15:02.123+08:00 ": local time, as an operator reads it,
 * with its offset, so lines from hosts in other zones still compare. */
static int timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char date[32], zone[8];

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || localtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0 || strftime(zone, sizeof(zone), "%z", &tm) != 5)
		return 0;
	return snprintf(buf, len, "%s.%03ld%.3s:%s ", date, ts.tv_nsec / 1000000, zone, zone + 3);
}

enum tids_log_priority tids_log_max(void)
{
	return log_max;
}

/* The prefix of every line: journald reads a "<N>" at the start of each
 * line it receives, so a message of several lines (a reload's list of
 * errors) carries it on each, or its later lines would be filed as info. */
static int line_prefix(enum tids_log_priority prio, char *buf, size_t len)
{
	static const char *const words[] = {
		[TIDS_LOG_ERR] = "error", [TIDS_LOG_WARNING] = "warning",
		[TIDS_LOG_NOTICE] = "notice", [TIDS_LOG_INFO] = "info", [TIDS_LOG_DEBUG] = "debug",
	};

	int t, n;

	if (log_journal)
		return snprintf(buf, len, "<%d>", (int)prio);
	t = log_time ? timestamp(buf, len) : 0;
	if (t < 0 || (size_t)t >= len)
		t = 0;
	n = snprintf(buf + t, len - (size_t)t, "%s: %s: ", log_ident, words[prio]);
	return n < 0 ? n : n + t;
}

void tids_logv(enum tids_log_priority prio, const char *fmt, va_list ap)
{
	char msg[8192], out[12288], prefix[64];
	size_t n = 0, plen;
	int m, p;

	if (prio > log_max)
		return;
	p = line_prefix(prio, prefix, sizeof(prefix));
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (p < 0 || m < 0)
		return;
	plen = (size_t)p < sizeof(prefix) ? (size_t)p : sizeof(prefix) - 1;
	for (const char *line = msg; ;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

		/* A message ending in a newline has no empty last line. */
		if (len == 0 && (nl == NULL || nl[1] == '\0') && line != msg)
			break;
		if (n + plen + 2 > sizeof(out))
			break;
		memcpy(out + n, prefix, plen);
		n += plen;
		if (len > sizeof(out) - n - 1)
			len = sizeof(out) - n - 1;
		memcpy(out + n, line, len);
		n += len;
		out[n++] = '\n';
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	/* One write(2) for the whole message: lines of concurrent processes
	 * do not interleave with it. */
	if (write(STDERR_FILENO, out, n) < 0) {
		/* Nowhere left to report it. */
	}
}

void tids_log(enum tids_log_priority prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tids_logv(prio, fmt, ap);
	va_end(ap);
}

void tids_log_warn(const char *fmt, ...)
{
	char buf[1536];
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	tids_log(TIDS_LOG_WARNING, "%s: %s", buf, strerror(saved));
}

void tids_log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tids_logv(TIDS_LOG_WARNING, fmt, ap);
	va_end(ap);
}

void tids_log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tids_logv(TIDS_LOG_INFO, fmt, ap);
	va_end(ap);
}

void tids_log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tids_logv(TIDS_LOG_DEBUG, fmt, ap);
	va_end(ap);
}
