"""The API's read cache (src/api/readcache.c, sql/012): replies of settled batches' status, batch
lists, GET /instances and GET /workflows are reused until PostgreSQL announces a change. Each
change below is made either through the API (seen by the next request) or straight in SQL,
where only the NOTIFY can tell the API: those are awaited for at most 3 s, well below the
cache's 10 s backstop (api_read_cache_ms), so they prove the notification, not the expiry.
Also: another user with a warm cache, a retry child, a purged batch, the list's index."""
import time
import uuid

import lib
from lib import (INSTANCES, PREFIX, api, check, create_workflow, done, psql, redis, require_stack,
                 sim, sim_put, submit, wait_batch, wait_until)

require_stack()
NOTIFIED = 3.0	# seconds a NOTIFY may take to reach the API (it takes milliseconds)


def new_member(tag):
    st, body, raw = api("POST", "/admin/users", {"email": "%s-%s@example.com" % (tag, uuid.uuid4().hex[:8])})
    assert st == 201, raw
    return body["user"]["id"], body["token"]


def get(path, token):
    st, body, _ = api("GET", path, token=token)
    return st, body


A, TA = new_member("rc-a")
B, TB = new_member("rc-b")
IA, IFAIL = INSTANCES[8], INSTANCES[9]
for inst in (IA, IFAIL):
    st, _, raw = api("POST", "/admin/instances/%s/access" % inst, {"user_id": A})
    assert st == 200, raw
AMC_FAIL = psql("SELECT instance_id FROM instances WHERE id = :'p1'", IFAIL)[0][0]
sim_put("/sim/profiles/" + AMC_FAIL, {"fail_rate": 1, "fail_reason": "readcache test"})
WA = create_workflow("rc workflow", "SELECT campaign FROM impressions", token=TA)
st, body, raw = submit(WA, [IA, IFAIL], token=TA)
check(st == 201, "A submits a batch", raw[:300])
BA = body["batch"]["batch_id"]
final = wait_batch(BA)
check(final and final["status"] == "partial", "one execution fails: partial", final and final["status"])
sim("DELETE", "/sim/profiles/" + AMC_FAIL)

# ---- a settled batch's status, warm: the owner, the admin, and another user ----
status_path = "/workflows/batch/%s/status" % BA
st1, b1 = get(status_path, TA)
st2, b2 = get(status_path, TA)
check(st1 == st2 == 200 and b1 == b2, "the owner reads the same status twice (the second cached)")
st, b = get(status_path, None)
check(st == 200 and b == b1, "the admin reads it too", st)
st, b = get(status_path, TB)
st_missing, b_missing = get("/workflows/batch/batch_00000000/status", TB)
check(st == st_missing == 404 and b["error"]["code"] == b_missing["error"]["code"],
      "another user, cache warm: exactly a missing batch's 404", (st, b))

# ---- lists, warm, per user ----
for path in ("/workflows/batch/list", "/workflows", "/instances"):
    get(path, TA)
    get(path, TB)
st, b = get("/workflows/batch/list", TB)
check(st == 200 and b["batch_executions"] == [] and b["total"] == 0, "B's warm list shows none of A's", b)
st, b = get("/instances", TB)
check(st == 200 and b["instances"] == [], "B's warm instance list is empty", b)

# ---- changes made in SQL: only the NOTIFY reaches the API ----
psql("UPDATE workflows SET name = 'rc renamed' WHERE id = :'p1'", WA)
seen = wait_until(lambda: [w["name"] for w in get("/workflows", TA)[1]["workflows"]] == ["rc renamed"],
                  NOTIFIED)
check(seen, "a workflow renamed in SQL shows in A's list")
seen = wait_until(lambda: get("/workflows/batch/list", TA)[1]["batch_executions"][0]["workflows"]["name"]
                  == "rc renamed", NOTIFIED)
