/* noopload.c - benchmark driver for bench/noop-throughput: enqueues batches straight through
 * the enqueue_batch script (EVALSHA, pipelined, no API and no PostgreSQL in the way) and waits
 * until every batch is terminal, printing the times and the final counters as key=value. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "keys.h"
#include "lua_scripts.h"
#include "mstime.h"

#define PIPELINE 20 /* enqueue_batch calls in flight at once */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "noopload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: noopload enqueue HOST PORT PREFIX BATCHES INSTANCES ACCOUNTS distinct|shared\n"
		"       noopload wait HOST PORT PREFIX BATCHES T0_MS TIMEOUT_S\n"
		"       noopload scripts HOST PORT PREFIX JOBS CLAIM_BATCH INSTANCE_CAP ACCOUNT_CAP\n"
		"Batch i (1..BATCHES) is batch_%%08x(i) with INSTANCES executions (every field the\n"
		"worker reads is filled in), spread over ACCOUNTS accounts round-robin. shared: every\n"
		"batch uses AMC instances 1..INSTANCES; distinct: each execution has its own instance\n"
		"(so per-instance caps never bind and only the cap bookkeeping is measured).\n");
	exit(2);
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		die("bad number: %s", s);
	return v;
}

static void batch_id(char out[32], long i)
{
	snprintf(out, 32, "batch_%08lx", i);
}

/* Growable string (owned by the caller, freed with free(s->p)). */
typedef struct Str {
	char *p;
	size_t len, cap;
} Str;

static void str_addf(Str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_addf(Str *s, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("%s", "vsnprintf failed");
		if (s->len + (size_t)n < s->cap) {
			s->len += (size_t)n;
			return;
		}
		s->cap = (s->cap + (size_t)n + 1) * 2;
		if ((s->p = realloc(s->p, s->cap)) == NULL)
			die("%s", "out of memory");
	}
}

