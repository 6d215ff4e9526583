"""watch.py - what the campaign watches while it runs, because the end state cannot show it:
a PostgreSQL trigger (in a schema of its own, "chaos", installed by the campaign; the
project's migrations are untouched) that logs every status change of an execution or a
batch, and a sampler that checks, in one atomic read-only Lua call every few seconds, the
counter invariant of every batch and that the `P running` cap slots equal the running
executions."""
import threading
import time

TERMINAL = ("completed", "partial", "failed", "cancelled")

PG_WATCH = """
CREATE SCHEMA IF NOT EXISTS chaos;
CREATE TABLE IF NOT EXISTS chaos.transitions (
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind text NOT NULL,		-- 'exec' | 'batch'
	id text NOT NULL,		-- execution_id | batch_id
	old text, new text);
-- SECURITY DEFINER: the trigger fires in amcbatch's transactions, which may not write here
CREATE OR REPLACE FUNCTION chaos.log_exec() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog AS $$
BEGIN
	INSERT INTO chaos.transitions (kind, id, old, new) VALUES ('exec', NEW.execution_id, OLD.status, NEW.status);
	RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION chaos.log_batch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog AS $$
BEGIN
	INSERT INTO chaos.transitions (kind, id, old, new) VALUES ('batch', NEW.batch_id, OLD.status, NEW.status);
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS chaos_exec_transitions ON public.workflow_executions;
CREATE TRIGGER chaos_exec_transitions AFTER UPDATE OF status ON public.workflow_executions
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION chaos.log_exec();
DROP TRIGGER IF EXISTS chaos_batch_transitions ON public.batch_executions;
CREATE TRIGGER chaos_batch_transitions AFTER UPDATE OF status ON public.batch_executions
	FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION chaos.log_batch();
"""


def install_pg_watch(psql):
    psql.run(PG_WATCH)


# Read-only: counters of every batch (sum and terminal status), and the executions holding
# running slots per instance and account (every running one, and one handed back while its AMC
# execution runs: slots = 1, lua/lib/slots.lua), counted from the exec hashes of every batch
# that may hold some.
SAMPLE_LUA = """
local prefix = ARGV[1]
local bad, counted, slots, nb = {}, {}, {}, 0
for _, b in ipairs(redis.call('ZRANGE', prefix .. 'batches', 0, -1)) do
	local bk = prefix .. 'batch:{' .. b .. '}'
	local v = redis.call('HMGET', bk, 'status', 'total', 'pending', 'queued', 'running', 'retry_wait',
		'completed', 'failed', 'cancelled')
	if v[1] then
		nb = nb + 1
		local n = {}
		for i = 2, 9 do n[i] = tonumber(v[i]) or 0 end
		local sum = n[3] + n[4] + n[5] + n[6] + n[7] + n[8] + n[9]
		local done = n[7] + n[8] + n[9] == n[2]
		local term = v[1] == 'completed' or v[1] == 'partial' or v[1] == 'failed' or v[1] == 'cancelled'
		if sum ~= n[2] or done ~= term then
			bad[#bad + 1] = b .. ' status=' .. v[1] .. ' total=' .. n[2] .. ' pending=' .. n[3] ..
				' queued=' .. n[4] .. ' running=' .. n[5] .. ' retry_wait=' .. n[6] .. ' completed=' ..
				n[7] .. ' failed=' .. n[8] .. ' cancelled=' .. n[9]
		end
		if n[5] > 0 or not term then
			for _, e in ipairs(redis.call('LRANGE', bk .. ':execs', 0, -1)) do
				local x = redis.call('HMGET', prefix .. 'exec:{' .. b .. '}:' .. e, 'state',
					'amc_instance_id', 'account_id', 'slots')
				if x[1] == 'running' or x[4] == '1' then
					if x[2] and x[2] ~= '' then counted['instance:' .. x[2]] = (counted['instance:' .. x[2]] or 0) + 1 end
					if x[3] and x[3] ~= '' then counted['account:' .. x[3]] = (counted['account:' .. x[3]] or 0) + 1 end
				end
			end
		end
	end
end
local h = redis.call('HGETALL', prefix .. 'running')
for i = 1, #h, 2 do slots[h[i]] = tonumber(h[i + 1]) end
return cjson.encode({bad = bad, counted = counted, slots = slots, n = nb})
"""


def slot_mismatches(slots, counted):
    """'field: slot N, running M' for every P running field that differs from the count."""
    slots = slots if isinstance(slots, dict) else {}      # cjson encodes {} as []
    counted = counted if isinstance(counted, dict) else {}
    return ["%s: slot %s, running %s" % (k, slots.get(k, 0), counted.get(k, 0))
            for k in sorted(set(slots) | set(counted)) if (slots.get(k) or 0) != (counted.get(k) or 0)]


class Sampler:
    def __init__(self, redis, prefix, interval, t0):
        self.redis, self.prefix, self.interval, self.t0 = redis, prefix, interval, t0
        self.samples = self.failed = 0
        self.counters, self.slots = [], []     # (t, text), first ones kept
        self.n_counters = self.n_slots = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=60)

    def sample(self):
        try:
            snap = self.redis.eval_json(SAMPLE_LUA, (), (self.prefix,), timeout=20)
        except Exception:       # Redis is down or restarting: that is a fault, not a finding
            self.failed += 1
            return
        self.samples += 1
        t = time.time() - self.t0
        bad = snap.get("bad") or []
        slots = slot_mismatches(snap.get("slots"), snap.get("counted"))
        self.n_counters += len(bad)
        self.n_slots += len(slots)
        self.counters += [(t, x) for x in bad[:5 - len(self.counters)]] if len(self.counters) < 5 else []
        self.slots += [(t, x) for x in slots[:5 - len(self.slots)]] if len(self.slots) < 5 else []

    def _run(self):
        while not self.stop.wait(self.interval):
            self.sample()
