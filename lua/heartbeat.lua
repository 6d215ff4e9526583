--[[
  Renew a worker's lease and record its heartbeat, so reclaim leaves its jobs alone; and
  return the refs its jobs list holds, so the worker can reconcile them with the jobs it
  holds in memory (a job Redis gives it that it does not know of, after a lost claim reply,
  is taken up; a job it runs that Redis no longer gives it is stopped). It also keeps the
  worker's self-description (host, version, start, caps) for the fleet view.

  Preconditions:
    none (the first heartbeat registers the worker).

  Input:
    KEYS[1]  the worker's lease   P worker:W:lease   (STRING, PX)
    KEYS[2]  live workers         P workers          (ZSET, score = last heartbeat ms)
    KEYS[3]  the worker's jobs    P worker:W:jobs    (LIST)
    KEYS[4]  the worker's info    P worker:W:info    (HASH, PX = 10 leases)

    ARGV[1]  worker id W (the lease's value)
    ARGV[2]  now (Unix ms)
    ARGV[3]  lease length (ms, > 0)
    ARGV[4]  at most this many refs are returned (count, >= 0)
    ARGV[5..] the worker's info as field, value pairs (host, pid, version, started_at ms,
             instance_cap, account_cap, inflight_max); none = the info hash is left alone

    C:  worker_id now:ms lease_ms:int max_refs:int info...

  Output:
    { n, ref... }  n = the length of the jobs list; then its first min(n, ARGV[4]) refs
                   (newest first, as claim pushes them)

  Events:
    none (a heartbeat is not a transition; it would flood the stream)
]]
local rcall = redis.call

local lease_key = KEYS[1]
local workers_key = KEYS[2]
local jobs_key = KEYS[3]
local worker = ARGV[1]
local now = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local max_refs = tonumber(ARGV[4]) or 0
local info_key = KEYS[4]

if not lease_ms or lease_ms <= 0 then
	return redis.error_reply('heartbeat: lease ms must be > 0')
end

rcall('SET', lease_key, worker, 'PX', lease_ms)
rcall('ZADD', workers_key, now, worker)
if #ARGV > 4 then
	if #ARGV % 2 ~= 0 then
		return redis.error_reply('heartbeat: info must be field, value pairs')
	end
	-- kept a while past the lease, so the fleet view still names a dead worker's host
	rcall('HSET', info_key, unpack(ARGV, 5))
	rcall('PEXPIRE', info_key, lease_ms * 10)
end
local out = { rcall('LLEN', jobs_key) }
if max_refs > 0 and out[1] > 0 then
	local refs = rcall('LRANGE', jobs_key, 0, max_refs - 1)
	for i = 1, #refs do
		out[i + 1] = refs[i]
	end
end
return out
