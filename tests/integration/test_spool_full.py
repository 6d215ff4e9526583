"""A worker whose result spool cannot be written (its disk is full) does not fail the executions
whose results AMC holds: each waits, downloading again with a backoff, and says so in
waiting_for (`spool_trouble_since`, "No space left on device"); once there is room the batch
completes, every row archived, each AMC execution created once. On the stack: a full tmpfs is
mounted over each stack worker's private spool directory (needs root; skipped otherwise)."""
import errno
import glob
import os
import socket
import subprocess
import time

from lib import (INSTANCES, RUN_DIR, WORKFLOW, check, created_since, done, exec_hashes, psql,
                 require_stack, sim_instance_stats, status_executions, submit_paced, wait_batch, wait_until)

require_stack()
# the stack's workers (scripts/stack: worker id <host>-wN; private workers of earlier tests have
# directories there too)
spools = sorted(d for d in glob.glob(os.path.join(RUN_DIR, "spool", "amcbatch-%s-w*" % socket.gethostname()))
                if os.path.isdir(d))
if os.geteuid() != 0 or not spools:
    print("ok - # SKIP needs root (mount) and the stack's worker spool directories under RUN_DIR")
    raise SystemExit(77)

IDS = INSTANCES[:2]
amc = [r[0] for r in psql("SELECT instance_id FROM instances WHERE id = ANY(:'p1'::uuid[])",
                          "{%s}" % ",".join(IDS))]


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
        check(created_since(before, amc) == {a: 1 for a in amc}, "one AMC execution per instance",
              created_since(before, amc))
        hs = exec_hashes(bid)
        check(hs and all(h.get("spool_trouble_since") == "" and h.get("spool_trouble") == "" for h in hs),
              "spool_trouble emptied once the download went through",
              [(h.get("spool_trouble"), h.get("spool_trouble_since")) for h in hs])
finally:
    for f in fillers:
        os.unlink(f)
    for d in mounted:
        if subprocess.run(["umount", d], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", d], capture_output=True)
done()
