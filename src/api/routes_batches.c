/* routes_batches.c - GET /workflows/batch/list (PostgreSQL, filtered and paged) and
 * POST /workflows/batch/{b}/cancel (cancel_batch script, then the archive rows). Status and
 * results live in routes_status.c and routes_results.c. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "pgq.h"
#include "policy.h"
#include "states.h"

#define LIST_WHERE \
	" WHERE ($2::boolean OR b.user_id = $1::uuid)" \
	"   AND ($3::uuid IS NULL OR b.workflow_id = $3::uuid)" \
	"   AND ($4::text IS NULL OR b.status = $4::text)"

static const char sql_list[] =
	"SELECT b.id, b.batch_id, b.workflow_id, b.name, b.description, b.status,"
	"       b.total_instances, b.completed_instances, b.failed_instances,"
	"       " PGQ_ISO(
		"b.started_at") " AS started_at,"
				"       " PGQ_ISO(
					"b.completed_at") " AS completed_at,"
							  "       " PGQ_ISO(
								  "b.created_at") " AS created_at,"
										  "       json_build_object('name', w.name, 'description', w.description) AS workflows,"
										  "       (SELECT p.batch_id FROM batch_executions p WHERE p.id = b.parent_batch_id)"
										  "         AS parent_batch_id,"
										  "       (SELECT coalesce(json_agg(c.batch_id ORDER BY c.created_at, c.id), '[]')"
										  "          FROM batch_executions c WHERE c.parent_batch_id = b.id) AS retries,"
										  "       b.schedule_id, " PGQ_ISO(
											  "b.scheduled_for") " AS scheduled_for,"
													     "       " POLICY_SQL_JSON(
														     "b") " AS on_failure, b.status_reason"
															  "  FROM batch_executions b JOIN workflows w ON w.id = b.workflow_id" LIST_WHERE
															  " ORDER BY b.created_at DESC, b.id LIMIT $5::integer OFFSET $6::integer";
static const char sql_count[] = "SELECT count(*) FROM batch_executions b" LIST_WHERE;

/* r->ctx of a list: its cache key (who asks, and every parameter) and the stamp */
typedef struct ListGet {
	char key[160];
	RcStamp st;
} ListGet;

