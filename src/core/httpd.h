/* httpd.h - evhttp reply helpers: every API answer is JSON and goes through one of these,
 * exactly once per request. Errors: {"success":false,"error":{"code","message","field"}}. */
#ifndef AMCB_HTTPD_H
#define AMCB_HTTPD_H

#include <event2/http.h>
#include <jansson.h>

#include "common.h"

/* Takes ownership of body (decref'd here). Both return the body bytes sent (the access log). */
size_t httpd_reply_json(struct evhttp_request *req, int status, json_t *body);
/* Sends len bytes at data (a JSON text, newline included) as the body without copying them:
 * cleanup(data, len, arg) runs once libevent no longer needs them, or before this returns
 * when the reply could not be queued (then a bare 500 goes out and 0 is returned). */
size_t httpd_reply_ref(struct evhttp_request *req, int status, const char *data, size_t len,
		       void (*cleanup)(const void *data, size_t len, void *arg), void *arg);
/* field may be NULL (rendered as null). */
size_t httpd_reply_error(struct evhttp_request *req, int status, const char *code,
			 const char *message, const char *field);
/* The error envelope as compact JSON text (caller frees), NULL when out of memory or the
 * message is not UTF-8. For replies written without an evhttp_request (src/api/errpage.c). */
char *httpd_error_text(const char *code, const char *message, const char *field);
/* The reason phrase of an HTTP status ("Error" for unknown ones >= 400). */
const char *httpd_reason(int status);
/* Reads the whole request body as a NUL-terminated string; NULL if larger than max
 * (sets *too_big; checked before any copy) or out of memory (*too_big false). Caller frees.
 * evhttp has already buffered the body: also set evhttp_set_max_body_size() on the server
 * so oversized uploads are cut off while they arrive. */
char *httpd_body(struct evhttp_request *req, size_t max, bool *too_big);

#endif
