"""Helpers for the integration tests: they drive the real stack that scripts/test started
(AMCBATCH_URL, AMCBATCH_TOKEN, DATABASE_URL, REDIS_URL, AMCSIM_URL in the environment) over
HTTP, psql and redis-cli, and print one "ok - name" / "not ok - name" line per check."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

URL = os.environ.get("AMCBATCH_URL", "")
TOKEN = os.environ.get("AMCBATCH_TOKEN", "")
DB = os.environ.get("DATABASE_URL", "")
REDIS = os.environ.get("REDIS_URL", "")
SIM = os.environ.get("AMCSIM_URL", "")
PREFIX = "amcb:"

WORKFLOW = "30000000-0000-4000-8000-000000000001"
INSTANCES = ["20000000-0000-4000-8000-%012x" % i for i in range(1, 13)]

_failed = 0


def require_stack():
    if not (URL and TOKEN and DB and REDIS):
        print("ok - # SKIP no stack in the environment (run through scripts/test)")
        sys.exit(77)


def check(cond, name, detail=""):
    """One reported check; returns cond so callers can stop early."""
    global _failed
    if cond:
        print("ok - " + name)
    else:
        _failed += 1
        print("not ok - " + name + (": " + str(detail)[:2000] if detail != "" else ""))
    sys.stdout.flush()
    return cond


def done():
    sys.exit(1 if _failed else 0)


def api(method, path, body=None, token=None, raw=None, headers=None):
    """Returns (status, parsed JSON or None, raw bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method)
    tok = TOKEN if token is None else token
    if tok:
        req.add_header("Authorization", "Bearer " + tok)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return status, parsed, payload


def sim(method, path, body=None, headers=None):
    req = urllib.request.Request(SIM + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def psql(sql, *params):
    """Runs one query with psql (values passed as psql variables, quoted by psql) and returns
    the rows as lists of strings."""
    args = ["psql", DB, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t"]
    for i, p in enumerate(params):
        args += ["-v", "p%d=%s" % (i + 1, p)]
    out = subprocess.run(args, input=sql, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def redis(*args):
    host_port = REDIS.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    out = subprocess.run(["redis-cli", "-h", host, "-p", port, "--no-raw"] + [str(a) for a in args],
                         capture_output=True, text=True, check=True).stdout
    return out


def redis_raw(*args):
    host_port = REDIS.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    out = subprocess.run(["redis-cli", "-h", host, "-p", port, "--raw"] + [str(a) for a in args],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def redis_hash(key):
    vals = redis_raw("HGETALL", key)
    return dict(zip(vals[0::2], vals[1::2]))


TERMINAL = ("completed", "partial", "failed", "cancelled")


def wait_batch(batch_id, timeout=120):
    """Polls the status endpoint until the batch is terminal; returns the last batch_status."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        st, body, _ = api("GET", "/workflows/batch/%s/status" % batch_id)
        if st == 200 and body and body.get("success"):
            last = body["batch_status"]
            if last["status"] in TERMINAL:
                return last
        time.sleep(0.3)
    return last


def invariant_ok(batch_id):
    """The counter invariant of design.md on the batch hash in Redis."""
    h = redis_hash(PREFIX + "batch:{%s}" % batch_id)
    if not h:
        return False, "no batch hash"
    names = ("pending", "queued", "running", "retry_wait", "completed", "failed", "cancelled")
    n = {k: int(h.get(k, "0") or 0) for k in names}
    total = int(h.get("total", "0"))
    if sum(n.values()) != total:
        return False, "counters %s do not sum to total %d" % (n, total)
    terminal = n["completed"] + n["failed"] + n["cancelled"] == total
    if terminal != (h.get("status") in TERMINAL):
        return False, "status %s but counters %s" % (h.get("status"), n)
    return True, ""


def create_workflow(name, sql, params=None, token=None):
    st, body, raw = api("POST", "/workflows", {"name": name, "description": "test workflow",
                                                 "sql_query": sql, "parameters": params or {}},
                        token=token)
    if st not in (200, 201) or not body or not body.get("success"):
        raise RuntimeError("create workflow failed: %s %s" % (st, raw[:500]))
    return body["workflow"]["id"]


def submit(workflow_id, instance_ids, parameters=None, overrides=None, name=None, token=None):
    body = {"instance_ids": instance_ids, "parameters": parameters or {}}
    if overrides:
        body["instance_parameters"] = overrides
    if name:
        body["name"] = name
    return api("POST", "/workflows/%s/batch-execute" % workflow_id, body, token=token)
