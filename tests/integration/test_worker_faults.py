"""Worker failure handling on the real stack: LWA credentials encrypted in PostgreSQL, access
tokens shared through Redis (one refresh per account across both workers), SIGHUP reload,
SIGTERM hand-back mid-batch (the other worker finishes it, each AMC execution created once),
and a PostgreSQL stop/start mid-batch (the batch still completes with every row archived);
result downloads split over several files, refused once (403), expired and truncated.
The process-level parts need RUN_DIR (set by scripts/test and scripts/stack users)."""
import os
import re
import signal
import subprocess
import time
import uuid

from lib import (INSTANCES, PREFIX, RUN_DIR, TOP, api, check, create_workflow, done, fleet_account,
                 invariant_ok, pg_start, pg_stop, pid_alive, pid_of, psql, redis_raw, require_stack, sim,
                 sim_instance_stats, sim_put, submit, submit_paced, wait_batch, wait_until)

require_stack()
PARAMS = {"startDate": "2025-01-01", "endDate": "2025-01-31", "minImpressions": 0}
SQL = ("SELECT campaign, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
       "WHERE impressions >= {{minImpressions}} GROUP BY campaign ORDER BY campaign")


def worker_logs():
    if not RUN_DIR:
        return {}
    return {f: os.path.join(RUN_DIR, f) for f in sorted(os.listdir(RUN_DIR))
            if re.fullmatch(r"worker\d+\.log", f)}


def log_sizes():
    return {f: os.path.getsize(p) for f, p in worker_logs().items()}


def log_since(sizes):
    """Text each worker log gained since sizes was taken."""
    out = {}
    for f, p in worker_logs().items():
        with open(p, "rb") as fh:
            fh.seek(sizes.get(f, 0))
            out[f] = fh.read().decode("utf-8", "replace")
    return out


def held_jobs(worker_id):
    return int(redis_raw("LLEN", PREFIX + "worker:%s:jobs" % worker_id)[0])


def run_batch(tag, instances, name):
    wf = create_workflow("faults " + name, SQL, PARAMS)
    st, body, raw = submit(wf, instances, parameters={"tag": tag}, name=name)
    check(st in (200, 201) and body and body.get("success"), "submit " + name, raw[:300])
    return body["batch"]["batch_id"]


def rows_match(bid):
    """Every completed execution's Redis row_count equals its archived rows in PostgreSQL."""
    bad = []
    for ex in redis_raw("LRANGE", PREFIX + "batch:{%s}:execs" % bid, 0, -1):
        h = dict(zip(*[iter(redis_raw("HGETALL", PREFIX + "exec:{%s}:%s" % (bid, ex)))] * 2))
        if h.get("state") != "completed":
            bad.append((ex, h.get("state"), h.get("error")))
            continue
        n = psql("SELECT count(*) FROM result_rows r JOIN workflow_executions w ON w.id = r.execution_id"
                 " WHERE w.execution_id = :'p1'", ex)[0][0]
        if int(n) != int(h.get("row_count") or -1) or int(n) == 0:
            bad.append((ex, "rows", n, h.get("row_count")))
    return bad


def sim_creates(tag, since):
    """AMC executions amcsim holds whose SQL carries tag, per AMC instance id."""
    counts = {}
    accts = psql("SELECT i.instance_id, a.id, a.advertiser_id, a.marketplace_id, a.lwa_client_id, a.region"
                 " FROM instances i JOIN amc_accounts a ON a.id = i.account_id")
    for inst, acct, adv, mkt, client, region in accts:
        # tokens are cached per account and region; the instance is asked on its region's host
        cached = redis_raw("GET", PREFIX + "token:%s:%s" % (acct, region))
        if not cached or " " not in cached[0]:
            continue
        headers = {"Authorization": "Bearer " + cached[0].split(" ", 1)[1],
                   "Amazon-Advertising-API-ClientId": client,
                   "Amazon-Advertising-API-AdvertiserId": adv,
                   "Amazon-Advertising-API-MarketplaceId": mkt}
        path = "/amc/reporting/%s/workflowExecutions?minCreationTime=%s&includeWorkflow=true" % (inst, since)
        nxt = None
        while True:
            st, body = sim("GET", path + ("&nextToken=" + nxt if nxt else ""), headers=headers, region=region)
            if st != 200 or not body:
                counts[inst] = -1
                break
            for e in body.get("executions", []):
                if tag in (e.get("sqlQuery") or ""):
                    counts[inst] = counts.get(inst, 0) + 1
            nxt = body.get("nextToken")
            if not nxt:
                break
    return counts


