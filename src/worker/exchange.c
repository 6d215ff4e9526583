/* exchange.c - worker HTTP transfers: builds the easy handle, collects the body (capped) or feeds
 * a sink, and repeats transient failures on a timer. One Exchange owns everything of a transfer. */
#include "exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "mstime.h"
#include "stats.h"
#include "strbuf.h"

#define HTTP_BODY_MAX (16u << 20) /* AMC JSON answers are small; CSVs go to a sink */
#define HTTP_BACKOFF_BASE_MS 1000
#define HTTP_BACKOFF_CAP_MS 60000

struct Exchange {
	Worker *w;
	Exchange *prev, *next; /* in w->transfers */
	CURL *easy;            /* NULL between attempts */
	bool in_multi;
	char *method, *url, *body;
	struct curl_slist *headers;
	enum ExchangeRetry retry;
	bool fresh;
	int max_tries, tries;
	int endpoint;      /* enum AmcEndpoint: the metrics' label */
	double attempt_at; /* metrics_now() when the current attempt started */
	ExchangeSinkFn sink;
	void *sink_priv;
	bool sink_failed;
	int64_t send_by; /* mstime_mono() deadline to send, 0 none */
	bool too_late;   /* the prereq check stopped the request before it went out */
	bool bulk;
	StrBuf resp; /* the body collected (no sink), owned here */
	bool too_big;
	long retry_after_ms; /* from a Retry-After header, -1 if none */
	char etag[80];       /* ETag without its quotes, "" if none (or too long) */
	char errbuf[CURL_ERROR_SIZE];
	struct event *timer;
	ExchangeDoneFn done;
	void *priv;
};

static void exchange_free(Exchange *h)
{
	Worker *w = h->w;
	if (h->prev)
		h->prev->next = h->next;
	else if (w->transfers == h)
		w->transfers = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	if (h->easy != NULL) {
		if (h->in_multi && !w->exiting)
			curlev_remove(w->curl, h->easy);
		curl_easy_cleanup(h->easy);
	}
	if (h->timer != NULL)
		event_free(h->timer);
	curl_slist_free_all(h->headers);
	free(h->method);
	free(h->url);
	free(h->body);
	strbuf_cleanup(&h->resp);
	free(h);
}

void exchange_free_all(Worker *w)
{
	while (w->transfers != NULL)
		exchange_free(w->transfers);
}

bool exchange_header(struct curl_slist **list, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = malloc(n);
	if (line == NULL)
		return false;
	snprintf(line, n, "%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(*list, line);
	free(line);
	if (l == NULL)
		return false;
	*list = l;
	return true;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	Exchange *h = arg;
	size_t n = size * nmemb;
	if (h->sink != NULL) {
		if (!h->sink(data, n, h->sink_priv)) {
			h->sink_failed = true;
			return 0; /* aborts with CURLE_WRITE_ERROR */
		}
		return n;
	}
	if (h->resp.len + n + 1 > HTTP_BODY_MAX) {
		h->too_big = true;
		return 0;
	}
	strbuf_add(&h->resp, data, n);
	return h->resp.oom ? 0 : n; /* 0 aborts with CURLE_WRITE_ERROR */
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm) */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

long exchange_retry_after_ms(const char *v, long long now_s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		char *end;
		long s = strtol(v, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (*end || s < 0)
			return -1;
		return s > 86400 ? 86400000L : s * 1000;
	}
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	int d, y, hh, mm, ss;
	char mon[4];
	if (sscanf(v, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &d, mon, &y, &hh, &mm, &ss) != 6)
		return -1;
	const char *p = strstr(months, mon);
	if (p == NULL || strlen(mon) != 3 || (p - months) % 3)
		return -1;
	long long t = days_from_civil(y, (unsigned)((p - months) / 3 + 1), (unsigned)d) * 86400 +
		      hh * 3600 + mm * 60 + ss;
	long long delta = t - now_s;
	if (delta < 0)
		delta = 0;
	return delta > 86400 ? 86400000L : (long)(delta * 1000);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	Exchange *h = arg;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:", etag[] = "etag:";
	if (n > sizeof(etag) - 1 && strncasecmp(data, etag, sizeof(etag) - 1) == 0) {
		const char *v = data + sizeof(etag) - 1, *end = data + n;
		while (v < end && (*v == ' ' || *v == '\t' || *v == '"'))
			v++;
		while (end > v &&
		       (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '"'))
			end--;
		if ((size_t)(end - v) < sizeof(h->etag)) {
			memcpy(h->etag, v, (size_t)(end - v));
			h->etag[end - v] = '\0';
		}
	}
	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char tmp[64];
		size_t len = n - (sizeof(name) - 1) < sizeof(tmp) - 1 ? n - (sizeof(name) - 1)
								      : sizeof(tmp) - 1;
		memcpy(tmp, data + sizeof(name) - 1, len);
		tmp[len] = '\0';
		tmp[strcspn(tmp, "\r\n")] = '\0';
		h->retry_after_ms = exchange_retry_after_ms(tmp, (long long)time(NULL));
	}
	return n;
}

