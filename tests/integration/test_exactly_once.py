"""Exactly once at the narrow edges (issue 9), on the real stack with workers of the test's own
(the stack's workers are stopped meanwhile and started again at the end):
- a claim whose reply is lost (a relay drops it) is taken up by the worker's reconciliation;
- Redis refusing writes (NOREPLICAS) for a while loses no finish, retry or phase;
- an account whose advertiser and marketplace ids fill the API's limits runs like any other;
- a worker cut off from Redis longer than its lease, whose jobs are reclaimed and claimed by
  itself again, archives each execution once and never turns `completed` into `failed`;
- a create whose answer was lost, then SIGTERM while the worker looks for it: the next worker
  adopts that AMC execution instead of creating a second one;
- adoption matches exactly (the marker line): a create refused with 503 does not adopt the
  identical execution of another batch;
- a failure text cut inside a UTF-8 character still lands in PostgreSQL;
- a cancel whose archive update got lost is brought into PostgreSQL by the janitor's archive
  sweep;
- a terminal batch leaves Redis after its retention and is served from PostgreSQL;
- a result file slower than http_timeout_ms is still fetched (no limit on the whole
  transfer, only on a stall), and of a result split over files only the file that failed is
  fetched again;
- no create is sent after an execution's deadline;
- a refresh token LWA rotates is stored (encrypted) for the next start;
- an execution cancelled on AMC by hand fails; one whose batch was cancelled and whose AMC
  execution another worker cancelled while its holder's status call was on its way stays
  cancelled;
- a running batch Redis lost, then cancelled through PostgreSQL: its holder cancels the AMC
  execution;
- a cancel Redis lost after the holder saw it: the holder cancels the batch in Redis again.
Each part uses instances of its own, so amcsim's counters are its alone."""
import os
import signal
import time
import uuid

from lib import (FORWARD, HOLD_THEN_CUT, PREFIX, REDIS, RUN_DIR, PrivateWorker, Relay, amc_call, amc_status, api, archived_rows, check, create_workflow,
                 done, exec_hashes, fleet_account, invariant_ok, lua_source, pid_alive,
                 pid_of, port_of, psql, redis_hash, redis_raw, require_stack, sim, sim_instance_stats, sim_put, stack,
                 submit_paced, wait_batch, wait_until)

require_stack()
BUILD_DIR = os.environ.get("BUILD_DIR", "")
if not RUN_DIR or not os.access(os.path.join(BUILD_DIR, "amcbatch-worker"), os.X_OK):
    print("ok - # SKIP needs the stack's RUN_DIR and BUILD_DIR (run through scripts/test)")
    raise SystemExit(77)

PARAMS = {"startDate": "2025-01-01", "endDate": "2025-01-31"}
SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
       "GROUP BY campaign ORDER BY campaign")
TAG = uuid.uuid4().hex[:6]
wf = create_workflow("exactly once " + TAG, SQL, {"tag": "x"})
acct, insts = fleet_account("exactly once", 25)
AMC = [a for _, a in insts]
IDS = [u for u, _ in insts]
REDIS_PORT = port_of(REDIS)


def run_batch(ids, name, tag=None):
    st, body, raw = submit_paced(wf, ids, dict(PARAMS, tag=tag or name), name=name)
    check(st == 201, "%s: submitted" % name, raw[:300])
    return body["batch"]["batch_id"] if st == 201 else None


def created(amc_ids):
    s = sim_instance_stats()
    return {a: s.get(a, {}).get("executions_created", 0) for a in amc_ids}


def all_archived(bid):
    """[] when every completed execution's archived rows match its row_count, PostgreSQL's status
    matches Redis's, and no execution is left non-final in PostgreSQL; else the differences."""
    bad = []
    for h in exec_hashes(bid):
        rows = psql("SELECT status FROM workflow_executions WHERE execution_id = :'p1'", h["exec_id"])
        pg = rows[0][0] if rows else None
        if pg != h.get("state"):
            bad.append((h["exec_id"], "redis " + h.get("state", "?"), "pg " + str(pg)))
        if h.get("state") == "completed":
            got, want = archived_rows(h["exec_id"])
            if got != want or got < 0:
                bad.append((h["exec_id"], "rows %d of %d" % (got, want)))
    return bad


def wait_lease(wid, timeout=20):
    return wait_until(lambda: redis_raw("EXISTS", PREFIX + "worker:%s:lease" % wid) == ["1"], timeout)


