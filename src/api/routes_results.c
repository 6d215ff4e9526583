/* routes_results.c - GET /workflows/batch/{b}/results: per-instance outcomes and the
 * aggregated rows of the completed executions, read from the PostgreSQL archive, rows paged
 * with ?limit= and ?cursor= (or ?offset=) and built in result_columns order (the row objects'
 * own key order is not relied on). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgq.h"
#include "shape.h"

#define ROWS_DEFAULT 1000
#define ROWS_MAX 10000
#define OFFSET_MAX 2000000000L
#define CURSOR_MAX 64 /* "exec_0a1b2c3d:2147483647" and room to spare */

/* $1 batch id, $2 user id, $3 is admin (see PGQ_BATCH_EXECS_CTE); $4 limit, $5 offset */
static const char sql_batch[] =
	"SELECT b.batch_id, b.status, b.total_instances, b.completed_instances, b.failed_instances,"
	"       b.time_window::text,"
	"       (SELECT p.batch_id FROM batch_executions p WHERE p.id = b.parent_batch_id),"
	"       (SELECT coalesce(json_agg(c.batch_id ORDER BY c.created_at, c.id), '[]')::text"
	"          FROM batch_executions c WHERE c.parent_batch_id = b.id)"
	"  FROM batch_executions b WHERE b.batch_id = $1 AND ($3::boolean OR b.user_id = $2::uuid)";
#define SQL_INSTANCES(cte) \
	cte "SELECT ex.target_instance_id AS instance_id, i.instance_name, i.region AS instance_region," \
	    "       ex.execution_id, ex.status, ex.row_count, ex.duration_seconds," \
	    "       " PGQ_ISO( \
		    "ex.completed_at") " AS completed_at, ex.error_message AS error," \
				       "       ex.time_window_start, ex.time_window_end, ex.time_window_timezone" \
				       "  FROM ex LEFT JOIN instances i ON i.id = ex.target_instance_id" \
				       " ORDER BY ex.ord, ex.execution_id"
/* The completed executions of "ex" in result order, each with n, its row count (written
 * once, when it was archived), and before, the rows of the executions ahead of it. Row
 * numbers run 1..row_count without gaps (the archiver numbers them), so a position in the
 * batch's rows is an execution and a row number, and a page is one row-number range of the
 * typed table (amcbatch_results.<execution id>, BRIN on row_number) of each execution it
 * touches, turned into result_rows' JSON objects by amcbatch_result_rows_json() (sql/019; json,
 * not jsonb: shape.c writes the keys in result_columns order, so jsonb's sorting bought nothing): its
 * cost does not depend on where it starts or on the batch's size. */
#define SQL_COUNTED \
	", c AS (SELECT ex.id, ex.execution_id, ex.target_instance_id, ex.ord, ex.result_table," \
	"        ex.result_columns," \
	"        coalesce(ex.row_count, 0)::bigint AS n," \
	"        (sum(coalesce(ex.row_count, 0)) OVER (ORDER BY ex.ord, ex.execution_id" \
	"             ROWS UNBOUNDED PRECEDING) - coalesce(ex.row_count, 0))::bigint AS before" \
	"        FROM ex WHERE ex.status = 'completed') "
/* $4 and $5 the cursor (execution id, row number; NULL without one): the total, and the
 * cursor's position (NULL when it names no completed execution of this batch) */
#define SQL_TOTAL(cte) \
	cte SQL_COUNTED \
		"SELECT coalesce(sum(c.n), 0)," \
		"       (SELECT k.before + $5::bigint FROM c k WHERE k.execution_id = $4) FROM c"
/* $4 limit, $5 offset, $6 and $7 the cursor (execution id, row number; NULL without one):
 * the page starts after the cursor's row, else at the offset */
#define SQL_ROWS(cte) \
	cte SQL_COUNTED \
		", s AS (SELECT coalesce((SELECT c.before + $7::bigint FROM c WHERE c.execution_id = $6)," \
		"                        $5::bigint) AS pos) " \
		"SELECT i.instance_name, c.target_instance_id, r.row_data::text, c.execution_id, r.row_number" \
		"  FROM c CROSS JOIN s" \
		"  CROSS JOIN LATERAL amcbatch_result_rows_json(to_regclass(c.result_table), c.result_columns," \
		"        greatest(s.pos - c.before + 1, 1)::integer," \
		"        least(s.pos + $4::bigint - c.before, c.n)::integer) r" \
		"  LEFT JOIN instances i ON i.id = c.target_instance_id" \
		" WHERE c.before < s.pos + $4::bigint AND c.before + c.n > s.pos" \
		" ORDER BY c.ord, c.execution_id, r.row_number"

/* [0] the batch's own executions, [1] with ?include_retries=true: per instance the latest
 * completed one across the batch and its retries (pgq.h) */
static const char *const sql_instances[2] = { SQL_INSTANCES(PGQ_BATCH_EXECS_CTE),
					      SQL_INSTANCES(PGQ_BATCH_EXECS_RETRIES_CTE) };
static const char *const sql_total[2] = { SQL_TOTAL(PGQ_BATCH_EXECS_CTE),
					  SQL_TOTAL(PGQ_BATCH_EXECS_RETRIES_CTE) };