static void on_done(CURL *easy, CURLcode rc, void *priv);

/* Called once connected, right before the request is sent (libcurl >= 7.80). */
static int on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
		     int conn_local_port)
{
	Exchange *h = arg;
	if (h->send_by > 0 && mstime_mono() >= h->send_by) {
		h->too_late = true;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* Only http(s): a URL from AMC (download links) must not reach file:// or other schemes. */
static bool set_protocols(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500
	return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	       curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	return curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
	       CURLE_OK;
#endif
}

static bool attempt(Exchange *h)
{
	Worker *w = h->w;
	h->tries++;
	h->attempt_at = metrics_now();
	strbuf_clear(&h->resp);
	h->too_big = false;
	h->too_late = false;
	h->retry_after_ms = -1;
	h->etag[0] = '\0';
	h->errbuf[0] = '\0';
	if ((h->easy = curl_easy_init()) == NULL)
		return false;
	CURL *e = h->easy;
	bool ok = curl_easy_setopt(e, CURLOPT_URL, h->url) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_WRITEDATA, h) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_HEADERDATA, h) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L) == CURLE_OK &&
		  set_protocols(e) &&
		  curl_easy_setopt(e, CURLOPT_USERAGENT, "amcbatch-worker/" PACKAGE_VERSION) ==
			  CURLE_OK;
	if (ok && h->bulk) {
		long stall_s = w->cfg.http_timeout_ms / 1000;
		ok = curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK &&
		     curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_s < 5 ? 5L : stall_s) ==
			     CURLE_OK;
	} else if (ok) {
		ok = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->cfg.http_timeout_ms) ==
		     CURLE_OK;
	}
	if (ok && h->send_by > 0)
		ok = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK &&
		     curl_easy_setopt(e, CURLOPT_PREREQDATA, h) == CURLE_OK;
	if (ok && h->fresh)
		ok = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK &&
		     curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) == CURLE_OK;
	if (ok && strcmp(h->method, "GET") != 0) {
		ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h->method) == CURLE_OK;
		if (ok && h->body != NULL)
			ok = curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body) == CURLE_OK;
		else if (ok && strcmp(h->method, "POST") == 0)
			ok = curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") == CURLE_OK;
	}
	if (!ok || !curlev_add(w->curl, e, on_done, h)) {
		curl_easy_cleanup(e);
		h->easy = NULL;
		return false;
	}
	h->in_multi = true;
	return true;
}

