/* access.c - formats the access log line of one request (access.h). It decides nothing
 * about what a request is or when it ended: req.c, static.c and stream.c call it. */
#include "access.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *method_text(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
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
	log_fields(LOG_LVL_INFO, f, ARRAY_LEN(f), "request");
}
