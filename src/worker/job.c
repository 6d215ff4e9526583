/* job.c - the per-execution state machine around AMC: substitute, mark running in
 * PostgreSQL, token, create (or resume), record the AMC id, then (after poller.c) archive and
 * finish; failure and cancellation paths. One async step in flight per job at any time. */
#include "job.h"

#include <stdarg.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amc_client.h"
#include "archiver.h"
#include "finisher.h"
#include "log.h"
#include "rcall.h"
#include "token.h"

/* ---- PostgreSQL statements (one per pgpool job, parameters copied) ---- */

typedef void (*PgNextFn)(Job *job, bool ok, const char *err);

typedef struct PgStmt {
	Job *job;
	const char *sql;		/* static text */
	int n;
	char *vals[4];
	PgNextFn next;
} PgStmt;

static void pgstmt_free(PgStmt *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->vals[i]);
	free(s);
}

static enum PgResult pgstmt_work(PGconn *conn, void *arg, char *err, size_t errlen)
{
	PgStmt *s = arg;
	PGresult *r = PQexecParams(conn, s->sql, s->n, NULL, (const char *const *)s->vals, NULL,
				   NULL, 0);
	enum PgResult res = pg_ok(conn, r, err, errlen) ? PG_OK : pg_fail_kind(conn);
	PQclear(r);
	return res;
}

static void pgstmt_done(enum PgResult res, const char *err, void *arg)
{
	PgStmt *s = arg;
	Job *job = s->job;
	PgNextFn next = s->next;
	bool exiting = job->w->exiting;
	pgstmt_free(s);
	if (!exiting)
		next(job, res == PG_OK, err);
}

/* retry_ms -1: the write must land eventually (PG down only delays it). */
static void pg_run(Job *job, const char *sql, int n, const char **vals, PgNextFn next)
{
	PgStmt *s = calloc(1, sizeof *s);
	if (s) {
		s->job = job;
		s->sql = sql;
		s->next = next;
		for (; s->n < n; s->n++)
			if (!(s->vals[s->n] = strdup(vals[s->n])))
				break;
	}
	if (!s || s->n < n || !pgpool_submit(job->w->pg, pgstmt_work, pgstmt_done, s, -1)) {
		if (s)
			pgstmt_free(s);
		next(job, false, "could not queue the database write");
	}
}

/* A write nobody waits for (the job may be gone when it lands): it only logs a failure. */
typedef struct PgDetached {
	PgStmt stmt;			/* first: pgstmt_work sees a PgStmt */
	char tag[IDS_BATCH_LEN + IDS_EXEC_LEN + 2];
} PgDetached;

static void pgdetached_done(enum PgResult res, const char *err, void *arg)
{
	PgDetached *d = arg;
	if (res != PG_OK)
		log_error("[%s] archive write failed: %s", d->tag, err);
	for (int i = 0; i < d->stmt.n; i++)
		free(d->stmt.vals[i]);
	free(d);
}

static void pg_run_detached(Job *job, const char *sql, int n, const char **vals)
{
	PgDetached *d = calloc(1, sizeof *d);
	if (d) {
		d->stmt.sql = sql;
		snprintf(d->tag, sizeof d->tag, "%s", job->ref);
		for (; d->stmt.n < n; d->stmt.n++)
			if (!(d->stmt.vals[d->stmt.n] = strdup(vals[d->stmt.n])))
				break;
	}
	if (!d || d->stmt.n < n || !pgpool_submit(job->w->pg, pgstmt_work, pgdetached_done, d, -1)) {
		if (d) {
			for (int i = 0; i < d->stmt.n; i++)
				free(d->stmt.vals[i]);
			free(d);
		}
		elog_error(job->batch_id, job->exec_id, "could not queue an archive write");
	}
}

/* ---- life cycle ---- */

static void job_free(Job *job)
{
	Worker *w = job->w;
	if (job->prev)
		job->prev->next = job->next;
	else if (w->jobs == job)
		w->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	poller_cleanup(job);
	if (job->timer)
		event_free(job->timer);
	free(job->params_json);
	free(job->sql_template);
	free(job->sql);
	if (job->token) {
		memset(job->token, 0, strlen(job->token));
		free(job->token);
	}
	json_decref(job->urls);
	free(job);
	w->inflight--;
}

