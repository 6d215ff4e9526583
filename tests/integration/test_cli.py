"""The amcbatch CLI against the real stack: every subcommand, piped output and exit codes."""
import json
import os
import subprocess

from lib import INSTANCES, WORKFLOW, check, create_workflow, done, require_stack

require_stack()
CLI = os.path.join(os.environ.get("BUILD_DIR", "build"), "amcbatch")


def cli(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([CLI] + list(args), capture_output=True, text=True, env=e, timeout=300)
    return p.returncode, p.stdout, p.stderr


rc, out, err = cli("--help")
check(rc == 0 and "submit" in out and "status" in out, "top-level --help", out + err)
for sub in ("submit", "status", "results", "cancel", "list", "instances", "workflows"):
    rc, out, err = cli(sub, "--help")
    check(rc == 0 and sub in (out + err), "%s --help" % sub, out + err)
rc, out, err = cli("frobnicate")
check(rc == 2, "unknown subcommand is a usage error (2)", (rc, err))
rc, out, err = cli("list", env={"AMCBATCH_TOKEN": ""})
check(rc == 2 and "AMCBATCH_TOKEN" in err, "missing token is a usage error naming AMCBATCH_TOKEN", (rc, err))
rc, out, err = cli("list", env={"AMCBATCH_URL": "http://127.0.0.1:1"})
check(rc == 4, "unreachable server exits 4", (rc, err))
rc, out, err = cli("list", env={"AMCBATCH_TOKEN": "amcb_bad"})
check(rc == 3, "API error (401) exits 3", (rc, err))

rc, out, err = cli("instances")
check(rc == 0 and "US-East Production" in out, "instances table", out + err)
rc, out, err = cli("instances", "--search", "contoso", "--json")
try:
    found = json.loads(out)
except ValueError:
    found = None
names = sorted(i["instance_name"] for i in (found if isinstance(found, list) else (found or {}).get("instances", [])))
check(rc == 0 and names and all(n in ("UK Grocery", "Germany Electronics", "France Beauty", "Spain Home") for n in names),
      "instances --search by account/brand", out[:500])
rc, out, err = cli("workflows")
check(rc == 0 and "Campaign performance" in out, "workflows", out + err)

# submit (piped: the batch id alone on stdout), then watch to the end
rc, out, err = cli("submit", WORKFLOW, "--instances", "%s,amccn01uk1e,Japan Toys" % INSTANCES[0],
                   "--param", "startDate=2025-01-01", "--param", "endDate=2025-01-15",
                   "--override", "%s:minImpressions=1" % INSTANCES[0], "--name", "cli batch")
bid = out.strip()
check(rc == 0 and bid.startswith("batch_") and len(bid) == 14, "submit prints the batch id when piped", (rc, out, err))
rc, out, err = cli("status", bid, "--watch", "--interval", "0.5")
check(rc == 0, "status --watch exits 0 when completed", (rc, out[-500:], err))
check("\r" not in out and "completed" in out, "piped --watch prints plain lines", out[-500:])
rc, out, err = cli("status", bid, "--json")
st = json.loads(out) if rc == 0 else {}
st = st.get("batch_status", st)
check(rc == 0 and st.get("status") == "completed" and st.get("total_instances") == 3, "status --json", out[:500])
rc, out, err = cli("results", bid)
check(rc == 0 and "_instance_name" in out and "Japan Toys" in out, "results table", out[:500] + err)
rc, out, err = cli("results", bid, "--format", "json")
res = json.loads(out) if rc == 0 else {}
res = res.get("batch_results", res)
check(rc == 0 and res["aggregated_data"]["total_rows"] > 0, "results json", out[:300])
rc, csv_out, err = cli("results", bid, "--format", "csv")
lines = csv_out.splitlines()
check(rc == 0 and lines[0].startswith("_instance_name,_instance_id,") and
      len(lines) - 1 == res["aggregated_data"]["total_rows"], "results csv has every row", (rc, lines[:2], err))
rc, out, err = cli("list", "--workflow", WORKFLOW, "--status", "completed")
check(rc == 0 and bid in out, "list with filters", out[:500] + err)

# a batch that ends failed gives its own exit code; a cancelled one too
bad = create_workflow("cli bad sql", "SELECT nosuchcolumn FROM impressions")
rc, out, err = cli("submit", bad, "--instances", INSTANCES[1], "--watch")
check(rc == 11, "submit --watch of a failing batch exits 11", (rc, out[-300:], err))
slow = create_workflow("cli slow", "SELECT count(*) AS n FROM impressions CROSS JOIN pg_sleep(5)")
rc, out, err = cli("submit", slow, "--instances", ",".join(INSTANCES[:3]))
cbid = out.strip()
rc, out, err = cli("cancel", cbid)
check(rc == 0, "cancel exits 0", (rc, out, err))
rc, out, err = cli("status", cbid)
check(rc == 12 and "cancelled" in out, "status of a cancelled batch exits 12", (rc, out[-300:]))
rc, out, err = cli("cancel", cbid)
check(rc == 3, "cancelling again is an API error (409 -> 3)", (rc, err))
rc, out, err = cli("status", "batch_00000000")
check(rc == 3 and err, "unknown batch is an API error", (rc, err))
done()
