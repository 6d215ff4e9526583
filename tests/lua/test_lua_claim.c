/* test_lua_claim.c - claim: FIFO and max, stale refs, the reply fields, many at once,
 * round-robin over batches, the caps without head-of-line blocking, many batches under caps.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

static void test_lua_claim_fifo_and_max(void)
{
	char a[ID_MAX], b[ID_MAX], ea[3][ID_MAX], eb[2][ID_MAX];
	char ref[REF_MAX], want[REF_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(a);
	new_batch_id(b);
	assertf(enqueue(a, 3, ea) == LUA_OK, "enqueue a");
	now_ms += 10;
	assertf(enqueue(b, 2, eb) == LUA_OK, "enqueue b");
	now_ms += 10;

	r = claim("w1", 2);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "max 2 jobs claimed");
	for (size_t i = 0; i < 2 && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *h = r->element[i]->element[1];
		bool at = false;

		job_ref(r, i, ref, sizeof(ref));
		/* a's turn (up to 4 jobs) comes first: its first two jobs, in order */
		ref_of(want, a, ea[i]);
		assertf(strcmp(ref, want) == 0, "job %zu is %s, want %s (FIFO within a turn)", i,
			ref, want);
		for (size_t j = 0; j + 1 < h->elements; j += 2)
			at |= !strcmp(h->element[j]->str, "attempts") &&
			      !strcmp(h->element[j + 1]->str, "1");
		assertf(at, "claimed exec data shows attempts 1");
		assertf(hget_is(k_exec(a, ea[i]), "state", "running") &&
				hget_is(k_exec(a, ea[i]), "worker", "w1"),
			"the exec is running under w1");
		assertf(strcmp(r->element[i]->element[2]->str,
			       "SELECT '{{start}}' AS s,\n 'a\\b' AS t") == 0,
			"job carries the batch sql_query");
	}
	freeReplyObject(r);
	assertf(hget_is(k_batch(a), "status", "running"), "batch a running after first claim");
	assertf(hget_ll(k_batch(a), "started_at") == now_ms, "batch a started_at = claim time");
	assertf(hget_is(k_batch(b), "status", "pending"),
		"batch b still pending (its turn is next)");
	assertf(hget_ll(k_exec(a, ea[0]), "started_at") == now_ms, "exec started_at set");
	assertf(int_cmd("LLEN %s", k_jobs("w1")) == 2, "worker jobs list holds 2 refs");
	assertf(strcmp(last_event_field("type"), "claimed") == 0, "claimed event");

	r = claim("w1", 10);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "the 3 remaining jobs claimed");
	/* the turns alternate: b's (both its jobs), then a's last */
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
		ref_of(want, b, eb[0]);
		job_ref(r, 0, ref, sizeof(ref));
		assertf(!strcmp(ref, want), "b's turn: its first job");
		ref_of(want, b, eb[1]);
		job_ref(r, 1, ref, sizeof(ref));
		assertf(!strcmp(ref, want), "then its second");
		ref_of(want, a, ea[2]);
		job_ref(r, 2, ref, sizeof(ref));
		assertf(!strcmp(ref, want), "then a's last");
	}
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "drained batches left the ring");
	freeReplyObject(r);
	r = claim("w1", 5);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "empty queue: empty array");
	freeReplyObject(r);
	freeReplyObject(cancel_batch(a));
	freeReplyObject(cancel_batch(b));
}

static void test_lua_claim_skips_stale_refs(void)
{
	char b[ID_MAX], c[ID_MAX], e[2][ID_MAX], ec[1][ID_MAX], ref[REF_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	freeReplyObject(cancel_batch(b));
	assertf(int_cmd("EXISTS %s", k_bqueue(b)) == 0, "cancel removed the batch's queue");
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "and the batch from the ring");
	/* put stale refs back, as if left behind: claim must drop them, popping at most 4*max */
	ref_of(ref, b, e[0]);
	for (int i = 0; i < 10; i++)
		freeReplyObject(cmd("LPUSH %s %s", k_bqueue(b), ref));
	freeReplyObject(
		cmd("RPUSH %s %s", k_bqueue(b), "batch_ffffffff:exec_ffffffff")); /* unknown */
	freeReplyObject(cmd("LPUSH %s %s", k_queue(), b));
	r = claim("w2", 1);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "stale refs are not claimed");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 7,
		"one call pops at most 4 * max refs (left %lld)", int_cmd("LLEN %s", k_bqueue(b)));
	assertf(hget_is(k_exec(b, e[0]), "state", "cancelled"), "cancelled exec stays cancelled");

	/* a live job of another batch is reached at once: the batches take turns */
	new_batch_id(c);
	assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue c");
	r = claim("w2", 2);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1,
		"live job claimed beside 7 stale refs");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 0, "stale refs drained within the pop bound");
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty");
	assertf(int_cmd("LLEN %s", k_jobs("w2")) == 1, "only the live job is held");
	freeReplyObject(cancel_batch(c));
}

