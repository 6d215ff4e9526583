/* pgpool.c - N threads, each owning one blocking libpq connection, run jobs from a queue;
 * results go back to the loop thread through a completion queue and event_active().
 * It does not prepare statements or manage transactions: work functions do that. */
#include "pgpool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mstime.h"

/* SQLSTATE of the last failed result seen by pg_ok on this thread (pool threads only). */
static _Thread_local char last_sqlstate[6];

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

typedef struct PgJob {
	struct PgJob *next;
	PgWorkFn work;
	PgDoneFn done;
	void *arg; /* borrowed from the submitter, handed back to done */
	int retry_ms;
	long long submitted_ms; /* monotonic */
	enum PgResult res;
	double work_s; /* time in the work function (all tries), written by the pool
				 * thread before it hands the job to the done list */
	char err[512];
} PgJob;

typedef struct JobList {
	PgJob *head, *tail;
} JobList;

struct PgPool {
	struct event_base *base;
	char *conninfo;
	int nthreads;
	pthread_t *threads;
	int started; /* threads actually created */

	pthread_mutex_t mu; /* guards queue, stopping; cond wakes idle and sleeping threads */
	pthread_cond_t cond;
	JobList queue;
	bool stopping;

	pthread_mutex_t done_mu; /* guards done */
	JobList done;
	struct event *done_ev; /* persistent; activated from pool threads */
	int outstanding;       /* submitted, not yet delivered (loop thread only) */

	atomic_bool healthy;
	atomic_ullong reconnects; /* connections re-made after a failure (pool threads) */
	Metric *m_rtt;            /* borrowed, loop thread only (pgpool_set_metrics) */
};

