/* pglisten.c - the LISTEN thread (pglisten.h): connect, LISTEN, wait on the socket and a wake
 * pipe, queue every notification for the loop thread; on any connection trouble say DOWN,
 * wait a second, start over. It interprets no payload. */
#include "pglisten.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"

#define RETRY_MS 1000
/* notifications waiting for the loop; beyond it they collapse into one OVERFLOW */
#define QUEUE_MAX 4096

typedef struct Msg {
	struct Msg *next;
	enum PgListenEvent ev;
	char payload[]; /* "" unless NOTIFY */
} Msg;

struct PgListen {
	struct event_base *base;
	char *conninfo; /* owned */
	char channel[64];
	PgListenFn fn;
	void *priv;
	pthread_t thread;
	bool started;
	int wake[2]; /* the loop writes to wake[1] to stop the thread */

	pthread_mutex_t mu; /* guards the queue and stopping */
	Msg *head, *tail;
	int queued;
	bool overflowed; /* a message was dropped since the last delivery */
	bool stopping;
	struct event *ev; /* activated by the thread; runs deliver() on the loop */
};

/* Thread side: queue one message and wake the loop. false when stopping. A message that
 * does not fit (queue full, out of memory) sets overflowed instead, which the loop reports as
 * one PGLISTEN_OVERFLOW: "something was missed" covers every lost message. */
static bool post(PgListen *l, enum PgListenEvent ev, const char *payload)
{
	size_t len = payload != NULL ? strlen(payload) : 0;
	Msg *m;
	bool ok;

	pthread_mutex_lock(&l->mu);
	ok = !l->stopping;
	if (ok) {
		if (l->queued >= QUEUE_MAX || (m = malloc(sizeof(*m) + len + 1)) == NULL) {
			l->overflowed = true;
		} else {
			m->next = NULL;
			m->ev = ev;
			memcpy(m->payload, len > 0 ? payload : "", len + 1);
			if (l->tail != NULL)
				l->tail->next = m;
			else
				l->head = m;
			l->tail = m;
			l->queued++;
		}
		event_active(l->ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

/* Loop side: hands the queued messages to fn, oldest first. */
static void deliver(evutil_socket_t fd, short what, void *arg)
{
	PgListen *l = arg;
	Msg *m, *next;
	bool lost;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&l->mu);
	m = l->head;
	l->head = l->tail = NULL;
	l->queued = 0;
	lost = l->overflowed;
	l->overflowed = false;
	pthread_mutex_unlock(&l->mu);
	for (; m != NULL; m = next) {
		next = m->next;
		l->fn(m->ev, m->ev == PGLISTEN_NOTIFY ? m->payload : NULL, l->priv);
		free(m);
	}
	if (lost)
		l->fn(PGLISTEN_OVERFLOW, NULL, l->priv);
}

/* Waits up to ms for the wake pipe; true when the thread must stop. */
static bool stop_within(PgListen *l, int ms)
{
	struct pollfd p = { .fd = l->wake[0], .events = POLLIN };

	return poll(&p, 1, ms) != 0; /* woken, or poll failed: stop either way */
}

static PGconn *connect_and_listen(PgListen *l)
{
	/* connect_timeout bounds how long pglisten_free may wait for this thread */
	const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
	const char *vals[] = { l->conninfo, "5", "amcbatch-api-listen", NULL };
	char sql[96];
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK) {
		log_warn("read cache: LISTEN connection failed: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", l->channel);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warn("read cache: LISTEN %s failed: %s", l->channel, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* Waits for notifications until the connection breaks (false) or the thread must stop. */
static bool listen_on(PgListen *l, PGconn *c)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = PQsocket(c), .events = POLLIN },
			{ .fd = l->wake[0], .events = POLLIN },
		};
		PGnotify *n;

		if (p[0].fd < 0 || poll(p, 2, -1) < 0)
			return false;
		if (p[1].revents != 0)
			return true;
		if (!PQconsumeInput(c)) {
			log_warn("read cache: LISTEN connection lost: %s", PQerrorMessage(c));
			return false;
		}
		while ((n = PQnotifies(c)) != NULL) {
			bool ok = post(l, PGLISTEN_NOTIFY, n->extra);

			PQfreemem(n);
			if (!ok)
				return true;
		}
	}
}

static void *run(void *arg)
{
	PgListen *l = arg;

	for (;;) {
		PGconn *c = connect_and_listen(l);
		bool stop;

		if (c == NULL) {
			if (stop_within(l, RETRY_MS))
				break;
			continue;
		}
		if (!post(l, PGLISTEN_UP, NULL)) {
			PQfinish(c);
			break;
		}
		stop = listen_on(l, c);
		PQfinish(c);
		if (stop || !post(l, PGLISTEN_DOWN, NULL) || stop_within(l, RETRY_MS))
			break;
	}
	return NULL;
}

PgListen *pglisten_new(struct event_base *base, const char *conninfo, const char *channel,
		       PgListenFn fn, void *priv)
{
	PgListen *l = calloc(1, sizeof(*l));
	sigset_t all, old;
	int rc;

	if (l == NULL)
		return NULL;
	l->wake[0] = l->wake[1] = -1;
	pthread_mutex_init(&l->mu, NULL);
	l->base = base;
	l->fn = fn;
	l->priv = priv;
	snprintf(l->channel, sizeof(l->channel), "%s", channel);
	if ((l->conninfo = strdup(conninfo)) == NULL || pipe(l->wake) != 0 ||
	    (l->ev = event_new(base, -1, 0, deliver, l)) == NULL)
		goto fail;
	/* the thread takes no signal: the loop thread handles them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&l->thread, NULL, run, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		goto fail;
	l->started = true;
	return l;
fail:
	pglisten_free(l);
	return NULL;
}

void pglisten_free(PgListen *l)
{
	Msg *m, *next;

	if (l == NULL)
		return;
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->stopping = true;
		pthread_mutex_unlock(&l->mu);
		/* a thread that cannot be woken still uses l: it is left running, and l leaks */
		if (write(l->wake[1], "x", 1) != 1) {
			log_error("read cache: cannot wake the LISTEN thread; left running");
			return;
		}
		pthread_join(l->thread, NULL);
	}
	for (m = l->head; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->wake[0] >= 0)
		close(l->wake[0]);
	if (l->wake[1] >= 0)
		close(l->wake[1]);
	pthread_mutex_destroy(&l->mu);
	free(l->conninfo);
	free(l);
}
