/* lifecycle.c - what an amcbatch-worker does as a whole on its events: Redis connected (the
 * start-up reclaim, the lease, a claim), a job ended (claim again, or finish the stop), and
 * the orderly stop (SIGTERM drains, the lease is dropped, the loop ends). main.c wires these
 * to the events; jobs reach lifecycle_job_done only through w->job_done. */
#include "lifecycle.h"

#include "claim.h"
#include "delivery.h"
#include "handback.h"
#include "janitor.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"

#define LEASE_RELEASE_MS 1000 /* wait for the lease DEL before exiting anyway */

static void arm(struct event *ev, int ms)
{
	struct timeval tv = mstime_tv(ms);
	evtimer_add(ev, &tv);
}

static void on_lease_released(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	if (!w->exiting)
		event_base_loopexit(w->base, NULL);
}

/* Leave the loop. Jobs still in flight stay in our processing list; dropping the lease lets
 * the janitor of another worker requeue them now instead of after lease_ms. */
void lifecycle_exit(Worker *w)
{
	char lease[KEYS_MAX];
	if (w->leaving)
		return;
	w->leaving = true;
	w->stopping = true;
	janitor_stop(w);
	delivery_stop(w);
	evtimer_del(w->claim_timer);
	evtimer_del(w->grace_timer);
	if (w->inflight > 0)
		log_warn("exiting with %d execution(s) in flight; they will be reclaimed",
			 w->inflight);
	if (keys_worker_lease(lease, sizeof(lease), w->prefix, w->id) != NULL &&
	    rconn_commandf(w->redis, on_lease_released, w, "DEL %s", lease)) {
		arm(w->exit_timer, LEASE_RELEASE_MS);
		return;
	}
	event_base_loopexit(w->base, NULL);
}

void lifecycle_stop(Worker *w, int sig)
{
	if (w->stopping) {
		log_info("second signal: exiting now");
		if (w->leaving)
			event_base_loopexit(w->base, NULL);
		else
			lifecycle_exit(w); /* still drops the lease so others reclaim at once */
		return;
	}
	log_info("signal %d: no more claims; handing %d execution(s) back", sig, w->inflight);
	w->stopping = true;
	evtimer_del(w->claim_timer);
	delivery_stop(w);
	if (w->inflight == 0) {
		lifecycle_exit(w);
		return;
	}
	/* waiting jobs go back now; busy ones at their next wait (job_after); what is left
	 * when the grace period ends is reclaimed through the dropped lease */
	arm(w->grace_timer, w->cfg.shutdown_grace_ms);
	job_release_idle(w);
}

void lifecycle_job_done(Worker *w)
{
	if (w->stopping) {
		if (w->inflight == 0)
			lifecycle_exit(w);
		return;
	}
	claim_kick(w);
}

static void on_lease_dropped(RConn *c, redisReply *reply, void *priv)
{
	/* nothing to do: the reclaim queued right behind it reports */
}

static void on_startup_reclaim(RConn *c, redisReply *reply, void *priv)
{
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		log_info("requeued %lld job(s) left by an earlier run or by dead workers",
			 reply->integer);
	else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		log_error("start-up reclaim failed: %s", reply->str);
}

/* A worker restarted under the same worker_id finds its old processing list; its new
 * heartbeat would keep those refs leased forever. So on the first connect only (never on a
 * reconnect: the jobs in memory are live) drop our lease and let reclaim requeue them. */
static void startup_reclaim(Worker *w)
{
	char lease[KEYS_MAX];
	LuaCall call;
	if (keys_worker_lease(lease, sizeof(lease), w->prefix, w->id) == NULL ||
	    !lua_reclaim(&call, w->prefix, mstime_wall(), 100))
		return;
	if (!rconn_commandf(w->redis, on_lease_dropped, w, "DEL %s", lease) ||
	    !rconn_call(w->redis, &call, on_startup_reclaim, w))
		log_warn("start-up reclaim not sent");
}

void lifecycle_connected(Worker *w)
{
	log_info("redis ready");
	if (!w->connected_once) {
		w->connected_once = true;
		startup_reclaim(w);
	}
	/* one connection keeps order: the lease exists before the claim runs */
	janitor_beat(w);
	claim_kick(w);
}
