/* metrics_http.h - serves a Metrics registry over HTTP: the reply of one GET /metrics, and
 * a small listener (config metrics_listen) that answers only that, without authentication.
 * It renders nothing itself (metrics.c does) and decides no access (its callers do). */
#ifndef AMCB_METRICS_HTTP_H
#define AMCB_METRICS_HTTP_H

#include <event2/event.h>
#include <event2/http.h>

#include "common.h"
#include "metrics.h"

typedef struct MetricsHttp MetricsHttp;

/* Sends reg's exposition as the reply of req (500 when out of memory). */
void metrics_http_reply(struct evhttp_request *req, Metrics *reg);

/* Splits "host:port" or "[v6]:port" into host (NUL-terminated, hostlen bytes) and port.
 * false on anything else. */
MUST_CHECK bool metrics_http_parse_listen(const char *s, char *host, size_t hostlen, int *port);

/* Listens on listen ("host:port"; port 0 = ephemeral) on base and serves GET /metrics from
 * reg (borrowed: it must outlive the listener) and 404 elsewhere. NULL (logged) when the
 * address is malformed or cannot be bound. */
MetricsHttp *metrics_http_new(struct event_base *base, const char *listen, Metrics *reg);
/* Closes the listener and its connections. Accepts NULL. */
void metrics_http_free(MetricsHttp *s);

#endif
