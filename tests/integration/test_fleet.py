"""The worker fleet under load and failures, on the real stack with its two workers (issue 3,
"Tests and evidence"): the instance and account caps sampled from Redis while 60 executions
compete for 5 instances; a 429 storm and a 5xx burst; kill -9 of a worker mid-batch (the other
worker reclaims, AMC is not asked twice, no duplicate rows); a Redis restart mid-batch; cancel
under load. The counter invariant is checked on every batch. Uses its own AMC account and
instances (amcsim profiles on those only, removed at the end). test_worker_faults covers
SIGTERM hand-back, the PostgreSQL outage and random 429/5xx/lost creates."""
import os
import signal
import time
import uuid

from lib import (FLEET_SQL, PREFIX, RUN_DIR, TERMINAL, amc_status, api, archived_rows, batch_hash, check,
                 create_workflow, created_since, done, exec_hashes, fleet_account, invariant_ok, pid_alive,
                 pid_of, redis_raw, require_stack, running_snapshot, sim, sim_instance_stats, sim_put, stack,
                 submit_paced, wait_until)

require_stack()
if not RUN_DIR or not os.path.exists(os.path.join(RUN_DIR, "worker2.pid")):
    print("ok - # SKIP needs the stack's RUN_DIR with two workers (run through scripts/test)")
    raise SystemExit(77)
st, _ = sim("GET", "/sim/profiles")
if st != 200:
    print("ok - # SKIP amcsim has no /sim/profiles (HTTP %s)" % st)
    raise SystemExit(77)

INSTANCE_CAP, ACCOUNT_CAP = 10, 200	# the stack workers' defaults (conf/amcbatch.conf.example)
acct, insts = fleet_account("Fleet", 5)
UUIDS = [u for u, _ in insts]
AMC_IDS = [a for _, a in insts]
WF = create_workflow("fleet " + uuid.uuid4().hex[:6], FLEET_SQL, {"tag": "x"})
mine = []		# every batch this test created: the invariant is checked on all at the end
reference = {}		# amc instance id -> row count of a clean run of FLEET_SQL there


def profile(fields):
    for a in AMC_IDS:
        st, _ = sim_put("/sim/profiles/" + a, fields)
        if st != 200:
            raise RuntimeError("PUT /sim/profiles/%s: HTTP %s" % (a, st))


def submit_batches(n, label, instances=None):
    ids = []
    for i in range(n):
        st, body, raw = submit_paced(WF, instances or UUIDS, parameters={"tag": "%s-%d" % (label, i)},
                                     name="fleet %s %d" % (label, i))
        if not check(st in (200, 201) and body and body.get("success"), "submit %s batch %d" % (label, i),
                     raw[:300]):
            raise SystemExit(1)
        ids.append(body["batch"]["batch_id"])
    mine.extend(ids)
    return ids


def all_terminal(bids):
    return all(batch_hash(b).get("status") in TERMINAL for b in bids)


def statuses(bids):
    return [batch_hash(b).get("status") for b in bids]


def rows_ok(bids):
    """Every completed execution archived exactly its row_count rows, the same number as the
    clean run on that instance (no duplicates, nothing lost); returns the mismatches."""
    bad = []
    for b in bids:
        for h in exec_hashes(b):
            if h.get("state") != "completed":
                continue
            n, pg_count = archived_rows(h["exec_id"])
            want = reference.get(h["amc_instance_id"])
            if n != int(h.get("row_count") or -2) or n != pg_count or (want is not None and n != want) or n <= 0:
                bad.append((h["exec_id"], h["amc_instance_id"], n, h.get("row_count"), pg_count, want))
    return bad


def mine_slots(snap):
    """The `P running` fields of this test's instances and account."""
    keys = ["instance:" + a for a in AMC_IDS] + ["account:" + acct["id"]]
    return {k: snap["slots"][k] for k in keys if k in snap["slots"]}


def pause(names):
    pids = [pid_of(n) for n in names]
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    return pids


def resume(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGCONT)
        except OSError:
            pass


