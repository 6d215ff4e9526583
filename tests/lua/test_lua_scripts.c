/* test_lua_scripts.c - runs every Lua script of lua/ (through the generated lua_scripts.c, by
 * EVALSHA) against the real redis-server named by REDIS_URL, and after every call checks the
 * counter invariant and batch status rule of docs/redis-keys.md on every batch it created,
 * and the scheduling invariants: P running equals the running execs per instance and account,
 * every queued exec waits in its batch's queue or one parked list, every retry_wait exec is in
 * P retry, and the ring P queue holds exactly the batches whose queue is not empty.
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
#define MAX_BATCHES 256
#define MAX_EXECS 128		/* per enqueue */
static char batches[MAX_BATCHES][ID_MAX];
static int n_batches;

/* ---- small helpers (all replies are freed where they are read) ---- */

static char *kbuf(void)
{
	/* enough for one enqueue of MAX_EXECS keys plus the keys the calls around it build */
	static char ring[4 * MAX_EXECS][KEYS_MAX];
	static unsigned next;

	return ring[next++ % (4 * MAX_EXECS)];
}

static const char *k_batch(const char *b) { return keys_batch(kbuf(), KEYS_MAX, prefix, b); }
static const char *k_execs(const char *b) { return keys_batch_execs(kbuf(), KEYS_MAX, prefix, b); }
static const char *k_exec(const char *b, const char *e) { return keys_exec(kbuf(), KEYS_MAX, prefix, b, e); }
static const char *k_queue(void) { return keys_queue(kbuf(), KEYS_MAX, prefix); }
static const char *k_bqueue(const char *b) { return keys_batch_queue(kbuf(), KEYS_MAX, prefix, b); }
static const char *k_retry(void) { return keys_retry(kbuf(), KEYS_MAX, prefix); }
static const char *k_running(void) { return keys_running(kbuf(), KEYS_MAX, prefix); }
static const char *k_parked(const char *kind, const char *id) { return keys_parked(kbuf(), KEYS_MAX, prefix, kind, id); }
static const char *k_batches(void) { return keys_batches(kbuf(), KEYS_MAX, prefix); }
static const char *k_events(void) { return keys_events(kbuf(), KEYS_MAX, prefix); }
static const char *k_workers(void) { return keys_workers(kbuf(), KEYS_MAX, prefix); }
static const char *k_jobs(const char *w) { return keys_worker_jobs(kbuf(), KEYS_MAX, prefix, w); }
static const char *k_lease(const char *w) { return keys_worker_lease(kbuf(), KEYS_MAX, prefix, w); }
static const char *k_info(const char *w) { return keys_worker_info(kbuf(), KEYS_MAX, prefix, w); }
static const char *k_amc_cancels(void) { return keys_amc_cancels(kbuf(), KEYS_MAX, prefix); }

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

/* whether B:E is a member of the ZSET key */
static bool zscore_set(const char *key, const char *b, const char *e)
{
	redisReply *r = cmd("ZSCORE %s %s:%s", key, b, e);
	bool set = r->type == REDIS_REPLY_STRING;

	freeReplyObject(r);
	return set;
}

/* ---- the invariant, checked on every batch after every script call ---- */

/* truth of P running, recounted from the exec hashes by every check_all */
static struct { char field[96]; long long n; } tally[2 * MAX_BATCHES * 8];
static int n_tally;
static long long n_retry_wait;

static void tally_add(const char *kind, const char *id)
{
	char f[96];
	int t;

	if (!*id)
		return;		/* an exec without that id is not capped, not counted */
	snprintf(f, sizeof(f), "%s:%s", kind, id);
	for (t = 0; t < n_tally && strcmp(tally[t].field, f) != 0; t++)
		;
	if (t == n_tally) {
		if (n_tally == (int)ARRAY_LEN(tally))
			return;
		snprintf(tally[n_tally++].field, sizeof(tally[0].field), "%s", f);
		tally[t].n = 0;
	}
	tally[t].n++;
}

static const char *const counters[] = { "pending", "queued", "running", "retry_wait",
					"completed", "failed", "cancelled" };

static void check_batch(const char *b)
{
	redisReply *r = cmd("HMGET %s total pending queued running retry_wait completed failed "
			    "cancelled status cancel_requested started_at completed_at on_failure "
			    "min_success_ratio", k_batch(b));
	long long v[8], by_state[7] = { 0 };
	redisReply **hs;
	const char *status, *want;
	bool terminal, started;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 14 || r->element[0]->type != REDIS_REPLY_STRING) {
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
		/* cancelled when the cancel stopped something (an exec it came too late for keeps
		 * its result: PostgreSQL's trigger counts the same way) */
		/* (read with the counters: a key built here would turn the test's key ring) */
		const char *pol = r->element[12]->type == REDIS_REPLY_STRING ? r->element[12]->str : NULL;
		const char *ratio = r->element[13]->type == REDIS_REPLY_STRING ? r->element[13]->str : NULL;
		bool ff = pol && !strcmp(pol, "fail_fast");
		long long need = -1;

		/* the batch policy (on_failure) applies once something did not complete: fail_fast
		 * with a failure is failed; min_success_ratio needs ceil(ratio * total) completed */
		if (pol && !strcmp(pol, "min_success_ratio") && ratio && *ratio) {
			double want_n = strtod(ratio, NULL) * (double)v[0] - 1e-9;

			need = (long long)want_n + ((double)(long long)want_n < want_n ? 1 : 0);
		}
		want = v[5] == v[0] ? "completed" : ff && v[6] > 0 ? "failed" : v[7] > 0 ? "cancelled" :
		       need >= 0 && v[5] < need ? "failed" : v[5] == 0 ? "failed" : "partial";
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
	/* pipelined: every reply is read before the next command is sent */
	hs = calloc(r->elements ? r->elements : 1, sizeof(*hs));
	if (!hs)
		exit(1);
	for (size_t i = 0; i < r->elements; i++)
		redisAppendCommand(rc, "HMGET %s state parked amc_instance_id account_id slots",
				   k_exec(b, r->element[i]->str));
	for (size_t i = 0; i < r->elements; i++) {
		if (redisGetReply(rc, (void **)&hs[i]) != REDIS_OK || !hs[i]) {
			printf("# FATAL redis: %s\n", rc->errstr);
			exit(1);
		}
	}
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *h = hs[i];
		const char *st, *parked, *inst, *acct, *sl;
		char ref[2 * ID_MAX + 2];
		int k;

		st = h->element[0]->type == REDIS_REPLY_STRING ? h->element[0]->str : "(nil)";
		parked = h->element[1]->type == REDIS_REPLY_STRING ? h->element[1]->str : "";
		inst = h->element[2]->type == REDIS_REPLY_STRING ? h->element[2]->str : "";
		acct = h->element[3]->type == REDIS_REPLY_STRING ? h->element[3]->str : "";
		sl = h->element[4]->type == REDIS_REPLY_STRING ? h->element[4]->str : "";
		snprintf(ref, sizeof(ref), "%s:%s", b, r->element[i]->str);
		for (k = 0; k < 7 && strcmp(st, counters[k]) != 0; k++)
			;
		assertf(k < 7, "%s: exec %s has state %s", b, r->element[i]->str, st);
		if (k < 7)
			by_state[k]++;
		/* lib/slots.lua: a running exec holds its slots, and so does a queued or
		 * retry_wait one whose AMC execution still runs (slots = 1) */
		if (strcmp(st, "running") == 0)
			assertf(!strcmp(sl, "1"), "%s: running %s without its slots (slots '%s')", b, ref, sl);
		if (strcmp(sl, "1") == 0) {
			assertf(!strcmp(st, "running") || !strcmp(st, "queued") || !strcmp(st, "retry_wait"),
				"%s: %s is %s and holds slots", b, ref, st);
			assertf(!*parked, "%s: %s holds slots and is parked", b, ref);
			tally_add("instance", inst);
			tally_add("account", acct);
		}
		if (strcmp(st, "queued") == 0) {
			/* waits in exactly one place: its batch's queue, or the parked list it names */
			long long n = *parked ? list_count(k_parked(parked, strcmp(parked, "instance") == 0 ? inst : acct), ref)
					      : list_count(k_bqueue(b), ref);

			assertf(n == 1, "%s: queued %s is %d times in %s", b, ref, (int)n,
				*parked ? parked : "its batch queue");
			if (*parked)
				assertf(list_count(k_bqueue(b), ref) == 0, "%s: parked %s also in the queue", b, ref);
		} else if (strcmp(st, "retry_wait") == 0) {
			redisReply *z = cmd("ZSCORE %s %s", k_retry(), ref);

			assertf(z->type == REDIS_REPLY_STRING, "%s: retry_wait %s not in P retry", b, ref);
			freeReplyObject(z);
			n_retry_wait++;
		}
		if (strcmp(st, "queued") != 0)
			assertf(*parked == '\0', "%s: %s is %s but parked on %s", b, ref, st, parked);
		freeReplyObject(h);
	}
	free(hs);
	freeReplyObject(r);
	for (int k = 0; k < 7; k++)
		assertf(by_state[k] == v[k + 1], "%s: counter %s = %lld but %lld execs are %s", b,
			counters[k], v[k + 1], by_state[k], counters[k]);
	/* the ring holds the batch exactly when its queue is not empty (once) */
	{
		int in_ring = list_count(k_queue(), b);
		long long qlen = int_cmd("LLEN %s", k_bqueue(b));

		assertf(in_ring == (qlen > 0 ? 1 : 0), "%s: in the ring %d times with %lld refs queued", b, in_ring, qlen);
	}
}

