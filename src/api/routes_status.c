/* routes_status.c - GET /workflows/batch/{b}/status: the live batch_status from Redis (batch
 * hash + every exec hash, pipelined), or the same shape from PostgreSQL for a batch Redis no
 * longer holds. Counts are derived from the execution states, so they always sum to total.
 * waiting_for's details come with the same round trips: the batch queue's claim end and the
 * workers' caps with the batch hash; only when an exec is parked, one HMGET of its slots'
 * running counts after the exec hashes (docs/api.md, waiting_for). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "pgq.h"
#include "policy.h"
#include "shape.h"

/* Owned by itself: freed by status_free() after done/error. */
typedef struct Status {
	Req *r;
	char batch_id[IDS_BATCH_LEN + 1];
	RoutesStatusDone done;
	int pending; /* outstanding Redis replies */
	bool redis_failed;
	ShapeHash batch;      /* batch hash; kv owned (one block, see hash_copy) */
	json_t *exec_ids;     /* array of exec ids */
	ShapeHash *execs;     /* exec hashes in exec_ids order, each kv owned; n == 0 if missing */
	size_t nexecs;        /* replies received so far */
	json_t *queue;        /* the batch queue's right end (refs; NULL: not read) */
	long long icap, acap; /* P caps, else this API's config */
	json_t *running_fields; /* P running fields of the parked execs (strings) */
	json_t *running_vals;   /* their counts (strings, in reply order) */
	ShapeKv *running_kv;    /* both as a ShapeHash (borrows their strings) */
	size_t nrunning;
} Status;

static const char sql_batch[] =
	"SELECT b.batch_id, b.workflow_id, b.name, b.status, " PGQ_ISO("b.started_at") ", " PGQ_ISO(
		"b.completed_at") ", b.time_window::text,"
				  "       (SELECT p.batch_id FROM batch_executions p WHERE p.id = b.parent_batch_id),"
				  "       b.on_failure, " POLICY_SQL_RATIO(
					  "b") ", b.status_reason, b.user_id::text"
					       "  FROM batch_executions b WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
static const char sql_execs[] =
	"SELECT e.id, e.execution_id, e.target_instance_id AS target_instance_id, i.instance_name,"
	"       e.status, NULL AS phase, e.amc_execution_id, e.row_count,"
	"       e.error_message AS error, e.duration_seconds,"
	"       " PGQ_ISO("e.started_at") " AS started_at, " PGQ_ISO(
		"e.completed_at") " AS completed_at,"
				  "       CASE WHEN e.time_window_start IS NOT NULL AND e.time_window_end IS NOT NULL"
				  "       THEN json_build_object('start', e.time_window_start, 'end', e.time_window_end,"
				  "            'timezone', coalesce(e.time_window_timezone, 'UTC'))::text END AS time_window,"
				  /* what a live execution waits for is Redis's to say (shape.c); this one is not there */
				  "       NULL::text AS waiting_for"
				  "  FROM workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id"
				  "  LEFT JOIN instances i ON i.id = e.target_instance_id"
				  " WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)"
				  " ORDER BY (SELECT t.ord FROM jsonb_array_elements_text(b.instance_ids)"
				  "           WITH ORDINALITY AS t(v, ord) WHERE t.v = e.target_instance_id::text),"
				  "          e.execution_id";

static void status_free(Status *s)
{
	free((void *)s->batch.kv);
	json_decref(s->exec_ids);
	for (size_t i = 0; s->execs != NULL && i < s->nexecs; i++)
		free((void *)s->execs[i].kv);
	free(s->execs);
	json_decref(s->queue);
	json_decref(s->running_fields);
	json_decref(s->running_vals);
	free(s->running_kv);
	free(s);
}

/* ---- PostgreSQL fallback ---- */

