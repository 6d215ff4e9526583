/* test_core_pgpool.c - against a real PostgreSQL (DATABASE_URL, else skipped): queries run
 * on pool threads in parallel, completions run on the loop thread, a failing query is
 * PG_FAIL, an unreachable server ends in PG_RETRY once the retry budget is spent. No check
 * here measures time: parallelism and budgets are shown by counts and ordering, which a
 * loaded machine cannot upset (the timers below only end a hung test). */
#include "pgpool.h"

#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
/* cases in this process, not one each (tap.h): its cases share the event loop (with libevent's pthread locking) main() starts */
#define TAP_IN_PROCESS
#include "../tap.h"

static struct event_base *base;
static const char *dburl;
static pthread_t loop_thread;

typedef struct Q {
	const char *sql;
	enum PgResult res;
	char err[256];
	char value[64];
	bool done;
	bool on_loop;
	pthread_t worker;
	int *remaining;
	bool meet; /* wait in the work function until RENDEZVOUS jobs are running */
	int met;   /* jobs running at once when it went on */
} Q;

/* The first jobs of test_parallel_queries wait for each other on their pool threads: all
 * of them meet only if that many threads run at once. A lost meeting ends after
 * RENDEZVOUS_GUARD_S, so a serial pool fails the count instead of hanging. */
#define RENDEZVOUS 4
#define RENDEZVOUS_GUARD_S 20
static pthread_mutex_t meet_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cond = PTHREAD_COND_INITIALIZER;
static int meet_arrived;

static int rendezvous(void)
{
	struct timespec until;
	int seen;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += RENDEZVOUS_GUARD_S;
	pthread_mutex_lock(&meet_mu);
	meet_arrived++;
	pthread_cond_broadcast(&meet_cond);
	while (meet_arrived < RENDEZVOUS)
		if (pthread_cond_timedwait(&meet_cond, &meet_mu, &until) != 0)
			break;
	seen = meet_arrived;
	pthread_mutex_unlock(&meet_mu);
	return seen;
}

static enum PgResult run_sql(PGconn *conn, void *arg, char *err, size_t errlen)
{
	Q *q = arg;
	PGresult *r;

