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
	struct curl_slist *headers;	/* owned; holds the bearer token, never printed */
	/* last failure, hiredis style: err is the CLI exit code (3 API, 4 unreachable) */
	int err;
	long status;			/* HTTP status of the last response, 0 if none */
	char errcode[64];
	char errstr[512];
	char curlerr[CURL_ERROR_SIZE];
} Http;

/* base_url and token are copied. False (with errstr) only on allocation failure. */
MUST_CHECK bool http_init(Http *h, const char *base_url, const char *token);
void http_cleanup(Http *h);

/* One request: method "GET"/"POST"/"DELETE", path starting with '/' and already escaped,
 * body borrowed (NULL: none). On success *out is the whole response object (caller
 * decrefs) whose "success" is true. On failure sets err/errcode/errstr and returns false. */
MUST_CHECK bool http_call(Http *h, const char *method, const char *path, const json_t *body,
			  json_t **out);

/* URL-escaped copy of s for a path segment or query value; caller frees with free(). */
char *http_escape(Http *h, const char *s);

/* Prints the last failure as "amcbatch: <message> (<code>)" to stderr. */
void http_report(const Http *h);

#endif
