"""rules.py - the checker's judgement: R1-R5 of docs/chaos.md applied to what collect.py
read (plus the quiescence wait's result and the sampler's findings). Each violation is a
(kind, example) under its rule; the report prints counts by rule and kind, and examples."""
import csv
import io
import re

B_TERMINAL = ("completed", "partial", "failed", "cancelled")
E_TERMINAL = ("completed", "failed", "cancelled")
# the campaign's {{tag}} literal in the SQL amcsim stored (fleet.SQL, load.tag_of)
TAG_RE = re.compile(r"'(c[0-9A-Za-z]+-[bw][0-9]+)' AS tag")


def _dict(x):
    return x if isinstance(x, dict) else {}     # cjson encodes an empty table as {}/[]


def _list(x):
    return x if isinstance(x, list) else []


class Findings:
    RULES = ("R1", "R2", "R3", "R4", "R5")
    EXAMPLES = 4

    def __init__(self):
        self.v = {r: {} for r in self.RULES}      # rule -> kind -> [count, examples]
        self.notes = []
        self.stats = {}

    def add(self, rule, kind, text, n=1):
        c = self.v[rule].setdefault(kind, [0, []])
        c[0] += n
        if text and len(c[1]) < self.EXAMPLES:
            c[1].append(text)

    def count(self, rule):
        return sum(c[0] for c in self.v[rule].values())

    def total(self):
        return sum(self.count(r) for r in self.RULES)


class View:
    """The stores' contents, indexed."""

    def __init__(self, data):
        self.pg_b = {b["batch_id"]: b for b in _list(data.get("batches"))}
        self.pg_e = {e["exec_id"]: e for e in _list(data.get("execs"))}
        red = _dict(data.get("redis"))
        self.r_b, self.r_e = {}, {}
        for b, h in _dict(red.get("batches")).items():
            self.r_b[b] = h
            for x in _list(h.get("execs")):
                self.r_e[x[0]] = {"batch_id": b, "state": x[1], "worker": x[2], "amc": x[3], "row_count": x[4],
                                  "finished_at": x[5], "instance": x[6], "account": x[7], "parameters": x[8]}
        self.running = _dict(red.get("running"))
        self.jobs = {w: _list(refs) for w, refs in _dict(red.get("jobs")).items()}
        self.leases = _dict(red.get("leases"))
        self.red = red
        self.ledger = _list(data.get("ledger"))
        self.by_amc = {x["workflowExecutionId"]: x for x in self.ledger}
        self.events = _list(data.get("events"))
        self.transitions = _list(data.get("transitions"))
        self.pg_rows = _dict(data.get("pg_rows"))

    def final(self, exec_id):
        """An execution's final state: PostgreSQL's (the durable record), else Redis's."""
        e = self.pg_e.get(exec_id) or {}
        return e.get("status") or (self.r_e.get(exec_id) or {}).get("state") or "?"

    def gave_up_ms(self, exec_id):
        """When amcbatch stopped wanting the execution: Redis's finished_at, else PostgreSQL's."""
        r = self.r_e.get(exec_id) or {}
        if r.get("finished_at"):
            return int(r["finished_at"])
        return (self.pg_e.get(exec_id) or {}).get("finished_ms")


def _where(v, exec_id):
    e = v.pg_e.get(exec_id) or {}
    r = v.r_e.get(exec_id) or {}
    return "%s/%s on %s" % (e.get("batch_id") or r.get("batch_id"), exec_id, e.get("instance") or r.get("instance"))


# ---- R1 ------------------------------------------------------------------------------

def r1(f, v, open_batches, subs):
    for b in sorted(open_batches):
        h, p = v.r_b.get(b) or {}, v.pg_b.get(b) or {}
        states = {}
        for x in _list(h.get("execs")):
            if x[1] not in E_TERMINAL:
                states[x[1]] = states.get(x[1], 0) + 1
        pg_open = sum(1 for e in v.pg_e.values() if e["batch_id"] == b and e["status"] not in E_TERMINAL)
        f.add("R1", "batch not terminal after the bound",
              "%s: Redis %s (open execs %s), PostgreSQL %s (%d open)" % (
                  b, h.get("status", "missing"), states or "-", p.get("status", "missing"), pg_open))
    for s in subs:
        if s.batch_id and s.batch_id not in v.pg_b and s.batch_id not in v.r_b:
            f.add("R1", "accepted batch lost", "%s (%s): accepted, in neither PostgreSQL nor Redis" % (s.batch_id, s.tag))


# ---- R2 ------------------------------------------------------------------------------

