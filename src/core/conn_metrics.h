/* conn_metrics.h - the Redis and PostgreSQL metrics every daemon shows (round-trip
 * histograms, reconnect counters), defined once: registered on the process's registry and
 * wired to its connections. One set per process (the daemons have one registry each). */
#ifndef AMCB_CONN_METRICS_H
#define AMCB_CONN_METRICS_H

#include "common.h"
#include "metrics.h"
#include "pgpool.h"
#include "rconn.h"

/* Registers amcbatch_redis_round_trip_seconds, amcbatch_redis_reconnects_total,
 * amcbatch_postgresql_round_trip_seconds and amcbatch_postgresql_reconnects_total on reg,
 * makes redis and pg record into them, and refreshes the PostgreSQL reconnect count before
 * each render. false on no memory. */
MUST_CHECK bool conn_metrics_attach(Metrics *reg, RConn *redis, PgPool *pg);
/* Stops redis and pg recording (either may be NULL), before the registry is freed. */
void conn_metrics_detach(RConn *redis, PgPool *pg);

#endif
