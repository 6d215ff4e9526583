/* stats.c - the API process's metrics: what it defines, where it counts, and the batch
 * gauges it reads from PostgreSQL (at most every STATS_PG_EVERY_S, only when scraped). It
 * does not render (metrics.c) or listen (metrics_http.c). Loop thread only. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "daemon_metrics.h"
#include "metrics.h"
#include "metrics_http.h"
#include "req.h"
#include "router.h"
#include "schedule.h"
#include "states.h"

#define STATS_PG_EVERY_S 10.0

static const char *const code_classes[] = { "2xx", "3xx", "4xx", "5xx", "streamed" };
/* submissions: 201 (and 200: an idempotent replay), 429, 503, other 4xx, other 5xx */
static const char *const submit_outcomes[] = {
	"created", "rate_limited", "unavailable", "client_error", "server_error",
};
static const char *const fire_outcomes[] = {
	[FIRE_STARTED] = "started", [FIRE_FAILED] = "failed", [FIRE_SKIPPED] = "skipped",
	[FIRE_TAKEN] = "taken",     [FIRE_GONE] = "gone",     [FIRE_ERROR] = "error",
};
/* the archived executions counted by BATCH_GAUGES_SQL: completed and failed, the first two
 * final states */
#define EXEC_ARCHIVED 2
_Static_assert(EXEC_STATE_FIRST_FINAL == EXEC_STATE_COMPLETED &&
		       EXEC_STATE_COMPLETED + 1 == EXEC_STATE_FAILED,
	       "the archived executions' label values are completed, failed");

static Metric m_requests = {
	.name = "amcbatch_api_requests_total",
	.help = "HTTP requests answered, by route pattern and status class.",
	.type = METRIC_COUNTER,
	.labels = { { "route", NULL, 0 }, { "code", code_classes, ARRAY_LEN(code_classes) } },
};
static Metric m_request_seconds = {
	.name = "amcbatch_api_request_duration_seconds",
	.help = "Time from reading a request to its reply (streams: to their first byte), by route pattern.",
	.type = METRIC_HISTOGRAM,
	.labels = { { "route", NULL, 0 } },
};
static Metric m_inflight = {
	.name = "amcbatch_api_inflight_requests",
	.help = "Requests read and not yet answered.",
	.type = METRIC_GAUGE,
};
static Metric m_submissions = {
	.name = "amcbatch_api_submissions_total",
	.help = "Batch submissions (POST /workflows/{id}/batch-execute) by outcome.",
	.type = METRIC_COUNTER,
	.labels = { { "outcome", submit_outcomes, ARRAY_LEN(submit_outcomes) } },
};
static Metric m_schedule_runs = {
	.name = "amcbatch_api_schedule_runs_total",
	.help = "Due schedule slots handled by this process's trigger, by outcome.",
	.type = METRIC_COUNTER,
	.labels = { { "outcome", fire_outcomes, ARRAY_LEN(fire_outcomes) } },
};
static Metric m_enqueued_late = {
	.name = "amcbatch_api_batches_enqueued_late_total",
	.help = "Stored batches the enqueue janitor handed to Redis: their request could not reach Redis, or Redis lost them.",
	.type = METRIC_COUNTER,
};
static Metric m_batches = {
	.name = "amcbatch_batches",
	.help = "Batches in the PostgreSQL archive by status (read at most every 10 s).",
	.type = METRIC_GAUGE,
	.labels = { { "status", batch_state_names, BATCH_STATE_COUNT } },
};
static Metric m_archived_execs = {
	.name = "amcbatch_archived_executions",
	.help = "Executions the archive counts as finished, by final status (the status trigger's per-batch counters, summed).",
	.type = METRIC_GAUGE,
	.labels = { { "status", exec_state_names + EXEC_STATE_FIRST_FINAL, EXEC_ARCHIVED } },
};
static Metric m_oldest_open = {
	.name = "amcbatch_batch_oldest_open_age_seconds",
	.help = "Age of the oldest batch still pending or running (0: none).",
	.type = METRIC_GAUGE,
};
static Metric m_pg_read_failures = {
	.name = "amcbatch_api_archive_read_failures_total",
	.help = "Reads of the batch gauges from PostgreSQL that failed.",
	.type = METRIC_COUNTER,
};

static Metric *const all[] = {
	&m_requests,      &m_request_seconds,  &m_inflight, &m_submissions,
	&m_schedule_runs, &m_enqueued_late,    &m_batches,  &m_archived_execs,
	&m_oldest_open,   &m_pg_read_failures,
};

/* Process state: the API process has one of each. */
static struct {
	Api *api;          /* borrowed */
	DaemonMetrics m;   /* the registry and the listener */
	double pg_read_at; /* metrics_now() of the last read started, 0: never */
	bool pg_reading;
	/* written by the pool thread, read on the loop thread after the job completes */
	double batches[BATCH_STATE_COUNT];
	double execs[EXEC_ARCHIVED];
	double oldest_open;
} st;

