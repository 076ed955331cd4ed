/*
 * The one event loop: epoll over sockets and librdkafka queue fds, a tick
 * every TIDSD_TICK_MS, and signals that only set flags (and wake the loop
 * through a pipe, the one async-signal-safe way to do so).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "tidsd.h"

static struct tidsd *signal_target;

static void on_signal(int sig)
{
	int saved = errno;

	if (signal_target != NULL) {
		if (sig == SIGHUP)
			signal_target->sig_reload = 1;
		else
			signal_target->sig_stop = 1;
		if (write(signal_target->wake_pipe[1], "s", 1) < 0) {
			/* The pipe is full: the loop is awake already. */
		}
	}
	errno = saved;
}

static void on_wake(struct tidsd *d, struct watch *w, uint32_t events)
{
	char buf[64];

	(void)d;
	(void)events;
	while (read(w->fd, buf, sizeof(buf)) > 0)
		;
}

int loop_init(struct tidsd *d)
{
	struct sigaction sa;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -1;
	if (pipe2(d->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	d->wake_watch.fd = d->wake_pipe[0];
	d->wake_watch.on_event = on_wake;
	if (loop_add(d, &d->wake_watch, EPOLLIN) != 0)
		return -1;
	signal_target = d;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	d->next_tick = mono_ms() + TIDSD_TICK_MS;
	return 0;
}

void loop_free(struct tidsd *d)
{
	signal_target = NULL;
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->wake_pipe[0] >= 0) {
		close(d->wake_pipe[0]);
		close(d->wake_pipe[1]);
	}
	d->epfd = d->wake_pipe[0] = d->wake_pipe[1] = -1;
}

int loop_add(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->events = events;
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, w->fd, &ev);
}

int loop_mod(struct tidsd *d, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	w->events = events;
	return epoll_ctl(d->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_del(struct tidsd *d, struct watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void loop_once(struct tidsd *d, int timeout_ms)
{
	struct epoll_event evs[64];
	int64_t now = mono_ms();
	int n, wait = (int)(d->next_tick > now ? d->next_tick - now : 0);

	if (timeout_ms >= 0 && timeout_ms < wait)
		wait = timeout_ms;
	n = epoll_wait(d->epfd, evs, 64, wait);
	if (n < 0 && errno != EINTR)
		fatalx("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		struct watch *w = evs[i].data.ptr;

		w->on_event(d, w, evs[i].events);
	}
	sessions_reap(d);
	egress_reap(d);
	if (d->sig_reload) {
		d->sig_reload = 0;
		tidsd_reload(d);
	}
	if (d->sig_stop)
		d->stopping = true;
	now = mono_ms();
	if (now >= d->next_tick) {
		d->next_tick = now + TIDSD_TICK_MS;
		tidsd_tick(d);
	}
}

void loop_run(struct tidsd *d)
{
	while (!d->stopping)
		loop_once(d, -1);
}
