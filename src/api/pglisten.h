/* pglisten.h - one PostgreSQL connection that LISTENs on a channel, on its own thread (libpq
 * blocks), and hands each notification's payload to the loop thread. When the connection
 * drops it says so (PGLISTEN_DOWN) and reconnects every second; PGLISTEN_UP comes once the
 * LISTEN is in place again, so the owner knows notifications may have been missed between.
 *
 * THREADS: like pgpool, the event base must have been made after evthread_use_pthreads().
 * pglisten_new and pglisten_free are for the loop thread only; callbacks run on it. */
#ifndef AMCB_PGLISTEN_H
#define AMCB_PGLISTEN_H

#include <event2/event.h>

#include "common.h"

typedef struct PgListen PgListen;

enum PgListenEvent {
	PGLISTEN_UP,       /* listening (again): anything before may have been missed */
	PGLISTEN_DOWN,     /* connection lost: notifications are not seen until UP */
	PGLISTEN_NOTIFY,   /* one notification; payload is its text */
	PGLISTEN_OVERFLOW, /* the queue to the loop overflowed: some were dropped */
};

/* payload is borrowed for the call (NULL except for PGLISTEN_NOTIFY). */
typedef void (*PgListenFn)(enum PgListenEvent ev, const char *payload, void *priv);

/* channel must be a plain SQL identifier (it is pasted into LISTEN). NULL on failure. */
PgListen *pglisten_new(struct event_base *base, const char *conninfo, const char *channel,
		       PgListenFn fn, void *priv);
/* Stops the thread (a connection attempt ends within its 5 s connect_timeout) and drops
 * what it had not delivered. Accepts NULL. */
void pglisten_free(PgListen *l);

#endif