#define BATCH_GAUGES_SQL \
	"SELECT status, count(*), coalesce(sum(completed_instances), 0)," \
	" coalesce(sum(failed_instances), 0)," \
	" coalesce(extract(epoch FROM now() - min(created_at))" \
	"          FILTER (WHERE status IN ('pending', 'running')), 0)" \
	" FROM batch_executions GROUP BY status"

/* Pool thread: fills st's staging numbers only (the Metrics are set on the loop thread). */
static enum PgResult read_batches(PGconn *conn, void *arg, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, BATCH_GAUGES_SQL);

	if (!pg_ok(conn, res, err, errlen)) {
		PQclear(res);
		return PG_FAIL; /* no retry: the next scrape reads again */
	}
	memset(st.batches, 0, sizeof(st.batches));
	memset(st.execs, 0, sizeof(st.execs));
	st.oldest_open = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *status = PQgetvalue(res, i, 0);
		double age = atof(PQgetvalue(res, i, 4));
		enum BatchState k;

		if (batch_state_parse(status, &k))
			st.batches[k] = atof(PQgetvalue(res, i, 1));
		st.execs[0] += atof(PQgetvalue(res, i, 2));
		st.execs[1] += atof(PQgetvalue(res, i, 3));
		if (age > st.oldest_open)
			st.oldest_open = age;
	}
	PQclear(res);
	return PG_OK;
}

static void batches_read(enum PgResult res, const char *err, void *arg)
{
	st.pg_reading = false;
	if (res != PG_OK) {
		metric_inc(&m_pg_read_failures, 0);
		return;
	}
	for (size_t k = 0; k < BATCH_STATE_COUNT; k++)
		metric_set(&m_batches, k, st.batches[k]);
	for (size_t k = 0; k < EXEC_ARCHIVED; k++)
		metric_set(&m_archived_execs, k, st.execs[k]);
	metric_set(&m_oldest_open, 0, st.oldest_open);
}

/* Before each render: the cheap gauges now, the archive's in the background (a scrape
 * shows the previous read; nothing is read while nobody scrapes). */
static void collect(void *priv)
{
	double now = metrics_now();

	metric_set(&m_inflight, 0, st.api->inflight);
	if (!st.pg_reading && st.api->pg != NULL &&
	    (st.pg_read_at == 0 || now - st.pg_read_at >= STATS_PG_EVERY_S)) {
		if (pgpool_submit(st.api->pg, read_batches, batches_read, NULL, 0)) {
			st.pg_reading = true;
			st.pg_read_at = now;
		}
	}
}

bool stats_setup(Api *api)
{
	int nroutes;

	st.api = api;
	m_requests.labels[0].values = router_route_labels(&nroutes);
	m_requests.labels[0].n = nroutes;
	m_request_seconds.labels[0] = m_requests.labels[0];
	m_request_seconds.bounds = metrics_buckets_latency;
	m_request_seconds.nbounds = metrics_buckets_latency_n;
	return daemon_metrics_start(&st.m, all, ARRAY_LEN(all), collect, api->redis, api->pg,
				    api->base, api->cfg.metrics_listen);
}

void stats_free(Api *api)
{
	daemon_metrics_stop(&st.m, api != NULL ? api->redis : NULL, api != NULL ? api->pg : NULL);
}

static int code_class(int status)
{
	if (status >= 200 && status < 600)
		return status / 100 - 2;
	return 4; /* streamed: the status went out with the stream */
}

void stats_request_done(const Req *r, int status, double secs)
{
	int nroutes = (int)m_requests.labels[0].n;
	int route = r->route_ix >= 0 ? r->route_ix : nroutes - 1;
	int outcome;

	if (st.m.reg == NULL)
		return;
	metric_inc(&m_requests, metric_ix2(&m_requests, route, code_class(status)));
	metric_observe(&m_request_seconds, metric_ix2(&m_request_seconds, route, 0), secs);
	if (r->route == NULL || r->method != EVHTTP_REQ_POST ||
	    strcmp(r->route, "workflows/*/batch-execute") != 0)
		return;
	if (status == 201 || status == 200)
		outcome = 0;
	else if (status == 429)
		outcome = 1;
	else if (status == 503)
		outcome = 2;
	else if (status >= 400 && status < 500)
		outcome = 3;
	else
		outcome = 4;
	metric_inc(&m_submissions, metric_ix2(&m_submissions, outcome, 0));
}

void stats_enqueued_late(void)
{
	metric_inc(&m_enqueued_late, 0);
}

void stats_schedule_fired(int outcome)
{
	metric_inc(&m_schedule_runs, metric_ix2(&m_schedule_runs, outcome, 0));
}

void stats_metrics_get(Req *r)
{
	struct evhttp_request *req = r->req;

	r->access.status = 200;
	metrics_http_reply(req, st.m.reg);
	req_release(r);
}
