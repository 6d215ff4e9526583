/* routes_execute.c - POST /workflows/{id}/batch-execute, and the pipeline every new batch
 * goes through once decided (submit.h: also POST .../retry-failed): validate everything first (body,
 * workflow, instances, grants, placeholders, dates: validate.c), honour Idempotency-Key, take
 * a rate-limit slot, then one PostgreSQL transaction (amcbatch_insert_batch: final ids, the
 * resolved windows, the workflow SQL), then the enqueue_batch script (enqueue.c). Once the
 * transaction committed the batch is accepted: it is never deleted, and when Redis cannot
 * take it now it is answered 201 pending and the enqueue janitor hands it over later. */
#include "routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "enqueue.h"
#include "keys.h"
#include "log.h"
#include "params.h"
#include "pgq.h"
#include "submit.h"
#include "validate.h"

const char submit_sql_workflow[] =
	"SELECT w.sql_query, w.parameters::text, w.name, w.parameter_types::text,"
	"       CASE WHEN w.archived_at IS NOT NULL THEN 'archived'"
	"            WHEN $3::boolean OR w.user_id = $2::uuid OR s.permission = 'run' THEN NULL"
	"            ELSE 'read_only' END"
	"  FROM workflows w LEFT JOIN workflow_shares s ON s.workflow_id = w.id AND s.user_id = $2::uuid"
	" WHERE w.id = $1::uuid AND ($3::boolean OR w.user_id = $2::uuid OR s.user_id IS NOT NULL)";

bool submit_workflow_runnable(Req *r, const PGresult *wf)
{
	const char *why = PQgetisnull(wf, 0, 4) ? NULL : PQgetvalue(wf, 0, 4);

	if (why == NULL)
		return true;
	if (strcmp(why, "archived") == 0)
		req_fail(r, 409, "workflow_archived", NULL,
			 "workflow %s was deleted (archived): it no longer runs",
			 PQgetvalue(wf, 0, 2));
	else
		req_fail(r, 403, "workflow_read_only", NULL,
			 "workflow %s is shared with you to read, not to run",
			 PQgetvalue(wf, 0, 2));
	return false;
}

bool submit_types_valid(const ExecRequest *in, const char *types_text, const json_t *merged,
			ValidateErr *e)
{
	json_t *types = types_text != NULL ? json_loads(types_text, 0, NULL) : NULL;
	bool ok = validate_exec_types(in, merged, types, e);

	json_decref(types);
	return ok;
}

bool submit_check_types(Req *r, const ExecRequest *in, const PGresult *wf, const json_t *merged)
{
	ValidateErr e;
	bool ok = submit_types_valid(in, PQgetvalue(wf, 0, 3), merged, &e);

	if (!ok)
		req_fail_err(r, &e);
	return ok;
}
const char submit_sql_instances[] =
	"SELECT i.id, i.instance_id, i.instance_name, i.region, i.timezone, a.id,"
	"       a.advertiser_id, a.marketplace_id,"
	"       (i.disabled_at IS NULL AND ($3::boolean OR EXISTS (SELECT 1 FROM instance_access g"
	"          WHERE g.instance_id = i.id AND g.user_id = $2::uuid)))" /* sql/014 */
	"  FROM instances i JOIN amc_accounts a ON a.id = i.account_id"
	" WHERE i.id = ANY($1::uuid[])";
const char submit_sql_idem_get[] = "SELECT request_hash, response::text FROM idempotency_keys"
				   " WHERE user_id = $1::uuid AND key = $2 AND expires_at > now()";
/* sql/005: inserts the batch and its executions, drawing new ids for taken candidates; on a
 * re-run after a lost COMMIT answer it finds the batch (by its UUID) and changes nothing */
static const char sql_insert[] =
	"SELECT batch_id, created FROM amcbatch_insert_batch($1::uuid, $2, $3::uuid, $4::uuid, $5,"
	"  $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11::jsonb)";
