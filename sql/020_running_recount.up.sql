-- 020_running_recount: an execution that starts in a batch already `running` leaves the batch
-- row as it is. 012's row trigger locked, counted and rewrote the batch on every status change;
-- for a start in a running batch it wrote the same status, counts and started_at again (only
-- updated_at moved), and every worker's register of an execution waited for the batch row its
-- siblings held. One worker ramping to 10,000 executions in flight: 11.7 / 12.2 s against
-- 14.4 / 13.5 s (bench/inflight-capacity, docs/benchmarks.md section 2).
--
-- A start (`running` from a status that is not final) now has a trigger of its own, which
-- recounts only when the batch is not `running` yet (its first start); every other change goes
-- through 012's function as before. Why a start in a running batch changes nothing: only
-- amcbatch_recount_batch writes a batch's status, and it writes `running` exactly when some
-- execution has started and not all are final: true before (the batch is `running`) and after
-- (this row). Completed and failed counts do not move, started_at is set already,
-- completed_at stays NULL, and fail_fast acts only on `failed`. tests/integration/
-- test_batch_recount.py checks that the stored row equals a recount after every step of
-- random status sequences, and that the skip happens. The read cache hears of the change
-- from read_notify_execs_update (012), as before.
DROP TRIGGER update_batch_status_on_execution_change ON workflow_executions;
CREATE TRIGGER update_batch_status_on_execution_change
	AFTER UPDATE OF status ON workflow_executions
	FOR EACH ROW WHEN (NOT (NEW.status = 'running'
				AND OLD.status IN ('pending', 'queued', 'running', 'retry_wait')))
	EXECUTE FUNCTION update_batch_execution_status();

CREATE FUNCTION amcbatch_recount_started() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.batch_execution_id IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM batch_executions
			   WHERE id = NEW.batch_execution_id AND status = 'running') THEN
		PERFORM amcbatch_recount_batch(NEW.batch_execution_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER update_batch_status_on_execution_start
	AFTER UPDATE OF status ON workflow_executions
	FOR EACH ROW WHEN (NEW.status = 'running'
			   AND OLD.status IN ('pending', 'queued', 'running', 'retry_wait'))
	EXECUTE FUNCTION amcbatch_recount_started();
