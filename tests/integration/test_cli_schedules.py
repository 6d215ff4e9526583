"""`amcbatch schedule ...` against the real stack: every subcommand's --help, usage errors (2),
API errors with the API's message (3: a bad cron, an unknown schedule), create / list / show /
edit / pause / resume / preview / runs / run-now --watch / delete, piped output and --json
that parses; a slot fired with the test clock shows up in `runs` next to the manual run.
Needs the API started with schedule_test_clock (STACK_TEST_CLOCK=1) for the fired slot."""
import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone

from lib import INSTANCES, WORKFLOW, api, check, done, require_stack, wait_batch

require_stack()
CLI = os.path.join(os.environ.get("BUILD_DIR", "build"), "amcbatch")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SUBS = ("create", "list", "show", "edit", "pause", "resume", "run-now", "delete", "runs", "preview")


def cli(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([CLI] + list(args), capture_output=True, text=True, env=e, timeout=300)
    return p.returncode, p.stdout, p.stderr


def cli_json(*args):
    """Runs with --json; (rc, parsed stdout or None, stderr)."""
    rc, out, err = cli(*args, "--json")
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + out


def parse(s):
    return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


# ---- help and usage ------------------------------------------------------------------------
rc, out, err = cli("--help")
check(rc == 0 and re.search(r"^  schedule ", out, re.M), "amcbatch --help lists schedule", out)
rc, out, err = cli("schedule", "--help")
check(rc == 0 and all(s in out for s in SUBS) and "Exit status" in out, "schedule --help lists the subcommands",
      out + err)
rc2, out2, _ = cli("help", "schedule")
check(rc2 == 0 and out2 == out, "amcbatch help schedule", out2)
for sub in SUBS:
    rc, out, err = cli("schedule", sub, "--help")
    check(rc == 0 and ("amcbatch schedule " + sub) in out and "Exit status" in out and not err,
          "schedule %s --help" % sub, out + err)
rc, out, err = cli("schedule")
check(rc == 2 and "create" in err, "schedule without a subcommand is a usage error", (rc, err))
rc, out, err = cli("schedule", "frobnicate")
check(rc == 2 and "frobnicate" in err, "an unknown subcommand is a usage error", (rc, err))
for args, what in ((("create", WORKFLOW, "--cron", "0 6 * * *", "--instances", INSTANCES[0]), "--name"),
                   (("create", WORKFLOW, "--name", "x", "--instances", INSTANCES[0]), "--cron"),
                   (("create", WORKFLOW, "--name", "x", "--cron", "0 6 * * *"), "--instances"),
                   (("create", WORKFLOW, "--name", "x", "--cron", "0 6 * * *", "--all", "--instances",
                     INSTANCES[0]), "exclude"),
                   (("create", WORKFLOW, "--name", "x", "--cron", "0 6 * * *", "--all", "--overlap", "wait"),
                    "--overlap"),
                   (("create", WORKFLOW, "--name", "x", "--cron", "0 6 * * *", "--all", "--lag-days", "1"),
                    "--window"),
                   (("create", WORKFLOW, "--name", "x", "--cron", "0 6 * * *", "--all", "--window", "last_n_days:x"),
                    "window"),
                   (("show",), "missing schedule ID"),
                   (("show", "a", "b"), "unexpected"),
                   (("edit", "00000000-0000-4000-8000-000000000000"), "nothing to change"),
                   (("preview",), "--cron"),
                   (("preview", "--cron", "0 6 * * *", "--count", "0"), "--count"),
                   (("runs", "x", "--limit", "0"), "--limit"),
                   (("run-now", "x", "--interval", "0"), "--interval")):
    rc, out, err = cli("schedule", *args)
    check(rc == 2 and what in err and "(usage)" in err, "usage error (2): schedule %s" % " ".join(args[:1]) +
          " without/with bad " + what, (rc, err))

# ---- submit --window (what create's batch part reuses) -------------------------------------
rc, out, err = cli("submit", "--help")
check(rc == 0 and "--window" in out and "previous_week" in out, "submit --help has --window", out)
rc, out, err = cli("submit", WORKFLOW, "--instances", INSTANCES[0], "--window", "previous_week", "--lag-days", "0",
                   "--name", "cli window")
bid = out.strip()
check(rc == 0 and bid.startswith("batch_"), "submit --window previous_week starts a batch", (rc, out, err))
rc, st, err = cli_json("status", bid)
st = (st or {}).get("batch_status", st or {})
check(rc in (0, 10, 11) and (st.get("window") or {}).get("type") == "previous_week",
      "and the batch carries the window", st)

# ---- preview --------------------------------------------------------------------------------
rc, out, err = cli("schedule", "preview", "--cron", "0 6 * * MON-FRI", "--timezone", "UTC", "--count", "3")
lines = out.splitlines()
check(rc == 0 and "Monday to Friday" in lines[0] and len(lines) == 4 and all(re.match(
    r"^  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  \w{3} \d{4}-\d\d-\d\d \d\d:\d\d \(local\)$", x) for x in lines[1:]),
      "preview prints the reading and the next runs", out + err)
rc, pv, err = cli_json("schedule", "preview", "--cron", "30 2 * * *", "--timezone", "Europe/Berlin",
                       "--from", "2027-03-26T00:00:00Z", "--count", "4")
check(rc == 0 and pv and pv["next_runs"] == ["2027-03-26T01:30:00Z", "2027-03-27T01:30:00Z",
                                              "2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"],
      "preview --json: the Berlin spring-forward gap runs at its end", pv)
rc, out, err = cli("schedule", "preview", "--cron", "61 6 * * *")
check(rc == 3 and "61 is not in 0-59" in err and "(invalid_cron)" in err, "preview of a bad cron exits 3",
      (rc, err))
rc, out, err = cli("schedule", "preview", "--cron", "0 6 * * *", "--timezone", "Mars/Olympus")
check(rc == 3 and "(invalid_timezone)" in err, "preview of a bad zone exits 3", (rc, err))

# ---- create ---------------------------------------------------------------------------------
base = ("schedule", "create", WORKFLOW, "--name", "cli weekly", "--timezone", "Europe/Berlin",
        "--instances", "%s,amccn01uk1e" % INSTANCES[0], "--window", "previous_week", "--lag-days", "0")
rc, out, err = cli(*base, "--cron", "61 6 * * MON")
check(rc == 3 and "cron field 1 (minute): 61 is not in 0-59" in err and "(invalid_cron)" in err,
      "create with a bad cron exits 3 with the API's message", (rc, err))
rc, out, err = cli(*base, "--cron", "0 6 * * MON", "--timezone", "CEST")
check(rc == 3 and "(invalid_timezone)" in err, "create with a bad zone exits 3", (rc, err))
rc, out, err = cli(*base[:2], "00000000-0000-4000-8000-00000000abcd", *base[3:], "--cron", "0 6 * * MON")
check(rc == 3 and "(workflow_not_found)" in err, "create for an unknown workflow exits 3", (rc, err))
rc, out, err = cli(*base, "--cron", "0 6 * * MON", "--param", "minImpressions=1")
sid = out.strip()
check(rc == 0 and UUID.match(sid) and not err, "create prints the schedule id when piped", (rc, out, err))
rc, s2, err = cli_json(*base[:4], "cli paused", *base[5:], "--cron", "@daily", "--paused", "--overlap", "queue",
                       "--description", "made by the CLI test", "--on-failure", "min-success=0.75")
check(rc == 0 and s2 and UUID.match(s2["id"]) and s2["enabled"] is False and s2["overlap"] == "queue" and
      s2["next_runs"] == [] and s2["description"] == "made by the CLI test" and s2["cron_description"] ==
      "every day at 00:00, Europe/Berlin", "create --paused --overlap queue --json prints the schedule", s2)
check(s2 and s2.get("on_failure") == {"min_success_ratio": 0.75}, "create --on-failure min-success=0.75",
      s2 and s2.get("on_failure"))
rc, out, err = cli(*base, "--cron", "0 6 * * MON", "--on-failure", "sometimes")
check(rc == 2, "a bad --on-failure is a usage error", (rc, err))
sid2 = s2["id"] if s2 else None
rc, s3, err = cli_json("schedule", "edit", sid2, "--on-failure", "fail-fast")
check(rc == 0 and s3 and s3.get("on_failure") == "fail_fast", "edit --on-failure fail-fast", (rc, s3, err))

# ---- list and show --------------------------------------------------------------------------
rc, out, err = cli("schedule", "list")
row = [x for x in out.splitlines() if x.startswith(sid)]
check(rc == 0 and out.startswith("ID ") and row and "every Monday at 06:00, Europe/Berlin" in row[0] and
      row[0].rstrip().endswith("yes") and "\x1b" not in out and re.search(r"\d+ shown of \d+ schedules?\n$", out),
      "list: a table with the reading, next run and enabled", out + err)
check(any(x.startswith(sid2) and x.rstrip().endswith("no") for x in out.splitlines()), "list: the paused one",
      out)
rc, lst, err = cli_json("schedule", "list", "--limit", "200")
check(rc == 0 and lst and {sid, sid2} <= {x["id"] for x in lst["schedules"]} and lst["total"] >= 2,
      "list --json", lst)
rc, out, err = cli("schedule", "show", sid)
check(rc == 0 and ("Schedule    " + sid) in out and "every Monday at 06:00, Europe/Berlin" in out and
      "previous_week, lag 0 days" in out and "20000000-0000-4000-8000-000000000005" in out and
      len(re.findall(r"Mon \d{4}-\d\d-\d\d \d\d:\d\d \(local\)", out)) == 5, "show: details and 5 next runs",
      out + err)
rc, s, err = cli_json("schedule", "show", sid)
check(rc == 0 and s and s["id"] == sid and len(s["next_runs"]) == 5 and s["parameters"] == {"minImpressions": 1}
      and s["instance_ids"] == [INSTANCES[0], "20000000-0000-4000-8000-000000000005"],
      "show --json: the API's schedule (the AMC id resolved to the instance's UUID)", s)
rc, out, err = cli("schedule", "show", "00000000-0000-4000-8000-000000000000")
check(rc == 3 and "(schedule_not_found)" in err, "show of an unknown schedule exits 3", (rc, err))

# ---- edit -----------------------------------------------------------------------------------
rc, out, err = cli("schedule", "edit", sid, "--cron", "0 7 * * TUE", "--timezone", "America/New_York",
                   "--param", "extra=x", "--override", "amccn01uk1e:minImpressions=3")
check(rc == 0 and out.strip() == sid, "edit prints the id when piped", (rc, out, err))
rc, s, err = cli_json("schedule", "show", sid)
check(rc == 0 and s["cron"] == "0 7 * * TUE" and s["timezone"] == "America/New_York" and
      parse(s["next_run_at"]).weekday() == 1 and s["name"] == "cli weekly" and
      s["window"]["type"] == "previous_week", "edit --cron --timezone: new next run, the rest kept", s)
check(s["parameters"] == {"minImpressions": 1, "extra": "x"} and
      s["instance_parameters"] == {"20000000-0000-4000-8000-000000000005": {"minImpressions": 3}},
      "edit --param merges onto the stored parameters; --override sets one instance's", s)
rc, out, err = cli("schedule", "edit", sid, "--cron", "every tuesday")
check(rc == 3 and "(invalid_cron)" in err, "edit with a bad cron exits 3", (rc, err))
rc, s, err = cli_json("schedule", "show", sid)
check(s and s["cron"] == "0 7 * * TUE", "and changes nothing", s)
rc, s, err = cli_json("schedule", "edit", sid, "--instances", INSTANCES[0], "--name", "cli weekly 2",
                      "--overlap", "queue")
check(rc == 0 and s and s["instance_ids"] == [INSTANCES[0]] and s["instance_parameters"] == {} and
      s["name"] == "cli weekly 2" and s["overlap"] == "queue" and s["parameters"]["extra"] == "x",
      "edit --instances drops the overrides of instances taken out; --json prints the schedule", s)
rc, s, err = cli_json("schedule", "edit", sid, "--no-window", "--param", "startDate=2026-01-01",
                      "--param", "endDate=2026-01-07")
check(rc == 0 and s and s["window"] is None and s["parameters"]["startDate"] == "2026-01-01",
      "edit --no-window with explicit dates", s)
rc, s, err = cli_json("schedule", "edit", sid, "--window", "last_n_days:7", "--params-json",
                      '{"minImpressions": 2}')
check(rc == 0 and s and s["window"] == {"type": "last_n_days", "n": 7, "lag_days": 2} and
      s["parameters"] == {"minImpressions": 2}, "edit --window last_n_days:7 --params-json replaces them", s)
rc, out, err = cli("schedule", "edit", "00000000-0000-4000-8000-000000000000", "--name", "x")
check(rc == 3 and "(schedule_not_found)" in err, "edit of an unknown schedule exits 3", (rc, err))

# ---- pause and resume -----------------------------------------------------------------------
rc, s, err = cli_json("schedule", "pause", sid)
check(rc == 0 and s and s["enabled"] is False and s["next_run_at"] is None, "pause --json", s)
rc, out, err = cli("schedule", "pause", sid)
check(rc == 0 and out.strip() == sid, "pause again is fine", (rc, out, err))
rc, out, err = cli("schedule", "list")
check(any(x.startswith(sid) and x.rstrip().endswith("no") for x in out.splitlines()), "list shows it paused", out)
rc, s, err = cli_json("schedule", "resume", sid)
check(rc == 0 and s and s["enabled"] is True and parse(s["next_run_at"]) > datetime.now(timezone.utc),
      "resume --json: the next slot from now", s)
rc, out, err = cli("schedule", "resume", "00000000-0000-4000-8000-000000000000")
check(rc == 3 and "(schedule_not_found)" in err, "resume of an unknown schedule exits 3", (rc, err))

# ---- run-now and runs -----------------------------------------------------------------------
rc, out, err = cli("schedule", "run-now", sid, "--watch", "--interval", "0.5")
now_bid = out.split()[0] if out.split() else ""
check(rc == 0 and now_bid.startswith("batch_") and "completed" in out and "\x1b" not in out,
      "run-now --watch exits 0 when the batch completed", (rc, out[-500:], err))
rc, b, err = cli_json("schedule", "run-now", sid2)
check(rc == 0 and b and b["batch_id"].startswith("batch_") and b["total_instances"] == 2,
      "run-now --json of a paused schedule prints the batch", b)
if b:
    wait_batch(b["batch_id"], 120)
rc, out, err = cli("schedule", "run-now", "00000000-0000-4000-8000-000000000000")
check(rc == 3 and "(schedule_not_found)" in err, "run-now of an unknown schedule exits 3", (rc, err))

# a slot of the cron, fired with the test clock
rc, s, err = cli_json("schedule", "show", sid)
slot = parse(s["next_run_at"])
st, tick, raw = api("POST", "/admin/schedules/tick", {"now": (slot + timedelta(seconds=5)).strftime(
    "%Y-%m-%dT%H:%M:%SZ")})
fired = [f for f in (tick or {}).get("fired", []) if f["schedule_id"] == sid]
check(st == 200 and fired and fired[0]["outcome"] == "started", "(a slot fired with the test clock)", raw[:300])
if fired:
    wait_batch(fired[0]["batch_id"], 120)
rc, out, err = cli("schedule", "runs", sid)
lines = out.splitlines()
check(rc == 0 and lines[0].startswith("SLOT") and len(lines) == 4 and " schedule " in lines[1] and
      " manual " in lines[2] and now_bid in lines[2] and "completed" in lines[2] and "1/1" in lines[2] and
      lines[3] == "2 shown of 2 runs", "runs: a table, newest slot first", out + err)
rc, rr, err = cli_json("schedule", "runs", sid, "--limit", "1")
check(rc == 0 and rr and rr["total"] == 2 and len(rr["runs"]) == 1 and rr["runs"][0]["trigger"] == "schedule"
      and rr["runs"][0]["outcome"] == "started", "runs --json --limit 1", rr)
rc, out, err = cli("schedule", "list")
row = [x for x in out.splitlines() if x.startswith(sid)]
check(row and "completed" in row[0], "list shows the last run's status", out)
rc, s, err = cli_json("schedule", "show", sid)
check(s and s["last_run"] and s["last_run"]["batch_id"] == (fired[0]["batch_id"] if fired else None),
      "show --json names the last run", s and s["last_run"])

# ---- delete ---------------------------------------------------------------------------------
rc, out, err = cli("schedule", "delete", sid)
check(rc == 0 and out.strip() == "Schedule %s deleted" % sid, "delete", (rc, out, err))
rc, d, err = cli_json("schedule", "delete", sid2)
check(rc == 0 and d and d["deleted"] == sid2, "delete --json", d)
rc, out, err = cli("schedule", "show", sid)
check(rc == 3 and "(schedule_not_found)" in err, "a deleted schedule is gone", (rc, err))
rc, out, err = cli("schedule", "delete", sid)
check(rc == 3 and "(schedule_not_found)" in err, "delete again exits 3", (rc, err))
rc, out, err = cli("schedule", "runs", sid)
check(rc == 3, "runs of a deleted schedule exits 3", (rc, err))
rc, out, err = cli("schedule", "list", env={"AMCBATCH_URL": "http://127.0.0.1:1"})
check(rc == 4, "an unreachable server exits 4", (rc, err))
done()
