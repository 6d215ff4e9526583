/* routes_execute.c - POST /workflows/{id}/batch-execute: validate everything first (body,
 * workflow, instances, grants, placeholders, dates: validate.c), honour Idempotency-Key, take
 * a rate-limit slot, then one PostgreSQL transaction, then the enqueue_batch script. A failed
 * enqueue deletes the PostgreSQL batch: nothing half-started. */
#include "routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "auth.h"
#include "keys.h"
#include "log.h"
#include "params.h"
#include "pgq.h"
#include "validate.h"

#define IDEM_KEY_MAX 200

/* Route state, owned by the Req (r->ctx). */
typedef struct Execute {
	char workflow_id[IDS_UUID_LEN + 1];
	char batch_id[IDS_BATCH_LEN + 1];
	char batch_uuid[IDS_UUID_LEN + 1];
	ExecRequest in;		/* the validated body */
	char idem_key[IDEM_KEY_MAX + 1];	/* "" = no Idempotency-Key */
	char req_hash[AUTH_HASH_LEN + 1];	/* of workflow id + canonical body */
	char *sql_query;	/* the workflow's SQL */
	json_t *merged;		/* merged parameters per instance, instance order */
	json_t *execs;		/* exec objects for enqueue_batch, instance order */
	json_t *response;	/* the 201 body, built before the insert (stored for replays) */
	long long now_ms;
} Execute;

static const char sql_workflow[] =
	"SELECT sql_query, parameters::text, name FROM workflows"
	" WHERE id = $1::uuid AND ($3::boolean OR user_id = $2::uuid)";
static const char sql_instances[] =
	"SELECT i.id, i.instance_id, i.instance_name, i.region, i.timezone, a.id,"
	"       a.advertiser_id, a.marketplace_id,"
	"       ($3::boolean OR EXISTS (SELECT 1 FROM instance_access g"
	"          WHERE g.instance_id = i.id AND g.user_id = $2::uuid))"
	"  FROM instances i JOIN amc_accounts a ON a.id = i.account_id"
	" WHERE i.id = ANY($1::uuid[])";
static const char sql_idem_get[] =
	"SELECT request_hash, response::text FROM idempotency_keys"
	" WHERE user_id = $1::uuid AND key = $2 AND expires_at > now()";
static const char sql_insert_batch[] =
	"INSERT INTO batch_executions (id, batch_id, workflow_id, name, description, instance_ids,"
	"  base_parameters, instance_parameters, status, total_instances, user_id)"
	" VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, 'pending',"
	"  $9::integer, $10::uuid)";
static const char sql_insert_execs[] =
	"INSERT INTO workflow_executions (id, execution_id, workflow_id, user_id, instance_id,"
	"  status, parameters, batch_execution_id, target_instance_id, is_batch_member)"
	" SELECT e.id, e.exec_id, $1::uuid, $2::uuid, e.amc_instance_id, 'pending',"
	"  e.parameters::jsonb, $3::uuid, e.instance_uuid, true"
	"  FROM jsonb_to_recordset($4::jsonb) AS e(id uuid, exec_id text, amc_instance_id text,"
	"       parameters text, instance_uuid uuid)";
/* expired keys of this user go first, so a reused key after expiry is a fresh request */
static const char sql_idem_prune[] =
	"DELETE FROM idempotency_keys WHERE user_id = $1::uuid AND expires_at <= now()";
static const char sql_idem_put[] =
	"INSERT INTO idempotency_keys (user_id, key, request_hash, batch_execution_id, response)"
	" VALUES ($1::uuid, $2, $3, $4::uuid, $5::jsonb)";
static const char sql_delete_batch[] = "DELETE FROM batch_executions WHERE id = $1::uuid";

/* The per-user submission window (lua/rate_submit.lua) in ms. */
#define RATE_WINDOW_MS "60000"