	q->worker = pthread_self();
	if (q->meet)
		q->met = rendezvous();
	r = PQexec(conn, q->sql);
	if (!pg_ok(conn, r, err, errlen)) {
		enum PgResult kind = pg_fail_kind(conn);

		PQclear(r);
		return kind;
	}
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(q->value, sizeof(q->value), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return PG_OK;
}

static void on_done(enum PgResult res, const char *err, void *arg)
{
	Q *q = arg;

	q->res = res;
	snprintf(q->err, sizeof(q->err), "%s", err);
	q->done = true;
	q->on_loop = pthread_equal(pthread_self(), loop_thread);
	if (--*q->remaining == 0)
		event_base_loopbreak(base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
	event_base_loopbreak(base);
}

/* runs the loop until every query completed or 20 s passed */
static bool run_loop(int *remaining)
{
	bool timed_out = false;
	struct event *t = evtimer_new(base, on_timeout, &timed_out);
	struct timeval tv = { 20, 0 };

	evtimer_add(t, &tv);
	while (*remaining > 0 && !timed_out)
		event_base_dispatch(base);
	event_free(t);
	return !timed_out;
}

static void test_parallel_queries(void)
{
	PgPool *p = pgpool_new(base, dburl, 4);
	Q q[8];
	int remaining = 8;

	assertf(p != NULL, "pgpool_new");
	if (p == NULL)
		return;
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 8; i++) {
		q[i].sql = "SELECT 'x' || pg_backend_pid()";
		q[i].remaining = &remaining;
		q[i].meet = i < RENDEZVOUS;
		assertf(pgpool_submit(p, run_sql, on_done, &q[i], 1000), "submit %d", i);
	}
	assertf(run_loop(&remaining), "timed out, %d left", remaining);
	/* the first four held their threads until all four ran: 4 threads at once, whatever
	 * the machine's load */
	for (int i = 0; i < RENDEZVOUS; i++)
		assertf(q[i].met == RENDEZVOUS, "q%d met %d others, want %d running at once", i,
			q[i].met, RENDEZVOUS);
	int distinct_threads = 0;

	for (int i = 0; i < 8; i++) {
		bool seen = false;

		assertf(q[i].done && q[i].res == PG_OK, "q%d res %d err %s", i, q[i].res, q[i].err);
		assertf(q[i].on_loop, "q%d completion not on the loop thread", i);
		assertf(!pthread_equal(q[i].worker, loop_thread), "q%d work ran on the loop", i);
		for (int k = 0; k < i; k++)
			if (pthread_equal(q[k].worker, q[i].worker))
				seen = true;
		distinct_threads += !seen;
	}
	assertf(distinct_threads == 4, "%d pool threads used, want 4", distinct_threads);
	assertf(pgpool_healthy(p), "pool not healthy after queries");
	pgpool_free(p);
}

static void test_failing_query(void)
{
	PgPool *p = pgpool_new(base, dburl, 2);
	Q bad = { .sql = "SELECT * FROM no_such_table_xyz" };
	Q good = { .sql = "SELECT 41 + 1" };
	int remaining = 2;

	assertf(p != NULL, "pgpool_new");
	if (p == NULL)
		return;
	bad.remaining = good.remaining = &remaining;
	assertf(pgpool_submit(p, run_sql, on_done, &bad, 1000), "submit bad");
	assertf(pgpool_submit(p, run_sql, on_done, &good, 1000), "submit good");
	assertf(run_loop(&remaining), "timed out");
	assertf(bad.res == PG_FAIL, "bad query res %d", bad.res);
	assertf(strstr(bad.err, "no_such_table_xyz") != NULL && strstr(bad.err, "42P01") != NULL,
		"error text: %s", bad.err);
	assertf(good.res == PG_OK && strcmp(good.value, "42") == 0, "good: %d %s", good.res,
		good.value);
	assertf(good.err[0] == '\0', "err on PG_OK: %s", good.err);
	pgpool_free(p);
}

/* The server terminates the pool's backend: the job sees PG_RETRY, the pool reconnects and
 * reruns it. */
static int killed_once;

static enum PgResult die_once(PGconn *conn, void *arg, char *err, size_t errlen)
{
	if (__atomic_fetch_add(&killed_once, 1, __ATOMIC_SEQ_CST) == 0) {
		PGresult *r = PQexec(conn, "SELECT pg_terminate_backend(pg_backend_pid())");
		bool ok = pg_ok(conn, r, err, errlen);

		PQclear(r);
		return ok ? PG_FAIL : pg_fail_kind(conn);
	}
	return run_sql(conn, arg, err, errlen);
}

static void test_reconnect_and_rerun(void)
{
	PgPool *p = pgpool_new(base, dburl, 1);
	Q q = { .sql = "SELECT 'again'" };
	int remaining = 1;

	assertf(p != NULL, "pgpool_new");
	if (p == NULL)
		return;
	q.remaining = &remaining;
	assertf(pgpool_submit(p, die_once, on_done, &q, 5000), "submit");
	assertf(run_loop(&remaining), "timed out");
	assertf(q.res == PG_OK && strcmp(q.value, "again") == 0, "res %d value %s err %s", q.res,
		q.value, q.err);
	assertf(killed_once == 2, "work ran %d times, want 2", killed_once);
	pgpool_free(p);
}

/* An unreachable server: a job with a budget retries (more than one connection attempt),
 * then ends in PG_RETRY while a job without a budget, queued behind it on the same thread,
 * keeps trying until the pool is freed (PG_FAIL). */
static void test_unreachable_gives_retry(void)
{
	PgPool *p = pgpool_new(base, "host=/nonexistent-dir port=1 connect_timeout=1", 1);
	Q q = { .sql = "SELECT 1" }, forever = { .sql = "SELECT 1" };
	int remaining = 1, remaining_forever = 1;

	assertf(p != NULL, "pgpool_new");
	if (p == NULL)
		return;
	q.remaining = &remaining;
	forever.remaining = &remaining_forever;
	assertf(pgpool_submit(p, run_sql, on_done, &q, 2000), "submit");
	assertf(pgpool_submit(p, run_sql, on_done, &forever, -1), "submit without a budget");
	assertf(run_loop(&remaining), "timed out");
	assertf(q.res == PG_RETRY, "res %d", q.res);
	assertf(q.err[0] != '\0', "no error text");
	/* the eager connect at thread start, then one re-connect per try: two or more tries
	 * mean the budget was used for retrying, not given up at the first failure */
	assertf(pgpool_reconnects(p) >= 2, "%llu re-connects: the budget was not used",
		pgpool_reconnects(p));
	assertf(!forever.done, "the job without a budget ended (res %d)", forever.res);
	assertf(!pgpool_healthy(p), "healthy without a server");
	pgpool_free(p);
	assertf(forever.done && forever.res == PG_FAIL, "freeing the pool: done %d res %d",
		forever.done, forever.res);
}

/* Queued jobs complete with PG_FAIL when the pool is freed. */
static void test_free_fails_queued(void)
{
	PgPool *p = pgpool_new(base, dburl, 1);
	Q q[3];
	int remaining = 3;

	assertf(p != NULL, "pgpool_new");
	if (p == NULL)
		return;
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 3; i++) {
		q[i].sql = "SELECT pg_sleep(0.2)";
		q[i].remaining = &remaining;
		assertf(pgpool_submit(p, run_sql, on_done, &q[i], 1000), "submit");
	}
	pgpool_free(p);
	assertf(remaining == 0, "%d jobs never completed", remaining);
	int failed = 0;

	for (int i = 0; i < 3; i++)
		failed += q[i].res == PG_FAIL;
	assertf(failed >= 2, "only %d queued jobs failed", failed);
}

int main(void)
{
	dburl = getenv("DATABASE_URL");
	if (dburl == NULL || !*dburl)
		TAP_SKIP_ALL("DATABASE_URL not set");
	log_init("test_core_pgpool", LOG_LVL_ERROR);
	/* must precede event_base_new (see pgpool.h) */
	if (evthread_use_pthreads() != 0) {
		printf("not ok - evthread_use_pthreads\n");
		return 1;
	}
	base = event_base_new();
	loop_thread = pthread_self();
	RUN_TEST(test_parallel_queries);
	RUN_TEST(test_failing_query);
	RUN_TEST(test_reconnect_and_rerun);
	RUN_TEST(test_unreachable_gives_retry);
	RUN_TEST(test_free_fails_queued);
	event_base_free(base);
	return tap_done();
}
