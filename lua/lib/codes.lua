--[[
  Return codes shared by every script. scripts/lua2c turns each `local NAME = n` line below
  into `LUA_NAME = n` of enum LuaCode; C maps them to HTTP statuses in one place.
]]
local OK = 1
local ERR_NOT_FOUND = -1	-- the batch or exec does not exist
local ERR_EXISTS = -2		-- the batch already exists
local ERR_WRONG_STATE = -3	-- the transition is not allowed from the current state
local ERR_NOT_OWNER = -4	-- another claim (or none) holds the exec: the token is stale
local ERR_CANCELLED = -5	-- the exec was cancelled; the caller must stop (and cancel on AMC)
local ERR_CONFLICT = -6		-- another AMC execution id is already recorded for the exec
