"""Re-running only what failed (issue 10) on the real stack: POST
/workflows/batch/{id}/retry-failed makes a new batch over the failed (and, when asked, the
cancelled) instances of a finished batch with the SQL, merged parameters and AMC window they
ran with; the two are linked both ways (parent_batch_id, retries); the original's results with
?include_retries=true (JSON and CSV) take each instance's latest successful result, so one
retry turns a partial report into a complete one. Refusals store nothing: a batch still
running, nothing to retry, another user's batch, a revoked grant, bad bodies."""
import csv
import io
import json
import os
import subprocess
import uuid

from lib import (api, check, create_workflow, done, fleet_account, psql, require_stack, sim, sim_put,
                 wait_batch)

require_stack()

SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
       "GROUP BY campaign ORDER BY campaign")
TAG = uuid.uuid4().hex[:6]
acct, insts = fleet_account("Retry", 5)
IDS = [u for u, _ in insts]
AMC = [a for _, a in insts]
WF = create_workflow("retry " + TAG, SQL, {"tag": "base"})


def batches_stored():
    return int(psql("SELECT count(*) FROM batch_executions")[0][0])


def retry(bid, body=None, token=None, headers=None):
    return api("POST", "/workflows/batch/%s/retry-failed" % bid, body, token=token, headers=headers)


def results(bid, extra=""):
    st, body, raw = api("GET", "/workflows/batch/%s/results?limit=10000%s" % (bid, extra))
    return body["batch_results"] if st == 200 else None


# ---- a partial batch: two instances fail on AMC -------------------------------------------
for a in AMC[2:4]:
    sim_put("/sim/profiles/" + a, {"fail_rate": 1, "fail_reason": "simulated outage"})
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, {
    "instance_ids": IDS[:4], "name": "weekly " + TAG, "description": "the weekly report",
    "parameters": {"tag": "shared"}, "instance_parameters": {IDS[3]: {"tag": "own-3"}},
    "window": {"type": "previous_week", "lag_days": 0}})
check(st == 201, "a batch over four instances", raw[:300])
parent = body["batch"]["batch_id"]
final = wait_batch(parent, 120)
check(final and final["status"] == "partial" and final["failed_instances"] == 2,
      "two instances fail on AMC: partial", final and final["status"])
windows = {e["target_instance_id"]: e["time_window"] for e in final["executions"]}
for a in AMC[2:4]:
    sim("DELETE", "/sim/profiles/" + a)

# ---- refusals, nothing stored -------------------------------------------------------------
before = batches_stored()
for body_, status, code in (({"include_cancelled": "yes"}, 400, "invalid_type"),
                            ({"only": "failed"}, 400, "unknown_field"),
                            ({"name": 7}, 400, "invalid_type")):
    st, b, raw = retry(parent, body_)
    check(st == status and b["error"]["code"] == code, "retry body %s -> %d %s" % (body_, status, code), raw[:200])
st, b, raw = retry("batch_00000000")
check(st == 404 and b["error"]["code"] == "batch_not_found", "an unknown batch -> 404", raw[:200])
st, b, raw = retry("not-a-batch")
check(st == 404, "a malformed id -> 404", raw[:200])
st, b, raw = api("POST", "/admin/users", {"email": "retry-%s@example.com" % TAG})
member, mtoken = b["user"]["id"], b["token"]
st, b, raw = retry(parent, token=mtoken)
check(st == 404, "another user's batch -> 404 (not revealed)", raw[:200])
sim_put("/sim/profiles/" + AMC[4], {"latency_ms": 8000})
st, b, raw = api("POST", "/workflows/%s/batch-execute" % WF, {"instance_ids": [IDS[4]], "parameters": {"tag": "slow"}})
slow = b["batch"]["batch_id"]
st, b, raw = retry(slow)
check(st == 409 and b["error"]["code"] == "batch_not_finished", "a batch still running -> 409", raw[:200])
api("POST", "/workflows/batch/%s/cancel" % slow)
check(wait_batch(slow, 30)["status"] == "cancelled", "(that batch cancelled)")
sim("DELETE", "/sim/profiles/" + AMC[4])
st, b, raw = retry(slow)
check(st == 409 and b["error"]["code"] == "nothing_to_retry", "a cancelled batch without include_cancelled -> 409",
      raw[:200])
