-- 009_webhooks: completion webhooks (issue 10). A user registers URLs for events; every event
-- is written here in the transaction that caused it (an outbox): one webhook_events row and
-- one webhook_deliveries row per subscribed webhook of the user. Workers lease due deliveries
-- (FOR UPDATE SKIP LOCKED), POST them, and record every attempt in webhook_attempts.
-- Numbered 009 so that 008 (schedules) can land beside it; the runner applies whatever is
-- pending in order, so the gap is harmless.

CREATE TABLE webhooks (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
	events text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 5 AND events <@ ARRAY[
		'batch.completed', 'batch.partial', 'batch.failed', 'batch.cancelled',
		'schedule.run_skipped']::text[]),
	format text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
	-- AES-256-GCM (src/core/secret.c), like the LWA credentials; never returned after 201
	secret_enc bytea NOT NULL,
	secret_hint text NOT NULL,		-- the secret's last 4 characters, for the owner to recognise it
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_webhooks_user ON webhooks (user_id, created_at);

-- One row per event that had at least one subscriber. A batch has at most one event: the one
-- of its final status (the unique index makes a second final transition a no-op).
CREATE TABLE webhook_events (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	type text NOT NULL,
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	batch_execution_id uuid REFERENCES batch_executions(id) ON DELETE CASCADE,
	data jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_webhook_events_batch ON webhook_events (batch_execution_id)
	WHERE batch_execution_id IS NOT NULL;

-- One row per (webhook, event): its id is the Amcbatch-Delivery header, the same on every
-- attempt. state pending -> delivered | failed. A leased delivery has next_attempt_at moved to
-- the end of its lease, so a worker that dies leaves it due again when the lease ends.
CREATE TABLE webhook_deliveries (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	event_id uuid NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
	state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts integer NOT NULL DEFAULT 0,	-- leases taken; attempt n is webhook_attempts.attempt n
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	lease_until timestamptz,		-- while a worker holds it
	leased_by text,				-- that worker's id
	last_error text,
	delivered_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (webhook_id, event_id)
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX idx_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

CREATE TABLE webhook_attempts (
	delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
	attempt integer NOT NULL,
	started_at timestamptz NOT NULL,
	status_code integer,			-- NULL: no HTTP answer
	latency_ms integer NOT NULL,
	error text,				-- NULL on 2xx
	response_prefix text,			-- at most the first 256 bytes of the answer
	worker_id text,
	PRIMARY KEY (delivery_id, attempt)
);

-- Inserts an event of p_user and one delivery per webhook of p_user subscribed to p_event;
-- nothing when none is. p_batch ties a batch's event to the batch (at most one per batch).
-- Returns the number of deliveries inserted.
CREATE FUNCTION amcbatch_webhook_emit_for(p_user uuid, p_event text, p_data jsonb, p_batch uuid)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	ev uuid;
	n integer;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM webhooks WHERE user_id = p_user AND p_event = ANY (events)) THEN
		RETURN 0;
	END IF;
	INSERT INTO webhook_events (type, user_id, batch_execution_id, data)
	     VALUES (p_event, p_user, p_batch, p_data)
	ON CONFLICT (batch_execution_id) WHERE batch_execution_id IS NOT NULL DO NOTHING
	  RETURNING id INTO ev;
	IF ev IS NULL THEN
		RETURN 0;	-- this batch's event exists already
	END IF;
	INSERT INTO webhook_deliveries (webhook_id, event_id)
	     SELECT id, ev FROM webhooks WHERE user_id = p_user AND p_event = ANY (events);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- The public entry for events that are not a batch's final status (schedules:
-- schedule.run_skipped with {schedule_id, schedule_name, scheduled_for, reason}).
CREATE FUNCTION amcbatch_webhook_emit(p_user uuid, p_event text, p_data jsonb)
RETURNS integer LANGUAGE sql AS $$
	SELECT amcbatch_webhook_emit_for(p_user, p_event, p_data, NULL)
$$;

-- A batch reaching a final status, by whatever path (the execution trigger recomputes it
-- from the worker's archive, the API's cancel, the janitor, the sweeper): one event, in the
-- same transaction as the status change.
CREATE FUNCTION amcbatch_webhook_batch_final() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n_cancelled integer;
BEGIN
	SELECT count(*) FILTER (WHERE status = 'cancelled') INTO n_cancelled
	  FROM workflow_executions WHERE batch_execution_id = NEW.id;
	PERFORM amcbatch_webhook_emit_for(NEW.user_id, 'batch.' || NEW.status, jsonb_build_object(
		'batch', jsonb_build_object(
			'batch_id', NEW.batch_id,
			'name', NEW.name,
			'workflow_id', NEW.workflow_id,
			'status', NEW.status,
			'total_instances', NEW.total_instances,
			'completed', NEW.completed_instances,
			'failed', NEW.failed_instances,
			'cancelled', n_cancelled,
			'created_at', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			'completed_at', to_char(coalesce(NEW.completed_at, now()) AT TIME ZONE 'UTC',
						'YYYY-MM-DD"T"HH24:MI:SS"Z"'))), NEW.id);
	RETURN NULL;
END
$$;

CREATE TRIGGER webhook_on_batch_final
	AFTER UPDATE OF status ON batch_executions
	FOR EACH ROW
	WHEN (OLD.status IS DISTINCT FROM NEW.status
	      AND NEW.status IN ('completed', 'partial', 'failed', 'cancelled')
	      AND OLD.status NOT IN ('completed', 'partial', 'failed', 'cancelled'))
	EXECUTE FUNCTION amcbatch_webhook_batch_final();
