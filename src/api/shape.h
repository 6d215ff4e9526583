/* shape.h - the seed's JSON shapes of the status and results endpoints, built from plain C
 * inputs (Redis hash fields, PostgreSQL text values, JSON texts) by pure functions: no I/O,
 * no Api, no Req, so tests/unit/test_api_shape.c checks them without any server. */
#ifndef AMCB_SHAPE_H
#define AMCB_SHAPE_H

#include <jansson.h>

#include "common.h"

/* ---- values ---- */

/* Unix milliseconds as text ("1705314600000") -> ISO-8601 UTC ("2024-01-15T10:30:00Z").
 * False (out = "") when ms is NULL, empty or not a whole number. */
MUST_CHECK bool shape_iso_ms(const char *ms, char out[32]);
/* A string ("" stays ""), or null for NULL and text jansson refuses (invalid UTF-8). */
json_t *shape_str(const char *v);
/* Integer text -> integer; null for NULL, "", trailing garbage or out of range. */
json_t *shape_int(const char *v);
/* Numeric text (PostgreSQL numeric) -> integer when whole and within 64 bits, else real;
 * null for NULL, "" or text that is not a number. */
json_t *shape_number(const char *v);

/* An execution's AMC window {start, end, timezone} (start and end as AMC takes them,
 * "YYYY-MM-DDTHH:MM:SS" local to the zone, end exclusive; a missing zone is "UTC"), or null
 * when start or end is NULL or "". */
json_t *shape_time_window(const char *start, const char *end, const char *zone);

/* ---- status: GET /workflows/batch/{b}/status ---- */

/* One Redis hash as HGETALL returns it: n field/value pairs, NUL-terminated strings
 * (borrowed). A hash with n == 0 is a missing key. */
typedef struct ShapeKv {
	const char *key;
	const char *val;
} ShapeKv;

typedef struct ShapeHash {
	const ShapeKv *kv;
	size_t n;
} ShapeHash;

/* Value of field key (the last one if repeated), or NULL. */
const char *shape_hash_get(const ShapeHash *h, const char *key);

/* One executions[] entry from an exec hash (docs/redis-keys.md): id, execution_id,
 * target_instance_id, instance_name, status, phase, amc_execution_id, row_count, error,
 * duration_seconds (finished_at - started_at, seconds as a real), started_at, completed_at,
 * time_window ({start, end, timezone}: the AMC window resolved at submission, end exclusive;
 * null for a batch stored before windows were). Missing or empty fields are null. NULL on
 * OOM. */
json_t *shape_exec_redis(const ShapeHash *h);

/* What the status read fetches besides the hashes, for waiting_for's details (any part may be
 * missing: its detail is then left out). Borrowed. */
typedef struct ShapeLive {
	long long now_ms;         /* the reader's clock (Unix ms): "for 12 min", "in 20 s" */
	const json_t *queue;      /* the batch queue's refs "B:E" as LRANGE gives its right end
				   * (index 0 = the newest; the last is claimed next), or NULL */
	const ShapeHash *running; /* P running fields ("instance:<id>", "account:<id>") read for
				   * the parked execs, or NULL */
	long long instance_cap;   /* the caps the workers enforce; 0 = unknown */
	long long account_cap;
} ShapeLive;

/* shape_exec_redis with waiting_for's details from live (NULL: none, as shape_exec_redis):
 * queued: `ahead` (refs of its batch's queue claimed before it); instance_cap/account_cap:
 * `running` and `cap`; amc_running: `next_poll_at` and the words "AMC running for 12 min,
 * next poll in 20 s"; downloading: `spool_trouble_since`; archiving: `progress` (0-100) and
 * `pg_down_since`. */
json_t *shape_exec_live(const ShapeHash *h, const ShapeLive *live);

/* Identity and times of a batch; any field may be NULL (-> null). Times are ISO-8601. */
typedef struct ShapeBatch {
	const char *batch_id;
	const char *workflow_id;
	const char *name;
	const char *status;
	const char *started_at;
	const char *completed_at;
	const char *window;          /* the relative window as JSON text ({"type", ...}); NULL or ""
				 * when the batch gave explicit dates */
	const char *parent_batch_id; /* the batch this one retries; NULL or "" for none */
	const char *on_failure;      /* continue | fail_fast | min_success_ratio; NULL or ""
					 * = continue (a batch stored before policies were) */
	const char *min_success_ratio; /* decimal text ("0.9") with min_success_ratio */
	const char *status_reason;     /* why the policy decided the status; NULL or "" = none */
} ShapeBatch;

