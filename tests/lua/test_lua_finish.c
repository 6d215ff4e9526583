/* test_lua_finish.c - record_amc_id, set_phase, progress, finish and finish_many: outcomes, a cancel
 * crossing a finish, parked jobs woken by freed slots, bad calls refused.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

static void test_lua_record_amc_id_and_set_phase(void)
{
	char b[ID_MAX], e[2][ID_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	freeReplyObject(claim("w3", 2));

	assertf(set_phase(b, e[0], "submitted", "w3") == LUA_OK, "set_phase ok");
	assertf(hget_is(k_exec(b, e[0]), "phase", "submitted"), "phase stored");
	assertf(strcmp(last_event_field("phase"), "submitted") == 0, "phase event");
	assertf(record_amc_id(b, e[0], "amcexec-123", "w3") == LUA_OK, "record_amc_id ok");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-123"), "amc id stored");
	assertf(strcmp(last_event_field("type"), "amc_id") == 0, "amc_id event");
	assertf(set_phase(b, e[0], "polling", "w3") == LUA_OK, "polling");

	assertf(record_amc_id(b, e[0], "amcexec-999", "w4") == LUA_ERR_NOT_OWNER,
		"other worker: -4");
	assertf(set_phase(b, e[0], "downloading", "w4") == LUA_ERR_NOT_OWNER, "other worker: -4");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-123"), "amc id unchanged");
	assertf(record_amc_id(b, "exec_deadbeef", "x", "w3") == LUA_ERR_NOT_FOUND,
		"unknown exec: -1");
	assertf(set_phase(b, "exec_deadbeef", "polling", "w3") == LUA_ERR_NOT_FOUND,
		"unknown exec: -1");

	r = run(LUA_SCRIPT_SET_PHASE, 2, (const char *[]){ k_exec(b, e[0]), k_events() }, 4,
		(const char *[]){ "sleeping", now_str(), "w3", tok(b, e[0]) });
	assertf(r->type == REDIS_REPLY_ERROR, "unknown phase is an error reply");
	freeReplyObject(r);

	freeReplyObject(cancel_batch(b));
	assertf(set_phase(b, e[0], "downloading", "w3") == LUA_ERR_CANCELLED, "cancelled: -5");
	assertf(record_amc_id(b, e[1], "amcexec-456", "w3") == LUA_ERR_CANCELLED, "cancelled: -5");
	assertf(hget_is(k_exec(b, e[1]), "amc_execution_id", "amcexec-456"),
		"the id of a cancelled exec is kept so it can be cancelled on AMC");
}

static void test_lua_finish_outcomes(void)
{
	struct {
		const char *o1, *o2, *want;
	} cases[] = {
		{ "completed", "completed", "completed" },
		{ "completed", "failed", "partial" },
		{ "failed", "failed", "failed" },
	};

	for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
		char b[ID_MAX], e[2][ID_MAX], st[16] = "", bs[16] = "", ref[REF_MAX];

		drain_queue();
		new_batch_id(b);
		assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
		freeReplyObject(claim("w5", 2));
		now_ms += 1000;
		assertf(finish(b, e[0], cases[c].o1, "w6", st, bs) == LUA_ERR_NOT_OWNER,
			"other worker: -4");
		assertf(finish(b, e[0], cases[c].o1, "w5", st, bs) == LUA_OK, "finish 1");
		assertf(!strcmp(st, cases[c].o1) && !strcmp(bs, "running"), "first finish: %s/%s",
			st, bs);
		assertf(strcmp(last_event_field("type"), "finished") == 0, "finished event");
		ref_of(ref, b, e[0]);
		assertf(list_count(k_jobs("w5"), ref) == 0, "ref left the jobs list");
		assertf(finish(b, e[1], cases[c].o2, "w5", st, bs) == LUA_OK, "finish 2");
		assertf(!strcmp(st, cases[c].o2) && !strcmp(bs, cases[c].want), "batch %s, want %s",
			bs, cases[c].want);
		assertf(hget_is(k_batch(b), "status", cases[c].want), "status stored");
		assertf(hget_ll(k_batch(b), "completed_at") == now_ms, "completed_at set");
		assertf(hget_ll(k_exec(b, e[1]), "finished_at") == now_ms, "exec finished_at set");
		assertf(int_cmd("LLEN %s", k_jobs("w5")) == 0, "jobs list empty");
		assertf(finish(b, e[1], "completed", "w5", st, bs) == LUA_ERR_WRONG_STATE,
			"finish twice: -3");
		assertf(strcmp(last_event_field("batch_status"), cases[c].want) == 0,
			"event carries batch status");
		if (!strcmp(cases[c].o1, "completed"))
			assertf(hget_ll(k_exec(b, e[0]), "row_count") == 42, "row_count stored");
		else
			assertf(hget_is(k_exec(b, e[0]), "error", "AMC said \"no\""),
				"error stored");
		{
			redisReply *r = cancel_batch(b);

			assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_WRONG_STATE,
				"cancel of a terminal batch: -3");
			freeReplyObject(r);
		}
	}
	{
		char st[16], bs[16];

		assertf(finish("batch_eeeeeeee", "exec_eeeeeeee", "completed", "w5", st, bs) ==
				LUA_ERR_NOT_FOUND,
			"unknown exec: -1");
	}
}

/* A cancel and a holder's finish cross: the result the holder archived before the cancel
 * reached it stands (PostgreSQL holds it already); outcome cancelled lets go of the exec;
 * nobody else's finish counts. */