static void finish(Exchange *h, CURLcode rc, long status)
{
	ExchangeResult res = {
		.rc = rc,
		.status = status,
		.body = h->resp.data != NULL ? h->resp.data : "",
		.len = h->resp.len,
		.error = rc == CURLE_OK ? "" : (h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc)),
		.retry_after_ms = h->retry_after_ms,
		.etag = h->etag,
		.sent = !(rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
			  rc == CURLE_FAILED_INIT || h->too_late),
	};
	if (h->too_big)
		res.error = "response body too large";
	if (h->too_late)
		res.error = "not sent: its deadline passed before it could go out";
	h->done(h->w, &res, h->priv);
	exchange_free(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	Exchange *h = arg;
	if (!attempt(h))
		finish(h, CURLE_FAILED_INIT, 0);
}

/* Whether this outcome may be repeated, by the request's retry class. */
static bool retryable(const Exchange *h, CURLcode rc, long status)
{
	if (h->tries >= h->max_tries || h->sink_failed || h->too_big || h->too_late)
		return false;
	switch (h->retry) {
	case EXCHANGE_RETRY_IDEMPOTENT:
		return rc != CURLE_OK || status == 429 || status >= 500;
	case EXCHANGE_RETRY_UNSENT:
		return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
	case EXCHANGE_RETRY_NONE:
	default:
		return false;
	}
}

static int backoff_ms(const Exchange *h)
{
	if (h->retry_after_ms >= 0)
		return (int)(h->retry_after_ms > 300000 ? 300000 : h->retry_after_ms) + 100;
	int ms = HTTP_BACKOFF_BASE_MS << (h->tries - 1 < 6 ? h->tries - 1 : 6);
	if (ms > HTTP_BACKOFF_CAP_MS)
		ms = HTTP_BACKOFF_CAP_MS;
	unsigned r = 0;
	if (!ids_random(&r, sizeof(r)))
		r = 0;
	return ms / 2 + (int)(r % (unsigned)(ms / 2 + 1)); /* "equal jitter" */
}

static void on_done(CURL *easy, CURLcode rc, void *priv)
{
	Exchange *h = priv;
	long status = 0;
	h->in_multi = false;
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	h->easy = NULL;
	if (h->w->exiting) {
		exchange_free(h);
		return;
	}
	stats_amc_attempt(h->endpoint, status, metrics_now() - h->attempt_at);
	if (retryable(h, rc, status)) {
		int ms = backoff_ms(h);

		stats_amc_retry(h->endpoint);
		/* the query string of a pre-signed URL is a credential: not logged */
		log_warn("%s %.*s: %s, retry %d/%d in %d ms", h->method, (int)strcspn(h->url, "?"),
			 h->url, rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error", h->tries,
			 h->max_tries - 1, ms);
		if (status)
			log_debug("status was %ld", status);
		struct timeval tv = mstime_tv(ms);
		evtimer_add(h->timer, &tv);
		return;
	}
	finish(h, rc, status);
}

bool exchange_start(Worker *w, const ExchangeReq *req, ExchangeDoneFn done, void *priv)
{
	Exchange *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		curl_slist_free_all(req->headers);
		return false;
	}
	h->w = w;
	h->headers = req->headers;
	h->retry = req->retry;
	h->fresh = req->fresh_connection;
	h->max_tries = req->max_tries > 0 ? req->max_tries : 1;
	h->sink = req->sink;
	h->sink_priv = req->sink_priv;
	h->send_by = req->send_by_mono_ms;
	h->bulk = req->bulk;
	h->endpoint = req->endpoint;
	h->done = done;
	h->priv = priv;
	h->next = w->transfers;
	if (w->transfers != NULL)
		w->transfers->prev = h;
	w->transfers = h;
	if ((h->method = strdup(req->method)) == NULL || (h->url = strdup(req->url)) == NULL ||
	    (req->body != NULL && (h->body = strdup(req->body)) == NULL) ||
	    (h->timer = evtimer_new(w->base, on_timer, h)) == NULL || !attempt(h)) {
		exchange_free(h);
		return false;
	}
	return true;
}
