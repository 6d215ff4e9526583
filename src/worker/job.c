/* job.c - the per-execution state machine around AMC: substitute, mark running in
 * PostgreSQL, token, create (or resume), record the AMC id, then (after poller.c) archive and
 * finish; failure and cancellation paths. One async step in flight per job at any time. */
#include "job.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amc_client.h"
#include "archiver.h"
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
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	Job *job = arg;
	void (*fn)(Job *) = job->timer_fn;
	job->timer_fn = NULL;
	if (fn)
		fn(job);
}

void job_after(Job *job, int ms, void (*fn)(Job *job))
{
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

Job *job_new(Worker *w, const redisReply *claimed)
{
	if (claimed->type != REDIS_REPLY_ARRAY || claimed->elements < 3 ||
	    claimed->element[0]->type != REDIS_REPLY_STRING ||
	    claimed->element[1]->type != REDIS_REPLY_ARRAY) {
		log_error("claim returned a malformed job entry");
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
	const char *sep = strchr(ref, ':');
	bool ok = strlen(ref) < sizeof job->ref && sep && (size_t)(sep - ref) <= IDS_BATCH_LEN;
	if (ok) {
		strcpy(job->ref, ref);
		memcpy(job->batch_id, ref, (size_t)(sep - ref));
		job->batch_id[sep - ref] = '\0';
		ok = strlen(sep + 1) <= IDS_EXEC_LEN;
		if (ok)
			strcpy(job->exec_id, sep + 1);
	}
	ok = ok && ids_is_batch(job->batch_id) && ids_is_exec(job->exec_id) &&
	     copy_field(job->uuid, sizeof job->uuid, flat, "id") &&
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

static void on_finish(Worker *w, redisReply *reply, void *priv)
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
	char now[32], rows[32];
	snprintf(now, sizeof now, "%lld", (long long)worker_now_ms());
	snprintf(rows, sizeof rows, "%ld", job->row_count);
	const char *keys[4] = {job->batch_key, job->exec_key, job->jobs_key, job->events_key};
	const char *args[6] = {job->ref, outcome, now, rows, error, job->w->id};
	if (!rcall_script(job->w, LUA_SCRIPT_FINISH, 4, keys, 6, args, on_finish, job)) {
		elog_error(job->batch_id, job->exec_id, "out of memory calling finish");
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
	free(ac);
	if (exiting)
		return;
	if (res != PG_OK) {
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

static void after_record(Job *job)
{
	poller_start(job);
}

static void on_created(Worker *w, const HttpResult *res, void *priv)
{
	Job *job = priv;
	char text[700];

	if (res->rc == CURLE_OK && (res->status == 401 || res->status == 403) && !job->token_retried) {
		/* expired or refused token: refresh once, then create once more (nothing ran) */
		elog_warn(job->batch_id, job->exec_id, "create got HTTP %ld, refreshing the token", res->status);
		job->token_retried = true;
		token_invalidate(w, job->account_id, job->token);
		job_with_token(job, create);
		return;
	}
	if (res->rc != CURLE_OK) {
		/* The request may have reached AMC: it is not re-sent (amc-api.md §9). */
		job_fail(job, false, "create request failed, not re-sent (it may have run): %s", res->error);
		return;
	}
	if (res->status != 200 && res->status != 201) {
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
		job_fail(job, false, "AMC create answer has no workflowExecutionId");
		return;
	}
	strcpy(job->amc_id, id);
	json_decref(doc);
	elog_info(job->batch_id, job->exec_id, "submitted to AMC as %s", job->amc_id);
	/* stored before polling: a reclaimed job resumes this execution instead of a new one */
	phase_call(job, LUA_SCRIPT_RECORD_AMC_ID, job->amc_id, after_record);
}

static void create(Job *job)
{
	AmcTarget t;
	job->step = JOB_CREATING;
	job_target(job, &t);
	if (!amc_create(job->w, &t, job->sql, &job->win, job->timezone, on_created, job))
		job_fail(job, false, "could not send the create request (bad instance id?)");
}

static void after_token(Job *job)
{
	if (job->amc_id[0]) {
		elog_info(job->batch_id, job->exec_id, "resuming AMC execution %s", job->amc_id);
		poller_start(job);
		return;
	}
	create(job);
}

static void after_running(Job *job, bool ok, const char *err)
{
	if (!ok)	/* the archive is secondary to running the query; go on */
		elog_error(job->batch_id, job->exec_id, "marking running in the archive failed: %s", err);
	job_with_token(job, after_token);
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
	const char *vals[2] = {job->exec_id, job->sql};
	pg_run(job,
	       "UPDATE workflow_executions SET status = 'running',"
	       " started_at = coalesce(started_at, now()), sql_query = $2, updated_at = now()"
	       " WHERE execution_id = $1 AND status <> 'cancelled'",
	       2, vals, after_running);
}