static void test_lua_finish_cancelled_is_discarded(void)
{
	char b[ID_MAX], e[3][ID_MAX], st[16] = "", bs[16] = "", ref[REF_MAX];
	static const char *const one[] = { "amcone", "amcone", "amcone" };

	drain_queue();
	new_batch_id(b);
	assertf(enqueue_on(b, 3, e, one, NULL) == LUA_OK, "enqueue");
	freeReplyObject(claim("w7", 2));
	freeReplyObject(cancel_batch(b));
	assertf(hget_ll(k_batch(b), "cancelled") == 3 && hget_is(k_batch(b), "status", "cancelled"),
		"all three cancelled");
	assertf(slots("instance", "amcone") == 0, "cancel gave the slots back");
	assertf(finish(b, e[0], "completed", "w7", st, bs) == LUA_OK,
		"its holder's late finish answers");
	assertf(!strcmp(st, "completed") && !strcmp(bs, "cancelled"),
		"the archived result stands: %s (batch %s)", st, bs);
	assertf(hget_ll(k_batch(b), "cancelled") == 2 && hget_ll(k_batch(b), "completed") == 1,
		"moved from cancelled to completed");
	assertf(slots("instance", "amcone") == 0, "no slot given back twice");
	assertf(hget_is(k_exec(b, e[0]), "state", "completed") &&
			hget_ll(k_exec(b, e[0]), "row_count") == 42,
		"the exec says completed");
	ref_of(ref, b, e[0]);
	assertf(list_count(k_jobs("w7"), ref) == 0, "ref left the jobs list");
	assertf(strcmp(last_event_field("type"), "finished") == 0, "finished event");
	assertf(finish(b, e[1], "cancelled", "w7", st, bs) == LUA_OK && !strcmp(st, "cancelled"),
		"outcome cancelled lets go of it");
	assertf(hget_ll(k_batch(b), "cancelled") == 2, "counters untouched");
	assertf(strcmp(last_event_field("type"), "discarded") == 0, "discarded event");
	assertf(finish(b, e[2], "completed", "w7", st, bs) == LUA_OK && !strcmp(st, "cancelled"),
		"an exec nobody held (it was queued) is discarded whatever the outcome");
	assertf(hget_is(k_exec(b, e[2]), "state", "cancelled"), "and stays cancelled");
	freeReplyObject(cmd("LPUSH %s %s:%s", k_jobs("w8"), b, e[1]));
	assertf(finish(b, e[1], "completed", "w8", st, bs) == LUA_ERR_NOT_OWNER,
		"another worker's: -4");

	/* every exec's result came before the cancel could stop it: the batch is not cancelled */
	{
		char c[ID_MAX], ec[1][ID_MAX];

		new_batch_id(c);
		assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue");
		freeReplyObject(claim("w7", 1));
		freeReplyObject(cancel_batch(c));
		assertf(finish(c, ec[0], "completed", "w7", st, bs) == LUA_OK &&
				!strcmp(bs, "completed"),
			"nothing was stopped: the batch is completed (%s), as PostgreSQL counts it",
			bs);
	}
}

/* a cancel Redis lost (the tail of its AOF) after the holder saw it: the holder's `cancelled`
 * finish of its exec, still running in Redis, is refused and keeps the ref in its jobs list
 * (the holder then cancels the batch again); after that cancel the same finish lets go */