/* The job is over for this worker (finished, failed, cancelled, or not ours any more). */
static void job_drop(Job *job)
{
	Worker *w = job->w;
	job_free(job);
	worker_job_done(w);
}

void job_free_all(Worker *w)
{
	while (w->jobs)
		job_free(w->jobs);
	finisher_free_all();
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	Job *job = arg;
	void (*fn)(Job *) = job->timer_fn;
	job->timer_fn = NULL;
	if (fn)
		fn(job);
}

static void job_release(Job *job);

void job_after(Job *job, int ms, void (*fn)(Job *job))
{
	if (job->w->stopping) {
		job_release(job);
		return;
	}
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	job->timer_fn = fn;
	evtimer_add(job->timer, &tv);
}

static const char *field(const redisReply *flat, const char *name)
{
	for (size_t i = 0; i + 1 < flat->elements; i += 2) {
		const redisReply *k = flat->element[i], *v = flat->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
		    strcmp(k->str, name) == 0)
			return v->str;
	}
	return "";
}

static bool copy_field(char *dst, size_t n, const redisReply *flat, const char *name)
{
	const char *v = field(flat, name);
	if (strlen(v) >= n)
		return false;
	strcpy(dst, v);
	return true;
}

/* ---- no-op executor (benchmarking: claim → finish, nothing else) ---- */


/* A no-op job is only its ref: counted in w->inflight until its finish (batched with the
 * other finishes of this loop turn by finisher.c) has answered. */
static void on_noop_finished(Worker *w, const redisReply *result, void *priv)
{
	if (!result)
		return;		/* exiting */
	if (result->type == REDIS_REPLY_ERROR)
		log_error("no-op finish failed: %s", result->str);
	w->inflight--;
	worker_job_done(w);
}

static void noop_finish(Worker *w, const char *ref)
{
	log_debug("no-op job %s", ref);
	if (finisher_add(w, ref, "completed", 0, "", on_noop_finished, NULL))
		w->inflight++;
	/* else logged: the ref stays in our jobs list, the janitor requeues it if we die */
}

Job *job_new(Worker *w, const redisReply *claimed)
{
	if (claimed->type != REDIS_REPLY_ARRAY || claimed->elements < 3 ||
	    claimed->element[0]->type != REDIS_REPLY_STRING ||
	    claimed->element[1]->type != REDIS_REPLY_ARRAY) {
		log_error("claim returned a malformed job entry");
		return NULL;
	}
	if (w->cfg.noop_executor) {
		noop_finish(w, claimed->element[0]->str);
		return NULL;
	}
	const char *ref = claimed->element[0]->str;
	const redisReply *flat = claimed->element[1];
	const redisReply *sqlr = claimed->element[2];
	Job *job = calloc(1, sizeof *job);
	if (!job) {
		log_error("out of memory for job %s", ref);
		return NULL;
	}
	job->w = w;
	job->last_byte = -1;
	/* a valid ref fits job->ref: batch id, ':', exec id */
	bool ok = ids_split_ref(ref, job->batch_id, job->exec_id);
	if (ok)
		strcpy(job->ref, ref);
	ok = ok && copy_field(job->uuid, sizeof job->uuid, flat, "id") &&
	     copy_field(job->account_id, sizeof job->account_id, flat, "account_id") &&
	     copy_field(job->instance_id, sizeof job->instance_id, flat, "amc_instance_id") &&
	     copy_field(job->advertiser_id, sizeof job->advertiser_id, flat, "advertiser_id") &&
	     copy_field(job->marketplace_id, sizeof job->marketplace_id, flat, "marketplace_id") &&
	     copy_field(job->timezone, sizeof job->timezone, flat, "timezone") &&
	     copy_field(job->amc_id, sizeof job->amc_id, flat, "amc_execution_id");
	if (!ok) {
		log_error("claimed job %s has invalid fields; dropping it from memory", ref);
		free(job);
		return NULL;
	}
	job->params_json = strdup(field(flat, "parameters"));
	job->sql_template = strdup(sqlr->type == REDIS_REPLY_STRING ? sqlr->str : "");
	job->timer = evtimer_new(w->base, on_job_timer, job);
	job->attempts = atoi(field(flat, "attempts"));
	job->throttled = atoi(field(flat, "throttled"));
	const char *started = field(flat, "started_at");
	job->started_ms = *started ? strtoll(started, NULL, 10) : worker_now_ms();
	if (!keys_exec(job->exec_key, KEYS_MAX, w->prefix, job->batch_id, job->exec_id) ||
	    !keys_batch(job->batch_key, KEYS_MAX, w->prefix, job->batch_id) ||
	    !keys_worker_jobs(job->jobs_key, KEYS_MAX, w->prefix, w->id) ||
	    !keys_events(job->events_key, KEYS_MAX, w->prefix) ||
	    !job->params_json || !job->sql_template || !job->timer) {
		log_error("out of memory for job %s", ref);
		free(job->params_json);
		free(job->sql_template);
		if (job->timer)
			event_free(job->timer);
		free(job);
		return NULL;
	}
	job->next = w->jobs;
	if (w->jobs)
		w->jobs->prev = job;
	w->jobs = job;
	w->inflight++;
	return job;
}

