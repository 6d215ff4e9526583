--[[
  Hand a running job back (SIGTERM grace period over, or the worker could not go on with it):
  the exec is `queued` again at the front of its batch's queue, so it is claimed next, keeping
  amc_execution_id (the next worker resumes polling that AMC execution) and attempts; its
  running slots are given back (waking one parked job per freed resource) unless its AMC
  execution still runs on AMC, and the ref leaves the worker's jobs list.

  Preconditions:
    the exec is `running` and held by this claim.

  Input:
    KEYS[1]  batch hash           P batch:{B}       (HASH)
    KEYS[2]  exec hash            P exec:{B}:E      (HASH)
    KEYS[3]  the worker's jobs    P worker:W:jobs   (LIST)
    KEYS[4]  event stream         P events          (STREAM)

    ARGV[1]  ref `B:E` (as held in the jobs list)
    ARGV[2]  now (Unix ms)
    ARGV[3]  worker id W
    ARGV[4]  key prefix P (builds P running, P queue, P parked:..., P batch:{B}:queue)
    ARGV[5]  claim token
    ARGV[6]  `1` = the exec's AMC execution still runs on AMC: it keeps its slots; else `0`

    C:  ref now:ms worker_id prefix claim amc_live:flag

  Output:
    1  ok: state queued, worker and phase emptied, queued_at = now
   -5  the exec was cancelled (nothing else changes)
   -4  another claim holds the exec (or nobody: it was reclaimed)
   -3  the exec is not running
   -1  unknown exec
    The ref leaves the jobs list in every case.

  Events:
    released (batch_id, exec_id, state = queued, worker, batch_status)
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
local events_key = KEYS[4]
local ref = ARGV[1]
local now = ARGV[2]
local worker = ARGV[3]
local prefix = ARGV[4]
local token = ARGV[5]
local amc_live = ARGV[6] == '1'

local f = held_fields(exec_key, 'batch_id', 'exec_id', 'amc_instance_id', 'account_id', 'slots')
-- whatever happens, this claim no longer holds the job
drop_ref(jobs_key, ref, f, worker, token)
local err = held_error(f, worker, token)
if err then
	return err
end

local held = holds_slots(f.state, f.slots)
local give_back = held and not amc_live
rcall('HSET', exec_key, 'state', 'queued', 'worker', '', 'phase', '', 'queued_at', now,
	'slots', (held and not give_back) and '1' or '0')
move_counter(batch_key, 'running', 'queued', 1)
-- slots first: a job woken for the same instance lands behind this one in the batch queue
if give_back then
	release_slots(prefix, f.amc_instance_id, f.account_id)
end
push_ready(prefix, key_ring(prefix), f.batch_id, ref, true)
local status = batch_status(batch_key, now)

emit(events_key, { 'type', 'released', 'batch_id', f.batch_id, 'exec_id', f.exec_id,
	'state', 'queued', 'worker', worker, 'batch_status', status })
return OK
