--[[
  Release an LWA token refresh lock, but only the holder's own: a lock that expired and was
  taken by another worker must not be deleted by the first (it would let a third refresh too).

  Preconditions:
    none.

  Input:
    KEYS[1]  the refresh lock    P token:A:R:lock   (STRING, PX; R the account's region)

    ARGV[1]  worker id W (the value the holder SET NX)

    C:  worker_id

  Output:
    1  released
    0  not held by W (expired, or another worker's): nothing changed

  Events:
    none (not a transition of a batch or exec)
]]
local rcall = redis.call

if rcall('GET', KEYS[1]) == ARGV[1] then
	rcall('DEL', KEYS[1])
	return 1
end
return 0
