-- 015_workflows: workflows that can be edited, shared and retired without losing history
-- (issue 13). Every edit of what a workflow runs makes a new version; the first is made by
-- the insert. A batch records the version it ran (its sql_query was already its own copy,
-- sql/004). A workflow is shared with other users to read or to run. DELETE archives: the
-- batches that ran it keep their history (batch_executions.workflow_id cascades on a real
-- delete), and an archived workflow no longer runs or lists.
ALTER TABLE workflows
	ADD COLUMN version integer NOT NULL DEFAULT 1,
	-- {name: "date" | "number" | "text" | "list"}: the type of a placeholder's value, checked
	-- on every batch and used by the batch form; parameters keeps the defaults
	ADD COLUMN parameter_types jsonb NOT NULL DEFAULT '{}',
	ADD COLUMN archived_at timestamptz,
	ADD COLUMN updated_by uuid REFERENCES users(id) ON DELETE SET NULL;	-- who made the version

CREATE TABLE workflow_versions (
	workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	version integer NOT NULL,
	name text NOT NULL,
	description text NOT NULL,
	sql_query text NOT NULL,
	parameters jsonb NOT NULL,
	parameter_types jsonb NOT NULL,
	created_by uuid REFERENCES users(id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (workflow_id, version)
);
INSERT INTO workflow_versions (workflow_id, version, name, description, sql_query, parameters,
			       parameter_types, created_by, created_at)
	SELECT id, 1, name, description, sql_query, parameters, parameter_types, user_id, created_at
	  FROM workflows;

-- The version rows are written here, whoever changes a workflow: an UPDATE that changes what
-- runs (SQL, defaults, types) bumps version; a rename alone does not. created_by is the
-- row's updated_by (the API sets it to whoever edits: the owner or an admin).
CREATE FUNCTION amcbatch_workflow_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF NEW.sql_query IS NOT DISTINCT FROM OLD.sql_query
		   AND NEW.parameters IS NOT DISTINCT FROM OLD.parameters
		   AND NEW.parameter_types IS NOT DISTINCT FROM OLD.parameter_types THEN
			RETURN NEW;	-- a version keeps the name it had when it was made
		END IF;
		NEW.version := OLD.version + 1;
		NEW.updated_at := now();
	END IF;
	INSERT INTO workflow_versions (workflow_id, version, name, description, sql_query, parameters,
				       parameter_types, created_by)
	VALUES (NEW.id, NEW.version, NEW.name, NEW.description, NEW.sql_query, NEW.parameters,
		NEW.parameter_types, coalesce(NEW.updated_by, NEW.user_id));
	RETURN NEW;
END
$$;
-- BEFORE, so the UPDATE's new version number is the row's; the insert's version row needs
-- the row to exist (foreign key): AFTER INSERT
CREATE TRIGGER workflow_version_on_update BEFORE UPDATE ON workflows
	FOR EACH ROW EXECUTE FUNCTION amcbatch_workflow_version();
CREATE FUNCTION amcbatch_workflow_first_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO workflow_versions (workflow_id, version, name, description, sql_query, parameters,
				       parameter_types, created_by, created_at)
	VALUES (NEW.id, NEW.version, NEW.name, NEW.description, NEW.sql_query, NEW.parameters,
		NEW.parameter_types, NEW.user_id, NEW.created_at);
	RETURN NULL;
END
$$;
CREATE TRIGGER workflow_version_on_insert AFTER INSERT ON workflows
	FOR EACH ROW EXECUTE FUNCTION amcbatch_workflow_first_version();

-- The version a batch ran: the newest one whose SQL is the batch's own copy. Matching on the
-- SQL (not "the current version") keeps it exact when an edit commits between the API
-- reading the workflow and storing the batch.
ALTER TABLE batch_executions ADD COLUMN workflow_version integer;
UPDATE batch_executions b SET workflow_version = 1;
-- (security definer: a role inserting its own batches under RLS need not read the versions)
CREATE FUNCTION amcbatch_batch_workflow_version() RETURNS trigger LANGUAGE plpgsql
	SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
	SELECT max(v.version) INTO NEW.workflow_version FROM workflow_versions v
	 WHERE v.workflow_id = NEW.workflow_id AND v.sql_query = NEW.sql_query;
	RETURN NEW;
END
$$;
CREATE TRIGGER batch_workflow_version BEFORE INSERT ON batch_executions
	FOR EACH ROW EXECUTE FUNCTION amcbatch_batch_workflow_version();

CREATE TABLE workflow_shares (
	workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
	user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	permission text NOT NULL CHECK (permission IN ('read', 'run')),
	shared_by uuid REFERENCES users(id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (workflow_id, user_id)
);
CREATE INDEX idx_workflow_shares_user ON workflow_shares (user_id);

-- Row-level security as for the other user tables (sql/013): the owner's rows, and what is
-- shared with the user
ALTER TABLE workflow_shares ENABLE ROW LEVEL SECURITY;
-- The two policies below would read each other's table (PostgreSQL refuses the recursion),
-- and a role granted workflows should not need workflow_shares too: both tests run with the
-- definer's rights.
CREATE FUNCTION amcbatch_owns_workflow(p_workflow uuid) RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
	SELECT EXISTS (SELECT 1 FROM workflows w WHERE w.id = p_workflow
		       AND w.user_id = amcbatch_current_user_id())
$$;
CREATE FUNCTION amcbatch_shared_with_me(p_workflow uuid) RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
	SELECT EXISTS (SELECT 1 FROM workflow_shares s WHERE s.workflow_id = p_workflow
		       AND s.user_id = amcbatch_current_user_id())
$$;
CREATE POLICY "Users can view the shares of and with them" ON workflow_shares
	FOR SELECT USING (user_id = amcbatch_current_user_id()
			  OR amcbatch_owns_workflow(workflow_id));
CREATE POLICY "Users can view the workflows shared with them" ON workflows
	FOR SELECT USING (amcbatch_shared_with_me(id));
ALTER TABLE workflow_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users can view the versions of the workflows they see" ON workflow_versions
	FOR SELECT USING (EXISTS (SELECT 1 FROM workflows w WHERE w.id = workflow_versions.workflow_id));

-- The API's read cache (sql/012) keeps a user's GET /workflows until 'u:<user>' is notified:
-- a share changes what its recipient lists, and an edit of a shared workflow what every
-- recipient lists.
CREATE TRIGGER read_notify_workflow_share AFTER INSERT OR UPDATE OR DELETE ON workflow_shares
	FOR EACH ROW EXECUTE FUNCTION amcbatch_read_notify_user();
CREATE FUNCTION amcbatch_read_notify_shared() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	u uuid;
BEGIN
	FOR u IN SELECT s.user_id FROM workflow_shares s WHERE s.workflow_id = NEW.id LOOP
		PERFORM pg_notify('amcbatch_read', 'u:' || u);
	END LOOP;
	RETURN NULL;
END
$$;
CREATE TRIGGER read_notify_workflow_shared AFTER UPDATE ON workflows
	FOR EACH ROW EXECUTE FUNCTION amcbatch_read_notify_shared();