check(batches_stored() == before + 1, "no refused retry stored a batch", (before, batches_stored()))

# ---- the retry ---------------------------------------------------------------------------
key = "retry-" + TAG
st, body, raw = retry(parent, headers={"Idempotency-Key": key})
check(st == 201, "retry-failed -> 201", raw[:400])
child = body["batch"]
check(child["parent_batch_id"] == parent and child["total_instances"] == 2
      and [e["instance_id"] for e in child["executions"]] == IDS[2:4],
      "a new batch over the two failed instances, in the original order, naming its parent",
      (child.get("parent_batch_id"), [e["instance_id"] for e in child["executions"]]))
check(child["name"] == "Retry of weekly " + TAG and child["description"] == "the weekly report",
      "named after the original", (child["name"], child["description"]))
check(child["window"] == {"type": "previous_week", "lag_days": 0}
      and all(e["time_window"] == windows[e["instance_id"]] for e in child["executions"]),
      "the same window, the very days the original resolved", (child["executions"], windows))
st2, body2, raw2 = retry(parent, headers={"Idempotency-Key": key})
check(st2 == 201 and body2 == body, "the same Idempotency-Key answers the same retry", raw2[:200])
st3, b3, raw3 = api("POST", "/workflows/%s/batch-execute" % WF, {"instance_ids": IDS[:1]},
                    headers={"Idempotency-Key": key})
check(st3 == 409 and b3["error"]["code"] == "idempotency_key_reused",
      "the key of a retry is not a batch-execute's", raw3[:200])
cid = child["batch_id"]
cfinal = wait_batch(cid, 120)
check(cfinal and cfinal["status"] == "completed" and cfinal["parent_batch_id"] == parent,
      "the retry completes; its status names the parent", cfinal and (cfinal["status"], cfinal.get("parent_batch_id")))
params = psql("SELECT e.target_instance_id, e.parameters->>'tag', e.parameters->>'startDate' FROM workflow_executions e "
              "JOIN batch_executions b ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1' ORDER BY 1", cid)
orig = psql("SELECT e.target_instance_id, e.parameters->>'tag', e.parameters->>'startDate' FROM workflow_executions e "
            "JOIN batch_executions b ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1' "
            "AND e.status = 'failed' ORDER BY 1", parent)
check(params == orig and sorted(p[1] for p in params) == ["own-3", "shared"],
      "each instance runs with its merged parameters, override kept", (params, orig))

# ---- the original's results: alone, and with its retries ----------------------------------
alone = results(parent)
merged = results(parent, "&include_retries=true")
check(alone["retries"] == [cid] and alone["parent_batch_id"] is None, "the original lists its retry", alone.get("retries"))
check(sum(1 for i in alone["instance_results"] if i["status"] == "completed") == 2,
      "without include_retries: two results, as before")
check(merged and [i["status"] for i in merged["instance_results"]] == ["completed"] * 4
      and [i["instance_id"] for i in merged["instance_results"]] == IDS[:4],
      "with include_retries: every instance completed, in the original order",
      merged and [(i["instance_id"], i["status"]) for i in merged["instance_results"]])
by_inst = {}
for r in merged["aggregated_data"]["rows"]:
    by_inst.setdefault(r["_instance_id"], set()).add(r["tag"])
check(set(by_inst) == set(IDS[:4]) and by_inst[IDS[3]] == {"own-3"},
      "rows of all four instances, the retried ones from the retry", by_inst)
child_rows = results(cid)["aggregated_data"]["total_rows"]
check(merged["aggregated_data"]["total_rows"] == alone["aggregated_data"]["total_rows"] + child_rows,
      "total rows: the original's plus the retry's", (merged["aggregated_data"]["total_rows"],
                                                     alone["aggregated_data"]["total_rows"], child_rows))
st, _, raw = api("GET", "/workflows/batch/%s/results.csv?include_retries=true" % parent)
rows = list(csv.reader(io.StringIO(raw.decode())))
check(st == 200 and len(rows) - 1 == merged["aggregated_data"]["total_rows"],
      "the CSV export with include_retries has the same rows", (st, len(rows) - 1))
