-- 003_idempotency rollback
DROP TABLE IF EXISTS idempotency_keys;
