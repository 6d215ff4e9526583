/* stream.h - a chunked HTTP reply that outlives its Req: the export and the event stream
 * write it piece by piece, learn when each piece has left (back-pressure) and when the
 * client has gone, and end it exactly once. */
#ifndef AMCB_STREAM_H
#define AMCB_STREAM_H

#include <event2/buffer.h>
#include <event2/http.h>

#include "common.h"
#include "req.h"

typedef struct Stream Stream;

/* Called when the client went away (the connection closed or failed). The owner must then
 * stop writing and call stream_end() once it has no callback outstanding; it may do so
 * from inside this callback. */
typedef void (*StreamGoneFn)(void *arg);
/* Called once the last chunk passed to stream_send() has been written to the socket. */
typedef void (*StreamDrainedFn)(void *arg);

/* Frees the Req without replying (its evhttp request lives on in the stream) and sends
 * the status line and the headers already added to the request's output headers, chunked.
 * NULL on OOM (after a 500 reply; r is freed either way). */
Stream *stream_start(Req *r, int status, StreamGoneFn gone, void *arg);
/* Queues buf's whole contents as one chunk (buf is drained). drained (may be NULL) is
 * called when it is on the wire. False when the client is gone (nothing sent). */
MUST_CHECK bool stream_send(Stream *s, struct evbuffer *buf, StreamDrainedFn drained);
/* Sends the final chunk (or, when abort is true, closes the connection so the client sees
 * a truncated reply) and frees s. */
void stream_end(Stream *s, bool abort);

#endif