def attribute(v, subs):
    """amc id -> (exec id or None, how): the marker line, else the campaign's tag and the
    instance, else the id recorded by PostgreSQL or Redis."""
    tags = {}
    for b in v.pg_b.values():
        if b.get("tag"):
            tags.setdefault(b["tag"], set()).add(b["batch_id"])
    for e in v.r_e.values():
        m = re.search(r'"tag"\s*:\s*"([^"]+)"', e.get("parameters") or "")
        if m:
            tags.setdefault(m.group(1), set()).add(e["batch_id"])
    for s in subs:
        for bid in (s.batch_id, s.dup_batch_id):
            if bid:
                tags.setdefault(s.tag, set()).add(bid)
    slot = {}
    for eid, e in list(v.pg_e.items()) + list(v.r_e.items()):
        slot.setdefault((e["batch_id"], e["instance"]), eid)
    recorded = {}
    for eid, e in list(v.r_e.items()) + list(v.pg_e.items()):
        if e.get("amc"):
            recorded[e["amc"]] = eid
    out = {}
    for x in v.ledger:
        amc = x["workflowExecutionId"]
        m = x.get("marker")
        if m:
            eid = m.get("execId")
            out[amc] = (eid if eid in v.pg_e or eid in v.r_e else None, "marker")
            continue
        t = TAG_RE.search(x.get("sqlQuery") or "")
        if t and tags.get(t.group(1)):
            owners = [slot[(b, x["instanceId"])] for b in sorted(tags[t.group(1)]) if (b, x["instanceId"]) in slot]
            if owners:
                pick = recorded.get(amc) if recorded.get(amc) in owners else owners[0]
                out[amc] = (pick, "tag")
                continue
        out[amc] = (recorded.get(amc), "recorded") if amc in recorded else (None, "none")
    return out, tags


def r2(f, v, subs, slack_ms):
    owner, tags = attribute(v, subs)
    per = {}
    how = {}
    for x in v.ledger:
        eid, h = owner[x["workflowExecutionId"]]
        how[h] = how.get(h, 0) + 1
        if eid is None:
            f.add("R2", "AMC execution not attributable",
                  "%s on %s, created %s, %s%s" % (x["workflowExecutionId"], x["instanceId"], x["createTime"],
                                                  x["status"], " (marker names an unknown execution)" if h == "marker" else ""))
            continue
        per.setdefault(eid, []).append(x)
    f.stats["attribution"] = how
    for eid, xs in sorted(per.items()):
        if len(xs) > 1:
            f.add("R2", "more than one AMC execution",
                  "%s (final %s): %d AMC executions: %s" % (_where(v, eid), v.final(eid), len(xs), ", ".join(
                      "%s %s%s" % (x["workflowExecutionId"][:8], x["status"],
                                   " cancel-asked" if x["cancelRequests"] else "") for x in xs)))
    for x in v.ledger:
        eid = owner[x["workflowExecutionId"]][0]
        if x["status"] in ("PENDING", "RUNNING"):
            f.add("R2", "left running on AMC",
                  "%s on %s still %s at the end (amcbatch: %s %s, cancel requests %d)" % (
                      x["workflowExecutionId"], x["instanceId"], x["status"], eid, eid and v.final(eid),
                      x["cancelRequests"]))
            continue
        if eid is None or len(per.get(eid, [])) != 1 or v.final(eid) not in ("failed", "cancelled"):
            continue
        gave_up = v.gave_up_ms(eid)
        if x["status"] == "SUCCEEDED" and not x["cancelRequests"] and gave_up and x["endMs"] > gave_up + slack_ms:
            f.add("R2", "unwanted execution not cancelled on AMC",
                  "%s: %s, but its AMC execution %s ran on to SUCCEEDED %.1f s later, no cancel asked" % (
                      _where(v, eid), v.final(eid), x["workflowExecutionId"], (x["endMs"] - gave_up) / 1000.0))
    for tag, bids in sorted(tags.items()):
        if len(bids) > 1:
            f.add("R2", "one submission made several batches",
                  "tag %s (Idempotency-Key retried): batches %s" % (tag, ", ".join(sorted(bids))))


# ---- R3 ------------------------------------------------------------------------------

def _norm(value, numeric):
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if numeric or isinstance(value, (int, float)):
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            pass
    return str(value)


def rows_differ(archived, csv_text):
    """'' when the archived rows equal the result file's rows, else why not."""
    cols = [c.get("name") for c in _list(archived.get("columns"))]
    numeric = {c.get("name"): c.get("type") == "number" for c in _list(archived.get("columns"))}
    records = list(csv.reader(io.StringIO(csv_text or "")))
    header, body = (records[0], records[1:]) if records else ([], [])
    if cols != header:
        return "columns %s, the file has %s" % (cols, header)
    got = sorted(tuple(_norm(r.get(c), numeric[c]) for c in cols) for r in _list(archived.get("rows")))
    want = sorted(tuple(_norm(v, numeric[c]) for c, v in zip(cols, rec)) for rec in body)
    if got != want:
        extra = [r for r in got if r not in want][:1]
        missing = [r for r in want if r not in got][:1]
        return "rows differ (archived only %s, file only %s)" % (extra, missing)
    return ""


