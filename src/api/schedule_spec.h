/* schedule_spec.h - a schedule's body checked without I/O (schedule_spec.c): the schedule's
 * own members here, the batch members by validate.c exactly as batch-execute checks them; and
 * the members computed on the way out. Pure, like validate.h: the unit tests and fields.c
 * use it without a server. */
#ifndef AMCB_SCHEDULE_SPEC_H
#define AMCB_SCHEDULE_SPEC_H

#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "common.h"
#include "cron.h"
#include "fieldlen.h"
#include "ids.h"
#include "validate.h"

#define SCHEDULE_NEXT_RUNS 5      /* next run times shown with a schedule */
#define SCHEDULE_MISSED_KEEP 100  /* missed slots recorded one by one per firing */
#define SCHEDULE_PER_USER_MAX 200 /* schedules one user may have */

typedef enum ScheduleOverlap { OVERLAP_SKIP, OVERLAP_QUEUE } ScheduleOverlap;

/* A checked schedule body. Owns its members; released by schedule_spec_clear. */
typedef struct ScheduleSpec {
	ExecRequest in; /* the batch part, checked as batch-execute checks it */
	char workflow_id[IDS_UUID_LEN + 1];
	char cron_text[CRON_EXPR_MAX + 1];
	Cron cron;
	char timezone[FIELDLEN_TIMEZONE + 1];
	bool enabled;
	ScheduleOverlap overlap;
} ScheduleSpec;

/* The members a schedule body may have. */
extern const char *const schedule_fields[];

/* Checks a whole schedule body (POST, or a PATCH merged onto the stored one): name and
 * workflow_id required, cron parsed, timezone an IANA zone (default UTC), enabled (default
 * true), overlap "skip" (default) or "queue", and the batch members as batch-execute checks
 * them. Takes its own references; on failure s is left cleared and e says why. */
MUST_CHECK bool schedule_spec_check(json_t *body, const ValidateLimits *lim, ScheduleSpec *s,
				    ValidateErr *e);
void schedule_spec_clear(ScheduleSpec *s);

/* The stored schedule as a body object (for PATCH and for each run) from the text of its
 * columns: JSON members are parsed, a NULL window or on_failure left out. New reference, NULL on OOM. */
json_t *schedule_stored_body(const char *name, const char *description, const char *workflow_id,
			     const char *instance_ids, const char *parameters,
			     const char *instance_parameters, const char *window, const char *cron,
			     const char *timezone, bool enabled, const char *overlap,
			     const char *on_failure);

/* The failure policy of a checked request as the schedules table stores it (JSON text,
 * malloc'd, caller frees), NULL for continue (or OOM: only continue has no text). */
char *schedule_policy_text(const ExecRequest *in);

/* Adds the computed members to a schedule object: cron_description ("every Monday at 06:00,
 * Europe/Berlin") and next_runs (the next SCHEDULE_NEXT_RUNS times after now, ISO UTC, none
 * when paused). False on OOM or a stored cron that no longer parses. */
MUST_CHECK bool schedule_add_computed(json_t *obj, time_t now);

/* The next n firings of cron text in zone after `after`, as an array of ISO-8601 UTC
 * strings (new reference; NULL on a bad cron or zone, or OOM). */
json_t *schedule_next_runs(const Cron *c, const char *zone, time_t after, int n);

/* "every Monday at 06:00, Europe/Berlin" into buf. */
void schedule_describe(const Cron *c, const char *zone, char *buf, size_t len);

/* Unix ms as ISO-8601 UTC with milliseconds ("2026-12-07T05:00:00.000Z"): buf >= 32 bytes. */
void schedule_iso_ms(int64_t ms, char *buf, size_t len);

#endif