# --- credentials at rest: encrypted, never plain, not echoed --------------------------------
cols = {r[0] for r in psql("SELECT column_name FROM information_schema.columns"
                           " WHERE table_name = 'amc_accounts'")}
check("lwa_refresh_token" not in cols and {"lwa_refresh_token_enc", "lwa_client_secret_enc"} <= cols,
      "amc_accounts has only encrypted credential columns", sorted(cols))
rows = psql("SELECT encode(lwa_refresh_token_enc, 'escape') FROM amc_accounts"
            " WHERE id = '10000000-0000-4000-8000-000000000001'")
check(rows and rows[0][0].startswith("v1") and "sim-northwind" not in rows[0][0],
      "seeded refresh token stored encrypted (v1 blob)", rows)
secret = "Atzr|faults-" + uuid.uuid4().hex
st, body, raw = api("POST", "/admin/accounts", {"account_name": "Faults Account", "advertiser_id": "ENTITYFAULTS",
                                                 "lwa_client_id": "cid", "lwa_refresh_token": secret,
                                                 "lwa_client_secret": "cs-" + secret})
check(st in (200, 201) and body["success"] and body["account"]["has_refresh_token"] is True,
      "admin creates an account with credentials", raw[:300])
check(secret.encode() not in raw, "credentials not echoed")
if st in (200, 201):
    rows = psql("SELECT encode(lwa_refresh_token_enc, 'hex'), encode(lwa_client_secret_enc, 'hex')"
                " FROM amc_accounts WHERE id = :'p1'", body["account"]["id"])
    plain_hex = secret.encode().hex()
    check(rows and rows[0][0] and plain_hex not in rows[0][0] and plain_hex not in rows[0][1]
          and len(rows[0][0]) == 2 * (len(secret) + 30),
          "API stored both secrets encrypted (AES-GCM length, no plaintext)", rows)
    dump = subprocess.run(["psql", os.environ["DATABASE_URL"], "-XAtc",
                           "SELECT amc_accounts::text FROM amc_accounts"],
                          capture_output=True, text=True).stdout
    check(secret not in dump, "no plain refresh token anywhere in amc_accounts")

# --- tokens: cached in Redis, one refresh per account across the fleet ---------------------
for k in redis_raw("KEYS", PREFIX + "token:*"):
    redis_raw("DEL", k)
sizes = log_sizes()
tag = "tok-" + uuid.uuid4().hex[:10]
bid = run_batch(tag, INSTANCES[:11], "token sharing")
final = wait_batch(bid, 120)
check(final is not None and final["status"] == "completed", "batch after dropping cached tokens completes",
      final and {k: final[k] for k in final if k != "executions"})
regions = dict(psql("SELECT DISTINCT a.id, a.region FROM instances i JOIN amc_accounts a ON a.id = i.account_id"
                    " WHERE i.id = ANY(:'p1'::uuid[])", "{" + ",".join(INSTANCES[:11]) + "}"))
accounts = sorted(regions)
for acct in accounts:
    # cached per account and region: the seed has NA, EU and FE accounts
    val = redis_raw("GET", PREFIX + "token:%s:%s" % (acct, regions[acct]))
    pttl = int(redis_raw("PTTL", PREFIX + "token:%s:%s" % (acct, regions[acct]))[0])
    check(val and re.fullmatch(r"\d+ \S+", val[0]) is not None and pttl > 0,
          "account %s: token cached in Redis with an expiry" % acct[-4:], (val and val[0][:14], pttl))
if RUN_DIR:
    gained = log_since(sizes)
    for acct in accounts:
        n = sum(len(re.findall(r"account %s: access token refreshed" % acct, t)) for t in gained.values())
        check(n == 1, "account %s refreshed exactly once across %d workers" % (acct[-4:], len(gained)), n)
    tokens = [redis_raw("GET", PREFIX + "token:%s:%s" % (a, regions[a]))[0].split(" ", 1)[1] for a in accounts]
    alltext = "".join(open(p, errors="replace").read() for p in worker_logs().values())
    check(not any(t in alltext for t in tokens) and "sim-northwind" not in alltext,
          "no access or refresh token in the worker logs")
