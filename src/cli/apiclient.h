/* apiclient.h - the CLI's blocking JSON client for the amcbatch API (libcurl easy + jansson).
 * A short-lived command-line process may block; nothing here is for an event loop. */
#ifndef AMCB_CLI_APICLIENT_H
#define AMCB_CLI_APICLIENT_H

#include <curl/curl.h>
#include <jansson.h>

#include "common.h"

typedef struct ApiClient {
	CURL *curl;
	char *base; /* owned; base URL without trailing '/' */
	char *auth; /* owned; "Authorization: Bearer ..." header, never printed */
	char *idem; /* owned; "Idempotency-Key: ..." header for POSTs, or NULL */
	/* last failure, hiredis style: err is the CLI exit code (3 API, 4 unreachable) */
	int err;
	long status; /* HTTP status of the last response, 0 if none */
	char errcode[64];
	char errstr[512];
	char curlerr[CURL_ERROR_SIZE];
	bool aborted; /* the last stream's sink returned false */
} ApiClient;

/* base_url and token are copied. False (with errstr) only on allocation failure. */
MUST_CHECK bool apiclient_init(ApiClient *h, const char *base_url, const char *token);
void apiclient_cleanup(ApiClient *h);

/* Sends "Idempotency-Key: key" with every later POST (key copied; NULL stops it), and lets
 * such a POST be repeated once after a connection error or timeout: the server answers the
 * repeat with the first request's outcome instead of acting twice. False on bad key/OOM. */
MUST_CHECK bool apiclient_set_idempotency_key(ApiClient *h, const char *key);

/* One request: method "GET"/"POST"/"DELETE", path starting with '/' and already escaped,
 * body borrowed (NULL: none). On success *out is the whole response object (caller
 * decrefs) whose "success" is true. On failure sets err/errcode/errstr and returns false.
 * A GET (and a POST with an idempotency key) that fails to connect or loses its
 * connection is repeated once. */
MUST_CHECK bool apiclient_call(ApiClient *h, const char *method, const char *path,
			       const json_t *body, json_t **out);

/* Receives a streamed body piece by piece; false aborts the transfer. */
typedef bool (*ApiSink)(const char *data, size_t len, void *ctx);
/* Forgets what the sink received, before a repeated request; false aborts. */
typedef bool (*ApiRewind)(void *ctx);

enum ApiStream {
	API_STREAM_DONE,     /* a 2xx answer of content type `type` went to the sink */
	API_STREAM_NO_ROUTE, /* the server lacks the endpoint (404 not_found, 405, 501) */
	API_STREAM_FAILED,   /* err/errcode/errstr say why; h->aborted if the sink said stop */
};

/* GET path, streaming the body to sink when the server answers 2xx with Content-Type
 * `type` (e.g. "text/csv"); other answers are read whole and judged like apiclient_call. No
 * size limit and no total timeout on the stream, only on stalls. Repeated once after a
 * connection error, calling rewind first if the sink got data. */
enum ApiStream apiclient_get_stream(ApiClient *h, const char *path, const char *type, ApiSink sink,
				    ApiRewind rewind, void *ctx);

/* GET /workflows/batch/<batch_id><tail> (tail: e.g. "/status", "/results?limit=10") and
 * borrow the answer's object `member`. On success *resp is owned by the caller and *obj
 * borrowed from it; on failure sets err/errcode/errstr and returns false. */
MUST_CHECK bool apiclient_get_batch(ApiClient *h, const char *batch_id, const char *tail,
				    const char *member, json_t **resp, json_t **obj);

/* URL-escaped copy of s for a path segment or query value; caller frees with free(). */
char *apiclient_escape(ApiClient *h, const char *s);
/* Appends "?name=escaped(value)", or "&..." once *path has a query, to *path (malloc'd; it
 * is replaced by a new one, the caller's to free). false on no memory, *path unchanged. */
MUST_CHECK bool apiclient_add_query(ApiClient *h, char **path, const char *name, const char *value);

/* Prints the last failure as "amcbatch: <message> (<code>)" to stderr. */
void apiclient_report(const ApiClient *h);

#endif
