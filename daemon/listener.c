/*
 * The listening sockets: TCP for participants (Noise inside), and a Unix
 * socket for local administration, authorised by the peer's credentials.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "metrics.h"
#include "tidsd.h"

static void on_accept(struct tidsd *d, struct watch *w, uint32_t events)
{
	bool local = w == &d->listen_unix;

	(void)events;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[64] = "local";
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				tids_log_warn("accept");
			return;
		}
		if (!local) {
			char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
			int one = 1;

			getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
				    NI_NUMERICHOST | NI_NUMERICSERV);
			snprintf(peer, sizeof(peer), "%s:%s", host, port);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		}
		if ((int64_t)d->n_sessions >= d->conf->max_connections) {
			/* Refused before any work: a flood costs us one accept each. */
			tids_log_debug("%s: refused, %zu connections open (limits.max_connections)", peer,
				       d->n_sessions);
			close(fd);
			continue;
		}
		metrics_add(local ? &d->metrics->sessions_accepted_unix : &d->metrics->sessions_accepted_tcp, 1);
		session_accept(d, fd, local, peer);
	}
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
	tids_log_info("listening on %s (local administration)", path);
	return loop_add(d, &d->listen_unix, EPOLLIN);
}

int listeners_open(struct tidsd *d)
{
	d->listen_tcp.fd = d->listen_unix.fd = -1;
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
}
