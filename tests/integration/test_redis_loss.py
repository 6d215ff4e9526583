"""Redis replaced by an empty server (every key gone: a lost AOF, a new disk, a replica promoted
empty, an operator's FLUSHALL) while batches are in flight. PostgreSQL is the durable record
(docs/reliability.md): the archive sweep finds each open batch Redis no longer knows, the
enqueue janitor hands it to Redis again, and the workers take over what PostgreSQL holds (AMC
ids, final states). Checked from the outside: one batch running on AMC, one just submitted and
one finished, all three at the moment of the flush; afterwards the first two complete, amcsim
created exactly one AMC execution per instance, every execution's rows are archived once, and
the finished one is still served (from PostgreSQL). A page of older open batches that Redis
still holds (FILLERS, made in SQL: open for an hour, no executions) lies before the two, so
the sweep must page past it: it looks at 100 open batches per sweep, and it used to look at
the oldest 100 only, for ever. The API's /metrics counts what its janitor handed back."""
import time

from lib import (INSTANCES, api, check, create_workflow, created_since, done, invariant_ok, metric_value, psql,
                 redis_raw, require_stack, sim, sim_instance_stats, sim_put, submit_paced, wait_batch, wait_until)

require_stack()
SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
       "GROUP BY campaign ORDER BY campaign")
HOLD_MS = 4000  # AMC's time per execution: long enough to flush while batch A runs on AMC
FILLERS = 100   # the sweep's page (SWEEP_BATCHES in src/worker/sweeper.c)
# Redis empty, the fillers' batch hashes back at once (their status is all the sweep reads):
# one script, so that no sweep runs between the two
WIPE = ("redis.call('FLUSHALL') "
        "for _, k in ipairs(KEYS) do redis.call('HSET', k, 'status', 'running') end return #KEYS")


def batch_sql(where, *params):
    return psql("SELECT w.execution_id, w.status, w.amc_execution_id, w.row_count,"
                "       (SELECT count(*) FROM result_rows r WHERE r.execution_id = w.id)"
                "  FROM workflow_executions w JOIN batch_executions b ON b.id = w.batch_execution_id"
                " WHERE " + where, *params)


def enqueued_late():
    """The API's count of batches its enqueue janitor handed to Redis (GET /metrics, admin)."""
    st, _, raw = api("GET", "/metrics")
    return metric_value(raw.decode(), "amcbatch_api_batches_enqueued_late_total") if st == 200 else None


def submit(wf, instances, tag, name):
    st, body, raw = submit_paced(wf, instances, parameters={"tag": "'%s'" % tag}, name=name)
    check(st == 201 and body and body.get("success"), "submit " + name, raw[:300])
    return body["batch"]["batch_id"] if st == 201 else None


amc = {r[0]: r[1] for r in psql("SELECT id::text, instance_id FROM instances")}
# the stack's AMC latency, put back at the end (a PUT changes only the fields it names)
default_ms = (sim("GET", "/sim/profiles")[1] or {}).get("default", {}).get("latency_ms", 0)
wf = create_workflow("redis loss", SQL, {})
fin_i, run_i, new_i = INSTANCES[:2], INSTANCES[2:7], INSTANCES[7:12]

bf = submit(wf, fin_i, "f", "finished before the loss")
last = wait_batch(bf, 60) if bf else None
check(last and last["status"] == "completed", "batch F completed", str(last and last["status"]))

for i in run_i + new_i:
    sim_put("/sim/profiles/" + amc[i], {"latency_ms": HOLD_MS})
before = sim_instance_stats()
ba = submit(wf, run_i, "a", "running on AMC at the loss")
running = wait_until(lambda: ba and len([r for r in batch_sql("b.batch_id = :'p1'", ba) if r[2]]) == len(run_i), 30)
check(running, "batch A's executions all created on AMC")
bn = submit(wf, new_i, "n", "submitted just before the loss")

fillers = psql("INSERT INTO batch_executions (batch_id, workflow_id, user_id, status, total_instances,"
               "       started_at, created_at, enqueued_at)"
               " SELECT 'batch_' || md5(random()::text || i)::varchar(8), w.id, w.user_id, 'running', 1,"
               "        now() - interval '1 hour', now() - interval '1 hour' + i * interval '1 ms', now()"
               "   FROM workflows w, generate_series(1, :'p2'::integer) AS i WHERE w.id = :'p1'"
               " RETURNING batch_id", wf, FILLERS)
fillers = [r[0] for r in fillers]
check(len(fillers) == FILLERS, "%d older open batches in PostgreSQL" % FILLERS)
late0 = enqueued_late()
try:
    redis_raw("EVAL", WIPE, len(fillers), *["amcb:batch:{%s}" % b for b in fillers])
    t0 = time.time()
    # the daemons write again at once (heartbeats, tokens): what must be gone is the batches
    gone = [b for b in (bf, ba, bn) if b and redis_raw("EXISTS", "amcb:batch:{%s}" % b) != ["0"]]
    check(not gone, "Redis lost the three batches", str(gone))

    for b, name in ((ba, "A"), (bn, "N")):
        last = wait_batch(b, 120) if b else None
        check(last and last["status"] == "completed", "batch %s completed after the loss" % name,
              "%s after %.1f s" % (last and last["status"], time.time() - t0))
        ok, why = invariant_ok(b) if b else (False, "no batch")
        check(ok, "batch %s: Redis counters sum to total again" % name, why)
    print("# both batches terminal %.1f s after the flush" % (time.time() - t0))
    late = enqueued_late()
    check(late0 is not None and late is not None and late - late0 >= 2,
          "the API counts the two batches its janitor handed back (amcbatch_api_batches_enqueued_late_total)",
          "%s -> %s" % (late0, late))

    made = created_since(before, [amc[i] for i in run_i + new_i])
    check(all(v == 1 for v in made.values()), "one AMC execution per instance, none created twice", str(made))
    rows = batch_sql("b.batch_id IN (:'p1', :'p2')", ba, bn)
    check(len(rows) == len(run_i) + len(new_i) and
          all(r[1] == "completed" and r[3] is not None and int(r[3]) == int(r[4]) > 0 for r in rows),
          "every execution completed, its rows archived once", str(rows))

    last = wait_batch(bf, 10)
    check(last and last["status"] == "completed" and last["completed_instances"] == len(fin_i),
          "batch F still served after the loss (from PostgreSQL)", str(last))
finally:
    psql("DELETE FROM batch_executions WHERE batch_id = ANY(string_to_array(:'p1', ','))", ",".join(fillers))
    redis_raw("DEL", *["amcb:batch:{%s}" % b for b in fillers])
    for i in run_i + new_i:
        sim_put("/sim/profiles/" + amc[i], {"latency_ms": default_ms})
done()
