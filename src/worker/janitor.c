/* janitor.c - keeps this worker's lease alive (heartbeat script every heartbeat_ms, whose
 * answer the reconciliation reads; AMC cancels drained at the same pace) and, once per
 * lease_ms across the cluster (SET NX PX locks), requeues the jobs of dead workers and runs
 * the archive sweep (sweeper.c). */
#include "janitor.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "amc_cancel.h"
#include "claim.h"
#include "keys.h"
#include "log.h"
#include "mstime.h"
#include "progress.h"
#include "reconcile.h"
#include "sweeper.h"

#define RECLAIM_MAX_WORKERS 100

static void arm(struct event *ev, int ms)
{
	struct timeval tv = mstime_tv(ms);
	evtimer_add(ev, &tv);
}

static void on_heartbeat(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	if (w->exiting)
		return;
	if (reply == NULL)
		log_warn("heartbeat not delivered (redis: %s)", rconn_errstr(w->redis));
	else if (reply->type == REDIS_REPLY_ERROR)
		log_error("heartbeat failed: %s", reply->str);
	else if (!w->leaving)
		reconcile_heartbeat(w, reply);
}

void janitor_beat(Worker *w)
{
	LuaCall call;
	char pid[24], started[24], icap[16], acap[16], inflight[16];
	const char *paused = claim_paused_why(w);
	/* the worker's self-description for the fleet view (docs/redis-keys.md, P worker:W:info) */
	const char *info[] = {
		"host",          w->host,
		"pid",           pid,
		"version",       PACKAGE_VERSION,
		"started_at",    started,
		"instance_cap",  icap,
		"account_cap",   acap,
		"inflight_max",  inflight,
		"claims_paused", paused != NULL ? paused : "",
	};

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(started, sizeof(started), "%lld", (long long)w->started_ms);
	snprintf(icap, sizeof(icap), "%d", w->cfg.instance_cap);
	snprintf(acap, sizeof(acap), "%d", w->cfg.account_cap);
	snprintf(inflight, sizeof(inflight), "%d", w->cfg.worker_inflight);
	/* not retried: the next beat comes soon; a missed one only shortens the lease */
	if (!lua_heartbeat(&call, w->prefix, w->id, mstime_wall(), w->cfg.lease_ms,
			   reconcile_max_refs(w), info, (int)ARRAY_LEN(info)) ||
	    !rconn_call(w->redis, &call, on_heartbeat, w))
		log_debug("heartbeat skipped: redis not ready");
	progress_publish_caps(w);
}

static void on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
	Worker *w = arg;
	janitor_beat(w);
	amc_cancels_drain(w);
	arm(w->heartbeat_timer, w->cfg.heartbeat_ms);
}

static void on_reclaimed(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	if (w->exiting || reply == NULL)
		return;
	if (reply->type == REDIS_REPLY_ERROR)
		log_error("reclaim failed: %s", reply->str);
	else if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		log_info("reclaimed %lld job(s) of dead workers", reply->integer);
}

static void on_lock(RConn *c, redisReply *reply, void *priv)
{
	Worker *w = priv;
	if (w->exiting || reply == NULL || reply->type != REDIS_REPLY_STATUS)
		return; /* nil: another worker sweeps this interval */
	LuaCall call;
	if (!lua_reclaim(&call, w->prefix, mstime_wall(), RECLAIM_MAX_WORKERS) ||
	    !rconn_call(w->redis, &call, on_reclaimed, w))
		log_debug("reclaim skipped: redis not ready");
}

static void on_janitor_timer(evutil_socket_t fd, short what, void *arg)
{
	Worker *w = arg;
	char lock[KEYS_MAX], ms[16];
	arm(w->janitor_timer, w->cfg.lease_ms);
	if (keys_janitor_lock(lock, sizeof(lock), w->prefix) == NULL)
		return;
	snprintf(ms, sizeof(ms), "%d", w->cfg.lease_ms);
	const char *argv[6] = { "SET", lock, w->id, "NX", "PX", ms };
	size_t lens[6];
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (!rconn_command(w->redis, on_lock, w, 6, argv, lens))
		log_debug("janitor skipped: redis not ready");
	sweeper_run(w);
}

/* Beat at once when (re)connected, so a fresh worker is visible before it claims. */
bool janitor_init(Worker *w)
{
	w->heartbeat_timer = evtimer_new(w->base, on_heartbeat_timer, w);
	w->janitor_timer = evtimer_new(w->base, on_janitor_timer, w);
	if (w->heartbeat_timer == NULL || w->janitor_timer == NULL)
		return false;
	arm(w->heartbeat_timer, 0);
	arm(w->janitor_timer, w->cfg.lease_ms);
	return true;
}

void janitor_stop(Worker *w)
{
	if (w->heartbeat_timer != NULL)
		evtimer_del(w->heartbeat_timer);
	if (w->janitor_timer != NULL)
		evtimer_del(w->janitor_timer);
}
