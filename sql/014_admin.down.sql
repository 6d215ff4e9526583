-- 014_admin rollback: everyone and everything enabled again
ALTER TABLE instances DROP COLUMN IF EXISTS disabled_at;
ALTER TABLE users DROP COLUMN IF EXISTS disabled_at;
