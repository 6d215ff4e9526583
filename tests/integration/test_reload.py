"""SIGHUP reloads the config file in the API and in the worker (issue 14): a private API and
worker share one config file under a Redis prefix of their own, with an AMC host that accepts
connections and never answers, so every claimed job keeps its running slot. With instance_cap = 1
a second job on the instance is parked; after the file says instance_cap = 3, max_instances = 1
and another redis_prefix, a SIGHUP makes the next claim run two more jobs on that instance, the
API refuses a batch of two instances, and both log the prefix as needing a restart while they
go on using the old one (the API enqueues, the worker claims there). A file that does not load
changes nothing and is logged. No step waits on a clock: each waits for a state."""
import json
import os
import signal
import socket
import tempfile
import uuid

import lib
from lib import (INSTANCES, WORKFLOW, PrivateApi, PrivateWorker, api, check, done, psql,
                 redis_raw, require_stack, submit, wait_until)

require_stack()

prefix = "amcbrl%s:" % uuid.uuid4().hex[:6]
new_prefix = prefix[:-1] + "x:"
X, Y = INSTANCES[0], INSTANCES[1]
AMC_X = psql("SELECT instance_id FROM instances WHERE id = :'p1'", X)[0][0]	# Redis keys use it

# the AMC and LWA host: the kernel completes the connections, nobody reads them
amc = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
amc.bind(("127.0.0.1", 0))
amc.listen(64)
amc_url = "http://127.0.0.1:%d" % amc.getsockname()[1]

tmp = tempfile.mkdtemp(prefix="amcb-reload-")
conf = os.path.join(tmp, "amcbatch.conf")
# one file for both programs, as in production; keys that are not under test stay the same
COMMON = ("schedule_tick_ms = 0\nenqueue_janitor_ms = 3600000\nshutdown_grace_ms = 200\n"
          "amc_base_url = %s\namc_token_url = %s/auth/o2/token\n" % (amc_url, amc_url))


def write_conf(text):
    with open(conf + ".new", "w") as f:
        f.write(COMMON + text)
    os.replace(conf + ".new", conf)	# a reload never reads a half-written file


def snapshot(batch_ids):
    out = redis_raw("EVAL", lib._SNAPSHOT_LUA, 1, prefix + "running", prefix, len(batch_ids),
                    *(list(batch_ids) + [AMC_X]))
    snap = json.loads(out[0])
    for k in ("slots", "parked"):
        if not isinstance(snap.get(k), dict):
            snap[k] = {}
    return snap


def batch(instances, label):
    st, body, raw = submit(WORKFLOW, instances, name="reload " + label)
    check(st == 201, "batch %s accepted" % label, raw[:300])
    return body["batch"]["batch_id"] if st == 201 else None


def logged(proc, text, timeout=10):
    return wait_until(lambda: text in proc.log(), timeout)


write_conf("redis_prefix = %s\ninstance_cap = 1\n" % prefix)
papi = PrivateApi(conf=conf)
worker = PrivateWorker("reload-" + prefix[6:12], conf=conf)
batches = []
try:
    with papi as url:
        if url is None:
            print("ok - # SKIP no amcbatch-api in BUILD_DIR")
            raise SystemExit(77)
        worker.start()
        # ---- before: instance_cap 1 parks the second job on X ---------------------------------
        batches.append(batch([X, Y], "x1+y"))
        batches.append(batch([X], "x2"))
        ok = wait_until(lambda: snapshot(batches)["parked"].get(AMC_X) == 1, 20)
        snap = snapshot(batches)
        check(ok and snap["slots"].get("instance:" + AMC_X) == 1,
              "instance_cap = 1: one job runs on the instance, the next is parked", snap)

        # ---- reload: two reloadable keys and one that needs a restart ---------------------------
        write_conf("redis_prefix = %s\ninstance_cap = 3\nmax_instances = 1\n" % new_prefix)
        papi.proc.send_signal(signal.SIGHUP)
        worker.signal(signal.SIGHUP)
        for name, proc in (("API", papi), ("worker", worker)):
            check(logged(proc, "SIGHUP: config reloaded from %s: 2 key(s) applied, 1 need a restart"
                         % conf), "%s: SIGHUP reloads the file" % name, proc.log()[-800:])
            log = proc.log()
            check("config reload: instance_cap changed from 1 to 3" in log and
                  "config reload: max_instances changed from 100 to 1" in log,
                  "%s logs each reloadable key it applied" % name, log[-800:])
            check('config reload: redis_prefix changed from "%s" to "%s": needs a restart, still "%s"'
                  % (prefix, new_prefix, prefix) in log,
                  "%s logs the prefix as needing a restart" % name, log[-800:])

        # API: max_instances applies to the next request
        st, body, raw = submit(WORKFLOW, [X, Y], name="reload refused")
        check(st == 422 and b"too_many_instances" in raw,
              "API: max_instances = 1 refuses a batch of two at once", (st, raw[:300]))
        # worker: the next claim runs two more jobs on X under cap 3; the API enqueued them and
        # the worker claimed them under the old prefix, which stays in force until a restart
        batches.append(batch([X], "x3"))
        batches.append(batch([X], "x4"))
        ok = wait_until(lambda: snapshot(batches)["slots"].get("instance:" + AMC_X) == 3, 20)
        check(ok, "worker: instance_cap = 3 applies to the next claim (3 running on X, old prefix)",
              snapshot(batches))
        check(not any(redis_raw("KEYS", new_prefix + "*")), "nothing went to the new prefix",
              redis_raw("KEYS", new_prefix + "*")[:5])

        # ---- a file that does not load changes nothing ------------------------------------------
        write_conf("redis_prefix = %s\ninstance_cap = 0\n" % prefix)
        papi.proc.send_signal(signal.SIGHUP)
        worker.signal(signal.SIGHUP)
        for name, proc in (("API", papi), ("worker", worker)):
            check(logged(proc, "SIGHUP: config not reloaded, the old one stays in force"),
                  "%s: a bad file is not loaded" % name, proc.log()[-800:])
            check("instance_cap must be between" in proc.log(), "%s says why" % name,
                  proc.log()[-800:])
        st, body, raw = submit(WORKFLOW, [X, Y], name="reload still refused")
        check(st == 422, "API: max_instances is still 1 after the bad file", (st, raw[:300]))

        # ---- clean up: cancel (PostgreSQL marks the batches cancelled), stop the worker ---------
        for b in batches:
            if b:
                st, _, raw = api("POST", "/workflows/batch/%s/cancel" % b)
                check(st in (200, 202), "batch %s cancelled" % b, raw[:200])
        worker.stop("reload worker")
finally:
    PrivateWorker.kill_all()
    amc.close()
    keys = redis_raw("KEYS", prefix + "*")
    for k in filter(None, keys):
        redis_raw("DEL", k)
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
done()