check(seen, "... and in A's batch list (its workflow's name)")
psql("INSERT INTO instance_access (user_id, instance_id) VALUES (:'p1', :'p2')", B, IA)
seen = wait_until(lambda: [i["id"] for i in get("/instances", TB)[1]["instances"]] == [IA], NOTIFIED)
check(seen, "a grant made in SQL shows in B's instances")
psql("UPDATE batch_executions SET name = 'rc via sql' WHERE batch_id = :'p1'", BA)
seen = wait_until(lambda: get("/workflows/batch/list", TA)[1]["batch_executions"][0]["name"] == "rc via sql",
                  NOTIFIED)
check(seen, "a batch changed in SQL shows in the list")

# ---- a retry child: through the API, the next reads see it at once ----
st, b, raw = api("POST", "/workflows/batch/%s/retry-failed" % BA, {}, token=TA)
check(st == 201, "A retries the failed execution", raw[:300])
child = b["batch"]["batch_id"]
st, b = get("/workflows/batch/list", TA)
rows = {r["batch_id"]: r for r in b["batch_executions"]}
check(rows.get(BA, {}).get("retries") == [child] and child in rows and b["total"] == 2,
      "the list shows the child and the parent's retries at once", b)
st, b = get(status_path, TA)
check(st == 200 and b == b1, "the parent's status is unchanged by its retry")

# ---- a live batch is never served from the cache: every transition shows ----
states = set()
deadline_final = wait_until(lambda: (states.add(get("/workflows/batch/%s/status" % child, TA)[1]
                                                ["batch_status"]["status"]) or
                                     states & set(lib.TERMINAL)), 60, interval=0.05)
check(deadline_final, "the child's status reaches its end", states)
row = wait_until(lambda: [r for r in get("/workflows/batch/list", TA)[1]["batch_executions"]
                          if r["batch_id"] == child and r["status"] in lib.TERMINAL], NOTIFIED + 10)
check(row, "the list follows the child to its end (archived by the worker, announced)", row)

# ---- a running batch's status: kept under the batch's `ver`, confirmed by one HGET ----
def cmdstats():
    out = {}
    for line in lib.redis_raw("INFO", "commandstats"):
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            out[name] = int(rest.split("calls=", 1)[1].split(",", 1)[0])
    return out


ISLOW = INSTANCES[10]
AMC_SLOW = psql("SELECT instance_id FROM instances WHERE id = :'p1'", ISLOW)[0][0]
st, _, raw = api("POST", "/admin/instances/%s/access" % ISLOW, {"user_id": A})
assert st == 200, raw
sim_put("/sim/profiles/" + AMC_SLOW, {"latency_ms": 600000})
st, body, raw = submit(WA, [ISLOW], token=TA)
check(st == 201, "A submits a batch AMC keeps running", raw[:300])
BR = body["batch"]["batch_id"]
run_path = "/workflows/batch/%s/status" % BR
polling = wait_until(lambda: [e for e in get(run_path, TA)[1]["batch_status"]["executions"]
                              if e["phase"] == "polling"], 60, interval=0.05)
check(polling, "its execution reaches AMC's RUNNING (phase polling)")
ver = lib.redis_raw("HGET", PREFIX + "batch:{%s}" % BR, "ver")
check(ver and int(ver[0]) >= 3, "every event of the batch bumped its ver", ver)
before, n = cmdstats(), 30
replies = [get(run_path, TA) for _ in range(n)]
after = cmdstats()
hgetall = after.get("hgetall", 0) - before.get("hgetall", 0)
hget = after.get("hget", 0) - before.get("hget", 0)
check(all(r == replies[0] for r in replies) and replies[0][0] == 200,
      "30 reads of the running batch give the same status")
check(hget >= n - 2 and hgetall < n,
      "they were answered from the cache, each after one HGET of ver (not a read of every hash)",
      "hget %d hgetall %d" % (hget, hgetall))
st, b = get(run_path, TB)
check(st == 404, "another user gets a missing batch's 404, cache warm", (st, b))
# the contract with the Lua side: whatever bumps ver shows at the next read (every script's
# event does: lua/lib/events.lua); here a field changed by hand, then ver
xid = replies[0][1]["batch_status"]["executions"][0]["execution_id"]
redis("HINCRBY", PREFIX + "batch:{%s}" % BR, "ver", 1)
get(run_path, TA)  # rebuilt now: kept for the next second (RC_TAGGED_TTL_MS)
get(run_path, TA)  # served from the cache
redis("HSET", PREFIX + "exec:{%s}:%s" % (BR, xid), "error", "rc probe")
redis("HINCRBY", PREFIX + "batch:{%s}" % BR, "ver", 1)
st, b = get(run_path, TA)
check(b["batch_status"]["executions"][0]["error"] == "rc probe",
      "a change that bumped ver shows at the very next read", b["batch_status"]["executions"][0])
