/* routes_results.c - GET /workflows/batch/{b}/results: per-instance outcomes and the
 * aggregated rows of the completed executions, read from the PostgreSQL archive, rows paged
 * with ?limit=&offset= and built in result_columns order (jsonb does not keep key order). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgq.h"
#include "shape.h"

#define ROWS_DEFAULT 1000
#define ROWS_MAX 10000

/* $1 batch id, $2 user id, $3 is admin (see PGQ_BATCH_EXECS_CTE); $4 limit, $5 offset */
static const char sql_batch[] =
	"SELECT b.batch_id, b.status, b.total_instances, b.completed_instances, b.failed_instances,"
	"       b.time_window::text,"
	"       (SELECT p.batch_id FROM batch_executions p WHERE p.id = b.parent_batch_id),"
	"       (SELECT coalesce(json_agg(c.batch_id ORDER BY c.created_at, c.id), '[]')::text"
	"          FROM batch_executions c WHERE c.parent_batch_id = b.id)"
	"  FROM batch_executions b WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
#define SQL_INSTANCES(cte) \
	cte \
	"SELECT ex.target_instance_id AS instance_id, i.instance_name, i.region AS instance_region," \
	"       ex.execution_id, ex.status, ex.row_count, ex.duration_seconds," \
	"       " PGQ_ISO("ex.completed_at") " AS completed_at, ex.error_message AS error," \
	"       ex.time_window_start, ex.time_window_end, ex.time_window_timezone" \
	"  FROM ex LEFT JOIN instances i ON i.id = ex.target_instance_id" \
	" ORDER BY ex.ord, ex.execution_id"
#define SQL_TOTAL(cte) \
	cte \
	"SELECT count(*) FROM ex JOIN result_rows r ON r.execution_id = ex.id" \
	" WHERE ex.status = 'completed'"
#define SQL_ROWS(cte) \
	cte \
	"SELECT i.instance_name, ex.target_instance_id, r.row_data::text" \
	"  FROM ex JOIN result_rows r ON r.execution_id = ex.id" \
	"  LEFT JOIN instances i ON i.id = ex.target_instance_id" \
	" WHERE ex.status = 'completed'" \
	" ORDER BY ex.ord, ex.execution_id, r.row_number LIMIT $4::integer OFFSET $5::integer"

/* [0] the batch's own executions, [1] with ?include_retries=true: per instance the latest
 * completed one across the batch and its retries (pgq.h) */
static const char *const sql_instances[2] = { SQL_INSTANCES(PGQ_BATCH_EXECS_CTE),
					      SQL_INSTANCES(PGQ_BATCH_EXECS_RETRIES_CTE) };
static const char *const sql_columns[2] = { PGQ_SQL_RESULT_COLUMNS,
					    PGQ_SQL_RESULT_COLUMNS_OF(PGQ_BATCH_EXECS_RETRIES_CTE) };
static const char *const sql_total[2] = { SQL_TOTAL(PGQ_BATCH_EXECS_CTE),
					  SQL_TOTAL(PGQ_BATCH_EXECS_RETRIES_CTE) };
static const char *const sql_rows[2] = { SQL_ROWS(PGQ_BATCH_EXECS_CTE),
					 SQL_ROWS(PGQ_BATCH_EXECS_RETRIES_CTE) };

/* aggregated_data from the columns, total and rows results. NULL on OOM. */
static json_t *aggregate(const PGresult *cols_res, const PGresult *total_res,
			 const PGresult *rows_res)
{
	int n = PQntuples(rows_res);
	/* the row texts stay owned by rows_res; this array only points into it */
	ShapeRow *rows = calloc(n > 0 ? (size_t)n : 1, sizeof(*rows));
	json_t *agg;

	if (rows == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
		rows[i] = (ShapeRow){ .instance_name = pgq_val(rows_res, i, 0),
				      .instance_id = pgq_val(rows_res, i, 1),
				      .data = pgq_val(rows_res, i, 2) };
	agg = shape_aggregated(PQntuples(cols_res) == 1 ? pgq_val(cols_res, 0, 0) : NULL,
			       rows, (size_t)n, strtoll(PQgetvalue(total_res, 0, 0), NULL, 10));
	free(rows);
	return agg;
}

/* instance_results from sql_instances' columns, in their SELECT order. NULL on OOM. */
static json_t *instances(const PGresult *res)
{
	json_t *a = json_array();

	for (int i = 0; a != NULL && i < PQntuples(res); i++) {
		ShapeInstance in = {
			.instance_id = pgq_val(res, i, 0),
			.instance_name = pgq_val(res, i, 1),
			.instance_region = pgq_val(res, i, 2),
			.execution_id = pgq_val(res, i, 3),
			.status = pgq_val(res, i, 4),
			.row_count = pgq_val(res, i, 5),
			.duration_seconds = pgq_val(res, i, 6),
			.completed_at = pgq_val(res, i, 7),
			.error = pgq_val(res, i, 8),
			.window_start = pgq_val(res, i, 9),
			.window_end = pgq_val(res, i, 10),
			.window_timezone = pgq_val(res, i, 11),
		};

		if (json_array_append_new(a, shape_instance_result(&in)) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

static void results_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *b;
	ShapeResultsHead h;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
		goto out;
	}
	h = (ShapeResultsHead){
		.batch_id = pgq_val(q->res[0], 0, 0),
		.status = pgq_val(q->res[0], 0, 1),
		.total_instances = pgq_val(q->res[0], 0, 2),
		.completed_instances = pgq_val(q->res[0], 0, 3),
		.failed_instances = pgq_val(q->res[0], 0, 4),
		.window = pgq_val(q->res[0], 0, 5),
		.parent_batch_id = pgq_val(q->res[0], 0, 6),
		.retries = pgq_val(q->res[0], 0, 7),
	};
	/* shape_batch_results takes both arrays, also when one of them is NULL (OOM) */
	b = shape_batch_results(&h, instances(q->res[1]),
				aggregate(q->res[2], q->res[3], q->res[4]));
	if (b == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "batch_results", b));
out:
	pgq_free(q);
}

void routes_results_get(Req *r)
{
	long limit, offset;
	char slimit[24], soffset[24];
	bool retries;
	Pgq *q;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if (!req_query_int(r, "limit", ROWS_DEFAULT, 0, ROWS_MAX, &limit) ||
	    !req_query_int(r, "offset", 0, 0, 2000000000L, &offset) ||
	    !req_query_bool(r, "include_retries", false, &retries))
		return;
	snprintf(slimit, sizeof(slimit), "%ld", limit);
	snprintf(soffset, sizeof(soffset), "%ld", offset);
	{
		const char *p[] = { r->segs[2], r->user_id, r->is_admin ? "true" : "false",
				    slimit, soffset };

		q = pgq_new();
		if (q == NULL || !pgq_add(q, sql_batch, 3, p) ||
		    !pgq_add(q, sql_instances[retries], 3, p) ||
		    !pgq_add(q, sql_columns[retries], 3, p) || !pgq_add(q, sql_total[retries], 3, p) ||
		    !pgq_add(q, sql_rows[retries], 5, p) || !pgq_run(r->api->pg, q, results_done, r)) {
			pgq_free(q);
			req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		}
	}
}
