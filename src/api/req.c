/* req.c - the per-request context: path/query decoding, body parsing, field checks and the
 * one reply path (every reply frees the context). It does no routing and no authorisation. */
#include "req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fields.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"

void *req_ctx_new(Req *r, size_t size)
{
	void *ctx = calloc(1, size);

	if (ctx == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	r->ctx = ctx;
	r->ctx_free = free;
	return ctx;
}

void req_release(Req *r)
{
	if (r == NULL)
		return;
	r->api->inflight--;
	/* the status the reply set (0: streamed, answered by the stream) */
	stats_request_done(r, r->access.status, metrics_now() - r->started);
	if (!r->streamed) {
		r->access.route = r->route;
		memcpy(r->access.user_id, r->user_id, sizeof(r->access.user_id));
		access_log(&r->access, r->api->cfg.api_access_log);
	}
	/* a change made through this process is seen by its next read at once, before its
	 * notification comes back from PostgreSQL (readcache.h) */
	if (r->route != NULL && r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD)
		readcache_wrote(r->api->reads);
	/* this request built a reply others wait for: it is out (and cached, if it could be) */
	readcache_land(r->api->reads, r->flight);
	if (r->ctx != NULL && r->ctx_free != NULL)
		r->ctx_free(r->ctx);
	evhttp_clear_headers(&r->query);
	json_decref(r->body);
	free(r->path);
	free(r);
}

/* Splits the decoded path on '/', ignoring empty segments (so "/a//b/" == "/a/b"). */
static bool split_path(Req *r)
{
	char *p = r->path;

	while (*p != '\0') {
		while (*p == '/')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (r->nsegs == REQ_MAX_SEGS)
			return false;
		r->segs[r->nsegs++] = p;
		while (*p != '\0' && *p != '/')
			p++;
	}
	return true;
}

Req *req_new(Api *api, struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	Req *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		httpd_reply_error(req, 500, "internal", "out of memory", NULL);
		return NULL;
	}
	r->api = api;
	r->route_ix = -1;
	r->started = metrics_now();
	api->inflight++;
	r->req = req;
	r->method = evhttp_request_get_command(req);
	access_begin(&r->access, r->method);
	TAILQ_INIT(&r->query);
	r->path = evhttp_uridecode(path != NULL && *path != '\0' ? path : "/", 0, NULL);
	if (r->path == NULL || strlen(r->path) > 2048 || !split_path(r)) {
		req_fail(r, 400, "bad_request", NULL, "malformed request path");
		return NULL;
	}
	if (query != NULL && evhttp_parse_query_str(query, &r->query) != 0) {
		req_fail(r, 400, "bad_request", NULL, "malformed query string");
		return NULL;
	}
	return r;
}

void req_reply(Req *r, int status, json_t *body)
{
	r->access.status = status;
	r->access.bytes = httpd_reply_json(r->req, status, body);
	req_release(r);
}

const char *req_log_path(const Req *r)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	return path != NULL && *path != '\0' ? path : "?";
}

void req_fail(Req *r, int status, const char *code, const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* too_busy refusals are logged by limits.c and conn.c, a line per 10 s at most */
	if (status >= 500 && strcmp(code, "too_busy") != 0)
		log_warn("%s %s -> %d %s: %s", r->method == EVHTTP_REQ_GET ? "GET" : "request",
			 req_log_path(r), status, code, msg);
	r->access.status = status;
	r->access.bytes = httpd_reply_error(r->req, status, code, msg, field);
	req_release(r);
}

/* {"success": true} merged with obj (stolen); NULL on OOM. */
static json_t *success_body(json_t *obj)
{
	json_t *body = json_object();

	if (body == NULL || json_object_set_new(body, "success", json_true()) != 0 ||
	    (obj != NULL && json_object_update(body, obj) != 0)) {
		json_decref(body);
		json_decref(obj);
		return NULL;
	}
	json_decref(obj);
	return body;
}

void req_success(Req *r, int status, json_t *obj)
{
	json_t *body = success_body(obj);

	if (body == NULL)
		req_fail(r, 500, "internal", NULL, "out of memory");
	else
		req_reply(r, status, body);
}

static void cached_sent(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	rcbody_unref(arg);
}

void req_reply_cached(Req *r, RcBody *body)
{
	r->access.status = 200;
	r->access.bytes = httpd_reply_ref(r->req, 200, body->data, body->len, cached_sent, body);
	req_release(r);
}

