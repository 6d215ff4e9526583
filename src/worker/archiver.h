/* archiver.h - loads one downloaded result CSV into PostgreSQL in one transaction (runs on a
 * pgpool thread): column typing, result_rows via COPY, the execution row marked completed. */
#ifndef AMCB_ARCHIVER_H
#define AMCB_ARCHIVER_H

#include "pgpool.h"
#include "ids.h"

typedef struct ArchiveTask {
	/* in (owned copies: the task outlives nothing it borrows) */
	char path[512];			/* spool file */
	char uuid[IDS_UUID_LEN + 1];	/* workflow_executions.id */
	char exec_id[IDS_EXEC_LEN + 1];	/* workflow_executions.execution_id */
	char amc_id[128];		/* AMC workflowExecutionId */
	/* out */
	long row_count;
	bool data_error;		/* the CSV itself is bad (no point retrying) */
} ArchiveTask;

/* PgWorkFn: safe to repeat (reads the file from the start, one transaction). */
enum PgResult archiver_work(PGconn *conn, void *arg, char *err, size_t errlen);

#endif
