"""CSV export (GET /workflows/batch/{b}/results.csv): RFC 4180 rows that round-trip values with
commas, quotes and newlines exactly, the same rows as the JSON results endpoint, header,
Content-Disposition, chunked streaming of a large export, and the owner check; plus the event
stream (SSE) of a batch and the static web UI served at /."""
import csv
import http.client
import io
import json
import urllib.parse
import uuid

from lib import (INSTANCES, TOKEN, URL, api, check, create_workflow, done, require_stack,
                 same_csv_value, submit, wait_batch)

require_stack()
u = urllib.parse.urlsplit(URL)


def get(path, token=TOKEN, headers=None):
    """Raw GET over http.client: (status, headers dict lower-cased, body bytes)."""
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, body


def json_rows(bid):
    rows, off = [], 0
    while True:
        st, body, raw = api("GET", "/workflows/batch/%s/results?limit=1000&offset=%d" % (bid, off))
        if st != 200:
            raise RuntimeError("results: %s %s" % (st, raw[:300]))
        agg = body["batch_results"]["aggregated_data"]
        rows += agg["rows"]
        off += len(agg["rows"])
        if not agg["rows"] or off >= agg["total_rows"]:
            return [c["name"] for c in agg["columns"]], rows


# --- hostile values: commas, quotes, CR/LF and LF newlines, leading spaces, unicode
hostile = 'a,b "quoted", \'single\'\nsecond line\r\nthird; ünïcødé ✓'
wf = create_workflow(
    "Export: Hostile / Values!",
    "SELECT campaign, SUM(impressions) AS impressions, ROUND(SUM(spend), 2) AS spend, "
    "{{label}} AS label, NULL AS nothing FROM impressions GROUP BY campaign ORDER BY campaign",
    {"label": "x"})
st, body, raw = submit(wf, INSTANCES[:3], parameters={"label": hostile}, name="export test")
check(st in (200, 201) and body and body.get("success"), "submit the export batch", raw[:300])
bid = body["batch"]["batch_id"]
final = wait_batch(bid, 120)
check(final is not None and final["status"] == "completed", "export batch completed", final)

cols, rows = json_rows(bid)
st, h, data = get("/workflows/batch/%s/results.csv" % bid)
check(st == 200, "CSV export 200", (st, data[:300]))
check(h.get("content-type", "").startswith("text/csv"), "Content-Type text/csv", h)
check(h.get("transfer-encoding", "").lower() == "chunked" and "content-length" not in h,
      "CSV is streamed chunked", h)
disp = h.get("content-disposition", "")
check(disp == 'attachment; filename="%s-export-hostile-values.csv"' % bid,
      "Content-Disposition names batch and workflow", disp)
text = data.decode("utf-8")
check(text.startswith("_instance_name,_instance_id,campaign,impressions,spend,label,nothing\r\n"),
      "CSV header line", text[:200])
parsed = list(csv.reader(io.StringIO(text, newline="")))
check(parsed[0] == cols, "CSV header equals the JSON columns", (parsed[0], cols))
body_rows = parsed[1:]
check(len(body_rows) == len(rows) and len(rows) > 3, "same number of rows as JSON", (len(body_rows), len(rows)))
mismatch = [(c, j) for c, j in zip(body_rows, rows)
            if len(c) != len(cols) or not all(same_csv_value(j[cols[i]], c[i]) for i in range(len(cols)))]
check(not mismatch, "every CSV row equals its JSON row, in order", mismatch[:2])
check(all(r[cols.index("label")] == hostile for r in body_rows),
      "commas, quotes and newlines round-trip exactly", body_rows[:1])
check(all(r[cols.index("nothing")] == "" for r in body_rows), "SQL NULL is an empty field")
check(text.endswith("\r\n") and "\r\n" in text, "CRLF record separators")

# --- owner check, unknown and malformed ids, no token
email = "export-%s@example.com" % uuid.uuid4().hex[:8]
st, body, raw = api("POST", "/admin/users", {"email": email, "role": "member"})
member = body["token"] if st in (200, 201) and body else None
check(member is not None, "a member to test the owner check", raw[:200])
st, h, data = get("/workflows/batch/%s/results.csv" % bid, token=member)
check(st == 404 and json.loads(data)["error"]["code"] == "batch_not_found",
      "another user's batch is 404", (st, data[:200]))
st, h, data = get("/workflows/batch/batch_00000000/results.csv")
check(st == 404, "unknown batch 404", st)
st, h, data = get("/workflows/batch/..%2f..%2fetc/results.csv")
check(st == 404, "malformed batch id 404", st)
st, h, data = get("/workflows/batch/%s/results.csv" % bid, token="")
check(st == 401, "CSV without a token 401", st)

# --- a large export stays a stream: 3 instances x 30000 rows, read chunk by chunk
big = create_workflow("export big", "SELECT g AS n, 'row ' || g || ', \"x\"' AS txt FROM generate_series(1, 30000) g")
st, body, raw = submit(big, INSTANCES[:3], name="export big")
bbid = body["batch"]["batch_id"] if st in (200, 201) else None
final = wait_batch(bbid, 180) if bbid else None
check(final is not None and final["status"] == "completed", "large batch completed", final)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
c.request("GET", "/workflows/batch/%s/results.csv" % bbid, headers={"Authorization": "Bearer " + TOKEN})
r = c.getresponse()
check(r.getheader("Transfer-Encoding", "").lower() == "chunked", "large export chunked", r.getheaders())
n, reads, first, last = 0, 0, None, None
for rec in csv.reader(io.TextIOWrapper(r, encoding="utf-8", newline="")):
    n += 1
    if n == 2:
        first = rec
    last = rec
