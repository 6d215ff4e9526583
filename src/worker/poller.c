/* poller.c - from a submitted AMC execution to a complete spool file: status polls with
 * backoff (cancel check and timeout at each), downloadUrls, and each result file fetched
 * (again when it came cut) into the job's Download (download.c keeps the bytes). Archiving
 * is job.c's: this file calls job.c, never the other way round (job.c reaches bad_spool
 * only through the pointer given to job_archive). */
#include "poller.h"

#include <stdlib.h>
#include <string.h>

#include "amc_client.h"
#include "claim.h"
#include "download.h"
#include "handback.h"
#include "job.h"
#include "log.h"
#include "mstime.h"
#include "progress.h"
#include "states.h"
#include "token.h"

#define POLL_NOT_FOUND_MAX 4 /* AMC may not know a fresh execution for a few seconds */
/* Claims stay paused this long past a spool-troubled job's next try, so that try (which
 * renews the pause if the disk is still full) comes before the pause could end. */
#define SPOOL_PAUSE_MARGIN_MS 5000

static void poll_now(Job *job);
static void fetch_urls(Job *job);
static void fetch_urls_resume(Job *job);
static void bad_spool(Job *job, const char *why);
static void refetch(Job *job);

static void schedule(Job *job)
{
	job_after(job, job->poll_ms, poll_now);
	progress_next_poll(job, job->poll_ms);
}

static void backoff(Job *job)
{
	job->poll_ms = job->poll_ms + job->poll_ms / 2;
	if (job->poll_ms > job->w->cfg.poll_max_ms)
		job->poll_ms = job->w->cfg.poll_max_ms;
	schedule(job);
}

static void after_polling_phase(Job *job)
{
	job_set_step(job, JOB_POLLING);
	job->poll_ms = job->w->cfg.poll_initial_ms;
	schedule(job);
}

void poller_start(Job *job)
{
	job_set_phase(job, "polling", after_polling_phase);
}

/* ---- download ---- */

static void download_next(Job *job);
static void download_file(Job *job, bool again);

/* The worker's own spool could not be created or written (a full disk, a quota, an I/O
 * error: download_io_errno). Nothing is wrong with the result, which AMC keeps, so the
 * execution must not fail for it while there is time: the spool goes (freeing what it took)
 * and the whole download starts again after a backoff (1 s doubling to 60 s) that does not
 * use up max_retries, until the execution's timeout. The exec hash says so meanwhile
 * (spool_trouble, for waiting_for). why may be the download's own message (discarding the
 * spool keeps it).
 * Meanwhile the worker claims no new jobs (claim_pause): each would meet the same disk after
 * its AMC run and wait here too, while a worker with room could finish it. The first download
 * that completes ends the pause (download_next). */
static void spool_trouble(Job *job, const char *why)
{
	Worker *w = job->w;
	int64_t now = mstime_wall();
	int64_t deadline = job->started_ms + (int64_t)w->cfg.exec_timeout_s * 1000;
	long wait = job_backoff_ms(job->spool_waits);
	int e = download_io_errno(job->dl);
	const char *cause = e != 0 ? strerror(e) : why; /* "No space left on device" */
	char reason[200];

	download_discard(job->dl);
	if (now + wait > deadline) {
		job_fail(job, false,
			 "downloading results failed: %s (still at the execution timeout, %d s)",
			 why, w->cfg.exec_timeout_s);
		return;
	}
	if (job->spool_since == 0)
		job->spool_since = now;
	job->spool_waits++;
	elog_warn(job->batch_id, job->exec_id, "result spool: %s; downloading again in %ld ms", why,
		  wait);
	progress_spool(job, cause, job->spool_since);
	snprintf(reason, sizeof(reason), "the result spool cannot be written (%s)", cause);
	claim_pause(w, wait + SPOOL_PAUSE_MARGIN_MS, reason);
	job_after(job, (int)wait, refetch);
}

static void retry_download(Job *job, const char *why, bool expired)
{
	if (download_sink_error(job->dl)[0]) {
		if (download_io_errno(job->dl) != 0) {
			spool_trouble(job, download_sink_error(job->dl));
			return;
		}
		/* the file's format (gzip): downloading again will not help */
		job_fail(job, false, "downloading results failed: %s",
			 download_sink_error(job->dl));
		return;
	}
	/* URLs expire after ~10 minutes (S3 answers 403): fresh ones at once; other failures
	 * after a backoff. The files already complete stay in the spool; only this one is
	 * fetched again (a large result must not start over for one bad file). */
	if (!download_rewind(job->dl)) {
		spool_trouble(job, download_error(job->dl));
		return;
	}
	job_transient(job, expired ? 0 : -1, false, fetch_urls_resume,
		      "downloading results failed: %s", why);
}