static void execute_free(void *p)
{
	Execute *x = p;

	validate_exec_clear(&x->in);
	json_decref(x->merged);
	json_decref(x->execs);
	json_decref(x->response);
	free(x->sql_query);
	free(x);
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
static void idem_answer(Req *r, const PGresult *res)
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

static void idem_again_done(Pgq *q, void *priv)
{
	Req *r = priv;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) == 1)
		idem_answer(r, q->res[0]);
	else	/* the concurrent twin failed after all: the client may retry */
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
	    !pgq_add(q, sql_idem_get, 2, (const char *[]){ r->user_id, x->idem_key }) ||
	    !pgq_run(r->api->pg, q, idem_again_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

/* Reads the Idempotency-Key header into x and hashes the request; false after replying. */
static bool idem_prepare(Req *r, Execute *x)
{
	const char *key = evhttp_find_header(evhttp_request_get_input_headers(r->req),
					     "Idempotency-Key");
	char *canon, *text;
	size_t len;
	bool ok;

	if (key == NULL)
		return true;
	len = strlen(key);
	for (size_t i = 0; i < len; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			len = 0;	/* printable ASCII only: it is echoed and stored */
	if (len == 0 || len > IDEM_KEY_MAX) {
		req_fail(r, 400, "invalid_idempotency_key", "Idempotency-Key",
			 "Idempotency-Key must be 1 to %d printable ASCII characters", IDEM_KEY_MAX);
		return false;
	}
	memcpy(x->idem_key, key, len + 1);
	canon = json_dumps(r->body, JSON_COMPACT | JSON_SORT_KEYS);
	text = canon != NULL ? malloc(strlen(canon) + IDS_UUID_LEN + 2) : NULL;
	if (text != NULL)
		sprintf(text, "%s\n%s", x->workflow_id, canon);
	ok = text != NULL && auth_hash(text, x->req_hash);
	free(canon);
	free(text);
	if (!ok)
		req_fail(r, 500, "internal", NULL, "could not hash the request");
	return ok;
}

/* ---- store ---- */

static void enqueue(Req *r);

static void insert_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;

	if (!q->ok && x->idem_key[0] != '\0' && strcmp(q->sqlstate, "23505") == 0 &&
	    strstr(q->err, "idempotency_keys") != NULL) {
		idem_again(r);
	} else if (!q->ok) {
		log_error("batch insert failed: %s", q->err);
		pgq_fail(r, q);
	} else {
		enqueue(r);
	}
	pgq_free(q);
}

/* The 201 body, exactly as replays will see it. */
static json_t *build_response(Req *r)
{
	Execute *x = r->ctx;
	json_t *execs = json_array(), *e, *body;
	size_t i;

	if (execs == NULL)
		return NULL;
	json_array_foreach(x->execs, i, e)
		if (json_array_append_new(execs, json_pack("{s:O, s:O, s:O, s:s}",
				"id", json_object_get(e, "id"),
				"instance_id", json_object_get(e, "instance_uuid"),
				"execution_id", json_object_get(e, "exec_id"),
				"status", "queued")) != 0) {
			json_decref(execs);
			return NULL;
		}
	body = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I, s:s, s:o}",
			 "batch_id", x->batch_id, "batch_execution_id", x->batch_uuid,
			 "workflow_id", x->workflow_id, "name", x->in.name,
			 "description", x->in.description,
			 "total_instances", (json_int_t)json_array_size(x->execs),
			 "status", "pending", "executions", execs);
	return body != NULL ? json_pack("{s:b, s:o}", "success", 1, "batch", body) : NULL;
}

