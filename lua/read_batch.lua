--[[
  Read a batch as the janitor compares it with PostgreSQL: its status and every exec's state
  and AMC id. Read only.

  Preconditions:
    none.

  Input:
    KEYS[1]  batch hash              P batch:{B}         (HASH)
    KEYS[2]  batch's exec id list    P batch:{B}:execs   (LIST, <= max_instances)

    ARGV[1]  key prefix P (builds P exec:{B}:E)

    C:  prefix

  Output:
    {}                                   the batch is not in Redis
    { status, completed_at, exec_id, state, amc_execution_id, ... }  one triple per exec,
                                         in submission order

  Events:
    none (nothing changes)
]]
local rcall = redis.call
--- @include "lib/keys"

local b = rcall('HMGET', KEYS[1], 'status', 'completed_at', 'batch_id', 'total')
if not b[1] then
	return {}
end
local out = { b[1], b[2] or '' }
local ids = rcall('LRANGE', KEYS[2], 0, (tonumber(b[4]) or 0) - 1)
for _, exec_id in ipairs(ids) do
	local v = rcall('HMGET', key_exec(ARGV[1], b[3], exec_id), 'state', 'amc_execution_id')
	out[#out + 1] = exec_id
	out[#out + 1] = v[1] or ''
	out[#out + 1] = v[2] or ''
end
return out
