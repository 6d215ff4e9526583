"""faults.py - the fault injectors, one function per kind, and the runner that applies a
planned schedule in order. Process faults run one after another (each waits out its own
duration); amcsim profile storms run beside them and clear themselves. Every injection
is logged with its time, kind, target and what happened, so a failure can be replayed."""
import os
import random
import re
import shutil
import signal
import threading
import time

import schedule

# what a worker logs when it goes looking for its execution on AMC: a lost create's answer
# ("looking for the execution"), or a create intent found on a claim ("looking for it on
# AMC", src/worker/create.c on main since 075dfca); "adopting" for a rewrite worded so
ADOPTION_RE = re.compile(r"looking for (the execution|it on AMC)|adopting")
# the fault fields each storm sets, and their neutral values (a storm clears only its own)
STORM_FIELDS = {"rate_429": 0, "rate_5xx": 0, "lost_create_rate": 0, "hang_rate": 0, "truncate_rate": 0}
AMC_ENDPOINTS = ["create", "get", "list", "cancel", "urls"]


class Skip(Exception):
    """The kind cannot be injected here (reason in the message)."""


class Workers:
    """The worker processes faults may hit: the stack's worker1..K and, when namespaces are
    permitted, the one in its own namespace ("ns")."""

    def __init__(self, stack, nshost):
        self.stack, self.nshost = stack, nshost

    def names(self):
        return ["worker%d" % i for i in range(1, self.stack.workers + 1)] + (["ns"] if self.nshost else [])

    def pid(self, name):
        return self.nshost.pid() if name == "ns" else self.stack.pid(name)

    def alive(self, name):
        return self.nshost.alive() if name == "ns" else self.stack.alive(name)

    def log_path(self, name):
        return self.nshost.log_path if name == "ns" else self.stack.worker_log(int(name[6:]))

    def signal(self, name, sig):
        return self.nshost.signal(sig) if name == "ns" else self.stack.signal(name, sig)

    def restart(self, name):
        if name == "ns":
            self.nshost.start_worker()
            return self.nshost.alive()
        return self.stack.restart_worker(int(name[6:]))


class SimStorms:
    """amcsim fault profiles on part of the fleet for a while; cleared by their own thread."""

    def __init__(self, sim, fleet, log):
        self.sim, self.fleet, self.log = sim, fleet, log
        self.pending, self.lock = [], threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def apply(self, kind, p):
        rng = random.Random(p["members_seed"])
        n = max(1, int(len(self.fleet) * p["share"]))
        members = [self.fleet[i]["amc_id"] for i in sorted(rng.sample(range(len(self.fleet)), n))]
        fields = dict(p["profile"], endpoints=AMC_ENDPOINTS + (["download"] if kind == "sim_5xx" else []))
        for amc in members:
            self.sim.put_profile(amc, fields)
        neutral = {k: STORM_FIELDS[k] for k in p["profile"] if k in STORM_FIELDS}
        with self.lock:
            self.pending.append((time.time() + p["duration"], kind, members, neutral))
        return "%d instances, %s for %.1f s" % (n, p["profile"], p["duration"])

    def _clear(self, kind, members, neutral):
        failed = []
        for amc in members:
            try:
                self.sim.put_profile(amc, neutral)
            except Exception as e:      # amcsim is never faulted: say so, heal clears it all
                failed.append("%s (%s)" % (amc, e))
        self.log("fault", "%s over (%d instances)%s" % (kind, len(members), "; clearing failed on %d: %s" % (
            len(failed), failed[0]) if failed else ""))

    def _loop(self):
        while not self.stop.is_set():
            with self.lock:
                due = [x for x in self.pending if x[0] <= time.time()]
                self.pending = [x for x in self.pending if x[0] > time.time()]
            for _, kind, members, neutral in due:
                self._clear(kind, members, neutral)
            self.stop.wait(0.1)

    def finish(self):
        """No more clearing (heal or tear-down takes over)."""
        self.stop.set()
        self.thread.join(timeout=60)
        with self.lock:
            self.pending = []

    def clear_all(self):
        """Heal: every profile back to amcsim's start-up state (slow instances included)."""
        self.finish()
        st, _ = self.sim.call("DELETE", "/sim/profiles")
        return st == 200


