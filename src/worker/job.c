/* job.c - the life of one claimed execution around its AMC work: taken from a claim reply,
 * registered in PostgreSQL under its claim token, token, then create.c (which hands on to
 * poller.c; job.c never calls poller.c); and the ways it ends: finished, failed, cancelled,
 * lost to another claim, or following a final state PostgreSQL already holds. Hand-backs
 * (retry, release) are handback.c's. One async step in flight per job at any time; a job is
 * freed only by the step that ends it. */
#include "job.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amc_cancel.h"
#include "amc_client.h"
#include "archiver.h"
#include "claim_entry.h"
#include "download.h"
#include "finisher.h"
#include "log.h"
#include "mstime.h"
#include "pgexec.h"
#include "progress.h"
#include "rcall.h"
#include "states.h"
#include "htab.h"
#include "token.h"
#include "utf8.h"
#include "stats.h"

/* ---- life cycle ---- */

/* The value w->refs holds for a ref the no-op executor holds (a ref without a Job). */
static char noop_ref;

static void job_free(Job *job)
{
	Worker *w = job->w;
	if (job->prev)
		job->prev->next = job->next;
	else if (w->jobs == job)
		w->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	htab_del(w->refs, job->ref);
	download_free(job->dl);
	if (job->timer != NULL)
		event_free(job->timer);
	free(job->params_json);
	free(job->sql_template);
	free(job->sql);
	if (job->token != NULL) {
		memset(job->token, 0, strlen(job->token));
		free(job->token);
	}
	free(job);
	w->inflight--;
}

/* pgbouncer's change_client_state() is fatal on an impossible change. Inside the loop one
 * job's fault must not stop the worker (its other jobs would wait out the lease), so an
 * illegal change is logged as an error and refused, in every build: the job keeps a step the
 * table knows, and the paths that read it (job_fail, on_finish, on_amc_cancelled) go on. */
void job_set_step(Job *job, enum JobStep next)
{
	if (!job_step_allowed(job->step, next)) {
		elog_error(job->batch_id, job->exec_id, "illegal step change %s -> %s refused",
			   job_step_name(job->step), job_step_name(next));
		return;
	}
	job->step = next;
}

/* The job is over for this worker (finished, failed, cancelled, or not ours any more). */
void job_drop(Job *job)
{
	Worker *w = job->w;
	job_free(job);
	w->job_done(w);
}

void job_free_all(Worker *w)
{
	while (w->jobs != NULL)
		job_free(w->jobs);
	finisher_free_all();
}

Job *job_find(Worker *w, const char *ref)
{
	void *v = htab_get(w->refs, ref);
	return v == &noop_ref ? NULL : v;
}

bool job_holds_ref(Worker *w, const char *ref)
{
	return htab_get(w->refs, ref) != NULL;
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	Job *job = arg;
	void (*fn)(Job *) = job->timer_fn;
	job->timer_fn = NULL;
	if (fn != NULL)
		fn(job);
}

void job_lost(Job *job, const char *why)
{
	elog_warn(job->batch_id, job->exec_id, "no longer held by this claim (%s): let go", why);
	job_set_step(job, JOB_LEAVING);
	evtimer_del(job->timer);
	job_drop(job);
}

/* ---- a job whose Redis record is gone ---- */

/* PostgreSQL's row of a job whose Redis record is gone: a batch cancelled meanwhile was
 * cancelled through PostgreSQL (Redis no longer had it), and nothing else knows that this
 * job's AMC execution runs: cancel it. An open row is left to the archive sweep, which hands
 * the batch to Redis again; its next holder adopts the AMC execution. */
static void after_gone_read(Job *job, const PgxRow *row)
{
	if (row->found && exec_state_is(row->status, EXEC_STATE_CANCELLED) && !job->amc_terminal &&
	    job->token != NULL) {
		AmcTarget t;
		job_target(job, &t);
		amc_cancel_detached(job->w, &t, job->amc_id,
				    "its batch was cancelled while Redis had lost the execution");
	}
	job_lost(job, row->found ? "its record is gone from Redis"
				 : "its record is gone from Redis and PostgreSQL");
}

void job_gone(Job *job, const char *why)
{
	if (!job->amc_id[0]) {
		job_lost(job, why); /* nothing runs on AMC for it (an intent: see job.h) */
		return;
	}
	elog_warn(job->batch_id, job->exec_id,
		  "%s: asking PostgreSQL whether AMC execution %s "
		  "is still wanted",
		  why, job->amc_id);
	job_set_step(job, JOB_LEAVING);
	evtimer_del(job->timer);
	pgx_read(job, after_gone_read);
}

