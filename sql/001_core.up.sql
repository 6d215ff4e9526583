-- 001_core: master data (users, tokens, accounts, instances, grants, workflows) and the
-- batch archive of the seed spec (batch_executions, workflow_executions, result rows).
CREATE TABLE users (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	email text NOT NULL UNIQUE,
	role text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Tokens are stored as the hex SHA-256 of the secret; the secret is shown once.
CREATE TABLE api_tokens (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	token_hash text NOT NULL UNIQUE,
	name text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz,
	revoked_at timestamptz,
	last_used_at timestamptz
);

CREATE TABLE amc_accounts (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	account_name text NOT NULL,
	advertiser_id text NOT NULL,		-- Amazon-Advertising-API-AdvertiserId (ENTITY...)
	marketplace_id text NOT NULL DEFAULT 'ATVPDKIKX0DER',
	region text NOT NULL DEFAULT 'NA',
	lwa_client_id text NOT NULL DEFAULT '',
	lwa_refresh_token text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instances (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	instance_id text NOT NULL UNIQUE,	-- AMC's short id, e.g. amcabc12de3f
	instance_name text NOT NULL,
	region text NOT NULL,
	brands text[] NOT NULL DEFAULT '{}',
	account_id uuid NOT NULL REFERENCES amc_accounts(id),
	is_sandbox boolean NOT NULL DEFAULT false,
	timezone text NOT NULL DEFAULT 'UTC',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instance_access (
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	instance_id uuid NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, instance_id)
);

CREATE TABLE workflows (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id uuid NOT NULL REFERENCES users(id),
	name text NOT NULL,
	description text NOT NULL DEFAULT '',
	sql_query text NOT NULL,
	parameters jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE batch_executions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	batch_id text NOT NULL UNIQUE CHECK (batch_id ~ '^batch_[0-9a-f]{8}$'),
	workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	name text,
	description text,
	instance_ids jsonb NOT NULL DEFAULT '[]',
	base_parameters jsonb NOT NULL DEFAULT '{}',
	instance_parameters jsonb NOT NULL DEFAULT '{}',
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'completed', 'partial', 'failed', 'cancelled')),
	total_instances integer NOT NULL DEFAULT 0,
	completed_instances integer NOT NULL DEFAULT 0,
	failed_instances integer NOT NULL DEFAULT 0,
	user_id uuid NOT NULL REFERENCES users(id),
	started_at timestamptz,
	completed_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- The seed extends an existing workflow_executions table; here it is created whole.
CREATE TABLE workflow_executions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	execution_id text NOT NULL UNIQUE CHECK (execution_id ~ '^exec_[0-9a-f]{8}$'),
	workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	user_id uuid NOT NULL REFERENCES users(id),
	instance_id text NOT NULL,		-- AMC instance id the query ran on
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'queued', 'running', 'retry_wait', 'completed', 'failed', 'cancelled')),
	parameters jsonb NOT NULL DEFAULT '{}',	-- merged: base parameters, then the instance's override
	sql_query text,				-- the SQL as sent to AMC (placeholders substituted)
	amc_execution_id text,
	row_count integer,
	error_message text,
	result_columns jsonb,			-- [{"name":..,"type":"string"|"number"}] in CSV order
	started_at timestamptz,
	completed_at timestamptz,
	duration_seconds numeric,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	batch_execution_id uuid REFERENCES batch_executions(id) ON DELETE CASCADE,
	target_instance_id uuid REFERENCES instances(id),
	is_batch_member boolean NOT NULL DEFAULT false
);

-- One archived result row per CSV data row. Values are a JSON object keyed by column name
-- (numbers as JSON numbers); column order lives in workflow_executions.result_columns.
CREATE TABLE result_rows (
	execution_id uuid NOT NULL REFERENCES workflow_executions(id) ON DELETE CASCADE,
	row_number integer NOT NULL,
	row_data jsonb NOT NULL,
	PRIMARY KEY (execution_id, row_number)
);

CREATE INDEX idx_batch_executions_workflow_id ON batch_executions(workflow_id);
CREATE INDEX idx_batch_executions_status ON batch_executions(status);
CREATE INDEX idx_batch_executions_user_id ON batch_executions(user_id);
CREATE INDEX idx_batch_executions_batch_id ON batch_executions(batch_id);
CREATE INDEX idx_workflow_executions_batch_id ON workflow_executions(batch_execution_id);
CREATE INDEX idx_workflow_executions_target_instance ON workflow_executions(target_instance_id);