static char *load_script(redisContext *c, enum LuaScriptId id)
{
	redisReply *r = redisCommand(c, "SCRIPT LOAD %s", lua_scripts[id].source);
	if (r == NULL || r->type != REDIS_REPLY_STRING)
		die("SCRIPT LOAD failed: %s",
		    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
	char *sha = strdup(r->str);
	freeReplyObject(r);
	return sha;
}

static void check_enqueued(redisContext *c)
{
	redisReply *r;
	if (redisGetReply(c, (void **)&r) != REDIS_OK)
		die("redis: %s", c->errstr);
	if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
		die("enqueue_batch did not return 1: %s",
		    r->type == REDIS_REPLY_ERROR ? r->str : "(other reply)");
	freeReplyObject(r);
}

/* One EVALSHA enqueue_batch per batch; KEYS and ARGV as in docs/redis-keys.md. */
static int cmd_enqueue(redisContext *c, const char *prefix, long batches, long instances,
		       long accounts, int distinct)
{
	char *sha = load_script(c, LUA_SCRIPT_ENQUEUE_BATCH);
	size_t argc = 3 + 5 + (size_t)instances + 4;
	const char **argv = calloc(argc, sizeof(*argv));
	size_t *lens = calloc(argc, sizeof(*lens));
	char(*keys)[KEYS_MAX] = calloc((size_t)instances + 5, KEYS_MAX);
	Str execs = { 0 }, fields = { 0 };
	if (argv == NULL || lens == NULL || keys == NULL)
		die("%s", "out of memory");
	long long t0 = mstime_wall();
	long pending = 0;
	for (long b = 1; b <= batches; b++) {
		char bid[32], numkeys[24], now[32];
		batch_id(bid, b);
		snprintf(numkeys, sizeof(numkeys), "%ld", instances + 5);
		snprintf(now, sizeof(now), "%lld", (long long)mstime_wall());
		if (keys_batch(keys[0], KEYS_MAX, prefix, bid) == NULL ||
		    keys_batch_execs(keys[1], KEYS_MAX, prefix, bid) == NULL ||
		    keys_queue(keys[2], KEYS_MAX, prefix) == NULL ||
		    keys_batches(keys[3], KEYS_MAX, prefix) == NULL ||
		    keys_events(keys[4], KEYS_MAX, prefix) == NULL)
			die("%s", "key too long");
		execs.len = 0;
		str_addf(&execs, "[");
		for (long i = 1; i <= instances; i++) {
			char eid[32];
			long inst = distinct ? (b - 1) * instances + i : i;
			/* instance -> account is fixed; in distinct mode consecutive batches start on
			 * different accounts, so claim's round-robin (one job per batch per turn) does
			 * not pile every batch's first job onto one account */
			long acct = distinct ? ((inst - 1) + (inst - 1) / instances) % accounts + 1
					     : (inst - 1) % accounts + 1;
			snprintf(eid, sizeof(eid), "exec_%08lx",
				 (unsigned long)(b * 100000 + i) & 0xffffffffUL);
			if (keys_exec(keys[4 + i], KEYS_MAX, prefix, bid, eid) == NULL)
				die("%s", "key too long");
			str_addf(
				&execs,
				"%s{\"exec_id\":\"%s\",\"id\":\"%08lx-0000-4000-8000-%012lx\","
				"\"instance_uuid\":\"20000000-0000-4000-8000-%012lx\","
				"\"amc_instance_id\":\"amcbench%05ld\",\"instance_name\":\"Bench %ld\","
				"\"instance_region\":\"us-east-1\","
				"\"account_id\":\"10000000-0000-4000-8000-%012lx\","
				"\"advertiser_id\":\"ENTITYBENCH%ld\",\"marketplace_id\":\"ATVPDKIKX0DER\","
				"\"timezone\":\"UTC\",\"parameters\":"
				"\"{\\\"startDate\\\":\\\"2025-01-01\\\",\\\"endDate\\\":\\\"2025-01-31\\\"}\"}",
				i > 1 ? "," : "", eid, b, i, inst, inst, inst, acct, acct);
		}
		str_addf(&execs, "]");
		fields.len = 0;
		str_addf(
			&fields,
			"{\"batch_execution_id\":\"%08lx-1111-4000-8000-000000000000\","
			"\"workflow_id\":\"30000000-0000-4000-8000-000000000001\","
			"\"user_id\":\"00000000-0000-4000-8000-000000000001\",\"name\":\"bench %ld\","
			"\"sql_query\":\"SELECT campaign, SUM(impressions) AS impressions FROM impressions"
			" GROUP BY campaign\"}",
			b, b);
		size_t k = 0;
		argv[k++] = "EVALSHA";
		argv[k++] = sha;
		argv[k++] = numkeys;
		for (long i = 0; i < instances + 5; i++)
			argv[k++] = keys[i];
		argv[k++] = bid;
		argv[k++] = now;
		argv[k++] = fields.p;
		argv[k++] = execs.p;
		for (size_t j = 0; j < k; j++)
			lens[j] = strlen(argv[j]);
		if (redisAppendCommandArgv(c, (int)k, argv, lens) != REDIS_OK)
			die("redis: %s", c->errstr);
		if (++pending == PIPELINE) {
			for (; pending > 0; pending--)
				check_enqueued(c);
		}
	}
	for (; pending > 0; pending--)
		check_enqueued(c);
	printf("enqueued=%ld batches=%ld instances=%ld enqueue_ms=%lld\n", batches * instances,
	       batches, instances, mstime_wall() - t0);
	free(execs.p);
	free(fields.p);
	free(keys);
	free(lens);
	free(argv);
	free(sha);
	return 0;
}

static int terminal(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "failed") ||
	       !strcmp(status, "partial") || !strcmp(status, "cancelled");
}

/* Polls the oldest batch not yet seen terminal (batches are claimed in order, so this is one
 * cheap HGET per poll), then reads every batch's counters once for the report. */
