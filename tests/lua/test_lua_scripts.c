/* test_lua_scripts.c - runs every Lua script of lua/ (through the generated lua_scripts.c, by
 * EVALSHA) against the real redis-server named by REDIS_URL, and after every call checks the
 * counter invariant and batch status rule of docs/redis-keys.md on every batch it created.
 * Uses the synchronous hiredis API (tests may block); keys live under amcbtest:<pid>: */
#define _POSIX_C_SOURCE 200809L

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "lua_scripts.h"
#include "../tap.h"

static redisContext *rc;
static char prefix[64];
static char sha[LUA_SCRIPT_COUNT][41];
static long long now_ms = 1700000000000LL;	/* script time only comes from ARGV */
static unsigned id_seq;

#define ID_MAX 32		/* batch_xxxxxxxx / exec_xxxxxxxx and then some */
#define REF_MAX (2 * ID_MAX + 2)	/* B:E */
#define MAX_BATCHES 64
static char batches[MAX_BATCHES][ID_MAX];
static int n_batches;

/* ---- small helpers (all replies are freed where they are read) ---- */

static char *kbuf(void)
{
	static char ring[32][KEYS_MAX];
	static unsigned next;

	return ring[next++ % 32];
}

static const char *k_batch(const char *b) { return keys_batch(kbuf(), KEYS_MAX, prefix, b); }
static const char *k_execs(const char *b) { return keys_batch_execs(kbuf(), KEYS_MAX, prefix, b); }
static const char *k_exec(const char *b, const char *e) { return keys_exec(kbuf(), KEYS_MAX, prefix, b, e); }
static const char *k_queue(void) { return keys_queue(kbuf(), KEYS_MAX, prefix); }
static const char *k_batches(void) { return keys_batches(kbuf(), KEYS_MAX, prefix); }
static const char *k_events(void) { return keys_events(kbuf(), KEYS_MAX, prefix); }
static const char *k_workers(void) { return keys_workers(kbuf(), KEYS_MAX, prefix); }
static const char *k_jobs(const char *w) { return keys_worker_jobs(kbuf(), KEYS_MAX, prefix, w); }
static const char *k_lease(const char *w) { return keys_worker_lease(kbuf(), KEYS_MAX, prefix, w); }

static const char *now_str(void)
{
	char *p = kbuf();

	snprintf(p, KEYS_MAX, "%lld", now_ms);
	return p;
}

static redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (!r) {
		/* the server went away: nothing after this can be checked */
		printf("# FATAL redis: %s\n", rc->errstr);
		exit(1);
	}
	return r;
}

/* caller frees; NULL when the field does not exist */
static char *hget(const char *key, const char *field)
{
	redisReply *r = cmd("HGET %s %s", key, field);
	char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;

	freeReplyObject(r);
	return s;
}

static bool hget_is(const char *key, const char *field, const char *want)
{
	char *s = hget(key, field);
	bool ok = s && strcmp(s, want) == 0;

	if (!ok)
		printf("# %s %s = '%s', want '%s'\n", key, field, s ? s : "(nil)", want);
	free(s);
	return ok;
}

static long long hget_ll(const char *key, const char *field)
{
	char *s = hget(key, field);
	long long v = s ? strtoll(s, NULL, 10) : -999;

	free(s);
	return v;
}

static long long int_cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (!r) {
		printf("# FATAL redis: %s\n", rc->errstr);
		exit(1);
	}
	v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
	freeReplyObject(r);
	return v;
}

/* occurrences of value in a (small, test-sized) list */
static int list_count(const char *key, const char *value)
{
	redisReply *r = cmd("LRANGE %s 0 -1", key);
	int n = 0;

	for (size_t i = 0; i < r->elements; i++)
		if (strcmp(r->element[i]->str, value) == 0)
			n++;
	freeReplyObject(r);
	return n;
}

static const char *last_event_field(const char *field)
{
	static char out[128];
	redisReply *r = cmd("XREVRANGE %s + - COUNT 1", k_events());

	out[0] = '\0';
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		redisReply *fv = r->element[0]->element[1];

		for (size_t i = 0; i + 1 < fv->elements; i += 2)
			if (strcmp(fv->element[i]->str, field) == 0)
				snprintf(out, sizeof(out), "%s", fv->element[i + 1]->str);
	}
	freeReplyObject(r);
	return out;
}

