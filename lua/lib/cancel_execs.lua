-- cancel_execs(prefix, batch_key, batch_id, total, now, error_text): every non-terminal exec
-- of the batch becomes `cancelled` at once: the work of `cancel_batch` (a user's cancel) and
-- of a fail_fast batch's first permanent failure (lib/finish_jobs). Queued refs leave the
-- batch's queue (and the batch the ring) or the parked list they wait in; retry_wait refs
-- leave P retry; every exec that holds running slots gives them back (waking jobs of other
-- batches parked on them); running execs are told through their state (their holder cancels
-- them on AMC and lets go, unless it archived its result already: lib/finish_jobs). Every
-- cancelled exec that has an AMC execution, or may have one (a create intent), goes to
-- P amc_cancels. error_text, when not empty, is written to each cancelled exec's `error` (why
-- it was cancelled). Moves the counters; the caller derives the status and emits the events.
-- Returns the list of { exec_id, previous state } cancelled, in submission order.
--- @include "lib/keys"
--- @include "lib/slots"

local function cancel_execs(prefix, batch_key, batch_id, total, now, error_text)
	-- the execs list holds exactly `total` ids (bounded by max_instances)
	local ids = rcall('LRANGE', key_batch_execs(prefix, batch_id), 0, total - 1)
	local moved = {}		-- previous state -> count
	local cancelled = {}		-- { exec_id, previous state }
	local freed = {}		-- { amc_instance_id, account_id } of the execs that held slots
	local retry_key = key_retry(prefix)
	local amc_cancels_key = key_amc_cancels(prefix)
	for _, exec_id in ipairs(ids) do
		local exec_key = key_exec(prefix, batch_id, exec_id)
		local f = rcall('HMGET', exec_key, 'state', 'parked', 'amc_instance_id', 'account_id',
			'slots', 'amc_execution_id', 'create_intent_at')
		local state = f[1]
		if state == 'pending' or state == 'queued' or state == 'running' or state == 'retry_wait' then
			local ref = batch_id .. ':' .. exec_id
			if state == 'queued' and f[2] == 'instance' then
				rcall('LREM', key_parked(prefix, 'instance', f[3]), 1, ref)
			elseif state == 'queued' and f[2] == 'account' then
				rcall('LREM', key_parked(prefix, 'account', f[4]), 1, ref)
			elseif state == 'retry_wait' then
				rcall('ZREM', retry_key, ref)
			end
			if holds_slots(state, f[5]) then
				freed[#freed + 1] = { f[3], f[4] }
			end
			if (f[6] or '') ~= '' or (f[7] or '') ~= '' then
				rcall('ZADD', amc_cancels_key, now, ref)
			end
			if error_text ~= '' then
				rcall('HSET', exec_key, 'state', 'cancelled', 'parked', '', 'finished_at', now,
					'slots', '0', 'error', error_text)
			else
				rcall('HSET', exec_key, 'state', 'cancelled', 'parked', '', 'finished_at', now,
					'slots', '0')
			end
			moved[state] = (moved[state] or 0) + 1
			cancelled[#cancelled + 1] = { exec_id, state }
		end
	end
	-- every other queued ref of the batch is in its queue; the batch is in the ring at most once
	if rcall('DEL', key_batch_queue(prefix, batch_id)) == 1 then
		rcall('LREM', key_ring(prefix), 1, batch_id)
	end
	-- after every exec of the batch is cancelled, so the wakes only pick other batches' jobs
	for _, s in ipairs(freed) do
		release_slots(prefix, s[1], s[2])
	end

	for state, count in pairs(moved) do
		rcall('HINCRBY', batch_key, state, -count)
	end
	if #cancelled > 0 then
		rcall('HINCRBY', batch_key, 'cancelled', #cancelled)
	end
	return cancelled
end
