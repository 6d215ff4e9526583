/* routes_batch_get.c - GET /workflows/batch/{b}: what a batch was asked to run, as stored at
 * submission (its workflow and the version it ran, instances, shared parameters, per-instance
 * overrides, the relative window, the failure policy), for the batch page's "Run again" and
 * for anyone who wants to know what ran. Its progress is the status endpoint's. */
#include "routes.h"

#include "pgq.h"
#include "policy.h"

/* $1 batch id, $2 user id, $3 is admin */
static const char sql_batch[] =
	"SELECT b.batch_id, b.workflow_id, w.name AS workflow_name, b.workflow_version,"
	"       w.version AS workflow_current_version, b.name, b.description, b.status,"
	"       b.instance_ids, b.base_parameters AS parameters, b.instance_parameters,"
	"       b.time_window AS window, " POLICY_SQL_JSON(
		"b") " AS on_failure,"
		     "       (SELECT p.batch_id FROM batch_executions p WHERE p.id = b.parent_batch_id)"
		     "         AS parent_batch_id, b.schedule_id, b.sql_query, " PGQ_ISO(
			     "b.created_at") " AS created_at"
					     "  FROM batch_executions b JOIN workflows w ON w.id = b.workflow_id"
					     " WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
#define BATCH_TYPES "sssiisssjjjjjssss"
/* How long each of the batch's instances took to run this workflow before: the median of its
 * last 10 completed executions in other batches (the page's ETA). $1..$3 as above. */
static const char sql_expected[] =
	"SELECT coalesce(json_object_agg(x.instance_id, x.seconds), '{}')::text FROM ("
	"  SELECT e.target_instance_id AS instance_id,"
	"         percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_seconds) AS seconds"
	"    FROM batch_executions b"
	"    CROSS JOIN LATERAL jsonb_array_elements_text(b.instance_ids) AS i(id)"
	"    CROSS JOIN LATERAL (SELECT p.target_instance_id, p.duration_seconds"
	"        FROM workflow_executions p JOIN batch_executions pb ON pb.id = p.batch_execution_id"
	"       WHERE p.target_instance_id = i.id::uuid AND pb.workflow_id = b.workflow_id"
	"         AND pb.id <> b.id AND p.status = 'completed' AND p.duration_seconds IS NOT NULL"
	"       ORDER BY p.completed_at DESC LIMIT 10) e"
	"   WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)"
	"   GROUP BY e.target_instance_id) x";

static void done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *b = NULL;

	if (!q->ok) {
		pgq_fail(r, q);
	} else if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
	} else if ((b = pgq_row_json(q->res[0], 0, BATCH_TYPES)) == NULL ||
		   json_object_set_new(b, "expected_seconds",
				       json_loads(PQgetvalue(q->res[1], 0, 0), 0, NULL)) != 0) {
		json_decref(b);
		req_fail(r, 500, "internal", NULL, "out of memory");
	} else {
		req_success(r, 200, json_pack("{s:o}", "batch", b));
	}
	pgq_free(q);
}

void routes_batch_get(Req *r)
{
	const char *p[] = { r->segs[2], r->user_id, r->is_admin ? "true" : "false" };
	Pgq *q;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	q = pgq_new();
	if (q == NULL || !pgq_add(q, sql_batch, 3, p) || !pgq_add(q, sql_expected, 3, p) ||
	    !pgq_run(r->api->pg, q, done, r)) {
		pgq_free(q);
		req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
	}
}