/* ---- the invariant, checked on every batch after every script call ---- */

static const char *const counters[] = { "pending", "queued", "running", "retry_wait",
					"completed", "failed", "cancelled" };

static void check_batch(const char *b)
{
	redisReply *r = cmd("HMGET %s total pending queued running retry_wait completed failed "
			    "cancelled status cancel_requested started_at completed_at", k_batch(b));
	long long v[8], by_state[7] = { 0 };
	const char *status, *want;
	bool terminal, started;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 12 || r->element[0]->type != REDIS_REPLY_STRING) {
		assertf(0, "batch %s has no hash", b);
		freeReplyObject(r);
		return;
	}
	for (int i = 0; i < 8; i++)
		v[i] = r->element[i]->type == REDIS_REPLY_STRING ? strtoll(r->element[i]->str, NULL, 10) : -999;
	status = r->element[8]->type == REDIS_REPLY_STRING ? r->element[8]->str : "(nil)";

	assertf(v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7] == v[0],
		"%s: counters %lld+%lld+%lld+%lld+%lld+%lld+%lld != total %lld", b,
		v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[0]);
	for (int i = 1; i < 8; i++)
		assertf(v[i] >= 0, "%s: counter %s is negative (%lld)", b, counters[i - 1], v[i]);

	terminal = v[5] + v[6] + v[7] == v[0];
	started = r->element[10]->type == REDIS_REPLY_STRING && r->element[10]->str[0] != '\0';
	/* docs/redis-keys.md "Batch status rule" */
	if (terminal) {
		const char *cr = r->element[9]->type == REDIS_REPLY_STRING ? r->element[9]->str : "";

		want = strcmp(cr, "1") == 0 ? "cancelled" : v[5] == v[0] ? "completed"
			: v[5] == 0 ? "failed" : "partial";
	} else {
		want = started ? "running" : "pending";
	}
	assertf(strcmp(status, want) == 0, "%s: status %s, rule says %s", b, status, want);
	assertf(!(v[3] + v[4] + v[5] + v[6] > 0) || started, "%s: started but no started_at", b);
	assertf(terminal == (r->element[11]->type == REDIS_REPLY_STRING && r->element[11]->str[0] != '\0'),
		"%s: completed_at must be set exactly when terminal", b);
	freeReplyObject(r);

	/* the counters must also count what the exec hashes say */
	r = cmd("LRANGE %s 0 -1", k_execs(b));
	assertf((long long)r->elements == v[0], "%s: %zu exec ids for total %lld", b, r->elements, v[0]);
	for (size_t i = 0; i < r->elements; i++) {
		char *st = hget(k_exec(b, r->element[i]->str), "state");
		int k;

		for (k = 0; k < 7 && (!st || strcmp(st, counters[k]) != 0); k++)
			;
		assertf(k < 7, "%s: exec %s has state %s", b, r->element[i]->str, st ? st : "(nil)");
		if (k < 7)
			by_state[k]++;
		free(st);
	}
	freeReplyObject(r);
	for (int k = 0; k < 7; k++)
		assertf(by_state[k] == v[k + 1], "%s: counter %s = %lld but %lld execs are %s", b,
			counters[k], v[k + 1], by_state[k], counters[k]);
}

static void check_all(void)
{
	for (int i = 0; i < n_batches; i++)
		check_batch(batches[i]);
}

/* ---- calling scripts ---- */

/* EVALSHA script id; the caller frees the reply. Checks the invariant afterwards. */
static redisReply *run(enum LuaScriptId id, int nkeys, const char **keys, int nargs, const char **args)
{
	int argc = 3 + nkeys + nargs;
	const char **argv = calloc((size_t)argc, sizeof(*argv));
	char nk[16];
	redisReply *r;

	if (!argv)
		exit(1);
	if (lua_scripts[id].nkeys >= 0)
		assertf(nkeys == lua_scripts[id].nkeys, "%s takes %d keys, test passes %d",
			lua_scripts[id].name, lua_scripts[id].nkeys, nkeys);
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = sha[id];
	argv[2] = nk;
	for (int i = 0; i < nkeys; i++)
		argv[3 + i] = keys[i];
	for (int i = 0; i < nargs; i++)
		argv[3 + nkeys + i] = args[i];
	r = redisCommandArgv(rc, argc, argv, NULL);
	free(argv);
	if (!r) {
		printf("# FATAL redis: %s\n", rc->errstr);
		exit(1);
	}
	if (r->type == REDIS_REPLY_ERROR)
		printf("# %s: error reply %s\n", lua_scripts[id].name, r->str);
	check_all();
	return r;
}

