/* routes_status.c - GET /workflows/batch/{b}/status: the live batch_status from Redis (batch
 * hash + every exec hash, pipelined), or the same shape from PostgreSQL for a batch Redis no
 * longer holds. Counts are derived from the execution states, so they always sum to total. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "pgq.h"

static const char *const states[] = {
	"pending", "queued", "running", "retry_wait", "completed", "failed", "cancelled",
};

/* Owned by itself: freed by finish() after done/error. */
typedef struct Status {
	Req *r;
	char batch_id[IDS_BATCH_LEN + 1];
	void (*done)(Req *r, json_t *status);
	int pending;		/* outstanding Redis replies */
	bool redis_failed;
	json_t *batch;		/* batch hash as an object of strings */
	json_t *exec_ids;	/* array of exec ids */
	json_t *execs;		/* exec hashes, in exec_ids order (null where missing) */
} Status;

static const char sql_batch[] =
	"SELECT b.batch_id, b.workflow_id, b.name, b.status, "
	PGQ_ISO("b.started_at") ", " PGQ_ISO("b.completed_at")
	"  FROM batch_executions b WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
static const char sql_execs[] =
	"SELECT e.id, e.execution_id, e.target_instance_id AS target_instance_id, i.instance_name,"
	"       e.status, NULL AS phase, e.amc_execution_id, e.row_count,"
	"       e.error_message AS error, e.duration_seconds,"
	"       " PGQ_ISO("e.started_at") " AS started_at, "
	PGQ_ISO("e.completed_at") " AS completed_at"
	"  FROM workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id"
	"  LEFT JOIN instances i ON i.id = e.target_instance_id"
	" WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)"
	" ORDER BY (SELECT t.ord FROM jsonb_array_elements_text(b.instance_ids)"
	"           WITH ORDINALITY AS t(v, ord) WHERE t.v = e.target_instance_id::text),"
	"          e.execution_id";

static void status_free(Status *s)
{
	json_decref(s->batch);
	json_decref(s->exec_ids);
	json_decref(s->execs);
	free(s);
}

/* The counters and status_counts of the executions array; fills out. */
static bool add_counts(json_t *out, const json_t *execs)
{
	json_int_t n[ARRAY_LEN(states)] = { 0 };
	json_t *counts = json_object(), *e;
	size_t i;

	json_array_foreach(execs, i, e) {
		const char *st = json_string_value(json_object_get(e, "status"));

		for (size_t k = 0; st != NULL && k < ARRAY_LEN(states); k++)
			if (strcmp(st, states[k]) == 0)
				n[k]++;
	}
	for (size_t k = 0; counts != NULL && k < ARRAY_LEN(states); k++)
		if (n[k] > 0)
			json_object_set_new(counts, states[k], json_integer(n[k]));
	/* order follows the seed: totals first, executions and status_counts last */
	return counts != NULL &&
	       json_object_set_new(out, "total_instances", json_integer((json_int_t)json_array_size(execs))) == 0 &&
	       json_object_set_new(out, "completed_instances", json_integer(n[4])) == 0 &&
	       json_object_set_new(out, "failed_instances", json_integer(n[5])) == 0 &&
	       json_object_set_new(out, "running_instances", json_integer(n[2])) == 0 &&
	       json_object_set_new(out, "pending_instances", json_integer(n[0] + n[1] + n[3])) == 0 &&
	       json_object_set_new(out, "cancelled_instances", json_integer(n[6])) == 0 &&
	       json_object_set_new(out, "status_counts", counts) == 0;
}

/* Assembles batch_status: identity fields, counts, times, executions, status_counts. */
static json_t *assemble(const char *batch_id, const char *workflow_id, const char *name,
			const char *status, json_t *started, json_t *completed, json_t *execs)
{
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?}", "batch_id", batch_id,
			      "workflow_id", workflow_id, "name", name, "status", status);
	json_t *counts = json_object();

	if (o == NULL || counts == NULL || !add_counts(counts, execs)) {
		json_decref(o);
		json_decref(counts);
		json_decref(started);
		json_decref(completed);
		json_decref(execs);
		return NULL;
	}
	json_object_update(o, counts);
	json_object_del(o, "status_counts");
	json_object_set_new(o, "started_at", started);
	json_object_set_new(o, "completed_at", completed);
	json_object_set_new(o, "executions", execs);
	json_object_set(o, "status_counts", json_object_get(counts, "status_counts"));
	json_decref(counts);
	return o;
}

