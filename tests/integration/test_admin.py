"""Master data over the API: admin-only user/account/instance/grant endpoints, what a member
sees through GET /instances, workflows CRUD, and that a member cannot use or see others' things;
then the administration of issue 13: GET /me, the lists, PATCH of users (disabled: its tokens
refused at once; never no admin left), accounts (credentials write-only) and instances
(disabled: refused by batch-execute and schedule runs, gone from members' GET /instances), and
bulk grants by account. It edits only what it creates (and refused changes of the seed)."""
import json
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

# ---- issue 13: administration ------------------------------------------------------------------
ADMIN_ID = "00000000-0000-4000-8000-000000000001"
ghost_id = str(uuid.uuid4())


def err(st, body, status, code, field=False):
    """The answer is the JSON error status/code (and field, when given)."""
    return st == status and body and body["success"] is False and body["error"]["code"] == code and \
        (field is False or body["error"]["field"] == field)


# a member gets 403 on every admin route, whatever the body
for method, path in (("GET", "/admin/users"), ("PATCH", "/admin/users/%s" % member_id),
                     ("GET", "/admin/accounts"), ("PATCH", "/admin/accounts/%s" % acct),
                     ("GET", "/admin/instances"), ("PATCH", "/admin/instances/%s" % INSTANCES[1]),
                     ("POST", "/admin/grants"), ("DELETE", "/admin/grants"),
                     ("GET", "/admin/grants?user_id=%s" % member_id)):
    st, body, raw = api(method, path, {} if method in ("POST", "PATCH", "DELETE") else None, token=member_tok)
    check(err(st, body, 403, "forbidden"), "member: %s %s -> 403" % (method, path.split("?")[0]), raw[:200])

st, body, raw = api("GET", "/me")
check(st == 200 and body["user"]["id"] == ADMIN_ID and body["user"]["role"] == "admin" and
      body["user"]["instance_count"] >= 12 and body["field_limits"]["text"] == 200, "GET /me (admin)", raw[:300])

# ---- accounts: credentials go in, never come out
st, body, raw = api("GET", "/admin/accounts")
mine = [a for a in body["accounts"] if a["id"] == acct] if st == 200 else []
check(len(mine) == 1 and set(mine[0]) == {"id", "account_name", "advertiser_id", "marketplace_id", "region",
                                          "lwa_client_id", "has_refresh_token", "has_client_secret",
                                          "created_at", "instance_count"} and
      mine[0]["has_refresh_token"] is True and mine[0]["has_client_secret"] is False and mine[0]["instance_count"] == 1,
      "GET /admin/accounts: shape, has_* flags, no credential", mine)
check(b"Atzr" not in raw and b"_enc" not in raw, "no credential in the account list")
old_enc = psql("SELECT encode(lwa_refresh_token_enc, 'hex') FROM amc_accounts WHERE id = :'p1'", acct)
st, body, raw = api("PATCH", "/admin/accounts/%s" % acct, {"account_name": "Test Account 2", "region": "EU",
                                                            "lwa_refresh_token": "Atzr|replaced",
                                                            "lwa_client_secret": "cs-secret"})
check(st == 200 and body["account"]["account_name"] == "Test Account 2" and body["account"]["region"] == "EU" and
      body["account"]["has_client_secret"] is True, "PATCH account: name, region, credentials replaced", raw[:300])
check(b"Atzr|replaced" not in raw and b"cs-secret" not in raw, "PATCH account echoes no credential")
new_enc = psql("SELECT encode(lwa_refresh_token_enc, 'hex') FROM amc_accounts WHERE id = :'p1'", acct)
check(new_enc != old_enc and "Atzr" not in json.dumps(new_enc), "the refresh token is replaced, stored encrypted")
for patch, status, code in (({"region": "MARS"}, 422, "invalid_region"), ({"account_name": ""}, 422, "invalid_value"),
                            ({"account_name": 5}, 400, "invalid_type"), ({"account_name": "x" * 201}, 400, "invalid_value"),
                            ({}, 400, "missing_field"), ({"secret": "x"}, 400, "unknown_field")):
    st, body, raw = api("PATCH", "/admin/accounts/%s" % acct, patch)
    check(err(st, body, status, code), "PATCH account %s -> %d %s" % (json.dumps(patch)[:40], status, code), raw[:200])
