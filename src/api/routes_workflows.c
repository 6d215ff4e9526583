/* routes_workflows.c - POST /workflows, GET /workflows, GET /workflows/{id}: the SQL
 * workflows a batch runs. Members see their own, admins all; another user's workflow is a
 * 404, never a 403, so ids do not leak. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "pgq.h"

#define NAME_MAX_LEN 200
#define DESCRIPTION_MAX_LEN 2000
#define SQL_MAX_LEN 200000

#define WORKFLOW_COLS "id, name, description, sql_query, parameters, " PGQ_ISO("created_at") " AS created_at"
#define WORKFLOW_TYPES "ssssjs"

static const char sql_insert[] =
	"INSERT INTO workflows (user_id, name, description, sql_query, parameters)"
	" VALUES ($1::uuid, $2, $3, $4, $5::jsonb) RETURNING " WORKFLOW_COLS;
static const char sql_list[] =
	"SELECT " WORKFLOW_COLS " FROM workflows WHERE $2::boolean OR user_id = $1::uuid"
	" ORDER BY created_at DESC, id";
static const char sql_get[] =
	"SELECT " WORKFLOW_COLS " FROM workflows"
	" WHERE id = $3::uuid AND ($2::boolean OR user_id = $1::uuid)";

static void one_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *w;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) != 1)
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
	else if ((w = pgq_row_json(q->res[0], 0, WORKFLOW_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, r->method == EVHTTP_REQ_POST ? 201 : 200,
			    json_pack("{s:o}", "workflow", w));
	pgq_free(q);
}

/* r->ctx of GET /workflows: the cache key (whose list) and the stamp taken before the read */
typedef struct ListGet {
	char key[IDS_UUID_LEN + 3];
	RcStamp st;
} ListGet;

static void list_done(Pgq *q, void *priv)
{
	Req *r = priv;
	ListGet *g = r->ctx;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if ((rows = pgq_rows_json(q->res[0], WORKFLOW_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success_cache(r, json_pack("{s:o}", "workflows", rows), g->key, "", &g->st);
	pgq_free(q);
}

/* Queues one statement; on failure replies 503 and frees r. */
static void run(Req *r, const char *sql, int n, const char *const *params,
		void (*done)(Pgq *q, void *priv))
{
	Pgq *q = pgq_new();

	if (q == NULL || !pgq_add(q, sql, n, params) || !pgq_run(r->api->pg, q, done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

void routes_workflows_create(Req *r)
{
	const char *name, *description, *sql;
	json_t *params, *ph;
	char *params_text;
	char err[256];

	if (!req_parse_body(r) || !req_need_string(r, "name", NAME_MAX_LEN, &name) ||
	    !req_opt_string(r, "description", DESCRIPTION_MAX_LEN, &description) ||
	    !req_need_string(r, "sql_query", SQL_MAX_LEN, &sql))
		return;
	params = json_object_get(r->body, "parameters");
	if (params != NULL && !json_is_null(params) && !json_is_object(params)) {
		req_fail(r, 400, "invalid_type", "parameters", "parameters must be an object");
		return;
	}
	ph = params_placeholders(sql, err, sizeof(err));
	if (ph == NULL) {
		req_fail(r, 422, "invalid_placeholder", "sql_query", "%s", err);
		return;
	}
	json_decref(ph);
	params_text = json_is_object(params) ? json_dumps(params, JSON_COMPACT) : strdup("{}");
	if (params_text == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (strlen(params_text) > (size_t)r->api->cfg.max_params_bytes) {
		free(params_text);
		req_fail(r, 422, "parameters_too_large", "parameters",
			 "parameters exceed %d bytes", r->api->cfg.max_params_bytes);
		return;
	}
	run(r, sql_insert, 5,
	    (const char *[]){ r->user_id, name, description != NULL ? description : "", sql,
			      params_text }, one_done);
	free(params_text);
}

void routes_workflows_list(Req *r)
{
	ListGet *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	r->ctx = g;
	r->ctx_free = free;
	snprintf(g->key, sizeof(g->key), "w:%s", r->is_admin ? "*" : r->user_id);
	if (req_try_cached(r, g->key))
		return;
	g->st = readcache_stamp(r->api->reads, r->is_admin ? RC_ANY : RC_USER, r->user_id);
	run(r, sql_list, 2, (const char *[]){ r->user_id, r->is_admin ? "true" : "false" },
	    list_done);
}

void routes_workflows_get(Req *r)
{
	const char *id = r->segs[1];

	if (!ids_is_uuid(id)) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	run(r, sql_get, 3, (const char *[]){ r->user_id, r->is_admin ? "true" : "false", id },
	    one_done);
}
