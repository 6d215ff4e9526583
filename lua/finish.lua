--[[
  Finish a running exec as completed or failed, move the batch counters, derive the batch
  status, give back its running slots (waking one parked job per freed resource), and take
  the ref off the worker's jobs list.

  Preconditions:
    the exec is `running` and held by this claim. A cancelled exec is not an error: its
    holder's `completed` or `failed` stands (PostgreSQL holds it already: the cancel came too
    late for it), and outcome `cancelled` lets go of it (discarded).

  Input:
    KEYS[1]  batch hash           P batch:{B}       (HASH)
    KEYS[2]  exec hash            P exec:{B}:E      (HASH)
    KEYS[3]  the worker's jobs    P worker:W:jobs   (LIST)
    KEYS[4]  event stream         P events          (STREAM)

    ARGV[1]  ref `B:E` (as held in the jobs list)
    ARGV[2]  outcome: completed | failed | cancelled (let go of a cancelled exec)
    ARGV[3]  now (Unix ms)
    ARGV[4]  row_count (rows archived, count; may be empty when failed)
    ARGV[5]  error text (empty when completed)
    ARGV[6]  worker id W
    ARGV[7]  claim token (the `claim` the claim script returned)

    The key prefix P is KEYS[4] without its `events` suffix (builds P running, P queue,
    P parked:..., P batch:{B}:queue for the woken jobs).

    C:  ref outcome now:ms row_count:int error worker_id claim

  Output:
    { final_state, batch_status }  ok; final_state = cancelled when the exec had been
                                   cancelled and is let go (counters untouched); a cancelled
                                   exec finished completed/failed by its holder moves from
                                   the cancelled counter to that one
   -4  another claim holds the exec (or nobody: it was reclaimed)
   -3  the exec is not running (already finished)
   -1  unknown exec
    error reply for an unknown outcome, or keys that are not the ref's (a caller bug)
    The ref leaves the jobs list in every case.

  Events (lib/events.lua):
    finished (batch_id, exec_id, exec_ids, n = 1, state = completed | failed, worker,
    batch_status), or discarded (state = cancelled) when the exec had been cancelled

  The work is lib/finish_jobs.lua, shared with finish_many (several jobs per call).
]]
local rcall = redis.call
--- @include "lib/finish_jobs"

if string.sub(KEYS[4], -6) ~= 'events' then
	return redis.error_reply('finish: KEYS[4] must be P events')
end
local prefix = string.sub(KEYS[4], 1, -7)
local job = { batch_key = KEYS[1], exec_key = KEYS[2], ref = ARGV[1], outcome = ARGV[2],
	row_count = ARGV[4], error = ARGV[5], token = ARGV[7] }
local bad = finish_check(prefix, job)
if bad then
	return redis.error_reply('finish: ' .. bad)
end
return finish_jobs(prefix, KEYS[4], KEYS[3], ARGV[6], ARGV[3], { job })[1]
