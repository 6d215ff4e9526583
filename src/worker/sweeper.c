/* sweeper.c - the janitor's archive sweep, once per interval across the cluster (SET NX PX
 * P janitor:sweep:lock). PostgreSQL is the durable record and Redis the live one; the sweep
 * makes them agree where a write got lost between the two:
 *   1. a batch PostgreSQL still calls open although Redis says it ended (the cancel's
 *      archive update failed, say) gets Redis's cancellations;
 *   2. an open batch Redis does not know at all (lost with the last writes of a restart, or
 *      with everything: a Redis that came back empty) is marked not enqueued, so the enqueue
 *      janitor hands it to Redis again (the workers then take every final state over from
 *      PostgreSQL);
 *   3. a terminal batch older than redis_retention_s leaves Redis (forget_batch) once
 *      PostgreSQL holds the same status; the API serves it from PostgreSQL from then on.
 * 1 and 2 take SWEEP_BATCHES open batches per sweep, the page after the one this worker
 * looked at last, so every open batch is looked at however many there are.
 * Everything it reads and writes goes through the pool and rconn: nothing blocks the loop. */
#include "sweeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "states.h"

#define SWEEP_BATCHES 100    /* open batches looked at per sweep */
#define SWEEP_FORGET 200     /* retention candidates per sweep */
#define SWEEP_MIN_AGE_S "10" /* an open batch younger than this is left alone */

/* One sweep: owned by itself from the lock to its last step. */
typedef struct Sweep {
	Worker *w;
	int pending; /* steps in flight; the sweep is freed at 0 */
} Sweep;

static void sweep_unref(Sweep *s)
{
	if (--s->pending == 0)
		free(s);
}

/* ---- PostgreSQL statements of the sweep (text parameters, one result) ---- */

typedef struct SweepQuery {
	Sweep *s;
	const char *sql;
	int n;
	char *vals[3]; /* owned */
	PGresult *res; /* owned by the callback while it runs */
	void (*done)(struct SweepQuery *q, bool ok);
	char batch_id[IDS_BATCH_LEN + 1];
} SweepQuery;

static void query_free(SweepQuery *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->vals[i]);
	PQclear(q->res);
	free(q);
}

static enum PgResult query_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	SweepQuery *q = arg;
	PQclear(q->res);
	q->res =
		PQexecParams(conn, q->sql, q->n, NULL, (const char *const *)q->vals, NULL, NULL, 0);
	if (pg_ok(conn, q->res, err, errlen))
		return PG_OK;
	return pg_fail_kind(conn);
}

static void query_done(enum PgResult res, const char *err, void *arg)
{
	SweepQuery *q = arg;
	Sweep *s = q->s;
	if (!s->w->exiting) {
		if (res != PG_OK)
			log_warn("archive sweep: %s", err);
		q->done(q, res == PG_OK);
	}
	query_free(q);
	sweep_unref(s);
}

/* Runs sql with up to 3 text values (copied); done(q, ok) on the loop thread. */
static void query(Sweep *s, const char *sql, const char *const *vals, int n, const char *batch_id,
		  void (*done)(SweepQuery *q, bool ok))
{
	SweepQuery *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return;
	q->s = s;
	q->sql = sql;
	q->done = done;
	snprintf(q->batch_id, sizeof(q->batch_id), "%s", batch_id != NULL ? batch_id : "");
	for (; q->n < n; q->n++)
		if ((q->vals[q->n] = strdup(vals[q->n])) == NULL)
			break;
	s->pending++;
	if (q->n < n || !pgpool_submit(s->w->pg, query_work, query_done, q, 0)) {
		query_free(q);
		sweep_unref(s);
	}
}

/* the statements answer how many rows they changed */
static void query_changed(SweepQuery *q, bool ok)
{
	if (ok && PQntuples(q->res) == 1 && strcmp(PQgetvalue(q->res, 0, 0), "0") != 0)
		log_warn("archive sweep: batch %s: %s row(s) brought in line with Redis",
			 q->batch_id, PQgetvalue(q->res, 0, 0));
}

/* ---- 1 and 2: open batches in PostgreSQL ---- */

/* One page of open batches, after the last one the previous sweep looked at ($2, $3): with
 * more than a page of batches open for hours, the oldest page alone would be looked at for
 * ever, and a younger batch Redis lost would never come back. */
static const char sql_open[] =
	"SELECT batch_id, created_at FROM batch_executions WHERE status IN ('pending', 'running')"
	"   AND enqueued_at IS NOT NULL AND created_at < now() - interval '" SWEEP_MIN_AGE_S
	" seconds'"
	"   AND (created_at, batch_id) > (coalesce(nullif($2, '')::timestamptz, '-infinity'), $3)"
	" ORDER BY created_at, batch_id LIMIT $1::integer";
