/*
 * The listening sockets: TCP for participants (Noise inside), and a Unix
 * socket for local administration, authorised by the peer's credentials.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "metrics.h"
#include "tidsd.h"

#define ACCEPT_BATCH 64          /* per wake-up, so that sessions are served between floods */
#define EMFILE_LOG_MS 60000
#define NOFILE_SPARE 256         /* descriptors for Kafka, SQLite, logs besides connections */

/* Holds one descriptor in reserve, given up when an admin connects and
 * none is left, so that the operator can still get in. */
static void spare_take(struct tidsd *d)
{
	if (d->spare_fd < 0)
		d->spare_fd = eventfd(0, EFD_CLOEXEC);
}

static void spare_give(struct tidsd *d)
{
	if (d->spare_fd >= 0) {
		close(d->spare_fd);
		d->spare_fd = -1;
	}
}

/*
 * accept failed for want of descriptors. The connection stays queued and
 * the listener readable: retrying at once would spin. Free one by dropping
 * the oldest handshake (or, for an admin, the spare) and try again; if
 * there is nothing to give up, this listener stops until the next tick.
 * Returns true to try again now.
 */
static bool out_of_descriptors(struct tidsd *d, struct watch *w)
{
	struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
	int64_t now = mono_ms();

	/* accept takes a descriptor before it looks at its queue: with none
	 * left it fails even when nobody is waiting, and then nothing is to
	 * be given up for anyone. */
	if (poll(&pfd, 1, 0) != 1)
		return false;
	if (budget_drop_oldest(d, "dropped: no file descriptor left for a newer connection (RLIMIT_NOFILE)"))
		return true;
	if (w == &d->listen_unix && d->spare_fd >= 0) {
		spare_give(d);
		return true;
	}
	d->emfile_since++;
	if (d->emfile_logged == 0 || now - d->emfile_logged >= EMFILE_LOG_MS) {
		tids_log_warnx("out of file descriptors with %zu connections open and none in its handshake: "
			       "accepting paused (%lu times since the last warning); raise LimitNOFILE or lower "
			       "limits.max_connections", d->n_sessions, d->emfile_since);
		d->emfile_logged = now;
		d->emfile_since = 0;
	}
	if (loop_mod(d, w, 0) != 0)
		tids_log_warn("listener: epoll");
	return false;
}

static void on_accept(struct tidsd *d, struct watch *w, uint32_t events)
{
	bool local = w == &d->listen_unix;

	(void)events;
	/* w->events is 0 while paused for want of descriptors. */
	for (int n = 0; n < ACCEPT_BATCH && w->events != 0; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct addr_key k;
		char peer[64] = "local", why[256];
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (out_of_descriptors(d, w))
					continue;
				return;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				tids_log_warn("accept");
			return;
		}
		if (local) {
			metrics_add(&d->metrics->sessions_accepted_unix, 1);
			session_accept(d, fd, true, peer, NULL);
			continue;
		}
		{
			char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
			int one = 1;

			getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
				    NI_NUMERICHOST | NI_NUMERICSERV);
			snprintf(peer, sizeof(peer), "%s:%s", host, port);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		}
		budget_addr_key(&ss, &k);
		if (budget_admit_tcp(d, &k, why, sizeof(why)) != 0) {
			/* Refused before any work: a flood costs us one accept each. */
			tids_log_debug("%s: %s", peer, why);
			close(fd);
			continue;
		}
		metrics_add(&d->metrics->sessions_accepted_tcp, 1);
		session_accept(d, fd, false, peer, &k);
	}
}

void listeners_tick(struct tidsd *d)
{
	spare_take(d);
	/* Paused for want of descriptors: try again, ten times a second at most. */
	if (d->listen_tcp.fd >= 0 && d->listen_tcp.events == 0 && loop_mod(d, &d->listen_tcp, EPOLLIN) != 0)
		tids_log_warn("listen.tcp: epoll");
	if (d->listen_unix.fd >= 0 && d->listen_unix.events == 0 && loop_mod(d, &d->listen_unix, EPOLLIN) != 0)
		tids_log_warn("listen.unix: epoll");
}