/* P running must hold exactly the tally of execs holding slots (no field at 0, none negative) */
static void check_running(void)
{
	redisReply *r = cmd("HGETALL %s", k_running());

	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		long long have = strtoll(r->element[i + 1]->str, NULL, 10), want = 0;

		for (int t = 0; t < n_tally; t++)
			if (strcmp(tally[t].field, r->element[i]->str) == 0)
				want = tally[t].n;
		assertf(have == want && have > 0, "P running %s = %lld, %lld execs run there",
			r->element[i]->str, have, want);
	}
	for (int t = 0; t < n_tally; t++) {
		char *have = hget(k_running(), tally[t].field);

		assertf(have && strtoll(have, NULL, 10) == tally[t].n, "P running %s = %s, %lld execs run there",
			tally[t].field, have ? have : "(nil)", tally[t].n);
		free(have);
	}
	freeReplyObject(r);
	assertf(int_cmd("ZCARD %s", k_retry()) == n_retry_wait, "P retry holds %lld refs for %lld retry_wait execs",
		int_cmd("ZCARD %s", k_retry()), n_retry_wait);
}

static void check_all(void)
{
	n_tally = 0;
	n_retry_wait = 0;
	for (int i = 0; i < n_batches; i++)
		check_batch(batches[i]);
	check_running();
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

/* enqueue_batch with n execs (ids written to exec_ids) on instances insts[i] of accounts
 * accts[i] (NULL: amcinst<i>, no account); registers the batch for checking */
/* extra batch fields (JSON members with a leading comma) the next enqueues send, e.g. the
 * batch policy; "" = none */
static const char *enqueue_extra = "";

static long long enqueue_on(const char *b, int n, char exec_ids[][ID_MAX], const char *const *insts,
			    const char *const *accts)
{
	const char *keys[5 + MAX_EXECS];
	static char args4[MAX_EXECS * 256];
	char args3[512], inst[64];
	const char *args[4];
	size_t off = 0;
	long long rv;

	if (n > MAX_EXECS)
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
		 "\"sql_query\":\"SELECT '{{start}}' AS s,\\n 'a\\\\b' AS t\"%s}", b, enqueue_extra);
	off += (size_t)snprintf(args4 + off, sizeof(args4) - off, "[");
	for (int i = 0; i < n; i++) {
		snprintf(exec_ids[i], ID_MAX, "exec_%08x", ++id_seq);
		keys[5 + i] = k_exec(b, exec_ids[i]);
		if (insts)
			snprintf(inst, sizeof(inst), "%s", insts[i]);
		else
			snprintf(inst, sizeof(inst), "amcinst%d", i);
		off += (size_t)snprintf(args4 + off, sizeof(args4) - off,
			"%s{\"exec_id\":\"%s\",\"id\":\"0b0e6b8a-0000-4000-8000-%012d\","
			"\"amc_instance_id\":\"%s\",\"account_id\":\"%s\",\"instance_name\":\"Instance %d\","
			"\"amc_region\":\"%s\",\"parameters\":\"{\\\"brand\\\":\\\"x\\\"}\"}",
			i ? "," : "", exec_ids[i], i, inst, accts ? accts[i] : "", i,
			(const char *const[]){ "NA", "EU", "FE" }[i % 3]);
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

static long long enqueue(const char *b, int n, char exec_ids[][ID_MAX])
{
	return enqueue_on(b, n, exec_ids, NULL, NULL);
}

/* claim under the given caps: returns the reply (caller frees) */
static redisReply *claim_caps(const char *w, int max, int icap, int acap)
{
	char maxs[16], ic[16], ac[16];
	const char *keys[5] = { k_queue(), k_jobs(w), k_events(), k_retry(), k_running() };
	const char *args[6] = { w, now_str(), maxs, prefix, ic, ac };

	snprintf(maxs, sizeof(maxs), "%d", max);
	snprintf(ic, sizeof(ic), "%d", icap);
	snprintf(ac, sizeof(ac), "%d", acap);
	return run(LUA_SCRIPT_CLAIM, 5, keys, 6, args);
}

/* claim under the default caps (10 per instance, 200 per account) */
static redisReply *claim(const char *w, int max)
{
	return claim_caps(w, max, 10, 200);
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

/* The claim token a held-job call carries: the exec's current `claim` (a holder that knows
 * its claim), unless a test sets stale_token to play a holder whose claim was superseded. */
static const char *stale_token;

static const char *tok(const char *b, const char *e)
{
	static char t[4][32];
	static unsigned next;
	char *out = t[next++ % 4], *v;

	if (stale_token)
		return stale_token;
	v = hget(k_exec(b, e), "claim");
	snprintf(out, 32, "%s", v ? v : "");
	free(v);
	return out;
}

static long long record_amc_id(const char *b, const char *e, const char *amc_id, const char *w)
{
	const char *keys[2] = { k_exec(b, e), k_events() };
	const char *args[4] = { amc_id, now_str(), w, tok(b, e) };

	return run_int(LUA_SCRIPT_RECORD_AMC_ID, 2, keys, 4, args);
}

static long long set_phase(const char *b, const char *e, const char *phase, const char *w)
{
	const char *keys[2] = { k_exec(b, e), k_events() };
	const char *args[4] = { phase, now_str(), w, tok(b, e) };

	return run_int(LUA_SCRIPT_SET_PHASE, 2, keys, 4, args);
}

/* finish; on success writes final_state/batch_status; returns the integer code or LUA_OK */
static long long finish(const char *b, const char *e, const char *outcome, const char *w,
			char *final_state, char *batch_status)
{
	char ref[REF_MAX];
	const char *keys[4] = { k_batch(b), k_exec(b, e), k_jobs(w), k_events() };
	const char *args[7];
	redisReply *r;
	long long rv = -999;

	ref_of(ref, b, e);
	args[0] = ref;
	args[1] = outcome;
	args[2] = now_str();
	args[3] = strcmp(outcome, "completed") == 0 ? "42" : "";
	args[4] = strcmp(outcome, "completed") == 0 ? "" : "AMC said \"no\"";
	args[5] = w;
	args[6] = *tok(b, e) ? tok(b, e) : "0";
	r = run(LUA_SCRIPT_FINISH, 4, keys, 7, args);
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

/* heartbeat asking for up to max_refs of w's jobs list; the reply (caller frees) */
static redisReply *heartbeat_refs(const char *w, long long lease_ms, int max_refs)
{
	char ms[32], mx[16];
	const char *keys[4] = { k_lease(w), k_workers(), k_jobs(w), k_info(w) };
	const char *args[6] = { w, now_str(), ms, mx, "host", "testhost" };

	snprintf(ms, sizeof(ms), "%lld", lease_ms);
	snprintf(mx, sizeof(mx), "%d", max_refs);
	return run(LUA_SCRIPT_HEARTBEAT, 4, keys, 6, args);
}

/* LUA_OK when the heartbeat answered its { n, ref... } array */
static long long heartbeat(const char *w, long long lease_ms)
{
	redisReply *r = heartbeat_refs(w, lease_ms, 0);
	long long v = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 ? LUA_OK :
		      r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

	freeReplyObject(r);
	return v;
}

static long long reclaim(int max_workers)
{
	char maxs[16];
	const char *keys[3] = { k_workers(), k_queue(), k_events() };
	const char *args[3] = { now_str(), prefix, maxs };

	snprintf(maxs, sizeof(maxs), "%d", max_workers);
	return run_int(LUA_SCRIPT_RECLAIM, 3, keys, 3, args);
}

/* retry with the flags of ARGV[7], [9] and [10] (throttled, AMC execution live, nothing
 * created); on success writes the batch status; returns the integer code or LUA_OK */
static long long retry_flags(const char *b, const char *e, const char *w, long long due,
			     const char *reason, const char *throttled, const char *amc_live,
			     const char *no_create, char *batch_status)
{
	char ref[REF_MAX], dues[32];
	const char *keys[5] = { k_batch(b), k_exec(b, e), k_jobs(w), k_retry(), k_events() };
	const char *args[10] = { ref, now_str(), dues, reason, w, prefix, throttled, tok(b, e),
				 amc_live, no_create };
	redisReply *r;
	long long rv = -999;

	ref_of(ref, b, e);
	snprintf(dues, sizeof(dues), "%lld", due);
	r = run(LUA_SCRIPT_RETRY, 5, keys, 10, args);
	if (r->type == REDIS_REPLY_INTEGER) {
		rv = r->integer;
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		assertf(!strcmp(r->element[0]->str, "retry_wait"), "retry answers retry_wait");
		snprintf(batch_status, 16, "%s", r->element[1]->str);
		rv = LUA_OK;
	}
	freeReplyObject(r);
	return rv;
}

static long long retry(const char *b, const char *e, const char *w, long long due, const char *reason,
		       char *batch_status)
{
	return retry_flags(b, e, w, due, reason, "0", "0", "0", batch_status);
}

static long long release_live(const char *b, const char *e, const char *w, const char *amc_live)
{
	char ref[REF_MAX];
	const char *keys[4] = { k_batch(b), k_exec(b, e), k_jobs(w), k_events() };
	const char *args[6] = { ref, now_str(), w, prefix, tok(b, e), amc_live };

	ref_of(ref, b, e);
	return run_int(LUA_SCRIPT_RELEASE, 4, keys, 6, args);
}

static long long release(const char *b, const char *e, const char *w)
{
	return release_live(b, e, w, "0");
}

/* running slots held on one instance or account (0 when the field is absent) */
static long long slots(const char *kind, const char *id)
{
	char f[96];
	long long v;

	snprintf(f, sizeof(f), "%s:%s", kind, id);
	v = hget_ll(k_running(), f);
	return v == -999 ? 0 : v;
}

/* does claim reply r hold the job b:e? */
static bool claimed_has(redisReply *r, const char *b, const char *e)
{
	char ref[REF_MAX], got[REF_MAX];

	ref_of(ref, b, e);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (job_ref(r, i, got, sizeof(got)) && !strcmp(got, ref))
			return true;
	return false;
}

static size_t n_claimed(redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

/* every batch a test left open is cancelled, so each test starts from an empty ring */
static void drain_queue(void)
{
	for (int i = 0; i < n_batches; i++) {
		char *st = hget(k_batch(batches[i]), "status");

		if (st && (!strcmp(st, "pending") || !strcmp(st, "running")))
			freeReplyObject(cancel_batch(batches[i]));
		free(st);
	}
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty once every batch is cancelled");
}

/* finish_many of n jobs b[i]:e[i] by worker w with outcome o[i] (rows "7" when completed,
 * error "boom" when failed); the caller frees the reply */
#define FM_MAX 16
static redisReply *finish_many(const char *w, int n, const char *const *b, const char *const *e,
			       const char *const *o)
{
	static char refs[FM_MAX][REF_MAX], toks[FM_MAX][32];
	const char *keys[2 + 2 * FM_MAX], *args[2 + 5 * FM_MAX];

	if (n > FM_MAX)
		exit(1);
	keys[0] = k_events();
	keys[1] = k_jobs(w);
	args[0] = now_str();
	args[1] = w;
	for (int i = 0; i < n; i++) {
		bool done = strcmp(o[i], "completed") == 0;

		ref_of(refs[i], b[i], e[i]);
		keys[2 + 2 * i] = k_batch(b[i]);
		keys[3 + 2 * i] = k_exec(b[i], e[i]);
		snprintf(toks[i], sizeof(toks[i]), "%s", *tok(b[i], e[i]) ? tok(b[i], e[i]) : "0");
		args[2 + 5 * i] = refs[i];
		args[3 + 5 * i] = o[i];
		args[4 + 5 * i] = done ? "7" : "";
		args[5 + 5 * i] = done ? "" : "boom";
		args[6 + 5 * i] = toks[i];
	}
	return run(LUA_SCRIPT_FINISH_MANY, 2 + 2 * n, keys, 2 + 5 * n, args);
}

/* result i of a finish_many reply is {state, batch_status} */
static bool fm_result_is(const redisReply *r, size_t i, const char *state, const char *status)
{
	const redisReply *x;

	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return false;
	x = r->element[i];
	return x->type == REDIS_REPLY_ARRAY && x->elements == 2 && !strcmp(x->element[0]->str, state) &&
	       !strcmp(x->element[1]->str, status);
}

static bool fm_result_code(const redisReply *r, size_t i, long long code)
{
	return r->type == REDIS_REPLY_ARRAY && i < r->elements &&
	       r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer == code;
}

/* an entry of type among the last 50 events whose exec_ids is ids (and whose field f = v) */
static bool has_event(const char *type, const char *ids, const char *f, const char *v)
{
	redisReply *r = cmd("XREVRANGE %s + - COUNT 50", k_events());
	bool found = false;

	for (size_t i = 0; i < r->elements && !found; i++) {
		redisReply *fv = r->element[i]->element[1];
		bool t = false, x = false, y = false;

		for (size_t j = 0; j + 1 < fv->elements; j += 2) {
			const char *k = fv->element[j]->str, *val = fv->element[j + 1]->str;

			t |= !strcmp(k, "type") && !strcmp(val, type);
			x |= !strcmp(k, "exec_ids") && !strcmp(val, ids);
			y |= !strcmp(k, f) && !strcmp(val, v);
		}
		found = t && x && y;
	}
	freeReplyObject(r);
	return found;
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
	char (*kb)[KEYS_MAX] = calloc((size_t)n + 5, KEYS_MAX);
	const char **keys = calloc((size_t)n + 5, sizeof(*keys));
	char *execs = malloc((size_t)n * 160 + 8), id[ID_MAX];
	size_t off = 0;
	redisReply *r;

	if (!kb || !keys || !execs)
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
		off += (size_t)sprintf(execs + off, "%s{\"exec_id\":\"%s\",\"amc_instance_id\":\"amcbig%d\"}",
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
	assertf(hget_ll(k_batch(b), "total") == n && hget_ll(k_batch(b), "queued") == n, "counters");
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
		assertf(int_cmd("EXISTS %s", k_batch(b)) == 0 && int_cmd("EXISTS %s", k_exec(b, e0)) == 0 &&
			int_cmd("EXISTS %s", k_execs(b)) == 0 && list_count(k_queue(), b) == 0,
			"pass %d: nothing written", pass);
		unenqueue_raw(b, 3);
	}
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
		bool at = false;

		job_ref(r, i, ref, sizeof(ref));
		/* a's turn (up to 4 jobs) comes first: its first two jobs, in order */
		ref_of(want, a, ea[i]);
		assertf(strcmp(ref, want) == 0, "job %zu is %s, want %s (FIFO within a turn)", i, ref, want);
		for (size_t j = 0; j + 1 < h->elements; j += 2)
			at |= !strcmp(h->element[j]->str, "attempts") && !strcmp(h->element[j + 1]->str, "1");
		assertf(at, "claimed exec data shows attempts 1");
		assertf(hget_is(k_exec(a, ea[i]), "state", "running") && hget_is(k_exec(a, ea[i]), "worker", "w1"),
			"the exec is running under w1");
		assertf(strcmp(r->element[i]->element[2]->str, "SELECT '{{start}}' AS s,\n 'a\\b' AS t") == 0,
			"job carries the batch sql_query");
	}
	freeReplyObject(r);
	assertf(hget_is(k_batch(a), "status", "running"), "batch a running after first claim");
	assertf(hget_ll(k_batch(a), "started_at") == now_ms, "batch a started_at = claim time");
	assertf(hget_is(k_batch(b), "status", "pending"), "batch b still pending (its turn is next)");
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
	freeReplyObject(cmd("RPUSH %s %s", k_bqueue(b), "batch_ffffffff:exec_ffffffff"));	/* unknown */
	freeReplyObject(cmd("LPUSH %s %s", k_queue(), b));
	r = claim("w2", 1);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "stale refs are not claimed");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 7, "one call pops at most 4 * max refs (left %lld)",
		int_cmd("LLEN %s", k_bqueue(b)));
	assertf(hget_is(k_exec(b, e[0]), "state", "cancelled"), "cancelled exec stays cancelled");

	/* a live job of another batch is reached at once: the batches take turns */
	new_batch_id(c);
	assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue c");
	r = claim("w2", 2);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "live job claimed beside 7 stale refs");
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 0, "stale refs drained within the pop bound");
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty");
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
	assertf(finish(b, e[0], "completed", "w7", st, bs) == LUA_OK, "its holder's late finish answers");
	assertf(!strcmp(st, "completed") && !strcmp(bs, "cancelled"),
		"the archived result stands: %s (batch %s)", st, bs);
	assertf(hget_ll(k_batch(b), "cancelled") == 2 && hget_ll(k_batch(b), "completed") == 1,
		"moved from cancelled to completed");
	assertf(slots("instance", "amcone") == 0, "no slot given back twice");
	assertf(hget_is(k_exec(b, e[0]), "state", "completed") && hget_ll(k_exec(b, e[0]), "row_count") == 42,
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
	assertf(finish(b, e[1], "completed", "w8", st, bs) == LUA_ERR_NOT_OWNER, "another worker's: -4");

	/* every exec's result came before the cancel could stop it: the batch is not cancelled */
	{
		char c[ID_MAX], ec[1][ID_MAX];

		new_batch_id(c);
		assertf(enqueue(c, 1, ec) == LUA_OK, "enqueue");
		freeReplyObject(claim("w7", 1));
		freeReplyObject(cancel_batch(c));
		assertf(finish(c, ec[0], "completed", "w7", st, bs) == LUA_OK && !strcmp(bs, "completed"),
			"nothing was stopped: the batch is completed (%s), as PostgreSQL counts it", bs);
	}
}

/* claim's value of field `name` in a job's flat name/value array, or NULL when left out */
static const char *reply_field(const redisReply *h, const char *name)
{
	for (size_t j = 0; j + 1 < h->elements; j += 2)
		if (!strcmp(h->element[j]->str, name))
			return h->element[j + 1]->str;
	return NULL;
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
	assertf(int_cmd("LLEN %s", k_jobs("wlc")) == 1 && hget_is(k_exec(b, e[0]), "state", "running"),
		"the exec stays running and held, its ref in the jobs list");
	freeReplyObject(cancel_batch(b));
	assertf(finish(b, e[0], "cancelled", "wlc", st, bs) == LUA_OK && !strcmp(st, "cancelled"),
		"after the cancel is made again, the finish lets go (%s)", st);
	assertf(int_cmd("LLEN %s", k_jobs("wlc")) == 0, "and the ref leaves the jobs list");
	freeReplyObject(cmd("DEL %s %s", k_lease("wlc"), k_jobs("wlc")));
}

/* the claim reply carries every exec field the worker reads (src/worker/job.c job_take) that
 * is not empty, and leaves the empty ones out (the worker reads those as ""); a job claimed
 * again carries what its holder wrote (AMC id); one claimed event per batch lists the claimed
 * execs */
static void test_lua_claim_reply_fields(void)
{
	/* (this enqueue leaves account, advertiser, marketplace and time zone empty) */
	static const char *const need[] = { "id", "amc_instance_id", "parameters", "attempts",
		"started_at", "claim" };
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
			if (v && !strcmp(need[k], "id"))
				assertf(!strcmp(v, want_id), "id %s, want %s", v, want_id);
			if (v && !strcmp(need[k], "parameters"))
				assertf(!strcmp(v, "{\"brand\":\"x\"}"), "parameters %s", v);
			if (v && !strcmp(need[k], "amc_instance_id"))
				assertf(!strcmp(v, i ? "amcinst1" : "amcinst0"), "instance %s", v);
			if (v && !strcmp(need[k], "started_at"))
				assertf(strtoll(v, NULL, 10) == now_ms, "started_at %s", v);
			if (v && !strcmp(need[k], "attempts"))
				assertf(!strcmp(v, "1"), "attempts %s", v);
		}
		for (size_t j = 1; j < h->elements; j += 2)
			assertf(h->element[j]->str[0] != '\0', "job %zu: %s is empty, left out", i,
				h->element[j - 1]->str);
		assertf(!reply_field(h, "amc_execution_id") && !reply_field(h, "throttled") &&
			!reply_field(h, "create_intent_at"), "a fresh job has nothing a holder wrote");
	}
	freeReplyObject(r);

	/* claimed again after its holder created on AMC and handed it back */
	assertf(record_amc_id(b, e[0], "amcexec-again", "wf") == LUA_OK, "AMC id recorded");
	assertf(release(b, e[0], "wf") == LUA_OK, "handed back");
	r = claim("wf2", 1);
	ref_of(ref, b, e[0]);
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		!strcmp(r->element[0]->element[0]->str, ref), "claimed again");
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		const char *amc = reply_field(r->element[0]->element[1], "amc_execution_id");
		const char *att = reply_field(r->element[0]->element[1], "attempts");

		assertf(amc && !strcmp(amc, "amcexec-again"), "carries the AMC id (%s)", amc ? amc : "none");
		assertf(att && !strcmp(att, "2"), "and the second attempt (%s)", att ? att : "none");
	}
	freeReplyObject(r);
	snprintf(ids, sizeof(ids), "%s %s", e[0], e[1]);
	assertf(has_event("claimed", ids, "n", "2"), "one claimed event lists both execs");
	assertf(has_event("claimed", ids, "batch_id", b), "and names the batch");
	assertf(has_event("claimed", ids, "worker", "wf"), "and the worker");
	freeReplyObject(cancel_batch(b));
}

