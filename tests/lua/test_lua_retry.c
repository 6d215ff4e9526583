/* test_lua_retry.c - retry and release: due times, throttling, a live AMC execution keeping its
 * slot, the create intent cleared.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

static void test_lua_retry(void)
{
	char b[ID_MAX], e[2][ID_MAX], bs[16], st[16], ref[REF_MAX];
	long long due;
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	r = claim("wrt", 1);
	assertf(claimed_has(r, b, e[0]), "claim e0");
	freeReplyObject(r);
	assertf(record_amc_id(b, e[0], "amcexec-r1", "wrt") == LUA_OK, "amc id recorded");
	assertf(slots("instance", "amcinst0") == 1, "e0 holds its instance slot");
	due = now_ms + 1000;
	assertf(retry(b, e[0], "wother", due, "429", bs) == LUA_ERR_NOT_OWNER, "other worker: -4");
	assertf(retry(b, e[0], "wrt", due, "429 Too Many Requests", bs) == LUA_OK, "retry ok");
	assertf(!strcmp(bs, "running"), "batch stays running (%s)", bs);
	assertf(hget_is(k_exec(b, e[0]), "state", "retry_wait"), "exec in retry_wait");
	assertf(hget_ll(k_exec(b, e[0]), "retry_at") == due, "retry_at = due");
	assertf(hget_is(k_exec(b, e[0]), "retry_reason", "429 Too Many Requests") &&
			hget_is(k_exec(b, e[0]), "error", "429 Too Many Requests"),
		"reason stored");
	assertf(hget_is(k_exec(b, e[0]), "worker", ""), "held by nobody while waiting");
	assertf(hget_ll(k_batch(b), "retry_wait") == 1, "retry_wait counter visible");
	assertf(slots("instance", "amcinst0") == 0, "slot released");
	ref_of(ref, b, e[0]);
	assertf(list_count(k_jobs("wrt"), ref) == 0, "ref left the jobs list");
	assertf(int_cmd("ZSCORE %s %s", k_retry(), ref) == -999, "ZSCORE is a string");
	{
		char *score = hget(k_exec(b, e[0]), "retry_at");
		redisReply *z = cmd("ZSCORE %s %s", k_retry(), ref);

		assertf(z->type == REDIS_REPLY_STRING && score != NULL && !strcmp(z->str, score),
			"in P retry scored by due");
		freeReplyObject(z);
		free(score);
	}
	assertf(strcmp(last_event_field("type"), "retry") == 0, "retry event");
	assertf(retry(b, e[0], "wrt", due, "again", bs) == LUA_ERR_NOT_OWNER,
		"held by nobody while waiting: -4");
	assertf(retry(b, "exec_deadbeef", "wrt", due, "x", bs) == LUA_ERR_NOT_FOUND, "unknown: -1");

	r = claim("wrt", 5);
	assertf(n_claimed(r) == 1 && claimed_has(r, b, e[1]), "before due only e1 is claimable");
	freeReplyObject(r);
	now_ms = due - 1;
	r = claim("wrt", 5);
	assertf(n_claimed(r) == 0, "1 ms before due: nothing");
	freeReplyObject(r);
	assertf(hget_is(k_exec(b, e[0]), "state", "retry_wait"), "still waiting");
	now_ms = due;
	r = claim("wrt", 5);
	assertf(n_claimed(r) == 1 && claimed_has(r, b, e[0]), "at due the retry is claimed");
	freeReplyObject(r);
	assertf(hget_ll(k_exec(b, e[0]), "attempts") == 2, "second attempt");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-r1"),
		"amc_execution_id kept");
	assertf(hget_is(k_exec(b, e[0]), "retry_at", ""), "retry_at cleared");
	assertf(int_cmd("ZCARD %s", k_retry()) == 0, "P retry empty");
	assertf(finish(b, e[0], "completed", "wrt", st, bs) == LUA_OK, "finish after a retry");
	assertf(hget_is(k_exec(b, e[0]), "error", ""), "error cleared by success");
	assertf(retry(b, e[0], "wrt", now_ms + 10, "late", bs) == LUA_ERR_WRONG_STATE,
		"finished: -3");

	/* a retry of a cancelled exec: -5, ref off the jobs list, nothing else */
	freeReplyObject(cancel_batch(b));
	assertf(retry(b, e[1], "wrt", now_ms + 10, "late", bs) == LUA_ERR_CANCELLED,
		"cancelled: -5");
	assertf(int_cmd("LLEN %s", k_jobs("wrt")) == 0, "jobs list empty");
	assertf(int_cmd("ZCARD %s", k_retry()) == 0, "no retry scheduled for a cancelled exec");
	{
		redisReply *x = run(LUA_SCRIPT_RETRY, 5,
				    (const char *[]){ k_batch(b), k_exec(b, e[1]), k_jobs("wrt"),
						      k_retry(), k_events() },
				    10,
				    (const char *[]){ ref, now_str(), "soon", "x", "wrt", prefix,
						      "0", "1", "0", "0" });

		assertf(x->type == REDIS_REPLY_ERROR,
			"a due that is not a number is an error reply");
		freeReplyObject(x);
	}
}

