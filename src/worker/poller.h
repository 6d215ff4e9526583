/* poller.h - an AMC execution's status polls and its result download (poller.c). Depends on
 * job.h; job.c does not include this file (the include graph stays one-way). */
#ifndef AMCB_POLLER_H
#define AMCB_POLLER_H

#include "worker.h"

/* The AMC id is recorded: set_phase polling, then poll on a timer until a final status;
 * a success is downloaded and handed to job_archive(). */
void poller_start(Job *job);

#endif
