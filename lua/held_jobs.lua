--[[
  Rebuild claim's answer for jobs a worker holds in Redis but not in memory: the reply of a
  claim can be lost (the connection dropped after the script ran), and the worker finds such
  refs in its jobs list when it reconciles at a heartbeat. A ref of its list whose exec is
  not running under the worker any more is a leftover (a finish, retry or release whose
  write a restarted Redis lost after the worker had let go of the job): it leaves the list.

  Preconditions:
    the worker holds none of the refs in memory.

  Input:
    KEYS[1]  the worker's jobs    P worker:W:jobs   (LIST)

    ARGV[1]  worker id W
    ARGV[2]  key prefix P (builds P batch:{B}, P exec:{B}:E)
    ARGV[3..]  refs `B:E` (at most a few hundred)

    C:  worker_id prefix refs...

  Output:
    array of jobs exactly as claim returns them ({ ref, exec fields, sql_query }, with the
    exec's current claim token), one per ref that is in the jobs list and `running` under
    W; the other refs are left out (and those in the list leave it)

  Events:
    none (no exec changes)
]]
local rcall = redis.call
--- @include "lib/keys"
--- @include "lib/job_fields"

local jobs_key = KEYS[1]
local worker = ARGV[1]
local prefix = ARGV[2]

local out = {}
for i = 3, #ARGV do
	local ref = ARGV[i]
	local batch_id, exec_id = split_ref(ref)
	if batch_id and rcall('LPOS', jobs_key, ref) then
		local exec_key = key_exec(prefix, batch_id, exec_id)
		local v = job_values(exec_key)
		if v[1] == 'running' and rcall('HGET', exec_key, 'worker') == worker then
			local sql = rcall('HGET', key_batch(prefix, batch_id), 'sql_query') or ''
			out[#out + 1] = job_entry(ref, v, sql)
		else
			rcall('LREM', jobs_key, 0, ref)
		end
	end
end
return out