void job_target(Job *job, AmcTarget *t)
{
	t->token = job->token ? job->token : "";
	t->client_id = job->client_id;
	t->advertiser_id = job->advertiser_id;
	t->marketplace_id = job->marketplace_id;
	t->instance_id = job->instance_id;
}

/* ---- finish ---- */

static void cancelled_cleanup(Job *job);

static void on_finish(Worker *w, const redisReply *reply, void *priv)
{
	Job *job = priv;
	if (!reply)
		return;		/* exiting */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING) {
		const char *final = reply->element[0]->str;
		const char *bstatus = reply->element[1]->type == REDIS_REPLY_STRING ?
				      reply->element[1]->str : "?";
		elog_info(job->batch_id, job->exec_id, "finished: %s (batch %s)", final, bstatus);
		if (strcmp(final, "cancelled") == 0 && job->step != JOB_CANCELLING) {
			/* cancelled while we worked: the result is discarded */
			job->need_finish = false;
			cancelled_cleanup(job);
			return;
		}
	} else {
		long long code = 0;
		if (rcall_int(reply, &code))
			elog_warn(job->batch_id, job->exec_id, "finish returned %lld", code);
		else
			elog_error(job->batch_id, job->exec_id, "finish failed (unexpected reply)");
	}
	job_drop(job);
}

static void run_finish(Job *job, const char *outcome, const char *error)
{
	/* batched with the other finishes of this loop turn (one finish_many call) */
	if (!finisher_add(job->w, job->ref, outcome, job->row_count, error, on_finish, job)) {
		elog_error(job->batch_id, job->exec_id, "could not queue the finish");
		job_drop(job);
	}
}

/* ---- cancellation ---- */

static void after_cancel_pg(Job *job, bool ok, const char *err)
{
	if (!ok)
		elog_error(job->batch_id, job->exec_id, "marking cancelled in the archive failed: %s", err);
	if (job->need_finish) {
		job->need_finish = false;
		run_finish(job, "failed", "cancelled");	/* discarded by finish, frees our ref */
		return;
	}
	job_drop(job);
}

/* PG row → cancelled (unless it already is) and its archived rows removed, in one statement. */
static void cancelled_cleanup(Job *job)
{
	const char *vals[1] = {job->exec_id};
	pg_run(job,
	       "WITH gone AS (DELETE FROM result_rows WHERE execution_id ="
	       " (SELECT id FROM workflow_executions WHERE execution_id = $1))"
	       " UPDATE workflow_executions SET status = 'cancelled',"
	       " completed_at = coalesce(completed_at, now()), updated_at = now()"
	       " WHERE execution_id = $1 AND status <> 'cancelled'",
	       1, vals, after_cancel_pg);
}

static void on_amc_cancelled(Worker *w, const HttpResult *res, void *priv)
{
	Job *job = priv;
	if (res->rc == CURLE_OK && res->status == 200) {
		elog_info(job->batch_id, job->exec_id, "AMC execution %s cancelled", job->amc_id);
	} else {
		char text[256];
		amc_error_text(res, text, sizeof text);
		/* 400 = already terminal on AMC: nothing left to stop */
		elog_warn(job->batch_id, job->exec_id, "AMC cancel of %s: %s", job->amc_id, text);
	}
	if (job->step == JOB_CANCELLING)
		cancelled_cleanup(job);
	else
		job_fail(job, false, "%s", job->error);	/* continue the failure path */
}