static const char *const sql_rows[2] = { SQL_ROWS(PGQ_BATCH_EXECS_CTE),
					 SQL_ROWS(PGQ_BATCH_EXECS_RETRIES_CTE) };

/* aggregated_data from the columns, total and rows results, with next_cursor: the last row
 * of a full page that is not the batch's last ("<execution id>:<row number>"), else null.
 * NULL on OOM. */
static json_t *aggregate(const PGresult *cols_res, const PGresult *total_res,
			 const PGresult *rows_res, long limit, long long first)
{
	int n = PQntuples(rows_res);
	long long total = strtoll(PQgetvalue(total_res, 0, 0), NULL, 10);
	/* the row texts stay owned by rows_res; this array only points into it */
	ShapeRow *rows = calloc(n > 0 ? (size_t)n : 1, sizeof(*rows));
	json_t *agg, *next = json_null();
	char cursor[CURSOR_MAX];

	if (rows == NULL)
		return NULL;
	for (int i = 0; i < n; i++)
		rows[i] = (ShapeRow){ .instance_name = pgq_val(rows_res, i, 0),
				      .instance_id = pgq_val(rows_res, i, 1),
				      .data = pgq_val(rows_res, i, 2) };
	agg = shape_aggregated(PQntuples(cols_res) == 1 ? pgq_val(cols_res, 0, 0) : NULL, rows,
			       (size_t)n, total);
	free(rows);
	if (n > 0 && n == limit && (first < 0 || first + n < total)) {
		snprintf(cursor, sizeof(cursor), "%s:%s", PQgetvalue(rows_res, n - 1, 3),
			 PQgetvalue(rows_res, n - 1, 4));
		next = json_string(cursor);
	}
	if (agg != NULL && json_object_set_new(agg, "next_cursor", next) != 0) {
		json_decref(agg);
		agg = NULL;
	}
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
	/* the page's request, read back from the rows statement's parameters (owned by q) */
	long limit = strtol(q->stmt[4].params[3], NULL, 10);
	bool by_cursor = q->stmt[4].params[5] != NULL;
	long long first;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
		goto out;
	}
	if (by_cursor && PQgetisnull(q->res[3], 0, 1)) {
		req_fail(r, 400, "invalid_parameter", "cursor",
			 "cursor does not name a row of this batch's results");
		goto out;
	}
	first = strtoll(by_cursor ? PQgetvalue(q->res[3], 0, 1) : q->stmt[4].params[4], NULL, 10);
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
				aggregate(q->res[2], q->res[3], q->res[4], limit, first));
	if (b == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_success(r, 200, json_pack("{s:o}", "batch_results", b));
out:
	pgq_free(q);
}

/* "exec_0a1b2c3d:123" (the next_cursor of a page) into its execution id and row number
 * (1 .. 2^31-1); false when it is not one. */
static bool parse_cursor(const char *v, char *exec, size_t execlen, char *row, size_t rowlen)
{
	const char *colon = v != NULL ? strchr(v, ':') : NULL;
	char *end;
	long n;

	if (colon == NULL || (size_t)(colon - v) >= execlen)
		return false;
	memcpy(exec, v, (size_t)(colon - v));
	exec[colon - v] = '\0';
	n = strtol(colon + 1, &end, 10);
	if (!ids_is_exec(exec) || end == colon + 1 || *end != '\0' || n < 1 || n > 2147483647L)
		return false;
	snprintf(row, rowlen, "%ld", n);
	return true;
}

void routes_results_get(Req *r)
{
	long limit, offset;
	char slimit[24], soffset[24], cexec[CURSOR_MAX], crow[24];
	const char *cursor;
	bool retries;
	Pgq *q;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if (!req_query_int(r, "limit", ROWS_DEFAULT, 0, ROWS_MAX, &limit) ||
	    !req_query_int(r, "offset", 0, 0, OFFSET_MAX, &offset) ||
	    !req_query_bool(r, "include_retries", false, &retries))
		return;
	cursor = req_query(r, "cursor");
	if (cursor != NULL && *cursor == '\0')
		cursor = NULL;
	if (cursor != NULL && !parse_cursor(cursor, cexec, sizeof(cexec), crow, sizeof(crow))) {
		req_fail(r, 400, "invalid_parameter", "cursor",
			 "cursor must be the next_cursor of a results page");
		return;
	}
	snprintf(slimit, sizeof(slimit), "%ld", limit);
	snprintf(soffset, sizeof(soffset), "%ld", offset);
	{
		const char *c1 = cursor != NULL ? cexec : NULL, *c2 = cursor != NULL ? crow : NULL;
		const char *p[] = { r->segs[2], r->user_id, r->is_admin ? "true" : "false",
				    slimit,     soffset,    c1,
				    c2 };
		const char *pt[] = { p[0], p[1], p[2], c1, c2 };

		q = pgq_new();
		if (q == NULL || !pgq_add(q, sql_batch, 3, p) ||
		    !pgq_add(q, sql_instances[retries], 3, p) ||
		    !pgq_add(q, pgq_sql_result_columns[retries], 3, p) ||
		    !pgq_add(q, sql_total[retries], 5, pt) ||
		    !pgq_add(q, sql_rows[retries], 7, p) ||
		    !pgq_run(r->api->pg, q, results_done, r)) {
			pgq_free(q);
			req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		}
	}
}
