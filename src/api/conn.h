/* conn.h - every client connection of the API, from accept to close. libevent 2.1 has no
 * connection cap (evhttp_set_max_connections is 2.2) and, per new connection, only the
 * bufferevent factory of evhttp_set_bevcb. So this module makes each connection's
 * bufferevent itself and, on the same loop turn, adopts the evhttp_connection built around
 * it to hear of its close. With that it
 *  - counts connections: one beyond api_max_connections is "refused": each of its requests
 *    gets 503 too_busy with Connection: close (limits.c asks conns_refused);
 *  - stops accepting at api_max_connections + CONN_REFUSE_SLACK (the kernel's backlog holds
 *    newer clients) and resumes below it, so refused clients that never read cannot use up
 *    the file descriptors; RLIMIT_NOFILE is raised to fit;
 *  - drops a client that has not sent a whole request api_timeout_s after connecting or
 *    after its last reply (evhttp's own timeout restarts with every byte, so a client
 *    trickling its headers would hold the connection for ever);
 *  - swaps libevent's own HTML error pages for our JSON errors (errpage.c);
 *  - tells a stream when its client went away (the connection's close callback is ours, so
 *    stream.c asks for it here). */
#ifndef AMCB_CONN_H
#define AMCB_CONN_H

#include <event2/http.h>

#include "api.h"
#include "common.h"

#define CONN_REFUSE_SLACK 64 /* connections beyond api_max_connections before accepting pauses */
#define CONN_FD_RESERVE 256  /* descriptors kept for PostgreSQL, Redis, files, logs */

typedef void (*ConnCloseFn)(struct evhttp_connection *evcon, void *arg);

/* Installs the bufferevent factory on api->http and raises RLIMIT_NOFILE (lowering the cap
 * with a warning when the hard limit is too low). NULL when out of memory. */
ConnSet *conns_new(Api *api);
/* Lets the set pause and resume accepting on this listening socket. */
void conns_listen(ConnSet *s, struct evhttp_bound_socket *bound);
/* Call before evhttp_free (which frees the listener and closes every connection). */
void conns_stop(ConnSet *s);
/* Call after evhttp_free. Accepts NULL. */
void conns_free(ConnSet *s);
/* True when evcon was opened beyond the cap: answer 503 and close. */
bool conns_refused(ConnSet *s, struct evhttp_connection *evcon);
/* fn (NULL to clear) runs inside evhttp_connection_free when evcon closes, as
 * evhttp_connection_set_closecb would. False when evcon is unknown (not ours). */
MUST_CHECK bool conns_on_close(ConnSet *s, struct evhttp_connection *evcon, ConnCloseFn fn,
			       void *arg);
/* The router has a whole request on req's connection: its deadline stops until the reply
 * has been sent. */
void conns_request_begins(ConnSet *s, struct evhttp_request *req);
/* The effective cap (api_max_connections, or lower when the file limit forced it). */
int conns_cap(const ConnSet *s);

#endif
