"""collect.py - what the checker reads, from the outside only, once the system is quiet:
amcsim's ledger (GET /sim/executions), PostgreSQL (the archive and the chaos.transitions
log) and Redis (one read-only Lua call for the batches, executions, slots, jobs lists and
leases; another, paged, for the event stream). Plain data out; rules.py judges it."""

import json

PREFIX = "amcb:"

# Everything about batches and executions that R1-R5 need, in one atomic read.
DUMP_LUA = """
local prefix = ARGV[1]
local out = {batches = {}, running = {}, jobs = {}, leases = {}, retry = 0, queue = 0, parked = {}}
local ids, seen = redis.call('ZRANGE', prefix .. 'batches', 0, -1), {}
for _, k in ipairs(redis.call('KEYS', prefix .. 'batch:{*}')) do
	ids[#ids + 1] = string.sub(k, #prefix + 8, -2)
end
for _, b in ipairs(ids) do
	if not seen[b] then
		seen[b] = true
		local bk = prefix .. 'batch:{' .. b .. '}'
		local h = redis.call('HGETALL', bk)
		local bh = {}
		for i = 1, #h, 2 do
			if h[i] ~= 'sql_query' then bh[h[i]] = h[i + 1] end
		end
		local execs = {}
		for _, e in ipairs(redis.call('LRANGE', bk .. ':execs', 0, -1)) do
			local x = redis.call('HMGET', prefix .. 'exec:{' .. b .. '}:' .. e, 'state', 'worker',
				'amc_execution_id', 'row_count', 'finished_at', 'amc_instance_id', 'account_id',
				'parameters')
			execs[#execs + 1] = {e, x[1] or '', x[2] or '', x[3] or '', x[4] or '', x[5] or '',
				x[6] or '', x[7] or '', x[8] or ''}
		end
		bh.execs = execs
		out.batches[b] = bh
	end
end
local h = redis.call('HGETALL', prefix .. 'running')
for i = 1, #h, 2 do out.running[h[i]] = h[i + 1] end
local owners = {}
for _, k in ipairs(redis.call('KEYS', prefix .. 'worker:*:jobs')) do
	local w = string.sub(k, #prefix + 8, -6)
	out.jobs[w] = redis.call('LRANGE', k, 0, 999)
	owners[w] = true
end
for _, w in ipairs(redis.call('ZRANGE', prefix .. 'workers', 0, -1)) do owners[w] = true end
for w, _ in pairs(owners) do out.leases[w] = redis.call('PTTL', prefix .. 'worker:' .. w .. ':lease') end
out.retry = redis.call('ZCARD', prefix .. 'retry')
out.queue = redis.call('LLEN', prefix .. 'queue')
for _, k in ipairs(redis.call('KEYS', prefix .. 'parked:*')) do out.parked[k] = redis.call('LLEN', k) end
return cjson.encode(out)
"""

# The event stream, a page at a time: only the entries that say what state executions ended
# in (finished, discarded, cancelled), as [id, type, state, exec ids].
EVENTS_LUA = """
local out, last = {}, nil
for _, e in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])) do
	last = e[1]
	local f, v = e[2], {}
	for i = 1, #f, 2 do v[f[i]] = f[i + 1] end
	if v.type == 'finished' or v.type == 'discarded' or v.type == 'cancelled' then
		out[#out + 1] = {e[1], v.type, v.state or '', v.exec_ids or v.exec_id or ''}
	end
end
return cjson.encode({events = out, last = last or false})
"""

STATUS_LUA = """
local prefix, out = ARGV[1], {}
for _, b in ipairs(redis.call('ZRANGE', prefix .. 'batches', 0, -1)) do
	out[b] = redis.call('HGET', prefix .. 'batch:{' .. b .. '}', 'status') or ''
end
local jobs = 0
for _, k in ipairs(redis.call('KEYS', prefix .. 'worker:*:jobs')) do jobs = jobs + redis.call('LLEN', k) end
return cjson.encode({status = out, running = redis.call('HLEN', prefix .. 'running'), jobs = jobs})
"""

