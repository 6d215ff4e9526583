--[[
  Put a running exec into `retry_wait` after a transient error (429, 5xx, network): it gives
  back its running slots (waking one parked job per freed resource), leaves the worker's jobs
  list, and waits in P retry until its due time, when claim re-queues it (by time, no polling).

  Preconditions:
    the exec is `running` and held by this worker.

  Input:
    KEYS[1]  batch hash              P batch:{B}       (HASH)
    KEYS[2]  exec hash               P exec:{B}:E      (HASH)
    KEYS[3]  the worker's jobs       P worker:W:jobs   (LIST)
    KEYS[4]  retries by due time     P retry           (ZSET, score = due ms)
    KEYS[5]  event stream            P events          (STREAM)

    ARGV[1]  ref `B:E` (as held in the jobs list)
    ARGV[2]  now (Unix ms)
    ARGV[3]  due (Unix ms): the exec may run again from then on
    ARGV[4]  reason text (stored in `error` and `retry_reason`)
    ARGV[5]  worker id W
    ARGV[6]  key prefix P (builds P running, P queue, P parked:..., P batch:{B}:queue)
    ARGV[7]  optional: `1` = AMC throttled the request (429): counted in the exec's
             `throttled` field, which the worker leaves out of its max_retries budget

  Output:
    { 'retry_wait', batch_status }  ok: state retry_wait, retry_at = due, worker and phase
                                    emptied (amc_execution_id and attempts kept),
                                    `throttled` + 1 if ARGV[7] is `1`
   -5  the exec was cancelled (nothing else changes)
   -4  another worker holds the exec (or nobody: it was reclaimed)
   -3  the exec is not running
   -1  unknown exec
    error reply for a due time that is not a number (a caller bug)
    The ref leaves the jobs list in every case.

  Events:
    retry (batch_id, exec_id, state = retry_wait, worker, retry_at, reason, batch_status)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/held"
--- @include "lib/move_counter"
--- @include "lib/batch_status"
--- @include "lib/slots"

local batch_key = KEYS[1]
local exec_key = KEYS[2]
local jobs_key = KEYS[3]
local retry_key = KEYS[4]
local events_key = KEYS[5]
local ref = ARGV[1]
local now = ARGV[2]
local due = ARGV[3]
local reason = ARGV[4]
local worker = ARGV[5]
local prefix = ARGV[6]
local throttled = ARGV[7] == '1'

if not tonumber(due) then
	return redis.error_reply('retry: due must be Unix ms')
end

-- whatever happens, this worker no longer holds the job
rcall('LREM', jobs_key, -1, ref)

local f = rcall('HMGET', exec_key, 'state', 'worker', 'batch_id', 'exec_id', 'amc_instance_id',
	'account_id')
local err = held_error(f[1], f[2], worker)
if err then
	return err
end

rcall('HSET', exec_key, 'state', 'retry_wait', 'phase', '', 'worker', '', 'retry_at', due,
	'error', reason, 'retry_reason', reason)
if throttled then
	rcall('HINCRBY', exec_key, 'throttled', 1)
end
rcall('ZADD', retry_key, due, ref)
move_counter(batch_key, 'running', 'retry_wait', 1)
release_slots(prefix, f[5], f[6])
local status = batch_status(batch_key, now)

rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'retry',
	'batch_id', f[3], 'exec_id', f[4], 'state', 'retry_wait', 'worker', worker,
	'retry_at', due, 'reason', reason, 'batch_status', status)
return { 'retry_wait', status }
