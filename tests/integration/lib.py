"""Helpers for the integration tests: they drive the real stack that scripts/test started
(AMCBATCH_URL, AMCBATCH_TOKEN, DATABASE_URL, REDIS_URL, AMCSIM_URL in the environment) over
HTTP, psql and redis-cli, and print one "ok - name" / "not ok - name" line per check."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

URL = os.environ.get("AMCBATCH_URL", "")
TOKEN = os.environ.get("AMCBATCH_TOKEN", "")
DB = os.environ.get("DATABASE_URL", "")
REDIS = os.environ.get("REDIS_URL", "")
SIM = os.environ.get("AMCSIM_URL", "")
# amcsim's host per AMC region (scripts/stack serves three; else the one host is all of them)
SIM_HOSTS = {"NA": SIM, "EU": os.environ.get("AMCSIM_URL_EU") or SIM,
             "FE": os.environ.get("AMCSIM_URL_FE") or SIM}
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
    if _failed:
        for w in PrivateWorker.started:
            print("# private worker %s log kept: %s" % (w.id, w.logf))
    else:
        # a passing run's private worker logs go (the next session's /tmp had 144 of them)
        for w in PrivateWorker.started:
            if (w.proc is None or w.proc.poll() is not None) and os.path.exists(w.logf):
                os.unlink(w.logf)
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


def sim(method, path, body=None, headers=None, region="NA"):
    """(status, JSON) of a call to amcsim's host of region (its control API is on every host)."""
    req = urllib.request.Request(SIM_HOSTS[region] + path, method=method,
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


def same_csv_value(j, text):
    """A CSV field against the JSON value of the same cell (results endpoint): null is an empty
    field, booleans true/false, numbers compared as numbers (the server's CSV prints
    PostgreSQL's text of a jsonb number, the CLI jansson's), strings verbatim."""
    if j is None:
        return text == ""
    if isinstance(j, bool):
        return text == ("true" if j else "false")
    if isinstance(j, (int, float)):
        try:
            return float(text) == float(j)
        except ValueError:
            return False
    if isinstance(j, str):
        return text == j
    return json.loads(text) == j


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


def status_executions(batch_id):
    """The executions of GET /workflows/batch/{id}/status ([] unless it answers 200)."""
    st, body, _ = api("GET", "/workflows/batch/%s/status" % batch_id)
    return body["batch_status"]["executions"] if st == 200 else []


def metric_value(text, series):
    """The value of series (name and labels as exposed, e.g. 'x_total' or 'x{a="b"}') in a
    Prometheus exposition, or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


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


# ---- fleet helpers (test_fleet, test_netns): processes of the stack, sampling, amcsim --------

RUN_DIR = os.environ.get("RUN_DIR", "")
TOP = os.environ.get("TOP") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stack_log(name):
    """What the stack daemon `name` (api, worker1, ...) has logged so far, "" without one."""
    path = os.path.join(RUN_DIR, name + ".log")
    if not RUN_DIR or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


FLEET_SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
             "GROUP BY campaign ORDER BY campaign")


def wait_until(pred, timeout, interval=0.1):
    """Polls pred() until it returns something true or the deadline passes; returns the last value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(interval)


def sim_put(path, body):
    return sim("PUT", path, body, headers={"Content-Type": "application/json"})


def sim_instance_stats():
    st, body = sim("GET", "/sim/stats")
    return (body or {}).get("instances", {}) if st == 200 else {}


def created_since(before, amc_ids):
    """executions_created per AMC instance since the /sim/stats snapshot `before`."""
    now = sim_instance_stats()
    return {i: now.get(i, {}).get("executions_created", 0) - before.get(i, {}).get("executions_created", 0)
            for i in amc_ids}


def stack(*args, **env):
    """scripts/stack of the running stack (RUN_DIR, BUILD_DIR from the environment), or of the
    one the keyword arguments name (e.g. RUN_DIR=..., STACK_WORKERS="0")."""
    return subprocess.run([os.path.join(TOP, "scripts", "stack")] + list(args), env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=180)


def pid_of(name):
    with open(os.path.join(RUN_DIR, name + ".pid")) as f:
        return int(f.read().strip())


def pid_alive(pid):
    """True while pid runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def submit_paced(workflow_id, instance_ids, parameters=None, name=None, timeout=75):
    """submit, waiting out the per-user submission rate limit (429) earlier tests may have used up."""
    deadline = time.time() + timeout
    while True:
        st, body, raw = submit(workflow_id, instance_ids, parameters=parameters, name=name)
        if st != 429 or time.time() >= deadline:
            return st, body, raw
        time.sleep(1)


def exec_hashes(batch_id):
    return [redis_hash(PREFIX + "exec:{%s}:%s" % (batch_id, e))
            for e in redis_raw("LRANGE", PREFIX + "batch:{%s}:execs" % batch_id, 0, -1)]


def batch_hash(batch_id):
    return redis_hash(PREFIX + "batch:{%s}" % batch_id)


_SNAPSHOT_LUA = """
local out = {slots = {}, instance = {}, account = {}, parked = {}, status = {}}
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do out.slots[h[i]] = tonumber(h[i + 1]) end
local prefix, nb = ARGV[1], tonumber(ARGV[2])
for i = 3, 2 + nb do
	local b = ARGV[i]
	out.status[b] = redis.call('HGET', prefix .. 'batch:{' .. b .. '}', 'status') or ''
	for _, e in ipairs(redis.call('LRANGE', prefix .. 'batch:{' .. b .. '}:execs', 0, -1)) do
		local v = redis.call('HMGET', prefix .. 'exec:{' .. b .. '}:' .. e, 'state', 'amc_instance_id',
			'account_id', 'slots')
		-- the execs holding slots: every running one, and a handed-back one whose AMC
		-- execution runs on (lua/lib/slots.lua)
		if v[1] == 'running' or v[4] == '1' then
			out.instance[v[2]] = (out.instance[v[2]] or 0) + 1
			out.account[v[3]] = (out.account[v[3]] or 0) + 1
		end
	end
end
for i = 3 + nb, #ARGV do
	out.parked[ARGV[i]] = redis.call('LLEN', prefix .. 'parked:instance:' .. ARGV[i])
end
return cjson.encode(out)
"""


def running_snapshot(batch_ids, amc_ids=()):
    """One atomic sample (a read-only EVAL): the `P running` slots, the execs of batch_ids that
    hold slots (running, or handed back while AMC runs them) counted per amc_instance_id and
    account_id from their exec hashes, each batch's status, and the parked list length of each
    of amc_ids."""
    out = redis_raw("EVAL", _SNAPSHOT_LUA, 1, PREFIX + "running", PREFIX, len(batch_ids),
                    *(list(batch_ids) + list(amc_ids)))
    snap = json.loads(out[0])
    for k in ("slots", "instance", "account", "parked", "status"):
        if not isinstance(snap.get(k), dict):
            snap[k] = {}	# cjson encodes an empty table as []
    return snap


def fleet_account(label, n, region="NA"):
    """A new AMC account in region (NA, EU, FE; any refresh token works with amcsim) and n
    instances of it; returns (account dict, [(instance uuid, amc instance id)]). amcsim is not
    told the instances' region: PUT /sim/profiles/<id> {"region": ...} for EU and FE."""
    tag = os.urandom(3).hex()
    st, body, raw = api("POST", "/admin/accounts", {
        "account_name": "%s %s" % (label, tag), "advertiser_id": "ENTITYFLEET" + tag.upper(),
        "marketplace_id": "ATVPDKIKX0DER", "region": region, "lwa_client_id": "cid-fleet",
        "lwa_refresh_token": "Atzr|fleet-" + tag, "lwa_client_secret": "cs-fleet-" + tag})
    if st not in (200, 201) or not body or not body.get("success"):
        raise RuntimeError("create account failed: %s %s" % (st, raw[:300]))
    acct = dict(body["account"], advertiser_id="ENTITYFLEET" + tag.upper(), lwa_client_id="cid-fleet",
                marketplace_id="ATVPDKIKX0DER")
    out = []
    for i in range(n):
        amc_id = "amcflt%s%02d" % (tag, i)
        st, body, raw = api("POST", "/admin/instances", {
            "instance_id": amc_id, "instance_name": "%s %d" % (label, i), "region": "us-east-1",
            "brands": ["Fleet"], "account_id": acct["id"], "is_sandbox": False})
        if st not in (200, 201) or not body or not body.get("success"):
            raise RuntimeError("create instance failed: %s %s" % (st, raw[:300]))
        out.append((body["instance"]["id"], amc_id))
    return acct, out


def archived_rows(exec_id):
    """(result_rows archived, workflow_executions.row_count) of one execution in PostgreSQL."""
    rows = psql("SELECT (SELECT count(*) FROM result_rows r WHERE r.execution_id = w.id), coalesce(w.row_count, -1)"
                " FROM workflow_executions w WHERE w.execution_id = :'p1'", exec_id)
    return (int(rows[0][0]), int(rows[0][1])) if rows else (-1, -1)


def amc_call(acct, method, amc_id, amc_execution_id, body=None):
    """(status, body) of a call on one AMC execution in amcsim, as a user of the account would
    make it, on its region's host with the access token the workers cached in Redis ((0, None)
    when there is none)."""
    region = acct.get("region") or "NA"
    cached = redis_raw("GET", PREFIX + "token:%s:%s" % (acct["id"], region))
    if not cached or " " not in cached[0]:
        return 0, None
    return sim(method, "/amc/reporting/%s/workflowExecutions/%s" % (amc_id, amc_execution_id), body, region=region, headers={
        "Authorization": "Bearer " + cached[0].split(" ", 1)[1],
        "Amazon-Advertising-API-ClientId": acct["lwa_client_id"],
        "Amazon-Advertising-API-AdvertiserId": acct["advertiser_id"],
        "Amazon-Advertising-API-MarketplaceId": acct["marketplace_id"],
        **({"Content-Type": "application/json"} if body is not None else {})})


def amc_status(acct, amc_id, amc_execution_id):
    """The AMC execution's status as amcsim reports it (None when the call fails)."""
    st, body = amc_call(acct, "GET", amc_id, amc_execution_id)
    if st != 200 or not isinstance(body, dict):
        return None
    return (body.get("workflowExecution") or body).get("status")


class PrivateApi:
    """A second amcbatch-api on the stack's servers with settings of its own (keyword
    arguments become AMCBATCH_<KEY> variables; conf: a -c file), on a free port. `with PrivateApi(...) as url`
    points api() at it (url is None when BUILD_DIR has no amcbatch-api) and, on the way out,
    stops it and checks its log for sanitizer reports. self.log() reads the log so far."""

    def __init__(self, conf=None, **settings):
        self.conf = conf
        self.env = dict(os.environ, AMCBATCH_DATABASE_URL=DB, AMCBATCH_REDIS_URL=REDIS,
                        AMCBATCH_LOG_LEVEL="info", AMCBATCH_WEB_ROOT=os.path.join(TOP, "web"))
        for k, v in settings.items():
            self.env["AMCBATCH_" + k.upper()] = str(v)
        build = os.environ.get("BUILD_DIR", os.path.join(TOP, "build"))
        self.exe = os.path.join(build, "amcbatch-api")
        self.proc = self.logf = None
        self.url = None

    def log(self):
        with open(self.logf) as f:
            return f.read()

    def __enter__(self):
        global URL
        if not os.access(self.exe, os.X_OK):
            return None
        fd, self.logf = tempfile.mkstemp(prefix="amcb-private-api-", suffix=".log")
        self.proc = subprocess.Popen([self.exe, "-p", "0"] + (["-c", self.conf] if self.conf else []),
                                     env=self.env, stdout=fd,
                                     stderr=subprocess.STDOUT)
        os.close(fd)
        for _ in range(100):
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.url = "http://127.0.0.1:" + m.group(1)
                break
            time.sleep(0.1)
        if self.url is None:
            raise RuntimeError("private API did not start: " + self.log()[-500:])
        URL = self.url
        for _ in range(50):
            if api("GET", "/healthz")[0] == 200:
                break
            time.sleep(0.1)
        return self.url

    def __exit__(self, *exc):
        global URL
        URL = os.environ["AMCBATCH_URL"]
        if self.proc is None:
            return False
        self.proc.terminate()
        self.proc.wait(timeout=10)
        log = self.log()
        check(self.proc.returncode == 0, "private API stopped cleanly", self.proc.returncode)
        check("Sanitizer" not in log and "runtime error" not in log, "private API log clean",
              log[-500:])
        os.unlink(self.logf)
        return False


# ---- fault tools of the exactly-once tests: a controllable TCP relay, a private worker ------

FORWARD, CUT_AFTER_REPLY, HOLD_THEN_CUT, CUT = range(4)


class Relay:
    """A TCP relay from addr:<free port> to 127.0.0.1:target, one thread per direction, for the
    faults a test puts between a daemon and a server. rule(conn, data) sees every chunk a client
    sends and answers FORWARD; CUT_AFTER_REPLY (forward it, then close both sides as soon as the
    server answers, the answer dropped: the request ran, its reply is lost); HOLD_THEN_CUT (keep
    it until self.release is set, then close both sides without sending it); CUT (close both
    sides, the chunk unsent); conn is a dict per client connection for the rule's state.
    pause() stalls both directions (connections stay open, as when a network hangs without a
    reset) until resume(); drop_reply_with(pattern) closes the connection instead of delivering
    the next server chunk that contains pattern (self.dropped counts them)."""

    def __init__(self, target, rule=None, addr="127.0.0.1"):
        import socket
        import threading
        self.target = target
        self.rule = rule or (lambda conn, data: FORWARD)
        self.held = threading.Event()
        self.release = threading.Event()
        self.stopped = self.paused = False
        self.drop_pattern = None
        self.dropped = 0
        self.socks = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.3)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def drop_reply_with(self, pattern):
        self.drop_pattern = pattern

    def _accept(self):
        import socket
        import threading
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            c.settimeout(None)
            conn = {"c": c, "u": u, "cut_on_reply": False}
            self.socks += [c, u]
            threading.Thread(target=self._up, args=(conn,), daemon=True).start()
            threading.Thread(target=self._down, args=(conn,), daemon=True).start()

    @staticmethod
    def _cut(conn):
        import socket
        for s in (conn["c"], conn["u"]):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _wait_paused(self):
        while self.paused and not self.stopped:
            time.sleep(0.02)

    def _up(self, conn):
        import socket
        try:
            while True:
                data = conn["c"].recv(65536)
                if not data:
                    break
                self._wait_paused()
                action = self.rule(conn, data)
                if action == CUT_AFTER_REPLY:
                    conn["cut_on_reply"] = True	# before sending: the answer may be quick
                    conn["u"].sendall(data)
                elif action == HOLD_THEN_CUT:
                    self.held.set()
                    self.release.wait(60)
                    self._cut(conn)
                    return
                elif action == CUT:
                    self._cut(conn)
                    return
                else:
                    conn["u"].sendall(data)
            conn["u"].shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _down(self, conn):
        import socket
        try:
            while True:
                data = conn["u"].recv(65536)
                if not data:
                    break
                self._wait_paused()
                if conn["cut_on_reply"]:
                    self._cut(conn)
                    return
                if self.drop_pattern is not None and self.drop_pattern in data:
                    self.drop_pattern = None
                    self.dropped += 1
                    self._cut(conn)
                    return
                conn["c"].sendall(data)
            conn["c"].shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.stopped = True
        self.sock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def port_of(url):
    """The port of a redis:// or postgresql:// URL of the stack."""
    return int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def lua_source(name):
    """lua/<name>.lua with its `--- @include "lib/x"` lines pasted in once each, as
    scripts/lua2c does: the exact script the daemons load, for a test to EVAL itself."""
    seen = set()

    def paste(path):
        out = []
        with open(path) as f:
            for line in f:
                m = re.match(r'^---[ \t]*@include[ \t]*"(lib/[a-z0-9_]+)"', line)
                if m:
                    if m.group(1) not in seen:
                        seen.add(m.group(1))
                        out.append(paste(os.path.join(TOP, "lua", m.group(1) + ".lua")))
                    continue
                out.append(line)
        return "".join(out)
    return paste(os.path.join(TOP, "lua", name + ".lua"))


