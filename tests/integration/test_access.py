"""Access control across users on every endpoint (member A, member B, admin), token
lifecycle (revoke takes effect at once, expiry), row-level security with a non-owner
database role, Idempotency-Key (also across API processes), the per-user submission rate
limit (a private amcbatch-api with a low limit), and hostile parameter values reaching the
AMC SQL only as escaped literals."""
import re
import subprocess
import uuid

import lib
from lib import (DB, INSTANCES, api, check, create_workflow, done, psql, require_stack, submit,
                 wait_batch)

require_stack()


def new_member(tag):
    st, body, raw = api("POST", "/admin/users", {"email": "%s-%s@example.com" % (tag, uuid.uuid4().hex[:8])})
    assert st == 201, raw
    return body["user"]["id"], body["token"]


A, TA = new_member("a")
B, TB = new_member("b")
IA, IB, ISHARED = INSTANCES[4], INSTANCES[5], INSTANCES[6]
for user, inst in ((A, IA), (A, ISHARED), (B, IB), (B, ISHARED)):
    st, _, raw = api("POST", "/admin/instances/%s/access" % inst, {"user_id": user})
    assert st == 200, raw
SQL = "SELECT campaign, SUM(clicks) AS clicks FROM impressions WHERE campaign <> {{skip}} GROUP BY campaign"
WA = create_workflow("A's workflow", SQL, {"skip": "none"}, token=TA)
WB = create_workflow("B's workflow", SQL, {"skip": "none"}, token=TB)
st, body, raw = submit(WA, [IA, ISHARED], token=TA)
check(st == 201, "A submits on A's instances", raw[:300])
BA = body["batch"]["batch_id"]
st, body, raw = submit(WB, [IB], token=TB)
check(st == 201, "B submits on B's instance", raw[:300])
BB = body["batch"]["batch_id"]
wait_batch(BA)
wait_batch(BB)

# ---- every route: A against B's things, and the admin against both ----
routes = [
    ("GET", "/workflows/%s" % WB, None, 404, "read B's workflow"),
    ("POST", "/workflows/%s/batch-execute" % WB, {"instance_ids": [IA]}, 404, "run B's workflow"),
    ("GET", "/workflows/batch/%s/status" % BB, None, 404, "B's batch status"),
    ("GET", "/workflows/batch/%s/results" % BB, None, 404, "B's batch results"),
    ("POST", "/workflows/batch/%s/cancel" % BB, None, 404, "cancel B's batch"),
    ("GET", "/workflows/batch/%s/results.csv" % BB, None, 404, "B's CSV export"),
    ("POST", "/workflows/%s/batch-execute" % WA, {"instance_ids": [IA, IB]}, 403, "run on B's instance"),
    ("POST", "/admin/users", {"email": "z@example.com"}, 403, "create a user"),
    ("POST", "/admin/accounts", {"account_name": "x", "advertiser_id": "y"}, 403, "create an account"),
    ("POST", "/admin/instances", {"instance_id": "i", "instance_name": "n", "region": "r",
                                  "account_id": str(uuid.uuid4())}, 403, "create an instance"),
    ("POST", "/admin/instances/%s/access" % IB, {"user_id": A}, 403, "grant itself B's instance"),
    ("DELETE", "/admin/instances/%s/access" % IB, {"user_id": B}, 403, "revoke B's grant"),
    ("GET", "/admin/users/%s/tokens" % B, None, 403, "list B's tokens"),
    ("POST", "/admin/users/%s/tokens" % B, {}, 403, "mint a token for B"),
    ("DELETE", "/admin/tokens/%s" % uuid.uuid4(), None, 403, "revoke a token"),
]
for method, path, body, want, what in routes:
    st, resp, raw = api(method, path, body, token=TA)
    if st == 404 and path.endswith("results.csv") and resp and resp["error"]["code"] == "not_found":
        check(True, "A: %s -> 404 (no CSV route in this build)" % what)
        continue
    check(st == want and resp is not None and resp.get("success") is False,
          "A: %s -> %d" % (what, want), (st, raw[:200]))
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WA, {"instance_ids": [IA, IB, INSTANCES[7]]}, token=TA)
check(st == 403 and body["error"]["field"] == "instance_ids" and IB in body["error"]["message"]
      and INSTANCES[7] in body["error"]["message"] and IA not in body["error"]["message"]
      and ISHARED not in body["error"]["message"], "403 lists exactly the denied ids", raw[:300])

