-- 012_read_path rollback: the notifications, 010's status trigger function and 001's trigger
-- again, then the list indexes
DROP TRIGGER read_notify_execs_update ON workflow_executions;
DROP TRIGGER read_notify_execs_delete ON workflow_executions;
DROP FUNCTION amcbatch_read_notify_execs();
DROP TRIGGER read_notify_batch ON batch_executions;
DROP TRIGGER read_notify_batches_truncate ON batch_executions;
DROP TRIGGER read_notify_workflow ON workflows;
DROP TRIGGER read_notify_workflows_truncate ON workflows;
DROP TRIGGER read_notify_instances ON instances;
DROP TRIGGER read_notify_accounts ON amc_accounts;
DROP TRIGGER read_notify_access ON instance_access;
DROP FUNCTION amcbatch_read_notify_batch();
DROP FUNCTION amcbatch_read_notify_user();
DROP FUNCTION amcbatch_read_notify_all();

DROP TRIGGER update_batch_status_on_pending_insert ON workflow_executions;
DROP TRIGGER update_batch_status_on_execution_insert ON workflow_executions;
DROP TRIGGER update_batch_status_on_execution_change ON workflow_executions;
DROP FUNCTION amcbatch_recount_inserted();
CREATE OR REPLACE FUNCTION update_batch_execution_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n_total integer; n_done integer; n_failed integer; n_cancelled integer; n_started integer;
	cur text; next_status text; pol text; ratio numeric; reason text; why text; inst text;
	needed integer; ratio_reason text;
BEGIN
	IF NEW.batch_execution_id IS NULL THEN
		RETURN NEW;
	END IF;
	-- Lock the batch row before counting: concurrent children finishing in parallel
	-- transactions then count one after another, each with a fresh snapshot (READ
	-- COMMITTED takes one per statement), so the last one sees every sibling's state.
	SELECT status, on_failure, min_success_ratio, status_reason INTO cur, pol, ratio, reason
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
	SELECT count(*),
	       count(*) FILTER (WHERE status = 'completed'),
	       count(*) FILTER (WHERE status = 'failed'),
	       count(*) FILTER (WHERE status = 'cancelled'),
	       count(*) FILTER (WHERE status IN ('running', 'retry_wait', 'completed', 'failed'))
	  INTO n_total, n_done, n_failed, n_cancelled, n_started
	  FROM workflow_executions WHERE batch_execution_id = NEW.batch_execution_id;
	IF n_done + n_failed + n_cancelled = n_total THEN
		needed := CASE WHEN pol = 'min_success_ratio' THEN ceil(ratio * n_total)::integer END;
		IF pol = 'fail_fast' AND n_failed > 0 THEN next_status := 'failed';
		ELSIF n_cancelled > 0 OR cur = 'cancelled' THEN next_status := 'cancelled';
		ELSIF n_done = n_total THEN next_status := 'completed';
		ELSIF needed IS NOT NULL AND n_done < needed THEN
			next_status := 'failed';
			ratio_reason := n_done || ' of ' || n_total || ' executions succeeded; min_success_ratio '
				|| trim_scale(ratio) || ' needs ' || needed;
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
		status_reason = coalesce(ratio_reason, status_reason),
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
DROP FUNCTION amcbatch_recount_batch(uuid);
CREATE TRIGGER update_batch_status_on_execution_change
	AFTER INSERT OR UPDATE OF status ON workflow_executions
	FOR EACH ROW EXECUTE FUNCTION update_batch_execution_status();

DROP INDEX idx_batch_executions_created;
DROP INDEX idx_batch_executions_user_created;