redis("HDEL", PREFIX + "exec:{%s}:%s" % (BR, xid), "error")
redis("HINCRBY", PREFIX + "batch:{%s}" % BR, "ver", 1)
# every transition the worker makes shows at once: the Redis state is read first, then the
# status must be at least as far along (a kept status is confirmed against ver every time)
sim_put("/sim/profiles/" + AMC_SLOW, {"latency_ms": 300})
RANK = {"pending": 0, "queued": 1, "retry_wait": 1, "running": 2, "completed": 3, "failed": 3,
        "cancelled": 3}
PHASES = {"": 0, "submitted": 1, "polling": 2, "downloading": 3, "archiving": 4}
st, body, raw = submit(WA, [IA, ISLOW], token=TA)
BR2 = body["batch"]["batch_id"]
path2 = "/workflows/batch/%s/status" % BR2
ids = lib.redis_raw("LRANGE", PREFIX + "batch:{%s}:execs" % BR2, 0, -1)
behind, reads, final = [], 0, None
deadline = time.time() + 120
while time.time() < deadline:
    seen = {x: lib.redis_hash(PREFIX + "exec:{%s}:%s" % (BR2, x)) for x in ids}
    st, b = get(path2, TA)
    reads += 1
    for e in b["batch_status"]["executions"]:
        r = seen[e["execution_id"]]
        want = (RANK.get(r.get("state"), 0), PHASES.get(r.get("phase", ""), 0)
                if r.get("state") == "running" else 0)
        got = (RANK.get(e["status"], 0), PHASES.get(e["phase"] or "", 0)
               if e["status"] == "running" else 0)
        if got < want:
            behind.append((e["execution_id"], want, got))
    if b["batch_status"]["status"] in lib.TERMINAL:
        final = b["batch_status"]["status"]
        break
check(final == "completed", "the second batch completes", final)
check(not behind and reads > 5, "no read of %d showed a state older than Redis held before it" % reads,
      behind[:5])
sim("DELETE", "/sim/profiles/" + AMC_SLOW)
st, _, raw = api("POST", "/workflows/batch/%s/cancel" % BR, {}, token=TA)
check(st == 200, "the slow batch is cancelled", raw[:200])

# ---- a purged batch: gone from Redis and PostgreSQL, its warm status goes too ----
get(status_path, TA)
for key in ("batch:{%s}" % BA, "batch:{%s}:execs" % BA):
    redis("DEL", PREFIX + key)
psql("UPDATE batch_executions SET parent_batch_id = NULL WHERE parent_batch_id ="
     " (SELECT id FROM batch_executions WHERE batch_id = :'p1')", BA)
psql("DELETE FROM batch_executions WHERE batch_id = :'p1'", BA)
seen = wait_until(lambda: get(status_path, TA)[0] == 404, NOTIFIED)
check(seen, "a purged batch's status is 404 at once, cache warm or not")

# ---- the list's page comes from its index, without sorting the user's batches ----
plan = "\n".join(r[0] for r in psql(
    "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;"
    " EXPLAIN SELECT b.id FROM batch_executions b"
    " WHERE (false OR b.user_id = :'p1'::uuid) ORDER BY b.created_at DESC, b.id LIMIT 20", A))
check("idx_batch_executions_user_created" in plan and "Sort" not in plan,
      "a member's list is an index range of (user_id, created_at DESC, id)", plan)
plan = "\n".join(r[0] for r in psql(
    "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;"
    " EXPLAIN SELECT b.id FROM batch_executions b"
    " ORDER BY b.created_at DESC, b.id LIMIT 20"))
check("idx_batch_executions_created" in plan and "Sort" not in plan,
      "an admin's list is an index range of (created_at DESC, id)", plan)
done()