st, body, _ = api("GET", "/workflows", token=TA)
check(st == 200 and [w["id"] for w in body["workflows"]] == [WA], "A lists only A's workflows", body)
st, body, _ = api("GET", "/workflows/batch/list", token=TA)
check(st == 200 and [b["batch_id"] for b in body["batch_executions"]] == [BA] and body["total"] == 1,
      "A lists only A's batches", body)
st, body, _ = api("GET", "/workflows/batch/list?workflow_id=%s" % WB, token=TA)
check(st == 200 and body["batch_executions"] == [] and body["total"] == 0, "filter on B's workflow shows nothing", body)
st, body, _ = api("GET", "/instances", token=TA)
check(st == 200 and sorted(i["id"] for i in body["instances"]) == sorted([IA, ISHARED]),
      "A sees only granted instances", body)
st, body, _ = api("GET", "/workflows/batch/%s/status" % BA, token=TA)
check(st == 200 and body["batch_status"]["batch_id"] == BA, "A reads A's status", st)
st, body, _ = api("GET", "/workflows/batch/%s/results" % BA, token=TA)
check(st == 200 and body["batch_results"]["batch_id"] == BA, "A reads A's results", st)
for path in ("/workflows/%s" % WB, "/workflows/batch/%s/status" % BB, "/workflows/batch/%s/results" % BB):
    st, _, _ = api("GET", path)
    check(st == 200, "admin reads %s" % path, st)
st, body, _ = api("GET", "/workflows/batch/list")
check(st == 200 and {BA, BB} <= {b["batch_id"] for b in body["batch_executions"]} | {BA, BB}, "admin lists all", st)
st, body, _ = api("GET", "/workflows/batch/%s/status" % BA, token=TB)
st2, body2, _ = api("GET", "/workflows/batch/batch_00000000/status", token=TB)
check(st == st2 == 404 and body["error"]["code"] == body2["error"]["code"],
      "another user's batch looks exactly like a missing one", (st, st2))

# ---- tokens: list, revoke at once, expiry ----
st, body, raw = api("POST", "/admin/users/%s/tokens" % A, {"name": "second"})
check(st == 201 and body["token"].startswith("amcb_") and "token_hash" not in body["api_token"],
      "admin mints a second token for A", raw[:300])
t2, t2id = body["token"], body["api_token"]["id"]
rows = psql("SELECT count(*) FROM api_tokens WHERE token_hash = :'p1' OR name = :'p1'", t2)
check(rows == [["0"]], "the secret is not stored", rows)
st, _, _ = api("GET", "/workflows", token=t2)
check(st == 200, "the new token works (and is now cached)", st)
st, body, raw = api("GET", "/admin/users/%s/tokens" % A)
check(st == 200 and len(body["tokens"]) == 2 and b"amcb_" not in raw, "token list without secrets", raw[:300])
st, body, _ = api("DELETE", "/admin/tokens/%s" % t2id)
check(st == 200 and body["api_token"]["revoked_at"], "admin revokes it", body)
st, body, _ = api("GET", "/workflows", token=t2)
check(st == 401 and body["error"]["code"] == "unauthorized", "revoked token is refused at once", st)
st, _, _ = api("GET", "/workflows", token=TA)
check(st == 200, "A's first token still works", st)

# ---- row-level security with a non-owner role ----
su = re.sub(r"//[^@/]*@", "//postgres@", DB)
role = "amcb_rls_%s" % uuid.uuid4().hex[:6]


def as_role(user_id, sql):
    script = ("SET ROLE %s;\nSET amcbatch.user_id = '%s';\n%s\n" % (role, user_id, sql))
    p = subprocess.run(["psql", su, "-XAtq", "-v", "ON_ERROR_STOP=1"], input=script, capture_output=True, text=True)
    return p.returncode, p.stdout.strip().splitlines(), p.stderr


