/* claim.h - the claim loop (claim.c): queued refs to this worker's jobs. */
#ifndef AMCB_CLAIM_H
#define AMCB_CLAIM_H

#include "worker.h"

MUST_CHECK bool claim_init(Worker *w);
void claim_kick(Worker *w); /* claim now if there is room and no claim is running */

#endif