def finished_ok(bid, n, what, timeout=120):
    final = wait_batch(bid, timeout)
    check(final is not None and final["status"] == "completed" and final["completed_instances"] == n,
          "%s: the batch completes" % what,
          final and [(e["execution_id"], e["status"], e.get("error")) for e in final["executions"]])
    ok, why = invariant_ok(bid)
    check(ok, "%s: counter invariant" % what, why)
    bad = wait_until(lambda: all_archived(bid) == [] or None, 20) is not None
    check(bad, "%s: PostgreSQL agrees with Redis, rows archived once" % what, all_archived(bid))
    return final


# the stack's workers step aside: the parts below decide which worker runs what
stack_workers = sorted(f[:-4] for f in os.listdir(RUN_DIR) if f.startswith("worker") and f.endswith(".pid"))
for name in stack_workers:
    try:
        os.kill(pid_of(name), signal.SIGTERM)
    except (OSError, ValueError):
        pass
check(wait_until(lambda: not any(pid_alive(pid_of(n)) for n in stack_workers), 30),
      "the stack's workers stopped")

try:
    # --- a lost claim reply: the jobs are in the worker's jobs list, not in its memory -------
    relay = Relay(REDIS_PORT)
    w = PrivateWorker("eo-claim-" + TAG, "redis://127.0.0.1:%d/0" % relay.port, lease_ms=4000,
                      heartbeat_ms=500)
    w.start()
    check(wait_lease(w.id), "lost claim: worker up")
    # only a job entry of a claim reply names this field; the reply is dropped, the script ran
    relay.drop_reply_with(b"started_at")
    before = created(AMC[0:3])
    bid = run_batch(IDS[0:3], "lost claim reply")
    final = finished_ok(bid, 3, "lost claim")
    check(relay.dropped == 1, "lost claim: a claim reply was lost on the way", relay.dropped)
    check("took up" in w.log(), "lost claim: the heartbeat's reconciliation took the jobs up",
          w.log()[-1500:])
    now = created(AMC[0:3])
    check(all(now[a] - before[a] == 1 for a in AMC[0:3]), "lost claim: one AMC execution per instance",
          (before, now))
    w.stop("lost claim worker")
    relay.close()

    # --- Redis refusing every write for a while (NOREPLICAS) --------------------------------
    w = PrivateWorker("eo-norepl-" + TAG, lease_ms=6000, heartbeat_ms=500)
    w.start()
    check(wait_lease(w.id), "write refusals: worker up")
    for a in AMC[3:7]:
        sim_put("/sim/profiles/" + a, {"latency_ms": 1500})
    bid = run_batch(IDS[3:7], "write refusals")
    refused = 0
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            h = redis_raw("HGET", PREFIX + "batch:{%s}" % bid, "status")
            if h and h[0] in ("completed", "partial", "failed", "cancelled"):
                break
            redis_raw("CONFIG", "SET", "min-replicas-to-write", "1")
            refused += 1
            time.sleep(1.2)
            redis_raw("CONFIG", "SET", "min-replicas-to-write", "0")
            time.sleep(0.8)
    finally:
        redis_raw("CONFIG", "SET", "min-replicas-to-write", "0")
    check(refused > 0, "write refusals: Redis refused writes %d time(s) during the batch" % refused)
    finished_ok(bid, 4, "write refusals")
    check("NOREPLICAS" in w.log(), "write refusals: the worker saw them and went on",
          w.log()[-1000:])
    w.stop("write refusals worker")

    # --- the longest ids the API takes ---------------------------------------------------------
    adv = "ENTITY" + uuid.uuid4().hex.upper() + "L" * 162
    st, body, raw = api("POST", "/admin/accounts", {
        "account_name": "long ids " + TAG, "advertiser_id": adv, "marketplace_id": "M" * 200,
        "region": "NA", "lwa_client_id": "c" * 200, "lwa_refresh_token": "Atzr|long-" + TAG,
        "lwa_client_secret": "cs-long"})
    check(st == 201 and len(adv) == 200, "long ids: account with 200-byte ids accepted", raw[:300])
    long_id = "amclong%s" % TAG
    st, body, raw = api("POST", "/admin/instances", {
        "instance_id": long_id, "instance_name": "long ids " + TAG, "region": "us-east-1",
        "account_id": body["account"]["id"] if st == 201 else "", "timezone": "America/Argentina/Buenos_Aires"})
    check(st == 201, "long ids: instance accepted", raw[:300])
    w = PrivateWorker("eo-long-" + TAG, lease_ms=6000, heartbeat_ms=500)
    w.start()
    if st == 201:
        bid = run_batch([body["instance"]["id"]], "long ids")
        finished_ok(bid, 1, "long ids")
    w.stop("long ids worker")

    # --- an outage longer than the lease: the worker claims its own jobs again ------------------
    relay = Relay(REDIS_PORT)
    # frequent polls: a second Job of one execution would archive at the same time as the first
    w = PrivateWorker("eo-outage-" + TAG, "redis://127.0.0.1:%d/0" % relay.port, lease_ms=3000,
                      heartbeat_ms=500, poll_initial_ms=100, poll_max_ms=150)
    w.start()
    check(wait_lease(w.id), "outage: worker up")
    for a in AMC[7:11]:
        sim_put("/sim/profiles/" + a, {"latency_ms": 9000})
    before = created(AMC[7:11])
    bid = run_batch(IDS[7:11], "outage longer than the lease")
    polling = wait_until(lambda: len([h for h in exec_hashes(bid) if h.get("phase") == "polling"]) == 4, 30)
    check(polling, "outage: every job polls AMC", [h.get("phase") for h in exec_hashes(bid)])
    relay.pause()
    time.sleep(3.8)		# the lease lapses
    n = redis_raw("EVAL", lua_source("reclaim"), 3, PREFIX + "workers", PREFIX + "queue", PREFIX + "events",
                  str(int(time.time() * 1000)), PREFIX, "100")
    check(n == ["4"], "outage: the worker's 4 jobs were reclaimed while it was cut off", n)
    relay.resume()
    final = finished_ok(bid, 4, "outage")
    now = created(AMC[7:11])
    check(all(now[a] - before[a] == 1 for a in AMC[7:11]), "outage: one AMC execution per instance",
          (before, now))
    tokens = psql("SELECT count(*) FROM workflow_executions e JOIN batch_executions b"
                  " ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1' AND e.claim_token > 0", bid)
    check(tokens == [["4"]], "outage: every archive write carried a claim token", tokens)
    log = w.log()
    check("claimed again" in log or "no longer held" in log, "outage: the worker knew its claims changed",
          log[-2000:])
    w.stop("outage worker")
    relay.close()

    # --- a lost create answer, then SIGTERM while the worker looks for the execution -------------
    x = AMC[11]
    sim_put("/sim/profiles/" + x, {"lost_create_rate": 1, "hang_rate": 1, "hang_ms": 60000,
                                  "endpoints": ["list"], "latency_ms": 500})
    w = PrivateWorker("eo-adopt1-" + TAG, lease_ms=3000, heartbeat_ms=500, shutdown_grace_ms=500,
                      http_timeout_ms=90000)
    w.start()
    before = created([x])
    bid = run_batch([IDS[11]], "lost create then SIGTERM")
    lost = wait_until(lambda: sim_instance_stats().get(x, {}).get("lost_creates", 0) >= 1, 30)
    check(lost, "adoption: the create's answer was lost")
    time.sleep(0.5)		# the worker now waits on the list call (held by amcsim)
    w.signal(signal.SIGTERM)
    w.stop("adoption worker 1")
    sim("DELETE", "/sim/profiles/" + x)
    w = PrivateWorker("eo-adopt2-" + TAG, lease_ms=3000, heartbeat_ms=500)
    w.start()
    finished_ok(bid, 1, "adoption after SIGTERM")
    now = created([x])
    check(now[x] - before[x] == 1, "adoption: the next worker adopted the execution, created none",
          (before, now))
    w.stop("adoption worker 2")

    # --- adoption matches exactly: an identical execution of another batch is not ours ----------
    y = AMC[12]
    w = PrivateWorker("eo-exact-" + TAG, lease_ms=6000, heartbeat_ms=500)
    w.start()
    first = run_batch([IDS[12]], "identical twin", tag="twin")
    finished_ok(first, 1, "identical twin")
    twin_amc = exec_hashes(first)[0].get("amc_execution_id")
    sim_put("/sim/profiles/" + y, {"rate_5xx": 1, "codes_5xx": [503], "endpoints": ["create"]})
    try:
        second = run_batch([IDS[12]], "identical twin", tag="twin")
        saw = wait_until(lambda: sim_instance_stats().get(y, {}).get("sent_5xx", 0) >= 1, 30)
        check(saw, "exact adoption: the create was answered 503")
    finally:
        sim("DELETE", "/sim/profiles/" + y)
    finished_ok(second, 1, "exact adoption")
    mine = exec_hashes(second)[0].get("amc_execution_id")
    check(mine and mine != twin_amc, "exact adoption: the other batch's identical execution was not adopted",
          (twin_amc, mine))
    w.stop("exact adoption worker")

    # --- a failure text that a byte cut would split inside a character ------------------------
    z = AMC[13]
    st, _ = sim_put("/sim/profiles/" + z, {"fail_rate": 1, "fail_reason": "x" + "\u00e9" * 1000})
    check(st == 200, "utf-8: amcsim takes a 2001-byte failure reason", st)
    w = PrivateWorker("eo-utf8-" + TAG, lease_ms=6000, heartbeat_ms=500)
    w.start()
    bid = run_batch([IDS[13]], "utf-8 failure text")
    final = wait_batch(bid, 60)
    check(final is not None and final["status"] == "failed", "utf-8: the batch fails", final and final["status"])
    landed = wait_until(lambda: all_archived(bid) == [] or None, 20) is not None
    check(landed, "utf-8: the failure landed in PostgreSQL too", all_archived(bid))
    rows = psql("SELECT coalesce(octet_length(error_message), 0) FROM workflow_executions e"
                " JOIN batch_executions b ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1'", bid)
    check(rows and 1000 < int(rows[0][0]) <= 1023, "utf-8: the long text was cut (on a character boundary)",
          rows)
    sim("DELETE", "/sim/profiles/" + z)
    w.stop("utf-8 worker")

    # --- a cancel PostgreSQL missed: the archive sweep brings it in ---------------------------
    # the batch waits while no worker runs; the API's cancel is replayed by hand without its
    # PostgreSQL update (as when that update failed): nobody else writes those rows
    bid = run_batch(IDS[14:17], "cancel missed by PostgreSQL")
    psql("UPDATE batch_executions SET enqueued_at = coalesce(enqueued_at, now()),"
         " created_at = created_at - interval '1 minute' WHERE batch_id = :'p1'", bid)
    out = redis_raw("EVAL", lua_source("cancel_batch"), 4, PREFIX + "batch:{%s}" % bid,
                    PREFIX + "batch:{%s}:execs" % bid, PREFIX + "queue", PREFIX + "events",
                    str(int(time.time() * 1000)), PREFIX)
    check(out and out[0] == "cancelled", "sweep: cancelled in Redis only", out)
    check(psql("SELECT status FROM batch_executions WHERE batch_id = :'p1'", bid) == [["pending"]],
          "sweep: PostgreSQL does not know yet")
    w = PrivateWorker("eo-sweep-" + TAG, lease_ms=2000, heartbeat_ms=500)
    w.start()
    agreed = wait_until(lambda: psql("SELECT status FROM batch_executions WHERE batch_id = :'p1'", bid)
                        == [["cancelled"]], 30, 0.5)
    check(agreed, "sweep: PostgreSQL says cancelled too",
          psql("SELECT e.status FROM workflow_executions e JOIN batch_executions b ON b.id ="
               " e.batch_execution_id WHERE b.batch_id = :'p1'", bid))
    check("brought in line with Redis" in w.log(), "sweep: the worker's archive sweep did it", w.log()[-600:])
    w.stop("sweep worker")

    # --- retention: a terminal batch leaves Redis, PostgreSQL serves it ------------------------
    w = PrivateWorker("eo-retain-" + TAG, lease_ms=2000, heartbeat_ms=500, redis_retention_s=1)
    w.start()
    bid = run_batch(IDS[17:18], "retention")
    finished_ok(bid, 1, "retention")
    gone = wait_until(lambda: redis_raw("EXISTS", PREFIX + "batch:{%s}" % bid) == ["0"], 30, 0.5)
    check(gone, "retention: the batch left Redis after its retention")
    check(redis_raw("ZSCORE", PREFIX + "batches", bid) == [""], "retention: and the batches index")
    st, body, _ = api("GET", "/workflows/batch/%s/status" % bid)
    check(st == 200 and body["batch_status"]["status"] == "completed" and body["batch_status"]["completed_instances"] == 1,
          "retention: status served from PostgreSQL", (st, body))
    st, body, _ = api("GET", "/workflows/batch/%s/results" % bid)
    check(st == 200 and body["batch_results"]["aggregated_data"]["total_rows"] > 0, "retention: results served",
          st)
    w.stop("retention worker")

    # --- downloads: a slow file, and one failed file of several ---------------------------------
    d1, d2 = AMC[18], AMC[19]
    sim_put("/sim/profiles/" + d1, {"hang_rate": 1, "hang_ms": 3500, "endpoints": ["download"]})
    sim_put("/sim/profiles/" + d2, {"split_files": 3, "url_403_first": True})
    w = PrivateWorker("eo-dl-" + TAG, lease_ms=6000, heartbeat_ms=500, http_timeout_ms=2000)
    w.start()
    before = sim_instance_stats()
    bid = run_batch(IDS[18:20], "downloads")
    finished_ok(bid, 2, "downloads")
    after = sim_instance_stats()
    dl = {a: after.get(a, {}).get("download", 0) - before.get(a, {}).get("download", 0) for a in (d1, d2)}
    check(dl[d1] == 1, "downloads: a file held 3.5 s past a 2 s request timeout came in one fetch", dl)
    check(dl[d2] == 6, "downloads: each of 3 files refused once was fetched again alone (6 fetches)", dl)
    w.stop("downloads worker")

    # --- no create after the execution's deadline ------------------------------------------------
    t0 = AMC[20]
    sim_put("/sim/profiles/" + t0, {"rate_5xx": 1, "codes_5xx": [503], "endpoints": ["create"]})
    w = PrivateWorker("eo-deadline-" + TAG, lease_ms=6000, heartbeat_ms=500, exec_timeout_s=4)
    w.start()
    before = created([t0])
    bid = run_batch([IDS[20]], "create past the deadline")
    final = wait_batch(bid, 60)
    err = final and final["executions"][0].get("error") or ""
    check(final is not None and final["status"] == "failed" and "before AMC created it" in err,
          "deadline: the execution fails at its deadline instead of creating again", (final and final["status"], err))
    check(created([t0])[t0] == before[t0], "deadline: AMC stored no execution", (before, created([t0])))
    sim("DELETE", "/sim/profiles/" + t0)
    w.stop("deadline worker")

    # --- a refresh token LWA rotates is stored, encrypted ----------------------------------------
    st, body, raw = api("POST", "/admin/accounts", {
        "account_name": "rotating " + TAG, "advertiser_id": "ENTITYROT" + TAG.upper(),
        "marketplace_id": "ATVPDKIKX0DER", "region": "NA", "lwa_client_id": "cid-rot",
        "lwa_refresh_token": "Atzr|ROTATE-" + TAG, "lwa_client_secret": "cs-rot"})
    check(st == 201, "rotation: account created", raw[:200])
    acct_id = body["account"]["id"] if st == 201 else ""
    st, body, raw = api("POST", "/admin/instances", {
        "instance_id": "amcrot%s" % TAG, "instance_name": "rotating " + TAG, "region": "us-east-1",
        "account_id": acct_id})
    check(st == 201, "rotation: instance created", raw[:200])
    stored = psql("SELECT encode(lwa_refresh_token_enc, 'hex') FROM amc_accounts WHERE id = :'p1'", acct_id)
    w = PrivateWorker("eo-rotate-" + TAG, lease_ms=6000, heartbeat_ms=500)
    w.start()
    if st == 201:
        bid = run_batch([body["instance"]["id"]], "rotated refresh token")
        finished_ok(bid, 1, "rotated refresh token")
    now_stored = wait_until(lambda: psql("SELECT encode(lwa_refresh_token_enc, 'hex') FROM amc_accounts"
                                         " WHERE id = :'p1'", acct_id) != stored or None, 10)
    check(now_stored, "rotation: the new refresh token replaced the stored one")
    check("rotated LWA refresh token is stored" in w.log() and "Atzr|" not in w.log(),
          "rotation: logged, and no token in the log", w.log()[-600:])
    w.stop("rotation worker")

    # --- AMC says CANCELLED: a cancel by hand fails the execution; amcbatch's own does not ------
    c1, c2 = AMC[21], AMC[22]
    for a in (c1, c2):
        sim_put("/sim/profiles/" + a, {"latency_ms": 20000})
    # heartbeats far apart: the holder learns of the cancel from its polls
    w = PrivateWorker("eo-amccancel-" + TAG, lease_ms=15000, heartbeat_ms=5000, poll_initial_ms=300,
                      poll_max_ms=600)
    w.start()
    bid = run_batch([IDS[21]], "cancelled on AMC by hand")
    amc_id = wait_until(lambda: exec_hashes(bid)[0].get("amc_execution_id") or None, 30)
    st, _ = amc_call(acct, "PUT", c1, amc_id or "-", {"status": "CANCELLED"})
    check(amc_id and st == 200, "by hand: the AMC execution cancelled outside amcbatch", (amc_id, st))
    final = wait_batch(bid, 30)
    err = final and final["executions"][0].get("error") or ""
    check(final is not None and final["status"] == "failed" and "not through amcbatch" in err,
          "by hand: the execution fails, saying why", (final and final["status"], err))

    # the batch is cancelled while the holder's status call is on its way (amcsim holds it
    # 2.5 s), and another worker cancels the AMC execution meanwhile: the answer CANCELLED
    # must not turn the cancelled execution into a failed one
    bid = run_batch([IDS[22]], "cancelled on AMC first")
    amc_id = wait_until(lambda: exec_hashes(bid)[0].get("amc_execution_id") or None, 30)
    w2 = PrivateWorker("eo-amccancel2-" + TAG, lease_ms=10000, heartbeat_ms=500)
    w2.start()
    check(amc_id and wait_lease(w2.id), "cancelled first: held, and a second worker up")
    sim_put("/sim/profiles/" + c2, {"latency_ms": 20000, "hang_rate": 1, "hang_ms": 2500, "endpoints": ["get"]})
    time.sleep(0.8)		# the holder's next status call is held
    st, body, raw = api("POST", "/workflows/batch/%s/cancel" % bid)
    check(st == 200, "cancelled first: the batch cancelled", raw[:200])
    gone = wait_until(lambda: "of a cancelled batch: cancelled" in w2.log() or None, 5)
    check(gone, "cancelled first: the other worker cancelled it on AMC", w2.log()[-600:])
    time.sleep(3)		# several polls of the holder, each answered CANCELLED
    mine = [l for l in w.log().splitlines() if bid in l]
    check(not any("failed:" in l for l in mine) and any("finished: cancelled" in l for l in mine),
          "cancelled first: the holder let go of it as cancelled, never taking it for failed", mine[-6:])
    st, body, _ = api("GET", "/workflows/batch/%s/status" % bid)
    check(st == 200 and body["batch_status"]["status"] == "cancelled"
          and body["batch_status"]["cancelled_instances"] == 1,
          "cancelled first: the batch and its execution stay cancelled", (st, body))
    landed = wait_until(lambda: all_archived(bid) == [] or None, 20) is not None
    check(landed, "cancelled first: PostgreSQL agrees", all_archived(bid))
    ok, why = invariant_ok(bid)
    check(ok, "cancelled first: counter invariant", why)
    for a in (c1, c2):
        sim("DELETE", "/sim/profiles/" + a)
    w2.stop("second cancel worker")
    w.stop("AMC cancel worker")

    # --- Redis loses a running batch (the tail of its AOF), which is then cancelled through
    # PostgreSQL: the holder, finding its record gone, asks PostgreSQL and cancels its AMC
    # execution, which nothing else knows about -----------------------------------------------
    c3 = AMC[23]
    sim_put("/sim/profiles/" + c3, {"latency_ms": 20000})
    w = PrivateWorker("eo-lostcancel-" + TAG, lease_ms=6000, heartbeat_ms=500, poll_initial_ms=300,
                      poll_max_ms=600)
    w.start()
    bid = run_batch([IDS[23]], "lost by Redis, then cancelled")
    amc_id = wait_until(lambda: exec_hashes(bid)[0].get("amc_execution_id") or None, 30)
    in_pg = wait_until(lambda: psql("SELECT e.amc_execution_id FROM workflow_executions e JOIN batch_executions b "
                                    "ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1'", bid) == [[amc_id]]
                       or None, 10)
    check(amc_id and in_pg, "lost by Redis: the AMC execution runs, PostgreSQL has its id", amc_id)
    eid = redis_raw("LRANGE", PREFIX + "batch:{%s}:execs" % bid, 0, -1)[0]
    w.signal(signal.SIGSTOP)	# the loss and the cancel happen between two of its steps
    redis_raw("DEL", PREFIX + "batch:{%s}" % bid, PREFIX + "batch:{%s}:execs" % bid,
              PREFIX + "batch:{%s}:queue" % bid, PREFIX + "exec:{%s}:%s" % (bid, eid))
    redis_raw("LREM", PREFIX + "worker:%s:jobs" % w.id, "0", "%s:%s" % (bid, eid))
    st, body, raw = api("POST", "/workflows/batch/%s/cancel" % bid)
    w.signal(signal.SIGCONT)
    check(st == 200, "lost by Redis: cancelled through PostgreSQL", raw[:200])
    stopped = wait_until(lambda: amc_status(acct, c3, amc_id) == "CANCELLED" or None, 15)
    check(stopped, "lost by Redis: its holder cancels the AMC execution nothing else knows",
          (amc_status(acct, c3, amc_id), w.log()[-800:]))
    st, body, _ = api("GET", "/workflows/batch/%s/status" % bid)
    check(st == 200 and body["batch_status"]["status"] == "cancelled", "lost by Redis: the batch stays cancelled",
          (st, body))
    sim("DELETE", "/sim/profiles/" + c3)
    w.stop("lost-batch worker")

    # --- Redis loses a cancel its holder had already seen: the holder's finish (outcome
    # cancelled) finds the exec running; it must not drop it from its jobs list, but make
    # Redis cancel it again (PostgreSQL says cancelled) -----------------------------------------
    c4 = AMC[24]
    sim_put("/sim/profiles/" + c4, {"latency_ms": 20000})
    relay = Relay(REDIS_PORT)
    w = PrivateWorker("eo-relost-" + TAG, "redis://127.0.0.1:%d/0" % relay.port, lease_ms=6000,
                      heartbeat_ms=500, poll_initial_ms=300, poll_max_ms=600)
    w.start()
    bid = run_batch([IDS[24]], "cancel lost by Redis")
    polling = wait_until(lambda: exec_hashes(bid)[0].get("phase") == "polling" or None, 30)
    eid = redis_raw("LRANGE", PREFIX + "batch:{%s}:execs" % bid, 0, -1)[0]
    ref = "%s:%s" % (bid, eid)
    ekey, bkey = PREFIX + "exec:{%s}:%s" % (bid, eid), PREFIX + "batch:{%s}" % bid
    snap_e, snap_b = redis_raw("HGETALL", ekey), redis_raw("HGETALL", bkey)
    held = {"n": 0}

    def hold_cancelled_finish(conn, data):
        if ref.encode() in data and b"cancelled" in data and held["n"] == 0:
            held["n"] += 1
            return HOLD_THEN_CUT
        return FORWARD
    relay.rule = hold_cancelled_finish
    st, body, raw = api("POST", "/workflows/batch/%s/cancel" % bid)
    check(polling and st == 200 and relay.held.wait(15), "cancel lost: the holder's cancelled finish is held",
          (st, w.log()[-600:]))
    # Redis restarts without the cancel's writes (the tail of its AOF)
    redis_raw("DEL", ekey, bkey)
    redis_raw("HSET", ekey, *snap_e)
    redis_raw("HSET", bkey, *snap_b)
    redis_raw("ZREM", PREFIX + "amc_cancels", ref)
    relay.release.set()
    gone = wait_until(lambda: redis_hash(ekey).get("state") == "cancelled"
                      and redis_raw("LLEN", PREFIX + "worker:%s:jobs" % w.id) == ["0"] or None, 20)
    check(gone, "cancel lost: the holder made Redis cancel it again and let go",
          (redis_hash(ekey).get("state"), redis_raw("LLEN", PREFIX + "worker:%s:jobs" % w.id),
           w.log()[-800:]))
    ok, why = invariant_ok(bid)
    check(ok and redis_hash(bkey).get("status") == "cancelled", "cancel lost: the batch is cancelled again", why)
    sim("DELETE", "/sim/profiles/" + c4)
    w.stop("lost-cancel worker")
    relay.close()
finally:
    PrivateWorker.kill_all()
    redis_raw("CONFIG", "SET", "min-replicas-to-write", "0")
    for a in AMC:
        sim("DELETE", "/sim/profiles/" + a)
    r = stack("start")
    check(r.returncode == 0 and all(pid_alive(pid_of(n)) for n in stack_workers),
          "the stack's workers started again", r.stderr[-500:])

done()
