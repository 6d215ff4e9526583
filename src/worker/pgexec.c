/* pgexec.c - the fenced PostgreSQL writes of one execution. Every statement has the same
 * shape: lock the row (cur), update it when the guard holds (upd), answer the row as it is
 * after the statement and whether the update happened; one statement is one transaction, so
 * a re-run after a lost answer is harmless. Runs on pgpool threads; the answer comes back to
 * the job on the loop thread. It does not decide what a refused write means (job.c does). */
#include "pgexec.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mstime.h"
#include "pgprep.h"
#include "utf8.h"

#define PGX_MAX_VALS 4
#define PGX_RETRY_MIN_MS 500
#define PGX_RETRY_MAX_MS 30000

/* The row a statement answers: after the update when it happened, else as it was. */
#define PGX_ANSWER \
	" SELECT coalesce(u.status, c.status), coalesce(u.claim_token, c.claim_token)," \
	"        coalesce(u.amc_execution_id, c.amc_execution_id)," \
	"        (extract(epoch FROM CASE WHEN u.id IS NULL THEN c.create_intent_at" \
	"                                 ELSE u.create_intent_at END) * 1000)::bigint," \
	"        coalesce(u.row_count, c.row_count), coalesce(u.error_message, c.error_message)," \
	"        u.id IS NOT NULL" \
	"   FROM cur c LEFT JOIN upd u ON true"
#define PGX_CUR \
	"WITH cur AS (SELECT id, status, claim_token, amc_execution_id, create_intent_at," \
	"                    row_count, error_message" \
	"               FROM workflow_executions WHERE execution_id = $1 FOR UPDATE),"
/* a holder's write: its claim is the newest that wrote the row, and the row is not final */
#define PGX_HELD \
	" FROM cur WHERE w.id = cur.id AND cur.claim_token <= $2::bigint" \
	"   AND cur.status NOT IN ('completed', 'failed', 'cancelled')"
#define PGX_RETURNING \
	" RETURNING w.id, w.status, w.claim_token, w.amc_execution_id, w.create_intent_at," \
	"           w.row_count, w.error_message)"

static const char sql_register[] = PGX_CUR
	" upd AS (UPDATE workflow_executions w SET status = 'running', claim_token = $2::bigint,"
	"         started_at = coalesce(w.started_at, now()), sql_query = $3, updated_at = now()" PGX_HELD
		PGX_RETURNING PGX_ANSWER;
static const char sql_intent_set[] = PGX_CUR
	" upd AS (UPDATE workflow_executions w SET create_intent_at = now(),"
	"         claim_token = $2::bigint, updated_at = now()" PGX_HELD PGX_RETURNING PGX_ANSWER;
static const char sql_intent_clear[] = PGX_CUR
	" upd AS (UPDATE workflow_executions w SET create_intent_at = NULL,"
	"         claim_token = $2::bigint, updated_at = now()" PGX_HELD PGX_RETURNING PGX_ANSWER;
static const char sql_amc_id[] = PGX_CUR
	" upd AS (UPDATE workflow_executions w SET amc_execution_id = $3,"
	"         claim_token = $2::bigint, updated_at = now()" PGX_HELD
	" AND (cur.amc_execution_id IS NULL OR cur.amc_execution_id = $3)" PGX_RETURNING PGX_ANSWER;
static const char sql_failed[] = PGX_CUR
	" upd AS (UPDATE workflow_executions w SET status = 'failed', error_message = $3,"
	"         claim_token = $2::bigint, completed_at = now(),"
	"         duration_seconds = extract(epoch FROM now() - coalesce(w.started_at, now())),"
	"         updated_at = now()" PGX_HELD PGX_RETURNING PGX_ANSWER;
/* $2 is unused but typed (in a CTE nothing reads), so every statement takes (execution_id,
 * token[, value]); a result table cannot exist here (it comes with `completed`) */
static const char sql_cancelled[] = PGX_CUR
	" upd AS (UPDATE workflow_executions w SET status = 'cancelled',"
	"         completed_at = coalesce(w.completed_at, now()), updated_at = now()"
	"    FROM cur WHERE w.id = cur.id AND cur.status NOT IN ('completed', 'failed', 'cancelled')" PGX_RETURNING
	","
	" typed AS (SELECT $2::bigint)" PGX_ANSWER;
static const char sql_read[] = PGX_CUR
	" upd AS (SELECT NULL::uuid AS id, NULL::text AS status, NULL::bigint AS claim_token,"
	"         NULL::text AS amc_execution_id, NULL::timestamptz AS create_intent_at,"
	"         NULL::integer AS row_count, NULL::text AS error_message WHERE $2::bigint IS NULL)" PGX_ANSWER;

/* One statement in flight for a job: owned by itself until its done ran (or, waiting for a
 * retry at teardown, by pgx_free_all). */
typedef struct Pgx {
	struct Pgx *prev, *next; /* in `waiting` while its retry timer is armed */
	Job *job;
	const char *sql; /* static text */
	int n;
	char *vals[PGX_MAX_VALS]; /* owned copies */
	PgxDoneFn done;
	PgxRow row;          /* filled on the pool thread */
	struct event *timer; /* resubmission after a failure */
	int tries;
} Pgx;

static struct Pgx *waiting; /* the loop thread's statements between a failure and a retry */

static void pgx_free(Pgx *x)
{
	for (int i = 0; i < x->n; i++)
		free(x->vals[i]);
	if (x->timer != NULL)
		event_free(x->timer);
	free(x);
}

