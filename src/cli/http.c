/* http.c - blocking JSON requests against $AMCBATCH_URL with the bearer token: builds the
 * request, collects the body, and turns transport failures and API error objects into one
 * (exit code, code, message) triple. Knows nothing about individual endpoints. */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A response larger than this is refused rather than eating all memory. */
#define HTTP_BODY_MAX (512u * 1024 * 1024)

typedef struct Body {
	char *data;
	size_t len, cap;
	bool too_big;
} Body;

static void set_err(Http *h, int err, const char *code, const char *fmt, ...) PRINTF_LIKE(4, 5);

static void set_err(Http *h, int err, const char *code, const char *fmt, ...)
{
	va_list ap;

	h->err = err;
	snprintf(h->errcode, sizeof(h->errcode), "%s", code);
	va_start(ap, fmt);
	vsnprintf(h->errstr, sizeof(h->errstr), fmt, ap);
	va_end(ap);
}

bool http_init(Http *h, const char *base_url, const char *token)
{
	size_t n;
	char *auth;

	memset(h, 0, sizeof(*h));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		set_err(h, CLI_EXIT_INTERNAL, "internal", "curl_global_init failed");
		return false;
	}
	h->curl = curl_easy_init();
	h->base = strdup(base_url);
	if (!h->curl || !h->base)
		goto oom;
	n = strlen(h->base);
	while (n > 0 && h->base[n - 1] == '/')
		h->base[--n] = '\0';
	if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
		goto oom;
	h->headers = curl_slist_append(NULL, auth);
	/* the token copy is wiped before free: it should not linger in freed memory */
	memset(auth, 0, strlen(auth));
	free(auth);
	if (!h->headers)
		goto oom;
	if (!curl_slist_append(h->headers, "Accept: application/json"))
		goto oom;
	return true;
oom:
	set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
	return false;
}

void http_cleanup(Http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	free(h->base);
	h->curl = NULL;
	h->headers = NULL;
	h->base = NULL;
	curl_global_cleanup();
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Body *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n + 1 > HTTP_BODY_MAX) {
		b->too_big = true;
		return 0;	/* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
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

/* ": <first line of a non-JSON body>" for error messages, one line of at most 100 bytes
 * (an HTML error page from a proxy is only named, not dumped). Static buffer: single use. */
static const char *excerpt(const Body *b)
{
	static char buf[112];
	size_t i, n = 0;

	if (!b->len)
		return "";
	if (b->data[0] == '<')
		return " (an HTML page, not the API: check AMCBATCH_URL)";
	memcpy(buf, ": ", 2);
	n = 2;
	for (i = 0; i < b->len && n < 102 && b->data[i] != '\n' && b->data[i] != '\r'; i++)
		buf[n++] = ((unsigned char)b->data[i] < 0x20 || b->data[i] == 0x7f) ? ' ' : b->data[i];
	buf[n] = '\0';
	return buf;
}

/* Turns a non-success answer into err/errcode/errstr, using the API's error object when the
 * body has one ({"success":false,"error":{"code","message","field"}}). */
static void api_error(Http *h, json_t *doc, const Body *b)
{
	json_t *e = doc ? json_object_get(doc, "error") : NULL;
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *field = json_string_value(json_object_get(e, "field"));
	char fallback[32];

	if (!msg && e && json_is_string(e))
		msg = json_string_value(e);	/* tolerate {"error":"text"} */
	snprintf(fallback, sizeof(fallback), "http_%ld", h->status);
	if (!code || !*code)
		code = fallback;
	if (msg && field && *field)
		set_err(h, CLI_EXIT_API, code, "%s: %s", field, msg);
	else if (msg)
		set_err(h, CLI_EXIT_API, code, "%s", msg);
	else if (h->status >= 200 && h->status < 300)
		set_err(h, CLI_EXIT_API, "bad_response", "server answered HTTP %ld without success", h->status);
	else
		set_err(h, CLI_EXIT_API, code, "server answered HTTP %ld%s", h->status, excerpt(b));
}

bool http_call(Http *h, const char *method, const char *path, const json_t *body, json_t **out)
{
	CURL *c = h->curl;
	Body b = { 0 };
	char *url = NULL, *payload = NULL;
	struct curl_slist *hdrs = h->headers, *extra = NULL;
	json_t *doc = NULL;
	json_error_t jerr;
	CURLcode rc;
	bool ok = false;

	*out = NULL;
	h->err = 0;
	h->status = 0;
	h->errcode[0] = h->errstr[0] = h->curlerr[0] = '\0';
	if (asprintf(&url, "%s%s", h->base, path) < 0) {
		url = NULL;
		set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
		goto out;
	}
	/* reset keeps the connection cache, so --watch reuses one TCP connection */
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "amcbatch/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curlerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload) {
			set_err(h, CLI_EXIT_INTERNAL, "internal", "cannot encode request body");
			goto out;
		}
		/* a private header list: the shared one plus Content-Type */
		for (struct curl_slist *s = h->headers; s; s = s->next) {
			struct curl_slist *n = curl_slist_append(extra, s->data);

			if (!n) {
				set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
				goto out;
			}
			extra = n;
		}
		{
			struct curl_slist *n = curl_slist_append(extra, "Content-Type: application/json");

			if (!n) {
				set_err(h, CLI_EXIT_INTERNAL, "internal", "out of memory");
				goto out;
			}
			extra = n;
		}
		hdrs = extra;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	}
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") == 0 && !body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		const char *detail = h->curlerr[0] ? h->curlerr : curl_easy_strerror(rc);

		if (b.too_big)
			set_err(h, CLI_EXIT_API, "too_large", "response from %s is larger than %u MB",
				h->base, HTTP_BODY_MAX >> 20);
		else if (unreachable(rc))
			set_err(h, CLI_EXIT_UNREACHABLE, "unreachable", "cannot reach %s: %s", h->base, detail);
		else
			set_err(h, CLI_EXIT_UNREACHABLE, "transport", "request to %s failed: %s", h->base, detail);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	if (b.len)
		doc = json_loadb(b.data, b.len, 0, &jerr);
	if (h->status < 200 || h->status >= 300 || !doc || !json_is_true(json_object_get(doc, "success"))) {
		if (h->status >= 200 && h->status < 300 && !doc)
			set_err(h, CLI_EXIT_API, "bad_response", "server answered HTTP %ld with invalid JSON: %s",
				h->status, b.len ? jerr.text : "empty body");
		else
			api_error(h, doc, &b);
		goto out;
	}
	*out = doc;
	doc = NULL;
	ok = true;
out:
	json_decref(doc);
	curl_slist_free_all(extra);
	free(payload);
	free(url);
	free(b.data);
	return ok;
}

char *http_escape(Http *h, const char *s)
{
	char *e = curl_easy_escape(h->curl, s, 0);
	char *copy;

	if (!e)
		return NULL;
	/* a plain malloc'ed copy, so callers need not know about curl_free */
	copy = strdup(e);
	curl_free(e);
	return copy;
}

void http_report(const Http *h)
{
	cli_error(h->errcode[0] ? h->errcode : "error", "%s", h->errstr[0] ? h->errstr : "request failed");
}
