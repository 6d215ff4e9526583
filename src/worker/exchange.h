/* exchange.h - one HTTP exchange of the worker on curl_ev, with bounded retries (backoff with
 * jitter, Retry-After on 429) for requests that are safe to repeat. No AMC knowledge here. */
#ifndef AMCB_EXCHANGE_H
#define AMCB_EXCHANGE_H

#include <stdint.h>
#include <curl/curl.h>

#include "worker.h"

typedef struct ExchangeResult {
	CURLcode rc;      /* CURLE_OK when a response arrived */
	long status;      /* HTTP status, 0 if none */
	const char *body; /* NUL-terminated response body ("" with a sink), borrowed */
	size_t len;
	const char *error;   /* curl's error text when rc != CURLE_OK, else "" */
	long retry_after_ms; /* Retry-After of the last answer (seconds or HTTP-date), -1 if none */
	const char *etag;    /* the ETag header without its quotes, "" if none (borrowed) */
	bool sent;           /* the request may have reached the server (not a connect failure) */
} ExchangeResult;

/* Called once, on the loop thread. res is borrowed. Not called when w->exiting. */
typedef void (*ExchangeDoneFn)(Worker *w, const ExchangeResult *res, void *priv);
/* Receives the body instead of memory; returns false to abort the transfer. */
typedef bool (*ExchangeSinkFn)(const char *data, size_t n, void *priv);

enum ExchangeRetry {
	EXCHANGE_RETRY_NONE,       /* one attempt */
	EXCHANGE_RETRY_IDEMPOTENT, /* GET/PUT: 5xx, 429, network errors */
	EXCHANGE_RETRY_UNSENT, /* POST: only when the request surely did not run (no connection);
				 * a 429 is the caller's (it may wait in retry_wait instead) */
};

typedef struct ExchangeReq {
	const char *method; /* GET, POST, PUT */
	const char *url;
	const char *body;           /* NULL: none; copied */
	struct curl_slist *headers; /* taken (freed by http), may be NULL */
	enum ExchangeRetry retry;
	int max_tries;         /* attempts in total, >= 1 */
	bool fresh_connection; /* no reused connection: libcurl silently re-sends a request
					 * whose reused connection died, which must not happen to a
					 * create (its answer may be what was lost) */
	ExchangeSinkFn sink;   /* NULL: collect the body in memory */
	void *sink_priv;
	/* > 0: the request must be on its way by this mstime_mono(), else it is not sent at
	 * all (checked once connected, right before the request goes out; it then ends with
	 * sent false): a create whose intent is too old to vouch for it must not run */
	int64_t send_by_mono_ms;
	/* a result file: no limit on the whole transfer (a large file takes long), but it is
	 * dropped when it stalls (under 1 byte/s for http_timeout_ms) */
	bool bulk;
	int endpoint; /* enum AmcEndpoint (stats.h) for the metrics; 0: other */
} ExchangeReq;

/* Starts the exchange; false (headers freed, done not called) if it could not start. */
MUST_CHECK bool exchange_start(Worker *w, const ExchangeReq *req, ExchangeDoneFn done, void *priv);

/* Retry-After value (delta-seconds or IMF-fixdate) as milliseconds from now_s; -1 if invalid. */
long exchange_retry_after_ms(const char *value, long long now_s);

/* At shutdown, after curlev_free: frees every transfer without calling done. */
void exchange_free_all(Worker *w);

/* Appends "Name: value" to a header list; false if out of memory (list kept). */
MUST_CHECK bool exchange_header(struct curl_slist **list, const char *name, const char *value);

#endif