st, body, raw = api("PATCH", "/admin/accounts/%s" % ghost_id, {"account_name": "x"})
check(err(st, body, 404, "account_not_found"), "PATCH unknown account -> 404", raw[:200])
check(psql("SELECT account_name, region FROM amc_accounts WHERE id = :'p1'", acct) == [["Test Account 2", "EU"]],
      "refused PATCHes changed nothing")

# ---- instances: a second one on the test account; edit; disable
amc_id2 = "amctest" + uuid.uuid4().hex[:6]
st, body, raw = api("POST", "/admin/instances", {"instance_id": amc_id2, "instance_name": "Test Instance 2",
                                                  "region": "eu-west-1", "account_id": acct})
inst2 = body["instance"]["id"] if st == 201 else None
inst1 = next(i["id"] for i in api("GET", "/admin/instances")[1]["instances"] if i["instance_id"] == amc_id)
st, body, raw = api("GET", "/admin/instances")
row = next((i for i in body["instances"] if i["id"] == inst1), {}) if st == 200 else {}
check(set(row) >= {"id", "instance_id", "instance_name", "region", "brands", "account_id", "account_name", "is_sandbox",
                   "timezone", "disabled", "user_count"} and row["account_name"] == "Test Account 2" and
      row["disabled"] is False, "GET /admin/instances shape", row)
st, body, raw = api("PATCH", "/admin/instances/%s" % inst1, {"instance_name": "Test Instance 1", "brands": ["A", "B"],
                                                              "is_sandbox": True, "timezone": "Europe/Berlin"})
check(st == 200 and body["instance"]["brands"] == ["A", "B"] and body["instance"]["is_sandbox"] is True and
      body["instance"]["timezone"] == "Europe/Berlin" and body["instance"]["instance_name"] == "Test Instance 1",
      "PATCH instance: name, brands, sandbox, time zone", raw[:300])
for patch, status, code in (({"timezone": "Mars/Base"}, 422, "invalid_timezone"), ({"brands": "A"}, 400, "invalid_type"),
                            ({"brands": [""]}, 400, "invalid_value"), ({"disabled": "yes"}, 400, "invalid_type"),
                            ({"instance_name": ""}, 422, "invalid_value"), ({"account_id": acct}, 400, "unknown_field")):
    st, body, raw = api("PATCH", "/admin/instances/%s" % inst1, patch)
    check(err(st, body, status, code), "PATCH instance %s -> %d %s" % (json.dumps(patch)[:40], status, code), raw[:200])
for bad in (ghost_id, "nope"):
    st, body, raw = api("PATCH", "/admin/instances/%s" % bad, {"disabled": True})
    check(err(st, body, 404, "instance_not_found"), "PATCH instance %s -> 404" % bad[:8], raw[:200])

# ---- bulk grants: all of the account's instances at once
st, body, raw = api("POST", "/admin/grants", {"user_id": member_id, "account_id": acct})
check(st == 200 and sorted(body["grants"]["instance_ids"]) == sorted([inst1, inst2]) and
      sorted(body["grants"]["changed"]) == sorted([inst1, inst2]) and body["grants"]["granted"] is True,
      "POST /admin/grants by account grants both instances", raw[:400])
st, body, raw = api("POST", "/admin/grants", {"user_id": member_id, "instance_ids": [inst1]})
check(st == 200 and body["grants"]["changed"] == [], "granting again changes nothing (and says so)", raw[:300])
st, body, raw = api("GET", "/admin/grants?user_id=%s" % member_id)
check(st == 200 and sorted(g["instance_id"] for g in body["grants"]) == sorted([inst1, inst2]) and
      body["grants"][0]["account_name"] == "Test Account 2", "GET /admin/grants?user_id=", raw[:300])
