-- 004_exactly_once: what PostgreSQL must hold so that it, not Redis, is the durable record of
-- every execution (docs/reliability.md): the fencing token of the newest claim that wrote a
-- row, the durable intent to create on AMC, the time window resolved once at submission, and
-- what a batch needs to be enqueued again from PostgreSQL alone.
ALTER TABLE workflow_executions
	-- fencing token of the newest claim that wrote this row; a holder's write carries its
	-- token and is refused when a newer one is stored (claim tokens only grow)
	ADD COLUMN claim_token bigint NOT NULL DEFAULT 0,
	-- set before the create request is sent to AMC: whoever holds the execution later and
	-- finds an intent without amc_execution_id looks for that execution before creating
	ADD COLUMN create_intent_at timestamptz,
	-- the EXPLICIT window sent to AMC, resolved at submission in the instance's time zone
	ADD COLUMN time_window_start text,
	ADD COLUMN time_window_end text,
	ADD COLUMN time_window_timezone text;

ALTER TABLE batch_executions
	-- the workflow SQL (with its {{placeholders}}) as it was when the batch was submitted
	ADD COLUMN sql_query text,
	-- when Redis accepted the batch (enqueue_batch answered); NULL = not known to be enqueued
	ADD COLUMN enqueued_at timestamptz;

-- batches that exist before this migration were enqueued when they were stored
UPDATE batch_executions b SET enqueued_at = b.created_at,
	sql_query = (SELECT w.sql_query FROM workflows w WHERE w.id = b.workflow_id);

-- the batches still to be handed to Redis: a short list, read by the enqueue janitor
CREATE INDEX idx_batch_executions_not_enqueued ON batch_executions(created_at)
	WHERE enqueued_at IS NULL;
