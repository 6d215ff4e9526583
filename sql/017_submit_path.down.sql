-- 017_submit_path rollback: 001's index on batch_execution_id, 005's insert function
CREATE INDEX idx_workflow_executions_batch_id ON workflow_executions (batch_execution_id);
DROP INDEX idx_workflow_executions_batch_target;
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
