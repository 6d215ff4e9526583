--[[
  held_error(f, worker, token): the guard of every script a worker calls on a job it holds
  (record_amc_id, set_phase, retry, release, finish), in one order: unknown exec, cancelled
  (the worker must stop and cancel on AMC), held by another claim, not running. f holds the
  exec's `state`, `worker` and `claim` fields. nil when the job is running under this claim.

  A claim is an epoch: `claim` hands out a fencing token (the exec's `claim` field) and only
  the holder of the newest token may write. The worker id alone cannot tell two claims apart:
  after an outage longer than the lease, a worker may claim its own job again while it still
  runs the first claim in memory. Needs lib/codes included first.
]]
local function held_error(f, worker, token)
	if not f.state then
		return ERR_NOT_FOUND
	end
	if f.state == 'cancelled' then
		return ERR_CANCELLED
	end
	if f.worker ~= worker or f.claim ~= token then
		return ERR_NOT_OWNER
	end
	if f.state ~= 'running' then
		return ERR_WRONG_STATE
	end
	return nil
end

-- held_fields(exec_key, ...): HMGET of state, worker, claim and the extra fields named, as a
-- table by field name (absent fields are nil)
local function held_fields(exec_key, ...)
	local names = { 'state', 'worker', 'claim', ... }
	local v = rcall('HMGET', exec_key, unpack(names))
	local f = {}
	for i, name in ipairs(names) do
		f[name] = v[i] or nil
	end
	return f
end

-- drop_ref(jobs_key, ref, f, worker, token): takes ref off the worker's jobs list, whatever the
-- script answers next: the caller no longer holds the job under this claim. Not when the exec
-- runs under a newer claim of the same worker (a call resent after the worker claimed the job
-- again): that claim's entry stays, or reclaim could never find the job.
local function drop_ref(jobs_key, ref, f, worker, token)
	if f.state == 'running' and f.worker == worker and f.claim ~= token then
		return
	end
	rcall('LREM', jobs_key, -1, ref)
end