static long long run_int(enum LuaScriptId id, int nkeys, const char **keys, int nargs, const char **args)
{
	redisReply *r = run(id, nkeys, keys, nargs, args);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

	freeReplyObject(r);
	return v;
}

static void new_batch_id(char *out)
{
	snprintf(out, ID_MAX, "batch_%08x", ++id_seq);
}

/* enqueue_batch with n execs (ids written to exec_ids); registers the batch for checking */
static long long enqueue(const char *b, int n, char exec_ids[][ID_MAX])
{
	const char *keys[5 + 16];
	char args3[512], args4[4096];
	const char *args[4];
	size_t off = 0;
	long long rv;

	if (n > 16)
		exit(1);
	keys[0] = k_batch(b);
	keys[1] = k_execs(b);
	keys[2] = k_queue();
	keys[3] = k_batches();
	keys[4] = k_events();
	/* quotes, backslashes and newlines must survive JSON, Lua and Redis unchanged */
	snprintf(args3, sizeof(args3),
		 "{\"batch_execution_id\":\"0b0e6b8a-1111-4222-8333-444455556666\","
		 "\"workflow_id\":\"wf_1\",\"user_id\":\"user_1\",\"name\":\"test \\\"%s\\\"\","
		 "\"sql_query\":\"SELECT '{{start}}' AS s,\\n 'a\\\\b' AS t\"}", b);
	off += (size_t)snprintf(args4 + off, sizeof(args4) - off, "[");
	for (int i = 0; i < n; i++) {
		snprintf(exec_ids[i], ID_MAX, "exec_%08x", ++id_seq);
		keys[5 + i] = k_exec(b, exec_ids[i]);
		off += (size_t)snprintf(args4 + off, sizeof(args4) - off,
			"%s{\"exec_id\":\"%s\",\"id\":\"0b0e6b8a-0000-4000-8000-%012d\","
			"\"amc_instance_id\":\"amcinst%d\",\"instance_name\":\"Instance %d\","
			"\"parameters\":\"{\\\"brand\\\":\\\"x\\\"}\"}",
			i ? "," : "", exec_ids[i], i, i, i);
	}
	snprintf(args4 + off, sizeof(args4) - off, "]");
	args[0] = b;
	args[1] = now_str();
	args[2] = args3;
	args[3] = args4;
	rv = run_int(LUA_SCRIPT_ENQUEUE_BATCH, 5 + n, keys, 4, args);
	if (rv == LUA_OK && n_batches < MAX_BATCHES) {
		snprintf(batches[n_batches++], ID_MAX, "%s", b);
		check_all();
	}
	return rv;
}

/* claim: returns the reply (caller frees) */
static redisReply *claim(const char *w, int max)
{
	char maxs[16];
	const char *keys[3] = { k_queue(), k_jobs(w), k_events() };
	const char *args[4] = { w, now_str(), maxs, prefix };

	snprintf(maxs, sizeof(maxs), "%d", max);
	return run(LUA_SCRIPT_CLAIM, 3, keys, 4, args);
}

/* the ref of claimed job i, copied into out */
static bool job_ref(redisReply *r, size_t i, char *out, size_t n)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements || r->element[i]->elements != 3)
		return false;
	snprintf(out, n, "%s", r->element[i]->element[0]->str);
	return true;
}

static void ref_of(char *out, const char *b, const char *e)
{
	int n = snprintf(out, REF_MAX, "%s:%s", b, e);

	assertf(n > 0 && n < REF_MAX, "ref %s:%s too long", b, e);
}

static long long record_amc_id(const char *b, const char *e, const char *amc_id, const char *w)
{
	const char *keys[2] = { k_exec(b, e), k_events() };
	const char *args[3] = { amc_id, now_str(), w };

	return run_int(LUA_SCRIPT_RECORD_AMC_ID, 2, keys, 3, args);
}