/* ---- no-op executor (benchmarking: claim → finish, nothing else) ---- */

/* A no-op job is only its ref (in w->refs, without a Job): counted in w->inflight until its
 * finish (batched with the other finishes of this loop turn by finisher.c) has answered. */
typedef struct NoopRef {
	char ref[JOB_REF_LEN + 1];
} NoopRef;

static void on_noop_finished(Worker *w, const redisReply *result, void *priv)
{
	NoopRef *n = priv;
	if (result != NULL) {
		htab_del(w->refs, n->ref);
		w->inflight--;
		w->job_done(w);
	}
	free(n);
}

static bool noop_take(Worker *w, const char *ref, const char *claim)
{
	NoopRef *n = malloc(sizeof(*n));
	if (n == NULL || strlen(ref) > JOB_REF_LEN || !htab_put(w->refs, ref, &noop_ref)) {
		free(n);
		log_error("no-op job %s: out of memory", ref);
		return false;
	}
	strcpy(n->ref, ref);
	log_debug("no-op job %s", ref);
	if (!finisher_add(w, ref, claim, EXEC_STATE_COMPLETED, 0, "", on_noop_finished, n)) {
		htab_del(w->refs, ref);
		free(n);
		return false; /* logged; the reconciliation takes the ref up again */
	}
	w->inflight++;
	return true;
}

static void job_start(Job *job);

bool job_take(Worker *w, const redisReply *claimed)
{
	ClaimEntry e;
	void *held;

	if (!claim_entry_parse(claimed, &e)) {
		if (e.ref == NULL)
			log_error("claim returned a malformed job entry");
		else
			log_error("claim returned job %s without a valid ref and claim token",
				  e.ref);
		return false;
	}
	const char *ref = e.ref, *claim = e.claim;
	if ((held = htab_get(w->refs, ref)) != NULL) {
		Job *old = held == &noop_ref ? NULL : held;
		/* our own job claimed again (an outage outlasted our lease): the Job in memory
		 * goes on under the new claim; a no-op finish in flight is refused and the
		 * reconciliation takes the new claim up once it has answered */
		if (old != NULL && strcmp(old->claim, claim) != 0) {
			elog_warn(old->batch_id, old->exec_id,
				  "claimed again (token %s, was %s): "
				  "the job in memory goes on under the new claim",
				  claim, old->claim);
			strcpy(old->claim, claim);
			old->attempts = atoi(claim_entry_field(&e, "attempts"));
		}
		return true;
	}
	if (w->cfg.noop_executor)
		return noop_take(w, ref, claim);

	Job *job = calloc(1, sizeof(*job));
	if (job == NULL || !htab_put(w->refs, ref, job)) {
		free(job);
		log_error("out of memory for job %s", ref);
		return false;
	}
	job->w = w;
	strcpy(job->ref, ref);
	strcpy(job->batch_id, e.batch_id);
	strcpy(job->exec_id, e.exec_id);
	strcpy(job->claim, claim);
	job->next = w->jobs;
	if (w->jobs != NULL)
		w->jobs->prev = job;
	w->jobs = job;
	w->inflight++;
	job->timer = evtimer_new(w->base, on_job_timer, job);
	if (job->timer == NULL ||
	    keys_exec(job->exec_key, KEYS_MAX, w->prefix, e.batch_id, e.exec_id) == NULL ||
	    keys_batch(job->batch_key, KEYS_MAX, w->prefix, e.batch_id) == NULL ||
	    keys_worker_jobs(job->jobs_key, KEYS_MAX, w->prefix, w->id) == NULL ||
	    keys_events(job->events_key, KEYS_MAX, w->prefix) == NULL) {
		log_error("out of memory for job %s", ref);
		job_free(job);
		return false;
	}
	bool fits;
	if (!claim_entry_fill(job, &e, &fits)) {
		log_error("out of memory for job %s", ref);
		job_free(job);
		return false;
	}
	if (!fits) {
		job_fail(job, false, "%s", job->error);
		return true;
	}
	job_start(job);
	return true;
}

void job_target(Job *job, AmcTarget *t)
{
	t->token = job->token != NULL ? job->token : "";
	t->client_id = job->client_id;
	t->advertiser_id = job->advertiser_id;
	t->marketplace_id = job->marketplace_id;
	t->instance_id = job->instance_id;
	t->base_url = region_base_url(&job->w->cfg, job->region);
}

