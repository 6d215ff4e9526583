"""Relative date windows (issue 10) on the real stack: a batch asks for "previous_week" or "the
last n days" instead of explicit dates; the API resolves the window once, at submission, in each
instance's own time zone (Europe/Berlin, America/New_York, Asia/Tokyo), and the days reach the
201 body, the status (from Redis and from PostgreSQL), the SQL's {{startDate}}, and AMC itself
(timeWindowStart/End/TimeZone of the executions amcsim holds). The expected days are computed
here with Python's zoneinfo, independently of the C code (ICU). Bad windows, a window next to
explicit dates, and an instance time zone that is not an IANA id are refused with nothing
stored."""
import datetime
import uuid
from zoneinfo import ZoneInfo

from lib import (PREFIX, amc_call, api, check, create_workflow, done, fleet_account, psql, redis_raw,
                 require_stack, submit, wait_batch)

require_stack()

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"]
SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{startDate}} AS since_day, {{endDate}} AS until_day "
       "FROM impressions GROUP BY campaign ORDER BY campaign")
LAG = 2	# window_lag_days of the stack (the default)


def expected(kind, n, lag, zone, at):
    """(first day, last day) of a window at instant `at` in zone, as window.h defines it."""
    today = at.astimezone(ZoneInfo(zone)).date()
    ref = today - datetime.timedelta(days=lag)
    monday = ref - datetime.timedelta(days=ref.weekday())
    if kind == "previous_week":
        return monday - datetime.timedelta(days=7), monday - datetime.timedelta(days=1)
    if kind == "last_n_days":
        return ref - datetime.timedelta(days=n), ref - datetime.timedelta(days=1)
    raise ValueError(kind)


def amc_window(first, last):
    """The AMC window of whole days first..last: midnight to the midnight after last."""
    return first.isoformat() + "T00:00:00", (last + datetime.timedelta(days=1)).isoformat() + "T00:00:00"


def batches_stored():
    return int(psql("SELECT count(*) FROM batch_executions")[0][0])


# ---- instances in three zones; a zone that is not an IANA id is refused -------------------
acct, insts = fleet_account("Windows", 0)
UUIDS, AMC_IDS = [], []
for i, zone in enumerate(ZONES):
    amc_id = "amcwin%s%d" % (uuid.uuid4().hex[:6], i)
    st, body, raw = api("POST", "/admin/instances", {
        "instance_id": amc_id, "instance_name": "Windows %s" % zone, "region": "us-east-1",
        "account_id": acct["id"], "timezone": zone})
    check(st == 201 and body["instance"]["timezone"] == zone, "instance in %s" % zone, raw[:300])
    UUIDS.append(body["instance"]["id"])
    AMC_IDS.append(amc_id)
for bad in ("Mars/Olympus_Mons", "CEST", "GMT+3", "../../etc/localtime", "Europe/Berlin "):
    before = int(psql("SELECT count(*) FROM instances")[0][0])
    st, body, raw = api("POST", "/admin/instances", {
        "instance_id": "amcwinbad" + uuid.uuid4().hex[:6], "instance_name": "bad zone",
        "region": "us-east-1", "account_id": acct["id"], "timezone": bad})
    check(st == 422 and body["error"]["code"] == "invalid_timezone" and body["error"]["field"] == "timezone"
          and int(psql("SELECT count(*) FROM instances")[0][0]) == before,
          "instance time zone %r refused with nothing stored" % bad, raw[:300])

WF = create_workflow("windows " + uuid.uuid4().hex[:6], SQL, {"startDate": "2020-01-01"})

# ---- previous_week, no lag: each instance its own week --------------------------------------
t0 = datetime.datetime.now(datetime.timezone.utc)
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, {
    "instance_ids": UUIDS, "window": {"type": "previous_week", "lag_days": 0}, "name": "previous week"})
t1 = datetime.datetime.now(datetime.timezone.utc)
check(st == 201, "a batch with a relative window is accepted", raw[:500])
batch = body["batch"]
bid = batch["batch_id"]
check(batch["window"] == {"type": "previous_week", "lag_days": 0}, "the 201 body names the window",
      batch.get("window"))
