/* harness.c - the shared part of the Lua script tests (harness.h): the helpers, the invariant
 * checked after every script call, and the runner that gives each case a process, a
 * connection and a key prefix of its own. */
#include "harness.h"

#include <stdarg.h>
#include <sys/wait.h>

#define NOW_START 1700000000000LL /* each case's script time starts here */

int tap_passed, tap_failed; /* tap.h's, for every file of the program */

redisContext *rc;
char prefix[64];
char sha[LUA_SCRIPT_COUNT][41];
long long now_ms = NOW_START;
static unsigned id_seq;
char batches[MAX_BATCHES][ID_MAX];
int n_batches;

/* ---- small helpers (all replies are freed where they are read) ---- */

static char *kbuf(void)
{
	/* enough for one enqueue of MAX_EXECS keys plus the keys the calls around it build */
	static char ring[4 * MAX_EXECS][KEYS_MAX];
	static unsigned next;

	return ring[next++ % (4 * MAX_EXECS)];
}

const char *k_batch(const char *b)
{
	return keys_batch(kbuf(), KEYS_MAX, prefix, b);
}
const char *k_execs(const char *b)
{
	return keys_batch_execs(kbuf(), KEYS_MAX, prefix, b);
}
const char *k_exec(const char *b, const char *e)
{
	return keys_exec(kbuf(), KEYS_MAX, prefix, b, e);
}
const char *k_queue(void)
{
	return keys_queue(kbuf(), KEYS_MAX, prefix);
}
const char *k_bqueue(const char *b)
{
	return keys_batch_queue(kbuf(), KEYS_MAX, prefix, b);
}
const char *k_retry(void)
{
	return keys_retry(kbuf(), KEYS_MAX, prefix);
}
const char *k_running(void)
{
	return keys_running(kbuf(), KEYS_MAX, prefix);
}
const char *k_parked(const char *kind, const char *id)
{
	return keys_parked(kbuf(), KEYS_MAX, prefix, kind, id);
}
const char *k_batches(void)
{
	return keys_batches(kbuf(), KEYS_MAX, prefix);
}
const char *k_events(void)
{
	return keys_events(kbuf(), KEYS_MAX, prefix);
}
const char *k_workers(void)
{
	return keys_workers(kbuf(), KEYS_MAX, prefix);
}
const char *k_jobs(const char *w)
{
	return keys_worker_jobs(kbuf(), KEYS_MAX, prefix, w);
}
const char *k_lease(const char *w)
{
	return keys_worker_lease(kbuf(), KEYS_MAX, prefix, w);
}
const char *k_info(const char *w)
{
	return keys_worker_info(kbuf(), KEYS_MAX, prefix, w);
}
const char *k_amc_cancels(void)
{
	return keys_amc_cancels(kbuf(), KEYS_MAX, prefix);
}

const char *now_str(void)
{
	char *p = kbuf();

	snprintf(p, KEYS_MAX, "%lld", now_ms);
	return p;
}

redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		/* the server went away: nothing after this can be checked */
		printf("# FATAL redis: %s\n", rc->errstr);
		exit(1);
	}
	return r;
}

/* caller frees; NULL when the field does not exist */
char *hget(const char *key, const char *field)
{
	redisReply *r = cmd("HGET %s %s", key, field);
	char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;

	freeReplyObject(r);
	return s;
}

bool hget_is(const char *key, const char *field, const char *want)
{
	char *s = hget(key, field);
	bool ok = s != NULL && strcmp(s, want) == 0;

	if (!ok)
		printf("# %s %s = '%s', want '%s'\n", key, field, s != NULL ? s : "(nil)", want);
	free(s);
	return ok;
}

long long hget_ll(const char *key, const char *field)
{
	char *s = hget(key, field);
	long long v = s != NULL ? strtoll(s, NULL, 10) : -999;

	free(s);
	return v;
}

