--[[
  Read the fleet view (GET /admin/fleet): live workers, queue depth and age, running slots
  against the caps, parked jobs, pending AMC cancels and recent errors. Read-only: it writes
  nothing, so it may run as often as operators look. Every loop is bounded by an ARGV.

  Preconditions:
    none.

  Input:
    KEYS[1]  live workers         P workers          (ZSET, score = last heartbeat ms)
    KEYS[2]  the ring             P queue            (LIST of batch ids)
    KEYS[3]  running slots        P running          (HASH instance:<id>|account:<id> -> n)
    KEYS[4]  AMC cancels to send  P amc_cancels      (ZSET, score = due ms)
    KEYS[5]  the event stream     P events           (STREAM)
    KEYS[6]  due retries          P retry            (ZSET, score = due ms)

    ARGV[1]  now (Unix ms)
    ARGV[2]  key prefix P
    ARGV[3]  at most this many workers (most recent heartbeat first)
    ARGV[4]  at most this many ring batches looked at
    ARGV[5]  at most this many slot rows (of each kind, busiest first) and parked lists
    ARGV[6]  at most this many events read (newest first)
    ARGV[7]  at most this many errors returned

    C:  now:ms prefix max_workers:int max_batches:int max_slots:int max_events:int max_errors:int

  Output:
    { workers, queue, slots, parked, cancels, errors }, flat arrays:
      workers = { n_total, then per worker: id, last_heartbeat_ms, lease_pttl_ms (-2 gone),
                  jobs_held, info (flat field, value array of P worker:W:info) }
      queue   = { n_batches_in_ring, ready_total (of the batches looked at), retry_wait,
                  retry_due, oldest_queued_at_ms (0: none), then per batch (deepest first):
                  batch_id, ready, oldest_queued_at_ms }
      slots   = { n_instances, n_accounts, then per row (busiest first, instances then
                  accounts): kind, id, running }
      parked  = { per parked list found (longest first): kind, id, length, oldest ref,
                  oldest_queued_at_ms }  (looked up for the resources with running slots:
                  a job is parked only while its resource is full)
      cancels = { pending, due, oldest_due_ms (0: none) }
      errors  = { per error (newest first): at_ms, type (retry|failed), batch_id, exec_id,
                  amc_instance_id, text }

  Events:
    none (read-only).
]]
local rcall = redis.call

--- @include "lib/keys"

local workers_key = KEYS[1]
local ring_key = KEYS[2]
local running_key = KEYS[3]
local cancels_key = KEYS[4]
local events_key = KEYS[5]
local retry_key = KEYS[6]
local now = tonumber(ARGV[1])
local P = ARGV[2]
local max_workers = tonumber(ARGV[3]) or 0
local max_batches = tonumber(ARGV[4]) or 0
local max_slots = tonumber(ARGV[5]) or 0
local max_events = tonumber(ARGV[6]) or 0
local max_errors = tonumber(ARGV[7]) or 0

if not now then
	return redis.error_reply('fleet: now must be a number')
end

