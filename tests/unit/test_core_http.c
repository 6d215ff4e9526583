/* test_core_http.c - httpd replies and curl_ev transfers against each other on one loop:
 * an evhttp server on 127.0.0.1 (free port) answers through httpd_reply_json/_error and
 * httpd_body; curl_ev fetches in parallel, times out, aborts, and keeps CURLOPT_PRIVATE. */
#include "curl_ev.h"
#include "httpd.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
/* cases in this process, not one each (tap.h): its cases share the event loop, the HTTP server and the curl multi handle main() starts */
#define TAP_IN_PROCESS
#include "../tap.h"
#include "mstime.h"

static struct event_base *base;
static struct evhttp *http;
static int port;
static CurlEv *cm;

static void handle(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);

	if (strcmp(uri, "/json") == 0) {
		httpd_reply_json(req, 200, json_pack("{s:i, s:s}", "a", 1, "b", "ü"));
	} else if (strcmp(uri, "/err") == 0) {
		httpd_reply_error(req, 404, "not_found", "no such batch", NULL);
	} else if (strcmp(uri, "/errf") == 0) {
		httpd_reply_error(req, 400, "invalid", "bad name", "name");
	} else if (strcmp(uri, "/null") == 0) {
		httpd_reply_json(req, 200, NULL);
	} else if (strcmp(uri, "/echo") == 0) {
		bool too_big;
		char *body = httpd_body(req, 16, &too_big);

		if (body == NULL) {
			httpd_reply_error(req, too_big ? 413 : 500,
					  too_big ? "too_large" : "internal", "body", NULL);
			return;
		}
		httpd_reply_json(req, 200,
				 json_pack("{s:i, s:s}", "len", (int)strlen(body), "body", body));
		free(body);
	} else if (strcmp(uri, "/hang") == 0) {
		/* never answered; evhttp_free cleans it up */
	} else {
		httpd_reply_error(req, 404, "not_found", uri, NULL);
	}
}

/* ---- client side ---- */

typedef struct Fetch {
	char url[128];
	char body[1024];
	size_t len;
	char ctype[128];
	char cache[128];
	long status;
	CURLcode rc;
	int done;
	int *remaining;
	void *marker_seen;
} Fetch;

static size_t on_write(char *p, size_t sz, size_t n, void *arg)
{
	Fetch *f = arg;
	size_t len = sz * n;
	size_t room = sizeof(f->body) - 1 - f->len;
	size_t take = len < room ? len : room;

	memcpy(f->body + f->len, p, take);
	f->len += take;
	f->body[f->len] = '\0';
	return len;
}

static void grab_header(char *dst, size_t dn, const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);

	if (len > nl && strncasecmp(line, name, nl) == 0) {
		size_t vlen = len - nl;

		while (vlen > 0 && (line[nl + vlen - 1] == '\r' || line[nl + vlen - 1] == '\n'))
			vlen--;
		snprintf(dst, dn, "%.*s", (int)vlen, line + nl);
	}
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	Fetch *f = arg;

	grab_header(f->ctype, sizeof(f->ctype), p, sz * n, "Content-Type: ");
	grab_header(f->cache, sizeof(f->cache), p, sz * n, "Cache-Control: ");
	return sz * n;
}

static void on_done(CURL *easy, CURLcode rc, void *priv)
{
	Fetch *f = priv;
	void *marker = NULL;

	f->rc = rc;
	f->done++;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&marker);
	f->marker_seen = marker;
	curl_easy_cleanup(easy);
	if (f->remaining != NULL && --*f->remaining == 0)
		event_base_loopbreak(base);
}

static CURL *make_easy(Fetch *f, const char *path, const char *post, long timeout_ms)
{
	CURL *e = curl_easy_init();

	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(e, CURLOPT_URL, f->url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)f); /* the caller's, untouched */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (post != NULL)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	return e;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
	event_base_loopbreak(base);
}

