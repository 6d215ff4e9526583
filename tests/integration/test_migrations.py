"""amcbatch-migrate on a scratch database: up applies every migration once, status lists them,
down rolls each back to an empty schema, and up again restores it (so rollbacks really work)."""
import os
import subprocess
import uuid

from lib import check, done, require_stack

require_stack()
top = os.environ.get("TOP", os.path.join(os.path.dirname(__file__), "..", ".."))
migrate = os.path.join(os.environ.get("BUILD_DIR", "build"), "amcbatch-migrate")
su = os.environ.get("AMCSIM_DATABASE_URL", "")  # the stack's superuser connection
if not su:
    print("ok - # SKIP no superuser connection (AMCSIM_DATABASE_URL)")
    raise SystemExit(77)
name = "migtest_" + uuid.uuid4().hex[:8]
base = su.rsplit("/", 1)[0]
scratch = base + "/" + name


def sh(*args):
    p = subprocess.run(list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def q(sql):
    return sh("psql", scratch, "-XAtqc", sql)[1].strip()


sh("psql", su, "-Xqc", "CREATE DATABASE %s" % name)
try:
    sqldir = os.path.join(top, "sql")
    versions = sorted(f[:-7] for f in os.listdir(sqldir) if f.endswith(".up.sql"))
    rc, out, err = sh(migrate, "-s", sqldir, "-d", scratch, "up")
    check(rc == 0 and all(("applying " + v) in out for v in versions), "up applies every migration", out + err)
    check(q("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == ",".join(versions),
          "schema_migrations records them")
    rc, out, err = sh(migrate, "-s", sqldir, "-d", scratch, "up")
    check(rc == 0 and "applying" not in out, "a second up applies nothing", out + err)
    rc, out, err = sh(migrate, "-s", sqldir, "-d", scratch, "status")
    check(rc == 0 and out.count("applied ") == len(versions), "status lists applied versions", out)
    check(q("SELECT generate_batch_id() ~ '^batch_[0-9a-f]{8}$'") == "t", "generate_batch_id() format")
    rc, out, err = sh(migrate, "-s", sqldir, "-d", scratch, "down", str(len(versions)))
    check(rc == 0, "down rolls everything back", out + err)
    left = q("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")
    check(left == "0", "no table left after rollback", left)
    check(q("SELECT count(*) FROM pg_proc WHERE proname IN ('generate_batch_id', 'update_batch_execution_status')") == "0",
          "functions dropped")
    rc, out, err = sh(migrate, "-s", sqldir, "-d", scratch, "up")
    check(rc == 0 and q("SELECT count(*) FROM schema_migrations") == str(len(versions)), "up again after rollback",
          out + err)
finally:
    sh("psql", su, "-Xqc", "DROP DATABASE IF EXISTS %s" % name)
done()
