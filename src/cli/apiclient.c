/* apiclient.c - blocking requests against $AMCBATCH_URL with the bearer token: builds the
 * request, collects the JSON body (or streams a CSV one to a sink), repeats a request that
 * may be repeated once after a connection error, and turns transport failures and API
 * error objects into one (exit code, code, message) triple. Knows no individual endpoint. */
#include "apiclient.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "strbuf.h"

/* A response larger than this is refused rather than eating all memory. */
#define HTTP_BODY_MAX (512u * 1024 * 1024)

/* A collected answer; the transfer (Xfer) that owns it frees s. */
typedef struct Body {
	StrBuf s;
	bool too_big;
} Body;

static void set_err(ApiClient *h, int err, const char *code, const char *fmt, ...)
	PRINTF_LIKE(4, 5);

static void set_err(ApiClient *h, int err, const char *code, const char *fmt, ...)
{
	va_list ap;

	h->err = err;
	snprintf(h->errcode, sizeof(h->errcode), "%s", code);
	va_start(ap, fmt);
	vsnprintf(h->errstr, sizeof(h->errstr), fmt, ap);
	va_end(ap);
}

bool apiclient_init(ApiClient *h, const char *base_url, const char *token)
{
	size_t n;

	memset(h, 0, sizeof(*h));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		set_err(h, CLI_EXIT_INTERNAL, "internal", "curl_global_init failed");
		return false;
	}
	h->curl = curl_easy_init();
	h->base = strdup(base_url);
	if (h->curl == NULL || h->base == NULL)
		goto oom;
	n = strlen(h->base);
	while (n > 0 && h->base[n - 1] == '/')
		h->base[--n] = '\0';
	if (asprintf(&h->auth, "Authorization: Bearer %s", token) < 0) {
		h->auth = NULL;
		goto oom;
	}
	return true;
oom:
	set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
	return false;
}

/* Frees a header string after wiping it: a token should not linger in freed memory. */
static void wipe_free(char *s)
{
	if (s != NULL) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

void apiclient_cleanup(ApiClient *h)
{
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	wipe_free(h->auth);
	free(h->idem);
	free(h->base);
	h->curl = NULL;
	h->auth = h->idem = h->base = NULL;
	curl_global_cleanup();
}

bool apiclient_set_idempotency_key(ApiClient *h, const char *key)
{
	char *hdr = NULL;

	if (key != NULL) {
		/* a header value: printable ASCII only, so it cannot split the request */
		if (!args_idempotency_key_ok(key)) {
			set_err(h, CLI_EXIT_USAGE, "usage",
				"idempotency key must be 1-%d printable ASCII characters without blanks",
				ARGS_IDEM_KEY_MAX);
			return false;
		}
		if (asprintf(&hdr, "Idempotency-Key: %s", key) < 0) {
			set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
			return false;
		}
	}
	free(h->idem);
	h->idem = hdr;
	return true;
}

/* One transfer's receiving side: a body collected in memory, or (for a stream whose answer
 * turned out to be the wanted content type) handed to the sink as it arrives. */
typedef struct Xfer {
	ApiClient *h;
	Body body;
	const char *type; /* stream only answers of this content type; NULL: never */
	ApiSink sink;
	void *ctx;
	enum { RECV_UNDECIDED, RECV_BUFFER, RECV_STREAM } mode;
	size_t streamed; /* bytes given to the sink */
} Xfer;

static bool append(Body *b, const char *ptr, size_t n)
{
	if (b->s.len + n + 1 > HTTP_BODY_MAX) {
		b->too_big = true;
		return false;
	}
	strbuf_add(&b->s, ptr, n);
	return !b->s.oom;
}

/* True if the Content-Type value ct is type, parameters (";charset=...") ignored. */
static bool type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return ct != NULL && strncasecmp(ct, type, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Xfer *x = userdata;
	size_t n = size * nmemb;

	if (x->mode == RECV_UNDECIDED) {
		/* the headers are in by the first body byte: decide where the body goes */
		long status = 0;
		char *ct = NULL;

		curl_easy_getinfo(x->h->curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(x->h->curl, CURLINFO_CONTENT_TYPE, &ct);
		x->mode = x->sink != NULL && x->type != NULL && status >= 200 && status < 300 &&
					  type_is(ct, x->type)
				  ? RECV_STREAM
				  : RECV_BUFFER;
	}
	if (x->mode == RECV_STREAM) {
		if (!x->sink(ptr, n, x->ctx)) {
			x->h->aborted = true;
			return 0;
		}
		x->streamed += n;
		return n;
	}
	return append(&x->body, ptr, n) ? n : 0; /* 0 aborts with CURLE_WRITE_ERROR */
}

/* Curl codes that mean "never got an answer from the API" (exit 4) rather than a bad one. */
static bool unreachable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Failures worth one more try of a request that may be repeated: the server was
 * restarting, or closed a kept-alive connection just as we reused it. A timeout only
 * counts when the server dedups the repeat (idempotent POST): a slow GET stays slow. */
static bool retryable(CURLcode rc, bool timeout_too)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE: /* the connection broke mid-answer */
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		return timeout_too;
	default:
		return false;
	}
}

