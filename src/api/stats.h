/* stats.h - the metrics of one API process (src/core/metrics.h): HTTP requests by route
 * pattern, submissions by outcome, schedule runs by outcome, Redis and PostgreSQL round
 * trips, and batches by status read from PostgreSQL when scraped. Served by GET /metrics
 * (admin token) and, when metrics_listen is set, by its own listener. */
#ifndef AMCB_STATS_H
#define AMCB_STATS_H

#include "api.h"
#include "common.h"

typedef struct Req Req;

/* Registers the metrics, hooks them to api->redis and api->pg and opens the metrics_listen
 * listener if configured. Before the loop runs; false (logged) on failure. */
MUST_CHECK bool stats_setup(Api *api);
/* Closes the listener and frees the registry. Accepts an api without stats. */
void stats_free(Api *api);

/* A request ended with HTTP status (0: streamed, status unknown) after secs; r borrowed. */
void stats_request_done(const Req *r, int status, double secs);
/* The enqueue janitor handed a stored batch to Redis (janitor.c). */
void stats_enqueued_late(void);
/* A schedule slot was handled by the trigger (enum FireOutcome of schedule.h). */
void stats_schedule_fired(int outcome);

void stats_metrics_get(Req *r); /* GET /metrics (admin) */

#endif
