/* reconcile.c - the heartbeat's comparison of the worker's jobs list in Redis with the jobs in
 * memory. It relies on one ordered Redis connection: a claim sent before the heartbeat is
 * answered before it, so when the heartbeat's answer is read every job Redis listed then is
 * in memory, unless its claim's reply was lost; and a job whose hand-back was sent before the
 * heartbeat carries `leaving`. It does not free a job that waits for a callback: such a job
 * meets the fence at its next script or poll. */
#include "reconcile.h"

#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"
#include "htab.h"

#define HELD_JOBS_MAX 200 /* refs per held_jobs call */

int reconcile_max_refs(const Worker *w)
{
	return w->cfg.worker_inflight + 2 * w->cfg.claim_batch + 16;
}

static void on_held_jobs(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	size_t taken = 0;
	if (w->exiting || reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return; /* the next heartbeat tries again */
	for (size_t i = 0; i < reply->elements; i++)
		if (job_take(w, reply->element[i]))
			taken++;
	if (taken)
		log_warn("took up %zu job(s) Redis gave this worker but memory did not know "
			 "(a lost claim reply)",
			 taken);
}

/* held_jobs for up to HELD_JOBS_MAX refs (the script rebuilds claim's answer for them) */
static void take_up(Worker *w, const char **refs, int n)
{
	LuaCall call;
	if (!lua_held_jobs(&call, w->prefix, w->id, refs, n) ||
	    !rconn_call(w->redis, &call, on_held_jobs, w))
		log_debug("held_jobs not sent: redis not ready");
}

void reconcile_heartbeat(Worker *w, const redisReply *reply)
{
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER)
		return;
	size_t listed = reply->elements - 1;
	bool whole = (long long)listed >= reply->element[0]->integer;
	const char **orphans = malloc((listed ? listed : 1) * sizeof(*orphans));
	HTab *inlist = htab_new(); /* the refs listed (values: any non-NULL marker) */
	int n = 0;
	if (orphans == NULL || inlist == NULL) {
		free(orphans);
		htab_free(inlist);
		return;
	}
	for (size_t i = 1; i < reply->elements; i++) {
		const redisReply *r = reply->element[i];
		if (r->type != REDIS_REPLY_STRING)
			continue;
		if (!htab_put(inlist, r->str, inlist))
			whole = false; /* out of memory: do not judge absences */
		if (!job_holds_ref(w, r->str))
			orphans[n++] = r->str;
	}
	for (int i = 0; i < n; i += HELD_JOBS_MAX)
		take_up(w, orphans + i, n - i < HELD_JOBS_MAX ? n - i : HELD_JOBS_MAX);
	if (whole && !w->stopping) {
		Job *next;
		for (Job *job = w->jobs; job; job = next) {
			next = job->next;
			/* only a job between steps can be let go here; the others meet the fence */
			if (!job->leaving && htab_get(inlist, job->ref) == NULL &&
			    evtimer_pending(job->timer, NULL))
				job_gone(job, "Redis no longer lists it for this worker");
		}
	}
	free(orphans);
	htab_free(inlist);
}
