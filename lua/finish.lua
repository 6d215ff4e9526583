--[[
  Finish a running exec as completed or failed, move the batch counters, derive the batch
  status, give back its running slots (waking one parked job per freed resource), and take
  the ref off the worker's jobs list.

  Preconditions:
    the exec is `running` and held by this worker. A cancelled exec is not an error: its
    late result is discarded.

  Input:
    KEYS[1]  batch hash           P batch:{B}       (HASH)
    KEYS[2]  exec hash            P exec:{B}:E      (HASH)
    KEYS[3]  the worker's jobs    P worker:W:jobs   (LIST)
    KEYS[4]  event stream         P events          (STREAM)

    ARGV[1]  ref `B:E` (as held in the jobs list)
    ARGV[2]  outcome: completed | failed
    ARGV[3]  now (Unix ms)
    ARGV[4]  row_count (rows archived, count; may be empty when failed)
    ARGV[5]  error text (empty when completed)
    ARGV[6]  worker id W

    The key prefix P is KEYS[4] without its `events` suffix (builds P running, P queue,
    P parked:..., P batch:{B}:queue for the woken jobs).

  Output:
    { final_state, batch_status }  ok; final_state = cancelled when the exec had been
                                   cancelled (result discarded, counters untouched)
   -4  another worker holds the exec (or nobody: it was reclaimed)
   -3  the exec is not running (already finished)
   -1  unknown exec
    error reply for an unknown outcome (a caller bug)
    The ref leaves the jobs list in every case.

  Events:
    finished (batch_id, exec_id, state = completed | failed, batch_status), or
    discarded (state = cancelled) when the exec had been cancelled
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/move_counter"
--- @include "lib/batch_status"
--- @include "lib/slots"

local batch_key = KEYS[1]
local exec_key = KEYS[2]
local jobs_key = KEYS[3]
local events_key = KEYS[4]
local ref = ARGV[1]
local outcome = ARGV[2]
local now = ARGV[3]
local row_count = ARGV[4]
local error_text = ARGV[5]
local worker = ARGV[6]

if outcome ~= 'completed' and outcome ~= 'failed' then
	return redis.error_reply('finish: unknown outcome ' .. tostring(outcome))
end
if string.sub(events_key, -6) ~= 'events' then
	return redis.error_reply('finish: KEYS[4] must be P events')
end
local prefix = string.sub(events_key, 1, -7)

-- whatever happens, this worker no longer holds the job
rcall('LREM', jobs_key, -1, ref)

local f = rcall('HMGET', exec_key, 'state', 'worker', 'batch_id', 'exec_id', 'amc_instance_id',
	'account_id')
local state = f[1]
if not state then
	return ERR_NOT_FOUND
end
if state == 'cancelled' then
	local status = rcall('HGET', batch_key, 'status') or ''
	rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'discarded',
		'batch_id', f[3], 'exec_id', f[4], 'state', 'cancelled', 'worker', worker,
		'batch_status', status)
	return { 'cancelled', status }
end
if f[2] ~= worker then
	return ERR_NOT_OWNER
end
if state ~= 'running' then
	return ERR_WRONG_STATE
end

rcall('HSET', exec_key, 'state', outcome, 'phase', '', 'row_count', row_count,
	'error', error_text, 'finished_at', now)
move_counter(batch_key, 'running', outcome, 1)
release_slots(prefix, f[5], f[6])
local status = batch_status(batch_key, now)

rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'finished',
	'batch_id', f[3], 'exec_id', f[4], 'state', outcome, 'worker', worker,
	'batch_status', status)
return { outcome, status }
