/* reconcile.h - what Redis says this worker holds (its jobs list, returned by every heartbeat)
 * against what it holds in memory. Redis is right: a ref it lists that memory does not know
 * (a claim whose reply was lost) is taken up again (held_jobs rebuilds the claim's answer);
 * a job memory runs that Redis no longer lists for this worker is let go. */
#ifndef AMCB_RECONCILE_H
#define AMCB_RECONCILE_H

#include <hiredis/hiredis.h>

#include "worker.h"

/* How many refs a heartbeat asks for: every job this worker may hold, and then some. */
int reconcile_max_refs(const Worker *w);

/* reply: the heartbeat script's answer { n, ref... } (borrowed). */
void reconcile_heartbeat(Worker *w, const redisReply *reply);

#endif