class PrivateWorker:
    """An amcbatch-worker of its own on the stack's servers (the stack's secret key, amcsim,
    PostgreSQL; Redis at redis_url, e.g. through a Relay), with settings of its own (keyword
    arguments become AMCBATCH_<KEY> variables; conf: a -c file). start()/stop()/kill(); stop() checks that it
    exited and that its log has no sanitizer report. log() reads its log. kill_all() ends every
    one still running (a test's `finally`)."""

    started = []

    @classmethod
    def kill_all(cls):
        for w in cls.started:
            w.kill()

    def __init__(self, worker_id, redis_url=None, conf=None, **settings):
        with open(os.path.join(RUN_DIR, "secret.key")) as f:
            key = f.read().strip()
        self.env = dict(os.environ, AMCBATCH_DATABASE_URL=DB, AMCBATCH_REDIS_URL=redis_url or REDIS,
                        AMCBATCH_SECRET_KEY=key, AMCBATCH_WORKER_ID=worker_id,
                        AMCBATCH_SPOOL_DIR=os.path.join(RUN_DIR, "spool"), AMCBATCH_LOG_LEVEL="debug")
        # each account region on its own amcsim host, as the stack's workers (a seed EU instance
        # called on the NA host is refused); a test's amc_base_url setting still sends all to one
        for region, host in SIM_HOSTS.items():
            self.env["AMCBATCH_AMC_BASE_URL_" + region] = host
            self.env["AMCBATCH_AMC_TOKEN_URL_" + region] = host + "/auth/o2/token"
        for k, v in settings.items():
            self.env["AMCBATCH_" + k.upper()] = str(v)
        self.exe = os.path.join(os.environ.get("BUILD_DIR", os.path.join(TOP, "build")), "amcbatch-worker")
        self.id = worker_id
        self.conf = conf
        self.proc = None
        fd, self.logf = tempfile.mkstemp(prefix="amcb-private-worker-", suffix=".log")
        os.close(fd)

    def start(self):
        logf = open(self.logf, "ab")
        self.proc = subprocess.Popen([self.exe] + (["-c", self.conf] if self.conf else []), env=self.env,
                                     stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        PrivateWorker.started.append(self)
        return self

    def log(self):
        with open(self.logf, errors="replace") as f:
            return f.read()

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, name="private worker", timeout=30):
        import signal as _signal
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(_signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.log()
        check(self.proc.returncode in (0, -9), "%s %s exited" % (name, self.id), self.proc.returncode)
        check("Sanitizer" not in log and "runtime error" not in log, "%s %s log clean" % (name, self.id),
              log[-800:])
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _pg_ctl():
    """(command prefix, pg_ctl path, data home, port) of the stack's PostgreSQL."""
    import hashlib
    home = "/tmp/amcbatch-pg-" + hashlib.sha1(os.path.realpath(RUN_DIR).encode()).hexdigest()[:10]
    ver = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    with open(os.path.join(RUN_DIR, "port.pg")) as f:
        port = f.read().strip()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return as_pg, "/usr/lib/postgresql/%s/bin/pg_ctl" % ver, home, port


def pg_stop():
    """Stops the stack's PostgreSQL (fast shutdown); returns (ok, stderr)."""
    as_pg, pg_ctl, home, _ = _pg_ctl()
    r = subprocess.run(as_pg + [pg_ctl, "-D", home + "/data", "-m", "fast", "-w", "stop"],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr[-300:]


def pg_start():
    """Starts the stack's PostgreSQL again as scripts/stack does; returns (ok, stderr)."""
    as_pg, pg_ctl, home, port = _pg_ctl()
    r = subprocess.run(as_pg + [pg_ctl, "-D", home + "/data", "-w", "-t", "60", "-l", home + "/postgres.log",
                                "-o", "-c listen_addresses=127.0.0.1 -p %s -k %s -c max_connections=200"
                                % (port, home), "start"], capture_output=True, text=True)
    return r.returncode == 0, r.stderr[-300:]