st, b, raw = api("GET", "/workflows/batch/%s/results?include_retries=maybe" % parent)
check(st == 400 and b["error"]["field"] == "include_retries", "include_retries must be a boolean", raw[:200])
lst = api("GET", "/workflows/batch/list?limit=100")[1]["batch_executions"]
row = {b["batch_id"]: b for b in lst}
check(row[parent]["retries"] == [cid] and row[cid]["parent_batch_id"] == parent,
      "the batch list links both ways", (row[parent].get("retries"), row[cid].get("parent_batch_id")))
st, b, raw = retry(cid)
check(st == 409 and b["error"]["code"] == "nothing_to_retry", "a retry with nothing failed -> 409", raw[:200])

# ---- the CLI: amcbatch retry, results --include-retries --------------------------------------
CLI = os.path.join(os.environ.get("BUILD_DIR", "build"), "amcbatch")
p = subprocess.run([CLI, "retry", cid], capture_output=True, text=True, timeout=60)
check(p.returncode == 3 and "nothing_to_retry" in p.stderr, "amcbatch retry: nothing to retry is an API error (3)",
      (p.returncode, p.stderr))
p = subprocess.run([CLI, "results", parent, "--include-retries", "--format", "json"], capture_output=True,
                   text=True, timeout=60)
out = json.loads(p.stdout) if p.returncode == 0 else {}
check([i["status"] for i in out.get("instance_results", [])] == ["completed"] * 4,
      "amcbatch results --include-retries: every instance completed", (p.returncode, p.stderr, p.stdout[:300]))
for extra in ([], ["--json-pages"]):
    p = subprocess.run([CLI, "export", parent, "--include-retries", "-o", "-"] + extra, capture_output=True,
                       text=True, timeout=60)
    n = len(list(csv.reader(io.StringIO(p.stdout)))) - 1 if p.returncode == 0 else -1
    check(n == merged["aggregated_data"]["total_rows"], "amcbatch export --include-retries%s: the same rows"
          % "".join(" " + e for e in extra), (p.returncode, n, p.stderr[-200:]))

# ---- cancelled instances, when asked -------------------------------------------------------
p = subprocess.run([CLI, "retry", slow, "--include-cancelled", "--name", "the slow one again", "--watch",
                    "--interval", "0.5"], capture_output=True, text=True, timeout=120)
again = p.stdout.splitlines()[0] if p.stdout else ""
st, b, raw = api("GET", "/workflows/batch/%s/status" % again) if again.startswith("batch_") else (0, None, b"")
check(p.returncode == 0 and st == 200 and b["batch_status"]["parent_batch_id"] == slow
      and b["batch_status"]["name"] == "the slow one again" and b["batch_status"]["status"] == "completed",
      "amcbatch retry --include-cancelled --watch: the cancelled instance runs again and completes",
      (p.returncode, p.stdout[-300:], p.stderr[-300:], raw[:300]))

# ---- a grant revoked since: that instance is refused, nothing stored ------------------------
for i in IDS[2:4]:
    api("POST", "/admin/instances/%s/access" % i, {"user_id": member})
mwf = create_workflow("member retry " + TAG, SQL, {"tag": "m"}, token=mtoken)
for a in AMC[2:4]:
    sim_put("/sim/profiles/" + a, {"fail_rate": 1})
st, b, raw = api("POST", "/workflows/%s/batch-execute" % mwf, {"instance_ids": IDS[2:4]}, token=mtoken)
mb = b["batch"]["batch_id"]
check(wait_batch(mb, 120)["status"] == "failed", "a member's batch fails on both instances")
for a in AMC[2:4]:
    sim("DELETE", "/sim/profiles/" + a)
api("DELETE", "/admin/instances/%s/access" % IDS[3], {"user_id": member})
before = batches_stored()
st, b, raw = retry(mb, token=mtoken)
check(st == 403 and b["error"]["code"] == "instance_access_denied" and IDS[3] in b["error"]["message"]
      and batches_stored() == before, "a revoked grant: 403 naming the instance, nothing stored", raw[:300])
done()