long long int_cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		printf("# FATAL redis: %s\n", rc->errstr);
		exit(1);
	}
	v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
	freeReplyObject(r);
	return v;
}

/* occurrences of value in a (small, test-sized) list */
int list_count(const char *key, const char *value)
{
	redisReply *r = cmd("LRANGE %s 0 -1", key);
	int n = 0;

	for (size_t i = 0; i < r->elements; i++)
		if (strcmp(r->element[i]->str, value) == 0)
			n++;
	freeReplyObject(r);
	return n;
}

const char *last_event_field(const char *field)
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
bool zscore_set(const char *key, const char *b, const char *e)
{
	redisReply *r = cmd("ZSCORE %s %s:%s", key, b, e);
	bool set = r->type == REDIS_REPLY_STRING;

	freeReplyObject(r);
	return set;
}

/* ---- the invariant, checked on every batch after every script call ---- */

/* truth of P running, recounted from the exec hashes by every check_all */
static struct {
	char field[96];
	long long n;
} tally[2 * MAX_BATCHES * 8];
static int n_tally;
static long long n_retry_wait;

static void tally_add(const char *kind, const char *id)
{
	char f[96];
	int t;

	if (!*id)
		return; /* an exec without that id is not capped, not counted */
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

static const char *const counters[] = { "pending",   "queued", "running",  "retry_wait",
					"completed", "failed", "cancelled" };

static void check_batch(const char *b)
{
	redisReply *r = cmd("HMGET %s total pending queued running retry_wait completed failed "
			    "cancelled status cancel_requested started_at completed_at on_failure "
			    "min_success_ratio",
			    k_batch(b));
	long long v[8], by_state[7] = { 0 };
	redisReply **hs;
	const char *status, *want;
	bool terminal, started;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 14 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		assertf(0, "batch %s has no hash", b);
		freeReplyObject(r);
		return;
	}
	for (int i = 0; i < 8; i++)
		v[i] = r->element[i]->type == REDIS_REPLY_STRING
			       ? strtoll(r->element[i]->str, NULL, 10)
			       : -999;
	status = r->element[8]->type == REDIS_REPLY_STRING ? r->element[8]->str : "(nil)";

	assertf(v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7] == v[0],
		"%s: counters %lld+%lld+%lld+%lld+%lld+%lld+%lld != total %lld", b, v[1], v[2],
		v[3], v[4], v[5], v[6], v[7], v[0]);
	for (int i = 1; i < 8; i++)
		assertf(v[i] >= 0, "%s: counter %s is negative (%lld)", b, counters[i - 1], v[i]);

	terminal = v[5] + v[6] + v[7] == v[0];
	started = r->element[10]->type == REDIS_REPLY_STRING && r->element[10]->str[0] != '\0';
	/* docs/redis-keys.md "Batch status rule" */
	if (terminal) {
		/* cancelled when the cancel stopped something (an exec it came too late for keeps
		 * its result: PostgreSQL's trigger counts the same way) */
		/* (read with the counters: a key built here would turn the test's key ring) */
		const char *pol =
			r->element[12]->type == REDIS_REPLY_STRING ? r->element[12]->str : NULL;
		const char *ratio =
			r->element[13]->type == REDIS_REPLY_STRING ? r->element[13]->str : NULL;
		bool ff = pol != NULL && !strcmp(pol, "fail_fast");
		long long need = -1;

		/* the batch policy (on_failure) applies once something did not complete: fail_fast
		 * with a failure is failed; min_success_ratio needs ceil(ratio * total) completed */
		if (pol != NULL && !strcmp(pol, "min_success_ratio") && ratio != NULL && *ratio) {
			double want_n = strtod(ratio, NULL) * (double)v[0] - 1e-9;

			need = (long long)want_n + ((double)(long long)want_n < want_n ? 1 : 0);
		}
		want = v[5] == v[0]               ? "completed"
		       : ff && v[6] > 0           ? "failed"
		       : v[7] > 0                 ? "cancelled"
		       : need >= 0 && v[5] < need ? "failed"
		       : v[5] == 0                ? "failed"
						  : "partial";
	} else {
		want = started ? "running" : "pending";
	}
	assertf(strcmp(status, want) == 0, "%s: status %s, rule says %s", b, status, want);
	assertf(!(v[3] + v[4] + v[5] + v[6] > 0) || started, "%s: started but no started_at", b);
	assertf(terminal == (r->element[11]->type == REDIS_REPLY_STRING &&
			     r->element[11]->str[0] != '\0'),
		"%s: completed_at must be set exactly when terminal", b);
	freeReplyObject(r);

	/* the counters must also count what the exec hashes say */
	r = cmd("LRANGE %s 0 -1", k_execs(b));
	assertf((long long)r->elements == v[0], "%s: %zu exec ids for total %lld", b, r->elements,
		v[0]);
	/* pipelined: every reply is read before the next command is sent */
	hs = calloc(r->elements ? r->elements : 1, sizeof(*hs));
	if (hs == NULL)
		exit(1);
	for (size_t i = 0; i < r->elements; i++)
		redisAppendCommand(rc, "HMGET %s state parked amc_instance_id account_id slots",
				   k_exec(b, r->element[i]->str));
	for (size_t i = 0; i < r->elements; i++) {
		if (redisGetReply(rc, (void **)&hs[i]) != REDIS_OK || hs[i] == NULL) {
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
			assertf(!strcmp(sl, "1"), "%s: running %s without its slots (slots '%s')",
				b, ref, sl);
		if (strcmp(sl, "1") == 0) {
			assertf(!strcmp(st, "running") || !strcmp(st, "queued") ||
					!strcmp(st, "retry_wait"),
				"%s: %s is %s and holds slots", b, ref, st);
			assertf(!*parked, "%s: %s holds slots and is parked", b, ref);
			tally_add("instance", inst);
			tally_add("account", acct);
		}
		if (strcmp(st, "queued") == 0) {
			/* waits in exactly one place: its batch's queue, or the parked list it names */
			long long n = *parked ? list_count(k_parked(parked,
								    strcmp(parked, "instance") == 0
									    ? inst
									    : acct),
							   ref)
					      : list_count(k_bqueue(b), ref);

			assertf(n == 1, "%s: queued %s is %d times in %s", b, ref, (int)n,
				*parked ? parked : "its batch queue");
			if (*parked)
				assertf(list_count(k_bqueue(b), ref) == 0,
					"%s: parked %s also in the queue", b, ref);
		} else if (strcmp(st, "retry_wait") == 0) {
			redisReply *z = cmd("ZSCORE %s %s", k_retry(), ref);

			assertf(z->type == REDIS_REPLY_STRING, "%s: retry_wait %s not in P retry",
				b, ref);
			freeReplyObject(z);
			n_retry_wait++;
		}
		if (strcmp(st, "queued") != 0)
			assertf(*parked == '\0', "%s: %s is %s but parked on %s", b, ref, st,
				parked);
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

		assertf(in_ring == (qlen > 0 ? 1 : 0),
			"%s: in the ring %d times with %lld refs queued", b, in_ring, qlen);
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

		assertf(have != NULL && strtoll(have, NULL, 10) == tally[t].n,
			"P running %s = %s, %lld execs run there", tally[t].field,
			have != NULL ? have : "(nil)", tally[t].n);
		free(have);
	}
	freeReplyObject(r);
	assertf(int_cmd("ZCARD %s", k_retry()) == n_retry_wait,
		"P retry holds %lld refs for %lld retry_wait execs", int_cmd("ZCARD %s", k_retry()),
		n_retry_wait);
}