/* claim's value of field `name` in a job's flat name/value array, or NULL when left out */
static const char *reply_field(const redisReply *h, const char *name)
{
	for (size_t j = 0; j + 1 < h->elements; j += 2)
		if (!strcmp(h->element[j]->str, name))
			return h->element[j + 1]->str;
	return NULL;
}

/* the claim reply carries every exec field the worker reads (src/worker/job.c job_take) that
 * is not empty, and leaves the empty ones out (the worker reads those as ""); a job claimed
 * again carries what its holder wrote (AMC id); one claimed event per batch lists the claimed
 * execs */
static void test_lua_claim_reply_fields(void)
{
	/* (this enqueue leaves account, advertiser, marketplace and time zone empty) */
	static const char *const need[] = { "id",       "amc_instance_id", "parameters",
					    "attempts", "started_at",      "claim" };
	char b[ID_MAX], e[2][ID_MAX], ids[2 * ID_MAX + 2], ref[2 * ID_MAX + 2];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	r = claim("wf", 2);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "2 jobs claimed");
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *h = r->element[i]->element[1];
		char want_id[64];

		snprintf(want_id, sizeof(want_id), "0b0e6b8a-0000-4000-8000-%012d", (int)i);
		for (size_t k = 0; k < ARRAY_LEN(need); k++) {
			const char *v = reply_field(h, need[k]);

			assertf(v != NULL, "job %zu carries %s", i, need[k]);
			if (v != NULL && !strcmp(need[k], "id"))
				assertf(!strcmp(v, want_id), "id %s, want %s", v, want_id);
			if (v != NULL && !strcmp(need[k], "parameters"))
				assertf(!strcmp(v, "{\"brand\":\"x\"}"), "parameters %s", v);
			if (v != NULL && !strcmp(need[k], "amc_instance_id"))
				assertf(!strcmp(v, i ? "amcinst1" : "amcinst0"), "instance %s", v);
			if (v != NULL && !strcmp(need[k], "started_at"))
				assertf(strtoll(v, NULL, 10) == now_ms, "started_at %s", v);
			if (v != NULL && !strcmp(need[k], "attempts"))
				assertf(!strcmp(v, "1"), "attempts %s", v);
		}
		for (size_t j = 1; j < h->elements; j += 2)
			assertf(h->element[j]->str[0] != '\0', "job %zu: %s is empty, left out", i,
				h->element[j - 1]->str);
		assertf(reply_field(h, "amc_execution_id") == NULL &&
				reply_field(h, "throttled") == NULL &&
				reply_field(h, "create_intent_at") == NULL,
			"a fresh job has nothing a holder wrote");
	}
	freeReplyObject(r);

	/* claimed again after its holder created on AMC and handed it back */
	assertf(record_amc_id(b, e[0], "amcexec-again", "wf") == LUA_OK, "AMC id recorded");
	assertf(release(b, e[0], "wf") == LUA_OK, "handed back");
	r = claim("wf2", 1);
	ref_of(ref, b, e[0]);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
			!strcmp(r->element[0]->element[0]->str, ref),
		"claimed again");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		const char *amc = reply_field(r->element[0]->element[1], "amc_execution_id");
		const char *att = reply_field(r->element[0]->element[1], "attempts");

		assertf(amc != NULL && !strcmp(amc, "amcexec-again"), "carries the AMC id (%s)",
			amc != NULL ? amc : "none");
		assertf(att != NULL && !strcmp(att, "2"), "and the second attempt (%s)",
			att != NULL ? att : "none");
	}
	freeReplyObject(r);
	snprintf(ids, sizeof(ids), "%s %s", e[0], e[1]);
	assertf(has_event("claimed", ids, "n", "2"), "one claimed event lists both execs");
	assertf(has_event("claimed", ids, "batch_id", b), "and names the batch");
	assertf(has_event("claimed", ids, "worker", "wf"), "and the worker");
	freeReplyObject(cancel_batch(b));
}