static void list_done(Pgq *q, void *priv)
{
	Req *r = priv;
	ListGet *g = r->ctx;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if ((rows = pgq_rows_json(q->res[0], "ssssssiiisssjsjssjs")) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success_cache(
			r,
			json_pack("{s:o, s:I}", "batch_executions", rows, "total",
				  (json_int_t)strtoll(PQgetvalue(q->res[1], 0, 0), NULL, 10)),
			g->key, "", &g->st);
	pgq_free(q);
}

void routes_batches_list(Req *r)
{
	const char *wf = req_query(r, "workflow_id");
	const char *status = req_query(r, "status");
	long limit, offset;
	char slimit[24], soffset[24];
	enum BatchState known;
	ListGet *g;
	Pgq *q;

	if (wf != NULL && *wf == '\0')
		wf = NULL;
	if (status != NULL && *status == '\0')
		status = NULL;
	if (wf != NULL && !ids_is_uuid(wf)) {
		req_fail(r, 400, "invalid_parameter", "workflow_id", "workflow_id must be a UUID");
		return;
	}
	if (status != NULL && !batch_state_parse(status, &known)) {
		req_fail(
			r, 400, "invalid_parameter", "status",
			"status must be one of pending, running, completed, partial, failed, cancelled");
		return;
	}
	if (!req_query_int(r, "limit", 20, 1, 100, &limit) ||
	    !req_query_int(r, "offset", 0, 0, 1000000000L, &offset))
		return;
	snprintf(slimit, sizeof(slimit), "%ld", limit);
	snprintf(soffset, sizeof(soffset), "%ld", offset);
	if ((g = req_ctx_new(r, sizeof(*g))) == NULL)
		return;
	/* the parameters were checked above: a UUID, a known status, two numbers */
	snprintf(g->key, sizeof(g->key), "l:%s|%s|%s|%s|%s", r->is_admin ? "*" : r->user_id,
		 wf != NULL ? wf : "", status != NULL ? status : "", slimit, soffset);
	if (req_try_cached(r, g->key))
		return;
	g->st = readcache_stamp(r->api->reads, r->is_admin ? RC_ANY : RC_USER, r->user_id);
	{
		const char *params[] = { r->user_id, r->is_admin ? "true" : "false",
					 wf,         status,
					 slimit,     soffset };

		q = pgq_new();
		if (q == NULL || !pgq_add(q, sql_list, 6, params) ||
		    !pgq_add(q, sql_count, 4, params) || !pgq_run(r->api->pg, q, list_done, r)) {
			pgq_free(q);
			req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		}
	}
}

/* ---- cancel ---- */

typedef struct Cancel {
	char batch_id[IDS_BATCH_LEN + 1];
	bool from_pg; /* Redis did not have the batch when the cancel began */
} Cancel;

static const char sql_pg_state[] = "SELECT status FROM batch_executions"
				   " WHERE batch_id = $1 AND ($3::boolean OR user_id = $2::uuid)";
static const char sql_cancel_rows[] =
	"UPDATE workflow_executions e SET status = 'cancelled', completed_at = now(),"
	"       updated_at = now()"
	"  FROM batch_executions b"
	" WHERE b.id = e.batch_execution_id AND b.batch_id = $1"
	"   AND e.status NOT IN ('completed', 'failed', 'cancelled')";

bool routes_batches_is_terminal(const char *status)
{
	return batch_state_name_is_final(status);
}

static void cancel_reply(Req *r, json_t *status, const char *owner, const char *ver)
{
	(void)ver;
	(void)owner; /* checked by routes_status_load already */
	req_success(r, 200,
		    json_pack("{s:s, s:o}", "message", "Batch execution cancelled successfully",
			      "batch_status", status));
}

static void after_late_redis(RConn *rc, redisReply *reply, void *priv)
{
	Req *r = priv;
	Cancel *c = r->ctx;

	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
		log_info("batch %s reached Redis while it was cancelled in PostgreSQL: cancelled "
			 "there too",
			 c->batch_id);
	routes_status_load(r, c->batch_id, cancel_reply);
}

/* A batch cancelled through PostgreSQL may have been enqueued meanwhile (the submit's or the
 * janitor's enqueue_batch ran between the look into Redis and the UPDATE): cancel_batch in
 * Redis too (-1 or -3 then are the expected answers). true when the call is out. */
static bool cancel_in_redis_too(Req *r)
{
	Cancel *c = r->ctx;
	LuaCall call;

	return r->api->redis != NULL &&
	       lua_cancel_batch(&call, r->api->cfg.redis_prefix, c->batch_id, mstime_wall()) &&
	       rconn_call(r->api->redis, &call, after_late_redis, r);
}

static void rows_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Cancel *c = r->ctx;

	if (!q->ok && c->from_pg) {
		/* nothing holds the cancellation: the user is told, and may ask again */
		pgq_fail(r, q);
		pgq_free(q);
		return;
	}
	/* Redis already holds the cancellation (the live truth); a failed archive update is
	 * logged, and the worker's own archive writes still see the cancelled state */
	if (!q->ok)
		log_error("batch %s cancelled in Redis but the archive update failed: %s",
			  c->batch_id, q->err);
	else
		log_info("batch %s cancelled by user %s (%d archive rows)", c->batch_id, r->user_id,
			 atoi(PQcmdTuples(q->res[0])));
	pgq_free(q);
	if (c->from_pg && cancel_in_redis_too(r))
		return;
	routes_status_load(r, c->batch_id, cancel_reply);
}