# every table that holds a user's data and every documented view, with the rows of one user:
# (relation, row key, the key's rows owned by user $1, as the owner reads them)
OWNED = [
    ("batch_executions", "batch_id", "SELECT batch_id FROM batch_executions WHERE user_id = :'p1'"),
    ("workflow_executions", "execution_id", "SELECT execution_id FROM workflow_executions WHERE user_id = :'p1'"),
    ("workflows", "id", "SELECT id FROM workflows w WHERE user_id = :'p1' OR EXISTS (SELECT 1 FROM"
     " workflow_shares s WHERE s.workflow_id = w.id AND s.user_id = :'p1')"),
    ("users", "id", "SELECT id FROM users WHERE id = :'p1'"),
    ("api_tokens", "id", "SELECT id FROM api_tokens WHERE user_id = :'p1'"),
    ("idempotency_keys", "key", "SELECT key FROM idempotency_keys WHERE user_id = :'p1'"),
    ("instance_access", "instance_id", "SELECT instance_id FROM instance_access WHERE user_id = :'p1'"),
    ("instances", "id", "SELECT i.id FROM instances i WHERE EXISTS (SELECT 1 FROM instance_access a"
     " WHERE a.instance_id = i.id AND a.user_id = :'p1') OR EXISTS (SELECT 1 FROM workflow_executions e"
     " WHERE e.target_instance_id = i.id AND e.user_id = :'p1')"),
    ("amc_accounts", "id", "SELECT DISTINCT i.account_id FROM instances i WHERE EXISTS (SELECT 1 FROM"
     " instance_access a WHERE a.instance_id = i.id AND a.user_id = :'p1') OR EXISTS (SELECT 1 FROM"
     " workflow_executions e WHERE e.target_instance_id = i.id AND e.user_id = :'p1')"),
    ("schedules", "id", "SELECT id FROM schedules WHERE user_id = :'p1'"),
    ("schedule_runs", "schedule_id", "SELECT r.schedule_id FROM schedule_runs r JOIN schedules s"
     " ON s.id = r.schedule_id WHERE s.user_id = :'p1'"),
    ("webhooks", "id", "SELECT id FROM webhooks WHERE user_id = :'p1'"),
    ("webhook_events", "id", "SELECT id FROM webhook_events WHERE user_id = :'p1'"),
    ("webhook_deliveries", "id", "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
     " WHERE w.user_id = :'p1'"),
    ("webhook_attempts", "delivery_id", "SELECT a.delivery_id FROM webhook_attempts a JOIN webhook_deliveries d"
     " ON d.id = a.delivery_id JOIN webhooks w ON w.id = d.webhook_id WHERE w.user_id = :'p1'"),
    ("result_rows", "execution_id", "SELECT DISTINCT r.execution_id FROM result_rows r"
     " JOIN workflow_executions e ON e.id = r.execution_id WHERE e.user_id = :'p1'"),
    ("workflow_versions", "workflow_id", "SELECT v.workflow_id FROM workflow_versions v JOIN workflows w"
     " ON w.id = v.workflow_id WHERE w.user_id = :'p1' OR EXISTS (SELECT 1 FROM workflow_shares s"
     " WHERE s.workflow_id = w.id AND s.user_id = :'p1')"),
    ("workflow_shares", "workflow_id", "SELECT s.workflow_id FROM workflow_shares s JOIN workflows w"
     " ON w.id = s.workflow_id WHERE w.user_id = :'p1' OR s.user_id = :'p1'"),
    ("batch_execution_summary", "batch_id", "SELECT batch_id FROM batch_executions WHERE user_id = :'p1'"),
    ("batch_result_rows", "execution_id", "SELECT DISTINCT e.execution_id FROM workflow_executions e"
     " JOIN batch_result_rows r ON r.execution_id = e.execution_id WHERE e.user_id = :'p1'"),
]
# A's things in every one of them: a schedule with a run, a webhook with a delivery, and A's
# workflow shared with B (B sees it, its versions and the share; A still sees its own)
st, body, raw = api("POST", "/workflows/%s/shares" % WA, {"user": B}, token=TA)
check(st == 200, "A shares A's workflow with B", raw[:300])
st, body, raw = api("POST", "/schedules", {"workflow_id": WA, "name": "rls", "cron": "0 6 * * *",
                                           "instance_ids": [IA]}, token=TA)
check(st == 201, "A creates a schedule", raw[:300])
SA = body["schedule"]["id"] if st == 201 else None
psql("INSERT INTO schedule_runs (schedule_id, scheduled_for, outcome) VALUES (:'p1', now(), 'skipped')", SA)
st, body, raw = api("POST", "/webhooks", {"url": "http://127.0.0.1:9/rls", "events": ["batch.failed"]},
                    token=TA)
