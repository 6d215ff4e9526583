/* claim_entry.h - one element of a claim reply ({ref, exec fields, sql_query}) read into the
 * fields of a Job. Pure: no I/O, no logging, no worker state, so a test drives it alone
 * (tests/unit/test_alloc_fail.c); job.c decides what to do with the result. */
#ifndef AMCB_CLAIM_ENTRY_H
#define AMCB_CLAIM_ENTRY_H

#include <hiredis/hiredis.h>

#include "common.h"
#include "job_data.h"

/* The parts of an element every path needs (job_take checks held jobs before it allocates a
 * Job): all pointers are borrowed from the reply and live as long as it does. */
typedef struct ClaimEntry {
	const char *ref;
	const char *claim;      /* the fencing token, decimal digits */
	const redisReply *flat; /* the exec hash as a flat field/value array */
	const redisReply *sqlr; /* the batch SQL (a string, or nil) */
	char batch_id[IDS_BATCH_LEN + 1];
	char exec_id[IDS_EXEC_LEN + 1];
} ClaimEntry;

/* False if claimed is not a well-formed element with a valid ref and claim token. */
MUST_CHECK bool claim_entry_parse(const redisReply *claimed, ClaimEntry *e);

/* A field of the exec hash, "" when absent (borrowed from the reply). */
const char *claim_entry_field(const ClaimEntry *e, const char *name);

/* Fills a fresh (zeroed) job from e: ids, account, instance, region, window, counters, and
 * copies of the parameters and SQL (job->params_json, job->sql_template: the job owns them,
 * job_free frees them, also when this fails half way). False only when out of memory. A
 * field too long for its buffer, or an unknown region, is not a failure here: *fits is
 * false and job->error says why, for the job to fail with. */
MUST_CHECK bool claim_entry_fill(Job *job, const ClaimEntry *e, bool *fits);

#endif