try:
    # --- 1. caps: 12 batches x 5 instances = 60 executions, 12 wanting each instance ---------
    profile({"latency_ms": 1500})
    before = sim_instance_stats()
    # both workers paused while the batches are submitted: all 60 are ready at the first claim,
    # so every instance has 12 executions competing for its 10 slots
    paused = pause(["worker1", "worker2"])
    try:
        caps = submit_batches(12, "caps")
    finally:
        resume(paused)
    peak_inst, peak_acct, samples, violations, mismatch, parked_seen = {}, 0, 0, [], [], 0
    deadline = time.time() + 90
    while time.time() < deadline:
        snap = running_snapshot(caps, AMC_IDS)
        samples += 1
        for a in AMC_IDS:
            slot = snap["slots"].get("instance:" + a, 0)
            counted = snap["instance"].get(a, 0)
            peak_inst[a] = max(peak_inst.get(a, 0), slot, counted)
            if slot > INSTANCE_CAP or counted > INSTANCE_CAP:
                violations.append(("instance", a, slot, counted))
            if slot != counted:
                mismatch.append((a, slot, counted))
        aslot = snap["slots"].get("account:" + acct["id"], 0)
        acounted = snap["account"].get(acct["id"], 0)
        peak_acct = max(peak_acct, aslot, acounted)
        if aslot > ACCOUNT_CAP or acounted > ACCOUNT_CAP:
            violations.append(("account", aslot, acounted))
        if aslot != acounted:
            mismatch.append(("account", aslot, acounted))
        parked_seen = max(parked_seen, sum(snap["parked"].values()))
        if all(s in TERMINAL for s in snap["status"].values()):
            break
        time.sleep(0.1)
    check(statuses(caps) == ["completed"] * 12, "caps: all 12 batches (60 executions) complete", statuses(caps))
    check(samples >= 10, "caps: sampled Redis %d times while the load ran" % samples, samples)
    check(violations == [], "caps: no instance above %d, the account never above %d running"
          % (INSTANCE_CAP, ACCOUNT_CAP), violations[:10])
    check(mismatch == [], "caps: P running equals the running exec hashes in every sample", mismatch[:10])
    check(all(peak_inst.get(a) == INSTANCE_CAP for a in AMC_IDS),
          "caps: every instance reached its cap of %d (the load pushed against it)" % INSTANCE_CAP, peak_inst)
    check(parked_seen > 0, "caps: jobs beyond the cap were parked", parked_seen)
    print("# caps: %d samples, peak per instance %s, peak account %d, parked up to %d"
          % (samples, sorted(peak_inst.values()), peak_acct, parked_seen))
    check(created_since(before, AMC_IDS) == {a: 12 for a in AMC_IDS},
          "caps: amcsim created exactly 12 executions per instance", created_since(before, AMC_IDS))
    per_inst = {}
    for b in caps:
        for h in exec_hashes(b):
            per_inst.setdefault(h["amc_instance_id"], set()).add(archived_rows(h["exec_id"])[0])
    check(all(len(v) == 1 and min(v) > 0 for v in per_inst.values()) and len(per_inst) == 5,
          "caps: the 12 runs of each instance archived the same number of rows", per_inst)
    reference.update({a: min(v) for a, v in per_inst.items()})
    check(rows_ok(caps) == [], "caps: every execution archived its row_count rows", rows_ok(caps)[:5])
    check(mine_slots(running_snapshot([])) == {}, "caps: every running slot given back",
          mine_slots(running_snapshot([])))

    # --- 2. a 429 storm on one instance, a 5xx burst on another ------------------------------
    before = sim_instance_stats()
    storm, burst = AMC_IDS[0], AMC_IDS[1]
    profile({"latency_ms": 300})
    sim_put("/sim/profiles/" + storm, {"burst_429": 8, "retry_after_s": 1})
    # (on the requests after the create: a create answered 5xx is looked for on AMC for 30 s
    # before it is sent again, a path test_exactly_once takes on purpose)
    sim_put("/sim/profiles/" + burst, {"rate_5xx": 1, "endpoints": ["get", "list", "urls"]})
    (fb,) = submit_batches(1, "faults")
    # the 5xx burst lasts until amcsim has sent 4 of them (counted, not timed)
    n5 = wait_until(lambda: sim_instance_stats().get(burst, {}).get("sent_5xx", 0)
                    - before.get(burst, {}).get("sent_5xx", 0) >= 4, 30, 0.05)
    sim_put("/sim/profiles/" + burst, {"rate_5xx": 0, "endpoints": ["create", "get", "list", "cancel", "urls"]})
    check(n5, "faults: 5xx burst sent")
    wait_until(lambda: all_terminal([fb]), 90, 0.2)
    bad = [(h["amc_instance_id"], h["state"], h.get("error")) for h in exec_hashes(fb) if h["state"] != "completed"]
    check(batch_hash(fb).get("status") == "completed" and bad == [],
          "faults: batch through a 429 storm and a 5xx burst ends completed", (batch_hash(fb).get("status"), bad))
    stats = sim_instance_stats()
    sent429 = stats.get(storm, {}).get("sent_429", 0) - before.get(storm, {}).get("sent_429", 0)
    # 8 > max_retries (5): the storm outlasts the transient-error budget, which 429s must not use
    check(sent429 == 8, "faults: the storm's 8 answers were all 429", sent429)
    check(created_since(before, AMC_IDS) == {a: 1 for a in AMC_IDS},
          "faults: one AMC execution per instance", created_since(before, AMC_IDS))
    check(rows_ok([fb]) == [], "faults: every execution archived its rows", rows_ok([fb])[:5])
    for a in (storm, burst):
        sim("DELETE", "/sim/profiles/" + a)

    # --- 3. kill -9 of a worker mid-batch: the other reclaims after the lease -----------------
    profile({"latency_ms": 6000})
    host = os.uname().nodename
    w1_id = host + "-w1"
    before = sim_instance_stats()
    paused = pause(["worker2"])		# so worker1 surely holds every job when it dies
    try:
        kill = submit_batches(3, "kill")
        held = wait_until(lambda: int(redis_raw("LLEN", PREFIX + "worker:%s:jobs" % w1_id)[0]) == 15 and
                          all(h.get("amc_execution_id") for b in kill for h in exec_hashes(b)), 30, 0.05)
    finally:
        resume(paused)
    check(held, "kill: worker1 holds all 15 jobs, each AMC execution created and recorded")
    w1 = pid_of("worker1")
    os.kill(w1, signal.SIGKILL)
    check(wait_until(lambda: not pid_alive(w1), 10), "kill: worker1 killed with SIGKILL")
    wait_until(lambda: all_terminal(kill), 90, 0.2)
    check(statuses(kill) == ["completed"] * 3, "kill: the 3 batches complete on the other worker", statuses(kill))
    hs = [h for b in kill for h in exec_hashes(b)]
    check(all(h.get("worker") != w1_id for h in hs) and
          all(int(h.get("attempts") or 0) == 2 for h in hs),
          "kill: every job reclaimed once and finished by the other worker",
          [(h["exec_id"], h.get("worker"), h.get("attempts")) for h in hs if int(h.get("attempts") or 0) != 2][:5])
    check(created_since(before, AMC_IDS) == {a: 3 for a in AMC_IDS},
          "kill: every AMC execution created once per instance and batch (amcsim)", created_since(before, AMC_IDS))
    check(rows_ok(kill) == [], "kill: no duplicate or missing result rows", rows_ok(kill)[:5])
    r = stack("restart-worker", "1")
    check(r.returncode == 0 and pid_alive(pid_of("worker1")), "kill: worker1 restarted", r.stderr[-300:])

    # --- 4. Redis restart mid-batch (AOF on): nothing lost --------------------------------------
    profile({"latency_ms": 4000})
    before = sim_instance_stats()
    red = submit_batches(2, "redis")
    started = wait_until(lambda: all(h.get("amc_execution_id") for b in red for h in exec_hashes(b)), 30, 0.05)
    check(started, "redis: every execution running on AMC before the restart")
    redis_pid = pid_of("redis")
    redis_raw("SHUTDOWN")
    check(wait_until(lambda: not pid_alive(redis_pid), 20), "redis: redis-server shut down mid-batch")
    time.sleep(1)
    r = stack("start")
    check(r.returncode == 0, "redis: redis-server started again (scripts/stack start)", r.stderr[-300:])
    wait_until(lambda: all_terminal(red), 90, 0.3)
    check(statuses(red) == ["completed"] * 2, "redis: both batches complete across the restart", statuses(red))
    check(created_since(before, AMC_IDS) == {a: 2 for a in AMC_IDS},
          "redis: no AMC execution sent twice", created_since(before, AMC_IDS))
    check(rows_ok(red) == [], "redis: every execution archived its rows", rows_ok(red)[:5])
    check(mine_slots(running_snapshot([])) == {}, "redis: running slots consistent after the restart",
          mine_slots(running_snapshot([])))
    check(pid_alive(pid_of("worker1")) and pid_alive(pid_of("worker2")) and pid_alive(pid_of("api")),
          "redis: api and both workers survived the restart")

    # --- 5. cancel under load ---------------------------------------------------------------
    profile({"latency_ms": 3000})
    paused = pause(["worker1", "worker2"])	# as in 1.: 60 ready at once, 10 of them parked
    try:
        load = submit_batches(12, "cancel")
    finally:
        resume(paused)
    target = load[0]		# the ring's oldest: all 5 of its jobs are claimed first
    busy = wait_until(lambda: all(h["state"] == "running" and h.get("amc_execution_id")
                                  for h in exec_hashes(target)) and
                      sum(running_snapshot([], AMC_IDS)["parked"].values()) > 0, 30, 0.05)
    check(busy, "cancel: the target batch runs on AMC while other jobs wait parked")
    st, body, raw = api("POST", "/workflows/batch/%s/cancel" % target)
    check(st == 200 and body and body.get("success"), "cancel: API accepts the cancel", raw[:300])
    check(wait_until(lambda: batch_hash(target).get("status") == "cancelled", 10),
          "cancel: the batch is cancelled while the workers are busy", batch_hash(target).get("status"))
    hs = exec_hashes(target)
    check(all(h["state"] == "cancelled" for h in hs), "cancel: no execution of it left unfinished",
          [h["state"] for h in hs])
    snap = running_snapshot(load, AMC_IDS)
    check(all(snap["slots"].get("instance:" + a, 0) == snap["instance"].get(a, 0) for a in AMC_IDS),
          "cancel: its running slots were given back at once", (snap["slots"], snap["instance"]))
    on_amc = [(h["amc_instance_id"], h["amc_execution_id"]) for h in hs if h.get("amc_execution_id")]
    amc_final = wait_until(lambda: all(amc_status(acct, a, e) == "CANCELLED" for a, e in on_amc) and on_amc,
                           20, 0.3)
    check(on_amc and amc_final, "cancel: its %d AMC executions cancelled on AMC" % len(on_amc),
          [(e, amc_status(acct, a, e)) for a, e in on_amc])
    wait_until(lambda: all_terminal(load), 90, 0.3)
    check(statuses(load[1:]) == ["completed"] * 11, "cancel: the other 11 batches complete", statuses(load[1:]))
    check(rows_ok(load[1:]) == [], "cancel: the other batches archived their rows", rows_ok(load[1:])[:5])
    late = [h["exec_id"] for h in exec_hashes(target) if archived_rows(h["exec_id"])[0] != 0]
    check(late == [], "cancel: no rows archived for the cancelled executions", late)
    check(mine_slots(running_snapshot([])) == {}, "cancel: P running back to what it was (none of ours)",
          mine_slots(running_snapshot([])))
finally:
    for a in AMC_IDS:
        sim("DELETE", "/sim/profiles/" + a)
    # leave the stack as found: both workers running, Redis up
    try:
        whole = all(pid_alive(pid_of(n)) for n in ("worker1", "worker2", "redis"))
    except (OSError, ValueError):
        whole = False
    if not whole:
        stack("start")

# --- 7. the counter invariant on every batch this test created -------------------------------
bad = [(b, why) for b in mine for ok, why in [invariant_ok(b)] if not ok]
check(mine and bad == [], "counter invariant holds on all %d batches" % len(mine), bad[:5])
check(pid_alive(pid_of("worker1")) and pid_alive(pid_of("worker2")), "both stack workers running at the end")
done()
