"""Redis high availability through Sentinel (scripts/stack start --ha: a master, a replica and
three sentinels): a batch over several instances is running when the master is SIGKILLed; the
sentinels promote the replica, the API and the workers follow, the batch completes, and from
outside: amcsim saw one AMC execution per instance (none twice), PostgreSQL has each execution
once with its rows, no daemon died. Prints the failover time (kill -> the first batch-execute
accepted through the API). Skipped unless the stack was started with --ha (REDIS_SENTINELS)."""
import os
import signal
import subprocess
import sys
import time
import uuid

import lib
from lib import (INSTANCES, api, check, create_workflow, created_since, done, fleet_account, pid_alive,
                 pid_of, psql, require_stack, sim_instance_stats, submit, wait_batch, wait_until)

require_stack()
SENTINELS = os.environ.get("REDIS_SENTINELS", "")
NAME = os.environ.get("REDIS_MASTER_NAME", "mymaster")
if not SENTINELS or not lib.RUN_DIR:
    print("ok - # SKIP needs a stack started with scripts/stack start --ha (REDIS_SENTINELS, RUN_DIR)")
    sys.exit(77)

N = 8
PARAMS = {"startDate": "2025-01-01", "endDate": "2025-01-31"}
TAG = uuid.uuid4().hex[:6]


def master_addr():
    """(ip, port) the first sentinel that answers gives for NAME, or None."""
    for s in SENTINELS.split(","):
        host, port = s.rsplit(":", 1)
        r = subprocess.run(["redis-cli", "-h", host, "-p", port, "--raw", "SENTINEL",
                            "get-master-addr-by-name", NAME], capture_output=True, text=True)
        lines = r.stdout.split()
        if r.returncode == 0 and len(lines) == 2:
            return lines[0], int(lines[1])
    return None


old = master_addr()
check(old is not None and old[1] == int(os.environ.get("REDIS_MASTER_PORT", "0")),
      "the sentinels name the stack's master", old)
daemons = ["api", "amcsim"] + sorted(f[:-4] for f in os.listdir(lib.RUN_DIR)
                                     if f.startswith("worker") and f.endswith(".pid"))
pids = {n: pid_of(n) for n in daemons}

wf = create_workflow("sentinel " + TAG, lib.FLEET_SQL, {"tag": "x"})
probe_wf = create_workflow("sentinel probe " + TAG, lib.FLEET_SQL, {"tag": "x"})
acct, insts = fleet_account("sentinel", N)
IDS = [u for u, _ in insts]
AMC = [a for _, a in insts]

before = sim_instance_stats()
st, body, raw = submit(wf, IDS, dict(PARAMS, tag=TAG), name="sentinel failover " + TAG)
check(st == 201, "batch over %d instances submitted" % N, raw[:300])
bid = body["batch"]["batch_id"]


def some_running():
    st, b, _ = api("GET", "/workflows/batch/%s/status" % bid)
    return st == 200 and b["batch_status"].get("running_instances", 0) > 0 and b["batch_status"]


check(wait_until(some_running, 30), "the batch is running")
time.sleep(0.5)

# --- SIGKILL the master mid-batch --------------------------------------------------------------
master_pid = pid_of("redis")
os.kill(master_pid, signal.SIGKILL)
t_kill = time.time()
check(wait_until(lambda: not pid_alive(master_pid), 5), "master SIGKILLed")

accepted = None
probes = []
deadline = t_kill + 60
while time.time() < deadline:
    st, b, _ = submit(probe_wf, [INSTANCES[0]], dict(PARAMS, tag="probe"), name="sentinel probe " + TAG)
    if st == 201:
        accepted = time.time()
        probes.append(b["batch"]["batch_id"])
        break
    time.sleep(0.1)
failover_s = accepted - t_kill if accepted else None
check(accepted is not None, "a batch-execute is accepted after the failover")
new = master_addr()
check(new is not None and new[1] == int(os.environ.get("REDIS_REPLICA_PORT", "0")),
      "the sentinels promoted the replica", new)
print("# failover time: %.2f s from SIGKILL of the master to the first batch-execute accepted"
      % failover_s if failover_s is not None else "# failover time: none within 60 s")
st, b, _ = api("GET", "/readyz")
print("# /readyz after the failover: %s %s" % (st, b))

# later checks read Redis on the new master
if new:
    lib.REDIS = "redis://%s:%d/0" % new

final = wait_batch(bid, 240)
check(final is not None and final["status"] == "completed" and final["completed_instances"] == N,
      "the batch completed with every instance after the failover",
      final and {k: final.get(k) for k in ("status", "completed_instances", "failed_instances")})
for p in probes:
    pf = wait_batch(p, 120)
    check(pf is not None and pf["status"] == "completed", "the probe batch completed", pf and pf["status"])

made = created_since(before, AMC)
check(all(v == 1 for v in made.values()), "one AMC execution per instance (none lost, none twice)", made)

rows = psql("SELECT w.instance_id, count(*), min(w.status), max(w.status), min(coalesce(w.row_count, -1)),"
            " min((SELECT count(*) FROM result_rows r WHERE r.execution_id = w.id)),"
            " bool_and((SELECT count(*) FROM result_rows r WHERE r.execution_id = w.id) = w.row_count)"
            " FROM workflow_executions w WHERE w.workflow_id = :'p1' GROUP BY w.instance_id", wf)
by = {r[0]: r for r in rows}
bad = [(a, by.get(a)) for a in AMC if a not in by or by[a][1] != "1" or by[a][2] != "completed" or
       by[a][3] != "completed" or int(by[a][4]) <= 0 or by[a][6] != "t"]
check(len(by) == N and not bad, "PostgreSQL: every execution archived once, completed, with its rows", bad or rows)
ok, why = lib.invariant_ok(bid)
check(ok, "counter invariant on the new master", why)

dead = [n for n, p in pids.items() if not pid_alive(p)]
check(not dead, "no daemon died (api, amcsim, workers)", dead)


def followed(name):
    try:
        with open(os.path.join(lib.RUN_DIR, name + ".log")) as f:
            return any(("is 127.0.0.1:%d" % new[1]) in ln and "connected" in ln for ln in f)
    except OSError:
        return False


for n in daemons:
    if n != "amcsim":
        check(new is not None and followed(n), "%s logged the new master it chose" % n)
done()
