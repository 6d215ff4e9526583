-- 012_read_path: the API's read path (issue 12). Three things:
--  1. the batch list's page comes from an index in its ORDER BY (created_at DESC, id), per
--     user and for admins, instead of sorting every batch of the user;
--  2. inserting a batch's executions recounts the batch once per statement, not once per row:
--     001's row trigger locked, counted every sibling and rewrote the batch row for each of the
--     N executions (O(N^2), 20-30 ms of a 100-instance batch-execute). Executions inserted
--     'pending' (every batch-execute and retry-failed) cannot finish a batch, so counting them
--     once at the end gives the row trigger's last answer; any other insert keeps the row
--     trigger and its fail_fast branch;
--  3. NOTIFY amcbatch_read on every change the API's read cache depends on (src/api/readcache.c):
--     'b:<batch_id>' and 'u:<user_id>' for a batch row, 'u:<user_id>' for a workflow, '*' for
--     instances, accounts and grants. Identical notifications of one transaction are sent once.
CREATE INDEX idx_batch_executions_user_created ON batch_executions (user_id, created_at DESC, id);
CREATE INDEX idx_batch_executions_created ON batch_executions (created_at DESC, id);

-- 010's counting half, for one batch: lock it, count its executions, apply the policy, store.
CREATE FUNCTION amcbatch_recount_batch(p_batch uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	n_total integer; n_done integer; n_failed integer; n_cancelled integer; n_started integer;
	cur text; next_status text; pol text; ratio numeric; needed integer; ratio_reason text;
BEGIN
	SELECT status, on_failure, min_success_ratio INTO cur, pol, ratio
	  FROM batch_executions WHERE id = p_batch FOR UPDATE;
	SELECT count(*),
	       count(*) FILTER (WHERE status = 'completed'),
	       count(*) FILTER (WHERE status = 'failed'),
	       count(*) FILTER (WHERE status = 'cancelled'),
	       count(*) FILTER (WHERE status IN ('running', 'retry_wait', 'completed', 'failed'))
	  INTO n_total, n_done, n_failed, n_cancelled, n_started
	  FROM workflow_executions WHERE batch_execution_id = p_batch;
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
	 WHERE id = p_batch;
END
$$;

-- 010's row function: the fail_fast branch, then the count above.
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

-- Pending executions inserted by one statement: each batch they belong to counted once, in id
-- order (the row locks are taken in one order by every such statement).
CREATE FUNCTION amcbatch_recount_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	b uuid;
BEGIN
	FOR b IN SELECT DISTINCT batch_execution_id FROM new_rows
		  WHERE status = 'pending' AND batch_execution_id IS NOT NULL ORDER BY 1 LOOP
		PERFORM amcbatch_recount_batch(b);
	END LOOP;
	RETURN NULL;
END
$$;

DROP TRIGGER update_batch_status_on_execution_change ON workflow_executions;
CREATE TRIGGER update_batch_status_on_execution_change
	AFTER UPDATE OF status ON workflow_executions
	FOR EACH ROW EXECUTE FUNCTION update_batch_execution_status();
CREATE TRIGGER update_batch_status_on_execution_insert
	AFTER INSERT ON workflow_executions
	FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM 'pending')
	EXECUTE FUNCTION update_batch_execution_status();
CREATE TRIGGER update_batch_status_on_pending_insert
	AFTER INSERT ON workflow_executions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_recount_inserted();

-- ---- the read cache's notifications ----
CREATE FUNCTION amcbatch_read_notify_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r batch_executions;
BEGIN
	r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	PERFORM pg_notify('amcbatch_read', 'b:' || r.batch_id);
	PERFORM pg_notify('amcbatch_read', 'u:' || r.user_id);
	-- a batch that changed owner or id (never done by amcbatch, possible in SQL)
	IF TG_OP = 'UPDATE' AND (OLD.user_id IS DISTINCT FROM NEW.user_id
				 OR OLD.batch_id IS DISTINCT FROM NEW.batch_id) THEN
		PERFORM pg_notify('amcbatch_read', 'b:' || OLD.batch_id);
		PERFORM pg_notify('amcbatch_read', 'u:' || OLD.user_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER read_notify_batch AFTER INSERT OR UPDATE OR DELETE ON batch_executions
	FOR EACH ROW EXECUTE FUNCTION amcbatch_read_notify_batch();

CREATE FUNCTION amcbatch_read_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM pg_notify('amcbatch_read', 'u:' || OLD.user_id);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM pg_notify('amcbatch_read', 'u:' || NEW.user_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER read_notify_workflow AFTER INSERT OR UPDATE OR DELETE ON workflows
	FOR EACH ROW EXECUTE FUNCTION amcbatch_read_notify_user();

CREATE FUNCTION amcbatch_read_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('amcbatch_read', '*');
	RETURN NULL;
END
$$;
CREATE TRIGGER read_notify_instances AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON instances
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_all();
CREATE TRIGGER read_notify_accounts AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON amc_accounts
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_all();
CREATE TRIGGER read_notify_access AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON instance_access
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_all();
CREATE TRIGGER read_notify_batches_truncate AFTER TRUNCATE ON batch_executions
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_all();
CREATE TRIGGER read_notify_workflows_truncate AFTER TRUNCATE ON workflows
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_all();

-- an execution changed without its status (a late amc_execution_id, row_count, error): the
-- batch's cached status shows it too
CREATE FUNCTION amcbatch_read_notify_execs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	id text;
BEGIN
	FOR id IN SELECT DISTINCT b.batch_id FROM changed_rows c
		  JOIN batch_executions b ON b.id = c.batch_execution_id LOOP
		PERFORM pg_notify('amcbatch_read', 'b:' || id);
	END LOOP;
	RETURN NULL;
END
$$;
CREATE TRIGGER read_notify_execs_update AFTER UPDATE ON workflow_executions
	REFERENCING NEW TABLE AS changed_rows
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_execs();
CREATE TRIGGER read_notify_execs_delete AFTER DELETE ON workflow_executions
	REFERENCING OLD TABLE AS changed_rows
	FOR EACH STATEMENT EXECUTE FUNCTION amcbatch_read_notify_execs();
