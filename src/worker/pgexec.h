/* pgexec.h - the PostgreSQL writes about one execution (workflow_executions), each fenced
 * by the job's claim token: a write lands only while no newer claim has written the row and
 * the row is not final, and it stores the token. PostgreSQL is the durable record of every
 * execution (docs/reliability.md), so every write is retried until it lands or is refused:
 * connection trouble by the pool, any other error after a backoff. Each answers the row as
 * it is after the statement, so the caller can follow what another claim did. */
#ifndef AMCB_PGEXEC_H
#define AMCB_PGEXEC_H

#include <stdint.h>

#include "job_data.h"

typedef struct PgxRow {
	bool broken;           /* the write could not be made at all (out of memory) */
	bool found;            /* the execution's row exists */
	bool written;          /* this write landed */
	char status[16];       /* workflow_executions.status */
	long long claim_token; /* of the newest claim that wrote the row */
	char amc_id[128];      /* amc_execution_id, "" when NULL */
	int64_t intent_ms;     /* create_intent_at (Unix ms), 0 when NULL */
	long row_count;        /* -1 when NULL */
	char error[1024];      /* error_message, "" when NULL */
} PgxRow;

/* row is borrowed (valid during the call). Not called when the worker exits. */
typedef void (*PgxDoneFn)(Job *job, const PgxRow *row);

/* status running, started_at, the SQL as sent, and our token: the claim's registration.
 * Refused when the row is final or a newer claim wrote it. */
void pgx_register(Job *job, PgxDoneFn done);
/* the create intent: set = create_intent_at now (before the POST), else cleared (AMC surely
 * created nothing). */
void pgx_intent(Job *job, bool set, PgxDoneFn done);
/* amc_execution_id = job->amc_id; refused (written false) when another id is stored. */
void pgx_amc_id(Job *job, PgxDoneFn done);
/* status failed with job->error; never over a completed, failed or cancelled row. */
void pgx_failed(Job *job, PgxDoneFn done);
/* status cancelled (partial rows of an unfinished archive deleted): not fenced, Redis said
 * the batch was cancelled and that is final whoever holds the job; but a row already
 * completed or failed stays so (the cancel came too late for it). */
void pgx_cancelled(Job *job, PgxDoneFn done);
/* The row only. */
void pgx_read(Job *job, PgxDoneFn done);

/* At teardown: frees the writes waiting for a retry (their jobs are gone). */
void pgx_free_all(void);

#endif
