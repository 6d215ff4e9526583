/* test_lua_cancel.c - cancel_batch and take_amc_cancels: a cancel ends queued and running jobs,
 * gives their slots back, and queues the AMC cancels.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

static void test_lua_cancel_batch(void)
{
	char b[ID_MAX], o[ID_MAX], e[3][ID_MAX], eo[2][ID_MAX], ref[REF_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(o);
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue b");
	freeReplyObject(claim("w8", 1)); /* e[0] running */
	assertf(enqueue(o, 2, eo) == LUA_OK, "enqueue other");

	r = cancel_batch(b);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 5, "{status, n, 3 ids}");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
		assertf(!strcmp(r->element[0]->str, "cancelled"), "batch cancelled");
		assertf(r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == 3,
			"3 cancelled");
		for (int i = 0; i < 3; i++)
			assertf(!strcmp(r->element[2 + i]->str, e[i]), "cancelled ids in order");
	}
	freeReplyObject(r);
	for (int i = 0; i < 3; i++) {
		ref_of(ref, b, e[i]);
		assertf(list_count(k_bqueue(b), ref) == 0, "no ref of the batch left in its queue");
		assertf(hget_is(k_exec(b, e[i]), "state", "cancelled"), "exec cancelled");
	}
	assertf(hget_is(k_exec(b, e[0]), "worker", "w8"),
		"running exec keeps its worker (told via state)");
	assertf(int_cmd("LLEN %s", k_bqueue(o)) == 2, "the other batch's refs stay");
	assertf(list_count(k_queue(), b) == 0 && list_count(k_queue(), o) == 1,
		"only the other batch in the ring");
	assertf(hget_is(k_batch(b), "cancel_requested", "1"), "cancel_requested");
	assertf(hget_is(k_batch(o), "status", "pending"), "other batch untouched");
	assertf(strcmp(last_event_field("type"), "cancelled") == 0, "cancelled event");

	r = cancel_batch(b);
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_WRONG_STATE,
		"second cancel: -3");
	freeReplyObject(r);
	r = cancel_batch("batch_dddddddd");
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_NOT_FOUND,
		"unknown batch: -1");
	freeReplyObject(r);
	freeReplyObject(cancel_batch(o));
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "queue empty");
}

/* cancel gives back the slots of running execs (waking other batches' parked jobs), takes
 * retry_wait refs out of P retry and parked refs out of their lists */
static void test_lua_cancel_releases_slots(void)
{
	char c[ID_MAX], d[ID_MAX], x[ID_MAX], ec[3][ID_MAX], ed[1][ID_MAX], ex[1][ID_MAX], bs[16];
	const char *ci[3] = { "cX", "cY", "cZ" }, *ca[3] = { "cacct", "cacct", "cacct" };
	const char *di[1] = { "cX" }, *da[1] = { "cacct" };
	redisReply *r;

	drain_queue();
	new_batch_id(c);
	new_batch_id(d);
	new_batch_id(x);
	assertf(enqueue_on(c, 3, ec, ci, ca) == LUA_OK, "enqueue c");
	assertf(enqueue_on(d, 1, ed, di, da) == LUA_OK, "enqueue d");
	r = claim_caps("wcn", 10, 1, 200);
	assertf(n_claimed(r) == 3, "c's 3 jobs run, d's cX job parks (%zu)", n_claimed(r));
	freeReplyObject(r);
	assertf(hget_is(k_exec(d, ed[0]), "parked", "instance"), "d parked on cX");
	assertf(retry(c, ec[1], "wcn", now_ms + 100000, "503", bs) == LUA_OK,
		"c's cY job waits to retry");
	assertf(enqueue_on(x, 1, ex, di, da) == LUA_OK, "enqueue x, on cX too");
	r = claim_caps("wcn", 10, 1, 200);
	assertf(n_claimed(r) == 0, "x parks behind d");
	freeReplyObject(r);
	assertf(slots("instance", "cX") == 1 && slots("account", "cacct") == 2,
		"slots before the cancel");

	r = cancel_batch(c);
	assertf(r->type == REDIS_REPLY_ARRAY && r->element[1]->integer == 3, "3 cancelled");
	freeReplyObject(r);
	assertf(slots("instance", "cX") == 0 && slots("instance", "cZ") == 0,
		"instance slots released");
	assertf(slots("account", "cacct") == 0, "account slots released");
	assertf(int_cmd("ZCARD %s", k_retry()) == 0, "the retry_wait ref left P retry");
	assertf(hget_is(k_exec(d, ed[0]), "parked", ""), "d's job (the oldest parked) woke up");
	assertf(hget_is(k_exec(x, ex[0]), "parked", "instance"), "x's is still parked");
	r = cancel_batch(x);
	freeReplyObject(r);
	assertf(int_cmd("EXISTS %s", k_parked("instance", "cX")) == 0,
		"cancel took x's ref out of the parked list");
	r = claim_caps("wcn", 10, 1, 200);
	assertf(n_claimed(r) == 1 && claimed_has(r, d, ed[0]), "d runs");
	freeReplyObject(r);
	drain_queue();
	assertf(int_cmd("EXISTS %s", k_running()) == 0, "no slot left");
}