/* the executions Redis cancelled, in PostgreSQL too (a result table of one goes with its
 * completed status: sql/016's trigger); $2 is a text[] of exec ids */
static const char sql_cancel_execs[] =
	"WITH c AS (UPDATE workflow_executions e SET status = 'cancelled',"
	"           completed_at = coalesce(e.completed_at, now()), updated_at = now()"
	"      FROM batch_executions b WHERE b.id = e.batch_execution_id AND b.batch_id = $1"
	"       AND e.execution_id = ANY($2::text[])"
	"       AND e.status NOT IN ('completed', 'failed', 'cancelled') RETURNING e.id)"
	" SELECT count(*) FROM c";
static const char sql_not_enqueued[] =
	"WITH u AS (UPDATE batch_executions SET enqueued_at = NULL, updated_at = now()"
	"           WHERE batch_id = $1 AND status IN ('pending', 'running') RETURNING 1)"
	" SELECT count(*) FROM u";

typedef struct ReadCall {
	Sweep *s;
	char batch_id[IDS_BATCH_LEN + 1];
} ReadCall;

static void on_read_batch(RConn *c, redisReply *reply, void *priv)
{
	ReadCall *rc = priv;
	Sweep *s = rc->s;
	Worker *w = s->w;

	if (w->exiting || reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		goto out;
	if (reply->elements == 0) {
		const char *vals[1] = { rc->batch_id };
		log_warn("archive sweep: open batch %s is not in Redis: enqueueing it again",
			 rc->batch_id);
		query(s, sql_not_enqueued, vals, 1, rc->batch_id, query_changed);
		goto out;
	}
	if (reply->element[0]->type != REDIS_REPLY_STRING ||
	    !batch_state_name_is_final(reply->element[0]->str))
		goto out;
	/* {a,b,...} of the cancelled exec ids (validated: they go into a text[] literal) */
	size_t cap = 3 + (reply->elements / 3) * (IDS_EXEC_LEN + 1), len = 1;
	char *arr = malloc(cap);
	int n = 0;
	if (arr == NULL)
		goto out;
	arr[0] = '{';
	for (size_t i = 2; i + 2 < reply->elements; i += 3) {
		const redisReply *id = reply->element[i], *st = reply->element[i + 1];
		if (id->type != REDIS_REPLY_STRING || st->type != REDIS_REPLY_STRING ||
		    !ids_is_exec(id->str) || !exec_state_is(st->str, EXEC_STATE_CANCELLED))
			continue;
		len += (size_t)snprintf(arr + len, cap - len, "%s%s", n++ ? "," : "", id->str);
	}
	arr[len++] = '}';
	arr[len] = '\0';
	if (n > 0) {
		const char *vals[2] = { rc->batch_id, arr };
		query(s, sql_cancel_execs, vals, 2, rc->batch_id, query_changed);
	}
	free(arr);
out:
	free(rc);
	sweep_unref(s);
}

static void read_batch(Sweep *s, const char *batch_id)
{
	Worker *w = s->w;
	LuaCall call;
	ReadCall *rc = malloc(sizeof(*rc));
	if (rc == NULL || !ids_is_batch(batch_id) || !lua_read_batch(&call, w->prefix, batch_id)) {
		free(rc);
		return;
	}
	rc->s = s;
	strcpy(rc->batch_id, batch_id);
	s->pending++;
	if (!rconn_call(w->redis, &call, on_read_batch, rc)) {
		free(rc);
		sweep_unref(s);
	}
}

static void on_open(SweepQuery *q, bool ok)
{
	Worker *w = q->s->w;
	int n = ok ? PQntuples(q->res) : 0;
	for (int i = 0; i < n; i++)
		read_batch(q->s, PQgetvalue(q->res, i, 0));
	if (!ok || n < SWEEP_BATCHES) {
		/* the end, or an error (a cursor PostgreSQL could not read must not stop every
		 * later sweep): from the oldest again */
		w->open_after_at[0] = w->open_after_id[0] = '\0';
		return;
	}
	snprintf(w->open_after_at, sizeof(w->open_after_at), "%s", PQgetvalue(q->res, n - 1, 1));
	snprintf(w->open_after_id, sizeof(w->open_after_id), "%s", PQgetvalue(q->res, n - 1, 0));
}

/* ---- 3: retention ---- */

static const char sql_statuses[] = "SELECT t.id, b.status FROM unnest($1::text[]) AS t(id)"
				   "  LEFT JOIN batch_executions b ON b.batch_id = t.id";

static void on_forgot(RConn *c, redisReply *reply, void *priv)
{
	Sweep *s = priv;
	if (!s->w->exiting && reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer == LUA_OK)
		log_debug("archive sweep: a terminal batch left Redis");
	sweep_unref(s);
}

static void forget(Sweep *s, const char *batch_id, const char *pg_status, int64_t before)
{
	LuaCall call;
	if (!ids_is_batch(batch_id) ||
	    !lua_forget_batch(&call, s->w->prefix, batch_id, before, pg_status))
		return;
	s->pending++;
	if (!rconn_call(s->w->redis, &call, on_forgot, s))
		sweep_unref(s);
}

static void on_statuses(SweepQuery *q, bool ok)
{
	Worker *w = q->s->w;
	int64_t before = mstime_wall() - (int64_t)w->cfg.redis_retention_s * 1000;
	for (int i = 0; ok && i < PQntuples(q->res); i++) {
		/* a batch PostgreSQL never stored (an API of old deleted it after a failed
		 * enqueue) has nothing to agree with: '*' lets it go once terminal */
		forget(q->s, PQgetvalue(q->res, i, 0),
		       PQgetisnull(q->res, i, 1) ? "*" : PQgetvalue(q->res, i, 1), before);
	}
}

static void on_candidates(RConn *c, redisReply *reply, void *priv)
{
	Sweep *s = priv;
	if (!s->w->exiting && reply != NULL && reply->type == REDIS_REPLY_ARRAY)
		/* batches that may not leave yet (an AMC cancel to do, PostgreSQL not agreeing yet)
		 * must not hold the others back: the next sweep takes the next page */
		s->w->retention_offset =
			reply->elements == SWEEP_FORGET ? s->w->retention_offset + SWEEP_FORGET : 0;
	if (!s->w->exiting && reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements > 0) {
		size_t cap = 3 + reply->elements * (IDS_BATCH_LEN + 1), len = 1;
		char *arr = malloc(cap);
		int n = 0;
		if (arr != NULL) {
			arr[0] = '{';
			for (size_t i = 0; i < reply->elements; i++) {
				const redisReply *id = reply->element[i];
				if (id->type == REDIS_REPLY_STRING && ids_is_batch(id->str))
					len += (size_t)snprintf(arr + len, cap - len, "%s%s",
								n++ ? "," : "", id->str);
			}
			arr[len++] = '}';
			arr[len] = '\0';
			if (n > 0) {
				const char *vals[1] = { arr };
				query(s, sql_statuses, vals, 1, NULL, on_statuses);
			}
			free(arr);
		}
	}
	sweep_unref(s);
}

static void retention(Sweep *s)
{
	Worker *w = s->w;
	char key[KEYS_MAX], max[32], off[24], lim[16];
	if (w->cfg.redis_retention_s <= 0 || keys_batches(key, sizeof(key), w->prefix) == NULL)
		return;
	/* created before the retention: candidates (forget_batch checks completed_at) */
	snprintf(max, sizeof(max), "%lld",
		 (long long)(mstime_wall() - (int64_t)w->cfg.redis_retention_s * 1000));
	snprintf(off, sizeof(off), "%ld", w->retention_offset);
	snprintf(lim, sizeof(lim), "%d", SWEEP_FORGET);
	const char *argv[7] = { "ZRANGEBYSCORE", key, "-inf", max, "LIMIT", off, lim };
	/* not sent: only the count goes back, the caller (on_lock) still holds its own reference
	 * (calling sweep_unref here made gcc 12 see a free before on_lock's last use) */
	s->pending++;
	if (!rconn_command(w->redis, on_candidates, s, 7, argv, NULL))
		s->pending--;
}

/* ---- the sweep ---- */

static void on_lock(RConn *c, redisReply *reply, void *priv)
{
	Sweep *s = priv;
	Worker *w = s->w;
	if (!w->exiting && reply != NULL && reply->type == REDIS_REPLY_STATUS) {
		char limit[16];
		snprintf(limit, sizeof(limit), "%d", SWEEP_BATCHES);
		const char *vals[3] = { limit, w->open_after_at, w->open_after_id };
		query(s, sql_open, vals, 3, NULL, on_open);
		retention(s);
	}
	sweep_unref(s); /* nil: another worker sweeps this interval */
}

void sweeper_run(Worker *w)
{
	char lock[KEYS_MAX], ms[16];
	Sweep *s;
	if (w->stopping || w->cfg.noop_executor ||
	    keys_janitor_sweep_lock(lock, sizeof(lock), w->prefix) == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return;
	s->w = w;
	s->pending = 1;
	snprintf(ms, sizeof(ms), "%d", w->cfg.lease_ms);
	const char *argv[6] = { "SET", lock, w->id, "NX", "PX", ms };
	if (!rconn_command(w->redis, on_lock, s, 6, argv, NULL))
		free(s);
}
