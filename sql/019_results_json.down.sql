-- 019_results_json rollback: 016's amcbatch_result_rows, the pages read jsonb again
DROP FUNCTION amcbatch_result_rows_json(regclass, jsonb, integer, integer);
CREATE OR REPLACE FUNCTION amcbatch_result_rows(p_table regclass, p_columns jsonb,
				     p_from integer DEFAULT NULL, p_to integer DEFAULT NULL)
RETURNS TABLE (row_number integer, row_data jsonb) LANGUAGE plpgsql STABLE AS $$
DECLARE
	obj text := '';
	part text := '';
	k integer := 0;
	c jsonb;
BEGIN
	IF p_table IS NULL THEN
		RETURN;
	END IF;
	-- jsonb_build_object takes at most 100 arguments: 50 columns per call, joined by ||
	FOR c IN SELECT value FROM jsonb_array_elements(p_columns) LOOP
		IF k % 50 = 0 THEN
			IF k > 0 THEN
				obj := obj || part || ') || ';
			END IF;
			part := 'jsonb_build_object(';
		ELSE
			part := part || ', ';
		END IF;
		part := part || format('%L::text, t.%I', c->>'name', c->>'column');
		k := k + 1;
	END LOOP;
	obj := CASE WHEN k = 0 THEN '''{}''::jsonb' ELSE obj || part || ')' END;
	IF p_from IS NULL THEN
		RETURN QUERY EXECUTE format('SELECT t.row_number, %s FROM %s t ORDER BY t.row_number',
					    obj, p_table);
	ELSE
		RETURN QUERY EXECUTE format('SELECT t.row_number, %s FROM %s t'
					    ' WHERE t.row_number BETWEEN $1 AND $2 ORDER BY t.row_number',
					    obj, p_table) USING p_from, p_to;
	END IF;
END
$$;
DROP FUNCTION amcbatch_result_query(regclass, jsonb, boolean, boolean);
DROP FUNCTION amcbatch_result_object(jsonb, boolean);
