/* download.c - one execution's result files into one spool CSV: the file, the bytes as they
 * arrive (header skip, MD5, FNV-1a), and whether a file came whole. It sends no request and
 * decides no retry: poller.c does, and the Job owns the Download. */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "csv.h"
#include "ids.h"
#include "log.h"

#define FNV_OFFSET UINT64_C(14695981039346656037)
#define FNV_PRIME UINT64_C(1099511628211)

struct Download {
	char batch_id[IDS_BATCH_LEN + 1];
	char exec_id[IDS_EXEC_LEN + 1];
	FILE *spool;
	char spool_path[512];
	json_t *urls; /* downloadUrls array (owned) */
	size_t url_idx;
	CsvHeaderSkip header_skip; /* of the current file (files after the first) */
	bool file_started;
	int last_byte;                /* last byte written to the spool, -1 none */
	uint64_t file_len, file_hash; /* bytes of the current file as received, FNV-1a */
	EVP_MD_CTX *md5;    /* MD5 of the current file as received, for its ETag (owned) */
	long file_off;      /* spool offset where the current file began */
	int file_prev_last; /* last_byte before the current file */
	/* a file that ended inside a record is fetched again at once; arriving byte for byte
	 * the same it is taken as complete (download_check_file) */
	bool cut_again;             /* the current file is that second fetch */
	uint64_t cut_len, cut_hash; /* the first fetch's length and hash */
	char sink_msg[700];
	char err[700];
	int io_errno; /* the errno of the last spool call that failed (0: none, or not the disk) */
};

/* A spool call failed with e: the reason ("<what> <path>: <strerror>") into msg, e kept for
 * download_io_errno (the worker's disk, not the result: poller.c waits instead of failing). */
static void spool_failed(Download *d, char *msg, size_t len, const char *what, int e)
{
	d->io_errno = e;
	snprintf(msg, len, "%s %s: %s", what, d->spool_path, strerror(e));
}

Download *download_new(const char *batch_id, const char *exec_id)
{
	Download *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	snprintf(d->batch_id, sizeof(d->batch_id), "%s", batch_id);
	snprintf(d->exec_id, sizeof(d->exec_id), "%s", exec_id);
	d->last_byte = -1;
	return d;
}

void download_discard(Download *d)
{
	if (d == NULL)
		return;
	if (d->spool != NULL) {
		fclose(d->spool);
		d->spool = NULL;
	}
	if (d->spool_path[0]) {
		if (unlink(d->spool_path) != 0 && errno != ENOENT)
			elog_warn(d->batch_id, d->exec_id, "cannot remove %s: %s", d->spool_path,
				  strerror(errno));
		d->spool_path[0] = '\0';
	}
}

void download_free(Download *d)
{
	if (d == NULL)
		return;
	download_discard(d);
	json_decref(d->urls);
	EVP_MD_CTX_free(d->md5);
	free(d);
}

/* A spool file per claim, created anew (O_EXCL) in the worker's private directory: two
 * claims of one execution never write one file, and nobody else can plant one there. */