/* PUT CANCELLED to AMC if there is a live AMC execution; then on_amc_cancelled. */
static bool cancel_on_amc(Job *job)
{
	if (!job->amc_id[0] || job->amc_terminal || !job->token)
		return false;
	AmcTarget t;
	job_target(job, &t);
	job->amc_terminal = true;	/* once */
	if (!amc_cancel(job->w, &t, job->amc_id, on_amc_cancelled, job)) {
		elog_error(job->batch_id, job->exec_id, "could not send the AMC cancel");
		return false;
	}
	return true;
}

void job_cancel(Job *job)
{
	elog_info(job->batch_id, job->exec_id, "cancelled");
	job->step = JOB_CANCELLING;
	job->need_finish = true;
	evtimer_del(job->timer);
	if (!cancel_on_amc(job))
		cancelled_cleanup(job);
}

/* ---- failure ---- */

static void after_fail_pg(Job *job, bool ok, const char *err)
{
	if (!ok)
		elog_error(job->batch_id, job->exec_id, "recording the failure in the archive failed: %s", err);
	run_finish(job, "failed", job->error);
}

void job_fail(Job *job, bool cancel_amc, const char *fmt, ...)
{
	/* Called again (with job->error as the argument) to continue after the AMC cancel:
	 * the first message stays. */
	if (job->step != JOB_FAILING) {
		char msg[sizeof job->error];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		memcpy(job->error, msg, sizeof msg);
		elog_warn(job->batch_id, job->exec_id, "failed: %s", job->error);
	}
	job->step = JOB_FAILING;
	evtimer_del(job->timer);
	if (cancel_amc && cancel_on_amc(job))
		return;		/* comes back here through on_amc_cancelled */
	const char *vals[2] = {job->exec_id, job->error};
	pg_run(job,
	       "UPDATE workflow_executions SET status = 'failed', error_message = $2,"
	       " completed_at = now(),"
	       " duration_seconds = extract(epoch from now() - coalesce(started_at, now())),"
	       " updated_at = now() WHERE execution_id = $1 AND status <> 'cancelled'",
	       2, vals, after_fail_pg);
}

/* ---- phases ---- */

typedef struct PhaseCall {
	Job *job;
	void (*next)(Job *job);
} PhaseCall;

/* Shared by record_amc_id and set_phase: same return codes. */
static void on_phase(Worker *w, redisReply *reply, void *priv)
{
	PhaseCall *pc = priv;
	Job *job = pc->job;
	void (*next)(Job *) = pc->next;
	free(pc);
	if (!reply)
		return;
	long long code;
	if (!rcall_int(reply, &code)) {
		/* a broken script must not stop the execution: the phase is informational */
		elog_error(job->batch_id, job->exec_id, "phase script gave an unexpected reply");
		next(job);
		return;
	}
	switch (code) {
	case LUA_OK:
		next(job);
		return;
	case LUA_ERR_CANCELLED:
		job_cancel(job);
		return;
	default:
		/* not ours any more (reclaimed by another worker) or gone: stop touching it */
		elog_warn(job->batch_id, job->exec_id, "execution no longer held by this worker (code %lld); dropping", code);
		job_drop(job);
		return;
	}
}

static void phase_call(Job *job, enum LuaScriptId id, const char *arg1, void (*next)(Job *))
{
	char now[32];
	snprintf(now, sizeof now, "%lld", (long long)worker_now_ms());
	const char *keys[2] = {job->exec_key, job->events_key};
	const char *args[3] = {arg1, now, job->w->id};
	PhaseCall *pc = malloc(sizeof *pc);
	if (pc) {
		pc->job = job;
		pc->next = next;
	}
	if (!pc || !rcall_script(job->w, id, 2, keys, 3, args, on_phase, pc)) {
		free(pc);
		job_fail(job, true, "out of memory calling a script");
	}
}

