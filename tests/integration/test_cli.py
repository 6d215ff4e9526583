"""The amcbatch CLI against the real stack: every subcommand, piped output and exit codes
(completed 0, partial 10, failed 11, cancelled 12), and `export` to a file compared with
`results --format csv` and the JSON results, values with commas, quotes and newlines included."""
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile

from lib import INSTANCES, WORKFLOW, api, check, create_workflow, done, require_stack, same_csv_value

require_stack()
CLI = os.path.join(os.environ.get("BUILD_DIR", "build"), "amcbatch")


def cli(*args, env=None, binary=False):
    e = dict(os.environ)
    e.update(env or {})
    # binary: stdout as bytes, so CRLF line ends are not folded by universal newlines
    p = subprocess.run([CLI] + list(args), capture_output=True, text=not binary, env=e, timeout=300)
    return p.returncode, p.stdout, p.stderr if not binary else p.stderr.decode()


rc, out, err = cli("--help")
check(rc == 0 and "submit" in out and "status" in out, "top-level --help", out + err)
check(rc == 0 and all(c in out for c in ("130", "10 ", "11 ", "12 ", "export")),
      "top-level --help documents the exit codes and export", out)
for sub in ("submit", "status", "results", "export", "cancel", "retry", "list", "instances", "workflows"):
    rc, out, err = cli(sub, "--help")
    check(rc == 0 and ("amcbatch " + sub) in out and "Exit status" in out and not err,
          "%s --help" % sub, out + err)
    rc2, out2, _ = cli("help", sub)
    check(rc2 == 0 and out2 == out, "amcbatch help %s" % sub, out2)
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
check("\r" not in out and "\x1b" not in out and "completed" in out, "piped --watch prints plain lines", out[-500:])
rc, out, err = cli("status", bid, "--json")
st = json.loads(out) if rc == 0 else {}
st = st.get("batch_status", st)
check(rc == 0 and st.get("status") == "completed" and st.get("total_instances") == 3, "status --json", out[:500])
rc, out, err = cli("status", bid)
check(rc == 0 and "\x1b" not in out and "Japan Toys" in out and "ERROR" in out,
      "piped status keeps every column, no escape sequences", out)
rc, out, err = cli("results", bid)
check(rc == 0 and "_instance_name" in out and "Japan Toys" in out and "\x1b" not in out,
      "results table", out[:500] + err)
rc, out, err = cli("results", bid, "--format", "json")
res = json.loads(out) if rc == 0 else {}
res = res.get("batch_results", res)
check(rc == 0 and res["aggregated_data"]["total_rows"] > 0, "results json", out[:300])
rc, csv_out, err = cli("results", bid, "--format", "csv")
lines = csv_out.splitlines()
check(rc == 0 and lines[0].startswith("_instance_name,_instance_id,") and
      len(lines) - 1 == res["aggregated_data"]["total_rows"], "results csv has every row", (rc, lines[:2], err))
rc, out, err = cli("list", "--workflow", WORKFLOW, "--status", "completed")
check(rc == 0 and bid in out and "\x1b" not in out, "list with filters", out[:500] + err)

# a batch that ends failed gives its own exit code; a cancelled one too
bad = create_workflow("cli bad sql", "SELECT nosuchcolumn FROM impressions")
rc, out, err = cli("submit", bad, "--instances", INSTANCES[1], "--watch")
check(rc == 11, "submit --watch of a failing batch exits 11", (rc, out[-300:], err))

# partial: the override makes the SQL fail on one instance only
part = create_workflow("cli partial", "SELECT campaign, SUM(clicks) AS clicks FROM impressions "
                       "WHERE impressions >= {{minImpressions}} GROUP BY campaign", {"minImpressions": 0})
rc, out, err = cli("submit", part, "--instances", ",".join(INSTANCES[:2]), "--watch", "--interval", "0.5",
                   "--override", "%s:minImpressions=not a number" % INSTANCES[1])
check(rc == 10 and "partial" in out and "\x1b" not in out, "submit --watch of a partial batch exits 10",
      (rc, out[-500:], err))
pbid = out.split()[0] if out else ""
rc, out, err = cli("status", pbid)
check(rc == 10 and "failed" in out and "ERROR" in out, "status of a partial batch exits 10, shows the error",
      (rc, out[-500:]))
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

