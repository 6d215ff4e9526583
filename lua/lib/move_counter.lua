-- move_counter(batch_key, from, to, n): move n executions between two counters of the batch
-- hash, so the counters always sum to `total` (docs/redis-keys.md, invariant).
local function move_counter(batch_key, from, to, n)
	if n ~= 0 then
		rcall('HINCRBY', batch_key, from, -n)
		rcall('HINCRBY', batch_key, to, n)
	end
end
