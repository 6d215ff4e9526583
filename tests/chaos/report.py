"""report.py - the campaign's one table: faults injected by kind, batches, executions, the
quiescence wait, violations by rule (with a few examples each) and the seed to replay.
In TAP mode (the suite) every line is a "# " comment, followed by one ok / not ok line per
rule, as tests/integration/lib.py's check() prints them."""
import schedule

RULE_TITLES = {
    "R1": "every batch terminal within the bound",
    "R2": "one AMC execution per instance and batch; unwanted ones cancelled",
    "R3": "every row archived exactly once; completed stays completed",
    "R4": "Redis and PostgreSQL agree; counter invariant",
    "R5": "idle: cap slots free, no stale job refs, no holder-less running exec",
}
W = 100


def _counts(d):
    return ", ".join("%s %d" % (k, n) for k, n in sorted(d.items(), key=lambda x: -x[1])) or "none"


def lines(c, findings, fault_entries, skip_reasons):
    """c: the campaign's facts (seed, seconds, workers, ...). Returns the table's lines."""
    out = []
    rule = "-" * W
    out.append(rule)
    out.append("fault campaign  seed %s, %.0f s of faults, %d instances in %d accounts, %d workers%s" % (
        c["seed"], c["seconds"], c["instances"], c["accounts"], c["workers"],
        " + 1 in a network namespace" if c["netns"] else ""))
    out.append(rule)
    out.append("%-34s %8s  %s" % ("fault kind", "injected", "notes"))
    by = {}
    for t, kind, target, note, skipped in fault_entries:
        e = by.setdefault(kind, [0, 0, set()])
        e[1 if skipped else 0] += 1
        if not skipped:
            e[2].add(target)
    for kind in schedule.FAULT_KINDS:
        n, skipped, targets = by.get(kind, [0, 0, set()])
        note = ("targets " + ", ".join(sorted(targets))) if targets and kind.startswith(("worker", "sigterm")) else ""
        if kind in skip_reasons:
            note = "not possible here (%s)%s" % (skip_reasons[kind], "; %d skipped" % skipped if skipped else "")
        elif skipped:
            note = (note + "; " if note else "") + "skipped %d (see the fault log)" % skipped
        out.append("  %-32s %8d  %s" % (kind, n, note))
    out.append("  %-32s %8d" % ("total", sum(v[0] for v in by.values())))
    out.append(rule)
    s = findings.stats
    subs = c["subs"]
    refused = [x for x in subs if not x.batch_id]
    out.append("%-34s %s" % ("batches", "%d submitted (+%d warm-up), %d accepted, %d not accepted, %d cancelled by the campaign" % (
        len(subs), c["warmup"], len(subs) - len(refused), len(refused), sum(1 for x in subs if x.cancel is not None))))
    out.append("%-34s %s" % ("  final (PostgreSQL)", _counts(s.get("batches", {}))))
    out.append("%-34s %s" % ("executions (amcbatch)", "%d: %s" % (s.get("n_execs", 0), _counts(s.get("execs", {})))))
    out.append("%-34s %s" % ("executions (AMC, amcsim's ledger)", "%d: %s" % (s.get("n_amc", 0), _counts(s.get("amc", {})))))
    out.append("%-34s %s" % ("  attributed by", _counts(s.get("attribution", {}))))
    out.append("%-34s %s" % ("quiet after the faults", c["quiet"]))
    out.append("%-34s %s" % ("Redis sampled during the run", "%d times (%d while Redis was down)" % (c["samples"], c["sample_failures"])))
    out.append(rule)
    out.append("%-70s %8s" % ("violations by rule", "count"))
    for r in findings.RULES:
        out.append("%-70s %8d" % ("%s %s" % (r, RULE_TITLES[r]), findings.count(r)))
        for kind, (n, examples) in sorted(findings.v[r].items(), key=lambda x: -x[1][0]):
            out.append("     %-65s %8d" % (kind, n))
            for e in examples:
                out.append("         e.g. " + e[:W * 3])
    for n in findings.notes:
        out.append("note: " + n)
    out.append(rule)
    out.append("%-70s %8d" % ("total violations (must be 0)", findings.total()))
    out.append("seed %s  replay: %s" % (c["seed"], c["replay"]))
    out.append("logs: %s" % c["run_dir"])
    out.append(rule)
    return out


def print_table(c, findings, fault_entries, skip_reasons, tap):
    for line in lines(c, findings, fault_entries, skip_reasons):
        print(("# " + line) if tap else line)
    if tap:
        for r in findings.RULES:
            n = findings.count(r)
            print("%s - %s %s%s" % ("ok" if n == 0 else "not ok", r, RULE_TITLES[r],
                                     "" if n == 0 else ": %d violations (seed %s)" % (n, c["seed"])))
