/* test_lua_fencing.c - claim tokens as epochs: calls under an old token are refused; the create
 * intent and the AMC id.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

/* ---- claim tokens, intents, slots of live AMC executions, reconciliation ---- */

/* the claim token of b:e as a number (0 when none) */
static long long token_of(const char *b, const char *e)
{
	return hget_ll(k_exec(b, e), "claim") == -999 ? 0 : hget_ll(k_exec(b, e), "claim");
}

/* A claim is an epoch: a worker that claims its own job again (after an outage longer than
 * its lease) gets a new token, and every call under the old one is refused, even though the
 * worker id is the same. */
static void test_lua_claim_token_fences(void)
{
	char b[ID_MAX], e[1][ID_MAX], old[32], st[16], bs[16];
	long long t1, t2;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 1, e) == LUA_OK, "enqueue");
	assertf(heartbeat("wfence", 1) == LUA_OK, "a heartbeat with a 1 ms lease");
	freeReplyObject(claim("wfence", 1));
	t1 = token_of(b, e[0]);
	assertf(t1 >= now_ms, "the token is at least the claim time (%lld)", t1);
	snprintf(old, sizeof(old), "%lld", t1);
	for (int i = 0; i < 200 && int_cmd("EXISTS %s", k_lease("wfence")) == 1; i++)
		nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = 5000000 }, NULL);
	now_ms += 20000;
	assertf(reclaim(10) == 1, "the lease lapsed: reclaimed");
	freeReplyObject(claim("wfence", 1));
	t2 = token_of(b, e[0]);
	assertf(t2 > t1, "the same worker's second claim has a newer token (%lld > %lld)", t2, t1);
	assertf(hget_is(k_exec(b, e[0]), "worker", "wfence"), "held by the same worker id");

	stale_token = old;
	assertf(set_phase(b, e[0], "polling", "wfence") == LUA_ERR_NOT_OWNER,
		"set_phase under the old claim: -4");
	assertf(record_amc_id(b, e[0], "amc-old", "wfence") == LUA_ERR_NOT_OWNER,
		"record_amc_id: -4");
	assertf(retry(b, e[0], "wfence", now_ms + 10, "x", bs) == LUA_ERR_NOT_OWNER, "retry: -4");
	assertf(release(b, e[0], "wfence") == LUA_ERR_NOT_OWNER, "release: -4");
	assertf(finish(b, e[0], "completed", "wfence", st, bs) == LUA_ERR_NOT_OWNER, "finish: -4");
	stale_token = NULL;
	/* the new claim's entry stays: taken off, the job would run held by nobody reclaim sees */
	assertf(int_cmd("LLEN %s", k_jobs("wfence")) == 1,
		"the jobs list keeps the new claim's ref (%lld)",
		int_cmd("LLEN %s", k_jobs("wfence")));
	assertf(hget_is(k_exec(b, e[0]), "state", "running") &&
			hget_is(k_exec(b, e[0]), "amc_execution_id", ""),
		"nothing the old claim sent changed the exec");
	assertf(set_phase(b, e[0], "polling", "wfence") == LUA_OK, "the new claim is served");
	assertf(finish(b, e[0], "completed", "wfence", st, bs) == LUA_OK &&
			!strcmp(bs, "completed"),
		"and finishes it");

	/* Redis lost the last writes (AOF everysec): the token it remembers is older than one it
	 * handed out; a later claim still gets a newer token than that lost one */
	{
		char c[ID_MAX], ec[1][ID_MAX];
		long long lost;

		new_batch_id(c);
		assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue");
		freeReplyObject(claim("wfence", 1));
		lost = token_of(c, ec[0]);
		assertf(release(c, ec[0], "wfence") == LUA_OK, "handed back");
		/* the restart kept an older token than the one handed out last */
		freeReplyObject(cmd("HSET %s claim %lld", k_exec(c, ec[0]), lost - 5000));
		now_ms += 15000; /* a reclaim comes a lease later at the earliest */
		freeReplyObject(claim("wfence", 1));
		assertf(token_of(c, ec[0]) > lost,
			"the next token exceeds the lost one (%lld > %lld)", token_of(c, ec[0]),
			lost);
		freeReplyObject(cancel_batch(c));
	}
	freeReplyObject(cmd("DEL %s %s", k_lease("wfence"), k_jobs("wfence")));
	freeReplyObject(cmd("ZREM %s wfence", k_workers()));
}

/* submitted is the durable create intent; record_amc_id keeps the first id */
static void test_lua_intent_and_amc_id(void)
{
	char b[ID_MAX], e[1][ID_MAX], t[32];

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 1, e) == LUA_OK, "enqueue");
	freeReplyObject(claim("wint", 1));
	snprintf(t, sizeof(t), "%s", tok(b, e[0]));
	now_ms += 7;
	assertf(set_phase(b, e[0], "submitted", "wint") == LUA_OK, "submitted");
	assertf(hget_ll(k_exec(b, e[0]), "create_intent_at") == now_ms, "intent time stored");
	assertf(hget_is(k_exec(b, e[0]), "create_intent_claim", t),
		"and the claim that announced it");
	assertf(record_amc_id(b, e[0], "amc-first", "wint") == LUA_OK, "first id recorded");
	assertf(record_amc_id(b, e[0], "amc-first", "wint") == LUA_OK, "the same id again: ok");
	assertf(record_amc_id(b, e[0], "amc-second", "wint") == LUA_ERR_CONFLICT, "another id: -6");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amc-first"), "never overwritten");
	{
		redisReply *r = claim("wint", 5);

		assertf(n_claimed(r) == 0, "nothing else to claim");
		freeReplyObject(r);
	}
	/* the claim reply carries the intent and the token */
	freeReplyObject(cancel_batch(b));
	assertf(zscore_set(k_amc_cancels(), b, e[0]),
		"the cancelled exec with an AMC id is to be cancelled on AMC");
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_claim_token_fences),
	LUA_CASE(test_lua_intent_and_amc_id),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
