--[[
  Claim up to max ready jobs for a worker: each `queued` exec becomes `running`, takes one
  running slot of its instance and of its account, and its ref moves to the worker's jobs
  list (the reliable queue's processing list). Batches take turns (round-robin over the ring
  of batches with ready jobs; a turn takes up to max(4, ceil(max / batches in the ring)) jobs,
  so the per-batch work of a call is shared by a few jobs), so a small batch is not starved
  by a huge one; a job whose instance or account is at its cap is parked (no head-of-line blocking)
  until a slot of that resource is released. Due retries are re-queued first.

  Preconditions:
    the worker holds a live lease (heartbeat); refs are `B:E`.

  Input:
    KEYS[1]  ring of batches with ready jobs   P queue            (LIST of batch ids)
    KEYS[2]  the worker's jobs                 P worker:W:jobs    (LIST)
    KEYS[3]  event stream                      P events           (STREAM)
    KEYS[4]  retries by due time               P retry            (ZSET, score = due ms)
    KEYS[5]  running slots                     P running          (HASH)

    ARGV[1]  worker id W
    ARGV[2]  now (Unix ms)
    ARGV[3]  max jobs to claim (count, >= 1)
    ARGV[4]  key prefix P (builds P batch:{B}, P batch:{B}:queue, P exec:{B}:E, P parked:...)
    ARGV[5]  instance cap: running execs per amc_instance_id (count; default 10)
    ARGV[6]  account cap: running execs per account_id (count; default 200)

    C:  worker_id now:ms max:int prefix instance_cap:int account_cap:int

  Output:
    array of claimed jobs, each { ref, exec fields (flat name/value array, after the claim),
    sql_query }; the exec fields are those a worker runs the job with (lib/job_fields.lua:
    identity, instance, account, parameters, window, amc_execution_id, create intent,
    attempts, started_at, throttled, and `claim`: the fencing token of this claim, which
    every later script call about the job must carry); an empty field is left out (the
    worker reads it as "").
    Empty when nothing is ready. Work is bounded: at most 4 * max due retries promoted and
    4 * max refs popped (claimed, parked or stale) per call.

    The token is max(previous token + 1, now): it grows with every claim of the exec, and
    still exceeds a token that Redis handed out and then lost (a restart that lost the last
    writes of its AOF), because a later claim comes at a later time (after a lease at least).

  Events (lib/events.lua: exec_ids, n, and exec_id when n = 1), one per batch per call:
    retry_due (batch_id, exec_ids, n, state = queued, batch_status): promoted retries
    claimed (batch_id, exec_ids, n, state = running, worker, batch_status): claimed jobs
]]
local rcall = redis.call
--- @include "lib/move_counter"
--- @include "lib/batch_status"
--- @include "lib/keys"
--- @include "lib/slots"
--- @include "lib/events"
--- @include "lib/job_fields"

local ring_key = KEYS[1]
local jobs_key = KEYS[2]
local events_key = KEYS[3]
local retry_key = KEYS[4]
local running_key = KEYS[5]
local worker = ARGV[1]
local now = ARGV[2]
local now_ms = tonumber(now)
local max_jobs = tonumber(ARGV[3]) or 1
local prefix = ARGV[4]
local instance_cap = tonumber(ARGV[5]) or 10
local account_cap = tonumber(ARGV[6]) or 200

if max_jobs < 1 then
	return {}
end
if not now_ms or not string.match(now, '^%d+$') then
	return redis.error_reply('claim: now must be Unix ms')
end


