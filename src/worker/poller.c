/* poller.c - from a submitted AMC execution to a complete spool file: status polls with
 * backoff (cancel check and timeout at each), downloadUrls, and every result file appended
 * to one CSV that keeps only the first file's header. Archiving is job.c's. */
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "amc_client.h"
#include "csv.h"
#include "log.h"
#include "mstime.h"
#include "states.h"
#include "token.h"

#define POLL_NOT_FOUND_MAX 4 /* AMC may not know a fresh execution for a few seconds */
#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

static void poll_now(Job *job);
static void fetch_urls(Job *job);
static void fetch_urls_resume(Job *job);

static void schedule(Job *job)
{
	job_after(job, job->poll_ms, poll_now);
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

void poller_cleanup(Job *job)
{
	if (job->spool) {
		fclose(job->spool);
		job->spool = NULL;
	}
	if (job->spool_path[0]) {
		if (unlink(job->spool_path) != 0 && errno != ENOENT)
			elog_warn(job->batch_id, job->exec_id, "cannot remove %s: %s",
				  job->spool_path, strerror(errno));
		job->spool_path[0] = '\0';
	}
}

/* ---- download ---- */

/* Appends one result file's bytes to the spool. Files after the first lose their header
 * record (csv_header_skip). */
static bool sink(const char *data, size_t n, void *priv)
{
	Job *job = priv;

	job->file_len += n;
	EVP_DigestUpdate(job->md5, data, n);
	for (size_t i = 0; i < n; i++)
		job->file_hash = (job->file_hash ^ (unsigned char)data[i]) * FNV_PRIME;
	if (!job->file_started) {
		job->file_started = true;
		if (n >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
			snprintf(job->sink_msg, sizeof job->sink_msg,
				 "result file is gzip-compressed (not supported)");
			return false;
		}
	}
	if (!job->header_skip.done) {
		size_t skip = csv_header_skip(&job->header_skip, data, n);
		data += skip;
		n -= skip;
		if (n == 0)
			return true;
	}
	if (n > 0 && fwrite(data, 1, n, job->spool) != n)
		goto ioerr;
	if (n > 0)
		job->last_byte = (unsigned char)data[n - 1];
	return true;
ioerr:
	snprintf(job->sink_msg, sizeof job->sink_msg, "writing %s: %s", job->spool_path,
		 strerror(errno));
	return false;
}

static void download_next(Job *job);
static void download_file(Job *job, bool again);

/* The spool loses what the failed file wrote: it ends where that file began again. */
static bool rewind_file(Job *job)
{
	if (fflush(job->spool) != 0 || ftruncate(fileno(job->spool), job->file_off) != 0 ||
	    fseek(job->spool, job->file_off, SEEK_SET) != 0) {
		job_fail(job, false, "rewinding %s: %s", job->spool_path, strerror(errno));
		return false;
	}
	job->last_byte = job->file_prev_last;
	return true;
}

static void retry_download(Job *job, const char *why, bool expired)
{
	if (job->sink_msg
		    [0]) { /* our own disk or format problem: downloading again will not help */
		job_fail(job, false, "downloading results failed: %s", job->sink_msg);
		return;
	}
	/* URLs expire after ~10 minutes (S3 answers 403): fresh ones at once; other failures
	 * after a backoff. The files already complete stay in the spool; only this one is
	 * fetched again (a large result must not start over for one bad file). */
	if (!rewind_file(job))
		return;
	job_transient(job, expired ? 0 : -1, false, fetch_urls_resume,
		      "downloading results failed: %s", why);
}

enum EtagCheck { ETAG_NONE, ETAG_MATCHES, ETAG_DIFFERS };

/* The file just received against its ETag, when that is an MD5 (32 hex digits: an object put
 * in one piece; a multipart upload's ETag is not its MD5 and proves nothing). */
static enum EtagCheck etag_check(Job *job, const char *etag)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (!etag || strlen(etag) != 32 || strspn(etag, "0123456789abcdefABCDEF") != 32)
		return ETAG_NONE;
	if (EVP_DigestFinal_ex(job->md5, md, &n) != 1 || n != 16)
		return ETAG_NONE;
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return strcasecmp(hex, etag) == 0 ? ETAG_MATCHES : ETAG_DIFFERS;
}

/* A whole file without its final line break: the next file's first record (or the spool's
 * end) must start a line. False (the job failed) when the spool cannot be written. */
static bool end_line(Job *job)
{
	if (job->last_byte == '\n' || job->last_byte == -1)
		return true;
	if (fputc('\n', job->spool) == EOF) {
		job_fail(job, false, "writing %s: %s", job->spool_path, strerror(errno));
		return false;
	}
	job->last_byte = '\n';
	return true;
}

