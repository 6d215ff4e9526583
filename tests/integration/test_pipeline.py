"""End to end through the real stack: submit -> Redis -> workers -> amcsim -> PostgreSQL ->
status and results; a partial batch, a cancelled batch, list filters and paging, auth and 404s."""
import re
import time

from lib import (INSTANCES, PREFIX, WORKFLOW, api, check, create_workflow, done, exec_hashes, invariant_ok,
                 psql, redis_hash, redis_raw, require_stack, submit, wait_batch)

require_stack()

# --- a 3-instance batch: one override that changes the SQL, one that makes the SQL fail
wf = create_workflow(
    "partial test",
    "SELECT campaign, SUM(impressions) AS impressions, SUM(clicks) AS clicks, "
    "{{label}} AS label FROM impressions WHERE impressions >= {{minImpressions}} "
    "GROUP BY campaign ORDER BY campaign",
    {"minImpressions": 0, "label": "base"})
a, b, c = INSTANCES[0], INSTANCES[4], INSTANCES[8]
st, body, raw = submit(wf, [a, b, c],
                       parameters={"startDate": "2025-01-01", "endDate": "2025-01-31",
                                   "label": "it's \"quoted\", ok"},
                       overrides={b: {"minImpressions": 100000000},
                                  c: {"minImpressions": "not a number"}},
                       name="partial batch")
check(st in (200, 201) and body and body.get("success"), "submit 3-instance batch", raw[:500])
batch = body["batch"]
bid = batch["batch_id"]
check(re.fullmatch(r"batch_[0-9a-f]{8}", bid) is not None, "batch id format", bid)
check(len(batch["executions"]) == 3 and
      all(re.fullmatch(r"exec_[0-9a-f]{8}", e["execution_id"]) for e in batch["executions"]),
      "three exec ids in format", batch["executions"])
check(len({e["execution_id"] for e in batch["executions"]}) == 3, "exec ids unique")
check(batch["total_instances"] == 3, "total_instances 3")

final = wait_batch(bid, 120)
check(final is not None and final["status"] == "partial", "batch ends partial", final)
check(final["completed_instances"] == 2 and final["failed_instances"] == 1, "counts 2 ok 1 failed", final)
ok, why = invariant_ok(bid)
check(ok, "counter invariant after partial batch", why)
fails = [e for e in final["executions"] if e["status"] == "failed"]
check(len(fails) == 1 and fails[0]["target_instance_id"] == c, "the failed one is the bad override", fails)
check(len(fails) == 1 and "not a number" in (fails[0].get("error") or ""),
      "failed execution carries the database error", fails)

st, body, raw = api("GET", "/workflows/batch/%s/results" % bid)
check(st == 200 and body and body.get("success"), "results endpoint", raw[:300])
res = body["batch_results"]
agg = res["aggregated_data"]
cols = [col["name"] for col in agg["columns"]]
check(cols[:2] == ["_instance_name", "_instance_id"], "aggregated columns start with instance columns", cols)
check(cols[2:] == ["campaign", "impressions", "clicks", "label"], "query columns in order", cols)
check(agg["total_rows"] == len(agg["rows"]) and agg["total_rows"] > 0, "rows present", agg["total_rows"])
ids_in_rows = {r["_instance_id"] for r in agg["rows"]}
check(c not in ids_in_rows, "no rows from the failed instance", ids_in_rows)
check(all(r["label"] == "it's \"quoted\", ok" for r in agg["rows"]),
      "hostile parameter value arrives as a literal", agg["rows"][:2])
check(all(isinstance(r["impressions"], (int, float)) for r in agg["rows"]), "numeric columns are numbers")
names = {r["_instance_name"] for r in agg["rows"]}
check("US-East Production" in names, "rows carry _instance_name", names)
inst = {i["instance_id"]: i for i in res["instance_results"]}
check(set(inst) == {a, b, c}, "instance_results lists the three instances", list(inst))

