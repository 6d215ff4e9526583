"""Submission edges (issue 9, holes 7, 8 and 12), each against the real stack:

* the time window is resolved once, at submission, and stored with every execution
  (PostgreSQL and the Redis exec hash), and the workflow SQL with the batch (hole 7);
* execution and batch ids never fail a submission on a collision: the insert function re-draws
  colliding candidates (called directly with archived ids), and an amcbatch-api whose random
  source is pinned (LD_PRELOAD, test side only) still accepts batch after batch (hole 12);
* a lost enqueue_batch reply, a lost COMMIT answer, an Idempotency-Key replay while the enqueue
  is failing, and a Redis that cannot be reached after the commit all end in a 201 and a batch
  that runs: a private amcbatch-api talks to Redis or PostgreSQL through a TCP relay of this
  test that cuts the connection at the chosen request (hole 8); batches the enqueue janitor
  cannot hand to Redis do not hold up the ones behind them."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import lib
from lib import (CUT, CUT_AFTER_REPLY, DB, FORWARD, HOLD_THEN_CUT, INSTANCES, REDIS,
                 WORKFLOW, PrivateApi, Relay, api, batch_hash, check, create_workflow, done, exec_hashes,
                 port_of, psql, require_stack, wait_batch, wait_until)

require_stack()
BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(lib.TOP, "build"))
if not os.access(os.path.join(BUILD_DIR, "amcbatch-api"), os.X_OK):
    print("ok - # SKIP needs BUILD_DIR with amcbatch-api (run through scripts/test)")
    raise SystemExit(77)


REDIS_PORT, PG_PORT = port_of(REDIS), port_of(DB)
# what a private API needs: no rate limit (earlier tests used the user's slots), its own janitor
# slow unless a test wants it (the stack's API sweeps too)
PRIVATE = {"submit_rate_per_min": 0, "enqueue_janitor_ms": 60000}


def enqueue_request(data):
    """True for the chunk that carries an enqueue_batch call (the only command with batch fields)."""
    return b"EVALSHA" in data and b"batch_execution_id" in data


def post(path, body, headers=None):
    """POST to lib.URL (the private API inside a PrivateApi block): (status, JSON, headers)."""
    req = urllib.request.Request(lib.URL + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + lib.TOKEN)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            return e.code, json.loads(payload), dict(e.headers)
        except ValueError:
            return e.code, {"raw": payload[:300].decode(errors="replace")}, dict(e.headers)


def batch_runs(bid, n, label):
    """The batch ends completed, once in PostgreSQL and once in Redis, with n executions."""
    final = wait_batch(bid, 120)
    check(final is not None and final["status"] == "completed", label + ": the batch runs to completed",
          final)
    rows = psql("SELECT status, enqueued_at IS NOT NULL, (SELECT count(*) FROM workflow_executions e"
                " WHERE e.batch_execution_id = b.id) FROM batch_executions b WHERE batch_id = :'p1'", bid)
    check(rows == [["completed", "t", str(n)]], label + ": PostgreSQL holds it, enqueued, %d executions" % n,
          rows)
    check(int(batch_hash(bid).get("total", "0")) == n and len(exec_hashes(bid)) == n,
          label + ": Redis holds it once with %d executions" % n, batch_hash(bid))


BODY = {"instance_ids": [INSTANCES[0], INSTANCES[4]], "parameters": {"minImpressions": 0}}


RUN = uuid.uuid4().hex[:6]	# batch names of this run (the stack may hold earlier runs')


def body_named(name):
    return dict(BODY, name="%s %s" % (name, RUN))


# ---- hole 7: the window is resolved once, at submission, and stored -----------------------------

def day(t):
    return time.strftime("%Y-%m-%dT00:00:00", time.gmtime(t))


nodate_sql = "SELECT campaign, SUM(impressions) AS impressions FROM impressions GROUP BY campaign"
wf_nodate = create_workflow("window at submission", nodate_sql)
t0 = time.time()
st, body, raw = api("POST", "/workflows/%s/batch-execute" % wf_nodate,
                    {"instance_ids": [INSTANCES[0], INSTANCES[8]], "name": "window default",
                     "instance_parameters": {INSTANCES[8]: {"endDate": "2024-03-10"}}})
t1 = time.time()
check(st == 201, "window: submit without dates", raw[:300])
if st == 201:
    bid = body["batch"]["batch_id"]
    # the default window: the 7 full UTC days ending 2 days before today (either side of midnight)
    want = {(day(t - 9 * 86400), day(t - 2 * 86400)) for t in (t0, t1)}
    rows = psql("SELECT e.target_instance_id, e.time_window_start, e.time_window_end, e.time_window_timezone,"
                " i.timezone FROM workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id"
                " JOIN instances i ON i.id = e.target_instance_id WHERE b.batch_id = :'p1'", bid)
    got = {r[0]: r[1:] for r in rows}
    check(len(got) == 2 and tuple(got.get(INSTANCES[0], [""] * 4)[:2]) in want,
          "window: the default window is stored in PostgreSQL", (got, want))
    check(tuple(got.get(INSTANCES[8], [""] * 4)[:2]) == ("2024-03-04T00:00:00", "2024-03-11T00:00:00"),
          "window: an override's endDate gives that instance its own window", got)
    check(all(r[2] == r[3] and r[2] != "" for r in got.values()),
          "window: time_window_timezone is the instance's time zone", got)
    check(psql("SELECT sql_query FROM batch_executions WHERE batch_id = :'p1'", bid) == [[nodate_sql]],
          "window: the workflow SQL is stored with the batch")
    hashes = {h.get("instance_uuid"): h for h in exec_hashes(bid)}
    check(all((hashes.get(k, {}).get("window_start"), hashes.get(k, {}).get("window_end")) == tuple(v[:2])
              for k, v in got.items()),
          "window: the Redis exec hashes carry the same window_start/window_end", hashes)
    final = wait_batch(bid, 120)
    check(final is not None and final["status"] == "completed", "window: the batch completes", final)


# ---- hole 12: ids never fail a submission ------------------------------------------------------

# The insert function, called with candidate ids that the archive already holds (and a duplicate
# inside the batch), inside a transaction that is rolled back.
taken = psql("SELECT b.batch_id, e.execution_id FROM batch_executions b JOIN workflow_executions e"
             " ON e.batch_execution_id = b.id ORDER BY b.created_at LIMIT 1")
admin = psql("SELECT id FROM users WHERE role = 'admin' ORDER BY created_at LIMIT 1")[0][0]
if check(len(taken) == 1, "collision: an archived batch to collide with", taken):
    tb, te = taken[0]
    new_uuid = str(uuid.uuid4())
    execs = [{"id": str(uuid.uuid4()), "exec_id": te, "instance_uuid": INSTANCES[i],
              "amc_instance_id": "amcx%d" % i, "parameters": "{}", "window_start": "2024-01-01T00:00:00",
              "window_end": "2024-01-08T00:00:00", "timezone": "UTC"} for i in range(3)]
    sql = """