PG_DUMP = """
SELECT json_build_object(
 'batches', (SELECT coalesce(json_agg(json_build_object('batch_id', batch_id, 'status', status,
	'total', total_instances, 'completed', completed_instances, 'failed', failed_instances,
	'tag', base_parameters->>'tag')), '[]') FROM batch_executions),
 'transitions', (SELECT coalesce(json_agg(json_build_object('kind', kind, 'id', id, 'old', old, 'new', new,
	'at', to_char(at, 'HH24:MI:SS.MS')) ORDER BY at), '[]') FROM chaos.transitions
	WHERE old IN ('completed', 'partial', 'failed', 'cancelled') AND new IS DISTINCT FROM old))
"""

# The executions, and the archived rows of the completed ones in CSV column order (for the
# content check), one batch per statement. Both read result_rows, which opens each
# execution's own table: one query over the whole archive would lock every one of those tables
# and its index in a single transaction, and PostgreSQL's lock table
# (max_locks_per_transaction x connections) refuses that past a few thousand executions (a
# 10-minute campaign at three times the load makes ~25,000). \gexec runs each generated
# statement on its own, and psql reading stdin commits each one; every line out is one
# batch's jsonb (jsonb's text has no newlines).
PG_BATCH_EXECS = r"""
SELECT format($q$SELECT jsonb_build_object('execs', coalesce(jsonb_agg(jsonb_build_object(
	'exec_id', w.execution_id, 'batch_id', %L, 'instance', w.instance_id, 'status', w.status,
	'amc', w.amc_execution_id, 'row_count', w.row_count,
	'rows', (SELECT count(*) FROM result_rows r WHERE r.execution_id = w.id),
	'finished_ms', (extract(epoch FROM w.completed_at) * 1000)::bigint)), '[]'),
 'pg_rows', coalesce(jsonb_object_agg(w.execution_id, jsonb_build_object('columns', w.result_columns,
	'rows', (SELECT coalesce(jsonb_agg(r.row_data ORDER BY r.row_number), '[]') FROM result_rows r
		 WHERE r.execution_id = w.id))) FILTER (WHERE w.status = 'completed'), '{}'))::text
FROM workflow_executions w WHERE w.batch_execution_id = %L$q$, batch_id, id)
FROM batch_executions ORDER BY created_at, id
\gexec
"""


def quiet_state(redis, psql):
    """(non-terminal batch ids in Redis or PostgreSQL, P running fields, refs in jobs lists);
    raises when a store cannot be read."""
    r = redis.eval_json(STATUS_LUA, (), (PREFIX,), timeout=30)
    status = r["status"] if isinstance(r["status"], dict) else {}
    open_ids = {b for b, s in status.items() if s not in ("completed", "partial", "failed", "cancelled")}
    for b, s in psql.run("SELECT batch_id, status FROM batch_executions"):
        if s not in ("completed", "partial", "failed", "cancelled"):
            open_ids.add(b)
    return open_ids, r["running"], r["jobs"]


def events(redis):
    out, start = [], "-"
    while True:
        page = redis.eval_json(EVENTS_LUA, (PREFIX + "events",), (start, 5000), timeout=60)
        out += page["events"] if isinstance(page["events"], list) else []
        if not page["last"]:
            return out
        # exclusive start for the next page: the id right after the last one read
        ms, seq = page["last"].split("-")
        start = "%s-%d" % (ms, int(seq) + 1)


def everything(sim, redis, psql):
    data = {"ledger": sim.ledger(sql=True, csv=True),
            "redis": redis.eval_json(DUMP_LUA, (), (PREFIX,), timeout=120),
            "events": events(redis)}
    data.update(psql.json(PG_DUMP))
    data["execs"], data["pg_rows"] = [], {}
    for line in psql.run(PG_BATCH_EXECS, timeout=600):
        one = json.loads(line[0])
        data["execs"] += one["execs"]
        data["pg_rows"].update(one["pg_rows"])
    return data