void check_all(void)
{
	n_tally = 0;
	n_retry_wait = 0;
	for (int i = 0; i < n_batches; i++)
		check_batch(batches[i]);
	check_running();
}

/* ---- calling scripts ---- */

/* EVALSHA script id; the caller frees the reply. Checks the invariant afterwards. */
redisReply *run(enum LuaScriptId id, int nkeys, const char **keys, int nargs, const char **args)
{
	int argc = 3 + nkeys + nargs;
	const char **argv = calloc((size_t)argc, sizeof(*argv));
	char nk[16];
	redisReply *r;

	if (argv == NULL)
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
	if (r == NULL) {
		printf("# FATAL redis: %s\n", rc->errstr);
		exit(1);
	}
	if (r->type == REDIS_REPLY_ERROR)
		printf("# %s: error reply %s\n", lua_scripts[id].name, r->str);
	check_all();
	return r;
}

long long run_int(enum LuaScriptId id, int nkeys, const char **keys, int nargs, const char **args)
{
	redisReply *r = run(id, nkeys, keys, nargs, args);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

	freeReplyObject(r);
	return v;
}

void new_batch_id(char *out)
{
	snprintf(out, ID_MAX, "batch_%08x", ++id_seq);
}

/* enqueue_batch with n execs (ids written to exec_ids) on instances insts[i] of accounts
 * accts[i] (NULL: amcinst<i>, no account); registers the batch for checking */
