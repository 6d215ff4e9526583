-- Key names built in Lua, the same as src/core/keys.c builds them in C (docs/redis-keys.md):
-- a script that reaches keys beyond its KEYS (per-exec hashes of a claim, parked lists) builds
-- them here and nowhere else. P is the key prefix; B and E are ids the API validated.
local function key_batch(P, B) return P .. 'batch:{' .. B .. '}' end
local function key_batch_execs(P, B) return P .. 'batch:{' .. B .. '}:execs' end
local function key_batch_queue(P, B) return P .. 'batch:{' .. B .. '}:queue' end
local function key_exec(P, B, E) return P .. 'exec:{' .. B .. '}:' .. E end
local function key_parked(P, kind, id) return P .. 'parked:' .. kind .. ':' .. id end
local function key_worker_jobs(P, W) return P .. 'worker:' .. W .. ':jobs' end
local function key_worker_lease(P, W) return P .. 'worker:' .. W .. ':lease' end
local function key_worker_info(P, W) return P .. 'worker:' .. W .. ':info' end

-- split_ref(ref): batch id and exec id of a `B:E` ref, or nil for anything else
local function split_ref(ref)
	return string.match(ref or '', '^([^:]+):(.+)$')
end

-- the keys every batch shares (not hash-tagged)
local function key_ring(P) return P .. 'queue' end
local function key_running(P) return P .. 'running' end
local function key_retry(P) return P .. 'retry' end
local function key_amc_cancels(P) return P .. 'amc_cancels' end