/* The 201 body of batch `id` from its stored rows (the final ids, instance order): the first
 * answer and the one stored for Idempotency-Key replays are the same text. */
#define SQL_CREATED_BODY(id) \
	"(SELECT json_build_object('success', true, 'batch', json_build_object(" \
	"   'batch_id', b.batch_id, 'batch_execution_id', b.id, 'workflow_id', b.workflow_id," \
	"   'name', b.name, 'description', b.description, 'total_instances', b.total_instances," \
	"   'status', 'pending', 'window', b.time_window, 'on_failure', " POLICY_SQL_JSON( \
		"b") "," \
		     "   'parent_batch_id', (SELECT p.batch_id FROM batch_executions p WHERE p.id = b.parent_batch_id)," \
		     "   'executions', (SELECT json_agg(json_build_object('id', e.id," \
		     "     'instance_id', e.target_instance_id, 'execution_id', e.execution_id," \
		     "     'status', 'queued', 'time_window', CASE WHEN e.time_window_start IS NOT NULL" \
		     "       THEN json_build_object('start', e.time_window_start, 'end', e.time_window_end," \
		     "         'timezone', coalesce(e.time_window_timezone, 'UTC')) END) ORDER BY x.ord)" \
		     "     FROM jsonb_array_elements_text(b.instance_ids) WITH ORDINALITY AS x(v, ord)" \
		     "     JOIN workflow_executions e ON e.batch_execution_id = b.id" \
		     "      AND e.target_instance_id = x.v::uuid)))" \
		     "  FROM batch_executions b WHERE b.id = " id ")"
const char submit_sql_created_body[] = "SELECT " SQL_CREATED_BODY("$1::uuid") "::text";
/* the relative window asked for (sql/006), the batch retried (sql/007), the schedule slot
 * (sql/008: its unique index refuses a second batch for one slot) and the failure policy
 * (sql/010), run only by a batch with one of them; a re-run after a lost COMMIT answer
 * writes the same values again */
static const char sql_links[] =
	"UPDATE batch_executions SET time_window = $2::jsonb, parent_batch_id = $3::uuid,"
	"       schedule_id = $4::uuid, scheduled_for = $5::timestamptz,"
	"       on_failure = $6, min_success_ratio = $7::numeric" /* sql/010 */
	" WHERE id = $1::uuid";
const char submit_sql_payload[] = ENQUEUE_SQL_PAYLOAD("b.id = $1::uuid");
/* expired keys of this user go first, so a reused key after expiry is a fresh request */
static const char sql_idem_prune[] =
	"DELETE FROM idempotency_keys WHERE user_id = $1::uuid AND expires_at <= now()";
/* (a re-run after a lost COMMIT answer finds its own row and adds none) */
static const char sql_idem_put[] =
	"INSERT INTO idempotency_keys (user_id, key, request_hash, batch_execution_id, response)"
	" SELECT $1::uuid, $2, $3, $4::uuid, " SQL_CREATED_BODY(
		"$4::uuid") "::jsonb"
			    "  WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.user_id = $1::uuid"
			    "                     AND k.key = $2 AND k.batch_execution_id = $4::uuid)";

/* The per-user submission window (lua/rate_submit.lua) in ms. */
#define RATE_WINDOW_MS 60000

void submit_free(void *p)
{
	Execute *x = p;

	validate_exec_clear(&x->in);
	json_decref(x->merged);
	free(x->windows);
	free(x->response);
	free(x->sql_query);
	free(x->own_name);
	free(x->own_description);
	free(x);
}

Execute *submit_new(Req *r)
{
	Execute *x = req_ctx_new(r, sizeof(*x));

	if (x != NULL)
		r->ctx_free = submit_free; /* its parts too */
	return x;
}