static bool run_until(int *remaining, int ms)
{
	bool expired = false;
	struct event *t = evtimer_new(base, on_deadline, &expired);
	struct timeval tv = mstime_tv(ms);

	evtimer_add(t, &tv);
	while (*remaining > 0 && !expired)
		event_base_dispatch(base);
	event_free(t);
	return *remaining == 0;
}

static json_t *parse(const Fetch *f)
{
	return json_loads(f->body, 0, NULL);
}

static void test_json_replies(void)
{
	static Fetch f[5];
	const char *paths[] = { "/json", "/err", "/errf", "/null", "/nope" };
	int remaining = 5;

	memset(f, 0, sizeof(f));
	for (int i = 0; i < 5; i++) {
		f[i].remaining = &remaining;
		assertf(curlev_add(cm, make_easy(&f[i], paths[i], NULL, 5000), on_done, &f[i]),
			"add %s", paths[i]);
	}
	assertf(curlev_running(cm) == 5, "running %d", curlev_running(cm));
	assertf(run_until(&remaining, 5000), "timed out, %d left", remaining);
	assertf(curlev_running(cm) == 0, "running %d after all done", curlev_running(cm));
	for (int i = 0; i < 5; i++) {
		assertf(f[i].rc == CURLE_OK && f[i].done == 1, "%s rc %d", paths[i], f[i].rc);
		assertf(strcmp(f[i].ctype, "application/json") == 0, "%s ctype %s", paths[i],
			f[i].ctype);
		assertf(strcmp(f[i].cache, "no-store") == 0, "%s cache %s", paths[i], f[i].cache);
		assertf(f[i].marker_seen == &f[i], "%s CURLOPT_PRIVATE clobbered", paths[i]);
	}
	json_t *j = parse(&f[0]);

	assertf(f[0].status == 200 && j != NULL &&
			json_integer_value(json_object_get(j, "a")) == 1 &&
			strcmp(json_string_value(json_object_get(j, "b")), "ü") == 0,
		"/json %s", f[0].body);
	json_decref(j);

	j = parse(&f[1]);
	json_t *err = json_object_get(j, "error");

	assertf(f[1].status == 404, "/err status %ld", f[1].status);
	assertf(j != NULL && json_is_false(json_object_get(j, "success")), "/err success %s",
		f[1].body);
	assertf(err != NULL &&
			strcmp(json_string_value(json_object_get(err, "code")), "not_found") == 0 &&
			strcmp(json_string_value(json_object_get(err, "message")),
			       "no such batch") == 0 &&
			json_is_null(json_object_get(err, "field")),
		"/err body %s", f[1].body);
	json_decref(j);

	j = parse(&f[2]);
	err = json_object_get(j, "error");
	assertf(f[2].status == 400 && err != NULL &&
			strcmp(json_string_value(json_object_get(err, "field")), "name") == 0,
		"/errf %ld %s", f[2].status, f[2].body);
	json_decref(j);

	assertf(f[3].status == 500 && strstr(f[3].body, "\"success\":false") != NULL,
		"/null %ld %s", f[3].status, f[3].body);
	assertf(f[4].status == 404, "/nope %ld", f[4].status);
}

static void test_body_limit(void)
{
	static Fetch small, exact, big;
	int remaining = 3;

	memset(&small, 0, sizeof(small));
	memset(&exact, 0, sizeof(exact));
	memset(&big, 0, sizeof(big));
	small.remaining = exact.remaining = big.remaining = &remaining;
	assertf(curlev_add(cm, make_easy(&small, "/echo", "hello", 5000), on_done, &small), "add");
	assertf(curlev_add(cm, make_easy(&exact, "/echo", "0123456789abcdef", 5000), on_done,
			   &exact),
		"add");
	assertf(curlev_add(cm, make_easy(&big, "/echo", "0123456789abcdefg", 5000), on_done, &big),
		"add");
	assertf(run_until(&remaining, 5000), "timed out");

	json_t *j = parse(&small);

	assertf(small.status == 200 && j != NULL &&
			json_integer_value(json_object_get(j, "len")) == 5 &&
			strcmp(json_string_value(json_object_get(j, "body")), "hello") == 0,
		"echo %s", small.body);
	json_decref(j);
	assertf(exact.status == 200, "16 bytes with max 16: %ld", exact.status);
	assertf(big.status == 413 && strstr(big.body, "too_large") != NULL, "17 bytes: %ld %s",
		big.status, big.body);
}

