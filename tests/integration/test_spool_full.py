"""A worker whose result spool cannot be written (its disk is full) does not fail the executions
whose results AMC holds: each waits, downloading again with a backoff, and says so in
waiting_for (`spool_trouble_since`, "No space left on device"); once there is room the batch
completes, every row archived, each AMC execution created once. Meanwhile a worker in that
state claims no new jobs (a batch submitted then is not taken by it) and the fleet view says
why (`claims_paused`); a whole download ends the pause. On the stack: a full tmpfs is mounted
over each stack worker's private spool directory (needs root; skipped otherwise)."""
import errno
import glob
import os
import socket
import subprocess
import time

from lib import (INSTANCES, RUN_DIR, WORKFLOW, api, check, created_since, done, exec_hashes, pid_alive,
                 pid_of, psql, require_stack, sim_instance_stats, status_executions, submit_paced, wait_batch, wait_until)

require_stack()
# the stack's workers (scripts/stack: worker id <host>-wN; private workers of earlier tests have
# directories there too)
spools = sorted(d for d in glob.glob(os.path.join(RUN_DIR, "spool", "amcbatch-%s-w*" % socket.gethostname()))
                if os.path.isdir(d))
if os.geteuid() != 0 or not spools:
    print("ok - # SKIP needs root (mount) and the stack's worker spool directories under RUN_DIR")
    raise SystemExit(77)

IDS = INSTANCES[:2]
amc_of = dict(psql("SELECT id, instance_id FROM instances WHERE id = ANY(:'p1'::uuid[])",
                   "{%s}" % ",".join(IDS)))
amc = [amc_of[i] for i in IDS]


def fill(path):
    """Writes a file in path until the file system refuses (ENOSPC): no byte left."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return filler


mounted, fillers = [], []
try:
    for d in spools:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("ok - # SKIP cannot mount a tmpfs: %s" % r.stderr.strip()[:200])
            raise SystemExit(77)
        mounted.append(d)
        fillers.append(fill(d))
    check(len(mounted) == len(spools), "a full tmpfs over each of the %d worker spools" % len(spools))

    before = sim_instance_stats()
    st, body, raw = submit_paced(WORKFLOW, IDS, name="spool full " + os.urandom(3).hex())
    check(st == 201, "batch accepted", raw[:300])
    bid = body["batch"]["batch_id"] if st == 201 else None

    def all_waiting():
        w = [e.get("waiting_for") or {} for e in status_executions(bid)]
        return len(w) == 2 and all(x.get("code") == "downloading" and x.get("spool_trouble_since") for x in w)

    ok = bid and wait_until(all_waiting, 60, 0.2)
    w = [e.get("waiting_for") for e in status_executions(bid)] if bid else []
    check(ok, "both executions wait in downloading with spool_trouble_since", w)
    check(ok and all("No space left on device" in x.get("text", "") for x in w),
          "the words say why: No space left on device", w)
    # a few more rounds of the backoff (1, 2, 4 s): still waiting, nothing failed
    time.sleep(4)
    ex = status_executions(bid) if bid else []
    check(len(ex) == 2 and all(e["status"] == "running" for e in ex),
          "still running after more download attempts, not failed", [(e["status"], e.get("error")) for e in ex])

    # Every stack worker is to hold a job its spool refuses (a job of this test's, or one another
    # test left queued), so that none has room for new work. One worker often claims both
    # executions; the next batch then goes to another.
    # (the running stack workers: RUN_DIR/workerN.pid, worker id <host>-wN)
    workers = {"%s-w%s" % (socket.gethostname(), os.path.basename(f)[len("worker"):-len(".pid")])
               for f in glob.glob(os.path.join(RUN_DIR, "worker*.pid"))
               if pid_alive(pid_of(os.path.basename(f)[:-len(".pid")]))}
    more = []

    def paused():
        """The stack workers the fleet view shows with claims paused, and why."""
        st, body, _ = api("GET", "/admin/fleet")
        items = body["workers"]["items"] if st == 200 else []
        return {x["id"]: x["claims_paused"] for x in items if x["id"] in workers and x.get("claims_paused")}

    def all_paused():
        return workers <= set(paused())

    # a heartbeat (1 s) carries a pause to the fleet view
    while bid and len(more) < len(workers) and not wait_until(all_paused, 3, 0.2):
        st, b, raw = submit_paced(WORKFLOW, IDS[:1], name="spool full, one more " + os.urandom(3).hex())
        if not check(st == 201, "one more batch of one instance accepted", raw[:300]):
            break
        more.append(b["batch"]["batch_id"])
        wait_until(lambda: all_paused() or any(h.get("spool_trouble_since") for h in exec_hashes(more[-1])), 60, 0.2)
    pw = paused()
    check(workers and all_paused() and all("No space left on device" in v for v in pw.values()),
          "the fleet view shows every stack worker with claims paused, and why", {"workers": sorted(workers), "paused": pw})

    st, body2, raw = submit_paced(WORKFLOW, IDS, name="spool full, later " + os.urandom(3).hex())
    check(st == 201, "a second batch accepted meanwhile", raw[:300])
    bid2 = body2["batch"]["batch_id"] if st == 201 else None
    time.sleep(2)  # ten claim rounds of an idle worker (200 ms)
    taken = [(h.get("exec_id"), h.get("state"), h.get("worker")) for h in exec_hashes(bid2)] if bid2 else []
    check(bid2 and len(taken) == 2 and all(s == "queued" and w == "" for _, s, w in taken),
          "no worker with a full spool took its executions: they wait queued", taken)

    for f in fillers:
        os.unlink(f)
    fillers = []
    final = wait_batch(bid, 90) if bid else None
    check(final is not None and final["status"] == "completed" and final["completed_instances"] == 2,
          "room again: the batch completes", final and {k: final[k] for k in final if k != "executions"})
    if final:
        rows = int(psql("SELECT count(*) FROM batch_result_rows WHERE batch_id = :'p1'", bid)[0][0])
        want = sum(e.get("row_count") or 0 for e in final["executions"])
        check(want > 0 and rows == want, "every row archived (%d)" % want, (rows, want))
        hs = exec_hashes(bid)
        check(hs and all(h.get("spool_trouble_since") == "" and h.get("spool_trouble") == "" for h in hs),
              "spool_trouble emptied once the download went through",
              [(h.get("spool_trouble"), h.get("spool_trouble_since")) for h in hs])
    finals = [wait_batch(b, 90) for b in more + [bid2] if b]
    check(bid2 and all(f is not None and f["status"] == "completed" for f in finals),
          "the later batches complete once the pause is over", [f and f["status"] for f in finals])
    # the first and the second batch ran on both instances, the ones in between on the first
    want = {amc[0]: 2 + len(more), amc[1]: 2}
    check(created_since(before, amc) == want, "one AMC execution per execution: %s" % want,
          created_since(before, amc))
    check(wait_until(lambda: not paused(), 10, 0.2), "the fleet view shows no pause any more", paused())
finally:
    for f in fillers:
        os.unlink(f)
    for d in mounted:
        if subprocess.run(["umount", d], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", d], capture_output=True)
done()
