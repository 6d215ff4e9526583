/* faults.c - the gate's rolls happen in a fixed order (burst, 429, 5xx, hang), one draw per
 * non-trivial rate, so the same seed and request order give the same faults. Held requests
 * sit on timers, never on the loop: a hang delays that request only. */
#include "faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "httpd.h"
#include "log.h"
#include "mstime.h"

typedef struct Held {
	struct Faults *f;
	struct evhttp_request *req; /* owned by evhttp */
	struct event *ev;
	bool drop; /* close the connection instead of resuming */
	struct Held *prev, *next;
} Held;

struct Faults {
	struct event_base *base;
	Rng rng;
	FaultResume resume;
	void *arg;
	Held *held; /* every pending timer (owned) */
};

Faults *faults_new(struct event_base *base, uint64_t seed, FaultResume resume, void *arg)
{
	Faults *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->base = base;
	f->resume = resume;
	f->arg = arg;
	rng_seed(&f->rng, seed);
	return f;
}

static void unlink_held(Held *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		h->f->held = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	event_free(h->ev);
	free(h);
}

void faults_free(Faults *f)
{
	if (f == NULL)
		return;
	while (f->held != NULL) {
		struct evhttp_request *req = f->held->req;
		/* a request whose client went away is no connection's any more: ours to free;
		 * the others go with their connections in evhttp_free */
		if (evhttp_request_get_connection(req) == NULL)
			evhttp_request_free(req);
		unlink_held(f->held);
	}
	free(f);
}

void faults_seed(Faults *f, uint64_t seed)
{
	rng_seed(&f->rng, seed);
}

Rng *faults_rng(Faults *f)
{
	return &f->rng;
}

static void on_held(evutil_socket_t fd, short what, void *arg)
{
	Held *h = arg;
	Faults *f = h->f;
	struct evhttp_request *req = h->req;
	bool drop = h->drop;
	struct evhttp_connection *evcon;

	unlink_held(h);
	if (!drop) {
		f->resume(f->arg, req);
		return;
	}
	if ((evcon = evhttp_request_get_connection(req)))
		evhttp_connection_free(evcon); /* frees req with it */
	else
		evhttp_send_error(req, 500, NULL); /* client gone: this only frees req */
}

static bool hold(Faults *f, struct evhttp_request *req, int ms, bool drop)
{
	Held *h = calloc(1, sizeof(*h));
	struct timeval tv = mstime_tv(ms);

	if (h == NULL || (h->ev = evtimer_new(f->base, on_held, h)) == NULL ||
	    evtimer_add(h->ev, &tv) != 0) {
		if (h != NULL && h->ev != NULL)
			event_free(h->ev);
		free(h);
		return false;
	}
	h->f = f;
	h->req = req;
	h->drop = drop;
	h->next = f->held;
	if (f->held != NULL)
		f->held->prev = h;
	f->held = h;
	return true;
}

void faults_drop(Faults *f, struct evhttp_request *req)
{
	/* not from inside the request callback: evhttp still uses the connection there */
	if (!hold(f, req, 0, true)) {
		log_error("out of memory dropping a connection; answering 500 instead");
		evhttp_send_error(req, 500, NULL);
	}
}

static void amc_body(struct evhttp_request *req, int status, const char *details)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	httpd_reply_json(req, status, json_pack("{s:s, s:s}", "code", code, "details", details));
}

void faults_reply_429(struct evhttp_request *req, const Profile *p, int override_s,
		      const char *details)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	int secs = override_s >= 0 ? override_s : p->retry_after_s;
	char buf[64];

	if (p->retry_after_date) {
		time_t t = time(NULL) + secs;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	} else {
		snprintf(buf, sizeof(buf), "%d", secs);
	}
	evhttp_add_header(h, "Retry-After", buf);
	amc_body(req, 429, details);
}

static void s3_fault(struct evhttp_request *req, int status, const char *code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/xml");
	if (b != NULL)
		evbuffer_add_printf(
			b,
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
			"<Message>%s</Message></Error>\n",
			code, msg);
	evhttp_send_reply(req, status, status == 503 ? "Slow Down" : "Internal Server Error", b);
	if (b != NULL)
		evbuffer_free(b);
}

static void reply_5xx(struct evhttp_request *req, int code, bool s3)
{
	if (s3) {
		s3_fault(req, code, code == 503 ? "SlowDown" : "InternalError",
			 code == 503 ? "Please reduce your request rate."
				     : "We encountered an internal error. Please try again.");
		return;
	}
	switch (code) {
	case 502:
		httpd_reply_json(req, 502, json_pack("{s:s}", "message", "Bad Gateway"));
		break;
	case 504:
		/* API Gateway's own timeout answer, which clients recognise by this text */
		httpd_reply_json(req, 504,
				 json_pack("{s:s}", "message", "Endpoint request timed out"));
		break;
	case 503:
		amc_body(req, 503, "Service Unavailable");
		break;
	default:
		amc_body(req, code, "Internal Server Error");
		break;
	}
}

enum Gate faults_gate(Faults *f, ProfileStore *ps, Stats *stats, int region, const Profile *p,
		      struct evhttp_request *req, const char *inst, enum Endpoint ep)
{
	bool s3 = ep == EP_DOWNLOAD;

	if (!(p->endpoints & EP_MASK(ep)))
		return GATE_PASS;
	if (profiles_take_burst(ps, inst) || rng_roll(&f->rng, p->rate_429)) {
		stats_inc(stats, region, inst, ST_SENT_429);
		if (s3)
			s3_fault(req, 503, "SlowDown", "Please reduce your request rate.");
		else
			faults_reply_429(req, p, -1, "Too Many Requests");
		return GATE_REPLIED;
	}
	if (p->ncodes_5xx > 0 && rng_roll(&f->rng, p->rate_5xx)) {
		int code = p->codes_5xx[p->ncodes_5xx == 1
						? 0
						: rng_next(&f->rng) % (uint64_t)p->ncodes_5xx];
		stats_inc(stats, region, inst, ST_SENT_5XX);
		reply_5xx(req, code, s3);
		return GATE_REPLIED;
	}
	if (p->hang_ms > 0 && rng_roll(&f->rng, p->hang_rate)) {
		stats_inc(stats, region, inst, ST_HANGS);
		if (hold(f, req, p->hang_ms, false))
			return GATE_DEFERRED;
		log_error("out of memory holding a request; answering it now");
	}
	return GATE_PASS;
}
