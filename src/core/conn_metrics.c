/* conn_metrics.c - the Redis and PostgreSQL metrics of every daemon (conn_metrics.h). */
#include "conn_metrics.h"

static Metric m_redis_rtt = {
	.name = "amcbatch_redis_round_trip_seconds",
	.help = "Redis commands and scripts, from send to reply.",
	.type = METRIC_HISTOGRAM,
};
static Metric m_redis_reconnects = {
	.name = "amcbatch_redis_reconnects_total",
	.help = "Redis connections made again after the first.",
	.type = METRIC_COUNTER,
};
static Metric m_pg_rtt = {
	.name = "amcbatch_postgresql_round_trip_seconds",
	.help = "PostgreSQL jobs, time in their statements on a pool connection.",
	.type = METRIC_HISTOGRAM,
};
static Metric m_pg_reconnects = {
	.name = "amcbatch_postgresql_reconnects_total",
	.help = "PostgreSQL pool connections made again after one broke.",
	.type = METRIC_COUNTER,
};

/* the pool counts its reconnects in an atomic (its threads make them): add what is new */
static void collect(void *priv)
{
	PgPool *pg = priv;

	if (pg != NULL)
		metric_add(&m_pg_reconnects, 0,
			   (double)pgpool_reconnects(pg) - metric_value(&m_pg_reconnects, 0));
}

bool conn_metrics_attach(Metrics *reg, RConn *redis, PgPool *pg)
{
	m_redis_rtt.bounds = m_pg_rtt.bounds = metrics_buckets_latency;
	m_redis_rtt.nbounds = m_pg_rtt.nbounds = metrics_buckets_latency_n;
	if (!metrics_register(reg, &m_redis_rtt) || !metrics_register(reg, &m_redis_reconnects) ||
	    !metrics_register(reg, &m_pg_rtt) || !metrics_register(reg, &m_pg_reconnects) ||
	    !metrics_on_collect(reg, collect, pg))
		return false;
	if (redis != NULL)
		rconn_set_metrics(redis, &m_redis_rtt, &m_redis_reconnects);
	if (pg != NULL)
		pgpool_set_metrics(pg, &m_pg_rtt);
	return true;
}

void conn_metrics_detach(RConn *redis, PgPool *pg)
{
	if (redis != NULL)
		rconn_set_metrics(redis, NULL, NULL);
	if (pg != NULL)
		pgpool_set_metrics(pg, NULL);
}