class Injector:
    def __init__(self, stack, workers, sim, redis, psql, storms, settings, log, load):
        self.stack, self.workers, self.sim, self.redis = stack, workers, sim, redis
        self.psql, self.storms, self.s, self.log = psql, storms, settings, log
        self.load = load
        self.lease_s = settings["lease_ms"] / 1000.0
        # set when the fault phase ends: a fault in progress is cut short (heal follows)
        self.stop = threading.Event()

    def _sleep(self, seconds):
        """Waits out a fault's duration; False when the phase ended meanwhile."""
        return not self.stop.wait(seconds)

    # ---- workers ---------------------------------------------------------------------
    def _wait_exit(self, name, pid, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.workers.alive(name) or self.workers.pid(name) != pid:
                return True
            time.sleep(0.05)
        return False

    def worker_kill(self, p):
        name = "worker%d" % p["worker"]
        pid = self.workers.pid(name)
        was = self.workers.alive(name)
        self.workers.signal(name, signal.SIGKILL)
        self._wait_exit(name, pid, 10)
        self._sleep(p["restart_after"])
        ok = self.workers.restart(name)
        return name, "%sSIGKILL, restarted after %.1f s%s" % ("" if was else "(was not running) ",
                                                              p["restart_after"], "" if ok else " (restart FAILED)")

    def worker_stop(self, p):
        name = "worker%d" % p["worker"]
        self.workers.signal(name, signal.SIGSTOP)
        self._sleep(p["stopped_for"])
        self.workers.signal(name, signal.SIGCONT)
        return name, "SIGSTOP for %.1f s (lease %.1f s), SIGCONT" % (p["stopped_for"], self.lease_s)

    def sigterm_adoption(self, p):
        names = self.workers.names()
        sizes = {n: os.path.getsize(self.workers.log_path(n)) if os.path.exists(self.workers.log_path(n)) else 0
                 for n in names}
        # lost create answers send workers looking for their executions (list), and the held
        # list requests keep them there long enough to be caught at it
        self.sim.put_profile("default", {"lost_create_rate": 0.5, "hang_rate": 1,
                                         "hang_ms": p["list_hang_ms"], "endpoints": ["list"]})
        victim, deadline = None, time.time() + p["watch_for"]
        try:
            while victim is None and time.time() < deadline and not self.stop.is_set():
                for n in names:
                    try:
                        with open(self.workers.log_path(n), "rb") as f:
                            f.seek(sizes[n])
                            text = f.read().decode("utf-8", "replace")
                    except OSError:
                        continue
                    if ADOPTION_RE.search(text):
                        victim = n
                        break
                time.sleep(0.05)
            note = "while adopting"
            if victim is None and self.stop.is_set():
                raise Skip("the fault phase ended before an adoption was seen")
            if victim is None:
                victim, note = "worker%d" % p["fallback_worker"], "no adoption seen in %.0f s" % p["watch_for"]
            pid = self.workers.pid(victim)
            self.workers.signal(victim, signal.SIGTERM)
        finally:
            self.sim.call("DELETE", "/sim/profiles/default")
        grace = self.s["shutdown_grace_ms"] / 1000.0 + 5
        if not self._wait_exit(victim, pid, grace):
            self.workers.signal(victim, signal.SIGKILL)
            note += "; still running %.0f s after SIGTERM: SIGKILL" % grace
            self._wait_exit(victim, pid, 10)
        ok = self.workers.restart(victim)
        return victim, "SIGTERM " + note + ("" if ok else " (restart FAILED)")

    def netns_cut(self, p):
        if not self.workers.nshost:
            raise Skip("no worker in a network namespace")
        self.workers.nshost.cut()
        self._sleep(p["cut_for"])
        self.workers.nshost.restore()
        return "ns", "Redis unreachable for %.1f s (lease %.1f s)" % (p["cut_for"], self.lease_s)

    # ---- Redis -------------------------------------------------------------------------
    def _redis_kill(self, p, lose=None):
        """SIGKILL redis-server, restart it after p["down_for"]; lose: None, "tail" (the AOF's
        last second) or "all" (the AOF deleted: Redis replaced by an empty server, a lost disk,
        a replica promoted empty; every batch in flight is then known to PostgreSQL only)."""
        note = ""
        path, size0 = self.stack.aof_tail() if lose == "tail" else (None, 0)
        if lose == "tail":
            time.sleep(1.0)     # the writes of this last second are the ones lost
        self.stack.redis_kill()
        if lose == "tail":
            _, size1 = self.stack.aof_tail()
            if path and size1 > size0:
                os.truncate(path, size0)
                note = ", AOF cut by %d bytes (the last second)" % (size1 - size0)
            else:
                note = ", nothing written in the last second"
        elif lose == "all":
            shutil.rmtree(self.stack.aof_dir(), ignore_errors=True)
            note = ", AOF deleted: started empty"
        self._sleep(p["down_for"])
        ok, err = self.stack.ensure()
        return "redis", "SIGKILL, down %.1f s%s%s" % (p["down_for"], note, "" if ok else " (restart FAILED: %s)" % err)

    def redis_kill(self, p):
        return self._redis_kill(p)

    def redis_kill_aof_loss(self, p):
        return self._redis_kill(p, "tail")

    def redis_wipe(self, p):
        return self._redis_kill(p, "all")

    def redis_client_kill(self, p):
        n = self.redis.cmd("CLIENT", "KILL", "TYPE", "normal")
        return "redis", "CLIENT KILL TYPE normal: %s connections" % (n[0] if n else "?")

    # ---- PostgreSQL --------------------------------------------------------------------
    def pg_terminate(self, p):
        n = self.psql.run("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                          " WHERE datname = 'amcbatch' AND pid <> pg_backend_pid()")
        return "postgres", "pg_terminate_backend: %s backends" % n[0][0]

    def pg_restart(self, p):
        stopped = self.stack.pg_stop(p["mode"])
        self._sleep(p["down_for"])
        started = self.stack.pg_start()
        return "postgres", "stop -m %s, down %.1f s%s" % (p["mode"], p["down_for"],
                                                         "" if stopped and started else " (stop %s, start %s)" % (stopped, started))

    # ---- the API -----------------------------------------------------------------------
    def api_kill(self, p):
        """SIGKILL amcbatch-api p["delay_ms"] into the next batch-execute request (at once if
        none starts within p["watch_for"] s), start it again after p["down_for"]. The cut
        falls before the COMMIT (the transaction rolls back), between it and the enqueue (the
        janitor must hand the batch to Redis) or before the answer (a keyed client retries and
        must get the same batch)."""
        pid = self.stack.pid("api")
        if pid is None:
            raise Skip("no amcbatch-api pid")
        deadline, seen = time.time() + p["watch_for"], False
        while not seen and time.time() < deadline and not self.stop.is_set():
            seen = self.load.in_flight.wait(0.2)
        if seen:
            time.sleep(p["delay_ms"] / 1000.0)
        cut = self.load.in_flight.is_set()
        os.kill(pid, signal.SIGKILL)
        self.stack.wait_gone(pid, 10)
        self._sleep(p["down_for"])
        ok, err = self.stack.ensure()
        when = ("%d ms into a batch-execute%s" % (p["delay_ms"], "" if cut else " (answered before)")
                if seen else "no batch-execute within %.0f s" % p["watch_for"])
        return "api", "SIGKILL %s, down %.1f s%s" % (when, p["down_for"], "" if ok else " (restart FAILED: %s)" % err)

    # ---- amcsim ------------------------------------------------------------------------
    def sim_storm(self, kind, p):
        return "amcsim", self.storms.apply(kind, p)


class Runner:
    """Applies the planned faults in order from t0; faults that take time push the later
    ones back (the log has the real times)."""

    def __init__(self, injector, plans, t0, skip_kinds, log):
        self.inj, self.plans, self.t0, self.skip, self.log = injector, plans, t0, skip_kinds, log
        self.entries = []       # (t, kind, target, note, skipped)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.inj.stop.set()
        self.thread.join(timeout=300)

    def _run(self):
        for f in self.plans:
            while not self.stop.is_set() and time.time() < self.t0 + f.t:
                self.stop.wait(min(0.2, self.t0 + f.t - time.time()))
            if self.stop.is_set():
                return
            t = time.time() - self.t0
            try:
                if f.kind in self.skip:
                    raise Skip(self.skip[f.kind])
                if f.kind in schedule.SIM_KINDS:
                    target, note = self.inj.sim_storm(f.kind, f.params)
                else:
                    target, note = getattr(self.inj, f.kind)(f.params)
                skipped = False
            except Skip as e:
                target, note, skipped = "-", "skipped: %s" % e, True
            except Exception as e:     # a fault that could not be applied is reported, not fatal
                target, note, skipped = "-", "error: %s: %s" % (type(e).__name__, e), False
            self.entries.append((t, f.kind, target, note, skipped))
            self.log("fault", "%s %s (from t+%.1f): %s" % (f.kind, target, t, note))
