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

#endif
