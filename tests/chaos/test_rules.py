#!/usr/bin/python3
"""test_rules.py - the checker judged on made-up store contents, no stack needed: a clean
run has no violation, and each kind of violation the campaign looks for is found where it
was planted (so a campaign that reports 0 could have reported more). TAP lines."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rules            # noqa: E402
import watch            # noqa: E402

failed = 0
CSV = "campaign,impressions,tag\n\"Brand Defense, Exact\",120,c1-b0\nRetargeting,7,c1-b0\n"
COLS = [{"name": "campaign", "type": "string"}, {"name": "impressions", "type": "number"},
        {"name": "tag", "type": "string"}]
ROWS = [{"campaign": "Brand Defense, Exact", "impressions": 120, "tag": "c1-b0"},
        {"campaign": "Retargeting", "impressions": 7, "tag": "c1-b0"}]


def check(cond, name, detail=""):
    global failed
    failed += 0 if cond else 1
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else ": %s" % (detail,)))


class Sub:
    def __init__(self, tag, batch_id):
        self.tag, self.batch_id, self.dup_batch_id, self.cancel = tag, batch_id, None, None


def amc(id_, inst, status="SUCCEEDED", tag="c1-b0", marker=None, rows=2, end=2000, cancels=0):
    return {"seq": 1, "instanceId": inst, "workflowExecutionId": id_, "account": "E", "status": status,
            "createTime": "2026-01-01T00:00:00Z", "createMs": 1000, "endMs": end if status != "RUNNING" else None,
            "marker": marker, "rows": rows if status == "SUCCEEDED" else None, "cancelRequests": cancels,
            "firstCancelMs": None, "sqlQuery": "SELECT campaign, 1 AS impressions, '%s' AS tag" % tag,
            "csv": CSV if status == "SUCCEEDED" else None}


def clean():
    """One completed batch of two executions, consistent everywhere."""
    counters = {"status": "completed", "total": "2", "pending": "0", "queued": "0", "running": "0",
                "retry_wait": "0", "completed": "2", "failed": "0", "cancelled": "0"}
    execs = [["exec_a", "completed", "w1", "A1", "2", "5000", "i1", "acct", '{"tag":"c1-b0"}'],
             ["exec_b", "completed", "w1", "A2", "2", "5000", "i2", "acct", '{"tag":"c1-b0"}']]
    return {
        "ledger": [amc("A1", "i1"), amc("A2", "i2")],
        "redis": {"batches": {"batch_1": dict(counters, execs=execs)}, "running": {}, "jobs": {},
                  "leases": {"w1": 3000}, "retry": 0, "queue": 0, "parked": {}},
        "events": [["1-0", "finished", "completed", "exec_a exec_b"]],
        "batches": [{"batch_id": "batch_1", "status": "completed", "total": 2, "completed": 2, "failed": 0,
                     "tag": "c1-b0"}],
        "execs": [{"exec_id": "exec_a", "batch_id": "batch_1", "instance": "i1", "status": "completed", "amc": "A1",
                   "row_count": 2, "rows": 2, "finished_ms": 5000},
                  {"exec_id": "exec_b", "batch_id": "batch_1", "instance": "i2", "status": "completed", "amc": "A2",
                   "row_count": 2, "rows": 2, "finished_ms": 5000}],
        "transitions": [],
        "pg_rows": {"exec_a": {"columns": COLS, "rows": ROWS}, "exec_b": {"columns": COLS, "rows": ROWS}},
    }


def judge(data, subs=(), open_batches=()):
    return rules.evaluate(data, list(subs) or [Sub("c1-b0", "batch_1")], set(open_batches), None, 3500,
                          watch.slot_mismatches)


def kinds(f, rule):
    return set(f.v[rule])


def planted(name, rule, kind, mutate, subs=(), open_batches=()):
    d = clean()
    mutate(d)
    f = judge(d, subs, open_batches)
    check(kind in kinds(f, rule), "%s: %s %s" % (name, rule, kind), {r: dict(f.v[r]) for r in f.RULES if f.v[r]})


f = judge(clean())
check(f.total() == 0, "a clean run has no violation", {r: dict(f.v[r]) for r in f.RULES if f.v[r]})
check(f.stats["attribution"] == {"tag": 2}, "attributed by the campaign's tag", f.stats["attribution"])

d = clean()
for x in d["ledger"]:
    x["sqlQuery"] = "SELECT 1"
    x["marker"] = {"batchId": "batch_1", "execId": "exec_a" if x["instanceId"] == "i1" else "exec_b"}
f = judge(d)
check(f.total() == 0 and f.stats["attribution"] == {"marker": 2}, "attributed by amcbatch's marker line",
      (f.stats, {r: dict(f.v[r]) for r in f.RULES if f.v[r]}))
d = clean()
for x in d["ledger"]:
    x["sqlQuery"] = "SELECT 1"
f = judge(d)
check(f.total() == 0 and f.stats["attribution"] == {"recorded": 2}, "attributed by the recorded AMC id",
      f.stats["attribution"])

# ---- R1 -------------------------------------------------------------------------------
planted("a batch still running", "R1", "batch not terminal after the bound", lambda d: None, open_batches=["batch_1"])
planted("an accepted batch nobody knows", "R1", "accepted batch lost", lambda d: None,
        subs=[Sub("c1-b0", "batch_1"), Sub("c1-b1", "batch_9")])

# ---- R2 -------------------------------------------------------------------------------
planted("two AMC executions for one", "R2", "more than one AMC execution",
        lambda d: d["ledger"].append(amc("A3", "i1")))
planted("an AMC execution of nobody", "R2", "AMC execution not attributable",
        lambda d: d["ledger"].append(dict(amc("X9", "i7"), sqlQuery="SELECT 1")))
planted("still RUNNING on AMC at the end", "R2", "left running on AMC",
        lambda d: d["ledger"].append(amc("A3", "i1", status="RUNNING")))


def cancelled_late(d, cancels):
    d["execs"][0].update(status="cancelled", rows=0)
    d["redis"]["batches"]["batch_1"]["execs"][0][1] = "cancelled"
    d["redis"]["batches"]["batch_1"]["execs"][0][5] = "1000"
    d["ledger"][0].update(endMs=9000, cancelRequests=cancels)


planted("cancelled, its AMC execution ran on", "R2", "unwanted execution not cancelled on AMC",
        lambda d: cancelled_late(d, 0))
d = clean()
cancelled_late(d, 1)
check("unwanted execution not cancelled on AMC" not in kinds(judge(d), "R2"), "a cancel asked of AMC is enough")
planted("an Idempotency-Key retry made a second batch", "R2", "one submission made several batches",
        lambda d: None, subs=[Sub("c1-b0", "batch_1"), Sub("c1-b0", "batch_2")])

# ---- R3 -------------------------------------------------------------------------------
planted("a row archived twice", "R3", "archived rows != AMC's rows", lambda d: d["execs"][0].update(rows=3))
planted("an archived value differs", "R3", "archived rows differ from AMC's file",
        lambda d: d["pg_rows"]["exec_a"].update(rows=[ROWS[0], dict(ROWS[1], impressions=8)]))
planted("rows kept for a failed execution", "R3", "rows kept for a failed execution",
        lambda d: d["execs"][0].update(status="failed"))
planted("completed, then failed (PostgreSQL)", "R3", "completed execution changed state (PostgreSQL)",
        lambda d: d["transitions"].append({"kind": "exec", "id": "exec_a", "old": "completed", "new": "failed",
                                           "at": "10:00:00.000"}))
planted("failed, then completed (PostgreSQL)", "R3", "failed/cancelled execution changed state (PostgreSQL)",
        lambda d: d["transitions"].append({"kind": "exec", "id": "exec_a", "old": "failed", "new": "completed",
                                           "at": "10:00:00.000"}))
planted("a batch's final status changed", "R3", "batch left a terminal status (PostgreSQL)",
        lambda d: d["transitions"].append({"kind": "batch", "id": "batch_1", "old": "partial", "new": "completed",
                                           "at": "10:00:00.000"}))
planted("completed, then failed (Redis events)", "R3", "completed execution changed state (Redis events)",
        lambda d: d["events"].append(["2-0", "finished", "failed", "exec_a"]))
planted("archived another instance's result", "R3", "archived another execution's AMC result",
        lambda d: d["execs"][0].update(amc="A2"))

# ---- R4 -------------------------------------------------------------------------------
planted("statuses differ", "R4", "execution state differs", lambda d: d["execs"][1].update(status="failed", rows=0))
planted("counters do not add up", "R4", "counter invariant broken (Redis)",
        lambda d: d["redis"]["batches"]["batch_1"].update(completed="1"))
def open_in_pg_only(d):
    d["redis"]["batches"].clear()
    d["batches"][0]["status"] = "running"


planted("an open batch only in PostgreSQL", "R4", "batch in PostgreSQL, not in Redis", open_in_pg_only)
d = clean()
d["redis"]["batches"].clear()
f = judge(d)
check("batch in PostgreSQL, not in Redis" not in kinds(f, "R4"),
      "a terminal batch Redis does not hold is served from PostgreSQL: no R4",
      {r: dict(f.v[r]) for r in f.RULES if f.v[r]})

# ---- R5 -------------------------------------------------------------------------------
planted("a slot left taken", "R5", "cap slot not matching running executions",
        lambda d: d["redis"]["running"].update({"instance:i1": "1"}))
planted("a stale job ref", "R5", "jobs list holds a ref it does not run",
        lambda d: d["redis"]["jobs"].update({"w1": ["batch_1:exec_a"]}))


def orphan_running(d):
    d["redis"]["batches"]["batch_1"]["execs"][0][1] = "running"
    d["redis"]["batches"]["batch_1"]["execs"][0][2] = "w9"


planted("running without a holder", "R5", "running without a live holder", orphan_running)

check(rules.rows_differ({"columns": COLS, "rows": ROWS}, CSV) == "", "CSV quoting and numbers compare equal")
sys.exit(1 if failed else 0)
