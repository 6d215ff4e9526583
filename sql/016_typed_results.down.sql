-- 016_typed_results down: the typed tables' rows back into one result_rows table of jsonb
-- rows (read through the view before it goes), with 001's key and 013's policy.
CREATE TABLE result_rows_016 (
	execution_id uuid NOT NULL REFERENCES workflow_executions(id) ON DELETE CASCADE,
	row_number integer NOT NULL,
	row_data jsonb NOT NULL,
	PRIMARY KEY (execution_id, row_number)
);
INSERT INTO result_rows_016 SELECT execution_id, row_number, row_data FROM result_rows;
DROP VIEW batch_result_rows;
DROP VIEW result_rows;
DROP TRIGGER drop_result_table_on_change ON workflow_executions;
DROP TRIGGER drop_result_table_on_delete ON workflow_executions;
DROP FUNCTION amcbatch_drop_result_table();
DROP FUNCTION amcbatch_result_rows(regclass, jsonb, integer, integer);
DROP SCHEMA amcbatch_results CASCADE;
UPDATE workflow_executions w SET result_columns = (
	SELECT jsonb_agg(x.value - 'column' - 'sql_type' ORDER BY x.ord)
	  FROM jsonb_array_elements(w.result_columns) WITH ORDINALITY AS x(value, ord))
 WHERE jsonb_typeof(w.result_columns) = 'array' AND jsonb_array_length(w.result_columns) > 0;
ALTER TABLE workflow_executions DROP COLUMN result_table;
ALTER TABLE result_rows_016 RENAME TO result_rows;
ALTER TABLE result_rows RENAME CONSTRAINT result_rows_016_pkey TO result_rows_pkey;
ALTER TABLE result_rows RENAME CONSTRAINT result_rows_016_execution_id_fkey TO result_rows_execution_id_fkey;
ALTER TABLE result_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the rows of their own executions" ON result_rows
	FOR SELECT USING (EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = result_rows.execution_id
				  AND e.user_id = amcbatch_current_user_id()));
CREATE VIEW batch_result_rows AS
SELECT b.batch_id, b.id AS batch_execution_id, i.instance_name, i.instance_id AS amc_instance_id,
       e.target_instance_id AS instance_id, e.execution_id, r.row_number, r.row_data
  FROM result_rows r
  JOIN workflow_executions e ON e.id = r.execution_id
  JOIN batch_executions b ON b.id = e.batch_execution_id
  JOIN instances i ON i.id = e.target_instance_id;
ALTER VIEW batch_result_rows SET (security_invoker = true);