else:
    print("ok - # SKIP log checks: RUN_DIR not set")

# --- result downloads (amcsim per-instance profiles): split files, a 403 on the first GET, an
# expired URL, a truncated file; each compared with the same query's rows without the fault ---
DL_SQL = ("SELECT campaign, device_type, SUM(impressions) AS impressions, {{tag}} AS tag FROM impressions "
          "GROUP BY campaign, device_type ORDER BY campaign, device_type")


def dl_rows(bid):
    """{instance uuid: sorted rows} from the results endpoint (None when it fails)."""
    st, body, _ = api("GET", "/workflows/batch/%s/results" % bid)
    if st != 200 or not body or not body.get("success"):
        return None
    agg = body["batch_results"]["aggregated_data"]
    cols = [c["name"] for c in agg["columns"]][2:]
    out = {}
    for r in agg["rows"]:
        out.setdefault(r["_instance_id"], []).append(tuple(r.get(c) for c in cols))
    return {k: sorted(v) for k, v in out.items()}, cols, agg["total_rows"] == len(agg["rows"])


def dl_stats(amc_id):
    return sim_instance_stats().get(amc_id, {})


def dl_batch(wf, ids, tag, name):
    st, body, raw = submit_paced(wf, ids, parameters={"tag": tag}, name=name)
    check(st in (200, 201) and body and body.get("success"), "submit " + name, raw[:300])
    return body["batch"]["batch_id"] if body and body.get("success") else None


st, _ = sim("GET", "/sim/profiles")
if st != 200:
    print("ok - # SKIP download fault checks: amcsim has no /sim/profiles (HTTP %s)" % st)
