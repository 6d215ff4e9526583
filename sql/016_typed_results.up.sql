-- 016_typed_results: each archived execution's rows in a table of their own, with the CSV's
-- columns typed (amcbatch_results.<execution id>: row_number 1..n, then bigint / numeric /
-- date / text columns; written by the worker's archiver with COPY in the transaction that
-- completes the execution). result_rows (one jsonb row per result row) could not be loaded
-- faster than ~0.4 of COPY into typed columns (docs/benchmarks.md, section 7); result_rows
-- and batch_result_rows become views with the same columns over the typed tables.
CREATE SCHEMA amcbatch_results;

-- the execution's table (schema-qualified name), NULL when it has none (not completed, or an
-- empty result file); result_columns entries gain "column" (the table's column, at most 63
-- bytes and unique: the CSV's own name when it can be) and "sql_type"
ALTER TABLE workflow_executions ADD COLUMN result_table text
	CHECK (result_table ~ '^amcbatch_results\.exec_[0-9a-f]{8}$');

-- One execution's rows as result_rows had them: (row_number, row_data), row_data a JSON object
-- keyed by the API's column names (numbers as numbers, empty values null); rows p_from..p_to
-- (all without them), in order. Runs with the caller's rights: the table's policy applies.
CREATE FUNCTION amcbatch_result_rows(p_table regclass, p_columns jsonb,
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

-- The table goes with the execution (deleted, or cascaded from its batch or workflow) and
-- when the execution stops being completed with it (a cancel, a re-run, the purge setting
-- result_table NULL): no path has to remember it. Security definer: whoever may delete the
-- execution may drop its table.
CREATE FUNCTION amcbatch_drop_result_table() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
DECLARE
	t regclass := to_regclass(OLD.result_table);
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF t IS NOT NULL THEN
			EXECUTE format('DROP TABLE %s', t);
		END IF;
		RETURN OLD;
	END IF;
	IF NEW.status <> 'completed' THEN
		NEW.result_table := NULL;
	END IF;
	IF NEW.result_table IS DISTINCT FROM OLD.result_table AND t IS NOT NULL THEN
		EXECUTE format('DROP TABLE %s', t);
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER drop_result_table_on_delete AFTER DELETE ON workflow_executions
	FOR EACH ROW WHEN (OLD.result_table IS NOT NULL) EXECUTE FUNCTION amcbatch_drop_result_table();
CREATE TRIGGER drop_result_table_on_change BEFORE UPDATE ON workflow_executions
	FOR EACH ROW WHEN (OLD.result_table IS NOT NULL) EXECUTE FUNCTION amcbatch_drop_result_table();

-- the rows archived so far, each execution into its table: numbers as numeric, the rest text
ALTER TABLE result_rows RENAME TO result_rows_016;
DROP VIEW batch_result_rows;
DO $$
DECLARE
	e record;
	c record;
	tbl text;
	used text[];
	cols jsonb;
	ddl text;
	sel text;
	nm text;
BEGIN
	FOR e IN SELECT w.id, w.execution_id, w.user_id, w.result_columns FROM workflow_executions w
		  WHERE w.status = 'completed' AND jsonb_typeof(w.result_columns) = 'array'
		    AND jsonb_array_length(w.result_columns) > 0 LOOP
		tbl := 'amcbatch_results.' || e.execution_id;
		used := ARRAY['row_number'];
		cols := '[]';
		ddl := '';
		sel := '';
		FOR c IN SELECT x.value AS v, x.ord FROM jsonb_array_elements(e.result_columns)
			   WITH ORDINALITY AS x(value, ord) ORDER BY x.ord LOOP
			nm := c.v->>'name';
			IF nm IS NULL OR nm = '' OR octet_length(nm) > 63 OR nm = ANY (used) THEN
				nm := 'column_' || c.ord;
			END IF;
			used := used || nm;
			cols := cols || jsonb_build_array(c.v || jsonb_build_object('column', nm,
				'sql_type', CASE WHEN c.v->>'type' = 'number' THEN 'numeric' ELSE 'text' END));
			ddl := ddl || format(', %I %s', nm, CASE WHEN c.v->>'type' = 'number' THEN 'numeric' ELSE 'text' END);
			sel := sel || format(', (r.row_data->>%L)::%s', c.v->>'name',
					     CASE WHEN c.v->>'type' = 'number' THEN 'numeric' ELSE 'text' END);
		END LOOP;
		EXECUTE format('CREATE TABLE %s (row_number integer NOT NULL%s)', tbl, ddl);
		EXECUTE format('INSERT INTO %s SELECT r.row_number%s FROM result_rows_016 r'
			       ' WHERE r.execution_id = %L ORDER BY r.row_number', tbl, sel, e.id);
		EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
		EXECUTE format('CREATE POLICY owner ON %s FOR SELECT USING (amcbatch_current_user_id() = %L::uuid)',
			       tbl, e.user_id);
		EXECUTE format('CREATE INDEX ON %s USING brin (row_number) WITH (pages_per_range = 8)', tbl);
		UPDATE workflow_executions SET result_table = tbl, result_columns = cols WHERE id = e.id;
	END LOOP;
END
$$;
DROP TABLE result_rows_016;

-- the same relations as before, for analysts and for every query written against them
CREATE VIEW result_rows WITH (security_invoker = true) AS
SELECT e.id AS execution_id, r.row_number, r.row_data
  FROM workflow_executions e
  CROSS JOIN LATERAL amcbatch_result_rows(to_regclass(e.result_table), e.result_columns) r
 WHERE e.result_table IS NOT NULL;
CREATE VIEW batch_result_rows WITH (security_invoker = true) AS
SELECT b.batch_id, b.id AS batch_execution_id, i.instance_name, i.instance_id AS amc_instance_id,
       e.target_instance_id AS instance_id, e.execution_id, r.row_number, r.row_data
  FROM result_rows r
  JOIN workflow_executions e ON e.id = r.execution_id
  JOIN batch_executions b ON b.id = e.batch_execution_id
  JOIN instances i ON i.id = e.target_instance_id;