static void pg_done(Pgq *q, void *priv)
{
	Status *s = priv;
	Req *r = s->r;
	json_t *execs, *o;
	ShapeBatch b;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", s->batch_id);
	} else if ((execs = pgq_rows_json(q->res[1], "sssssssisnssjj")) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		b = (ShapeBatch){
			.batch_id = pgq_val(q->res[0], 0, 0),
			.workflow_id = pgq_val(q->res[0], 0, 1),
			.name = pgq_val(q->res[0], 0, 2),
			.status = pgq_val(q->res[0], 0, 3),
			.started_at = pgq_val(q->res[0], 0, 4),
			.completed_at = pgq_val(q->res[0], 0, 5),
			.window = pgq_val(q->res[0], 0, 6),
			.parent_batch_id = pgq_val(q->res[0], 0, 7),
			.on_failure = pgq_val(q->res[0], 0, 8),
			.min_success_ratio = pgq_val(q->res[0], 0, 9),
			.status_reason = pgq_val(q->res[0], 0, 10),
		};
		if ((o = shape_batch_status(&b, execs)) == NULL)
			req_fail(r, 500, "internal", NULL, "out of memory");
		else
			s->done(r, o, pgq_val(q->res[0], 0, 11), NULL);
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

/* HGETALL reply -> pairs of strings copied into ONE allocation (the ShapeKv array followed
 * by the strings), so the caller frees kv alone. n == 0 (kv NULL) for a missing key or
 * anything that is not an array; false only on OOM. */
static MUST_CHECK bool hash_copy(const redisReply *reply, ShapeHash *h)
{
	size_t n = 0, bytes = 0;
	ShapeKv *kv;
	char *p;

	h->kv = NULL;
	h->n = 0;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return true;
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const redisReply *k = reply->element[i], *v = reply->element[i + 1];

		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) {
			n++;
			bytes += k->len + 1 + v->len + 1;
		}
	}
	if (n == 0)
		return true;
	if ((kv = malloc(n * sizeof(*kv) + bytes)) == NULL)
		return false;
	p = (char *)(kv + n);
	n = 0;
	for (size_t i = 0; i + 1 < reply->elements; i += 2) {
		const redisReply *k = reply->element[i], *v = reply->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		kv[n].key = memcpy(p, k->str, k->len);
		p[k->len] = '\0';
		p += k->len + 1;
		kv[n].val = memcpy(p, v->str, v->len);
		p[v->len] = '\0';
		p += v->len + 1;
		n++;
	}
	h->kv = kv;
	h->n = n;
	return true;
}

static void redis_assemble(Status *s)
{
	Req *r = s->r;
	const ShapeHash running = { s->running_kv, s->nrunning };
	const ShapeLive live = { .now_ms = mstime_wall(),
				 .queue = s->queue,
				 .running = &running,
				 .instance_cap = s->icap,
				 .account_cap = s->acap };
	json_t *o = shape_status_redis(s->batch_id, &s->batch, s->execs, s->nexecs, &live);

	if (o == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		s->done(r, o, shape_hash_get(&s->batch, "user_id"),
			shape_hash_get(&s->batch, "ver"));
	status_free(s);
}

/* The running counts of the parked execs' slots: a detail, so any failure only leaves it
 * out. */
static void on_running(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;
	size_t n = json_array_size(s->running_fields);

	(void)c;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == n &&
	    (s->running_vals = json_array()) != NULL &&
	    (s->running_kv = calloc(n, sizeof(*s->running_kv))) != NULL) {
		for (size_t i = 0; i < n; i++) {
			if (reply->element[i]->type != REDIS_REPLY_STRING ||
			    json_array_append_new(s->running_vals,
						  json_string(reply->element[i]->str)) != 0)
				continue;
			s->running_kv[s->nrunning].key =
				json_string_value(json_array_get(s->running_fields, i));
			s->running_kv[s->nrunning].val = json_string_value(json_array_get(
				s->running_vals, json_array_size(s->running_vals) - 1));
			s->nrunning++;
		}
	}
	redis_assemble(s);
}

/* A third round only when an exec is parked: one HMGET P running of the parked execs'
 * instance and account fields (each once). false: not sent (assemble without it). */
static bool fetch_running(Status *s)
{
	Req *r = s->r;
	char key[KEYS_MAX], field[160];
	json_t *seen = json_object();
	const char **argv = NULL;
	size_t n, i;
	bool sent = false;

	if (seen == NULL || (s->running_fields = json_array()) == NULL)
		goto out;
	for (i = 0; i < s->nexecs; i++) {
		const char *parked = shape_hash_get(&s->execs[i], "parked");
		const char *st = shape_hash_get(&s->execs[i], "state");
		bool inst = parked != NULL && strcmp(parked, "instance") == 0;
		const char *id;

		if (st == NULL || strcmp(st, "queued") != 0 || parked == NULL ||
		    (!inst && strcmp(parked, "account") != 0))
			continue;
		id = shape_hash_get(&s->execs[i], inst ? "amc_instance_id" : "account_id");
		if (id == NULL || *id == '\0')
			continue;
		snprintf(field, sizeof(field), "%s:%s", inst ? "instance" : "account", id);
		if (json_object_get(seen, field) == NULL &&
		    (json_object_set_new(seen, field, json_true()) != 0 ||
		     json_array_append_new(s->running_fields, json_string(field)) != 0))
			goto out;
	}
	if ((n = json_array_size(s->running_fields)) == 0 ||
	    keys_running(key, sizeof(key), r->api->cfg.redis_prefix) == NULL ||
	    (argv = calloc(n + 2, sizeof(*argv))) == NULL)
		goto out;
	argv[0] = "HMGET";
	argv[1] = key;
	for (i = 0; i < n; i++)
		argv[i + 2] = json_string_value(json_array_get(s->running_fields, i));
	sent = rconn_command(r->api->redis, on_running, s, (int)(n + 2), argv, NULL);
out:
	free(argv);
	json_decref(seen);
	return sent;
}