void job_set_phase(Job *job, const char *phase, void (*next)(Job *job))
{
	elog_info(job->batch_id, job->exec_id, "phase %s", phase);
	phase_call(job, LUA_SCRIPT_SET_PHASE, phase, next);
}

/* ---- hand back: retry_wait (retry script) and SIGTERM (release script) ---- */

#define RETRY_INPROC_MAX_MS 5000	/* longer waits free the slot through retry_wait */
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000

static void on_handed_back(Worker *w, redisReply *reply, void *priv)
{
	Job *job = priv;
	long long code = 0;
	if (!reply)
		return;		/* exiting */
	if (reply->type == REDIS_REPLY_ARRAY || (rcall_int(reply, &code) && code == LUA_OK)) {
		elog_debug(job->batch_id, job->exec_id, "handed back to the queue");
		job_drop(job);
		return;
	}
	if (code == LUA_ERR_CANCELLED) {
		job_cancel(job);	/* stops the AMC execution; finish is then discarded */
		return;
	}
	elog_warn(job->batch_id, job->exec_id, "hand-back script returned %lld; dropping the job", code);
	job_drop(job);
}

#ifdef LUA_RETRY_NKEYS
static void send_retry(Job *job, long wait_ms, const char *reason, bool throttled)
{
	Worker *w = job->w;
	char rkey[KEYS_MAX], now[24], due[24];
	int64_t t = worker_now_ms();
	snprintf(now, sizeof now, "%lld", (long long)t);
	snprintf(due, sizeof due, "%lld", (long long)(t + wait_ms));
	job->step = JOB_HANDING_BACK;
	if (!keys_retry(rkey, sizeof rkey, w->prefix)) {
		job_fail(job, true, "key names too long");
		return;
	}
	const char *keys[5] = {job->batch_key, job->exec_key, job->jobs_key, rkey, job->events_key};
	const char *args[7] = {job->ref, now, due, reason, w->id, w->prefix, throttled ? "1" : "0"};
	if (!rcall_script(w, LUA_SCRIPT_RETRY, 5, keys, 7, args, on_handed_back, job))
		job_fail(job, true, "out of memory calling retry");
}
#endif

static void job_release(Job *job)
{
	evtimer_del(job->timer);
	job->timer_fn = NULL;
	job->step = JOB_HANDING_BACK;
#ifdef LUA_RELEASE_NKEYS
	char now[24];
	snprintf(now, sizeof now, "%lld", (long long)worker_now_ms());
	const char *keys[4] = {job->batch_key, job->exec_key, job->jobs_key, job->events_key};
	const char *args[4] = {job->ref, now, job->w->id, job->w->prefix};
	elog_info(job->batch_id, job->exec_id, "shutting down: handing the job back");
	if (rcall_script(job->w, LUA_SCRIPT_RELEASE, 4, keys, 4, args, on_handed_back, job))
		return;
	elog_error(job->batch_id, job->exec_id, "out of memory calling release");
#else
	/* no release script: the lease dropped at exit lets the janitor requeue it */
	elog_info(job->batch_id, job->exec_id, "shutting down: left for reclaim");
#endif
	job_drop(job);
}

void job_release_idle(Worker *w)
{
	Job *next;
	for (Job *job = w->jobs; job; job = next) {
		next = job->next;
		if (evtimer_pending(job->timer, NULL))
			job_release(job);
	}
}

/* The n-th backoff (from 0): RETRY_BASE_MS doubling, capped at RETRY_CAP_MS, with equal
 * jitter so that jobs failing together do not come back together. */
static long backoff_ms(int n)
{
	int ms = RETRY_BASE_MS << (n < 6 ? n : 6);
	unsigned r = 0;

	if (ms > RETRY_CAP_MS)
		ms = RETRY_CAP_MS;
	if (!ids_random(&r, sizeof r))
		r = 0;
	return ms / 2 + (long)(r % (unsigned)(ms / 2 + 1));
}

