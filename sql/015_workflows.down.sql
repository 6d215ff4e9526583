-- 015_workflows down: versions, shares and archiving go; workflows keep their current text.
DROP TRIGGER read_notify_workflow_shared ON workflows;
DROP FUNCTION amcbatch_read_notify_shared();
DROP TRIGGER read_notify_workflow_share ON workflow_shares;
DROP POLICY "Users can view the versions of the workflows they see" ON workflow_versions;
DROP POLICY "Users can view the workflows shared with them" ON workflows;
DROP TABLE workflow_shares;
DROP FUNCTION amcbatch_owns_workflow(uuid);
DROP FUNCTION amcbatch_shared_with_me(uuid);
DROP TRIGGER batch_workflow_version ON batch_executions;
DROP FUNCTION amcbatch_batch_workflow_version();
ALTER TABLE batch_executions DROP COLUMN workflow_version;
DROP TRIGGER workflow_version_on_insert ON workflows;
DROP FUNCTION amcbatch_workflow_first_version();
DROP TRIGGER workflow_version_on_update ON workflows;
DROP FUNCTION amcbatch_workflow_version();
DROP TABLE workflow_versions;
ALTER TABLE workflows DROP COLUMN version, DROP COLUMN parameter_types, DROP COLUMN archived_at,
	DROP COLUMN updated_by;