static void on_exec(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	/* an exec hash we could not copy would silently drop out of the counts: fall back */
	if (reply == NULL || !hash_copy(reply, &s->execs[s->nexecs]))
		s->redis_failed = true;
	s->nexecs++;
	if (--s->pending > 0)
		return;
	if (s->redis_failed)
		load_pg(s);
	else if (!fetch_running(s))
		redis_assemble(s);
}

/* Second round: one HGETALL per exec, all queued at once; replies come back in order. */
static void fetch_execs(Status *s)
{
	Req *r = s->r;
	const char *prefix = r->api->cfg.redis_prefix;
	size_t i, n = json_array_size(s->exec_ids);
	json_t *id;

	if ((s->execs = calloc(n > 0 ? n : 1, sizeof(*s->execs))) == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		status_free(s);
		return;
	}
	if (n == 0) {
		redis_assemble(s);
		return;
	}
	json_array_foreach (s->exec_ids, i, id) {
		char key[KEYS_MAX];
		const char *argv[2] = { "HGETALL", key };

		if (r->api->redis == NULL || !ids_is_exec(json_string_value(id)) ||
		    keys_exec(key, sizeof(key), prefix, s->batch_id, json_string_value(id)) ==
			    NULL ||
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

	if (s->redis_failed || s->batch.n == 0) {
		load_pg(s); /* Redis down, or the batch expired from Redis */
		return;
	}
	owner = shape_hash_get(&s->batch, "user_id");
	if (!r->is_admin && (owner == NULL || strcmp(owner, r->user_id) != 0)) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", s->batch_id);
		status_free(s);
		return;
	}
	fetch_execs(s);
}

/* The string elements of an array reply as a new JSON array (owned by the caller); NULL for
 * anything else, or on OOM. */
static json_t *string_array(const redisReply *reply)
{
	json_t *a;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || (a = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; i < reply->elements; i++)
		if (reply->element[i]->type == REDIS_REPLY_STRING)
			json_array_append_new(a, json_string(reply->element[i]->str));
	return a;
}

/* The batch queue's claim end: a detail (ahead), so a failure only leaves it out. */
static void on_queue(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	(void)c;
	s->queue = string_array(reply);
	if (--s->pending == 0)
		first_round_done(s);
}

/* P caps (instance_cap, account_cap as the workers last published them); missing: this API's
 * config, which the workers read from the same file as a rule. */
static void on_caps(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	(void)c;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
		for (size_t i = 0; i < 2; i++) {
			const redisReply *v = reply->element[i];
			long long n = v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : 0;

			if (n > 0)
				*(i == 0 ? &s->icap : &s->acap) = n;
		}
	}
	if (--s->pending == 0)
		first_round_done(s);
}

static void on_batch(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR || !hash_copy(reply, &s->batch))
		s->redis_failed = true;
	if (--s->pending == 0)
		first_round_done(s);
}

static void on_ids(RConn *c, redisReply *reply, void *priv)
{
	Status *s = priv;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		s->redis_failed = true;
	else
		s->exec_ids = string_array(reply);
	if (--s->pending == 0)
		first_round_done(s);
}