static void test_many_parallel(void)
{
	static Fetch f[60];
	int remaining = 60;

	memset(f, 0, sizeof(f));
	for (int i = 0; i < 60; i++) {
		f[i].remaining = &remaining;
		assertf(curlev_add(cm, make_easy(&f[i], "/json", NULL, 5000), on_done, &f[i]),
			"add");
	}
	assertf(run_until(&remaining, 10000), "timed out, %d left", remaining);
	int ok = 0;

	for (int i = 0; i < 60; i++)
		ok += f[i].rc == CURLE_OK && f[i].status == 200 && f[i].done == 1;
	assertf(ok == 60, "%d of 60 ok", ok);
}

static void test_timeout_and_remove(void)
{
	static Fetch slow, aborted, after;
	int remaining = 1, remaining_after = 1;
	CURL *ab;

	memset(&slow, 0, sizeof(slow));
	memset(&aborted, 0, sizeof(aborted));
	memset(&after, 0, sizeof(after));
	slow.remaining = &remaining;
	ab = make_easy(&aborted, "/hang", NULL, 60000);
	assertf(curlev_add(cm, make_easy(&slow, "/hang", NULL, 200), on_done, &slow), "add slow");
	assertf(curlev_add(cm, ab, on_done, &aborted), "add aborted");
	assertf(run_until(&remaining, 5000), "timeout never fired");
	assertf(slow.rc == CURLE_OPERATION_TIMEDOUT, "rc %d", slow.rc);
	assertf(curlev_running(cm) == 1, "running %d", curlev_running(cm));
	curlev_remove(cm, ab);
	assertf(curlev_running(cm) == 0, "running %d after remove", curlev_running(cm));
	curl_easy_cleanup(ab);
	curlev_remove(cm, ab); /* unknown handle: ignored (pointer only compared) */

	/* the multi handle still works afterwards, and the aborted one never completes */
	after.remaining = &remaining_after;
	assertf(curlev_add(cm, make_easy(&after, "/json", NULL, 5000), on_done, &after), "add");
	assertf(run_until(&remaining_after, 5000), "timed out");
	assertf(after.status == 200, "after %ld", after.status);
	assertf(aborted.done == 0, "aborted transfer called back");
}

static void test_free_with_running(void)
{
	static Fetch f;
	CurlEv *m2 = curlev_new(base);
	CURL *e;
	int never = 1;

	memset(&f, 0, sizeof(f));
	e = make_easy(&f, "/hang", NULL, 60000);
	assertf(m2 != NULL && curlev_add(m2, e, on_done, &f), "add");
	run_until(&never, 200); /* let it connect and send */
	curlev_free(m2);
	assertf(f.done == 0, "callback after curlev_free");
	curl_easy_cleanup(e);
}

int main(void)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	log_init("test_core_http", LOG_LVL_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, handle, NULL);
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (bs == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &slen)) {
		printf("not ok - cannot bind 127.0.0.1\n");
		return 1;
	}
	port = ntohs(sin.sin_port);
	cm = curlev_new(base);
	RUN_TEST(test_json_replies);
	RUN_TEST(test_body_limit);
	RUN_TEST(test_many_parallel);
	RUN_TEST(test_timeout_and_remove);
	RUN_TEST(test_free_with_running);
	curlev_free(cm);
	evhttp_free(http);
	event_base_free(base);
	curl_global_cleanup();
	return tap_done();
}