static long long set_phase(const char *b, const char *e, const char *phase, const char *w)
{
	const char *keys[2] = { k_exec(b, e), k_events() };
	const char *args[3] = { phase, now_str(), w };

	return run_int(LUA_SCRIPT_SET_PHASE, 2, keys, 3, args);
}

/* finish; on success writes final_state/batch_status; returns the integer code or LUA_OK */
static long long finish(const char *b, const char *e, const char *outcome, const char *w,
			char *final_state, char *batch_status)
{
	char ref[REF_MAX];
	const char *keys[4] = { k_batch(b), k_exec(b, e), k_jobs(w), k_events() };
	const char *args[6];
	redisReply *r;
	long long rv = -999;

	ref_of(ref, b, e);
	args[0] = ref;
	args[1] = outcome;
	args[2] = now_str();
	args[3] = strcmp(outcome, "completed") == 0 ? "42" : "";
	args[4] = strcmp(outcome, "completed") == 0 ? "" : "AMC said \"no\"";
	args[5] = w;
	r = run(LUA_SCRIPT_FINISH, 4, keys, 6, args);
	if (r->type == REDIS_REPLY_INTEGER) {
		rv = r->integer;
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		snprintf(final_state, 16, "%s", r->element[0]->str);
		snprintf(batch_status, 16, "%s", r->element[1]->str);
		rv = LUA_OK;
	}
	freeReplyObject(r);
	return rv;
}

static redisReply *cancel_batch(const char *b)
{
	const char *keys[4] = { k_batch(b), k_execs(b), k_queue(), k_events() };
	const char *args[2] = { now_str(), prefix };

	return run(LUA_SCRIPT_CANCEL_BATCH, 4, keys, 2, args);
}

static long long heartbeat(const char *w, long long lease_ms)
{
	char ms[32];
	const char *keys[2] = { k_lease(w), k_workers() };
	const char *args[3] = { w, now_str(), ms };

	snprintf(ms, sizeof(ms), "%lld", lease_ms);
	return run_int(LUA_SCRIPT_HEARTBEAT, 2, keys, 3, args);
}

static long long reclaim(int max_workers)
{
	char maxs[16];
	const char *keys[3] = { k_workers(), k_queue(), k_events() };
	const char *args[3] = { now_str(), prefix, maxs };

	snprintf(maxs, sizeof(maxs), "%d", max_workers);
	return run_int(LUA_SCRIPT_RECLAIM, 3, keys, 3, args);
}

/* empty the shared queue so each test starts from a known order */
static void drain_queue(void)
{
	freeReplyObject(cmd("DEL %s", k_queue()));
}

/* ---- tests ---- */

