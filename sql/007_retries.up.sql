-- 007_retries: POST /workflows/batch/{id}/retry-failed makes a new batch over the failed (and
-- cancelled, when asked) instances of a finished one (issue 10). The new batch names the one
-- it retries; the original's retries are the batches naming it.
ALTER TABLE batch_executions
	ADD COLUMN parent_batch_id uuid REFERENCES batch_executions(id) ON DELETE SET NULL;
CREATE INDEX idx_batch_executions_parent ON batch_executions (parent_batch_id)
	WHERE parent_batch_id IS NOT NULL;
