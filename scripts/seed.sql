-- seed.sql - the local stack's sample data: an admin (token hash passed as :token_hash), three AMC
-- accounts (encrypted LWA credentials passed as :rt1..:rt3, :cs), twelve simulated instances
-- (one sandbox) and a sample workflow. Idempotent.
INSERT INTO users (id, email, role) VALUES
	('00000000-0000-4000-8000-000000000001', 'admin@example.com', 'admin')
ON CONFLICT (id) DO NOTHING;
INSERT INTO api_tokens (user_id, token_hash, name) VALUES
	('00000000-0000-4000-8000-000000000001', :'token_hash', 'stack admin')
ON CONFLICT (token_hash) DO NOTHING;

INSERT INTO amc_accounts (id, account_name, advertiser_id, marketplace_id, region, lwa_client_id) VALUES
	('10000000-0000-4000-8000-000000000001', 'Northwind Agency', 'ENTITY1NORTHWIND', 'ATVPDKIKX0DER', 'NA', 'amzn1.application-oa2-client.sim'),
	('10000000-0000-4000-8000-000000000002', 'Contoso Europe', 'ENTITY2CONTOSO', 'A1F83G8C2ARO7P', 'EU', 'amzn1.application-oa2-client.sim'),
	('10000000-0000-4000-8000-000000000003', 'Fabrikam APAC', 'ENTITY3FABRIKAM', 'A1VC38T7YXB528', 'FE', 'amzn1.application-oa2-client.sim')
ON CONFLICT (id) DO NOTHING;
-- LWA credentials arrive encrypted (hex of `amcbatch-worker --encrypt`, see scripts/stack):
-- :rt1 .. :rt3 refresh tokens, :cs the client secret. Set once, kept afterwards.
UPDATE amc_accounts SET lwa_refresh_token_enc = decode(v.rt, 'hex'), lwa_client_secret_enc = decode(:'cs', 'hex')
FROM (VALUES ('10000000-0000-4000-8000-000000000001'::uuid, :'rt1'),
	     ('10000000-0000-4000-8000-000000000002'::uuid, :'rt2'),
	     ('10000000-0000-4000-8000-000000000003'::uuid, :'rt3')) AS v(id, rt)
WHERE amc_accounts.id = v.id AND amc_accounts.lwa_refresh_token_enc IS NULL;

INSERT INTO instances (id, instance_id, instance_name, region, brands, account_id, is_sandbox, timezone) VALUES
	('20000000-0000-4000-8000-000000000001', 'amcnw01us1a', 'US-East Production', 'us-east-1', '{Northwind,Aurora}', '10000000-0000-4000-8000-000000000001', false, 'America/New_York'),
	('20000000-0000-4000-8000-000000000002', 'amcnw02us2b', 'US-West Production', 'us-west-2', '{Northwind}', '10000000-0000-4000-8000-000000000001', false, 'America/Los_Angeles'),
	('20000000-0000-4000-8000-000000000003', 'amcnw03ca1c', 'Canada Retail', 'us-east-1', '{Aurora,Maple}', '10000000-0000-4000-8000-000000000001', false, 'America/Toronto'),
	('20000000-0000-4000-8000-000000000004', 'amcnw04mx1d', 'Mexico Launch', 'us-east-1', '{Northwind,Sol}', '10000000-0000-4000-8000-000000000001', false, 'America/Mexico_City'),
	('20000000-0000-4000-8000-000000000005', 'amccn01uk1e', 'UK Grocery', 'eu-west-1', '{Contoso,Fresh}', '10000000-0000-4000-8000-000000000002', false, 'Europe/London'),
	('20000000-0000-4000-8000-000000000006', 'amccn02de1f', 'Germany Electronics', 'eu-central-1', '{Contoso}', '10000000-0000-4000-8000-000000000002', false, 'Europe/Berlin'),
	('20000000-0000-4000-8000-000000000007', 'amccn03fr1g', 'France Beauty', 'eu-west-3', '{Lumiere,Contoso}', '10000000-0000-4000-8000-000000000002', false, 'Europe/Paris'),
	('20000000-0000-4000-8000-000000000008', 'amccn04es1h', 'Spain Home', 'eu-south-2', '{Casa}', '10000000-0000-4000-8000-000000000002', false, 'Europe/Madrid'),
	('20000000-0000-4000-8000-000000000009', 'amcfb01jp1i', 'Japan Toys', 'ap-northeast-1', '{Fabrikam,Kumo}', '10000000-0000-4000-8000-000000000003', false, 'Asia/Tokyo'),
	('20000000-0000-4000-8000-00000000000a', 'amcfb02au1j', 'Australia Outdoor', 'ap-southeast-2', '{Fabrikam,Outback}', '10000000-0000-4000-8000-000000000003', false, 'Australia/Sydney'),
	('20000000-0000-4000-8000-00000000000b', 'amcfb03in1k', 'India Fashion', 'ap-south-1', '{Fabrikam}', '10000000-0000-4000-8000-000000000003', false, 'Asia/Kolkata'),
	('20000000-0000-4000-8000-00000000000c', 'amcnw99sbx1', 'Sandbox (Northwind)', 'us-east-1', '{Northwind,Aurora}', '10000000-0000-4000-8000-000000000001', true, 'UTC')
ON CONFLICT (id) DO NOTHING;

INSERT INTO workflows (id, user_id, name, description, sql_query, parameters) VALUES
	('30000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001',
	 'Campaign performance', 'Impressions, clicks and spend per campaign in the window',
	 'SELECT campaign, SUM(impressions) AS impressions, SUM(clicks) AS clicks, ROUND(SUM(spend), 2) AS spend FROM impressions WHERE impressions >= {{minImpressions}} GROUP BY campaign ORDER BY campaign',
	 '{"startDate": "2025-01-01", "endDate": "2025-01-31", "minImpressions": 0}')
ON CONFLICT (id) DO NOTHING;
