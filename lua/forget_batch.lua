--[[
  Let a terminal batch leave Redis after its retention: PostgreSQL serves it from then on
  (the janitor checked that PostgreSQL holds the same final status first). Refused while an
  exec of the batch still waits in P amc_cancels (its AMC execution must be cancelled first).

  Preconditions:
    PostgreSQL holds the batch with the status given in ARGV[3].

  Input:
    KEYS[1]  batch hash              P batch:{B}         (HASH)
    KEYS[2]  batch's exec id list    P batch:{B}:execs   (LIST, <= max_instances)
    KEYS[3]  batches by creation     P batches           (ZSET)
    KEYS[4]  AMC cancels to do       P amc_cancels       (ZSET)
    KEYS[5]  event stream            P events            (STREAM)

    ARGV[1]  key prefix P (builds P exec:{B}:E, P batch:{B}:queue)
    ARGV[2]  completed before (Unix ms): only a batch terminal since before this goes
    ARGV[3]  the batch's status in PostgreSQL; `*` = PostgreSQL has no such batch (one an
             older API deleted after a failed enqueue): nothing to agree with

    C:  prefix before:ms pg_status

  Output:
    1   forgotten (batch hash, exec list, exec hashes and queue deleted, out of P batches)
   -1   not in Redis (it leaves P batches if it was still listed)
   -3   not terminal, terminal too recently, or another status than PostgreSQL's
   -5   an exec still waits for its AMC cancel

  Events:
    forgotten (batch_id, batch_status)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/keys"
--- @include "lib/events"

local batch_key = KEYS[1]
local execs_key = KEYS[2]
local batches_key = KEYS[3]
local cancels_key = KEYS[4]
local events_key = KEYS[5]
local prefix = ARGV[1]
local before = tonumber(ARGV[2]) or 0
local pg_status = ARGV[3]

local terminal = { completed = true, partial = true, failed = true, cancelled = true }
local b = rcall('HMGET', batch_key, 'status', 'completed_at', 'batch_id', 'total')
if not b[1] then
	-- a stale id leaves P batches, or every retention sweep would meet it first for ever
	local id = string.sub(batch_key, #prefix + 8, -2)
	if key_batch(prefix, id) == batch_key then
		rcall('ZREM', batches_key, id)
	end
	return ERR_NOT_FOUND
end
local done_at = tonumber(b[2])
if not terminal[b[1]] or not done_at or done_at >= before or (b[1] ~= pg_status and pg_status ~= '*') then
	return ERR_WRONG_STATE
end
local batch_id = b[3]
local ids = rcall('LRANGE', execs_key, 0, (tonumber(b[4]) or 0) - 1)
for _, exec_id in ipairs(ids) do
	if rcall('ZSCORE', cancels_key, batch_id .. ':' .. exec_id) then
		return ERR_CANCELLED
	end
end
for _, exec_id in ipairs(ids) do
	rcall('DEL', key_exec(prefix, batch_id, exec_id))
end
rcall('DEL', execs_key, key_batch_queue(prefix, batch_id), batch_key)
rcall('ZREM', batches_key, batch_id)
emit(events_key, { 'type', 'forgotten', 'batch_id', batch_id, 'batch_status', b[1] })
return OK