static void test_lua_round_robin(void)
{
	char h[ID_MAX], sm[ID_MAX], ref[REF_MAX], want0[REF_MAX], want1[REF_MAX];
	static char eh[100][ID_MAX];
	char es[2][ID_MAX];
	int seen0 = -1, seen1 = -1;

	drain_queue();
	new_batch_id(h);
	new_batch_id(sm);
	assertf(enqueue(h, 100, eh) == LUA_OK, "enqueue a huge batch");
	freeReplyObject(claim("wrr", 1)); /* the huge batch is already being worked on */
	now_ms += 10;
	assertf(enqueue(sm, 2, es) == LUA_OK, "enqueue a small batch after it");
	ref_of(want0, sm, es[0]);
	ref_of(want1, sm, es[1]);
	for (int i = 0; i < 6; i++) {
		redisReply *r = claim("wrr", 1);

		if (job_ref(r, 0, ref, sizeof(ref))) {
			if (!strcmp(ref, want0))
				seen0 = i;
			if (!strcmp(ref, want1))
				seen1 = i;
		}
		freeReplyObject(r);
	}
	assertf(seen0 >= 0 && seen0 <= 1,
		"the small batch's first job is claimed at once (claim %d)", seen0);
	assertf(seen1 >= 0 && seen1 <= 3, "its second one on its next turn (claim %d)", seen1);
	assertf(hget_is(k_batch(sm), "status", "running"),
		"the small batch runs beside the huge one");
	assertf(hget_ll(k_batch(h), "queued") == 100 - 5,
		"the huge batch waited its turns (%lld queued)", hget_ll(k_batch(h), "queued"));
	drain_queue();
}

/* Caps: a full instance or account parks its jobs and the claim moves on (no HOL blocking);
 * a freed slot wakes the oldest parked job. */
static void test_lua_caps_no_hol_blocking(void)
{
	char b[4][ID_MAX], e[4][2][ID_MAX], st[16], bs[16];
	const char *insts[4][2] = { { "instX", "instY0" },
				    { "instX", "instY1" },
				    { "instX", "instY2" },
				    { "instX", "instY3" } };
	const char *accts[2] = { "acctH", "acctH" };
	redisReply *r;

	drain_queue();
	for (int i = 0; i < 4; i++) {
		new_batch_id(b[i]);
		assertf(enqueue_on(b[i], 2, e[i], insts[i], accts) == LUA_OK, "enqueue %d", i);
	}
	/* every batch's head job is on instX (cap 2): two run, two park, the instY jobs still go */
	r = claim_caps("wcap", 8, 2, 200);
	assertf(n_claimed(r) == 6, "6 of 8 jobs claimed past the full instance (%zu)",
		n_claimed(r));
	for (int i = 0; i < 4; i++)
		assertf(claimed_has(r, b[i], e[i][1]), "batch %d's instY job claimed", i);
	assertf(claimed_has(r, b[0], e[0][0]) && claimed_has(r, b[1], e[1][0]),
		"first two instX jobs run");
	freeReplyObject(r);
	assertf(slots("instance", "instX") == 2, "instX at its cap of 2");
	assertf(slots("account", "acctH") == 6, "the account counts all 6");
	assertf(hget_is(k_exec(b[2], e[2][0]), "parked", "instance") &&
			hget_is(k_exec(b[3], e[3][0]), "parked", "instance"),
		"the other instX jobs are parked");
	assertf(hget_is(k_exec(b[2], e[2][0]), "state", "queued"), "a parked job is still queued");
	assertf(int_cmd("LLEN %s", k_parked("instance", "instX")) == 2, "parked list holds 2");
	r = claim_caps("wcap", 8, 2, 200);
	assertf(n_claimed(r) == 0, "nothing claimable while instX is full");
	freeReplyObject(r);

	/* a finish frees an instX slot and wakes the oldest parked job (batch 2's) */
	assertf(finish(b[0], e[0][0], "completed", "wcap", st, bs) == LUA_OK,
		"finish an instX job");
	assertf(slots("instance", "instX") == 1, "the slot is given back");
	assertf(hget_is(k_exec(b[2], e[2][0]), "parked", ""), "batch 2's job woke up");
	r = claim_caps("wcap", 8, 2, 200);
	assertf(n_claimed(r) == 1 && claimed_has(r, b[2], e[2][0]), "the woken job is claimed");
	freeReplyObject(r);
	assertf(slots("instance", "instX") == 2, "instX full again");
	assertf(finish(b[1], e[1][0], "failed", "wcap", st, bs) == LUA_OK,
		"finish another instX job");
	r = claim_caps("wcap", 8, 2, 200);
	assertf(n_claimed(r) == 1 && claimed_has(r, b[3], e[3][0]), "the last parked job runs");
	freeReplyObject(r);
	assertf(int_cmd("EXISTS %s", k_parked("instance", "instX")) == 0, "nothing parked");
	drain_queue();

	/* the account cap parks as well, and a freed account slot wakes the job */
	{
		char a[ID_MAX], ea[5][ID_MAX];
		const char *ai[5] = { "instA1", "instA2", "instA3", "instA4", "instB1" };
		const char *aa[5] = { "acctA", "acctA", "acctA", "acctA", "acctB" };

		new_batch_id(a);
		assertf(enqueue_on(a, 5, ea, ai, aa) == LUA_OK, "enqueue on two accounts");
		r = claim_caps("wcap", 10, 10, 3);
		assertf(n_claimed(r) == 4 && claimed_has(r, a, ea[4]),
			"3 of acctA and acctB's job run");
		freeReplyObject(r);
		assertf(slots("account", "acctA") == 3 && slots("account", "acctB") == 1,
			"account slots");
		assertf(slots("instance", "instA4") == 0, "the parked job holds no instance slot");
		assertf(hget_is(k_exec(a, ea[3]), "parked", "account"),
			"instA4 parked on its account");
		assertf(finish(a, ea[4], "completed", "wcap", st, bs) == LUA_OK, "acctB's finish");
		assertf(hget_is(k_exec(a, ea[3]), "parked", "account"),
			"another account's slot wakes nothing");
		assertf(finish(a, ea[0], "completed", "wcap", st, bs) == LUA_OK, "an acctA finish");
		r = claim_caps("wcap", 10, 10, 3);
		assertf(n_claimed(r) == 1 && claimed_has(r, a, ea[3]),
			"the parked job runs once acctA has room");
		freeReplyObject(r);
		drain_queue();
	}
}

