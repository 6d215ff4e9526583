/* job_step.h - the steps of a job (job.h) and which changes between them are legal. Pure:
 * job_set_step() in job.c is the one place that changes a job's step and asks this table. */
#ifndef AMCB_JOB_STEP_H
#define AMCB_JOB_STEP_H

#include <stdbool.h>

enum JobStep {
	JOB_STARTING, /* substitution, PostgreSQL registration, token */
	JOB_CREATING, /* intent (Redis, PostgreSQL), POST create, record the AMC id */
	JOB_ADOPTING, /* an intent without an AMC id: listing AMC executions to find ours */
	JOB_POLLING,
	JOB_DOWNLOADING,
	JOB_ARCHIVING,
	JOB_FINISHING,    /* finish script */
	JOB_FAILING,      /* PG failed + finish failed */
	JOB_CANCELLING,   /* PUT cancel + PG cancelled + finish */
	JOB_HANDING_BACK, /* retry or release script: the job leaves this worker */
	JOB_LEAVING,      /* not ours any more: only waits for its last callback */
	JOB_STEP_COUNT
};

/* The step's name for logs ("starting", ...); "?" for a value out of range. */
const char *job_step_name(enum JobStep step);
/* Whether a job may go from one step to the other. Staying in a step is always allowed (a
 * step retried: another create, fresh download URLs); out-of-range values never are. */
bool job_step_allowed(enum JobStep from, enum JobStep to);

#endif
