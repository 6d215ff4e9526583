/* sse.c - GET /workflows/batch/{b}/events: Server-Sent Events of one batch. The first event
 * ("status") is the full batch_status; then the batch hash in Redis is polled every 500 ms
 * and each change of its status or counters is pushed as a "progress" event; "end" follows
 * once the batch is terminal (or left Redis) and the stream closes. A ": keep-alive" comment
 * goes out after 15 s of silence. EventSource cannot send headers, so this route alone also
 * takes the API token as ?token= (mind that URLs end up in proxy logs). */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>

#include "auth.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "states.h"
#include "routes.h"
#include "stream.h"

#define POLL_MS 500
#define KEEPALIVE_POLLS 30    /* 15 s of silence */
#define STREAM_TIMEOUT_S 3600 /* the connection's idle limit while streaming */
#define SIG_MAX 256

/* The batch hash fields polled: status, total, then the count of each execution state. */
#define NFIELDS (2 + EXEC_STATE_COUNT)
static const char *field(size_t i)
{
	return i == 0 ? "status" : i == 1 ? "total" : exec_state_names[i - 2];
}

/* One subscription; owned by itself, freed by finish(). */
typedef struct Sse {
	Api *api;
	Stream *s;
	struct event *timer;
	char batch_id[IDS_BATCH_LEN + 1];
	char key[256];     /* the batch hash */
	char sig[SIG_MAX]; /* status and counters last sent */
	int quiet_polls;
	bool busy; /* a Redis reply is outstanding */
	bool gone;
	bool ending; /* the last event is on its way; finish once written */
} Sse;

static void finish(Sse *x)
{
	if (x->timer != NULL)
		event_free(x->timer);
	stream_end(x->s, false);
	free(x);
}

static void on_gone(void *arg)
{
	Sse *x = arg;

	x->gone = true;
	if (!x->busy)
		finish(x);
}

static void after_last(void *arg)
{
	finish(arg);
}

/* Sends "event: name\ndata: json\n\n" (data stolen; compact JSON has no newline). When last,
 * the stream ends once it is written. */
static void send_event(Sse *x, const char *name, json_t *data, bool last)
{
	char *text = data != NULL ? json_dumps(data, JSON_COMPACT) : NULL;
	struct evbuffer *b = evbuffer_new();
	bool ok = text != NULL && b != NULL &&
		  evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", name, text) > 0;

	json_decref(data);
	free(text);
	x->quiet_polls = 0;
	if (!ok) {
		log_error("SSE: out of memory");
		last = true;
	}
	if (last) {
		x->ending = true;
		event_del(x->timer);
	}
	if (!ok || !stream_send(x->s, b, last ? after_last : NULL)) {
		if (last && !x->gone)
			finish(x);
	}
	if (b != NULL)
		evbuffer_free(b);
}

static void on_hash(RConn *c, redisReply *reply, void *priv)
{
	Sse *x = priv;
	char sig[SIG_MAX] = "";
	const char *status;
	json_t *data;
	size_t n = NFIELDS;

	(void)c;
	x->busy = false;
	if (x->gone) {
		finish(x);
		return;
	}
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
		/* Redis is away for a moment: keep the stream, try again at the next tick */
		return;
	}
	if (reply->element[0]->type != REDIS_REPLY_STRING) {
		/* the batch left Redis: it ended long ago; the client reloads the status */
		send_event(x, "end", json_pack("{s:s}", "batch_id", x->batch_id), true);
		return;
	}
	status = reply->element[0]->str;
	data = json_pack("{s:s, s:s}", "batch_id", x->batch_id, "status", status);
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = reply->element[i];
		const char *v = e->type == REDIS_REPLY_STRING ? e->str : "";
		size_t len = strlen(sig);

		snprintf(sig + len, sizeof(sig) - len, "%s|", v);
		if (i > 0 && data != NULL)
			json_object_set_new(data, field(i), json_integer(strtoll(v, NULL, 10)));
	}
	if (strcmp(sig, x->sig) != 0) {
		memcpy(x->sig, sig, sizeof(sig));
		send_event(x, "progress", data, false);
		data = NULL;
	}
	json_decref(data);
	if (routes_batches_is_terminal(status))
		send_event(x, "end",
			   json_pack("{s:s, s:s}", "batch_id", x->batch_id, "status", status),
			   true);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	Sse *x = arg;
	const char *argv[2 + NFIELDS] = { "HMGET", x->key };

	(void)fd;
	(void)what;
	if (x->busy || x->ending)
		return;
	if (++x->quiet_polls >= KEEPALIVE_POLLS) {
		struct evbuffer *b = evbuffer_new();

		x->quiet_polls = 0;
		if (b != NULL && evbuffer_add_printf(b, ": keep-alive\n\n") > 0 &&
		    !stream_send(x->s, b, NULL))
			log_debug("SSE: keep-alive to a closed stream");
		if (b != NULL)
			evbuffer_free(b);
	}
	for (size_t i = 0; i < NFIELDS; i++)
		argv[2 + i] = field(i);
	if (api_redis_ready(x->api) &&
	    rconn_command(x->api->redis, on_hash, x, (int)ARRAY_LEN(argv), argv, NULL))
		x->busy = true;
}

static void begin(Req *r, json_t *status, const char *owner, const char *ver)
{
	(void)ver;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	const char *st = json_string_value(json_object_get(status, "status"));
	struct timeval tv = mstime_tv(POLL_MS);
	bool terminal = routes_batches_is_terminal(st);
	Sse *x = calloc(1, sizeof(*x));

	(void)owner; /* checked by routes_status_load */
	if (x == NULL || (x->timer = event_new(r->api->base, -1, EV_PERSIST, on_tick, x)) == NULL) {
		free(x);
		json_decref(status);
		req_fail(r, 500, "internal", NULL, "out of memory");
		return;
	}
	x->api = r->api;
	snprintf(x->batch_id, sizeof(x->batch_id), "%s", r->segs[2]);
	keys_batch(x->key, sizeof(x->key), r->api->cfg.redis_prefix, x->batch_id);
	evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	/* one stream per connection: the keep-alive timeout no longer applies afterwards */
	evhttp_add_header(h, "Connection", "close");
	if (evcon != NULL)
		evhttp_connection_set_timeout(evcon, STREAM_TIMEOUT_S);
	x->s = stream_start(r, 200, on_gone, x);
	if (x->s == NULL) {
		event_free(x->timer);
		free(x);
		json_decref(status);
		return;
	}
	send_event(x, "status", status, terminal);
	if (!terminal && !x->gone && event_add(x->timer, &tv) != 0) {
		log_error("SSE: cannot arm the poll timer");
		finish(x);
	}
}

static void authed(Req *r)
{
	if (!ids_is_batch(r->segs[2])) {
		req_fail(r, 404, "batch_not_found", NULL, "batch not found");
		return;
	}
	routes_status_load(r, r->segs[2], begin);
}

void sse_get(Req *r)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	const char *token = req_query(r, "token");

	if (evhttp_find_header(in, "Authorization") == NULL && token != NULL && *token != '\0' &&
	    strlen(token) <= 512) {
		char h[600];

		snprintf(h, sizeof(h), "Bearer %s", token);
		evhttp_add_header(in, "Authorization", h);
	}
	auth_check(r, false, authed);
}
