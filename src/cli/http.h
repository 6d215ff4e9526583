/* http.h - the CLI's blocking JSON client for the amcbatch API (libcurl easy + jansson).
 * A short-lived command-line process may block; nothing here is for an event loop. */
#ifndef AMCB_CLI_HTTP_H
#define AMCB_CLI_HTTP_H

#include <curl/curl.h>
#include <jansson.h>

#include "common.h"

typedef struct Http {
	CURL *curl;
	char *base;			/* owned; base URL without trailing '/' */
	char *auth;			/* owned; "Authorization: Bearer ..." header, never printed */
	char *idem;			/* owned; "Idempotency-Key: ..." header for POSTs, or NULL */
	/* last failure, hiredis style: err is the CLI exit code (3 API, 4 unreachable) */
	int err;
	long status;			/* HTTP status of the last response, 0 if none */
	char errcode[64];
	char errstr[512];
	char curlerr[CURL_ERROR_SIZE];
	bool aborted;			/* the last stream's sink returned false */
} Http;

/* base_url and token are copied. False (with errstr) only on allocation failure. */
MUST_CHECK bool http_init(Http *h, const char *base_url, const char *token);
void http_cleanup(Http *h);

/* Sends "Idempotency-Key: key" with every later POST (key copied; NULL stops it), and lets
 * such a POST be repeated once after a connection error or timeout: the server answers the
 * repeat with the first request's outcome instead of acting twice. False on bad key/OOM. */
MUST_CHECK bool http_set_idempotency_key(Http *h, const char *key);

/* One request: method "GET"/"POST"/"DELETE", path starting with '/' and already escaped,
 * body borrowed (NULL: none). On success *out is the whole response object (caller
 * decrefs) whose "success" is true. On failure sets err/errcode/errstr and returns false.
 * A GET (and a POST with an idempotency key) that fails to connect or loses its
 * connection is repeated once. */
MUST_CHECK bool http_call(Http *h, const char *method, const char *path, const json_t *body,
			  json_t **out);

/* Receives a streamed body piece by piece; false aborts the transfer. */
typedef bool (*HttpSink)(const char *data, size_t len, void *ctx);
/* Forgets what the sink received, before a repeated request; false aborts. */
typedef bool (*HttpRewind)(void *ctx);

enum HttpStream {
	HTTP_STREAM_DONE,	/* a 2xx answer of content type `type` went to the sink */
	HTTP_STREAM_NO_ROUTE,	/* the server lacks the endpoint (404 not_found, 405, 501) */
	HTTP_STREAM_FAILED,	/* err/errcode/errstr say why; h->aborted if the sink said stop */
};

/* GET path, streaming the body to sink when the server answers 2xx with Content-Type
 * `type` (e.g. "text/csv"); other answers are read whole and judged like http_call. No
 * size limit and no total timeout on the stream, only on stalls. Repeated once after a
 * connection error, calling rewind first if the sink got data. */
enum HttpStream http_get_stream(Http *h, const char *path, const char *type, HttpSink sink,
				HttpRewind rewind, void *ctx);

/* GET /workflows/batch/<batch_id><tail> (tail: e.g. "/status", "/results?limit=10") and
 * borrow the answer's object `member`. On success *resp is owned by the caller and *obj
 * borrowed from it; on failure sets err/errcode/errstr and returns false. */
MUST_CHECK bool http_get_batch(Http *h, const char *batch_id, const char *tail,
			       const char *member, json_t **resp, json_t **obj);

/* URL-escaped copy of s for a path segment or query value; caller frees with free(). */
char *http_escape(Http *h, const char *s);

/* Prints the last failure as "amcbatch: <message> (<code>)" to stderr. */
void http_report(const Http *h);

#endif
