/* pgq.h - parameterised SQL for the routes: a job of one or more statements (several run in
 * one transaction) executed on a pgpool thread; the PGresults come back to the loop thread.
 * Also the helpers that turn result rows into JSON and SQLSTATEs into HTTP errors. */
#ifndef AMCB_PGQ_H
#define AMCB_PGQ_H

#include <jansson.h>
#include <libpq-fe.h>

#include "common.h"
#include "pgpool.h"
#include "req.h"

#define PGQ_MAX_STMTS 8
#define PGQ_MAX_PARAMS 16

/* SQL fragment: a timestamptz column as ISO-8601 UTC text ("2024-01-15T10:30:00Z"). */
#define PGQ_ISO(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* SQL prefix, $1 batch id, $2 user id, $3 is admin: "b" is the caller's batch (the owner
 * rule), "ex" its executions, each with "ord", its position in the batch's instance_ids
 * (instance order). The results endpoint and the CSV export both build on it, so they agree
 * on whose batch it is and in which order the rows come. */
#define PGQ_BATCH_EXECS_CTE \
	"WITH b AS (SELECT id, instance_ids FROM batch_executions" \
	"            WHERE batch_id = $1 AND ($3::boolean OR user_id = $2::uuid))," \
	" ex AS (SELECT e.*, t.ord FROM workflow_executions e JOIN b ON e.batch_execution_id = b.id" \
	"        LEFT JOIN LATERAL (SELECT x.ord FROM jsonb_array_elements_text(b.instance_ids)" \
	"             WITH ORDINALITY AS x(v, ord) WHERE x.v = e.target_instance_id::text) t ON true) "
/* The same `ex` over the batch and its retries (`?include_retries=true`), one execution per
 * instance of the batch: the latest completed one across the batch and every retry of it
 * (and retries of those), else the latest attempt; `ord` is the batch's instance order. */
#define PGQ_BATCH_EXECS_RETRIES_CTE \
	"WITH RECURSIVE b AS (SELECT id, instance_ids FROM batch_executions" \
	"            WHERE batch_id = $1 AND ($3::boolean OR user_id = $2::uuid))," \
	" fam AS (SELECT b.id, 0 AS depth FROM b UNION ALL SELECT c.id, f.depth + 1" \
	"         FROM batch_executions c JOIN fam f ON c.parent_batch_id = f.id WHERE f.depth < 64)," \
	" ex AS (SELECT DISTINCT ON (e.target_instance_id) e.*, t.ord" \
	"        FROM workflow_executions e JOIN fam ON e.batch_execution_id = fam.id CROSS JOIN b" \
	"        JOIN LATERAL (SELECT x.ord FROM jsonb_array_elements_text(b.instance_ids)" \
	"             WITH ORDINALITY AS x(v, ord) WHERE x.v = e.target_instance_id::text) t ON true" \
	"        ORDER BY e.target_instance_id, (e.status = 'completed') DESC, fam.depth DESC," \
	"                 e.created_at DESC) "
/* The result columns of a batch, as one row of result_columns text (none without a completed
 * execution): the columns of the results, the CSV export and the comparison. Names and order
 * are those of its first completed execution that has rows (else its first completed one);
 * each name's type is the widest of every completed execution with rows that has the column
 * (issue 13: an execution with no rows does not vote, so an empty first instance no longer
 * makes every column text; nor does one whose column has no value, "empty" in its
 * result_columns): bigint < numeric < text, date only if all are date (date and anything
 * else: text); type is "number" for bigint and numeric, else "string". "empty" is not shown. */
#define PGQ_SQL_RESULT_COLUMNS_OF(cte) \
	cte ", v AS (SELECT ex.ord, ex.execution_id, ex.result_columns," \
	    "        coalesce(ex.row_count, 0) > 0 AS votes FROM ex" \
	    "        WHERE ex.status = 'completed' AND jsonb_typeof(ex.result_columns) = 'array')," \
	    " f AS (SELECT v.result_columns FROM v ORDER BY v.votes DESC, v.ord, v.execution_id LIMIT 1)," \
	    " t AS (SELECT c.value->>'name' AS name," \
	    "        CASE WHEN bool_and(c.st = 'date') THEN 'date'" \
	    "             WHEN bool_or(c.st NOT IN ('bigint', 'numeric')) THEN 'text'" \
	    "             WHEN bool_or(c.st = 'numeric') THEN 'numeric' ELSE 'bigint' END AS st" \
	    "        FROM v CROSS JOIN LATERAL (SELECT x.value, coalesce(x.value->>'sql_type'," \
	    "             CASE WHEN x.value->>'type' = 'number' THEN 'numeric' ELSE 'text' END) AS st" \
	    "             FROM jsonb_array_elements(v.result_columns) x) c" \
	    "        WHERE v.votes AND c.value->'empty' IS DISTINCT FROM 'true' GROUP BY 1) " \
	    "SELECT (SELECT coalesce(jsonb_agg(CASE WHEN t.name IS NULL THEN c.value - 'empty'" \
	    "            ELSE c.value - 'empty' || jsonb_build_object('sql_type', t.st, 'type'," \
	    "                 CASE WHEN t.st IN ('bigint', 'numeric') THEN 'number' ELSE 'string' END)" \
	    "            END ORDER BY c.ord), '[]')" \
	    "          FROM jsonb_array_elements(f.result_columns) WITH ORDINALITY AS c(value, ord)" \
	    "          LEFT JOIN t ON t.name = c.value->>'name')::text FROM f"
