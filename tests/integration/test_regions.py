"""Every AMC region (issue 11) on the real stack: accounts in NA, EU and FE, each with its own
instances, run one batch together. scripts/stack starts amcsim with a host (listener) per
region and points the workers' amc_base_url_<region> / amc_token_url_<region> at them;
amcsim knows each instance's region (profile field `region`; the stack writes the seed
instances' into amcsim's profile file, seed.sql has NA, EU and FE accounts), refuses an
instance on another region's host (403) and, with AMCSIM_REGION_TOKENS=1 as the stack runs it, a token issued by
another region's token endpoint (401). Its per-region counters show where every call
(token, create, poll, download URLs, download) landed: each instance's on its own region's
host, none on another. The admin API accepts only NA, EU and FE as an account's region."""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

from lib import (PREFIX, SIM, api, check, create_workflow, done, fleet_account, psql, redis_raw,
                 require_stack, sim_put, wait_batch)

require_stack()
HOSTS = {"NA": SIM, "EU": os.environ.get("AMCSIM_URL_EU", ""), "FE": os.environ.get("AMCSIM_URL_FE", "")}
if not all(HOSTS.values()):
    print("ok - # SKIP amcsim serves one region only (no AMCSIM_URL_EU / AMCSIM_URL_FE)")
    sys.exit(77)
REGIONS = ("NA", "EU", "FE")
COUNTED = ("create", "get", "urls", "download")


def http(base, method, path, body=None, headers=None, form=None):
    """(status, parsed JSON or None) of one call to an amcsim host."""
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(base + path, method=method, data=data)
    if form is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, None


def stats():
    st, body = http(SIM, "GET", "/sim/stats")
    check(st == 200 and isinstance(body, dict) and set(body.get("regions", {})) == set(REGIONS),
          "GET /sim/stats has counters per region", st)
    return body


def count(snap, region, key, inst=None):
    r = snap["regions"][region]
    row = r["total"] if inst is None else r["instances"].get(inst, {})
    return row.get(key, 0)


# ---- the admin API: an account's region is NA, EU or FE ----------------------------------
accounts_before = int(psql("SELECT count(*) FROM amc_accounts")[0][0])
for bad in ("eu", "US", "", "EUROPE"):
    st, b, raw = api("POST", "/admin/accounts", {"account_name": "bad region", "advertiser_id": "ENTITYBADREGION",
                                                 "region": bad})
    check(st == 422 and b["error"]["code"] == "invalid_region" and b["error"]["field"] == "region",
          "account region %r -> 422 invalid_region" % bad, raw[:200])
check(int(psql("SELECT count(*) FROM amc_accounts")[0][0]) == accounts_before, "refused accounts store nothing")

# ---- three accounts, one per region, two instances each ----------------------------------
fleet = {}
for region in REGIONS:
    acct, insts = fleet_account("Regions " + region, 2, region=region)
    check(acct.get("region") == region, "account created in %s" % region, acct.get("region"))
    for _, amc in insts:
        st, prof = sim_put("/sim/profiles/" + amc, {"region": region})
        check(st == 200 and prof.get("region") == region, "amcsim: %s is a %s instance" % (amc, region), st)
    fleet[region] = (acct, insts)
st, prof = sim_put("/sim/profiles/" + fleet["EU"][1][0][1], {"region": "EUROPE"})
check(st == 400, "amcsim refuses an unknown region in a profile", st)
st, prof = http(SIM, "GET", "/sim/profiles/default")
check(st == 200 and prof.get("region") == "any", "amcsim's default: instances unbound, served on every host",
      prof and prof.get("region"))

SQL = "SELECT campaign, SUM(impressions) AS impressions FROM impressions GROUP BY campaign"
WF = create_workflow("regions " + uuid.uuid4().hex[:6], SQL)
before = stats()
ids = [u for r in REGIONS for u, _ in fleet[r][1]]
st, body, raw = api("POST", "/workflows/%s/batch-execute" % WF, {
    "instance_ids": ids, "name": "every region", "window": {"type": "previous_week", "lag_days": 0}})
check(st == 201, "a batch over NA, EU and FE instances", raw[:300])
bid = body["batch"]["batch_id"]
final = wait_batch(bid, 180)
check(final is not None and final["status"] == "completed" and final["completed_instances"] == len(ids),
      "the batch completes on every instance", final and {k: final[k] for k in final if k != "executions"})
after = stats()

