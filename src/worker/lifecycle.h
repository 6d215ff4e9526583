/* lifecycle.h - the worker's reactions to its events as a whole (lifecycle.c): above the jobs,
 * the claim loop, the janitor and the deliveries, which it drives; none of them includes it. */
#ifndef AMCB_LIFECYCLE_H
#define AMCB_LIFECYCLE_H

#include "worker.h"

/* Redis (re)connected: the start-up reclaim once, the lease, a claim. */
void lifecycle_connected(Worker *w);
/* SIGTERM/SIGINT: the first stops claiming and hands jobs back; a second one exits now. */
void lifecycle_stop(Worker *w, int sig);
/* Leaves the loop: drops the lease (jobs still in flight are reclaimed by others at once). */
void lifecycle_exit(Worker *w);
/* A job ended (it unlinked itself): the claim loop goes on, or the stop ends. Wired as
 * w->job_done. */
void lifecycle_job_done(Worker *w);

#endif
