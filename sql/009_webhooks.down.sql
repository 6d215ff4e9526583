-- 009_webhooks rollback
DROP TRIGGER IF EXISTS webhook_on_batch_final ON batch_executions;
DROP FUNCTION IF EXISTS amcbatch_webhook_batch_final();
DROP FUNCTION IF EXISTS amcbatch_webhook_emit(uuid, text, jsonb);
DROP FUNCTION IF EXISTS amcbatch_webhook_emit_for(uuid, text, jsonb, uuid);
DROP TABLE IF EXISTS webhook_attempts;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_events;
DROP TABLE IF EXISTS webhooks;