# ---- where the calls landed ----------------------------------------------------------------
for region in REGIONS:
    acct, insts = fleet[region]
    for _, amc in insts:
        for key in COUNTED:
            n = count(after, region, key, amc) - count(before, region, key, amc)
            check(n >= 1, "%s instance %s: %s calls on the %s host" % (region, amc, key, region), n)
        check(count(after, region, "executions_created", amc) - count(before, region, "executions_created", amc) == 1,
              "%s instance %s: one execution created" % (region, amc))
        for other in REGIONS:
            if other == region:
                continue
            stray = {k: count(after, other, k, amc) - count(before, other, k, amc)
                     for k in COUNTED + ("list", "cancel", "wrong_region", "unauthorized")}
            check(not any(stray.values()), "%s instance %s: no call on the %s host" % (region, amc, other), stray)
    # a fresh account has no token yet: one was fetched, from its own region's token host
    n = count(after, region, "token") - count(before, region, "token")
    check(n >= 1, "a token was fetched from the %s token host" % region, n)
    cached = redis_raw("GET", PREFIX + "token:%s:%s" % (acct["id"], region))
    check(cached and " " in cached[0], "the %s account's token is cached under its region" % region)
for region in REGIONS:
    n = count(after, region, "wrong_region") - count(before, region, "wrong_region")
    check(n == 0, "no call refused as misrouted on the %s host" % region, n)

# ---- a misrouted call, made directly ---------------------------------------------------------
def token_from(region):
    st, b = http(HOSTS[region], "POST", "/auth/o2/token", form={
        "grant_type": "refresh_token", "refresh_token": "Atzr|regions-test", "client_id": "cid-fleet",
        "client_secret": "cs"})
    check(st == 200 and b.get("access_token"), "a token from the %s token host" % region, st)
    return b["access_token"]


eu_acct, eu_insts = fleet["EU"]
eu_amc = eu_insts[0][1]
amc_exec_id = psql("SELECT amc_execution_id FROM workflow_executions w JOIN batch_executions b"
                   " ON b.id = w.batch_execution_id WHERE b.batch_id = :'p1' AND w.instance_id = :'p2'",
                   bid, eu_amc)
amc_exec_id = amc_exec_id[0][0] if amc_exec_id and amc_exec_id[0][0] else "00000000-0000-4000-8000-000000000000"


def hdrs(token, acct):
    return {"Authorization": "Bearer " + token, "Amazon-Advertising-API-ClientId": "cid-fleet",
            "Amazon-Advertising-API-AdvertiserId": acct["advertiser_id"],
            "Amazon-Advertising-API-MarketplaceId": "ATVPDKIKX0DER"}


path = "/amc/reporting/%s/workflowExecutions/%s" % (eu_amc, amc_exec_id)
na_tok, eu_tok = token_from("NA"), token_from("EU")
st, b = http(HOSTS["EU"], "GET", path, headers=hdrs(eu_tok, eu_acct))
check(st == 200 and (b.get("workflowExecution") or b).get("status") == "SUCCEEDED",
      "the EU instance on the EU host with an EU token: its execution", st)
mid = stats()
st, b = http(HOSTS["NA"], "GET", path, headers=hdrs(na_tok, eu_acct))
check(st == 403 and isinstance(b, dict) and b.get("code") == "403" and "EU" in b.get("details", ""),
      "the EU instance on the NA host: 403 with AMC's error body", (st, b))
st, b = http(HOSTS["NA"], "POST", "/amc/reporting/%s/workflowExecutions" % eu_amc,
             body={"workflow": {"sqlQuery": SQL}}, headers=dict(hdrs(na_tok, eu_acct), **{"Content-Type": "application/json"}))
check(st == 403, "a create for the EU instance on the NA host: 403", st)
st, b = http(HOSTS["EU"], "GET", path, headers=hdrs(na_tok, eu_acct))
check(st == 401 and isinstance(b, dict) and "region" in b.get("details", ""),
      "an NA token on the EU host: 401 (AMCSIM_REGION_TOKENS)", (st, b))
end = stats()
check(count(end, "NA", "wrong_region", eu_amc) - count(mid, "NA", "wrong_region", eu_amc) == 2,
      "the NA host counted the two misrouted calls as wrong_region")
check(count(end, "EU", "wrong_region", eu_amc) - count(mid, "EU", "wrong_region", eu_amc) == 1,
      "the EU host counted the foreign token as wrong_region")
check(count(end, "NA", "executions_created", eu_amc) == count(mid, "NA", "executions_created", eu_amc),
      "the misrouted create made nothing")

done()
