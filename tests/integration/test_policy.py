"""The batch failure policy (issue 10, "Batch policy") on the real stack: on_failure
"continue" (the default: nothing changes), "fail_fast" (the first permanent failure cancels
the rest, on AMC too: amcsim's ledger shows the running executions cancelled; the batch is
failed and says why, the cancelled executions too) and {"min_success_ratio": r} (a finished
batch with fewer than ceil(r * total) completed executions is failed, not partial). Bad bodies
are refused before anything is stored; PostgreSQL's archive rows agree with Redis's status and
reason (the trigger applies the same rule); retry-failed copies the original's policy."""
import uuid

from lib import (api, batch_hash, check, create_workflow, done, exec_hashes, fleet_account, invariant_ok, psql,
                 require_stack, sim, sim_put, wait_batch, wait_until)

require_stack()

SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
       "GROUP BY campaign ORDER BY campaign")
TAG = uuid.uuid4().hex[:6]
acct, insts = fleet_account("Policy", 6)
IDS = [u for u, _ in insts]
AMC = [a for _, a in insts]
NAMES = ["Policy %d" % i for i in range(6)]
WF = create_workflow("policy " + TAG, SQL, {"tag": "base"})


def execute(body, **kw):
    return api("POST", "/workflows/%s/batch-execute" % WF, body, **kw)


def batches_stored():
    return int(psql("SELECT count(*) FROM batch_executions")[0][0])


def pg_batch(bid):
    rows = psql("SELECT status, coalesce(status_reason, ''), on_failure, coalesce(min_success_ratio::text, '')"
                " FROM batch_executions WHERE batch_id = :'p1'", bid)
    return rows[0] if rows else None


def pg_execs(bid):
    return {r[0]: (r[1], r[2]) for r in psql(
        "SELECT e.execution_id, e.status, coalesce(e.error_message, '') FROM workflow_executions e"
        " JOIN batch_executions b ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1'", bid)}


def agrees(bid, final):
    """PostgreSQL's batch row and execution rows say what the API (Redis) says."""
    def same():
        pb = pg_batch(bid)
        pe = pg_execs(bid)
        return (pb and pb[0] == final["status"] and pb[1] == (final["status_reason"] or "")
                and all(pe.get(e["execution_id"], ("?",))[0] == e["status"] for e in final["executions"]))
    ok = wait_until(same, 30, 0.3)
    check(ok, "%s: PostgreSQL agrees with Redis (status, status_reason, every execution)" % bid,
          (pg_batch(bid), final["status"], final["status_reason"], pg_execs(bid)))


def ledger(bid):
    """amcsim's executions of batch bid, by exec id (the marker the worker puts in the SQL)."""
    out, after = {}, 0
    while after is not None:
        st, body = sim("GET", "/sim/executions?after=%d&limit=10000" % after)
        if st != 200:
            break
        for x in body["executions"]:
            if x.get("marker") and x["marker"]["batchId"] == bid:
                out[x["marker"]["execId"]] = x
        after = body.get("next")
    return out


def clear_profiles():
    for a in AMC:
        sim("DELETE", "/sim/profiles/" + a)


# ---- validation: refused before anything is stored ----------------------------------------
before = batches_stored()
for pol, status, code in (("stop", 422, "invalid_on_failure"),
                          ("", 422, "invalid_on_failure"),
                          (5, 400, "invalid_type"),
                          (True, 400, "invalid_type"),
                          (["fail_fast"], 400, "invalid_type"),
                          ({"min_success_ratio": "0.9"}, 400, "invalid_type"),
                          ({"min_success_ratio": None}, 400, "invalid_type"),
                          ({"min_success_ratio": 0}, 422, "invalid_on_failure"),
                          ({"min_success_ratio": -0.5}, 422, "invalid_on_failure"),
                          ({"min_success_ratio": 1.5}, 422, "invalid_on_failure"),
                          ({"min_success_ratio": 0.12345}, 422, "invalid_on_failure"),
                          ({"ratio": 0.9}, 422, "invalid_on_failure"),
                          ({}, 422, "invalid_on_failure"),
                          ({"min_success_ratio": 0.9, "x": 1}, 422, "invalid_on_failure")):
    st, b, raw = execute({"instance_ids": IDS[:1], "on_failure": pol})
    check(st == status and b["error"]["code"] == code and b["error"]["field"] == "on_failure",
          "on_failure %r -> %d %s (field on_failure)" % (pol, status, code), raw[:200])
