-- 008_schedules: recurring batches (issue 10). A schedule is a batch request (workflow,
-- instances, parameters, relative window) plus a 5-field cron evaluated in a time zone. The
-- API processes fire due slots (src/api/scheduler.c); exactly one batch per slot comes from
-- amcbatch_schedule_claim (a compare-and-set of next_run_at under the schedule's row lock),
-- backed by the unique (schedule_id, scheduled_for) of the batches and the runs' primary key.
CREATE TABLE schedules (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name text NOT NULL,
	description text,
	workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	instance_ids jsonb NOT NULL DEFAULT '[]',
	parameters jsonb NOT NULL DEFAULT '{}',
	instance_parameters jsonb NOT NULL DEFAULT '{}',
	time_window jsonb,			-- a relative window (sql/006), resolved at each slot
	cron text NOT NULL,
	timezone text NOT NULL DEFAULT 'UTC',
	overlap text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'queue')),
	enabled boolean NOT NULL DEFAULT true,
	next_run_at timestamptz,		-- the next slot; NULL while paused
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (enabled = (next_run_at IS NOT NULL))
);
CREATE INDEX idx_schedules_user ON schedules (user_id, created_at);
-- the trigger's only query: the due slots
CREATE INDEX idx_schedules_due ON schedules (next_run_at) WHERE enabled;

ALTER TABLE batch_executions
	ADD COLUMN schedule_id uuid REFERENCES schedules(id) ON DELETE SET NULL,
	ADD COLUMN scheduled_for timestamptz;
CREATE UNIQUE INDEX idx_batch_executions_slot ON batch_executions (schedule_id, scheduled_for)
	WHERE schedule_id IS NOT NULL;

-- What became of each slot: a batch started, the slot skipped (missed while nothing ran, or
-- the previous run still going), or the run refused (workflow gone, no instance left, ...).
CREATE TABLE schedule_runs (
	schedule_id uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
	scheduled_for timestamptz NOT NULL,
	outcome text NOT NULL CHECK (outcome IN ('started', 'skipped', 'failed')),
	trigger text NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'manual')),
	reason text,				-- skipped: missed | overlap; failed: the error
	batch_execution_id uuid REFERENCES batch_executions(id) ON DELETE SET NULL,
	refused jsonb,				-- [{instance_id, code, message}] left out of this run
	missed integer NOT NULL DEFAULT 0,	-- earlier slots skipped as missed by this run
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (schedule_id, scheduled_for)
);
CREATE INDEX idx_schedule_runs_batch ON schedule_runs (batch_execution_id)
	WHERE batch_execution_id IS NOT NULL;

-- Claims slot p_slot of schedule p_id for batch p_batch (NULL: a run without a batch) inside
-- the firing transaction. p_expected is the next_run_at the firing process read (NULL for a
-- manual run, which leaves next_run_at alone); it becomes p_next. The UPDATE takes the
-- schedule's row lock: a concurrent firing of the same slot waits for this transaction and
-- then finds next_run_at moved on, and fails with SQLSTATE ABS01 (its whole transaction,
-- batch included, rolls back). Returns false when this transaction is a re-run of one that
-- committed (its COMMIT answer lost): the slot already names p_batch and nothing changes.
CREATE FUNCTION amcbatch_schedule_claim(p_id uuid, p_slot timestamptz, p_expected timestamptz,
					p_next timestamptz, p_batch uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF p_batch IS NOT NULL AND EXISTS (SELECT 1 FROM schedule_runs
		WHERE schedule_id = p_id AND scheduled_for = p_slot AND batch_execution_id = p_batch) THEN
		RETURN false;
	END IF;
	IF p_expected IS NULL THEN
		PERFORM 1 FROM schedules WHERE id = p_id FOR UPDATE;
	ELSE
		UPDATE schedules SET next_run_at = p_next
		 WHERE id = p_id AND enabled AND next_run_at = p_expected;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'schedule % slot % is taken or the schedule changed', p_id, p_slot
			USING ERRCODE = 'ABS01';
	END IF;
	RETURN true;
END $$;

-- Row-level security as for batches (001): direct SQL users see their own.
ALTER TABLE schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view their own schedules" ON schedules
	FOR SELECT USING (user_id = amcbatch_current_user_id());
ALTER TABLE schedule_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the runs of their own schedules" ON schedule_runs
	FOR SELECT USING (EXISTS (SELECT 1 FROM schedules s WHERE s.id = schedule_id
				  AND s.user_id = amcbatch_current_user_id()));
