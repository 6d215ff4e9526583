"""The portfolio comparison, GET /workflows/batch/{id}/compare: each instance's sum of a metric
agrees with the batch's own rows, shares add up to 1, ranks follow the values, a failed
instance is listed as missing with its error, by= breaks the metric down by a dimension,
against= sets it against another batch, and bad requests and other users get JSON errors."""
import math
import urllib.request
import uuid

from lib import (INSTANCES, TOKEN, URL, WORKFLOW, api, check, done, psql, require_stack, sim_put,
                 submit, wait_batch)

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
