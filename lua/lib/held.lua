--[[
  held_error(state, holder, worker): the guard of every script a worker calls on a job it
  holds (record_amc_id, set_phase, retry, release), in one order: unknown exec, cancelled
  (the worker must stop and cancel on AMC), held by someone else, not running. nil when the
  job is running and held by `worker`. Needs lib/codes included first.
]]
local function held_error(state, holder, worker)
	if not state then
		return ERR_NOT_FOUND
	end
	if state == 'cancelled' then
		return ERR_CANCELLED
	end
	if holder ~= worker then
		return ERR_NOT_OWNER
	end
	if state ~= 'running' then
		return ERR_WRONG_STATE
	end
	return nil
end
