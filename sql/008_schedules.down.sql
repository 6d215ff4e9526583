-- 008_schedules rollback
DROP FUNCTION IF EXISTS amcbatch_schedule_claim(uuid, timestamptz, timestamptz, timestamptz, uuid);
DROP TABLE IF EXISTS schedule_runs;
DROP INDEX IF EXISTS idx_batch_executions_slot;
ALTER TABLE batch_executions DROP COLUMN IF EXISTS scheduled_for;
ALTER TABLE batch_executions DROP COLUMN IF EXISTS schedule_id;
DROP TABLE IF EXISTS schedules;