st, body, raw = api("GET", "/admin/grants?instance_id=%s" % inst2)
check(st == 200 and [g["email"] for g in body["grants"]] == [email], "GET /admin/grants?instance_id=", raw[:300])
st, body, raw = api("DELETE", "/admin/grants", {"user_id": member_id, "instance_ids": [inst2, ghost_id]})
check(err(st, body, 404, "instance_not_found", "instance_ids") and ghost_id in body["error"]["message"],
      "bulk revoke with an unknown id -> 404 naming it", raw[:300])
check(psql("SELECT count(*) FROM instance_access WHERE user_id = :'p1'", member_id) == [["2"]],
      "... and revokes nothing")
for b, status, code in (({"user_id": member_id}, 400, "missing_field"),
                        ({"user_id": member_id, "instance_ids": [inst1], "account_id": acct}, 400, "invalid_value"),
                        ({"user_id": member_id, "instance_ids": "x"}, 400, "invalid_type"),
                        ({"user_id": member_id, "instance_ids": ["nope"]}, 400, "invalid_value"),
                        ({"user_id": ghost_id, "account_id": acct}, 404, "user_not_found"),
                        ({"user_id": member_id, "account_id": ghost_id}, 404, "account_not_found")):
    st, body, raw = api("POST", "/admin/grants", b)
    check(err(st, body, status, code), "POST /admin/grants %s -> %d %s" % (sorted(b), status, code), raw[:200])
for q, status, code in (("", 400, "invalid_parameter"), ("?user_id=nope", 400, "invalid_parameter"),
                        ("?user_id=" + ghost_id, 404, "user_not_found")):
    st, body, raw = api("GET", "/admin/grants" + q)
    check(err(st, body, status, code), "GET /admin/grants%s -> %d" % (q[:12], status), raw[:200])

# ---- users: list, GET /me of a member, role and disabling
st, body, raw = api("GET", "/admin/users")
me_row = next((u for u in body["users"] if u["id"] == member_id), {}) if st == 200 else {}
check(me_row.get("email") == email and me_row["role"] == "member" and me_row["disabled"] is False and
      me_row["token_count"] == 1 and me_row["instance_count"] == 2, "GET /admin/users: counts", me_row)
check(b"token_hash" not in raw and b"amcb_" not in raw, "the user list holds no token")
st, body, raw = api("GET", "/me", token=member_tok)
check(st == 200 and body["user"] == {"id": member_id, "email": email, "role": "member", "instance_count": 2},
      "GET /me (member): the instances they may use", raw[:300])

# a disabled instance: refused like an ungranted one, gone from GET /instances
mwf2 = create_workflow("member wf 2", "SELECT 1 AS one", token=member_tok)
st, body, raw = api("PATCH", "/admin/instances/%s" % inst2, {"disabled": True})
check(st == 200 and body["instance"]["disabled"] is True and body["instance"]["disabled_at"], "disable an instance",
      raw[:300])
st, body, raw = submit(mwf2, [inst1, inst2], token=member_tok)
check(err(st, body, 403, "instance_access_denied", "instance_ids") and inst2 in body["error"]["message"] and
      inst1 not in body["error"]["message"], "batch-execute refuses the disabled instance like an ungranted one",
      raw[:300])
st, body, raw = submit(WORKFLOW, [inst2])
check(err(st, body, 403, "instance_access_denied"), "... for an admin too", raw[:300])
st, body, _ = api("GET", "/instances", token=member_tok)
check(st == 200 and [i["id"] for i in body["instances"]] == [inst1], "the member no longer lists it", body)
st, body, _ = api("GET", "/me", token=member_tok)
check(body["user"]["instance_count"] == 1, "GET /me counts only usable instances", body)
sched = {"name": "admin test " + amc_id2, "workflow_id": WORKFLOW, "instance_ids": [INSTANCES[0], inst2],
         "cron": "0 6 * * MON", "timezone": "UTC",
         "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-02"}}
