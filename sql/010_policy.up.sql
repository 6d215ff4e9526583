-- 010_policy: the batch failure policy (issue 10, "Batch policy"). A batch says what a
-- permanent failure of one execution means for the rest: `continue` (the default, as before),
-- `fail_fast` (the first one cancels every other open execution, and the batch is failed) or
-- `min_success_ratio` (a finished batch with fewer than ceil(ratio * total) completed
-- executions is failed, not partial). status_reason says why when the policy decided.
-- The status trigger applies it exactly as lua/lib/batch_status.lua and lua/lib/finish_jobs.lua
-- do in Redis, so PostgreSQL can take over a batch Redis lost (docs/redis-keys.md, "Batch
-- status rule").
ALTER TABLE batch_executions
	ADD COLUMN on_failure text NOT NULL DEFAULT 'continue'
		CHECK (on_failure IN ('continue', 'fail_fast', 'min_success_ratio')),
	ADD COLUMN min_success_ratio numeric(5, 4)
		CHECK (min_success_ratio > 0 AND min_success_ratio <= 1),
	ADD COLUMN status_reason text,
	ADD CONSTRAINT batch_executions_ratio_policy
		CHECK ((on_failure = 'min_success_ratio') = (min_success_ratio IS NOT NULL));

-- 001's function with the policy: fail_fast cancels the open siblings of the first failed
-- execution (their own trigger calls then count them; NEW.status = 'cancelled' there, so it
-- does not recurse), min_success_ratio decides failed over partial.
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

-- A schedule's runs take its policy as a batch's body gives it ("fail_fast",
-- {"min_success_ratio": 0.9}; NULL: continue), checked by the API like batch-execute's.
ALTER TABLE schedules ADD COLUMN on_failure jsonb;