/* extra batch fields (JSON members with a leading comma) the next enqueues send, e.g. the
 * batch policy; "" = none */
const char *enqueue_extra = "";

long long enqueue_on(const char *b, int n, char exec_ids[][ID_MAX], const char *const *insts,
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
		 "\"sql_query\":\"SELECT '{{start}}' AS s,\\n 'a\\\\b' AS t\"%s}",
		 b, enqueue_extra);
	off += (size_t)snprintf(args4 + off, sizeof(args4) - off, "[");
	for (int i = 0; i < n; i++) {
		snprintf(exec_ids[i], ID_MAX, "exec_%08x", ++id_seq);
		keys[5 + i] = k_exec(b, exec_ids[i]);
		if (insts)
			snprintf(inst, sizeof(inst), "%s", insts[i]);
		else
			snprintf(inst, sizeof(inst), "amcinst%d", i);
		off += (size_t)snprintf(
			args4 + off, sizeof(args4) - off,
			"%s{\"exec_id\":\"%s\",\"id\":\"0b0e6b8a-0000-4000-8000-%012d\","
			"\"amc_instance_id\":\"%s\",\"account_id\":\"%s\",\"instance_name\":\"Instance %d\","
			"\"amc_region\":\"%s\",\"parameters\":\"{\\\"brand\\\":\\\"x\\\"}\"}",
			i ? "," : "", exec_ids[i], i, inst, accts != NULL ? accts[i] : "", i,
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

long long enqueue(const char *b, int n, char exec_ids[][ID_MAX])
{
	return enqueue_on(b, n, exec_ids, NULL, NULL);
}

/* claim under the given caps: returns the reply (caller frees) */
redisReply *claim_caps(const char *w, int max, int icap, int acap)
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
redisReply *claim(const char *w, int max)
{
	return claim_caps(w, max, 10, 200);
}

/* the ref of claimed job i, copied into out */
bool job_ref(redisReply *r, size_t i, char *out, size_t n)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements || r->element[i]->elements != 3)
		return false;
	snprintf(out, n, "%s", r->element[i]->element[0]->str);
	return true;
}

void ref_of(char *out, const char *b, const char *e)
{
	int n = snprintf(out, REF_MAX, "%s:%s", b, e);

	assertf(n > 0 && n < REF_MAX, "ref %s:%s too long", b, e);
}

/* The claim token a held-job call carries: the exec's current `claim` (a holder that knows
 * its claim), unless a test sets stale_token to play a holder whose claim was superseded. */
const char *stale_token;