static int cmd_wait(redisContext *c, const char *prefix, long batches, long long t0, long timeout_s)
{
	long next = 1, polls = 0;
	long long deadline = t0 + timeout_s * 1000;
	char key[KEYS_MAX], bid[32];
	while (next <= batches) {
		batch_id(bid, next);
		if (keys_batch(key, sizeof(key), prefix, bid) == NULL)
			die("%s", "key too long");
		redisReply *r = redisCommand(c, "HGET %s status", key);
		polls++;
		if (r == NULL)
			die("redis: %s", c->errstr);
		int done = r->type == REDIS_REPLY_STRING && terminal(r->str);
		freeReplyObject(r);
		if (done) {
			next++;
			continue;
		}
		if (mstime_wall() > deadline) {
			printf("timeout=1 terminal_batches=%ld\n", next - 1);
			return 1;
		}
		usleep(2000);
	}
	long long t1 = mstime_wall();
	long long first_start = 0, last_end = 0, completed = 0, failed = 0, total = 0, bad = 0;
	for (long b = 1; b <= batches; b++) {
		batch_id(bid, b);
		if (keys_batch(key, sizeof(key), prefix, bid) == NULL)
			die("%s", "key too long");
		redisAppendCommand(
			c, "HMGET %s total completed failed started_at completed_at status", key);
	}
	for (long b = 1; b <= batches; b++) {
		redisReply *r;
		if (redisGetReply(c, (void **)&r) != REDIS_OK || r->type != REDIS_REPLY_ARRAY ||
		    r->elements != 6)
			die("redis: %s", c->errstr);
		long long v[5] = { 0 };
		for (int i = 0; i < 5; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING)
				v[i] = strtoll(r->element[i]->str, NULL, 10);
		total += v[0];
		completed += v[1];
		failed += v[2];
		if (!first_start || (v[3] && v[3] < first_start))
			first_start = v[3];
		if (v[4] > last_end)
			last_end = v[4];
		if (r->element[5]->type != REDIS_REPLY_STRING ||
		    strcmp(r->element[5]->str, "completed"))
			bad++;
		freeReplyObject(r);
	}
	printf("wall_ms=%lld total=%lld completed=%lld failed=%lld not_completed_batches=%lld "
	       "first_claim_ms=%lld last_finish_ms=%lld redis_span_ms=%lld polls=%ld\n",
	       t1 - t0, total, completed, failed, bad, first_start - t0, last_end - t0,
	       last_end - first_start, polls);
	return bad ? 1 : 0;
}

/* Redis's own user+sys CPU (ms, from INFO cpu) */
static double redis_cpu_ms(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO cpu");
	double sys = 0, user = 0;
	if (r == NULL || r->type != REDIS_REPLY_STRING)
		die("INFO failed: %s", c->errstr);
	const char *p = strstr(r->str, "used_cpu_sys:");
	const char *q = strstr(r->str, "used_cpu_user:");
	if (p != NULL)
		sys = strtod(p + 13, NULL);
	if (q != NULL)
		user = strtod(q + 14, NULL);
	freeReplyObject(r);
	return (sys + user) * 1000;
}

/* The two scripts a no-op job costs, measured apart: claim everything (CLAIM_BATCH per call)
 * into one worker's jobs list, then finish every claimed job (pipelined): CLAIM_BATCH jobs per
 * finish_many call, as the worker does, or one finish per job with a build that predates
 * finish_many. Prints Redis CPU per job for each, i.e. the server-side ceiling of jobs/s
 * whatever the worker does. */
