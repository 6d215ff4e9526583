-- 013_rls: row-level security on every table that holds a user's data, and views that apply
-- it to whoever queries them. 001 and 008 covered batch_executions and schedules only, and
-- the two documented views ran as their owner, so an analyst role scoped by amcbatch.user_id
-- read every user's executions and rows through them. The application connects as the
-- tables' owner, which RLS does not restrict (no FORCE): nothing changes for it.

-- a user's own rows
ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own workflows" ON workflows
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE workflow_executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own executions" ON workflow_executions
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE result_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the rows of their own executions" ON result_rows
	FOR SELECT USING (EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = result_rows.execution_id
				  AND e.user_id = amcbatch_current_user_id()));
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view themselves" ON users
	FOR SELECT USING (id = amcbatch_current_user_id());
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own tokens" ON api_tokens
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own idempotency keys" ON idempotency_keys
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own webhooks" ON webhooks
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own webhook events" ON webhook_events
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the deliveries of their own webhooks" ON webhook_deliveries
	FOR SELECT USING (EXISTS (SELECT 1 FROM webhooks w WHERE w.id = webhook_deliveries.webhook_id
				  AND w.user_id = amcbatch_current_user_id()));
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the attempts of their own deliveries" ON webhook_attempts
	FOR SELECT USING (EXISTS (SELECT 1 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
				  WHERE d.id = webhook_attempts.delivery_id AND w.user_id = amcbatch_current_user_id()));

-- instances: the ones granted, and the ones the user's archived executions ran on (a revoked
-- grant must not hide the user's own results in batch_result_rows, which joins instances)
ALTER TABLE instance_access ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own grants" ON instance_access
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE instances ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the instances they use" ON instances
	FOR SELECT USING (EXISTS (SELECT 1 FROM instance_access a WHERE a.instance_id = instances.id
				  AND a.user_id = amcbatch_current_user_id())
			  OR EXISTS (SELECT 1 FROM workflow_executions e WHERE e.target_instance_id = instances.id
				     AND e.user_id = amcbatch_current_user_id()));
-- accounts: those of the instances visible above (their secrets are encrypted, and a role
-- should be granted the columns it needs, not the table: docs/schema.md)
ALTER TABLE amc_accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the accounts of the instances they use" ON amc_accounts
	FOR SELECT USING (EXISTS (SELECT 1 FROM instances i WHERE i.account_id = amc_accounts.id));

-- the views read their tables with the querying role's rights (and policies)
ALTER VIEW batch_execution_summary SET (security_invoker = true);
ALTER VIEW batch_result_rows SET (security_invoker = true);
