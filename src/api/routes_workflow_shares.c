/* routes_workflow_shares.c - a workflow's versions (GET /workflows/{id}/versions[/{n}]: what
 * each version ran, who made it, how many batches ran it) and its sharing (GET, POST
 * /workflows/{id}/shares, DELETE /workflows/{id}/shares/{user_id}): the owner (or an admin)
 * lets other users read it, or read and run it. A share does not let them edit, delete or
 * share it on. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgq.h"
#include "workflow.h"

#define EMAIL_MAX 320

/* $1 user id, $2 is admin, $3 workflow id: the workflow if the user sees it (workflow.h's
 * WORKFLOW_VISIBLE), w.owner whether they may manage it */
#define SEEN_CTE \
	"WITH w AS (SELECT w.id, w.user_id, w.archived_at," WORKFLOW_OWNER \
	" AS owner" WORKFLOW_FROM "  WHERE w.id = $3::uuid AND" WORKFLOW_VISIBLE ") "

#define VERSION_COLS \
	"v.version, v.name, v.description, v.sql_query, v.parameters, v.parameter_types," \
	" v.created_by, u.email AS created_by_email, " PGQ_ISO( \
		"v.created_at") " AS created_at," \
				" (SELECT count(*) FROM batch_executions b WHERE b.workflow_id = v.workflow_id" \
				"    AND b.workflow_version = v.version) AS batches"
#define VERSION_TYPES "isssjjsssi"
/* $4 one version, or NULL for all (newest first) */
static const char sql_versions[] =
	SEEN_CTE "SELECT " VERSION_COLS " FROM w JOIN workflow_versions v ON v.workflow_id = w.id"
		 "  LEFT JOIN users u ON u.id = v.created_by"
		 " WHERE $4::integer IS NULL OR v.version = $4::integer ORDER BY v.version DESC";

static const char sql_seen[] = SEEN_CTE "SELECT owner FROM w";
#define SHARE_COLS "sh.user_id, u.email, sh.permission, " PGQ_ISO("sh.created_at") " AS created_at"
#define SHARE_TYPES "ssss"
static const char sql_shares[] =
	SEEN_CTE "SELECT " SHARE_COLS " FROM w JOIN workflow_shares sh ON sh.workflow_id = w.id"
		 "  JOIN users u ON u.id = sh.user_id WHERE w.owner ORDER BY u.email";
/* $4 the user's UUID or NULL, $5 their e-mail or NULL, $6 the permission. Columns: seen, owner,
 * archived, the user found, they own it, then the share as SHARE_COLS (NULL if none made). */
static const char sql_share[] = SEEN_CTE
	", u AS (SELECT id, email FROM users WHERE id = $4::uuid OR lower(email) = lower($5))"
	", sh AS (INSERT INTO workflow_shares (workflow_id, user_id, permission, shared_by)"
	"         SELECT w.id, u.id, $6, $1::uuid FROM w, u"
	"          WHERE w.owner AND w.archived_at IS NULL AND u.id <> w.user_id"
	"         ON CONFLICT (workflow_id, user_id) DO UPDATE SET permission = EXCLUDED.permission"
	"         RETURNING *)"
	" SELECT EXISTS (SELECT 1 FROM w), coalesce((SELECT owner FROM w), false),"
	"        coalesce((SELECT archived_at IS NOT NULL FROM w), false), EXISTS (SELECT 1 FROM u),"
	"        EXISTS (SELECT 1 FROM u, w WHERE u.id = w.user_id), " SHARE_COLS
	"   FROM (SELECT 1) one LEFT JOIN sh ON true LEFT JOIN u ON u.id = sh.user_id";
/* $4 the user. Columns: seen, owner, removed */
static const char sql_unshare[] = SEEN_CTE
	", d AS (DELETE FROM workflow_shares sh USING w WHERE w.owner AND sh.workflow_id = w.id"
	"         AND sh.user_id = $4::uuid RETURNING 1)"
	" SELECT EXISTS (SELECT 1 FROM w), coalesce((SELECT owner FROM w), false),"
	"        EXISTS (SELECT 1 FROM d)";

static const char *admin(const Req *r)
{
	return r->is_admin ? "true" : "false";
}

/* ---- versions ---- */

