"""load.py - the stream of batches: submits the planned batches through the HTTP API at
their times (some with an Idempotency-Key, sent twice on purpose), cancels some at their
planned moment, and records what the API answered. It does not judge the system; the
checker does, from what the stack holds afterwards."""
import heapq
import threading
import time


def tag_of(seed, index):
    """The batch's {{tag}} parameter: the campaign's attribution of AMC executions."""
    return "c%s-b%d" % (seed, index)


class Submission:
    def __init__(self, plan, tag, key):
        self.plan, self.tag, self.key = plan, tag, key
        self.batch_id = None
        self.answers = []        # HTTP statuses in order (0 = no answer)
        self.cancel = None       # HTTP status of the campaign's cancel, if it sent one
        self.dup_batch_id = None  # what the deliberate Idempotency-Key repeat answered


class Load:
    def __init__(self, api, workflow, fleet, plans, seed, log, t0):
        self.api, self.wf, self.fleet, self.plans = api, workflow, fleet, plans
        self.seed, self.log, self.t0 = seed, log, t0
        self.subs = []
        self.stop = threading.Event()
        self.timers, self.tlock = [], threading.Lock()
        # set while a batch-execute request is out (api_kill waits for one)
        self.in_flight = threading.Event()
        self.threads = [threading.Thread(target=self._submitter, daemon=True),
                        threading.Thread(target=self._timer_loop, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        """Stops submitting; planned cancels and repeats not yet due are dropped."""
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _sleep_until(self, at):
        while not self.stop.is_set():
            left = at - time.time()
            if left <= 0:
                return True
            self.stop.wait(min(left, 0.5))
        return False

    def _post(self, sub, body):
        headers = {"Idempotency-Key": sub.key} if sub.key else {}
        self.in_flight.set()
        try:
            return self.api.call("POST", "/workflows/%s/batch-execute" % self.wf, body, headers, timeout=20)
        finally:
            self.in_flight.clear()

    def _body(self, sub):
        return {"instance_ids": [self.fleet[i]["uuid"] for i in sub.plan.members],
                "parameters": {"tag": sub.tag}, "name": sub.tag}

    def _submit(self, sub):
        body = self._body(sub)
        for _ in range(8):
            st, b = self._post(sub, body)
            sub.answers.append(st)
            if st in (200, 201) and b and b.get("success"):
                sub.batch_id = b["batch"]["batch_id"]
                return
            code = ((b or {}).get("error") or {}).get("code", "")
            # the API promises nothing was stored on these; with a key, any failure may be
            # retried (the key makes the retry safe)
            safe = st == 429 or (st == 503 and code in ("queue_unavailable", "database_unavailable")) or \
                code == "idempotency_key_in_use"
            if not (safe or (sub.key and (st == 0 or st >= 500))) or self.stop.is_set():
                return
            self.stop.wait(1.0)

    def _submitter(self):
        for p in self.plans:
            if not self._sleep_until(self.t0 + p.t):
                return
            sub = Submission(p, tag_of(self.seed, p.index), "chaos-%s-%d" % (self.seed, p.index) if p.keyed else None)
            self.subs.append(sub)
            self._submit(sub)
            self.log("batch", "%s %s: %d instances%s -> %s" % (
                sub.tag, sub.batch_id or "not accepted", len(p.members), " (keyed)" if sub.key else "",
                ",".join(str(a) for a in sub.answers)))
            now = time.time()
            if sub.batch_id and p.cancel_after is not None:
                self._at(now + p.cancel_after, self._cancel, sub)
            if sub.key and p.dup_after is not None:
                self._at(now + p.dup_after, self._repeat, sub)

    def _at(self, when, fn, sub):
        with self.tlock:
            heapq.heappush(self.timers, (when, id(sub), fn, sub))

    def _timer_loop(self):
        while not self.stop.is_set():
            with self.tlock:
                due = self.timers[0] if self.timers and self.timers[0][0] <= time.time() else None
                if due:
                    heapq.heappop(self.timers)
            if due:
                due[2](due[3])
            else:
                self.stop.wait(0.05)

    def _cancel(self, sub):
        st, _ = self.api.call("POST", "/workflows/batch/%s/cancel" % sub.batch_id, timeout=20)
        sub.cancel = st
        self.log("cancel", "%s %s -> %s" % (sub.tag, sub.batch_id, st))

    def _repeat(self, sub):
        """The same keyed request again, as a client that never saw the first answer would."""
        st, b = self._post(sub, self._body(sub))
        if st in (200, 201) and b and b.get("success"):
            sub.dup_batch_id = b["batch"]["batch_id"]
            if sub.batch_id is None:
                sub.batch_id = sub.dup_batch_id     # the first attempts got no answer
        self.log("repeat", "%s key %s -> %s %s" % (sub.tag, sub.key, st, sub.dup_batch_id or ""))
