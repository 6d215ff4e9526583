/* enqueue.c - one enqueue_batch call per stored batch, retried on a lost reply or an unready
 * Redis within a budget, then the enqueued_at mark in PostgreSQL. Shared by the submit route
 * and the enqueue janitor; it decides nothing about the HTTP reply and never deletes a batch. */
#include "enqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ids.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "pgq.h"
#include "states.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 1000

/* One batch on its way to Redis. Owned by itself (linked in api->enqueues) from
 * enqueue_start until its last callback: the rconn reply, or the retry timer. */
struct Enqueue {
	Api *api;
	Enqueue *prev, *next;
	char batch_uuid[IDS_UUID_LEN + 1];
	char batch_id[IDS_BATCH_LEN + 1];
	int nkeys;
	char (*keys)[KEYS_MAX]; /* batch, execs, ring, batches, events, then one per exec */
	char *fields;           /* ARGV[3], JSON text */
	char *execs;            /* ARGV[4], JSON text */
	struct event *timer;    /* retry, or the budget while a reply is awaited */
	long long deadline_ms;
	int budget_ms;
	int backoff_ms;
	int attempts;
	bool in_flight;     /* an EVALSHA is out: its callback comes (reply or NULL) */
	EnqueueDoneFn done; /* NULL once reported */
	void *priv;
};

static void arm(Enqueue *e, long long ms)
{
	struct timeval tv = mstime_tv(ms);

	evtimer_add(e->timer, &tv);
}

static void report(Enqueue *e, EnqueueOutcome outcome)
{
	EnqueueDoneFn fn = e->done;

	e->done = NULL;
	if (fn != NULL)
		fn(outcome, e->priv);
}

static void enqueue_free(Enqueue *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		e->api->enqueues = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	if (e->timer != NULL)
		event_free(e->timer);
	free(e->keys);
	free(e->fields);
	free(e->execs);
	free(e);
}

/* ---- the enqueued_at mark (and a cancellation that raced the enqueue) ---- */

/* Owned by the mark job, then by the cancel_batch call if one follows. */
typedef struct Mark {
	Api *api;
	char batch_id[IDS_BATCH_LEN + 1];
} Mark;

static const char sql_mark[] = "UPDATE batch_executions SET enqueued_at = now()"
			       " WHERE id = $1::uuid AND enqueued_at IS NULL RETURNING status";

static void cancelled_done(RConn *c, redisReply *reply, void *priv)
{
	Mark *m = priv;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
		log_error("batch %s was cancelled before Redis had it, and cancel_batch failed: %s",
			  m->batch_id, reply == NULL ? "no reply" : reply->str);
	else
		log_info("batch %s was cancelled before Redis had it: cancelled there too",
			 m->batch_id);
	free(m);
}

/* The user cancelled the batch while only PostgreSQL had it (routes_batches.c cancels the
 * rows when Redis has no batch hash): the copy just enqueued must not run. */
static void cancel_in_redis(Mark *m)
{
	Api *api = m->api;
	LuaCall call;

	if (!api_redis_ready(api) ||
	    !lua_cancel_batch(&call, api->cfg.redis_prefix, m->batch_id, mstime_wall()) ||
	    !rconn_call(api->redis, &call, cancelled_done, m)) {
		log_error("batch %s was cancelled before Redis had it; cancel_batch not sent",
			  m->batch_id);
		free(m);
	}
}

static void mark_done(Pgq *q, void *priv)
{
	Mark *m = priv;

	if (!q->ok) /* the janitor meets the batch again, finds it in Redis, marks it */
		log_warn("batch %s enqueued, enqueued_at not set: %s", m->batch_id, q->err);
	if (q->ok && PQntuples(q->res[0]) == 1 &&
	    batch_state_is(PQgetvalue(q->res[0], 0, 0), BATCH_STATE_CANCELLED))
		cancel_in_redis(m);
	else
		free(m);
	pgq_free(q);
}

static void mark(Enqueue *e)
{
	Mark *m = calloc(1, sizeof(*m));
	Pgq *q = pgq_new();

	if (m != NULL) {
		m->api = e->api;
		memcpy(m->batch_id, e->batch_id, sizeof(m->batch_id));
	}
	if (m == NULL || q == NULL ||
	    !pgq_add_prepared(q, sql_mark, 1, (const char *[]){ e->batch_uuid }) ||
	    !pgq_run(e->api->pg, q, mark_done, m)) {
		log_warn("batch %s enqueued, enqueued_at not set (left to the janitor)",
			 e->batch_id);
		pgq_free(q);
		free(m);
	}
}