psql("UPDATE instances SET disabled_at = NULL WHERE id = :'p1'", inst2)  # a schedule is created on usable ones
st, body, raw = api("POST", "/schedules", sched)
sid = body["schedule"]["id"] if st == 201 else None
psql("UPDATE instances SET disabled_at = now() WHERE id = :'p1'", inst2)
st, body, raw = api("POST", "/schedules/%s/run-now" % sid)
check(st == 201 and [(x["instance_id"], x["code"]) for x in body["refused_instances"]] ==
      [(inst2, "instance_access_denied")] and "disabled" in body["refused_instances"][0]["message"],
      "a schedule run leaves the disabled instance out as refused_instances", raw[:400])
api("DELETE", "/schedules/%s" % sid)
st, body, raw = api("PATCH", "/admin/instances/%s" % inst2, {"disabled": False})
check(st == 200 and body["instance"]["disabled"] is False and body["instance"]["disabled_at"] is None,
      "enable it again", raw[:300])
st, body, _ = api("GET", "/instances", token=member_tok)
check(st == 200 and sorted(i["id"] for i in body["instances"]) == sorted([inst1, inst2]), "and it is listed again", body)

# a disabled user: every token refused at once, back on enable; no admin-less system
st, body, raw = api("PATCH", "/admin/users/%s" % member_id, {"disabled": True})
check(st == 200 and body["user"]["disabled"] is True, "disable a user", raw[:300])
st, body, raw = api("GET", "/me", token=member_tok)
check(err(st, body, 401, "unauthorized"), "the disabled user's token is refused at once", raw[:200])
st, body, raw = api("PATCH", "/admin/users/%s" % member_id, {"disabled": False, "role": "admin"})
check(st == 200 and body["user"]["disabled"] is False and body["user"]["role"] == "admin", "enable and promote", raw[:300])
st, body, raw = api("GET", "/admin/users", token=member_tok)
check(st == 200, "the promoted user is an admin at once", raw[:200])
st, body, raw = api("PATCH", "/admin/users/%s" % member_id, {"role": "member"})
check(st == 200 and body["user"]["role"] == "member", "demote again", raw[:300])
st, body, raw = api("GET", "/admin/users", token=member_tok)
check(err(st, body, 403, "forbidden"), "the demoted user is refused at once", raw[:200])
for patch, status, code in (({"disabled": True}, 409, "last_admin"), ({"role": "member"}, 409, "last_admin"),
                            ({"role": "root"}, 400, "invalid_value"), ({"disabled": 1}, 400, "invalid_type"),
                            ({}, 400, "missing_field"), ({"email": "x@y"}, 400, "unknown_field")):
    st, body, raw = api("PATCH", "/admin/users/%s" % ADMIN_ID, patch)
    check(err(st, body, status, code), "PATCH own admin user %s -> %d %s" % (json.dumps(patch), status, code), raw[:200])
check(psql("SELECT role, disabled_at IS NULL FROM users WHERE id = :'p1'", ADMIN_ID) == [["admin", "t"]],
      "the last admin stays an enabled admin")
for bad in (ghost_id, "nope"):
    st, body, raw = api("PATCH", "/admin/users/%s" % bad, {"disabled": True})
    check(err(st, body, 404, "user_not_found"), "PATCH user %s -> 404" % bad[:8], raw[:200])

# bulk revoke by account
st, body, raw = api("DELETE", "/admin/grants", {"user_id": member_id, "account_id": acct})
check(st == 200 and sorted(body["grants"]["changed"]) == sorted([inst1, inst2]) and body["grants"]["granted"] is False,
      "DELETE /admin/grants by account revokes both", raw[:300])
done()