/* ": <first line of a non-JSON body>" for error messages, one line of at most 100 bytes
 * (an HTML error page from a proxy is only named, not dumped). Static buffer: single use. */
static const char *excerpt(const Body *b)
{
	static char buf[112];
	size_t i, n = 0;

	if (!b->s.len)
		return "";
	if (b->s.data[0] == '<')
		return " (an HTML page, not the API: check AMCBATCH_URL)";
	memcpy(buf, ": ", 2);
	n = 2;
	for (i = 0; i < b->s.len && n < 102 && b->s.data[i] != '\n' && b->s.data[i] != '\r'; i++)
		buf[n++] = ((unsigned char)b->s.data[i] < 0x20 || b->s.data[i] == 0x7f)
				   ? ' '
				   : b->s.data[i];
	buf[n] = '\0';
	return buf;
}

/* Turns a non-success answer into err/errcode/errstr, using the API's error object when the
 * body has one ({"success":false,"error":{"code","message","field"}}). */
static void api_error(ApiClient *h, json_t *doc, const Body *b)
{
	json_t *e = doc != NULL ? json_object_get(doc, "error") : NULL;
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *field = json_string_value(json_object_get(e, "field"));
	char fallback[32];

	if (msg == NULL && e != NULL && json_is_string(e))
		msg = json_string_value(e); /* tolerate {"error":"text"} */
	snprintf(fallback, sizeof(fallback), "http_%ld", h->status);
	if (code == NULL || !*code)
		code = fallback;
	if (msg != NULL && field != NULL && *field)
		set_err(h, CLI_EXIT_API, code, "%s: %s", field, msg);
	else if (msg)
		set_err(h, CLI_EXIT_API, code, "%s", msg);
	else if (h->status >= 200 && h->status < 300)
		set_err(h, CLI_EXIT_API, "bad_response", "server answered HTTP %ld without success",
			h->status);
	else
		set_err(h, CLI_EXIT_API, code, "server answered HTTP %ld%s", h->status, excerpt(b));
}

/* The request's header list: token, Accept, and for a body its type and the idempotency
 * key. NULL on allocation failure; caller frees with curl_slist_free_all(). */
static struct curl_slist *make_headers(const ApiClient *h, const char *accept, bool post, bool body)
{
	struct curl_slist *l = NULL, *n;
	char acc[128];

	snprintf(acc, sizeof(acc), "Accept: %s", accept);
	if ((n = curl_slist_append(l, h->auth)) == NULL)
		return NULL;
	l = n;
	if ((n = curl_slist_append(l, acc)) == NULL)
		goto oom;
	if (body && (n = curl_slist_append(l, "Content-Type: application/json")) == NULL)
		goto oom;
	if (post && h->idem != NULL && (n = curl_slist_append(l, h->idem)) == NULL)
		goto oom;
	return l;
oom:
	curl_slist_free_all(l);
	return NULL;
}

static void pause_before_retry(void)
{
	struct timespec ts = { 0, 300 * 1000000L };

	nanosleep(&ts, NULL);
}

