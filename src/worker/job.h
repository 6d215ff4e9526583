/* job.h - one claimed instance execution and its state machine (job.c: claim, start, finish,
 * fail, cancel, lost, fenced; its fields are job_data.h). The modules it drives, each with
 * its own header, include this one and are never included by job.c: create.c (the create
 * with its durable intent, and adoption, reached through w->job_begin), poller.c (status
 * polling and result download), handback.c (waits, retries and releases). */
#ifndef AMCB_JOB_H
#define AMCB_JOB_H

#include <hiredis/hiredis.h>

#include "job_data.h"

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

#endif
