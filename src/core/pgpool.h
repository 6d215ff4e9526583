/* pgpool.h - keeps PostgreSQL off the event loop: N threads, each with its own blocking
 * libpq connection, take jobs from a queue; the completion runs back on the loop thread.
 * A job whose connection broke is retried on a fresh connection until its retry budget
 * runs out (the work function must therefore be safe to repeat: use a transaction).
 *
 * THREADS: the program's main() must call evthread_use_pthreads() (event2/thread.h, link
 * libevent_pthreads) BEFORE event_base_new(): pool threads wake the loop with
 * event_active(), which is only safe on a base created with locking enabled. pgpool_new
 * cannot do it for you: a base created earlier stays lock-less.
 * Every pgpool_* call except the pg_* helpers is for the loop thread only. Pool threads
 * block every signal. While jobs are outstanding the pool keeps the loop alive. */
#ifndef AMCB_PGPOOL_H
#define AMCB_PGPOOL_H

#include <event2/event.h>
#include <libpq-fe.h>

#include "common.h"
#include "metrics.h"

typedef struct PgPool PgPool;

enum PgResult {
	PG_OK = 0, /* done */
	PG_FAIL,   /* permanent failure (bad data, constraint): not retried */
	PG_RETRY,  /* connection trouble: reconnect and run the job again */
};

/* Runs on a pool thread. conn is connected. Write a message to err on failure. */
typedef enum PgResult (*PgWorkFn)(PGconn *conn, void *arg, char *err, size_t errlen);
/* Runs on the loop thread after the work ended (or gave up). err is "" on PG_OK. */
typedef void (*PgDoneFn)(enum PgResult res, const char *err, void *arg);

PgPool *pgpool_new(struct event_base *base, const char *conninfo, int nthreads);
/* Stops threads (a running attempt finishes first; retry sleeps are cut short and end with
 * PG_FAIL); finished jobs are delivered, queued jobs complete with PG_FAIL. Call it from
 * the loop thread but not from inside a done callback. */
void pgpool_free(PgPool *p);
/* retry_ms: how long a job may keep retrying on connection trouble (-1 = forever).
 * arg is borrowed by the pool and handed back to done, which owns it again. */
MUST_CHECK bool pgpool_submit(PgPool *p, PgWorkFn work, PgDoneFn done, void *arg, int retry_ms);
bool pgpool_healthy(PgPool *p);
/* Observes each job's time in its work function (every try, on a connection: the round
 * trips to PostgreSQL, not the queue wait) into the label-less histogram rtt, on the loop
 * thread when the job completes. Borrowed; NULL stops it. */
void pgpool_set_metrics(PgPool *p, Metric *rtt);
/* Connections re-made after one broke, over the pool's life (any thread may read). */
unsigned long long pgpool_reconnects(PgPool *p); /* true if the last connection attempt succeeded */

/* Helpers for work functions (run on pool threads). */
/* true if the result status is one of the OK ones; else copies the error into err */
bool pg_ok(PGconn *conn, PGresult *r, char *err, size_t errlen);
/* PG_RETRY when the connection is bad or the last error was of the server's condition
 * (a rolled-back transaction, resources, an operator's cancel, I/O: the whole job is then
 * rerun), else PG_FAIL */
enum PgResult pg_fail_kind(PGconn *conn);

#endif
