/* stats.c - the worker process's metrics: definitions, the counting calls the job, HTTP,
 * archive and delivery code make, and the queue gauges read from Redis (at most every
 * STATS_REDIS_EVERY_S, only when scraped: nothing per job). Loop thread only. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_metrics.h"
#include "keys.h"
#include "metrics.h"
#include "mstime.h"
#include "states.h"

#define STATS_REDIS_EVERY_S 10.0

/* the final states: the tails of states.h's tables */
#define EXEC_FINALS \
	{ \
		"status", exec_state_names + EXEC_STATE_FIRST_FINAL, EXEC_STATE_FINAL_COUNT \
	}
#define BATCH_FINALS \
	{ \
		"status", batch_state_names + BATCH_STATE_FIRST_FINAL, BATCH_STATE_FINAL_COUNT \
	}
static const char *const endpoints[] = {
	[AMC_EP_OTHER] = "other",        [AMC_EP_CREATE] = "create", [AMC_EP_POLL] = "poll",
	[AMC_EP_URLS] = "download_urls", [AMC_EP_LIST] = "list",     [AMC_EP_CANCEL] = "cancel",
	[AMC_EP_DOWNLOAD] = "download",  [AMC_EP_TOKEN] = "token",
};
static const char *const classes[] = { "2xx", "3xx", "4xx", "5xx", "network_error" };
static const char *const delivery_outcomes[] = { "delivered", "failed" };
static const char *const cap_kinds[] = { "instance", "account" };

#define COUNTER(var, nm, hlp, ...) \
	static Metric var = { .name = nm, .help = hlp, .type = METRIC_COUNTER, __VA_ARGS__ }
#define GAUGE(var, nm, hlp, ...) \
	static Metric var = { .name = nm, .help = hlp, .type = METRIC_GAUGE, __VA_ARGS__ }
#define LABEL(n, v) \
	{ \
		n, v, ARRAY_LEN(v) \
	}

/* What the fleet script reads for the queue gauges: bounded work per scrape interval. */
#define FLEET_BATCHES 200
#define FLEET_BATCHES_S "200"
#define FLEET_SLOTS 100

COUNTER(m_execs, "amcbatch_worker_executions_total",
	"Executions this worker finished, by final status.", .labels = { EXEC_FINALS });
COUNTER(m_batches, "amcbatch_worker_batches_finished_total",
	"Batches whose last execution this worker finished, by final batch status (cancels by the API are not seen here).",
	.labels = { BATCH_FINALS });
static Metric m_exec_seconds = {
	.name = "amcbatch_worker_execution_duration_seconds",
	.help = "Time from an execution's first start to its finish, by final status.",
	.type = METRIC_HISTOGRAM,
	.labels = { EXEC_FINALS },
};
COUNTER(m_amc, "amcbatch_worker_amc_requests_total",
	"AMC (and LWA token) HTTP attempts by endpoint and status class.",
	.labels = { LABEL("endpoint", endpoints), LABEL("code", classes) });
static Metric m_amc_seconds = {
	.name = "amcbatch_worker_amc_request_duration_seconds",
	.help = "AMC HTTP attempts, from start to the end of the response, by endpoint.",
	.type = METRIC_HISTOGRAM,
	.labels = { LABEL("endpoint", endpoints) },
};
COUNTER(m_amc_429, "amcbatch_worker_amc_throttled_total",
	"AMC answers 429 (Too Many Requests), by endpoint.",
	.labels = { LABEL("endpoint", endpoints) });
COUNTER(m_amc_retries, "amcbatch_worker_amc_retries_total",
	"AMC HTTP attempts made again after a 429, a 5xx or a network error, by endpoint.",
	.labels = { LABEL("endpoint", endpoints) });
COUNTER(m_rows, "amcbatch_worker_archived_rows_total", "Result rows copied into PostgreSQL.", );
COUNTER(m_bytes, "amcbatch_worker_archived_bytes_total",
	"Result file bytes archived into PostgreSQL.", );
COUNTER(m_deliveries, "amcbatch_worker_webhook_deliveries_total",
	"Webhook delivery attempts by outcome.", .labels = { LABEL("outcome", delivery_outcomes) });
GAUGE(m_held, "amcbatch_worker_jobs_held", "Jobs this worker holds in memory now.", );
GAUGE(m_inflight_cap, "amcbatch_worker_jobs_max",
      "Config worker_inflight: jobs this worker holds at most.", );
GAUGE(m_ready_batches, "amcbatch_queue_ready_batches",
      "Batches with ready jobs (LLEN of P queue), read at most every 10 s.", );
GAUGE(m_retry_jobs, "amcbatch_queue_retry_wait_jobs",
      "Executions waiting in retry_wait (ZCARD of P retry).", );
GAUGE(m_running, "amcbatch_running_executions",
      "Executions holding an AMC slot across all workers (sum of P running's instance fields).", );
GAUGE(m_at_cap, "amcbatch_running_at_cap",
      "Instances or accounts whose running executions reached their cap (their jobs are parked).",
      .labels = { LABEL("kind", cap_kinds) });
