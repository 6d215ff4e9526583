--[[
  Claim up to max ready jobs for a worker: each `queued` exec becomes `running` and its ref
  moves to the worker's jobs list (the reliable queue's processing list).

  Preconditions:
    the worker holds a live lease (heartbeat); refs in the queue are `B:E`.

  Input:
    KEYS[1]  ready queue          P queue            (LIST)
    KEYS[2]  the worker's jobs    P worker:W:jobs    (LIST)
    KEYS[3]  event stream         P events           (STREAM)

    ARGV[1]  worker id W
    ARGV[2]  now (Unix ms)
    ARGV[3]  max jobs to claim (count, >= 1)
    ARGV[4]  key prefix P (per-batch keys are built from it: P batch:{B}, P exec:{B}:E)

  Output:
    array of claimed jobs, oldest first, each { ref, exec HGETALL flat array (after the
    claim), sql_query }; empty when the queue is empty. Refs whose exec is no longer
    `queued` (cancelled, or gone) are dropped; at most 4 * max refs are popped per call.

  Events:
    claimed (batch_id, exec_id, state = running, worker, batch_status), one per job
]]
local rcall = redis.call
--- @include "lib/move_counter"
--- @include "lib/batch_status"

local queue_key = KEYS[1]
local jobs_key = KEYS[2]
local events_key = KEYS[3]
local worker = ARGV[1]
local now = ARGV[2]
local max_jobs = tonumber(ARGV[3]) or 1
local prefix = ARGV[4]

if max_jobs < 1 then
	return {}
end

local jobs = {}
local claimed = {}		-- { batch_id, exec_id } per job, for the events
local batches = {}		-- batch_id -> { key, sql_query, n claimed }
local batch_order = {}
local pops = 0
local max_pops = 4 * max_jobs

while #jobs < max_jobs and pops < max_pops do
	local ref = rcall('RPOP', queue_key)
	if not ref then
		break
	end
	pops = pops + 1
	local batch_id, exec_id = string.match(ref, '^([^:]+):(.+)$')
	if batch_id then
		local exec_key = prefix .. 'exec:{' .. batch_id .. '}:' .. exec_id
		local h = rcall('HGETALL', exec_key)
		-- one HGETALL both checks the state and gives the job's data; patch it in place
		local state_i, attempts_i, started_i, worker_i
		for i = 1, #h, 2 do
			local k = h[i]
			if k == 'state' then state_i = i + 1
			elseif k == 'attempts' then attempts_i = i + 1
			elseif k == 'started_at' then started_i = i + 1
			elseif k == 'worker' then worker_i = i + 1
			end
		end
		if state_i and h[state_i] == 'queued' then
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

			local b = batches[batch_id]
			if not b then
				local batch_key = prefix .. 'batch:{' .. batch_id .. '}'
				b = { key = batch_key, sql = rcall('HGET', batch_key, 'sql_query') or '', n = 0 }
				batches[batch_id] = b
				batch_order[#batch_order + 1] = batch_id
			end
			b.n = b.n + 1
			jobs[#jobs + 1] = { ref, h, b.sql }
			claimed[#claimed + 1] = { batch_id, exec_id }
		end
	end
end

for _, batch_id in ipairs(batch_order) do
	local b = batches[batch_id]
	move_counter(b.key, 'queued', 'running', b.n)
	b.status = batch_status(b.key, now)
end

for _, c in ipairs(claimed) do
	rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'claimed',
		'batch_id', c[1], 'exec_id', c[2], 'state', 'running', 'worker', worker,
		'batch_status', batches[c[1]].status)
end
return jobs
