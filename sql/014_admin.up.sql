-- 014_admin: users and instances can be disabled without deleting them (their batches,
-- results and grants stay). A disabled user's tokens are refused; a disabled instance is
-- refused by batch-execute, left out of schedule runs and of members' GET /instances. NULL
-- means enabled; the time says since when, for the admin pages.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE instances ADD COLUMN disabled_at timestamptz;