const char *tok(const char *b, const char *e)
{
	static char t[4][32];
	static unsigned next;
	char *out = t[next++ % 4], *v;

	if (stale_token != NULL)
		return stale_token;
	v = hget(k_exec(b, e), "claim");
	snprintf(out, 32, "%s", v != NULL ? v : "");
	free(v);
	return out;
}

long long record_amc_id(const char *b, const char *e, const char *amc_id, const char *w)
{
	const char *keys[2] = { k_exec(b, e), k_events() };
	const char *args[4] = { amc_id, now_str(), w, tok(b, e) };

	return run_int(LUA_SCRIPT_RECORD_AMC_ID, 2, keys, 4, args);
}

long long set_phase(const char *b, const char *e, const char *phase, const char *w)
{
	const char *keys[2] = { k_exec(b, e), k_events() };
	const char *args[4] = { phase, now_str(), w, tok(b, e) };

	return run_int(LUA_SCRIPT_SET_PHASE, 2, keys, 4, args);
}

long long progress(const char *b, const char *e, const char *w, const char *const *fields, int n)
{
	const char *keys[1] = { k_exec(b, e) };
	const char *args[2 + 8] = { w, tok(b, e) };

	for (int i = 0; i < n && i < 8; i++)
		args[2 + i] = fields[i];
	return run_int(LUA_SCRIPT_PROGRESS, 1, keys, 2 + (n < 8 ? n : 8), args);
}