static void list_push(JobList *l, PgJob *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static PgJob *list_pop(JobList *l)
{
	PgJob *j = l->head;

	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* Copies libpq's message without the trailing newline. */
static void copy_msg(char *err, size_t errlen, const char *msg)
{
	size_t n;

	if (!errlen)
		return;
	snprintf(err, errlen, "%s", msg != NULL && *msg ? msg : "unknown error");
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* Sleeps up to ms on the pool condvar; returns false if the pool is stopping. */
static bool sleep_unless_stopping(PgPool *p, long long ms)
{
	struct timespec ts;
	bool stopping;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		if (pthread_cond_timedwait(&p->cond, &p->mu, &ts) != 0)
			break; /* ETIMEDOUT (spurious wake-ups loop back) */
	}
	stopping = p->stopping;
	pthread_mutex_unlock(&p->mu);
	return !stopping;
}

/* A connection to a server that vanished without a reset (a host down, a partition) would
 * keep a pool thread, and every job waiting for it, in PQexec for as long as TCP retries:
 * keepalive probes end an idle wait for an answer within ~30 s, and tcp_user_timeout a send
 * nobody acknowledges within 30 s; a connect gives up after 10 s. They come before the
 * configured conninfo (database_url), which overrides any of them. */
static PGconn *connect_db(const char *conninfo)
{
	static const char *const keys[] = { "connect_timeout",  "keepalives",
					    "keepalives_idle",  "keepalives_interval",
					    "keepalives_count", "tcp_user_timeout",
					    "dbname",           NULL };
	const char *vals[] = { "10", "1", "15", "5", "3", "30000", conninfo, NULL };

	return PQconnectdbParams(keys, vals, 1);
}

/* (Re)connects *connp; returns true when the connection is usable. */
static bool ensure_conn(PgPool *p, PGconn **connp, char *err, size_t errlen)
{
	PGconn *conn = *connp;

	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return true;
	if (conn) {
		atomic_fetch_add(&p->reconnects, 1);
		PQreset(conn);
	} else {
		conn = connect_db(p->conninfo);
		*connp = conn;
	}
	if (conn == NULL) {
		copy_msg(err, errlen, "out of memory creating a libpq connection");
		atomic_store(&p->healthy, false);
		return false;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		copy_msg(err, errlen, PQerrorMessage(conn));
		atomic_store(&p->healthy, false);
		return false;
	}
	atomic_store(&p->healthy, true);
	return true;
}

/* A work function that failed half-way leaves its transaction open (or aborted); roll it
 * back so the next job on this connection starts clean. */
static void end_open_transaction(PGconn *conn)
{
	PGTransactionStatusType ts = PQtransactionStatus(conn);

	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		PGresult *r = PQexec(conn, "ROLLBACK");

		PQclear(r);
	}
}

/* Runs one job to its end: success, permanent failure, or retry budget spent. */
static void run_job(PgPool *p, PGconn **connp, PgJob *j)
{
	long long backoff = BACKOFF_MIN_MS;
	bool warned = false;

	for (;;) {
		j->err[0] = '\0';
		if (ensure_conn(p, connp, j->err, sizeof(j->err))) {
			last_sqlstate[0] = '\0';
			double t0 = metrics_now();

			j->res = j->work(*connp, j->arg, j->err, sizeof(j->err));
			j->work_s += metrics_now() - t0;
			end_open_transaction(*connp);
			if (j->res != PG_RETRY) {
				if (j->res == PG_OK)
					j->err[0] = '\0';
				else if (!j->err[0])
					copy_msg(j->err, sizeof(j->err),
						 "database operation failed");
				return;
			}
			if (!j->err[0])
				copy_msg(j->err, sizeof(j->err), PQerrorMessage(*connp));
		} else {
			j->res = PG_RETRY;
		}
		if (!warned) {
			log_warn("database trouble, retrying: %s", j->err);
			warned = true;
		}

		long long wait = backoff;

		if (j->retry_ms >= 0) {
			long long left = j->submitted_ms + j->retry_ms - mstime_mono();

			if (left <= 0)
				return; /* budget spent: complete with PG_RETRY and the last error */
			if (wait > left)
				wait = left;
		}
		if (!sleep_unless_stopping(p, wait)) {
			copy_msg(j->err, sizeof(j->err), "database pool stopped while retrying");
			j->res = PG_FAIL;
			return;
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

static void *thread_main(void *varg)
{
	PgPool *p = varg;
	PGconn *conn = NULL;
	char err[512];

	/* connect eagerly so pgpool_healthy means something before the first job */
	if (!ensure_conn(p, &conn, err, sizeof(err)))
		log_warn("database connection failed (will retry with the next job): %s", err);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		PgJob *j;

		while (!p->stopping && p->queue.head == NULL)
			pthread_cond_wait(&p->cond, &p->mu);
		if (p->stopping)
			break; /* queued jobs are failed by pgpool_free */
		j = list_pop(&p->queue);
		pthread_mutex_unlock(&p->mu);

		run_job(p, &conn, j);

		pthread_mutex_lock(&p->done_mu);
		list_push(&p->done, j);
		pthread_mutex_unlock(&p->done_mu);
		/* thread-safe only because the base was created after evthread_use_pthreads() */
		event_active(p->done_ev, EV_READ, 0);

		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	PQfinish(conn);
	return NULL;
}

/* Loop thread: hand every finished job back to its done callback. */
static void deliver_done(PgPool *p)
{
	JobList l;

	pthread_mutex_lock(&p->done_mu);
	l = p->done;
	p->done.head = p->done.tail = NULL;
	pthread_mutex_unlock(&p->done_mu);

	PgJob *j;

	while ((j = list_pop(&l)) != NULL) {
		if (--p->outstanding == 0)
			event_del(p->done_ev);
		/* observed here, on the loop thread: pool threads never touch a Metric */
		if (j->work_s > 0)
			metric_observe(p->m_rtt, 0, j->work_s);
		j->done(j->res, j->err, j->arg);
		free(j);
	}
}

static void done_cb(evutil_socket_t fd, short what, void *varg)
{
	deliver_done(varg);
}

PgPool *pgpool_new(struct event_base *base, const char *conninfo, int nthreads)
{
	PgPool *p;
	pthread_condattr_t ca;
	sigset_t all, old;

	if (base == NULL || conninfo == NULL || nthreads < 1) {
		log_error("pgpool: bad arguments");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->base = base;
	p->nthreads = nthreads;
	p->conninfo = strdup(conninfo);
	p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
	atomic_init(&p->healthy, false);
	atomic_init(&p->reconnects, 0);
	if (p->conninfo == NULL || p->threads == NULL)
		goto fail_alloc;
	/* the monotonic clock keeps backoff sleeps immune to wall-clock jumps */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->done_mu, NULL);
	p->done_ev = event_new(base, -1, EV_PERSIST, done_cb, p);
	if (p->done_ev == NULL)
		goto fail_sync;

	/* pool threads take no signals: the loop thread handles them as evsignal events */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < nthreads; i++) {
		int rc = pthread_create(&p->threads[i], NULL, thread_main, p);

		if (rc != 0) {
			log_error("pgpool: cannot create thread: %s", strerror(rc));
			break;
		}
		p->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->started == 0) {
		pgpool_free(p);
		return NULL;
	}
	return p;

fail_sync:
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->done_mu);
	pthread_cond_destroy(&p->cond);
fail_alloc:
	free(p->threads);
	free(p->conninfo);
	free(p);
	return NULL;
}

void pgpool_free(PgPool *p)
{
	PgJob *j;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	/* a job in progress finishes its current attempt; no new attempt starts */
	for (int i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);

	/* finished jobs keep their real result; queued ones never ran */
	deliver_done(p);
	while ((j = list_pop(&p->queue)) != NULL) {
		j->done(PG_FAIL, "database pool stopped", j->arg);
		free(j);
	}
	event_free(p->done_ev);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->done_mu);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p->conninfo);
	free(p);
}

