/* routes_workflows.c - POST /workflows, GET /workflows, GET, PATCH and DELETE
 * /workflows/{id}: the SQL workflows a batch runs. Members see their own and those shared with
 * them (routes_workflow_shares.c), admins all; another user's workflow is a 404, never a 403,
 * so ids do not leak. Only the owner (or an admin) edits or deletes; an edit of what runs
 * makes a new version (sql/015's trigger), and DELETE archives, so the batches that ran a
 * workflow keep their history. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "params.h"
#include "pgq.h"
#include "workflow.h"

#define NAME_MAX_LEN 200
#define DESCRIPTION_MAX_LEN 2000
#define SQL_MAX_LEN 200000

/* $1 user id, $2 is admin: the columns of a workflow over WORKFLOW_FROM (workflow.h) */
#define WORKFLOW_COLS \
	"w.id, w.name, w.description, w.sql_query, w.parameters, w.parameter_types, w.version," \
	" w.user_id AS owner_id, " PGQ_ISO("w.archived_at") " AS archived_at, " PGQ_ISO( \
		"w.created_at") " AS created_at, " PGQ_ISO("w.updated_at") " AS updated_at," \
									   " CASE WHEN w.user_id = $1::uuid THEN NULL ELSE s.permission END AS shared_permission"
#define WORKFLOW_TYPES "ssssjjisssss"

/* ($2 is not needed by an insert or update, but every statement gets the same first two
 * parameters and PostgreSQL must be able to type each one) */
static const char sql_insert[] =
	"WITH w AS (INSERT INTO workflows (user_id, name, description, sql_query, parameters,"
	"  parameter_types) VALUES ($1::uuid, $3, $4, $5, $6::jsonb, $7::jsonb) RETURNING *),"
	" s AS (SELECT NULL::uuid AS user_id, NULL::text AS permission)"
	" SELECT " WORKFLOW_COLS " FROM w, s WHERE $2::boolean IS NOT NULL";
/* $3 also list archived ones */
static const char sql_list[] = "SELECT " WORKFLOW_COLS WORKFLOW_FROM " WHERE" WORKFLOW_VISIBLE
			       " AND ($3::boolean OR w.archived_at IS NULL)"
			       " ORDER BY w.created_at DESC, w.id";
static const char sql_get[] =
	"SELECT " WORKFLOW_COLS WORKFLOW_FROM " WHERE w.id = $3::uuid AND" WORKFLOW_VISIBLE;
/* what PATCH merges the body into: the row and whether the user may edit it */
static const char sql_current[] =
	"SELECT w.sql_query, w.parameters::text, w.parameter_types::text, w.version,"
	"       w.archived_at IS NOT NULL," WORKFLOW_OWNER WORKFLOW_FROM
	" WHERE w.id = $3::uuid AND" WORKFLOW_VISIBLE;
/* $4.. the merged row; $9 the version it was merged from: another edit in between matches no
 * row (409), so no edit is lost */
static const char sql_update[] =
	"WITH w AS (UPDATE workflows SET name = coalesce($4, name),"
	"  description = coalesce($5, description), sql_query = $6,"
	"  parameters = $7::jsonb, parameter_types = $8::jsonb, updated_by = $1::uuid,"
	"  updated_at = now()"
	" WHERE id = $3::uuid AND version = $9::integer AND archived_at IS NULL RETURNING *),"
	" s AS (SELECT NULL::uuid AS user_id, NULL::text AS permission)"
	" SELECT " WORKFLOW_COLS " FROM w, s WHERE $2::boolean IS NOT NULL";
/* Archives unless a running batch or any schedule uses it, in one statement: the row lock
 * orders it against an edit or another delete. Columns: visible, owner, archived already,
 * open batches, schedules, archived now. */
