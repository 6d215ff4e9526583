/* amc_cancel.h - cancelling AMC executions nobody polls any more: a duplicate or an execution
 * whose batch was cancelled after its holder let go (amc_cancel_detached), and the entries
 * cancel_batch leaves in P amc_cancels for executions nobody held when their batch was
 * cancelled (amc_cancels_drain, run by the janitor). */
#ifndef AMCB_AMC_CANCEL_H
#define AMCB_AMC_CANCEL_H

#include "amc_client.h"

/* PUT CANCELLED for amc_id with a copy of t (its token included); logs the outcome with why.
 * Fire and forget: nothing waits for it. */
void amc_cancel_detached(Worker *w, const AmcTarget *t, const char *amc_id, const char *why);

/* Takes due entries of P amc_cancels (take_amc_cancels script) and cancels them on AMC; an
 * entry leaves the set once AMC has the cancel (or the execution is over). At most one take
 * in flight per worker. */
void amc_cancels_drain(Worker *w);

/* At teardown, after the transfers and the token cache are freed (their callbacks never
 * come): frees every cancel still under way. */
void amc_cancel_free_all(void);

#endif
