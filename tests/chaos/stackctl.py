"""stackctl.py - the campaign's own complete stack: scripts/stack with a private RUN_DIR (so
free loopback ports and data of its own) and the knobs the campaign needs, plus the process
handles the faults use (pids, SIGKILL/SIGSTOP targets, PostgreSQL's pg_ctl)."""
import glob
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from clients import Api, Psql, Redis, Sim


def pid_alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pid_state(pid):
    """The one-letter state of /proc/pid/stat ('T' = stopped), '' when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


class Stack:
    def __init__(self, top, build_dir, run_dir, workers, settings):
        """settings: lease_ms, heartbeat_ms, latency_ms, pending_ms, poll_initial_ms,
        poll_max_ms, http_timeout_ms, shutdown_grace_ms, sim_seed, profiles (amcsim's
        AMCSIM_PROFILES file, optional)."""
        self.top, self.build_dir, self.workers = top, build_dir, workers
        os.makedirs(run_dir, exist_ok=True)
        self.run_dir = os.path.realpath(run_dir)
        self.s = settings
        # scripts/stack keys PostgreSQL's home by RUN_DIR (it must be enterable by postgres)
        self.pg_home = "/tmp/amcbatch-pg-" + hashlib.sha1(self.run_dir.encode()).hexdigest()[:10]
        self.pg_bin = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                             key=lambda p: int(p.split("/")[-2]))[-1]
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.url = {}
        self.host = socket.gethostname()

    # ---- scripts/stack ---------------------------------------------------------------
    def env(self):
        s = self.s
        # a caller's stack settings (scripts/test exports its own) must not leak into ours
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("AMCBATCH_", "AMCSIM_", "STACK_")) and k not in ("RUN_DIR", "REDIS_URL",
                                                                                 "DATABASE_URL")}
        e = dict(base, RUN_DIR=self.run_dir, BUILD_DIR=self.build_dir,
                 STACK_WORKERS=str(self.workers), STACK_LOG_LEVEL="info",
                 STACK_LEASE_MS=str(s["lease_ms"]), STACK_HEARTBEAT_MS=str(s["heartbeat_ms"]),
                 AMCSIM_LATENCY_MS=str(s["latency_ms"]), AMCSIM_PENDING_MS=str(s["pending_ms"]),
                 AMCSIM_SEED=str(s["sim_seed"]), AMCSIM_DATA_FROM="2025-01-01", AMCSIM_DATA_TO="2025-01-31",
                 # the daemons inherit scripts/stack's environment: worker and API knobs
                 AMCBATCH_POLL_INITIAL_MS=str(s["poll_initial_ms"]),
                 AMCBATCH_POLL_MAX_MS=str(s["poll_max_ms"]),
                 AMCBATCH_HTTP_TIMEOUT_MS=str(s["http_timeout_ms"]),
                 AMCBATCH_SHUTDOWN_GRACE_MS=str(s["shutdown_grace_ms"]),
                 AMCBATCH_SUBMIT_RATE_PER_MIN="100000")
        if s.get("profiles"):
            e["AMCSIM_PROFILES"] = s["profiles"]
        return e

    def script(self, *args, timeout=180):
        return subprocess.run([os.path.join(self.top, "scripts", "stack")] + list(args),
                              env=self.env(), capture_output=True, text=True, timeout=timeout)

    def purge(self):
        """Whatever an earlier run left in RUN_DIR (and its PostgreSQL) goes."""
        self.script("purge")
        os.makedirs(self.run_dir, exist_ok=True)

    def start(self):
        """Starts the stack (after purge()): returns the clients."""
        r = self.script("start")
        if r.returncode != 0:
            raise RuntimeError("scripts/stack start failed: " + (r.stderr or r.stdout)[-800:])
        for line in r.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[7:].split("=", 1)
                self.url[k] = v
        port = self.url["DATABASE_URL"].rsplit(":", 1)[1].split("/", 1)[0]
        # the checker reads (and its watch trigger writes) as the cluster's superuser
        self.url["SUPER_DB"] = "postgresql://postgres@127.0.0.1:%s/amcbatch" % port
        self.pg_port = port
        return self.clients()

    def clients(self):
        return (Api(self.url["AMCBATCH_URL"], self.url["AMCBATCH_TOKEN"]), Sim(self.url["AMCSIM_URL"]),
                Redis(self.url["REDIS_URL"]), Psql(self.url["SUPER_DB"]))

    def ensure(self):
        """Starts whatever of the stack is not running (scripts/stack start is idempotent)."""
        for n in ["redis", "api", "amcsim"] + ["worker%d" % i for i in range(1, self.workers + 1)]:
            self.forget(n)
        r = self.script("start")
        return r.returncode == 0, (r.stderr or "")[-500:]

    def stop(self, keep_data):
        self.script("stop")
        if not keep_data:
            # the logs stay for a post-mortem; the data directories go
            shutil.rmtree(self.pg_home, ignore_errors=True)
            shutil.rmtree(os.path.join(self.run_dir, "redis"), ignore_errors=True)
            for d in ("spool", "spool-ns"):
                shutil.rmtree(os.path.join(self.run_dir, d), ignore_errors=True)

    def sanitizer_reports(self):
        """'log: first line' for each daemon log with an ASan/UBSan report."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.run_dir, "*.log"))):
            try:
                with open(path, errors="replace") as f:
                    for line in f:
                        if "ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line or \
                                "runtime error:" in line or re.search(r"SUMMARY: \w+Sanitizer", line):
                            out.append("%s: %s" % (os.path.basename(path), line.strip()[:200]))
                            break
            except OSError:
                pass
        return out

    # ---- processes ---------------------------------------------------------------------
    def pid(self, name):
        try:
            with open(os.path.join(self.run_dir, name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self, name):
        p = self.pid(name)
        return p is not None and pid_alive(p)

    def worker_id(self, i):
        return "%s-w%d" % (self.host, i)

    def worker_log(self, i):
        return os.path.join(self.run_dir, "worker%d.log" % i)

    def signal(self, name, sig):
        p = self.pid(name)
        if p is None:
            return False
        try:
            os.kill(p, sig)
            return True
        except OSError:
            return False

    def forget(self, name):
        """Removes the pid file of a process that is gone. A killed daemon stays a zombie
        until PID 1 reaps it, and scripts/stack (kill -0) takes a zombie for alive: it would
        neither restart it nor see the port free."""
        p = self.pid(name)
        if p is not None and not pid_alive(p):
            try:
                os.unlink(os.path.join(self.run_dir, name + ".pid"))
            except OSError:
                pass

    def restart_worker(self, i):
        self.forget("worker%d" % i)
        r = self.script("restart-worker", str(i))
        return r.returncode == 0

    def wait_gone(self, pid, timeout):
        deadline = time.time() + timeout
        while pid_alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        return not pid_alive(pid)

    # ---- Redis -------------------------------------------------------------------------
    def redis_kill(self):
        p = self.pid("redis")
        if p:
            os.kill(p, signal.SIGKILL)
            self.wait_gone(p, 10)
            self.forget("redis")

    def aof_dir(self):
        return os.path.join(self.run_dir, "redis", "appendonlydir")

    def aof_tail(self):
        """(path, size) of the AOF file Redis appends to now, or (None, 0)."""
        d = self.aof_dir()
        try:
            incr = [f for f in os.listdir(d) if f.endswith(".incr.aof")]
        except OSError:
            return None, 0
        if not incr:
            return None, 0
        # appendonly.aof.<n>.incr.aof: the highest n is the live one
        f = max(incr, key=lambda n: int(n.split(".")[-3]))
        try:
            return os.path.join(d, f), os.path.getsize(os.path.join(d, f))
        except OSError:
            return None, 0

    # ---- PostgreSQL --------------------------------------------------------------------
    def pg_stop(self, mode):
        return subprocess.run(self.as_pg + [os.path.join(self.pg_bin, "pg_ctl"), "-D", self.pg_home + "/data",
                                            "-m", mode, "-w", "stop"], capture_output=True, text=True).returncode == 0

    def pg_start(self):
        opts = "-c listen_addresses=127.0.0.1 -p %s -k %s -c max_connections=200" % (self.pg_port, self.pg_home)
        return subprocess.run(self.as_pg + [os.path.join(self.pg_bin, "pg_ctl"), "-D", self.pg_home + "/data",
                                            "-w", "-t", "60", "-l", self.pg_home + "/postgres.log", "-o", opts,
                                            "start"], capture_output=True, text=True).returncode == 0

    def pg_running(self):
        return subprocess.run(self.as_pg + [os.path.join(self.pg_bin, "pg_ctl"), "-D", self.pg_home + "/data",
                                            "status"], capture_output=True, text=True).returncode == 0
