"""scripts/stack keeps a machine's throwaway PostgreSQL clusters (/tmp/amcbatch-pg-<hash of
RUN_DIR>, outside RUN_DIR) in step with their RUN_DIRs, on a private stack of its own (no
workers) in a temporary RUN_DIR:
  - a start removes the stopped clusters whose RUN_DIR was deleted, and leaves a cluster whose
    RUN_DIR exists, or that does not name its RUN_DIR, alone;
  - a start whose RUN_DIR was deleted (secret.key gone with it) makes its own cluster afresh,
    since the old one holds credentials encrypted with the lost key;
  - purge removes the cluster."""
import hashlib
import os
import shutil
import subprocess
import tempfile

import lib
from lib import check, done

base = tempfile.mkdtemp(prefix="amcbatch-test-stack.")
run_dir = os.path.join(base, "run")
pg_home = "/tmp/amcbatch-pg-" + hashlib.sha1(run_dir.encode()).hexdigest()[:10]


def stack(*args):
    return lib.stack(*args, RUN_DIR=run_dir, STACK_WORKERS="0")


def fake_cluster(name, owner):
    """A stopped cluster directory as the stack leaves one; owner None: no run_dir file."""
    d = "/tmp/amcbatch-pg-test%d%s" % (os.getpid(), name)
    os.makedirs(os.path.join(d, "data"))
    if owner is not None:
        with open(os.path.join(d, "run_dir"), "w") as f:
            f.write(owner + "\n")
    return d


def psql(env_lines, sql):
    url = [ln.split("=", 1)[1] for ln in env_lines.splitlines() if ln.startswith("export DATABASE_URL=")][0]
    return subprocess.run(["psql", url, "-XAtqc", sql], capture_output=True, text=True, timeout=60)


orphan = fake_cluster("orphan", os.path.join(base, "deleted-run-dir"))
kept = fake_cluster("kept", base)
unnamed = fake_cluster("unnamed", None)
try:
    p = stack("start")
    if not check(p.returncode == 0, "a private stack starts (no workers)", p.stderr[-2000:]):
        done()
    check(not os.path.exists(orphan), "the stopped cluster of a deleted RUN_DIR was removed", p.stderr)
    check("removing %s" % orphan in p.stderr, "the start said which cluster it removed", p.stderr)
    check(os.path.isdir(kept), "a cluster whose RUN_DIR exists was left alone")
    check(os.path.isdir(unnamed), "a cluster that does not name its RUN_DIR was left alone")
    named = os.path.join(pg_home, "run_dir")
    check(os.path.exists(named) and open(named).read().strip() == run_dir,
          "the stack's own cluster names its RUN_DIR", named)

    # a table the next cluster must not have
    q = psql(p.stdout, "CREATE TABLE stack_test_marker (x int)")
    check(q.returncode == 0, "a marker table in the first cluster", q.stderr)

    # RUN_DIR deleted without purge, then the same RUN_DIR started again
    p = stack("stop")
    check(p.returncode == 0, "the stack stops", p.stderr)
    shutil.rmtree(run_dir)
    p = stack("start")
    check(p.returncode == 0, "the stack starts again on the deleted RUN_DIR", p.stderr[-2000:])
    check("starting the cluster afresh" in p.stderr, "the start said it makes the cluster afresh", p.stderr)
    q = psql(p.stdout, "SELECT to_regclass('stack_test_marker') IS NULL, count(*) FROM instances")
    check(q.returncode == 0 and q.stdout.split("|")[0] == "t", "the cluster is new: the marker is gone",
          q.stdout + q.stderr)
    check(q.returncode == 0 and int(q.stdout.split("|")[1]) > 0, "and it is migrated and seeded", q.stdout)
    check(not os.path.exists(orphan), "the removed orphan stays removed")

    p = stack("purge")
    check(p.returncode == 0 and not os.path.exists(pg_home) and not os.path.exists(run_dir),
          "purge removes RUN_DIR and the cluster", p.stderr)
finally:
    stack("purge")
    for d in (orphan, kept, unnamed):
        shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
done()