bool submit_redis_ready(Req *r)
{
	if (api_redis_ready(r->api))
		return true;
	req_fail(r, 503, "queue_unavailable", NULL,
		 "Redis is unavailable; the batch was not started");
	return false;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static json_t *sget(const PGresult *res, int row, int col)
{
	const char *v = pgq_val(res, row, col);

	return json_string(v != NULL ? v : "");
}

/* ---- idempotency ---- */

/* A stored (user, key) row: the same request gets the first response again (201, with
 * Idempotent-Replayed: true); another body under the same key is a 409. */
void submit_idem_answer(Req *r, const PGresult *res)
{
	Execute *x = r->ctx;
	json_t *body;

	if (strcmp(PQgetvalue(res, 0, 0), x->req_hash) != 0) {
		req_fail(r, 409, "idempotency_key_reused", "Idempotency-Key",
			 "Idempotency-Key %s was used for a different request", x->idem_key);
		return;
	}
	if ((body = json_loads(PQgetvalue(res, 0, 1), 0, NULL)) == NULL) {
		req_fail(r, 500, "internal", NULL, "stored response unreadable");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Idempotent-Replayed", "true");
	req_reply(r, 201, body);
}

bool submit_load_ok(Req *r, Pgq *q, int idem)
{
	const Execute *x = r->ctx;

	if (!q->ok) {
		pgq_fail(r, q);
		return false;
	}
	if (x->idem_key[0] != '\0' && PQntuples(q->res[idem]) == 1) {
		submit_idem_answer(r, q->res[idem]);
		return false;
	}
	return true;
}

static void idem_again_done(Pgq *q, void *priv)
{
	Req *r = priv;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) == 1)
		submit_idem_answer(r, q->res[0]);
	else /* the concurrent twin failed after all: the client may retry */
		req_fail(r, 409, "idempotency_key_in_use", "Idempotency-Key",
			 "a request with Idempotency-Key %s was in progress; retry",
			 ((Execute *)r->ctx)->idem_key);
	pgq_free(q);
}

