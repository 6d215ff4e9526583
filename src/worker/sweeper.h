/* sweeper.h - the archive sweep of the janitor: PostgreSQL and Redis brought in line for the
 * batches a lost write left apart, and terminal batches let go from Redis after their
 * retention (sweeper.c says how). */
#ifndef AMCB_SWEEPER_H
#define AMCB_SWEEPER_H

#include "worker.h"

/* One sweep, if this worker gets the sweep lock for this interval (lease_ms). */
void sweeper_run(Worker *w);

#endif
