"""waiting_for's details (issue 13: "Why is this still running?"), each reached by waiting for
a state, never a clock:
- queued behind N jobs: a private API on a Redis prefix of its own, no worker: a batch of three
  stays queued, and each execution says how many of its batch are claimed before it (`ahead`);
- instance cap N/N: a private worker on that prefix with instance_cap = 1 and an AMC host that
  accepts connections and never answers (every claimed job keeps its slot): a second batch on
  the same instance is parked and says `running` 1 of `cap` 1;
- AMC running, next poll: on the stack, a slow query: amc_running gets `next_poll_at` and the
  words "next poll in";
- PostgreSQL unavailable: the test holds the execution's row lock so the archive waits, then
  stops PostgreSQL: the worker's archive retries without a connection and waiting_for says
  "waiting for PostgreSQL" with `pg_down_since`; PostgreSQL back, the batch completes."""
import os
import socket
import subprocess
import tempfile
import time
import uuid

import lib
from lib import (INSTANCES, WORKFLOW, PrivateApi, PrivateWorker, api, check, create_workflow, done,
                 pg_start, pg_stop, redis_raw, require_stack, status_executions, submit_paced, wait_batch,
                 wait_until)

require_stack()

prefix = "amcbwt%s:" % uuid.uuid4().hex[:6]
X, Y, Z = INSTANCES[0], INSTANCES[1], INSTANCES[2]

# the AMC and LWA host of the private worker: the kernel completes the connections, nobody
# reads them
amc = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
amc.bind(("127.0.0.1", 0))
amc.listen(64)
amc_url = "http://127.0.0.1:%d" % amc.getsockname()[1]

tmp = tempfile.mkdtemp(prefix="amcb-waiting-")
conf = os.path.join(tmp, "amcbatch.conf")
with open(conf, "w") as f:
    f.write("redis_prefix = %s\ninstance_cap = 1\nschedule_tick_ms = 0\nenqueue_janitor_ms = 3600000\n"
            "shutdown_grace_ms = 200\namc_base_url = %s\namc_token_url = %s/auth/o2/token\n"
            % (prefix, amc_url, amc_url))


def waits(batch_id):
    return [e["waiting_for"] or {} for e in status_executions(batch_id)]


def batch(instances, label):
    st, body, raw = submit_paced(WORKFLOW, instances, name="waiting " + label)
    check(st == 201, "batch %s accepted" % label, raw[:300])
    return body["batch"]["batch_id"] if st == 201 else None


