/* handback.h - a job leaves this worker without ending: retry_wait (the retry script, re-queued
 * by time) or back to the front of the queue (the release script, at SIGTERM). The job's
 * claim token goes along; so does whether its AMC execution still runs (it then keeps its
 * running slots: AMC counts it against the instance's limit until it ends). */
#ifndef AMCB_HANDBACK_H
#define AMCB_HANDBACK_H

#include "job.h"

/* Release script: the job is queued again at once (SIGTERM, or the worker stops waiting). */
void handback_release(Job *job);
/* Retry script: retry_wait until now + wait_ms. throttled: AMC answered 429 (counted apart
 * from max_retries); no_create: AMC surely created nothing, the create intent is cleared. */
void handback_retry(Job *job, long wait_ms, const char *reason, bool throttled, bool no_create);

/* The waits and hand-backs of a job (named job_* as the job's own verbs; they live here
 * because each may hand the job back). */
/* Runs fn(job) after ms milliseconds (one timer per job). While the worker stops, the job
 * is handed back (release script) instead: waiting is a safe point to let go of it. */
void job_after(Job *job, int ms, void (*fn)(Job *job));
/* A transient failure (5xx, timeout, 429, bad answer): within max_retries the job runs
 * resume(job) again after wait_ms (-1: jittered exponential backoff); long waits, and every
 * wait when requeue is set, go through the retry script (retry_wait, re-queued by time).
 * Past max_retries the job fails with the reason (its AMC execution cancelled). */
void job_transient(Job *job, long wait_ms, bool requeue, void (*resume)(Job *job), const char *fmt,
		   ...) PRINTF_LIKE(5, 6);
/* AMC throttled a create (429): nothing ran, so it does not use up max_retries (a long
 * throttling storm must not fail the execution); it waits in retry_wait (Retry-After, else
 * backoff) with its create intent cleared, bounded by the execution timeout instead. */
void job_throttled(Job *job, long wait_ms, const char *msg);
/* SIGTERM: hand every job that is at a safe point back to the queue now. */
void job_release_idle(Worker *w);
/* The n-th backoff (from 0): 1 s doubling, capped at 60 s, with equal jitter. */
long job_backoff_ms(int n);
#endif
