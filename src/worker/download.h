/* download.h - the result files of one AMC execution appended, as they stream in, to one
 * spool CSV that keeps only the first file's header, and the checks that a file arrived
 * whole (ETag MD5, final line break, a second fetch byte for byte alike). poller.c drives it
 * (which file, when to fetch again); this state is opaque to everything else. */
#ifndef AMCB_DOWNLOAD_H
#define AMCB_DOWNLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "common.h"

typedef struct Download Download;

/* A download of the execution batch_id/exec_id (copied, for its logs and file name), with
 * no spool file yet. NULL when out of memory. The caller owns it (the Job: download_free). */
Download *download_new(const char *batch_id, const char *exec_id);
/* Closes and removes its spool file, then frees. Accepts NULL. */
void download_free(Download *d);
/* Closes and removes the spool file, if any (the urls stay). */
void download_discard(Download *d);

/* A spool file of its own, <dir>/<batch>-<exec>-<claim>.csv, created anew (O_EXCL, 0600,
 * over whatever spool the download had), positioned before the first file. false: errno,
 * and the reason in download_error(). */
MUST_CHECK bool download_create_spool(Download *d, const char *dir, const char *claim);
/* The downloadUrls array to fetch (borrowed: the download keeps its own reference). */
void download_set_urls(Download *d, json_t *urls);
/* Whether an open spool can go on with urls (as many files as before, some still to come):
 * the files already complete need not be fetched again. */
bool download_resumable(const Download *d, const json_t *urls);

/* Files: the current one (from 0), how many, and its URL (NULL past the end or not a
 * string; borrowed from the urls). */
size_t download_index(const Download *d);
size_t download_count(const Download *d);
const char *download_url(const Download *d);
/* The current file is taken; the next one is current. */
void download_next_file(Download *d);

/* Starts the current file; again: fetch it anew over what its last fetch left in the spool.
 * again false also clears the "fetched a second time" mark of the file before. false: the
 * reason in download_error(). */
MUST_CHECK bool download_begin_file(Download *d, bool again);
/* The ExchangeSinkFn of a transfer (priv: the Download): appends the bytes to the spool,
 * without the header of files after the first. false stops the transfer; the reason is in
 * download_sink_error(). */
bool download_feed(const char *data, size_t n, void *priv);
/* The spool loses what the current file wrote (it ends where the file began again). false:
 * the reason in download_error(). */
MUST_CHECK bool download_rewind(Download *d);

enum DownloadCheck {
	DOWNLOAD_FILE_WHOLE, /* complete: download_next_file() */
	DOWNLOAD_FILE_AGAIN, /* ends inside a record: fetch it once more (begin_file again) */
	DOWNLOAD_FILE_CUT,   /* not whole (ETag differs, or the second fetch differs): why */
	DOWNLOAD_FILE_ERROR, /* the spool cannot be written: download_error() */
};
/* Judges the file just received, answered with etag (NULL none). why gets the reason of a
 * DOWNLOAD_FILE_CUT. */
enum DownloadCheck download_check_file(Download *d, const char *etag, char *why, size_t whylen);

/* Flushes and closes the spool: every file is in. false: the reason in download_error(). */
MUST_CHECK bool download_finish(Download *d);

/* The spool file's path ("" none; borrowed). */
const char *download_path(const Download *d);
/* Why the last call failed ("" none; borrowed). */
const char *download_error(const Download *d);
/* Why download_feed refused data (our disk or the file's format: fetching again will not
 * help), "" none; cleared by download_create_spool. */
const char *download_sink_error(const Download *d);
/* The errno of the last spool call that failed because the spool could not be created or
 * written (a full disk, a quota, an I/O error: the worker's trouble, not the result's); 0
 * when the last failure, if any, was not that. Cleared by download_create_spool. */
int download_io_errno(const Download *d);

#endif