worker = PrivateWorker("waiting-" + prefix[6:12], conf=conf)
batches = []
locker = None
try:
    with PrivateApi(conf=conf) as url:
        if url is None:
            print("ok - # SKIP no amcbatch-api in BUILD_DIR")
            raise SystemExit(77)
        # ---- queued behind N jobs: nobody claims on this prefix -----------------------------------
        a = batch([X, Y, Z], "queued")
        batches.append(a)
        w = waits(a)
        check([x.get("code") for x in w] == ["queued"] * 3, "three queued executions", w)
        check([x.get("ahead") for x in w] == [0, 1, 2],
              "each says how many of its batch are claimed before it (submission order)", w)
        check(w and w[2].get("text") == "queued behind 2 jobs of its batch", "the words: queued behind 2 jobs",
              w[2:])
        st, _, raw = api("POST", "/workflows/batch/%s/cancel" % a)
        check(st == 200, "queued batch cancelled", raw[:200])

        # ---- instance cap 1/1: the first job keeps its slot, the second is parked ------------------
        worker.start()
        b1 = batch([X], "holds the slot")
        batches.append(b1)
        ok = wait_until(lambda: (waits(b1) or [{}])[0].get("code") not in (None, "queued"), 30)
        check(ok, "the private worker claimed the first job", waits(b1))
        b2 = batch([X], "parked")
        batches.append(b2)
        ok = wait_until(lambda: (waits(b2) or [{}])[0].get("code") == "instance_cap", 30)
        w = (waits(b2) or [{}])[0]
        check(ok and w.get("running") == 1 and w.get("cap") == 1,
              "parked behind the instance cap: running 1 of cap 1", w)
        check("instance cap reached: 1/1" in w.get("text", ""), "the words: instance cap reached: 1/1", w)
        caps = dict(zip(*[iter(redis_raw("HGETALL", prefix + "caps"))] * 2))
        check(caps.get("instance_cap") == "1", "the worker published its caps (P caps)", caps)
        for b in (b1, b2):
            st, _, raw = api("POST", "/workflows/batch/%s/cancel" % b)
            check(st == 200, "batch %s cancelled" % b, raw[:200])
        worker.stop("waiting worker")

    # ---- on the stack: AMC running with the next poll, then PostgreSQL unavailable ---------------
    slow = create_workflow("waiting slow", "SELECT count(*) AS n FROM impressions CROSS JOIN pg_sleep({{sleep}})",
                           {"sleep": 6})
    st, body, raw = submit_paced(slow, [X], parameters={"startDate": "2025-01-01", "endDate": "2025-01-02"},
                                 name="waiting slow")
    check(st in (200, 201), "slow batch accepted", raw[:300])
    c = body["batch"]["batch_id"]
    ok = wait_until(lambda: (waits(c) or [{}])[0].get("next_poll_at") is not None, 60)
    w = (waits(c) or [{}])[0]
    check(ok and w.get("code") == "amc_running" and "next poll" in w.get("text", ""),
          "AMC running: next_poll_at and the words 'next poll'", w)
    exec_id = status_executions(c)[0]["execution_id"]
    # the archive takes this row's lock first: holding it keeps the archive waiting
    locker = subprocess.Popen(["psql", lib.DB, "-Xq", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    locker.stdin.write("BEGIN;\nSELECT 'locked' FROM workflow_executions WHERE execution_id = '%s' FOR UPDATE;\n"
                       % exec_id)
    locker.stdin.flush()
    check(locker.stdout.readline() is not None, "the test holds the execution's row")
    ok = wait_until(lambda: (waits(c) or [{}])[0].get("code") == "archiving", 60)
    check(ok, "the archive is waiting for the row", waits(c))
    ok, err = pg_stop()
    stopped = time.time()
    check(ok, "PostgreSQL stopped while the execution archives", err)
    try:
        ok = wait_until(lambda: (waits(c) or [{}])[0].get("pg_down_since") is not None, 30)
        w = (waits(c) or [{}])[0]
        check(ok and w.get("code") == "archiving" and w.get("text", "").startswith(
            "waiting for PostgreSQL (unavailable since "), "archiving says: waiting for PostgreSQL", w)
        # past AUTH_TTL_MS (5 s) into the outage the token cannot be checked again: the verdict
        # PostgreSQL gave before it still holds (src/api/auth.h, AUTH_STALE_MS), so the status
        # Redis serves stays readable; a token the API never verified gets 503
        time.sleep(max(0.0, stopped + 6.5 - time.time()))
        st, body, raw = api("GET", "/workflows/batch/%s/status" % c)
        check(st == 200 and body["batch_status"]["executions"][0]["waiting_for"]["code"] == "archiving",
              "6.5 s into the outage the status still answers, with the same token", raw[:300])
        st, body, raw = api("GET", "/workflows/batch/%s/status" % c, token="amcb_" + "0" * 40)
        check(st == 503 and body["error"]["code"] == "database_unavailable",
              "a token never verified gets 503 database_unavailable", raw[:300])
    finally:
        ok, err = pg_start()
        check(ok, "PostgreSQL started again", err)
    final = wait_batch(c, 120)
    check(final is not None and final["status"] == "completed", "the batch completes once PostgreSQL is back",
          final and final["status"])
    h = lib.redis_hash(lib.PREFIX + "exec:{%s}:%s" % (c, exec_id))
    check(h.get("pg_down_since") == "", "pg_down_since emptied once PostgreSQL answered", h.get("pg_down_since"))
finally:
    if locker is not None:
        locker.kill()
        locker.wait()
    PrivateWorker.kill_all()
    amc.close()
    for k in filter(None, redis_raw("KEYS", prefix + "*")):
        redis_raw("DEL", k)
    os.unlink(conf)
    os.rmdir(tmp)
done()
