--[[
  Put a running exec into `retry_wait` after a transient error (429, 5xx, network): it leaves
  the worker's jobs list and waits in P retry until its due time, when claim re-queues it (by
  time, no polling). It gives back its running slots (waking one parked job per freed
  resource) unless its AMC execution still runs on AMC, which keeps counting against the caps.

  Preconditions:
    the exec is `running` and held by this claim.

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
    ARGV[7]  `1` = AMC throttled the request (429): counted in the exec's `throttled` field,
             which the worker leaves out of its max_retries budget; else `0`
    ARGV[8]  claim token
    ARGV[9]  `1` = the exec's AMC execution still runs on AMC: it keeps its slots; else `0`
    ARGV[10] `1` = AMC surely created nothing (the create was refused, e.g. 429): the create
             intent is cleared, so the next holder creates at once; else `0`

    C:  ref now:ms due:ms reason worker_id prefix throttled:flag claim amc_live:flag no_create:flag

  Output:
    { 'retry_wait', batch_status }  ok: state retry_wait, retry_at = due, worker and phase
                                    emptied (amc_execution_id and attempts kept),
                                    `throttled` + 1 if ARGV[7] is `1`
   -5  the exec was cancelled (nothing else changes)
   -4  another claim holds the exec (or nobody: it was reclaimed)
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
--- @include "lib/events"

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
local token = ARGV[8]
local amc_live = ARGV[9] == '1'
local clear_intent = ARGV[10] == '1'

if not tonumber(due) then
	return redis.error_reply('retry: due must be Unix ms')
end

local f = held_fields(exec_key, 'batch_id', 'exec_id', 'amc_instance_id', 'account_id', 'slots')
-- whatever happens, this claim no longer holds the job
drop_ref(jobs_key, ref, f, worker, token)
local err = held_error(f, worker, token)
if err then
	return err
end

local upd = { 'state', 'retry_wait', 'phase', '', 'worker', '', 'retry_at', due,
	'error', reason, 'retry_reason', reason }
if clear_intent then
	upd[#upd + 1] = 'create_intent_at'; upd[#upd + 1] = ''
	upd[#upd + 1] = 'create_intent_claim'; upd[#upd + 1] = ''
end
local held = holds_slots(f.state, f.slots)
local give_back = held and not amc_live
upd[#upd + 1] = 'slots'; upd[#upd + 1] = (held and not give_back) and '1' or '0'
rcall('HSET', exec_key, unpack(upd))
if throttled then
	rcall('HINCRBY', exec_key, 'throttled', 1)
end
rcall('ZADD', retry_key, due, ref)
move_counter(batch_key, 'running', 'retry_wait', 1)
if give_back then
	release_slots(prefix, f.amc_instance_id, f.account_id)
end
local status = batch_status(batch_key, now)

emit(events_key, { 'type', 'retry', 'batch_id', f.batch_id, 'exec_id', f.exec_id,
	'state', 'retry_wait', 'worker', worker, 'retry_at', due, 'reason', reason,
	'batch_status', status })
return { 'retry_wait', status }
