/* conn.c - the API's client connections from accept to close (see conn.h for what this
 * buys). How a connection is followed:
 *
 *   accept  evhttp calls on_accept (evhttp_set_bevcb) for the connection's bufferevent; we
 *           make it, count the connection, hold a reference to the bufferevent and queue
 *           the Conn on `pending`.
 *   adopt   on the same loop turn (the kick event), adopt() reads the evhttp_connection back
 *           from the bufferevent's callback argument -- evhttp passes its connection there;
 *           libevent 2.1 has no public getter -- and takes its close callback. A bufferevent
 *           whose callbacks are gone was dropped by evhttp before adoption (out of memory):
 *           the held reference kept it readable, dropping ours frees it.
 *   close   on_close runs inside evhttp_connection_free for every way a connection ends
 *           (client EOF, timeout, error page, Connection: close, evhttp_free).
 *
 * Adopted connections are indexed by their evhttp_connection (a chained hash on the
 * pointer), so a request finds its connection in O(1).
 *
 * Whole-request deadline: evhttp's own timeout (api_timeout_s) restarts on every byte read,
 * so a client trickling a header byte at a time would hold its connection for ever. Each
 * connection therefore has a deadline too: api_timeout_s from adoption, and again from the
 * end of each reply, until the router has a whole request (conns_request_begins); a client
 * that misses it is dropped. While a request is served (a stream may take an hour) none runs.
 *
 * libevent's own error pages: on_output sees every write into the connection's output
 * buffer. A reply that starts a buffer with an error status queues the Conn on `inspect`;
 * the kick runs before the next epoll turn can write the reply, and errpage_rewrite swaps a
 * libevent HTML page for JSON (our own replies are left as they are). */
#include "conn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include "errpage.h"
#include "limits.h"
#include "log.h"

typedef struct Conn Conn;

struct Conn {
	TAILQ_ENTRY(Conn) link;  /* in pending until adopted */
	TAILQ_ENTRY(Conn) ilink; /* in inspect while is_queued */
	Conn *hnext;             /* next in its index bucket once adopted */
	ConnSet *set;
	struct bufferevent *bev; /* evhttp's to free; ours to read while the Conn lives */
	struct evbuffer_cb_entry *out_cb;
	struct evhttp_connection *evcon; /* NULL until adopted */
	struct event deadline;           /* assigned at adoption */
	ConnCloseFn on_close;
	void *on_close_arg;
	bool refused;
	bool is_queued;
};

TAILQ_HEAD(ConnList, Conn);

struct ConnSet {
	Api *api;
	struct event *kick;              /* adopts pending connections, inspects error replies */
	struct evconnlistener *listener; /* NULL before conns_listen and after conns_stop */
	struct ConnList pending, inspect;
	Conn **index;           /* adopted connections by evcon, nbuckets chains */
	size_t nbuckets;        /* a power of two */
	struct timeval timeout; /* the whole-request deadline */
	ErrpageLimits lim;
	int count; /* open connections, refused ones included */
	int nrefused;
	int cap;  /* api_max_connections, maybe lowered to fit the file limit */
	int hard; /* accepting pauses at this many */
	bool paused;
	LogEvery refuse_log, pause_log; /* an overload logs a line per 10 s at most */
	bool log_resume;                /* the next resume is logged (after a logged pause) */
};

static void kick(ConnSet *s)
{
	event_active(s->kick, EV_TIMEOUT, 0);
}

static Conn **bucket(ConnSet *s, const struct evhttp_connection *evcon)
{
	/* Fibonacci hashing of the pointer; the low bits are alignment */
	uint64_t h = (uint64_t)(uintptr_t)evcon * UINT64_C(11400714819323198485);

	return &s->index[(h >> 32) & (s->nbuckets - 1)];
}

static Conn *find(ConnSet *s, const struct evhttp_connection *evcon)
{
	Conn *c;

	for (c = *bucket(s, evcon); c != NULL; c = c->hnext)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void unindex(ConnSet *s, Conn *c)
{
	Conn **p;

	for (p = bucket(s, c->evcon); *p != NULL; p = &(*p)->hnext)
		if (*p == c) {
			*p = c->hnext;
			return;
		}
}

static void set_paused(ConnSet *s, bool paused)
{
	if (s->listener == NULL || s->paused == paused)
		return;
	if ((paused ? evconnlistener_disable(s->listener) : evconnlistener_enable(s->listener)) !=
	    0) {
		log_error("cannot %s accepting connections", paused ? "pause" : "resume");
		return;
	}
	s->paused = paused;
	/* under a flood accepting pauses and resumes with every close */
	if (paused) {
		long n;

		if (log_due(&s->pause_log, 10, &n)) {
			log_warn(
				"%d connections open (%d of them refused, api_max_connections %d): not "
				"accepting until some close (%ld pause%s since the last line)",
				s->count, s->nrefused, s->cap, n, n == 1 ? "" : "s");
			s->log_resume = true;
		}
	} else if (s->log_resume) {
		log_info("%d connections open: accepting again", s->count);
		s->log_resume = false;
	}
}

/* Forgets c (already off every list) and frees it. */
static void drop(ConnSet *s, Conn *c)
{
	s->count--;
	if (c->refused)
		s->nrefused--;
	free(c);
	if (s->paused && s->count < s->hard)
		set_paused(s, false);
}

static void unqueue(ConnSet *s, Conn *c)
{
	if (c->is_queued) {
		TAILQ_REMOVE(&s->inspect, c, ilink);
		c->is_queued = false;
	}
}

/* Runs inside evhttp_connection_free, before it frees the bufferevent. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	Conn *c = arg;
	ConnSet *s = c->set;

	if (c->on_close != NULL)
		c->on_close(evcon, c->on_close_arg);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	event_del(&c->deadline);
	unindex(s, c);
	unqueue(s, c);
	drop(s, c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	Conn *c = arg;

	(void)fd;
	(void)what;
	log_debug("dropping a client that sent no whole request within api_timeout_s");
	evhttp_connection_free(c->evcon); /* on_close frees c */
}

