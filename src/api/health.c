/* health.c - GET /healthz and GET /readyz without authentication: PING (or the newest worker
 * heartbeat) in Redis and SELECT 1 on the pool, answered within HEALTH_TIMEOUT_MS whatever
 * state either server is in. Nothing here blocks the loop. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "pgpool.h"
#include "rconn.h"

#define HEALTH_TIMEOUT_MS 2000

/* Outlives the request when a probe answers after the timeout: freed when the reply is
 * sent and no probe is outstanding. */
typedef struct Health {
	Req *r; /* NULL once replied */
	struct event *timer;
	int pending; /* probes whose callback has not run yet */
	bool redis_ok, pg_ok;
} Health;

static void maybe_finish(Health *h, bool timed_out)
{
	if (h->r != NULL && (h->pending == 0 || timed_out)) {
		json_t *body = json_pack(
			"{s:s, s:s, s:s}", "status", h->redis_ok && h->pg_ok ? "ok" : "degraded",
			"redis", h->redis_ok ? "ok" : "down", "postgres", h->pg_ok ? "ok" : "down");

		req_reply(h->r, h->redis_ok && h->pg_ok ? 200 : 503, body);
		h->r = NULL;
		event_del(h->timer);
	}
	if (h->r == NULL && h->pending == 0) {
		event_free(h->timer);
		free(h);
	}
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	maybe_finish(arg, true);
}

static void on_ping(RConn *c, redisReply *reply, void *priv)
{
	Health *h = priv;

	h->pending--;
	if (h->r != NULL)
		h->redis_ok = reply != NULL && reply->type == REDIS_REPLY_STATUS &&
			      strcmp(reply->str, "PONG") == 0;
	maybe_finish(h, false);
}

static enum PgResult select_one(PGconn *conn, void *arg, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, "SELECT 1");

	if (!pg_ok(conn, res, err, errlen)) {
		PQclear(res);
		return PG_FAIL; /* no retry: health wants the answer now */
	}
	PQclear(res);
	return PG_OK;
}

static void on_select(enum PgResult res, const char *err, void *arg)
{
	Health *h = arg;

	h->pending--;
	if (h->r != NULL)
		h->pg_ok = res == PG_OK;
	maybe_finish(h, false);
}

void health_get(Req *r)
{
	Api *api = r->api;
	Health *h = calloc(1, sizeof(*h));
	struct timeval tv = mstime_tv(HEALTH_TIMEOUT_MS);

	if (h == NULL || (h->timer = evtimer_new(api->base, on_timeout, h)) == NULL) {
		free(h);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	h->r = r;
	if (api_redis_ready(api) && rconn_commandf(api->redis, on_ping, h, "PING"))
		h->pending++;
	if (api->pg != NULL && pgpool_submit(api->pg, select_one, on_select, h, 0))
		h->pending++;
	evtimer_add(h->timer, &tv);
	maybe_finish(h, false);
}

/* ---- GET /readyz: Redis, PostgreSQL and a live worker ---- */

/* Like Health, it outlives the request while a probe is still out. */
typedef struct Ready {
	Req *r; /* NULL once replied */
	struct event *timer;
	int pending;
	bool redis_ok, pg_ok;
	long long newest_ms; /* newest worker heartbeat (wall ms), -1: no worker listed */
	int lease_ms;
} Ready;

static void ready_finish(Ready *h, bool timed_out)
{
	if (h->r != NULL && (h->pending == 0 || timed_out)) {
		long long age = h->newest_ms >= 0 ? mstime_wall() - h->newest_ms : -1;
		bool workers_ok = h->redis_ok && age >= 0 && age <= h->lease_ms;
		char workers[96];
		json_t *body;

		if (!h->redis_ok)
			snprintf(workers, sizeof(workers), "unknown (Redis does not answer)");
		else if (age < 0)
			snprintf(workers, sizeof(workers), "no worker has sent a heartbeat");
		else if (!workers_ok)
			snprintf(workers, sizeof(workers), "no live worker for %lld s", age / 1000);
		else
			snprintf(workers, sizeof(workers), "ok");
		body = json_pack("{s:b, s:{s:s, s:s, s:s}}", "ready",
				 h->redis_ok && h->pg_ok && workers_ok, "checks", "redis",
				 h->redis_ok ? "ok" : "no answer", "postgresql",
				 h->pg_ok ? "ok" : "no answer", "workers", workers);
		req_reply(h->r, h->redis_ok && h->pg_ok && workers_ok ? 200 : 503, body);
		h->r = NULL;
		event_del(h->timer);
	}
	if (h->r == NULL && h->pending == 0) {
		event_free(h->timer);
		free(h);
	}
}

static void ready_timeout(evutil_socket_t fd, short what, void *arg)
{
	ready_finish(arg, true);
}

/* ZREVRANGE P workers 0 0 WITHSCORES: [] or [id, score]; answering at all is Redis's check. */
static void on_newest_worker(RConn *c, redisReply *reply, void *priv)
{
	Ready *h = priv;

	h->pending--;
	if (h->r != NULL && reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
		h->redis_ok = true;
		if (reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_STRING)
			h->newest_ms = atoll(reply->element[1]->str);
	}
	ready_finish(h, false);
}

static void on_ready_select(enum PgResult res, const char *err, void *arg)
{
	Ready *h = arg;

	h->pending--;
	if (h->r != NULL)
		h->pg_ok = res == PG_OK;
	ready_finish(h, false);
}

void health_ready(Req *r)
{
	Api *api = r->api;
	Ready *h = calloc(1, sizeof(*h));
	struct timeval tv = mstime_tv(HEALTH_TIMEOUT_MS);
	char key[256];

	if (h == NULL || (h->timer = evtimer_new(api->base, ready_timeout, h)) == NULL) {
		free(h);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	h->r = r;
	h->newest_ms = -1;
	h->lease_ms = api->cfg.lease_ms;
	if (api_redis_ready(api) && keys_workers(key, sizeof(key), api->cfg.redis_prefix) != NULL &&
	    rconn_commandf(api->redis, on_newest_worker, h, "ZREVRANGE %s 0 0 WITHSCORES", key))
		h->pending++;
	if (api->pg != NULL && pgpool_submit(api->pg, select_one, on_ready_select, h, 0))
		h->pending++;
	evtimer_add(h->timer, &tv);
	ready_finish(h, false);
}
