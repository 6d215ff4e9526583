/* job.h - one claimed instance execution and its state machine (job.c: claim, start, finish,
 * fail, cancel, hand back; create.c: the create with its durable intent, and adoption;
 * poller.c: status polling and result download; pgexec.c: its PostgreSQL writes). */
#ifndef AMCB_JOB_H
#define AMCB_JOB_H

#include <stdint.h>
#include <stdio.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

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

/* Takes up one element of a claim reply ({ref, exec fields, sql_query}; held_jobs answers
 * the same shape): a new Job linked into w->jobs and started, or, when the ref is held
 * already (the worker claimed its own job again after an outage longer than its lease), the
 * held Job goes on under the new claim token: never two Jobs for one execution. With the
 * no-op executor the ref goes to the finish script at once. false (logged) if the element
 * is unusable or out of memory: the ref then stays in our jobs list, and the next heartbeat's
 * reconciliation takes it up again. */
bool job_take(Worker *w, const redisReply *claimed);
/* At shutdown: frees every job without running any more steps. */
void job_free_all(Worker *w);
/* The job held under ref, or NULL (also for a ref held by the no-op executor). */
Job *job_find(Worker *w, const char *ref);
/* Whether ref is held in memory at all (a Job, or a no-op finish in flight). */
bool job_holds_ref(Worker *w, const char *ref);

/* The one way a job's step changes: a change job_step_allowed() refuses is logged as an
 * error and not made (the job goes on in its step; see job.c). */
void job_set_step(Job *job, enum JobStep next);
/* Transitions shared with create.c, handback.c, poller.c and reconcile.c */
/* The job is over for this worker: freed (its ref leaves w->refs), the claim loop goes on. */
void job_drop(Job *job);
void job_fail(Job *job, bool cancel_amc, const char *fmt, ...) PRINTF_LIKE(3, 4);
void job_cancel(Job *job); /* the execution was cancelled in Redis */
/* The spool is complete: set_phase archiving, COPY, finish. A spool the archive finds bad
 * (truncated, garbled) goes to bad_spool(job, why), which downloads it again. */
void job_archive(Job *job, void (*bad_spool)(Job *job, const char *why));
/* Another claim holds the execution now (or Redis no longer lists it for us): stop without
 * touching Redis, PostgreSQL or AMC; the new holder resumes the AMC execution. */
void job_lost(Job *job, const char *why);
/* Redis no longer has the job's record, or no longer lists it for us: with an AMC execution
 * known, PostgreSQL's row decides whether it is still wanted (a batch cancelled through
 * PostgreSQL while Redis had lost it: cancelled on AMC), then job_lost. A job with only a
 * create intent is let go as is: the intent in PostgreSQL leads its next holder to the
 * execution; a batch cancelled meanwhile is the narrow case docs/reliability.md names. */
void job_gone(Job *job, const char *why);
/* PostgreSQL refused a write of this claim: read the row and follow it (a final state
 * another claim wrote is taken over in Redis; a newer claim means the job is lost). */
void job_fenced(Job *job);
/* set_phase script; then next(job) on success; -5 → job_cancel; -4/-3/-1 → job_lost. */
void job_set_phase(Job *job, const char *phase, void (*next)(Job *job));
/* Fills an AmcTarget from the job (borrowed fields). */
struct AmcTarget;
void job_target(Job *job, struct AmcTarget *t);
/* The job holds a token (refresh after a 401/403 at most once in a row). */
void job_with_token(Job *job, void (*next)(Job *job));
/* AMC answered res: if it refused the token (401/403) and the job has not refreshed since
 * its last success, drops that token, fetches a fresh one and runs next(job) — returns true
 * (the caller stops). False otherwise: the caller handles res itself. */
struct ExchangeResult;
bool job_refresh_on_denied(Job *job, const struct ExchangeResult *res, void (*next)(Job *job));
/* Sends a held-job script call (lua_set_phase, lua_record_amc_id: the job's keys, worker
 * and claim token) through rcall; done gets the reply's code (LUA_OK, or a negative one). */
void job_script(Job *job, const LuaCall *call, void (*done)(Job *job, long long code));

/* create.c */
void create_start(Job *job);  /* intent, then POST (or adopt when an intent exists) */
void create_resume(Job *job); /* after start: poll a known id, adopt an intent, or create */
/* The AMC id of this execution is known (created, adopted, or read from PostgreSQL):
 * record it in Redis and PostgreSQL, then poll. */
void create_record(Job *job);

#endif