/* a tiny deterministic generator: the schedule below is the same on every run */
static unsigned lcg_state = 12345;

static unsigned lcg(unsigned n)
{
	lcg_state = lcg_state * 1103515245u + 12345u;
	return (lcg_state >> 16) % n;
}

/* many batches, instances and accounts, two workers, finishes, retries and releases: the
 * caps hold after every call, P running always equals the truth (check_all), and every batch
 * ends terminal (no job is lost in a parked list, the retry set or a queue). */
static void test_lua_caps_many_batches(void)
{
	enum { NB = 8, NE = 12, ICAP = 2, ACAP = 5 };
	static char b[NB][ID_MAX], e[NB][NE][ID_MAX];
	static char inst_names[NE][16], acct_names[3][16];
	const char *insts[NE], *accts[NE];
	const char *workers[2] = { "wm1", "wm2" };
	int round, open = NB;
	long long max_i = 0, max_a = 0;

	drain_queue();
	for (int a = 0; a < 3; a++)
		snprintf(acct_names[a], sizeof(acct_names[a]), "acct%d", a);
	for (int i = 0; i < NB; i++) {
		/* every batch runs on all 12 instances, each batch starting elsewhere */
		for (int j = 0; j < NE; j++) {
			int k = (i * 5 + j) % NE;

			snprintf(inst_names[j], sizeof(inst_names[j]), "mi%d", k);
			insts[j] = strdup(inst_names[j]);
			accts[j] = acct_names[k % 3];
		}
		new_batch_id(b[i]);
		assertf(enqueue_on(b[i], NE, e[i], insts, accts) == LUA_OK, "enqueue %d", i);
		for (int j = 0; j < NE; j++)
			free((void *)insts[j]);
	}
	for (round = 0; round < 3000 && open > 0; round++) {
		const char *w = workers[round % 2];
		redisReply *r = claim_caps(w, 1 + (int)lcg(6), ICAP, ACAP);
		redisReply *jl;

		freeReplyObject(r);
		for (int k = 0; k < NE; k++) {
			char f[32];

			snprintf(f, sizeof(f), "mi%d", k);
			if (slots("instance", f) > max_i)
				max_i = slots("instance", f);
		}
		for (int a = 0; a < 3; a++)
			if (slots("account", acct_names[a]) > max_a)
				max_a = slots("account", acct_names[a]);
		/* act on the worker's held jobs */
		jl = cmd("LRANGE %s 0 -1", k_jobs(w));
		for (size_t i = 0; i < jl->elements; i++) {
			char bb[ID_MAX], ee[ID_MAX], st[16], bs[16];
			const char *ref = jl->element[i]->str, *colon = strchr(ref, ':');
			unsigned act = lcg(100);

			if (colon == NULL)
				continue;
			snprintf(bb, sizeof(bb), "%.*s", (int)(colon - ref), ref);
			snprintf(ee, sizeof(ee), "%s", colon + 1);
			if (act < 45) {
				assertf(finish(bb, ee, "completed", w, st, bs) == LUA_OK,
					"finish %s", ref);
			} else if (act < 55) {
				assertf(finish(bb, ee, "failed", w, st, bs) == LUA_OK, "fail %s",
					ref);
			} else if (act < 70 && hget_ll(k_exec(bb, ee), "attempts") < 3) {
				long long rv = retry(bb, ee, w, now_ms + 25, "429", bs);

				/* -5 when a cancel earlier in this round took its batch */
				assertf(rv == LUA_OK ||
						(rv == LUA_ERR_CANCELLED &&
						 hget_is(k_exec(bb, ee), "state", "cancelled")),
					"retry %s: %lld", ref, rv);
			} else if (act < 80) {
				long long rv = release(bb, ee, w);

				assertf(rv == LUA_OK ||
						(rv == LUA_ERR_CANCELLED &&
						 hget_is(k_exec(bb, ee), "state", "cancelled")),
					"release %s: %lld", ref, rv);
			} else if (act < 82 && round > 10) {
				/* an occasional cancel, of any batch, mid-run */
				redisReply *c = cancel_batch(bb);

				freeReplyObject(c);
			}
		}
		freeReplyObject(jl);
		now_ms += 10;
		open = 0;
		for (int i = 0; i < NB; i++) {
			char *st = hget(k_batch(b[i]), "status");

			open += st != NULL && (!strcmp(st, "pending") || !strcmp(st, "running"));
			free(st);
		}
	}
	assertf(open == 0, "every batch terminal after %d rounds (%d open)", round, open);
	/* what the workers still hold was cancelled under them: they let go of it */
	for (int wi = 0; wi < 2; wi++) {
		redisReply *jl = cmd("LRANGE %s 0 -1", k_jobs(workers[wi]));

		for (size_t i = 0; i < jl->elements; i++) {
			char bb[ID_MAX], st[16] = "", bs[16];
			const char *ref = jl->element[i]->str, *colon = strchr(ref, ':');

			if (colon == NULL)
				continue;
			snprintf(bb, sizeof(bb), "%.*s", (int)(colon - ref), ref);
			assertf(finish(bb, colon + 1, "cancelled", workers[wi], st, bs) == LUA_OK &&
					!strcmp(st, "cancelled"),
				"letting go of %s (%s)", ref, st);
		}
		freeReplyObject(jl);
	}
	assertf(max_i == ICAP, "instance cap %d reached and never exceeded (max %lld)", ICAP,
		max_i);
	assertf(max_a <= ACAP, "account cap %d never exceeded (max %lld)", ACAP, max_a);
	assertf(int_cmd("EXISTS %s", k_running()) == 0, "no slot held once everything ended");
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty");
	assertf(int_cmd("LLEN %s", k_jobs("wm1")) + int_cmd("LLEN %s", k_jobs("wm2")) == 0,
		"workers hold nothing");
	printf("# caps test: %d rounds, max %lld per instance, %lld per account\n", round, max_i,
	       max_a);
}