-- workers
local workers = { rcall('ZCARD', workers_key) }
if max_workers > 0 then
	local ws = rcall('ZREVRANGE', workers_key, 0, max_workers - 1, 'WITHSCORES')
	for i = 1, #ws, 2 do
		local w = ws[i]
		workers[#workers + 1] = w
		workers[#workers + 1] = ws[i + 1]
		workers[#workers + 1] = rcall('PTTL', key_worker_lease(P, w))
		workers[#workers + 1] = rcall('LLEN', key_worker_jobs(P, w))
		workers[#workers + 1] = rcall('HGETALL', key_worker_info(P, w))
	end
end

-- queue: the ring's batches, each batch's ready refs (the oldest at the right)
local function queued_at(ref)
	local b, e = split_ref(ref)
	if not b then
		return 0
	end
	return tonumber(rcall('HGET', key_exec(P, b, e), 'queued_at')) or 0
end

local ring_len = rcall('LLEN', ring_key)
local rows, ready_total, oldest = {}, 0, 0
if max_batches > 0 and ring_len > 0 then
	local ids = rcall('LRANGE', ring_key, 0, max_batches - 1)
	for _, b in ipairs(ids) do
		local q = key_batch_queue(P, b)
		local n = rcall('LLEN', q)
		local at = 0
		if n > 0 then
			at = queued_at(rcall('LINDEX', q, -1))
			if at > 0 and (oldest == 0 or at < oldest) then
				oldest = at
			end
		end
		ready_total = ready_total + n
		rows[#rows + 1] = { b, n, at }
	end
	table.sort(rows, function(x, y) return x[2] > y[2] end)
end
local queue = { ring_len, ready_total, rcall('ZCARD', retry_key),
	rcall('ZCOUNT', retry_key, '-inf', now), oldest }
for _, r in ipairs(rows) do
	queue[#queue + 1] = r[1]
	queue[#queue + 1] = r[2]
	queue[#queue + 1] = r[3]
end

-- slots: P running is small (one field per instance and account with a running execution)
local flat = rcall('HGETALL', running_key)
local by_kind = { instance = {}, account = {} }
for i = 1, #flat, 2 do
	local kind, id = string.match(flat[i], '^(%a+):(.+)$')
	if kind and by_kind[kind] then
		local t = by_kind[kind]
		t[#t + 1] = { id, tonumber(flat[i + 1]) or 0 }
	end
end
local slots = { #by_kind.instance, #by_kind.account }
local parked_rows = {}
for _, kind in ipairs({ 'instance', 'account' }) do
	local t = by_kind[kind]
	table.sort(t, function(x, y) return x[2] > y[2] end)
	for i = 1, math.min(#t, max_slots) do
		slots[#slots + 1] = kind
		slots[#slots + 1] = t[i][1]
		slots[#slots + 1] = t[i][2]
	end
	-- parked lists of the busiest resources (a parked job waits for a full resource)
	for i = 1, math.min(#t, max_slots * 4) do
		local key = key_parked(P, kind, t[i][1])
		local n = rcall('LLEN', key)
		if n > 0 then
			local ref = rcall('LINDEX', key, -1)
			parked_rows[#parked_rows + 1] = { kind, t[i][1], n, ref, queued_at(ref) }
		end
	end
end
table.sort(parked_rows, function(x, y) return x[3] > y[3] end)
local parked = {}
for i = 1, math.min(#parked_rows, max_slots) do
	for _, v in ipairs(parked_rows[i]) do
		parked[#parked + 1] = v
	end
end

-- AMC cancels not yet sent
local cancels = { rcall('ZCARD', cancels_key), rcall('ZCOUNT', cancels_key, '-inf', now), 0 }
local first = rcall('ZRANGE', cancels_key, 0, 0, 'WITHSCORES')
if #first == 2 then
	cancels[3] = tonumber(first[2]) or 0
end

-- recent errors: retries (their reason) and failures (the exec's error), newest first
local errors, n_errors = {}, 0
local function add_error(at, etype, b, e, inst, text)
	errors[#errors + 1] = at
	errors[#errors + 1] = etype
	errors[#errors + 1] = b
	errors[#errors + 1] = e
	errors[#errors + 1] = inst
	errors[#errors + 1] = text
	n_errors = n_errors + 1
end
if max_events > 0 and max_errors > 0 then
	local entries = rcall('XREVRANGE', events_key, '+', '-', 'COUNT', max_events)
	for _, entry in ipairs(entries) do
		if n_errors >= max_errors then
			break
		end
		local at = tonumber(string.match(entry[1], '^(%d+)')) or 0
		local f = {}
		for i = 1, #entry[2], 2 do
			f[entry[2][i]] = entry[2][i + 1]
		end
		if f.type == 'retry' and f.exec_id then
			local inst = rcall('HGET', key_exec(P, f.batch_id, f.exec_id), 'amc_instance_id')
			add_error(at, 'retry', f.batch_id, f.exec_id, inst or '', f.reason or '')
		elseif f.type == 'finished' and f.state == 'failed' and f.exec_ids then
			for e in string.gmatch(f.exec_ids, '%S+') do
				if n_errors >= max_errors then
					break
				end
				local h = rcall('HMGET', key_exec(P, f.batch_id, e), 'amc_instance_id', 'error')
				add_error(at, 'failed', f.batch_id, e, h[1] or '', h[2] or '')
			end
		end
	end
end

return { workers, queue, slots, parked, cancels, errors }
