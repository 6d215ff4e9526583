/* job.h - one claimed instance execution and its state machine (job.c: start, create,
 * finish, fail, cancel; poller.c: status polling and result download). */
#ifndef AMCB_JOB_H
#define AMCB_JOB_H

#include <stdint.h>
#include <stdio.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "csv.h"
#include "ids.h"
#include "keys.h"
#include "params.h"
#include "worker.h"

enum JobStep {
	JOB_STARTING,		/* substitution, PG running, token */
	JOB_CREATING,		/* POST create, record_amc_id */
	JOB_POLLING,
	JOB_DOWNLOADING,
	JOB_ARCHIVING,
	JOB_FINISHING,		/* finish script */
	JOB_FAILING,		/* PG failed + finish failed */
	JOB_CANCELLING,		/* PUT cancel + PG cancelled + finish */
	JOB_ADOPTING,		/* create answer lost: listing AMC executions to find ours */
	JOB_HANDING_BACK,	/* retry or release script: the job leaves this worker */
};

struct Job {
	Worker *w;
	Job *prev, *next;		/* in w->jobs */
	enum JobStep step;
	char ref[IDS_BATCH_LEN + IDS_EXEC_LEN + 2];	/* "B:E" */
	char batch_id[IDS_BATCH_LEN + 1];
	char exec_id[IDS_EXEC_LEN + 1];
	char uuid[IDS_UUID_LEN + 1];	/* workflow_executions.id */
	char account_id[IDS_UUID_LEN + 1];
	char instance_id[128];		/* AMC short id */
	char advertiser_id[128];
	char marketplace_id[64];
	char timezone[64];
	char amc_id[128];		/* AMC workflowExecutionId, "" until created */
	char *params_json;		/* merged parameters (owned) */
	char *sql_template;		/* batch SQL with placeholders (owned) */
	char *sql;			/* substituted (owned) */
	ParamsWindow win;
	int64_t started_ms;		/* first start (exec started_at), for the timeout */
	int attempts;			/* claims so far (exec attempts), this one included */
	int retries;			/* transient failures retried by this worker */
	int throttled;			/* past retry_waits caused by AMC 429s (exec `throttled`) */
	int poll_failures;		/* consecutive failed status polls */
	int64_t create_sent_ms;		/* when the last create was sent (lost-answer lookup) */

	char *token;			/* access token copy (owned, never logged) */
	char client_id[256];
	bool token_retried;		/* one refresh per 401/403 */

	struct event *timer;		/* poll / retry waits (job_after) */
	void (*timer_fn)(Job *job);
	int poll_ms;
	int not_found;			/* consecutive 404s on status */

	/* download */
	FILE *spool;
	char spool_path[512];
	json_t *urls;			/* downloadUrls array (owned) */
	size_t url_idx;
	int download_tries;
	CsvHeaderSkip header_skip;	/* of the current file (files after the first) */
	bool file_started;
	int last_byte;			/* last byte written to the spool, -1 none */
	uint64_t file_len, file_hash;	/* bytes of the current file as received, FNV-1a */
	long file_off;			/* spool offset where the current file began */
	int file_prev_last;		/* last_byte before the current file */
	/* a file that ended inside a record is fetched again at once; arriving byte for byte
	 * the same it is taken as complete (poller.c, on_downloaded) */
	bool cut_again;			/* the current file is that second fetch */
	uint64_t cut_len, cut_hash;	/* the first fetch's length and hash */
	char sink_msg[700];

	long row_count;
	bool amc_terminal;		/* AMC reported a terminal status: no PUT cancel */
	bool need_finish;		/* cancel path: finish still has to run */
	char error[1024];

	char exec_key[KEYS_MAX], batch_key[KEYS_MAX], jobs_key[KEYS_MAX], events_key[KEYS_MAX];
};

/* Builds a job from one element of the claim reply ({ref, exec HGETALL, sql_query}) and links
 * it into w->jobs. NULL (logged) if the element is unusable, and always NULL with the no-op
 * executor: the job was then handed to the finish script at once (counted in w->inflight
 * until its reply). */
Job *job_new(Worker *w, const redisReply *claimed);
void job_start(Job *job);
/* At shutdown: frees every job without running any more steps. */
void job_free_all(Worker *w);

/* Transitions shared with poller.c */
void job_fail(Job *job, bool cancel_amc, const char *fmt, ...) PRINTF_LIKE(3, 4);
void job_cancel(Job *job);		/* the execution was cancelled in Redis */
void job_archive(Job *job);		/* spool complete: set_phase archiving, COPY, finish */
/* set_phase script; then next(job) on success; -5 → job_cancel; other codes drop the job. */
void job_set_phase(Job *job, const char *phase, void (*next)(Job *job));
/* Runs fn(job) after ms milliseconds (one timer per job). While the worker stops, the job
 * is handed back (release script) instead: waiting is a safe point to let go of it. */
void job_after(Job *job, int ms, void (*fn)(Job *job));
/* A transient failure (5xx, timeout, 429, bad answer): within max_retries the job runs
 * resume(job) again after wait_ms (-1: jittered exponential backoff); long waits, and every
 * wait when requeue is set, go through the retry script (retry_wait, re-queued by time).
 * Past max_retries the job fails with the reason (its AMC execution cancelled). */
void job_transient(Job *job, long wait_ms, bool requeue, void (*resume)(Job *job),
		   const char *fmt, ...) PRINTF_LIKE(5, 6);
/* AMC throttled a create (429): nothing ran, so it does not use up max_retries (a long
 * throttling storm must not fail the execution); it waits in retry_wait (Retry-After, else
 * backoff) and is bounded by the execution timeout instead. */
void job_throttled(Job *job, long wait_ms, void (*resume)(Job *job), const char *msg);
/* SIGTERM: hand every job that is at a safe point back to the queue now. */
void job_release_idle(Worker *w);
/* Fills an AmcTarget from the job (borrowed fields). */
struct AmcTarget;
void job_target(Job *job, struct AmcTarget *t);
/* The job holds a token (refresh after a 401/403 at most once in a row). */
void job_with_token(Job *job, void (*next)(Job *job));
/* AMC answered res: if it refused the token (401/403) and the job has not refreshed since
 * its last success, drops that token, fetches a fresh one and runs next(job) — returns true
 * (the caller stops). False otherwise: the caller handles res itself. */
struct HttpResult;
bool job_refresh_on_denied(Job *job, const struct HttpResult *res, void (*next)(Job *job));

/* poller.c */
void poller_start(Job *job);		/* set_phase polling, then poll on a timer */
void poller_cleanup(Job *job);		/* close and remove the spool file */
void poller_refetch(Job *job);		/* new download URLs, download everything again */

#endif
