"""Table-driven bad requests (tests/data/bad_requests.json): each gets the expected status,
error code and field in the JSON error envelope, and leaves Redis and PostgreSQL exactly as
they were (row counts of every table, the set of Redis keys, the event stream length)."""
import http.client
import json
import os
import time
import urllib.parse
import uuid

from lib import (INSTANCES, PREFIX, WORKFLOW, URL, api, check, create_workflow, done, psql,
                 redis_raw, require_stack)

require_stack()
HERE = os.path.dirname(os.path.abspath(__file__))
CASES = json.load(open(os.path.join(HERE, "..", "data", "bad_requests.json")))
check(len(CASES) >= 60, "at least 60 table cases (%d)" % len(CASES))

# ---- fixtures (created before any snapshot) ----
email = "val-%s@example.com" % uuid.uuid4().hex[:8]
st, body, raw = api("POST", "/admin/users", {"email": email, "role": "member"})
assert st == 201, raw
MEMBER, MEMBER_TOKEN = body["user"]["id"], body["token"]
MI = INSTANCES[3]
st, _, raw = api("POST", "/admin/instances/%s/access" % MI, {"user_id": MEMBER})
assert st == 200, raw
MWF = create_workflow("member validation wf", "SELECT campaign, SUM(clicks) AS c FROM impressions GROUP BY campaign",
                      token=MEMBER_TOKEN)
WF2 = create_workflow("country wf", "SELECT campaign, SUM(clicks) AS c FROM impressions WHERE country = {{country}} GROUP BY campaign")
st, body, raw = api("POST", "/admin/users/%s/tokens" % MEMBER, {"name": "to revoke"})
assert st == 201, raw
REVOKED = body["token"]
st, _, _ = api("GET", "/workflows", token=REVOKED)
check(st == 200, "second token works before revoke", st)
st, _, raw = api("DELETE", "/admin/tokens/%s" % body["api_token"]["id"])
check(st == 200, "admin revokes the token", raw[:300])
exp_at = time.time() + 2
st, body, raw = api("POST", "/admin/users/%s/tokens" % MEMBER,
                    {"name": "short", "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp_at + 1))})
assert st == 201, raw
EXPIRED = body["token"]
st, _, _ = api("GET", "/workflows", token=EXPIRED)
check(st == 200, "expiring token works before expiry (and is cached)", st)

SUBST = {"{WF}": WORKFLOW, "{WF2}": WF2, "{MWF}": MWF, "{I1}": INSTANCES[0], "{I2}": INSTANCES[1],
         "{IA}": INSTANCES[9], "{IA_UPPER}": INSTANCES[9].upper(), "{UNKNOWN}": "9" + str(uuid.uuid4())[1:], "{MEMBER}": MEMBER,
         "{MI}": MI}
TOKENS = {"admin": None, "member": MEMBER_TOKEN, "none": "", "bad": "amcb_" + "0" * 40,
          "revoked": REVOKED, "expired": EXPIRED}


def subst(v):
    if isinstance(v, str):
        for k, s in SUBST.items():
            v = v.replace(k, s)
        return v
    if isinstance(v, list):
        return [subst(x) for x in v]
    if isinstance(v, dict):
        return {subst(k): subst(x) for k, x in v.items()}
    return v


def body_of(case):
    if "raw" in case:
        return subst(case["raw"]).encode()
    if "raw_hex" in case:
        return bytes.fromhex(case["raw_hex"])
    if "body_size" in case:
        return json.dumps({"instance_ids": [INSTANCES[0]], "name": "x" * case["body_size"]}).encode()
    if "params_size" in case:
        return json.dumps({"instance_ids": [INSTANCES[0]], "parameters": {"pad": "p" * case["params_size"]}}).encode()
    if "instance_count" in case:
        return json.dumps({"instance_ids": [str(uuid.uuid4()) for _ in range(case["instance_count"])]}).encode()
    if "body" in case:
        return json.dumps(subst(case["body"])).encode()
    return None


def send(case):
    u = urllib.parse.urlsplit(URL)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = subst(case["path"])
    data = body_of(case)
    headers = {}
    tok = TOKENS[case.get("auth", "admin")]
    if tok is None:
        tok = os.environ["AMCBATCH_TOKEN"]
    if tok:
        headers["Authorization"] = "Bearer " + tok
    if data is not None:
        headers["Content-Type"] = "application/json"
    if "header_size" in case:
        headers["X-Filler"] = "a" * case["header_size"]
    for k, v in subst(case.get("headers", {})).items():
        if v is None:
            headers.pop(k, None)
        else:
            headers[k] = v
    if case.get("chunked"):
        conn.putrequest(case["method"], path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for i in range(0, len(data), 65536):
            part = data[i:i + 65536]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
    else:
        conn.request(case["method"], path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type"), payload


TABLES = ["users", "api_tokens", "amc_accounts", "instances", "instance_access", "workflows",
          "batch_executions", "workflow_executions", "result_rows", "idempotency_keys"]
# keys that change by themselves: leases, locks, cached tokens, and the per-user rate-limit
# windows (earlier tests' windows expire during this one; a rejected request never adds one)
VOLATILE = (PREFIX + "worker", PREFIX + "janitor", PREFIX + "token", PREFIX + "workers",
            PREFIX + "rate:")


def snapshot():
    counts = psql("SELECT " + ", ".join("(SELECT count(*) FROM %s)" % t for t in TABLES))[0]
    keys = sorted(k for k in redis_raw("--scan", "--pattern", "*") if not k.startswith(VOLATILE))
    xlen = redis_raw("XLEN", PREFIX + "events")
    return dict(zip(TABLES, counts)), keys, xlen


# the suite's earlier batches must be idle, or their workers change Redis under us
deadline = time.time() + 120
while time.time() < deadline:
    if psql("SELECT count(*) FROM batch_executions WHERE status IN ('pending', 'running')") == [["0"]]:
        break
    time.sleep(0.5)
while time.time() < exp_at + 1.2:
    time.sleep(0.1)

before = snapshot()
for case in CASES:
    label = "%s %s: %s" % (case["method"], case["path"], case["name"])
    try:
        status, ctype, payload = send(case)
    except Exception as e:  # a dropped connection is a failure of the case
        check(False, label, repr(e))
        continue
    try:
        err = json.loads(payload)["error"]
        shape = ctype.startswith("application/json") and json.loads(payload)["success"] is False
    except (ValueError, KeyError, TypeError, AttributeError):
        err, shape = {}, False
    got = (status, err.get("code"), err.get("field"))
    want = (case["status"], case["code"], subst(case.get("field")))
    ok = shape and got == want and isinstance(err.get("message"), str) and err["message"] != ""
    check(ok, label + " -> %d %s" % (case["status"], case["code"]), "got %s %s" % (got, payload[:300]))
    after = snapshot()
    if not check(after == before, label + ": PostgreSQL and Redis unchanged",
                 {k: (before[0][k], after[0][k]) for k in TABLES if before[0][k] != after[0][k]}
                 if after[0] != before[0] else
                 (set(after[1]) ^ set(before[1]), before[2], after[2])):
        before = after

# the batch-execute case table must still submit fine when corrected: the fixtures are sane
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF2,
                    {"instance_ids": [INSTANCES[0]], "parameters": {"country": "US"}})
check(st == 201 and body["success"], "the corrected request is accepted", raw[:300])
done()
