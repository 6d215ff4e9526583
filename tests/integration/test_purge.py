"""amcbatch-admin purge on the test stack: three real batches run; one is made old (completed_at
500 days back), one stays recent, one is made 'running' with an old completed_at (a batch that
is not finished must never go, whatever its dates say). A dry run removes nothing; the purge
(--older-than 400d, 2 rows per transaction to go through the chunking) removes the old finished
batch with its executions and result rows, and keeps the other two with theirs."""
import os
import subprocess

import lib
from lib import (INSTANCES, WORKFLOW, check, done, psql, require_stack, submit, wait_batch)

require_stack()
BUILD = os.environ.get("BUILD_DIR") or os.path.join(lib.TOP, "build")
ADMIN = os.path.join(BUILD, "amcbatch-admin")


def run_batch(n):
    st, body, raw = submit(WORKFLOW, INSTANCES[:n], parameters={"startDate": "2025-01-01",
                                                               "endDate": "2025-01-31"},
                           name="purge test")
    if st not in (200, 201):
        raise RuntimeError("submit: %s %s" % (st, raw[:300]))
    bid = body["batch"]["batch_id"]
    final = wait_batch(bid, 120)
    return bid, final["status"] if final else None


def counts(bid):
    """(batches, executions, result rows) of one batch in the archive"""
    out = psql("SELECT (SELECT count(*) FROM batch_executions WHERE batch_id = :'p1'),"
               " (SELECT count(*) FROM workflow_executions e JOIN batch_executions b"
               "  ON e.batch_execution_id = b.id WHERE b.batch_id = :'p1'),"
               " (SELECT count(*) FROM result_rows r JOIN workflow_executions e ON r.execution_id = e.id"
               "  JOIN batch_executions b ON e.batch_execution_id = b.id WHERE b.batch_id = :'p1')", bid)
    return tuple(int(x) for x in out[0])


def admin(*args):
    env = dict(os.environ, AMCBATCH_DATABASE_URL=lib.DB)
    r = subprocess.run([ADMIN] + list(args), env=env, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


old, st_old = run_batch(3)
recent, st_recent = run_batch(2)
busy, st_busy = run_batch(2)
check(st_old in ("completed", "partial") and st_recent in ("completed", "partial") and
      st_busy in ("completed", "partial"), "three batches finished", (st_old, st_recent, st_busy))
before = {b: counts(b) for b in (old, recent, busy)}
check(all(c[0] == 1 and c[1] >= 2 and c[2] > 2 for c in before.values()),
      "each batch archived with executions and rows", before)

psql("UPDATE batch_executions SET completed_at = now() - interval '500 days' WHERE batch_id = :'p1'", old)
# not finished, yet dated long ago: the status alone must protect it
psql("UPDATE batch_executions SET status = 'running', completed_at = now() - interval '500 days'"
     " WHERE batch_id = :'p1'", busy)

rc, out = admin("purge", "--older-than", "400d", "--dry-run")
check(rc == 0 and ("would purge %s" % old) in out and recent not in out and busy not in out,
      "dry run names only the old finished batch", out[-1500:])
check(counts(old) == before[old], "dry run removed nothing")

rc, out = admin("purge", "--older-than", "400d", "--batch-size", "2")
check(rc == 0, "purge exits 0", out[-1500:])
check(("purged %s" % old) in out and "purged 1 batches" in out,
      "purge reports the batch it removed", out[-1500:])
check(("%d result rows" % before[old][2]) in out, "purge reports its result rows", out[-1500:])
check(counts(old) == (0, 0, 0), "old finished batch gone with its executions and rows", counts(old))
check(counts(recent) == before[recent], "recent batch kept with its rows", counts(recent))
check(counts(busy) == before[busy], "running batch kept with its rows although dated old", counts(busy))

rc, out = admin("purge", "--older-than", "400d")
check(rc == 0 and "purged 0 batches" in out, "a second purge finds nothing", out[-500:])
rc, out = admin("purge", "--older-than", "soon")
check(rc == 2, "a malformed age is refused", out[-300:])
rc, out = admin("purge")
check(rc == 0 and "retention is off" in out, "no age and archive_retention_days = 0: nothing to do", out)

# leave the stack as other tests expect it
psql("UPDATE batch_executions SET status = :'p2', completed_at = now() WHERE batch_id = :'p1'", busy, st_busy)
done()
