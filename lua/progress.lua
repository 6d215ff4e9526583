--[[
  Record how far a running job has got, for the status endpoint's waiting_for (docs/api.md):
  when its worker asks AMC for the status next, how much of the result file the archive's COPY
  has taken, since when PostgreSQL cannot be reached, since when (and why) the worker cannot
  write its result spool. Not a transition: no event, no counter, no state; the worker sends
  it and forgets it (a lost one is replaced by the next).

  Preconditions:
    the exec is `running` and held by this claim; otherwise nothing is written (a finished,
    cancelled, reclaimed or purged exec keeps its hash as it is, or stays gone: a late write
    never brings back a hash the purge deleted).

  Input:
    KEYS[1]  exec hash      P exec:{B}:E   (HASH)

    ARGV[1]  worker id W
    ARGV[2]  claim token (the `claim` the claim script returned)
    ARGV[3..] field, value pairs, fields among: next_poll_at (ms), archive_done,
             archive_total (bytes or rows of the archive's COPY), pg_down_since (ms, "" =
             PostgreSQL is reachable again), spool_trouble (the reason, e.g. "No space left
             on device", "" = none) and spool_trouble_since (ms, "" = none)

    C:  worker_id claim fields...

  Output:
    1  ok (the fields written)
   -5  the exec was cancelled
   -4  another claim holds the exec (or nobody: it was reclaimed)
   -3  the exec is already finished
   -1  unknown exec (its hash is gone)
    error reply for an odd count or another field (a caller bug): nothing written

  Events:
    none (not a transition; a poll every few seconds would flood the stream)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/held"

local exec_key = KEYS[1]
local worker = ARGV[1]
local token = ARGV[2]

local allowed = { next_poll_at = true, archive_done = true, archive_total = true,
	pg_down_since = true, spool_trouble = true, spool_trouble_since = true }
if #ARGV < 4 or #ARGV % 2 ~= 0 then
	return redis.error_reply('progress: field, value pairs expected')
end
for i = 3, #ARGV, 2 do
	if not allowed[ARGV[i]] then
		return redis.error_reply('progress: unknown field ' .. tostring(ARGV[i]))
	end
end

local err = held_error(held_fields(exec_key), worker, token)
if err then
	return err
end
rcall('HSET', exec_key, unpack(ARGV, 3))
return OK
