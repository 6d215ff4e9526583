"""Workflows as an agency team manages them (issue 13): PATCH makes versions and each batch
records the one it ran; parameter types are checked on create, edit, batch and schedule;
sharing to read or to run; DELETE archives (refused while a batch runs or a schedule uses
it); every route refuses other users and bad input with a JSON error and stores nothing."""
import uuid

from lib import (INSTANCES, api, check, create_workflow, done, psql, require_stack, submit,
                 wait_batch)

require_stack()


def new_member(tag):
    st, body, raw = api("POST", "/admin/users", {"email": "%s-%s@example.com" % (tag, uuid.uuid4().hex[:8])})
    assert st == 201, raw
    return body["user"]["id"], body["user"]["email"], body["token"]


A, A_EMAIL, TA = new_member("wf-a")
B, B_EMAIL, TB = new_member("wf-b")
C, C_EMAIL, TC = new_member("wf-c")
IA = INSTANCES[1]
for user in (A, B):
    st, _, raw = api("POST", "/admin/instances/%s/access" % IA, {"user_id": user})
    assert st == 200, raw

SQL1 = "SELECT campaign, SUM(clicks) AS clicks FROM impressions WHERE clicks >= {{minClicks}} GROUP BY campaign"
SQL2 = SQL1 + " ORDER BY campaign"
DATES = {"startDate": "2025-01-01", "endDate": "2025-01-02"}

# ---- create with declared types ----
st, body, raw = api("POST", "/workflows", {"name": "typed", "sql_query": SQL1, "parameters": {"minClicks": 0},
                                           "parameter_types": {"minClicks": "number"}}, token=TA)
check(st == 201 and body["workflow"]["version"] == 1 and body["workflow"]["parameter_types"] == {"minClicks": "number"}
      and body["workflow"]["owner_id"] == A and body["workflow"]["shared_permission"] is None,
      "create: version 1 with its parameter types", raw[:400])
WF = body["workflow"]["id"]
for bad, code, field in (
        ({"parameter_types": {"nope": "number"}}, "invalid_parameter_types", "parameter_types.nope"),
        ({"parameter_types": {"minClicks": "float"}}, "invalid_parameter_types", "parameter_types.minClicks"),
        ({"parameter_types": ["minClicks"]}, "invalid_type", "parameter_types"),
        ({"parameter_types": {"minClicks": "number"}, "parameters": {"minClicks": "ten"}}, "invalid_parameter",
         "parameters.minClicks")):
    before = psql("SELECT count(*) FROM workflows")
    st, body, raw = api("POST", "/workflows", dict({"name": "bad", "sql_query": SQL1}, **bad), token=TA)
    check(st in (400, 422) and body["error"]["code"] == code and body["error"]["field"] == field
          and psql("SELECT count(*) FROM workflows") == before,
          "create refuses %s (%s) and stores nothing" % (list(bad.values())[0], code), raw[:300])

# ---- a batch checks the types and records its version ----
st, body, raw = submit(WF, [IA], parameters=dict(DATES, minClicks="lots"), token=TA)
check(st == 422 and body["error"]["code"] == "invalid_parameter" and body["error"]["field"] == "parameters.minClicks",
      "batch-execute refuses a value of the wrong type", raw[:300])
st, body, raw = submit(WF, [IA], parameters=DATES, overrides={IA: {"minClicks": [1]}}, token=TA)
check(st == 422 and body["error"]["field"] == "instance_parameters.%s.minClicks" % IA,
      "... naming the instance override that set it", raw[:300])
st, body, raw = submit(WF, [IA], parameters=dict(DATES, minClicks=5), token=TA)
check(st == 201, "a typed batch runs", raw[:300])
B1 = body["batch"]["batch_id"]

