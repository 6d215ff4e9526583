--[[
  Store the AMC workflowExecutionId of a running exec before polling starts, so a reclaimed
  job resumes that AMC execution instead of creating a second one.

  Preconditions:
    the exec is `running` and held by this worker.

  Input:
    KEYS[1]  exec hash      P exec:{B}:E   (HASH)
    KEYS[2]  event stream   P events       (STREAM)

    ARGV[1]  amc_execution_id (AMC's workflowExecutionId)
    ARGV[2]  now (Unix ms)
    ARGV[3]  worker id W

  Output:
    1  ok
   -5  the exec was cancelled (the id is still stored when W held it): cancel it on AMC
   -4  another worker holds the exec (or nobody: it was reclaimed)
   -3  the exec is already finished by this worker
   -1  unknown exec

  Events:
    amc_id (batch_id, exec_id, state = running, amc_execution_id)
]]
local rcall = redis.call
--- @include "lib/codes"
--- @include "lib/held"

local exec_key = KEYS[1]
local events_key = KEYS[2]
local amc_execution_id = ARGV[1]
local now = ARGV[2]
local worker = ARGV[3]

local f = rcall('HMGET', exec_key, 'state', 'worker', 'batch_id', 'exec_id')
local err = held_error(f[1], f[2], worker)
if err == ERR_CANCELLED and f[2] == worker then
	-- keep the id for the record: the worker cancels that AMC execution next
	rcall('HSET', exec_key, 'amc_execution_id', amc_execution_id)
end
if err then
	return err
end

rcall('HSET', exec_key, 'amc_execution_id', amc_execution_id)

rcall('XADD', events_key, 'MAXLEN', '~', 100000, '*', 'type', 'amc_id',
	'batch_id', f[3], 'exec_id', f[4], 'state', 'running',
	'amc_execution_id', amc_execution_id, 'at', now)
return OK
