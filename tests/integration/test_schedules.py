"""Schedules (issue 10) on the real stack: every /schedules endpoint's shapes and errors, owner
isolation, cron evaluated in a time zone across DST changes (Europe/Berlin, America/New_York),
slots stepped with the test clock (POST /admin/schedules/tick {"now"}): one batch per slot, the
relative window resolved at the slot, missed slots run once and recorded, overlap skip and
queue, a revoked grant refusing only its instance, pause/resume/run-now/delete; then exactly one
batch per slot with two API processes racing for the same slots, and with one of them killed at
a real minute boundary."""
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import lib
from lib import (PrivateApi, api, check, create_workflow, done, fleet_account, psql, require_stack,
                 sim, sim_put, wait_batch, wait_until)

require_stack()

TAG = uuid.uuid4().hex[:6]
SQL = "SELECT campaign, SUM(impressions) AS impressions FROM impressions GROUP BY campaign"
acct, insts = fleet_account("Sched", 4)
IDS = [u for u, _ in insts]
AMC = [a for _, a in insts]
WF = create_workflow("sched " + TAG, SQL)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s):
    return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def stored_count():
    return int(psql("SELECT count(*) FROM schedules")[0][0])


def create(body, token=None):
    return api("POST", "/schedules", body, token=token)


def tick(now, url=None):
    """One tick of the trigger as of `now` (a datetime); returns the report."""
    st, body, raw = call(url or lib.URL, "POST", "/admin/schedules/tick", {"now": iso(now)})
    if st != 200:
        raise RuntimeError("tick failed: %s %s" % (st, raw[:300]))
    return body