check(st == 201, "A adds a webhook", raw[:300])
HA = body["webhook"]["id"] if st == 201 else None
# (a delivered event as the owner writes one: the RLS checks need a row in each table)
psql("WITH ev AS (INSERT INTO webhook_events (type, user_id, data) VALUES ('batch.failed', :'p1', '{}')"
     " RETURNING id), d AS (INSERT INTO webhook_deliveries (webhook_id, event_id, state) SELECT :'p2', id,"
     " 'delivered' FROM ev RETURNING id) INSERT INTO webhook_attempts (delivery_id, attempt, started_at,"
     " status_code, latency_ms) SELECT id, 1, now(), 200, 5 FROM d", A, HA)
relations = ", ".join(r for r, _, _ in OWNED)
subprocess.run(["psql", su, "-Xq", "-v", "ON_ERROR_STOP=1", "-c",
                "CREATE ROLE %s NOLOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON batch_executions TO %s;"
                " GRANT SELECT ON %s TO %s;"
                # the typed result tables (sql/016), as docs/schema.md sets up an analyst
                " GRANT USAGE ON SCHEMA amcbatch_results TO %s;"
                " GRANT SELECT ON ALL TABLES IN SCHEMA amcbatch_results TO %s;"
                " GRANT EXECUTE ON FUNCTION amcbatch_current_user_id() TO %s"
                % (role, role, relations, role, role, role, role)],
               check=True)
try:
    for rel, key, mine in OWNED:
        for user in (A, B):
            rc, out, err = as_role(user, "SELECT DISTINCT %s::text FROM %s;" % (key, rel))
            want = sorted({r[0] for r in psql(mine, user)})
            # A has rows in each (idempotency keys come later in this test)
            check(rc == 0 and sorted(out) == want and (user != A or want or rel == "idempotency_keys"),
                  "RLS: %s shows %s's role exactly %s's rows" % (rel, "A" if user == A else "B",
                                                                "A" if user == A else "B"),
                  (rel, sorted(out)[:5], want[:5], err[-300:]))
    rc, out, err = as_role(A, "SELECT batch_id FROM batch_executions ORDER BY 1;")
    check(rc == 0 and out == [BA], "RLS: A's role sees only A's batch", (out, err))
    rc, out, err = as_role(B, "SELECT count(*) FROM batch_executions WHERE batch_id = '%s';" % BA)
    check(rc == 0 and out == ["0"], "RLS: B's role cannot see A's batch", (out, err))
    rc, out, err = as_role(B, "BEGIN; WITH u AS (UPDATE batch_executions SET name = 'x' RETURNING batch_id)"
                              " SELECT string_agg(batch_id, ',') FROM u; ROLLBACK;")
    check(rc == 0 and out == [BB], "RLS: B's UPDATE touches only B's batch", (out, err))
    rc, out, err = as_role(B, "BEGIN; WITH d AS (DELETE FROM batch_executions WHERE batch_id = '%s' RETURNING 1)"
                              " SELECT count(*) FROM d; ROLLBACK;" % BA)
    check(rc == 0 and out == ["0"], "RLS: B cannot delete A's batch", (out, err))
    rc, out, err = as_role(B, "INSERT INTO batch_executions (batch_id, workflow_id, user_id)"
                              " VALUES ('batch_0000dead', '%s', '%s');" % (WA, A))
    check(rc != 0 and "row-level security" in err, "RLS: B cannot insert a batch as A", err[-200:])
    # an execution's typed table read directly: its owner's rows to the owner's role only
    tbl, n = psql("SELECT e.result_table, e.row_count FROM workflow_executions e JOIN batch_executions b"
                  " ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1' AND e.result_table IS NOT NULL"
                  " LIMIT 1", BA)[0]
    rc, out, err = as_role(A, "SELECT count(*) FROM %s;" % tbl)
    check(rc == 0 and out == [n] and int(n) > 0, "RLS: A's role reads A's typed table", (tbl, n, out, err))
    rc, out, err = as_role(B, "SELECT count(*) FROM %s;" % tbl)
    check(rc == 0 and out == ["0"], "RLS: B's role sees no row of A's typed table", (out, err))
    rc, out, err = as_role("", "SELECT count(*) FROM batch_executions;")
    check(rc == 0 and out == ["0"], "RLS: no user id, no rows", (out, err))
finally:
    subprocess.run(["psql", su, "-Xq", "-c", "DROP OWNED BY %s; DROP ROLE %s" % (role, role)], capture_output=True)

