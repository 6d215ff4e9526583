/* finisher.h - finishes in batches: every finish asked for during one event-loop turn goes to
 * Redis in one finish_many call (lua/finish_many.lua, up to FINISHER_MAX jobs per call),
 * resent while Redis is away, so a loop turn that ends many jobs costs one round trip. */
#ifndef AMCB_FINISHER_H
#define AMCB_FINISHER_H

#include <hiredis/hiredis.h>

#include "states.h"
#include "worker.h"

#define FINISHER_MAX 100 /* jobs per finish_many call */

/* result (borrowed, valid during the call): this job's element of the finish_many reply
 * ({final_state, batch_status} or an integer code). NULL only when the worker is exiting:
 * free priv, touch nothing else. */
typedef void (*FinisherDoneFn)(Worker *w, const redisReply *result, void *priv);

/* Queues the finish of ref (`B:E`) under claim token `claim` as outcome completed, failed,
 * or cancelled (letting go of a cancelled exec) (ref, claim and error copied). false (logged) for a malformed ref or no memory; done is then never called.
 * A call Redis answers with an error is sent again later, like a lost one: an error reply
 * (MISCONF, OOM, NOREPLICAS, ...) says "not now", never "forget this finish". */
MUST_CHECK bool finisher_add(Worker *w, const char *ref, const char *claim, enum ExecState outcome,
			     long row_count, const char *error, FinisherDoneFn done, void *priv);

/* At teardown (after rconn_free, before event_base_free): frees what was never sent or waits
 * to be resent; each done() gets its NULL result (free priv, touch nothing else). */
void finisher_free_all(void);

#endif
