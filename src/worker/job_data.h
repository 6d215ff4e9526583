/* job_data.h - the fields of one claimed instance execution (struct Job). Apart from job.h so
 * that the modules which only read or fill a job's fields (pgexec.c, claim_entry.c) do not
 * depend on job.c's transitions, which call them: the include graph stays one-way. */
#ifndef AMCB_JOB_DATA_H
#define AMCB_JOB_DATA_H

#include <stdint.h>

#include "fieldlen.h"
#include "ids.h"
#include "job_step.h"
#include "keys.h"
#include "params.h"
#include "region.h"
#include "worker.h"

typedef struct Download Download; /* download.h */

#define JOB_TOKEN_LEN 24 /* claim token: decimal digits */
#define JOB_REF_LEN (IDS_BATCH_LEN + IDS_EXEC_LEN + 1)

struct Job {
	Worker *w;
	Job *prev, *next; /* in w->jobs */
	enum JobStep step;
	bool leaving;              /* a script that takes the ref off our jobs list was sent */
	char ref[JOB_REF_LEN + 1]; /* "B:E" */
	char batch_id[IDS_BATCH_LEN + 1];
	char exec_id[IDS_EXEC_LEN + 1];
	char claim[JOB_TOKEN_LEN + 1]; /* fencing token of our claim (exec `claim`) */
	char uuid[IDS_UUID_LEN + 1];   /* workflow_executions.id */
	char account_id[IDS_UUID_LEN + 1];
	char instance_id[FIELDLEN_INSTANCE_ID + 1]; /* AMC short id */
	char advertiser_id[FIELDLEN_ADVERTISER_ID + 1];
	char marketplace_id[FIELDLEN_MARKETPLACE_ID + 1];
	AmcRegion region; /* the account's (exec amc_region): its AMC and token hosts */
	char timezone[FIELDLEN_TIMEZONE + 1];
	char amc_id[128];          /* AMC workflowExecutionId, "" until created or found */
	char adopt_cancelled[128]; /* adoption: a CANCELLED execution with our marker, taken only
					 * when no live one carries it ("" none) */
	char *params_json;         /* merged parameters (owned) */
	char *sql_template;        /* batch SQL with placeholders (owned) */
	char *sql;                 /* marker line + substituted SQL, as sent to AMC (owned) */
	ParamsWindow win;          /* resolved at submission (exec window_start/_end) */
	int64_t started_ms;        /* first start (exec started_at), for the timeout */
	int attempts;              /* claims so far (exec attempts), this one included */
	int retries;               /* transient failures retried by this worker */
	int throttled;             /* past retry_waits caused by AMC 429s (exec `throttled`) */
	int poll_failures;         /* consecutive failed status polls */
	int spool_waits;           /* downloads started again for spool trouble (poller.c) */
	int64_t spool_since;       /* wall ms the spool trouble began, 0 none */

	/* create intent: the latest one known (wall ms, 0 none) and whether it is this claim's
	 * own (then the create it announced is over when its answer came back) */
	int64_t intent_ms;
	bool intent_own;
	int64_t intent_mono_ms;     /* our own intent's set_phase, monotonic: the POST deadline */
	long create_retry_after_ms; /* Retry-After of a create answered 5xx, -1 none */

	char *token; /* access token copy (owned, never logged) */
	char client_id[FIELDLEN_CLIENT_ID + 1];
	bool token_retried; /* one refresh per 401/403 */

	struct event *timer; /* poll / retry waits (job_after) */
	void (*timer_fn)(Job *job);
	void (*phase_next)(Job *job); /* after the set_phase in flight */
	void (*token_next)(Job *job); /* after the token lookup in flight (job_with_token) */
	int poll_ms;
	int not_found; /* consecutive 404s on status */

	/* results: the download poller.c drives (owned: download_free in job_free; NULL until
	 * the first download URLs), and the way back to it when the archive finds the spool
	 * bad (poller.c's, given to job_archive) */
	Download *dl;
	void (*bad_spool)(Job *job, const char *why);

	/* a retry_wait waiting for the create intent to be cleared in PostgreSQL (handback.c) */
	long retry_wait_ms;
	bool retry_throttled;
	char retry_reason[700];

	long row_count;
	bool amc_terminal; /* AMC reported a terminal status: no PUT cancel */
	bool need_finish;  /* cancel path: finish still has to run */
	bool recancelled;  /* the cancel Redis lost was made again (once) */
	char error[1024];  /* cut on a UTF-8 character boundary */

	char exec_key[KEYS_MAX], batch_key[KEYS_MAX], jobs_key[KEYS_MAX], events_key[KEYS_MAX];
};

#endif
