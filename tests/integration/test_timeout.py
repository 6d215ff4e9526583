"""Per-execution timeout and access-token expiry (issue 3), with a private worker (4 s execution
timeout, fast polling) while the stack's workers are paused; everything is restored at the end.
- An execution still running on AMC after exec_timeout_s ends failed with the reason, its AMC
  execution is cancelled on AMC's side, and the other instance of the batch is unaffected.
- AMC answering 401 because the access token expired mid-execution: the worker refreshes the
  token and carries on; the execution completes."""
import os
import signal
import subprocess

from lib import (RUN_DIR, SIM, amc_status, check, create_workflow, done, exec_hashes, fleet_account,
                 invariant_ok, pid_alive, pid_of, require_stack, sim_instance_stats, sim_put, submit,
                 wait_batch, wait_until)

require_stack()
BUILD = os.environ.get("BUILD_DIR", "build")
if not (SIM and RUN_DIR):
    print("ok - # SKIP needs AMCSIM_URL and RUN_DIR")
    raise SystemExit(77)

acct, insts = fleet_account("timeout", 3)
(slow_uuid, slow_amc), (fast_uuid, fast_amc), (tok_uuid, tok_amc) = insts
wf = create_workflow("timeout wf", "SELECT campaign, SUM(clicks) AS clicks FROM impressions GROUP BY campaign")

stack_workers = []
for n in ("worker1", "worker2"):
    try:
        stack_workers.append(pid_of(n))
    except OSError:
        pass
env = dict(os.environ)
with open(os.path.join(RUN_DIR, "secret.key")) as f:
    env["AMCBATCH_SECRET_KEY"] = f.read().strip()
env.update({
    "AMCBATCH_WORKER_ID": "timeout-test-%d" % os.getpid(),
    "AMCBATCH_REDIS_URL": os.environ["REDIS_URL"],
    "AMCBATCH_DATABASE_URL": os.environ["DATABASE_URL"],
    "AMCBATCH_AMC_BASE_URL": SIM,
    "AMCBATCH_AMC_TOKEN_URL": SIM + "/auth/o2/token",
    "AMCBATCH_SPOOL_DIR": os.path.join(RUN_DIR, "spool"),
    "AMCBATCH_EXEC_TIMEOUT_S": "4",
    "AMCBATCH_POLL_INITIAL_MS": "200",
    "AMCBATCH_POLL_MAX_MS": "500",
})
log_path = os.path.join(RUN_DIR, "worker-timeout.log")
worker = None
try:
    for pid in stack_workers:
        os.kill(pid, signal.SIGSTOP)
    # one instance's executions stay RUNNING for 30 s on AMC, the other finishes at once
    sim_put("/sim/profiles/" + slow_amc, {"latency_ms": 30000})
    with open(log_path, "ab") as log:
        worker = subprocess.Popen([os.path.join(BUILD, "amcbatch-worker")], env=env,
                                  stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    st, body, raw = submit(wf, [slow_uuid, fast_uuid], {"startDate": "2025-03-01", "endDate": "2025-03-07"},
                           name="timeout batch")
    check(st in (200, 201), "submit", raw[:300])
    bid = body["batch"]["batch_id"]
    final = wait_batch(bid, 60)
    check(final is not None and final["status"] == "partial", "batch ends partial", final)
    by_inst = {e["target_instance_id"]: e for e in (final or {}).get("executions", [])}
    slow, fast = by_inst.get(slow_uuid, {}), by_inst.get(fast_uuid, {})
    check(slow.get("status") == "failed" and "timed out" in (slow.get("error") or ""),
          "the slow execution failed with the timeout as its reason", slow)
    check(fast.get("status") == "completed", "the other instance completed", fast)
    amc_ids = {h.get("instance_uuid"): h.get("amc_execution_id") for h in exec_hashes(bid)}
    slow_amc_exec = amc_ids.get(slow_uuid)
    check(bool(slow_amc_exec), "the slow execution had been created on AMC", amc_ids)
    check(wait_until(lambda: amc_status(acct, slow_amc, slow_amc_exec) == "CANCELLED", 10),
          "its AMC execution was cancelled on AMC's side", amc_status(acct, slow_amc, slow_amc_exec))
    ok, why = invariant_ok(bid)
    check(ok, "counter invariant", why)

    # tokens on this instance expire after 1 s while its execution runs 2.5 s: polls get 401
    sim_put("/sim/profiles/" + tok_amc, {"token_ttl_s": 1, "latency_ms": 2500})
    before = sim_instance_stats().get(tok_amc, {}).get("unauthorized", 0)
    with open(log_path, "rb") as f:
        log_start = len(f.read())
    st, body, raw = submit(wf, [tok_uuid], {"startDate": "2025-03-01", "endDate": "2025-03-07"},
                           name="token expiry batch")
    check(st in (200, 201), "submit token-expiry batch", raw[:300])
    tbid = body["batch"]["batch_id"]
    final = wait_batch(tbid, 60)
    check(final is not None and final["status"] == "completed", "batch completes through 401s", final)
    after = sim_instance_stats().get(tok_amc, {}).get("unauthorized", 0)
    check(after > before, "AMC refused an expired token (401) during the run", (before, after))
    with open(log_path, "rb") as f:
        tail = f.read()[log_start:].decode(errors="replace")
    n = tail.count("account %s: access token refreshed" % acct["id"])
    check(n >= 1, "the worker refreshed the access token after the 401", n)
    ok, why = invariant_ok(tbid)
    check(ok, "counter invariant (token batch)", why)
finally:
    if worker is not None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    check(worker is None or worker.returncode == 0, "private worker exits 0 on SIGTERM",
          None if worker is None else worker.returncode)
    for amc in (slow_amc, tok_amc):
        subprocess.run(["curl", "-fsS", "-X", "DELETE", SIM + "/sim/profiles/" + amc], capture_output=True)
    for pid in stack_workers:
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
done()