# Idempotency-Key: the CLI sends one; if the server honours keys (checked with a raw
# request pair first), two submits with the same key give one batch
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--idempotency-key", "has a blank")
check(rc == 2, "a bad --idempotency-key is a usage error", (rc, err))
# the CLI's length limit is the API's: 201 characters never leave the CLI, 200 are taken
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--idempotency-key", "k" * 201)
check(rc == 2 and "1-200" in err, "a 201-character --idempotency-key is a usage error", (rc, err))
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--param", "startDate=2025-01-01",
                   "--param", "endDate=2025-01-02", "--idempotency-key", "k" + os.urandom(8).hex() + "k" * 183)
check(rc == 0, "the API takes the longest key the CLI allows (200 characters)", (rc, err))
key = "cli-test-" + os.urandom(8).hex()
body = {"instance_ids": [INSTANCES[0]], "parameters": {"startDate": "2025-01-01", "endDate": "2025-01-02"}}
_, b1, _ = api("POST", "/workflows/%s/batch-execute" % WORKFLOW, body, headers={"Idempotency-Key": key + "-raw"})
_, b2, _ = api("POST", "/workflows/%s/batch-execute" % WORKFLOW, body, headers={"Idempotency-Key": key + "-raw"})
honoured = bool(b1 and b2 and b1.get("batch") and b2.get("batch") and
                b1["batch"]["batch_id"] == b2["batch"]["batch_id"])
args = ("submit", WORKFLOW, "--instances", INSTANCES[0], "--param", "startDate=2025-01-01",
        "--param", "endDate=2025-01-02", "--idempotency-key", key)
rc1, out1, err1 = cli(*args)
rc2, out2, err2 = cli(*args)
if honoured:
    check(rc1 == 0 and rc2 == 0 and out1.strip() == out2.strip(), "same --idempotency-key, same batch",
          (out1, out2, err1, err2))
else:
    print("ok - # SKIP the server ignores Idempotency-Key (two batches: %s %s)" % (out1.strip(), out2.strip()))

# export: a batch whose values hold commas, quotes (campaign names) and newlines (note)
tricky = create_workflow("cli export", "SELECT campaign, 'say \"hi\", ok' || chr(10) || 'line2' AS note, "
                         "SUM(clicks) AS clicks, SUM(spend) AS spend FROM impressions GROUP BY campaign "
                         "ORDER BY campaign")
rc, out, err = cli("submit", tricky, "--instances", ",".join(INSTANCES[:3]), "--watch", "--interval", "0.5")
ebid = out.split()[0] if out else ""
check(rc == 0, "export batch completes", (rc, out[-300:], err))
rc, out, err = cli("results", ebid, "--format", "json")
res = json.loads(out) if rc == 0 else {"aggregated_data": {"columns": [], "rows": [], "total_rows": -1}}
agg = res["aggregated_data"]
names = [c["name"] if isinstance(c, dict) else c for c in agg["columns"]]
check(names == ["_instance_name", "_instance_id", "campaign", "note", "clicks", "spend"] and
      agg["total_rows"] == len(agg["rows"]) > 0, "JSON results of the export batch", (names, agg["total_rows"]))
check(any("," in r["campaign"] for r in agg["rows"]) and any('"' in r["campaign"] for r in agg["rows"]) and
      all(r["note"] == 'say "hi", ok\nline2' for r in agg["rows"]), "values hold commas, quotes, newlines",
      agg["rows"][:3])