static int cmd_scripts(redisContext *c, const char *prefix, long expect, long claim_batch,
		       long icap, long acap)
{
	const char *worker = "bench-scripts";
	char ring[KEYS_MAX], jobs[KEYS_MAX], events[KEYS_MAX], retry[KEYS_MAX], running[KEYS_MAX];
	if (keys_queue(ring, sizeof(ring), prefix) == NULL ||
	    keys_worker_jobs(jobs, sizeof(jobs), prefix, worker) == NULL ||
	    keys_events(events, sizeof(events), prefix) == NULL ||
	    keys_retry(retry, sizeof(retry), prefix) == NULL ||
	    keys_running(running, sizeof(running), prefix) == NULL)
		die("%s", "key too long");
#ifdef LUA_FINISH_MANY_NKEYS
	char *claim = load_script(c, LUA_SCRIPT_CLAIM),
	     *finish = load_script(c, LUA_SCRIPT_FINISH_MANY);
#else
	char *claim = load_script(c, LUA_SCRIPT_CLAIM), *finish = load_script(c, LUA_SCRIPT_FINISH);
#endif
	char **refs = calloc((size_t)expect, sizeof(*refs));
	/* builds with claim tokens (every held-job script carries the claim's token) have held_jobs */
	char **toks = calloc((size_t)expect, sizeof(*toks));
	if (refs == NULL || toks == NULL)
		die("%s", "out of memory");
	long n = 0, calls = 0;
	char max[24], icaps[24], acaps[24];
	snprintf(max, sizeof(max), "%ld", claim_batch);
	snprintf(icaps, sizeof(icaps), "%ld", icap);
	snprintf(acaps, sizeof(acaps), "%ld", acap);
	double cpu0 = redis_cpu_ms(c);
	long long t0 = mstime_wall();
	for (;;) {
		char now[32];
		snprintf(now, sizeof(now), "%lld", (long long)mstime_wall());
		redisReply *r = redisCommand(c, "EVALSHA %s 5 %s %s %s %s %s %s %s %s %s %s %s",
					     claim, ring, jobs, events, retry, running, worker, now,
					     max, prefix, icaps, acaps);
		calls++;
		if (r == NULL || r->type != REDIS_REPLY_ARRAY)
			die("claim failed: %s",
			    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
		size_t got = r->elements;
		for (size_t i = 0; i < got; i++) {
			redisReply *job = r->element[i];
			if (job->type != REDIS_REPLY_ARRAY || job->elements < 2 || n >= expect)
				die("%s", "unexpected claim reply");
			const redisReply *f = job->element[1];
			toks[n] = NULL;
			for (size_t k = 0; k + 1 < f->elements; k += 2)
				if (strcmp(f->element[k]->str, "claim") == 0)
					toks[n] = strdup(f->element[k + 1]->str);
			refs[n++] = strdup(job->element[0]->str);
		}
		freeReplyObject(r);
		if (got == 0)
			break;
	}
	double cpu1 = redis_cpu_ms(c);
	/* NOOPLOAD_BETWEEN: a command run between the two phases (bench/script-instructions dumps
	 * callgrind's counters there, to count claim and finish apart) */
	const char *between = getenv("NOOPLOAD_BETWEEN");
	if (between != NULL && *between && system(between) != 0)
		die("%s", "NOOPLOAD_BETWEEN failed");
	long long t1 = mstime_wall();
	long pending = 0;
#ifdef LUA_FINISH_MANY_NKEYS
	/* argv of one call: EVALSHA sha nkeys events jobs (bkey ekey)*g now worker
	 * (ref outcome rows error [claim token])*g */
	long g = claim_batch;
	const char **av = calloc((size_t)(7 + 7 * g), sizeof(*av));
	char(*kb)[KEYS_MAX] = calloc((size_t)(2 * g), KEYS_MAX);
	if (av == NULL || kb == NULL)
		die("%s", "out of memory");
	for (long i0 = 0; i0 < n; i0 += g) {
		long m = n - i0 < g ? n - i0 : g;
		char nk[24], now[32];
		int ac = 0;
		snprintf(nk, sizeof(nk), "%ld", 2 + 2 * m);
		snprintf(now, sizeof(now), "%lld", (long long)mstime_wall());
		av[ac++] = "EVALSHA";
		av[ac++] = finish;
		av[ac++] = nk;
		av[ac++] = events;
		av[ac++] = jobs;
		for (long j = 0; j < m; j++) {
			char bid[32];
			const char *ref = refs[i0 + j], *sep = strchr(ref, ':');
			snprintf(bid, sizeof(bid), "%.*s", (int)(sep - ref), ref);
			if (keys_batch(kb[2 * j], KEYS_MAX, prefix, bid) == NULL ||
			    keys_exec(kb[2 * j + 1], KEYS_MAX, prefix, bid, sep + 1) == NULL)
				die("%s", "key too long");
			av[ac++] = kb[2 * j];
			av[ac++] = kb[2 * j + 1];
		}
		av[ac++] = now;
		av[ac++] = worker;
		for (long j = 0; j < m; j++) {
			av[ac++] = refs[i0 + j];
			av[ac++] = "completed";
			av[ac++] = "0";
			av[ac++] = "";
#ifdef LUA_HELD_JOBS_NKEYS
			av[ac++] = toks[i0 + j] != NULL ? toks[i0 + j] : "";
#endif
		}
		redisAppendCommandArgv(c, ac, av, NULL);
		if (++pending == 8 || i0 + m >= n) {
			for (; pending > 0; pending--) {
				redisReply *r;
				if (redisGetReply(c, (void **)&r) != REDIS_OK ||
				    r->type != REDIS_REPLY_ARRAY)
					die("finish_many failed: %s",
					    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
										      : c->errstr);
				freeReplyObject(r);
			}
		}
	}
	free(av);
	free(kb);
#else
	for (long i = 0; i < n; i++) {
		char bkey[KEYS_MAX], ekey[KEYS_MAX], bid[32], now[32];
		const char *sep = strchr(refs[i], ':');
		snprintf(bid, sizeof(bid), "%.*s", (int)(sep - refs[i]), refs[i]);
		snprintf(now, sizeof(now), "%lld", (long long)mstime_wall());
		if (keys_batch(bkey, sizeof(bkey), prefix, bid) == NULL ||
		    keys_exec(ekey, sizeof(ekey), prefix, bid, sep + 1) == NULL)
			die("%s", "key too long");
		redisAppendCommand(c, "EVALSHA %s 4 %s %s %s %s %s completed %s 0 %s %s", finish,
				   bkey, ekey, jobs, events, refs[i], now, "", worker);
		if (++pending == 64 || i == n - 1) {
			for (; pending > 0; pending--) {
				redisReply *r;
				if (redisGetReply(c, (void **)&r) != REDIS_OK ||
				    r->type != REDIS_REPLY_ARRAY)
					die("finish failed: %s", c->errstr);
				freeReplyObject(r);
			}
		}
	}
#endif
	double cpu2 = redis_cpu_ms(c);
	long long t2 = mstime_wall();
	printf("claimed=%ld claim_calls=%ld claim_ms=%lld finish_ms=%lld redis_claim_us_per_job=%.1f "
	       "redis_finish_us_per_job=%.1f redis_us_per_job=%.1f redis_ceiling_jobs_per_s=%.0f\n",
	       n, calls, t1 - t0, t2 - t1, n ? (cpu1 - cpu0) * 1000 / n : 0,
	       n ? (cpu2 - cpu1) * 1000 / n : 0, n ? (cpu2 - cpu0) * 1000 / n : 0,
	       cpu2 > cpu0 ? n * 1000 / (cpu2 - cpu0) : 0);
	for (long i = 0; i < n; i++) {
		free(refs[i]);
		free(toks[i]);
	}
	free(refs);
	free(toks);
	free(claim);
	free(finish);
	return n == expect ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	int enq = !strcmp(argv[1], "enqueue");
	if (!(enq && argc == 9 && (!strcmp(argv[8], "distinct") || !strcmp(argv[8], "shared"))) &&
	    !(!strcmp(argv[1], "wait") && argc == 8) && !(!strcmp(argv[1], "scripts") && argc == 9))
		usage();
	redisContext *c = redisConnect(argv[2], (int)arg_long(argv[3], 1, 65535));
	if (c == NULL || c->err)
		die("cannot connect: %s", c != NULL ? c->errstr : "out of memory");
	int rc;
	if (enq)
		rc = cmd_enqueue(c, argv[4], arg_long(argv[5], 1, 100000),
				 arg_long(argv[6], 1, 99999), arg_long(argv[7], 1, 99999),
				 !strcmp(argv[8], "distinct"));
	else if (!strcmp(argv[1], "scripts"))
		rc = cmd_scripts(c, argv[4], arg_long(argv[5], 1, 100000000),
				 arg_long(argv[6], 1, 100000), arg_long(argv[7], 1, 100000000),
				 arg_long(argv[8], 1, 100000000));
	else
		rc = cmd_wait(c, argv[4], arg_long(argv[5], 1, 100000), strtoll(argv[6], NULL, 10),
			      arg_long(argv[7], 1, 86400));
	redisFree(c);
	return rc;
}
