-- Every event of every script goes through emit(): one XADD to P events, capped (MAXLEN ~),
-- so the stream's length bound is written once (docs/redis-keys.md, Events). It also bumps the
-- batch's `ver`, so "has this batch moved?" is one HGET: the API keeps a running batch's
-- status until it has (src/api/readcache.h).
--- @include "lib/keys"

-- emit(events_key, fields): one entry of field/value pairs (type first, then batch_id, ...).
-- events_key is P events, so P is what precedes 'events'. A batch that left Redis (forgotten)
-- is not brought back as a hash holding only `ver`.
local function emit(events_key, fields)
	rcall('XADD', events_key, 'MAXLEN', '~', '100000', '*', unpack(fields))
	if fields[3] == 'batch_id' then
		local bk = key_batch(string.sub(events_key, 1, -7), fields[4])
		if rcall('EXISTS', bk) == 1 then
			rcall('HINCRBY', bk, 'ver', 1)
		end
	end
end

-- exec_event(events_key, etype, batch_id, exec_ids, fields): one entry for several execs of one
-- batch that made the same transition in one script call (claim, finish_many): `exec_ids`
-- (space-separated, in call order) and `n`, plus `exec_id` when there is just one, then the
-- extra field/value pairs of `fields` (state, worker, batch_status, ...).
local function exec_event(events_key, etype, batch_id, exec_ids, fields)
	local args = { 'type', etype, 'batch_id', batch_id }
	if #exec_ids == 1 then
		args[#args + 1] = 'exec_id'
		args[#args + 1] = exec_ids[1]
	end
	args[#args + 1] = 'exec_ids'
	args[#args + 1] = table.concat(exec_ids, ' ')
	args[#args + 1] = 'n'
	args[#args + 1] = tostring(#exec_ids)
	for _, v in ipairs(fields) do
		args[#args + 1] = v
	end
	emit(events_key, args)
end
