--[[
  Hand a worker the due entries of P amc_cancels: cancelled execs whose AMC execution (or a
  create that may have made one) must be stopped, whether or not a holder also stops it (it may
  die first; a second cancel of one execution is answered 400 and harmless). Each entry taken is hidden for `lease` ms (its score
  moves on), so a worker that dies with it leaves it to the next; the worker removes it
  (ZREM) once AMC has the cancel, or the execution is known to be over.

  Preconditions:
    none.

  Input:
    KEYS[1]  AMC cancels to do   P amc_cancels   (ZSET of `B:E`, score = due ms)

    ARGV[1]  now (Unix ms)
    ARGV[2]  at most this many entries (count, >= 1)
    ARGV[3]  lease (ms): an entry taken is due again after it
    ARGV[4]  key prefix P (builds P exec:{B}:E)

    C:  now:ms max:int lease_ms:int prefix

  Output:
    array of { ref, amc_execution_id, amc_instance_id, account_id, advertiser_id,
    marketplace_id, create_intent_at, started_at, amc_region } (missing fields read "");
    entries whose exec hash is gone are dropped

  Events:
    none (the exec is `cancelled` already)
]]
local rcall = redis.call
--- @include "lib/keys"

local key = KEYS[1]
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2]) or 1
local lease = tonumber(ARGV[3]) or 60000
local prefix = ARGV[4]

if not now then
	return redis.error_reply('take_amc_cancels: now must be Unix ms')
end

local out = {}
local due = rcall('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'LIMIT', 0, max)
local again = string.format('%.0f', now + lease)
for _, ref in ipairs(due) do
	local batch_id, exec_id = split_ref(ref)
	local v = batch_id and rcall('HMGET', key_exec(prefix, batch_id, exec_id), 'state',
		'amc_execution_id', 'amc_instance_id', 'account_id', 'advertiser_id', 'marketplace_id',
		'create_intent_at', 'started_at', 'amc_region')
	if not v or not v[1] then
		rcall('ZREM', key, ref)
	else
		rcall('ZADD', key, again, ref)
		out[#out + 1] = { ref, v[2] or '', v[3] or '', v[4] or '', v[5] or '', v[6] or '',
			v[7] or '', v[8] or '', v[9] or '' }
	end
end
return out
