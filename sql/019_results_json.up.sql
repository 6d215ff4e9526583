-- 019_results_json: the results pages (GET /workflows/batch/{b}/results) read their rows as
-- json, not jsonb. The API parses each row's text and writes its keys in result_columns
-- order, so jsonb's binary form (built, its keys sorted, then printed again) bought nothing:
-- json_build_object prints the values once, as they come.
--
-- The object expression over a typed table's row t (sql/016) for columns (result_columns):
-- its keys the API's names in that order, its values the columns. json_build_object and
-- jsonb_build_object take at most 100 arguments: 50 columns per call, the calls joined (jsonb
-- with ||; json by splicing the texts, "{a} {b}" -> "{a, b}"). p_json: json, else jsonb.
CREATE FUNCTION amcbatch_result_object(p_columns jsonb, p_json boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	fn text := CASE WHEN p_json THEN 'json_build_object(' ELSE 'jsonb_build_object(' END;
	parts text[] := '{}';
	part text := '';
	k integer := 0;
	c jsonb;
BEGIN
	FOR c IN SELECT value FROM jsonb_array_elements(p_columns) LOOP
		IF k % 50 = 0 THEN
			IF k > 0 THEN
				parts := parts || (part || ')');
			END IF;
			part := fn;
		ELSE
			part := part || ', ';
		END IF;
		part := part || format('%L::text, t.%I', c->>'name', c->>'column');
		k := k + 1;
	END LOOP;
	IF k = 0 THEN
		RETURN CASE WHEN p_json THEN '''{}''::json' ELSE '''{}''::jsonb' END;
	END IF;
	parts := parts || (part || ')');
	IF NOT p_json THEN
		RETURN array_to_string(parts, ' || ');
	ELSIF cardinality(parts) = 1 THEN
		RETURN parts[1];
	END IF;
	-- rtrim(first, '}') || ', ' || btrim(middle, '{}') || ', ' ... || ltrim(last, '{')
	RETURN '(rtrim(' || parts[1] || '::text, ''}'') || '', '' || '
	       || coalesce((SELECT string_agg('btrim(' || p || '::text, ''{}'') || '', '' || ', '')
			      FROM unnest(parts[2:cardinality(parts) - 1]) p), '')
	       || 'ltrim(' || parts[cardinality(parts)] || '::text, ''{''))::json';
END
$$;

-- The query of one table's rows as (row_number, row_data), all or $1..$2 (BRIN on row_number)
CREATE FUNCTION amcbatch_result_query(p_table regclass, p_columns jsonb, p_json boolean,
				      p_range boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT format('SELECT t.row_number, %s FROM %s t%s ORDER BY t.row_number',
		      amcbatch_result_object(p_columns, p_json), p_table,
		      CASE WHEN p_range THEN ' WHERE t.row_number BETWEEN $1 AND $2' ELSE '' END)
$$;

-- 016's function, its query now from amcbatch_result_query
CREATE OR REPLACE FUNCTION amcbatch_result_rows(p_table regclass, p_columns jsonb,
						p_from integer DEFAULT NULL, p_to integer DEFAULT NULL)
RETURNS TABLE (row_number integer, row_data jsonb) LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_table IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE amcbatch_result_query(p_table, p_columns, false, p_from IS NOT NULL)
		USING p_from, p_to;
END
$$;

-- The same rows as amcbatch_result_rows(), row_data json (keys in p_columns order)
CREATE FUNCTION amcbatch_result_rows_json(p_table regclass, p_columns jsonb,
					  p_from integer DEFAULT NULL, p_to integer DEFAULT NULL)
RETURNS TABLE (row_number integer, row_data json) LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_table IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE amcbatch_result_query(p_table, p_columns, true, p_from IS NOT NULL)
		USING p_from, p_to;
END
$$;
