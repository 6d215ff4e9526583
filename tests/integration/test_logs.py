"""log_format = json and the API's access log: an amcbatch-api and an amcbatch-worker of this
test's own, on the stack's Redis, PostgreSQL and amcsim, log as JSON; a batch runs through them.
Every line of both logs must parse as one JSON object with ts, level, program, pid and msg;
worker lines carry the worker id, lines about the batch carry batch_id (and exec_id); each
request has an access line (method, route pattern, status, duration_ms, bytes, user_id); and
neither the bearer token nor a query string (which may hold a token) appears anywhere."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import lib
from lib import (INSTANCES, WORKFLOW, check, done, require_stack, wait_until)

require_stack()
BUILD = os.environ.get("BUILD_DIR") or os.path.join(lib.TOP, "build")
RUN_DIR = os.environ.get("RUN_DIR") or os.path.join(lib.TOP, ".run")
tmp = tempfile.mkdtemp(prefix="amcb-logs-")
env = dict(os.environ)
env.update({
    "AMCBATCH_LOG_FORMAT": "json",
    "AMCBATCH_LOG_LEVEL": "debug",
    "AMCBATCH_REDIS_URL": lib.REDIS,
    "AMCBATCH_DATABASE_URL": lib.DB,
    "AMCBATCH_SECRET_KEY": open(os.path.join(RUN_DIR, "secret.key")).read().strip(),
    "AMCBATCH_API_PORT": "0",
    "AMCBATCH_WEB_ROOT": os.path.join(lib.TOP, "web"),
    "AMCBATCH_SCHEDULE_TICK_MS": "0",
    "AMCBATCH_SPOOL_DIR": tmp,
    "AMCBATCH_WORKER_ID": "logtest-w1",
})
# each account region on its own amcsim host, as the stack's workers (seed EU and FE instances)
for region, host in lib.SIM_HOSTS.items():
    env["AMCBATCH_AMC_BASE_URL_" + region] = host
    env["AMCBATCH_AMC_TOKEN_URL_" + region] = host + "/auth/o2/token"
api_log = os.path.join(tmp, "api.log")
worker_log = os.path.join(tmp, "worker.log")
procs = []


def start(binary, log):
    f = open(log, "wb")
    p = subprocess.Popen([os.path.join(BUILD, binary)], env=env, stdout=f, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def lines(path):
    with open(path, "rb") as f:
        return [ln for ln in f.read().decode("utf-8", "replace").split("\n") if ln]


def parsed(path):
    out, bad = [], []
    for ln in lines(path):
        try:
            obj = json.loads(ln)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
            out.append(obj)
        except ValueError:
            bad.append(ln)
    return out, bad


# the stack's workers wait while this test's worker runs the batch, so its log has the batch's
# lines (they would otherwise claim all of it first); they go on in the finally below
paused = []
for n in ("worker1", "worker2"):
    try:
        paused.append(lib.pid_of(n))
    except OSError:
        pass
try:
    start("amcbatch-api", api_log)
    start("amcbatch-worker", worker_log)
    for p in paused:
        os.kill(p, signal.SIGSTOP)

    def api_url():
        for obj in parsed(api_log)[0]:
            m = re.search(r"listening on (http://\S+):(\d+)", obj.get("msg", ""))
            if m:
                return "%s:%s" % (m.group(1), m.group(2))
        return None
    url = wait_until(api_url, 20)
    if not check(url is not None, "own json api is listening", open(api_log).read()[-1500:]):
        raise SystemExit
    lib.URL = url
    ok = wait_until(lambda: lib.api("GET", "/healthz", token="")[0] == 200, 20)
    check(ok, "own api answers /healthz")

    st, body, raw = lib.submit(WORKFLOW, INSTANCES[:6],
                               parameters={"startDate": "2025-01-01", "endDate": "2025-01-02"},
                               name="json log batch")
    check(st in (200, 201), "submit through the json api", raw[:300])
    bid = body["batch"]["batch_id"] if body and body.get("batch") else ""
    final = lib.wait_batch(bid, 120) if bid else None
    check(final is not None and final["status"] in ("completed", "partial", "failed"),
          "batch finished", final)
    # a token in a query string (as EventSource clients send) and a 404 and 401
    lib.api("GET", "/workflows/batch/%s/status?access_token=%s&probe=qsecret42" % (bid, lib.TOKEN))
    lib.api("GET", "/no/such/route")
    lib.api("GET", "/workflows/batch/list", token="amcb_not_a_real_token_0123456789")
    time.sleep(0.5)
finally:
    for p in paused:
        os.kill(p, signal.SIGCONT)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

api_objs, api_bad = parsed(api_log)
w_objs, w_bad = parsed(worker_log)
check(not api_bad and len(api_objs) > 5, "every api line is one JSON object (%d lines)" % len(api_objs),
      api_bad[:3])
check(not w_bad and len(w_objs) > 5, "every worker line is one JSON object (%d lines)" % len(w_objs),
      w_bad[:3])
base = ("ts", "level", "program", "pid", "msg")
check(all(all(k in o for k in base) for o in api_objs + w_objs), "every line has ts, level, program, pid, msg")
check(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["ts"]) for o in api_objs + w_objs),
      "ts is RFC 3339 UTC with ms")
check(all(o["level"] in ("error", "warn", "info", "debug") for o in api_objs + w_objs), "levels lower-case")
check({o["program"] for o in api_objs} == {"amcbatch-api"} and
      {o["program"] for o in w_objs} == {"amcbatch-worker"}, "program names")
check(all(o.get("worker") == "logtest-w1" for o in w_objs), "worker lines carry the worker id")
check(any(o.get("batch_id") == bid for o in w_objs), "worker lines about the batch carry batch_id")
check(any(o.get("batch_id") == bid and re.fullmatch(r"exec_[0-9a-f]{8}", o.get("exec_id", ""))
          for o in w_objs), "worker lines about an execution carry exec_id")
check(all(o["batch_id"] in o["msg"] for o in api_objs + w_objs if "batch_id" in o),
      "batch_id is the one the message names")

acc = [o for o in api_objs if o["msg"] == "request"]
check(all(all(k in o for k in ("method", "route", "status", "duration_ms", "bytes", "user_id"))
          for o in acc) and len(acc) >= 5, "access lines carry method, route, status, duration_ms, bytes, user_id",
      acc[:3])
sub = [o for o in acc if o["method"] == "POST" and o["route"] == "/workflows/*/batch-execute"]
check(len(sub) == 1 and sub[0]["status"] in (200, 201) and sub[0]["bytes"] > 0 and
      re.fullmatch(r"[0-9a-f-]{36}", sub[0]["user_id"]) and isinstance(sub[0]["duration_ms"], int),
      "the submit's access line: route pattern, status, bytes, user id", sub)
check(any(o["route"] == "-" and o["status"] == 404 for o in acc), "an unmatched path logs route - and 404")
check(any(o["status"] == 401 and o["user_id"] == "-" for o in acc), "a refused token logs 401 without a user")
check(any(o["route"] == "/healthz" and o["status"] == 200 for o in acc), "healthz logged")

text = open(api_log, encoding="utf-8", errors="replace").read() + open(worker_log, encoding="utf-8",
                                                                      errors="replace").read()
check(lib.TOKEN not in text, "the bearer token appears in no log line")
check("amcb_not_a_real_token" not in text, "a refused token appears in no log line")
check("qsecret42" not in text and "access_token" not in text, "no query string in the logs")
done()