check(batches_stored() == before, "no refused request stored a batch", (before, batches_stored()))

# ---- continue (the default): a failure changes nothing for the others ----------------------
for a in AMC[2:4]:
    sim_put("/sim/profiles/" + a, {"fail_rate": 1, "fail_reason": "simulated outage " + TAG})
st, body, raw = execute({"instance_ids": IDS[:4], "name": "continue " + TAG})
check(st == 201 and body["batch"]["on_failure"] == "continue", "no on_failure: continue (201 body)", raw[:300])
cont = body["batch"]["batch_id"]
final = wait_batch(cont, 120)
check(final and final["status"] == "partial" and final["on_failure"] == "continue"
      and final["status_reason"] is None and final["completed_instances"] == 2 and final["cancelled_instances"] == 0,
      "continue: partial, nothing cancelled, no status_reason",
      final and (final["status"], final["on_failure"], final["status_reason"]))
check("on_failure" not in batch_hash(cont), "Redis: a continue batch's record carries no policy fields (absent = continue)")
agrees(cont, final)

# ---- min_success_ratio: failing and passing --------------------------------------------------
st, body, raw = execute({"instance_ids": IDS[:4], "on_failure": {"min_success_ratio": 0.75}})
check(st == 201 and body["batch"]["on_failure"] == {"min_success_ratio": 0.75}, "min_success_ratio 0.75 -> 201",
      raw[:300])
ratio_fail = body["batch"]["batch_id"]
st, body, raw = execute({"instance_ids": IDS[:4], "on_failure": {"min_success_ratio": 0.5}})
check(st == 201, "min_success_ratio 0.5 -> 201", raw[:300])
ratio_pass = body["batch"]["batch_id"]
final = wait_batch(ratio_fail, 120)
check(final and final["status"] == "failed" and final["completed_instances"] == 2
      and final["status_reason"] == "2 of 4 executions succeeded; min_success_ratio 0.75 needs 3"
      and final["on_failure"] == {"min_success_ratio": 0.75},
      "2 of 4 with 0.75: failed, and the status says why",
      final and (final["status"], final["status_reason"], final["on_failure"]))
check(invariant_ok(ratio_fail)[0], "invariant holds", invariant_ok(ratio_fail))
agrees(ratio_fail, final)
rf_final = final
final = wait_batch(ratio_pass, 120)
check(final and final["status"] == "partial" and final["status_reason"] is None,
      "2 of 4 with 0.5: partial, no reason", final and (final["status"], final["status_reason"]))
agrees(ratio_pass, final)
st, body, raw = api("GET", "/workflows/batch/list?limit=100")
row = [b for b in (body or {}).get("batch_executions", []) if b["batch_id"] == ratio_fail]
check(row and row[0]["on_failure"] == {"min_success_ratio": 0.75} and row[0]["status_reason"] == rf_final["status_reason"],
      "the list shows on_failure and status_reason", row)
clear_profiles()

# ---- fail_fast: the first permanent failure cancels the rest, on AMC too --------------------
sim_put("/sim/profiles/" + AMC[0], {"fail_rate": 1, "latency_ms": 1500,
                                    "fail_reason": "too many workflows " + TAG})
for a in AMC[1:6]:
    sim_put("/sim/profiles/" + a, {"latency_ms": 60000})