static void text_sent(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

void req_reply_text(Req *r, int status, char *text, size_t len)
{
	r->access.status = status;
	r->access.bytes = httpd_reply_ref(r->req, status, text, len, text_sent, NULL);
	req_release(r);
}

void req_success_cache(Req *r, json_t *obj, const char *key, const char *owner, const RcStamp *st)
{
	json_t *body = success_body(obj);
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	RcBody *b = text != NULL ? rcbody_new(text, strlen(text)) : NULL;

	free(text);
	if (body == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (b == NULL) {
		/* served uncached: req_reply answers 500 itself if the body cannot be encoded */
		req_reply(r, 200, body);
		return;
	}
	json_decref(body);
	readcache_put(r->api->reads, key, owner, st, b);
	req_reply_cached(r, b);
}

bool req_may_see(const Req *r, const char *owner)
{
	return r->is_admin || owner[0] == '\0' || strcmp(owner, r->user_id) == 0;
}

/* Sends the valid entry of key when the caller may see it. */
static bool serve_cached(Req *r, const char *key)
{
	char owner[IDS_UUID_LEN + 1];
	RcBody *b = readcache_get(r->api->reads, key, owner, NULL);

	if (b == NULL)
		return false;
	if (!req_may_see(r, owner)) {
		rcbody_unref(b); /* not theirs: the route answers as it would uncached */
		return false;
	}
	req_reply_cached(r, b);
	return true;
}

/* The build r waited for landed: the cached reply, when there is one r may see; else r builds
 * its own, its route run again from the start (its state dropped), past the cache (or through
 * it, to confirm a tagged reply: readcache.h). */
static void woken(void *arg, const char *key)
{
	Req *r = arg;
	char owner[IDS_UUID_LEN + 1], tag[RC_TAG_LEN];
	RcBody *b = readcache_get(r->api->reads, key, owner, tag);
	bool seen = b != NULL && req_may_see(r, owner), to_confirm = seen && tag[0] != '\0';

	/* one look: a reply r may see is sent; a kept one its route confirms first (a running
	 * batch's status) makes the route run again through the cache; else r builds its own */
	if (seen && !to_confirm) {
		req_reply_cached(r, b);
		return;
	}
	rcbody_unref(b);
	if (r->ctx != NULL && r->ctx_free != NULL)
		r->ctx_free(r->ctx);
	r->ctx = NULL;
	r->ctx_free = NULL;
	r->cache_bypass = !to_confirm;
	if (r->handler != NULL)
		r->handler(r);
	else
		req_fail(r, 500, "internal", NULL, "no route to build the reply");
}

bool req_try_cached(Req *r, const char *key)
{
	if (r->cache_bypass)
		return false;
	if (serve_cached(r, key))
		return true;
	r->wait.fn = woken;
	r->wait.arg = r;
	return readcache_join(r->api->reads, key, &r->wait, &r->flight);
}

void req_fail_err(Req *r, const ValidateErr *e)
{
	req_fail(r, e->status, e->code, e->field[0] != '\0' ? e->field : NULL, "%s", e->message);
}

/* application/json or any application/...+json, parameters (charset) allowed. */
static bool is_json_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - 5, "+json", 5) == 0;
}

bool req_parse_body(Req *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = in != NULL ? evbuffer_get_length(in) : 0;
	size_t max = (size_t)r->api->cfg.max_body_bytes;
	const char *ct =
		evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
	const char *const *allowed;
	ValidateErr e;
	char *text;
	bool too_big = false;

	/* size first: a huge body is refused before anything looks at it */
	if (len > max) {
		req_fail(r, 413, "body_too_large", NULL, "request body exceeds %zu bytes", max);
		return false;
	}
	if (len > 0 && !is_json_type(ct)) {
		req_fail(r, 415, "unsupported_media_type", NULL,
			 "Content-Type must be application/json (got %.60s)",
			 ct != NULL ? ct : "none");
		return false;
	}
	/* the size was checked above, so too_big cannot be set here */
	if ((text = httpd_body(r->req, max, &too_big)) == NULL) {
		req_fail(r, 500, "internal", NULL, "could not read the request body");
		return false;
	}
	if (!validate_json_object(text, len, max, &r->body, &e)) {
		free(text);
		req_fail_err(r, &e);
		return false;
	}
	free(text);
	allowed = fields_allowed(r->method, r->route);
	if (allowed != NULL && !validate_known_fields(r->body, allowed, &e)) {
		req_fail_err(r, &e);
		return false;
	}
	return true;
}

const char *req_query(Req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

bool req_query_bool(Req *r, const char *name, bool def, bool *out)
{
	const char *v = req_query(r, name);

	*out = def;
	if (v == NULL || *v == '\0')
		return true;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*out = false;
		return true;
	}
	req_fail(r, 400, "invalid_parameter", name, "%s must be true or false", name);
	return false;
}

bool req_query_int(Req *r, const char *name, long def, long lo, long hi, long *out)
{
	const char *v = req_query(r, name);
	char *end;
	long n;

	if (v == NULL || *v == '\0') {
		*out = def;
		return true;
	}
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < lo || n > hi) {
		req_fail(r, 400, "invalid_parameter", name, "%s must be an integer from %ld to %ld",
			 name, lo, hi);
		return false;
	}
	*out = n;
	return true;
}

/* The checks live in validate.c, shared with the batch-execute body. */
static bool string_field(Req *r, const char *name, size_t maxlen, const char **out, bool need)
{
	ValidateErr e;

	if (validate_string(r->body, name, maxlen, need, out, &e))
		return true;
	req_fail_err(r, &e);
	return false;
}

bool req_opt_string(Req *r, const char *name, size_t maxlen, const char **out)
{
	return string_field(r, name, maxlen, out, false);
}

bool req_need_string(Req *r, const char *name, size_t maxlen, const char **out)
{
	return string_field(r, name, maxlen, out, true);
}

bool req_opt_bool(Req *r, const char *name, const char **out)
{
	json_t *v = json_object_get(r->body, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		req_fail(r, 400, "invalid_type", name, "%s must be a boolean", name);
		return false;
	}
	*out = json_is_true(v) ? "true" : "false";
	return true;
}