/* ---- the call ---- */

static void on_reply(RConn *c, redisReply *reply, void *priv);

/* Sends the script; false when Redis is not ready (nothing sent). */
static bool send_script(Enqueue *e)
{
	Api *api = e->api;
	const char **kp;
	char now[24];
	bool ok;

	if (!api_redis_ready(api) || (kp = calloc((size_t)e->nkeys, sizeof(*kp))) == NULL)
		return false;
	for (int i = 0; i < e->nkeys; i++)
		kp[i] = e->keys[i];
	snprintf(now, sizeof(now), "%lld", (long long)mstime_wall());
	ok = rconn_script(api->redis, LUA_SCRIPT_ENQUEUE_BATCH, e->nkeys, kp, 4,
			  (const char *[]){ e->batch_id, now, e->fields, e->execs }, on_reply, e);
	free(kp);
	if (ok) {
		e->in_flight = true;
		e->attempts++;
	}
	return ok;
}

/* Tries now; otherwise waits (backoff, never past the deadline). */
static void attempt(Enqueue *e)
{
	long long left = e->deadline_ms - mstime_wall();

	if (send_script(e)) {
		arm(e, left); /* the reply has until the deadline */
		return;
	}
	if (left <= 0 || e->api->redis == NULL) {
		log_warn("batch %s stored; Redis unreachable (%d attempt(s)): %s", e->batch_id,
			 e->attempts,
			 e->api->redis != NULL ? rconn_errstr(e->api->redis) : "stopping");
		report(e, ENQUEUE_UNREACHABLE);
		enqueue_free(e);
		return;
	}
	arm(e, e->backoff_ms < left ? e->backoff_ms : left);
	e->backoff_ms = e->backoff_ms * 2 < BACKOFF_MAX_MS ? e->backoff_ms * 2 : BACKOFF_MAX_MS;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	Enqueue *e = arg;

	if (e->in_flight) {
		/* the budget ran out while the reply is awaited: the caller goes on without it;
		 * e lives until the reply (or NULL) comes */
		log_warn("batch %s: enqueue_batch unanswered within %d ms, left to the janitor",
			 e->batch_id, e->budget_ms);
		report(e, ENQUEUE_UNREACHABLE);
		return;
	}
	attempt(e);
}

static void on_reply(RConn *c, redisReply *reply, void *priv)
{
	Enqueue *e = priv;

	e->in_flight = false;
	evtimer_del(e->timer);
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    (reply->integer == LUA_OK || reply->integer == LUA_ERR_EXISTS)) {
		/* -2: the batch id is this batch's (ids are unique in PostgreSQL), so an earlier
		 * attempt whose reply was lost, or the janitor of another process, enqueued it */
		if (reply->integer == LUA_ERR_EXISTS || e->attempts > 1)
			log_info("batch %s: enqueue_batch answered %lld on attempt %d", e->batch_id,
				 reply->integer, e->attempts);
		mark(e);
		report(e, ENQUEUE_DONE);
		enqueue_free(e);
	} else if (reply == NULL) {
		/* connection lost: the script may or may not have run; running it again is safe
		 * (-2 then means it had) */
		if (e->done == NULL || e->api->redis == NULL) {
			log_warn("batch %s: enqueue_batch reply lost; left to the janitor",
				 e->batch_id);
			report(e, ENQUEUE_UNREACHABLE);
			enqueue_free(e);
		} else {
			log_warn("batch %s: enqueue_batch reply lost (connection dropped); "
				 "retrying",
				 e->batch_id);
			attempt(e);
		}
	} else if (rconn_not_now_error(reply) && e->done != NULL && e->api->redis != NULL &&
		   mstime_wall() < e->deadline_ms) {
		/* LOADING, MISCONF, OOM, ...: the script did not run; again within the budget */
		long long left = e->deadline_ms - mstime_wall();
		log_warn("batch %s: enqueue_batch not run (%s); retrying", e->batch_id, reply->str);
		arm(e, e->backoff_ms < left ? e->backoff_ms : left);
		e->backoff_ms =
			e->backoff_ms * 2 < BACKOFF_MAX_MS ? e->backoff_ms * 2 : BACKOFF_MAX_MS;
	} else if (rconn_not_now_error(reply)) {
		log_warn(
			"batch %s stored; Redis cannot run enqueue_batch now (%s): left to the janitor",
			e->batch_id, reply->str);
		report(e, ENQUEUE_UNREACHABLE);
		enqueue_free(e);
	} else {
		log_error("batch %s: enqueue_batch refused: %s", e->batch_id,
			  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
		report(e, ENQUEUE_REFUSED);
		enqueue_free(e);
	}
}