static void test_lua_release(void)
{
	char b[ID_MAX], c[ID_MAX], e[3][ID_MAX], ec[1][ID_MAX], ref[REF_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	new_batch_id(c);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue");
	r = claim("wterm", 2);
	assertf(n_claimed(r) == 2, "claim e0, e1");
	freeReplyObject(r);
	assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue another batch");
	assertf(record_amc_id(b, e[1], "amcexec-rel", "wterm") == LUA_OK, "amc id of e1");
	assertf(release(b, e[1], "wother") == LUA_ERR_NOT_OWNER, "other worker: -4");
	assertf(release(b, e[1], "wterm") == LUA_OK, "release ok");
	assertf(hget_is(k_exec(b, e[1]), "state", "queued") &&
			hget_is(k_exec(b, e[1]), "worker", ""),
		"queued, held by nobody");
	assertf(hget_is(k_exec(b, e[1]), "amc_execution_id", "amcexec-rel"),
		"amc_execution_id kept");
	assertf(slots("instance", "amcinst1") == 0, "slot released");
	ref_of(ref, b, e[1]);
	assertf(list_count(k_jobs("wterm"), ref) == 0, "ref left the jobs list");
	assertf(strcmp(last_event_field("type"), "released") == 0, "released event");
	assertf(release(b, e[1], "wterm") == LUA_ERR_NOT_OWNER, "held by nobody once released: -4");
	assertf(release(b, "exec_deadbeef", "wterm") == LUA_ERR_NOT_FOUND, "unknown: -1");
	/* b's turn in the ring comes before c's, and e1 is first in b's queue */
	r = claim("wnext", 1);
	assertf(n_claimed(r) == 1 && claimed_has(r, b, e[1]), "the released job is claimed next");
	freeReplyObject(r);
	assertf(hget_ll(k_exec(b, e[1]), "attempts") == 2, "attempts counts the second claim");
	assertf(hget_is(k_exec(b, e[1]), "amc_execution_id", "amcexec-rel"),
		"the next worker resumes it");
	{
		char st[16], bs[16];

		assertf(finish(b, e[1], "completed", "wnext", st, bs) == LUA_OK, "finish it");
		assertf(release(b, e[1], "wnext") == LUA_ERR_WRONG_STATE, "finished: -3");
	}
	freeReplyObject(cancel_batch(b));
	assertf(release(b, e[0], "wterm") == LUA_ERR_CANCELLED, "cancelled: -5");
	assertf(int_cmd("LLEN %s", k_jobs("wterm")) == 0, "jobs list empty");
	drain_queue();
}

/* A job handed back while its AMC execution runs keeps its slots: it is never parked, and the
 * claim that takes it up again takes no second slot. */
static void test_lua_live_amc_keeps_slots(void)
{
	static const char *const one[] = { "amclive", "amclive", "amclive" };
	char b[ID_MAX], e[3][ID_MAX], bs[16], st[16];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue_on(b, 3, e, one, NULL) == LUA_OK, "enqueue 3 on one instance");
	r = claim_caps("wlive2", 3, 2, 200);
	assertf(n_claimed(r) == 2, "cap 2: two run, one parks");
	freeReplyObject(r);
	assertf(record_amc_id(b, e[0], "amc-live-0", "wlive2") == LUA_OK, "e0 created on AMC");
	assertf(release_live(b, e[0], "wlive2", "1") == LUA_OK, "e0 released while AMC runs it");
	assertf(slots("instance", "amclive") == 2, "it keeps its slot: the instance stays full");
	assertf(hget_is(k_exec(b, e[2]), "parked", "instance"), "so the parked job stays parked");
	r = claim_caps("wlive2", 3, 2, 200);
	assertf(n_claimed(r) == 1 && claimed_has(r, b, e[0]),
		"e0 is claimed again past the full instance");
	freeReplyObject(r);
	assertf(slots("instance", "amclive") == 2, "without a second slot");
	assertf(retry_flags(b, e[0], "wlive2", now_ms + 50, "503", "0", "1", "0", bs) == LUA_OK,
		"a retry while AMC runs it");
	assertf(slots("instance", "amclive") == 2 && hget_is(k_exec(b, e[0]), "slots", "1"),
		"keeps the slot too");
	assertf(retry_flags(b, e[1], "wlive2", now_ms + 50, "429", "1", "0", "1", bs) == LUA_OK,
		"a throttled create of e1 (nothing on AMC)");
	assertf(slots("instance", "amclive") == 1 && hget_is(k_exec(b, e[1]), "slots", "0"),
		"gives its slot back");
	assertf(hget_is(k_exec(b, e[2]), "parked", ""), "and wakes the parked job");
	now_ms += 100;
	r = claim_caps("wlive2", 3, 2, 200);
	assertf(n_claimed(r) == 2, "the retry of e0 and the woken e2 run (%zu)", n_claimed(r));
	freeReplyObject(r);
	assertf(finish(b, e[0], "completed", "wlive2", st, bs) == LUA_OK, "e0 done");
	r = cancel_batch(b);
	freeReplyObject(r);
	assertf(int_cmd("EXISTS %s", k_running()) == 0,
		"cancel gives back every slot, the waiting ones too");
}

/* set_phase submitted without an id, then a throttled retry: the intent is cleared */
static void test_lua_retry_clears_intent(void)
{
	char b[ID_MAX], e[1][ID_MAX], bs[16];

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 1, e) == LUA_OK, "enqueue");
	freeReplyObject(claim("wci", 1));
	assertf(set_phase(b, e[0], "submitted", "wci") == LUA_OK, "intent");
	assertf(retry_flags(b, e[0], "wci", now_ms + 5, "429", "1", "0", "1", bs) == LUA_OK,
		"throttled");
	assertf(hget_is(k_exec(b, e[0]), "create_intent_at", "") &&
			hget_is(k_exec(b, e[0]), "create_intent_claim", ""),
		"AMC created nothing: the intent is gone");
	assertf(hget_ll(k_exec(b, e[0]), "throttled") == 1, "counted as throttled");
	freeReplyObject(cancel_batch(b));
	assertf(!zscore_set(k_amc_cancels(), b, e[0]), "nothing to cancel on AMC for it");
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_retry),
	LUA_CASE(test_lua_release),
	LUA_CASE(test_lua_live_amc_keeps_slots),
	LUA_CASE(test_lua_retry_clears_intent),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