void job_transient(Job *job, long wait_ms, bool requeue, void (*resume)(Job *job),
		   const char *fmt, ...)
{
	Worker *w = job->w;
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
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
		wait_ms = backoff_ms(used);
#ifdef LUA_RETRY_NKEYS
	if (requeue || wait_ms > RETRY_INPROC_MAX_MS) {
		elog_info(job->batch_id, job->exec_id, "retry %d/%d in %ld ms (retry_wait): %s",
			  used + 1, w->cfg.max_retries, wait_ms, msg);
		send_retry(job, wait_ms, msg, false);
		return;
	}
#else
	(void)requeue;
#endif
	elog_info(job->batch_id, job->exec_id, "retry %d/%d in %ld ms: %s", used + 1,
		  w->cfg.max_retries, wait_ms, msg);
	job_after(job, (int)wait_ms, resume);
}

void job_throttled(Job *job, long wait_ms, void (*resume)(Job *job), const char *msg)
{
	Worker *w = job->w;
	if (wait_ms < 0)
		wait_ms = backoff_ms(job->throttled);
	/* waiting past the execution's deadline is pointless (a daily quota answers "tomorrow") */
	if (worker_now_ms() + wait_ms > job->started_ms + (int64_t)w->cfg.exec_timeout_s * 1000) {
		job_fail(job, true, "%s: still throttled at the execution timeout (%d s)", msg,
			 w->cfg.exec_timeout_s);
		return;
	}
#ifdef LUA_RETRY_NKEYS
	elog_info(job->batch_id, job->exec_id, "throttled %d time(s), retry in %ld ms (retry_wait): %s",
		  job->throttled + 1, wait_ms, msg);
	send_retry(job, wait_ms, msg, true);
#else
	job_transient(job, wait_ms, true, resume, "%s", msg);
#endif
}

/* ---- archive ---- */

typedef struct ArchiveCall {
	ArchiveTask task;		/* first: the work function sees an ArchiveTask */
	Job *job;
} ArchiveCall;

static void on_archive_done(enum PgResult res, const char *err, void *arg)
{
	ArchiveCall *ac = arg;
	Job *job = ac->job;
	bool exiting = job->w->exiting;
	long rows = ac->task.row_count;
	bool data_error = ac->task.data_error;
	free(ac);
	if (exiting)
		return;
	if (res != PG_OK) {
		if (data_error) {
			/* truncated or garbled file: download it again (fresh URLs) */
			poller_cleanup(job);
			job_transient(job, -1, false, poller_refetch, "bad result file: %s", err);
			return;
		}
		job_fail(job, false, "archiving results failed: %s", err);
		return;
	}
	job->row_count = rows;
	poller_cleanup(job);
	elog_info(job->batch_id, job->exec_id, "archived %ld rows", rows);
	job->step = JOB_FINISHING;
	run_finish(job, "completed", "");
}

static void archive_now(Job *job)
{
	ArchiveCall *ac = calloc(1, sizeof *ac);
	if (!ac) {
		job_fail(job, false, "out of memory");
		return;
	}
	ac->job = job;
	snprintf(ac->task.path, sizeof ac->task.path, "%s", job->spool_path);
	strcpy(ac->task.uuid, job->uuid);
	strcpy(ac->task.exec_id, job->exec_id);
	snprintf(ac->task.amc_id, sizeof ac->task.amc_id, "%s", job->amc_id);
	if (!pgpool_submit(job->w->pg, archiver_work, on_archive_done, ac, -1)) {
		free(ac);
		job_fail(job, false, "could not queue the archive job");
	}
}

void job_archive(Job *job)
{
	job->step = JOB_ARCHIVING;
	job_set_phase(job, "archiving", archive_now);
}

/* ---- token ---- */

typedef struct TokenCall {
	Job *job;
	void (*next)(Job *job);
} TokenCall;

static void on_job_token(Worker *w, const char *token, const char *client_id, const char *err,
			 void *priv)
{
	TokenCall *tc = priv;
	Job *job = tc->job;
	void (*next)(Job *) = tc->next;
	free(tc);
	if (!token) {
		job_fail(job, false, "%s", err);
		return;
	}
	char *copy = strdup(token);
	if (!copy) {
		job_fail(job, false, "out of memory");
		return;
	}
	if (job->token) {
		memset(job->token, 0, strlen(job->token));
		free(job->token);
	}
	job->token = copy;
	snprintf(job->client_id, sizeof job->client_id, "%s", client_id ? client_id : "");
	next(job);
}

