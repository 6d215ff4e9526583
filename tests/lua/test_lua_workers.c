/* test_lua_workers.c - heartbeat, held_jobs, reclaim, fleet and token_unlock: leases, a dead
 * worker's jobs re-queued, the read-only fleet view.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

static void test_lua_heartbeat(void)
{
	long long ttl;
	char *score;

	assertf(heartbeat("w9", 30000) == LUA_OK, "heartbeat ok");
	ttl = int_cmd("PTTL %s", k_lease("w9"));
	assertf(ttl > 0 && ttl <= 30000, "lease has a TTL (%lld)", ttl);
	{
		redisReply *r = cmd("GET %s", k_lease("w9"));

		assertf(r->type == REDIS_REPLY_STRING && !strcmp(r->str, "w9"),
			"lease holds the worker id");
		freeReplyObject(r);
		r = cmd("ZSCORE %s w9", k_workers());
		score = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
		freeReplyObject(r);
	}
	assertf(score != NULL && strtoll(score, NULL, 10) == now_ms,
		"workers zset scored by heartbeat time");
	free(score);
	{
		redisReply *r = cmd("HGET %s host", k_info("w9"));

		assertf(r->type == REDIS_REPLY_STRING && !strcmp(r->str, "testhost"),
			"the info hash holds the worker's host");
		freeReplyObject(r);
		ttl = int_cmd("PTTL %s", k_info("w9"));
		assertf(ttl > 30000 && ttl <= 300000, "the info hash outlives the lease (%lld)",
			ttl);
	}
	{
		redisReply *r = run(
			LUA_SCRIPT_HEARTBEAT, 4,
			(const char *[]){ k_lease("w9"), k_workers(), k_jobs("w9"), k_info("w9") },
			4, (const char *[]){ "w9", now_str(), "0", "0" });

		assertf(r->type == REDIS_REPLY_ERROR, "lease of 0 ms is refused");
		freeReplyObject(r);
	}
	freeReplyObject(cmd("DEL %s", k_lease("w9")));
	freeReplyObject(cmd("ZREM %s w9", k_workers()));
}

static void test_lua_reclaim(void)
{
	char b[ID_MAX], e[4][ID_MAX], ref[REF_MAX], st[16], bs[16];
	long long started;
	redisReply *r;
	int waited;

	drain_queue();
	freeReplyObject(cmd("DEL %s", k_workers()));
	new_batch_id(b);
	assertf(enqueue(b, 4, e) == LUA_OK, "enqueue");
	assertf(heartbeat("wdead", 1) == LUA_OK, "dead worker's last heartbeat (1 ms lease)");
	assertf(heartbeat("wlive", 60000) == LUA_OK, "live worker heartbeat");
	freeReplyObject(claim("wdead", 2));
	freeReplyObject(claim("wlive", 2));
	started = hget_ll(k_batch(b), "started_at");
	assertf(record_amc_id(b, e[0], "amcexec-resume", "wdead") == LUA_OK,
		"dead worker had created on AMC");
	/* the 1 ms lease lapses by itself (Redis expires it); bounded wait */
	for (waited = 0; waited < 200 && int_cmd("EXISTS %s", k_lease("wdead")) == 1; waited++)
		nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = 5000000 }, NULL);
	assertf(int_cmd("EXISTS %s", k_lease("wdead")) == 0, "dead lease expired");
	now_ms += 60000;

	assertf(slots("instance", "amcinst0") == 1 && slots("instance", "amcinst2") == 1,
		"slots held");
	assertf(reclaim(10) == 2, "2 jobs re-queued");
	assertf(slots("instance", "amcinst1") == 0,
		"the dead worker's slot of a job not on AMC is released");
	assertf(slots("instance", "amcinst0") == 1 && hget_is(k_exec(b, e[0]), "slots", "1"),
		"one whose AMC execution runs on keeps it (AMC counts it against the instance)");
	assertf(slots("instance", "amcinst2") == 1 && slots("instance", "amcinst3") == 1,
		"the live worker's slots stay");
	assertf(strcmp(last_event_field("type"), "requeued") == 0, "requeued event");
	for (int i = 0; i < 2; i++) {
		assertf(hget_is(k_exec(b, e[i]), "state", "queued"), "dead worker's job queued");
		assertf(hget_is(k_exec(b, e[i]), "worker", ""), "and held by nobody");
	}
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-resume"),
		"amc_execution_id kept");
	for (int i = 2; i < 4; i++)
		assertf(hget_is(k_exec(b, e[i]), "state", "running") &&
				hget_is(k_exec(b, e[i]), "worker", "wlive"),
			"live worker's jobs stay");
	assertf(int_cmd("ZRANK %s wdead", k_workers()) == -999,
		"dead worker left the workers zset");
	assertf(int_cmd("ZRANK %s wlive", k_workers()) >= 0, "live worker stays");
	assertf(int_cmd("EXISTS %s", k_jobs("wdead")) == 0, "dead worker's jobs list gone");
	assertf(int_cmd("LLEN %s", k_jobs("wlive")) == 2, "live worker's jobs list intact");
	assertf(hget_is(k_batch(b), "status", "running"), "a started batch stays running");
	assertf(hget_ll(k_batch(b), "started_at") == started, "batch started_at unchanged");
	assertf(set_phase(b, e[1], "polling", "wdead") == LUA_ERR_NOT_OWNER,
		"dead worker lost its job: -4");
	assertf(reclaim(10) == 0, "nothing more to reclaim");

	/* reclaimed jobs are claimed next and resume the AMC execution */
	r = claim("wlive", 1);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "claim a reclaimed job");
	ref_of(ref, b, e[0]);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
		assertf(!strcmp(r->element[0]->element[0]->str, ref), "oldest reclaimed job first");
	freeReplyObject(r);
	assertf(hget_ll(k_exec(b, e[0]), "attempts") == 2, "attempts counts the second claim");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-resume"),
		"resumes the AMC execution");
	assertf(hget_ll(k_exec(b, e[0]), "started_at") == started,
		"exec started_at is the first claim");
	freeReplyObject(claim("wlive", 1));
	for (int i = 0; i < 4; i++)
		assertf(finish(b, e[i], "completed", "wlive", st, bs) == LUA_OK,
			"live worker finishes all");
	assertf(hget_is(k_batch(b), "status", "completed"), "batch completed after a reclaim");
	assertf(int_cmd("LLEN %s", k_jobs("wlive")) == 0, "live worker holds nothing");
	freeReplyObject(cmd("DEL %s %s", k_lease("wlive"), k_workers()));
}

