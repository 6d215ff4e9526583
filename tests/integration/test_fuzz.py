"""A short libFuzzer run (tests/fuzz/run.sh, 25 s) of the batch-execute request validation
under ASan and UBSan. Needs clang with libFuzzer, not the stack; skipped (77) without them."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, FUZZ_SECONDS=os.environ.get("FUZZ_SECONDS", "25"))
p = subprocess.run([os.path.join(here, "..", "fuzz", "run.sh")], env=env, capture_output=True,
                   text=True, timeout=300)
sys.stdout.write(p.stdout)
sys.stderr.write(p.stderr[-4000:])
if p.returncode not in (0, 77) and "not ok - " not in p.stdout:
    print("not ok - fuzz: run.sh exited %d" % p.returncode)
sys.exit(p.returncode)
