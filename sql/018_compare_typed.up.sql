-- 018_compare_typed: the portfolio comparison (GET /workflows/batch/{b}/compare) sums the
-- metric from the execution's typed table (sql/016) instead of through result_rows, which
-- built a jsonb object of every column of every row only for the comparison to read one or
-- two keys back out of it.
--
-- One execution's rows of p_table summed by group, as the comparison read them from
-- result_rows: p_metric and p_by are API column names, looked up in p_columns (the
-- execution's result_columns; the last entry of a repeated name, as jsonb_build_object kept
-- it). total is the sum of the metric's values as float8 where the value was a JSON number,
-- i.e. where the column is bigint or numeric (a text column, even of digits, was a JSON
-- string and is not counted; a column the table lacks, NULL); grp is row_data->>p_by (the
-- text, or the JSON text of a number or date), NULL without p_by or a column of that name;
-- n counts the rows of the group. No rows without a table. Identifiers are quoted with %I:
-- the names come from the request, the columns from result_columns. Runs with the caller's
-- rights, as amcbatch_result_rows() does.
CREATE FUNCTION amcbatch_result_sums(p_table regclass, p_columns jsonb, p_metric text,
				     p_by text DEFAULT NULL)
RETURNS TABLE (grp text, total double precision, n bigint) LANGUAGE plpgsql STABLE AS $$
DECLARE
	m jsonb;
	b jsonb;
	val text := 'NULL::double precision';
	g text := 'NULL::text';
BEGIN
	IF p_table IS NULL THEN
		RETURN;
	END IF;
	SELECT x.value INTO m FROM jsonb_array_elements(p_columns) WITH ORDINALITY AS x(value, ord)
	 WHERE x.value->>'name' = p_metric ORDER BY x.ord DESC LIMIT 1;
	IF m->>'sql_type' IN ('bigint', 'numeric') THEN
		val := format('t.%I::double precision', m->>'column');
	END IF;
	IF p_by IS NOT NULL THEN
		SELECT x.value INTO b FROM jsonb_array_elements(p_columns) WITH ORDINALITY AS x(value, ord)
		 WHERE x.value->>'name' = p_by ORDER BY x.ord DESC LIMIT 1;
		IF b->>'sql_type' = 'text' THEN
			g := format('t.%I', b->>'column');
		ELSIF b IS NOT NULL THEN
			g := format('to_jsonb(t.%I) #>> ''{}''', b->>'column');
		END IF;
	END IF;
	RETURN QUERY EXECUTE format('SELECT %s, sum(%s), count(*) FROM %s t GROUP BY 1', g, val,
				    p_table);
END
$$;
