/* create.c - getting this execution exactly one AMC execution. Before the POST the create
 * intent is made durable (set_phase submitted in Redis, create_intent_at in PostgreSQL); the
 * POST must leave within CREATE_SEND_BUDGET_MS of that, or it is not sent (curl's prereq
 * callback). Whoever later finds an intent without an AMC id first looks for the execution in
 * AMC's list by the marker line every SQL we send starts with (adoption), and creates only
 * once it is sure the announced create cannot have reached AMC. An id is recorded in Redis
 * (record_amc_id never overwrites another) and in PostgreSQL before polling starts. */
#include "create.h"

#include <stdlib.h>
#include <string.h>

#include "amc_cancel.h"
#include "amc_client.h"
#include "handback.h"
#include "job.h"
#include "log.h"
#include "mstime.h"
#include "pgexec.h"
#include "poller.h"
#include "states.h"

/* our own create's answer was lost: AMC's list is asked this often until ADOPT_WAIT_MS
 * after the intent (a lagging list shows the execution late, not never) */
#define ADOPT_OWN_WAIT_MS 5000

static void send_create(Job *job);
static void adopt(Job *job);

/* ---- record the id ---- */

static void after_record_pg(Job *job, const PgxRow *row)
{
	if (!row->written) {
		job_fenced(job);
		return;
	}
	job->intent_ms = 0; /* the id answers the intent */
	poller_start(job);
}

/* Another claim took the execution after our create: our AMC execution is wanted only if
 * that claim may still adopt it (no other id recorded, not cancelled). */
static void on_holder_state(RConn *c, redisReply *reply, void *priv);

static void lost_after_create(Job *job)
{
	job_set_step(job, JOB_LEAVING);
	if (!rconn_commandf(job->w->redis, on_holder_state, job, "HMGET %s state amc_execution_id",
			    job->exec_key))
		on_holder_state(job->w->redis, NULL, job);
}

static void on_holder_state(RConn *c, redisReply *reply, void *priv)
{
	Job *job = priv;
	AmcTarget t;
	if (job->w->exiting)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
		/* Redis away: the intent stays, and a cancel of the batch reaches this execution
		 * through P amc_cancels; a holder that creates anyway is bounded by ADOPT_WAIT_MS */
		job_lost(job, "lost after its create; Redis unavailable to tell more");
		return;
	}
	const redisReply *st = reply->element[0], *id = reply->element[1];
	if (st->type != REDIS_REPLY_STRING) {
		job_gone(job, "its record is gone from Redis after its create");
		return;
	}
	bool cancelled = exec_state_is(st->str, EXEC_STATE_CANCELLED);
	bool other =
		id->type == REDIS_REPLY_STRING && id->str[0] && strcmp(id->str, job->amc_id) != 0;
	if (cancelled || other) {
		job_target(job, &t);
		amc_cancel_detached(job->w, &t, job->amc_id,
				    cancelled ? "its batch was cancelled"
					      : "another AMC execution holds the instance's place");
	}
	job_lost(job, "another claim took it after its create");
}

/* A different id was recorded first: ours is a duplicate. Cancel it, go on with the other. */
static void on_stored_id(RConn *c, redisReply *reply, void *priv)
{
	Job *job = priv;
	AmcTarget t;
	if (job->w->exiting)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_STRING || !reply->str[0] ||
	    strlen(reply->str) >= sizeof(job->amc_id)) {
		job_lost(job, "could not read the AMC id recorded first");
		return;
	}
	job_target(job, &t);
	amc_cancel_detached(job->w, &t, job->amc_id, "a duplicate of the one recorded first");
	elog_warn(job->batch_id, job->exec_id, "AMC execution %s was recorded first: %s cancelled",
		  reply->str, job->amc_id);
	strcpy(job->amc_id, reply->str);
	create_record(job);
}

static void on_recorded(Job *job, long long code)
{
	switch (code) {
	case LUA_OK:
		pgx_amc_id(job, after_record_pg);
		return;
	case LUA_ERR_CONFLICT:
		if (!rconn_commandf(job->w->redis, on_stored_id, job, "HGET %s amc_execution_id",
				    job->exec_key))
			on_stored_id(job->w->redis, NULL, job);
		return;
	case LUA_ERR_CANCELLED:
		job_cancel(job); /* the id was stored: cancelled on AMC next */
		return;
	default:
		lost_after_create(job);
		return;
	}
}

