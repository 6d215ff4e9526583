/* access.h - the access log: one info line per API request (method, route pattern, status,
 * duration in ms, body bytes sent, user id), written when the reply has been handed to
 * libevent or, for a stream, when it ends. Never the token, the query string or the path's
 * values (the route pattern stands for them). Refusals under overload (limits.c, conn.c)
 * have their own rate-limited lines. */
#ifndef AMCB_ACCESS_H
#define AMCB_ACCESS_H

#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "common.h"
#include "ids.h"

typedef struct AccessRec {
	struct timespec t0; /* monotonic, when the request was taken */
	enum evhttp_cmd_type method;
	const char *route;              /* static route pattern, NULL when none matched */
	char user_id[IDS_UUID_LEN + 1]; /* "" before (or without) authentication */
	int status;                     /* 0 until a reply was sent */
	size_t bytes;                   /* body bytes handed to libevent */
} AccessRec;

/* From access_start to access_stop the lines are written once per turn of base's loop, all
 * together (loop thread only); without it each is written at once. false: out of memory. */
MUST_CHECK bool access_start(struct event_base *base);
void access_stop(void); /* writes what is pending */
/* Starts the clock of a request. */
void access_begin(AccessRec *a, enum evhttp_cmd_type method);
/* Writes the line (info level), unless api_access_log is off (enabled == false). */
void access_log(const AccessRec *a, bool enabled);

#endif
