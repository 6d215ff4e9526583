"""run.py - one campaign from start to end: set-up (stack, fleet, warm-up, the namespace
host), the fault phase (load, faults, sampler), heal, the bounded wait for quiet, the check,
and a tear-down that leaves no process behind whatever happened before it."""
import json
import os
import signal
import socket
import time

import collect
import faults
import fleet
import load
import rules
import schedule
import watch
from netns import NsHost
from stackctl import Stack

SETTINGS = {
    "lease_ms": 4000, "heartbeat_ms": 1000,          # short: a lost worker is noticed in seconds
    "latency_ms": 300, "pending_ms": 100,            # amcsim: hundreds of ms per execution
    "poll_initial_ms": 500, "poll_max_ms": 2000,
    "http_timeout_ms": 4000, "shutdown_grace_ms": 3000,
}
MAX_BACKOFF_S = 16      # job.c: 1 s doubling, the 5th retry (max_retries = 5) waits at most 16 s
SLOW_MAX_MS = 10000     # schedule.slow_instances: the slowest AMC run
ADOPT_WAIT_S = 30       # amc_client.h ADOPT_WAIT_MS: a create whose answer was lost goes again only then


class Log:
    """The campaign log (RUN_DIR/campaign.log); faults and phases also go to stdout as they
    happen. Times are wall clock plus, once the fault phase started, t+seconds into it (the
    fault schedule's clock)."""

    def __init__(self, path, tap):
        self.f = open(path, "a", buffering=1)
        self.t0, self.tap = None, tap

    def __call__(self, kind, text):
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + ".%d" % (now * 10 % 10)
        if self.t0 is not None:
            stamp += " t+%6.1f" % (now - self.t0)
        line = "[%s] %-6s %s" % (stamp, kind, text)
        self.f.write(line + "\n")
        if kind in ("fault", "phase"):
            print(("# " if self.tap else "") + line, flush=True)