void routes_status_load(Req *r, const char *batch_id, RoutesStatusDone done)
{
	Status *s = calloc(1, sizeof(*s));
	char kb[KEYS_MAX], ke[KEYS_MAX], kq[KEYS_MAX], kc[KEYS_MAX], stop[16], start[16];
	const char *prefix = r->api->cfg.redis_prefix;

	if (s == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	s->r = r;
	s->done = done;
	s->icap = r->api->cfg.instance_cap;
	s->acap = r->api->cfg.account_cap;
	snprintf(s->batch_id, sizeof(s->batch_id), "%s", batch_id);
	snprintf(stop, sizeof(stop), "%d", r->api->cfg.max_instances - 1);
	if (!api_redis_ready(r->api) || keys_batch(kb, sizeof(kb), prefix, batch_id) == NULL ||
	    keys_batch_execs(ke, sizeof(ke), prefix, batch_id) == NULL ||
	    !rconn_command(r->api->redis, on_batch, s, 2, (const char *[]){ "HGETALL", kb },
			   NULL)) {
		load_pg(s);
		return;
	}
	s->pending++;
	/* the execs list is bounded by max_instances; never an unbounded LRANGE */
	if (!rconn_command(r->api->redis, on_ids, s, 4, (const char *[]){ "LRANGE", ke, "0", stop },
			   NULL)) {
		s->redis_failed = true; /* on_batch will see it and fall back */
		return;
	}
	s->pending++;
	/* waiting_for's details, in the same round trip: the right end of the batch queue
	 * (RPOP claims from there; it holds at most max_instances ready refs) and the caps */
	snprintf(start, sizeof(start), "-%d", r->api->cfg.max_instances);
	if (keys_batch_queue(kq, sizeof(kq), prefix, batch_id) != NULL &&
	    rconn_command(r->api->redis, on_queue, s, 4,
			  (const char *[]){ "LRANGE", kq, start, "-1" }, NULL))
		s->pending++;
	if (keys_caps(kc, sizeof(kc), prefix) != NULL &&
	    rconn_command(r->api->redis, on_caps, s, 4,
			  (const char *[]){ "HMGET", kc, "instance_cap", "account_cap" }, NULL))
		s->pending++;
}

/* ---- GET .../status and the read cache ---- */

/* The status of a batch that can no longer change by itself: final, and every execution
 * final too (a cancelled batch's running executions still end; a final batch whose executions
 * are all final changes only when PostgreSQL says so: a purge). */
static bool settled(json_t *status)
{
	json_t *running = json_object_get(status, "running_instances");
	json_t *pending = json_object_get(status, "pending_instances");

	return routes_batches_is_terminal(json_string_value(json_object_get(status, "status"))) &&
	       json_integer_value(running) == 0 && json_integer_value(pending) == 0;
}

/* r->ctx of GET .../status: the cache key, the stamp taken before the read, and while a kept
 * running status is being confirmed, that body (one reference, given to the reply or dropped
 * in on_ver) with the tag it was kept under. */
typedef struct StatusGet {
	char key[IDS_BATCH_LEN + 3];
	RcStamp st;
	RcBody *held;
	char tag[RC_TAG_LEN];
} StatusGet;

/* owner: the batch's user, whom req_try_cached compares with the next readers. A settled
 * status is kept until PostgreSQL announces a change; a running one (ver known: it came from
 * Redis) under the batch's ver, confirmed by the next reader (readcache.h). */
static void status_reply(Req *r, json_t *status, const char *owner, const char *ver)
{
	StatusGet *g = r->ctx;
	bool keep = owner != NULL && ids_is_uuid(owner);

	if (keep && !settled(status)) {
		keep = ver != NULL && *ver != '\0' && strlen(ver) < sizeof(g->st.tag);
		if (keep)
			memcpy(g->st.tag, ver, strlen(ver) + 1);
	}
	if (keep)
		req_success_cache(r, json_pack("{s:o}", "batch_status", status), g->key, owner,
				  &g->st);
	else
		req_success(r, 200, json_pack("{s:o}", "batch_status", status));
}

/* Not kept, or no longer confirmed: build it, leading (or joining) the build of this key. */
static void status_build(Req *r)
{
	StatusGet *g = r->ctx;

	if (req_try_cached(r, g->key))
		return;
	g->st = readcache_stamp(r->api->reads, RC_BATCH, r->segs[2]);
	routes_status_load(r, r->segs[2], status_reply);
}

/* The batch's ver now: the kept running status is sent when it has not moved since. */
static void on_ver(RConn *c, redisReply *reply, void *priv)
{
	Req *r = priv;
	StatusGet *g = r->ctx;
	RcBody *b = g->held;

	(void)c;
	g->held = NULL;
	if (reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, g->tag) == 0) {
		req_reply_cached(r, b);
		return;
	}
	rcbody_unref(b);
	status_build(r);
}

void routes_status_get(Req *r)
{
	StatusGet *g;
	char owner[IDS_UUID_LEN + 1], kb[KEYS_MAX];
	RcBody *b;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if ((g = req_ctx_new(r, sizeof(*g))) == NULL)
		return;
	snprintf(g->key, sizeof(g->key), "s:%s", r->segs[2]);
	/* a kept status the caller may see: a settled one is sent, a running one after one HGET
	 * says it still holds (one it may not see is left to req_try_cached: answered as if
	 * uncached) */
	if (!r->cache_bypass && (b = readcache_get(r->api->reads, g->key, owner, g->tag)) != NULL) {
		if (req_may_see(r, owner)) {
			if (g->tag[0] == '\0') {
				req_reply_cached(r, b);
				return;
			}
			g->held = b;
			if (api_redis_ready(r->api) &&
			    keys_batch(kb, sizeof(kb), r->api->cfg.redis_prefix, r->segs[2]) !=
				    NULL &&
			    rconn_command(r->api->redis, on_ver, r, 3,
					  (const char *[]){ "HGET", kb, "ver" }, NULL))
				return;
			g->held = NULL;
		}
		rcbody_unref(b);
	}
	status_build(r);
}