/* several jobs of several batches in one call: each result as finish gives it, counters and
 * status once per batch, one event per batch and state */
static void test_lua_finish_many(void)
{
	char a[ID_MAX], b[ID_MAX], c[ID_MAX], d[ID_MAX], ea[3][ID_MAX], eb[2][ID_MAX], ec[1][ID_MAX],
	     ed[1][ID_MAX], ids[3 * ID_MAX], st[16], bs[16];
	redisReply *r;

	drain_queue();
	new_batch_id(a);
	new_batch_id(b);
	new_batch_id(c);
	assertf(enqueue(a, 3, ea) == LUA_OK && enqueue(b, 2, eb) == LUA_OK && enqueue(c, 1, ec) == LUA_OK,
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
		const char *ee[] = { ea[0], ea[1], ea[2], eb[0], ec[0], ed[0], ea[0], "exec_eeeeeeee" };
		const char *oo[] = { "completed", "failed", "completed", "completed", "cancelled",
				     "completed", "completed", "failed" };

		r = finish_many("wm", 8, bb, ee, oo);
	}
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 8, "one result per job");
	assertf(fm_result_is(r, 0, "completed", "partial"), "a0 completed (batch a now partial)");
	assertf(fm_result_is(r, 1, "failed", "partial"), "a1 failed");
	assertf(fm_result_is(r, 2, "completed", "partial"), "a2 completed");
	assertf(fm_result_is(r, 3, "completed", "running"), "b0 completed, b still running");
	assertf(fm_result_is(r, 4, "cancelled", "cancelled"), "c0 was cancelled: its holder lets go of it");
	assertf(fm_result_code(r, 5, LUA_ERR_NOT_OWNER), "d0 held by another worker: -4");
	assertf(fm_result_code(r, 6, LUA_ERR_WRONG_STATE), "a0 twice in one call: -3 the second time");
	assertf(fm_result_code(r, 7, LUA_ERR_NOT_FOUND), "unknown exec: -1");
	freeReplyObject(r);
	assertf(hget_ll(k_batch(a), "completed") == 2 && hget_ll(k_batch(a), "failed") == 1,
		"a: 2 completed, 1 failed");
	assertf(hget_is(k_batch(a), "status", "partial") && hget_ll(k_batch(a), "completed_at") == now_ms,
		"a partial, completed_at set");
	assertf(hget_ll(k_exec(a, ea[1]), "finished_at") == now_ms && hget_is(k_exec(a, ea[1]), "error", "boom"),
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
		strcmp(last_event_field("exec_ids"), eb[1]) == 0 && strcmp(last_event_field("n"), "1") == 0,
		"finished event of b1");
	assertf(finish(d, ed[0], "completed", "wother", st, bs) == LUA_OK && !strcmp(bs, "completed"),
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
	assertf(fm_result_is(r, 0, "completed", "running") && fm_result_is(r, 1, "completed", "running"),
		"both finished");
	freeReplyObject(r);
	assertf(int_cmd("HEXISTS %s instance:amcshared", k_running()) == 0, "the instance's slots are all back");
	assertf(int_cmd("LLEN %s", k_parked("instance", "amcshared")) == 0, "both parked jobs woken");
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
	keys[2] = k_batch(o);		/* another batch's hash */
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
		assertf(list_count(k_bqueue(b), ref) == 0, "no ref of the batch left in its queue");
		assertf(hget_is(k_exec(b, e[i]), "state", "cancelled"), "exec cancelled");
	}
	assertf(hget_is(k_exec(b, e[0]), "worker", "w8"), "running exec keeps its worker (told via state)");
	assertf(int_cmd("LLEN %s", k_bqueue(o)) == 2, "the other batch's refs stay");
	assertf(list_count(k_queue(), b) == 0 && list_count(k_queue(), o) == 1, "only the other batch in the ring");
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
	bool ok = s && strncmp(s, want, strlen(want)) == 0;

	if (!ok)
		printf("# %s %s = '%s', want it to start with '%s'\n", key, field, s ? s : "(nil)", want);
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
	assertf(hget_is(k_batch(b), "on_failure", "fail_fast") && !hget(k_batch(b), "status_reason"),
		"policy stored, no reason yet");
	freeReplyObject(claim("wf", 3));	/* e0, e1, e2 running; e3, e4 queued */
	assertf(record_amc_id(b, e[1], "amcexec-1", "wf") == LUA_OK, "e1 has an AMC execution");
	assertf(retry(b, e[2], "wf", now_ms + 60000, "503", bs) == LUA_OK, "e2 waits for a retry");
	freeReplyObject(claim("wf", 1));	/* e3 running */
	assertf(hget_is(k_exec(b, e[3]), "state", "running"), "e3 running");

	assertf(finish(b, e[0], "failed", "wf", fs, bs) == LUA_OK, "finish e0 failed");
	assertf(!strcmp(fs, "failed") && !strcmp(bs, "failed"), "e0 failed, batch failed at once (%s, %s)", fs, bs);
	assertf(hget_is(k_batch(b), "status_reason", "fail_fast: instance Instance 0 failed "
			"(AMC said \"no\"); 4 queued or running executions cancelled"), "status_reason says why");
	for (int i = 1; i < 5; i++) {
		assertf(hget_is(k_exec(b, e[i]), "state", "cancelled"), "e%d cancelled", i);
		assertf(starts_with(k_exec(b, e[i]), "error", "cancelled by fail_fast: instance Instance 0 failed"),
			"e%d says why", i);
	}
	assertf(zscore_set(k_amc_cancels(), b, e[1]), "e1's AMC execution is to be cancelled");
	assertf(!zscore_set(k_amc_cancels(), b, e[4]), "e4 never reached AMC");
	assertf(!zscore_set(k_retry(), b, e[2]), "e2 left P retry");
	assertf(int_cmd("LLEN %s", k_bqueue(b)) == 0 && list_count(k_queue(), b) == 0, "queue and ring empty");
	assertf(hget_is(k_batch(b), "cancel_requested", "0"), "not a user's cancel");
	assertf(!strcmp(last_event_field("type"), "cancelled") && !strcmp(last_event_field("reason"), "fail_fast"),
		"one cancelled event per exec, with reason fail_fast");

	/* the race: e3's holder archived its result before the cancel reached it: it stands */
	assertf(finish(b, e[3], "completed", "wf", fs, bs) == LUA_OK, "late finish of e3");
	assertf(!strcmp(fs, "completed") && !strcmp(bs, "failed"), "e3 keeps completed, batch stays failed (%s, %s)",
		fs, bs);
	assertf(hget_is(k_exec(b, e[3]), "error", ""), "e3 no longer says cancelled");
	/* e1's holder lets go of its cancelled exec */
	assertf(finish(b, e[1], "cancelled", "wf", fs, bs) == LUA_OK && !strcmp(fs, "cancelled"), "e1 discarded");
	assertf(hget_is(k_batch(b), "status", "failed") && hget_ll(k_batch(b), "completed") == 1 &&
		hget_ll(k_batch(b), "failed") == 1 && hget_ll(k_batch(b), "cancelled") == 3, "failed, 1/1/3");
	assertf(starts_with(k_batch(b), "status_reason", "fail_fast: instance Instance 0 failed"),
		"the reason stays");
	r = cancel_batch(b);
	assertf(r->type == REDIS_REPLY_INTEGER && r->integer == LUA_ERR_WRONG_STATE, "a user cancel now: -3");
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
	assertf(!strcmp(fs, "failed") && !strcmp(bs, "failed"), "fail_fast decides: %s, %s", fs, bs);
	assertf(hget_is(k_batch(b), "status_reason", "fail_fast: instance Instance 0 failed (AMC said \"no\"); "
			"2 queued or running executions cancelled"), "reason counts the cancelled execs");
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
	assertf(hget_is(k_batch(b), "status_reason", "fail_fast: instance Instance 1 failed (boom); "
			"1 queued or running executions cancelled"), "the first failure of the call named");
	assertf(hget_is(k_exec(b, e[2]), "state", "cancelled"), "e2 cancelled");
	assertf(hget_is(k_exec(c, ec[1]), "state", "running") && !hget(k_batch(c), "status_reason") &&
		!hget(k_batch(c), "on_failure"), "continue: nothing cancelled, no reason, no policy fields");
	assertf(finish(c, ec[1], "completed", "wh", (char[16]){ 0 }, (char[16]){ 0 }) == LUA_OK, "finish c");
	assertf(hget_is(k_batch(c), "status", "partial") && !hget(k_batch(c), "status_reason"),
		"continue: partial, no reason");
}

