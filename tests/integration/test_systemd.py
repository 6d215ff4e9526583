#!/usr/bin/env python3
"""The systemd units in conf/systemd, as `make install` installs them: installed into a DESTDIR
under /tmp, then checked offline by `systemd-analyze verify --root=DESTDIR` (unit syntax,
unknown or misspelt keys, ExecStart/ExecReload binaries present and executable inside the root,
the dependencies resolvable) and `systemd-analyze security --offline=true` (the hardening's
exposure score). No systemd needs to run (a container is fine): --root makes systemd-analyze
read units and binaries from the DESTDIR only, so the host's targets and /bin/kill the units
rely on are copied into it first. Also: amcsim stays out of `make install` (only `make
install-sim` installs it) and TimeoutStopSec leaves room for the worker's shutdown_grace_ms."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, done  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("BUILD_DIR", os.path.join(TOP, "build"))
# the targets the units name (After=/Wants=/WantedBy=) and those a start job pulls in
TARGETS = ["sysinit", "basic", "shutdown", "network-online", "network", "multi-user",
           "local-fs", "paths", "slices", "sockets", "timers", "swap"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    if shutil.which("systemd-analyze") is None:
        print("ok - # SKIP systemd-analyze not installed (Debian package systemd)")
        sys.exit(77)
    root = tempfile.mkdtemp(prefix="amcb-systemd-", dir="/tmp")
    try:
        r = run(["make", "-s", "-C", BUILD, "install", "DESTDIR=" + root])
        if not check(r.returncode == 0, "make install into a DESTDIR", r.stderr[-2000:]):
            return
        units = glob.glob(root + "/**/amcbatch-api.service", recursive=True)
        if not check(len(units) == 1, "amcbatch-api.service installed", units):
            return
        unitdir = os.path.dirname(units[0])
        worker = os.path.join(unitdir, "amcbatch-worker@.service")
        check(os.path.exists(worker), "amcbatch-worker@.service installed beside it")
        sysusers = glob.glob(root + "/**/sysusers.d/amcbatch.conf", recursive=True)
        check(len(sysusers) == 1, "sysusers.d/amcbatch.conf installed", sysusers)
        api_text = open(units[0]).read()
        worker_text = open(worker).read()
        check(re.search(r"@[a-z]+@", api_text + worker_text) is None,
              "no @placeholder@ left in the units")
        exec_start = re.search(r"(?m)^ExecStart=(\S+)", api_text).group(1)
        check(os.access(root + exec_start, os.X_OK),
              "ExecStart names the installed amcbatch-api", exec_start)

        # amcsim is a test tool: not in bindir after make install, there after install-sim
        bindir = os.path.dirname(exec_start)
        check(not os.path.exists(root + bindir + "/amcsim"), "make install leaves amcsim out")
        r = run(["make", "-s", "-C", BUILD, "install-sim", "DESTDIR=" + root])
        check(r.returncode == 0 and os.access(root + bindir + "/amcsim", os.X_OK),
              "make install-sim installs amcsim", r.stderr[-500:])

        # what the units need from the host, inside the root
        for t in TARGETS:
            for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
                src = "%s/%s.target" % (d, t)
                if os.path.exists(src):
                    shutil.copy(src, unitdir)
                    break
        os.makedirs(root + "/bin", exist_ok=True)
        shutil.copy(shutil.which("kill") or "/bin/kill", root + "/bin/kill")

        rel = "/" + os.path.relpath(unitdir, root)
        names = ["amcbatch-api.service", "amcbatch-worker@1.service", "amcbatch-worker@2.service"]
        r = run(["systemd-analyze", "verify", "--man=no", "--root=" + root] +
                [rel + "/" + n for n in names])
        # verify exits 0 on unknown keys: any line it writes is a finding
        check(r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "",
              "systemd-analyze verify: api and two worker instances clean",
              (r.stdout + r.stderr)[-2000:])
        for n in ("amcbatch-api.service", "amcbatch-worker@1.service"):
            r = run(["systemd-analyze", "security", "--offline=true", "--threshold=20",
                     "--root=" + root, rel + "/" + n])
            m = re.search(r"exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
            check(r.returncode == 0 and m is not None,
                  "%s hardened: exposure %s (at most 2.0)" % (n, m.group(1) if m else "?"),
                  (r.stdout + r.stderr)[-1500:])
        for name, text in (("api", api_text), ("worker", worker_text)):
            for key in ("User=amcbatch", "ProtectSystem=strict", "ProtectHome=yes",
                        "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure",
                        "ExecReload=/bin/kill -HUP $MAINPID", "EnvironmentFile="):
                check(re.search(r"(?m)^" + re.escape(key), text) is not None,
                      "%s unit has %s" % (name, key))
        check("Environment=AMCBATCH_WORKER_ID=%H-%i" in worker_text,
              "worker instance name is the worker_id suffix")
        check(re.search(r"(?m)^StateDirectory=amcbatch$", worker_text) is not None and
              "AMCBATCH_SPOOL_DIR=%S/amcbatch" in worker_text,
              "worker spools into its StateDirectory")
        # SIGTERM hands jobs back within shutdown_grace_ms, then ~1 s to drop the lease
        grace = int(re.search(r"(?m)^shutdown_grace_ms = (\d+)",
                              open(TOP + "/conf/amcbatch.conf.example").read()).group(1))
        stop = int(re.search(r"(?m)^TimeoutStopSec=(\d+)s", worker_text).group(1))
        check(stop * 1000 >= grace + 5000,
              "worker TimeoutStopSec %ds covers shutdown_grace_ms %d + 5 s" % (stop, grace))
        r = run(["systemd-sysusers", "--root=" + root, "--dry-run"])
        check(r.returncode == 0 and "amcbatch" in r.stdout + r.stderr,
              "systemd-sysusers accepts the amcbatch user", (r.stdout + r.stderr)[-500:])
    finally:
        shutil.rmtree(root, ignore_errors=True)


main()
done()
