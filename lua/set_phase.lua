--[[
  Record the phase a running exec has reached (submitted, polling, downloading, archiving),
  so the status pages show where each instance is.

  Preconditions:
    the exec is `running` and held by this worker.

  Input:
    KEYS[1]  exec hash      P exec:{B}:E   (HASH)
    KEYS[2]  event stream   P events       (STREAM)

    ARGV[1]  phase: submitted | polling | downloading | archiving
    ARGV[2]  now (Unix ms)
    ARGV[3]  worker id W

  Output:
    1  ok
   -5  the exec was cancelled: stop and cancel it on AMC
   -4  another worker holds the exec (or nobody: it was reclaimed)
   -3  the exec is already finished by this worker
   -1  unknown exec
    error reply for an unknown phase (a caller bug)

  Events:
    phase (batch_id, exec_id, state = running, phase)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/held"

local exec_key = KEYS[1]
local events_key = KEYS[2]
local phase = ARGV[1]
local now = ARGV[2]
local worker = ARGV[3]

local phases = { submitted = true, polling = true, downloading = true, archiving = true }
if not phases[phase] then
	return redis.error_reply('set_phase: unknown phase ' .. tostring(phase))
end

local f = rcall('HMGET', exec_key, 'state', 'worker', 'batch_id', 'exec_id')
local err = held_error(f[1], f[2], worker)
if err then
	return err
end

rcall('HSET', exec_key, 'phase', phase)

rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'phase',
	'batch_id', f[3], 'exec_id', f[4], 'state', 'running', 'phase', phase, 'at', now)
return OK