/* Runs method on path (payload NULL: no body), repeating once after a connection error
 * if the method allows it; fills x and h->status. On a transport failure sets err and
 * returns false; an HTTP error status is the caller's to judge. */
static bool transfer(ApiClient *h, const char *method, const char *path, const char *payload,
		     const char *accept, Xfer *x, ApiRewind rewind)
{
	bool is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
	bool may_repeat = is_get || (is_post && h->idem != NULL);
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	CURLcode rc = CURLE_OK;
	bool ok = false;

	h->err = 0;
	h->status = 0;
	h->aborted = false;
	h->errcode[0] = h->errstr[0] = h->curlerr[0] = '\0';
	if (asprintf(&url, "%s%s", h->base, path) < 0) {
		url = NULL;
		goto oom;
	}
	hdrs = make_headers(h, accept, is_post, payload != NULL);
	if (hdrs == NULL)
		goto oom;
	for (int attempt = 0; attempt < 2; attempt++) {
		CURL *c = h->curl;

		if (attempt > 0) {
			/* what the first try received is worthless now */
			if (x->streamed > 0 && rewind == NULL) {
				set_err(h, CLI_EXIT_UNREACHABLE, "transport",
					"connection to %s lost mid-download (%s); the output is incomplete",
					h->base,
					h->curlerr[0] ? h->curlerr : curl_easy_strerror(rc));
				goto out;
			}
			if (x->streamed > 0 && !rewind(x->ctx)) {
				set_err(h, CLI_EXIT_INTERNAL, "write",
					"cannot restart the download: cannot empty the file");
				goto out;
			}
			strbuf_cleanup(&x->body.s);
			x->body.too_big = false;
			x->mode = RECV_UNDECIDED;
			x->streamed = 0;
			h->curlerr[0] = '\0';
			pause_before_retry();
		}
		/* reset keeps the connection cache, so --watch reuses one TCP connection */
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		if (x->sink) {
			/* a big export may take long: only a stalled one is given up */
			curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
			curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
		} else {
			curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
		}
		curl_easy_setopt(c, CURLOPT_USERAGENT, "amcbatch/" PACKAGE_VERSION);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curlerr);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
		if (payload) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)strlen(payload));
		} else if (is_post) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		}
		if (is_get)
			curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		else if (!is_post)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK || h->aborted || !may_repeat || !retryable(rc, is_post))
			break;
	}
	if (rc != CURLE_OK) {
		const char *detail = h->curlerr[0] ? h->curlerr : curl_easy_strerror(rc);

		if (h->aborted)
			set_err(h, CLI_EXIT_INTERNAL, "aborted", "download from %s stopped",
				h->base);
		else if (x->body.too_big)
			set_err(h, CLI_EXIT_API, "too_large",
				"response from %s is larger than %u MB", h->base,
				HTTP_BODY_MAX >> 20);
		else if (rc == CURLE_WRITE_ERROR)
			set_err(h, CLI_EXIT_INTERNAL, "internal",
				"out of memory reading the answer");
		else if (unreachable(rc))
			set_err(h, CLI_EXIT_UNREACHABLE, "unreachable", "cannot reach %s: %s",
				h->base, detail);
		else
			set_err(h, CLI_EXIT_UNREACHABLE, "transport", "request to %s failed: %s",
				h->base, detail);
		goto out;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	ok = true;
	goto out;
oom:
	set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
out:
	curl_slist_free_all(hdrs);
	free(url);
	return ok;
}

/* Judges a collected answer: true with *out = the document when it is a 2xx JSON object
 * with "success": true, else false with err set. */
static bool judge(ApiClient *h, const Body *b, json_t **out)
{
	json_error_t jerr;
	json_t *doc = b->s.len ? json_loadb(b->s.data, b->s.len, 0, &jerr) : NULL;

	if (h->status >= 200 && h->status < 300 && doc != NULL &&
	    json_is_true(json_object_get(doc, "success"))) {
		*out = doc;
		return true;
	}
	if (h->status >= 200 && h->status < 300 && doc == NULL)
		set_err(h, CLI_EXIT_API, "bad_response",
			"server answered HTTP %ld with invalid JSON: %s", h->status,
			b->s.len ? jerr.text : "empty body");
	else
		api_error(h, doc, b);
	json_decref(doc);
	return false;
}

