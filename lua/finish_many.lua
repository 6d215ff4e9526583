--[[
  Finish several running execs of one worker (of one or several batches) in one call, each
  as completed or failed: exactly what `finish` does for each of them (lib/finish_jobs.lua),
  with the counters and status written once per batch, the running slots given back once per
  instance and account, and one event per batch and final state. The worker batches the
  finishes of one event-loop turn into one call.

  Preconditions:
    every exec is `running` and held by this worker under the given claim token; a cancelled
    exec is not an error (see finish: its holder's result stands, outcome `cancelled` lets
    go of it).

  Input:
    KEYS[1]  event stream         P events          (STREAM)
    KEYS[2]  the worker's jobs    P worker:W:jobs   (LIST)
    KEYS[3..]  per job i (1..n), two keys: its batch hash P batch:{B} (HASH) at
             KEYS[1 + 2i], its exec hash P exec:{B}:E (HASH) at KEYS[2 + 2i]

    ARGV[1]  now (Unix ms)
    ARGV[2]  worker id W
    ARGV[3..]  per job i, five values from ARGV[5i - 2]: ref `B:E`, outcome
             (completed | failed | cancelled), row_count (may be empty when failed), error text,
             claim token

    The key prefix P is KEYS[1] without its `events` suffix (builds P running, P queue,
    P parked:..., P batch:{B}:queue for the woken jobs).

  Output:
    an array of n results, in call order, each as `finish` returns it: { final_state,
    batch_status } (final_state = cancelled: result discarded), or -4 / -3 / -1.
    Every ref leaves the jobs list. Error reply (and nothing changed) when the key or
    argument count does not fit n jobs, an outcome is unknown, or a job's keys are not
    its ref's batch and exec hashes (caller bugs).

  Events (lib/events.lua):
    finished (batch_id, exec_ids, n, state = completed | failed, worker, batch_status), one
    per batch and state; discarded (state = cancelled) likewise for cancelled execs
]]
local rcall = redis.call
--- @include "lib/finish_jobs"

local events_key = KEYS[1]
local n = (#KEYS - 2) / 2
if n < 1 or n ~= math.floor(n) or #ARGV ~= 2 + 5 * n then
	return redis.error_reply('finish_many: ' .. #KEYS .. ' keys and ' .. #ARGV ..
		' args do not describe n jobs (2 + 2n keys, 2 + 5n args)')
end
if string.sub(events_key, -6) ~= 'events' then
	return redis.error_reply('finish_many: KEYS[1] must be P events')
end
local prefix = string.sub(events_key, 1, -7)

local jobs = {}
for i = 1, n do
	local a = 5 * i - 2
	local job = { batch_key = KEYS[1 + 2 * i], exec_key = KEYS[2 + 2 * i], ref = ARGV[a],
		outcome = ARGV[a + 1], row_count = ARGV[a + 2], error = ARGV[a + 3], token = ARGV[a + 4] }
	local bad = finish_check(prefix, job)
	if bad then
		return redis.error_reply('finish_many: job ' .. i .. ': ' .. bad)
	end
	jobs[i] = job
end
return finish_jobs(prefix, events_key, KEYS[2], ARGV[2], ARGV[1], jobs)
