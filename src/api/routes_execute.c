/* routes_execute.c - POST /workflows/{id}/batch-execute: validate everything first (body,
 * workflow, instances, grants, placeholders), then one PostgreSQL transaction, then the
 * enqueue_batch script. A failed enqueue deletes the PostgreSQL batch: nothing half-started. */
#include "routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "keys.h"
#include "log.h"
#include "params.h"
#include "pgq.h"

#define NAME_MAX_LEN 200
#define DESCRIPTION_MAX_LEN 2000
#define LIST_MSG_MAX 700		/* denied/unknown id lists are cut beyond this */

/* Route state, owned by the Req (r->ctx). */
typedef struct Execute {
	char workflow_id[IDS_UUID_LEN + 1];
	char batch_id[IDS_BATCH_LEN + 1];
	char batch_uuid[IDS_UUID_LEN + 1];
	json_t *instance_ids;	/* array of lower-case UUID strings, request order */
	json_t *params;		/* request parameters (object) */
	json_t *overrides;	/* instance_parameters keyed by lower-case UUID (object) */
	const char *name;	/* borrowed from r->body, may be NULL */
	const char *description;
	char *sql_query;	/* the workflow's SQL */
	json_t *execs;		/* exec objects for enqueue_batch, instance order */
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
static const char sql_delete_batch[] = "DELETE FROM batch_executions WHERE id = $1::uuid";

static void execute_free(void *p)
{
	Execute *x = p;

	json_decref(x->instance_ids);
	json_decref(x->params);
	json_decref(x->overrides);
	json_decref(x->execs);
	free(x->sql_query);
	free(x);
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Appends s to a ", "-separated list in buf, marking truncation once. */
static void list_add(char *buf, size_t n, const char *s)
{
	size_t len = strlen(buf);

	if (len > LIST_MSG_MAX) {
		if (strcmp(buf + len - 3, "...") != 0 && len + 5 < n)
			strcat(buf, ", ...");
		return;
	}
	snprintf(buf + len, n - len, "%s%s", len > 0 ? ", " : "", s);
}

/* Body checks; on failure replies and returns false. */
static bool validate_body(Req *r, Execute *x)
{
	const Config *cfg = &r->api->cfg;
	json_t *ids = json_object_get(r->body, "instance_ids");
	json_t *params = json_object_get(r->body, "parameters");
	json_t *over = json_object_get(r->body, "instance_parameters");
	json_t *v;
	const char *key;
	size_t i;
	char *text;

	if (!req_opt_string(r, "name", NAME_MAX_LEN, &x->name) ||
	    !req_opt_string(r, "description", DESCRIPTION_MAX_LEN, &x->description))
		return false;
	if (ids == NULL || json_is_null(ids)) {
		req_fail(r, 400, "missing_field", "instance_ids", "instance_ids is required");
		return false;
	}
	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		req_fail(r, 400, "invalid_type", "instance_ids",
			 "instance_ids must be a non-empty array of instance UUIDs");
		return false;
	}
	if (json_array_size(ids) > (size_t)cfg->max_instances) {
		req_fail(r, 422, "too_many_instances", "instance_ids",
			 "at most %d instances per batch (got %zu)", cfg->max_instances,
			 json_array_size(ids));
		return false;
	}
	if ((x->instance_ids = json_array()) == NULL)
		goto oom;
	json_array_foreach(ids, i, v) {
		char id[IDS_UUID_LEN + 1];
		size_t k;
		json_t *seen;

		if (!json_is_string(v) || !ids_is_uuid(json_string_value(v))) {
			req_fail(r, 400, "invalid_value", "instance_ids",
				 "instance_ids[%zu] is not a UUID string", i);
			return false;
		}
		snprintf(id, sizeof(id), "%s", json_string_value(v));
		lower(id);
		json_array_foreach(x->instance_ids, k, seen) {
			if (strcmp(json_string_value(seen), id) == 0) {
				req_fail(r, 400, "duplicate_instance", "instance_ids",
					 "instance %s is listed twice", id);
				return false;
			}
		}
		if (json_array_append_new(x->instance_ids, json_string(id)) != 0)
			goto oom;
	}

	if (params != NULL && !json_is_null(params) && !json_is_object(params)) {
		req_fail(r, 400, "invalid_type", "parameters", "parameters must be an object");
		return false;
	}
	x->params = json_is_object(params) ? json_deep_copy(params) : json_object();
	if (x->params == NULL || (text = json_dumps(x->params, JSON_COMPACT)) == NULL)
		goto oom;
	i = strlen(text);
	free(text);
	if (i > (size_t)cfg->max_params_bytes) {
		req_fail(r, 422, "parameters_too_large", "parameters",
			 "parameters exceed %d bytes", cfg->max_params_bytes);
		return false;
	}

	if (over != NULL && !json_is_null(over) && !json_is_object(over)) {
		req_fail(r, 400, "invalid_type", "instance_parameters",
			 "instance_parameters must be an object keyed by instance UUID");
		return false;
	}
	if ((x->overrides = json_object()) == NULL)
		goto oom;
	if (json_is_object(over)) {
		json_object_foreach(over, key, v) {
			char id[IDS_UUID_LEN + 1];
			bool listed = false;
			size_t k;
			json_t *want;

			snprintf(id, sizeof(id), "%s", key);
			lower(id);
			json_array_foreach(x->instance_ids, k, want)
				listed |= strcmp(json_string_value(want), id) == 0;
			if (!ids_is_uuid(key) || !listed) {
				req_fail(r, 422, "unknown_instance", "instance_parameters",
					 "instance_parameters key %.64s is not one of instance_ids", key);
				return false;
			}
			if (!json_is_object(v)) {
				req_fail(r, 400, "invalid_type", "instance_parameters",
					 "instance_parameters[%s] must be an object", id);
				return false;
			}
			if ((text = json_dumps(v, JSON_COMPACT)) == NULL)
				goto oom;
			k = strlen(text);
			free(text);
			if (k > (size_t)cfg->max_params_bytes) {
				req_fail(r, 422, "parameters_too_large", "instance_parameters",
					 "instance_parameters[%s] exceeds %d bytes", id,
					 cfg->max_params_bytes);
				return false;
			}
			if (json_object_set(x->overrides, id, v) != 0)
				goto oom;
		}
	}
	return true;
oom:
	req_fail(r, 500, "internal", NULL, "out of memory");
	return false;
}

static json_t *sget(const PGresult *res, int row, int col)
{
	const char *v = pgq_val(res, row, col);

	return json_string(v != NULL ? v : "");
}

/* Checks the merged parameters of one instance against the placeholders; on failure
 * replies 422 and returns false. */
static bool check_params(Req *r, const json_t *names, const json_t *merged, const char *uuid)
{
	size_t i;
	json_t *n;
	char err[256];
	char *sql;

	json_array_foreach(names, i, n) {
		json_t *v = json_object_get(merged, json_string_value(n));

		if (v == NULL || json_is_null(v)) {
			req_fail(r, 422, "missing_parameter", "parameters",
				 "placeholder {{%s}} has no value for instance %s",
				 json_string_value(n), uuid);
			return false;
		}
	}
	/* the exact substitution the worker will do, so a bad value fails now, not later */
	sql = params_substitute(((Execute *)r->ctx)->sql_query, merged, err, sizeof(err));
	if (sql == NULL) {
		req_fail(r, 422, "invalid_parameter", "parameters", "instance %s: %s", uuid, err);
		return false;
	}
	free(sql);
	return true;
}

static void enqueue(Req *r);

static void insert_done(Pgq *q, void *priv)
{
	Req *r = priv;

	if (!q->ok) {
		log_error("batch insert failed: %s", q->err);
		pgq_fail(r, q);
	} else {
		enqueue(r);
	}
	pgq_free(q);
}

/* Builds the exec records and runs the insert transaction. */
static void store(Req *r, json_t *wf_params, const PGresult *inst)
{
	Execute *x = r->ctx;
	json_t *names = NULL, *rows = NULL, *merged = NULL, *id;
	char err[256], total[16];
	char *s_ids = NULL, *s_params = NULL, *s_over = NULL, *s_rows = NULL;
	size_t i;
	Pgq *q = NULL;
	struct timeval tv;

	names = params_placeholders(x->sql_query, err, sizeof(err));
	if (names == NULL) {
		req_fail(r, 422, "invalid_placeholder", NULL, "workflow SQL: %s", err);
		goto out;
	}
	if ((x->execs = json_array()) == NULL || (rows = json_array()) == NULL)
		goto oom;
	json_array_foreach(x->instance_ids, i, id) {
		const char *uuid = json_string_value(id);
		json_t *base, *e, *rec;
		char exec_id[IDS_EXEC_LEN + 1], exec_uuid[IDS_UUID_LEN + 1];
		char *ptext;
		int row = -1;

		for (int k = 0; k < PQntuples(inst); k++)
			if (strcmp(PQgetvalue(inst, k, 0), uuid) == 0)
				row = k;
		base = params_merge(wf_params, x->params);
		merged = base != NULL ? params_merge(base, json_object_get(x->overrides, uuid)) : NULL;
		json_decref(base);
		if (merged == NULL)
			goto oom;
		if (!check_params(r, names, merged, uuid))
			goto out;
		if (!ids_exec(exec_id) || !ids_uuid(exec_uuid)) {
			req_fail(r, 500, "internal", NULL, "random source failed");
			goto out;
		}
		if ((ptext = json_dumps(merged, JSON_COMPACT)) == NULL)
			goto oom;
		json_decref(merged);
		merged = NULL;
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
	snprintf(total, sizeof(total), "%zu", json_array_size(x->instance_ids));
	s_ids = json_dumps(x->instance_ids, JSON_COMPACT);
	s_params = json_dumps(x->params, JSON_COMPACT);
	s_over = json_dumps(x->overrides, JSON_COMPACT);
	s_rows = json_dumps(rows, JSON_COMPACT);
	q = pgq_new();
	if (s_ids == NULL || s_params == NULL || s_over == NULL || s_rows == NULL || q == NULL)
		goto oom;
	if (!pgq_add(q, sql_insert_batch, 10,
		     (const char *[]){ x->batch_uuid, x->batch_id, x->workflow_id, x->name,
				       x->description, s_ids, s_params, s_over, total,
				       r->user_id }) ||
	    !pgq_add(q, sql_insert_execs, 4,
		     (const char *[]){ x->workflow_id, r->user_id, x->batch_uuid, s_rows }))
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
	json_decref(merged);
	json_decref(names);
	json_decref(rows);
	free(s_ids);
	free(s_params);
	free(s_over);
	free(s_rows);
}

static void load_done(Pgq *q, void *priv)
{
	Req *r = priv;
	Execute *x = r->ctx;
	const PGresult *inst;
	char unknown[1024] = "", denied[1024] = "";
	json_t *wf_params, *id;
	size_t i;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow %s not found", x->workflow_id);
		goto out;
	}
	inst = q->res[1];
	json_array_foreach(x->instance_ids, i, id) {
		int row = -1;

		for (int k = 0; k < PQntuples(inst); k++)
			if (strcmp(PQgetvalue(inst, k, 0), json_string_value(id)) == 0)
				row = k;
		if (row < 0)
			list_add(unknown, sizeof(unknown), json_string_value(id));
		else if (PQgetvalue(inst, row, 8)[0] != 't')
			list_add(denied, sizeof(denied), json_string_value(id));
	}
	if (unknown[0] != '\0') {
		req_fail(r, 404, "instance_not_found", "instance_ids", "unknown instances: %s",
			 unknown);
		goto out;
	}
	if (denied[0] != '\0') {
		req_fail(r, 403, "instance_access_denied", "instance_ids",
			 "no access to instances: %s", denied);
		goto out;
	}
	if ((x->sql_query = strdup(PQgetvalue(q->res[0], 0, 0))) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	wf_params = json_loads(PQgetvalue(q->res[0], 0, 1), 0, NULL);
	if (!json_is_object(wf_params)) {
		json_decref(wf_params);
		wf_params = json_object();	/* a non-object default set contributes nothing */
	}
	store(r, wf_params, inst);
	json_decref(wf_params);
out:
	pgq_free(q);
}

void routes_execute_post(Req *r)
{
	Execute *x;
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
	if (!req_parse_body(r) || !validate_body(r, x))
		return;
	/* fail fast; enqueue() still undoes the insert if Redis drops in between */
	if (!api_redis_ready(r->api)) {
		req_fail(r, 503, "queue_unavailable", NULL,
			 "Redis is unavailable; the batch was not started");
		return;
	}
	/* PostgreSQL array literal of validated UUIDs: {a,b,c} */
	len += json_array_size(x->instance_ids) * (IDS_UUID_LEN + 1);
	if ((arr = malloc(len)) == NULL || (q = pgq_new()) == NULL)
		goto oom;
	arr[0] = '{';
	arr[1] = '\0';
	json_array_foreach(x->instance_ids, i, id) {
		if (i > 0)
			strcat(arr, ",");
		strcat(arr, json_string_value(id));
	}
	strcat(arr, "}");
	if (!pgq_add(q, sql_workflow, 3,
		     (const char *[]){ x->workflow_id, r->user_id, r->is_admin ? "true" : "false" }) ||
	    !pgq_add(q, sql_instances, 3,
		     (const char *[]){ arr, r->user_id, r->is_admin ? "true" : "false" }))
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
	json_t *execs = json_array(), *e, *body;
	size_t i;

	json_array_foreach(x->execs, i, e)
		json_array_append_new(execs, json_pack("{s:O, s:O, s:O, s:s}",
			"id", json_object_get(e, "id"),
			"instance_id", json_object_get(e, "instance_uuid"),
			"execution_id", json_object_get(e, "exec_id"),
			"status", "queued"));
	body = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I, s:s, s:o}",
			 "batch_id", x->batch_id, "batch_execution_id", x->batch_uuid,
			 "workflow_id", x->workflow_id, "name", x->name,
			 "description", x->description,
			 "total_instances", (json_int_t)json_array_size(x->execs),
			 "status", "pending", "executions", execs);
	log_info("batch %s enqueued: workflow %s, %zu instances, user %s", x->batch_id,
		 x->workflow_id, json_array_size(x->execs), r->user_id);
	req_success(r, 201, json_pack("{s:o}", "batch", body));
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
			   "name", x->name != NULL ? x->name : "", "sql_query", x->sql_query);
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
