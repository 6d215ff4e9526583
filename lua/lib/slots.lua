-- Running slots: P running (HASH) counts the running execs per `instance:<amc_instance_id>`
-- and `account:<account_id>` (an empty id is not capped, not counted). claim takes the slots;
-- every transition out of `running` gives them back through release_slots, which also wakes
-- one job parked on each freed resource (claim parks jobs whose instance or account is full
-- in P parked:instance:<id> / P parked:account:<id>, oldest at the right).
--- @include "lib/ready"

-- slot_dec(running_key, field): one slot less; the field goes away at 0 (never negative)
local function slot_dec(running_key, field)
	if rcall('HINCRBY', running_key, field, '-1') <= 0 then
		rcall('HDEL', running_key, field)
	end
end

-- wake_one(prefix, ring_key, parked_key): the oldest parked job still `queued` goes back to
-- the front of its batch's queue; refs of execs no longer queued are dropped (bounded).
local function wake_one(prefix, ring_key, parked_key)
	for _ = 1, 100 do
		local ref = rcall('RPOP', parked_key)
		if not ref then
			return
		end
		local batch_id, exec_id = string.match(ref, '^([^:]+):(.+)$')
		if batch_id then
			local exec_key = prefix .. 'exec:{' .. batch_id .. '}:' .. exec_id
			if rcall('HGET', exec_key, 'state') == 'queued' then
				rcall('HSET', exec_key, 'parked', '')
				push_ready(prefix, ring_key, batch_id, ref, true)
				return
			end
		end
	end
end

-- release_slots(prefix, instance, account): a running exec of this instance and account
-- stopped running; P running and the ring P queue are built from the prefix
local function release_slots(prefix, instance, account)
	local running_key = prefix .. 'running'
	local ring_key = prefix .. 'queue'
	local parked = {}
	if instance and instance ~= '' then
		slot_dec(running_key, 'instance:' .. instance)
		parked[#parked + 1] = prefix .. 'parked:instance:' .. instance
	end
	if account and account ~= '' then
		slot_dec(running_key, 'account:' .. account)
		parked[#parked + 1] = prefix .. 'parked:account:' .. account
	end
	-- usually nothing is parked: one EXISTS spares the wake attempts
	if #parked > 0 and rcall('EXISTS', unpack(parked)) > 0 then
		for _, key in ipairs(parked) do
			wake_one(prefix, ring_key, key)
		end
	end
end
