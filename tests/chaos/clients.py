"""clients.py - the campaign's only ways into the stack, all from the outside: the amcbatch
HTTP API, amcsim's HTTP control API, psql and redis-cli. Nothing here knows about faults."""
import json
import subprocess
import urllib.error
import urllib.request


class HttpError(Exception):
    pass


def _request(url, method, body=None, headers=None, timeout=30):
    """(status, parsed JSON or None); status 0 when no HTTP answer came (refused, reset,
    timed out)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except (OSError, ValueError):
        return 0, None
    try:
        return status, (json.loads(payload) if payload else None)
    except ValueError:
        return status, None


class Api:
    """amcbatch-api with the stack's admin token."""

    def __init__(self, url, token):
        self.url, self.token = url, token

    def call(self, method, path, body=None, headers=None, timeout=30):
        h = {"Authorization": "Bearer " + self.token}
        h.update(headers or {})
        return _request(self.url + path, method, body, h, timeout)


class Sim:
    """amcsim's control API (/sim/...): profiles, seed, the execution ledger."""

    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None, timeout=30):
        return _request(self.url + path, method, body, None, timeout)

    def put_profile(self, name, fields):
        st, _ = self.call("PUT", "/sim/profiles/" + name, fields)
        if st != 200:
            raise HttpError("PUT /sim/profiles/%s: HTTP %s" % (name, st))

    def ledger(self, after=0, sql=False, csv=False):
        """Every execution amcsim stored after seq `after`, oldest first (all pages)."""
        out = []
        while True:
            q = "/sim/executions?limit=5000&after=%d%s%s" % (after, "&sql=true" if sql else "",
                                                            "&csv=true" if csv else "")
            st, body = self.call("GET", q, timeout=120)
            if st != 200 or not isinstance(body, dict):
                raise HttpError("GET /sim/executions: HTTP %s" % st)
            out += body["executions"]
            if body.get("next") is None:
                return out
            after = body["next"]

    def last_seq(self):
        st, body = self.call("GET", "/sim/executions?limit=1")
        if st != 200 or not isinstance(body, dict):
            raise HttpError("GET /sim/executions: HTTP %s" % st)
        return body["lastSeq"]


class Psql:
    """psql against one database URL."""

    def __init__(self, url):
        self.url = url

    def run(self, sql, timeout=120):
        """Runs sql (several statements allowed); returns stdout rows split on tabs."""
        r = subprocess.run(["psql", self.url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t"],
                           input=sql, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr.strip()[-500:])
        return [line.split("\t") for line in r.stdout.splitlines() if line != ""]

    def json(self, sql, timeout=120):
        """The one JSON value a query returns (wrap it in json_agg / json_build_object)."""
        rows = self.run(sql, timeout)
        return json.loads(rows[0][0]) if rows and rows[0] and rows[0][0] else None


class Redis:
    """redis-cli against redis://host:port/db."""

    def __init__(self, url):
        hp = url.split("//", 1)[1].split("/", 1)[0]
        self.host, self.port = hp.rsplit(":", 1)

    def cmd(self, *args, timeout=60):
        """--raw output lines; raises on a connection failure."""
        r = subprocess.run(["redis-cli", "-h", self.host, "-p", self.port, "--raw"] +
                           [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 or r.stdout.startswith("Could not connect"):
            raise RuntimeError("redis-cli %s: %s" % (args[0], (r.stderr or r.stdout).strip()[:300]))
        return r.stdout.splitlines()

    def eval_json(self, script, keys=(), args=(), timeout=120):
        """A read-only Lua script that returns cjson.encode(...), decoded."""
        out = self.cmd("EVAL", script, len(keys), *(list(keys) + list(args)), timeout=timeout)
        text = "\n".join(out)
        if text.startswith("ERR") or text.startswith("NOSCRIPT"):
            raise RuntimeError("EVAL: " + text[:300])
        return json.loads(text)
