-- batch_status(batch_key, now): derive the batch status from its counters (docs/redis-keys.md,
-- "Batch status rule"), write it together with started_at (first time an execution started)
-- and completed_at (when the batch becomes terminal), and return it.
local function batch_status(batch_key, now)
	local f = rcall('HMGET', batch_key, 'total', 'running', 'retry_wait', 'completed',
		'failed', 'cancelled', 'cancel_requested', 'status', 'started_at', 'completed_at')
	local total = tonumber(f[1]) or 0
	local running = tonumber(f[2]) or 0
	local retry_wait = tonumber(f[3]) or 0
	local completed = tonumber(f[4]) or 0
	local failed = tonumber(f[5]) or 0
	local cancelled = tonumber(f[6]) or 0
	local started_at = f[9] or ''
	local update = {}

	-- a batch that has started stays started, even when a reclaim puts its jobs back in the queue
	if started_at == '' and running + retry_wait + completed + failed > 0 then
		started_at = now
		update[#update + 1] = 'started_at'
		update[#update + 1] = now
	end

	local status
	if completed + failed + cancelled == total then
		-- cancelled when the cancel stopped something: an execution a cancel came too late
		-- for keeps its result (finish_jobs), and a batch all of whose executions did is
		-- not cancelled (PostgreSQL's trigger counts the same way)
		if cancelled > 0 then
			status = 'cancelled'
		elseif completed == total then
			status = 'completed'
		elseif completed == 0 then
			status = 'failed'
		else
			status = 'partial'
		end
		if (f[10] or '') == '' then
			update[#update + 1] = 'completed_at'
			update[#update + 1] = now
		end
	elseif started_at ~= '' then
		status = 'running'
	else
		status = 'pending'
	end

	if status ~= f[8] then
		update[#update + 1] = 'status'
		update[#update + 1] = status
	end
	if #update > 0 then
		rcall('HSET', batch_key, unpack(update))
	end
	return status
end
