"""The portfolio comparison, GET /workflows/batch/{id}/compare: each instance's sum of a metric
agrees with the batch's own rows, shares add up to 1, ranks follow the values, a failed
instance is listed as missing with its error, by= breaks the metric down by a dimension,
against= sets it against another batch, and bad requests and other users get JSON errors."""
import json
import math
import urllib.request
import uuid

from lib import (INSTANCES, TOKEN, URL, WORKFLOW, api, check, create_workflow, done, psql, require_stack,
                 sim_put, submit, wait_batch)

require_stack()
INST = INSTANCES[:5]
FAIL = INST[4]
FAIL_AMC = psql("SELECT instance_id FROM instances WHERE id = :'p1'", FAIL)[0][0]
PARAMS = {"startDate": "2025-01-01", "endDate": "2025-01-31"}

sim_put("/sim/profiles/" + FAIL_AMC, {"fail_rate": 1, "fail_reason": "compare: no such table"})
try:
    st, body, raw = submit(WORKFLOW, INST, parameters=PARAMS, name="compare a")
    check(st == 201, "batch a submitted", raw[:300])
    A = body["batch"]["batch_id"]
    wait_batch(A)
finally:
    sim_put("/sim/profiles/" + FAIL_AMC, {"fail_rate": 0})
st, body, raw = submit(WORKFLOW, INST[:4], parameters=PARAMS, name="compare b")
B = body["batch"]["batch_id"]
wait_batch(B)

rows = api("GET", "/workflows/batch/%s/results?limit=10000" % A)[1]["batch_results"]["aggregated_data"]["rows"]
want = {}
for r in rows:
    want[r["_instance_id"]] = want.get(r["_instance_id"], 0) + r["impressions"]

st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=impressions" % A)
c = body.get("compare") if body else None
check(st == 200 and c["metric"] == "impressions" and c["by"] is None, "compare answers", raw[:300])
got = {i["instance_id"]: i["value"] for i in c["instances"] if i["value"] is not None}
check(set(got) == set(INST[:4]) and all(math.isclose(got[k], want[k]) for k in got),
      "each instance's value is the sum of its rows", (got, want))
check(math.isclose(sum(i["share"] for i in c["instances"] if i["share"] is not None), 1.0),
      "shares add up to 1", c["instances"])
by_rank = sorted((i for i in c["instances"] if i["rank"]), key=lambda i: i["rank"])
check([i["rank"] for i in by_rank] == [1, 2, 3, 4] and
      all(by_rank[k]["value"] >= by_rank[k + 1]["value"] for k in range(3)), "ranks follow the values", by_rank)
check(math.isclose(c["stats"]["total"], sum(want.values())) and c["stats"]["counted"] == 4,
      "stats: the total over the counted instances", c["stats"])
check([m["instance_id"] for m in c["missing_instances"]] == [FAIL] and c["missing_instances"][0]["status"] == "failed"
      and "no such table" in (c["missing_instances"][0]["error"] or ""),
      "the failed instance is missing, with its error", c["missing_instances"])
check(all(i["outlier"] in (None, "low", "high") for i in c["instances"]), "outliers are flagged or null", c["instances"])

st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=clicks&by=campaign" % A)
g = body["compare"]["groups"] if st == 200 else []
campaigns = {r["campaign"] for r in rows}
check(st == 200 and {x["key"] for x in g} == campaigns and body["compare"]["groups_truncated"] is False,
      "by=campaign: one group per campaign", raw[:300])
one = g[0] if g else {"key": None, "instances": [], "total": 0}
want_g = sum(r["clicks"] for r in rows if r["campaign"] == one["key"])
check(math.isclose(one["total"], want_g) and all(i["rank"] for i in one["instances"]),
      "a group's total and ranks", one)
check(all(g[k]["total"] >= g[k + 1]["total"] for k in range(len(g) - 1)), "largest group first", [x["total"] for x in g])

st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=impressions&against=%s" % (B, A))
items = {i["instance_id"]: i for i in body["compare"]["instances"]} if st == 200 else {}
check(st == 200 and all(items[k]["previous"] is not None and math.isclose(items[k]["previous"], want[k])
                        and math.isclose(items[k]["change"], items[k]["value"] - want[k]) for k in INST[:4]),
      "against: each instance's previous value and change", raw[:400])

# ---- the results say what is missing: JSON companion, per-instance warnings, CSV header ----
st, body, raw = api("GET", "/workflows/batch/%s/results?limit=1" % A)
br = body["batch_results"]
check([m["instance_id"] for m in br["missing_instances"]] == [FAIL] and
      "no such table" in (br["missing_instances"][0]["error"] or ""),
      "results: missing_instances names the failed instance and why", br["missing_instances"])
check(all(isinstance(i["warnings"], list) for i in br["instance_results"]), "results: every instance has warnings",
      br["instance_results"][:1])