def call(url, method, path, body=None, token=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Bearer " + (token or lib.TOKEN))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            st, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, payload = e.code, e.read()
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        return 0, None, str(e).encode()
    try:
        return st, json.loads(payload), payload
    except ValueError:
        return st, None, payload


def fired_for(report, sid):
    return [f for f in report["fired"] if f["schedule_id"] == sid]


def get(sid, token=None):
    st, body, raw = api("GET", "/schedules/" + sid, token=token)
    return body["schedule"] if st == 200 else None


def runs(sid):
    st, body, raw = api("GET", "/schedules/%s/runs?limit=500" % sid)
    return body["runs"] if st == 200 else None


def slot_batches(sid):
    return psql("SELECT to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                " count(*) FROM batch_executions WHERE schedule_id = :'p1' GROUP BY 1 ORDER BY 1", sid)


BASE = {"name": "weekly " + TAG, "workflow_id": WF, "instance_ids": IDS[:2], "cron": "0 6 * * MON",
        "timezone": "Europe/Berlin", "window": {"type": "previous_week", "lag_days": 0}}

# ---- refusals store nothing ------------------------------------------------------------------
before = stored_count()
for patch, status, code, field in (
        ({"name": None}, 400, "missing_field", "name"),
        ({"cron": None}, 400, "missing_field", "cron"),
        ({"cron": 5}, 400, "invalid_type", "cron"),
        ({"cron": "0 6 * *"}, 422, "invalid_cron", "cron"),
        ({"cron": "61 6 * * *"}, 422, "invalid_cron", "cron"),
        ({"cron": "0 0 30 2 *"}, 422, "invalid_cron", "cron"),
        ({"cron": "@reboot"}, 422, "invalid_cron", "cron"),
        ({"cron": "0 6 * * MON" + " " * 200}, 400, "invalid_value", "cron"),
        ({"timezone": "Mars/Olympus"}, 422, "invalid_timezone", "timezone"),
        ({"timezone": "CEST"}, 422, "invalid_timezone", "timezone"),
        ({"enabled": "yes"}, 400, "invalid_type", "enabled"),
        ({"overlap": "wait"}, 422, "invalid_value", "overlap"),
        ({"workflow_id": "nope"}, 422, "invalid_value", "workflow_id"),
        ({"workflow_id": str(uuid.uuid4())}, 404, "workflow_not_found", "workflow_id"),
        ({"instance_ids": []}, 400, None, "instance_ids"),
        ({"instance_ids": [str(uuid.uuid4())]}, 404, "instance_not_found", "instance_ids"),
        ({"window": {"type": "fortnight"}}, 422, None, "window.type"),
        ({"on_failure": "stop"}, 422, "invalid_on_failure", "on_failure"),
        ({"on_failure": {"min_success_ratio": 2}}, 422, "invalid_on_failure", "on_failure"),
        ({"every": "monday"}, 400, "unknown_field", None)):
    body = dict(BASE, **patch)
    body = {k: v for k, v in body.items() if not (v is None and k in patch)}
    st, b, raw = create(body)
    ok = st == status and (code is None or b["error"]["code"] == code) and \
        (field is None or b["error"].get("field") == field)
    check(ok, "POST /schedules %s -> %d %s" % (json.dumps(patch)[:60], status, code or ""), raw[:300])
st, b, raw = api("POST", "/schedules", raw=b"{not json")
check(st == 400 and b["error"]["code"] == "invalid_json", "malformed JSON -> 400", raw[:200])
st, b, raw = api("POST", "/schedules", raw=b"[1]")
check(st == 400, "a JSON array -> 400", raw[:200])
check(stored_count() == before, "no refused body stored a schedule")

# ---- create, show, list ----------------------------------------------------------------------
st, b, raw = create(BASE)
check(st == 201 and b["success"], "POST /schedules -> 201", raw[:300])
S = b["schedule"]
sid = S["id"]
for k in ("id", "name", "workflow_id", "workflow_name", "instance_ids", "window", "cron", "timezone",
          "enabled", "overlap", "next_run_at", "next_runs", "cron_description", "created_at",
          "last_run"):
    check(k in S, "the schedule has %s" % k, sorted(S))
check(S["cron_description"] == "every Monday at 06:00, Europe/Berlin", "a human reading",
      S["cron_description"])
check(S["enabled"] is True and S["overlap"] == "skip" and S["last_run"] is None, "defaults", S)
nxt = parse(S["next_run_at"])
check(nxt > datetime.now(timezone.utc) and nxt.weekday() == 0 and nxt.hour in (4, 5) and nxt.minute == 0,
      "next_run_at is a Monday 06:00 in Berlin (04:00 or 05:00 UTC)", S["next_run_at"])
check(len(S["next_runs"]) == 5 and S["next_runs"][0] == S["next_run_at"] and
      all(parse(b_) - parse(a_) in (timedelta(days=7), timedelta(days=7, hours=1), timedelta(days=7, hours=-1))
          for a_, b_ in zip(S["next_runs"], S["next_runs"][1:])), "five weekly next runs", S["next_runs"])
check(get(sid)["id"] == sid, "GET /schedules/{id}")
st, b, raw = api("GET", "/schedules")
check(st == 200 and any(x["id"] == sid for x in b["schedules"]) and b["total"] >= 1,
      "GET /schedules lists it", raw[:300])
st, b, raw = api("GET", "/schedules/" + str(uuid.uuid4()))
check(st == 404 and b["error"]["code"] == "schedule_not_found", "an unknown schedule -> 404", raw[:200])
st, b, raw = api("GET", "/schedules/not-a-uuid")
check(st == 404, "a malformed id -> 404", raw[:200])
st, b, raw = api("GET", "/schedules?limit=0")
check(st == 400, "limit=0 -> 400", raw[:200])

# ---- owner isolation -------------------------------------------------------------------------
st, b, raw = api("POST", "/admin/users", {"email": "sched-%s@example.com" % TAG})
member, mtok = b["user"]["id"], b["token"]
for u in IDS[2:4]:
    api("POST", "/admin/instances/%s/access" % u, {"user_id": member})
for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume"),
                     ("POST", "/run-now"), ("GET", "/runs")):
    st, b, raw = api(method, "/schedules/%s%s" % (sid, path), {"name": "x"} if method == "PATCH" else None,
                     token=mtok)
    check(st == 404, "another user's schedule: %s %s -> 404" % (method, path or "/"), raw[:200])
st, b, raw = api("GET", "/schedules", token=mtok)
check(st == 200 and all(x["id"] != sid for x in b["schedules"]), "a member's list leaves it out", raw[:200])
st, b, raw = create(dict(BASE, instance_ids=IDS[:1]), token=mtok)
check(st in (403, 404), "a member cannot schedule an instance not granted to them", raw[:200])
mwf = create_workflow("sched member " + TAG, SQL, token=mtok)
st, b, raw = create(dict(BASE, workflow_id=WF, instance_ids=IDS[2:4]), token=mtok)
check(st == 404 and b["error"]["code"] == "workflow_not_found", "nor another user's workflow", raw[:200])

# ---- preview: DST in Berlin and New York ----------------------------------------------------
def preview(cron, zone, frm, count=4):
    q = urllib.parse.urlencode({"cron": cron, "timezone": zone, "from": frm, "count": count})
    st, b, raw = api("GET", "/schedules/preview?" + q)
    return b["next_runs"] if st == 200 else (st, raw[:200])


import urllib.parse  # noqa: E402
cases = (
    ("30 2 * * *", "Europe/Berlin", "2027-03-26T00:00:00Z",
     ["2027-03-26T01:30:00Z", "2027-03-27T01:30:00Z", "2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"],
     "Berlin spring forward: 02:30 runs at 03:00 CEST"),
    ("30 2 * * *", "Europe/Berlin", "2027-10-30T00:00:00Z",
     ["2027-10-30T00:30:00Z", "2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z", "2027-11-02T01:30:00Z"],
     "Berlin fall back: 02:30 runs once, at its first occurrence"),
    ("0 * * * *", "Europe/Berlin", "2027-10-30T23:30:00Z",
     ["2027-10-31T00:00:00Z", "2027-10-31T02:00:00Z", "2027-10-31T03:00:00Z", "2027-10-31T04:00:00Z"],
     "Berlin fall back, hourly: 02:00 once (not again when 02:00 repeats)"),
    ("0 2 * * *", "America/New_York", "2027-03-13T00:00:00Z",
     ["2027-03-13T07:00:00Z", "2027-03-14T07:00:00Z", "2027-03-15T06:00:00Z", "2027-03-16T06:00:00Z"],
     "New York spring forward"),
    ("30 1 * * *", "America/New_York", "2027-11-06T00:00:00Z",
     ["2027-11-06T05:30:00Z", "2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z", "2027-11-09T06:30:00Z"],
     "New York fall back: 01:30 once"),
    ("0 6 31 * *", "UTC", "2027-01-01T00:00:00Z",
     ["2027-01-31T06:00:00Z", "2027-03-31T06:00:00Z", "2027-05-31T06:00:00Z", "2027-07-31T06:00:00Z"],
     "month ends: the 31st skips shorter months"),
)
for cron, zone, frm, want, name in cases:
    got = preview(cron, zone, frm)
    check(got == want, "preview %s" % name, got)
st, b, raw = api("GET", "/schedules/preview?cron=" + urllib.parse.quote("0 6 * * MON-FRI") + "&timezone=UTC")
check(st == 200 and "Monday to Friday" in b["cron_description"], "preview describes weekdays", raw[:200])
for q, code in (("cron=bad", "invalid_cron"), ("cron=0+6+*+*+*&timezone=Nowhere", "invalid_timezone"),
                ("timezone=UTC", "missing_parameter"), ("cron=0+6+*+*+*&from=yesterday", "invalid_parameter")):
    st, b, raw = api("GET", "/schedules/preview?" + q)
    check(st in (400, 422) and b["error"]["code"] == code, "preview %s -> %s" % (q, code), raw[:200])

# ---- the test clock is admin-only and needs the setting -------------------------------------
st, b, raw = api("POST", "/admin/schedules/tick", {"now": "2027-01-01T00:00:00Z"}, token=mtok)
check(st == 403, "a member cannot tick", raw[:200])
st, b, raw = api("POST", "/admin/schedules/tick", {"now": "tomorrow"})
check(st == 400 and b["error"]["field"] == "now", "a bad now -> 400", raw[:200])

# ---- slots with the test clock -------------------------------------------------------------
# skipped slots tell the owner's webhooks (schedule.run_skipped); nothing listens on port 9: the
# events are what is checked, the failing deliveries are deleted with the webhook at the end
st, b, raw = api("POST", "/webhooks", {"url": "http://127.0.0.1:9/skips", "events": ["schedule.run_skipped"]})
check(st == 201, "a webhook for skipped runs", raw[:200])
hook = b["webhook"]["id"] if st == 201 else None


def skip_events(sid):
    return [json.loads(r[0]) for r in psql("SELECT data::text FROM webhook_events WHERE type = 'schedule.run_skipped'"
                                            " AND data->>'schedule_id' = :'p1' ORDER BY created_at", sid)]


# a daily 06:00 UTC schedule: the slot fires once, the window is the week before the slot
st, b, raw = create(dict(BASE, name="daily " + TAG, cron="0 6 * * *", timezone="UTC",
                         on_failure={"min_success_ratio": 0.5}))
daily = b["schedule"]["id"]
check(b["schedule"]["on_failure"] == {"min_success_ratio": 0.5}, "the schedule keeps its failure policy",
      b["schedule"].get("on_failure"))
check(S["on_failure"] == "continue", "the default policy is continue", S.get("on_failure"))
slot = parse(b["schedule"]["next_run_at"])
rep = tick(slot - timedelta(seconds=1))
check(fired_for(rep, daily) == [], "before the slot nothing fires", rep)
rep = tick(slot + timedelta(seconds=20))
f = fired_for(rep, daily)
check(len(f) == 1 and f[0]["outcome"] == "started" and f[0]["batch_id"].startswith("batch_") and
      f[0]["missed"] == 0, "the due slot starts one batch", rep)
bid = f[0]["batch_id"] if f else None
rep = tick(slot + timedelta(seconds=30))
check(fired_for(rep, daily) == [], "a second tick in the same slot fires nothing", rep)
check(parse(get(daily)["next_run_at"]) == slot + timedelta(days=1), "next_run_at moved a day on")
row = psql("SELECT b.name, to_char(b.scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
           " b.schedule_id, b.user_id FROM batch_executions b WHERE b.batch_id = :'p1'", bid)
check(row and row[0][1] == iso(slot) and row[0][2] == daily and row[0][0].startswith("daily " + TAG),
      "the batch names its schedule and slot", row)
pol = psql("SELECT on_failure, min_success_ratio FROM batch_executions WHERE batch_id = :'p1'", bid)
check(pol == [["min_success_ratio", "0.5000"]], "the run's batch has the schedule's policy", pol)
final = wait_batch(bid, 120)
check(final and final["status"] == "completed", "the scheduled batch completes", final and final["status"])
monday = slot.date() - timedelta(days=slot.weekday())
want_start = (monday - timedelta(days=7)).isoformat()
wins = [e.get("time_window") for e in (final or {}).get("executions", [])]
check(wins and all(w and w["start"].startswith(want_start) for w in wins),
      "previous_week is the week before the slot (from %s)" % want_start, wins)
r = runs(daily)
check(r and r[0]["outcome"] == "started" and r[0]["batch_id"] == bid and r[0]["trigger"] == "schedule" and
      r[0]["status"] == "completed" and r[0]["total_instances"] == 2, "GET runs shows the run", r)

# three days later: the latest slot runs once, the two before it are recorded as missed
later = slot + timedelta(days=3, hours=2)
rep = tick(later)
f = fired_for(rep, daily)
check(len(f) == 1 and f[0]["outcome"] == "started" and f[0]["missed"] == 2 and
      f[0]["scheduled_for"].startswith(iso(slot + timedelta(days=3))[:16]),
      "after an outage the latest slot runs once", rep)
r = runs(daily)
kinds = [(x["outcome"], x.get("reason")) for x in r]
check(kinds[:3] == [("started", None), ("skipped", "missed"), ("skipped", "missed")] and r[0]["missed"] == 2,
      "the missed slots are recorded as skipped", kinds)
check(len(slot_batches(daily)) == 2, "two batches for two runs", slot_batches(daily))
ev = skip_events(daily)
check(len(ev) == 1 and ev[0]["reason"] == "missed" and ev[0]["skipped"] == 2 and
      ev[0]["schedule_name"] == "daily " + TAG, "one schedule.run_skipped event for the missed slots", ev)
wait_batch(f[0]["batch_id"], 120)

# overlap: skip records the slot, queue waits for the running batch
sim_put("/sim/profiles/" + AMC[1], {"latency_ms": 6000})
st, b, raw = create(dict(BASE, name="hourly " + TAG, cron="0 * * * *", timezone="UTC", instance_ids=IDS[1:2]))
hourly = b["schedule"]["id"]
h = parse(b["schedule"]["next_run_at"])
f = fired_for(tick(h), hourly)
check(f and f[0]["outcome"] == "started", "the first hourly slot starts", f)
running = f[0]["batch_id"] if f else None
f = fired_for(tick(h + timedelta(hours=1)), hourly)
check(f and f[0]["outcome"] == "skipped", "overlap skip: the next slot is skipped while it runs", f)
check(runs(hourly)[0]["outcome"] == "skipped" and runs(hourly)[0]["reason"] == "overlap", "and recorded",
      runs(hourly)[:2])
ev = skip_events(hourly)
check(len(ev) == 1 and ev[0]["reason"] == "overlap" and ev[0]["scheduled_for"] == iso(h + timedelta(hours=1))[:19] + ".000Z",
      "and a schedule.run_skipped event says so", ev)
st, b, raw = api("PATCH", "/schedules/" + hourly, {"overlap": "queue"})
check(st == 200 and b["schedule"]["overlap"] == "queue", "PATCH overlap queue", raw[:200])
nxt = parse(b["schedule"]["next_run_at"])
f = fired_for(tick(nxt + timedelta(minutes=1)), hourly)
check(f and f[0]["outcome"] == "queued" and get(hourly)["next_run_at"] == iso(nxt),
      "overlap queue: the slot waits, nothing recorded", f)
# Waiting queue schedules must not hold the others back: a tick fires at most 20 schedules, and
# 20 queue schedules due earlier than another one, all waiting for the same running batch,
# once filled every tick for as long as that batch ran
st, b, raw = create(dict(BASE, name="behind the waiting " + TAG, cron="0 * * * *", timezone="UTC",
                         instance_ids=IDS[2:3]))
behind = b["schedule"]["id"] if st == 201 else None
waiting = [r[0] for r in psql(
    "WITH n AS (INSERT INTO schedules (user_id, name, workflow_id, instance_ids, cron, timezone,"
    "                                  overlap, next_run_at)"
    "           SELECT s.user_id, s.name || ' waiting ' || i, s.workflow_id, s.instance_ids, s.cron,"
    "                  s.timezone, 'queue', o.next_run_at - interval '1 hour'"
    "             FROM schedules s, schedules o, generate_series(1, 20) AS i"
    "            WHERE s.id = :'p1' AND o.id = :'p3' RETURNING id, next_run_at)"
    " INSERT INTO schedule_runs (schedule_id, scheduled_for, outcome, batch_execution_id)"
    " SELECT n.id, n.next_run_at - interval '1 hour', 'started', b.id"
    "   FROM n, batch_executions b WHERE b.batch_id = :'p2' RETURNING schedule_id",
    hourly, running, behind)] if behind else []
rep = tick(nxt + timedelta(minutes=1, seconds=30))
f = fired_for(rep, behind)
check(len(waiting) == 20 and f and f[0]["outcome"] == "started",
      "20 waiting queue schedules due first do not hold another due schedule back", rep)
psql("DELETE FROM schedules WHERE id = ANY(string_to_array(:'p1', ',')::uuid[])", ",".join(waiting))
if behind:
    api("DELETE", "/schedules/" + behind)
if f and f[0].get("batch_id"):
    wait_batch(f[0]["batch_id"], 60)
check(wait_batch(running, 60)["status"] == "completed", "(the long run ends)")
f = fired_for(tick(nxt + timedelta(minutes=2)), hourly)
check(f and f[0]["outcome"] == "started", "then the queued slot starts", f)
sim("DELETE", "/sim/profiles/" + AMC[1])
if f:
    wait_batch(f[0]["batch_id"], 60)

# Schedules whose stored cron or time zone no longer works (a parser or tzdata change in an
# upgrade) cannot fire; left at their slot, 20 of them due first filled every tick. Each is
# moved an hour on, so the next tick reaches the others.
st, b, raw = create(dict(BASE, name="behind the broken " + TAG, cron="30 * * * *", timezone="UTC",
                         instance_ids=IDS[2:3]))
behind = b["schedule"]["id"] if st == 201 else None
broken = [r[0] for r in psql(
    "INSERT INTO schedules (user_id, name, workflow_id, instance_ids, cron, timezone, next_run_at)"
    " SELECT s.user_id, s.name || ' broken ' || i, s.workflow_id, s.instance_ids,"
    "        CASE WHEN i % 2 = 0 THEN 'not a cron' ELSE s.cron END,"
    "        CASE WHEN i % 2 = 0 THEN s.timezone ELSE 'Mars/Olympus_Mons' END,"
    "        s.next_run_at - interval '1 hour'"
    "   FROM schedules s, generate_series(1, 20) AS i WHERE s.id = :'p1' RETURNING id", behind)] if behind else []
at = parse(b["schedule"]["next_run_at"]) + timedelta(minutes=1) if behind else None
rep1 = tick(at) if behind else {"fired": []}
errors = [f for f in rep1["fired"] if f["schedule_id"] in broken and f["outcome"] == "error"]
check(len(broken) == 20 and len(errors) == 20, "20 schedules with a broken stored cron or zone: errors", rep1)
moved = psql("SELECT count(*) FROM schedules WHERE id = ANY(string_to_array(:'p1', ',')::uuid[])"
             " AND next_run_at = :'p2'::timestamptz + interval '1 hour'", ",".join(broken), iso(at)) if behind else []
check(moved == [["20"]], "each is tried again an hour later", moved)
f = fired_for(rep1, behind) + fired_for(tick(at), behind) if behind else []
check(f and f[0]["outcome"] == "started", "the next tick fires the schedule due after them", f)
psql("DELETE FROM schedules WHERE id = ANY(string_to_array(:'p1', ',')::uuid[])", ",".join(broken))
if behind:
    api("DELETE", "/schedules/" + behind)
if f and f[0].get("batch_id"):
    wait_batch(f[0]["batch_id"], 60)

# a revoked grant refuses that instance in the next run; the rest run
st, b, raw = create({"name": "member " + TAG, "workflow_id": mwf, "instance_ids": IDS[2:4],
                     "cron": "15 7 * * *", "timezone": "America/New_York"}, token=mtok)
check(st == 201, "a member schedules their granted instances", raw[:300])
ms = b["schedule"]["id"]
mslot = parse(b["schedule"]["next_run_at"])
api("DELETE", "/admin/instances/%s/access" % IDS[3], {"user_id": member})
f = fired_for(tick(mslot + timedelta(seconds=5)), ms)
check(f and f[0]["outcome"] == "started", "the run starts with what is left", f)
r = runs(ms)
check(r and r[0]["total_instances"] == 1 and r[0]["refused_instances"] and
      r[0]["refused_instances"][0]["instance_id"] == IDS[3] and
      r[0]["refused_instances"][0]["code"] == "instance_access_denied", "and names the refused instance", r[:1])
if f:
    wait_batch(f[0]["batch_id"], 60)
api("DELETE", "/admin/instances/%s/access" % IDS[2], {"user_id": member})
f = fired_for(tick(mslot + timedelta(days=1, seconds=5)), ms)
check(f and f[0]["outcome"] == "failed", "no instance left: the run fails", f)
r = runs(ms)
check(r and r[0]["outcome"] == "failed" and "no instance left" in (r[0]["reason"] or "") and
      r[0]["batch_id"] is None, "recorded with the reason", r[:1])
for u in IDS[2:4]:
    api("POST", "/admin/instances/%s/access" % u, {"user_id": member})

if hook:
    api("DELETE", "/webhooks/" + hook)

# ---- edit, pause, resume, run now, delete ---------------------------------------------------
st, b, raw = api("PATCH", "/schedules/" + sid, {"cron": "0 7 * * TUE", "timezone": "America/New_York"})
check(st == 200 and b["schedule"]["cron"] == "0 7 * * TUE" and parse(b["schedule"]["next_run_at"]).weekday() == 1,
      "PATCH cron and zone recompute next_run_at", raw[:300])
check(b["schedule"]["name"] == BASE["name"] and b["schedule"]["window"]["type"] == "previous_week",
      "PATCH keeps the other members", b["schedule"])
st, b, raw = api("PATCH", "/schedules/" + sid, {"on_failure": "fail_fast"})
check(st == 200 and b["schedule"]["on_failure"] == "fail_fast", "PATCH on_failure", raw[:300])
for body_, status, code in (({"cron": "every tuesday"}, 422, "invalid_cron"), ({"colour": "red"}, 400, "unknown_field"),
                            ({"instance_ids": "all"}, 400, None), ({"name": ""}, 400, "missing_field")):
    st, b, raw = api("PATCH", "/schedules/" + sid, body_)
    check(st == status and (code is None or b["error"]["code"] == code), "PATCH %s -> %d" % (body_, status), raw[:200])
check(get(sid)["cron"] == "0 7 * * TUE", "a refused PATCH changes nothing")
st, b, raw = api("PATCH", "/schedules/" + sid, {"window": None, "parameters": {"startDate": "2026-01-01",
                                                                              "endDate": "2026-01-31"}})
check(st == 200 and b["schedule"]["window"] is None, "PATCH window null clears it", raw[:300])

st, b, raw = api("POST", "/schedules/%s/pause" % sid)
check(st == 200 and b["schedule"]["enabled"] is False and b["schedule"]["next_run_at"] is None and
      b["schedule"]["next_runs"] == [], "pause", raw[:300])
st, b, raw = api("POST", "/schedules/%s/pause" % sid)
check(st == 200 and b["schedule"]["enabled"] is False, "pause again is fine", raw[:200])
rep = tick(datetime.now(timezone.utc) + timedelta(days=30))
check(fired_for(rep, sid) == [], "a paused schedule does not fire", rep)
st, b, raw = api("POST", "/schedules/%s/resume" % sid)
check(st == 200 and b["schedule"]["enabled"] is True and parse(b["schedule"]["next_run_at"]) > datetime.now(timezone.utc),
      "resume: the next slot from now", raw[:300])

st, b, raw = api("POST", "/schedules/%s/run-now" % sid)
check(st == 201 and b["batch"]["batch_id"].startswith("batch_") and b["refused_instances"] == [],
      "run-now -> 201 with the batch", raw[:300])
if st == 201:
    now_bid = b["batch"]["batch_id"]
    check(wait_batch(now_bid, 60)["status"] == "completed", "the run-now batch completes")
    r = [x for x in runs(sid) if x["batch_id"] == now_bid]
    check(len(r) == 1 and r[0]["trigger"] == "manual", "recorded as manual", r)
    check(get(sid)["next_run_at"] == b_ if (b_ := get(sid)["next_run_at"]) else False, "run-now leaves next_run_at")

st, b, raw = api("DELETE", "/schedules/" + sid)
check(st == 200 and b["deleted"] == sid, "DELETE", raw[:200])
check(api("GET", "/schedules/" + sid)[0] == 404 and api("GET", "/schedules/%s/runs" % sid)[0] == 404,
      "a deleted schedule is gone")
st, b, raw = api("DELETE", "/schedules/" + sid)
check(st == 404, "DELETE again -> 404", raw[:200])
if st == 404:
    check(psql("SELECT count(*) FROM batch_executions WHERE batch_id = :'p1' AND schedule_id IS NULL",
               now_bid)[0][0] == "1", "its batches stay, unlinked")

# ---- two API processes race for the same slots -----------------------------------------------
st, b, raw = create(dict(BASE, name="race " + TAG, cron="*/5 * * * *", timezone="UTC", instance_ids=IDS[:1],
                         window=None, parameters={"startDate": "2026-01-01", "endDate": "2026-01-07"}))
race = b["schedule"]["id"]
t0 = parse(b["schedule"]["next_run_at"])
with PrivateApi(schedule_test_clock="true", schedule_tick_ms="0") as url2:
    outcomes = []
    for i in range(8):
        now = t0 + timedelta(minutes=5 * i, seconds=3)
        res = [None, None]
        ths = [threading.Thread(target=lambda k=k, u=u: res.__setitem__(k, tick(now, u)))
               for k, u in enumerate((os.environ["AMCBATCH_URL"], url2))]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        fl = [x for r_ in res for x in fired_for(r_, race)]
        outcomes.append(sorted(x["outcome"] for x in fl))
        for x in fl:	# the next slot would be skipped while this one runs (overlap skip)
            if x.get("batch_id"):
                wait_batch(x["batch_id"], 60)
    started = sum(o.count("started") for o in outcomes)
    check(started == 8, "8 slots raced by two APIs: 8 batches started", outcomes)
    sb = slot_batches(race)
    check(len(sb) == 8 and all(c == "1" for _, c in sb), "exactly one batch per slot in PostgreSQL", sb)
api("POST", "/schedules/%s/pause" % race)

# ---- a real slot on the wall clock, with one API killed at it -----------------------------
st, b, raw = create(dict(BASE, name="minutely " + TAG, cron="* * * * *", timezone="UTC", instance_ids=IDS[:1],
                         window=None, parameters={"startDate": "2026-01-01", "endDate": "2026-01-07"}))
minutely = b["schedule"]["id"]
# the slot 3 s from now instead of the next minute (a tick fires the next_run_at it reads):
# waiting for the minute to turn cost this test 0 to 60 s
first = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
psql("UPDATE schedules SET next_run_at = :'p2'::timestamptz WHERE id = :'p1'", minutely, iso(first))
killed = PrivateApi(schedule_tick_ms="50")
if killed.__enter__():
    lib.URL = os.environ["AMCBATCH_URL"]
    # the private API ticks every 50 ms: kill it just after the minute turns, while it fires
    wait = (first - datetime.now(timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait + 0.03)
    killed.proc.kill()
    killed.proc.wait()
    check(killed.proc.returncode == -signal.SIGKILL, "the private API killed at the slot",
          killed.proc.returncode)
    log = killed.log()
    check("Sanitizer" not in log and "runtime error" not in log, "its log is clean up to then", log[-500:])
    os.unlink(killed.logf)
    ok = wait_until(lambda: any(r_["scheduled_for"] == iso(first) for r_ in (runs(minutely) or [])), 15)
    check(ok, "the slot ran anyway", runs(minutely))
api("POST", "/schedules/%s/pause" % minutely)
sb = slot_batches(minutely)
check(sb and all(c == "1" for _, c in sb) and iso(first) in [t for t, _ in sb],
      "exactly one batch for the slot", sb)
st_runs = runs(minutely)
check(len([x for x in st_runs if x["outcome"] == "started"]) == len(sb), "one started run per batch",
      (st_runs, sb))
done()
