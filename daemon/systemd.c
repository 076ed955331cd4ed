/*
 * The sd_notify protocol without libsystemd: one datagram to the socket in
 * NOTIFY_SOCKET. READY=1 after start, STATUS= lines, STOPPING=1, RELOADING=1,
 * EXTEND_TIMEOUT_USEC= while the start waits for Kafka, and WATCHDOG=1 every
 * half of WATCHDOG_USEC.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tidsd.h"

static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t plen;
	int fd;

	if (path == NULL || *path == '\0')
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		tids_log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

void sd_ready(void)
{
	notify("READY=1\nSTATUS=serving");
}

void sd_status(const char *fmt, ...)
{
	char msg[512] = "STATUS=";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	notify(msg);
}

void sd_stopping(void)
{
	notify("STOPPING=1\nSTATUS=stopping");
}

void sd_reloading(void)
{
	notify("RELOADING=1");
}

void sd_extend_timeout(int64_t ms)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%lld", (long long)ms * 1000);
	notify(msg);
}

void sd_watchdog_tick(int64_t mono)
{
	static int64_t interval = -1, next;

	if (interval < 0) {
		const char *usec = getenv("WATCHDOG_USEC");
		const char *pid = getenv("WATCHDOG_PID");

		interval = 0;
		if (usec != NULL && (pid == NULL || atol(pid) == (long)getpid()))
			interval = strtoll(usec, NULL, 10) / 1000 / 2;
		next = mono;
	}
	if (interval <= 0 || mono < next)
		return;
	notify("WATCHDOG=1");
	next = mono + interval;
}
