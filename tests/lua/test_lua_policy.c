/* test_lua_policy.c - the batch policy in finish and finish_many: fail_fast (alone, after a
 * cancel, two failures in one call) and min_success_ratio.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

/* ---- the batch policy (on_failure) ---- */

/* enqueue with the policy members given (e.g. ",\"on_failure\":\"fail_fast\"") */
static long long enqueue_policy(const char *b, int n, char exec_ids[][ID_MAX], const char *policy)
{
	long long rv;

	enqueue_extra = policy;
	rv = enqueue(b, n, exec_ids);
	enqueue_extra = "";
	return rv;
}

static bool starts_with(const char *key, const char *field, const char *want)
{
	char *s = hget(key, field);
	bool ok = s != NULL && strncmp(s, want, strlen(want)) == 0;

	if (!ok)
		printf("# %s %s = '%s', want it to start with '%s'\n", key, field,
		       s != NULL ? s : "(nil)", want);
	free(s);
	return ok;
}

/* the first permanent failure cancels the rest (P amc_cancels too), the batch is failed and
 * says why; a holder that archived its result before the cancel keeps it (the race), and a
 * holder letting go of a cancelled exec is discarded */
static void test_lua_fail_fast(void)
{
	char b[ID_MAX], e[5][ID_MAX], fs[16], bs[16];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue_policy(b, 5, e, ",\"on_failure\":\"fail_fast\"") == LUA_OK, "enqueue");
	assertf(hget_is(k_batch(b), "on_failure", "fail_fast") &&
			hget(k_batch(b), "status_reason") == NULL,
		"policy stored, no reason yet");
	freeReplyObject(claim("wf", 3)); /* e0, e1, e2 running; e3, e4 queued */
	assertf(record_amc_id(b, e[1], "amcexec-1", "wf") == LUA_OK, "e1 has an AMC execution");
	assertf(retry(b, e[2], "wf", now_ms + 60000, "503", bs) == LUA_OK, "e2 waits for a retry");
	freeReplyObject(claim("wf", 1)); /* e3 running */
	assertf(hget_is(k_exec(b, e[3]), "state", "running"), "e3 running");

	assertf(finish(b, e[0], "failed", "wf", fs, bs) == LUA_OK, "finish e0 failed");
	assertf(!strcmp(fs, "failed") && !strcmp(bs, "failed"),
		"e0 failed, batch failed at once (%s, %s)", fs, bs);
	assertf(hget_is(k_batch(b), "status_reason",
			"fail_fast: instance Instance 0 failed "
			"(AMC said \"no\"); 4 queued or running executions cancelled"),
		"status_reason says why");
	for (int i = 1; i < 5; i++) {
		assertf(hget_is(k_exec(b, e[i]), "state", "cancelled"), "e%d cancelled", i);
		assertf(starts_with(k_exec(b, e[i]), "error",
				    "cancelled by fail_fast: instance Instance 0 failed"),
			"e%d says why", i);
	}
	assertf(zscore_set(k_amc_cancels(), b, e[1]), "e1's AMC execution is to be cancelled");
	assertf(!zscore_set(k_amc_cancels(), b, e[4]), "e4 never reached AMC");
	assertf(!zscore_set(k_retry(), b, e[2]), "e2 left P retry");
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 0 && list_count(k_queue(), b) == 0,
		"queue and ring empty");
	assertf(hget_is(k_batch(b), "cancel_requested", "0"), "not a user's cancel");
	assertf(!strcmp(last_event_field("type"), "cancelled") &&
			!strcmp(last_event_field("reason"), "fail_fast"),
		"one cancelled event per exec, with reason fail_fast");

	/* the race: e3's holder archived its result before the cancel reached it: it stands */
	assertf(finish(b, e[3], "completed", "wf", fs, bs) == LUA_OK, "late finish of e3");
	assertf(!strcmp(fs, "completed") && !strcmp(bs, "failed"),
		"e3 keeps completed, batch stays failed (%s, %s)", fs, bs);
	assertf(hget_is(k_exec(b, e[3]), "error", ""), "e3 no longer says cancelled");
	/* e1's holder lets go of its cancelled exec */
	assertf(finish(b, e[1], "cancelled", "wf", fs, bs) == LUA_OK && !strcmp(fs, "cancelled"),
		"e1 discarded");
	assertf(hget_is(k_batch(b), "status", "failed") && hget_ll(k_batch(b), "completed") == 1 &&
			hget_ll(k_batch(b), "failed") == 1 && hget_ll(k_batch(b), "cancelled") == 3,
		"failed, 1/1/3");
	assertf(starts_with(k_batch(b), "status_reason", "fail_fast: instance Instance 0 failed"),
		"the reason stays");
	r = cancel_batch(b);
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_WRONG_STATE,
		"a user cancel now: -3");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty");
}

/* a user's cancel first, then a failure its holder archived before the cancel reached it:
 * the failure came first, so fail_fast decides (failed), as PostgreSQL's trigger does */
