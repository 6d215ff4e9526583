/* test_api_errpage.c - src/api/errpage.c without a server: libevent 2.1's HTML error pages
 * (as evhttp_send_error writes them, fresh and on a kept-alive connection) become our JSON
 * errors with a matching Content-Length; our own replies, partial pages and pages with
 * anything after them are left untouched. */
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "errpage.h"
#include "../tap.h"

static const ErrpageLimits lim = { 1048576, 65536 };

#define BODY \
	"<HTML><HEAD>\n<TITLE>413 Request Entity Too Large</TITLE>\n</HEAD><BODY>\n" \
	"<H1>Request Entity Too Large</H1>\n</BODY></HTML>\n"
/* libevent's header order for a fresh connection, and for one that answered before */
static const char page_fresh[] =
	"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/html\r\n"
	"Connection: close\r\nDate: Sat, 28 Nov 2026 17:15:50 GMT\r\nContent-Length: 120\r\n\r\n" BODY;
static const char page_400[] =
	"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: Sat, 28 Nov 2026 17:21:16 GMT\r\n"
	"Content-Type: text/html\r\nContent-Length: 94\r\n\r\n<HTML><HEAD>\n<TITLE>400 Bad Request"
	"</TITLE>\n</HEAD><BODY>\n<H1>Bad Request</H1>\n</BODY></HTML>\n";

static struct evbuffer *buf_of(const char *s, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, s, n);
	return b;
}

static char *text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	evbuffer_copyout(b, s, n);
	s[n] = '\0';
	return s;
}

/* Rewrites page; checks status line, headers, Content-Length and the JSON error code. */
static void expect_json(const char *page, int status, const char *code, const char *line)
{
	struct evbuffer *b = buf_of(page, strlen(page));
	int got = errpage_rewrite(b, &lim);
	char *out = text_of(b), *body = strstr(out, "\r\n\r\n");
	json_t *doc = body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
	const char *cl = strstr(out, "\r\nContent-Length: ");
	const char *c = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));

	assertf(got == status, "status %d, want %d", got, status);
	assertf(strncmp(out, line, strlen(line)) == 0, "status line: %.40s", out);
	assertf(strstr(out, "\r\nContent-Type: application/json\r\n") != NULL &&
			strstr(out, "text/html") == NULL && strstr(out, "<HTML>") == NULL,
		"%s", out);
	assertf(strstr(out, "\r\nConnection: close\r\n") != NULL &&
			strstr(out, "\r\nDate: Sat, 28 Nov 2026") != NULL,
		"kept headers: %s", out);
	assertf(body != NULL && cl != NULL && (size_t)atol(cl + 18) == strlen(body + 4),
		"Content-Length matches: %s", out);
	assertf(doc != NULL && json_is_false(json_object_get(doc, "success")) && c != NULL &&
			strcmp(c, code) == 0,
		"JSON error %s: %s", code, body != NULL ? body + 4 : "(none)");
	json_decref(doc);
	free(out);
	evbuffer_free(b);
}

static void test_rewrites(void)
{
	expect_json(page_fresh, 413, "body_too_large", "HTTP/1.1 413 Payload Too Large\r\n");
	expect_json(page_400, 400, "bad_request", "HTTP/1.1 400 Bad Request\r\n");
}

static void test_http10(void)
{
	char page[1024];

	snprintf(page, sizeof(page), "%s", page_400);
	page[7] = '0'; /* HTTP/1.0 */
	expect_json(page, 400, "bad_request", "HTTP/1.0 400 Bad Request\r\n");
}

static void test_others(void)
{
	static const char *const codes[][2] = {
		{ "501 Not Implemented", "not_implemented" },
		{ "417 Expectation Failed", "expectation_failed" },
		{ "500 Internal Server Error", "internal" },
		{ "502 Bad Gateway", "http_error" },
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char page[512], want[64];

		snprintf(page, sizeof(page),
			 "HTTP/1.1 %s\r\nContent-Type: text/html\r\n"
			 "Connection: close\r\nDate: Sat, 28 Nov 2026 00:00:00 GMT\r\n"
			 "Content-Length: 4\r\n\r\nhtml",
			 codes[i][0]);
		snprintf(want, sizeof(want), "HTTP/1.1 %.3s ", codes[i][0]);
		expect_json(page, atoi(codes[i][0]), codes[i][1], want);
	}
}

/* Anything that is not exactly one whole libevent page stays as it is. */
static void expect_untouched(const char *what, const char *s, size_t n)
{
	struct evbuffer *b = buf_of(s, n);
	int got = errpage_rewrite(b, &lim);
	char *out = text_of(b);

	assertf(got == 0 && evbuffer_get_length(b) == n && memcmp(out, s, n) == 0,
		"%s: rewritten (%d)", what, got);
	free(out);
	evbuffer_free(b);
}

static void test_untouched(void)
{
	static const char ours[] = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
				   "Content-Length: 2\r\n\r\n{}";
	static const char ok_html[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
				      "Content-Length: 4\r\n\r\nhtml";
	static const char chunk[] = "1f\r\nHTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n";
	static const char html_charset[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; "
					   "charset=utf-8\r\nContent-Length: 4\r\n\r\nhtml";
	char more[1024];

	expect_untouched("our JSON error", ours, strlen(ours));
	expect_untouched("an HTML 200 (the web UI)", ok_html, strlen(ok_html));
	expect_untouched("a chunk of a stream", chunk, strlen(chunk));
	expect_untouched("HTML with a charset (not libevent's)", html_charset,
			 strlen(html_charset));
	expect_untouched("headers only", page_400, strstr(page_400, "\r\n\r\n") + 4 - page_400);
	expect_untouched("half the body", page_fresh, strlen(page_fresh) - 10);
	snprintf(more, sizeof(more), "%sHTTP/1.1 200 OK\r\n", page_400);
	expect_untouched("a page with bytes after it", more, strlen(more));
	expect_untouched("empty", "", 0);
	expect_untouched("garbage", "HTTP/1.1 4x0 x\r\n\r\n", 18);
	expect_untouched("no Content-Length",
			 "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
			 "\r\n",
			 53);
}

int main(void)
{
	RUN_TEST(test_rewrites);
	RUN_TEST(test_http10);
	RUN_TEST(test_others);
	RUN_TEST(test_untouched);
	return tap_done();
}