static void arm(Conn *c)
{
	if (event_add(&c->deadline, &c->set->timeout) != 0)
		log_error("cannot arm a connection's request deadline");
}

/* Replies leave in more than one write (evhttp sends the headers, a stream its chunks): with
 * Nagle on, a keep-alive connection's second segment waits for the client's delayed ACK, up to
 * 40 ms per request (a sequential batch-execute took 60 ms instead of 20). A Unix socket has
 * no Nagle: the refusal there is expected and harmless, so its result is not checked. */
static void no_delay(struct bufferevent *bev)
{
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A bufferevent writes at most 16 KB per turn of the loop unless told otherwise (libevent
 * 2.1's MAX_TO_WRITE_EVER): a 50 KB cached status left in four writev calls, each after one
 * more epoll_wait, and each woke the client for a fragment. One writev per reply (bounded by
 * the socket's send buffer) is what nginx's sendfile does too. */
#define CONN_MAX_SINGLE_WRITE (1024 * 1024)

static void adopt(ConnSet *s)
{
	Conn *c;

	while ((c = TAILQ_FIRST(&s->pending)) != NULL) {
		bufferevent_event_cb eventcb = NULL;
		void *cbarg = NULL;

		TAILQ_REMOVE(&s->pending, c, link);
		bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &cbarg);
		if (eventcb == NULL || cbarg == NULL) {
			evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
			unqueue(s, c);
			bufferevent_decref(c->bev);
			drop(s, c);
			continue;
		}
		c->evcon = cbarg;
		no_delay(c->bev);
		if (bufferevent_set_max_single_write(c->bev, CONN_MAX_SINGLE_WRITE) != 0)
			log_warn("cannot raise a connection's single write size");
		evhttp_connection_set_closecb(c->evcon, on_close, c);
		c->hnext = *bucket(s, c->evcon);
		*bucket(s, c->evcon) = c;
		event_assign(&c->deadline, s->api->base, -1, 0, on_deadline, c);
		arm(c);
		bufferevent_decref(c->bev); /* evhttp's own reference remains; it frees it */
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	ConnSet *s = arg;
	Conn *c;

	(void)fd;
	(void)what;
	adopt(s);
	s->lim.max_body_bytes = s->api->cfg.max_body_bytes; /* reloadable: read at use */
	while ((c = TAILQ_FIRST(&s->inspect)) != NULL) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		int status;

		unqueue(s, c);
		/* a socket bufferevent freezes its output's front between writes */
		evbuffer_unfreeze(out, 1);
		status = errpage_rewrite(out, &s->lim);
		evbuffer_freeze(out, 1);
		if (status != 0) /* debug: a flood of bad requests must not flood the log */
			log_debug("answered libevent's %d page as JSON", status);
	}
}

/* Every change to a connection's output buffer. A reply starting in an empty buffer with
 * "HTTP/1.x 4" or "5" may be libevent's error page: look at it on the kick. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	Conn *c = arg;
	char line[10];
	ev_ssize_t got;

	if (info->n_added == 0 || info->orig_size != 0 || c->is_queued)
		return;
	/* copyout refuses a front-frozen buffer; the socket's write callback unfreezes it
	 * for itself, so leaving it frozen is what libevent does too */
	evbuffer_unfreeze(buf, 1);
	got = evbuffer_copyout(buf, line, sizeof(line));
	evbuffer_freeze(buf, 1);
	if (got != (ev_ssize_t)sizeof(line) || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[9] != '4' && line[9] != '5'))
		return;
	c->is_queued = true;
	TAILQ_INSERT_TAIL(&c->set->inspect, c, ilink);
	kick(c->set);
}