/* cancel_batch leaves every exec with an AMC execution (or an intent) to be cancelled on
 * AMC; take_amc_cancels hands them out with what a cancel needs and hides them for a lease */
static void test_lua_amc_cancels(void)
{
	char b[ID_MAX], e[4][ID_MAX];
	redisReply *r;

	drain_queue();
	freeReplyObject(cmd("DEL %s", k_amc_cancels()));
	new_batch_id(b);
	assertf(enqueue(b, 4, e) == LUA_OK, "enqueue");
	r = claim("wac", 3);
	/* the account's region comes with each job: it picks the worker's AMC and token hosts */
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *flat = r->element[i]->element[1];
		const char *region = "";

		for (size_t j = 0; j + 1 < flat->elements; j += 2)
			if (!strcmp(flat->element[j]->str, "amc_region"))
				region = flat->element[j + 1]->str;
		assertf(!strcmp(region, (const char *const[]){ "NA", "EU", "FE" }[i % 3]),
			"job %zu carries its account's region, got \"%s\"", i, region);
	}
	freeReplyObject(r);
	assertf(record_amc_id(b, e[0], "amc-run-0", "wac") == LUA_OK, "e0 running on AMC");
	assertf(record_amc_id(b, e[1], "amc-run-1", "wac") == LUA_OK, "e1 too, then released");
	assertf(release_live(b, e[1], "wac", "1") == LUA_OK, "e1 queued, nobody holds it");
	assertf(set_phase(b, e[2], "submitted", "wac") == LUA_OK, "e2 announced a create");
	r = cancel_batch(b);
	freeReplyObject(r);
	assertf(int_cmd("ZCARD %s", k_amc_cancels()) == 3,
		"e0, e1 and e2 to cancel on AMC, not e3");
	r = run(LUA_SCRIPT_TAKE_AMC_CANCELS, 1, (const char *[]){ k_amc_cancels() }, 4,
		(const char *[]){ now_str(), "10", "60000", prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "three taken");
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *x = r->element[i];
		char r1[REF_MAX];

		ref_of(r1, b, e[1]);
		assertf(x->elements == 9,
			"ref, amc id, instance, account, advertiser, marketplace, "
			"intent, start, region");
		if (x->elements == 9 && !strcmp(x->element[0]->str, r1))
			assertf(!strcmp(x->element[1]->str, "amc-run-1") &&
					!strcmp(x->element[2]->str, "amcinst1") &&
					!strcmp(x->element[8]->str, "EU"),
				"e1's AMC id, instance and region");
	}
	freeReplyObject(r);
	r = run(LUA_SCRIPT_TAKE_AMC_CANCELS, 1, (const char *[]){ k_amc_cancels() }, 4,
		(const char *[]){ now_str(), "10", "60000", prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0,
		"taken entries are hidden for their lease");
	freeReplyObject(r);
	now_ms += 60000;
	freeReplyObject(cmd("ZADD %s 0 batch_eeeeeeee:exec_eeeeeeee", k_amc_cancels()));
	r = run(LUA_SCRIPT_TAKE_AMC_CANCELS, 1, (const char *[]){ k_amc_cancels() }, 4,
		(const char *[]){ now_str(), "10", "60000", prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3,
		"due again after it; a gone exec dropped");
	freeReplyObject(r);
	assertf(int_cmd("ZCARD %s", k_amc_cancels()) == 3, "the gone one left the set");
	freeReplyObject(cmd("DEL %s", k_amc_cancels()));
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_cancel_batch),
	LUA_CASE(test_lua_cancel_releases_slots),
	LUA_CASE(test_lua_amc_cancels),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
