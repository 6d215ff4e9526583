/* schedule.h - recurring batches (issue 10). A schedule is a batch-execute request (workflow,
 * instances, parameters, relative window) plus a 5-field cron evaluated in a time zone.
 *   schedule_spec.c    the body of POST/PATCH /schedules checked without I/O, and the
 *                      computed members of a schedule (next runs, a human reading)
 *   routes_schedules.c the /schedules endpoints
 *   schedule_fire.c    one slot made into one batch (or a skipped or refused run)
 *   scheduler.c        the trigger: every API process looks for due slots each tick
 * Exactly one batch per slot, with any number of API processes: sql/008's
 * amcbatch_schedule_claim (a compare-and-set of next_run_at under the schedule's row lock)
 * in the transaction that stores the batch. */
#ifndef AMCB_SCHEDULE_H
#define AMCB_SCHEDULE_H

#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "api.h"
#include "common.h"
#include "ids.h"
#include "schedule_spec.h"
#include "validate.h"

/* ---- firing (schedule_fire.c) ---- */

typedef enum FireOutcome {
	FIRE_STARTED, /* a batch was stored (and handed to Redis, or left to the janitor) */
	FIRE_FAILED,  /* the run was refused and recorded (workflow gone, no instance, ...) */
	FIRE_SKIPPED, /* the slot was recorded as skipped (the previous run still going) */
	FIRE_TAKEN,   /* another process fired the slot, or the schedule changed: nothing
			 * written; the next tick looks again */
	FIRE_GONE,    /* the schedule no longer exists */
	FIRE_ERROR,   /* PostgreSQL trouble: nothing written; the next tick tries again */
} FireOutcome;

typedef struct FireResult {
	FireOutcome outcome;
	char batch_id[IDS_BATCH_LEN + 1]; /* FIRE_STARTED */
	json_t *created; /* FIRE_STARTED: the 201 body of the batch (borrowed; valid
				 * during the callback only) */
	json_t *refused; /* instances left out of the run: [{instance_id, code,
				 * message}] (borrowed, may be NULL) */
	ValidateErr err; /* FIRE_FAILED (and a manual run's refusal): why */
} FireResult;

typedef void (*FireDoneFn)(const FireResult *res, void *priv);

typedef struct FireSpec {
	char schedule_id[IDS_UUID_LEN + 1];
	int64_t slot_ms;     /* scheduled_for */
	int64_t expected_ms; /* next_run_at as read, or 0 for a manual run (leaves it) */
	int64_t next_ms;     /* next_run_at after this slot */
	int64_t missed_ms[SCHEDULE_MISSED_KEEP]; /* earlier slots skipped as missed */
	int nmissed;
	int missed_total;  /* all of them, when more than SCHEDULE_MISSED_KEEP */
	bool skip_overlap; /* record the slot as skipped (overlap) instead of running */
	bool manual;       /* POST /schedules/{id}/run-now */
} FireSpec;

/* Fires spec's slot: loads the schedule, its workflow and instances with the owner's grants
 * as they are now, leaves refused instances out, checks the rest as batch-execute would,
 * then one transaction claims the slot, records the run (and the missed slots) and stores
 * the batch; then the batch goes to Redis (enqueue.c). done runs once, on the loop thread,
 * never from inside schedule_fire. A manual run that cannot run records nothing and reports
 * FIRE_FAILED with the error. False (done never called) on OOM or shutdown. */
MUST_CHECK bool schedule_fire(Api *api, const FireSpec *spec, FireDoneFn done, void *priv);

/* ---- the trigger (scheduler.c) ---- */

typedef struct Scheduler Scheduler;

/* Starts the tick timer (config schedule_tick_ms; 0 disables this process's trigger). */
Scheduler *scheduler_new(Api *api);
void scheduler_free(Scheduler *s);

typedef void (*TickDoneFn)(json_t *report, void *priv);

/* One tick as of now_ms: fires every due slot (at most a page of schedules) and reports
 * {"now", "due", "fired": [{schedule_id, scheduled_for, outcome, batch_id?, missed}]} (report
 * stolen by done; NULL on PostgreSQL trouble). False when it could not start. */
MUST_CHECK bool scheduler_tick(Api *api, int64_t now_ms, TickDoneFn done, void *priv);

#endif