/* finish; on success writes final_state/batch_status; returns the integer code or LUA_OK */
long long finish(const char *b, const char *e, const char *outcome, const char *w,
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

redisReply *cancel_batch(const char *b)
{
	const char *keys[4] = { k_batch(b), k_execs(b), k_queue(), k_events() };
	const char *args[2] = { now_str(), prefix };

	return run(LUA_SCRIPT_CANCEL_BATCH, 4, keys, 2, args);
}

/* heartbeat asking for up to max_refs of w's jobs list; the reply (caller frees) */
redisReply *heartbeat_refs(const char *w, long long lease_ms, int max_refs)
{
	char ms[32], mx[16];
	const char *keys[4] = { k_lease(w), k_workers(), k_jobs(w), k_info(w) };
	const char *args[6] = { w, now_str(), ms, mx, "host", "testhost" };

	snprintf(ms, sizeof(ms), "%lld", lease_ms);
	snprintf(mx, sizeof(mx), "%d", max_refs);
	return run(LUA_SCRIPT_HEARTBEAT, 4, keys, 6, args);
}

/* LUA_OK when the heartbeat answered its { n, ref... } array */
long long heartbeat(const char *w, long long lease_ms)
{
	redisReply *r = heartbeat_refs(w, lease_ms, 0);
	long long v = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 ? LUA_OK
		      : r->type == REDIS_REPLY_INTEGER                 ? r->integer
								       : -999;

	freeReplyObject(r);
	return v;
}

long long reclaim(int max_workers)
{
	char maxs[16];
	const char *keys[3] = { k_workers(), k_queue(), k_events() };
	const char *args[3] = { now_str(), prefix, maxs };

	snprintf(maxs, sizeof(maxs), "%d", max_workers);
	return run_int(LUA_SCRIPT_RECLAIM, 3, keys, 3, args);
}

/* retry with the flags of ARGV[7], [9] and [10] (throttled, AMC execution live, nothing
 * created); on success writes the batch status; returns the integer code or LUA_OK */
long long retry_flags(const char *b, const char *e, const char *w, long long due,
		      const char *reason, const char *throttled, const char *amc_live,
		      const char *no_create, char *batch_status)
{
	char ref[REF_MAX], dues[32];
	const char *keys[5] = { k_batch(b), k_exec(b, e), k_jobs(w), k_retry(), k_events() };
	const char *args[10] = { ref,    now_str(), dues,      reason,   w,
				 prefix, throttled, tok(b, e), amc_live, no_create };
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

long long retry(const char *b, const char *e, const char *w, long long due, const char *reason,
		char *batch_status)
{
	return retry_flags(b, e, w, due, reason, "0", "0", "0", batch_status);
}

long long release_live(const char *b, const char *e, const char *w, const char *amc_live)
{
	char ref[REF_MAX];
	const char *keys[4] = { k_batch(b), k_exec(b, e), k_jobs(w), k_events() };
	const char *args[6] = { ref, now_str(), w, prefix, tok(b, e), amc_live };

	ref_of(ref, b, e);
	return run_int(LUA_SCRIPT_RELEASE, 4, keys, 6, args);
}

long long release(const char *b, const char *e, const char *w)
{
	return release_live(b, e, w, "0");
}

/* running slots held on one instance or account (0 when the field is absent) */
long long slots(const char *kind, const char *id)
{
	char f[96];
	long long v;

	snprintf(f, sizeof(f), "%s:%s", kind, id);
	v = hget_ll(k_running(), f);
	return v == -999 ? 0 : v;
}

/* does claim reply r hold the job b:e? */
bool claimed_has(redisReply *r, const char *b, const char *e)
{
	char ref[REF_MAX], got[REF_MAX];

	ref_of(ref, b, e);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (job_ref(r, i, got, sizeof(got)) && !strcmp(got, ref))
			return true;
	return false;
}

size_t n_claimed(redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

/* every batch a test left open is cancelled, so each test starts from an empty ring */
void drain_queue(void)
{
	for (int i = 0; i < n_batches; i++) {
		char *st = hget(k_batch(batches[i]), "status");

		if (st != NULL && (!strcmp(st, "pending") || !strcmp(st, "running")))
			freeReplyObject(cancel_batch(batches[i]));
		free(st);
	}
	assertf(int_cmd("LLEN %s", k_queue()) == 0, "ring empty once every batch is cancelled");
}

/* finish_many of n jobs b[i]:e[i] by worker w with outcome o[i] (rows "7" when completed,
 * error "boom" when failed); the caller frees the reply */
redisReply *finish_many(const char *w, int n, const char *const *b, const char *const *e,
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
bool fm_result_is(const redisReply *r, size_t i, const char *state, const char *status)
{
	const redisReply *x;

	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return false;
	x = r->element[i];
	return x->type == REDIS_REPLY_ARRAY && x->elements == 2 &&
	       !strcmp(x->element[0]->str, state) && !strcmp(x->element[1]->str, status);
}

bool fm_result_code(const redisReply *r, size_t i, long long code)
{
	return r->type == REDIS_REPLY_ARRAY && i < r->elements &&
	       r->element[i]->type == REDIS_REPLY_INTEGER && r->element[i]->integer == code;
}

/* an entry of type among the last 50 events whose exec_ids is ids (and whose field f = v) */
bool has_event(const char *type, const char *ids, const char *f, const char *v)
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

/* ---- the runner ---- */

static bool connect_url(const char *url)
{
	int db = 0;

	if (strncmp(url, "unix:", 5) == 0) {
		char path[256];
		const char *q = strstr(url, "?db=");

		snprintf(path, sizeof(path), "%.*s",
			 (int)(q != NULL ? q - (url + 5) : (long)strlen(url + 5)), url + 5);
		if (q != NULL)
			db = atoi(q + 4);
		rc = redisConnectUnix(path);
	} else if (strncmp(url, "redis://", 8) == 0) {
		char host[256];
		int port = 6379;
		const char *h = url + 8, *colon = strchr(h, ':'), *slash = strchr(h, '/');
		size_t hl = colon != NULL   ? (size_t)(colon - h)
			    : slash != NULL ? (size_t)(slash - h)
					    : strlen(h);

		snprintf(host, sizeof(host), "%.*s", (int)hl, h);
		if (colon != NULL)
			port = atoi(colon + 1);
		if (slash != NULL)
			db = atoi(slash + 1);
		rc = redisConnect(host, port);
	} else {
		printf("# REDIS_URL must be redis://host:port/db or unix:/path\n");
		return false;
	}
	if (rc == NULL || rc->err) {
		printf("# cannot connect to %s: %s\n", url,
		       rc != NULL ? rc->errstr : "out of memory");
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

static pid_t runner; /* the parent process: its pid names the prefixes */

/* Fresh state for case i: nothing a case changes reaches the next one. */
static void reset_case(size_t i)
{
	snprintf(prefix, sizeof(prefix), "amcbtest:%ld:%zu:", (long)runner, i);
	now_ms = NOW_START;
	id_seq = 0;
	n_batches = 0;
	enqueue_extra = "";
	stale_token = NULL;
}

/* The child: runs one case, deletes its keys, reports its check counts on fd. */
static void run_child(const LuaCase *c, size_t i, const char *url, int fd)
{
	int counts[2];

	tap_passed = tap_failed = 0; /* the parent's sums came along with fork */
	if (!connect_url(url))
		_exit(3);
	reset_case(i);
	c->fn();
	cleanup_keys();
	redisFree(rc);
	counts[0] = tap_passed;
	counts[1] = tap_failed;
	fflush(stdout);
	_exit(write(fd, counts, sizeof(counts)) == (ssize_t)sizeof(counts) ? 0 : 3);
}

/* Runs case i in a child; prints its line and adds its counts to the summary. */
static void run_case(const LuaCase *c, size_t i, const char *url)
{
	int fds[2], counts[2] = { 0, 0 }, status = 0;
	ssize_t got = 0;
	pid_t pid;

	fflush(stdout); /* else the child would print the buffered lines again */
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		tap_failed++;
		printf("not ok - %s (cannot start: pipe or fork failed)\n", c->name);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(c, i, url, fds[1]);
	}
	close(fds[1]);
	got = read(fds[0], counts, sizeof(counts));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		;
	if (got != (ssize_t)sizeof(counts) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		tap_failed++;
		if (WIFSIGNALED(status))
			printf("# %s ended by signal %d\n", c->name, WTERMSIG(status));
		printf("not ok - %s (did not finish)\n", c->name);
		fflush(stdout);
		/* what the case wrote before it died goes too */
		if (connect_url(url)) {
			reset_case(i);
			cleanup_keys();
			redisFree(rc);
			rc = NULL;
		}
		return;
	}
	tap_passed += counts[0];
	tap_failed += counts[1];
	printf("%s - %s\n", counts[1] == 0 ? "ok" : "not ok", c->name);
	fflush(stdout);
}

/* SCRIPT LOAD of every script once: the children call them by SHA1. */
static bool load_scripts(void)
{
	for (int i = 0; i < LUA_SCRIPT_COUNT; i++) {
		redisReply *r = cmd("SCRIPT LOAD %s", lua_scripts[i].source);
		bool ok = r->type == REDIS_REPLY_STRING && r->len == 40;

		if (ok)
			snprintf(sha[i], sizeof(sha[i]), "%s", r->str);
		else
			printf("# SCRIPT LOAD %s: %s\n", lua_scripts[i].name,
			       r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
		freeReplyObject(r);
		if (!ok)
			return false;
	}
	return true;
}

int lua_harness_main(const LuaCase *cases, size_t n)
{
	const char *url = getenv("REDIS_URL");
	bool loaded;

	setvbuf(stdout, NULL, _IOLBF, 0);
	runner = getpid();
	if (url == NULL || !*url)
		TAP_SKIP_ALL("REDIS_URL not set");
	if (!connect_url(url))
		return 1;
	loaded = load_scripts();
	redisFree(rc);
	rc = NULL;
	if (!loaded) {
		printf("not ok - the scripts load\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i], i, url);
	return tap_done();
}
