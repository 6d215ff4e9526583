-- 010_policy rollback: 001's status trigger function again, then the columns
CREATE OR REPLACE FUNCTION update_batch_execution_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n_total integer; n_done integer; n_failed integer; n_cancelled integer; n_started integer;
	cur text; next_status text;
BEGIN
	IF NEW.batch_execution_id IS NULL THEN
		RETURN NEW;
	END IF;
	-- Lock the batch row before counting: concurrent children finishing in parallel
	-- transactions then count one after another, each with a fresh snapshot (READ
	-- COMMITTED takes one per statement), so the last one sees every sibling's state.
	SELECT status INTO cur FROM batch_executions WHERE id = NEW.batch_execution_id FOR UPDATE;
	SELECT count(*),
	       count(*) FILTER (WHERE status = 'completed'),
	       count(*) FILTER (WHERE status = 'failed'),
	       count(*) FILTER (WHERE status = 'cancelled'),
	       count(*) FILTER (WHERE status IN ('running', 'retry_wait', 'completed', 'failed'))
	  INTO n_total, n_done, n_failed, n_cancelled, n_started
	  FROM workflow_executions WHERE batch_execution_id = NEW.batch_execution_id;
	IF n_done + n_failed + n_cancelled = n_total THEN
		IF n_cancelled > 0 OR cur = 'cancelled' THEN next_status := 'cancelled';
		ELSIF n_done = n_total THEN next_status := 'completed';
		ELSIF n_done = 0 THEN next_status := 'failed';
		ELSE next_status := 'partial';
		END IF;
	ELSIF n_started > 0 THEN
		next_status := 'running';
	ELSE
		next_status := 'pending';
	END IF;
	UPDATE batch_executions SET
		status = next_status,
		completed_instances = n_done,
		failed_instances = n_failed,
		started_at = CASE WHEN n_started > 0 THEN coalesce(started_at, now()) ELSE started_at END,
		completed_at = CASE WHEN next_status IN ('completed', 'partial', 'failed', 'cancelled')
				    THEN coalesce(completed_at, now()) ELSE NULL END,
		updated_at = now()
	 WHERE id = NEW.batch_execution_id;
	RETURN NEW;
END
$$;

ALTER TABLE batch_executions
	DROP CONSTRAINT IF EXISTS batch_executions_ratio_policy,
	DROP COLUMN IF EXISTS status_reason,
	DROP COLUMN IF EXISTS min_success_ratio,
	DROP COLUMN IF EXISTS on_failure;
ALTER TABLE schedules DROP COLUMN IF EXISTS on_failure;