static void test_lua_enqueue(void)
{
	char b[ID_MAX], e[3][ID_MAX], ref[REF_MAX];
	char *sql;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue_batch must return 1");
	assertf(hget_is(k_batch(b), "status", "pending"), "new batch is pending");
	assertf(hget_ll(k_batch(b), "total") == 3 && hget_ll(k_batch(b), "queued") == 3, "total = queued = 3");
	sql = hget(k_batch(b), "sql_query");
	assertf(sql && strcmp(sql, "SELECT '{{start}}' AS s,\n 'a\\b' AS t") == 0, "sql_query stored verbatim: %s", sql);
	free(sql);
	assertf(hget_is(k_exec(b, e[1]), "state", "queued"), "execs are queued");
	assertf(hget_is(k_exec(b, e[1]), "parameters", "{\"brand\":\"x\"}"), "parameters kept as JSON string");
	assertf(hget_is(k_exec(b, e[1]), "batch_id", b), "exec knows its batch");
	assertf(int_cmd("LLEN %s", k_queue()) == 3, "3 refs queued");
	ref_of(ref, b, e[0]);
	assertf(list_count(k_queue(), ref) == 1, "ref B:E in the queue");
	assertf(int_cmd("ZRANK %s %s", k_batches(), b) >= 0, "batch listed in the batches zset");
	assertf(strcmp(last_event_field("type"), "enqueued") == 0, "enqueued event");

	/* a second enqueue of the same batch changes nothing */
	assertf(enqueue(b, 3, e) == LUA_ERR_EXISTS, "duplicate batch returns -2");
	assertf(int_cmd("LLEN %s", k_queue()) == 3, "duplicate did not queue anything");
	drain_queue();
	/* the refs are gone but the execs are still queued: cancel to keep later claims clean */
	freeReplyObject(cancel_batch(b));
}

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
		bool st = false, wk = false, at = false;

		job_ref(r, i, ref, sizeof(ref));
		ref_of(want, a, ea[i]);
		assertf(strcmp(ref, want) == 0, "job %zu is %s, want %s (FIFO)", i, ref, want);
		for (size_t j = 0; j + 1 < h->elements; j += 2) {
			st |= !strcmp(h->element[j]->str, "state") && !strcmp(h->element[j + 1]->str, "running");
			wk |= !strcmp(h->element[j]->str, "worker") && !strcmp(h->element[j + 1]->str, "w1");
			at |= !strcmp(h->element[j]->str, "attempts") && !strcmp(h->element[j + 1]->str, "1");
		}
		assertf(st && wk && at, "claimed exec data shows running, worker w1, attempts 1");
		assertf(strcmp(r->element[i]->element[2]->str, "SELECT '{{start}}' AS s,\n 'a\\b' AS t") == 0,
			"job carries the batch sql_query");
	}
	freeReplyObject(r);
	assertf(hget_is(k_batch(a), "status", "running"), "batch a running after first claim");
	assertf(hget_ll(k_batch(a), "started_at") == now_ms, "batch a started_at = claim time");
	assertf(hget_is(k_batch(b), "status", "pending"), "batch b still pending");
	assertf(hget_ll(k_exec(a, ea[0]), "started_at") == now_ms, "exec started_at set");
	assertf(int_cmd("LLEN %s", k_jobs("w1")) == 2, "worker jobs list holds 2 refs");
	assertf(strcmp(last_event_field("type"), "claimed") == 0, "claimed event");

	r = claim("w1", 10);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "the 3 remaining jobs claimed");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
		ref_of(want, a, ea[2]);
		job_ref(r, 0, ref, sizeof(ref));
		assertf(!strcmp(ref, want), "a's last job before b's (FIFO across batches)");
		ref_of(want, b, eb[0]);
		job_ref(r, 1, ref, sizeof(ref));
		assertf(!strcmp(ref, want), "then b's first");
		ref_of(want, b, eb[1]);
		job_ref(r, 2, ref, sizeof(ref));
		assertf(!strcmp(ref, want), "then b's second");
	}
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
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "cancel removed the queued refs");
	/* put stale refs back, as if left behind: claim must drop them, popping at most 4*max */
	ref_of(ref, b, e[0]);
	for (int i = 0; i < 10; i++)
		freeReplyObject(cmd("LPUSH %s %s", k_queue(), ref));
	freeReplyObject(cmd("RPUSH %s %s", k_queue(), "batch_ffffffff:exec_ffffffff"));	/* unknown */
	r = claim("w2", 1);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "stale refs are not claimed");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_queue()) == 7, "one call pops at most 4 * max refs (left %lld)",
		int_cmd("LLEN %s", k_queue()));
	assertf(hget_is(k_exec(b, e[0]), "state", "cancelled"), "cancelled exec stays cancelled");

	/* a live job behind the stale refs is reached by the next calls */
	new_batch_id(c);
	assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue c");
	r = claim("w2", 2);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "live job claimed past 7 stale refs");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "queue drained");
	assertf(int_cmd("LLEN %s", k_jobs("w2")) == 1, "only the live job is held");
	freeReplyObject(cancel_batch(c));
}

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

	assertf(record_amc_id(b, e[0], "amcexec-999", "w4") == LUA_ERR_NOT_OWNER, "other worker: -4");
	assertf(set_phase(b, e[0], "downloading", "w4") == LUA_ERR_NOT_OWNER, "other worker: -4");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-123"), "amc id unchanged");
	assertf(record_amc_id(b, "exec_deadbeef", "x", "w3") == LUA_ERR_NOT_FOUND, "unknown exec: -1");
	assertf(set_phase(b, "exec_deadbeef", "polling", "w3") == LUA_ERR_NOT_FOUND, "unknown exec: -1");

	r = run(LUA_SCRIPT_SET_PHASE, 2, (const char *[]){ k_exec(b, e[0]), k_events() }, 3,
		(const char *[]){ "sleeping", now_str(), "w3" });
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
	struct { const char *o1, *o2, *want; } cases[] = {
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
		assertf(finish(b, e[0], cases[c].o1, "w6", st, bs) == LUA_ERR_NOT_OWNER, "other worker: -4");
		assertf(finish(b, e[0], cases[c].o1, "w5", st, bs) == LUA_OK, "finish 1");
		assertf(!strcmp(st, cases[c].o1) && !strcmp(bs, "running"), "first finish: %s/%s", st, bs);
		assertf(strcmp(last_event_field("type"), "finished") == 0, "finished event");
		ref_of(ref, b, e[0]);
		assertf(list_count(k_jobs("w5"), ref) == 0, "ref left the jobs list");
		assertf(finish(b, e[1], cases[c].o2, "w5", st, bs) == LUA_OK, "finish 2");
		assertf(!strcmp(st, cases[c].o2) && !strcmp(bs, cases[c].want), "batch %s, want %s", bs, cases[c].want);
		assertf(hget_is(k_batch(b), "status", cases[c].want), "status stored");
		assertf(hget_ll(k_batch(b), "completed_at") == now_ms, "completed_at set");
		assertf(hget_ll(k_exec(b, e[1]), "finished_at") == now_ms, "exec finished_at set");
		assertf(int_cmd("LLEN %s", k_jobs("w5")) == 0, "jobs list empty");
		assertf(finish(b, e[1], "completed", "w5", st, bs) == LUA_ERR_WRONG_STATE, "finish twice: -3");
		assertf(strcmp(last_event_field("batch_status"), cases[c].want) == 0, "event carries batch status");
		if (!strcmp(cases[c].o1, "completed"))
			assertf(hget_ll(k_exec(b, e[0]), "row_count") == 42, "row_count stored");
		else
			assertf(hget_is(k_exec(b, e[0]), "error", "AMC said \"no\""), "error stored");
		{
			redisReply *r = cancel_batch(b);

			assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_WRONG_STATE,
				"cancel of a terminal batch: -3");
			freeReplyObject(r);
		}
	}
	{
		char st[16], bs[16];

		assertf(finish("batch_eeeeeeee", "exec_eeeeeeee", "completed", "w5", st, bs) == LUA_ERR_NOT_FOUND,
			"unknown exec: -1");
	}
}