/* Builds the exec records and runs the insert transaction. */
static void store(Req *r, const PGresult *inst)
{
	Execute *x = r->ctx;
	json_t *rows = NULL, *id;
	char total[16];
	char *s_ids = NULL, *s_params = NULL, *s_over = NULL, *s_rows = NULL, *s_resp = NULL;
	size_t i;
	Pgq *q = NULL;
	struct timeval tv;

	if ((x->execs = json_array()) == NULL || (rows = json_array()) == NULL)
		goto oom;
	json_array_foreach(x->in.instance_ids, i, id) {
		const char *uuid = json_string_value(id);
		json_t *e, *rec;
		char exec_id[IDS_EXEC_LEN + 1], exec_uuid[IDS_UUID_LEN + 1];
		char *ptext;
		int row = -1;

		for (int k = 0; k < PQntuples(inst); k++)
			if (strcmp(PQgetvalue(inst, k, 0), uuid) == 0)
				row = k;
		if (row < 0) {	/* validate_exec_instances saw every id: cannot happen */
			req_fail(r, 500, "internal", NULL, "instance %s vanished", uuid);
			goto out;
		}
		if (!ids_exec(exec_id) || !ids_uuid(exec_uuid)) {
			req_fail(r, 500, "internal", NULL, "random source failed");
			goto out;
		}
		if ((ptext = json_dumps(json_array_get(x->merged, i), JSON_COMPACT)) == NULL)
			goto oom;
		e = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "exec_id", exec_id, "id", exec_uuid, "instance_uuid", uuid,
			      "amc_instance_id", sget(inst, row, 1),
			      "instance_name", sget(inst, row, 2),
			      "instance_region", sget(inst, row, 3),
			      "timezone", sget(inst, row, 4),
			      "account_id", sget(inst, row, 5),
			      "advertiser_id", sget(inst, row, 6),
			      "marketplace_id", sget(inst, row, 7),
			      "parameters", json_string(ptext));
		free(ptext);
		if (e == NULL)
			goto oom;
		rec = json_pack("{s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(e, "id"),
				"exec_id", json_object_get(e, "exec_id"),
				"amc_instance_id", json_object_get(e, "amc_instance_id"),
				"parameters", json_object_get(e, "parameters"),
				"instance_uuid", json_object_get(e, "instance_uuid"));
		if (json_array_append_new(x->execs, e) != 0 || rec == NULL ||
		    json_array_append_new(rows, rec) != 0)
			goto oom;
	}
	if (!ids_batch(x->batch_id) || !ids_uuid(x->batch_uuid)) {
		req_fail(r, 500, "internal", NULL, "random source failed");
		goto out;
	}
	gettimeofday(&tv, NULL);
	x->now_ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	snprintf(total, sizeof(total), "%zu", json_array_size(x->in.instance_ids));
	x->response = build_response(r);
	s_ids = json_dumps(x->in.instance_ids, JSON_COMPACT);
	s_params = json_dumps(x->in.params, JSON_COMPACT);
	s_over = json_dumps(x->in.overrides, JSON_COMPACT);
	s_rows = json_dumps(rows, JSON_COMPACT);
	s_resp = x->response != NULL ? json_dumps(x->response, JSON_COMPACT) : NULL;
	q = pgq_new();
	if (s_ids == NULL || s_params == NULL || s_over == NULL || s_rows == NULL ||
	    s_resp == NULL || q == NULL)
		goto oom;
	if (!pgq_add(q, sql_insert_batch, 10,
		     (const char *[]){ x->batch_uuid, x->batch_id, x->workflow_id, x->in.name,
				       x->in.description, s_ids, s_params, s_over, total,
				       r->user_id }) ||
	    !pgq_add(q, sql_insert_execs, 4,
		     (const char *[]){ x->workflow_id, r->user_id, x->batch_uuid, s_rows }))
		goto oom;
	if (x->idem_key[0] != '\0' &&
	    (!pgq_add(q, sql_idem_prune, 1, (const char *[]){ r->user_id }) ||
	     !pgq_add(q, sql_idem_put, 5,
		      (const char *[]){ r->user_id, x->idem_key, x->req_hash, x->batch_uuid,
					s_resp })))
		goto oom;
	if (!pgq_run(r->api->pg, q, insert_done, r)) {
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		goto out;
	}
	q = NULL;	/* the pool has it */
	goto out;
oom:
	req_fail(r, 500, "internal", NULL, "out of memory");
out:
	pgq_free(q);
	json_decref(rows);
	free(s_ids);
	free(s_params);
	free(s_over);
	free(s_rows);
	free(s_resp);
}

/* ---- rate limit ---- */

typedef struct RateCtx {
	Req *r;
	PGresult *inst;		/* the instance rows, owned until store() has used them */
} RateCtx;

