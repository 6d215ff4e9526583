/* curl_ev.c - runs libcurl easy handles through one multi handle on libevent (the socket
 * and timer callback pair of curl's hiperfifo example). It builds no requests and parses
 * no responses: callers prepare the easy handle and read it back in their done callback. */
#include "curl_ev.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mstime.h"

/* One running transfer. Kept in our own list rather than behind CURLOPT_PRIVATE, so the
 * caller stays free to use CURLOPT_PRIVATE (lookups are linear; hundreds of transfers
 * finishing a few at a time cost nothing worth a hash table). */
typedef struct Transfer {
	struct Transfer *prev, *next;
	CURL *easy;
	CurlDoneFn done;
	void *priv;
} Transfer;

/* One socket curl asked us to watch; attached with curl_multi_assign. */
typedef struct Sock {
	struct Sock *prev, *next;
	CurlEv *m;
	curl_socket_t fd;
	struct event *ev;
} Sock;

struct CurlEv {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	Transfer *transfers;
	int ntransfers;
	Sock *socks;
};

#define LIST_UNLINK(head, x) \
	do { \
		if ((x)->prev) \
			(x)->prev->next = (x)->next; \
		else \
			(head) = (x)->next; \
		if ((x)->next) \
			(x)->next->prev = (x)->prev; \
		(x)->prev = (x)->next = NULL; \
	} while (0)

#define LIST_PUSH(head, x) \
	do { \
		(x)->prev = NULL; \
		(x)->next = (head); \
		if (head) \
			(head)->prev = (x); \
		(head) = (x); \
	} while (0)

static Transfer *find_transfer(CurlEv *m, CURL *easy)
{
	for (Transfer *t = m->transfers; t; t = t->next)
		if (t->easy == easy)
			return t;
	return NULL;
}

/* Hand every finished transfer back to its owner. Called after every socket action. */
static void drain_done(CurlEv *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		CURL *easy;
		CURLcode rc;
		Transfer *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once the handle is removed: copy what we need first */
		easy = msg->easy_handle;
		rc = msg->data.result;
		t = find_transfer(m, easy);
		curl_multi_remove_handle(m->multi, easy);
		if (t == NULL) {
			log_error("curl_ev: finished handle %p is not ours", (void *)easy);
			continue;
		}
		LIST_UNLINK(m->transfers, t);
		m->ntransfers--;
		/* the callback may add or remove transfers: t is already out of the list */
		t->done(easy, rc, t->priv);
		free(t);
	}
}

static void socket_action(CurlEv *m, curl_socket_t fd, int flags)
{
	int running;
	CURLMcode mc = curl_multi_socket_action(m->multi, fd, flags, &running);

	if (mc != CURLM_OK)
		log_error("curl_ev: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	drain_done(m);
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	Sock *s = arg;
	int flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	socket_action(s->m, fd, flags);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_free(CurlEv *m, Sock *s)
{
	LIST_UNLINK(m->socks, s);
	if (s->ev != NULL)
		event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: curl says which events it wants on a socket. */
static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	CurlEv *m = userp;
	Sock *s = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			curl_multi_assign(m->multi, fd, NULL);
			sock_free(m, s);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL) {
			log_error("curl_ev: out of memory for a socket");
			return -1;
		}
		s->m = m;
		s->fd = fd;
		LIST_PUSH(m->socks, s);
		curl_multi_assign(m->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	s->ev = event_new(m->base, fd, kind, on_socket_event, s);
	if (s->ev == NULL || event_add(s->ev, NULL) != 0) {
		log_error("curl_ev: cannot watch socket %d", (int)fd);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. A 0 timeout is honoured
 * from the loop, never by calling socket_action from inside curl's callback. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	CurlEv *m = userp;

	if (timeout_ms < 0) {
		evtimer_del(m->timer);
	} else {
		struct timeval tv = mstime_tv(timeout_ms);

		if (evtimer_add(m->timer, &tv) != 0)
			return -1;
	}
	return 0;
}

CurlEv *curlev_new(struct event_base *base)
{
	CurlEv *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->base = base;
	m->multi = curl_multi_init();
	m->timer = evtimer_new(base, on_timer, m);
	if (m->multi == NULL || m->timer == NULL) {
		if (m->multi != NULL)
			curl_multi_cleanup(m->multi);
		if (m->timer != NULL)
			event_free(m->timer);
		free(m);
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	return m;
}

void curlev_free(CurlEv *m)
{
	Transfer *t;

	if (m == NULL)
		return;
	while ((t = m->transfers) != NULL) {
		LIST_UNLINK(m->transfers, t);
		curl_multi_remove_handle(m->multi, t->easy);
		free(t);
	}
	m->ntransfers = 0;
	curl_multi_cleanup(m->multi); /* may still report CURL_POLL_REMOVE for cached sockets */
	while (m->socks != NULL)
		sock_free(m, m->socks);
	event_free(m->timer);
	free(m);
}

bool curlev_add(CurlEv *m, CURL *easy, CurlDoneFn done, void *priv)
{
	Transfer *t;
	CURLMcode mc;

	if (m == NULL || easy == NULL || done == NULL)
		return false;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return false;
	t->easy = easy;
	t->done = done;
	t->priv = priv;
	mc = curl_multi_add_handle(m->multi, easy);
	if (mc != CURLM_OK) {
		log_error("curl_ev: curl_multi_add_handle: %s", curl_multi_strerror(mc));
		free(t);
		return false;
	}
	LIST_PUSH(m->transfers, t);
	m->ntransfers++;
	return true;
}

void curlev_remove(CurlEv *m, CURL *easy)
{
	Transfer *t;

	if (m == NULL || easy == NULL)
		return;
	t = find_transfer(m, easy);
	if (t == NULL)
		return;
	LIST_UNLINK(m->transfers, t);
	m->ntransfers--;
	curl_multi_remove_handle(m->multi, easy);
	free(t);
}

int curlev_running(const CurlEv *m)
{
	return m != NULL ? m->ntransfers : 0;
}

CURLM *curlev_multi(CurlEv *m)
{
	return m->multi;
}