def r3(f, v, owner_of):
    for eid, e in sorted(v.pg_e.items()):
        if e["status"] != "completed":
            if e["rows"]:
                f.add("R3", "rows kept for a %s execution" % e["status"], "%s: %d rows" % (_where(v, eid), e["rows"]))
            continue
        x = v.by_amc.get(e.get("amc") or "")
        if not e.get("amc"):
            f.add("R3", "completed without an AMC execution id", _where(v, eid))
        elif x is None:
            f.add("R3", "archived an AMC execution amcsim never stored", "%s: %s" % (_where(v, eid), e["amc"]))
        elif x["status"] != "SUCCEEDED":
            f.add("R3", "completed, its AMC execution did not succeed", "%s: %s is %s" % (_where(v, eid), e["amc"], x["status"]))
        else:
            if e["rows"] != x["rows"]:
                f.add("R3", "archived rows != AMC's rows", "%s: %d archived, AMC produced %s" % (_where(v, eid), e["rows"], x["rows"]))
            if e.get("row_count") is not None and e["row_count"] != e["rows"]:
                f.add("R3", "row_count != archived rows", "%s: row_count %s, %d rows" % (_where(v, eid), e["row_count"], e["rows"]))
            why = rows_differ(v.pg_rows.get(eid) or {}, x.get("csv"))
            if why:
                f.add("R3", "archived rows differ from AMC's file", "%s: %s" % (_where(v, eid), why))
            if owner_of.get(e["amc"], (eid,))[0] not in (eid, None):
                f.add("R3", "archived another execution's AMC result",
                      "%s archived %s, which was made for %s" % (_where(v, eid), e["amc"], owner_of[e["amc"]][0]))
    for t in v.transitions:
        if t["kind"] == "exec" and t["old"] == "completed":
            f.add("R3", "completed execution changed state (PostgreSQL)", "%s: completed -> %s at %s" % (t["id"], t["new"], t["at"]))
        elif t["kind"] == "exec":
            f.add("R3", "failed/cancelled execution changed state (PostgreSQL)",
                  "%s: %s -> %s at %s" % (t["id"], t["old"], t["new"], t["at"]))
        elif t["kind"] == "batch":
            f.add("R3", "batch left a terminal status (PostgreSQL)", "%s: %s -> %s at %s" % (t["id"], t["old"], t["new"], t["at"]))
    seen = {}
    for eid_, typ, state, ids in v.events:
        for eid in (ids or "").split():
            if seen.get(eid) == "completed" and state != "completed":
                f.add("R3", "completed execution changed state (Redis events)", "%s: completed -> %s (%s, event %s)" % (eid, state, typ, eid_))
            if state in E_TERMINAL and seen.get(eid) != "completed":
                seen[eid] = state


# ---- R4 ------------------------------------------------------------------------------

def _i(h, k):
    try:
        return int(h.get(k) or 0)
    except ValueError:
        return -1