static void test_lua_finish_cancelled_is_discarded(void)
{
	char b[ID_MAX], e[2][ID_MAX], st[16] = "", bs[16] = "", ref[REF_MAX];
	long long cancelled;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 2, e) == LUA_OK, "enqueue");
	freeReplyObject(claim("w7", 1));
	freeReplyObject(cancel_batch(b));
	cancelled = hget_ll(k_batch(b), "cancelled");
	assertf(cancelled == 2, "both execs cancelled");
	assertf(finish(b, e[0], "completed", "w7", st, bs) == LUA_OK, "late finish answers");
	assertf(!strcmp(st, "cancelled") && !strcmp(bs, "cancelled"), "late finish discarded: %s/%s", st, bs);
	assertf(hget_ll(k_batch(b), "cancelled") == 2 && hget_ll(k_batch(b), "completed") == 0,
		"counters untouched");
	assertf(hget_is(k_exec(b, e[0]), "state", "cancelled"), "exec stays cancelled");
	ref_of(ref, b, e[0]);
	assertf(list_count(k_jobs("w7"), ref) == 0, "ref left the jobs list");
	assertf(strcmp(last_event_field("type"), "discarded") == 0, "discarded event");
}

static void test_lua_cancel_batch(void)
{
	char b[ID_MAX], o[ID_MAX], e[3][ID_MAX], eo[2][ID_MAX], ref[REF_MAX];
	redisReply *r;

	drain_queue();
	new_batch_id(o);
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue b");
	freeReplyObject(claim("w8", 1));	/* e[0] running */
	assertf(enqueue(o, 2, eo) == LUA_OK, "enqueue other");

	r = cancel_batch(b);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 5, "{status, n, 3 ids}");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 5) {
		assertf(!strcmp(r->element[0]->str, "cancelled"), "batch cancelled");
		assertf(r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == 3, "3 cancelled");
		for (int i = 0; i < 3; i++)
			assertf(!strcmp(r->element[2 + i]->str, e[i]), "cancelled ids in order");
	}
	freeReplyObject(r);
	for (int i = 0; i < 3; i++) {
		ref_of(ref, b, e[i]);
		assertf(list_count(k_queue(), ref) == 0, "no ref of the batch left in the queue");
		assertf(hget_is(k_exec(b, e[i]), "state", "cancelled"), "exec cancelled");
	}
	assertf(hget_is(k_exec(b, e[0]), "worker", "w8"), "running exec keeps its worker (told via state)");
	assertf(int_cmd("LLEN %s", k_queue()) == 2, "the other batch's refs stay");
	assertf(hget_is(k_batch(b), "cancel_requested", "1"), "cancel_requested");
	assertf(hget_is(k_batch(o), "status", "pending"), "other batch untouched");
	assertf(strcmp(last_event_field("type"), "cancelled") == 0, "cancelled event");

	r = cancel_batch(b);
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_WRONG_STATE, "second cancel: -3");
	freeReplyObject(r);
	r = cancel_batch("batch_dddddddd");
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_NOT_FOUND, "unknown batch: -1");
	freeReplyObject(r);
	freeReplyObject(cancel_batch(o));
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "queue empty");
}

