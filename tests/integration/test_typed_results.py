"""Typed result tables (sql/016): an archived execution's rows land in
amcbatch_results.<execution id> with bigint / numeric / date / text columns, which an analyst
role reads with their types (and only its own user's, RLS); mixed columns fall back to text
and the API still serves "5" as a string; a 0-row result is an empty table and an empty page;
hostile column names (empty, duplicated, > 63 bytes, quotes, "row_number") keep their names in
row_data and result_columns; the worker's own archiver (tests/tools/archiveload) on a file
COPY would read otherwise (an empty line, invalid UTF-8) takes the parsed path; a duplicate
archive attempt is refused and leaves the one table; no table outlives its execution."""
import json
import os
import re
import subprocess
import tempfile
import uuid

from lib import (DB, INSTANCES, api, check, create_workflow, done, psql, require_stack, submit,
                 wait_batch)

require_stack()
su = re.sub(r"//[^@/]*@", "//postgres@", DB)
ADMIN = psql("SELECT user_id FROM api_tokens ORDER BY created_at LIMIT 1")[0][0]


def results(bid):
    st, body, raw = api("GET", "/workflows/batch/%s/results?limit=1000" % bid)
    assert st == 200, raw[:300]
    return body["batch_results"]["aggregated_data"]


def orphans():
    """Tables in amcbatch_results that no execution names, and names with no table."""
    return psql("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'amcbatch_results' AND c.relkind = 'r'"
                " AND NOT EXISTS (SELECT 1 FROM workflow_executions e"
                "                 WHERE e.result_table = 'amcbatch_results.' || c.relname)"
                " UNION ALL SELECT result_table FROM workflow_executions"
                " WHERE result_table IS NOT NULL AND to_regclass(result_table) IS NULL")


# ---- typed columns through the whole pipeline (amcsim runs the SQL on PostgreSQL) ----
SQL = ("SELECT campaign, event_date AS day, SUM(impressions) AS impressions, ROUND(SUM(spend), 2) AS spend,"
       " CASE WHEN campaign LIKE 'Retargeting%' THEN 'n/a' ELSE '5' END AS mixed,"
       " 1 AS \"dup\", 2 AS \"dup\", 'q' AS \"we\"\"ird, name\""
       " FROM impressions WHERE campaign <> {{skip}} GROUP BY campaign, event_date ORDER BY campaign, event_date")
wf = create_workflow("typed results", SQL, {"skip": "none"})
st, body, raw = submit(wf, INSTANCES[:2], parameters={"skip": "none"}, name="typed")
check(st == 201, "submit a typed batch", raw[:300])
bid = body["batch"]["batch_id"]
final = wait_batch(bid, 120)
check(final is not None and final["status"] == "completed", "typed batch completed", final)
ex = psql("SELECT e.execution_id, e.result_table, e.row_count, e.result_columns FROM workflow_executions e"
          " JOIN batch_executions b ON b.id = e.batch_execution_id WHERE b.batch_id = :'p1'"
          " ORDER BY e.execution_id", bid)
cols = json.loads(ex[0][3])
types = {c["name"]: (c["type"], c["sql_type"]) for c in cols}
check(types.get("impressions") == ("number", "bigint") and types.get("day") == ("string", "date")
      and types.get("spend") == ("number", "numeric") and types.get("mixed") == ("string", "text"),
      "columns typed: bigint, date, numeric; a mixed column is text", types)
check([c["name"] for c in cols][-3:] == ["dup", "dup_2", 'we"ird, name'],
      "duplicate and quoted names keep the API's names", [c["name"] for c in cols])
check(all(e[1] == "amcbatch_results." + e[0] for e in ex) and all(int(e[2]) > 0 for e in ex),
      "one table per execution, named by it", ex)
