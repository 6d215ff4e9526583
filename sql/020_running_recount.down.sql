-- 020_running_recount rollback: 012's row function, which recounts the batch on every change
CREATE OR REPLACE FUNCTION update_batch_execution_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n_cancelled integer; pol text; reason text; why text; inst text;
BEGIN
	IF NEW.batch_execution_id IS NULL THEN
		RETURN NEW;
	END IF;
	-- Lock the batch row before counting: concurrent children finishing in parallel
	-- transactions then count one after another, each with a fresh snapshot (READ
	-- COMMITTED takes one per statement), so the last one sees every sibling's state.
	SELECT on_failure, status_reason INTO pol, reason
	  FROM batch_executions WHERE id = NEW.batch_execution_id FOR UPDATE;
	IF pol = 'fail_fast' AND reason IS NULL AND NEW.status = 'failed'
	   AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'failed') THEN
		SELECT instance_name INTO inst FROM instances WHERE id = NEW.target_instance_id;
		why := 'instance ' || coalesce(inst, '') || ' failed (' || coalesce(NEW.error_message, '') || ')';
		UPDATE workflow_executions
		   SET status = 'cancelled', error_message = 'cancelled by fail_fast: ' || why,
		       completed_at = coalesce(completed_at, now()), updated_at = now()
		 WHERE batch_execution_id = NEW.batch_execution_id AND id <> NEW.id
		   AND status NOT IN ('completed', 'failed', 'cancelled');
		-- every cancelled execution of the batch, as Redis counts them (a user's cancel
		-- that came first included)
		SELECT count(*) INTO n_cancelled FROM workflow_executions
		 WHERE batch_execution_id = NEW.batch_execution_id AND status = 'cancelled';
		reason := 'fail_fast: ' || why || '; ' || n_cancelled || ' queued or running executions cancelled';
		UPDATE batch_executions SET status_reason = reason WHERE id = NEW.batch_execution_id;
	END IF;
	PERFORM amcbatch_recount_batch(NEW.batch_execution_id);
	RETURN NEW;
END
$$;
