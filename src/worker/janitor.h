/* janitor.h - the lease heartbeat and the reclaim sweep (janitor.c). */
#ifndef AMCB_JANITOR_H
#define AMCB_JANITOR_H

#include "worker.h"

MUST_CHECK bool janitor_init(Worker *w);
void janitor_stop(Worker *w);
/* Renew the lease now (on every Redis connect, before the first claim). */
void janitor_beat(Worker *w);

#endif
