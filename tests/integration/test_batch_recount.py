"""The batch row the status trigger keeps (status, completed and failed counts, started_at and
completed_at set or not, status_reason) equals a recount from scratch after every change of an
execution's status, in random sequences (seeded: SEED=<n> replays one) over batches of each
failure policy. sql/020 lets an execution that starts in a batch already running skip the
recount; this checks that the skip changes nothing a recount would, and that it happens.
Everything runs in the stack's database inside one transaction that is rolled back."""
import os
import random
import subprocess
import uuid

from lib import DB, INSTANCES, WORKFLOW, check, done, psql, require_stack

require_stack()
seed = int(os.environ.get("SEED") or random.randrange(1 << 30))
print("# seed %d (SEED=%d replays it)" % (seed, seed))
rnd = random.Random(seed)

ROUNDS = 6        # sequences, each over a fresh set of batches
BATCHES = 3       # one per policy
EXECS = 5         # executions per batch
STEPS = 40        # status changes per sequence

NEXT = {  # what a status may become (what the worker, the sweeper and SQL users write)
    "pending": ["running", "running", "cancelled", "failed"],
    "running": ["running", "completed", "failed", "cancelled", "retry_wait"],
    "retry_wait": ["running", "failed", "cancelled"],
}
POLICIES = [("continue", None), ("fail_fast", None), ("min_success_ratio", "0.6")]

amc = {r[0]: r[1] for r in psql("SELECT id, instance_id FROM instances WHERE id = ANY(:'p1'::uuid[])",
                                   "{" + ",".join(INSTANCES[:EXECS]) + "}")}
check(len(amc) == EXECS, "the seeded instances are there", amc)

# Recount in a subtransaction that is then undone: the batch row after a recount from scratch,
# against the row as the triggers left it. updated_at is left out on purpose.
SETUP = """
CREATE FUNCTION pg_temp.row_of(b uuid) RETURNS text LANGUAGE sql AS $$
  SELECT concat_ws('|', status, completed_instances, failed_instances, started_at IS NULL,
                   completed_at IS NULL, coalesce(status_reason, '-'))
    FROM batch_executions WHERE id = b $$;
CREATE FUNCTION pg_temp.drift(b uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE kept text := pg_temp.row_of(b); fresh text;
BEGIN
  BEGIN
    PERFORM amcbatch_recount_batch(b);
    fresh := pg_temp.row_of(b);
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  RETURN CASE WHEN kept = fresh THEN 'same' ELSE kept || ' /recount: ' || fresh END;
END $$;
"""


def batch_sql(bid, policy, ratio):
    execs = []
    for i in range(EXECS):
        execs.append('{"id":"%s","exec_id":"exec_%08x","instance_uuid":"%s","amc_instance_id":"%s",'
                     '"parameters":"{}","window_start":"","window_end":"","timezone":""}'
                     % (uuid.uuid4(), rnd.randrange(1 << 32), INSTANCES[i], amc[INSTANCES[i]]))
    ids = "[" + ",".join('"%s"' % i for i in INSTANCES[:EXECS]) + "]"
    sql = ("SELECT 'made ' || batch_id FROM amcbatch_insert_batch('%s', 'batch_%08x', '%s', "
           "'00000000-0000-4000-8000-000000000001', 'recount test', NULL, '%s', '{}', '{}', 'SELECT 1', "
           "'[%s]');\n" % (bid, rnd.randrange(1 << 32), WORKFLOW, ids, ",".join(execs)))
    if policy != "continue":
        sql += ("UPDATE batch_executions SET on_failure = '%s', min_success_ratio = %s WHERE id = '%s';\n"
                % (policy, ratio or "NULL", bid))
    return sql


script = ["BEGIN;", SETUP]
for rd in range(ROUNDS):
    batches = []
    for policy, ratio in POLICIES[:BATCHES]:
        bid = str(uuid.uuid4())
        script.append(batch_sql(bid, policy, ratio))
        batches.append(bid)
    for step in range(STEPS):
        bid = rnd.choice(batches)
        k = rnd.randrange(EXECS)
        # the script cannot know the statuses as they are by then (fail_fast's trigger cancels
        # siblings too): the update applies only where the status may become `to`, and says so
        ex = "(SELECT id FROM workflow_executions WHERE batch_execution_id = '%s' AND target_instance_id = '%s')" % (
            bid, INSTANCES[k])
        to = rnd.choice(["running", "running", "running", "completed", "failed", "cancelled", "retry_wait"])
        allowed = [s for s, nxt in NEXT.items() if to in nxt]
        script.append(
            "SELECT ctid AS before_ctid FROM batch_executions WHERE id = '%s' \\gset\n"
            "SELECT status AS before_status FROM batch_executions WHERE id = '%s' \\gset\n"
            "WITH u AS (UPDATE workflow_executions SET status = '%s', error_message = CASE WHEN '%s' ="
            " 'failed' THEN 'step %d' ELSE error_message END WHERE id = %s AND status IN (%s) RETURNING 1)"
            " SELECT count(*) AS n FROM u \\gset\n"
            "SELECT 'step|%d|%d|%s|' || :n || '|' || :'before_status' || '|' || status || '|' ||"
            " (ctid = :'before_ctid') || '|' || pg_temp.drift(id) FROM batch_executions WHERE id = '%s';"
            % (bid, bid, to, to, step, ex, ",".join("'%s'" % s for s in allowed), rd, step, to, bid))
script.append("ROLLBACK;")

p = subprocess.run(["psql", DB, "-XAtq", "-v", "ON_ERROR_STOP=1"], input="\n".join(script),
                   capture_output=True, text=True)
check(p.returncode == 0, "the sequences ran", p.stderr[-2000:])
# step|round|step|to|rows changed|batch status before|after|batch row not rewritten|drift
steps = [line.split("|", 8) for line in p.stdout.splitlines() if line.startswith("step|")]
check(len(steps) == ROUNDS * STEPS, "every step answered", len(steps))
drifted = [s for s in steps if s[8] != "same"]
check(not drifted, "after every step the batch row equals a recount from scratch", drifted[:5])
changed = [s for s in steps if s[4] == "1"]
starts = [s for s in changed if s[3] == "running" and s[5] == "running"]
skipped = [s for s in starts if s[6] == "running" and s[7] == "true"]
check(len(starts) > 0 and len(skipped) == len(starts),
      "a start in a running batch leaves the batch row alone (%d of %d)" % (len(skipped), len(starts)))
others = [s for s in changed if not (s[3] == "running" and s[5] == "running")]
check(len(others) > 0 and all(s[7] == "false" for s in others),
      "every other change recounts the batch (%d)" % len(others), [s for s in others if s[7] != "false"][:3])
ends = [s for s in steps if s[6] in ("completed", "partial", "failed", "cancelled")]
check(len(ends) > 0, "the sequences reach final batch states (%d steps)" % len(ends))
done()