bool download_create_spool(Download *d, const char *dir, const char *claim)
{
	int fd;
	download_discard(d);
	snprintf(d->spool_path, sizeof(d->spool_path), "%s/%s-%s-%s.csv", dir, d->batch_id,
		 d->exec_id, claim);
	if ((fd = open(d->spool_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    (d->spool = fdopen(fd, "wb")) == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		spool_failed(d, d->err, sizeof(d->err), "creating", e);
		d->spool_path[0] = '\0';
		errno = e;
		return false;
	}
	d->url_idx = 0;
	d->last_byte = -1;
	d->sink_msg[0] = '\0';
	d->io_errno = 0;
	return true;
}

void download_set_urls(Download *d, json_t *urls)
{
	json_decref(d->urls);
	d->urls = json_incref(urls);
}

bool download_resumable(const Download *d, const json_t *urls)
{
	return d != NULL && d->spool != NULL && d->urls != NULL &&
	       json_array_size(urls) == json_array_size(d->urls) &&
	       d->url_idx < json_array_size(urls);
}

size_t download_index(const Download *d)
{
	return d->url_idx;
}

size_t download_count(const Download *d)
{
	return json_array_size(d->urls);
}

const char *download_url(const Download *d)
{
	return json_string_value(json_array_get(d->urls, d->url_idx));
}

void download_next_file(Download *d)
{
	d->url_idx++;
}

const char *download_path(const Download *d)
{
	return d->spool_path;
}

const char *download_error(const Download *d)
{
	return d->err;
}

int download_io_errno(const Download *d)
{
	return d != NULL ? d->io_errno : 0;
}

const char *download_sink_error(const Download *d)
{
	return d->sink_msg;
}

/* Appends one result file's bytes to the spool. Files after the first lose their header
 * record (csv_header_skip). */
bool download_feed(const char *data, size_t n, void *priv)
{
	Download *d = priv;

	d->file_len += n;
	EVP_DigestUpdate(d->md5, data, n);
	for (size_t i = 0; i < n; i++)
		d->file_hash = (d->file_hash ^ (unsigned char)data[i]) * FNV_PRIME;
	if (!d->file_started) {
		d->file_started = true;
		if (n >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
			snprintf(d->sink_msg, sizeof(d->sink_msg),
				 "result file is gzip-compressed (not supported)");
			return false;
		}
	}
	if (!d->header_skip.done) {
		size_t skip = csv_header_skip(&d->header_skip, data, n);
		data += skip;
		n -= skip;
		if (n == 0)
			return true;
	}
	if (n > 0 && fwrite(data, 1, n, d->spool) != n)
		goto ioerr;
	if (n > 0)
		d->last_byte = (unsigned char)data[n - 1];
	return true;
ioerr:
	spool_failed(d, d->sink_msg, sizeof(d->sink_msg), "writing", errno);
	return false;
}

bool download_rewind(Download *d)
{
	if (fflush(d->spool) != 0 || ftruncate(fileno(d->spool), d->file_off) != 0 ||
	    fseek(d->spool, d->file_off, SEEK_SET) != 0) {
		spool_failed(d, d->err, sizeof(d->err), "rewinding", errno);
		return false;
	}
	d->last_byte = d->file_prev_last;
	return true;
}

bool download_begin_file(Download *d, bool again)
{
	if (again) {
		if (!download_rewind(d))
			return false;
	} else {
		d->cut_again = false;
		if ((d->file_off = ftell(d->spool)) < 0) {
			spool_failed(d, d->err, sizeof(d->err), "writing", errno);
			return false;
		}
	}
	d->file_prev_last = d->last_byte;
	d->file_started = false;
	d->file_len = 0;
	d->file_hash = FNV_OFFSET;
	if ((d->md5 == NULL && (d->md5 = EVP_MD_CTX_new()) == NULL) ||
	    EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) != 1) {
		snprintf(d->err, sizeof(d->err), "cannot start an MD5 digest");
		return false;
	}
	/* files after the first repeat the header: it is dropped */
	d->header_skip.done = d->url_idx == 0;
	d->header_skip.in_quote = false;
	return true;
}

enum EtagCheck { ETAG_NONE, ETAG_MATCHES, ETAG_DIFFERS };

/* The file just received against its ETag, when that is an MD5 (32 hex digits: an object put
 * in one piece; a multipart upload's ETag is not its MD5 and proves nothing). */
static enum EtagCheck etag_check(Download *d, const char *etag)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	if (etag == NULL || strlen(etag) != 32 || strspn(etag, "0123456789abcdefABCDEF") != 32)
		return ETAG_NONE;
	if (EVP_DigestFinal_ex(d->md5, md, &n) != 1 || n != 16)
		return ETAG_NONE;
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return strcasecmp(hex, etag) == 0 ? ETAG_MATCHES : ETAG_DIFFERS;
}

/* A whole file without its final line break: the next file's first record (or the spool's
 * end) must start a line. False when the spool cannot be written. */
static bool end_line(Download *d)
{
	if (d->last_byte == '\n' || d->last_byte == -1)
		return true;
	if (fputc('\n', d->spool) == EOF) {
		spool_failed(d, d->err, sizeof(d->err), "writing", errno);
		return false;
	}
	d->last_byte = '\n';
	return true;
}

enum DownloadCheck download_check_file(Download *d, const char *etag, char *why, size_t whylen)
{
	/* S3 sends an object put in one piece with its MD5 as ETag: a body with another MD5 did
	 * not arrive whole, whatever its Content-Length said; one with the same MD5 is the file,
	 * a last record without its line break included. */
	switch (etag_check(d, etag)) {
	case ETAG_DIFFERS:
		snprintf(why, whylen, "result file %zu of %zu does not match its ETag (cut short)",
			 d->url_idx + 1, json_array_size(d->urls));
		return DOWNLOAD_FILE_CUT;
	case ETAG_MATCHES:
		return end_line(d) ? DOWNLOAD_FILE_WHOLE : DOWNLOAD_FILE_ERROR;
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
	if (d->file_started &&
	    (!d->header_skip.done || (d->last_byte != '\n' && d->last_byte != -1))) {
		if (!d->cut_again) {
			d->cut_again = true;
			d->cut_len = d->file_len;
			d->cut_hash = d->file_hash;
			return DOWNLOAD_FILE_AGAIN;
		}
		if (d->cut_len != d->file_len || d->cut_hash != d->file_hash) {
			snprintf(why, whylen,
				 "result file %zu of %zu ends inside a record (truncated)",
				 d->url_idx + 1, json_array_size(d->urls));
			return DOWNLOAD_FILE_CUT;
		}
		elog_warn(d->batch_id, d->exec_id,
			  "result file %zu of %zu came twice alike without "
			  "a final line break (%llu bytes): taken as complete",
			  d->url_idx + 1, json_array_size(d->urls),
			  (unsigned long long)d->file_len);
		if (!end_line(d))
			return DOWNLOAD_FILE_ERROR;
	}
	return DOWNLOAD_FILE_WHOLE;
}

bool download_finish(Download *d)
{
	bool ok = fflush(d->spool) == 0;
	int e = errno;
	if (fclose(d->spool) != 0 && ok) {
		ok = false;
		e = errno;
	}
	d->spool = NULL;
	if (!ok)
		spool_failed(d, d->err, sizeof(d->err), "writing", e);
	return ok;
}
