/* stream.c - chunked replies for long answers (CSV export, Server-Sent Events). libevent
 * detaches a request whose client vanished mid-reply instead of freeing it, so the stream
 * keeps the request until stream_end() even after the connection is gone. */
#include "stream.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "conn.h"
#include "httpd.h"
#include "log.h"

struct Stream {
	struct evhttp_request *req;      /* NULL once libevent freed it with its connection */
	struct evhttp_connection *evcon; /* NULL once closed */
	ConnSet *conns;                  /* holds the connection's close callback */
	bool tracked;                    /* conns knows evcon (else evhttp's closecb is ours) */
	StreamGoneFn gone;
	void *arg;
	StreamDrainedFn drained;
	bool is_gone;
	AccessRec access; /* the request's access log line, written by stream_end */
	bool log_access;
};

/* Runs inside evhttp_connection_free (called by conn.c's close callback). A request libevent
 * detached (the client went away mid-reply) is ours to free; one still attached is freed by
 * libevent right after. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	Stream *s = arg;

	(void)evcon;
	s->is_gone = true;
	s->evcon = NULL;
	if (s->req != NULL && evhttp_request_get_connection(s->req) != NULL)
		s->req = NULL;
	if (s->gone != NULL)
		s->gone(s->arg);
}

static void on_written(struct evhttp_connection *evcon, void *arg)
{
	Stream *s = arg;
	StreamDrainedFn fn = s->drained;

	(void)evcon;
	s->drained = NULL;
	if (fn != NULL && !s->is_gone)
		fn(s->arg);
}

Stream *stream_start(Req *r, int status, StreamGoneFn gone, void *arg)
{
	struct evhttp_request *req = r->req;
	Stream *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		req_fail(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	s->conns = r->api->conns;
	s->access = r->access;
	s->access.route = r->route;
	memcpy(s->access.user_id, r->user_id, sizeof(s->access.user_id));
	s->access.status = status;
	s->log_access = r->api->cfg.api_access_log;
	r->streamed = true;
	req_release(r);
	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	s->gone = gone;
	s->arg = arg;
	evhttp_send_reply_start(req, status, NULL);
	if (s->evcon != NULL) {
		/* a connection conn.c could not follow (out of memory at accept) has the
		 * close callback free */
		s->tracked = conns_on_close(s->conns, s->evcon, on_close, s);
		if (!s->tracked)
			evhttp_connection_set_closecb(s->evcon, on_close, s);
	}
	return s;
}

bool stream_send(Stream *s, struct evbuffer *buf, StreamDrainedFn drained)
{
	if (s->is_gone || s->req == NULL)
		return false;
	if (evbuffer_get_length(buf) == 0) {
		/* libevent sends nothing for an empty chunk (it would end the reply), so it
		 * would never report it written either: report it at once */
		if (drained != NULL)
			drained(s->arg);
		return true;
	}
	s->drained = drained;
	s->access.bytes += evbuffer_get_length(buf);
	evhttp_send_reply_chunk_with_cb(s->req, buf, on_written, s);
	return true;
}

void stream_end(Stream *s, bool abort)
{
	if (s == NULL)
		return;
	if (s->evcon != NULL) {
		if (!s->tracked)
			evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		else if (!conns_on_close(s->conns, s->evcon, NULL, NULL))
			log_error("stream: its connection was forgotten before it closed");
	}
	if (abort && s->evcon != NULL)
		evhttp_connection_free(s->evcon); /* frees the attached request too */
	else if (s->req != NULL)
		evhttp_send_reply_end(s->req); /* frees a detached request */
	access_log(&s->access, s->log_access);
	free(s);
}
