"""The web UI end to end in headless Chromium (tests/e2e/run.mjs, driven by playwright-core
from tests/e2e/package-lock.json) against the stack in the environment. Relays run.mjs's "ok - " /
"not ok - " lines; skipped (exit 77) when there is no stack, no node, no Chromium or no
tests/e2e/node_modules (scripts/bootstrap runs `npm ci` there). Screenshots: test-results/e2e/."""
import os
import shutil
import subprocess
import sys

top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def skip(why):
    print("ok - # SKIP " + why)
    sys.exit(77)


if not (os.environ.get("AMCBATCH_URL") and os.environ.get("AMCBATCH_TOKEN")):
    skip("no stack in the environment (run through scripts/test)")
node = shutil.which("node")
if node is None:
    skip("node is not installed")
chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(chromium):
    skip("Chromium is not installed (apt-get install -y chromium)")
if not os.path.isdir(os.path.join(top, "tests", "e2e", "node_modules", "playwright-core")):
    skip("playwright-core is not installed (cd tests/e2e && npm ci)")

env = dict(os.environ)
env.setdefault("E2E_OUT", os.path.join(top, "test-results", "e2e"))
env["CHROMIUM"] = chromium
try:
    p = subprocess.run([node, os.path.join(top, "tests", "e2e", "run.mjs")], cwd=top, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    out, rc = p.stdout, p.returncode
except subprocess.TimeoutExpired as e:
    out, rc = (e.stdout or "") if isinstance(e.stdout, str) else "", 1
    out += "\nnot ok - browser test finished within 600 s\n"
for line in out.splitlines():
    print(line)
sys.stdout.flush()
if rc == 77:
    sys.exit(77)
sys.exit(0 if rc == 0 and "not ok - " not in out else 1)
