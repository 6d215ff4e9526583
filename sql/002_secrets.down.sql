-- 002_secrets down: the plain column comes back empty (the encrypted values cannot be
-- decrypted in SQL); the encrypted columns are dropped.
ALTER TABLE amc_accounts
	ADD COLUMN lwa_refresh_token text NOT NULL DEFAULT '',
	DROP COLUMN lwa_client_secret_enc,
	DROP COLUMN lwa_refresh_token_enc;