static void on_downloaded(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char why[300];
	if (res->rc != CURLE_OK || res->status != 200) {
		if (res->rc != CURLE_OK)
			snprintf(why, sizeof why, "%s", res->error);
		else
			snprintf(why, sizeof why, "HTTP %ld%s", res->status,
				 res->status == 403 ? " (URL expired?)" : "");
		retry_download(job, why, res->rc == CURLE_OK && res->status == 403);
		return;
	}
	/* S3 sends an object put in one piece with its MD5 as ETag: a body with another MD5 did
	 * not arrive whole, whatever its Content-Length said; one with the same MD5 is the file,
	 * a last record without its line break included. */
	switch (etag_check(job, res->etag)) {
	case ETAG_DIFFERS:
		snprintf(why, sizeof why,
			 "result file %zu of %zu does not match its ETag (cut short)",
			 job->url_idx + 1, json_array_size(job->urls));
		retry_download(job, why, false);
		return;
	case ETAG_MATCHES:
		if (!end_line(job))
			return;
		job->url_idx++;
		download_next(job);
		return;
	case ETAG_NONE:
		break;
	}
	/* Every record of a result file ends with a line break. A file that stops inside its
	 * header or a record was cut short (a complete Content-Length proves nothing): when the
	 * cut falls inside the last field, the records still parse with the right field count
	 * and the lost rows would be archived as a complete result. last_byte is this file's
	 * last byte written, or the previous file's (checked here too) when all of this one
	 * was a skipped header. Such a file is fetched again at once; should it come back byte
	 * for byte the same (length and hash), it is no cut download but a file written without
	 * its last line break (AMC's files are not known to end with one), and it is taken. */
	if (job->file_started &&
	    (!job->header_skip.done || (job->last_byte != '\n' && job->last_byte != -1))) {
		if (!job->cut_again) {
			job->cut_again = true;
			job->cut_len = job->file_len;
			job->cut_hash = job->file_hash;
			download_file(job, true);
			return;
		}
		if (job->cut_len != job->file_len || job->cut_hash != job->file_hash) {
			snprintf(why, sizeof why,
				 "result file %zu of %zu ends inside a record (truncated)",
				 job->url_idx + 1, json_array_size(job->urls));
			retry_download(job, why, false);
			return;
		}
		elog_warn(job->batch_id, job->exec_id,
			  "result file %zu of %zu came twice alike without "
			  "a final line break (%llu bytes): taken as complete",
			  job->url_idx + 1, json_array_size(job->urls),
			  (unsigned long long)job->file_len);
		if (!end_line(job))
			return;
	}
	job->url_idx++;
	download_next(job);
}

static void download_next(Job *job)
{
	size_t n = json_array_size(job->urls);
	if (job->url_idx >= n) {
		if (fflush(job->spool) != 0 || fclose(job->spool) != 0) {
			job->spool = NULL;
			job_fail(job, false, "writing %s: %s", job->spool_path, strerror(errno));
			return;
		}
		job->spool = NULL;
		elog_info(job->batch_id, job->exec_id, "downloaded %zu result file(s)", n);
		job_archive(job);
		return;
	}
	job->cut_again = false;
	download_file(job, false);
}

/* Starts the download of file url_idx; again: fetch it anew over what the last fetch of it
 * left in the spool. */
static void download_file(Job *job, bool again)
{
	const char *url = json_string_value(json_array_get(job->urls, job->url_idx));

	if (again) {
		if (!rewind_file(job))
			return;
	} else if ((job->file_off = ftell(job->spool)) < 0) {
		job_fail(job, false, "writing %s: %s", job->spool_path, strerror(errno));
		return;
	}
	job->file_prev_last = job->last_byte;
	job->file_started = false;
	job->file_len = 0;
	job->file_hash = FNV_OFFSET;
	if ((!job->md5 && !(job->md5 = EVP_MD_CTX_new())) ||
	    EVP_DigestInit_ex(job->md5, EVP_md5(), NULL) != 1) {
		job_fail(job, false, "cannot start an MD5 digest");
		return;
	}
	/* files after the first repeat the header: it is dropped */
	job->header_skip.done = job->url_idx == 0;
	job->header_skip.in_quote = false;
	if (!url || !amc_download(job->w, url, sink, job, on_downloaded, job))
		job_fail(job, false, "bad download URL #%zu", job->url_idx + 1);
}

/* A spool file per claim, created anew (O_EXCL) in the worker's private directory: two
 * claims of one execution never write one file, and nobody else can plant one there. */
static void start_downloads(Job *job)
{
	int fd;
	poller_cleanup(job);
	snprintf(job->spool_path, sizeof job->spool_path, "%s/%s-%s-%s.csv", job->w->spool_dir,
		 job->batch_id, job->exec_id, job->claim);
	if ((fd = open(job->spool_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    !(job->spool = fdopen(fd, "wb"))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		job->spool_path[0] = '\0';
		job_fail(job, false, "cannot create a spool file in %s: %s", job->w->spool_dir,
			 strerror(e));
		return;
	}
	job->url_idx = 0;
	job->last_byte = -1;
	job->sink_msg[0] = '\0';
	download_next(job);
}

static void on_urls(Worker *w, const ExchangeResult *res, void *priv)
{
	Job *job = priv;
	char text[700];
	if (res->rc != CURLE_OK || res->status != 200) {
		amc_error_text(res, text, sizeof text);
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
	bool resume = job->spool && job->urls &&
		      json_array_size(urls) == json_array_size(job->urls) &&
		      job->url_idx < json_array_size(urls);
	json_decref(job->urls);
	job->urls = json_incref(urls);
	json_decref(doc);
	if (resume)
		download_next(job); /* the files before url_idx are in the spool */
	else
		start_downloads(job);
}

void poller_refetch(Job *job)
{
	poller_cleanup(job); /* the whole spool was bad: everything again */
	fetch_urls(job);
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
		amc_error_text(res, text, sizeof text);
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
		amc_error_text(res, text, sizeof text);
		job_fail(job, true, "status of AMC execution %s: HTTP %ld: %s", job->amc_id,
			 res->status, text);
		return;
	}
	job->token_retried = false;
	job->not_found = 0;
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	json_t *ex = amc_execution_object(doc);
	const char *status = ex ? json_string_value(json_object_get(ex, "status")) : NULL;
	if (!status) {
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
	if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
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
