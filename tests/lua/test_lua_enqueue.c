/* test_lua_enqueue.c - enqueue_batch and rate_submit: a batch written whole or not at all,
 * checked before the first write; the submission rate counter; every script loads with the key
 * counts of its header.
 * Each case runs in a process of its own under a fresh key prefix (tests/lua/harness.h);
 * the invariant of docs/redis-keys.md is checked after every script call. */
#include "harness.h"

static void test_lua_enqueue(void)
{
	char b[ID_MAX], e[3][ID_MAX], ref[REF_MAX];
	char *sql;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue_batch must return 1");
	assertf(hget_is(k_batch(b), "status", "pending"), "new batch is pending");
	assertf(hget_ll(k_batch(b), "total") == 3 && hget_ll(k_batch(b), "queued") == 3,
		"total = queued = 3");
	sql = hget(k_batch(b), "sql_query");
	assertf(sql != NULL && strcmp(sql, "SELECT '{{start}}' AS s,\n 'a\\b' AS t") == 0,
		"sql_query stored verbatim: %s", sql);
	free(sql);
	assertf(hget_is(k_exec(b, e[1]), "state", "queued"), "execs are queued");
	assertf(hget_is(k_exec(b, e[1]), "parameters", "{\"brand\":\"x\"}"),
		"parameters kept as JSON string");
	assertf(hget_is(k_exec(b, e[1]), "batch_id", b), "exec knows its batch");
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 3, "3 refs queued in the batch's queue");
	ref_of(ref, b, e[0]);
	assertf(list_count(k_bqueue(b), ref) == 1, "ref B:E in the batch's queue");
	assertf(list_count(k_queue(), b) == 1, "the batch joined the ring");
	assertf(hget_is(k_exec(b, e[0]), "parked", "") && hget_is(k_exec(b, e[0]), "retry_at", ""),
		"scheduling fields written empty");
	assertf(int_cmd("ZRANK %s %s", k_batches(), b) >= 0, "batch listed in the batches zset");
	assertf(strcmp(last_event_field("type"), "enqueued") == 0, "enqueued event");

	/* a second enqueue of the same batch changes nothing */
	assertf(enqueue(b, 3, e) == LUA_ERR_EXISTS, "duplicate batch returns -2");
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 3, "duplicate did not queue anything");
	assertf(int_cmd("LLEN %s", k_queue()) == 1, "nor did it add to the ring");
	drain_queue();
}

/* enqueue_batch of n execs (ids exec_<i>) with its own buffers (n may exceed MAX_EXECS); the
 * batch is not registered for the invariant checks. no_id: index of an exec sent without
 * exec_id (-1 none); bad_key: index whose exec key names another exec (-1 none). */
static redisReply *enqueue_raw(const char *b, int n, int no_id, int bad_key)
{
	char(*kb)[KEYS_MAX] = calloc((size_t)n + 5, KEYS_MAX);
	const char **keys = calloc((size_t)n + 5, sizeof(*keys));
	char *execs = malloc((size_t)n * 160 + 8), id[ID_MAX];
	size_t off = 0;
	redisReply *r;

	if (kb == NULL || keys == NULL || execs == NULL)
		exit(1);
	keys_batch(kb[0], KEYS_MAX, prefix, b);
	keys_batch_execs(kb[1], KEYS_MAX, prefix, b);
	keys_queue(kb[2], KEYS_MAX, prefix);
	keys_batches(kb[3], KEYS_MAX, prefix);
	keys_events(kb[4], KEYS_MAX, prefix);
	off += (size_t)sprintf(execs, "[");
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "exec_%08x", (unsigned)i);
		keys_exec(kb[5 + i], KEYS_MAX, prefix, b, i == bad_key ? "exec_ffffffff" : id);
		off += (size_t)sprintf(execs + off,
				       "%s{\"exec_id\":\"%s\",\"amc_instance_id\":\"amcbig%d\"}",
				       i ? "," : "", i == no_id ? "" : id, i % 50);
	}
	sprintf(execs + off, "]");
	for (int i = 0; i < n + 5; i++)
		keys[i] = kb[i];
	r = run(LUA_SCRIPT_ENQUEUE_BATCH, n + 5, keys, 4,
		(const char *[]){ b, now_str(), "{\"name\":\"big\"}", execs });
	free(kb);
	free(keys);
	free(execs);
	return r;
}

/* Deletes what enqueue_raw may have written for b (n execs). */
static void unenqueue_raw(const char *b, int n)
{
	char id[ID_MAX];

	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "exec_%08x", (unsigned)i);
		redisAppendCommand(rc, "DEL %s", k_exec(b, id));
	}
	for (int i = 0; i < n; i++) {
		redisReply *r;

		if (redisGetReply(rc, (void **)&r) != REDIS_OK)
			exit(1);
		freeReplyObject(r);
	}
	freeReplyObject(cmd("DEL %s %s %s", k_batch(b), k_execs(b), k_bqueue(b)));
	freeReplyObject(cmd("LREM %s 0 %s", k_queue(), b));
	freeReplyObject(cmd("ZREM %s %s", k_batches(), b));
}

/* Issue 9: 8,200 executions once failed on Lua's unpack limit after the hashes were written
 * (batch pending with every exec queued, but no queue): the pushes go in chunks now. */
