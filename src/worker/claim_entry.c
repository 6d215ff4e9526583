/* claim_entry.c - a claim reply's element into a Job's fields (claim_entry.h). It neither
 * registers the job nor starts it: job_take does, once this has filled it. */
#include "claim_entry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "mstime.h"
#include "params.h"

static const char *field(const redisReply *flat, const char *name)
{
	for (size_t i = 0; i + 1 < flat->elements; i += 2) {
		const redisReply *k = flat->element[i], *v = flat->element[i + 1];
		if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
		    strcmp(k->str, name) == 0)
			return v->str;
	}
	return "";
}

const char *claim_entry_field(const ClaimEntry *e, const char *name)
{
	return field(e->flat, name);
}

/* A claim token is a decimal number (lua/claim.lua). */
static bool token_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > JOB_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool claim_entry_parse(const redisReply *claimed, ClaimEntry *e)
{
	memset(e, 0, sizeof(*e));
	if (claimed->type != REDIS_REPLY_ARRAY || claimed->elements < 3 ||
	    claimed->element[0]->type != REDIS_REPLY_STRING ||
	    claimed->element[1]->type != REDIS_REPLY_ARRAY)
		return false;
	e->ref = claimed->element[0]->str;
	e->flat = claimed->element[1];
	e->sqlr = claimed->element[2];
	e->claim = field(e->flat, "claim");
	return ids_split_ref(e->ref, e->batch_id, e->exec_id) && token_ok(e->claim);
}

/* A field longer than the buffer: the limits of fieldlen.h bind the API too, so only a row
 * written around the API gets here; the job then fails with the reason (never dropped). */
static bool copy_field(Job *job, char *dst, size_t n, const redisReply *flat, const char *name)
{
	const char *v = field(flat, name);
	if (strlen(v) < n) {
		strcpy(dst, v);
		return true;
	}
	if (!job->error[0])
		snprintf(job->error, sizeof(job->error), "%s is longer than %zu bytes", name,
			 n - 1);
	return false;
}

/* The account's region (exec amc_region), which picks the AMC and token hosts; a job
 * enqueued before regions existed has none and is NA, the only region there was. */
static bool take_region(Job *job, const redisReply *flat)
{
	const char *v = field(flat, "amc_region");
	if (!*v) {
		job->region = REGION_NA;
		return true;
	}
	if (region_parse(v, &job->region))
		return true;
	if (!job->error[0])
		snprintf(job->error, sizeof(job->error), "unknown AMC region \"%.16s\"", v);
	return false;
}

bool claim_entry_fill(Job *job, const ClaimEntry *e, bool *fits)
{
	const redisReply *flat = e->flat;

	*fits = copy_field(job, job->uuid, sizeof(job->uuid), flat, "id") &&
		copy_field(job, job->account_id, sizeof(job->account_id), flat, "account_id") &&
		copy_field(job, job->instance_id, sizeof(job->instance_id), flat,
			   "amc_instance_id") &&
		copy_field(job, job->advertiser_id, sizeof(job->advertiser_id), flat,
			   "advertiser_id") &&
		copy_field(job, job->marketplace_id, sizeof(job->marketplace_id), flat,
			   "marketplace_id") &&
		copy_field(job, job->timezone, sizeof(job->timezone), flat, "timezone") &&
		copy_field(job, job->amc_id, sizeof(job->amc_id), flat, "amc_execution_id") &&
		take_region(job, flat);
	job->params_json = amcb_strdup(field(flat, "parameters"));
	job->sql_template = amcb_strdup(e->sqlr->type == REDIS_REPLY_STRING ? e->sqlr->str : "");
	job->attempts = atoi(field(flat, "attempts"));
	job->throttled = atoi(field(flat, "throttled"));
	job->intent_ms = strtoll(field(flat, "create_intent_at"), NULL, 10);
	const char *started = field(flat, "started_at");
	job->started_ms = *started ? strtoll(started, NULL, 10) : mstime_wall();
	/* the window resolved at submission; batches stored before that compute it (job_start) */
	bool date_only;
	if (!params_parse_ts(field(flat, "window_start"), job->win.start, &date_only) ||
	    !params_parse_ts(field(flat, "window_end"), job->win.end, &date_only))
		job->win.start[0] = job->win.end[0] = '\0';
	return job->params_json != NULL && job->sql_template != NULL;
}