static void on_downloaded(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char why[300];
	if (res->rc != CURLE_OK || res->status != 200) {
		if (res->rc != CURLE_OK)
			snprintf(why, sizeof(why), "%s", res->error);
		else
			snprintf(why, sizeof(why), "HTTP %ld%s", res->status,
				 res->status == 403 ? " (URL expired?)" : "");
		retry_download(job, why, res->rc == CURLE_OK && res->status == 403);
		return;
	}
	switch (download_check_file(job->dl, res->etag, why, sizeof(why))) {
	case DOWNLOAD_FILE_WHOLE:
		download_next_file(job->dl);
		download_next(job);
		return;
	case DOWNLOAD_FILE_AGAIN:
		download_file(job, true);
		return;
	case DOWNLOAD_FILE_CUT:
		retry_download(job, why, false);
		return;
	case DOWNLOAD_FILE_ERROR:
		spool_trouble(job, download_error(job->dl));
		return;
	}
}

static void download_next(Job *job)
{
	size_t n = download_count(job->dl);
	if (download_index(job->dl) >= n) {
		if (!download_finish(job->dl)) {
			spool_trouble(job, download_error(job->dl));
			return;
		}
		if (job->spool_since != 0) {
			/* sent ahead of the archive's calls on the same connection */
			progress_spool(job, NULL, 0);
			job->spool_since = 0;
			job->spool_waits = 0;
		}
		elog_info(job->batch_id, job->exec_id, "downloaded %zu result file(s)", n);
		claim_resume(job->w); /* the disk took a whole result again */
		job_archive(job, bad_spool);
		return;
	}
	download_file(job, false);
}

/* Starts the download of the current file; again: fetch it anew over what the last fetch
 * of it left in the spool. */
static void download_file(Job *job, bool again)
{
	const char *url = download_url(job->dl);

	if (!download_begin_file(job->dl, again)) {
		if (download_io_errno(job->dl) != 0)
			spool_trouble(job, download_error(job->dl));
		else
			job_fail(job, false, "%s", download_error(job->dl));
		return;
	}
	if (url == NULL || !amc_download(job->w, url, download_feed, job->dl, on_downloaded, job))
		job_fail(job, false, "bad download URL #%zu", download_index(job->dl) + 1);
}

static void start_downloads(Job *job)
{
	/* an earlier claim's spool trouble must not pass for this one's */
	if (job->spool_since == 0 && job->attempts > 1)
		progress_spool(job, NULL, 0);
	if (!download_create_spool(job->dl, job->w->spool_dir, job->claim)) {
		spool_trouble(job, download_error(job->dl));
		return;
	}
	download_next(job);
}

static void on_urls(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char text[700];
	if (res->rc != CURLE_OK || res->status != 200) {
		amc_error_text(res, text, sizeof(text));
		if (job_refresh_on_denied(job, res, fetch_urls))
			return;
		if (res->rc != CURLE_OK || res->status >= 500 || res->status == 429 ||
		    res->status == 404) {
			job_transient(job, res->retry_after_ms, false, fetch_urls,
				      "getting download URLs failed: %s", text);
			return;
		}
		job_fail(job, true, "getting download URLs failed: %s", text);
		return;
	}
	job->token_retried = false;
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *urls = json_object_get(doc, "downloadUrls");
	if (!json_is_array(urls)) {
		json_decref(doc);
		job_transient(job, -1, false, fetch_urls,
			      "download URL answer has no downloadUrls array");
		return;
	}
	if (job->dl == NULL && (job->dl = download_new(job->batch_id, job->exec_id)) == NULL) {
		json_decref(doc);
		job_fail(job, false, "out of memory");
		return;
	}
	bool resume = download_resumable(job->dl, urls);
	download_set_urls(job->dl, urls);
	json_decref(doc);
	if (resume)
		download_next(job); /* the files before the current one are in the spool */
	else
		start_downloads(job);
}

static void refetch(Job *job)
{
	download_discard(job->dl); /* the whole spool was bad: everything again */
	fetch_urls(job);
}

/* job_archive's way back: the archive found the spool truncated or garbled; it is downloaded
 * again (fresh URLs) after a backoff */
static void bad_spool(Job *job, const char *why)
{
	download_discard(job->dl);
	job_transient(job, -1, false, refetch, "bad result file: %s", why);
}

static void fetch_urls(Job *job)
{
	AmcTarget t;
	job_set_step(job, JOB_DOWNLOADING);
	job_target(job, &t);
	if (!amc_get_download_urls(job->w, &t, job->amc_id, on_urls, job))
		job_fail(job, false, "could not request download URLs");
}

/* fresh URLs (the old ones may have expired), then on from the file that failed */
static void fetch_urls_resume(Job *job)
{
	fetch_urls(job);
}

/* ---- status ---- */

static void poll_failed(Job *job, long retry_after_ms, const char *why)
{
	Worker *w = job->w;
	if (++job->poll_failures > w->cfg.max_retries) {
		job_fail(job, true, "status of AMC execution %s failed %d times in a row: %s",
			 job->amc_id, job->poll_failures, why);
		return;
	}
	elog_warn(job->batch_id, job->exec_id, "status poll failed (%s); try %d/%d", why,
		  job->poll_failures, w->cfg.max_retries);
	if (retry_after_ms > job->poll_ms)
		job->poll_ms = retry_after_ms > w->cfg.poll_max_ms ? w->cfg.poll_max_ms
								   : (int)retry_after_ms;
	backoff(job);
}

