-- 005_submit rollback
DROP FUNCTION IF EXISTS amcbatch_insert_batch(uuid, text, uuid, uuid, text, text, jsonb, jsonb,
	jsonb, text, jsonb);
DROP FUNCTION IF EXISTS generate_execution_id();
