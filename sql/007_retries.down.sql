-- 007_retries rollback
DROP INDEX IF EXISTS idx_batch_executions_parent;
ALTER TABLE batch_executions DROP COLUMN IF EXISTS parent_batch_id;
