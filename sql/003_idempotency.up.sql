-- 003_idempotency: Idempotency-Key of POST /workflows/{id}/batch-execute. A retried request
-- (same user, same key, same body) gets the stored response of the first; a different body
-- with the same key is a conflict. Rows expire after 24 h (the API ignores and prunes them).
CREATE TABLE idempotency_keys (
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
	request_hash text NOT NULL,		-- hex SHA-256 of workflow id + canonical body
	batch_execution_id uuid NOT NULL REFERENCES batch_executions(id) ON DELETE CASCADE,
	response jsonb NOT NULL,		-- the 201 body as first sent
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL DEFAULT now() + interval '24 hours',
	PRIMARY KEY (user_id, key)
);
CREATE INDEX idx_idempotency_keys_expires_at ON idempotency_keys(expires_at);