static void test_lua_cancelled_finish_of_running(void)
{
	char b[ID_MAX], e[1][ID_MAX], st[32], bs[32];

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 1, e) == LUA_OK, "enqueue");
	freeReplyObject(claim("wlc", 1));
	assertf(finish(b, e[0], "cancelled", "wlc", st, bs) == LUA_ERR_WRONG_STATE,
		"a cancelled finish of a running exec: -3");
	assertf(int_cmd("LLEN %s", k_jobs("wlc")) == 1 &&
			hget_is(k_exec(b, e[0]), "state", "running"),
		"the exec stays running and held, its ref in the jobs list");
	freeReplyObject(cancel_batch(b));
	assertf(finish(b, e[0], "cancelled", "wlc", st, bs) == LUA_OK && !strcmp(st, "cancelled"),
		"after the cancel is made again, the finish lets go (%s)", st);
	assertf(int_cmd("LLEN %s", k_jobs("wlc")) == 0, "and the ref leaves the jobs list");
	freeReplyObject(cmd("DEL %s %s", k_lease("wlc"), k_jobs("wlc")));
}

/* several jobs of several batches in one call: each result as finish gives it, counters and
 * status once per batch, one event per batch and state */
static void test_lua_finish_many(void)
{
	char a[ID_MAX], b[ID_MAX], c[ID_MAX], d[ID_MAX], ea[3][ID_MAX], eb[2][ID_MAX],
		ec[1][ID_MAX], ed[1][ID_MAX], ids[3 * ID_MAX], st[16], bs[16];
	redisReply *r;

	drain_queue();
	new_batch_id(a);
	new_batch_id(b);
	new_batch_id(c);
	assertf(enqueue(a, 3, ea) == LUA_OK && enqueue(b, 2, eb) == LUA_OK &&
			enqueue(c, 1, ec) == LUA_OK,
		"enqueue a, b, c");
	freeReplyObject(claim("wm", 10));
	assertf(int_cmd("LLEN %s", k_jobs("wm")) == 6, "wm holds 6 jobs");
	new_batch_id(d);
	assertf(enqueue(d, 1, ed) == LUA_OK, "enqueue d");
	freeReplyObject(claim("wother", 1));
	freeReplyObject(cancel_batch(c));
	now_ms += 1000;
	{
		const char *bb[] = { a, a, a, b, c, d, a, "batch_eeeeeeee" };
		const char *ee[] = { ea[0], ea[1], ea[2], eb[0],
				     ec[0], ed[0], ea[0], "exec_eeeeeeee" };
		const char *oo[] = { "completed", "failed",    "completed", "completed",
				     "cancelled", "completed", "completed", "failed" };

		r = finish_many("wm", 8, bb, ee, oo);
	}
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 8, "one result per job");
	assertf(fm_result_is(r, 0, "completed", "partial"), "a0 completed (batch a now partial)");
	assertf(fm_result_is(r, 1, "failed", "partial"), "a1 failed");
	assertf(fm_result_is(r, 2, "completed", "partial"), "a2 completed");
	assertf(fm_result_is(r, 3, "completed", "running"), "b0 completed, b still running");
	assertf(fm_result_is(r, 4, "cancelled", "cancelled"),
		"c0 was cancelled: its holder lets go of it");
	assertf(fm_result_code(r, 5, LUA_ERR_NOT_OWNER), "d0 held by another worker: -4");
	assertf(fm_result_code(r, 6, LUA_ERR_WRONG_STATE),
		"a0 twice in one call: -3 the second time");
	assertf(fm_result_code(r, 7, LUA_ERR_NOT_FOUND), "unknown exec: -1");
	freeReplyObject(r);
	assertf(hget_ll(k_batch(a), "completed") == 2 && hget_ll(k_batch(a), "failed") == 1,
		"a: 2 completed, 1 failed");
	assertf(hget_is(k_batch(a), "status", "partial") &&
			hget_ll(k_batch(a), "completed_at") == now_ms,
		"a partial, completed_at set");
	assertf(hget_ll(k_exec(a, ea[1]), "finished_at") == now_ms &&
			hget_is(k_exec(a, ea[1]), "error", "boom"),
		"a1 finished_at and error stored");
	assertf(hget_ll(k_exec(a, ea[0]), "row_count") == 7, "a0 row_count stored");
	assertf(hget_is(k_exec(d, ed[0]), "state", "running"), "d0 untouched");
	assertf(int_cmd("LLEN %s", k_jobs("wm")) == 1, "wm holds only b1 now");
	snprintf(ids, sizeof(ids), "%s %s", ea[0], ea[2]);
	assertf(has_event("finished", ids, "n", "2"), "one finished event for a's completed pair");
	assertf(has_event("finished", ids, "batch_status", "partial"), "carrying a's final status");
	assertf(has_event("finished", ea[1], "state", "failed"), "one for a's failure");
	assertf(has_event("finished", ea[1], "exec_id", ea[1]), "a single exec also as exec_id");
	assertf(has_event("discarded", ec[0], "state", "cancelled"), "c0 discarded event");

	{
		const char *bb[] = { b }, *ee[] = { eb[1] }, *oo[] = { "failed" };

		r = finish_many("wm", 1, bb, ee, oo);
	}
	assertf(fm_result_is(r, 0, "failed", "partial"), "b1 failed, b partial");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_jobs("wm")) == 0, "wm's jobs list empty");
	assertf(strcmp(last_event_field("type"), "finished") == 0 &&
			strcmp(last_event_field("exec_ids"), eb[1]) == 0 &&
			strcmp(last_event_field("n"), "1") == 0,
		"finished event of b1");
	assertf(finish(d, ed[0], "completed", "wother", st, bs) == LUA_OK &&
			!strcmp(bs, "completed"),
		"d finished by its holder");
}

