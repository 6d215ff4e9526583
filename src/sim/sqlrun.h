/* sqlrun.h - runs one execution's SQL on a pgpool thread: ensures the instance's data,
 * then the user's statement as the read-only reader role inside the time window, and
 * encodes the result as CSV. */
#ifndef AMCSIM_SQLRUN_H
#define AMCSIM_SQLRUN_H

#include <libpq-fe.h>

#include "common.h"
#include "data.h"
#include "pgpool.h"
#include "simtime.h"

typedef struct SqlJob {
	/* input, owned by the job */
	char instance[DATA_INSTANCE_MAX + 1];
	char *sql;
	char win_start[SIMTIME_LEN]; /* UTC "yyyy-mm-dd hh:mm:ss" */
	char win_end[SIMTIME_LEN];
	int timeout_ms;
	void *owner; /* the execution; borrowed, read only on the loop thread */
	/* output, owned by the job until taken */
	bool failed; /* the user's SQL failed: reason says why */
	char *reason;
	char *csv;
	size_t csv_len;
	long rows;
} SqlJob;

SqlJob *sqlrun_job_new(const char *instance, const char *sql, const char *win_start,
		       const char *win_end, int timeout_ms, void *owner);
void sqlrun_job_free(SqlJob *job);
/* PgWorkFn: PG_OK means the job ran (check job->failed); PG_FAIL/PG_RETRY are
 * infrastructure trouble (data creation, lost connection) described in err. */
enum PgResult sqlrun_work(PGconn *conn, void *arg, char *err, size_t errlen);

#endif