/* ---- PostgreSQL fallback ---- */

static void pg_done(Pgq *q, void *priv)
{
	Status *s = priv;
	Req *r = s->r;
	json_t *execs, *o;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", s->batch_id);
	} else if ((execs = pgq_rows_json(q->res[1], "sssssssisnss")) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		const PGresult *b = q->res[0];

		o = assemble(pgq_val(b, 0, 0), pgq_val(b, 0, 1), pgq_val(b, 0, 2), pgq_val(b, 0, 3),
			     pgq_val(b, 0, 4) ? json_string(pgq_val(b, 0, 4)) : json_null(),
			     pgq_val(b, 0, 5) ? json_string(pgq_val(b, 0, 5)) : json_null(), execs);
		if (o == NULL)
			req_fail(r, 500, "internal", NULL, "out of memory");
		else
			s->done(r, o);
	}
	pgq_free(q);
	status_free(s);
}

static void load_pg(Status *s)
{
	Req *r = s->r;
	Pgq *q = pgq_new();
	const char *params[] = { s->batch_id, r->user_id, r->is_admin ? "true" : "false" };

	if (q == NULL || !pgq_add(q, sql_batch, 3, params) || !pgq_add(q, sql_execs, 3, params) ||
	    !pgq_run(r->api->pg, q, pg_done, s)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		status_free(s);
	}
}

/* ---- Redis ---- */

/* HGETALL reply -> object of strings (NULL if not a non-empty array). */
static json_t *hash_json(const redisReply *reply)
{
	json_t *o;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0)
		return NULL;
	if ((o = json_object()) == NULL)
		return NULL;
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const redisReply *k = reply->element[i], *v = reply->element[i + 1];

		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
			json_object_set_new(o, k->str, json_stringn(v->str, v->len));
	}
	return o;
}

static const char *field(const json_t *h, const char *name)
{
	return json_string_value(json_object_get(h, name));
}

static json_t *ms_iso(const char *ms)
{
	char buf[32];

	if (ms == NULL || *ms == '\0')
		return json_null();
	req_iso_ms(strtoll(ms, NULL, 10), buf);
	return json_string(buf);
}

static json_t *opt_str(const char *v)
{
	return v != NULL && *v != '\0' ? json_string(v) : json_null();
}

static json_t *exec_json(const json_t *h)
{
	const char *started = field(h, "started_at"), *finished = field(h, "finished_at");
	const char *rows = field(h, "row_count");
	json_t *duration = json_null();

	if (started != NULL && *started != '\0' && finished != NULL && *finished != '\0')
		duration = json_real((double)(strtoll(finished, NULL, 10) -
					      strtoll(started, NULL, 10)) / 1000.0);
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "id", opt_str(field(h, "id")),
			 "execution_id", opt_str(field(h, "exec_id")),
			 "target_instance_id", opt_str(field(h, "instance_uuid")),
			 "instance_name", opt_str(field(h, "instance_name")),
			 "status", opt_str(field(h, "state")),
			 "phase", opt_str(field(h, "phase")),
			 "amc_execution_id", opt_str(field(h, "amc_execution_id")),
			 "row_count", rows != NULL && *rows != '\0' ?
				 json_integer(strtoll(rows, NULL, 10)) : json_null(),
			 "error", opt_str(field(h, "error")),
			 "duration_seconds", duration,
			 "started_at", ms_iso(started),
			 "completed_at", ms_iso(finished));
}

