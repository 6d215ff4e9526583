"""Issue 13: the types of a batch's result columns (`columns` of GET .../results, which the
export, the comparison and the web table read) come from every completed execution with rows,
the widest type that holds them all (bigint < numeric < text; date only if all are date), and
not from the first instance's: an instance with no rows does not vote, and the instance order
does not change a type."""
from lib import INSTANCES, api, check, create_workflow, done, psql, require_stack, submit, wait_batch

require_stack()
I0, I1, I2 = INSTANCES[:3]
PARAMS = {"startDate": "2025-01-01", "endDate": "2025-01-31", "minImpressions": 0,
          "a": 5, "d": "2025-01-01"}
NONE = {"minImpressions": 100000000}  # matches no row: the instance completes with 0 rows
wf = create_workflow("result types", "SELECT campaign, SUM(impressions) AS impressions,"
                     " ROUND(SUM(spend), 2) AS spend, {{a}} AS a, {{d}} AS d FROM impressions"
                     " WHERE impressions >= {{minImpressions}} GROUP BY campaign ORDER BY campaign")


def columns(overrides, instances):
    st, body, raw = submit(wf, instances, parameters=PARAMS, overrides=overrides, name="result types")
    check(st == 201, "submitted", raw[:300])
    b = body["batch"]["batch_id"]
    wait_batch(b)
    st, body, raw = api("GET", "/workflows/batch/%s/results?limit=100" % b)
    br = body["batch_results"]
    return b, {c["name"]: (c["type"], c.get("sql_type")) for c in br["aggregated_data"]["columns"]}, br


# the first instance has no rows (its empty result types every column text), the second numbers
b, cols, br = columns({I0: NONE}, [I0, I1])
check([i["row_count"] for i in br["instance_results"]] == [0, 4], "first instance 0 rows, second 4",
      br["instance_results"])
check(cols["impressions"] == ("number", "bigint") and cols["spend"] == ("number", "numeric") and
      cols["a"] == ("number", "bigint") and cols["d"] == ("string", "date") and
      cols["campaign"] == ("string", "text"), "the empty first instance does not vote", cols)
check(all(isinstance(r["impressions"], int) for r in br["aggregated_data"]["rows"]), "rows carry numbers",
      br["aggregated_data"]["rows"][:1])
st, body, raw = api("GET", "/workflows/batch/%s/compare?metric=impressions" % b)
check(st == 200 and [i["value"] is None for i in body["compare"]["instances"]] == [True, False],
      "compare takes the metric; the empty instance has no value", raw[:300])

# the widest type: bigint and numeric -> numeric; date and text -> text; the same whatever
# the instance order (the first instance is the narrow one, then the wide one)
b, cols, br = columns({I1: {"a": 2.5, "d": "later"}}, [I0, I1, I2])
check(cols["a"] == ("number", "numeric") and cols["d"] == ("string", "text") and
      cols["impressions"] == ("number", "bigint"), "bigint + numeric = numeric, date + text = text", cols)
b, cols2, br = columns({I0: {"a": 2.5, "d": "later"}}, [I0, I1, I2])
check(cols2 == cols, "the instance order does not change a type", (cols, cols2))

# a column without a value in one instance (all empty: typed text for want of a value) does
# not vote either; result_columns marks it "empty", which the API does not show
wf2 = create_workflow("result types empty", "SELECT campaign, NULLIF({{e}}, 0) AS e FROM impressions"
                      " GROUP BY campaign ORDER BY campaign")
st, body, raw = submit(wf2, [I0, I1], parameters={"startDate": "2025-01-01", "endDate": "2025-01-31", "e": 7},
                       overrides={I0: {"e": 0}}, name="result types empty")
b = body["batch"]["batch_id"]
wait_batch(b)
st, body, raw = api("GET", "/workflows/batch/%s/results?limit=100" % b)
ad = body["batch_results"]["aggregated_data"]
e = [c for c in ad["columns"] if c["name"] == "e"][0]
check(e["type"] == "number" and e["sql_type"] == "bigint" and "empty" not in e and
      {r["e"] for r in ad["rows"]} == {None, 7}, "an all-empty column does not vote", ad["columns"])
marks = psql("SELECT coalesce(c->>'empty', '-') FROM workflow_executions w JOIN batch_executions b ON b.id = w.batch_execution_id,"
             " jsonb_array_elements(w.result_columns) c WHERE b.batch_id = :'p1' AND c->>'name' = 'e'"
             " ORDER BY w.target_instance_id", b)
check([m[0] for m in marks] == ["true", "-"], "result_columns marks the empty column", marks)

# text in one instance with rows: the column is text (its rows hold strings there)
b, cols, br = columns({I2: {"a": "n/a"}}, [I0, I1, I2])
check(cols["a"] == ("string", "text") and cols["impressions"] == ("number", "bigint"),
      "number + text = text, the other columns keep theirs", cols)
done()