agg = results(bid)
r0 = agg["rows"][0]
check(isinstance(r0["impressions"], int) and isinstance(r0["spend"], (int, float))
      and re.match(r"^\d{4}-\d\d-\d\d$", r0["day"]) and r0["mixed"] in ("5", "n/a")
      and r0["dup_2"] == 2 and r0['we"ird, name'] == "q",
      "API rows keep their shapes: numbers, ISO dates and \"5\" as strings", r0)
st, _, csv_raw = api("GET", "/workflows/batch/%s/results.csv" % bid)
check(st == 200 and (csv_raw if isinstance(csv_raw, bytes) else csv_raw.encode()).count(b"\n") == agg["total_rows"] + 1, "the export reads the typed tables", csv_raw[:300])

# an analyst role: real types in its own user's tables, nothing of another user's
role = "amcb_typed_%s" % uuid.uuid4().hex[:6]


def as_role(user_id, sql):
    script = "SET ROLE %s;\nSET amcbatch.user_id = '%s';\n%s\n" % (role, user_id, sql)
    p = subprocess.run(["psql", su, "-XAtq", "-v", "ON_ERROR_STOP=1"], input=script, capture_output=True, text=True)
    return p.returncode, p.stdout.strip().splitlines(), p.stderr


subprocess.run(["psql", su, "-Xq", "-v", "ON_ERROR_STOP=1", "-c",
                "CREATE ROLE %s NOLOGIN; GRANT SELECT ON workflow_executions, result_rows,"
                " batch_result_rows, batch_executions, instances, instance_access TO %s;"
                " GRANT USAGE ON SCHEMA amcbatch_results TO %s;"
                " GRANT SELECT ON ALL TABLES IN SCHEMA amcbatch_results TO %s" % (role, role, role, role)],
               check=True)
try:
    rc, out, err = as_role(ADMIN, "SELECT pg_typeof(impressions)::text || ',' || pg_typeof(day)::text"
                                  " || ',' || (max(day) OVER () - min(day) OVER ()) FROM %s LIMIT 1;" % ex[0][1])
    check(rc == 0 and len(out) == 1 and re.match(r"^bigint,date,\d+$", out[0]) is not None,
          "an analyst reads bigint and date columns of its user's table", (out, err))
    rc, out, err = as_role(str(uuid.uuid4()), "SELECT count(*) FROM %s;" % ex[0][1])
    check(rc == 0 and out == ["0"], "another user's role sees no row of it", (out, err))
    rc, out, err = as_role(ADMIN, "SELECT count(*) FROM batch_result_rows WHERE batch_id = '%s';" % bid)
    check(rc == 0 and out == [str(agg["total_rows"])], "batch_result_rows counts the typed rows", (out, err))
finally:
    subprocess.run(["psql", su, "-Xq", "-c", "DROP OWNED BY %s; DROP ROLE %s" % (role, role)], capture_output=True)

# ---- a 0-row result: an empty table, an empty page, a header-only export ----
wf0 = create_workflow("typed results, none", "SELECT campaign, SUM(impressions) AS impressions FROM impressions"
                      " WHERE campaign = {{only}} GROUP BY campaign", {"only": "none"})
st, body, raw = submit(wf0, INSTANCES[:1], parameters={"only": "no such campaign"}, name="typed empty")
ebid = body["batch"]["batch_id"] if st == 201 else None
final = wait_batch(ebid, 120) if ebid else None
check(final is not None and final["status"] == "completed", "0-row batch completed", final)
e0 = psql("SELECT e.row_count, e.result_table IS NOT NULL AND to_regclass(e.result_table) IS NOT NULL"
          " FROM workflow_executions e JOIN batch_executions b ON b.id = e.batch_execution_id"
          " WHERE b.batch_id = :'p1'", ebid)
check(e0 == [["0", "t"]], "0 rows: an empty table", e0)
agg0 = results(ebid)
check(agg0["total_rows"] == 0 and agg0["rows"] == [], "0 rows: an empty page", agg0)