void job_with_token(Job *job, void (*next)(Job *job))
{
	TokenCall *tc = malloc(sizeof *tc);
	if (tc) {
		tc->job = job;
		tc->next = next;
	}
	if (!tc || !token_get(job->w, job->account_id, on_job_token, tc)) {
		free(tc);
		job_fail(job, false, "out of memory getting a token");
	}
}

/* ---- create ---- */

static void create(Job *job);
static void adopt(Job *job);

static void after_record(Job *job)
{
	poller_start(job);
}

/* The AMC id is known (created or adopted): stored before polling, so a reclaimed job
 * resumes this execution instead of creating another one. */
static void record_amc_id(Job *job)
{
	phase_call(job, LUA_SCRIPT_RECORD_AMC_ID, job->amc_id, after_record);
}

bool job_refresh_on_denied(Job *job, const HttpResult *res, void (*next)(Job *job))
{
	if (res->rc != CURLE_OK || (res->status != 401 && res->status != 403) || job->token_retried)
		return false;
	job->token_retried = true;
	token_invalidate(job->w, job->account_id, job->token);
	job_with_token(job, next);
	return true;
}

static void on_created(Worker *w, const HttpResult *res, void *priv)
{
	Job *job = priv;
	char text[700];

	if (res->rc == CURLE_OK && (res->status == 401 || res->status == 403)) {
		amc_error_text(res, text, sizeof text);
		if (job->token_retried) {
			job_fail(job, false, "AMC refused the credentials (HTTP %ld): %s", res->status, text);
			return;
		}
		/* expired or refused token: refresh once, then create once more (nothing ran) */
		elog_warn(job->batch_id, job->exec_id, "create got HTTP %ld, refreshing the token", res->status);
		job_refresh_on_denied(job, res, create);
		return;
	}
	if (res->rc == CURLE_OK && res->status == 429) {
		job_throttled(job, res->retry_after_ms, create, "create throttled (HTTP 429)");
		return;
	}
	if (res->rc != CURLE_OK && !res->sent) {
		job_transient(job, -1, false, create, "create not sent: %s", res->error);
		return;
	}
	if (res->rc != CURLE_OK || res->status >= 500) {
		/* The request may have run on AMC: look for it before sending another one
		 * (amc-api.md §9). */
		amc_error_text(res, text, sizeof text);
		elog_warn(job->batch_id, job->exec_id, "create answer lost (%s); looking for the execution", text);
		adopt(job);
		return;
	}
	if (res->status != 200 && res->status != 201) {
		/* SQL compile errors, privacy refusals, bad requests: permanent */
		amc_error_text(res, text, sizeof text);
		job_fail(job, false, "AMC refused the execution (HTTP %ld): %s", res->status, text);
		return;
	}
	job->token_retried = false;
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *ex = amc_execution_object(doc);
	const char *id = ex ? json_string_value(json_object_get(ex, "workflowExecutionId")) : NULL;
	if (!id || !*id || strlen(id) >= sizeof job->amc_id) {
		json_decref(doc);
		/* a 200 means it exists on AMC: find it rather than create a second one */
		elog_warn(job->batch_id, job->exec_id, "create answer has no workflowExecutionId; looking for the execution");
		adopt(job);
		return;
	}
	strcpy(job->amc_id, id);
	json_decref(doc);
	elog_info(job->batch_id, job->exec_id, "submitted to AMC as %s", job->amc_id);
	record_amc_id(job);
}

static void create(Job *job)
{
	AmcTarget t;
	job->step = JOB_CREATING;
	job_target(job, &t);
	job->create_sent_ms = worker_now_ms();
	if (!amc_create(job->w, &t, job->sql, &job->win, job->timezone, on_created, job))
		job_fail(job, false, "could not send the create request (bad instance id?)");
}

/* ---- lost create answer: list the instance's executions and adopt ours ---- */

typedef struct AdoptCall {
	Job *job;
	char next_token[512];
} AdoptCall;

static void adopt_page(Job *job, const char *next_token);