def parse(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def matches_json(rows):
    if not rows or rows[0] != names or len(rows) - 1 != len(agg["rows"]):
        return False
    return all(same_csv_value(jr.get(n), cell) for jr, row in zip(agg["rows"], rows[1:]) for n, cell in zip(names, row))


tmp = tempfile.mkdtemp(prefix="cli-export-")
try:
    target = os.path.join(tmp, "out.csv")
    rc, out, err = cli("export", ebid, "-o", target)
    check(rc == 0 and os.path.exists(target) and out.startswith("%d rows written to %s" % (len(agg["rows"]), target)),
          "export writes the file and prints the row count", (rc, out, err))
    with open(target, "rb") as f:
        exported = f.read()
    check(exported.count(b"\r\n") == len(agg["rows"]) + 1 and b"ok\nline2" in exported,
          "export: CRLF record ends, newline kept inside the quoted field", exported[:300])
    rows = parse(exported.decode())
    check(matches_json(rows), "export matches the JSON results exactly", rows[:3])
    streamed = "streamed CSV" in out
    rc, csv_bytes, err = cli("results", ebid, "--format", "csv", binary=True)
    csv_out = csv_bytes.decode()
    check(rc == 0 and matches_json(parse(csv_out)), "results --format csv matches the JSON results",
          csv_out[:300])
    if not streamed:
        check(exported == csv_bytes, "export (no CSV endpoint) equals results --format csv byte for byte")
    else:
        check(parse(csv_out)[0] == rows[0] and len(parse(csv_out)) == len(rows),
              "streamed export and results --format csv: same header and row count")
    paged = os.path.join(tmp, "paged.csv")
    rc, out, err = cli("export", ebid, "-o", paged, "--json-pages")
    with open(paged, newline="") as f:
        paged_text = f.read()
    check(rc == 0 and "from JSON pages" in out and paged_text == csv_out,
          "export --json-pages equals results --format csv byte for byte", (rc, out, err))
    check(matches_json(parse(paged_text)), "export --json-pages matches the JSON results")
    rc, out, err = cli("export", ebid, "-o", "-")
    check(rc == 0 and parse(out) == rows and "rows written to standard output" in err,
          "export -o - writes the CSV to stdout, the count to stderr", (rc, out[:200], err))
    mask = os.umask(0)
    os.umask(mask)
    mode = os.stat(target).st_mode & 0o777
    check(mode == 0o666 & ~mask, "exported file has the umask's mode, not mkstemp's 0600", oct(mode))
    missing = os.path.join(tmp, "missing.csv")
    rc, out, err = cli("export", "batch_00000000", "-o", missing)
    check(rc == 3 and not os.path.exists(missing), "export of an unknown batch exits 3, writes nothing", (rc, err))
    rc, out, err = cli("export", ebid, "-o", os.path.join(tmp, "no", "such", "dir.csv"))
    check(rc == 1 and "cannot" in err, "export into a missing directory exits 1", (rc, err))
    rc, out, err = cli("export", ebid)
    check(rc == 2 and "-o" in err, "export without -o is a usage error", (rc, err))
    check(sorted(os.listdir(tmp)) == ["out.csv", "paged.csv"], "no temporary files left behind", os.listdir(tmp))
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# a relative date window: --window/--lag-days, resolved by the server, shown by status
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--window", "last_n_days:7", "--lag-days", "0")
bid = out.strip()
check(rc == 0 and bid.startswith("batch_"), "submit --window last_n_days:7 --lag-days 0", (rc, out, err))
rc, out, err = cli("status", bid, "--watch", "--interval", "0.5")
rc, out, err = cli("status", bid)
check(rc == 0 and "Window     last_n_days 7, lag 0 days" in out and "\u2013" in out,
      "status shows the window and each execution's days", out + err)
rc, out, err = cli("status", bid, "--json")
tw = json.loads(out)["executions"][0]["time_window"] if rc == 0 else None
check(tw and tw["start"].endswith("T00:00:00") and tw["end"].endswith("T00:00:00"),
      "status --json carries the execution's time_window", out[:400])
for bad in (("--window", "last week"), ("--window", "last_n_days:x"), ("--lag-days", "2")):
    rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], *bad)
    check(rc == 2 and err, "submit %s is a usage error" % " ".join(bad), (rc, err))
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--window", "fortnight")
check(rc != 0 and "window" in err, "an unknown window type: the server's error", (rc, err))

# a near miss of an instance name is a usage error that names the instance meant
rc, out, err = cli("submit", WORKFLOW, "--instances", "Japan Toy")
check(rc == 2 and "did you mean 'Japan Toys'?" in err and not out, "a near-miss name: did you mean", (rc, err))
rc, out, err = cli("submit", WORKFLOW, "--instances", "Nowhere At All")
check(rc == 2 and "did you mean" not in err and "no instance matches" in err, "a far name: no guess", (rc, err))
# --all names the sandbox instances it takes, on stderr (the seed's 'Sandbox (Northwind)');
# the unknown window makes the server refuse the batch, so nothing runs
rc, out, err = cli("submit", WORKFLOW, "--all", "--window", "fortnight")
check(rc != 0 and "warning: --all includes" in err and "'Sandbox (Northwind)'" in err,
      "--all warns about sandbox instances", (rc, err))
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--window", "fortnight")
check("sandbox" not in err, "no sandbox warning without --all", err)
done()