class Campaign:
    def __init__(self, a, top, build, run_dir):
        self.a, self.build = a, build
        self.s = dict(SETTINGS, sim_seed=schedule.sim_seed(a.seed))
        self.lease_s = self.s["lease_ms"] / 1000.0
        self.stack = Stack(top, build, run_dir, a.workers, self.s)
        self.nshost = self.runner = self.load = self.sampler = self.storms = self.workers = None
        self.skip = {}          # fault kind -> why it cannot be injected here
        self.warm = []
        self.bound = (3 * self.s["lease_ms"] + self.s["poll_max_ms"] + SLOW_MAX_MS + self.s["pending_ms"] +
                      2 * self.s["http_timeout_ms"] + self.s["shutdown_grace_ms"]) / 1000.0 + MAX_BACKOFF_S + ADOPT_WAIT_S + 15
        self.bplans = schedule.batches(a.seed, a.seconds, a.instances, a.mean_gap)
        self.fplans = schedule.faults(a.seed, a.seconds, a.workers, self.lease_s,
                                      self.s["http_timeout_ms"] / 1000.0, a.fault_gap)

    # ---- set-up ------------------------------------------------------------------------
    def setup(self):
        a, s, stack = self.a, self.s, self.stack
        stack.purge()       # before anything of this run is written there
        self.log = Log(os.path.join(stack.run_dir, "campaign.log"), a.short)
        # the slow quarter of the fleet, through amcsim's profile file: clearing the faults'
        # profiles at the end (DELETE /sim/profiles) brings it back, not away
        s["profiles"] = os.path.join(stack.run_dir, "amcsim-profiles.json")
        slow = schedule.slow_instances(a.seed, a.instances)
        with open(s["profiles"], "w") as f:
            json.dump({"instances": {fleet.instance_id(str(a.seed), i): {"latency_ms": ms}
                                     for i, ms in slow.items()}}, f)
        self.log("phase", "seed %s: %d batches and %d faults planned over %.0f s; amcsim seed %d; run dir %s" % (
            a.seed, len(self.bplans), len(self.fplans), a.seconds, s["sim_seed"], stack.run_dir))
        self.api, self.sim, self.redis, self.psql = stack.start()
        aof = self.redis.cmd("CONFIG", "GET", "append*")
        aof = dict(zip(aof[0::2], aof[1::2]))
        self.log("phase", "stack up: api %s, amcsim %s, redis appendonly %s appendfsync %s" % (
            stack.url["AMCBATCH_URL"], stack.url["AMCSIM_URL"], aof.get("appendonly"), aof.get("appendfsync")))
        watch.install_pg_watch(self.psql)
        self.fleet, self.wf = fleet.build(self.api, str(a.seed), a.instances, a.accounts)
        self.warm_up()
        ok, why = (False, "--no-netns") if a.no_netns else NsHost.permitted()
        if ok:
            self.start_ns_host()
        else:
            self.skip["netns_cut"] = why
        self.workers = faults.Workers(stack, self.nshost)

    def warm_up(self):
        """One batch per 100 instances before the faults: every instance's synthetic data
        made (amcsim does that on first use), and the stack shown to work at all."""
        for k in range(0, len(self.fleet), 100):
            tag = "c%s-w%d" % (self.a.seed, k // 100)
            st, b = self.api.call("POST", "/workflows/%s/batch-execute" % self.wf, {
                "instance_ids": [i["uuid"] for i in self.fleet[k:k + 100]], "parameters": {"tag": tag},
                "name": tag})
            if st not in (200, 201) or not b or not b.get("success"):
                raise RuntimeError("warm-up batch refused: HTTP %s %s" % (st, b))
            self.warm.append(b["batch"]["batch_id"])
        self.log("phase", "warm-up: %d batches over %d instances" % (len(self.warm), len(self.fleet)))
        deadline = time.time() + 180
        while time.time() < deadline:
            st = [self.redis.cmd("HGET", "amcb:batch:{%s}" % b, "status")[:1] for b in self.warm]
            if all(x and x[0] in watch.TERMINAL for x in st):
                return
            time.sleep(0.5)
        raise RuntimeError("warm-up batches did not finish in 180 s")

    def start_ns_host(self):
        stack, s = self.stack, self.s
        spool = os.path.join(stack.run_dir, "spool-ns")     # another host: a spool of its own
        os.makedirs(spool, exist_ok=True)
        with open(os.path.join(stack.run_dir, "secret.key")) as f:
            key = f.read().strip()
        env = dict(stack.env(), AMCBATCH_SECRET_KEY=key, AMCBATCH_SPOOL_DIR=spool, AMCBATCH_LOG_LEVEL="info",
                   AMCBATCH_LEASE_MS=str(s["lease_ms"]), AMCBATCH_HEARTBEAT_MS=str(s["heartbeat_ms"]))
        self.nshost = NsHost("%04x" % (os.getpid() & 0xffff), "%s-ns1" % socket.gethostname(),
                             os.path.join(self.build, "amcbatch-worker"), env,
                             os.path.join(stack.run_dir, "worker-ns.log"))

        def port(u):
            return int(u.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        self.nshost.setup({"redis": port(stack.url["REDIS_URL"]), "pg": port(stack.url["DATABASE_URL"]),
                           "sim": port(stack.url["AMCSIM_URL"])})
        self.nshost.start_worker()
        for _ in range(100):
            if self.nshost.worker_id in self.redis.cmd("ZRANGE", "amcb:workers", 0, -1):
                self.log("phase", "worker %s runs in network namespace %s" % (self.nshost.worker_id, self.nshost.ns))
                return
            time.sleep(0.2)
        raise RuntimeError("the namespace worker did not register (see worker-ns.log)")

    # ---- the fault phase ---------------------------------------------------------------
    def fault_phase(self):
        self.sim.call("PUT", "/sim/seed", {"seed": self.s["sim_seed"]})
        t0 = self.log.t0 = time.time()
        self.storms = faults.SimStorms(self.sim, self.fleet, self.log)
        self.sampler = watch.Sampler(self.redis, collect.PREFIX, 2.0, t0)
        self.load = load.Load(self.api, self.wf, self.fleet, self.bplans, self.a.seed, self.log, t0)
        inj = faults.Injector(self.stack, self.workers, self.sim, self.redis, self.psql, self.storms, self.s, self.log,
                              self.load)
        self.runner = faults.Runner(inj, self.fplans, t0, self.skip, self.log)
        self.sampler.start()
        self.load.start()
        self.runner.start()
        while time.time() < t0 + self.a.seconds:
            time.sleep(0.5)
        self.log("phase", "fault phase over: the fault in progress cut short, the load stopped")
        self.stop_threads()

    def stop_threads(self):
        """Faults and load stop (a fault in progress is cut short), before any healing or
        tear-down: nothing restarts a process behind our back afterwards."""
        for x in (self.runner, self.load):
            if x is not None:
                x.finish()

    # ---- heal, wait, check -------------------------------------------------------------
    def heal(self):
        """Everything back: profiles cleared, stopped processes continued, the namespace
        reconnected, whatever is down started again."""
        self.storms.clear_all()
        for n in self.workers.names():
            self.workers.signal(n, signal.SIGCONT)
        if self.nshost:
            self.nshost.restore()
            self.nshost.start_worker()
        if not self.stack.pg_running():
            self.stack.pg_start()
        ok, err = self.stack.ensure()
        self.log("phase", "healed%s" % ("" if ok else " (scripts/stack start failed: %s)" % err))

    def quiesce(self):
        """Waits until every batch is terminal in Redis and PostgreSQL and nothing holds a
        slot or a job ref, at most the bound. Returns (open batch ids at the end, seconds)."""
        t, open_ids, idle_deadline = time.time(), None, None
        while time.time() - t < self.bound:
            try:
                open_ids, running, jobs = collect.quiet_state(self.redis, self.psql)
            except Exception:       # a store still coming back
                time.sleep(1)
                continue
            if not open_ids:
                if running == 0 and jobs == 0:
                    break
                # terminal everywhere: give slots and jobs lists a lease to empty, then judge
                idle_deadline = idle_deadline or time.time() + self.lease_s + 2
                if time.time() > idle_deadline:
                    break
            time.sleep(1)
        waited = time.time() - t
        self.log("phase", "quiet after %.1f s (bound %.0f s): %s batches not terminal" % (
            waited, self.bound, len(open_ids) if open_ids is not None else "?"))
        return (open_ids if open_ids is not None else {"<the stores could not be read>"}), waited

    def check(self):
        """Heals, waits, reads everything and judges it: (findings, facts for the report)."""
        self.heal()
        open_ids, waited = self.quiesce()
        self.sampler.sample()
        self.sampler.finish()
        time.sleep(1.0)     # late AMC cancels land before the ledger is read
        data = collect.everything(self.sim, self.redis, self.psql)
        slack_ms = self.s["poll_max_ms"] + 1500     # a worker notices a cancel at its next poll
        found = rules.evaluate(data, self.load.subs, open_ids, self.sampler, slack_ms, watch.slot_mismatches)
        a = self.a
        facts = {"seed": a.seed, "seconds": a.seconds, "instances": a.instances, "accounts": a.accounts,
                 "workers": a.workers, "netns": self.nshost is not None, "subs": self.load.subs,
                 "warmup": len(self.warm), "samples": self.sampler.samples,
                 "sample_failures": self.sampler.failed, "run_dir": self.stack.run_dir,
                 "quiet": "%s after %.1f s (bound %.0f s = 3 x lease + poll max + slowest AMC run + 2 x HTTP "
                          "timeout + grace + %d s backoff + %d s adoption wait + 15 s)" % (
                              "all terminal" if not open_ids else "%d batches NOT terminal" % len(open_ids),
                              waited, self.bound, MAX_BACKOFF_S, ADOPT_WAIT_S),
                 "replay": "scripts/chaos --seed %s --seconds %g --workers %d --instances %d --accounts %d "
                           "--mean-gap %g --fault-gap %g,%g%s" % (
                               a.seed, a.seconds, a.workers, a.instances, a.accounts, a.mean_gap, a.fault_gap[0],
                               a.fault_gap[1], " --no-netns" if a.no_netns else "")}
        return found, facts

    # ---- tear-down ---------------------------------------------------------------------
    def teardown(self):
        """Safe at any point: threads first, then the namespace host, then the stack."""
        self.stop_threads()
        for x in (self.storms, self.sampler):
            if x is not None:
                x.finish()
        if self.workers is not None:
            for n in self.workers.names():      # a SIGSTOPped worker could not take its SIGTERM
                self.workers.signal(n, signal.SIGCONT)
        if self.nshost:
            code = self.nshost.teardown()
            if getattr(self, "log", None):
                self.log("phase", "namespace host removed (its worker exited with %s)" % code)
        self.stack.stop(keep_data=self.a.keep)
        if getattr(self, "log", None):
            self.log("phase", "stack stopped")
