"""Completion webhooks (issue 10) on the real stack: every endpoint's shapes and errors,
cross-user isolation, a local receiver (http.server on loopback; the stack allows loopback)
that fails the first two attempts with 500 and then accepts: the retries carry the same
Amcbatch-Delivery id, the signature verifies with the secret, the body is right for a completed
and for a cancelled batch; the Slack format; SSRF refusals at creation on a private API with
webhook_allow_private_networks = none; a worker SIGKILLed while it holds a delivery's lease:
another worker delivers it after the lease ends."""
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import lib
from lib import (INSTANCES, WORKFLOW, api, check, done, psql, require_stack, sim, sim_put, wait_batch,
                 wait_until)

require_stack()
TAG = uuid.uuid4().hex[:6]


# ---- the receiver ------------------------------------------------------------------------------
class Receiver:
    """Records every POST; per path a behaviour: /flaky-* answers 500 to the first two requests,
    /hang-* holds the first one for 25 s, anything else 200."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rec.lock:
                    seen = sum(1 for g in rec.got if g["path"] == self.path)
                    rec.got.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                    "at": time.time()})
                if self.path.startswith("/flaky") and seen < 2:
                    code = 500
                elif self.path.startswith("/hang") and seen == 0:
                    time.sleep(25)
                    code = 200
                else:
                    code = 200
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"thanks" if code == 200 else b"oops, try again")
                except OSError:
                    pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, path):
        with self.lock:
            return [g for g in self.got if g["path"] == path]


rx = Receiver()


def verify(secret, hdr, body):
    parts = dict(p.split("=", 1) for p in hdr.split(","))
    want = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


def hook(body, token=None):
    return api("POST", "/webhooks", body, token=token)


created = []


def add(url, events, **extra):
    st, b, raw = hook(dict({"url": url, "events": events}, **extra))
    if st == 201:
        created.append(b["webhook"]["id"])
    return st, b, raw


# ---- shapes -------------------------------------------------------------------------------------
st, b, raw = add(rx.url("/flaky-" + TAG), ["batch.completed", "batch.cancelled"])
check(st == 201 and b["success"], "POST /webhooks -> 201", raw[:300])
wh = b["webhook"]
SECRET = wh.get("secret", "")
check(SECRET.startswith("whsec_") and len(SECRET) == 49, "a generated whsec_ secret in the 201", wh)
check(wh["secret_hint"] == SECRET[-4:] and wh["format"] == "json" and
      wh["events"] == ["batch.completed", "batch.cancelled"] and wh["url"] == rx.url("/flaky-" + TAG),
      "the webhook's fields", wh)
st, b, raw = api("GET", "/webhooks/" + wh["id"])
check(st == 200 and "secret" not in b["webhook"] and b["webhook"]["secret_hint"] == SECRET[-4:],
      "GET /webhooks/{id}: no secret, its hint", raw[:300])
st, b, raw = api("GET", "/webhooks")
check(st == 200 and any(w["id"] == wh["id"] for w in b["webhooks"]) and
      all("secret" not in w for w in b["webhooks"]), "GET /webhooks lists it, never the secret", raw[:300])
enc = psql("SELECT encode(secret_enc, 'escape') FROM webhooks WHERE id = :'p1'", wh["id"])
check(enc and SECRET not in enc[0][0], "the secret is stored encrypted")
apilog = lib.stack_log("api")
if apilog:
    check(SECRET not in apilog, "the secret is not in the API log")

GIVEN = "my-own-secret-" + TAG
st, b, raw = add(rx.url("/slack-" + TAG), ["batch.completed"], format="slack", secret=GIVEN)
check(st == 201 and "secret" not in b["webhook"] and b["webhook"]["secret_hint"] == GIVEN[-4:],
      "a given secret is not echoed", raw[:300])
slack_id = b["webhook"]["id"] if st == 201 else None

# ---- errors: nothing stored ---------------------------------------------------------------------
count = lambda: int(psql("SELECT count(*) FROM webhooks")[0][0])
before = count()
long_url = "http://127.0.0.1/" + "a" * 2040
for body_, status, code in (
        ({"events": ["batch.completed"]}, 400, "missing_field"),
        ({"url": rx.url("/x")}, 400, "missing_field"),
        ({"url": 5, "events": ["batch.completed"]}, 400, "invalid_type"),
        ({"url": rx.url("/x"), "events": "batch.completed"}, 400, "invalid_type"),
        ({"url": rx.url("/x"), "events": [1]}, 400, "invalid_type"),
        ({"url": rx.url("/x"), "events": []}, 422, "invalid_value"),
        ({"url": rx.url("/x"), "events": ["batch.completed"] * 6}, 422, "invalid_value"),
        ({"url": rx.url("/x"), "events": ["batch.completed", "batch.completed"]}, 422, "invalid_value"),
        ({"url": rx.url("/x"), "events": ["batch.running"]}, 422, "invalid_event"),
        ({"url": rx.url("/x"), "events": ["batch.completed"], "format": "xml"}, 422, "invalid_value"),
        ({"url": rx.url("/x"), "events": ["batch.completed"], "secret": "short"}, 422, "invalid_value"),
        ({"url": rx.url("/x"), "events": ["batch.completed"], "secret": "has blanks in it ok"}, 422, "invalid_value"),
        ({"url": rx.url("/x"), "events": ["batch.completed"], "extra": 1}, 400, "unknown_field"),
        ({"url": "ftp://127.0.0.1/x", "events": ["batch.completed"]}, 422, "invalid_url"),
        ({"url": "javascript:alert(1)", "events": ["batch.completed"]}, 422, "invalid_url"),
        ({"url": "127.0.0.1/x", "events": ["batch.completed"]}, 422, "invalid_url"),
        ({"url": "http://u:p@127.0.0.1/x", "events": ["batch.completed"]}, 422, "invalid_url"),
        ({"url": "http://127.0.0.1/\u00e9<script>", "events": ["batch.completed"]}, 422, "invalid_url"),
        ({"url": long_url, "events": ["batch.completed"]}, 400, "invalid_value"),
        ({"url": "http://10.0.0.1/x", "events": ["batch.completed"]}, 422, "url_not_allowed"),
        ({"url": "http://169.254.169.254/latest/meta-data", "events": ["batch.completed"]}, 422, "url_not_allowed"),
        ({"url": "http://[fd00::1]/x", "events": ["batch.completed"]}, 422, "url_not_allowed"),
        ({"url": "http://[::ffff:192.168.1.1]/x", "events": ["batch.completed"]}, 422, "url_not_allowed"),
        ({"url": "http://224.0.0.1/x", "events": ["batch.completed"]}, 422, "url_not_allowed"),
        ({"url": "http://no-such-host-%s.invalid/x" % TAG, "events": ["batch.completed"]}, 422, "url_not_allowed")):
    st, b, raw = hook(body_)
    check(st == status and b and b["error"]["code"] == code,
          "POST /webhooks %s -> %d %s" % (json.dumps(body_)[:80], status, code), raw[:300])
st, b, raw = api("POST", "/webhooks", raw=b'{"url": "http://127.0.0.1/", "url": "x", "events": []}')
check(st == 400 and b["error"]["code"] == "invalid_json", "duplicate keys -> 400 invalid_json", raw[:200])
st, b, raw = api("POST", "/webhooks", raw=b'[1]')
check(st == 400, "not an object -> 400", raw[:200])
check(count() == before, "refused requests stored nothing", count())
for path, code in (("/webhooks/not-a-uuid", "webhook_not_found"),
                   ("/webhooks/%s" % uuid.uuid4(), "webhook_not_found"),
                   ("/webhooks/%s/deliveries" % uuid.uuid4(), "webhook_not_found")):
    st, b, raw = api("GET", path)
    check(st == 404 and b["error"]["code"] == code, "GET %s -> 404" % path[:30], raw[:200])
st, b, raw = api("PUT", "/webhooks/" + wh["id"], {})
check(st == 405, "PUT /webhooks/{id} -> 405", raw[:200])
st, b, raw = api("GET", "/webhooks/%s/deliveries?limit=0" % wh["id"])
check(st == 400 and b["error"]["code"] == "invalid_parameter", "limit=0 -> 400", raw[:200])
st, b, raw = api("GET", "/webhooks", token="amcb_" + "0" * 40)
check(st == 401, "no valid token -> 401", raw[:200])

# ---- another user --------------------------------------------------------------------------------
st, b, raw = api("POST", "/admin/users", {"email": "webhooks-%s@example.com" % TAG})
member, mtoken = b["user"]["id"], b["token"]
st, b, raw = api("GET", "/webhooks/" + wh["id"], token=mtoken)
check(st == 404, "another user's webhook -> 404", raw[:200])
st, b, raw = api("GET", "/webhooks/%s/deliveries" % wh["id"], token=mtoken)
check(st == 404, "another user's deliveries -> 404", raw[:200])
st, b, raw = api("DELETE", "/webhooks/" + wh["id"], token=mtoken)
check(st == 404, "deleting another user's webhook -> 404", raw[:200])
st, b, raw = api("GET", "/webhooks", token=mtoken)
check(st == 200 and b["webhooks"] == [], "a member's list holds only its own", raw[:300])
# the per-user limit (20 by default)
mine = []
for i in range(25):
    st, b, raw = hook({"url": rx.url("/member-%d" % i), "events": ["batch.failed"]}, token=mtoken)
    if st != 201:
        break
    mine.append(b["webhook"]["id"])
check(st == 409 and b["error"]["code"] == "too_many_webhooks" and len(mine) == 20,
      "the 21st webhook of a user -> 409 too_many_webhooks", (len(mine), raw[:200]))
st, b, raw = api("GET", "/webhooks", token=mtoken)
check(st == 200 and len(b["webhooks"]) == 20, "the member sees its 20", st)
st, b, raw = api("DELETE", "/webhooks/" + mine[0], token=mtoken)
check(st == 200 and b["webhook"]["id"] == mine[0], "DELETE /webhooks/{id} -> 200", raw[:200])
st, b, raw = api("GET", "/webhooks/" + mine[0], token=mtoken)
check(st == 404, "a deleted webhook is gone", raw[:200])
st, b, raw = api("GET", "/webhooks/" + mine[1])
check(st == 200, "an admin sees a member's webhook", raw[:200])
for i in mine[1:]:
    api("DELETE", "/webhooks/" + i, token=mtoken)

# ---- a completed batch: two failed attempts, then delivered ---------------------------------------
st, b, raw = api("POST", "/workflows/%s/batch-execute" % WORKFLOW,
                 {"instance_ids": INSTANCES[:2], "name": "hooked " + TAG})
check(st == 201, "a batch over two instances", raw[:200])
bid = b["batch"]["batch_id"]
final = wait_batch(bid, 120)
check(final and final["status"] == "completed", "the batch completes", final and final["status"])
got = wait_until(lambda: len(rx.on("/flaky-" + TAG)) >= 3 and rx.on("/flaky-" + TAG), 90)
check(got and len(got) >= 3, "the receiver saw three attempts (500, 500, 200)", len(got or []))
if got and len(got) >= 3:
    ids = {g["headers"].get("Amcbatch-Delivery") for g in got}
    check(len(ids) == 1 and None not in ids, "every attempt carries the same Amcbatch-Delivery", ids)
    check(all(g["headers"].get("Amcbatch-Event") == "batch.completed" for g in got), "Amcbatch-Event header")
    check(all(verify(SECRET, g["headers"]["Amcbatch-Signature"], g["body"]) for g in got),
          "the signature verifies with the secret")
    check(not verify("whsec_wrong", got[0]["headers"]["Amcbatch-Signature"], got[0]["body"]),
          "and not with another secret")
    check(got[1]["at"] - got[0]["at"] >= 0.5, "the retry waited (backoff)", got[1]["at"] - got[0]["at"])
    p = json.loads(got[-1]["body"])
    bb = p["data"]["batch"]
    check(p["type"] == "batch.completed" and p["id"] and p["created_at"].endswith("Z"), "payload envelope", p)
    check(bb["batch_id"] == bid and bb["status"] == "completed" and bb["total_instances"] == 2 and
          bb["completed"] == 2 and bb["failed"] == 0 and bb["cancelled"] == 0 and
          bb["name"] == "hooked " + TAG and bb["workflow_id"] == WORKFLOW and bb["completed_at"],
          "payload batch summary", bb)
    check(bb["links"] == {"status": "/workflows/batch/%s/status" % bid,
                          "results": "/workflows/batch/%s/results" % bid,
                          "results_csv": "/workflows/batch/%s/results.csv" % bid}, "payload links", bb.get("links"))
    did = got[0]["headers"]["Amcbatch-Delivery"]

    def delivered():
        st, b, raw = api("GET", "/webhooks/%s/deliveries" % wh["id"])
        d = [x for x in (b or {}).get("deliveries", []) if x["id"] == did]
        return d[0] if d and d[0]["state"] == "delivered" else None
    d = wait_until(delivered, 20)
    check(d and d["event"] == "batch.completed" and d["attempt_count"] == 3 and len(d["attempts"]) == 3,
          "the delivery log: delivered after 3 attempts", d)
    if d:
        a = d["attempts"]
        check([x["status_code"] for x in a] == [500, 500, 200], "attempt status codes", a)
        check(a[0]["error"] == "HTTP 500" and a[2]["error"] is None and a[0]["response"] == "oops, try again"
              and all(isinstance(x["latency_ms"], int) and x["at"].endswith("Z") for x in a),
              "attempt fields: error, answer prefix, latency, time", a)
# a slack webhook of the same event
sl = wait_until(lambda: rx.on("/slack-" + TAG), 30)
if check(sl, "the slack webhook got the event"):
    body = json.loads(sl[0]["body"])
    check(list(body) == ["text"] and bid in body["text"] and "completed" in body["text"] and
          "2 of 2 instances completed" in body["text"] and "/workflows/batch/%s/results" % bid in body["text"],
          "slack body {text} with a summary and the link", body)
    check(verify(GIVEN, sl[0]["headers"]["Amcbatch-Signature"], sl[0]["body"]), "slack body signed with the given secret")
time.sleep(1)
check(len(rx.on("/flaky-" + TAG)) == 3, "nothing more after the 2xx", len(rx.on("/flaky-" + TAG)))
check(psql("SELECT count(*) FROM webhook_events e JOIN batch_executions b ON b.id = e.batch_execution_id"
           " WHERE b.batch_id = :'p1'", bid)[0][0] == "1", "one event for the batch")

# ---- a cancelled batch ---------------------------------------------------------------------------
acct, insts = lib.fleet_account("Webhooks", 1)
sim_put("/sim/profiles/" + insts[0][1], {"latency_ms": 8000})
st, b, raw = api("POST", "/workflows/%s/batch-execute" % WORKFLOW, {"instance_ids": [insts[0][0]]})
slow = b["batch"]["batch_id"]
time.sleep(1)
api("POST", "/workflows/batch/%s/cancel" % slow)
check((wait_batch(slow, 60) or {}).get("status") == "cancelled", "a batch cancelled")
sim("DELETE", "/sim/profiles/" + insts[0][1])


def cancelled_event():
    for g in rx.on("/flaky-" + TAG):
        p = json.loads(g["body"])
        if p["type"] == "batch.cancelled" and p["data"]["batch"]["batch_id"] == slow:
            return g, p
    return None
c = wait_until(cancelled_event, 60)
if check(c, "the cancelled batch's event arrives"):
    g, p = c
    bb = p["data"]["batch"]
    check(bb["status"] == "cancelled" and bb["cancelled"] == 1 and bb["total_instances"] == 1 and
          g["headers"]["Amcbatch-Event"] == "batch.cancelled" and verify(SECRET, g["headers"]["Amcbatch-Signature"], g["body"]),
          "cancelled payload: status, counts, header, signature", bb)
check(not any(json.loads(g["body"]).get("data", {}).get("batch", {}).get("batch_id") == slow
              for g in rx.on("/slack-" + TAG)), "a webhook not subscribed to batch.cancelled gets nothing")

# ---- amcbatch_webhook_emit (schedules' entry) -----------------------------------------------------
add(rx.url("/skip-" + TAG), ["schedule.run_skipped"])
n = psql("SELECT amcbatch_webhook_emit('00000000-0000-4000-8000-000000000001', 'schedule.run_skipped',"
         " jsonb_build_object('schedule_id', :'p1', 'schedule_name', 'Mondays', 'scheduled_for',"
         " '2026-12-07T06:00:00Z', 'reason', 'previous run still going'))", str(uuid.uuid4()))
check(n == [["1"]], "amcbatch_webhook_emit inserts one delivery per subscribed webhook", n)
sk = wait_until(lambda: rx.on("/skip-" + TAG), 30)
if check(sk, "a schedule.run_skipped event is delivered"):
    p = json.loads(sk[0]["body"])
    check(p["type"] == "schedule.run_skipped" and p["data"]["schedule_name"] == "Mondays" and
          p["data"]["reason"] == "previous run still going", "its payload", p)

# ---- SSRF at creation with webhook_allow_private_networks = none ----------------------------------
host = socket.gethostname()
try:
    host_is_loopback = socket.gethostbyname(host).startswith("127.")
except OSError:
    host_is_loopback = False
with lib.PrivateApi(webhook_allow_private_networks="none") as url:
    if url is None:
        check(True, "SSRF under none # SKIP no amcbatch-api in BUILD_DIR")
    else:
        cases = ["http://127.0.0.1:%d/x" % rx.port, "http://[::1]/x", "http://localhost/x",
                 "http://sub.localhost/x", "http://10.0.0.1/x", "http://169.254.169.254/x",
                 "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x", "http://100.64.1.1/x"]
        if host_is_loopback:
            cases.append("http://%s:%d/x" % (host, rx.port))	# a name resolving to 127.0.0.x
        for u in cases:
            st, b, raw = hook({"url": u, "events": ["batch.completed"]})
            check(st == 422 and b["error"]["code"] == "url_not_allowed" and b["error"]["field"] == "url",
                  "under none: %s -> 422 url_not_allowed" % u, raw[:300])
        if not host_is_loopback:
            check(True, "a name resolving to loopback # SKIP the host name does not")

# ---- a worker killed while it holds a lease -------------------------------------------------------
st, b, raw = add(rx.url("/hang-" + TAG), ["batch.completed"])
hang_id = b["webhook"]["id"]
st, b, raw = api("POST", "/workflows/%s/batch-execute" % WORKFLOW, {"instance_ids": INSTANCES[2:3]})
kb = b["batch"]["batch_id"]
check((wait_batch(kb, 120) or {}).get("status") == "completed", "a batch for the hanging receiver")
first = wait_until(lambda: rx.on("/hang-" + TAG), 30)
holder = psql("SELECT d.leased_by FROM webhook_deliveries d WHERE d.webhook_id = :'p1'", hang_id)
check(first and holder and holder[0][0], "a worker holds the lease while the receiver hangs", holder)
run_dir = os.environ.get("RUN_DIR", "")
killed = None
if holder and holder[0][0] and run_dir:
    n = holder[0][0].rsplit("-w", 1)[-1]
    pidf = os.path.join(run_dir, "worker%s.pid" % n)
    if os.path.exists(pidf):
        with open(pidf) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGKILL)
        killed = n
check(killed is not None, "the lease holder SIGKILLed", holder)
again = wait_until(lambda: len(rx.on("/hang-" + TAG)) >= 2, 60)
check(again, "the delivery is made again after the lease ends", len(rx.on("/hang-" + TAG)))
if again:
    h = rx.on("/hang-" + TAG)
    check(h[0]["headers"]["Amcbatch-Delivery"] == h[1]["headers"]["Amcbatch-Delivery"], "with the same delivery id")
row = wait_until(lambda: psql("SELECT state, attempts FROM webhook_deliveries WHERE webhook_id = :'p1'"
                              " AND state = 'delivered'", hang_id), 30)
check(row and row[0] == ["delivered", "2"], "delivered, on the second lease", row)
if killed:
    subprocess.run([os.path.join(lib.TOP, "scripts", "stack"), "restart-worker", killed],
                   capture_output=True, timeout=120)

# ---- clean up --------------------------------------------------------------------------------------
for i in created:
    api("DELETE", "/webhooks/" + i)
st, b, raw = api("GET", "/webhooks")
check(st == 200 and not any(w["id"] in created for w in b["webhooks"]), "the test's webhooks deleted")
check(psql("SELECT count(*) FROM webhook_deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"
           " WHERE w.id IS NULL")[0][0] == "0", "their deliveries went with them")
rx.srv.shutdown()
done()