bool apiclient_call(ApiClient *h, const char *method, const char *path, const json_t *body,
		    json_t **out)
{
	Xfer x = { .h = h };
	char *payload = NULL;
	bool ok = false;

	*out = NULL;
	if (body != NULL && (payload = json_dumps(body, JSON_COMPACT)) == NULL) {
		set_err(h, CLI_EXIT_INTERNAL, "internal", "cannot encode request body");
		return false;
	}
	if (transfer(h, method, path, payload, "application/json", &x, NULL))
		ok = judge(h, &x.body, out);
	free(payload);
	strbuf_cleanup(&x.body.s);
	return ok;
}

enum ApiStream apiclient_get_stream(ApiClient *h, const char *path, const char *type, ApiSink sink,
				    ApiRewind rewind, void *ctx)
{
	Xfer x = { .h = h, .type = type, .sink = sink, .ctx = ctx };
	enum ApiStream st = API_STREAM_FAILED;
	json_t *doc = NULL;
	char accept[96];

	/* JSON stays acceptable: errors come as JSON objects */
	snprintf(accept, sizeof(accept), "%s, application/json;q=0.5", type);
	if (!transfer(h, "GET", path, NULL, accept, &x, rewind))
		goto out;
	if (x.mode == RECV_STREAM ||
	    (x.mode == RECV_UNDECIDED && h->status >= 200 && h->status < 300)) {
		/* an empty 2xx body of the right type is a stream of nothing */
		char *ct = NULL;

		curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &ct);
		if (x.mode == RECV_STREAM || type_is(ct, type)) {
			st = API_STREAM_DONE;
			goto out;
		}
	}
	if (h->status == 405 || h->status == 501) {
		st = API_STREAM_NO_ROUTE;
		goto out;
	}
	if (!judge(h, &x.body, &doc)) {
		/* a 404 naming the endpoint, not the batch: an older server */
		if (h->status == 404 && strcmp(h->errcode, "not_found") == 0)
			st = API_STREAM_NO_ROUTE;
		goto out;
	}
	/* 2xx JSON where a stream was asked for: this server does not stream it */
	st = API_STREAM_NO_ROUTE;
out:
	json_decref(doc);
	strbuf_cleanup(&x.body.s);
	return st;
}

char *apiclient_escape(ApiClient *h, const char *s)
{
	char *e = curl_easy_escape(h->curl, s, 0);
	char *copy;

	if (e == NULL)
		return NULL;
	/* a plain malloc'ed copy, so callers need not know about curl_free */
	copy = strdup(e);
	curl_free(e);
	return copy;
}

bool apiclient_add_query(ApiClient *h, char **path, const char *name, const char *value)
{
	char *esc = apiclient_escape(h, value), *next;
	int n;

	if (esc == NULL)
		return false;
	n = asprintf(&next, "%s%c%s=%s", *path, strchr(*path, '?') != NULL ? '&' : '?', name, esc);
	free(esc);
	if (n < 0)
		return false;
	free(*path);
	*path = next;
	return true;
}

void apiclient_report(const ApiClient *h)
{
	cli_error(h->errcode[0] ? h->errcode : "error", "%s",
		  h->errstr[0] ? h->errstr : "request failed");
}

bool apiclient_get_batch(ApiClient *h, const char *batch_id, const char *tail, const char *member,
			 json_t **resp, json_t **obj)
{
	char *esc = apiclient_escape(h, batch_id), *path = NULL;
	bool ok;

	*obj = NULL;
	if (esc == NULL || asprintf(&path, "/workflows/batch/%s%s", esc, tail) < 0) {
		free(esc);
		set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
		return false;
	}
	ok = apiclient_call(h, "GET", path, NULL, resp);
	free(path);
	free(esc);
	if (!ok)
		return false;
	*obj = json_object_get(*resp, member);
	if (!json_is_object(*obj)) {
		json_decref(*resp);
		*resp = NULL;
		*obj = NULL;
		set_err(h, CLI_EXIT_API, "bad_response", "no \"%s\" object in the answer", member);
		return false;
	}
	return true;
}