/* AMC says CANCELLED and the exec still runs here: somebody cancelled it on AMC, not
 * amcbatch. */
static void cancelled_elsewhere(Job *job)
{
	job_fail(job, false, "AMC execution cancelled on AMC, not through amcbatch");
}

static void on_status(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char text[700];

	if (res->rc != CURLE_OK || res->status >= 500 || res->status == 429) {
		/* exchange.c already retried this request; the execution lives on at AMC, so poll on,
		 * but only max_retries times in a row */
		amc_error_text(res, text, sizeof(text));
		poll_failed(job, res->retry_after_ms, text);
		return;
	}
	if (job_refresh_on_denied(job, res, poll_now))
		return;
	if (res->status == 404 && ++job->not_found < POLL_NOT_FOUND_MAX) {
		backoff(job);
		return;
	}
	if (res->status != 200) {
		amc_error_text(res, text, sizeof(text));
		job_fail(job, true, "status of AMC execution %s: HTTP %ld: %s", job->amc_id,
			 res->status, text);
		return;
	}
	job->token_retried = false;
	job->not_found = 0;
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *ex = amc_execution_object(doc);
	const char *status = ex != NULL ? json_string_value(json_object_get(ex, "status")) : NULL;
	if (status == NULL) {
		json_decref(doc);
		poll_failed(job, -1, "status answer is not an execution object with a status");
		return;
	}
	job->poll_failures = 0;
	if (strcmp(status, "SUCCEEDED") == 0) {
		json_decref(doc);
		job->amc_terminal = true;
		elog_info(job->batch_id, job->exec_id, "AMC execution succeeded");
		job_set_phase(job, "downloading", fetch_urls);
		return;
	}
	if (strcmp(status, "CANCELLED") == 0) {
		/* Most likely amcbatch's own cancel: its batch was cancelled and a worker draining
		 * P amc_cancels reached AMC first. set_phase then answers -5 and the job lets go of
		 * the exec as cancelled; a failure would turn the cancelled exec into a failed one. */
		json_decref(doc);
		job->amc_terminal = true;
		job_set_phase(job, "polling", cancelled_elsewhere);
		return;
	}
	if (strcmp(status, "FAILED") == 0 || strcmp(status, "REJECTED") == 0) {
		job->amc_terminal = true;
		const char *reason = amc_failure_reason(ex);
		job_fail(job, false, "AMC execution %s: %s",
			 strcmp(status, "FAILED") == 0 ? "failed" : "rejected",
			 *reason ? reason : "(no reason given)");
		json_decref(doc);
		return;
	}
	if (strcmp(status, "PENDING") != 0 && strcmp(status, "RUNNING") != 0)
		elog_debug(job->batch_id, job->exec_id, "AMC status %s treated as in progress",
			   status);
	json_decref(doc);
	backoff(job);
}

static void get_status(Job *job)
{
	AmcTarget t;
	job_target(job, &t);
	if (!amc_get_execution(job->w, &t, job->amc_id, on_status, job))
		job_fail(job, true, "could not send the status request");
}

/* The exec hash says whether the batch was cancelled and whether this claim still holds the
 * job (a poller that lost it must not go on polling AMC); a Redis outage only skips the
 * check. */
static void on_state(RConn *c, redisReply *reply, void *priv)
{
	Job *job = priv;
	if (job->w->exiting)
		return;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
		const redisReply *st = reply->element[0], *wk = reply->element[1],
				 *cl = reply->element[2];
		if (st->type == REDIS_REPLY_STRING &&
		    exec_state_is(st->str, EXEC_STATE_CANCELLED)) {
			job_cancel(job);
			return;
		}
		if (st->type != REDIS_REPLY_STRING) {
			job_gone(job, "its record is gone from Redis (seen at a poll)");
			return;
		}
		if (!exec_state_is(st->str, EXEC_STATE_RUNNING) || wk->type != REDIS_REPLY_STRING ||
		    strcmp(wk->str, job->w->id) != 0 || cl->type != REDIS_REPLY_STRING ||
		    strcmp(cl->str, job->claim) != 0) {
			job_lost(job, "another claim holds it (seen at a poll)");
			return;
		}
	}
	get_status(job);
}

static void poll_now(Job *job)
{
	Worker *w = job->w;
	int64_t age_ms = mstime_wall() - job->started_ms;
	if (age_ms > (int64_t)w->cfg.exec_timeout_s * 1000) {
		job_fail(job, true, "execution timed out after %d s", w->cfg.exec_timeout_s);
		return;
	}
	if (!rconn_commandf(w->redis, on_state, job, "HMGET %s state worker claim", job->exec_key))
		get_status(job);
}