static const char sql_delete[] =
	"WITH v AS (SELECT w.id, w.archived_at IS NOT NULL AS archived,"
	"       " WORKFLOW_OWNER " AS owner" WORKFLOW_FROM
	"      WHERE w.id = $3::uuid AND" WORKFLOW_VISIBLE " FOR UPDATE OF w),"
	" busy AS (SELECT (SELECT count(*) FROM batch_executions b, v WHERE b.workflow_id = v.id"
	"                   AND b.status IN ('pending', 'running')) AS batches,"
	"                 (SELECT count(*) FROM schedules sc, v WHERE sc.workflow_id = v.id) AS schedules),"
	" a AS (UPDATE workflows x SET archived_at = now(), updated_at = now() FROM v, busy"
	"       WHERE x.id = v.id AND v.owner AND NOT v.archived AND busy.batches = 0"
	"         AND busy.schedules = 0 RETURNING x.id)"
	" SELECT EXISTS (SELECT 1 FROM v), coalesce((SELECT owner FROM v), false),"
	"        coalesce((SELECT archived FROM v), false), busy.batches, busy.schedules,"
	"        EXISTS (SELECT 1 FROM a) FROM busy";

static void one_done(Pgq *q, void *priv)
{
	Req *r = priv;
	int last = q->nstmts - 1;
	json_t *w;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[last]) != 1)
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
	else if ((w = pgq_row_json(q->res[last], 0, WORKFLOW_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, r->method == EVHTTP_REQ_POST ? 201 : 200,
			    json_pack("{s:o}", "workflow", w));
	pgq_free(q);
}

/* r->ctx of GET /workflows: the cache key (whose list) and the stamp taken before the read */
typedef struct ListGet {
	char key[IDS_UUID_LEN + 5]; /* "w:<user id or *>[:a]" */
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

void workflow_run(Req *r, const char *sql, int n, const char *const *params,
		  void (*done)(Pgq *q, void *priv))
{
	Pgq *q = pgq_new();

	if (q == NULL || !pgq_add(q, sql, n, params) || !pgq_run(r->api->pg, q, done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

/* The checked texts of a workflow's parameters and types; both malloc'ed, owned by the caller
 * (free both, also after a failure: they are NULL then). */
typedef struct Checked {
	char *params;
	char *types;
} Checked;

/* Checks what a workflow runs as a whole (sql, default parameters, declared types) and dumps
 * the two objects. False after replying. */
static bool check_workflow(Req *r, const char *sql, const json_t *params, const json_t *types,
			   Checked *out)
{
	char err[256], bad[PARAMS_NAME_MAX + 1], field[96];
	json_t *ph;
	bool ok;

	out->params = out->types = NULL;
	if (params != NULL && !json_is_null(params) && !json_is_object(params)) {
		req_fail(r, 400, "invalid_type", "parameters", "parameters must be an object");
		return false;
	}
	if (types != NULL && !json_is_null(types) && !json_is_object(types)) {
		req_fail(r, 400, "invalid_type", "parameter_types",
			 "parameter_types must be an object of name: type");
		return false;
	}
	if ((ph = params_placeholders(sql, err, sizeof(err))) == NULL) {
		req_fail(r, 422, "invalid_placeholder", "sql_query", "%s", err);
		return false;
	}
	ok = params_types_valid(types, ph, bad, err, sizeof(err));
	json_decref(ph);
	if (!ok) {
		snprintf(field, sizeof(field), bad[0] ? "parameter_types.%s" : "parameter_types",
			 bad);
		req_fail(r, 422, "invalid_parameter_types", field, "%s", err);
		return false;
	}
	/* a default must already be what its type says: every batch would refuse it */
	if (!params_check_types(types, params, bad, err, sizeof(err))) {
		snprintf(field, sizeof(field), "parameters.%s", bad);
		req_fail(r, 422, "invalid_parameter", field, "default: %s", err);
		return false;
	}
	out->params = json_is_object(params) ? json_dumps(params, JSON_COMPACT) : strdup("{}");
	out->types = json_is_object(types) ? json_dumps(types, JSON_COMPACT) : strdup("{}");
	if (out->params == NULL || out->types == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return false;
	}
	if (strlen(out->params) > (size_t)r->api->cfg.max_params_bytes) {
		req_fail(r, 422, "parameters_too_large", "parameters", "parameters exceed %d bytes",
			 r->api->cfg.max_params_bytes);
		return false;
	}
	return true;
}

static const char *admin(const Req *r)
{
	return r->is_admin ? "true" : "false";
}

void routes_workflows_create(Req *r)
{
	const char *name, *description, *sql;
	Checked c;

	if (!req_parse_body(r) || !req_need_string(r, "name", NAME_MAX_LEN, &name) ||
	    !req_opt_string(r, "description", DESCRIPTION_MAX_LEN, &description) ||
	    !req_need_string(r, "sql_query", SQL_MAX_LEN, &sql))
		return;
	if (check_workflow(r, sql, json_object_get(r->body, "parameters"),
			   json_object_get(r->body, "parameter_types"), &c))
		workflow_run(r, sql_insert, 7,
			     (const char *[]){ r->user_id, admin(r), name,
					       description != NULL ? description : "", sql,
					       c.params, c.types },
			     one_done);
	free(c.params);
	free(c.types);
}

void routes_workflows_list(Req *r)
{
	ListGet *g;
	bool archived;

	if (!req_query_bool(r, "archived", false, &archived))
		return;
	if ((g = req_ctx_new(r, sizeof(*g))) == NULL)
		return;
	snprintf(g->key, sizeof(g->key), "w:%s%s", r->is_admin ? "*" : r->user_id,
		 archived ? ":a" : "");
	if (req_try_cached(r, g->key))
		return;
	g->st = readcache_stamp(r->api->reads, r->is_admin ? RC_ANY : RC_USER, r->user_id);
	workflow_run(r, sql_list, 3,
		     (const char *[]){ r->user_id, admin(r), archived ? "true" : "false" },
		     list_done);
}

void routes_workflows_get(Req *r)
{
	const char *id = r->segs[1];

	if (!ids_is_uuid(id)) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	workflow_run(r, sql_get, 3, (const char *[]){ r->user_id, admin(r), id }, one_done);
}

/* ---- PATCH: read, merge and check in C, write if nobody wrote in between ---- */

static void patch_written(Pgq *q, void *priv)
{
	Req *r = priv;

	if (q->ok && PQntuples(q->res[0]) == 0) {
		req_fail(r, 409, "version_conflict", NULL,
			 "the workflow changed while this edit was checked; reload and retry");
		pgq_free(q);
		return;
	}
	one_done(q, priv);
}

static void patch_current(Pgq *q, void *priv)
{
	Req *r = priv;
	const json_t *b = r->body;
	const char *sql, *name = NULL, *description = NULL;
	json_t *params = NULL, *types = NULL, *ev;
	char version[16];
	Checked c = { NULL, NULL };
	const PGresult *cur;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	cur = q->res[0];
	if (PQntuples(cur) != 1) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		goto out;
	}
	if (PQgetvalue(cur, 0, 5)[0] != 't') {
		req_fail(r, 403, "workflow_read_only", NULL,
			 "the workflow is shared with you; only its owner edits it");
		goto out;
	}
	if (PQgetvalue(cur, 0, 4)[0] == 't') {
		req_fail(r, 409, "workflow_archived", NULL, "the workflow was deleted (archived)");
		goto out;
	}
	snprintf(version, sizeof(version), "%s", PQgetvalue(cur, 0, 3));
	ev = json_object_get(b, "expected_version");
	if (ev != NULL && json_integer_value(ev) != strtoll(version, NULL, 10)) {
		req_fail(r, 409, "version_conflict", "expected_version",
			 "the workflow is at version %s: someone else edited it; reload and retry",
			 version);
		goto out;
	}
	/* the body's members replace the row's, absent ones stay (routes_workflows_patch checked
	 * the string members' types; check_workflow checks the rest on the merged whole) */
	sql = json_string_value(json_object_get(b, "sql_query"));
	if (sql == NULL)
		sql = PQgetvalue(cur, 0, 0);
	params = json_object_get(b, "parameters") != NULL
			 ? json_incref(json_object_get(b, "parameters"))
			 : json_loads(PQgetvalue(cur, 0, 1), 0, NULL);
	types = json_object_get(b, "parameter_types") != NULL
			? json_incref(json_object_get(b, "parameter_types"))
			: json_loads(PQgetvalue(cur, 0, 2), 0, NULL);
	if (!check_workflow(r, sql, params, types, &c))
		goto out;
	name = json_string_value(json_object_get(b, "name"));
	description = json_string_value(json_object_get(b, "description"));
	workflow_run(r, sql_update, 9,
		     (const char *[]){ r->user_id, admin(r), r->segs[1], name, description, sql,
				       c.params, c.types, version },
		     patch_written);
out:
	json_decref(params);
	json_decref(types);
	free(c.params);
	free(c.types);
	pgq_free(q);
}

void routes_workflows_patch(Req *r)
{
	const char *s;
	json_t *ev;

	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	/* types first, so the merge in patch_current can trust them */
	if (!req_parse_body(r) || !req_opt_string(r, "name", NAME_MAX_LEN, &s) ||
	    !req_opt_string(r, "description", DESCRIPTION_MAX_LEN, &s) ||
	    !req_opt_string(r, "sql_query", SQL_MAX_LEN, &s))
		return;
	ev = json_object_get(r->body, "expected_version");
	if (ev != NULL && !json_is_integer(ev)) {
		req_fail(r, 400, "invalid_type", "expected_version",
			 "expected_version must be an integer");
		return;
	}
	/* what create requires stays required: an edit cannot blank the name or the SQL */
	static const char *const required[] = { "name", "sql_query" };
	for (size_t i = 0; i < ARRAY_LEN(required); i++) {
		const char *v = json_string_value(json_object_get(r->body, required[i]));

		if (v != NULL && v[0] == '\0') {
			req_fail(r, 400, "missing_field", required[i], "%s must not be empty",
				 required[i]);
			return;
		}
	}
	if (json_object_size(r->body) == 0 || (json_object_size(r->body) == 1 && ev != NULL)) {
		req_fail(r, 400, "missing_field", NULL,
			 "nothing to change: give name, description, sql_query, parameters or "
			 "parameter_types");
		return;
	}
	workflow_run(r, sql_current, 3, (const char *[]){ r->user_id, admin(r), r->segs[1] },
		     patch_current);
}

/* ---- DELETE: archive ---- */

static void delete_done(Pgq *q, void *priv)
{
	Req *r = priv;
	const PGresult *d = q->ok ? q->res[0] : NULL;
	long batches, schedules;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	batches = strtol(PQgetvalue(d, 0, 3), NULL, 10);
	schedules = strtol(PQgetvalue(d, 0, 4), NULL, 10);
	if (PQgetvalue(d, 0, 0)[0] != 't')
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
	else if (PQgetvalue(d, 0, 1)[0] != 't')
		req_fail(r, 403, "workflow_read_only", NULL,
			 "the workflow is shared with you; only its owner deletes it");
	else if (PQgetvalue(d, 0, 2)[0] == 't')
		req_fail(r, 409, "workflow_archived", NULL, "the workflow is already deleted");
	else if (PQgetvalue(d, 0, 5)[0] != 't')
		req_fail(r, 409, "workflow_in_use", NULL,
			 "the workflow is in use: %ld running batch%s and %ld schedule%s (let the "
			 "batches finish or cancel them, and delete the schedules first)",
			 batches, batches == 1 ? "" : "es", schedules, schedules == 1 ? "" : "s");
	else {
		log_info("user %s archived workflow %s", r->user_id, r->segs[1]);
		workflow_run(r, sql_get, 3, (const char *[]){ r->user_id, admin(r), r->segs[1] },
			     one_done);
	}
out:
	pgq_free(q);
}

void routes_workflows_delete(Req *r)
{
	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	workflow_run(r, sql_delete, 3, (const char *[]){ r->user_id, admin(r), r->segs[1] },
		     delete_done);
}
