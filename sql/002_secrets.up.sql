-- 002_secrets: LWA credentials are stored encrypted (AES-256-GCM, src/core/secret.c: "v1" ||
-- nonce || ciphertext || tag) with the key from config secret_key / AMCBATCH_SECRET_KEY.
-- The plain-text column goes: SQL has no key to encrypt existing values, so refresh tokens
-- stored before this migration must be entered again: POST /admin/accounts, or
-- `printf %s "$token" | amcbatch-worker --encrypt` and
-- UPDATE amc_accounts SET lwa_refresh_token_enc = decode('<hex>', 'hex') WHERE id = ...
-- (scripts/stack seeds its accounts this way).
ALTER TABLE amc_accounts
	ADD COLUMN lwa_refresh_token_enc bytea,
	ADD COLUMN lwa_client_secret_enc bytea,
	DROP COLUMN lwa_refresh_token;