GAUGE(m_cap, "amcbatch_running_cap", "The configured cap per instance and per account.",
      .labels = { LABEL("kind", cap_kinds) });
GAUGE(m_live_workers, "amcbatch_workers_live",
      "Workers whose heartbeat in P workers is within lease_ms.", );
GAUGE(m_ready_jobs, "amcbatch_queue_ready_jobs",
      "Jobs ready to be claimed (of the first " FLEET_BATCHES_S
      " batches of the ring; lua/fleet.lua).", );
GAUGE(m_oldest_age, "amcbatch_queue_oldest_job_age_seconds",
      "Age of the oldest ready job (of those batches); 0 when none waits.", );
GAUGE(m_parked, "amcbatch_parked_jobs", "Jobs parked behind a full instance or account cap.", );
GAUGE(m_cancels, "amcbatch_amc_cancels_pending",
      "Cancelled executions whose AMC cancel is still to be sent (P amc_cancels).", );
COUNTER(m_redis_read_failures, "amcbatch_worker_queue_read_failures_total",
	"Reads of the queue gauges from Redis that failed.", );
static Metric *const all[] = {
	&m_execs,
	&m_batches,
	&m_exec_seconds,
	&m_amc,
	&m_amc_seconds,
	&m_amc_429,
	&m_amc_retries,
	&m_rows,
	&m_bytes,
	&m_deliveries,
	&m_held,
	&m_inflight_cap,
	&m_ready_batches,
	&m_retry_jobs,
	&m_running,
	&m_at_cap,
	&m_cap,
	&m_live_workers,
	&m_ready_jobs,
	&m_oldest_age,
	&m_parked,
	&m_cancels,
	&m_redis_read_failures,
};

static struct {
	Worker *w;            /* borrowed */
	DaemonMetrics m;      /* the registry and the listener */
	double redis_read_at; /* metrics_now() of the last read, 0: never */
	int redis_pending;    /* replies of that read still due */
} st;

void stats_amc_attempt(int endpoint, long status, double secs)
{
	int cls = status >= 200 && status < 600 ? (int)(status / 100 - 2) : 4;

	metric_inc(&m_amc, metric_ix2(&m_amc, endpoint, cls));
	metric_observe(&m_amc_seconds, metric_ix2(&m_amc_seconds, endpoint, 0), secs);
	if (status == 429)
		metric_inc(&m_amc_429, metric_ix2(&m_amc_429, endpoint, 0));
}

void stats_amc_retry(int endpoint)
{
	metric_inc(&m_amc_retries, metric_ix2(&m_amc_retries, endpoint, 0));
}

void stats_exec_finished(const char *final, const char *batch_status, double secs)
{
	enum ExecState fs;
	enum BatchState bs;

	if (!exec_state_parse(final, &fs) || fs < EXEC_STATE_FIRST_FINAL)
		return;
	int f = (int)fs - EXEC_STATE_FIRST_FINAL;
	int b = batch_state_parse(batch_status, &bs) && bs >= BATCH_STATE_FIRST_FINAL
			? (int)bs - BATCH_STATE_FIRST_FINAL
			: -1;
	metric_inc(&m_execs, metric_ix2(&m_execs, f, 0));
	if (secs >= 0)
		metric_observe(&m_exec_seconds, metric_ix2(&m_exec_seconds, f, 0), secs);
	/* a completed or failed finish that leaves the batch final is its last execution's */
	if (b >= 0 && fs != EXEC_STATE_CANCELLED)
		metric_inc(&m_batches, metric_ix2(&m_batches, b, 0));
}

void stats_archived(long rows, long long bytes)
{
	metric_add(&m_rows, 0, rows > 0 ? (double)rows : 0);
	metric_add(&m_bytes, 0, bytes > 0 ? (double)bytes : 0);
}

void stats_delivery(bool ok)
{
	metric_inc(&m_deliveries, metric_ix2(&m_deliveries, ok ? 0 : 1, 0));
}

/* ---- queue gauges from Redis ---- */

static bool int_reply(const redisReply *r, long long *v)
{
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		return false;
	*v = r->integer;
	return true;
}

static void on_llen_queue(RConn *c, redisReply *r, void *priv)
{
	long long v;

	st.redis_pending--;
	if (int_reply(r, &v))
		metric_set(&m_ready_batches, 0, (double)v);
	else
		metric_inc(&m_redis_read_failures, 0);
}

static void on_zcard_retry(RConn *c, redisReply *r, void *priv)
{
	long long v;

	st.redis_pending--;
	if (int_reply(r, &v))
		metric_set(&m_retry_jobs, 0, (double)v);
	else
		metric_inc(&m_redis_read_failures, 0);
}

static void on_zcount_workers(RConn *c, redisReply *r, void *priv)
{
	long long v;

	st.redis_pending--;
	if (int_reply(r, &v))
		metric_set(&m_live_workers, 0, (double)v);
	else
		metric_inc(&m_redis_read_failures, 0);
}