/* ---- setup ---- */

/* Copies the payload row into e: ids checked (keys are built only from valid ids). The exec
 * ids come from column 4, not from parsing the executions' JSON (56 KB for 100 instances,
 * about 1 ms of the loop); enqueue_batch checks that the two agree, one to one. */
static bool load_row(Enqueue *e, const PGresult *res, int row)
{
	const char *prefix = e->api->cfg.redis_prefix;
	const char *ids, *p;
	int n = 1;

	if (row >= PQntuples(res) || PQnfields(res) < 5 || PQgetisnull(res, row, 3) ||
	    PQgetisnull(res, row, 4) || !ids_is_uuid(PQgetvalue(res, row, 0)) ||
	    !ids_is_batch(PQgetvalue(res, row, 1)))
		return false;
	snprintf(e->batch_uuid, sizeof(e->batch_uuid), "%s", PQgetvalue(res, row, 0));
	snprintf(e->batch_id, sizeof(e->batch_id), "%s", PQgetvalue(res, row, 1));
	ids = PQgetvalue(res, row, 4);
	for (p = ids; *p != '\0'; p++)
		n += *p == ',';
	e->nkeys = 5 + n;
	if ((e->fields = strdup(PQgetvalue(res, row, 2))) == NULL ||
	    (e->execs = strdup(PQgetvalue(res, row, 3))) == NULL ||
	    (e->keys = calloc((size_t)e->nkeys, KEYS_MAX)) == NULL ||
	    keys_batch(e->keys[0], KEYS_MAX, prefix, e->batch_id) == NULL ||
	    keys_batch_execs(e->keys[1], KEYS_MAX, prefix, e->batch_id) == NULL ||
	    keys_queue(e->keys[2], KEYS_MAX, prefix) == NULL ||
	    keys_batches(e->keys[3], KEYS_MAX, prefix) == NULL ||
	    keys_events(e->keys[4], KEYS_MAX, prefix) == NULL)
		return false;
	for (int i = 0; i < n; i++) {
		char id[IDS_EXEC_LEN + 1];
		size_t len = strcspn(ids, ",");

		if (len != IDS_EXEC_LEN)
			return false;
		memcpy(id, ids, len);
		id[len] = '\0';
		if (!ids_is_exec(id) ||
		    keys_exec(e->keys[5 + i], KEYS_MAX, prefix, e->batch_id, id) == NULL)
			return false;
		ids += len + (ids[len] == ',');
	}
	return true;
}

bool enqueue_start(Api *api, const PGresult *res, int row, int budget_ms, EnqueueDoneFn done,
		   void *priv)
{
	Enqueue *e;

	if (api->redis == NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return false;
	e->api = api;
	e->done = done;
	e->priv = priv;
	e->backoff_ms = BACKOFF_FIRST_MS;
	e->budget_ms = budget_ms;
	e->deadline_ms = mstime_wall() + budget_ms;
	e->next = api->enqueues;
	if (e->next != NULL)
		e->next->prev = e;
	api->enqueues = e;
	if (!load_row(e, res, row) || (e->timer = evtimer_new(api->base, on_timer, e)) == NULL) {
		log_error("batch %s: cannot build its enqueue_batch call", e->batch_id);
		enqueue_free(e);
		return false;
	}
	if (send_script(e))
		arm(e, budget_ms);
	else
		arm(e, 0); /* retried or reported from the loop, never from in here */
	return true;
}

void enqueue_stop_all(Api *api)
{
	Enqueue *e = api->enqueues, *next;

	for (; e != NULL; e = next) {
		next = e->next;
		evtimer_del(e->timer);
		report(e, ENQUEUE_UNREACHABLE);
		/* one in flight still gets its callback (NULL), which frees it; rconn_free has
		 * normally delivered those already */
		if (!e->in_flight)
			enqueue_free(e);
	}
}