else:
    _acct, dl_inst = fleet_account("Faults downloads", 4)
    ids = [u for u, _ in dl_inst]
    split_i, first_i, ttl_i, trunc_i = dl_inst
    tag = "dl-" + uuid.uuid4().hex[:10]
    wf = create_workflow("faults downloads", DL_SQL, {})
    bid = dl_batch(wf, ids, tag, "downloads baseline")
    final = bid and wait_batch(bid, 60)
    check(final and final["status"] == "completed", "download baseline batch completes",
          final and final["status"])
    base = dl_rows(bid) if bid else None
    check(base and len(base[0]) == 4 and all(len(v) == 12 for v in base[0].values()) and base[2],
          "baseline: 12 rows per instance", base and {k: len(v) for k, v in base[0].items()})
    ok, why = invariant_ok(bid)
    check(ok, "counter invariant (download baseline)", why)
    before = {a: dl_stats(a) for _, a in dl_inst}
    try:
        sim_put("/sim/profiles/" + split_i[1], {"split_files": 3})
        sim_put("/sim/profiles/" + first_i[1], {"url_403_first": True})
        # the URL outlives its 1 s TTL while amcsim holds the download 2.5 s
        sim_put("/sim/profiles/" + ttl_i[1], {"url_ttl_s": 1, "hang_rate": 1, "hang_ms": 2500,
                                              "endpoints": ["download"]})
        sim_put("/sim/profiles/" + trunc_i[1], {"truncate_rate": 1})
        bid = dl_batch(wf, ids, tag, "download faults")
        # one truncated download and one expired URL, then the files are served whole again
        seen = wait_until(lambda: dl_stats(trunc_i[1]).get("truncated", 0) > before[trunc_i[1]].get("truncated", 0),
                          30, 0.02)
        sim_put("/sim/profiles/" + trunc_i[1], {"truncate_rate": 0})
        check(seen, "a truncated download was served")
        seen = wait_until(lambda: dl_stats(ttl_i[1]).get("s3_expired", 0) > before[ttl_i[1]].get("s3_expired", 0),
                          30, 0.02)
        sim_put("/sim/profiles/" + ttl_i[1], {"hang_rate": 0})
        check(seen, "an expired download URL was refused")
        final = bid and wait_batch(bid, 60)
    finally:
        for _, a in dl_inst:
            sim("DELETE", "/sim/profiles/" + a)
    check(final and final["status"] == "completed" and final["completed_instances"] == 4,
          "batch completes through split, 403-first, expired and truncated downloads",
          final and [(e.get("target_instance_id"), e["status"], e.get("error")) for e in final["executions"]])
    ok, why = invariant_ok(bid)
    check(ok, "counter invariant (download faults)", why)
    got = dl_rows(bid)
    after = {a: dl_stats(a) for _, a in dl_inst}
    d = lambda a, k: after[a].get(k, 0) - before[a].get(k, 0)
    for (u, a), what in zip(dl_inst, ("split into 3 files", "403 on first GET", "expired URL", "truncated file")):
        check(got and base and got[0].get(u) == base[0].get(u), "%s: archived rows equal the unfaulted run" % what,
              got and (len(got[0].get(u, [])), got[0].get(u, [])[:3], base[0].get(u, [])[:3]))
    check(got and base and got[1] == base[1] and not any(r[0] == "campaign" for v in got[0].values() for r in v),
          "one header: columns as before, no header row archived as data", got and got[1])
    check(d(split_i[1], "download") == 3 and d(split_i[1], "urls") == 1,
          "split: 3 files downloaded from one URL list", (d(split_i[1], "download"), d(split_i[1], "urls")))
    check(d(first_i[1], "s3_403_first") > 0 and d(first_i[1], "urls") > 1,
          "403 first: refused once, URLs re-requested", (d(first_i[1], "s3_403_first"), d(first_i[1], "urls")))
    check(d(ttl_i[1], "s3_expired") > 0 and d(ttl_i[1], "urls") > 1,
          "expired URL: URLs re-requested", (d(ttl_i[1], "s3_expired"), d(ttl_i[1], "urls")))
    check(d(trunc_i[1], "truncated") > 0 and d(trunc_i[1], "download") > 1,
          "truncated file: downloaded again", (d(trunc_i[1], "truncated"), d(trunc_i[1], "download")))

    # --- a year of daily rows (~250 KB) split in 3 files: libcurl hands each file over in
    # pieces that end inside records, and nothing may be added between them; then the same
    # files written without their last line break: taken at once when their ETag is their MD5,
    # fetched twice alike and then taken when it is a multipart ETag that proves nothing ---
    BIG_SQL = ("SELECT campaign, device_type, event_date, SUM(impressions) AS impressions, {{tag}} AS tag "
               "FROM impressions GROUP BY campaign, device_type, event_date "
               "ORDER BY campaign, device_type, event_date")
    big_wf = create_workflow("faults big downloads", BIG_SQL, {})
    big_u, big_a = split_i

    def big_rows(name):
        st, body, raw = submit_paced(big_wf, [big_u], name=name,
                                     parameters={"tag": tag, "startDate": "2024-01-01", "endDate": "2024-12-31"})
        check(st in (200, 201) and body and body.get("success"), "submit " + name, raw[:300])
        b = body["batch"]["batch_id"] if body and body.get("success") else None
        fin = b and wait_batch(b, 90)
        check(fin and fin["status"] == "completed", name + ": the batch completes",
              fin and [(e["status"], e.get("error")) for e in fin["executions"]])
        st, body, _ = api("GET", "/workflows/batch/%s/results?limit=10000" % b) if b else (0, None, b"")
        agg = body["batch_results"]["aggregated_data"] if st == 200 else None
        return agg and sorted(tuple(r.get(c["name"]) for c in agg["columns"][2:]) for r in agg["rows"])

    try:
        sim("DELETE", "/sim/profiles/" + big_a)
        whole = big_rows("big result in one file")
        check(whole and len(whole) == 4 * 3 * 366, "one file: a row per campaign, device and day of 2024",
              whole and len(whole))
        for profile, name, same, downloads, fetched in (
                ({"split_files": 3}, "big result in 3 files",
                 "3 files fetched in pieces: the same rows, none damaged or added", 3, "3 downloads"),
                ({"split_files": 3, "no_final_newline": True},
                 "big result in 3 files without final line breaks",
                 "files without their last line break: the same rows", 3,
                 "each file taken at once: its MD5 matches its ETag"),
            ({"split_files": 3, "no_final_newline": True, "multipart_etag": True},
                 "big result in 3 files without final line breaks, multipart ETags",
                 "files without their last line break, no MD5 to check: the same rows", 6,
                 "each file fetched twice, then taken")):
            sim_put("/sim/profiles/" + big_a, profile)
            n0 = dl_stats(big_a).get("download", 0)
            got_rows = big_rows(name)
            check(got_rows == whole, same, got_rows and (len(got_rows), [r for r in got_rows if r not in whole][:3]))
            n = dl_stats(big_a).get("download", 0) - n0
            check(n == downloads, fetched, n)
    finally:
        sim("DELETE", "/sim/profiles/" + big_a)

