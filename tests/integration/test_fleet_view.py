"""The fleet view (issue 11) on the real stack: GET /admin/fleet answers admins only, with
workers (host, version, jobs held, lease), the queue, running executions against the caps,
parked jobs and why, AMC cancels and recent errors; a private worker with instance_cap = 1
(the stack's workers paused) shows its held jobs, a full instance and the job parked on it;
a stopped worker leaves the view or shows its lease gone; `amcbatch fleet --json` parses."""
import json
import os
import signal
import subprocess
import uuid

from lib import (PrivateWorker, api, check, create_workflow, done, fleet_account, pid_of, require_stack,
                 sim, sim_put, wait_until)

require_stack()
BUILD = os.environ.get("BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def fleet(token=None):
    st, body, raw = api("GET", "/admin/fleet", token=token)
    return st, body, raw


def worker_row(body, wid):
    for w in (body or {}).get("workers", {}).get("items", []):
        if w["id"] == wid:
            return w
    return None


# ---- shape and access ---------------------------------------------------------------------
st, body, raw = fleet()
check(st == 200 and body.get("success") is True, "GET /admin/fleet answers an admin", raw[:300])
for k in ("workers", "caps", "queue", "running", "parked", "amc_cancels", "errors"):
    check(k in body, "the view has " + k, list(body))
check(body["workers"]["live"] >= 1, "at least one live worker", body["workers"])
w0 = body["workers"]["items"][0] if body["workers"]["items"] else {}
for k in ("id", "host", "version", "uptime_seconds", "jobs_held", "last_heartbeat_age_ms", "lease_alive"):
    check(k in w0, "a worker row has " + k, w0)
check(w0.get("version") and w0.get("host"), "the worker published its host and version", w0)

st, ubody, raw = api("POST", "/admin/users", {"email": "fleet-%s@example.com" % uuid.uuid4().hex[:8]})
check(st == 201, "a member", raw[:200])
st, _, raw = fleet(token=ubody["token"])
check(st == 403, "a member gets 403", (st, raw[:200]))

# ---- a private worker with instance_cap = 1, the stack's workers paused ---------------------
acct, insts = fleet_account("FleetView", 2)
IDS = [u for u, _ in insts]
AMC = [a for _, a in insts]
WF = create_workflow("fleet view " + uuid.uuid4().hex[:6], "SELECT campaign FROM impressions GROUP BY campaign")
paused = []
for n in ("worker1", "worker2"):
    try:
        paused.append(pid_of(n))
    except OSError:
        pass
wid = "fleetview-%d" % os.getpid()
pw = PrivateWorker(wid, instance_cap=1)
batches = []
try:
    for p in paused:
        os.kill(p, signal.SIGSTOP)
    for a in AMC:
        sim_put("/sim/profiles/" + a, {"latency_ms": 30000})	# executions stay RUNNING
    pw.start()
    check(wait_until(lambda: worker_row(fleet()[1], wid) is not None, 15), "the private worker appears")
    for ids in (IDS, IDS[:1]):
        st, b, raw = api("POST", "/workflows/%s/batch-execute" % WF, {
            "instance_ids": ids, "parameters": {"startDate": "2025-03-01", "endDate": "2025-03-07"}})
        check(st in (200, 201), "submit over %d instance(s)" % len(ids), raw[:300])
        batches.append(b["batch"]["batch_id"])

    def settled():
        b = fleet()[1]
        row = worker_row(b, wid)
        return b if row and row["jobs_held"] >= 2 and b["parked"]["total"] >= 1 else None

    check(wait_until(settled, 30), "two jobs held and one parked", fleet()[2][:1500])
    b = fleet()[1]
    row = worker_row(b, wid)
    check(row and row["lease_alive"] and row["instance_cap"] == 1, "the private worker: lease, cap 1", row)
    check(b["caps"]["instance_cap"] == 1, "the binding instance cap is the workers' smallest", b["caps"])
    inst = {x["amc_instance_id"]: x for x in b["running"]["instances"]}
    check(AMC[0] in inst and inst[AMC[0]]["running"] == 1 and inst[AMC[0]]["full"],
          "instance 0 runs 1 of its cap 1", inst.get(AMC[0]))
    accts = {x["account_id"]: x for x in b["running"]["accounts"]}
    check(accts.get(acct["id"], {}).get("running") == 2, "the account runs 2", accts.get(acct["id"]))
    pk = [x for x in b["parked"]["items"] if x["kind"] == "instance" and x["id"] == AMC[0]]
    check(pk and pk[0]["waiting"] == 1 and pk[0]["cap_name"] == "instance_cap" and
          pk[0]["oldest_ref"].startswith(batches[1] + ":") and "instance cap" in pk[0]["reason"],
          "the second batch's job is parked, waiting for instance_cap", pk)

    # ---- the CLI ----
    cli = subprocess.run([os.path.join(BUILD, "amcbatch"), "fleet", "--json"], capture_output=True,
                         text=True, timeout=30)
    try:
        cj = json.loads(cli.stdout)
    except ValueError:
        cj = None
    check(cli.returncode == 0 and cj and worker_row(cj, wid), "amcbatch fleet --json parses",
          (cli.returncode, cli.stdout[:300], cli.stderr[:300]))
    cli = subprocess.run([os.path.join(BUILD, "amcbatch"), "fleet"], capture_output=True, text=True, timeout=30)
    check(cli.returncode == 0 and wid in cli.stdout and "PARKED" in cli.stdout.upper(),
          "amcbatch fleet prints the tables", cli.stdout[:800])

    # ---- cancel, then a stopped worker leaves (or shows its lease gone) ----
    for bid in batches:
        api("POST", "/workflows/batch/%s/cancel" % bid)
    check(wait_until(lambda: fleet()[1]["amc_cancels"]["pending"] >= 0, 5), "amc_cancels is reported")
    pw.stop("fleet view worker")

    def gone():
        row = worker_row(fleet()[1], wid)
        return row is None or not row["lease_alive"]

    check(wait_until(gone, 30), "the stopped worker leaves the view or its lease is gone",
          worker_row(fleet()[1], wid))
finally:
    PrivateWorker.kill_all()
    for p in paused:
        try:
            os.kill(p, signal.SIGCONT)
        except OSError:
            pass
    for a in AMC:
        sim("DELETE", "/sim/profiles/" + a)
done()