/* ---- held-job scripts (set_phase, record_amc_id) ---- */

typedef struct ScriptCall {
	Job *job;
	void (*done)(Job *job, long long code);
} ScriptCall;

static void on_script(Worker *w, redisReply *reply, void *priv)
{
	ScriptCall *sc = priv;
	Job *job = sc->job;
	void (*done)(Job *, long long) = sc->done;
	long long code = 0;
	free(sc);
	if (reply == NULL)
		return; /* exiting */
	if (!rconn_code(reply, &code)) {
		elog_error(job->batch_id, job->exec_id, "script gave an unexpected reply");
		code = LUA_ERR_WRONG_STATE;
	}
	done(job, code);
}

void job_script(Job *job, const LuaCall *call, void (*done)(Job *job, long long code))
{
	ScriptCall *sc = malloc(sizeof(*sc));
	if (sc != NULL) {
		sc->job = job;
		sc->done = done;
	}
	if (sc == NULL || !rcall_call(job->w, call, on_script, sc)) {
		free(sc);
		job_fail(job, false, "out of memory calling a script");
	}
}

/* The common answers of a held-job script other than OK. */
static void held_refused(Job *job, long long code)
{
	if (code == LUA_ERR_CANCELLED)
		job_cancel(job);
	else if (code == LUA_ERR_NOT_FOUND)
		job_gone(job, "its record is gone from Redis");
	else
		job_lost(job, code == LUA_ERR_NOT_OWNER ? "another claim holds it"
							: "it is not running");
}

static void on_phase(Job *job, long long code)
{
	void (*next)(Job *) = job->phase_next;
	job->phase_next = NULL;
	if (code == LUA_OK) {
		next(job);
		return;
	}
	held_refused(job, code);
}

void job_set_phase(Job *job, const char *phase, void (*next)(Job *job))
{
	elog_info(job->batch_id, job->exec_id, "phase %s", phase);
	LuaCall call;
	job->phase_next = next;
	if (!lua_set_phase(&call, job->w->prefix, job->batch_id, job->exec_id, phase, mstime_wall(),
			   job->w->id, job->claim)) {
		job_fail(job, false, "key names too long");
		return;
	}
	job_script(job, &call, on_phase);
}

/* ---- finish ---- */

static void cancel_batch_then_cancel(Job *job);

/* A cancelled job's finish found its exec still running under this claim: Redis lost the
 * cancel with the tail of its AOF after the job had seen it. PostgreSQL, written after Redis
 * by the cancel, decides: cancelled there means the batch is cancelled in Redis again (every
 * other holder and P amc_cancels then follow) and the finish is made again; otherwise the
 * job is let go with its ref left in our jobs list, for the reconciliation to take up. */
static void after_cancel_lost_read(Job *job, const PgxRow *row)
{
	if (row->found && exec_state_is(row->status, EXEC_STATE_CANCELLED) && !job->recancelled) {
		job->recancelled = true;
		job->leaving = false;
		cancel_batch_then_cancel(job);
		return;
	}
	job_lost(job, "finished as cancelled, but neither Redis nor PostgreSQL says cancelled");
}

static void on_finish(Worker *w, const redisReply *reply, void *priv)
{
	Job *job = priv;
	if (reply == NULL)
		return; /* exiting */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING) {
		const char *final = reply->element[0]->str;
		const char *bstatus = reply->element[1]->type == REDIS_REPLY_STRING
					      ? reply->element[1]->str
					      : "?";
		elog_info(job->batch_id, job->exec_id, "finished: %s (batch %s)", final, bstatus);
		stats_exec_finished(final, bstatus,
				    job->started_ms > 0
					    ? (double)(mstime_wall() - job->started_ms) / 1000.0
					    : -1);
		job_drop(job);
		return;
	}
	long long code = 0;
	if (!rconn_code(reply, &code))
		code = LUA_ERR_WRONG_STATE;
	if (code == LUA_ERR_WRONG_STATE && job->step == JOB_CANCELLING) {
		elog_warn(job->batch_id, job->exec_id,
			  "cancelled, but Redis says running: "
			  "asking PostgreSQL");
		pgx_read(job, after_cancel_lost_read);
		return;
	}
	held_refused(job, code);
}