want = {}
for u, zone in zip(UUIDS, ZONES):
    # the request took a moment: either side of a midnight in that zone is right
    want[u] = {amc_window(*expected("previous_week", 0, 0, zone, t)) for t in (t0, t1)}
got201 = {e["instance_id"]: e["time_window"] for e in batch["executions"]}
check(all((got201[u]["start"], got201[u]["end"]) in want[u] and got201[u]["timezone"] == z
          for u, z in zip(UUIDS, ZONES)),
      "each execution's window is that week in its own zone", (got201, want))

final = wait_batch(bid, 120)
check(final is not None and final["status"] == "completed", "the batch completes", final and final["status"])
check(final["window"] == {"type": "previous_week", "lag_days": 0}, "status names the window", final.get("window"))
got = {e["target_instance_id"]: e["time_window"] for e in final["executions"]}
check(got == got201, "status shows each execution's window", (got, got201))

# AMC was asked for exactly those days, in that zone
for u, amc_id, zone in zip(UUIDS, AMC_IDS, ZONES):
    amc_exec = [e for e in final["executions"] if e["target_instance_id"] == u][0]["amc_execution_id"]
    st, ex = amc_call(acct, "GET", amc_id, amc_exec)
    check(st == 200 and ex.get("timeWindowStartOriginal") == got[u]["start"]
          and ex.get("timeWindowEndOriginal") == got[u]["end"] and ex.get("timeWindowTimeZone") == zone,
          "AMC got the window in %s" % zone, (st, ex and {k: ex.get(k) for k in (
              "timeWindowStartOriginal", "timeWindowEndOriginal", "timeWindowTimeZone")}, got[u]))

# the SQL's {{startDate}}/{{endDate}} are the window's days (the workflow's default replaced)
st, body, raw = api("GET", "/workflows/batch/%s/results" % bid)
rows = body["batch_results"]["aggregated_data"]["rows"] if st == 200 else []
by_inst = {}
for r in rows:
    by_inst.setdefault(r["_instance_id"], set()).add((r["since_day"], r["until_day"]))
exp_days = {u: {(got[u]["start"][:10], (datetime.date.fromisoformat(got[u]["end"][:10])
                                        - datetime.timedelta(days=1)).isoformat())} for u in UUIDS}
check(rows and by_inst == exp_days, "{{startDate}} and {{endDate}} are the first and last day", (by_inst, exp_days))
res = body["batch_results"] if st == 200 else {}
check(res.get("window") == {"type": "previous_week", "lag_days": 0}
      and {i["instance_id"]: i["time_window"] for i in res.get("instance_results", [])} == got,
      "results show the window and each instance's days", res.get("instance_results"))
stored = psql("SELECT e.parameters->>'startDate', e.time_window_start, e.time_window_timezone FROM "
              "workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id "
              "WHERE b.batch_id = :'p1' ORDER BY 3", bid)
check(sorted(stored) == sorted([[got[u]["start"][:10], got[u]["start"], z] for u, z in zip(UUIDS, ZONES)]),
      "PostgreSQL stores the days with each execution", stored)
check(psql("SELECT time_window::text FROM batch_executions WHERE batch_id = :'p1'", bid)
      == [['{"type": "previous_week", "lag_days": 0}']], "and the window with the batch")

# the same answer from PostgreSQL once Redis has forgotten the batch
redis_raw("DEL", PREFIX + "batch:{%s}" % bid)
st, body, raw = api("GET", "/workflows/batch/%s/status" % bid)
pg = body["batch_status"] if st == 200 else {}
check(pg.get("window") == {"type": "previous_week", "lag_days": 0}
      and {e["target_instance_id"]: e["time_window"] for e in pg.get("executions", [])} == got,
      "status from PostgreSQL shows the same windows", raw[:600])

# ---- last_n_days with the configured lag, as a type name alone ------------------------------
t0 = datetime.datetime.now(datetime.timezone.utc)
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, {
    "instance_ids": UUIDS[:2], "window": {"type": "last_n_days", "n": 3}})
