/* claim.c - the claim loop: while there are free slots, the claim script moves queued refs
 * to this worker's processing list (round-robin over batches, under the instance and account
 * caps, due retries first); an empty queue is polled again on a short timer. While claims come
 * back full, a second call is kept in flight so Redis works on it while we start the jobs.
 * A pause (claim_pause: the worker's result spool cannot be written) stops new claims for a
 * while and leaves the jobs held alone. */
#include "claim.h"

#include <stdio.h>
#include <stdlib.h>

#include "job.h"
#include "log.h"
#include "mstime.h"

#define CLAIM_IDLE_MS 200
#define CLAIM_DOWN_MS 1000

static void claim_later(Worker *w, int ms)
{
	struct timeval tv = mstime_tv(ms);
	evtimer_add(w->claim_timer, &tv);
}

/* One claim call in flight: the jobs it may bring back are reserved until it answers. */
typedef struct ClaimCall {
	Worker *w;
	int max;
} ClaimCall;

static void on_claimed(RConn *c, redisReply *reply, void *priv)
{
	ClaimCall *cc = priv;
	Worker *w = cc->w;
	int max = cc->max;
	free(cc);
	w->claiming--;
	w->claim_reserved -= max;
	if (w->exiting)
		return;
	if (reply == NULL) {
		/* Redis away (rconn reconnects meanwhile). The claim may have run: its jobs are then
		 * in our jobs list, and the heartbeat sent on reconnecting takes them up. */
		claim_later(w, CLAIM_DOWN_MS);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR || reply->type != REDIS_REPLY_ARRAY) {
		log_error("claim failed: %s",
			  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
		claim_later(w, CLAIM_DOWN_MS);
		return;
	}
	size_t got = reply->elements;
	w->claim_backlog = got >= (size_t)max;
	/* a job that cannot be taken stays in our jobs list: the next heartbeat takes it up */
	for (size_t i = 0; i < got; i++)
		(void)job_take(w, reply->element[i]);
	if (got)
		log_debug("claimed %zu job(s), %d in flight", got, w->inflight);
	if (got > 0)
		claim_kick(w);
	else
		claim_later(w, CLAIM_IDLE_MS);
}

const char *claim_paused_why(const Worker *w)
{
	return w->claims_paused_until > mstime_wall() ? w->claims_paused_why : NULL;
}

void claim_pause(Worker *w, long ms, const char *why)
{
	int64_t until = mstime_wall() + ms;

	if (claim_paused_why(w) == NULL)
		log_warn("claiming no new jobs for %ld ms: %s", ms, why);
	if (until > w->claims_paused_until)
		w->claims_paused_until = until;
	snprintf(w->claims_paused_why, sizeof(w->claims_paused_why), "%s", why);
}

void claim_resume(Worker *w)
{
	if (claim_paused_why(w) == NULL)
		return;
	log_info("claiming again: %s is over", w->claims_paused_why);
	w->claims_paused_until = 0;
	w->claims_paused_why[0] = '\0';
	claim_kick(w);
}

void claim_kick(Worker *w)
{
	if (w->claiming >= (w->claim_backlog ? 2 : 1) || w->stopping || w->exiting)
		return;
	int64_t paused = w->claims_paused_until - mstime_wall();
	if (paused > 0) {
		claim_later(w, paused < CLAIM_DOWN_MS ? (int)paused : CLAIM_DOWN_MS);
		return;
	}
	int free_slots = w->cfg.worker_inflight - w->inflight - w->claim_reserved;
	if (free_slots <= 0)
		return; /* lifecycle_job_done kicks again */
	if (!rconn_is_ready(w->redis)) {
		claim_later(w, CLAIM_DOWN_MS);
		return;
	}
	int n = free_slots < w->cfg.claim_batch ? free_slots : w->cfg.claim_batch;
	LuaCall call;
	/* caps are read at every call, so a SIGHUP reload applies to the next claim */
	if (!lua_claim(&call, w->prefix, w->id, mstime_wall(), n, w->cfg.instance_cap,
		       w->cfg.account_cap)) {
		log_error("key names too long (prefix or worker id)");
		return;
	}
	ClaimCall *cc = malloc(sizeof(*cc));
	if (cc == NULL) {
		log_error("out of memory claiming");
		claim_later(w, CLAIM_DOWN_MS);
		return;
	}
	cc->w = w;
	cc->max = n;
	evtimer_del(w->claim_timer);
	if (!rconn_call(w->redis, &call, on_claimed, cc)) {
		free(cc);
		claim_later(w, CLAIM_DOWN_MS);
		return;
	}
	w->claiming++;
	w->claim_reserved += n;
}

static void on_claim_timer(evutil_socket_t fd, short what, void *arg)
{
	claim_kick(arg);
}

bool claim_init(Worker *w)
{
	w->claim_timer = evtimer_new(w->base, on_claim_timer, w);
	return w->claim_timer != NULL;
}