static void test_lua_heartbeat(void)
{
	long long ttl;
	char *score;

	assertf(heartbeat("w9", 30000) == LUA_OK, "heartbeat ok");
	ttl = int_cmd("PTTL %s", k_lease("w9"));
	assertf(ttl > 0 && ttl <= 30000, "lease has a TTL (%lld)", ttl);
	{
		redisReply *r = cmd("GET %s", k_lease("w9"));

		assertf(r->type == REDIS_REPLY_STRING && !strcmp(r->str, "w9"), "lease holds the worker id");
		freeReplyObject(r);
		r = cmd("ZSCORE %s w9", k_workers());
		score = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
		freeReplyObject(r);
	}
	assertf(score && strtoll(score, NULL, 10) == now_ms, "workers zset scored by heartbeat time");
	free(score);
	{
		redisReply *r = run(LUA_SCRIPT_HEARTBEAT, 2, (const char *[]){ k_lease("w9"), k_workers() }, 3,
				    (const char *[]){ "w9", now_str(), "0" });

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
	assertf(record_amc_id(b, e[0], "amcexec-resume", "wdead") == LUA_OK, "dead worker had created on AMC");
	/* the 1 ms lease lapses by itself (Redis expires it); bounded wait */
	for (waited = 0; waited < 200 && int_cmd("EXISTS %s", k_lease("wdead")) == 1; waited++)
		nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = 5000000 }, NULL);
	assertf(int_cmd("EXISTS %s", k_lease("wdead")) == 0, "dead lease expired");
	now_ms += 60000;

	assertf(reclaim(10) == 2, "2 jobs re-queued");
	assertf(strcmp(last_event_field("type"), "requeued") == 0, "requeued event");
	for (int i = 0; i < 2; i++) {
		assertf(hget_is(k_exec(b, e[i]), "state", "queued"), "dead worker's job queued");
		assertf(hget_is(k_exec(b, e[i]), "worker", ""), "and held by nobody");
	}
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-resume"), "amc_execution_id kept");
	for (int i = 2; i < 4; i++)
		assertf(hget_is(k_exec(b, e[i]), "state", "running") && hget_is(k_exec(b, e[i]), "worker", "wlive"),
			"live worker's jobs stay");
	assertf(int_cmd("ZRANK %s wdead", k_workers()) == -999, "dead worker left the workers zset");
	assertf(int_cmd("ZRANK %s wlive", k_workers()) >= 0, "live worker stays");
	assertf(int_cmd("EXISTS %s", k_jobs("wdead")) == 0, "dead worker's jobs list gone");
	assertf(int_cmd("LLEN %s", k_jobs("wlive")) == 2, "live worker's jobs list intact");
	assertf(hget_is(k_batch(b), "status", "running"), "a started batch stays running");
	assertf(hget_ll(k_batch(b), "started_at") == started, "batch started_at unchanged");
	assertf(set_phase(b, e[1], "polling", "wdead") == LUA_ERR_NOT_OWNER, "dead worker lost its job: -4");
	assertf(reclaim(10) == 0, "nothing more to reclaim");

	/* reclaimed jobs are claimed next and resume the AMC execution */
	r = claim("wlive", 1);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "claim a reclaimed job");
	ref_of(ref, b, e[0]);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
		assertf(!strcmp(r->element[0]->element[0]->str, ref), "oldest reclaimed job first");
	freeReplyObject(r);
	assertf(hget_ll(k_exec(b, e[0]), "attempts") == 2, "attempts counts the second claim");
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-resume"), "resumes the AMC execution");
	assertf(hget_ll(k_exec(b, e[0]), "started_at") == started, "exec started_at is the first claim");
	freeReplyObject(claim("wlive", 1));
	for (int i = 0; i < 4; i++)
		assertf(finish(b, e[i], "completed", "wlive", st, bs) == LUA_OK, "live worker finishes all");
	assertf(hget_is(k_batch(b), "status", "completed"), "batch completed after a reclaim");
	assertf(int_cmd("LLEN %s", k_jobs("wlive")) == 0, "live worker holds nothing");
	freeReplyObject(cmd("DEL %s %s", k_lease("wlive"), k_workers()));
}