c.close()
check(n == 1 + 90000, "large export has every row", n)
check(first is not None and first[2:] == ["1", 'row 1, "x"'] and last[2:] == ["30000", 'row 30000, "x"'],
      "large export rows in order", (first, last))
_, jrows = api("GET", "/workflows/batch/%s/results?limit=1&offset=89999" % bbid)[1], None
check(_ is not None and _["batch_results"]["aggregated_data"]["total_rows"] == 90000,
      "JSON total_rows matches the CSV", _ and _["batch_results"]["aggregated_data"]["total_rows"])

# --- results pages by cursor: pages that cross executions agree with the offset pages
def page(q):
    st, body, raw = api("GET", "/workflows/batch/%s/results?%s" % (bbid, q))
    return st, (body["batch_results"]["aggregated_data"] if st == 200 else body)


st, a = page("limit=7000&offset=25000")
check(st == 200 and a["next_cursor"] is not None and len(a["rows"]) == 7000,
      "a page crossing two executions has a next_cursor", (st, a.get("next_cursor")))
st, b = page("limit=7000&cursor=" + a["next_cursor"])
st2, b2 = page("limit=7000&offset=32000")
check(st == st2 == 200 and b["rows"] == b2["rows"] and b["rows"][0]["n"] == 2001,
      "the cursor's page is the offset's page", (st, st2, b["rows"][:1], b2["rows"][:1]))
st, z = page("limit=5000&offset=85000")
check(st == 200 and len(z["rows"]) == 5000 and z["next_cursor"] is None and z["rows"][-1]["n"] == 30000,
      "the last page has no next_cursor", (st, z.get("next_cursor")))
st, e = page("limit=10&offset=90000")
check(st == 200 and e["rows"] == [] and e["total_rows"] == 90000, "a page past the end is empty", st)
for bad in ("nope", "exec_00000000:1", a["next_cursor"].split(":")[0] + ":0"):
    st, err = page("limit=10&cursor=" + bad)
    check(st == 400 and err["error"]["field"] == "cursor", "bad cursor 400: " + bad, (st, err))

# --- SSE: a finished batch gives its status then end, and closes; ?token= works
st, h, data = get("/workflows/batch/%s/events?token=%s" % (bid, TOKEN), token="")
events = [blk for blk in data.decode().split("\n\n") if blk.strip()]
check(st == 200 and h.get("content-type", "").startswith("text/event-stream"), "SSE content type", (st, h))
check(len(events) == 1 and events[0].startswith("event: status\ndata: "), "SSE status event", events)
if events:
    ev = json.loads(events[0].split("data: ", 1)[1])
    check(ev.get("batch_id") == bid and ev.get("status") == "completed", "SSE status is the batch_status", ev)
st, h, data = get("/workflows/batch/%s/events?token=nope" % bid, token="")
check(st == 401, "SSE with a bad token 401", st)
st, h, data = get("/workflows/batch/%s/events" % bid, token=member)
check(st == 404, "SSE on another user's batch 404", st)

# --- SSE on a running batch: progress events, then end
slow = create_workflow("export slow", "SELECT count(*) AS n FROM impressions")
st, body, raw = submit(slow, INSTANCES[3:6], name="sse test")
sbid = body["batch"]["batch_id"]
c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
c.request("GET", "/workflows/batch/%s/events" % sbid, headers={"Authorization": "Bearer " + TOKEN})
r = c.getresponse()
data = r.read().decode()
c.close()
names = [blk.split("\n", 1)[0] for blk in data.split("\n\n") if blk.startswith("event:")]
check(names[0] == "event: status" and names[-1] == "event: end", "SSE starts with status, ends with end", names)
ends = [json.loads(blk.split("data: ", 1)[1]) for blk in data.split("\n\n") if blk.startswith("event: end")]
check(ends and ends[-1]["status"] == "completed", "SSE end carries the final status", ends)
progs = [json.loads(blk.split("data: ", 1)[1]) for blk in data.split("\n\n") if blk.startswith("event: progress")]
check(all(p["completed"] + p["failed"] + p["cancelled"] <= p["total"] for p in progs) and
      (not progs or progs[-1]["completed"] == 3), "SSE progress counters", progs[-3:])

# --- the web UI
st, h, data = get("/", token="")
check(st == 200 and h.get("content-type", "").startswith("text/html") and b"app.js" in data,
      "GET / serves index.html", (st, h.get("content-type")))
check("etag" in h and "content-security-policy" in h, "index has ETag and CSP", h)
st2, h2, _ = get("/", token="", headers={"If-None-Match": h.get("etag", "")})
check(st2 == 304, "If-None-Match revalidates to 304", st2)
st, h, data = get("/app.js", token="")
check(st == 200 and h.get("content-type", "").startswith("text/javascript"), "app.js as JavaScript", h)
st, h, data = get("/app.css", token="")
check(st == 200 and h.get("content-type", "").startswith("text/css"), "app.css as CSS", h)
for bad in ("/..%2fMakefile.am", "/%2e%2e/README.md", "/.gitignore", "/nope.js", "/web/app.js"):
    st, h, data = get(bad, token="")
    check(st == 404 and h.get("content-type", "").startswith("application/json"),
          "no file outside web_root: " + bad, (st, data[:100]))
done()