/* PostgreSQL holds the final state already: the finish script makes Redis say the same. */
static void run_finish(Job *job, enum ExecState outcome, const char *error)
{
	job->leaving = true;
	/* batched with the other finishes of this loop turn (one finish_many call) */
	if (!finisher_add(job->w, job->ref, job->claim, outcome, job->row_count, error, on_finish,
			  job)) {
		/* the ref stays in our jobs list: the reconciliation takes it up, and the next
		 * holder finds the final state in PostgreSQL */
		job_lost(job, "could not queue the finish");
	}
}

/* ---- what PostgreSQL says ---- */

/* A fenced write was refused, or the row was read: follow it. */
static void follow(Job *job, const PgxRow *row)
{
	long long mine = strtoll(job->claim, NULL, 10);
	if (row->broken) {
		/* nothing was decided: the ref stays in our jobs list and is taken up again */
		job_lost(job, "could not reach the archive");
		return;
	}
	if (!row->found) {
		/* the archive row went away (its batch was deleted): nothing can be archived */
		utf8_copy(job->error, sizeof(job->error), "the execution is gone from the archive");
		job_set_step(job, JOB_FAILING);
		run_finish(job, EXEC_STATE_FAILED, job->error);
		return;
	}
	if (row->claim_token > mine) {
		job_lost(job, "a newer claim wrote the archive row");
		return;
	}
	if (exec_state_is(row->status, EXEC_STATE_COMPLETED)) {
		elog_info(job->batch_id, job->exec_id,
			  "the archive says completed (%ld rows): taken over", row->row_count);
		job->row_count = row->row_count < 0 ? 0 : row->row_count;
		job_set_step(job, JOB_FINISHING);
		run_finish(job, EXEC_STATE_COMPLETED, "");
		return;
	}
	if (exec_state_is(row->status, EXEC_STATE_FAILED)) {
		elog_info(job->batch_id, job->exec_id, "the archive says failed: taken over");
		utf8_copy(job->error, sizeof(job->error), row->error[0] ? row->error : "failed");
		job_set_step(job, JOB_FAILING);
		run_finish(job, EXEC_STATE_FAILED, job->error);
		return;
	}
	if (exec_state_is(row->status, EXEC_STATE_CANCELLED)) {
		cancel_batch_then_cancel(job);
		return;
	}
	/* not final, not newer: a write refused for its own guard (another AMC id stored);
	 * the caller handles those before; anything else is a bug to outlast, not to hide */
	elog_error(job->batch_id, job->exec_id,
		   "archive write refused with the row %s under claim %lld", row->status,
		   row->claim_token);
	job_lost(job, "the archive refused a write");
}

void job_fenced(Job *job)
{
	pgx_read(job, follow);
}

/* PostgreSQL says cancelled but Redis did not know (it lost the cancel's writes): cancel
 * the batch in Redis too (the API's cancel_batch; refused harmlessly when it is terminal). */
static void on_batch_cancelled(Worker *w, redisReply *reply, void *priv)
{
	Job *job = priv;
	if (reply == NULL)
		return;
	job_cancel(job);
}

static void cancel_batch_then_cancel(Job *job)
{
	LuaCall call;
	elog_warn(job->batch_id, job->exec_id,
		  "the archive says cancelled: cancelling the batch in Redis");
	if (!lua_cancel_batch(&call, job->w->prefix, job->batch_id, mstime_wall()) ||
	    !rcall_call(job->w, &call, on_batch_cancelled, job))
		job_cancel(job);
}

/* ---- start ---- */

static void after_register(Job *job, const PgxRow *row)
{
	if (!row->written) {
		follow(job, row);
		return;
	}
	/* PostgreSQL keeps what Redis may have lost: an AMC id, a later create intent */
	if (!job->amc_id[0] && row->amc_id[0]) {
		elog_info(job->batch_id, job->exec_id, "the archive knows AMC execution %s",
			  row->amc_id);
		utf8_copy(job->amc_id, sizeof(job->amc_id), row->amc_id);
	}
	if (row->intent_ms > job->intent_ms)
		job->intent_ms = row->intent_ms;
	job_with_token(job, job->w->job_begin);
}

/* "-- amcbatch <batch> <exec>" then the SQL: AMC stores the text it got, so its list of
 * executions tells which one is this execution's (adoption) */