st, body, raw = execute({"instance_ids": IDS, "name": "fail fast " + TAG, "on_failure": "fail_fast"})
check(st == 201 and body["batch"]["on_failure"] == "fail_fast", "fail_fast -> 201", raw[:300])
ff = body["batch"]["batch_id"]
final = wait_batch(ff, 60)
reason = final and final["status_reason"] or ""
check(final and final["status"] == "failed" and final["on_failure"] == "fail_fast",
      "fail_fast: the batch is failed at the first failure, long before the others could finish",
      final and (final["status"], final["on_failure"]))
check(reason.startswith("fail_fast: instance %s failed (AMC execution failed: too many workflows %s)" % (NAMES[0], TAG))
      and reason.endswith("; 5 queued or running executions cancelled"),
      "status_reason names the instance, its error and how many were cancelled", reason)
by_inst = {e["target_instance_id"]: e for e in final["executions"]}
check(by_inst[IDS[0]]["status"] == "failed", "the failing instance is failed", by_inst[IDS[0]]["status"])
check(all(by_inst[i]["status"] == "cancelled" and (by_inst[i]["error"] or "").startswith(
    "cancelled by fail_fast: instance %s failed" % NAMES[0]) for i in IDS[1:]),
      "the others are cancelled and say why", [(by_inst[i]["status"], by_inst[i]["error"]) for i in IDS[1:]])
ok, why = invariant_ok(ff)
check(ok, "invariant holds", why)
check(batch_hash(ff).get("cancel_requested") == "0", "not a user's cancel in Redis")


def amc_cancelled():
    led = ledger(ff)
    others = [x for e, x in led.items() if x["instanceId"] != AMC[0]]
    return len(others) == 5 and all(x["cancelRequests"] >= 1 and x["status"] == "CANCELLED" for x in others) and led


led = wait_until(amc_cancelled, 60, 0.5)
check(led, "AMC: the five running executions got a cancel and are CANCELLED (amcsim ledger)",
      [(x["instanceId"], x["status"], x["cancelRequests"]) for x in ledger(ff).values()])
check(led and [x["status"] for x in led.values() if x["instanceId"] == AMC[0]] == ["FAILED"],
      "AMC: the failing execution is FAILED, not cancelled", led and [x["status"] for x in led.values()])
agrees(ff, final)
check(pg_batch(ff)[1] == reason, "PostgreSQL's status_reason is Redis's", (pg_batch(ff), reason))
# the workers let go of every cancelled execution (nothing held, no slot kept)
check(wait_until(lambda: all(not h.get("worker") or h.get("state") != "running" for h in exec_hashes(ff)), 30),
      "no execution left running in Redis")
st, b, raw = api("POST", "/workflows/batch/%s/cancel" % ff)
check(st == 409 and b["error"]["code"] == "batch_finished", "a user's cancel afterwards: 409 batch_finished", raw[:200])
clear_profiles()

# ---- retry-failed copies the policy ---------------------------------------------------------
st, body, raw = api("POST", "/workflows/batch/%s/retry-failed" % ff, {"include_cancelled": True})
check(st == 201 and body["batch"]["on_failure"] == "fail_fast" and body["batch"]["total_instances"] == 6,
      "retry-failed of a fail_fast batch is fail_fast", raw[:300])
child = body["batch"]["batch_id"]
st, body, raw = api("POST", "/workflows/batch/%s/retry-failed" % ratio_fail)
check(st == 201 and body["batch"]["on_failure"] == {"min_success_ratio": 0.75},
      "retry-failed of a min_success_ratio batch keeps its ratio", raw[:300])
child2 = body["batch"]["batch_id"]
check(pg_batch(child2)[2:] == ["min_success_ratio", "0.7500"], "stored with the copy", pg_batch(child2))
for c in (child, child2):
    final = wait_batch(c, 120)
    check(final and final["status"] == "completed" and final["status_reason"] is None,
          "%s: the retry completes (nothing fails now), no reason" % c, final and final["status"])
    agrees(c, final)

done()