if not RUN_DIR:
    print("ok - # SKIP process-level checks: RUN_DIR not set")
    done()

stack_env = dict(os.environ)


def stack_start():
    r = subprocess.run([os.path.join(TOP, "scripts", "stack"), "start"], env=stack_env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0, r.stderr[-500:]


# --- SIGHUP: reload, keep running --------------------------------------------------------
sizes = log_sizes()
w2 = pid_of("worker2")
os.kill(w2, signal.SIGHUP)
deadline = time.time() + 10
reloaded = False
while time.time() < deadline and not reloaded:
    reloaded = "config reloaded" in log_since(sizes).get("worker2.log", "")
    time.sleep(0.1)
check(reloaded and pid_alive(w2), "SIGHUP reloads the config and the worker keeps running")

# --- SIGTERM mid-batch: jobs handed back, the other worker finishes -------------------------
host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
w1_id = host + "-w1"
since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5))
sizes = log_sizes()
tag = "term-" + uuid.uuid4().hex[:10]
# worker2 is paused while the batch is claimed, so worker1 surely holds jobs at SIGTERM
w2 = pid_of("worker2")
os.kill(w2, signal.SIGSTOP)
try:
    bid = run_batch(tag, INSTANCES[:11], "sigterm handback")
    deadline = time.time() + 10
    while time.time() < deadline and held_jobs(w1_id) < 11:
        time.sleep(0.05)
    time.sleep(0.5)	# let them reach AMC (created, then polling)
finally:
    os.kill(w2, signal.SIGCONT)
held = held_jobs(w1_id)
check(held > 0, "worker1 holds jobs before SIGTERM", held)
w1 = pid_of("worker1")
os.kill(w1, signal.SIGTERM)
deadline = time.time() + 15
while time.time() < deadline and pid_alive(w1):
    time.sleep(0.1)
check(not pid_alive(w1), "worker1 exits after SIGTERM within the grace period")
text = log_since(sizes).get("worker1.log", "")
check("stopped" in text and "handing the job back" in text, "worker1 handed its jobs back and stopped",
      text[-1500:])
check(held_jobs(w1_id) == 0, "worker1's processing list is empty after exit", held_jobs(w1_id))
final = wait_batch(bid, 120)
check(final is not None and final["status"] == "completed" and final["completed_instances"] == 11,
      "batch completes on the remaining worker", final and final["status"])
ok, why = invariant_ok(bid)
check(ok, "counter invariant after hand-back", why)
check(rows_match(bid) == [], "every execution archived with its rows", rows_match(bid))
creates = sim_creates(tag, since)
check(len(creates) == 11 and all(v == 1 for v in creates.values()),
      "each instance's AMC execution created exactly once", creates)
ok, err = stack_start()
check(ok and pid_alive(pid_of("worker1")), "worker1 restarted", err)

# --- PostgreSQL stop/start mid-batch: nothing lost -----------------------------------------
tag = "pg-" + uuid.uuid4().hex[:10]
bid = run_batch(tag, INSTANCES[:11], "pg outage")
deadline = time.time() + 20
while time.time() < deadline:
    h = dict(zip(*[iter(redis_raw("HGETALL", PREFIX + "batch:{%s}" % bid))] * 2))
    if int(h.get("running", 0) or 0) > 0:
        break
    time.sleep(0.05)
ok, err = pg_stop()
check(ok, "PostgreSQL stopped mid-batch", err)
time.sleep(4)
h = dict(zip(*[iter(redis_raw("HGETALL", PREFIX + "batch:{%s}" % bid))] * 2))
check(h.get("status") in ("running", "completed"), "batch keeps running in Redis during the outage",
      h.get("status"))