static char *with_marker(const Job *job, const char *sql)
{
	char marker[AMC_MARKER_LEN];
	size_t n;
	char *out;

	amc_marker(marker, sizeof(marker), job->batch_id, job->exec_id);
	n = strlen(marker) + 1 + strlen(sql) + 1;
	if ((out = malloc(n)) == NULL)
		return NULL;
	snprintf(out, n, "%s\n%s", marker, sql);
	return out;
}

static void job_start(Job *job)
{
	char err[256];
	json_error_t jerr;

	job_set_step(job, JOB_STARTING);
	elog_info(job->batch_id, job->exec_id, "claimed (instance %s, claim %s)", job->instance_id,
		  job->claim);
	json_t *params = json_loads(job->params_json[0] ? job->params_json : "{}", 0, &jerr);
	if (!json_is_object(params)) {
		json_decref(params);
		job_fail(job, false, "parameters are not a JSON object");
		return;
	}
	char *sql = params_substitute(job->sql_template, params, err, sizeof(err));
	bool win_ok =
		sql != NULL && (job->win.start[0] ||
				params_window(params, time(NULL), &job->win, err, sizeof(err)));
	json_decref(params);
	if (sql == NULL || !win_ok) {
		free(sql);
		job_fail(job, false, "%s", err);
		return;
	}
	if (!sql[0]) {
		free(sql);
		job_fail(job, false, "the workflow SQL is empty");
		return;
	}
	job->sql = with_marker(job, sql);
	free(sql);
	if (job->sql == NULL) {
		job_fail(job, false, "out of memory");
		return;
	}
	/* this claim becomes the newest in PostgreSQL before anything is sent to AMC */
	pgx_register(job, after_register);
}

/* ---- token ---- */

/* The job itself is the token lookup's priv (its next step in token_next): a worker stopped
 * while the token host does not answer frees its jobs and the token cache's waiters, and
 * nothing else is left to free. */
static void on_job_token(Worker *w, const char *token, const char *client_id, const char *err,
			 void *priv)
{
	Job *job = priv;
	void (*next)(Job *) = job->token_next;
	(void)w;

	job->token_next = NULL;
	if (token == NULL) {
		job_fail(job, false, "%s", err);
		return;
	}
	char *copy = strdup(token);
	if (copy == NULL) {
		job_fail(job, false, "out of memory");
		return;
	}
	if (job->token != NULL) {
		memset(job->token, 0, strlen(job->token));
		free(job->token);
	}
	job->token = copy;
	snprintf(job->client_id, sizeof(job->client_id), "%s", client_id != NULL ? client_id : "");
	next(job);
}

void job_with_token(Job *job, void (*next)(Job *job))
{
	job->token_next = next;
	if (!token_get(job->w, job->account_id, job->region, on_job_token, job)) {
		job->token_next = NULL;
		job_fail(job, false, "out of memory getting a token");
	}
}

bool job_refresh_on_denied(Job *job, const ExchangeResult *res, void (*next)(Job *job))
{
	if (res->rc != CURLE_OK || (res->status != 401 && res->status != 403) || job->token_retried)
		return false;
	job->token_retried = true;
	token_invalidate(job->w, job->account_id, job->region, job->token);
	job_with_token(job, next);
	return true;
}

/* ---- cancellation ---- */

static void after_cancel_pg(Job *job, const PgxRow *row)
{
	if (job->need_finish) {
		job->need_finish = false;
		run_finish(job, EXEC_STATE_CANCELLED,
			   ""); /* lets go of the cancelled exec: frees our ref */
		return;
	}
	job_drop(job);
}

/* PG row → cancelled, unless it is final already (a result archived before the cancel came
 * stands, in PostgreSQL as in Redis). */
static void cancelled_cleanup(Job *job)
{
	pgx_cancelled(job, after_cancel_pg);
}

static void on_amc_cancelled(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	if (res->rc == CURLE_OK && res->status == 200) {
		elog_info(job->batch_id, job->exec_id, "AMC execution %s cancelled", job->amc_id);
	} else {
		char text[256];
		amc_error_text(res, text, sizeof(text));
		/* 400 = already terminal on AMC: nothing left to stop */
		elog_warn(job->batch_id, job->exec_id, "AMC cancel of %s: %s", job->amc_id, text);
	}
	if (job->step == JOB_CANCELLING)
		cancelled_cleanup(job);
	else
		job_fail(job, false, "%s", job->error); /* continue the failure path */
}