static void rate_done(RConn *c, redisReply *reply, void *priv)
{
	RateCtx *rc = priv;
	Req *r = rc->r;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER) {
		log_error("rate limit script failed: %s",
			  reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "no reply");
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
static void rate_then_store(Req *r, PGresult *inst)
{
	const Config *cfg = &r->api->cfg;
	char key[KEYS_MAX], limit[16];
	RateCtx *rc;

	if (cfg->submit_rate_per_min <= 0) {
		store(r, inst);
		PQclear(inst);
		return;
	}
	snprintf(limit, sizeof(limit), "%d", cfg->submit_rate_per_min);
	/* r->user_id came from PostgreSQL (a UUID), never from the request */
	if (!ids_is_uuid(r->user_id) ||
	    keys_rate_submit(key, sizeof(key), cfg->redis_prefix, r->user_id) == NULL ||
	    (rc = calloc(1, sizeof(*rc))) == NULL) {
		PQclear(inst);
		req_fail(r, 500, "internal", NULL, "rate limit key");
		return;
	}
	rc->r = r;
	rc->inst = inst;
	if (!api_redis_ready(r->api) ||
	    !rconn_script(r->api->redis, LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key },
			  2, (const char *[]){ limit, RATE_WINDOW_MS }, rate_done, rc)) {
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
	ValidateErr e;
	json_t *wf_params;
	int n;
	bool ok;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (x->idem_key[0] != '\0' && PQntuples(q->res[2]) == 1) {
		idem_answer(r, q->res[2]);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow %s not found", x->workflow_id);
		goto out;
	}
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
	wf_params = json_loads(PQgetvalue(q->res[0], 0, 1), 0, NULL);
	ok = validate_exec_params(&x->in, x->sql_query, wf_params, time(NULL), &x->merged, &e);
	json_decref(wf_params);
	if (!ok) {
		req_fail_err(r, &e);
		goto out;
	}
	q->res[1] = NULL;	/* rate_then_store owns the instance rows now */
	rate_then_store(r, inst);
out:
	free(known);
	pgq_free(q);
}

void routes_execute_post(Req *r)
{
	const ValidateLimits lim = {
		.max_body_bytes = (size_t)r->api->cfg.max_body_bytes,
		.max_instances = r->api->cfg.max_instances,
		.max_params_bytes = r->api->cfg.max_params_bytes,
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
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	r->ctx = x;
	r->ctx_free = execute_free;
	snprintf(x->workflow_id, sizeof(x->workflow_id), "%s", r->segs[1]);
	lower(x->workflow_id);
	if (!req_parse_body(r))
		return;
	if (!validate_exec_request(r->body, &lim, &x->in, &e)) {
		req_fail_err(r, &e);
		return;
	}
	if (!idem_prepare(r, x))
		return;
	/* fail fast; enqueue() still undoes the insert if Redis drops in between */
	if (!api_redis_ready(r->api)) {
		req_fail(r, 503, "queue_unavailable", NULL,
			 "Redis is unavailable; the batch was not started");
		return;
	}
	/* PostgreSQL array literal of validated UUIDs: {a,b,c} (a parameter, not SQL text) */
	len += json_array_size(x->in.instance_ids) * (IDS_UUID_LEN + 1);
	if ((arr = malloc(len)) == NULL || (q = pgq_new()) == NULL)
		goto oom;
	arr[0] = '{';
	arr[1] = '\0';
	json_array_foreach(x->in.instance_ids, i, id) {
		if (i > 0)
			strcat(arr, ",");
		strcat(arr, json_string_value(id));
	}
	strcat(arr, "}");
	if (!pgq_add(q, sql_workflow, 3,
		     (const char *[]){ x->workflow_id, r->user_id, r->is_admin ? "true" : "false" }) ||
	    !pgq_add(q, sql_instances, 3,
		     (const char *[]){ arr, r->user_id, r->is_admin ? "true" : "false" }) ||
	    (x->idem_key[0] != '\0' &&
	     !pgq_add(q, sql_idem_get, 2, (const char *[]){ r->user_id, x->idem_key })))
		goto oom;
	free(arr);
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

/* ---- enqueue, and the undo when it fails ---- */

static void undo_done(Pgq *q, void *priv)
{
	Req *r = priv;

	if (!q->ok)
		log_error("could not delete batch %s after a failed enqueue: %s",
			  ((Execute *)r->ctx)->batch_id, q->err);
	req_fail(r, 503, "queue_unavailable", NULL, "Redis is unavailable; the batch was not started");
	pgq_free(q);
}

/* Deletes the PostgreSQL batch (cascades to its executions), then answers 503. */
static void undo(Req *r)
{
	Execute *x = r->ctx;
	Pgq *q = pgq_new();

	if (q == NULL || !pgq_add(q, sql_delete_batch, 1, (const char *[]){ x->batch_uuid }) ||
	    !pgq_run(r->api->pg, q, undo_done, r)) {
		log_error("could not delete batch %s after a failed enqueue", x->batch_id);
		pgq_free(q);
		req_fail(r, 503, "queue_unavailable", NULL,
			 "Redis is unavailable; the batch was not started");
	}
}

static void reply_created(Req *r)
{
	Execute *x = r->ctx;

	log_info("batch %s enqueued: workflow %s, %zu instances, user %s", x->batch_id,
		 x->workflow_id, json_array_size(x->execs), r->user_id);
	req_reply(r, 201, json_incref(x->response));
}

static void enqueue_reply(RConn *c, redisReply *reply, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;

	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == LUA_OK) {
		reply_created(r);
		return;
	}
	/* a dropped connection (reply NULL) may hide a script that ran: logged for the operator */
	log_error("enqueue_batch %s failed: %s", x->batch_id,
		  reply == NULL ? "connection lost" :
		  reply->type == REDIS_REPLY_ERROR ? reply->str :
		  reply->type == REDIS_REPLY_INTEGER && reply->integer == LUA_ERR_EXISTS ?
		  "batch exists" : "unexpected reply");
	undo(r);
}

static void enqueue(Req *r)
{
	Execute *x = r->ctx;
	const char *prefix = r->api->cfg.redis_prefix;
	size_t n = json_array_size(x->execs), i;
	int nkeys = 5 + (int)n;
	char (*keys)[KEYS_MAX] = calloc((size_t)nkeys, KEYS_MAX);
	const char **kp = calloc((size_t)nkeys, sizeof(*kp));
	char now[24];
	char *batch_fields = NULL, *execs = NULL;
	json_t *e, *fields;
	bool ok = keys != NULL && kp != NULL;

	if (ok) {
		ok = keys_batch(keys[0], KEYS_MAX, prefix, x->batch_id) &&
		     keys_batch_execs(keys[1], KEYS_MAX, prefix, x->batch_id) &&
		     keys_queue(keys[2], KEYS_MAX, prefix) &&
		     keys_batches(keys[3], KEYS_MAX, prefix) &&
		     keys_events(keys[4], KEYS_MAX, prefix);
		json_array_foreach(x->execs, i, e)
			ok = ok && keys_exec(keys[5 + i], KEYS_MAX, prefix, x->batch_id,
					     json_string_value(json_object_get(e, "exec_id")));
		for (int k = 0; k < nkeys; k++)
			kp[k] = keys[k];
	}
	snprintf(now, sizeof(now), "%lld", x->now_ms);
	fields = json_pack("{s:s, s:s, s:s, s:s, s:s}", "batch_execution_id", x->batch_uuid,
			   "workflow_id", x->workflow_id, "user_id", r->user_id,
			   "name", x->in.name != NULL ? x->in.name : "", "sql_query", x->sql_query);
	batch_fields = fields != NULL ? json_dumps(fields, JSON_COMPACT) : NULL;
	json_decref(fields);
	execs = json_dumps(x->execs, JSON_COMPACT);
	ok = ok && batch_fields != NULL && execs != NULL && api_redis_ready(r->api) &&
	     rconn_script(r->api->redis, LUA_SCRIPT_ENQUEUE_BATCH, nkeys, kp, 4,
			  (const char *[]){ x->batch_id, now, batch_fields, execs },
			  enqueue_reply, r);
	free(keys);
	free(kp);
	free(batch_fields);
	free(execs);
	if (!ok) {
		log_error("enqueue_batch %s not sent: redis %s", x->batch_id,
			  r->api->redis != NULL ? rconn_errstr(r->api->redis) : "stopped");
		undo(r);
	}
}