# ---- PATCH ----
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"name": "typed, renamed"}, token=TA)
check(st == 200 and body["workflow"]["version"] == 1 and body["workflow"]["name"] == "typed, renamed",
      "a rename keeps the version", raw[:300])
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"sql_query": SQL2, "expected_version": 1}, token=TA)
check(st == 200 and body["workflow"]["version"] == 2 and body["workflow"]["sql_query"] == SQL2,
      "an SQL edit makes version 2", raw[:300])
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"description": "stale", "expected_version": 1}, token=TA)
check(st == 409 and body["error"]["code"] == "version_conflict", "an edit of an old version is a conflict", raw[:300])
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"sql_query": "SELECT {{unclosed"}, token=TA)
check(st == 422 and body["error"]["code"] == "invalid_placeholder", "a broken placeholder is refused", raw[:300])
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"sql_query": "SELECT 1"}, token=TA)
check(st == 422 and body["error"]["code"] == "invalid_parameter_types",
      "an edit that drops a typed placeholder is refused", raw[:300])
for bad, code in (({}, "missing_field"), ({"name": 5}, "invalid_type"), ({"expected_version": "1", "name": "x"},
                                                                          "invalid_type"),
                  ({"owner": A}, "unknown_field"), ({"name": ""}, "missing_field"),
                  ({"sql_query": ""}, "missing_field")):
    st, body, raw = api("PATCH", "/workflows/%s" % WF, bad, token=TA)
    check(st == 400 and body["error"]["code"] == code, "PATCH %s -> 400 %s" % (bad, code), raw[:300])
rows = psql("SELECT version, name FROM workflows WHERE id = :'p1'", WF)
check(rows == [["2", "typed, renamed"]], "the refused edits changed nothing", rows)
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"name": "mine now"}, token=TB)
check(st == 404 and body["error"]["code"] == "workflow_not_found", "B cannot edit A's workflow (404)", raw[:300])
st, body, raw = api("PATCH", "/workflows/%s" % WF, {"description": "by the admin"})
check(st == 200 and body["workflow"]["version"] == 2, "an admin may edit it", raw[:300])

wait_batch(B1)
st, body, raw = submit(WF, [IA], parameters=dict(DATES, minClicks=1), token=TA)
check(st == 201, "a batch of version 2", raw[:300])
B2 = body["batch"]["batch_id"]
rows = psql("SELECT batch_id, workflow_version, sql_query = :'p2' FROM batch_executions WHERE batch_id IN (:'p1', :'p3')"
            " ORDER BY workflow_version", B1, SQL2, B2)
check(rows == [[B1, "1", "f"], [B2, "2", "t"]], "each batch records the version (and SQL) it ran", rows)

# ---- what a batch ran: GET /workflows/batch/{id} ----
st, body, raw = api("GET", "/workflows/batch/%s" % B1, token=TA)
b = body.get("batch") if body else None
check(st == 200 and b["workflow_id"] == WF and b["workflow_version"] == 1 and b["workflow_current_version"] == 2
      and b["parameters"]["minClicks"] == 5 and b["instance_ids"] == [IA] and b["sql_query"] == SQL1
      and b["on_failure"] == "continue" and b["window"] is None,
      "a batch's request: its workflow version, parameters, instances and SQL", raw[:600])
for who, bid, what in ((TB, B1, "another user's batch"), (TA, "batch_00000000", "an unknown batch"),
                       (TA, "nope", "a malformed id")):
    st, body, raw = api("GET", "/workflows/batch/%s" % bid, token=who)
    check(st == 404 and body["error"]["code"] == "batch_not_found", "%s: 404" % what, raw[:200])
st, body, raw = api("GET", "/workflows/batch/%s" % B1)
check(st == 200, "an admin reads it", raw[:200])
st, body, raw = api("GET", "/workflows/batch/%s" % B2, token=TA)
exp = body["batch"]["expected_seconds"] if st == 200 else {}
check(IA in exp and exp[IA] > 0, "expected_seconds: the instance's earlier runs of the workflow (for the ETA)", raw[-300:])

# ---- versions ----
st, body, raw = api("GET", "/workflows/%s/versions" % WF, token=TA)
vs = body.get("versions") if body else None
check(st == 200 and [v["version"] for v in vs] == [2, 1] and vs[1]["sql_query"] == SQL1 and vs[0]["sql_query"] == SQL2
      and vs[0]["created_by_email"] == A_EMAIL and vs[1]["batches"] == 1 and vs[0]["batches"] == 1,
      "versions: newest first, each with its SQL, author and batches", raw[:600])