/* batch_status: batch_id, workflow_id, name, status, total/completed/failed/running/
 * pending (pending + queued + retry_wait)/cancelled _instances counted from execs[].status
 * (so they add up to total), started_at, completed_at, executions, status_counts (only the
 * states with a non-zero count), window (the relative window asked for, or null),
 * parent_batch_id (the batch it retries, or null), on_failure (shape_policy), status_reason
 * (why the policy decided the final status, or null). Takes
 * execs (an array, stolen, also on failure). NULL on OOM. */
json_t *shape_batch_status(const ShapeBatch *b, json_t *execs);

/* The batch policy as the API shows it: "continue" (also for NULL or ""), "fail_fast", or
 * {"min_success_ratio": r} with ratio (decimal text) as a number. New reference; NULL on OOM. */
json_t *shape_policy(const char *on_failure, const char *ratio);

/* batch_status of a batch Redis holds: its batch hash and exec hashes (in instance order;
 * missing ones, n == 0, are skipped), with live for waiting_for (NULL: none,
 * shape_exec_live). Times come from the hashes' Unix milliseconds. */
json_t *shape_status_redis(const char *batch_id, const ShapeHash *batch, const ShapeHash *execs,
			   size_t nexecs, const ShapeLive *live);

/* ---- results: GET /workflows/batch/{b}/results ---- */

/* One instance_results[] entry, as PostgreSQL text (NULL = SQL NULL). */
typedef struct ShapeInstance {
	const char *instance_id;
	const char *instance_name;
	const char *instance_region;
	const char *execution_id;
	const char *status;
	const char *row_count;        /* integer text */
	const char *duration_seconds; /* numeric text */
	const char *completed_at;     /* ISO-8601 */
	const char *error;
	const char *window_start; /* the AMC window (shape_time_window) */
	const char *window_end;
	const char *window_timezone;
} ShapeInstance;

/* {instance_id, instance_name, instance_region, execution_id, status, row_count,
 * duration_seconds, completed_at, error, time_window}; NULL on OOM. */
json_t *shape_instance_result(const ShapeInstance *in);

/* One archived result row: which instance it came from and its row_data (a JSON object
 * text; jsonb's key order, not the CSV's). */
typedef struct ShapeRow {
	const char *instance_name;
	const char *instance_id;
	const char *data;
} ShapeRow;

/* The source columns: result_columns text ([{"name":..,"type":..}] in CSV order) parsed,
 * keeping only entries with a string name; an empty array for NULL or unparsable text.
 * NULL on OOM. */
json_t *shape_source_columns(const char *result_columns);
/* A row object: _instance_name, _instance_id, then every source column in order with its
 * row_data value (null when absent). Numbers stay numbers (integers beyond 64 bits become
 * reals rather than losing the row). NULL on OOM. */
json_t *shape_row(const json_t *source_columns, const ShapeRow *row);
/* aggregated_data: {columns: [_instance_name, _instance_id, ...source columns], rows,
 * total_rows}. NULL on OOM. */
json_t *shape_aggregated(const char *result_columns, const ShapeRow *rows, size_t nrows,
			 long long total_rows);

/* The counters of the results header, as PostgreSQL text. */
typedef struct ShapeResultsHead {
	const char *batch_id;
	const char *status;
	const char *total_instances;
	const char *completed_instances;
	const char *failed_instances;
	const char *window;          /* the relative window, JSON text; NULL or "" for none */
	const char *parent_batch_id; /* the batch this one retries; NULL or "" for none */
	const char *retries;         /* its retries, a JSON array text of batch ids (NULL: []) */
} ShapeResultsHead;

/* batch_results: batch_id, status, total/completed/failed _instances, instance_results,
 * aggregated_data, window and parent_batch_id (as in batch_status), retries (the batches
 * retrying this one, oldest first). Takes instance_results and aggregated_data (stolen, also on failure).
 * NULL on OOM. */
json_t *shape_batch_results(const ShapeResultsHead *h, json_t *instance_results,
			    json_t *aggregated_data);

#endif
