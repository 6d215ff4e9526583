/* routes_results.c - GET /workflows/batch/{b}/results: per-instance outcomes and the
 * aggregated rows of the completed executions, read from the PostgreSQL archive, rows paged
 * with ?limit=&offset= and built in result_columns order (jsonb does not keep key order). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgq.h"

#define ROWS_DEFAULT 1000
#define ROWS_MAX 10000

/* $1 batch id, $2 user id, $3 is admin: the caller's batch, with each execution's position
 * in the batch's instance_ids (instance order). */
#define BATCH_CTE \
	"WITH b AS (SELECT id, instance_ids FROM batch_executions" \
	"            WHERE batch_id = $1 AND ($3::boolean OR user_id = $2::uuid))," \
	" ex AS (SELECT e.*, t.ord FROM workflow_executions e JOIN b ON e.batch_execution_id = b.id" \
	"        LEFT JOIN LATERAL (SELECT x.ord FROM jsonb_array_elements_text(b.instance_ids)" \
	"             WITH ORDINALITY AS x(v, ord) WHERE x.v = e.target_instance_id::text) t ON true) "

static const char sql_batch[] =
	"SELECT batch_id, status, total_instances, completed_instances, failed_instances"
	"  FROM batch_executions WHERE batch_id = $1 AND ($3::boolean OR user_id = $2::uuid)";
static const char sql_instances[] =
	BATCH_CTE
	"SELECT ex.target_instance_id AS instance_id, i.instance_name, i.region AS instance_region,"
	"       ex.execution_id, ex.status, ex.row_count, ex.duration_seconds,"
	"       " PGQ_ISO("ex.completed_at") " AS completed_at, ex.error_message AS error"
	"  FROM ex LEFT JOIN instances i ON i.id = ex.target_instance_id"
	" ORDER BY ex.ord, ex.execution_id";
static const char sql_columns[] =
	BATCH_CTE
	"SELECT ex.result_columns::text FROM ex"
	" WHERE ex.status = 'completed' AND jsonb_typeof(ex.result_columns) = 'array'"
	" ORDER BY ex.ord, ex.execution_id LIMIT 1";
static const char sql_total[] =
	BATCH_CTE
	"SELECT count(*) FROM ex JOIN result_rows r ON r.execution_id = ex.id"
	" WHERE ex.status = 'completed'";
static const char sql_rows[] =
	BATCH_CTE
	"SELECT i.instance_name, ex.target_instance_id, r.row_data::text"
	"  FROM ex JOIN result_rows r ON r.execution_id = ex.id"
	"  LEFT JOIN instances i ON i.id = ex.target_instance_id"
	" WHERE ex.status = 'completed'"
	" ORDER BY ex.ord, ex.execution_id, r.row_number LIMIT $4::integer OFFSET $5::integer";

static json_t *opt(const char *v)
{
	return v != NULL ? json_string(v) : json_null();
}

/* aggregated_data from the columns, total and rows results. NULL on OOM. */
static json_t *aggregate(const PGresult *cols_res, const PGresult *total_res,
			 const PGresult *rows_res)
{
	json_t *cols = NULL, *src_cols, *rows = json_array(), *c, *out;
	size_t k;

	src_cols = PQntuples(cols_res) == 1 ?
		json_loads(PQgetvalue(cols_res, 0, 0), 0, NULL) : json_array();
	cols = json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "_instance_name", "type", "string",
			 "name", "_instance_id", "type", "string");
	if (src_cols == NULL || cols == NULL || rows == NULL)
		goto oom;
	json_array_foreach(src_cols, k, c)
		if (json_is_string(json_object_get(c, "name")))
			json_array_append(cols, c);
	for (int i = 0; i < PQntuples(rows_res); i++) {
		json_t *data = json_loads(PQgetvalue(rows_res, i, 2), 0, NULL);
		json_t *row = json_pack("{s:o, s:o}", "_instance_name", opt(pgq_val(rows_res, i, 0)),
					"_instance_id", opt(pgq_val(rows_res, i, 1)));

		if (row == NULL || json_array_append_new(rows, row) != 0) {
			json_decref(data);
			goto oom;
		}
		json_array_foreach(src_cols, k, c) {
			const char *name = json_string_value(json_object_get(c, "name"));
			json_t *v = json_object_get(data, name != NULL ? name : "");

			if (name != NULL)
				json_object_set(row, name, v != NULL ? v : json_null());
		}
		json_decref(data);
	}
	json_decref(src_cols);
	out = json_pack("{s:o, s:o, s:I}", "columns", cols, "rows", rows, "total_rows",
			(json_int_t)strtoll(PQgetvalue(total_res, 0, 0), NULL, 10));
	return out;
oom:
	json_decref(src_cols);
	json_decref(cols);
	json_decref(rows);
	return NULL;
}

static void results_done(Pgq *q, void *priv)
{
	Req *r = priv;
	json_t *b, *inst, *agg;

	if (!q->ok) {
		pgq_fail(r, q);
		goto out;
	}
	if (PQntuples(q->res[0]) != 1) {
		req_fail(r, 404, "batch_not_found", NULL, "batch %s not found", r->segs[2]);
		goto out;
	}
	b = pgq_row_json(q->res[0], 0, "ssiii");
	inst = pgq_rows_json(q->res[1], "sssssinss");
	agg = aggregate(q->res[2], q->res[3], q->res[4]);
	if (b == NULL || inst == NULL || agg == NULL) {
		json_decref(b);
		json_decref(inst);
		json_decref(agg);
		req_fail(r, 500, "internal", NULL, "out of memory");
		goto out;
	}
	json_object_set_new(b, "instance_results", inst);
	json_object_set_new(b, "aggregated_data", agg);
	req_success(r, 200, json_pack("{s:o}", "batch_results", b));
out:
	pgq_free(q);
}

void routes_results_get(Req *r)
{
	long limit, offset;
	char slimit[24], soffset[24];
	Pgq *q;

	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	if (!req_query_int(r, "limit", ROWS_DEFAULT, 0, ROWS_MAX, &limit) ||
	    !req_query_int(r, "offset", 0, 0, 2000000000L, &offset))
		return;
	snprintf(slimit, sizeof(slimit), "%ld", limit);
	snprintf(soffset, sizeof(soffset), "%ld", offset);
	{
		const char *p[] = { r->segs[2], r->user_id, r->is_admin ? "true" : "false",
				    slimit, soffset };

		q = pgq_new();
		if (q == NULL || !pgq_add(q, sql_batch, 3, p) || !pgq_add(q, sql_instances, 3, p) ||
		    !pgq_add(q, sql_columns, 3, p) || !pgq_add(q, sql_total, 3, p) ||
		    !pgq_add(q, sql_rows, 5, p) || !pgq_run(r->api->pg, q, results_done, r)) {
			pgq_free(q);
			req_fail(r, 503, "database_unavailable", NULL, "PostgreSQL is unavailable");
		}
	}
}