/* The insert hit the key of a concurrent twin request: answer with the twin's result. */
static void idem_again(Req *r)
{
	Execute *x = r->ctx;
	Pgq *q = pgq_new();

	if (q == NULL ||
	    !pgq_add(q, submit_sql_idem_get, 2, (const char *[]){ r->user_id, x->idem_key }) ||
	    !pgq_run(r->api->pg, q, idem_again_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

bool submit_idem_prepare(Req *r, Execute *x, const char *scope)
{
	const char *key =
		evhttp_find_header(evhttp_request_get_input_headers(r->req), "Idempotency-Key");
	char *canon, *text;
	size_t len;
	bool ok;

	if (key == NULL)
		return true;
	len = strlen(key);
	for (size_t i = 0; i < len; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			len = 0; /* printable ASCII only: it is echoed and stored */
	if (len == 0 || len > IDEM_KEY_MAX) {
		req_fail(r, 400, "invalid_idempotency_key", "Idempotency-Key",
			 "Idempotency-Key must be 1 to %d printable ASCII characters",
			 IDEM_KEY_MAX);
		return false;
	}
	memcpy(x->idem_key, key, len + 1);
	canon = json_dumps(r->body, JSON_COMPACT | JSON_SORT_KEYS);
	text = canon != NULL ? malloc(strlen(canon) + strlen(scope) + 2) : NULL;
	if (text != NULL)
		sprintf(text, "%s\n%s", scope, canon);
	ok = text != NULL && auth_hash(text, x->req_hash);
	free(canon);
	free(text);
	if (!ok)
		req_fail(r, 500, "internal", NULL, "could not hash the request");
	return ok;
}

/* ---- store, then enqueue ---- */

static void reply_created(Req *r)
{
	Execute *x = r->ctx;
	char *text = x->response;

	x->response = NULL; /* the reply owns it now */
	req_reply_text(r, 201, text, x->response_len);
}

/* PostgreSQL's JSON text without the whitespace between tokens (json_agg puts ", \n "
 * between elements), plus the final newline of every reply: the compact text jansson would
 * print, without parsing and printing 25 KB again on the loop (0.7 ms for 100 instances).
 * NULL on OOM or when the text is not one object. */
static char *compact_json(const char *s, size_t *len)
{
	char *out = malloc(strlen(s) + 2), *o = out;
	bool in_str = false, esc = false;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (in_str) {
			if (esc)
				esc = false;
			else if (*s == '\\')
				esc = true;
			else if (*s == '"')
				in_str = false;
		} else if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') {
			continue;
		} else if (*s == '"') {
			in_str = true;
		}
		*o++ = *s;
	}
	if (o == out || out[0] != '{' || o[-1] != '}' || in_str) {
		free(out);
		return NULL;
	}
	*o++ = '\n';
	*len = (size_t)(o - out);
	return out;
}

static void enqueued(EnqueueOutcome outcome, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;

	if (outcome == ENQUEUE_DONE)
		log_info("batch %s enqueued: workflow %s, %zu instances, user %s", x->batch_id,
			 x->workflow_id, x->total, r->user_id);
	else /* stored means accepted: the janitor enqueues it (enqueue.c logged why) */
		log_warn("batch %s stored, not enqueued (%s): left pending to the enqueue janitor",
			 x->batch_id,
			 outcome == ENQUEUE_UNREACHABLE ? "Redis unreachable" : "refused");
	reply_created(r);
}

/* Whether the store job runs sql_links. */
static bool links(const Execute *x)
{
	return x->in.has_window || x->parent_uuid[0] != '\0' || x->schedule_uuid[0] != '\0' ||
	       x->in.on_failure != POLICY_CONTINUE;
}

/* Statement indexes of the store job: the insert first, then the optional links and
 * Idempotency-Key statements, then the 201 body and the enqueue arguments. */
enum { ST_INSERT };

static void insert_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;
	int body = ST_INSERT + 1 + (links(x) ? 1 : 0) + (x->idem_key[0] != '\0' ? 2 : 0);

	if (!q->ok && x->idem_key[0] != '\0' && strcmp(q->sqlstate, "23505") == 0 &&
	    strstr(q->err, "idempotency_keys") != NULL) {
		idem_again(r);
	} else if (!q->ok) {
		log_error("batch insert failed: %s", q->err);
		pgq_fail(r, q);
	} else if (PQntuples(q->res[ST_INSERT]) != 1 || PQntuples(q->res[body]) != 1 ||
		   PQntuples(q->res[body + 1]) != 1 ||
		   (x->response = compact_json(PQgetvalue(q->res[body], 0, 0), &x->response_len)) ==
			   NULL) {
		log_error("batch %s stored, its 201 body unreadable", x->batch_uuid);
		req_fail(r, 500, "internal", NULL, "stored batch unreadable");
	} else {
		snprintf(x->batch_id, sizeof(x->batch_id), "%s",
			 PQgetvalue(q->res[ST_INSERT], 0, 0));
		if (PQgetvalue(q->res[ST_INSERT], 0, 1)[0] != 't')
			log_warn(
				"batch %s: the store was re-run after a lost COMMIT answer; it had "
				"committed",
				x->batch_id);
		/* committed: from here on the answer is 201, whatever Redis does */
		if (!enqueue_start(r->api, q->res[body + 1], 0, ENQUEUE_BUDGET_MS, enqueued, r))
			enqueued(ENQUEUE_UNREACHABLE, r);
	}
	pgq_free(q);
}

/* One candidate execution as amcbatch_insert_batch takes it. */
static json_t *exec_row(const Execute *x, const PGresult *inst, size_t i)
{
	const char *uuid = json_string_value(json_array_get(x->in.instance_ids, i));
	char exec_id[IDS_EXEC_LEN + 1], exec_uuid[IDS_UUID_LEN + 1];
	char *ptext;
	json_t *e;
	int row = -1;

	for (int k = 0; k < PQntuples(inst); k++)
		if (strcmp(PQgetvalue(inst, k, 0), uuid) == 0)
			row = k;
	/* validate_exec_instances saw every id, so row >= 0 */
	if (row < 0 || !ids_exec(exec_id) || !ids_uuid(exec_uuid) ||
	    (ptext = json_dumps(json_array_get(x->merged, i), JSON_COMPACT)) == NULL)
		return NULL;
	e = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o}", "id", exec_uuid, "exec_id",
		      exec_id, "instance_uuid", uuid, "amc_instance_id", sget(inst, row, 1),
		      "parameters", ptext, "window_start", x->windows[i].start, "window_end",
		      x->windows[i].end, "timezone", sget(inst, row, 4));
	free(ptext);
	return e;
}

