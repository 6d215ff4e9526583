-- policy_needed(on_failure, ratio, total): the completed executions a min_success_ratio batch
-- needs, ceil(ratio * total) (the ratio has at most 4 decimals, so a product that is an
-- integer in decimals stays one here: the epsilon is far below 1/10000); nil for any other
-- policy. PostgreSQL computes it in exact numeric arithmetic, with the same result.
local function policy_needed(on_failure, ratio, total)
	local r = tonumber(ratio)
	if on_failure ~= 'min_success_ratio' or not r then
		return nil
	end
	return math.ceil(r * total - 1e-9)
end

-- batch_status(batch_key, now): derive the batch status from its counters and, once the
-- batch is terminal with something not completed, its policy (docs/redis-keys.md,
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
		if completed == total then
			status = 'completed'
		else
			-- the batch policy is read only here, once something did not complete: the
			-- common path (every execution completed, or the batch still running) never
			-- reads it (docs/redis-keys.md, "Batch status rule"; sql/010_policy.up.sql
			-- derives the same)
			local p = rcall('HMGET', batch_key, 'on_failure', 'min_success_ratio')
			local needed = policy_needed(p[1], p[2], total)
			if p[1] == 'fail_fast' and failed > 0 then
				-- the first permanent failure decided it (lib/finish_jobs wrote why)
				status = 'failed'
			elseif cancelled > 0 then
				-- cancelled when the cancel stopped something: an execution a cancel came
				-- too late for keeps its result (finish_jobs), and a batch all of whose
				-- executions did is not cancelled (PostgreSQL's trigger counts the same way)
				status = 'cancelled'
			elseif needed and completed < needed then
				status = 'failed'
				if status ~= f[8] then
					update[#update + 1] = 'status_reason'
					update[#update + 1] = string.format(
						'%d of %d executions succeeded; min_success_ratio %s needs %d',
						completed, total, p[2], needed)
				end
			elseif completed == 0 then
				status = 'failed'
			else
				status = 'partial'
			end
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