static void cancel_rows(Req *r)
{
	Cancel *c = r->ctx;
	Pgq *q = pgq_new();

	if (q == NULL || !pgq_add(q, sql_cancel_rows, 1, (const char *[]){ c->batch_id }) ||
	    !pgq_run(r->api->pg, q, rows_done, r)) {
		pgq_free(q);
		log_error("batch %s: archive update not queued", c->batch_id);
		routes_status_load(r, c->batch_id, cancel_reply);
	}
}

/* The batch is not in Redis (expired, or lost): PostgreSQL decides. */
static void pg_state_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Cancel *c = r->ctx;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) != 1)
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", c->batch_id);
	else if (routes_batches_is_terminal(PQgetvalue(q->res[0], 0, 0)))
		req_fail(r, 409, "batch_finished", NULL, "batch %s is already %s", c->batch_id,
			 PQgetvalue(q->res[0], 0, 0));
	else {
		c->from_pg = true;
		cancel_rows(r);
	}
	pgq_free(q);
}

static void cancel_from_pg(Req *r)
{
	Cancel *c = r->ctx;
	Pgq *q = pgq_new();

	if (q == NULL ||
	    !pgq_add(q, sql_pg_state, 3,
		     (const char *[]){ c->batch_id, r->user_id, r->is_admin ? "true" : "false" }) ||
	    !pgq_run(r->api->pg, q, pg_state_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

static void on_cancel(RConn *rc, redisReply *reply, void *priv)
{
	Req *r = priv;
	Cancel *c = r->ctx;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		log_error("cancel_batch %s failed: %s", c->batch_id,
			  reply == NULL ? "connection lost" : reply->str);
		req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable");
	} else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == LUA_ERR_NOT_FOUND) {
		cancel_from_pg(r); /* vanished between the owner check and the script */
	} else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == LUA_ERR_WRONG_STATE) {
		req_fail(r, 409, "batch_finished", NULL, "batch %s has already finished",
			 c->batch_id);
	} else if (reply->type == REDIS_REPLY_ARRAY) {
		cancel_rows(r);
	} else {
		req_fail(r, 500, "internal", NULL, "unexpected cancel_batch reply");
	}
}

static void on_owner(RConn *rc, redisReply *reply, void *priv)
{
	Req *r = priv;
	Cancel *c = r->ctx;
	LuaCall call;
	const redisReply *owner, *status;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
		req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable");
		return;
	}
	owner = reply->element[0];
	status = reply->element[1];
	if (owner->type != REDIS_REPLY_STRING) {
		cancel_from_pg(r);
		return;
	}
	if (!r->is_admin && strcmp(owner->str, r->user_id) != 0) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", c->batch_id);
		return;
	}
	if (status->type == REDIS_REPLY_STRING && routes_batches_is_terminal(status->str)) {
		req_fail(r, 409, "batch_finished", NULL, "batch %s is already %s", c->batch_id,
			 status->str);
		return;
	}
	if (r->api->redis == NULL ||
	    !lua_cancel_batch(&call, r->api->cfg.redis_prefix, c->batch_id, mstime_wall()) ||
	    !rconn_call(r->api->redis, &call, on_cancel, r))
		req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable");
}

void routes_batches_cancel(Req *r)
{
	Cancel *c;
	char key[KEYS_MAX];

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if ((c = req_ctx_new(r, sizeof(*c))) == NULL)
		return;
	snprintf(c->batch_id, sizeof(c->batch_id), "%s", r->segs[2]);
	/* cancelling needs Redis: a PostgreSQL-only cancel would leave queued jobs running */
	if (!api_redis_ready(r->api) ||
	    keys_batch(key, sizeof(key), r->api->cfg.redis_prefix, c->batch_id) == NULL ||
	    !rconn_command(r->api->redis, on_owner, r, 4,
			   (const char *[]){ "HMGET", key, "user_id", "status" }, NULL))
		req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable");
}