req = urllib.request.Request(URL + "/workflows/batch/%s/results.csv" % A, headers={"Authorization": "Bearer " + TOKEN})
with urllib.request.urlopen(req, timeout=60) as resp:
    missing_hdr = resp.headers.get("Amcbatch-Missing-Instances")
    resp.read()
check(missing_hdr == "1", "CSV export: Amcbatch-Missing-Instances counts the instance left out", missing_hdr)

# ---- the typed tables (sql/018): a column typed text in one instance's table, or absent ----
# bonus is a number for INST[0] and INST[2] and text for INST[1]: the batch's column is text
# (the widest of the instances' types, issue 13), so it is no metric, but a dimension. Then
# the column is taken out of INST[1]'s table (as a retry on another workflow version could
# leave it): the batch's bonus is a number again and INST[1], without it, has no value.
wf = create_workflow("compare typed %s" % uuid.uuid4().hex[:6],
                     "SELECT campaign, SUM(impressions) AS impressions, {{bonus}} AS bonus"
                     " FROM impressions GROUP BY campaign ORDER BY campaign", {"bonus": 5})
st, body, raw = submit(wf, INST[:3], parameters=PARAMS, overrides={INST[1]: {"bonus": "n/a"}},
                       name="compare typed")
check(st == 201, "typed batch submitted", raw[:300])
T = body["batch"]["batch_id"]
wait_batch(T)
tables = dict(psql("SELECT e.target_instance_id, e.result_table FROM workflow_executions e"
                   " JOIN batch_executions b ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1'", T))
ncamp = {k: int(psql("SELECT count(*) FROM %s" % tables[k])[0][0]) for k in INST[:3]}
st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=bonus" % T)
check(st == 422 and body["error"]["code"] == "invalid_value",
      "a column that is text in one instance is no metric", raw[:300])
st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=impressions&by=bonus" % T)
keys = sorted(g["key"] for g in body["compare"]["groups"]) if st == 200 else []
check(st == 200 and keys == ["5", "n/a"], "by= a column typed number in one table, text in another", raw[:400])
col = [c for c in json.loads(psql("SELECT result_columns::text FROM workflow_executions"
                                  " WHERE result_table = :'p1'", tables[INST[1]])[0][0])
       if c["name"] == "bonus"][0]["column"]
psql("ALTER TABLE %s DROP COLUMN \"%s\"" % (tables[INST[1]], col))
psql("UPDATE workflow_executions SET result_columns = (SELECT jsonb_agg(c ORDER BY o)"
     " FROM jsonb_array_elements(result_columns) WITH ORDINALITY x(c, o) WHERE c->>'name' <> 'bonus')"
     " WHERE result_table = :'p1'", tables[INST[1]])
st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=bonus&by=bonus" % T)
c = body["compare"] if st == 200 else {"instances": [], "groups": [], "missing_instances": None}
vals = {i["instance_id"]: i["value"] for i in c["instances"]}
check(st == 200 and vals.get(INST[0]) == 5 * ncamp[INST[0]] and vals.get(INST[1], 0) is None and
      vals.get(INST[2]) == 5 * ncamp[INST[2]] and [g["key"] for g in c["groups"]] == ["5"] and
      c["missing_instances"] == [],
      "a column absent from one instance's table: that instance has no value", raw[:400])

# ---- errors ----
email = "cmp-%s@example.com" % uuid.uuid4().hex[:8]
st, body, raw = api("POST", "/admin/users", {"email": email})
OTHER = body["token"]
for path, want_st, code in (
        ("/workflows/batch/%s/compare" % A, 400, "missing_field"),
        ("/workflows/batch/%s/compare?metric=campaign" % A, 422, "invalid_value"),
        ("/workflows/batch/%s/compare?metric=nope" % A, 422, "invalid_value"),
        ("/workflows/batch/%s/compare?metric=clicks&by=nope" % A, 422, "invalid_value"),
        ("/workflows/batch/%s/compare?metric=%s" % (A, "x" * 200), 422, "invalid_value"),
        ("/workflows/batch/%s/compare?metric=clicks&against=batch_00000000" % A, 404, "batch_not_found"),
        ("/workflows/batch/batch_00000000/compare?metric=clicks", 404, "batch_not_found"),
        ("/workflows/batch/%s/compare?metric=clicks&include_retries=maybe" % A, 400, None)):
    st, body, raw = api("GET", path)
    check(st == want_st and body and body["success"] is False and (code is None or body["error"]["code"] == code),
          "%s -> %d %s" % (path.split("?")[-1][:60], want_st, code), raw[:200])
st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=clicks" % A, token=OTHER)
check(st == 404 and body["error"]["code"] == "batch_not_found", "another user's batch: 404", raw[:200])
st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=clicks&against=%s" % (A, A), token=OTHER)
check(st == 404, "... also as against=", raw[:200])
done()