/* PUT CANCELLED to AMC if there is a live AMC execution; then on_amc_cancelled. */
static bool cancel_on_amc(Job *job)
{
	if (!job->amc_id[0] || job->amc_terminal || job->token == NULL)
		return false;
	AmcTarget t;
	job_target(job, &t);
	job->amc_terminal = true; /* once */
	if (!amc_cancel(job->w, &t, job->amc_id, on_amc_cancelled, job)) {
		elog_error(job->batch_id, job->exec_id, "could not send the AMC cancel");
		return false;
	}
	return true;
}

void job_cancel(Job *job)
{
	elog_info(job->batch_id, job->exec_id, "cancelled");
	job_set_step(job, JOB_CANCELLING);
	job->need_finish = true;
	evtimer_del(job->timer);
	job->timer_fn = NULL;
	if (!cancel_on_amc(job))
		cancelled_cleanup(job);
}

/* ---- failure ---- */

static void after_fail_pg(Job *job, const PgxRow *row)
{
	if (!row->written) {
		/* a final state is there already (never `completed` → `failed`), or a newer
		 * claim holds the execution */
		follow(job, row);
		return;
	}
	run_finish(job, EXEC_STATE_FAILED, job->error);
}

void job_fail(Job *job, bool cancel_amc, const char *fmt, ...)
{
	/* Called again (with job->error as the argument) to continue after the AMC cancel:
	 * the first message stays. */
	if (job->step != JOB_FAILING) {
		char msg[sizeof(job->error)];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		/* a cut inside a character (or bytes from AMC that are not UTF-8) would make
		 * PostgreSQL refuse the final state for ever */
		utf8_copy(job->error, sizeof(job->error), msg);
		elog_warn(job->batch_id, job->exec_id, "failed: %s", job->error);
	}
	job_set_step(job, JOB_FAILING);
	evtimer_del(job->timer);
	job->timer_fn = NULL;
	if (cancel_amc && cancel_on_amc(job))
		return; /* comes back here through on_amc_cancelled */
	pgx_failed(job, after_fail_pg);
}

/* ---- archive ---- */

typedef struct ArchiveCall {
	ArchiveTask task; /* first: the work function sees an ArchiveTask */
	Job *job;
	ArchiveWatch *watch; /* its progress for the status page (owned) */
} ArchiveCall;

static void on_archive_done(enum PgResult res, const char *err, void *arg)
{
	ArchiveCall *ac = arg;
	Job *job = ac->job;
	bool exiting = job->w->exiting;
	long rows = ac->task.row_count;
	long long bytes = ac->task.bytes;
	bool data_error = ac->task.data_error, fenced = ac->task.fenced;
	progress_archive_end(ac->watch);
	free(ac);
	if (exiting)
		return;
	if (res != PG_OK) {
		if (fenced) {
			elog_warn(job->batch_id, job->exec_id, "archive refused: %s", err);
			job_fenced(job);
			return;
		}
		if (data_error) {
			/* truncated or garbled file: download it again (fresh URLs) */
			job->bad_spool(job, err);
			return;
		}
		job_fail(job, false, "archiving results failed: %s", err);
		return;
	}
	job->row_count = rows;
	stats_archived(rows, bytes);
	download_discard(job->dl);
	elog_info(job->batch_id, job->exec_id, "archived %ld rows", rows);
	job_set_step(job, JOB_FINISHING);
	run_finish(job, EXEC_STATE_COMPLETED, "");
}

static void archive_now(Job *job)
{
	ArchiveCall *ac = calloc(1, sizeof(*ac));
	if (ac == NULL) {
		job_fail(job, false, "out of memory");
		return;
	}
	ac->job = job;
	snprintf(ac->task.path, sizeof(ac->task.path), "%s", download_path(job->dl));
	strcpy(ac->task.uuid, job->uuid);
	strcpy(ac->task.exec_id, job->exec_id);
	strcpy(ac->task.claim, job->claim);
	snprintf(ac->task.amc_id, sizeof(ac->task.amc_id), "%s", job->amc_id);
	if (!pgpool_submit(job->w->pg, archiver_work, on_archive_done, ac, -1)) {
		free(ac);
		job_fail(job, false, "could not queue the archive job");
		return;
	}
	ac->watch = progress_archive_watch(job, &ac->task);
}

void job_archive(Job *job, void (*bad_spool)(Job *job, const char *why))
{
	job->bad_spool = bad_spool;
	job_set_step(job, JOB_ARCHIVING);
	job_set_phase(job, "archiving", archive_now);
}
