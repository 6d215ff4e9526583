--[[
  Take one of a user's batch submissions in the current fixed one-minute window. The API calls
  it only for a request that passed every check, so a refused request changes nothing.

  Preconditions:
    none (the first submission of a window creates the counter).

  Input:
    KEYS[1]  submission counter   P rate:submit:U   (STRING, PX window)

    ARGV[1]  limit (submissions per window, > 0)
    ARGV[2]  window (ms, > 0)

    C:  limit:int window_ms:int

  Output:
    {1, n}   taken: n submissions in this window so far
    {0, ms}  the window is full: ms until it ends (the API's Retry-After)

  Events:
    none (not a transition of a batch or exec)
]]
local rcall = redis.call

local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = ARGV[2]

local n = tonumber(rcall('GET', key) or '0')
if n >= limit then
	local t = rcall('PTTL', key)
	-- a counter without expiry (set by hand) would refuse forever: give it the window
	if t < 0 then
		rcall('PEXPIRE', key, window)
		t = tonumber(window)
	end
	return {0, t}
end
n = rcall('INCR', key)
if n == 1 then
	rcall('PEXPIRE', key, window)
end
return {1, n}
