--[[
  Hand the jobs of dead workers (lease gone) back to their batches' queues, keeping
  amc_execution_id and the create intent so the next worker resumes (or looks for) the AMC
  execution instead of creating a second one. A job whose AMC execution may run on AMC (an
  amc_execution_id or a create intent) keeps its running slots; the others give them back
  (waking one parked job per freed resource).

  Preconditions:
    called by the janitor, once per interval across the cluster (behind P janitor:lock).

  Input:
    KEYS[1]  live workers   P workers   (ZSET, score = last heartbeat ms)
    KEYS[2]  ring of batches with ready jobs, P queue (LIST of batch ids)
    KEYS[3]  event stream   P events    (STREAM)

    ARGV[1]  now (Unix ms)
    ARGV[2]  key prefix P (builds P worker:W:lease, P worker:W:jobs, P batch:{B},
             P batch:{B}:queue, P exec:{B}:E, P running, P parked:...)
    ARGV[3]  max workers to sweep (count): the oldest heartbeats are looked at first

    C:  now:ms prefix max_workers:int

  Output:
    number of jobs put back in the queue. A dead worker's `running` jobs become `queued`
    (at the front of their batch's queue: claimed next, oldest first); refs of execs it no longer holds (cancelled, finished) are
    dropped; the worker leaves P workers once its jobs list is empty (at most 10000 refs
    per worker per call; the rest waits for the next sweep).

  Events:
    requeued (batch_id, exec_id, state = queued, worker, batch_status), one per job
]]
local rcall = redis.call
--- @include "lib/move_counter"
--- @include "lib/batch_status"
--- @include "lib/keys"
--- @include "lib/slots"
--- @include "lib/events"

local workers_key = KEYS[1]
local ring_key = KEYS[2]
local events_key = KEYS[3]
local now = ARGV[1]
local prefix = ARGV[2]
local max_workers = tonumber(ARGV[3]) or 1
local max_refs = 10000

if max_workers < 1 then
	return 0
end

local batches = {}		-- batch_id -> { key, n requeued }
local batch_order = {}
local requeued = {}		-- { batch_id, exec_id, worker }

local workers = rcall('ZRANGE', workers_key, 0, max_workers - 1)
for _, worker in ipairs(workers) do
	if rcall('EXISTS', key_worker_lease(prefix, worker)) == 0 then
		local jobs_key = key_worker_jobs(prefix, worker)
		local emptied = false
		for _ = 1, max_refs do
			-- newest first (claim LPUSHes), so after the RPUSHes the oldest job is claimed first
			local ref = rcall('LPOP', jobs_key)
			if not ref then
				emptied = true
				break
			end
			local batch_id, exec_id = split_ref(ref)
			if batch_id then
				local exec_key = key_exec(prefix, batch_id, exec_id)
				local f = rcall('HMGET', exec_key, 'state', 'worker', 'amc_instance_id',
					'account_id', 'slots', 'amc_execution_id', 'create_intent_at')
				if f[1] == 'running' and f[2] == worker then
					-- amc_execution_id, the intent and attempts stay: the next claim resumes
					local held = holds_slots(f[1], f[5])
					local keep = held and ((f[6] or '') ~= '' or (f[7] or '') ~= '')
					rcall('HSET', exec_key, 'state', 'queued', 'worker', '', 'phase', '',
						'queued_at', now, 'slots', keep and '1' or '0')
					if held and not keep then
						release_slots(prefix, f[3], f[4])
					end
					push_ready(prefix, ring_key, batch_id, ref, true)
					local b = batches[batch_id]
					if not b then
						b = { key = key_batch(prefix, batch_id), n = 0 }
						batches[batch_id] = b
						batch_order[#batch_order + 1] = batch_id
					end
					b.n = b.n + 1
					requeued[#requeued + 1] = { batch_id, exec_id, worker }
				end
			end
		end
		if emptied or rcall('LLEN', jobs_key) == 0 then
			rcall('ZREM', workers_key, worker)
		end
	end
end

for _, batch_id in ipairs(batch_order) do
	local b = batches[batch_id]
	move_counter(b.key, 'running', 'queued', b.n)
	b.status = batch_status(b.key, now)
end

for _, r in ipairs(requeued) do
	emit(events_key, { 'type', 'requeued', 'batch_id', r[1], 'exec_id', r[2], 'state', 'queued',
		'worker', r[3], 'batch_status', batches[r[1]].status })
end
return #requeued