t1 = datetime.datetime.now(datetime.timezone.utc)
check(st == 201 and body["batch"]["window"] == {"type": "last_n_days", "n": 3, "lag_days": LAG},
      "last_n_days takes the configured lag", raw[:400])
if st == 201:
    for e in body["batch"]["executions"]:
        z = ZONES[UUIDS.index(e["instance_id"])]
        ok = (e["time_window"]["start"], e["time_window"]["end"]) in {
            amc_window(*expected("last_n_days", 3, LAG, z, t)) for t in (t0, t1)}
        check(ok, "last 3 days ending %d days ago in %s" % (LAG, z), e["time_window"])
    check(wait_batch(body["batch"]["batch_id"], 120)["status"] == "completed", "and completes")
key = "windows-" + uuid.uuid4().hex
req = {"instance_ids": UUIDS[:1], "window": "previous_month"}
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, req, headers={"Idempotency-Key": key})
check(st == 201 and body["batch"]["window"] == {"type": "previous_month", "lag_days": LAG},
      "a window type by name, with an Idempotency-Key", raw[:300])
st2, body2, raw2 = api("POST", "/workflows/%s/batch-execute" % WF, req, headers={"Idempotency-Key": key})
check(st2 == 201 and body2 == body, "the replay answers the same batch, window and days", raw2[:300])

# ---- refusals: nothing stored ----------------------------------------------------------------
bad_requests = [
    ({"window": {"type": "previous_week"}, "parameters": {"startDate": "2026-01-01"}}, 422, "window_conflict",
     "parameters.startDate"),
    ({"window": "previous_week", "instance_parameters": {UUIDS[0]: {"endDate": "2026-01-01"}}}, 422,
     "window_conflict", "instance_parameters"),
    ({"window": {"type": "fortnight"}}, 422, "invalid_window", "window.type"),
    ({"window": {"type": "last_n_days"}}, 422, "invalid_window", "window.n"),
    ({"window": {"type": "last_n_days", "n": 1000}}, 422, "invalid_window", "window.n"),
    ({"window": {"type": "previous_week", "lag_days": "2"}}, 400, "invalid_type", "window.lag_days"),
    ({"window": {"type": "previous_week", "since": "monday"}}, 400, "unknown_field", "window"),
    ({"window": ["previous_week"]}, 400, "invalid_type", "window"),
    ({"window": "x" * 100000}, 422, "invalid_window", "window.type"),
]
before = batches_stored()
for extra, status, code, field in bad_requests:
    req = {"instance_ids": UUIDS}
    req.update(extra)
    st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, req)
    check(st == status and body and body["error"]["code"] == code and body["error"]["field"] == field,
          "%s -> %d %s on %s" % (str(extra)[:70], status, code, field), raw[:300])
check(batches_stored() == before, "no refused request stored a batch", (before, batches_stored()))

# an instance whose stored zone is not an IANA id (written around the API): named, nothing stored
psql("UPDATE instances SET timezone = 'Nowhere/Atlantis' WHERE id = :'p1'", UUIDS[2])
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, {"instance_ids": UUIDS, "window": "previous_week"})
check(st == 422 and body["error"]["code"] == "invalid_timezone" and UUIDS[2] in body["error"]["message"]
      and batches_stored() == before, "an instance with a broken zone is named, nothing stored", raw[:300])
psql("UPDATE instances SET timezone = 'Asia/Tokyo' WHERE id = :'p1'", UUIDS[2])

# explicit dates keep working, and carry no window
st, body, raw = submit(WF, UUIDS[:1], {"startDate": "2026-01-05", "endDate": "2026-01-11"})
check(st == 201 and body["batch"]["window"] is None
      and body["batch"]["executions"][0]["time_window"] == {"start": "2026-01-05T00:00:00",
                                                            "end": "2026-01-12T00:00:00", "timezone": ZONES[0]},
      "explicit dates: no window, the days as given", raw[:400])
done()
