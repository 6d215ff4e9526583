/* test_lua_batch.c - read_batch, forget_batch and the event stream.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

/* one stream entry per transition: the enqueue, the claim and each finish add one (this case
 * once counted the entries every earlier case left; now it makes its own) */
static void test_lua_events_stream(void)
{
	char b[ID_MAX], e[3][ID_MAX], st[16], bs[16];
	long long n = int_cmd("XLEN %s", k_events()), before;

	assertf(n == 0, "a fresh prefix starts with no events (%lld)", n);
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue");
	before = n;
	n = int_cmd("XLEN %s", k_events());
	assertf(n == before + 1, "the enqueue adds one entry (%lld)", n);
	freeReplyObject(claim("wev", 3));
	before = n;
	n = int_cmd("XLEN %s", k_events());
	assertf(n == before + 1, "the claim of three adds one entry (%lld)", n);
	for (int i = 0; i < 3; i++) {
		assertf(finish(b, e[i], "completed", "wev", st, bs) == LUA_OK, "finish %d", i);
		before = n;
		n = int_cmd("XLEN %s", k_events());
		assertf(n > before, "finish %d adds an entry (%lld)", i, n);
	}
}

/* read_batch answers what the archive sweep compares; forget_batch lets a terminal batch go
 * once it is old enough and PostgreSQL agrees, never one with an AMC cancel still to do */
static void test_lua_read_and_forget_batch(void)
{
	char b[ID_MAX], e[2][ID_MAX], st[16], bs[16], before[32];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	freeReplyObject(claim("wfg", 2));
	assertf(record_amc_id(b, e[1], "amc-fg-1", "wfg") == LUA_OK, "e1 on AMC");
	assertf(finish(b, e[0], "completed", "wfg", st, bs) == LUA_OK, "e0 completed");
	r = run(LUA_SCRIPT_READ_BATCH, 2, (const char *[]){ k_batch(b), k_execs(b) }, 1,
		(const char *[]){ prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 8 &&
			!strcmp(r->element[0]->str, "running") &&
			!strcmp(r->element[2]->str, e[0]) &&
			!strcmp(r->element[3]->str, "completed") &&
			!strcmp(r->element[6]->str, "running") &&
			!strcmp(r->element[7]->str, "amc-fg-1"),
		"status, completed_at, then id, state, AMC id per exec");
	freeReplyObject(r);
	r = run(LUA_SCRIPT_READ_BATCH, 2,
		(const char *[]){ k_batch("batch_eeeeeeee"), k_execs("batch_eeeeeeee") }, 1,
		(const char *[]){ prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "an unknown batch: {}");
	freeReplyObject(r);

#define FORGET(b_, before_, pg_) \
	run_int(LUA_SCRIPT_FORGET_BATCH, 5, \
		(const char *[]){ k_batch(b_), k_execs(b_), k_batches(), k_amc_cancels(), \
				  k_events() }, \
		3, (const char *[]){ prefix, before_, pg_ })
	snprintf(before, sizeof(before), "%lld", now_ms + 1000);
	assertf(FORGET(b, before, "running") == LUA_ERR_WRONG_STATE, "an open batch stays");
	freeReplyObject(cancel_batch(b)); /* e1 (on AMC) waits in P amc_cancels */
	assertf(FORGET(b, before, "cancelled") == LUA_ERR_CANCELLED,
		"not while an AMC cancel is to do");
	freeReplyObject(cmd("DEL %s", k_amc_cancels()));
	snprintf(before, sizeof(before), "%lld", now_ms);
	assertf(FORGET(b, before, "cancelled") == LUA_ERR_WRONG_STATE, "not before its retention");
	snprintf(before, sizeof(before), "%lld", now_ms + 1);
	assertf(FORGET(b, before, "partial") == LUA_ERR_WRONG_STATE,
		"not when PostgreSQL says otherwise");
	/* the batch leaves the checked list: the invariant has nothing to look at once it is gone */
	for (int i = 0; i < n_batches; i++)
		if (!strcmp(batches[i], b) && i != --n_batches)
			memcpy(batches[i], batches[n_batches], ID_MAX);
	assertf(FORGET(b, before, "cancelled") == LUA_OK, "forgotten");
	assertf(int_cmd("EXISTS %s %s %s %s", k_batch(b), k_execs(b), k_exec(b, e[0]),
			k_exec(b, e[1])) == 0,
		"every key of the batch is gone");
	assertf(int_cmd("ZRANK %s %s", k_batches(), b) == -999, "and it left P batches");
	assertf(strcmp(last_event_field("type"), "forgotten") == 0, "forgotten event");
	assertf(FORGET(b, before, "cancelled") == LUA_ERR_NOT_FOUND, "once");
	/* an id listed without its hash (a lost write, a key deleted by hand) leaves P batches:
	 * kept, it would sit at the head of every retention sweep */
	freeReplyObject(cmd("ZADD %s 1 %s", k_batches(), b));
	assertf(FORGET(b, before, "*") == LUA_ERR_NOT_FOUND &&
			int_cmd("ZRANK %s %s", k_batches(), b) == -999,
		"a stale id: -1, and it left P batches");
#undef FORGET
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_read_and_forget_batch),
	LUA_CASE(test_lua_events_stream),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