int submit_add_store(Pgq *q, Execute *x, const char *user_id, const PGresult *inst)
{
	json_t *rows = json_array(), *e, *win = NULL;
	char *s_ids = NULL, *s_params = NULL, *s_over = NULL, *s_rows = NULL, *s_win = NULL;
	int added = -1;

	x->total = json_array_size(x->in.instance_ids);
	for (size_t i = 0; rows != NULL && i < x->total; i++)
		if ((e = exec_row(x, inst, i)) == NULL || json_array_append_new(rows, e) != 0)
			goto out;
	/* a caller that names the batch in statements before these drew its UUID already */
	if (!ids_batch(x->batch_id) || (x->batch_uuid[0] == '\0' && !ids_uuid(x->batch_uuid)))
		goto out;
	s_ids = json_dumps(x->in.instance_ids, JSON_COMPACT);
	s_params = json_dumps(x->in.params, JSON_COMPACT);
	s_over = json_dumps(x->in.overrides, JSON_COMPACT);
	s_rows = rows != NULL ? json_dumps(rows, JSON_COMPACT) : NULL;
	if (x->in.has_window && (win = window_json(&x->in.window)) != NULL)
		s_win = json_dumps(win, JSON_COMPACT);
	if (s_ids == NULL || s_params == NULL || s_over == NULL || s_rows == NULL ||
	    (x->in.has_window && s_win == NULL))
		goto out;
	if (!pgq_add_prepared(q, sql_insert, 11,
			      (const char *[]){ x->batch_uuid, x->batch_id, x->workflow_id, user_id,
						x->in.name, x->in.description, s_ids, s_params,
						s_over, x->sql_query, s_rows }))
		goto out;
	added = 1;
	if (links(x)) {
		if (!pgq_add(q, sql_links, 7,
			     (const char *[]){ x->batch_uuid, s_win,
					       x->parent_uuid[0] ? x->parent_uuid : NULL,
					       x->schedule_uuid[0] ? x->schedule_uuid : NULL,
					       x->schedule_uuid[0] ? x->scheduled_for : NULL,
					       policy_name[x->in.on_failure],
					       x->in.min_ratio[0] ? x->in.min_ratio : NULL }))
			added = -1;
		else
			added = 2;
	}
out:
	json_decref(rows);
	free(s_ids);
	free(s_params);
	free(s_over);
	free(s_rows);
	free(s_win);
	json_decref(win);
	return added;
}

/* Draws the candidate ids and runs the store transaction: insert, idempotency row, the 201
 * body and the enqueue_batch arguments, all read back from what was stored. */
