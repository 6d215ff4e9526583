/* claim.h - the claim loop (claim.c): queued refs to this worker's jobs. */
#ifndef AMCB_CLAIM_H
#define AMCB_CLAIM_H

#include "worker.h"

MUST_CHECK bool claim_init(Worker *w);
void claim_kick(Worker *w); /* claim now if there is room and no claim is running */

/* Claims nothing new for ms (from now; a longer pause already set stands), saying why: the
 * worker cannot take a job to its end (its result spool cannot be written), so work it
 * claimed now would only wait there while other workers could run it. The jobs it holds go
 * on. Logged when the pause begins. */
void claim_pause(Worker *w, long ms, const char *why);
/* Ends a pause at once (the cause is gone) and claims if there is room; nothing when
 * claims are not paused. */
void claim_resume(Worker *w);
/* The reason while claims are paused, NULL otherwise. */
const char *claim_paused_why(const Worker *w);

#endif
