-- Rollback of 001_core.
DROP VIEW IF EXISTS batch_result_rows;
DROP VIEW IF EXISTS batch_execution_summary;
DROP TRIGGER IF EXISTS update_batch_status_on_execution_change ON workflow_executions;
DROP FUNCTION IF EXISTS update_batch_execution_status();
DROP FUNCTION IF EXISTS generate_batch_id();
DROP TABLE IF EXISTS result_rows;
DROP TABLE IF EXISTS workflow_executions;
DROP TABLE IF EXISTS batch_executions;
DROP FUNCTION IF EXISTS amcbatch_current_user_id();
DROP TABLE IF EXISTS workflows;
DROP TABLE IF EXISTS instance_access;
DROP TABLE IF EXISTS instances;
DROP TABLE IF EXISTS amc_accounts;
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS users;
