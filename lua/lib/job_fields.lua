-- JOB_FIELDS: the exec fields a claimed job carries back to its worker (claim, held_jobs):
-- every field src/worker/job.c (job_new) reads, by name (a field the worker starts reading
-- must be added here). Not HGETALL: half the fields (name, region, timestamps, error, ...) are
-- never read by a worker, and reading and returning them was a measurable share of claim's
-- cost (docs/benchmarks.md). The first six are read by position in claim.
local JOB_FIELDS = { 'state', 'worker', 'attempts', 'started_at', 'amc_instance_id', 'account_id',
	'id', 'advertiser_id', 'marketplace_id', 'timezone', 'amc_execution_id', 'parameters',
	'throttled', 'claim', 'slots', 'window_start', 'window_end', 'create_intent_at',
	'create_intent_claim' }
local F_CLAIM, F_SLOTS = 14, 15

-- job_entry(ref, v, sql): one job of a claim-shaped reply: { ref, flat name/value array of
-- JOB_FIELDS from their HMGET values v (a missing field reads ""), sql_query }
local function job_entry(ref, v, sql)
	local h = {}
	for i, name in ipairs(JOB_FIELDS) do
		h[2 * i - 1] = name
		h[2 * i] = v[i] or ''
	end
	return { ref, h, sql }
end