st, body, raw = api("GET", "/workflows/%s/versions/1" % WF, token=TA)
check(st == 200 and body["version"]["version"] == 1 and body["version"]["parameter_types"] == {"minClicks": "number"},
      "one version", raw[:300])
for path, code in (("/versions/3", "version_not_found"), ("/versions/0", "version_not_found"),
                   ("/versions/x", "version_not_found")):
    st, body, raw = api("GET", "/workflows/%s%s" % (WF, path), token=TA)
    check(st == 404 and body["error"]["code"] == code, "GET %s -> 404" % path, raw[:200])
st, body, raw = api("GET", "/workflows/%s/versions" % WF, token=TB)
check(st == 404, "B cannot read A's versions", raw[:200])

# ---- sharing ----
st, body, raw = api("GET", "/workflows", token=TB)
check(st == 200 and WF not in [w["id"] for w in body["workflows"]], "B does not list A's workflow", raw[:200])
st, body, raw = api("POST", "/workflows/%s/shares" % WF, {"user": B_EMAIL.upper()}, token=TA)
check(st == 200 and body["share"]["user_id"] == B and body["share"]["permission"] == "read",
      "A shares it with B by e-mail (read by default)", raw[:300])
st, body, raw = api("GET", "/workflows", token=TB)
mine = [w for w in body["workflows"] if w["id"] == WF]
check(st == 200 and len(mine) == 1 and mine[0]["shared_permission"] == "read", "B lists it as shared to read",
      raw[:300])
st, body, raw = api("GET", "/workflows/%s/versions" % WF, token=TB)
check(st == 200 and len(body["versions"]) == 2, "B reads its versions", raw[:200])
st, body, raw = submit(WF, [IA], parameters=DATES, token=TB)
check(st == 403 and body["error"]["code"] == "workflow_read_only", "B cannot run a read share", raw[:300])
for method, path, b in (("PATCH", "", {"name": "B's now"}), ("DELETE", "", None),
                        ("POST", "/shares", {"user": C}), ("GET", "/shares", None)):
    st, body, raw = api(method, "/workflows/%s%s" % (WF, path), b, token=TB)
    check(st == 403 and body["error"]["code"] == "workflow_read_only", "B (shared) cannot %s %s" % (method, path or "it"),
          raw[:200])
st, body, raw = api("POST", "/workflows/%s/shares" % WF, {"user": B, "permission": "run"}, token=TA)
check(st == 200 and body["share"]["permission"] == "run", "A lets B run it (by id)", raw[:300])
st, body, raw = submit(WF, [IA], parameters=DATES, token=TB)
check(st == 201, "B runs it on B's own instance", raw[:300])
B3 = body["batch"]["batch_id"] if st == 201 else None
rows = psql("SELECT user_id FROM batch_executions WHERE batch_id = :'p1'", B3)
check(rows == [[B]], "the batch is B's", rows)
st, body, raw = submit(WF, [INSTANCES[2]], parameters=DATES, token=TB)
check(st == 403 and body["error"]["code"] == "instance_access_denied", "a run share grants no instance", raw[:300])
st, body, raw = api("GET", "/workflows/%s/shares" % WF, token=TA)
check(st == 200 and [(s["user_id"], s["permission"]) for s in body["shares"]] == [(B, "run")], "A lists the shares",
      raw[:300])
for b, st_want, code in (({"user": "nobody-%s@example.com" % uuid.uuid4().hex[:6]}, 404, "user_not_found"),
                         ({"user": A}, 422, "invalid_value"), ({"user": B, "permission": "write"}, 422, "invalid_value"),
                         ({"user": 7}, 400, "invalid_type"), ({}, 400, "missing_field")):
    st, body, raw = api("POST", "/workflows/%s/shares" % WF, b, token=TA)
    check(st == st_want and body["error"]["code"] == code, "share %s -> %d %s" % (b, st_want, code), raw[:200])
