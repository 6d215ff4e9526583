/* stats.h - the metrics of one worker process (src/core/metrics.h): executions by final
 * status and their duration, AMC requests by endpoint, archive rows and bytes, webhook
 * deliveries, jobs held, and queue gauges read from Redis when scraped. Served on
 * metrics_listen. */
#ifndef AMCB_WORKER_STATS_H
#define AMCB_WORKER_STATS_H

#include "common.h"
#include "worker.h"

/* The AMC endpoint of an HTTP exchange (ExchangeReq.endpoint); 0 is "other". */
enum AmcEndpoint {
	AMC_EP_OTHER = 0,
	AMC_EP_CREATE,
	AMC_EP_POLL,
	AMC_EP_URLS,
	AMC_EP_LIST,
	AMC_EP_CANCEL,
	AMC_EP_DOWNLOAD,
	AMC_EP_TOKEN,
	AMC_EP_COUNT
};

/* Registers the metrics, hooks Redis and the pool, opens metrics_listen when set. Before
 * the loop runs; false (logged) on failure. */
MUST_CHECK bool stats_setup(Worker *w);
void stats_free(Worker *w);

/* One attempt of an HTTP exchange ended: status 0 = no response (network error). */
void stats_amc_attempt(int endpoint, long status, double secs);
void stats_amc_retry(int endpoint); /* an attempt is made again */
/* A finish was accepted: the execution's final state and the batch status the script
 * derived; secs since the execution first started (< 0: unknown). */
void stats_exec_finished(const char *final, const char *batch_status, double secs);
void stats_archived(long rows, long long bytes);
void stats_delivery(bool ok); /* one webhook delivery attempt */

#endif