static void copy_col(char *dst, size_t n, const PGresult *r, int col)
{
	/* PostgreSQL's text is valid UTF-8 already; the cut must not break a character */
	utf8_copy(dst, n, PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

static enum PgResult pgx_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	Pgx *x = arg;
	/* prepared once per pool connection: the parse and plan of these statements were a
	 * quarter of PostgreSQL's time while a worker creates executions (docs/benchmarks.md §2) */
	PGresult *r = pgprep_exec(conn, x->sql, x->n, (const char *const *)x->vals);
	PgxRow *row = &x->row;

	memset(row, 0, sizeof(*row));
	if (!pg_ok(conn, r, err, errlen)) {
		bool replan = pgprep_plan_changed(PQresultErrorField(r, PG_DIAG_SQLSTATE));

		PQclear(r);
		if (replan) { /* a migration changed a table under the statement */
			pgprep_reset(conn);
			return PG_RETRY;
		}
		return pg_fail_kind(conn);
	}
	row->row_count = -1;
	row->found = PQntuples(r) == 1;
	if (row->found) {
		copy_col(row->status, sizeof(row->status), r, 0);
		row->claim_token =
			PQgetisnull(r, 0, 1) ? 0 : strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		copy_col(row->amc_id, sizeof(row->amc_id), r, 2);
		row->intent_ms = PQgetisnull(r, 0, 3) ? 0 : strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		row->row_count = PQgetisnull(r, 0, 4) ? -1 : strtol(PQgetvalue(r, 0, 4), NULL, 10);
		copy_col(row->error, sizeof(row->error), r, 5);
		row->written = PQgetvalue(r, 0, 6)[0] == 't';
	}
	PQclear(r);
	return PG_OK;
}

static void submit(Pgx *x);

static void unlink_waiting(Pgx *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else if (waiting == x)
		waiting = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	unlink_waiting(arg);
	submit(arg);
}

void pgx_free_all(void)
{
	while (waiting != NULL) {
		Pgx *x = waiting;
		unlink_waiting(x);
		pgx_free(x);
	}
}

static void pgx_done(enum PgResult res, const char *err, void *arg)
{
	Pgx *x = arg;
	Job *job = x->job;

	if (job->w->exiting) {
		pgx_free(x);
		return;
	}
	if (res != PG_OK) {
		/* the write must land: PostgreSQL refusing it (not the fence: that is an answer)
		 * is a fault to report and outlast, never a reason to forget the state */
		int ms = PGX_RETRY_MIN_MS << (x->tries < 6 ? x->tries : 6);
		struct timeval tv;

		if (ms > PGX_RETRY_MAX_MS)
			ms = PGX_RETRY_MAX_MS;
		tv = mstime_tv(ms);
		elog_error(job->batch_id, job->exec_id,
			   "archive write failed (try %d, again in %d ms): %s", x->tries, ms, err);
		if (x->timer != NULL && evtimer_add(x->timer, &tv) == 0) {
			x->next = waiting;
			if (waiting != NULL)
				waiting->prev = x;
			waiting = x;
			return;
		}
		elog_error(job->batch_id, job->exec_id, "cannot arm the archive write retry");
	}
	PgxDoneFn done = x->done;
	PgxRow row = x->row; /* a copy: x goes first */
	if (res != PG_OK) {
		memset(&row, 0, sizeof(row));
		row.broken = true;
	}
	pgx_free(x);
	done(job, &row);
}

static void submit(Pgx *x)
{
	x->tries++;
	if (!pgpool_submit(x->job->w->pg, pgx_work, pgx_done, x, -1))
		pgx_done(PG_FAIL, "could not queue the database write", x);
}

/* vals[0] is the execution id, vals[1] the token (copied); then the statement's value */
static void run(Job *job, const char *sql, const char *value, PgxDoneFn done)
{
	Pgx *x = calloc(1, sizeof(*x));
	const char *vals[3] = { job->exec_id, job->claim, value };
	int n = value != NULL ? 3 : 2;

	if (x != NULL) {
		x->job = job;
		x->sql = sql;
		x->done = done;
		x->timer = evtimer_new(job->w->base, on_retry_timer, x);
		for (; x->n < n; x->n++)
			if ((x->vals[x->n] = strdup(vals[x->n])) == NULL)
				break;
	}
	if (x == NULL || x->timer == NULL || x->n < n) {
		PgxRow none = { .broken = true };

		if (x != NULL)
			pgx_free(x);
		elog_error(job->batch_id, job->exec_id, "out of memory for an archive write");
		done(job, &none);
		return;
	}
	submit(x);
}

void pgx_register(Job *job, PgxDoneFn done)
{
	run(job, sql_register, job->sql, done);
}

void pgx_intent(Job *job, bool set, PgxDoneFn done)
{
	run(job, set ? sql_intent_set : sql_intent_clear, NULL, done);
}

void pgx_amc_id(Job *job, PgxDoneFn done)
{
	run(job, sql_amc_id, job->amc_id, done);
}

void pgx_failed(Job *job, PgxDoneFn done)
{
	run(job, sql_failed, job->error, done);
}

void pgx_cancelled(Job *job, PgxDoneFn done)
{
	run(job, sql_cancelled, NULL, done);
}

void pgx_read(Job *job, PgxDoneFn done)
{
	run(job, sql_read, NULL, done);
}