static void test_lua_fail_fast_after_cancel(void)
{
	char b[ID_MAX], e[3][ID_MAX], fs[16], bs[16];

	drain_queue();
	new_batch_id(b);
	assertf(enqueue_policy(b, 3, e, ",\"on_failure\":\"fail_fast\"") == LUA_OK, "enqueue");
	freeReplyObject(claim("wg", 2));
	freeReplyObject(cancel_batch(b));
	assertf(hget_is(k_batch(b), "status", "cancelled"), "cancelled by the user");
	assertf(finish(b, e[0], "failed", "wg", fs, bs) == LUA_OK, "late failed finish");
	assertf(!strcmp(fs, "failed") && !strcmp(bs, "failed"), "fail_fast decides: %s, %s", fs,
		bs);
	assertf(hget_is(k_batch(b), "status_reason",
			"fail_fast: instance Instance 0 failed (AMC said \"no\"); "
			"2 queued or running executions cancelled"),
		"reason counts the cancelled execs");
	assertf(hget_is(k_exec(b, e[2]), "error", ""), "the user's cancel wrote no reason on e2");
}

/* two failures of one batch in one finish_many: one cancel, the reason names the first; a
 * continue batch next to it is not touched */
static void test_lua_fail_fast_finish_many(void)
{
	char b[ID_MAX], c[ID_MAX], e[3][ID_MAX], ec[2][ID_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	new_batch_id(c);
	assertf(enqueue_policy(b, 3, e, ",\"on_failure\":\"fail_fast\"") == LUA_OK, "enqueue ff");
	assertf(enqueue(c, 2, ec) == LUA_OK, "enqueue continue");
	freeReplyObject(claim("wh", 10));
	{
		const char *bb[3] = { b, b, c }, *ee[3] = { e[1], e[0], ec[0] };
		const char *oo[3] = { "failed", "failed", "failed" };

		r = finish_many("wh", 3, bb, ee, oo);
	}
	assertf(fm_result_is(r, 0, "failed", "failed") && fm_result_is(r, 1, "failed", "failed"),
		"both failed, batch failed");
	assertf(fm_result_is(r, 2, "failed", "running"), "the continue batch runs on");
	freeReplyObject(r);
	assertf(hget_is(k_batch(b), "status_reason",
			"fail_fast: instance Instance 1 failed (boom); "
			"1 queued or running executions cancelled"),
		"the first failure of the call named");
	assertf(hget_is(k_exec(b, e[2]), "state", "cancelled"), "e2 cancelled");
	assertf(hget_is(k_exec(c, ec[1]), "state", "running") &&
			hget(k_batch(c), "status_reason") == NULL &&
			hget(k_batch(c), "on_failure") == NULL,
		"continue: nothing cancelled, no reason, no policy fields");
	assertf(finish(c, ec[1], "completed", "wh", (char[16]){ 0 }, (char[16]){ 0 }) == LUA_OK,
		"finish c");
	assertf(hget_is(k_batch(c), "status", "partial") &&
			hget(k_batch(c), "status_reason") == NULL,
		"continue: partial, no reason");
}

/* min_success_ratio: fewer than ceil(ratio * total) completed is failed with a reason;
 * enough is partial; a user's cancel stays cancelled */
static void test_lua_min_success_ratio(void)
{
	char b[ID_MAX], c[ID_MAX], d[ID_MAX], e[4][ID_MAX], ec[4][ID_MAX], ed[3][ID_MAX], fs[16],
		bs[16];

	drain_queue();
	new_batch_id(b);
	assertf(enqueue_policy(
			b, 4, e,
			",\"on_failure\":\"min_success_ratio\",\"min_success_ratio\":\"0.75\"") ==
			LUA_OK,
		"enqueue 0.75");
	freeReplyObject(claim("wi", 4));
	assertf(finish(b, e[0], "completed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "running"),
		"1 completed");
	assertf(finish(b, e[1], "failed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "running"),
		"a failure cancels nothing");
	assertf(hget_is(k_exec(b, e[2]), "state", "running"), "e2 still running");
	assertf(finish(b, e[2], "completed", "wi", fs, bs) == LUA_OK, "2 completed");
	assertf(finish(b, e[3], "failed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "failed"),
		"2 of 4 < 3: failed (%s)", bs);
	assertf(hget_is(k_batch(b), "status_reason",
			"2 of 4 executions succeeded; min_success_ratio 0.75 needs 3"),
		"status_reason says why");

	new_batch_id(c);
	assertf(enqueue_policy(
			c, 4, ec,
			",\"on_failure\":\"min_success_ratio\",\"min_success_ratio\":\"0.75\"") ==
			LUA_OK,
		"enqueue 0.75 again");
	freeReplyObject(claim("wi", 4));
	for (int i = 0; i < 4; i++)
		assertf(finish(c, ec[i], i == 2 ? "failed" : "completed", "wi", fs, bs) == LUA_OK,
			"finish");
	assertf(!strcmp(bs, "partial") && hget(k_batch(c), "status_reason") == NULL,
		"3 of 4 is enough: partial");

	new_batch_id(d);
	assertf(enqueue_policy(
			d, 3, ed,
			",\"on_failure\":\"min_success_ratio\",\"min_success_ratio\":\"0.34\"") ==
			LUA_OK,
		"enqueue 0.34");
	freeReplyObject(claim("wi", 1));
	freeReplyObject(cancel_batch(d));
	assertf(hget_is(k_batch(d), "status", "cancelled") &&
			hget(k_batch(d), "status_reason") == NULL,
		"a user's cancel stays cancelled");
	assertf(finish(d, ed[0], "completed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "cancelled"),
		"late result: still cancelled");
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_fail_fast),
	LUA_CASE(test_lua_fail_fast_after_cancel),
	LUA_CASE(test_lua_fail_fast_finish_many),
	LUA_CASE(test_lua_min_success_ratio),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