static void test_lua_enqueue_large_is_whole(void)
{
	char b[ID_MAX], e0[ID_MAX];
	redisReply *r;
	const int n = 8200;

	drain_queue();
	new_batch_id(b);
	r = enqueue_raw(b, n, -1, -1);
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_OK, "8200 execs enqueued: %s",
		r->type == REDIS_REPLY_ERROR ? r->str : "not 1");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_execs(b)) == n, "all %d exec ids listed", n);
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == n, "all %d refs queued", n);
	assertf(list_count(k_queue(), b) == 1, "the batch joined the ring");
	assertf(hget_ll(k_batch(b), "total") == n && hget_ll(k_batch(b), "queued") == n,
		"counters");
	snprintf(e0, sizeof(e0), "exec_%08x", (unsigned)(n - 1));
	assertf(hget_is(k_exec(b, e0), "state", "queued"), "last exec queued");
	unenqueue_raw(b, n);
}

/* Everything is checked before the first write: a bad execution leaves no trace. */
static void test_lua_enqueue_checks_before_writing(void)
{
	char b[ID_MAX], e0[ID_MAX];
	redisReply *r;

	drain_queue();
	snprintf(e0, sizeof(e0), "exec_%08x", 0u);
	for (int pass = 0; pass < 2; pass++) {
		new_batch_id(b);
		r = pass == 0 ? enqueue_raw(b, 3, 2, -1) : enqueue_raw(b, 3, -1, 1);
		assertf(r->type == REDIS_REPLY_ERROR, "%s refused",
			pass == 0 ? "an exec without exec_id" : "an exec key of another exec");
		freeReplyObject(r);
		assertf(int_cmd("EXISTS %s", k_batch(b)) == 0 &&
				int_cmd("EXISTS %s", k_exec(b, e0)) == 0 &&
				int_cmd("EXISTS %s", k_execs(b)) == 0 &&
				list_count(k_queue(), b) == 0,
			"pass %d: nothing written", pass);
		unenqueue_raw(b, 3);
	}
}

static void test_lua_rate_submit(void)
{
	char key[sizeof(prefix) + 64];
	redisReply *r;

	snprintf(key, sizeof(key), "%srate:submit:00000000-0000-4000-8000-000000000001", prefix);
	for (int i = 1; i <= 3; i++) {
		r = run(LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key }, 2,
			(const char *[]){ "3", "60000" });
		assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
				r->element[0]->integer == 1 && r->element[1]->integer == i,
			"submission %d of 3 is taken and counted", i);
		freeReplyObject(r);
	}
	long long ttl = int_cmd("PTTL %s", key);
	assertf(ttl > 0 && ttl <= 60000,
		"the window starts with the first submission (%lld ms left)", ttl);
	r = run(LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key }, 2,
		(const char *[]){ "3", "60000" });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer == 0 &&
			r->element[1]->integer > 0 && r->element[1]->integer <= 60000,
		"the 4th is refused with the ms left in the window");
	freeReplyObject(r);
	r = cmd("GET %s", key);
	assertf(r->type == REDIS_REPLY_STRING && strcmp(r->str, "3") == 0,
		"a refusal does not count");
	freeReplyObject(r);
	/* a full counter without expiry (set by hand) would refuse for ever */
	freeReplyObject(cmd("SET %s 3", key));
	r = run(LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key }, 2,
		(const char *[]){ "3", "60000" });
	assertf(r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 0 &&
			r->element[1]->integer == 60000,
		"a full counter without expiry is refused for one window");
	freeReplyObject(r);
	ttl = int_cmd("PTTL %s", key);
	assertf(ttl > 0 && ttl <= 60000, "and gets the window as its expiry (%lld ms)", ttl);
	freeReplyObject(cmd("DEL %s", key));
}

static void test_lua_scripts_load(void)
{
	for (int i = 0; i < LUA_SCRIPT_COUNT; i++) {
		redisReply *r = cmd("SCRIPT LOAD %s", lua_scripts[i].source);

		assertf(r->type == REDIS_REPLY_STRING && r->len == 40, "SCRIPT LOAD %s: %s",
			lua_scripts[i].name, r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
		if (r->type == REDIS_REPLY_STRING)
			snprintf(sha[i], sizeof(sha[i]), "%s", r->str);
		freeReplyObject(r);
	}
	assertf(LUA_ENQUEUE_BATCH_NKEYS == -1 && LUA_CLAIM_NKEYS == 5 && LUA_FINISH_NKEYS == 4 &&
			LUA_FINISH_MANY_NKEYS == -1 && LUA_HEARTBEAT_NKEYS == 4 &&
			LUA_HELD_JOBS_NKEYS == 1 && LUA_RETRY_NKEYS == 5 &&
			LUA_RELEASE_NKEYS == 4 && LUA_FLEET_NKEYS == 6,
		"nkeys from the script headers");
}

static const LuaCase cases[] = {
	LUA_CASE(test_lua_scripts_load),
	LUA_CASE(test_lua_enqueue),
	LUA_CASE(test_lua_enqueue_large_is_whole),
	LUA_CASE(test_lua_enqueue_checks_before_writing),
	LUA_CASE(test_lua_rate_submit),
};

int main(void)
{
	return lua_harness_main(cases, ARRAY_LEN(cases));
}