/* the slots come back once per resource, and as many parked jobs are woken as slots freed */
static void test_lua_finish_many_wakes_parked(void)
{
	static const char *const insts[] = { "amcshared", "amcshared", "amcshared", "amcshared" };
	char p[ID_MAX], e[4][ID_MAX], ref[REF_MAX];
	const char *bb[] = { NULL, NULL }, *ee[2], *oo[] = { "completed", "completed" };
	redisReply *r;

	drain_queue();
	new_batch_id(p);
	bb[0] = bb[1] = p;
	assertf(enqueue_on(p, 4, e, insts, NULL) == LUA_OK, "enqueue 4 on one instance");
	r = claim_caps("wp", 10, 2, 200);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "cap 2: two claimed");
	ee[0] = e[0];
	ee[1] = e[1];
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_parked("instance", "amcshared")) == 2, "two parked");
	r = finish_many("wp", 2, bb, ee, oo);
	assertf(fm_result_is(r, 0, "completed", "running") &&
			fm_result_is(r, 1, "completed", "running"),
		"both finished");
	freeReplyObject(r);
	assertf(int_cmd("HEXISTS %s instance:amcshared", k_running()) == 0,
		"the instance's slots are all back");
	assertf(int_cmd("LLEN %s", k_parked("instance", "amcshared")) == 0,
		"both parked jobs woken");
	ref_of(ref, p, e[2]);
	assertf(list_count(k_bqueue(p), ref) == 1, "woken job back in its batch queue");
	r = claim_caps("wp", 10, 2, 200);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "the woken two claimed");
	freeReplyObject(r);
	ee[0] = e[2];
	ee[1] = e[3];
	r = finish_many("wp", 2, bb, ee, oo);
	assertf(fm_result_is(r, 1, "completed", "completed"), "batch completed");
	freeReplyObject(r);
}

