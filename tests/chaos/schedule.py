"""schedule.py - everything random about a campaign, drawn up front from its seed: the
batches (when, how many instances, which, cancelled when, retried with an Idempotency-Key),
the faults (when, which kind, on what, for how long) and amcsim's seed. The plan does not
depend on timing or on what the machine permits, so one seed always means one plan; what
the system does with it still depends on timing (see docs/chaos.md, "Replaying a seed")."""
import random

# Every kind the campaign knows, in the order of the report's table. netns_cut needs
# `ip netns` (root): where it is not permitted the runner skips it and says so.
FAULT_KINDS = [
    "worker_kill",          # SIGKILL a worker, restart it a little later
    "worker_stop",          # SIGSTOP a worker past its lease, then SIGCONT
    "redis_kill",           # SIGKILL redis-server, restart it (AOF everysec)
    "redis_kill_aof_loss",  # the same, and the AOF loses its last second of writes
    "redis_client_kill",    # CLIENT KILL TYPE normal: every client's connection dropped
    "pg_terminate",         # pg_terminate_backend on every amcbatch backend
    "pg_restart",           # pg_ctl stop (fast or immediate), then start
    "sim_429_storm",        # amcsim profiles on part of the fleet, for some seconds
    "sim_5xx",
    "sim_lost_create",
    "sim_hang",
    "sim_cut_files",
    "netns_cut",            # the worker host in its own namespace loses Redis > lease
    "sigterm_adoption",     # SIGTERM a worker while it looks for a lost create's execution
    "redis_wipe",           # SIGKILL redis-server, delete its AOF: it starts empty
    "api_kill",             # SIGKILL amcbatch-api a few ms into a batch-execute, restart it
]
SIM_KINDS = [k for k in FAULT_KINDS if k.startswith("sim_")]


class BatchPlan:
    def __init__(self, index, t, members, cancel_after, keyed, dup_after):
        self.index, self.t, self.members = index, t, members
        self.cancel_after = cancel_after  # seconds after submission, or None
        self.keyed = keyed                # sent with an Idempotency-Key
        self.dup_after = dup_after        # keyed: the same request again after this, or None


class FaultPlan:
    def __init__(self, t, kind, params):
        self.t, self.kind, self.params = t, kind, params


def _size(rng):
    """Mostly small batches, some medium, a few of up to 100 instances (the API's limit)."""
    r = rng.random()
    if r < 0.5:
        return rng.randint(1, 10)
    if r < 0.85:
        return rng.randint(11, 40)
    return rng.randint(41, 100)


def batches(seed, seconds, n_instances, mean_gap):
    rng = random.Random("%s/batches" % seed)
    out, t = [], rng.uniform(0, mean_gap)
    while t < seconds:
        members = rng.sample(range(n_instances), min(_size(rng), n_instances))
        cancel = rng.uniform(0.2, 12.0) if rng.random() < 0.15 else None
        keyed = rng.random() < 0.3
        dup = (0.0 if rng.random() < 0.3 else rng.uniform(0.1, 5.0)) if keyed else None
        out.append(BatchPlan(len(out), round(t, 3), members, cancel, keyed, dup))
        t += min(max(rng.expovariate(1.0 / mean_gap), 0.1), 4 * mean_gap)
    return out


def _fault_params(rng, kind, n_workers, lease_s, http_timeout_s):
    if kind == "worker_kill":
        return {"worker": rng.randint(1, n_workers), "restart_after": round(rng.uniform(0.2, 2.5) * lease_s, 2)}
    if kind == "worker_stop":
        return {"worker": rng.randint(1, n_workers), "stopped_for": round(rng.uniform(1.3, 3.0) * lease_s, 2)}
    if kind in ("redis_kill", "redis_kill_aof_loss", "redis_wipe"):
        return {"down_for": round(rng.uniform(0.3, 3.0), 2)}
    if kind == "pg_restart":
        return {"mode": rng.choice(["fast", "immediate"]), "down_for": round(rng.uniform(0.5, 4.0), 2)}
    if kind in SIM_KINDS:
        p = {"share": rng.choice([0.1, 0.25, 0.5, 1.0]), "duration": round(rng.uniform(3.0, 12.0), 2),
             "members_seed": rng.randrange(1 << 30)}
        if kind == "sim_429_storm":
            p["profile"] = {"rate_429": round(rng.uniform(0.3, 0.8), 2), "retry_after_s": rng.randint(1, 2)}
        elif kind == "sim_5xx":
            p["profile"] = {"rate_5xx": round(rng.uniform(0.2, 0.6), 2)}
        elif kind == "sim_lost_create":
            p["profile"] = {"lost_create_rate": round(rng.uniform(0.3, 1.0), 2)}
        elif kind == "sim_hang":
            # past the worker's HTTP timeout (it gives up: a create may have run) or not
            ms = rng.choice([1000, int(http_timeout_s * 1000) + rng.randint(500, 3000)])
            p["profile"] = {"hang_rate": round(rng.uniform(0.2, 0.6), 2), "hang_ms": ms}
        else:
            p["profile"] = {"truncate_rate": round(rng.uniform(0.3, 1.0), 2)}
        return p
    if kind == "netns_cut":
        return {"cut_for": round(rng.uniform(1.5, 3.0) * lease_s, 2)}
    if kind == "api_kill":
        # 0-25 ms into the request: the load, the insert, the COMMIT, the enqueue or the
        # answer (a 100-instance submission takes ~10-20 ms)
        return {"watch_for": 10.0, "delay_ms": rng.randint(0, 25), "down_for": round(rng.uniform(0.3, 3.0), 2)}
    if kind == "sigterm_adoption":
        # fallback: the worker SIGTERMed when no adoption shows up in time
        return {"watch_for": 15.0, "list_hang_ms": rng.choice([1000, 2000, 3000]),
                "fallback_worker": rng.randint(1, n_workers)}
    return {}


def faults(seed, seconds, n_workers, lease_s, http_timeout_s, gap):
    """Faults from a few seconds in until `seconds`; gap = (min, max) seconds between two."""
    rng = random.Random("%s/faults" % seed)
    out, t = [], rng.uniform(3.0, 6.0)
    while t < seconds:
        kind = rng.choice(FAULT_KINDS)
        out.append(FaultPlan(round(t, 3), kind, _fault_params(rng, kind, n_workers, lease_s, http_timeout_s)))
        t += rng.uniform(*gap)
    return out


def slow_instances(seed, n_instances):
    """A quarter of the fleet runs slowly on AMC (seconds, not a few hundred ms), so that
    cancellations and lost ownership meet executions that are still running there."""
    rng = random.Random("%s/slow" % seed)
    return {i: rng.randint(3000, 10000) for i in rng.sample(range(n_instances), n_instances // 4)}


def sim_seed(seed):
    """amcsim's own dice (AMCSIM_SEED, PUT /sim/seed), derived from the campaign's seed."""
    return random.Random("%s/amcsim" % seed).randrange(1 << 62)
