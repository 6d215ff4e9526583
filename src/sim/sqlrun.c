/* sqlrun.c - the one place where user SQL touches PostgreSQL. The statement is sent as-is
 * (it is what is under test) but as a single extended-protocol statement, so it cannot
 * chain a second command; privileges and READ ONLY confine what it can do. */
#include "sqlrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "log.h"

SqlJob *sqlrun_job_new(const char *instance, const char *sql, const char *win_start,
		       const char *win_end, int timeout_ms, void *owner)
{
	SqlJob *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	if ((job->sql = strdup(sql)) == NULL) {
		free(job);
		return NULL;
	}
	snprintf(job->instance, sizeof(job->instance), "%s", instance);
	snprintf(job->win_start, sizeof(job->win_start), "%s", win_start);
	snprintf(job->win_end, sizeof(job->win_end), "%s", win_end);
	job->timeout_ms = timeout_ms;
	job->owner = owner;
	return job;
}

void sqlrun_job_free(SqlJob *job)
{
	if (job == NULL)
		return;
	free(job->sql);
	free(job->reason);
	free(job->csv);
	free(job);
}

static bool cmd(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
		size_t errlen)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	bool ok = pg_ok(conn, r, err, errlen);

	PQclear(r);
	return ok;
}

static void set_reason(SqlJob *job, const char *msg)
{
	size_t n = strlen(msg);

	/* libpq messages end in newlines; the statusReason should not */
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	free(job->reason);
	job->reason = strndup(msg, n); /* NULL on OOM: the caller reports a generic reason */
	job->failed = true;
}

enum PgResult sqlrun_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	SqlJob *job = arg;
	char schema[DATA_INSTANCE_MAX + 6], buf[128];
	char *qs = NULL, *path = NULL;
	const char *win[2] = { job->win_start, job->win_end };
	enum PgResult res;
	PGresult *r = NULL;

	/* a retried job starts from scratch */
	free(job->reason);
	free(job->csv);
	job->reason = job->csv = NULL;
	job->failed = false;
	job->rows = 0;

	if ((res = data_ensure_instance(conn, job->instance, err, errlen)) != PG_OK)
		return res;
	data_schema_name(job->instance, schema);
	if ((qs = PQescapeIdentifier(conn, schema, strlen(schema))) == NULL) {
		snprintf(err, errlen, "escape: %s", PQerrorMessage(conn));
		return pg_fail_kind(conn);
	}
	if ((path = malloc(strlen(qs) + 64)) == NULL) {
		PQfreemem(qs);
		snprintf(err, errlen, "out of memory");
		return PG_FAIL;
	}
	sprintf(path, "SET LOCAL search_path = %s", qs);
	PQfreemem(qs);
	snprintf(buf, sizeof(buf), "SET LOCAL statement_timeout = %d",
		 job->timeout_ms > 0 ? job->timeout_ms : 0);

	if (!cmd(conn, "BEGIN TRANSACTION READ ONLY", 0, NULL, err, errlen))
		goto trouble;
	if (!cmd(conn, buf, 0, NULL, err, errlen) ||
	    !cmd(conn,
		 "SELECT set_config('amcsim.window_start', $1, true),"
		 " set_config('amcsim.window_end', $2, true)",
		 2, win, err, errlen) ||
	    !cmd(conn, path, 0, NULL, err, errlen) ||
	    !cmd(conn, "SET LOCAL ROLE " DATA_READER_ROLE, 0, NULL, err, errlen))
		goto trouble_rollback;

	r = PQexecParams(conn, job->sql, 0, NULL, NULL, NULL, NULL, 0);
	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
		if (!csv_from_result(r, &job->csv, &job->csv_len)) {
			snprintf(err, errlen, "out of memory encoding the result");
			res = PG_FAIL;
			goto done;
		}
		job->rows = PQntuples(r);
		break;
	case PGRES_COMMAND_OK:
		set_reason(job, "The statement returned no result set: only queries are accepted");
		break;
	case PGRES_EMPTY_QUERY:
		set_reason(job, "The query is empty");
		break;
	default:
		if (PQstatus(conn) != CONNECTION_OK) {
			snprintf(err, errlen, "connection lost: %s", PQerrorMessage(conn));
			res = PG_RETRY;
			goto done;
		}
		set_reason(job, r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(conn));
		break;
	}
	res = PG_OK;
done:
	PQclear(r);
	/* READ ONLY: nothing to keep; ROLLBACK also ends a user "COMMIT"'s empty state */
	PQclear(PQexec(conn, "ROLLBACK"));
	free(path);
	return res;
trouble_rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
trouble:
	free(path);
	return pg_fail_kind(conn);
}
