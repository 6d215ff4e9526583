/* req.h - one context per HTTP request: the decoded path split into segments, the query
 * string, the authenticated user, the parsed body and the route's own state. It owns all of
 * them and is freed exactly once, by req_reply/req_fail (the single reply path). */
#ifndef AMCB_REQ_H
#define AMCB_REQ_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "access.h"
#include "api.h"
#include "common.h"
#include "ids.h"
#include "readcache.h"
#include "validate.h"

#define REQ_MAX_SEGS 8

typedef struct Req {
	Api *api;
	struct evhttp_request *req;
	enum evhttp_cmd_type method;
	char *path; /* decoded, owned; segs point into it */
	char *segs[REQ_MAX_SEGS];
	int nsegs;
	struct evkeyvalq query;         /* parsed query string */
	char user_id[IDS_UUID_LEN + 1]; /* set by auth */
	bool is_admin;
	const char *route; /* the matched route pattern (static), NULL before routing */
	int route_ix;      /* its index in the route table, -1 before routing */
	double started;    /* metrics_now() when the request was read */
	json_t *body;      /* parsed JSON body (owned), NULL if none */
	void *ctx;         /* route state, freed with ctx_free when the request ends */
	void (*ctx_free)(void *ctx);
	AccessRec access;               /* the access log line: status and bytes set by the reply */
	bool streamed;                  /* a Stream took the reply over and logs it at its end */
	void (*handler)(struct Req *r); /* the matched route's function (router.c) */
	RcWaiter wait;     /* while waiting for another request's build (readcache.h) */
	RcFlight *flight;  /* the build this request leads, landed when it ends */
	bool cache_bypass; /* woken without a reply for it: build, do not look again */
} Req;

/* Builds the context; NULL (after replying 400) when the URI cannot be decoded. */
Req *req_new(Api *api, struct evhttp_request *req);
/* Sends body (reference stolen) with status and frees r. */
void req_reply(Req *r, int status, json_t *body);
/* Sends the JSON error and frees r. message is printf-style; field may be NULL. */
void req_fail(Req *r, int status, const char *code, const char *field, const char *fmt, ...)
	PRINTF_LIKE(5, 6);
/* The request's path as sent (not decoded; never the query, which may carry a token), for
 * log lines. */
const char *req_log_path(const Req *r);
/* Sends the JSON error of a failed validation and frees r. */
void req_fail_err(Req *r, const ValidateErr *e);
/* Sends {"success": true} merged with the keys of obj (stolen) and frees r. */
void req_success(Req *r, int status, json_t *obj);
/* req_success(r, 200, obj), and the bytes sent are stored in the read cache under key with
 * owner ("" when the key names whose it is) and the stamp taken before the read. */
void req_success_cache(Req *r, json_t *obj, const char *key, const char *owner, const RcStamp *st);
/* Sends text (len bytes of JSON, its final newline included; malloc'ed, taken over and freed
 * once written) with status and frees r. */
void req_reply_text(Req *r, int status, char *text, size_t len);
/* Whether r may see a cached reply kept for owner ("" when the key names whose it is). */
bool req_may_see(const Req *r, const char *owner);
/* Sends a cached body (its reference is taken over) with status 200 and frees r. */
void req_reply_cached(Req *r, RcBody *body);
/* A reply from the read cache for key when there is one the caller may see (is_admin, or its
 * own: owner "" or r->user_id): sent, r freed, true. On a miss while another request builds
 * key: r waits for it (true; readcache.h), then gets its reply from the cache or runs
 * r->handler again to build its own. Else false: the caller builds the reply (and leads the
 * requests that miss key meanwhile). */
MUST_CHECK bool req_try_cached(Req *r, const char *key);
/* Frees r without replying (it leaves the in-flight count): for routes that answer through a
 * Stream or evhttp directly (they set r->access.status and .bytes first). Writes the access
 * log line unless r->streamed. Accepts NULL. */
void req_release(Req *r);

/* Reads and parses the body as a JSON object into r->body: Content-Type must be JSON (415),
 * the size within max_body_bytes (413), the object well-formed (400) and, when the route
 * has a field list (fields.c), free of unknown members (400 unknown_field). On failure it
 * has already replied and freed r: the caller must return at once. */
MUST_CHECK bool req_parse_body(Req *r);
/* Query parameter or NULL (borrowed from r). */
const char *req_query(Req *r, const char *name);
/* Parses an optional integer query parameter in [lo, hi] (default def). On a bad value it
 * has replied 400 and freed r. */
MUST_CHECK bool req_query_int(Req *r, const char *name, long def, long lo, long hi, long *out);
/* An optional boolean query parameter: true/1 or false/0 (default def); anything else has
 * replied 400 and freed r. */
MUST_CHECK bool req_query_bool(Req *r, const char *name, bool def, bool *out);

/* A zeroed route state of size bytes as r->ctx, freed (free) when the request ends; NULL after
 * replying 500 (and freeing r) when memory runs out: the caller must return at once. */
void *req_ctx_new(Req *r, size_t size);

/* Body field helpers: each returns false after replying 400 (and freeing r) when the field
 * has the wrong type. A missing/null optional field leaves *out NULL. */
MUST_CHECK bool req_opt_string(Req *r, const char *name, size_t maxlen, const char **out);
MUST_CHECK bool req_need_string(Req *r, const char *name, size_t maxlen, const char **out);
/* An optional boolean body member as SQL text: *out "true", "false" or NULL (absent/null). */
MUST_CHECK bool req_opt_bool(Req *r, const char *name, const char **out);

#endif
