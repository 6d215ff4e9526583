-- 020_running_recount rollback: 012's one row trigger, which recounts the batch on every change
DROP TRIGGER update_batch_status_on_execution_start ON workflow_executions;
DROP FUNCTION amcbatch_recount_started();
DROP TRIGGER update_batch_status_on_execution_change ON workflow_executions;
CREATE TRIGGER update_batch_status_on_execution_change
	AFTER UPDATE OF status ON workflow_executions
	FOR EACH ROW EXECUTE FUNCTION update_batch_execution_status();