def r4(f, v, sampler):
    names = ("pending", "queued", "running", "retry_wait", "completed", "failed", "cancelled")
    for b in sorted(set(v.pg_b) | set(v.r_b)):
        p, h = v.pg_b.get(b), v.r_b.get(b)
        if h is None:
            # a terminal batch Redis does not hold (cancelled through PostgreSQL after Redis
            # lost it with the AOF tail, or expired by a retention) is served from PostgreSQL:
            # nothing disagrees. An open one is a batch lost (R1 sees it too).
            if p["status"] not in B_TERMINAL:
                f.add("R4", "batch in PostgreSQL, not in Redis", "%s (PostgreSQL: %s)" % (b, p["status"]))
            continue
        if p is None:
            f.add("R4", "batch in Redis, not in PostgreSQL", "%s (Redis: %s)" % (b, h.get("status")))
            continue
        n = {k: _i(h, k) for k in names}
        total = _i(h, "total")
        if sum(n.values()) != total or (n["completed"] + n["failed"] + n["cancelled"] == total) != (h.get("status") in B_TERMINAL):
            f.add("R4", "counter invariant broken (Redis)", "%s: status %s, total %d, %s" % (b, h.get("status"), total, n))
        counted = {}
        for x in _list(h.get("execs")):
            counted[x[1]] = counted.get(x[1], 0) + 1
        if any(counted.get(k, 0) != n[k] for k in names) or len(_list(h.get("execs"))) != total:
            f.add("R4", "Redis counters != its exec hashes", "%s: counters %s, exec states %s" % (b, n, counted))
        if h.get("status") != p["status"]:
            f.add("R4", "batch status differs", "%s: Redis %s, PostgreSQL %s" % (b, h.get("status"), p["status"]))
        if (n["completed"], n["failed"], total) != (p["completed"], p["failed"], p["total"]):
            f.add("R4", "batch counts differ", "%s: Redis completed/failed/total %d/%d/%d, PostgreSQL %d/%d/%d" % (
                b, n["completed"], n["failed"], total, p["completed"], p["failed"], p["total"]))
    for eid in sorted(set(v.pg_e) | set(v.r_e)):
        p, r = v.pg_e.get(eid), v.r_e.get(eid)
        if p is None or r is None:
            if (p or r)["batch_id"] in v.pg_b and (p or r)["batch_id"] in v.r_b:
                f.add("R4", "execution in one store only", "%s: %s" % (_where(v, eid), "PostgreSQL only" if r is None else "Redis only"))
            continue
        if p["status"] != r["state"]:
            f.add("R4", "execution state differs", "%s: Redis %s, PostgreSQL %s" % (_where(v, eid), r["state"], p["status"]))
        elif p["status"] == "completed" and r["row_count"] not in ("", str(p["rows"])):
            f.add("R4", "row count differs", "%s: Redis %s, PostgreSQL %d" % (_where(v, eid), r["row_count"], p["rows"]))
    if sampler is not None and sampler.n_counters:
        f.add("R4", "counter invariant broken during the run", "", sampler.n_counters)
        for t, text in sampler.counters:
            f.add("R4", "counter invariant broken during the run", "t+%.1fs %s" % (t, text), 0)


# ---- R5 ------------------------------------------------------------------------------

def r5(f, v, sampler, slot_mismatches):
    counted = {}
    for eid, r in v.r_e.items():
        if r["state"] == "running":
            for k in ("instance:" + r["instance"] if r["instance"] else None, "account:" + r["account"] if r["account"] else None):
                if k:
                    counted[k] = counted.get(k, 0) + 1
            w = r["worker"]
            ref = "%s:%s" % (r["batch_id"], eid)
            if not w or int(v.leases.get(w, -2)) <= 0 or ref not in v.jobs.get(w, []):
                f.add("R5", "running without a live holder", "%s: worker %r, lease %s ms, in its jobs list: %s" % (
                    _where(v, eid), w, v.leases.get(w, "none"), ref in v.jobs.get(w, [])))
    for text in slot_mismatches({k: int(x) for k, x in v.running.items()}, counted):
        f.add("R5", "cap slot not matching running executions", text)
    for w, refs in sorted(v.jobs.items()):
        for ref in refs:
            eid = ref.split(":", 1)[-1]
            r = v.r_e.get(eid) or {}
            if r.get("state") != "running" or r.get("worker") != w:
                f.add("R5", "jobs list holds a ref it does not run", "worker %s: %s (exec %s, holder %r)" % (
                    w, ref, r.get("state", "missing"), r.get("worker")))
    if sampler is not None and sampler.n_slots:
        f.add("R5", "cap slot not matching running executions during the run", "", sampler.n_slots)
        for t, text in sampler.slots:
            f.add("R5", "cap slot not matching running executions during the run", "t+%.1fs %s" % (t, text), 0)
    left = []
    if v.red.get("retry"):
        left.append("%s refs in P retry" % v.red["retry"])
    if v.red.get("queue"):
        left.append("%s batches in the ring P queue" % v.red["queue"])
    parked = {k: n for k, n in _dict(v.red.get("parked")).items() if n}
    if parked:
        left.append("%d non-empty parked lists" % len(parked))
    if left:
        f.notes.append("left in Redis (not a rule): " + ", ".join(left))


def evaluate(data, subs, open_batches, sampler, slack_ms, slot_mismatches):
    f = Findings()
    v = View(data)
    r1(f, v, open_batches, subs)
    owner, _ = attribute(v, subs)
    r2(f, v, subs, slack_ms)
    r3(f, v, owner)
    r4(f, v, sampler)
    r5(f, v, sampler, slot_mismatches)
    amc = {}
    for x in v.ledger:
        amc[x["status"]] = amc.get(x["status"], 0) + 1
    execs = {}
    for e in v.pg_e.values():
        execs[e["status"]] = execs.get(e["status"], 0) + 1
    batches = {}
    for b in v.pg_b.values():
        batches[b["status"]] = batches.get(b["status"], 0) + 1
    f.stats.update(amc=amc, execs=execs, batches=batches, n_execs=len(v.pg_e), n_amc=len(v.ledger),
                   n_batches=len(v.pg_b))
    return f