bool pgpool_submit(PgPool *p, PgWorkFn work, PgDoneFn done, void *arg, int retry_ms)
{
	PgJob *j;

	if (p == NULL || work == NULL || done == NULL)
		return false;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return false;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->retry_ms = retry_ms;
	j->submitted_ms = mstime_mono();
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		free(j);
		return false;
	}
	list_push(&p->queue, j);
	/* An event without fd is never "pending" by itself, so while jobs are outstanding the
	 * completion event carries a long timeout: it keeps event_base_dispatch from returning
	 * early for lack of events (the timeout only triggers a harmless delivery pass). */
	if (p->outstanding++ == 0) {
		static const struct timeval keepalive = { 3600, 0 };

		event_add(p->done_ev, &keepalive);
	}
	/* broadcast, not signal: threads sleeping in a retry backoff share the condvar and
	 * must not swallow the wake-up meant for an idle thread */
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	return true;
}

void pgpool_set_metrics(PgPool *p, Metric *rtt)
{
	if (p != NULL)
		p->m_rtt = rtt;
}

unsigned long long pgpool_reconnects(PgPool *p)
{
	return p != NULL ? atomic_load(&p->reconnects) : 0;
}

bool pgpool_healthy(PgPool *p)
{
	return p != NULL && atomic_load(&p->healthy);
}

bool pg_ok(PGconn *conn, PGresult *r, char *err, size_t errlen)
{
	const char *primary, *detail, *state;

	if (r == NULL) {
		copy_msg(err, errlen, conn != NULL ? PQerrorMessage(conn) : "no result");
		return false;
	}
	switch (PQresultStatus(r)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_SINGLE_TUPLE:
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
	case PGRES_EMPTY_QUERY:
		return true;
	default:
		break;
	}
	primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state != NULL ? state : "");
	if (primary != NULL && errlen) {
		snprintf(err, errlen, "%s%s%s (SQLSTATE %s)", primary, detail != NULL ? ": " : "",
			 detail != NULL ? detail : "", state != NULL ? state : "?????");
	} else {
		const char *m = PQresultErrorMessage(r);

		copy_msg(err, errlen,
			 m != NULL && *m ? m
					 : (conn != NULL ? PQerrorMessage(conn) : "query failed"));
	}
	return false;
}

enum PgResult pg_fail_kind(PGconn *conn)
{
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return PG_RETRY;
	/* Errors of the server's condition, not of the statement, say nothing about the job and
	 * pass: a rolled-back transaction (class 40: deadlock, serialization failure; rerunning
	 * it is the documented remedy), connection trouble (08), insufficient resources (53: disk
	 * full, out of memory, too many connections), a cancel or shutdown by an operator (57:
	 * also statement_timeout), a system or I/O error (58), a lock not available (55P03). */
	static const char *const passing[] = { "40", "08", "53", "57", "58", "55P03" };
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
		if (strncmp(last_sqlstate, passing[i], strlen(passing[i])) == 0)
			return PG_RETRY;
	return PG_FAIL;
}