static void redis_assemble(Status *s)
{
	Req *r = s->r;
	json_t *execs = json_array(), *h, *o;
	size_t i;

	json_array_foreach(s->execs, i, h)
		if (json_is_object(h))
			json_array_append_new(execs, exec_json(h));
	o = assemble(s->batch_id, field(s->batch, "workflow_id"), field(s->batch, "name"),
		     field(s->batch, "status"), ms_iso(field(s->batch, "started_at")),
		     ms_iso(field(s->batch, "completed_at")), execs);
	if (o == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		s->done(r, o);
	status_free(s);
}

static void on_exec(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;
	json_t *h = hash_json(reply);

	if (reply == NULL)
		s->redis_failed = true;
	json_array_append_new(s->execs, h != NULL ? h : json_null());
	if (--s->pending > 0)
		return;
	if (s->redis_failed)
		load_pg(s);
	else
		redis_assemble(s);
}

/* Second round: one HGETALL per exec, all queued at once; replies come back in order. */
static void fetch_execs(Status *s)
{
	Req *r = s->r;
	const char *prefix = r->api->cfg.redis_prefix;
	size_t i, n = json_array_size(s->exec_ids);
	json_t *id;

	if ((s->execs = json_array()) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		status_free(s);
		return;
	}
	if (n == 0) {
		redis_assemble(s);
		return;
	}
	json_array_foreach(s->exec_ids, i, id) {
		char key[KEYS_MAX];
		const char *argv[2] = { "HGETALL", key };

		if (r->api->redis == NULL || !ids_is_exec(json_string_value(id)) ||
		    keys_exec(key, sizeof(key), prefix, s->batch_id, json_string_value(id)) == NULL ||
		    !rconn_command(r->api->redis, on_exec, s, 2, argv, NULL)) {
			/* the replies already asked for still arrive: let them fall back */
			s->redis_failed = true;
			if (s->pending == 0) {
				load_pg(s);
				return;
			}
			break;
		}
		s->pending++;
	}
}

static void first_round_done(Status *s)
{
	Req *r = s->r;
	const char *owner;

	if (s->redis_failed || s->batch == NULL) {
		load_pg(s);	/* Redis down, or the batch expired from Redis */
		return;
	}
	owner = field(s->batch, "user_id");
	if (!r->is_admin && (owner == NULL || strcmp(owner, r->user_id) != 0)) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", s->batch_id);
		status_free(s);
		return;
	}
	fetch_execs(s);
}

static void on_batch(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
		s->redis_failed = true;
	s->batch = hash_json(reply);
	if (--s->pending == 0)
		first_round_done(s);
}

static void on_ids(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
		s->redis_failed = true;
	} else if ((s->exec_ids = json_array()) != NULL) {
		for (size_t i = 0; i < reply->elements; i++)
			if (reply->element[i]->type == REDIS_REPLY_STRING)
				json_array_append_new(s->exec_ids, json_string(reply->element[i]->str));
	}
	if (--s->pending == 0)
		first_round_done(s);
}

void routes_status_load(Req *r, const char *batch_id, void (*done)(Req *r, json_t *status))
{
	Status *s = calloc(1, sizeof(*s));
	char kb[KEYS_MAX], ke[KEYS_MAX], stop[16];
	const char *prefix = r->api->cfg.redis_prefix;

	if (s == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	s->r = r;
	s->done = done;
	snprintf(s->batch_id, sizeof(s->batch_id), "%s", batch_id);
	snprintf(stop, sizeof(stop), "%d", r->api->cfg.max_instances - 1);
	if (!api_redis_ready(r->api) || !keys_batch(kb, sizeof(kb), prefix, batch_id) ||
	    !keys_batch_execs(ke, sizeof(ke), prefix, batch_id) ||
	    !rconn_command(r->api->redis, on_batch, s, 2, (const char *[]){ "HGETALL", kb }, NULL)) {
		load_pg(s);
		return;
	}
	s->pending++;
	/* the execs list is bounded by max_instances; never an unbounded LRANGE */
	if (!rconn_command(r->api->redis, on_ids, s, 4,
			   (const char *[]){ "LRANGE", ke, "0", stop }, NULL)) {
		s->redis_failed = true;	/* on_batch will see it and fall back */
		return;
	}
	s->pending++;
}

static void status_reply(Req *r, json_t *status)
{
	req_success(r, 200, json_pack("{s:o}", "batch_status", status));
}

void routes_status_get(Req *r)
{
	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	routes_status_load(r, r->segs[2], status_reply);
}
