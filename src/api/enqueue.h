/* enqueue.h - hands a batch that PostgreSQL holds to Redis (the enqueue_batch script), for the
 * submit route and the enqueue janitor alike: the one query that builds the script's arguments
 * from the stored rows, the call with its retries, and the enqueued_at mark afterwards. It
 * never changes or deletes the stored batch otherwise: once committed, a batch must run. */
#ifndef AMCB_ENQUEUE_H
#define AMCB_ENQUEUE_H

#include <libpq-fe.h>

#include "api.h"
#include "common.h"
#include "policy.h"

/* How long the submit route (and the janitor, per batch) keeps trying to reach Redis: a lost
 * reply or a dropped connection is retried within it; past it the batch is left pending for
 * the janitor. */
#define ENQUEUE_BUDGET_MS 3000

/* The enqueue_batch arguments of the batches of batch_executions b matching `where` (SQL text
 * after WHERE, static; it may end with ORDER BY / LIMIT), one row each: 0 b.id, 1 batch_id,
 * 2 batch fields (JSON text), 3 executions (JSON text, in the order of b.instance_ids), 4 their
 * exec ids in the same order, comma-separated (the key of each exec hash, without parsing 3).
 * Everything comes from the stored rows (the ids the insert function settled on, the window
 * resolved at submission, the workflow SQL as submitted), so the API's first enqueue and a
 * later one by the janitor write the same records. */
#define ENQUEUE_SQL_PAYLOAD(where) \
	"SELECT b.id, b.batch_id," \
	" json_build_object('batch_execution_id', b.id, 'workflow_id', b.workflow_id," \
	"   'user_id', b.user_id, 'name', coalesce(b.name, '')," \
	"   'sql_query', coalesce(b.sql_query, '')," \
	"   'time_window', coalesce(b.time_window::text, '')," \
	"   'parent_batch_id', coalesce((SELECT p.batch_id FROM batch_executions p" \
	"                                 WHERE p.id = b.parent_batch_id), '')," \
	"   'on_failure', b.on_failure, 'min_success_ratio', " POLICY_SQL_RATIO( \
		"b") ")::text," \
		     " ex.execs, ex.exec_ids" \
		     "  FROM batch_executions b CROSS JOIN LATERAL" \
		     " (SELECT json_agg(json_build_object('exec_id', e.execution_id, 'id', e.id," \
		     "     'instance_uuid', e.target_instance_id, 'amc_instance_id', e.instance_id," \
		     "     'instance_name', i.instance_name, 'instance_region', i.region," \
		     "     'timezone', coalesce(e.time_window_timezone, i.timezone), 'account_id', a.id," \
		     "     'advertiser_id', a.advertiser_id, 'marketplace_id', a.marketplace_id," \
		     "     'amc_region', a.region," \
		     "     'parameters', e.parameters::text," \
		     "     'window_start', coalesce(e.time_window_start, '')," \
		     "     'window_end', coalesce(e.time_window_end, '')) ORDER BY x.ord)::text AS execs," \
		     "   string_agg(e.execution_id, ',' ORDER BY x.ord) AS exec_ids" \
		     "    FROM jsonb_array_elements_text(b.instance_ids) WITH ORDINALITY AS x(v, ord)" \
		     "    JOIN workflow_executions e" \
		     "      ON e.batch_execution_id = b.id AND e.target_instance_id = x.v::uuid" \
		     "    JOIN instances i ON i.id = e.target_instance_id" \
		     "    JOIN amc_accounts a ON a.id = i.account_id) ex" \
		     " WHERE " where

typedef enum EnqueueOutcome {
	ENQUEUE_DONE,        /* Redis holds the batch: enqueue_batch answered 1, or -2
				 * (an earlier attempt whose reply was lost, or another
				 * process, enqueued it) */
	ENQUEUE_UNREACHABLE, /* no answer within the budget (or shutting down): the
				 * batch stays pending for the janitor */
	ENQUEUE_REFUSED,     /* the script refused the arguments (a bug; logged) */
} EnqueueOutcome;

typedef struct Enqueue Enqueue;

/* Runs on the loop thread, exactly once per started enqueue, never from inside enqueue_start. */
typedef void (*EnqueueDoneFn)(EnqueueOutcome outcome, void *priv);

/* Enqueues the batch of row `row` of res, an ENQUEUE_SQL_PAYLOAD result (borrowed: what is
 * needed is copied). Retries for budget_ms; after ENQUEUE_DONE it sets the batch's
 * enqueued_at off the caller's path (a failed update is left to the janitor, and a batch
 * cancelled in PostgreSQL meanwhile is cancelled in Redis too). False, with done never
 * called, when the row is unusable or the API is shutting down (api->redis NULL). */
MUST_CHECK bool enqueue_start(Api *api, const PGresult *res, int row, int budget_ms,
			      EnqueueDoneFn done, void *priv);

/* Shutdown, after the Redis connection is freed: every enqueue still waiting to retry reports
 * ENQUEUE_UNREACHABLE and is freed. */
void enqueue_stop_all(Api *api);

#endif
