--[[
  Record the phase a running exec has reached (submitted, polling, downloading, archiving),
  so the status pages show where each instance is. `submitted` is also the durable create
  intent: the worker sets it right before it asks AMC to create the execution, so whoever
  holds the exec later and finds an intent without an amc_execution_id looks for that
  execution on AMC before creating one.

  Preconditions:
    the exec is `running` and held by this claim.

  Input:
    KEYS[1]  exec hash      P exec:{B}:E   (HASH)
    KEYS[2]  event stream   P events       (STREAM)

    ARGV[1]  phase: submitted | polling | downloading | archiving
    ARGV[2]  now (Unix ms)
    ARGV[3]  worker id W
    ARGV[4]  claim token (the `claim` the claim script returned)

    C:  phase now:ms worker_id claim

  Output:
    1  ok (submitted: create_intent_at = now, create_intent_claim = the token)
   -5  the exec was cancelled: stop and cancel it on AMC
   -4  another claim holds the exec (or nobody: it was reclaimed)
   -3  the exec is already finished
   -1  unknown exec
    error reply for an unknown phase (a caller bug)

  Events:
    phase (batch_id, exec_id, state = running, phase, at)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/held"
--- @include "lib/events"

local exec_key = KEYS[1]
local events_key = KEYS[2]
local phase = ARGV[1]
local now = ARGV[2]
local worker = ARGV[3]
local token = ARGV[4]

local phases = { submitted = true, polling = true, downloading = true, archiving = true }
if not phases[phase] then
	return redis.error_reply('set_phase: unknown phase ' .. tostring(phase))
end

local f = held_fields(exec_key, 'batch_id', 'exec_id')
local err = held_error(f, worker, token)
if err then
	return err
end

if phase == 'submitted' then
	rcall('HSET', exec_key, 'phase', phase, 'create_intent_at', now, 'create_intent_claim', token)
else
	rcall('HSET', exec_key, 'phase', phase)
end

emit(events_key, { 'type', 'phase', 'batch_id', f.batch_id, 'exec_id', f.exec_id,
	'state', 'running', 'phase', phase, 'at', now })
return OK
