-- 017_submit_path: the batch-execute path (issue 12). Two things:
--  1. a batch's executions are found by (batch_execution_id, target_instance_id): the 201 body
--     and the enqueue arguments join a batch's instance list to its executions on both, and
--     with only 001's one-column indexes the planner walked every execution ever run on each
--     instance (idx_workflow_executions_target_instance, then a filter on the batch): 410 rows
--     per instance after 41,000 executions, 22 ms for each of the two statements of one
--     100-instance batch, growing with the history. The new index replaces 001's index on
--     batch_execution_id alone (its prefix serves the same look-ups), so an inserted
--     execution updates as many indexes as before;
--  2. amcbatch_insert_batch inserts the executions with one plain INSERT first and falls back
--     to 005's drawing loop only when an id is taken (a unique violation, in a subtransaction):
--     ON CONFLICT DO NOTHING's speculative insertion, the RETURNING list and the set difference
--     after it cost about 1 ms per 100 executions on every call, for a collision that almost
--     never happens (2^32 execution ids).
CREATE INDEX idx_workflow_executions_batch_target
	ON workflow_executions (batch_execution_id, target_instance_id);
DROP INDEX idx_workflow_executions_batch_id;

CREATE OR REPLACE FUNCTION amcbatch_insert_batch(p_id uuid, p_batch_id text, p_workflow_id uuid,
	p_user_id uuid, p_name text, p_description text, p_instance_ids jsonb,
	p_base_parameters jsonb, p_instance_parameters jsonb, p_sql_query text, p_execs jsonb)
RETURNS TABLE (batch_id text, created boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
	v_batch_id text := p_batch_id;
	v_todo jsonb := p_execs;
	v_rounds integer := 0;
BEGIN
	LOOP
		-- ON CONFLICT without a target covers both the UUID and the batch id; a concurrent
		-- attempt of the same batch (an old connection still committing) is waited for
		INSERT INTO batch_executions (id, batch_id, workflow_id, name, description, instance_ids,
			base_parameters, instance_parameters, status, total_instances, user_id, sql_query)
		VALUES (p_id, v_batch_id, p_workflow_id, p_name, p_description, p_instance_ids,
			p_base_parameters, p_instance_parameters, 'pending', jsonb_array_length(p_execs),
			p_user_id, p_sql_query)
		ON CONFLICT DO NOTHING;
		EXIT WHEN FOUND;
		SELECT b.batch_id INTO v_batch_id FROM batch_executions b WHERE b.id = p_id;
		IF FOUND THEN
			RETURN QUERY SELECT v_batch_id, false;
			RETURN;
		END IF;
		v_rounds := v_rounds + 1;
		IF v_rounds > 100 THEN
			RAISE EXCEPTION 'amcbatch_insert_batch: no free batch id after 100 draws';
		END IF;
		v_batch_id := generate_batch_id();
	END LOOP;

	-- the common case: every candidate id is free
	BEGIN
		INSERT INTO workflow_executions (id, execution_id, workflow_id, user_id, instance_id,
			status, parameters, batch_execution_id, target_instance_id, is_batch_member,
			time_window_start, time_window_end, time_window_timezone)
		SELECT e.id, e.exec_id, p_workflow_id, p_user_id, e.amc_instance_id, 'pending',
		       e.parameters::jsonb, p_id, e.instance_uuid, true, nullif(e.window_start, ''),
		       nullif(e.window_end, ''), nullif(e.timezone, '')
		  FROM jsonb_to_recordset(p_execs) AS e(id uuid, exec_id text, instance_uuid uuid,
		       amc_instance_id text, parameters text, window_start text, window_end text,
		       timezone text);
		RETURN QUERY SELECT v_batch_id, true;
		RETURN;
	EXCEPTION WHEN unique_violation THEN
		NULL;	-- rolled back to the block's start: 005's loop draws new ids below
	END;

	-- every round inserts the executions whose ids are free and draws new ids for the others
	v_rounds := 0;
	LOOP
		WITH ins AS (
			INSERT INTO workflow_executions (id, execution_id, workflow_id, user_id, instance_id,
				status, parameters, batch_execution_id, target_instance_id, is_batch_member,
				time_window_start, time_window_end, time_window_timezone)
			SELECT e.id, e.exec_id, p_workflow_id, p_user_id, e.amc_instance_id, 'pending',
			       e.parameters::jsonb, p_id, e.instance_uuid, true, nullif(e.window_start, ''),
			       nullif(e.window_end, ''), nullif(e.timezone, '')
			  FROM jsonb_to_recordset(v_todo) AS e(id uuid, exec_id text, instance_uuid uuid,
			       amc_instance_id text, parameters text, window_start text, window_end text,
			       timezone text)
			ON CONFLICT DO NOTHING
			RETURNING id)
		SELECT jsonb_agg(jsonb_set(t.value, '{exec_id}', to_jsonb(generate_execution_id())))
		  INTO v_todo
		  FROM jsonb_array_elements(v_todo) AS t
		 WHERE (t.value->>'id')::uuid NOT IN (SELECT ins.id FROM ins);
		EXIT WHEN v_todo IS NULL;
		v_rounds := v_rounds + 1;
		IF v_rounds > 100 THEN
			RAISE EXCEPTION 'amcbatch_insert_batch: no free execution ids after 100 draws';
		END IF;
	END LOOP;
	RETURN QUERY SELECT v_batch_id, true;
END
$$;
