/* handback.c - giving a job back without ending it: transient failures retried in process or
 * through retry_wait, AMC throttling, and the SIGTERM release. It does not decide what is
 * transient (the callers do). */
#include "handback.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "mstime.h"
#include "pgexec.h"
#include "rcall.h"
#include "utf8.h"

#define RETRY_INPROC_MAX_MS 5000 /* longer waits free the worker's slot through retry_wait */
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000

/* Whether AMC may still run an execution of this job: one was created and has not ended, or
 * a create was announced whose outcome nobody knows yet. */
static bool amc_live(const Job *job)
{
	if (job->amc_id[0])
		return !job->amc_terminal;
	return job->intent_ms > 0;
}

static void on_handed_back(Worker *w, redisReply *reply, void *priv)
{
	Job *job = priv;
	long long code = 0;
	if (reply == NULL)
		return; /* exiting */
	if (rconn_code(reply, &code) && code == LUA_OK) {
		elog_debug(job->batch_id, job->exec_id, "handed back to the queue");
		job_drop(job);
		return;
	}
	if (code == LUA_ERR_CANCELLED) {
		job->leaving = false;
		job_cancel(job); /* stops the AMC execution; finish is then discarded */
		return;
	}
	job_lost(job, "the hand-back found another claim");
}

static void send_retry(Job *job, long wait_ms, const char *reason, bool throttled, bool no_create)
{
	Worker *w = job->w;
	int64_t t = mstime_wall();
	LuaCall call;
	job_set_step(job, JOB_HANDING_BACK);
	job->leaving = true;
	if (no_create)
		job->intent_ms = 0;
	if (!lua_retry(&call, w->prefix, job->batch_id, job->exec_id, w->id, t, t + wait_ms, reason,
		       throttled, job->claim, amc_live(job), no_create) ||
	    !rcall_call(w, &call, on_handed_back, job)) {
		job->leaving = false;
		job_fail(job, true, "could not call retry (key names too long, or out of memory)");
	}
}

/* retry_wait after AMC surely created nothing (a 429 on create): the create intent goes in
 * PostgreSQL first, then in Redis (the retry script), so no later holder waits for a create
 * that did not happen; the retry waits in the job meanwhile */
static void after_intent_cleared(Job *job, const PgxRow *row)
{
	if (!row->written) {
		job_fenced(job);
		return;
	}
	send_retry(job, job->retry_wait_ms, job->retry_reason, job->retry_throttled, true);
}

void handback_retry(Job *job, long wait_ms, const char *reason, bool throttled, bool no_create)
{
	if (no_create && job->intent_ms > 0 && !job->amc_id[0]) {
		job->retry_wait_ms = wait_ms;
		job->retry_throttled = throttled;
		snprintf(job->retry_reason, sizeof(job->retry_reason), "%s", reason);
		pgx_intent(job, false, after_intent_cleared);
		return;
	}
	send_retry(job, wait_ms, reason, throttled, false);
}

void handback_release(Job *job)
{
	evtimer_del(job->timer);
	job->timer_fn = NULL;
	job_set_step(job, JOB_HANDING_BACK);
	job->leaving = true;
	LuaCall call;
	elog_info(job->batch_id, job->exec_id, "shutting down: handing the job back");
	if (lua_release(&call, job->w->prefix, job->batch_id, job->exec_id, job->w->id,
			mstime_wall(), job->claim, amc_live(job)) &&
	    rcall_call(job->w, &call, on_handed_back, job))
		return;
	/* the lease dropped at exit lets the janitor of another worker requeue it */
	elog_error(job->batch_id, job->exec_id, "out of memory calling release: left for reclaim");
	job_drop(job);
}

void job_after(Job *job, int ms, void (*fn)(Job *job))
{
	if (job->w->stopping) {
		handback_release(job);
		return;
	}
	struct timeval tv = mstime_tv(ms);
	job->timer_fn = fn;
	evtimer_add(job->timer, &tv);
}

void job_release_idle(Worker *w)
{
	Job *next;
	for (Job *job = w->jobs; job; job = next) {
		next = job->next;
		if (evtimer_pending(job->timer, NULL))
			handback_release(job);
	}
}

long job_backoff_ms(int n)
{
	int ms = RETRY_BASE_MS << (n < 6 ? n : 6);
	unsigned r = 0;

	if (ms > RETRY_CAP_MS)
		ms = RETRY_CAP_MS;
	if (!ids_random(&r, sizeof(r)))
		r = 0;
	/* equal jitter: jobs failing together do not come back together */
	return ms / 2 + (long)(r % (unsigned)(ms / 2 + 1));
}

void job_transient(Job *job, long wait_ms, bool requeue, void (*resume)(Job *job), const char *fmt,
		   ...)
{
	Worker *w = job->w;
	char full[1024], msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(full, sizeof(full), fmt, ap);
	va_end(ap);
	/* the reason goes to Redis and the events as text: cut on a character boundary */
	utf8_copy(msg, sizeof(msg), full);
	/* claims after a retry_wait or a reclaim count too: a job cannot loop for ever; those
	 * after a 429 do not (job_throttled: bounded by the execution timeout) */
	int used = job->retries + (job->attempts > 1 ? job->attempts - 1 : 0) - job->throttled;
	if (used < 0)
		used = 0;
	if (used >= w->cfg.max_retries) {
		job_fail(job, true, "%s (gave up after %d retries)", msg, used);
		return;
	}
	job->retries++;
	if (wait_ms < 0)
		wait_ms = job_backoff_ms(used);
	if (requeue || wait_ms > RETRY_INPROC_MAX_MS) {
		elog_info(job->batch_id, job->exec_id, "retry %d/%d in %ld ms (retry_wait): %s",
			  used + 1, w->cfg.max_retries, wait_ms, msg);
		handback_retry(job, wait_ms, msg, false, false);
		return;
	}
	elog_info(job->batch_id, job->exec_id, "retry %d/%d in %ld ms: %s", used + 1,
		  w->cfg.max_retries, wait_ms, msg);
	job_after(job, (int)wait_ms, resume);
}

void job_throttled(Job *job, long wait_ms, const char *msg)
{
	Worker *w = job->w;
	if (wait_ms < 0)
		wait_ms = job_backoff_ms(job->throttled);
	/* waiting past the execution's deadline is pointless (a daily quota answers "tomorrow") */
	if (mstime_wall() + wait_ms > job->started_ms + (int64_t)w->cfg.exec_timeout_s * 1000) {
		job_fail(job, true, "%s: still throttled at the execution timeout (%d s)", msg,
			 w->cfg.exec_timeout_s);
		return;
	}
	elog_info(job->batch_id, job->exec_id,
		  "throttled %d time(s), retry in %ld ms (retry_wait): %s", job->throttled + 1,
		  wait_ms, msg);
	handback_retry(job, wait_ms, msg, true, true);
}
