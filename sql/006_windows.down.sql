-- 006_windows rollback
ALTER TABLE batch_executions DROP COLUMN IF EXISTS time_window;