local batches = {}		-- batch_id -> { key, sql, status, claimed exec ids, promoted exec ids }
local batch_order = {}
local function batch_of(batch_id)
	local b = batches[batch_id]
	if not b then
		b = { key = key_batch(prefix, batch_id), claimed = {}, promoted = {} }
		batches[batch_id] = b
		batch_order[#batch_order + 1] = batch_id
	end
	return b
end

-- 1. due retries go back to the front of their batch's queue (oldest due first)
local due = rcall('ZRANGEBYSCORE', retry_key, '-inf', now, 'LIMIT', 0, 4 * max_jobs)
for _, ref in ipairs(due) do
	rcall('ZREM', retry_key, ref)
	local batch_id, exec_id = split_ref(ref)
	if batch_id then
		local exec_key = key_exec(prefix, batch_id, exec_id)
		if rcall('HGET', exec_key, 'state') == 'retry_wait' then
			rcall('HSET', exec_key, 'state', 'queued', 'queued_at', now, 'retry_at', '')
			push_ready(prefix, ring_key, batch_id, ref, true)
			local b = batch_of(batch_id)
			b.promoted[#b.promoted + 1] = exec_id
		end
	end
end

-- 2. round-robin: rotate the ring, take up to `turn` jobs from the batch at its head
local jobs = {}
local refs_claimed = {}		-- for one LPUSH onto the worker's jobs list
local pops = 0
local max_pops = 4 * max_jobs
local ring_len = rcall('LLEN', ring_key)
local turn = math.max(4, ring_len > 0 and math.ceil(max_jobs / ring_len) or 1)

-- claim_one(batch_id, ref): claim the job, park it, or drop a stale ref
local function claim_one(batch_id, ref)
	local exec_id = string.match(ref, '^[^:]+:(.+)$')
	if not exec_id then
		return
	end
	local exec_key = key_exec(prefix, batch_id, exec_id)
	local v = job_values(exec_key)
	-- v[1..4] = state, slots, attempts, started_at; v[5], v[6] = instance, account
	if v[1] ~= 'queued' then
		return
	end
	local instance = v[5] or ''
	local account = v[6] or ''
	-- an exec handed back while its AMC execution runs on still holds its slots: it is
	-- never parked (its AMC execution counts against the caps already)
	if v[F_SLOTS] ~= '1' then
		local ifield = 'instance:' .. instance
		local afield = 'account:' .. account
		-- take the slots optimistically (the common case costs two calls), undo if over
		local blocked
		if instance ~= '' and rcall('HINCRBY', running_key, ifield, '1') > instance_cap then
			slot_dec(running_key, ifield)
			blocked = 'instance'
		elseif account ~= '' and rcall('HINCRBY', running_key, afield, '1') > account_cap then
			slot_dec(running_key, afield)
			if instance ~= '' then
				slot_dec(running_key, ifield)
			end
			blocked = 'account'
		end
		if blocked then
			rcall('LPUSH', key_parked(prefix, blocked, blocked == 'instance' and instance or account), ref)
			rcall('HSET', exec_key, 'parked', blocked)
			return
		end
	end

	-- numbers go to Redis as strings, and formatting a number (tostring, string.format) costs
	-- ~6,000 instructions, 3 % of a job's claim: a first claim (attempts 0) writes '1', and the
	-- token is now itself, as the caller wrote it, unless an earlier token is not below it
	local attempts = v[3] == '0' and '1' or tostring((tonumber(v[3]) or 0) + 1)
	local token = now
	local prev = tonumber(v[F_CLAIM]) or 0
	if prev >= now_ms then
		token = string.format('%.0f', prev + 1)
	end
	local upd = { 'state', 'running', 'worker', worker, 'attempts', attempts, 'claim', token,
		'slots', '1' }
	v[1] = 'running'
	v[3] = attempts
	v[F_CLAIM] = token
	v[F_SLOTS] = '1'
	-- started_at is the first claim only: a reclaimed job keeps its original start
	if not v[4] or v[4] == '' then
		upd[#upd + 1] = 'started_at'; upd[#upd + 1] = now
		v[4] = now
	end
	rcall('HSET', exec_key, unpack(upd))
	refs_claimed[#refs_claimed + 1] = ref

	local b = batch_of(batch_id)
	if not b.sql then
		local f = rcall('HMGET', b.key, 'sql_query', 'status')
		b.sql = f[1] or ''
		b.status = f[2]
	end
	b.claimed[#b.claimed + 1] = exec_id
	jobs[#jobs + 1] = job_entry(ref, v, b.sql)
end

while #jobs < max_jobs and pops < max_pops do
	local batch_id = rcall('RPOPLPUSH', ring_key, ring_key)
	if not batch_id then
		break
	end
	local queue_key = key_batch_queue(prefix, batch_id)
	local want = math.min(turn, max_jobs - #jobs, max_pops - pops)
	local refs = rcall('RPOP', queue_key, want)
	pops = pops + math.max(1, refs and #refs or 0)
	-- the batch just rotated to the ring's left end: drop it there once its queue is empty
	if not refs or #refs < want or rcall('LLEN', queue_key) == 0 then
		rcall('LPOP', ring_key)
	end
	for _, ref in ipairs(refs or {}) do
		claim_one(batch_id, ref)
	end
end

-- in slices: unpack() of a few thousand values fails, and it must not fail half-written
for i = 1, #refs_claimed, 500 do
	rcall('LPUSH', jobs_key, unpack(refs_claimed, i, math.min(i + 499, #refs_claimed)))
end

for _, batch_id in ipairs(batch_order) do
	local b = batches[batch_id]
	move_counter(b.key, 'retry_wait', 'queued', #b.promoted)
	move_counter(b.key, 'queued', 'running', #b.claimed)
	-- moving queued -> running never makes a batch terminal: a running batch stays running
	if b.status ~= 'running' then
		b.status = batch_status(b.key, now)
	end
	if #b.promoted > 0 then
		exec_event(events_key, 'retry_due', batch_id, b.promoted,
			{ 'state', 'queued', 'batch_status', b.status })
	end
	if #b.claimed > 0 then
		exec_event(events_key, 'claimed', batch_id, b.claimed,
			{ 'state', 'running', 'worker', worker, 'batch_status', b.status })
	end
end
return jobs