/* one claim call of more jobs than one variadic LPUSH takes (it pushes in slices) */
static void test_lua_claim_many(void)
{
	enum { NB = 5, NE = 128 };
	static char b[NB][ID_MAX], e[NB][NE][ID_MAX];
	static char names[NE][16];
	const char *insts[NE];
	redisReply *r;

	drain_queue();
	for (int j = 0; j < NE; j++) {
		snprintf(names[j], sizeof(names[j]), "many%d", j);
		insts[j] = names[j];
	}
	for (int i = 0; i < NB; i++) {
		new_batch_id(b[i]);
		assertf(enqueue_on(b[i], NE, e[i], insts, NULL) == LUA_OK, "enqueue %d", i);
	}
	r = claim_caps("wmany", NB * NE, 100, 100000);
	assertf(n_claimed(r) == NB * NE, "%d jobs claimed in one call (%zu)", NB * NE,
		n_claimed(r));
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_jobs("wmany")) == NB * NE, "all of them in the jobs list");
	drain_queue();
	freeReplyObject(cmd("DEL %s", k_jobs("wmany")));
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_claim_fifo_and_max),   LUA_CASE(test_lua_claim_skips_stale_refs),
	LUA_CASE(test_lua_claim_reply_fields),   LUA_CASE(test_lua_round_robin),
	LUA_CASE(test_lua_caps_no_hol_blocking), LUA_CASE(test_lua_caps_many_batches),
	LUA_CASE(test_lua_claim_many),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
