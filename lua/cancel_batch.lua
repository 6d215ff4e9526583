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
--- @include "lib/cancel_execs"
--- @include "lib/events"

local batch_key = KEYS[1]
local execs_key = KEYS[2]
local ring_key = KEYS[3]
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
-- lib/cancel_execs builds the keys from the prefix: they must be the ones given in KEYS
if execs_key ~= key_batch_execs(prefix, batch_id) or ring_key ~= key_ring(prefix) then
	return redis.error_reply('cancel_batch: KEYS do not match the prefix and batch')
end

rcall('HSET', batch_key, 'cancel_requested', 1)

local cancelled = cancel_execs(prefix, batch_key, batch_id, total, now, '')
local n = #cancelled
local status = batch_status(batch_key, now)

local out = { status, n }
for _, c in ipairs(cancelled) do
	emit(events_key, { 'type', 'cancelled', 'batch_id', batch_id, 'exec_id', c[1],
		'state', 'cancelled', 'previous_state', c[2], 'batch_status', status })
	out[#out + 1] = c[1]
end
return out