/* ours: same SQL and the same window (the *Original fields echo what we sent) */
static bool matches(Job *job, json_t *ex)
{
	const char *sql = json_string_value(json_object_get(ex, "sqlQuery"));
	if (!sql)
		sql = json_string_value(json_object_get(json_object_get(ex, "workflow"), "sqlQuery"));
	const char *start = json_string_value(json_object_get(ex, "timeWindowStartOriginal"));
	const char *end = json_string_value(json_object_get(ex, "timeWindowEndOriginal"));
	return sql && strcmp(sql, job->sql) == 0 &&
	       (!start || strcmp(start, job->win.start) == 0) && (!end || strcmp(end, job->win.end) == 0);
}

static void on_listed(Worker *w, const HttpResult *res, void *priv)
{
	Job *job = priv;
	char text[700];
	if (res->rc != CURLE_OK || res->status != 200) {
		amc_error_text(res, text, sizeof text);
		if (job_refresh_on_denied(job, res, adopt))
			return;
		job_transient(job, res->retry_after_ms, false, adopt,
			      "listing executions after a lost create failed: %s", text);
		return;
	}
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *list = json_object_get(doc, "executions");
	if (!json_is_array(list)) {
		json_decref(doc);
		job_transient(job, -1, false, adopt, "execution list answer has no executions array");
		return;
	}
	size_t i;
	json_t *ex;
	json_array_foreach(list, i, ex) {
		const char *id = json_string_value(json_object_get(ex, "workflowExecutionId"));
		if (id && *id && strlen(id) < sizeof job->amc_id && matches(job, ex)) {
			strcpy(job->amc_id, id);
			json_decref(doc);
			elog_info(job->batch_id, job->exec_id, "adopted AMC execution %s (create answer was lost)",
				  job->amc_id);
			record_amc_id(job);
			return;
		}
	}
	const char *next = json_string_value(json_object_get(doc, "nextToken"));
	char token[512];
	snprintf(token, sizeof token, "%s", next && strlen(next) < sizeof token ? next : "");
	json_decref(doc);
	if (token[0]) {
		adopt_page(job, token);
		return;
	}
	/* it never ran: creating is safe, and counts as a retry */
	job_transient(job, 0, false, create, "lost create did not reach AMC");
}

static void adopt_page(Job *job, const char *next_token)
{
	AmcTarget t;
	char since[32];
	job->step = JOB_ADOPTING;
	job_target(job, &t);
	/* a minute of slack: our clock and AMC's differ, minCreationTime has whole seconds */
	time_t from = (time_t)(job->create_sent_ms / 1000) - 60;
	struct tm tm;
	gmtime_r(&from, &tm);
	strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!amc_list_executions(job->w, &t, since, next_token, on_listed, job))
		job_fail(job, false, "could not send the execution list request");
}

static void adopt(Job *job)
{
	adopt_page(job, NULL);
}

static void after_token(Job *job)
{
	if (job->w->stopping) {
		job_release(job);	/* nothing sent yet: the next worker starts it */
		return;
	}
	if (job->amc_id[0]) {
		elog_info(job->batch_id, job->exec_id, "resuming AMC execution %s", job->amc_id);
		poller_start(job);
		return;
	}
	create(job);
}

void job_start(Job *job)
{
	char err[256];
	json_error_t jerr;

	job->step = JOB_STARTING;
	elog_info(job->batch_id, job->exec_id, "claimed (instance %s)", job->instance_id);
	json_t *params = json_loads(job->params_json[0] ? job->params_json : "{}", 0, &jerr);
	if (!json_is_object(params)) {
		json_decref(params);
		job_fail(job, false, "parameters are not a JSON object");
		return;
	}
	job->sql = params_substitute(job->sql_template, params, err, sizeof err);
	bool win_ok = job->sql && params_window(params, time(NULL), &job->win, err, sizeof err);
	json_decref(params);
	if (!job->sql || !win_ok) {
		job_fail(job, false, "%s", err);
		return;
	}
	if (!job->sql[0]) {
		job_fail(job, false, "the workflow SQL is empty");
		return;
	}
	/* The archive row follows along without holding the job up (PostgreSQL may be down:
	 * the write waits in the pool). It never overwrites a final state written later. */
	const char *vals[2] = {job->exec_id, job->sql};
	pg_run_detached(job,
			"UPDATE workflow_executions SET status = 'running',"
			" started_at = coalesce(started_at, now()), sql_query = $2, updated_at = now()"
			" WHERE execution_id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')",
			2, vals);
	job_with_token(job, after_token);
}