# ---- the worker's archiver on hostile files, and a duplicate archive ----
tool = os.path.join(os.environ.get("BUILD_DIR", "build"), "tests", "tools", "archiveload")
if not os.access(tool, os.X_OK):
    check(True, "# SKIP no %s (make check builds it)" % tool)
else:
    tmp = tempfile.mkdtemp(prefix="amcb-typed-")
    os.chmod(tmp, 0o755)
    long_name = "n" * 70
    files = {
        # regular: COPY reads the bytes; hostile header names
        "hostile": ('"",dup,dup,%s,%s,row_number,"we""ird, name",day\r\n'
                    '1,a,b,c,d,e,f,2025-01-31\r\n,x,,,,,"g\r\nh",2025-02-01\r\n' % (long_name, long_name)).encode(),
        # parsed: an empty line and an invalid UTF-8 byte
        "parsed": b"n,t\n1,ok\n\n2,bad\xff\n",
    }
    execs = {}
    for k, data in files.items():
        path = os.path.join(tmp, k + ".csv")
        with open(path, "wb") as f:
            f.write(data)
        row = psql("INSERT INTO workflow_executions (execution_id, workflow_id, user_id, instance_id, status,"
                   " started_at) VALUES ('exec_' || substr(md5(random()::text), 1, 8), :'p1', :'p2', 'typed',"
                   " 'running', now()) RETURNING id, execution_id", wf, ADMIN)[0]
        execs[k] = (row[0], row[1], path)
    # "parsed" twice, at once: one archive, one refused by the fence
    tasks = "".join("%s %s 1 %s\n" % v for v in (execs["hostile"], execs["parsed"], execs["parsed"]))
    p = subprocess.run([tool, DB, "2"], input=tasks, capture_output=True, text=True)
    check("archived=2 rows=4" in p.stdout and p.stderr.count("refused") == 1,
          "two archived, the duplicate refused", (p.stdout, p.stderr))
    hid = execs["hostile"][0]
    hc = json.loads(psql("SELECT result_columns FROM workflow_executions WHERE id = :'p1'", hid)[0][0])
    names = [c["name"] for c in hc]
    sqlnames = [c["column"] for c in hc]
    check(names == ["column_1", "dup", "dup_2", long_name, long_name + "_2", "row_number", 'we"ird, name', "day"]
          and all(len(n.encode()) <= 63 for n in sqlnames) and len(set(sqlnames)) == 8
          and "row_number" not in sqlnames, "hostile names: API names kept, SQL names unique and short",
          (names, sqlnames))
    rows = psql("SELECT row_number, row_data FROM result_rows WHERE execution_id = :'p1' ORDER BY 1", hid)
    r1, r2 = json.loads(rows[0][1]), json.loads(rows[1][1])
    check(len(rows) == 2 and r1["column_1"] == 1 and r1["row_number"] == "e" and r1[long_name + "_2"] == "d"
          and r2["column_1"] is None and r2['we"ird, name'] == "g\r\nh" and r2["dup_2"] is None
          and r2["day"] == "2025-02-01", "hostile file: values under their names", rows)
    pid = execs["parsed"][0]
    rows = psql("SELECT row_data FROM result_rows WHERE execution_id = :'p1' ORDER BY row_number", pid)
    check([json.loads(r[0]) for r in rows] == [{"n": 1, "t": "ok"}, {"n": 2, "t": "bad\ufffd"}],
          "a file COPY would refuse: parsed, invalid UTF-8 replaced", rows)
    tables = psql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                  " WHERE n.nspname = 'amcbatch_results' AND c.relname = :'p1'", execs["parsed"][1])
    check(tables == [["1"]], "the duplicate archive left one table", tables)
    psql("DELETE FROM workflow_executions WHERE id IN (:'p1', :'p2')", hid, pid)
    check(psql("SELECT count(*) FROM pg_class WHERE relname IN (:'p1', :'p2')",
               execs["hostile"][1], execs["parsed"][1]) == [["0"]], "deleting an execution drops its table")

check(orphans() == [], "every table belongs to an execution that names it", orphans())
done()
