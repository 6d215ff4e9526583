/* delivery.h - webhook deliveries from the worker (delivery.c): lease due deliveries in
 * PostgreSQL on a timer, POST them with curl multi, record every attempt. */
#ifndef AMCB_DELIVERY_H
#define AMCB_DELIVERY_H

#include "worker.h"

/* Parses the network policy, loads the secret key and arms the timer. false: bad config or
 * out of memory (start-up fails). A worker without the secret key runs, without deliveries. */
MUST_CHECK bool delivery_init(Worker *w);
/* SIGTERM: lease nothing more (what is in flight finishes or its lease lapses). */
void delivery_stop(Worker *w);
/* At teardown, after curlev_free and pgpool_free: frees what is left. */
void delivery_free_all(Worker *w);

#endif