BEGIN;
SELECT batch_id, created FROM amcbatch_insert_batch(:'p1'::uuid, :'p2', :'p3'::uuid, :'p4'::uuid, 'collide',
       NULL, :'p5'::jsonb, '{}'::jsonb, '{}'::jsonb, 'SELECT 1', :'p6'::jsonb);
SELECT batch_id, created FROM amcbatch_insert_batch(:'p1'::uuid, 'batch_00000000', :'p3'::uuid, :'p4'::uuid,
       'collide', NULL, :'p5'::jsonb, '{}'::jsonb, '{}'::jsonb, 'SELECT 1', :'p6'::jsonb);
SELECT string_agg(execution_id, ' ' ORDER BY execution_id), count(DISTINCT execution_id),
       bool_and(execution_id ~ '^exec_[0-9a-f]{8}$'), bool_and(execution_id <> :'p7')
  FROM workflow_executions WHERE batch_execution_id = :'p1'::uuid;
ROLLBACK;
"""
    try:
        out = psql(sql, new_uuid, tb, WORKFLOW, admin, json.dumps(INSTANCES[:3]), json.dumps(execs), te)
    except subprocess.CalledProcessError as e:
        out = [["error", e.stderr.strip()[:300]]]
    check(len(out) == 3 and out[0][0] != tb and re.fullmatch(r"batch_[0-9a-f]{8}", out[0][0]) and
          out[0][1] == "t", "collision: a taken batch id is re-drawn", out)
    check(len(out) == 3 and out[1] == [out[0][0], "f"],
          "collision: the same batch uuid again is recognised (its id, not created)", out)
    check(len(out) == 3 and out[2][1:] == ["3", "t", "t"],
          "collision: taken and duplicate execution ids are re-drawn, all distinct", out)

# An amcbatch-api whose 4-byte random draws are all 0xab: every candidate id of every
# submission is batch_abababab / exec_abababab (UUIDs stay random).
shim_dir = tempfile.mkdtemp(prefix="amcb-shim-")
shim = os.path.join(shim_dir, "pinrandom.so")
cc = shutil.which("cc") or shutil.which("gcc")
src = os.path.join(shim_dir, "pinrandom.c")
with open(src, "w") as f:
    f.write("#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <string.h>\n#include <sys/types.h>\n"
            "ssize_t getrandom(void *buf, size_t n, unsigned flags) {\n"
            "\tstatic ssize_t (*real)(void *, size_t, unsigned);\n"
            "\tif (n == 4) { memset(buf, 0xab, 4); return 4; }\n"
            "\tif (!real) real = (ssize_t (*)(void *, size_t, unsigned))dlsym(RTLD_NEXT, \"getrandom\");\n"
            "\treturn real(buf, n, flags);\n}\n")
built = cc is not None and subprocess.run([cc, "-shared", "-fPIC", "-o", shim, src, "-ldl"],
                                          capture_output=True).returncode == 0
if not built:
    print("ok - # SKIP collision: no C compiler for the LD_PRELOAD shim")
else:
    pinned = PrivateApi(**PRIVATE)
    pinned.env["LD_PRELOAD"] = shim
    # an ASan build wants its runtime first in the library list; the shim only adds a symbol
    asan = os.environ.get("ASAN_OPTIONS", "")
    pinned.env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    pinned_batches = []
    with pinned as url:
        for k in range(2):
            st, body, _ = post("/workflows/%s/batch-execute" % WORKFLOW,
                               {"instance_ids": INSTANCES[:3], "name": "pinned ids %d" % k})
            ok = st == 201 and body.get("success")
            check(ok, "collision: submission %d with pinned candidate ids is accepted" % (k + 1), (st, body))
            if ok:
                pinned_batches.append(body["batch"])
    if len(pinned_batches) == 2:
        ids = [e["execution_id"] for b in pinned_batches for e in b["executions"]]
        bids = [b["batch_id"] for b in pinned_batches]
        check(len(set(ids)) == 6 and all(re.fullmatch(r"exec_[0-9a-f]{8}", i) for i in ids) and
              len(set(bids)) == 2 and all(re.fullmatch(r"batch_[0-9a-f]{8}", b) for b in bids),
              "collision: every id is unique and keeps the seed's format", (bids, ids))
        for b in pinned_batches:
            rows = psql("SELECT e.execution_id FROM workflow_executions e JOIN batch_executions b"
                        " ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1' ORDER BY 1", b["batch_id"])
            check(sorted(r[0] for r in rows) == sorted(e["execution_id"] for e in b["executions"]),
                  "collision: the 201 names the ids stored in PostgreSQL", rows)
            batch_runs(b["batch_id"], 3, "collision " + b["batch_id"])
shutil.rmtree(shim_dir, ignore_errors=True)


# ---- hole 8: after the commit, the batch runs --------------------------------------------------

# (a) enqueue_batch ran but its reply was lost: the retry answers -2, which is success.
state = {"cut": False}


def lose_enqueue_reply(conn, data):
    if not state["cut"] and enqueue_request(data):
        state["cut"] = True
        return CUT_AFTER_REPLY
    return FORWARD


relay = Relay(REDIS_PORT, lose_enqueue_reply)
private = PrivateApi(redis_url="redis://127.0.0.1:%d/0" % relay.port, **PRIVATE)
with private as url:
    st, body, _ = post("/workflows/%s/batch-execute" % WORKFLOW, body_named("lost enqueue reply"))
    check(state["cut"], "lost reply: the relay cut the enqueue_batch reply")
    check(st == 201, "lost reply: answered 201", (st, body))
    check("enqueue_batch answered -2 on attempt 2" in private.log(),
          "lost reply: the retry found the batch enqueued (-2)", private.log()[-600:])
relay.close()
if st == 201:
    batch_runs(body["batch"]["batch_id"], 2, "lost reply")
else:
    check(psql("SELECT count(*) FROM batch_executions WHERE name = :'p1'", "lost enqueue reply " + RUN) == [["1"]],
          "lost reply: the stored batch is not deleted")

# (b) a COMMIT whose answer was lost: pgpool re-runs the job, which must see its own commit.
pgstate = {"cut": False}


def lose_commit_answer(conn, data):
    if b"insert_batch" in data or b"INSERT INTO batch_executions" in data:
        conn["stores"] = True
    if not pgstate["cut"] and conn.get("stores") and b"COMMIT\x00" in data:
        pgstate["cut"] = True
        return CUT_AFTER_REPLY
    return FORWARD


relay = Relay(PG_PORT, lose_commit_answer)
private = PrivateApi(database_url="postgresql://amcbatch@127.0.0.1:%d/amcbatch" % relay.port, **PRIVATE)
with private as url:
    st, body, _ = post("/workflows/%s/batch-execute" % WORKFLOW, body_named("lost commit answer"))
    check(pgstate["cut"], "lost COMMIT: the relay cut the answer to the store's COMMIT")
    check(st == 201, "lost COMMIT: answered 201, not 409", (st, body))
    check("re-run after a lost COMMIT answer" in private.log(),
          "lost COMMIT: the re-run recognised its own commit", private.log()[-600:])
relay.close()
check(psql("SELECT count(*) FROM batch_executions WHERE name = :'p1'", "lost commit answer " + RUN) == [["1"]],
      "lost COMMIT: exactly one batch stored")
if st == 201:
    batch_runs(body["batch"]["batch_id"], 2, "lost COMMIT")

# (c) an Idempotency-Key replay arrives while the first request's enqueue is in trouble: the
# replay's 201 must name a batch that runs.
istate = {"held": False}


def hold_enqueue(conn, data):
    if not istate["held"] and enqueue_request(data):
        istate["held"] = True
        return HOLD_THEN_CUT
    return FORWARD


relay = Relay(REDIS_PORT, hold_enqueue)
key = "submit-edges-" + uuid.uuid4().hex
first = {}
with PrivateApi(redis_url="redis://127.0.0.1:%d/0" % relay.port, **PRIVATE) as url:
    t = threading.Thread(target=lambda: first.update(r=post(
        "/workflows/%s/batch-execute" % WORKFLOW, body_named("idempotent replay"), {"Idempotency-Key": key})))
    t.start()
    check(relay.held.wait(30), "replay: the first request's enqueue_batch is held")
    st, body, hdrs = post("/workflows/%s/batch-execute" % WORKFLOW, body_named("idempotent replay"),
                          {"Idempotency-Key": key})
    check(st == 201 and hdrs.get("Idempotent-Replayed") == "true", "replay: the twin gets the stored 201",
          (st, body, hdrs))
    relay.release.set()	# the held enqueue is dropped with its connection
    t.join(60)
    fst, fbody, _ = first.get("r", (0, None, None))
    check(fst == 201 and st == 201 and fbody["batch"]["batch_id"] == body["batch"]["batch_id"],
          "replay: the first request answers 201 with the same batch", (fst, fbody))
relay.close()
if st == 201:
    batch_runs(body["batch"]["batch_id"], 2, "replay")

# (d) Redis cannot be reached after the commit: 201 with the batch pending, and the enqueue
# janitor hands it to Redis once Redis is back.
ustate = {"block": True}


def refuse_enqueue(conn, data):
    return CUT if ustate["block"] and enqueue_request(data) else FORWARD


relay = Relay(REDIS_PORT, refuse_enqueue)
with PrivateApi(redis_url="redis://127.0.0.1:%d/0" % relay.port,
                **dict(PRIVATE, enqueue_janitor_ms=500)) as url:
    st, body, _ = post("/workflows/%s/batch-execute" % WORKFLOW, body_named("redis unreachable"))
    check(st == 201 and body["batch"]["status"] == "pending", "unreachable: answered 201, batch pending",
          (st, body))
    if st == 201:
        bid = body["batch"]["batch_id"]
        check(psql("SELECT enqueued_at IS NULL FROM batch_executions WHERE batch_id = :'p1'", bid) == [["t"]] and
              not batch_hash(bid), "unreachable: stored, not yet in Redis")
        sst, sbody, _ = api("GET", "/workflows/batch/%s/status" % bid)
        check(sst == 200 and sbody["batch_status"]["status"] == "pending",
              "unreachable: the status endpoint shows it pending", (sst, sbody))
        time.sleep(2)	# a few janitor sweeps meet the refusing Redis too
        ustate["block"] = False
        check(wait_until(lambda: batch_hash(bid), 30, 0.2), "unreachable: the janitor enqueues it later")
relay.close()
if st == 201:
    batch_runs(bid, 2, "unreachable")
    hashes = exec_hashes(bid)
    check(len(hashes) == 2 and all(h.get("window_start") == "2025-01-01T00:00:00" and
                                   h.get("window_end") == "2025-02-01T00:00:00" for h in hashes),
          "unreachable: the janitor's enqueue carries the stored window", hashes)
elif st in (500, 503):
    check(psql("SELECT count(*) FROM batch_executions WHERE name = :'p1'", "redis unreachable " + RUN) == [["1"]],
          "unreachable: the stored batch is not deleted")

# (e) a batch cancelled while only PostgreSQL holds it is never handed to Redis.
ustate["block"] = True
relay = Relay(REDIS_PORT, refuse_enqueue)
with PrivateApi(redis_url="redis://127.0.0.1:%d/0" % relay.port, **PRIVATE) as url:
    st, body, _ = post("/workflows/%s/batch-execute" % WORKFLOW, body_named("cancelled before enqueue"))
check(st == 201, "cancel first: answered 201 while Redis refuses", (st, body))
relay.close()
if st == 201:
    bid = body["batch"]["batch_id"]
    cst, cbody, _ = api("POST", "/workflows/batch/%s/cancel" % bid)
    check(cst == 200 and cbody["batch_status"]["status"] == "cancelled", "cancel first: cancelled",
          (cst, cbody))
    time.sleep(7)	# past the janitor's minimum age and one stack janitor interval
    check(not batch_hash(bid) and
          psql("SELECT status, enqueued_at IS NULL FROM batch_executions WHERE batch_id = :'p1'", bid) ==
          [["cancelled", "t"]], "cancel first: the janitor leaves the cancelled batch alone")

# (f) batches the janitor cannot hand over (here: no executions, so no enqueue_batch call can
# be built; a script refusal is met the same way) do not keep the ones behind them out of
# Redis: the next sweep starts after the last batch the previous one was done with.
STUCK = 25	# more than a sweep's 20, all older than the batch left unenqueued
ustate["block"] = True
relay = Relay(REDIS_PORT, refuse_enqueue)
with PrivateApi(redis_url="redis://127.0.0.1:%d/0" % relay.port, **PRIVATE) as url:
    st, body, _ = post("/workflows/%s/batch-execute" % WORKFLOW, body_named("behind stuck ones"))
relay.close()
check(st == 201 and body["batch"]["status"] == "pending", "stuck: answered 201 while Redis refuses", (st, body))
stuck = psql("INSERT INTO batch_executions (batch_id, workflow_id, user_id, status, total_instances, created_at)"
             " SELECT 'batch_' || md5(random()::text || i)::varchar(8), w.id, w.user_id, 'pending', 1,"
             "        now() - interval '1 hour' + i * interval '1 ms'"
             "   FROM workflows w, generate_series(1, :'p2'::integer) AS i WHERE w.id = :'p1'"
             " RETURNING batch_id", WORKFLOW, STUCK)
stuck = [r[0] for r in stuck]
try:
    if st == 201:
        bid = body["batch"]["batch_id"]
        janitor = PrivateApi(**dict(PRIVATE, enqueue_janitor_ms=300))
        with janitor as url:
            check(wait_until(lambda: batch_hash(bid), 30, 0.2),
                  "stuck: the janitor enqueues the batch behind %d it cannot enqueue" % STUCK)
            log = janitor.log()
        log += lib.stack_log("api")	# the stack's API sweeps too (every 5 s, same lock)
        check(any(b in log for b in stuck), "stuck: a janitor met the stuck batches first", log[-500:])
        batch_runs(bid, 2, "stuck")
finally:
    psql("DELETE FROM batch_executions WHERE batch_id = ANY(string_to_array(:'p1', ','))", ",".join(stuck))

done()