static void test_lua_events_stream(void)
{
	long long n = int_cmd("XLEN %s", k_events());

	assertf(n > 20, "events stream has one entry per transition (%lld)", n);
}

/* ---- setup ---- */

static bool connect_url(const char *url)
{
	int db = 0;

	if (strncmp(url, "unix:", 5) == 0) {
		char path[256];
		const char *q = strstr(url, "?db=");

		snprintf(path, sizeof(path), "%.*s", (int)(q ? q - (url + 5) : (long)strlen(url + 5)), url + 5);
		if (q)
			db = atoi(q + 4);
		rc = redisConnectUnix(path);
	} else if (strncmp(url, "redis://", 8) == 0) {
		char host[256];
		int port = 6379;
		const char *h = url + 8, *colon = strchr(h, ':'), *slash = strchr(h, '/');
		size_t hl = colon ? (size_t)(colon - h) : slash ? (size_t)(slash - h) : strlen(h);

		snprintf(host, sizeof(host), "%.*s", (int)hl, h);
		if (colon)
			port = atoi(colon + 1);
		if (slash)
			db = atoi(slash + 1);
		rc = redisConnect(host, port);
	} else {
		printf("# REDIS_URL must be redis://host:port/db or unix:/path\n");
		return false;
	}
	if (!rc || rc->err) {
		printf("# cannot connect to %s: %s\n", url, rc ? rc->errstr : "out of memory");
		return false;
	}
	if (db) {
		redisReply *r = cmd("SELECT %d", db);
		bool ok = r->type != REDIS_REPLY_ERROR;

		freeReplyObject(r);
		return ok;
	}
	return true;
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
	assertf(LUA_ENQUEUE_BATCH_NKEYS == -1 && LUA_CLAIM_NKEYS == 3 && LUA_FINISH_NKEYS == 4,
		"nkeys from the script headers");
}

static void cleanup_keys(void)
{
	char pattern[80], cursor[32] = "0";

	snprintf(pattern, sizeof(pattern), "%s*", prefix);
	do {
		redisReply *r = cmd("SCAN %s MATCH %s COUNT 1000", cursor, pattern);

		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++)
			freeReplyObject(cmd("DEL %s", r->element[1]->element[i]->str));
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
}

int main(void)
{
	const char *url = getenv("REDIS_URL");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!url || !*url)
		TAP_SKIP_ALL("REDIS_URL not set");
	if (!connect_url(url))
		return 1;
	snprintf(prefix, sizeof(prefix), "amcbtest:%ld:", (long)getpid());

	RUN_TEST(test_lua_scripts_load);
	if (tap_failed)
		return tap_done();
	RUN_TEST(test_lua_enqueue);
	RUN_TEST(test_lua_claim_fifo_and_max);
	RUN_TEST(test_lua_claim_skips_stale_refs);
	RUN_TEST(test_lua_record_amc_id_and_set_phase);
	RUN_TEST(test_lua_finish_outcomes);
	RUN_TEST(test_lua_finish_cancelled_is_discarded);
	RUN_TEST(test_lua_cancel_batch);
	RUN_TEST(test_lua_heartbeat);
	RUN_TEST(test_lua_reclaim);
	RUN_TEST(test_lua_events_stream);

	cleanup_keys();
	redisFree(rc);
	return tap_done();
}