/* min_success_ratio: fewer than ceil(ratio * total) completed is failed with a reason;
 * enough is partial; a user's cancel stays cancelled */
static void test_lua_min_success_ratio(void)
{
	char b[ID_MAX], c[ID_MAX], d[ID_MAX], e[4][ID_MAX], ec[4][ID_MAX], ed[3][ID_MAX], fs[16], bs[16];

	drain_queue();
	new_batch_id(b);
	assertf(enqueue_policy(b, 4, e, ",\"on_failure\":\"min_success_ratio\",\"min_success_ratio\":\"0.75\"") ==
		LUA_OK, "enqueue 0.75");
	freeReplyObject(claim("wi", 4));
	assertf(finish(b, e[0], "completed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "running"), "1 completed");
	assertf(finish(b, e[1], "failed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "running"),
		"a failure cancels nothing");
	assertf(hget_is(k_exec(b, e[2]), "state", "running"), "e2 still running");
	assertf(finish(b, e[2], "completed", "wi", fs, bs) == LUA_OK, "2 completed");
	assertf(finish(b, e[3], "failed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "failed"),
		"2 of 4 < 3: failed (%s)", bs);
	assertf(hget_is(k_batch(b), "status_reason", "2 of 4 executions succeeded; min_success_ratio 0.75 needs 3"),
		"status_reason says why");

	new_batch_id(c);
	assertf(enqueue_policy(c, 4, ec, ",\"on_failure\":\"min_success_ratio\",\"min_success_ratio\":\"0.75\"") ==
		LUA_OK, "enqueue 0.75 again");
	freeReplyObject(claim("wi", 4));
	for (int i = 0; i < 4; i++)
		assertf(finish(c, ec[i], i == 2 ? "failed" : "completed", "wi", fs, bs) == LUA_OK, "finish");
	assertf(!strcmp(bs, "partial") && !hget(k_batch(c), "status_reason"), "3 of 4 is enough: partial");

	new_batch_id(d);
	assertf(enqueue_policy(d, 3, ed, ",\"on_failure\":\"min_success_ratio\",\"min_success_ratio\":\"0.34\"") ==
		LUA_OK, "enqueue 0.34");
	freeReplyObject(claim("wi", 1));
	freeReplyObject(cancel_batch(d));
	assertf(hget_is(k_batch(d), "status", "cancelled") && !hget(k_batch(d), "status_reason"),
		"a user's cancel stays cancelled");
	assertf(finish(d, ed[0], "completed", "wi", fs, bs) == LUA_OK && !strcmp(bs, "cancelled"),
		"late result: still cancelled");
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
		redisReply *r = cmd("HGET %s host", k_info("w9"));

		assertf(r->type == REDIS_REPLY_STRING && !strcmp(r->str, "testhost"),
			"the info hash holds the worker's host");
		freeReplyObject(r);
		ttl = int_cmd("PTTL %s", k_info("w9"));
		assertf(ttl > 30000 && ttl <= 300000, "the info hash outlives the lease (%lld)", ttl);
	}
	{
		redisReply *r = run(LUA_SCRIPT_HEARTBEAT, 4, (const char *[]){ k_lease("w9"), k_workers(),
				    k_jobs("w9"), k_info("w9") }, 4, (const char *[]){ "w9", now_str(), "0", "0" });

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

	assertf(slots("instance", "amcinst0") == 1 && slots("instance", "amcinst2") == 1, "slots held");
	assertf(reclaim(10) == 2, "2 jobs re-queued");
	assertf(slots("instance", "amcinst1") == 0, "the dead worker's slot of a job not on AMC is released");
	assertf(slots("instance", "amcinst0") == 1 && hget_is(k_exec(b, e[0]), "slots", "1"),
		"one whose AMC execution runs on keeps it (AMC counts it against the instance)");
	assertf(slots("instance", "amcinst2") == 1 && slots("instance", "amcinst3") == 1,
		"the live worker's slots stay");
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
	r = run(LUA_SCRIPT_FLEET, 6, (const char *[]){ k_workers(), k_queue(), k_running(),
		k_amc_cancels(), k_events(), k_retry() }, 7,
		(const char *[]){ now_str(), prefix, "100", "100", "20", "100", "10" });
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
		if (!strcmp(sl->element[i]->str, "instance") && !strcmp(sl->element[i + 1]->str, "fleetinst"))
			saw_slot = sl->element[i + 2]->integer == 1;
	assertf(saw_slot, "the instance holds one running slot");
	pk = r->element[3];
	for (size_t i = 0; i + 4 < pk->elements; i += 5)
		if (!strcmp(pk->element[i]->str, "instance") && !strcmp(pk->element[i + 1]->str, "fleetinst")) {
			snprintf(ref, sizeof ref, "batch_f2f2f2f2:%s", e2[0]);
			saw_parked = pk->element[i + 2]->integer == 1 && !strcmp(pk->element[i + 3]->str, ref);
		}
	assertf(saw_parked, "the second batch's job is parked on the full instance");
	assertf(int_cmd("XLEN %s", k_events()) == events_before, "the fleet view writes no event");
	freeReplyObject(r);
	(void)e1;
}

static void test_lua_events_stream(void)
{
	long long n = int_cmd("XLEN %s", k_events());

	assertf(n > 20, "events stream has one entry per transition (%lld)", n);
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
	freeReplyObject(claim("wrr", 1));	/* the huge batch is already being worked on */
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
	assertf(seen0 >= 0 && seen0 <= 1, "the small batch's first job is claimed at once (claim %d)", seen0);
	assertf(seen1 >= 0 && seen1 <= 3, "its second one on its next turn (claim %d)", seen1);
	assertf(hget_is(k_batch(sm), "status", "running"), "the small batch runs beside the huge one");
	assertf(hget_ll(k_batch(h), "queued") == 100 - 5, "the huge batch waited its turns (%lld queued)",
		hget_ll(k_batch(h), "queued"));
	drain_queue();
}

/* Caps: a full instance or account parks its jobs and the claim moves on (no HOL blocking);
 * a freed slot wakes the oldest parked job. */
static void test_lua_caps_no_hol_blocking(void)
{
	char b[4][ID_MAX], e[4][2][ID_MAX], st[16], bs[16];
	const char *insts[4][2] = { { "instX", "instY0" }, { "instX", "instY1" }, { "instX", "instY2" },
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
	assertf(n_claimed(r) == 6, "6 of 8 jobs claimed past the full instance (%zu)", n_claimed(r));
	for (int i = 0; i < 4; i++)
		assertf(claimed_has(r, b[i], e[i][1]), "batch %d's instY job claimed", i);
	assertf(claimed_has(r, b[0], e[0][0]) && claimed_has(r, b[1], e[1][0]), "first two instX jobs run");
	freeReplyObject(r);
	assertf(slots("instance", "instX") == 2, "instX at its cap of 2");
	assertf(slots("account", "acctH") == 6, "the account counts all 6");
	assertf(hget_is(k_exec(b[2], e[2][0]), "parked", "instance") &&
		hget_is(k_exec(b[3], e[3][0]), "parked", "instance"), "the other instX jobs are parked");
	assertf(hget_is(k_exec(b[2], e[2][0]), "state", "queued"), "a parked job is still queued");
	assertf(int_cmd("LLEN %s", k_parked("instance", "instX")) == 2, "parked list holds 2");
	r = claim_caps("wcap", 8, 2, 200);
	assertf(n_claimed(r) == 0, "nothing claimable while instX is full");
	freeReplyObject(r);

	/* a finish frees an instX slot and wakes the oldest parked job (batch 2's) */
	assertf(finish(b[0], e[0][0], "completed", "wcap", st, bs) == LUA_OK, "finish an instX job");
	assertf(slots("instance", "instX") == 1, "the slot is given back");
	assertf(hget_is(k_exec(b[2], e[2][0]), "parked", ""), "batch 2's job woke up");
	r = claim_caps("wcap", 8, 2, 200);
	assertf(n_claimed(r) == 1 && claimed_has(r, b[2], e[2][0]), "the woken job is claimed");
	freeReplyObject(r);
	assertf(slots("instance", "instX") == 2, "instX full again");
	assertf(finish(b[1], e[1][0], "failed", "wcap", st, bs) == LUA_OK, "finish another instX job");
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
		assertf(n_claimed(r) == 4 && claimed_has(r, a, ea[4]), "3 of acctA and acctB's job run");
		freeReplyObject(r);
		assertf(slots("account", "acctA") == 3 && slots("account", "acctB") == 1, "account slots");
		assertf(slots("instance", "instA4") == 0, "the parked job holds no instance slot");
		assertf(hget_is(k_exec(a, ea[3]), "parked", "account"), "instA4 parked on its account");
		assertf(finish(a, ea[4], "completed", "wcap", st, bs) == LUA_OK, "acctB's finish");
		assertf(hget_is(k_exec(a, ea[3]), "parked", "account"), "another account's slot wakes nothing");
		assertf(finish(a, ea[0], "completed", "wcap", st, bs) == LUA_OK, "an acctA finish");
		r = claim_caps("wcap", 10, 10, 3);
		assertf(n_claimed(r) == 1 && claimed_has(r, a, ea[3]), "the parked job runs once acctA has room");
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

			if (!colon)
				continue;
			snprintf(bb, sizeof(bb), "%.*s", (int)(colon - ref), ref);
			snprintf(ee, sizeof(ee), "%s", colon + 1);
			if (act < 45) {
				assertf(finish(bb, ee, "completed", w, st, bs) == LUA_OK, "finish %s", ref);
			} else if (act < 55) {
				assertf(finish(bb, ee, "failed", w, st, bs) == LUA_OK, "fail %s", ref);
			} else if (act < 70 && hget_ll(k_exec(bb, ee), "attempts") < 3) {
				long long rv = retry(bb, ee, w, now_ms + 25, "429", bs);

				/* -5 when a cancel earlier in this round took its batch */
				assertf(rv == LUA_OK || (rv == LUA_ERR_CANCELLED && hget_is(k_exec(bb, ee), "state", "cancelled")),
					"retry %s: %lld", ref, rv);
			} else if (act < 80) {
				long long rv = release(bb, ee, w);

				assertf(rv == LUA_OK || (rv == LUA_ERR_CANCELLED && hget_is(k_exec(bb, ee), "state", "cancelled")),
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

			open += st && (!strcmp(st, "pending") || !strcmp(st, "running"));
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

			if (!colon)
				continue;
			snprintf(bb, sizeof(bb), "%.*s", (int)(colon - ref), ref);
			assertf(finish(bb, colon + 1, "cancelled", workers[wi], st, bs) == LUA_OK &&
				!strcmp(st, "cancelled"), "letting go of %s (%s)", ref, st);
		}
		freeReplyObject(jl);
	}
	assertf(max_i == ICAP, "instance cap %d reached and never exceeded (max %lld)", ICAP, max_i);
	assertf(max_a <= ACAP, "account cap %d never exceeded (max %lld)", ACAP, max_a);
	assertf(int_cmd("EXISTS %s", k_running()) == 0, "no slot held once everything ended");
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty");
	assertf(int_cmd("LLEN %s", k_jobs("wm1")) + int_cmd("LLEN %s", k_jobs("wm2")) == 0, "workers hold nothing");
	printf("# caps test: %d rounds, max %lld per instance, %lld per account\n", round, max_i, max_a);
}

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
		hget_is(k_exec(b, e[0]), "error", "429 Too Many Requests"), "reason stored");
	assertf(hget_is(k_exec(b, e[0]), "worker", ""), "held by nobody while waiting");
	assertf(hget_ll(k_batch(b), "retry_wait") == 1, "retry_wait counter visible");
	assertf(slots("instance", "amcinst0") == 0, "slot released");
	ref_of(ref, b, e[0]);
	assertf(list_count(k_jobs("wrt"), ref) == 0, "ref left the jobs list");
	assertf(int_cmd("ZSCORE %s %s", k_retry(), ref) == -999, "ZSCORE is a string");
	{
		char *score = hget(k_exec(b, e[0]), "retry_at");
		redisReply *z = cmd("ZSCORE %s %s", k_retry(), ref);

		assertf(z->type == REDIS_REPLY_STRING && score && !strcmp(z->str, score), "in P retry scored by due");
		freeReplyObject(z);
		free(score);
	}
	assertf(strcmp(last_event_field("type"), "retry") == 0, "retry event");
	assertf(retry(b, e[0], "wrt", due, "again", bs) == LUA_ERR_NOT_OWNER, "held by nobody while waiting: -4");
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
	assertf(hget_is(k_exec(b, e[0]), "amc_execution_id", "amcexec-r1"), "amc_execution_id kept");
	assertf(hget_is(k_exec(b, e[0]), "retry_at", ""), "retry_at cleared");
	assertf(int_cmd("ZCARD %s", k_retry()) == 0, "P retry empty");
	assertf(finish(b, e[0], "completed", "wrt", st, bs) == LUA_OK, "finish after a retry");
	assertf(hget_is(k_exec(b, e[0]), "error", ""), "error cleared by success");
	assertf(retry(b, e[0], "wrt", now_ms + 10, "late", bs) == LUA_ERR_WRONG_STATE, "finished: -3");

	/* a retry of a cancelled exec: -5, ref off the jobs list, nothing else */
	freeReplyObject(cancel_batch(b));
	assertf(retry(b, e[1], "wrt", now_ms + 10, "late", bs) == LUA_ERR_CANCELLED, "cancelled: -5");
	assertf(int_cmd("LLEN %s", k_jobs("wrt")) == 0, "jobs list empty");
	assertf(int_cmd("ZCARD %s", k_retry()) == 0, "no retry scheduled for a cancelled exec");
	{
		redisReply *x = run(LUA_SCRIPT_RETRY, 5, (const char *[]){ k_batch(b), k_exec(b, e[1]), k_jobs("wrt"),
				    k_retry(), k_events() }, 10, (const char *[]){ ref, now_str(), "soon", "x", "wrt", prefix,
				    "0", "1", "0", "0" });

		assertf(x->type == REDIS_REPLY_ERROR, "a due that is not a number is an error reply");
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
	assertf(hget_is(k_exec(b, e[1]), "state", "queued") && hget_is(k_exec(b, e[1]), "worker", ""),
		"queued, held by nobody");
	assertf(hget_is(k_exec(b, e[1]), "amc_execution_id", "amcexec-rel"), "amc_execution_id kept");
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
	assertf(hget_is(k_exec(b, e[1]), "amc_execution_id", "amcexec-rel"), "the next worker resumes it");
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
	assertf(retry(c, ec[1], "wcn", now_ms + 100000, "503", bs) == LUA_OK, "c's cY job waits to retry");
	assertf(enqueue_on(x, 1, ex, di, da) == LUA_OK, "enqueue x, on cX too");
	r = claim_caps("wcn", 10, 1, 200);
	assertf(n_claimed(r) == 0, "x parks behind d");
	freeReplyObject(r);
	assertf(slots("instance", "cX") == 1 && slots("account", "cacct") == 2, "slots before the cancel");

	r = cancel_batch(c);
	assertf(r->type == REDIS_REPLY_ARRAY && r->element[1]->integer == 3, "3 cancelled");
	freeReplyObject(r);
	assertf(slots("instance", "cX") == 0 && slots("instance", "cZ") == 0, "instance slots released");
	assertf(slots("account", "cacct") == 0, "account slots released");
	assertf(int_cmd("ZCARD %s", k_retry()) == 0, "the retry_wait ref left P retry");
	assertf(hget_is(k_exec(d, ed[0]), "parked", ""), "d's job (the oldest parked) woke up");
	assertf(hget_is(k_exec(x, ex[0]), "parked", "instance"), "x's is still parked");
	r = cancel_batch(x);
	freeReplyObject(r);
	assertf(int_cmd("EXISTS %s", k_parked("instance", "cX")) == 0, "cancel took x's ref out of the parked list");
	r = claim_caps("wcn", 10, 1, 200);
	assertf(n_claimed(r) == 1 && claimed_has(r, d, ed[0]), "d runs");
	freeReplyObject(r);
	drain_queue();
	assertf(int_cmd("EXISTS %s", k_running()) == 0, "no slot left");
}

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
	assertf(set_phase(b, e[0], "polling", "wfence") == LUA_ERR_NOT_OWNER, "set_phase under the old claim: -4");
	assertf(record_amc_id(b, e[0], "amc-old", "wfence") == LUA_ERR_NOT_OWNER, "record_amc_id: -4");
	assertf(retry(b, e[0], "wfence", now_ms + 10, "x", bs) == LUA_ERR_NOT_OWNER, "retry: -4");
	assertf(release(b, e[0], "wfence") == LUA_ERR_NOT_OWNER, "release: -4");
	assertf(finish(b, e[0], "completed", "wfence", st, bs) == LUA_ERR_NOT_OWNER, "finish: -4");
	stale_token = NULL;
	/* the new claim's entry stays: taken off, the job would run held by nobody reclaim sees */
	assertf(int_cmd("LLEN %s", k_jobs("wfence")) == 1, "the jobs list keeps the new claim's ref (%lld)",
		int_cmd("LLEN %s", k_jobs("wfence")));
	assertf(hget_is(k_exec(b, e[0]), "state", "running") && hget_is(k_exec(b, e[0]), "amc_execution_id", ""),
		"nothing the old claim sent changed the exec");
	assertf(set_phase(b, e[0], "polling", "wfence") == LUA_OK, "the new claim is served");
	assertf(finish(b, e[0], "completed", "wfence", st, bs) == LUA_OK && !strcmp(bs, "completed"),
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
		now_ms += 15000;	/* a reclaim comes a lease later at the earliest */
		freeReplyObject(claim("wfence", 1));
		assertf(token_of(c, ec[0]) > lost, "the next token exceeds the lost one (%lld > %lld)",
			token_of(c, ec[0]), lost);
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
	assertf(hget_is(k_exec(b, e[0]), "create_intent_claim", t), "and the claim that announced it");
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
	assertf(zscore_set(k_amc_cancels(), b, e[0]), "the cancelled exec with an AMC id is to be cancelled on AMC");
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
	assertf(n_claimed(r) == 1 && claimed_has(r, b, e[0]), "e0 is claimed again past the full instance");
	freeReplyObject(r);
	assertf(slots("instance", "amclive") == 2, "without a second slot");
	assertf(retry_flags(b, e[0], "wlive2", now_ms + 50, "503", "0", "1", "0", bs) == LUA_OK,
		"a retry while AMC runs it");
	assertf(slots("instance", "amclive") == 2 && hget_is(k_exec(b, e[0]), "slots", "1"), "keeps the slot too");
	assertf(retry_flags(b, e[1], "wlive2", now_ms + 50, "429", "1", "0", "1", bs) == LUA_OK,
		"a throttled create of e1 (nothing on AMC)");
	assertf(slots("instance", "amclive") == 1 && hget_is(k_exec(b, e[1]), "slots", "0"), "gives its slot back");
	assertf(hget_is(k_exec(b, e[2]), "parked", ""), "and wakes the parked job");
	now_ms += 100;
	r = claim_caps("wlive2", 3, 2, 200);
	assertf(n_claimed(r) == 2, "the retry of e0 and the woken e2 run (%zu)", n_claimed(r));
	freeReplyObject(r);
	assertf(finish(b, e[0], "completed", "wlive2", st, bs) == LUA_OK, "e0 done");
	r = cancel_batch(b);
	freeReplyObject(r);
	assertf(int_cmd("EXISTS %s", k_running()) == 0, "cancel gives back every slot, the waiting ones too");
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
	assertf(retry_flags(b, e[0], "wci", now_ms + 5, "429", "1", "0", "1", bs) == LUA_OK, "throttled");
	assertf(hget_is(k_exec(b, e[0]), "create_intent_at", "") && hget_is(k_exec(b, e[0]), "create_intent_claim", ""),
		"AMC created nothing: the intent is gone");
	assertf(hget_ll(k_exec(b, e[0]), "throttled") == 1, "counted as throttled");
	freeReplyObject(cancel_batch(b));
	assertf(!zscore_set(k_amc_cancels(), b, e[0]), "nothing to cancel on AMC for it");
}

/* the heartbeat answers the jobs list; held_jobs rebuilds claim's answer for held refs */
static void test_lua_heartbeat_and_held_jobs(void)
{
	char b[ID_MAX], e[3][ID_MAX], ref[3][REF_MAX];
	redisReply *r, *c;

	drain_queue();
	new_batch_id(b);
	assertf(enqueue(b, 3, e) == LUA_OK, "enqueue");
	c = claim("whj", 2);	/* as if this reply were lost */
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
			same = !strcmp(h->element[1]->element[j]->str, orig->element[1]->element[j]->str);
		assertf(same, "exactly what the lost claim reply held (fields, token, SQL)");
	}
	freeReplyObject(r);
	freeReplyObject(c);
	freeReplyObject(cancel_batch(b));
	freeReplyObject(cmd("DEL %s %s %s %s", k_lease("whj"), k_jobs("whj"), k_jobs("whjother"), k_lease("whjother")));
	freeReplyObject(cmd("ZREM %s whj", k_workers()));
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
	assertf(int_cmd("ZCARD %s", k_amc_cancels()) == 3, "e0, e1 and e2 to cancel on AMC, not e3");
	r = run(LUA_SCRIPT_TAKE_AMC_CANCELS, 1, (const char *[]){ k_amc_cancels() }, 4,
		(const char *[]){ now_str(), "10", "60000", prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "three taken");
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *x = r->element[i];
		char r1[REF_MAX];

		ref_of(r1, b, e[1]);
		assertf(x->elements == 9, "ref, amc id, instance, account, advertiser, marketplace, "
			"intent, start, region");
		if (x->elements == 9 && !strcmp(x->element[0]->str, r1))
			assertf(!strcmp(x->element[1]->str, "amc-run-1") && !strcmp(x->element[2]->str, "amcinst1") &&
				!strcmp(x->element[8]->str, "EU"), "e1's AMC id, instance and region");
	}
	freeReplyObject(r);
	r = run(LUA_SCRIPT_TAKE_AMC_CANCELS, 1, (const char *[]){ k_amc_cancels() }, 4,
		(const char *[]){ now_str(), "10", "60000", prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "taken entries are hidden for their lease");
	freeReplyObject(r);
	now_ms += 60000;
	freeReplyObject(cmd("ZADD %s 0 batch_eeeeeeee:exec_eeeeeeee", k_amc_cancels()));
	r = run(LUA_SCRIPT_TAKE_AMC_CANCELS, 1, (const char *[]){ k_amc_cancels() }, 4,
		(const char *[]){ now_str(), "10", "60000", prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "due again after it; a gone exec dropped");
	freeReplyObject(r);
	assertf(int_cmd("ZCARD %s", k_amc_cancels()) == 3, "the gone one left the set");
	freeReplyObject(cmd("DEL %s", k_amc_cancels()));
}

static void test_lua_token_unlock(void)
{
	char key[sizeof(prefix) + 64];

	snprintf(key, sizeof(key), "%stoken:00000000-0000-4000-8000-000000000009:EU:lock", prefix);
	freeReplyObject(cmd("SET %s wA PX 30000", key));
	assertf(run_int(LUA_SCRIPT_TOKEN_UNLOCK, 1, (const char *[]){ key }, 1, (const char *[]){ "wB" }) == 0,
		"another worker's lock stays");
	assertf(int_cmd("EXISTS %s", key) == 1, "still there");
	assertf(run_int(LUA_SCRIPT_TOKEN_UNLOCK, 1, (const char *[]){ key }, 1, (const char *[]){ "wA" }) == 1,
		"the holder releases it");
	assertf(int_cmd("EXISTS %s", key) == 0, "gone");
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
	assertf(n_claimed(r) == NB * NE, "%d jobs claimed in one call (%zu)", NB * NE, n_claimed(r));
	freeReplyObject(r);
	assertf(int_cmd("LLEN %s", k_jobs("wmany")) == NB * NE, "all of them in the jobs list");
	drain_queue();
	freeReplyObject(cmd("DEL %s", k_jobs("wmany")));
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
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 8 && !strcmp(r->element[0]->str, "running") &&
		!strcmp(r->element[2]->str, e[0]) && !strcmp(r->element[3]->str, "completed") &&
		!strcmp(r->element[6]->str, "running") && !strcmp(r->element[7]->str, "amc-fg-1"),
		"status, completed_at, then id, state, AMC id per exec");
	freeReplyObject(r);
	r = run(LUA_SCRIPT_READ_BATCH, 2, (const char *[]){ k_batch("batch_eeeeeeee"), k_execs("batch_eeeeeeee") },
		1, (const char *[]){ prefix });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 0, "an unknown batch: {}");
	freeReplyObject(r);

#define FORGET(b_, before_, pg_) run_int(LUA_SCRIPT_FORGET_BATCH, 5, (const char *[]){ k_batch(b_), \
	k_execs(b_), k_batches(), k_amc_cancels(), k_events() }, 3, (const char *[]){ prefix, before_, pg_ })
	snprintf(before, sizeof(before), "%lld", now_ms + 1000);
	assertf(FORGET(b, before, "running") == LUA_ERR_WRONG_STATE, "an open batch stays");
	freeReplyObject(cancel_batch(b));	/* e1 (on AMC) waits in P amc_cancels */
	assertf(FORGET(b, before, "cancelled") == LUA_ERR_CANCELLED, "not while an AMC cancel is to do");
	freeReplyObject(cmd("DEL %s", k_amc_cancels()));
	snprintf(before, sizeof(before), "%lld", now_ms);
	assertf(FORGET(b, before, "cancelled") == LUA_ERR_WRONG_STATE, "not before its retention");
	snprintf(before, sizeof(before), "%lld", now_ms + 1);
	assertf(FORGET(b, before, "partial") == LUA_ERR_WRONG_STATE, "not when PostgreSQL says otherwise");
	/* the batch leaves the checked list: the invariant has nothing to look at once it is gone */
	for (int i = 0; i < n_batches; i++)
		if (!strcmp(batches[i], b) && i != --n_batches)
			memcpy(batches[i], batches[n_batches], ID_MAX);
	assertf(FORGET(b, before, "cancelled") == LUA_OK, "forgotten");
	assertf(int_cmd("EXISTS %s %s %s %s", k_batch(b), k_execs(b), k_exec(b, e[0]), k_exec(b, e[1])) == 0,
		"every key of the batch is gone");
	assertf(int_cmd("ZRANK %s %s", k_batches(), b) == -999, "and it left P batches");
	assertf(strcmp(last_event_field("type"), "forgotten") == 0, "forgotten event");
	assertf(FORGET(b, before, "cancelled") == LUA_ERR_NOT_FOUND, "once");
	/* an id listed without its hash (a lost write, a key deleted by hand) leaves P batches:
	 * kept, it would sit at the head of every retention sweep */
	freeReplyObject(cmd("ZADD %s 1 %s", k_batches(), b));
	assertf(FORGET(b, before, "*") == LUA_ERR_NOT_FOUND && int_cmd("ZRANK %s %s", k_batches(), b) == -999,
		"a stale id: -1, and it left P batches");
#undef FORGET
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

static void test_lua_rate_submit(void)
{
	char key[sizeof(prefix) + 64];
	redisReply *r;

	snprintf(key, sizeof(key), "%srate:submit:00000000-0000-4000-8000-000000000001", prefix);
	for (int i = 1; i <= 3; i++) {
		r = run(LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key }, 2, (const char *[]){ "3", "60000" });
		assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer == 1 &&
			r->element[1]->integer == i, "submission %d of 3 is taken and counted", i);
		freeReplyObject(r);
	}
	long long ttl = int_cmd("PTTL %s", key);
	assertf(ttl > 0 && ttl <= 60000, "the window starts with the first submission (%lld ms left)", ttl);
	r = run(LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key }, 2, (const char *[]){ "3", "60000" });
	assertf(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer == 0 &&
		r->element[1]->integer > 0 && r->element[1]->integer <= 60000,
		"the 4th is refused with the ms left in the window");
	freeReplyObject(r);
	r = cmd("GET %s", key);
	assertf(r->type == REDIS_REPLY_STRING && strcmp(r->str, "3") == 0, "a refusal does not count");
	freeReplyObject(r);
	/* a full counter without expiry (set by hand) would refuse for ever */
	freeReplyObject(cmd("SET %s 3", key));
	r = run(LUA_SCRIPT_RATE_SUBMIT, 1, (const char *[]){ key }, 2, (const char *[]){ "3", "60000" });
	assertf(r->type == REDIS_REPLY_ARRAY && r->element[0]->integer == 0 && r->element[1]->integer == 60000,
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
		LUA_FINISH_MANY_NKEYS == -1 && LUA_HEARTBEAT_NKEYS == 4 && LUA_HELD_JOBS_NKEYS == 1 &&
		LUA_RETRY_NKEYS == 5 && LUA_RELEASE_NKEYS == 4 && LUA_FLEET_NKEYS == 6,
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
	RUN_TEST(test_lua_enqueue_large_is_whole);
	RUN_TEST(test_lua_enqueue_checks_before_writing);
	RUN_TEST(test_lua_rate_submit);
	RUN_TEST(test_lua_claim_fifo_and_max);
	RUN_TEST(test_lua_claim_skips_stale_refs);
	RUN_TEST(test_lua_record_amc_id_and_set_phase);
	RUN_TEST(test_lua_finish_outcomes);
	RUN_TEST(test_lua_finish_cancelled_is_discarded);
	RUN_TEST(test_lua_claim_reply_fields);
	RUN_TEST(test_lua_finish_many);
	RUN_TEST(test_lua_finish_many_wakes_parked);
	RUN_TEST(test_lua_finish_many_rejects_bad_calls);
	RUN_TEST(test_lua_cancel_batch);
	RUN_TEST(test_lua_fail_fast);
	RUN_TEST(test_lua_fail_fast_after_cancel);
	RUN_TEST(test_lua_fail_fast_finish_many);
	RUN_TEST(test_lua_min_success_ratio);
	RUN_TEST(test_lua_heartbeat);
	RUN_TEST(test_lua_reclaim);
	RUN_TEST(test_lua_round_robin);
	RUN_TEST(test_lua_caps_no_hol_blocking);
	RUN_TEST(test_lua_retry);
	RUN_TEST(test_lua_release);
	RUN_TEST(test_lua_cancel_releases_slots);
	RUN_TEST(test_lua_caps_many_batches);
	RUN_TEST(test_lua_claim_token_fences);
	RUN_TEST(test_lua_cancelled_finish_of_running);
	RUN_TEST(test_lua_intent_and_amc_id);
	RUN_TEST(test_lua_live_amc_keeps_slots);
	RUN_TEST(test_lua_retry_clears_intent);
	RUN_TEST(test_lua_heartbeat_and_held_jobs);
	RUN_TEST(test_lua_amc_cancels);
	RUN_TEST(test_lua_token_unlock);
	RUN_TEST(test_lua_claim_many);
	RUN_TEST(test_lua_read_and_forget_batch);
	RUN_TEST(test_lua_events_stream);
	RUN_TEST(test_lua_fleet);

	cleanup_keys();
	redisFree(rc);
	return tap_done();
}
