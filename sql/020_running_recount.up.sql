-- 020_running_recount: an execution that starts in a batch already `running` leaves the batch
-- row as it is, so its trigger no longer locks, counts and rewrites the batch. 012's row
-- function did that for every status change; for a start in a running batch it wrote the same
-- status, counts and started_at again (only updated_at moved), and every worker's register of
-- an execution waited for the batch row its siblings held. One worker ramping to 10,000
-- executions in flight: 11.7 / 12.2 s against 14.4 / 13.5 s (bench/inflight-capacity,
-- docs/benchmarks.md section 2).
--
-- Why nothing else can change: the row was not final before (pending, queued, running or
-- retry_wait) and is `running` after. Only amcbatch_recount_batch writes a batch's status, and
-- it writes `running` exactly when some execution has started and not all are final: true
-- before (the batch is `running`) and after (this row). completed and failed counts do not
-- move, started_at is set already, completed_at stays NULL. tests/integration/
-- test_batch_recount.py checks that the stored row equals a recount after every step of
-- random status sequences, and that the skip happens. The read cache hears of the change
-- from read_notify_execs_update (012), as before.
CREATE OR REPLACE FUNCTION update_batch_execution_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n_cancelled integer; pol text; reason text; why text; inst text;
BEGIN
	IF NEW.batch_execution_id IS NULL THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.status = 'running'
	   AND OLD.status IN ('pending', 'queued', 'running', 'retry_wait')
	   AND EXISTS (SELECT 1 FROM batch_executions
			WHERE id = NEW.batch_execution_id AND status = 'running') THEN
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
