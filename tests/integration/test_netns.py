"""Two worker "hosts" in separate network namespaces drain one batch together (issue 3). The
test creates two namespaces, each linked to the root namespace by a veth pair with addresses it
assigns (10.231.N.1/30 <-> .2, 10.231.N.5/30 <-> .6), relays TCP from its root-side veth
addresses to the stack's Redis, PostgreSQL and amcsim on 127.0.0.1 (the shared servers stay
as they are), stops the two stack workers (SIGTERM), runs one worker in each namespace, and at
the end removes everything and restarts the stack workers. Skipped where namespaces are not
permitted."""
import os
import signal
import subprocess
import uuid

from lib import (FLEET_SQL, PREFIX, RUN_DIR, Relay, check, create_workflow, created_since, done, exec_hashes,
                 fleet_account, invariant_ok, archived_rows, batch_hash, pid_alive, pid_of, redis_raw,
                 require_stack, sim, sim_instance_stats, sim_put, stack, submit_paced, wait_until, TERMINAL)

require_stack()
BUILD_DIR = os.environ.get("BUILD_DIR", "")
if not RUN_DIR or not os.path.exists(os.path.join(RUN_DIR, "worker1.pid")) or \
        not os.access(os.path.join(BUILD_DIR, "amcbatch-worker"), os.X_OK):
    print("ok - # SKIP needs the stack's RUN_DIR and BUILD_DIR (run through scripts/test)")
    raise SystemExit(77)


def ip(*args, ns=None):
    cmd = (["ip", "netns", "exec", ns, "ip"] if ns else ["ip"]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True)


tag = uuid.uuid4().hex[:4]
NS = ["amcbns%sa" % tag, "amcbns%sb" % tag]
VETH = [("amcbv%sa0" % tag, "amcbv%sa1" % tag), ("amcbv%sb0" % tag, "amcbv%sb1" % tag)]
r = ip("netns", "add", NS[0])
if r.returncode != 0:
    print("ok - # SKIP network namespaces not permitted here (ip netns add: %s)" % r.stderr.strip()[:200])
    raise SystemExit(77)
created_ns = [NS[0]]

# a /24 of 10.231.0.0/16 that no interface uses yet
used = ip("-o", "-4", "addr").stdout
net = next((n for n in range(int(tag, 16) % 200, 256) if "10.231.%d." % n not in used), None)
ROOT = ["10.231.%d.1" % net, "10.231.%d.5" % net]
INNER = ["10.231.%d.2" % net, "10.231.%d.6" % net]


def port_of(url):
    return int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