st, body, raw = api("POST", "/workflows/%s/shares" % WF, {"user": C}, token=TC)
check(st == 404, "C (not shared) gets 404 on sharing", raw[:200])
wait_batch(B3)
st, body, raw = api("DELETE", "/workflows/%s/shares/%s" % (WF, B), token=TA)
check(st == 200 and body["share"]["removed"], "A stops sharing", raw[:200])
st, body, raw = api("DELETE", "/workflows/%s/shares/%s" % (WF, B), token=TA)
check(st == 404 and body["error"]["code"] == "share_not_found", "unsharing twice: 404", raw[:200])
st, body, raw = api("GET", "/workflows/%s" % WF, token=TB)
check(st == 404, "B no longer sees it", raw[:200])

# ---- schedules check the types, and keep a workflow from being deleted ----
st, body, raw = api("POST", "/schedules", {"workflow_id": WF, "name": "typed", "cron": "0 6 * * *",
                                           "instance_ids": [IA], "parameters": {"minClicks": "x"}}, token=TA)
check(st == 422 and body["error"]["field"] == "parameters.minClicks", "a schedule's values are type-checked", raw[:300])
st, body, raw = api("POST", "/schedules", {"workflow_id": WF, "name": "typed", "cron": "0 6 * * *",
                                           "instance_ids": [IA], "parameters": {"minClicks": 2}}, token=TA)
check(st == 201, "a typed schedule", raw[:300])
SCH = body["schedule"]["id"]
st, body, raw = api("DELETE", "/workflows/%s" % WF, token=TA)
check(st == 409 and body["error"]["code"] == "workflow_in_use" and "1 schedule" in body["error"]["message"],
      "DELETE is refused while a schedule uses it", raw[:300])
st, _, raw = api("DELETE", "/schedules/%s" % SCH, token=TA)
check(st == 200, "the schedule is deleted", raw[:200])

# ---- DELETE archives ----
slow = create_workflow("slow wf", "SELECT count(*) AS n FROM impressions CROSS JOIN pg_sleep({{sleep}})", {"sleep": 3},
                       token=TA)
st, body, raw = submit(slow, [IA], parameters=DATES, token=TA)
SB = body["batch"]["batch_id"]
st, body, raw = api("DELETE", "/workflows/%s" % slow, token=TA)
check(st == 409 and "1 running batch" in body["error"]["message"], "DELETE is refused while a batch runs", raw[:300])
wait_batch(SB)
st, body, raw = api("DELETE", "/workflows/%s" % slow, token=TA)
check(st == 200 and body["workflow"]["archived_at"], "DELETE archives once the batch is done", raw[:300])
st, body, raw = api("DELETE", "/workflows/%s" % slow, token=TA)
check(st == 409 and body["error"]["code"] == "workflow_archived", "a second DELETE: 409", raw[:200])
st, body, raw = api("GET", "/workflows", token=TA)
check(slow not in [w["id"] for w in body["workflows"]], "an archived workflow is not listed", raw[:200])
st, body, raw = api("GET", "/workflows?archived=true", token=TA)
check(slow in [w["id"] for w in body["workflows"]], "... unless asked (?archived=true)", raw[:200])
st, body, raw = api("GET", "/workflows/batch/%s/status" % SB, token=TA)
check(st == 200 and body["batch_status"]["status"] == "completed", "its batches keep their history", raw[:200])
st, body, raw = submit(slow, [IA], parameters=DATES, token=TA)
check(st == 409 and body["error"]["code"] == "workflow_archived", "an archived workflow does not run", raw[:300])
st, body, raw = api("PATCH", "/workflows/%s" % slow, {"name": "revived"}, token=TA)
check(st == 409 and body["error"]["code"] == "workflow_archived", "nor is it edited", raw[:300])
st, body, raw = api("DELETE", "/workflows/%s" % WF, token=TB)
check(st == 404, "B cannot delete A's workflow", raw[:200])
st, body, raw = api("DELETE", "/workflows/not-a-uuid", token=TA)
check(st == 404 and body["error"]["code"] == "workflow_not_found", "DELETE of a malformed id: 404", raw[:200])
done()
