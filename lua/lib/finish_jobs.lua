-- finish_jobs(prefix, events_key, jobs_key, worker, now, jobs): the work of `finish` and
-- `finish_many`. jobs is a list of { batch_key, exec_key, ref, outcome, row_count, error,
-- token }, checked beforehand by finish_check. Outcome `cancelled` is a holder letting go of
-- an exec that was cancelled; `completed` or `failed` of a cancelled exec by its holder is
-- the result it archived before the cancel reached it, and stands. Each job is checked and written on its own
-- (state, owner and claim token, exec fields, its ref off the jobs list); what several jobs
-- share is done once per
-- call: counters and status once per batch, slots once per instance and account (then the
-- parked jobs of the freed resources are woken, one per freed slot), one event per batch and
-- final state. A failed exec of a fail_fast batch stops the rest of its batch (fail_fast
-- below). Returns one result per job, in order: { final_state, batch_status } or a code.
-- Constant numbers go to Redis as strings (a Lua number argument costs a float formatting).
--- @include "lib/codes"
--- @include "lib/keys"
--- @include "lib/move_counter"
--- @include "lib/batch_status"
--- @include "lib/slots"
--- @include "lib/events"
--- @include "lib/cancel_execs"

-- finish_check(prefix, job): nil if the job is well-formed, else why not (a caller bug:
-- unknown outcome, a ref that is not `B:E`, keys that are not that ref's batch and exec)
local function finish_check(prefix, job)
	if job.outcome ~= 'completed' and job.outcome ~= 'failed' and job.outcome ~= 'cancelled' then
		return 'unknown outcome ' .. tostring(job.outcome)
	end
	local batch_id, exec_id = split_ref(job.ref)
	if not batch_id then
		return 'bad ref ' .. tostring(job.ref)
	end
	if job.batch_key ~= key_batch(prefix, batch_id) or
	   job.exec_key ~= key_exec(prefix, batch_id, exec_id) then
		return 'keys do not match ref ' .. job.ref
	end
	if not job.token or job.token == '' then
		return 'no claim token for ' .. job.ref
	end
	job.batch_id = batch_id
	job.exec_id = exec_id
	return nil
end

-- fail_fast(prefix, batch_key, b, now): a batch whose policy is fail_fast and that has not
-- applied it yet (no status_reason) is stopped by this call's first failed exec: every other
-- non-terminal exec is cancelled as by cancel_batch (P amc_cancels included, so AMC hears of
-- it), each saying why in its `error`, and the batch records why in `status_reason`. Read
-- only when an exec of the batch failed: a finish that completes never reads the policy.
-- Returns the list cancel_execs gave, or nil when the policy does not apply.
local function fail_fast(prefix, batch_key, b, now)
	local p = rcall('HMGET', batch_key, 'on_failure', 'status_reason', 'total')
	if p[1] ~= 'fail_fast' or (p[2] or '') ~= '' then
		return nil
	end
	local e = rcall('HMGET', key_exec(prefix, b.id, b.failed[1]), 'instance_name', 'error')
	local why = 'instance ' .. (e[1] or '') .. ' failed (' .. (e[2] or '') .. ')'
	local cancelled = cancel_execs(prefix, batch_key, b.id, tonumber(p[3]) or 0, now,
		'cancelled by fail_fast: ' .. why)
	-- every cancelled exec of the batch, also those a cancel_batch stopped first (a worker
	-- that saw PostgreSQL's fail_fast before Redis did): PostgreSQL counts the same rows
	local n = rcall('HGET', batch_key, 'cancelled') or '0'
	rcall('HSET', batch_key, 'status_reason', 'fail_fast: ' .. why .. '; ' .. n ..
		' queued or running executions cancelled')
	return cancelled
end

local function finish_jobs(prefix, events_key, jobs_key, worker, now, jobs)
	local results = {}
	local batches = {}	-- batch_key -> { id, completed = {ids}, failed = {ids}, discarded = {ids}, status }
	local batch_order = {}
	local freed = {}	-- P running field -> slots given back
	local freed_order = {}

	local function batch_of(job)
		local b = batches[job.batch_key]
		if not b then
			b = { id = job.batch_id, completed = {}, failed = {}, discarded = {},
				late = { completed = 0, failed = 0 } }
			batches[job.batch_key] = b
			batch_order[#batch_order + 1] = job.batch_key
		end
		return b
	end
	local function free_slot(kind, id)
		if id and id ~= '' then
			local field = kind .. ':' .. id
			if not freed[field] then
				freed[field] = 0
				freed_order[#freed_order + 1] = field
			end
			freed[field] = freed[field] + 1
		end
	end

	for i, job in ipairs(jobs) do
		local f = rcall('HMGET', job.exec_key, 'state', 'worker', 'claim', 'amc_instance_id',
			'account_id')
		local state = f[1]
		local holder = f[2] == worker and f[3] == job.token
		-- whatever happens, this claim no longer holds the job; a newer claim of it by the
		-- same worker (a finish resent after a re-claim) keeps its jobs-list entry, and so
		-- does an exec still running that its holder lets go of as cancelled: Redis lost
		-- the cancel (the tail of its AOF), the holder still holds it and makes Redis
		-- cancel it again (ERR_WRONG_STATE below)
		if not (state == 'running' and f[2] == worker and
			(not holder or job.outcome == 'cancelled')) then
			rcall('LREM', jobs_key, '-1', job.ref)
		end
		if not state then
			results[i] = ERR_NOT_FOUND
		elseif state == 'cancelled' and holder and job.outcome ~= 'cancelled' then
			-- cancelled while its holder archived the outcome (PostgreSQL holds it final
			-- already: a holder finishes only then): a cancel that came too late for it
			-- does not take the result back; cancel_batch gave the slots back already
			rcall('HSET', job.exec_key, 'state', job.outcome, 'row_count', job.row_count,
				'error', job.error, 'finished_at', now)
			local b = batch_of(job)
			local ids = b[job.outcome]
			ids[#ids + 1] = job.exec_id
			b.late[job.outcome] = b.late[job.outcome] + 1
			results[i] = { job.outcome, b }
		elseif state == 'cancelled' and (holder or f[2] == '') then
			-- the holder lets go of it (outcome cancelled), or nobody held it: discarded
			local b = batch_of(job)
			b.discarded[#b.discarded + 1] = job.exec_id
			results[i] = { 'cancelled', b }
		elseif not holder then
			results[i] = ERR_NOT_OWNER
		elseif state ~= 'running' or job.outcome == 'cancelled' then
			results[i] = ERR_WRONG_STATE
		else
			rcall('HSET', job.exec_key, 'state', job.outcome, 'phase', '', 'row_count', job.row_count,
				'error', job.error, 'finished_at', now, 'slots', '0')
			local b = batch_of(job)
			local ids = b[job.outcome]
			ids[#ids + 1] = job.exec_id
			-- a running exec always holds its slots (lib/slots.lua): not read, every field
			-- read costs
			free_slot('instance', f[4])
			free_slot('account', f[5])
			results[i] = { job.outcome, b }
		end
	end

	-- counters and status, once per batch
	for _, key in ipairs(batch_order) do
		local b = batches[key]
		if #b.completed + #b.failed > 0 then
			move_counter(key, 'running', 'completed', #b.completed - b.late.completed)
			move_counter(key, 'running', 'failed', #b.failed - b.late.failed)
			move_counter(key, 'cancelled', 'completed', b.late.completed)
			move_counter(key, 'cancelled', 'failed', b.late.failed)
			if #b.failed > 0 then
				b.stopped = fail_fast(prefix, key, b, now)
			end
			b.status = batch_status(key, now)
		else
			b.status = rcall('HGET', key, 'status') or ''
		end
	end

	-- slots, once per resource; then wake one parked job per slot given back
	give_back_slots(prefix, freed_order, freed)

	for _, key in ipairs(batch_order) do
		local b = batches[key]
		for _, st in ipairs({ 'completed', 'failed' }) do
			if #b[st] > 0 then
				exec_event(events_key, 'finished', b.id, b[st],
					{ 'state', st, 'worker', worker, 'batch_status', b.status })
			end
		end
		if #b.discarded > 0 then
			exec_event(events_key, 'discarded', b.id, b.discarded,
				{ 'state', 'cancelled', 'worker', worker, 'batch_status', b.status })
		end
		for _, c in ipairs(b.stopped or {}) do
			emit(events_key, { 'type', 'cancelled', 'batch_id', b.id, 'exec_id', c[1],
				'state', 'cancelled', 'previous_state', c[2], 'reason', 'fail_fast',
				'batch_status', b.status })
		end
	end

	for i, r in ipairs(results) do
		if type(r) == 'table' then
			r[2] = r[2].status
		end
	end
	return results
end
