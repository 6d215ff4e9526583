-- The exec fields a claimed job carries back to its worker (claim, held_jobs): every field
-- src/worker/job.c (job_take) reads, by name (a field the worker starts reading must be added
-- here). Not HGETALL: half the fields (name, region, timestamps, error, ...) are never read by
-- a worker, and every field read costs (bench/script-instructions: ~3,000 instructions per
-- field and job, most of claim's cost), so they come in two reads:
-- JOB_FIELDS, what every claim needs (the first seven are read by position in claim), and
-- HELD_FIELDS, what only a holder writes (AMC id, 429 count, create intent): empty on a job
-- never claimed before (`claim` is 0), so claim reads them only for a job held before.
-- (Claim writes `worker`; it does not need to read it.)
local JOB_FIELDS = { 'state', 'slots', 'attempts', 'started_at', 'amc_instance_id', 'account_id',
	'claim', 'id', 'advertiser_id', 'marketplace_id', 'timezone', 'parameters', 'window_start',
	'window_end', 'amc_region' }
local F_SLOTS, F_CLAIM = 2, 7
-- the first of JOB_FIELDS that the worker reads (state and slots are claim's alone)
local F_REPLY = 3
local HELD_FIELDS = { 'amc_execution_id', 'throttled', 'create_intent_at' }

-- job_values(exec_key): HMGET of JOB_FIELDS, then of HELD_FIELDS appended when the exec was
-- claimed before; indexes as in JOB_FIELDS .. HELD_FIELDS
local function job_values(exec_key)
	local v = rcall('HMGET', exec_key, unpack(JOB_FIELDS))
	local token = v[F_CLAIM]
	if token and token ~= '' and token ~= '0' then
		local h = rcall('HMGET', exec_key, unpack(HELD_FIELDS))
		local n = #JOB_FIELDS
		for i = 1, #HELD_FIELDS do
			v[n + i] = h[i]
		end
	end
	return v
end

-- job_entry(ref, v, sql): one job of a claim-shaped reply: { ref, flat name/value array of
-- the fields from F_REPLY on whose values v (job_values) are not empty, sql_query }. The
-- worker reads a field that is not there as "" (a held field as 0: no 429s, no intent):
-- leaving out the empty ones (a fresh job's window, AMC id, ...) makes claim's reply
-- smaller, and encoding it was a measurable share of claim's cost. A held field of '0' is
-- empty too, so a job answered again by held_jobs reads exactly as its claim did.
local function job_entry(ref, v, sql)
	local h = {}
	local n = 0
	local nj = #JOB_FIELDS
	for i = F_REPLY, nj + #HELD_FIELDS do
		local x = v[i]
		if x and x ~= '' and (i <= nj or x ~= '0') then
			h[n + 1] = i <= nj and JOB_FIELDS[i] or HELD_FIELDS[i - nj]
			h[n + 2] = x
			n = n + 2
		end
	end
	return { ref, h, sql }
end