/* the read-only fleet view: a worker with its info and held job, a full instance with a
 * parked job, the ring's depth; and it writes nothing */
static void test_lua_fleet(void)
{
	char e1[1][ID_MAX], e2[1][ID_MAX], ref[2 * ID_MAX];
	const char *insts[] = { "fleetinst" }, *accts[] = { "fleetacct" };
	redisReply *r, *w, *sl, *pk;
	bool saw_worker = false, saw_slot = false, saw_parked = false;
	long long events_before;

	assertf(enqueue_on("batch_f1f1f1f1", 1, e1, insts, accts) == LUA_OK, "first batch");
	assertf(enqueue_on("batch_f2f2f2f2", 1, e2, insts, accts) == LUA_OK, "second batch");
	freeReplyObject(claim_caps("wfleet", 10, 1, 200));
	assertf(heartbeat("wfleet", 30000) == LUA_OK, "heartbeat with info");
	events_before = int_cmd("XLEN %s", k_events());
	/* built last: the key and time strings live in a ring of buffers */
	r = run(LUA_SCRIPT_FLEET, 6,
		(const char *[]){ k_workers(), k_queue(), k_running(), k_amc_cancels(), k_events(),
				  k_retry() },
		7, (const char *[]){ now_str(), prefix, "100", "100", "20", "100", "10" });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 6, "six sections");
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
		freeReplyObject(r);
		return;
	}
	w = r->element[0];
	for (size_t i = 1; i + 4 < w->elements; i += 5) {
		redisReply *info = w->element[i + 4];

		if (strcmp(w->element[i]->str, "wfleet") != 0)
			continue;
		saw_worker = w->element[i + 2]->integer > 0 && w->element[i + 3]->integer == 1 &&
			     info->type == REDIS_REPLY_ARRAY && info->elements == 2;
	}
	assertf(saw_worker, "the worker, its lease, one job held and its info");
	sl = r->element[2];
	for (size_t i = 2; i + 2 < sl->elements; i += 3)
		if (!strcmp(sl->element[i]->str, "instance") &&
		    !strcmp(sl->element[i + 1]->str, "fleetinst"))
			saw_slot = sl->element[i + 2]->integer == 1;
	assertf(saw_slot, "the instance holds one running slot");
	pk = r->element[3];
	for (size_t i = 0; i + 4 < pk->elements; i += 5)
		if (!strcmp(pk->element[i]->str, "instance") &&
		    !strcmp(pk->element[i + 1]->str, "fleetinst")) {
			snprintf(ref, sizeof(ref), "batch_f2f2f2f2:%s", e2[0]);
			saw_parked = pk->element[i + 2]->integer == 1 &&
				     !strcmp(pk->element[i + 3]->str, ref);
		}
	assertf(saw_parked, "the second batch's job is parked on the full instance");
	assertf(int_cmd("XLEN %s", k_events()) == events_before, "the fleet view writes no event");
	freeReplyObject(r);
	(void)e1;
}