void create_record(Job *job)
{
	LuaCall call;
	job_set_step(job, JOB_CREATING);
	if (!lua_record_amc_id(&call, job->w->prefix, job->batch_id, job->exec_id, job->amc_id,
			       mstime_wall(), job->w->id, job->claim)) {
		job_fail(job, true, "key names too long");
		return;
	}
	job_script(job, &call, on_recorded);
}

/* ---- create ---- */

static void on_created(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char text[700];

	if (res->rc == CURLE_OK && (res->status == 401 || res->status == 403)) {
		amc_error_text(res, text, sizeof(text));
		if (job->token_retried) {
			job_fail(job, false, "AMC refused the credentials (HTTP %ld): %s",
				 res->status, text);
			return;
		}
		/* expired or refused token: refresh once, then create once more (nothing ran) */
		elog_warn(job->batch_id, job->exec_id, "create got HTTP %ld, refreshing the token",
			  res->status);
		job_refresh_on_denied(job, res, send_create);
		return;
	}
	if (res->rc == CURLE_OK && res->status == 429) {
		job_throttled(job, res->retry_after_ms, "create throttled (HTTP 429)");
		return;
	}
	if (res->rc != CURLE_OK && !res->sent) {
		/* the intent stays: it is set anew with the next create */
		job_transient(job, -1, false, create_start, "create not sent: %s", res->error);
		return;
	}
	if (res->rc != CURLE_OK || res->status >= 500) {
		/* The request may have run on AMC: look for it before sending another one
		 * (amc-api.md §9). */
		amc_error_text(res, text, sizeof(text));
		elog_warn(job->batch_id, job->exec_id,
			  "create answer lost (%s); looking for the execution", text);
		job->create_retry_after_ms = res->retry_after_ms;
		job_after(job, ADOPT_OWN_WAIT_MS, adopt);
		return;
	}
	if (res->status != 200 && res->status != 201) {
		/* SQL compile errors, privacy refusals, bad requests: permanent */
		amc_error_text(res, text, sizeof(text));
		job_fail(job, false, "AMC refused the execution (HTTP %ld): %s", res->status, text);
		return;
	}
	job->token_retried = false;
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *ex = amc_execution_object(doc);
	const char *id =
		ex != NULL ? json_string_value(json_object_get(ex, "workflowExecutionId")) : NULL;
	if (id == NULL || !*id || strlen(id) >= sizeof(job->amc_id)) {
		json_decref(doc);
		/* a 200 means it exists on AMC: find it rather than create a second one (created
		 * again only if AMC's list has not shown it ADOPT_WAIT_MS after the intent) */
		elog_warn(job->batch_id, job->exec_id,
			  "create answer has no workflowExecutionId; looking for the execution");
		job->create_retry_after_ms = -1;
		adopt(job);
		return;
	}
	strcpy(job->amc_id, id);
	json_decref(doc);
	elog_info(job->batch_id, job->exec_id, "submitted to AMC as %s", job->amc_id);
	create_record(job);
}

static void send_create(Job *job)
{
	AmcTarget t;
	int64_t send_by = job->intent_mono_ms + CREATE_SEND_BUDGET_MS;

	if (mstime_mono() >= send_by) {
		/* the intent is too old to vouch for this POST (PostgreSQL or the token was slow) */
		elog_info(job->batch_id, job->exec_id,
			  "create intent too old to send; announcing it again");
		create_start(job);
		return;
	}
	job_set_step(job, JOB_CREATING);
	job_target(job, &t);
	if (!amc_create(job->w, &t, job->sql, &job->win, job->timezone, send_by, on_created, job))
		job_fail(job, false, "could not send the create request (bad instance id?)");
}

static void after_intent_pg(Job *job, const PgxRow *row)
{
	if (!row->written) {
		job_fenced(job);
		return;
	}
	job->intent_ms = row->intent_ms ? row->intent_ms : mstime_wall();
	job->intent_own = true;
	send_create(job);
}

static void after_intent_redis(Job *job)
{
	pgx_intent(job, true, after_intent_pg);
}

void create_start(Job *job)
{
	Worker *w = job->w;
	job_set_step(job, JOB_CREATING);
	/* a create after the deadline would only be cancelled at the first poll */
	if (mstime_wall() >= job->started_ms + (int64_t)w->cfg.exec_timeout_s * 1000) {
		job_fail(job, false, "execution timed out after %d s before AMC created it",
			 w->cfg.exec_timeout_s);
		return;
	}
	if (w->stopping) {
		handback_release(job); /* nothing sent yet: the next worker starts it */
		return;
	}
	job->intent_mono_ms = mstime_mono();
	job_set_phase(job, "submitted", after_intent_redis);
}

