-- 004_exactly_once rollback
DROP INDEX IF EXISTS idx_batch_executions_not_enqueued;
ALTER TABLE batch_executions DROP COLUMN IF EXISTS enqueued_at, DROP COLUMN IF EXISTS sql_query;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS time_window_timezone,
	DROP COLUMN IF EXISTS time_window_end, DROP COLUMN IF EXISTS time_window_start,
	DROP COLUMN IF EXISTS create_intent_at, DROP COLUMN IF EXISTS claim_token;