static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
	ConnSet *s = arg;
	Conn *c = calloc(1, sizeof(*c));

	/* CLOSE_ON_FREE: the descriptor closes with the bufferevent, so the reference held
	 * until adoption can never outlive it */
	if (c == NULL ||
	    (c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), on_output, c)) == NULL) {
		log_error("out of memory for a new connection: libevent serves it uncounted");
		if (c != NULL && c->bev != NULL)
			bufferevent_free(c->bev);
		free(c);
		return NULL;
	}
	c->set = s;
	bufferevent_incref(c->bev);
	s->count++;
	if (s->count > s->cap) {
		long n;

		c->refused = true;
		s->nrefused++;
		if (log_due(&s->refuse_log, 10, &n)) /* a flood must not flood the log too */
			log_warn(
				"over api_max_connections (%d): refused %ld connection%s since the "
				"last line",
				s->cap, n, n == 1 ? "" : "s");
	}
	TAILQ_INSERT_TAIL(&s->pending, c, link);
	kick(s);
	if (s->count >= s->hard)
		set_paused(s, true);
	return c->bev;
}

/* Raises the soft file limit to fit the connections; returns the cap that fits. */
static int fit_file_limit(int cap)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cap + CONN_REFUSE_SLACK + CONN_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return cap;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur =
			rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
		if (rl.rlim_cur < need) {
			long fit = (long)rl.rlim_cur - CONN_REFUSE_SLACK - CONN_FD_RESERVE;

			fit = fit < 16 ? 16 : fit;
			log_warn("file limit %ld is too low for api_max_connections %d: using %ld",
				 (long)rl.rlim_cur, cap, fit);
			return (int)fit;
		}
	}
	return cap;
}

ConnSet *conns_new(Api *api)
{
	ConnSet *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->kick = event_new(api->base, -1, 0, on_kick, s)) == NULL) {
		free(s);
		return NULL;
	}
	s->api = api;
	TAILQ_INIT(&s->pending);
	TAILQ_INIT(&s->inspect);
	s->lim.max_body_bytes = api->cfg.max_body_bytes;
	s->lim.max_header_bytes = LIMITS_MAX_HEADERS;
	s->timeout.tv_sec = api->cfg.api_timeout_s;
	s->cap = fit_file_limit(api->cfg.api_max_connections);
	s->hard = s->cap + CONN_REFUSE_SLACK;
	/* about one connection per chain at the hard cap */
	for (s->nbuckets = 64; s->nbuckets < (size_t)s->hard; s->nbuckets *= 2)
		;
	if ((s->index = calloc(s->nbuckets, sizeof(*s->index))) == NULL) {
		event_free(s->kick);
		free(s);
		return NULL;
	}
	evhttp_set_bevcb(api->http, on_accept, s);
	return s;
}

void conns_listen(ConnSet *s, struct evhttp_bound_socket *bound)
{
	s->listener = evhttp_bound_socket_get_listener(bound);
}

void conns_stop(ConnSet *s)
{
	if (s != NULL)
		s->listener = NULL;
}

void conns_free(ConnSet *s)
{
	if (s == NULL)
		return;
	/* evhttp_free closed every adopted connection through on_close; a pending one
	 * (accepted on the last loop turn) only has our reference left */
	adopt(s);
	for (size_t i = 0; i < s->nbuckets; i++) {
		Conn *c;

		while ((c = s->index[i]) != NULL) {
			log_warn("a connection outlived the HTTP server");
			s->index[i] = c->hnext;
			event_del(&c->deadline);
			unqueue(s, c);
			drop(s, c);
		}
	}
	free(s->index);
	event_free(s->kick);
	free(s);
}

/* The adopted connection of evcon (connections accepted on this loop turn are adopted
 * first), NULL for one conn.c does not follow. */
static Conn *lookup(ConnSet *s, const struct evhttp_connection *evcon)
{
	if (evcon == NULL)
		return NULL;
	if (!TAILQ_EMPTY(&s->pending))
		adopt(s);
	return find(s, evcon);
}

bool conns_refused(ConnSet *s, struct evhttp_connection *evcon)
{
	Conn *c;

	if (s->nrefused == 0)
		return false;
	c = lookup(s, evcon);
	return c != NULL && c->refused;
}

bool conns_on_close(ConnSet *s, struct evhttp_connection *evcon, ConnCloseFn fn, void *arg)
{
	Conn *c = lookup(s, evcon);

	if (c == NULL)
		return false;
	c->on_close = fn;
	c->on_close_arg = arg;
	return true;
}

/* evhttp_send_done calls this after the last byte of a reply left, before it closes the
 * connection or reads the next request: the next request's deadline starts. */
static void on_reply_done(struct evhttp_request *req, void *arg)
{
	Conn *c = lookup(arg, evhttp_request_get_connection(req));

	if (c != NULL)
		arm(c);
}

void conns_request_begins(ConnSet *s, struct evhttp_request *req)
{
	Conn *c = lookup(s, evhttp_request_get_connection(req));

	if (c == NULL)
		return;
	event_del(&c->deadline);
	evhttp_request_set_on_complete_cb(req, on_reply_done, s);
}

int conns_cap(const ConnSet *s)
{
	return s->cap;
}
