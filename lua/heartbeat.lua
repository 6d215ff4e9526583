--[[
  Renew a worker's lease and record its heartbeat, so reclaim leaves its jobs alone.

  Preconditions:
    none (the first heartbeat registers the worker).

  Input:
    KEYS[1]  the worker's lease   P worker:W:lease   (STRING, PX)
    KEYS[2]  live workers         P workers          (ZSET, score = last heartbeat ms)

    ARGV[1]  worker id W (the lease's value)
    ARGV[2]  now (Unix ms)
    ARGV[3]  lease length (ms, > 0)

  Output:
    1  ok

  Events:
    none (a heartbeat is not a transition; it would flood the stream)
]]
local rcall = redis.call
--- @include "lib/codes"

local lease_key = KEYS[1]
local workers_key = KEYS[2]
local worker = ARGV[1]
local now = ARGV[2]
local lease_ms = tonumber(ARGV[3])

if not lease_ms or lease_ms <= 0 then
	return redis.error_reply('heartbeat: lease ms must be > 0')
end

rcall('SET', lease_key, worker, 'PX', lease_ms)
rcall('ZADD', workers_key, now, worker)
return OK
