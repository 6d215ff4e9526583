--[[
  Cancel a batch: every non-terminal exec becomes `cancelled` at once, so the batch is
  terminal (`cancelled`) when this returns. Queued refs leave the batch's queue (and the batch
  the ring) or the parked list they wait in; retry_wait refs leave P retry; every exec that
  holds running slots gives them back (waking jobs of other batches parked on them); running
  execs are told through their state: their holder cancels them on AMC and lets go, unless it
  had archived the result already (its late finish then keeps completed or failed,
  lib/finish_jobs). Every cancelled exec that has an AMC execution, or may have one (a create
  intent), is put in P amc_cancels, from which workers cancel it on AMC, running ones too: a
  holder may die before it learns of the cancel.

  Preconditions:
    the batch exists and is not terminal.

  Input:
    KEYS[1]  batch hash              P batch:{B}         (HASH)
    KEYS[2]  batch's exec id list    P batch:{B}:execs   (LIST, <= max_instances)
    KEYS[3]  ring of batches with ready jobs, P queue (LIST of batch ids)
    KEYS[4]  event stream            P events            (STREAM)

    ARGV[1]  now (Unix ms)
    ARGV[2]  key prefix P (builds P exec:{B}:E, P retry, P running, P parked:...,
             P amc_cancels); the batch's queue is KEYS[1] .. ':queue' (P batch:{B}:queue)

    C:  now:ms prefix

  Output:
    { batch_status, n_cancelled, exec ids cancelled... }  ok
   -3  the batch is already terminal
   -1  unknown batch

  Events:
    cancelled (batch_id, exec_id, state = cancelled, previous state, batch_status), one per
    cancelled exec
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/batch_status"
--- @include "lib/keys"
--- @include "lib/slots"
--- @include "lib/events"

local batch_key = KEYS[1]
local execs_key = KEYS[2]
local ring_key = KEYS[3]
local queue_key = batch_key .. ':queue'
local events_key = KEYS[4]
local now = ARGV[1]
local prefix = ARGV[2]

local terminal = { completed = true, partial = true, failed = true, cancelled = true }

local b = rcall('HMGET', batch_key, 'status', 'total', 'batch_id')
local batch_status_now = b[1]
if not batch_status_now then
	return ERR_NOT_FOUND
end
if terminal[batch_status_now] then
	return ERR_WRONG_STATE
end
local batch_id = b[3]
local total = tonumber(b[2]) or 0

rcall('HSET', batch_key, 'cancel_requested', 1)

-- the execs list holds exactly `total` ids (bounded by max_instances)
local ids = rcall('LRANGE', execs_key, 0, total - 1)
local moved = {}		-- previous state -> count
local cancelled = {}		-- { exec_id, previous state }
local freed = {}		-- { amc_instance_id, account_id } of the execs that held slots
local retry_key = key_retry(prefix)
local amc_cancels_key = key_amc_cancels(prefix)
for _, exec_id in ipairs(ids) do
	local exec_key = key_exec(prefix, batch_id, exec_id)
	local f = rcall('HMGET', exec_key, 'state', 'parked', 'amc_instance_id', 'account_id', 'slots',
		'amc_execution_id', 'create_intent_at')
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
		rcall('HSET', exec_key, 'state', 'cancelled', 'parked', '', 'finished_at', now, 'slots', '0')
		moved[state] = (moved[state] or 0) + 1
		cancelled[#cancelled + 1] = { exec_id, state }
	end
end
-- every other queued ref of the batch is in its queue; the batch is in the ring at most once
if rcall('DEL', queue_key) == 1 then
	rcall('LREM', ring_key, 1, batch_id)
end
-- after every exec of the batch is cancelled, so the wakes only pick other batches' jobs
for _, s in ipairs(freed) do
	release_slots(prefix, s[1], s[2])
end

local n = #cancelled
for state, count in pairs(moved) do
	rcall('HINCRBY', batch_key, state, -count)
end
if n > 0 then
	rcall('HINCRBY', batch_key, 'cancelled', n)
end
local status = batch_status(batch_key, now)

local out = { status, n }
for _, c in ipairs(cancelled) do
	emit(events_key, { 'type', 'cancelled', 'batch_id', batch_id, 'exec_id', c[1],
		'state', 'cancelled', 'previous_state', c[2], 'batch_status', status })
	out[#out + 1] = c[1]
end
return out
