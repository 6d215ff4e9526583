--[[
  Store a new batch and its executions, and queue every execution for the workers.

  Preconditions:
    the batch does not exist yet; ids were validated by the caller; executions is not empty
    and has exactly one element per KEYS[6..] (same order), each with an exec_id whose exec
    hash is that KEYS entry. All of it is checked before the first write: a refused call
    writes nothing. Any n works (list pushes go in chunks of PUSH_CHUNK values, below Lua's
    unpack limit of ~8,000); the API bounds n by max_instances (at most 1000).

  Input:
    KEYS[1]    batch hash                P batch:{B}            (HASH)
    KEYS[2]    batch's exec id list      P batch:{B}:execs      (LIST)
    KEYS[3]    ring of batches with ready jobs, P queue        (LIST of batch ids)
    KEYS[4]    batches by creation time  P batches              (ZSET)
    KEYS[5]    event stream              P events               (STREAM)
    KEYS[6..]  one exec hash per execution, P exec:{B}:E         (HASH)

    ARGV[1]    batch id (batch_xxxxxxxx)
    ARGV[2]    now (Unix ms)
    ARGV[3]    batch fields, JSON object of strings: batch_execution_id, workflow_id,
               user_id, name, sql_query, time_window (the relative window asked for, as
               JSON text; "" for explicit dates), parent_batch_id (the batch this one
               retries; "" for none), on_failure (`continue` | `fail_fast` |
               `min_success_ratio`; absent or "" = `continue`), min_success_ratio (the
               ratio as decimal text, at most 4 decimals, e.g. "0.9"; "" unless
               on_failure is `min_success_ratio`)
    ARGV[4]    executions, JSON array of objects of strings (exec fields of
               docs/redis-keys.md; exec_id required; parameters is a JSON string;
               window_start/window_end: the AMC time window resolved at submission;
               instance_region: the instance's AWS region, e.g. us-east-1; amc_region: its
               account's AMC region, NA | EU | FE, which picks the worker's AMC and token
               hosts)

    The batch's own ready queue is KEYS[1] .. ':queue' (P batch:{B}:queue, same hash tag).

  Output:
    1  ok: every exec `queued` (refs in P batch:{B}:queue, submission order; the batch joins
       the back of the ring), counters total = queued = n, status `pending`
   -2  the batch already exists (nothing written)
    error reply: malformed arguments (nothing written)

  Events:
    enqueued (batch_id, state = pending, total)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/events"

local batch_key = KEYS[1]
local execs_key = KEYS[2]
local ring_key = KEYS[3]
local queue_key = batch_key .. ':queue'
local batches_key = KEYS[4]
local events_key = KEYS[5]
local batch_id = ARGV[1]
local now = ARGV[2]

if rcall('EXISTS', batch_key) == 1 then
	return ERR_EXISTS
end

local batch = cjson.decode(ARGV[3])
local execs = cjson.decode(ARGV[4])
local n = #execs
if type(batch) ~= 'table' or n == 0 or n ~= #KEYS - 5 then
	return redis.error_reply('enqueue_batch: executions must match KEYS[6..] one to one')
end

-- only the documented fields are stored, always all of them, so redis-cli shows a full record
local function str(v)
	if v == nil or v == cjson.null then
		return ''
	end
	return tostring(v)
end

-- every check before the first write: a refused call leaves no trace
local ids = {}
local refs = {}
for i = 1, n do
	local exec_id = str(execs[i].exec_id)
	local key = KEYS[5 + i]
	if exec_id == '' then
		return redis.error_reply('enqueue_batch: execution ' .. i .. ' has no exec_id')
	end
	if string.sub(key, -#exec_id - 1) ~= ':' .. exec_id then
		return redis.error_reply('enqueue_batch: KEYS[' .. (5 + i) .. '] is not the hash of ' ..
			exec_id)
	end
	ids[i] = exec_id
	refs[i] = batch_id .. ':' .. exec_id
end

local exec_fields = { 'id', 'advertiser_id', 'marketplace_id', 'timezone', 'parameters',
	'instance_uuid', 'instance_name', 'instance_region', 'window_start', 'window_end',
	'amc_region' }

rcall('HSET', batch_key,
	'batch_id', batch_id,
	'batch_execution_id', str(batch.batch_execution_id),
	'workflow_id', str(batch.workflow_id),
	'user_id', str(batch.user_id),
	'name', str(batch.name),
	'sql_query', str(batch.sql_query),
	'time_window', str(batch.time_window),
	'parent_batch_id', str(batch.parent_batch_id),
	'status', 'pending',
	'total', n, 'pending', 0, 'queued', n, 'running', 0, 'retry_wait', 0,
	'completed', 0, 'failed', 0, 'cancelled', 0,
	'created_at', now, 'started_at', '', 'completed_at', '',
	'cancel_requested', 0)
-- The policy only when it is not `continue` (absent = continue), and last: a small hash is a
-- listpack that every counter update scans and rewrites, so a continue batch's record stays
-- exactly as small as before policies were (bench/script-instructions); the policy is read
-- only once something failed (lib/finish_jobs, lib/batch_status).
local on_failure = str(batch.on_failure)
if on_failure ~= '' and on_failure ~= 'continue' then
	rcall('HSET', batch_key, 'on_failure', on_failure, 'min_success_ratio', str(batch.min_success_ratio))
end

for i = 1, n do
	local e = execs[i]
	-- Field order matters for speed: a small hash is a listpack, where every field lookup
	-- scans from the front. The fields claim, finish and set_phase read and write on every
	-- job come first; the identity fields the worker reads once at claim follow.
	local h = { 'state', 'queued', 'worker', '', 'claim', '0', 'slots', '0',
		'amc_instance_id', str(e.amc_instance_id),
		'account_id', str(e.account_id), 'attempts', '0', 'started_at', '', 'phase', '',
		'row_count', '', 'error', '', 'finished_at', '', 'amc_execution_id', '', 'throttled', '0',
		'create_intent_at', '', 'create_intent_claim', '', 'exec_id', ids[i], 'batch_id', batch_id }
	for _, name in ipairs(exec_fields) do
		h[#h + 1] = name
		h[#h + 1] = str(e[name])
	end
	h[#h + 1] = 'queued_at'; h[#h + 1] = now
	h[#h + 1] = 'parked'; h[#h + 1] = ''
	h[#h + 1] = 'retry_at'; h[#h + 1] = ''
	h[#h + 1] = 'retry_reason'; h[#h + 1] = ''
	rcall('HSET', KEYS[5 + i], unpack(h))
end

-- unpack puts every value on Lua's C stack (limit ~8,000: past it the script fails with the
-- hashes above already written), so a long list is pushed PUSH_CHUNK values at a time
local PUSH_CHUNK = 1000
local function push(cmd, key, values)
	for first = 1, #values, PUSH_CHUNK do
		rcall(cmd, key, unpack(values, first, math.min(first + PUSH_CHUNK - 1, #values)))
	end
end
push('RPUSH', execs_key, ids)
push('LPUSH', queue_key, refs)
rcall('LPUSH', ring_key, batch_id)
rcall('ZADD', batches_key, now, batch_id)

emit(events_key, { 'type', 'enqueued', 'batch_id', batch_id, 'state', 'pending',
	'total', tostring(n) })
return OK
