/* janitor.h - the API's enqueue janitor: batches PostgreSQL holds but Redis never got (Redis
 * could not be reached after the commit, or the API stopped in between) are enqueued from
 * their stored rows, once per enqueue_janitor_ms across every API process. */
#ifndef AMCB_JANITOR_H
#define AMCB_JANITOR_H

#include "api.h"

/* The first sweep runs one interval after the start. NULL on OOM. */
Janitor *janitor_new(Api *api);
/* Call after the Redis connection, the enqueues and the PostgreSQL pool have stopped (their
 * callbacks end a sweep in progress). Accepts NULL. */
void janitor_free(Janitor *j);

#endif
