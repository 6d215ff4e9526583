/* daemon_metrics.h - a daemon's metrics from start to stop: its registry with the metrics it
 * defines and its collect callback, the Redis and PostgreSQL metrics (conn_metrics.h) and,
 * when a listen address is set, the /metrics listener (metrics_http.h). The API and the
 * worker each have one; what they define and count stays in their stats.c. */
#ifndef AMCB_DAEMON_METRICS_H
#define AMCB_DAEMON_METRICS_H

#include <event2/event.h>

#include "common.h"
#include "metrics.h"
#include "metrics_http.h"
#include "pgpool.h"
#include "rconn.h"

/* An embedded struct, zeroed before daemon_metrics_start. */
typedef struct DaemonMetrics {
	Metrics *reg;          /* owned */
	MetricsHttp *listener; /* owned, NULL without a listen address */
} DaemonMetrics;

/* Makes the registry, registers the n metrics of defs (borrowed: they must outlive dm) and
 * collect (called before each render, priv NULL), attaches redis and pg, and listens on
 * listen ("host:port") on base unless it is "". false (logged) on no memory or a listener
 * that cannot be had; daemon_metrics_stop then frees what was made. */
MUST_CHECK bool daemon_metrics_start(DaemonMetrics *dm, Metric *const *defs, size_t n,
				     MetricsCollectFn collect, RConn *redis, PgPool *pg,
				     struct event_base *base, const char *listen);
/* Closes the listener, stops redis and pg recording (either may be NULL) and frees the
 * registry; dm is zeroed. Accepts a dm never started. */
void daemon_metrics_stop(DaemonMetrics *dm, RConn *redis, PgPool *pg);

#endif