# the same truth in PostgreSQL: table (trigger-maintained), view, executions, archive
rows = psql("SELECT status, completed_instances, failed_instances, total_instances, "
            "completed_at IS NOT NULL FROM batch_executions WHERE batch_id = :'p1'", bid)
check(rows == [["partial", "2", "1", "3", "t"]], "batch_executions row (trigger)", rows)
rows = psql("SELECT completed_count, failed_count, running_count, pending_count, total_rows > 0 "
            "FROM batch_execution_summary WHERE batch_id = :'p1'", bid)
check(rows == [["2", "1", "0", "0", "t"]], "batch_execution_summary view", rows)
rows = psql("SELECT e.status, count(*) FROM workflow_executions e JOIN batch_executions b "
            "ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1' AND e.is_batch_member "
            "GROUP BY 1 ORDER BY 1", bid)
check(rows == [["completed", "2"], ["failed", "1"]], "workflow_executions statuses", rows)
rows = psql("SELECT count(*) FROM batch_result_rows WHERE batch_id = :'p1'", bid)
check(rows == [[str(agg["total_rows"])]], "archived rows in batch_result_rows match total_rows", rows)
rows = psql("SELECT e.execution_id, e.sql_query FROM workflow_executions e WHERE e.target_instance_id = :'p1' "
            "AND e.batch_execution_id = (SELECT id FROM batch_executions WHERE batch_id = :'p2')", b, bid)
sent = "\n".join(r[-1] for r in rows[1:]) if rows else ""
check(rows and "100000000" in sent and "{{" not in sent, "override substituted into SQL", rows)
# the SQL sent to AMC starts with the marker line that lets a later holder find the execution
check(rows and rows[0][1] == "-- amcbatch %s %s" % (bid, rows[0][0]), "SQL sent starts with its marker line",
      rows[:1])

# --- cancel: a slow workflow, cancelled while its executions are queued or running
slow = create_workflow("slow test", "SELECT count(*) AS n FROM impressions CROSS JOIN pg_sleep({{sleep}})",
                       {"sleep": 5})
st, body, raw = submit(slow, INSTANCES[:6], parameters={"startDate": "2025-01-01", "endDate": "2025-01-02"},
                       name="to cancel")
check(st in (200, 201), "submit slow batch", raw[:300])
cbid = body["batch"]["batch_id"]
time.sleep(1.0)
st, body, raw = api("GET", "/workflows/batch/%s/status" % cbid)
codes = {"queued", "instance_cap", "account_cap", "retry", "starting", "amc_create", "amc_running",
         "downloading", "archiving"}
open_execs = [e for e in body["batch_status"]["executions"] if e["status"] not in ("completed", "failed", "cancelled")]
check(open_execs and all(e["waiting_for"] and e["waiting_for"]["code"] in codes and e["waiting_for"]["text"]
                         for e in open_execs), "each unfinished execution says what it waits for",
      [e["waiting_for"] for e in open_execs])
st, body, raw = api("POST", "/workflows/batch/%s/cancel" % cbid)
check(st == 200 and body and body.get("success"), "cancel answers success", raw[:300])
st, body, raw = api("GET", "/workflows/batch/%s/status" % cbid)
check(st == 200 and body["batch_status"]["status"] == "cancelled", "status is cancelled at once", raw[:500])
left = [e for e in body["batch_status"]["executions"]
        if e["status"] in ("pending", "queued", "running", "retry_wait")]
check(not left, "no execution left unfinished", left)
queued = [r for r in redis_raw("LRANGE", PREFIX + "queue", 0, -1) if r.startswith(cbid)]
check(not queued, "nothing of the batch left in the queue", queued)
ok, why = invariant_ok(cbid)
check(ok, "counter invariant after cancel", why)
st, body, raw = api("POST", "/workflows/batch/%s/cancel" % cbid)
check(st == 409, "second cancel is 409", st)
time.sleep(7)  # the slow executions would have finished by now: late results must be discarded
rows = psql("SELECT status, completed_at IS NOT NULL FROM batch_executions WHERE batch_id = :'p1'", cbid)
check(rows == [["cancelled", "t"]], "PostgreSQL batch row cancelled", rows)
rows = psql("SELECT count(*) FROM workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id "
            "WHERE b.batch_id = :'p1' AND e.status <> 'cancelled'", cbid)