ok, err = pg_start()
check(ok, "PostgreSQL started again", err)
final = wait_batch(bid, 120)
check(final is not None and final["status"] == "completed" and final["completed_instances"] == 11,
      "batch completes across the PostgreSQL outage", final and {k: final[k] for k in final if k != "executions"})
deadline = time.time() + 30
bad = rows_match(bid)
while bad and time.time() < deadline:
    time.sleep(0.5)
    bad = rows_match(bid)
check(bad == [], "every execution's rows archived after the outage", bad)
ok, why = invariant_ok(bid)
check(ok, "counter invariant after the PostgreSQL outage", why)
check(pid_alive(pid_of("worker1")) and pid_alive(pid_of("worker2")), "both workers still running")

# --- AMC faults (amcsim profiles, when this amcsim has them): 429s, 5xx, lost creates -------
# 5xx hit the endpoints after the create only: a create answered 5xx is looked for on AMC for
# 30 s before it is sent again (ADOPT_WAIT_MS; test_exactly_once covers that path), and at
# rate 0.15 over 11 creates it swung this test from 40 to 110 s. Creates still meet lost
# answers (all instances) and 429s (the first four, whose overrides put create back in).
ALL_ENDPOINTS = ["create", "get", "list", "cancel", "urls"]
st, _ = sim("PUT", "/sim/profiles/default", {"rate_429": 0.2, "retry_after_s": 1, "rate_5xx": 0.15,
                                             "lost_create_rate": 0.3, "endpoints": ALL_ENDPOINTS[1:]},
            headers={"Content-Type": "application/json"})
if st != 200:
    print("ok - # SKIP AMC fault checks: amcsim has no /sim/profiles (HTTP %s)" % st)
    done()
amc429 = [r[0] for r in psql("SELECT instance_id FROM instances WHERE id = ANY(:'p1'::uuid[])",
                             "{%s}" % ",".join(INSTANCES[:4]))]
stats0 = sim_instance_stats()
try:
    for a in amc429:
        sim_put("/sim/profiles/" + a, {"endpoints": ALL_ENDPOINTS, "rate_5xx": 0})
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5))
    tag = "flt-" + uuid.uuid4().hex[:10]
    bid = run_batch(tag, INSTANCES[:11], "amc faults")
    states = set()
    deadline = time.time() + 150
    while time.time() < deadline:
        h = dict(zip(*[iter(redis_raw("HGETALL", PREFIX + "batch:{%s}" % bid))] * 2))
        if int(h.get("retry_wait", 0) or 0) > 0:
            states.add("retry_wait")
        if h.get("status") in ("completed", "partial", "failed", "cancelled"):
            break
        time.sleep(0.05)
finally:
    sim("DELETE", "/sim/profiles/default")
    for a in amc429:
        sim("DELETE", "/sim/profiles/" + a)
final = wait_batch(bid, 30)
check(final is not None and final["status"] == "completed" and final["completed_instances"] == 11,
      "batch completes through 429s, 5xx and lost create answers",
      final and [(e["execution_id"], e["status"], e.get("error")) for e in final["executions"]
                 if e["status"] != "completed"])
ok, why = invariant_ok(bid)
check(ok, "counter invariant after AMC faults", why)
check(rows_match(bid) == [], "every execution archived with its rows after AMC faults", rows_match(bid))
creates = sim_creates(tag, since)
check(len(creates) == 11 and all(v == 1 for v in creates.values()),
      "lost creates adopted, not re-sent: one AMC execution per instance", creates)
stats1 = sim_instance_stats()
sent = {k: sum(v.get(k, 0) for v in stats1.values()) - sum(v.get(k, 0) for v in stats0.values())
        for k in ("sent_429", "sent_5xx", "lost_creates")}
# (~50 requests at rates 0.15-0.3: the batch met no fault at all about once in 10^6 runs)
check(sum(sent.values()) > 0, "the batch met AMC faults (amcsim's counters)", sent)
print("# AMC faults sent: %s" % sent)
# 429 handling is probabilistic in amcsim (rate 0.2 over dozens of requests); report, do not fail
print("ok - # retry_wait %s during the fault batch" % ("seen" if states else "not sampled"))

done()
