"""Submission edges (issue 9, holes 7, 8 and 12), each against the real stack:

* execution and batch ids never fail a submission on a collision: the insert function re-draws
  colliding candidates (called directly with archived ids) (hole 12)."""
import json
import re
import subprocess
import uuid

from lib import INSTANCES, WORKFLOW, check, done, psql, require_stack

require_stack()

# ---- hole 12: ids never fail a submission ------------------------------------------------------

# The insert function, called with candidate ids that the archive already holds (and a duplicate
# inside the batch), inside a transaction that is rolled back.
taken = psql("SELECT b.batch_id, e.execution_id FROM batch_executions b JOIN workflow_executions e"
             " ON e.batch_execution_id = b.id ORDER BY b.created_at LIMIT 1")
admin = psql("SELECT id FROM users WHERE role = 'admin' ORDER BY created_at LIMIT 1")[0][0]
if check(len(taken) == 1, "collision: an archived batch to collide with", taken):
    tb, te = taken[0]
    new_uuid = str(uuid.uuid4())
    execs = [{"id": str(uuid.uuid4()), "exec_id": te, "instance_uuid": INSTANCES[i],
              "amc_instance_id": "amcx%d" % i, "parameters": "{}", "window_start": "2024-01-01T00:00:00",
              "window_end": "2024-01-08T00:00:00", "timezone": "UTC"} for i in range(3)]
    sql = """
BEGIN;
SELECT batch_id, created FROM amcbatch_insert_batch(:'p1'::uuid, :'p2', :'p3'::uuid, :'p4'::uuid, 'collide',
       NULL, :'p5'::jsonb, '{}'::jsonb, '{}'::jsonb, 'SELECT 1', :'p6'::jsonb);
SELECT batch_id, created FROM amcbatch_insert_batch(:'p1'::uuid, 'batch_00000000', :'p3'::uuid, :'p4'::uuid,
       'collide', NULL, :'p5'::jsonb, '{}'::jsonb, '{}'::jsonb, 'SELECT 1', :'p6'::jsonb);
SELECT string_agg(execution_id, ' ' ORDER BY execution_id), count(DISTINCT execution_id),
       bool_and(execution_id ~ '^exec_[0-9a-f]{8}$'), bool_and(execution_id <> :'p7')
  FROM workflow_executions WHERE batch_execution_id = :'p1'::uuid;
ROLLBACK;
"""
    try:
        out = psql(sql, new_uuid, tb, WORKFLOW, admin, json.dumps(INSTANCES[:3]), json.dumps(execs), te)
    except subprocess.CalledProcessError as e:
        out = [["error", e.stderr.strip()[:300]]]
    check(len(out) == 3 and out[0][0] != tb and re.fullmatch(r"batch_[0-9a-f]{8}", out[0][0]) and
          out[0][1] == "t", "collision: a taken batch id is re-drawn", out)
    check(len(out) == 3 and out[1] == [out[0][0], "f"],
          "collision: the same batch uuid again is recognised (its id, not created)", out)
    check(len(out) == 3 and out[2][1:] == ["3", "t", "t"],
          "collision: taken and duplicate execution ids are re-drawn, all distinct", out)

done()
