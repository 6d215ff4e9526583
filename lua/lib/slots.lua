-- Running slots: P running (HASH) counts, per `instance:<amc_instance_id>` and
-- `account:<account_id>` (an empty id is not capped, not counted), the execs that hold a slot:
-- every `running` exec, and a `queued` or `retry_wait` exec whose AMC execution still runs on
-- AMC (handed back after its create, by reclaim, release or retry): AMC counts it against the
-- instance's limit whether or not a worker polls it. The exec's `slots` field says which:
-- `1` holds one slot of its instance and of its account. claim takes the slots (unless the
-- exec still holds them); finishing and cancelling give them back through release_slots
-- (give_back_slots for several at once), which also wakes one job parked per freed slot (claim
-- parks jobs whose instance or account is full in P parked:instance:<id> /
-- P parked:account:<id>, oldest at the right).
--- @include "lib/keys"
--- @include "lib/ready"

-- holds_slots(state, slots): whether an exec with these fields holds its slots. An exec
-- claimed before the `slots` field existed holds them exactly while running.
local function holds_slots(state, slots)
	if slots == '1' then
		return true
	end
	return (slots == nil or slots == false) and state == 'running'
end

-- slot_dec(running_key, field, n): n slots less (default 1); the field goes away at 0 (never
-- negative). The decrement goes to Redis as a string: a Lua number costs a float formatting.
local function slot_dec(running_key, field, n)
	if rcall('HINCRBY', running_key, field, (n or 1) == 1 and '-1' or tostring(-n)) <= 0 then
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
		local batch_id, exec_id = split_ref(ref)
		if batch_id then
			local exec_key = key_exec(prefix, batch_id, exec_id)
			if rcall('HGET', exec_key, 'state') == 'queued' then
				rcall('HSET', exec_key, 'parked', '')
				push_ready(prefix, ring_key, batch_id, ref, true)
				return
			end
		end
	end
end

-- give_back_slots(prefix, fields, counts): counts[field] slots of each P running field in the
-- list `fields` (`instance:<id>`, `account:<id>`) are given back, then one job parked on that
-- resource is woken per slot given back; P running and the ring P queue come from the prefix
local function give_back_slots(prefix, fields, counts)
	local running_key = key_running(prefix)
	local parked = {}
	for i, field in ipairs(fields) do
		slot_dec(running_key, field, counts[field])
		parked[i] = prefix .. 'parked:' .. field	-- = key_parked(prefix, kind, id)
	end
	-- usually nothing is parked: one EXISTS spares the wake attempts
	if #parked > 0 and rcall('EXISTS', unpack(parked)) > 0 then
		local ring_key = key_ring(prefix)
		for i, field in ipairs(fields) do
			for _ = 1, counts[field] do
				wake_one(prefix, ring_key, parked[i])
			end
		end
	end
end

-- release_slots(prefix, instance, account): a running exec of this instance and account
-- stopped running
local function release_slots(prefix, instance, account)
	local fields, counts = {}, {}
	if instance and instance ~= '' then
		fields[#fields + 1] = 'instance:' .. instance
	end
	if account and account ~= '' then
		fields[#fields + 1] = 'account:' .. account
	end
	for _, field in ipairs(fields) do
		counts[field] = 1
	end
	give_back_slots(prefix, fields, counts)
end