#define PGQ_SQL_RESULT_COLUMNS PGQ_SQL_RESULT_COLUMNS_OF(PGQ_BATCH_EXECS_CTE)
/* [0] of the batch, [1] of the batch and its retries (?include_retries=true): the results,
 * the export and the comparison read the columns alike */
extern const char *const pgq_sql_result_columns[2];

typedef struct Pgq Pgq;

/* After the job: ok, or err/sqlstate (sqlstate "" means connection trouble). res[i] is the
 * result of statement i (owned by q, cleared by pgq_free). */
struct Pgq {
	int nstmts;
	struct {
		const char *sql; /* static string, borrowed */
		bool prepared;   /* pgq_add_prepared */
		int nparams;
		char *params[PGQ_MAX_PARAMS]; /* owned copies, NULL = SQL NULL */
	} stmt[PGQ_MAX_STMTS];
	PGresult *res[PGQ_MAX_STMTS];
	bool pipeline; /* set before pgq_run: see pgq_run */
	bool ok;
	bool connection_trouble;
	char sqlstate[6];
	char err[256];
	void (*done)(Pgq *q, void *priv);
	void *priv;
};

Pgq *pgq_new(void);
void pgq_free(Pgq *q); /* accepts NULL */
/* Adds a statement; params are copied (NULL entries are SQL NULL). False on overflow/OOM. */
MUST_CHECK bool pgq_add(Pgq *q, const char *sql, int nparams, const char *const *params);
/* pgq_add for a statement run often: it is prepared once per pool connection (named after
 * sql's address, which must be a static string's) and executed by name after that, so its
 * parse and plan are not paid again on every run (~0.2-0.8 ms each for the submit path's
 * JSON-building statements). */
MUST_CHECK bool pgq_add_prepared(Pgq *q, const char *sql, int nparams, const char *const *params);
/* Runs q (takes ownership until done, which gets it back and must pgq_free it). False if
 * it could not be queued (done not called; q still the caller's). Several statements run in
 * one transaction: BEGIN, each statement, COMMIT, one round trip each; with q->pipeline BEGIN
 * and the statements go at once in libpq's pipeline mode, then COMMIT (two round trips): the
 * same transaction and outcome, a failed statement's error and those after it unrun. */
MUST_CHECK bool pgq_run(PgPool *pool, Pgq *q, void (*done)(Pgq *q, void *priv), void *priv);

/* Replies to a failed job with the fitting error (503 connection, 409 unique, 422 foreign
 * key/check, 400 bad text representation, else 500) and frees r. */
void pgq_fail(Req *r, const Pgq *q);

/* How pgq_reply answers: the member holding the result, its columns' types, the success
 * status, and the form: status 201 is the one row an insert returned; otherwise one object
 * when missing is set (the 404 code when no row came back: an update of an unknown id), or
 * an array of every row (missing NULL). */
typedef struct PgqShape {
	const char *key;
	const char *types; /* as pgq_row_json */
	int status;
	const char *missing;
} PgqShape;

/* Runs one statement and replies {"success": true, key: row or rows} merged with the members
 * of extra (stolen; NULL for none), or the fitting error. shape is borrowed for the whole
 * job (a static). Writes by an admin (not GET) are logged with the row's id. */
void pgq_reply(Req *r, const PgqShape *shape, json_t *extra, const char *sql, int n,
	       const char *const *params);

/* Value of (row, col); NULL for SQL NULL. */
const char *pgq_val(const PGresult *res, int row, int col);
/* One row as a JSON object keyed by the column names, typed by types[col]:
 * 's' string, 'i' integer, 'n' number (integer when integral), 'b' boolean, 'j' JSON text.
 * SQL NULL becomes null. NULL on OOM. */
json_t *pgq_row_json(const PGresult *res, int row, const char *types);
/* Every row, as a JSON array. */
json_t *pgq_rows_json(const PGresult *res, const char *types);

#endif