# ---- idempotency ----
body = {"instance_ids": [IA], "parameters": {"skip": "idem"}, "name": "idem"}
key = "retry-" + uuid.uuid4().hex
st1, b1, raw1 = api("POST", "/workflows/%s/batch-execute" % WA, body, token=TA, headers={"Idempotency-Key": key})
st2, b2, raw2 = api("POST", "/workflows/%s/batch-execute" % WA, body, token=TA, headers={"Idempotency-Key": key})
check(st1 == 201 and st2 == 201 and b1 == b2, "a retried request gets the same batch", (raw1[:200], raw2[:200]))
rows = psql("SELECT count(*) FROM batch_executions WHERE name = 'idem' AND user_id = :'p1'", A)
check(rows == [["1"]], "only one batch stored for the key", rows)
st, b3, raw = api("POST", "/workflows/%s/batch-execute" % WA, dict(body, name="other"), token=TA,
                  headers={"Idempotency-Key": key})
check(st == 409 and b3["error"]["code"] == "idempotency_key_reused", "same key, other body -> 409", raw[:300])
st, b4, raw = api("POST", "/workflows/%s/batch-execute" % WB, {"instance_ids": [IB], "parameters": {"skip": "idem"}},
                  token=TB, headers={"Idempotency-Key": key})
check(st == 201 and b4["batch"]["batch_id"] != b1["batch"]["batch_id"], "keys are per user", raw[:300])
wait_batch(b1["batch"]["batch_id"])
wait_batch(b4["batch"]["batch_id"])

# ---- hostile values become literals ----
evil = "x' ; DROP TABLE impressions; SELECT '1"
st, body, raw = submit(WA, [IA], {"skip": evil}, token=TA)
check(st == 201, "a hostile value is accepted as data", raw[:300])
last = wait_batch(body["batch"]["batch_id"])
check(last is not None and last["status"] == "completed", "the batch completes (the value stayed a literal)", last)
rows = psql("SELECT e.sql_query FROM workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id"
            " WHERE b.batch_id = :'p1'", body["batch"]["batch_id"])
# psql prints the marker line (-- amcbatch ...) and the SQL as two lines of one value
sent = "\n".join(r[0] for r in rows)
check(rows and "campaign <> 'x'' ; DROP TABLE impressions; SELECT ''1' GROUP BY" in sent,
      "the SQL sent to AMC holds the value as one escaped literal", rows)

# ---- per-user rate limit, on a private API process with a low limit ----
with lib.PrivateApi(submit_rate_per_min=2, api_max_inflight=3) as url:
    if url is None:
        check(True, "rate limit # SKIP no amcbatch-api in BUILD_DIR")
    else:
        # answered requests leave the in-flight count, whichever way they were answered: the
        # static files and the CSV stream are released without a JSON reply (cap here: 3)
        for _ in range(8):
            for path in ("/", "/app.js", "/app.css"):
                api("GET", path, token="")
        st, body, _ = api("GET", "/instances")
        check(st == 200, "after 24 static files the in-flight cap (3) still admits requests", (st, body))
        mid, mtok = new_member("rate")
        api("POST", "/admin/instances/%s/access" % IA, {"user_id": mid})
        mwf = create_workflow("rate wf", SQL, {"skip": "none"}, token=mtok)
        codes = [submit(mwf, [IA], token=mtok)[0] for _ in range(2)]
        st, body, raw = submit(mwf, [IA], token=mtok)
        check(codes == [201, 201] and st == 429 and body["error"]["code"] == "rate_limited",
              "third submission in a minute -> 429", (codes, st, raw[:200]))
        rows = psql("SELECT count(*) FROM batch_executions WHERE user_id = :'p1'", mid)
        check(rows == [["2"]], "the refused submission stored nothing", rows)
        st, _, _ = submit(mwf, [IA], token=TA)
        check(st == 404, "other users are not limited by it (A gets its usual 404 here)", st)
        st, b5, raw = api("POST", "/workflows/%s/batch-execute" % WA, body={"instance_ids": [IA], "parameters": {"skip": "idem"}, "name": "idem"},
                          token=TA, headers={"Idempotency-Key": key})
        check(st == 201 and b5 == b1, "the idempotent replay works through another API process", raw[:200])
        for b in psql("SELECT batch_id FROM batch_executions WHERE user_id = :'p1'", mid):
            wait_batch(b[0])
done()