CREATE FUNCTION generate_batch_id() RETURNS text LANGUAGE sql VOLATILE AS $$
	SELECT 'batch_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 8)
$$;

-- Keeps batch_executions in step with its children, by the same rule the Redis scripts use.
CREATE FUNCTION update_batch_execution_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n_total integer; n_done integer; n_failed integer; n_cancelled integer; n_started integer;
	cur text; next_status text;
BEGIN
	IF NEW.batch_execution_id IS NULL THEN
		RETURN NEW;
	END IF;
	-- Lock the batch row before counting: concurrent children finishing in parallel
	-- transactions then count one after another, each with a fresh snapshot (READ
	-- COMMITTED takes one per statement), so the last one sees every sibling's state.
	SELECT status INTO cur FROM batch_executions WHERE id = NEW.batch_execution_id FOR UPDATE;
	SELECT count(*),
	       count(*) FILTER (WHERE status = 'completed'),
	       count(*) FILTER (WHERE status = 'failed'),
	       count(*) FILTER (WHERE status = 'cancelled'),
	       count(*) FILTER (WHERE status IN ('running', 'retry_wait', 'completed', 'failed'))
	  INTO n_total, n_done, n_failed, n_cancelled, n_started
	  FROM workflow_executions WHERE batch_execution_id = NEW.batch_execution_id;
	IF n_done + n_failed + n_cancelled = n_total THEN
		IF n_cancelled > 0 OR cur = 'cancelled' THEN next_status := 'cancelled';
		ELSIF n_done = n_total THEN next_status := 'completed';
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

CREATE TRIGGER update_batch_status_on_execution_change
	AFTER INSERT OR UPDATE OF status ON workflow_executions
	FOR EACH ROW EXECUTE FUNCTION update_batch_execution_status();

CREATE VIEW batch_execution_summary AS
SELECT b.id, b.batch_id, b.workflow_id, b.user_id, b.name, b.status, b.total_instances,
       count(e.id) FILTER (WHERE e.status = 'completed') AS completed_count,
       count(e.id) FILTER (WHERE e.status = 'failed') AS failed_count,
       count(e.id) FILTER (WHERE e.status = 'running') AS running_count,
       count(e.id) FILTER (WHERE e.status IN ('pending', 'queued', 'retry_wait')) AS pending_count,
       count(e.id) FILTER (WHERE e.status = 'cancelled') AS cancelled_count,
       avg(e.duration_seconds) AS avg_duration_seconds,
       coalesce(sum(e.row_count), 0) AS total_rows,
       min(e.started_at) AS first_started_at,
       max(e.completed_at) AS last_completed_at,
       b.created_at
  FROM batch_executions b
  LEFT JOIN workflow_executions e ON e.batch_execution_id = b.id
 GROUP BY b.id;

-- What an analyst queries: every archived row with its batch, instance and execution.
CREATE VIEW batch_result_rows AS
SELECT b.batch_id, b.id AS batch_execution_id, i.instance_name, i.instance_id AS amc_instance_id,
       e.target_instance_id AS instance_id, e.execution_id, r.row_number, r.row_data
  FROM result_rows r
  JOIN workflow_executions e ON e.id = r.execution_id
  JOIN batch_executions b ON b.id = e.batch_execution_id
  JOIN instances i ON i.id = e.target_instance_id;

-- Row-level security for direct SQL users of the archive: the application connects as the
-- table owner (which bypasses RLS); other roles set amcbatch.user_id and see their own.
CREATE FUNCTION amcbatch_current_user_id() RETURNS uuid LANGUAGE sql STABLE AS $$
	SELECT nullif(current_setting('amcbatch.user_id', true), '')::uuid
$$;
ALTER TABLE batch_executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own batch executions" ON batch_executions
	FOR SELECT USING (user_id = amcbatch_current_user_id());
CREATE POLICY "Users can create batch executions" ON batch_executions
	FOR INSERT WITH CHECK (user_id = amcbatch_current_user_id());
CREATE POLICY "Users can update their own batch executions" ON batch_executions
	FOR UPDATE USING (user_id = amcbatch_current_user_id());
CREATE POLICY "Users can delete their own batch executions" ON batch_executions
	FOR DELETE USING (user_id = amcbatch_current_user_id());
