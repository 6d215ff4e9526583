"""Metrics and readiness (issue 11) on the real stack, without disturbing its workers: a
private API and a private worker on the stack's Redis and PostgreSQL under a key prefix of
their own, each with a metrics_listen address. Every endpoint's exposition passes
`promtool check metrics`; a real Prometheus on loopback scrapes both and a query through its
HTTP API sees the batch's executions counted; /readyz is 200 with the worker and 503 naming
the workers once it is gone; the shipped conf/prometheus files pass promtool."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request
import uuid

import lib
from lib import (INSTANCES, PrivateApi, PrivateWorker, TOP, WORKFLOW, api, check, done,
                 metric_value, require_stack, wait_until)

require_stack()

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
if PROMTOOL is None or PROMETHEUS is None:
    print("ok - # SKIP promtool/prometheus not installed (Debian package prometheus)")
    raise SystemExit(77)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Type", "")


def promtool_ok(text, name):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True)
    check(p.returncode == 0, "promtool check metrics: " + name,
          (p.stdout + p.stderr).decode()[-800:])


# ---- the shipped configuration --------------------------------------------------------------
conf = os.path.join(TOP, "conf", "prometheus")
p = subprocess.run([PROMTOOL, "check", "config", os.path.join(conf, "prometheus.yml")],
                   capture_output=True, cwd=conf)
check(p.returncode == 0, "promtool check config conf/prometheus/prometheus.yml",
      (p.stdout + p.stderr).decode()[-800:])
p = subprocess.run([PROMTOOL, "check", "rules", os.path.join(conf, "alerts.yml")], capture_output=True)
check(p.returncode == 0, "promtool check rules conf/prometheus/alerts.yml",
      (p.stdout + p.stderr).decode()[-800:])

prefix = "amcbm%s:" % uuid.uuid4().hex[:6]
api_mport, worker_mport = free_port(), free_port()
common = dict(redis_prefix=prefix, lease_ms=1500, heartbeat_ms=300)
worker = PrivateWorker("metrics-" + prefix[5:11], metrics_listen="127.0.0.1:%d" % worker_mport,
                       **common)
prom = None
tmp = tempfile.mkdtemp(prefix="amcb-prom-")
try:
    with PrivateApi(metrics_listen="127.0.0.1:%d" % api_mport, schedule_tick_ms=0,
                    enqueue_janitor_ms=3600000, **common) as url:
        if url is None:
            print("ok - # SKIP no amcbatch-api in BUILD_DIR")
            raise SystemExit(77)
        # ---- /readyz without any worker under this prefix -----------------------------------
        st, body, _ = api("GET", "/readyz", token="")
        check(st == 503 and body["ready"] is False and body["checks"]["redis"] == "ok" and
              body["checks"]["postgresql"] == "ok" and "worker" in body["checks"]["workers"],
              "/readyz 503 with no worker, naming the workers", body)
        worker.start()
        ok = wait_until(lambda: api("GET", "/readyz", token="")[0] == 200, 20)
        st, body, _ = api("GET", "/readyz", token="")
        check(ok and body == {"ready": True, "checks": {"redis": "ok", "postgresql": "ok",
                                                        "workers": "ok"}},
              "/readyz 200 once the worker beats", body)
        st, _, _ = api("GET", "/healthz", token="")
        check(st == 200, "/healthz still 200")

        # ---- /metrics: admin token on the API port, open on metrics_listen ------------------
        st, _, _ = get(url + "/metrics")
        check(st == 401, "/metrics on the API port wants a token", st)
        st, text, ctype = get(url + "/metrics", lib.TOKEN)
        check(st == 200 and ctype.startswith("text/plain; version=0.0.4"),
              "/metrics with the admin token", (st, ctype))
        promtool_ok(text, "API /metrics")

        # ---- a real Prometheus scraping both ------------------------------------------------
        prom_port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: amcbatch-api\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n"
                    "  - job_name: amcbatch-worker\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (api_mport, worker_mport))
        os.chmod(tmp, 0o777)
        cmd = [PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
               "--storage.tsdb.path=" + os.path.join(tmp, "data"),
               "--web.listen-address=127.0.0.1:%d" % prom_port]
        plog = open(os.path.join(tmp, "prometheus.log"), "wb")
        prom = subprocess.Popen(cmd, stdout=plog, stderr=subprocess.STDOUT)
        plog.close()

        def query(q):
            u = "http://127.0.0.1:%d/api/v1/query?query=%s" % (prom_port, urllib.parse.quote(q))
            try:
                with urllib.request.urlopen(u, timeout=5) as r:
                    res = json.loads(r.read())["data"]["result"]
                    return float(res[0]["value"][1]) if res else None
            except OSError:
                return None

        up = wait_until(lambda: query('sum(up{job=~"amcbatch-.*"})') == 2, 30, 0.5)
        check(up, "Prometheus scrapes the API and the worker (up == 2)",
              open(os.path.join(tmp, "prometheus.log")).read()[-600:])

        st, body, raw = api("POST", "/workflows/%s/batch-execute" % WORKFLOW,
                            {"instance_ids": INSTANCES[:3], "parameters": {}, "name": "metrics " + prefix})
        check(st == 201, "a batch of three through the private API", raw[:300])
        bid = body["batch"]["batch_id"] if st == 201 else ""
        fin = lib.wait_batch(bid, 120)
        check(fin and fin["status"] == "completed", "the batch completes on the private worker",
              fin and fin["status"])
        seen = wait_until(lambda: (query('sum(amcbatch_worker_executions_total{status="completed"})')
                                   or 0) >= 3, 30, 0.5)
        check(seen, "Prometheus sees the three executions counted",
              query('sum(amcbatch_worker_executions_total)'))
        sub = query('amcbatch_api_submissions_total{outcome="created"}')
        check(sub is not None and sub >= 1, "Prometheus sees the submission", sub)
        creates = query('sum(amcbatch_worker_amc_requests_total{endpoint="create",code="2xx"})')
        check(creates is not None and creates >= 3, "AMC creates counted by endpoint", creates)

        # ---- both listeners' output passes promtool after real traffic ----------------------
        st, text, _ = get("http://127.0.0.1:%d/metrics" % api_mport)
        check(st == 200, "API metrics_listen serves without a token", st)
        promtool_ok(text, "API metrics_listen")
        check((metric_value(text, 'amcbatch_api_submissions_total{outcome="created"}') or 0) >= 1,
              "submissions counted by outcome")
        st, text, _ = get("http://127.0.0.1:%d/metrics" % worker_mport)
        check(st == 200, "worker metrics_listen serves", st)
        promtool_ok(text, "worker metrics_listen")
        rows = metric_value(text, "amcbatch_worker_archived_rows_total")
        check(rows is not None and rows > 0, "archived rows counted", rows)
        check((metric_value(text, "amcbatch_worker_jobs_max") or 0) > 0, "jobs_max gauge")
        check(all(metric_value(text, g) is not None for g in (
            "amcbatch_queue_ready_jobs", "amcbatch_queue_oldest_job_age_seconds", "amcbatch_parked_jobs",
            "amcbatch_amc_cancels_pending")) and metric_value(text, "amcbatch_worker_queue_read_failures_total") == 0,
              "queue jobs, their age, parked jobs and pending cancels read without a failure",
              [ln for ln in text.splitlines() if "queue" in ln or "parked" in ln or "cancels" in ln])
        st, _, _ = get("http://127.0.0.1:%d/other" % worker_mport)
        check(st == 404, "metrics_listen serves only /metrics", st)

        # ---- the worker goes: /readyz 503 naming the workers --------------------------------
        worker.stop("metrics worker")
        gone = wait_until(lambda: api("GET", "/readyz", token="")[0] == 503, 20, 0.3)
        st, body, _ = api("GET", "/readyz", token="")
        check(gone and body["ready"] is False and body["checks"]["workers"] != "ok" and
              body["checks"]["redis"] == "ok", "/readyz 503 naming the workers once it stops", body)
finally:
    PrivateWorker.kill_all()
    if prom is not None:
        prom.terminate()
        prom.wait(timeout=20)
    shutil.rmtree(tmp, ignore_errors=True)
done()