relays, workers, stack_stopped = [], [], False
acct = insts = None
try:
    # --- namespaces and links --------------------------------------------------------------
    ok = True
    for i in range(2):
        if i == 1:
            ok &= ip("netns", "add", NS[1]).returncode == 0
            created_ns.append(NS[1])
        outer, inner = VETH[i]
        for cmd in (["link", "add", outer, "type", "veth", "peer", "name", inner, "netns", NS[i]],
                    ["addr", "add", ROOT[i] + "/30", "dev", outer], ["link", "set", outer, "up"]):
            r = ip(*cmd)
            ok &= r.returncode == 0
        for cmd in (["addr", "add", INNER[i] + "/30", "dev", inner], ["link", "set", inner, "up"]):
            ok &= ip(*cmd, ns=NS[i]).returncode == 0
    if not check(ok and net is not None, "two namespaces linked by veth pairs (10.231.%s.0/29)" % net, r.stderr):
        raise SystemExit(1)

    # --- relays from the root-side veth addresses to the stack's servers ---------------------
    targets = {"redis": port_of(os.environ["REDIS_URL"]), "pg": port_of(os.environ["DATABASE_URL"]),
               "sim": port_of(os.environ["AMCSIM_URL"])}
    ports = []
    for i in range(2):
        rs = {k: Relay(p, addr=ROOT[i]) for k, p in targets.items()}
        relays += rs.values()
        ports.append({k: r.port for k, r in rs.items()})
    probe = "import socket,sys; s=socket.socket(); s.settimeout(3); sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))"
    reach = [subprocess.run(["ip", "netns", "exec", NS[i], "/usr/bin/python3", "-c", probe, ROOT[i],
                             str(ports[i]["redis"])]).returncode == 0 for i in range(2)]
    isolated = [subprocess.run(["ip", "netns", "exec", NS[i], "/usr/bin/python3", "-c", probe, "127.0.0.1",
                                str(targets["redis"])]).returncode != 0 for i in range(2)]
    check(all(reach) and all(isolated),
          "each namespace reaches Redis only through its link (not on 127.0.0.1)", (reach, isolated))

    # --- the batch's instances: a fresh account, amcsim latency on them -----------------------
    acct, insts = fleet_account("Netns", 12)
    amc_ids = [a for _, a in insts]
    for a in amc_ids:
        sim_put("/sim/profiles/" + a, {"latency_ms": 1500})
    wf = create_workflow("netns " + tag, FLEET_SQL, {"tag": "x"})

    # --- the stack workers step aside (SIGTERM: nothing in flight now) -----------------------
    stack_pids = [pid_of("worker1"), pid_of("worker2")]
    stack_stopped = True
    for p in stack_pids:
        os.kill(p, signal.SIGTERM)
    check(wait_until(lambda: not any(pid_alive(p) for p in stack_pids), 20), "stack workers stopped (SIGTERM)")

    # --- one worker per namespace, each holding at most 4 executions: both must take part -----
    host = os.uname().nodename
    with open(os.path.join(RUN_DIR, "secret.key")) as f:
        secret = f.read().strip()
    ids = ["%s-netns-%s" % (host, c) for c in "ab"]
    for i in range(2):
        p = ports[i]
        env = dict(os.environ, AMCBATCH_WORKER_ID=ids[i], AMCBATCH_SECRET_KEY=secret,
                   AMCBATCH_REDIS_URL="redis://%s:%d/0" % (ROOT[i], p["redis"]),
                   AMCBATCH_DATABASE_URL="postgresql://amcbatch@%s:%d/amcbatch" % (ROOT[i], p["pg"]),
                   AMCBATCH_AMC_BASE_URL="http://%s:%d" % (ROOT[i], p["sim"]),
                   AMCBATCH_AMC_TOKEN_URL="http://%s:%d/auth/o2/token" % (ROOT[i], p["sim"]),
                   AMCBATCH_SPOOL_DIR=os.path.join(RUN_DIR, "spool"), AMCBATCH_WORKER_INFLIGHT="4",
                   AMCBATCH_CLAIM_BATCH="2", AMCBATCH_LOG_LEVEL=os.environ.get("STACK_LOG_LEVEL", "info"))
        for k in ("LEASE_MS", "HEARTBEAT_MS"):
            if os.environ.get("STACK_" + k):
                env["AMCBATCH_" + k] = os.environ["STACK_" + k]
        log = open(os.path.join(RUN_DIR, "netns-worker-%s.log" % "ab"[i]), "ab")
        workers.append(subprocess.Popen(["ip", "netns", "exec", NS[i], os.path.join(BUILD_DIR, "amcbatch-worker")],
                                        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()
    seen = wait_until(lambda: set(ids) <= set(redis_raw("ZRANGE", PREFIX + "workers", 0, -1)), 20)
    check(seen and all(w.poll() is None for w in workers), "both namespace workers registered in Redis")

    before = sim_instance_stats()
    st, body, raw = submit_paced(wf, [u for u, _ in insts], parameters={"tag": "netns-" + tag}, name="netns")
    check(st in (200, 201) and body and body.get("success"), "submit one batch of 12 instances", raw[:300])
    bid = body["batch"]["batch_id"]
    wait_until(lambda: batch_hash(bid).get("status") in TERMINAL, 90, 0.3)
    check(batch_hash(bid).get("status") == "completed", "the batch completes on the namespace workers",
          batch_hash(bid).get("status"))
    hs = exec_hashes(bid)
    by = {}
    for h in hs:
        by[h.get("worker")] = by.get(h.get("worker"), 0) + 1
    check(set(by) == set(ids), "both hosts drained it together (executions per worker %s)" % by, by)
    bad = [(h["exec_id"], archived_rows(h["exec_id"]), h.get("row_count")) for h in hs
           if archived_rows(h["exec_id"])[0] != int(h.get("row_count") or -1) or archived_rows(h["exec_id"])[0] <= 0]
    check(bad == [], "every execution archived its rows through the link", bad)
    check(created_since(before, amc_ids) == {a: 1 for a in amc_ids}, "one AMC execution per instance",
          created_since(before, amc_ids))
    ok, why = invariant_ok(bid)
    check(ok, "counter invariant", why)
finally:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    codes = []
    for w in workers:
        try:
            codes.append(w.wait(timeout=20))
        except subprocess.TimeoutExpired:
            w.kill()
            codes.append(w.wait())
    if workers:
        check(codes == [0] * len(workers), "namespace workers exit 0 on SIGTERM", codes)
    for r in relays:
        r.close()
    for outer, _ in VETH:
        if ip("link", "show", outer).returncode == 0:
            ip("link", "del", outer)
    for n in created_ns:
        ip("netns", "del", n)
    if insts:
        for _, a in insts:
            sim("DELETE", "/sim/profiles/" + a)
    if stack_stopped:
        r = stack("start")
        check(r.returncode == 0 and pid_alive(pid_of("worker1")) and pid_alive(pid_of("worker2")),
              "stack workers restarted", r.stderr[-300:])

left = [n for n in NS if n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout] + \
       [o for o, _ in VETH if ip("link", "show", o).returncode == 0]
check(left == [], "namespaces and links removed", left)
done()
