/* health.c - GET /healthz without authentication: PINGs Redis and runs SELECT 1 on the pool,
 * and answers within HEALTH_TIMEOUT_MS whatever state either server is in. */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "pgpool.h"
#include "rconn.h"

#define HEALTH_TIMEOUT_MS 2000

/* Outlives the request when a probe answers after the timeout: freed when the reply is
 * sent and no probe is outstanding. */
typedef struct Health {
	Req *r;			/* NULL once replied */
	struct event *timer;
	int pending;		/* probes whose callback has not run yet */
	bool redis_ok, pg_ok;
} Health;

static void maybe_finish(Health *h, bool timed_out)
{
	if (h->r != NULL && (h->pending == 0 || timed_out)) {
		json_t *body = json_pack("{s:s, s:s, s:s}",
					 "status", h->redis_ok && h->pg_ok ? "ok" : "degraded",
					 "redis", h->redis_ok ? "ok" : "down",
					 "postgres", h->pg_ok ? "ok" : "down");

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
		return PG_FAIL;		/* no retry: health wants the answer now */
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
	struct timeval tv = { HEALTH_TIMEOUT_MS / 1000, (HEALTH_TIMEOUT_MS % 1000) * 1000 };

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
