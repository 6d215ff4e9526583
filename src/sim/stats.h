/* stats.h - counters per instance (and in total) that tests read from GET /sim/stats: how
 * many requests each endpoint got, how many executions were really created, and every
 * injected fault; the same again per region host (listener) the request came to, so a test
 * can tell where calls landed. Requests without an instance (token) count in the totals
 * only. */
#ifndef AMCSIM_STATS_H
#define AMCSIM_STATS_H

#include <jansson.h>

#include "common.h"

enum StatKey {
	ST_CREATE,
	ST_GET,
	ST_LIST,
	ST_CANCEL,
	ST_URLS,
	ST_DOWNLOAD,
	ST_TOKEN,              /* requests */
	ST_EXECUTIONS_CREATED, /* stored executions (lost creates included) */
	ST_LOST_CREATES,
	ST_SENT_429,
	ST_SENT_5XX,
	ST_HANGS,
	ST_NOT_FOUND_INJECTED,
	ST_FAILED_INJECTED,
	ST_TRUNCATED,
	ST_S3_403_FIRST,
	ST_S3_EXPIRED,
	ST_UNAUTHORIZED,
	ST_QUOTA_REFUSED,
	ST_WRONG_REGION, /* an instance (or token) of another region refused */
	ST__COUNT
};

typedef struct Stats Stats;

Stats *stats_new(void);
void stats_free(Stats *s);
/* region: the AmcRegion of the host the request came to (-1: none); inst may be NULL
 * (totals only); allocation failure loses the instance row, not the totals */
void stats_inc(Stats *s, int region, const char *inst, enum StatKey k);
void stats_reset(Stats *s);
/* {"total":{...},"instances":{"id":{...}},
 *  "regions":{"NA":{"total":{...},"instances":{...}},"EU":{...},"FE":{...}}}; NULL on OOM */
json_t *stats_json(const Stats *s);

#endif
