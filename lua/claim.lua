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

  Output:
    array of claimed jobs, each { ref, exec HGETALL flat array (after the claim), sql_query };
    empty when nothing is ready. Work is bounded: at most 4 * max due retries promoted and
    4 * max refs popped (claimed, parked or stale) per call.

  Events:
    retry_due (batch_id, exec_id, state = queued, batch_status), one per promoted retry
    claimed (batch_id, exec_id, state = running, worker, batch_status), one per job
]]
local rcall = redis.call
--- @include "lib/move_counter"
--- @include "lib/batch_status"
--- @include "lib/slots"

local ring_key = KEYS[1]
local jobs_key = KEYS[2]
local events_key = KEYS[3]
local retry_key = KEYS[4]
local running_key = KEYS[5]
local worker = ARGV[1]
local now = ARGV[2]
local max_jobs = tonumber(ARGV[3]) or 1
local prefix = ARGV[4]
local instance_cap = tonumber(ARGV[5]) or 10
local account_cap = tonumber(ARGV[6]) or 200

if max_jobs < 1 then
	return {}
end

local batches = {}		-- batch_id -> { key, sql, status, n claimed, n promoted }
local batch_order = {}
local function batch_of(batch_id)
	local b = batches[batch_id]
	if not b then
		b = { key = prefix .. 'batch:{' .. batch_id .. '}', n = 0, promoted = 0 }
		batches[batch_id] = b
		batch_order[#batch_order + 1] = batch_id
	end
	return b
end

-- 1. due retries go back to the front of their batch's queue (oldest due first)
local promoted = {}		-- { batch_id, exec_id }
local due = rcall('ZRANGEBYSCORE', retry_key, '-inf', now, 'LIMIT', 0, 4 * max_jobs)
for _, ref in ipairs(due) do
	rcall('ZREM', retry_key, ref)
	local batch_id, exec_id = string.match(ref, '^([^:]+):(.+)$')
	if batch_id then
		local exec_key = prefix .. 'exec:{' .. batch_id .. '}:' .. exec_id
		if rcall('HGET', exec_key, 'state') == 'retry_wait' then
			rcall('HSET', exec_key, 'state', 'queued', 'queued_at', now, 'retry_at', '')
			push_ready(prefix, ring_key, batch_id, ref, true)
			local b = batch_of(batch_id)
			b.promoted = b.promoted + 1
			promoted[#promoted + 1] = { batch_id, exec_id }
		end
	end
end

-- 2. round-robin: rotate the ring, take up to `turn` jobs from the batch at its head
local jobs = {}
local claimed = {}		-- { batch_id, exec_id } per job, for the events
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
	local exec_key = prefix .. 'exec:{' .. batch_id .. '}:' .. exec_id
	local h = rcall('HGETALL', exec_key)
	-- one HGETALL both checks the state and gives the job's data; patch it in place
	local state_i, attempts_i, started_i, worker_i, instance, account
	for i = 1, #h, 2 do
		local k = h[i]
		if k == 'state' then state_i = i + 1
		elseif k == 'attempts' then attempts_i = i + 1
		elseif k == 'started_at' then started_i = i + 1
		elseif k == 'worker' then worker_i = i + 1
		elseif k == 'amc_instance_id' then instance = h[i + 1]
		elseif k == 'account_id' then account = h[i + 1]
		end
	end
	if not state_i or h[state_i] ~= 'queued' then
		return
	end
	instance = instance or ''
	account = account or ''
	local ifield = 'instance:' .. instance
	local afield = 'account:' .. account
	-- take the slots optimistically (the common case costs two calls), undo if over
	local blocked
	if instance ~= '' and rcall('HINCRBY', running_key, ifield, 1) > instance_cap then
		slot_dec(running_key, ifield)
		blocked = 'instance'
	elseif account ~= '' and rcall('HINCRBY', running_key, afield, 1) > account_cap then
		slot_dec(running_key, afield)
		if instance ~= '' then
			slot_dec(running_key, ifield)
		end
		blocked = 'account'
	end
	if blocked then
		rcall('LPUSH', prefix .. 'parked:' .. blocked .. ':' ..
			(blocked == 'instance' and instance or account), ref)
		rcall('HSET', exec_key, 'parked', blocked)
		return
	end

	local attempts = (tonumber(attempts_i and h[attempts_i]) or 0) + 1
	local upd = { 'state', 'running', 'worker', worker, 'attempts', attempts }
	h[state_i] = 'running'
	if attempts_i then h[attempts_i] = tostring(attempts) else
		h[#h + 1] = 'attempts'; h[#h + 1] = tostring(attempts) end
	if worker_i then h[worker_i] = worker else
		h[#h + 1] = 'worker'; h[#h + 1] = worker end
	-- started_at is the first claim only: a reclaimed job keeps its original start
	if not started_i or h[started_i] == '' then
		upd[#upd + 1] = 'started_at'; upd[#upd + 1] = now
		if started_i then h[started_i] = now else
			h[#h + 1] = 'started_at'; h[#h + 1] = now end
	end
	rcall('HSET', exec_key, unpack(upd))
	rcall('LPUSH', jobs_key, ref)

	local b = batch_of(batch_id)
	if not b.sql then
		local f = rcall('HMGET', b.key, 'sql_query', 'status')
		b.sql = f[1] or ''
		b.status = f[2]
	end
	b.n = b.n + 1
	jobs[#jobs + 1] = { ref, h, b.sql }
	claimed[#claimed + 1] = { batch_id, exec_id }
end

while #jobs < max_jobs and pops < max_pops do
	local batch_id = rcall('RPOPLPUSH', ring_key, ring_key)
	if not batch_id then
		break
	end
	local queue_key = prefix .. 'batch:{' .. batch_id .. '}:queue'
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

for _, batch_id in ipairs(batch_order) do
	local b = batches[batch_id]
	move_counter(b.key, 'retry_wait', 'queued', b.promoted)
	move_counter(b.key, 'queued', 'running', b.n)
	-- moving queued -> running never makes a batch terminal: a running batch stays running
	if b.status ~= 'running' then
		b.status = batch_status(b.key, now)
	end
end

for _, p in ipairs(promoted) do
	rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'retry_due',
		'batch_id', p[1], 'exec_id', p[2], 'state', 'queued',
		'batch_status', batches[p[1]].status)
end
for _, c in ipairs(claimed) do
	rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'claimed',
		'batch_id', c[1], 'exec_id', c[2], 'state', 'running', 'worker', worker,
		'batch_status', batches[c[1]].status)
end
return jobs
