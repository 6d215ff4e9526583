"""Master data over the API: admin-only user/account/instance/grant endpoints, what a member
sees through GET /instances, workflows CRUD, and that a member cannot use or see others' things."""
import uuid

from lib import INSTANCES, WORKFLOW, api, check, create_workflow, done, psql, require_stack, submit

require_stack()

st, body, raw = api("GET", "/instances")
check(st == 200 and body["success"] and len(body["instances"]) >= 12, "admin lists all instances", raw[:300])
one = next(i for i in body["instances"] if i["id"] == INSTANCES[0])
check(set(one) >= {"id", "instance_id", "instance_name", "region", "brands", "account_name", "is_sandbox"},
      "instance shape", one)
check(isinstance(one["brands"], list) and one["account_name"] == "Northwind Agency", "brands list, account name", one)
check(any(i["is_sandbox"] for i in body["instances"]), "a sandbox instance exists")

email = "member-%s@example.com" % uuid.uuid4().hex[:8]
st, body, raw = api("POST", "/admin/users", {"email": email, "role": "member"})
check(st in (200, 201) and body["success"] and body.get("token"), "admin creates a member with a token", raw[:300])
member_id, member_tok = body["user"]["id"], body["token"]
rows = psql("SELECT count(*) FROM api_tokens WHERE token_hash = :'p1'", member_tok)
check(rows == [["0"]], "token not stored in clear", rows)

st, body, _ = api("POST", "/admin/users", {"email": "x-" + email, "role": "member"}, token=member_tok)
check(st == 403, "member cannot create users", st)
st, body, _ = api("GET", "/instances", token=member_tok)
check(st == 200 and body["instances"] == [], "member sees no instance before a grant", body)

st, body, raw = api("POST", "/admin/instances/%s/access" % INSTANCES[1], {"user_id": member_id})
check(st in (200, 201) and body["success"], "admin grants an instance", raw[:300])
st, body, _ = api("GET", "/instances", token=member_tok)
check(st == 200 and [i["id"] for i in body["instances"]] == [INSTANCES[1]], "member sees the granted instance", body)

st, body, raw = api("POST", "/admin/accounts", {"account_name": "Test Account", "advertiser_id": "ENTITYTEST",
                                                 "marketplace_id": "ATVPDKIKX0DER", "region": "NA",
                                                 "lwa_client_id": "cid", "lwa_refresh_token": "Atzr|secret"})
check(st in (200, 201) and body["success"], "admin creates an account", raw[:300])
check(b"Atzr|secret" not in raw, "refresh token not echoed")
acct = body["account"]["id"]
amc_id = "amctest" + uuid.uuid4().hex[:6]
st, body, raw = api("POST", "/admin/instances", {"instance_id": amc_id, "instance_name": "Test Instance",
                                                  "region": "us-east-1", "brands": ["T"], "account_id": acct,
                                                  "is_sandbox": False})
check(st in (200, 201) and body["success"] and body["instance"]["instance_id"] == amc_id,
      "admin creates an instance", raw[:300])

# member workflows and batches
mwf = create_workflow("member wf", "SELECT campaign, SUM(clicks) AS clicks FROM impressions GROUP BY campaign",
                      token=member_tok)
st, body, _ = api("GET", "/workflows/%s" % mwf, token=member_tok)
check(st == 200 and body["workflow"]["name"] == "member wf", "member reads own workflow", body)
st, body, _ = api("GET", "/workflows", token=member_tok)
check(st == 200 and [w["id"] for w in body["workflows"]] == [mwf], "member lists only own workflows", body)
st, body, _ = api("GET", "/workflows/%s" % WORKFLOW, token=member_tok)
check(st == 404, "member cannot read admin's workflow", st)

st, body, raw = submit(mwf, [INSTANCES[1], INSTANCES[2]], token=member_tok)
check(st == 403 and INSTANCES[2] in body["error"]["message"] and INSTANCES[1] not in body["error"]["message"],
      "403 lists exactly the denied instance", raw[:300])
ghost = "90000000-0000-4000-8000-%012x" % (uuid.uuid4().int % (1 << 48))
st, body, raw = submit(mwf, [INSTANCES[1], ghost], token=member_tok)
check(st == 403 and ghost in body["error"]["message"],
      "an unknown instance id is just denied for a member (no 404 to probe ids with)", raw[:300])
st, body, raw = submit(mwf, [INSTANCES[1], ghost])
check(st == 404 and body["error"]["code"] == "instance_not_found", "an admin is told it does not exist", raw[:300])
rows = psql("SELECT count(*) FROM batch_executions WHERE workflow_id = :'p1'", mwf)
check(rows == [["0"]], "nothing stored for the denied submits", rows)

st, body, raw = submit(mwf, [INSTANCES[1]], {"startDate": "2025-02-01", "endDate": "2025-02-07"}, token=member_tok)
check(st in (200, 201), "member submits on the granted instance", raw[:300])
mbid = body["batch"]["batch_id"]
st, body, _ = api("GET", "/workflows/batch/%s/status" % mbid)
check(st == 200, "admin sees the member's batch", st)
st, body, _ = submit(WORKFLOW, [INSTANCES[0]], {}, name="admin batch")
abid = body["batch"]["batch_id"]
st, body, _ = api("GET", "/workflows/batch/%s/status" % abid, token=member_tok)
check(st == 404, "member gets 404 for another user's batch", st)
st, body, _ = api("POST", "/workflows/batch/%s/cancel" % abid, token=member_tok)
check(st == 404, "member cannot cancel another user's batch", st)
st, body, _ = api("GET", "/workflows/batch/list", token=member_tok)
check(st == 200 and [b["batch_id"] for b in body["batch_executions"]] == [mbid], "member lists only own batches", body)

st, body, raw = api("DELETE", "/admin/instances/%s/access" % INSTANCES[1], {"user_id": member_id})
check(st == 200 and body["success"], "admin revokes the grant", raw[:300])
st, body, _ = api("GET", "/instances", token=member_tok)
check(st == 200 and body["instances"] == [], "member sees nothing after revoke", body)
done()