/* caller bugs get an error reply and change nothing */
static void test_lua_finish_many_rejects_bad_calls(void)
{
	char b[ID_MAX], o[ID_MAX], e[1][ID_MAX], eo[1][ID_MAX], ref[REF_MAX], t[32];
	const char *keys[4], *args[7];
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	new_batch_id(o);
	assertf(enqueue(b, 1, e) == LUA_OK && enqueue(o, 1, eo) == LUA_OK, "enqueue");
	freeReplyObject(claim("wx", 1));
	ref_of(ref, b, e[0]);
	snprintf(t, sizeof(t), "%s", tok(b, e[0]));
	keys[0] = k_events();
	keys[1] = k_jobs("wx");
	keys[2] = k_batch(o); /* another batch's hash */
	keys[3] = k_exec(b, e[0]);
	args[0] = now_str();
	args[1] = "wx";
	args[2] = ref;
	args[3] = "completed";
	args[4] = "1";
	args[5] = "";
	args[6] = t;
	r = run(LUA_SCRIPT_FINISH_MANY, 4, keys, 7, args);
	assertf(r->type == REDIS_REPLY_ERROR, "keys not matching the ref: error reply");
	freeReplyObject(r);
	keys[2] = k_batch(b);
	args[3] = "done";
	r = run(LUA_SCRIPT_FINISH_MANY, 4, keys, 7, args);
	assertf(r->type == REDIS_REPLY_ERROR, "unknown outcome: error reply");
	freeReplyObject(r);
	args[3] = "completed";
	r = run(LUA_SCRIPT_FINISH_MANY, 4, keys, 6, args);
	assertf(r->type == REDIS_REPLY_ERROR, "arguments not fitting the keys: error reply");
	freeReplyObject(r);
	args[6] = "";
	r = run(LUA_SCRIPT_FINISH_MANY, 4, keys, 7, args);
	assertf(r->type == REDIS_REPLY_ERROR, "no claim token: error reply");
	freeReplyObject(r);
	args[6] = t;
	assertf(hget_is(k_exec(b, e[0]), "state", "running") && list_count(k_jobs("wx"), ref) == 1,
		"nothing changed");
	r = run(LUA_SCRIPT_FINISH_MANY, 4, keys, 7, args);
	assertf(fm_result_is(r, 0, "completed", "completed"), "the well-formed call finishes it");
	freeReplyObject(r);
	freeReplyObject(cancel_batch(o));
}

/* progress: written only while this claim holds the running exec; never a field outside its
 * list, never into a hash that is gone (a purged exec stays purged). */
static void test_lua_progress(void)
{
	char b[ID_MAX], e[2][ID_MAX], st[16], bs[16];
	const char *f[] = { "next_poll_at", "1705314620000", "archive_done", "40" };
	const char *bad[] = { "state", "completed" };
	redisReply *r;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	assertf(progress(b, e[0], "wp", f, 4) == LUA_ERR_NOT_OWNER, "queued, nobody's: -4");
	freeReplyObject(claim("wp", 2));
	assertf(progress(b, e[0], "wp", f, 4) == LUA_OK, "held: ok");
	assertf(hget_is(k_exec(b, e[0]), "next_poll_at", "1705314620000") &&
			hget_is(k_exec(b, e[0]), "archive_done", "40") &&
			hget_is(k_exec(b, e[0]), "state", "running"),
		"fields written, state untouched");
	assertf(progress(b, e[0], "wother", f, 2) == LUA_ERR_NOT_OWNER, "another worker: -4");
	r = run(LUA_SCRIPT_PROGRESS, 1, (const char *[]){ k_exec(b, e[0]) }, 4,
		(const char *[]){ "wp", tok(b, e[0]), bad[0], bad[1] });
	assertf(r->type == REDIS_REPLY_ERROR && hget_is(k_exec(b, e[0]), "state", "running"),
		"a field outside the list is an error reply, nothing written");
	freeReplyObject(r);
	r = run(LUA_SCRIPT_PROGRESS, 1, (const char *[]){ k_exec(b, e[0]) }, 3,
		(const char *[]){ "wp", tok(b, e[0]), "next_poll_at" });
	assertf(r->type == REDIS_REPLY_ERROR, "an odd count is an error reply");
	freeReplyObject(r);
	assertf(finish(b, e[0], "completed", "wp", st, bs) == LUA_OK, "finish");
	assertf(progress(b, e[0], "wp", f, 2) == LUA_ERR_WRONG_STATE, "finished: -3");
	freeReplyObject(cancel_batch(b));
	assertf(progress(b, e[1], "wp", f, 2) == LUA_ERR_CANCELLED, "cancelled: -5");
	assertf(progress(b, "exec_deadbeef", "wp", f, 2) == LUA_ERR_NOT_FOUND &&
			int_cmd("EXISTS %s", k_exec(b, "exec_deadbeef")) == 0,
		"gone (purged): -1, the hash stays gone");
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_record_amc_id_and_set_phase),
	LUA_CASE(test_lua_progress),
	LUA_CASE(test_lua_finish_outcomes),
	LUA_CASE(test_lua_finish_cancelled_is_discarded),
	LUA_CASE(test_lua_finish_many),
	LUA_CASE(test_lua_finish_many_wakes_parked),
	LUA_CASE(test_lua_finish_many_rejects_bad_calls),
	LUA_CASE(test_lua_cancelled_finish_of_running),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