static void store(Req *r, const PGresult *inst)
{
	Execute *x = r->ctx;
	Pgq *q = pgq_new();

	if (q == NULL || submit_add_store(q, x, r->user_id, inst) < 0)
		goto oom;
	if (x->idem_key[0] != '\0' &&
	    (!pgq_add(q, sql_idem_prune, 1, (const char *[]){ r->user_id }) ||
	     !pgq_add(q, sql_idem_put, 4,
		      (const char *[]){ r->user_id, x->idem_key, x->req_hash, x->batch_uuid })))
		goto oom;
	if (!pgq_add_prepared(q, submit_sql_created_body, 1, (const char *[]){ x->batch_uuid }) ||
	    !pgq_add_prepared(q, submit_sql_payload, 1, (const char *[]){ x->batch_uuid }))
		goto oom;
	q->pipeline = true; /* no statement depends on the client between them */
	if (!pgq_run(r->api->pg, q, insert_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
	return; /* the pool has q */
oom:
	/* ids_batch/ids_uuid/ids_exec fail only when the random source does */
	pgq_free(q);
	req_fail(r, 500, "internal", NULL, "out of memory or no random source");
}

/* ---- rate limit ---- */

typedef struct RateCtx {
	Req *r;
	PGresult *inst; /* the instance rows, owned until store() has used them */
} RateCtx;

static void rate_done(RConn *c, redisReply *reply, void *priv)
{
	RateCtx *rc = priv;
	Req *r = rc->r;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER) {
		log_error("rate limit script failed: %s",
			  reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str
									    : "no reply");
		req_fail(r, 503, "queue_unavailable", NULL,
			 "Redis is unavailable; the batch was not started");
	} else if (reply->element[0]->integer == 0) {
		char after[24];
		long long ms = reply->element[1]->integer;

		snprintf(after, sizeof(after), "%lld", ms > 0 ? (ms + 999) / 1000 : 1);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", after);
		req_fail(r, 429, "rate_limited", NULL,
			 "more than %d batch submissions per minute; retry in %s s",
			 r->api->cfg.submit_rate_per_min, after);
	} else {
		store(r, rc->inst);
	}
	PQclear(rc->inst);
	free(rc);
}

/* Takes a submission slot of the user, then stores; inst is stolen. */
void submit_rate_then_store(Req *r, PGresult *inst)
{
	const Config *cfg = &r->api->cfg;
	LuaCall call;
	RateCtx *rc;

	if (cfg->submit_rate_per_min <= 0) {
		store(r, inst);
		PQclear(inst);
		return;
	}
	/* r->user_id came from PostgreSQL (a UUID), never from the request */
	if (!ids_is_uuid(r->user_id) ||
	    !lua_rate_submit(&call, cfg->redis_prefix, r->user_id, cfg->submit_rate_per_min,
			     RATE_WINDOW_MS) ||
	    (rc = calloc(1, sizeof(*rc))) == NULL) {
		PQclear(inst);
		req_fail(r, 500, "internal", NULL, "rate limit key");
		return;
	}
	rc->r = r;
	rc->inst = inst;
	if (!api_redis_ready(r->api) || !rconn_call(r->api->redis, &call, rate_done, rc)) {
		PQclear(inst);
		free(rc);
		req_fail(r, 503, "queue_unavailable", NULL,
			 "Redis is unavailable; the batch was not started");
	}
}

/* ---- load ---- */

static void load_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;
	PGresult *inst;
	ValidateInstance *known = NULL;
	const char **zones = NULL; /* per instance (request order), into inst's rows */
	ValidateErr e;
	json_t *wf_params, *id;
	size_t i;
	int n;
	bool ok;

	if (!submit_load_ok(r, q, 2))
		goto out;
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow %s not found",
			 x->workflow_id);
		goto out;
	}
	if (!submit_workflow_runnable(r, q->res[0]))
		goto out;
	inst = q->res[1];
	n = PQntuples(inst);
	if ((known = calloc((size_t)n + 1, sizeof(*known))) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	for (int k = 0; k < n; k++) {
		known[k].uuid = PQgetvalue(inst, k, 0);
		known[k].granted = PQgetvalue(inst, k, 8)[0] == 't';
	}
	if (!validate_exec_instances(&x->in, known, (size_t)n, r->is_admin, &e)) {
		req_fail_err(r, &e);
		goto out;
	}
	if ((x->sql_query = strdup(PQgetvalue(q->res[0], 0, 0))) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	x->windows = calloc(json_array_size(x->in.instance_ids), sizeof(*x->windows));
	zones = calloc(json_array_size(x->in.instance_ids), sizeof(*zones));
	if (x->windows == NULL || zones == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	/* validate_exec_instances saw every id among the rows */
	json_array_foreach (x->in.instance_ids, i, id) {
		for (int k = 0; k < n; k++)
			if (strcmp(known[k].uuid, json_string_value(id)) == 0)
				zones[i] = PQgetvalue(inst, k, 4);
	}
	wf_params = json_loads(PQgetvalue(q->res[0], 0, 1), 0, NULL);
	/* the window is resolved here, once, in each instance's time zone, and stored with
	 * each execution: every later attempt of it (another day, another worker) queries the
	 * same days */
	ok = validate_exec_params(&x->in, x->sql_query, wf_params, zones, time(NULL), &x->merged,
				  x->windows, &e);
	json_decref(wf_params);
	if (!ok) {
		req_fail_err(r, &e);
		goto out;
	}
	if (!submit_check_types(r, &x->in, q->res[0], x->merged))
		goto out;
	q->res[1] = NULL; /* submit_rate_then_store owns the instance rows now */
	submit_rate_then_store(r, inst);
out:
	free(known);
	free(zones);
	pgq_free(q);
}

void routes_execute_post(Req *r)
{
	const ValidateLimits lim = {
		.max_body_bytes = (size_t)r->api->cfg.max_body_bytes,
		.max_instances = r->api->cfg.max_instances,
		.max_params_bytes = r->api->cfg.max_params_bytes,
		.window_lag_days = r->api->cfg.window_lag_days,
	};
	Execute *x;
	ValidateErr e;
	Pgq *q = NULL;
	char *arr = NULL;
	size_t len = 2, i;
	json_t *id;

	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	if ((x = submit_new(r)) == NULL)
		return;
	snprintf(x->workflow_id, sizeof(x->workflow_id), "%s", r->segs[1]);
	lower(x->workflow_id);
	if (!req_parse_body(r))
		return;
	if (!validate_exec_request(r->body, &lim, &x->in, &e)) {
		req_fail_err(r, &e);
		return;
	}
	if (!submit_idem_prepare(r, x, x->workflow_id))
		return;
	/* fail fast, before anything is stored (enqueue.c retries, the enqueue janitor takes
	 * over once it is) */
	if (!submit_redis_ready(r))
		return;
	/* PostgreSQL array literal of validated UUIDs: {a,b,c} (a parameter, not SQL text) */
	len += json_array_size(x->in.instance_ids) * (IDS_UUID_LEN + 1);
	if ((arr = malloc(len)) == NULL || (q = pgq_new()) == NULL)
		goto oom;
	arr[0] = '{';
	arr[1] = '\0';
	json_array_foreach (x->in.instance_ids, i, id) {
		if (i > 0)
			strcat(arr, ",");
		strcat(arr, json_string_value(id));
	}
	strcat(arr, "}");
	if (!pgq_add_prepared(q, submit_sql_workflow, 3,
			      (const char *[]){ x->workflow_id, r->user_id,
						r->is_admin ? "true" : "false" }) ||
	    !pgq_add_prepared(
		    q, submit_sql_instances, 3,
		    (const char *[]){ arr, r->user_id, r->is_admin ? "true" : "false" }) ||
	    (x->idem_key[0] != '\0' &&
	     !pgq_add(q, submit_sql_idem_get, 2, (const char *[]){ r->user_id, x->idem_key })))
		goto oom;
	free(arr);
	q->pipeline = true;
	if (!pgq_run(r->api->pg, q, load_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
	return;
oom:
	free(arr);
	pgq_free(q);
	req_fail(r, 500, "internal", NULL, "out of memory");
}