/* the heartbeat answers the jobs list; held_jobs rebuilds claim's answer for held refs */
static void test_lua_heartbeat_and_held_jobs(void)
{
	char b[ID_MAX], e[3][ID_MAX], ref[3][REF_MAX];
	redisReply *r, *c;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue");
	c = claim("whj", 2); /* as if this reply were lost */
	freeReplyObject(claim("whjother", 1));
	for (int i = 0; i < 3; i++)
		ref_of(ref[i], b, e[i]);
	r = heartbeat_refs("whj", 30000, 10);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->integer == 2,
		"{ 2, ref, ref }");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3)
		assertf(!strcmp(r->element[1]->str, ref[1]) && !strcmp(r->element[2]->str, ref[0]),
			"newest first");
	freeReplyObject(r);
	r = heartbeat_refs("whj", 30000, 1);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer == 2,
		"at most the refs asked for, and the length");
	freeReplyObject(r);
	/* a leftover: the ref of an exec no longer running under whj (a finish a restarted Redis
	 * lost after whj had let go of it) */
	freeReplyObject(cmd("LPUSH %s %s", k_jobs("whj"), ref[2]));
	r = run(LUA_SCRIPT_HELD_JOBS, 1, (const char *[]){ k_jobs("whj") }, 5,
		(const char *[]){ "whj", prefix, ref[0], ref[2], "batch_eeeeeeee:exec_eeeeeeee" });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "only the held ref is answered");
	assertf(list_count(k_jobs("whj"), ref[2]) == 0 && list_count(k_jobs("whj"), ref[0]) == 1,
		"the leftover left the jobs list, the held ref stays");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && c->type == REDIS_REPLY_ARRAY) {
		redisReply *h = r->element[0], *orig = c->element[0];
		bool same = h->elements == 3 && !strcmp(h->element[0]->str, ref[0]) &&
			    h->element[1]->elements == orig->element[1]->elements &&
			    !strcmp(h->element[2]->str, orig->element[2]->str);

		for (size_t j = 0; same && j < h->element[1]->elements; j++)
			same = !strcmp(h->element[1]->element[j]->str,
				       orig->element[1]->element[j]->str);
		assertf(same, "exactly what the lost claim reply held (fields, token, SQL)");
	}
	freeReplyObject(r);
	freeReplyObject(c);
	freeReplyObject(cancel_batch(b));
	freeReplyObject(cmd("DEL %s %s %s %s", k_lease("whj"), k_jobs("whj"), k_jobs("whjother"),
			    k_lease("whjother")));
	freeReplyObject(cmd("ZREM %s whj", k_workers()));
}

static void test_lua_token_unlock(void)
{
	char key[sizeof(prefix) + 64];

	snprintf(key, sizeof(key), "%stoken:00000000-0000-4000-8000-000000000009:EU:lock", prefix);
	freeReplyObject(cmd("SET %s wA PX 30000", key));
	assertf(run_int(LUA_SCRIPT_TOKEN_UNLOCK, 1, (const char *[]){ key }, 1,
			(const char *[]){ "wB" }) == 0,
		"another worker's lock stays");
	assertf(int_cmd("EXISTS %s", key) == 1, "still there");
	assertf(run_int(LUA_SCRIPT_TOKEN_UNLOCK, 1, (const char *[]){ key }, 1,
			(const char *[]){ "wA" }) == 1,
		"the holder releases it");
	assertf(int_cmd("EXISTS %s", key) == 0, "gone");
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_heartbeat),
	LUA_CASE(test_lua_reclaim),
	LUA_CASE(test_lua_heartbeat_and_held_jobs),
	LUA_CASE(test_lua_token_unlock),
	LUA_CASE(test_lua_fleet),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
