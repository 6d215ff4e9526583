/* archiver.h - loads one downloaded result CSV into PostgreSQL in one transaction (runs on a
 * pgpool thread): column typing, the execution's typed table (amcbatch_results.<execution id>,
 * sql/016) created and filled via COPY, the execution row marked completed. */
#ifndef AMCB_ARCHIVER_H
#define AMCB_ARCHIVER_H

#include <stdatomic.h>

#include "pgpool.h"
#include "ids.h"

typedef struct ArchiveTask {
	/* in (owned copies: the task outlives nothing it borrows) */
	char path[512];                 /* spool file */
	char uuid[IDS_UUID_LEN + 1];    /* workflow_executions.id */
	char exec_id[IDS_EXEC_LEN + 1]; /* workflow_executions.execution_id */
	char amc_id[128];               /* AMC workflowExecutionId */
	char claim[24 + 1];             /* the job's claim token (job.h JOB_TOKEN_LEN) */
	/* out */
	long row_count;
	long long bytes; /* size of the spool file archived */
	bool data_error; /* the CSV itself is bad (no point retrying) */
	bool fenced;     /* refused: a newer claim wrote the row, or it is final */
	/* how far the archive is, in bytes of the spool file read: it is read twice (the check
	 * pass, then COPY), so the total is twice its size; read by the loop thread while the
	 * task runs (progress.c); 0 of 0 until the file is open */
	atomic_llong progress_done, progress_total;
} ArchiveTask;

/* PgWorkFn: safe to repeat (reads the file from the start, one transaction). The transaction
 * first takes the execution's row for this claim (fenced by the token, as pgexec.c's writes
 * are): two claims of one execution never both archive, and a final row is never rewritten;
 * a refused one ends PG_FAIL with fenced set and nothing written. */
enum PgResult archiver_work(PGconn *conn, void *arg, char *err, size_t errlen);

#endif