/* HGETALL P running: field, value, ...; bounded by the instances and accounts in use. */
static void on_running(RConn *c, redisReply *r, void *priv)
{
	double running = 0, at_cap[2] = { 0, 0 };

	st.redis_pending--;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		metric_inc(&m_redis_read_failures, 0);
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];
		long n;

		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		n = strtol(v->str, NULL, 10);
		if (strncmp(f->str, "instance:", 9) == 0) {
			running += (double)n;
			if (n >= st.w->cfg.instance_cap)
				at_cap[0]++;
		} else if (strncmp(f->str, "account:", 8) == 0 && n >= st.w->cfg.account_cap) {
			at_cap[1]++;
		}
	}
	metric_set(&m_running, 0, running);
	metric_set(&m_at_cap, 0, at_cap[0]);
	metric_set(&m_at_cap, 1, at_cap[1]);
}

/* lua/fleet.lua, read for the queue's jobs, their age, parked jobs and pending AMC cancels
 * (the fleet view's one read-only script; no workers, events or errors asked for):
 * { workers, queue, slots, parked, cancels, errors }. */
static void on_fleet(RConn *c, redisReply *r, void *priv)
{
	const redisReply *q, *parked, *cancels;
	double n_parked = 0;
	long long oldest;

	st.redis_pending--;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
	    (q = r->element[1])->type != REDIS_REPLY_ARRAY || q->elements < 5 ||
	    (parked = r->element[3])->type != REDIS_REPLY_ARRAY ||
	    (cancels = r->element[4])->type != REDIS_REPLY_ARRAY || cancels->elements < 1 ||
	    q->element[1]->type != REDIS_REPLY_INTEGER ||
	    q->element[4]->type != REDIS_REPLY_INTEGER ||
	    cancels->element[0]->type != REDIS_REPLY_INTEGER) {
		metric_inc(&m_redis_read_failures, 0);
		return;
	}
	metric_set(&m_ready_jobs, 0, (double)q->element[1]->integer);
	oldest = q->element[4]->integer;
	metric_set(&m_oldest_age, 0, oldest > 0 ? (double)(mstime_wall() - oldest) / 1000.0 : 0);
	/* per parked list: kind, id, length, oldest ref, oldest queued at */
	for (size_t i = 0; i + 4 < parked->elements; i += 5)
		if (parked->element[i + 2]->type == REDIS_REPLY_INTEGER)
			n_parked += (double)parked->element[i + 2]->integer;
	metric_set(&m_parked, 0, n_parked);
	metric_set(&m_cancels, 0, (double)cancels->element[0]->integer);
}

static void read_queues(Worker *w)
{
	LuaCall call;
	char key[256];
	char since[32];

	if (!rconn_is_ready(w->redis))
		return;
	if (keys_queue(key, sizeof(key), w->prefix) != NULL &&
	    rconn_commandf(w->redis, on_llen_queue, NULL, "LLEN %s", key))
		st.redis_pending++;
	if (keys_retry(key, sizeof(key), w->prefix) != NULL &&
	    rconn_commandf(w->redis, on_zcard_retry, NULL, "ZCARD %s", key))
		st.redis_pending++;
	snprintf(since, sizeof(since), "%lld", (long long)(mstime_wall() - w->cfg.lease_ms));
	if (keys_workers(key, sizeof(key), w->prefix) != NULL &&
	    rconn_commandf(w->redis, on_zcount_workers, NULL, "ZCOUNT %s %s +inf", key, since))
		st.redis_pending++;
	if (keys_running(key, sizeof(key), w->prefix) != NULL &&
	    rconn_commandf(w->redis, on_running, NULL, "HGETALL %s", key))
		st.redis_pending++;
	if (lua_fleet(&call, w->prefix, mstime_wall(), 0, FLEET_BATCHES, FLEET_SLOTS, 0, 0) &&
	    rconn_call(w->redis, &call, on_fleet, NULL))
		st.redis_pending++;
}

static void collect(void *priv)
{
	Worker *w = st.w;
	double now = metrics_now();

	metric_set(&m_held, 0, w->inflight);
	metric_set(&m_inflight_cap, 0, w->cfg.worker_inflight);
	metric_set(&m_cap, 0, w->cfg.instance_cap);
	metric_set(&m_cap, 1, w->cfg.account_cap);
	/* shown by the next scrape; never more than one read in flight */
	if (st.redis_pending == 0 &&
	    (st.redis_read_at == 0 || now - st.redis_read_at >= STATS_REDIS_EVERY_S)) {
		st.redis_read_at = now;
		read_queues(w);
	}
}

bool stats_setup(Worker *w)
{
	st.w = w;
	m_exec_seconds.bounds = metrics_buckets_duration;
	m_exec_seconds.nbounds = metrics_buckets_duration_n;
	m_amc_seconds.bounds = metrics_buckets_latency;
	m_amc_seconds.nbounds = metrics_buckets_latency_n;
	return daemon_metrics_start(&st.m, all, ARRAY_LEN(all), collect, w->redis, w->pg, w->base,
				    w->cfg.metrics_listen);
}

void stats_free(Worker *w)
{
	daemon_metrics_stop(&st.m, w != NULL ? w->redis : NULL, w != NULL ? w->pg : NULL);
}