void create_resume(Job *job)
{
	if (job->w->stopping) {
		handback_release(job);
		return;
	}
	if (job->amc_id[0]) {
		elog_info(job->batch_id, job->exec_id, "resuming AMC execution %s", job->amc_id);
		create_record(job);
		return;
	}
	if (job->intent_ms > 0) {
		/* an earlier claim announced a create and nobody recorded its id */
		elog_info(job->batch_id, job->exec_id,
			  "an earlier create was announced; looking for it on AMC");
		job->intent_own = false;
		adopt(job);
		return;
	}
	create_start(job);
}

/* ---- adoption: find our execution in AMC's list ---- */

static void adopt_page(Job *job, const char *next_token);

/* Nothing in AMC's list for the intent. */
static void not_found(Job *job)
{
	int64_t now = mstime_wall();
	if (job->intent_own) {
		/* our own POST is over: it created nothing, unless the list is behind; a create
		 * sent sooner could run twice on AMC */
		if (now < job->intent_ms + ADOPT_WAIT_MS) {
			job_after(job, ADOPT_OWN_WAIT_MS, adopt);
			return;
		}
		job_transient(job, job->create_retry_after_ms, false, create_start,
			      "AMC has no execution from the create whose answer was lost");
		return;
	}
	if (now < job->intent_ms + ADOPT_WAIT_MS) {
		/* that POST may still be on its way: wait until it cannot be, then look again */
		long wait = (long)(job->intent_ms + ADOPT_WAIT_MS - now);
		elog_info(job->batch_id, job->exec_id,
			  "no AMC execution yet for an earlier create; "
			  "looking again in %ld ms",
			  wait);
		job_after(job, (int)(wait < 1000 ? 1000 : wait), adopt);
		return;
	}
	elog_info(job->batch_id, job->exec_id,
		  "the earlier create reached no AMC execution; creating");
	create_start(job);
}

static void on_listed(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char text[700];
	if (res->rc != CURLE_OK || res->status != 200) {
		amc_error_text(res, text, sizeof(text));
		if (job_refresh_on_denied(job, res, adopt))
			return;
		job_transient(job, res->retry_after_ms, false, adopt,
			      "listing executions to find an announced create failed: %s", text);
		return;
	}
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *list = json_object_get(doc, "executions");
	if (!json_is_array(list)) {
		json_decref(doc);
		job_transient(job, -1, false, adopt,
			      "execution list answer has no executions array");
		return;
	}
	size_t i;
	json_t *ex;
	json_array_foreach (list, i, ex) {
		const char *id = json_string_value(json_object_get(ex, "workflowExecutionId"));
		const char *st = json_string_value(json_object_get(ex, "status"));
		if (id == NULL || !*id || strlen(id) >= sizeof(job->amc_id) ||
		    !amc_listed_matches(ex, job->batch_id, job->exec_id))
			continue;
		if (st != NULL && strcmp(st, "CANCELLED") == 0) {
			/* a duplicate cancelled earlier, or a cancel by hand: taken only if no live
			 * execution carries the marker */
			if (!job->adopt_cancelled[0])
				strcpy(job->adopt_cancelled, id);
			continue;
		}
		strcpy(job->amc_id, id);
		json_decref(doc);
		elog_info(job->batch_id, job->exec_id,
			  "adopted AMC execution %s (announced create)", job->amc_id);
		create_record(job);
		return;
	}
	char token[512];
	amc_list_next_token(doc, token, sizeof(token));
	json_decref(doc);
	if (token[0]) {
		adopt_page(job, token);
		return;
	}
	if (job->adopt_cancelled[0]) {
		strcpy(job->amc_id, job->adopt_cancelled);
		elog_info(job->batch_id, job->exec_id,
			  "adopted AMC execution %s (announced create, "
			  "cancelled on AMC)",
			  job->amc_id);
		create_record(job);
		return;
	}
	not_found(job);
}

static void adopt_page(Job *job, const char *next_token)
{
	AmcTarget t;
	job_set_step(job, JOB_ADOPTING);
	job_target(job, &t);
	if (!amc_list_executions(job->w, &t, job->intent_ms, next_token, on_listed, job))
		job_fail(job, false, "could not send the execution list request");
}

static void adopt(Job *job)
{
	job->adopt_cancelled[0] = '\0';
	adopt_page(job, NULL);
}