static void versions_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows;
	bool one = r->nsegs > 3; /* /workflows/{id}/versions/{n} */

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) == 0) /* every workflow has its version 1 */
		req_fail(r, 404, one ? "version_not_found" : "workflow_not_found", NULL,
			 one ? "no such version of this workflow" : "workflow not found");
	else if ((rows = one ? pgq_row_json(q->res[0], 0, VERSION_TYPES)
			     : pgq_rows_json(q->res[0], VERSION_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", one ? "version" : "versions", rows));
	pgq_free(q);
}

void routes_workflow_versions(Req *r)
{
	const char *n = r->nsegs > 3 ? r->segs[3] : NULL;
	char *end;
	long v = n != NULL ? strtol(n, &end, 10) : 0;

	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	if (n != NULL && (*n == '\0' || *end != '\0' || v < 1 || v > 1000000000L)) {
		req_fail(r, 404, "version_not_found", NULL, "no such version of this workflow");
		return;
	}
	workflow_run(r, sql_versions, 4, (const char *[]){ r->user_id, admin(r), r->segs[1], n },
		     versions_done);
}

/* ---- shares ---- */

static void shares_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *rows;

	if (!q->ok)
		pgq_fail(r, q);
	else if (PQntuples(q->res[0]) != 1)
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
	else if (PQgetvalue(q->res[0], 0, 0)[0] != 't')
		req_fail(r, 403, "workflow_read_only", NULL,
			 "the workflow is shared with you; only its owner sees whom with");
	else if ((rows = pgq_rows_json(q->res[1], SHARE_TYPES)) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "shares", rows));
	pgq_free(q);
}

void routes_workflow_shares_list(Req *r)
{
	const char *p[] = { r->user_id, admin(r), r->segs[1] };
	Pgq *q;

	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_seen, 3, p) || !pgq_add(q, sql_shares, 3, p) ||
	    !pgq_run(r->api->pg, q, shares_done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}

/* The answers both share and unshare give before their own: false after replying. */
static bool managed(Req *r, const PGresult *res)
{
	if (PQgetvalue(res, 0, 0)[0] != 't') {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return false;
	}
	if (PQgetvalue(res, 0, 1)[0] != 't') {
		req_fail(r, 403, "workflow_read_only", NULL,
			 "the workflow is shared with you; only its owner shares it");
		return false;
	}
	return true;
}

static void share_done(Pgq *q, void *priv)
{
	Req *r = priv;
	const PGresult *res = q->ok ? q->res[0] : NULL;
	json_t *row;

	if (!q->ok)
		pgq_fail(r, q);
	else if (!managed(r, res))
		;
	else if (PQgetvalue(res, 0, 2)[0] == 't')
		req_fail(r, 409, "workflow_archived", NULL, "the workflow was deleted (archived)");
	else if (PQgetvalue(res, 0, 3)[0] != 't')
		req_fail(r, 404, "user_not_found", "user", "no user %s",
			 json_string_value(json_object_get(r->body, "user")));
	else if (PQgetvalue(res, 0, 4)[0] == 't')
		req_fail(r, 422, "invalid_value", "user",
			 "the owner of a workflow needs no share of it");
	else if ((row = json_pack("{s:s?,s:s?,s:s?,s:s?}", "user_id", pgq_val(res, 0, 5), "email",
				  pgq_val(res, 0, 6), "permission", pgq_val(res, 0, 7),
				  "created_at", pgq_val(res, 0, 8))) == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else {
		log_info("user %s shared workflow %s with %s (%s)", r->user_id, r->segs[1],
			 json_string_value(json_object_get(row, "user_id")),
			 json_string_value(json_object_get(row, "permission")));
		req_success(r, 200, json_pack("{s:o}", "share", row));
	}
	pgq_free(q);
}

void routes_workflow_shares_create(Req *r)
{
	const char *user, *perm;

	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	if (!req_parse_body(r) || !req_need_string(r, "user", EMAIL_MAX, &user) ||
	    !req_opt_string(r, "permission", 8, &perm))
		return;
	if (perm == NULL)
		perm = "read";
	if (strcmp(perm, "read") != 0 && strcmp(perm, "run") != 0) {
		req_fail(r, 422, "invalid_value", "permission", "permission must be read or run");
		return;
	}
	/* the user by UUID or by e-mail: two parameters, so no text is cast to uuid */
	workflow_run(r, sql_share, 6,
		     (const char *[]){ r->user_id, admin(r), r->segs[1],
				       ids_is_uuid(user) ? user : NULL,
				       ids_is_uuid(user) ? NULL : user, perm },
		     share_done);
}

static void unshare_done(Pgq *q, void *priv)
{
	Req *r = priv;

	if (!q->ok)
		pgq_fail(r, q);
	else if (!managed(r, q->res[0]))
		;
	else if (PQgetvalue(q->res[0], 0, 2)[0] != 't')
		req_fail(r, 404, "share_not_found", NULL,
			 "the workflow is not shared with that user");
	else
		req_success(
			r, 200,
			json_pack("{s:{s:s,s:b}}", "share", "user_id", r->segs[3], "removed", 1));
	pgq_free(q);
}

void routes_workflow_shares_delete(Req *r)
{
	if (!ids_is_uuid(r->segs[1])) {
		req_fail(r, 404, "workflow_not_found", NULL, "workflow not found");
		return;
	}
	if (!ids_is_uuid(r->segs[3])) {
		req_fail(r, 404, "share_not_found", NULL,
			 "the workflow is not shared with that user");
		return;
	}
	workflow_run(r, sql_unshare, 4,
		     (const char *[]){ r->user_id, admin(r), r->segs[1], r->segs[3] },
		     unshare_done);
}