static int split_host_port(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(addr, ':');
	size_t n;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - addr);
	if (n > 0 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n >= hlen || strlen(colon + 1) >= plen || colon[1] == '\0')
		return -1;
	memcpy(host, addr, n);
	host[n] = '\0';
	snprintf(port, plen, "%s", colon + 1);
	return 0;
}

int listen_tcp_socket(const char *option, const char *addr)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai;
	char host[256], port[16];
	int fd, one = 1, rc;

	if (split_host_port(addr, host, sizeof(host), port, sizeof(port)) != 0) {
		tids_log_warnx("%s: '%s' is not host:port", option, addr);
		return -1;
	}
	rc = getaddrinfo(*host != '\0' ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		tids_log_warnx("%s %s: %s", option, addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 256) != 0) {
		tids_log_warn("%s %s", option, addr);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int open_tcp(struct tidsd *d)
{
	int fd = listen_tcp_socket("listen.tcp", d->conf->listen_tcp);

	if (fd < 0)
		return -1;
	d->listen_tcp.fd = fd;
	d->listen_tcp.on_event = on_accept;
	tids_log_info("listening on %s (Noise_XX)", d->conf->listen_tcp);
	return loop_add(d, &d->listen_tcp, EPOLLIN);
}

/*
 * The socket file belongs to admin.group (mode 0660), so that its members
 * can connect at all; their credentials decide the rest. Without
 * CAP_CHOWN this needs tidsd's user to be in that group.
 */
static void socket_group(struct tidsd *d)
{
	gid_t g = d->conf->admin_gid >= 0 ? (gid_t)d->conf->admin_gid : getegid();

	if (chown(d->conf->listen_unix, (uid_t)-1, g) != 0)
		tids_log_warnx("listen.unix %s: cannot give it to group %u (%s): members of admin.group cannot "
			       "connect; make tidsd's user a member (SupplementaryGroups= in the unit)",
			       d->conf->listen_unix, (unsigned)g, strerror(errno));
}

static int open_unix(struct tidsd *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->conf->listen_unix;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		tids_log_warnx("listen.unix: path too long");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* A socket file left by an earlier run would make bind fail. */
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0660) != 0 ||
	    listen(fd, 64) != 0) {
		tids_log_warn("listen.unix %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	d->listen_unix.fd = fd;
	d->listen_unix.on_event = on_accept;
	socket_group(d);
	tids_log_info("listening on %s (local administration)", path);
	return loop_add(d, &d->listen_unix, EPOLLIN);
}

/*
 * Connections should run out before descriptors do: a soft RLIMIT_NOFILE
 * below the budgets (1024 is common outside systemd, whose unit sets
 * LimitNOFILE=65536) is raised as far as the hard limit allows.
 */
static void fit_nofile(struct tidsd *d)
{
	rlim_t want = (rlim_t)(d->conf->max_connections + d->conf->max_admin_connections) + NOFILE_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		tids_log_warnx("RLIMIT_NOFILE is %lu, below limits.max_connections + limits.max_admin_connections + %d: "
			       "descriptors run out first; raise LimitNOFILE", (unsigned long)rl.rlim_cur, NOFILE_SPARE);
}

void listeners_reloaded(struct tidsd *d, const struct config *old)
{
	if (d->listen_unix.fd >= 0 && old->admin_gid != d->conf->admin_gid)
		socket_group(d);
	fit_nofile(d);
}

int listeners_open(struct tidsd *d)
{
	d->listen_tcp.fd = d->listen_unix.fd = -1;
	fit_nofile(d);
	spare_take(d);
	if (*d->conf->listen_tcp != '\0' && open_tcp(d) != 0)
		return -1;
	if (*d->conf->listen_unix != '\0' && open_unix(d) != 0)
		return -1;
	return 0;
}

void listeners_close(struct tidsd *d)
{
	if (d->listen_tcp.fd >= 0) {
		loop_del(d, &d->listen_tcp);
		close(d->listen_tcp.fd);
		d->listen_tcp.fd = -1;
	}
	if (d->listen_unix.fd >= 0) {
		loop_del(d, &d->listen_unix);
		close(d->listen_unix.fd);
		unlink(d->conf->listen_unix);
		d->listen_unix.fd = -1;
	}
	spare_give(d);
}
