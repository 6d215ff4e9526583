/* access.c - formats the access log line of one request (access.h). It decides nothing
 * about what a request is or when it ended: req.c, static.c and stream.c call it. */
#include "access.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"

/* Lines of this loop turn not yet written. One write(2) per request was ~20 % of a cached
 * 100-instance status's throughput (a file or pipe write per reply); the lines a turn makes
 * go out together at its end instead, before the next epoll_wait: so before the replies they
 * describe are written to their sockets (a reply leaves on a later EV_WRITE). */
#define PENDING_MAX (64 * 1024)
#define LINE_MAX_BYTES 4096 /* room kept for one line: route, user id and numbers */

static struct {
	struct event *flush; /* NULL: not batching (no access_start), lines written at once */
	char buf[PENDING_MAX];
	size_t len;
} pending;

static void flush(void)
{
	if (pending.len > 0)
		log_write(pending.buf, pending.len);
	pending.len = 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	flush();
}

bool access_start(struct event_base *base)
{
	pending.len = 0;
	pending.flush = event_new(base, -1, 0, on_flush, NULL);
	return pending.flush != NULL;
}

void access_stop(void)
{
	flush();
	if (pending.flush != NULL)
		event_free(pending.flush);
	pending.flush = NULL;
}

static const char *method_text(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "OTHER";
}

void access_begin(AccessRec *a, enum evhttp_cmd_type method)
{
	memset(a, 0, sizeof(*a));
	a->method = method;
	if (clock_gettime(CLOCK_MONOTONIC, &a->t0) != 0)
		a->t0.tv_sec = 0;
}

void access_log(const AccessRec *a, bool enabled)
{
	struct timespec now;
	long long ms = 0;
	char route[160];

	if (!enabled)
		return;
	if (clock_gettime(CLOCK_MONOTONIC, &now) == 0 && a->t0.tv_sec != 0)
		ms = (long long)(now.tv_sec - a->t0.tv_sec) * 1000 +
		     (now.tv_nsec - a->t0.tv_nsec) / 1000000;
	snprintf(route, sizeof(route), "%s%s", a->route != NULL ? "/" : "",
		 a->route != NULL ? a->route : "-");
	LogField f[] = {
		{ .key = "method", .str = method_text(a->method) },
		{ .key = "route", .str = route },
		{ .key = "status", .num = a->status },
		{ .key = "duration_ms", .num = ms },
		{ .key = "bytes", .num = (long long)a->bytes },
		{ .key = "user_id", .str = a->user_id[0] != '\0' ? a->user_id : "-" },
	};
	if (pending.flush == NULL) {
		log_fields(LOG_LVL_INFO, f, ARRAY_LEN(f), "request");
		return;
	}
	if (PENDING_MAX - pending.len < LINE_MAX_BYTES)
		flush();
	if (pending.len == 0) /* the turn's first line: written at the end of the turn */
		event_active(pending.flush, EV_TIMEOUT, 0);
	pending.len += log_format(pending.buf + pending.len, LINE_MAX_BYTES, LOG_LVL_INFO, f,
				  ARRAY_LEN(f), "request");
}