check(rows == [["0"]], "every PostgreSQL execution row cancelled", rows)
# the archive keeps the AMC execution id of every cancelled execution that reached AMC (the
# one to look up in AMC's console, and what the cancel was sent for)
in_redis = {h.get("exec_id"): h.get("amc_execution_id") for h in exec_hashes(cbid) if h.get("amc_execution_id")}
rows = dict((r[0], r[1]) for r in psql(
    "SELECT e.execution_id, e.amc_execution_id FROM workflow_executions e JOIN batch_executions b"
    " ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1'", cbid))
check(in_redis and all(rows.get(x) == a for x, a in in_redis.items()),
      "cancelled executions keep their AMC execution id in PostgreSQL", (in_redis, rows))
h = redis_hash(PREFIX + "batch:{%s}" % cbid)
check(h.get("status") == "cancelled" and h.get("completed") == "0", "late results discarded in Redis", h)
ok, why = invariant_ok(cbid)
check(ok, "counter invariant after late results", why)

# --- list: filters and paging
st, body, raw = api("GET", "/workflows/batch/list?workflow_id=%s" % wf)
check(st == 200 and body["total"] == 1 and body["batch_executions"][0]["batch_id"] == bid,
      "list filtered by workflow", raw[:500])
check(body["batch_executions"][0]["workflows"]["name"] == "partial test", "list embeds workflow name")
st, body, raw = api("GET", "/workflows/batch/list?status=cancelled")
check(st == 200 and any(x["batch_id"] == cbid for x in body["batch_executions"]) and
      all(x["status"] == "cancelled" for x in body["batch_executions"]), "list filtered by status", raw[:500])
st, p1, _ = api("GET", "/workflows/batch/list?limit=1&offset=0")
st2, p2, _ = api("GET", "/workflows/batch/list?limit=1&offset=1")
check(st == 200 and st2 == 200 and len(p1["batch_executions"]) == 1 and len(p2["batch_executions"]) == 1
      and p1["batch_executions"][0]["batch_id"] != p2["batch_executions"][0]["batch_id"]
      and p1["total"] >= 2, "list pagination", (p1, p2))
st, body, _ = api("GET", "/workflows/batch/list?status=bogus")
check(st == 400 and body and body.get("success") is False, "list rejects an unknown status", st)

# --- auth and unknown ids
for method, path in (("GET", "/instances"), ("GET", "/workflows"), ("GET", "/workflows/batch/list"),
                     ("GET", "/workflows/batch/%s/status" % bid), ("POST", "/workflows/%s/batch-execute" % WORKFLOW)):
    st, body, _ = api(method, path, {} if method == "POST" else None, token="")
    check(st == 401 and body and body.get("success") is False and body["error"]["code"],
          "401 without a token: %s %s" % (method, path), st)
st, body, _ = api("GET", "/instances", token="amcb_not_a_real_token")
check(st == 401, "401 with a bad token", st)
st, body, _ = api("POST", "/workflows/00000000-0000-4000-8000-00000000dead/batch-execute",
                  {"instance_ids": [INSTANCES[0]], "parameters": {}})
check(st == 404 and body["success"] is False, "404 unknown workflow", st)
for path in ("/workflows/batch/batch_00000000/status", "/workflows/batch/batch_00000000/results"):
    st, body, _ = api("GET", path)
    check(st == 404 and body["success"] is False, "404 unknown batch: " + path, st)
st, body, _ = api("POST", "/workflows/batch/batch_00000000/cancel")
check(st == 404, "404 cancel unknown batch", st)
st, body, _ = api("GET", "/healthz", token="")
check(st == 200 and body and body.get("status") == "ok", "healthz without auth", body)
done()
