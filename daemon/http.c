/*
 * The metrics listener (metrics.listen): GET /metrics (Prometheus text
 * format) and GET /health, /health/live, /health/ready. HTTP is parsed by
 * libmicrohttpd, a well-kept and fuzzed parser, rather than by a parser of
 * ours; it runs without threads of its own, inside the one event loop: its
 * epoll fd is one of the loop's watches, and the loop's tick runs its
 * timeouts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics.h"
#include "tidsd.h"

#define HTTP_CONNECTIONS_MAX 32
#define HTTP_TIMEOUT_S 10
#define HTTP_MEMORY 16384           /* per connection: bounds a request's headers */

struct http {
	struct MHD_Daemon *mhd;
	struct watch w;
	int listen_fd;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, struct tids_buf *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(body->len, body->len > 0 ? (void *)tids_buf_head(body) : (void *)"",
					    MHD_RESPMEM_MUST_COPY);
	tids_buf_free(body);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	struct tids_buf b = { 0 };

	if (tids_buf_append(&b, msg, strlen(msg)) != 0)
		return MHD_NO;
	return reply(c, status, "text/plain; charset=utf-8", &b);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_len, void **req)
{
	struct tidsd *d = cls;
	struct tids_buf b = { 0 };
	int64_t mono = mono_ms();

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)req;
	/* Answered on the first call, before any body is read: nothing here
	 * takes one, and MHD closes a connection whose body it did not read. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) != NULL ||
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return text(c, MHD_HTTP_BAD_REQUEST, "a GET has no body\n");
	if (strcmp(url, "/metrics") == 0) {
		struct metrics_info info = { TIDSD_VERSION, d->conf->hub_id, session_count(d) };

		if (metrics_render(d->metrics, &info, mono, &b) != 0) {
			tids_buf_free(&b);
			return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		}
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b);
	}
	if (strcmp(url, "/health") == 0 || strcmp(url, "/health/ready") == 0 || strcmp(url, "/health/live") == 0) {
		/* Live: this loop answered. Ready: it can take and route records. */
		unsigned status = strcmp(url, "/health/live") == 0 || metrics_ready(d->metrics, mono) ?
				  MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;

		if (metrics_render_health(d->metrics, mono, &b) != 0) {
			tids_buf_free(&b);
			return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		}
		return reply(c, status, "application/json", &b);
	}
	return text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /health\n");
}

__attribute__((format(printf, 2, 0))) static void on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	tids_log_debug("metrics: %s", msg);
}

static void on_ready(struct tidsd *d, struct watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	if (d->http != NULL)
		MHD_run(d->http->mhd);
}

int http_open(struct tidsd *d)
{
	const union MHD_DaemonInfo *info;
	struct http *h;

	if (*d->conf->metrics_listen == '\0')
		return 0;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -1;
	h->listen_fd = listen_tcp_socket("metrics.listen", d->conf->metrics_listen);
	if (h->listen_fd < 0) {
		free(h);
		return -1;
	}
	/* No MHD_USE_INTERNAL_POLLING_THREAD: it runs when the loop says. */
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, d,
				  MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY,
				  /* Refuse what RFC 9112 does not allow (no Host, bad
				   * whitespace) rather than guess. */
				  MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
				  MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
				  MHD_OPTION_END);
	info = h->mhd != NULL ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (info == NULL) {
		tids_log_warnx("metrics.listen %s: libmicrohttpd did not start", d->conf->metrics_listen);
		/* MHD owns the socket once given it (and closes it at stop);
		 * tidsd exits on this error anyway. */
		if (h->mhd != NULL)
			MHD_stop_daemon(h->mhd);
		free(h);
		return -1;
	}
	h->w.fd = info->epoll_fd;
	h->w.on_event = on_ready;
	if (loop_add(d, &h->w, EPOLLIN) != 0) {
		MHD_stop_daemon(h->mhd);
		free(h);
		return -1;
	}
	d->http = h;
	tids_log_info("metrics on http://%s/metrics and /health", d->conf->metrics_listen);
	return 0;
}

void http_tick(struct tidsd *d)
{
	/* Timeouts of idle and slow connections. */
	if (d->http != NULL)
		MHD_run(d->http->mhd);
}

void http_close(struct tidsd *d)
{
	struct http *h = d->http;

	if (h == NULL)
		return;
	loop_del(d, &h->w);
	MHD_stop_daemon(h->mhd);      /* closes the listening socket too */
	free(h);
	d->http = NULL;
}
