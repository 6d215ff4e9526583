--[[
  Store the AMC workflowExecutionId of a running exec before polling starts, so a reclaimed
  job resumes that AMC execution instead of creating a second one. An exec has one AMC
  execution: a different id already stored is never overwritten (the caller cancels the one
  it holds and goes on with the stored one).

  Preconditions:
    the exec is `running` and held by this claim.

  Input:
    KEYS[1]  exec hash      P exec:{B}:E   (HASH)
    KEYS[2]  event stream   P events       (STREAM)

    ARGV[1]  amc_execution_id (AMC's workflowExecutionId)
    ARGV[2]  now (Unix ms)
    ARGV[3]  worker id W
    ARGV[4]  claim token

    C:  amc_execution_id now:ms worker_id claim

  Output:
    1  ok (also when the same id was stored already)
   -6  another id is stored: the caller's AMC execution is a duplicate
   -5  the exec was cancelled (the id is still stored when this claim held it and none
       was): cancel it on AMC
   -4  another claim holds the exec (or nobody: it was reclaimed)
   -3  the exec is already finished
   -1  unknown exec

  Events:
    amc_id (batch_id, exec_id, state = running, amc_execution_id, at)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/held"
--- @include "lib/events"

local exec_key = KEYS[1]
local events_key = KEYS[2]
local amc_execution_id = ARGV[1]
local now = ARGV[2]
local worker = ARGV[3]
local token = ARGV[4]

local f = held_fields(exec_key, 'batch_id', 'exec_id', 'amc_execution_id')
local stored = f.amc_execution_id or ''
local err = held_error(f, worker, token)
if err == ERR_CANCELLED and f.worker == worker and f.claim == token and stored == '' then
	-- keep the id for the record: the worker cancels that AMC execution next
	rcall('HSET', exec_key, 'amc_execution_id', amc_execution_id)
end
if err then
	return err
end
if stored ~= '' and stored ~= amc_execution_id then
	return ERR_CONFLICT
end
if stored == amc_execution_id then
	return OK
end

rcall('HSET', exec_key, 'amc_execution_id', amc_execution_id)

emit(events_key, { 'type', 'amc_id', 'batch_id', f.batch_id, 'exec_id', f.exec_id,
	'state', 'running', 'amc_execution_id', amc_execution_id, 'at', now })
return OK
